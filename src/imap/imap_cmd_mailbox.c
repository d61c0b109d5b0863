/*
 * imap_cmd_mailbox.c — commands on folders (RFC 3501 6.3, 6.4.2; UNSELECT RFC
 * 3691; UIDPLUS APPENDUID RFC 4315; CHILDREN RFC 3348; SPECIAL-USE RFC 6154;
 * APPENDLIMIT RFC 7889).
 *
 * SUMMARY
 *   SELECT EXAMINE CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE LIST LSUB STATUS
 *   APPEND CLOSE UNSELECT. Each sets the tagged reply and writes its untagged
 *   replies to the session's output.
 *
 * CHOICES
 *   - Names on the wire are modified UTF-7 (RFC 3501 5.1.3); the store gets the
 *     normalised UTF-8 name (mailbox_name_normalize: INBOX in any case is
 *     "INBOX"). Invalid names: NO [CANNOT]. CREATE and RENAME also refuse '*' and
 *     '%' in names, which LIST could not tell from wildcards.
 *   - CREATE "a/" creates "a" (the trailing delimiter only states the intent to
 *     hold children, which every folder here can).
 *   - DELETE of the selected folder is allowed; the session returns to the
 *     authenticated state without EXPUNGE replies.
 *   - RENAME of the selected folder (or a parent of it) keeps it selected under
 *     its new name.
 *   - SELECT while selected closes the previous folder without expunging
 *     (RFC 3501 6.3.1); a failed SELECT leaves no folder selected.
 *   - An empty APPEND message is refused (NO): no client means to store nothing.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/limits.h"
#include "util/log.h"
#include "store/store.h"
#include "mailbox/mailbox_name.h"
#include "delivery/quota.h"
#include "imap/imap_parse.h"
#include "imap/imap_server.h"
#include "imap/imap_session.h"

void imap_cmd_select(imap_session *s, imap_cmd *cmd)
{
    int examine = cmd->kind == IMAP_CMD_EXAMINE;
    if (s->state == IMAP_STATE_SELECTED) imap_session_unselect(s);
    char *name = imap_mailbox_arg(s, cmd->mailbox);
    if (!name) return;

    store_view sv;
    memset(&sv, 0, sizeof sv);
    store_status st = store_select(s->store, name, !examine, &sv);
    if (st != STORE_OK) {
        imap_reply_store(s, st, 0);
        store_view_clear(&sv);
        free(name);
        return;
    }
    imap_view_load(&s->view, &sv);
    store_view_clear(&sv);
    s->selected = name;
    s->readonly = examine;
    s->state = IMAP_STATE_SELECTED;
    imap_session_keywords(s);

    buf *o = &s->out;
    buf_puts(o, "* FLAGS ");
    imap_write_flag_list(o, &s->kw, 0);
    buf_puts(o, "\r\n* OK [PERMANENTFLAGS ");
    if (examine) buf_puts(o, "()");
    else imap_write_flag_list(o, &s->kw, s->kw.n < IMAP_KEYWORDS_MAX);
    buf_puts(o, "] Flags permitted.\r\n");
    buf_printf(o, "* %u EXISTS\r\n* %u RECENT\r\n", imap_view_exists(&s->view),
               imap_view_recent_count(&s->view));
    uint32_t unseen = imap_view_first_unseen(&s->view);
    if (unseen) buf_printf(o, "* OK [UNSEEN %u] First unseen.\r\n", unseen);
    buf_printf(o, "* OK [UIDVALIDITY %u] UIDs valid.\r\n", s->view.uidvalidity);
    buf_printf(o, "* OK [UIDNEXT %u] Predicted next UID.\r\n", s->view.uidnext);
    imap_set_reply(s, IMAP_REPLY_OK, examine ? "READ-ONLY" : "READ-WRITE",
                   examine ? "Examine completed." : "Select completed.");
}

static int mailbox_has_wildcard(const char *name)
{
    return strpbrk(name, "*%") != NULL;
}

void imap_cmd_create(imap_session *s, imap_cmd *cmd)
{
    char *wire = xstrdup(cmd->mailbox ? cmd->mailbox : "");
    size_t len = strlen(wire);
    if (len > 1 && wire[len - 1] == '/') wire[len - 1] = '\0';   /* RFC 3501 6.3.3 */
    char *name = imap_mailbox_arg(s, wire);
    free(wire);
    if (!name) return;
    if (mailbox_name_is_inbox(name)) {
        imap_set_reply(s, IMAP_REPLY_NO, "ALREADYEXISTS", "INBOX always exists.");
    } else if (mailbox_has_wildcard(name)) {
        imap_set_reply(s, IMAP_REPLY_NO, "CANNOT", "Mailbox names may not contain * or %.");
    } else {
        store_status st = store_folder_create(s->store, name, 0);
        if (st == STORE_OK) imap_set_reply(s, IMAP_REPLY_OK, NULL, "Create completed.");
        else imap_reply_store(s, st, 0);
    }
    free(name);
}

