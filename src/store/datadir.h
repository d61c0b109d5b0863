/*
 * datadir.h — creating a Sealbox data directory (`sealbox init`, and sealboxd on
 * its first start).
 *
 * SUMMARY
 *   datadir_init(dir)   makes whatever of the following is missing, keeps the rest:
 *     DIR/                 mode 0700
 *     DIR/sealbox.conf     every key with its default (util/config.h)
 *     DIR/server.key       32 random bytes, mode 0600: encrypts directory.db
 *     DIR/directory.db     the encrypted directory, schema migrated
 *     DIR/mailboxes/       mode 0700, one encrypted file per alias
 *     DIR/tls/key.pem      ECDSA P-256 private key, mode 0600
 *     DIR/tls/cert.pem     self-signed, 10 years, CN = hostname, subjectAltName
 *                          DNS:localhost, IP:127.0.0.1 and the configured hostname
 *
 * PROMISES
 *   Idempotent: an existing file is never replaced. Each file appears whole or
 *   not at all (written to a temporary name, fsynced, then linked into place
 *   only if the name is still free, so two processes initialising at once agree
 *   on one server key). A directory.db without its server.key, or a certificate
 *   without its key, is an error, never papered over with a new key.
 *
 * DIAGNOSTICS
 *   0, or -1 with a sentence in err naming the file and the reason.
 */
#ifndef SEALBOX_DATADIR_H
#define SEALBOX_DATADIR_H

#include <stddef.h>

int datadir_init(const char *dir, char *err, size_t errlen);

#endif
