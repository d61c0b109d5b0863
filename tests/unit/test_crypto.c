/*
 * test_crypto.c — key slots (wrap/unwrap, wrong passwords, tampering, costs),
 * the key cache (hits, misses, verifiers, refcounts, expiry, waiting for a
 * derivation in progress), sealed boxes and the secure memory pool.
 *
 * Argon2id at the default cost runs only where the default is the point (one
 * round trip); the rest use libsodium's minimum cost, which exercises the same
 * code with a 8 KiB derivation.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "util/limits.h"
#include "crypto/keycache.h"
#include "crypto/keyslot.h"
#include "crypto/seal.h"
#include "crypto/secmem.h"

#define MIN_OPS ((uint32_t)crypto_pwhash_argon2id_OPSLIMIT_MIN)
#define MIN_MEM ((size_t)crypto_pwhash_argon2id_MEMLIMIT_MIN)
#define PW      "correct horse battery"
#define PWLEN   (sizeof PW - 1)

static void fill_key(unsigned char *k, unsigned char seed)
{
    for (int i = 0; i < 32; i++) k[i] = (unsigned char)(seed + i * 3);
}

/* --- Key slots ------------------------------------------------------------------ */

static void keyslot_roundtrip_at_default_cost_returns_the_key(void **state)
{
    unsigned char key[32], slot[KEYSLOT_LEN];
    unsigned char *out = secmem_alloc(32);
    fill_key(key, 7);
    unsigned long before = keyslot_kdf_count();
    assert_int_equal(keyslot_wrap(key, PW, PWLEN, slot), 0);
    assert_int_equal(keyslot_unwrap(slot, sizeof slot, PW, PWLEN, out), 0);
    assert_memory_equal(out, key, 32);
    assert_int_equal(keyslot_kdf_count() - before, 2);
    /* The cost is recorded in the clear header. */
    uint32_t ops;
    size_t mem;
    assert_int_equal(keyslot_cost(slot, sizeof slot, &ops, &mem), 0);
    assert_int_equal(ops, KEYSLOT_OPSLIMIT);
    assert_int_equal(mem, KEYSLOT_MEMLIMIT);
    assert_int_equal(slot[0], KEYSLOT_VERSION);
    assert_int_equal(slot[1], KEYSLOT_ALG_ARGON2ID13);
    /* The key never appears in the slot. */
    assert_null(memmem(slot, sizeof slot, key, 8));
    secmem_free(out);
}

static void keyslot_wrong_password_fails_and_zeroes_output(void **state)
{
    unsigned char key[32], slot[KEYSLOT_LEN], out[32], zero[32] = { 0 };
    fill_key(key, 1);
    assert_int_equal(keyslot_wrap_cost(key, PW, PWLEN, MIN_OPS, MIN_MEM, slot), 0);
    memset(out, 0xaa, sizeof out);
    assert_int_equal(keyslot_unwrap(slot, sizeof slot, "correct horse battery!", PWLEN + 1, out), -1);
    assert_memory_equal(out, zero, 32);
    /* A prefix of the password is a different password. */
    assert_int_equal(keyslot_unwrap(slot, sizeof slot, PW, PWLEN - 1, out), -1);
}

static void keyslot_two_wraps_of_one_key_differ(void **state)
{
    unsigned char key[32], a[KEYSLOT_LEN], b[KEYSLOT_LEN];
    fill_key(key, 2);
    assert_int_equal(keyslot_wrap_cost(key, PW, PWLEN, MIN_OPS, MIN_MEM, a), 0);
    assert_int_equal(keyslot_wrap_cost(key, PW, PWLEN, MIN_OPS, MIN_MEM, b), 0);
    /* Fresh salt and nonce each time. */
    assert_memory_not_equal(a + 10, b + 10, 16);
    assert_memory_not_equal(a + 26, b + 26, 24);
}

