/*
 * seal.c — X25519 sealed boxes (see seal.h); thin wrappers over libsodium so
 * the rest of Sealbox names one module for sealing and never sizes buffers
 * from libsodium constants itself.
 */
#include <sodium.h>

#include "crypto/seal.h"
#include "crypto/secmem.h"

_Static_assert(SEAL_PUBLIC_LEN == crypto_box_PUBLICKEYBYTES, "X25519 public key size");
_Static_assert(SEAL_SECRET_LEN == crypto_box_SECRETKEYBYTES, "X25519 secret key size");
_Static_assert(SEAL_OVERHEAD == crypto_box_SEALBYTES, "sealed box overhead");

int seal_keypair(unsigned char pk[SEAL_PUBLIC_LEN], unsigned char sk[SEAL_SECRET_LEN])
{
    crypto_init();
    return crypto_box_keypair(pk, sk) == 0 ? 0 : -1;
}

int seal_public_from_secret(const unsigned char sk[SEAL_SECRET_LEN], unsigned char pk[SEAL_PUBLIC_LEN])
{
    crypto_init();
    return crypto_scalarmult_base(pk, sk) == 0 ? 0 : -1;
}

int seal_seal(const unsigned char pk[SEAL_PUBLIC_LEN], const void *msg, size_t len, unsigned char *out)
{
    crypto_init();
    return crypto_box_seal(out, msg, len, pk) == 0 ? 0 : -1;
}

int seal_open(const unsigned char pk[SEAL_PUBLIC_LEN], const unsigned char sk[SEAL_SECRET_LEN],
              const unsigned char *blob, size_t len, void *out)
{
    crypto_init();
    if (len < SEAL_OVERHEAD) return -1;
    return crypto_box_seal_open(out, blob, len, pk, sk) == 0 ? 0 : -1;
}
