/*
 * search_eval.c — the message-by-message SEARCH evaluator (see search_eval.h).
 *
 * A program is compiled once per SEARCH into a private tree that holds what
 * every message would otherwise recompute: the keyword's bit, the folded
 * needle. Per message, the folded text (and the decoded header) is computed at
 * most once, and only when a string key is actually reached.
 *
 * Cost: O(messages x message size) for string keys — a scan, as DESIGN.md
 * measured (about a second per 300 MB). The FTS5 index replaces that later;
 * this evaluator stays as the exact re-check and the fallback for short terms.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/utf8.h"
#include "mailbox/msgflags.h"
#include "search/search.h"
#include "mime/mime.h"
#include "search/search_eval.h"

typedef struct cnode {
    const search_node *src;
    int kwbit;                   /* SEARCH_KEYWORD/UNKEYWORD: bit, or -1 when unknown */
    char *needle;                /* folded value of string keys */
    size_t needle_len;
    struct cnode **kids;
    size_t nkids;
} cnode;

struct search_eval {
    cnode *root;
    int needs_text;
    /* Per-message cache, valid during one search_eval_msg() call. */
    const search_msg *msg;
    size_t hdr_len;              /* raw header length including its blank line */
    int have_folded;
    buf folded;                  /* fold(header) then fold(body) */
    size_t folded_hdr_len;
    int have_decoded;
    buf decoded;                 /* fold("name: decoded value\r\n" of every field) */
    buf scratch, scratch2;
};

/* --- Case folding ---------------------------------------------------------------- */

/* Simple (1:1) case folding of the scripts mail is mostly written in. Not the
 * full Unicode table: a later FTS index normalises properly (NFC + folding). */
static uint32_t fold_cp(uint32_t c)
{
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    if (c == 0xb5) return 0x3bc;                                   /* micro sign -> mu */
    if (c >= 0xc0 && c <= 0xde && c != 0xd7) return c + 32;
    if (c < 0x100) return c;
    if (c <= 0x17f) {
        if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149) return c;
        if (c == 0x178) return 0xff;
        if (c == 0x17f) return 's';
        if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
            return (c & 1) ? c + 1 : c;
        return (c & 1) ? c : c + 1;
    }
    if (c >= 0x386 && c <= 0x3ab) {
        if (c == 0x386) return 0x3ac;
        if (c >= 0x388 && c <= 0x38a) return c + 37;
        if (c == 0x38c) return 0x3cc;
        if (c == 0x38e || c == 0x38f) return c + 63;
        if (c >= 0x391 && c != 0x3a2) return c + 32;
        return c;
    }
    if (c == 0x3c2) return 0x3c3;                                  /* final sigma */
    if (c >= 0x400 && c <= 0x40f) return c + 80;
    if (c >= 0x410 && c <= 0x42f) return c + 32;
    if ((c >= 0x460 && c <= 0x481) || (c >= 0x48a && c <= 0x4bf) || (c >= 0x4d0 && c <= 0x52f))
        return (c & 1) ? c : c + 1;
    if (c >= 0x4c1 && c <= 0x4ce) return (c & 1) ? c + 1 : c;
    if (c >= 0x531 && c <= 0x556) return c + 48;
    if ((c >= 0x1e00 && c <= 0x1e95) || (c >= 0x1ea0 && c <= 0x1eff))
        return (c & 1) ? c : c + 1;
    if (c == 0x1e9e) return 0xdf;
    if (c == 0x2126) return 0x3c9;
    if (c == 0x212a) return 'k';
    if (c == 0x212b) return 0xe5;
    if (c >= 0xff21 && c <= 0xff3a) return c + 32;
    return c;
}


void search_fold(const char *s, size_t len, buf *out)
{
    const unsigned char *p = (const unsigned char *)s;
    buf_reserve(out, len);
    size_t i = 0;
    while (i < len) {
        /* ASCII runs are the bulk of mail: fold them in place without decoding. */
        size_t start = i;
        while (i < len && p[i] < 0x80) i++;
        if (i > start) {
            buf_reserve(out, i - start);
            char *d = out->p + out->len;
            for (size_t k = start; k < i; k++) {
                unsigned char c = p[k];
                d[k - start] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
            }
            out->len += i - start;
            out->p[out->len] = '\0';
            continue;
        }
        uint32_t cp;
        size_t n = utf8_decode(p + i, len - i, &cp);
        if (n == 0) {                       /* not UTF-8: the byte stands for itself */
            buf_append(out, p + i, 1);
            i++;
            continue;
        }
        uint32_t f = fold_cp(cp);
        if (f == cp) buf_append(out, p + i, n);
        else utf8_encode(out, f);
        i += n;
    }
    out->p[out->len] = '\0';     /* buf_reserve above allocated; keep the invariant */
}

