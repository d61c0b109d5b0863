/*
 * smtp_session.c — the SMTP server state machine (see smtp_session.h).
 *
 * SUMMARY
 *   Framing: command lines end at LF (a CR before it is dropped; a bare LF is
 *   tolerated, as every MTA does); DATA content is read line by line with
 *   dot-unstuffing; BDAT chunks are read as exact byte counts (RFC 3030).
 *   States: connected (no HELO/EHLO yet) -> greeted -> in a transaction (after
 *   MAIL) -> reading content (DATA or BDAT chunks) -> greeted again.
 *
 * CHOICES (written down as asked)
 *   - End of DATA is exactly CRLF "." CRLF. A line that ends in a bare LF is a
 *     line (dot-unstuffed like any other), but a "." after it does not end the
 *     message: "\n.\r\n" and ".\n" stay content. That closes the "SMTP
 *     smuggling" ambiguity (CVE-2023-51764) while still accepting mail from
 *     senders that use bare LF; the store normalises line ends to CRLF.
 *   - DSN (RFC 3461) is not advertised: advertising it promises "delivered"
 *     notifications, which need the outbound queue (not built yet). Its
 *     parameters (RET ENVID NOTIFY ORCPT) are still accepted, checked and
 *     ignored, for clients that send them anyway.
 *   - One reply for the whole message: when any recipient's copy fails, the
 *     client gets "451 4.3.0" and retries the whole message later. Recipients
 *     whose copy was stored may then get it twice; none loses it (promise 3
 *     over "exactly once" — SMTP has no per-recipient reply after DATA, and a
 *     250 for a partial delivery would lose mail silently).
 *   - Enhanced status codes (RFC 2034/3463) in every reply, also after HELO.
 *   - The trace header "for <address>" is written only for a single recipient,
 *     so one recipient's copy never names the others.
 *   - <postmaster> without a domain (RFC 5321 4.5.1) is postmaster@<hostname>.
 *   - Quotas (RFC 3463 X.2.2 "mailbox full"): a recipient whose mailbox is
 *     over its quota, or cannot take the SIZE declared at MAIL (RFC 1870 6.2),
 *     is refused at RCPT with "452 4.2.2": temporary, so the sender retries
 *     while the owner makes room, and per recipient, so the others still get
 *     the message. After DATA/BDAT there is one reply for the whole message.
 *     When no recipient can take it: "552 5.2.2", nothing stored (RFC 5321
 *     4.2.3: 552 "exceeded storage allocation"). When only some cannot, it is
 *     stored for all and "250" sent: a 5xx would bounce it for those with
 *     room, a 4xx would make the client send it to them again. So a quota may
 *     be passed by this one message; the next RCPT to that mailbox gets 452.
 *     Senders that declare SIZE (every MTA does) never get that far: their
 *     over-quota recipients were refused at RCPT.
 *
 * DIAGNOSTICS
 *   Nothing fails here except what the backend reports; allocation failure
 *   aborts (util/alloc.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "util/log.h"
#include "smtp/smtp_parse.h"
#include "smtp/smtp_session.h"

/* Replies (no CRLF). */
#define R_OK            "250 2.0.0 Ok"
#define R_MAIL_OK       "250 2.1.0 Ok"
#define R_RCPT_OK       "250 2.1.5 Ok"
#define R_DATA_GO       "354 End data with <CR><LF>.<CR><LF>"
#define R_TLS_GO        "220 2.0.0 Ready to start TLS"
#define R_BYE           "221 2.0.0 Bye"
#define R_VRFY          "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery"
#define R_UNKNOWN_CMD   "500 5.5.2 Error: command not recognized"
#define R_BAD_CHARS     "500 5.5.2 Error: invalid characters in command"
#define R_LINE_LONG     "500 5.5.2 Line too long"
#define R_NO_PARAMS     "501 5.5.4 Syntax error: no parameters allowed"
#define R_EHLO_SYNTAX   "501 5.5.4 Syntax: EHLO hostname"
#define R_HELO_SYNTAX   "501 5.5.4 Syntax: HELO hostname"
#define R_VRFY_SYNTAX   "501 5.5.4 Syntax: VRFY address"
#define R_EXPN          "502 5.5.1 Error: EXPN not available"
#define R_AUTH          "502 5.5.1 Error: authentication not enabled"
#define R_NEED_HELO     "503 5.5.1 Error: send HELO/EHLO first"
#define R_NESTED_MAIL   "503 5.5.1 Error: nested MAIL command"
#define R_NEED_MAIL     "503 5.5.1 Error: need MAIL command"
#define R_NEED_RCPT     "554 5.5.1 Error: no valid recipients"
#define R_DATA_AFTER_BDAT "503 5.5.1 Error: DATA not allowed after BDAT"
#define R_RCPT_AFTER_BDAT "503 5.5.1 Error: RCPT not allowed after BDAT"
#define R_TLS_ACTIVE    "503 5.5.1 Error: TLS already active"
#define R_TLS_IN_MAIL   "503 5.5.1 Error: MAIL transaction in progress"
#define R_TLS_NONE      "454 4.7.0 TLS not available"
#define R_TOO_BIG       "552 5.3.4 Message size exceeds fixed maximum message size"
#define R_LONG_CONTENT  "554 5.6.0 Message has a line too long"
#define R_NEEDS_UTF8    "553 5.6.7 Non-ASCII address requires SMTPUTF8"
#define R_RCPT_UNKNOWN  "550 5.1.1 Recipient address rejected: user unknown"
#define R_RCPT_RELAY    "554 5.7.1 Relay access denied"
#define R_RCPT_TEMP     "451 4.3.0 Error: temporary failure, try again later"
#define R_TOO_MANY      "452 4.5.3 Error: too many recipients"
#define R_DELIVER_FAIL  "451 4.3.0 Error: delivery failed, try again later"
#define R_RCPT_FULL     "452 4.2.2 Mailbox full"
#define R_MSG_FULL      "552 5.2.2 Mailbox full"

