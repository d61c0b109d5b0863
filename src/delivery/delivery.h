/*
 * delivery.h — putting an accepted message into an alias's mailbox: straight
 * into INBOX when a live session holds the alias's data key, otherwise sealed
 * into the alias's spool; and draining the spool into INBOX at login
 * (DESIGN.md "Delivery", promises 3 and 4).
 *
 * SUMMARY
 *   delivery_open(datadir, dir)            reads the server key; borrows `dir`
 *   delivery_rcpt_lookup(d, address)       RCPT time: ok / unknown / not ours / full
 *   delivery_rcpt_fits(d, rcpt, size)      RCPT time: room for SIZE= octets?
 *   delivery_store(d, rcpt, msg)           one copy, durable: live or spooled
 *   delivery_deliver(d, rcpts, n, msg)     every recipient, one copy per mailbox
 *   delivery_spool_drain(datadir, m)       spool -> INBOX of an open mailbox
 *   delivery_close(d)
 *   delivery_set_outbound(d, q, r)         forward/webhook jobs go to queue q
 *
 * PER-ADDRESS ACTIONS (issue 3)
 *   delivery_rcpt_lookup also reads the alias's actions (directory.h): with
 *   `store off` no mailbox copy is made; forward targets and a webhook become
 *   jobs in the outbound queue (outbound/outbound.h), all jobs of a message in
 *   one fsynced transaction, queued BEFORE the mailbox copies, so when
 *   delivery_deliver returns 0 (and SMTP says 250) every forward and webhook
 *   is durable too (promise 3). When a later mailbox copy fails the jobs stay
 *   queued: the client's retry may then forward twice (at-least-once, never
 *   lost). delivery_deliver takes the envelope sender (for bounces) from
 *   the leading Return-Path: field our SMTP server adds (RFC 5321 4.4), so the
 *   message carries everything delivery needs.
 *
 * PROMISES
 *   - Plaintext never reaches a disk outside an encrypted mailbox: a live copy
 *     goes through store_append into the mailbox file; an offline copy is
 *     sealed in memory (crypto/seal.h, to the alias's X25519 public key) and
 *     only the sealed blob is written, into a spool file that is itself
 *     encrypted with the server key (delivery/spool.h).
 *   - delivery_store returns success only after the copy is committed and
 *     fsynced. Copies to one mailbox (or one spool) that arrive together are
 *     committed together (group commit, delivery_group.h: one transaction,
 *     one fsync, store_append_batch / spool_append_batch); each call still
 *     returns only after the COMMIT that holds its own copy, and one copy's
 *     failure is that copy's alone (a failed live copy is then sealed).
 *   - Draining imports each entry and records its spool origin in one mailbox
 *     transaction (store_append_once), then deletes the entry: a crash between
 *     the two leaves an entry the next drain recognises and deletes without
 *     importing it again. Nothing is lost, nothing doubled.
 *   - A delivery that spooled checks the key cache again afterwards and drains
 *     the spool itself when a session has logged in meanwhile, so a message
 *     racing a login does not wait for the next login.
 *   - Logs name mailbox ids, never addresses or content.
 *
 * QUOTAS (delivery/quota.h)
 *   The alias's quota comes with the lookup. delivery_rcpt_lookup answers
 *   DELIVERY_RCPT_FULL when the mailbox is already at or over it;
 *   delivery_deliver returns DELIVERY_DELIVER_FULL, storing and queueing
 *   nothing, when no recipient that stores has room for the message, and
 *   otherwise stores it for every recipient (a quota may be passed by that one
 *   message: see smtp_session.c for why). Recipients with `store off` have no
 *   quota to check.
 *
 * THREADS
 *   delivery_* may be called from many threads at once (the directory has its
 *   own lock; every call opens its own mailbox and spool handles).
 *   delivery_spool_drain uses `m` like any store call: from its owner's thread.
 *
 * DIAGNOSTICS
 *   delivery_rcpt_lookup: DELIVERY_RCPT_ERROR when the directory failed
 *   (logged). delivery_store: DELIVERY_FAILED after logging the step.
 *   delivery_spool_drain: -1 when something failed (logged); entries not
 *   handled stay in the spool for the next drain. Entries whose seal does not
 *   open (tampered, or sealed to another key) are left in the spool, logged and
 *   counted as refused.
 */
