/*
 * imap_thread.c — THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 3) over
 * store sort records, written as the thread-lists of the THREAD response
 * (RFC 5256 4); see imap_sort.h.
 *
 * OFFERS
 *   imap_thread_facts_new, imap_thread_facts_free, imap_thread.
 *
 * HOW
 *   What threading reads of a message (its Message-ID, its references, its
 *   base subject, its sent date) is first turned into numbers: every distinct
 *   message id and every distinct base subject gets a small integer
 *   (imap_thread_facts). Threading, run per command over any subset of the
 *   messages, then indexes arrays by those numbers where it would hash and
 *   compare strings: at 100,000 messages the strings (hash probes on ids, base
 *   subjects of 68,000 top-level threads) were four fifths of a THREAD, and the
 *   session keeps the facts for the next one (imap_sortcache.c).
 *
 *   REFERENCES follows the RFC's six steps literally: (1) link messages to the
 *   ids in References (In-Reply-To when References names none), with dummy
 *   containers for ids no message has, first-come parents, duplicate and
 *   missing Message-IDs made unique, and no link that would make a loop;
 *   (2) parentless containers under a root; (3) dummies pruned (children
 *   promoted, but onto the root only when there is one); (4) top-level sorted
 *   by sent date; (5) top-level threads with the same base subject merged;
 *   (6) every set of siblings sorted by sent date. The sent date is the Date:
 *   header, else INTERNALDATE (2.2); ties go to the lower sequence number.
 *
 * PROMISES
 *   - No recursion: threads can be as deep as the mailbox is long, so pruning
 *     and writing walk the tree with explicit state, never the C stack.
 *   - At most IMAP_THREAD_REFS_MAX references per message are used (the last).
 *   - A message id is "<" 1*(no space, "<" or ">") ">" containing "@";
 *     comparisons are case-sensitive (RFC 5256 3, step 1.A). Base subjects
 *     compare case-insensitively (i;ascii-casemap).
 *   - Threading a subset through the facts of a larger set answers what
 *     threading that subset alone would: numbers only stand for strings, and
 *     nothing in a run depends on messages outside the subset.
 *
 * DIAGNOSTICS
 *   None; memory exhaustion aborts.
 */
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/limits.h"
#include "store/store.h"
#include "imap/imap_sort.h"

/* Node and message indexes of a run: 32 bits halve the tree (the walks over it
 * are cache misses); imap_thread refuses a run that could need 2^32 - 1. */
typedef uint32_t thr_ix;
#define NONE UINT32_MAX
#define THR_NOID UINT32_MAX

/* ---- Numbering strings (open addressing) ---------------------------------------- */

/* Keys are slices of strings that outlive the map (the records' fields, the
 * base subjects being numbered): nothing is copied, and the stored hash
 * settles most probes without touching the key's bytes. */
typedef struct thr_key {
    const char *p;          /* NULL: an empty slot */
    size_t len;
    uint64_t hash;
    uint32_t num;
} thr_key;

typedef struct thr_map {
    thr_key *slots;
    size_t cap, n;          /* cap: power of two, at least twice n */
} thr_map;

static void thr_map_init(thr_map *m, size_t expect)
{
    m->cap = 64;
    while (m->cap < 2 * expect) m->cap *= 2;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
    m->n = 0;
}

static uint64_t thr_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;        /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* The number of `key`: first + the count of keys numbered before it, given
 * the first time the key is seen. */
static uint32_t thr_number(thr_map *m, const char *key, size_t len, uint32_t first)
{
    if (2 * (m->n + 1) > m->cap) {
        size_t ncap = m->cap * 2;
        thr_key *ns = xcalloc(ncap, sizeof *ns);
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->slots[i].p) continue;
            size_t j = m->slots[i].hash & (ncap - 1);
            while (ns[j].p) j = (j + 1) & (ncap - 1);
            ns[j] = m->slots[i];
        }
        free(m->slots);
        m->slots = ns;
        m->cap = ncap;
    }
    uint64_t h = thr_hash(key, len);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].p) {
        const thr_key *k = &m->slots[j];
        if (k->hash == h && k->len == len && !memcmp(k->p, key, len)) return k->num;
        j = (j + 1) & (m->cap - 1);
    }
    /* Numbers stay below THR_NOID: a key past 2^32 - 2 of them (which no
     * mail store holds) gets none, and is treated as absent. */
    if (m->n >= THR_NOID - 1 - first) return THR_NOID;
    m->slots[j] = (thr_key){ key, len, h, first + (uint32_t)m->n };
    m->n++;
    return m->slots[j].num;
}

