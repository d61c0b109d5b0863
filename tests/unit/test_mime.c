/*
 * test_mime.c — the MIME parser against exact bytes: offsets and line counts of
 * every part, BODY/BODYSTRUCTURE and ENVELOPE strings, the section table and
 * its lookups, header field filters, dates, CRLF normalisation, and a loop of
 * truncated and mutated messages that must parse without reading outside them
 * (run it under ASan: see the Makefile's asan target).
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
#include "util/limits.h"
#include "mime/mime.h"

/* ---- helpers ------------------------------------------------------------------ */

/* A message written with "\n" line ends in the test, CRLF-normalised, parsed. */
typedef struct fixture {
    buf raw;
    mime_part *root;
    buf sections;
} fixture;

static void fx_open(fixture *fx, const char *lf_text)
{
    memset(fx, 0, sizeof *fx);
    mime_normalize_crlf(lf_text, strlen(lf_text), &fx->raw);
    buf_append(&fx->raw, "", 0);
    fx->root = mime_parse(fx->raw.p, fx->raw.len);
    mime_sections_serialize(fx->root, &fx->sections);
}

static void fx_close(fixture *fx)
{
    mime_free(fx->root);
    buf_free(&fx->raw);
    buf_free(&fx->sections);
}

static void assert_bodystructure(fixture *fx, const mime_part *p, int extended, const char *want)
{
    buf out = BUF_INIT;
    mime_bodystructure(fx->raw.p, p, extended, &out);
    assert_string_equal(buf_cstr(&out), want);
    buf_free(&out);
}

static void assert_envelope(fixture *fx, const mime_part *p, const char *want)
{
    buf out = BUF_INIT;
    mime_envelope(fx->raw.p, p, &out);
    assert_string_equal(buf_cstr(&out), want);
    buf_free(&out);
}

/* The bytes of a range, compared with what the test expects there. */
static void assert_range(fixture *fx, size_t off, size_t len, const char *want_lf)
{
    buf want = BUF_INIT;
    mime_normalize_crlf(want_lf, strlen(want_lf), &want);
    assert_true(off + len <= fx->raw.len);
    assert_int_equal(len, want.len);
    assert_memory_equal(fx->raw.p + off, buf_cstr(&want), want.len);
    buf_free(&want);
}

static mime_section find(fixture *fx, const char *path)
{
    mime_section s;
    assert_int_equal(mime_section_find(fx->sections.p, fx->sections.len, path, &s), 0);
    return s;
}

static void assert_no_section(fixture *fx, const char *path)
{
    mime_section s;
    assert_int_equal(mime_section_find(fx->sections.p, fx->sections.len, path, &s), -1);
}

/* ---- single part ---------------------------------------------------------------- */

static void simple_text_message_bodystructure_is_exact(void **state)
{
    fixture fx;
    fx_open(&fx, "Subject: hi\n\nHello\nWorld\n");
    assert_bodystructure(&fx, fx.root, 1,
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 14 2 NIL NIL NIL NIL)");
    assert_bodystructure(&fx, fx.root, 0,
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 14 2)");
    assert_int_equal(fx.root->hdr_off, 0);
    assert_int_equal(fx.root->hdr_len, 15);          /* "Subject: hi\r\n\r\n" */
    assert_int_equal(fx.root->body_off, 15);
    assert_range(&fx, fx.root->body_off, fx.root->body_len, "Hello\nWorld\n");
    fx_close(&fx);
}

static void final_line_without_crlf_counts_as_a_line(void **state)
{
    fixture fx;
    fx_open(&fx, "Subject: hi\n\nHello\nWorld");
    assert_int_equal(fx.root->body_len, 12);
    assert_int_equal(fx.root->body_lines, 2);
    fx_close(&fx);
}

static void header_only_message_has_an_empty_body(void **state)
{
    fixture fx;
    fx_open(&fx, "Subject: hi\nFrom: a@b\n");
    assert_int_equal(fx.root->hdr_len, fx.raw.len);
    assert_int_equal(fx.root->body_off, fx.raw.len);
    assert_int_equal(fx.root->body_len, 0);
    assert_int_equal(fx.root->body_lines, 0);
    mime_section s = find(&fx, "");
    assert_int_equal(s.hdr_len, fx.raw.len);
    assert_int_equal(s.body_len, 0);
    fx_close(&fx);

    fx_open(&fx, "Subject: no line end");
    assert_int_equal(fx.root->hdr_len, 20);
    assert_int_equal(fx.root->body_len, 0);
    fx_close(&fx);
}

