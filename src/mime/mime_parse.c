/*
 * mime_parse.c — the single-pass MIME structure parser (RFC 2045, 2046, 5322).
 *
 * OFFERS
 *   mime_parse()  the part tree of a CRLF message with byte offsets, lengths and
 *                 line counts of every header and body, and the Content-* fields.
 *   mime_free()
 *
 * HOW
 *   One forward walk. Every open multipart pushes its boundary on a stack; a
 *   body ends at the next line that is a delimiter of ANY open boundary,
 *   matched innermost first, so a line "--outer" also ends every multipart
 *   nested inside (RFC 2046 5.1.2, and boundaries that prefix each other work:
 *   a delimiter line is "--" boundary ["--"] *WSP CRLF, exact, never a prefix).
 *   Candidate lines are found with memmem("\n--"); line counts come from one
 *   cursor that moves forward over the message. Cost is linear in the message
 *   size, times at most the boundary-stack depth for lines starting with "--".
 *
 * PROMISES (byte accounting, RFC 3501)
 *   - hdr_len includes the blank line. A header without one is the whole rest
 *     of the data, or, when a delimiter line cuts it, runs up to the CRLF
 *     before that line; the body is then empty. So does a header whose blank
 *     line is directly followed by an enclosing delimiter: that CRLF is the
 *     delimiter's. Hence every part lies inside its parent's body.
 *   - A body ends before the CRLF that precedes a delimiter line (that CRLF
 *     belongs to the delimiter, RFC 2046 5.1.1); a multipart's body runs from
 *     its preamble to the end of its epilogue.
 *   - body_lines counts LFs in the body, plus one for a final line without one.
 *   - Types, subtypes, encodings and dispositions are lowercased. A missing or
 *     unreadable Content-Type is text/plain; charset=US-ASCII (message/rfc822
 *     inside multipart/digest); a text/ part with no parameters gets
 *     charset=US-ASCII too (RFC 2045 5.2, as Dovecot reports it).
 *   - Invariant for the other files: type "multipart" means a parsed multipart
 *     (children, possibly none); type message/rfc822 means `message` is set.
 *     A multipart without a boundary parameter, and a multipart or
 *     message/rfc822 deeper than MIME_DEPTH_MAX or past MIME_PARTS_MAX parts, is
 *     rewritten to an opaque text/plain; charset=US-ASCII.
 *   - Never fails, never reads outside msg[0..len).
 */
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/limits.h"
#include "mime/mime.h"
#include "mime/mime_internal.h"

/* What ended a body: a delimiter line of an open boundary, or the end of data. */
typedef struct mime_scan {
    size_t line;    /* where the delimiter line starts ("--"), or len */
    size_t next;    /* just after the delimiter line */
    int level;      /* index in the boundary stack; -1 at the end of the data */
    int close;      /* close delimiter "--b--" */
} mime_scan;

typedef struct mime_parser {
    const char *msg;
    size_t len;
    const char *bnd[MIME_DEPTH_MAX];     /* open boundaries, outermost first */
    size_t bndlen[MIME_DEPTH_MAX];
    int nbnd;
    size_t nparts;
    size_t lc_pos, lc_count;             /* lc_count = LFs in msg[0..lc_pos) */
} mime_parser;

/* ---- line counting ------------------------------------------------------ */

/* LFs before `pos`. Queries come in (almost) increasing order, so the cursor
 * only moves forward, apart from the CRLF before a delimiter. */
static size_t lf_before(mime_parser *p, size_t pos)
{
    const char *m = p->msg;
    while (p->lc_pos < pos) {
        const char *nl = memchr(m + p->lc_pos, '\n', pos - p->lc_pos);
        if (!nl) {
            p->lc_pos = pos;
            break;
        }
        p->lc_count++;
        p->lc_pos = (size_t)(nl - m) + 1;
    }
    while (p->lc_pos > pos) {
        p->lc_pos--;
        if (m[p->lc_pos] == '\n') p->lc_count--;
    }
    return p->lc_count;
}

