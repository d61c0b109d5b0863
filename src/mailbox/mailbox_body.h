/*
 * mailbox_body.h — how a message's bytes are kept inside a mailbox file.
 *
 * SUMMARY
 *   A message (CRLF-normalised) is compressed with zstd before SQLite3MC
 *   encrypts the page it lands on: mail text compresses 3-5x, and compression
 *   has to happen before encryption or not at all.
 *
 * PROMISES
 *   mailbox_body_decompress() returns exactly `expect_len` bytes or fails: a
 *   damaged or foreign blob can neither overrun memory nor return a message of
 *   the wrong size (RFC822.SIZE is served from the row, the bytes from here).
 *
 * DIAGNOSTICS
 *   Both return 0, or -1 (the caller logs it with the mailbox id).
 */
#ifndef SEALBOX_MAILBOX_BODY_H
#define SEALBOX_MAILBOX_BODY_H

#include <stddef.h>

#include "util/buf.h"

/* zstd level 3: its default, ~300 MB/s here; higher levels cost more than the
 * disk they save for mail-sized inputs. */
#define MAILBOX_BODY_ZSTD_LEVEL 3

/* Appends the compressed form of msg[0..len) to `out`. */
int mailbox_body_compress(const char *msg, size_t len, buf *out);
/* A decompression context for one thread at a time, kept between messages:
 * making one per message (what a context-free zstd call does) cost as much as
 * the decompression of a mail-sized message. */
typedef struct mailbox_body_reader mailbox_body_reader;
mailbox_body_reader *mailbox_body_reader_new(void);     /* NULL when out of memory */
void mailbox_body_reader_free(mailbox_body_reader *r);

/* Appends the message of `blob` to `out`; fails unless it is exactly expect_len bytes. */
int mailbox_body_decompress(mailbox_body_reader *r, const void *blob, size_t blob_len,
                            size_t expect_len, buf *out);

#endif
