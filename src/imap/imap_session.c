/*
 * imap_session.c — the IMAP4rev1 session: connection events, framing, the state
 * machine (RFC 3501 3), dispatch, tagged and untagged replies, IDLE, and the
 * small commands (CAPABILITY NOOP LOGOUT STARTTLS CHECK NAMESPACE ID ENABLE).
 *
 * SUMMARY
 *   imap_on_event() is the conn_handler of net/conn.h. A session is created on
 *   CONN_EV_OPEN (greeting), reads and frames input on CONN_EV_INPUT and runs each
 *   whole command in order (pipelining), pushes untagged updates on
 *   CONN_EV_NOTIFY while in IDLE, says BYE on CONN_EV_TIMEOUT, and frees
 *   everything on CONN_EV_CLOSED.
 *
 * CHOICES (written down as asked)
 *   - Rate limit: a token bucket of IMAP_CMD_BURST commands refilled at
 *     IMAP_CMD_RATE per second. A client over it is slowed down, not refused: the
 *     worker sleeps until the next token (at most 1/IMAP_CMD_RATE s per command).
 *     An error ("NO [LIMIT]") would break honest clients that pipeline a burst;
 *     a delay only costs the flooder, and a connection holds at most one worker.
 *   - IMAP_BAD_COMMANDS_MAX BAD replies in a row end the connection with BYE.
 *   - A selected folder deleted or renamed away by another session: "* BYE" and
 *     close (as Dovecot does): nothing the client holds is valid any more.
 *   - Wrong state: BAD with the reason (RFC 3501 allows BAD or NO).
 *
 * PROMISES
 *   - Untagged updates of the selected folder follow every command in the
 *     selected state, before its tagged reply; EXPUNGE is held back after FETCH,
 *     STORE, SEARCH, SORT, THREAD and their UID forms (RFC 3501 7.4.1; the UID forms may send
 *     them, but holding back is allowed and safe for pipelining clients).
 *   - Nothing secret is logged: connection id, IP, mailbox id, command, result.
 *   - Bytes that carried a password (input buffer, framed command) are wiped.
 */
#include <errno.h>
#include <malloc.h>             /* malloc_trim (glibc) */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/limits.h"
#include "util/log.h"
#include "net/conn.h"
#include "store/store.h"
#include "store/account.h"
#include "mailbox/mailbox_name.h"
#include "imap/imap_parse.h"
#include "imap/imap_server.h"
#include "imap/imap_session.h"

/* Bytes moved from the connection per conn_read(). */
#define IMAP_READ_CHUNK (64 * 1024)

/* ---- Output ------------------------------------------------------------------------ */

void imap_flush(imap_session *s)
{
    if (s->out.len == 0) return;
    if (!s->out_failed && conn_write(s->c, s->out.p, s->out.len) != 0) s->out_failed = 1;
    buf_reset(&s->out);
}

void imap_flush_cb(void *arg, buf *out)
{
    imap_session *s = arg;
    (void)out;
    imap_flush(s);
}

void imap_set_reply(imap_session *s, imap_status st, const char *code, const char *text)
{
    s->reply = st;
    buf_reset(&s->reply_code);
    if (code) buf_puts(&s->reply_code, code);
    s->reply_text = text;
}

void imap_set_replyf(imap_session *s, imap_status st, const char *text, const char *codefmt, ...)
{
    s->reply = st;
    buf_reset(&s->reply_code);
    va_list ap;
    va_start(ap, codefmt);
    buf_vprintf(&s->reply_code, codefmt, ap);
    va_end(ap);
    s->reply_text = text;
}

void imap_reply_store(imap_session *s, store_status st, int trycreate)
{
    const char *code = "SERVERBUG";
    switch (st) {
    case STORE_OK:          imap_set_reply(s, IMAP_REPLY_OK, NULL, "Completed"); return;
    case STORE_NOTFOUND:    code = trycreate ? "TRYCREATE" : "NONEXISTENT"; break;
    case STORE_EXISTS:      code = "ALREADYEXISTS"; break;
    case STORE_INVALID:     code = "CANNOT"; break;
    case STORE_NOPERM:      code = "CANNOT"; break;
    case STORE_HASCHILDREN: code = "HASCHILDREN"; break;   /* RFC 9051 7.1 */
    case STORE_LIMIT:       code = "LIMIT"; break;
    case STORE_TOOBIG:      code = "TOOBIG"; break;        /* RFC 7889 */
    case STORE_OVERQUOTA:   code = "OVERQUOTA"; break;
    case STORE_GONE:        code = "NONEXISTENT"; break;
    case STORE_BADKEY:
    case STORE_ERROR:       code = "SERVERBUG"; break;
    }
    imap_set_reply(s, IMAP_REPLY_NO, code, store_strerror(st));
}

