/*
 * mime_sections.c — the section table: every part's byte ranges in a compact
 * blob stored with the message, and BODY[section] lookups in it (RFC 3501 6.4.5).
 *
 * OFFERS
 *   mime_sections_serialize()  the blob of a parsed tree.
 *   mime_section_find()        the ranges of a part path ("", "1", "2.1.3").
 *
 * FORMAT (version 1; all integers unsigned LEB128 varints, at most 10 bytes)
 *   byte     version (1)
 *   varint   length of the message the table was made from
 *   varint   number of records
 *   records  the tree in preorder; a record is
 *              byte kind (0 leaf, 1 multipart, 2 message/rfc822)
 *              varint hdr_off, hdr_len, body_off, body_len
 *              kind 1: varint number of children, the children follow
 *              kind 2: the encapsulated message's record follows
 *   4 bytes  FNV-1a 32 of everything before, little-endian
 *
 * PROMISES
 *   mime_section_find() checks the version, the checksum, every range against
 *   the recorded message length and the tree shape before answering, so a
 *   damaged or truncated blob gives -1, never a read outside it. It allocates
 *   one array of records per call (no recursion).
 *   Semantics: path "" is the message (hdr = header, body = text, is_message = 1
 *   with msg_* equal to them). Numbers index the parts of a multipart; part 1
 *   of anything else is that entity itself (its header is the MIME header of
 *   "1"). After a message/rfc822 part, numbers index the encapsulated message.
 *   For a message/rfc822 part is_message = 1 and msg_* are the ranges of the
 *   encapsulated message's header and text (BODY[n.HEADER], BODY[n.TEXT]).
 *
 * DIAGNOSTICS
 *   -1: no such part, a malformed path, or a damaged blob.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/limits.h"
#include "mime/mime.h"

#define SECTIONS_VERSION 1

enum { K_LEAF = 0, K_MULTIPART = 1, K_MESSAGE = 2 };

static void put_varint(buf *out, uint64_t v)
{
    unsigned char b[10];
    size_t n = 0;
    do {
        b[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) b[n] |= 0x80;
        n++;
    } while (v);
    buf_append(out, b, n);
}

static uint32_t fnv1a(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

static int part_kind(const mime_part *p)
{
    if (p->message) return K_MESSAGE;
    if (p->type && strcmp(p->type, "multipart") == 0) return K_MULTIPART;
    return K_LEAF;
}

static size_t put_records(const mime_part *p, buf *out)
{
    int kind = part_kind(p);
    buf_putc(out, (char)kind);
    put_varint(out, p->hdr_off);
    put_varint(out, p->hdr_len);
    put_varint(out, p->body_off);
    put_varint(out, p->body_len);
    size_t n = 1;
    if (kind == K_MULTIPART) {
        put_varint(out, p->nchildren);
        for (size_t i = 0; i < p->nchildren; i++) n += put_records(p->children[i], out);
    } else if (kind == K_MESSAGE) {
        n += put_records(p->message, out);
    }
    return n;
}

void mime_sections_serialize(const mime_part *root, buf *out)
{
    buf recs = BUF_INIT;
    size_t nrec = put_records(root, &recs);
    size_t start = out->len;
    buf_putc(out, SECTIONS_VERSION);
    put_varint(out, root->body_off + root->body_len);
    put_varint(out, nrec);
    buf_append(out, recs.p, recs.len);
    buf_free(&recs);
    uint32_t h = fnv1a((const unsigned char *)out->p + start, out->len - start);
    unsigned char c[4] = { (unsigned char)h, (unsigned char)(h >> 8), (unsigned char)(h >> 16),
                           (unsigned char)(h >> 24) };
    buf_append(out, c, 4);
}

/* ---- reading -------------------------------------------------------------------- */

typedef struct rd {
    const unsigned char *p;
    size_t n, i;
    int bad;
} rd;

static uint64_t get_varint(rd *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->i >= r->n) break;
        unsigned char b = r->p[r->i++];
        if (shift == 63 && (b & 0x7e)) break;              /* would overflow */
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    r->bad = 1;
    return 0;
}

typedef struct srec {
    int kind;
    size_t hdr_off, hdr_len, body_off, body_len;
    size_t nchild;
    size_t size;      /* records in the subtree, itself included */
} srec;

static int range_ok(uint64_t off, uint64_t len, uint64_t total)
{
    return off <= total && len <= total - off;
}

