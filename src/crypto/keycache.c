/*
 * keycache.c — the process's cache of unwrapped data keys (see keycache.h).
 *
 * Structure: a chained hash table of entries by mailbox id; a doubly linked
 * "idle" list of entries nobody holds, in release order, which is also expiry
 * order (the grace period is a constant and the clock is monotonic), so expiry
 * pops from the head in O(1) per entry; a short list of mailbox ids whose key
 * some thread is deriving right now. Secrets (key + verifiers) sit in records
 * of a secmem pool; the bookkeeping around them is ordinary heap.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "util/alloc.h"
#include "util/limits.h"
#include "crypto/keycache.h"
#include "crypto/secmem.h"

#define KEYCACHE_BUCKETS 4096          /* chains stay short up to ~20,000 live mailboxes */
#define KEYCACHE_ID_MAX  64
#define KEYCACHE_MAC_LEN 32

typedef struct keycache_verifier {
    int64_t slot_id;                   /* 0: unused */
    unsigned char mac[KEYCACHE_MAC_LEN];
} keycache_verifier;

typedef struct keycache_secret {
    unsigned char key[KEYCACHE_KEY_LEN];
    keycache_verifier v[KEYCACHE_VERIFIERS_MAX];
} keycache_secret;

struct keycache_entry {
    char id[KEYCACHE_ID_MAX + 1];
    int refs;
    int linked;                        /* reachable from the hash table */
    int idle;                          /* on the idle list (refs == 0) */
    unsigned next_verifier;            /* round-robin replacement */
    time_t expires;
    struct keycache_entry *hnext, *iprev, *inext;
    keycache_secret *sec;
};

typedef struct keycache_pending {
    char id[KEYCACHE_ID_MAX + 1];
    int derivers;
    struct keycache_pending *next;
} keycache_pending;

static pthread_once_t kc_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t kc_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t kc_cv;           /* CLOCK_MONOTONIC; a derivation ended */
static struct keycache_entry *kc_table[KEYCACHE_BUCKETS];
static struct keycache_entry *kc_idle_head, *kc_idle_tail;
static keycache_pending *kc_pending;
static secmem_pool *kc_pool;
static unsigned char *kc_mac_key;      /* crypto_generichash_KEYBYTES, secure memory */
static size_t kc_count;

static void kc_init(void)
{
    crypto_init();
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&kc_cv, &attr);
    pthread_condattr_destroy(&attr);
    kc_pool = secmem_pool_new(sizeof(keycache_secret));
    kc_mac_key = secmem_alloc(crypto_generichash_KEYBYTES);
    randombytes_buf(kc_mac_key, crypto_generichash_KEYBYTES);
}

time_t keycache_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static size_t kc_bucket(const char *id)
{
    uint64_t h = 1469598103934665603ull;            /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return (size_t)(h % KEYCACHE_BUCKETS);
}

static int kc_id_ok(const char *id)
{
    return id && *id && strlen(id) <= KEYCACHE_ID_MAX;
}

/* The verifier: keyed BLAKE2b over id NUL password, so one password used for
 * two mailboxes gives unrelated verifiers. */
static void kc_mac(unsigned char mac[KEYCACHE_MAC_LEN], const char *id, const char *pw, size_t pwlen)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, kc_mac_key, crypto_generichash_KEYBYTES, KEYCACHE_MAC_LEN);
    crypto_generichash_update(&st, (const unsigned char *)id, strlen(id) + 1);
    crypto_generichash_update(&st, (const unsigned char *)pw, pwlen);
    crypto_generichash_final(&st, mac, KEYCACHE_MAC_LEN);
    sodium_memzero(&st, sizeof st);
}

static struct keycache_entry *kc_find(const char *id)
{
    for (struct keycache_entry *e = kc_table[kc_bucket(id)]; e; e = e->hnext)
        if (!strcmp(e->id, id)) return e;
    return NULL;
}

static void kc_idle_remove(struct keycache_entry *e)
{
    if (!e->idle) return;
    if (e->iprev) e->iprev->inext = e->inext; else kc_idle_head = e->inext;
    if (e->inext) e->inext->iprev = e->iprev; else kc_idle_tail = e->iprev;
    e->iprev = e->inext = NULL;
    e->idle = 0;
}

static void kc_idle_append(struct keycache_entry *e, time_t now)
{
    e->expires = now + KEYCACHE_GRACE_SEC;
    e->iprev = kc_idle_tail;
    e->inext = NULL;
    if (kc_idle_tail) kc_idle_tail->inext = e; else kc_idle_head = e;
    kc_idle_tail = e;
    e->idle = 1;
}

