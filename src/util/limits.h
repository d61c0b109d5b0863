/*
 * limits.h — every explicit limit of Sealbox, in one place (promise 5 of DESIGN.md).
 *
 * Each value says why it is what it is. A limit that an operator may want to change
 * is also a config key (util/config.h); the value here is its default.
 */
#ifndef SEALBOX_LIMITS_H
#define SEALBOX_LIMITS_H

/* --- IMAP ------------------------------------------------------------------ */

/* RFC 7162 section 4 asks clients to keep command lines under 8192 octets and
 * servers to accept at least that; long UID sets from mbsync reach a few KB.
 * A line (excluding literals) over this gets "BAD line too long" and is skipped. */
#define IMAP_LINE_MAX            (64 * 1024)

/* Largest message APPEND accepts; advertised as APPENDLIMIT (RFC 7889). */
#define IMAP_APPEND_MAX          (50 * 1024 * 1024)

/* Largest literal in any other command (a SEARCH string, a mailbox name). */
#define IMAP_LITERAL_MAX         (64 * 1024)

/* Total bytes of one command including its literals (APPEND is the exception). */
#define IMAP_COMMAND_MAX         (IMAP_APPEND_MAX + IMAP_LINE_MAX)

/* Parser depth for parenthesised lists and nested SEARCH keys: deep enough for
 * any real client, shallow enough that recursion cannot exhaust the stack. */
#define IMAP_NEST_MAX            32

/* Number of items in one list (flags, fetch attributes, header fields). */
#define IMAP_LIST_ITEMS_MAX      1000

/* Mailbox names: bytes of the UTF-8 name and levels of hierarchy. */
#define IMAP_MAILBOX_NAME_MAX    512
#define IMAP_MAILBOX_DEPTH_MAX   16

/* Folders per mailbox file: keeps LIST and the folder cache bounded. */
#define IMAP_FOLDERS_MAX         10000

/* Distinct keywords per mailbox file (stored as a 64-bit mask per message). */
#define IMAP_KEYWORDS_MAX        64
#define IMAP_KEYWORD_LEN_MAX     128

/* RFC 3501 9: autologout timer at least 30 minutes; IDLE restarts it. */
#define IMAP_IDLE_TIMEOUT_SEC    (30 * 60)
/* Before authentication a client gets far less. */
#define IMAP_PREAUTH_TIMEOUT_SEC 60

/* Output waiting for a slow reader before the worker producing it pauses. */
#define NET_OUTPUT_HIGH_WATER    (1024 * 1024)
#define NET_OUTPUT_LOW_WATER     (256 * 1024)
/* Input waiting for a busy session before the loop stops reading the socket. */
#define NET_INPUT_HIGH_WATER     (256 * 1024)

/* Connections from one IP, and in all. */
#define NET_CONN_PER_IP_MAX      50
#define NET_CONN_MAX             20000
/* Out of file descriptors at accept(): the listener pauses this long instead of
 * spinning on a socket that stays readable (src/net/server.c). */
#define NET_ACCEPT_PAUSE_MS      100

/* Commands per second per connection (token bucket: rate and burst). */
#define IMAP_CMD_RATE            200
#define IMAP_CMD_BURST           1000

/* Bad commands in a row before the server says BYE. */
#define IMAP_BAD_COMMANDS_MAX    20

/* --- SMTP (RFC 5321) ----------------------------------------------------------- */

/* A command line, CRLF included. RFC 5321 4.5.3.1.4 says 512 octets, raised by
 * every extension's parameters (4.5.3.1.4 last sentence): a 256-octet path plus
 * RFC 3461's ORCPT (up to 500 octets of xtext) and ENVID (100), SIZE, BODY and
 * SMTPUTF8 fit in 2048 (Postfix's line_length_limit). A longer line gets
 * "500 5.5.2 Line too long" and is skipped up to its LF, so the session keeps in
 * step with the client. */
#define SMTP_COMMAND_LINE_MAX    2048