void imap_cmd_delete(imap_session *s, imap_cmd *cmd)
{
    char *name = imap_mailbox_arg(s, cmd->mailbox);
    if (!name) return;
    if (mailbox_name_is_inbox(name)) {
        imap_set_reply(s, IMAP_REPLY_NO, "CANNOT", "INBOX can't be deleted.");
        free(name);
        return;
    }
    store_status st = store_folder_delete(s->store, name);
    if (st == STORE_OK) {
        if (s->selected && strcmp(s->selected, name) == 0) imap_session_unselect(s);
        imap_set_reply(s, IMAP_REPLY_OK, NULL, "Delete completed.");
    } else {
        imap_reply_store(s, st, 0);
    }
    free(name);
}

void imap_cmd_rename(imap_session *s, imap_cmd *cmd)
{
    char *from = imap_mailbox_arg(s, cmd->mailbox);
    if (!from) return;
    char *to = imap_mailbox_arg(s, cmd->mailbox2);
    if (!to) {
        free(from);
        return;
    }
    if (mailbox_name_is_inbox(to)) {
        imap_set_reply(s, IMAP_REPLY_NO, "ALREADYEXISTS", "INBOX always exists.");
    } else if (mailbox_has_wildcard(to)) {
        imap_set_reply(s, IMAP_REPLY_NO, "CANNOT", "Mailbox names may not contain * or %.");
    } else {
        store_status st = store_folder_rename(s->store, from, to);
        if (st == STORE_OK) {
            /* The selected folder (or one of its parents) moved: follow it. Renaming
             * INBOX moves its messages, INBOX itself stays. */
            if (s->selected && !mailbox_name_is_inbox(from) && mailbox_name_is_within(s->selected, from)) {
                size_t fl = strlen(from);
                buf nn = BUF_INIT;
                buf_puts(&nn, to);
                buf_puts(&nn, s->selected + fl);
                free(s->selected);
                s->selected = buf_steal(&nn, NULL);
            }
            imap_set_reply(s, IMAP_REPLY_OK, NULL, "Rename completed.");
        } else {
            imap_reply_store(s, st, 0);
        }
    }
    free(from);
    free(to);
}

void imap_cmd_subscribe(imap_session *s, imap_cmd *cmd)
{
    int sub = cmd->kind == IMAP_CMD_SUBSCRIBE;
    char *name = imap_mailbox_arg(s, cmd->mailbox);
    if (!name) return;
    store_status st = store_subscribe(s->store, name, sub);
    if (st == STORE_OK)
        imap_set_reply(s, IMAP_REPLY_OK, NULL, sub ? "Subscribe completed." : "Unsubscribe completed.");
    else
        imap_reply_store(s, st, 0);
    free(name);
}

/* LIST / LSUB (RFC 3501 6.3.8, 6.3.9). The reference and the pattern are joined
 * (the reference names a level to start from); wildcards match UTF-8 names. */
