/*
 * store_local.c — store.h on encrypted SQLite mailbox files in this process.
 *
 * SUMMARY
 *   One mailbox file DATADIR/mailboxes/<id>.db per alias, SQLite3MultipleCiphers
 *   with the chacha20 cipher (ChaCha20-Poly1305 per page, WAL frames included),
 *   opened with the 256-bit data key as a raw key: no passphrase KDF on open.
 *   Tables and migrations: mailbox/mailbox_schema.c. Name rules:
 *   mailbox/mailbox_name.c. Message bytes: zstd (mailbox/mailbox_body.c) before
 *   encryption. SQLite helpers shared by the store files: store_db.c.
 *   SEARCH: store_search.c. Sort facts and the full-text index: store_sort.c,
 *   store_index.c (written with each body, dropped by a trigger with it).
 *
 * PROMISES (beyond store.h)
 *   - Every change runs in BEGIN IMMEDIATE ... COMMIT with synchronous=FULL, so
 *     the COMMIT that precedes an OK has fsynced the WAL. A change takes one
 *     modseq from the mailbox-wide counter in meta, so modseqs grow across all
 *     folders of the file; a STORE that changes nothing takes none.
 *   - UIDVALIDITY of a new folder is max(now, last + 1) with `last` kept in meta:
 *     delete + create of a name never sees an old UIDVALIDITY again.
 *   - Watchers of the mailbox id are notified after the COMMIT, never before.
 *   - Logs name the mailbox id and the failing step; never a folder name, a
 *     keyword, an address or any message content.
 *   - Key material (the hex form handed to SQLite3MC) lives in sodium_malloc'ed
 *     memory and is wiped right after use.
 *
 * THREADS
 *   A handle is one SQLite connection (opened SQLITE_OPEN_NOMUTEX): one thread at
 *   a time, as store.h says. Several handles on one file, in one process or
 *   several, coordinate through WAL and busy_timeout=5000 ms; a write that waits
 *   longer fails with STORE_ERROR (logged).
 *
 * DIAGNOSTICS
 *   STORE_BADKEY when the key does not decrypt page 1 (SQLITE_NOTADB on the first
 *   read). Every other SQLite or zstd failure: STORE_ERROR, logged as
 *   "mailbox <id>: <step>: <sqlite message>".
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

#include "util/alloc.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/uidset.h"
#include "crypto/dbkey.h"
#include "mailbox/mailbox_body.h"
#include "mailbox/mailbox_name.h"
#include "mailbox/mailbox_schema.h"
#include "mailbox/msgflags.h"
#include "mime/mime.h"
#include "search/search.h"
#include "store/store.h"
#include "store/store_index.h"
#include "store/store_internal.h"
#include "store/store_watch.h"

/* The default folders of a new mailbox (RFC 6154 SPECIAL-USE), subscribed at
 * creation because many clients only show subscribed folders. */
static const struct { const char *name; unsigned special; } default_folders[] = {
    { "INBOX", 0 },
    { "Drafts", STORE_SPECIAL_DRAFTS },
    { "Sent", STORE_SPECIAL_SENT },
    { "Archive", STORE_SPECIAL_ARCHIVE },
    { "Junk", STORE_SPECIAL_JUNK },
    { "Trash", STORE_SPECIAL_TRASH },
};

#define SPECIAL_USE_MASK 0x7fu

const char *store_strerror(store_status st)
{
    switch (st) {
    case STORE_OK: return "Success";
    case STORE_NOTFOUND: return "No such mailbox or message";
    case STORE_EXISTS: return "Mailbox already exists";
    case STORE_INVALID: return "Invalid mailbox name or argument";
    case STORE_NOPERM: return "Operation not permitted";
    case STORE_HASCHILDREN: return "Mailbox has children";
    case STORE_LIMIT: return "Limit exceeded";
    case STORE_TOOBIG: return "Message too large";
    case STORE_OVERQUOTA: return "Quota exceeded";
    case STORE_BADKEY: return "Cannot open mailbox";
    case STORE_GONE: return "Mailbox has been deleted or renamed";
    case STORE_ERROR: return "Internal error";
    }
    return "Internal error";
}

/* --- Counters ------------------------------------------------------------------ */

/* A UIDVALIDITY never used before in this file; inside a write transaction. */
static int next_uidvalidity(store_mailbox *m, uint32_t *out)
{
    int ok;
    int64_t last = store_meta_int(m, "uidvalidity", &ok);
    if (!ok) return -1;
    int64_t v = (int64_t)time(NULL);
    if (v <= last) v = last + 1;
    if (v <= 0 || v > (int64_t)UINT32_MAX) {
        log_error("store", "mailbox %s: uidvalidity space exhausted", m->id);
        return -1;
    }
    if (store_meta_set_int(m, "uidvalidity", v) < 0) return -1;
    *out = (uint32_t)v;
    return 0;
}

/* --- Folder rows ------------------------------------------------------------------ */

static int folder_count(store_mailbox *m, int64_t *n)
{
    sqlite3_stmt *st = store_db_prepare(m, "SELECT count(*) FROM folders");
    if (!st) return -1;
    int r = -1;
    if (sqlite3_step(st) == SQLITE_ROW) { *n = sqlite3_column_int64(st, 0); r = 0; }
    else store_db_fail(m, "folder count");
    sqlite3_finalize(st);
    return r;
}

static int folder_insert(store_mailbox *m, const char *name, unsigned special_use,
                         uint64_t modseq)
{
    uint32_t uidvalidity;
    if (next_uidvalidity(m, &uidvalidity) < 0) return -1;
    sqlite3_stmt *st = store_db_prepare(m,
        "INSERT INTO folders(name, special_use, uidvalidity, uidnext, highestmodseq, recent_uid)"
        " VALUES (?, ?, ?, 1, ?, 1)");
    if (!st) return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)special_use);
    sqlite3_bind_int64(st, 3, uidvalidity);
    sqlite3_bind_int64(st, 4, (int64_t)modseq);
    int r = store_db_done(m, st, "folder insert");
    sqlite3_finalize(st);
    return r;
}

/* Creates the missing ancestors of `name` (not `name` itself) and, with
 * create_leaf, `name`; inside a write transaction. STORE_EXISTS when the leaf
 * exists, STORE_LIMIT over IMAP_FOLDERS_MAX. */
static store_status folder_create_path(store_mailbox *m, const char *name, int create_leaf,
                                       unsigned special_use, uint64_t modseq)
{
    store_status res = STORE_ERROR;
    char *path = xstrdup(name);
    int64_t count;
    if (folder_count(m, &count) < 0) goto done;
    size_t len = strlen(path);
    for (size_t i = 1; i <= len; i++) {
        int leaf = (i == len);
        if (!leaf && path[i] != '/') continue;
        if (leaf && !create_leaf) break;
        char saved = path[i];
        path[i] = '\0';
        store_folder_row f;
        int found = store_folder_by_name(m, path, &f);
        if (found < 0) goto done;
        if (found && leaf) { res = STORE_EXISTS; goto done; }
        if (!found) {
            if (count >= IMAP_FOLDERS_MAX) { res = STORE_LIMIT; goto done; }
            if (folder_insert(m, path, leaf ? special_use : 0, modseq) < 0) goto done;
            count++;
        }
        path[i] = saved;
    }
    res = STORE_OK;
done:
    free(path);
    return res;
}

static store_status name_status(int rc)
{
    return rc == MAILBOX_NAME_LIMIT ? STORE_LIMIT : STORE_INVALID;
}

/* --- Keywords ----------------------------------------------------------------------- */

/* Maps keyword names to a bit mask; with `create`, unknown names get the next free
 * bit (STORE_LIMIT beyond IMAP_KEYWORDS_MAX); without, they are skipped. Inside a
 * transaction (a write one when create). */
