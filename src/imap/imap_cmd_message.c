/*
 * imap_cmd_message.c — commands on the messages of the selected folder
 * (RFC 3501 6.4; UIDPLUS RFC 4315; MOVE RFC 6851).
 *
 * SUMMARY
 *   FETCH STORE SEARCH SORT THREAD COPY MOVE EXPUNGE, each also as UID command
 *   (ESEARCH RFC 4731, SEARCHRES RFC 5182, SORT/THREAD RFC 5256, SORT=DISPLAY
 *   RFC 5957, ESORT RFC 5267).
 *
 * CHOICES
 *   - Message sets: see imap_view_resolve_seqset. A sequence number above EXISTS
 *     is "BAD Invalid messageset"; '*' on an empty folder names nothing (FETCH
 *     1:* on an empty folder is OK with no data, which clients rely on). UIDs
 *     that do not exist are ignored (RFC 3501 6.4.8).
 *   - A message expunged by another session but not yet announced (its EXPUNGE
 *     is held back, RFC 3501 7.4.1) cannot be fetched any more: FETCH leaves it
 *     out and answers "NO [EXPUNGEISSUED]" (RFC 5530); UID FETCH leaves it out
 *     and answers OK, as it would for any uid that does not exist.
 *   - \Seen set by a body fetch is stored once for the whole set before the
 *     replies, and each such message's reply carries FLAGS (RFC 3501 6.4.5).
 *   - STORE answers FETCH FLAGS for every message of the set (not .SILENT), as
 *     clients that wait for the new flags expect; \Recent in STORE is BAD.
 *   - SEARCH CHARSET (and SORT/THREAD's mandatory charset): UTF-8 and US-ASCII
 *     only, else NO [BADCHARSET (UTF-8 US-ASCII)] (RFC 3501 6.4.4, 7.1).
 *   - SEARCH RETURN (ESEARCH, RFC 4731) answers one "* ESEARCH (TAG ...)"; MIN,
 *     MAX and ALL are left out when nothing matched, COUNT 0 is not. SORT
 *     RETURN (ESORT, RFC 5267) the same, in sort order.
 *   - "$" (SEARCHRES, RFC 5182) is a set of uids saved by RETURN (SAVE): every
 *     message set ($ in FETCH/STORE/COPY/MOVE/UID EXPUNGE, $ and UID $ in
 *     SEARCH) names the saved messages still in the view. SAVE with MIN/MAX
 *     alone saves just those; a SEARCH or SORT with SAVE that fails (BAD or NO)
 *     empties it, as does SELECT/EXAMINE/CLOSE/UNSELECT (imap_session_unselect).
 *   - SORT/THREAD (RFC 5256) order and thread the store's sort records with the
 *     pure imap_sort/imap_thread (imap_sort.h); like SEARCH they only name
 *     messages the client knows (the view).
 *   - X-REGEX over its match limits: the store answers STORE_LIMIT, the client
 *     NO [LIMIT] (search/search_regex.h).
 *   - Read-only (EXAMINE): STORE, EXPUNGE and MOVE answer NO; COPY works; FETCH
 *     sets no \Seen.
 */
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/limits.h"
#include "util/uidset.h"
#include "util/log.h"
#include "store/store.h"
#include "search/search.h"
#include "search/search_eval.h"
#include "delivery/quota.h"
#include "imap/imap_parse.h"
#include "imap/imap_server.h"
#include "imap/imap_session.h"
#include "imap/imap_sort.h"

/* "$" (RFC 5182): the saved uids that are still in the view. */
static void msg_saved_uids(imap_session *s, uidset *uids)
{
    imap_seqset saved = { s->searchres.r, s->searchres.n, 0 };
    imap_view_resolve_uidset(&s->view, &saved, uids);
}

/* The uids named by the command's set; -1 after setting BAD. */
static int msg_resolve(imap_session *s, const imap_cmd *cmd, uidset *uids)
{
    if (cmd->seq.last) {
        msg_saved_uids(s, uids);
        return 0;
    }
    if (cmd->uid) {
        imap_view_resolve_uidset(&s->view, &cmd->seq, uids);
        return 0;
    }
    if (imap_view_resolve_seqset(&s->view, &cmd->seq, uids) != 0) {
        imap_set_reply(s, IMAP_REPLY_BAD, NULL, "Invalid messageset.");
        return -1;
    }
    return 0;
}

static int msg_read_only(imap_session *s)
{
    if (!s->readonly) return 0;
    imap_set_reply(s, IMAP_REPLY_NO, "READ-ONLY", "Mailbox is read-only.");
    return 1;
}

/* ---- FETCH ----------------------------------------------------------------------------- */

