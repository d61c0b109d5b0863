/*
 * search_regex.c — PCRE2 under limits for the X-REGEX search key (search_regex.h).
 *
 * Why each limit is where it is:
 *   - The pattern length and nesting are checked by PCRE2's compile context, so
 *     a hostile pattern costs at most a bounded compile.
 *   - The match context carries the match, depth and heap limits; they bound the
 *     interpreter and (match limit) the JIT alike, so (a+)+$ stops in
 *     milliseconds with PCRE2_ERROR_MATCHLIMIT instead of running for hours.
 *   - JIT compilation failing (no JIT on this CPU, or out of executable memory)
 *     is not an error: the interpreter runs under the same limits.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <stdio.h>
#include <string.h>

#include <pcre2.h>

#include "util/alloc.h"
#include "util/limits.h"
#include "search/search_regex.h"

struct search_regex {
    pcre2_code *code;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
};

static void regex_error(int code, size_t offset, char *err, size_t errlen)
{
    PCRE2_UCHAR msg[256];
    if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
        snprintf((char *)msg, sizeof msg, "error %d", code);
    if (err && errlen) snprintf(err, errlen, "invalid regular expression at offset %zu: %s",
                                offset, (const char *)msg);
}

search_regex *search_regex_new(const char *pattern, char *err, size_t errlen)
{
    size_t len = strlen(pattern);
    if (len > SEARCH_REGEX_PATTERN_MAX) {
        if (err && errlen) snprintf(err, errlen, "regular expression longer than %d bytes",
                                    SEARCH_REGEX_PATTERN_MAX);
        return NULL;
    }
    pcre2_compile_context *cctx = pcre2_compile_context_create(NULL);
    if (!cctx) xalloc_fail(0);
    pcre2_set_max_pattern_length(cctx, SEARCH_REGEX_PATTERN_MAX);
    pcre2_set_parens_nest_limit(cctx, SEARCH_REGEX_NEST_MAX);
    int code;
    PCRE2_SIZE offset;
    /* PCRE2_NEVER_BACKSLASH_C: \C could split a UTF-8 character and read past
     * it; MATCH_INVALID_UTF: message text is not always valid UTF-8. */
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS | PCRE2_MATCH_INVALID_UTF |
                    PCRE2_NEVER_BACKSLASH_C;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &code, &offset, cctx);
    pcre2_compile_context_free(cctx);
    if (!c) {
        regex_error(code, offset, err, errlen);
        return NULL;
    }
    search_regex *re = xcalloc(1, sizeof *re);
    re->code = c;
    (void)pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);   /* the interpreter is the fallback */
    re->md = pcre2_match_data_create_from_pattern(c, NULL);
    re->mctx = pcre2_match_context_create(NULL);
    if (!re->md || !re->mctx) xalloc_fail(0);
    pcre2_set_match_limit(re->mctx, SEARCH_REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(re->mctx, SEARCH_REGEX_DEPTH_LIMIT);
    pcre2_set_heap_limit(re->mctx, SEARCH_REGEX_HEAP_KIB);
    return re;
}

int search_regex_validate(const char *pattern, char *err, size_t errlen)
{
    search_regex *re = search_regex_new(pattern, err, errlen);
    if (!re) return -1;
    search_regex_free(re);
    return 0;
}

search_regex_result search_regex_match(search_regex *re, const char *text, size_t len)
{
    int rc = pcre2_match(re->code, (PCRE2_SPTR)(text ? text : ""), text ? len : 0, 0, 0,
                         re->md, re->mctx);
    if (rc >= 0) return SEARCH_REGEX_MATCH;
    if (rc == PCRE2_ERROR_NOMATCH) return SEARCH_REGEX_NOMATCH;
    /* Match, depth or heap limit, JIT stack exhausted, or anything else PCRE2
     * refuses to finish: the answer is unknown, so the search cannot be trusted. */
    return SEARCH_REGEX_LIMIT;
}

void search_regex_free(search_regex *re)
{
    if (!re) return;
    pcre2_match_data_free(re->md);
    pcre2_match_context_free(re->mctx);
    pcre2_code_free(re->code);
    free(re);
}
