/*
 * search_text.c — the searchable text of a message (see search_text.h).
 *
 * One pass over the MIME tree mime_parse() built; no allocation per byte, no
 * failure: whatever cannot be decoded is taken as it is (then made UTF-8).
 * HTML is reduced by a small tag scanner, not a parser: enough to search what
 * a reader sees, not to render it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/utf8.h"
#include "mime/mime.h"
#include "search/search_text.h"

/* --- UTF-8 ---------------------------------------------------------------------------- */

void search_text_utf8(const char *s, size_t n, buf *out)
{
    const unsigned char *p = (const unsigned char *)s;
    buf_reserve(out, n);
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        while (i < n && p[i] < 0x80 && p[i] != 0) i++;
        if (i > start) buf_append(out, p + start, i - start);
        if (i >= n) break;
        if (p[i] == 0) {
            buf_putc(out, ' ');
            i++;
            continue;
        }
        uint32_t cp;
        size_t k = utf8_decode(p + i, n - i, &cp);
        if (k == 0) {                 /* not UTF-8: read the byte as Latin-1 */
            utf8_encode(out, p[i]);
            i++;
        } else {
            buf_append(out, p + i, k);
            i += k;
        }
    }
    buf_reserve(out, 0);
    out->p[out->len] = '\0';
}

/* --- Header fields ------------------------------------------------------------------- */

int search_text_each_field(const char *hdr, size_t len, search_text_field_fn fn, void *ctx)
{
    size_t i = 0;
    while (i < len) {
        size_t line = i;
        /* The field runs to the LF not followed by whitespace. */
        size_t end = i;
        for (;;) {
            const char *nl = memchr(hdr + end, '\n', len - end);
            if (!nl) { end = len; break; }
            end = (size_t)(nl - hdr) + 1;
            if (end >= len || (hdr[end] != ' ' && hdr[end] != '\t')) break;
        }
        i = end;
        const char *colon = memchr(hdr + line, ':', end - line);
        if (!colon || colon == hdr + line) continue;
        size_t nlen = (size_t)(colon - (hdr + line));
        while (nlen > 0 && (hdr[line + nlen - 1] == ' ' || hdr[line + nlen - 1] == '\t')) nlen--;
        if (nlen == 0 || memchr(hdr + line, '\n', nlen)) continue;  /* not a field */
        const char *val = colon + 1;
        size_t vlen = (size_t)(hdr + end - val);
        if (fn(ctx, hdr + line, nlen, val, vlen)) return 1;
    }
    return 0;
}

int search_text_is_address_field(const char *name, size_t nlen)
{
    static const char *const fields[] = { "from", "to", "cc", "bcc", "sender", "reply-to" };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strlen(fields[i]) == nlen && strncasecmp(fields[i], name, nlen) == 0) return 1;
    return 0;
}

void search_text_header_value(const char *val, size_t len, buf *out)
{
    buf dec = BUF_INIT;
    mime_decode_header(val, len, &dec);
    size_t start = out->len;
    search_text_utf8(buf_cstr(&dec), dec.len, out);
    /* An encoded word may decode to CR or LF: a value stays one line. */
    for (size_t i = start; i < out->len; i++)
        if (out->p[i] == '\r' || out->p[i] == '\n') out->p[i] = ' ';
    buf_free(&dec);
}

const char *const search_text_fields[SEARCH_TEXT_NFIELDS] = { "from", "to", "cc", "bcc", "subject" };

int search_text_field_index(const char *name, size_t nlen)
{
    for (int i = 0; i < SEARCH_TEXT_NFIELDS; i++)
        if (strlen(search_text_fields[i]) == nlen && strncasecmp(search_text_fields[i], name, nlen) == 0)
            return i;
    return -1;
}

void search_text_field_pieces(const char *name, size_t nlen, const char *val, size_t vlen, buf *out)
{
    size_t mark = out->len;
    search_text_header_value(val, vlen, out);
    size_t end = out->len;
    buf_putc(out, '\n');
    if (search_text_is_address_field(name, nlen)) {
        /* The normalised addresses of the decoded value, as SEARCH FROM sees them. */
        buf dec = BUF_INIT, addr = BUF_INIT;
        buf_append(&dec, out->p + mark, end - mark);
        mime_address_text(buf_cstr(&dec), dec.len, &addr);
        search_text_utf8(buf_cstr(&addr), addr.len, out);
        buf_putc(out, '\n');
        buf_free(&dec);
        buf_free(&addr);
    }
}

static int header_line_cb(void *ctx, const char *name, size_t nlen, const char *val, size_t vlen)
{
    buf *out = ctx;
    buf pieces = BUF_INIT;
    search_text_field_pieces(name, nlen, val, vlen, &pieces);
    const char *p = buf_cstr(&pieces), *end = p + pieces.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t k = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        search_text_utf8(name, nlen, out);
        buf_puts(out, ": ");
        buf_append(out, p, k);
        p += k;
    }
    buf_free(&pieces);
    return 0;
}

