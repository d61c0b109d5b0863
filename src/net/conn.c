/*
 * conn.c — one client connection: bufferevents on a network loop, events handed
 * to workers one at a time (see conn.h for the model and the backpressure choice).
 *
 * Invariants:
 *  - c->scheduled is 1 exactly while a run_conn job for c is queued or running;
 *    only run_conn clears it, so at most one on_event() runs for c at a time.
 *  - Once c->finished is set (CLOSED delivered), no job is ever scheduled again and
 *    c->bev is freed; c itself lives until its last reference goes.
 *  - libevent callbacks run on c->loop's thread; they never call the handler.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "util/alloc.h"
#include "util/limits.h"
#include "util/log.h"
#include "net/conn_internal.h"

/* How long queued output may take to reach a peer that has stopped reading, and
 * how long conn_close() waits for the last reply to go out. */
#define CONN_WRITE_TIMEOUT_SEC 120
#define CONN_CLOSE_POLL_MS     20

static void conn_readcb(struct bufferevent *bev, void *arg);
static void conn_writecb(struct bufferevent *bev, void *arg);
static void conn_eventcb(struct bufferevent *bev, short what, void *arg);

/* Called with c->mu held. */
static void conn_schedule_locked(conn *c, unsigned events);

static void conn_free_bev_on_loop(evutil_socket_t fd, short what, void *arg)
{
    struct bufferevent *bev = arg;
    bufferevent_disable(bev, EV_READ | EV_WRITE);
    bufferevent_free(bev);
}

static void run_conn(void *arg)
{
    conn *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        unsigned ev = c->pending;
        c->pending = 0;
        if (ev == 0 || c->finished) {
            c->scheduled = 0;
            pthread_mutex_unlock(&c->mu);
            return;
        }
        pthread_mutex_unlock(&c->mu);

        c->cfg->h->on_event(c, &c->sess, ev);
        if (!(ev & CONN_EV_CLOSED)) continue;

        /* CLOSED was the last event: tear down. The handler freed its session. */
        pthread_mutex_lock(&c->mu);
        c->finished = 1;
        c->scheduled = 0;
        c->pending = 0;
        struct bufferevent *bev = c->bev;
        c->bev = NULL;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        /* Callbacks are cleared first so that none already deferred can reach c;
         * the bufferevent itself is freed on its loop, which may be using it. */
        bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
        struct timeval now = { 0, 0 };
        if (event_base_once(c->loop->base, -1, EV_TIMEOUT, conn_free_bev_on_loop, bev, &now) < 0) {
            bufferevent_disable(bev, EV_READ | EV_WRITE);
            bufferevent_free(bev);
        }
        net_server_conn_gone(c->server, c);
        conn_unref(c);
        return;
    }
}

static void conn_schedule_locked(conn *c, unsigned events)
{
    if (c->finished) return;
    c->pending |= events;
    if (!c->scheduled) {
        c->scheduled = 1;
        worker_submit(net_server_workers(c->server), run_conn, c);
    }
}

static void conn_mark_dead_locked(conn *c)
{
    if (c->dead) return;
    c->dead = 1;
    pthread_cond_broadcast(&c->cv);
    conn_schedule_locked(c, CONN_EV_CLOSED);
}