static store_status keywords_mask(store_mailbox *m, const char *const *names, size_t n,
                                  int create, uint64_t *mask)
{
    store_status res = STORE_ERROR;
    sqlite3_stmt *find = NULL, *next = NULL, *ins = NULL;
    *mask = 0;
    if (n == 0) return STORE_OK;
    for (size_t i = 0; i < n; i++)
        if (!mailbox_keyword_valid(names[i])) return STORE_INVALID;
    find = store_db_prepare(m, "SELECT bit FROM keywords WHERE name = ?");
    if (!find) goto done;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(find);
        sqlite3_bind_text(find, 1, names[i], -1, SQLITE_STATIC);
        int rc = sqlite3_step(find);
        if (rc == SQLITE_ROW) {
            *mask |= (uint64_t)1 << sqlite3_column_int(find, 0);
            continue;
        }
        if (rc != SQLITE_DONE) { store_db_fail(m, "keyword lookup"); goto done; }
        if (!create) continue;
        if (!next && !(next = store_db_prepare(m, "SELECT coalesce(max(bit) + 1, 0) FROM keywords")))
            goto done;
        if (!ins && !(ins = store_db_prepare(m, "INSERT INTO keywords(bit, name) VALUES (?, ?)")))
            goto done;
        sqlite3_reset(next);
        if (sqlite3_step(next) != SQLITE_ROW) { store_db_fail(m, "keyword bit"); goto done; }
        int bit = sqlite3_column_int(next, 0);
        sqlite3_reset(next);
        if (bit >= IMAP_KEYWORDS_MAX || bit >= 64) { res = STORE_LIMIT; goto done; }
        sqlite3_bind_int(ins, 1, bit);
        sqlite3_bind_text(ins, 2, names[i], -1, SQLITE_STATIC);
        if (store_db_done(m, ins, "keyword insert") < 0) goto done;
        *mask |= (uint64_t)1 << bit;
    }
    res = STORE_OK;
done:
    sqlite3_finalize(find);
    sqlite3_finalize(next);
    sqlite3_finalize(ins);
    return res;
}

/* --- Mailbox files ------------------------------------------------------------------ */

static int mailbox_id_valid(const char *id)
{
    if (!id || strlen(id) != STORE_MAILBOX_ID_LEN) return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
            return 0;
    return 1;
}

static int mailbox_path(char *out, size_t outlen, const char *datadir, const char *id,
                        const char *suffix)
{
    int n = snprintf(out, outlen, "%s/mailboxes/%s.db%s", datadir, id, suffix);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* Page cache of each connection, KiB (store_set_cache_mb). Set once at start-up,
 * before any thread opens a mailbox. */
static int store_cache_kib = MAILBOX_CACHE_MB_DEFAULT * 1024;

void store_set_cache_mb(int mb)
{
    if (mb < MAILBOX_CACHE_MB_MIN) mb = MAILBOX_CACHE_MB_MIN;
    if (mb > MAILBOX_CACHE_MB_MAX) mb = MAILBOX_CACHE_MB_MAX;
    store_cache_kib = mb * 1024;
}

/* Opens the file with the key and checks the key with a first read, then sets
 * the PRAGMAs of DESIGN.md "Mailbox file". */
static store_status mailbox_open_db(const char *path, const char *id,
                                    const unsigned char key[STORE_KEY_LEN], store_mailbox **out)
{
    store_status res = STORE_ERROR;
    store_mailbox *m = xcalloc(1, sizeof *m);
    memcpy(m->id, id, STORE_MAILBOX_ID_LEN + 1);
    *out = NULL;
    if (sodium_init() < 0) {
        log_error("store", "mailbox %s: libsodium init failed", id);
        goto fail;
    }
    /* Never SQLITE_OPEN_CREATE: store_create makes the file itself (O_EXCL), so
     * opening a missing id can never conjure an empty mailbox. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &m->db, flags, NULL) != SQLITE_OK) {
        if (m->db) store_db_fail(m, "open");
        else log_error("store", "mailbox %s: open: out of memory", id);
        goto fail;
    }
    sqlite3_extended_result_codes(m->db, 0);
    /* Before anything reads: another handle may be mid-commit or checkpoint. */
    sqlite3_busy_timeout(m->db, 5000);
    if (dbkey_apply(m->db, key) < 0) { store_db_fail(m, "key"); goto fail; }

    /* The first read decrypts page 1: a wrong key fails here and only here. */
    int rc = sqlite3_exec(m->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    if (rc == SQLITE_NOTADB) {
        log_warn("store", "mailbox %s: key does not open the file", id);
        res = STORE_BADKEY;
        goto fail;
    }
    if (rc != SQLITE_OK) { store_db_fail(m, "first read"); goto fail; }

    /* synchronous=FULL: every COMMIT that backs an OK is fsynced (promise 3).
     * temp_store=MEMORY: SQLite3MC does not encrypt temp files (also a build flag).
     * secure_delete: freed pages are zeroed, so expunged mail is not left in free
     * pages of the file (it is encrypted anyway; this keeps it out of backups). */
    if (store_db_exec(m, "PRAGMA journal_mode=WAL", "journal_mode") < 0 ||
        store_db_exec(m, "PRAGMA busy_timeout=5000", "busy_timeout") < 0 ||
        store_db_exec(m, "PRAGMA synchronous=FULL", "synchronous") < 0 ||
        store_db_exec(m, "PRAGMA foreign_keys=ON", "foreign_keys") < 0 ||
        store_db_exec(m, "PRAGMA secure_delete=ON", "secure_delete") < 0 ||
        store_db_exec(m, "PRAGMA temp_store=MEMORY", "temp_store") < 0)
        goto fail;
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA cache_size=-%d", store_cache_kib);
    if (store_db_exec(m, pragma, "cache_size") < 0) goto fail;
    if (mailbox_schema_migrate(m->db, m->id) < 0) goto fail;
    store_index_open_check(m);      /* bodies of older files: see store_index.c */
    *out = m;
    return STORE_OK;
fail:
    store_db_kept_finalize(m);
    if (m->db) sqlite3_close_v2(m->db);
    free(m);
    return res;
}

static void unlink_mailbox_files(const char *datadir, const char *id)
{
    static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
    char path[4096];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++)
        if (mailbox_path(path, sizeof path, datadir, id, suffixes[i]) == 0) unlink(path);
}

store_status store_create(const char *datadir, const char *mailbox_id,
                          const unsigned char key[STORE_KEY_LEN],
                          const unsigned char seal_secret[32])
{
    char dir[4096], path[4096];
    if (!datadir || !mailbox_id_valid(mailbox_id) || !key || !seal_secret) return STORE_INVALID;
    if (snprintf(dir, sizeof dir, "%s/mailboxes", datadir) >= (int)sizeof dir ||
        mailbox_path(path, sizeof path, datadir, mailbox_id, "") < 0)
        return STORE_INVALID;
    if (mkdir_p(dir, 0700) < 0) {
        log_error("store", "mailbox %s: mkdir mailboxes: %s", mailbox_id, strerror(errno));
        return STORE_ERROR;
    }
    /* O_EXCL claims the name: two creators of one id cannot both succeed, and an
     * existing mailbox is never overwritten. SQLite takes an empty file as a new
     * database. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST) return STORE_EXISTS;
        log_error("store", "mailbox %s: create file: %s", mailbox_id, strerror(errno));
        return STORE_ERROR;
    }
    close(fd);

    store_mailbox *m = NULL;
    store_status res = mailbox_open_db(path, mailbox_id, key, &m);
    if (res != STORE_OK) goto fail;
    res = STORE_ERROR;
    if (store_tx_begin(m, 1) < 0) goto fail;
    sqlite3_stmt *st = store_db_prepare(m, "INSERT INTO meta(key, value) VALUES ('seal_secret', ?)");
    if (!st) goto fail;
    sqlite3_bind_blob(st, 1, seal_secret, 32, SQLITE_STATIC);
    int rc = store_db_done(m, st, "meta seal secret");
    sqlite3_finalize(st);
    if (rc < 0 ||
        store_meta_set_int(m, "created", (int64_t)time(NULL)) < 0 ||
        store_meta_set_int(m, "modseq", 0) < 0 ||
        store_meta_set_int(m, "uidvalidity", 0) < 0)
        goto fail;
    uint64_t modseq;
    if (store_next_modseq(m, &modseq) < 0) goto fail;
    for (size_t i = 0; i < sizeof default_folders / sizeof default_folders[0]; i++) {
        if (folder_insert(m, default_folders[i].name, default_folders[i].special, modseq) < 0)
            goto fail;
        st = store_db_prepare(m, "INSERT INTO subscriptions(name) VALUES (?)");
        if (!st) goto fail;
        sqlite3_bind_text(st, 1, default_folders[i].name, -1, SQLITE_STATIC);
        rc = store_db_done(m, st, "subscribe default");
        sqlite3_finalize(st);
        if (rc < 0) goto fail;
    }
    if (store_tx_commit(m) < 0) goto fail;
    store_close(m);
    if (fsync_dir(dir) < 0) {
        log_error("store", "mailbox %s: fsync mailboxes dir: %s", mailbox_id, strerror(errno));
        unlink_mailbox_files(datadir, mailbox_id);
        return STORE_ERROR;
    }
    return STORE_OK;
fail:
    if (m) {
        store_tx_rollback(m);
        store_close(m);
    }
    unlink_mailbox_files(datadir, mailbox_id);
    return res;
}

store_status store_open(const char *datadir, const char *mailbox_id,
                        const unsigned char key[STORE_KEY_LEN], store_mailbox **out)
{
    char path[4096];
    *out = NULL;
    if (!datadir || !mailbox_id_valid(mailbox_id) || !key) return STORE_INVALID;
    if (mailbox_path(path, sizeof path, datadir, mailbox_id, "") < 0) return STORE_INVALID;
    if (!file_exists(path)) return STORE_NOTFOUND;
    return mailbox_open_db(path, mailbox_id, key, out);
}

void store_close(store_mailbox *m)
{
    if (!m) return;
    store_tx_rollback(m);
    store_db_kept_finalize(m);
    if (m->db && sqlite3_close(m->db) != SQLITE_OK) {
        /* A statement left unfinalized is a bug here; close_v2 still frees it all. */
        store_db_fail(m, "close");
        sqlite3_close_v2(m->db);
    }
    mailbox_body_reader_free(m->reader);
    free(m);
}