/* ---- Message ids ------------------------------------------------------------------ */

/* The next msg-id in *p, as a slice of it (*id, *len: "<left@right>" without
 * the text around it); 0 when there is none. Skips anything that is not a
 * valid "<left@right>". */
static int thr_next_msgid(const char **p, const char **id, size_t *len)
{
    const char *s = *p;
    for (;;) {
        s = strchr(s, '<');
        if (!s) {
            *p = "";
            return 0;
        }
        const char *e = s + 1;
        int at = 0;
        while (*e && *e != '>' && *e != '<' && *e != ' ' && *e != '\t' && *e != '\r' && *e != '\n') {
            if (*e == '@') at = 1;
            e++;
        }
        if (*e == '>' && at && e > s + 1) {
            *id = s;
            *len = (size_t)(e - s + 1);
            *p = e + 1;
            return 1;
        }
        s = *e == '<' ? e : (*e ? e + 1 : e);
        if (!*s) {
            *p = s;
            return 0;
        }
    }
}

/* ---- The facts ----------------------------------------------------------------------- */

struct imap_thread_facts {
    size_t n;
    int64_t *date;              /* sent date: Date:, else INTERNALDATE (2.2) */
    uint32_t *self;             /* number of the Message-ID; THR_NOID: none valid */
    size_t *refs_at;            /* n + 1: message i's references are refs[refs_at[i] .. refs_at[i + 1]) */
    uint32_t *refs;             /* oldest first: the last IMAP_THREAD_REFS_MAX msg-ids of
                                   References, else the first of In-Reply-To */
    uint32_t *subject;          /* number of the casemapped base subject; 0: empty */
    unsigned char *refwd;       /* the subject was a reply or forward (step 5) */
    uint32_t nids;              /* message ids are numbered 0 .. nids - 1 */
    uint32_t nsubjects;         /* base subjects 1 .. nsubjects */
};

/* A message's references as slices of its headers, the last
 * IMAP_THREAD_REFS_MAX of them in a ring: only those are numbered. */
typedef struct thr_slice {
    const char *p;
    size_t len;
} thr_slice;

static size_t thr_read_refs(const store_sortrec *r, thr_slice *ring, size_t *start)
{
    const char *p = r->references ? r->references : "", *id;
    size_t len, total = 0;
    while (thr_next_msgid(&p, &id, &len)) ring[total++ % IMAP_THREAD_REFS_MAX] = (thr_slice){ id, len };
    if (total == 0) {
        p = r->in_reply_to ? r->in_reply_to : "";
        if (thr_next_msgid(&p, &id, &len)) ring[total++] = (thr_slice){ id, len };
    }
    *start = total < IMAP_THREAD_REFS_MAX ? 0 : total % IMAP_THREAD_REFS_MAX;
    return total < IMAP_THREAD_REFS_MAX ? total : IMAP_THREAD_REFS_MAX;
}

