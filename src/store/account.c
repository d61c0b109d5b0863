/*
 * account.c — logins, account creation and removal, password changes (see
 * account.h), on top of the directory, key slots, the key cache and store.h.
 *
 * Throttling keeps failure records in a fixed table of AUTH_FAIL_TABLE_SIZE
 * entries, addressed by a keyed BLAKE2b tag of "a:" + address or "i:" + IP (the
 * table never holds an address, and a client cannot aim collisions at one
 * bucket). A record counts failures in a window that starts at its first
 * failure and lasts AUTH_FAIL_WINDOW_SEC. A probe looks at 8 neighbouring
 * places: its own record, else a free or expired one, else it evicts the record
 * with the oldest window, so the table stays bounded under a flood of
 * addresses at the cost of forgetting the stalest counts first.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "util/alloc.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "util/log.h"
#include "crypto/keycache.h"
#include "crypto/keyslot.h"
#include "crypto/seal.h"
#include "crypto/secmem.h"
#include "directory/directory.h"
#include "store/store.h"
#include "store/account.h"

#define ACCOUNT_TAG_LEN 16
#define ACCOUNT_PROBE   8

_Static_assert(STORE_KEY_LEN == KEYSLOT_KEY_LEN && STORE_KEY_LEN == KEYCACHE_KEY_LEN, "one data key size");
_Static_assert(STORE_MAILBOX_ID_LEN == DIRECTORY_MAILBOX_ID_LEN, "one mailbox id size");

typedef struct account_fail {
    unsigned char tag[ACCOUNT_TAG_LEN];
    time_t first;              /* monotonic seconds; 0 = free */
    uint32_t count;
} account_fail;

struct accounts {
    char *datadir;
    directory *dir;
    uint32_t kdf_ops;
    size_t kdf_mem;
    pthread_mutex_t mu;        /* guards fails */
    account_fail *fails;       /* AUTH_FAIL_TABLE_SIZE, allocated at the first failure */
    unsigned char tag_key[crypto_generichash_KEYBYTES];
};

struct account_auth {
    keycache_hold *hold;
    char mailbox_id[STORE_MAILBOX_ID_LEN + 1];
    char address[ADDRESS_MAX_LEN + 1];
};

const char *account_strerror(account_status st)
{
    switch (st) {
    case ACCOUNT_OK: return "ok";
    case ACCOUNT_BADAUTH: return "wrong password";
    case ACCOUNT_THROTTLED: return "too many failed logins; try again later";
    case ACCOUNT_EXISTS: return "the address exists already";
    case ACCOUNT_NOTFOUND: return "no such address or domain";
    case ACCOUNT_INVALID: return "invalid address or password";
    case ACCOUNT_ERROR: return "internal error (see the log)";
    }
    return "unknown error";
}

static time_t account_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1;          /* never 0: 0 marks a free record */
}

accounts *accounts_open(const char *datadir, char *err, size_t errlen)
{
    crypto_init();
    directory *d = directory_open(datadir, err, errlen);
    if (!d) return NULL;
    accounts *a = xcalloc(1, sizeof *a);
    a->datadir = xstrdup(datadir);
    a->dir = d;
    a->kdf_ops = KEYSLOT_OPSLIMIT;
    a->kdf_mem = KEYSLOT_MEMLIMIT;
    pthread_mutex_init(&a->mu, NULL);
    randombytes_buf(a->tag_key, sizeof a->tag_key);
    return a;
}

void accounts_close(accounts *a)
{
    if (!a) return;
    directory_close(a->dir);
    free(a->fails);
    sodium_memzero(a->tag_key, sizeof a->tag_key);
    pthread_mutex_destroy(&a->mu);
    free(a->datadir);
    free(a);
}

const char *account_datadir(const accounts *a)
{
    return a->datadir;
}

directory *account_directory(accounts *a)
{
    return a->dir;
}

