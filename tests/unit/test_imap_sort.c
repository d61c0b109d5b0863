/*
 * test_imap_sort.c — the base subject of RFC 5256 2.1 (imap_base_subject) and
 * SORT ordering (imap_sort) over synthetic store sort records.
 *
 * Tables of subjects with the exact base subject and reply-or-forward bit the
 * RFC's steps give; sorts checked as the exact order of record indexes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"
#include "store/store.h"
#include "imap/imap_sort.h"

/* ---- Base subject ------------------------------------------------------------------ */

static void base_subject_follows_rfc5256_steps(void **state)
{
    static const struct { const char *in, *want; int refwd; } rows[] = {
        { "", "", 0 },
        { "Hello", "Hello", 0 },
        { "hello world", "hello world", 0 },
        /* step 1: tabs and line breaks are spaces, runs of spaces one space */
        { "  Hello \t  World  ", "Hello World", 0 },
        { "Hello\r\n World", "Hello World", 0 },
        { "Hello\r\n\tWorld", "Hello World", 0 },
        /* step 3: subj-refwd = ("re" / "fw" ["d"]) *WSP [subj-blob] ":" */
        { "Re: Hello", "Hello", 1 },
        { "RE:Hello", "Hello", 1 },
        { "re : Hello", "Hello", 1 },
        { "Fw: Hello", "Hello", 1 },
        { "FWD: Hello", "Hello", 1 },
        { "fwd:Hello", "Hello", 1 },
        { "Re[2]: Hello", "Hello", 1 },
        { "Re [2] : Hello", "Hello", 1 },
        { "fw[1]: Hello", "Hello", 1 },
        { "RE: re: Fwd: Hello", "Hello", 1 },
        { "Re: Re", "Re", 1 },
        { "Re:", "", 1 },
        { "Re: ", "", 1 },
        /* not a subj-refwd */
        { "Reply: Hello", "Reply: Hello", 0 },
        { "Fwd Hello", "Fwd Hello", 0 },
        { "Fw d: Hello", "Fw d: Hello", 0 },
        { "Re[2 Hello", "Re[2 Hello", 0 },
        { "Hello Re: there", "Hello Re: there", 0 },
        /* subj-leader: blobs before a refwd go with it */
        { "[list] Re: topic", "topic", 1 },
        { "[a][b] Re: topic", "topic", 1 },
        { "[list] Re: [list] Re: topic", "topic", 1 },
        /* step 4: a leading blob goes when a non-empty subj-base remains */
        { "[PATCH] fix the bug", "fix the bug", 0 },
        { "[PATCH]fix", "fix", 0 },
        { "[PATCH]", "[PATCH]", 0 },
        { "[PATCH]  ", "[PATCH]", 0 },
        { "[a] [b]", "[b]", 0 },
        { "[] x", "x", 0 },
        { "Re:[foo]", "[foo]", 1 },
        { "Re: [foo] ", "[foo]", 1 },
        { "[a [b] c", "[a [b] c", 0 },
        { "[a] Re", "Re", 0 },
        /* step 2: subj-trailer = "(fwd)" / WSP, repeatedly */
        { "Hello (fwd)", "Hello", 1 },
        { "Hello (FWD) (fwd)  ", "Hello", 1 },
        { "Hello(fwd)", "Hello", 1 },
        { "(fwd)", "", 1 },
        { "re: (fwd)", "", 1 },
        { "Hello (fwd) there", "Hello (fwd) there", 0 },
        { "Hello (fw)", "Hello (fw)", 0 },
        /* step 6: "[fwd:" ... "]" around the rest, then again from step 2 */
        { "[Fwd: Hello]", "Hello", 1 },
        { "[fwd: Re: Hello (fwd)]", "Hello", 1 },
        { "Re: [fwd: [list] Hello]", "Hello", 1 },
        { "[fwd: [fwd: Hello]]", "Hello", 1 },
        { "[fwd:]", "", 1 },
        { "[fwd: Hello] (fwd)", "Hello", 1 },
        { "[fwd: Hello", "[fwd: Hello", 0 },
        { "x [fwd: y]", "x [fwd: y]", 0 },
        { "[fwd: a] b]", "b]", 0 },          /* step 4 comes before step 6 */
        { "Re: Re: [fwd: Re: hi] (fwd)", "hi", 1 },
        /* UTF-8 passes through untouched */
        { "Re: Gr\xc3\xbc\xc3\x9f" "e", "Gr\xc3\xbc\xc3\x9f" "e", 1 },
        { "[\xc3\xa9t\xc3\xa9] caf\xc3\xa9", "caf\xc3\xa9", 0 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int refwd = -1;
        char *got = imap_base_subject(rows[i].in, &refwd);
        if (strcmp(got, rows[i].want) || refwd != rows[i].refwd) {
            print_error("[%s]: got \"%s\" (%d) want \"%s\" (%d)\n", rows[i].in, got, refwd,
                        rows[i].want, rows[i].refwd);
            free(got);
            fail();
        }
        free(got);
    }
    char *n = imap_base_subject(NULL, NULL);
    assert_string_equal(n, "");
    free(n);
}

static void casemap_compare_folds_ascii_only(void **state)
{
    assert_int_equal(imap_casemap_cmp("abc", "ABC"), 0);
    assert_true(imap_casemap_cmp("abc", "ABD") < 0);
    assert_true(imap_casemap_cmp("B", "a") > 0);
    assert_true(imap_casemap_cmp("", "a") < 0);
    assert_true(imap_casemap_cmp("ab", "a") > 0);
    /* [ (0x5b) sorts after Z but before a once a is mapped to A */
    assert_true(imap_casemap_cmp("[", "a") > 0);
    /* non-ASCII is compared by bytes, not folded */
    assert_true(imap_casemap_cmp("\xc3\xa9", "\xc3\x89") != 0);
    assert_int_equal(imap_casemap_cmp(NULL, ""), 0);
}

/* ---- SORT ------------------------------------------------------------------------------- */

static store_sortrec rec(uint32_t uid, int64_t arrival, int64_t sent, uint64_t size, const char *subject,
                         const char *from, const char *to, const char *cc,
                         const char *dfrom, const char *dto)
{
    store_sortrec r;
    memset(&r, 0, sizeof r);
    r.uid = uid;
    r.internaldate = arrival;
    r.sentdate = sent;
    r.size = size;
    r.subject = (char *)subject;
    r.from = (char *)from;
    r.to = (char *)to;
    r.cc = (char *)cc;
    r.from_display = (char *)dfrom;
    r.to_display = (char *)dto;
    r.message_id = r.in_reply_to = r.references = (char *)"";
    return r;
}

/* The order as "i j k" (record indexes). */
static void check_sort(const char *row, const store_sortrec *r, size_t n, const imap_sort_crit *crit,
                       size_t ncrit, const char *want)
{
    size_t order[16];
    buf b = BUF_INIT;
    assert_true(n <= 16);
    imap_sort(r, n, crit, ncrit, order);
    for (size_t i = 0; i < n; i++) buf_printf(&b, "%s%zu", i ? " " : "", order[i]);
    if (strcmp(buf_cstr(&b), want)) {
        print_error("[%s]: got \"%s\" want \"%s\"\n", row, buf_cstr(&b), want);
        buf_free(&b);
        fail();
    }
    buf_free(&b);
}

static store_sortrec sample[6];

static void sample_init(void)
{
    /*        uid arrival sent  size subject              from     to      cc      dfrom          dto */
    sample[0] = rec(1, 500, 100, 300, "Re: beta",        "carol", "zed",  "",     "Carol C",     "Zed");
    sample[1] = rec(2, 400, 0,   100, "alpha",           "Bob",   "amy",  "x",    "bob@b.example", "amy");
    sample[2] = rec(3, 300, 300, 300, "[list] Alpha",    "alice", "",     "y",    "Alice",       "");
    sample[3] = rec(4, 200, 200, 200, "BETA (fwd)",      "bob",   "Amy",  "",     "Bob B",       "Amy");
    sample[4] = rec(5, 100, 450, 50,  "",                "",      "bob",  "a",    "",            "bob");
    sample[5] = rec(6, 600, 50,  300, "Fwd: Re: gamma",  "dave",  "carl", "y",    "dave",        "carl");
}

static void sort_orders_by_each_key_with_ties_in_sequence_order(void **state)
{
    sample_init();
    static const struct { const char *row; imap_sort_crit crit[3]; size_t n; const char *want; } rows[] = {
        { "ARRIVAL", { { IMAP_SORT_ARRIVAL, 0 } }, 1, "4 3 2 1 0 5" },
        { "REVERSE ARRIVAL", { { IMAP_SORT_ARRIVAL, 1 } }, 1, "5 0 1 2 3 4" },
        /* DATE: record 1 has no Date: and sorts by its arrival (400) */
        { "DATE", { { IMAP_SORT_DATE, 0 } }, 1, "5 0 3 2 1 4" },
        { "REVERSE DATE", { { IMAP_SORT_DATE, 1 } }, 1, "4 1 2 3 0 5" },
        /* SIZE ties (300: 0, 2, 5) stay in sequence order, also reversed */
        { "SIZE", { { IMAP_SORT_SIZE, 0 } }, 1, "4 1 3 0 2 5" },
        { "REVERSE SIZE", { { IMAP_SORT_SIZE, 1 } }, 1, "0 2 5 3 1 4" },
        /* SUBJECT: base subjects "beta" "alpha" "Alpha" "BETA" "" "gamma" */
        { "SUBJECT", { { IMAP_SORT_SUBJECT, 0 } }, 1, "4 1 2 0 3 5" },
        { "REVERSE SUBJECT", { { IMAP_SORT_SUBJECT, 1 } }, 1, "5 0 3 1 2 4" },
        /* FROM: case folded: "" alice Bob bob carol dave */
        { "FROM", { { IMAP_SORT_FROM, 0 } }, 1, "4 2 1 3 0 5" },
        { "TO", { { IMAP_SORT_TO, 0 } }, 1, "2 1 3 4 5 0" },
        { "CC", { { IMAP_SORT_CC, 0 } }, 1, "0 3 4 1 2 5" },
        /* "BOB B" < "BOB@B.EXAMPLE": space (0x20) sorts before @ (0x40) */
        { "DISPLAYFROM", { { IMAP_SORT_DISPLAYFROM, 0 } }, 1, "4 2 3 1 0 5" },
        { "DISPLAYTO", { { IMAP_SORT_DISPLAYTO, 0 } }, 1, "2 1 3 4 5 0" },
        /* several criteria: the second breaks ties of the first */
        { "SUBJECT DATE", { { IMAP_SORT_SUBJECT, 0 }, { IMAP_SORT_DATE, 0 } }, 2, "4 2 1 0 3 5" },
        { "SUBJECT REVERSE ARRIVAL", { { IMAP_SORT_SUBJECT, 0 }, { IMAP_SORT_ARRIVAL, 1 } }, 2, "4 1 2 0 3 5" },
        { "SIZE REVERSE FROM", { { IMAP_SORT_SIZE, 0 }, { IMAP_SORT_FROM, 1 } }, 2, "4 1 3 5 0 2" },
        { "REVERSE SIZE CC ARRIVAL",
          { { IMAP_SORT_SIZE, 1 }, { IMAP_SORT_CC, 0 }, { IMAP_SORT_ARRIVAL, 0 } }, 3, "0 2 5 3 1 4" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        check_sort(rows[i].row, sample, 6, rows[i].crit, rows[i].n, rows[i].want);
}

static void sort_of_nothing_and_of_one(void **state)
{
    sample_init();
    imap_sort_crit c = { IMAP_SORT_SUBJECT, 0 };
    size_t order[1] = { 99 };
    imap_sort(sample, 0, &c, 1, order);
    assert_int_equal(order[0], 99);
    check_sort("one", sample, 1, &c, 1, "0");
}

static void sort_equal_records_keep_sequence_order_even_reversed(void **state)
{
    store_sortrec r[5];
    for (int i = 0; i < 5; i++) r[i] = rec((uint32_t)i + 1, 7, 7, 7, "Same", "a", "b", "c", "d", "e");
    static const imap_sort_key keys[] = { IMAP_SORT_ARRIVAL, IMAP_SORT_CC, IMAP_SORT_DATE,
        IMAP_SORT_FROM, IMAP_SORT_SIZE, IMAP_SORT_SUBJECT, IMAP_SORT_TO, IMAP_SORT_DISPLAYFROM,
        IMAP_SORT_DISPLAYTO };
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        for (int rev = 0; rev < 2; rev++) {
            imap_sort_crit c = { keys[k], rev };
            check_sort("ties", r, 5, &c, 1, "0 1 2 3 4");
        }
}

static void sort_subject_uses_base_subject_and_casemap(void **state)
{
    store_sortrec r[5];
    r[0] = rec(1, 0, 0, 0, "Re: [fwd: b]", "", "", "", "", "");
    r[1] = rec(2, 0, 0, 0, "[x] A", "", "", "", "", "");
    r[2] = rec(3, 0, 0, 0, "a (fwd)", "", "", "", "", "");
    r[3] = rec(4, 0, 0, 0, "_", "", "", "", "", "");       /* 0x5f: after Z, before a */
    r[4] = rec(5, 0, 0, 0, "Z", "", "", "", "", "");
    imap_sort_crit c = { IMAP_SORT_SUBJECT, 0 };
    check_sort("subjects", r, 5, &c, 1, "1 2 0 4 3");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(base_subject_follows_rfc5256_steps),
        cmocka_unit_test(casemap_compare_folds_ascii_only),
        cmocka_unit_test(sort_orders_by_each_key_with_ties_in_sequence_order),
        cmocka_unit_test(sort_of_nothing_and_of_one),
        cmocka_unit_test(sort_equal_records_keep_sequence_order_even_reversed),
        cmocka_unit_test(sort_subject_uses_base_subject_and_casemap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
