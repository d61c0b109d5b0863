/*
 * test_imap_parse.c — IMAP framing (imap_reader), grammar (imap_parse_command and
 * the SEARCH keys), modified UTF-7, and string/date output.
 *
 * Tables of inputs with the exact fields, names, trees or bytes expected. The
 * reader is driven through a recorder that logs every event as text, so the same
 * stream fed whole, in odd chunks and one byte at a time must log the same text.
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
#include "mailbox/msgflags.h"
#include "search/search.h"
#include "imap/imap_parse.h"

/* ---- helpers ----------------------------------------------------------------------- */

#define CHECK_STR(row, got, want) do { \
    const char *g_ = (got), *w_ = (want); \
    if (!g_ || !w_ || strcmp(g_, w_)) { \
        print_error("%s:%d [%s]: got \"%s\" want \"%s\"\n", __FILE__, __LINE__, (row), \
                    g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
        fail(); \
    } } while (0)

#define CHECK_INT(row, got, want) do { \
    long long g_ = (long long)(got), w_ = (long long)(want); \
    if (g_ != w_) { \
        print_error("%s:%d [%s]: got %lld want %lld\n", __FILE__, __LINE__, (row), g_, w_); \
        fail(); \
    } } while (0)

/* Parses line + CRLF; returns the result, cmd filled, err holds the reason. */
static int parse_line(const char *line, imap_cmd *cmd, char *err, size_t errlen)
{
    buf b = BUF_INIT;
    buf_puts(&b, line);
    buf_puts(&b, "\r\n");
    int rc = imap_parse_command(b.p, b.len, cmd, err, errlen);
    /* Everything the cmd keeps must be a copy, except cmd->message. */
    if (!cmd->message) {
        memset(b.p, '#', b.len);
    }
    buf_free(&b);
    return rc;
}

static void parse_ok(const char *line, imap_cmd *cmd)
{
    char err[128];
    int rc = parse_line(line, cmd, err, sizeof err);
    if (rc != 0) {
        print_error("[%s]: unexpected BAD: %s\n", line, err);
        fail();
    }
}

static void escape_bytes(buf *out, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\\') buf_puts(out, "\\\\");
        else if (c == '\r') buf_puts(out, "\\r");
        else if (c == '\n') buf_puts(out, "\\n");
        else if (c < 0x20 || c >= 0x7f) buf_printf(out, "\\x%02x", c);
        else buf_putc(out, (char)c);
    }
}

/* ---- command table ------------------------------------------------------------------ */

