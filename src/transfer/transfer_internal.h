/*
 * transfer_internal.h — what the files of src/transfer/ share: the importer (the
 * one place messages enter the store, with the idempotence origin) and the
 * per-format readers.
 *
 * The importer keeps the SHA-256 of every message it has seen in this run (32
 * bytes each) to number identical copies; nothing else grows with the input.
 */
#ifndef SEALBOX_TRANSFER_INTERNAL_H
#define SEALBOX_TRANSFER_INTERNAL_H

#include <stdarg.h>

#include "transfer/transfer.h"

/* Lines of input are handed over in pieces of at most this many bytes: a
 * line longer than that (base64 without line breaks) never has to be whole in
 * memory. 64 KiB also holds any "From " line a real mbox has. */
#define TRANSFER_PIECE_MAX (64 * 1024)

/* Messages are appended in batches of this many (or this many bytes): one
 * transaction, one COMMIT and one flush of the search index's pending terms for
 * the batch instead of each message (store_append_batch). A crash loses at
 * most the batch being written, and importing again adds exactly what is
 * missing (origins). */
#define TRANSFER_BATCH_MESSAGES 256
#define TRANSFER_BATCH_BYTES (32 * 1024 * 1024)

struct import_pending;

typedef struct transfer_importer {
    store_mailbox *m;
    const transfer_opts *opts;
    transfer_stats *stats;
    unsigned char *seen;      /* open-addressing set of 33-byte records: digest + used */
    uint32_t *seen_count;     /* copies seen of each digest */
    size_t seen_cap, seen_n;
    char *folder_ready;       /* the last folder known to exist */
    char *folder_refused;     /* the last folder the store would not create */
    struct import_pending *pending;   /* the batch: npending messages for pending_folder */
    size_t npending, pending_bytes;
    char *pending_folder;
} transfer_importer;

void transfer_warn(const transfer_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends one message (LF or CRLF) to `folder` (made sure of first by
 * transfer_importer_folder), in batches: it may be written at a later call or
 * at transfer_importer_flush.
 * `keywords` is space-separated (may be NULL); `where` names the input for
 * warnings ("file:line"). 0 (added, present or skipped with a warning) or -1
 * when the store fails (err filled). */
int transfer_importer_add(transfer_importer *imp, const char *folder, const char *msg,
                          size_t len, uint32_t flags, const char *keywords, int64_t date,
                          const char *where, char *err, size_t errlen);
/* Appends the messages waiting in the batch (transfer_importer_add keeps up
 * to TRANSFER_BATCH_MESSAGES): 0, or -1 when the store fails (err filled). */
int transfer_importer_flush(transfer_importer *imp, char *err, size_t errlen);
/* Makes sure `folder` exists. 0; 1 when the store refuses the name (warned once;
 * transfer_importer_add then counts its messages as skipped); -1 error. */
int transfer_importer_folder(transfer_importer *imp, const char *folder, const char *where,
                             char *err, size_t errlen);

/* One mbox file into `folder`. */
int transfer_mbox_read(transfer_importer *imp, const char *path, const char *folder,
                       char *err, size_t errlen);
/* One maildir (the directory holding cur/ and new/) into `folder`. */
int transfer_maildir_read(transfer_importer *imp, const char *dir, const char *folder,
                          char *err, size_t errlen);

/* The Date: header of a message as UTC seconds, or 0. */
int64_t transfer_header_date(const char *msg, size_t len);

#endif