static void conn_setup_bev(conn *c, struct bufferevent *bev)
{
    bufferevent_setcb(bev, conn_readcb, conn_writecb, conn_eventcb, c);
    /* The loop stops reading while this much input waits for the session. */
    bufferevent_setwatermark(bev, EV_READ, 0, NET_INPUT_HIGH_WATER);
    bufferevent_setwatermark(bev, EV_WRITE, NET_OUTPUT_LOW_WATER, 0);
    struct timeval rd = { (time_t)c->timeout_sec, 0 }, wr = { CONN_WRITE_TIMEOUT_SEC, 0 };
    bufferevent_set_timeouts(bev, c->timeout_sec ? &rd : NULL, &wr);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

conn *conn_new(struct net_server *s, net_loop *loop, const net_listener_cfg *cfg,
               evutil_socket_t fd, const char *ip, int loopback, uint64_t id)
{
    conn *c = xcalloc(1, sizeof *c);
    c->id = id;
    c->server = s;
    c->loop = loop;
    c->cfg = cfg;
    c->refs = 1;          /* the connection's own reference, dropped at teardown */
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    snprintf(c->ip, sizeof c->ip, "%s", ip);
    c->loopback = loopback;
    c->timeout_sec = IMAP_PREAUTH_TIMEOUT_SEC;

    int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_THREADSAFE | BEV_OPT_DEFER_CALLBACKS;
    if (cfg->tls_implicit) {
        SSL *ssl = SSL_new(cfg->tls_implicit);
        if (!ssl) goto fail;
        c->bev = bufferevent_openssl_socket_new(loop->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, opts);
        if (!c->bev) { SSL_free(ssl); goto fail; }
        bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
        c->tls = 1;
    } else {
        c->bev = bufferevent_socket_new(loop->base, fd, opts);
        if (!c->bev) goto fail;
    }
    conn_setup_bev(c, c->bev);
    pthread_mutex_lock(&c->mu);
    conn_schedule_locked(c, CONN_EV_OPEN);
    pthread_mutex_unlock(&c->mu);
    return c;
fail:
    log_error("net", "conn %llu: cannot set up connection", (unsigned long long)id);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
    evutil_closesocket(fd);
    return NULL;
}

void conn_kill(conn *c)
{
    pthread_mutex_lock(&c->mu);
    conn_mark_dead_locked(c);
    pthread_mutex_unlock(&c->mu);
}

/* --- libevent callbacks (loop thread) --------------------------------------------- */

static void conn_readcb(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    pthread_mutex_lock(&c->mu);
    if (!c->dead) conn_schedule_locked(c, CONN_EV_INPUT);
    pthread_mutex_unlock(&c->mu);
}

static void conn_writecb(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    pthread_mutex_lock(&c->mu);
    c->drained = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void conn_eventcb(struct bufferevent *bev, short what, void *arg)
{
    conn *c = arg;
    int read_timeout = (what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING);
    /* libevent disabled reading when the timer fired; the session decides. */
    if (read_timeout) bufferevent_enable(bev, EV_READ);
    pthread_mutex_lock(&c->mu);
    if (read_timeout && !c->dead) {
        conn_schedule_locked(c, CONN_EV_TIMEOUT);
    } else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        conn_mark_dead_locked(c);
    }
    pthread_mutex_unlock(&c->mu);
}

/* --- The handler's calls (worker thread) ------------------------------------------- */

size_t conn_read(conn *c, buf *out, size_t max)
{
    if (!c->bev) return 0;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t n = evbuffer_get_length(in);
    if (n > max) n = max;
    if (n == 0) return 0;
    buf_reserve(out, n);
    int got = evbuffer_remove(in, out->p + out->len, n);
    if (got <= 0) return 0;
    out->len += (size_t)got;
    out->p[out->len] = '\0';
    return (size_t)got;
}

size_t conn_input_pending(conn *c)
{
    return c->bev ? evbuffer_get_length(bufferevent_get_input(c->bev)) : 0;
}

int conn_write(conn *c, const void *data, size_t len)
{
    pthread_mutex_lock(&c->mu);
    if (c->dead || c->closing || !c->bev) {
        pthread_mutex_unlock(&c->mu);
        return -1;
    }
    struct bufferevent *bev = c->bev;
    pthread_mutex_unlock(&c->mu);
    if (bufferevent_write(bev, data, len) < 0) return -1;

    /* Backpressure: wait (holding this worker) while the peer is slow. The write
     * callback sets `drained` at the low-water mark; the length is read without
     * mu (lock order), and `drained` closes the gap between reading it and
     * waiting. The timed wait is only a safety net. */
    struct evbuffer *out = bufferevent_get_output(bev);
    for (;;) {
        size_t queued = evbuffer_get_length(out);
        pthread_mutex_lock(&c->mu);
        if (c->dead || queued <= NET_OUTPUT_HIGH_WATER) {
            int rc = c->dead ? -1 : 0;
            pthread_mutex_unlock(&c->mu);
            return rc;
        }
        if (!c->drained) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        }
        c->drained = 0;
        pthread_mutex_unlock(&c->mu);
    }
}

int conn_printf(conn *c, const char *fmt, ...)
{
    buf b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    int rc = conn_write(c, b.p, b.len);
    buf_free(&b);
    return rc;
}

/* STARTTLS happens on the loop thread: the switch must not race the loop's own
 * use of the bufferevent. The worker waits for it. */