static int msg_atts_have(const imap_cmd *cmd, imap_fetch_kind k)
{
    for (size_t i = 0; i < cmd->natts; i++)
        if (cmd->atts[i].kind == k) return 1;
    return 0;
}

void imap_cmd_fetch(imap_session *s, imap_cmd *cmd)
{
    uidset uids = UIDSET_INIT, seen_now = UIDSET_INIT;
    store_msgflags *chg = NULL;
    size_t nchg = 0;
    int missing = 0, failed = 0;
    unsigned what = imap_fetch_needs(cmd->atts, cmd->natts);
    int shows_flags = msg_atts_have(cmd, IMAP_FETCH_FLAGS);

    /* UID, FLAGS, INTERNALDATE and RFC822.SIZE only (a client's flag resync,
     * UID FETCH 1:* (FLAGS)): the view holds all of it. It is brought up to
     * date first, as for SEARCH: another session's changes come as untagged
     * FETCH and EXISTS before these (so "*" covers new messages), and a
     * message expunged meanwhile is missing, as it is from the file. */
    int from_view = what == 0;
    if (from_view) {
        imap_session_updates(s, 0, cmd->uid);
        if (s->state != IMAP_STATE_SELECTED) {       /* the folder went away: BYE sent */
            imap_set_reply(s, IMAP_REPLY_NO, NULL, "Mailbox is gone.");
            goto out;
        }
    }
    if (msg_resolve(s, cmd, &uids) != 0) goto out;

    /* Implicit \Seen, stored once for the set before any reply. */
    if (!s->readonly && imap_fetch_sets_seen(cmd->atts, cmd->natts)) {
        uidset unseen = UIDSET_INIT;
        for (size_t i = 0; i < uids.n; i++)
            for (uint64_t u = uids.r[i].lo; u <= uids.r[i].hi; u++) {
                uint32_t seq = imap_view_seq(&s->view, (uint32_t)u);
                const store_msgflags *m = imap_view_msg(&s->view, seq);
                if (m && !(m->flags & MSG_FLAG_SEEN)) uidset_add(&unseen, (uint32_t)u);
            }
        if (unseen.n) {
            store_status st = store_flags(s->store, s->view.folder_id, &unseen, STORE_FLAGS_ADD,
                                          MSG_FLAG_SEEN, NULL, 0, &chg, &nchg);
            if (st != STORE_OK)
                log_warn("imap", "conn %llu: FETCH \\Seen: %s", s->id, store_strerror(st));
            for (size_t i = 0; st == STORE_OK && i < nchg; i++) uidset_add(&seen_now, chg[i].uid);
        }
        uidset_free(&unseen);
    }

    for (size_t i = 0; i < uids.n && !failed; i++) {
        for (uint64_t u = uids.r[i].lo; u <= uids.r[i].hi; u++) {
            uint32_t uid = (uint32_t)u;
            uint32_t seq = imap_view_seq(&s->view, uid);
            if (!seq) continue;
            store_msg msg;
            memset(&msg, 0, sizeof msg);
            if (from_view) {
                if (s->view.expunge_pending.n && uidset_contains(&s->view.expunge_pending, uid)) {
                    missing = 1;
                    continue;
                }
                const store_msgflags *v = imap_view_msg(&s->view, seq);
                if (s->kw.n < 64 && (v->keywords >> s->kw.n) != 0) imap_session_keywords(s);
                msg.uid = uid;
                msg.modseq = v->modseq;
                msg.flags = v->flags;
                msg.keywords = v->keywords;
                msg.internaldate = v->internaldate;
                msg.internaldate_tz = v->internaldate_tz;
                msg.size = v->size;
                if (imap_fetch_write(s, seq, &msg, cmd->atts, cmd->natts, cmd->uid, 0) != 0) {
                    failed = 1;
                    imap_set_reply(s, IMAP_REPLY_NO, NULL, "Connection closing.");
                    break;
                }
                continue;
            }
            store_status st = store_fetch(s->store, s->view.folder_id, uid, what, &msg);
            if (st == STORE_NOTFOUND) {
                missing = 1;
                continue;
            }
            if (st != STORE_OK) {
                imap_reply_store(s, st, 0);
                store_msg_clear(&msg);
                failed = 1;
                break;
            }
            if (s->kw.n < 64 && (msg.keywords >> s->kw.n) != 0) imap_session_keywords(s);
            int add_flags = uidset_contains(&seen_now, uid);
            if (imap_fetch_write(s, seq, &msg, cmd->atts, cmd->natts, cmd->uid, add_flags) != 0) {
                store_msg_clear(&msg);
                failed = 1;
                imap_set_reply(s, IMAP_REPLY_NO, NULL, "Connection closing.");
                break;
            }
            if (shows_flags || add_flags) {
                /* The client now knows these flags: no later FETCH for them. */
                store_msgflags f = { .uid = uid, .flags = msg.flags, .keywords = msg.keywords,
                                     .modseq = msg.modseq };
                imap_view_set_flags(&s->view, &f);
            }
            store_msg_clear(&msg);
        }
    }
    if (failed) goto out;
    if (missing && !cmd->uid)
        imap_set_reply(s, IMAP_REPLY_NO, "EXPUNGEISSUED", "Some messages were expunged meanwhile.");
    else
        imap_set_reply(s, IMAP_REPLY_OK, NULL, "Fetch completed.");
out:
    free(chg);
    uidset_free(&uids);
    uidset_free(&seen_now);
}

