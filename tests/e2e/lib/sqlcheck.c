/*
 * sqlcheck.c — a test-only tool for the end-to-end suite: runs PRAGMA integrity_check
 * on SQLite3MC files keyed with the server key (DIR/server.key: the directory and the
 * spool files), the way sealboxd keys them (cipher chacha20, "raw:" + 64 hex digits;
 * see src/crypto/dbkey.c). Mailbox files are keyed with each alias's data key, which
 * only a login unlocks, so they are out of its reach (that needs `sealbox doctor`).
 *
 * Usage: sqlcheck KEYFILE DB...
 * Prints "DB: ok" or "DB: <each integrity_check row>" per file; exit 0 when every file
 * opened with the key and answered exactly "ok", 1 otherwise, 2 on bad usage.
 * Built by tests/e2e/lib/integrity.py with the shared build/deps/sqlite3mc/sqlite3.o;
 * never part of the server.
 */
#include <stdio.h>
#include <string.h>

#include "sqlite3.h"

int sqlite3mc_config(sqlite3 *db, const char *param, int value);
int sqlite3mc_cipher_index(const char *cipher_name);

static int check_one(const char *path, const char *rawkey)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int ok = 0, rows = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        printf("%s: open: %s\n", path, db ? sqlite3_errmsg(db) : "out of memory");
        goto done;
    }
    int cipher = sqlite3mc_cipher_index("chacha20");
    if (cipher <= 0 || sqlite3mc_config(db, "cipher", cipher) != cipher ||
        sqlite3_key_v2(db, "main", rawkey, (int)strlen(rawkey)) != SQLITE_OK) {
        printf("%s: key: %s\n", path, sqlite3_errmsg(db));
        goto done;
    }
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) {
        printf("%s: %s\n", path, sqlite3_errmsg(db));
        goto done;
    }
    ok = 1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *row = (const char *)sqlite3_column_text(st, 0);
        rows++;
        printf("%s: %s\n", path, row ? row : "(null)");
        if (!row || strcmp(row, "ok") != 0) ok = 0;
    }
    if (rc != SQLITE_DONE) {
        printf("%s: %s\n", path, sqlite3_errmsg(db));
        ok = 0;
    }
    if (rows != 1) ok = 0;
done:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: sqlcheck KEYFILE DB...\n");
        return 2;
    }
    unsigned char key[32];
    FILE *f = fopen(argv[1], "rb");
    if (!f || fread(key, 1, sizeof key, f) != sizeof key || fgetc(f) != EOF) {
        fprintf(stderr, "sqlcheck: %s is not a 32-byte key\n", argv[1]);
        if (f) fclose(f);
        return 2;
    }
    fclose(f);
    char raw[4 + 64 + 1] = "raw:";
    for (size_t i = 0; i < sizeof key; i++)
        snprintf(raw + 4 + 2 * i, 3, "%02x", key[i]);
    int all = 1;
    for (int i = 2; i < argc; i++)
        all &= check_one(argv[i], raw);
    return all ? 0 : 1;
}
