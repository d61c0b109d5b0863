/*
 * imap_session.h — private to src/imap/: one IMAP4rev1 session and the pieces
 * it is split into.
 *
 * SUMMARY
 *   imap_session.c      events from net/conn.h, framing loop, state machine,
 *                       dispatch, replies, untagged updates, IDLE, small commands
 *   imap_cmd_auth.c     LOGIN, AUTHENTICATE PLAIN (SASL-IR), opening the mailbox
 *   imap_cmd_mailbox.c  SELECT EXAMINE CREATE DELETE RENAME (UN)SUBSCRIBE LIST
 *                       LSUB STATUS APPEND CLOSE UNSELECT
 *   imap_cmd_message.c  FETCH STORE SEARCH (ESEARCH, SEARCHRES) SORT THREAD COPY
 *                       MOVE EXPUNGE and their UID forms
 *   imap_sort.c         base subject and SORT order (pure, imap_sort.h)
 *   imap_thread.c       THREAD ORDEREDSUBJECT / REFERENCES (pure, imap_sort.h)
 *   imap_fetch.c        one message's FETCH response
 *   imap_list.c         LIST/LSUB wildcards and the entries a pattern selects (pure)
 *   imap_view.c         the selected folder as the client knows it: seq <-> uid,
 *                       flags, \Recent, untagged EXPUNGE/EXISTS/RECENT/FETCH (pure)
 *   imap_sortcache.c    the sort facts of the view's messages and the SORT orders
 *                       computed from them, kept while the view's messages stay
 *
 * The pure parts (imap_list_*, imap_view_*) depend on no connection, store handle
 * or account, so unit tests drive them with plain data.
 */
#ifndef SEALBOX_IMAP_SESSION_H
#define SEALBOX_IMAP_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/uidset.h"
#include "net/conn.h"
#include "store/store.h"
#include "imap/imap_parse.h"

struct imap_server;
struct account_auth;

/* ==== The selected folder (imap_view.c) ========================================= */

/*
 * The view is the folder as this client has been told about it: message i
 * (0-based) has sequence number i + 1. It changes only when the session tells the
 * client (EXPUNGE, EXISTS, FETCH), so sequence numbers in a command always refer
 * to what the client saw before that command's own untagged updates.
 *
 * Invariants: msgs ascending by uid; flags[i] == msgs[i].flags for i < n (the
 * view's functions change both, nothing else changes either); `recent` and
 * `expunge_pending` are subsets of
 * the uids in msgs; highestmodseq is the modseq up to which store changes have
 * been taken in (expunges that could not be announced yet wait in
 * expunge_pending, RFC 3501 7.4.1).
 */
typedef struct imap_view {
    int64_t folder_id;
    uint32_t uidvalidity;
    uint32_t uidnext;
    uint64_t highestmodseq;
    store_msgflags *msgs;
    uint8_t *flags;              /* flags[i] == msgs[i].flags (MSG_FLAG_*, 5 bits), packed:
                                    a flag search reads a byte a message, not a
                                    56-byte record (UNSEEN at 100,000 messages) */
    size_t n, cap;
    uidset recent;               /* \Recent for this session (RFC 3501 2.3.2) */
    uidset expunge_pending;      /* expunged meanwhile, EXPUNGE not yet sent */
    uint64_t gen;                /* new whenever messages come or go (a process-wide
                                    counter: two states never share one) */
} imap_view;

/* Keyword names of the mailbox file: names[i] is bit i of a keyword mask. */
typedef struct imap_keywords {
    char **names;
    size_t n;
} imap_keywords;

/* Called by the view's writers when `out` has grown past IMAP_OUT_FLUSH: the
 * session writes it to the connection and resets it. NULL: keep buffering. */
typedef void (*imap_flush_fn)(void *arg, buf *out);

/* Output is written to the peer in pieces of about this size, so a long list of
 * untagged replies never sits whole in memory. */
#define IMAP_OUT_FLUSH (64 * 1024)

void imap_view_init(imap_view *v);
void imap_view_free(imap_view *v);
/* Takes over sv->msgs (sv is left empty). Messages with uid >= sv->first_recent_uid
 * are \Recent when first_recent_uid is not 0. */
void imap_view_load(imap_view *v, store_view *sv);

uint32_t imap_view_exists(const imap_view *v);
uint32_t imap_view_max_uid(const imap_view *v);
/* Sequence number of `uid`, 0 when it is not in the view. */
uint32_t imap_view_seq(const imap_view *v, uint32_t uid);
/* The message with sequence number `seq` (1-based), NULL when out of range.
 * Read-only: its flags change through the view's functions, which keep the
 * packed copy in step. */
const store_msgflags *imap_view_msg(const imap_view *v, uint32_t seq);
uint32_t imap_view_recent_count(const imap_view *v);
int imap_view_is_recent(const imap_view *v, uint32_t uid);
/* Sequence number of the first message without \Seen, 0 when none. */
uint32_t imap_view_first_unseen(const imap_view *v);

