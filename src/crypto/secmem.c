/*
 * secmem.c — secure memory (see secmem.h).
 *
 * Allocation is libsodium's sodium_malloc (guard pages, canary, mlock) and
 * sodium_free (wipe, munlock). The pool carves records out of sodium_malloc'ed
 * chunks and keeps a free list threaded through the released records.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/alloc.h"
#include "crypto/secmem.h"

#define SECMEM_POOL_CHUNK (64 * 1024)

static pthread_once_t secmem_once = PTHREAD_ONCE_INIT;

static void secmem_do_init(void)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "sealbox: libsodium cannot be initialised\n");
        abort();
    }
}

void crypto_init(void)
{
    pthread_once(&secmem_once, secmem_do_init);
}

void *secmem_alloc(size_t n)
{
    crypto_init();
    void *p = sodium_malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "sealbox: out of secure memory allocating %zu bytes\n", n);
        abort();
    }
    /* sodium_malloc fills with 0xdb to catch use of uninitialised memory; our
     * callers rely on zeroes (a fresh record has no key and no verifiers). */
    memset(p, 0, n ? n : 1);
    return p;
}

void secmem_free(void *p)
{
    if (p) sodium_free(p);
}

void secmem_wipe(void *p, size_t n)
{
    if (p && n) sodium_memzero(p, n);
}

/* --- Pool ----------------------------------------------------------------------- */

typedef struct secmem_chunk {
    struct secmem_chunk *next;
    unsigned char *mem;        /* sodium_malloc'ed, SECMEM_POOL_CHUNK bytes */
} secmem_chunk;

struct secmem_pool {
    size_t size;               /* record size, rounded up for alignment */
    secmem_chunk *chunks;
    void *free_list;           /* first word of a free record links the next */
};

secmem_pool *secmem_pool_new(size_t record_size)
{
    secmem_pool *p = xcalloc(1, sizeof *p);
    size_t align = sizeof(void *) > 16 ? sizeof(void *) : 16;
    if (record_size < sizeof(void *)) record_size = sizeof(void *);
    p->size = (record_size + align - 1) / align * align;
    if (p->size > SECMEM_POOL_CHUNK) {
        fprintf(stderr, "sealbox: secmem pool record of %zu bytes is too large\n", record_size);
        abort();
    }
    return p;
}

static void secmem_pool_grow(secmem_pool *p)
{
    secmem_chunk *c = xcalloc(1, sizeof *c);
    c->mem = secmem_alloc(SECMEM_POOL_CHUNK);
    c->next = p->chunks;
    p->chunks = c;
    size_t n = SECMEM_POOL_CHUNK / p->size;
    for (size_t i = n; i-- > 0;) {
        void *rec = c->mem + i * p->size;
        memcpy(rec, &p->free_list, sizeof p->free_list);
        p->free_list = rec;
    }
}

void *secmem_pool_get(secmem_pool *p)
{
    if (!p->free_list) secmem_pool_grow(p);
    void *rec = p->free_list;
    memcpy(&p->free_list, rec, sizeof p->free_list);
    memset(rec, 0, p->size);
    return rec;
}

void secmem_pool_put(secmem_pool *p, void *rec)
{
    if (!rec) return;
    sodium_memzero(rec, p->size);
    memcpy(rec, &p->free_list, sizeof p->free_list);
    p->free_list = rec;
}

void secmem_pool_free(secmem_pool *p)
{
    if (!p) return;
    secmem_chunk *c = p->chunks;
    while (c) {
        secmem_chunk *next = c->next;
        secmem_free(c->mem);
        free(c);
        c = next;
    }
    free(p);
}
