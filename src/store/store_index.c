/*
 * store_index.c — writing the sort and full-text indexes (store_index.h) at
 * ingest, rebuilding them (store_reindex, `sealbox doctor`), and completing
 * them for files made by older builds (store_index_open_check).
 *
 * PROMISES
 *   - An index entry is written in the transaction that writes its body;
 *     removal is the schema's trigger. So a committed message is always
 *     indexed, and a crash can only lose both or neither.
 *   - store_reindex rebuilds everything in one write transaction: a reader
 *     sees the old index or the new one.
 *   - Nothing here logs content: failures name the mailbox id and the step.
 *
 * COST
 *   Indexing a message is one MIME walk (the parse is APPEND's anyway) and one
 *   fold of its text; the FTS5 trigram index is about 3x the text (DESIGN.md).
 *   A rebuild decompresses and parses every body: minutes for 100,000 messages.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/log.h"
#include "mime/mime.h"
#include "search/search_eval.h"
#include "search/search_text.h"
#include "store/store.h"
#include "store/store_index.h"
#include "store/store_internal.h"

store_index_entry *store_index_prepare(const char *raw, size_t len, const mime_part *root,
                                       const char *envelope, size_t envelope_len)
{
    store_index_entry *e = xcalloc(1, sizeof *e);
    store_sortcols_compute(raw, len, root, envelope, envelope_len, &e->sort);
    buf t = BUF_INIT;
    if (root->hdr_off <= len && root->hdr_len <= len - root->hdr_off)
        search_text_header(raw + root->hdr_off, root->hdr_len, &t);
    search_fold(buf_cstr(&t), t.len, &e->hdr);
    buf_reset(&t);
    search_text_body(raw, len, root, &t);
    search_fold(buf_cstr(&t), t.len, &e->body);
    buf_free(&t);
    buf fields[SEARCH_TEXT_NFIELDS];
    memset(fields, 0, sizeof fields);       /* BUF_INIT each */
    if (root->hdr_off <= len && root->hdr_len <= len - root->hdr_off)
        search_text_header_fields(raw + root->hdr_off, root->hdr_len, fields);
    for (int i = 0; i < SEARCH_TEXT_NFIELDS; i++) {
        search_fold(buf_cstr(&fields[i]), fields[i].len, &e->fields[i]);
        buf_free(&fields[i]);
    }
    return e;
}

void store_index_entry_free(store_index_entry *e)
{
    if (!e) return;
    store_sortcols_free(&e->sort);
    buf_free(&e->hdr);
    buf_free(&e->body);
    for (int i = 0; i < SEARCH_TEXT_NFIELDS; i++) buf_free(&e->fields[i]);
    free(e);
}

int store_index_insert(store_mailbox *m, int64_t body_id, const store_index_entry *e)
{
    sqlite3_stmt *st = store_db_prepare(m,
        "INSERT OR REPLACE INTO body_sort(body_id, subject, from_mbox, to_mbox, cc_mbox,"
        " from_display, to_display, message_id, in_reply_to, refs)"
        " VALUES (?,?,?,?,?,?,?,?,?,?)");
    if (!st) return -1;
    const char *v[9] = { e->sort.subject, e->sort.from, e->sort.to, e->sort.cc,
                         e->sort.from_display, e->sort.to_display, e->sort.message_id,
                         e->sort.in_reply_to, e->sort.references };
    sqlite3_bind_int64(st, 1, body_id);
    for (int i = 0; i < 9; i++) sqlite3_bind_text(st, 2 + i, v[i] ? v[i] : "", -1, SQLITE_STATIC);
    int r = store_db_done(m, st, "sort index insert");
    sqlite3_finalize(st);
    if (r < 0) return -1;
    st = store_db_prepare(m,
        "INSERT INTO head_fts(rowid, hdr, f_from, f_to, f_cc, f_bcc, f_subject)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, body_id);
    /* Folded text is as long as the message at most twice: it fits an int
     * because APPEND refuses messages over IMAP_APPEND_MAX. */
    sqlite3_bind_text(st, 2, e->hdr.p ? e->hdr.p : "", (int)e->hdr.len, SQLITE_STATIC);
    for (int i = 0; i < SEARCH_TEXT_NFIELDS; i++)
        sqlite3_bind_text(st, 3 + i, e->fields[i].p ? e->fields[i].p : "", (int)e->fields[i].len,
                          SQLITE_STATIC);
    r = store_db_done(m, st, "header text index insert");
    sqlite3_finalize(st);
    if (r < 0) return -1;
    st = store_db_prepare(m, "INSERT INTO body_fts(rowid, body) VALUES (?, ?)");
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, body_id);
    sqlite3_bind_text(st, 2, e->body.p ? e->body.p : "", (int)e->body.len, SQLITE_STATIC);
    r = store_db_done(m, st, "body text index insert");
    sqlite3_finalize(st);
    return r;
}

