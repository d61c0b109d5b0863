/*
 * mailbox_body.c — zstd compression of stored messages (see mailbox_body.h).
 */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "util/buf.h"
#include "mailbox/mailbox_body.h"

int mailbox_body_compress(const char *msg, size_t len, buf *out)
{
    size_t bound = ZSTD_compressBound(len);
    if (ZSTD_isError(bound)) return -1;
    buf_reserve(out, bound);
    size_t n = ZSTD_compress(out->p + out->len, bound, msg, len, MAILBOX_BODY_ZSTD_LEVEL);
    if (ZSTD_isError(n)) return -1;
    out->len += n;
    out->p[out->len] = '\0';
    return 0;
}

struct mailbox_body_reader {
    ZSTD_DCtx *dctx;
};

mailbox_body_reader *mailbox_body_reader_new(void)
{
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (!d) return NULL;
    mailbox_body_reader *r = malloc(sizeof *r);
    if (!r) {
        ZSTD_freeDCtx(d);
        return NULL;
    }
    r->dctx = d;
    return r;
}

void mailbox_body_reader_free(mailbox_body_reader *r)
{
    if (!r) return;
    ZSTD_freeDCtx(r->dctx);
    free(r);
}

int mailbox_body_decompress(mailbox_body_reader *r, const void *blob, size_t blob_len,
                            size_t expect_len, buf *out)
{
    /* The frame header states the size; trust it only as far as it agrees with
     * the row, so a damaged frame cannot make us allocate anything else. */
    unsigned long long stated = ZSTD_getFrameContentSize(blob, blob_len);
    if (stated == ZSTD_CONTENTSIZE_ERROR || stated == ZSTD_CONTENTSIZE_UNKNOWN ||
        stated != (unsigned long long)expect_len)
        return -1;
    size_t old = out->len;
    buf_reserve(out, expect_len);
    size_t n = ZSTD_decompressDCtx(r->dctx, out->p + old, expect_len, blob, blob_len);
    if (ZSTD_isError(n) || n != expect_len) {
        out->p[old] = '\0';
        return -1;
    }
    out->len = old + n;
    out->p[out->len] = '\0';
    return 0;
}