static void empty_message_is_an_empty_text_part(void **state)
{
    fixture fx;
    fx_open(&fx, "");
    assert_bodystructure(&fx, fx.root, 1,
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)");
    assert_envelope(&fx, fx.root, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    fx_close(&fx);
    mime_part *p = mime_parse(NULL, 0);
    assert_int_equal(p->body_len, 0);
    mime_free(p);
}

static void message_starting_with_blank_line_has_empty_header(void **state)
{
    fixture fx;
    fx_open(&fx, "\nbody\n");
    assert_int_equal(fx.root->hdr_len, 2);
    assert_range(&fx, fx.root->body_off, fx.root->body_len, "body\n");
    fx_close(&fx);
}

static void content_fields_fill_the_single_part(void **state)
{
    fixture fx;
    fx_open(&fx,
        "Content-Type: Text/HTML ; (a comment) Charset = \"UTF-8\" (another)\n"
        "Content-Transfer-Encoding: Quoted-Printable (qp)\n"
        "Content-ID: <part1@example.com>\n"
        "Content-Description: a\n  folded description\n"
        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
        "Content-Disposition: INLINE; filename=\"a \\\"b\\\".html\"\n"
        "Content-Language: en-GB (British), fr\n"
        "Content-Location: http://example.com/\n   a.html\n"
        "\n"
        "<p>x</p>\n");
    assert_bodystructure(&fx, fx.root, 1,
        "(\"TEXT\" \"HTML\" (\"CHARSET\" \"UTF-8\") \"<part1@example.com>\" "
        "\"a  folded description\" \"QUOTED-PRINTABLE\" 10 1 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" "
        "(\"INLINE\" (\"FILENAME\" \"a \\\"b\\\".html\")) (\"en-GB\" \"fr\") "
        "\"http://example.com/a.html\")");
    assert_string_equal(fx.root->type, "text");
    assert_string_equal(fx.root->subtype, "html");
    assert_string_equal(fx.root->encoding, "quoted-printable");
    assert_string_equal(fx.root->disposition, "inline");
    fx_close(&fx);
}

static void invalid_content_type_defaults_to_text_plain(void **state)
{
    fixture fx;
    fx_open(&fx, "Content-Type: garbage; charset=utf-8\n\nx\n");
    assert_bodystructure(&fx, fx.root, 0,
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1)");
    fx_close(&fx);
    fx_open(&fx, "Content-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBO\n");
    assert_bodystructure(&fx, fx.root, 0, "(\"IMAGE\" \"PNG\" NIL NIL NIL \"BASE64\" 6)");
    fx_close(&fx);
}

static void rfc2231_continuations_are_joined_and_charset_prefix_kept(void **state)
{
    fixture fx;
    fx_open(&fx,
        "Content-Type: application/x-stuff;\n"
        " title*1*=%20fun; title*0*=us-ascii'en'This%20is;\n"
        " name*0=\"a b\"; name*1=c;\n"
        " mixed*0=\"x y\"; mixed*1*=%41;\n"
        " single*=utf-8''%E2%82%AC;\n"
        " boundary=----=_Part_1_2.3\n"
        "\n"
        "data\n");
    assert_bodystructure(&fx, fx.root, 0,
        "(\"APPLICATION\" \"X-STUFF\" (\"TITLE*\" \"us-ascii'en'This%20is%20fun\" \"NAME\" \"a bc\" "
        "\"MIXED*\" \"''x%20y%41\" \"SINGLE*\" \"utf-8''%E2%82%AC\" \"BOUNDARY\" \"----=_Part_1_2.3\") "
        "NIL NIL \"7BIT\" 6)");
    fx_close(&fx);
}

static void eight_bit_parameter_is_sent_as_literal(void **state)
{
    fixture fx;
    fx_open(&fx, "Content-Type: text/plain; name=\"caf\xc3\xa9\"\n\nx");
    assert_bodystructure(&fx, fx.root, 0,
        "(\"TEXT\" \"PLAIN\" (\"NAME\" {5}\r\ncaf\xc3\xa9) NIL NIL \"7BIT\" 1 1)");
    fx_close(&fx);
}

/* ---- multipart -------------------------------------------------------------------- */

static const char mixed_with_attachment[] =
    "From: Sender <sender@example.com>\n"
    "To: rcpt@example.org\n"
    "Subject: report\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"XyZ\"\n"
    "\n"
    "This is a MIME message.\n"
    "--XyZ\n"
    "Content-Type: text/plain; charset=us-ascii\n"
    "\n"
    "See the attachment.\n"
    "\n"
    "--XyZ\n"
    "Content-Type: application/pdf; name=\"r.pdf\"\n"
    "Content-Transfer-Encoding: base64\n"
    "Content-Disposition: attachment; filename=\"r.pdf\"\n"
    "\n"
    "JVBERi0xLjQK\n"
    "--XyZ--\n"
    "epilogue\n";

static void multipart_mixed_with_attachment_is_exact(void **state)
{
    fixture fx;
    fx_open(&fx, mixed_with_attachment);
    assert_int_equal(fx.root->nchildren, 2);
    assert_bodystructure(&fx, fx.root, 1,
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 21 1 NIL NIL NIL NIL)"
        "(\"APPLICATION\" \"PDF\" (\"NAME\" \"r.pdf\") NIL NIL \"BASE64\" 12 NIL "
        "(\"ATTACHMENT\" (\"FILENAME\" \"r.pdf\")) NIL NIL) "
        "\"MIXED\" (\"BOUNDARY\" \"XyZ\") NIL NIL NIL)");
    assert_bodystructure(&fx, fx.root, 0,
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 21 1)"
        "(\"APPLICATION\" \"PDF\" (\"NAME\" \"r.pdf\") NIL NIL \"BASE64\" 12) \"MIXED\")");
    /* Part bodies stop before the CRLF that belongs to the delimiter line. */
    const mime_part *t = fx.root->children[0], *a = fx.root->children[1];
    assert_range(&fx, t->body_off, t->body_len, "See the attachment.\n");
    assert_range(&fx, a->body_off, a->body_len, "JVBERi0xLjQK");
    assert_range(&fx, t->hdr_off, t->hdr_len, "Content-Type: text/plain; charset=us-ascii\n\n");
    /* The multipart body is preamble to epilogue. */
    assert_range(&fx, fx.root->body_off, fx.root->body_len,
                 strstr(mixed_with_attachment, "This is a MIME"));
    assert_int_equal(fx.root->body_lines, 14);
    fx_close(&fx);
}

static void multipart_alternative_inside_mixed_resolves_sections(void **state)
{
    fixture fx;
    fx_open(&fx,
        "Content-Type: multipart/mixed; boundary=outer\n"
        "\n"
        "--outer\n"
        "Content-Type: multipart/alternative; boundary=inner\n"
        "\n"
        "--inner\n"
        "Content-Type: text/plain\n"
        "\n"
        "plain\n"
        "--inner\n"
        "Content-Type: text/html\n"
        "\n"
        "<b>html</b>\n"
        "--inner--\n"
        "--outer\n"
        "Content-Type: image/gif\n"
        "\n"
        "R0lG\n"
        "--outer--\n");
    assert_bodystructure(&fx, fx.root, 0,
        "(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 1)"
        "(\"TEXT\" \"HTML\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 11 1) \"ALTERNATIVE\")"
        "(\"IMAGE\" \"GIF\" NIL NIL NIL \"7BIT\" 4) \"MIXED\")");
    mime_section s = find(&fx, "1.1");
    assert_range(&fx, s.body_off, s.body_len, "plain");
    assert_range(&fx, s.hdr_off, s.hdr_len, "Content-Type: text/plain\n\n");
    assert_false(s.is_message);
    s = find(&fx, "1.2");
    assert_range(&fx, s.body_off, s.body_len, "<b>html</b>");
    s = find(&fx, "1");
    assert_range(&fx, s.hdr_off, s.hdr_len, "Content-Type: multipart/alternative; boundary=inner\n\n");
    assert_range(&fx, s.body_off, s.body_len,
        "--inner\nContent-Type: text/plain\n\nplain\n--inner\nContent-Type: text/html\n\n"
        "<b>html</b>\n--inner--");
    s = find(&fx, "2");
    assert_range(&fx, s.body_off, s.body_len, "R0lG");
    assert_no_section(&fx, "3");
    assert_no_section(&fx, "1.3");
    assert_no_section(&fx, "2.1");
    fx_close(&fx);
}

