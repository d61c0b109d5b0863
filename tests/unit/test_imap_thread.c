/*
 * test_imap_thread.c — THREAD=REFERENCES and THREAD=ORDEREDSUBJECT (RFC 5256 3)
 * over synthetic sort records: the exact thread-list text for each case.
 *
 * Cases: the RFC's steps one at a time (linking, dummies, pruning, subject
 * merging, sibling order), the ImapTest thread* mailboxes, and hostile input
 * (cycles in References, self references, duplicate and missing Message-IDs,
 * In-Reply-To fallback, a very deep chain, more references than we take).
 * Messages are numbered 1..n in the order given (sequence numbers).
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
#include "util/limits.h"
#include "store/store.h"
#include "imap/imap_sort.h"

typedef struct msg {
    int64_t date;             /* sent date; 0 = none (then arrival is used) */
    int64_t arrival;
    const char *subject, *id, *refs, *irt;
} msg;

/* Threads all n records, as THREAD ... ALL does. */
static void thread_all(imap_thread_alg alg, const store_sortrec *r, size_t n, const uint32_t *nums, buf *out)
{
    imap_thread_facts *f = imap_thread_facts_new(r, n);
    assert_int_equal(imap_thread(alg, f, NULL, n, nums, out), 0);
    imap_thread_facts_free(f);
}

static void run(const char *row, imap_thread_alg alg, const msg *m, size_t n, const char *want)
{
    store_sortrec *r = calloc(n ? n : 1, sizeof *r);
    uint32_t *nums = calloc(n ? n : 1, sizeof *nums);
    for (size_t i = 0; i < n; i++) {
        r[i].uid = (uint32_t)(100 + i);
        r[i].sentdate = m[i].date;
        r[i].internaldate = m[i].arrival ? m[i].arrival : 1000;
        r[i].subject = (char *)(m[i].subject ? m[i].subject : "");
        r[i].message_id = (char *)(m[i].id ? m[i].id : "");
        r[i].references = (char *)(m[i].refs ? m[i].refs : "");
        r[i].in_reply_to = (char *)(m[i].irt ? m[i].irt : "");
        r[i].from = r[i].to = r[i].cc = r[i].from_display = r[i].to_display = (char *)"";
        nums[i] = (uint32_t)(i + 1);
    }
    buf out = BUF_INIT;
    thread_all(alg, r, n, nums, &out);
    if (strcmp(buf_cstr(&out), want)) {
        print_error("[%s]: got \"%s\" want \"%s\"\n", row, buf_cstr(&out), want);
        buf_free(&out);
        free(r);
        free(nums);
        fail();
    }
    buf_free(&out);
    free(r);
    free(nums);
}

#define REF(row, want, ...) do { \
    const msg m_[] = { __VA_ARGS__ }; \
    run(row, IMAP_THREAD_REFERENCES, m_, sizeof m_ / sizeof m_[0], want); } while (0)
#define OS(row, want, ...) do { \
    const msg m_[] = { __VA_ARGS__ }; \
    run(row, IMAP_THREAD_ORDEREDSUBJECT, m_, sizeof m_ / sizeof m_[0], want); } while (0)

/* ---- REFERENCES ---------------------------------------------------------------------- */