static int session_plaintext_ok(imap_session *s)
{
    return conn_is_tls(s->c) || (conn_peer_is_loopback(s->c) && s->srv->plaintext_auth_loopback);
}

void imap_write_capability(imap_session *s, buf *out)
{
    buf_printf(out, "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE"
                    " CHILDREN SPECIAL-USE APPENDLIMIT=%u ESEARCH SEARCHRES SORT SORT=DISPLAY ESORT"
                    " THREAD=ORDEREDSUBJECT THREAD=REFERENCES X-REGEX", (unsigned)IMAP_APPEND_MAX);
    if (s->srv && s->srv->backups) buf_puts(out, " X-BACKUP");      /* imap_cmd_backup.c */
    if (s->state == IMAP_STATE_NOTAUTH) {
        if (!conn_is_tls(s->c) && conn_tls_available(s->c)) buf_puts(out, " STARTTLS");
        /* RFC 3501 6.2.3 / 7.2.1: no plaintext login on an insecure channel. */
        buf_puts(out, session_plaintext_ok(s) ? " AUTH=PLAIN" : " LOGINDISABLED");
    }
}

static const char *session_status_word(imap_status st)
{
    switch (st) {
    case IMAP_REPLY_OK: return "OK";
    case IMAP_REPLY_NO: return "NO";
    default: return "BAD";
    }
}

/* Writes "tag STATUS [code] text" for the reply the command set. */
static uint64_t session_now_us(void);

static void session_tagged(imap_session *s, const char *tag)
{
    if (s->reply == IMAP_REPLY_NONE) return;
    imap_flush(s);
    buf *dst = s->reply_delay_ms ? &s->paused_reply : &s->out;
    buf_printf(dst, "%s %s ", tag, session_status_word(s->reply));
    if (s->reply_code.len) buf_printf(dst, "[%s] ", s->reply_code.p);
    buf_puts(dst, s->reply_text ? s->reply_text : "Completed");
    buf_puts(dst, "\r\n");
    if (s->reply == IMAP_REPLY_BAD) s->bad_in_row++;
    else s->bad_in_row = 0;
    if (s->reply_delay_ms) {
        s->paused = 1;
        s->paused_until_us = session_now_us() + (uint64_t)s->reply_delay_ms * 1000u;
        conn_notify_after(s->c, s->reply_delay_ms);
        s->reply_delay_ms = 0;
        return;
    }
    imap_flush(s);
}

/* The held-back reply is due: send it and go on with what the client sent meanwhile.
 * Returns 1 when the session was paused and may now read input again. */
static int session_resume(imap_session *s)
{
    if (!s->paused) return 0;
    uint64_t now = session_now_us();
    if (now < s->paused_until_us) {       /* early (another notify): wait on */
        conn_notify_after(s->c, (unsigned)((s->paused_until_us - now) / 1000u) + 1);
        return 0;
    }
    s->paused = 0;
    buf_append(&s->out, buf_cstr(&s->paused_reply), s->paused_reply.len);
    buf_reset(&s->paused_reply);
    imap_flush(s);
    return 1;
}

static void session_bye(imap_session *s, const char *text)
{
    buf_printf(&s->out, "* BYE %s\r\n", text);
    imap_flush(s);
    conn_close(s->c);
    s->state = IMAP_STATE_LOGOUT;
}

/* ---- Mailbox names ----------------------------------------------------------------- */

char *imap_mailbox_arg(imap_session *s, const char *wire)
{
    buf u = BUF_INIT;
    char *norm = NULL;
    if (!wire || imap_utf7_to_utf8(wire, &u) != 0) {
        imap_set_reply(s, IMAP_REPLY_NO, "CANNOT", "Mailbox name is not valid modified UTF-7");
        goto out;
    }
    if (strlen(buf_cstr(&u)) != u.len) {
        imap_set_reply(s, IMAP_REPLY_NO, "CANNOT", "Invalid mailbox name");
        goto out;
    }
    int rc = mailbox_name_normalize(buf_cstr(&u), &norm);
    if (rc == MAILBOX_NAME_LIMIT) {
        imap_set_reply(s, IMAP_REPLY_NO, "LIMIT", "Mailbox name too long or too deep");
        norm = NULL;
    } else if (rc != MAILBOX_NAME_OK) {
        imap_set_reply(s, IMAP_REPLY_NO, "CANNOT", "Invalid mailbox name");
        norm = NULL;
    }
out:
    buf_free(&u);
    return norm;
}

