/*
 * worker.c — the worker pool (see worker.h).
 */
#include <pthread.h>
#include <stdlib.h>

#include "util/alloc.h"
#include "util/log.h"
#include "net/worker.h"

typedef struct job {
    void (*fn)(void *arg);
    void *arg;
    struct job *next;
} job;

struct worker_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;
    int stopping;
    int nthreads;
    pthread_t *threads;
};

static void *worker_main(void *arg)
{
    worker_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->stopping) pthread_cond_wait(&p->cv, &p->mu);
        job *j = p->head;
        if (!j) {                      /* stopping and nothing left */
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        p->head = j->next;
        if (!p->head) p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        j->fn(j->arg);
        free(j);
    }
}

worker_pool *worker_pool_new(int nthreads)
{
    worker_pool *p = xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = xcalloc((size_t)nthreads, sizeof *p->threads);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    /* Commands recurse a little (SEARCH trees, MIME) within IMAP_NEST_MAX and
     * MIME_DEPTH_MAX; 1 MiB leaves ample room and keeps 64 threads cheap. */
    pthread_attr_setstacksize(&attr, 1024 * 1024);
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&p->threads[i], &attr, worker_main, p) != 0) {
            log_error("worker", "cannot start worker thread %d", i);
            abort();
        }
        p->nthreads++;
    }
    pthread_attr_destroy(&attr);
    return p;
}

void worker_submit(worker_pool *p, void (*fn)(void *arg), void *arg)
{
    job *j = xmalloc(sizeof *j);
    j->fn = fn;
    j->arg = arg;
    j->next = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->tail) p->tail->next = j; else p->head = j;
    p->tail = j;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void worker_pool_free(worker_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}