static void references_links_parents_and_writes_nested_lists(void **state)
{
    run("empty", IMAP_THREAD_REFERENCES, NULL, 0, "");
    REF("one", "(1)", { 10, 0, "a", "<a@x>", NULL, NULL });
    REF("unrelated, by date", "(2)(1)",
        { 20, 0, "a", "<a@x>", NULL, NULL },
        { 10, 0, "b", "<b@x>", NULL, NULL });
    REF("chain", "(1 2 3)",
        { 10, 0, "a", "<a@x>", NULL, NULL },
        { 20, 0, "Re: a", "<b@x>", "<a@x>", NULL },
        { 30, 0, "Re: a", "<c@x>", "<a@x> <b@x>", NULL });
    /* RFC 5256 4 example shape: (3 6 (4 23)(44 7 96)) */
    REF("branches", "(1 2 (3 4)(5 6 7))",
        { 10, 0, "s", "<1@x>", NULL, NULL },
        { 20, 0, "s", "<2@x>", "<1@x>", NULL },
        { 30, 0, "s", "<3@x>", "<1@x> <2@x>", NULL },
        { 40, 0, "s", "<4@x>", "<2@x> <3@x>", NULL },
        { 50, 0, "s", "<5@x>", "<2@x>", NULL },
        { 60, 0, "s", "<6@x>", "<5@x>", NULL },
        { 70, 0, "s", "<7@x>", "<6@x>", NULL });
    /* children come in any order and are sorted by date, ties by sequence */
    REF("siblings by date", "(1 (4)(2)(3))",
        { 10, 0, "p", "<p@x>", NULL, NULL },
        { 30, 0, "c", "<c1@x>", "<p@x>", NULL },
        { 30, 0, "c", "<c2@x>", "<p@x>", NULL },
        { 20, 0, "c", "<c3@x>", "<p@x>", NULL });
    /* a message referenced before it arrives takes its dummy's place */
    REF("parent arrives later", "(2 1)",
        { 20, 0, "Re: x", "<c@x>", "<p@x>", NULL },
        { 10, 0, "x", "<p@x>", NULL, NULL });
    /* the sent date falls back to the arrival date (RFC 5256 2.2) */
    REF("arrival fallback", "(2)(1)",
        { 0, 500, "a", "<a@x>", NULL, NULL },
        { 400, 0, "b", "<b@x>", NULL, NULL });
}

static void references_uses_in_reply_to_only_without_references(void **state)
{
    REF("in-reply-to", "(1 2)",
        { 10, 0, "a", "<a@x>", NULL, NULL },
        { 20, 0, "b", "<b@x>", NULL, "<a@x>" });
    /* References wins over In-Reply-To */
    REF("references first", "(1 3)(2)",
        { 10, 0, "a", "<a@x>", NULL, NULL },
        { 20, 0, "b", "<b@x>", NULL, NULL },
        { 30, 0, "c", "<c@x>", "<a@x>", "<b@x>" });
    /* a References without any valid id falls back to In-Reply-To */
    REF("invalid references", "(1 2)",
        { 10, 0, "a", "<a@x>", NULL, NULL },
        { 20, 0, "b", "<b@x>", "garbage <no-at-sign> <>", "<a@x>" });
    /* In-Reply-To's first valid id; text around ids is ignored */
    REF("in-reply-to text", "(1 3)(2)",
        { 10, 0, "a", "<a@x>", NULL, NULL },
        { 20, 0, "b", "<b@x>", NULL, NULL },
        { 30, 0, "c", "<c@x>", NULL, "your message of Monday <a@x> and <b@x>" });
    /* ids compare case-sensitively (RFC 5256 3 step 1.A) */
    REF("case-sensitive ids", "(1)(2)",
        { 10, 0, "a", "<a@x>", NULL, NULL },
        { 20, 0, "b", "<b@x>", "<A@x>", NULL });
}

static void references_dummies_are_pruned_or_kept(void **state)
{
    /* a missing parent with one child: the child goes up to the root */
    REF("one child of a dummy", "(1)",
        { 10, 0, "a", "<a@x>", "<gone@x>", NULL });
    /* a missing parent with two children stays as a dummy at the top */
    REF("two children of a dummy", "((1)(2))",
        { 10, 0, "a", NULL, "<gone@x>", NULL },
        { 20, 0, "b", NULL, "<gone@x>", NULL });
    /* below the top a dummy gives way to its children, whatever their number */
    REF("inner dummy", "(1 (2)(3))",
        { 10, 0, "r", "<r@x>", NULL, NULL },
        { 20, 0, "a", "<a@x>", "<r@x> <gone@x>", NULL },
        { 30, 0, "b", "<b@x>", "<r@x> <gone@x>", NULL });
    /* a chain of missing ancestors with one message below: just the message */
    REF("dummy chain", "(1)",
        { 10, 0, "a", "<a@x>", "<g1@x> <g2@x> <g3@x>", NULL });
    /* dummy chain above two children: the top dummy keeps both */
    REF("dummy chain, two children", "((1)(2))",
        { 10, 0, "a", "<a@x>", "<g1@x> <g2@x>", NULL },
        { 20, 0, "b", "<b@x>", "<g1@x> <g2@x>", NULL });
    /* a top-level dummy sorts by its first child's date */
    REF("dummy sorts by first child", "(3)((2)(1))",
        { 30, 0, "a", "<a@x>", "<gone@x>", NULL },
        { 20, 0, "b", "<b@x>", "<gone@x>", NULL },
        { 10, 0, "c", "<c@x>", NULL, NULL });
}