void imap_write_mailbox(buf *out, const char *name)
{
    buf w = BUF_INIT;
    if (imap_utf8_to_utf7(name, &w) == 0) imap_write_string(out, w.p ? w.p : "", w.len);
    else imap_write_string(out, name, strlen(name));
    buf_free(&w);
}

/* ---- Keywords and untagged updates ------------------------------------------------- */

static void session_keywords_free(imap_keywords *kw)
{
    for (size_t i = 0; i < kw->n; i++) free(kw->names[i]);
    free(kw->names);
    kw->names = NULL;
    kw->n = 0;
}

int imap_session_keywords(imap_session *s)
{
    char **names = NULL;
    size_t n = 0;
    if (!s->store || store_keywords(s->store, &names, &n) != STORE_OK) return 0;
    int changed = n != s->kw.n;
    for (size_t i = 0; !changed && i < n; i++) changed = strcmp(names[i], s->kw.names[i]) != 0;
    session_keywords_free(&s->kw);
    s->kw.names = names;
    s->kw.n = n;
    return changed;
}

/* "* FLAGS" and "* OK [PERMANENTFLAGS]" (RFC 3501 7.2.6, 7.1). New keywords can
 * be created while the mailbox file has room for them. */
static void session_write_flags(imap_session *s)
{
    buf_puts(&s->out, "* FLAGS ");
    imap_write_flag_list(&s->out, &s->kw, 0);
    buf_puts(&s->out, "\r\n* OK [PERMANENTFLAGS ");
    if (s->readonly) buf_puts(&s->out, "()");
    else imap_write_flag_list(&s->out, &s->kw, s->kw.n < IMAP_KEYWORDS_MAX);
    buf_puts(&s->out, "] Flags permitted.\r\n");
}

void imap_session_updates(imap_session *s, int allow_expunge, int with_uid)
{
    if (s->state != IMAP_STATE_SELECTED) return;
    store_changes ch;
    memset(&ch, 0, sizeof ch);
    store_status st = store_changes_since(s->store, s->view.folder_id, s->view.highestmodseq,
                                          !s->readonly, &ch);
    if (st == STORE_GONE) {
        log_debug("imap", "conn %llu: selected folder gone", s->id);
        imap_session_unselect(s);
        s->reply = IMAP_REPLY_NONE;
        session_bye(s, "Selected mailbox was deleted, have to disconnect.");
        goto out;
    }
    if (st != STORE_OK) {
        log_warn("imap", "conn %llu: changes of the selected folder: %s", s->id, store_strerror(st));
        goto out;
    }
    /* A keyword bit without a name: another session created a keyword. */
    int unknown_kw = 0;
    for (size_t i = 0; i < ch.nchanged && !unknown_kw; i++)
        unknown_kw = s->kw.n < 64 && (ch.changed[i].keywords >> s->kw.n) != 0;
    if (unknown_kw && imap_session_keywords(s)) session_write_flags(s);
    imap_view_apply(&s->view, &ch, allow_expunge, with_uid, &s->kw, &s->out, imap_flush_cb, s);
out:
    store_changes_clear(&ch);
}

/* A session that held a large folder (its view, sort facts and page cache: tens
 * of MB at 100,000 messages) returns that memory to the system when it lets go
 * of it: glibc keeps freed memory in per-thread arenas, and a session runs on
 * whichever worker is free, so the process grew by ~100 MB for each session
 * that had threaded such a folder (35 -> 290 MB after three; 76 MB with this).
 * malloc_trim takes ~15 ms then, so small folders do without it. */
#define SESSION_TRIM_MESSAGES 10000

static void session_note_release(imap_session *s)
{
    if (s->view.n >= SESSION_TRIM_MESSAGES || s->sortcache.n >= SESSION_TRIM_MESSAGES) s->trim_due = 1;
}

static void session_trim(imap_session *s)
{
    if (!s->trim_due) return;
    s->trim_due = 0;
    malloc_trim(0);
}

void imap_session_unselect(imap_session *s)
{
    session_note_release(s);
    imap_sortcache_clear(&s->sortcache);
    imap_view_free(&s->view);
    uidset_free(&s->searchres);        /* RFC 5182 2.1: $ is per selected mailbox */
    free(s->selected);
    s->selected = NULL;
    s->readonly = 0;
    if (s->state == IMAP_STATE_SELECTED) s->state = IMAP_STATE_AUTH;
}

/* ---- Small commands ----------------------------------------------------------------- */

static void cmd_capability(imap_session *s)
{
    buf_puts(&s->out, "* CAPABILITY ");
    imap_write_capability(s, &s->out);
    buf_puts(&s->out, "\r\n");
    imap_set_reply(s, IMAP_REPLY_OK, NULL, "Capability completed.");
}