/* ---- STORE ------------------------------------------------------------------------------ */

void imap_cmd_store(imap_session *s, imap_cmd *cmd)
{
    uidset uids = UIDSET_INIT;
    store_msgflags *chg = NULL;
    size_t nchg = 0;
    if (cmd->flag_recent) {
        imap_set_reply(s, IMAP_REPLY_BAD, NULL, "\\Recent can't be stored.");
        return;
    }
    if (msg_read_only(s)) return;
    if (msg_resolve(s, cmd, &uids) != 0) return;
    if (uids.n == 0) {
        imap_set_reply(s, IMAP_REPLY_OK, NULL, "Store completed.");
        goto out;
    }
    store_flag_mode mode = cmd->store_mode > 0 ? STORE_FLAGS_ADD
                         : cmd->store_mode < 0 ? STORE_FLAGS_REMOVE : STORE_FLAGS_SET;
    store_status st = store_flags(s->store, s->view.folder_id, &uids, mode, cmd->flags & MSG_FLAG_ALL,
                                  (const char *const *)cmd->keywords, cmd->nkeywords, &chg, &nchg);
    if (st != STORE_OK) {
        imap_reply_store(s, st, 0);
        goto out;
    }
    /* A new keyword: tell the client it exists (RFC 3501 7.2.6) before using it. */
    if (cmd->nkeywords && imap_session_keywords(s)) {
        buf_puts(&s->out, "* FLAGS ");
        imap_write_flag_list(&s->out, &s->kw, 0);
        buf_puts(&s->out, "\r\n* OK [PERMANENTFLAGS ");
        imap_write_flag_list(&s->out, &s->kw, s->kw.n < IMAP_KEYWORDS_MAX);
        buf_puts(&s->out, "] Flags permitted.\r\n");
    }
    for (size_t i = 0; i < nchg; i++) imap_view_set_flags(&s->view, &chg[i]);
    if (!cmd->store_silent) {
        for (size_t i = 0; i < uids.n; i++)
            for (uint64_t u = uids.r[i].lo; u <= uids.r[i].hi; u++) {
                uint32_t seq = imap_view_seq(&s->view, (uint32_t)u);
                const store_msgflags *m = imap_view_msg(&s->view, seq);
                if (!m) continue;
                buf_printf(&s->out, "* %u FETCH (", seq);
                if (cmd->uid) buf_printf(&s->out, "UID %u ", m->uid);
                buf_puts(&s->out, "FLAGS ");
                imap_write_flags(&s->out, m->flags, m->keywords, imap_view_is_recent(&s->view, m->uid), &s->kw);
                buf_puts(&s->out, ")\r\n");
                if (s->out.len >= IMAP_OUT_FLUSH) imap_flush(s);
            }
    }
    imap_set_reply(s, IMAP_REPLY_OK, NULL, "Store completed.");
out:
    free(chg);
    uidset_free(&uids);
}

/* A list of uids in its given order, consecutive runs as "a:b" (RFC 4315 uid-set:
 * the n-th source corresponds to the n-th destination). */
static void msg_write_uid_list(buf *o, const uint32_t *v, size_t n)
{
    for (size_t i = 0; i < n; ) {
        size_t j = i;
        while (j + 1 < n && v[j + 1] == v[j] + 1) j++;
        if (i) buf_putc(o, ',');
        if (j == i) buf_printf(o, "%u", v[i]);
        else buf_printf(o, "%u:%u", v[i], v[j]);
        i = j + 1;
    }
}

/* ---- SEARCH, SORT, THREAD ---------------------------------------------------------- */

/* Sequence numbers, '*', \Recent and $ only mean something in this session:
 * turn them into uid sets before the program goes to the store. */