int64_t search_day(int64_t t, int tz_minutes)
{
    int64_t local = t + (int64_t)tz_minutes * 60;
    int64_t d = local / 86400;
    if (local % 86400 < 0) d--;             /* floor, also before 1970 */
    return d;
}

/* --- Headers ------------------------------------------------------------------------ */

/* Length of the message header including the empty line that ends it; the whole
 * message when there is no body. */
static size_t header_length(const char *raw, size_t len)
{
    if (len >= 2 && raw[0] == '\r' && raw[1] == '\n') return 2;
    const char *p = memmem(raw, len, "\r\n\r\n", 4);
    return p ? (size_t)(p - raw) + 4 : len;
}

/* Calls fn for every field of hdr[0..len): its name and its raw value (the text
 * after the colon, continuation lines included). Returns 1 as soon as fn does. */
typedef int (*field_fn)(void *ctx, const char *name, size_t nlen, const char *val, size_t vlen);

static int header_each_field(const char *hdr, size_t len, field_fn fn, void *ctx)
{
    size_t i = 0;
    while (i < len) {
        size_t line = i;
        /* The field runs to the CRLF not followed by whitespace. */
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
        if (memchr(hdr + line, '\n', nlen)) continue;    /* a continuation without a field */
        const char *val = colon + 1;
        size_t vlen = (size_t)(hdr + end - val);
        if (fn(ctx, hdr + line, nlen, val, vlen)) return 1;
    }
    return 0;
}

/* --- Compilation ------------------------------------------------------------------- */

static void cnode_free(cnode *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->nkids; i++) cnode_free(c->kids[i]);
    free(c->kids);
    free(c->needle);
    free(c);
}

static cnode *compile(search_eval *e, const search_node *n, const char *const *keywords,
                      size_t nkeywords, int depth)
{
    if (!n || depth > SEARCH_EVAL_DEPTH_MAX) return NULL;
    cnode *c = xcalloc(1, sizeof *c);
    c->src = n;
    c->kwbit = -1;
    switch (n->op) {
    case SEARCH_KEYWORD:
    case SEARCH_UNKEYWORD:
        /* Keywords are atoms, compared case-insensitively (RFC 3501 9, note 3). */
        for (size_t i = 0; i < nkeywords && i < 64; i++)
            if (keywords[i] && n->value && strcasecmp(keywords[i], n->value) == 0) {
                c->kwbit = (int)i;
                break;
            }
        break;
    case SEARCH_HEADER:
    case SEARCH_BODY:
    case SEARCH_TEXT: {
        buf b = BUF_INIT;
        search_fold(n->value ? n->value : "", n->value ? strlen(n->value) : 0, &b);
        c->needle = buf_steal(&b, &c->needle_len);
        e->needs_text = 1;
        break;
    }
    default:
        break;
    }
    if (n->nkids) {
        c->kids = xcalloc(n->nkids, sizeof *c->kids);
        for (size_t i = 0; i < n->nkids; i++) {
            c->kids[i] = compile(e, n->kids[i], keywords, nkeywords, depth + 1);
            c->nkids++;
            if (!c->kids[i]) {
                cnode_free(c);
                return NULL;
            }
        }
    }
    return c;
}

search_eval *search_eval_new(const search_node *prog, const char *const *keywords,
                             size_t nkeywords)
{
    search_eval *e = xcalloc(1, sizeof *e);
    e->root = compile(e, prog, keywords, nkeywords, 0);
    if (!e->root) {
        free(e);
        return NULL;
    }
    return e;
}

int search_eval_needs_text(const search_eval *e)
{
    return e->needs_text;
}

