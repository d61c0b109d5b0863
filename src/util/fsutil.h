/*
 * fsutil.h — small file-system helpers: directories, durable writes, random ids.
 *
 * file_write_atomic() is the only way Sealbox writes a whole file: temp file in the
 * same directory, fsync, rename, fsync of the directory, so a crash leaves the old
 * or the new file and never a torn one.
 */
#ifndef SEALBOX_FSUTIL_H
#define SEALBOX_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

int mkdir_p(const char *path, mode_t mode);                  /* 0 or -1 (errno) */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);
int file_read_all(const char *path, char **data, size_t *len, size_t max); /* NUL-terminated */
int fsync_dir(const char *dir);
int file_exists(const char *path);

/* A random identifier of `bytes` random bytes as lowercase hex (out: 2*bytes+1). */
void random_hex_id(char *out, size_t bytes);

#endif