/* Random bytes of a message id (16 hex characters in replies and logs). */
#define SMTP_ID_BYTES 8

typedef enum smtp_mode {
    SMTP_MODE_COMMAND = 0,
    SMTP_MODE_DATA,          /* after 354 until CRLF.CRLF */
    SMTP_MODE_CHUNK,         /* chunk_left bytes of a BDAT chunk */
    SMTP_MODE_DEAD,          /* after CLOSE: ignore everything */
    SMTP_MODE_TLS_WAIT,      /* after 220 to STARTTLS: ignore until tls_started */
} smtp_mode;

struct smtp_session {
    smtp_config cfg;
    smtp_backend be;
    char ip[64];
    unsigned long long log_id;
    int tls, tls_available;

    int greeted;             /* 0: none, 1: HELO, 2: EHLO */
    char *helo;              /* the client's name, only when syntactically valid */
    unsigned errors;

    smtp_mode mode;
    buf in;                  /* unconsumed input */
    size_t off;
    int skipping;            /* dropping the rest of an over-long command line */

    /* The transaction. */
    int in_mail;
    smtp_path sender;
    int smtputf8;
    uint64_t declared_size;  /* SIZE= of MAIL (RFC 1870); 0 when none */
    void **rcpts;
    size_t nrcpts;
    char first_rcpt[SMTP_MAILBOX_MAX + 1];
    char id[2 * SMTP_ID_BYTES + 1];

    /* The message being received. */
    int content_started;     /* trace headers written to msg */
    int bdat;                /* BDAT chunks have been received (no DATA any more) */
    buf msg;
    uint64_t content_len;    /* client octets (after unstuffing) */
    int too_big, long_line;
    size_t line_len;         /* of the content line in progress */
    int mid_line;            /* DATA: the previous piece did not end a line */
    int prev_crlf;           /* DATA: the previous line ended in CRLF */
    int last_cr;             /* DATA: the previous piece ended in CR */
    uint64_t chunk_left;
    int chunk_last;
    uint64_t chunk_size;
    const char *chunk_reject; /* reply once the chunk has been skipped */
    int chunk_reset;          /* and then drop the transaction */
};

/* --- Replies ------------------------------------------------------------------------ */