static void boundaries_that_prefix_each_other_nest(void **state)
{
    /* Inner boundary extends the outer one: "--abcdef" is the inner delimiter,
     * "--abc" ends the (unclosed) inner multipart and its last part. */
    fixture fx;
    fx_open(&fx,
        "Content-Type: multipart/mixed; boundary=abc\n"
        "\n"
        "--abc\n"
        "Content-Type: multipart/alternative; boundary=abcdef\n"
        "\n"
        "--abcdef\n"
        "\n"
        "one\n"
        "--abcdef\n"
        "\n"
        "two\n"
        "--abc\n"
        "\n"
        "three\n"
        "--abc--\n");
    assert_int_equal(fx.root->nchildren, 2);
    assert_int_equal(fx.root->children[0]->nchildren, 2);
    assert_range(&fx, find(&fx, "1.1").body_off, find(&fx, "1.1").body_len, "one");
    assert_range(&fx, find(&fx, "1.2").body_off, find(&fx, "1.2").body_len, "two");
    assert_range(&fx, find(&fx, "2").body_off, find(&fx, "2").body_len, "three");
    fx_close(&fx);

    /* The other way round: the outer boundary extends the inner one. */
    fx_open(&fx,
        "Content-Type: multipart/mixed; boundary=abcdef\n"
        "\n"
        "--abcdef\n"
        "Content-Type: multipart/alternative; boundary=abc\n"
        "\n"
        "--abc\n"
        "\n"
        "one\n"
        "--abcdefX\n"
        "--abcdef\n"
        "\n"
        "two\n"
        "--abcdef--\n");
    assert_int_equal(fx.root->nchildren, 2);
    assert_int_equal(fx.root->children[0]->nchildren, 1);
    assert_range(&fx, find(&fx, "1.1").body_off, find(&fx, "1.1").body_len, "one\n--abcdefX");
    assert_range(&fx, find(&fx, "2").body_off, find(&fx, "2").body_len, "two");
    fx_close(&fx);
}

static void identical_nested_boundaries_match_the_innermost(void **state)
{
    fixture fx;
    fx_open(&fx,
        "Content-Type: multipart/mixed; boundary=b\n"
        "\n"
        "--b\n"
        "Content-Type: multipart/mixed; boundary=b\n"
        "\n"
        "--b\n"
        "\n"
        "x\n"
        "--b--\n"
        "--b--\n");
    assert_int_equal(fx.root->nchildren, 1);
    assert_int_equal(fx.root->children[0]->nchildren, 1);
    fx_close(&fx);
}

static void delimiter_lines_allow_trailing_whitespace_only(void **state)
{
    fixture fx;
    fx_open(&fx,
        "Content-Type: multipart/mixed; boundary=\"b\"\n"
        "\n"
        "--b \t\n"
        "\n"
        "one\n"
        "--bb\n"
        "-- b\n"
        "--b-- \n"
        "after\n");
    assert_int_equal(fx.root->nchildren, 1);
    assert_range(&fx, fx.root->children[0]->body_off, fx.root->children[0]->body_len,
                 "one\n--bb\n-- b");
    assert_int_equal(fx.root->children[0]->body_lines, 3);
    fx_close(&fx);
}

static void missing_close_delimiter_ends_at_the_end(void **state)
{
    fixture fx;
    fx_open(&fx,
        "Content-Type: multipart/mixed; boundary=b\n"
        "\n"
        "--b\n"
        "\n"
        "one\n"
        "--b\n"
        "Content-Type: multipart/alternative; boundary=c\n"
        "\n"
        "--c\n"
        "\n"
        "two\n");
    assert_int_equal(fx.root->nchildren, 2);
    const mime_part *alt = fx.root->children[1];
    assert_int_equal(alt->nchildren, 1);
    assert_range(&fx, alt->children[0]->body_off, alt->children[0]->body_len, "two\n");
    assert_int_equal(alt->body_off + alt->body_len, fx.raw.len);
    assert_int_equal(fx.root->body_off + fx.root->body_len, fx.raw.len);
    fx_close(&fx);
}

static void part_header_cut_by_a_delimiter_has_empty_body(void **state)
{
    fixture fx;
    fx_open(&fx,
        "Content-Type: multipart/mixed; boundary=b\n"
        "\n"
        "--b\n"
        "Content-Type: text/html\n"
        "--b\n"
        "--b--\n");
    assert_int_equal(fx.root->nchildren, 2);
    const mime_part *p1 = fx.root->children[0], *p2 = fx.root->children[1];
    /* The CRLF before a delimiter line is the delimiter's, even after a header. */
    assert_range(&fx, p1->hdr_off, p1->hdr_len, "Content-Type: text/html");
    assert_int_equal(p1->body_len, 0);
    assert_string_equal(p1->subtype, "html");
    assert_int_equal(p2->hdr_len, 0);
    assert_int_equal(p2->body_len, 0);
    fx_close(&fx);
}

static void multipart_without_boundary_is_opaque_text(void **state)
{
    fixture fx;
    fx_open(&fx, "Content-Type: multipart/mixed\n\n--x\n\nhi\n--x--\n");
    assert_bodystructure(&fx, fx.root, 0,
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 18 4)");
    fx_close(&fx);
}

static void multipart_without_parts_shows_an_empty_text_part(void **state)
{
    fixture fx;
    fx_open(&fx, "Content-Type: multipart/mixed; boundary=zz\n\nno delimiter here\n");
    assert_int_equal(fx.root->nchildren, 0);
    assert_bodystructure(&fx, fx.root, 1,
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL) "
        "\"MIXED\" (\"BOUNDARY\" \"zz\") NIL NIL NIL)");
    assert_no_section(&fx, "1");
    fx_close(&fx);
}

static void digest_parts_default_to_message_rfc822(void **state)
{
    fixture fx;
    fx_open(&fx,
        "Content-Type: multipart/digest; boundary=d\n"
        "\n"
        "--d\n"
        "\n"
        "Subject: one\n"
        "\n"
        "first\n"
        "--d\n"
        "Content-Type: text/plain\n"
        "\n"
        "not a message\n"
        "--d--\n");
    assert_bodystructure(&fx, fx.root, 0,
        "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 21 "
        "(NIL \"one\" NIL NIL NIL NIL NIL NIL NIL NIL) "
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 1) 3)"
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1) \"DIGEST\")");
    fx_close(&fx);
}

/* ---- message/rfc822 ----------------------------------------------------------------- */

/* The encapsulated message of `forwarded`, exactly as BODY[2] must return it:
 * the CRLF before the outer close delimiter is not part of it. */
#define FORWARDED_INNER \
    "From: \"Orig Sender\" <orig@example.net>\n" \
    "Subject: original\n" \
    "Date: Tue, 1 Feb 2022 10:00:00 +0000\n" \
    "Content-Type: multipart/alternative; boundary=\"==c==\"\n" \
    "\n" \
    "--==c==\n" \
    "\n" \
    "text\n" \
    "--==c==\n" \
    "Content-Type: text/html\n" \
    "\n" \
    "<i>text</i>\n" \
    "--==c==--\n"

static const char forwarded[] =
    "From: a@example.com\n"
    "Subject: fwd\n"
    "Content-Type: multipart/mixed; boundary=\"==b==\"\n"
    "\n"
    "--==b==\n"
    "Content-Type: text/plain\n"
    "\n"
    "see below\n"
    "--==b==\n"
    "Content-Type: message/rfc822\n"
    "Content-Description: the original\n"
    "\n"
    FORWARDED_INNER
    "\n"
    "--==b==--\n";

