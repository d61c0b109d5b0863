/*
 * test_search.c — SEARCH evaluation: every search key on its own, the
 * AND/OR/NOT combinations and the three-valued answer without the text
 * (search_eval.c), case folding and encoded words, dates in the message's own
 * zone, and store_search() end to end on an encrypted mailbox file.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "search_build.h"

#include "util/alloc.h"
#include "util/buf.h"
#include "util/uidset.h"
#include "mailbox/msgflags.h"
#include "search/search.h"
#include "search/search_eval.h"
#include "search/search_text.h"
#include "mime/mime.h"
#include "store/store.h"

/* --- Building programs ------------------------------------------------------------------ */

static search_node *n_uids(uint32_t lo, uint32_t hi)
{
    search_node *n = search_node_new(SEARCH_UIDS);
    uidset_add_range(&n->set, lo, hi);
    return n;
}

/* --- The message the key table runs against ------------------------------------------- */

static const char TEXT[] =
    "From: =?UTF-8?Q?J=C3=BCrgen?= Weiss <jw@example.org>\r\n"
    "To: Bob <bob@example.org>\r\n"
    "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus\r\n"
    " =?UTF-8?B?0JzQvtGB0LrQstCw?=\r\n"
    "Received: from a\r\n"
    "Received: from relay-two\r\n"
    "X-Empty:\r\n"
    "\r\n"
    "The BODY text mentions Zebra and ΣΟΦΊΑ.\r\n";

static const char *const KEYWORDS[] = { "$Forwarded", "Work" };

static search_msg the_msg(int with_text)
{
    search_msg m;
    memset(&m, 0, sizeof m);
    m.uid = 7;
    m.flags = MSG_FLAG_SEEN | MSG_FLAG_FLAGGED;
    m.keywords = 2;                               /* Work */
    /* 2024-03-01 23:30 at -05:00 is 2024-03-02 04:30 UTC: its own day is 03-01. */
    m.internaldate = 1709353800;
    m.internaldate_tz = -300;
    m.has_sentdate = 1;
    m.sentdate = 1709251200;                      /* 2024-03-01 00:00 UTC ... */
    m.sentdate_tz = 120;                          /* ... written as 02:00 +0200 */
    m.size = strlen(TEXT);
    if (with_text) {
        m.raw = TEXT;
        m.raw_len = strlen(TEXT);
    }
    return m;
}

#define DAY_2024_03_01 19783

static search_match eval(search_node *prog, int with_text)
{
    search_eval *e = search_eval_new(prog, KEYWORDS, 2);
    assert_non_null(e);
    search_msg m = the_msg(with_text);
    search_match r = search_eval_msg(e, &m);
    search_eval_free(e);
    search_node_free(prog);
    return r;
}