imap_thread_facts *imap_thread_facts_new(const store_sortrec *recs, size_t n)
{
    imap_thread_facts *f = xcalloc(1, sizeof *f);
    size_t cap = n ? n : 1, rcap = cap, nrefs = 0;
    f->n = n;
    f->date = xmalloc(cap * sizeof *f->date);
    f->self = xmalloc(cap * sizeof *f->self);
    f->refs_at = xmalloc((n + 1) * sizeof *f->refs_at);
    f->refs = xmalloc(rcap * sizeof *f->refs);
    f->subject = xmalloc(cap * sizeof *f->subject);
    f->refwd = xmalloc(cap);
    thr_map ids, subjects;
    thr_map_init(&ids, 2 * n);
    thr_map_init(&subjects, n / 2);
    char **bases = xmalloc(cap * sizeof *bases);     /* the subject map's keys */
    thr_slice *ring = xmalloc(IMAP_THREAD_REFS_MAX * sizeof *ring);

    for (size_t i = 0; i < n; i++) {
        const store_sortrec *r = &recs[i];
        f->date[i] = r->sentdate ? r->sentdate : r->internaldate;

        const char *p = r->message_id ? r->message_id : "", *id;
        size_t len;
        f->self[i] = thr_next_msgid(&p, &id, &len) ? thr_number(&ids, id, len, 0) : THR_NOID;

        size_t start, k = thr_read_refs(r, ring, &start);
        if (nrefs + k > rcap) {
            while (nrefs + k > rcap) rcap *= 2;
            f->refs = xrealloc(f->refs, rcap * sizeof *f->refs);
        }
        f->refs_at[i] = nrefs;
        for (size_t j = 0; j < k; j++) {
            const thr_slice *sl = &ring[(start + j) % IMAP_THREAD_REFS_MAX];
            uint32_t num = thr_number(&ids, sl->p, sl->len, 0);
            if (num != THR_NOID) f->refs[nrefs++] = num;
        }

        int refwd;
        char *b = imap_base_subject(r->subject, &refwd);
        for (char *c = b; *c; c++)
            if (*c >= 'a' && *c <= 'z') *c = (char)(*c - 'a' + 'A');
        bases[i] = b;
        f->refwd[i] = (unsigned char)refwd;
        uint32_t sn = b[0] ? thr_number(&subjects, b, strlen(b), 1) : 0;
        f->subject[i] = sn == THR_NOID ? 0 : sn;
    }
    f->refs_at[n] = nrefs;
    f->nids = (uint32_t)ids.n;
    f->nsubjects = (uint32_t)subjects.n;

    free(ring);
    free(ids.slots);
    free(subjects.slots);
    for (size_t i = 0; i < n; i++) free(bases[i]);
    free(bases);
    return f;
}

void imap_thread_facts_free(imap_thread_facts *f)
{
    if (!f) return;
    free(f->date);
    free(f->self);
    free(f->refs_at);
    free(f->refs);
    free(f->subject);
    free(f->refwd);
    free(f);
}

/* ---- The tree ------------------------------------------------------------------------ */

typedef struct thr_node {
    thr_ix msg;                      /* which message threaded (0 .. n), NONE for a dummy */
    thr_ix parent, first, last;      /* children: a doubly linked list */
    thr_ix prev, next;
    uint32_t nkids;
} thr_node;

typedef struct thr_tree {
    const imap_thread_facts *f;
    const size_t *pick;              /* facts index of each message threaded; NULL: the first n */
    int64_t *date;                   /* sent date of each message threaded (read once: the
                                        sorts would read it through pick, two cache misses) */
    thr_node *v;
    size_t n, cap;
} thr_tree;

/* The facts index of threaded message `msg`. */
static size_t thr_fact(const thr_tree *t, size_t msg)
{
    return t->pick ? t->pick[msg] : msg;
}

/* A new node; t->v was made large enough for every node of the run. */
static size_t thr_new(thr_tree *t, size_t msg)
{
    thr_node *x = &t->v[t->n];
    x->msg = (thr_ix)msg;
    x->parent = x->first = x->last = x->prev = x->next = NONE;
    x->nkids = 0;
    return t->n++;
}

static void thr_unlink(thr_tree *t, size_t c)
{
    thr_node *x = &t->v[c];
    if (x->parent == NONE) return;
    thr_node *p = &t->v[x->parent];
    if (x->prev != NONE) t->v[x->prev].next = x->next;
    else p->first = x->next;
    if (x->next != NONE) t->v[x->next].prev = x->prev;
    else p->last = x->prev;
    p->nkids--;
    x->parent = x->prev = x->next = NONE;
}

/* Appends c (which has no parent) to p's children. */
static void thr_append(thr_tree *t, size_t p, size_t c)
{
    thr_node *x = &t->v[c], *y = &t->v[p];
    x->parent = p;
    x->prev = y->last;
    x->next = NONE;
    if (y->last != NONE) t->v[y->last].next = c;
    else y->first = c;
    y->last = c;
    y->nkids++;
}

/* 1 when `a` is `b` or below it. O(depth of a); a `b` without children (a
 * message seen for the first time, the common case) answers at once, so a
 * long chain of replies costs linear time. */