/* A line of message content, terminator excluded. RFC 5321 4.5.3.1.6 makes 998
 * the least a server must take, but generated HTML routinely exceeds it and the
 * store has no line limit; 64 KiB bounds what one unterminated line may hold in
 * the input buffer. A message with a longer line is read to its end and then
 * refused "554 5.6.0". */
#define SMTP_DATA_LINE_MAX       (64 * 1024)

/* Largest message (content as the client sends it, before our trace headers):
 * the default of the config key smtp_max_message_size, advertised as SIZE
 * (RFC 1870). 25 MiB is what the large providers accept. */
#define SMTP_MESSAGE_MAX_DEFAULT (25 * 1024 * 1024)
/* Our Return-Path: and Received: headers: two paths of at most 256 octets, the
 * client's EHLO name (<= SMTP_COMMAND_LINE_MAX), our host name (<= 255), an IP. */
#define SMTP_TRACE_MAX           (4 * 1024)
/* The config may not raise the limit past what store_append takes with our
 * trace headers prepended. */
#define SMTP_MESSAGE_MAX_CEILING (IMAP_APPEND_MAX - SMTP_TRACE_MAX)

/* Page cache of an open mailbox (config mailbox_cache_mb), MiB. SQLite's own
 * default (2 MiB) holds a tenth of the covering index of a 100,000-message
 * folder, so every SEARCH/SORT decrypted it all again (ChaCha20-Poly1305 was
 * ~40 % of a warm SEARCH UNSEEN). 32 MiB holds the index and the common
 * trigram lists of such a folder; pages are only kept once read. */
#define MAILBOX_CACHE_MB_DEFAULT 32
#define MAILBOX_CACHE_MB_MIN     2
#define MAILBOX_CACHE_MB_MAX     4096

/* Recipients of one transaction: RFC 5321 4.5.3.1.8 asks servers to take at
 * least 100; more are answered "452 4.5.3" and the client sends them in another
 * transaction (4.5.3.1.10). */
#define SMTP_RCPT_MAX            100

/* Error replies (4xx/5xx, except 452 for too many recipients, which honest
 * bulk senders hit) in one session before "421" and disconnect: a client this
 * confused is broken or probing addresses. Postfix's smtpd_hard_error_limit. */
#define SMTP_ERRORS_MAX          20

/* RFC 5321 4.5.3.2.7: a server should wait at least 5 minutes for the next
 * command; the client waits at most 10 minutes for our reply to the final dot
 * (4.5.3.2.6). We use 5 minutes for every read, data blocks included (4.5.3.2.5
 * gives the client 3), and never more: an idle SMTP peer holds a connection slot. */
#define SMTP_TIMEOUT_SEC         300

/* Group commit of SMTP delivery (delivery/delivery_group.c): messages for one
 * mailbox or spool file that wait while a batch commits go into the next one,
 * at most this many and (after the first) this many octets. One fsync then
 * covers them all; the bounds keep one write transaction, and the time other
 * writers of that file wait for its lock, short. */
#define DELIVERY_GROUP_MAX       64
#define DELIVERY_GROUP_BYTES_MAX (32 * 1024 * 1024)
/* Spool files delivery keeps open between batches (one handle ~ a few KiB of
 * SQLite state plus its page cache); the least recently used is closed. */
#define DELIVERY_SPOOL_CACHE     32

/* --- Authentication -------------------------------------------------------- */

/* Failed logins: after this many within the window the address (or IP) is
 * refused without trying the password until the window passes. */
#define AUTH_FAIL_WINDOW_SEC     300
#define AUTH_FAIL_PER_ADDRESS    10
#define AUTH_FAIL_PER_IP         30
/* Every failed login is answered after this delay, so guessing is slow even
 * below the throttle and timing says nothing about which part failed. */
#define AUTH_FAIL_DELAY_MS       1000

/* Passwords: the shortest accepted from a user, the longest from the network. */
#define PASSWORD_MIN_LEN         12
#define PASSWORD_MAX_LEN         1024
/* Addresses: RFC 5321 4.5.3.1.3 path limit. */
#define ADDRESS_MAX_LEN          254

