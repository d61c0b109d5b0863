/*
 * outbound_queue.c — the durable outbound queue on DATADIR/queue.db (see
 * outbound.h for what it promises, and the at-rest trade-off).
 *
 * SUMMARY
 *   An SQLite3MC file keyed with the server key (crypto/dbkey.h), one table:
 *   jobs(id PK AUTOINCREMENT, kind, sender, rcpt, target, body, created,
 *   next_at, attempts), indexed by (next_at, id). PRAGMAs: journal_mode=WAL,
 *   synchronous=FULL (a commit is fsynced before outbound_enqueue returns),
 *   busy_timeout=5000, secure_delete=ON (a delivered message's pages are
 *   zeroed, not just unlinked).
 *
 *   One connection behind a mutex: enqueue runs on SMTP workers, the rest on
 *   the runner thread; each call is short.
 *
 * DIAGNOSTICS
 *   SQLite failures are logged as "<step>: <sqlite message>" and return -1.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "util/alloc.h"
#include "util/log.h"
#include "crypto/dbkey.h"
#include "crypto/secmem.h"
#include "outbound/outbound.h"

_Static_assert(OUTBOUND_KEY_LEN == DBKEY_LEN, "the queue is keyed with the server key");

struct outbound_queue {
    pthread_mutex_t mu;
    sqlite3 *db;
};

static const char outbound_schema[] =
    "CREATE TABLE IF NOT EXISTS jobs("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  kind INTEGER NOT NULL,"
    "  sender TEXT NOT NULL,"
    "  rcpt TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  body BLOB NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  next_at INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX IF NOT EXISTS jobs_due ON jobs(next_at, id);";

static void oq_log(outbound_queue *q, const char *step)
{
    log_error("outbound", "%s: %s", step, sqlite3_errmsg(q->db));
}

static int oq_exec(outbound_queue *q, const char *sql, const char *step)
{
    char *msg = NULL;
    if (sqlite3_exec(q->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error("outbound", "%s: %s", step, msg ? msg : sqlite3_errmsg(q->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static sqlite3_stmt *oq_prepare(outbound_queue *q, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK) {
        oq_log(q, "prepare");
        return NULL;
    }
    return st;
}

void outbound_job_clear(outbound_job *j)
{
    if (!j) return;
    free(j->sender);
    free(j->rcpt);
    free(j->target);
    if (j->msg) secmem_wipe(j->msg, j->len);
    free(j->msg);
    memset(j, 0, sizeof *j);
}

void outbound_jobs_free(outbound_job *v, size_t n)
{
    if (!v) return;
    for (size_t i = 0; i < n; i++) outbound_job_clear(&v[i]);
    free(v);
}

outbound_queue *outbound_open_file(const char *path, const unsigned char key[OUTBOUND_KEY_LEN],
                                   char *err, size_t errlen)
{
    outbound_queue *q = xcalloc(1, sizeof *q);
    pthread_mutex_init(&q->mu, NULL);
    int existed = access(path, F_OK) == 0;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &q->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path, q->db ? sqlite3_errmsg(q->db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(q->db, 1);
    if (dbkey_apply(q->db, key) < 0) {
        snprintf(err, errlen, "%s: cannot set the encryption key", path);
        goto fail;
    }
    int rc = sqlite3_exec(q->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s does not open with server.key: %s", path, sqlite3_errmsg(q->db));
        goto fail;
    }
    if (oq_exec(q, "PRAGMA journal_mode=WAL", "journal_mode") < 0 ||
        oq_exec(q, "PRAGMA busy_timeout=5000", "busy_timeout") < 0 ||
        oq_exec(q, "PRAGMA synchronous=FULL", "synchronous") < 0 ||
        oq_exec(q, "PRAGMA secure_delete=ON", "secure_delete") < 0 ||
        oq_exec(q, outbound_schema, "schema") < 0) {
        snprintf(err, errlen, "%s: cannot configure (see the log)", path);
        goto fail;
    }
    /* -wal and -shm take the main file's mode: private from the start. */
    if (!existed && chmod(path, 0600) < 0)
        log_warn("outbound", "chmod 0600 of the queue file: %s", strerror(errno));
    return q;
fail:
    if (q->db) sqlite3_close_v2(q->db);
    pthread_mutex_destroy(&q->mu);
    free(q);
    return NULL;
}

outbound_queue *outbound_open(const char *datadir, char *err, size_t errlen)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/queue.db", datadir) >= (int)sizeof path) {
        snprintf(err, errlen, "data directory path too long");
        return NULL;
    }
    unsigned char *key = dbkey_read_server_key(datadir, err, errlen);
    if (!key) return NULL;
    outbound_queue *q = outbound_open_file(path, key, err, errlen);
    secmem_free(key);
    return q;
}