void search_eval_free(search_eval *e)
{
    if (!e) return;
    cnode_free(e->root);
    buf_free(&e->folded);
    buf_free(&e->decoded);
    buf_free(&e->scratch);
    buf_free(&e->scratch2);
    free(e);
}

/* --- Evaluation --------------------------------------------------------------------- */

static void need_folded(search_eval *e)
{
    if (e->have_folded) return;
    const search_msg *m = e->msg;
    buf_reset(&e->folded);
    search_fold(m->raw, e->hdr_len, &e->folded);
    e->folded_hdr_len = e->folded.len;
    search_fold(m->raw + e->hdr_len, m->raw_len - e->hdr_len, &e->folded);
    e->have_folded = 1;
}

static int decoded_field_cb(void *ctx, const char *name, size_t nlen, const char *val, size_t vlen)
{
    search_eval *e = ctx;
    buf_reset(&e->scratch);
    buf_append(&e->scratch, name, nlen);
    buf_puts(&e->scratch, ": ");
    mime_decode_header(val, vlen, &e->scratch);
    buf_puts(&e->scratch, "\r\n");
    search_fold(e->scratch.p, e->scratch.len, &e->decoded);
    return 0;
}

static void need_decoded(search_eval *e)
{
    if (e->have_decoded) return;
    buf_reset(&e->decoded);
    header_each_field(e->msg->raw, e->hdr_len, decoded_field_cb, e);
    buf_reserve(&e->decoded, 0);
    e->decoded.p[e->decoded.len] = '\0';
    e->have_decoded = 1;
}

typedef struct field_match {
    search_eval *e;
    const cnode *c;
} field_match;

static int is_address_field(const char *name, size_t nlen)
{
    static const char *const fields[] = { "from", "to", "cc", "bcc", "sender", "reply-to" };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strlen(fields[i]) == nlen && strncasecmp(fields[i], name, nlen) == 0) return 1;
    return 0;
}

static int header_field_cb(void *ctx, const char *name, size_t nlen, const char *val, size_t vlen)
{
    field_match *fm = ctx;
    const char *want = fm->c->src->field ? fm->c->src->field : "";
    if (strlen(want) != nlen || strncasecmp(want, name, nlen) != 0) return 0;
    if (fm->c->needle_len == 0) return 1;                  /* presence test */
    buf *dec = &fm->e->scratch, *fold = &fm->e->scratch2;
    buf_reset(dec);
    buf_reset(fold);
    mime_decode_header(val, vlen, dec);
    search_fold(buf_cstr(dec), dec->len, fold);
    if (fold->len >= fm->c->needle_len &&
        memmem(fold->p, fold->len, fm->c->needle, fm->c->needle_len) != NULL)
        return 1;
    if (!is_address_field(name, nlen)) return 0;
    /* Address fields also match in their normalised form, so that FROM
     * user@host finds "<user (comment)@ (comment) host>" as Dovecot does. */
    buf addr = BUF_INIT;
    mime_address_text(buf_cstr(dec), dec->len, &addr);
    buf_reset(fold);
    search_fold(buf_cstr(&addr), addr.len, fold);
    buf_free(&addr);
    return fold->len >= fm->c->needle_len &&
           memmem(fold->p, fold->len, fm->c->needle, fm->c->needle_len) != NULL;
}

static int contains(const char *hay, size_t hlen, const cnode *c)
{
    if (c->needle_len == 0) return 1;
    return hlen >= c->needle_len && memmem(hay, hlen, c->needle, c->needle_len) != NULL;
}

static search_match yes_no(int b)
{
    return b ? SEARCH_MATCH_YES : SEARCH_MATCH_NO;
}