static void cmd_logout(imap_session *s)
{
    buf_puts(&s->out, "* BYE Sealbox logging out\r\n");
    imap_set_reply(s, IMAP_REPLY_OK, NULL, "Logout completed.");
}

static void session_reset_input(imap_session *s)
{
    imap_reader_free(&s->reader);
    imap_reader_init(&s->reader);
    sodium_memzero(s->in.p ? s->in.p : (char *)"", s->in.p ? s->in.len : 0);
    buf_reset(&s->in);
    s->in_off = 0;
}

/* STARTTLS (RFC 3501 6.2.1, RFC 2595): the OK goes out in plaintext, then TLS;
 * whatever the client pipelined in plaintext is dropped (conn_starttls drains
 * the socket as it sends the OK, we drop what we had already read and framed). */
static void cmd_starttls(imap_session *s, const char *tag)
{
    if (conn_is_tls(s->c)) {
        imap_set_reply(s, IMAP_REPLY_BAD, NULL, "TLS is already active.");
        return;
    }
    if (!conn_tls_available(s->c)) {
        imap_set_reply(s, IMAP_REPLY_BAD, NULL, "TLS is not available.");
        return;
    }
    buf_printf(&s->out, "%s OK Begin TLS negotiation now.\r\n", tag);
    s->bad_in_row = 0;
    session_reset_input(s);
    int rc = conn_starttls(s->c, s->out.p, s->out.len);
    buf_reset(&s->out);
    if (rc != 0) {
        log_warn("imap", "conn %llu: STARTTLS failed", s->id);
        conn_close(s->c);
        s->state = IMAP_STATE_LOGOUT;
    }
    s->reply = IMAP_REPLY_NONE;
}

