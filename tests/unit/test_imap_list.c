/*
 * test_imap_list.c — LIST/LSUB wildcards and selection (imap_list.c):
 * '*' crosses the hierarchy, '%' does not, INBOX matches in any case, hostile
 * patterns stay cheap, "%" lists missing parent levels as \Noselect, LSUB lists
 * an unsubscribed parent as \Noselect (RFC 3501 6.3.9), CHILDREN and SPECIAL-USE
 * attributes are exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "util/buf.h"
#include "store/store.h"
#include "imap/imap_session.h"

static void match_star_crosses_hierarchy(void **state)
{
    assert_true(imap_list_match("*", "a"));
    assert_true(imap_list_match("*", "a/b/c"));
    assert_true(imap_list_match("a*", "a/b"));
    assert_true(imap_list_match("a*", "abc"));
    assert_true(imap_list_match("*c", "a/b/c"));
    assert_true(imap_list_match("a/*", "a/b/c"));
    assert_false(imap_list_match("a/*", "a"));
    assert_false(imap_list_match("b*", "a/b"));
}

static void match_percent_stays_in_level(void **state)
{
    assert_true(imap_list_match("%", "a"));
    assert_false(imap_list_match("%", "a/b"));
    assert_true(imap_list_match("a/%", "a/b"));
    assert_false(imap_list_match("a/%", "a/b/c"));
    assert_true(imap_list_match("%/b", "x/b"));
    assert_false(imap_list_match("%/b", "x/y/b"));
    assert_true(imap_list_match("a%b", "axxb"));
    assert_false(imap_list_match("a%b", "ax/xb"));
    assert_true(imap_list_match("%/%/%", "a/b/c"));
    assert_true(imap_list_match("%", ""));
}

static void match_literals_exact_and_case_sensitive(void **state)
{
    assert_true(imap_list_match("Drafts", "Drafts"));
    assert_false(imap_list_match("drafts", "Drafts"));
    assert_false(imap_list_match("Draft", "Drafts"));
    assert_false(imap_list_match("Draftss", "Drafts"));
    assert_true(imap_list_match("", ""));
    assert_false(imap_list_match("", "a"));
    /* UTF-8 bytes match as themselves. */
    assert_true(imap_list_match("Entw\xc3\xbc%", "Entw\xc3\xbcrfe"));
    assert_true(imap_list_match("%rfe", "Entw\xc3\xbcrfe"));
}

static void match_inbox_any_case(void **state)
{
    assert_true(imap_list_match("inbox", "INBOX"));
    assert_true(imap_list_match("InBoX", "INBOX"));
    assert_true(imap_list_match("inbox/%", "INBOX/sub"));
    assert_true(imap_list_match("inb*", "INBOX"));
    /* Only the first level named INBOX folds; other names stay exact. */
    assert_false(imap_list_match("inboxes", "INBOXES"));
    assert_false(imap_list_match("INBOX/SUB", "INBOX/sub"));
}

static void match_wildcard_runs_collapse(void **state)
{
    assert_true(imap_list_match("%*", "a/b"));
    assert_true(imap_list_match("*%", "a/b"));
    assert_false(imap_list_match("%%", "a/b"));
    assert_true(imap_list_match("%%%a", "xa"));
}

static void match_hostile_pattern_is_fast(void **state)
{
    /* "%a%a%a...%a" against "aaaa...a" would take exponential time with naive
     * backtracking; the positional matcher answers in well under a second. */
    char pattern[2 * 300 + 2], name[512];
    size_t k = 0;
    for (int i = 0; i < 300; i++) { pattern[k++] = '%'; pattern[k++] = 'a'; }
    pattern[k++] = 'b';
    pattern[k] = '\0';
    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    clock_t t0 = clock();
    for (int i = 0; i < 100; i++) assert_false(imap_list_match(pattern, name));
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 2.0);

    /* More literal characters than the name has: fails without scanning. */
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_false(imap_list_match(big, "xx"));
    /* A very long run of wildcards is one wildcard. */
    memset(big, '*', sizeof big - 1);
    assert_true(imap_list_match(big, "any/thing"));
}

static void select_list_percent_with_children(void **state)
{
    char *names[] = { "INBOX", "a", "a/b", "c/d", "Sent" };
    unsigned special[] = { 0, 0, 0, 0, STORE_SPECIAL_SENT };
    imap_list_entry *e = NULL;
    size_t n = imap_list_select("%", names, special, 5, 1, &e);
    assert_int_equal(n, 4);
    buf b = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        buf_printf(&b, "%s ", e[i].name);
        imap_list_write_attrs(&b, e[i].attrs);
        buf_puts(&b, ";");
    }
    assert_string_equal(b.p, "INBOX (\\HasNoChildren);Sent (\\HasNoChildren \\Sent);"
                             "a (\\HasChildren);c (\\Noselect \\HasChildren);");
    buf_free(&b);
    imap_list_entries_free(e, n);
}

