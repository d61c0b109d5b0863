/*
 * seal.h — sealing keys of an alias (DESIGN.md "Delivery", promise 4).
 *
 * SUMMARY
 *   seal_keypair(pk, sk)          a new X25519 key pair (crypto_box_keypair)
 *   seal_public_from_secret       recomputes the public key of a secret key
 *   seal_seal(pk, msg) -> blob    anonymous sealed box (crypto_box_seal): anyone
 *                                 with the public key seals, only the secret opens
 *   seal_open(pk, sk, blob) -> msg
 *
 * PROMISES
 *   The public key lives in the directory, the secret key only inside the
 *   encrypted mailbox (store_create) and, while used, in secure memory. A sealed
 *   blob is SEAL_OVERHEAD bytes longer than the message; opening fails (-1) for
 *   any change to it, without telling why.
 */
#ifndef SEALBOX_SEAL_H
#define SEALBOX_SEAL_H

#include <stddef.h>

#define SEAL_PUBLIC_LEN 32
#define SEAL_SECRET_LEN 32
#define SEAL_OVERHEAD   48      /* crypto_box_SEALBYTES: ephemeral key + tag */

/* sk should be secure memory (crypto/secmem.h). Returns 0. */
int seal_keypair(unsigned char pk[SEAL_PUBLIC_LEN], unsigned char sk[SEAL_SECRET_LEN]);
int seal_public_from_secret(const unsigned char sk[SEAL_SECRET_LEN], unsigned char pk[SEAL_PUBLIC_LEN]);
/* out must have len + SEAL_OVERHEAD bytes. 0, or -1 when the public key is
 * unusable (e.g. a low-order point). */
int seal_seal(const unsigned char pk[SEAL_PUBLIC_LEN], const void *msg, size_t len, unsigned char *out);
/* out must have len - SEAL_OVERHEAD bytes. 0, or -1 for a blob that was not
 * sealed to this key pair or was changed. */
int seal_open(const unsigned char pk[SEAL_PUBLIC_LEN], const unsigned char sk[SEAL_SECRET_LEN],
              const unsigned char *blob, size_t len, void *out);

#endif
