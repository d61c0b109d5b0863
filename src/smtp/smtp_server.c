/*
 * smtp_server.c — connection events to the SMTP session, and the session's
 * backend onto delivery/ (see smtp_server.h).
 *
 * SUMMARY
 *   CONN_EV_OPEN      session, SMTP_TIMEOUT_SEC, "220" greeting
 *   CONN_EV_INPUT     reads in SMTP_READ_CHUNK pieces, feeds the session, writes
 *                     its replies after each piece (so pipelined replies go out
 *                     in groups, RFC 2920), starts TLS or closes when it says so
 *   CONN_EV_TIMEOUT   "421 4.4.2" and close
 *   CONN_EV_CLOSED    frees the session (and with it any half-received message)
 *
 * The backend: RCPT -> delivery_rcpt_lookup (and delivery_rcpt_fits for a
 * declared SIZE); the message -> delivery_deliver
 * with the time of receipt. A recipient record is a heap copy of
 * delivery_rcpt (mailbox id, sealing public key, address and actions).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/limits.h"
#include "util/log.h"
#include "net/conn.h"
#include "delivery/delivery.h"
#include "smtp/smtp_server.h"
#include "smtp/smtp_session.h"

/* Bytes moved from the connection per conn_read(). */
#define SMTP_READ_CHUNK (64 * 1024)

typedef struct smtp_conn {
    smtp_session *s;
    buf out;
} smtp_conn;

static smtp_rcpt_status backend_rcpt(void *arg, const char *address, void **handle)
{
    smtp_server *srv = arg;
    delivery_rcpt r;
    switch (delivery_rcpt_lookup(srv->dlv, address, &r)) {
    case DELIVERY_RCPT_OK:
        *handle = xmemdup(&r, sizeof r);
        return SMTP_RCPT_OK;
    case DELIVERY_RCPT_UNKNOWN:
        return SMTP_RCPT_UNKNOWN;
    case DELIVERY_RCPT_RELAY:
        return SMTP_RCPT_RELAY;
    case DELIVERY_RCPT_FULL:
        return SMTP_RCPT_FULL;
    case DELIVERY_RCPT_ERROR:
        break;
    }
    return SMTP_RCPT_TEMPFAIL;
}

static int backend_fits(void *arg, void *handle, uint64_t size)
{
    smtp_server *srv = arg;
    return delivery_rcpt_fits(srv->dlv, handle, size);
}

static int backend_deliver(void *arg, void *const *handles, size_t n, const char *msg, size_t len,
                           const char *id)
{
    smtp_server *srv = arg;
    int rc = delivery_deliver(srv->dlv, (const delivery_rcpt *const *)handles, n, msg, len,
                              (int64_t)time(NULL));
    return rc == DELIVERY_DELIVER_FULL ? SMTP_DELIVER_FULL : rc;
}

static void backend_release(void *arg, void *handle)
{
    free(handle);
}

static void conn_flush(conn *c, smtp_conn *sc)
{
    if (sc->out.len) conn_write(c, sc->out.p, sc->out.len);
    buf_reset(&sc->out);
}

static void conn_act(conn *c, smtp_conn *sc, smtp_action act)
{
    if (act == SMTP_ACT_STARTTLS) {
        /* The 220 (and any replies before it) go out with the switch to TLS,
         * so that input sent before the client saw them is dropped, and only that. */
        int rc = conn_starttls(c, sc->out.p, sc->out.len);
        buf_reset(&sc->out);
        if (rc == 0) {
            smtp_session_tls_started(sc->s);
        } else {
            log_warn("smtp", "conn %llu: STARTTLS failed", (unsigned long long)conn_id(c));
            conn_close(c);
        }
        return;
    }
    conn_flush(c, sc);
    if (act == SMTP_ACT_CLOSE) conn_close(c);
}

static void conn_input(conn *c, smtp_conn *sc)
{
    buf in = BUF_INIT;
    for (;;) {
        buf_reset(&in);
        if (conn_read(c, &in, SMTP_READ_CHUNK) == 0) break;
        smtp_action act = smtp_session_feed(sc->s, in.p, in.len, &sc->out);
        if (act != SMTP_ACT_CONTINUE) {
            conn_act(c, sc, act);
            if (act == SMTP_ACT_CLOSE) break;
            continue;
        }
        conn_flush(c, sc);
    }
    /* The chunk may have held message content. */
    if (in.p) sodium_memzero(in.p, in.cap);
    buf_free(&in);
}

void smtp_on_event(conn *c, void **sessp, unsigned events)
{
    smtp_conn *sc = *sessp;
    if (events & CONN_EV_OPEN) {
        smtp_server *srv = conn_handler_arg(c);
        smtp_config cfg = { srv->hostname, srv->max_message_size, NULL };
        smtp_backend be = { srv, backend_rcpt, backend_deliver, backend_release, backend_fits };
        sc = xcalloc(1, sizeof *sc);
        sc->s = smtp_session_new(&cfg, &be, conn_peer_ip(c), conn_is_tls(c), conn_tls_available(c),
                                 (unsigned long long)conn_id(c));
        *sessp = sc;
        log_debug("smtp", "conn %llu: open from %s%s", (unsigned long long)conn_id(c),
                  conn_peer_ip(c), conn_is_tls(c) ? " (TLS)" : "");
        conn_set_timeout(c, SMTP_TIMEOUT_SEC);
        smtp_session_greeting(sc->s, &sc->out);
        conn_flush(c, sc);
    }
    if (!sc) return;
    if (events & CONN_EV_CLOSED) {
        smtp_session_free(sc->s);
        buf_free(&sc->out);
        free(sc);
        *sessp = NULL;
        return;
    }
    if (events & CONN_EV_INPUT) conn_input(c, sc);
    if ((events & CONN_EV_TIMEOUT) && !(events & CONN_EV_INPUT))
        conn_act(c, sc, smtp_session_timeout(sc->s, &sc->out));
}
