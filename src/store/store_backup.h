/*
 * store_backup.h — the store calls behind backups and restore (DESIGN.md
 * "Backups"): a consistent encrypted snapshot of a live mailbox file, the
 * check of a snapshot, writing a verified snapshot back into the live file,
 * and the mark by which sessions learn that their file was restored.
 *
 * SUMMARY
 *   store_snapshot(m, path, info)            VACUUM INTO `path`, still encrypted
 *   store_snapshot_verify(path, key, full)   opens it with the key: quick_check
 *                                            or integrity_check
 *   store_restore(datadir, id, key, path)    the verified snapshot becomes the
 *                                            mailbox, in one transaction
 *   store_generation(m, &gen)                changes when a restore replaced the
 *                                            content under an open handle
 *
 * PROMISES
 *   - Never a plaintext byte on disk: VACUUM INTO a plain path gives the target
 *     the source connection's cipher and key (SQLite3MC attaches it with the main
 *     database's codec; a URI with key= would write plaintext, and URIs are off
 *     in this build, SQLITE_USE_URI=0). The unit tests prove it with a canary.
 *   - A snapshot is a consistent state of the file (one read transaction of
 *     WAL): writers go on meanwhile; the write lock is held only for a moment
 *     (see store_snapshot) and info->lock_us says how long.
 *   - store_restore copies pages with the sqlite3_backup API from the snapshot
 *     connection into a connection on the live file, both keyed with the same
 *     data key: pages are decrypted and re-encrypted in memory only, the copy is
 *     one write transaction of the live file (other handles see all of it or
 *     none), and the file keeps its inode, so handles of a running sealboxd stay
 *     valid and read the restored content.
 *
 * DIAGNOSTICS
 *   store_status: STORE_BADKEY when the key does not open the snapshot,
 *   STORE_ERROR (logged by mailbox id) for a damaged snapshot or an I/O failure,
 *   STORE_NOTFOUND for a missing file.
 */
#ifndef SEALBOX_STORE_BACKUP_H
#define SEALBOX_STORE_BACKUP_H

#include <stdint.h>

#include "util/buf.h"
#include "store/store.h"

typedef struct store_snapshot_info {
    uint64_t size;           /* octets of the snapshot file */
    uint64_t lock_wait_us;   /* waiting for a writer in flight to commit */
    uint64_t lock_us;        /* how long the write lock was held */
    uint64_t total_us;       /* the whole snapshot, VACUUM INTO included */
} store_snapshot_info;

/* Writes a snapshot of the mailbox to `path`, which must not exist (it is created
 * mode 0600, O_EXCL) and should live on the data directory's file system. Takes
 * the write lock (BEGIN IMMEDIATE) to wait for a writer in flight, releases it,
 * checkpoints passively and runs VACUUM INTO (a read transaction: appends go on).
 * The file is fsynced. On failure nothing is left at `path`. */
store_status store_snapshot(store_mailbox *m, const char *path, store_snapshot_info *info);

/* Opens the snapshot at `path` with `key` (the id is for logs) and runs
 * quick_check (full = 0) or integrity_check (full = 1). STORE_OK only when the
 * check said "ok"; the check's lines go to `report` when it is not NULL.
 *
 * With `state` (65 bytes) it also gives the hex SHA-256 of the file's logical
 * content: the schema, then every row of every table in storage order, each
 * value with its type and length. The cipher draws a fresh nonce for every page
 * it writes, so two snapshots of an unchanged mailbox differ in every byte; this
 * hash, computed from the decrypted rows in memory, is equal for them and is
 * what tells "unchanged". */
#define STORE_STATE_HEX 65
store_status store_snapshot_verify(const char *path, const char *mailbox_id,
                                   const unsigned char key[STORE_KEY_LEN], int full, buf *report,
                                   char *state);

/* Replaces the content of DATADIR/mailboxes/<id>.db by the snapshot at `path`
 * (verified by the caller) and gives the file a new generation. The old content
 * stays until the one COMMIT. Waits up to the busy timeout for writers; other
 * handles are never left with a half-copied file. When the live file is missing
 * or its first page does not open with the key (the reason for many a restore),
 * the snapshot is renamed into place instead; sealboxd should not be running
 * then (its handles would keep the old inode). */
store_status store_restore(const char *datadir, const char *mailbox_id,
                           const unsigned char key[STORE_KEY_LEN], const char *path);

/* The file's generation, never 0: 1 until the first restore, a new random value
 * after each. A session remembers it at login and compares after commands. */
store_status store_generation(store_mailbox *m, uint64_t *gen);

#endif