/* Key cache: how long an unwrapped data key outlives its last session. */
#define KEYCACHE_GRACE_SEC       300
/* Passwords (key slots) remembered per cached key: a phone and a laptop with
 * two app passwords both hit; a fifth replaces the oldest. */
#define KEYCACHE_VERIFIERS_MAX   4
/* How long a login waits for another login's derivation of the same key before
 * deriving itself: a few Argon2id runs plus queueing at the derivation gate. */
#define KEYCACHE_WAIT_SEC        30

/* Key slots: Argon2id cost of a new slot: libsodium's INTERACTIVE level (t=2,
 * 64 MiB, ~0.3 s here), the least a login password should get. Each slot
 * records its own cost, so raising these affects new slots only. */
#define KEYSLOT_OPSLIMIT         2
#define KEYSLOT_MEMLIMIT         (64u * 1024 * 1024)
/* The most a slot read from the directory may ask for: a corrupt or hostile
 * slot must not make one login eat gigabytes or minutes. */
#define KEYSLOT_OPSLIMIT_MAX     16
#define KEYSLOT_MEMLIMIT_MAX     (1024u * 1024 * 1024)
/* Key slots per address (app passwords). A failed login tries every slot, so
 * this also bounds the Argon2id work one wrong password costs. */
#define KEYSLOTS_PER_ADDRESS_MAX 8
/* Argon2id derivations running at once in one process: 64 workers each taking
 * 64 MiB at a login storm would need 4 GiB; more than the cores buys nothing. */
#define KEYSLOT_CONCURRENT_MAX   4
/* Failure records kept for throttling (per address and per IP): bounded, the
 * oldest record is replaced when a probe finds no free place. */
#define AUTH_FAIL_TABLE_SIZE     65536

/* --- Messages --------------------------------------------------------------- */

/* MIME nesting (multipart inside multipart / message/rfc822). Deeper structures
 * are treated as opaque bodies, so a hostile message cannot exhaust the stack. */
#define MIME_DEPTH_MAX           50
/* Parts per message; the rest are folded into their parent's body. */
#define MIME_PARTS_MAX           10000
/* Parameters kept per Content-Type / Content-Disposition (after RFC 2231
 * continuations are joined). Real mail has a handful; the cap bounds the
 * BODYSTRUCTURE a hostile header can produce and the cost of joining. */
#define MIME_PARAMS_MAX          256


/* --- Outbound (forwarding and webhooks, src/outbound/) ------------------------ */

/* Forward targets per address: each is one queued copy per inbound message, so
 * this bounds how much one message can multiply in the outbound queue. */
#define FORWARD_TARGETS_MAX      10
/* The comma-separated list as stored: targets plus separators. */
#define FORWARD_LIST_MAX         (FORWARD_TARGETS_MAX * (ADDRESS_MAX_LEN + 1))
/* Webhook URL length: de-facto browser/server limit (RFC 9110 recommends
 * supporting at least 8000; we keep configuration short and readable). */
#define WEBHOOK_URL_MAX          2048
/* First retry after this many seconds; each later retry doubles it
 * (exponential backoff as RFC 5321 4.5.4.1 suggests "at least 30 minutes"
 * for MTAs; we start faster because forwarding targets are usually well-kept). */
#define OUTBOUND_RETRY_FIRST_SEC 60
/* Backoff stops growing here: one attempt an hour at most apart. */
#define OUTBOUND_RETRY_MAX_SEC   3600
/* A job that has not been delivered after this long is given up and bounced
 * (RFC 5321 4.5.4.1: "at least 4-5 days"). */
#define OUTBOUND_LIFETIME_SEC    (5 * 24 * 3600)
/* One SMTP client reply line (RFC 5321 4.5.3.1.5: 512 octets) and the most
 * lines of one multi-line reply we read before calling the peer broken. */
#define OUTBOUND_SMTP_LINE_MAX   512
#define OUTBOUND_SMTP_REPLY_LINES 100
/* Socket timeouts of the SMTP client (RFC 5321 4.5.3.2 asks for minutes; the
 * runner is one thread, so we cap the wait a broken peer can cost). */
