/*
 * mime_internal.h — helpers shared by the files of src/mime/, not part of the
 * module's interface (other modules include mime/mime.h only).
 *
 * OFFERS
 *   A header field iterator over a byte range (mime_field_next), unfolding,
 *   CFWS skipping for structured fields, and the IMAP string writers used by
 *   ENVELOPE and BODYSTRUCTURE.
 *
 * PROMISES
 *   Every function takes explicit lengths and reads nothing outside them; none
 *   fails on content.
 */
#ifndef SEALBOX_MIME_INTERNAL_H
#define SEALBOX_MIME_INTERNAL_H

#include <stddef.h>

#include "util/buf.h"
#include "mime/mime.h"

/* One header field: its first line and its continuation lines. */
typedef struct mime_field {
    size_t off;         /* start of the field's first line (the name) */
    size_t name_len;    /* bytes of the name, without WSP before the colon */
    size_t value_off;   /* just after the colon */
    size_t end;         /* after the last line's LF (or the end of the range) */
} mime_field;

/* Next field at or after *pos in h[0..len); stops at the blank line ending the
 * header. Lines that are not fields (no colon, stray continuations) are
 * skipped. Returns 1 and fills *f, or 0 at the end. */
int mime_field_next(const char *h, size_t len, size_t *pos, mime_field *f);
/* 1 when the field's name equals `name` (ASCII case-insensitive). */
int mime_field_is(const char *h, const mime_field *f, const char *name);

/* Position after the LF ending the line that contains i (len when none). */
size_t mime_line_end(const char *s, size_t len, size_t i);

/* Appends s[0..n) unfolded (CR LF pairs and LFs removed) with leading and
 * trailing spaces and tabs trimmed. */
void mime_unfold(const char *s, size_t n, buf *out);

/* Skips spaces, tabs, CR, LF and (nested) comments from i; returns the new
 * position. When `comment` is not NULL, the text of the last comment passed is
 * stored there (replacing what it held). */
size_t mime_skip_cfws(const char *s, size_t n, size_t i, buf *comment);

/* Appends a quoted-string body (from the opening quote at s[i]) unescaped to
 * `out`; returns the position after the closing quote (or n). */
size_t mime_read_quoted(const char *s, size_t n, size_t i, buf *out);

/* IMAP strings (RFC 3501 4.3): quoted when every byte allows, else a literal;
 * NUL bytes (never allowed in IMAP text) are sent as U+FFFD. */
void mime_put_string(buf *out, const char *s, size_t n);
void mime_put_nstring(buf *out, const char *s);         /* NULL: NIL */
void mime_put_upper(buf *out, const char *s);           /* ASCII-uppercased string */

int mime_ascii_casecmp_n(const char *a, const char *b, size_t n);

/* Parameters (mime_params.c): parses "; a=b; c*0=..." from s[i..n) into a new
 * array (NULL when none), RFC 2231 continuations joined; see mime_params.c. */
void mime_params_parse(const char *s, size_t n, size_t i, mime_param **ps, size_t *np);
void mime_params_free(mime_param *ps, size_t n);
/* End of the RFC 2045 token starting at s[i] (i itself when there is none). */
size_t mime_token_end(const char *s, size_t n, size_t i);

#endif