static void msg_search_rewrite(imap_session *s, search_node *n)
{
    if (!n) return;
    switch (n->op) {
    case SEARCH_SEQSET:
        if (n->number == IMAP_SEARCH_SAVED) {
            /* "$": the saved uids that are still in the view. */
            uidset_free(&n->set);
            msg_saved_uids(s, &n->set);
            n->number = 0;
        } else {
            imap_view_resolve_search_set(&s->view, &n->set, 0);
        }
        n->op = SEARCH_UIDS;
        n->star = 0;
        break;
    case SEARCH_UIDS:
        imap_view_resolve_search_set(&s->view, &n->set, 1);
        n->star = 0;
        break;
    case SEARCH_RECENT:
        uidset_copy(&n->set, &s->view.recent);
        n->op = SEARCH_UIDS;
        break;
    default:
        break;
    }
    for (size_t i = 0; i < n->nkids; i++) msg_search_rewrite(s, n->kids[i]);
}

/* 1 when the program has an X-REGEX key: a STORE_LIMIT then means one of its
 * patterns hit the PCRE2 match/depth/heap limits (search/search_regex.h). */
static int msg_has_regex(const search_node *n)
{
    if (n->op == SEARCH_REGEX) return 1;
    for (size_t i = 0; i < n->nkids; i++)
        if (msg_has_regex(n->kids[i])) return 1;
    return 0;
}

/* A program of flags, keywords, uids, dates and sizes only
 * (search_facts_only), answered from the view with the reference evaluator.
 * The view is brought up to date first: another session's STORE reaches it
 * as untagged FETCH before the answer (EXPUNGE may not be sent during SEARCH,
 * RFC 3501 7.4.1: a message expunged meanwhile is left out, as the file no
 * longer has it), and new messages arrive with their dates and sizes. So the
 * answer is the one the file gives, without a pass over the folder's index
 * (on 100,000 messages: UNSEEN 25 ms of SQL, LARGER 12 ms, SINCE 20 ms; ~2 ms
 * here). 0, or -1 when the evaluator refuses the program (the store path
 * then says why). */
static int msg_search_view(imap_session *s, imap_cmd *cmd, uidset *res, uidset *seqs)
{
    uint32_t set = 0, clear = 0, n = imap_view_exists(&s->view);
    const uidset *pending = &s->view.expunge_pending;
    /* ALL, UNSEEN, FLAGGED UNDELETED...: a mask test per message (the
     * evaluator took ~2 ms per 100,000 messages for it). */
    if (search_flag_masks(cmd->search, &set, &clear)) {
        const uint8_t *fl = s->view.flags;
        for (uint32_t seq = 1; seq <= n; seq++) {
            if ((fl[seq - 1] & set) != set || (fl[seq - 1] & clear)) continue;
            if (res || pending->n) {
                uint32_t uid = imap_view_msg(&s->view, seq)->uid;
                if (pending->n && uidset_contains(pending, uid)) continue;
                if (res) uidset_add(res, uid);
            }
            if (seqs) uidset_add(seqs, seq);
        }
        return 0;
    }
    search_eval *ev = search_eval_new(cmd->search, (const char *const *)s->kw.names, s->kw.n);
    if (!ev) return -1;
    for (uint32_t seq = 1; seq <= n; seq++) {
        const store_msgflags *m = imap_view_msg(&s->view, seq);
        if (pending->n && uidset_contains(pending, m->uid)) continue;
        search_msg sm;
        memset(&sm, 0, sizeof sm);
        sm.uid = m->uid;
        sm.flags = m->flags;
        sm.keywords = m->keywords;
        sm.internaldate = m->internaldate;
        sm.internaldate_tz = m->internaldate_tz;
        sm.has_sentdate = m->has_sentdate;
        sm.sentdate = m->sentdate;
        sm.sentdate_tz = m->sentdate_tz;
        sm.size = m->size;
        if (search_eval_msg(ev, &sm) != SEARCH_MATCH_YES) continue;
        if (res) uidset_add(res, m->uid);
        if (seqs) uidset_add(seqs, seq);
    }
    search_eval_free(ev);
    return 0;
}

/* Runs the command's program: `res` gets the matching uids the client knows
 * (in the view) and `seqs` their sequence numbers, found in the same pass
 * (uid -> number lookups were a sixth of a SEARCH UNSEEN); either may be NULL
 * when not wanted. Returns 0, or -1 after setting the NO. */
