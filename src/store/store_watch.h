/*
 * store_watch.h — the store's side of the change watch of store.h.
 *
 * store_watch_add()/store_watch_remove() (declared in store.h) register
 * callbacks per mailbox id; store_watch_notify() is what a store backend calls
 * after it committed a change, on the committing thread.
 */
#ifndef SEALBOX_STORE_WATCH_H
#define SEALBOX_STORE_WATCH_H

/* Calls every callback registered for `mailbox_id`. Never fails. */
void store_watch_notify(const char *mailbox_id);

/* Calls the callback of every watch whose mailbox file (DATADIR/mailboxes/
 * <id>.db or its -wal) changed size or mtime since the previous poll: changes
 * made by other processes (sealbox import, backup restore). sealboxd runs it
 * every STORE_WATCH_POLL_SEC. Never fails (a file that cannot be stat'ed
 * counts as empty). */
#define STORE_WATCH_POLL_SEC 5
void store_watch_poll(const char *datadir);

#endif
