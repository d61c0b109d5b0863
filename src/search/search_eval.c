/*
 * search_eval.c — the message-by-message SEARCH evaluator (see search_eval.h).
 *
 * A program is compiled once per SEARCH into a private tree that holds what
 * every message would otherwise recompute: the keyword's bit, the folded
 * needle, the compiled regular expression. Per message, the MIME parse and the
 * searchable text (search_text.c: decoded, the same text the FTS5 index holds)
 * are computed at most once, and only when a string key is actually reached.
 *
 * Cost: O(messages x message size) for string keys — a scan, as DESIGN.md
 * measured (about a second per 300 MB). store_search.c answers what the index
 * can with SQL and FTS5 and calls this evaluator only for the candidates it
 * cannot decide (short terms, HEADER, X-REGEX): it is the exact reference.
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
#include "search/search_regex.h"
#include "search/search_text.h"

typedef struct cnode {
    const search_node *src;
    int kwbit;                   /* SEARCH_KEYWORD/UNKEYWORD: bit, or -1 when unknown */
    char *needle;                /* folded value of string keys */
    size_t needle_len;
    search_regex *re;            /* SEARCH_REGEX */
    struct cnode **kids;
    size_t nkids;
} cnode;

struct search_eval {
    cnode *root;
    int needs_text;
    int limited;                 /* a regex hit its limits (search_eval_limited) */
    /* Per-message cache, valid during one search_eval_msg() call. */
    const search_msg *msg;
    mime_part *part;             /* parse of msg->raw, or NULL */
    int have_text, have_folded;
    buf hdr_text, body_text;     /* search_text of the message */
    buf hdr_fold, body_fold;     /* the same, folded */
    buf scratch, scratch2, scratch3;
};

/* --- Case folding ---------------------------------------------------------------- */

/* Simple (1:1) case folding of the scripts mail is mostly written in. Not the
 * full Unicode table; the FTS5 index holds text folded by this very function
 * (store_index.c), so index and evaluator agree whatever the table says. */
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

/* Canonical composition (NFC) of an ASCII letter followed by one combining
 * mark of the Latin scripts: text written in NFD (macOS file names, some
 * mailers) then matches text written precomposed. Generated from the Unicode
 * data (Python unicodedata.normalize('NFC', letter + mark)); sorted by mark,
 * then letter. Not full NFC: several marks on one letter and non-Latin
 * scripts stay as written. */
