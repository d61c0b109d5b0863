/*
 * imap_utf7.c — mailbox names: RFC 3501 5.1.3 modified UTF-7 <-> UTF-8.
 *
 * OFFERS
 *   imap_utf7_to_utf8  what a client sent -> the name we store
 *   imap_utf8_to_utf7  a stored name -> what we send
 *
 * PROMISES
 *   Strict in both directions, so that every name has exactly one spelling on the
 *   wire and names cannot collide or smuggle bytes: the decoder refuses bytes
 *   outside 0x20..0x7e, a bare '&' (it must be "&-"), characters other than
 *   modified base64 in a run, a run that does not end in '-', an empty run, runs
 *   right after one another (one run is shorter), padding bits that are not
 *   zero or amount to a whole base64 character (not the shortest form), unpaired
 *   surrogates, U+0000, and printable ASCII encoded in base64 (it must be sent
 *   as itself). The encoder refuses invalid, overlong or surrogate UTF-8 and
 *   code points over U+10FFFF.
 *
 * DIAGNOSTICS
 *   -1 on invalid input, with `out` as it was before the call.
 */
#include <string.h>

#include "util/buf.h"
#include "util/utf8.h"
#include "imap/imap_parse.h"

static const char utf7_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == ',') return 63;
    return -1;
}


/* Decodes the run after '&' up to its '-'; *pp ends just after the '-'. */
static int utf7_run(const unsigned char **pp, buf *out)
{
    const unsigned char *s = *pp;
    uint32_t bits = 0, high = 0;
    int nbits = 0;
    size_t units = 0;
    for (; *s && *s != '-'; s++) {
        int v = b64_value(*s);
        if (v < 0) return -1;
        bits = (bits << 6) | (uint32_t)v;
        nbits += 6;
        if (nbits < 16) continue;
        nbits -= 16;
        uint32_t u = (bits >> nbits) & 0xffff;
        bits &= (1u << nbits) - 1;
        units++;
        if (high) {
            if (u < 0xdc00 || u > 0xdfff) return -1;
            utf8_encode(out, 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00));
            high = 0;
        } else if (u >= 0xd800 && u <= 0xdbff) {
            high = u;
        } else if (u >= 0xdc00 && u <= 0xdfff) {
            return -1;
        } else if (u == 0 || (u >= 0x20 && u <= 0x7e)) {
            return -1;
        } else {
            utf8_encode(out, u);
        }
    }
    if (*s != '-' || units == 0 || high || nbits >= 6 || bits != 0) return -1;
    *pp = s + 1;
    return 0;
}

int imap_utf7_to_utf8(const char *in, buf *out)
{
    size_t start = out->len;
    const unsigned char *s = (const unsigned char *)in;
    int after_run = 0;
    while (*s) {
        if (*s < 0x20 || *s > 0x7e) goto fail;
        if (*s != '&') {
            buf_putc(out, (char)*s++);
            after_run = 0;
            continue;
        }
        s++;
        if (*s == '-') {
            buf_putc(out, '&');
            s++;
            after_run = 0;
            continue;
        }
        if (after_run || utf7_run(&s, out) < 0) goto fail;
        after_run = 1;
    }
    if (!out->p) buf_reserve(out, 0), out->p[0] = '\0';
    return 0;
fail:
    if (out->p) buf_truncate(out, start);
    return -1;
}

static void put_unit(buf *out, uint32_t u, uint32_t *bits, int *nbits)
{
    *bits = (*bits << 16) | u;
    *nbits += 16;
    while (*nbits >= 6) {
        *nbits -= 6;
        buf_putc(out, utf7_b64[(*bits >> *nbits) & 0x3f]);
    }
    *bits &= (1u << *nbits) - 1;
}

int imap_utf8_to_utf7(const char *in, buf *out)
{
    size_t start = out->len;
    const unsigned char *s = (const unsigned char *)in;
    size_t len = strlen(in);
    while (*s) {
        if (*s >= 0x20 && *s <= 0x7e) {
            if (*s == '&') buf_puts(out, "&-");
            else buf_putc(out, (char)*s);
            s++;
            continue;
        }
        uint32_t bits = 0;
        int nbits = 0;
        buf_putc(out, '&');
        while (*s && !(*s >= 0x20 && *s <= 0x7e)) {
            uint32_t cp;
            size_t n = utf8_decode(s, len - (size_t)(s - (const unsigned char *)in), &cp);
            if (n == 0) goto fail;
            s += n;
            if (cp >= 0x10000) {
                put_unit(out, 0xd800 + ((cp - 0x10000) >> 10), &bits, &nbits);
                put_unit(out, 0xdc00 + ((cp - 0x10000) & 0x3ff), &bits, &nbits);
            } else {
                put_unit(out, cp, &bits, &nbits);
            }
        }
        if (nbits) buf_putc(out, utf7_b64[(bits << (6 - nbits)) & 0x3f]);
        buf_putc(out, '-');
    }
    if (!out->p) buf_reserve(out, 0), out->p[0] = '\0';
    return 0;
fail:
    buf_truncate(out, start);
    return -1;
}