static int thr_is_under(const thr_tree *t, size_t a, size_t b)
{
    if (a == b) return 1;
    if (t->v[b].nkids == 0) return 0;
    for (size_t x = a; x != NONE; x = t->v[x].parent)
        if (x == b) return 1;
    return 0;
}

/* The node of message id `id` (node_of: by id number), created as a dummy the
 * first time. */
static size_t thr_id_node(thr_tree *t, thr_ix *node_of, uint32_t id)
{
    if (node_of[id] == NONE) node_of[id] = (thr_ix)thr_new(t, NONE);
    return node_of[id];
}

static int64_t thr_msg_date(const thr_tree *t, size_t msg)
{
    return t->date[msg];
}

/* The message that represents a node in sorting and subjects: itself, or the
 * first child of a dummy (dummies left after pruning have message children). */
static size_t thr_rep(const thr_tree *t, size_t x)
{
    while (x != NONE && t->v[x].msg == NONE) x = t->v[x].first;
    return x == NONE ? NONE : t->v[x].msg;
}

/* A child being sorted, with its key read once: the walk to its representing
 * message and that message's date would otherwise be redone at every one of
 * the n log n comparisons (68,000 top-level threads of a 100,000-message
 * folder: most of THREAD's time, in cache misses). */
typedef struct thr_kid {
    int64_t date;
    thr_ix rep;                      /* thr_rep, NONE for an empty dummy */
    thr_ix node;
} thr_kid;

/* 1 when a sorts before b: by sent date, then sequence order; empty dummies
 * (rep NONE) last, among themselves in node order. A total order: keys are
 * unique, so any correct sort gives the same result. */
static int thr_kid_before(const thr_kid *a, const thr_kid *b)
{
    if (a->rep == NONE || b->rep == NONE) {
        if (a->rep != b->rep) return b->rep == NONE;
        return a->node < b->node;
    }
    if (a->date != b->date) return a->date < b->date;
    return a->rep < b->rep;
}

/* Sorts v[0..n) by thr_kid_before with tmp[0..n) as room: a bottom-up merge
 * sort, with the comparison inline (qsort's call per comparison was a third
 * of the sorting), and nothing to do for a list already in order (the top
 * level when step 6 comes: step 4 sorted it, step 5 moved few). 0 when v was
 * in order already. */
static int thr_kids_sort(thr_kid *v, size_t n, thr_kid *tmp)
{
    size_t i = 1;
    while (i < n && !thr_kid_before(&v[i], &v[i - 1])) i++;
    if (i >= n) return 0;
    thr_kid *src = v, *dst = tmp;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi) dst[o++] = thr_kid_before(&src[b], &src[a]) ? src[b++] : src[a++];
            while (a < mid) dst[o++] = src[a++];
            while (b < hi) dst[o++] = src[b++];
        }
        thr_kid *x = src;
        src = dst;
        dst = x;
    }
    if (src != v) memcpy(v, src, n * sizeof *v);
    return 1;
}

/* Sorts p's children by sent date (RFC 5256 2.2), sequence order on ties.
 * scratch holds 2 * *scap kids (the keys and the sort's room). */
static void thr_sort_kids(thr_tree *t, size_t p, thr_kid **scratch, size_t *scap)
{
    thr_node *y = &t->v[p];
    if (y->nkids < 2) return;
    if (*scap < y->nkids) {
        *scap = y->nkids;
        *scratch = xrealloc(*scratch, 2 * *scap * sizeof **scratch);
    }
    size_t k = 0, m = y->nkids;
    for (size_t c = y->first; c != NONE; c = t->v[c].next) {
        thr_kid *e = &(*scratch)[k++];
        e->node = c;
        e->rep = thr_rep(t, c);
        e->date = e->rep == NONE ? 0 : thr_msg_date(t, e->rep);
    }
    if (!thr_kids_sort(*scratch, m, *scratch + m)) return;
    y->first = y->last = NONE;
    y->nkids = 0;
    for (k = 0; k < m; k++) {
        t->v[(*scratch)[k].node].parent = NONE;
        thr_append(t, p, (*scratch)[k].node);
    }
}

