/*
 * test_smtp_parse.c — the SMTP grammar (smtp_parse.c) and the session state
 * machine (smtp_session.c) driven with bytes and a fake backend: every command,
 * paths and parameters, pipelining, DATA dot-unstuffing and its end marker,
 * BDAT chunks, limits, STARTTLS, error counting, and the exact trace headers.
 *
 * The fake backend knows one domain, example.org, with the aliases ok@ and
 * two@; tmp@example.org fails temporarily; every other domain is not ours.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/limits.h"
#include "smtp/smtp_parse.h"
#include "smtp/smtp_session.h"

/* ==== Grammar ================================================================== */

static void verbs_are_case_insensitive_and_whole_words(void **state)
{
    const char *args;
    assert_int_equal(smtp_parse_verb("ehlo x.org", &args), SMTP_VERB_EHLO);
    assert_string_equal(args, "x.org");
    assert_int_equal(smtp_parse_verb("MaIl FROM:<>", &args), SMTP_VERB_MAIL);
    assert_string_equal(args, "FROM:<>");
    assert_int_equal(smtp_parse_verb("DATA", &args), SMTP_VERB_DATA);
    assert_string_equal(args, "");
    assert_int_equal(smtp_parse_verb("starttls", &args), SMTP_VERB_STARTTLS);
    assert_int_equal(smtp_parse_verb("BDAT 10 LAST", &args), SMTP_VERB_BDAT);
    assert_string_equal(args, "10 LAST");
    assert_int_equal(smtp_parse_verb("MAILX FROM:<>", &args), SMTP_VERB_UNKNOWN);
    assert_int_equal(smtp_parse_verb("MAIL:FROM", &args), SMTP_VERB_UNKNOWN);
    assert_int_equal(smtp_parse_verb("", &args), SMTP_VERB_UNKNOWN);
    assert_int_equal(smtp_parse_verb("GET / HTTP/1.1", &args), SMTP_VERB_UNKNOWN);
    static const char *const all[] = { "HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET",
                                       "NOOP", "QUIT", "VRFY", "EXPN", "HELP", "STARTTLS", "AUTH" };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        smtp_verb v = smtp_parse_verb(all[i], &args);
        assert_int_not_equal(v, SMTP_VERB_UNKNOWN);
        assert_string_equal(smtp_verb_name(v), all[i]);
    }
}

static smtp_path P;
static smtp_params PR;
static const char *R;

static int mail(const char *args) { R = NULL; return smtp_parse_mail(args, &P, &PR, &R); }
static int rcpt(const char *args) { R = NULL; return smtp_parse_rcpt(args, &P, &PR, &R); }

static void mail_paths_plain_null_and_source_route(void **state)
{
    assert_int_equal(mail("FROM:<Alice@Example.ORG>"), 0);
    assert_string_equal(P.mailbox, "Alice@Example.ORG");
    assert_int_equal(P.at, 5);
    assert_false(P.is_null || P.quoted || P.utf8 || P.literal);

    assert_int_equal(mail("FROM:<>"), 0);
    assert_true(P.is_null);
    assert_string_equal(P.mailbox, "");

    /* RFC 5321 4.1.1.3 / C.: the source route is parsed and dropped. */
    assert_int_equal(mail("FROM:<@relay1.org,@[192.0.2.1]:bob@b.example>"), 0);
    assert_string_equal(P.mailbox, "bob@b.example");

    /* Tolerated: spaces after the colon, keyword in any case. */
    assert_int_equal(mail("from: <a@b.c>"), 0);
    assert_string_equal(P.mailbox, "a@b.c");
}

static void mail_paths_quoted_local_parts(void **state)
{
    /* A quoted dot-atom is the same address as the dot-atom. */
    assert_int_equal(mail("FROM:<\"john.doe\"@x.org>"), 0);
    assert_string_equal(P.mailbox, "john.doe@x.org");
    assert_false(P.quoted);
    /* Anything else keeps its quotes, re-escaped canonically. */
    assert_int_equal(mail("FROM:<\"john doe\"@x.org>"), 0);
    assert_string_equal(P.mailbox, "\"john doe\"@x.org");
    assert_true(P.quoted);
    assert_int_equal(mail("FROM:<\"a\\\"b\\\\c\\d\"@x.org>"), 0);
    assert_string_equal(P.mailbox, "\"a\\\"b\\\\cd\"@x.org");
    assert_int_equal(mail("FROM:<\"\"@x.org>"), 0);
    assert_string_equal(P.mailbox, "\"\"@x.org");
    /* A control character even as a quoted pair is not allowed. */
    assert_int_equal(mail("FROM:<\"a\\\tb\"@x.org>"), -1);
    assert_string_equal(R, "501 5.1.7 Bad sender address syntax");
    assert_int_equal(mail("FROM:<\"unterminated@x.org>"), -1);
}

static void mail_paths_utf8_and_literals(void **state)
{
    assert_int_equal(mail("FROM:<j\xc3\xb6rg@b\xc3\xbc" "cher.example> SMTPUTF8"), 0);
    assert_true(P.utf8);
    assert_true(PR.seen & SMTP_PARAM_SMTPUTF8);
    assert_string_equal(P.mailbox, "j\xc3\xb6rg@b\xc3\xbc" "cher.example");
    /* Invalid UTF-8 (overlong '/', lone continuation, surrogate) is bad syntax. */
    assert_int_equal(mail("FROM:<a\xc0\xafz@x.org>"), -1);
    assert_int_equal(mail("FROM:<a\x80z@x.org>"), -1);
    assert_int_equal(mail("FROM:<a\xed\xa0\x80z@x.org>"), -1);

    assert_int_equal(mail("FROM:<u@[192.0.2.7]>"), 0);
    assert_true(P.literal);
    assert_int_equal(mail("FROM:<u@[IPv6:2001:db8::1]>"), 0);
    assert_string_equal(P.mailbox, "u@[IPv6:2001:db8::1]");
    assert_int_equal(mail("FROM:<u@[300.1.1.1]>"), -1);
    assert_int_equal(mail("FROM:<u@[IPv6:zz::1]>"), -1);
    assert_int_equal(mail("FROM:<u@[192.0.2.7>"), -1);
}