#define OUTBOUND_SMTP_TIMEOUT_SEC 60
/* Whole webhook request, connect included. */
#define WEBHOOK_TIMEOUT_SEC      30
/* Jobs picked per runner pass: bounds a pass's memory (each holds a message). */
#define OUTBOUND_BATCH_MAX       16
/* Text of one text/plain or text/html part put into a webhook body: a huge
 * part should not make a huge POST; longer parts are cut (and marked). */
#define WEBHOOK_TEXT_MAX         (1024 * 1024)
/* Attachments listed in a webhook body. */
#define WEBHOOK_ATTACHMENTS_MAX  100

/* THREAD=REFERENCES (imap_thread.c): message ids taken from one message's
 * References header. A 50 MB header could name millions; the last ones are the
 * closest ancestors (RFC 5322 3.6.4), which are what threading needs. */
#define IMAP_THREAD_REFS_MAX     1000

/* X-REGEX (search_regex.c). A pattern longer than this is refused before PCRE2
 * sees it; parentheses nest no deeper than this (PCRE2's own default is 250). */
#define SEARCH_REGEX_PATTERN_MAX 1024
#define SEARCH_REGEX_NEST_MAX    50
/* Work per subject: PCRE2's match limit (backtracking steps) and heap limit
 * (KiB). A catastrophic pattern such as (a+)+$ over 30 'a's needs ~10^9 steps;
 * this stops it after a few milliseconds, and the whole SEARCH answers NO. */
#define SEARCH_REGEX_MATCH_LIMIT 2000000
#define SEARCH_REGEX_DEPTH_LIMIT 10000
#define SEARCH_REGEX_HEAP_KIB    (20 * 1024)

/* Backups (src/backup/). Versions kept per mailbox when the config says
 * nothing (DESIGN.md "Backups": a week of dailies); the most a config may ask. */
#define BACKUP_KEEP_DEFAULT      7
#define BACKUP_KEEP_MAX          1000
/* S3: files above the part size go by multipart upload in parts of that size.
 * AWS wants parts of at least 5 MiB (all but the last) and at most 10,000 parts;
 * the floor is lower so tests can take the multipart path with small files. */
#define BACKUP_PART_SIZE_DEFAULT (16 * 1024 * 1024)
#define BACKUP_PART_SIZE_MIN     1024
#define BACKUP_PARTS_MAX         10000
/* One S3 response body we read (ListObjectsV2 pages hold at most 1000 keys of
 * ~100 bytes each; error documents are small): more is a broken or hostile peer. */
#define BACKUP_S3_RESPONSE_MAX   (4 * 1024 * 1024)
/* Versions of one mailbox a listing takes (S3 or folder): a listing is HEADed
 * version by version, so a hostile or broken server must not make it endless.
 * Ten times the largest backup_keep. */
#define BACKUP_VERSIONS_MAX      (10 * BACKUP_KEEP_MAX)
/* ListObjectsV2 pages followed for one mailbox (1000 keys each). */
#define BACKUP_S3_LIST_PAGES_MAX 100
/* Whole S3 request (a 50 MiB part over a slow link included) and its connect. */
#define BACKUP_S3_TIMEOUT_SEC    600
#define BACKUP_S3_CONNECT_SEC    30
/* Daemon: back a mailbox up when its newest backup is older than this, retry
 * a failure after BACKUP_RETRY_FIRST_SEC doubling up to BACKUP_RETRY_MAX_SEC. */
#define BACKUP_INTERVAL_SEC      (24 * 3600)
#define BACKUP_RETRY_FIRST_SEC   60
#define BACKUP_RETRY_MAX_SEC     3600
/* The daily check starts this long after a login, so the session's first
 * commands do not share the disk with a snapshot. */
#define BACKUP_LOGIN_DELAY_SEC   5
/* Mailboxes the runner remembers (last backup, retry state): bounds its memory;
 * past it the entries idle longest are forgotten (and checked again at login). */
#define BACKUP_RUNNER_ENTRIES_MAX 100000
/* Snapshots older than this in DATADIR/tmp are leftovers of a crash. */
#define BACKUP_TMP_STALE_SEC     3600

#endif
