/*
 * test_imap_view.c — the selected-folder view (imap_view.c): sequence numbers and
 * uids, message sets with '*', EXPUNGE renumbering (highest first, each number
 * valid when sent), expunges held back during FETCH/STORE/SEARCH (RFC 3501
 * 7.4.1), EXISTS/RECENT for new messages, FETCH FLAGS only for real changes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/uidset.h"
#include "store/store.h"
#include "imap/imap_session.h"

/* A view of messages with the given uids (flags 0), \Recent from first_recent. */
/* A store_msgflags of a test: dates and size are not what these tests read. */
#define MF(u, f, k, m) { .uid = (u), .flags = (f), .keywords = (k), .modseq = (m) }

static void view_make(imap_view *v, const uint32_t *uids, size_t n, uint32_t first_recent)
{
    store_view sv;
    memset(&sv, 0, sizeof sv);
    sv.folder_id = 7;
    sv.uidvalidity = 1234;
    sv.uidnext = n ? uids[n - 1] + 1 : 1;
    sv.highestmodseq = 100;
    sv.first_recent_uid = first_recent;
    sv.msgs = n ? xcalloc(n, sizeof *sv.msgs) : NULL;
    sv.nmsgs = n;
    for (size_t i = 0; i < n; i++) {
        sv.msgs[i].uid = uids[i];
        sv.msgs[i].modseq = 50;
    }
    imap_view_init(v);
    imap_view_load(v, &sv);
    assert_null(sv.msgs);
}

/* The packed flags agree with the records (imap_session.h's invariant). */
static void assert_flags_packed(const imap_view *v)
{
    for (size_t i = 0; i < v->n; i++) assert_int_equal(v->flags[i], v->msgs[i].flags);
}

static imap_seqset seqset_of(uid_range *r, size_t n)
{
    imap_seqset s = { r, n, 0 };
    return s;
}

static void format_set(const uidset *s, char *out, size_t cap)
{
    buf b = BUF_INIT;
    uidset_format(s, &b);
    snprintf(out, cap, "%s", buf_cstr(&b));
    buf_free(&b);
}

static void seq_and_uid_map_both_ways(void **state)
{
    static const uint32_t uids[] = { 3, 9, 10, 42 };
    imap_view v;
    view_make(&v, uids, 4, 10);
    assert_int_equal(imap_view_exists(&v), 4);
    assert_int_equal(imap_view_seq(&v, 3), 1);
    assert_int_equal(imap_view_seq(&v, 42), 4);
    assert_int_equal(imap_view_seq(&v, 4), 0);
    assert_int_equal(imap_view_seq(&v, 100), 0);
    assert_int_equal(imap_view_msg(&v, 2)->uid, 9);
    assert_null(imap_view_msg(&v, 0));
    assert_null(imap_view_msg(&v, 5));
    assert_int_equal(imap_view_max_uid(&v), 42);
    assert_int_equal(imap_view_recent_count(&v), 2);
    assert_true(imap_view_is_recent(&v, 10));
    assert_false(imap_view_is_recent(&v, 9));
    assert_int_equal(imap_view_first_unseen(&v), 1);
    store_msgflags seen = MF(3, MSG_FLAG_SEEN, 0, 60);
    imap_view_set_flags(&v, &seen);
    assert_int_equal(imap_view_first_unseen(&v), 2);
    imap_view_free(&v);
}

static void seqset_star_and_out_of_range(void **state)
{
    static const uint32_t uids[] = { 5, 6, 7, 20, 21 };
    imap_view v;
    view_make(&v, uids, 5, 0);
    char out[64];
    uidset u = UIDSET_INIT;

    uid_range r1[] = { { 2, IMAP_SEQ_STAR } };
    imap_seqset s1 = seqset_of(r1, 1);
    assert_int_equal(imap_view_resolve_seqset(&v, &s1, &u), 0);
    format_set(&u, out, sizeof out);
    assert_string_equal(out, "6:7,20:21");
    uidset_free(&u);

    uid_range r2[] = { { IMAP_SEQ_STAR, IMAP_SEQ_STAR }, { 1, 1 } };
    imap_seqset s2 = seqset_of(r2, 2);
    assert_int_equal(imap_view_resolve_seqset(&v, &s2, &u), 0);
    format_set(&u, out, sizeof out);
    assert_string_equal(out, "5,21");
    uidset_free(&u);

    /* "9:*" with 5 messages is "5:9": what exists of it. */
    uid_range r3[] = { { 9, IMAP_SEQ_STAR } };
    imap_seqset s3 = seqset_of(r3, 1);
    assert_int_equal(imap_view_resolve_seqset(&v, &s3, &u), 0);
    format_set(&u, out, sizeof out);
    assert_string_equal(out, "21");
    uidset_free(&u);

    /* A number past EXISTS without '*' is an invalid set. */
    uid_range r4[] = { { 1, 6 } };
    imap_seqset s4 = seqset_of(r4, 1);
    assert_int_equal(imap_view_resolve_seqset(&v, &s4, &u), -1);
    uidset_free(&u);
    uid_range r5[] = { { 0, 1 } };
    imap_seqset s5 = seqset_of(r5, 1);
    assert_int_equal(imap_view_resolve_seqset(&v, &s5, &u), -1);
    uidset_free(&u);
    imap_view_free(&v);
}

