/*
 * directory_sqlite.c — directory.h on an embedded, encrypted SQLite3MC file.
 *
 * SUMMARY
 *   DATADIR/directory.db, cipher chacha20, opened with the 32-byte server key as
 *   a raw key ("raw:" + 64 hex digits: sqlite3mcExtractRawKey() then skips the
 *   passphrase KDF; we hand it over with sqlite3_key_v2, which is what PRAGMA key
 *   calls, so the key never sits in SQL text that SQLite copies into its heap).
 *   PRAGMAs: journal_mode=WAL, busy_timeout=5000, synchronous=FULL,
 *   foreign_keys=ON, secure_delete=ON. Schema: a version table and forward
 *   migrations (directory_migrations[i] takes version i to i + 1).
 *
 *   schema_version(version)
 *   domains(name PK, created)
 *   aliases(address PK, domain -> domains, mailbox_id UNIQUE, seal_public, quota, created)
 *   keyslots(id PK AUTOINCREMENT, address -> aliases ON DELETE CASCADE, blob, created)
 *   alias_actions(address PK -> aliases ON DELETE CASCADE, store, forward, webhook)
 *
 *   Key slot ids come from AUTOINCREMENT so an id is never reused: the key cache
 *   recognises a password by the slot id it opened (crypto/keycache.h).
 *
 * DIAGNOSTICS
 *   SQLite failures are logged as "<step>: <sqlite message>" (messages name
 *   columns, never values) and returned as DIR_ERROR.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "util/alloc.h"
#include "util/limits.h"
#include "util/log.h"
#include "crypto/dbkey.h"
#include "crypto/secmem.h"
#include "directory/directory.h"

struct directory {
    pthread_mutex_t mu;
    sqlite3 *db;
};

static const char *const directory_migrations[] = {
    /* 1: the first schema. */
    "CREATE TABLE domains("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  created INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE aliases("
    "  address TEXT PRIMARY KEY NOT NULL,"
    "  domain TEXT NOT NULL REFERENCES domains(name),"
    "  mailbox_id TEXT NOT NULL UNIQUE,"
    "  seal_public BLOB NOT NULL,"
    "  quota INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL"
    ");"
    "CREATE INDEX aliases_domain ON aliases(domain);"
    "CREATE TABLE keyslots("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  address TEXT NOT NULL REFERENCES aliases(address) ON DELETE CASCADE,"
    "  blob BLOB NOT NULL,"
    "  created INTEGER NOT NULL"
    ");"
    "CREATE INDEX keyslots_address ON keyslots(address);",
    /* 2: per-address actions (issue 3). A missing row means the defaults. */
    "CREATE TABLE alias_actions("
    "  address TEXT PRIMARY KEY NOT NULL REFERENCES aliases(address) ON DELETE CASCADE,"
    "  store INTEGER NOT NULL DEFAULT 1,"
    "  forward TEXT NOT NULL DEFAULT '',"
    "  webhook TEXT NOT NULL DEFAULT ''"
    ") WITHOUT ROWID;",
};
#define DIRECTORY_SCHEMA_VERSION ((int)(sizeof directory_migrations / sizeof directory_migrations[0]))

const char *directory_strerror(directory_status st)
{
    switch (st) {
    case DIR_OK: return "ok";
    case DIR_NOTFOUND: return "not found";
    case DIR_EXISTS: return "already exists";
    case DIR_INVALID: return "invalid name or argument";
    case DIR_NOTEMPTY: return "the domain still has addresses";
    case DIR_LIMIT: return "too many key slots";
    case DIR_ERROR: return "internal error (see the log)";
    }
    return "unknown error";
}

/* --- Helpers (the caller holds d->mu) ------------------------------------------- */

static void dir_log(directory *d, const char *step)
{
    log_error("directory", "%s: %s", step, sqlite3_errmsg(d->db));
}