static void keyslot_any_changed_byte_fails(void **state)
{
    unsigned char key[32], slot[KEYSLOT_LEN], bad[KEYSLOT_LEN], out[32];
    fill_key(key, 3);
    assert_int_equal(keyslot_wrap_cost(key, PW, PWLEN, MIN_OPS, MIN_MEM, slot), 0);
    /* One byte in each field: version, algorithm, cost, salt, nonce, ciphertext, tag. */
    static const size_t offsets[] = { 0, 1, 2, 9, 10, 25, 26, 49, 50, 81, 82, KEYSLOT_LEN - 1 };
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        memcpy(bad, slot, sizeof slot);
        bad[offsets[i]] ^= 0x01;
        assert_int_equal(keyslot_unwrap(bad, sizeof bad, PW, PWLEN, out), -1);
    }
    /* Truncated or extended slots are refused. */
    assert_int_equal(keyslot_unwrap(slot, sizeof slot - 1, PW, PWLEN, out), -1);
    assert_int_equal(keyslot_unwrap(slot, 0, PW, PWLEN, out), -1);
    /* The untouched slot still opens. */
    assert_int_equal(keyslot_unwrap(slot, sizeof slot, PW, PWLEN, out), 0);
    assert_memory_equal(out, key, 32);
}

static void keyslot_refuses_out_of_range_cost_without_deriving(void **state)
{
    unsigned char key[32], slot[KEYSLOT_LEN], out[32];
    fill_key(key, 4);
    assert_int_equal(keyslot_wrap_cost(key, PW, PWLEN, KEYSLOT_OPSLIMIT_MAX + 1, MIN_MEM, slot), -1);
    assert_int_equal(keyslot_wrap_cost(key, PW, PWLEN, MIN_OPS, KEYSLOT_MEMLIMIT_MAX + 1024, slot), -1);
    assert_int_equal(keyslot_wrap_cost(key, PW, PWLEN, MIN_OPS, MIN_MEM + 1, slot), -1);
    assert_int_equal(keyslot_cost_valid(KEYSLOT_OPSLIMIT, KEYSLOT_MEMLIMIT), 1);
    assert_int_equal(keyslot_wrap_cost(key, PW, PWLEN, MIN_OPS, MIN_MEM, slot), 0);
    /* A slot that claims 4 TiB of memory: refused before any derivation. */
    slot[6] = slot[7] = slot[8] = slot[9] = 0xff;
    unsigned long before = keyslot_kdf_count();
    assert_int_equal(keyslot_unwrap(slot, sizeof slot, PW, PWLEN, out), -1);
    assert_int_equal(keyslot_kdf_count(), before);
}

/* --- Key cache ------------------------------------------------------------------ */

static const int64_t SLOTS_1[] = { 1 };
static const int64_t SLOTS_1_2[] = { 1, 2 };
static const int64_t SLOTS_2[] = { 2 };

static void keycache_miss_then_insert_then_hit(void **state)
{
    const char *id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa01";
    unsigned char key[32];
    fill_key(key, 10);
    keycache_hold *h = NULL;
    assert_int_equal(keycache_acquire(id, PW, PWLEN, SLOTS_1, 1, &h), 0);
    assert_null(h);
    keycache_hold *h1 = keycache_insert(id, key, PW, PWLEN, 1);
    assert_non_null(h1);
    assert_memory_equal(keycache_hold_key(h1), key, 32);
    assert_string_equal(keycache_hold_mailbox_id(h1), id);

    keycache_hold *h2 = NULL;
    assert_int_equal(keycache_acquire(id, PW, PWLEN, SLOTS_1_2, 2, &h2), 1);
    assert_ptr_equal(h2, h1);
    assert_memory_equal(keycache_hold_key(h2), key, 32);
    keycache_release(h2);
    keycache_release(h1);
    keycache_forget(id);
}

static void keycache_wrong_password_misses(void **state)
{
    const char *id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa02";
    unsigned char key[32];
    fill_key(key, 11);
    keycache_hold *h = NULL;
    assert_int_equal(keycache_acquire(id, PW, PWLEN, SLOTS_1, 1, &h), 0);
    keycache_hold *h1 = keycache_insert(id, key, PW, PWLEN, 1);
    assert_int_equal(keycache_acquire(id, "another password", 16, SLOTS_1, 1, &h), 0);
    assert_null(h);
    keycache_abandon(id);
    /* Same password, other mailbox id: the verifier covers the id. */
    assert_int_equal(keycache_acquire("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa99", PW, PWLEN, SLOTS_1, 1, &h), 0);
    keycache_abandon("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa99");
    keycache_release(h1);
    keycache_forget(id);
}