static void seqset_star_on_empty_folder_names_nothing(void **state)
{
    imap_view v;
    view_make(&v, NULL, 0, 0);
    uidset u = UIDSET_INIT;
    uid_range r1[] = { { 1, IMAP_SEQ_STAR } };
    imap_seqset s1 = seqset_of(r1, 1);
    assert_int_equal(imap_view_resolve_seqset(&v, &s1, &u), 0);
    assert_int_equal(u.n, 0);
    uid_range r2[] = { { 1, 1 } };
    imap_seqset s2 = seqset_of(r2, 1);
    assert_int_equal(imap_view_resolve_seqset(&v, &s2, &u), -1);
    imap_view_resolve_uidset(&v, &s1, &u);
    assert_int_equal(u.n, 0);
    uidset_free(&u);
    imap_view_free(&v);
}

static void uidset_ignores_missing_and_star_includes_last(void **state)
{
    static const uint32_t uids[] = { 5, 6, 7, 20, 21 };
    imap_view v;
    view_make(&v, uids, 5, 0);
    char out[64];
    uidset u = UIDSET_INIT;
    uid_range r1[] = { { 1, 6 }, { 8, 19 }, { 100, 200 } };
    imap_seqset s1 = seqset_of(r1, 3);
    imap_view_resolve_uidset(&v, &s1, &u);
    format_set(&u, out, sizeof out);
    assert_string_equal(out, "5:6");
    uidset_free(&u);
    /* RFC 3501 6.4.8: "559:*" includes the last message even above it. */
    uid_range r2[] = { { 559, IMAP_SEQ_STAR } };
    imap_seqset s2 = seqset_of(r2, 1);
    imap_view_resolve_uidset(&v, &s2, &u);
    format_set(&u, out, sizeof out);
    assert_string_equal(out, "21");
    uidset_free(&u);
    imap_view_free(&v);
}

static void search_sets_resolve_star_and_clip(void **state)
{
    static const uint32_t uids[] = { 5, 6, 7, 20, 21 };
    imap_view v;
    view_make(&v, uids, 5, 0);
    char out[64];
    uidset u = UIDSET_INIT;
    uidset_add_range(&u, 4, UINT32_MAX);      /* SEARCH 4:* */
    uidset_add(&u, 1);
    imap_view_resolve_search_set(&v, &u, 0);
    format_set(&u, out, sizeof out);
    assert_string_equal(out, "5,20:21");
    uidset_free(&u);
    uidset_add_range(&u, 3, 9);               /* past EXISTS: clipped, no error */
    imap_view_resolve_search_set(&v, &u, 0);
    format_set(&u, out, sizeof out);
    assert_string_equal(out, "7,20:21");
    uidset_free(&u);
    uidset_add_range(&u, 7, UINT32_MAX);      /* UID 7:* */
    imap_view_resolve_search_set(&v, &u, 1);
    format_set(&u, out, sizeof out);
    assert_string_equal(out, "7,20:21");
    uidset_free(&u);
    imap_view_free(&v);
}

static void expunge_goes_highest_first_and_renumbers(void **state)
{
    static const uint32_t uids[] = { 10, 20, 30, 40, 50 };
    imap_view v;
    view_make(&v, uids, 5, 30);
    buf out = BUF_INIT;
    uidset gone = UIDSET_INIT;
    uidset_add(&gone, 20);
    uidset_add(&gone, 40);
    uidset_add(&gone, 99);                    /* not in the view: nothing */
    assert_int_equal(imap_view_expunge(&v, &gone, &out, NULL, NULL), 2);
    assert_string_equal(out.p, "* 4 EXPUNGE\r\n* 2 EXPUNGE\r\n");
    assert_int_equal(imap_view_exists(&v), 3);
    assert_int_equal(imap_view_seq(&v, 10), 1);
    assert_int_equal(imap_view_seq(&v, 30), 2);
    assert_int_equal(imap_view_seq(&v, 50), 3);
    assert_int_equal(imap_view_seq(&v, 40), 0);
    assert_int_equal(imap_view_recent_count(&v), 2);   /* 30 and 50; 40 left */
    uidset_free(&gone);
    buf_free(&out);
    imap_view_free(&v);
}

