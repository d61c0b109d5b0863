/*
 * backup_runner.c — sealboxd's daily backups: one background thread that backs
 * up a mailbox once a day while its data key is available (backup.h).
 *
 * SUMMARY
 *   backup_runner_start(datadir)   config, leftover cleanup, the thread
 *   backup_runner_login(r, id)     a session of `id` is live: check it soon
 *   backup_runner_now(r, m, key)   XBACKUP: the pipeline on the caller's thread
 *   backup_runner_stop(r)
 *
 * HOW
 *   A login marks the mailbox due BACKUP_LOGIN_DELAY_SEC later (unless a check
 *   is already planned). The thread takes due mailboxes one at a time:
 *     - the key comes from the key cache (keycache_lookup_key): a session holds
 *       it, or did less than KEYCACHE_GRACE_SEC ago; without it nothing happens
 *       (the server cannot open the mailbox, by design) until the next login;
 *     - the newest version at the target tells when the last backup was: its
 *       name is its UTC time, so no separate record is needed, and a backup made
 *       with `sealbox backup run` counts too. Younger than BACKUP_INTERVAL_SEC:
 *       the next check is planned for when it will be due;
 *     - else backup_run on a handle of its own (WAL: sessions go on; the write
 *       lock is held only for a moment, see store_snapshot);
 *     - a failure is retried after BACKUP_RETRY_FIRST_SEC, doubling up to
 *       BACKUP_RETRY_MAX_SEC, while the key stays available.
 *   Remote work (S3) happens here, never on a network loop or a worker.
 *
 * PROMISES
 *   Logs name mailbox ids only. The key copy lives in locked memory for the
 *   length of one backup and is wiped. The table holds at most
 *   BACKUP_RUNNER_ENTRIES_MAX mailboxes (then the least recently seen goes).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "util/alloc.h"
#include "util/limits.h"
#include "util/log.h"
#include "crypto/keycache.h"
#include "crypto/secmem.h"
#include "store/store.h"
#include "backup/backup.h"
#include "backup/backup_internal.h"

typedef struct runner_entry {
    char id[STORE_MAILBOX_ID_LEN + 1];
    time_t due;                 /* wall clock: check at or after this; 0 = nothing planned */
    time_t seen;                /* last login, for eviction */
    int backoff;                /* seconds of the last retry delay; 0 = none */
} runner_entry;

struct backup_runner {
    backup_config *cfg;         /* secure memory: holds the S3 secret */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    runner_entry *e;
    size_t n, cap;
};

/* Entry of `id`, made when missing (evicting the least recently seen when full). */
static runner_entry *runner_entry_get(backup_runner *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->e[i].id, id)) return &r->e[i];
    if (r->n >= BACKUP_RUNNER_ENTRIES_MAX) {
        size_t old = 0;
        for (size_t i = 1; i < r->n; i++)
            if (r->e[i].seen < r->e[old].seen) old = i;
        r->e[old] = r->e[--r->n];
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->e = xrealloc(r->e, r->cap * sizeof *r->e);
    }
    runner_entry *e = &r->e[r->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->id, sizeof e->id, "%s", id);
    return e;
}