/*
 * A sequence set as written (imap_seqset) to the uids it names.
 * Sequence numbers: '*' is the highest sequence number; a range that contains '*'
 * is clipped to the messages that exist (so "1:*" on an empty folder names
 * nothing); a number above EXISTS without '*' makes the set invalid: returns -1
 * (the caller answers BAD). UIDs: '*' is the highest uid; uids not in the view
 * are left out (RFC 3501 6.4.8); never fails.
 */
int imap_view_resolve_seqset(const imap_view *v, const imap_seqset *set, uidset *uids);
void imap_view_resolve_uidset(const imap_view *v, const imap_seqset *set, uidset *uids);
/* SEARCH keys: `set` holds sequence numbers (or uids when `is_uid`) with
 * UINT32_MAX standing for '*'; replaced by the uids in the view it names. */
void imap_view_resolve_search_set(const imap_view *v, uidset *set, int is_uid);

/* "(\Seen \Flagged $Forwarded \Recent)" */
void imap_write_flags(buf *out, uint32_t flags, uint64_t keywords, int recent,
                      const imap_keywords *kw);
/* The flags the client may set: system flags and known keywords, and "\*"
 * when `new_keywords` (PERMANENTFLAGS). Without the parentheses' contents'
 * "\*" for FLAGS. */
void imap_write_flag_list(buf *out, const imap_keywords *kw, int with_star);

/* Sets the flags of `m->uid` when it is in the view (after the session's own
 * STORE or implicit \Seen), so that the change is not reported twice. */
void imap_view_set_flags(imap_view *v, const store_msgflags *m);

/*
 * Takes in what store_changes_since() reported and writes the untagged replies:
 *   - "* n EXPUNGE" for every expunged message in the view (when allow_expunge;
 *     otherwise they wait in expunge_pending and keep their sequence numbers),
 *     highest sequence number first, so that each number is valid when sent;
 *   - "* n EXISTS" and "* n RECENT" when messages were added;
 *   - "* n FETCH (FLAGS (...))" (with "UID u" first when with_uid) for messages
 *     whose flags differ from what the client was told.
 * Returns the number of replies written.
 */
size_t imap_view_apply(imap_view *v, const store_changes *ch, int allow_expunge, int with_uid,
                       const imap_keywords *kw, buf *out, imap_flush_fn flush, void *arg);

/* The session's own EXPUNGE / MOVE: "* n EXPUNGE" for each uid of `uids` in the
 * view (highest first), which leaves the view. Returns how many. */
size_t imap_view_expunge(imap_view *v, const uidset *uids, buf *out,
                         imap_flush_fn flush, void *arg);

/* ==== LIST / LSUB (imap_list.c) ================================================ */

/* 1 when `name` matches the LIST pattern (RFC 3501 6.3.8): '*' matches any run of
 * characters, '%' any run without the hierarchy delimiter '/'. Both strings are
 * UTF-8. The first level of a name "INBOX"/"INBOX/..." matches case-insensitively
 * (RFC 3501 5.1: INBOX is case-insensitive). */
int imap_list_match(const char *pattern, const char *name);

#define IMAP_LIST_NOSELECT       0x0001u
#define IMAP_LIST_HASCHILDREN    0x0002u
#define IMAP_LIST_HASNOCHILDREN  0x0004u
/* SPECIAL-USE (RFC 6154): STORE_SPECIAL_* shifted by IMAP_LIST_SPECIAL_SHIFT. */
#define IMAP_LIST_SPECIAL_SHIFT  8

typedef struct imap_list_entry {
    char *name;                  /* UTF-8 */
    unsigned attrs;
} imap_list_entry;

/*
 * The LIST (children = 1) or LSUB (children = 0) result for `pattern` over
 * `names` (special: parallel SPECIAL-USE bits, or NULL): every name that matches,
 * with \HasChildren/\HasNoChildren (LIST only) and its special-use; plus every
 * level of hierarchy above a name that is not itself in `names` and matches
 * (LIST: always, RFC 3501 6.3.4/6.3.8; LSUB: only when the name below it does not
 * match, 6.3.9): these carry \Noselect. Sorted by name (bytes), no duplicates.
 * Returns the number of entries in *out (free with imap_list_entries_free).
 */
size_t imap_list_select(const char *pattern, char *const *names, const unsigned *special,
                        size_t n, int children, imap_list_entry **out);
void imap_list_entries_free(imap_list_entry *e, size_t n);
/* "(\HasNoChildren \Sent)" */
void imap_list_write_attrs(buf *out, unsigned attrs);

/* ==== The session (imap_session.c) =============================================== */

