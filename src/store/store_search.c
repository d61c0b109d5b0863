/*
 * store_search.c — store_search(): which messages of a folder match a search
 * program (search/search.h), answered with SQL over indexed columns and the
 * FTS5 trigram index, and re-checked by search/search_eval.c only where the
 * index cannot decide.
 *
 * HOW
 *   The program is compiled into two SQL conditions over the message row m:
 *     U (upper): true for every message that may match  -> the WHERE clause
 *     L (lower): true only for messages that surely match -> a result column
 *   A key the SQL answers exactly has U = L. One it cannot decide (a term
 *   under 3 characters or not valid UTF-8, HEADER on a field other than From,
 *   To, Cc, Bcc, Subject, X-REGEX, or any text key while the index is being
 *   rebuilt) has L = 0 and U = 1, or for HEADER on other fields U = "the
 *   header text contains it" (a necessary condition, from the index).
 *   AND and OR combine bounds alike; NOT swaps them (U' = NOT L, L' = NOT U).
 *   Rows with L true are results; rows with only U true are loaded and given
 *   to search_eval, the exact reference, which sees the same decoded text as
 *   the index (search/search_text.c), so the two paths agree.
 *
 *   Keys and their SQL (parameters bound, never user text in the SQL):
 *     flags, keywords       bit tests on m.flags / m.keywords
 *     BEFORE/ON/SINCE       the INTERNALDATE day in the zone given at APPEND,
 *                           with a range on m.internaldate (index) around it;
 *     SENT*                 the same on the Date: header's own zone
 *     LARGER/SMALLER        m.size
 *     UID sets              a range plus sealbox_uidset(uid, set) (a bound
 *                           pointer, sqlite3_bind_pointer)
 *     BODY/TEXT/HEADER      m.body_id IN (SELECT rowid FROM head_fts WHERE
 *                           head_fts MATCH 'f_from : "term"') with the folded
 *                           term quoted ("" for a quote inside); the column
 *                           is f_from.. or hdr in head_fts (HEADER), body_fts
 *                           alone (BODY), both tables (TEXT: a UNION ALL)
 *   The columns read are all in the covering index messages_facts, so a scan
 *   never touches the wide message rows. When a top-level conjunct is an FTS
 *   lookup that finds few bodies (SEARCH_FTS_DRIVE_MAX), the query is driven
 *   by it instead (INDEXED BY messages_body): a rare word costs the lookup and
 *   a few rows, not a pass over the folder.
 *
 * COST (100,000 messages, 425 MB, this 2-core machine, warm / fresh process)
 *   TEXT rare word 0.2 / 3 ms; common word 180 ms; UNSEEN or SINCE 20-30 ms
 *   (a pass over the covering index). A term under 3 characters with nothing
 *   longer to narrow it decompresses and decodes every message: ~9 s. The
 *   constants below are planning thresholds, not limits on input: nothing is
 *   refused because of them.
 *
 * DIAGNOSTICS
 *   STORE_INVALID for a program search_eval refuses (too deep, bad pattern);
 *   STORE_LIMIT when an X-REGEX pattern hit its limits on some message;
 *   STORE_GONE when the folder went away; STORE_ERROR logged.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sqlite3.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/uidset.h"
#include "util/utf8.h"
#include "mailbox/msgflags.h"
#include "search/search.h"
#include "search/search_eval.h"
#include "search/search_text.h"
#include "store/store.h"
#include "store/store_index.h"
#include "store/store_internal.h"

/* Trigram: a term needs 3 characters to be answered by the index. */
#define SEARCH_FTS_MIN_CHARS 3
/* A program larger than this (bound values) is evaluated by scanning instead
 * of being compiled: SQLite allows 32766 parameters and a bounded expression
 * depth; real clients send a handful of keys. */
#define SEARCH_SQL_PARAMS_MAX 2000
#define SEARCH_SQL_DEPTH_MAX 200
/* A term the index finds in at most this many bodies drives the query: the
 * messages are looked up by body (index messages_body) instead of scanning the
 * folder's facts. Measured at 59,000 messages: a rare word 0.35 ms this way,
 * 30 ms by the scan SQLite picks on its own (it cannot know the list is short). */
#define SEARCH_FTS_DRIVE_MAX 1000
#define SEARCH_DRIVERS_MAX 4
/* How far a message's own zone can move its day: zones are at most +-99:59
 * (store_append refuses others; a Date: zone has two hour digits). A week of
 * slack only widens the index range that the exact day test then filters. */
