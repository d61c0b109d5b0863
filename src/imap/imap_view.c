/*
 * imap_view.c — the selected folder as the client knows it (see imap_session.h).
 *
 * SUMMARY
 *   A sorted array of (uid, flags, keywords, modseq): sequence number i + 1 is
 *   msgs[i]. Resolves sequence and UID sets, formats flags, and turns the store's
 *   change reports into the untagged replies RFC 3501 7.3/7.4 define, keeping the
 *   array in step with what was sent.
 *
 * PROMISES
 *   - The view changes only together with the replies that tell the client, so
 *     the sequence numbers of one command are those the client saw before it.
 *   - EXPUNGE replies go out highest sequence number first: every number sent is
 *     valid at the moment it is sent, whatever the client renumbers.
 *   - Expunges that may not be announced (during FETCH, STORE, SEARCH: RFC 3501
 *     7.4.1) wait in expunge_pending; EXISTS still counts those messages.
 *
 * Pure: no store or connection calls; nothing here fails (memory aborts).
 */
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/uidset.h"
#include "imap/imap_session.h"

/* view.gen: process-wide, so a view freed and loaded again never repeats one. */
static uint64_t view_gen_last;

static void view_changed(imap_view *v)
{
    v->gen = __atomic_add_fetch(&view_gen_last, 1, __ATOMIC_RELAXED);
}

void imap_view_init(imap_view *v)
{
    memset(v, 0, sizeof *v);
}

void imap_view_free(imap_view *v)
{
    free(v->msgs);
    free(v->flags);
    uidset_free(&v->recent);
    uidset_free(&v->expunge_pending);
    memset(v, 0, sizeof *v);
}

void imap_view_load(imap_view *v, store_view *sv)
{
    imap_view_free(v);
    v->folder_id = sv->folder_id;
    v->uidvalidity = sv->uidvalidity;
    v->uidnext = sv->uidnext;
    v->highestmodseq = sv->highestmodseq;
    v->msgs = sv->msgs;
    v->n = v->cap = sv->nmsgs;
    v->flags = xmalloc(v->cap ? v->cap : 1);
    for (size_t i = 0; i < v->n; i++) v->flags[i] = (uint8_t)v->msgs[i].flags;
    view_changed(v);
    sv->msgs = NULL;
    sv->nmsgs = 0;
    if (sv->first_recent_uid) {
        for (size_t i = 0; i < v->n; i++)
            if (v->msgs[i].uid >= sv->first_recent_uid) uidset_add(&v->recent, v->msgs[i].uid);
    }
}

uint32_t imap_view_exists(const imap_view *v)
{
    return (uint32_t)v->n;
}

uint32_t imap_view_max_uid(const imap_view *v)
{
    return v->n ? v->msgs[v->n - 1].uid : 0;
}

/* Index of the first message with uid >= `uid` (v->n when none). */
static size_t view_lower_bound(const imap_view *v, uint32_t uid)
{
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->msgs[mid].uid < uid) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

uint32_t imap_view_seq(const imap_view *v, uint32_t uid)
{
    size_t i = view_lower_bound(v, uid);
    return (i < v->n && v->msgs[i].uid == uid) ? (uint32_t)(i + 1) : 0;
}

const store_msgflags *imap_view_msg(const imap_view *v, uint32_t seq)
{
    if (seq == 0 || seq > v->n) return NULL;
    return &v->msgs[seq - 1];
}

uint32_t imap_view_recent_count(const imap_view *v)
{
    return (uint32_t)uidset_count(&v->recent);
}

int imap_view_is_recent(const imap_view *v, uint32_t uid)
{
    return uidset_contains(&v->recent, uid);
}

uint32_t imap_view_first_unseen(const imap_view *v)
{
    for (size_t i = 0; i < v->n; i++)
        if (!(v->msgs[i].flags & MSG_FLAG_SEEN)) return (uint32_t)(i + 1);
    return 0;
}

/* Adds the uids of sequence numbers lo..hi (1-based, within the view). */
static void view_add_seqs(const imap_view *v, uint32_t lo, uint32_t hi, uidset *uids)
{
    for (uint32_t s = lo; s <= hi; s++) uidset_add(uids, v->msgs[s - 1].uid);
}

int imap_view_resolve_seqset(const imap_view *v, const imap_seqset *set, uidset *uids)
{
    uint32_t n = (uint32_t)v->n;
    for (size_t i = 0; i < set->n; i++) {
        uint32_t lo = set->r[i].lo, hi = set->r[i].hi;
        int star = lo == IMAP_SEQ_STAR || hi == IMAP_SEQ_STAR;
        if (lo == IMAP_SEQ_STAR) lo = n;
        if (hi == IMAP_SEQ_STAR) hi = n;
        if (lo > hi) { uint32_t t = lo; lo = hi; hi = t; }
        if (star) {
            /* "n:*" names n..EXISTS (or EXISTS..n): what exists of it. */
            if (n == 0) continue;
            if (hi > n) hi = n;
            if (lo == 0) lo = 1;
        } else if (lo == 0 || hi > n) {
            return -1;
        }
        view_add_seqs(v, lo, hi, uids);
    }
    return 0;
}

