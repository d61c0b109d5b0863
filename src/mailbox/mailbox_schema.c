/*
 * mailbox_schema.c — schema migrations of a mailbox file (see mailbox_schema.h).
 *
 * Migrations only ever move forward. Each is one SQL script run inside its own
 * transaction together with the version bump, so a crash leaves the file at the
 * old version or the new one, never between. Add migration N+1 by appending to
 * `migrations` and raising MAILBOX_SCHEMA_VERSION; never edit a released one.
 */
#include <stddef.h>

#include <sqlite3.h>

#include "util/log.h"
#include "mailbox/mailbox_schema.h"

static const char *const migrations[MAILBOX_SCHEMA_VERSION] = {
    /* 1: the initial schema. */
    "CREATE TABLE meta("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  value) WITHOUT ROWID;"
    "CREATE TABLE folders("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE,"
    "  special_use INTEGER NOT NULL DEFAULT 0,"
    "  uidvalidity INTEGER NOT NULL,"
    "  uidnext INTEGER NOT NULL DEFAULT 1,"
    "  highestmodseq INTEGER NOT NULL,"
    "  recent_uid INTEGER NOT NULL DEFAULT 1);"
    "CREATE TABLE bodies("
    "  id INTEGER PRIMARY KEY,"
    "  refcount INTEGER NOT NULL DEFAULT 0,"
    "  size INTEGER NOT NULL,"
    "  data BLOB NOT NULL);"
    "CREATE TABLE messages("
    "  id INTEGER PRIMARY KEY,"
    "  folder_id INTEGER NOT NULL REFERENCES folders(id),"
    "  uid INTEGER NOT NULL,"
    "  modseq INTEGER NOT NULL,"
    "  flags INTEGER NOT NULL DEFAULT 0,"
    "  keywords INTEGER NOT NULL DEFAULT 0,"
    "  internaldate INTEGER NOT NULL,"
    "  internaldate_tz INTEGER NOT NULL DEFAULT 0,"
    "  sentdate INTEGER,"
    "  sentdate_tz INTEGER NOT NULL DEFAULT 0,"
    "  size INTEGER NOT NULL,"
    "  envelope TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  bodystructure TEXT NOT NULL,"
    "  sections BLOB NOT NULL,"
    "  body_id INTEGER NOT NULL REFERENCES bodies(id),"
    "  hdr_from TEXT, hdr_to TEXT, hdr_cc TEXT, hdr_subject TEXT);"
    "CREATE UNIQUE INDEX messages_uid ON messages(folder_id, uid);"
    "CREATE INDEX messages_modseq ON messages(folder_id, modseq);"
    "CREATE INDEX messages_body ON messages(body_id);"
    "CREATE INDEX messages_internaldate ON messages(folder_id, internaldate);"
    "CREATE INDEX messages_sentdate ON messages(folder_id, sentdate);"
    "CREATE INDEX messages_size ON messages(folder_id, size);"
    "CREATE TABLE expunged("
    "  folder_id INTEGER NOT NULL REFERENCES folders(id),"
    "  uid INTEGER NOT NULL,"
    "  modseq INTEGER NOT NULL,"
    "  PRIMARY KEY(folder_id, uid)) WITHOUT ROWID;"
    "CREATE INDEX expunged_modseq ON expunged(folder_id, modseq);"
    "CREATE TABLE keywords("
    "  bit INTEGER PRIMARY KEY CHECK (bit >= 0 AND bit < 64),"
    "  name TEXT NOT NULL UNIQUE COLLATE NOCASE);"
    "CREATE TABLE subscriptions("
    "  name TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;"
    /* Reference counts that no code path can forget. */
    "CREATE TRIGGER messages_body_ref AFTER INSERT ON messages BEGIN"
    "  UPDATE bodies SET refcount = refcount + 1 WHERE id = NEW.body_id;"
    "END;"
    "CREATE TRIGGER messages_body_unref AFTER DELETE ON messages BEGIN"
    "  UPDATE bodies SET refcount = refcount - 1 WHERE id = OLD.body_id;"
    "  DELETE FROM bodies WHERE id = OLD.body_id AND refcount <= 0;"
    "END;",
    /* 2: origins of messages delivered from the sealed spool (store_append_once). */
    "CREATE TABLE imported("
    "  origin TEXT PRIMARY KEY NOT NULL,"
    "  at INTEGER NOT NULL) WITHOUT ROWID;",
    /* 3: search and sort indexes (store/store_index.h). Both are keyed by the
     * body, which copies share, and go with it through one trigger. Their rows
     * for bodies of older files are filled by the store at open (C code: the
     * text must be parsed), tracked by meta 'index_version'. The covering index
     * lets SEARCH and SORT read message facts without the wide message rows. */
    "CREATE TABLE body_sort("
    "  body_id INTEGER PRIMARY KEY,"
    "  subject TEXT NOT NULL, from_mbox TEXT NOT NULL, to_mbox TEXT NOT NULL,"
    "  cc_mbox TEXT NOT NULL, from_display TEXT NOT NULL, to_display TEXT NOT NULL,"
    "  message_id TEXT NOT NULL, in_reply_to TEXT NOT NULL, refs TEXT NOT NULL);"
    /* pgsz 4000: the cipher reserves 32 bytes of every 4096-byte page, and the
     * default leaf size would spill onto overflow pages (DESIGN.md). The text is
     * folded before indexing, hence case_sensitive 1. */
    "CREATE VIRTUAL TABLE body_fts USING fts5(hdr, body, f_from, f_to, f_cc, f_bcc, f_subject,"
    "  content='', contentless_delete=1,"
    "  tokenize='trigram case_sensitive 1');"
    "INSERT INTO body_fts(body_fts, rank) VALUES ('pgsz', 4000);"
    "CREATE TRIGGER bodies_index_unref AFTER DELETE ON bodies BEGIN"
    "  DELETE FROM body_sort WHERE body_id = OLD.id;"
    "  DELETE FROM body_fts WHERE rowid = OLD.id;"
    "END;"
    "CREATE INDEX messages_facts ON messages(folder_id, uid, flags, keywords, internaldate,"
    "  internaldate_tz, sentdate, sentdate_tz, size, body_id);"
    "INSERT OR REPLACE INTO meta(key, value) VALUES ('index_version', 0);",
    /* 4: header and body text in separate FTS5 tables. A trigram's doclist
     * covers every column of its table, so with one table a SUBJECT or FROM
     * search read the lists of the whole text (FROM an address: 200 ms at
     * 100,000 messages, most of it the lists of "mai", "ail", ".te"...).
     * Filled again at the next open (index_version 0). */
    "DROP TRIGGER bodies_index_unref;"
    "DROP TABLE body_fts;"
    "CREATE VIRTUAL TABLE head_fts USING fts5(hdr, f_from, f_to, f_cc, f_bcc, f_subject,"
    "  content='', contentless_delete=1,"
    "  tokenize='trigram case_sensitive 1');"
    "INSERT INTO head_fts(head_fts, rank) VALUES ('pgsz', 4000);"
    "CREATE VIRTUAL TABLE body_fts USING fts5(body,"
    "  content='', contentless_delete=1,"
    "  tokenize='trigram case_sensitive 1');"
    "INSERT INTO body_fts(body_fts, rank) VALUES ('pgsz', 4000);"
    "CREATE TRIGGER bodies_index_unref AFTER DELETE ON bodies BEGIN"
    "  DELETE FROM body_sort WHERE body_id = OLD.id;"
    "  DELETE FROM head_fts WHERE rowid = OLD.id;"
    "  DELETE FROM body_fts WHERE rowid = OLD.id;"
    "END;"
    /* modseq joins the covering index: SELECT reads uid, flags, keywords and
     * modseq of every message, which took the wide rows before (0.6 s for
     * 100,000 messages, decrypting every page of them). */
    "DROP INDEX messages_facts;"
    "CREATE INDEX messages_facts ON messages(folder_id, uid, flags, keywords, modseq, internaldate,"
    "  internaldate_tz, sentdate, sentdate_tz, size, body_id);"
    "INSERT OR REPLACE INTO meta(key, value) VALUES ('index_version', 0);",
};

