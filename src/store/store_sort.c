/*
 * store_sort.c — the sort facts of a message (store_sortcols) and
 * store_sort_records() for SORT and THREAD (RFC 5256, RFC 5957).
 *
 * SUMMARY
 *   At ingest, store_sortcols_compute() reads the facts once from the message's
 *   IMAP ENVELOPE (already computed by mime/, so SORT FROM sees exactly the
 *   addr-mailbox that FETCH ENVELOPE shows, as RFC 5256 defines it) and from the
 *   raw header (References, which the envelope lacks). They are kept in
 *   body_sort (store_index.h). store_sort_records() joins them with the message
 *   rows; a body without a body_sort row (a file whose index is being rebuilt)
 *   is parsed on the spot, so the answer never depends on the index being
 *   complete.
 *
 * PROMISES
 *   - Strings are never NULL; "" when absent. Subject and display names are
 *     RFC 2047-decoded (mime_decode_header), unfolded and trimmed.
 *   - from/to/cc: the addr-mailbox of the first address of the field (a
 *     group's name when the field starts with a group); display: the first
 *     address's decoded display name, else its addr-spec (mailbox@host, or
 *     mailbox alone when it has no host, e.g. a group).
 *   - message_id: the first "<...>" of Message-ID (else the trimmed value);
 *     in_reply_to and references: the field unfolded and trimmed.
 *
 * DIAGNOSTICS
 *   A malformed envelope string yields empty facts, never a failure.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/uidset.h"
#include "mime/mime.h"
#include "store/store.h"
#include "store/store_index.h"
#include "store/store_internal.h"

/* mime_envelope's host for an address without '@' (mime_envelope.c). */
#define SORT_MISSING_HOST "MISSING_DOMAIN"

/* --- Reading an IMAP ENVELOPE string -------------------------------------------- */

typedef struct env_reader {
    const char *s;
    size_t n, i;
} env_reader;

static void env_skip_sp(env_reader *r)
{
    while (r->i < r->n && r->s[r->i] == ' ') r->i++;
}

static int env_peek(env_reader *r, char c)
{
    env_skip_sp(r);
    return r->i < r->n && r->s[r->i] == c;
}

/* nstring: NIL (returns 0, out untouched), "quoted" or {n}\r\n literal
 * (returns 1, appended to out); -1 on anything else. */
static int env_nstring(env_reader *r, buf *out)
{
    env_skip_sp(r);
    if (r->i >= r->n) return -1;
    const char *s = r->s;
    if (r->n - r->i >= 3 && memcmp(s + r->i, "NIL", 3) == 0) {
        r->i += 3;
        return 0;
    }
    if (s[r->i] == '"') {
        r->i++;
        while (r->i < r->n && s[r->i] != '"') {
            if (s[r->i] == '\\' && r->i + 1 < r->n) r->i++;
            buf_putc(out, s[r->i]);
            r->i++;
        }
        if (r->i >= r->n) return -1;
        r->i++;
        return 1;
    }
    if (s[r->i] == '{') {
        size_t k = r->i + 1, len = 0;
        while (k < r->n && s[k] >= '0' && s[k] <= '9') {
            if (len > r->n) return -1;
            len = len * 10 + (size_t)(s[k] - '0');
            k++;
        }
        if (k + 3 > r->n || s[k] != '}' || s[k + 1] != '\r' || s[k + 2] != '\n') return -1;
        k += 3;
        if (len > r->n - k) return -1;
        buf_append(out, s + k, len);
        r->i = k + len;
        return 1;
    }
    return -1;
}

/* One address list: the first entry's name, mailbox and host. A group's start
 * marker (NIL host, the group name as mailbox) counts as the first address: it
 * is the first address of the ENVELOPE, which is what RFC 5256 sorts on (and
 * what Dovecot does: "To: undisclosed:;" sorts as "undisclosed"). An end marker
 * (NIL mailbox) never counts. Returns 1 when one was found, 0 when the list is
 * NIL or holds none, -1 when malformed. */
