/*
 * smtp_session.h — one SMTP server session (RFC 5321) as a state machine over
 * bytes: input in, replies out, with recipients and delivery behind a small
 * backend interface.
 *
 * SUMMARY
 *   smtp_session_new(cfg, backend, ip, ...)  a session for one connection
 *   smtp_session_greeting(s, out)            "220 host ESMTP Sealbox"
 *   smtp_session_feed(s, data, len, out)     consumes client bytes, appends replies;
 *                                            tells the caller to go on, to start
 *                                            TLS, or to close
 *   smtp_session_tls_started(s)              after the TLS handshake (RFC 3207 4.2)
 *   smtp_session_timeout(s, out)             "421 4.4.2 ..." and close
 *   smtp_session_free(s)
 *
 *   The session knows no sockets and no storage: smtp_server.c connects it to a
 *   net/conn.h connection and to delivery/ (src/delivery/delivery.h); the unit
 *   tests and the fuzz target drive it with bytes and a fake backend.
 *
 * PROMISES
 *   - Every input gets an answer or is part of a message: each command line gets
 *     exactly one reply (EHLO's and HELP's are multi-line), in order, whatever
 *     the client pipelines (RFC 2920); bad input gets a 4xx/5xx and the session
 *     goes on until SMTP_ERRORS_MAX error replies, then "421" and close.
 *   - Memory is bounded: a command line by SMTP_COMMAND_LINE_MAX, a content line
 *     by SMTP_DATA_LINE_MAX, a message by cfg.max_size plus SMTP_TRACE_MAX.
 *     Content past a limit is read and dropped, and refused after its end, so
 *     the session stays in step with the client.
 *   - The message exists only in memory (the backend decides where it goes);
 *     its buffer is wiped before it is freed.
 *   - backend.deliver is called once per message, with every accepted recipient,
 *     and "250" is sent only when it returned 0 (promise 3 of DESIGN.md).
 *   - Logs (util/log.h) name the connection, the client IP and the message id;
 *     never an address, a host name the client gave, or content.
 */
#ifndef SEALBOX_SMTP_SESSION_H
#define SEALBOX_SMTP_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef enum smtp_rcpt_status {
    SMTP_RCPT_OK = 0,      /* "250 2.1.5" */
    SMTP_RCPT_UNKNOWN,     /* a domain we serve, no such address: "550 5.1.1" */
    SMTP_RCPT_RELAY,       /* a domain we do not serve: "554 5.7.1" (no open relay) */
    SMTP_RCPT_TEMPFAIL,    /* the lookup failed: "451 4.3.0" */
    SMTP_RCPT_FULL,        /* the mailbox is over its quota: "452 4.2.2" (RFC 3463) */
} smtp_rcpt_status;

/* backend.deliver's answer when no recipient's quota can take the message:
 * nothing was stored; "552 5.2.2". */
#define SMTP_DELIVER_FULL (-2)

typedef struct smtp_backend {
    void *arg;
    /* RCPT time: `address` is smtp_path.mailbox ("local@domain"; a bare
     * <postmaster> arrives as "postmaster@<cfg.hostname>"). On SMTP_RCPT_OK,
     * *handle is the backend's record of the recipient, handed back to deliver
     * and release. */
    smtp_rcpt_status (*rcpt)(void *arg, const char *address, void **handle);
    /* After the message: stores `msg` (trace headers included) for every
     * recipient; 0 only when every copy is durable, SMTP_DELIVER_FULL when
     * nothing was stored because every recipient is over quota, -1 otherwise.
     * `id` names the message in logs. */
    int (*deliver)(void *arg, void *const *handles, size_t n, const char *msg, size_t len,
                   const char *id);
    void (*release)(void *arg, void *handle);
    /* RCPT after a MAIL with SIZE=n (RFC 1870): 0 when the accepted
     * recipient's quota cannot take n more octets (the session then releases
     * it and answers "452 4.2.2"), 1 when it can. NULL: everything fits. */
    int (*fits)(void *arg, void *handle, uint64_t size);
} smtp_backend;

typedef struct smtp_config {
    const char *hostname;        /* greeting, EHLO reply, Received: "by"; must outlive sessions */
    uint64_t max_size;           /* largest message, advertised as SIZE */
    int64_t (*now)(void);        /* clock for Received: (NULL: time()); tests fix it */
} smtp_config;

typedef enum smtp_action {
    SMTP_ACT_CONTINUE = 0,       /* write `out`, read more */
    SMTP_ACT_STARTTLS,           /* write `out` (the 220) in plaintext, then start TLS and
                                    call smtp_session_tls_started; later input is new */
    SMTP_ACT_CLOSE,              /* write `out`, then close */
} smtp_action;

typedef struct smtp_session smtp_session;

/* `ip`: the client's address as text ("192.0.2.1", "::1"); tls: the
 * connection is encrypted already (smtps); tls_available: STARTTLS may be
 * offered. log_id names the connection in logs. */
smtp_session *smtp_session_new(const smtp_config *cfg, const smtp_backend *be, const char *ip,
                               int tls, int tls_available, unsigned long long log_id);
void smtp_session_free(smtp_session *s);

void smtp_session_greeting(smtp_session *s, buf *out);
/* Consumes all of data[0..len) (keeping an incomplete line for the next call)
 * and appends the replies to `out`. After SMTP_ACT_STARTTLS or SMTP_ACT_CLOSE
 * the rest of the input is discarded, and so is anything fed later until
 * smtp_session_tls_started (after CLOSE: for good). */
smtp_action smtp_session_feed(smtp_session *s, const char *data, size_t len, buf *out);
/* TLS is up: the session starts over (no EHLO yet, no transaction). */
void smtp_session_tls_started(smtp_session *s);
/* The client was silent for SMTP_TIMEOUT_SEC: "421 4.4.2"; returns SMTP_ACT_CLOSE. */
smtp_action smtp_session_timeout(smtp_session *s, buf *out);

#endif
