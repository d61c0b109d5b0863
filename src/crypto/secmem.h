/*
 * secmem.h — secure memory for keys and passwords.
 *
 * SUMMARY
 *   crypto_init()          initialises libsodium once per process (aborts if it cannot)
 *   secmem_alloc(n)        n bytes of guarded, locked (mlock), zero-filled memory
 *   secmem_free(p)         wipes and releases what secmem_alloc returned (NULL is fine)
 *   secmem_wipe(p, n)      zeroes memory in a way the compiler cannot elide
 *   secmem_pool_*          fixed-size records packed into locked pages, for the
 *                          many small secrets of the key cache
 *
 * PROMISES
 *   Every Sealbox key, key-encryption key and password buffer that outlives a
 *   single expression lives here: locked (never swapped, when RLIMIT_MEMLOCK
 *   allows; libsodium carries on unlocked otherwise), surrounded by guard pages
 *   (secmem_alloc) and zeroed before it is released.
 *
 * DIAGNOSTICS
 *   Running out of (locked) memory is treated like util/alloc.h treats malloc
 *   failure: a message on stderr and abort(). Callers never see NULL.
 */
#ifndef SEALBOX_SECMEM_H
#define SEALBOX_SECMEM_H

#include <stddef.h>

void crypto_init(void);

void *secmem_alloc(size_t n);
void secmem_free(void *p);
void secmem_wipe(void *p, size_t n);

/* A pool hands out records of one size from 64 KiB locked chunks: sodium_malloc
 * costs four pages and one mlock per call, which thousands of cached keys would
 * multiply past RLIMIT_MEMLOCK (often 8 MiB). Records are zeroed on release.
 * Not thread-safe: the owner serialises (the key cache holds its mutex). */
typedef struct secmem_pool secmem_pool;
secmem_pool *secmem_pool_new(size_t record_size);
void *secmem_pool_get(secmem_pool *p);        /* zero-filled */
void secmem_pool_put(secmem_pool *p, void *rec);
void secmem_pool_free(secmem_pool *p);        /* wipes and releases every chunk */

#endif