int accounts_set_kdf_cost(accounts *a, uint32_t opslimit, size_t memlimit)
{
    if (!keyslot_cost_valid(opslimit, memlimit)) return -1;
    a->kdf_ops = opslimit;
    a->kdf_mem = memlimit;
    return 0;
}

/* --- Throttling ------------------------------------------------------------------------ */

static void account_tag(const accounts *a, char kind, const char *s, unsigned char tag[ACCOUNT_TAG_LEN])
{
    crypto_generichash_state st;
    unsigned char prefix[2] = { (unsigned char)kind, ':' };
    crypto_generichash_init(&st, a->tag_key, sizeof a->tag_key, ACCOUNT_TAG_LEN);
    crypto_generichash_update(&st, prefix, sizeof prefix);
    crypto_generichash_update(&st, (const unsigned char *)s, strlen(s));
    crypto_generichash_final(&st, tag, ACCOUNT_TAG_LEN);
}

static size_t account_tag_index(const unsigned char tag[ACCOUNT_TAG_LEN])
{
    uint64_t h;
    memcpy(&h, tag, sizeof h);
    return (size_t)(h % AUTH_FAIL_TABLE_SIZE);
}

static int account_fail_live(const account_fail *f, time_t now)
{
    return f->first != 0 && now - f->first < AUTH_FAIL_WINDOW_SEC;
}

/* The caller holds a->mu. The record for `tag`, or NULL. */
static account_fail *account_fail_find(accounts *a, const unsigned char tag[ACCOUNT_TAG_LEN], time_t now)
{
    if (!a->fails) return NULL;
    size_t base = account_tag_index(tag);
    for (size_t i = 0; i < ACCOUNT_PROBE; i++) {
        account_fail *f = &a->fails[(base + i) % AUTH_FAIL_TABLE_SIZE];
        if (account_fail_live(f, now) && !memcmp(f->tag, tag, ACCOUNT_TAG_LEN)) return f;
    }
    return NULL;
}

static void account_fail_add(accounts *a, const unsigned char tag[ACCOUNT_TAG_LEN], time_t now)
{
    account_fail *f = account_fail_find(a, tag, now);
    if (f) {
        f->count++;
        return;
    }
    if (!a->fails) a->fails = xcalloc(AUTH_FAIL_TABLE_SIZE, sizeof *a->fails);
    size_t base = account_tag_index(tag);
    account_fail *victim = NULL;
    for (size_t i = 0; i < ACCOUNT_PROBE; i++) {
        account_fail *c = &a->fails[(base + i) % AUTH_FAIL_TABLE_SIZE];
        if (!account_fail_live(c, now)) { victim = c; break; }
        if (!victim || c->first < victim->first) victim = c;
    }
    memcpy(victim->tag, tag, ACCOUNT_TAG_LEN);
    victim->first = now;
    victim->count = 1;
}

static uint32_t account_fail_count(accounts *a, const unsigned char tag[ACCOUNT_TAG_LEN], time_t now)
{
    account_fail *f = account_fail_find(a, tag, now);
    return f ? f->count : 0;
}

static void account_fail_clear(accounts *a, const unsigned char tag[ACCOUNT_TAG_LEN], time_t now)
{
    account_fail *f = account_fail_find(a, tag, now);
    if (f) memset(f, 0, sizeof *f);
}

/* --- Login --------------------------------------------------------------------------- */

/* Tries every slot; 0 with the key and the id of the slot that opened, or -1. */
static int account_unwrap_any(const directory_keyslot *slots, size_t n, const char *pw, size_t pwlen,
                              unsigned char *key, int64_t *slot_id)
{
    for (size_t i = 0; i < n; i++) {
        if (keyslot_unwrap(slots[i].blob, slots[i].len, pw, pwlen, key) == 0) {
            *slot_id = slots[i].id;
            return 0;
        }
    }
    return -1;
}

static account_auth *account_auth_new(keycache_hold *h, const char *mailbox_id, const char *addr)
{
    account_auth *au = xcalloc(1, sizeof *au);
    au->hold = h;
    snprintf(au->mailbox_id, sizeof au->mailbox_id, "%s", mailbox_id);
    snprintf(au->address, sizeof au->address, "%s", addr);
    return au;
}

