/*
 * smtp_server.h — the SMTP MX as seen from sealboxd: one handler for the
 * network layer (net/conn.h) and the settings it needs.
 *
 * sealboxd registers a conn_handler { "smtp", smtp_on_event, &server } for the
 * STARTTLS port (--smtp) and one named "smtps" for the implicit-TLS port
 * (--smtps); conn_is_tls() tells them apart. The protocol itself is
 * smtp_session.c; this glue feeds it connection bytes and hands recipients and
 * messages to delivery/ (delivery.h).
 */
#ifndef SEALBOX_SMTP_SERVER_H
#define SEALBOX_SMTP_SERVER_H

#include <stdint.h>

#include "net/conn.h"

struct delivery;

typedef struct smtp_server {
    struct delivery *dlv;          /* recipients and storage (delivery/delivery.h) */
    const char *hostname;          /* greeting, EHLO, Received: */
    uint64_t max_message_size;     /* SIZE; at most SMTP_MESSAGE_MAX_CEILING */
} smtp_server;

/* conn_handler.on_event for SMTP; conn_handler_arg(c) is the smtp_server. */
void smtp_on_event(conn *c, void **sess, unsigned events);

#endif
