/*
 * mime.h — Sealbox's own single-pass MIME structure parser (RFC 5322, 2045-2049).
 *
 * SUMMARY
 *   Run once per message at ingest (APPEND, delivery, import), never at FETCH time.
 *   It records, for every part, the byte offsets and lengths of its header and
 *   body and the body's line count, recursing into multipart/... and
 *   message/rfc822, and produces from that everything IMAP FETCH needs later:
 *   ENVELOPE, BODY, BODYSTRUCTURE (as IMAP strings), a flat section table for
 *   BODY[section] lookups, and the Date: header as a time.
 *
 * INPUT
 *   A message whose line endings are already CRLF (mime_normalize_crlf does that:
 *   Sealbox stores and serves CRLF, so sizes and offsets count CRLF).
 *   Any byte sequence is accepted: malformed headers, missing boundaries, bare
 *   CR, NUL bytes, 8-bit data. The parser never fails on content; it degrades
 *   (an unterminated multipart ends at the end of its parent; a part nested
 *   deeper than MIME_DEPTH_MAX or beyond MIME_PARTS_MAX parts is treated as an
 *   opaque text/plain body).
 *
 * OUTPUT STRINGS
 *   ENVELOPE and BODYSTRUCTURE follow RFC 3501 section 7.4.2 exactly: strings are
 *   quoted (with \ and " escaped) or sent as literals {n}\r\n... when they contain
 *   CR, LF, NUL or 8-bit bytes that cannot be quoted; NIL for absent values;
 *   RFC 2047 encoded words are passed through as they are. Types and subtypes
 *   are uppercased in BODYSTRUCTURE the way most servers send them ("TEXT"
 *   "PLAIN"); parameter names uppercased; values as given.
 *
 * SECTIONS (RFC 3501 section 6.4.5, FETCH BODY[section])
 *   A section is a part number path ("", "1", "1.2", "3.1.4"). Part 1 of a
 *   non-multipart message (or of a message/rfc822 whose body is not multipart)
 *   is its body. For a message/rfc822 part, sub-part numbers address the parts
 *   of the encapsulated message, and HEADER/TEXT apply to it.
 */
#ifndef SEALBOX_MIME_H
#define SEALBOX_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct mime_param {
    char *name;                    /* as in the header (decoded from RFC 2231 continuations joined) */
    char *value;
} mime_param;

typedef struct mime_part {
    size_t hdr_off, hdr_len;       /* the part's header, including the blank line ending it */
    size_t body_off, body_len;     /* the part's body (for multipart: preamble..epilogue) */
    size_t body_lines;             /* lines in the body (RFC 3501 "size in text lines") */

    char *type, *subtype;          /* lowercased; default text/plain (message/rfc822 in multipart/digest) */
    mime_param *params; size_t nparams;
    char *id, *description, *encoding, *md5, *language, *location;  /* NULL when absent */
    char *disposition;             /* e.g. "attachment"; NULL when absent */
    mime_param *disp_params; size_t ndisp_params;

    struct mime_part **children;   /* multipart: its parts */
    size_t nchildren;
    struct mime_part *message;     /* message/rfc822: the encapsulated message (its root part) */
} mime_part;

/* Parses `msg` (CRLF line endings). Always returns a tree (never NULL). */
mime_part *mime_parse(const char *msg, size_t len);
void mime_free(mime_part *root);

/* IMAP ENVELOPE of the message whose header is `part`'s header (the root, or the
 * `message` of a message/rfc822 part). Appends the parenthesised list to `out`. */
void mime_envelope(const char *msg, const mime_part *part, buf *out);

/* IMAP BODYSTRUCTURE (extended = 1) or BODY (extended = 0) of `part`. */
void mime_bodystructure(const char *msg, const mime_part *part, int extended, buf *out);

/*
 * Section table: a compact serialisation of every part's offsets, stored with the
 * message, so that FETCH finds BODY[1.2.MIME] without parsing again.
 * mime_section_find() validates the blob and the path: it returns 0 and fills
 * `out`, or -1 when the part does not exist (or the blob is damaged).
 */
typedef struct mime_section {
    size_t hdr_off, hdr_len;       /* the part's MIME header (BODY[n.MIME]); for "" the message header */
    size_t body_off, body_len;     /* the part's content (BODY[n]); for "" the message text */
    int is_message;                /* message/rfc822: the next two ranges are valid */
    size_t msg_hdr_off, msg_hdr_len;   /* encapsulated message header (BODY[n.HEADER]) */
    size_t msg_body_off, msg_body_len; /* encapsulated message text (BODY[n.TEXT]) */
} mime_section;

void mime_sections_serialize(const mime_part *root, buf *out);
int mime_section_find(const void *table, size_t len, const char *path, mime_section *out);

/*
 * Header helpers for FETCH BODY[HEADER.FIELDS (...)] and SEARCH HEADER:
 * mime_header_fields() copies the header lines (with their continuation lines) whose
 * names are (not = 0) or are not (not = 1) in `names` (case-insensitive), then a
 * final CRLF, exactly as RFC 3501 asks. mime_header_get() unfolds the first field
 * named `name` into `value` (returns 0, or -1 when absent).
 */
void mime_header_fields(const char *hdr, size_t len, const char *const *names, size_t nnames,
                        int not, buf *out);
int mime_header_get(const char *hdr, size_t len, const char *name, buf *value);

/* An address header's value (From, To, ...) as text for SEARCH: each address as
 * "display name <mailbox@host>" (or just "mailbox@host"), comments and folding
 * removed, joined by ", "; encoded words left as they are. Appends to out. */
void mime_address_text(const char *value, size_t len, buf *out);

/*
 * Decoding for reading text (mime_decode.c): base64 and quoted-printable
 * (q_words: RFC 2047's "_" = space), a part's Content-Transfer-Encoding, and a
 * header value unfolded with its RFC 2047 encoded words turned into UTF-8
 * (UTF-8, US-ASCII, Latin-1; other charsets stay encoded). Lenient, never fail.
 */
void mime_decode_base64(const char *s, size_t n, buf *out);
void mime_decode_qp(const char *s, size_t n, int q_words, buf *out);
void mime_decode_part(const char *msg, const mime_part *part, buf *out);
void mime_decode_header(const char *value, size_t len, buf *out);
/* Text in `charset` (a part's charset parameter; NULL = US-ASCII) as UTF-8 where
 * we know how (Latin-1 family); other bytes are copied as they are. */
void mime_charset_to_utf8(const char *charset, const char *s, size_t n, buf *out);

/* Line endings: every bare LF becomes CRLF and every bare CR becomes CRLF. */
void mime_normalize_crlf(const char *in, size_t len, buf *out);

/* RFC 5322 date-time (lenient: obsolete zones, missing seconds/weekday).
 * Returns 0 with the UTC time and the zone offset in minutes, or -1. */
int mime_parse_date(const char *s, size_t len, int64_t *utc, int *tz_minutes);

#endif
