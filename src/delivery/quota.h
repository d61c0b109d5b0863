/*
 * quota.h — per-address storage quotas (DESIGN.md "Delivery" 1; the
 * directory's aliases.quota, bytes, 0 = none).
 *
 * SUMMARY
 *   quota_usage(datadir, mailbox_id)          bytes on disk: mailbox + spool
 *   quota_parse(text, &bytes)                 "500M", "2G", "1048576", "none"
 *   quota_format(bytes, out)                  the same back ("none" for 0)
 *   quota_over(quota, usage, add)             would `add` more bytes exceed it?
 *   quota_check(dir, datadir, address, mailbox_id, add)
 *                                             the directory's quota vs usage
 *   quota_check_session(acc, auth, add)       the same for a logged-in session
 *                                             (IMAP APPEND/COPY/MOVE: OVERQUOTA)
 *
 * WHAT IS COUNTED
 *   Usage must be known without the owner's key (SMTP delivers while nobody
 *   is logged in), so it is what anyone with the disk sees anyway: the size of
 *   DATADIR/mailboxes/<id>.db and its -wal, plus DATADIR/spool/<id>.db and its
 *   -wal (sealed mail waiting for a login counts too). No file is opened.
 *   The files are encrypted and compressed, so this is the space the address
 *   costs the server, not the sum of RFC822.SIZE a client would compute.
 *   Known limit: SQLite reuses the pages an EXPUNGE frees, but the file does
 *   not shrink, so usage falls only when the file is compacted (VACUUM);
 *   expunging makes room for new mail without lowering the number.
 *
 * PROMISES
 *   - Never refuses because of its own failure: a file that cannot be
 *     stat()ed counts 0 (a missing spool is normal), and quota_check answers
 *     "fits" when the directory fails (logged by the directory). A quota is a
 *     limit on growth, not a reason to lose mail.
 *   - Nothing here logs an address.
 */
#ifndef SEALBOX_QUOTA_H
#define SEALBOX_QUOTA_H

#include <stddef.h>
#include <stdint.h>

#include "directory/directory.h"

/* Sizes are in octets; suffixes K, M, G, T are powers of 1024 (with or
 * without a trailing "B" or "iB"); "none" and "0" mean no quota.
 * 0, or -1 for anything else (negative, fractions, overflow). */
int quota_parse(const char *text, uint64_t *out);
/* "none", or the largest exact suffix ("500M", "2G", "1234"); out >= 32. */
void quota_format(uint64_t bytes, char *out, size_t outlen);

uint64_t quota_usage(const char *datadir, const char *mailbox_id);

/* 1 when quota != 0 and usage + add > quota (usage >= quota when add is 0:
 * already full); 0 otherwise. */
int quota_over(uint64_t quota, uint64_t usage, uint64_t add);

/* quota_over with the alias's quota from the directory and quota_usage. */
int quota_check(directory *dir, const char *datadir, const char *address, const char *mailbox_id,
                uint64_t add);

/* quota_check for the address a session logged in as. The quota is read from
 * the directory at each call, so `sealbox alias set --quota` applies to
 * sessions already open. */
struct accounts;
struct account_auth;
int quota_check_session(struct accounts *acc, const struct account_auth *au, uint64_t add);

#endif
