/*
 * worker.h — the worker pool: threads that run protocol commands.
 *
 * A fixed number of threads take jobs from one FIFO queue. Jobs may block (on
 * storage, on Argon2id, on a slow reader's output: see net/conn.h), which is why
 * the pool is many times larger than the number of cores. The queue is unbounded
 * but holds at most one job per connection (conn.c schedules a connection once),
 * so it is bounded by NET_CONN_MAX.
 */
#ifndef SEALBOX_WORKER_H
#define SEALBOX_WORKER_H

typedef struct worker_pool worker_pool;

worker_pool *worker_pool_new(int nthreads);
void worker_submit(worker_pool *p, void (*fn)(void *arg), void *arg);
/* Runs every queued job, then stops and joins the threads. */
void worker_pool_free(worker_pool *p);

#endif
