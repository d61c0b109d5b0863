/*
 * imap_sortcache.c — the session's copy of the sort facts of its view, and the
 * SORT order computed from them (imap_session.h, imap_sortcache_*).
 *
 * WHY
 *   SORT and THREAD need per-message facts (dates, subject, addresses, message
 *   ids) that the store reads from the file: on 100,000 messages that read is
 *   most of a SORT (SUBJECT) or THREAD, and sorting 100,000 subjects is most of
 *   the rest. Clients that sort or thread (webmail above all) ask again for
 *   every page they show. The facts of a message never change, so the session
 *   keeps them until the view gains or loses a message, and keeps the
 *   full-view order of the last criteria sorted by.
 *
 * PROMISES
 *   - recs holds, ascending uid, exactly the messages of the view (view.gen)
 *     that the file had when they were read: one expunged by another session
 *     since is absent, as it would be from a fresh read.
 *   - thread, when set, is imap_thread_facts_new of all of recs: threads of
 *     a subset come from it (imap_sort.h).
 *   - order, when set, is imap_sort of all of recs under crit; the order of a
 *     subset is the order restricted to it, because imap_sort is a total order
 *     whose last tie-break (index = sequence order) agrees on every subset.
 *   - Nothing here outlives the selected state or a parked store: the facts
 *     are mail content (subjects, addresses) and are freed with the view.
 *
 * COST
 *   Memory: the facts asked for, per message (THREAD: subject and three id
 *   fields, ~200 bytes at 100,000 messages: ~20 MB), while the session sorts;
 *   the threading facts add ~25 bytes per message and 4 per reference.
 */
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/log.h"
#include "util/uidset.h"
#include "store/store.h"
#include "imap/imap_session.h"
#include "imap/imap_sort.h"

static void sortcache_drop_order(imap_sortcache *c)
{
    free(c->crit);
    free(c->order);
    c->crit = NULL;
    c->order = NULL;
    c->ncrit = 0;
}

void imap_sortcache_clear(imap_sortcache *c)
{
    sortcache_drop_order(c);
    imap_thread_facts_free(c->thread);
    store_sortrecs_free(c->recs, c->n);
    memset(c, 0, sizeof *c);
}

store_status imap_sortcache_load(imap_session *s, unsigned what)
{
    imap_sortcache *c = &s->sortcache;
    what &= STORE_SORT_ALL;
    if (c->recs && c->view_gen == s->view.gen && (c->what & what) == what) return STORE_OK;
    /* Facts already held are read again with the new ones: one pass. */
    unsigned want = what | (c->recs && c->view_gen == s->view.gen ? c->what : 0);
    imap_sortcache_clear(c);
    uidset view = UIDSET_INIT;
    uint32_t n = imap_view_exists(&s->view);
    for (uint32_t seq = 1; seq <= n; seq++) uidset_add(&view, imap_view_msg(&s->view, seq)->uid);
    store_sortrec *recs = NULL;
    size_t nrecs = 0;
    store_status st = STORE_OK;
    if (view.n) st = store_sort_records(s->store, s->view.folder_id, &view, want, &recs, &nrecs);
    uidset_free(&view);
    if (st != STORE_OK) return st;
    c->recs = recs;
    c->n = nrecs;
    c->what = want;
    c->view_gen = s->view.gen;
    log_debug("imap", "conn %llu: sort facts %#x of %zu messages read", s->id, want, nrecs);
    return STORE_OK;
}

static int sortcache_same_crit(const imap_sortcache *c, const imap_sort_crit *crit, size_t ncrit)
{
    if (!c->order || c->ncrit != ncrit) return 0;
    for (size_t k = 0; k < ncrit; k++)
        if (c->crit[k].key != crit[k].key || !c->crit[k].reverse != !crit[k].reverse) return 0;
    return 1;
}

const size_t *imap_sortcache_order(imap_session *s, const imap_sort_crit *crit, size_t ncrit)
{
    imap_sortcache *c = &s->sortcache;
    if (sortcache_same_crit(c, crit, ncrit)) return c->order;
    sortcache_drop_order(c);
    log_debug("imap", "conn %llu: SORT order of %zu messages computed", s->id, c->n);
    c->order = xmalloc((c->n ? c->n : 1) * sizeof *c->order);
    imap_sort(c->recs, c->n, crit, ncrit, c->order);
    c->crit = xmalloc((ncrit ? ncrit : 1) * sizeof *crit);
    if (ncrit) memcpy(c->crit, crit, ncrit * sizeof *crit);
    c->ncrit = ncrit;
    return c->order;
}

const imap_thread_facts *imap_sortcache_thread_facts(imap_session *s)
{
    imap_sortcache *c = &s->sortcache;
    if (!c->thread) {
        c->thread = imap_thread_facts_new(c->recs, c->n);
        log_debug("imap", "conn %llu: thread facts of %zu messages computed", s->id, c->n);
    }
    return c->thread;
}
