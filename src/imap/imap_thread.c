/*
 * imap_thread.c — THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 3) over
 * store sort records, written as the thread-lists of the THREAD response
 * (RFC 5256 4); see imap_sort.h.
 *
 * OFFERS
 *   imap_thread.
 *
 * HOW
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

#define NONE SIZE_MAX

/* ---- A string -> index map (open addressing) ------------------------------------- */

/* Keys are slices of strings that outlive the map (the records' fields, the
 * tree's base subjects): nothing is copied, and the stored hash settles most
 * probes without touching the key's bytes (a cache miss each, at 100,000
 * messages the main cost of threading). */
typedef struct thr_key {
    const char *p;          /* NULL: an empty slot */
    size_t len;
    uint64_t hash;
} thr_key;

typedef struct thr_map {
    thr_key *keys;
    size_t *vals;
    size_t cap, n;          /* cap: power of two, at least twice n */
} thr_map;

static uint64_t thr_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;        /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static size_t *thr_map_slot(thr_map *m, const char *key, size_t len, int insert)
{
    if (insert && 2 * (m->n + 1) > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        thr_key *nk = xcalloc(ncap, sizeof *nk);
        size_t *nv = xcalloc(ncap, sizeof *nv);
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i].p) continue;
            size_t j = m->keys[i].hash & (ncap - 1);
            while (nk[j].p) j = (j + 1) & (ncap - 1);
            nk[j] = m->keys[i];
            nv[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = nk;
        m->vals = nv;
        m->cap = ncap;
    }
    if (!m->cap) return NULL;
    uint64_t h = thr_hash(key, len);
    size_t j = h & (m->cap - 1);
    while (m->keys[j].p) {
        const thr_key *k = &m->keys[j];
        if (k->hash == h && k->len == len && !memcmp(k->p, key, len)) return &m->vals[j];
        j = (j + 1) & (m->cap - 1);
    }
    if (!insert) return NULL;
    m->keys[j] = (thr_key){ key, len, h };
    m->vals[j] = NONE;
    m->n++;
    return &m->vals[j];
}

static void thr_map_free(thr_map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
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

/* ---- The tree ------------------------------------------------------------------------ */

typedef struct thr_node {
    size_t msg;                      /* index into recs, NONE for a dummy */
    size_t parent, first, last;      /* children: a doubly linked list */
    size_t prev, next;
    size_t nkids;
} thr_node;

typedef struct thr_tree {
    const store_sortrec *recs;
    thr_node *v;
    size_t n, cap;
    char **subjects;                 /* base subject per record */
    int *refwd;                      /* subject was a reply or forward */
} thr_tree;

static size_t thr_new(thr_tree *t, size_t msg)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->v = xrealloc(t->v, t->cap * sizeof *t->v);
    }
    thr_node *x = &t->v[t->n];
    x->msg = msg;
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

/* The node a reference names, created as a dummy the first time. */
static size_t thr_ref_node(thr_tree *t, thr_map *ids, const char *id, size_t len)
{
    size_t *slot = thr_map_slot(ids, id, len, 1);
    if (*slot == NONE) *slot = thr_new(t, NONE);
    return *slot;
}

static int64_t thr_msg_date(const thr_tree *t, size_t msg)
{
    const store_sortrec *r = &t->recs[msg];
    return r->sentdate ? r->sentdate : r->internaldate;
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
    size_t rep;                      /* thr_rep, NONE for an empty dummy */
    size_t node;
} thr_kid;

static int thr_kid_cmp(const void *pa, const void *pb)
{
    const thr_kid *a = pa, *b = pb;
    if (a->rep == NONE || b->rep == NONE) {
        if (a->rep != b->rep) return a->rep == NONE ? 1 : -1;
        return a->node < b->node ? -1 : a->node > b->node;
    }
    if (a->date != b->date) return a->date < b->date ? -1 : 1;
    return a->rep < b->rep ? -1 : a->rep > b->rep;
}

