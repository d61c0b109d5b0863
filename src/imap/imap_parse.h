/*
 * imap_parse.h — IMAP4rev1 command framing and grammar (RFC 3501 section 9).
 *
 * SUMMARY
 *   Two stages, both pure functions of bytes (no sockets, no storage), so that
 *   both can be fuzzed on their own:
 *
 *   1. imap_reader: framing. Bytes in; out come whole commands: a line, plus
 *      every literal it announces ({n} synchronising, {n+} non-synchronising,
 *      RFC 7888), plus the rest of the line after each literal. It tells the
 *      caller when to send "+ " for a synchronising literal, and enforces
 *      IMAP_LINE_MAX, IMAP_LITERAL_MAX (IMAP_APPEND_MAX for APPEND literals) and
 *      IMAP_COMMAND_MAX. Over a limit it skips the rest of the command (reading and
 *      dropping an announced non-synchronising literal, never storing it) and
 *      reports the error, so the stream stays in sync. A synchronising literal
 *      after an error is never asked for; the next line starts a new command.
 *      Empty lines between commands are skipped.
 *
 *   2. imap_parse_command: grammar. A framed command in; an imap_cmd out, or a
 *      "BAD" text that says what is wrong. Every string is copied out; the cmd
 *      owns its memory (imap_cmd_free).
 *
 * The session (imap_session.c) owns state, storage calls and responses.
 */
#ifndef SEALBOX_IMAP_PARSE_H
#define SEALBOX_IMAP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/uidset.h"
#include "search/search.h"

/* ---- Framing ------------------------------------------------------------------- */

typedef enum imap_frame {
    IMAP_FRAME_NEED_MORE,     /* feed more bytes */
    IMAP_FRAME_CONTINUE,      /* send "+ Ready for literal data\r\n", then feed more */
    IMAP_FRAME_COMMAND,       /* a whole command is in reader->cmd (cmd.len bytes) */
    IMAP_FRAME_ERROR,         /* a limit was hit; reader->error says which; the tag
                                 (if one was read) is in reader->tag. Answer BAD (or
                                 NO [TOOBIG] for an APPEND literal) and go on. */
} imap_frame;

typedef struct imap_reader {
    buf cmd;                  /* the framed command: line(s) and literals, kept verbatim
                                 (CRLF or bare LF line ends included); after
                                 imap_reader_feed_line: the line without its CRLF */
    char tag[64];             /* tag of the command being framed or in error ("" if none,
                                 or if the tag is 64 bytes or longer) */
    const char *error;        /* static text for IMAP_FRAME_ERROR */
    int error_toobig;         /* the error is a literal over the limit (APPENDLIMIT) */
    /* private state (imap_reader.c) */
    int state;                /* fresh / line / literal / done */
    int line_only;            /* framing one line for imap_reader_feed_line */
    int first_line;           /* still in the command's first line */
    int discarding;           /* an error is pending: drop bytes until the command ends */
    int is_append;            /* the command is APPEND: literals up to IMAP_APPEND_MAX */
    uint64_t literal_left;    /* bytes of the current literal still to come */
    size_t line_len;          /* bytes of the current line so far (without LF) */
    int lit_scan;             /* scanner for a "{n}" / "{n+}" at the end of the line */
    int lit_plus;
    int lit_over;             /* the announced size does not fit a number (2^32-1) */
    uint64_t lit_n;
    unsigned lit_digits;
} imap_reader;

void imap_reader_init(imap_reader *r);
void imap_reader_free(imap_reader *r);
/*
 * Consumes bytes from data[0..len) and returns what happened; *used tells how many
 * bytes were consumed (the caller feeds the rest again after acting on the result).
 * After IMAP_FRAME_COMMAND or IMAP_FRAME_ERROR the next call starts a new command
 * (the previous cmd buffer is reset on that call).
 */
imap_frame imap_reader_feed(imap_reader *r, const char *data, size_t len, size_t *used);

/* A single line, for AUTHENTICATE continuation responses and IDLE's DONE: the
 * framed command's text without the CRLF (no literals allowed there: a trailing
 * "{n}" is plain text). Same return values as imap_reader_feed but never
 * IMAP_FRAME_CONTINUE; a line over IMAP_LINE_MAX is skipped and reported as
 * IMAP_FRAME_ERROR. Call it only between commands (after a COMMAND or ERROR, or
 * on a fresh reader); the mode sticks until that line is complete. An empty line
 * is an (empty) COMMAND here, while imap_reader_feed skips empty lines. */