/* ---- boundaries ----------------------------------------------------------- */

/* After "--boundary" or "--boundary--": optional WSP, then the line end. */
static int delimiter_tail(const char *m, size_t len, size_t j, size_t *next)
{
    while (j < len && (m[j] == ' ' || m[j] == '\t')) j++;
    if (j >= len) {
        *next = len;
        return 1;
    }
    if (m[j] == '\n') {
        *next = j + 1;
        return 1;
    }
    if (m[j] == '\r' && (j + 1 >= len || m[j + 1] == '\n')) {
        *next = j + 1 >= len ? len : j + 2;
        return 1;
    }
    return 0;
}

/* Is the line at i (a line start, i < len) a delimiter of an open boundary?
 * Innermost first: with identical nested boundaries the inner one wins. */
static int delimiter_at(const mime_parser *p, size_t i, mime_scan *out)
{
    const char *m = p->msg;
    size_t len = p->len;
    if (len - i < 2 || m[i] != '-' || m[i + 1] != '-') return 0;
    size_t avail = len - i - 2;
    for (int k = p->nbnd - 1; k >= 0; k--) {
        size_t bl = p->bndlen[k], next;
        if (bl > avail || memcmp(m + i + 2, p->bnd[k], bl) != 0) continue;
        size_t j = i + 2 + bl;
        if (len - j >= 2 && m[j] == '-' && m[j + 1] == '-' && delimiter_tail(m, len, j + 2, &next)) {
            *out = (mime_scan){ i, next, k, 1 };
            return 1;
        }
        if (delimiter_tail(m, len, j, &next)) {
            *out = (mime_scan){ i, next, k, 0 };
            return 1;
        }
    }
    return 0;
}

/* The next delimiter line at or after `from` (a line start). */
static mime_scan find_delimiter(const mime_parser *p, size_t from)
{
    mime_scan s = { p->len, p->len, -1, 0 };
    if (p->nbnd == 0) return s;
    const char *m = p->msg;
    size_t i = from;
    while (i < p->len) {
        if (m[i] == '-' && delimiter_at(p, i, &s)) return s;
        const char *q = memmem(m + i, p->len - i, "\n--", 3);
        if (!q) break;
        i = (size_t)(q - m) + 1;
    }
    return (mime_scan){ p->len, p->len, -1, 0 };
}

/* Where a body starting at `body_off` ends when `s` ended it. */
static size_t body_end(const mime_parser *p, size_t body_off, const mime_scan *s)
{
    if (s->level < 0) return p->len;
    size_t e = s->line;
    if (e > body_off && p->msg[e - 1] == '\n') {
        e--;
        if (e > body_off && p->msg[e - 1] == '\r') e--;
    }
    return e;
}

/* ---- Content-* fields ----------------------------------------------------- */

enum {
    F_TYPE, F_ENC, F_ID, F_DESC, F_DISP, F_LANG, F_LOC, F_MD5, F_COUNT
};
static const char *const field_names[F_COUNT] = {
    "Content-Type", "Content-Transfer-Encoding", "Content-ID", "Content-Description",
    "Content-Disposition", "Content-Language", "Content-Location", "Content-MD5",
};

static char *lower_dup(const char *s, size_t n)
{
    char *d = xstrndup(s, n);
    for (char *c = d; *c; c++)
        if (*c >= 'A' && *c <= 'Z') *c = (char)(*c + 32);
    return d;
}

static void part_clear_type(mime_part *part)
{
    free(part->type);
    free(part->subtype);
    mime_params_free(part->params, part->nparams);
    part->type = part->subtype = NULL;
    part->params = NULL;
    part->nparams = 0;
}

/* text/plain; charset=US-ASCII, or message/rfc822 inside multipart/digest. */
static void part_default_type(mime_part *part, int digest)
{
    part_clear_type(part);
    part->type = xstrdup(digest ? "message" : "text");
    part->subtype = xstrdup(digest ? "rfc822" : "plain");
}

