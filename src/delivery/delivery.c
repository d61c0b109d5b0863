/*
 * delivery.c — live or sealed delivery, and the spool drain (see delivery.h).
 *
 * Group commit: live and sealed copies go through delivery_group.h, so the
 * deliveries to one mailbox (or one spool) that arrive while a commit is under
 * way share the next transaction and its one fsync; each caller still returns
 * only after the COMMIT that holds its copy.
 *
 * Handles: the leader of a live batch opens the mailbox with the data key and
 * closes it after the COMMIT (an open with a raw key costs ~0.3 ms), so no
 * handle on a mailbox outlives the batch: when its owner's key leaves the key
 * cache, delivery holds nothing that reads the mailbox. Spool handles (server
 * key) stay open in a small LRU cache (DELIVERY_SPOOL_CACHE): see
 * spool_cache_take.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "util/alloc.h"
#include "util/limits.h"
#include "util/log.h"
#include "crypto/dbkey.h"
#include "crypto/keycache.h"
#include "crypto/seal.h"
#include "crypto/secmem.h"
#include "directory/directory.h"
#include "store/store.h"
#include "outbound/outbound.h"
#include "delivery/delivery.h"
#include "delivery/delivery_group.h"
#include "delivery/quota.h"
#include "delivery/spool.h"

_Static_assert(DBKEY_LEN == SPOOL_KEY_LEN, "the spool is keyed with the server key");
_Static_assert(KEYCACHE_KEY_LEN == STORE_KEY_LEN, "cached keys open mailboxes");
_Static_assert(DIRECTORY_SEAL_PUBLIC_LEN == SEAL_PUBLIC_LEN, "directory holds seal keys");

struct delivery {
    char *datadir;
    directory *dir;
    unsigned char *server_key;          /* secure memory */
    outbound_queue *outq;               /* borrowed; NULL = no outbound actions possible */
    outbound_runner *outr;
    /* Open spool handles, reused by the leaders of spool batches (see
     * spool_cache_take). A handle is in the cache or with one leader, never
     * both, so a handle is used by one thread at a time. */
    pthread_mutex_t spool_mu;
    struct spool_slot {
        char mbid[DIRECTORY_MAILBOX_ID_LEN + 1];
        spool *sp;
        uint64_t used;                  /* LRU stamp */
    } spools[DELIVERY_SPOOL_CACHE];
    uint64_t spool_clock;
};

void delivery_set_outbound(delivery *d, outbound_queue *q, outbound_runner *r)
{
    d->outq = q;
    d->outr = r;
}

delivery *delivery_open(const char *datadir, directory *dir, char *err, size_t errlen)
{
    crypto_init();
    unsigned char *key = dbkey_read_server_key(datadir, err, errlen);
    if (!key) return NULL;
    delivery *d = xcalloc(1, sizeof *d);
    d->datadir = xstrdup(datadir);
    d->dir = dir;
    d->server_key = key;
    pthread_mutex_init(&d->spool_mu, NULL);
    return d;
}

void delivery_close(delivery *d)
{
    if (!d) return;
    for (size_t i = 0; i < DELIVERY_SPOOL_CACHE; i++) spool_close(d->spools[i].sp);
    pthread_mutex_destroy(&d->spool_mu);
    secmem_free(d->server_key);
    free(d->datadir);
    free(d);
}

/* --- Recipients ------------------------------------------------------------------------- */