static void kc_unlink(struct keycache_entry *e)
{
    if (!e->linked) return;
    struct keycache_entry **pp = &kc_table[kc_bucket(e->id)];
    while (*pp != e) pp = &(*pp)->hnext;
    *pp = e->hnext;
    e->hnext = NULL;
    e->linked = 0;
    kc_count--;
}

static void kc_destroy(struct keycache_entry *e)
{
    kc_idle_remove(e);
    kc_unlink(e);
    secmem_pool_put(kc_pool, e->sec);
    free(e);
}

static void kc_expire_locked(time_t now)
{
    while (kc_idle_head && kc_idle_head->expires <= now) kc_destroy(kc_idle_head);
}

/* Unlinks an entry so no one finds it again; frees it now if nobody holds it. */
static void kc_drop(struct keycache_entry *e)
{
    if (e->refs == 0) kc_destroy(e);
    else {
        kc_unlink(e);
        /* Verifiers are useless to holders; only the key must survive. */
        sodium_memzero(e->sec->v, sizeof e->sec->v);
    }
}

static int kc_verifier_match(const struct keycache_entry *e, const unsigned char mac[KEYCACHE_MAC_LEN],
                             const int64_t *slot_ids, size_t nslots)
{
    for (size_t i = 0; i < KEYCACHE_VERIFIERS_MAX; i++) {
        const keycache_verifier *v = &e->sec->v[i];
        if (v->slot_id == 0 || sodium_memcmp(v->mac, mac, KEYCACHE_MAC_LEN) != 0) continue;
        for (size_t j = 0; j < nslots; j++)
            if (slot_ids[j] == v->slot_id) return 1;
    }
    return 0;
}

static void kc_verifier_set(struct keycache_entry *e, const unsigned char mac[KEYCACHE_MAC_LEN], int64_t slot_id)
{
    keycache_verifier *v = NULL;
    for (size_t i = 0; i < KEYCACHE_VERIFIERS_MAX && !v; i++)
        if (e->sec->v[i].slot_id == slot_id) v = &e->sec->v[i];
    for (size_t i = 0; i < KEYCACHE_VERIFIERS_MAX && !v; i++)
        if (e->sec->v[i].slot_id == 0) v = &e->sec->v[i];
    if (!v) {
        v = &e->sec->v[e->next_verifier % KEYCACHE_VERIFIERS_MAX];
        e->next_verifier++;
    }
    v->slot_id = slot_id;
    memcpy(v->mac, mac, KEYCACHE_MAC_LEN);
}

static keycache_pending *kc_pending_find(const char *id)
{
    for (keycache_pending *p = kc_pending; p; p = p->next)
        if (!strcmp(p->id, id)) return p;
    return NULL;
}

static void kc_pending_add(const char *id)
{
    keycache_pending *p = kc_pending_find(id);
    if (!p) {
        p = xcalloc(1, sizeof *p);
        memcpy(p->id, id, strlen(id) + 1);
        p->next = kc_pending;
        kc_pending = p;
    }
    p->derivers++;
}

static void kc_pending_end(const char *id)
{
    for (keycache_pending **pp = &kc_pending; *pp; pp = &(*pp)->next) {
        keycache_pending *p = *pp;
        if (strcmp(p->id, id) != 0) continue;
        if (--p->derivers <= 0) {
            *pp = p->next;
            free(p);
        }
        break;
    }
    pthread_cond_broadcast(&kc_cv);
}

int keycache_acquire(const char *mailbox_id, const char *password, size_t pwlen,
                     const int64_t *slot_ids, size_t nslots, keycache_hold **out)
{
    pthread_once(&kc_once, kc_init);
    *out = NULL;
    if (!kc_id_ok(mailbox_id)) return 0;
    unsigned char mac[KEYCACHE_MAC_LEN];
    kc_mac(mac, mailbox_id, password, pwlen);

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += KEYCACHE_WAIT_SEC;
    int hit = 0;
    pthread_mutex_lock(&kc_mu);
    for (;;) {
        kc_expire_locked(keycache_now());
        struct keycache_entry *e = kc_find(mailbox_id);
        if (e && kc_verifier_match(e, mac, slot_ids, nslots)) {
            kc_idle_remove(e);
            e->refs++;
            *out = e;
            hit = 1;
            break;
        }
        /* Someone is deriving this key: their result may be ours too. A waiter
         * that times out derives itself (and is counted as a deriver). */
        if (!kc_pending_find(mailbox_id) ||
            pthread_cond_timedwait(&kc_cv, &kc_mu, &deadline) == ETIMEDOUT) {
            kc_pending_add(mailbox_id);
            break;
        }
    }
    pthread_mutex_unlock(&kc_mu);
    sodium_memzero(mac, sizeof mac);
    return hit;
}