static int schema_version(sqlite3 *db, const char *id, int *version)
{
    sqlite3_stmt *st = NULL;
    *version = 0;
    int rc = sqlite3_prepare_v2(db,
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
        -1, &st, NULL);
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) goto fail;
    int exists = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (!exists) return 0;
    rc = sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_version", -1, &st, NULL);
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) goto fail;
    *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return 0;
fail:
    log_error("store", "mailbox %s: reading schema version: %s", id, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return -1;
}

static int exec_logged(sqlite3 *db, const char *id, const char *sql, const char *what)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK) return 0;
    log_error("store", "mailbox %s: %s: %s", id, what, sqlite3_errmsg(db));
    return -1;
}

int mailbox_schema_migrate(sqlite3 *db, const char *mailbox_id)
{
    int version;
    if (schema_version(db, mailbox_id, &version) < 0) return -1;
    if (version > MAILBOX_SCHEMA_VERSION) {
        log_error("store", "mailbox %s: schema version %d is newer than this build (%d)",
                  mailbox_id, version, MAILBOX_SCHEMA_VERSION);
        return -1;
    }
    while (version < MAILBOX_SCHEMA_VERSION) {
        if (exec_logged(db, mailbox_id, "BEGIN IMMEDIATE", "migration begin") < 0) return -1;
        /* Someone else may have migrated while we waited for the lock. */
        int now;
        if (schema_version(db, mailbox_id, &now) < 0) goto fail;
        if (now != version) {
            if (exec_logged(db, mailbox_id, "COMMIT", "migration commit") < 0) goto fail;
            version = now;
            if (version > MAILBOX_SCHEMA_VERSION) return -1;
            continue;
        }
        if (version == 0 &&
            exec_logged(db, mailbox_id, "CREATE TABLE schema_version(version INTEGER NOT NULL)",
                        "migration 0") < 0)
            goto fail;
        if (exec_logged(db, mailbox_id, migrations[version], "migration") < 0) goto fail;
        char sql[96];
        sqlite3_snprintf(sizeof sql, sql, "DELETE FROM schema_version;"
                         "INSERT INTO schema_version(version) VALUES (%d)", version + 1);
        if (exec_logged(db, mailbox_id, sql, "migration version") < 0) goto fail;
        if (exec_logged(db, mailbox_id, "COMMIT", "migration commit") < 0) goto fail;
        log_debug("store", "mailbox %s: schema migrated to version %d", mailbox_id, version + 1);
        version++;
    }
    return 0;
fail:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}