static int env_first_address(env_reader *r, buf *name, buf *mbox, buf *host)
{
    env_skip_sp(r);
    if (r->n - r->i >= 3 && memcmp(r->s + r->i, "NIL", 3) == 0) {
        r->i += 3;
        return 0;
    }
    if (!env_peek(r, '(')) return -1;
    r->i++;
    int found = 0;
    buf a[4] = { BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT };
    int res = -1;
    while (env_peek(r, '(')) {
        r->i++;
        int have[4];
        for (int k = 0; k < 4; k++) {
            buf_reset(&a[k]);
            have[k] = env_nstring(r, &a[k]);
            if (have[k] < 0) goto done;
        }
        if (!env_peek(r, ')')) goto done;
        r->i++;
        if (!found && have[2] == 1) {
            buf_append(name, a[0].p, a[0].len);
            buf_append(mbox, a[2].p, a[2].len);
            if (strcmp(buf_cstr(&a[3]), SORT_MISSING_HOST) != 0) buf_append(host, a[3].p, a[3].len);
            found = 1;
        }
    }
    if (!env_peek(r, ')')) goto done;
    r->i++;
    res = found;
done:
    for (int k = 0; k < 4; k++) buf_free(&a[k]);
    return res;
}

static char *decoded_dup(const char *s, size_t n)
{
    buf d = BUF_INIT;
    mime_decode_header(s, n, &d);
    buf_reserve(&d, 0);
    d.p[d.len] = '\0';
    return buf_steal(&d, NULL);
}

static char *trimmed_dup(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    return xstrndup(s, n);
}

/* The mailbox and display text of one address field. */
static void address_facts(env_reader *r, char **mailbox_out, char **display_out)
{
    buf name = BUF_INIT, mbox = BUF_INIT, host = BUF_INIT;
    int found = r ? env_first_address(r, &name, &mbox, &host) : 0;
    if (found == 1) {
        *mailbox_out = xstrndup(buf_cstr(&mbox), mbox.len);
        if (display_out) {
            char *d = decoded_dup(buf_cstr(&name), name.len);
            if (!*d) {
                free(d);
                buf spec = BUF_INIT;
                buf_append(&spec, mbox.p, mbox.len);
                if (host.len) {
                    buf_putc(&spec, '@');
                    buf_append(&spec, host.p, host.len);
                }
                d = xstrndup(buf_cstr(&spec), spec.len);
                buf_free(&spec);
            }
            *display_out = d;
        }
    } else {
        *mailbox_out = xstrdup("");
        if (display_out) *display_out = xstrdup("");
    }
    buf_free(&name);
    buf_free(&mbox);
    buf_free(&host);
}

void store_sortcols_compute(const char *raw, size_t len, const mime_part *root,
                            const char *envelope, size_t envelope_len, store_sortcols *out)
{
    memset(out, 0, sizeof *out);
    /* ENVELOPE: (date subject from sender reply-to to cc bcc in-reply-to message-id) */
    env_reader rd = { envelope ? envelope : "", envelope ? envelope_len : 0, 0 };
    env_reader *r = &rd;
    buf date = BUF_INIT, subject = BUF_INIT, irt = BUF_INIT, mid = BUF_INIT;
    buf skip_n = BUF_INIT, skip_m = BUF_INIT, skip_h = BUF_INIT;
    if (!env_peek(r, '(')) r = NULL;
    else r->i++;
    if (r && (env_nstring(r, &date) < 0 || env_nstring(r, &subject) < 0)) r = NULL;
    out->subject = decoded_dup(buf_cstr(&subject), subject.len);
    address_facts(r, &out->from, &out->from_display);
    /* sender and reply-to are not sort keys */
    for (int k = 0; k < 2 && r; k++)
        if (env_first_address(r, &skip_n, &skip_m, &skip_h) < 0) r = NULL;
    address_facts(r, &out->to, &out->to_display);
    address_facts(r, &out->cc, NULL);
    if (r && env_first_address(r, &skip_n, &skip_m, &skip_h) < 0) r = NULL;   /* bcc */
    if (r && (env_nstring(r, &irt) < 0 || env_nstring(r, &mid) < 0)) {
        buf_reset(&irt);
        buf_reset(&mid);
    }
    out->in_reply_to = trimmed_dup(buf_cstr(&irt), irt.len);
    const char *m = buf_cstr(&mid);
    const char *lt = memchr(m, '<', mid.len);
    const char *gt = lt ? memchr(lt, '>', mid.len - (size_t)(lt - m)) : NULL;
    out->message_id = lt && gt ? xstrndup(lt, (size_t)(gt - lt) + 1) : trimmed_dup(m, mid.len);
    buf refs = BUF_INIT;
    if (raw && root && root->hdr_off + root->hdr_len <= len &&
        mime_header_get(raw + root->hdr_off, root->hdr_len, "References", &refs) == 0)
        out->references = trimmed_dup(buf_cstr(&refs), refs.len);
    else
        out->references = xstrdup("");
    buf_free(&refs);
    buf_free(&date);
    buf_free(&subject);
    buf_free(&irt);
    buf_free(&mid);
    buf_free(&skip_n);
    buf_free(&skip_m);
    buf_free(&skip_h);
}