#define SEARCH_TZ_SLACK ((int64_t)7 * 86400)
/* Days beyond +-10^9 (2.7 million years) compare like the bound itself. */
#define SEARCH_DAY_CLAMP INT64_C(1000000000)

enum { P_INT, P_TEXT, P_SET };

typedef struct sql_param {
    int kind;
    int64_t i;
    char *s;
    const uidset *set;
} sql_param;

/* An FTS lookup: the parameters (?N) of its query on head_fts and/or body_fts
 * (0: that table is not asked). TEXT asks both; the bodies found are the union. */
typedef struct fts_lookup {
    int head, body;
} fts_lookup;

typedef struct sql_prog {
    sql_param *p;
    size_t np, cap;
    char **kw;
    size_t nkw;
    int fts_ok;              /* the index is complete: text keys may use it */
    int too_big;
    fts_lookup last_fts;     /* the lookup of the last string key whose U is
                                exactly "body in the FTS result", or { 0, 0 } */
    fts_lookup drivers[SEARCH_DRIVERS_MAX];   /* such keys among the top-level conjuncts */
    size_t ndrivers;
} sql_prog;

/* Adds a parameter; returns its number (?N; ?1 is the folder). */
static int param_add(sql_prog *sp, int kind, int64_t i, char *s, const uidset *set)
{
    if (sp->np == sp->cap) {
        sp->cap = sp->cap ? sp->cap * 2 : 16;
        sp->p = xrealloc(sp->p, sp->cap * sizeof *sp->p);
    }
    sp->p[sp->np].kind = kind;
    sp->p[sp->np].i = i;
    sp->p[sp->np].s = s;
    sp->p[sp->np].set = set;
    sp->np++;
    if (sp->np > SEARCH_SQL_PARAMS_MAX) sp->too_big = 1;
    return (int)sp->np + 1;
}

static int pint(sql_prog *sp, int64_t v)
{
    return param_add(sp, P_INT, v, NULL, NULL);
}