typedef enum imap_state {
    IMAP_STATE_NOTAUTH = 0,
    IMAP_STATE_AUTH,
    IMAP_STATE_SELECTED,
    IMAP_STATE_LOGOUT,
} imap_state;

/* What input the session waits for other than a command. */
typedef enum imap_wait {
    IMAP_WAIT_COMMAND = 0,
    IMAP_WAIT_SASL,              /* an AUTHENTICATE response line (RFC 3501 6.2.2) */
    IMAP_WAIT_DONE,              /* IDLE's "DONE" (RFC 2177) */
} imap_wait;

typedef enum imap_status { IMAP_REPLY_NONE = 0, IMAP_REPLY_OK, IMAP_REPLY_NO, IMAP_REPLY_BAD } imap_status;

/* ==== SORT and THREAD facts (imap_sortcache.c) ================================== */

/* A message's sort facts never change (messages are immutable, a restore ends
 * the session), so those of the view's messages are read from the file once
 * and kept until the view gains or loses a message (view.gen), the session
 * leaves the folder or parks its store (IDLE). So is the full-view order under
 * the last criteria a SORT asked for: the order of a subset is that order
 * restricted to it (ties go by sequence order either way). */
typedef struct imap_sortcache {
    uint64_t view_gen;           /* view.gen of recs; meaningful when recs != NULL */
    unsigned what;               /* STORE_SORT_* facts recs hold */
    store_sortrec *recs;         /* the view's messages the file has, ascending uid */
    size_t n;
    imap_sort_crit *crit;        /* the criteria of `order` (NULL: none yet) */
    size_t ncrit;
    size_t *order;               /* indexes into recs in SORT order under crit */
    struct imap_thread_facts *thread;   /* recs' threading facts (NULL: none yet) */
} imap_sortcache;

typedef struct imap_session {
    conn *c;
    struct imap_server *srv;
    imap_state state;
    unsigned long long id;       /* conn_id, for logs */

    imap_reader reader;
    buf in;                      /* bytes read from the connection, not yet consumed */
    size_t in_off;
    buf out;                     /* replies being built */
    int out_failed;              /* the connection is closing: stop producing */

    /* Waiting for a line that is not a command. */
    imap_wait wait;
    char *wait_tag;

    /* The tagged reply of the command running now. */
    imap_status reply;
    buf reply_code;              /* without brackets; "" for none */
    const char *reply_text;

    /* A tagged reply held back (a failed login answers after AUTH_FAIL_DELAY_MS):
     * set reply_delay_ms before the reply; until the timer's NOTIFY the session
     * reads no further command and holds no worker. */
    unsigned reply_delay_ms;
    int paused;
    uint64_t paused_until_us;
    buf paused_reply;

    unsigned bad_in_row;         /* IMAP_BAD_COMMANDS_MAX */
    double tokens;               /* command rate limit: IMAP_CMD_RATE / IMAP_CMD_BURST */
    uint64_t tokens_at_us;

    /* Authenticated. */
    struct account_auth *auth;
    store_mailbox *store;        /* NULL while parked (IDLE) */
    int store_parked;            /* closed while waiting (IDLE, not selected); reopened by session_store_unpark */
    int trim_due;                /* let go of much memory: give it back (session_trim) */
    store_watch *watch;          /* holds a conn_ref while it exists */
    uint64_t store_generation;   /* store_generation() when first seen; 0 = not yet (imap_cmd_backup.c) */
    imap_keywords kw;

    /* Selected. */
    imap_view view;
    char *selected;              /* normalised UTF-8 name */
    int readonly;                /* EXAMINE */
    uidset searchres;            /* "$": uids saved by SEARCH RETURN (SAVE) (RFC 5182);
                                    emptied by SELECT/EXAMINE/CLOSE/UNSELECT and by a
                                    failed SEARCH that asked to SAVE */
    imap_sortcache sortcache;
} imap_session;

/* Forgets what the cache holds (leaving the folder, parking). */
void imap_sortcache_clear(imap_sortcache *c);
/* Makes s->sortcache hold the facts `what` (STORE_SORT_*) of every message of
 * the view the file still has, reading them when the view changed or facts are
 * missing. STORE_OK or the store's failure (the cache is then empty). */
store_status imap_sortcache_load(imap_session *s, unsigned what);
/* The order of s->sortcache.recs under the criteria, computed at most once per
 * view and criteria. imap_sortcache_load first, with the facts they need. */
const size_t *imap_sortcache_order(imap_session *s, const imap_sort_crit *crit, size_t ncrit);
/* The threading facts of s->sortcache.recs (imap_sort.h), computed at most
 * once per view. imap_sortcache_load first, with STORE_SORT_SUBJECT and
 * STORE_SORT_THREADING. */
const struct imap_thread_facts *imap_sortcache_thread_facts(imap_session *s);