static int field_pieces_cb(void *ctx, const char *name, size_t nlen, const char *val, size_t vlen)
{
    buf *out = ctx;
    int i = search_text_field_index(name, nlen);
    if (i >= 0) search_text_field_pieces(name, nlen, val, vlen, &out[i]);
    return 0;
}

void search_text_header_fields(const char *hdr, size_t len, buf out[SEARCH_TEXT_NFIELDS])
{
    search_text_each_field(hdr, len, field_pieces_cb, out);
}

void search_text_header(const char *hdr, size_t len, buf *out)
{
    search_text_each_field(hdr, len, header_line_cb, out);
    buf_reserve(out, 0);
    out->p[out->len] = '\0';
}

/* --- HTML ------------------------------------------------------------------------------- */

static int tag_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* Tags after which a reader sees a new line. */
static int tag_breaks_line(const char *name, size_t n)
{
    static const char *const block[] = {
        "br", "p", "div", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
        "table", "ul", "ol", "blockquote", "pre", "hr", "title", "dt", "dd",
    };
    for (size_t i = 0; i < sizeof block / sizeof block[0]; i++)
        if (tag_is(name, n, block[i])) return 1;
    return 0;
}

/* Decodes the entity at s[i] ('&'); returns its length, or 0 when it is not
 * one we know (the '&' is then text). */
static size_t html_entity(const char *s, size_t n, size_t i, buf *out)
{
    static const struct { const char *name; uint32_t cp; } named[] = {
        { "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' },
        { "nbsp", 0xa0 }, { "shy", 0xad }, { "copy", 0xa9 }, { "reg", 0xae },
        { "euro", 0x20ac }, { "hellip", 0x2026 }, { "mdash", 0x2014 }, { "ndash", 0x2013 },
        { "lsquo", 0x2018 }, { "rsquo", 0x2019 }, { "ldquo", 0x201c }, { "rdquo", 0x201d },
    };
    size_t j = i + 1;
    size_t end = j;
    while (end < n && end - j < 10 && s[end] != ';' && s[end] != '&' && s[end] != '<' &&
           s[end] != ' ')
        end++;
    if (end >= n || s[end] != ';' || end == j) return 0;
    if (s[j] == '#') {
        uint32_t cp = 0;
        size_t k = j + 1;
        int hex = k < end && (s[k] == 'x' || s[k] == 'X');
        if (hex) k++;
        if (k == end) return 0;
        for (; k < end; k++) {
            char c = s[k];
            int d;
            if (c >= '0' && c <= '9') d = c - '0';
            else if (hex && c >= 'a' && c <= 'f') d = c - 'a' + 10;
            else if (hex && c >= 'A' && c <= 'F') d = c - 'A' + 10;
            else return 0;
            cp = cp * (hex ? 16 : 10) + (uint32_t)d;
            if (cp > 0x10ffff) return 0;
        }
        if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff)) cp = 0xfffd;
        utf8_encode(out, cp);
        return end + 1 - i;
    }
    for (size_t k = 0; k < sizeof named / sizeof named[0]; k++)
        if (tag_is(s + j, end - j, named[k].name)) {
            utf8_encode(out, named[k].cp);
            return end + 1 - i;
        }
    return 0;
}

/* Appends the text a reader sees in html[0..n) (UTF-8 in, UTF-8 out). */
static void html_to_text(const char *s, size_t n, buf *out)
{
    size_t i = 0;
    while (i < n) {
        char c = s[i];
        if (c == '&') {
            size_t k = html_entity(s, n, i, out);
            if (k) { i += k; continue; }
            buf_putc(out, c);
            i++;
            continue;
        }
        if (c != '<') {
            size_t j = i;
            while (j < n && s[j] != '<' && s[j] != '&') j++;
            buf_append(out, s + i, j - i);
            i = j;
            continue;
        }
        /* A comment runs to "-->". */
        if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
            const char *e = memmem(s + i + 4, n - i - 4, "-->", 3);
            i = e ? (size_t)(e - s) + 3 : n;
            continue;
        }
        size_t j = i + 1;
        int closing = j < n && s[j] == '/';
        if (closing) j++;
        size_t name = j;
        while (j < n && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') ||
                         (s[j] >= '0' && s[j] <= '9')))
            j++;
        size_t nlen = j - name;
        if (nlen == 0 && !(j < n && (s[j] == '!' || s[j] == '?'))) {
            buf_putc(out, c);                 /* "a < b": not a tag */
            i++;
            continue;
        }
        /* The tag ends at '>' outside quotes. */
        char quote = 0;
        while (j < n && (quote || s[j] != '>')) {
            if (quote && s[j] == quote) quote = 0;
            else if (!quote && (s[j] == '"' || s[j] == '\'')) quote = s[j];
            j++;
        }
        i = j < n ? j + 1 : n;
        if (tag_breaks_line(s + name, nlen)) buf_putc(out, '\n');
        if (!closing && (tag_is(s + name, nlen, "script") || tag_is(s + name, nlen, "style"))) {
            /* Their content is not text; skip to the closing tag. */
            const char *want = tag_is(s + name, nlen, "script") ? "</script" : "</style";
            size_t wl = strlen(want);
            size_t k = i;
            while (k + wl <= n && strncasecmp(s + k, want, wl) != 0) k++;
            if (k + wl > n) { i = n; continue; }
            const char *gt = memchr(s + k, '>', n - k);
            i = gt ? (size_t)(gt - s) + 1 : n;
        }
    }
}