static void select_list_star_all_sorted_unique(void **state)
{
    char *names[] = { "b", "a/x", "a", "a b" };
    imap_list_entry *e = NULL;
    size_t n = imap_list_select("*", names, NULL, 4, 1, &e);
    assert_int_equal(n, 4);
    assert_string_equal(e[0].name, "a");
    assert_int_equal(e[0].attrs, IMAP_LIST_HASCHILDREN);      /* "a b" is not a child */
    assert_string_equal(e[1].name, "a b");
    assert_int_equal(e[1].attrs, IMAP_LIST_HASNOCHILDREN);
    assert_string_equal(e[2].name, "a/x");
    assert_string_equal(e[3].name, "b");
    imap_list_entries_free(e, n);
}

static void select_list_missing_parent_is_noselect(void **state)
{
    /* A parent deleted while it has children (RFC 3501 6.3.4) is listed as
     * \Noselect by every pattern that matches it, "*" included. */
    char *names[] = { "p/kid", "q" };
    imap_list_entry *e = NULL;
    size_t n = imap_list_select("*", names, NULL, 2, 1, &e);
    assert_int_equal(n, 3);
    assert_string_equal(e[0].name, "p");
    assert_int_equal(e[0].attrs, IMAP_LIST_NOSELECT | IMAP_LIST_HASCHILDREN);
    assert_string_equal(e[1].name, "p/kid");
    assert_int_equal(e[1].attrs, IMAP_LIST_HASNOCHILDREN);
    assert_string_equal(e[2].name, "q");
    imap_list_entries_free(e, n);
    n = imap_list_select("p/*", names, NULL, 2, 1, &e);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].name, "p/kid");
    imap_list_entries_free(e, n);
}

static void select_lsub_unsubscribed_parent_is_noselect(void **state)
{
    char *subs[] = { "foo/bar" };
    imap_list_entry *e = NULL;
    size_t n = imap_list_select("%", subs, NULL, 1, 0, &e);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].name, "foo");
    assert_int_equal(e[0].attrs, IMAP_LIST_NOSELECT);
    imap_list_entries_free(e, n);

    /* With '*' the subscribed name itself matches: no invented parent. */
    n = imap_list_select("*", subs, NULL, 1, 0, &e);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].name, "foo/bar");
    assert_int_equal(e[0].attrs, 0);
    imap_list_entries_free(e, n);

    /* A subscribed parent is listed once, as itself. */
    char *both[] = { "foo/bar", "foo", "foo/baz" };
    n = imap_list_select("%", both, NULL, 3, 0, &e);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].name, "foo");
    assert_int_equal(e[0].attrs, 0);
    imap_list_entries_free(e, n);
}

static void select_nothing_matches(void **state)
{
    char *names[] = { "INBOX", "Trash" };
    imap_list_entry *e = (imap_list_entry *)1;
    size_t n = imap_list_select("Nope", names, NULL, 2, 1, &e);
    assert_int_equal(n, 0);
    imap_list_entries_free(e, n);
    n = imap_list_select("%", NULL, NULL, 0, 1, &e);
    assert_int_equal(n, 0);
    imap_list_entries_free(e, n);
}

static void attrs_special_use_names(void **state)
{
    buf b = BUF_INIT;
    unsigned all = 0;
    unsigned bits[] = { STORE_SPECIAL_DRAFTS, STORE_SPECIAL_SENT, STORE_SPECIAL_ARCHIVE,
                        STORE_SPECIAL_JUNK, STORE_SPECIAL_TRASH };
    for (size_t i = 0; i < 5; i++) all |= bits[i] << IMAP_LIST_SPECIAL_SHIFT;
    imap_list_write_attrs(&b, all | IMAP_LIST_HASNOCHILDREN);
    assert_string_equal(b.p, "(\\HasNoChildren \\Archive \\Drafts \\Junk \\Sent \\Trash)");
    buf_reset(&b);
    imap_list_write_attrs(&b, 0);
    assert_string_equal(b.p, "()");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(match_star_crosses_hierarchy),
        cmocka_unit_test(match_percent_stays_in_level),
        cmocka_unit_test(match_literals_exact_and_case_sensitive),
        cmocka_unit_test(match_inbox_any_case),
        cmocka_unit_test(match_wildcard_runs_collapse),
        cmocka_unit_test(match_hostile_pattern_is_fast),
        cmocka_unit_test(select_list_percent_with_children),
        cmocka_unit_test(select_list_star_all_sorted_unique),
        cmocka_unit_test(select_list_missing_parent_is_noselect),
        cmocka_unit_test(select_lsub_unsubscribed_parent_is_noselect),
        cmocka_unit_test(select_nothing_matches),
        cmocka_unit_test(attrs_special_use_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
