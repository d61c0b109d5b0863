/*
 * testutil.h — small helpers shared by the unit test programs (linked into each).
 */
#ifndef SEALBOX_TESTUTIL_H
#define SEALBOX_TESTUTIL_H

#include <stddef.h>

/* Removes a file or a directory tree (like rm -rf); missing paths are fine. */
void rm_rf(const char *path);
/* 1 when the file holds the bytes of `needle`, 0 otherwise (or unreadable). */
int file_contains(const char *path, const char *needle);
/* How many files below `dir` (recursively) hold the bytes of `needle`. */
size_t tree_contains(const char *dir, const char *needle);

#endif