/* Replaces dummy d (a child of its parent) by its children, in its place. */
static void thr_splice(thr_tree *t, size_t d)
{
    thr_node *x = &t->v[d];
    size_t p = x->parent, before = x->next;
    while (x->first != NONE) {
        size_t c = x->first;
        thr_unlink(t, c);
        /* insert c before `before` in p's list */
        thr_node *cn = &t->v[c], *pn = &t->v[p];
        cn->parent = p;
        cn->next = before;
        cn->prev = before != NONE ? t->v[before].prev : pn->last;
        if (cn->prev != NONE) t->v[cn->prev].next = c;
        else pn->first = c;
        if (before != NONE) t->v[before].prev = c;
        else pn->last = c;
        pn->nkids++;
        x = &t->v[d];
    }
    thr_unlink(t, d);
}

/* ---- Output ------------------------------------------------------------------------- */

/* One top-level thread: "(" chain [SP group...] ")" where a chain is the
 * numbers down while a node has one child and a group is a child's thread;
 * "(3 6 (4 23)(44 7 96))". A dummy writes no number: "((1)(2))". */
static void thr_write(const thr_tree *t, size_t top, const uint32_t *nums, buf *out,
                      size_t **stack, size_t *scap)
{
    size_t depth = 0, cur = top;
    buf_putc(out, '(');
    for (;;) {
        int first = 1;
        for (;;) {
            const thr_node *x = &t->v[cur];
            if (x->msg != NONE) {
                if (!first) buf_putc(out, ' ');
                buf_put_uint(out, nums[x->msg]);
                first = 0;
            }
            if (x->nkids != 1) break;
            cur = x->first;
        }
        if (t->v[cur].nkids >= 2) {
            if (!first) buf_putc(out, ' ');
            if (depth == *scap) {
                *scap = *scap ? *scap * 2 : 16;
                *stack = xrealloc(*stack, *scap * sizeof **stack);
            }
            (*stack)[depth++] = t->v[cur].first;   /* the next child group to open */
        } else {
            buf_putc(out, ')');
        }
        /* Open the next sibling group, closing finished ones. */
        cur = NONE;
        while (depth) {
            size_t c = (*stack)[depth - 1];
            if (c != NONE) {
                (*stack)[depth - 1] = t->v[c].next;
                cur = c;
                break;
            }
            depth--;
            buf_putc(out, ')');
        }
        if (cur == NONE) return;
        buf_putc(out, '(');
    }
}

static void thr_write_root(const thr_tree *t, size_t root, const uint32_t *nums, buf *out)
{
    size_t *stack = NULL, scap = 0;
    for (size_t c = t->v[root].first; c != NONE; c = t->v[c].next)
        thr_write(t, c, nums, out, &stack, &scap);
    free(stack);
}

/* ---- REFERENCES ---------------------------------------------------------------------- */

static int thr_refwd(const thr_tree *t, size_t msg)
{
    return t->f->refwd[thr_fact(t, msg)];
}

/* Step 1 for message k; node_of: the node of each message id number. */
static void thr_link_message(thr_tree *t, thr_ix *node_of, size_t k)
{
    const imap_thread_facts *f = t->f;
    size_t i = thr_fact(t, k), self = NONE;

    /* Its own container: the dummy a reference made for its id, a new one, or
     * (no valid id, or a duplicate of an earlier message's) one without id. */
    if (f->self[i] != THR_NOID) {
        thr_ix *slot = &node_of[f->self[i]];
        if (*slot == NONE) *slot = (thr_ix)thr_new(t, k);
        else if (t->v[*slot].msg == NONE) t->v[*slot].msg = k;
        else self = thr_new(t, k);
        if (self == NONE) self = *slot;
    } else {
        self = thr_new(t, k);
    }

    /* (A) each reference the parent of the next, unless the child has a parent
     * already (References may be truncated) or the link would make a loop. */
    const uint32_t *refs = f->refs + f->refs_at[i];
    size_t nrefs = f->refs_at[i + 1] - f->refs_at[i], a = NONE;
    for (size_t j = 0; j < nrefs; j++) {
        size_t b = thr_id_node(t, node_of, refs[j]);
        if (a != NONE && t->v[b].parent == NONE && !thr_is_under(t, a, b)) thr_append(t, a, b);
        a = b;
    }
    /* (B) the last reference is the parent: replace any parent a truncated
     * References gave, unless that would make a loop (then no parent). */
    thr_unlink(t, self);
    if (a != NONE && !thr_is_under(t, a, self)) thr_append(t, a, self);
}