keycache_hold *keycache_insert(const char *mailbox_id, const unsigned char key[KEYCACHE_KEY_LEN],
                               const char *password, size_t pwlen, int64_t slot_id)
{
    pthread_once(&kc_once, kc_init);
    if (!kc_id_ok(mailbox_id)) return NULL;
    unsigned char mac[KEYCACHE_MAC_LEN];
    kc_mac(mac, mailbox_id, password, pwlen);

    pthread_mutex_lock(&kc_mu);
    kc_expire_locked(keycache_now());
    struct keycache_entry *e = kc_find(mailbox_id);
    if (e && sodium_memcmp(e->sec->key, key, KEYCACHE_KEY_LEN) != 0) {
        /* A different key under the same id: the mailbox was re-created. The
         * key just unwrapped from a current slot is the one that counts. */
        kc_drop(e);
        e = NULL;
    }
    if (!e) {
        e = xcalloc(1, sizeof *e);
        memcpy(e->id, mailbox_id, strlen(mailbox_id) + 1);
        e->sec = secmem_pool_get(kc_pool);
        memcpy(e->sec->key, key, KEYCACHE_KEY_LEN);
        size_t b = kc_bucket(mailbox_id);
        e->hnext = kc_table[b];
        kc_table[b] = e;
        e->linked = 1;
        kc_count++;
    }
    kc_verifier_set(e, mac, slot_id);
    kc_idle_remove(e);
    e->refs++;
    kc_pending_end(mailbox_id);
    pthread_mutex_unlock(&kc_mu);
    sodium_memzero(mac, sizeof mac);
    return e;
}

void keycache_abandon(const char *mailbox_id)
{
    pthread_once(&kc_once, kc_init);
    if (!kc_id_ok(mailbox_id)) return;
    pthread_mutex_lock(&kc_mu);
    kc_pending_end(mailbox_id);
    pthread_mutex_unlock(&kc_mu);
}

const unsigned char *keycache_hold_key(const keycache_hold *h)
{
    return h->sec->key;
}

const char *keycache_hold_mailbox_id(const keycache_hold *h)
{
    return h->id;
}

void keycache_release(keycache_hold *h)
{
    if (!h) return;
    pthread_mutex_lock(&kc_mu);
    time_t now = keycache_now();
    if (--h->refs == 0) {
        if (h->linked) kc_idle_append(h, now);
        else kc_destroy(h);
    }
    kc_expire_locked(now);
    pthread_mutex_unlock(&kc_mu);
}

int keycache_lookup_key(const char *mailbox_id, unsigned char key_out[KEYCACHE_KEY_LEN])
{
    pthread_once(&kc_once, kc_init);
    if (!kc_id_ok(mailbox_id)) return -1;
    pthread_mutex_lock(&kc_mu);
    kc_expire_locked(keycache_now());
    struct keycache_entry *e = kc_find(mailbox_id);
    if (e) memcpy(key_out, e->sec->key, KEYCACHE_KEY_LEN);
    pthread_mutex_unlock(&kc_mu);
    return e ? 0 : -1;
}

void keycache_forget(const char *mailbox_id)
{
    pthread_once(&kc_once, kc_init);
    if (!kc_id_ok(mailbox_id)) return;
    pthread_mutex_lock(&kc_mu);
    struct keycache_entry *e = kc_find(mailbox_id);
    if (e) kc_drop(e);
    pthread_mutex_unlock(&kc_mu);
}

void keycache_expire(time_t now)
{
    pthread_once(&kc_once, kc_init);
    pthread_mutex_lock(&kc_mu);
    kc_expire_locked(now);
    pthread_mutex_unlock(&kc_mu);
}

size_t keycache_size(void)
{
    pthread_once(&kc_once, kc_init);
    pthread_mutex_lock(&kc_mu);
    size_t n = kc_count;
    pthread_mutex_unlock(&kc_mu);
    return n;
}

void keycache_clear(void)
{
    pthread_once(&kc_once, kc_init);
    pthread_mutex_lock(&kc_mu);
    for (size_t b = 0; b < KEYCACHE_BUCKETS; b++) {
        while (kc_table[b]) kc_drop(kc_table[b]);
    }
    pthread_mutex_unlock(&kc_mu);
}
