/*
 * store.h — the one storage interface of Sealbox (the "service" layer of DESIGN.md).
 *
 * SUMMARY
 *   Everything a protocol does to a mailbox goes through these calls: open with a
 *   key, folders, append, fetch, flags, expunge, copy/move, search, subscriptions,
 *   and a change watch for IDLE. store_local.c implements them on the encrypted
 *   SQLite mailbox files (mailbox/); a later store_remote.c will serialise the very
 *   same calls over the cluster link. So every call is plain data in, plain data
 *   out: no SQLite types, no pointers into rows, no callbacks into protocol code
 *   except the change watch.
 *
 * PROMISES
 *   - A call that returns STORE_OK for a change (append, flags, expunge, copy,
 *     move, folder operations) has committed it durably (fsynced) first.
 *   - UIDs are strictly ascending per folder and never reused under one
 *     UIDVALIDITY; every change gets a modseq greater than all before it in the
 *     mailbox file, and expunges leave a tombstone with their modseq, so
 *     store_changes() can tell a session exactly what happened since it last
 *     looked.
 *   - Folder names are UTF-8 with '/' as the hierarchy delimiter; "INBOX" is
 *     matched case-insensitively and always stored as "INBOX".
 *   - A store_mailbox handle is used by one thread at a time (a session runs one
 *     command at a time); several handles on one mailbox may live in one process.
 *
 * DIAGNOSTICS
 *   Every call returns a store_status; STORE_ERROR means an internal failure,
 *   already logged (by mailbox id, never by address). store_strerror() gives text
 *   fit for a client.
 */
#ifndef SEALBOX_STORE_H
#define SEALBOX_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/uidset.h"
#include "search/search.h"
#include "mailbox/msgflags.h"

#define STORE_KEY_LEN 32            /* the mailbox data key: 256 random bits */
#define STORE_MAILBOX_ID_LEN 32     /* hex characters of a mailbox id */

typedef enum store_status {
    STORE_OK = 0,
    STORE_NOTFOUND,     /* no such folder / message / mailbox file */
    STORE_EXISTS,       /* folder already exists */
    STORE_INVALID,      /* bad folder name or argument */
    STORE_NOPERM,       /* not allowed (delete INBOX, rename to own child, ...) */
    STORE_HASCHILDREN,  /* (unused by store_local: reserved for a backend that refuses) */
    STORE_LIMIT,        /* a limit of util/limits.h was hit */
    STORE_TOOBIG,       /* message over the append limit */
    STORE_OVERQUOTA,
    STORE_BADKEY,       /* the key does not open this mailbox file */
    STORE_GONE,         /* the selected folder was deleted or renamed away meanwhile */
    STORE_ERROR,        /* internal failure, logged */
} store_status;

const char *store_strerror(store_status st);

/* SPECIAL-USE attributes (RFC 6154) of a folder. */
#define STORE_SPECIAL_DRAFTS   0x01u
#define STORE_SPECIAL_SENT     0x02u
#define STORE_SPECIAL_ARCHIVE  0x04u
#define STORE_SPECIAL_JUNK     0x08u
#define STORE_SPECIAL_TRASH    0x10u
#define STORE_SPECIAL_ALL      0x20u
#define STORE_SPECIAL_FLAGGED  0x40u

typedef struct store_mailbox store_mailbox;

/* --- Mailbox files ---------------------------------------------------------- */

/* Creates DATADIR/mailboxes/<id>.db encrypted with `key`, with the schema, the
 * default folders (INBOX, Drafts, Sent, Archive, Junk, Trash with their
 * SPECIAL-USE) and the alias's sealing secret key stored inside. */
store_status store_create(const char *datadir, const char *mailbox_id,
                          const unsigned char key[STORE_KEY_LEN],
                          const unsigned char seal_secret[32]);
/* The page cache of every mailbox opened from now on, in MiB (config
 * mailbox_cache_mb; clamped to MAILBOX_CACHE_MB_MIN..MAX). Call before threads
 * open mailboxes. */
void store_set_cache_mb(int mb);

/* Opens an existing mailbox file; STORE_BADKEY when the key is wrong. Runs
 * pending schema migrations. */
store_status store_open(const char *datadir, const char *mailbox_id,
                        const unsigned char key[STORE_KEY_LEN], store_mailbox **out);