static void thr_references(thr_tree *t, size_t n, const uint32_t *nums, buf *out)
{
    const imap_thread_facts *f = t->f;
    size_t scap = 0;
    thr_kid *scratch = NULL;

    thr_ix *node_of = xmalloc((f->nids ? f->nids : 1) * sizeof *node_of);
    for (size_t id = 0; id < f->nids; id++) node_of[id] = NONE;
    for (size_t k = 0; k < n; k++) thr_link_message(t, node_of, k);
    free(node_of);

    /* (2) parentless containers under the root. */
    size_t nbefore = t->n;
    size_t root = thr_new(t, NONE);
    for (size_t x = 0; x < nbefore; x++)
        if (t->v[x].parent == NONE) thr_append(t, root, x);

    /* (3) dummies: below the top level they give way to their children (so
     * do empty ones); at the top level an empty one goes, one with a single
     * child is replaced by it, one with several stays. Below-top dummies go
     * first, so top-level counts are final when they are judged. */
    for (size_t x = 0; x < nbefore; x++)
        if (t->v[x].msg == NONE && t->v[x].parent != root) thr_splice(t, x);
    for (size_t x = 0; x < nbefore; x++)
        if (t->v[x].msg == NONE && t->v[x].parent == root && t->v[x].nkids < 2) thr_splice(t, x);

    /* (4) top level by sent date; a dummy by its first child's. */
    for (size_t c = t->v[root].first; c != NONE; c = t->v[c].next)
        if (t->v[c].msg == NONE) thr_sort_kids(t, c, &scratch, &scap);
    thr_sort_kids(t, root, &scratch, &scap);

    /* (5) merge top-level threads with the same base subject (subj: the
     * table, by subject number). The top level is listed first (the second
     * pass changes it while it walks). */
    thr_ix *subj = xmalloc(((size_t)f->nsubjects + 1) * sizeof *subj);
    for (size_t k = 0; k <= f->nsubjects; k++) subj[k] = NONE;
    size_t ntop = 0;
    for (size_t c = t->v[root].first; c != NONE; c = t->v[c].next) ntop++;
    thr_ix *top = xmalloc((ntop ? ntop : 1) * sizeof *top), *toprep = xmalloc((ntop ? ntop : 1) * sizeof *toprep);
    ntop = 0;
    for (size_t c = t->v[root].first; c != NONE; c = t->v[c].next) {
        size_t m = thr_rep(t, c);
        top[ntop] = c;
        toprep[ntop++] = m;
        if (m == NONE || !f->subject[thr_fact(t, m)]) continue;
        thr_ix *slot = &subj[f->subject[thr_fact(t, m)]];
        if (*slot == NONE) {
            *slot = c;
            continue;
        }
        size_t cur = *slot;
        int cur_dummy = t->v[cur].msg == NONE, c_dummy = t->v[c].msg == NONE;
        if (!cur_dummy && (c_dummy || (thr_refwd(t, t->v[cur].msg) && !thr_refwd(t, m)))) *slot = c;
    }
    for (size_t k = 0; k < ntop; k++) {
        size_t c = top[k], m = toprep[k];
        /* Moved under another thread, or a table message put under a new
         * dummy, by an earlier step of this pass: not top-level any more. */
        if (t->v[c].parent != root) continue;
        if (m == NONE || !f->subject[thr_fact(t, m)]) continue;
        thr_ix *slot = &subj[f->subject[thr_fact(t, m)]];
        size_t tab = *slot;
        if (tab == c) continue;
        int tab_dummy = t->v[tab].msg == NONE, c_dummy = t->v[c].msg == NONE;
        if (tab_dummy && c_dummy) {
            while (t->v[c].first != NONE) {
                size_t kid = t->v[c].first;
                thr_unlink(t, kid);
                thr_append(t, tab, kid);
            }
            thr_unlink(t, c);
        } else if (tab_dummy || (thr_refwd(t, m) && !thr_refwd(t, t->v[tab].msg))) {
            thr_unlink(t, c);
            thr_append(t, tab, c);
        } else {
            /* A new dummy in the table message's place, both under it. */
            size_t d = thr_new(t, NONE);
            thr_node *tn = &t->v[tab], *dn = &t->v[d];
            dn->parent = root;
            dn->prev = tn->prev;
            dn->next = tn->next;
            if (dn->prev != NONE) t->v[dn->prev].next = d;
            else t->v[root].first = d;
            if (dn->next != NONE) t->v[dn->next].prev = d;
            else t->v[root].last = d;
            tn->parent = tn->prev = tn->next = NONE;
            thr_append(t, d, tab);
            thr_unlink(t, c);
            thr_append(t, d, c);
            *slot = d;
        }
    }

    /* (6) every set of siblings by sent date; dummies' children before the
     * top level, since a dummy sorts by its first child. */
    for (size_t x = 0; x < t->n; x++)
        if (x != root && t->v[x].parent != NONE) thr_sort_kids(t, x, &scratch, &scap);
    thr_sort_kids(t, root, &scratch, &scap);

    thr_write_root(t, root, nums, out);
    free(scratch);
    free(subj);
    free(top);
    free(toprep);
}

