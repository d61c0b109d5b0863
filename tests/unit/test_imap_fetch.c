/*
 * test_imap_fetch.c — the bytes FETCH serves for body items (imap_fetch.c), from
 * a message's raw bytes and the section table made at ingest: BODY[HEADER] +
 * BODY[TEXT] is BODY[] exactly, part numbers and MIME/HEADER/TEXT of nested
 * messages, NIL for sections that do not exist, partials (past the end: ""),
 * HEADER.FIELDS(.NOT), the split without a table, and which items load what
 * and which set \Seen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"
#include "store/store.h"
#include "mime/mime.h"
#include "imap/imap_parse.h"
#include "imap/imap_session.h"

static const char MP[] =
    "From: a@example.org\r\n"
    "Subject: multipart\r\n"
    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--XX\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "part one\r\n"
    "--XX\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: inner\r\n"
    "From: c@example.org\r\n"
    "\r\n"
    "inner body\r\n"
    "--XX--\r\n";

/* A store_msg as store_fetch(RAW | SECTIONS) gives it. */
static void msg_make(store_msg *m, const char *raw, int with_table)
{
    memset(m, 0, sizeof *m);
    m->raw = (char *)raw;
    m->raw_len = strlen(raw);
    if (with_table) {
        mime_part *root = mime_parse(raw, m->raw_len);
        buf t = BUF_INIT;
        mime_sections_serialize(root, &t);
        mime_free(root);
        m->sections_len = t.len;
        m->sections = (unsigned char *)buf_steal(&t, NULL);
    }
}

static void msg_done(store_msg *m)
{
    free(m->sections);
}

static imap_fetch_att att_section(const char *part, imap_section_spec spec)
{
    imap_fetch_att a;
    memset(&a, 0, sizeof a);
    a.kind = IMAP_FETCH_SECTION;
    a.part = (char *)part;
    a.spec = spec;
    return a;
}

/* The bytes of `a` as a C string, or NULL for NIL. */
static char *body_of(const store_msg *m, const imap_fetch_att *a)
{
    buf tmp = BUF_INIT;
    const char *data;
    size_t len;
    char *out = NULL;
    if (imap_fetch_body_data(m, a, &tmp, &data, &len)) {
        out = malloc(len + 1);
        memcpy(out, data, len);
        out[len] = '\0';
    }
    buf_free(&tmp);
    return out;
}

