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
int search_flag_masks(const search_node *n, uint32_t *set, uint32_t *clear)
{
    switch (n->op) {
    case SEARCH_ALL:
        return 1;
    case SEARCH_FLAGS:
        *set |= n->flags;
        return 1;
    case SEARCH_NOFLAGS:
        *clear |= n->flags;
        return 1;
    case SEARCH_AND:
        for (size_t i = 0; i < n->nkids; i++)
            if (!search_flag_masks(n->kids[i], set, clear)) return 0;
        return 1;
    case SEARCH_NOT: {
        /* NOT of one flag is the other test of it (not so for several:
         * NOT (a and b) is no conjunction). */
        if (n->nkids != 1) return 0;
        const search_node *k = n->kids[0];
        if ((k->op != SEARCH_FLAGS && k->op != SEARCH_NOFLAGS) || !k->flags || (k->flags & (k->flags - 1)))
            return 0;
        if (k->op == SEARCH_FLAGS) *clear |= k->flags;
        else *set |= k->flags;
        return 1;
    }
    default:
        return 0;
    }
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
