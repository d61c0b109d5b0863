/*
 * uidset.h — sets of message numbers as sorted, disjoint, non-adjacent ranges.
 *
 * Used for IMAP sequence sets (after '*' is resolved), UID sets and the results
 * of store operations. Every operation keeps the invariant: r[i].lo <= r[i].hi and
 * r[i].hi + 1 < r[i+1].lo, so membership is a binary search and the set prints
 * back in its shortest IMAP form.
 */
#ifndef SEALBOX_UIDSET_H
#define SEALBOX_UIDSET_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct uid_range { uint32_t lo, hi; } uid_range;

typedef struct uidset {
    uid_range *r;
    size_t n, cap;
} uidset;

#define UIDSET_INIT { NULL, 0, 0 }

void uidset_add_range(uidset *s, uint32_t lo, uint32_t hi);   /* lo > hi is swapped */
void uidset_add(uidset *s, uint32_t v);
int uidset_contains(const uidset *s, uint32_t v);
uint64_t uidset_count(const uidset *s);
void uidset_format(const uidset *s, buf *out);                 /* "1:3,7" ; "" when empty */
void uidset_clear(uidset *s);
void uidset_free(uidset *s);
void uidset_copy(uidset *dst, const uidset *src);

#endif
