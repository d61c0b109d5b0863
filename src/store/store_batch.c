/*
 * store_batch.c — group commit: many appends to one mailbox file in one write
 * transaction, one durable COMMIT (store.h, store_append_batch).
 *
 * SUMMARY
 *   store_append_batch(m, folder, msgs, n)
 *
 *   SMTP delivery (delivery/delivery_group.c) gathers the messages that
 *   concurrent sessions deliver to one mailbox while another batch commits,
 *   and hands them here; `sealbox import` hands its messages over in batches
 *   (transfer/transfer.c). Every COMMIT with synchronous=FULL costs an fsync of
 *   the WAL (milliseconds on a real disk), so N messages in one transaction
 *   cost one fsync instead of N.
 *
 * HOW
 *   BEGIN IMMEDIATE, then the one append path (store_append_message) for each
 *   message with m->batch set: store_tx_begin/commit (store_db.c) then join this one
 *   transaction instead of opening their own. So the append path itself
 *   (store_local.c: parsing, body, message row, search index) is the one
 *   every APPEND runs. Then COMMIT once, and notify the watchers.
 *
 *   A message that fails after it began writing (store_tx_rollback inside the
 *   batch sets m->batch_failed) cannot be undone alone: the whole transaction
 *   is rolled back and every message appended again on its own, each in its
 *   own transaction, so the others still get in. A message refused before it
 *   wrote anything (too big, bad folder name, an origin already imported:
 *   store_tx_abandon) just gets its status. Failures
 *   are rare, so the common case pays one COMMIT. (Per-message SAVEPOINTs
 *   were tried first: the FTS5 index flushes its pending terms at every
 *   savepoint, writing a segment per message and losing most of the gain.)
 *
 * PROMISES
 *   - A message whose status is STORE_OK is durable (its COMMIT returned with
 *     synchronous=FULL) when this returns; none is reported OK before.
 *   - One message's failure never fails another's.
 *   - When SQLite rolls back the whole transaction by itself (an I/O error,
 *     a full disk: sqlite3_get_autocommit() turns on mid-batch), a message
 *     fails in it, or the COMMIT fails, nothing of the batch is durable and
 *     each message is appended alone and gets that result. No message is in
 *     the file twice: the rolled-back transaction left nothing.
 *   - The handle no longer checkpoints when it is closed (see the code): the
 *     WAL stays, bounded by SQLite's auto-checkpoint; nothing is less durable.
 *   - Watchers (IMAP IDLE) are notified after the COMMIT. The inner appends
 *     also notify at their own "commit", before the real one: a watcher
 *     woken early finds nothing new yet and is woken again by ours.
 *
 * DIAGNOSTICS
 *   STORE_INVALID when `m` is already in a transaction; STORE_ERROR (logged)
 *   when the write transaction cannot begin (every status then STORE_ERROR).
 *   Otherwise STORE_OK and a status per message.
 */
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "util/log.h"
#include "store/store.h"
#include "store/store_internal.h"

static store_status batch_append(store_mailbox *m, const char *name, store_batch_msg *bm)
{
    return store_append_message(m, name, bm->flags, bm->keywords, bm->nkeywords, bm->internaldate, 0,
                                bm->msg, bm->len, bm->origin, NULL, &bm->uid);
}

static void batch_one_by_one(store_mailbox *m, const char *name, store_batch_msg *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        msgs[i].status = batch_append(m, name, &msgs[i]);
}

store_status store_append_batch(store_mailbox *m, const char *name, store_batch_msg *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        msgs[i].status = STORE_ERROR;
        msgs[i].uid = 0;
    }
    if (n == 0) return STORE_OK;
    /* Delivery opens a mailbox for one batch and closes it again; when
     * nobody else has the file open (its sessions IDLE without a connection),
     * that close would checkpoint the WAL into the file and delete it: more
     * writes and fsyncs than the batch itself. Leave the WAL to the
     * auto-checkpoint of later commits (every 1000 pages) and the sessions. */
    sqlite3_db_config(m->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    if (m->in_tx || m->batch) {
        for (size_t i = 0; i < n; i++) msgs[i].status = STORE_INVALID;
        return STORE_INVALID;
    }
    if (n == 1) {
        /* Nothing to share: the plain path, one transaction. */
        batch_one_by_one(m, name, msgs, n);
        return STORE_OK;
    }
    if (store_db_exec(m, "BEGIN IMMEDIATE", "batch begin") < 0) return STORE_ERROR;
    m->batch = 1;
    m->batch_failed = 0;
    int lost = 0;
    for (size_t i = 0; i < n && !lost && !m->batch_failed; i++) {
        msgs[i].status = batch_append(m, name, &msgs[i]);
        /* SQLite rolled the whole transaction back by itself. */
        lost = sqlite3_get_autocommit(m->db) != 0;
    }
    int failed = lost || m->batch_failed;
    m->batch = 0;
    m->batch_failed = 0;
    m->in_tx = 0;
    if (!failed) {
        if (store_db_exec(m, "COMMIT", "batch commit") == 0) {
            store_notify(m);
            return STORE_OK;
        }
        log_warn("store", "mailbox %s: the COMMIT of a batch of %zu appends failed", m->id, n);
    }
    if (sqlite3_get_autocommit(m->db) == 0) sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        msgs[i].status = STORE_ERROR;
        msgs[i].uid = 0;
    }
    batch_one_by_one(m, name, msgs, n);
    return STORE_OK;
}
