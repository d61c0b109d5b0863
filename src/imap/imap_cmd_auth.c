/*
 * imap_cmd_auth.c — LOGIN and AUTHENTICATE PLAIN (RFC 3501 6.2.2, 6.2.3;
 * RFC 4616 PLAIN; RFC 4959 SASL-IR), and opening the mailbox after them.
 *
 * SUMMARY
 *   imap_cmd_login         LOGIN user password
 *   imap_cmd_authenticate  AUTHENTICATE PLAIN [initial-response], or "+ " and wait
 *   imap_auth_sasl_line    the client's response line ("*" cancels: BAD)
 *   imap_auth_free         closes the mailbox, the watch and the key reference
 *
 * PROMISES
 *   - Plaintext passwords only over TLS, or from loopback when the server allows
 *     it (the same rule makes CAPABILITY say LOGINDISABLED).
 *   - Every failed login is answered AUTHENTICATIONFAILED after
 *     AUTH_FAIL_DELAY_MS, whatever failed (unknown address, wrong password,
 *     throttled, malformed PLAIN), so the reply and its timing reveal nothing.
 *     The delay sleeps in the worker: the pool has headroom for it (conn.h), and
 *     a connection runs at most one command at a time, so one client holds one
 *     worker at most.
 *   - Decoded credentials live on the stack and are wiped before return.
 *   - On success: the mailbox is open, a change watch is registered (holding a
 *     conn_ref until imap_auth_free removes it), the timeout is the
 *     authenticated one, and the tagged OK carries the new CAPABILITY.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/limits.h"
#include "util/log.h"
#include "net/conn.h"
#include "store/store.h"
#include "store/account.h"
#include "delivery/delivery.h"
#include "imap/imap_parse.h"
#include "imap/imap_server.h"
#include "imap/imap_session.h"

/* authzid NUL authcid NUL password (RFC 4616), each bounded. */
#define AUTH_PLAIN_MAX (2 * ADDRESS_MAX_LEN + PASSWORD_MAX_LEN + 2)
#define AUTH_PLAIN_B64_MAX (((AUTH_PLAIN_MAX + 2) / 3) * 4)

static int auth_plaintext_ok(imap_session *s)
{
    return conn_is_tls(s->c) || (conn_peer_is_loopback(s->c) && s->srv->plaintext_auth_loopback);
}

static void auth_watch_cb(void *arg)
{
    conn_notify(arg);
}

static void auth_failed(imap_session *s)
{
    s->reply_delay_ms = AUTH_FAIL_DELAY_MS;     /* answered later, by a timer */
    log_info("imap", "conn %llu %s: authentication failed", s->id, conn_peer_ip(s->c));
    imap_set_reply(s, IMAP_REPLY_NO, "AUTHENTICATIONFAILED", "Authentication failed.");
}

static void auth_open(imap_session *s, account_auth *au)
{
    const char *mbid = account_auth_mailbox_id(au);
    store_mailbox *m = NULL;
    store_status st = store_open(s->srv->datadir, mbid, account_auth_key(au), &m);
    if (st != STORE_OK) {
        log_error("imap", "conn %llu: mailbox %s does not open: %s", s->id, mbid, store_strerror(st));
        account_logout(au);
        imap_set_reply(s, IMAP_REPLY_NO, "UNAVAILABLE", "Mailbox temporarily unavailable.");
        return;
    }
    /* Mail that arrived while no session held the key was sealed into the
     * spool (issue 3): bring it into INBOX before the client looks. A failure
     * is logged and leaves the spool for the next login. */
    delivery_spool_drain(s->srv->datadir, m, NULL);
    s->auth = au;
    s->store = m;
    conn_ref(s->c);
    s->watch = store_watch_add(mbid, auth_watch_cb, s->c);
    if (!s->watch) {
        conn_unref(s->c);
        log_warn("imap", "conn %llu: mailbox %s: no change watch (IDLE will not wake)", s->id, mbid);
    }
    s->state = IMAP_STATE_AUTH;
    conn_set_timeout(s->c, IMAP_IDLE_TIMEOUT_SEC);
    imap_session_keywords(s);
    log_info("imap", "conn %llu %s: logged in to mailbox %s", s->id, conn_peer_ip(s->c), mbid);

    buf code = BUF_INIT;
    buf_puts(&code, "CAPABILITY ");
    imap_write_capability(s, &code);
    imap_set_reply(s, IMAP_REPLY_OK, code.p, "Logged in.");
    buf_free(&code);
}