imap_frame imap_reader_feed_line(imap_reader *r, const char *data, size_t len, size_t *used);

/* ---- Grammar ------------------------------------------------------------------- */

typedef enum imap_cmd_kind {
    IMAP_CMD_UNKNOWN = 0,
    IMAP_CMD_CAPABILITY, IMAP_CMD_NOOP, IMAP_CMD_LOGOUT, IMAP_CMD_STARTTLS,
    IMAP_CMD_AUTHENTICATE, IMAP_CMD_LOGIN,
    IMAP_CMD_SELECT, IMAP_CMD_EXAMINE, IMAP_CMD_CREATE, IMAP_CMD_DELETE, IMAP_CMD_RENAME,
    IMAP_CMD_SUBSCRIBE, IMAP_CMD_UNSUBSCRIBE, IMAP_CMD_LIST, IMAP_CMD_LSUB,
    IMAP_CMD_STATUS, IMAP_CMD_APPEND,
    IMAP_CMD_CHECK, IMAP_CMD_CLOSE, IMAP_CMD_EXPUNGE, IMAP_CMD_SEARCH, IMAP_CMD_FETCH,
    IMAP_CMD_STORE, IMAP_CMD_COPY, IMAP_CMD_MOVE,
    IMAP_CMD_IDLE, IMAP_CMD_UNSELECT, IMAP_CMD_NAMESPACE, IMAP_CMD_ID, IMAP_CMD_ENABLE,
    IMAP_CMD_SORT, IMAP_CMD_THREAD,
    IMAP_CMD_XBACKUP,           /* Sealbox: back the mailbox up now (imap_cmd_backup.c) */
} imap_cmd_kind;

/* A sequence set as the client wrote it: numbers, ranges and '*'. The session
 * resolves '*' (IMAP_SEQ_STAR) against its view before use. */
#define IMAP_SEQ_STAR UINT32_MAX
typedef struct imap_seqset {
    uid_range *r;             /* as written (not merged), each range ordered lo <= hi
                                 ("5:2" gives 2..5); '*' is IMAP_SEQ_STAR, so it is
                                 always hi. (The number 4294967295 reads the same as '*'.) */
    size_t n;
    int last;                 /* "$": the saved search result (SEARCHRES, RFC 5182);
                                 then n is 0 */
} imap_seqset;

/* A SEARCH_SEQSET node with this `number` stands for "$" (the session's saved
 * result), not for sequence numbers. */
#define IMAP_SEARCH_SAVED 1

/* SEARCH RETURN options (ESEARCH RFC 4731, SEARCHRES RFC 5182). */
#define IMAP_SEARCH_RETURN_MIN    0x01u
#define IMAP_SEARCH_RETURN_MAX    0x02u
#define IMAP_SEARCH_RETURN_ALL    0x04u
#define IMAP_SEARCH_RETURN_COUNT  0x08u
#define IMAP_SEARCH_RETURN_SAVE   0x10u

/* SORT criteria (RFC 5256 3; DISPLAYFROM/DISPLAYTO RFC 5957). */
typedef enum imap_sort_key {
    IMAP_SORT_ARRIVAL, IMAP_SORT_CC, IMAP_SORT_DATE, IMAP_SORT_FROM, IMAP_SORT_SIZE,
    IMAP_SORT_SUBJECT, IMAP_SORT_TO, IMAP_SORT_DISPLAYFROM, IMAP_SORT_DISPLAYTO,
} imap_sort_key;

typedef struct imap_sort_crit {
    imap_sort_key key;
    int reverse;
} imap_sort_crit;

typedef enum imap_thread_alg {
    IMAP_THREAD_NONE = 0, IMAP_THREAD_ORDEREDSUBJECT, IMAP_THREAD_REFERENCES,
} imap_thread_alg;