static const struct nfc_pair { uint16_t mark; char base; uint16_t composed; } nfc_pairs[] = {
    { 0x300, 'A', 0x00c0 }, { 0x300, 'E', 0x00c8 }, { 0x300, 'I', 0x00cc }, { 0x300, 'N', 0x01f8 },
    { 0x300, 'O', 0x00d2 }, { 0x300, 'U', 0x00d9 }, { 0x300, 'W', 0x1e80 }, { 0x300, 'Y', 0x1ef2 },
    { 0x300, 'a', 0x00e0 }, { 0x300, 'e', 0x00e8 }, { 0x300, 'i', 0x00ec }, { 0x300, 'n', 0x01f9 },
    { 0x300, 'o', 0x00f2 }, { 0x300, 'u', 0x00f9 }, { 0x300, 'w', 0x1e81 }, { 0x300, 'y', 0x1ef3 },
    { 0x301, 'A', 0x00c1 }, { 0x301, 'C', 0x0106 }, { 0x301, 'E', 0x00c9 }, { 0x301, 'G', 0x01f4 },
    { 0x301, 'I', 0x00cd }, { 0x301, 'K', 0x1e30 }, { 0x301, 'L', 0x0139 }, { 0x301, 'M', 0x1e3e },
    { 0x301, 'N', 0x0143 }, { 0x301, 'O', 0x00d3 }, { 0x301, 'P', 0x1e54 }, { 0x301, 'R', 0x0154 },
    { 0x301, 'S', 0x015a }, { 0x301, 'U', 0x00da }, { 0x301, 'W', 0x1e82 }, { 0x301, 'Y', 0x00dd },
    { 0x301, 'Z', 0x0179 }, { 0x301, 'a', 0x00e1 }, { 0x301, 'c', 0x0107 }, { 0x301, 'e', 0x00e9 },
    { 0x301, 'g', 0x01f5 }, { 0x301, 'i', 0x00ed }, { 0x301, 'k', 0x1e31 }, { 0x301, 'l', 0x013a },
    { 0x301, 'm', 0x1e3f }, { 0x301, 'n', 0x0144 }, { 0x301, 'o', 0x00f3 }, { 0x301, 'p', 0x1e55 },
    { 0x301, 'r', 0x0155 }, { 0x301, 's', 0x015b }, { 0x301, 'u', 0x00fa }, { 0x301, 'w', 0x1e83 },
    { 0x301, 'y', 0x00fd }, { 0x301, 'z', 0x017a }, { 0x302, 'A', 0x00c2 }, { 0x302, 'C', 0x0108 },
    { 0x302, 'E', 0x00ca }, { 0x302, 'G', 0x011c }, { 0x302, 'H', 0x0124 }, { 0x302, 'I', 0x00ce },
    { 0x302, 'J', 0x0134 }, { 0x302, 'O', 0x00d4 }, { 0x302, 'S', 0x015c }, { 0x302, 'U', 0x00db },
    { 0x302, 'W', 0x0174 }, { 0x302, 'Y', 0x0176 }, { 0x302, 'Z', 0x1e90 }, { 0x302, 'a', 0x00e2 },
    { 0x302, 'c', 0x0109 }, { 0x302, 'e', 0x00ea }, { 0x302, 'g', 0x011d }, { 0x302, 'h', 0x0125 },
    { 0x302, 'i', 0x00ee }, { 0x302, 'j', 0x0135 }, { 0x302, 'o', 0x00f4 }, { 0x302, 's', 0x015d },
    { 0x302, 'u', 0x00fb }, { 0x302, 'w', 0x0175 }, { 0x302, 'y', 0x0177 }, { 0x302, 'z', 0x1e91 },
    { 0x303, 'A', 0x00c3 }, { 0x303, 'E', 0x1ebc }, { 0x303, 'I', 0x0128 }, { 0x303, 'N', 0x00d1 },
    { 0x303, 'O', 0x00d5 }, { 0x303, 'U', 0x0168 }, { 0x303, 'V', 0x1e7c }, { 0x303, 'Y', 0x1ef8 },
    { 0x303, 'a', 0x00e3 }, { 0x303, 'e', 0x1ebd }, { 0x303, 'i', 0x0129 }, { 0x303, 'n', 0x00f1 },
    { 0x303, 'o', 0x00f5 }, { 0x303, 'u', 0x0169 }, { 0x303, 'v', 0x1e7d }, { 0x303, 'y', 0x1ef9 },
    { 0x304, 'A', 0x0100 }, { 0x304, 'E', 0x0112 }, { 0x304, 'G', 0x1e20 }, { 0x304, 'I', 0x012a },
    { 0x304, 'O', 0x014c }, { 0x304, 'U', 0x016a }, { 0x304, 'Y', 0x0232 }, { 0x304, 'a', 0x0101 },
    { 0x304, 'e', 0x0113 }, { 0x304, 'g', 0x1e21 }, { 0x304, 'i', 0x012b }, { 0x304, 'o', 0x014d },
    { 0x304, 'u', 0x016b }, { 0x304, 'y', 0x0233 }, { 0x306, 'A', 0x0102 }, { 0x306, 'E', 0x0114 },
    { 0x306, 'G', 0x011e }, { 0x306, 'I', 0x012c }, { 0x306, 'O', 0x014e }, { 0x306, 'U', 0x016c },
    { 0x306, 'a', 0x0103 }, { 0x306, 'e', 0x0115 }, { 0x306, 'g', 0x011f }, { 0x306, 'i', 0x012d },
    { 0x306, 'o', 0x014f }, { 0x306, 'u', 0x016d }, { 0x307, 'A', 0x0226 }, { 0x307, 'B', 0x1e02 },
    { 0x307, 'C', 0x010a }, { 0x307, 'D', 0x1e0a }, { 0x307, 'E', 0x0116 }, { 0x307, 'F', 0x1e1e },
    { 0x307, 'G', 0x0120 }, { 0x307, 'H', 0x1e22 }, { 0x307, 'I', 0x0130 }, { 0x307, 'M', 0x1e40 },
    { 0x307, 'N', 0x1e44 }, { 0x307, 'O', 0x022e }, { 0x307, 'P', 0x1e56 }, { 0x307, 'R', 0x1e58 },
    { 0x307, 'S', 0x1e60 }, { 0x307, 'T', 0x1e6a }, { 0x307, 'W', 0x1e86 }, { 0x307, 'X', 0x1e8a },
    { 0x307, 'Y', 0x1e8e }, { 0x307, 'Z', 0x017b }, { 0x307, 'a', 0x0227 }, { 0x307, 'b', 0x1e03 },
    { 0x307, 'c', 0x010b }, { 0x307, 'd', 0x1e0b }, { 0x307, 'e', 0x0117 }, { 0x307, 'f', 0x1e1f },
    { 0x307, 'g', 0x0121 }, { 0x307, 'h', 0x1e23 }, { 0x307, 'm', 0x1e41 }, { 0x307, 'n', 0x1e45 },
    { 0x307, 'o', 0x022f }, { 0x307, 'p', 0x1e57 }, { 0x307, 'r', 0x1e59 }, { 0x307, 's', 0x1e61 },
    { 0x307, 't', 0x1e6b }, { 0x307, 'w', 0x1e87 }, { 0x307, 'x', 0x1e8b }, { 0x307, 'y', 0x1e8f },
    { 0x307, 'z', 0x017c }, { 0x308, 'A', 0x00c4 }, { 0x308, 'E', 0x00cb }, { 0x308, 'H', 0x1e26 },
    { 0x308, 'I', 0x00cf }, { 0x308, 'O', 0x00d6 }, { 0x308, 'U', 0x00dc }, { 0x308, 'W', 0x1e84 },
    { 0x308, 'X', 0x1e8c }, { 0x308, 'Y', 0x0178 }, { 0x308, 'a', 0x00e4 }, { 0x308, 'e', 0x00eb },
    { 0x308, 'h', 0x1e27 }, { 0x308, 'i', 0x00ef }, { 0x308, 'o', 0x00f6 }, { 0x308, 't', 0x1e97 },
    { 0x308, 'u', 0x00fc }, { 0x308, 'w', 0x1e85 }, { 0x308, 'x', 0x1e8d }, { 0x308, 'y', 0x00ff },
    { 0x30a, 'A', 0x00c5 }, { 0x30a, 'U', 0x016e }, { 0x30a, 'a', 0x00e5 }, { 0x30a, 'u', 0x016f },
    { 0x30a, 'w', 0x1e98 }, { 0x30a, 'y', 0x1e99 }, { 0x30b, 'O', 0x0150 }, { 0x30b, 'U', 0x0170 },
    { 0x30b, 'o', 0x0151 }, { 0x30b, 'u', 0x0171 }, { 0x30c, 'A', 0x01cd }, { 0x30c, 'C', 0x010c },
    { 0x30c, 'D', 0x010e }, { 0x30c, 'E', 0x011a }, { 0x30c, 'G', 0x01e6 }, { 0x30c, 'H', 0x021e },
    { 0x30c, 'I', 0x01cf }, { 0x30c, 'K', 0x01e8 }, { 0x30c, 'L', 0x013d }, { 0x30c, 'N', 0x0147 },
    { 0x30c, 'O', 0x01d1 }, { 0x30c, 'R', 0x0158 }, { 0x30c, 'S', 0x0160 }, { 0x30c, 'T', 0x0164 },
    { 0x30c, 'U', 0x01d3 }, { 0x30c, 'Z', 0x017d }, { 0x30c, 'a', 0x01ce }, { 0x30c, 'c', 0x010d },
    { 0x30c, 'd', 0x010f }, { 0x30c, 'e', 0x011b }, { 0x30c, 'g', 0x01e7 }, { 0x30c, 'h', 0x021f },
    { 0x30c, 'i', 0x01d0 }, { 0x30c, 'j', 0x01f0 }, { 0x30c, 'k', 0x01e9 }, { 0x30c, 'l', 0x013e },
    { 0x30c, 'n', 0x0148 }, { 0x30c, 'o', 0x01d2 }, { 0x30c, 'r', 0x0159 }, { 0x30c, 's', 0x0161 },
    { 0x30c, 't', 0x0165 }, { 0x30c, 'u', 0x01d4 }, { 0x30c, 'z', 0x017e }, { 0x327, 'C', 0x00c7 },
    { 0x327, 'D', 0x1e10 }, { 0x327, 'E', 0x0228 }, { 0x327, 'G', 0x0122 }, { 0x327, 'H', 0x1e28 },
    { 0x327, 'K', 0x0136 }, { 0x327, 'L', 0x013b }, { 0x327, 'N', 0x0145 }, { 0x327, 'R', 0x0156 },
    { 0x327, 'S', 0x015e }, { 0x327, 'T', 0x0162 }, { 0x327, 'c', 0x00e7 }, { 0x327, 'd', 0x1e11 },
    { 0x327, 'e', 0x0229 }, { 0x327, 'g', 0x0123 }, { 0x327, 'h', 0x1e29 }, { 0x327, 'k', 0x0137 },
    { 0x327, 'l', 0x013c }, { 0x327, 'n', 0x0146 }, { 0x327, 'r', 0x0157 }, { 0x327, 's', 0x015f },
    { 0x327, 't', 0x0163 }, { 0x328, 'A', 0x0104 }, { 0x328, 'E', 0x0118 }, { 0x328, 'I', 0x012e },
    { 0x328, 'O', 0x01ea }, { 0x328, 'U', 0x0172 }, { 0x328, 'a', 0x0105 }, { 0x328, 'e', 0x0119 },
    { 0x328, 'i', 0x012f }, { 0x328, 'o', 0x01eb }, { 0x328, 'u', 0x0173 },
};