static void reply(smtp_session *s, buf *out, const char *line)
{
    buf_puts(out, line);
    buf_puts(out, "\r\n");
    /* 452 4.5.3 is a normal part of sending to many recipients (RFC 5321 4.5.3.1.10). */
    if ((line[0] == '4' || line[0] == '5') && strncmp(line, R_TOO_MANY, 9) != 0) s->errors++;
}

static void replyf(smtp_session *s, buf *out, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void replyf(smtp_session *s, buf *out, const char *fmt, ...)
{
    buf line = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&line, fmt, ap);
    va_end(ap);
    reply(s, out, buf_cstr(&line));
    buf_free(&line);
}

/* --- Transactions --------------------------------------------------------------------- */

static void msg_wipe(smtp_session *s)
{
    if (s->msg.p) sodium_memzero(s->msg.p, s->msg.cap);
    buf_free(&s->msg);
}

static void transaction_reset(smtp_session *s)
{
    for (size_t i = 0; i < s->nrcpts; i++)
        if (s->be.release) s->be.release(s->be.arg, s->rcpts[i]);
    free(s->rcpts);
    s->rcpts = NULL;
    s->nrcpts = 0;
    s->in_mail = 0;
    s->smtputf8 = 0;
    s->declared_size = 0;
    memset(&s->sender, 0, sizeof s->sender);
    s->first_rcpt[0] = '\0';
    s->id[0] = '\0';
    msg_wipe(s);
    s->content_started = s->bdat = 0;
    s->content_len = 0;
    s->too_big = s->long_line = 0;
    s->line_len = 0;
    s->mid_line = s->last_cr = 0;
    s->prev_crlf = 1;
}

static int64_t session_now(smtp_session *s)
{
    return s->cfg.now ? s->cfg.now() : (int64_t)time(NULL);
}