/* Replies. */
void imap_flush(imap_session *s);
void imap_flush_cb(void *arg, buf *out);
void imap_set_reply(imap_session *s, imap_status st, const char *code, const char *text);
/* Same, the response code formatted. */
void imap_set_replyf(imap_session *s, imap_status st, const char *text, const char *codefmt, ...)
    __attribute__((format(printf, 4, 5)));
/* NO with the response code and text for a store failure. `trycreate`: a missing
 * folder is the destination of APPEND/COPY/MOVE (RFC 3501 [TRYCREATE]). */
void imap_reply_store(imap_session *s, store_status st, int trycreate);
void imap_write_capability(imap_session *s, buf *out);

/* Untagged updates of the selected folder after a command (see imap_view_apply). */
void imap_session_updates(imap_session *s, int allow_expunge, int with_uid);
/* Reloads the keyword names; returns 1 when they changed. */
int imap_session_keywords(imap_session *s);
void imap_session_unselect(imap_session *s);

/* A client's mailbox name (modified UTF-7, RFC 3501 5.1.3) to the store's
 * normalised UTF-8 form. Returns a malloc'ed name, or NULL after setting a NO. */
char *imap_mailbox_arg(imap_session *s, const char *wire);
/* Appends the UTF-8 `name` as modified UTF-7 in IMAP string form. */
void imap_write_mailbox(buf *out, const char *name);

/* Commands. Each sets the tagged reply (imap_set_reply) and writes its untagged
 * replies to s->out. */
void imap_cmd_login(imap_session *s, imap_cmd *cmd);
void imap_cmd_authenticate(imap_session *s, imap_cmd *cmd);
void imap_auth_sasl_line(imap_session *s, char *line, size_t len);
void imap_auth_free(imap_session *s);

void imap_cmd_select(imap_session *s, imap_cmd *cmd);
void imap_cmd_create(imap_session *s, imap_cmd *cmd);
void imap_cmd_delete(imap_session *s, imap_cmd *cmd);
void imap_cmd_rename(imap_session *s, imap_cmd *cmd);
void imap_cmd_subscribe(imap_session *s, imap_cmd *cmd);
void imap_cmd_list(imap_session *s, imap_cmd *cmd);
void imap_cmd_status(imap_session *s, imap_cmd *cmd);
void imap_cmd_append(imap_session *s, imap_cmd *cmd);
void imap_cmd_close(imap_session *s, imap_cmd *cmd);
void imap_cmd_unselect(imap_session *s, imap_cmd *cmd);

void imap_cmd_fetch(imap_session *s, imap_cmd *cmd);
void imap_cmd_store(imap_session *s, imap_cmd *cmd);
void imap_cmd_search(imap_session *s, imap_cmd *cmd);
void imap_cmd_sort(imap_session *s, imap_cmd *cmd);
void imap_cmd_thread(imap_session *s, imap_cmd *cmd);
void imap_cmd_copy(imap_session *s, imap_cmd *cmd);
void imap_cmd_expunge(imap_session *s, imap_cmd *cmd);

/* Backups (imap_cmd_backup.c): 1 when a restore replaced the mailbox since the
 * session first looked (then it must say BYE). */
int imap_backup_replaced(imap_session *s);
/* XBACKUP: the backup pipeline now; tagged OK "[X-BACKUP unchanged|VERSION] ...". */
void imap_cmd_xbackup(imap_session *s, imap_cmd *cmd);

/* ==== FETCH (imap_fetch.c) ======================================================== */

/* What store_fetch() must fill for these items (STORE_FETCH_*). */
unsigned imap_fetch_needs(const imap_fetch_att *atts, size_t natts);
/* 1 when an item sets \Seen (BODY[...] without PEEK, RFC822, RFC822.TEXT). */
int imap_fetch_sets_seen(const imap_fetch_att *atts, size_t natts);

/*
 * The bytes of a body item: BODY[section]<partial>, RFC822, RFC822.HEADER,
 * RFC822.TEXT, from msg->raw and msg->sections. Returns 1 and points *data and *len
 * into msg->raw or `tmp`; 0 when the section does not exist (answered NIL, as
 * Dovecot and Gmail do); a partial past the end gives length 0 ("").
 */
int imap_fetch_body_data(const store_msg *msg, const imap_fetch_att *att, buf *tmp,
                         const char **data, size_t *len);

/*
 * Writes "* seq FETCH (...)\r\n" for one message: the items in the order asked,
 * "UID n" first when `with_uid` and UID was not asked, "FLAGS (...)" last when
 * `add_flags` and FLAGS was not asked. Body data goes out as literals; large
 * ones are written straight from msg->raw. Returns 0, or -1 when the connection
 * is closing.
 */
int imap_fetch_write(imap_session *s, uint32_t seq, const store_msg *msg,
                     const imap_fetch_att *atts, size_t natts, int with_uid, int add_flags);

#endif
