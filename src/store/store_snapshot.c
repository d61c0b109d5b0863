/*
 * store_snapshot.c — snapshots, their check, restore into a live file, and the
 * generation mark (store_backup.h).
 *
 * HOW A SNAPSHOT IS TAKEN
 *   1. BEGIN IMMEDIATE ... COMMIT: waits until a writer in flight has committed,
 *      so the snapshot holds every change acknowledged before the call. The lock
 *      is released at once: VACUUM INTO refuses to run inside a transaction, and
 *      under WAL it does not need one (its read transaction is a consistent
 *      view while writers go on).
 *   2. PRAGMA wal_checkpoint(PASSIVE): moves what it can of the WAL into the
 *      file without waiting for anybody.
 *   3. VACUUM INTO the caller's path, pre-created empty with O_EXCL, mode 0600.
 *      The target is attached by SQLite3MC with the main database's codec (no
 *      key given), so every page is written encrypted under the same key.
 *   4. fsync of the file and its directory.
 *
 * DIAGNOSTICS
 *   Logs "mailbox <id>: snapshot: <step>: <message>"; never content or paths
 *   beyond the data directory layout.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "crypto/dbkey.h"
#include "store/store.h"
#include "store/store_backup.h"
#include "store/store_internal.h"

static uint64_t snap_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int snap_fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    if (rc < 0) return -1;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) return fsync_dir(".");
    if (slash == dir) slash[1] = '\0';
    else *slash = '\0';
    return fsync_dir(dir);
}

store_status store_snapshot(store_mailbox *m, const char *path, store_snapshot_info *info)
{
    store_status res = STORE_ERROR;
    sqlite3_stmt *st = NULL;
    int created = 0;
    memset(info, 0, sizeof *info);
    uint64_t t0 = snap_now_us();

    /* An empty file is what VACUUM INTO accepts besides a missing one; making it
     * ourselves fixes its mode (0600) and claims the name (O_EXCL). */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_error("store", "mailbox %s: snapshot: create file: %s", m->id, strerror(errno));
        return STORE_ERROR;
    }
    close(fd);
    created = 1;

    uint64_t l0 = snap_now_us();
    if (store_tx_begin(m, 1) < 0) goto done;
    uint64_t l1 = snap_now_us();
    if (store_tx_commit(m) < 0) { store_tx_rollback(m); goto done; }
    info->lock_wait_us = l1 - l0;
    info->lock_us = snap_now_us() - l1;

    /* PASSIVE never waits for readers or writers; whatever it could not move
     * stays in the WAL, where VACUUM INTO reads it anyway. */
    if (sqlite3_exec(m->db, "PRAGMA wal_checkpoint(PASSIVE)", NULL, NULL, NULL) != SQLITE_OK)
        log_debug("store", "mailbox %s: snapshot: checkpoint: %s", m->id, sqlite3_errmsg(m->db));

    st = store_db_prepare(m, "VACUUM INTO ?1");
    if (!st) goto done;
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    if (store_db_done(m, st, "snapshot: vacuum into") < 0) goto done;
    if (snap_fsync_path(path) < 0) {
        log_error("store", "mailbox %s: snapshot: fsync: %s", m->id, strerror(errno));
        goto done;
    }
    struct stat sb;
    if (stat(path, &sb) < 0) {
        log_error("store", "mailbox %s: snapshot: stat: %s", m->id, strerror(errno));
        goto done;
    }
    info->size = (uint64_t)sb.st_size;
    info->total_us = snap_now_us() - t0;
    res = STORE_OK;
done:
    sqlite3_finalize(st);
    if (res != STORE_OK && created) unlink(path);
    return res;
}

/* Opens `path` (never creating it) with `key` and reads page 1. */
static store_status snap_open(const char *path, const char *id, const unsigned char key[STORE_KEY_LEN],
                              sqlite3 **out)
{
    sqlite3 *db = NULL;
    *out = NULL;
    if (sodium_init() < 0) return STORE_ERROR;
    if (!file_exists(path)) return STORE_NOTFOUND;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        log_error("store", "mailbox %s: open: %s", id, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close_v2(db);
        return STORE_ERROR;
    }
    sqlite3_busy_timeout(db, 5000);
    if (dbkey_apply(db, key) < 0) {
        log_error("store", "mailbox %s: key: %s", id, sqlite3_errmsg(db));
        sqlite3_close_v2(db);
        return STORE_ERROR;
    }
    int rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        store_status why = rc == SQLITE_NOTADB ? STORE_BADKEY : STORE_ERROR;
        log_warn("store", "mailbox %s: %s", id,
                 why == STORE_BADKEY ? "the key does not open the file" : sqlite3_errmsg(db));
        sqlite3_close_v2(db);
        return why;
    }
    /* SQLite3MC does not encrypt temp files: keep any sorting in memory. */
    sqlite3_exec(db, "PRAGMA temp_store=MEMORY", NULL, NULL, NULL);
    *out = db;
    return STORE_OK;
}