void outbound_close(outbound_queue *q)
{
    if (!q) return;
    sqlite3_close_v2(q->db);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

int outbound_enqueue(outbound_queue *q, outbound_job *jobs, size_t n, int64_t now)
{
    if (n == 0) return 0;
    int rc = -1;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&q->mu);
    if (oq_exec(q, "BEGIN IMMEDIATE", "begin") < 0) goto out;
    st = oq_prepare(q, "INSERT INTO jobs(kind, sender, rcpt, target, body, created, next_at, attempts) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, 0)");
    if (!st) goto out;
    for (size_t i = 0; i < n; i++) {
        outbound_job *j = &jobs[i];
        sqlite3_reset(st);
        sqlite3_bind_int(st, 1, (int)j->kind);
        sqlite3_bind_text(st, 2, j->sender ? j->sender : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, j->rcpt ? j->rcpt : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, j->target ? j->target : "", -1, SQLITE_STATIC);
        sqlite3_bind_blob64(st, 5, j->msg ? (const void *)j->msg : "", (sqlite3_uint64)j->len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, now);
        sqlite3_bind_int64(st, 7, now);
        if (sqlite3_step(st) != SQLITE_DONE) { oq_log(q, "enqueue"); goto out; }
        j->id = sqlite3_last_insert_rowid(q->db);
        j->created = j->next_at = now;
        j->attempts = 0;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (oq_exec(q, "COMMIT", "commit") < 0) goto out;
    rc = 0;
out:
    sqlite3_finalize(st);
    if (!sqlite3_get_autocommit(q->db)) sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

static char *oq_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return xstrdup(t ? (const char *)t : "");
}

int outbound_due(outbound_queue *q, int64_t now, size_t max, outbound_job **jobs, size_t *n)
{
    *jobs = NULL;
    *n = 0;
    int rc = -1;
    outbound_job *v = NULL;
    size_t count = 0;
    pthread_mutex_lock(&q->mu);
    sqlite3_stmt *st = oq_prepare(q, "SELECT id, kind, sender, rcpt, target, body, created, next_at, attempts "
                                     "FROM jobs WHERE next_at <= ? ORDER BY next_at, id LIMIT ?");
    if (!st) goto out;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    v = xcalloc(max ? max : 1, sizeof *v);
    int r = SQLITE_DONE;
    while (count < max && (r = sqlite3_step(st)) == SQLITE_ROW) {
        outbound_job *j = &v[count++];
        j->id = sqlite3_column_int64(st, 0);
        j->kind = (outbound_kind)sqlite3_column_int(st, 1);
        j->sender = oq_text(st, 2);
        j->rcpt = oq_text(st, 3);
        j->target = oq_text(st, 4);
        j->len = (size_t)sqlite3_column_bytes(st, 5);
        j->msg = xmalloc(j->len + 1);
        if (j->len) memcpy(j->msg, sqlite3_column_blob(st, 5), j->len);
        j->msg[j->len] = '\0';
        j->created = sqlite3_column_int64(st, 6);
        j->next_at = sqlite3_column_int64(st, 7);
        j->attempts = sqlite3_column_int(st, 8);
    }
    if (count < max && r != SQLITE_DONE) { oq_log(q, "due"); goto out; }
    *jobs = v;
    *n = count;
    v = NULL;
    count = 0;
    rc = 0;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&q->mu);
    outbound_jobs_free(v, count);
    return rc;
}

int64_t outbound_count(outbound_queue *q)
{
    int64_t n = -1;
    pthread_mutex_lock(&q->mu);
    sqlite3_stmt *st = oq_prepare(q, "SELECT count(*) FROM jobs");
    if (st && sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&q->mu);
    return n;
}

int outbound_done(outbound_queue *q, int64_t id)
{
    int rc = -1;
    pthread_mutex_lock(&q->mu);
    sqlite3_stmt *st = oq_prepare(q, "DELETE FROM jobs WHERE id = ?");
    if (st) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_DONE) rc = 0;
        else oq_log(q, "done");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int64_t outbound_backoff(const outbound_policy *p, int attempts)
{
    int64_t d = p->retry_first > 0 ? p->retry_first : 1;
    for (int i = 0; i < attempts && d < p->retry_max; i++) d *= 2;
    return d > p->retry_max ? p->retry_max : d;
}

int outbound_defer(outbound_queue *q, outbound_job *j, int64_t now, const outbound_policy *p)
{
    int64_t next = now + outbound_backoff(p, j->attempts);
    if (now - j->created >= p->lifetime) return 1;
    /* The last attempt lands exactly at the end of the lifetime rather than
     * after it, so a job is never kept much longer than promised. */
    if (next > j->created + p->lifetime) next = j->created + p->lifetime;
    int rc = -1;
    pthread_mutex_lock(&q->mu);
    sqlite3_stmt *st = oq_prepare(q, "UPDATE jobs SET attempts = attempts + 1, next_at = ? WHERE id = ?");
    if (st) {
        sqlite3_bind_int64(st, 1, next);
        sqlite3_bind_int64(st, 2, j->id);
        if (sqlite3_step(st) == SQLITE_DONE) rc = 0;
        else oq_log(q, "defer");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&q->mu);
    if (rc == 0) {
        j->attempts++;
        j->next_at = next;
    }
    return rc;
}