static void assert_body(const store_msg *m, imap_fetch_att a, const char *want)
{
    char *got = body_of(m, &a);
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void header_plus_text_is_the_whole_message(void **state)
{
    store_msg m;
    msg_make(&m, MP, 1);
    char *all = body_of(&m, &(imap_fetch_att){ .kind = IMAP_FETCH_SECTION, .part = "" });
    imap_fetch_att h = att_section("", IMAP_SECTION_HEADER), t = att_section("", IMAP_SECTION_TEXT);
    char *hdr = body_of(&m, &h), *text = body_of(&m, &t);
    assert_string_equal(all, MP);
    assert_string_equal(hdr, "From: a@example.org\r\nSubject: multipart\r\n"
                             "Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n");
    size_t hl = strlen(hdr);
    assert_memory_equal(MP, hdr, hl);
    assert_string_equal(MP + hl, text);
    free(all);
    free(hdr);
    free(text);
    msg_done(&m);
}

static void parts_mime_and_nested_message(void **state)
{
    store_msg m;
    msg_make(&m, MP, 1);
    assert_body(&m, att_section("1", IMAP_SECTION_ALL), "part one");
    assert_body(&m, att_section("1", IMAP_SECTION_MIME), "Content-Type: text/plain\r\n\r\n");
    assert_body(&m, att_section("2", IMAP_SECTION_ALL),
                "Subject: inner\r\nFrom: c@example.org\r\n\r\ninner body");
    assert_body(&m, att_section("2", IMAP_SECTION_HEADER), "Subject: inner\r\nFrom: c@example.org\r\n\r\n");
    assert_body(&m, att_section("2", IMAP_SECTION_TEXT), "inner body");
    assert_body(&m, att_section("2.1", IMAP_SECTION_ALL), "inner body");
    msg_done(&m);
}

static void missing_sections_are_nil(void **state)
{
    store_msg m;
    msg_make(&m, MP, 1);
    assert_body(&m, att_section("3", IMAP_SECTION_ALL), NULL);
    assert_body(&m, att_section("1.5", IMAP_SECTION_ALL), NULL);
    /* HEADER/TEXT of a part that is not message/rfc822 do not exist. */
    assert_body(&m, att_section("1", IMAP_SECTION_HEADER), NULL);
    assert_body(&m, att_section("1", IMAP_SECTION_TEXT), NULL);
    msg_done(&m);
}

static void partial_clips_and_past_end_is_empty(void **state)
{
    store_msg m;
    msg_make(&m, MP, 1);
    imap_fetch_att a = att_section("", IMAP_SECTION_ALL);
    a.partial = 1;
    a.partial_off = 0;
    a.partial_len = 4;
    assert_body(&m, a, "From");
    a.partial_off = (uint32_t)strlen(MP) - 3;
    a.partial_len = 100;
    assert_body(&m, a, "-\r\n");
    a.partial_off = (uint32_t)strlen(MP);
    assert_body(&m, a, "");
    a.partial_off = 1000000;
    assert_body(&m, a, "");
    imap_fetch_att p = att_section("2.1", IMAP_SECTION_ALL);
    p.partial = 1;
    p.partial_off = 6;
    p.partial_len = 4;
    assert_body(&m, p, "body");
    msg_done(&m);
}

static void header_fields_and_not(void **state)
{
    store_msg m;
    msg_make(&m, MP, 1);
    char *names[] = { "SUBJECT" };
    imap_fetch_att a = att_section("", IMAP_SECTION_HEADER_FIELDS);
    a.fields = names;
    a.nfields = 1;
    assert_body(&m, a, "Subject: multipart\r\n\r\n");
    a.spec = IMAP_SECTION_HEADER_FIELDS_NOT;
    assert_body(&m, a, "From: a@example.org\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n");
    imap_fetch_att n = att_section("2", IMAP_SECTION_HEADER_FIELDS);
    n.fields = names;
    n.nfields = 1;
    assert_body(&m, n, "Subject: inner\r\n\r\n");
    msg_done(&m);
}

static void rfc822_items(void **state)
{
    store_msg m;
    msg_make(&m, MP, 1);
    imap_fetch_att a = { .kind = IMAP_FETCH_RFC822, .part = "", .spec = IMAP_SECTION_ALL };
    assert_body(&m, a, MP);
    imap_fetch_att h = { .kind = IMAP_FETCH_RFC822_HEADER, .part = "", .spec = IMAP_SECTION_HEADER };
    assert_body(&m, h, "From: a@example.org\r\nSubject: multipart\r\n"
                       "Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n");
    msg_done(&m);
}

static void without_table_top_split_still_works(void **state)
{
    store_msg m;
    msg_make(&m, "Subject: x\r\n\r\nbody\r\n", 0);
    assert_body(&m, att_section("", IMAP_SECTION_HEADER), "Subject: x\r\n\r\n");
    assert_body(&m, att_section("", IMAP_SECTION_TEXT), "body\r\n");
    assert_body(&m, att_section("1", IMAP_SECTION_ALL), NULL);
    msg_make(&m, "No-Blank-Line: x\r\n", 0);
    assert_body(&m, att_section("", IMAP_SECTION_HEADER), "No-Blank-Line: x\r\n");
    assert_body(&m, att_section("", IMAP_SECTION_TEXT), "");
}

static void needs_and_seen(void **state)
{
    imap_fetch_att atts[3];
    memset(atts, 0, sizeof atts);
    atts[0].kind = IMAP_FETCH_FLAGS;
    assert_int_equal(imap_fetch_needs(atts, 1), 0);
    atts[1] = att_section("", IMAP_SECTION_ALL);
    atts[1].peek = 1;
    assert_int_equal(imap_fetch_needs(atts, 2), STORE_FETCH_RAW);
    assert_false(imap_fetch_sets_seen(atts, 2));
    atts[2] = att_section("1", IMAP_SECTION_MIME);
    assert_int_equal(imap_fetch_needs(atts, 3), STORE_FETCH_RAW | STORE_FETCH_SECTIONS);
    assert_true(imap_fetch_sets_seen(atts, 3));
    imap_fetch_att e[3] = { { .kind = IMAP_FETCH_ENVELOPE }, { .kind = IMAP_FETCH_BODYSTRUCTURE },
                            { .kind = IMAP_FETCH_RFC822_HEADER, .peek = 1 } };
    assert_int_equal(imap_fetch_needs(e, 3), STORE_FETCH_ENVELOPE | STORE_FETCH_BODYSTRUCTURE |
                                             STORE_FETCH_RAW | STORE_FETCH_SECTIONS);
    assert_false(imap_fetch_sets_seen(e, 3));
    imap_fetch_att t = { .kind = IMAP_FETCH_RFC822_TEXT };
    assert_true(imap_fetch_sets_seen(&t, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_plus_text_is_the_whole_message),
        cmocka_unit_test(parts_mime_and_nested_message),
        cmocka_unit_test(missing_sections_are_nil),
        cmocka_unit_test(partial_clips_and_past_end_is_empty),
        cmocka_unit_test(header_fields_and_not),
        cmocka_unit_test(rfc822_items),
        cmocka_unit_test(without_table_top_split_still_works),
        cmocka_unit_test(needs_and_seen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