/* Overwrites with zeros once and fsyncs, so the bytes are gone from the file
 * system's view before the name is; returns 0, or -1 when the file was absent. */
static int wipe_file(const char *path, const char *id)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -1;
    struct stat sb;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
        static const char zeros[65536];
        off_t left = sb.st_size;
        while (left > 0) {
            size_t k = left < (off_t)sizeof zeros ? (size_t)left : sizeof zeros;
            ssize_t n = write(fd, zeros, k);
            if (n < 0) {
                if (errno == EINTR) continue;
                log_warn("store", "mailbox %s: wiping: %s", id, strerror(errno));
                break;
            }
            left -= n;
        }
        if (fsync(fd) < 0) log_warn("store", "mailbox %s: fsync wipe: %s", id, strerror(errno));
    }
    close(fd);
    if (unlink(path) < 0) log_warn("store", "mailbox %s: unlink: %s", id, strerror(errno));
    return 0;
}

store_status store_destroy(const char *datadir, const char *mailbox_id)
{
    char path[4096], dir[4096];
    if (!datadir || !mailbox_id_valid(mailbox_id)) return STORE_INVALID;
    static const char *const suffixes[] = { "-wal", "-shm", "-journal", "" };
    int main_found = 0;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        if (mailbox_path(path, sizeof path, datadir, mailbox_id, suffixes[i]) < 0)
            return STORE_INVALID;
        if (wipe_file(path, mailbox_id) == 0 && suffixes[i][0] == '\0') main_found = 1;
    }
    snprintf(dir, sizeof dir, "%s/mailboxes", datadir);
    fsync_dir(dir);
    return main_found ? STORE_OK : STORE_NOTFOUND;
}

const char *store_mailbox_id(const store_mailbox *m)
{
    return m->id;
}

store_status store_seal_secret(store_mailbox *m, unsigned char secret[32])
{
    store_status res = STORE_ERROR;
    sqlite3_stmt *st = store_db_prepare(m, "SELECT value FROM meta WHERE key = 'seal_secret'");
    if (!st) return STORE_ERROR;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
        memcpy(secret, sqlite3_column_blob(st, 0), 32);
        res = STORE_OK;
    } else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        log_error("store", "mailbox %s: seal secret missing", m->id);
    } else {
        store_db_fail(m, "seal secret");
    }
    sqlite3_finalize(st);
    return res;
}

store_status store_check(store_mailbox *m, buf *report)
{
    /* integrity_check reads every page, so it also proves that every page
     * decrypts and authenticates under the key (a torn or altered page fails). */
    sqlite3_stmt *st = store_db_prepare(m, "PRAGMA integrity_check");
    if (!st) return STORE_ERROR;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 0);
        buf_printf(report, "%s\n", line ? line : "");
    }
    store_status res = STORE_OK;
    if (rc != SQLITE_DONE) {
        store_db_fail(m, "integrity check");
        buf_printf(report, "%s\n", sqlite3_errmsg(m->db));
        res = STORE_ERROR;
    }
    sqlite3_finalize(st);
    return res;
}

/* --- Folders ------------------------------------------------------------------------ */

store_status store_folder_list(store_mailbox *m, store_folder **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = store_db_prepare(m,
        "SELECT " STORE_FOLDER_COLS ", name FROM folders ORDER BY name");
    if (!st) return STORE_ERROR;
    store_folder *v = NULL;
    size_t count = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            v = xrealloc(v, cap * sizeof *v);
        }
        store_folder_row f;
        store_folder_row_read(st, 0, &f);
        store_folder *o = &v[count++];
        memset(o, 0, sizeof *o);
        o->id = f.id;
        o->special_use = f.special_use;
        o->uidvalidity = f.uidvalidity;
        o->uidnext = f.uidnext;
        o->highestmodseq = f.highestmodseq;
        o->name = store_col_strdup(st, 6);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        store_db_fail(m, "folder list");
        store_folders_free(v, count);
        return STORE_ERROR;
    }
    *out = v;
    *n = count;
    return STORE_OK;
}

void store_folders_free(store_folder *f, size_t n)
{
    if (!f) return;
    for (size_t i = 0; i < n; i++) free(f[i].name);
    free(f);
}

void store_folder_clear(store_folder *f)
{
    if (!f) return;
    free(f->name);
    memset(f, 0, sizeof *f);
}

store_status store_folder_status(store_mailbox *m, const char *name, store_folder *out)
{
    memset(out, 0, sizeof *out);
    char *norm = NULL;
    int nrc = mailbox_name_normalize(name, &norm);
    if (nrc != MAILBOX_NAME_OK) return name_status(nrc);
    store_status res = STORE_ERROR;
    sqlite3_stmt *st = NULL;
    if (store_tx_begin(m, 0) < 0) goto done;
    store_folder_row f;
    int found = store_folder_by_name(m, norm, &f);
    if (found <= 0) { res = found < 0 ? STORE_ERROR : STORE_NOTFOUND; goto done; }
    st = store_db_prepare(m,
        "SELECT count(*), coalesce(sum((flags & ?2) = 0), 0), coalesce(sum(uid >= ?3), 0),"
        " coalesce(sum(size), 0) FROM messages WHERE folder_id = ?1");
    if (!st) goto done;
    sqlite3_bind_int64(st, 1, f.id);
    sqlite3_bind_int(st, 2, MSG_FLAG_SEEN);
    sqlite3_bind_int64(st, 3, f.recent_uid);
    if (sqlite3_step(st) != SQLITE_ROW) { store_db_fail(m, "folder status"); goto done; }
    out->id = f.id;
    out->name = norm;
    norm = NULL;
    out->special_use = f.special_use;
    out->uidvalidity = f.uidvalidity;
    out->uidnext = f.uidnext;
    out->highestmodseq = f.highestmodseq;
    out->messages = (uint32_t)sqlite3_column_int64(st, 0);
    out->unseen = (uint32_t)sqlite3_column_int64(st, 1);
    out->recent = (uint32_t)sqlite3_column_int64(st, 2);
    out->size = (uint64_t)sqlite3_column_int64(st, 3);
    sqlite3_finalize(st);
    st = NULL;
    if (store_tx_commit(m) < 0) { store_folder_clear(out); goto done; }
    res = STORE_OK;
done:
    sqlite3_finalize(st);
    store_tx_rollback(m);
    free(norm);
    return res;
}

store_status store_folder_create(store_mailbox *m, const char *name, unsigned special_use)
{
    if (!name) return STORE_INVALID;
    if (special_use & ~SPECIAL_USE_MASK) return STORE_INVALID;
    /* RFC 3501 6.3.3: a trailing delimiter only declares the intent to create
     * children; the folder created is the name without it. */
    char *trimmed = xstrdup(name);
    size_t tl = strlen(trimmed);
    if (tl > 1 && trimmed[tl - 1] == '/' && trimmed[tl - 2] != '/') trimmed[tl - 1] = '\0';
    char *norm = NULL;
    int nrc = mailbox_name_normalize(trimmed, &norm);
    free(trimmed);
    if (nrc != MAILBOX_NAME_OK) return name_status(nrc);
    store_status res = STORE_ERROR;
    if (store_tx_begin(m, 1) < 0) goto done;
    uint64_t modseq;
    if (store_next_modseq(m, &modseq) < 0) goto done;
    res = folder_create_path(m, norm, 1, special_use, modseq);
    if (res != STORE_OK) goto done;
    if (store_tx_commit(m) < 0) { res = STORE_ERROR; goto done; }
    store_notify(m);
done:
    store_tx_rollback(m);
    free(norm);
    return res;
}