/* Decodes and checks the whole blob; returns the records or NULL. */
static srec *sections_decode(const void *table, size_t len, size_t *nrec_out)
{
    const unsigned char *p = table;
    srec *rec = NULL;
    size_t *stack = NULL;
    if (!p || len < 1 + 4 || p[0] != SECTIONS_VERSION) goto fail;
    uint32_t want = (uint32_t)p[len - 4] | (uint32_t)p[len - 3] << 8 | (uint32_t)p[len - 2] << 16 |
                    (uint32_t)p[len - 1] << 24;
    if (fnv1a(p, len - 4) != want) goto fail;

    rd r = { p, len - 4, 1, 0 };
    uint64_t total = get_varint(&r);
    uint64_t nrec = get_varint(&r);
    /* Each record takes at least 5 bytes, which bounds the allocation. */
    if (r.bad || nrec == 0 || nrec > MIME_PARTS_MAX || nrec > (r.n - r.i) / 5) goto fail;
    rec = xcalloc((size_t)nrec, sizeof *rec);
    for (size_t k = 0; k < nrec; k++) {
        if (r.i >= r.n) goto fail;
        int kind = r.p[r.i++];
        uint64_t v[4];
        for (int j = 0; j < 4; j++) v[j] = get_varint(&r);
        uint64_t nchild = kind == K_MULTIPART ? get_varint(&r) : kind == K_MESSAGE ? 1 : 0;
        if (r.bad || kind > K_MESSAGE || !range_ok(v[0], v[1], total) || !range_ok(v[2], v[3], total) ||
            nchild >= nrec)
            goto fail;
        rec[k] = (srec){ kind, (size_t)v[0], (size_t)v[1], (size_t)v[2], (size_t)v[3], (size_t)nchild, 0 };
    }
    if (r.i != r.n) goto fail;

    /* Subtree sizes from the preorder: walking backwards, each record takes its
     * children's subtrees off a stack and pushes its own. One root must remain. */
    stack = xmalloc((size_t)nrec * sizeof *stack);
    size_t sp = 0;
    for (size_t k = (size_t)nrec; k-- > 0;) {
        if (rec[k].nchild > sp) goto fail;
        size_t size = 1;
        for (size_t c = 0; c < rec[k].nchild; c++) size += stack[--sp];
        rec[k].size = size;
        stack[sp++] = size;
    }
    if (sp != 1) goto fail;
    free(stack);
    *nrec_out = (size_t)nrec;
    return rec;
fail:
    free(stack);
    free(rec);
    return NULL;
}

static void fill(const srec *rec, size_t k, mime_section *out)
{
    memset(out, 0, sizeof *out);
    out->hdr_off = rec[k].hdr_off;
    out->hdr_len = rec[k].hdr_len;
    out->body_off = rec[k].body_off;
    out->body_len = rec[k].body_len;
    if (rec[k].kind == K_MESSAGE) {
        out->is_message = 1;
        out->msg_hdr_off = rec[k + 1].hdr_off;
        out->msg_hdr_len = rec[k + 1].hdr_len;
        out->msg_body_off = rec[k + 1].body_off;
        out->msg_body_len = rec[k + 1].body_len;
    }
}

int mime_section_find(const void *table, size_t len, const char *path, mime_section *out)
{
    size_t nrec;
    if (!path) return -1;
    srec *rec = sections_decode(table, len, &nrec);
    if (!rec) return -1;
    int rc = -1;
    size_t ctx = 0, part = 0;
    const char *s = path;
    if (!*s) {
        fill(rec, 0, out);
        out->is_message = 1;
        out->msg_hdr_off = rec[0].hdr_off;
        out->msg_hdr_len = rec[0].hdr_len;
        out->msg_body_off = rec[0].body_off;
        out->msg_body_len = rec[0].body_len;
        rc = 0;
        goto done;
    }
    for (;;) {
        /* nz-number: no leading zero, bounded. */
        if (*s < '1' || *s > '9') goto done;
        size_t n = 0;
        while (*s >= '0' && *s <= '9') {
            n = n * 10 + (size_t)(*s++ - '0');
            if (n > MIME_PARTS_MAX) goto done;
        }
        if (rec[ctx].kind == K_MULTIPART) {
            if (n > rec[ctx].nchild) goto done;
            part = ctx + 1;
            for (size_t c = 1; c < n; c++) part += rec[part].size;
        } else {
            if (n != 1) goto done;
            part = ctx;
        }
        if (*s == '\0') break;
        if (*s++ != '.') goto done;
        if (rec[part].kind == K_MESSAGE) ctx = part + 1;
        else if (rec[part].kind == K_MULTIPART) ctx = part;
        else goto done;
    }
    fill(rec, part, out);
    rc = 0;
done:
    free(rec);
    return rc;
}
