/*
 * directory.h — domains, aliases (addresses), key slots: who exists and how
 * their mailbox opens (DESIGN.md "Growing past one machine").
 *
 * SUMMARY
 *   directory_open / directory_open_file / directory_close
 *   directory_domain_add / _remove / _list / _exists
 *   directory_alias_add / _lookup / _list / _remove
 *   directory_keyslot_add / _list / _remove / _replace
 *   directory_domain_normalise / directory_address_normalise  (no database)
 *   directory_alias_actions_get / _set    per-address store flag, forward
 *                                         targets, webhook URL (issue 3)
 *   directory_forward_list_normalise / directory_webhook_url_ok  (no database)
 *   directory_alias_quota_set            the alias's quota in bytes (0 = none);
 *                                        read back by directory_alias_lookup
 *
 *   This is an interface: directory_sqlite.c implements it on an embedded
 *   SQLite3MC file, DATADIR/directory.db, encrypted (chacha20) with the 32-byte
 *   server key DATADIR/server.key; a PostgreSQL implementation for several nodes
 *   comes later behind the same calls. Nothing here knows about mailbox files.
 *
 * PROMISES
 *   - Addresses and domains are stored lowercase, as directory_*_normalise
 *     produce them; every call that takes one accepts any case and normalises.
 *   - Nothing readable reaches the disk: the file and its WAL are encrypted with
 *     the server key (promise 1); the key is read into secure memory.
 *   - An alias and its first key slot are added in one transaction; removing an
 *     alias removes its key slots; a domain with aliases cannot be removed;
 *     a slot replacement (password change) is one transaction.
 *   - Thread-safe: one connection behind a mutex. Several processes (sealboxd
 *     and the sealbox CLI) share the file through WAL and a 5 s busy timeout.
 *   - Logs never contain an address or a domain.
 *
 * DIAGNOSTICS
 *   directory_status; DIR_ERROR is an internal failure, logged with the SQLite
 *   message. directory_open explains failures in err (e.g. a wrong server key).
 */
#ifndef SEALBOX_DIRECTORY_H
#define SEALBOX_DIRECTORY_H

#include <stddef.h>
#include <stdint.h>

#include "util/limits.h"

#define DIRECTORY_KEY_LEN        32
#define DIRECTORY_MAILBOX_ID_LEN 32     /* hex characters, like STORE_MAILBOX_ID_LEN */
#define DIRECTORY_DOMAIN_MAX     253    /* RFC 1035 2.3.4, without the trailing dot */
#define DIRECTORY_LOCAL_MAX      64     /* RFC 5321 4.5.3.1.1 */
#define DIRECTORY_SEAL_PUBLIC_LEN 32
#define DIRECTORY_KEYSLOT_MAX    1024   /* bytes of one key slot blob */

typedef enum directory_status {
    DIR_OK = 0,
    DIR_NOTFOUND,      /* no such domain / alias / key slot */
    DIR_EXISTS,        /* already there */
    DIR_INVALID,       /* malformed domain, address or argument */
    DIR_NOTEMPTY,      /* domain still has aliases */
    DIR_LIMIT,         /* KEYSLOTS_PER_ADDRESS_MAX reached */
    DIR_ERROR,         /* internal failure, logged */
} directory_status;

const char *directory_strerror(directory_status st);

typedef struct directory directory;

typedef struct directory_alias {
    char address[ADDRESS_MAX_LEN + 1];                 /* local@domain, lowercase */
    char mailbox_id[DIRECTORY_MAILBOX_ID_LEN + 1];
    unsigned char seal_public[DIRECTORY_SEAL_PUBLIC_LEN];
    uint64_t quota;                                    /* bytes; 0 = none */
    int64_t created;                                   /* seconds since the epoch */
} directory_alias;

typedef struct directory_keyslot {
    int64_t id;                                        /* > 0, never reused */
    unsigned char *blob;                               /* crypto/keyslot.h format */
    size_t len;
    int64_t created;
} directory_keyslot;

/* DATADIR/directory.db with the key of DATADIR/server.key; creates the file
 * and schema if missing (the key file must exist). NULL with a reason in err. */
directory *directory_open(const char *datadir, char *err, size_t errlen);
/* The same on an explicit path and key (tests, tools). */
directory *directory_open_file(const char *path, const unsigned char key[DIRECTORY_KEY_LEN],
                               char *err, size_t errlen);
void directory_close(directory *d);

