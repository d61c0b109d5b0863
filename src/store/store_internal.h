/*
 * store_internal.h — what the files of the local store share (not for callers of
 * store.h): the handle, the folder row, and the SQLite helpers of store_db.c.
 *
 * Every helper that can fail logs "mailbox <id>: <step>: <sqlite message>" and
 * returns -1 (or NULL); callers only decide the store_status. None of them logs a
 * folder name, keyword, address or message content.
 */
#ifndef SEALBOX_STORE_INTERNAL_H
#define SEALBOX_STORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "util/buf.h"
#include "store/store.h"

/* Statements of the per-message and per-command paths, prepared once per open
 * file and kept (parsing their SQL again was a third of a FETCH of headers,
 * ~8 us a message): store_db_kept gives one ready to bind, store_db_release
 * resets it for the next use. Their SQL is in store_db.c. */
typedef enum store_kept {
    STORE_KEPT_BEGIN,
    STORE_KEPT_BEGIN_WRITE,
    STORE_KEPT_COMMIT,
    STORE_KEPT_FOLDER_BY_ID,
    STORE_KEPT_FETCH,
    STORE_KEPT_BODY,
    STORE_KEPT_COUNT
} store_kept;

struct store_mailbox {
    sqlite3 *db;
    sqlite3_stmt *kept[STORE_KEPT_COUNT];   /* NULL until first used */
    char id[STORE_MAILBOX_ID_LEN + 1];
    int in_tx;
    /* Set by store_append_batch (store_batch.c) while it holds one write
     * transaction for many appends: store_tx_begin/commit then join that
     * transaction instead of opening their own, so the batch commits (and
     * fsyncs) once; store_tx_rollback sets batch_failed, and the batch is
     * rolled back and redone one append at a time. */
    int batch;
    int batch_failed;
    /* Made at the first body read, freed at close (~100 KiB): sessions that
     * never read a body (waiting, listing) hold none. */
    struct mailbox_body_reader *reader;
};

typedef struct store_folder_row {
    int64_t id;
    unsigned special_use;
    uint32_t uidvalidity, uidnext, recent_uid;
    uint64_t highestmodseq;
} store_folder_row;

#define STORE_FOLDER_COLS "id, special_use, uidvalidity, uidnext, highestmodseq, recent_uid"

void store_db_fail(store_mailbox *m, const char *what);
sqlite3_stmt *store_db_prepare(store_mailbox *m, const char *sql);
int store_db_exec(store_mailbox *m, const char *sql, const char *what);
int store_db_done(store_mailbox *m, sqlite3_stmt *st, const char *what);
sqlite3_stmt *store_db_kept(store_mailbox *m, store_kept which);
void store_db_release(sqlite3_stmt *st);
void store_db_kept_finalize(store_mailbox *m);      /* before the connection closes */

int store_tx_begin(store_mailbox *m, int write);
int store_tx_commit(store_mailbox *m);
void store_tx_rollback(store_mailbox *m);
/* Ends a write transaction in which nothing was written (a refusal found by
 * reading): inside a batch, the batch goes on; otherwise a ROLLBACK. */
void store_tx_abandon(store_mailbox *m);

/* The one append path (store_local.c): store_append, store_append_once (with
 * `origin`) and every message of store_append_batch. */
store_status store_append_message(store_mailbox *m, const char *name, uint32_t flags,
                                  const char *const *keywords, size_t nkeywords,
                                  int64_t internaldate, int internaldate_tz,
                                  const char *msg, size_t len, const char *origin,
                                  uint32_t *uidvalidity_out, uint32_t *uid_out);

char *store_col_strdup(sqlite3_stmt *st, int col);
int64_t store_meta_int(store_mailbox *m, const char *key, int *ok);
int store_meta_set_int(store_mailbox *m, const char *key, int64_t v);
int store_next_modseq(store_mailbox *m, uint64_t *out);
void store_notify(store_mailbox *m);

void store_folder_row_read(sqlite3_stmt *st, int base, store_folder_row *f);
int store_folder_by_name(store_mailbox *m, const char *name, store_folder_row *f);
int store_folder_by_id(store_mailbox *m, int64_t id, store_folder_row *f);

int store_keywords_load(store_mailbox *m, char ***names, size_t *n);
void store_names_free(char **v, size_t n);
int store_body_load(store_mailbox *m, int64_t body_id, size_t size, buf *out);

#endif
