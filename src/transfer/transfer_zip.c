/*
 * transfer_zip.c — a zip writer (PKWARE APPNOTE 6.3.x) for eml-zip exports.
 *
 * OFFERS
 *   transfer_zip_new, transfer_zip_add, transfer_zip_finish, transfer_zip_abort.
 *
 * PROMISES
 *   - Written strictly front to back (a pipe works): each entry is compressed in
 *     memory first, so its local header carries the real CRC-32 and sizes and no
 *     data descriptor is needed.
 *   - Raw deflate (zlib, method 8), or stored (method 0) when deflate would not
 *     shrink the entry. Names are flagged UTF-8 (general purpose bit 11). Unix
 *     mode 0600 in the external attributes.
 *   - ZIP64 (APPNOTE 4.5.3, 4.3.14, 4.3.15) is written only when needed: a local
 *     header past 4 GiB gets a ZIP64 extra field in its central record; more than
 *     65535 entries or a central directory past 4 GiB get the ZIP64 end records.
 *     One entry is at most 4 GiB - 1 (messages are far smaller).
 *   - The central directory is kept in memory until the end: 46 bytes plus the
 *     name (plus 12 past 4 GiB) per entry.
 *
 * DIAGNOSTICS
 *   -1 with errno on a write error (or EFBIG for an entry too large).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "transfer/transfer.h"

#define ZIP_U32_MAX 0xffffffffu
#define ZIP_U16_MAX 0xffffu

struct transfer_zip {
    FILE *f;
    uint64_t off;         /* bytes written so far */
    uint64_t entries;
    buf central;
    int failed;
    z_stream zs;          /* one deflate state for all entries: deflateReset is
                           * far cheaper than a fresh ~256 KiB state per message */
    int zs_ready;
};

static void zip_put16(buf *b, unsigned v)
{
    unsigned char x[2] = { (unsigned char)v, (unsigned char)(v >> 8) };
    buf_append(b, x, 2);
}

static void zip_put32(buf *b, uint32_t v)
{
    unsigned char x[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 24) };
    buf_append(b, x, 4);
}

static void zip_put64(buf *b, uint64_t v)
{
    zip_put32(b, (uint32_t)v);
    zip_put32(b, (uint32_t)(v >> 32));
}

static int zip_write(transfer_zip *z, const void *p, size_t n)
{
    if (z->failed) return -1;
    if (n && fwrite(p, 1, n, z->f) != n) {
        z->failed = 1;
        if (!errno) errno = EIO;
        return -1;
    }
    z->off += n;
    return 0;
}

/* MS-DOS date and time (2-second resolution, local by convention; we write UTC,
 * as the manifest's dates are the exact ones). Before 1980: 1980-01-01. */
static void zip_dos_time(int64_t t, unsigned *dtime, unsigned *ddate)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t < 315532800 || !gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 2107) {
        *dtime = 0;
        *ddate = (0u << 9) | (1u << 5) | 1u;
        return;
    }
    *dtime = ((unsigned)tm.tm_hour << 11) | ((unsigned)tm.tm_min << 5) | ((unsigned)tm.tm_sec / 2);
    *ddate = ((unsigned)(tm.tm_year + 1900 - 1980) << 9) | ((unsigned)(tm.tm_mon + 1) << 5) |
             (unsigned)tm.tm_mday;
}

transfer_zip *transfer_zip_new(FILE *f)
{
    transfer_zip *z = xcalloc(1, sizeof *z);
    z->f = f;
    return z;
}