static void cmd_namespace(imap_session *s)
{
    /* RFC 2342: one personal namespace, no prefix, '/' as delimiter. */
    buf_puts(&s->out, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
    imap_set_reply(s, IMAP_REPLY_OK, NULL, "Namespace completed.");
}

static void cmd_id(imap_session *s)
{
    /* RFC 2971: the client's parameters are not logged (they may identify a person). */
    buf_puts(&s->out, "* ID (\"name\" \"Sealbox\" \"version\" \"0.1\")\r\n");
    imap_set_reply(s, IMAP_REPLY_OK, NULL, "ID completed.");
}

static void cmd_enable(imap_session *s)
{
    /* RFC 5161: nothing enableable is supported yet (no CONDSTORE/QRESYNC/UTF8). */
    buf_puts(&s->out, "* ENABLED\r\n");
    imap_set_reply(s, IMAP_REPLY_OK, NULL, "Enabled.");
}

static void cmd_idle(imap_session *s, const char *tag)
{
    buf_puts(&s->out, "+ idling\r\n");
    s->wait = IMAP_WAIT_DONE;
    free(s->wait_tag);
    s->wait_tag = xstrdup(tag);
    /* RFC 2177: changes are reported while idling, EXPUNGE included. */
    imap_session_updates(s, 1, 0);
    imap_flush(s);
    s->reply = IMAP_REPLY_NONE;
}

/* A session that waits for its client holds no SQLite connection when it can
 * do without one: in IDLE (it may sit there for days) and while logged in with
 * no mailbox selected (clients keep such connections open for STATUS polls).
 * The connection (schema, page cache, lookaside: most of a logged-in session's
 * memory, and three descriptors: the file, its WAL and shm) is closed
 * meanwhile and reopened with the key the session holds when the session has
 * work again (a command, DONE, a change to report). The change watch is by
 * mailbox id, not by handle, so nothing is missed while parked: updates are
 * computed from the view's modseq. A session paused in the middle of a reply
 * (s->paused) keeps its connection: it resumes with the commands after it. */
static void session_store_park(imap_session *s)
{
    if (!s->store || s->state == IMAP_STATE_LOGOUT || s->paused) return;
    int waiting = s->wait == IMAP_WAIT_DONE ||
                  (s->state == IMAP_STATE_AUTH && s->wait == IMAP_WAIT_COMMAND);
    if (!waiting) return;
    session_note_release(s);                 /* the page cache goes too */
    imap_sortcache_clear(&s->sortcache);     /* mail content: not kept while waiting */
    store_close(s->store);
    s->store = NULL;
    s->store_parked = 1;
    session_trim(s);
}

/* 0, or -1 when the mailbox does not open again (logged; the caller ends the
 * session: the client reconnects). */
static int session_store_unpark(imap_session *s)
{
    if (!s->store_parked) return 0;
    s->store_parked = 0;
    store_status st = store_open(s->srv->datadir, account_auth_mailbox_id(s->auth),
                                 account_auth_key(s->auth), &s->store);
    if (st == STORE_OK) return 0;
    log_error("imap", "conn %llu: mailbox %s does not open again: %s", s->id,
              account_auth_mailbox_id(s->auth), store_strerror(st));
    s->store = NULL;
    return -1;
}

static void session_idle_line(imap_session *s, const char *line, size_t len)
{
    if (len == 4 && strncasecmp(line, "DONE", 4) == 0) {
        imap_session_updates(s, 1, 0);
        imap_set_reply(s, IMAP_REPLY_OK, NULL, "Idle completed.");
    } else {
        imap_set_reply(s, IMAP_REPLY_BAD, NULL, "Expected DONE.");
    }
}

/* ---- Dispatch --------------------------------------------------------------------------- */

/* NULL when `k` may run in the current state, else the reason for BAD. */
static const char *session_state_error(imap_session *s, imap_cmd_kind k)
{
    switch (k) {
    case IMAP_CMD_CAPABILITY: case IMAP_CMD_NOOP: case IMAP_CMD_LOGOUT: case IMAP_CMD_ID:
        return NULL;
    case IMAP_CMD_STARTTLS: case IMAP_CMD_AUTHENTICATE: case IMAP_CMD_LOGIN:
        return s->state == IMAP_STATE_NOTAUTH ? NULL : "Already authenticated.";
    case IMAP_CMD_ENABLE:
        /* RFC 5161 3.1: before any mailbox is selected. */
        if (s->state == IMAP_STATE_NOTAUTH) return "Authenticate first.";
        return s->state == IMAP_STATE_AUTH ? NULL : "ENABLE is not allowed while a mailbox is selected.";
    case IMAP_CMD_SELECT: case IMAP_CMD_EXAMINE: case IMAP_CMD_CREATE: case IMAP_CMD_DELETE:
    case IMAP_CMD_RENAME: case IMAP_CMD_SUBSCRIBE: case IMAP_CMD_UNSUBSCRIBE: case IMAP_CMD_LIST:
    case IMAP_CMD_LSUB: case IMAP_CMD_STATUS: case IMAP_CMD_APPEND: case IMAP_CMD_NAMESPACE:
    case IMAP_CMD_IDLE: case IMAP_CMD_XBACKUP:
        return s->state == IMAP_STATE_NOTAUTH ? "Authenticate first." : NULL;
    case IMAP_CMD_CHECK: case IMAP_CMD_CLOSE: case IMAP_CMD_EXPUNGE: case IMAP_CMD_SEARCH:
    case IMAP_CMD_FETCH: case IMAP_CMD_STORE: case IMAP_CMD_COPY: case IMAP_CMD_MOVE:
    case IMAP_CMD_UNSELECT: case IMAP_CMD_SORT: case IMAP_CMD_THREAD:
        if (s->state == IMAP_STATE_NOTAUTH) return "Authenticate first.";
        return s->state == IMAP_STATE_SELECTED ? NULL : "No mailbox selected.";
    case IMAP_CMD_UNKNOWN:
        break;
    }
    return "Unknown command.";
}

static void session_execute(imap_session *s, imap_cmd *cmd, const char *tag)
{
    switch (cmd->kind) {
    case IMAP_CMD_CAPABILITY:   cmd_capability(s); break;
    case IMAP_CMD_NOOP:         imap_set_reply(s, IMAP_REPLY_OK, NULL, "NOOP completed."); break;
    case IMAP_CMD_CHECK:        imap_set_reply(s, IMAP_REPLY_OK, NULL, "Check completed."); break;
    case IMAP_CMD_LOGOUT:       cmd_logout(s); break;
    case IMAP_CMD_STARTTLS:     cmd_starttls(s, tag); break;
    case IMAP_CMD_LOGIN:        imap_cmd_login(s, cmd); break;
    case IMAP_CMD_AUTHENTICATE: imap_cmd_authenticate(s, cmd); break;
    case IMAP_CMD_SELECT:
    case IMAP_CMD_EXAMINE:      imap_cmd_select(s, cmd); break;
    case IMAP_CMD_CREATE:       imap_cmd_create(s, cmd); break;
    case IMAP_CMD_DELETE:       imap_cmd_delete(s, cmd); break;
    case IMAP_CMD_RENAME:       imap_cmd_rename(s, cmd); break;
    case IMAP_CMD_SUBSCRIBE:
    case IMAP_CMD_UNSUBSCRIBE:  imap_cmd_subscribe(s, cmd); break;
    case IMAP_CMD_LIST:
    case IMAP_CMD_LSUB:         imap_cmd_list(s, cmd); break;
    case IMAP_CMD_STATUS:       imap_cmd_status(s, cmd); break;
    case IMAP_CMD_APPEND:       imap_cmd_append(s, cmd); break;
    case IMAP_CMD_CLOSE:        imap_cmd_close(s, cmd); break;
    case IMAP_CMD_UNSELECT:     imap_cmd_unselect(s, cmd); break;
    case IMAP_CMD_EXPUNGE:      imap_cmd_expunge(s, cmd); break;
    case IMAP_CMD_SEARCH:       imap_cmd_search(s, cmd); break;
    case IMAP_CMD_SORT:         imap_cmd_sort(s, cmd); break;
    case IMAP_CMD_THREAD:       imap_cmd_thread(s, cmd); break;
    case IMAP_CMD_XBACKUP:      imap_cmd_xbackup(s, cmd); break;
    case IMAP_CMD_FETCH:        imap_cmd_fetch(s, cmd); break;
    case IMAP_CMD_STORE:        imap_cmd_store(s, cmd); break;
    case IMAP_CMD_COPY:
    case IMAP_CMD_MOVE:         imap_cmd_copy(s, cmd); break;
    case IMAP_CMD_IDLE:         cmd_idle(s, tag); break;
    case IMAP_CMD_NAMESPACE:    cmd_namespace(s); break;
    case IMAP_CMD_ID:           cmd_id(s); break;
    case IMAP_CMD_ENABLE:       cmd_enable(s); break;
    case IMAP_CMD_UNKNOWN:      imap_set_reply(s, IMAP_REPLY_BAD, NULL, "Unknown command."); break;
    }
}

static uint64_t session_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Token bucket (see CHOICES above): sleeps while the client is over the rate. */
static void session_throttle(imap_session *s)
{
    uint64_t now = session_now_us();
    if (s->tokens_at_us == 0) {
        s->tokens = IMAP_CMD_BURST;
        s->tokens_at_us = now;
    } else if (now > s->tokens_at_us) {
        /* tokens_at_us: the moment up to which refills have been credited. */
        s->tokens += (double)(now - s->tokens_at_us) * IMAP_CMD_RATE / 1e6;
        if (s->tokens > IMAP_CMD_BURST) s->tokens = IMAP_CMD_BURST;
        s->tokens_at_us = now;
    }
    if (s->tokens < 1.0) {
        uint64_t wait_us = (uint64_t)((1.0 - s->tokens) * 1e6 / IMAP_CMD_RATE) + 1;
        struct timespec ts = { (time_t)(wait_us / 1000000u), (long)(wait_us % 1000000u) * 1000L };
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
        s->tokens = 1.0;
        s->tokens_at_us += wait_us;
    }
    s->tokens -= 1.0;
}

/* A tag fit to echo: printable ASCII without space (the reader checks the
 * grammar; this only keeps a CR or LF out of our output whatever happens). */
static const char *session_safe_tag(const char *tag)
{
    if (!tag || !*tag) return "*";
    for (const char *p = tag; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) return "*";
    return tag;
}

static int session_cmd_allows_expunge(const imap_cmd *cmd)
{
    return cmd->kind != IMAP_CMD_FETCH && cmd->kind != IMAP_CMD_STORE &&
           cmd->kind != IMAP_CMD_SEARCH && cmd->kind != IMAP_CMD_SORT &&
           cmd->kind != IMAP_CMD_THREAD;
}

static void session_command(imap_session *s)
{
    imap_cmd cmd;
    char err[256] = "";
    memset(&cmd, 0, sizeof cmd);
    session_throttle(s);

    int rc = imap_parse_command(s->reader.cmd.p ? s->reader.cmd.p : "", s->reader.cmd.len,
                                &cmd, err, sizeof err);
    const char *tag = session_safe_tag(cmd.tag);
    imap_set_reply(s, IMAP_REPLY_NONE, NULL, NULL);
    if (rc != 0) {
        imap_set_reply(s, IMAP_REPLY_BAD, NULL, err[0] ? err : "Syntax error.");
        /* RFC 5182 2.1: a SEARCH (or SORT) that asked to SAVE and failed empties $. */
        if (cmd.search_return & IMAP_SEARCH_RETURN_SAVE) uidset_free(&s->searchres);
    } else {
        const char *why = session_state_error(s, cmd.kind);
        if (why) imap_set_reply(s, IMAP_REPLY_BAD, NULL, why);
        /* A restore replaced the mailbox (imap_cmd_backup.c): nothing the client holds is valid. */
        else if (imap_backup_replaced(s)) session_bye(s, "Mailbox restored from a backup, please reconnect.");
        else session_execute(s, &cmd, tag);
    }

    /* Untagged updates before the tagged reply of a command run while selected. */
    if (rc == 0 && s->state == IMAP_STATE_SELECTED && s->reply != IMAP_REPLY_NONE &&
        s->reply != IMAP_REPLY_BAD && cmd.kind != IMAP_CMD_SELECT && cmd.kind != IMAP_CMD_EXAMINE &&
        cmd.kind != IMAP_CMD_LOGOUT)
        imap_session_updates(s, session_cmd_allows_expunge(&cmd), cmd.uid);

    if (s->state != IMAP_STATE_LOGOUT || cmd.kind == IMAP_CMD_LOGOUT) session_tagged(s, tag);
    else s->reply = IMAP_REPLY_NONE;
    log_debug("imap", "conn %llu%s%s: %s -> %s", s->id,
              s->auth ? " mailbox " : "", s->auth ? account_auth_mailbox_id(s->auth) : "",
              cmd.name ? cmd.name : "?",
              s->reply == IMAP_REPLY_NONE ? "pending" : session_status_word(s->reply));

    if (cmd.kind == IMAP_CMD_LOGIN || cmd.kind == IMAP_CMD_AUTHENTICATE)
        sodium_memzero(s->reader.cmd.p ? s->reader.cmd.p : (char *)"", s->reader.cmd.p ? s->reader.cmd.len : 0);
    if (cmd.kind == IMAP_CMD_LOGOUT && rc == 0 && s->state != IMAP_STATE_LOGOUT) {
        conn_close(s->c);
        s->state = IMAP_STATE_LOGOUT;
    }
    imap_cmd_free(&cmd);
    imap_flush(s);
    if (s->state != IMAP_STATE_LOGOUT && s->bad_in_row >= IMAP_BAD_COMMANDS_MAX)
        session_bye(s, "Too many invalid commands.");
}

static void session_frame_error(imap_session *s)
{
    const char *tag = session_safe_tag(s->reader.tag);
    const char *why = s->reader.error ? s->reader.error : "Command too long.";
    if (s->reader.error_toobig) {
        /* RFC 7889: an APPEND over APPENDLIMIT is refused with [TOOBIG]. */
        buf_printf(&s->out, "%s NO [TOOBIG] %s\r\n", tag, why);
    } else {
        buf_printf(&s->out, "%s BAD %s\r\n", tag, why);
        s->bad_in_row++;
    }
    imap_flush(s);
    log_debug("imap", "conn %llu: framing error", s->id);
    if (s->bad_in_row >= IMAP_BAD_COMMANDS_MAX) session_bye(s, "Too many invalid commands.");
}

/* ---- Input ---------------------------------------------------------------------------- */

/* Drops consumed input; the bytes are wiped (they may have carried a password). */
static void session_compact(imap_session *s)
{
    if (s->in_off == 0) return;
    size_t rest = s->in.len - s->in_off;
    memmove(s->in.p, s->in.p + s->in_off, rest);
    sodium_memzero(s->in.p + rest, s->in.len - rest);
    s->in.len = rest;
    s->in.p[rest] = '\0';
    s->in_off = 0;
}

/* One line that is not a command (AUTHENTICATE response, IDLE's DONE), framed
 * by the reader in line mode (no literals; a line over IMAP_LINE_MAX is skipped
 * and reported). Returns 1 when it consumed something, 0 when it needs input. */
static int session_wait_line(imap_session *s)
{
    size_t avail = s->in.len - s->in_off, used = 0;
    imap_frame fr = imap_reader_feed_line(&s->reader, s->in.p + s->in_off, avail, &used);
    if (used > avail) used = avail;
    s->in_off += used;
    if (fr != IMAP_FRAME_COMMAND && fr != IMAP_FRAME_ERROR) return used > 0;

    char *tag = s->wait_tag;
    imap_wait w = s->wait;
    s->wait_tag = NULL;
    s->wait = IMAP_WAIT_COMMAND;
    imap_set_reply(s, IMAP_REPLY_NONE, NULL, NULL);
    if (fr == IMAP_FRAME_ERROR) {
        imap_set_reply(s, IMAP_REPLY_BAD, NULL, "Line too long.");
    } else {
        /* The framed line without its CRLF, NUL-terminated by buf. */
        char *line = s->reader.cmd.p ? s->reader.cmd.p : (char *)"";
        size_t len = s->reader.cmd.len;
        if (w == IMAP_WAIT_SASL) imap_auth_sasl_line(s, line, len);
        else session_idle_line(s, line, len);
        if (len) sodium_memzero(line, len);
    }
    session_tagged(s, session_safe_tag(tag));
    log_debug("imap", "conn %llu: %s -> %s", s->id, w == IMAP_WAIT_SASL ? "AUTHENTICATE" : "IDLE",
              s->reply == IMAP_REPLY_NONE ? "-" : session_status_word(s->reply));
    free(tag);
    if (s->state != IMAP_STATE_LOGOUT && s->bad_in_row >= IMAP_BAD_COMMANDS_MAX)
        session_bye(s, "Too many invalid commands.");
    return 1;
}

static void session_input(imap_session *s)
{
    int need_more = 0;
    for (;;) {
        if (s->state == IMAP_STATE_LOGOUT || s->paused) return;
        size_t avail = s->in.len - s->in_off;
        if (avail == 0 || need_more) {
            session_compact(s);
            if (conn_read(s->c, &s->in, IMAP_READ_CHUNK) == 0) return;
            need_more = 0;
            continue;
        }
        if (s->wait != IMAP_WAIT_COMMAND) {
            if (!session_wait_line(s)) need_more = 1;
            continue;
        }
        size_t used = 0;
        imap_frame fr = imap_reader_feed(&s->reader, s->in.p + s->in_off, avail, &used);
        if (used > avail) used = avail;
        s->in_off += used;
        switch (fr) {
        case IMAP_FRAME_NEED_MORE:
            need_more = 1;
            break;
        case IMAP_FRAME_CONTINUE:
            buf_puts(&s->out, "+ Ready for literal data\r\n");
            imap_flush(s);
            break;
        case IMAP_FRAME_COMMAND:
            session_command(s);
            break;
        case IMAP_FRAME_ERROR:
            session_frame_error(s);
            break;
        }
    }
}

/* ---- Lifetime ---------------------------------------------------------------------------- */

static imap_session *session_new(conn *c)
{
    imap_session *s = xcalloc(1, sizeof *s);
    s->c = c;
    s->srv = conn_handler_arg(c);
    s->id = (unsigned long long)conn_id(c);
    s->state = IMAP_STATE_NOTAUTH;
    imap_reader_init(&s->reader);
    imap_view_init(&s->view);
    return s;
}

static void session_free(imap_session *s)
{
    imap_session_unselect(s);
    imap_auth_free(s);
    session_trim(s);
    session_keywords_free(&s->kw);
    imap_reader_free(&s->reader);
    if (s->in.p) sodium_memzero(s->in.p, s->in.len);
    buf_free(&s->in);
    buf_free(&s->out);
    buf_free(&s->reply_code);
    buf_free(&s->paused_reply);
    free(s->wait_tag);
    free(s);
}

void imap_on_event(conn *c, void **sessp, unsigned events)
{
    imap_session *s = *sessp;
    if (events & CONN_EV_OPEN) {
        s = session_new(c);
        *sessp = s;
        log_debug("imap", "conn %llu: open from %s%s", s->id, conn_peer_ip(c),
                  conn_is_tls(c) ? " (TLS)" : "");
        buf_puts(&s->out, "* OK [CAPABILITY ");
        imap_write_capability(s, &s->out);
        buf_puts(&s->out, "] Sealbox ready.\r\n");
        imap_flush(s);
    }
    if (!s) return;
    if (events & CONN_EV_CLOSED) {
        log_debug("imap", "conn %llu: closed", s->id);
        session_free(s);
        *sessp = NULL;
        return;
    }
    /* A change reported to a session that is neither selected, nor idling
     * (a restore ends IDLE with BYE), nor paused needs no mailbox: it stays
     * parked. */
    int needs_store = (events & CONN_EV_INPUT) ||
                      ((events & CONN_EV_NOTIFY) &&
                       (s->state == IMAP_STATE_SELECTED || s->wait == IMAP_WAIT_DONE || s->paused));
    if (needs_store && session_store_unpark(s) < 0) {
        session_bye(s, "Mailbox temporarily unavailable.");
        imap_flush(s);
        return;
    }
    if ((events & CONN_EV_NOTIFY) && session_resume(s)) events |= CONN_EV_INPUT;
    if (events & CONN_EV_INPUT) session_input(s);
    if ((events & CONN_EV_NOTIFY) && s->wait == IMAP_WAIT_DONE && imap_backup_replaced(s)) {
        /* A restore replaced the mailbox while the client idled (it learns of it
         * now, not at its next command: store_watch_poll woke us). */
        session_bye(s, "Mailbox restored from a backup, please reconnect.");
    } else if ((events & CONN_EV_NOTIFY) && s->wait == IMAP_WAIT_DONE && s->state == IMAP_STATE_SELECTED) {
        imap_session_updates(s, 1, 0);
        imap_flush(s);
    }
    if ((events & CONN_EV_TIMEOUT) && !(events & CONN_EV_INPUT) && s->state != IMAP_STATE_LOGOUT)
        session_bye(s, "Autologout; idle for too long");
    imap_flush(s);
    session_store_park(s);
}