static void mail_paths_bad_syntax_and_lengths(void **state)
{
    assert_int_equal(mail("FROM:a@b.c"), -1);
    assert_string_equal(R, "501 5.5.2 Syntax: MAIL FROM:<address>");
    assert_int_equal(mail("<a@b.c>"), -1);
    assert_string_equal(R, "501 5.5.2 Syntax: MAIL FROM:<address>");
    static const char *const bad[] = {
        "FROM:<a@b.c", "FROM:<ab.c>", "FROM:<a@>", "FROM:<@b.c>", "FROM:<a..b@c.d>",
        "FROM:<.a@c.d>", "FROM:<a.@c.d>", "FROM:<a@-b.c>", "FROM:<a@b-.c>", "FROM:<a@b..c>",
        "FROM:<a b@c.d>", "FROM:<a@b.c>x", "FROM:<a@b_c.d>", "FROM:<@x:>", "FROM:<postmaster>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (mail(bad[i]) == 0) fail_msg("accepted %s", bad[i]);
        assert_non_null(R);
    }
    assert_int_equal(mail("FROM:<a@b.c>x"), -1);
    assert_string_equal(R, "501 5.5.4 Syntax error in parameters");

    char line[1024];
    /* 64 octets of local part are fine, 65 are not (RFC 5321 4.5.3.1.1). */
    snprintf(line, sizeof line, "FROM:<%064d@x.org>", 0);
    assert_int_equal(mail(line), 0);
    snprintf(line, sizeof line, "FROM:<%065d@x.org>", 0);
    assert_int_equal(mail(line), -1);
    assert_string_equal(R, "501 5.1.7 Path too long");
    /* A 63-octet label is a label; 64 is not (RFC 1035). */
    char label[80];
    memset(label, 'a', 64);
    label[64] = '\0';
    snprintf(line, sizeof line, "FROM:<u@%s.org>", label);
    assert_int_equal(mail(line), -1);
    label[63] = '\0';
    snprintf(line, sizeof line, "FROM:<u@%s.org>", label);
    assert_int_equal(mail(line), 0);
    /* The whole mailbox: at most 254 octets. */
    snprintf(line, sizeof line, "FROM:<u@%s.%s.%s.%s>", label, label, label, label);  /* 2+4*63+3 = 257 */
    assert_int_equal(mail(line), -1);
    assert_string_equal(R, "501 5.1.7 Path too long");
}