typedef enum imap_fetch_kind {
    IMAP_FETCH_FLAGS, IMAP_FETCH_INTERNALDATE, IMAP_FETCH_RFC822_SIZE, IMAP_FETCH_ENVELOPE,
    IMAP_FETCH_BODY,            /* BODY without a section: non-extensible BODYSTRUCTURE */
    IMAP_FETCH_BODYSTRUCTURE, IMAP_FETCH_UID,
    IMAP_FETCH_RFC822,          /* = BODY[] but answered as RFC822, sets \Seen */
    IMAP_FETCH_RFC822_HEADER,   /* = BODY.PEEK[HEADER] answered as RFC822.HEADER */
    IMAP_FETCH_RFC822_TEXT,     /* = BODY[TEXT] answered as RFC822.TEXT, sets \Seen
                                   (the three RFC822* kinds also get spec/peek/part
                                   filled as their BODY[...] equivalents) */
    IMAP_FETCH_SECTION,         /* BODY[...] / BODY.PEEK[...] */
} imap_fetch_kind;

typedef enum imap_section_spec {
    IMAP_SECTION_ALL,           /* BODY[] or BODY[1.2] */
    IMAP_SECTION_HEADER, IMAP_SECTION_HEADER_FIELDS, IMAP_SECTION_HEADER_FIELDS_NOT,
    IMAP_SECTION_TEXT, IMAP_SECTION_MIME,
} imap_section_spec;

typedef struct imap_fetch_att {
    imap_fetch_kind kind;
    int peek;                   /* BODY.PEEK */
    char *part;                 /* "1.2" or ""; non-NULL for SECTION and RFC822* (else NULL) */
    imap_section_spec spec;
    char **fields;              /* HEADER.FIELDS names, uppercased */
    size_t nfields;
    int partial;                /* <off.len> given */
    uint32_t partial_off, partial_len;
    char *name;                 /* response item name, e.g. "BODY[HEADER.FIELDS (FROM TO)]<0>"
                                   (RFC 3501: the <origin> only, and without PEEK) */
} imap_fetch_att;

/* STATUS data items */
#define IMAP_STATUS_MESSAGES     0x01u
#define IMAP_STATUS_RECENT       0x02u
#define IMAP_STATUS_UIDNEXT      0x04u
#define IMAP_STATUS_UIDVALIDITY  0x08u
#define IMAP_STATUS_UNSEEN       0x10u
#define IMAP_STATUS_HIGHESTMODSEQ 0x20u
#define IMAP_STATUS_SIZE         0x40u
#define IMAP_STATUS_APPENDLIMIT  0x80u   /* RFC 7889 4 */

typedef struct imap_cmd {
    char *tag;
    imap_cmd_kind kind;
    int uid;                    /* UID prefix (COPY, MOVE, FETCH, SEARCH, STORE, EXPUNGE) */
    const char *name;           /* command name as canonical text, e.g. "UID FETCH" */

    /* Mailbox arguments exactly as sent (astring; modified UTF-7 undecoded). */
    char *mailbox;              /* SELECT EXAMINE CREATE DELETE SUBSCRIBE UNSUBSCRIBE STATUS APPEND COPY MOVE; RENAME's source */
    char *mailbox2;             /* RENAME's destination */
    char *reference, *pattern;  /* LIST / LSUB (pattern is list-mailbox) */

    /* LOGIN / AUTHENTICATE */
    char *user, *password;      /* LOGIN (password wiped by imap_cmd_free) */
    char *mechanism;            /* AUTHENTICATE, uppercased */
    char *initial_response;     /* SASL-IR (may be "=" for empty) or NULL */

    imap_seqset seq;            /* FETCH STORE COPY MOVE, UID EXPUNGE */

    imap_fetch_att *atts;       /* FETCH (macros ALL/FAST/FULL expanded) */
    size_t natts;

    /* STORE and APPEND flags. System flags as MSG_FLAG_* bits; keywords as names;
     * flag_recent: \Recent was given (not settable: refused by STORE, ignored by APPEND). */
    int store_mode;             /* 0 = FLAGS, 1 = +FLAGS, -1 = -FLAGS */
    int store_silent;
    uint32_t flags;
    char **keywords;
    size_t nkeywords;
    int flag_recent;            /* \Recent was in the list (STORE/APPEND) */

    /* APPEND */
    int has_date;
    int64_t date;               /* seconds since epoch, UTC */
    int date_tz;                /* minutes east of UTC */
    const char *message;        /* points into the framed command buffer: valid until the next feed */
    size_t message_len;

    unsigned status_items;      /* STATUS */

    search_node *search;        /* SEARCH/SORT/THREAD program (an AND of the keys given) */
    char *charset;              /* SEARCH CHARSET (SORT/THREAD: mandatory), uppercased, or NULL */
    int esearch;                /* SEARCH RETURN (...) was given: answer ESEARCH */
    unsigned search_return;     /* IMAP_SEARCH_RETURN_*; RETURN () is ALL. Kept by a
                                   failed parse when SAVE was read, so the session can
                                   reset $ (RFC 5182 2.1) */
    imap_sort_crit *sort;       /* SORT criteria, in the order given */
    size_t nsort;
    imap_thread_alg thread;     /* THREAD algorithm */

    char **params;              /* ID: key,value pairs (NULL values as NULL; ID NIL gives
                                   none); ENABLE: capability names, uppercased */
    size_t nparams;
} imap_cmd;