static void references_breaks_cycles_and_duplicates(void **state)
{
    /* ImapTest "thread": b's References says a then c, c's says b; linking c
     * under b would make a loop, so c stays at the top (RFC 5256 3 1.B). */
    REF("imaptest thread", "(3 2)(1)",
        { 0, 1700, "", "<a@b>", NULL, NULL },
        { 0, 1500, "", "<b@b>", "<a@b> <c@b>", NULL },
        { 0, 1600, "", "<c@b>", "<b@b>", NULL });
    /* the same after message 1 is expunged */
    REF("imaptest thread expunged", "(2 1)",
        { 0, 1500, "", "<b@b>", "<a@b> <c@b>", NULL },
        { 0, 1600, "", "<c@b>", "<b@b>", NULL });
    /* two messages referencing each other */
    /* 2 is 1's parent (1 named it first); 2 naming 1 would make a loop */
    REF("mutual", "(2 1)",
        { 10, 0, "a", "<a@x>", "<b@x>", NULL },
        { 20, 0, "b", "<b@x>", "<a@x>", NULL });
    /* a message that references itself */
    REF("self", "(1)", { 10, 0, "a", "<a@x>", "<a@x>", NULL });
    REF("self last", "(1)(2)",
        { 10, 0, "p", "<p@x>", NULL, NULL },
        { 20, 0, "a", "<a@x>", "<p@x> <a@x>", NULL });
    /* a cycle inside References: a b a */
    REF("cycle in references", "(1 2)",
        { 10, 0, "x", "<a@x>", NULL, NULL },
        { 20, 0, "y", "<c@x>", "<a@x> <b@x> <a@x>", NULL });
    /* repeated id in References */
    REF("repeat", "(1 2)",
        { 10, 0, "x", "<a@x>", NULL, NULL },
        { 20, 0, "y", "<c@x>", "<a@x> <a@x>", NULL });
    /* a first parent is kept when a later message claims another (1.A) */
    REF("first parent kept", "(1 (2 4 5)(3))",
        { 10, 0, "s", "<a@x>", NULL, NULL },
        { 20, 0, "s", "<b@x>", "<a@x>", NULL },
        { 30, 0, "s", "<c@x>", "<a@x>", NULL },
        { 40, 0, "s", "<d@x>", "<a@x> <b@x>", NULL },
        { 50, 0, "t", "<e@x>", "<c@x> <b@x> <d@x>", NULL });
    /* ImapTest thread2: the same Message-ID twice; the second gets its own */
    REF("duplicate ids", "(1)(2)",
        { 0, 1000, "", "<a@b>", NULL, NULL },
        { 0, 1000, "", "<a@b>", NULL, NULL });
    /* ImapTest thread7: a duplicate of b with References a */
    REF("imaptest thread7", "(1 (2 3)(4))",
        { 0, 1000, "", "<a@b>", NULL, NULL },
        { 0, 1000, "", "<b@b>", "<a@b>", NULL },
        { 0, 1000, "", "<c@b>", "<b@b>", NULL },
        { 0, 1000, "", "<b@b>", "<a@b>", NULL });
    REF("imaptest thread7 expunged", "(1 3 2)",
        { 0, 1000, "", "<a@b>", NULL, NULL },
        { 0, 1000, "", "<c@b>", "<b@b>", NULL },
        { 0, 1000, "", "<b@b>", "<a@b>", NULL });
    /* messages without Message-ID each stand alone */
    REF("no ids", "(1)(2)(3)",
        { 10, 0, "a", NULL, NULL, NULL },
        { 20, 0, "b", "", NULL, NULL },
        { 30, 0, "c", "not an id", NULL, NULL });
    /* a reply to a message without an id can't find it */
    REF("reply to id-less", "(1)(2)",
        { 10, 0, "a", NULL, NULL, NULL },
        { 20, 0, "b", "<b@x>", "<>", NULL });
}

