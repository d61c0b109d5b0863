/*
 * server.c — listeners, network loops, connection limits and shutdown (see server.h).
 *
 * Loop 0 runs on the thread that calls net_server_run() and owns the listeners and
 * the signal events; accepted connections are spread round-robin over all loops.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "util/alloc.h"
#include "util/limits.h"
#include "util/log.h"
#include "net/conn_internal.h"
#include "net/server.h"

#define NET_LISTENERS_MAX 16
#define NET_TIMERS_MAX    8
#define NET_IP_BUCKETS    1024
/* How long shutdown waits for sessions to finish before giving up on them. */
#define NET_SHUTDOWN_WAIT_SEC 10

typedef struct ip_count {
    char ip[64];
    int count;
    struct ip_count *next;
} ip_count;

struct net_server {
    net_loop *loops;
    int nloops;
    worker_pool *workers;
    struct evconnlistener *listeners[NET_LISTENERS_MAX];
    net_listener_cfg cfgs[NET_LISTENERS_MAX];
    int nlisteners;
    struct event *sig_term, *sig_int, *stop_ev, *drain_ev;
    struct event *timers[NET_TIMERS_MAX];
    struct net_timer { void (*fn)(void *); void *arg; } timer_cbs[NET_TIMERS_MAX];
    int ntimers;
    struct timeval drain_deadline;

    pthread_mutex_t mu;                  /* guards the connection list and counts */
    pthread_cond_t cv;
    conn *conns;
    int nconns;
    uint64_t next_id;
    unsigned rr;
    ip_count *by_ip[NET_IP_BUCKETS];
    int stopping;
};

static unsigned ip_hash(const char *ip)
{
    unsigned h = 5381;
    for (; *ip; ip++) h = h * 33 + (unsigned char)*ip;
    return h % NET_IP_BUCKETS;
}

/* Called with s->mu held. Returns the entry, creating it with count 0. */
static ip_count *ip_entry(net_server *s, const char *ip)
{
    unsigned h = ip_hash(ip);
    for (ip_count *e = s->by_ip[h]; e; e = e->next)
        if (!strcmp(e->ip, ip)) return e;
    ip_count *e = xcalloc(1, sizeof *e);
    snprintf(e->ip, sizeof e->ip, "%s", ip);
    e->next = s->by_ip[h];
    s->by_ip[h] = e;
    return e;
}

static void ip_release(net_server *s, const char *ip)
{
    unsigned h = ip_hash(ip);
    for (ip_count **pp = &s->by_ip[h]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->ip, ip)) continue;
        if (--(*pp)->count <= 0) {
            ip_count *dead = *pp;
            *pp = dead->next;
            free(dead);
        }
        return;
    }
}

worker_pool *net_server_workers(struct net_server *s) { return s->workers; }

static void stop_cb(evutil_socket_t fd, short what, void *arg);
static void drain_cb(evutil_socket_t fd, short what, void *arg);
static void signal_cb(evutil_socket_t sig, short what, void *arg);

