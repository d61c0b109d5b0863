/*
 * conn.h — connections: sockets, TLS, and the hand-off from network loops to workers.
 *
 * MODEL
 *   A few network threads run one libevent loop each; an accepted connection is
 *   pinned to one loop, which reads, writes, does TLS and timers, and never blocks.
 *   Protocol code runs on worker threads: whenever something happens on a
 *   connection (input arrived, a notification, a timeout, the peer closed) the
 *   loop schedules the handler's on_event() on the worker pool. For one
 *   connection at most one on_event() runs at a time, and events that arrive
 *   meanwhile are delivered in a following call, so a session is plain
 *   straight-line code that needs no locks of its own.
 *
 *   An idle connection (or one in IMAP IDLE) costs no thread: only its socket,
 *   TLS state and buffers.
 *
 * BACKPRESSURE (the choice DESIGN.md asks us to write down)
 *   conn_write() from a worker blocks while more than NET_OUTPUT_HIGH_WATER bytes
 *   wait for the peer, until they drain below NET_OUTPUT_LOW_WATER. A huge FETCH to
 *   a slow client therefore holds one worker but bounded memory; the pool is sized
 *   with headroom for such blocked workers (workers = many times the cores), and
 *   a peer that stops reading is cut off by the write timeout.
 *   Input is bounded the same way: the loop stops reading from a socket while
 *   NET_INPUT_HIGH_WATER bytes of its input wait for the session.
 *
 * THREADS
 *   conn_* functions may be called from the worker running the connection's
 *   on_event(); conn_notify() and conn_ref()/conn_unref() from any thread.
 */
#ifndef SEALBOX_CONN_H
#define SEALBOX_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct conn conn;

#define CONN_EV_OPEN     0x01u   /* first event of every connection: send the greeting */
#define CONN_EV_INPUT    0x02u   /* bytes are waiting: conn_read() */
#define CONN_EV_NOTIFY   0x04u   /* conn_notify() was called */
#define CONN_EV_TIMEOUT  0x08u   /* the idle timer (conn_set_timeout) fired */
#define CONN_EV_CLOSED   0x10u   /* the peer closed or the connection failed: last event */

typedef struct conn_handler {
    const char *name;                 /* "imap", "imaps", ... for logs */
    /* Worker thread. `*sess` starts NULL; the handler creates its session on
     * CONN_EV_OPEN and must free it on CONN_EV_CLOSED (after which the conn is gone). */
    void (*on_event)(conn *c, void **sess, unsigned events);
    void *arg;                        /* conn_handler_arg() returns it */
} conn_handler;

/* Moves up to `max` waiting input bytes into `out` (appending); returns the count. */
size_t conn_read(conn *c, buf *out, size_t max);
/* Bytes waiting in the input, not yet read. */
size_t conn_input_pending(conn *c);

/* Queues bytes for the peer; blocks the calling worker while the output is over
 * the high-water mark. Returns 0, or -1 when the connection is closing. */
int conn_write(conn *c, const void *data, size_t len);
int conn_printf(conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Starts TLS on a plaintext connection (STARTTLS). `reply` (the response that
 * announces TLS, with any replies queued before it) goes out in plaintext, and
 * everything after it through TLS. Input the peer sent before it could have seen
 * the reply is discarded (RFC 3207 section 4.2 / CVE-2011-0411: no plaintext
 * command injection), and only that: the discard, the reply and the switch happen
 * in one step on the network loop, so a ClientHello sent in answer to the reply
 * is never mistaken for pipelined plaintext. Returns 0 or -1. */
int conn_starttls(conn *c, const void *reply, size_t len);
int conn_is_tls(const conn *c);
int conn_tls_available(const conn *c);   /* a certificate is configured */

/* Closes after the queued output has been written. A CONN_EV_CLOSED follows. */
void conn_close(conn *c);

/* Idle timer: CONN_EV_TIMEOUT after `seconds` without input (0 = none). */
void conn_set_timeout(conn *c, unsigned seconds);

/* Any thread: schedule a CONN_EV_NOTIFY. Safe after the connection closed as long
 * as the caller holds a reference. */
void conn_notify(conn *c);
/* Any thread: a CONN_EV_NOTIFY after `ms` milliseconds, from a timer on the
 * connection's loop (a reference is held meanwhile). Used to answer later
 * without holding a worker, e.g. the delayed reply to a failed login. */
void conn_notify_after(conn *c, unsigned ms);
void conn_ref(conn *c);
void conn_unref(conn *c);

const char *conn_peer_ip(const conn *c);       /* "127.0.0.1", "::1" */
int conn_peer_is_loopback(const conn *c);
uint64_t conn_id(const conn *c);               /* for logs */
void *conn_handler_arg(const conn *c);

#endif