/* meta 'index_version' (0 when absent); -1 on error. */
static int64_t index_version(store_mailbox *m)
{
    sqlite3_stmt *st = store_db_prepare(m, "SELECT value FROM meta WHERE key = 'index_version'");
    if (!st) return -1;
    int64_t v = -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE) v = 0;
    else store_db_fail(m, "index version");
    sqlite3_finalize(st);
    return v;
}

int store_index_complete(store_mailbox *m)
{
    int64_t v = index_version(m);
    if (v < 0) return -1;
    return v == STORE_INDEX_VERSION;
}

/* Rebuilds both indexes from every body; inside a write transaction. */
static int reindex_all(store_mailbox *m)
{
    int r = -1;
    sqlite3_stmt *list = NULL;
    buf raw = BUF_INIT, env = BUF_INIT;
    if (store_db_exec(m, "DELETE FROM body_sort", "sort index clear") < 0 ||
        store_db_exec(m, "INSERT INTO head_fts(head_fts) VALUES ('delete-all')",
                      "header text index clear") < 0 ||
        store_db_exec(m, "INSERT INTO body_fts(body_fts) VALUES ('delete-all')",
                      "body text index clear") < 0)
        goto done;
    list = store_db_prepare(m, "SELECT id, size FROM bodies ORDER BY id");
    if (!list) goto done;
    int rc;
    while ((rc = sqlite3_step(list)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(list, 0);
        buf_reset(&raw);
        buf_reset(&env);
        if (store_body_load(m, id, (size_t)sqlite3_column_int64(list, 1), &raw) < 0) goto done;
        mime_part *root = mime_parse(buf_cstr(&raw), raw.len);
        mime_envelope(buf_cstr(&raw), root, &env);
        store_index_entry *e = store_index_prepare(buf_cstr(&raw), raw.len, root,
                                                   buf_cstr(&env), env.len);
        mime_free(root);
        int ir = store_index_insert(m, id, e);
        store_index_entry_free(e);
        if (ir < 0) goto done;
    }
    if (rc != SQLITE_DONE) { store_db_fail(m, "reindex list"); goto done; }
    if (store_db_exec(m, "INSERT INTO head_fts(head_fts) VALUES ('optimize')", "text index optimize") < 0 ||
        store_db_exec(m, "INSERT INTO body_fts(body_fts) VALUES ('optimize')", "text index optimize") < 0 ||
        store_meta_set_int(m, "index_version", STORE_INDEX_VERSION) < 0)
        goto done;
    r = 0;
done:
    sqlite3_finalize(list);
    buf_free(&raw);
    buf_free(&env);
    return r;
}

store_status store_reindex(store_mailbox *m)
{
    if (store_tx_begin(m, 1) < 0) return STORE_ERROR;
    if (reindex_all(m) < 0 || store_tx_commit(m) < 0) {
        store_tx_rollback(m);
        return STORE_ERROR;
    }
    log_info("store", "mailbox %s: search and sort indexes rebuilt", m->id);
    return STORE_OK;
}

void store_index_open_check(store_mailbox *m)
{
    int c = store_index_complete(m);
    if (c != 0) return;          /* complete, or an error already logged */
    if (store_tx_begin(m, 1) < 0) return;
    /* Another handle may have finished it while we waited for the lock. */
    c = store_index_complete(m);
    if (c == 0 && reindex_all(m) < 0) c = -1;
    if (c < 0 || store_tx_commit(m) < 0) {
        store_tx_rollback(m);
        log_warn("store", "mailbox %s: index rebuild failed; search scans until it succeeds", m->id);
    }
}