static void auth_try(imap_session *s, const char *user, const char *password)
{
    if (!user || !password || !*user || strlen(user) > ADDRESS_MAX_LEN ||
        strlen(password) > PASSWORD_MAX_LEN) {
        auth_failed(s);
        return;
    }
    account_auth *au = NULL;
    account_status st = account_login(s->srv->acc, user, password, conn_peer_ip(s->c), &au);
    switch (st) {
    case ACCOUNT_OK:
        auth_open(s, au);
        return;
    case ACCOUNT_ERROR:
        log_error("imap", "conn %llu: account lookup failed", s->id);
        imap_set_reply(s, IMAP_REPLY_NO, "UNAVAILABLE", "Temporary authentication failure.");
        return;
    default:
        /* BADAUTH, NOTFOUND, INVALID and THROTTLED look the same from outside. */
        auth_failed(s);
        return;
    }
}

void imap_cmd_login(imap_session *s, imap_cmd *cmd)
{
    if (!auth_plaintext_ok(s)) {
        imap_set_reply(s, IMAP_REPLY_NO, "PRIVACYREQUIRED", "Plaintext authentication disallowed without TLS.");
        return;
    }
    auth_try(s, cmd->user, cmd->password);
}

/* Decodes and checks one PLAIN response, then logs in. */
static void auth_plain(imap_session *s, const char *b64, size_t len)
{
    unsigned char raw[AUTH_PLAIN_MAX + 1];
    size_t n = 0;
    const char *end = NULL;
    if (len > AUTH_PLAIN_B64_MAX) {
        auth_failed(s);
        return;
    }
    if (len == 1 && b64[0] == '=') len = 0;   /* RFC 4959: "=" is an empty response */
    if (len > 0 && (sodium_base642bin(raw, AUTH_PLAIN_MAX, b64, len, NULL, &n, &end,
                                      sodium_base64_VARIANT_ORIGINAL) != 0 || end != b64 + len)) {
        imap_set_reply(s, IMAP_REPLY_BAD, NULL, "Invalid base64 data.");
        goto out;
    }
    raw[n] = '\0';
    /* authzid NUL authcid NUL passwd: exactly two NULs. */
    unsigned char *nul1 = memchr(raw, '\0', n);
    unsigned char *nul2 = nul1 ? memchr(nul1 + 1, '\0', n - (size_t)(nul1 + 1 - raw)) : NULL;
    if (!nul1 || !nul2 || memchr(nul2 + 1, '\0', n - (size_t)(nul2 + 1 - raw))) {
        auth_failed(s);
        goto out;
    }
    const char *authzid = (const char *)raw, *authcid = (const char *)nul1 + 1;
    const char *password = (const char *)nul2 + 1;
    if (*authzid && strcmp(authzid, authcid) != 0) {
        /* No proxy authorisation: one may only act as oneself. */
        auth_failed(s);
        goto out;
    }
    auth_try(s, authcid, password);
out:
    sodium_memzero(raw, sizeof raw);
}

void imap_cmd_authenticate(imap_session *s, imap_cmd *cmd)
{
    if (!cmd->mechanism || strcmp(cmd->mechanism, "PLAIN") != 0) {
        imap_set_reply(s, IMAP_REPLY_NO, "CANNOT", "Unsupported authentication mechanism.");
        return;
    }
    if (!auth_plaintext_ok(s)) {
        imap_set_reply(s, IMAP_REPLY_NO, "PRIVACYREQUIRED", "Plaintext authentication disallowed without TLS.");
        return;
    }
    if (cmd->initial_response) {
        auth_plain(s, cmd->initial_response, strlen(cmd->initial_response));
        return;
    }
    buf_puts(&s->out, "+ \r\n");
    imap_flush(s);
    s->wait = IMAP_WAIT_SASL;
    free(s->wait_tag);
    s->wait_tag = xstrdup(cmd->tag);
    s->reply = IMAP_REPLY_NONE;
}

void imap_auth_sasl_line(imap_session *s, char *line, size_t len)
{
    if (len == 1 && line[0] == '*') {
        /* RFC 3501 6.2.2: the client cancels; the server answers BAD. */
        imap_set_reply(s, IMAP_REPLY_BAD, NULL, "Authentication cancelled.");
        return;
    }
    auth_plain(s, line, len);
}

void imap_auth_free(imap_session *s)
{
    if (s->watch) {
        store_watch_remove(s->watch);   /* after it returns the callback cannot run */
        s->watch = NULL;
        conn_unref(s->c);
    }
    if (s->store) {
        store_close(s->store);
        s->store = NULL;
    }
    if (s->auth) {
        account_logout(s->auth);
        s->auth = NULL;
    }
}