delivery_rcpt_status delivery_rcpt_lookup(delivery *d, const char *address, delivery_rcpt *out)
{
    memset(out, 0, sizeof *out);
    const char *at = address ? strrchr(address, '@') : NULL;
    if (!at) return DELIVERY_RCPT_RELAY;
    char domain[DIRECTORY_DOMAIN_MAX + 1];
    /* An address literal, a U-label or anything else the directory cannot
     * hold is not one of our domains. */
    if (directory_domain_normalise(at + 1, domain, sizeof domain) < 0) return DELIVERY_RCPT_RELAY;
    int ours = directory_domain_exists(d->dir, domain);
    if (ours < 0) return DELIVERY_RCPT_ERROR;
    if (ours == 0) return DELIVERY_RCPT_RELAY;
    directory_alias a;
    directory_status st = directory_alias_lookup(d->dir, address, &a);
    switch (st) {
    case DIR_OK: {
        memcpy(out->mailbox_id, a.mailbox_id, sizeof out->mailbox_id);
        memcpy(out->seal_public, a.seal_public, sizeof out->seal_public);
        memcpy(out->address, a.address, sizeof out->address);
        out->quota = a.quota;
        sodium_memzero(&a, sizeof a);
        directory_alias_actions *act = xmalloc(sizeof *act);
        directory_status ast = directory_alias_actions_get(d->dir, out->address, act);
        if (ast == DIR_OK) {
            out->no_store = !act->store;
            out->has_outbound = act->forward[0] || act->webhook[0];
        }
        free(act);
        if (ast != DIR_OK) {
            memset(out, 0, sizeof *out);
            return DELIVERY_RCPT_ERROR;
        }
        if (!delivery_rcpt_fits(d, out, 0)) {
            log_info("delivery", "mailbox %s: over quota, recipient refused", out->mailbox_id);
            memset(out, 0, sizeof *out);
            return DELIVERY_RCPT_FULL;
        }
        return DELIVERY_RCPT_OK;
    }
    case DIR_NOTFOUND:
    case DIR_INVALID:              /* a quoted or UTF-8 local part: never an alias */
        return DELIVERY_RCPT_UNKNOWN;
    default:
        return DELIVERY_RCPT_ERROR;
    }
}

int delivery_rcpt_fits(delivery *d, const delivery_rcpt *r, uint64_t size)
{
    if (!r->quota || r->no_store) return 1;
    return !quota_over(r->quota, quota_usage(d->datadir, r->mailbox_id), size);
}

/* --- Storing ------------------------------------------------------------------------------ */

/* --- Group commit (delivery_group.h) ------------------------------------------------------ */

/* What the leader of a batch needs to open the file; every item of a key has
 * the same mailbox id (and, live, the same data key). */
typedef struct group_ctx {
    delivery *d;
    const char *mbid;
    const unsigned char *key;           /* live only */
} group_ctx;

static void group_key(char *out, size_t cap, char kind, const char *mbid)
{
    snprintf(out, cap, "%c%s", kind, mbid);
}

/* Leader, live: the batch into INBOX, one transaction (store_append_batch). */
static void live_commit(void *arg, delivery_group_item **items, size_t n)
{
    group_ctx *c = arg;
    store_batch_msg *v = xcalloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = *(store_batch_msg *)items[i]->arg;
    store_mailbox *m = NULL;
    store_status st = store_open(c->d->datadir, c->mbid, c->key, &m);
    if (st == STORE_OK) {
        st = store_append_batch(m, "INBOX", v, n);
        store_close(m);
    }
    for (size_t i = 0; i < n; i++) {
        if (st != STORE_OK) v[i].status = st;
        *(store_batch_msg *)items[i]->arg = v[i];
        items[i]->result = (int)v[i].status;
    }
    if (n > 1) log_debug("delivery", "mailbox %s: %zu live deliveries in one commit", c->mbid, n);
    free(v);
}

/* With the data key of a live session: INBOX of the real mailbox, in a
 * batch with whatever else is being delivered to it right now. */
static store_status deliver_live(delivery *d, const char *mbid, const unsigned char *key,
                                 const char *msg, size_t len, int64_t received)
{
    store_batch_msg bm = { .msg = msg, .len = len, .internaldate = received };
    delivery_group_item it = { .arg = &bm, .len = len };
    group_ctx c = { d, mbid, key };
    char gk[DIRECTORY_MAILBOX_ID_LEN + 2];
    group_key(gk, sizeof gk, 'L', mbid);
    delivery_group_run(gk, &it, live_commit, &c);
    if (bm.status == STORE_OK) log_debug("delivery", "mailbox %s: stored live as uid %u", mbid, bm.uid);
    return bm.status;
}

/* Spool handles stay open between batches: a spool file nobody else has open
 * would otherwise be opened (its pages read and decrypted anew), and at the
 * close of its last connection checkpointed and its WAL deleted, for every
 * batch — several times the cost of the batch's own INSERTs and fsync. The
 * spool is keyed with the server key, which this process holds anyway, so an
 * open handle reveals nothing more. The leader of a batch takes the handle
 * out of the cache and gives it back afterwards. */
static spool *spool_cache_take(delivery *d, const char *mbid)
{
    spool *sp = NULL;
    pthread_mutex_lock(&d->spool_mu);
    for (size_t i = 0; i < DELIVERY_SPOOL_CACHE; i++) {
        if (d->spools[i].sp && !strcmp(d->spools[i].mbid, mbid)) {
            sp = d->spools[i].sp;
            d->spools[i].sp = NULL;
            break;
        }
    }
    pthread_mutex_unlock(&d->spool_mu);
    return sp;
}