static store_changes changes_empty(uint64_t modseq)
{
    store_changes ch;
    memset(&ch, 0, sizeof ch);
    ch.highestmodseq = modseq;
    return ch;
}

static void apply_holds_expunge_until_allowed(void **state)
{
    static const uint32_t uids[] = { 10, 20, 30 };
    imap_view v;
    view_make(&v, uids, 3, 0);
    buf out = BUF_INIT;
    store_changes ch = changes_empty(101);
    uidset_add(&ch.expunged, 10);
    /* During FETCH: nothing said, sequence numbers unchanged. */
    assert_int_equal(imap_view_apply(&v, &ch, 0, 0, NULL, &out, NULL, NULL), 0);
    assert_int_equal(out.len, 0);
    assert_int_equal(imap_view_exists(&v), 3);
    assert_int_equal(imap_view_seq(&v, 20), 2);
    assert_int_equal(v.highestmodseq, 101);
    uidset_free(&ch.expunged);

    /* Next command that allows it: the held EXPUNGE goes out. */
    store_changes none = changes_empty(101);
    assert_int_equal(imap_view_apply(&v, &none, 1, 0, NULL, &out, NULL, NULL), 1);
    assert_string_equal(out.p, "* 1 EXPUNGE\r\n");
    assert_int_equal(imap_view_seq(&v, 20), 1);
    buf_free(&out);
    imap_view_free(&v);
}

static void apply_new_messages_exists_recent(void **state)
{
    static const uint32_t uids[] = { 10, 20 };
    imap_view v;
    view_make(&v, uids, 2, 20);
    buf out = BUF_INIT;
    store_changes ch = changes_empty(110);
    store_msgflags added[] = { MF(21, 0, 0, 105), MF(22, MSG_FLAG_SEEN, 0, 106) };
    ch.changed = added;
    ch.nchanged = 2;
    ch.first_recent_uid = 21;
    ch.uidnext = 23;
    assert_int_equal(imap_view_apply(&v, &ch, 0, 0, NULL, &out, NULL, NULL), 2);
    assert_string_equal(out.p, "* 4 EXISTS\r\n* 3 RECENT\r\n");
    assert_int_equal(imap_view_seq(&v, 22), 4);
    assert_int_equal(v.uidnext, 23);
    assert_flags_packed(&v);
    assert_int_equal(v.flags[3], MSG_FLAG_SEEN);
    buf_free(&out);
    imap_view_free(&v);
}

static void apply_expunge_then_exists_in_order(void **state)
{
    static const uint32_t uids[] = { 10, 20, 30 };
    imap_view v;
    view_make(&v, uids, 3, 0);
    buf out = BUF_INIT;
    store_changes ch = changes_empty(120);
    uidset_add(&ch.expunged, 20);
    uidset_add(&ch.expunged, 31);            /* added and expunged meanwhile */
    store_msgflags changed[] = { MF(30, MSG_FLAG_FLAGGED, 0, 111), MF(31, 0, 0, 112), MF(32, 0, 0, 113) };
    ch.changed = changed;
    ch.nchanged = 3;
    imap_view_apply(&v, &ch, 1, 0, NULL, &out, NULL, NULL);
    assert_string_equal(out.p, "* 2 EXPUNGE\r\n* 2 FETCH (FLAGS (\\Flagged))\r\n* 3 EXISTS\r\n* 0 RECENT\r\n");
    assert_int_equal(imap_view_seq(&v, 32), 3);
    assert_int_equal(imap_view_seq(&v, 31), 0);
    assert_flags_packed(&v);
    assert_int_equal(v.flags[1], MSG_FLAG_FLAGGED);
    uidset_free(&ch.expunged);
    buf_free(&out);
    imap_view_free(&v);
}

/* The packed flags move with their messages when earlier ones are expunged. */
static void expunge_keeps_packed_flags_with_their_messages(void **state)
{
    static const uint32_t uids[] = { 10, 20, 30, 40 };
    imap_view v;
    view_make(&v, uids, 4, 0);
    store_msgflags f30 = MF(30, MSG_FLAG_SEEN, 0, 60), f40 = MF(40, MSG_FLAG_DRAFT, 0, 61);
    imap_view_set_flags(&v, &f30);
    imap_view_set_flags(&v, &f40);
    uidset gone = UIDSET_INIT;
    uidset_add(&gone, 20);
    buf out = BUF_INIT;
    assert_int_equal(imap_view_expunge(&v, &gone, &out, NULL, NULL), 1);
    assert_flags_packed(&v);
    assert_int_equal(v.flags[1], MSG_FLAG_SEEN);
    assert_int_equal(v.flags[2], MSG_FLAG_DRAFT);
    uidset_free(&gone);
    buf_free(&out);
    imap_view_free(&v);
}