store_status store_folder_delete(store_mailbox *m, const char *name)
{
    char *norm = NULL;
    int nrc = mailbox_name_normalize(name, &norm);
    if (nrc != MAILBOX_NAME_OK) return name_status(nrc);
    store_status res = STORE_ERROR;
    sqlite3_stmt *st = NULL;
    if (mailbox_name_is_inbox(norm)) { res = STORE_NOPERM; goto done; }
    if (store_tx_begin(m, 1) < 0) goto done;
    store_folder_row f;
    int found = store_folder_by_name(m, norm, &f);
    if (found <= 0) { res = found < 0 ? STORE_ERROR : STORE_NOTFOUND; goto done; }
    /* Children stay (RFC 3501 6.3.4): the deleted name then only exists as their
     * parent, which LIST shows as \Noselect. */
    /* Messages first: the body triggers drop the bodies no other message shares. */
    static const char *const deletes[] = {
        "DELETE FROM messages WHERE folder_id = ?",
        "DELETE FROM expunged WHERE folder_id = ?",
        "DELETE FROM folders WHERE id = ?",
    };
    for (size_t i = 0; i < sizeof deletes / sizeof deletes[0]; i++) {
        st = store_db_prepare(m, deletes[i]);
        if (!st) goto done;
        sqlite3_bind_int64(st, 1, f.id);
        if (store_db_done(m, st, "folder delete") < 0) goto done;
        sqlite3_finalize(st);
        st = NULL;
    }
    if (store_tx_commit(m) < 0) goto done;
    res = STORE_OK;
    store_notify(m);
done:
    sqlite3_finalize(st);
    store_tx_rollback(m);
    free(norm);
    return res;
}

/* RENAME INBOX (RFC 3501 6.3.5): a new folder `to` receives INBOX's messages with
 * uids 1..n in their order; INBOX keeps its UIDVALIDITY, and tombstones tell its
 * sessions the messages left. Inside a write transaction. */
static store_status rename_inbox(store_mailbox *m, const store_folder_row *inbox, const char *to,
                                 uint64_t modseq)
{
    store_status res = folder_create_path(m, to, 1, 0, modseq);
    if (res != STORE_OK) return res;
    res = STORE_ERROR;
    sqlite3_stmt *tomb = NULL, *list = NULL, *move = NULL, *upd = NULL;
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    store_folder_row dst;
    if (store_folder_by_name(m, to, &dst) != 1) goto done;
    tomb = store_db_prepare(m,
        "INSERT OR REPLACE INTO expunged(folder_id, uid, modseq)"
        " SELECT folder_id, uid, ?2 FROM messages WHERE folder_id = ?1");
    list = store_db_prepare(m, "SELECT id FROM messages WHERE folder_id = ? ORDER BY uid");
    move = store_db_prepare(m, "UPDATE messages SET folder_id = ?, uid = ?, modseq = ? WHERE id = ?");
    upd = store_db_prepare(m, "UPDATE folders SET uidnext = ?, highestmodseq = ? WHERE id = ?");
    if (!tomb || !list || !move || !upd) goto done;
    sqlite3_bind_int64(tomb, 1, inbox->id);
    sqlite3_bind_int64(tomb, 2, (int64_t)modseq);
    if (store_db_done(m, tomb, "rename inbox tombstones") < 0) goto done;
    sqlite3_bind_int64(list, 1, inbox->id);
    int rc;
    while ((rc = sqlite3_step(list)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            ids = xrealloc(ids, cap * sizeof *ids);
        }
        ids[n++] = sqlite3_column_int64(list, 0);
    }
    if (rc != SQLITE_DONE) { store_db_fail(m, "rename inbox list"); goto done; }
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(move, 1, dst.id);
        sqlite3_bind_int64(move, 2, (int64_t)i + 1);
        sqlite3_bind_int64(move, 3, (int64_t)modseq);
        sqlite3_bind_int64(move, 4, ids[i]);
        if (store_db_done(m, move, "rename inbox move") < 0) goto done;
    }
    sqlite3_bind_int64(upd, 1, (int64_t)n + 1);
    sqlite3_bind_int64(upd, 2, (int64_t)modseq);
    sqlite3_bind_int64(upd, 3, dst.id);
    if (store_db_done(m, upd, "rename inbox dest") < 0) goto done;
    sqlite3_bind_int64(upd, 1, inbox->uidnext);
    sqlite3_bind_int64(upd, 2, (int64_t)modseq);
    sqlite3_bind_int64(upd, 3, inbox->id);
    if (store_db_done(m, upd, "rename inbox source") < 0) goto done;
    res = STORE_OK;
done:
    free(ids);
    sqlite3_finalize(tomb);
    sqlite3_finalize(list);
    sqlite3_finalize(move);
    sqlite3_finalize(upd);
    return res;
}

store_status store_folder_rename(store_mailbox *m, const char *from, const char *to)
{
    char *src = NULL, *dst = NULL;
    int nrc = mailbox_name_normalize(from, &src);
    if (nrc != MAILBOX_NAME_OK) return name_status(nrc);
    nrc = mailbox_name_normalize(to, &dst);
    if (nrc != MAILBOX_NAME_OK) { free(src); return name_status(nrc); }
    store_status res = STORE_ERROR;
    sqlite3_stmt *list = NULL, *ren = NULL;
    int64_t *ids = NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int is_inbox = mailbox_name_is_inbox(src);
    if (store_tx_begin(m, 1) < 0) goto done;
    store_folder_row f, t;
    int found = store_folder_by_name(m, src, &f);
    if (found <= 0) { res = found < 0 ? STORE_ERROR : STORE_NOTFOUND; goto done; }
    found = store_folder_by_name(m, dst, &t);
    if (found != 0) { res = found < 0 ? STORE_ERROR : STORE_EXISTS; goto done; }
    /* INBOX's children stay where they are (RFC 3501 6.3.5), so only other
     * folders can be renamed into themselves. */
    if (!is_inbox && mailbox_name_is_within(dst, src)) { res = STORE_NOPERM; goto done; }
    uint64_t modseq;
    if (store_next_modseq(m, &modseq) < 0) goto done;
    if (is_inbox) {
        res = rename_inbox(m, &f, dst, modseq);
        if (res != STORE_OK) goto done;
    } else {
        /* The folder and everything below it, renamed by prefix. */
        list = store_db_prepare(m,
            "SELECT id, name FROM folders WHERE name = ?1"
            " OR (name > ?1 || '/' AND name < ?1 || '0')");
        if (!list) goto done;
        sqlite3_bind_text(list, 1, src, -1, SQLITE_STATIC);
        int rc;
        size_t srclen = strlen(src);
        while ((rc = sqlite3_step(list)) == SQLITE_ROW) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                ids = xrealloc(ids, cap * sizeof *ids);
                names = xrealloc(names, cap * sizeof *names);
            }
            const char *old = (const char *)sqlite3_column_text(list, 1);
            buf nb = BUF_INIT;
            buf_puts(&nb, dst);
            buf_puts(&nb, old + srclen);
            ids[n] = sqlite3_column_int64(list, 0);
            names[n] = buf_steal(&nb, NULL);
            n++;
        }
        if (rc != SQLITE_DONE) { store_db_fail(m, "rename list"); goto done; }
        for (size_t i = 0; i < n; i++) {
            if (strlen(names[i]) > IMAP_MAILBOX_NAME_MAX ||
                mailbox_name_depth(names[i]) > IMAP_MAILBOX_DEPTH_MAX) {
                res = STORE_LIMIT;
                goto done;
            }
            store_folder_row x;
            found = store_folder_by_name(m, names[i], &x);
            if (found != 0) { res = found < 0 ? STORE_ERROR : STORE_EXISTS; goto done; }
        }
        res = folder_create_path(m, dst, 0, 0, modseq);
        if (res != STORE_OK) goto done;
        res = STORE_ERROR;
        ren = store_db_prepare(m, "UPDATE folders SET name = ? WHERE id = ?");
        if (!ren) goto done;
        for (size_t i = 0; i < n; i++) {
            sqlite3_bind_text(ren, 1, names[i], -1, SQLITE_STATIC);
            sqlite3_bind_int64(ren, 2, ids[i]);
            if (store_db_done(m, ren, "rename") < 0) goto done;
        }
    }
    if (store_tx_commit(m) < 0) { res = STORE_ERROR; goto done; }
    res = STORE_OK;
    store_notify(m);
done:
    sqlite3_finalize(list);
    sqlite3_finalize(ren);
    store_tx_rollback(m);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    free(ids);
    free(src);
    free(dst);
    return res;
}