static int msg_run_search(imap_session *s, imap_cmd *cmd, uidset *res, uidset *seqs)
{
    uidset found = UIDSET_INIT;
    /* RFC 3501 6.4.4 / 7.1: the charsets we take, listed in BADCHARSET. */
    if (cmd->charset && strcmp(cmd->charset, "UTF-8") != 0 && strcmp(cmd->charset, "US-ASCII") != 0) {
        imap_set_reply(s, IMAP_REPLY_NO, "BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset.");
        return -1;
    }
    msg_search_rewrite(s, cmd->search);
    if (search_facts_only(cmd->search)) {
        imap_session_updates(s, 0, cmd->uid);
        if (s->state != IMAP_STATE_SELECTED) {       /* the folder went away: BYE sent */
            imap_set_reply(s, IMAP_REPLY_NO, NULL, "Mailbox is gone.");
            return -1;
        }
        if (msg_search_view(s, cmd, res, seqs) == 0) return 0;
    }
    store_status st = store_search(s->store, s->view.folder_id, cmd->search, &found);
    if (st != STORE_OK) {
        if (st == STORE_LIMIT && msg_has_regex(cmd->search))
            imap_set_reply(s, IMAP_REPLY_NO, "LIMIT", "X-REGEX pattern too costly for this mailbox.");
        else
            imap_reply_store(s, st, 0);
        uidset_free(&found);
        return -1;
    }
    uint32_t n = imap_view_exists(&s->view);
    for (uint32_t seq = 1; seq <= n && found.n; seq++) {
        const store_msgflags *m = imap_view_msg(&s->view, seq);
        if (!uidset_contains(&found, m->uid)) continue;
        if (res) uidset_add(res, m->uid);
        if (seqs) uidset_add(seqs, seq);
    }
    uidset_free(&found);
    return 0;
}

/* ESEARCH (RFC 4731 3.2): "* ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [ALL set]
 * [COUNT n]"; MIN, MAX and ALL are left out when nothing matched. */
static void msg_write_esearch(imap_session *s, imap_cmd *cmd, const uidset *nums)
{
    unsigned ret = cmd->search_return;
    buf_puts(&s->out, "* ESEARCH (TAG ");
    imap_write_string(&s->out, cmd->tag, strlen(cmd->tag));
    buf_putc(&s->out, ')');
    if (cmd->uid) buf_puts(&s->out, " UID");
    if (nums->n) {
        if (ret & IMAP_SEARCH_RETURN_MIN) buf_printf(&s->out, " MIN %u", nums->r[0].lo);
        if (ret & IMAP_SEARCH_RETURN_MAX) buf_printf(&s->out, " MAX %u", nums->r[nums->n - 1].hi);
        if (ret & IMAP_SEARCH_RETURN_ALL) {
            buf_puts(&s->out, " ALL ");
            uidset_format(nums, &s->out);
        }
    }
    if (ret & IMAP_SEARCH_RETURN_COUNT)
        buf_printf(&s->out, " COUNT %llu", (unsigned long long)uidset_count(nums));
    buf_puts(&s->out, "\r\n");
}

/* RFC 5182 2.4: SAVE with MIN and/or MAX but neither ALL nor COUNT saves only
 * those messages; otherwise every match. */
static void msg_save_result(imap_session *s, unsigned ret, const uidset *res)
{
    uidset_free(&s->searchres);
    if ((ret & (IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX)) &&
        !(ret & (IMAP_SEARCH_RETURN_ALL | IMAP_SEARCH_RETURN_COUNT))) {
        if (!res->n) return;
        if (ret & IMAP_SEARCH_RETURN_MIN) uidset_add(&s->searchres, res->r[0].lo);
        if (ret & IMAP_SEARCH_RETURN_MAX) uidset_add(&s->searchres, res->r[res->n - 1].hi);
        return;
    }
    uidset_copy(&s->searchres, res);
}

void imap_cmd_search(imap_session *s, imap_cmd *cmd)
{
    uidset res = UIDSET_INIT, seqs = UIDSET_INIT;
    unsigned ret = cmd->search_return;
    /* uids for UID SEARCH and for SAVE ($ holds uids), else only numbers. */
    int want_uids = cmd->uid || (ret & IMAP_SEARCH_RETURN_SAVE);
    if (msg_run_search(s, cmd, want_uids ? &res : NULL, cmd->uid ? NULL : &seqs) != 0) {
        /* RFC 5182 2.1: a failed SEARCH that asked to SAVE empties $. */
        if (ret & IMAP_SEARCH_RETURN_SAVE) uidset_free(&s->searchres);
        goto out;
    }
    const uidset *nums = cmd->uid ? &res : &seqs;    /* what the answer names */
    if (ret & IMAP_SEARCH_RETURN_SAVE) msg_save_result(s, ret, &res);
    if (cmd->esearch) {
        /* RFC 5182 2.1: SAVE alone answers no ESEARCH. */
        if (ret & ~IMAP_SEARCH_RETURN_SAVE) msg_write_esearch(s, cmd, nums);
    } else {
        buf_puts(&s->out, "* SEARCH");
        for (size_t i = 0; i < nums->n; i++)
            for (uint64_t u = nums->r[i].lo; u <= nums->r[i].hi; u++) {
                buf_putc(&s->out, ' ');
                buf_put_uint(&s->out, u);
                if (s->out.len >= IMAP_OUT_FLUSH) imap_flush(s);
            }
        buf_puts(&s->out, "\r\n");
    }
    imap_set_reply(s, IMAP_REPLY_OK, NULL, "Search completed.");
out:
    uidset_free(&res);
    uidset_free(&seqs);
}