static void every_key_matches_and_misses_as_rfc3501_says(void **state)
{
    struct { search_node *prog; search_match want; const char *what; } cases[] = {
        { n_op(SEARCH_ALL), SEARCH_MATCH_YES, "ALL" },
        { n_op(SEARCH_AND), SEARCH_MATCH_YES, "empty AND" },
        { n_uids(5, 9), SEARCH_MATCH_YES, "UID in" },
        { n_uids(8, 9), SEARCH_MATCH_NO, "UID out" },
        { n_uids(1, 1), SEARCH_MATCH_NO, "UID out low" },
        { n_op(SEARCH_SEQSET), SEARCH_MATCH_NO, "SEQSET never" },
        { n_op(SEARCH_RECENT), SEARCH_MATCH_NO, "RECENT never" },
        { n_flags(SEARCH_FLAGS, MSG_FLAG_SEEN), SEARCH_MATCH_YES, "SEEN" },
        { n_flags(SEARCH_FLAGS, MSG_FLAG_SEEN | MSG_FLAG_FLAGGED), SEARCH_MATCH_YES, "SEEN FLAGGED" },
        { n_flags(SEARCH_FLAGS, MSG_FLAG_SEEN | MSG_FLAG_DELETED), SEARCH_MATCH_NO, "SEEN DELETED" },
        { n_flags(SEARCH_NOFLAGS, MSG_FLAG_ANSWERED), SEARCH_MATCH_YES, "UNANSWERED" },
        { n_flags(SEARCH_NOFLAGS, MSG_FLAG_SEEN), SEARCH_MATCH_NO, "UNSEEN" },
        { n_str(SEARCH_KEYWORD, NULL, "work"), SEARCH_MATCH_YES, "KEYWORD case-insensitive" },
        { n_str(SEARCH_KEYWORD, NULL, "$Forwarded"), SEARCH_MATCH_NO, "KEYWORD not set" },
        { n_str(SEARCH_KEYWORD, NULL, "Unknown"), SEARCH_MATCH_NO, "KEYWORD unknown" },
        { n_str(SEARCH_UNKEYWORD, NULL, "Unknown"), SEARCH_MATCH_YES, "UNKEYWORD unknown" },
        { n_str(SEARCH_UNKEYWORD, NULL, "Work"), SEARCH_MATCH_NO, "UNKEYWORD set" },
        { n_num(SEARCH_ON, DAY_2024_03_01), SEARCH_MATCH_YES, "ON own zone" },
        { n_num(SEARCH_ON, DAY_2024_03_01 + 1), SEARCH_MATCH_NO, "ON UTC day" },
        { n_num(SEARCH_BEFORE, DAY_2024_03_01), SEARCH_MATCH_NO, "BEFORE same day" },
        { n_num(SEARCH_BEFORE, DAY_2024_03_01 + 1), SEARCH_MATCH_YES, "BEFORE next day" },
        { n_num(SEARCH_SINCE, DAY_2024_03_01), SEARCH_MATCH_YES, "SINCE same day" },
        { n_num(SEARCH_SINCE, DAY_2024_03_01 + 1), SEARCH_MATCH_NO, "SINCE next day" },
        { n_num(SEARCH_SENTON, DAY_2024_03_01), SEARCH_MATCH_YES, "SENTON" },
        { n_num(SEARCH_SENTBEFORE, DAY_2024_03_01), SEARCH_MATCH_NO, "SENTBEFORE same day" },
        { n_num(SEARCH_SENTBEFORE, DAY_2024_03_01 + 1), SEARCH_MATCH_YES, "SENTBEFORE next" },
        { n_num(SEARCH_SENTSINCE, DAY_2024_03_01), SEARCH_MATCH_YES, "SENTSINCE same day" },
        { n_num(SEARCH_SENTSINCE, DAY_2024_03_01 + 1), SEARCH_MATCH_NO, "SENTSINCE next" },
        { n_num(SEARCH_LARGER, (int64_t)strlen(TEXT) - 1), SEARCH_MATCH_YES, "LARGER n-1" },
        { n_num(SEARCH_LARGER, (int64_t)strlen(TEXT)), SEARCH_MATCH_NO, "LARGER n" },
        { n_num(SEARCH_SMALLER, (int64_t)strlen(TEXT) + 1), SEARCH_MATCH_YES, "SMALLER n+1" },
        { n_num(SEARCH_SMALLER, (int64_t)strlen(TEXT)), SEARCH_MATCH_NO, "SMALLER n" },
        { n_str(SEARCH_HEADER, "SUBJECT", "GRÜSSE"), SEARCH_MATCH_NO, "no full folding ß" },
        { n_str(SEARCH_HEADER, "subject", "grüße aus"), SEARCH_MATCH_YES, "latin1 Q word" },
        { n_str(SEARCH_HEADER, "Subject", "aus москва"), SEARCH_MATCH_YES, "B word, Cyrillic fold" },
        { n_str(SEARCH_HEADER, "From", "jürgen weiss"), SEARCH_MATCH_YES, "UTF-8 Q word" },
        { n_str(SEARCH_HEADER, "From", "bob"), SEARCH_MATCH_NO, "other field" },
        { n_str(SEARCH_HEADER, "Received", "RELAY-TWO"), SEARCH_MATCH_YES, "second field" },
        { n_str(SEARCH_HEADER, "X-Empty", ""), SEARCH_MATCH_YES, "present, empty string" },
        { n_str(SEARCH_HEADER, "X-Absent", ""), SEARCH_MATCH_NO, "absent" },
        { n_str(SEARCH_HEADER, "To", "Zebra"), SEARCH_MATCH_NO, "body is not header" },
        { n_str(SEARCH_BODY, NULL, "zebra"), SEARCH_MATCH_YES, "BODY" },
        { n_str(SEARCH_BODY, NULL, "σοφία"), SEARCH_MATCH_YES, "BODY Greek fold" },
        { n_str(SEARCH_BODY, NULL, "bob@example"), SEARCH_MATCH_NO, "BODY is not header" },
        { n_str(SEARCH_TEXT, NULL, "BOB@EXAMPLE"), SEARCH_MATCH_YES, "TEXT header" },
        { n_str(SEARCH_TEXT, NULL, "mentions zebra"), SEARCH_MATCH_YES, "TEXT body" },
        { n_str(SEARCH_TEXT, NULL, "москва"), SEARCH_MATCH_YES, "TEXT decoded header" },
        { n_str(SEARCH_TEXT, NULL, "giraffe"), SEARCH_MATCH_NO, "TEXT absent" },
        { n_2(SEARCH_AND, n_flags(SEARCH_FLAGS, MSG_FLAG_SEEN), n_str(SEARCH_BODY, NULL, "zebra")),
          SEARCH_MATCH_YES, "AND yes yes" },
        { n_2(SEARCH_AND, n_flags(SEARCH_FLAGS, MSG_FLAG_SEEN), n_uids(1, 2)),
          SEARCH_MATCH_NO, "AND yes no" },
        { n_2(SEARCH_OR, n_uids(1, 2), n_str(SEARCH_BODY, NULL, "zebra")),
          SEARCH_MATCH_YES, "OR no yes" },
        { n_2(SEARCH_OR, n_uids(1, 2), n_str(SEARCH_BODY, NULL, "giraffe")),
          SEARCH_MATCH_NO, "OR no no" },
        { n_2(SEARCH_NOT, n_uids(1, 2), NULL), SEARCH_MATCH_YES, "NOT no" },
        { n_2(SEARCH_NOT, n_str(SEARCH_BODY, NULL, "zebra"), NULL), SEARCH_MATCH_NO, "NOT yes" },
        { n_2(SEARCH_NOT, n_op(SEARCH_SEQSET), NULL), SEARCH_MATCH_YES, "NOT SEQSET" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        search_match got = eval(cases[i].prog, 1);
        if (got != cases[i].want) fail_msg("case %zu (%s): got %d want %d", i, cases[i].what,
                                           got, cases[i].want);
    }
}

static void text_keys_are_unknown_until_the_text_is_loaded(void **state)
{
    assert_int_equal(eval(n_str(SEARCH_BODY, NULL, "zebra"), 0), SEARCH_MATCH_UNKNOWN);
    /* A cheap NO or YES decides without the text. */
    assert_int_equal(eval(n_2(SEARCH_AND, n_uids(1, 2), n_str(SEARCH_BODY, NULL, "zebra")), 0),
                     SEARCH_MATCH_NO);
    assert_int_equal(eval(n_2(SEARCH_OR, n_uids(7, 7), n_str(SEARCH_BODY, NULL, "zebra")), 0),
                     SEARCH_MATCH_YES);
    assert_int_equal(eval(n_2(SEARCH_NOT, n_str(SEARCH_TEXT, NULL, "zebra"), NULL), 0),
                     SEARCH_MATCH_UNKNOWN);
    search_node *prog = n_uids(1, 1);
    search_eval *e = search_eval_new(prog, KEYWORDS, 2);
    assert_false(search_eval_needs_text(e));
    search_eval_free(e);
    search_node_free(prog);
}

static void folding_covers_common_scripts_and_keeps_bad_bytes(void **state)
{
    static const struct { const char *in, *out; } cases[] = {
        { "ABC xyz", "abc xyz" },
        { "ÀÉÎÕÜ Ÿ", "àéîõü ÿ" },
        { "ŁÓDŹ", "łódź" },
        { "ΣΟΦΊΑ ς", "σοφία σ" },
        { "МОСКВА Ё", "москва ё" },
        { "ԱՐԵՎ", "արեվ" },
        { "ẠẸ", "ạẹ" },
        { "ＡＢ", "ａｂ" },
        { "\xff\xc3(A", "\xff\xc3(a" },
        /* NFD Latin is composed before folding (NFC), so it meets precomposed text. */
        { "Cafe\xcc\x81 E\xcc\x88 n\xcc\x83 I\xcc\x87", "caf\xc3\xa9 \xc3\xab \xc3\xb1 \xc4\xb0" },
        { "5\xcc\x81 \xcc\x81x", "5\xcc\x81 \xcc\x81x" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf b = BUF_INIT;
        search_fold(cases[i].in, strlen(cases[i].in), &b);
        assert_string_equal(buf_cstr(&b), cases[i].out);
        buf_free(&b);
    }
}

static void day_is_floored_in_the_given_zone(void **state)
{
    assert_int_equal(search_day(0, 0), 0);
    assert_int_equal(search_day(86399, 0), 0);
    assert_int_equal(search_day(86399, 1), 1);
    assert_int_equal(search_day(0, -1), -1);
    assert_int_equal(search_day(1709353800, -300), DAY_2024_03_01);
    assert_int_equal(search_day(1709353800, 0), DAY_2024_03_01 + 1);
}

static void too_deep_a_program_is_refused(void **state)
{
    search_node *root = n_op(SEARCH_ALL);
    for (int i = 0; i <= SEARCH_EVAL_DEPTH_MAX; i++) root = n_2(SEARCH_NOT, root, NULL);
    assert_null(search_eval_new(root, NULL, 0));
    search_node_free(root);
}

/* --- store_search end to end ------------------------------------------------------------- */

#define MBOX_ID "00112233445566778899aabbccddeeff"


static void store_search_finds_uids_by_columns_and_text(void **state)
{
    char dir[] = "/tmp/test_search.XXXXXX";
    assert_non_null(mkdtemp(dir));
    unsigned char key[STORE_KEY_LEN] = { 1, 2, 3 }, seal[32] = { 9 };
    store_mailbox *m = NULL;
    assert_int_equal(store_create(dir, MBOX_ID, key, seal), STORE_OK);
    assert_int_equal(store_open(dir, MBOX_ID, key, &m), STORE_OK);
    const char *msgs[] = {
        "Subject: apples\r\nDate: Fri, 01 Mar 2024 10:00:00 +0000\r\n\r\nred fruit\r\n",
        "Subject: pears\r\n\r\ngreen fruit, quite a lot longer than the others, really much longer\r\n",
        "Subject: Plums\r\nDate: Sun, 03 Mar 2024 10:00:00 +0000\r\n\r\npurple\r\n",
    };
    const char *kw[] = { "Ripe" };
    for (size_t i = 0; i < 3; i++) {
        uint32_t uv, uid;
        assert_int_equal(store_append(m, "INBOX", i == 1 ? MSG_FLAG_SEEN : 0, kw, i == 2,
                                      1709287200 + (int64_t)i * 86400, 0,
                                      msgs[i], strlen(msgs[i]), &uv, &uid), STORE_OK);
        assert_int_equal(uid, i + 1);
    }
    store_view v;
    assert_int_equal(store_select(m, "INBOX", 0, &v), STORE_OK);
    struct { search_node *prog; const char *want; } cases[] = {
        { n_op(SEARCH_ALL), "1:3" },
        { n_str(SEARCH_BODY, NULL, "FRUIT"), "1:2" },
        { n_str(SEARCH_HEADER, "subject", "plum"), "3" },
        { n_str(SEARCH_TEXT, NULL, "pears"), "2" },
        { n_flags(SEARCH_NOFLAGS, MSG_FLAG_SEEN), "1,3" },
        { n_str(SEARCH_KEYWORD, NULL, "ripe"), "3" },
        { n_num(SEARCH_SENTSINCE, DAY_2024_03_01 + 1), "3" },
        { n_num(SEARCH_SENTBEFORE, DAY_2024_03_01 + 5), "1,3" },    /* 2 has no Date: */
        { n_num(SEARCH_SINCE, DAY_2024_03_01 + 1), "2:3" },
        { n_num(SEARCH_LARGER, 80), "2" },
        { n_2(SEARCH_OR, n_uids(1, 1), n_str(SEARCH_BODY, NULL, "purple")), "1,3" },
        { n_2(SEARCH_NOT, n_str(SEARCH_BODY, NULL, "fruit"), NULL), "3" },
        { n_2(SEARCH_AND, n_str(SEARCH_BODY, NULL, "fruit"), n_flags(SEARCH_FLAGS, MSG_FLAG_SEEN)),
          "2" },
        { n_op(SEARCH_SEQSET), "" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uidset r = UIDSET_INIT;
        assert_int_equal(store_search(m, v.folder_id, cases[i].prog, &r), STORE_OK);
        buf b = BUF_INIT;
        uidset_format(&r, &b);
        if (strcmp(buf_cstr(&b), cases[i].want) != 0)
            fail_msg("case %zu: got '%s' want '%s'", i, buf_cstr(&b), cases[i].want);
        buf_free(&b);
        uidset_free(&r);
        search_node_free(cases[i].prog);
    }
    uidset r = UIDSET_INIT;
    search_node *all = n_op(SEARCH_ALL);
    assert_int_equal(store_search(m, v.folder_id + 1000, all, &r), STORE_GONE);
    search_node_free(all);
    uidset_free(&r);
    store_view_clear(&v);
    store_close(m);
    rm_rf(dir);
}

/* --- Searchable text (search_text.c) ------------------------------------------------------ */

static char *body_text(const char *msg)
{
    mime_part *root = mime_parse(msg, strlen(msg));
    buf out = BUF_INIT;
    search_text_body(msg, strlen(msg), root, &out);
    mime_free(root);
    buf_reserve(&out, 0);
    out.p[out.len] = '\0';
    return buf_steal(&out, NULL);
}

static void html_is_reduced_to_what_a_reader_sees(void **state)
{
    (void)state;
    char *t = body_text("Content-Type: text/html\r\n\r\n"
                        "<html><head><title>T</title><style>a{b:c}</style><SCRIPT type=x>if (a<b) x();</script>"
                        "</head><body><p class=\"a>b\">one&amp;two&lt;three&gt; &quot;q&quot; &#65;&#x42;"
                        "&bogus; a < b</p><!-- hidden --><div>fo<i>o</i></div>"
                        "<br/>&#0;end</body></html>\r\n");
    assert_string_equal(t, "\nT\n\none&two<three> \"q\" AB&bogus; a < b\n\nfoo\n\n\xef\xbf\xbd" "end\r\n\n");
    free(t);
}

static void parts_are_decoded_and_named(void **state)
{
    (void)state;
    char *t = body_text(
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\nS=FC=DF\r\n"
        "--b\r\nContent-Type: image/png; name=\"=?UTF-8?Q?b=C3=A4r?=.png\"\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n"
        "--b\r\nContent-Type: message/rfc822\r\n\r\n"
        "Subject: inner\r\n\r\ninner body\r\n"
        "--b\r\nContent-Type: application/octet-stream\r\n"
        "Content-Disposition: attachment; filename*=utf-8''%E2%82%AC%20plan.txt\r\n\r\nxx\r\n"
        "--b--\r\n");
    assert_string_equal(t, "S\xc3\xbc\xc3\x9f\n"
                           "b\xc3\xa4r.png\n"
                           "Subject: inner\n"
                           "inner body\n"
                           "\xe2\x82\xac plan.txt\n");
    free(t);
}

static void header_text_decodes_and_normalises_addresses(void **state)
{
    (void)state;
    const char hdr[] = "From: =?UTF-8?Q?Z=C3=BC?= <z (c) @ example.org>\r\n"
                       "Subject: caf\xe9\x00x\r\n"
                       "X-Long: a\r\n b\r\n\r\n";
    buf out = BUF_INIT;
    search_text_header(hdr, sizeof hdr - 1, &out);
    assert_string_equal(buf_cstr(&out),
                        "From: Z\xc3\xbc <z (c) @ example.org>\n"
                        "From: Z\xc3\xbc <z@example.org>\n"
                        "Subject: caf\xc3\xa9 x\n"
                        "X-Long: a b\n");
    buf_free(&out);
    buf f[SEARCH_TEXT_NFIELDS];
    memset(f, 0, sizeof f);
    search_text_header_fields(hdr, sizeof hdr - 1, f);
    assert_string_equal(buf_cstr(&f[0]), "Z\xc3\xbc <z (c) @ example.org>\nZ\xc3\xbc <z@example.org>\n");
    assert_string_equal(buf_cstr(&f[4]), "caf\xc3\xa9 x\n");
    assert_int_equal(f[1].len, 0);
    for (int i = 0; i < SEARCH_TEXT_NFIELDS; i++) buf_free(&f[i]);
}

/* search_facts_only decides which programs a session answers from its view:
 * one that reads text must never be classed so, nor one with sequence sets
 * or RECENT (the session turns those into uid sets first). */
static void facts_only_programs_are_told_apart(void **state)
{
    (void)state;
    search_node *yes[] = {
        n_op(SEARCH_ALL),
        n_flags(SEARCH_NOFLAGS, MSG_FLAG_SEEN),
        n_2(SEARCH_OR, n_flags(SEARCH_FLAGS, MSG_FLAG_FLAGGED), n_str(SEARCH_KEYWORD, NULL, "$Junk")),
        n_2(SEARCH_NOT, n_2(SEARCH_AND, n_op(SEARCH_UIDS), n_str(SEARCH_UNKEYWORD, NULL, "x")), NULL),
        n_op(SEARCH_AND),
        n_num(SEARCH_SINCE, 19000),
        n_num(SEARCH_LARGER, 100),
        n_2(SEARCH_OR, n_op(SEARCH_ALL), n_num(SEARCH_SENTON, 19000)),
        n_2(SEARCH_AND, n_num(SEARCH_SMALLER, 10), n_2(SEARCH_NOT, n_num(SEARCH_BEFORE, 1), NULL)),
    };
    search_node *no[] = {
        n_str(SEARCH_TEXT, NULL, "abc"),
        n_str(SEARCH_HEADER, "Subject", ""),
        n_2(SEARCH_AND, n_flags(SEARCH_NOFLAGS, MSG_FLAG_SEEN), n_str(SEARCH_BODY, NULL, "word")),
        n_2(SEARCH_OR, n_num(SEARCH_SINCE, 19000), n_str(SEARCH_REGEX, NULL, "a+")),
        n_2(SEARCH_NOT, n_op(SEARCH_SEQSET), NULL),      /* the session resolves these first */
        n_2(SEARCH_NOT, n_op(SEARCH_RECENT), NULL),
    };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        assert_int_equal(search_facts_only(yes[i]), 1);
        search_node_free(yes[i]);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        assert_int_equal(search_facts_only(no[i]), 0);
        search_node_free(no[i]);
    }
}

/* search_flag_masks: every program it takes answers, for every combination
 * of the system flags, what the evaluator answers; programs it cannot state
 * as two masks are refused. */
static void flag_masks_agree_with_the_evaluator(void **state)
{
    (void)state;
    search_node *yes[] = {
        n_op(SEARCH_ALL),
        n_op(SEARCH_AND),
        n_flags(SEARCH_NOFLAGS, MSG_FLAG_SEEN),
        n_flags(SEARCH_FLAGS, MSG_FLAG_SEEN | MSG_FLAG_FLAGGED),
        n_2(SEARCH_AND, n_flags(SEARCH_FLAGS, MSG_FLAG_FLAGGED), n_flags(SEARCH_NOFLAGS, MSG_FLAG_DELETED)),
        n_2(SEARCH_NOT, n_flags(SEARCH_FLAGS, MSG_FLAG_DRAFT), NULL),
        n_2(SEARCH_AND, n_2(SEARCH_NOT, n_flags(SEARCH_NOFLAGS, MSG_FLAG_ANSWERED), NULL),
            n_2(SEARCH_AND, n_op(SEARCH_ALL), n_flags(SEARCH_NOFLAGS, MSG_FLAG_SEEN))),
        n_2(SEARCH_AND, n_flags(SEARCH_FLAGS, MSG_FLAG_SEEN), n_flags(SEARCH_NOFLAGS, MSG_FLAG_SEEN)),
    };
    search_node *no[] = {
        n_2(SEARCH_OR, n_flags(SEARCH_FLAGS, MSG_FLAG_SEEN), n_flags(SEARCH_FLAGS, MSG_FLAG_FLAGGED)),
        n_2(SEARCH_NOT, n_flags(SEARCH_FLAGS, MSG_FLAG_SEEN | MSG_FLAG_FLAGGED), NULL),
        n_2(SEARCH_NOT, n_op(SEARCH_ALL), NULL),
        n_str(SEARCH_KEYWORD, NULL, "Work"),
        n_2(SEARCH_AND, n_flags(SEARCH_FLAGS, MSG_FLAG_SEEN), n_uids(1, 5)),
        n_num(SEARCH_LARGER, 10),
    };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        uint32_t set = 0, clear = 0;
        assert_int_equal(search_flag_masks(yes[i], &set, &clear), 1);
        search_eval *e = search_eval_new(yes[i], KEYWORDS, 2);
        assert_non_null(e);
        for (uint32_t f = 0; f <= MSG_FLAG_ALL; f++) {
            search_msg m = the_msg(0);
            m.flags = f;
            int want = search_eval_msg(e, &m) == SEARCH_MATCH_YES;
            int got = (f & set) == set && !(f & clear);
            if (want != got) fail_msg("program %zu, flags %#x: masks say %d, evaluator %d", i, f, got, want);
        }
        search_eval_free(e);
        search_node_free(yes[i]);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        uint32_t set = 0, clear = 0;
        assert_int_equal(search_flag_masks(no[i], &set, &clear), 0);
        search_node_free(no[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_key_matches_and_misses_as_rfc3501_says),
        cmocka_unit_test(text_keys_are_unknown_until_the_text_is_loaded),
        cmocka_unit_test(folding_covers_common_scripts_and_keeps_bad_bytes),
        cmocka_unit_test(day_is_floored_in_the_given_zone),
        cmocka_unit_test(too_deep_a_program_is_refused),
        cmocka_unit_test(facts_only_programs_are_told_apart),
        cmocka_unit_test(flag_masks_agree_with_the_evaluator),
        cmocka_unit_test(store_search_finds_uids_by_columns_and_text),
        cmocka_unit_test(html_is_reduced_to_what_a_reader_sees),
        cmocka_unit_test(parts_are_decoded_and_named),
        cmocka_unit_test(header_text_decodes_and_normalises_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
