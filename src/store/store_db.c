/*
 * store_db.c — SQLite helpers shared by the local store's files (store_internal.h):
 * statements, transactions, the meta counters, folder rows, keyword names and
 * message bodies.
 *
 * Each helper that fails logs by mailbox id and step, never content, and returns
 * -1 or NULL. Transactions: a write transaction takes the write lock at once
 * (BEGIN IMMEDIATE), see store_tx_begin; inside store_append_batch (m->batch)
 * each call joins the batch's one transaction.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/log.h"
#include "mailbox/mailbox_body.h"
#include "store/store_internal.h"
#include "store/store_watch.h"

void store_db_fail(store_mailbox *m, const char *what)
{
    log_error("store", "mailbox %s: %s: %s", m->id, what, sqlite3_errmsg(m->db));
}

sqlite3_stmt *store_db_prepare(store_mailbox *m, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK) {
        store_db_fail(m, "prepare");
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

static const char *const kept_sql[STORE_KEPT_COUNT] = {
    [STORE_KEPT_BEGIN] = "BEGIN",
    [STORE_KEPT_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [STORE_KEPT_COMMIT] = "COMMIT",
    [STORE_KEPT_FOLDER_BY_ID] = "SELECT " STORE_FOLDER_COLS " FROM folders WHERE id = ?",
    [STORE_KEPT_FETCH] =
        "SELECT modseq, flags, keywords, internaldate, internaldate_tz, sentdate, size,"
        " envelope, body, bodystructure, sections, body_id"
        " FROM messages WHERE folder_id = ? AND uid = ?",
    [STORE_KEPT_BODY] = "SELECT data FROM bodies WHERE id = ?",
};

sqlite3_stmt *store_db_kept(store_mailbox *m, store_kept which)
{
    if (m->kept[which]) return m->kept[which];
    if (sqlite3_prepare_v3(m->db, kept_sql[which], -1, SQLITE_PREPARE_PERSISTENT, &m->kept[which],
                           NULL) != SQLITE_OK) {
        store_db_fail(m, "prepare");
        sqlite3_finalize(m->kept[which]);
        m->kept[which] = NULL;
    }
    return m->kept[which];
}

void store_db_release(sqlite3_stmt *st)
{
    if (!st) return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

void store_db_kept_finalize(store_mailbox *m)
{
    for (int i = 0; i < STORE_KEPT_COUNT; i++) {
        sqlite3_finalize(m->kept[i]);
        m->kept[i] = NULL;
    }
}

/* Runs a kept statement that returns no row; -1 logged. */
static int kept_run(store_mailbox *m, store_kept which, const char *what)
{
    sqlite3_stmt *st = store_db_kept(m, which);
    if (!st) return -1;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) store_db_fail(m, what);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_db_exec(store_mailbox *m, const char *sql, const char *what)
{
    if (sqlite3_exec(m->db, sql, NULL, NULL, NULL) == SQLITE_OK) return 0;
    store_db_fail(m, what);
    return -1;
}

/* Steps a statement that returns no row (or whose rows we ignore); -1 logged. */
int store_db_done(store_mailbox *m, sqlite3_stmt *st, const char *what)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {}
    if (rc != SQLITE_DONE) {
        store_db_fail(m, what);
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    return 0;
}

/* A write transaction takes the write lock at once (BEGIN IMMEDIATE): a deferred
 * one could read, then fail to upgrade with SQLITE_BUSY_SNAPSHOT in WAL mode,
 * which busy_timeout does not retry. */
int store_tx_begin(store_mailbox *m, int write)
{
    /* Inside store_append_batch's transaction: the call joins it, and the
     * batch's one COMMIT is the commit (see store_tx_rollback for failures). */
    if (m->batch) {
        if (m->in_tx) return -1;
        m->in_tx = 1;
        return 0;
    }
    if (kept_run(m, write ? STORE_KEPT_BEGIN_WRITE : STORE_KEPT_BEGIN, "begin") < 0) return -1;
    m->in_tx = 1;
    return 0;
}

int store_tx_commit(store_mailbox *m)
{
    if (m->batch) {
        m->in_tx = 0;
        return 0;
    }
    if (kept_run(m, STORE_KEPT_COMMIT, "commit") < 0) return -1;
    m->in_tx = 0;
    return 0;
}

void store_tx_rollback(store_mailbox *m)
{
    if (!m->in_tx) return;
    if (m->batch) {
        /* A call failed inside the batch: what it wrote cannot be undone
         * alone, so the whole batch is rolled back and redone call by call. */
        m->batch_failed = 1;
        m->in_tx = 0;
        return;
    }
    if (sqlite3_get_autocommit(m->db) == 0)
        sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
    m->in_tx = 0;
}

void store_tx_abandon(store_mailbox *m)
{
    if (m->batch && m->in_tx) {
        m->in_tx = 0;        /* nothing to undo: the batch's other messages stand */
        return;
    }
    store_tx_rollback(m);
}