static void message_rfc822_attachment_is_exact(void **state)
{
    fixture fx;
    fx_open(&fx, forwarded);
    assert_bodystructure(&fx, fx.root->children[1], 1,
        "(\"MESSAGE\" \"RFC822\" NIL NIL \"the original\" \"7BIT\" 231 "
        "(\"Tue, 1 Feb 2022 10:00:00 +0000\" \"original\" "
        "((\"Orig Sender\" NIL \"orig\" \"example.net\")) ((\"Orig Sender\" NIL \"orig\" \"example.net\")) "
        "((\"Orig Sender\" NIL \"orig\" \"example.net\")) NIL NIL NIL NIL NIL) "
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 4 1 NIL NIL NIL NIL)"
        "(\"TEXT\" \"HTML\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 11 1 NIL NIL NIL NIL) "
        "\"ALTERNATIVE\" (\"BOUNDARY\" \"==c==\") NIL NIL NIL) 13 NIL NIL NIL NIL)");
    /* BODY[2] is the whole encapsulated message; 2.HEADER / 2.TEXT split it. */
    mime_section s = find(&fx, "2");
    assert_true(s.is_message);
    assert_range(&fx, s.body_off, s.body_len, FORWARDED_INNER);
    assert_int_equal(s.msg_hdr_off + s.msg_hdr_len, s.msg_body_off);
    assert_int_equal(s.msg_hdr_len + s.msg_body_len, s.body_len);
    assert_range(&fx, s.msg_hdr_off, s.msg_hdr_len,
        "From: \"Orig Sender\" <orig@example.net>\nSubject: original\n"
        "Date: Tue, 1 Feb 2022 10:00:00 +0000\n"
        "Content-Type: multipart/alternative; boundary=\"==c==\"\n\n");
    assert_range(&fx, s.hdr_off, s.hdr_len,
                 "Content-Type: message/rfc822\nContent-Description: the original\n\n");
    /* 2.1 and 2.2 are the parts of the encapsulated multipart. */
    s = find(&fx, "2.1");
    assert_range(&fx, s.body_off, s.body_len, "text");
    assert_range(&fx, s.hdr_off, s.hdr_len, "\n");
    s = find(&fx, "2.2");
    assert_range(&fx, s.body_off, s.body_len, "<i>text</i>");
    assert_no_section(&fx, "2.3");
    assert_no_section(&fx, "2.1.1");   /* text part: only 2.1 itself */
    fx_close(&fx);
}

static void message_rfc822_with_single_part_body_numbers_it_one(void **state)
{
    fixture fx;
    fx_open(&fx,
        "Content-Type: multipart/mixed; boundary=b\n"
        "\n"
        "--b\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "Subject: inner\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "inner body\n"
        "--b\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "Subject: nested\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "Subject: deepest\n"
        "\n"
        "deep\n"
        "--b--\n");
    /* 1.1 is the body of the encapsulated single-part message; its MIME header
     * is that message's header. */
    mime_section s = find(&fx, "1.1");
    assert_false(s.is_message);
    assert_range(&fx, s.body_off, s.body_len, "inner body");
    assert_range(&fx, s.hdr_off, s.hdr_len, "Subject: inner\nContent-Type: text/plain; charset=utf-8\n\n");
    assert_no_section(&fx, "1.2");
    /* 2.1 is itself a message/rfc822: 2.1.HEADER and 2.1.TEXT. */
    s = find(&fx, "2.1");
    assert_true(s.is_message);
    assert_range(&fx, s.msg_hdr_off, s.msg_hdr_len, "Subject: deepest\n\n");
    assert_range(&fx, s.msg_body_off, s.msg_body_len, "deep");
    s = find(&fx, "2.1.1");
    assert_range(&fx, s.body_off, s.body_len, "deep");
    assert_int_equal(fx.root->children[1]->body_lines, 6);
    fx_close(&fx);
}

/* ---- sections of a single-part message ---------------------------------------------- */

static void sections_of_a_single_part_message_follow_rfc3501(void **state)
{
    fixture fx;
    fx_open(&fx, "Subject: s\nContent-Type: text/plain\n\nline1\nline2\n");
    mime_section s = find(&fx, "");
    assert_true(s.is_message);
    assert_range(&fx, s.hdr_off, s.hdr_len, "Subject: s\nContent-Type: text/plain\n\n");
    assert_range(&fx, s.body_off, s.body_len, "line1\nline2\n");
    assert_int_equal(s.msg_hdr_off, s.hdr_off);
    assert_int_equal(s.msg_body_len, s.body_len);
    /* Part 1 of a non-multipart message is its body; 1.MIME its header. */
    s = find(&fx, "1");
    assert_false(s.is_message);
    assert_range(&fx, s.body_off, s.body_len, "line1\nline2\n");
    assert_range(&fx, s.hdr_off, s.hdr_len, "Subject: s\nContent-Type: text/plain\n\n");
    assert_no_section(&fx, "2");
    assert_no_section(&fx, "1.1");
    fx_close(&fx);
}

static void top_level_message_rfc822_part_one_is_the_encapsulated_message(void **state)
{
    fixture fx;
    fx_open(&fx, "Content-Type: message/rfc822\n\nSubject: in\n\nx\n");
    mime_section s = find(&fx, "1");
    assert_true(s.is_message);
    assert_range(&fx, s.body_off, s.body_len, "Subject: in\n\nx\n");
    assert_range(&fx, s.msg_hdr_off, s.msg_hdr_len, "Subject: in\n\n");
    s = find(&fx, "1.1");
    assert_range(&fx, s.body_off, s.body_len, "x\n");
    fx_close(&fx);
}

static void malformed_paths_are_not_found(void **state)
{
    fixture fx;
    fx_open(&fx, mixed_with_attachment);
    const char *bad[] = { "0", "01", "1.", ".1", "1..2", "a", "1a", "1.0", "3", "-1",
                          "99999999999999999999", "1 ", "1.MIME" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_no_section(&fx, bad[i]);
    mime_section s;
    assert_int_equal(mime_section_find(fx.sections.p, fx.sections.len, NULL, &s), -1);
    fx_close(&fx);
}

static void damaged_section_tables_are_refused(void **state)
{
    fixture fx;
    fx_open(&fx, forwarded);
    mime_section s;
    unsigned char *copy = xmemdup(fx.sections.p, fx.sections.len);
    /* Every truncation, and every single-bit flip, is refused. */
    for (size_t n = 0; n < fx.sections.len; n++)
        assert_int_equal(mime_section_find(copy, n, "2.1", &s), -1);
    for (size_t i = 0; i < fx.sections.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            copy[i] ^= (unsigned char)(1u << bit);
            assert_int_equal(mime_section_find(copy, fx.sections.len, "2.1", &s), -1);
            copy[i] ^= (unsigned char)(1u << bit);
        }
    }
    assert_int_equal(mime_section_find(copy, fx.sections.len, "2.1", &s), 0);
    assert_int_equal(mime_section_find(NULL, 0, "", &s), -1);
    free(copy);
    fx_close(&fx);
}

