/*
 * keyslot.c — Argon2id + XChaCha20-Poly1305 key slots (see keyslot.h).
 *
 * The derivation gate (a counting semaphore on a mutex and condition variable)
 * bounds the memory Argon2id can take when many logins arrive at once.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <sodium.h>

#include "util/limits.h"
#include "crypto/keyslot.h"
#include "crypto/secmem.h"

#define KEYSLOT_SALT_LEN  16
#define KEYSLOT_NONCE_LEN 24
#define KEYSLOT_OFF_SALT  10
#define KEYSLOT_OFF_NONCE KEYSLOT_AD_LEN
#define KEYSLOT_OFF_CT    (KEYSLOT_AD_LEN + KEYSLOT_NONCE_LEN)

_Static_assert(KEYSLOT_SALT_LEN == crypto_pwhash_SALTBYTES, "Argon2id salt size");
_Static_assert(KEYSLOT_NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "XChaCha20 nonce size");
_Static_assert(KEYSLOT_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "KEK size");
_Static_assert(16 == crypto_aead_xchacha20poly1305_ietf_ABYTES, "Poly1305 tag size");

static atomic_ulong keyslot_kdfs;
static pthread_mutex_t keyslot_gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t keyslot_gate_cv = PTHREAD_COND_INITIALIZER;
static int keyslot_running;

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int keyslot_cost_valid(uint32_t opslimit, size_t memlimit)
{
    return opslimit >= crypto_pwhash_argon2id_OPSLIMIT_MIN && opslimit <= KEYSLOT_OPSLIMIT_MAX &&
           memlimit >= crypto_pwhash_argon2id_MEMLIMIT_MIN && memlimit <= KEYSLOT_MEMLIMIT_MAX &&
           memlimit % 1024 == 0;
}

/* Argon2id under the gate. The output goes to secure memory the caller owns. */
static int keyslot_derive(unsigned char kek[KEYSLOT_KEY_LEN], const char *password, size_t pwlen,
                          const unsigned char salt[KEYSLOT_SALT_LEN], uint32_t opslimit, size_t memlimit)
{
    pthread_mutex_lock(&keyslot_gate_mu);
    while (keyslot_running >= KEYSLOT_CONCURRENT_MAX)
        pthread_cond_wait(&keyslot_gate_cv, &keyslot_gate_mu);
    keyslot_running++;
    pthread_mutex_unlock(&keyslot_gate_mu);

    atomic_fetch_add(&keyslot_kdfs, 1);
    int rc = crypto_pwhash(kek, KEYSLOT_KEY_LEN, password, pwlen, salt, opslimit, memlimit,
                           crypto_pwhash_ALG_ARGON2ID13);

    pthread_mutex_lock(&keyslot_gate_mu);
    keyslot_running--;
    pthread_cond_signal(&keyslot_gate_cv);
    pthread_mutex_unlock(&keyslot_gate_mu);
    return rc == 0 ? 0 : -1;
}

int keyslot_wrap_cost(const unsigned char key[KEYSLOT_KEY_LEN], const char *password, size_t pwlen,
                      uint32_t opslimit, size_t memlimit, unsigned char slot[KEYSLOT_LEN])
{
    crypto_init();
    if (!keyslot_cost_valid(opslimit, memlimit)) return -1;
    slot[0] = KEYSLOT_VERSION;
    slot[1] = KEYSLOT_ALG_ARGON2ID13;
    put_u32(slot + 2, opslimit);
    put_u32(slot + 6, (uint32_t)(memlimit / 1024));
    randombytes_buf(slot + KEYSLOT_OFF_SALT, KEYSLOT_SALT_LEN);
    randombytes_buf(slot + KEYSLOT_OFF_NONCE, KEYSLOT_NONCE_LEN);

    unsigned char *kek = secmem_alloc(KEYSLOT_KEY_LEN);
    int rc = -1;
    if (keyslot_derive(kek, password, pwlen, slot + KEYSLOT_OFF_SALT, opslimit, memlimit) != 0)
        goto out;
    crypto_aead_xchacha20poly1305_ietf_encrypt(slot + KEYSLOT_OFF_CT, NULL, key, KEYSLOT_KEY_LEN,
                                               slot, KEYSLOT_AD_LEN, NULL,
                                               slot + KEYSLOT_OFF_NONCE, kek);
    rc = 0;
out:
    secmem_free(kek);
    if (rc != 0) sodium_memzero(slot, KEYSLOT_LEN);
    return rc;
}

int keyslot_wrap(const unsigned char key[KEYSLOT_KEY_LEN], const char *password, size_t pwlen,
                 unsigned char slot[KEYSLOT_LEN])
{
    return keyslot_wrap_cost(key, password, pwlen, KEYSLOT_OPSLIMIT, KEYSLOT_MEMLIMIT, slot);
}

int keyslot_cost(const unsigned char *slot, size_t slotlen, uint32_t *opslimit, size_t *memlimit)
{
    if (!slot || slotlen != KEYSLOT_LEN || slot[0] != KEYSLOT_VERSION ||
        slot[1] != KEYSLOT_ALG_ARGON2ID13)
        return -1;
    uint32_t ops = get_u32(slot + 2);
    size_t mem = (size_t)get_u32(slot + 6) * 1024;
    if (!keyslot_cost_valid(ops, mem)) return -1;
    if (opslimit) *opslimit = ops;
    if (memlimit) *memlimit = mem;
    return 0;
}

int keyslot_unwrap(const unsigned char *slot, size_t slotlen, const char *password, size_t pwlen,
                   unsigned char key_out[KEYSLOT_KEY_LEN])
{
    crypto_init();
    uint32_t ops;
    size_t mem;
    sodium_memzero(key_out, KEYSLOT_KEY_LEN);
    if (keyslot_cost(slot, slotlen, &ops, &mem) != 0) return -1;

    unsigned char *kek = secmem_alloc(KEYSLOT_KEY_LEN);
    int rc = -1;
    if (keyslot_derive(kek, password, pwlen, slot + KEYSLOT_OFF_SALT, ops, mem) != 0) goto out;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(key_out, NULL, NULL, slot + KEYSLOT_OFF_CT,
                                                   KEYSLOT_KEY_LEN + 16, slot, KEYSLOT_AD_LEN,
                                                   slot + KEYSLOT_OFF_NONCE, kek) != 0)
        goto out;
    rc = 0;
out:
    secmem_free(kek);
    if (rc != 0) sodium_memzero(key_out, KEYSLOT_KEY_LEN);
    return rc;
}

void keyslot_dummy(const char *password, size_t pwlen, uint32_t opslimit, size_t memlimit)
{
    crypto_init();
    if (!keyslot_cost_valid(opslimit, memlimit)) {
        opslimit = KEYSLOT_OPSLIMIT;
        memlimit = KEYSLOT_MEMLIMIT;
    }
    unsigned char salt[KEYSLOT_SALT_LEN];
    unsigned char *kek = secmem_alloc(KEYSLOT_KEY_LEN);
    randombytes_buf(salt, sizeof salt);
    (void)keyslot_derive(kek, password, pwlen, salt, opslimit, memlimit);
    secmem_free(kek);
}

unsigned long keyslot_kdf_count(void)
{
    return atomic_load(&keyslot_kdfs);
}