/* ---- ORDEREDSUBJECT ------------------------------------------------------------------- */

/* ORDEREDSUBJECT's order: base subject (by number: only equality matters,
 * the threads are put in date order after), sent date, sequence order. */
typedef struct thr_os {
    uint32_t subject;
    int64_t date;
    size_t msg;
} thr_os;

static int thr_os_cmp(const void *pa, const void *pb)
{
    const thr_os *a = pa, *b = pb;
    if (a->subject != b->subject) return a->subject < b->subject ? -1 : 1;
    if (a->date != b->date) return a->date < b->date ? -1 : 1;
    return a->msg < b->msg ? -1 : a->msg > b->msg;
}

/* Messages sorted by (base subject, sent date); one thread per base subject:
 * the first message at the top, every later one its child; threads in the
 * order of their first message's sent date (RFC 5256 3). */
static void thr_orderedsubject(thr_tree *t, size_t n, const uint32_t *nums, buf *out)
{
    thr_os *order = xmalloc((n ? n : 1) * sizeof *order);
    thr_kid *scratch = NULL;
    size_t scap = 0;
    for (size_t k = 0; k < n; k++)
        order[k] = (thr_os){ t->f->subject[thr_fact(t, k)], thr_msg_date(t, k), k };
    qsort(order, n, sizeof *order, thr_os_cmp);
    size_t root = thr_new(t, NONE);
    for (size_t i = 0; i < n; ) {
        size_t j = i + 1;
        size_t head = thr_new(t, order[i].msg);
        thr_append(t, root, head);
        while (j < n && order[j].subject == order[i].subject) {
            size_t k = thr_new(t, order[j].msg);
            thr_append(t, head, k);
            j++;
        }
        i = j;
    }
    thr_sort_kids(t, root, &scratch, &scap);
    thr_write_root(t, root, nums, out);
    free(scratch);
    free(order);
}

int imap_thread(imap_thread_alg alg, const imap_thread_facts *f, const size_t *pick, size_t n,
                const uint32_t *nums, buf *out)
{
    thr_tree t;
    memset(&t, 0, sizeof t);
    t.f = f;
    t.pick = pick;
    if (n == 0) return 0;
    /* Nodes: one per message, at most one dummy per reference (step 1), the
     * root, at most one dummy per top-level thread (step 5), or ORDEREDSUBJECT's
     * root and one per message. */
    size_t refs = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = thr_fact(&t, k);
        refs += f->refs_at[i + 1] - f->refs_at[i];
    }
    if (n >= NONE / 4 || refs >= NONE / 4) return -1;     /* 2n + refs + 2 < NONE */
    t.cap = 2 * n + refs + 2;
    t.v = xmalloc(t.cap * sizeof *t.v);
    t.date = xmalloc(n * sizeof *t.date);
    for (size_t k = 0; k < n; k++) t.date[k] = f->date[thr_fact(&t, k)];
    if (alg == IMAP_THREAD_ORDEREDSUBJECT) thr_orderedsubject(&t, n, nums, out);
    else thr_references(&t, n, nums, out);
    free(t.v);
    free(t.date);
    return 0;
}