static void references_imaptest_thread5_sequence(void **state)
{
    REF("thread5", "(1 (2 4)(3))",
        { 0, 1700, "", "<1@b>", NULL, NULL },
        { 0, 1500, "", "<2@b>", NULL, "<1@b>" },
        { 0, 1500, "", "<3@b>", NULL, "<1@b>" },
        { 0, 1500, "", "<4@b>", NULL, "<2@b>" });
    REF("thread5 expunged", "(1)(2)",
        { 0, 1500, "", "<3@b>", NULL, "<1@b>" },
        { 0, 1500, "", "<4@b>", NULL, "<2@b>" });
    REF("thread5 appended", "(1)((2)(3))",
        { 0, 1500, "", "<3@b>", NULL, "<1@b>" },
        { 0, 1500, "", "<4@b>", NULL, "<2@b>" },
        { 0, 1500, "", "<5@b>", NULL, "<2@b>" });
    /* thread6: no Message-IDs, both refer to a missing <a@b> */
    REF("thread6", "((1)(2))",
        { 0, 1000, "", NULL, "<a@b>", NULL },
        { 0, 1001, "", NULL, "<a@b>", NULL });
}

static void references_merges_top_level_threads_by_subject(void **state)
{
    /* ImapTest thread3: duplicate ids, "Re: foo" goes under "foo" */
    REF("reply under original", "(1 2)",
        { 0, 1000, "foo", "<a@b>", NULL, NULL },
        { 0, 1001, "Re: foo", "<a@b>", NULL, NULL });
    /* ImapTest thread4: the reply's parent is missing; pruned, then merged */
    REF("pruned then merged", "(1 2)",
        { 0, 1000, "foo", "<a@b>", NULL, NULL },
        { 0, 1001, "Re: foo", "<b@b>", "<c@b>", NULL });
    /* neither is a reply: a new dummy holds both */
    REF("same subject, no replies", "((1)(2))",
        { 10, 0, "foo", "<a@x>", NULL, NULL },
        { 20, 0, "FOO", "<b@x>", NULL, NULL });
    /* both replies: a new dummy too */
    REF("two replies", "((1)(2))",
        { 10, 0, "Re: foo", "<a@x>", NULL, NULL },
        { 20, 0, "Fwd: foo", "<b@x>", NULL, NULL });
    /* the original comes later than the reply: the reply still goes under it */
    REF("original later", "(2 1)",
        { 10, 0, "Re: foo", "<a@x>", NULL, NULL },
        { 20, 0, "foo", "<b@x>", NULL, NULL });
    /* a third non-reply joins the dummy made for the first two */
    REF("dummy collects", "((1)(2)(3))",
        { 10, 0, "foo", "<a@x>", NULL, NULL },
        { 20, 0, "foo", "<b@x>", NULL, NULL },
        { 30, 0, "foo", "<c@x>", NULL, NULL });
    /* a dummy already in the table takes a message with the same subject */
    REF("into existing dummy", "((1)(2)(3))",
        { 10, 0, "foo", "<a@x>", "<gone@x>", NULL },
        { 20, 0, "foo", "<b@x>", "<gone@x>", NULL },
        { 30, 0, "foo", "<c@x>", NULL, NULL });
    /* two dummies with one subject: their children become siblings */
    REF("two dummies", "((1)(3)(2)(4))",
        { 10, 0, "foo", "<a@x>", "<g1@x>", NULL },
        { 30, 0, "foo", "<b@x>", "<g1@x>", NULL },
        { 20, 0, "foo", "<c@x>", "<g2@x>", NULL },
        { 40, 0, "foo", "<d@x>", "<g2@x>", NULL });
    /* empty base subjects are never merged */
    REF("empty subjects", "(1)(2)(3)",
        { 10, 0, "", "<a@x>", NULL, NULL },
        { 20, 0, "Re:", "<b@x>", NULL, NULL },
        { 30, 0, "[fwd: ]", "<c@x>", NULL, NULL });
    /* subjects compare after base-subject extraction and case folding */
    REF("base subjects", "(1 (2)(3))",
        { 10, 0, "[list] Plans", "<a@x>", NULL, NULL },
        { 20, 0, "RE: [list] plans", "<b@x>", NULL, NULL },
        { 30, 0, "[fwd: PLANS]", "<c@x>", NULL, NULL });
    /* only top-level threads merge: a reply deep in another thread stays */
    REF("only top level", "(1 2)(3)",
        { 10, 0, "a", "<a@x>", NULL, NULL },
        { 20, 0, "Re: b", "<b@x>", "<a@x>", NULL },
        { 30, 0, "b", "<c@x>", NULL, NULL });
}