/* RFC 5322 3.3 date-time in UTC, independent of the locale. */
static void format_date(buf *b, int64_t t)
{
    static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) memset(&tm, 0, sizeof tm);
    buf_printf(b, "%s, %d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
               months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Return-Path: (RFC 5321 4.4: the final delivery adds it) and Received: with
 * the RFC 5321 4.4 clauses from, by, with (RFC 3848 / RFC 6531 4.3 keywords),
 * id, and for (one recipient only). */
static void content_start(smtp_session *s)
{
    if (s->content_started) return;
    s->content_started = 1;
    buf *b = &s->msg;
    buf_printf(b, "Return-Path: <%s>\r\n", s->sender.mailbox);
    buf_printf(b, "Received: from %s (", s->helo ? s->helo : "unknown");
    if (strchr(s->ip, ':')) buf_printf(b, "[IPv6:%s])\r\n", s->ip);
    else buf_printf(b, "[%s])\r\n", s->ip);
    const char *with = s->greeted == 1 ? "SMTP" : s->smtputf8 ? "UTF8SMTP" : "ESMTP";
    buf_printf(b, "\tby %s (Sealbox) with %s%s id %s", s->cfg.hostname, with,
               s->tls && s->greeted == 2 ? "S" : "", s->id);
    if (s->nrcpts == 1) buf_printf(b, "\r\n\tfor <%s>", s->first_rcpt);
    buf_puts(b, "; ");
    format_date(b, session_now(s));
    buf_puts(b, "\r\n");
}

/* Adds client content, unless a limit was passed (then it is counted and dropped). */
static void content_add(smtp_session *s, const char *p, size_t n)
{
    if (n == 0) return;
    s->content_len += n;
    if (s->content_len > s->cfg.max_size) {
        if (!s->too_big) msg_wipe(s);
        s->too_big = 1;
    }
    if (s->too_big || s->long_line) return;
    buf_append(&s->msg, p, n);
}

/* Tracks the current line's length over BDAT bytes. */
static void content_scan_lines(smtp_session *s, const char *p, size_t n)
{
    while (n > 0) {
        const char *lf = memchr(p, '\n', n);
        size_t k = lf ? (size_t)(lf - p) : n;
        s->line_len += k;
        if (s->line_len > SMTP_DATA_LINE_MAX + 1) s->long_line = 1;   /* +1: a CR before the LF */
        if (!lf) return;
        s->line_len = 0;
        p += k + 1;
        n -= k + 1;
    }
}

/* The message is complete: check the limits, deliver, reply, reset. */
static void message_finish(smtp_session *s, buf *out)
{
    if (s->too_big) {
        log_info("smtp", "conn %llu %s: message %s refused: over %llu octets", s->log_id, s->ip,
                 s->id, (unsigned long long)s->cfg.max_size);
        reply(s, out, R_TOO_BIG);
    } else if (s->long_line) {
        log_info("smtp", "conn %llu %s: message %s refused: line over %d octets", s->log_id, s->ip,
                 s->id, SMTP_DATA_LINE_MAX);
        reply(s, out, R_LONG_CONTENT);
    } else {
        content_start(s);
        int rc = s->be.deliver(s->be.arg, s->rcpts, s->nrcpts, buf_cstr(&s->msg), s->msg.len, s->id);
        if (rc == 0) {
            log_info("smtp", "conn %llu %s: message %s stored for %zu recipient(s), %zu octets",
                     s->log_id, s->ip, s->id, s->nrcpts, s->msg.len);
            replyf(s, out, "250 2.0.0 Ok: stored as %s", s->id);
        } else if (rc == SMTP_DELIVER_FULL) {
            log_info("smtp", "conn %llu %s: message %s refused: every recipient over quota",
                     s->log_id, s->ip, s->id);
            reply(s, out, R_MSG_FULL);
        } else {
            log_warn("smtp", "conn %llu %s: message %s: delivery failed, answered 451",
                     s->log_id, s->ip, s->id);
            reply(s, out, R_DELIVER_FAIL);
        }
    }
    transaction_reset(s);
}

/* --- DATA ------------------------------------------------------------------------------ */

/* One piece of content: a whole line with its LF (has_lf), or the start of an
 * over-long line. Returns 1 at the end of the message. */
static int data_piece(smtp_session *s, const char *p, size_t n, int has_lf)
{
    if (!s->mid_line) {
        if (has_lf && s->prev_crlf && n == 3 && memcmp(p, ".\r\n", 3) == 0) return 1;
        if (n > 0 && p[0] == '.') { p++; n--; }                 /* RFC 5321 4.5.2 */
    }
    if (has_lf) {
        int crlf = (n >= 2 && p[n - 2] == '\r') || (n == 1 && s->last_cr);
        size_t body = n - (n >= 2 && p[n - 2] == '\r' ? 2 : 1);
        if (s->line_len + body > SMTP_DATA_LINE_MAX) s->long_line = 1;
        s->line_len = 0;
        s->prev_crlf = crlf;
        s->mid_line = 0;
        s->last_cr = 0;
    } else {
        s->line_len += n;
        if (s->line_len > SMTP_DATA_LINE_MAX) s->long_line = 1;
        s->mid_line = 1;
        s->last_cr = n > 0 && p[n - 1] == '\r';
    }
    content_add(s, p, n);
    return 0;
}

/* Consumes DATA content from the input; returns 1 when the message ended. */
static int data_consume(smtp_session *s, buf *out)
{
    for (;;) {
        const char *p = s->in.p + s->off;
        size_t avail = s->in.len - s->off;
        if (avail == 0) return 0;
        const char *lf = memchr(p, '\n', avail);
        if (!lf) {
            /* Keep an incomplete line until its LF arrives, unless it is already
             * too long to be accepted: then it is dropped as it comes. */
            if (avail <= SMTP_DATA_LINE_MAX) return 0;
            data_piece(s, p, avail, 0);
            s->off += avail;
            return 0;
        }
        size_t n = (size_t)(lf - p) + 1;
        int end = data_piece(s, p, n, 1);
        s->off += n;
        if (end) {
            s->mode = SMTP_MODE_COMMAND;
            message_finish(s, out);
            return 1;
        }
    }
}

/* --- BDAT ------------------------------------------------------------------------------ */

static void chunk_finish(smtp_session *s, buf *out)
{
    s->mode = SMTP_MODE_COMMAND;
    if (s->chunk_reject) {
        reply(s, out, s->chunk_reject);
        s->chunk_reject = NULL;
        if (s->chunk_reset) transaction_reset(s);
        s->chunk_reset = 0;
        return;
    }
    if (s->chunk_last) {
        message_finish(s, out);
        return;
    }
    replyf(s, out, "250 2.0.0 Ok: %llu octets received", (unsigned long long)s->chunk_size);
}

static void chunk_consume(smtp_session *s, buf *out)
{
    size_t avail = s->in.len - s->off;
    size_t n = avail < s->chunk_left ? avail : (size_t)s->chunk_left;
    if (n > 0 && !s->chunk_reject) {
        content_scan_lines(s, s->in.p + s->off, n);
        content_add(s, s->in.p + s->off, n);
    }
    s->off += n;
    s->chunk_left -= n;
    if (s->chunk_left == 0) chunk_finish(s, out);
}

/* --- Commands ---------------------------------------------------------------------------- */

static void cmd_ehlo(smtp_session *s, const char *args, int extended, buf *out)
{
    if (!*args) {
        reply(s, out, extended ? R_EHLO_SYNTAX : R_HELO_SYNTAX);
        return;
    }
    /* RFC 5321 4.1.4: EHLO in a transaction aborts it, like RSET. */
    transaction_reset(s);
    free(s->helo);
    /* Kept for the Received: header only when it is a well-formed ASCII name;
     * any name is accepted (many clients send a bare host name or worse). */
    int ascii = 1;
    for (const char *q = args; *q; q++)
        if ((unsigned char)*q >= 0x80) ascii = 0;
    s->helo = ascii && smtp_helo_name_valid(args) ? xstrdup(args) : NULL;
    s->greeted = extended ? 2 : 1;
    if (!extended) {
        replyf(s, out, "250 %s", s->cfg.hostname);
        return;
    }
    buf_printf(out, "250-%s Hello [%s]\r\n", s->cfg.hostname, s->ip);
    buf_puts(out, "250-PIPELINING\r\n");
    buf_printf(out, "250-SIZE %llu\r\n", (unsigned long long)s->cfg.max_size);
    if (!s->tls && s->tls_available) buf_puts(out, "250-STARTTLS\r\n");
    buf_puts(out, "250-ENHANCEDSTATUSCODES\r\n"
                  "250-8BITMIME\r\n"
                  "250-SMTPUTF8\r\n"
                  "250 CHUNKING\r\n");
}

static void cmd_mail(smtp_session *s, const char *args, buf *out)
{
    if (!s->greeted) { reply(s, out, R_NEED_HELO); return; }
    if (s->in_mail) { reply(s, out, R_NESTED_MAIL); return; }
    smtp_params params;
    const char *why;
    if (smtp_parse_mail(args, &s->sender, &params, &why) < 0) {
        memset(&s->sender, 0, sizeof s->sender);
        reply(s, out, why);
        return;
    }
    int utf8 = (params.seen & SMTP_PARAM_SMTPUTF8) != 0;
    if (s->sender.utf8 && !utf8) {
        memset(&s->sender, 0, sizeof s->sender);
        reply(s, out, R_NEEDS_UTF8);
        return;
    }
    /* RFC 1870 6.1: a declared size over the limit is refused at once. */
    if ((params.seen & SMTP_PARAM_SIZE) && params.size > s->cfg.max_size) {
        memset(&s->sender, 0, sizeof s->sender);
        reply(s, out, R_TOO_BIG);
        return;
    }
    s->in_mail = 1;
    s->smtputf8 = utf8;
    s->declared_size = (params.seen & SMTP_PARAM_SIZE) ? params.size : 0;
    random_hex_id(s->id, SMTP_ID_BYTES);
    reply(s, out, R_MAIL_OK);
}

static void cmd_rcpt(smtp_session *s, const char *args, buf *out)
{
    if (!s->in_mail) { reply(s, out, s->greeted ? R_NEED_MAIL : R_NEED_HELO); return; }
    /* RFC 3030 2: the recipients are fixed once content has begun. */
    if (s->bdat) { reply(s, out, R_RCPT_AFTER_BDAT); return; }
    smtp_path path;
    smtp_params params;
    const char *why;
    if (smtp_parse_rcpt(args, &path, &params, &why) < 0) {
        reply(s, out, why);
        return;
    }
    if (path.utf8 && !s->smtputf8) { reply(s, out, R_NEEDS_UTF8); return; }
    if (s->nrcpts >= SMTP_RCPT_MAX) { reply(s, out, R_TOO_MANY); return; }
    char address[SMTP_MAILBOX_MAX + 1 + 256 + 1];
    if (path.is_postmaster) snprintf(address, sizeof address, "postmaster@%s", s->cfg.hostname);
    else snprintf(address, sizeof address, "%s", path.mailbox);
    void *handle = NULL;
    smtp_rcpt_status st = s->be.rcpt(s->be.arg, address, &handle);
    switch (st) {
    case SMTP_RCPT_OK:
        if (s->declared_size && s->be.fits && !s->be.fits(s->be.arg, handle, s->declared_size)) {
            if (s->be.release) s->be.release(s->be.arg, handle);
            reply(s, out, R_RCPT_FULL);
            return;
        }
        s->rcpts = xrealloc(s->rcpts, (s->nrcpts + 1) * sizeof *s->rcpts);
        s->rcpts[s->nrcpts++] = handle;
        if (s->nrcpts == 1) snprintf(s->first_rcpt, sizeof s->first_rcpt, "%s", path.mailbox);
        reply(s, out, R_RCPT_OK);
        return;
    case SMTP_RCPT_UNKNOWN:
        reply(s, out, R_RCPT_UNKNOWN);
        return;
    case SMTP_RCPT_RELAY:
        log_info("smtp", "conn %llu %s: relay attempt refused", s->log_id, s->ip);
        reply(s, out, R_RCPT_RELAY);
        return;
    case SMTP_RCPT_TEMPFAIL:
        reply(s, out, R_RCPT_TEMP);
        return;
    case SMTP_RCPT_FULL:
        reply(s, out, R_RCPT_FULL);
        return;
    }
    reply(s, out, R_RCPT_TEMP);
}

/* What keeps content from starting now, or NULL. */
static const char *content_refusal(smtp_session *s)
{
    if (!s->in_mail) return s->greeted ? R_NEED_MAIL : R_NEED_HELO;
    if (s->nrcpts == 0) return R_NEED_RCPT;
    return NULL;
}

static void cmd_data(smtp_session *s, const char *args, buf *out)
{
    if (*args) { reply(s, out, R_NO_PARAMS); return; }
    if (s->bdat) { reply(s, out, R_DATA_AFTER_BDAT); return; }
    const char *why = content_refusal(s);
    if (why) { reply(s, out, why); return; }
    content_start(s);
    s->mode = SMTP_MODE_DATA;
    s->prev_crlf = 1;
    s->mid_line = s->last_cr = 0;
    s->line_len = 0;
    reply(s, out, R_DATA_GO);
}

static void cmd_bdat(smtp_session *s, const char *args, buf *out)
{
    uint64_t size;
    int last;
    const char *why;
    /* Without a valid size we cannot know where the chunk ends: answer and
     * read what follows as commands (they will mostly be refused). */
    if (smtp_parse_bdat(args, &size, &last, &why) < 0) { reply(s, out, why); return; }
    s->mode = SMTP_MODE_CHUNK;
    s->chunk_left = size;
    s->chunk_size = size;
    s->chunk_last = last;
    s->chunk_reject = content_refusal(s);
    s->chunk_reset = 0;
    /* RFC 3030 2: the chunk is read whatever the reply, to stay in step. */
    if (!s->chunk_reject && s->content_len + size > s->cfg.max_size) {
        s->chunk_reject = R_TOO_BIG;
        s->chunk_reset = 1;
    }
    if (!s->chunk_reject) {
        content_start(s);
        s->bdat = 1;
    }
    if (size == 0) chunk_finish(s, out);
}

static void cmd_help(smtp_session *s, buf *out)
{
    buf_puts(out, "214-2.0.0 Sealbox accepts mail for the domains it serves\r\n"
                  "214-2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP");
    if (!s->tls && s->tls_available) buf_puts(out, " STARTTLS");
    buf_puts(out, "\r\n214 2.0.0 End of HELP info\r\n");
}

/* Returns the action the command asks of the caller. */
static smtp_action cmd_starttls(smtp_session *s, const char *args, buf *out)
{
    if (*args) { reply(s, out, R_NO_PARAMS); return SMTP_ACT_CONTINUE; }
    if (s->tls) { reply(s, out, R_TLS_ACTIVE); return SMTP_ACT_CONTINUE; }
    if (!s->tls_available) { reply(s, out, R_TLS_NONE); return SMTP_ACT_CONTINUE; }
    if (s->in_mail) { reply(s, out, R_TLS_IN_MAIL); return SMTP_ACT_CONTINUE; }
    reply(s, out, R_TLS_GO);
    return SMTP_ACT_STARTTLS;
}

/* 1 when the line holds no NUL or other control character and is UTF-8. */
static int line_clean(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 && c != '\t') return 0;
        if (c == 0x7f) return 0;
    }
    return smtp_utf8_valid(p, n);
}