/* --- Parts ------------------------------------------------------------------------------- */

static int hexv(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A file name parameter: RFC 2231 "charset'lang'%xx" when the name ends in '*',
 * else a value that may hold RFC 2047 words (which many mailers send). */
static void put_param_name(const mime_param *p, buf *out)
{
    size_t nl = strlen(p->name);
    const char *v = p->value ? p->value : "";
    size_t vl = strlen(v);
    buf tmp = BUF_INIT;
    if (nl && p->name[nl - 1] == '*') {
        const char *q1 = memchr(v, '\'', vl);
        const char *q2 = q1 ? memchr(q1 + 1, '\'', vl - (size_t)(q1 + 1 - v)) : NULL;
        buf charset = BUF_INIT, pct = BUF_INIT;
        const char *data = v;
        if (q1 && q2) {
            buf_append(&charset, v, (size_t)(q1 - v));
            data = q2 + 1;
        }
        size_t dl = vl - (size_t)(data - v);
        for (size_t i = 0; i < dl; i++) {
            int h, l;
            if (data[i] == '%' && i + 2 < dl && (h = hexv((unsigned char)data[i + 1])) >= 0 &&
                (l = hexv((unsigned char)data[i + 2])) >= 0) {
                buf_putc(&pct, (char)(h * 16 + l));
                i += 2;
            } else {
                buf_putc(&pct, data[i]);
            }
        }
        mime_charset_to_utf8(charset.len ? buf_cstr(&charset) : NULL, buf_cstr(&pct), pct.len, &tmp);
        buf_free(&charset);
        buf_free(&pct);
    } else {
        mime_decode_header(v, vl, &tmp);
    }
    search_text_utf8(buf_cstr(&tmp), tmp.len, out);
    buf_putc(out, '\n');
    buf_free(&tmp);
}

static int param_is(const mime_param *p, const char *want)
{
    size_t wl = strlen(want), nl = strlen(p->name);
    if (nl == wl + 1 && p->name[wl] == '*') nl = wl;
    return nl == wl && strncasecmp(p->name, want, wl) == 0;
}

static void part_names(const mime_part *part, buf *out)
{
    for (size_t i = 0; i < part->ndisp_params; i++)
        if (param_is(&part->disp_params[i], "filename")) put_param_name(&part->disp_params[i], out);
    for (size_t i = 0; i < part->nparams; i++)
        if (param_is(&part->params[i], "name")) put_param_name(&part->params[i], out);
}

static const char *part_charset(const mime_part *part)
{
    for (size_t i = 0; i < part->nparams; i++)
        if (param_is(&part->params[i], "charset")) return part->params[i].value;
    return NULL;
}

void search_text_body(const char *msg, size_t len, const mime_part *part, buf *out)
{
    if (!part) return;
    if (part->body_off > len || part->body_len > len - part->body_off) return;
    part_names(part, out);
    if (part->nchildren) {
        for (size_t i = 0; i < part->nchildren; i++)
            search_text_body(msg, len, part->children[i], out);
    } else if (part->message) {
        const mime_part *inner = part->message;
        if (inner->hdr_off <= len && inner->hdr_len <= len - inner->hdr_off)
            search_text_header(msg + inner->hdr_off, inner->hdr_len, out);
        search_text_body(msg, len, inner, out);
    } else if (part->type && strcmp(part->type, "text") == 0) {
        buf dec = BUF_INIT, utf = BUF_INIT;
        mime_decode_part(msg, part, &dec);
        mime_charset_to_utf8(part_charset(part), buf_cstr(&dec), dec.len, &utf);
        buf_reset(&dec);
        search_text_utf8(buf_cstr(&utf), utf.len, &dec);
        if (part->subtype && strcmp(part->subtype, "html") == 0)
            html_to_text(buf_cstr(&dec), dec.len, out);
        else
            buf_append(out, buf_cstr(&dec), dec.len);
        buf_putc(out, '\n');
        buf_free(&dec);
        buf_free(&utf);
    }
    buf_reserve(out, 0);
    out->p[out->len] = '\0';
}
