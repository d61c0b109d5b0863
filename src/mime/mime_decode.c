/*
 * mime_decode.c — content and header decoding: base64 and quoted-printable
 * (RFC 2045 6.7, 6.8), a part's transfer encoding, and RFC 2047 encoded words.
 *
 * Used wherever text must be read as text: SEARCH (search_eval.c) and the
 * webhook's JSON (outbound_json.c). Decoders are lenient the way RFC 2045 advises
 * (characters outside the base64 alphabet are ignored, a '=' that starts no
 * escape is kept) and never fail: hostile input yields some bytes, never a crash.
 * Charsets: UTF-8 and US-ASCII pass through; ISO-8859-1 and its aliases (and
 * windows-1252, read as Latin-1) become UTF-8; an encoded word in any other
 * charset is left encoded.
 */
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/utf8.h"
#include "mime/mime.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

void mime_decode_base64(const char *s, size_t n, buf *out)
{
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=') break;
        int v = b64val((unsigned char)s[i]);
        if (v < 0) continue;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf_putc(out, (char)((acc >> bits) & 0xff));
        }
    }
}

void mime_decode_qp(const char *s, size_t n, int q_words, buf *out)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '=') {
            if (i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 && hexval((unsigned char)s[i + 2]) >= 0) {
                buf_putc(out, (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2])));
                i += 2;
                continue;
            }
            /* Soft line break: '=' then optional spaces, then (CR)LF. */
            size_t j = i + 1;
            while (j < n && (s[j] == ' ' || s[j] == '\t')) j++;
            if (j < n && s[j] == '\r') j++;
            if (j < n && s[j] == '\n') { i = j; continue; }
            if (j == n) break;
            buf_putc(out, c);
        } else if (c == '_' && q_words) {
            buf_putc(out, ' ');          /* RFC 2047 4.2 (2) */
        } else {
            buf_putc(out, c);
        }
    }
}

void mime_decode_part(const char *msg, const mime_part *p, buf *out)
{
    const char *b = msg + p->body_off;
    if (p->encoding && !strcasecmp(p->encoding, "base64")) mime_decode_base64(b, p->body_len, out);
    else if (p->encoding && !strcasecmp(p->encoding, "quoted-printable")) mime_decode_qp(b, p->body_len, 0, out);
    else buf_append(out, b, p->body_len);
}

/* 1: UTF-8 or US-ASCII (bytes pass), 2: Latin-1 (bytes become UTF-8), 0: other. */
static int charset_kind(const char *cs, size_t n)
{
    static const char *const same[] = { "utf-8", "utf8", "us-ascii" };
    static const char *const latin1[] = { "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1",
                                          "latin-1", "l1", "windows-1252", "cp1252" };
    const char *star = memchr(cs, '*', n);          /* RFC 2231 5: charset*language */
    if (star) n = (size_t)(star - cs);
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        if (strlen(same[i]) == n && !strncasecmp(cs, same[i], n)) return 1;
    for (size_t i = 0; i < sizeof latin1 / sizeof latin1[0]; i++)
        if (strlen(latin1[i]) == n && !strncasecmp(cs, latin1[i], n)) return 2;
    return 0;
}

void mime_charset_to_utf8(const char *charset, const char *s, size_t n, buf *out)
{
    if (charset && charset_kind(charset, strlen(charset)) == 2) {
        for (size_t i = 0; i < n; i++) utf8_encode(out, (unsigned char)s[i]);
    } else {
        buf_append(out, s, n);
    }
}

/* One encoded word "=?charset?B|Q?text?=" at s (RFC 2047 2): appends its text as
 * UTF-8 and returns its length, or 0 when s holds no word we can decode. */
static size_t decode_word(const char *s, size_t len, buf *out)
{
    if (len < 8 || s[0] != '=' || s[1] != '?') return 0;
    const char *cs = s + 2;
    const char *q1 = memchr(cs, '?', len - 2);
    if (!q1 || q1 == cs || (size_t)(q1 - s) + 3 >= len || q1[2] != '?') return 0;
    char enc = q1[1];
    const char *text = q1 + 3, *endp = NULL;
    for (const char *p = text; p + 1 < s + len; p++) {
        if (p[0] == '?' && p[1] == '=') { endp = p; break; }
        if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') return 0;
    }
    int kind = charset_kind(cs, (size_t)(q1 - cs));
    if (!endp || kind == 0) return 0;
    buf raw = BUF_INIT;
    if (enc == 'B' || enc == 'b') mime_decode_base64(text, (size_t)(endp - text), &raw);
    else if (enc == 'Q' || enc == 'q') mime_decode_qp(text, (size_t)(endp - text), 1, &raw);
    else return 0;
    if (kind == 2) {
        for (size_t i = 0; i < raw.len; i++) utf8_encode(out, (unsigned char)raw.p[i]);
    } else {
        buf_append(out, buf_cstr(&raw), raw.len);
    }
    buf_free(&raw);
    return (size_t)(endp + 2 - s);
}

void mime_decode_header(const char *v, size_t len, buf *out)
{
    size_t i = 0;
    while (i < len && (v[i] == ' ' || v[i] == '\t')) i++;
    int last_was_word = 0, ws_pending = 0;
    size_t ws_start = 0;
    size_t start = out->len;
    while (i < len) {
        char c = v[i];
        if (c == '\r' || c == '\n') { i++; continue; }
        if (c == ' ' || c == '\t') {
            if (!ws_pending) ws_start = out->len;
            ws_pending = 1;
            buf_putc(out, c);
            i++;
            continue;
        }
        if (c == '=' && i + 1 < len && v[i + 1] == '?') {
            size_t mark = out->len;
            size_t n = decode_word(v + i, len - i, out);
            if (n) {
                /* RFC 2047 6.2: whitespace between two encoded words disappears. */
                if (last_was_word && ws_pending) {
                    size_t wlen = out->len - mark;
                    memmove(out->p + ws_start, out->p + mark, wlen);
                    buf_truncate(out, ws_start + wlen);
                }
                i += n;
                last_was_word = 1;
                ws_pending = 0;
                continue;
            }
        }
        buf_putc(out, c);
        last_was_word = 0;
        ws_pending = 0;
        i++;
    }
    while (out->len > start && (out->p[out->len - 1] == ' ' || out->p[out->len - 1] == '\t'))
        buf_truncate(out, out->len - 1);
}