static int nfc_cmp(const void *key, const void *elt)
{
    const struct nfc_pair *a = key, *b = elt;
    if (a->mark != b->mark) return (int)a->mark - (int)b->mark;
    return (int)(unsigned char)a->base - (int)(unsigned char)b->base;
}

/* The precomposed form of letter + mark, or 0. */
static uint32_t nfc_compose(unsigned char letter, uint32_t mark)
{
    if (mark < 0x300 || mark > 0x36f) return 0;
    struct nfc_pair key = { (uint16_t)mark, (char)letter, 0 };
    const struct nfc_pair *hit = bsearch(&key, nfc_pairs, sizeof nfc_pairs / sizeof nfc_pairs[0],
                                         sizeof nfc_pairs[0], nfc_cmp);
    return hit ? hit->composed : 0;
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
        /* NFC first, then fold: the letter was already written (folded) by
         * the ASCII run above; replace it by the composed character. */
        uint32_t composed = i > 0 && p[i - 1] < 0x80 ? nfc_compose(p[i - 1], cp) : 0;
        if (composed) {
            out->len--;
            utf8_encode(out, fold_cp(composed));
            i += n;
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

/* --- Compilation ------------------------------------------------------------------- */

static void cnode_free(cnode *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->nkids; i++) cnode_free(c->kids[i]);
    free(c->kids);
    free(c->needle);
    search_regex_free(c->re);
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
    case SEARCH_REGEX: {
        char err[128];
        c->re = search_regex_new(n->value ? n->value : "", err, sizeof err);
        if (!c->re) {
            cnode_free(c);
            return NULL;
        }
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
    buf_free(&e->hdr_text);
    buf_free(&e->body_text);
    buf_free(&e->hdr_fold);
    buf_free(&e->body_fold);
    buf_free(&e->scratch);
    buf_free(&e->scratch2);
    buf_free(&e->scratch3);
    free(e);
}

/* --- Evaluation --------------------------------------------------------------------- */

static void need_parse(search_eval *e)
{
    if (!e->part) e->part = mime_parse(e->msg->raw, e->msg->raw_len);
}

static void need_text(search_eval *e)
{
    if (e->have_text) return;
    need_parse(e);
    const search_msg *m = e->msg;
    buf_reset(&e->hdr_text);
    buf_reset(&e->body_text);
    search_text_header(m->raw + e->part->hdr_off, e->part->hdr_len, &e->hdr_text);
    search_text_body(m->raw, m->raw_len, e->part, &e->body_text);
    e->have_text = 1;
}

static void need_folded(search_eval *e)
{
    if (e->have_folded) return;
    need_text(e);
    buf_reset(&e->hdr_fold);
    buf_reset(&e->body_fold);
    search_fold(buf_cstr(&e->hdr_text), e->hdr_text.len, &e->hdr_fold);
    search_fold(buf_cstr(&e->body_text), e->body_text.len, &e->body_fold);
    e->have_folded = 1;
}

typedef struct field_match {
    search_eval *e;
    const cnode *c;
} field_match;

static int contains_folded(field_match *fm, buf *text)
{
    buf *fold = &fm->e->scratch2;
    buf_reset(fold);
    search_fold(buf_cstr(text), text->len, fold);
    return fold->len >= fm->c->needle_len &&
           memmem(fold->p, fold->len, fm->c->needle, fm->c->needle_len) != NULL;
}

/* The field's value as search_text_header indexes it: decoded, and for address
 * fields also in mime_address_text's normalised form. */
static int header_field_cb(void *ctx, const char *name, size_t nlen, const char *val, size_t vlen)
{
    field_match *fm = ctx;
    const char *want = fm->c->src->field ? fm->c->src->field : "";
    if (strlen(want) != nlen || strncasecmp(want, name, nlen) != 0) return 0;
    if (fm->c->needle_len == 0) return 1;                  /* presence test */
    buf *dec = &fm->e->scratch;
    buf_reset(dec);
    search_text_header_value(val, vlen, dec);
    if (contains_folded(fm, dec)) return 1;
    if (!search_text_is_address_field(name, nlen)) return 0;
    /* FROM user@host finds "<user (comment)@ (comment) host>" as Dovecot does. */
    buf addr = BUF_INIT;
    buf *clean = &fm->e->scratch3;
    mime_address_text(buf_cstr(dec), dec->len, &addr);
    buf_reset(clean);
    search_text_utf8(buf_cstr(&addr), addr.len, clean);
    buf_free(&addr);
    return contains_folded(fm, clean);
}

typedef struct regex_match {
    search_eval *e;
    const cnode *c;
    int hit;
} regex_match;

static int regex_field_cb(void *ctx, const char *name, size_t nlen, const char *val, size_t vlen)
{
    regex_match *rm = ctx;
    const char *want = rm->c->src->field;
    if (strlen(want) != nlen || strncasecmp(want, name, nlen) != 0) return 0;
    buf *dec = &rm->e->scratch;
    buf_reset(dec);
    search_text_header_value(val, vlen, dec);
    search_regex_result r = search_regex_match(rm->c->re, buf_cstr(dec), dec->len);
    if (r == SEARCH_REGEX_LIMIT) rm->e->limited = 1;
    rm->hit = r == SEARCH_REGEX_MATCH;
    return r != SEARCH_REGEX_NOMATCH;     /* a match or the limit ends the walk */
}

static search_match eval_regex(search_eval *e, const cnode *c)
{
    const search_node *n = c->src;
    if (n->field) {
        need_parse(e);
        regex_match rm = { e, c, 0 };
        search_text_each_field(e->msg->raw + e->part->hdr_off, e->part->hdr_len, regex_field_cb, &rm);
        return rm.hit ? SEARCH_MATCH_YES : SEARCH_MATCH_NO;
    }
    need_text(e);
    const buf *subject = &e->body_text;
    if (n->number) {
        /* Header and body: one subject, the header text followed by the body text. */
        buf_reset(&e->scratch);
        buf_append(&e->scratch, buf_cstr(&e->hdr_text), e->hdr_text.len);
        buf_append(&e->scratch, buf_cstr(&e->body_text), e->body_text.len);
        subject = &e->scratch;
    }
    search_regex_result r = search_regex_match(c->re, subject->p ? subject->p : "", subject->len);
    if (r == SEARCH_REGEX_LIMIT) e->limited = 1;
    return r == SEARCH_REGEX_MATCH ? SEARCH_MATCH_YES : SEARCH_MATCH_NO;
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
        need_parse(e);
        field_match fm = { e, c };
        return yes_no(search_text_each_field(m->raw + e->part->hdr_off, e->part->hdr_len,
                                             header_field_cb, &fm));
    }
    case SEARCH_BODY:
        if (!m->raw) return SEARCH_MATCH_UNKNOWN;
        if (c->needle_len == 0) return SEARCH_MATCH_YES;
        need_folded(e);
        return yes_no(contains(e->body_fold.p, e->body_fold.len, c));
    case SEARCH_TEXT:
        if (!m->raw) return SEARCH_MATCH_UNKNOWN;
        if (c->needle_len == 0) return SEARCH_MATCH_YES;
        need_folded(e);
        return yes_no(contains(e->hdr_fold.p, e->hdr_fold.len, c) ||
                      contains(e->body_fold.p, e->body_fold.len, c));
    case SEARCH_REGEX:
        if (!m->raw) return SEARCH_MATCH_UNKNOWN;
        return eval_regex(e, c);
    }
    return SEARCH_MATCH_NO;
}

search_match search_eval_msg(search_eval *e, const search_msg *msg)
{
    e->msg = msg;
    e->have_text = 0;
    e->have_folded = 0;
    mime_free(e->part);
    e->part = NULL;
    search_match r = eval(e, e->root);
    mime_free(e->part);
    e->part = NULL;
    e->msg = NULL;
    return r;
}

int search_eval_limited(const search_eval *e)
{
    return e->limited;
}