/* The store facts (STORE_SORT_*) that SORT's criteria or THREAD's algorithm
 * read: each string fact costs a read and a copy per message. */
static unsigned msg_sort_needs(const imap_cmd *cmd)
{
    if (cmd->kind == IMAP_CMD_THREAD)
        return STORE_SORT_SUBJECT | (cmd->thread == IMAP_THREAD_REFERENCES ? STORE_SORT_THREADING : 0);
    unsigned what = 0;
    for (size_t k = 0; k < cmd->nsort; k++) {
        switch (cmd->sort[k].key) {
        case IMAP_SORT_SUBJECT: what |= STORE_SORT_SUBJECT; break;
        case IMAP_SORT_FROM: case IMAP_SORT_TO: case IMAP_SORT_CC: what |= STORE_SORT_ADDRESSES; break;
        case IMAP_SORT_DISPLAYFROM: case IMAP_SORT_DISPLAYTO: what |= STORE_SORT_DISPLAY; break;
        case IMAP_SORT_ARRIVAL: case IMAP_SORT_DATE: case IMAP_SORT_SIZE: break;
        }
    }
    return what;
}

/* The messages the program matches, ascending uid, as their indexes in the
 * session's sort cache (pos, loaded with the facts the command needs) and
 * their numbers (nums: uid or sequence number). -1 after setting the NO. */
static int msg_sort_records(imap_session *s, imap_cmd *cmd, size_t *kept, uint32_t **nums, size_t **pos)
{
    uidset seqs = UIDSET_INIT;
    *kept = 0;
    *nums = NULL;
    *pos = NULL;
    if (msg_run_search(s, cmd, NULL, &seqs) != 0) goto fail;
    store_status st = imap_sortcache_load(s, msg_sort_needs(cmd));
    if (st != STORE_OK) {
        imap_reply_store(s, st, 0);
        goto fail;
    }
    const imap_sortcache *c = &s->sortcache;
    *nums = xmalloc((c->n ? c->n : 1) * sizeof **nums);
    *pos = xmalloc((c->n ? c->n : 1) * sizeof **pos);
    /* The matches (sequence order) and the cache both ascend by uid. When the
     * cache holds every message of the view (none expunged since it was
     * read), record i is message i + 1; otherwise one walk finds each match's
     * record, and a message expunged meanwhile has none and is left out. */
    int whole = c->n == imap_view_exists(&s->view);
    size_t i = 0;
    for (size_t k = 0; k < seqs.n; k++)
        for (uint64_t q = seqs.r[k].lo; q <= seqs.r[k].hi; q++) {
            if (whole) {
                i = (size_t)q - 1;
            } else {
                uint32_t uid = imap_view_msg(&s->view, (uint32_t)q)->uid;
                while (i < c->n && c->recs[i].uid < uid) i++;
                if (i == c->n || c->recs[i].uid != uid) continue;
            }
            (*nums)[*kept] = cmd->uid ? c->recs[i].uid : (uint32_t)q;
            (*pos)[(*kept)++] = i;
        }
    uidset_free(&seqs);
    return 0;
fail:
    uidset_free(&seqs);
    return -1;
}

/* ESORT (RFC 5267 3): SORT RETURN answers ESEARCH with MIN and MAX the first
 * and last message in sort order, ALL the sorted numbers (runs that ascend by
 * one as "a:b", never reordered), COUNT; SAVE keeps the messages (with MIN/MAX
 * alone, only those) as SEARCH RETURN (SAVE) does. */