static void part_add_charset_default(mime_part *part)
{
    if (strcmp(part->type, "text") != 0 || part->nparams) return;
    part->params = xcalloc(1, sizeof *part->params);
    part->params[0].name = xstrdup("CHARSET");
    part->params[0].value = xstrdup("US-ASCII");
    part->nparams = 1;
}

static void part_set_content_type(mime_part *part, const char *s, size_t n, int digest)
{
    size_t i = mime_skip_cfws(s, n, 0, NULL);
    size_t a = i;
    i = mime_token_end(s, n, i);
    size_t ae = i;
    i = mime_skip_cfws(s, n, i, NULL);
    if (ae == a || i >= n || s[i] != '/') {
        part_default_type(part, digest);
        return;
    }
    i = mime_skip_cfws(s, n, i + 1, NULL);
    size_t b = i;
    i = mime_token_end(s, n, i);
    if (i == b) {
        part_default_type(part, digest);
        return;
    }
    part_clear_type(part);
    part->type = lower_dup(s + a, ae - a);
    part->subtype = lower_dup(s + b, i - b);
    mime_params_parse(s, n, i, &part->params, &part->nparams);
}

/* An unstructured value, unfolded and trimmed; NULL when empty. */
static char *value_dup(const char *s, size_t n)
{
    buf v = BUF_INIT;
    mime_unfold(s, n, &v);
    if (v.len == 0) {
        buf_free(&v);
        return NULL;
    }
    char *r = xstrndup(v.p, v.len);
    buf_free(&v);
    return r;
}

/* First token of a structured value, lowercased; NULL when none. */
static char *token_dup(const char *s, size_t n, size_t *after)
{
    size_t i = mime_skip_cfws(s, n, 0, NULL);
    size_t e = mime_token_end(s, n, i);
    if (after) *after = e;
    return e > i ? lower_dup(s + i, e - i) : NULL;
}

/* Content-Language: comma-separated tags, comments dropped, kept as "a,b". */
static char *language_dup(const char *s, size_t n)
{
    buf out = BUF_INIT;
    size_t i = 0;
    while (i < n) {
        i = mime_skip_cfws(s, n, i, NULL);
        if (i >= n) break;
        if (s[i] == ',') { i++; continue; }
        size_t a = i;
        while (i < n && s[i] != ',' && s[i] != '(' && s[i] != ' ' && s[i] != '\t') i++;
        if (out.len) buf_putc(&out, ',');
        buf_append(&out, s + a, i - a);
    }
    if (out.len == 0) {
        buf_free(&out);
        return NULL;
    }
    return buf_steal(&out, NULL);
}

/* Content-Location: a URI that may be folded; whitespace is not part of it
 * (RFC 2557 4.4.1). */
static char *location_dup(const char *s, size_t n)
{
    buf out = BUF_INIT;
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') buf_putc(&out, s[i]);
    if (out.len == 0) return NULL;
    return buf_steal(&out, NULL);
}

