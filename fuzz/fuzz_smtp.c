/*
 * fuzz_smtp.c — libFuzzer target for the SMTP command path: the session state
 * machine (framing, DATA, BDAT, every command) and the path/parameter grammar.
 *
 * Beyond "no crash, no leak, no UB" it checks properties that must hold for any
 * input, and aborts when one does not:
 *   - the session answers the same bytes fed whole, one byte at a time, and in
 *     chunks of the first input byte's size (message ids blanked);
 *   - every reply line is "ddd" + SP or "-" + text + CRLF, with no bare CR/LF,
 *     and the output never ends inside a multi-line reply;
 *   - a message handed to the backend is at most max_size + SMTP_TRACE_MAX;
 *   - a path that parses has a mailbox without control characters, within
 *     SMTP_MAILBOX_MAX, and its mailbox parses again to the very same mailbox
 *     (one spelling per address).
 *
 * Build: see the Makefile's fuzz target (every fuzz/fuzz_*.c is linked against
 * the sanitizer build of the library).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/limits.h"
#include "smtp/smtp_parse.h"
#include "smtp/smtp_session.h"

#define FUZZ_MAX_SIZE 4096

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_smtp: property violated: %s\n", what);
        abort();
    }
}

static int live;

static smtp_rcpt_status fuzz_rcpt(void *arg, const char *address, void **handle)
{
    size_t n = strlen(address);
    /* Some of each answer, decided by the address itself. */
    switch (n % 4) {
    case 0: *handle = malloc(1); live++; return SMTP_RCPT_OK;
    case 1: return SMTP_RCPT_UNKNOWN;
    case 2: return SMTP_RCPT_RELAY;
    default:
        if (!(n & 4)) return SMTP_RCPT_TEMPFAIL;
        *handle = malloc(1);
        live++;
        return SMTP_RCPT_OK;
    }
}

static int fuzz_deliver(void *arg, void *const *handles, size_t n, const char *msg, size_t len,
                        const char *id)
{
    check(n > 0 && n <= SMTP_RCPT_MAX, "deliver with 1..SMTP_RCPT_MAX recipients");
    check(len <= FUZZ_MAX_SIZE + SMTP_TRACE_MAX, "message within max_size + trace");
    check(strlen(id) == 16, "message id of 16 characters");
    return (len & 1) ? -1 : 0;
}

static void fuzz_release(void *arg, void *handle)
{
    free(handle);
    live--;
}

static int64_t fuzz_now(void) { return 1700000000; }

/* Feeds data in chunks (0 = all at once) until the session asks for STARTTLS
 * or to close; returns the replies in `out`. */
static void run_session(const uint8_t *data, size_t size, size_t chunk, buf *out)
{
    smtp_config cfg = { "mx.fuzz.example", FUZZ_MAX_SIZE, fuzz_now };
    smtp_backend be = { NULL, fuzz_rcpt, fuzz_deliver, fuzz_release };
    smtp_session *s = smtp_session_new(&cfg, &be, "192.0.2.1", 0, 1, 0);
    size_t off = 0;
    while (off < size) {
        size_t n = chunk ? (size - off < chunk ? size - off : chunk) : size - off;
        smtp_action act = smtp_session_feed(s, (const char *)data + off, n, out);
        off += n;
        if (act != SMTP_ACT_CONTINUE) break;
    }
    smtp_session_free(s);
    check(live == 0, "every recipient handle released");
}

static void blank_ids(buf *b)
{
    for (char *p = b->p; p && (p = strstr(p, "stored as ")); p += 10)
        if (strlen(p + 10) >= 16) memset(p + 10, 'X', 16);
}

static void check_replies(const buf *b)
{
    const char *p = b->p ? b->p : "";
    const char *end = p + b->len;
    int continued = 0;
    while (p < end) {
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        check(lf != NULL, "reply ends in LF");
        check(lf - p >= 5 && lf[-1] == '\r', "reply line ends in CRLF");
        check(p[0] >= '2' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9',
              "reply code");
        check(p[3] == ' ' || p[3] == '-', "reply separator");
        check(memchr(p, '\r', (size_t)(lf - p - 1)) == NULL, "no CR inside a reply line");
        continued = p[3] == '-';
        p = lf + 1;
    }
    check(!continued, "output does not end inside a multi-line reply");
}

static void fuzz_path(const char *s)
{
    smtp_path p, q;
    smtp_params pr;
    const char *reply = NULL;
    int kinds[2] = { 0, 1 };
    for (int k = 0; k < 2; k++) {
        int rc = kinds[k] ? smtp_parse_rcpt(s, &p, &pr, &reply) : smtp_parse_mail(s, &p, &pr, &reply);
        if (rc != 0) {
            check(reply && reply[0] >= '4' && reply[0] <= '5', "refusal has a 4xx/5xx reply");
            continue;
        }
        size_t n = strlen(p.mailbox);
        check(n <= SMTP_MAILBOX_MAX, "mailbox within SMTP_MAILBOX_MAX");
        for (size_t i = 0; i < n; i++)
            check((unsigned char)p.mailbox[i] >= 0x20 && p.mailbox[i] != 0x7f, "no control in mailbox");
        if (p.is_null || p.is_postmaster) continue;
        check(p.at > 0 && p.mailbox[p.at] == '@', "at points to the '@'");
        char again[SMTP_MAILBOX_MAX + 16];
        snprintf(again, sizeof again, "%s<%s>", kinds[k] ? "TO:" : "FROM:", p.mailbox);
        rc = kinds[k] ? smtp_parse_rcpt(again, &q, &pr, &reply) : smtp_parse_mail(again, &q, &pr, &reply);
        check(rc == 0, "a parsed mailbox parses again");
        check(strcmp(p.mailbox, q.mailbox) == 0, "one spelling per mailbox");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    size_t chunk = data[0] % 23;

    buf whole = BUF_INIT, bytewise = BUF_INIT, chunked = BUF_INIT;
    run_session(data + 1, size - 1, 0, &whole);
    run_session(data + 1, size - 1, 1, &bytewise);
    check_replies(&whole);
    blank_ids(&whole);
    blank_ids(&bytewise);
    check(whole.len == bytewise.len && !memcmp(whole.p, bytewise.p, whole.len),
          "session independent of the split (1 byte)");
    if (chunk > 1) {
        run_session(data + 1, size - 1, chunk, &chunked);
        blank_ids(&chunked);
        check(whole.len == chunked.len && !memcmp(whole.p, chunked.p, whole.len),
              "session independent of the split (chunks)");
    }
    buf_free(&whole);
    buf_free(&bytewise);
    buf_free(&chunked);

    /* The grammar on its own, on the input as one line. */
    char *s = malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    fuzz_path(s);
    free(s);
    return 0;
}
