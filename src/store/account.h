/*
 * account.h — addresses as the services see them: log in, create, remove,
 * change a password (DESIGN.md "Keys").
 *
 * SUMMARY
 *   accounts_open / accounts_close       the directory of a data directory
 *   account_login / account_logout       password -> a held data key
 *   account_auth_mailbox_id / _key / _address
 *   account_create / account_remove / account_password_change
 *   account_generate_password            a new readable password, >= 128 bits
 *
 * PROMISES
 *   - A login is authenticated by unwrapping a key slot (Argon2id) or by the key
 *     cache recognising a password that opened one of the alias's current slots;
 *     there is no other password hash. Unknown addresses cost one Argon2id
 *     derivation too, so time does not tell which addresses exist.
 *   - Failed logins are counted per address and per client IP (AUTH_FAIL_*):
 *     over either limit, account_login answers ACCOUNT_THROTTLED without trying
 *     the password until the window passes. A success clears its address's count.
 *     account_login never sleeps: the caller delays failure replies.
 *   - A logged-in account_auth holds the data key in the key cache (locked
 *     memory) until account_logout, which releases and wipes.
 *   - account_create is all-or-nothing: data key, X25519 pair, encrypted mailbox
 *     file, key slot and alias row; any failure undoes the file.
 *   - A password change adds a slot for the new password and removes the slot the
 *     old one opened, in one transaction; the mailbox is never re-encrypted.
 *   - Nothing here logs an address or a password (mailbox ids only).
 *
 * DIAGNOSTICS
 *   account_status. account_login gives ACCOUNT_BADAUTH for an unknown address,
 *   a malformed address and a wrong password alike; ACCOUNT_ERROR is an internal
 *   failure (already logged).
 */
#ifndef SEALBOX_ACCOUNT_H
#define SEALBOX_ACCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include "directory/directory.h"

typedef struct accounts accounts;

/* Opens DATADIR's directory (DATADIR must have been initialised). */
accounts *accounts_open(const char *datadir, char *err, size_t errlen);
void accounts_close(accounts *a);

typedef enum account_status {
    ACCOUNT_OK = 0,
    ACCOUNT_BADAUTH,      /* wrong password or unknown address */
    ACCOUNT_THROTTLED,    /* too many failures: not tried */
    ACCOUNT_EXISTS,       /* create: the address exists already */
    ACCOUNT_NOTFOUND,     /* no such address; create: no such domain */
    ACCOUNT_INVALID,      /* malformed address, password too short/long */
    ACCOUNT_ERROR,        /* internal failure, logged */
} account_status;

const char *account_strerror(account_status st);

typedef struct account_auth account_auth;   /* a logged-in identity: mailbox id + data key (held in keycache) */

/* Verifies address+password (key cache first, then Argon2id over each key slot),
 * with per-address and per-IP failure throttling (AUTH_FAIL_* in util/limits.h).
 * Does NOT sleep; the caller delays the failure reply. Never logs the address or
 * password. client_ip may be NULL (no per-IP accounting). */
account_status account_login(accounts *a, const char *address, const char *password,
                             const char *client_ip, account_auth **out);
const char *account_auth_mailbox_id(const account_auth *au);
const unsigned char *account_auth_key(const account_auth *au);   /* 32 bytes, locked memory */
const char *account_auth_address(const account_auth *au);        /* normalised (lowercase) */
void account_logout(account_auth *au);          /* releases the key cache hold, wipes */

const char *account_datadir(const accounts *a);
/* The directory behind the accounts (domains, listings). Owned by `a`. */
directory *account_directory(accounts *a);

/* data key, X25519 pair, store_create, key slot, alias row; all-or-nothing.
 * ACCOUNT_NOTFOUND when the address's domain is not in the directory. */
account_status account_create(accounts *a, const char *address, const char *password);
/* alias row (and its key slots) + store_destroy. */
account_status account_remove(accounts *a, const char *address);
/* adds a slot for new, removes the slot old opened; never re-encrypts.
 * ACCOUNT_BADAUTH when old_pw opens no slot. */
account_status account_password_change(accounts *a, const char *address, const char *old_pw,
                                       const char *new_pw);
/* >= 128 bits of entropy, readable: 28 base32 letters and digits in groups of
 * four joined by '-' (140 bits, 34 characters; outlen >= 35). Returns 0, or -1
 * when out is too small. */
int account_generate_password(char *out, size_t outlen);

/* Argon2id cost of the key slots this handle creates from now on (default
 * KEYSLOT_OPSLIMIT / KEYSLOT_MEMLIMIT; existing slots keep theirs). For an
 * operator raising the cost, and for tests lowering it. -1 if out of range. */
int accounts_set_kdf_cost(accounts *a, uint32_t opslimit, size_t memlimit);

#endif