/* ---- envelope ----------------------------------------------------------------------- */

static void envelope_of_a_plain_message_is_exact(void **state)
{
    fixture fx;
    fx_open(&fx,
        "Date: Mon, 3 Jan 2005 12:00:00 +0100\n"
        "From: \"Doe, John\" <john@example.com>\n"
        "To: alice@example.org, Bob <bob@example.org>\n"
        "Cc: carol@example.org (Carol C.)\n"
        "Subject: Hello\n"
        "Message-ID: <123@example.com>\n"
        "In-Reply-To: <122@example.com>\n"
        "\n"
        "x\n");
    assert_envelope(&fx, fx.root,
        "(\"Mon, 3 Jan 2005 12:00:00 +0100\" \"Hello\" "
        "((\"Doe, John\" NIL \"john\" \"example.com\")) "
        "((\"Doe, John\" NIL \"john\" \"example.com\")) "
        "((\"Doe, John\" NIL \"john\" \"example.com\")) "
        "((NIL NIL \"alice\" \"example.org\")(\"Bob\" NIL \"bob\" \"example.org\")) "
        "((\"Carol C.\" NIL \"carol\" \"example.org\")) NIL "
        "\"<122@example.com>\" \"<123@example.com>\")");
    fx_close(&fx);
}

static void envelope_groups_and_quoting(void **state)
{
    fixture fx;
    fx_open(&fx,
        "From: \"A \\\"quoted\\\" \\\\ name\" <a@b.c>\n"
        "Sender: Real Sender <real@b.c>\n"
        "Reply-To:\n"
        "To: undisclosed-recipients:;\n"
        "Cc: Team: x@y.z, \"Y\" <y@y.z>; , after@y.z\n"
        "Bcc: Open group: m@n.o\n"
        "\n");
    assert_envelope(&fx, fx.root,
        "(NIL NIL "
        "((\"A \\\"quoted\\\" \\\\ name\" NIL \"a\" \"b.c\")) "
        "((\"Real Sender\" NIL \"real\" \"b.c\")) "
        "((\"A \\\"quoted\\\" \\\\ name\" NIL \"a\" \"b.c\")) "
        "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "
        "((NIL NIL \"Team\" NIL)(NIL NIL \"x\" \"y.z\")(\"Y\" NIL \"y\" \"y.z\")(NIL NIL NIL NIL)"
        "(NIL NIL \"after\" \"y.z\")) "
        "((NIL NIL \"Open group\" NIL)(NIL NIL \"m\" \"n.o\")(NIL NIL NIL NIL)) "
        "NIL NIL)");
    fx_close(&fx);
}

static void envelope_keeps_encoded_words_and_sends_8bit_as_literal(void **state)
{
    fixture fx;
    fx_open(&fx,
        "Subject: =?UTF-8?Q?caf=C3=A9?=\n  and more\n"
        "From: =?utf-8?b?SsO2cmc=?= <j@x.y>\n"
        "To: J\xc3\xb6rg <j@x.y>\n"
        "\n");
    assert_envelope(&fx, fx.root,
        "(NIL \"=?UTF-8?Q?caf=C3=A9?=  and more\" "
        "((\"=?utf-8?b?SsO2cmc=?=\" NIL \"j\" \"x.y\")) "
        "((\"=?utf-8?b?SsO2cmc=?=\" NIL \"j\" \"x.y\")) "
        "((\"=?utf-8?b?SsO2cmc=?=\" NIL \"j\" \"x.y\")) "
        "(({5}\r\nJ\xc3\xb6rg NIL \"j\" \"x.y\")) NIL NIL NIL NIL)");
    fx_close(&fx);
}

static void envelope_odd_addresses(void **state)
{
    fixture fx;
    fx_open(&fx,
        "From: MAILER-DAEMON\n"
        "To: <@relay1,@relay2:user@host.example>, \"odd@local\"@host.example,\n"
        "  John Q. Public <jqp@[192.0.2.1]>, <>, (only a comment)\n"
        "Cc: user @ example . com (Spaced)\n"
        "Bcc: \"last\" <last@x.y> (ignored comment)\n"
        "\n");
    assert_envelope(&fx, fx.root,
        "(NIL NIL ((NIL NIL \"MAILER-DAEMON\" \"MISSING_DOMAIN\")) ((NIL NIL \"MAILER-DAEMON\" \"MISSING_DOMAIN\")) "
        "((NIL NIL \"MAILER-DAEMON\" \"MISSING_DOMAIN\")) "
        "((NIL \"@relay1,@relay2\" \"user\" \"host.example\")(NIL NIL \"\\\"odd@local\\\"\" \"host.example\")"
        "(\"John Q. Public\" NIL \"jqp\" \"[192.0.2.1]\")) "
        "((\"Spaced\" NIL \"user\" \"example.com\")) "
        "((\"last\" NIL \"last\" \"x.y\")) NIL NIL)");
    fx_close(&fx);
}

static void envelope_of_an_encapsulated_message(void **state)
{
    fixture fx;
    fx_open(&fx, forwarded);
    assert_envelope(&fx, fx.root->children[1]->message,
        "(\"Tue, 1 Feb 2022 10:00:00 +0000\" \"original\" "
        "((\"Orig Sender\" NIL \"orig\" \"example.net\")) ((\"Orig Sender\" NIL \"orig\" \"example.net\")) "
        "((\"Orig Sender\" NIL \"orig\" \"example.net\")) NIL NIL NIL NIL NIL)");
    fx_close(&fx);
}

/* ---- header helpers ----------------------------------------------------------------- */

static const char header_text[] =
    "Received: from a\r\n\tby b\r\n"
    "subject: Hello\r\n  World\r\n"
    "From: x@y.z\r\n"
    "X-Empty:\r\n"
    "Subject: second\r\n"
    "\r\n"
    "body: not a header\r\n";

static void header_fields_are_copied_byte_exact(void **state)
{
    const char *names[] = { "SUBJECT", "x-empty" };
    buf out = BUF_INIT;
    mime_header_fields(header_text, strlen(header_text), names, 2, 0, &out);
    assert_string_equal(buf_cstr(&out),
        "subject: Hello\r\n  World\r\nX-Empty:\r\nSubject: second\r\n\r\n");
    buf_reset(&out);
    mime_header_fields(header_text, strlen(header_text), names, 2, 1, &out);
    assert_string_equal(buf_cstr(&out), "Received: from a\r\n\tby b\r\nFrom: x@y.z\r\n\r\n");
    buf_reset(&out);
    const char *none[] = { "Nope" };
    mime_header_fields(header_text, strlen(header_text), none, 1, 0, &out);
    assert_string_equal(buf_cstr(&out), "\r\n");
    buf_reset(&out);
    /* A header cut by the end of the data still ends with CRLF CRLF. */
    mime_header_fields("A: 1\r\nB: 2", 10, none, 0, 1, &out);
    assert_string_equal(buf_cstr(&out), "A: 1\r\nB: 2\r\n\r\n");
    buf_free(&out);
}

