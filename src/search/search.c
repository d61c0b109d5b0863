/*
 * search.c — building, freeing and classifying search programs (see search.h).
 */
#include <stdlib.h>

#include "util/alloc.h"
#include "search/search.h"

search_node *search_node_new(search_op op)
{
    search_node *n = xcalloc(1, sizeof *n);
    n->op = op;
    return n;
}

void search_node_add_kid(search_node *parent, search_node *kid)
{
    parent->kids = xrealloc(parent->kids, (parent->nkids + 1) * sizeof *parent->kids);
    parent->kids[parent->nkids++] = kid;
}

void search_node_free(search_node *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->nkids; i++) search_node_free(n->kids[i]);
    free(n->kids);
    free(n->field);
    free(n->value);
    uidset_free(&n->set);
    free(n);
}

/* Recursion is bounded by the parser's nesting limit (IMAP_NEST_MAX). */
int search_facts_only(const search_node *n)
{
    switch (n->op) {
    case SEARCH_ALL:
    case SEARCH_UIDS:
    case SEARCH_FLAGS:
    case SEARCH_NOFLAGS:
    case SEARCH_KEYWORD:
    case SEARCH_UNKEYWORD:
    case SEARCH_BEFORE: case SEARCH_ON: case SEARCH_SINCE:
    case SEARCH_SENTBEFORE: case SEARCH_SENTON: case SEARCH_SENTSINCE:
    case SEARCH_LARGER:
    case SEARCH_SMALLER:
        return 1;
    case SEARCH_AND:
    case SEARCH_OR:
    case SEARCH_NOT:
        for (size_t i = 0; i < n->nkids; i++)
            if (!search_facts_only(n->kids[i])) return 0;
        return 1;
    default:
        return 0;
    }
}