static void commands_without_arguments_parse_case_insensitively(void **state)
{
    static const struct { const char *line; imap_cmd_kind kind; const char *name; } rows[] = {
        { "a1 CAPABILITY", IMAP_CMD_CAPABILITY, "CAPABILITY" },
        { "a1 capability", IMAP_CMD_CAPABILITY, "CAPABILITY" },
        { "a1 NoOp", IMAP_CMD_NOOP, "NOOP" },
        { "a1 LOGOUT", IMAP_CMD_LOGOUT, "LOGOUT" },
        { "a1 STARTTLS", IMAP_CMD_STARTTLS, "STARTTLS" },
        { "a1 CHECK", IMAP_CMD_CHECK, "CHECK" },
        { "a1 CLOSE", IMAP_CMD_CLOSE, "CLOSE" },
        { "a1 EXPUNGE", IMAP_CMD_EXPUNGE, "EXPUNGE" },
        { "a1 IDLE", IMAP_CMD_IDLE, "IDLE" },
        { "a1 unselect", IMAP_CMD_UNSELECT, "UNSELECT" },
        { "a1 NAMESPACE", IMAP_CMD_NAMESPACE, "NAMESPACE" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        imap_cmd c;
        parse_ok(rows[i].line, &c);
        CHECK_STR(rows[i].line, c.tag, "a1");
        CHECK_INT(rows[i].line, c.kind, rows[i].kind);
        CHECK_STR(rows[i].line, c.name, rows[i].name);
        CHECK_INT(rows[i].line, c.uid, 0);
        imap_cmd_free(&c);
    }
}

static void tags_take_any_astring_char_but_plus(void **state)
{
    static const char *good[] = { "A001", "x]y", "1", "a.b-c_d:e!#$&'", "~" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char line[64];
        imap_cmd c;
        snprintf(line, sizeof line, "%s NOOP", good[i]);
        parse_ok(line, &c);
        CHECK_STR(line, c.tag, good[i]);
        imap_cmd_free(&c);
    }
    static const char *bad[] = { "a+b NOOP", "a(b NOOP", "a*b NOOP", "a%b NOOP", "a\"b NOOP",
                                 "a{b NOOP", "a\\b NOOP", "+ NOOP", "\x01 NOOP" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        imap_cmd c;
        char err[128];
        CHECK_INT(bad[i], parse_line(bad[i], &c, err, sizeof err), -1);
        assert_null(c.tag);
        CHECK_STR(bad[i], err, "invalid tag");
        imap_cmd_free(&c);
    }
}

static void login_takes_atoms_quoted_strings_and_literals(void **state)
{
    imap_cmd c;
    parse_ok("a LOGIN alice@example.org \"p\\\"w\\\\d\"", &c);
    assert_int_equal(c.kind, IMAP_CMD_LOGIN);
    assert_string_equal(c.user, "alice@example.org");
    assert_string_equal(c.password, "p\"w\\d");
    imap_cmd_free(&c);

    static const char lit[] = "b LOGIN {5}\r\nal ce {4+}\r\n\"\\)}\r\n";
    char err[128];
    assert_int_equal(imap_parse_command(lit, sizeof lit - 1, &c, err, sizeof err), 0);
    assert_string_equal(c.user, "al ce");
    assert_string_equal(c.password, "\"\\)}");
    imap_cmd_free(&c);

    /* UTF-8 in a quoted string is accepted (lenient), bare LF line end too. */
    static const char utf[] = "c LOGIN \"j\xc3\xb6rg\" pw\n";
    assert_int_equal(imap_parse_command(utf, sizeof utf - 1, &c, err, sizeof err), 0);
    assert_string_equal(c.user, "j\xc3\xb6rg");
    imap_cmd_free(&c);

    /* A literal holding NUL cannot become a C string. */
    static const char nul[] = "d LOGIN {3}\r\na\0b pw\r\n";
    assert_int_equal(imap_parse_command(nul, sizeof nul - 1, &c, err, sizeof err), -1);
    assert_string_equal(c.tag, "d");
    assert_string_equal(err, "NUL in literal in user name");
    assert_null(c.user);
    imap_cmd_free(&c);
}

static void authenticate_uppercases_mechanism_and_takes_initial_response(void **state)
{
    imap_cmd c;
    parse_ok("a AUTHENTICATE plain", &c);
    assert_string_equal(c.mechanism, "PLAIN");
    assert_null(c.initial_response);
    imap_cmd_free(&c);
    parse_ok("a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==", &c);
    assert_string_equal(c.initial_response, "AGFsaWNlAHNlY3JldA==");
    imap_cmd_free(&c);
    parse_ok("a AUTHENTICATE EXTERNAL =", &c);
    assert_string_equal(c.initial_response, "=");
    imap_cmd_free(&c);
    char err[128];
    static const char *bad[] = { "a AUTHENTICATE PLAIN abc", "a AUTHENTICATE PLAIN ab=c",
                                 "a AUTHENTICATE PLAIN a===", "a AUTHENTICATE PLAIN ab!c" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(bad[i], parse_line(bad[i], &c, err, sizeof err), -1);
        CHECK_STR(bad[i], err, "invalid initial response");
        assert_null(c.initial_response);
        imap_cmd_free(&c);
    }
}

static void mailbox_commands_keep_the_name_as_sent(void **state)
{
    static const struct { const char *line; imap_cmd_kind kind; const char *mb, *mb2; } rows[] = {
        { "a SELECT INBOX", IMAP_CMD_SELECT, "INBOX", NULL },
        { "a select inbox", IMAP_CMD_SELECT, "inbox", NULL },
        { "a EXAMINE \"Sent Items\"", IMAP_CMD_EXAMINE, "Sent Items", NULL },
        { "a CREATE &AMk-t&AOk-", IMAP_CMD_CREATE, "&AMk-t&AOk-", NULL },
        { "a DELETE x]y", IMAP_CMD_DELETE, "x]y", NULL },
        { "a SUBSCRIBE {3+}\r\nA B", IMAP_CMD_SUBSCRIBE, "A B", NULL },
        { "a UNSUBSCRIBE \"\"", IMAP_CMD_UNSUBSCRIBE, "", NULL },
        { "a RENAME old \"new/one\"", IMAP_CMD_RENAME, "old", "new/one" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        imap_cmd c;
        parse_ok(rows[i].line, &c);
        CHECK_INT(rows[i].line, c.kind, rows[i].kind);
        CHECK_STR(rows[i].line, c.mailbox, rows[i].mb);
        if (rows[i].mb2) CHECK_STR(rows[i].line, c.mailbox2, rows[i].mb2);
        else assert_null(c.mailbox2);
        imap_cmd_free(&c);
    }
}

static void list_takes_wildcards_in_atoms_and_strings(void **state)
{
    static const struct { const char *line; const char *ref, *pat; imap_cmd_kind kind; } rows[] = {
        { "a LIST \"\" *", "", "*", IMAP_CMD_LIST },
        { "a LIST \"\" %", "", "%", IMAP_CMD_LIST },
        { "a LIST ~/Mail/ %/x*]", "~/Mail/", "%/x*]", IMAP_CMD_LIST },
        { "a list \"\" \"a b*\"", "", "a b*", IMAP_CMD_LIST },
        { "a LSUB \"#news.\" {4}\r\ncomp", "#news.", "comp", IMAP_CMD_LSUB },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        imap_cmd c;
        parse_ok(rows[i].line, &c);
        CHECK_INT(rows[i].line, c.kind, rows[i].kind);
        CHECK_STR(rows[i].line, c.reference, rows[i].ref);
        CHECK_STR(rows[i].line, c.pattern, rows[i].pat);
        imap_cmd_free(&c);
    }
}

static void status_items_become_bits(void **state)
{
    imap_cmd c;
    parse_ok("a STATUS INBOX (MESSAGES recent UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE)", &c);
    assert_int_equal(c.kind, IMAP_CMD_STATUS);
    assert_string_equal(c.mailbox, "INBOX");
    assert_int_equal(c.status_items, IMAP_STATUS_MESSAGES | IMAP_STATUS_RECENT | IMAP_STATUS_UIDNEXT |
                     IMAP_STATUS_UIDVALIDITY | IMAP_STATUS_UNSEEN | IMAP_STATUS_HIGHESTMODSEQ |
                     IMAP_STATUS_SIZE);
    imap_cmd_free(&c);
    parse_ok("a STATUS x (UNSEEN)", &c);
    assert_int_equal(c.status_items, IMAP_STATUS_UNSEEN);
    imap_cmd_free(&c);
    /* RFC 7889 4: a server advertising APPENDLIMIT answers it in STATUS too. */
    parse_ok("a STATUS x (APPENDLIMIT)", &c);
    assert_int_equal(c.status_items, IMAP_STATUS_APPENDLIMIT);
    imap_cmd_free(&c);
}

static void sequence_sets_keep_ranges_ordered_and_star(void **state)
{
    imap_cmd c;
    parse_ok("a FETCH 1,3:5,9:7,*,4:*,*:2,4294967294 FLAGS", &c);
    static const uid_range want[] = {
        { 1, 1 }, { 3, 5 }, { 7, 9 }, { IMAP_SEQ_STAR, IMAP_SEQ_STAR }, { 4, IMAP_SEQ_STAR },
        { 2, IMAP_SEQ_STAR }, { 4294967294u, 4294967294u },
    };
    assert_int_equal(c.seq.n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < c.seq.n; i++) {
        assert_int_equal(c.seq.r[i].lo, want[i].lo);
        assert_int_equal(c.seq.r[i].hi, want[i].hi);
    }
    imap_cmd_free(&c);
    /* 4294967295 is a number, not '*' (ImapTest search-sets: UID $uidnext:4294967295
     * must match nothing): it reads as 4294967294, which no message can exceed. */
    parse_ok("a UID FETCH 7:4294967295 FLAGS", &c);
    assert_int_equal(c.seq.n, 1);
    assert_int_equal(c.seq.r[0].lo, 7);
    assert_int_equal(c.seq.r[0].hi, 4294967294u);
    imap_cmd_free(&c);
}

static void copy_move_and_uid_forms_fill_seq_and_mailbox(void **state)
{
    static const struct { const char *line; imap_cmd_kind kind; int uid; const char *name; } rows[] = {
        { "a COPY 1:2 Archive", IMAP_CMD_COPY, 0, "COPY" },
        { "a UID COPY 1:2 Archive", IMAP_CMD_COPY, 1, "UID COPY" },
        { "a MOVE 1:2 Archive", IMAP_CMD_MOVE, 0, "MOVE" },
        { "a uid move 1:2 Archive", IMAP_CMD_MOVE, 1, "UID MOVE" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        imap_cmd c;
        parse_ok(rows[i].line, &c);
        CHECK_INT(rows[i].line, c.kind, rows[i].kind);
        CHECK_INT(rows[i].line, c.uid, rows[i].uid);
        CHECK_STR(rows[i].line, c.name, rows[i].name);
        CHECK_STR(rows[i].line, c.mailbox, "Archive");
        CHECK_INT(rows[i].line, c.seq.n, 1);
        CHECK_INT(rows[i].line, c.seq.r[0].lo, 1);
        CHECK_INT(rows[i].line, c.seq.r[0].hi, 2);
        imap_cmd_free(&c);
    }
    imap_cmd c;
    parse_ok("a UID EXPUNGE 3:4,7", &c);
    assert_int_equal(c.kind, IMAP_CMD_EXPUNGE);
    assert_int_equal(c.uid, 1);
    assert_string_equal(c.name, "UID EXPUNGE");
    assert_int_equal(c.seq.n, 2);
    assert_int_equal(c.seq.r[1].lo, 7);
    imap_cmd_free(&c);
}

static void store_modes_flags_and_keywords(void **state)
{
    static const struct {
        const char *line; int mode, silent; uint32_t flags; int recent; const char *kws;
    } rows[] = {
        { "a STORE 1 FLAGS (\\Seen \\Deleted)", 0, 0, MSG_FLAG_SEEN | MSG_FLAG_DELETED, 0, "" },
        { "a STORE 1 +FLAGS \\seen \\ANSWERED $Forwarded", 1, 0, MSG_FLAG_SEEN | MSG_FLAG_ANSWERED, 0, "$Forwarded" },
        { "a STORE 1 -FLAGS.SILENT (\\Flagged Junk NonJunk)", -1, 1, MSG_FLAG_FLAGGED, 0, "Junk NonJunk" },
        { "a STORE 1 flags.silent ()", 0, 1, 0, 0, "" },
        { "a STORE 1 +FLAGS (\\Draft \\Recent)", 1, 0, MSG_FLAG_DRAFT, 1, "" },
        { "a UID STORE 1:* +Flags \\Deleted", 1, 0, MSG_FLAG_DELETED, 0, "" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        imap_cmd c;
        parse_ok(rows[i].line, &c);
        CHECK_INT(rows[i].line, c.kind, IMAP_CMD_STORE);
        CHECK_INT(rows[i].line, c.store_mode, rows[i].mode);
        CHECK_INT(rows[i].line, c.store_silent, rows[i].silent);
        CHECK_INT(rows[i].line, c.flags, rows[i].flags);
        CHECK_INT(rows[i].line, c.flag_recent, rows[i].recent);
        buf kw = BUF_INIT;
        for (size_t k = 0; k < c.nkeywords; k++) buf_printf(&kw, "%s%s", k ? " " : "", c.keywords[k]);
        CHECK_STR(rows[i].line, buf_cstr(&kw), rows[i].kws);
        buf_free(&kw);
        imap_cmd_free(&c);
    }
}

static void append_with_flags_date_and_literal(void **state)
{
    static const char in[] =
        "A3 APPEND saved-messages (\\Seen $Label1) \" 7-Feb-1994 21:52:25 -0800\" {12}\r\n"
        "Hi\0there\r\n!!\r\n";
    imap_cmd c;
    char err[128];
    assert_int_equal(imap_parse_command(in, sizeof in - 1, &c, err, sizeof err), 0);
    assert_int_equal(c.kind, IMAP_CMD_APPEND);
    assert_string_equal(c.mailbox, "saved-messages");
    assert_int_equal(c.flags, MSG_FLAG_SEEN);
    assert_int_equal(c.nkeywords, 1);
    assert_string_equal(c.keywords[0], "$Label1");
    assert_int_equal(c.has_date, 1);
    /* 1994-02-07 21:52:25 -0800 = 1994-02-08 05:52:25 UTC */
    assert_int_equal(c.date, 760686745);
    assert_int_equal(c.date_tz, -480);
    assert_ptr_equal(c.message, in + (sizeof in - 1) - 14);
    assert_int_equal(c.message_len, 12);
    assert_memory_equal(c.message, "Hi\0there\r\n!!", 12);
    imap_cmd_free(&c);

    static const struct { const char *line; int64_t date; int tz; } dates[] = {
        { "a APPEND x \"01-Jan-1970 00:00:00 +0000\" {0+}\r\n", 0, 0 },
        { "a APPEND x \"1-Jan-1970 01:00:00 +0100\" {0+}\r\n", 0, 60 },
        { "a APPEND x \"29-Feb-2000 23:59:60 +0000\" {0+}\r\n", 951868800, 0 },
        { "a APPEND x \"31-dec-1969 23:59:59 +0000\" {0+}\r\n", -1, 0 },
        { "a APPEND x \"29-Nov-2026 07:18:01 +0530\" {0+}\r\n", 1795936681 - 19800, 330 },
    };
    for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
        CHECK_INT(dates[i].line, imap_parse_command(dates[i].line, strlen(dates[i].line), &c, err, sizeof err), 0);
        CHECK_INT(dates[i].line, c.date, dates[i].date);
        CHECK_INT(dates[i].line, c.date_tz, dates[i].tz);
        CHECK_INT(dates[i].line, c.message_len, 0);
        imap_cmd_free(&c);
    }
    parse_ok("a APPEND x {2}\r\nhi", &c);
    assert_int_equal(c.has_date, 0);
    assert_int_equal(c.flags, 0);
    assert_int_equal(c.message_len, 2);
    imap_cmd_free(&c);
}

static void id_and_enable_collect_params(void **state)
{
    imap_cmd c;
    parse_ok("a ID (\"name\" \"imapflow\" \"version\" NIL \"os\" {5}\r\nLinux)", &c);
    assert_int_equal(c.kind, IMAP_CMD_ID);
    assert_int_equal(c.nparams, 6);
    assert_string_equal(c.params[0], "name");
    assert_string_equal(c.params[1], "imapflow");
    assert_string_equal(c.params[2], "version");
    assert_null(c.params[3]);
    assert_string_equal(c.params[5], "Linux");
    imap_cmd_free(&c);
    parse_ok("a ID nil", &c);
    assert_int_equal(c.nparams, 0);
    imap_cmd_free(&c);
    parse_ok("a ID ()", &c);
    assert_int_equal(c.nparams, 0);
    imap_cmd_free(&c);
    parse_ok("a ENABLE condstore UTF8=ACCEPT", &c);
    assert_int_equal(c.kind, IMAP_CMD_ENABLE);
    assert_int_equal(c.nparams, 2);
    assert_string_equal(c.params[0], "CONDSTORE");
    assert_string_equal(c.params[1], "UTF8=ACCEPT");
    imap_cmd_free(&c);
}

/* ---- FETCH ---------------------------------------------------------------------------- */

static void fetch_att_names_are_the_response_item_names(void **state)
{
    static const struct { const char *atts; const char *names; } rows[] = {
        { "ALL", "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE" },
        { "fast", "FLAGS INTERNALDATE RFC822.SIZE" },
        { "FULL", "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY" },
        { "FLAGS", "FLAGS" },
        { "(uid flags)", "UID FLAGS" },
        { "(ENVELOPE INTERNALDATE RFC822.SIZE BODY BODYSTRUCTURE)",
          "ENVELOPE INTERNALDATE RFC822.SIZE BODY BODYSTRUCTURE" },
        { "(RFC822 RFC822.HEADER RFC822.TEXT)", "RFC822 RFC822.HEADER RFC822.TEXT" },
        { "BODY[]", "BODY[]" },
        { "BODY.PEEK[]", "BODY[]" },
        { "body.peek[]<0.100>", "BODY[]<0>" },
        { "BODY[]<1024.4096>", "BODY[]<1024>" },
        { "BODY[HEADER]", "BODY[HEADER]" },
        { "BODY[text]", "BODY[TEXT]" },
        { "BODY[1]", "BODY[1]" },
        { "BODY[1.2.3]", "BODY[1.2.3]" },
        { "BODY[1.MIME]", "BODY[1.MIME]" },
        { "BODY[2.HEADER]", "BODY[2.HEADER]" },
        { "BODY[2.TEXT]<5.7>", "BODY[2.TEXT]<5>" },
        { "BODY.PEEK[HEADER.FIELDS (From To date)]", "BODY[HEADER.FIELDS (FROM TO DATE)]" },
        { "BODY[HEADER.FIELDS.NOT (Received)]", "BODY[HEADER.FIELDS.NOT (RECEIVED)]" },
        { "BODY[1.2.HEADER.FIELDS (X-Spam \"X(1)\" {3}\r\nA\"B)]<0.1>",
          "BODY[1.2.HEADER.FIELDS (X-SPAM \"X(1)\" \"A\\\"B\")]<0>" },
        { "(UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])",
          "UID RFC822.SIZE FLAGS BODY[HEADER.FIELDS (FROM TO CC BCC SUBJECT DATE MESSAGE-ID PRIORITY X-PRIORITY REFERENCES NEWSGROUPS IN-REPLY-TO CONTENT-TYPE REPLY-TO)]" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char line[1024];
        imap_cmd c;
        snprintf(line, sizeof line, "a FETCH 1 %s", rows[i].atts);
        parse_ok(line, &c);
        buf names = BUF_INIT;
        for (size_t k = 0; k < c.natts; k++) buf_printf(&names, "%s%s", k ? " " : "", c.atts[k].name);
        CHECK_STR(line, buf_cstr(&names), rows[i].names);
        buf_free(&names);
        imap_cmd_free(&c);
    }
}

static void fetch_sections_fill_part_spec_fields_partial(void **state)
{
    imap_cmd c;
    parse_ok("a UID FETCH 1:* (BODY.PEEK[1.2.HEADER.FIELDS.NOT (a b)]<10.20> RFC822.HEADER BODY[] FLAGS)", &c);
    assert_int_equal(c.uid, 1);
    assert_string_equal(c.name, "UID FETCH");
    assert_int_equal(c.natts, 4);
    imap_fetch_att *a = &c.atts[0];
    assert_int_equal(a->kind, IMAP_FETCH_SECTION);
    assert_int_equal(a->peek, 1);
    assert_string_equal(a->part, "1.2");
    assert_int_equal(a->spec, IMAP_SECTION_HEADER_FIELDS_NOT);
    assert_int_equal(a->nfields, 2);
    assert_string_equal(a->fields[0], "A");
    assert_string_equal(a->fields[1], "B");
    assert_int_equal(a->partial, 1);
    assert_int_equal(a->partial_off, 10);
    assert_int_equal(a->partial_len, 20);
    assert_string_equal(a->name, "BODY[1.2.HEADER.FIELDS.NOT (A B)]<10>");
    a = &c.atts[1];
    assert_int_equal(a->kind, IMAP_FETCH_RFC822_HEADER);
    assert_int_equal(a->spec, IMAP_SECTION_HEADER);
    assert_int_equal(a->peek, 1);
    assert_string_equal(a->part, "");
    a = &c.atts[2];
    assert_int_equal(a->kind, IMAP_FETCH_SECTION);
    assert_int_equal(a->peek, 0);
    assert_string_equal(a->part, "");
    assert_int_equal(a->spec, IMAP_SECTION_ALL);
    assert_int_equal(a->partial, 0);
    a = &c.atts[3];
    assert_int_equal(a->kind, IMAP_FETCH_FLAGS);
    assert_null(a->part);
    imap_cmd_free(&c);
}

/* ---- BAD ----------------------------------------------------------------------------- */

static void bad_commands_give_reason_and_keep_tag(void **state)
{
    static const struct { const char *line; const char *tag; const char *err; imap_cmd_kind kind; } rows[] = {
        { "", NULL, "empty command", 0 },
        { "a", "a", "missing command", 0 },
        { "a FROB", "a", "unknown command", IMAP_CMD_UNKNOWN },
        { "a UID NOOP", "a", "unknown UID command", IMAP_CMD_UNKNOWN },
        { "a UID SELECT INBOX", "a", "unknown UID command", IMAP_CMD_UNKNOWN },
        { "a NOOP x", "a", "too many arguments", IMAP_CMD_NOOP },
        { "a NOOP ", "a", "too many arguments", IMAP_CMD_NOOP },
        { "a  NOOP", "a", "unknown command", 0 },
        { "a SELECT", "a", "missing argument", IMAP_CMD_SELECT },
        { "a SELECT  INBOX", "a", "invalid mailbox name", IMAP_CMD_SELECT },
        { "a SELECT INBOX (CONDSTORE)", "a", "too many arguments", IMAP_CMD_SELECT },
        { "a SELECT \"abc", "a", "unterminated quoted string in mailbox name", IMAP_CMD_SELECT },
        { "a SELECT \"a\\bc\"", "a", "invalid escape in quoted string in mailbox name", IMAP_CMD_SELECT },
        { "a SELECT \"a\xff\"", "a", "invalid UTF-8 in quoted string in mailbox name", IMAP_CMD_SELECT },
        { "a SELECT \"a\xc0\x80\"", "a", "invalid UTF-8 in quoted string in mailbox name", IMAP_CMD_SELECT },
        { "a SELECT {10}", "a", "literal shorter than announced in mailbox name", IMAP_CMD_SELECT },
        { "a SELECT {1} x", "a", "literal must end the line in mailbox name", IMAP_CMD_SELECT },
        { "a SELECT {99999999999}", "a", "literal size too large in mailbox name", IMAP_CMD_SELECT },
        { "a SELECT {}", "a", "invalid literal in mailbox name", IMAP_CMD_SELECT },
        { "a LOGIN alice", "a", "missing argument", IMAP_CMD_LOGIN },
        { "a LIST \"\" (x)", "a", "invalid mailbox pattern", IMAP_CMD_LIST },
        { "a STATUS INBOX ()", "a", "invalid status item", IMAP_CMD_STATUS },
        { "a STATUS INBOX (MESSAGES FOO)", "a", "unknown status item", IMAP_CMD_STATUS },
        { "a STATUS INBOX MESSAGES", "a", "expected ( before status items", IMAP_CMD_STATUS },
        { "a FETCH 0 FLAGS", "a", "invalid sequence set (zero)", IMAP_CMD_FETCH },
        { "a FETCH 01 FLAGS", "a", "invalid sequence set (zero)", IMAP_CMD_FETCH },
        { "a FETCH 4294967296 FLAGS", "a", "sequence set too large", IMAP_CMD_FETCH },
        { "a FETCH 1:0 FLAGS", "a", "invalid sequence set (zero)", IMAP_CMD_FETCH },
        { "a FETCH 1, FLAGS", "a", "invalid sequence set", IMAP_CMD_FETCH },
        { "a FETCH 1x FLAGS", "a", "invalid sequence set", IMAP_CMD_FETCH },
        { "a FETCH $,1 FLAGS", "a", "invalid sequence set", IMAP_CMD_FETCH },
        { "a FETCH 1,$ FLAGS", "a", "invalid sequence set", IMAP_CMD_FETCH },
        { "a FETCH $:2 FLAGS", "a", "invalid sequence set", IMAP_CMD_FETCH },
        { "a FETCH 1 BINARY[]", "a", "unknown fetch attribute", IMAP_CMD_FETCH },
        { "a FETCH 1 BINARY.PEEK[1]", "a", "unknown fetch attribute", IMAP_CMD_FETCH },
        { "a FETCH 1 BINARY.SIZE[1]", "a", "unknown fetch attribute", IMAP_CMD_FETCH },
        { "a FETCH 1 MODSEQ", "a", "unknown fetch attribute", IMAP_CMD_FETCH },
        { "a FETCH 1 (FLAGS ALL)", "a", "unknown fetch attribute", IMAP_CMD_FETCH },
        { "a FETCH 1 ()", "a", "invalid fetch attribute", IMAP_CMD_FETCH },
        { "a FETCH 1 (FLAGS", "a", "missing argument", IMAP_CMD_FETCH },
        { "a FETCH 1 (FLAGS  UID)", "a", "invalid fetch attribute", IMAP_CMD_FETCH },
        { "a FETCH 1 BODY.PEEK", "a", "BODY.PEEK needs a section", IMAP_CMD_FETCH },
        { "a FETCH 1 BODY[MIME]", "a", "MIME needs a part number", IMAP_CMD_FETCH },
        { "a FETCH 1 BODY[0]", "a", "invalid section part (zero)", IMAP_CMD_FETCH },
        { "a FETCH 1 BODY[1.]", "a", "invalid section", IMAP_CMD_FETCH },
        { "a FETCH 1 BODY[HEADER.FIELDS]", "a", "expected a space", IMAP_CMD_FETCH },
        { "a FETCH 1 BODY[HEADER.FIELDS ()]", "a", "invalid header field name", IMAP_CMD_FETCH },
        { "a FETCH 1 BODY[HEADER.FIELDS (\"a:b\")]", "a", "invalid header field name", IMAP_CMD_FETCH },
        { "a FETCH 1 BODY[FOO]", "a", "invalid section", IMAP_CMD_FETCH },
        { "a FETCH 1 BODY[TEXT", "a", "expected ] after section", IMAP_CMD_FETCH },
        { "a FETCH 1 BODY[]<0.0>", "a", "invalid partial length (zero)", IMAP_CMD_FETCH },
        { "a FETCH 1 BODY[]<0>", "a", "expected . in partial", IMAP_CMD_FETCH },
        { "a FETCH 1 BODY[]<5.4294967296>", "a", "partial length too large", IMAP_CMD_FETCH },
        { "a FETCH 1 FLAGS[]", "a", "unexpected characters after the arguments", IMAP_CMD_FETCH },
        { "a STORE 1 FLAGS (\\Seen \\Foo)", "a", "unsupported system flag", IMAP_CMD_STORE },
        { "a STORE 1 FLAGS (\\*)", "a", "invalid flag", IMAP_CMD_STORE },
        { "a STORE 1 FLAGS", "a", "missing argument", IMAP_CMD_STORE },
        { "a STORE 1 FLAGS (a", "a", "missing argument", IMAP_CMD_STORE },
        { "a STORE 1 XFLAGS (a)", "a", "unknown store item", IMAP_CMD_STORE },
        { "a STORE 1 +FLAGS.LOUD (a)", "a", "unknown store item", IMAP_CMD_STORE },
        { "a STORE 1 FLAGS (a\"b)", "a", "expected a space", IMAP_CMD_STORE },
        { "a APPEND x (\\Seen) \"7-Feb-1994 21:52:25 -0800\"", "a", "missing argument", IMAP_CMD_APPEND },
        { "a APPEND x \"7-Feb-1994 21:52:25 -0800\" hello", "a", "expected the message as a literal", IMAP_CMD_APPEND },
        { "a APPEND x \"30-Feb-1994 21:52:25 -0800\" {0}\r\n", "a", "invalid date-time", IMAP_CMD_APPEND },
        { "a APPEND x \"07-Feb-94 21:52:25 -0800\" {0}\r\n", "a", "invalid date-time", IMAP_CMD_APPEND },
        { "a APPEND x \"07-Feb-1994 24:00:00 -0800\" {0}\r\n", "a", "invalid date-time", IMAP_CMD_APPEND },
        { "a APPEND x \"07-Feb-1994 21:52:25 0800\" {0}\r\n", "a", "invalid date-time", IMAP_CMD_APPEND },
        { "a APPEND x \"07-Foo-1994 21:52:25 +0800\" {0}\r\n", "a", "invalid date-time", IMAP_CMD_APPEND },
        { "a APPEND x (\\Recent \\Bogus) {0}\r\n", "a", "unsupported system flag", IMAP_CMD_APPEND },
        { "a APPEND x \"hello\"", "a", "invalid date-time", IMAP_CMD_APPEND },
        { "a ID (name \"x\")", "a", "invalid ID field", IMAP_CMD_ID },
        { "a ID (\"name\")", "a", "expected a space", IMAP_CMD_ID },
        { "a ID \"x\"", "a", "invalid ID parameters", IMAP_CMD_ID },
        { "a ENABLE", "a", "missing argument", IMAP_CMD_ENABLE },
        { "a UID EXPUNGE", "a", "missing argument", IMAP_CMD_EXPUNGE },
        { "a COPY 1", "a", "missing argument", IMAP_CMD_COPY },
        { "a SEARCH", "a", "missing argument", IMAP_CMD_SEARCH },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        imap_cmd c;
        char err[128];
        CHECK_INT(rows[i].line, parse_line(rows[i].line, &c, err, sizeof err), -1);
        CHECK_STR(rows[i].line, err, rows[i].err);
        if (rows[i].tag) CHECK_STR(rows[i].line, c.tag, rows[i].tag);
        else assert_null(c.tag);
        if (rows[i].kind) CHECK_INT(rows[i].line, c.kind, rows[i].kind);
        /* After BAD only tag/kind/uid/name are left. */
        assert_null(c.mailbox);
        assert_null(c.atts);
        assert_null(c.keywords);
        assert_null(c.seq.r);
        assert_null(c.search);
        imap_cmd_free(&c);
    }
}

static void lists_are_bounded(void **state)
{
    buf b = BUF_INIT;
    imap_cmd c;
    char err[128];
    for (int n = IMAP_LIST_ITEMS_MAX; n <= IMAP_LIST_ITEMS_MAX + 1; n++) {
        buf_reset(&b);
        buf_puts(&b, "a FETCH 1 (");
        for (int i = 0; i < n; i++) buf_puts(&b, i ? " UID" : "UID");
        buf_puts(&b, ")");
        int rc = parse_line(b.p, &c, err, sizeof err);
        assert_int_equal(rc, n > IMAP_LIST_ITEMS_MAX ? -1 : 0);
        if (rc) assert_string_equal(err, "too many fetch attributes");
        else assert_int_equal(c.natts, n);
        imap_cmd_free(&c);

        buf_reset(&b);
        buf_puts(&b, "a STORE 1 FLAGS (");
        for (int i = 0; i < n; i++) buf_printf(&b, "%sk%d", i ? " " : "", i);
        buf_puts(&b, ")");
        rc = parse_line(b.p, &c, err, sizeof err);
        assert_int_equal(rc, n > IMAP_LIST_ITEMS_MAX ? -1 : 0);
        if (rc) assert_string_equal(err, "too many flags");
        imap_cmd_free(&c);

        buf_reset(&b);
        buf_puts(&b, "a SEARCH");
        for (int i = 0; i < n; i++) buf_puts(&b, " SEEN");
        rc = parse_line(b.p, &c, err, sizeof err);
        assert_int_equal(rc, n > IMAP_LIST_ITEMS_MAX ? -1 : 0);
        if (rc) assert_string_equal(err, "too many search keys");
        else assert_int_equal(c.search->nkids, n);
        imap_cmd_free(&c);

        buf_reset(&b);
        buf_puts(&b, "a FETCH 1 BODY[HEADER.FIELDS (");
        for (int i = 0; i < n; i++) buf_puts(&b, i ? " X" : "X");
        buf_puts(&b, ")]");
        rc = parse_line(b.p, &c, err, sizeof err);
        assert_int_equal(rc, n > IMAP_LIST_ITEMS_MAX ? -1 : 0);
        if (rc) assert_string_equal(err, "too many header fields");
        imap_cmd_free(&c);
    }
    /* Keywords: IMAP_KEYWORD_LEN_MAX bytes pass, one more is refused. */
    buf_reset(&b);
    buf_puts(&b, "a STORE 1 +FLAGS ");
    for (int i = 0; i < IMAP_KEYWORD_LEN_MAX; i++) buf_putc(&b, 'k');
    assert_int_equal(parse_line(b.p, &c, err, sizeof err), 0);
    imap_cmd_free(&c);
    buf_putc(&b, 'k');
    assert_int_equal(parse_line(b.p, &c, err, sizeof err), -1);
    assert_string_equal(err, "keyword too long");
    imap_cmd_free(&c);
    buf_free(&b);
}

/* ---- SEARCH ---------------------------------------------------------------------------- */

static void print_set(buf *out, const search_node *n)
{
    for (size_t i = 0; i < n->set.n; i++) {
        uid_range r = n->set.r[i];
        if (i) buf_putc(out, ',');
        if (r.lo == IMAP_SEQ_STAR) buf_putc(out, '*');
        else buf_printf(out, "%u", r.lo);
        if (r.hi != r.lo) {
            if (r.hi == IMAP_SEQ_STAR) buf_puts(out, ":*");
            else buf_printf(out, ":%u", r.hi);
        }
    }
    if (n->star) buf_puts(out, " star");
}

static void print_flags(buf *out, uint32_t f)
{
    static const char *names[] = { "SEEN", "ANSWERED", "FLAGGED", "DELETED", "DRAFT" };
    int first = 1;
    for (int i = 0; i < 5; i++)
        if (f & (1u << i)) {
            buf_printf(out, "%s%s", first ? "" : "|", names[i]);
            first = 0;
        }
}

static void print_tree(buf *out, const search_node *n)
{
    static const char *ops[] = {
        [SEARCH_ALL] = "ALL", [SEARCH_AND] = "AND", [SEARCH_OR] = "OR", [SEARCH_NOT] = "NOT",
        [SEARCH_UIDS] = "UIDS", [SEARCH_SEQSET] = "SEQ", [SEARCH_RECENT] = "RECENT",
        [SEARCH_FLAGS] = "FLAGS", [SEARCH_NOFLAGS] = "NOFLAGS", [SEARCH_KEYWORD] = "KEYWORD",
        [SEARCH_UNKEYWORD] = "UNKEYWORD", [SEARCH_BEFORE] = "BEFORE", [SEARCH_ON] = "ON",
        [SEARCH_SINCE] = "SINCE", [SEARCH_SENTBEFORE] = "SENTBEFORE", [SEARCH_SENTON] = "SENTON",
        [SEARCH_SENTSINCE] = "SENTSINCE", [SEARCH_LARGER] = "LARGER", [SEARCH_SMALLER] = "SMALLER",
        [SEARCH_HEADER] = "HEADER", [SEARCH_BODY] = "BODY", [SEARCH_TEXT] = "TEXT",
        [SEARCH_REGEX] = "REGEX",
    };
    buf_printf(out, "%s", ops[n->op]);
    switch (n->op) {
    case SEARCH_ALL: case SEARCH_RECENT:
        return;
    case SEARCH_AND: case SEARCH_OR: case SEARCH_NOT:
        buf_putc(out, '(');
        for (size_t i = 0; i < n->nkids; i++) {
            if (i) buf_putc(out, ' ');
            print_tree(out, n->kids[i]);
        }
        buf_putc(out, ')');
        return;
    case SEARCH_UIDS: case SEARCH_SEQSET:
        buf_putc(out, '[');
        print_set(out, n);
        buf_putc(out, ']');
        if (n->number) buf_printf(out, "(%lld)", (long long)n->number);
        return;
    case SEARCH_REGEX:
        buf_printf(out, "(%s %lld \"%s\")", n->field ? n->field : "-", (long long)n->number, n->value);
        return;
    case SEARCH_FLAGS: case SEARCH_NOFLAGS:
        buf_putc(out, '(');
        print_flags(out, n->flags);
        buf_putc(out, ')');
        return;
    case SEARCH_HEADER:
        buf_printf(out, "(%s \"%s\")", n->field, n->value);
        return;
    case SEARCH_KEYWORD: case SEARCH_UNKEYWORD: case SEARCH_BODY: case SEARCH_TEXT:
        buf_printf(out, "(\"%s\")", n->value);
        return;
    default:
        buf_printf(out, "(%lld)", (long long)n->number);
        return;
    }
}

static void search_keys_build_the_expected_tree(void **state)
{
    static const struct { const char *args; const char *tree; const char *charset; } rows[] = {
        { "ALL", "AND(ALL)", NULL },
        { "all", "AND(ALL)", NULL },
        { "ANSWERED DELETED DRAFT FLAGGED SEEN", "AND(FLAGS(ANSWERED) FLAGS(DELETED) FLAGS(DRAFT) FLAGS(FLAGGED) FLAGS(SEEN))", NULL },
        { "UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN", "AND(NOFLAGS(ANSWERED) NOFLAGS(DELETED) NOFLAGS(DRAFT) NOFLAGS(FLAGGED) NOFLAGS(SEEN))", NULL },
        { "NEW", "AND(AND(RECENT NOFLAGS(SEEN)))", NULL },
        { "OLD RECENT", "AND(NOT(RECENT) RECENT)", NULL },
        { "FROM alice TO \"bob smith\" CC {3}\r\ncar BCC d SUBJECT \"\"",
          "AND(HEADER(FROM \"alice\") HEADER(TO \"bob smith\") HEADER(CC \"car\") HEADER(BCC \"d\") HEADER(SUBJECT \"\"))", NULL },
        { "HEADER X-Spam-Flag YES HEADER List-Id \"\"", "AND(HEADER(X-Spam-Flag \"YES\") HEADER(List-Id \"\"))", NULL },
        { "BODY hello TEXT \"w\xc3\xb6rld\"", "AND(BODY(\"hello\") TEXT(\"w\xc3\xb6rld\"))", NULL },
        { "KEYWORD $Forwarded UNKEYWORD Junk", "AND(KEYWORD(\"$Forwarded\") UNKEYWORD(\"Junk\"))", NULL },
        { "LARGER 1024 SMALLER 0", "AND(LARGER(1024) SMALLER(0))", NULL },
        { "LARGER 4294967295", "AND(LARGER(4294967295))", NULL },
        { "SINCE 1-Jan-1970 BEFORE \"02-jan-1970\" ON 29-Feb-2024", "AND(SINCE(0) BEFORE(1) ON(19782))", NULL },
        { "SENTSINCE 31-Dec-1969 SENTBEFORE 1-Mar-2000 SENTON 01-Jan-2001", "AND(SENTSINCE(-1) SENTBEFORE(11017) SENTON(11323))", NULL },
        { "1:3,5 UID 10:*", "AND(SEQ[1:3,5] UIDS[10:* star])", NULL },
        { "* 2,1", "AND(SEQ[* star] SEQ[1:2])", NULL },
        { "NOT SEEN", "AND(NOT(FLAGS(SEEN)))", NULL },
        { "OR SEEN FLAGGED", "AND(OR(FLAGS(SEEN) FLAGS(FLAGGED)))", NULL },
        { "OR (FROM a SUBJECT b) NOT (DELETED)", "AND(OR(AND(HEADER(FROM \"a\") HEADER(SUBJECT \"b\")) NOT(AND(FLAGS(DELETED)))))", NULL },
        { "CHARSET utf-8 TEXT x", "AND(TEXT(\"x\"))", "UTF-8" },
        { "charset \"US-ASCII\" ALL", "AND(ALL)", "US-ASCII" },
        { "((((ALL))))", "AND(AND(AND(AND(AND(ALL)))))", NULL },
        /* "$" and "UID $" are the saved result (RFC 5182), number 1 */
        { "$", "AND(SEQ[](1))", NULL },
        { "UID $ OR $ 1", "AND(SEQ[](1) OR(SEQ[](1) SEQ[1]))", NULL },
        { "NOT $", "AND(NOT(SEQ[](1)))", NULL },
        /* X-REGEX: BODY number 0, TEXT number 1, HEADER the field */
        { "X-REGEX TEXT \"fo+\\\\d\"", "AND(REGEX(- 1 \"fo+\\d\"))", NULL },
        { "x-regex body ^abc$", "AND(REGEX(- 0 \"^abc$\"))", NULL },
        { "X-REGEX HEADER Subject {6}\r\n(?-i)A", "AND(REGEX(Subject 0 \"(?-i)A\"))", NULL },
        { "NOT X-REGEX HEADER X-Spam \"\" SEEN", "AND(NOT(REGEX(X-Spam 0 \"\")) FLAGS(SEEN))", NULL },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char line[512];
        imap_cmd c;
        snprintf(line, sizeof line, "a UID SEARCH %s", rows[i].args);
        parse_ok(line, &c);
        CHECK_INT(line, c.kind, IMAP_CMD_SEARCH);
        buf t = BUF_INIT;
        print_tree(&t, c.search);
        CHECK_STR(line, t.p, rows[i].tree);
        if (rows[i].charset) CHECK_STR(line, c.charset, rows[i].charset);
        else assert_null(c.charset);
        buf_free(&t);
        imap_cmd_free(&c);
    }
}

static void search_return_options_fill_esearch_and_bits(void **state)
{
    static const struct { const char *line; int uid, esearch; unsigned ret; const char *charset; } rows[] = {
        { "a SEARCH ALL", 0, 0, 0, NULL },
        { "a SEARCH RETURN () ALL", 0, 1, IMAP_SEARCH_RETURN_ALL, NULL },
        { "a SEARCH RETURN (MIN) ALL", 0, 1, IMAP_SEARCH_RETURN_MIN, NULL },
        { "a UID SEARCH return (min max all count) SEEN", 1, 1,
          IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX | IMAP_SEARCH_RETURN_ALL | IMAP_SEARCH_RETURN_COUNT, NULL },
        { "a SEARCH RETURN (SAVE) CHARSET UTF-8 ALL", 0, 1, IMAP_SEARCH_RETURN_SAVE, "UTF-8" },
        { "a UID SEARCH RETURN (SAVE MIN) 1:*", 1, 1, IMAP_SEARCH_RETURN_SAVE | IMAP_SEARCH_RETURN_MIN, NULL },
        { "a SEARCH RETURN (COUNT COUNT) ALL", 0, 1, IMAP_SEARCH_RETURN_COUNT, NULL },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        imap_cmd c;
        parse_ok(rows[i].line, &c);
        CHECK_INT(rows[i].line, c.kind, IMAP_CMD_SEARCH);
        CHECK_INT(rows[i].line, c.uid, rows[i].uid);
        CHECK_INT(rows[i].line, c.esearch, rows[i].esearch);
        CHECK_INT(rows[i].line, c.search_return, rows[i].ret);
        if (rows[i].charset) CHECK_STR(rows[i].line, c.charset, rows[i].charset);
        else assert_null(c.charset);
        assert_non_null(c.search);
        imap_cmd_free(&c);
    }
    static const struct { const char *line, *err; unsigned ret; } bad[] = {
        { "a SEARCH RETURN (FOO) ALL", "unknown search return option", 0 },
        { "a SEARCH RETURN (MIN ALL", "missing argument", IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_ALL },
        { "a SEARCH RETURN (MIN)", "missing argument", IMAP_SEARCH_RETURN_MIN },
        { "a SEARCH RETURN (MIN  MAX) ALL", "invalid search return option", IMAP_SEARCH_RETURN_MIN },
        /* a failed parse keeps the options read, so the session can reset $ */
        { "a SEARCH RETURN (SAVE) FOO", "unknown search key", IMAP_SEARCH_RETURN_SAVE },
        { "a UID SEARCH RETURN (SAVE ALL) (SEEN", "missing argument", IMAP_SEARCH_RETURN_SAVE | IMAP_SEARCH_RETURN_ALL },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        imap_cmd c;
        char err[128];
        CHECK_INT(bad[i].line, parse_line(bad[i].line, &c, err, sizeof err), -1);
        CHECK_STR(bad[i].line, err, bad[i].err);
        CHECK_INT(bad[i].line, c.search_return, bad[i].ret);
        assert_null(c.search);
        imap_cmd_free(&c);
    }
}

static void dollar_is_the_saved_result_in_message_sets(void **state)
{
    static const struct { const char *line; imap_cmd_kind kind; int uid; } rows[] = {
        { "a FETCH $ FLAGS", IMAP_CMD_FETCH, 0 },
        { "a UID FETCH $ (UID FLAGS)", IMAP_CMD_FETCH, 1 },
        { "a STORE $ +FLAGS (\\Seen)", IMAP_CMD_STORE, 0 },
        { "a UID STORE $ FLAGS.SILENT ()", IMAP_CMD_STORE, 1 },
        { "a COPY $ Trash", IMAP_CMD_COPY, 0 },
        { "a UID MOVE $ Trash", IMAP_CMD_MOVE, 1 },
        { "a UID EXPUNGE $", IMAP_CMD_EXPUNGE, 1 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        imap_cmd c;
        parse_ok(rows[i].line, &c);
        CHECK_INT(rows[i].line, c.kind, rows[i].kind);
        CHECK_INT(rows[i].line, c.uid, rows[i].uid);
        CHECK_INT(rows[i].line, c.seq.last, 1);
        CHECK_INT(rows[i].line, c.seq.n, 0);
        imap_cmd_free(&c);
    }
    imap_cmd c;
    parse_ok("a FETCH 1:2 FLAGS", &c);
    CHECK_INT("no $", c.seq.last, 0);
    imap_cmd_free(&c);
}

static void sort_and_thread_take_criteria_and_mandatory_charset(void **state)
{
    imap_cmd c;
    parse_ok("a SORT (SUBJECT REVERSE DATE) UTF-8 ALL", &c);
    CHECK_INT("sort", c.kind, IMAP_CMD_SORT);
    CHECK_STR("sort", c.name, "SORT");
    CHECK_INT("sort", c.nsort, 2);
    CHECK_INT("sort", c.sort[0].key, IMAP_SORT_SUBJECT);
    CHECK_INT("sort", c.sort[0].reverse, 0);
    CHECK_INT("sort", c.sort[1].key, IMAP_SORT_DATE);
    CHECK_INT("sort", c.sort[1].reverse, 1);
    CHECK_STR("sort", c.charset, "UTF-8");
    assert_non_null(c.search);
    imap_cmd_free(&c);

    parse_ok("a uid sort (arrival cc date from size subject to displayfrom displayto reverse size) us-ascii SEEN FROM x", &c);
    CHECK_STR("uid sort", c.name, "UID SORT");
    CHECK_INT("uid sort", c.uid, 1);
    CHECK_INT("uid sort", c.nsort, 10);
    static const imap_sort_key keys[] = { IMAP_SORT_ARRIVAL, IMAP_SORT_CC, IMAP_SORT_DATE,
        IMAP_SORT_FROM, IMAP_SORT_SIZE, IMAP_SORT_SUBJECT, IMAP_SORT_TO, IMAP_SORT_DISPLAYFROM,
        IMAP_SORT_DISPLAYTO, IMAP_SORT_SIZE };
    for (size_t i = 0; i < 10; i++) {
        CHECK_INT("uid sort", c.sort[i].key, keys[i]);
        CHECK_INT("uid sort", c.sort[i].reverse, i == 9);
    }
    CHECK_STR("uid sort", c.charset, "US-ASCII");
    CHECK_INT("uid sort", c.search->nkids, 2);
    imap_cmd_free(&c);

    parse_ok("a UID SORT RETURN (MIN ALL) (REVERSE SIZE) UTF-8 ALL", &c);
    CHECK_INT("esort", c.esearch, 1);
    CHECK_INT("esort", c.search_return, IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_ALL);
    CHECK_INT("esort", c.nsort, 1);
    CHECK_INT("esort", c.sort[0].key, IMAP_SORT_SIZE);
    CHECK_INT("esort", c.sort[0].reverse, 1);
    imap_cmd_free(&c);
    parse_ok("a SORT RETURN () (DATE) UTF-8 ALL", &c);
    CHECK_INT("esort ()", c.search_return, IMAP_SEARCH_RETURN_ALL);
    imap_cmd_free(&c);

    parse_ok("a THREAD REFERENCES UTF-8 ALL", &c);
    CHECK_INT("thread", c.kind, IMAP_CMD_THREAD);
    CHECK_INT("thread", c.thread, IMAP_THREAD_REFERENCES);
    CHECK_STR("thread", c.charset, "UTF-8");
    imap_cmd_free(&c);
    parse_ok("a UID THREAD orderedsubject \"iso-8859-1\" SUBJECT x", &c);
    CHECK_STR("uid thread", c.name, "UID THREAD");
    CHECK_INT("uid thread", c.thread, IMAP_THREAD_ORDEREDSUBJECT);
    CHECK_STR("uid thread", c.charset, "ISO-8859-1");
    imap_cmd_free(&c);

    static const struct { const char *line, *err; } bad[] = {
        { "a SORT (FOO) UTF-8 ALL", "unknown sort criterion" },
        { "a SORT RETURN (FOO) (DATE) UTF-8 ALL", "unknown search return option" },
        { "a SORT (DATE) RETURN (MIN) UTF-8 ALL", "unknown search key" },
        { "a SORT () UTF-8 ALL", "invalid sort criterion" },
        { "a SORT (REVERSE) UTF-8 ALL", "expected a space" },
        { "a SORT (REVERSE REVERSE DATE) UTF-8 ALL", "unknown sort criterion" },
        { "a SORT SUBJECT UTF-8 ALL", "expected ( before sort criteria" },
        { "a SORT (DATE) ALL", "missing argument" },
        { "a SORT (DATE)", "missing argument" },
        { "a SORT (DATE) CHARSET UTF-8 ALL", "unknown search key" },
        { "a THREAD FOO UTF-8 ALL", "unknown thread algorithm" },
        { "a THREAD REFERENCES", "missing argument" },
        { "a THREAD REFERENCES UTF-8", "missing argument" },
        { "a THREAD", "missing argument" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[128];
        CHECK_INT(bad[i].line, parse_line(bad[i].line, &c, err, sizeof err), -1);
        CHECK_STR(bad[i].line, err, bad[i].err);
        assert_null(c.sort);
        assert_null(c.search);
        assert_null(c.charset);
        imap_cmd_free(&c);
    }
}

static void search_bad_keys_are_refused(void **state)
{
    static const struct { const char *args; const char *err; size_t len; } rows[] = {
        { "FOO", "unknown search key" , 0 },
        { "SEEN  ALL", "unknown search key" , 0 },
        { "FROM", "missing argument" , 0 },
        { "BEFORE 30-Feb-2020", "invalid date" , 0 },
        { "BEFORE 1-Feb-20", "invalid date" , 0 },
        { "BEFORE \"1-Feb-2020", "invalid date" , 0 },
        { "SINCE 123-Jan-2020", "invalid date" , 0 },
        { "LARGER -1", "invalid size" , 0 },
        { "LARGER 4294967296", "size too large" , 0 },
        { "UID 0", "invalid sequence set (zero)" , 0 },
        { "KEYWORD \\Seen", "invalid keyword" , 0 },
        { "HEADER \"\" x", "invalid header field name" , 0 },
        { "HEADER \"a b\" x", "invalid header field name" , 0 },
        { "(SEEN", "missing argument" , 0 },
        { "()", "unknown search key" , 0 },
        { "OR SEEN", "missing argument" , 0 },
        { "NOT", "missing argument" , 0 },
        { "SEEN)", "unexpected characters after the arguments" , 0 },
        { "CHARSET", "unknown search key" , 0 },
        { "CHARSET UTF-8", "missing argument" , 0 },
        { "$1", "invalid sequence set" , 0 },
        { "UID $,2", "invalid sequence set" , 0 },
        { "RETURN MIN ALL", "unknown search key" , 0 },
        { "ALL RETURN (MIN)", "unknown search key" , 0 },
        { "X-REGEX", "missing argument" , 0 },
        { "X-REGEX TEXT", "missing argument" , 0 },
        { "X-REGEX SUBJECT x", "X-REGEX takes TEXT, BODY or HEADER" , 0 },
        { "X-REGEX HEADER \"\" x", "invalid header field name" , 0 },
        { "X-REGEX HEADER Subject", "missing argument" , 0 },
        { "X-REGEX BODY \"a(b\"", "invalid regular expression at offset 3: missing closing parenthesis" , 0 },
        { "X-REGEX BODY \"(((((((((((((((((((((((((((((((((((((((((((((((((((x)))))))))))))))))))))))))))))))))))))))))))))))))))\"",
          "invalid regular expression at offset 51: parentheses are too deeply nested", 0 },
        { "X-REGEX TEXT \"*x\"", "invalid regular expression at offset 0: quantifier does not follow a repeatable item" , 0 },
        { "TEXT {3}\r\na\0b", "NUL in literal in search string", 14 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        buf line = BUF_INIT;
        imap_cmd c;
        char err[128];
        buf_puts(&line, "t SEARCH ");
        buf_append(&line, rows[i].args, rows[i].len ? rows[i].len : strlen(rows[i].args));
        buf_puts(&line, "\r\n");
        CHECK_INT(rows[i].args, imap_parse_command(line.p, line.len, &c, err, sizeof err), -1);
        buf_free(&line);
        CHECK_STR(rows[i].args, err, rows[i].err);
        CHECK_STR(rows[i].args, c.tag, "t");
        assert_null(c.search);
        assert_null(c.charset);
        imap_cmd_free(&c);
    }
}

static void search_nesting_is_bounded(void **state)
{
    static const char *forms[][2] = { { "(", ")" }, { "NOT ", "" }, { "OR ALL ", "" } };
    for (size_t f = 0; f < 3; f++) {
        for (int depth = IMAP_NEST_MAX; depth <= IMAP_NEST_MAX + 1; depth++) {
            buf b = BUF_INIT;
            buf_puts(&b, "a SEARCH ");
            for (int i = 0; i < depth; i++) buf_puts(&b, forms[f][0]);
            buf_puts(&b, "ALL");
            for (int i = 0; i < depth; i++) buf_puts(&b, forms[f][1]);
            imap_cmd c;
            char err[128];
            int rc = parse_line(b.p, &c, err, sizeof err);
            CHECK_INT(b.p, rc, depth > IMAP_NEST_MAX ? -1 : 0);
            if (rc) CHECK_STR(b.p, err, "search keys nested too deeply");
            imap_cmd_free(&c);
            buf_free(&b);
        }
    }
    /* Far deeper than the limit fails the same way, without exhausting the stack. */
    buf b = BUF_INIT;
    buf_puts(&b, "a SEARCH ");
    for (int i = 0; i < 30000; i++) buf_puts(&b, "NOT ");
    buf_puts(&b, "ALL");
    imap_cmd c;
    char err[128];
    assert_int_equal(parse_line(b.p, &c, err, sizeof err), -1);
    assert_string_equal(err, "search keys nested too deeply");
    imap_cmd_free(&c);
    buf_free(&b);
}

/* ---- modified UTF-7 -------------------------------------------------------------------- */

static void utf7_round_trips(void **state)
{
    static const struct { const char *utf7, *utf8; } rows[] = {
        { "INBOX", "INBOX" },
        { "", "" },
        { "&-", "&" },
        { "Tom &- Jerry", "Tom & Jerry" },
        { "~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
        { "&AOk-t&AOk-", "\xc3\xa9t\xc3\xa9" },
        { "Entw&APw-rfe", "Entw\xc3\xbc" "rfe" },
        { "&2D3eAA-", "\xf0\x9f\x98\x80" },                    /* U+1F600, a surrogate pair */
        { "&AOkA6QDp-", "\xc3\xa9\xc3\xa9\xc3\xa9" },
        { "&AAk-", "\t" },                                     /* controls are encoded */
        { "&AH8-", "\x7f" },
        { "&-&AOk-", "&\xc3\xa9" },
        { "&AOk-&-", "\xc3\xa9&" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        buf a = BUF_INIT, b = BUF_INIT;
        CHECK_INT(rows[i].utf7, imap_utf7_to_utf8(rows[i].utf7, &a), 0);
        CHECK_STR(rows[i].utf7, buf_cstr(&a), rows[i].utf8);
        CHECK_INT(rows[i].utf8, imap_utf8_to_utf7(rows[i].utf8, &b), 0);
        CHECK_STR(rows[i].utf8, buf_cstr(&b), rows[i].utf7);
        buf_free(&a);
        buf_free(&b);
    }
}

static void utf7_rejects_invalid_and_non_shortest_forms(void **state)
{
    static const char *bad7[] = {
        "&",            /* bare & at the end */
        "a&b",          /* & not followed by a run or - */
        "&AOk",         /* run not terminated */
        "&AOl-",        /* non-zero padding bits */
        "&AOkA-",       /* a whole extra base64 char: not shortest */
        "&AA-",         /* a run that completes no character */
        "&AGE-",        /* 'a' encoded: printable ASCII must be direct */
        "&ACY-",        /* '&' encoded */
        "&AAA-",        /* U+0000 */
        "&2D0-",        /* lone high surrogate */
        "&3gA-",        /* lone low surrogate */
        "&2D3YPQ-",     /* high surrogate followed by high surrogate */
        "&AOk-&AOk-",   /* two runs in a row: one run is shorter */
        "&AO/-",        /* '/' is not modified base64 */
        "&AO=-",
        "caf\xc3\xa9",  /* raw 8-bit */
        "a\tb",         /* raw control */
        "a\x7f",
    };
    for (size_t i = 0; i < sizeof bad7 / sizeof bad7[0]; i++) {
        buf a = BUF_INIT;
        buf_puts(&a, "keep");
        CHECK_INT(bad7[i], imap_utf7_to_utf8(bad7[i], &a), -1);
        CHECK_STR(bad7[i], a.p, "keep");   /* untouched on failure */
        buf_free(&a);
    }
    static const char *bad8[] = {
        "\xff", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "ok\xc3(", "\xf8\x88\x80\x80\x80",
    };
    for (size_t i = 0; i < sizeof bad8 / sizeof bad8[0]; i++) {
        buf a = BUF_INIT;
        buf_puts(&a, "keep");
        CHECK_INT(bad8[i], imap_utf8_to_utf7(bad8[i], &a), -1);
        CHECK_STR(bad8[i], a.p, "keep");
        buf_free(&a);
    }
}

/* ---- output --------------------------------------------------------------------------- */

static void write_string_quotes_or_uses_a_literal(void **state)
{
    static const struct { const char *in; size_t len; const char *out; size_t outlen; } rows[] = {
        { "INBOX", 5, "\"INBOX\"", 7 },
        { "", 0, "\"\"", 2 },
        { "a \"b\" \\c", 8, "\"a \\\"b\\\" \\\\c\"", 13 },
        { "tab\there", 8, "\"tab\there\"", 10 },
        { "line\r\nbreak", 11, "{11}\r\nline\r\nbreak", 17 },
        { "caf\xc3\xa9", 5, "{5}\r\ncaf\xc3\xa9", 10 },
        { "n\0l", 3, "{3}\r\nn\0l", 8 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        buf b = BUF_INIT;
        imap_write_string(&b, rows[i].in, rows[i].len);
        CHECK_INT(rows[i].out, b.len, rows[i].outlen);
        assert_memory_equal(b.p, rows[i].out, rows[i].outlen);
        buf_free(&b);
    }
    buf b = BUF_INIT;
    imap_write_nstring(&b, NULL);
    buf_putc(&b, ' ');
    imap_write_nstring(&b, "x");
    assert_string_equal(b.p, "NIL \"x\"");
    buf_free(&b);
}

static void written_strings_parse_back_to_the_same_bytes(void **state)
{
    static const char *samples[] = { "plain", "", "q\"uo\\te", "8bit \xc3\xa9", "cr\rlf\n", "}{)(" };
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        buf b = BUF_INIT;
        buf_puts(&b, "a SELECT ");
        imap_write_string(&b, samples[i], strlen(samples[i]));
        buf_puts(&b, "\r\n");
        imap_cmd c;
        char err[128];
        CHECK_INT(samples[i], imap_parse_command(b.p, b.len, &c, err, sizeof err), 0);
        CHECK_STR(samples[i], c.mailbox, samples[i]);
        imap_cmd_free(&c);
        buf_free(&b);
    }
}

static void format_datetime_has_the_fixed_form(void **state)
{
    static const struct { int64_t t; int tz; const char *out; } rows[] = {
        { 1795936681, 0, "\"29-Nov-2026 07:18:01 +0000\"" },
        { 0, 0, "\"01-Jan-1970 00:00:00 +0000\"" },
        { 760686745, -480, "\"07-Feb-1994 21:52:25 -0800\"" },
        { 951868800, 330, "\"01-Mar-2000 05:30:00 +0530\"" },
        { -1, 0, "\"31-Dec-1969 23:59:59 +0000\"" },
        { 951782400, 0, "\"29-Feb-2000 00:00:00 +0000\"" },
        { INT64_MAX, 0, "\"31-Dec-9999 23:59:59 +0000\"" },
        { INT64_MIN, 0, "\"01-Jan-0001 00:00:00 +0000\"" },
        { 0, 100000, "\"01-Jan-1970 23:59:00 +2359\"" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        buf b = BUF_INIT;
        imap_format_datetime(&b, rows[i].t, rows[i].tz);
        CHECK_STR(rows[i].out, b.p, rows[i].out);
        /* and the APPEND parser reads it back */
        if (rows[i].t > -1000000000 && rows[i].t < 4000000000 && rows[i].tz < 1440) {
            buf line = BUF_INIT;
            buf_printf(&line, "a APPEND x %s {0+}\r\n", b.p);
            imap_cmd c;
            char err[128];
            CHECK_INT(rows[i].out, imap_parse_command(line.p, line.len, &c, err, sizeof err), 0);
            CHECK_INT(rows[i].out, c.date, rows[i].t);
            CHECK_INT(rows[i].out, c.date_tz, rows[i].tz);
            imap_cmd_free(&c);
            buf_free(&line);
        }
        buf_free(&b);
    }
}

/* ---- reader ----------------------------------------------------------------------------- */

/* Feeds `len` bytes in chunks of `chunk` (0 = whole) and logs every event. */
static void feed_log(imap_reader *r, const char *data, size_t len, size_t chunk, buf *log)
{
    size_t off = 0;
    while (off < len) {
        size_t n = chunk ? (len - off < chunk ? len - off : chunk) : len - off;
        size_t pos = 0;
        while (pos < n) {
            size_t used = 0;
            imap_frame f = imap_reader_feed(r, data + off + pos, n - pos, &used);
            assert_true(used <= n - pos);
            pos += used;
            switch (f) {
            case IMAP_FRAME_NEED_MORE:
                assert_int_equal(pos, n);
                break;
            case IMAP_FRAME_CONTINUE:
                buf_puts(log, "+\n");
                break;
            case IMAP_FRAME_COMMAND:
                buf_puts(log, "CMD ");
                escape_bytes(log, r->cmd.p, r->cmd.len);
                buf_putc(log, '\n');
                break;
            case IMAP_FRAME_ERROR:
                buf_printf(log, "ERR tag=%s %s%s\n", r->tag, r->error, r->error_toobig ? " toobig" : "");
                break;
            }
        }
        off += n;
    }
}

static void reader_frames_lines_and_literals(void **state)
{
    static const struct { const char *in; size_t len; const char *log; } rows[] = {
        { "a NOOP\r\n", 8, "CMD a NOOP\\r\\n\n" },
        { "a NOOP\n", 7, "CMD a NOOP\\n\n" },
        /* Empty lines are framed too: the parser answers each with BAD (as Dovecot). */
        { "\r\n\n\r\na NOOP\r\n", 13, "CMD \\r\\n\nCMD \\n\nCMD \\r\\n\nCMD a NOOP\\r\\n\n" },
        { "a NOOP\r\nb LOGOUT\r\n", 18, "CMD a NOOP\\r\\n\nCMD b LOGOUT\\r\\n\n" },
        { "a LOGIN {5}\r\nal\0\nx {3+}\r\np\r\n\r\n", 30,
          "+\nCMD a LOGIN {5}\\r\\nal\\x00\\nx {3+}\\r\\np\\r\\n\\r\\n\n" },
        { "a LOGIN {0}\r\n {0+}\r\n\r\n", 22, "+\nCMD a LOGIN {0}\\r\\n {0+}\\r\\n\\r\\n\n" },
        /* Not literal announcements: the brace is not at the end of the line. */
        { "a SELECT {5}x\r\n", 15, "CMD a SELECT {5}x\\r\\n\n" },
        { "a SELECT {5}\r \r\n", 16, "CMD a SELECT {5}\\r \\r\\n\n" },
        { "a SELECT {+}\r\n", 14, "CMD a SELECT {+}\\r\\n\n" },
        { "a SELECT {5++}\r\n", 16, "CMD a SELECT {5++}\\r\\n\n" },
        /* {{5} is still a literal: the last '{' counts. */
        { "a SELECT {{2}\r\nab\r\n", 19, "+\nCMD a SELECT {{2}\\r\\nab\\r\\n\n" },
        { "a SELECT {99999999999}\r\nb NOOP\r\n", 32, "ERR tag=a invalid literal size\nCMD b NOOP\\r\\n\n" },
        { "a SELECT {4294967296+}\r\nb NOOP\r\n", 32, "ERR tag=a invalid literal size\nCMD b NOOP\\r\\n\n" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        static const size_t chunks[] = { 0, 1, 2, 3, 5, 7 };
        for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
            imap_reader r;
            imap_reader_init(&r);
            buf log = BUF_INIT;
            feed_log(&r, rows[i].in, rows[i].len, chunks[k], &log);
            CHECK_STR(rows[i].log, buf_cstr(&log), rows[i].log);
            buf_free(&log);
            imap_reader_free(&r);
        }
    }
}

/* A line of n bytes "tag SP x..." + suffix. */
static void long_line(buf *b, const char *tag, size_t n, const char *suffix)
{
    buf_printf(b, "%s ", tag);
    while (b->len < n) buf_putc(b, 'x');
    buf_puts(b, suffix);
}

static void reader_limits_skip_the_command_and_resume(void **state)
{
    buf in = BUF_INIT, want = BUF_INIT;

    /* A line of exactly IMAP_LINE_MAX bytes is accepted; one more is refused
     * (the CRLF does not count). */
    long_line(&in, "t1", IMAP_LINE_MAX, "\r\n");
    long_line(&in, "t2", in.len + IMAP_LINE_MAX + 1, "\r\n");
    long_line(&in, "t3", in.len + IMAP_LINE_MAX + 1, "\n");
    buf_puts(&in, "t4 NOOP\r\n");
    /* Over-long line ending in a non-synchronising literal: the literal is skipped. */
    long_line(&in, "t5", in.len + IMAP_LINE_MAX + 10, " {6+}\r\nt6 X\r\n rest {2}\r\n");
    /* ... and in a synchronising one: never asked for, the next line is a command. */
    long_line(&in, "t7", in.len + IMAP_LINE_MAX + 10, " {6}\r\n");
    buf_puts(&in, "t8 NOOP\r\n");
    /* Literal over IMAP_LITERAL_MAX, synchronising: ERROR at once, no '+'. */
    buf_printf(&in, "t9 LOGIN {%d}\r\n", IMAP_LITERAL_MAX + 1);
    buf_puts(&in, "t10 NOOP\r\n");
    /* The same non-synchronising: exactly n bytes skipped, then the line's rest. */
    buf_printf(&in, "t11 LOGIN {%d+}\r\n", IMAP_LITERAL_MAX + 1);
    for (int i = 0; i <= IMAP_LITERAL_MAX; i++) buf_putc(&in, i % 7 ? 'z' : '\n');
    buf_puts(&in, " {3+}\r\nabc more\r\n");
    buf_puts(&in, "t12 NOOP\r\n");
    /* Exactly IMAP_LITERAL_MAX is fine. */
    buf_printf(&in, "t13 SELECT {%d+}\r\n", IMAP_LITERAL_MAX);
    for (int i = 0; i < IMAP_LITERAL_MAX; i++) buf_putc(&in, 'm');
    buf_puts(&in, "\r\n");
    /* A tag too long to keep, or not a tag at all: "" */
    long_line(&in, "ttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt", in.len + IMAP_LINE_MAX + 1, "\r\n");
    long_line(&in, "t+", in.len + IMAP_LINE_MAX + 1, "\r\n");
    buf_puts(&in, "t14 NOOP\r\n");

    buf_puts(&want, "CMD t1 ");
    for (int i = 3; i < IMAP_LINE_MAX; i++) buf_putc(&want, 'x');
    buf_puts(&want, "\\r\\n\n");
    buf_puts(&want, "ERR tag=t2 line too long\n");
    buf_puts(&want, "ERR tag=t3 line too long\n");
    buf_puts(&want, "CMD t4 NOOP\\r\\n\n");
    buf_puts(&want, "ERR tag=t5 line too long\n");
    buf_puts(&want, "ERR tag=t7 line too long\n");
    buf_puts(&want, "CMD t8 NOOP\\r\\n\n");
    buf_puts(&want, "ERR tag=t9 literal too large\n");
    buf_puts(&want, "CMD t10 NOOP\\r\\n\n");
    buf_puts(&want, "ERR tag=t11 literal too large\n");
    buf_puts(&want, "CMD t12 NOOP\\r\\n\n");
    buf_printf(&want, "CMD t13 SELECT {%d+}\\r\\n", IMAP_LITERAL_MAX);
    for (int i = 0; i < IMAP_LITERAL_MAX; i++) buf_putc(&want, 'm');
    buf_puts(&want, "\\r\\n\n");
    buf_puts(&want, "ERR tag= line too long\n");
    buf_puts(&want, "ERR tag= line too long\n");
    buf_puts(&want, "CMD t14 NOOP\\r\\n\n");

    static const size_t chunks[] = { 0, 1, 4096, 65537 };
    for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
        imap_reader r;
        imap_reader_init(&r);
        buf log = BUF_INIT;
        feed_log(&r, in.p, in.len, chunks[k], &log);
        assert_int_equal(log.len, want.len);
        assert_memory_equal(log.p, want.p, want.len);
        buf_free(&log);
        imap_reader_free(&r);
    }
    buf_free(&in);
    buf_free(&want);
}

static void reader_append_limit_is_toobig_and_command_limit_holds(void **state)
{
    imap_reader r;
    imap_reader_init(&r);
    buf log = BUF_INIT;
    char line[128];
    int n;

    /* Synchronising APPEND over IMAP_APPEND_MAX: ERROR, toobig, no '+'. */
    n = snprintf(line, sizeof line, "A1 APPEND INBOX (\\Seen) {%d}\r\nA2 NOOP\r\n", IMAP_APPEND_MAX + 1);
    feed_log(&r, line, (size_t)n, 0, &log);
    assert_string_equal(log.p, "ERR tag=A1 message too large toobig\nCMD A2 NOOP\\r\\n\n");
    buf_reset(&log);

    /* Non-synchronising: all of it is skipped, without storing it. */
    n = snprintf(line, sizeof line, "A3 append INBOX {%d+}\r\n", IMAP_APPEND_MAX + 1);
    feed_log(&r, line, (size_t)n, 0, &log);
    static char block[1 << 16];
    memset(block, 'q', sizeof block);
    size_t left = (size_t)IMAP_APPEND_MAX + 1;
    while (left) {
        size_t k = left < sizeof block ? left : sizeof block, used;
        assert_int_equal(imap_reader_feed(&r, block, k, &used), IMAP_FRAME_NEED_MORE);
        assert_int_equal(used, k);
        left -= k;
    }
    assert_true(r.cmd.len < 100);
    feed_log(&r, "\r\nA4 NOOP\r\n", 11, 0, &log);
    assert_string_equal(log.p, "ERR tag=A3 message too large toobig\nCMD A4 NOOP\\r\\n\n");
    buf_reset(&log);

    /* Exactly IMAP_APPEND_MAX, then a second literal that pushes the command past
     * IMAP_COMMAND_MAX: "command too long", not toobig. */
    n = snprintf(line, sizeof line, "A5 APPEND INBOX {%d}\r\n", IMAP_APPEND_MAX);
    feed_log(&r, line, (size_t)n, 0, &log);
    assert_string_equal(log.p, "+\n");
    left = IMAP_APPEND_MAX;
    while (left) {
        size_t k = left < sizeof block ? left : sizeof block, used;
        assert_int_equal(imap_reader_feed(&r, block, k, &used), IMAP_FRAME_NEED_MORE);
        left -= k;
    }
    n = snprintf(line, sizeof line, " {%d}\r\nA6 NOOP\r\n", IMAP_LINE_MAX);
    feed_log(&r, line, (size_t)n, 0, &log);
    assert_string_equal(log.p, "+\nERR tag=A5 command too long\nCMD A6 NOOP\\r\\n\n");
    /* The 50 MB buffer was not kept for the small command after it. */
    assert_true(r.cmd.cap <= (size_t)IMAP_LINE_MAX + 1024);
    buf_free(&log);
    imap_reader_free(&r);
}

static void reader_same_result_for_every_split(void **state)
{
    static const char stream[] =
        "\r\n"
        "a1 LOGIN {5}\r\nalice {6+}\r\nsecret\r\n"
        "a2 SELECT \"INBOX\"\n"
        "a3 APPEND Sent (\\Seen) {10+}\r\nFrom: x\r\n\r\n"
        "a4 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM)])\r\n"
        "a5 SEARCH TEXT {0}\r\n CHARSET\r\n"
        "a6 SELECT {99999999999+}\r\n"
        "a7 SEARCH {3}\r\n{1}\r\n"
        "a8 NOOP\r\n";
    imap_reader r;
    buf whole = BUF_INIT;
    imap_reader_init(&r);
    feed_log(&r, stream, sizeof stream - 1, 0, &whole);
    imap_reader_free(&r);
    assert_string_equal(whole.p,
        "CMD \\r\\n\n"
        "+\n"
        "CMD a1 LOGIN {5}\\r\\nalice {6+}\\r\\nsecret\\r\\n\n"
        "CMD a2 SELECT \"INBOX\"\\n\n"
        "CMD a3 APPEND Sent (\\\\Seen) {10+}\\r\\nFrom: x\\r\\n\\r\\n\n"
        "CMD a4 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM)])\\r\\n\n"
        "+\n"
        "CMD a5 SEARCH TEXT {0}\\r\\n CHARSET\\r\\n\n"
        "ERR tag=a6 invalid literal size\n"
        "+\n"
        "CMD a7 SEARCH {3}\\r\\n{1}\\r\\n\n"
        "CMD a8 NOOP\\r\\n\n");
    for (size_t chunk = 1; chunk < sizeof stream; chunk++) {
        buf log = BUF_INIT;
        imap_reader_init(&r);
        feed_log(&r, stream, sizeof stream - 1, chunk, &log);
        assert_string_equal(log.p, whole.p);
        imap_reader_free(&r);
        buf_free(&log);
    }
    buf_free(&whole);
}

static void reader_output_parses_with_byte_exact_literals(void **state)
{
    static const char in[] = "x APPEND \"Sent\" {7+}\r\na\0\r\n\xff\r\n\r\n";
    imap_reader r;
    imap_reader_init(&r);
    size_t used;
    assert_int_equal(imap_reader_feed(&r, in, sizeof in - 1, &used), IMAP_FRAME_COMMAND);
    assert_int_equal(used, sizeof in - 1);
    imap_cmd c;
    char err[128];
    assert_int_equal(imap_parse_command(r.cmd.p, r.cmd.len, &c, err, sizeof err), 0);
    assert_int_equal(c.message_len, 7);
    assert_memory_equal(c.message, "a\0\r\n\xff\r\n", 7);
    assert_true(c.message >= r.cmd.p && c.message < r.cmd.p + r.cmd.len);
    imap_cmd_free(&c);
    imap_reader_free(&r);
}

static void reader_feed_line_gives_one_bare_line(void **state)
{
    imap_reader r;
    imap_reader_init(&r);
    size_t used;
    static const char in[] = "AGFsaWNl {5}\r\n\r\nDONE\nb NOOP\r\n";
    size_t off = 0;
    assert_int_equal(imap_reader_feed_line(&r, in, sizeof in - 1, &used), IMAP_FRAME_COMMAND);
    assert_int_equal(r.cmd.len, 12);
    assert_string_equal(r.cmd.p, "AGFsaWNl {5}");
    off += used;
    assert_int_equal(imap_reader_feed_line(&r, in + off, sizeof in - 1 - off, &used), IMAP_FRAME_COMMAND);
    assert_int_equal(r.cmd.len, 0);
    off += used;
    /* byte by byte */
    imap_frame f = IMAP_FRAME_NEED_MORE;
    while (f == IMAP_FRAME_NEED_MORE) {
        f = imap_reader_feed_line(&r, in + off, 1, &used);
        off += used;
    }
    assert_int_equal(f, IMAP_FRAME_COMMAND);
    assert_string_equal(r.cmd.p, "DONE");
    assert_int_equal(imap_reader_feed(&r, in + off, sizeof in - 1 - off, &used), IMAP_FRAME_COMMAND);
    assert_string_equal(r.cmd.p, "b NOOP\r\n");

    /* Too long: skipped to its end, ERROR, then the stream goes on. */
    buf b = BUF_INIT;
    for (int i = 0; i < IMAP_LINE_MAX + 5; i++) buf_putc(&b, 'A');
    buf_puts(&b, "\r\nc NOOP\r\n");
    assert_int_equal(imap_reader_feed_line(&r, b.p, b.len, &used), IMAP_FRAME_ERROR);
    assert_string_equal(r.error, "line too long");
    assert_string_equal(r.tag, "");
    assert_int_equal(imap_reader_feed(&r, b.p + used, b.len - used, &used), IMAP_FRAME_COMMAND);
    assert_string_equal(r.cmd.p, "c NOOP\r\n");
    buf_free(&b);
    imap_reader_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(commands_without_arguments_parse_case_insensitively),
        cmocka_unit_test(tags_take_any_astring_char_but_plus),
        cmocka_unit_test(login_takes_atoms_quoted_strings_and_literals),
        cmocka_unit_test(authenticate_uppercases_mechanism_and_takes_initial_response),
        cmocka_unit_test(mailbox_commands_keep_the_name_as_sent),
        cmocka_unit_test(list_takes_wildcards_in_atoms_and_strings),
        cmocka_unit_test(status_items_become_bits),
        cmocka_unit_test(sequence_sets_keep_ranges_ordered_and_star),
        cmocka_unit_test(copy_move_and_uid_forms_fill_seq_and_mailbox),
        cmocka_unit_test(store_modes_flags_and_keywords),
        cmocka_unit_test(append_with_flags_date_and_literal),
        cmocka_unit_test(id_and_enable_collect_params),
        cmocka_unit_test(fetch_att_names_are_the_response_item_names),
        cmocka_unit_test(fetch_sections_fill_part_spec_fields_partial),
        cmocka_unit_test(bad_commands_give_reason_and_keep_tag),
        cmocka_unit_test(lists_are_bounded),
        cmocka_unit_test(search_keys_build_the_expected_tree),
        cmocka_unit_test(search_return_options_fill_esearch_and_bits),
        cmocka_unit_test(dollar_is_the_saved_result_in_message_sets),
        cmocka_unit_test(sort_and_thread_take_criteria_and_mandatory_charset),
        cmocka_unit_test(search_bad_keys_are_refused),
        cmocka_unit_test(search_nesting_is_bounded),
        cmocka_unit_test(utf7_round_trips),
        cmocka_unit_test(utf7_rejects_invalid_and_non_shortest_forms),
        cmocka_unit_test(write_string_quotes_or_uses_a_literal),
        cmocka_unit_test(written_strings_parse_back_to_the_same_bytes),
        cmocka_unit_test(format_datetime_has_the_fixed_form),
        cmocka_unit_test(reader_frames_lines_and_literals),
        cmocka_unit_test(reader_limits_skip_the_command_and_resume),
        cmocka_unit_test(reader_append_limit_is_toobig_and_command_limit_holds),
        cmocka_unit_test(reader_same_result_for_every_split),
        cmocka_unit_test(reader_output_parses_with_byte_exact_literals),
        cmocka_unit_test(reader_feed_line_gives_one_bare_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
