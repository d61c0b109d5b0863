/*
 * delivery_group.h — group commit for delivery: concurrent deliveries to one
 * file (a live mailbox, a spool) share one transaction and one fsync
 * (DESIGN.md "Delivery" 3: "Group commits keep throughput high").
 *
 * SUMMARY
 *   delivery_group_run(key, item, fn, ctx)
 *
 *   Every file has a committer, named by `key` ("L<mailbox id>" for a live
 *   mailbox, "S<mailbox id>" for a spool). A delivering thread enqueues its
 *   item and waits. When no batch of that key is being committed, the first
 *   waiter becomes the leader: it takes every queued item (at most
 *   DELIVERY_GROUP_MAX, DELIVERY_GROUP_BYTES_MAX), calls fn(ctx, items, n)
 *   outside the lock — fn writes them in one transaction, sets each
 *   item->result, and returns after its COMMIT — then wakes everyone. Items
 *   that arrived meanwhile form the next batch under the next leader, so a
 *   busy file commits back to back and a quiet one commits each item at once
 *   (no timer, no added latency).
 *
 * PROMISES
 *   - delivery_group_run returns only after fn has handled `item` (in this
 *     thread or another), so a caller that replies after it (SMTP 250) never
 *     replies before its own item's COMMIT.
 *   - fn runs for one key in one thread at a time; items of one key are
 *     committed in arrival order. Different keys never wait for each other.
 *   - fn gets the leader's ctx: every item of a key must be writable with any
 *     of its callers' ctx (same file, same key).
 *   - Committers exist only while some thread uses them: memory is bounded by
 *     the threads delivering.
 *
 * THREADS
 *   Any thread; the registry has one mutex. fn must not call
 *   delivery_group_run for the same key (it would wait for itself).
 */
#ifndef SEALBOX_DELIVERY_GROUP_H
#define SEALBOX_DELIVERY_GROUP_H

#include <stddef.h>

typedef struct delivery_group_item {
    void *arg;                          /* the caller's payload, for fn */
    size_t len;                         /* its size, for the batch byte bound */
    int result;                         /* set by fn */
    /* private to delivery_group.c */
    struct delivery_group_item *next;
    int done;
} delivery_group_item;

typedef void (*delivery_group_fn)(void *ctx, delivery_group_item **items, size_t n);

void delivery_group_run(const char *key, delivery_group_item *item, delivery_group_fn fn, void *ctx);

#endif
