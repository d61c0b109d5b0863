/*
 * search_text.h — the searchable text of a message: what SEARCH BODY, TEXT and
 * HEADER (and X-REGEX on text) look at, produced the one way that both the
 * full-text index (store/store_index.c) and the exact evaluator
 * (search_eval.c) use, so the two always agree.
 *
 * WHAT THE TEXT IS
 *   Header text: for every field of the message's own header, one line
 *   "Name: piece\n" per piece of search_text_field_pieces: the value unfolded
 *   and its RFC 2047 encoded words decoded (search_text_header_value); for
 *   address fields (From, To, Cc, Bcc, Sender, Reply-To) also the addresses in
 *   the normalised form of mime_address_text ("name <user@host>", comments
 *   removed), so FROM user@host finds "<user (x)@ host>".
 *   Body text: every part in order —
 *     text/(any) parts: content decoded (base64 / quoted-printable), converted to
 *       UTF-8 from the part's charset (mime_charset_to_utf8); text/html reduced
 *       to text (tags removed, <br>/<p>/<div>/... become line breaks, script and
 *       style content and comments dropped, entities &amp; &lt; &gt; &quot;
 *       &apos; &nbsp; &#N; &#xH; decoded);
 *     every part's file name (Content-Disposition filename, Content-Type name;
 *       RFC 2231 extended values and RFC 2047 words decoded) on a line;
 *     message/rfc822 parts: the encapsulated header text, then its body text.
 *   Other parts (images, applications) contribute only their names.
 *
 * PROMISES
 *   - The output is valid UTF-8 without NUL: a byte that is not part of a
 *     well-formed UTF-8 sequence is read as Latin-1 (8-bit headers and
 *     unlabelled 8-bit bodies are mostly that), NUL becomes a space.
 *   - No case folding here (X-REGEX wants the text as written); callers fold
 *     with search_fold() for substring matching.
 *   - Bounded by the message: decoding only shrinks text, except Latin-1 to
 *     UTF-8 (at most twice), so the text is under 2x the message's size.
 *
 * NORMALISATION
 *   None here: search_fold() (search_eval.h) composes the common Latin NFD
 *   sequences when it folds; X-REGEX sees the text as written.
 */
#ifndef SEALBOX_SEARCH_TEXT_H
#define SEALBOX_SEARCH_TEXT_H

#include <stddef.h>

#include "util/buf.h"
#include "mime/mime.h"

/* Header text of the header hdr[0..len) (the message's, or an encapsulated
 * message's), appended to out. */
void search_text_header(const char *hdr, size_t len, buf *out);
/* Body text of `part` (usually the root) of message msg[0..len), appended. */
void search_text_body(const char *msg, size_t len, const mime_part *part, buf *out);
/* One field value (the raw text after the colon): unfolded, encoded words
 * decoded, made valid UTF-8 without CR, LF or NUL. Appended to out. */
void search_text_header_value(const char *val, size_t len, buf *out);
/* Calls fn for every field of hdr[0..len): its name and raw value (the text
 * after the colon, continuation lines included). Stops and returns 1 as soon
 * as fn returns nonzero; 0 otherwise. */
typedef int (*search_text_field_fn)(void *ctx, const char *name, size_t nlen,
                                    const char *val, size_t vlen);
int search_text_each_field(const char *hdr, size_t len, search_text_field_fn fn, void *ctx);
/* The header fields the index keeps apart, so HEADER on them is answered by
 * the index alone (store_index.h: head_fts columns f_from ... f_subject). */
#define SEARCH_TEXT_NFIELDS 5
extern const char *const search_text_fields[SEARCH_TEXT_NFIELDS];   /* "from", ... */
/* Index of the field `name` (ASCII case-insensitive) in search_text_fields, or -1. */
int search_text_field_index(const char *name, size_t nlen);
/* What SEARCH HEADER matches in one field, each piece followed by '\n': its
 * decoded value (search_text_header_value) and, for an address field, the
 * normalised addresses of that value. Pieces hold no CR, LF or NUL. */
void search_text_field_pieces(const char *name, size_t nlen, const char *val, size_t vlen, buf *out);
/* The pieces of every field of hdr[0..len) named in search_text_fields,
 * appended to out[i] for field i. */
void search_text_header_fields(const char *hdr, size_t len, buf out[SEARCH_TEXT_NFIELDS]);
/* 1 when `name` (nlen bytes) is an address field (see above). */
int search_text_is_address_field(const char *name, size_t nlen);
/* Appends s[0..n) as valid UTF-8 (invalid bytes read as Latin-1), NUL as space. */
void search_text_utf8(const char *s, size_t n, buf *out);

#endif