/* Adds the uids in the view within lo..hi. */
static void view_add_uid_range(const imap_view *v, uint32_t lo, uint32_t hi, uidset *uids)
{
    for (size_t i = view_lower_bound(v, lo); i < v->n && v->msgs[i].uid <= hi; i++)
        uidset_add(uids, v->msgs[i].uid);
}

void imap_view_resolve_uidset(const imap_view *v, const imap_seqset *set, uidset *uids)
{
    uint32_t max = imap_view_max_uid(v);
    for (size_t i = 0; i < set->n; i++) {
        uint32_t lo = set->r[i].lo, hi = set->r[i].hi;
        if (lo == IMAP_SEQ_STAR || hi == IMAP_SEQ_STAR) {
            /* RFC 3501 6.4.8: "559:*" always includes the last message. */
            if (v->n == 0) continue;
            if (lo == IMAP_SEQ_STAR) lo = max;
            if (hi == IMAP_SEQ_STAR) hi = max;
        }
        if (lo > hi) { uint32_t t = lo; lo = hi; hi = t; }
        view_add_uid_range(v, lo, hi, uids);
    }
}

void imap_view_resolve_search_set(const imap_view *v, uidset *set, int is_uid)
{
    uidset out = UIDSET_INIT;
    uint32_t star = is_uid ? imap_view_max_uid(v) : (uint32_t)v->n;
    for (size_t i = 0; i < set->n; i++) {
        uint32_t lo = set->r[i].lo, hi = set->r[i].hi;
        if (lo == UINT32_MAX || hi == UINT32_MAX) {
            if (v->n == 0) continue;
            if (lo == UINT32_MAX) lo = star;
            if (hi == UINT32_MAX) hi = star;
        }
        if (lo > hi) { uint32_t t = lo; lo = hi; hi = t; }
        if (is_uid) {
            view_add_uid_range(v, lo, hi, &out);
        } else {
            /* Numbers past EXISTS match nothing in a search (not an error). */
            if (lo == 0) lo = 1;
            if (hi > v->n) hi = (uint32_t)v->n;
            if (lo <= hi) view_add_seqs(v, lo, hi, &out);
        }
    }
    uidset_free(set);
    *set = out;
}

static const struct { uint32_t bit; const char *name; } view_sysflags[] = {
    { MSG_FLAG_ANSWERED, "\\Answered" },
    { MSG_FLAG_FLAGGED, "\\Flagged" },
    { MSG_FLAG_DELETED, "\\Deleted" },
    { MSG_FLAG_SEEN, "\\Seen" },
    { MSG_FLAG_DRAFT, "\\Draft" },
};

void imap_write_flags(buf *out, uint32_t flags, uint64_t keywords, int recent,
                      const imap_keywords *kw)
{
    int first = 1;
    buf_putc(out, '(');
    for (size_t i = 0; i < sizeof view_sysflags / sizeof view_sysflags[0]; i++) {
        if (!(flags & view_sysflags[i].bit)) continue;
        if (!first) buf_putc(out, ' ');
        buf_puts(out, view_sysflags[i].name);
        first = 0;
    }
    for (size_t i = 0; i < 64 && keywords; i++) {
        if (!(keywords & ((uint64_t)1 << i))) continue;
        keywords &= ~((uint64_t)1 << i);
        /* A bit the session has no name for yet is left out rather than
         * invented; the session reloads names when it sees one. */
        if (!kw || i >= kw->n) continue;
        if (!first) buf_putc(out, ' ');
        buf_puts(out, kw->names[i]);
        first = 0;
    }
    if (recent) {
        if (!first) buf_putc(out, ' ');
        buf_puts(out, "\\Recent");
    }
    buf_putc(out, ')');
}

void imap_write_flag_list(buf *out, const imap_keywords *kw, int with_star)
{
    buf_puts(out, "(\\Answered \\Flagged \\Deleted \\Seen \\Draft");
    for (size_t i = 0; kw && i < kw->n; i++) {
        buf_putc(out, ' ');
        buf_puts(out, kw->names[i]);
    }
    if (with_star) buf_puts(out, " \\*");
    buf_putc(out, ')');
}

void imap_view_set_flags(imap_view *v, const store_msgflags *m)
{
    size_t i = view_lower_bound(v, m->uid);
    if (i >= v->n || v->msgs[i].uid != m->uid) return;
    v->msgs[i].flags = m->flags;
    v->flags[i] = (uint8_t)m->flags;
    v->msgs[i].keywords = m->keywords;
    if (m->modseq > v->msgs[i].modseq) v->msgs[i].modseq = m->modseq;
}