static smtp_action session_command(smtp_session *s, char *line, size_t n, buf *out)
{
    if (!line_clean(line, n)) { reply(s, out, R_BAD_CHARS); return SMTP_ACT_CONTINUE; }
    const char *args;
    smtp_verb v = smtp_parse_verb(line, &args);
    log_debug("smtp", "conn %llu: %s", s->log_id, smtp_verb_name(v));
    switch (v) {
    case SMTP_VERB_EHLO:     cmd_ehlo(s, args, 1, out); break;
    case SMTP_VERB_HELO:     cmd_ehlo(s, args, 0, out); break;
    case SMTP_VERB_MAIL:     cmd_mail(s, args, out); break;
    case SMTP_VERB_RCPT:     cmd_rcpt(s, args, out); break;
    case SMTP_VERB_DATA:     cmd_data(s, args, out); break;
    case SMTP_VERB_BDAT:     cmd_bdat(s, args, out); break;
    case SMTP_VERB_RSET:
        if (*args) { reply(s, out, R_NO_PARAMS); break; }
        transaction_reset(s);
        reply(s, out, R_OK);
        break;
    case SMTP_VERB_NOOP:     reply(s, out, R_OK); break;   /* RFC 5321 4.1.1.9: a string is allowed */
    case SMTP_VERB_QUIT:
        if (*args) { reply(s, out, R_NO_PARAMS); break; }
        reply(s, out, R_BYE);
        return SMTP_ACT_CLOSE;
    case SMTP_VERB_VRFY:     reply(s, out, *args ? R_VRFY : R_VRFY_SYNTAX); break;
    case SMTP_VERB_EXPN:     reply(s, out, R_EXPN); break;
    case SMTP_VERB_HELP:     cmd_help(s, out); break;
    case SMTP_VERB_STARTTLS: return cmd_starttls(s, args, out);
    case SMTP_VERB_AUTH:     reply(s, out, R_AUTH); break;
    case SMTP_VERB_UNKNOWN:  reply(s, out, R_UNKNOWN_CMD); break;
    }
    return SMTP_ACT_CONTINUE;
}

