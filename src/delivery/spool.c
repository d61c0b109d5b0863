/*
 * spool.c — sealed spool files (see spool.h).
 *
 * A spool file is created on the first offline delivery to an alias and kept
 * afterwards, even when empty: removing it could race with a delivery that has
 * it open and is about to write into the unlinked file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "util/alloc.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "crypto/dbkey.h"
#include "delivery/spool.h"

struct spool {
    sqlite3 *db;
    char id[64];                   /* mailbox id, for logs */
    char uid[33];                  /* the file's random uid */
};

/* Version 1: the tables below. Kept in PRAGMA user_version for later changes. */
static const char spool_schema[] =
    "CREATE TABLE IF NOT EXISTS spool("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  received INTEGER NOT NULL,"
    "  blob BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS meta("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  value) WITHOUT ROWID;"
    "PRAGMA user_version = 1;";

static void spool_fail(spool *s, const char *what)
{
    log_error("spool", "mailbox %s: %s: %s", s->id, what, sqlite3_errmsg(s->db));
}

static int spool_exec(spool *s, const char *sql, const char *what)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK) return 0;
    spool_fail(s, what);
    return -1;
}

static int spool_id_ok(const char *id)
{
    if (!id || strlen(id) != 32) return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

int spool_path(char *out, size_t outlen, const char *datadir, const char *mailbox_id)
{
    int n = snprintf(out, outlen, "%s/spool/%s.db", datadir, mailbox_id);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* Creates the tables and the uid once (several openers may race: the write
 * lock orders them and IF NOT EXISTS / OR IGNORE make the losers no-ops). */
static int spool_init_schema(spool *s)
{
    char uid[33], sql[160];
    random_hex_id(uid, 16);
    snprintf(sql, sizeof sql, "INSERT OR IGNORE INTO meta(key, value) VALUES ('uid', '%s')", uid);
    if (spool_exec(s, "BEGIN IMMEDIATE", "begin") < 0) return -1;
    if (spool_exec(s, spool_schema, "schema") < 0 || spool_exec(s, sql, "uid") < 0 ||
        spool_exec(s, "COMMIT", "commit") < 0) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

/* 0 with s->uid set; -1 when the file has no schema or uid yet (not logged:
 * a new file is expected to have neither). */
static int spool_read_uid(spool *s)
{
    sqlite3_stmt *st = NULL;
    int r = -1;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'uid'", -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
        memcpy(s->uid, sqlite3_column_text(st, 0), 32);
        s->uid[32] = '\0';
        r = 0;
    }
    sqlite3_finalize(st);
    return r;
}

spool_status spool_open(const char *datadir, const char *mailbox_id,
                        const unsigned char key[SPOOL_KEY_LEN], int create, spool **out)
{
    char dir[4096], path[4096];
    *out = NULL;
    if (!spool_id_ok(mailbox_id)) return SPOOL_ERROR;
    if (snprintf(dir, sizeof dir, "%s/spool", datadir) >= (int)sizeof dir ||
        spool_path(path, sizeof path, datadir, mailbox_id) < 0)
        return SPOOL_ERROR;
    int existed = file_exists(path);
    if (!existed && !create) return SPOOL_NOTFOUND;
    if (!existed && mkdir_p(dir, 0700) < 0) {
        log_error("spool", "mailbox %s: mkdir spool: %s", mailbox_id, strerror(errno));
        return SPOOL_ERROR;
    }

    spool_status res = SPOOL_ERROR;
    spool *s = xcalloc(1, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", mailbox_id);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        if (s->db) spool_fail(s, "open");
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 0);
    sqlite3_busy_timeout(s->db, 5000);
    if (dbkey_apply(s->db, key) < 0) { spool_fail(s, "key"); goto fail; }
    /* The first read decrypts page 1: a wrong key fails here. */
    int rc = sqlite3_exec(s->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    if (rc == SQLITE_NOTADB) {
        log_warn("spool", "mailbox %s: the server key does not open the spool", mailbox_id);
        res = SPOOL_BADKEY;
        goto fail;
    }
    if (rc != SQLITE_OK) { spool_fail(s, "first read"); goto fail; }
    /* synchronous=FULL: the COMMIT behind a 250 is fsynced (promise 3).
     * temp_store=MEMORY: SQLite3MC does not encrypt temp files. */
    if (spool_exec(s, "PRAGMA journal_mode=WAL", "journal_mode") < 0 ||
        spool_exec(s, "PRAGMA synchronous=FULL", "synchronous") < 0 ||
        spool_exec(s, "PRAGMA secure_delete=ON", "secure_delete") < 0 ||
        spool_exec(s, "PRAGMA temp_store=MEMORY", "temp_store") < 0)
        goto fail;
    /* Only a new file needs the schema: opening an existing one writes nothing. */
    if (spool_read_uid(s) < 0) {
        if (spool_init_schema(s) < 0) goto fail;
        if (spool_read_uid(s) < 0) { spool_fail(s, "uid"); goto fail; }
    }
    /* SQLite creates files with the umask's mode; -wal/-shm copy the main file's. */
    if (!existed) {
        if (chmod(path, 0600) < 0)
            log_warn("spool", "mailbox %s: chmod 0600: %s", mailbox_id, strerror(errno));
        if (fsync_dir(dir) < 0)
            log_warn("spool", "mailbox %s: fsync spool dir: %s", mailbox_id, strerror(errno));
    }
    *out = s;
    return SPOOL_OK;
fail:
    if (s->db) sqlite3_close_v2(s->db);
    free(s);
    return res;
}

void spool_close(spool *s)
{
    if (!s) return;
    if (sqlite3_close(s->db) != SQLITE_OK) {
        spool_fail(s, "close");
        sqlite3_close_v2(s->db);
    }
    free(s);
}

spool_status spool_append(spool *s, int64_t received, const unsigned char *blob, size_t len,
                          int64_t *id_out)
{
    if (len > (size_t)INT32_MAX) return SPOOL_ERROR;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "INSERT INTO spool(received, blob) VALUES (?, ?)", -1, &st, NULL) != SQLITE_OK) {
        spool_fail(s, "prepare append");
        return SPOOL_ERROR;
    }
    sqlite3_bind_int64(st, 1, received);
    sqlite3_bind_blob(st, 2, blob, (int)len, SQLITE_STATIC);
    /* One statement in autocommit mode: its own transaction, fsynced at COMMIT. */
    int rc = sqlite3_step(st);
    spool_status res = SPOOL_OK;
    if (rc != SQLITE_DONE) {
        spool_fail(s, "append");
        res = SPOOL_ERROR;
    } else if (id_out) {
        *id_out = sqlite3_last_insert_rowid(s->db);
    }
    sqlite3_finalize(st);
    return res;
}

/* One INSERT of a batch, inside its own savepoint. */
static spool_status spool_batch_one(spool *s, sqlite3_stmt *ins, spool_batch_entry *e)
{
    if (e->len > (size_t)INT32_MAX) return SPOOL_ERROR;
    if (spool_exec(s, "SAVEPOINT spool_entry", "savepoint") < 0) return SPOOL_ERROR;
    sqlite3_bind_int64(ins, 1, e->received);
    sqlite3_bind_blob(ins, 2, e->blob, (int)e->len, SQLITE_STATIC);
    int rc = sqlite3_step(ins);
    sqlite3_reset(ins);
    sqlite3_clear_bindings(ins);
    if (rc != SQLITE_DONE) {
        spool_fail(s, "batch append");
        if (sqlite3_get_autocommit(s->db) == 0)
            sqlite3_exec(s->db, "ROLLBACK TO spool_entry; RELEASE spool_entry", NULL, NULL, NULL);
        return SPOOL_ERROR;
    }
    e->id = sqlite3_last_insert_rowid(s->db);
    if (spool_exec(s, "RELEASE spool_entry", "release") < 0) return SPOOL_ERROR;
    return SPOOL_OK;
}

spool_status spool_append_batch(spool *s, spool_batch_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        e[i].status = SPOOL_ERROR;
        e[i].id = 0;
    }
    if (n == 0) return SPOOL_OK;
    sqlite3_stmt *ins = NULL;
    if (spool_exec(s, "BEGIN IMMEDIATE", "batch begin") < 0) return SPOOL_ERROR;
    if (sqlite3_prepare_v2(s->db, "INSERT INTO spool(received, blob) VALUES (?, ?)", -1, &ins, NULL) != SQLITE_OK) {
        spool_fail(s, "prepare batch append");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return SPOOL_ERROR;
    }
    int lost = 0;
    for (size_t i = 0; i < n && !lost; i++) {
        e[i].status = spool_batch_one(s, ins, &e[i]);
        lost = sqlite3_get_autocommit(s->db) != 0;
    }
    sqlite3_finalize(ins);
    if (!lost) {
        if (spool_exec(s, "COMMIT", "batch commit") == 0) return SPOOL_OK;
        if (sqlite3_get_autocommit(s->db) == 0) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    /* Nothing of the batch is durable: each entry in its own transaction. */
    log_warn("spool", "mailbox %s: a batch of %zu entries did not commit; appending one by one", s->id, n);
    for (size_t i = 0; i < n; i++) {
        e[i].id = 0;
        e[i].status = spool_append(s, e[i].received, e[i].blob, e[i].len, &e[i].id);
    }
    return SPOOL_OK;
}

spool_status spool_next(spool *s, int64_t after, spool_entry *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT id, received, blob FROM spool WHERE id > ? ORDER BY id LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK) {
        spool_fail(s, "prepare next");
        return SPOOL_ERROR;
    }
    sqlite3_bind_int64(st, 1, after);
    int rc = sqlite3_step(st);
    spool_status res;
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(st, 0);
        out->received = sqlite3_column_int64(st, 1);
        const void *b = sqlite3_column_blob(st, 2);
        out->len = (size_t)sqlite3_column_bytes(st, 2);
        out->blob = xmalloc(out->len ? out->len : 1);
        if (out->len) memcpy(out->blob, b, out->len);
        res = SPOOL_OK;
    } else if (rc == SQLITE_DONE) {
        res = SPOOL_NOTFOUND;
    } else {
        spool_fail(s, "next");
        res = SPOOL_ERROR;
    }
    sqlite3_finalize(st);
    return res;
}

void spool_entry_clear(spool_entry *e)
{
    free(e->blob);
    memset(e, 0, sizeof *e);
}

spool_status spool_delete(spool *s, int64_t id)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM spool WHERE id = ?", -1, &st, NULL) != SQLITE_OK) {
        spool_fail(s, "prepare delete");
        return SPOOL_ERROR;
    }
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        spool_fail(s, "delete");
        return SPOOL_ERROR;
    }
    return SPOOL_OK;
}

spool_status spool_count(spool *s, size_t *n)
{
    sqlite3_stmt *st = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM spool", -1, &st, NULL) != SQLITE_OK) {
        spool_fail(s, "prepare count");
        return SPOOL_ERROR;
    }
    spool_status res = SPOOL_ERROR;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *n = (size_t)sqlite3_column_int64(st, 0);
        res = SPOOL_OK;
    } else {
        spool_fail(s, "count");
    }
    sqlite3_finalize(st);
    return res;
}

void spool_origin(const spool *s, int64_t id, char out[SPOOL_ORIGIN_MAX])
{
    snprintf(out, SPOOL_ORIGIN_MAX, "spool:%s:%" PRId64, s->uid, id);
}
