/*
 * transfer.h — mailbox export and import: mbox (mboxrd), Maildir (Maildir++) and a
 * zip of .eml files, on top of store.h.
 *
 * SUMMARY
 *   transfer_export() writes every folder of an open mailbox into OUT;
 *   transfer_import() reads an mbox file or tree, or a Maildir, into an open
 *   mailbox. Below them, the pieces each format is made of are public so that
 *   they can be tested one by one: mboxrd quoting, "From " lines, the mbox flag
 *   headers, Maildir info suffixes, path escaping, and a small zip writer.
 *
 * PROMISES
 *   - Messages are stored with CRLF line ends (store_append normalises bare LF and
 *     bare CR). mbox and Maildir are LF formats: export turns every CRLF into LF,
 *     import turns it back, so store -> export -> import -> store is byte-exact,
 *     and so is source -> import -> export for a source whose lines end in LF
 *     alone. eml-zip holds the stored bytes unchanged (CRLF, as IMAP serves them).
 *   - mbox: every message is preceded by "From SENDER DATE" and, first in its
 *     header, exactly three lines "Status:", "X-Status:", "X-Keywords:" carrying
 *     its flags; lines matching ^>*From  get one more '>' (mboxrd); the message is
 *     followed by one LF. Import removes exactly those, so the message comes back
 *     byte for byte (also one without a final line end, or with "From " lines).
 *   - Import is idempotent: each message is appended with store_append_once
 *     under the origin "import:" + hex SHA-256(folder NUL message with CRLF line
 *     ends) [+ ":k" for the k-th identical copy within one folder of one run], so
 *     re-running adds nothing and identical copies inside one source are all
 *     kept. The internal date's zone is not kept (UTC).
 *   - Memory is bounded by one message, plus per message: a 32-byte digest on
 *     import, and for eml-zip its central directory record and manifest entry
 *     (about 250 bytes).
 *   - Nothing is written outside OUT: no temporary files.
 *
 * DIAGNOSTICS
 *   The top-level calls return 0, or -1 with one sentence in `err` (naming the file
 *   and line where the input is at fault). A message that cannot be imported (over
 *   the append limit, a folder the store refuses) is reported through `warn` and
 *   counted in `skipped`; it does not stop the run.
 */
#ifndef SEALBOX_TRANSFER_H
#define SEALBOX_TRANSFER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/buf.h"
#include "store/store.h"

typedef enum transfer_format {
    TRANSFER_MBOX,
    TRANSFER_MAILDIR,
    TRANSFER_EMLZIP,
} transfer_format;

/* "mbox", "maildir", "eml-zip" -> 0; else -1. */
int transfer_format_parse(const char *s, transfer_format *out);

typedef struct transfer_stats {
    uint64_t folders;     /* folders written / read */
    uint64_t messages;    /* messages written / read */
    uint64_t bytes;       /* export: message bytes as stored (CRLF); import: as read */
    uint64_t added;       /* import: appended now */
    uint64_t present;     /* import: appended by an earlier run */
    uint64_t skipped;     /* import: not importable (reported through warn) */
} transfer_stats;

typedef struct transfer_opts {
    /* Called with one sentence per skipped message or ignored input; may be NULL. */
    void (*warn)(void *arg, const char *msg);
    void *warn_arg;
} transfer_opts;

/* OUT must not exist or be an empty directory (mbox, maildir) / must not exist
 * or be empty (eml-zip, a file). Directories are made 0700, files 0600. */
int transfer_export(store_mailbox *m, transfer_format fmt, const char *out,
                    const transfer_opts *opts, transfer_stats *stats, char *err, size_t errlen);
/* IN: an mbox file (-> INBOX) or a directory of *.mbox files (a/b.mbox -> "a/b");
 * a Maildir (cur/new -> INBOX, .A.B/ or A/B/ -> "A/B"). Folders are created. */
int transfer_import(store_mailbox *m, transfer_format fmt, const char *in,
                    const transfer_opts *opts, transfer_stats *stats, char *err, size_t errlen);

/* --- Pieces (public for the unit tests) ----------------------------------------- */

/* Appends `in` with every CRLF turned into LF (a bare CR stays). */
void transfer_crlf_to_lf(const char *in, size_t len, buf *out);

/* Appends the LF message `in` with mboxrd quoting: a line matching ^>*From  gets
 * one more '>'. */
void transfer_mboxrd_quote(const char *in, size_t len, buf *out);
/* Undoes it for one line: 1 when `line` matches ^>+From  (then the caller drops
 * its first byte), else 0. */
int transfer_mboxrd_is_quoted(const char *line, size_t len);

/* "From SENDER DATE\n": SENDER from Return-Path, else From:, else MAILER-DAEMON;
 * DATE in asctime form, UTC. `msg` may use CRLF or LF. */
void transfer_mbox_from_line(const char *msg, size_t len, int64_t date, buf *out);
/* The date of a "From " line (any asctime-like form, optional numeric zone
 * before or after the year): 0 and *date (UTC), or -1 when it has none. */
int transfer_mbox_parse_from_line(const char *line, size_t len, int64_t *date);

/* The three flag lines that open an exported message's header. */
void transfer_mbox_flag_lines(uint32_t flags, const char *const *keywords, size_t nkeywords,
                              buf *out);
/* On an LF message read from an mbox: takes the flags out of our three opening
 * lines (removing exactly them), or else out of any Status / X-Status /
 * X-Keywords / X-Mozilla-Status / X-Mozilla-Status2 / X-Mozilla-Keys fields of
 * the header (removing those: the mbox software added them). Keywords are
 * returned as one space-separated string in `keywords`. */
void transfer_mbox_take_flags(buf *msg, uint32_t *flags, buf *keywords);

/* Maildir info ":2,<letters>" for flags and keyword letters (a-z, any order);
 * $Forwarded is passed as the letter 'P'. Letters come out in ASCII order. */
void transfer_maildir_info(uint32_t flags, int forwarded, const char *kwletters, buf *out);
/* Parses the info of a Maildir file name (after the last ":2,"): flags, whether
 * P (passed) was set, and the keyword letters a-z present (kwletters, 27 bytes). */
void transfer_maildir_parse_info(const char *name, uint32_t *flags, int *forwarded,
                                 char kwletters[27]);

/* A path component for a folder-name component: '%', control bytes, the bytes
 * Windows forbids in names and a leading '.' become %XX (so "." and ".." never
 * appear); with maildirpp, every '.' does (Maildir++ uses it as separator). */
void transfer_path_escape(const char *comp, size_t len, int maildirpp, buf *out);
/* Undoes %XX (other bytes unchanged). */
void transfer_path_unescape(const char *s, size_t len, buf *out);

/* A zip written front to back onto a stream: deflated entries (stored when that
 * is smaller), CRC-32, UTF-8 names, ZIP64 records when past 65535 entries or
 * 4 GiB. Entries are whole in memory (messages are bounded). */
typedef struct transfer_zip transfer_zip;
transfer_zip *transfer_zip_new(FILE *f);
/* 0, or -1 (write error, errno). */
int transfer_zip_add(transfer_zip *z, const char *name, const void *data, size_t len,
                     int64_t mtime);
/* Writes the central directory; frees z in any case. 0 or -1. */
int transfer_zip_finish(transfer_zip *z);
void transfer_zip_abort(transfer_zip *z);

#endif