/* --- Input ----------------------------------------------------------------------------- */

static void input_compact(smtp_session *s)
{
    if (s->off == 0) return;
    size_t rest = s->in.len - s->off;
    memmove(s->in.p, s->in.p + s->off, rest);
    sodium_memzero(s->in.p + rest, s->in.len - rest);   /* it held message content */
    s->in.len = rest;
    s->in.p[rest] = '\0';
    s->off = 0;
}

static void input_drop(smtp_session *s)
{
    if (s->in.p) sodium_memzero(s->in.p, s->in.len);
    buf_reset(&s->in);
    s->off = 0;
    s->skipping = 0;
}

static smtp_action session_close(smtp_session *s)
{
    s->mode = SMTP_MODE_DEAD;
    input_drop(s);
    return SMTP_ACT_CLOSE;
}

/* Frames and runs command lines; returns when input runs out or the session
 * stops reading commands (content, STARTTLS, close). */
static smtp_action commands_consume(smtp_session *s, buf *out)
{
    while (s->mode == SMTP_MODE_COMMAND) {
        if (s->errors >= SMTP_ERRORS_MAX) {
            log_info("smtp", "conn %llu %s: too many errors, closing", s->log_id, s->ip);
            buf_printf(out, "421 4.7.0 %s Error: too many errors\r\n", s->cfg.hostname);
            return session_close(s);
        }
        char *p = s->in.p + s->off;
        size_t avail = s->in.len - s->off;
        if (avail == 0) return SMTP_ACT_CONTINUE;
        char *lf = memchr(p, '\n', avail);
        if (s->skipping) {
            /* We can't parse input that exceeds the line limit, so we skip over
             * it to its end to avoid loss of synchronization. */
            if (!lf) { s->off += avail; return SMTP_ACT_CONTINUE; }
            s->off += (size_t)(lf - p) + 1;
            s->skipping = 0;
            continue;
        }
        if (!lf) {
            if (avail < SMTP_COMMAND_LINE_MAX) return SMTP_ACT_CONTINUE;
            reply(s, out, R_LINE_LONG);
            s->skipping = 1;
            s->off += avail;
            continue;
        }
        size_t n = (size_t)(lf - p) + 1;
        s->off += n;
        if (n > SMTP_COMMAND_LINE_MAX) {
            reply(s, out, R_LINE_LONG);
        } else {
            size_t len = n - 1;
            if (len > 0 && p[len - 1] == '\r') len--;
            /* The line is parsed in place: end it for the C string functions. */
            char saved = p[len];
            p[len] = '\0';
            smtp_action act = session_command(s, p, len, out);
            p[len] = saved;
            if (act == SMTP_ACT_CLOSE) return session_close(s);
            if (act == SMTP_ACT_STARTTLS) {
                /* RFC 3207 4.2 / CVE-2011-0411: nothing sent before the
                 * handshake may be taken as coming through TLS. */
                s->mode = SMTP_MODE_TLS_WAIT;
                input_drop(s);
                return SMTP_ACT_STARTTLS;
            }
        }
    }
    return SMTP_ACT_CONTINUE;
}