static void header_get_unfolds_the_first_field(void **state)
{
    buf v = BUF_INIT;
    assert_int_equal(mime_header_get(header_text, strlen(header_text), "Subject", &v), 0);
    assert_string_equal(buf_cstr(&v), "Hello  World");
    buf_reset(&v);
    assert_int_equal(mime_header_get(header_text, strlen(header_text), "x-EMPTY", &v), 0);
    assert_int_equal(v.len, 0);
    buf_reset(&v);
    assert_int_equal(mime_header_get(header_text, strlen(header_text), "Body", &v), -1);
    assert_int_equal(mime_header_get(header_text, strlen(header_text), "To", &v), -1);
    assert_int_equal(mime_header_get("Name : value\r\n", 14, "name", &v), 0);
    assert_string_equal(buf_cstr(&v), "value");
    buf_free(&v);
}

/* ---- dates -------------------------------------------------------------------------- */

static void assert_date(const char *s, int64_t want_utc, int want_tz)
{
    int64_t utc = -1;
    int tz = -9999;
    if (mime_parse_date(s, strlen(s), &utc, &tz) != 0) fail_msg("date refused: %s", s);
    if (utc != want_utc || tz != want_tz)
        fail_msg("%s: got %lld %d, want %lld %d", s, (long long)utc, tz, (long long)want_utc, want_tz);
}

static void dates_in_rfc5322_and_obsolete_forms(void **state)
{
    /* 2005-01-03 11:00:00 UTC = 1104750000 */
    assert_date("Mon, 3 Jan 2005 12:00:00 +0100", 1104750000, 60);
    assert_date("3 Jan 2005 12:00:00 +0100", 1104750000, 60);
    assert_date("Mon,3 Jan 2005 12:00:00 +0100", 1104750000, 60);
    assert_date("  Mon ,  03  JAN  2005  12 : 00 : 00  +0100  (CET)", 1104750000, 60);
    assert_date("Monday, 3 January 2005 12:00:00 +0100", 1104750000, 60);
    assert_date("Mon, 3 Jan 05 11:00:00 GMT", 1104750000, 0);
    assert_date("Mon, 3 Jan 105 11:00:00 UT", 1104750000, 0);
    assert_date("Mon, 3 Jan 2005 11:00 +0000", 1104750000, 0);
    assert_date("Mon, 3 Jan 2005 06:00:00 EST", 1104750000, -300);
    assert_date("Mon, 3 Jan 2005 07:00:00 EDT", 1104750000, -240);
    assert_date("Mon, 3 Jan 2005 05:00:00 CST", 1104750000, -360);
    assert_date("Mon, 3 Jan 2005 06:00:00 CDT", 1104750000, -300);
    assert_date("Mon, 3 Jan 2005 04:00:00 MST", 1104750000, -420);
    assert_date("Mon, 3 Jan 2005 05:00:00 MDT", 1104750000, -360);
    assert_date("Mon, 3 Jan 2005 03:00:00 PST", 1104750000, -480);
    assert_date("Mon, 3 Jan 2005 04:00:00 PDT", 1104750000, -420);
    assert_date("Mon, 3 Jan 2005 11:00:00 Z", 1104750000, 0);
    assert_date("Mon, 3 Jan 2005 11:00:00 A", 1104750000, 0);      /* military: unknown */
    assert_date("Mon, 3 Jan 2005 11:00:00 CEST", 1104750000, 0);   /* unknown name */
    assert_date("Mon, 3 Jan 2005 11:00:00", 1104750000, 0);        /* no zone */
    assert_date("Mon, 3 Jan 2005 16:30:00 +05:30", 1104750000, 330);
    assert_date("Mon, 3 Jan 2005 10:00:00 -0100", 1104750000, -60);
    assert_date("Thu, 01 Jan 1970 00:00:00 +0000", 0, 0);
    assert_date("29 Feb 2000 00:00:00 +0000", 951782400, 0);
    assert_date("Fri, 31 Dec 1999 23:59:60 +0000", 946684800, 0);
    assert_date("1 Mar 2100 00:00:00 +0000", 4107542400, 0);
    assert_date("31 Dec 1969 23:59:59 +0000", -1, 0);
}

static void bad_dates_are_refused(void **state)
{
    const char *bad[] = { "", "garbage", "Mon, 3 Foo 2005 12:00:00 +0100", "Mon, 32 Jan 2005 12:00 +0000",
                          "29 Feb 2001 00:00 +0000", "3 Jan 2005 24:00 +0000", "3 Jan 2005 12:60 +0000",
                          "3 Jan 2005 12 +0000", "3 Jan 2005 12:00 +01", "3 Jan 2005 12:00 +0160",
                          "Xyz, 3 Jan 2005 12:00 +0000", "3 Jan 2 12:00 +0000" };
    int64_t utc;
    int tz;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (mime_parse_date(bad[i], strlen(bad[i]), &utc, &tz) == 0) fail_msg("accepted: %s", bad[i]);
    /* The length is honoured: a date cut before its minutes is refused. */
    assert_int_equal(mime_parse_date("3 Jan 2005 12:00", 13, &utc, &tz), -1);
}

/* ---- CRLF ----------------------------------------------------------------------------- */

static void assert_crlf_n(const char *in, size_t n, const char *want, size_t want_len)
{
    buf out = BUF_INIT;
    mime_normalize_crlf(in, n, &out);
    assert_int_equal(out.len, want_len);
    assert_memory_equal(buf_cstr(&out), want, out.len);
    buf_free(&out);
}

#define assert_crlf(in, n, want) assert_crlf_n(in, n, want, strlen(want))

static void crlf_normalisation_makes_every_line_end_crlf(void **state)
{
    assert_crlf("a\nb\n", 4, "a\r\nb\r\n");
    assert_crlf("a\r\nb\r\n", 6, "a\r\nb\r\n");
    assert_crlf("a\rb\r", 4, "a\r\nb\r\n");
    assert_crlf("a\r\r\nb", 5, "a\r\n\r\nb");
    assert_crlf("\n\n\r\r", 4, "\r\n\r\n\r\n\r\n");
    assert_crlf("\n\r", 2, "\r\n\r\n");
    assert_crlf("x", 1, "x");
    assert_crlf_n("a\0\nb", 4, "a\0\r\nb", 5);
    assert_crlf("", 0, "");
    buf out = BUF_INIT;
    mime_normalize_crlf(NULL, 0, &out);
    assert_int_equal(out.len, 0);
    buf_free(&out);
}

/* ---- limits and hostile input ------------------------------------------------------- */

