/*
 * keyslot.h — key slots: a mailbox data key wrapped under a password.
 *
 * SUMMARY
 *   keyslot_wrap(key, pw)          a new slot (default cost, util/limits.h)
 *   keyslot_wrap_cost(...)         the same with an explicit Argon2id cost
 *   keyslot_unwrap(slot, pw, key)  the data key back, or -1
 *   keyslot_cost(slot, ...)        the cost recorded in a slot
 *   keyslot_cost_valid(ops, mem)   whether a cost is one we derive with
 *   keyslot_dummy(pw, cost)        one derivation, result discarded: an unknown
 *                                  address costs the time a real slot would
 *   keyslot_kdf_count()            Argon2id derivations so far (tests)
 *
 * FORMAT (KEYSLOT_LEN bytes, integers little-endian)
 *   0   version (1)            1   algorithm (1 = Argon2id v1.3)
 *   2   opslimit (u32)         6   memlimit in KiB (u32)
 *   10  salt (16)              26  nonce (24)
 *   50  XChaCha20-Poly1305 ciphertext of the 32-byte key, with its 16-byte tag
 *   Bytes 0..25 (version, algorithm, cost, salt) are the associated data, so a
 *   slot whose cost or salt was changed does not open.
 *
 * PROMISES
 *   The KEK exists only in secure memory for the length of one call and is wiped.
 *   A failed unwrap cannot say whether the password was wrong or the slot
 *   damaged: both are -1. Costs outside libsodium's minimum and
 *   KEYSLOT_*_MAX are refused without deriving. At most KEYSLOT_CONCURRENT_MAX
 *   derivations run at once in a process; more callers wait their turn.
 */
#ifndef SEALBOX_KEYSLOT_H
#define SEALBOX_KEYSLOT_H

#include <stddef.h>
#include <stdint.h>

#define KEYSLOT_KEY_LEN   32
#define KEYSLOT_VERSION   1
#define KEYSLOT_ALG_ARGON2ID13 1
#define KEYSLOT_AD_LEN    26
#define KEYSLOT_LEN       (KEYSLOT_AD_LEN + 24 + KEYSLOT_KEY_LEN + 16)

/* 0, with KEYSLOT_LEN bytes in `slot`; -1 if the cost is out of range or the
 * derivation fails (out of memory). */
int keyslot_wrap(const unsigned char key[KEYSLOT_KEY_LEN], const char *password, size_t pwlen,
                 unsigned char slot[KEYSLOT_LEN]);
int keyslot_wrap_cost(const unsigned char key[KEYSLOT_KEY_LEN], const char *password, size_t pwlen,
                      uint32_t opslimit, size_t memlimit, unsigned char slot[KEYSLOT_LEN]);
/* 0 with the key in key_out (pass secure memory), or -1: wrong password,
 * damaged slot, unknown version or cost out of range. key_out is zeroed on -1. */
int keyslot_unwrap(const unsigned char *slot, size_t slotlen, const char *password, size_t pwlen,
                   unsigned char key_out[KEYSLOT_KEY_LEN]);
/* 1 when libsodium's minimum <= cost <= KEYSLOT_*_MAX and memlimit is whole KiB. */
int keyslot_cost_valid(uint32_t opslimit, size_t memlimit);
/* 0 with the recorded cost, -1 if the slot is not one we can read. */
int keyslot_cost(const unsigned char *slot, size_t slotlen, uint32_t *opslimit, size_t *memlimit);
void keyslot_dummy(const char *password, size_t pwlen, uint32_t opslimit, size_t memlimit);
unsigned long keyslot_kdf_count(void);

#endif
