/*
 * smtp_parse.h — the SMTP command grammar: verbs, paths, ESMTP parameters and
 * BDAT sizes (RFC 5321 4.1; SIZE RFC 1870, 8BITMIME RFC 6152, CHUNKING RFC 3030,
 * DSN RFC 3461, SMTPUTF8 RFC 6531).
 *
 * SUMMARY
 *   smtp_parse_verb(line)              the verb and where its arguments start
 *   smtp_parse_mail(args, ...)         "FROM:<reverse-path> [params]"
 *   smtp_parse_rcpt(args, ...)         "TO:<forward-path> [params]"
 *   smtp_parse_bdat(args, ...)         "chunk-size [LAST]"
 *   smtp_helo_name_valid(name)         a Domain or address literal (RFC 5321 4.1.3)
 *   smtp_utf8_valid(s, n)              well-formed UTF-8 (RFC 3629)
 *
 *   Pure functions over one command line (without its CRLF, NUL-terminated):
 *   no I/O, no state, no allocation. The session (smtp_session.c) decides what
 *   a well-formed command means in its state.
 *
 * PROMISES
 *   - A path is checked in full: source routes ("<@a,@b:user@c>") are parsed
 *     and dropped (RFC 5321 4.1.1.3, C.), quoted local parts are unquoted and,
 *     when what they quote is a plain dot-atom, written without quotes (RFC 5321
 *     4.1.2: "the same" address); UTF-8 in local parts and domains is accepted as
 *     RFC 6531 allows and flagged, so the session can demand SMTPUTF8 for it.
 *   - smtp_path.mailbox never holds CR, LF, NUL or other controls, so it can go
 *     into a header line as is.
 *   - Every failure comes with the exact reply line for the client in *reply
 *     (a static string, no CRLF), e.g. "501 5.1.3 Bad recipient address syntax".
 */
#ifndef SEALBOX_SMTP_PARSE_H
#define SEALBOX_SMTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "util/limits.h"

typedef enum smtp_verb {
    SMTP_VERB_UNKNOWN = 0,
    SMTP_VERB_HELO,
    SMTP_VERB_EHLO,
    SMTP_VERB_MAIL,
    SMTP_VERB_RCPT,
    SMTP_VERB_DATA,
    SMTP_VERB_BDAT,
    SMTP_VERB_RSET,
    SMTP_VERB_NOOP,
    SMTP_VERB_QUIT,
    SMTP_VERB_VRFY,
    SMTP_VERB_EXPN,
    SMTP_VERB_HELP,
    SMTP_VERB_STARTTLS,
    SMTP_VERB_AUTH,
} smtp_verb;

/* The verb of `line` (case-insensitive) and, in *args, the text after the
 * spaces that follow it ("" when none). A verb glued to other letters
 * ("MAILX") is SMTP_VERB_UNKNOWN. */
smtp_verb smtp_parse_verb(const char *line, const char **args);
/* Upper-case name for logs and replies ("?" for unknown). */
const char *smtp_verb_name(smtp_verb v);

/* RFC 5321 4.5.3.1.3: a path is at most 256 octets with its "<>", so the
 * mailbox inside is at most ADDRESS_MAX_LEN (254). */
#define SMTP_MAILBOX_MAX ADDRESS_MAX_LEN
/* RFC 5321 4.5.3.1.1 / 4.5.3.1.2 */
#define SMTP_LOCAL_MAX   64
#define SMTP_DOMAIN_MAX  255

typedef struct smtp_path {
    /* "local@domain": the lookup form (see PROMISES); "" for the null path <>;
     * "postmaster" (as written) for a bare <Postmaster> (RCPT only). */
    char mailbox[SMTP_MAILBOX_MAX + 1];
    size_t at;                  /* offset of the '@' in mailbox (0 when none) */
    int is_null;                /* <> */
    int is_postmaster;          /* <postmaster> without a domain (RFC 5321 4.5.1) */
    int quoted;                 /* the local part needs its quotes (not a dot-atom) */
    int literal;                /* the domain is an address literal [...] */
    int utf8;                   /* non-ASCII octets somewhere */
} smtp_path;

#define SMTP_BODY_NONE      0
#define SMTP_BODY_7BIT      1
#define SMTP_BODY_8BITMIME  2

/* Parameters seen (bits of smtp_params.seen). */
#define SMTP_PARAM_SIZE     0x01u
#define SMTP_PARAM_BODY     0x02u
#define SMTP_PARAM_SMTPUTF8 0x04u
#define SMTP_PARAM_RET      0x08u
#define SMTP_PARAM_ENVID    0x10u
#define SMTP_PARAM_NOTIFY   0x20u
#define SMTP_PARAM_ORCPT    0x40u

/* DSN parameters (RET, ENVID, NOTIFY, ORCPT) are checked and recorded as seen,
 * their values dropped: final delivery here sends no DSN (see smtp_session.c). */
typedef struct smtp_params {
    unsigned seen;              /* SMTP_PARAM_* */
    uint64_t size;              /* SIZE=; UINT64_MAX for any value that does not fit */
    int body;                   /* SMTP_BODY_* */
} smtp_params;

/* MAIL: `args` starts with "FROM:" (any case; spaces after the colon are
 * tolerated). Parameters: SIZE BODY SMTPUTF8 RET ENVID. 0, or -1 and *reply. */
int smtp_parse_mail(const char *args, smtp_path *path, smtp_params *params, const char **reply);
/* RCPT: "TO:<path>"; <postmaster> alone is allowed; the null path is not.
 * Parameters: NOTIFY ORCPT. 0, or -1 and *reply. */
int smtp_parse_rcpt(const char *args, smtp_path *path, smtp_params *params, const char **reply);

/* BDAT (RFC 3030 2): "chunk-size [LAST]", chunk-size at most 19 digits. */
int smtp_parse_bdat(const char *args, uint64_t *size, int *last, const char **reply);

/* 1 when `name` is a Domain (LDH labels, or U-labels in UTF-8) or an address
 * literal ("[192.0.2.1]", "[IPv6:::1]"), 0 otherwise. */
int smtp_helo_name_valid(const char *name);

/* 1 when s[0..n) is well-formed UTF-8 (util/utf8.h's strict RFC 3629 rules:
 * no overlong forms, no surrogates, at most U+10FFFF). */
int smtp_utf8_valid(const char *s, size_t n);

#endif