static int dir_exec(directory *d, const char *sql, const char *step)
{
    char *msg = NULL;
    if (sqlite3_exec(d->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error("directory", "%s: %s", step, msg ? msg : sqlite3_errmsg(d->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static sqlite3_stmt *dir_prepare(directory *d, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK) {
        dir_log(d, "prepare");
        return NULL;
    }
    return st;
}

static int dir_begin(directory *d)
{
    return dir_exec(d, "BEGIN IMMEDIATE", "begin");
}

static int dir_commit(directory *d)
{
    if (dir_exec(d, "COMMIT", "commit") == 0) return 0;
    sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static void dir_rollback(directory *d)
{
    if (!sqlite3_get_autocommit(d->db)) sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
}

static void dir_text(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, outlen, "%s", t ? (const char *)t : "");
}

static int dir_mailbox_id_ok(const char *id)
{
    if (strlen(id) != DIRECTORY_MAILBOX_ID_LEN) return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

/* Runs a statement that returns no row; SQLITE_DONE or the failing code. */
static int dir_step_done(directory *d, sqlite3_stmt *st, const char *step)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && (rc & 0xff) != SQLITE_CONSTRAINT) dir_log(d, step);
    return rc;
}

/* --- Opening ------------------------------------------------------------------------ */

static int dir_schema_version(directory *d, int *version)
{
    if (dir_exec(d, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)",
                 "schema_version") < 0)
        return -1;
    sqlite3_stmt *st = dir_prepare(d, "SELECT max(version) FROM schema_version");
    if (!st) return -1;
    int rc = sqlite3_step(st);
    *version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) { dir_log(d, "schema_version"); return -1; }
    return 0;
}

static int dir_migrate(directory *d, char *err, size_t errlen)
{
    int version;
    if (dir_begin(d) < 0 || dir_schema_version(d, &version) < 0) goto fail;
    if (version > DIRECTORY_SCHEMA_VERSION) {
        snprintf(err, errlen, "directory.db has schema version %d; this sealbox knows up to %d",
                 version, DIRECTORY_SCHEMA_VERSION);
        dir_rollback(d);
        return -1;
    }
    /* Each migration commits with its version bump, so a crash in between
     * leaves a consistent older version that the next start migrates again. */
    for (int v = version; v < DIRECTORY_SCHEMA_VERSION; v++) {
        if (v > version && dir_begin(d) < 0) goto fail;
        char bump[96];
        snprintf(bump, sizeof bump, "DELETE FROM schema_version; INSERT INTO schema_version VALUES (%d)", v + 1);
        if (dir_exec(d, directory_migrations[v], "migrate") < 0 || dir_exec(d, bump, "migrate") < 0 ||
            dir_commit(d) < 0)
            goto fail;
        log_debug("directory", "schema migrated to version %d", v + 1);
    }
    if (version == DIRECTORY_SCHEMA_VERSION && dir_commit(d) < 0) goto fail;
    return 0;
fail:
    dir_rollback(d);
    snprintf(err, errlen, "directory.db: schema migration failed (see the log)");
    return -1;
}

directory *directory_open_file(const char *path, const unsigned char key[DIRECTORY_KEY_LEN],
                               char *err, size_t errlen)
{
    crypto_init();
    directory *d = xcalloc(1, sizeof *d);
    pthread_mutex_init(&d->mu, NULL);
    int existed = access(path, F_OK) == 0;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &d->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path, d->db ? sqlite3_errmsg(d->db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(d->db, 1);
    if (dbkey_apply(d->db, key) < 0) {
        snprintf(err, errlen, "%s: cannot set the encryption key", path);
        goto fail;
    }
    /* The first read decrypts page 1: a wrong server key fails here. */
    int rc = sqlite3_exec(d->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    if ((rc & 0xff) == SQLITE_NOTADB) {
        snprintf(err, errlen, "%s does not open with server.key (wrong key, or not a directory)", path);
        goto fail;
    }
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(d->db));
        goto fail;
    }
    if (dir_exec(d, "PRAGMA journal_mode=WAL", "journal_mode") < 0 ||
        dir_exec(d, "PRAGMA busy_timeout=5000", "busy_timeout") < 0 ||
        dir_exec(d, "PRAGMA synchronous=FULL", "synchronous") < 0 ||
        dir_exec(d, "PRAGMA foreign_keys=ON", "foreign_keys") < 0 ||
        dir_exec(d, "PRAGMA secure_delete=ON", "secure_delete") < 0) {
        snprintf(err, errlen, "%s: cannot configure (see the log)", path);
        goto fail;
    }
    if (dir_migrate(d, err, errlen) < 0) goto fail;
    /* SQLite creates the file with the umask's mode and gives -wal/-shm the
     * mode of the main file: make all three private from the start. */
    if (!existed && chmod(path, 0600) < 0)
        log_warn("directory", "chmod 0600 of the directory file: %s", strerror(errno));
    return d;
fail:
    if (d->db) sqlite3_close_v2(d->db);
    pthread_mutex_destroy(&d->mu);
    free(d);
    return NULL;
}

directory *directory_open(const char *datadir, char *err, size_t errlen)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/directory.db", datadir) >= (int)sizeof path) {
        snprintf(err, errlen, "data directory path too long");
        return NULL;
    }
    unsigned char *key = dbkey_read_server_key(datadir, err, errlen);
    if (!key) return NULL;
    directory *d = directory_open_file(path, key, err, errlen);
    secmem_free(key);
    return d;
}