static void view_maybe_flush(buf *out, imap_flush_fn flush, void *arg)
{
    if (flush && out->len >= IMAP_OUT_FLUSH) flush(arg, out);
}

size_t imap_view_expunge(imap_view *v, const uidset *uids, buf *out,
                         imap_flush_fn flush, void *arg)
{
    size_t count = 0;
    if (uids->n == 0 || v->n == 0) return 0;
    for (size_t i = v->n; i-- > 0; ) {
        if (!uidset_contains(uids, v->msgs[i].uid)) continue;
        buf_printf(out, "* %zu EXPUNGE\r\n", i + 1);
        view_maybe_flush(out, flush, arg);
        count++;
    }
    if (count == 0) return 0;
    /* One pass to close the gaps; the recent and pending sets lose the uids too. */
    size_t w = 0;
    uidset recent = UIDSET_INIT, pending = UIDSET_INIT;
    for (size_t i = 0; i < v->n; i++) {
        uint32_t uid = v->msgs[i].uid;
        if (uidset_contains(uids, uid)) continue;
        if (uidset_contains(&v->recent, uid)) uidset_add(&recent, uid);
        if (uidset_contains(&v->expunge_pending, uid)) uidset_add(&pending, uid);
        v->flags[w] = v->flags[i];
        v->msgs[w++] = v->msgs[i];
    }
    v->n = w;
    view_changed(v);
    uidset_free(&v->recent);
    uidset_free(&v->expunge_pending);
    v->recent = recent;
    v->expunge_pending = pending;
    return count;
}

static void view_append(imap_view *v, const store_msgflags *m)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->msgs = xrealloc(v->msgs, v->cap * sizeof *v->msgs);
        v->flags = xrealloc(v->flags, v->cap);
    }
    v->flags[v->n] = (uint8_t)m->flags;
    v->msgs[v->n++] = *m;
    view_changed(v);
}

size_t imap_view_apply(imap_view *v, const store_changes *ch, int allow_expunge, int with_uid,
                       const imap_keywords *kw, buf *out, imap_flush_fn flush, void *arg)
{
    size_t replies = 0;

    /* Expunges: only those of messages the client knows about matter. */
    for (size_t i = 0; i < ch->expunged.n; i++) {
        uint32_t lo = ch->expunged.r[i].lo, hi = ch->expunged.r[i].hi;
        for (size_t j = view_lower_bound(v, lo); j < v->n && v->msgs[j].uid <= hi; j++)
            uidset_add(&v->expunge_pending, v->msgs[j].uid);
    }
    if (allow_expunge && v->expunge_pending.n) {
        uidset gone = v->expunge_pending;
        v->expunge_pending = (uidset)UIDSET_INIT;
        replies += imap_view_expunge(v, &gone, out, flush, arg);
        uidset_free(&gone);
    }

    /* New messages have uids above every uid the view holds; changed ones are
     * in the view. Anything else was added and expunged meanwhile: ignore. */
    size_t added = 0;
    uint32_t max = imap_view_max_uid(v);
    for (size_t i = 0; i < ch->nchanged; i++) {
        const store_msgflags *m = &ch->changed[i];
        if (m->uid > max) {
            if (uidset_contains(&ch->expunged, m->uid)) continue;
            view_append(v, m);
            max = m->uid;
            added++;
            if (ch->first_recent_uid && m->uid >= ch->first_recent_uid)
                uidset_add(&v->recent, m->uid);
            continue;
        }
        size_t j = view_lower_bound(v, m->uid);
        if (j >= v->n || v->msgs[j].uid != m->uid) continue;
        store_msgflags *cur = &v->msgs[j];
        if (m->modseq > cur->modseq) cur->modseq = m->modseq;
        if (cur->flags == m->flags && cur->keywords == m->keywords) continue;
        if (uidset_contains(&v->expunge_pending, m->uid)) continue;
        cur->flags = m->flags;
        v->flags[j] = (uint8_t)m->flags;
        cur->keywords = m->keywords;
        buf_printf(out, "* %zu FETCH (", j + 1);
        if (with_uid) buf_printf(out, "UID %u ", m->uid);
        buf_puts(out, "FLAGS ");
        imap_write_flags(out, m->flags, m->keywords, uidset_contains(&v->recent, m->uid), kw);
        buf_puts(out, ")\r\n");
        view_maybe_flush(out, flush, arg);
        replies++;
    }
    if (added) {
        buf_printf(out, "* %zu EXISTS\r\n* %u RECENT\r\n", v->n, imap_view_recent_count(v));
        replies += 2;
    }
    if (ch->uidnext > v->uidnext) v->uidnext = ch->uidnext;
    if (ch->highestmodseq > v->highestmodseq) v->highestmodseq = ch->highestmodseq;
    view_maybe_flush(out, flush, arg);
    return replies;
}