static void keycache_hit_needs_the_slot_the_password_opened(void **state)
{
    const char *id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa03";
    unsigned char key[32];
    fill_key(key, 12);
    keycache_hold *h = NULL;
    assert_int_equal(keycache_acquire(id, PW, PWLEN, SLOTS_1, 1, &h), 0);
    keycache_hold *h1 = keycache_insert(id, key, PW, PWLEN, 1);
    /* Slot 1 was removed (password changed): the old password must miss. */
    assert_int_equal(keycache_acquire(id, PW, PWLEN, SLOTS_2, 1, &h), 0);
    assert_null(h);
    keycache_abandon(id);
    assert_int_equal(keycache_acquire(id, PW, PWLEN, NULL, 0, &h), 0);
    keycache_abandon(id);
    /* A second password (slot 2) is remembered next to the first. */
    keycache_hold *h2 = keycache_insert(id, key, "app password two", 16, 2);
    assert_ptr_equal(h2, h1);
    assert_int_equal(keycache_acquire(id, "app password two", 16, SLOTS_1_2, 2, &h), 1);
    keycache_release(h);
    assert_int_equal(keycache_acquire(id, PW, PWLEN, SLOTS_1_2, 2, &h), 1);
    keycache_release(h);
    keycache_release(h2);
    keycache_release(h1);
    keycache_forget(id);
}

static void keycache_refcount_and_grace_expiry(void **state)
{
    const char *id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa04";
    unsigned char key[32], out[32];
    fill_key(key, 13);
    keycache_hold *h = NULL;
    assert_int_equal(keycache_acquire(id, PW, PWLEN, SLOTS_1, 1, &h), 0);
    keycache_hold *h1 = keycache_insert(id, key, PW, PWLEN, 1);
    assert_int_equal(keycache_acquire(id, PW, PWLEN, SLOTS_1, 1, &h), 1);
    size_t n = keycache_size();

    /* Held: no amount of time expires it. */
    keycache_expire(keycache_now() + 10 * KEYCACHE_GRACE_SEC);
    assert_int_equal(keycache_lookup_key(id, out), 0);
    assert_memory_equal(out, key, 32);
    keycache_release(h);
    keycache_expire(keycache_now() + 10 * KEYCACHE_GRACE_SEC);
    assert_int_equal(keycache_lookup_key(id, out), 0);

    /* Last hold released: kept for the grace period, then wiped. */
    keycache_release(h1);
    time_t released = keycache_now();
    assert_int_equal(keycache_size(), n);
    keycache_expire(released + KEYCACHE_GRACE_SEC - 2);
    assert_int_equal(keycache_lookup_key(id, out), 0);
    assert_int_equal(keycache_acquire(id, PW, PWLEN, SLOTS_1, 1, &h), 1);   /* a re-login revives it */
    keycache_release(h);
    keycache_expire(keycache_now() + KEYCACHE_GRACE_SEC + 1);
    memset(out, 0, sizeof out);
    assert_int_equal(keycache_lookup_key(id, out), -1);
    assert_int_equal(keycache_size(), n - 1);
    assert_int_equal(keycache_acquire(id, PW, PWLEN, SLOTS_1, 1, &h), 0);
    keycache_abandon(id);
}

static void keycache_forget_keeps_held_key_valid(void **state)
{
    const char *id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa05";
    unsigned char key[32], out[32];
    fill_key(key, 14);
    keycache_hold *h = NULL;
    assert_int_equal(keycache_acquire(id, PW, PWLEN, SLOTS_1, 1, &h), 0);
    keycache_hold *h1 = keycache_insert(id, key, PW, PWLEN, 1);
    keycache_forget(id);
    assert_int_equal(keycache_lookup_key(id, out), -1);
    assert_memory_equal(keycache_hold_key(h1), key, 32);
    assert_int_equal(keycache_acquire(id, PW, PWLEN, SLOTS_1, 1, &h), 0);
    keycache_abandon(id);
    keycache_release(h1);
}

typedef struct waiter {
    const char *id;
    int result;
    keycache_hold *h;
} waiter;

static void *waiter_main(void *arg)
{
    waiter *w = arg;
    w->result = keycache_acquire(w->id, PW, PWLEN, SLOTS_1, 1, &w->h);
    return NULL;
}

static void keycache_second_login_waits_for_derivation_in_progress(void **state)
{
    const char *id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa06";
    unsigned char key[32];
    fill_key(key, 15);
    keycache_hold *h = NULL;
    /* This thread misses and becomes the deriver. */
    assert_int_equal(keycache_acquire(id, PW, PWLEN, SLOTS_1, 1, &h), 0);
    waiter w = { id, -1, NULL };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
    usleep(100 * 1000);
    /* The waiter must not have given up and become a deriver itself. */
    assert_int_equal(w.result, -1);
    keycache_hold *h1 = keycache_insert(id, key, PW, PWLEN, 1);
    pthread_join(t, NULL);
    assert_int_equal(w.result, 1);
    assert_ptr_equal(w.h, h1);
    keycache_release(w.h);
    keycache_release(h1);
    keycache_forget(id);
}