/* Back into the cache; when it is full, the least recently used handle is closed. */
static void spool_cache_give(delivery *d, const char *mbid, spool *sp)
{
    spool *evict = NULL;
    pthread_mutex_lock(&d->spool_mu);
    size_t slot = 0;
    for (size_t i = 0; i < DELIVERY_SPOOL_CACHE; i++) {
        if (!d->spools[i].sp) { slot = i; break; }
        if (d->spools[i].used < d->spools[slot].used) slot = i;
    }
    evict = d->spools[slot].sp;
    snprintf(d->spools[slot].mbid, sizeof d->spools[slot].mbid, "%s", mbid);
    d->spools[slot].sp = sp;
    d->spools[slot].used = ++d->spool_clock;
    pthread_mutex_unlock(&d->spool_mu);
    spool_close(evict);
}

/* Leader, sealed: the batch into the spool, one transaction. */
static void spool_commit(void *arg, delivery_group_item **items, size_t n)
{
    group_ctx *c = arg;
    spool_batch_entry *v = xcalloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = *(spool_batch_entry *)items[i]->arg;
    spool *sp = spool_cache_take(c->d, c->mbid);
    spool_status st = sp ? SPOOL_OK : spool_open(c->d->datadir, c->mbid, c->d->server_key, 1, &sp);
    if (st == SPOOL_OK) {
        st = spool_append_batch(sp, v, n);
        /* A handle that failed is not kept: the next batch starts afresh. */
        if (st == SPOOL_OK) spool_cache_give(c->d, c->mbid, sp);
        else spool_close(sp);
    } else {
        log_error("delivery", "mailbox %s: spool does not open", c->mbid);
    }
    for (size_t i = 0; i < n; i++) {
        if (st != SPOOL_OK) v[i].status = st;
        *(spool_batch_entry *)items[i]->arg = v[i];
        items[i]->result = (int)v[i].status;
    }
    if (n > 1) log_debug("delivery", "mailbox %s: %zu sealed deliveries in one commit", c->mbid, n);
    free(v);
}

/* A session may have logged in while we sealed: its login drain may have run
 * before our entry was committed. If the key is live now, drain ourselves. */
static void deliver_recheck(delivery *d, const char *mbid, unsigned char *key)
{
    if (keycache_lookup_key(mbid, key) != 0) return;
    store_mailbox *m = NULL;
    if (store_open(d->datadir, mbid, key, &m) != STORE_OK) return;
    delivery_drain_stats ds;
    if (delivery_spool_drain_key(d->datadir, d->server_key, m, &ds) == 0 && ds.imported)
        log_debug("delivery", "mailbox %s: %zu spooled message(s) moved in after a login", mbid,
                  ds.imported);
    store_close(m);
}

static int deliver_sealed(delivery *d, const delivery_rcpt *r, const char *msg, size_t len,
                          int64_t received)
{
    int rc = -1;
    /* Sealed by each delivering thread before it queues: the CPU work runs
     * in parallel, only the INSERTs and the fsync are shared. */
    unsigned char *blob = xmalloc(len + SEAL_OVERHEAD);
    if (seal_seal(r->seal_public, msg, len, blob) != 0) {
        log_error("delivery", "mailbox %s: the public key does not seal", r->mailbox_id);
        goto out;
    }
    spool_batch_entry e = { .received = received, .blob = blob, .len = len + SEAL_OVERHEAD };
    delivery_group_item it = { .arg = &e, .len = e.len };
    group_ctx c = { d, r->mailbox_id, NULL };
    char gk[DIRECTORY_MAILBOX_ID_LEN + 2];
    group_key(gk, sizeof gk, 'S', r->mailbox_id);
    delivery_group_run(gk, &it, spool_commit, &c);
    if (e.status != SPOOL_OK) goto out;
    log_debug("delivery", "mailbox %s: sealed into the spool as entry %lld", r->mailbox_id, (long long)e.id);
    rc = 0;
out:
    free(blob);
    return rc;
}