void store_sortcols_free(store_sortcols *c)
{
    if (!c) return;
    free(c->subject);
    free(c->from);
    free(c->to);
    free(c->cc);
    free(c->from_display);
    free(c->to_display);
    free(c->message_id);
    free(c->in_reply_to);
    free(c->references);
    memset(c, 0, sizeof *c);
}

/* --- store_sort_records ------------------------------------------------------------ */

/* The facts of a body without a body_sort row: parse it now. */
static int sortcols_from_body(store_mailbox *m, int64_t body_id, size_t size, const char *envelope,
                              size_t envelope_len, store_sortcols *out)
{
    buf raw = BUF_INIT;
    if (store_body_load(m, body_id, size, &raw) < 0) {
        buf_free(&raw);
        return -1;
    }
    mime_part *root = mime_parse(buf_cstr(&raw), raw.len);
    store_sortcols_compute(buf_cstr(&raw), raw.len, root, envelope, envelope_len, out);
    mime_free(root);
    buf_free(&raw);
    return 0;
}

/* Moves the facts `what` asks for from `c` into `o`; frees the rest. */
static void sortrec_take(store_sortrec *o, store_sortcols *c, unsigned what)
{
    if (what & STORE_SORT_SUBJECT) { o->subject = c->subject; c->subject = NULL; }
    if (what & STORE_SORT_ADDRESSES) {
        o->from = c->from;
        o->to = c->to;
        o->cc = c->cc;
        c->from = c->to = c->cc = NULL;
    }
    if (what & STORE_SORT_DISPLAY) {
        o->from_display = c->from_display;
        o->to_display = c->to_display;
        c->from_display = c->to_display = NULL;
    }
    if (what & STORE_SORT_THREADING) {
        o->message_id = c->message_id;
        o->in_reply_to = c->in_reply_to;
        o->references = c->references;
        c->message_id = c->in_reply_to = c->references = NULL;
    }
    store_sortcols_free(c);
}

/* The facts of a message whose body has no body_sort row (an older file being
 * re-indexed): parsed from the stored message. -1 logged. */
static int sortrec_parse(store_mailbox *m, int64_t folder_id, int64_t body_id, store_sortrec *o,
                         unsigned what)
{
    sqlite3_stmt *env = store_db_prepare(m, "SELECT envelope FROM messages WHERE folder_id = ? AND uid = ?");
    if (!env) return -1;
    sqlite3_bind_int64(env, 1, folder_id);
    sqlite3_bind_int64(env, 2, o->uid);
    int r = -1;
    if (sqlite3_step(env) == SQLITE_ROW) {
        const char *e = (const char *)sqlite3_column_text(env, 0);
        size_t elen = e ? (size_t)sqlite3_column_bytes(env, 0) : 0;
        store_sortcols c;
        memset(&c, 0, sizeof c);
        if (sortcols_from_body(m, body_id, (size_t)o->size, e, elen, &c) == 0) {
            sortrec_take(o, &c, what);
            r = 0;
        }
    } else {
        store_db_fail(m, "sort envelope");
    }
    sqlite3_finalize(env);
    return r;
}

/* The columns of body_sort for each STORE_SORT_* bit, in sortrec_take's order. */
static const struct { unsigned bit; const char *cols; int n; } sort_cols[] = {
    { STORE_SORT_SUBJECT, ", s.subject", 1 },
    { STORE_SORT_ADDRESSES, ", s.from_mbox, s.to_mbox, s.cc_mbox", 3 },
    { STORE_SORT_DISPLAY, ", s.from_display, s.to_display", 2 },
    { STORE_SORT_THREADING, ", s.message_id, s.in_reply_to, s.refs", 3 },
};

/* A set of more ranges than this (a search's answer: UNSEEN is a range per
 * run of unseen messages) is read in one pass over the folder, skipping the
 * rows outside it, instead of one index lookup per range: 30,000 lookups cost
 * more than a pass over 100,000 covering-index entries. */
#define SORT_RANGES_SEEK_MAX 64