/* Reads the Content-* fields of the header msg[start..end). */
static void part_read_fields(mime_parser *p, mime_part *part, size_t start, size_t end, int digest)
{
    size_t voff[F_COUNT], vend[F_COUNT];
    int seen[F_COUNT] = { 0 };
    size_t pos = start;
    mime_field f;
    while (mime_field_next(p->msg, end, &pos, &f)) {
        if (f.name_len < 10 || mime_ascii_casecmp_n(p->msg + f.off, "content-", 8) != 0) continue;
        for (int k = 0; k < F_COUNT; k++) {
            if (seen[k] || !mime_field_is(p->msg, &f, field_names[k])) continue;
            seen[k] = 1;
            voff[k] = f.value_off;
            vend[k] = f.end;
            break;
        }
    }

    /* Structured fields are read from their unfolded value, in `u`. */
    buf u = BUF_INIT;
#define UNFOLD(k) (buf_reset(&u), mime_unfold(p->msg + voff[k], vend[k] - voff[k], &u))
    if (seen[F_TYPE]) {
        UNFOLD(F_TYPE);
        part_set_content_type(part, buf_cstr(&u), u.len, digest);
    } else {
        part_default_type(part, digest);
    }
    if (seen[F_ENC]) {
        UNFOLD(F_ENC);
        part->encoding = token_dup(buf_cstr(&u), u.len, NULL);
    }
    if (seen[F_ID]) part->id = value_dup(p->msg + voff[F_ID], vend[F_ID] - voff[F_ID]);
    if (seen[F_DESC]) part->description = value_dup(p->msg + voff[F_DESC], vend[F_DESC] - voff[F_DESC]);
    if (seen[F_MD5]) part->md5 = value_dup(p->msg + voff[F_MD5], vend[F_MD5] - voff[F_MD5]);
    if (seen[F_LANG]) {
        UNFOLD(F_LANG);
        part->language = language_dup(buf_cstr(&u), u.len);
    }
    if (seen[F_LOC]) {
        UNFOLD(F_LOC);
        part->location = location_dup(buf_cstr(&u), u.len);
    }
    if (seen[F_DISP]) {
        size_t after;
        UNFOLD(F_DISP);
        part->disposition = token_dup(buf_cstr(&u), u.len, &after);
        if (part->disposition)
            mime_params_parse(buf_cstr(&u), u.len, after, &part->disp_params, &part->ndisp_params);
    }
#undef UNFOLD
    buf_free(&u);
}

static const char *param_get(const mime_part *part, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < part->nparams; i++)
        if (strlen(part->params[i].name) == n && mime_ascii_casecmp_n(part->params[i].name, name, n) == 0)
            return part->params[i].value;
    return NULL;
}

/* ---- the tree -------------------------------------------------------------- */

static mime_part *part_new(mime_parser *p)
{
    p->nparts++;
    return xcalloc(1, sizeof(mime_part));
}

static void part_add_child(mime_part *parent, mime_part *child)
{
    /* Capacity doubles at powers of two, so it is implied by the count. */
    size_t n = parent->nchildren;
    if ((n & (n - 1)) == 0) {
        size_t cap = n ? n * 2 : 1;
        parent->children = xrealloc(parent->children, cap * sizeof *parent->children);
    }
    parent->children[parent->nchildren++] = child;
}

enum { KIND_LEAF, KIND_MULTIPART, KIND_MESSAGE };

/* Parses the entity (header and body) that starts at `start`, a line start;
 * returns what ended its body. Recursion depth is bounded by MIME_DEPTH_MAX. */