void directory_close(directory *d)
{
    if (!d) return;
    sqlite3_close_v2(d->db);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

/* --- Domains --------------------------------------------------------------------------- */

static int dir_domain_exists_locked(directory *d, const char *domain)
{
    sqlite3_stmt *st = dir_prepare(d, "SELECT 1 FROM domains WHERE name = ?");
    if (!st) return -1;
    sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) return 0;
    dir_log(d, "domain exists");
    return -1;
}

directory_status directory_domain_add(directory *d, const char *domain)
{
    char name[DIRECTORY_DOMAIN_MAX + 1];
    if (directory_domain_normalise(domain, name, sizeof name) < 0) return DIR_INVALID;
    directory_status res = DIR_ERROR;
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = dir_prepare(d, "INSERT INTO domains(name, created) VALUES (?, ?)");
    if (st) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
        int rc = dir_step_done(d, st, "domain add");
        res = rc == SQLITE_DONE ? DIR_OK : (rc & 0xff) == SQLITE_CONSTRAINT ? DIR_EXISTS : DIR_ERROR;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&d->mu);
    return res;
}

directory_status directory_domain_remove(directory *d, const char *domain)
{
    char name[DIRECTORY_DOMAIN_MAX + 1];
    if (directory_domain_normalise(domain, name, sizeof name) < 0) return DIR_INVALID;
    directory_status res = DIR_ERROR;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&d->mu);
    if (dir_begin(d) < 0) goto out;
    st = dir_prepare(d, "SELECT 1 FROM aliases WHERE domain = ? LIMIT 1");
    if (!st) goto out;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_ROW) { res = DIR_NOTEMPTY; goto out; }
    if (rc != SQLITE_DONE) { dir_log(d, "domain remove"); goto out; }
    st = dir_prepare(d, "DELETE FROM domains WHERE name = ?");
    if (!st) goto out;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (dir_step_done(d, st, "domain remove") != SQLITE_DONE) goto out;
    if (sqlite3_changes(d->db) == 0) { res = DIR_NOTFOUND; goto out; }
    if (dir_commit(d) < 0) goto out;
    res = DIR_OK;
out:
    sqlite3_finalize(st);
    dir_rollback(d);
    pthread_mutex_unlock(&d->mu);
    return res;
}

directory_status directory_domain_list(directory *d, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    directory_status res = DIR_ERROR;
    char **v = NULL;
    size_t count = 0, cap = 0;
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = dir_prepare(d, "SELECT name FROM domains ORDER BY name");
    if (!st) goto out;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            v = xrealloc(v, cap * sizeof *v);
        }
        v[count++] = xstrdup((const char *)sqlite3_column_text(st, 0));
    }
    if (rc != SQLITE_DONE) { dir_log(d, "domain list"); goto out; }
    *names = v;
    *n = count;
    v = NULL;
    count = 0;
    res = DIR_OK;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&d->mu);
    for (size_t i = 0; i < count; i++) free(v[i]);
    free(v);
    return res;
}

int directory_domain_exists(directory *d, const char *domain)
{
    char name[DIRECTORY_DOMAIN_MAX + 1];
    if (directory_domain_normalise(domain, name, sizeof name) < 0) return 0;
    pthread_mutex_lock(&d->mu);
    int r = dir_domain_exists_locked(d, name);
    pthread_mutex_unlock(&d->mu);
    return r;
}

