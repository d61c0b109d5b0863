/*
 * delivery_group.c — per-file committers for group commit (see
 * delivery_group.h).
 *
 * The registry is a list of committers, one per key in use, under one mutex.
 * A linear list is O(files being delivered to right now), which is bounded by
 * the worker threads (64 by default); a hash would buy nothing at that size.
 * Each committer has its own condition variable, so a commit wakes only the
 * threads waiting on that file.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/limits.h"
#include "delivery/delivery_group.h"

typedef struct committer {
    char *key;
    pthread_cond_t cond;
    delivery_group_item *head, *tail;    /* queued, not yet taken by a leader */
    int leading;                         /* a leader is committing a batch */
    size_t users;                        /* threads inside delivery_group_run */
    struct committer *next;
} committer;

static pthread_mutex_t group_mu = PTHREAD_MUTEX_INITIALIZER;
static committer *group_list;

static committer *committer_get(const char *key)
{
    for (committer *c = group_list; c; c = c->next)
        if (!strcmp(c->key, key)) return c;
    committer *c = xcalloc(1, sizeof *c);
    c->key = xstrdup(key);
    pthread_cond_init(&c->cond, NULL);
    c->next = group_list;
    group_list = c;
    return c;
}

static void committer_put(committer *c)
{
    if (--c->users > 0) return;
    for (committer **p = &group_list; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    pthread_cond_destroy(&c->cond);
    free(c->key);
    free(c);
}

/* Takes the batch off the queue: in order, up to the count and byte bounds
 * (the first item always, however large). */
static size_t committer_take(committer *c, delivery_group_item **batch)
{
    size_t n = 0, bytes = 0;
    while (c->head && n < DELIVERY_GROUP_MAX) {
        delivery_group_item *it = c->head;
        if (n > 0 && bytes + it->len > DELIVERY_GROUP_BYTES_MAX) break;
        c->head = it->next;
        if (!c->head) c->tail = NULL;
        it->next = NULL;
        bytes += it->len;
        batch[n++] = it;
    }
    return n;
}

void delivery_group_run(const char *key, delivery_group_item *item, delivery_group_fn fn, void *ctx)
{
    delivery_group_item *batch[DELIVERY_GROUP_MAX];
    item->next = NULL;
    item->done = 0;
    pthread_mutex_lock(&group_mu);
    committer *c = committer_get(key);
    c->users++;
    if (c->tail) c->tail->next = item;
    else c->head = item;
    c->tail = item;
    while (!item->done) {
        if (c->leading) {
            pthread_cond_wait(&c->cond, &group_mu);
            continue;
        }
        /* Nobody commits this file now: lead one batch from the head of the
         * queue (ours is in it, or, behind a queue longer than a batch, in
         * one of the next rounds of this loop). */
        c->leading = 1;
        size_t n = committer_take(c, batch);
        pthread_mutex_unlock(&group_mu);
        fn(ctx, batch, n);
        pthread_mutex_lock(&group_mu);
        for (size_t i = 0; i < n; i++) batch[i]->done = 1;
        c->leading = 0;
        /* Wakes those of this batch, and the next leader among the rest. */
        pthread_cond_broadcast(&c->cond);
    }
    committer_put(c);
    pthread_mutex_unlock(&group_mu);
}