/* Parses a framed command. Returns 0 and fills `cmd`, or -1 with a reason for the
 * BAD reply in `err` (cmd->tag is set if a tag could be read, else NULL: answer
 * "* BAD"). Unknown commands are IMAP_CMD_UNKNOWN with -1 ("unknown command").
 * `cmd` is overwritten (not freed) on entry. On -1 only tag, kind, uid, name and search_return are
 * left set. Call imap_cmd_free after either result. */
int imap_parse_command(const char *data, size_t len, imap_cmd *cmd, char *err, size_t errlen);
void imap_cmd_free(imap_cmd *cmd);

/* Helpers used by the session. */
/* RFC 3501 5.1.3 modified UTF-7 <-> UTF-8. Return 0, or -1 on invalid input. */
int imap_utf7_to_utf8(const char *in, buf *out);
int imap_utf8_to_utf7(const char *in, buf *out);
/* Appends s as an IMAP string: atom-safe quoted "..." or a literal {n}\r\n... */
void imap_write_string(buf *out, const char *s, size_t len);
void imap_write_nstring(buf *out, const char *s);     /* NIL for NULL */
/* IMAP date-time "dd-Mon-yyyy hh:mm:ss +zzzz" for INTERNALDATE, with the quotes
 * (day zero-padded; times outside years 1..9999 are clamped). */
void imap_format_datetime(buf *out, int64_t utc, int tz_minutes);

/* ---- Internal: shared by imap_parse.c and imap_search_parse.c ---------------------
 * Not for the session. A cursor over one framed command; every function returns 0
 * (or a length) on success, -1 after writing the first error into err. */
typedef struct imap_lex {
    const char *p;
    size_t len, pos;
    char *err;
    size_t errlen;
    int depth;                  /* nesting of parentheses / NOT / OR, <= IMAP_NEST_MAX */
} imap_lex;

int imap_lex_fail(imap_lex *lx, const char *msg);
int imap_lex_peek(const imap_lex *lx);           /* next byte, or -1 at the end */
int imap_lex_at_eol(const imap_lex *lx);         /* at CR, LF or the end */
int imap_lex_sp(imap_lex *lx);
int imap_lex_char(imap_lex *lx, char c, const char *what);
/* An atom copied into word (NUL-terminated); -1 when empty or longer than size-1. */
int imap_lex_word(imap_lex *lx, char *word, size_t size, const char *what);
int imap_lex_atom(imap_lex *lx, char **out, const char *what);
int imap_lex_astring(imap_lex *lx, char **out, const char *what);
int imap_lex_number(imap_lex *lx, uint32_t *out, const char *what);
int imap_lex_seqset(imap_lex *lx, imap_seqset *out);
int imap_lex_date(imap_lex *lx, int64_t *days);  /* search "date" -> days since epoch */
int imap_header_name_ok(const char *s);          /* RFC 5322 ftext, non-empty */
/* SEARCH arguments after the command name (or after SORT's criteria / THREAD's
 * algorithm): [SP CHARSET SP astring] 1*(SP key); with charset_required
 * (SORT, THREAD) SP astring 1*(SP key). */
int imap_search_parse(imap_lex *lx, search_node **out, char **charset, int charset_required);
/* [SP "RETURN" SP "(" [opt *(SP opt)] ")"] before the SEARCH criteria (RFC 4731,
 * RFC 5182): sets *esearch and *ret (RETURN () is ALL). */
int imap_search_parse_return(imap_lex *lx, int *esearch, unsigned *ret);

#endif
