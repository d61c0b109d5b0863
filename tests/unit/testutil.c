/*
 * testutil.c — helpers shared by the unit test programs (see testutil.h).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/fsutil.h"

#include "testutil.h"

void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        rm_rf(sub);
    }
    closedir(d);
    rmdir(path);
}

int file_contains(const char *path, const char *needle)
{
    char *data = NULL;
    size_t len = 0;
    if (file_read_all(path, &data, &len, (size_t)1 << 30) < 0) return 0;
    int found = memmem(data, len, needle, strlen(needle)) != NULL;
    free(data);
    return found;
}

size_t tree_contains(const char *dir, const char *needle)
{
    DIR *dp = opendir(dir);
    if (!dp) return (size_t)file_contains(dir, needle);
    size_t hits = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(sub, &sb) < 0) continue;
        hits += S_ISDIR(sb.st_mode) ? tree_contains(sub, needle) : (size_t)file_contains(sub, needle);
    }
    closedir(dp);
    return hits;
}

sqlite3 *test_mailbox_db(const char *dir, const char *mailbox_id, const unsigned char *key)
{
    char path[4096], hex[4 + 64 + 1];
    snprintf(path, sizeof path, "%s/mailboxes/%s.db", dir, mailbox_id);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    strcpy(hex, "raw:");
    for (int i = 0; i < 32; i++) sprintf(hex + 4 + 2 * i, "%02x", key[i]);
    assert_int_equal(sqlite3_key_v2(db, "main", hex, (int)strlen(hex)), SQLITE_OK);
    return db;
}

int64_t test_sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}
