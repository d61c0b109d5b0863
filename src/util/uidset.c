/*
 * uidset.c — sorted range sets of message numbers (see uidset.h).
 */
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/uidset.h"

/* Inserts [lo,hi] and merges every range it overlaps or touches. O(n) per insert;
 * callers add in ascending order almost always, which is the O(1) fast path. */
void uidset_add_range(uidset *s, uint32_t lo, uint32_t hi)
{
    if (lo > hi) { uint32_t t = lo; lo = hi; hi = t; }
    if (s->n > 0) {
        uid_range *last = &s->r[s->n - 1];
        if (lo > last->hi && lo - last->hi > 1) goto append;
        if (lo >= last->lo && (lo <= last->hi || lo - last->hi == 1)) {
            if (hi > last->hi) last->hi = hi;
            return;
        }
    } else {
        goto append;
    }
    /* General case: find the first range that ends at or after lo - 1. */
    size_t i = 0;
    while (i < s->n && s->r[i].hi < lo && lo - s->r[i].hi > 1) i++;
    size_t j = i;
    uint32_t nlo = lo, nhi = hi;
    while (j < s->n && (s->r[j].lo <= hi || s->r[j].lo - hi == 1)) {
        if (s->r[j].lo < nlo) nlo = s->r[j].lo;
        if (s->r[j].hi > nhi) nhi = s->r[j].hi;
        j++;
    }
    if (j == i) {
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 8;
            s->r = xrealloc(s->r, s->cap * sizeof *s->r);
        }
        memmove(&s->r[i + 1], &s->r[i], (s->n - i) * sizeof *s->r);
        s->r[i].lo = nlo;
        s->r[i].hi = nhi;
        s->n++;
        return;
    }
    s->r[i].lo = nlo;
    s->r[i].hi = nhi;
    memmove(&s->r[i + 1], &s->r[j], (s->n - j) * sizeof *s->r);
    s->n -= j - i - 1;
    return;
append:
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->r = xrealloc(s->r, s->cap * sizeof *s->r);
    }
    s->r[s->n].lo = lo;
    s->r[s->n].hi = hi;
    s->n++;
}

void uidset_add(uidset *s, uint32_t v)
{
    uidset_add_range(s, v, v);
}

int uidset_contains(const uidset *s, uint32_t v)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v < s->r[mid].lo) hi = mid;
        else if (v > s->r[mid].hi) lo = mid + 1;
        else return 1;
    }
    return 0;
}

uint64_t uidset_count(const uidset *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->n; i++) n += (uint64_t)s->r[i].hi - s->r[i].lo + 1;
    return n;
}

void uidset_format(const uidset *s, buf *out)
{
    for (size_t i = 0; i < s->n; i++) {
        if (i) buf_putc(out, ',');
        if (s->r[i].lo == s->r[i].hi) buf_printf(out, "%u", s->r[i].lo);
        else buf_printf(out, "%u:%u", s->r[i].lo, s->r[i].hi);
    }
}

void uidset_clear(uidset *s)
{
    s->n = 0;
}

void uidset_free(uidset *s)
{
    free(s->r);
    s->r = NULL;
    s->n = s->cap = 0;
}

void uidset_copy(uidset *dst, const uidset *src)
{
    uidset_free(dst);
    if (src->n == 0) return;
    dst->r = xmemdup(src->r, src->n * sizeof *src->r);
    dst->n = dst->cap = src->n;
}
