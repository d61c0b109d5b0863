/*
 * fuzz_mime.c — libFuzzer target for the MIME parser (src/mime/).
 *
 * Each input is taken as a raw message: CRLF-normalised, parsed, and every
 * product FETCH uses is built from the tree (ENVELOPE, BODY, BODYSTRUCTURE,
 * the section table and lookups in it, header field filters, the Date).
 * Besides the sanitizers' checks it asserts the parser's promises: every range
 * lies inside the message and inside its parent, the root spans the message,
 * and a lookup never answers a range outside the message. The raw input is
 * also parsed as is (bare CR/LF) and fed to mime_section_find as a damaged
 * table, which must be refused or answered in bounds, never crash.
 *
 * Build: make fuzz (build-fuzz/fuzz/fuzz_mime), or see the header of mime.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "mime/mime.h"

static void check_tree(const mime_part *p, size_t lo, size_t hi)
{
    if (p->hdr_off < lo || p->hdr_off + p->hdr_len > hi || p->hdr_off + p->hdr_len != p->body_off ||
        p->body_off + p->body_len > hi || p->body_lines > p->body_len)
        abort();
    for (size_t i = 0; i < p->nchildren; i++)
        check_tree(p->children[i], p->body_off, p->body_off + p->body_len);
    if (p->message) check_tree(p->message, p->body_off, p->body_off + p->body_len);
}

static void lookups(const void *table, size_t tlen, size_t msglen, int strict)
{
    static const char *const paths[] = { "", "1", "2", "3", "1.1", "1.2", "2.1", "2.2",
                                         "1.1.1", "2.1.1", "2.1.2", "1.2.1.1", "4.1" };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        mime_section s;
        if (mime_section_find(table, tlen, paths[i], &s) != 0) continue;
        if (!strict) continue;
        if (s.hdr_off + s.hdr_len > msglen || s.body_off + s.body_len > msglen) abort();
        if (s.is_message &&
            (s.msg_hdr_off + s.msg_hdr_len > msglen || s.msg_body_off + s.msg_body_len > msglen))
            abort();
    }
}

static void run(const char *msg, size_t len)
{
    mime_part *root = mime_parse(msg, len);
    check_tree(root, 0, len);
    if (root->body_off + root->body_len != len) abort();

    buf out = BUF_INIT;
    mime_envelope(msg, root, &out);
    mime_bodystructure(msg, root, 1, &out);
    mime_bodystructure(msg, root, 0, &out);
    buf_reset(&out);
    mime_sections_serialize(root, &out);
    lookups(out.p, out.len, len, 1);

    static const char *const names[] = { "From", "subject", "CONTENT-TYPE" };
    buf tmp = BUF_INIT;
    mime_header_fields(msg + root->hdr_off, root->hdr_len, names, 3, 0, &tmp);
    mime_header_fields(msg + root->hdr_off, root->hdr_len, names, 3, 1, &tmp);
    buf_reset(&tmp);
    if (mime_header_get(msg + root->hdr_off, root->hdr_len, "Date", &tmp) == 0) {
        int64_t utc;
        int tz;
        mime_parse_date(tmp.p ? tmp.p : "", tmp.len, &utc, &tz);
    }
    buf_free(&tmp);
    buf_free(&out);
    mime_free(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;

    buf raw = BUF_INIT;
    mime_normalize_crlf(in, size, &raw);
    /* An exactly sized copy, so that any overread hits the redzone. */
    size_t n = raw.len;
    char *norm = malloc(n ? n : 1);
    if (!norm) abort();
    if (n) memcpy(norm, raw.p, n);
    buf_free(&raw);
    run(norm, n);
    free(norm);

    run(in, size);                        /* bare CR / LF as they came */

    int64_t utc;
    int tz;
    mime_parse_date(in, size, &utc, &tz);
    lookups(data, size, 0, 0);            /* the input as a damaged table */
    return 0;
}