static void mail_parameters(void **state)
{
    assert_int_equal(mail("FROM:<a@b.c> SIZE=12345 BODY=8BITMIME"), 0);
    assert_int_equal(PR.seen, SMTP_PARAM_SIZE | SMTP_PARAM_BODY);
    assert_int_equal(PR.size, 12345);
    assert_int_equal(PR.body, SMTP_BODY_8BITMIME);
    assert_int_equal(mail("FROM:<a@b.c>   body=7bit  size=0  "), 0);
    assert_int_equal(PR.body, SMTP_BODY_7BIT);
    assert_int_equal(PR.size, 0);
    /* 20 digits that do not fit 64 bits saturate: simply "too big". */
    assert_int_equal(mail("FROM:<a@b.c> SIZE=99999999999999999999"), 0);
    assert_true(PR.size == UINT64_MAX);
    /* DSN parameters are accepted (and ignored by the session). */
    assert_int_equal(mail("FROM:<> RET=HDRS ENVID=QQ314159+2B"), 0);
    assert_int_equal(PR.seen, SMTP_PARAM_RET | SMTP_PARAM_ENVID);

    struct { const char *in, *reply; } bad[] = {
        { "FROM:<a@b.c> SIZE=12a", "501 5.5.4 Bad SIZE value" },
        { "FROM:<a@b.c> SIZE", "501 5.5.4 Bad SIZE value" },
        { "FROM:<a@b.c> SIZE=123456789012345678901", "501 5.5.4 Bad SIZE value" },
        { "FROM:<a@b.c> BODY=BINARYMIME", "501 5.5.4 Bad BODY value" },
        { "FROM:<a@b.c> SMTPUTF8=yes", "501 5.5.4 SMTPUTF8 takes no value" },
        { "FROM:<a@b.c> RET=ALL", "501 5.5.4 Bad RET value" },
        { "FROM:<a@b.c> ENVID=a+zz", "501 5.5.4 Bad ENVID value" },
        { "FROM:<a@b.c> SIZE=1 SIZE=2", "501 5.5.4 Duplicate parameter" },
        { "FROM:<a@b.c> X-FOO=1", "555 5.5.4 Unsupported parameter" },
        { "FROM:<a@b.c> NOTIFY=NEVER", "555 5.5.4 Unsupported parameter" },
        { "FROM:<a@b.c> AUTH=<>", "555 5.5.4 Unsupported parameter" },
        { "FROM:<a@b.c> =1", "501 5.5.4 Syntax error in parameters" },
        { "FROM:<a@b.c> SIZE=", "501 5.5.4 Syntax error in parameters" },
        { "FROM:<a@b.c> SIZE==1", "501 5.5.4 Syntax error in parameters" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (mail(bad[i].in) == 0) fail_msg("accepted %s", bad[i].in);
        assert_string_equal(R, bad[i].reply);
    }
}

static void rcpt_paths_and_parameters(void **state)
{
    assert_int_equal(rcpt("TO:<ok@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;ok@example.org"), 0);
    assert_string_equal(P.mailbox, "ok@example.org");
    assert_int_equal(PR.seen, SMTP_PARAM_NOTIFY | SMTP_PARAM_ORCPT);
    assert_int_equal(rcpt("to:<Postmaster>"), 0);
    assert_true(P.is_postmaster);
    assert_string_equal(P.mailbox, "Postmaster");
    assert_int_equal(rcpt("TO:<postmaster@example.org>"), 0);
    assert_false(P.is_postmaster);

    assert_int_equal(rcpt("TO:<>"), -1);
    assert_string_equal(R, "501 5.1.3 Null recipient not allowed");
    assert_int_equal(rcpt("TO:ok@example.org"), -1);
    assert_string_equal(R, "501 5.5.2 Syntax: RCPT TO:<address>");
    assert_int_equal(rcpt("FROM:<ok@example.org>"), -1);
    assert_string_equal(R, "501 5.5.2 Syntax: RCPT TO:<address>");
    assert_int_equal(rcpt("TO:<ok@>"), -1);
    assert_string_equal(R, "501 5.1.3 Bad recipient address syntax");
    assert_int_equal(rcpt("TO:<ok@example.org> SIZE=10"), -1);
    assert_string_equal(R, "555 5.5.4 Unsupported parameter");
    assert_int_equal(rcpt("TO:<ok@example.org> NOTIFY=NEVER,SUCCESS"), -1);
    assert_string_equal(R, "501 5.5.4 Bad NOTIFY value");
    assert_int_equal(rcpt("TO:<ok@example.org> NOTIFY=DELAY,DELAY"), -1);
    assert_int_equal(rcpt("TO:<ok@example.org> ORCPT=ok@example.org"), -1);
    assert_string_equal(R, "501 5.5.4 Bad ORCPT value");
    assert_int_equal(rcpt("TO:<\"postmaster\">"), -1);
}

static void bdat_sizes(void **state)
{
    uint64_t n;
    int last;
    assert_int_equal(smtp_parse_bdat("100", &n, &last, &R), 0);
    assert_int_equal(n, 100);
    assert_false(last);
    assert_int_equal(smtp_parse_bdat("0 last", &n, &last, &R), 0);
    assert_int_equal(n, 0);
    assert_true(last);
    assert_int_equal(smtp_parse_bdat("9999999999999999999 LAST", &n, &last, &R), 0);
    assert_true(n == 9999999999999999999ull);
    static const char *const bad[] = { "", "LAST", "-1", "1x", "10 LASTX", "10 LAST x",
                                       "10000000000000000000", "1 2" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (smtp_parse_bdat(bad[i], &n, &last, &R) == 0) fail_msg("accepted BDAT %s", bad[i]);
        assert_string_equal(R, "501 5.5.4 Syntax: BDAT chunk-size [LAST]");
    }
}

static void helo_names_and_utf8(void **state)
{
    assert_true(smtp_helo_name_valid("mail.example.org"));
    assert_true(smtp_helo_name_valid("localhost"));
    assert_true(smtp_helo_name_valid("[127.0.0.1]"));
    assert_true(smtp_helo_name_valid("[IPv6:::1]"));
    assert_false(smtp_helo_name_valid("my host"));
    assert_false(smtp_helo_name_valid("a(b)"));
    assert_false(smtp_helo_name_valid("[1.2.3]"));
    assert_false(smtp_helo_name_valid("-bad.org"));
    assert_false(smtp_helo_name_valid(""));
    assert_true(smtp_utf8_valid("gr\xc3\xbc\xc3\x9f" "e \xf0\x9f\x93\xa7", 12));
    assert_false(smtp_utf8_valid("\xf4\x90\x80\x80", 4));    /* > U+10FFFF */
    assert_false(smtp_utf8_valid("\xe0\x80\xaf", 3));        /* overlong */
    assert_false(smtp_utf8_valid("\xc3", 1));                /* truncated */
}

/* ==== The session ================================================================ */

#define HOST "mx.example.org"
#define MAXSZ 1000

typedef struct fake {
    int deliver_rc;
    int delivered;               /* deliver calls */
    size_t nrcpts;               /* of the last delivery */
    buf msg;                     /* the last message */
    char last_address[512];      /* the last address asked about */
    int live_handles;            /* handles not yet released */
    uint64_t room;               /* quota room for every recipient; 0 = no quota */
} fake;

static fake F;
static smtp_session *S;
static buf OUT;

static smtp_rcpt_status fake_rcpt(void *arg, const char *address, void **handle)
{
    fake *f = arg;
    snprintf(f->last_address, sizeof f->last_address, "%s", address);
    const char *at = strrchr(address, '@');
    int postmaster = !strcasecmp(address, "postmaster@" HOST);
    if (!postmaster && (!at || strcasecmp(at + 1, "example.org") != 0)) return SMTP_RCPT_RELAY;
    if (!strcasecmp(address, "tmp@example.org")) return SMTP_RCPT_TEMPFAIL;
    if (!strcasecmp(address, "full@example.org")) return SMTP_RCPT_FULL;
    if (strcasecmp(address, "ok@example.org") && strcasecmp(address, "two@example.org") &&
        strcasecmp(address, "postmaster@" HOST))
        return SMTP_RCPT_UNKNOWN;
    *handle = malloc(1);
    f->live_handles++;
    return SMTP_RCPT_OK;
}

static int fake_deliver(void *arg, void *const *handles, size_t n, const char *msg, size_t len,
                        const char *id)
{
    fake *f = arg;
    f->delivered++;
    f->nrcpts = n;
    buf_reset(&f->msg);
    buf_append(&f->msg, msg, len);
    return f->deliver_rc;
}

static void fake_release(void *arg, void *handle)
{
    fake *f = arg;
    free(handle);
    f->live_handles--;
}

static int fake_fits(void *arg, void *handle, uint64_t size)
{
    fake *f = arg;
    return f->room == 0 || size <= f->room;
}

static int64_t fixed_now(void) { return 1700000000; }   /* Tue, 14 Nov 2023 22:13:20 +0000 */

static smtp_session *new_session(int tls, int tls_available)
{
    smtp_config cfg = { HOST, MAXSZ, fixed_now };
    smtp_backend be = { &F, fake_rcpt, fake_deliver, fake_release, fake_fits };
    return smtp_session_new(&cfg, &be, "192.0.2.9", tls, tls_available, 1);
}

static int setup(void **state)
{
    buf_free(&F.msg);
    memset(&F, 0, sizeof F);
    S = new_session(0, 1);
    buf_reset(&OUT);
    return 0;
}

static int teardown(void **state)
{
    smtp_session_free(S);
    S = NULL;
    assert_int_equal(F.live_handles, 0);
    buf_free(&F.msg);
    buf_free(&OUT);
    return 0;
}

/* Feeds `in` whole; returns the replies (valid until the next call). */
static smtp_action ACT;
static const char *run(const char *in)
{
    buf_reset(&OUT);
    ACT = smtp_session_feed(S, in, strlen(in), &OUT);
    return buf_cstr(&OUT);
}

static const char *run_n(const char *in, size_t n)
{
    buf_reset(&OUT);
    ACT = smtp_session_feed(S, in, n, &OUT);
    return buf_cstr(&OUT);
}

#define EHLO_REPLY "250-" HOST " Hello [192.0.2.9]\r\n250-PIPELINING\r\n250-SIZE 1000\r\n" \
                   "250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n" \
                   "250 CHUNKING\r\n"

static void greeting_and_ehlo_are_exact(void **state)
{
    buf_reset(&OUT);
    smtp_session_greeting(S, &OUT);
    assert_string_equal(buf_cstr(&OUT), "220 " HOST " ESMTP Sealbox\r\n");
    assert_string_equal(run("EHLO client.example\r\n"), EHLO_REPLY);
    assert_int_equal(ACT, SMTP_ACT_CONTINUE);
    assert_string_equal(run("HELO client.example\r\n"), "250 " HOST "\r\n");
    assert_string_equal(run("EHLO\r\n"), "501 5.5.4 Syntax: EHLO hostname\r\n");
    assert_string_equal(run("HELO\r\n"), "501 5.5.4 Syntax: HELO hostname\r\n");
}

static void ehlo_over_tls_does_not_offer_starttls(void **state)
{
    smtp_session_free(S);
    S = new_session(1, 1);
    assert_null(strstr(run("EHLO c\r\n"), "STARTTLS"));
    assert_string_equal(run("STARTTLS\r\n"), "503 5.5.1 Error: TLS already active\r\n");
    smtp_session_free(S);
    S = new_session(0, 0);
    assert_null(strstr(run("EHLO c\r\n"), "STARTTLS"));
    assert_string_equal(run("STARTTLS\r\n"), "454 4.7.0 TLS not available\r\n");
}

static void small_commands(void **state)
{
    assert_string_equal(run("NOOP\r\n"), "250 2.0.0 Ok\r\n");
    assert_string_equal(run("noop anything at all\r\n"), "250 2.0.0 Ok\r\n");
    assert_string_equal(run("RSET\r\n"), "250 2.0.0 Ok\r\n");
    assert_string_equal(run("RSET x\r\n"), "501 5.5.4 Syntax error: no parameters allowed\r\n");
    assert_string_equal(run("VRFY ok@example.org\r\n"),
                        "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n");
    assert_string_equal(run("VRFY\r\n"), "501 5.5.4 Syntax: VRFY address\r\n");
    assert_string_equal(run("EXPN list\r\n"), "502 5.5.1 Error: EXPN not available\r\n");
    assert_string_equal(run("AUTH PLAIN\r\n"), "502 5.5.1 Error: authentication not enabled\r\n");
    assert_string_equal(run("HELP\r\n"),
        "214-2.0.0 Sealbox accepts mail for the domains it serves\r\n"
        "214-2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS\r\n"
        "214 2.0.0 End of HELP info\r\n");
    assert_string_equal(run("FOO bar\r\n"), "500 5.5.2 Error: command not recognized\r\n");
    assert_string_equal(run("\r\n"), "500 5.5.2 Error: command not recognized\r\n");
    assert_string_equal(run("NOOP\x01\r\n"), "500 5.5.2 Error: invalid characters in command\r\n");
    assert_string_equal(run_n("NO\0OP\r\n", 7), "500 5.5.2 Error: invalid characters in command\r\n");
    assert_string_equal(run("NOOP \xff\r\n"), "500 5.5.2 Error: invalid characters in command\r\n");
    /* A bare LF ends a command line too. */
    assert_string_equal(run("NOOP\n"), "250 2.0.0 Ok\r\n");
    assert_string_equal(run("QUIT x\r\n"), "501 5.5.4 Syntax error: no parameters allowed\r\n");
    assert_string_equal(run("QUIT\r\nNOOP\r\n"), "221 2.0.0 Bye\r\n");
    assert_int_equal(ACT, SMTP_ACT_CLOSE);
    assert_string_equal(run("NOOP\r\n"), "");
    assert_int_equal(ACT, SMTP_ACT_CLOSE);
}

static void sequence_errors(void **state)
{
    assert_string_equal(run("MAIL FROM:<a@b.c>\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
    assert_string_equal(run("RCPT TO:<ok@example.org>\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
    assert_string_equal(run("DATA\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
    run("EHLO c\r\n");
    assert_string_equal(run("RCPT TO:<ok@example.org>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
    assert_string_equal(run("DATA\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
    assert_string_equal(run("MAIL FROM:<a@b.c>\r\n"), "250 2.1.0 Ok\r\n");
    assert_string_equal(run("MAIL FROM:<a@b.c>\r\n"), "503 5.5.1 Error: nested MAIL command\r\n");
    assert_string_equal(run("DATA\r\n"), "554 5.5.1 Error: no valid recipients\r\n");
    assert_string_equal(run("STARTTLS\r\n"), "503 5.5.1 Error: MAIL transaction in progress\r\n");
    assert_string_equal(run("RCPT TO:<ok@example.org>\r\n"), "250 2.1.5 Ok\r\n");
    assert_string_equal(run("DATA x\r\n"), "501 5.5.4 Syntax error: no parameters allowed\r\n");
    assert_string_equal(run("RSET\r\n"), "250 2.0.0 Ok\r\n");
    assert_int_equal(F.live_handles, 0);
    assert_string_equal(run("RCPT TO:<ok@example.org>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
}

static void recipients_checked_at_rcpt_time(void **state)
{
    run("EHLO c\r\nMAIL FROM:<a@b.c>\r\n");
    assert_string_equal(run("RCPT TO:<OK@Example.ORG>\r\n"), "250 2.1.5 Ok\r\n");
    assert_string_equal(F.last_address, "OK@Example.ORG");
    assert_string_equal(run("RCPT TO:<nobody@example.org>\r\n"),
                        "550 5.1.1 Recipient address rejected: user unknown\r\n");
    assert_string_equal(run("RCPT TO:<victim@elsewhere.example>\r\n"), "554 5.7.1 Relay access denied\r\n");
    assert_string_equal(run("RCPT TO:<tmp@example.org>\r\n"),
                        "451 4.3.0 Error: temporary failure, try again later\r\n");
    assert_string_equal(run("RCPT TO:<\"ok\"@example.org>\r\n"), "250 2.1.5 Ok\r\n");
    assert_string_equal(F.last_address, "ok@example.org");
    assert_string_equal(run("RCPT TO:<Postmaster>\r\n"), "250 2.1.5 Ok\r\n");
    assert_string_equal(F.last_address, "postmaster@" HOST);
    /* Non-ASCII needs SMTPUTF8 on MAIL (RFC 6531 3.5). */
    assert_string_equal(run("RCPT TO:<\xc3\xa9t\xc3\xa9@example.org>\r\n"),
                        "553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n");
    assert_string_equal(run("RCPT TO:<ok@example.org> NOTIFY=NEVER\r\n"), "250 2.1.5 Ok\r\n");
}

static void too_many_recipients_get_452_and_the_rest_are_delivered(void **state)
{
    run("EHLO c\r\nMAIL FROM:<a@b.c>\r\n");
    for (int i = 0; i < SMTP_RCPT_MAX; i++)
        assert_string_equal(run("RCPT TO:<ok@example.org>\r\n"), "250 2.1.5 Ok\r\n");
    /* 452 does not count as an error: a bulk sender is not disconnected. */
    for (int i = 0; i < SMTP_ERRORS_MAX + 5; i++)
        assert_string_equal(run("RCPT TO:<two@example.org>\r\n"), "452 4.5.3 Error: too many recipients\r\n");
    assert_string_equal(run("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
    assert_int_equal(strncmp(run(".\r\n"), "250 2.0.0 Ok: stored as ", 24), 0);
    assert_int_equal(F.nrcpts, SMTP_RCPT_MAX);
}

/* The message as the backend received it must be: trace headers + content. */
static const char *message_id_of(const char *reply)
{
    static char id[64];
    const char *p = strstr(reply, "stored as ");
    assert_non_null(p);
    snprintf(id, sizeof id, "%.16s", p + 10);
    return id;
}

static void data_transaction_with_dot_unstuffing(void **state)
{
    assert_string_equal(run("EHLO client.example\r\n"), EHLO_REPLY);
    assert_string_equal(run("MAIL FROM:<sender@b.example>\r\n"), "250 2.1.0 Ok\r\n");
    assert_string_equal(run("RCPT TO:<ok@example.org>\r\n"), "250 2.1.5 Ok\r\n");
    assert_string_equal(run("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
    assert_string_equal(run("Subject: t\r\n\r\n..leading dot\r\n"), "");
    const char *r = run("..\r\nlast\r\n.\r\n");
    assert_int_equal(strncmp(r, "250 2.0.0 Ok: stored as ", 24), 0);
    assert_int_equal(strlen(r), 24 + 16 + 2);
    const char *id = message_id_of(r);
    char want[1024];
    snprintf(want, sizeof want,
             "Return-Path: <sender@b.example>\r\n"
             "Received: from client.example ([192.0.2.9])\r\n"
             "\tby " HOST " (Sealbox) with ESMTP id %s\r\n"
             "\tfor <ok@example.org>; Tue, 14 Nov 2023 22:13:20 +0000\r\n"
             "Subject: t\r\n\r\n.leading dot\r\n.\r\nlast\r\n", id);
    assert_int_equal(F.delivered, 1);
    assert_string_equal(buf_cstr(&F.msg), want);
    assert_int_equal(F.nrcpts, 1);
}

static void data_ends_only_at_crlf_dot_crlf(void **state)
{
    run("EHLO c\r\nMAIL FROM:<> BODY=8BITMIME\r\nRCPT TO:<ok@example.org>\r\nDATA\r\n");
    /* Smuggling attempts: ".\n", "\n.\r\n" and "\r\n.\n" are content. */
    assert_string_equal(run("a\r\n.\nb\n.\r\nc\r\n.\nd\r\n..\r\n"), "");
    assert_int_equal(F.delivered, 0);
    const char *r = run(".\r\n");
    assert_int_equal(strncmp(r, "250 2.0.0 Ok: stored as ", 24), 0);
    const char *body = strstr(buf_cstr(&F.msg), "+0000\r\n");
    assert_non_null(body);
    assert_string_equal(body + 7, "a\r\n\nb\n\r\nc\r\n\nd\r\n.\r\n");
    assert_non_null(strstr(buf_cstr(&F.msg), "Return-Path: <>\r\n"));
}

static void pipelined_commands_get_replies_in_order(void **state)
{
    const char *r = run("EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<ok@example.org>\r\n"
                        "RCPT TO:<nobody@example.org>\r\nRCPT TO:<two@example.org>\r\nDATA\r\n");
    assert_string_equal(r, EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                           "550 5.1.1 Recipient address rejected: user unknown\r\n250 2.1.5 Ok\r\n"
                           "354 End data with <CR><LF>.<CR><LF>\r\n");
    r = run("hello\r\n.\r\nMAIL FROM:<a@b.c>\r\nRSET\r\nQUIT\r\n");
    assert_int_equal(strncmp(r, "250 2.0.0 Ok: stored as ", 24), 0);
    assert_string_equal(r + 42, "250 2.1.0 Ok\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n");
    assert_int_equal(ACT, SMTP_ACT_CLOSE);
    assert_int_equal(F.nrcpts, 2);
    /* Two recipients: no "for" clause naming one of them. */
    assert_null(strstr(buf_cstr(&F.msg), "\tfor <"));
    assert_non_null(strstr(buf_cstr(&F.msg), "with ESMTP id "));
}

static void input_split_anywhere_gives_the_same_session(void **state)
{
    static const char in[] =
        "EHLO c\r\nMAIL FROM:<a@b.c> SIZE=50\r\nRCPT TO:<ok@example.org>\r\nDATA\r\n"
        "Subject: split\r\n\r\n..x\r\nline\r\n.\r\nNOOP\r\n"
        "MAIL FROM:<a@b.c>\r\nRCPT TO:<ok@example.org>\r\nBDAT 7\r\nab\r\n.cdBDAT 0 LAST\r\nQUIT\r\n";
    buf whole = BUF_INIT, bytewise = BUF_INIT;
    smtp_session_feed(S, in, sizeof in - 1, &whole);
    smtp_session_free(S);
    S = new_session(0, 1);
    for (size_t i = 0; i < sizeof in - 1; i++) smtp_session_feed(S, in + i, 1, &bytewise);
    /* Ids are random: compare with them blanked. */
    for (char *p = whole.p; (p = strstr(p, "stored as ")); p += 10) memset(p + 10, 'X', 16);
    for (char *p = bytewise.p; (p = strstr(p, "stored as ")); p += 10) memset(p + 10, 'X', 16);
    assert_string_equal(buf_cstr(&whole), buf_cstr(&bytewise));
    assert_int_equal(F.delivered, 4);
    assert_non_null(strstr(buf_cstr(&whole), "250 2.0.0 Ok: 7 octets received\r\n"));
    assert_true(F.msg.len > 14);
    assert_string_equal(F.msg.p + F.msg.len - 14, "+0000\r\nab\r\n.cd");
    assert_non_null(strstr(buf_cstr(&whole), "221 2.0.0 Bye\r\n"));
    buf_free(&whole);
    buf_free(&bytewise);
}

static void size_limits(void **state)
{
    run("EHLO c\r\n");
    assert_string_equal(run("MAIL FROM:<a@b.c> SIZE=1001\r\n"),
                        "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    assert_string_equal(run("MAIL FROM:<a@b.c> SIZE=1000\r\n"), "250 2.1.0 Ok\r\n");
    run("RCPT TO:<ok@example.org>\r\nDATA\r\n");
    char big[1200];
    memset(big, 'x', sizeof big);
    memcpy(big + sizeof big - 3, "\r\n", 3);   /* 1197 x, CRLF, NUL */
    assert_string_equal(run(big), "");
    assert_string_equal(run(".\r\nNOOP\r\n"),
                        "552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.0.0 Ok\r\n");
    assert_int_equal(F.delivered, 0);
    /* Exactly the limit is fine: 998 octets + CRLF = 1000. */
    run("MAIL FROM:<a@b.c>\r\nRCPT TO:<ok@example.org>\r\nDATA\r\n");
    memset(big, 'y', 998);
    memcpy(big + 998, "\r\n.\r\n", 6);
    assert_int_equal(strncmp(run(big), "250 2.0.0 Ok: stored as ", 24), 0);
}

static void long_content_line_is_refused_after_the_end(void **state)
{
    smtp_session_free(S);
    smtp_config cfg = { HOST, 10 * SMTP_DATA_LINE_MAX, fixed_now };
    smtp_backend be = { &F, fake_rcpt, fake_deliver, fake_release, fake_fits };
    S = smtp_session_new(&cfg, &be, "192.0.2.9", 0, 1, 1);
    run("EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<ok@example.org>\r\nDATA\r\n");
    size_t n = SMTP_DATA_LINE_MAX + 10;
    char *line = malloc(n + 3);
    memset(line, 'z', n);
    memcpy(line + n, "\r\n", 3);
    /* Fed in small pieces: the line is dropped as it comes, not buffered. */
    for (size_t off = 0; off < n + 2; off += 1000) {
        size_t k = n + 2 - off < 1000 ? n + 2 - off : 1000;
        assert_string_equal(run_n(line + off, k), "");
    }
    assert_string_equal(run("ok\r\n.\r\n"), "554 5.6.0 Message has a line too long\r\n");
    assert_int_equal(F.delivered, 0);
    free(line);
}

static void bdat_chunks_make_one_message(void **state)
{
    run("EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<ok@example.org>\r\n");
    assert_string_equal(run("BDAT 12\r\nSubject: x\r\n"), "250 2.0.0 Ok: 12 octets received\r\n");
    assert_string_equal(run("DATA\r\n"), "503 5.5.1 Error: DATA not allowed after BDAT\r\n");
    assert_string_equal(run("RCPT TO:<two@example.org>\r\n"), "503 5.5.1 Error: RCPT not allowed after BDAT\r\n");
    /* Binary-looking bytes and a lone dot line are content as they are. */
    const char *r = run("BDAT 11 LAST\r\n\r\n.\r\nbody\r\n");
    assert_int_equal(strncmp(r, "250 2.0.0 Ok: stored as ", 24), 0);
    const char *body = strstr(buf_cstr(&F.msg), "+0000\r\n");
    assert_string_equal(body + 7, "Subject: x\r\n\r\n.\r\nbody\r\n");
    assert_string_equal(run("BDAT 0 LAST\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
}

static void bdat_out_of_sequence_still_consumes_the_chunk(void **state)
{
    run("EHLO c\r\n");
    /* The 5 bytes "QUIT\n" are chunk data, not a command. */
    assert_string_equal(run("BDAT 5\r\nQUIT\nNOOP\r\n"), "503 5.5.1 Error: need MAIL command\r\n250 2.0.0 Ok\r\n");
    assert_int_equal(ACT, SMTP_ACT_CONTINUE);
    run("MAIL FROM:<a@b.c>\r\n");
    assert_string_equal(run("BDAT 3 LAST\r\nabcNOOP\r\n"), "554 5.5.1 Error: no valid recipients\r\n250 2.0.0 Ok\r\n");
    run("RCPT TO:<ok@example.org>\r\n");
    /* Over the size limit: refused after the bytes, and the transaction is gone. */
    char chunk[1100];
    memset(chunk, 'q', sizeof chunk);
    memcpy(chunk, "BDAT 1001\r\n", 11);
    chunk[11 + 1001] = '\0';
    assert_string_equal(run(chunk), "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    assert_string_equal(run("BDAT 1 LAST\r\nx"), "503 5.5.1 Error: need MAIL command\r\n");
    assert_string_equal(run("BDAT x\r\n"), "501 5.5.4 Syntax: BDAT chunk-size [LAST]\r\n");
    assert_int_equal(F.delivered, 0);
}

static void starttls_discards_pipelined_plaintext_and_starts_over(void **state)
{
    run("EHLO c\r\n");
    assert_string_equal(run("STARTTLS\r\nMAIL FROM:<injected@x.org>\r\n"), "220 2.0.0 Ready to start TLS\r\n");
    assert_int_equal(ACT, SMTP_ACT_STARTTLS);
    /* Until the handshake is done nothing is read. */
    assert_string_equal(run("NOOP\r\n"), "");
    assert_int_equal(ACT, SMTP_ACT_STARTTLS);
    smtp_session_tls_started(S);
    /* RFC 3207 4.2: the client must greet again. */
    assert_string_equal(run("MAIL FROM:<a@b.c>\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
    const char *r = run("EHLO c\r\n");
    assert_null(strstr(r, "STARTTLS"));
    assert_non_null(strstr(r, "250 CHUNKING\r\n"));
    run("MAIL FROM:<a@b.c> SMTPUTF8\r\nRCPT TO:<ok@example.org>\r\nDATA\r\nx\r\n.\r\n");
    assert_non_null(strstr(buf_cstr(&F.msg), "with UTF8SMTPS id "));
    run("HELO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<ok@example.org>\r\nDATA\r\nx\r\n.\r\n");
    assert_non_null(strstr(buf_cstr(&F.msg), "with SMTP id "));
}

static void utf8_sender_needs_smtputf8(void **state)
{
    run("EHLO c\r\n");
    assert_string_equal(run("MAIL FROM:<j\xc3\xb6rg@x.example>\r\n"),
                        "553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n");
    assert_string_equal(run("MAIL FROM:<j\xc3\xb6rg@x.example> SMTPUTF8\r\n"), "250 2.1.0 Ok\r\n");
    assert_string_equal(run("RCPT TO:<ok@example.org>\r\nDATA\r\n"),
                        "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
    run("Subject: caf\xc3\xa9\r\n\r\n.\r\n");
    assert_non_null(strstr(buf_cstr(&F.msg), "Return-Path: <j\xc3\xb6rg@x.example>\r\n"));
    assert_non_null(strstr(buf_cstr(&F.msg), "with UTF8SMTP id "));
}

static void ehlo_name_goes_into_received_only_when_well_formed(void **state)
{
    run("EHLO bad name(with)stuff\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<ok@example.org>\r\nDATA\r\nx\r\n.\r\n");
    assert_non_null(strstr(buf_cstr(&F.msg), "Received: from unknown ([192.0.2.9])\r\n"));
    run("EHLO [192.0.2.9]\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<ok@example.org>\r\nDATA\r\nx\r\n.\r\n");
    assert_non_null(strstr(buf_cstr(&F.msg), "Received: from [192.0.2.9] ([192.0.2.9])\r\n"));
    smtp_session_free(S);
    smtp_config cfg = { HOST, MAXSZ, fixed_now };
    smtp_backend be = { &F, fake_rcpt, fake_deliver, fake_release, fake_fits };
    S = smtp_session_new(&cfg, &be, "2001:db8::7", 0, 1, 1);
    run("EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<ok@example.org>\r\nDATA\r\nx\r\n.\r\n");
    assert_non_null(strstr(buf_cstr(&F.msg), "Received: from c ([IPv6:2001:db8::7])\r\n"));
}

static void ehlo_in_a_transaction_resets_it(void **state)
{
    run("EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<ok@example.org>\r\n");
    assert_int_equal(F.live_handles, 1);
    run("EHLO c\r\n");
    assert_int_equal(F.live_handles, 0);
    assert_string_equal(run("RCPT TO:<ok@example.org>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
}

static void delivery_failure_is_451_for_the_whole_message(void **state)
{
    F.deliver_rc = -1;
    run("EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<ok@example.org>\r\nRCPT TO:<two@example.org>\r\nDATA\r\n");
    assert_string_equal(run("x\r\n.\r\n"), "451 4.3.0 Error: delivery failed, try again later\r\n");
    assert_int_equal(F.delivered, 1);
    assert_int_equal(F.live_handles, 0);
}

static void rcpt_to_a_full_mailbox_is_452_4_2_2_and_others_go_on(void **state)
{
    run("EHLO c\r\nMAIL FROM:<a@b.c>\r\n");
    assert_string_equal(run("RCPT TO:<full@example.org>\r\n"), "452 4.2.2 Mailbox full\r\n");
    assert_string_equal(run("RCPT TO:<ok@example.org>\r\n"), "250 2.1.5 Ok\r\n");
    assert_string_equal(run("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
    assert_int_equal(strncmp(run("x\r\n.\r\n"), "250 2.0.0 Ok: stored as ", 24), 0);
    assert_int_equal(F.nrcpts, 1);
}

static void declared_size_over_the_quota_is_452_at_rcpt(void **state)
{
    F.room = 500;
    run("EHLO c\r\nMAIL FROM:<a@b.c> SIZE=600\r\n");
    assert_string_equal(run("RCPT TO:<ok@example.org>\r\n"), "452 4.2.2 Mailbox full\r\n");
    assert_int_equal(F.live_handles, 0);
    assert_string_equal(run("DATA\r\n"), "554 5.5.1 Error: no valid recipients\r\n");
    assert_string_equal(run("RSET\r\nMAIL FROM:<a@b.c> SIZE=500\r\nRCPT TO:<ok@example.org>\r\n"),
                        "250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
    /* Without SIZE nothing is known at RCPT time. */
    assert_string_equal(run("RSET\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<ok@example.org>\r\n"),
                        "250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
}

static void message_no_recipient_has_room_for_is_552_5_2_2(void **state)
{
    F.deliver_rc = SMTP_DELIVER_FULL;
    run("EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<ok@example.org>\r\nDATA\r\n");
    assert_string_equal(run("x\r\n.\r\n"), "552 5.2.2 Mailbox full\r\n");
    /* BDAT ends the same way. */
    run("MAIL FROM:<a@b.c>\r\nRCPT TO:<ok@example.org>\r\n");
    assert_string_equal(run("BDAT 3 LAST\r\nx\r\n"), "552 5.2.2 Mailbox full\r\n");
    assert_int_equal(F.delivered, 2);
    assert_int_equal(F.live_handles, 0);
}

static void over_long_command_line_is_skipped(void **state)
{
    char *line = malloc(3 * SMTP_COMMAND_LINE_MAX);
    memset(line, 'A', 3 * SMTP_COMMAND_LINE_MAX);
    memcpy(line, "NOOP ", 5);
    line[3 * SMTP_COMMAND_LINE_MAX - 1] = '\0';
    assert_string_equal(run(line), "500 5.5.2 Line too long\r\n");
    assert_string_equal(run("still the same line\r\nNOOP\r\n"), "250 2.0.0 Ok\r\n");
    /* A complete line just over the limit. */
    memset(line, 'B', SMTP_COMMAND_LINE_MAX);
    memcpy(line, "NOOP ", 5);
    memcpy(line + SMTP_COMMAND_LINE_MAX - 1, "\r\n", 3);
    assert_string_equal(run(line), "500 5.5.2 Line too long\r\n");
    line[SMTP_COMMAND_LINE_MAX - 2] = '\r';
    line[SMTP_COMMAND_LINE_MAX - 1] = '\n';
    line[SMTP_COMMAND_LINE_MAX] = '\0';
    assert_string_equal(run(line), "250 2.0.0 Ok\r\n");
    free(line);
}

static void too_many_errors_end_the_session_with_421(void **state)
{
    buf in = BUF_INIT, want = BUF_INIT;
    for (int i = 0; i < SMTP_ERRORS_MAX + 3; i++) buf_puts(&in, "BOGUS\r\n");
    for (int i = 0; i < SMTP_ERRORS_MAX; i++) buf_puts(&want, "500 5.5.2 Error: command not recognized\r\n");
    buf_puts(&want, "421 4.7.0 " HOST " Error: too many errors\r\n");
    assert_string_equal(run(buf_cstr(&in)), buf_cstr(&want));
    assert_int_equal(ACT, SMTP_ACT_CLOSE);
    buf_free(&in);
    buf_free(&want);
}

static void errors_from_a_refused_message_count_too(void **state)
{
    run("EHLO c\r\n");
    for (int i = 0; i < SMTP_ERRORS_MAX - 1; i++) run("BOGUS\r\n");
    /* The 20th error is the 552 at the end of a BDAT chunk. */
    assert_string_equal(run("MAIL FROM:<a@b.c>\r\nRCPT TO:<ok@example.org>\r\nBDAT 2000\r\n"),
                        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
    char chunk[2001];
    memset(chunk, 'c', 2000);
    chunk[2000] = '\0';
    assert_string_equal(run(chunk), "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
                                    "421 4.7.0 " HOST " Error: too many errors\r\n");
    assert_int_equal(ACT, SMTP_ACT_CLOSE);
}

static void timeout_says_421(void **state)
{
    buf_reset(&OUT);
    assert_int_equal(smtp_session_timeout(S, &OUT), SMTP_ACT_CLOSE);
    assert_string_equal(buf_cstr(&OUT), "421 4.4.2 " HOST " Error: timeout exceeded\r\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(verbs_are_case_insensitive_and_whole_words),
        cmocka_unit_test(mail_paths_plain_null_and_source_route),
        cmocka_unit_test(mail_paths_quoted_local_parts),
        cmocka_unit_test(mail_paths_utf8_and_literals),
        cmocka_unit_test(mail_paths_bad_syntax_and_lengths),
        cmocka_unit_test(mail_parameters),
        cmocka_unit_test(rcpt_paths_and_parameters),
        cmocka_unit_test(bdat_sizes),
        cmocka_unit_test(helo_names_and_utf8),
        cmocka_unit_test_setup_teardown(greeting_and_ehlo_are_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(ehlo_over_tls_does_not_offer_starttls, setup, teardown),
        cmocka_unit_test_setup_teardown(small_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(sequence_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(recipients_checked_at_rcpt_time, setup, teardown),
        cmocka_unit_test_setup_teardown(too_many_recipients_get_452_and_the_rest_are_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(data_transaction_with_dot_unstuffing, setup, teardown),
        cmocka_unit_test_setup_teardown(data_ends_only_at_crlf_dot_crlf, setup, teardown),
        cmocka_unit_test_setup_teardown(pipelined_commands_get_replies_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(input_split_anywhere_gives_the_same_session, setup, teardown),
        cmocka_unit_test_setup_teardown(size_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(long_content_line_is_refused_after_the_end, setup, teardown),
        cmocka_unit_test_setup_teardown(bdat_chunks_make_one_message, setup, teardown),
        cmocka_unit_test_setup_teardown(bdat_out_of_sequence_still_consumes_the_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(starttls_discards_pipelined_plaintext_and_starts_over, setup, teardown),
        cmocka_unit_test_setup_teardown(utf8_sender_needs_smtputf8, setup, teardown),
        cmocka_unit_test_setup_teardown(ehlo_name_goes_into_received_only_when_well_formed, setup, teardown),
        cmocka_unit_test_setup_teardown(ehlo_in_a_transaction_resets_it, setup, teardown),
        cmocka_unit_test_setup_teardown(delivery_failure_is_451_for_the_whole_message, setup, teardown),
        cmocka_unit_test_setup_teardown(rcpt_to_a_full_mailbox_is_452_4_2_2_and_others_go_on, setup, teardown),
        cmocka_unit_test_setup_teardown(declared_size_over_the_quota_is_452_at_rcpt, setup, teardown),
        cmocka_unit_test_setup_teardown(message_no_recipient_has_room_for_is_552_5_2_2, setup, teardown),
        cmocka_unit_test_setup_teardown(over_long_command_line_is_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(too_many_errors_end_the_session_with_421, setup, teardown),
        cmocka_unit_test_setup_teardown(errors_from_a_refused_message_count_too, setup, teardown),
        cmocka_unit_test_setup_teardown(timeout_says_421, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