net_server *net_server_new(int nloops, int nworkers)
{
    static int threads_ready;
    if (!threads_ready) {
        if (evthread_use_pthreads() < 0) {
            log_error("net", "libevent has no pthreads support");
            return NULL;
        }
        threads_ready = 1;
    }
    if (nloops < 1) nloops = 1;
    net_server *s = xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->nloops = nloops;
    s->loops = xcalloc((size_t)nloops, sizeof *s->loops);
    for (int i = 0; i < nloops; i++) {
        s->loops[i].base = event_base_new();
        if (!s->loops[i].base) {
            log_error("net", "cannot create event loop");
            abort();
        }
    }
    s->workers = worker_pool_new(nworkers);
    /* Signals are caught from here on, before any listener opens: a SIGTERM that
     * arrives once the ports accept (but before the loops run) is queued by
     * libevent and handled as soon as net_server_run starts, never fatal. */
    signal(SIGPIPE, SIG_IGN);
    s->stop_ev = event_new(s->loops[0].base, -1, 0, stop_cb, s);
    s->drain_ev = event_new(s->loops[0].base, -1, EV_PERSIST, drain_cb, s);
    s->sig_term = evsignal_new(s->loops[0].base, SIGTERM, signal_cb, s);
    s->sig_int = evsignal_new(s->loops[0].base, SIGINT, signal_cb, s);
    if (!s->stop_ev || !s->drain_ev || !s->sig_term || !s->sig_int ||
        event_add(s->sig_term, NULL) < 0 || event_add(s->sig_int, NULL) < 0) {
        log_error("net", "cannot set up signal handling");
        abort();
    }
    return s;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    net_listener_cfg *cfg = arg;
    net_server *s = cfg->server;
    char ip[64] = "?";
    int loopback = 0;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    } else if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) loopback = in6->sin6_addr.s6_addr[12] == 127;
    }
    /* Nagle + delayed ACK cost ~40 ms per TLS handshake here (DESIGN.md). */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    pthread_mutex_lock(&s->mu);
    ip_count *e = ip_entry(s, ip);
    if (s->stopping || s->nconns >= NET_CONN_MAX || e->count >= NET_CONN_PER_IP_MAX) {
        if (e->count == 0) ip_release(s, ip), e = NULL;
        pthread_mutex_unlock(&s->mu);
        log_warn("net", "refused connection from %s: connection limit", ip);
        /* Best effort, non-blocking: the line is short and the socket buffer empty. */
        if (!cfg->tls_implicit && cfg->refuse_line[0])
            (void)!send(fd, cfg->refuse_line, strlen(cfg->refuse_line), MSG_NOSIGNAL | MSG_DONTWAIT);
        evutil_closesocket(fd);
        return;
    }
    e->count++;
    s->nconns++;
    uint64_t id = ++s->next_id;
    net_loop *loop = &s->loops[s->rr++ % (unsigned)s->nloops];
    pthread_mutex_unlock(&s->mu);

    /* The conn is linked before its first event can run, under s->mu. */
    pthread_mutex_lock(&s->mu);
    conn *c = conn_new(s, loop, cfg, fd, ip, loopback, id);
    if (!c) {
        s->nconns--;
        ip_release(s, ip);
        pthread_mutex_unlock(&s->mu);
        return;
    }
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    pthread_mutex_unlock(&s->mu);
    log_debug("net", "conn %llu: %s connection from %s", (unsigned long long)id, cfg->h->name, ip);
    (void)l;
    (void)salen;
}

void net_server_conn_gone(struct net_server *s, conn *c)
{
    pthread_mutex_lock(&s->mu);
    if (c->prev) c->prev->next = c->next; else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    s->nconns--;
    ip_release(s, c->ip);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    log_debug("net", "conn %llu: closed", (unsigned long long)c->id);
}

static void accept_error_cb(struct evconnlistener *l, void *arg);

int net_server_listen(net_server *s, const char *hostport, const conn_handler *h,
                      SSL_CTX *tls_implicit, SSL_CTX *tls_starttls,
                      const char *refuse_line, char *err, size_t errlen)
{
    if (s->nlisteners >= NET_LISTENERS_MAX) {
        snprintf(err, errlen, "too many listeners");
        return -1;
    }
    struct sockaddr_storage ss;
    int sslen = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (evutil_parse_sockaddr_port(hostport, (struct sockaddr *)&ss, &sslen) < 0) {
        snprintf(err, errlen, "bad listen address '%s' (want host:port)", hostport);
        return -1;
    }
    net_listener_cfg *cfg = &s->cfgs[s->nlisteners];
    cfg->h = h;
    cfg->tls_implicit = tls_implicit;
    cfg->tls_starttls = tls_starttls;
    cfg->server = s;
    snprintf(cfg->refuse_line, sizeof cfg->refuse_line, "%s", refuse_line ? refuse_line : "");
    struct evconnlistener *l = evconnlistener_new_bind(s->loops[0].base, accept_cb, cfg,
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_THREADSAFE, 1024,
        (struct sockaddr *)&ss, sslen);
    if (!l) {
        snprintf(err, errlen, "cannot listen on %s: %s", hostport,
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        return -1;
    }
    evconnlistener_set_error_cb(l, accept_error_cb);
    s->listeners[s->nlisteners++] = l;
    return 0;
}

static void accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    evconnlistener_enable(arg);
}

