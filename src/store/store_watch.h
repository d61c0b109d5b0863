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

#endif
