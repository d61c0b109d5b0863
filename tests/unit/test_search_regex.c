/*
 * test_search_regex.c — X-REGEX patterns: matches, case rules, invalid patterns
 * refused with a reason, and catastrophic patterns stopped by the limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "util/limits.h"
#include "search/search_regex.h"

static search_regex_result match(const char *pattern, const char *text)
{
    char err[256];
    search_regex *re = search_regex_new(pattern, err, sizeof err);
    assert_non_null(re);
    search_regex_result r = search_regex_match(re, text, strlen(text));
    search_regex_free(re);
    return r;
}

static void matches_anywhere_and_caselessly(void **state)
{
    (void)state;
    assert_int_equal(match("inv[o0]ice-\\d{4}", "Your INVOICE-2024 is ready"), SEARCH_REGEX_MATCH);
    assert_int_equal(match("^Your", "Your invoice"), SEARCH_REGEX_MATCH);
    assert_int_equal(match("^invoice", "Your invoice"), SEARCH_REGEX_NOMATCH);
    assert_int_equal(match("(?-i)INVOICE", "Your invoice"), SEARCH_REGEX_NOMATCH);
    assert_int_equal(match("\\bgr\\w+e\\b", "GRÜẞE aus Köln"), SEARCH_REGEX_MATCH);
    assert_int_equal(match("köln", "Grüße aus KÖLN"), SEARCH_REGEX_MATCH);
}

static void invalid_utf8_subject_is_matched_as_far_as_valid(void **state)
{
    (void)state;
    char err[64];
    search_regex *re = search_regex_new("abc", err, sizeof err);
    assert_non_null(re);
    const char bad[] = "x\xff\xfe abc";
    assert_int_equal(search_regex_match(re, bad, sizeof bad - 1), SEARCH_REGEX_MATCH);
    search_regex_free(re);
}

static void invalid_pattern_refused_with_reason(void **state)
{
    (void)state;
    char err[256] = "";
    assert_int_equal(search_regex_validate("a(b", err, sizeof err), -1);
    assert_non_null(strstr(err, "invalid regular expression at offset 3"));
    assert_int_equal(search_regex_validate("\\C", err, sizeof err), -1);
    assert_int_equal(search_regex_validate("ok|fine", err, sizeof err), 0);
}

static void too_long_or_too_deep_refused(void **state)
{
    (void)state;
    char err[256] = "";
    char *p = malloc(SEARCH_REGEX_PATTERN_MAX + 2);
    memset(p, 'a', SEARCH_REGEX_PATTERN_MAX + 1);
    p[SEARCH_REGEX_PATTERN_MAX + 1] = '\0';
    assert_int_equal(search_regex_validate(p, err, sizeof err), -1);
    assert_non_null(strstr(err, "longer than"));
    p[SEARCH_REGEX_PATTERN_MAX] = '\0';
    assert_int_equal(search_regex_validate(p, err, sizeof err), 0);
    /* SEARCH_REGEX_NEST_MAX + 1 nested groups. */
    size_t depth = SEARCH_REGEX_NEST_MAX + 1, k = 0;
    for (size_t i = 0; i < depth; i++) p[k++] = '(';
    p[k++] = 'a';
    for (size_t i = 0; i < depth; i++) p[k++] = ')';
    p[k] = '\0';
    assert_int_equal(search_regex_validate(p, err, sizeof err), -1);
    free(p);
}

static void catastrophic_pattern_stops_quickly(void **state)
{
    (void)state;
    char err[64];
    search_regex *re = search_regex_new("(a+)+$", err, sizeof err);
    assert_non_null(re);
    char subject[64];
    memset(subject, 'a', 40);
    strcpy(subject + 40, "!");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(search_regex_match(re, subject, strlen(subject)), SEARCH_REGEX_LIMIT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* Without the limit this runs for hours; we only check that it returned at
     * all, and report the time (timings are not asserted). */
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    print_message("catastrophic pattern stopped after %.1f ms\n", ms);
    /* The same object still works for an ordinary subject afterwards. */
    assert_int_equal(search_regex_match(re, "aaa", 3), SEARCH_REGEX_MATCH);
    search_regex_free(re);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_anywhere_and_caselessly),
        cmocka_unit_test(invalid_utf8_subject_is_matched_as_far_as_valid),
        cmocka_unit_test(invalid_pattern_refused_with_reason),
        cmocka_unit_test(too_long_or_too_deep_refused),
        cmocka_unit_test(catastrophic_pattern_stops_quickly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
