/*
 * mime_params.c — parameters of Content-Type and Content-Disposition values
 * (RFC 2045 5.1, RFC 2183, RFC 2231).
 *
 * OFFERS
 *   mime_params_parse()  "; name=value; name*0=...; ..." into a list, with
 *                        RFC 2231 continuations joined.
 *   mime_token_end()     where an RFC 2045 token starting at i ends.
 *   mime_params_free()
 *
 * PROMISES
 *   Lenient the way deployed servers are: comments anywhere between items,
 *   unquoted values that hold tspecials ("boundary=----=_Part_1"), a missing
 *   ';' between parameters. RFC 2231 continuations name*0, name*1, ... are joined
 *   in index order: when every section is plain the result is "name" with the
 *   concatenated value; when any is extended (name*0*=) the result is "name*"
 *   holding one extended value, charset'language' prefix kept as given
 *   ("utf-8''a%20b"), plain sections percent-encoded into it and "''" put in
 *   front when the first section had no prefix. Values are never decoded.
 *   The first parameter of a name wins; at most MIME_PARAMS_MAX are kept.
 *
 * DIAGNOSTICS
 *   None: an item that cannot be read is skipped.
 */
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/limits.h"
#include "mime/mime.h"
#include "mime/mime_internal.h"

/* RFC 2231 section numbers above this are not continuations (nobody splits a
 * value into ten thousand pieces; the cap keeps the number parse trivial). */
#define MIME_PARAM_SECTION_MAX 9999

static int is_tspecial(unsigned char c)
{
    return c && strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

/* Token bytes: RFC 2045's, plus 8-bit bytes (seen in the wild; harmless). */
static int is_token_char(unsigned char c)
{
    return c > 32 && c != 127 && !is_tspecial(c);
}

size_t mime_token_end(const char *s, size_t n, size_t i)
{
    while (i < n && is_token_char((unsigned char)s[i])) i++;
    return i;
}

void mime_params_free(mime_param *ps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ps[i].name);
        free(ps[i].value);
    }
    free(ps);
}

/* A parameter name split into its RFC 2231 parts. */
typedef struct param_name {
    size_t base_len;   /* bytes before the first '*' (all of it when none) */
    int section;       /* N of name*N / name*N*, -1 when not a continuation */
    int extended;      /* name*N* (section) */
} param_name;

static param_name param_name_split(const char *name)
{
    param_name r = { strlen(name), -1, 0 };
    const char *star = strchr(name, '*');
    if (!star || star == name) return r;
    const char *d = star + 1;
    if (*d < '0' || *d > '9') return r;          /* "name*" alone: one extended value */
    long v = 0;
    while (*d >= '0' && *d <= '9') {
        v = v * 10 + (*d - '0');
        if (v > MIME_PARAM_SECTION_MAX) return r;
        d++;
    }
    int ext = 0;
    if (*d == '*') { ext = 1; d++; }
    if (*d) return r;
    r.base_len = (size_t)(star - name);
    r.section = (int)v;
    r.extended = ext;
    return r;
}

static int param_exists(const mime_param *ps, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (strlen(ps[i].name) == len && mime_ascii_casecmp_n(ps[i].name, name, len) == 0)
            return 1;
    return 0;
}

