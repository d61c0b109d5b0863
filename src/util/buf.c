/*
 * buf.c — a growable byte buffer (see buf.h).
 *
 * Invariant: when p != NULL, cap > len and p[len] == '\0'.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"

void buf_reserve(buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap < ((size_t)1 << 30) ? cap * 2 : cap + ((size_t)1 << 30);
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

void buf_append(buf *b, const void *data, size_t n)
{
    buf_reserve(b, n);
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void buf_puts(buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_putc(buf *b, char c)
{
    buf_append(b, &c, 1);
}

void buf_put_uint(buf *b, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_reserve(b, n);
    for (size_t i = 0; i < n; i++) b->p[b->len + i] = tmp[n - 1 - i];
    b->len += n;
    b->p[b->len] = '\0';
}

void buf_vprintf(buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap2);
    va_end(ap2);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        buf_append(b, tmp, (size_t)n);
        return;
    }
    buf_reserve(b, (size_t)n);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void buf_truncate(buf *b, size_t len)
{
    if (len < b->len) {
        b->len = len;
        b->p[len] = '\0';
    }
}

void buf_reset(buf *b)
{
    b->len = 0;
    if (b->p) b->p[0] = '\0';
}

void buf_free(buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

char *buf_steal(buf *b, size_t *len)
{
    if (!b->p) buf_reserve(b, 0), b->p[0] = '\0';
    char *p = b->p;
    if (len) *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

const char *buf_cstr(buf *b)
{
    return b->p ? b->p : "";
}
