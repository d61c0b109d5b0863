/*
 * store_index.h — the derived indexes of a mailbox file: sort facts and the
 * full-text (FTS5 trigram) index of every message body row. Internal to the
 * local store (store_local.c, store_sort.c, store_search.c, store_index.c).
 *
 * SUMMARY
 *   Both indexes hang off bodies(id), not messages(id): a body is the message's
 *   bytes, shared by its copies (COPY/MOVE insert message rows pointing at the
 *   same body), and everything indexed here is a function of those bytes. So
 *   COPY and MOVE cost the indexes nothing, and a trigger of schema v3 removes
 *   a body's index rows when the body itself goes (the last message using it is
 *   expunged, moved away and expunged, or its folder deleted) — in the same
 *   statement, hence the same transaction, whatever path deleted it.
 *
 *   APPEND computes an index entry before it takes the write lock
 *   (store_index_prepare: CPU only) and writes it with the body
 *   (store_index_insert, inside the append's transaction).
 *
 * TABLES (mailbox_schema.c, migrations 3 and 4)
 *   body_sort(body_id PK, subject, from_mbox, to_mbox, cc_mbox, from_display,
 *             to_display, message_id, in_reply_to, refs)     one row per body
 *   head_fts(hdr, f_from, f_to, f_cc, f_bcc, f_subject), body_fts(body)
 *                         (migration 4: apart, so a header key reads only
 *                         header trigram lists)
 *                         contentless FTS5, rowid = bodies.id, trigram
 *                         tokenizer (case_sensitive 1: the text is folded by
 *                         search_fold before it is indexed, and so is every
 *                         query, so the index and search_eval.c agree exactly).
 *                         hdr/body: search_text's header and body text;
 *                         f_*: search_text_header_fields, so HEADER FROM etc.
 *                         need no re-check.
 *   meta 'index_version'  STORE_INDEX_VERSION when every body is indexed with
 *                         this build's text extraction; anything else means
 *                         "not complete": search then scans, sort parses.
 *
 * DIAGNOSTICS
 *   Functions returning int give 0 or -1 (logged by mailbox id, never content).
 */
#ifndef SEALBOX_STORE_INDEX_H
#define SEALBOX_STORE_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "mime/mime.h"
#include "search/search_text.h"
#include "store/store.h"

/* Raise when search_text.c or the sort facts change what they produce: files
 * indexed by an older build are then re-indexed at open. */
#define STORE_INDEX_VERSION 1

/* The sort facts of one message (store_sortrec's strings). */
typedef struct store_sortcols {
    char *subject;
    char *from, *to, *cc;
    char *from_display, *to_display;
    char *message_id, *in_reply_to, *references;
} store_sortcols;

/* Fills every field (never NULL) from the message's ENVELOPE string (as
 * mime_envelope wrote it) and its raw header (for References). */
void store_sortcols_compute(const char *raw, size_t len, const mime_part *root,
                            const char *envelope, size_t envelope_len, store_sortcols *out);
void store_sortcols_free(store_sortcols *c);

/* An index entry computed outside the write lock. */
typedef struct store_index_entry {
    store_sortcols sort;
    buf hdr, body;              /* search_text: folded header text, folded body text */
    buf fields[SEARCH_TEXT_NFIELDS];   /* folded pieces of From, To, Cc, Bcc, Subject */
} store_index_entry;

store_index_entry *store_index_prepare(const char *raw, size_t len, const mime_part *root,
                                       const char *envelope, size_t envelope_len);
void store_index_entry_free(store_index_entry *e);
/* Writes the entry for a new body row; inside the write transaction. */
int store_index_insert(store_mailbox *m, int64_t body_id, const store_index_entry *e);

/* At open: when the file's index is not complete for this build, rebuild it
 * (one write transaction). A failure is logged and left for the next open or
 * `sealbox doctor`; search and sort stay correct meanwhile (slower). */
void store_index_open_check(store_mailbox *m);
/* 1 when the index is complete (inside a transaction), 0 not, -1 error. */
int store_index_complete(store_mailbox *m);

#endif
