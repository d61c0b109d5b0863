/*
 * search_regex.h — the X-REGEX search key's regular expressions: PCRE2 (with JIT
 * where the machine has it) under hard limits, so no pattern can stall a worker.
 *
 * Semantics (documented for clients in README "Search"): Perl-compatible syntax,
 * UTF-8, case-insensitive like every IMAP SEARCH string unless the pattern says
 * (?-i); a subject that is not valid UTF-8 is matched as far as it is valid.
 *
 * Limits (util/limits.h): pattern length, parenthesis nesting, and per subject a
 * match limit, depth limit and heap limit. A subject that hits one answers
 * SEARCH_REGEX_LIMIT; callers give up the whole search then (NO [LIMIT]).
 */
#ifndef SEALBOX_SEARCH_REGEX_H
#define SEALBOX_SEARCH_REGEX_H

#include <stddef.h>

typedef struct search_regex search_regex;

typedef enum search_regex_result {
    SEARCH_REGEX_NOMATCH = 0,
    SEARCH_REGEX_MATCH = 1,
    SEARCH_REGEX_LIMIT = -1,     /* the subject needed more work than the limits allow */
} search_regex_result;

/* Compiles `pattern`; NULL with a one-line reason in `err` (fit for a client)
 * when it is too long, too deeply nested or not a valid pattern. */
search_regex *search_regex_new(const char *pattern, char *err, size_t errlen);
/* 0 when search_regex_new would accept `pattern`, else -1 with the reason. */
int search_regex_validate(const char *pattern, char *err, size_t errlen);
/* Does the pattern match somewhere in text[0..len)? One thread at a time per
 * search_regex (it owns its match data). */
search_regex_result search_regex_match(search_regex *re, const char *text, size_t len);
void search_regex_free(search_regex *re);

#endif
