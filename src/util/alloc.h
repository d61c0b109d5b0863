/*
 * alloc.h — allocation that never returns NULL.
 *
 * Like Redis's zmalloc, running out of memory is not an error path we try to
 * survive: every per-connection size is bounded (util/limits.h), so an
 * allocation failure means the machine is broken. We log and abort rather than
 * thread "out of memory" through every caller.
 */
#ifndef SEALBOX_ALLOC_H
#define SEALBOX_ALLOC_H

#include <stddef.h>

/* For allocators of other libraries that return NULL: logs and aborts. */
void xalloc_fail(size_t n) __attribute__((noreturn));

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);

#endif