store_status store_subscribe(store_mailbox *m, const char *name, int subscribe)
{
    char *norm = NULL;
    int nrc = mailbox_name_normalize(name, &norm);
    if (nrc != MAILBOX_NAME_OK) return name_status(nrc);
    store_status res = STORE_ERROR;
    sqlite3_stmt *st = store_db_prepare(m, subscribe
        ? "INSERT OR IGNORE INTO subscriptions(name) VALUES (?)"
        : "DELETE FROM subscriptions WHERE name = ?");
    if (!st) goto done;
    sqlite3_bind_text(st, 1, norm, -1, SQLITE_STATIC);
    /* One statement in autocommit mode: its own durable transaction. */
    if (store_db_done(m, st, "subscribe") < 0) goto done;
    /* Both directions are idempotent: clients unsubscribe names they just
     * deleted, and a NO there only produces an error dialog. */
    res = STORE_OK;
done:
    sqlite3_finalize(st);
    free(norm);
    return res;
}

store_status store_subscriptions(store_mailbox *m, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    sqlite3_stmt *st = store_db_prepare(m, "SELECT name FROM subscriptions ORDER BY name");
    if (!st) return STORE_ERROR;
    char **v = NULL;
    size_t count = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            v = xrealloc(v, cap * sizeof *v);
        }
        v[count++] = store_col_strdup(st, 0);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        store_db_fail(m, "subscriptions");
        store_names_free(v, count);
        return STORE_ERROR;
    }
    *names = v;
    *n = count;
    return STORE_OK;
}

store_status store_keywords(store_mailbox *m, char ***names, size_t *n)
{
    char **v;
    size_t count;
    if (store_keywords_load(m, &v, &count) < 0) return STORE_ERROR;
    /* Bits are handed out densely and never freed, so there are no gaps; keep
     * the promise of an array of strings even if a file says otherwise. */
    for (size_t i = 0; i < count; i++)
        if (!v[i]) v[i] = xstrdup("");
    *names = v;
    *n = count;
    return STORE_OK;
}

/* --- The selected folder -------------------------------------------------------------- */

/* The columns collect_msgflags reads, in its order (all in the covering index
 * messages_facts). */
#define MSGFLAGS_COLUMNS \
    "uid, flags, keywords, modseq, internaldate, internaldate_tz, sentdate, sentdate_tz, size"

/* Appends the MSGFLAGS_COLUMNS rows of `st` to a growing array. */
static int collect_msgflags(store_mailbox *m, sqlite3_stmt *st, store_msgflags **out, size_t *n)
{
    size_t cap = *n;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        store_msgflags *f = &(*out)[(*n)++];
        f->uid = (uint32_t)sqlite3_column_int64(st, 0);
        f->flags = (uint32_t)sqlite3_column_int(st, 1);
        f->keywords = (uint64_t)sqlite3_column_int64(st, 2);
        f->modseq = (uint64_t)sqlite3_column_int64(st, 3);
        f->internaldate = sqlite3_column_int64(st, 4);
        /* Zones were checked at APPEND (within +-99:59, in 16 bits). */
        f->internaldate_tz = (int16_t)sqlite3_column_int(st, 5);
        f->has_sentdate = sqlite3_column_type(st, 6) != SQLITE_NULL;
        f->sentdate = f->has_sentdate ? sqlite3_column_int64(st, 6) : 0;
        f->sentdate_tz = (int16_t)sqlite3_column_int(st, 7);
        f->size = (uint64_t)sqlite3_column_int64(st, 8);
    }
    if (rc != SQLITE_DONE) { store_db_fail(m, "message list"); return -1; }
    return 0;
}

/* Claims \Recent: returns the folder's recent mark and moves it to uidnext.
 * Inside a write transaction. */
static int claim_recent(store_mailbox *m, const store_folder_row *f, uint32_t *first)
{
    *first = f->recent_uid;
    if (f->recent_uid >= f->uidnext) return 0;
    sqlite3_stmt *st = store_db_prepare(m, "UPDATE folders SET recent_uid = ? WHERE id = ?");
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, f->uidnext);
    sqlite3_bind_int64(st, 2, f->id);
    int r = store_db_done(m, st, "claim recent");
    sqlite3_finalize(st);
    return r;
}

store_status store_select(store_mailbox *m, const char *name, int claim, store_view *out)
{
    memset(out, 0, sizeof *out);
    char *norm = NULL;
    int nrc = mailbox_name_normalize(name, &norm);
    if (nrc != MAILBOX_NAME_OK) return name_status(nrc);
    store_status res = STORE_ERROR;
    sqlite3_stmt *st = NULL;
    /* Claiming writes; a plain EXAMINE only reads and never blocks a writer. */
    if (store_tx_begin(m, claim) < 0) goto done;
    store_folder_row f;
    int found = store_folder_by_name(m, norm, &f);
    if (found <= 0) { res = found < 0 ? STORE_ERROR : STORE_NOTFOUND; goto done; }
    out->folder_id = f.id;
    out->uidvalidity = f.uidvalidity;
    out->uidnext = f.uidnext;
    out->highestmodseq = f.highestmodseq;
    out->first_recent_uid = f.recent_uid;
    if (claim && claim_recent(m, &f, &out->first_recent_uid) < 0) goto done;
    st = store_db_prepare(m,
        "SELECT " MSGFLAGS_COLUMNS " FROM messages WHERE folder_id = ? ORDER BY uid");
    if (!st) goto done;
    sqlite3_bind_int64(st, 1, f.id);
    if (collect_msgflags(m, st, &out->msgs, &out->nmsgs) < 0) goto done;
    sqlite3_finalize(st);
    st = NULL;
    if (store_tx_commit(m) < 0) goto done;
    res = STORE_OK;
done:
    sqlite3_finalize(st);
    store_tx_rollback(m);
    free(norm);
    if (res != STORE_OK) store_view_clear(out);
    return res;
}

void store_view_clear(store_view *v)
{
    if (!v) return;
    free(v->msgs);
    memset(v, 0, sizeof *v);
}

store_status store_changes_since(store_mailbox *m, int64_t folder_id, uint64_t since_modseq,
                                 int claim, store_changes *out)
{
    memset(out, 0, sizeof *out);
    store_status res = STORE_ERROR;
    sqlite3_stmt *st = NULL;
    /* Sessions call this after every command, and almost always there is nothing
     * to claim: read first, and take the write lock only when new messages wait
     * to be claimed (then look again, since a writer may have come in between). */
    int write = 0;
again:
    if (store_tx_begin(m, write) < 0) goto done;
    store_folder_row f;
    int found = store_folder_by_id(m, folder_id, &f);
    if (found <= 0) { res = found < 0 ? STORE_ERROR : STORE_GONE; goto done; }
    if (claim && !write && f.recent_uid < f.uidnext) {
        store_tx_rollback(m);
        write = 1;
        goto again;
    }
    out->highestmodseq = f.highestmodseq;
    out->uidnext = f.uidnext;
    if (claim && claim_recent(m, &f, &out->first_recent_uid) < 0) goto done;
    int64_t since = since_modseq > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)since_modseq;
    st = store_db_prepare(m,
        "SELECT uid FROM expunged WHERE folder_id = ? AND modseq > ? ORDER BY uid");
    if (!st) goto done;
    sqlite3_bind_int64(st, 1, f.id);
    sqlite3_bind_int64(st, 2, since);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        uidset_add(&out->expunged, (uint32_t)sqlite3_column_int64(st, 0));
    if (rc != SQLITE_DONE) { store_db_fail(m, "expunged list"); goto done; }
    sqlite3_finalize(st);
    /* Every command asks, and usually nothing changed: a range of the modseq
     * index, not a pass over the covering index (which also holds modseq and
     * is in uid order, so the planner would take it: 100,000 entries, ~15 ms,
     * per command). */
    st = store_db_prepare(m,
        "SELECT " MSGFLAGS_COLUMNS " FROM messages INDEXED BY messages_modseq"
        " WHERE folder_id = ? AND modseq > ? ORDER BY uid");
    if (!st) goto done;
    sqlite3_bind_int64(st, 1, f.id);
    sqlite3_bind_int64(st, 2, since);
    if (collect_msgflags(m, st, &out->changed, &out->nchanged) < 0) goto done;
    sqlite3_finalize(st);
    st = NULL;
    if (store_tx_commit(m) < 0) goto done;
    res = STORE_OK;
done:
    sqlite3_finalize(st);
    store_tx_rollback(m);
    if (res != STORE_OK) store_changes_clear(out);
    return res;
}