/* Lowercases and checks. Domains: RFC 1035 labels as relaxed by RFC 1123
 * (letters, digits, inner hyphens; 1..63 octets; a label may start with a
 * digit), at most 253 octets, no trailing dot, and a last label that is not all
 * digits (RFC 3696 2). Addresses: a dot-atom local part (RFC 5322 3.2.3) of at
 * most 64 octets, '@', such a domain; at most ADDRESS_MAX_LEN octets.
 * 0, or -1 when invalid. `out` needs the input length + 1. */
int directory_domain_normalise(const char *in, char *out, size_t outlen);
int directory_address_normalise(const char *in, char *out, size_t outlen);

directory_status directory_domain_add(directory *d, const char *domain);
/* DIR_NOTEMPTY while aliases of the domain exist. */
directory_status directory_domain_remove(directory *d, const char *domain);
/* Sorted; the caller frees each name and the array. */
directory_status directory_domain_list(directory *d, char ***names, size_t *n);
/* 1 exists, 0 not, -1 error. */
int directory_domain_exists(directory *d, const char *domain);

/* Adds alias `a` (its domain must exist: DIR_NOTFOUND otherwise) and, when
 * slot is not NULL, its first key slot, in one transaction. *slot_id may be NULL. */
directory_status directory_alias_add(directory *d, const directory_alias *a,
                                     const unsigned char *slot, size_t slotlen, int64_t *slot_id);
directory_status directory_alias_lookup(directory *d, const char *address, directory_alias *out);
/* Sorted by address; domain NULL for all. The caller frees the array. */
directory_status directory_alias_list(directory *d, const char *domain, directory_alias **out, size_t *n);
/* Removes the alias and its key slots. */
directory_status directory_alias_remove(directory *d, const char *address);

/* DIR_LIMIT when the alias has KEYSLOTS_PER_ADDRESS_MAX slots already. */
directory_status directory_keyslot_add(directory *d, const char *address,
                                       const unsigned char *blob, size_t len, int64_t *id);
/* Oldest first; DIR_NOTFOUND for an unknown alias (an alias with no slot: DIR_OK, n = 0). */
directory_status directory_keyslot_list(directory *d, const char *address,
                                        directory_keyslot **out, size_t *n);
void directory_keyslots_free(directory_keyslot *s, size_t n);
directory_status directory_keyslot_remove(directory *d, const char *address, int64_t id);
/* Adds a slot and removes slot old_id of the same alias in one transaction
 * (DIR_NOTFOUND, and no change, when old_id is not the alias's). */
directory_status directory_keyslot_replace(directory *d, const char *address, int64_t old_id,
                                           const unsigned char *blob, size_t len, int64_t *new_id);


/* --- Per-address actions (store, forward, webhook) ------------------------------ */

typedef struct directory_alias_actions {
    int store;                                 /* 1 (default): into the mailbox */
    char forward[FORWARD_LIST_MAX + 1];        /* "a@x,b@y", normalised; "" = none */
    char webhook[WEBHOOK_URL_MAX + 1];         /* http(s) URL; "" = none */
} directory_alias_actions;

#define DIRECTORY_ACTION_STORE   1u
#define DIRECTORY_ACTION_FORWARD 2u
#define DIRECTORY_ACTION_WEBHOOK 4u

/* The alias's actions; the defaults (store on, nothing else) when none were
 * set. DIR_NOTFOUND for an unknown alias. */
directory_status directory_alias_actions_get(directory *d, const char *address,
                                             directory_alias_actions *out);
/* Sets the fields named in `which` (DIRECTORY_ACTION_*), keeps the others.
 * Fields are validated: DIR_INVALID for a bad target list or URL. */
directory_status directory_alias_actions_set(directory *d, const char *address,
                                             const directory_alias_actions *a, unsigned which);
/* "A@X, b@y" -> "a@x,b@y" (each a directory_address_normalise address, at most
 * FORWARD_TARGETS_MAX, duplicates dropped); "" and "none" -> "". 0 or -1. */
int directory_forward_list_normalise(const char *in, char *out, size_t outlen);
/* 1 when url is an http:// or https:// URL with a host, printable ASCII, no
 * spaces, at most WEBHOOK_URL_MAX octets; 0 otherwise. */
int directory_webhook_url_ok(const char *url);

/* --- Quotas (delivery/quota.h counts the usage) --------------------------------------- */

/* Sets aliases.quota (bytes; 0 = none). DIR_NOTFOUND for an unknown alias,
 * DIR_INVALID for a malformed address or a quota over INT64_MAX. */
directory_status directory_alias_quota_set(directory *d, const char *address, uint64_t quota);

#endif