static void apply_flags_only_when_changed(void **state)
{
    static const uint32_t uids[] = { 10, 20 };
    imap_view v;
    view_make(&v, uids, 2, 20);
    buf out = BUF_INIT;
    char *kwnames[] = { "$Forwarded", "Junk" };
    imap_keywords kw = { kwnames, 2 };

    /* The session's own STORE already told the client: no second FETCH. */
    store_msgflags own = MF(10, MSG_FLAG_SEEN, 0, 130);
    imap_view_set_flags(&v, &own);
    assert_flags_packed(&v);
    assert_int_equal(v.flags[0], MSG_FLAG_SEEN);
    store_changes ch = changes_empty(130);
    store_msgflags c1[] = { MF(10, MSG_FLAG_SEEN, 0, 130) };
    ch.changed = c1;
    ch.nchanged = 1;
    assert_int_equal(imap_view_apply(&v, &ch, 1, 0, &kw, &out, NULL, NULL), 0);
    assert_int_equal(out.len, 0);

    /* Another session's change: reported, with UID for a UID command. */
    store_msgflags c2[] = { MF(20, MSG_FLAG_ANSWERED, 2, 131) };
    ch.changed = c2;
    ch.highestmodseq = 131;
    assert_int_equal(imap_view_apply(&v, &ch, 1, 1, &kw, &out, NULL, NULL), 1);
    assert_string_equal(out.p, "* 2 FETCH (UID 20 FLAGS (\\Answered Junk \\Recent))\r\n");
    assert_flags_packed(&v);
    assert_int_equal(v.flags[1], MSG_FLAG_ANSWERED);
    buf_free(&out);
    imap_view_free(&v);
}

static size_t flush_calls, flushed_bytes;

static void count_flush(void *arg, buf *out)
{
    assert_true(out->len >= IMAP_OUT_FLUSH);
    flush_calls++;
    flushed_bytes += out->len;
    buf_reset(out);
}

static void expunge_many_flushes_in_pieces(void **state)
{
    size_t n = 20000;
    uint32_t *uids = xmalloc(n * sizeof *uids);
    for (size_t i = 0; i < n; i++) uids[i] = (uint32_t)i + 1;
    imap_view v;
    view_make(&v, uids, n, 0);
    free(uids);
    buf out = BUF_INIT;
    uidset gone = UIDSET_INIT;
    uidset_add_range(&gone, 1, (uint32_t)n);
    flush_calls = flushed_bytes = 0;
    assert_int_equal(imap_view_expunge(&v, &gone, &out, count_flush, NULL), n);
    assert_int_equal(imap_view_exists(&v), 0);
    /* 20000 lines "* n EXPUNGE\r\n": 12 bytes each plus 88894 digits in all. */
    assert_true(flush_calls >= 4);
    assert_int_equal(flushed_bytes + out.len, 12 * 20000 + 88894);
    /* The last line is sequence number 1. */
    assert_string_equal(out.p + out.len - 13, "* 1 EXPUNGE\r\n");
    uidset_free(&gone);
    buf_free(&out);
    imap_view_free(&v);
}

static void flags_format_exact(void **state)
{
    buf b = BUF_INIT;
    char *kwnames[] = { "$Forwarded", "Junk", "NonJunk" };
    imap_keywords kw = { kwnames, 3 };
    imap_write_flags(&b, MSG_FLAG_ALL, 5, 1, &kw);
    assert_string_equal(b.p, "(\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded NonJunk \\Recent)");
    buf_reset(&b);
    imap_write_flags(&b, 0, (uint64_t)1 << 40, 0, &kw);     /* unnamed bit: left out */
    assert_string_equal(b.p, "()");
    buf_reset(&b);
    imap_write_flag_list(&b, &kw, 1);
    assert_string_equal(b.p, "(\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded Junk NonJunk \\*)");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seq_and_uid_map_both_ways),
        cmocka_unit_test(seqset_star_and_out_of_range),
        cmocka_unit_test(seqset_star_on_empty_folder_names_nothing),
        cmocka_unit_test(uidset_ignores_missing_and_star_includes_last),
        cmocka_unit_test(search_sets_resolve_star_and_clip),
        cmocka_unit_test(expunge_goes_highest_first_and_renumbers),
        cmocka_unit_test(apply_holds_expunge_until_allowed),
        cmocka_unit_test(apply_new_messages_exists_recent),
        cmocka_unit_test(apply_expunge_then_exists_in_order),
        cmocka_unit_test(expunge_keeps_packed_flags_with_their_messages),
        cmocka_unit_test(apply_flags_only_when_changed),
        cmocka_unit_test(expunge_many_flushes_in_pieces),
        cmocka_unit_test(flags_format_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