void store_changes_clear(store_changes *c)
{
    if (!c) return;
    uidset_free(&c->expunged);
    free(c->changed);
    memset(c, 0, sizeof *c);
}

/* --- Messages ------------------------------------------------------------------------ */

store_status store_fetch(store_mailbox *m, int64_t folder_id, uint32_t uid, unsigned what,
                         store_msg *out)
{
    memset(out, 0, sizeof *out);
    store_status res = STORE_ERROR;
    sqlite3_stmt *st = NULL;
    buf raw = BUF_INIT;
    if (store_tx_begin(m, 0) < 0) goto done;
    st = store_db_kept(m, STORE_KEPT_FETCH);
    if (!st) goto done;
    sqlite3_bind_int64(st, 1, folder_id);
    sqlite3_bind_int64(st, 2, uid);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        store_folder_row f;
        int found = store_folder_by_id(m, folder_id, &f);
        res = found < 0 ? STORE_ERROR : found ? STORE_NOTFOUND : STORE_GONE;
        goto done;
    }
    if (rc != SQLITE_ROW) { store_db_fail(m, "fetch"); goto done; }
    out->uid = uid;
    out->modseq = (uint64_t)sqlite3_column_int64(st, 0);
    out->flags = (uint32_t)sqlite3_column_int(st, 1);
    out->keywords = (uint64_t)sqlite3_column_int64(st, 2);
    out->internaldate = sqlite3_column_int64(st, 3);
    out->internaldate_tz = sqlite3_column_int(st, 4);
    out->sentdate = sqlite3_column_int64(st, 5);      /* NULL reads as 0 */
    out->size = (uint64_t)sqlite3_column_int64(st, 6);
    if (what & STORE_FETCH_ENVELOPE) out->envelope = store_col_strdup(st, 7);
    if (what & STORE_FETCH_BODY) out->body = store_col_strdup(st, 8);
    if (what & STORE_FETCH_BODYSTRUCTURE) out->bodystructure = store_col_strdup(st, 9);
    if (what & STORE_FETCH_SECTIONS) {
        int n = sqlite3_column_bytes(st, 10);
        const void *p = sqlite3_column_blob(st, 10);
        out->sections = xmemdup(p ? p : "", n > 0 ? (size_t)n : 1);
        out->sections_len = (size_t)n;
    }
    if (what & STORE_FETCH_RAW) {
        if (store_body_load(m, sqlite3_column_int64(st, 11), out->size, &raw) < 0) goto done;
        out->raw_len = raw.len;
        out->raw = buf_steal(&raw, NULL);
    }
    store_db_release(st);
    st = NULL;
    if (store_tx_commit(m) < 0) goto done;
    res = STORE_OK;
done:
    store_db_release(st);
    store_tx_rollback(m);
    buf_free(&raw);
    if (res != STORE_OK) store_msg_clear(out);
    return res;
}

void store_msg_clear(store_msg *msg)
{
    if (!msg) return;
    free(msg->envelope);
    free(msg->body);
    free(msg->bodystructure);
    free(msg->sections);
    free(msg->raw);
    memset(msg, 0, sizeof *msg);
}

/* Everything APPEND computes before it takes the write lock. */
typedef struct parsed_msg {
    buf raw;                      /* CRLF-normalised message */
    buf compressed;
    buf envelope, body, bodystructure, sections;
    int has_sentdate;
    int64_t sentdate;
    int sentdate_tz;
    char *hdr[4];                 /* From, To, Cc, Subject (unfolded), or NULL */
    store_index_entry *ix;        /* sort facts and searchable text (store_index.c) */
} parsed_msg;

static const char *const indexed_headers[4] = { "From", "To", "Cc", "Subject" };

static void parsed_free(parsed_msg *p)
{
    buf_free(&p->raw);
    buf_free(&p->compressed);
    buf_free(&p->envelope);
    buf_free(&p->body);
    buf_free(&p->bodystructure);
    buf_free(&p->sections);
    for (size_t i = 0; i < 4; i++) free(p->hdr[i]);
    store_index_entry_free(p->ix);
}

static int parse_message(store_mailbox *m, const char *msg, size_t len, parsed_msg *p)
{
    mime_normalize_crlf(msg, len, &p->raw);
    if (!p->raw.p) buf_reserve(&p->raw, 0), p->raw.p[0] = '\0';
    mime_part *root = mime_parse(p->raw.p, p->raw.len);
    mime_envelope(p->raw.p, root, &p->envelope);
    mime_bodystructure(p->raw.p, root, 0, &p->body);
    mime_bodystructure(p->raw.p, root, 1, &p->bodystructure);
    mime_sections_serialize(root, &p->sections);
    const char *hdr = p->raw.p + root->hdr_off;
    size_t hdr_len = root->hdr_len;
    buf v = BUF_INIT;
    if (mime_header_get(hdr, hdr_len, "Date", &v) == 0 &&
        mime_parse_date(buf_cstr(&v), v.len, &p->sentdate, &p->sentdate_tz) == 0)
        p->has_sentdate = 1;
    for (size_t i = 0; i < 4; i++) {
        buf_reset(&v);
        if (mime_header_get(hdr, hdr_len, indexed_headers[i], &v) == 0)
            p->hdr[i] = xstrndup(buf_cstr(&v), v.len);
    }
    buf_free(&v);
    p->ix = store_index_prepare(p->raw.p, p->raw.len, root, buf_cstr(&p->envelope), p->envelope.len);
    mime_free(root);
    if (mailbox_body_compress(p->raw.p, p->raw.len, &p->compressed) < 0) {
        log_error("store", "mailbox %s: compressing a message failed", m->id);
        return -1;
    }
    return 0;
}

static void bind_buf_text(sqlite3_stmt *st, int col, buf *b)
{
    sqlite3_bind_text(st, col, buf_cstr(b), (int)b->len, SQLITE_STATIC);
}

/* 1 when `origin` was recorded by an earlier append, 0 when not, -1 error.
 * Inside the append's write transaction, so the answer cannot change before
 * the COMMIT. */
static int origin_seen(store_mailbox *m, const char *origin)
{
    sqlite3_stmt *st = store_db_prepare(m, "SELECT 1 FROM imported WHERE origin = ?");
    if (!st) return -1;
    sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), r;
    if (rc == SQLITE_ROW) r = 1;
    else if (rc == SQLITE_DONE) r = 0;
    else { store_db_fail(m, "origin lookup"); r = -1; }
    sqlite3_finalize(st);
    return r;
}

/* store_append, and with `origin` store_append_once: the origin is checked and
 * recorded in the same transaction as the message. */