static void keycache_waiter_derives_itself_after_failed_derivation(void **state)
{
    const char *id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa07";
    keycache_hold *h = NULL;
    assert_int_equal(keycache_acquire(id, "wrong password!", 15, SLOTS_1, 1, &h), 0);
    waiter w = { id, -1, NULL };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
    usleep(50 * 1000);
    keycache_abandon(id);      /* the first login failed */
    pthread_join(t, NULL);
    assert_int_equal(w.result, 0);   /* a miss: the waiter derives now */
    assert_null(w.h);
    keycache_abandon(id);
}

/* --- Sealing -------------------------------------------------------------------- */

static void seal_roundtrip_and_tamper(void **state)
{
    unsigned char pk[SEAL_PUBLIC_LEN], pk2[SEAL_PUBLIC_LEN];
    unsigned char *sk = secmem_alloc(SEAL_SECRET_LEN), *sk2 = secmem_alloc(SEAL_SECRET_LEN);
    assert_int_equal(seal_keypair(pk, sk), 0);
    assert_int_equal(seal_keypair(pk2, sk2), 0);
    unsigned char again[SEAL_PUBLIC_LEN];
    assert_int_equal(seal_public_from_secret(sk, again), 0);
    assert_memory_equal(again, pk, SEAL_PUBLIC_LEN);

    static const char msg[] = "Subject: sealed\r\n\r\nfor your eyes only\r\n";
    unsigned char blob[sizeof msg + SEAL_OVERHEAD];
    char out[sizeof msg];
    assert_int_equal(seal_seal(pk, msg, sizeof msg, blob), 0);
    assert_null(memmem(blob, sizeof blob, "eyes", 4));
    assert_int_equal(seal_open(pk, sk, blob, sizeof blob, out), 0);
    assert_memory_equal(out, msg, sizeof msg);
    assert_int_equal(seal_open(pk2, sk2, blob, sizeof blob, out), -1);
    blob[SEAL_OVERHEAD + 3] ^= 0x40;
    assert_int_equal(seal_open(pk, sk, blob, sizeof blob, out), -1);
    assert_int_equal(seal_open(pk, sk, blob, SEAL_OVERHEAD - 1, out), -1);
    secmem_free(sk);
    secmem_free(sk2);
}

/* --- Secure memory -------------------------------------------------------------- */

static void secmem_pool_reuses_records_zeroed(void **state)
{
    secmem_pool *p = secmem_pool_new(100);
    unsigned char *a = secmem_pool_get(p), *b = secmem_pool_get(p);
    assert_ptr_not_equal(a, b);
    memset(a, 0x5a, 100);
    memset(b, 0x5b, 100);
    secmem_pool_put(p, a);
    unsigned char *c = secmem_pool_get(p);
    assert_ptr_equal(c, a);
    for (int i = 0; i < 100; i++) assert_int_equal(c[i], 0);
    /* Enough records to need a second chunk. */
    void *many[2000];
    for (int i = 0; i < 2000; i++) many[i] = secmem_pool_get(p);
    for (int i = 0; i < 2000; i++) secmem_pool_put(p, many[i]);
    secmem_pool_free(p);
}

int main(void)
{
    crypto_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keyslot_roundtrip_at_default_cost_returns_the_key),
        cmocka_unit_test(keyslot_wrong_password_fails_and_zeroes_output),
        cmocka_unit_test(keyslot_two_wraps_of_one_key_differ),
        cmocka_unit_test(keyslot_any_changed_byte_fails),
        cmocka_unit_test(keyslot_refuses_out_of_range_cost_without_deriving),
        cmocka_unit_test(keycache_miss_then_insert_then_hit),
        cmocka_unit_test(keycache_wrong_password_misses),
        cmocka_unit_test(keycache_hit_needs_the_slot_the_password_opened),
        cmocka_unit_test(keycache_refcount_and_grace_expiry),
        cmocka_unit_test(keycache_forget_keeps_held_key_valid),
        cmocka_unit_test(keycache_second_login_waits_for_derivation_in_progress),
        cmocka_unit_test(keycache_waiter_derives_itself_after_failed_derivation),
        cmocka_unit_test(seal_roundtrip_and_tamper),
        cmocka_unit_test(secmem_pool_reuses_records_zeroed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