#ifndef SEALBOX_DELIVERY_H
#define SEALBOX_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

#include "directory/directory.h"
#include "store/store.h"

typedef struct delivery delivery;

/* NULL with a reason in err (e.g. DATADIR/server.key unreadable). `dir` must
 * outlive the delivery. */
delivery *delivery_open(const char *datadir, directory *dir, char *err, size_t errlen);
void delivery_close(delivery *d);

typedef enum delivery_rcpt_status {
    DELIVERY_RCPT_OK = 0,
    DELIVERY_RCPT_UNKNOWN,      /* the domain is ours, the address is not an alias */
    DELIVERY_RCPT_RELAY,        /* not a domain of this directory: we do not relay */
    DELIVERY_RCPT_ERROR,        /* the directory failed (logged) */
    DELIVERY_RCPT_FULL,         /* ours, but its mailbox is at or over its quota */
} delivery_rcpt_status;

typedef struct delivery_rcpt {
    char mailbox_id[DIRECTORY_MAILBOX_ID_LEN + 1];
    unsigned char seal_public[DIRECTORY_SEAL_PUBLIC_LEN];
    /* Per-address actions (zero = the defaults: store, nothing else). The
     * address is kept in memory for the outbound jobs; it is never logged. */
    int no_store;                                      /* `store off` */
    int has_outbound;                                  /* forward or webhook set */
    uint64_t quota;                                    /* bytes; 0 = none */
    char address[ADDRESS_MAX_LEN + 1];
} delivery_rcpt;

/* `address` as it came in RCPT TO ("Local@Example.ORG"; quoted or UTF-8 local
 * parts are never aliases here, see directory.h). */
delivery_rcpt_status delivery_rcpt_lookup(delivery *d, const char *address, delivery_rcpt *out);
/* 1 when r's mailbox has room for `size` more octets under its quota (or has
 * no quota, or does not store), 0 when not. */
int delivery_rcpt_fits(delivery *d, const delivery_rcpt *r, uint64_t size);

typedef enum delivery_result {
    DELIVERY_FAILED = -1,
    DELIVERY_LIVE = 0,          /* appended to INBOX of the mailbox */
    DELIVERY_SPOOLED = 1,       /* sealed into the spool */
} delivery_result;

/* One durable copy of msg[0..len) for `r`, received at `received` (seconds,
 * UTC; INTERNALDATE). */
delivery_result delivery_store(delivery *d, const delivery_rcpt *r, const char *msg, size_t len,
                               int64_t received);
/* A copy for each recipient (one per mailbox id, however often it was named).
 * 0 when every copy is durable, -1 when any failed (the others stay stored),
 * DELIVERY_DELIVER_FULL when no recipient that stores has room under its
 * quota and none forwards (nothing stored or queued). */
#define DELIVERY_DELIVER_FULL (-2)
int delivery_deliver(delivery *d, const delivery_rcpt *const *rcpts, size_t n, const char *msg,
                     size_t len, int64_t received);

struct outbound_queue;
struct outbound_runner;
/* Jobs for forward targets and webhooks go to q; r (may be NULL) is kicked
 * after each enqueue. Without a queue, recipients with outbound actions make
 * delivery fail (temporarily): never a 250 for a forward that was not queued. */
void delivery_set_outbound(delivery *d, struct outbound_queue *q, struct outbound_runner *r);

typedef struct delivery_drain_stats {
    size_t imported;            /* new messages in INBOX */
    size_t duplicates;          /* already imported (a crash before the delete): just deleted */
    size_t refused;             /* blobs that do not open: left in the spool */
} delivery_drain_stats;

/* Moves every entry of m's spool into m's INBOX, oldest first, with its
 * received time as INTERNALDATE; reads the server key from DATADIR. 0 also
 * when there is no spool; stats may be NULL. Watchers of the mailbox (IDLE)
 * are notified by each append. */
int delivery_spool_drain(const char *datadir, store_mailbox *m, delivery_drain_stats *stats);
/* The same with the server key at hand. */
int delivery_spool_drain_key(const char *datadir, const unsigned char server_key[32],
                             store_mailbox *m, delivery_drain_stats *stats);

#endif
