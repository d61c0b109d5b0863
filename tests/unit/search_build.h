/*
 * search_build.h — building search programs in unit tests (test_search.c,
 * test_store_search.c): one node per call, values copied.
 */
#ifndef SEALBOX_TEST_SEARCH_BUILD_H
#define SEALBOX_TEST_SEARCH_BUILD_H

#include <stdint.h>

#include "util/alloc.h"
#include "search/search.h"

static inline search_node *n_op(search_op op)
{
    return search_node_new(op);
}

static inline search_node *n_str(search_op op, const char *field, const char *value)
{
    search_node *n = search_node_new(op);
    if (field) n->field = xstrdup(field);
    n->value = xstrdup(value);
    return n;
}

static inline search_node *n_num(search_op op, int64_t v)
{
    search_node *n = search_node_new(op);
    n->number = v;
    return n;
}

static inline search_node *n_flags(search_op op, uint32_t fl)
{
    search_node *n = search_node_new(op);
    n->flags = fl;
    return n;
}

/* `op` over one kid, or two (b may be NULL: NOT). */
static inline search_node *n_2(search_op op, search_node *a, search_node *b)
{
    search_node *n = search_node_new(op);
    search_node_add_kid(n, a);
    if (b) search_node_add_kid(n, b);
    return n;
}

#endif