/* attribute-char of RFC 2231: what may stand unencoded in an extended value. */
static int is_attr_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$&+-.^_`|~", c));
}

static void percent_encode(buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (is_attr_char(c)) {
            buf_putc(out, (char)c);
        } else {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };
            buf_append(out, e, 3);
        }
    }
}

/*
 * Joins RFC 2231 continuations of raw[0..nraw) into *out. O(n^2) in the number
 * of parameters, which MIME_PARAMS_MAX bounds.
 */
static void params_join(mime_param *raw, size_t nraw, mime_param **out, size_t *nout)
{
    mime_param *res = nraw ? xcalloc(nraw, sizeof *res) : NULL;
    size_t nres = 0;
    param_name *pn = nraw ? xcalloc(nraw, sizeof *pn) : NULL;
    char *used = nraw ? xcalloc(nraw, 1) : NULL;
    size_t *grp = nraw ? xcalloc(nraw, sizeof *grp) : NULL;
    for (size_t k = 0; k < nraw; k++) pn[k] = param_name_split(raw[k].name);

    for (size_t k = 0; k < nraw; k++) {
        if (used[k]) continue;
        used[k] = 1;
        if (pn[k].section < 0) {
            if (!param_exists(res, nres, raw[k].name)) {
                res[nres].name = raw[k].name;
                res[nres].value = raw[k].value;
                raw[k].name = raw[k].value = NULL;
                nres++;
            }
            continue;
        }
        /* Every section of this base name, in index order (insertion sort keeps
         * the first of two equal indexes first; the later one is dropped). */
        size_t ng = 0;
        grp[ng++] = k;
        for (size_t j = k + 1; j < nraw; j++) {
            if (used[j] || pn[j].section < 0 || pn[j].base_len != pn[k].base_len ||
                mime_ascii_casecmp_n(raw[j].name, raw[k].name, pn[k].base_len) != 0)
                continue;
            used[j] = 1;
            size_t at = ng++;
            while (at > 0 && pn[grp[at - 1]].section > pn[j].section) {
                grp[at] = grp[at - 1];
                at--;
            }
            grp[at] = j;
        }
        int any_ext = 0;
        for (size_t g = 0; g < ng; g++) any_ext |= pn[grp[g]].extended;
        buf name = BUF_INIT, value = BUF_INIT;
        buf_append(&name, raw[k].name, pn[k].base_len);
        if (any_ext) buf_putc(&name, '*');
        if (any_ext && !pn[grp[0]].extended) buf_append(&value, "''", 2);
        int prev = -1;
        for (size_t g = 0; g < ng; g++) {
            const param_name *q = &pn[grp[g]];
            if (q->section == prev) continue;
            prev = q->section;
            if (!any_ext || q->extended) buf_puts(&value, raw[grp[g]].value);
            else percent_encode(&value, raw[grp[g]].value);
        }
        if (!value.p) buf_append(&value, "", 0);
        if (param_exists(res, nres, name.p)) {
            buf_free(&name);
            buf_free(&value);
            continue;
        }
        res[nres].name = buf_steal(&name, NULL);
        res[nres].value = buf_steal(&value, NULL);
        nres++;
    }
    free(pn);
    free(used);
    free(grp);
    if (nres == 0) {
        free(res);
        res = NULL;
    }
    *out = res;
    *nout = nres;
}

void mime_params_parse(const char *s, size_t n, size_t i, mime_param **ps, size_t *np)
{
    mime_param *raw = NULL;
    size_t nraw = 0, cap = 0;
    buf v = BUF_INIT;
    while (i < n && nraw < MIME_PARAMS_MAX) {
        i = mime_skip_cfws(s, n, i, NULL);
        if (i >= n) break;
        if (s[i] == ';') { i++; continue; }
        size_t a = i;
        i = mime_token_end(s, n, i);
        if (i == a) { i++; continue; }                 /* a stray byte */
        size_t ae = i;
        i = mime_skip_cfws(s, n, i, NULL);
        if (i >= n || s[i] != '=') continue;            /* a name without a value */
        i = mime_skip_cfws(s, n, i + 1, NULL);
        buf_reset(&v);
        if (i < n && s[i] == '"') {
            i = mime_read_quoted(s, n, i, &v);
        } else {
            /* Lenient unquoted value: up to ';', space or a comment, so that
             * tspecials unquoted by careless mailers ("----=_Part") survive. */
            size_t b = i;
            while (i < n && s[i] != ';' && s[i] != ' ' && s[i] != '\t' && s[i] != '(' &&
                   s[i] != '\r' && s[i] != '\n')
                i++;
            buf_append(&v, s + b, i - b);
        }
        if (nraw == cap) {
            cap = cap ? cap * 2 : 4;
            raw = xrealloc(raw, cap * sizeof *raw);
        }
        raw[nraw].name = xstrndup(s + a, ae - a);
        raw[nraw].value = xstrndup(buf_cstr(&v), v.len);
        nraw++;
    }
    buf_free(&v);
    params_join(raw, nraw, ps, np);
    mime_params_free(raw, nraw);
}
