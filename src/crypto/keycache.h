/*
 * keycache.h — unwrapped mailbox data keys of live sessions (DESIGN.md "Keys").
 *
 * SUMMARY
 *   keycache_acquire(id, pw, slots)  a hold on the key if `pw` opened one of
 *                                    `slots` before (no Argon2id); otherwise a miss
 *                                    that makes the caller the one deriving the key
 *   keycache_insert(id, key, pw, slot)  after a successful unwrap: caches the key
 *                                    and a verifier of pw, returns a hold
 *   keycache_abandon(id)             after a failed derivation
 *   keycache_hold_key(h)             the 32-byte key, in locked memory, while held
 *   keycache_release(h)              drops a hold; the key stays KEYCACHE_GRACE_SEC
 *   keycache_lookup_key(id, key)     copies the key if cached (delivery, issue 3)
 *   keycache_forget(id)              drops the mailbox's verifiers and key (password
 *                                    change, removal); existing holds keep their key
 *   keycache_expire(now)             wipes keys idle since now - KEYCACHE_GRACE_SEC
 *
 * PROMISES
 *   - Keys live in locked memory (crypto/secmem.h) and are zeroed when dropped.
 *   - No password is kept. A verifier is BLAKE2b-256 keyed with a random key made
 *     at process start, over the mailbox id and the password, and remembers the
 *     key slot that password opened: a hit also needs that slot to be among the
 *     caller's current slots, so a password removed from the directory (by
 *     another process too) stops hitting the cache at once.
 *   - Five connections logging in together pay Argon2id once: after a miss,
 *     later callers for the same mailbox wait (up to KEYCACHE_WAIT_SEC) for the
 *     first derivation to end, then look again.
 *   - A hold's key pointer stays valid until keycache_release, whatever happens
 *     to the cache meanwhile. Expiry is lazy on every call plus keycache_expire.
 *   - Thread-safe (one mutex); a process-wide singleton, initialised on first use.
 */
#ifndef SEALBOX_KEYCACHE_H
#define SEALBOX_KEYCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define KEYCACHE_KEY_LEN 32

typedef struct keycache_entry keycache_hold;

/* 1: hit, *out is a new hold. 0: miss, *out is NULL, and the caller must end
 * its derivation with keycache_insert() or keycache_abandon(). */
int keycache_acquire(const char *mailbox_id, const char *password, size_t pwlen,
                     const int64_t *slot_ids, size_t nslots, keycache_hold **out);
keycache_hold *keycache_insert(const char *mailbox_id, const unsigned char key[KEYCACHE_KEY_LEN],
                               const char *password, size_t pwlen, int64_t slot_id);
void keycache_abandon(const char *mailbox_id);
const unsigned char *keycache_hold_key(const keycache_hold *h);
const char *keycache_hold_mailbox_id(const keycache_hold *h);
void keycache_release(keycache_hold *h);

/* 0 with the key copied to key_out (pass locked memory), -1 if not cached. */
int keycache_lookup_key(const char *mailbox_id, unsigned char key_out[KEYCACHE_KEY_LEN]);
void keycache_forget(const char *mailbox_id);
void keycache_expire(time_t now);
/* The clock keycache_expire() uses: monotonic seconds. */
time_t keycache_now(void);
/* Entries in the table (held or in their grace period); for tests and stats. */
size_t keycache_size(void);
/* Drops every entry not held (shutdown, tests). */
void keycache_clear(void);

#endif