/* accept() failed. Out of descriptors (or kernel memory), the pending
 * connection stays queued and the listening socket stays readable: retrying at
 * once spins the loop at 100 % CPU. Pause this listener for NET_ACCEPT_PAUSE_MS
 * instead (what nginx does); connections already open carry on, and queued ones
 * are taken when descriptors are free again. */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    int e = EVUTIL_SOCKET_ERROR();
    if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM) {
        log_warn("net", "accept: %s", evutil_socket_error_to_string(e));
        return;
    }
    /* Listeners all run on loop 0: one thread, so a plain static is safe. */
    static time_t last_warned;
    time_t now = time(NULL);
    if (now - last_warned >= 10) {
        last_warned = now;
        log_warn("net", "accept: %s; pausing new connections (%d ms at a time)",
                 evutil_socket_error_to_string(e), NET_ACCEPT_PAUSE_MS);
    }
    evconnlistener_disable(l);
    struct timeval tv = { 0, NET_ACCEPT_PAUSE_MS * 1000 };
    if (event_base_once(evconnlistener_get_base(l), -1, EV_TIMEOUT, accept_resume_cb, l, &tv) != 0)
        evconnlistener_enable(l);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct net_timer *t = arg;
    t->fn(t->arg);
}

int net_server_every(net_server *s, unsigned seconds, void (*fn)(void *arg), void *arg)
{
    if (s->ntimers >= NET_TIMERS_MAX) return -1;
    struct net_timer *t = &s->timer_cbs[s->ntimers];
    t->fn = fn;
    t->arg = arg;
    struct event *ev = event_new(s->loops[0].base, -1, EV_PERSIST, timer_cb, t);
    struct timeval tv = { (time_t)seconds, 0 };
    if (!ev || event_add(ev, &tv) < 0) {
        if (ev) event_free(ev);
        return -1;
    }
    s->timers[s->ntimers++] = ev;
    return 0;
}

static void *loop_main(void *arg)
{
    net_loop *loop = arg;
    event_base_loop(loop->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

/* Shutdown, step 2 (loop 0, every 50 ms): once every connection has been torn
 * down by its worker, or the deadline passed, stop all loops. Loops keep running
 * until then because teardown frees bufferevents whose deferred callbacks need them. */
static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
    net_server *s = arg;
    struct timeval now;
    evutil_gettimeofday(&now, NULL);
    pthread_mutex_lock(&s->mu);
    int left = s->nconns;
    pthread_mutex_unlock(&s->mu);
    if (left > 0 && evutil_timercmp(&now, &s->drain_deadline, <)) return;
    if (left > 0) log_warn("net", "shutdown: %d connections did not finish", left);
    for (int i = 0; i < s->nloops; i++) event_base_loopexit(s->loops[i].base, NULL);
}

/* Shutdown, step 1 (loop 0): stop accepting, tell every session it is closed. */
static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    net_server *s = arg;
    log_info("net", "shutting down");
    for (int i = 0; i < s->ntimers; i++) event_del(s->timers[i]);
    for (int i = 0; i < s->nlisteners; i++) {
        evconnlistener_free(s->listeners[i]);
        s->listeners[i] = NULL;
    }
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    for (conn *c = s->conns; c; c = c->next) conn_kill(c);
    pthread_mutex_unlock(&s->mu);
    evutil_gettimeofday(&s->drain_deadline, NULL);
    s->drain_deadline.tv_sec += NET_SHUTDOWN_WAIT_SEC;
    struct timeval every = { 0, 50 * 1000 };
    event_add(s->drain_ev, &every);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    net_server_stop(arg);
}

void net_server_stop(net_server *s)
{
    event_active(s->stop_ev, EV_TIMEOUT, 0);
}

int net_server_run(net_server *s)
{
    for (int i = 1; i < s->nloops; i++)
        pthread_create(&s->loops[i].thread, NULL, loop_main, &s->loops[i]);
    event_base_loop(s->loops[0].base, EVLOOP_NO_EXIT_ON_EMPTY);
    for (int i = 1; i < s->nloops; i++) pthread_join(s->loops[i].thread, NULL);
    return 0;
}

void net_server_free(net_server *s)
{
    if (!s) return;
    for (int i = 0; i < s->nlisteners; i++)
        if (s->listeners[i]) evconnlistener_free(s->listeners[i]);
    /* Workers finish queued jobs (every remaining teardown) before they stop. */
    worker_pool_free(s->workers);
    if (s->stop_ev) event_free(s->stop_ev);
    if (s->drain_ev) event_free(s->drain_ev);
    if (s->sig_term) event_free(s->sig_term);
    if (s->sig_int) event_free(s->sig_int);
    for (int i = 0; i < s->ntimers; i++) event_free(s->timers[i]);
    for (int i = 0; i < s->nloops; i++) event_base_free(s->loops[i].base);
    for (int i = 0; i < NET_IP_BUCKETS; i++) {
        while (s->by_ip[i]) {
            ip_count *e = s->by_ip[i];
            s->by_ip[i] = e->next;
            free(e);
        }
    }
    free(s->loops);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