/* The UTC time a version name stands for ("YYYYMMDDTHHMMSS.mmmZ"). */
static time_t runner_version_time(const char *v)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (sscanf(v, "%4d%2d%2dT%2d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}

/* One check of one mailbox; returns when it should be checked next (0: only at
 * the next login) and updates the backoff. Runs without the mutex. */
static time_t runner_check(backup_runner *r, const char *id, int *backoff)
{
    time_t now = time(NULL);
    unsigned char *key = secmem_alloc(STORE_KEY_LEN);
    backup_target *t = NULL;
    backup_version *v = NULL;
    store_mailbox *m = NULL;
    size_t nv = 0;
    time_t next = 0;
    char err[1024];
    int failed = 1;
    if (keycache_lookup_key(id, key) != 0) {
        log_debug("backup", "mailbox %s: daily backup: key no longer available", id);
        failed = 0;
        goto out;
    }
    t = backup_target_open(r->cfg, err, sizeof err);
    if (!t || backup_target_list(t, id, &v, &nv, err, sizeof err) != 0) {
        log_warn("backup", "mailbox %s: daily backup: %s", id, err);
        goto out;
    }
    time_t last = nv ? runner_version_time(v[nv - 1].version) : 0;
    if (last && now - last < BACKUP_INTERVAL_SEC && last <= now) {
        next = last + BACKUP_INTERVAL_SEC;
        failed = 0;
        goto out;
    }
    store_status st = store_open(r->cfg->datadir, id, key, &m);
    if (st != STORE_OK) {
        snprintf(err, sizeof err, "cannot open the mailbox: %s", store_strerror(st));
        log_warn("backup", "mailbox %s: daily backup: %s", id, err);
        goto out;
    }
    backup_result res;
    if (backup_run(r->cfg->datadir, m, key, r->cfg, &res, err, sizeof err) != 0) {
        log_warn("backup", "mailbox %s: daily backup failed: %s", id, err);
        goto out;
    }
    log_info("backup", "mailbox %s: daily backup: %s %s", id, res.unchanged ? "unchanged since" : "stored",
             res.version);
    next = now + BACKUP_INTERVAL_SEC;
    failed = 0;
out:
    if (m) store_close(m);
    free(v);
    backup_target_close(t);
    secmem_free(key);
    if (failed) {
        *backoff = *backoff ? *backoff * 2 : BACKUP_RETRY_FIRST_SEC;
        if (*backoff > BACKUP_RETRY_MAX_SEC) *backoff = BACKUP_RETRY_MAX_SEC;
        log_info("backup", "mailbox %s: daily backup: retry in %d s", id, *backoff);
        return now + *backoff;
    }
    *backoff = 0;
    return next;
}

static void *runner_main(void *arg)
{
    backup_runner *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        time_t now = time(NULL), soonest = 0;
        runner_entry *pick = NULL;
        for (size_t i = 0; i < r->n; i++) {
            runner_entry *e = &r->e[i];
            if (!e->due) continue;
            if (e->due <= now && (!pick || e->due < pick->due)) pick = e;
            if (!soonest || e->due < soonest) soonest = e->due;
        }
        if (!pick) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            /* Wake for the soonest planned check, or every minute: the wall
             * clock may jump. */
            time_t wait = soonest && soonest > now ? soonest - now : 60;
            ts.tv_sec += wait < 60 ? wait : 60;
            pthread_cond_timedwait(&r->cv, &r->mu, &ts);
            continue;
        }
        char id[STORE_MAILBOX_ID_LEN + 1];
        int backoff = pick->backoff;
        memcpy(id, pick->id, sizeof id);
        pick->due = 0;          /* a login meanwhile may plan it again */
        pthread_mutex_unlock(&r->mu);
        time_t next = runner_check(r, id, &backoff);
        pthread_mutex_lock(&r->mu);
        runner_entry *e = runner_entry_get(r, id);
        e->backoff = backoff;
        if (next && (!e->due || next < e->due)) e->due = next;
        /* A check that found the key gone plans nothing: the next login does. */
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* Removes snapshot and download files older than BACKUP_TMP_STALE_SEC: a crash
 * left them (they are encrypted; this only gives the space back). */
static void runner_clean_tmp(const char *datadir)
{
    char dir[4200];
    if (backup_tmpdir(datadir, dir, sizeof dir) < 0) return;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    time_t now = time(NULL);
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "snap-", 5) && strncmp(de->d_name, "restore-", 8)) continue;
        char p[4500];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode) && now - sb.st_mtime > BACKUP_TMP_STALE_SEC) {
            unlink(p);
            log_info("backup", "removed a leftover snapshot from DATADIR/tmp");
        }
    }
    closedir(d);
}

backup_runner *backup_runner_start(const char *datadir, char *err, size_t errlen)
{
    backup_runner *r = xcalloc(1, sizeof *r);
    r->cfg = secmem_alloc(sizeof *r->cfg);
    if (backup_config_load(datadir, NULL, r->cfg, err, errlen) != 0) goto fail;
    r->cfg->cancel = &r->stop;      /* a stop aborts an upload in flight */
    /* An unusable target is a configuration error: say so at start, not daily. */
    backup_target *t = backup_target_open(r->cfg, err, errlen);
    if (!t) goto fail;
    backup_target_close(t);
    runner_clean_tmp(datadir);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (pthread_create(&r->thread, NULL, runner_main, r) != 0) {
        snprintf(err, errlen, "cannot start the backup thread");
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        goto fail;
    }
    return r;
fail:
    backup_config_clear(r->cfg);
    secmem_free(r->cfg);
    free(r);
    return NULL;
}

void backup_runner_stop(backup_runner *r)
{
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    backup_config_clear(r->cfg);
    secmem_free(r->cfg);
    free(r->e);
    free(r);
}

void backup_runner_login(backup_runner *r, const char *mailbox_id)
{
    if (!r || !r->cfg->daily || !mailbox_id || strlen(mailbox_id) != STORE_MAILBOX_ID_LEN) return;
    time_t now = time(NULL);
    pthread_mutex_lock(&r->mu);
    runner_entry *e = runner_entry_get(r, mailbox_id);
    e->seen = now;
    /* A check already planned (a retry, or the next daily one) stands; after a
     * check that found no key, this login plans the next. */
    if (!e->due) {
        e->due = now + BACKUP_LOGIN_DELAY_SEC;
        pthread_cond_signal(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
}

int backup_runner_now(backup_runner *r, store_mailbox *m, const unsigned char key[STORE_KEY_LEN],
                      backup_result *res, char *err, size_t errlen)
{
    if (!r) {
        snprintf(err, errlen, "backups are not configured");
        return -1;
    }
    int rc = backup_run(r->cfg->datadir, m, key, r->cfg, res, err, errlen);
    if (rc == 0 && r->cfg->daily) {
        pthread_mutex_lock(&r->mu);
        runner_entry *e = runner_entry_get(r, store_mailbox_id(m));
        e->backoff = 0;
        e->due = time(NULL) + BACKUP_INTERVAL_SEC;
        pthread_mutex_unlock(&r->mu);
    }
    return rc;
}
