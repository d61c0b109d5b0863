/*
 * conn_internal.h — what conn.c and server.c share about a connection. Nothing
 * outside src/net/ includes this.
 */
#ifndef SEALBOX_CONN_INTERNAL_H
#define SEALBOX_CONN_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "net/conn.h"
#include "net/worker.h"

typedef struct net_loop {
    struct event_base *base;
    pthread_t thread;
} net_loop;

typedef struct net_listener_cfg {
    const conn_handler *h;
    SSL_CTX *tls_implicit;
    SSL_CTX *tls_starttls;
    char refuse_line[256];
    struct net_server *server;
} net_listener_cfg;

struct conn {
    uint64_t id;
    struct net_server *server;
    net_loop *loop;
    const net_listener_cfg *cfg;
    struct bufferevent *bev;          /* the top bufferevent (a TLS filter after STARTTLS) */
    void *sess;

    /* Lock order: libevent's bufferevent lock (held in its callbacks) before mu.
     * So no code calls into libevent while holding mu. */
    pthread_mutex_t mu;               /* guards everything below */
    pthread_cond_t cv;                /* output drained / STARTTLS switched / dead */
    int drained;                      /* the write callback ran since the last check */
    unsigned pending;                 /* CONN_EV_* not yet delivered */
    int scheduled;                    /* a worker job for this conn is queued or running */
    int closing;                      /* conn_close(): flush, then close */
    int dead;                         /* socket gone; CLOSED is (or was) pending */
    int finished;                     /* CLOSED delivered: no more events */
    int refs;
    int tls;
    unsigned timeout_sec;
    int switch_done;
    const void *switch_reply;         /* conn_starttls: what to send before TLS */
    size_t switch_reply_len;

    char ip[64];
    int loopback;
    struct conn *prev, *next;         /* server's list of live connections */
};

/* server.c */
void net_server_conn_gone(struct net_server *s, conn *c);
worker_pool *net_server_workers(struct net_server *s);

/* conn.c */
conn *conn_new(struct net_server *s, net_loop *loop, const net_listener_cfg *cfg,
               evutil_socket_t fd, const char *ip, int loopback, uint64_t id);
void conn_kill(conn *c);   /* server shutdown: treat as closed by the peer */

#endif