static void msg_write_esort(imap_session *s, imap_cmd *cmd, const size_t *pos,
                            const uint32_t *nums, const size_t *order, size_t n)
{
    const store_sortrec *recs = s->sortcache.recs;
    unsigned ret = cmd->search_return;
    if (ret & IMAP_SEARCH_RETURN_SAVE) {
        uidset_free(&s->searchres);
        if ((ret & (IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX)) &&
            !(ret & (IMAP_SEARCH_RETURN_ALL | IMAP_SEARCH_RETURN_COUNT))) {
            if (n && (ret & IMAP_SEARCH_RETURN_MIN)) uidset_add(&s->searchres, recs[pos[order[0]]].uid);
            if (n && (ret & IMAP_SEARCH_RETURN_MAX)) uidset_add(&s->searchres, recs[pos[order[n - 1]]].uid);
        } else {
            for (size_t i = 0; i < n; i++) uidset_add(&s->searchres, recs[pos[i]].uid);
        }
        if (!(ret & ~IMAP_SEARCH_RETURN_SAVE)) return;
    }
    buf_puts(&s->out, "* ESEARCH (TAG ");
    imap_write_string(&s->out, cmd->tag, strlen(cmd->tag));
    buf_putc(&s->out, ')');
    if (cmd->uid) buf_puts(&s->out, " UID");
    if (n) {
        if (ret & IMAP_SEARCH_RETURN_MIN) buf_printf(&s->out, " MIN %u", nums[order[0]]);
        if (ret & IMAP_SEARCH_RETURN_MAX) buf_printf(&s->out, " MAX %u", nums[order[n - 1]]);
        if (ret & IMAP_SEARCH_RETURN_ALL) {
            uint32_t *v = xmalloc(n * sizeof *v);
            for (size_t i = 0; i < n; i++) v[i] = nums[order[i]];
            buf_puts(&s->out, " ALL ");
            msg_write_uid_list(&s->out, v, n);
            free(v);
        }
    }
    if (ret & IMAP_SEARCH_RETURN_COUNT) buf_printf(&s->out, " COUNT %zu", n);
    buf_puts(&s->out, "\r\n");
}

/* The SORT order of the kept records: the cached full-view order restricted to
 * them when they are a good part of the view (it is then computed once for
 * all later SORTs with these criteria), else a sort of these alone. */
static size_t *msg_sort_order(imap_session *s, imap_cmd *cmd, size_t kept, const size_t *pos)
{
    size_t *order = xmalloc((kept ? kept : 1) * sizeof *order);
    size_t total = s->sortcache.n;
    if (kept < 2 || kept * 4 < total) {
        /* Shallow copies: the strings stay the cache's. */
        store_sortrec *recs = xmalloc((kept ? kept : 1) * sizeof *recs);
        for (size_t k = 0; k < kept; k++) recs[k] = s->sortcache.recs[pos[k]];
        imap_sort(recs, kept, cmd->sort, cmd->nsort, order);
        free(recs);
        return order;
    }
    const size_t *full = imap_sortcache_order(s, cmd->sort, cmd->nsort);
    if (kept == total) {
        /* Every record (pos ascending and distinct, so pos[k] == k). */
        memcpy(order, full, total * sizeof *order);
        return order;
    }
    size_t *at = xmalloc(total * sizeof *at);          /* cache index -> kept index */
    for (size_t i = 0; i < total; i++) at[i] = SIZE_MAX;
    for (size_t k = 0; k < kept; k++) at[pos[k]] = k;
    size_t w = 0;
    for (size_t i = 0; i < total; i++)
        if (at[full[i]] != SIZE_MAX) order[w++] = at[full[i]];
    free(at);
    return order;
}

/* SORT (RFC 5256 4): "* SORT n n n" in the order of the criteria. */
void imap_cmd_sort(imap_session *s, imap_cmd *cmd)
{
    size_t kept, *pos;
    uint32_t *nums;
    if (msg_sort_records(s, cmd, &kept, &nums, &pos) != 0) {
        if (cmd->search_return & IMAP_SEARCH_RETURN_SAVE) uidset_free(&s->searchres);
        return;
    }
    size_t *order = msg_sort_order(s, cmd, kept, pos);
    if (cmd->esearch) {
        msg_write_esort(s, cmd, pos, nums, order, kept);
    } else {
        buf_puts(&s->out, "* SORT");
        for (size_t i = 0; i < kept; i++) {
            buf_putc(&s->out, ' ');
            buf_put_uint(&s->out, nums[order[i]]);
            if (s->out.len >= IMAP_OUT_FLUSH) imap_flush(s);
        }
        buf_puts(&s->out, "\r\n");
    }
    imap_set_reply(s, IMAP_REPLY_OK, NULL, "Sort completed.");
    free(order);
    free(nums);
    free(pos);
}