account_status account_login(accounts *a, const char *address, const char *password,
                             const char *client_ip, account_auth **out)
{
    *out = NULL;
    if (!address || !password) return ACCOUNT_BADAUTH;
    size_t pwlen = strlen(password);
    char addr[ADDRESS_MAX_LEN + 1];
    int addr_ok = strlen(address) <= ADDRESS_MAX_LEN &&
                  directory_address_normalise(address, addr, sizeof addr) == 0;
    int valid = addr_ok && pwlen <= PASSWORD_MAX_LEN;
    unsigned char atag[ACCOUNT_TAG_LEN], itag[ACCOUNT_TAG_LEN];
    /* A malformed address is still counted, under its raw bytes (bounded by
     * the caller's line limits), so it cannot dodge the throttle. */
    account_tag(a, 'a', addr_ok ? addr : address, atag);
    if (client_ip) account_tag(a, 'i', client_ip, itag);

    time_t now = account_now();
    pthread_mutex_lock(&a->mu);
    int throttled = account_fail_count(a, atag, now) >= AUTH_FAIL_PER_ADDRESS ||
                    (client_ip && account_fail_count(a, itag, now) >= AUTH_FAIL_PER_IP);
    pthread_mutex_unlock(&a->mu);
    if (throttled) return ACCOUNT_THROTTLED;

    account_status res = ACCOUNT_BADAUTH;
    directory_alias al;
    directory_keyslot *slots = NULL;
    size_t nslots = 0;
    int64_t *ids = NULL;
    unsigned char *key = NULL;
    int deriving = 0;
    if (!valid) {
        keyslot_dummy(password, pwlen > PASSWORD_MAX_LEN ? PASSWORD_MAX_LEN : pwlen, a->kdf_ops, a->kdf_mem);
        goto out;
    }
    directory_status ds = directory_alias_lookup(a->dir, addr, &al);
    if (ds == DIR_OK) ds = directory_keyslot_list(a->dir, addr, &slots, &nslots);
    if (ds == DIR_NOTFOUND || ds == DIR_INVALID || (ds == DIR_OK && nslots == 0)) {
        keyslot_dummy(password, pwlen, a->kdf_ops, a->kdf_mem);
        goto out;
    }
    if (ds != DIR_OK) {
        res = ACCOUNT_ERROR;
        goto out;
    }

    ids = xcalloc(nslots, sizeof *ids);
    for (size_t i = 0; i < nslots; i++) ids[i] = slots[i].id;
    keycache_hold *h = NULL;
    if (keycache_acquire(al.mailbox_id, password, pwlen, ids, nslots, &h)) {
        *out = account_auth_new(h, al.mailbox_id, addr);
        res = ACCOUNT_OK;
        goto out;
    }
    deriving = 1;
    key = secmem_alloc(STORE_KEY_LEN);
    int64_t slot_id;
    if (account_unwrap_any(slots, nslots, password, pwlen, key, &slot_id) == 0) {
        h = keycache_insert(al.mailbox_id, key, password, pwlen, slot_id);
        deriving = 0;
        if (!h) {
            res = ACCOUNT_ERROR;
            goto out;
        }
        *out = account_auth_new(h, al.mailbox_id, addr);
        res = ACCOUNT_OK;
    }
out:
    if (deriving) keycache_abandon(al.mailbox_id);
    now = account_now();
    pthread_mutex_lock(&a->mu);
    if (res == ACCOUNT_OK) {
        account_fail_clear(a, atag, now);
    } else if (res == ACCOUNT_BADAUTH) {
        account_fail_add(a, atag, now);
        if (client_ip) account_fail_add(a, itag, now);
    }
    pthread_mutex_unlock(&a->mu);
    if (res == ACCOUNT_OK) log_debug("account", "mailbox %s: login", (*out)->mailbox_id);
    secmem_free(key);
    free(ids);
    directory_keyslots_free(slots, nslots);
    sodium_memzero(addr, sizeof addr);
    return res;
}

