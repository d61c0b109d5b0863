/*
 * imap_cmd_message.c — commands on the messages of the selected folder
 * (RFC 3501 6.4; UIDPLUS RFC 4315; MOVE RFC 6851).
 *
 * SUMMARY
 *   FETCH STORE SEARCH COPY MOVE EXPUNGE, each also as UID command.
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
 *   - SEARCH CHARSET: UTF-8 and US-ASCII only, else NO [BADCHARSET].
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
#include "imap/imap_parse.h"
#include "imap/imap_session.h"

/* The uids named by the command's set; -1 after setting BAD. */
static int msg_resolve(imap_session *s, const imap_cmd *cmd, uidset *uids)
{
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
    if (msg_resolve(s, cmd, &uids) != 0) goto out;

    unsigned what = imap_fetch_needs(cmd->atts, cmd->natts);
    int shows_flags = msg_atts_have(cmd, IMAP_FETCH_FLAGS);

    /* Implicit \Seen, stored once for the set before any reply. */
    if (!s->readonly && imap_fetch_sets_seen(cmd->atts, cmd->natts)) {
        uidset unseen = UIDSET_INIT;
        for (size_t i = 0; i < uids.n; i++)
            for (uint64_t u = uids.r[i].lo; u <= uids.r[i].hi; u++) {
                uint32_t seq = imap_view_seq(&s->view, (uint32_t)u);
                store_msgflags *m = imap_view_msg(&s->view, seq);
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
                store_msgflags f = { uid, msg.flags, msg.keywords, msg.modseq };
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
                store_msgflags *m = imap_view_msg(&s->view, seq);
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

/* ---- SEARCH ------------------------------------------------------------------------------ */

/* Sequence numbers, '*' and \Recent only mean something in this session: turn
 * them into uid sets before the program goes to the store. */
static void msg_search_rewrite(imap_session *s, search_node *n)
{
    if (!n) return;
    switch (n->op) {
    case SEARCH_SEQSET:
        imap_view_resolve_search_set(&s->view, &n->set, 0);
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

void imap_cmd_search(imap_session *s, imap_cmd *cmd)
{
    if (cmd->charset && strcmp(cmd->charset, "UTF-8") != 0 && strcmp(cmd->charset, "US-ASCII") != 0) {
        imap_set_reply(s, IMAP_REPLY_NO, "BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset.");
        return;
    }
    msg_search_rewrite(s, cmd->search);
    uidset res = UIDSET_INIT;
    store_status st = store_search(s->store, s->view.folder_id, cmd->search, &res);
    if (st != STORE_OK) {
        imap_reply_store(s, st, 0);
        uidset_free(&res);
        return;
    }
    /* Only messages the client knows, in sequence order. */
    buf_puts(&s->out, "* SEARCH");
    uint32_t n = imap_view_exists(&s->view);
    for (uint32_t seq = 1; seq <= n && res.n; seq++) {
        store_msgflags *m = imap_view_msg(&s->view, seq);
        if (!uidset_contains(&res, m->uid)) continue;
        buf_printf(&s->out, " %u", cmd->uid ? m->uid : seq);
        if (s->out.len >= IMAP_OUT_FLUSH) imap_flush(s);
    }
    buf_puts(&s->out, "\r\n");
    uidset_free(&res);
    imap_set_reply(s, IMAP_REPLY_OK, NULL, "Search completed.");
}

/* ---- COPY / MOVE ------------------------------------------------------------------------- */

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
        imap_view_resolve_uidset(&s->view, &cmd->seq, &only);
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