static void nesting_deeper_than_the_limit_becomes_opaque(void **state)
{
    buf m = BUF_INIT;
    int levels = MIME_DEPTH_MAX + 20;
    for (int i = 0; i < levels; i++)
        buf_printf(&m, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i);
    buf_puts(&m, "\r\nleaf\r\n");
    mime_part *root = mime_parse(m.p, m.len);
    int depth = 0;
    const mime_part *p = root;
    while (p->nchildren) {
        p = p->children[0];
        depth++;
    }
    assert_int_equal(depth, MIME_DEPTH_MAX);
    assert_string_equal(p->type, "text");
    assert_int_equal(p->body_off + p->body_len, m.len);
    buf bs = BUF_INIT;
    mime_bodystructure(m.p, root, 1, &bs);
    mime_sections_serialize(root, &bs);
    mime_free(root);
    buf_free(&bs);
    buf_free(&m);

    /* message/rfc822 nesting is bounded the same way. */
    for (int i = 0; i < levels; i++) buf_puts(&m, "Content-Type: message/rfc822\r\n\r\n");
    root = mime_parse(m.p, m.len);
    depth = 0;
    for (p = root; p->message; p = p->message) depth++;
    assert_int_equal(depth, MIME_DEPTH_MAX);
    mime_free(root);
    buf_free(&m);
}

static size_t count_parts(const mime_part *p)
{
    size_t n = 1;
    for (size_t i = 0; i < p->nchildren; i++) n += count_parts(p->children[i]);
    if (p->message) n += count_parts(p->message);
    return n;
}

static void parts_beyond_the_limit_fold_into_their_parent(void **state)
{
    buf m = BUF_INIT;
    buf_puts(&m, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
    for (int i = 0; i < MIME_PARTS_MAX + 50; i++) buf_puts(&m, "--b\r\n\r\nx\r\n");
    buf_puts(&m, "--b--\r\n");
    mime_part *root = mime_parse(m.p, m.len);
    assert_int_equal(count_parts(root), MIME_PARTS_MAX);
    assert_int_equal(root->body_off + root->body_len, m.len);
    buf t = BUF_INIT;
    mime_sections_serialize(root, &t);
    mime_section s;
    char path[16];
    snprintf(path, sizeof path, "%d", MIME_PARTS_MAX - 1);
    assert_int_equal(mime_section_find(t.p, t.len, path, &s), 0);
    snprintf(path, sizeof path, "%d", MIME_PARTS_MAX);
    assert_int_equal(mime_section_find(t.p, t.len, path, &s), -1);
    buf_free(&t);
    mime_free(root);
    buf_free(&m);
}

/* Every range of every part lies inside the message and inside its parent. */
static void check_tree(const mime_part *p, size_t lo, size_t hi)
{
    assert_true(p->hdr_off >= lo && p->hdr_off + p->hdr_len <= hi);
    assert_true(p->body_off >= lo && p->body_off + p->body_len <= hi);
    assert_int_equal(p->hdr_off + p->hdr_len, p->body_off);
    assert_true(p->body_lines <= p->body_len);
    for (size_t i = 0; i < p->nchildren; i++)
        check_tree(p->children[i], p->body_off, p->body_off + p->body_len);
    if (p->message) check_tree(p->message, p->body_off, p->body_off + p->body_len);
}

/* Found by fuzz_mime: a header cut by a delimiter once took the delimiter's
 * CRLF, so an encapsulated message stuck out of its message/rfc822 part. */
static void cut_headers_stay_inside_their_parent(void **state)
{
    fixture fx;
    fx_open(&fx,
        "Content-Type: multipart/mixed; boundary=b\n"
        "\n"
        "--b\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "Subject: inner\n"
        "--b\n"
        "Content-Type: message/rfc822\n"
        "Subject: no blank line\n"
        "--b--\n");
    check_tree(fx.root, 0, fx.raw.len);
    const mime_part *m1 = fx.root->children[0], *m2 = fx.root->children[1];
    assert_range(&fx, m1->body_off, m1->body_len, "Subject: inner");
    assert_range(&fx, m1->message->hdr_off, m1->message->hdr_len, "Subject: inner");
    assert_int_equal(m1->message->body_len, 0);
    assert_range(&fx, m2->hdr_off, m2->hdr_len, "Content-Type: message/rfc822\nSubject: no blank line");
    assert_int_equal(m2->body_len, 0);
    assert_int_equal(m2->message->hdr_len + m2->message->body_len, 0);
    assert_bodystructure(&fx, m2, 0,
        "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 0 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) "
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0) 0)");
    fx_close(&fx);

    /* A blank line directly before an enclosing delimiter is that delimiter's
     * CRLF: the encapsulated header and the inner part stop before it. */
    fx_open(&fx,
        "Content-Type: multipart/mixed; boundary=b\n"
        "\n"
        "--b\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "Subject: inner\n"
        "\n"
        "--b\n"
        "Content-Type: multipart/alternative; boundary=c\n"
        "\n"
        "--c\n"
        "Content-Type: text/plain\n"
        "\n"
        "--b\n"
        "Content-Type: text/plain\n"
        "\n"
        "--b--\n");
    check_tree(fx.root, 0, fx.raw.len);
    m1 = fx.root->children[0];
    assert_range(&fx, m1->body_off, m1->body_len, "Subject: inner\n");
    assert_range(&fx, m1->message->hdr_off, m1->message->hdr_len, "Subject: inner\n");
    assert_int_equal(m1->message->body_len, 0);
    const mime_part *alt = fx.root->children[1];
    assert_range(&fx, alt->body_off, alt->body_len, "--c\nContent-Type: text/plain\n");
    assert_range(&fx, alt->children[0]->hdr_off, alt->children[0]->hdr_len, "Content-Type: text/plain\n");
    const mime_part *t = fx.root->children[2];
    assert_range(&fx, t->hdr_off, t->hdr_len, "Content-Type: text/plain\n");
    assert_int_equal(t->body_len, 0);
    fx_close(&fx);
}

static void exercise(const char *m, size_t n)
{
    mime_part *root = mime_parse(m, n);
    check_tree(root, 0, n);
    assert_int_equal(root->body_off + root->body_len, n);
    buf out = BUF_INIT;
    mime_envelope(m, root, &out);
    mime_bodystructure(m, root, 1, &out);
    mime_bodystructure(m, root, 0, &out);
    buf_reset(&out);
    mime_sections_serialize(root, &out);
    static const char *const paths[] = { "", "1", "2", "1.1", "2.1", "2.2", "2.1.1", "3" };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        mime_section s;
        if (mime_section_find(out.p, out.len, paths[i], &s) == 0) {
            assert_true(s.hdr_off + s.hdr_len <= n && s.body_off + s.body_len <= n);
            if (s.is_message)
                assert_true(s.msg_hdr_off + s.msg_hdr_len <= n && s.msg_body_off + s.msg_body_len <= n);
        }
    }
    buf_free(&out);
    mime_free(root);
}