/* --- Aliases --------------------------------------------------------------------------- */

static const char dir_alias_cols[] = "address, mailbox_id, seal_public, quota, created";

static void dir_alias_row(sqlite3_stmt *st, directory_alias *a)
{
    memset(a, 0, sizeof *a);
    dir_text(st, 0, a->address, sizeof a->address);
    dir_text(st, 1, a->mailbox_id, sizeof a->mailbox_id);
    const void *pk = sqlite3_column_blob(st, 2);
    if (pk && sqlite3_column_bytes(st, 2) == DIRECTORY_SEAL_PUBLIC_LEN)
        memcpy(a->seal_public, pk, DIRECTORY_SEAL_PUBLIC_LEN);
    sqlite3_int64 q = sqlite3_column_int64(st, 3);
    a->quota = q > 0 ? (uint64_t)q : 0;
    a->created = sqlite3_column_int64(st, 4);
}

static int dir_insert_slot(directory *d, const char *address, const unsigned char *blob, size_t len,
                           int64_t *id)
{
    sqlite3_stmt *st = dir_prepare(d, "INSERT INTO keyslots(address, blob, created) VALUES (?, ?, ?)");
    if (!st) return -1;
    sqlite3_bind_text(st, 1, address, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, blob, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
    int rc = dir_step_done(d, st, "keyslot add");
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        if ((rc & 0xff) == SQLITE_CONSTRAINT) dir_log(d, "keyslot add");
        return -1;
    }
    if (id) *id = sqlite3_last_insert_rowid(d->db);
    return 0;
}

directory_status directory_alias_add(directory *d, const directory_alias *a,
                                     const unsigned char *slot, size_t slotlen, int64_t *slot_id)
{
    char addr[ADDRESS_MAX_LEN + 1];
    if (!a || directory_address_normalise(a->address, addr, sizeof addr) < 0 ||
        !dir_mailbox_id_ok(a->mailbox_id) || (slot && (slotlen == 0 || slotlen > DIRECTORY_KEYSLOT_MAX)) ||
        a->quota > (uint64_t)INT64_MAX)
        return DIR_INVALID;
    const char *domain = strchr(addr, '@') + 1;
    directory_status res = DIR_ERROR;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&d->mu);
    if (dir_begin(d) < 0) goto out;
    int exists = dir_domain_exists_locked(d, domain);
    if (exists < 0) goto out;
    if (!exists) { res = DIR_NOTFOUND; goto out; }
    st = dir_prepare(d, "INSERT INTO aliases(address, domain, mailbox_id, seal_public, quota, created) "
                        "VALUES (?, ?, ?, ?, ?, ?)");
    if (!st) goto out;
    sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, domain, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->mailbox_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, a->seal_public, DIRECTORY_SEAL_PUBLIC_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)a->quota);
    sqlite3_bind_int64(st, 6, a->created ? (sqlite3_int64)a->created : (sqlite3_int64)time(NULL));
    int rc = dir_step_done(d, st, "alias add");
    if ((rc & 0xff) == SQLITE_CONSTRAINT) { res = DIR_EXISTS; goto out; }
    if (rc != SQLITE_DONE) goto out;
    if (slot && dir_insert_slot(d, addr, slot, slotlen, slot_id) < 0) goto out;
    if (dir_commit(d) < 0) goto out;
    res = DIR_OK;
out:
    sqlite3_finalize(st);
    dir_rollback(d);
    pthread_mutex_unlock(&d->mu);
    return res;
}

directory_status directory_alias_lookup(directory *d, const char *address, directory_alias *out)
{
    char addr[ADDRESS_MAX_LEN + 1];
    memset(out, 0, sizeof *out);
    if (directory_address_normalise(address, addr, sizeof addr) < 0) return DIR_INVALID;
    directory_status res = DIR_ERROR;
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT %s FROM aliases WHERE address = ?", dir_alias_cols);
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = dir_prepare(d, sql);
    if (st) {
        sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) { dir_alias_row(st, out); res = DIR_OK; }
        else if (rc == SQLITE_DONE) res = DIR_NOTFOUND;
        else dir_log(d, "alias lookup");
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&d->mu);
    return res;
}