void imap_cmd_list(imap_session *s, imap_cmd *cmd)
{
    int lsub = cmd->kind == IMAP_CMD_LSUB;
    const char *word = lsub ? "LSUB" : "LIST";
    buf ref = BUF_INIT, pat = BUF_INIT, canon = BUF_INIT;
    store_status st;
    char **names = NULL;
    unsigned *special = NULL;
    size_t n = 0;
    store_folder *folders = NULL;
    imap_list_entry *e = NULL;
    size_t ne = 0;

    if (imap_utf7_to_utf8(cmd->reference ? cmd->reference : "", &ref) != 0 ||
        imap_utf7_to_utf8(cmd->pattern ? cmd->pattern : "", &pat) != 0) {
        /* No folder has a name that is not valid modified UTF-7, so nothing
         * matches: an empty answer, as Dovecot gives (ImapTest "atoms"). */
        imap_set_reply(s, IMAP_REPLY_OK, NULL, lsub ? "Lsub completed." : "List completed.");
        goto out;
    }
    if (pat.len == 0) {
        /* LIST "" "": the delimiter and the root of the reference (RFC 3501 6.3.8). */
        if (!lsub) buf_puts(&s->out, "* LIST (\\Noselect) \"/\" \"\"\r\n");
        imap_set_reply(s, IMAP_REPLY_OK, NULL, lsub ? "Lsub completed." : "List completed.");
        goto out;
    }
    buf_append(&canon, ref.p ? ref.p : "", ref.len);
    buf_append(&canon, pat.p, pat.len);

    if (lsub) {
        st = store_subscriptions(s->store, &names, &n);
    } else {
        st = store_folder_list(s->store, &folders, &n);
        if (st == STORE_OK && n) {
            names = xmalloc(n * sizeof *names);
            special = xmalloc(n * sizeof *special);
            for (size_t i = 0; i < n; i++) {
                names[i] = folders[i].name;
                special[i] = folders[i].special_use;
            }
        }
    }
    if (st != STORE_OK) {
        imap_reply_store(s, st, 0);
        goto out;
    }
    ne = imap_list_select(buf_cstr(&canon), names, special, n, !lsub, &e);
    for (size_t i = 0; i < ne; i++) {
        buf_printf(&s->out, "* %s ", word);
        imap_list_write_attrs(&s->out, e[i].attrs);
        buf_puts(&s->out, " \"/\" ");
        imap_write_mailbox(&s->out, e[i].name);
        buf_puts(&s->out, "\r\n");
        if (s->out.len >= IMAP_OUT_FLUSH) imap_flush(s);
    }
    imap_set_reply(s, IMAP_REPLY_OK, NULL, lsub ? "Lsub completed." : "List completed.");
out:
    imap_list_entries_free(e, ne);
    if (lsub) {
        for (size_t i = 0; i < n; i++) free(names[i]);
        free(names);
    } else {
        free(names);                       /* borrowed from folders */
        store_folders_free(folders, n);
    }
    free(special);
    buf_free(&canon);
    buf_free(&ref);
    buf_free(&pat);
}

