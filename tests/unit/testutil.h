/*
 * testutil.h — small helpers shared by the unit test programs (linked into each).
 */
#ifndef SEALBOX_TESTUTIL_H
#define SEALBOX_TESTUTIL_H

/* Removes a file or a directory tree (like rm -rf); missing paths are fine. */
void rm_rf(const char *path);

#endif
