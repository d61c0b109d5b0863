/*
 * dbkey.h — keys for the server's own encrypted SQLite3MC files: the 32-byte
 * server key (DATADIR/server.key) and handing any raw 32-byte key to a
 * connection.
 *
 * SUMMARY
 *   dbkey_read_server_key(datadir)   DATADIR/server.key into secure memory
 *   dbkey_apply(db, key)             cipher chacha20, key given as a raw key
 *
 *   Every encrypted file of Sealbox is keyed through dbkey_apply: the directory,
 *   the spools and the mailbox files (whose keys are their data keys), so the
 *   format of the key hand-over lives in one place.
 *
 * PROMISES
 *   - The key file is read with read(2) straight into secmem_alloc'ed memory (no
 *     stdio buffer holds it); it must hold exactly DBKEY_LEN bytes.
 *   - dbkey_apply hands SQLite3MC "raw:" + 64 hex digits through
 *     sqlite3_key_v2 (what PRAGMA key calls), so the key never appears in SQL
 *     text; sqlite3mcExtractRawKey() then uses it as the key itself, with no
 *     passphrase KDF (~0.3 ms per open instead of ~22 ms). The hex copy lives in
 *     secure memory and is wiped.
 *
 * DIAGNOSTICS
 *   dbkey_read_server_key: NULL with a sentence in err. dbkey_apply: -1.
 */
#ifndef SEALBOX_DBKEY_H
#define SEALBOX_DBKEY_H

#include <stddef.h>

#include <sqlite3.h>

#define DBKEY_LEN 32

/* DBKEY_LEN bytes in secure memory; release with secmem_free(). */
unsigned char *dbkey_read_server_key(const char *datadir, char *err, size_t errlen);

/* Call right after sqlite3_open_v2, before anything reads the file. 0 or -1. */
int dbkey_apply(sqlite3 *db, const unsigned char key[DBKEY_LEN]);

#endif
