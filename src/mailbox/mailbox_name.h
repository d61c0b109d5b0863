/*
 * mailbox_name.h — folder names and keyword names of a mailbox file.
 *
 * SUMMARY
 *   mailbox_name_normalize() checks a folder name a client gave and returns the
 *   one form it is stored under; mailbox_keyword_valid() checks a keyword (an IMAP
 *   flag-keyword) before it is given a bit in the mailbox file.
 *
 * PROMISES
 *   A normalised name is valid UTF-8 (no overlong forms, no surrogates), has no
 *   control characters (C0, DEL, C1), no empty level (so no leading, trailing or
 *   doubled '/'), no "." or ".." level, at most IMAP_MAILBOX_NAME_MAX bytes and
 *   IMAP_MAILBOX_DEPTH_MAX levels, and its first level is "INBOX" exactly when the
 *   client wrote INBOX in any case ("inbox/sub" -> "INBOX/sub", RFC 3501 5.1).
 *
 * DIAGNOSTICS
 *   MAILBOX_NAME_INVALID for a malformed name, MAILBOX_NAME_LIMIT for a name over
 *   a limit of util/limits.h.
 */
#ifndef SEALBOX_MAILBOX_NAME_H
#define SEALBOX_MAILBOX_NAME_H

#include <stddef.h>

#define MAILBOX_NAME_OK        0
#define MAILBOX_NAME_INVALID (-1)
#define MAILBOX_NAME_LIMIT   (-2)

/* Checks `name` and, on MAILBOX_NAME_OK, stores a malloc'ed normalised copy in *out. */
int mailbox_name_normalize(const char *name, char **out);

/* 1 when `name` (normalised) is INBOX itself. */
int mailbox_name_is_inbox(const char *name);

/* 1 when `name` is `ancestor` or lies below it ("a" covers "a" and "a/b", not "ab"). */
int mailbox_name_is_within(const char *name, const char *ancestor);

/* Levels of a normalised name ("a/b/c" -> 3). */
size_t mailbox_name_depth(const char *name);

/* 1 when `kw` may be a keyword: an IMAP atom (RFC 3501 9, flag-keyword) of
 * 1..IMAP_KEYWORD_LEN_MAX bytes, so never a system flag ("\Seen"). */
int mailbox_keyword_valid(const char *kw);

#endif
