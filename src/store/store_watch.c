/*
 * store_watch.c — the process-wide registry of change watches (store.h,
 * store_watch.h).
 *
 * WHAT IT PROMISES
 *   store_watch_remove() returns only when the callback is not running and can
 *   never run again. That is kept by one mutex: notify holds it while it calls
 *   the callbacks, and remove takes it to unlink. Callbacks are tiny (they only
 *   schedule work, e.g. conn_notify) and never call into the store, so holding
 *   the lock across them costs nothing and cannot deadlock.
 *
 * COST
 *   A notify walks every watch of the process: O(watches). With a few thousand
 *   IDLE sessions that is microseconds per commit; a hash by mailbox id would
 *   fix it if it ever shows.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "store/store.h"
#include "store/store_watch.h"

struct store_watch {
    char mailbox_id[STORE_MAILBOX_ID_LEN + 1];
    void (*fn)(void *arg);
    void *arg;
    struct store_watch *prev, *next;
};

static pthread_mutex_t watch_mu = PTHREAD_MUTEX_INITIALIZER;
static store_watch *watch_head;

store_watch *store_watch_add(const char *mailbox_id, void (*fn)(void *arg), void *arg)
{
    if (!mailbox_id || !fn || strlen(mailbox_id) > STORE_MAILBOX_ID_LEN) return NULL;
    store_watch *w = xcalloc(1, sizeof *w);
    memcpy(w->mailbox_id, mailbox_id, strlen(mailbox_id) + 1);
    w->fn = fn;
    w->arg = arg;
    pthread_mutex_lock(&watch_mu);
    w->next = watch_head;
    if (watch_head) watch_head->prev = w;
    watch_head = w;
    pthread_mutex_unlock(&watch_mu);
    return w;
}

void store_watch_remove(store_watch *w)
{
    if (!w) return;
    pthread_mutex_lock(&watch_mu);
    if (w->prev) w->prev->next = w->next;
    else watch_head = w->next;
    if (w->next) w->next->prev = w->prev;
    pthread_mutex_unlock(&watch_mu);
    free(w);
}

void store_watch_notify(const char *mailbox_id)
{
    pthread_mutex_lock(&watch_mu);
    for (store_watch *w = watch_head; w; w = w->next)
        if (strcmp(w->mailbox_id, mailbox_id) == 0) w->fn(w->arg);
    pthread_mutex_unlock(&watch_mu);
}