/* Raw deflate of `data` into `out`: 0, or -1 when it would not shrink. */
static int zip_deflate(transfer_zip *z, const void *data, size_t len, buf *out)
{
    z_stream *zs = &z->zs;
    if (!z->zs_ready) {
        memset(zs, 0, sizeof *zs);
        if (deflateInit2(zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
        z->zs_ready = 1;
    } else if (deflateReset(zs) != Z_OK) {
        return -1;
    }
    uLong bound = deflateBound(zs, (uLong)len);
    buf_reserve(out, bound);
    zs->next_in = (Bytef *)data;
    zs->avail_in = (uInt)len;
    zs->next_out = (Bytef *)out->p;
    zs->avail_out = (uInt)bound;
    int r = deflate(zs, Z_FINISH);
    size_t got = bound - zs->avail_out;
    if (r != Z_STREAM_END || got >= len) return -1;
    out->len = got;
    return 0;
}

static void zip_free(transfer_zip *z)
{
    if (z->zs_ready) deflateEnd(&z->zs);
    buf_free(&z->central);
    free(z);
}

int transfer_zip_add(transfer_zip *z, const char *name, const void *data, size_t len,
                     int64_t mtime)
{
    if (z->failed) return -1;
    if ((uint64_t)len >= ZIP_U32_MAX || strlen(name) > ZIP_U16_MAX) {
        errno = EFBIG;
        return -1;
    }
    uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
    /* zlib's crc32 takes a uInt length: feed it in slices. */
    for (size_t done = 0; done < len;) {
        size_t step = len - done > (1u << 30) ? (1u << 30) : len - done;
        crc = (uint32_t)crc32(crc, (const Bytef *)data + done, (uInt)step);
        done += step;
    }
    buf comp = BUF_INIT;
    int deflated = len > 0 && zip_deflate(z, data, len, &comp) == 0;
    const void *body = deflated ? comp.p : data;
    size_t blen = deflated ? comp.len : len;
    unsigned dtime, ddate;
    zip_dos_time(mtime, &dtime, &ddate);
    size_t nlen = strlen(name);
    uint64_t local_off = z->off;
    int zip64 = local_off >= ZIP_U32_MAX;

    buf h = BUF_INIT;
    zip_put32(&h, 0x04034b50);
    zip_put16(&h, zip64 ? 45 : 20);             /* version needed: 2.0 (4.5 for ZIP64) */
    zip_put16(&h, 0x0800);                      /* bit 11: names are UTF-8 */
    zip_put16(&h, deflated ? 8 : 0);
    zip_put16(&h, dtime);
    zip_put16(&h, ddate);
    zip_put32(&h, crc);
    zip_put32(&h, (uint32_t)blen);
    zip_put32(&h, (uint32_t)len);
    zip_put16(&h, (unsigned)nlen);
    zip_put16(&h, 0);
    buf_append(&h, name, nlen);
    int rc = zip_write(z, h.p, h.len);
    if (rc == 0) rc = zip_write(z, body, blen);
    buf_free(&h);
    buf_free(&comp);
    if (rc < 0) return -1;

    buf *c = &z->central;
    zip_put32(c, 0x02014b50);
    zip_put16(c, (3u << 8) | (zip64 ? 45 : 20));  /* made by: Unix */
    zip_put16(c, zip64 ? 45 : 20);
    zip_put16(c, 0x0800);
    zip_put16(c, deflated ? 8 : 0);
    zip_put16(c, dtime);
    zip_put16(c, ddate);
    zip_put32(c, crc);
    zip_put32(c, (uint32_t)blen);
    zip_put32(c, (uint32_t)len);
    zip_put16(c, (unsigned)nlen);
    zip_put16(c, zip64 ? 12 : 0);               /* extra: ZIP64 offset */
    zip_put16(c, 0);                            /* comment */
    zip_put16(c, 0);                            /* disk */
    zip_put16(c, 0);                            /* internal attributes */
    zip_put32(c, (uint32_t)0100600 << 16);      /* external: a regular file, 0600 */
    zip_put32(c, zip64 ? ZIP_U32_MAX : (uint32_t)local_off);
    buf_append(c, name, nlen);
    if (zip64) {
        zip_put16(c, 0x0001);
        zip_put16(c, 8);
        zip_put64(c, local_off);
    }
    z->entries++;
    return 0;
}

int transfer_zip_finish(transfer_zip *z)
{
    uint64_t cd_off = z->off, cd_size = z->central.len;
    int rc = zip_write(z, z->central.p, z->central.len);
    buf e = BUF_INIT;
    int zip64 = z->entries > ZIP_U16_MAX || cd_off >= ZIP_U32_MAX || cd_size >= ZIP_U32_MAX;
    if (zip64) {
        uint64_t rec_off = z->off;
        zip_put32(&e, 0x06064b50);
        zip_put64(&e, 44);                      /* size of the rest of this record */
        zip_put16(&e, (3u << 8) | 45);
        zip_put16(&e, 45);
        zip_put32(&e, 0);
        zip_put32(&e, 0);
        zip_put64(&e, z->entries);
        zip_put64(&e, z->entries);
        zip_put64(&e, cd_size);
        zip_put64(&e, cd_off);
        zip_put32(&e, 0x07064b50);              /* locator */
        zip_put32(&e, 0);
        zip_put64(&e, rec_off);
        zip_put32(&e, 1);
    }
    zip_put32(&e, 0x06054b50);
    zip_put16(&e, 0);
    zip_put16(&e, 0);
    zip_put16(&e, zip64 && z->entries > ZIP_U16_MAX ? ZIP_U16_MAX : (unsigned)z->entries);
    zip_put16(&e, zip64 && z->entries > ZIP_U16_MAX ? ZIP_U16_MAX : (unsigned)z->entries);
    zip_put32(&e, cd_size >= ZIP_U32_MAX ? ZIP_U32_MAX : (uint32_t)cd_size);
    zip_put32(&e, cd_off >= ZIP_U32_MAX ? ZIP_U32_MAX : (uint32_t)cd_off);
    zip_put16(&e, 0);
    if (rc == 0) rc = zip_write(z, e.p, e.len);
    buf_free(&e);
    zip_free(z);
    return rc;
}

void transfer_zip_abort(transfer_zip *z)
{
    if (z) zip_free(z);
}