char *store_col_strdup(sqlite3_stmt *st, int col)
{
    const unsigned char *p = sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);
    return p ? xstrndup((const char *)p, (size_t)n) : xstrdup("");
}

int64_t store_meta_int(store_mailbox *m, const char *key, int *ok)
{
    sqlite3_stmt *st = store_db_prepare(m, "SELECT value FROM meta WHERE key = ?");
    int64_t v = 0;
    *ok = 0;
    if (!st) return 0;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) { v = sqlite3_column_int64(st, 0); *ok = 1; }
    else store_db_fail(m, "meta read");
    sqlite3_finalize(st);
    return v;
}

int store_meta_set_int(store_mailbox *m, const char *key, int64_t v)
{
    sqlite3_stmt *st = store_db_prepare(m, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)");
    if (!st) return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, v);
    int r = store_db_done(m, st, "meta write");
    sqlite3_finalize(st);
    return r;
}

/* The next modseq of the mailbox file; inside a write transaction. */
int store_next_modseq(store_mailbox *m, uint64_t *out)
{
    int ok;
    int64_t v = store_meta_int(m, "modseq", &ok);
    if (!ok) return -1;
    if (store_meta_set_int(m, "modseq", v + 1) < 0) return -1;
    *out = (uint64_t)v + 1;
    return 0;
}

void store_notify(store_mailbox *m)
{
    store_watch_notify(m->id);
}

void store_folder_row_read(sqlite3_stmt *st, int base, store_folder_row *f)
{
    f->id = sqlite3_column_int64(st, base);
    f->special_use = (unsigned)sqlite3_column_int(st, base + 1);
    f->uidvalidity = (uint32_t)sqlite3_column_int64(st, base + 2);
    f->uidnext = (uint32_t)sqlite3_column_int64(st, base + 3);
    f->highestmodseq = (uint64_t)sqlite3_column_int64(st, base + 4);
    f->recent_uid = (uint32_t)sqlite3_column_int64(st, base + 5);
}

/* 1 found, 0 not found, -1 error (logged). */
int store_folder_by_name(store_mailbox *m, const char *name, store_folder_row *f)
{
    sqlite3_stmt *st = store_db_prepare(m, "SELECT " STORE_FOLDER_COLS " FROM folders WHERE name = ?");
    if (!st) return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), r;
    if (rc == SQLITE_ROW) { store_folder_row_read(st, 0, f); r = 1; }
    else if (rc == SQLITE_DONE) r = 0;
    else { store_db_fail(m, "folder lookup"); r = -1; }
    sqlite3_finalize(st);
    return r;
}

int store_folder_by_id(store_mailbox *m, int64_t id, store_folder_row *f)
{
    sqlite3_stmt *st = store_db_kept(m, STORE_KEPT_FOLDER_BY_ID);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st), r;
    if (rc == SQLITE_ROW) { store_folder_row_read(st, 0, f); r = 1; }
    else if (rc == SQLITE_DONE) r = 0;
    else { store_db_fail(m, "folder lookup"); r = -1; }
    store_db_release(st);
    return r;
}

/* Keyword names by bit (gaps as NULL); inside a transaction. */
int store_keywords_load(store_mailbox *m, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    sqlite3_stmt *st = store_db_prepare(m, "SELECT bit, name FROM keywords WHERE bit >= 0 AND bit < 64 ORDER BY bit");
    if (!st) return -1;
    char **v = NULL;
    size_t count = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t bit = (size_t)sqlite3_column_int(st, 0);
        if (bit >= count) {
            v = xrealloc(v, (bit + 1) * sizeof *v);
            for (size_t i = count; i <= bit; i++) v[i] = NULL;
            count = bit + 1;
        }
        v[bit] = store_col_strdup(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        store_db_fail(m, "keywords");
        for (size_t i = 0; i < count; i++) free(v[i]);
        free(v);
        return -1;
    }
    *names = v;
    *n = count;
    return 0;
}

void store_names_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

int store_body_load(store_mailbox *m, int64_t body_id, size_t size, buf *out)
{
    if (!m->reader && !(m->reader = mailbox_body_reader_new())) {
        log_error("store", "mailbox %s: out of memory for a decompression context", m->id);
        return -1;
    }
    sqlite3_stmt *st = store_db_kept(m, STORE_KEPT_BODY);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, body_id);
    int r = -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const void *blob = sqlite3_column_blob(st, 0);
        int blen = sqlite3_column_bytes(st, 0);
        if (blob && mailbox_body_decompress(m->reader, blob, (size_t)blen, size, out) == 0) r = 0;
        else log_error("store", "mailbox %s: message body damaged", m->id);
    } else if (rc == SQLITE_DONE) {
        log_error("store", "mailbox %s: message body missing", m->id);
    } else {
        store_db_fail(m, "body read");
    }
    store_db_release(st);
    return r;
}