directory_status directory_alias_list(directory *d, const char *domain, directory_alias **out, size_t *n)
{
    char name[DIRECTORY_DOMAIN_MAX + 1];
    *out = NULL;
    *n = 0;
    if (domain && directory_domain_normalise(domain, name, sizeof name) < 0) return DIR_INVALID;
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT %s FROM aliases %s ORDER BY address", dir_alias_cols,
             domain ? "WHERE domain = ?" : "");
    directory_status res = DIR_ERROR;
    directory_alias *v = NULL;
    size_t count = 0, cap = 0;
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = dir_prepare(d, sql);
    if (!st) goto out;
    if (domain) sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            v = xrealloc(v, cap * sizeof *v);
        }
        dir_alias_row(st, &v[count++]);
    }
    if (rc != SQLITE_DONE) { dir_log(d, "alias list"); goto out; }
    *out = v;
    *n = count;
    v = NULL;
    res = DIR_OK;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&d->mu);
    free(v);
    return res;
}

directory_status directory_alias_remove(directory *d, const char *address)
{
    char addr[ADDRESS_MAX_LEN + 1];
    if (directory_address_normalise(address, addr, sizeof addr) < 0) return DIR_INVALID;
    directory_status res = DIR_ERROR;
    pthread_mutex_lock(&d->mu);
    /* The key slots go with it (ON DELETE CASCADE), in the same statement. */
    sqlite3_stmt *st = dir_prepare(d, "DELETE FROM aliases WHERE address = ?");
    if (st) {
        sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
        if (dir_step_done(d, st, "alias remove") == SQLITE_DONE)
            res = sqlite3_changes(d->db) > 0 ? DIR_OK : DIR_NOTFOUND;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&d->mu);
    return res;
}

/* --- Key slots ---------------------------------------------------------------------------- */

/* 1 when the alias exists, 0 not, -1 error; *nslots gets its slot count. */
static int dir_alias_slots_locked(directory *d, const char *addr, int *nslots)
{
    sqlite3_stmt *st = dir_prepare(d, "SELECT (SELECT count(*) FROM keyslots WHERE address = a.address) "
                                      "FROM aliases a WHERE a.address = ?");
    if (!st) return -1;
    sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (r == 1) *nslots = sqlite3_column_int(st, 0);
    if (r < 0) dir_log(d, "keyslot count");
    sqlite3_finalize(st);
    return r;
}

directory_status directory_keyslot_add(directory *d, const char *address,
                                       const unsigned char *blob, size_t len, int64_t *id)
{
    char addr[ADDRESS_MAX_LEN + 1];
    if (directory_address_normalise(address, addr, sizeof addr) < 0 || !blob || len == 0 ||
        len > DIRECTORY_KEYSLOT_MAX)
        return DIR_INVALID;
    directory_status res = DIR_ERROR;
    pthread_mutex_lock(&d->mu);
    if (dir_begin(d) < 0) goto out;
    int nslots = 0;
    int exists = dir_alias_slots_locked(d, addr, &nslots);
    if (exists < 0) goto out;
    if (!exists) { res = DIR_NOTFOUND; goto out; }
    if (nslots >= KEYSLOTS_PER_ADDRESS_MAX) { res = DIR_LIMIT; goto out; }
    if (dir_insert_slot(d, addr, blob, len, id) < 0 || dir_commit(d) < 0) goto out;
    res = DIR_OK;
out:
    dir_rollback(d);
    pthread_mutex_unlock(&d->mu);
    return res;
}

void directory_keyslots_free(directory_keyslot *s, size_t n)
{
    if (!s) return;
    for (size_t i = 0; i < n; i++) {
        if (s[i].blob) sodium_memzero(s[i].blob, s[i].len);
        free(s[i].blob);
    }
    free(s);
}