void store_close(store_mailbox *m);
/* Overwrites and removes the mailbox file and its -wal/-shm. */
store_status store_destroy(const char *datadir, const char *mailbox_id);
const char *store_mailbox_id(const store_mailbox *m);
store_status store_seal_secret(store_mailbox *m, unsigned char secret[32]);
/* PRAGMA integrity_check over the whole file: appends its lines ("ok" alone when
 * the file is sound) to `report`. STORE_OK means the check ran, not that it said ok. */
store_status store_check(store_mailbox *m, buf *report);

/* Rebuilds the search and sort indexes of every message from the stored bytes
 * (`sealbox doctor`), in one write transaction. Never needed for correctness:
 * indexes are maintained with every change; this repairs a damaged one. */
store_status store_reindex(store_mailbox *m);

/* --- Folders ------------------------------------------------------------------ */

typedef struct store_folder {
    int64_t id;
    char *name;               /* UTF-8, '/'-delimited */
    unsigned special_use;     /* STORE_SPECIAL_* */
    uint32_t uidvalidity;
    uint32_t uidnext;
    uint64_t highestmodseq;
    uint32_t messages;        /* filled by store_folder_status only */
    uint32_t unseen;
    uint32_t recent;
    uint64_t size;            /* sum of RFC822.SIZE */
} store_folder;

/* Every folder, sorted by name (counts not filled). */
store_status store_folder_list(store_mailbox *m, store_folder **out, size_t *n);
void store_folders_free(store_folder *f, size_t n);
store_status store_folder_status(store_mailbox *m, const char *name, store_folder *out);
void store_folder_clear(store_folder *f);
/* Creates a folder (and missing parents); special_use may be 0. */
store_status store_folder_create(store_mailbox *m, const char *name, unsigned special_use);
/* Deletes a folder and its messages; STORE_NOPERM for INBOX. Its children stay
 * (RFC 3501 6.3.4): the name lives on only as their parent, without messages. */
store_status store_folder_delete(store_mailbox *m, const char *name);
/* Renames a folder and every folder below it. Renaming INBOX moves its messages
 * to the new folder and leaves INBOX empty (RFC 3501 6.3.5). */
store_status store_folder_rename(store_mailbox *m, const char *from, const char *to);

/* Subscriptions are names, independent of folders existing (RFC 3501 6.3.6). */
store_status store_subscribe(store_mailbox *m, const char *name, int subscribe);
store_status store_subscriptions(store_mailbox *m, char ***names, size_t *n);

/* Keyword names known to this mailbox file; keywords[i] is bit i of a message's
 * keyword mask. The array is owned by the caller (free each, then the array). */
store_status store_keywords(store_mailbox *m, char ***names, size_t *n);

/* --- The selected folder -------------------------------------------------------- */

typedef struct store_msgflags {
    uint32_t uid;
    uint32_t flags;           /* MSG_FLAG_* */
    uint64_t keywords;        /* bit i = store_keywords()[i] */
    uint64_t modseq;
    /* What never changes and SEARCH asks for without the text (dates, size):
     * set by store_select and store_changes_since, zero where other calls
     * return these records. */
    int64_t internaldate;     /* UTC seconds */
    int64_t sentdate;         /* the Date: header, UTC seconds, when has_sentdate */
    uint64_t size;            /* RFC822.SIZE */
    int16_t internaldate_tz;  /* minutes east of UTC */
    int16_t sentdate_tz;
    uint8_t has_sentdate;
} store_msgflags;

typedef struct store_view {
    int64_t folder_id;
    uint32_t uidvalidity;
    uint32_t uidnext;
    uint64_t highestmodseq;
    uint32_t first_recent_uid;    /* messages with uid >= this are \Recent for the caller */
    store_msgflags *msgs;         /* every message, ascending uid */
    size_t nmsgs;
} store_view;

/* SELECT/EXAMINE: a snapshot of the folder. With claim_recent (SELECT, not
 * EXAMINE) the caller becomes the one session that sees the currently recent
 * messages as \Recent (RFC 3501 2.3.2): the folder's recent mark moves to uidnext
 * in the same transaction. */
store_status store_select(store_mailbox *m, const char *name, int claim_recent, store_view *out);
void store_view_clear(store_view *v);

