/*
 * mime_header.c — header fields of RFC 5322 messages, and IMAP string output.
 *
 * OFFERS
 *   mime_header_fields()  BODY[HEADER.FIELDS (...)] / HEADER.FIELDS.NOT: the chosen
 *                         fields byte for byte (continuation lines kept), then the
 *                         blank line.
 *   mime_header_get()     the first field of a name, unfolded and trimmed.
 *   Internal (mime_internal.h): the field iterator, unfolding, CFWS and quoted
 *   strings of structured fields, IMAP quoted/literal strings.
 *
 * PROMISES
 *   A header is read up to its blank line or the end of the range given, never
 *   further. Names compare ASCII case-insensitively; "Name :" (obsolete WSP
 *   before the colon) is a field. Lines that are not fields are never output.
 *
 * DIAGNOSTICS
 *   None: malformed lines are skipped; mime_header_get() returns -1 when the
 *   field is absent.
 */
#include <string.h>

#include "util/buf.h"
#include "mime/mime.h"
#include "mime/mime_internal.h"

static int is_wsp(unsigned char c) { return c == ' ' || c == '\t'; }

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

int mime_ascii_casecmp_n(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = lower((unsigned char)a[i]), y = lower((unsigned char)b[i]);
        if (x != y) return x < y ? -1 : 1;
    }
    return 0;
}

size_t mime_line_end(const char *s, size_t len, size_t i)
{
    if (i >= len) return len;
    const char *nl = memchr(s + i, '\n', len - i);
    return nl ? (size_t)(nl - s) + 1 : len;
}

int mime_field_next(const char *h, size_t len, size_t *pos, mime_field *f)
{
    size_t i = *pos;
    while (i < len) {
        unsigned char c = (unsigned char)h[i];
        /* The blank line (CRLF, a bare LF, or a CR that ends the data). */
        if (c == '\n' || (c == '\r' && (i + 1 >= len || h[i + 1] == '\n'))) break;
        size_t eol = mime_line_end(h, len, i);
        if (is_wsp(c)) { i = eol; continue; }     /* continuation of no field */
        size_t j = i;
        while (j < eol && h[j] != ':' && (unsigned char)h[j] > 32 && (unsigned char)h[j] < 127) j++;
        size_t name_end = j;
        while (j < eol && is_wsp((unsigned char)h[j])) j++;
        if (name_end == i || j >= eol || h[j] != ':') { i = eol; continue; }
        f->off = i;
        f->name_len = name_end - i;
        f->value_off = j + 1;
        i = eol;
        while (i < len && is_wsp((unsigned char)h[i])) i = mime_line_end(h, len, i);
        f->end = i;
        *pos = i;
        return 1;
    }
    *pos = len;
    return 0;
}

int mime_field_is(const char *h, const mime_field *f, const char *name)
{
    size_t n = strlen(name);
    return f->name_len == n && mime_ascii_casecmp_n(h + f->off, name, n) == 0;
}

void mime_unfold(const char *s, size_t n, buf *out)
{
    size_t a = 0, b = n;
    /* Trim first on the raw bytes: CR and LF count as space at either end. */
    while (a < b && (is_wsp((unsigned char)s[a]) || s[a] == '\r' || s[a] == '\n')) a++;
    while (b > a && (is_wsp((unsigned char)s[b - 1]) || s[b - 1] == '\r' || s[b - 1] == '\n')) b--;
    buf_reserve(out, b - a);
    size_t run = a;
    for (size_t i = a; i < b; i++) {
        if (s[i] == '\n' || (s[i] == '\r' && i + 1 < b && s[i + 1] == '\n')) {
            buf_append(out, s + run, i - run);
            run = i + 1;
        }
    }
    buf_append(out, s + run, b - run);
}