/* Both bounds get the same exact text. */
static int both(buf *u, buf *l, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int both(buf *u, buf *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(u, fmt, ap);
    va_end(ap);
    va_start(ap, fmt);
    buf_vprintf(l, fmt, ap);
    va_end(ap);
    return 1;
}

/* The folded needle can go to the trigram index: valid UTF-8 of at least
 * SEARCH_FTS_MIN_CHARS characters. */
static int fts_usable(const char *s, size_t len)
{
    size_t chars = 0, i = 0;
    uint32_t cp;
    while (i < len) {
        size_t k = utf8_decode((const unsigned char *)s + i, len - i, &cp);
        if (k == 0) return 0;
        i += k;
        chars++;
    }
    return chars >= SEARCH_FTS_MIN_CHARS;
}

/* An FTS5 query for `column` ("" = any) containing the folded needle. */
static char *fts_query(const char *column, const char *needle, size_t len)
{
    buf q = BUF_INIT;
    if (*column) {
        buf_puts(&q, column);
        buf_puts(&q, " : ");
    }
    buf_putc(&q, '"');
    for (size_t i = 0; i < len; i++) {
        if (needle[i] == '"') buf_putc(&q, '"');
        buf_putc(&q, needle[i]);
    }
    buf_putc(&q, '"');
    return buf_steal(&q, NULL);
}

/* The bodies an FTS lookup finds, as a compound SELECT of their rowids; the
 * parameters numbered from `first` when not 0 (a statement of its own), else
 * the lookup's own numbers. */
static void fts_select(buf *out, fts_lookup lk, int first)
{
    int n = first;
    if (lk.head) buf_printf(out, "SELECT rowid FROM head_fts WHERE head_fts MATCH ?%d", first ? n++ : lk.head);
    if (lk.head && lk.body) buf_puts(out, " UNION ALL ");
    if (lk.body) buf_printf(out, "SELECT rowid FROM body_fts WHERE body_fts MATCH ?%d", first ? n : lk.body);
}

static void fts_cond(buf *out, fts_lookup lk)
{
    buf_puts(out, "(m.body_id IN (");
    fts_select(out, lk, 0);
    buf_puts(out, "))");
}

static int64_t clamp_day(int64_t d)
{
    if (d > SEARCH_DAY_CLAMP) return SEARCH_DAY_CLAMP;
    if (d < -SEARCH_DAY_CLAMP) return -SEARCH_DAY_CLAMP;
    return d;
}

/* The day of column c in zone column z, floor-divided like search_day(). */
#define DAY(c, z) "(((m." c " + m." z " * 60) - ((((m." c " + m." z " * 60) % 86400) + 86400) % 86400)) / 86400)"

/* A date key: op on the day of (col, zone); `sent` adds the NULL test. */
static void date_sql(sql_prog *sp, search_op op, int64_t number, int sent, buf *u, buf *l)
{
    int64_t d = clamp_day(number);
    int pd = pint(sp, d);
    int plo = pint(sp, d * 86400 - SEARCH_TZ_SLACK);
    int phi = pint(sp, (d + 1) * 86400 + SEARCH_TZ_SLACK);
    const char *col = sent ? "m.sentdate" : "m.internaldate";
    const char *day = sent ? DAY("sentdate", "sentdate_tz") : DAY("internaldate", "internaldate_tz");
    const char *nn = sent ? "m.sentdate IS NOT NULL AND " : "";
    switch (op) {
    case SEARCH_BEFORE: case SEARCH_SENTBEFORE:
        both(u, l, "(%s%s < ?%d AND %s < ?%d)", nn, col, phi, day, pd);
        break;
    case SEARCH_ON: case SEARCH_SENTON:
        both(u, l, "(%s%s >= ?%d AND %s < ?%d AND %s = ?%d)", nn, col, plo, col, phi, day, pd);
        break;
    default:
        both(u, l, "(%s%s >= ?%d AND %s >= ?%d)", nn, col, plo, day, pd);
        break;
    }
}

/* Compiles n into u (may match) and l (surely matches); returns 1 when both
 * are the same exact condition. */
static int compile(sql_prog *sp, const search_node *n, buf *u, buf *l, int depth)
{
    if (depth > SEARCH_SQL_DEPTH_MAX) {
        sp->too_big = 1;
        return both(u, l, "1");
    }
    switch (n->op) {
    case SEARCH_ALL:
        return both(u, l, "1");
    case SEARCH_AND:
    case SEARCH_OR:
    case SEARCH_NOT: {
        if (n->nkids == 0) {
            if (n->op == SEARCH_NOT) return both(u, l, "0");
            return both(u, l, "1");
        }
        /* NOT of several kids reads as NOT (a AND b), as search_eval does. */
        const char *join = n->op == SEARCH_OR ? " OR " : " AND ";
        buf ku = BUF_INIT, kl = BUF_INIT;
        int exact = 1;
        buf_putc(&ku, '(');
        buf_putc(&kl, '(');
        for (size_t i = 0; i < n->nkids; i++) {
            if (i) {
                buf_puts(&ku, join);
                buf_puts(&kl, join);
            }
            exact &= compile(sp, n->kids[i], &ku, &kl, depth + 1);
        }
        buf_putc(&ku, ')');
        buf_putc(&kl, ')');
        if (n->op == SEARCH_NOT) {
            buf_printf(u, "(NOT %s)", buf_cstr(&kl));
            buf_printf(l, "(NOT %s)", buf_cstr(&ku));
        } else {
            buf_append(u, buf_cstr(&ku), ku.len);
            buf_append(l, buf_cstr(&kl), kl.len);
        }
        buf_free(&ku);
        buf_free(&kl);
        return exact;
    }
    case SEARCH_UIDS: {
        if (n->set.n == 0) return both(u, l, "0");
        int lo = pint(sp, n->set.r[0].lo);
        int hi = pint(sp, n->set.r[n->set.n - 1].hi);
        int ps = param_add(sp, P_SET, 0, NULL, &n->set);
        return both(u, l, "(m.uid BETWEEN ?%d AND ?%d AND sealbox_uidset(m.uid, ?%d))", lo, hi, ps);
    }
    case SEARCH_SEQSET:
    case SEARCH_RECENT:
        return both(u, l, "0");
    case SEARCH_FLAGS: {
        int p = pint(sp, n->flags);
        return both(u, l, "((m.flags & ?%d) = ?%d)", p, p);
    }
    case SEARCH_NOFLAGS: {
        int p = pint(sp, n->flags);
        return both(u, l, "((m.flags & ?%d) = 0)", p);
    }
    case SEARCH_KEYWORD:
    case SEARCH_UNKEYWORD: {
        int bit = -1;
        for (size_t i = 0; i < sp->nkw && i < 64; i++)
            if (sp->kw[i] && n->value && strcasecmp(sp->kw[i], n->value) == 0) { bit = (int)i; break; }
        int set = n->op == SEARCH_KEYWORD;
        if (bit < 0) return both(u, l, set ? "0" : "1");
        int p = pint(sp, (int64_t)((uint64_t)1 << bit));
        return both(u, l, set ? "((m.keywords & ?%d) != 0)" : "((m.keywords & ?%d) = 0)", p);
    }
    case SEARCH_BEFORE: case SEARCH_ON: case SEARCH_SINCE:
        date_sql(sp, n->op, n->number, 0, u, l);
        return 1;
    case SEARCH_SENTBEFORE: case SEARCH_SENTON: case SEARCH_SENTSINCE:
        date_sql(sp, n->op, n->number, 1, u, l);
        return 1;
    case SEARCH_LARGER:
        if (n->number < 0) return both(u, l, "1");
        return both(u, l, "(m.size > ?%d)", pint(sp, n->number));
    case SEARCH_SMALLER:
        if (n->number <= 0) return both(u, l, "0");
        return both(u, l, "(m.size < ?%d)", pint(sp, n->number));
    case SEARCH_HEADER:
    case SEARCH_BODY:
    case SEARCH_TEXT: {
        buf f = BUF_INIT;
        const char *v = n->value ? n->value : "";
        search_fold(v, strlen(v), &f);
        int exact = 0;
        sp->last_fts = (fts_lookup){ 0, 0 };
        if (f.len == 0 && n->op != SEARCH_HEADER) {
            exact = both(u, l, "1");                   /* "" is in every text */
        } else if (f.len == 0 && sp->fts_ok && n->field && *n->field) {
            /* Presence: a present field has its line "name: ..." in the
             * header text (search_text_header), the name cleaned and folded
             * like the text. Necessary, not sufficient: re-checked. */
            buf name = BUF_INIT, folded = BUF_INIT;
            search_text_utf8(n->field, strlen(n->field), &name);
            search_fold(buf_cstr(&name), name.len, &folded);
            buf_puts(&folded, ": ");
            if (!memchr(buf_cstr(&folded), '\n', folded.len)) {
                int p = param_add(sp, P_TEXT, 0, fts_query("hdr", buf_cstr(&folded), folded.len), NULL);
                sp->last_fts = (fts_lookup){ p, 0 };
                fts_cond(u, sp->last_fts);
            } else {
                buf_puts(u, "1");
            }
            buf_puts(l, "0");
            buf_free(&name);
            buf_free(&folded);
        } else if (sp->fts_ok && fts_usable(buf_cstr(&f), f.len)) {
            /* HEADER on a field the index keeps apart is exact unless the term
             * holds the LF that separates the pieces of the column. */
            static const char *const fcols[SEARCH_TEXT_NFIELDS] = {
                "f_from", "f_to", "f_cc", "f_bcc", "f_subject" };
            const char *fld = n->field ? n->field : "";
            int fi = n->op == SEARCH_HEADER && !memchr(buf_cstr(&f), '\n', f.len)
                ? search_text_field_index(fld, strlen(fld)) : -1;
            /* Header columns are in head_fts, the body text alone in body_fts:
             * a header key reads only the (short) header trigram lists. TEXT
             * asks both: a match cannot span the header and the body. */
            fts_lookup lk = { 0, 0 };
            if (n->op != SEARCH_BODY)
                lk.head = param_add(sp, P_TEXT, 0, fts_query(fi >= 0 ? fcols[fi] : "hdr", buf_cstr(&f),
                                                             f.len), NULL);
            if (n->op != SEARCH_HEADER)
                lk.body = param_add(sp, P_TEXT, 0, fts_query("", buf_cstr(&f), f.len), NULL);
            sp->last_fts = lk;
            fts_cond(u, lk);
            if (n->op == SEARCH_HEADER && fi < 0) {
                /* The field's value is in the header text: necessary, not sufficient. */
                buf_puts(l, "0");
            } else {
                fts_cond(l, lk);
                exact = 1;
            }
        } else {
            buf_puts(u, "1");
            buf_puts(l, "0");
        }
        buf_free(&f);
        return exact;
    }
    case SEARCH_REGEX:
        buf_puts(u, "1");
        buf_puts(l, "0");
        return 0;
    }
    return both(u, l, "0");
}

static int is_string_key(const search_node *n)
{
    return n->op == SEARCH_HEADER || n->op == SEARCH_BODY || n->op == SEARCH_TEXT;
}

/* compile() for the root, noting the string keys among its top-level
 * conjuncts whose U is an FTS lookup (candidates to drive the query). */
static int compile_root(sql_prog *sp, const search_node *n, buf *u, buf *l)
{
    if (n->op != SEARCH_AND) {
        int exact = compile(sp, n, u, l, 0);
        if (is_string_key(n) && (sp->last_fts.head || sp->last_fts.body))
            sp->drivers[sp->ndrivers++] = sp->last_fts;
        return exact;
    }
    if (n->nkids == 0) return both(u, l, "1");
    int exact = 1;
    buf_putc(u, '(');
    buf_putc(l, '(');
    for (size_t i = 0; i < n->nkids; i++) {
        if (i) {
            buf_puts(u, " AND ");
            buf_puts(l, " AND ");
        }
        sp->last_fts = (fts_lookup){ 0, 0 };
        exact &= compile(sp, n->kids[i], u, l, 1);
        if (is_string_key(n->kids[i]) && (sp->last_fts.head || sp->last_fts.body) &&
            sp->ndrivers < SEARCH_DRIVERS_MAX)
            sp->drivers[sp->ndrivers++] = sp->last_fts;
    }
    buf_putc(u, ')');
    buf_putc(l, ')');
    return exact;
}

/* 1 when some driver's FTS query finds at most SEARCH_FTS_DRIVE_MAX bodies. */
static int short_driver(store_mailbox *m, const sql_prog *sp)
{
    int r = 0;
    for (size_t i = 0; i < sp->ndrivers && !r; i++) {
        fts_lookup lk = sp->drivers[i];
        buf sql = BUF_INIT;
        buf_puts(&sql, "SELECT count(*) FROM (");
        fts_select(&sql, lk, 1);
        int nq = (lk.head != 0) + (lk.body != 0);
        buf_printf(&sql, " LIMIT ?%d)", nq + 1);
        sqlite3_stmt *st = store_db_prepare(m, buf_cstr(&sql));
        buf_free(&sql);
        if (!st) return -1;
        int k = 1;
        if (lk.head) sqlite3_bind_text(st, k++, sp->p[lk.head - 2].s, -1, SQLITE_STATIC);
        if (lk.body) sqlite3_bind_text(st, k++, sp->p[lk.body - 2].s, -1, SQLITE_STATIC);
        /* TEXT counts a body found in both tables twice: an upper bound. */
        sqlite3_bind_int(st, k, SEARCH_FTS_DRIVE_MAX + 1);
        if (sqlite3_step(st) != SQLITE_ROW) {
            store_db_fail(m, "search driver");
            sqlite3_finalize(st);
            return -1;
        }
        r = sqlite3_column_int(st, 0) <= SEARCH_FTS_DRIVE_MAX;
        sqlite3_finalize(st);
    }
    return r;
}

static void sql_prog_free(sql_prog *sp)
{
    for (size_t i = 0; i < sp->np; i++) free(sp->p[i].s);
    free(sp->p);
}

static void uidset_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const uidset *s = sqlite3_value_pointer(argv[1], "sealbox_uidset");
    sqlite3_result_int(ctx, s && uidset_contains(s, (uint32_t)sqlite3_value_int64(argv[0])));
}