delivery_result delivery_store(delivery *d, const delivery_rcpt *r, const char *msg, size_t len,
                               int64_t received)
{
    delivery_result res = DELIVERY_FAILED;
    unsigned char *key = secmem_alloc(STORE_KEY_LEN);
    if (keycache_lookup_key(r->mailbox_id, key) == 0) {
        store_status st = deliver_live(d, r->mailbox_id, key, msg, len, received);
        if (st == STORE_OK) {
            res = DELIVERY_LIVE;
            goto out;
        }
        /* The sealed path is durable too; the drain brings the copy in later. */
        log_warn("delivery", "mailbox %s: live delivery failed (%s); sealing instead",
                 r->mailbox_id, store_strerror(st));
    }
    if (deliver_sealed(d, r, msg, len, received) == 0) {
        res = DELIVERY_SPOOLED;
        deliver_recheck(d, r->mailbox_id, key);
    }
out:
    secmem_free(key);
    return res;
}

/* The jobs for one recipient's forward targets and webhook, appended to *v. */
static int deliver_jobs_for(delivery *d, const char *sender, const delivery_rcpt *r, const char *msg,
                            size_t len, outbound_job **v, size_t *n, size_t *cap)
{
    directory_alias_actions *act = xmalloc(sizeof *act);
    int rc = -1;
    if (directory_alias_actions_get(d->dir, r->address, act) != DIR_OK) goto out;
    char *save = NULL;
    for (char *t = strtok_r(act->forward, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 8;
            *v = xrealloc(*v, *cap * sizeof **v);
        }
        (*v)[(*n)++] = (outbound_job){ .kind = OUTBOUND_FORWARD, .sender = xstrdup(sender),
                                       .rcpt = xstrdup(r->address), .target = xstrdup(t),
                                       .msg = (char *)msg, .len = len };
    }
    if (act->webhook[0]) {
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 8;
            *v = xrealloc(*v, *cap * sizeof **v);
        }
        (*v)[(*n)++] = (outbound_job){ .kind = OUTBOUND_WEBHOOK, .sender = xstrdup(sender),
                                       .rcpt = xstrdup(r->address), .target = xstrdup(act->webhook),
                                       .msg = (char *)msg, .len = len };
    }
    rc = 0;
out:
    free(act);
    return rc;
}

/* Every outbound job of the message, in one transaction. */
static int deliver_outbound(delivery *d, const char *sender, const delivery_rcpt *const *rcpts, size_t n,
                            const char *msg, size_t len, int64_t received)
{
    outbound_job *v = NULL;
    size_t count = 0, cap = 0;
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        if (!rcpts[i]->has_outbound) continue;
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++)
            dup = strcmp(rcpts[i]->mailbox_id, rcpts[j]->mailbox_id) == 0;
        if (dup) continue;
        if (!d->outq) {
            log_error("delivery", "mailbox %s: forward/webhook set but no outbound queue", rcpts[i]->mailbox_id);
            goto out;
        }
        if (deliver_jobs_for(d, sender, rcpts[i], msg, len, &v, &count, &cap) < 0) goto out;
    }
    if (count == 0) { rc = 0; goto out; }
    if (outbound_enqueue(d->outq, v, count, received) < 0) goto out;
    log_debug("delivery", "%zu outbound job(s) queued", count);
    outbound_runner_kick(d->outr);
    rc = 0;
out:
    /* msg is borrowed; only the strings are ours. */
    for (size_t i = 0; i < count; i++) {
        v[i].msg = NULL;
        outbound_job_clear(&v[i]);
    }
    free(v);
    return rc;
}

static int deliver_from(delivery *d, const char *sender, const delivery_rcpt *const *rcpts, size_t n,
                        const char *msg, size_t len, int64_t received)
{
    /* Quotas: refused only when nobody would get it (see delivery.h). */
    int room = 0, quota_full = 0;
    for (size_t i = 0; i < n; i++) {
        if (rcpts[i]->has_outbound || rcpts[i]->no_store || delivery_rcpt_fits(d, rcpts[i], len)) room = 1;
        else quota_full = 1;
    }
    if (n && quota_full && !room) return DELIVERY_DELIVER_FULL;
    /* Outbound first: a failure here stores nothing and the client retries. */
    if (deliver_outbound(d, sender ? sender : "", rcpts, n, msg, len, received) < 0) return -1;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++)
            dup = strcmp(rcpts[i]->mailbox_id, rcpts[j]->mailbox_id) == 0;
        if (dup || rcpts[i]->no_store) continue;
        if (delivery_store(d, rcpts[i], msg, len, received) == DELIVERY_FAILED) rc = -1;
    }
    return rc;
}