static void state_put(crypto_hash_sha256_state *h, unsigned char type, const void *p, uint64_t len)
{
    unsigned char hdr[9];
    hdr[0] = type;
    for (int i = 0; i < 8; i++) hdr[1 + i] = (unsigned char)(len >> (8 * i));
    crypto_hash_sha256_update(h, hdr, sizeof hdr);
    if (p && len) crypto_hash_sha256_update(h, p, (unsigned long long)len);   /* 'R': len is a count */
}

/* Hashes every value of the statement's rows, type and length first, so that
 * ("ab","c") and ("a","bc") differ. 0 or -1. */
static int state_rows(sqlite3 *db, crypto_hash_sha256_state *h, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    int rc, n = sqlite3_column_count(st);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        state_put(h, 'R', NULL, (uint64_t)n);
        for (int i = 0; i < n; i++) {
            int t = sqlite3_column_type(st, i);
            if (t == SQLITE_INTEGER) {
                int64_t v = sqlite3_column_int64(st, i);
                state_put(h, 'I', &v, sizeof v);
            } else if (t == SQLITE_FLOAT) {
                double v = sqlite3_column_double(st, i);
                state_put(h, 'F', &v, sizeof v);
            } else if (t == SQLITE_NULL) {
                state_put(h, 'N', NULL, 0);
            } else {
                const void *p = t == SQLITE_TEXT ? (const void *)sqlite3_column_text(st, i)
                                                 : sqlite3_column_blob(st, i);
                state_put(h, t == SQLITE_TEXT ? 'T' : 'B', p, (uint64_t)sqlite3_column_bytes(st, i));
            }
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The logical content hash (see store_backup.h). Virtual tables are skipped:
 * their content is in their shadow tables, which are ordinary ones. */
static int state_hash(sqlite3 *db, char hex[STORE_STATE_HEX])
{
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    if (state_rows(db, &h, "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name") < 0)
        return -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'"
                               " AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name", -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc, r = 0;
    buf sql = BUF_INIT;
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (!name) continue;
        state_put(&h, 'S', name, strlen(name));
        buf_reset(&sql);
        buf_puts(&sql, "SELECT * FROM \"");
        for (const char *p = name; *p; p++) {
            if (*p == '"') buf_putc(&sql, '"');
            buf_putc(&sql, *p);
        }
        buf_puts(&sql, "\"");
        r = state_rows(db, &h, buf_cstr(&sql));
    }
    if (r == 0 && rc != SQLITE_DONE) r = -1;
    sqlite3_finalize(st);
    buf_free(&sql);
    if (r < 0) return -1;
    unsigned char out[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&h, out);
    sodium_bin2hex(hex, STORE_STATE_HEX, out, sizeof out);
    return 0;
}

store_status store_snapshot_verify(const char *path, const char *mailbox_id,
                                   const unsigned char key[STORE_KEY_LEN], int full, buf *report,
                                   char *state)
{
    sqlite3 *db = NULL;
    store_status res = snap_open(path, mailbox_id, key, &db);
    if (res != STORE_OK) return res;
    sqlite3_stmt *st = NULL;
    res = STORE_ERROR;
    if (sqlite3_prepare_v2(db, full ? "PRAGMA integrity_check" : "PRAGMA quick_check", -1, &st,
                           NULL) != SQLITE_OK) {
        log_error("store", "mailbox %s: snapshot check: %s", mailbox_id, sqlite3_errmsg(db));
        goto done;
    }
    int rc, lines = 0, ok = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 0);
        lines++;
        if (lines == 1 && line && !strcmp(line, "ok")) ok = 1;
        else ok = 0;
        if (report) buf_printf(report, "%s\n", line ? line : "");
    }
    if (rc != SQLITE_DONE) {
        /* A page that does not authenticate stops the check with an error. */
        log_warn("store", "mailbox %s: snapshot check: %s", mailbox_id, sqlite3_errmsg(db));
        if (report) buf_printf(report, "%s\n", sqlite3_errmsg(db));
        goto done;
    }
    if (!ok) {
        log_warn("store", "mailbox %s: snapshot check found problems", mailbox_id);
        goto done;
    }
    if (state && state_hash(db, state) < 0) {
        log_warn("store", "mailbox %s: snapshot content hash: %s", mailbox_id, sqlite3_errmsg(db));
        goto done;
    }
    res = STORE_OK;
done:
    sqlite3_finalize(st);
    sqlite3_close_v2(db);
    return res;
}

/* --- Restore --------------------------------------------------------------------------- */

static int snap_set_generation(sqlite3 *db, const char *id, int64_t gen)
{
    sqlite3_stmt *st = NULL;
    int r = -1;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(key, value) VALUES ('generation', ?)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, gen);
        if (sqlite3_step(st) == SQLITE_DONE) r = 0;
    }
    if (r < 0) log_error("store", "mailbox %s: restore: generation: %s", id, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return r;
}