smtp_action smtp_session_feed(smtp_session *s, const char *data, size_t len, buf *out)
{
    if (s->mode == SMTP_MODE_DEAD) return SMTP_ACT_CLOSE;
    if (s->mode == SMTP_MODE_TLS_WAIT) return SMTP_ACT_STARTTLS;
    if (len) buf_append(&s->in, data, len);
    smtp_action act = SMTP_ACT_CONTINUE;
    for (;;) {
        size_t before = s->off;
        smtp_mode m = s->mode;
        if (m == SMTP_MODE_COMMAND) {
            act = commands_consume(s, out);
            if (act != SMTP_ACT_CONTINUE) return act;
        } else if (m == SMTP_MODE_DATA) {
            data_consume(s, out);
        } else if (m == SMTP_MODE_CHUNK) {
            chunk_consume(s, out);
        }
        /* Stop when a pass neither consumed input nor changed mode. */
        if (s->off == before && s->mode == m) break;
    }
    input_compact(s);
    return act;
}

/* --- Lifetime ---------------------------------------------------------------------------- */

smtp_session *smtp_session_new(const smtp_config *cfg, const smtp_backend *be, const char *ip,
                               int tls, int tls_available, unsigned long long log_id)
{
    smtp_session *s = xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    s->be = *be;
    snprintf(s->ip, sizeof s->ip, "%s", ip ? ip : "unknown");
    s->tls = tls;
    s->tls_available = tls_available;
    s->log_id = log_id;
    s->prev_crlf = 1;
    return s;
}

void smtp_session_free(smtp_session *s)
{
    if (!s) return;
    transaction_reset(s);
    input_drop(s);
    buf_free(&s->in);
    free(s->helo);
    free(s);
}

void smtp_session_greeting(smtp_session *s, buf *out)
{
    buf_printf(out, "220 %s ESMTP Sealbox\r\n", s->cfg.hostname);
}

void smtp_session_tls_started(smtp_session *s)
{
    transaction_reset(s);
    input_drop(s);
    free(s->helo);
    s->helo = NULL;
    s->greeted = 0;
    s->tls = 1;
    s->mode = SMTP_MODE_COMMAND;
}

smtp_action smtp_session_timeout(smtp_session *s, buf *out)
{
    if (s->mode != SMTP_MODE_DEAD) {
        log_info("smtp", "conn %llu %s: timeout", s->log_id, s->ip);
        buf_printf(out, "421 4.4.2 %s Error: timeout exceeded\r\n", s->cfg.hostname);
    }
    session_close(s);
    return SMTP_ACT_CLOSE;
}