directory_status directory_keyslot_list(directory *d, const char *address,
                                        directory_keyslot **out, size_t *n)
{
    char addr[ADDRESS_MAX_LEN + 1];
    *out = NULL;
    *n = 0;
    if (directory_address_normalise(address, addr, sizeof addr) < 0) return DIR_INVALID;
    directory_status res = DIR_ERROR;
    directory_keyslot *v = NULL;
    size_t count = 0, cap = 0;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&d->mu);
    /* One read transaction, so "alias exists" and its slots agree. */
    if (dir_exec(d, "BEGIN", "begin") < 0) goto out;
    int nslots;
    int exists = dir_alias_slots_locked(d, addr, &nslots);
    if (exists < 0) goto out;
    if (!exists) { res = DIR_NOTFOUND; goto out; }
    st = dir_prepare(d, "SELECT id, blob, created FROM keyslots WHERE address = ? ORDER BY id");
    if (!st) goto out;
    sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            cap = cap ? cap * 2 : 4;
            v = xrealloc(v, cap * sizeof *v);
        }
        directory_keyslot *s = &v[count++];
        s->id = sqlite3_column_int64(st, 0);
        s->len = (size_t)sqlite3_column_bytes(st, 1);
        s->blob = xmemdup(sqlite3_column_blob(st, 1), s->len ? s->len : 1);
        s->created = sqlite3_column_int64(st, 2);
    }
    if (rc != SQLITE_DONE) { dir_log(d, "keyslot list"); goto out; }
    *out = v;
    *n = count;
    v = NULL;
    count = 0;
    res = DIR_OK;
out:
    sqlite3_finalize(st);
    dir_rollback(d);
    pthread_mutex_unlock(&d->mu);
    directory_keyslots_free(v, count);
    return res;
}

static int dir_delete_slot(directory *d, const char *addr, int64_t id)
{
    sqlite3_stmt *st = dir_prepare(d, "DELETE FROM keyslots WHERE id = ? AND address = ?");
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, addr, -1, SQLITE_STATIC);
    int rc = dir_step_done(d, st, "keyslot remove");
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return -1;
    return sqlite3_changes(d->db) > 0 ? 1 : 0;
}

directory_status directory_keyslot_remove(directory *d, const char *address, int64_t id)
{
    char addr[ADDRESS_MAX_LEN + 1];
    if (directory_address_normalise(address, addr, sizeof addr) < 0) return DIR_INVALID;
    pthread_mutex_lock(&d->mu);
    int r = dir_delete_slot(d, addr, id);
    pthread_mutex_unlock(&d->mu);
    return r < 0 ? DIR_ERROR : r == 0 ? DIR_NOTFOUND : DIR_OK;
}

directory_status directory_keyslot_replace(directory *d, const char *address, int64_t old_id,
                                           const unsigned char *blob, size_t len, int64_t *new_id)
{
    char addr[ADDRESS_MAX_LEN + 1];
    if (directory_address_normalise(address, addr, sizeof addr) < 0 || !blob || len == 0 ||
        len > DIRECTORY_KEYSLOT_MAX)
        return DIR_INVALID;
    directory_status res = DIR_ERROR;
    pthread_mutex_lock(&d->mu);
    if (dir_begin(d) < 0) goto out;
    int r = dir_delete_slot(d, addr, old_id);
    if (r < 0) goto out;
    if (r == 0) { res = DIR_NOTFOUND; goto out; }
    if (dir_insert_slot(d, addr, blob, len, new_id) < 0 || dir_commit(d) < 0) goto out;
    res = DIR_OK;
out:
    dir_rollback(d);
    pthread_mutex_unlock(&d->mu);
    return res;
}

/* --- Per-address actions -------------------------------------------------------------- */

static void dir_actions_defaults(directory_alias_actions *a)
{
    memset(a, 0, sizeof *a);
    a->store = 1;
}

/* 1 row read, 0 no row (defaults), -1 error. The caller holds d->mu. */
static int dir_actions_read_locked(directory *d, const char *addr, directory_alias_actions *out)
{
    dir_actions_defaults(out);
    sqlite3_stmt *st = dir_prepare(d, "SELECT store, forward, webhook FROM alias_actions WHERE address = ?");
    if (!st) return -1;
    sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (r == 1) {
        out->store = sqlite3_column_int(st, 0) != 0;
        dir_text(st, 1, out->forward, sizeof out->forward);
        dir_text(st, 2, out->webhook, sizeof out->webhook);
    }
    if (r < 0) dir_log(d, "actions read");
    sqlite3_finalize(st);
    return r;
}

