/*
 * spool.h — the sealed spool of one alias: mail that arrived while nobody who
 * holds the alias's data key was logged in (DESIGN.md "Delivery", promise 4).
 *
 * SUMMARY
 *   spool_open(datadir, mailbox_id, server_key, create)   DATADIR/spool/<id>.db
 *   spool_append(s, received, blob)       adds a sealed blob, durably
 *   spool_append_batch(s, entries, n)     adds many in one transaction: one fsync
 *   spool_next(s, after, entry)           the oldest entry with id > after
 *   spool_delete(s, id)                   removes one entry, durably
 *   spool_count(s)                        entries waiting
 *   spool_origin(s, id, out)              "spool:<file uid>:<id>": a name for the
 *                                         entry that no other entry ever gets
 *   spool_close(s)
 *
 * THE FILE
 *   An SQLite3MC file (cipher chacha20) keyed with the server key, WAL,
 *   synchronous=FULL, secure_delete=ON, mode 0600 in a 0700 directory:
 *     spool(id INTEGER PRIMARY KEY AUTOINCREMENT, received INTEGER, blob BLOB)
 *     meta(key, value)        'uid': 128 random bits naming this file
 *   The blobs are sealed boxes (crypto/seal.h) to the alias's public key, so
 *   the server key opens the file but not the mail in it: only the alias's
 *   secret key, stored inside its encrypted mailbox, does.
 *
 * PROMISES
 *   - spool_append and spool_delete return 0 only after their COMMIT (fsynced);
 *     spool_append_batch reports an entry SPOOL_OK only after the one COMMIT
 *     of its batch, and one entry's failure (its own savepoint) fails no other.
 *   - Ids only grow (AUTOINCREMENT never hands out an id again, even after the
 *     highest one was deleted), and the file's random uid makes spool_origin
 *     unique even if the file were removed and made anew: the drain can record
 *     an origin as imported without ever mistaking a new entry for an old one.
 *   - The file name is the random mailbox id: it reveals no address.
 *   - Several handles (processes, threads) may use one file: WAL and a 5 s busy
 *     timeout. A handle is used by one thread at a time.
 *
 * DIAGNOSTICS
 *   spool_status. SPOOL_NOTFOUND: no spool file (spool_open without create) or
 *   no further entry (spool_next). SPOOL_BADKEY: the key does not open the
 *   file. SPOOL_ERROR: logged (by mailbox id) with the SQLite message.
 */
#ifndef SEALBOX_SPOOL_H
#define SEALBOX_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#define SPOOL_KEY_LEN 32
/* "spool:" + 32 hex + ":" + up to 20 digits + NUL */
#define SPOOL_ORIGIN_MAX 64

typedef enum spool_status {
    SPOOL_OK = 0,
    SPOOL_NOTFOUND,
    SPOOL_BADKEY,
    SPOOL_ERROR,
} spool_status;

typedef struct spool spool;

typedef struct spool_entry {
    int64_t id;
    int64_t received;              /* seconds since the epoch */
    unsigned char *blob;           /* malloc'ed; free with spool_entry_clear */
    size_t len;
} spool_entry;

/* With create, makes DATADIR/spool/ and the file when missing. */
spool_status spool_open(const char *datadir, const char *mailbox_id,
                        const unsigned char key[SPOOL_KEY_LEN], int create, spool **out);
void spool_close(spool *s);

spool_status spool_append(spool *s, int64_t received, const unsigned char *blob, size_t len,
                          int64_t *id_out);
/* Group commit (delivery/delivery_group.c): every entry in one transaction,
 * each in its own savepoint. Returns SPOOL_OK when done; then e[i].status is
 * final (SPOOL_OK with e[i].id: durable). When SQLite loses the transaction or
 * the COMMIT fails, the entries are appended one by one instead. SPOOL_ERROR
 * (every status SPOOL_ERROR, nothing written) when no transaction begins. */
typedef struct spool_batch_entry {
    int64_t received;
    const unsigned char *blob;
    size_t len;
    spool_status status;           /* out */
    int64_t id;                    /* out, with SPOOL_OK */
} spool_batch_entry;
spool_status spool_append_batch(spool *s, spool_batch_entry *e, size_t n);
spool_status spool_next(spool *s, int64_t after, spool_entry *out);
void spool_entry_clear(spool_entry *e);
/* Removing an id that is not (or no longer) there is SPOOL_OK. */
spool_status spool_delete(spool *s, int64_t id);
spool_status spool_count(spool *s, size_t *n);
void spool_origin(const spool *s, int64_t id, char out[SPOOL_ORIGIN_MAX]);

/* DATADIR/spool/<mailbox_id>.db; 0, or -1 when it does not fit. */
int spool_path(char *out, size_t outlen, const char *datadir, const char *mailbox_id);

#endif