/* The fallback when the live file cannot take the pages: the snapshot is renamed
 * over it (atomic: the old file stays whole until the rename). */
static store_status snap_rename_into_place(const char *datadir, const char *id, const char *path)
{
    char live[4096], extra[4200], dir[4096];
    if (snprintf(live, sizeof live, "%s/mailboxes/%s.db", datadir, id) >= (int)sizeof live ||
        snprintf(dir, sizeof dir, "%s/mailboxes", datadir) >= (int)sizeof dir)
        return STORE_INVALID;
    if (mkdir_p(dir, 0700) < 0) return STORE_ERROR;
    /* A WAL of the old file must not be replayed into the new one. */
    snprintf(extra, sizeof extra, "%s-wal", live);
    unlink(extra);
    snprintf(extra, sizeof extra, "%s-shm", live);
    unlink(extra);
    if (rename(path, live) < 0) {
        log_error("store", "mailbox %s: restore: rename: %s", id, strerror(errno));
        return STORE_ERROR;
    }
    fsync_dir(dir);
    log_warn("store", "mailbox %s: restore: live file unusable, snapshot renamed into place", id);
    return STORE_OK;
}

store_status store_restore(const char *datadir, const char *mailbox_id,
                           const unsigned char key[STORE_KEY_LEN], const char *path)
{
    char live[4096];
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *bk = NULL;
    if (!datadir || !mailbox_id || strlen(mailbox_id) != STORE_MAILBOX_ID_LEN ||
        strchr(mailbox_id, '/') ||
        snprintf(live, sizeof live, "%s/mailboxes/%s.db", datadir, mailbox_id) >= (int)sizeof live)
        return STORE_INVALID;

    store_status res = snap_open(path, mailbox_id, key, &src);
    if (res != STORE_OK) return res;
    res = STORE_ERROR;
    /* The new generation goes into the snapshot first, so it arrives in the live
     * file in the very transaction that brings the restored content. */
    int64_t gen;
    randombytes_buf(&gen, sizeof gen);
    gen = (gen & INT64_MAX) | 2;          /* never 0 or 1 (1 means "never restored") */
    if (snap_set_generation(src, mailbox_id, gen) < 0) goto done;

    store_status live_st = snap_open(live, mailbox_id, key, &dst);
    if (live_st == STORE_NOTFOUND || live_st == STORE_BADKEY) {
        sqlite3_close_v2(src);
        src = NULL;
        res = snap_rename_into_place(datadir, mailbox_id, path);
        goto done;
    }
    if (live_st != STORE_OK) goto done;
    sqlite3_exec(dst, "PRAGMA synchronous=FULL", NULL, NULL, NULL);

    bk = sqlite3_backup_init(dst, "main", src, "main");
    if (!bk) {
        log_error("store", "mailbox %s: restore: %s", mailbox_id, sqlite3_errmsg(dst));
        goto done;
    }
    /* One step copies every page in one write transaction of the live file.
     * BUSY/LOCKED: a writer held on past the busy timeout; try a few times. */
    int rc, tries = 0;
    while ((rc = sqlite3_backup_step(bk, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED) {
        if (++tries >= 5) break;
        sqlite3_sleep(200);
    }
    int frc = sqlite3_backup_finish(bk);
    bk = NULL;
    if (rc != SQLITE_DONE || frc != SQLITE_OK) {
        log_error("store", "mailbox %s: restore: page copy: %s (%d)", mailbox_id, sqlite3_errmsg(dst), rc);
        if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) {
            /* The live file is damaged where a page had to be read: nothing was
             * committed, so the rename fallback is still the whole story. */
            sqlite3_close_v2(dst);
            dst = NULL;
            sqlite3_close_v2(src);
            src = NULL;
            res = snap_rename_into_place(datadir, mailbox_id, path);
        }
        goto done;
    }
    if (sqlite3_exec(dst, "PRAGMA wal_checkpoint(PASSIVE)", NULL, NULL, NULL) != SQLITE_OK)
        log_debug("store", "mailbox %s: restore: checkpoint: %s", mailbox_id, sqlite3_errmsg(dst));
    log_info("store", "mailbox %s: restored from a snapshot", mailbox_id);
    res = STORE_OK;
done:
    if (bk) sqlite3_backup_finish(bk);
    if (dst) sqlite3_close_v2(dst);
    if (src) sqlite3_close_v2(src);
    return res;
}

store_status store_generation(store_mailbox *m, uint64_t *gen)
{
    *gen = 1;
    sqlite3_stmt *st = store_db_prepare(m, "SELECT value FROM meta WHERE key = 'generation'");
    if (!st) return STORE_ERROR;
    store_status res = STORE_OK;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int64_t v = sqlite3_column_int64(st, 0);
        if (v > 1) *gen = (uint64_t)v;
    } else if (rc != SQLITE_DONE) {
        store_db_fail(m, "generation");
        res = STORE_ERROR;
    }
    sqlite3_finalize(st);
    return res;
}
