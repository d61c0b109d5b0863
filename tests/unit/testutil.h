/*
 * testutil.h — small helpers shared by the unit test programs (linked into each).
 */
#ifndef SEALBOX_TESTUTIL_H
#define SEALBOX_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

/* Removes a file or a directory tree (like rm -rf); missing paths are fine. */
void rm_rf(const char *path);
/* 1 when the file holds the bytes of `needle`, 0 otherwise (or unreadable). */
int file_contains(const char *path, const char *needle);
/* How many files below `dir` (recursively) hold the bytes of `needle`. */
size_t tree_contains(const char *dir, const char *needle);

/* A second connection straight to DIR/mailboxes/<id>.db, keyed with the 32-byte
 * data key, for what the store API does not show. Fails the test when it does
 * not open. */
sqlite3 *test_mailbox_db(const char *dir, const char *mailbox_id, const unsigned char *key);
/* The integer in the first row of `sql`; fails the test when there is none. */
int64_t test_sql_int(sqlite3 *db, const char *sql);

#endif