store_status store_append_message(store_mailbox *m, const char *name, uint32_t flags,
                                  const char *const *keywords, size_t nkeywords,
                                  int64_t internaldate, int internaldate_tz,
                                  const char *msg, size_t len, const char *origin,
                                  uint32_t *uidvalidity_out, uint32_t *uid_out)
{
    if (uidvalidity_out) *uidvalidity_out = 0;
    if (uid_out) *uid_out = 0;
    if (!msg && len) return STORE_INVALID;
    if (len > IMAP_APPEND_MAX) return STORE_TOOBIG;
    /* A zone beyond +-99:59 cannot come from an IMAP date-time. */
    if (internaldate_tz < -(99 * 60 + 59) || internaldate_tz > 99 * 60 + 59) return STORE_INVALID;
    if (nkeywords > IMAP_KEYWORDS_MAX * 4) return STORE_LIMIT;
    for (size_t i = 0; i < nkeywords; i++)
        if (!mailbox_keyword_valid(keywords[i])) return STORE_INVALID;
    char *norm = NULL;
    int nrc = mailbox_name_normalize(name, &norm);
    if (nrc != MAILBOX_NAME_OK) return name_status(nrc);

    store_status res = STORE_ERROR;
    sqlite3_stmt *st = NULL;
    parsed_msg p;
    memset(&p, 0, sizeof p);
    /* Parse and compress before taking the write lock: other sessions keep
     * writing while we spend CPU. */
    if (parse_message(m, msg ? msg : "", len, &p) < 0) goto done;
    /* Bodies are stored as SQLite values, whose size is an int. */
    if (p.raw.len > (size_t)INT32_MAX || p.compressed.len > (size_t)INT32_MAX) {
        res = STORE_TOOBIG;
        goto done;
    }

    if (store_tx_begin(m, 1) < 0) goto done;
    if (origin) {
        int seen = origin_seen(m, origin);
        if (seen > 0) store_tx_abandon(m);
        if (seen != 0) { res = seen < 0 ? STORE_ERROR : STORE_EXISTS; goto done; }
    }
    /* Refusals up to here wrote nothing: in a batch the others go on. */
    store_folder_row f;
    int found = store_folder_by_name(m, norm, &f);
    if (found == 0) store_tx_abandon(m);
    if (found <= 0) { res = found < 0 ? STORE_ERROR : STORE_NOTFOUND; goto done; }
    /* UIDs are 32-bit and uidnext must stay representable (RFC 3501 2.3.1.1). */
    if (f.uidnext >= UINT32_MAX) {
        store_tx_abandon(m);
        res = STORE_LIMIT;
        goto done;
    }
    uint64_t kwmask;
    res = keywords_mask(m, keywords, nkeywords, 1, &kwmask);
    if (res != STORE_OK) goto done;
    res = STORE_ERROR;
    uint64_t modseq;
    if (store_next_modseq(m, &modseq) < 0) goto done;

    st = store_db_prepare(m, "INSERT INTO bodies(refcount, size, data) VALUES (0, ?, ?)");
    if (!st) goto done;
    sqlite3_bind_int64(st, 1, (int64_t)p.raw.len);
    sqlite3_bind_blob(st, 2, p.compressed.p, (int)p.compressed.len, SQLITE_STATIC);
    if (store_db_done(m, st, "body insert") < 0) goto done;
    int64_t body_id = sqlite3_last_insert_rowid(m->db);
    sqlite3_finalize(st);
    st = NULL;
    if (store_index_insert(m, body_id, p.ix) < 0) goto done;

    st = store_db_prepare(m,
        "INSERT INTO messages(folder_id, uid, modseq, flags, keywords, internaldate,"
        " internaldate_tz, sentdate, sentdate_tz, size, envelope, body, bodystructure,"
        " sections, body_id, hdr_from, hdr_to, hdr_cc, hdr_subject)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!st) goto done;
    sqlite3_bind_int64(st, 1, f.id);
    sqlite3_bind_int64(st, 2, f.uidnext);
    sqlite3_bind_int64(st, 3, (int64_t)modseq);
    sqlite3_bind_int(st, 4, (int)(flags & MSG_FLAG_ALL));
    sqlite3_bind_int64(st, 5, (int64_t)kwmask);
    sqlite3_bind_int64(st, 6, internaldate);
    sqlite3_bind_int(st, 7, internaldate_tz);
    if (p.has_sentdate) sqlite3_bind_int64(st, 8, p.sentdate);
    else sqlite3_bind_null(st, 8);
    sqlite3_bind_int(st, 9, p.has_sentdate ? p.sentdate_tz : 0);
    sqlite3_bind_int64(st, 10, (int64_t)p.raw.len);
    bind_buf_text(st, 11, &p.envelope);
    bind_buf_text(st, 12, &p.body);
    bind_buf_text(st, 13, &p.bodystructure);
    sqlite3_bind_blob(st, 14, buf_cstr(&p.sections), (int)p.sections.len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 15, body_id);
    for (int i = 0; i < 4; i++) {
        if (p.hdr[i]) sqlite3_bind_text(st, 16 + i, p.hdr[i], -1, SQLITE_STATIC);
        else sqlite3_bind_null(st, 16 + i);
    }
    if (store_db_done(m, st, "message insert") < 0) goto done;
    sqlite3_finalize(st);

    st = store_db_prepare(m, "UPDATE folders SET uidnext = ?, highestmodseq = ? WHERE id = ?");
    if (!st) goto done;
    sqlite3_bind_int64(st, 1, (int64_t)f.uidnext + 1);
    sqlite3_bind_int64(st, 2, (int64_t)modseq);
    sqlite3_bind_int64(st, 3, f.id);
    if (store_db_done(m, st, "folder uidnext") < 0) goto done;
    sqlite3_finalize(st);
    st = NULL;
    if (origin) {
        st = store_db_prepare(m, "INSERT INTO imported(origin, at) VALUES (?, ?)");
        if (!st) goto done;
        sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
        if (store_db_done(m, st, "origin insert") < 0) goto done;
        sqlite3_finalize(st);
        st = NULL;
    }
    if (store_tx_commit(m) < 0) goto done;
    res = STORE_OK;
    if (uidvalidity_out) *uidvalidity_out = f.uidvalidity;
    if (uid_out) *uid_out = f.uidnext;
    store_notify(m);
done:
    sqlite3_finalize(st);
    store_tx_rollback(m);
    parsed_free(&p);
    free(norm);
    return res;
}

store_status store_append(store_mailbox *m, const char *name, uint32_t flags,
                          const char *const *keywords, size_t nkeywords,
                          int64_t internaldate, int internaldate_tz,
                          const char *msg, size_t len,
                          uint32_t *uidvalidity_out, uint32_t *uid_out)
{
    return store_append_message(m, name, flags, keywords, nkeywords, internaldate, internaldate_tz,
                                msg, len, NULL, uidvalidity_out, uid_out);
}

store_status store_append_once(store_mailbox *m, const char *name, uint32_t flags,
                               const char *const *keywords, size_t nkeywords,
                               int64_t internaldate, const char *msg, size_t len,
                               const char *origin, uint32_t *uidvalidity_out, uint32_t *uid_out)
{
    if (uidvalidity_out) *uidvalidity_out = 0;
    if (uid_out) *uid_out = 0;
    if (!origin || !*origin || strlen(origin) > STORE_ORIGIN_MAX) return STORE_INVALID;
    return store_append_message(m, name, flags, keywords, nkeywords, internaldate, 0, msg, len,
                                origin, uidvalidity_out, uid_out);
}

/* A message row picked for a change: rowid, uid and its current flags. */
typedef struct msg_ref {
    int64_t id;
    uint32_t uid, flags;
    uint64_t keywords;
} msg_ref;

/* Collects the messages of `folder_id` whose uid is in `uids` (all when NULL),
 * ascending; with deleted_only, only those flagged \Deleted. */
static int collect_refs(store_mailbox *m, int64_t folder_id, const uidset *uids,
                        int deleted_only, msg_ref **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    sqlite3_stmt *st = store_db_prepare(m,
        "SELECT id, uid, flags, keywords FROM messages"
        " WHERE folder_id = ? AND uid BETWEEN ? AND ? ORDER BY uid");
    if (!st) return -1;
    /* Walk the set's ranges: each is one index range scan. */
    size_t nranges = uids ? uids->n : 1;
    for (size_t r = 0; r < nranges; r++) {
        uint32_t lo = uids ? uids->r[r].lo : 1, hi = uids ? uids->r[r].hi : UINT32_MAX;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, folder_id);
        sqlite3_bind_int64(st, 2, lo);
        sqlite3_bind_int64(st, 3, hi);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            uint32_t fl = (uint32_t)sqlite3_column_int(st, 2);
            if (deleted_only && !(fl & MSG_FLAG_DELETED)) continue;
            if (*n == cap) {
                cap = cap ? cap * 2 : 64;
                *out = xrealloc(*out, cap * sizeof **out);
            }
            msg_ref *x = &(*out)[(*n)++];
            x->id = sqlite3_column_int64(st, 0);
            x->uid = (uint32_t)sqlite3_column_int64(st, 1);
            x->flags = fl;
            x->keywords = (uint64_t)sqlite3_column_int64(st, 3);
        }
        if (rc != SQLITE_DONE) {
            store_db_fail(m, "message selection");
            sqlite3_finalize(st);
            free(*out);
            *out = NULL;
            *n = 0;
            return -1;
        }
    }
    sqlite3_finalize(st);
    return 0;
}

static int set_folder_modseq(store_mailbox *m, int64_t folder_id, uint64_t modseq)
{
    sqlite3_stmt *st = store_db_prepare(m, "UPDATE folders SET highestmodseq = ? WHERE id = ?");
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, (int64_t)modseq);
    sqlite3_bind_int64(st, 2, folder_id);
    int r = store_db_done(m, st, "folder modseq");
    sqlite3_finalize(st);
    return r;
}

/* Removes messages and leaves their tombstones; inside a write transaction. */
static int expunge_refs(store_mailbox *m, int64_t folder_id, const msg_ref *refs, size_t n,
                        uint64_t modseq)
{
    sqlite3_stmt *del = store_db_prepare(m, "DELETE FROM messages WHERE id = ?");
    sqlite3_stmt *tomb = store_db_prepare(m,
        "INSERT OR REPLACE INTO expunged(folder_id, uid, modseq) VALUES (?, ?, ?)");
    int r = -1;
    if (!del || !tomb) goto done;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(del, 1, refs[i].id);
        if (store_db_done(m, del, "expunge") < 0) goto done;
        sqlite3_bind_int64(tomb, 1, folder_id);
        sqlite3_bind_int64(tomb, 2, refs[i].uid);
        sqlite3_bind_int64(tomb, 3, (int64_t)modseq);
        if (store_db_done(m, tomb, "tombstone") < 0) goto done;
    }
    r = set_folder_modseq(m, folder_id, modseq);