static mime_scan parse_entity(mime_parser *p, mime_part *part, size_t start, int depth, int digest)
{
    const char *m = p->msg;
    size_t len = p->len;
    mime_scan end = { len, len, -1, 0 };

    /* The header: up to and including the blank line. A delimiter line before
     * the blank line ends the header (and the part: its body is empty). */
    size_t i = start;
    int cut = 0;
    while (i < len) {
        if (m[i] == '\n') {
            i++;
            break;
        }
        if (m[i] == '\r' && (i + 1 >= len || m[i + 1] == '\n')) {
            i = i + 1 >= len ? len : i + 2;
            break;
        }
        if (m[i] == '-' && delimiter_at(p, i, &end)) {
            cut = 1;
            break;
        }
        i = mime_line_end(m, len, i);
    }
    part_read_fields(p, part, start, i, digest);

    int kind = KIND_LEAF;
    const char *boundary = NULL;
    if (strcmp(part->type, "multipart") == 0) {
        boundary = param_get(part, "boundary");
        kind = KIND_MULTIPART;
        if (!boundary || !*boundary) kind = -1;
    } else if (strcmp(part->type, "message") == 0 && strcmp(part->subtype, "rfc822") == 0) {
        kind = KIND_MESSAGE;
    }
    if (kind != KIND_LEAF && (kind < 0 || depth >= MIME_DEPTH_MAX || p->nparts >= MIME_PARTS_MAX)) {
        /* Opaque from here on: its own boundaries are ordinary text. */
        part_default_type(part, 0);
        kind = KIND_LEAF;
    }
    part_add_charset_default(part);

    /* A blank line right before a delimiter of an enclosing multipart is that
     * delimiter's CRLF (RFC 2046 5.1.1), not the end of this header: the
     * entity is cut there like a header without a blank line. A multipart's own
     * boundary is tried first (innermost wins), as everywhere. */
    if (!cut && p->nbnd > 0 && i < len && m[i] == '-') {
        int top = p->nbnd;
        if (kind == KIND_MULTIPART) {
            p->bnd[top] = boundary;
            p->bndlen[top] = strlen(boundary);
            p->nbnd = top + 1;
        }
        mime_scan s;
        if (delimiter_at(p, i, &s) && s.level < top) {
            cut = 1;
            end = s;
        }
        p->nbnd = top;
    }
    /* Cut: the CRLF before the delimiter line is the delimiter's here too, so
     * that every part lies inside its parent's body. */
    if (cut) i = body_end(p, start, &end);
    part->hdr_off = start;
    part->hdr_len = i - start;
    part->body_off = i;

    size_t lf0 = lf_before(p, i);
    if (kind == KIND_MULTIPART && !cut) {
        int digest_children = strcmp(part->subtype, "digest") == 0;
        int lvl = p->nbnd;              /* < MIME_DEPTH_MAX: one per multipart level */
        p->bnd[lvl] = boundary;
        p->bndlen[lvl] = strlen(boundary);
        p->nbnd = lvl + 1;
        mime_scan s = find_delimiter(p, i);          /* the preamble */
        while (s.level == lvl && !s.close) {
            if (p->nparts < MIME_PARTS_MAX) {
                mime_part *child = part_new(p);
                part_add_child(part, child);
                s = parse_entity(p, child, s.next, depth + 1, digest_children);
            } else {
                s = find_delimiter(p, s.next);      /* folded into this body */
            }
        }
        p->nbnd = lvl;
        /* After the close delimiter, the epilogue runs to the next delimiter of
         * an enclosing multipart (or the end); else an enclosing delimiter or
         * the end of the data ended this multipart, closed or not. */
        if (s.level == lvl) s = find_delimiter(p, s.next);
        end = s;
    } else if (kind == KIND_MESSAGE) {
        mime_part *inner = part_new(p);
        part->message = inner;
        if (!cut) {
            end = parse_entity(p, inner, i, depth + 1, 0);
        } else {                        /* no body at all: an empty message */
            inner->hdr_off = inner->body_off = i;
            part_default_type(inner, 0);
            part_add_charset_default(inner);
        }
    } else if (!cut) {
        end = find_delimiter(p, i);
    }

    size_t be = body_end(p, i, &end);
    part->body_len = be - i;
    part->body_lines = lf_before(p, be) - lf0 + (be > i && m[be - 1] != '\n');
    return end;
}

mime_part *mime_parse(const char *msg, size_t len)
{
    mime_parser p;
    memset(&p, 0, sizeof p);
    p.msg = msg ? msg : "";
    p.len = msg ? len : 0;
    mime_part *root = part_new(&p);
    parse_entity(&p, root, 0, 0, 0);
    return root;
}

void mime_free(mime_part *part)
{
    if (!part) return;
    free(part->type);
    free(part->subtype);
    mime_params_free(part->params, part->nparams);
    free(part->id);
    free(part->description);
    free(part->encoding);
    free(part->md5);
    free(part->language);
    free(part->location);
    free(part->disposition);
    mime_params_free(part->disp_params, part->ndisp_params);
    for (size_t i = 0; i < part->nchildren; i++) mime_free(part->children[i]);
    free(part->children);
    mime_free(part->message);
    free(part);
}