/* "Return-Path: <a@b>" at the very start of msg -> "a@b" (cut at
 * ADDRESS_MAX_LEN); "" when there is none or it is <>. */
static void deliver_return_path(const char *msg, size_t len, char *out, size_t cap)
{
    out[0] = '\0';
    if (len < 13 || strncasecmp(msg, "Return-Path:", 12)) return;
    const char *end = memchr(msg, '\n', len);
    if (!end) return;
    const char *lt = memchr(msg, '<', (size_t)(end - msg));
    if (!lt) return;
    const char *gt = memchr(lt, '>', (size_t)(end - lt));
    if (!gt) return;
    size_t n = (size_t)(gt - lt - 1);
    if (n >= cap) return;
    memcpy(out, lt + 1, n);
    out[n] = '\0';
}

int delivery_deliver(delivery *d, const delivery_rcpt *const *rcpts, size_t n, const char *msg,
                     size_t len, int64_t received)
{
    char sender[ADDRESS_MAX_LEN + 1];
    deliver_return_path(msg, len, sender, sizeof sender);
    return deliver_from(d, sender, rcpts, n, msg, len, received);
}

/* --- Draining ------------------------------------------------------------------------------ */

int delivery_spool_drain_key(const char *datadir, const unsigned char server_key[32],
                             store_mailbox *m, delivery_drain_stats *stats)
{
    delivery_drain_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    const char *mbid = store_mailbox_id(m);
    spool *sp = NULL;
    spool_status sst = spool_open(datadir, mbid, server_key, 0, &sp);
    if (sst == SPOOL_NOTFOUND) return 0;
    if (sst != SPOOL_OK) return -1;

    int rc = -1;
    unsigned char *sk = secmem_alloc(SEAL_SECRET_LEN);
    unsigned char pk[SEAL_PUBLIC_LEN];
    if (store_seal_secret(m, sk) != STORE_OK || seal_public_from_secret(sk, pk) != 0) {
        log_error("delivery", "mailbox %s: no sealing key to drain the spool with", mbid);
        goto out;
    }
    int64_t after = 0;
    for (;;) {
        spool_entry e;
        sst = spool_next(sp, after, &e);
        if (sst == SPOOL_NOTFOUND) break;
        if (sst != SPOOL_OK) goto out;
        after = e.id;
        size_t plen = e.len >= SEAL_OVERHEAD ? e.len - SEAL_OVERHEAD : 0;
        char *plain = xmalloc(plen + 1);
        if (e.len < SEAL_OVERHEAD || seal_open(pk, sk, e.blob, e.len, plain) != 0) {
            log_warn("delivery", "mailbox %s: spool entry %lld does not open; left in the spool",
                     mbid, (long long)e.id);
            stats->refused++;
            free(plain);
            spool_entry_clear(&e);
            continue;
        }
        char origin[SPOOL_ORIGIN_MAX];
        spool_origin(sp, e.id, origin);
        store_status st = store_append_once(m, "INBOX", 0, NULL, 0, e.received, plain, plen, origin, NULL, NULL);
        sodium_memzero(plain, plen + 1);
        free(plain);
        int64_t id = e.id;
        spool_entry_clear(&e);
        if (st == STORE_OK) {
            stats->imported++;
        } else if (st == STORE_EXISTS) {
            stats->duplicates++;
        } else {
            log_error("delivery", "mailbox %s: importing spool entry %lld: %s", mbid, (long long)id,
                      store_strerror(st));
            goto out;
        }
        /* Only now: the mailbox holds the message and the record of its origin. */
        if (spool_delete(sp, id) != SPOOL_OK) goto out;
    }
    rc = 0;
    if (stats->imported || stats->duplicates)
        log_info("delivery", "mailbox %s: spool drained into INBOX: %zu imported, %zu imported before",
                 mbid, stats->imported, stats->duplicates);
out:
    sodium_memzero(pk, sizeof pk);
    secmem_free(sk);
    spool_close(sp);
    return rc;
}

int delivery_spool_drain(const char *datadir, store_mailbox *m, delivery_drain_stats *stats)
{
    char err[512];
    if (stats) memset(stats, 0, sizeof *stats);
    unsigned char *key = dbkey_read_server_key(datadir, err, sizeof err);
    if (!key) {
        log_error("delivery", "mailbox %s: cannot drain the spool: %s", store_mailbox_id(m), err);
        return -1;
    }
    int rc = delivery_spool_drain_key(datadir, key, m, stats);
    secmem_free(key);
    return rc;
}