static search_match eval(search_eval *e, const cnode *c)
{
    const search_node *n = c->src;
    const search_msg *m = e->msg;
    switch (n->op) {
    case SEARCH_ALL:
        return SEARCH_MATCH_YES;
    case SEARCH_AND: {
        search_match r = SEARCH_MATCH_YES;
        for (size_t i = 0; i < c->nkids; i++) {
            search_match k = eval(e, c->kids[i]);
            if (k == SEARCH_MATCH_NO) return SEARCH_MATCH_NO;
            if (k == SEARCH_MATCH_UNKNOWN) r = SEARCH_MATCH_UNKNOWN;
        }
        return r;
    }
    case SEARCH_OR: {
        search_match r = SEARCH_MATCH_NO;
        for (size_t i = 0; i < c->nkids; i++) {
            search_match k = eval(e, c->kids[i]);
            if (k == SEARCH_MATCH_YES) return SEARCH_MATCH_YES;
            if (k == SEARCH_MATCH_UNKNOWN) r = SEARCH_MATCH_UNKNOWN;
        }
        return r;
    }
    case SEARCH_NOT: {
        /* One kid by the grammar; several are read as NOT (a AND b). */
        search_match r = SEARCH_MATCH_YES;
        for (size_t i = 0; i < c->nkids; i++) {
            search_match k = eval(e, c->kids[i]);
            if (k == SEARCH_MATCH_NO) { r = SEARCH_MATCH_NO; break; }
            if (k == SEARCH_MATCH_UNKNOWN) r = SEARCH_MATCH_UNKNOWN;
        }
        if (r == SEARCH_MATCH_UNKNOWN) return r;
        return r == SEARCH_MATCH_YES ? SEARCH_MATCH_NO : SEARCH_MATCH_YES;
    }
    case SEARCH_UIDS:
        return yes_no(uidset_contains(&n->set, m->uid));
    case SEARCH_SEQSET:
    case SEARCH_RECENT:
        return SEARCH_MATCH_NO;
    case SEARCH_FLAGS:
        return yes_no((m->flags & n->flags) == n->flags);
    case SEARCH_NOFLAGS:
        return yes_no((m->flags & n->flags) == 0);
    case SEARCH_KEYWORD:
        return yes_no(c->kwbit >= 0 && (m->keywords >> c->kwbit) & 1);
    case SEARCH_UNKEYWORD:
        return yes_no(c->kwbit < 0 || !((m->keywords >> c->kwbit) & 1));
    case SEARCH_BEFORE:
        return yes_no(search_day(m->internaldate, m->internaldate_tz) < n->number);
    case SEARCH_ON:
        return yes_no(search_day(m->internaldate, m->internaldate_tz) == n->number);
    case SEARCH_SINCE:
        return yes_no(search_day(m->internaldate, m->internaldate_tz) >= n->number);
    case SEARCH_SENTBEFORE:
        return yes_no(m->has_sentdate && search_day(m->sentdate, m->sentdate_tz) < n->number);
    case SEARCH_SENTON:
        return yes_no(m->has_sentdate && search_day(m->sentdate, m->sentdate_tz) == n->number);
    case SEARCH_SENTSINCE:
        return yes_no(m->has_sentdate && search_day(m->sentdate, m->sentdate_tz) >= n->number);
    case SEARCH_LARGER:
        return yes_no(n->number < 0 || m->size > (uint64_t)n->number);
    case SEARCH_SMALLER:
        return yes_no(n->number > 0 && m->size < (uint64_t)n->number);
    case SEARCH_HEADER: {
        if (!m->raw) return SEARCH_MATCH_UNKNOWN;
        field_match fm = { e, c };
        return yes_no(header_each_field(m->raw, e->hdr_len, header_field_cb, &fm));
    }
    case SEARCH_BODY:
        if (!m->raw) return SEARCH_MATCH_UNKNOWN;
        need_folded(e);
        return yes_no(contains(e->folded.p + e->folded_hdr_len,
                               e->folded.len - e->folded_hdr_len, c));
    case SEARCH_TEXT:
        if (!m->raw) return SEARCH_MATCH_UNKNOWN;
        need_folded(e);
        if (contains(e->folded.p, e->folded.len, c)) return SEARCH_MATCH_YES;
        need_decoded(e);
        return yes_no(contains(e->decoded.p, e->decoded.len, c));
    case SEARCH_REGEX:
        /* Not produced by the IMAP parser yet (X-REGEX is not advertised). */
        return SEARCH_MATCH_NO;
    }
    return SEARCH_MATCH_NO;
}

search_match search_eval_msg(search_eval *e, const search_msg *msg)
{
    e->msg = msg;
    e->have_folded = 0;
    e->have_decoded = 0;
    e->hdr_len = msg->raw ? header_length(msg->raw, msg->raw_len) : 0;
    search_match r = eval(e, e->root);
    e->msg = NULL;
    return r;
}