/* Sorts p's children by sent date (RFC 5256 2.2), sequence order on ties. */
static void thr_sort_kids(thr_tree *t, size_t p, thr_kid **scratch, size_t *scap)
{
    thr_node *y = &t->v[p];
    if (y->nkids < 2) return;
    if (*scap < y->nkids) {
        *scap = y->nkids;
        *scratch = xrealloc(*scratch, *scap * sizeof **scratch);
    }
    size_t k = 0, m = y->nkids;
    for (size_t c = y->first; c != NONE; c = t->v[c].next) {
        thr_kid *e = &(*scratch)[k++];
        e->node = c;
        e->rep = thr_rep(t, c);
        e->date = e->rep == NONE ? 0 : thr_msg_date(t, e->rep);
    }
    qsort(*scratch, m, sizeof **scratch, thr_kid_cmp);
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

/* Message m's base subject, casemapped (so the subject table compares bytes),
 * and t->refwd[m]: computed the first time it is asked for (REFERENCES needs
 * only those of top-level threads). */
static const char *thr_subject(thr_tree *t, size_t m)
{
    if (!t->subjects[m]) {
        char *b = imap_base_subject(t->recs[m].subject, &t->refwd[m]);
        for (char *c = b; *c; c++)
            if (*c >= 'a' && *c <= 'z') *c = (char)(*c - 'a' + 'A');
        t->subjects[m] = b;
    }
    return t->subjects[m];
}

static void thr_subjects_alloc(thr_tree *t, size_t n)
{
    t->subjects = xcalloc(n ? n : 1, sizeof *t->subjects);
    t->refwd = xcalloc(n ? n : 1, sizeof *t->refwd);
}

/* Step 1 for message i. */
static void thr_link_message(thr_tree *t, thr_map *ids, size_t i, size_t **refs, size_t *rcap)
{
    const store_sortrec *r = &t->recs[i];
    const char *id;
    size_t idlen;
    size_t self = NONE, nrefs = 0;

    /* Its own container: the dummy a reference made for its id, a new one, or
     * (no valid id, or a duplicate of an earlier message's) one without id. */
    const char *p = r->message_id ? r->message_id : "";
    if (thr_next_msgid(&p, &id, &idlen)) {
        size_t *slot = thr_map_slot(ids, id, idlen, 1);
        if (*slot == NONE) *slot = thr_new(t, i);
        else if (t->v[*slot].msg == NONE) t->v[*slot].msg = i;
        else self = thr_new(t, i);
        if (self == NONE) self = *slot;
    } else {
        self = thr_new(t, i);
    }

    /* References, else the first id of In-Reply-To; the last
     * IMAP_THREAD_REFS_MAX of them (a ring). */
    size_t total = 0;
    p = r->references ? r->references : "";
    while (thr_next_msgid(&p, &id, &idlen)) {
        if (*rcap < IMAP_THREAD_REFS_MAX) {
            *rcap = IMAP_THREAD_REFS_MAX;
            *refs = xrealloc(*refs, *rcap * sizeof **refs);
        }
        (*refs)[total % IMAP_THREAD_REFS_MAX] = thr_ref_node(t, ids, id, idlen);
        total++;
    }
    if (total == 0) {
        p = r->in_reply_to ? r->in_reply_to : "";
        if (thr_next_msgid(&p, &id, &idlen)) {
            if (*rcap < IMAP_THREAD_REFS_MAX) {
                *rcap = IMAP_THREAD_REFS_MAX;
                *refs = xrealloc(*refs, *rcap * sizeof **refs);
            }
            (*refs)[0] = thr_ref_node(t, ids, id, idlen);
            total = 1;
        }
    }
    nrefs = total < IMAP_THREAD_REFS_MAX ? total : IMAP_THREAD_REFS_MAX;
    size_t start = total < IMAP_THREAD_REFS_MAX ? 0 : total % IMAP_THREAD_REFS_MAX;

    /* (A) each reference the parent of the next, unless the child has a parent
     * already (References may be truncated) or the link would make a loop. */
    for (size_t k = 0; k + 1 < nrefs; k++) {
        size_t a = (*refs)[(start + k) % IMAP_THREAD_REFS_MAX];
        size_t b = (*refs)[(start + k + 1) % IMAP_THREAD_REFS_MAX];
        if (t->v[b].parent != NONE || thr_is_under(t, a, b)) continue;
        thr_append(t, a, b);
    }
    /* (B) the last reference is the parent: replace any parent a truncated
     * References gave, unless that would make a loop (then no parent). */
    thr_unlink(t, self);
    if (nrefs) {
        size_t parent = (*refs)[(start + nrefs - 1) % IMAP_THREAD_REFS_MAX];
        if (!thr_is_under(t, parent, self)) thr_append(t, parent, self);
    }
}

static void thr_references(thr_tree *t, size_t n, const uint32_t *nums, buf *out)
{
    thr_map ids = { 0 }, subj = { 0 };
    size_t *refs = NULL, rcap = 0, scap = 0;
    thr_kid *scratch = NULL;

    for (size_t i = 0; i < n; i++) thr_link_message(t, &ids, i, &refs, &rcap);

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

    /* (5) merge top-level threads with the same base subject. The top level
     * is listed first (the second pass changes it while it walks). */
    thr_subjects_alloc(t, n);
    size_t ntop = 0;
    for (size_t c = t->v[root].first; c != NONE; c = t->v[c].next) ntop++;
    size_t *top = xmalloc((ntop ? ntop : 1) * sizeof *top), *toprep = xmalloc((ntop ? ntop : 1) * sizeof *toprep);
    ntop = 0;
    for (size_t c = t->v[root].first; c != NONE; c = t->v[c].next) {
        size_t m = thr_rep(t, c);
        top[ntop] = c;
        toprep[ntop++] = m;
        if (m == NONE || !thr_subject(t, m)[0]) continue;
        size_t *slot = thr_map_slot(&subj, t->subjects[m], strlen(t->subjects[m]), 1);
        if (*slot == NONE) {
            *slot = c;
            continue;
        }
        size_t cur = *slot;
        int cur_dummy = t->v[cur].msg == NONE, c_dummy = t->v[c].msg == NONE;
        if (!cur_dummy && (c_dummy || (t->refwd[t->v[cur].msg] && !t->refwd[m]))) *slot = c;
    }
    for (size_t k = 0; k < ntop; k++) {
        size_t c = top[k], m = toprep[k];
        /* Moved under another thread, or a table message put under a new
         * dummy, by an earlier step of this pass: not top-level any more. */
        if (t->v[c].parent != root) continue;
        if (m == NONE || !t->subjects[m][0]) continue;
        size_t *slot = thr_map_slot(&subj, t->subjects[m], strlen(t->subjects[m]), 0);
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
        } else if (tab_dummy || (t->refwd[m] && !t->refwd[t->v[tab].msg])) {
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
    free(refs);
    free(scratch);
    thr_map_free(&ids);
    thr_map_free(&subj);
    free(top);
    free(toprep);
}

/* ---- ORDEREDSUBJECT ------------------------------------------------------------------- */

static int thr_os_cmp(const void *pa, const void *pb, void *arg)
{
    const thr_tree *t = arg;
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    int r = strcmp(t->subjects[a], t->subjects[b]);
    if (r) return r;
    int64_t da = thr_msg_date(t, a), db = thr_msg_date(t, b);
    if (da != db) return da < db ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Messages sorted by (base subject, sent date); one thread per base subject:
 * the first message at the top, every later one its child; threads in the
 * order of their first message's sent date (RFC 5256 3). */
static void thr_orderedsubject(thr_tree *t, size_t n, const uint32_t *nums, buf *out)
{
    size_t *order = xmalloc((n ? n : 1) * sizeof *order);
    thr_kid *scratch = NULL;
    size_t scap = 0;
    thr_subjects_alloc(t, n);
    for (size_t i = 0; i < n; i++) thr_subject(t, i);
    for (size_t i = 0; i < n; i++) order[i] = i;
    qsort_r(order, n, sizeof *order, thr_os_cmp, t);
    size_t root = thr_new(t, NONE);
    for (size_t i = 0; i < n; ) {
        size_t j = i + 1;
        size_t head = thr_new(t, order[i]);
        thr_append(t, root, head);
        while (j < n && !strcmp(t->subjects[order[j]], t->subjects[order[i]])) {
            size_t k = thr_new(t, order[j]);
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

void imap_thread(imap_thread_alg alg, const store_sortrec *recs, size_t n, const uint32_t *nums,
                 buf *out)
{
    thr_tree t;
    memset(&t, 0, sizeof t);
    t.recs = recs;
    if (n == 0) return;
    if (alg == IMAP_THREAD_ORDEREDSUBJECT) thr_orderedsubject(&t, n, nums, out);
    else thr_references(&t, n, nums, out);
    if (t.subjects)
        for (size_t i = 0; i < n; i++) free(t.subjects[i]);
    free(t.subjects);
    free(t.refwd);
    free(t.v);
}