size_t mime_skip_cfws(const char *s, size_t n, size_t i, buf *comment)
{
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (is_wsp(c) || c == '\r' || c == '\n') { i++; continue; }
        if (c != '(') break;
        /* A comment: nested parentheses and quoted-pairs (RFC 5322 3.2.2). Kept
         * iterative with a counter so that nesting costs no stack. */
        size_t depth = 0;
        if (comment) buf_reset(comment);
        while (i < n) {
            char d = s[i];
            if (d == '\\' && i + 1 < n) {
                if (comment && depth >= 1) buf_putc(comment, s[i + 1]);
                i += 2;
                continue;
            }
            if (d == '(') {
                if (comment && depth >= 1) buf_putc(comment, d);
                depth++;
            } else if (d == ')') {
                depth--;
                if (depth == 0) { i++; break; }
                if (comment) buf_putc(comment, d);
            } else if (comment && d != '\r' && d != '\n') {
                buf_putc(comment, d);
            }
            i++;
        }
    }
    return i;
}

size_t mime_read_quoted(const char *s, size_t n, size_t i, buf *out)
{
    i++;                                  /* the opening quote */
    size_t run = i;
    while (i < n && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < n) {
            buf_append(out, s + run, i - run);
            run = i + 1;                  /* keep the escaped byte, drop the backslash */
            i += 2;
            continue;
        }
        if (s[i] == '\r' || s[i] == '\n') {   /* folding inside the quotes */
            buf_append(out, s + run, i - run);
            run = i + 1;
        }
        i++;
    }
    buf_append(out, s + run, i - run);
    return i < n ? i + 1 : n;
}

void mime_put_string(buf *out, const char *s, size_t n)
{
    int literal = 0;
    size_t nuls = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0) nuls++;
        if (c == 0 || c == '\r' || c == '\n' || c >= 0x80) literal = 1;
    }
    if (!literal) {
        buf_reserve(out, n + 2 + n / 8);
        buf_putc(out, '"');
        size_t run = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '"' || s[i] == '\\') {
                buf_append(out, s + run, i - run);
                buf_putc(out, '\\');
                run = i;
            }
        }
        buf_append(out, s + run, n - run);
        buf_putc(out, '"');
        return;
    }
    /* IMAP forbids NUL even in literals: U+FFFD stands in for it (3 bytes). */
    buf_printf(out, "{%zu}\r\n", n + 2 * nuls);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == 0) {
            buf_append(out, s + run, i - run);
            buf_append(out, "\xEF\xBF\xBD", 3);
            run = i + 1;
        }
    }
    buf_append(out, s + run, n - run);
}

void mime_put_nstring(buf *out, const char *s)
{
    if (!s) buf_puts(out, "NIL");
    else mime_put_string(out, s, strlen(s));
}

void mime_put_upper(buf *out, const char *s)
{
    size_t n = strlen(s);
    char small[64];
    char *t = n < sizeof small ? small : NULL;
    buf tmp = BUF_INIT;
    if (!t) {
        buf_reserve(&tmp, n);
        t = tmp.p;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        t[i] = (char)((c >= 'a' && c <= 'z') ? c - 32 : c);
    }
    mime_put_string(out, t, n);
    buf_free(&tmp);
}

int mime_header_get(const char *hdr, size_t len, const char *name, buf *value)
{
    size_t pos = 0;
    mime_field f;
    if (!hdr) return -1;
    while (mime_field_next(hdr, len, &pos, &f)) {
        if (!mime_field_is(hdr, &f, name)) continue;
        mime_unfold(hdr + f.value_off, f.end - f.value_off, value);
        if (!value->p) buf_append(value, "", 0);
        return 0;
    }
    return -1;
}

void mime_header_fields(const char *hdr, size_t len, const char *const *names, size_t nnames,
                        int not, buf *out)
{
    size_t pos = 0;
    mime_field f;
    while (hdr && mime_field_next(hdr, len, &pos, &f)) {
        int listed = 0;
        for (size_t k = 0; k < nnames && !listed; k++)
            listed = names[k] && mime_field_is(hdr, &f, names[k]);
        if (listed == !!not) continue;
        buf_append(out, hdr + f.off, f.end - f.off);
        /* A last line cut by the end of the data still ends with CRLF here, so
         * the blank line below is a blank line. */
        if (hdr[f.end - 1] != '\n') buf_append(out, "\r\n", 2);
    }
    buf_append(out, "\r\n", 2);
}