void imap_cmd_status(imap_session *s, imap_cmd *cmd)
{
    char *name = imap_mailbox_arg(s, cmd->mailbox);
    if (!name) return;
    store_folder f;
    memset(&f, 0, sizeof f);
    store_status st = store_folder_status(s->store, name, &f);
    if (st != STORE_OK) {
        imap_reply_store(s, st, 0);
        free(name);
        return;
    }
    buf *o = &s->out;
    unsigned items = cmd->status_items;
    buf_puts(o, "* STATUS ");
    imap_write_mailbox(o, name);
    buf_puts(o, " (");
    const char *sep = "";
    if (items & IMAP_STATUS_MESSAGES) { buf_printf(o, "%sMESSAGES %u", sep, f.messages); sep = " "; }
    if (items & IMAP_STATUS_RECENT) { buf_printf(o, "%sRECENT %u", sep, f.recent); sep = " "; }
    if (items & IMAP_STATUS_UIDNEXT) { buf_printf(o, "%sUIDNEXT %u", sep, f.uidnext); sep = " "; }
    if (items & IMAP_STATUS_UIDVALIDITY) { buf_printf(o, "%sUIDVALIDITY %u", sep, f.uidvalidity); sep = " "; }
    if (items & IMAP_STATUS_UNSEEN) { buf_printf(o, "%sUNSEEN %u", sep, f.unseen); sep = " "; }
    if (items & IMAP_STATUS_HIGHESTMODSEQ) {
        buf_printf(o, "%sHIGHESTMODSEQ %llu", sep, (unsigned long long)f.highestmodseq);
        sep = " ";
    }
    if (items & IMAP_STATUS_SIZE) { buf_printf(o, "%sSIZE %llu", sep, (unsigned long long)f.size); sep = " "; }
#ifdef IMAP_STATUS_APPENDLIMIT
    /* RFC 7889 4: the per-mailbox limit, the same for every folder here. */
    if (items & IMAP_STATUS_APPENDLIMIT) { buf_printf(o, "%sAPPENDLIMIT %u", sep, (unsigned)IMAP_APPEND_MAX); sep = " "; }
#endif
    buf_puts(o, ")\r\n");
    store_folder_clear(&f);
    free(name);
    imap_set_reply(s, IMAP_REPLY_OK, NULL, "Status completed.");
}

void imap_cmd_append(imap_session *s, imap_cmd *cmd)
{
    char *name = imap_mailbox_arg(s, cmd->mailbox);
    if (!name) return;
    if (cmd->message_len == 0 || !cmd->message) {
        imap_set_reply(s, IMAP_REPLY_NO, "CANNOT", "Can't save an empty message.");
        free(name);
        return;
    }
    if (cmd->message_len > IMAP_APPEND_MAX) {
        imap_set_reply(s, IMAP_REPLY_NO, "TOOBIG", "Message too large.");
        free(name);
        return;
    }
    /* RFC 9208 OVERQUOTA: the address's quota (directory) against its files. */
    if (quota_check_session(s->srv->acc, s->auth, cmd->message_len)) {
        imap_reply_store(s, STORE_OVERQUOTA, 0);
        free(name);
        return;
    }
    /* RFC 3501 6.3.11: without a date-time the internal date is now; zone UTC. */
    int64_t date = cmd->has_date ? cmd->date : (int64_t)time(NULL);
    int tz = cmd->has_date ? cmd->date_tz : 0;
    uint32_t uidvalidity = 0, uid = 0;
    store_status st = store_append(s->store, name, cmd->flags & MSG_FLAG_ALL,
                                   (const char *const *)cmd->keywords, cmd->nkeywords, date, tz,
                                   cmd->message, cmd->message_len, &uidvalidity, &uid);
    if (st != STORE_OK) {
        imap_reply_store(s, st, 1);
    } else {
        imap_set_replyf(s, IMAP_REPLY_OK, "Append completed.", "APPENDUID %u %u", uidvalidity, uid);
    }
    free(name);
}

void imap_cmd_close(imap_session *s, imap_cmd *cmd)
{
    /* RFC 3501 6.4.2: expunge silently (no EXPUNGE replies), then unselect. CLOSE
     * has no NO reply: a failed expunge is logged, the folder is closed anyway. */
    if (!s->readonly) {
        uidset gone = UIDSET_INIT;
        store_status st = store_expunge(s->store, s->view.folder_id, NULL, &gone);
        if (st != STORE_OK)
            log_warn("imap", "conn %llu: CLOSE expunge failed: %s", s->id, store_strerror(st));
        uidset_free(&gone);
    }
    imap_session_unselect(s);
    imap_set_reply(s, IMAP_REPLY_OK, NULL, "Close completed.");
}

void imap_cmd_unselect(imap_session *s, imap_cmd *cmd)
{
    imap_session_unselect(s);
    imap_set_reply(s, IMAP_REPLY_OK, NULL, "Unselect completed.");
}