directory_status directory_alias_actions_get(directory *d, const char *address,
                                             directory_alias_actions *out)
{
    char addr[ADDRESS_MAX_LEN + 1];
    dir_actions_defaults(out);
    if (directory_address_normalise(address, addr, sizeof addr) < 0) return DIR_INVALID;
    directory_status res = DIR_ERROR;
    int nslots;
    pthread_mutex_lock(&d->mu);
    if (dir_exec(d, "BEGIN", "begin") < 0) goto out;
    int exists = dir_alias_slots_locked(d, addr, &nslots);
    if (exists < 0) goto out;
    if (!exists) { res = DIR_NOTFOUND; goto out; }
    if (dir_actions_read_locked(d, addr, out) < 0) goto out;
    res = DIR_OK;
out:
    dir_rollback(d);
    pthread_mutex_unlock(&d->mu);
    return res;
}

directory_status directory_alias_actions_set(directory *d, const char *address,
                                             const directory_alias_actions *a, unsigned which)
{
    char addr[ADDRESS_MAX_LEN + 1];
    if (!a || directory_address_normalise(address, addr, sizeof addr) < 0) return DIR_INVALID;
    directory_alias_actions *cur = xmalloc(sizeof *cur);
    char *fwd = xmalloc(FORWARD_LIST_MAX + 1);
    directory_status res = DIR_INVALID;
    sqlite3_stmt *st = NULL;
    int nslots;
    if ((which & DIRECTORY_ACTION_FORWARD) &&
        directory_forward_list_normalise(a->forward, fwd, FORWARD_LIST_MAX + 1) < 0)
        goto done;
    if ((which & DIRECTORY_ACTION_WEBHOOK) && a->webhook[0] && !directory_webhook_url_ok(a->webhook))
        goto done;
    res = DIR_ERROR;
    pthread_mutex_lock(&d->mu);
    if (dir_begin(d) < 0) goto out;
    int exists = dir_alias_slots_locked(d, addr, &nslots);
    if (exists < 0) goto out;
    if (!exists) { res = DIR_NOTFOUND; goto out; }
    if (dir_actions_read_locked(d, addr, cur) < 0) goto out;
    if (which & DIRECTORY_ACTION_STORE) cur->store = a->store != 0;
    if (which & DIRECTORY_ACTION_FORWARD) snprintf(cur->forward, sizeof cur->forward, "%s", fwd);
    if (which & DIRECTORY_ACTION_WEBHOOK) snprintf(cur->webhook, sizeof cur->webhook, "%s", a->webhook);
    st = dir_prepare(d, "INSERT OR REPLACE INTO alias_actions(address, store, forward, webhook) "
                        "VALUES (?, ?, ?, ?)");
    if (!st) goto out;
    sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, cur->store);
    sqlite3_bind_text(st, 3, cur->forward, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, cur->webhook, -1, SQLITE_STATIC);
    if (dir_step_done(d, st, "actions set") != SQLITE_DONE || dir_commit(d) < 0) goto out;
    res = DIR_OK;
out:
    sqlite3_finalize(st);
    dir_rollback(d);
    pthread_mutex_unlock(&d->mu);
done:
    free(cur);
    free(fwd);
    return res;
}

/* --- Quotas ------------------------------------------------------------------------------ */

directory_status directory_alias_quota_set(directory *d, const char *address, uint64_t quota)
{
    char addr[ADDRESS_MAX_LEN + 1];
    if (directory_address_normalise(address, addr, sizeof addr) < 0 || quota > (uint64_t)INT64_MAX)
        return DIR_INVALID;
    directory_status res = DIR_ERROR;
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = dir_prepare(d, "UPDATE aliases SET quota = ? WHERE address = ?");
    if (st) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)quota);
        sqlite3_bind_text(st, 2, addr, -1, SQLITE_STATIC);
        /* One statement in autocommit mode: its own durable transaction. */
        if (dir_step_done(d, st, "quota set") == SQLITE_DONE)
            res = sqlite3_changes(d->db) == 1 ? DIR_OK : DIR_NOTFOUND;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&d->mu);
    return res;
}
