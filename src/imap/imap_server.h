/*
 * imap_server.h — the IMAP protocol as seen from sealboxd: one handler for the
 * network layer (net/conn.h) and the settings it needs.
 *
 * sealboxd registers a conn_handler { "imap", imap_on_event, &server } for the
 * STARTTLS port and another for the implicit-TLS port; conn_is_tls() tells them
 * apart. Everything else of IMAP is private to src/imap/.
 */
#ifndef SEALBOX_IMAP_SERVER_H
#define SEALBOX_IMAP_SERVER_H

#include "net/conn.h"
#include "store/account.h"

typedef struct imap_server {
    accounts *acc;                  /* login, key cache (store/account.h) */
    const char *datadir;            /* for store_open() */
    const char *hostname;           /* greeting */
    int plaintext_auth_loopback;    /* LOGIN/AUTHENTICATE without TLS from 127/8, ::1 */
    struct backup_runner *backups;  /* daily backups and XBACKUP (backup/backup.h); NULL: off */
} imap_server;

/* conn_handler.on_event for IMAP; conn_handler_arg(c) is the imap_server. */
void imap_on_event(conn *c, void **sess, unsigned events);

#endif
