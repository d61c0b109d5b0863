/*
 * server.h — listeners, network loops and the worker pool, put together.
 *
 * net_server_new() starts nothing; net_server_listen() binds (so a port in use is
 * reported before anything runs); net_server_run() runs the loops until
 * net_server_stop() (async-signal-safe: call it from a SIGTERM handler), then
 * closes every connection (each handler sees CONN_EV_CLOSED) and returns.
 *
 * Limits: NET_CONN_MAX connections in all and NET_CONN_PER_IP_MAX per client IP;
 * over either, the connection gets the listener's refusal line and is closed.
 */
#ifndef SEALBOX_SERVER_H
#define SEALBOX_SERVER_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "net/conn.h"

typedef struct net_server net_server;

net_server *net_server_new(int nloops, int nworkers);
/*
 * Listens on "host:port" ("[::1]:143" for IPv6). tls_implicit: TLS from the first
 * byte (imaps); tls_starttls: context for conn_starttls() on a plaintext listener
 * (NULL: no STARTTLS). refuse_line: sent to connections over the limits.
 * Returns 0, or -1 with a reason in err.
 */
int net_server_listen(net_server *s, const char *hostport, const conn_handler *h,
                      SSL_CTX *tls_implicit, SSL_CTX *tls_starttls,
                      const char *refuse_line, char *err, size_t errlen);
/* Calls fn(arg) every `seconds` on loop 0 while the server runs. fn must be quick
 * and must not block (it runs on a network thread). Returns 0 or -1. */
int net_server_every(net_server *s, unsigned seconds, void (*fn)(void *arg), void *arg);
int net_server_run(net_server *s);
void net_server_stop(net_server *s);
void net_server_free(net_server *s);

#endif