static void references_survives_deep_and_long_input(void **state)
{
    /* 100,000 messages in one chain: no recursion on the C stack */
    enum { N = 100000 };
    store_sortrec *r = calloc(N, sizeof *r);
    uint32_t *nums = calloc(N, sizeof *nums);
    char (*ids)[24] = calloc(N, sizeof *ids);
    for (size_t i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "<%zu@x>", i);
        r[i].uid = (uint32_t)(i + 1);
        r[i].sentdate = (int64_t)i + 1;
        r[i].subject = (char *)"deep";
        r[i].message_id = ids[i];
        r[i].references = i ? ids[i - 1] : (char *)"";
        r[i].in_reply_to = (char *)"";
        r[i].from = r[i].to = r[i].cc = r[i].from_display = r[i].to_display = (char *)"";
        nums[i] = (uint32_t)(i + 1);
    }
    buf out = BUF_INIT;
    thread_all(IMAP_THREAD_REFERENCES, r, N, nums, &out);
    assert_true(out.len > 10);
    assert_memory_equal(out.p, "(1 2 3 ", 7);
    assert_memory_equal(out.p + out.len - 8, " 100000)", 8);
    buf_free(&out);
    /* a comb: each spine message has a leaf and the next spine message as
     * children, 50,000 levels of nested groups */
    for (size_t i = 0; i < N; i++) {
        r[i].references = i == 0 ? (char *)"" : ids[i % 2 ? i - 1 : i - 2];
        r[i].sentdate = 1;
    }
    thread_all(IMAP_THREAD_REFERENCES, r, N, nums, &out);
    assert_memory_equal(out.p, "(1 (2)(3 (4)(5 (6)(7 ", 21);
    assert_int_equal(out.p[out.len - 1], ')');
    size_t open = 0, close = 0;
    for (size_t i = 0; i < out.len; i++) {
        open += out.p[i] == '(';
        close += out.p[i] == ')';
    }
    assert_int_equal(open, close);
    buf_free(&out);
    free(r);
    free(nums);
    free(ids);
}

static void references_takes_only_the_last_refs_max_references(void **state)
{
    /* A References header naming IMAP_THREAD_REFS_MAX + 5 ids: the parent is
     * still the last one, and the first ids (cut off) make no dummies. */
    buf refs = BUF_INIT;
    for (int i = 0; i < IMAP_THREAD_REFS_MAX + 5; i++) buf_printf(&refs, "<r%d@x> ", i);
    REF("many refs, parent is last", "(1 2)",
        { 10, 0, "a", "<r1004@x>", NULL, NULL },
        { 20, 0, "b", "<b@x>", refs.p, NULL });
    /* the first reference (cut off) can't be the parent of anything */
    REF("cut-off reference is not linked", "(1)(2)",
        { 10, 0, "a", "<r0@x>", NULL, NULL },
        { 20, 0, "b", "<b@x>", refs.p, NULL });
    buf_free(&refs);
}

/* Threads of a subset, through the facts of the whole set (as the session's
 * cache serves THREAD ... SINCE), equal threads of the subset's records alone:
 * random messages with duplicate and self references, shared ids, replies
 * and forwards, equal dates; random subsets; both algorithms. */