store_status store_search(store_mailbox *m, int64_t folder_id, const search_node *prog,
                          uidset *result)
{
    uidset_clear(result);
    if (!prog) return STORE_INVALID;
    store_status res = STORE_ERROR;
    sqlite3_stmt *st = NULL;
    search_eval *ev = NULL;
    sql_prog sp;
    memset(&sp, 0, sizeof sp);
    buf u = BUF_INIT, l = BUF_INIT, sql = BUF_INIT, raw = BUF_INIT;
    if (sqlite3_create_function_v2(m->db, "sealbox_uidset", 2, SQLITE_UTF8 | SQLITE_INNOCUOUS,
                                   NULL, uidset_fn, NULL, NULL, NULL) != SQLITE_OK) {
        store_db_fail(m, "search function");
        goto done;
    }
    if (store_tx_begin(m, 0) < 0) goto done;
    store_folder_row f;
    int found = store_folder_by_id(m, folder_id, &f);
    if (found <= 0) { res = found < 0 ? STORE_ERROR : STORE_GONE; goto done; }
    if (store_keywords_load(m, &sp.kw, &sp.nkw) < 0) goto done;
    ev = search_eval_new(prog, (const char *const *)sp.kw, sp.nkw);
    if (!ev) { res = STORE_INVALID; goto done; }
    int complete = store_index_complete(m);
    if (complete < 0) goto done;
    sp.fts_ok = complete;
    int exact = compile_root(&sp, prog, &u, &l);
    int drive = 0;
    if (sp.too_big) {
        /* Scan: every message goes to the evaluator. */
        sql_prog_free(&sp);
        sp.p = NULL;
        sp.np = sp.cap = 0;
        buf_reset(&u);
        buf_reset(&l);
        buf_puts(&u, "1");
        buf_puts(&l, "0");
        exact = 0;
        sp.ndrivers = 0;
    }
    if (sp.ndrivers && (drive = short_driver(m, &sp)) < 0) goto done;
    buf_printf(&sql,
        "SELECT m.uid, m.flags, m.keywords, m.internaldate, m.internaldate_tz, m.sentdate,"
        " m.sentdate_tz, m.size, m.body_id, %s FROM messages m%s"
        " WHERE m.folder_id = ?1 AND %s ORDER BY m.uid",
        exact ? "1" : buf_cstr(&l), drive ? " INDEXED BY messages_body" : "", buf_cstr(&u));
    st = store_db_prepare(m, buf_cstr(&sql));
    if (!st) goto done;
    sqlite3_bind_int64(st, 1, folder_id);
    for (size_t i = 0; i < sp.np; i++) {
        int idx = (int)i + 2;
        if (sp.p[i].kind == P_INT) sqlite3_bind_int64(st, idx, sp.p[i].i);
        else if (sp.p[i].kind == P_TEXT) sqlite3_bind_text(st, idx, sp.p[i].s, -1, SQLITE_STATIC);
        else sqlite3_bind_pointer(st, idx, (void *)sp.p[i].set, "sealbox_uidset", NULL);
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint32_t uid = (uint32_t)sqlite3_column_int64(st, 0);
        if (sqlite3_column_int(st, 9)) {
            uidset_add(result, uid);
            continue;
        }
        /* Undecided by SQL: the exact evaluator, with the text only if needed. */
        search_msg sm;
        memset(&sm, 0, sizeof sm);
        sm.uid = uid;
        sm.flags = (uint32_t)sqlite3_column_int(st, 1);
        sm.keywords = (uint64_t)sqlite3_column_int64(st, 2);
        sm.internaldate = sqlite3_column_int64(st, 3);
        sm.internaldate_tz = sqlite3_column_int(st, 4);
        sm.has_sentdate = sqlite3_column_type(st, 5) != SQLITE_NULL;
        sm.sentdate = sqlite3_column_int64(st, 5);
        sm.sentdate_tz = sqlite3_column_int(st, 6);
        sm.size = (uint64_t)sqlite3_column_int64(st, 7);
        search_match r = search_eval_msg(ev, &sm);
        if (r == SEARCH_MATCH_UNKNOWN) {
            buf_reset(&raw);
            if (store_body_load(m, sqlite3_column_int64(st, 8), (size_t)sm.size, &raw) < 0) goto done;
            sm.raw = buf_cstr(&raw);
            sm.raw_len = raw.len;
            r = search_eval_msg(ev, &sm);
            if (search_eval_limited(ev)) { res = STORE_LIMIT; goto done; }
        }
        if (r == SEARCH_MATCH_YES) uidset_add(result, uid);
    }
    if (rc != SQLITE_DONE) { store_db_fail(m, "search"); goto done; }
    sqlite3_finalize(st);
    st = NULL;
    if (store_tx_commit(m) < 0) goto done;
    res = STORE_OK;
done:
    sqlite3_finalize(st);
    store_tx_rollback(m);
    search_eval_free(ev);
    store_names_free(sp.kw, sp.nkw);
    sql_prog_free(&sp);
    buf_free(&u);
    buf_free(&l);
    buf_free(&sql);
    buf_free(&raw);
    if (res != STORE_OK) uidset_clear(result);
    return res;
}
