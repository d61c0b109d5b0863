/*
 * dbkey.c — the server key file and raw SQLite3MC keys (see dbkey.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "util/log.h"
#include "crypto/dbkey.h"
#include "crypto/secmem.h"

unsigned char *dbkey_read_server_key(const char *datadir, char *err, size_t errlen)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/server.key", datadir) >= (int)sizeof path) {
        snprintf(err, errlen, "data directory path too long");
        return NULL;
    }
    unsigned char *key = secmem_alloc(DBKEY_LEN);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot read %s: %s (run `sealbox -d %s init`)", path, strerror(errno), datadir);
        goto fail;
    }
    size_t got = 0;
    for (;;) {
        unsigned char extra;
        /* One byte past the key must hit the end: a longer file is wrong too. */
        unsigned char *dst = got < DBKEY_LEN ? key + got : &extra;
        size_t want = got < DBKEY_LEN ? DBKEY_LEN - got : 1;
        ssize_t n = read(fd, dst, want);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
        if (got > DBKEY_LEN) break;
    }
    close(fd);
    if (got != DBKEY_LEN) {
        snprintf(err, errlen, "%s must hold exactly %d bytes", path, DBKEY_LEN);
        goto fail;
    }
    return key;
fail:
    secmem_free(key);
    return NULL;
}

#ifdef SEALBOX_BENCH_UNENCRYPTED
/*
 * The measurement-only build of bench/run's "ChaCha20 page-encryption overhead"
 * rows (make O=build-plain EXTRA_CFLAGS=-DSEALBOX_BENCH_UNENCRYPTED): every file is
 * left unkeyed, i.e. plain SQLite. It refuses to work unless the environment says
 * SEALBOX_BENCH_UNENCRYPTED=1, so a stray copy cannot quietly write plaintext; and
 * it cannot open a real (encrypted) data directory anyway: page 1 does not parse.
 */
int dbkey_apply(sqlite3 *db, const unsigned char key[DBKEY_LEN])
{
    (void)db;
    (void)key;
    const char *ok = getenv("SEALBOX_BENCH_UNENCRYPTED");
    if (!ok || strcmp(ok, "1") != 0) {
        log_error("crypto", "this is the UNENCRYPTED benchmark build: it refuses to open files "
                  "unless SEALBOX_BENCH_UNENCRYPTED=1");
        return -1;
    }
    static atomic_int warned;
    if (!atomic_exchange(&warned, 1))
        log_warn("crypto", "UNENCRYPTED benchmark build: files are written in plaintext");
    return 0;
}
#else
int dbkey_apply(sqlite3 *db, const unsigned char key[DBKEY_LEN])
{
    const size_t len = 4 + 2 * DBKEY_LEN;
    char *raw = secmem_alloc(len + 1);
    memcpy(raw, "raw:", 4);
    sodium_bin2hex(raw + 4, 2 * DBKEY_LEN + 1, key, DBKEY_LEN);
    int cipher = sqlite3mc_cipher_index("chacha20");
    int rc = SQLITE_ERROR;
    if (cipher > 0 && sqlite3mc_config(db, "cipher", cipher) == cipher)
        rc = sqlite3_key_v2(db, "main", raw, (int)len);
    secmem_free(raw);
    return rc == SQLITE_OK ? 0 : -1;
}
#endif