static void conn_starttls_on_loop(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    pthread_mutex_lock(&c->mu);
    struct bufferevent *under = c->dead ? NULL : c->bev;
    pthread_mutex_unlock(&c->mu);
    int ok = 0;
    /* The session's worker waits for us, so nothing else touches c->bev now. */
    if (under) {
        /* Whatever the client sent before this moment was sent before it could
         * see the reply: pipelined plaintext, never to be executed as if it had
         * come through TLS. The reply is queued only now, on the loop thread,
         * so nothing can arrive between the drain and the switch. */
        struct evbuffer *in = bufferevent_get_input(under);
        evbuffer_drain(in, evbuffer_get_length(in));
        if (c->switch_reply_len) bufferevent_write(under, c->switch_reply, c->switch_reply_len);
        SSL *ssl = SSL_new(c->cfg->tls_starttls);
        struct bufferevent *tls = ssl ? bufferevent_openssl_filter_new(c->loop->base, under, ssl,
            BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_THREADSAFE | BEV_OPT_DEFER_CALLBACKS) : NULL;
        if (tls) {
            bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
            conn_setup_bev(c, tls);
            ok = 1;
        } else if (ssl) {
            SSL_free(ssl);
        }
        pthread_mutex_lock(&c->mu);
        if (tls) {
            c->bev = tls;
            c->tls = 1;
        }
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_lock(&c->mu);
    c->switch_done = ok ? 1 : -1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

int conn_starttls(conn *c, const void *reply, size_t len)
{
    if (c->tls || !c->cfg->tls_starttls) return -1;
    pthread_mutex_lock(&c->mu);
    c->switch_done = 0;
    c->switch_reply = reply;          /* the caller waits below: reply stays valid */
    c->switch_reply_len = len;
    pthread_mutex_unlock(&c->mu);
    struct timeval now = { 0, 0 };
    if (event_base_once(c->loop->base, -1, EV_TIMEOUT, conn_starttls_on_loop, c, &now) < 0) return -1;
    pthread_mutex_lock(&c->mu);
    while (c->switch_done == 0) pthread_cond_wait(&c->cv, &c->mu);
    int rc = c->switch_done > 0 ? 0 : -1;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int conn_is_tls(const conn *c) { return c->tls; }
int conn_tls_available(const conn *c) { return c->cfg->tls_starttls != NULL || c->cfg->tls_implicit != NULL; }

/* conn_close: poll on the loop until every queued byte (including what a TLS
 * filter passed to the socket below it) has been written, then close. */
static void conn_close_check(evutil_socket_t fd, short what, void *arg);

static void conn_close_arm(conn *c)
{
    struct timeval tv = { 0, CONN_CLOSE_POLL_MS * 1000 };
    if (event_base_once(c->loop->base, -1, EV_TIMEOUT, conn_close_check, c, &tv) < 0) {
        pthread_mutex_lock(&c->mu);
        conn_mark_dead_locked(c);
        pthread_mutex_unlock(&c->mu);
        conn_unref(c);
    }
}

static void conn_close_check(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    pthread_mutex_lock(&c->mu);
    /* c->bev stays valid during this callback: it is freed on this loop's thread. */
    struct bufferevent *bev = c->dead ? NULL : c->bev;
    pthread_mutex_unlock(&c->mu);
    int done = bev == NULL;
    if (!done) {
        size_t left = evbuffer_get_length(bufferevent_get_output(bev));
        struct bufferevent *under = bufferevent_get_underlying(bev);
        if (under) left += evbuffer_get_length(bufferevent_get_output(under));
        if (left == 0) {
            pthread_mutex_lock(&c->mu);
            conn_mark_dead_locked(c);
            pthread_mutex_unlock(&c->mu);
            done = 1;
        }
    }
    if (done) conn_unref(c);
    else conn_close_arm(c);   /* the write timeout bounds how long this goes on */
}

void conn_close(conn *c)
{
    pthread_mutex_lock(&c->mu);
    if (c->closing || c->dead) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    c->closing = 1;
    c->refs++;            /* held by the close check until it is done */
    struct bufferevent *bev = c->bev;
    pthread_mutex_unlock(&c->mu);
    if (bev) bufferevent_disable(bev, EV_READ);
    conn_close_arm(c);
}

void conn_set_timeout(conn *c, unsigned seconds)
{
    pthread_mutex_lock(&c->mu);
    c->timeout_sec = seconds;
    struct bufferevent *bev = c->dead ? NULL : c->bev;
    pthread_mutex_unlock(&c->mu);
    if (!bev) return;
    struct timeval rd = { (time_t)seconds, 0 }, wr = { CONN_WRITE_TIMEOUT_SEC, 0 };
    bufferevent_set_timeouts(bev, seconds ? &rd : NULL, &wr);
}

void conn_notify(conn *c)
{
    pthread_mutex_lock(&c->mu);
    if (!c->dead) conn_schedule_locked(c, CONN_EV_NOTIFY);
    pthread_mutex_unlock(&c->mu);
}

static void conn_notify_timer(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    conn_notify(c);
    conn_unref(c);
}

void conn_notify_after(conn *c, unsigned ms)
{
    conn_ref(c);
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    if (event_base_once(c->loop->base, -1, EV_TIMEOUT, conn_notify_timer, c, &tv) < 0) {
        conn_notify(c);           /* no timer: answer now rather than never */
        conn_unref(c);
    }
}

void conn_ref(conn *c)
{
    pthread_mutex_lock(&c->mu);
    c->refs++;
    pthread_mutex_unlock(&c->mu);
}

void conn_unref(conn *c)
{
    pthread_mutex_lock(&c->mu);
    int last = --c->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (!last) return;
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

const char *conn_peer_ip(const conn *c) { return c->ip; }
int conn_peer_is_loopback(const conn *c) { return c->loopback; }
uint64_t conn_id(const conn *c) { return c->id; }
void *conn_handler_arg(const conn *c) { return c->cfg->h->arg; }