const char *account_auth_mailbox_id(const account_auth *au)
{
    return au->mailbox_id;
}

const unsigned char *account_auth_key(const account_auth *au)
{
    return keycache_hold_key(au->hold);
}

const char *account_auth_address(const account_auth *au)
{
    return au->address;
}

void account_logout(account_auth *au)
{
    if (!au) return;
    keycache_release(au->hold);
    sodium_memzero(au, sizeof *au);
    free(au);
}

/* --- Administration ----------------------------------------------------------------------- */

static int account_password_ok(const char *pw)
{
    size_t n = pw ? strlen(pw) : 0;
    return n >= PASSWORD_MIN_LEN && n <= PASSWORD_MAX_LEN;
}

account_status account_create(accounts *a, const char *address, const char *password)
{
    char addr[ADDRESS_MAX_LEN + 1];
    if (!address || directory_address_normalise(address, addr, sizeof addr) < 0 ||
        !account_password_ok(password))
        return ACCOUNT_INVALID;
    /* Cheap refusals first: an Argon2id run and a mailbox file for an address
     * that cannot be added would be wasted. The transaction below decides. */
    int dom = directory_domain_exists(a->dir, strchr(addr, '@') + 1);
    if (dom < 0) return ACCOUNT_ERROR;
    if (dom == 0) return ACCOUNT_NOTFOUND;
    directory_alias al;
    directory_status ds = directory_alias_lookup(a->dir, addr, &al);
    if (ds == DIR_OK) return ACCOUNT_EXISTS;
    if (ds != DIR_NOTFOUND) return ACCOUNT_ERROR;

    account_status res = ACCOUNT_ERROR;
    unsigned char *key = secmem_alloc(STORE_KEY_LEN);
    unsigned char *seal_sk = secmem_alloc(SEAL_SECRET_LEN);
    unsigned char slot[KEYSLOT_LEN];
    int created = 0;
    memset(&al, 0, sizeof al);
    snprintf(al.address, sizeof al.address, "%s", addr);
    random_hex_id(al.mailbox_id, STORE_MAILBOX_ID_LEN / 2);
    randombytes_buf(key, STORE_KEY_LEN);
    if (seal_keypair(al.seal_public, seal_sk) < 0) goto out;
    if (keyslot_wrap_cost(key, password, strlen(password), a->kdf_ops, a->kdf_mem, slot) < 0) {
        log_error("account", "mailbox %s: key slot: Argon2id failed (memory?)", al.mailbox_id);
        goto out;
    }
    store_status st = store_create(a->datadir, al.mailbox_id, key, seal_sk);
    if (st != STORE_OK) {
        log_error("account", "mailbox %s: create: %s", al.mailbox_id, store_strerror(st));
        goto out;
    }
    created = 1;
    ds = directory_alias_add(a->dir, &al, slot, sizeof slot, NULL);
    if (ds == DIR_EXISTS) { res = ACCOUNT_EXISTS; goto out; }
    if (ds == DIR_NOTFOUND) { res = ACCOUNT_NOTFOUND; goto out; }
    if (ds != DIR_OK) goto out;
    created = 0;
    log_info("account", "mailbox %s: created", al.mailbox_id);
    res = ACCOUNT_OK;
out:
    if (created && store_destroy(a->datadir, al.mailbox_id) != STORE_OK)
        log_error("account", "mailbox %s: could not remove the file of a failed create", al.mailbox_id);
    sodium_memzero(slot, sizeof slot);
    secmem_free(seal_sk);
    secmem_free(key);
    return res;
}

