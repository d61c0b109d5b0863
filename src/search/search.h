/*
 * search.h — a search program: the plain-data form of an IMAP SEARCH.
 *
 * The protocol layer parses SEARCH keys into this tree; the store evaluates it
 * (search_eval.c now, indexed SQL + FTS5 later). Nothing here is IMAP syntax or
 * SQL, so the same tree can cross the cluster link.
 *
 * Keys that only make sense inside one IMAP session (message sequence numbers,
 * \Recent, NEW/OLD, $) are parsed as SEARCH_SEQSET / SEARCH_RECENT and the
 * session rewrites them into SEARCH_UIDS before the tree reaches the store;
 * the store treats any that remain as matching nothing.
 */
#ifndef SEALBOX_SEARCH_H
#define SEALBOX_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "util/uidset.h"

typedef enum search_op {
    SEARCH_ALL,          /* matches every message */
    SEARCH_AND,          /* all kids match (kids: 0..n; none = ALL) */
    SEARCH_OR,           /* either of two kids */
    SEARCH_NOT,          /* one kid */
    SEARCH_UIDS,         /* uid in `set` */
    SEARCH_SEQSET,       /* session only: sequence numbers in `set`; star = `star` */
    SEARCH_RECENT,       /* session only: \Recent */
    SEARCH_FLAGS,        /* every flag bit in `flags` is set (MSG_FLAG_*) */
    SEARCH_NOFLAGS,      /* no flag bit in `flags` is set */
    SEARCH_KEYWORD,      /* keyword `value` is set */
    SEARCH_UNKEYWORD,    /* keyword `value` is not set */
    SEARCH_BEFORE, SEARCH_ON, SEARCH_SINCE,               /* INTERNALDATE's day vs `number` */
    SEARCH_SENTBEFORE, SEARCH_SENTON, SEARCH_SENTSINCE,   /* Date: header's day vs `number` */
    SEARCH_LARGER, SEARCH_SMALLER,                        /* RFC822.SIZE vs `number` */
    SEARCH_HEADER,       /* header `field` contains `value` ("" = field present) */
    SEARCH_BODY,         /* body text contains `value` */
    SEARCH_TEXT,         /* header or body contains `value` */
    SEARCH_REGEX,        /* X-REGEX: `regex` matches `field` (a header name), or with
                            `field` NULL the decoded text of the body (`number` 0) or of
                            the header and body (`number` 1); see search_regex.h */
} search_op;

typedef struct search_node {
    search_op op;
    struct search_node **kids;
    size_t nkids;
    uint32_t flags;          /* SEARCH_FLAGS / SEARCH_NOFLAGS */
    char *field;             /* SEARCH_HEADER: field name (FROM, SUBJECT, X-Foo...) */
    char *value;             /* strings: UTF-8, matched case-insensitively as a substring */
    int64_t number;          /* sizes in octets; dates as days since 1970-01-01 */
    uidset set;              /* SEARCH_UIDS / SEARCH_SEQSET */
    int star;                /* SEARCH_SEQSET: the set included '*' (resolved by the session) */
} search_node;

/* SEARCH_REGEX: `value` holds the pattern (UTF-8); the node is valid only when
 * search_regex_validate() accepted it. */

/* 1 when the program reads nothing but uids, flags, keywords, dates and sizes
 * (ALL, UID sets, flag, keyword, date and size keys under AND/OR/NOT): once a
 * session has turned sequence sets and RECENT into uid sets, it can answer
 * such a program from what it holds of its view, without the mailbox file. */
int search_facts_only(const search_node *n);

/* 1 when the program is a conjunction of flag tests (ALL, FLAGS, NOFLAGS, NOT
 * of one flag, under AND): a message matches it exactly when
 * (flags & *set) == *set and (flags & *clear) == 0, with the masks the
 * program adds to *set and *clear (zero them first). UNSEEN, FLAGGED
 * UNDELETED, ALL: a test per message instead of an evaluation. */
int search_flag_masks(const search_node *n, uint32_t *set, uint32_t *clear);

search_node *search_node_new(search_op op);
void search_node_add_kid(search_node *parent, search_node *kid);
void search_node_free(search_node *n);

#endif
