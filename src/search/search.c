/*
 * search.c — building and freeing search programs (see search.h).
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