store_status store_sort_records(store_mailbox *m, int64_t folder_id, const uidset *uids,
                                unsigned what, store_sortrec **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    store_status res = STORE_ERROR;
    sqlite3_stmt *st = NULL;
    store_sortrec *v = NULL;
    size_t count = 0, cap = 0;
    buf sql = BUF_INIT;
    what &= STORE_SORT_ALL;
    if (uids && uids->n == 0) return STORE_OK;
    /* Dates and sizes alone come from the messages rows (a covering index);
     * only string facts need the join with body_sort. */
    buf_puts(&sql, "SELECT m.uid, m.internaldate, m.sentdate, m.size, m.body_id");
    if (what) {
        buf_puts(&sql, ", s.body_id");
        for (size_t k = 0; k < sizeof sort_cols / sizeof sort_cols[0]; k++)
            if (what & sort_cols[k].bit) buf_puts(&sql, sort_cols[k].cols);
        buf_puts(&sql, " FROM messages m LEFT JOIN body_sort s ON s.body_id = m.body_id");
    } else {
        buf_puts(&sql, " FROM messages m");
    }
    buf_puts(&sql, " WHERE m.folder_id = ? AND m.uid BETWEEN ? AND ? ORDER BY m.uid");
    if (store_tx_begin(m, 0) < 0) goto done;
    store_folder_row f;
    int found = store_folder_by_id(m, folder_id, &f);
    if (found <= 0) { res = found < 0 ? STORE_ERROR : STORE_GONE; goto done; }
    st = store_db_prepare(m, buf_cstr(&sql));
    if (!st) goto done;
    int one_pass = uids && uids->n > SORT_RANGES_SEEK_MAX;
    size_t nranges = uids && !one_pass ? uids->n : 1;
    size_t in = 0;                      /* one pass: the first range not below the row */
    for (size_t k = 0; k < nranges; k++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, folder_id);
        sqlite3_bind_int64(st, 2, uids && !one_pass ? uids->r[k].lo : 1);
        sqlite3_bind_int64(st, 3, uids && !one_pass ? uids->r[k].hi : UINT32_MAX);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            uint32_t uid = (uint32_t)sqlite3_column_int64(st, 0);
            if (one_pass) {
                /* Rows come in ascending uid order, as do the ranges. */
                while (in < uids->n && uids->r[in].hi < uid) in++;
                if (in == uids->n) {
                    rc = SQLITE_DONE;
                    break;
                }
                if (uid < uids->r[in].lo) continue;
            }
            if (count == cap) {
                cap = cap ? cap * 2 : 64;
                v = xrealloc(v, cap * sizeof *v);
            }
            store_sortrec *o = &v[count];
            memset(o, 0, sizeof *o);
            count++;
            o->uid = uid;
            o->internaldate = sqlite3_column_int64(st, 1);
            o->sentdate = sqlite3_column_int64(st, 2);          /* NULL reads as 0 */
            o->size = (uint64_t)sqlite3_column_int64(st, 3);
            if (!what) continue;
            if (sqlite3_column_type(st, 5) == SQLITE_NULL) {
                if (sortrec_parse(m, folder_id, sqlite3_column_int64(st, 4), o, what) < 0) goto done;
                continue;
            }
            int col = 6;
            char **fields[] = { &o->subject, &o->from, &o->to, &o->cc, &o->from_display,
                                &o->to_display, &o->message_id, &o->in_reply_to, &o->references };
            size_t fi = 0;
            for (size_t b = 0; b < sizeof sort_cols / sizeof sort_cols[0]; b++) {
                for (int c = 0; c < sort_cols[b].n; c++, fi++)
                    if (what & sort_cols[b].bit) *fields[fi] = store_col_strdup(st, col++);
            }
        }
        if (rc != SQLITE_DONE) { store_db_fail(m, "sort records"); goto done; }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (store_tx_commit(m) < 0) goto done;
    res = STORE_OK;
    *out = v;
    *n = count;
    v = NULL;
    count = 0;
done:
    sqlite3_finalize(st);
    store_tx_rollback(m);
    store_sortrecs_free(v, count);
    buf_free(&sql);
    return res;
}

void store_sortrecs_free(store_sortrec *r, size_t n)
{
    if (!r) return;
    for (size_t i = 0; i < n; i++) {
        free(r[i].subject);
        free(r[i].from);
        free(r[i].to);
        free(r[i].cc);
        free(r[i].from_display);
        free(r[i].to_display);
        free(r[i].message_id);
        free(r[i].in_reply_to);
        free(r[i].references);
    }
    free(r);
}