done:
    sqlite3_finalize(del);
    sqlite3_finalize(tomb);
    return r;
}

store_status store_flags(store_mailbox *m, int64_t folder_id, const uidset *uids,
                         store_flag_mode mode, uint32_t flags,
                         const char *const *keywords, size_t nkeywords,
                         store_msgflags **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (mode != STORE_FLAGS_SET && mode != STORE_FLAGS_ADD && mode != STORE_FLAGS_REMOVE)
        return STORE_INVALID;
    if (nkeywords > IMAP_KEYWORDS_MAX * 4) return STORE_LIMIT;
    flags &= MSG_FLAG_ALL;
    store_status res = STORE_ERROR;
    sqlite3_stmt *upd = NULL;
    msg_ref *refs = NULL;
    size_t n = 0;
    store_msgflags *changed = NULL;
    size_t nchanged = 0;
    if (store_tx_begin(m, 1) < 0) goto done;
    store_folder_row f;
    int found = store_folder_by_id(m, folder_id, &f);
    if (found <= 0) { res = found < 0 ? STORE_ERROR : STORE_GONE; goto done; }
    uint64_t kwmask;
    /* Removing a keyword nobody ever set must not spend a bit on it. */
    res = keywords_mask(m, keywords, nkeywords, mode != STORE_FLAGS_REMOVE, &kwmask);
    if (res != STORE_OK) goto done;
    res = STORE_ERROR;
    if (uids && uids->n > 0 && collect_refs(m, folder_id, uids, 0, &refs, &n) < 0) goto done;
    uint64_t modseq = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t nf = refs[i].flags;
        uint64_t nk = refs[i].keywords;
        switch (mode) {
        case STORE_FLAGS_SET: nf = flags; nk = kwmask; break;
        case STORE_FLAGS_ADD: nf |= flags; nk |= kwmask; break;
        case STORE_FLAGS_REMOVE: nf &= ~flags; nk &= ~kwmask; break;
        }
        if (nf == refs[i].flags && nk == refs[i].keywords) continue;
        if (modseq == 0) {
            if (store_next_modseq(m, &modseq) < 0) goto done;
            upd = store_db_prepare(m, "UPDATE messages SET flags = ?, keywords = ?, modseq = ? WHERE id = ?");
            if (!upd) goto done;
            changed = xcalloc(n - i, sizeof *changed);
        }
        sqlite3_bind_int(upd, 1, (int)nf);
        sqlite3_bind_int64(upd, 2, (int64_t)nk);
        sqlite3_bind_int64(upd, 3, (int64_t)modseq);
        sqlite3_bind_int64(upd, 4, refs[i].id);
        if (store_db_done(m, upd, "flags update") < 0) goto done;
        changed[nchanged].uid = refs[i].uid;
        changed[nchanged].flags = nf;
        changed[nchanged].keywords = nk;
        changed[nchanged].modseq = modseq;
        nchanged++;
    }
    if (modseq && set_folder_modseq(m, folder_id, modseq) < 0) goto done;
    if (store_tx_commit(m) < 0) goto done;
    res = STORE_OK;
    if (nchanged) store_notify(m);
    *out = changed;
    *nout = nchanged;
    changed = NULL;
done:
    sqlite3_finalize(upd);
    store_tx_rollback(m);
    free(refs);
    free(changed);
    return res;
}

store_status store_expunge(store_mailbox *m, int64_t folder_id, const uidset *only,
                           uidset *expunged)
{
    uidset_clear(expunged);
    store_status res = STORE_ERROR;
    msg_ref *refs = NULL;
    size_t n = 0;
    if (store_tx_begin(m, 1) < 0) goto done;
    store_folder_row f;
    int found = store_folder_by_id(m, folder_id, &f);
    if (found <= 0) { res = found < 0 ? STORE_ERROR : STORE_GONE; goto done; }
    if (!only || only->n > 0) {
        if (collect_refs(m, folder_id, only, 1, &refs, &n) < 0) goto done;
    }
    if (n > 0) {
        uint64_t modseq;
        if (store_next_modseq(m, &modseq) < 0) goto done;
        if (expunge_refs(m, folder_id, refs, n, modseq) < 0) goto done;
    }
    if (store_tx_commit(m) < 0) goto done;
    res = STORE_OK;
    for (size_t i = 0; i < n; i++) uidset_add(expunged, refs[i].uid);
    if (n) store_notify(m);
done:
    store_tx_rollback(m);
    free(refs);
    return res;
}

store_status store_copy(store_mailbox *m, int64_t folder_id, const uidset *uids,
                        const char *dest, int move, store_copyuid *out)
{
    memset(out, 0, sizeof *out);
    char *norm = NULL;
    int nrc = mailbox_name_normalize(dest, &norm);
    if (nrc != MAILBOX_NAME_OK) return name_status(nrc);
    store_status res = STORE_ERROR;
    sqlite3_stmt *ins = NULL, *upd = NULL;
    msg_ref *refs = NULL;
    size_t n = 0;
    uint32_t *src = NULL, *dst = NULL;
    if (store_tx_begin(m, 1) < 0) goto done;
    store_folder_row f, d;
    int found = store_folder_by_id(m, folder_id, &f);
    if (found <= 0) { res = found < 0 ? STORE_ERROR : STORE_GONE; goto done; }
    found = store_folder_by_name(m, norm, &d);
    if (found <= 0) { res = found < 0 ? STORE_ERROR : STORE_NOTFOUND; goto done; }
    if (uids && uids->n > 0 && collect_refs(m, folder_id, uids, 0, &refs, &n) < 0) goto done;
    if (n > 0) {
        if ((uint64_t)d.uidnext + n >= UINT32_MAX) { res = STORE_LIMIT; goto done; }
        uint64_t modseq;
        if (store_next_modseq(m, &modseq) < 0) goto done;
        /* The copy shares the source's body row (the trigger counts it). */
        ins = store_db_prepare(m,
            "INSERT INTO messages(folder_id, uid, modseq, flags, keywords, internaldate,"
            " internaldate_tz, sentdate, sentdate_tz, size, envelope, body, bodystructure,"
            " sections, body_id, hdr_from, hdr_to, hdr_cc, hdr_subject)"
            " SELECT ?1, ?2, ?3, flags, keywords, internaldate, internaldate_tz, sentdate,"
            " sentdate_tz, size, envelope, body, bodystructure, sections, body_id,"
            " hdr_from, hdr_to, hdr_cc, hdr_subject FROM messages WHERE id = ?4");
        if (!ins) goto done;
        src = xcalloc(n, sizeof *src);
        dst = xcalloc(n, sizeof *dst);
        for (size_t i = 0; i < n; i++) {
            src[i] = refs[i].uid;
            dst[i] = d.uidnext + (uint32_t)i;
            sqlite3_bind_int64(ins, 1, d.id);
            sqlite3_bind_int64(ins, 2, dst[i]);
            sqlite3_bind_int64(ins, 3, (int64_t)modseq);
            sqlite3_bind_int64(ins, 4, refs[i].id);
            if (store_db_done(m, ins, "copy") < 0) goto done;
        }
        upd = store_db_prepare(m, "UPDATE folders SET uidnext = ?, highestmodseq = ? WHERE id = ?");
        if (!upd) goto done;
        sqlite3_bind_int64(upd, 1, (int64_t)d.uidnext + (int64_t)n);
        sqlite3_bind_int64(upd, 2, (int64_t)modseq);
        sqlite3_bind_int64(upd, 3, d.id);
        if (store_db_done(m, upd, "copy uidnext") < 0) goto done;
        if (move && expunge_refs(m, folder_id, refs, n, modseq) < 0) goto done;
    }
    if (store_tx_commit(m) < 0) goto done;
    res = STORE_OK;
    out->uidvalidity = d.uidvalidity;
    out->src = src;
    out->dst = dst;
    out->n = n;
    src = dst = NULL;
    if (n) store_notify(m);
done:
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    store_tx_rollback(m);
    free(refs);
    free(src);
    free(dst);
    free(norm);
    return res;
}

void store_copyuid_clear(store_copyuid *c)
{
    if (!c) return;
    free(c->src);
    free(c->dst);
    memset(c, 0, sizeof *c);
}
