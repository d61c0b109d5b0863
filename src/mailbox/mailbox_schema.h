/*
 * mailbox_schema.h — the tables of a mailbox file and their migrations.
 *
 * SUMMARY
 *   mailbox_schema_migrate() brings an open, keyed mailbox file to the newest
 *   schema this build knows: it reads schema_version and runs each missing
 *   migration in its own BEGIN IMMEDIATE transaction, re-checking the version
 *   under the lock, so two processes or sessions opening an old file at once
 *   migrate it exactly once.
 *
 * THE SCHEMA (migration 1)
 *   schema_version(version)                    one row
 *   meta(key, value)                           seal_secret, created, modseq (the
 *                                              mailbox-wide counter), uidvalidity
 *                                              (the last one handed out)
 *   folders(id AUTOINCREMENT, name UNIQUE, special_use, uidvalidity, uidnext,
 *           highestmodseq, recent_uid)         ids are never reused, so a
 *                                              session holding a deleted folder's
 *                                              id can only get STORE_GONE
 *   bodies(id, refcount, size, data)           zstd of the CRLF message; one row
 *                                              shared by copies
 *   messages(id, folder_id, uid, modseq, flags, keywords, internaldate,
 *            internaldate_tz, sentdate, sentdate_tz, size, envelope, body,
 *            bodystructure, sections, body_id, hdr_from/to/cc/subject)
 *   expunged(folder_id, uid, modseq)           tombstones for QRESYNC-style deltas
 *   keywords(bit, name)                        bit i of messages.keywords
 *   subscriptions(name)
 *   Triggers keep bodies.refcount equal to the messages pointing at a body and
 *   delete a body when the last one goes, whatever path deletes the message.
 *
 * MIGRATION 2
 *   imported(origin PK, at)                    names of messages taken from the
 *                                              sealed spool (store_append_once),
 *                                              recorded with the message
 *
 * MIGRATION 3 (search and sort, see store/store_index.h)
 *   body_sort(body_id PK, subject, from_mbox, to_mbox, cc_mbox, from_display,
 *             to_display, message_id, in_reply_to, refs)
 *   body_fts(hdr, body, f_from, f_to, f_cc, f_bcc, f_subject)
 *                                              contentless FTS5 trigram index,
 *                                              rowid = bodies.id
 *   trigger bodies_index_unref                 drops both with their body
 *   index messages_facts                       covering index of the message
 *                                              facts SEARCH and SORT read
 *   meta index_version = 0                     the store fills the indexes of
 *                                              existing bodies at the next open
 *                                              (parsing needs C, not SQL)
 *
 * MIGRATION 4 (the text index in two tables)
 *   head_fts(hdr, f_from, f_to, f_cc, f_bcc, f_subject)
 *   body_fts(body)                             replace migration 3's body_fts:
 *                                              a header key reads only header
 *                                              trigram lists (a word's lists in
 *                                              all the text are ~20x longer)
 *   trigger bodies_index_unref                 drops all three with their body
 *   index messages_facts                       gains modseq: SELECT's read of
 *                                              every message is index-only
 *   meta index_version = 0                     rebuilt at the next open
 *
 * DIAGNOSTICS
 *   Returns 0, or -1 after logging (by mailbox id) what failed; a file written by
 *   a newer build (a version above MAILBOX_SCHEMA_VERSION) is refused with -1.
 */
#ifndef SEALBOX_MAILBOX_SCHEMA_H
#define SEALBOX_MAILBOX_SCHEMA_H

#include <sqlite3.h>

#define MAILBOX_SCHEMA_VERSION 4

int mailbox_schema_migrate(sqlite3 *db, const char *mailbox_id);

#endif
