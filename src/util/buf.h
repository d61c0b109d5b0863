/*
 * buf.h — a growable byte buffer, always NUL-terminated.
 *
 * The one way Sealbox builds strings and byte runs of unknown length: protocol
 * responses, serialised structures, decompressed messages. `p` is NUL-terminated
 * after every operation (so text can be used as a C string) but may also hold
 * binary data; `len` is authoritative.
 *
 * Callers bound what they append (util/limits.h); buf itself only aborts when
 * memory runs out (util/alloc.h).
 */
#ifndef SEALBOX_BUF_H
#define SEALBOX_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct buf {
    char *p;      /* NULL until the first append; NUL-terminated afterwards */
    size_t len;
    size_t cap;
} buf;

#define BUF_INIT { NULL, 0, 0 }

void buf_reserve(buf *b, size_t extra);
void buf_append(buf *b, const void *data, size_t n);
void buf_puts(buf *b, const char *s);
void buf_putc(buf *b, char c);
/* Appends `v` in decimal: what buf_printf("%u") does, for the long number lists
 * of SEARCH, SORT and THREAD answers (100,000 numbers) without a printf each. */
void buf_put_uint(buf *b, uint64_t v);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf *b, const char *fmt, va_list ap);
void buf_truncate(buf *b, size_t len);
void buf_reset(buf *b);                 /* len = 0, keeps the allocation */
void buf_free(buf *b);                  /* frees and reinitialises */
char *buf_steal(buf *b, size_t *len);   /* hands the bytes to the caller */
const char *buf_cstr(buf *b);           /* "" for an empty buffer */

#endif