/* THREAD (RFC 5256 4): "* THREAD" [SP 1*thread-list]. */
void imap_cmd_thread(imap_session *s, imap_cmd *cmd)
{
    size_t kept, *pos;
    uint32_t *nums;
    buf lists = BUF_INIT;
    if (msg_sort_records(s, cmd, &kept, &nums, &pos) != 0) return;
    if (imap_thread(cmd->thread, imap_sortcache_thread_facts(s), pos, kept, nums, &lists) != 0) {
        imap_set_reply(s, IMAP_REPLY_NO, "LIMIT", "Too many messages to thread.");
        goto out;
    }
    buf_puts(&s->out, "* THREAD");
    if (lists.len) {
        buf_putc(&s->out, ' ');
        /* Written in pieces, so a huge answer never doubles in memory. */
        for (size_t off = 0; off < lists.len; ) {
            size_t k = lists.len - off < IMAP_OUT_FLUSH ? lists.len - off : IMAP_OUT_FLUSH;
            buf_append(&s->out, lists.p + off, k);
            off += k;
            if (s->out.len >= IMAP_OUT_FLUSH) imap_flush(s);
        }
    }
    buf_puts(&s->out, "\r\n");
    imap_set_reply(s, IMAP_REPLY_OK, NULL, "Thread completed.");
out:
    buf_free(&lists);
    free(nums);
    free(pos);
}

/* ---- COPY / MOVE ------------------------------------------------------------------------- */

void imap_cmd_copy(imap_session *s, imap_cmd *cmd)
{
    int move = cmd->kind == IMAP_CMD_MOVE;
    uidset uids = UIDSET_INIT;
    char *dest = NULL;
    store_copyuid cu;
    memset(&cu, 0, sizeof cu);
    if (move && msg_read_only(s)) return;
    if (msg_resolve(s, cmd, &uids) != 0) return;
    dest = imap_mailbox_arg(s, cmd->mailbox);
    if (!dest) goto out;
    if (uids.n == 0) {
        imap_set_reply(s, IMAP_REPLY_OK, NULL, move ? "No messages moved." : "No messages copied.");
        goto out;
    }
    /* RFC 9208 OVERQUOTA: refused once the address's files reach its quota
     * (a copy shares the stored body, so only "already full" is checked). */
    if (quota_check_session(s->srv->acc, s->auth, 0)) {
        imap_reply_store(s, STORE_OVERQUOTA, 0);
        goto out;
    }
    store_status st = store_copy(s->store, s->view.folder_id, &uids, dest, move, &cu);
    if (st != STORE_OK) {
        imap_reply_store(s, st, 1);
        goto out;
    }
    buf code = BUF_INIT;
    if (cu.n) {
        buf_printf(&code, "COPYUID %u ", cu.uidvalidity);
        msg_write_uid_list(&code, cu.src, cu.n);
        buf_putc(&code, ' ');
        msg_write_uid_list(&code, cu.dst, cu.n);
    }
    if (move) {
        /* RFC 6851 3.3: COPYUID in an untagged OK, then the EXPUNGEs, then OK. */
        if (cu.n) buf_printf(&s->out, "* OK [%s] Moved UIDs.\r\n", code.p);
        uidset moved = UIDSET_INIT;
        for (size_t i = 0; i < cu.n; i++) uidset_add(&moved, cu.src[i]);
        imap_view_expunge(&s->view, &moved, &s->out, imap_flush_cb, s);
        uidset_free(&moved);
        imap_set_reply(s, IMAP_REPLY_OK, NULL, "Move completed.");
    } else {
        imap_set_reply(s, IMAP_REPLY_OK, cu.n ? code.p : NULL, "Copy completed.");
    }
    buf_free(&code);
out:
    store_copyuid_clear(&cu);
    uidset_free(&uids);
    free(dest);
}

/* ---- EXPUNGE ---------------------------------------------------------------------------- */

void imap_cmd_expunge(imap_session *s, imap_cmd *cmd)
{
    uidset only = UIDSET_INIT, gone = UIDSET_INIT;
    if (msg_read_only(s)) return;
    if (cmd->uid) {
        /* UIDPLUS: only the given messages (that are \Deleted). */
        if (cmd->seq.last) msg_saved_uids(s, &only);
        else imap_view_resolve_uidset(&s->view, &cmd->seq, &only);
        if (only.n == 0) {
            imap_set_reply(s, IMAP_REPLY_OK, NULL, "Expunge completed.");
            goto out;
        }
    }
    store_status st = store_expunge(s->store, s->view.folder_id, cmd->uid ? &only : NULL, &gone);
    if (st != STORE_OK) {
        imap_reply_store(s, st, 0);
        goto out;
    }
    imap_view_expunge(&s->view, &gone, &s->out, imap_flush_cb, s);
    imap_set_reply(s, IMAP_REPLY_OK, NULL, "Expunge completed.");
out:
    uidset_free(&only);
    uidset_free(&gone);
}