static void subset_through_whole_facts_equals_subset_alone(void **state)
{
    enum { N = 300, ROUNDS = 60 };
    static const char *subjects[] = { "a", "Re: a", "b", "Fwd: b", "", "[x] c", "c (fwd)", "RE: A" };
    static char ids[N][24], refs[N][80];
    store_sortrec *r = calloc(N, sizeof *r), *sub = calloc(N, sizeof *sub);
    uint32_t *nums = calloc(N, sizeof *nums), *subnums = calloc(N, sizeof *subnums);
    size_t *pick = calloc(N, sizeof *pick);
    unsigned seed = 12345;
#define RND() (seed = seed * 1103515245u + 12345u, (seed >> 16) & 0x7fff)
    for (size_t i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "<%u@x>", RND() % 250);    /* some ids shared */
        size_t nr = RND() % 4, len = 0;
        refs[i][0] = '\0';
        for (size_t k = 0; k < nr && len + 20 < sizeof refs[i]; k++)
            len += (size_t)snprintf(refs[i] + len, sizeof refs[i] - len, "<%u@x> ", RND() % 250);
        r[i].uid = (uint32_t)(i + 1);
        r[i].sentdate = RND() % 3 ? (int64_t)(RND() % 50) : 0;
        r[i].internaldate = (int64_t)(RND() % 50);
        r[i].subject = (char *)subjects[RND() % 8];
        r[i].message_id = RND() % 10 ? ids[i] : (char *)"";
        r[i].references = RND() % 4 ? refs[i] : (char *)"";
        r[i].in_reply_to = RND() % 2 ? ids[RND() % N] : (char *)"";
        r[i].from = r[i].to = r[i].cc = r[i].from_display = r[i].to_display = (char *)"";
        nums[i] = (uint32_t)(i + 1);
    }
    imap_thread_facts *all = imap_thread_facts_new(r, N);
    for (int round = 0; round < ROUNDS; round++) {
        imap_thread_alg alg = round % 3 ? IMAP_THREAD_REFERENCES : IMAP_THREAD_ORDEREDSUBJECT;
        size_t n = 0, every = 1 + (size_t)round % 5;
        for (size_t i = 0; i < N; i++) {
            if (RND() % every) continue;
            pick[n] = i;
            sub[n] = r[i];
            subnums[n] = nums[i];
            n++;
        }
        buf via = BUF_INIT, alone = BUF_INIT;
        assert_int_equal(imap_thread(alg, all, pick, n, subnums, &via), 0);
        thread_all(alg, sub, n, subnums, &alone);
        assert_string_equal(buf_cstr(&via), buf_cstr(&alone));
        buf_free(&via);
        buf_free(&alone);
    }
#undef RND
    imap_thread_facts_free(all);
    free(r);
    free(sub);
    free(nums);
    free(subnums);
    free(pick);
}

/* ---- ORDEREDSUBJECT ------------------------------------------------------------------ */

static void orderedsubject_groups_by_base_subject_sorted_by_date(void **state)
{
    run("empty", IMAP_THREAD_ORDEREDSUBJECT, NULL, 0, "");
    OS("one", "(1)", { 10, 0, "a", NULL, NULL, NULL });
    OS("two same", "(1 2)",
        { 10, 0, "a", NULL, NULL, NULL },
        { 20, 0, "Re: a", NULL, NULL, NULL });
    /* ImapTest thread-orderedsubject2: dates from Date:, else arrival */
    OS("imaptest orderedsubject2", "(4 (2)(8)(6))(3 (1)(7)(5))",
        { 100010, 0, "a", NULL, NULL, NULL },
        { 100009, 0, "b", NULL, NULL, NULL },
        { 100008, 0, "a", NULL, NULL, NULL },
        { 100007, 0, "b", NULL, NULL, NULL },
        { 0, 100030, "a", NULL, NULL, NULL },
        { 0, 100029, "b", NULL, NULL, NULL },
        { 0, 100028, "a", NULL, NULL, NULL },
        { 0, 100027, "b", NULL, NULL, NULL });
    /* References are ignored; empty subjects form one thread; ties by sequence */
    OS("ignores references", "(1 (3)(4))(2)",
        { 10, 0, "", "<a@x>", NULL, NULL },
        { 10, 0, "x", "<b@x>", "<a@x>", NULL },
        { 20, 0, "Re:", NULL, NULL, NULL },
        { 30, 0, "", NULL, NULL, NULL });
    OS("case folded", "(1 (2)(3))",
        { 10, 0, "Hello", NULL, NULL, NULL },
        { 20, 0, "HELLO", NULL, NULL, NULL },
        { 30, 0, "re: hello (fwd)", NULL, NULL, NULL });
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(references_links_parents_and_writes_nested_lists),
        cmocka_unit_test(references_uses_in_reply_to_only_without_references),
        cmocka_unit_test(references_dummies_are_pruned_or_kept),
        cmocka_unit_test(references_breaks_cycles_and_duplicates),
        cmocka_unit_test(references_imaptest_thread5_sequence),
        cmocka_unit_test(references_merges_top_level_threads_by_subject),
        cmocka_unit_test(references_survives_deep_and_long_input),
        cmocka_unit_test(references_takes_only_the_last_refs_max_references),
        cmocka_unit_test(subset_through_whole_facts_equals_subset_alone),
        cmocka_unit_test(orderedsubject_groups_by_base_subject_sorted_by_date),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