typedef struct store_changes {
    uint64_t highestmodseq;       /* the folder's modseq now */
    uint32_t uidnext;
    uint32_t first_recent_uid;    /* with claim_recent: new messages >= this are \Recent for the caller; else 0 */
    uidset expunged;              /* uids expunged with modseq > since */
    store_msgflags *changed;      /* messages added or changed with modseq > since, ascending uid */
    size_t nchanged;
} store_changes;

/* What happened in the folder since `since_modseq` (NOOP, IDLE, end of each
 * command). STORE_GONE when the folder no longer exists. */
store_status store_changes_since(store_mailbox *m, int64_t folder_id, uint64_t since_modseq,
                                 int claim_recent, store_changes *out);
void store_changes_clear(store_changes *c);

/* --- Messages -------------------------------------------------------------------- */

/* What store_fetch() fills (flags, uid, modseq, dates and size always). */
#define STORE_FETCH_ENVELOPE       0x01u
#define STORE_FETCH_BODY           0x02u   /* non-extensible BODY */
#define STORE_FETCH_BODYSTRUCTURE  0x04u
#define STORE_FETCH_SECTIONS       0x08u   /* the mime section table */
#define STORE_FETCH_RAW            0x10u   /* the whole message (CRLF) */

typedef struct store_msg {
    uint32_t uid;
    uint64_t modseq;
    uint32_t flags;
    uint64_t keywords;
    int64_t internaldate;        /* seconds since the epoch, UTC */
    int internaldate_tz;         /* zone given at APPEND, minutes east of UTC */
    int64_t sentdate;            /* Date: header, UTC; 0 when absent/unparsable */
    uint64_t size;               /* RFC822.SIZE: octets with CRLF line endings */
    char *envelope;              /* IMAP strings, computed once at ingest */
    char *body;
    char *bodystructure;
    unsigned char *sections;     /* see mime_section_find() */
    size_t sections_len;
    char *raw;                   /* NUL-terminated for convenience; raw_len counts */
    size_t raw_len;
} store_msg;

/* STORE_NOTFOUND when the uid is not (or no longer) in the folder. */
store_status store_fetch(store_mailbox *m, int64_t folder_id, uint32_t uid, unsigned what,
                         store_msg *out);
void store_msg_clear(store_msg *msg);

/* APPEND: stores `msg` (bare LF/CR normalised to CRLF) in folder `name`,
 * parses its MIME structure once, and commits durably before returning. */
store_status store_append(store_mailbox *m, const char *name, uint32_t flags,
                          const char *const *keywords, size_t nkeywords,
                          int64_t internaldate, int internaldate_tz,
                          const char *msg, size_t len,
                          uint32_t *uidvalidity_out, uint32_t *uid_out);

/* Delivery from the sealed spool (issue 3) and import (src/transfer/):
 * store_append, unless a message with
 * the same `origin` (a name its source never reuses, e.g. "spool:<uid>:<id>",
 * at most STORE_ORIGIN_MAX bytes) was appended by this call before — then
 * STORE_EXISTS and nothing changes. The origin is recorded in the same
 * transaction as the message, so a crash after this returns and before the
 * source forgets the message can neither lose nor duplicate it. */
#define STORE_ORIGIN_MAX 128
store_status store_append_once(store_mailbox *m, const char *name, uint32_t flags,
                               const char *const *keywords, size_t nkeywords,
                               int64_t internaldate, const char *msg, size_t len,
                               const char *origin, uint32_t *uidvalidity_out, uint32_t *uid_out);

/* Group commit (SMTP delivery, issue 3; import): appends every message of
 * `msgs` to folder `name` in ONE write transaction with one durable COMMIT.
 * Each message brings its flags, keywords and INTERNALDATE (UTC); with an
 * `origin` it is appended at most once, as by store_append_once. One that is
 * refused gets its own status and the others go on (store_batch.c says how).
 * STORE_OK when the COMMIT returned: then msgs[i].status (STORE_OK with uid,
 * or why not) is final and every STORE_OK message is durable. Any other
 * return: nothing of the batch was committed and every status says so.
 * Afterwards the handle leaves the WAL in place when closed (no checkpoint at
 * close): delivery opens a mailbox for one batch, and a checkpoint at every
 * close would cost more than the batch. */