account_status account_remove(accounts *a, const char *address)
{
    char addr[ADDRESS_MAX_LEN + 1];
    if (!address || directory_address_normalise(address, addr, sizeof addr) < 0) return ACCOUNT_INVALID;
    directory_alias al;
    directory_status ds = directory_alias_lookup(a->dir, addr, &al);
    if (ds == DIR_NOTFOUND) return ACCOUNT_NOTFOUND;
    if (ds != DIR_OK) return ACCOUNT_ERROR;
    /* The row first: once it is gone no login finds the mailbox, so the file
     * can go. A crash in between leaves an orphaned file nobody can open. */
    ds = directory_alias_remove(a->dir, addr);
    if (ds == DIR_NOTFOUND) return ACCOUNT_NOTFOUND;
    if (ds != DIR_OK) return ACCOUNT_ERROR;
    keycache_forget(al.mailbox_id);
    store_status st = store_destroy(a->datadir, al.mailbox_id);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        log_error("account", "mailbox %s: alias removed but the file was not: %s", al.mailbox_id,
                  store_strerror(st));
        return ACCOUNT_ERROR;
    }
    log_info("account", "mailbox %s: removed", al.mailbox_id);
    return ACCOUNT_OK;
}

account_status account_password_change(accounts *a, const char *address, const char *old_pw,
                                       const char *new_pw)
{
    char addr[ADDRESS_MAX_LEN + 1];
    if (!address || directory_address_normalise(address, addr, sizeof addr) < 0 ||
        !account_password_ok(new_pw))
        return ACCOUNT_INVALID;
    if (!old_pw || strlen(old_pw) > PASSWORD_MAX_LEN) return ACCOUNT_BADAUTH;
    directory_alias al;
    directory_status ds = directory_alias_lookup(a->dir, addr, &al);
    if (ds == DIR_NOTFOUND) return ACCOUNT_NOTFOUND;
    if (ds != DIR_OK) return ACCOUNT_ERROR;

    account_status res = ACCOUNT_ERROR;
    directory_keyslot *slots = NULL;
    size_t nslots = 0;
    unsigned char *key = secmem_alloc(STORE_KEY_LEN);
    unsigned char slot[KEYSLOT_LEN];
    int64_t old_id;
    ds = directory_keyslot_list(a->dir, addr, &slots, &nslots);
    if (ds == DIR_NOTFOUND) { res = ACCOUNT_NOTFOUND; goto out; }
    if (ds != DIR_OK) goto out;
    if (account_unwrap_any(slots, nslots, old_pw, strlen(old_pw), key, &old_id) < 0) {
        res = ACCOUNT_BADAUTH;
        goto out;
    }
    if (keyslot_wrap_cost(key, new_pw, strlen(new_pw), a->kdf_ops, a->kdf_mem, slot) < 0) {
        log_error("account", "mailbox %s: key slot: Argon2id failed (memory?)", al.mailbox_id);
        goto out;
    }
    /* The key cache needs no flush: its verifier for the old password names
     * the old slot, which is gone from the list every later login passes. */
    ds = directory_keyslot_replace(a->dir, addr, old_id, slot, sizeof slot, NULL);
    if (ds == DIR_NOTFOUND) { res = ACCOUNT_BADAUTH; goto out; }   /* removed meanwhile */
    if (ds != DIR_OK) goto out;
    log_info("account", "mailbox %s: password changed (key slot replaced)", al.mailbox_id);
    res = ACCOUNT_OK;
out:
    sodium_memzero(slot, sizeof slot);
    secmem_free(key);
    directory_keyslots_free(slots, nslots);
    return res;
}

int account_generate_password(char *out, size_t outlen)
{
    /* RFC 4648 base32 alphabet, lowercase: no 0/1/8/9, so nothing to confuse
     * with o, l, b or g when read aloud or typed from paper. */
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    enum { GROUPS = 7, GROUP_LEN = 4, LEN = GROUPS * GROUP_LEN + GROUPS - 1 };
    if (!out || outlen < LEN + 1) return -1;
    crypto_init();
    size_t o = 0;
    for (int g = 0; g < GROUPS; g++) {
        if (g) out[o++] = '-';
        for (int i = 0; i < GROUP_LEN; i++) out[o++] = alphabet[randombytes_uniform(32)];
    }
    out[o] = '\0';
    return 0;
}
