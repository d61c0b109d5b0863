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
 *   store_watch_poll() also tells watchers about changes made by OTHER
 *   processes (the admin CLI's import, a restore from a backup), which cannot
 *   call store_watch_notify here: it compares each watched mailbox file's and
 *   WAL's size and mtime with what the previous poll saw. A change made in this
 *   process is then reported twice (harmless: a watcher computes what changed
 *   since its own modseq and finds nothing more).
 *
 * COST
 *   A notify walks every watch of the process: O(watches). With a few thousand
 *   IDLE sessions that is microseconds per commit; a hash by mailbox id would
 *   fix it if it ever shows. A poll is two stat(2) per watch.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/alloc.h"
#include "store/store.h"
#include "store/store_watch.h"

struct store_watch {
    char mailbox_id[STORE_MAILBOX_ID_LEN + 1];
    void (*fn)(void *arg);
    void *arg;
    int polled;                  /* sig holds what the last poll saw */
    uint64_t sig;                /* sizes and mtimes of the file and its WAL, mixed */
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

/* The size and mtime (ns) of a mailbox file and its WAL, mixed into one value:
 * any commit changes the WAL's mtime, a checkpoint or restore the file's. */
static uint64_t file_sig(const char *datadir, const char *mailbox_id)
{
    static const char *const suffix[] = { ".db", ".db-wal" };
    uint64_t sig = 1469598103934665603ull;
    for (size_t i = 0; i < 2; i++) {
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s/mailboxes/%s%s", datadir, mailbox_id, suffix[i]);
        uint64_t v[3] = { 0, 0, 0 };
        if (stat(path, &sb) == 0) {
            v[0] = (uint64_t)sb.st_size;
            v[1] = (uint64_t)sb.st_mtim.tv_sec;
            v[2] = (uint64_t)sb.st_mtim.tv_nsec;
        }
        for (size_t k = 0; k < 3; k++) sig = (sig ^ v[k]) * 1099511628211ull;
    }
    return sig;
}

void store_watch_poll(const char *datadir)
{
    pthread_mutex_lock(&watch_mu);
    for (store_watch *w = watch_head; w; w = w->next) {
        uint64_t sig = file_sig(datadir, w->mailbox_id);
        if (w->polled && sig != w->sig) w->fn(w->arg);
        w->sig = sig;
        w->polled = 1;
    }
    pthread_mutex_unlock(&watch_mu);
}