typedef struct store_batch_msg {
    const char *msg;
    size_t len;
    int64_t internaldate;
    uint32_t flags;               /* MSG_FLAG_*; 0 for delivery */
    const char *const *keywords;  /* nkeywords of them; may be NULL when 0 */
    size_t nkeywords;
    const char *origin;           /* NULL, or as for store_append_once */
    store_status status;          /* out */
    uint32_t uid;                 /* out, with STORE_OK */
} store_batch_msg;
store_status store_append_batch(store_mailbox *m, const char *name, store_batch_msg *msgs, size_t n);

typedef enum store_flag_mode { STORE_FLAGS_SET, STORE_FLAGS_ADD, STORE_FLAGS_REMOVE } store_flag_mode;

/* STORE: changes the flags of the messages in `uids` that exist; `out` gets the
 * new flags of every message that was changed (for the untagged FETCH replies).
 * Messages whose flags would not change keep their modseq. */
store_status store_flags(store_mailbox *m, int64_t folder_id, const uidset *uids,
                         store_flag_mode mode, uint32_t flags,
                         const char *const *keywords, size_t nkeywords,
                         store_msgflags **out, size_t *nout);

/* EXPUNGE: removes the messages flagged \Deleted (only those in `only` when it is
 * not NULL: UID EXPUNGE) and reports their uids. */
store_status store_expunge(store_mailbox *m, int64_t folder_id, const uidset *only,
                           uidset *expunged);

typedef struct store_copyuid {
    uint32_t uidvalidity;        /* of the destination */
    uint32_t *src, *dst;         /* pairs, ascending source uid */
    size_t n;
} store_copyuid;

/* COPY / MOVE (move = 1: the sources are expunged in the same transaction). */
store_status store_copy(store_mailbox *m, int64_t folder_id, const uidset *uids,
                        const char *dest, int move, store_copyuid *out);
void store_copyuid_clear(store_copyuid *c);

/* SEARCH: the uids in the folder that match `prog` (SEARCH_SEQSET/RECENT nodes
 * must have been rewritten by the caller). */
store_status store_search(store_mailbox *m, int64_t folder_id, const search_node *prog,
                          uidset *result);

/* SORT and THREAD (RFC 5256): what the protocol layer needs of each message to
 * order and thread them. Strings are UTF-8 (encoded words decoded), "" when the
 * header is absent, NULL when not asked for (STORE_SORT_*). */
typedef struct store_sortrec {
    uint32_t uid;
    int64_t internaldate;        /* ARRIVAL */
    int64_t sentdate;            /* DATE: the Date: header in UTC; 0 when absent or unparsable */
    uint64_t size;               /* SIZE: RFC822.SIZE */
    char *subject;               /* the Subject header, decoded, unfolded */
    char *from, *to, *cc;        /* addr-mailbox (local part) of the first address */
    char *from_display, *to_display;  /* RFC 5957 DISPLAY: the first address's display
                                        name, decoded; else its addr-spec */
    char *message_id;            /* the first msg-id of Message-ID, "<...>" kept */
    char *in_reply_to;           /* the In-Reply-To header, unfolded */
    char *references;            /* the References header, unfolded */
} store_sortrec;

/* What store_sort_records fills besides uid, dates and size (each a cost:
 * strings are read and copied for every message). Fields not asked for are
 * NULL. */
#define STORE_SORT_SUBJECT    0x01u   /* subject */
#define STORE_SORT_ADDRESSES  0x02u   /* from, to, cc */
#define STORE_SORT_DISPLAY    0x04u   /* from_display, to_display */
#define STORE_SORT_THREADING  0x08u   /* message_id, in_reply_to, references */
#define STORE_SORT_ALL        0x0fu

/* The sort records of the messages of the folder whose uid is in `uids` (every
 * message when `uids` is NULL), ascending uid, with the fields `what` asks for. */
store_status store_sort_records(store_mailbox *m, int64_t folder_id, const uidset *uids,
                                unsigned what, store_sortrec **out, size_t *n);
void store_sortrecs_free(store_sortrec *r, size_t n);

/* --- Change watch ----------------------------------------------------------------- */

/* `fn(arg)` is called, on the committing thread and after the commit, whenever any
 * handle in this process changes mailbox `mailbox_id`. It must only schedule work
 * (e.g. conn_notify), never call back into the store. */
typedef struct store_watch store_watch;
store_watch *store_watch_add(const char *mailbox_id, void (*fn)(void *arg), void *arg);
void store_watch_remove(store_watch *w);   /* after it returns, fn is not running and will not run */

#endif
