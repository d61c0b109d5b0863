/*
 * search_eval.h — evaluating a search program (search.h) against one message.
 *
 * SUMMARY
 *   The local store runs a SEARCH by walking the folder and asking this module,
 *   message by message, whether the program matches. Column facts (uid, flags,
 *   keywords, dates, size) come from the row; HEADER/BODY/TEXT need the message
 *   itself, which is expensive to load (decompression), so evaluation is
 *   three-valued: without the text a program answers YES, NO or UNKNOWN, and
 *   only UNKNOWN makes the caller load the text and ask again.
 *
 * MATCHING RULES (RFC 3501 6.4.4)
 *   - Strings match as case-insensitive substrings after a simple Unicode case
 *     folding of both sides (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic,
 *     Armenian, Latin Extended Additional, fullwidth; one code point to one),
 *     after composing an ASCII letter followed by one Latin combining mark
 *     into its precomposed character (the part of NFC that mail needs: NFD
 *     "e\u0301" matches "\u00e9"). Not full NFC: no library for it is in this
 *     build's dependencies (ICU is large; utf8proc is not installed here).
 *     Bytes that are not valid UTF-8 match only themselves.
 *   - HEADER looks at every field of the message's own header with that name,
 *     as search_text_header_value gives it (unfolded, RFC 2047 encoded words
 *     decoded: UTF-8 and US-ASCII as they are, ISO-8859-1 converted, other
 *     charsets as their raw bytes; then valid UTF-8, stray 8-bit bytes read as
 *     Latin-1); address fields also in their normalised form. An empty string
 *     matches when the field is present.
 *   - BODY searches the message's body text, TEXT its header text or its body
 *     text, as search/search_text.h defines them (transfer encodings and
 *     charsets decoded, HTML reduced to text, attachment names included) —
 *     the very text the FTS5 index holds, so both answer alike.
 *   - SEARCH_REGEX (X-REGEX) runs the pattern on each field `field` (decoded
 *     as for HEADER), or with no field on the body text (`number` 0) or the
 *     header text followed by the body text (`number` 1). A subject over the
 *     regex limits counts as no match and sets search_eval_limited().
 *   - Dates compare days in the message's own zone: INTERNALDATE in the zone
 *     given at APPEND, SENT* in the Date: header's zone; a message without a
 *     usable Date: header matches no SENT* key.
 *   - An unknown keyword is never set. SEARCH_SEQSET and SEARCH_RECENT nodes
 *     match nothing (the session should have rewritten them).
 *
 * DIAGNOSTICS
 *   search_eval_new() returns NULL for a program nested deeper than
 *   SEARCH_EVAL_DEPTH_MAX or with a pattern search_regex_new refuses.
 */
#ifndef SEALBOX_SEARCH_EVAL_H
#define SEALBOX_SEARCH_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "search/search.h"

/* The IMAP parser bounds nesting at IMAP_NEST_MAX; a program from elsewhere
 * (the cluster link) is held to a generous multiple so recursion stays safe. */
#define SEARCH_EVAL_DEPTH_MAX 256

typedef enum search_match {
    SEARCH_MATCH_NO = 0,
    SEARCH_MATCH_YES = 1,
    SEARCH_MATCH_UNKNOWN = 2,    /* needs the message text */
} search_match;

typedef struct search_msg {
    uint32_t uid;
    uint32_t flags;              /* MSG_FLAG_* */
    uint64_t keywords;           /* bit i = keyword i of the mailbox file */
    int64_t internaldate;        /* UTC seconds */
    int internaldate_tz;         /* minutes east of UTC */
    int has_sentdate;
    int64_t sentdate;            /* Date: header, UTC seconds */
    int sentdate_tz;
    uint64_t size;
    const char *raw;             /* the message (CRLF), or NULL when not loaded */
    size_t raw_len;
} search_msg;

typedef struct search_eval search_eval;

/* Prepares `prog` for evaluation; keywords[i] names bit i (copied as needed). */
search_eval *search_eval_new(const search_node *prog, const char *const *keywords,
                             size_t nkeywords);
/* 1 when some node needs the message text (HEADER, BODY, TEXT, REGEX). */
int search_eval_needs_text(const search_eval *e);
/* YES/NO, or UNKNOWN only when msg->raw is NULL and the answer depends on it. */
search_match search_eval_msg(search_eval *e, const search_msg *msg);
void search_eval_free(search_eval *e);
/* 1 once a regular expression hit its match/depth/heap limit on some message
 * (that message then did not match): the caller gives up the search. */
int search_eval_limited(const search_eval *e);

/* The case folding used for matching, exposed for tests: appends fold(s) to out. */
void search_fold(const char *s, size_t len, buf *out);
/* Days since 1970-01-01 of UTC time `t` seen in zone `tz_minutes` east. */
int64_t search_day(int64_t t, int tz_minutes);

#endif