static void truncated_mutated_and_random_messages_parse_safely(void **state)
{
    buf raw = BUF_INIT;
    mime_normalize_crlf(forwarded, strlen(forwarded), &raw);
    /* Every truncation, in an exactly-sized heap copy so ASan sees overreads. */
    for (size_t n = 0; n <= raw.len; n++) {
        char *c = xmemdup(raw.p, n ? n : 1);
        exercise(c, n);
        free(c);
    }
    /* Random mutations biased to the bytes that matter to the parser. */
    static const char interesting[] = "-\r\n:;\"()<>@,= \t\\\0\x80";
    uint32_t seed = 12345;
    for (int round = 0; round < 3000; round++) {
        char *c = xmemdup(raw.p, raw.len);
        int edits = 1 + round % 8;
        for (int e = 0; e < edits; e++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % raw.len;
            seed = seed * 1103515245u + 12345u;
            c[at] = (seed & 1) ? interesting[(seed >> 8) % (sizeof interesting - 1)] : (char)(seed >> 16);
        }
        seed = seed * 1103515245u + 12345u;
        size_t n = raw.len - (seed >> 8) % 40;
        exercise(c, n);
        free(c);
    }
    /* Garbage assembled from the fragments the parser cares about. */
    static const char *const frags[] = {
        "--b", "--b--", "--bb", "--c", "\r\n", "\n", "\r", " ", "\t", "\r\n\r\n", "x", "\"", "(",
        ")", ";", ":", "@", "<", ">", ",", "Content-Type: multipart/mixed; boundary=b\r\n",
        "Content-Type: multipart/digest; boundary=c\r\n", "Content-Type: message/rfc822\r\n",
        "Content-Type: text/plain; name*0*=utf-8''a; name*1=b\r\n", "From: ", "To: g: a@b;",
        "Date: 1 Jan 2000 00:00 +0000", "\0", "\xff",
    };
    for (int round = 0; round < 2000; round++) {
        buf g = BUF_INIT;
        seed = seed * 1103515245u + 12345u;
        int pieces = (int)((seed >> 8) % 120);
        for (int k = 0; k < pieces; k++) {
            seed = seed * 1103515245u + 12345u;
            const char *f = frags[(seed >> 8) % (sizeof frags / sizeof frags[0])];
            buf_append(&g, f, *f ? strlen(f) : 1);       /* "\0" adds one NUL byte */
        }
        char *c = xmemdup(g.p ? g.p : "", g.len ? g.len : 1);
        exercise(c, g.len);
        free(c);
        buf_free(&g);
    }
    buf_free(&raw);
}

static void decoders_read_base64_qp_and_encoded_words(void **state)
{
    buf b = BUF_INIT;
    mime_decode_base64("aGVs\r\nbG8=\r\n", 14, &b);            /* line breaks ignored */
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.p, "hello", 5);
    buf_reset(&b);
    const char qp[] = "caf=C3=A9 =\r\nnext=3Dx=\n_=ZZ";
    mime_decode_qp(qp, sizeof qp - 1, 0, &b);
    assert_string_equal(buf_cstr(&b), "caf\xc3\xa9 next=x_=ZZ");    /* soft breaks, bad escape kept */
    buf_reset(&b);
    const char h[] = " =?UTF-8?B?w6k=?=  =?iso-8859-1?Q?caf=E9_x?=\r\n tail =?koi8-r?B?AAAA?= ";
    mime_decode_header(h, sizeof h - 1, &b);
    /* adjacent words join (RFC 2047 6.2), Latin-1 becomes UTF-8, unknown charsets stay */
    assert_string_equal(buf_cstr(&b), "\xc3\xa9" "caf\xc3\xa9 x tail =?koi8-r?B?AAAA?=");
    buf_reset(&b);
    mime_charset_to_utf8("ISO-8859-1", "\xe9", 1, &b);
    assert_string_equal(buf_cstr(&b), "\xc3\xa9");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simple_text_message_bodystructure_is_exact),
        cmocka_unit_test(final_line_without_crlf_counts_as_a_line),
        cmocka_unit_test(header_only_message_has_an_empty_body),
        cmocka_unit_test(empty_message_is_an_empty_text_part),
        cmocka_unit_test(message_starting_with_blank_line_has_empty_header),
        cmocka_unit_test(content_fields_fill_the_single_part),
        cmocka_unit_test(invalid_content_type_defaults_to_text_plain),
        cmocka_unit_test(rfc2231_continuations_are_joined_and_charset_prefix_kept),
        cmocka_unit_test(eight_bit_parameter_is_sent_as_literal),
        cmocka_unit_test(multipart_mixed_with_attachment_is_exact),
        cmocka_unit_test(multipart_alternative_inside_mixed_resolves_sections),
        cmocka_unit_test(boundaries_that_prefix_each_other_nest),
        cmocka_unit_test(identical_nested_boundaries_match_the_innermost),
        cmocka_unit_test(delimiter_lines_allow_trailing_whitespace_only),
        cmocka_unit_test(missing_close_delimiter_ends_at_the_end),
        cmocka_unit_test(part_header_cut_by_a_delimiter_has_empty_body),
        cmocka_unit_test(multipart_without_boundary_is_opaque_text),
        cmocka_unit_test(multipart_without_parts_shows_an_empty_text_part),
        cmocka_unit_test(digest_parts_default_to_message_rfc822),
        cmocka_unit_test(message_rfc822_attachment_is_exact),
        cmocka_unit_test(message_rfc822_with_single_part_body_numbers_it_one),
        cmocka_unit_test(sections_of_a_single_part_message_follow_rfc3501),
        cmocka_unit_test(top_level_message_rfc822_part_one_is_the_encapsulated_message),
        cmocka_unit_test(malformed_paths_are_not_found),
        cmocka_unit_test(damaged_section_tables_are_refused),
        cmocka_unit_test(envelope_of_a_plain_message_is_exact),
        cmocka_unit_test(envelope_groups_and_quoting),
        cmocka_unit_test(envelope_keeps_encoded_words_and_sends_8bit_as_literal),
        cmocka_unit_test(envelope_odd_addresses),
        cmocka_unit_test(envelope_of_an_encapsulated_message),
        cmocka_unit_test(header_fields_are_copied_byte_exact),
        cmocka_unit_test(header_get_unfolds_the_first_field),
        cmocka_unit_test(dates_in_rfc5322_and_obsolete_forms),
        cmocka_unit_test(bad_dates_are_refused),
        cmocka_unit_test(crlf_normalisation_makes_every_line_end_crlf),
        cmocka_unit_test(nesting_deeper_than_the_limit_becomes_opaque),
        cmocka_unit_test(parts_beyond_the_limit_fold_into_their_parent),
        cmocka_unit_test(cut_headers_stay_inside_their_parent),
        cmocka_unit_test(truncated_mutated_and_random_messages_parse_safely),
        cmocka_unit_test(decoders_read_base64_qp_and_encoded_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
