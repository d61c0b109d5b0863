/*
 * imap_parse.c — the IMAP command grammar: a framed command in, an imap_cmd out.
 *
 * OFFERS
 *   imap_parse_command, imap_cmd_free, and the imap_lex_* cursor that
 *   imap_search_parse.c shares (see imap_parse.h, "Internal").
 *
 * GRAMMAR
 *   RFC 3501 section 9, plus MOVE (RFC 6851), IDLE (RFC 2177), UNSELECT
 *   (RFC 3691), NAMESPACE (RFC 2342), ID (RFC 2971), ENABLE (RFC 5161), LITERAL+
 *   (RFC 7888), SASL-IR (RFC 4959), UID EXPUNGE (RFC 4315), the STATUS items
 *   HIGHESTMODSEQ and SIZE, SEARCH RETURN (ESEARCH RFC 4731), "$" in sequence
 *   sets (SEARCHRES RFC 5182), SORT and THREAD (RFC 5256, SORT=DISPLAY RFC 5957,
 *   SORT RETURN: ESORT RFC 5267). Command names and keywords are case-insensitive.
 *   Deliberate leniencies: quoted strings may hold UTF-8 (valid sequences only);
 *   an APPEND date-time may have a one-digit day without the padding space;
 *   UID EXPUNGE takes a sequence-set ('*' allowed); an APPEND message may hold
 *   NUL bytes (stored byte-exact; every other literal becomes a C string, so NUL
 *   is refused there, as RFC 3501's CHAR8 says).
 *
 * PROMISES
 *   - Reads only data[0..len); any byte sequence gives 0 or -1, never a crash.
 *   - Recursion (SEARCH keys) is at most IMAP_NEST_MAX deep; every list (flags,
 *     fetch attributes, header fields, STATUS items, ID, ENABLE, SEARCH keys in
 *     one group, section part numbers) holds at most IMAP_LIST_ITEMS_MAX items.
 *     Sequence sets are bounded by the line only (mbsync sends long UID sets).
 *   - The cmd owns copies of every string, except cmd->message which points into
 *     `data`. The password and the SASL initial response are wiped when freed.
 *
 * DIAGNOSTICS
 *   -1 with a short reason (no tag, no user data) for "tag BAD <reason>".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/utf8.h"
#include "util/limits.h"
#include "mailbox/msgflags.h"
#include "imap/imap_parse.h"

/* ---- Character classes (RFC 3501 section 9) ---------------------------------------- */

static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_alpha(int c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

/* ATOM-CHAR: any CHAR except atom-specials ( ) { SP CTL % * " \ ] */
static int atom_char(int c)
{
    if (c <= 0x20 || c >= 0x7f) return 0;
    return !strchr("(){%*\"\\]", c);
}

static int astring_char(int c) { return atom_char(c) || c == ']'; }
static int list_char(int c) { return astring_char(c) || c == '%' || c == '*'; }
static int tag_char(int c) { return astring_char(c) && c != '+'; }

static void str_upper(char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z') *s = (char)(*s - 'a' + 'A');
}

/* ---- The cursor ----------------------------------------------------------------------- */

int imap_lex_fail(imap_lex *lx, const char *msg)
{
    if (lx->err && lx->errlen && !lx->err[0]) snprintf(lx->err, lx->errlen, "%s", msg);
    return -1;
}

static int lex_failf(imap_lex *lx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int lex_failf(imap_lex *lx, const char *fmt, ...)
{
    if (lx->err && lx->errlen && !lx->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(lx->err, lx->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int imap_lex_peek(const imap_lex *lx)
{
    return lx->pos < lx->len ? (unsigned char)lx->p[lx->pos] : -1;
}

int imap_lex_at_eol(const imap_lex *lx)
{
    int c = imap_lex_peek(lx);
    return c < 0 || c == '\r' || c == '\n';
}

/* Exactly one SP between arguments (RFC 3501 has no other white space). */
int imap_lex_sp(imap_lex *lx)
{
    if (imap_lex_peek(lx) == ' ') {
        lx->pos++;
        return 0;
    }
    return imap_lex_fail(lx, imap_lex_at_eol(lx) ? "missing argument" : "expected a space");
}

int imap_lex_char(imap_lex *lx, char c, const char *what)
{
    if (imap_lex_peek(lx) == (unsigned char)c) {
        lx->pos++;
        return 0;
    }
    return lex_failf(lx, "expected %s", what);
}

int imap_lex_word(imap_lex *lx, char *word, size_t size, const char *what)
{
    size_t n = 0;
    while (lx->pos < lx->len && atom_char((unsigned char)lx->p[lx->pos])) {
        if (n + 1 >= size) return lex_failf(lx, "invalid %s", what);
        word[n++] = lx->p[lx->pos++];
    }
    word[n] = '\0';
    if (n == 0) return lex_failf(lx, imap_lex_at_eol(lx) ? "missing %s" : "invalid %s", what);
    return (int)n;
}

int imap_lex_atom(imap_lex *lx, char **out, const char *what)
{
    size_t start = lx->pos;
    while (lx->pos < lx->len && atom_char((unsigned char)lx->p[lx->pos])) lx->pos++;
    if (lx->pos == start)
        return lex_failf(lx, imap_lex_at_eol(lx) ? "missing %s" : "invalid %s", what);
    *out = xstrndup(lx->p + start, lx->pos - start);
    return 0;
}

/* literal = "{" number ["+"] "}" CRLF *CHAR8; the bytes are returned in place. */
static int lex_literal(imap_lex *lx, const char **data, size_t *n, const char *what)
{
    uint64_t v = 0;
    size_t digits = 0;
    lx->pos++;                                      /* '{' */
    while (lx->pos < lx->len && is_digit((unsigned char)lx->p[lx->pos])) {
        v = v * 10 + (uint64_t)(lx->p[lx->pos++] - '0');
        if (v > UINT32_MAX) return lex_failf(lx, "literal size too large in %s", what);
        digits++;
    }
    if (!digits) return lex_failf(lx, "invalid literal in %s", what);
    if (imap_lex_peek(lx) == '+') lx->pos++;
    if (imap_lex_peek(lx) != '}') return lex_failf(lx, "invalid literal in %s", what);
    lx->pos++;
    if (imap_lex_peek(lx) == '\r') lx->pos++;
    if (imap_lex_peek(lx) != '\n') return lex_failf(lx, "literal must end the line in %s", what);
    lx->pos++;
    if (v > lx->len - lx->pos) return lex_failf(lx, "literal shorter than announced in %s", what);
    *data = lx->p + lx->pos;
    *n = (size_t)v;
    lx->pos += (size_t)v;
    return 0;
}

/* quoted = DQUOTE *QUOTED-CHAR DQUOTE, plus UTF-8. Measured first and copied
 * second, so the string (maybe a password) is written to one allocation only. */
static int lex_quoted(imap_lex *lx, char **out, const char *what)
{
    size_t i = lx->pos + 1, n = 0;
    for (;;) {
        if (i >= lx->len) return lex_failf(lx, "unterminated quoted string in %s", what);
        unsigned char c = (unsigned char)lx->p[i];
        if (c == '"') break;
        if (c == '\\') {
            if (i + 1 >= lx->len) return lex_failf(lx, "unterminated quoted string in %s", what);
            unsigned char e = (unsigned char)lx->p[i + 1];
            if (e != '"' && e != '\\') return lex_failf(lx, "invalid escape in quoted string in %s", what);
            i += 2;
            n++;
            continue;
        }
        if (c == '\r' || c == '\n') return lex_failf(lx, "unterminated quoted string in %s", what);
        if (c == 0) return lex_failf(lx, "NUL in quoted string in %s", what);
        if (c >= 0x80) {
            uint32_t cp;
            size_t k = utf8_decode((const unsigned char *)lx->p + i, lx->len - i, &cp);
            if (k == 0) return lex_failf(lx, "invalid UTF-8 in quoted string in %s", what);
            i += (size_t)k;
            n += (size_t)k;
            continue;
        }
        i++;
        n++;
    }
    char *s = xmalloc(n + 1);
    size_t j = 0;
    for (i = lx->pos + 1; lx->p[i] != '"'; i++) {
        if (lx->p[i] == '\\') i++;
        s[j++] = lx->p[i];
    }
    s[j] = '\0';
    lx->pos = i + 1;
    *out = s;
    return 0;
}

/* string = quoted / literal, as a C string (NUL refused). */
static int lex_string(imap_lex *lx, char **out, const char *what)
{
    int c = imap_lex_peek(lx);
    if (c == '"') return lex_quoted(lx, out, what);
    if (c == '{') {
        const char *d;
        size_t n;
        if (lex_literal(lx, &d, &n, what) < 0) return -1;
        if (memchr(d, 0, n)) return lex_failf(lx, "NUL in literal in %s", what);
        char *s = xmalloc(n + 1);
        memcpy(s, d, n);
        s[n] = '\0';
        *out = s;
        return 0;
    }
    return lex_failf(lx, imap_lex_at_eol(lx) ? "missing %s" : "invalid %s", what);
}

int imap_lex_astring(imap_lex *lx, char **out, const char *what)
{
    int c = imap_lex_peek(lx);
    if (c == '"' || c == '{') return lex_string(lx, out, what);
    size_t start = lx->pos;
    while (lx->pos < lx->len && astring_char((unsigned char)lx->p[lx->pos])) lx->pos++;
    if (lx->pos == start)
        return lex_failf(lx, imap_lex_at_eol(lx) ? "missing %s" : "invalid %s", what);
    *out = xstrndup(lx->p + start, lx->pos - start);
    return 0;
}

/* nstring = string / "NIL" */
static int lex_nstring(imap_lex *lx, char **out, const char *what)
{
    if (lx->len - lx->pos >= 3 && !strncasecmp(lx->p + lx->pos, "NIL", 3) &&
        (lx->pos + 3 == lx->len || !atom_char((unsigned char)lx->p[lx->pos + 3]))) {
        lx->pos += 3;
        *out = NULL;
        return 0;
    }
    return lex_string(lx, out, what);
}

/* number = 1*DIGIT, an unsigned 32-bit value; nz: digit-nz *DIGIT. */
static int lex_number(imap_lex *lx, uint32_t *out, int nz, const char *what)
{
    uint64_t v = 0;
    if (lx->pos >= lx->len || !is_digit((unsigned char)lx->p[lx->pos]))
        return lex_failf(lx, imap_lex_at_eol(lx) ? "missing %s" : "invalid %s", what);
    if (nz && lx->p[lx->pos] == '0') return lex_failf(lx, "invalid %s (zero)", what);
    while (lx->pos < lx->len && is_digit((unsigned char)lx->p[lx->pos])) {
        v = v * 10 + (uint64_t)(lx->p[lx->pos++] - '0');
        if (v > UINT32_MAX) return lex_failf(lx, "%s too large", what);
    }
    *out = (uint32_t)v;
    return 0;
}

int imap_lex_number(imap_lex *lx, uint32_t *out, const char *what)
{
    return lex_number(lx, out, 0, what);
}

static int lex_seqnum(imap_lex *lx, uint32_t *v)
{
    if (imap_lex_peek(lx) == '*') {
        lx->pos++;
        *v = IMAP_SEQ_STAR;
        return 0;
    }
    if (lex_number(lx, v, 1, "sequence set") < 0) return -1;
    /* IMAP_SEQ_STAR (UINT32_MAX) means '*'. No message ever has the uid or the
     * sequence number 4294967295 (the store stops assigning uids below it), so
     * a client's 4294967295 selects exactly what 4294967294 does. */
    if (*v == IMAP_SEQ_STAR) *v = IMAP_SEQ_STAR - 1;
    return 0;
}

int imap_lex_seqset(imap_lex *lx, imap_seqset *out)
{
    size_t cap = 0;
    if (imap_lex_peek(lx) == '$') {
        /* seq-last-command (RFC 5182 3): "$" stands alone, never in a list. */
        lx->pos++;
        out->last = 1;
        int c = imap_lex_peek(lx);
        if (c != ' ' && c != ')' && !imap_lex_at_eol(lx)) return imap_lex_fail(lx, "invalid sequence set");
        return 0;
    }
    for (;;) {
        uint32_t a, b;
        if (lex_seqnum(lx, &a) < 0) return -1;
        b = a;
        if (imap_lex_peek(lx) == ':') {
            lx->pos++;
            if (lex_seqnum(lx, &b) < 0) return -1;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 4;
            out->r = xrealloc(out->r, cap * sizeof *out->r);
        }
        out->r[out->n].lo = a < b ? a : b;
        out->r[out->n].hi = a < b ? b : a;
        out->n++;
        if (imap_lex_peek(lx) != ',') break;
        lx->pos++;
    }
    int c = imap_lex_peek(lx);
    if (c != ' ' && c != ')' && !imap_lex_at_eol(lx)) return imap_lex_fail(lx, "invalid sequence set");
    return 0;
}

/* ---- Dates ------------------------------------------------------------------------------ */

static const char month_names[12][4] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

static int lex_month(imap_lex *lx)
{
    if (lx->len - lx->pos < 3) return -1;
    for (int m = 0; m < 12; m++)
        if (!strncasecmp(lx->p + lx->pos, month_names[m], 3)) {
            lx->pos += 3;
            return m + 1;
        }
    return -1;
}

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int64_t y, int m)
{
    static const int dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return dm[m - 1] + (m == 2 && is_leap(y));
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0))) q--;
    return q;
}

/* Leap years in [1, y] (negative for y < 0), proleptic Gregorian. */
static int64_t leaps_through(int64_t y)
{
    return floor_div(y, 4) - floor_div(y, 100) + floor_div(y, 400);
}

/* Days from 1970-01-01 to y-m-d (m 1..12, d valid). */
static int64_t days_from_date(int64_t y, int m, int d)
{
    static const int before[12] = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334 };
    int64_t days = (y - 1970) * 365 + leaps_through(y - 1) - leaps_through(1969);
    return days + before[m - 1] + (m > 2 && is_leap(y)) + d - 1;
}

static int lex_digits(imap_lex *lx, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        int c = imap_lex_peek(lx);
        if (!is_digit(c)) return -1;
        v = v * 10 + (c - '0');
        lx->pos++;
    }
    *out = v;
    return 0;
}

/* date = date-text / DQUOTE date-text DQUOTE; date-text = 1*2DIGIT "-" Mon "-" 4DIGIT */
int imap_lex_date(imap_lex *lx, int64_t *days)
{
    int quoted = imap_lex_peek(lx) == '"';
    int day, month, year;
    if (quoted) lx->pos++;
    if (lex_digits(lx, 1, &day) < 0) goto bad;
    if (is_digit(imap_lex_peek(lx))) day = day * 10 + (lx->p[lx->pos++] - '0');
    if (imap_lex_peek(lx) != '-') goto bad;
    lx->pos++;
    if ((month = lex_month(lx)) < 0) goto bad;
    if (imap_lex_peek(lx) != '-') goto bad;
    lx->pos++;
    if (lex_digits(lx, 4, &year) < 0) goto bad;
    if (quoted) {
        if (imap_lex_peek(lx) != '"') goto bad;
        lx->pos++;
    }
    if (day < 1 || day > days_in_month(year, month)) goto bad;
    *days = days_from_date(year, month, day);
    return 0;
bad:
    return imap_lex_fail(lx, "invalid date");
}

/* date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE */
static int lex_datetime(imap_lex *lx, int64_t *utc, int *tz)
{
    int day, month, year, hh, mm, ss, zh, zm;
    if (imap_lex_peek(lx) != '"') goto bad;
    lx->pos++;
    if (imap_lex_peek(lx) == ' ') {
        lx->pos++;
        if (lex_digits(lx, 1, &day) < 0) goto bad;
    } else {
        if (lex_digits(lx, 1, &day) < 0) goto bad;
        if (is_digit(imap_lex_peek(lx))) day = day * 10 + (lx->p[lx->pos++] - '0');
    }
    if (imap_lex_char(lx, '-', "") < 0) goto bad;
    if ((month = lex_month(lx)) < 0) goto bad;
    if (imap_lex_char(lx, '-', "") < 0) goto bad;
    if (lex_digits(lx, 4, &year) < 0) goto bad;
    if (imap_lex_char(lx, ' ', "") < 0) goto bad;
    if (lex_digits(lx, 2, &hh) < 0 || imap_lex_char(lx, ':', "") < 0) goto bad;
    if (lex_digits(lx, 2, &mm) < 0 || imap_lex_char(lx, ':', "") < 0) goto bad;
    if (lex_digits(lx, 2, &ss) < 0 || imap_lex_char(lx, ' ', "") < 0) goto bad;
    int sign = imap_lex_peek(lx);
    if (sign != '+' && sign != '-') goto bad;
    lx->pos++;
    if (lex_digits(lx, 2, &zh) < 0 || lex_digits(lx, 2, &zm) < 0) goto bad;
    if (imap_lex_char(lx, '"', "") < 0) goto bad;
    if (day < 1 || day > days_in_month(year, month) || hh > 23 || mm > 59 || ss > 60 ||
        zh > 23 || zm > 59)
        goto bad;
    *tz = (sign == '-' ? -1 : 1) * (zh * 60 + zm);
    *utc = days_from_date(year, month, day) * 86400 + hh * 3600 + mm * 60 + ss - (int64_t)*tz * 60;
    return 0;
bad:
    if (lx->err) lx->err[0] = '\0';     /* replace the "expected" from imap_lex_char */
    return imap_lex_fail(lx, "invalid date-time");
}

/* ---- Shared argument shapes ----------------------------------------------------------- */

int imap_header_name_ok(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 33 || c > 126 || c == ':') return 0;
    }
    return 1;
}

static void list_push(char ***v, size_t *n, char *s)
{
    /* Grows by doubling at powers of two; lists are bounded by IMAP_LIST_ITEMS_MAX. */
    if ((*n & (*n - 1)) == 0) *v = xrealloc(*v, (*n ? *n * 2 : 1) * sizeof **v);
    (*v)[(*n)++] = s;
}

/* flag in STORE / APPEND: a system flag as a bit, \Recent noted, a keyword as a name. */
static int lex_flag(imap_lex *lx, imap_cmd *cmd, size_t *count)
{
    static const struct { const char *name; uint32_t bit; } sys[] = {
        { "Seen", MSG_FLAG_SEEN }, { "Answered", MSG_FLAG_ANSWERED },
        { "Flagged", MSG_FLAG_FLAGGED }, { "Deleted", MSG_FLAG_DELETED },
        { "Draft", MSG_FLAG_DRAFT },
    };
    char word[32];
    if (++*count > IMAP_LIST_ITEMS_MAX) return imap_lex_fail(lx, "too many flags");
    if (imap_lex_peek(lx) == '\\') {
        lx->pos++;
        if (imap_lex_word(lx, word, sizeof word, "flag") < 0) return -1;
        for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
            if (!strcasecmp(word, sys[i].name)) {
                cmd->flags |= sys[i].bit;
                return 0;
            }
        if (!strcasecmp(word, "Recent")) {
            cmd->flag_recent = 1;
            return 0;
        }
        return imap_lex_fail(lx, "unsupported system flag");
    }
    char *kw;
    if (imap_lex_atom(lx, &kw, "flag") < 0) return -1;
    if (strlen(kw) > IMAP_KEYWORD_LEN_MAX) {
        free(kw);
        return imap_lex_fail(lx, "keyword too long");
    }
    list_push(&cmd->keywords, &cmd->nkeywords, kw);
    return 0;
}

/* flag-list = "(" [flag *(SP flag)] ")" */
static int lex_flag_list(imap_lex *lx, imap_cmd *cmd)
{
    size_t count = 0;
    if (imap_lex_char(lx, '(', "flag list") < 0) return -1;
    if (imap_lex_peek(lx) == ')') {
        lx->pos++;
        return 0;
    }
    for (;;) {
        if (lex_flag(lx, cmd, &count) < 0) return -1;
        if (imap_lex_peek(lx) == ')') {
            lx->pos++;
            return 0;
        }
        if (imap_lex_sp(lx) < 0) return -1;
    }
}

static int lex_mailbox(imap_lex *lx, char **out)
{
    return imap_lex_astring(lx, out, "mailbox name");
}

/* ---- Commands --------------------------------------------------------------------------- */

typedef int (*cmd_parser)(imap_lex *lx, imap_cmd *cmd);

static int parse_none(imap_lex *lx, imap_cmd *cmd)
{
    return 0;
}

static int is_base64_or_pad(const char *s)
{
    size_t n = strlen(s), pad = 0;
    if (!strcmp(s, "=")) return 1;                      /* an empty initial response */
    if (n == 0 || n % 4) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad || !(is_alpha(c) || is_digit(c) || c == '+' || c == '/')) return 0;
    }
    return pad <= 2;
}

/* authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")] (RFC 4959) */
static int parse_authenticate(imap_lex *lx, imap_cmd *cmd)
{
    if (imap_lex_sp(lx) < 0 || imap_lex_atom(lx, &cmd->mechanism, "mechanism") < 0) return -1;
    str_upper(cmd->mechanism);
    if (imap_lex_peek(lx) != ' ') return 0;
    lx->pos++;
    size_t start = lx->pos;
    while (lx->pos < lx->len && !imap_lex_at_eol(lx) && lx->p[lx->pos] != ' ') lx->pos++;
    cmd->initial_response = xstrndup(lx->p + start, lx->pos - start);
    if (!is_base64_or_pad(cmd->initial_response)) return imap_lex_fail(lx, "invalid initial response");
    return 0;
}

static int parse_login(imap_lex *lx, imap_cmd *cmd)
{
    if (imap_lex_sp(lx) < 0 || imap_lex_astring(lx, &cmd->user, "user name") < 0) return -1;
    if (imap_lex_sp(lx) < 0 || imap_lex_astring(lx, &cmd->password, "password") < 0) return -1;
    return 0;
}

static int parse_mailbox(imap_lex *lx, imap_cmd *cmd)
{
    if (imap_lex_sp(lx) < 0) return -1;
    return lex_mailbox(lx, &cmd->mailbox);
}

static int parse_rename(imap_lex *lx, imap_cmd *cmd)
{
    if (imap_lex_sp(lx) < 0 || lex_mailbox(lx, &cmd->mailbox) < 0) return -1;
    if (imap_lex_sp(lx) < 0) return -1;
    return lex_mailbox(lx, &cmd->mailbox2);
}

/* list = "LIST" SP mailbox SP list-mailbox; list-mailbox = 1*list-char / string */
static int parse_list(imap_lex *lx, imap_cmd *cmd)
{
    if (imap_lex_sp(lx) < 0 || lex_mailbox(lx, &cmd->reference) < 0) return -1;
    if (imap_lex_sp(lx) < 0) return -1;
    int c = imap_lex_peek(lx);
    if (c == '"' || c == '{') return lex_string(lx, &cmd->pattern, "mailbox pattern");
    size_t start = lx->pos;
    while (lx->pos < lx->len && list_char((unsigned char)lx->p[lx->pos])) lx->pos++;
    if (lx->pos == start)
        return imap_lex_fail(lx, imap_lex_at_eol(lx) ? "missing mailbox pattern" : "invalid mailbox pattern");
    cmd->pattern = xstrndup(lx->p + start, lx->pos - start);
    return 0;
}

/* status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")" */
static int parse_status(imap_lex *lx, imap_cmd *cmd)
{
    static const struct { const char *name; unsigned bit; } items[] = {
        { "MESSAGES", IMAP_STATUS_MESSAGES }, { "RECENT", IMAP_STATUS_RECENT },
        { "UIDNEXT", IMAP_STATUS_UIDNEXT }, { "UIDVALIDITY", IMAP_STATUS_UIDVALIDITY },
        { "UNSEEN", IMAP_STATUS_UNSEEN }, { "HIGHESTMODSEQ", IMAP_STATUS_HIGHESTMODSEQ },
        { "SIZE", IMAP_STATUS_SIZE }, { "APPENDLIMIT", IMAP_STATUS_APPENDLIMIT },
    };
    char word[32];
    size_t count = 0;
    if (imap_lex_sp(lx) < 0 || lex_mailbox(lx, &cmd->mailbox) < 0) return -1;
    if (imap_lex_sp(lx) < 0 || imap_lex_char(lx, '(', "( before status items") < 0) return -1;
    for (;;) {
        if (++count > IMAP_LIST_ITEMS_MAX) return imap_lex_fail(lx, "too many status items");
        if (imap_lex_word(lx, word, sizeof word, "status item") < 0) return -1;
        size_t i;
        for (i = 0; i < sizeof items / sizeof items[0]; i++)
            if (!strcasecmp(word, items[i].name)) break;
        if (i == sizeof items / sizeof items[0]) return imap_lex_fail(lx, "unknown status item");
        cmd->status_items |= items[i].bit;
        if (imap_lex_peek(lx) == ')') {
            lx->pos++;
            return 0;
        }
        if (imap_lex_sp(lx) < 0) return -1;
    }
}

/* append = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal */
static int parse_append(imap_lex *lx, imap_cmd *cmd)
{
    if (imap_lex_sp(lx) < 0 || lex_mailbox(lx, &cmd->mailbox) < 0) return -1;
    if (imap_lex_sp(lx) < 0) return -1;
    if (imap_lex_peek(lx) == '(') {
        if (lex_flag_list(lx, cmd) < 0 || imap_lex_sp(lx) < 0) return -1;
    }
    if (imap_lex_peek(lx) == '"') {
        if (lex_datetime(lx, &cmd->date, &cmd->date_tz) < 0 || imap_lex_sp(lx) < 0) return -1;
        cmd->has_date = 1;
    }
    if (imap_lex_peek(lx) != '{')
        return imap_lex_fail(lx, imap_lex_at_eol(lx) ? "missing message literal" : "expected the message as a literal");
    return lex_literal(lx, &cmd->message, &cmd->message_len, "message");
}

static int parse_copy(imap_lex *lx, imap_cmd *cmd)
{
    if (imap_lex_sp(lx) < 0 || imap_lex_seqset(lx, &cmd->seq) < 0) return -1;
    if (imap_lex_sp(lx) < 0) return -1;
    return lex_mailbox(lx, &cmd->mailbox);
}

static int parse_seqset_only(imap_lex *lx, imap_cmd *cmd)
{
    if (imap_lex_sp(lx) < 0) return -1;
    return imap_lex_seqset(lx, &cmd->seq);
}

/* store = "STORE" SP sequence-set SP store-att-flags
 * store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag))) */
static int parse_store(imap_lex *lx, imap_cmd *cmd)
{
    char word[32];
    if (imap_lex_sp(lx) < 0 || imap_lex_seqset(lx, &cmd->seq) < 0) return -1;
    if (imap_lex_sp(lx) < 0 || imap_lex_word(lx, word, sizeof word, "store item") < 0) return -1;
    const char *w = word;
    if (*w == '+') cmd->store_mode = 1, w++;
    else if (*w == '-') cmd->store_mode = -1, w++;
    if (!strcasecmp(w, "FLAGS.SILENT")) cmd->store_silent = 1;
    else if (strcasecmp(w, "FLAGS")) return imap_lex_fail(lx, "unknown store item");
    if (imap_lex_sp(lx) < 0) return -1;
    if (imap_lex_peek(lx) == '(') return lex_flag_list(lx, cmd);
    size_t count = 0;
    for (;;) {
        if (lex_flag(lx, cmd, &count) < 0) return -1;
        if (imap_lex_peek(lx) != ' ') return 0;
        lx->pos++;
    }
}

/* ---- FETCH -------------------------------------------------------------------------------- */

static void att_free(imap_fetch_att *a)
{
    free(a->part);
    for (size_t i = 0; i < a->nfields; i++) free(a->fields[i]);
    free(a->fields);
    free(a->name);
}

/* A header field name in a response item name: an atom when it is one, else quoted
 * (imap_header_name_ok admits no CTL or 8-bit, so quoting always works). ']' is
 * quoted too, so that a client's scan for the end of the section is not misled. */
static void put_field_name(buf *b, const char *f)
{
    int atom = 1;
    for (const char *s = f; *s; s++)
        if (!atom_char((unsigned char)*s)) atom = 0;
    if (atom) {
        buf_puts(b, f);
        return;
    }
    buf_putc(b, '"');
    for (const char *s = f; *s; s++) {
        if (*s == '"' || *s == '\\') buf_putc(b, '\\');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

static const char *spec_text(imap_section_spec s)
{
    switch (s) {
    case IMAP_SECTION_HEADER: return "HEADER";
    case IMAP_SECTION_HEADER_FIELDS: return "HEADER.FIELDS";
    case IMAP_SECTION_HEADER_FIELDS_NOT: return "HEADER.FIELDS.NOT";
    case IMAP_SECTION_TEXT: return "TEXT";
    case IMAP_SECTION_MIME: return "MIME";
    case IMAP_SECTION_ALL: break;
    }
    return "";
}

/* The response item name (RFC 3501 7.4.2): BODY[section]<origin>, never .PEEK. */
static char *section_name(const imap_fetch_att *a)
{
    buf b = BUF_INIT;
    buf_puts(&b, "BODY[");
    buf_puts(&b, a->part);
    if (a->spec != IMAP_SECTION_ALL) {
        if (a->part[0]) buf_putc(&b, '.');
        buf_puts(&b, spec_text(a->spec));
    }
    if (a->nfields) {
        buf_puts(&b, " (");
        for (size_t i = 0; i < a->nfields; i++) {
            if (i) buf_putc(&b, ' ');
            put_field_name(&b, a->fields[i]);
        }
        buf_putc(&b, ')');
    }
    buf_putc(&b, ']');
    if (a->partial) buf_printf(&b, "<%u>", a->partial_off);
    return buf_steal(&b, NULL);
}

/* header-list = "(" header-fld-name *(SP header-fld-name) ")" */
static int lex_header_list(imap_lex *lx, imap_fetch_att *a)
{
    if (imap_lex_sp(lx) < 0 || imap_lex_char(lx, '(', "( before header field names") < 0) return -1;
    for (;;) {
        char *f;
        if (a->nfields >= IMAP_LIST_ITEMS_MAX) return imap_lex_fail(lx, "too many header fields");
        if (imap_lex_astring(lx, &f, "header field name") < 0) return -1;
        list_push(&a->fields, &a->nfields, f);
        if (!imap_header_name_ok(f)) return imap_lex_fail(lx, "invalid header field name");
        str_upper(f);
        if (imap_lex_peek(lx) == ')') {
            lx->pos++;
            return 0;
        }
        if (imap_lex_sp(lx) < 0) return -1;
    }
}

/* section = "[" [section-spec] "]" ["<" number "." nz-number ">"] */
static int lex_section(imap_lex *lx, imap_fetch_att *a)
{
    buf part = BUF_INIT;
    size_t nparts = 0;
    char word[32];
    lx->pos++;                                          /* '[' */
    while (is_digit(imap_lex_peek(lx))) {
        uint32_t v;
        if (++nparts > IMAP_LIST_ITEMS_MAX) {
            imap_lex_fail(lx, "section part too deep");
            goto fail;
        }
        if (lex_number(lx, &v, 1, "section part") < 0) goto fail;
        if (part.len) buf_putc(&part, '.');
        buf_printf(&part, "%u", v);
        if (imap_lex_peek(lx) != '.') break;
        lx->pos++;
        if (!is_digit(imap_lex_peek(lx)) && !is_alpha(imap_lex_peek(lx))) {
            imap_lex_fail(lx, "invalid section");
            goto fail;
        }
    }
    a->part = buf_steal(&part, NULL);
    a->spec = IMAP_SECTION_ALL;
    if (is_alpha(imap_lex_peek(lx))) {
        size_t n = 0;
        while (is_alpha(imap_lex_peek(lx)) || imap_lex_peek(lx) == '.') {
            if (n + 1 >= sizeof word) return imap_lex_fail(lx, "invalid section");
            word[n++] = lx->p[lx->pos++];
        }
        word[n] = '\0';
        if (!strcasecmp(word, "HEADER")) a->spec = IMAP_SECTION_HEADER;
        else if (!strcasecmp(word, "HEADER.FIELDS")) a->spec = IMAP_SECTION_HEADER_FIELDS;
        else if (!strcasecmp(word, "HEADER.FIELDS.NOT")) a->spec = IMAP_SECTION_HEADER_FIELDS_NOT;
        else if (!strcasecmp(word, "TEXT")) a->spec = IMAP_SECTION_TEXT;
        else if (!strcasecmp(word, "MIME") && a->part[0]) a->spec = IMAP_SECTION_MIME;
        else if (!strcasecmp(word, "MIME")) return imap_lex_fail(lx, "MIME needs a part number");
        else return imap_lex_fail(lx, "invalid section");
        if (a->spec == IMAP_SECTION_HEADER_FIELDS || a->spec == IMAP_SECTION_HEADER_FIELDS_NOT)
            if (lex_header_list(lx, a) < 0) return -1;
    }
    if (imap_lex_char(lx, ']', "] after section") < 0) return -1;
    if (imap_lex_peek(lx) == '<') {
        lx->pos++;
        if (lex_number(lx, &a->partial_off, 0, "partial offset") < 0) return -1;
        if (imap_lex_char(lx, '.', ". in partial") < 0) return -1;
        if (lex_number(lx, &a->partial_len, 1, "partial length") < 0) return -1;
        if (imap_lex_char(lx, '>', "> after partial") < 0) return -1;
        a->partial = 1;
    }
    return 0;
fail:
    buf_free(&part);
    return -1;
}

static int lex_fetch_att(imap_lex *lx, imap_fetch_att *a)
{
    static const struct { const char *word; imap_fetch_kind kind; } simple[] = {
        { "ENVELOPE", IMAP_FETCH_ENVELOPE }, { "FLAGS", IMAP_FETCH_FLAGS },
        { "INTERNALDATE", IMAP_FETCH_INTERNALDATE }, { "RFC822", IMAP_FETCH_RFC822 },
        { "RFC822.HEADER", IMAP_FETCH_RFC822_HEADER }, { "RFC822.SIZE", IMAP_FETCH_RFC822_SIZE },
        { "RFC822.TEXT", IMAP_FETCH_RFC822_TEXT }, { "BODY", IMAP_FETCH_BODY },
        { "BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE }, { "UID", IMAP_FETCH_UID },
    };
    char word[32];
    size_t n = 0;
    while (is_alpha(imap_lex_peek(lx)) || is_digit(imap_lex_peek(lx)) || imap_lex_peek(lx) == '.') {
        if (n + 1 >= sizeof word) return imap_lex_fail(lx, "unknown fetch attribute");
        word[n++] = lx->p[lx->pos++];
    }
    word[n] = '\0';
    if (n == 0)
        return imap_lex_fail(lx, imap_lex_at_eol(lx) ? "missing fetch attribute" : "invalid fetch attribute");
    int peek = !strcasecmp(word, "BODY.PEEK");
    if ((peek || !strcasecmp(word, "BODY")) && imap_lex_peek(lx) == '[') {
        a->kind = IMAP_FETCH_SECTION;
        a->peek = peek;
        if (lex_section(lx, a) < 0) return -1;
        a->name = section_name(a);
        return 0;
    }
    if (peek) return imap_lex_fail(lx, "BODY.PEEK needs a section");
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        if (strcasecmp(word, simple[i].word)) continue;
        a->kind = simple[i].kind;
        a->name = xstrdup(simple[i].word);
        if (a->kind == IMAP_FETCH_RFC822 || a->kind == IMAP_FETCH_RFC822_HEADER ||
            a->kind == IMAP_FETCH_RFC822_TEXT) {
            a->part = xstrdup("");
            a->spec = a->kind == IMAP_FETCH_RFC822 ? IMAP_SECTION_ALL
                    : a->kind == IMAP_FETCH_RFC822_HEADER ? IMAP_SECTION_HEADER : IMAP_SECTION_TEXT;
            a->peek = a->kind == IMAP_FETCH_RFC822_HEADER;
        }
        return 0;
    }
    return imap_lex_fail(lx, "unknown fetch attribute");
}

static imap_fetch_att *add_att(imap_cmd *cmd)
{
    if ((cmd->natts & (cmd->natts - 1)) == 0)
        cmd->atts = xrealloc(cmd->atts, (cmd->natts ? cmd->natts * 2 : 1) * sizeof *cmd->atts);
    imap_fetch_att *a = &cmd->atts[cmd->natts++];
    memset(a, 0, sizeof *a);
    return a;
}

static void add_simple_att(imap_cmd *cmd, imap_fetch_kind kind, const char *name)
{
    imap_fetch_att *a = add_att(cmd);
    a->kind = kind;
    a->name = xstrdup(name);
}

/* fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
 *         "(" fetch-att *(SP fetch-att) ")") */
static int parse_fetch(imap_lex *lx, imap_cmd *cmd)
{
    if (imap_lex_sp(lx) < 0 || imap_lex_seqset(lx, &cmd->seq) < 0) return -1;
    if (imap_lex_sp(lx) < 0) return -1;
    if (imap_lex_peek(lx) == '(') {
        lx->pos++;
        for (;;) {
            if (cmd->natts >= IMAP_LIST_ITEMS_MAX) return imap_lex_fail(lx, "too many fetch attributes");
            if (lex_fetch_att(lx, add_att(cmd)) < 0) return -1;
            if (imap_lex_peek(lx) == ')') {
                lx->pos++;
                return 0;
            }
            if (imap_lex_sp(lx) < 0) return -1;
        }
    }
    static const struct { const char *word; int envelope, body; } macros[] = {
        { "ALL", 1, 0 }, { "FAST", 0, 0 }, { "FULL", 1, 1 },
    };
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(macros[i].word);
        if (lx->len - lx->pos < n || strncasecmp(lx->p + lx->pos, macros[i].word, n)) continue;
        if (lx->pos + n < lx->len && atom_char((unsigned char)lx->p[lx->pos + n])) continue;
        lx->pos += n;
        add_simple_att(cmd, IMAP_FETCH_FLAGS, "FLAGS");
        add_simple_att(cmd, IMAP_FETCH_INTERNALDATE, "INTERNALDATE");
        add_simple_att(cmd, IMAP_FETCH_RFC822_SIZE, "RFC822.SIZE");
        if (macros[i].envelope) add_simple_att(cmd, IMAP_FETCH_ENVELOPE, "ENVELOPE");
        if (macros[i].body) add_simple_att(cmd, IMAP_FETCH_BODY, "BODY");
        return 0;
    }
    return lex_fetch_att(lx, add_att(cmd));
}

/* ---- Other extensions ----------------------------------------------------------------------- */

/* search = "SEARCH" [search-return-opts] SP search-criteria (RFC 4731 3) */
static int parse_search(imap_lex *lx, imap_cmd *cmd)
{
    if (imap_search_parse_return(lx, &cmd->esearch, &cmd->search_return) < 0) return -1;
    return imap_search_parse(lx, &cmd->search, &cmd->charset, 0);
}

/* sort = ["UID" SP] "SORT" [search-return-opts] SP sort-criteria SP search-criteria
 * (RFC 5256 4, RETURN: ESORT RFC 5267)
 * sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"
 * sort-criterion = ["REVERSE" SP] sort-key (DISPLAYFROM/DISPLAYTO: RFC 5957) */
static int parse_sort(imap_lex *lx, imap_cmd *cmd)
{
    static const struct { const char *word; imap_sort_key key; } keys[] = {
        { "ARRIVAL", IMAP_SORT_ARRIVAL }, { "CC", IMAP_SORT_CC }, { "DATE", IMAP_SORT_DATE },
        { "FROM", IMAP_SORT_FROM }, { "SIZE", IMAP_SORT_SIZE }, { "SUBJECT", IMAP_SORT_SUBJECT },
        { "TO", IMAP_SORT_TO }, { "DISPLAYFROM", IMAP_SORT_DISPLAYFROM },
        { "DISPLAYTO", IMAP_SORT_DISPLAYTO },
    };
    char word[16];
    /* ESORT (RFC 5267 3): sort = ["UID" SP] "SORT" [search-return-opts] SP ... */
    if (imap_search_parse_return(lx, &cmd->esearch, &cmd->search_return) < 0) return -1;
    if (imap_lex_sp(lx) < 0 || imap_lex_char(lx, '(', "( before sort criteria") < 0) return -1;
    for (;;) {
        int reverse = 0;
        if (cmd->nsort >= IMAP_LIST_ITEMS_MAX) return imap_lex_fail(lx, "too many sort criteria");
        if (imap_lex_word(lx, word, sizeof word, "sort criterion") < 0) return -1;
        if (!strcasecmp(word, "REVERSE")) {
            reverse = 1;
            if (imap_lex_sp(lx) < 0 || imap_lex_word(lx, word, sizeof word, "sort criterion") < 0) return -1;
        }
        size_t i;
        for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (!strcasecmp(word, keys[i].word)) break;
        if (i == sizeof keys / sizeof keys[0]) return imap_lex_fail(lx, "unknown sort criterion");
        if ((cmd->nsort & (cmd->nsort - 1)) == 0)
            cmd->sort = xrealloc(cmd->sort, (cmd->nsort ? cmd->nsort * 2 : 1) * sizeof *cmd->sort);
        cmd->sort[cmd->nsort].key = keys[i].key;
        cmd->sort[cmd->nsort].reverse = reverse;
        cmd->nsort++;
        if (imap_lex_peek(lx) == ')') {
            lx->pos++;
            break;
        }
        if (imap_lex_sp(lx) < 0) return -1;
    }
    return imap_search_parse(lx, &cmd->search, &cmd->charset, 1);
}

/* thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria (RFC 5256 4) */
static int parse_thread(imap_lex *lx, imap_cmd *cmd)
{
    char word[32];
    if (imap_lex_sp(lx) < 0 || imap_lex_word(lx, word, sizeof word, "thread algorithm") < 0) return -1;
    if (!strcasecmp(word, "ORDEREDSUBJECT")) cmd->thread = IMAP_THREAD_ORDEREDSUBJECT;
    else if (!strcasecmp(word, "REFERENCES")) cmd->thread = IMAP_THREAD_REFERENCES;
    else return imap_lex_fail(lx, "unknown thread algorithm");
    return imap_search_parse(lx, &cmd->search, &cmd->charset, 1);
}

/* id = "ID" SP id_params_list; id_params_list = "(" #(string SP nstring) ")" / nil */
static int parse_id(imap_lex *lx, imap_cmd *cmd)
{
    if (imap_lex_sp(lx) < 0) return -1;
    if (imap_lex_peek(lx) != '(') {
        char *nil;
        if (lex_nstring(lx, &nil, "ID parameters") < 0) return -1;
        if (nil) {
            free(nil);
            return imap_lex_fail(lx, "invalid ID parameters");
        }
        return 0;
    }
    lx->pos++;
    if (imap_lex_peek(lx) == ')') {
        lx->pos++;
        return 0;
    }
    for (;;) {
        char *s;
        if (cmd->nparams >= 2 * IMAP_LIST_ITEMS_MAX) return imap_lex_fail(lx, "too many ID parameters");
        if (lex_string(lx, &s, "ID field") < 0) return -1;
        list_push(&cmd->params, &cmd->nparams, s);
        if (imap_lex_sp(lx) < 0) return -1;
        if (lex_nstring(lx, &s, "ID value") < 0) return -1;
        list_push(&cmd->params, &cmd->nparams, s);
        if (imap_lex_peek(lx) == ')') {
            lx->pos++;
            return 0;
        }
        if (imap_lex_sp(lx) < 0) return -1;
    }
}

/* enable = "ENABLE" 1*(SP capability) */
static int parse_enable(imap_lex *lx, imap_cmd *cmd)
{
    do {
        char *s;
        if (cmd->nparams >= IMAP_LIST_ITEMS_MAX) return imap_lex_fail(lx, "too many capabilities");
        if (imap_lex_sp(lx) < 0 || imap_lex_atom(lx, &s, "capability") < 0) return -1;
        str_upper(s);
        list_push(&cmd->params, &cmd->nparams, s);
    } while (imap_lex_peek(lx) == ' ');
    return 0;
}

/* ---- Dispatch ---------------------------------------------------------------------------- */

static const struct cmd_def {
    const char *word;
    imap_cmd_kind kind;
    cmd_parser parse;
    const char *uid_name;           /* allowed after UID with this canonical name */
    cmd_parser uid_parse;
} cmd_defs[] = {
    { "CAPABILITY", IMAP_CMD_CAPABILITY, parse_none, NULL, NULL },
    { "NOOP", IMAP_CMD_NOOP, parse_none, NULL, NULL },
    { "LOGOUT", IMAP_CMD_LOGOUT, parse_none, NULL, NULL },
    { "STARTTLS", IMAP_CMD_STARTTLS, parse_none, NULL, NULL },
    { "AUTHENTICATE", IMAP_CMD_AUTHENTICATE, parse_authenticate, NULL, NULL },
    { "LOGIN", IMAP_CMD_LOGIN, parse_login, NULL, NULL },
    { "SELECT", IMAP_CMD_SELECT, parse_mailbox, NULL, NULL },
    { "EXAMINE", IMAP_CMD_EXAMINE, parse_mailbox, NULL, NULL },
    { "CREATE", IMAP_CMD_CREATE, parse_mailbox, NULL, NULL },
    { "DELETE", IMAP_CMD_DELETE, parse_mailbox, NULL, NULL },
    { "RENAME", IMAP_CMD_RENAME, parse_rename, NULL, NULL },
    { "SUBSCRIBE", IMAP_CMD_SUBSCRIBE, parse_mailbox, NULL, NULL },
    { "UNSUBSCRIBE", IMAP_CMD_UNSUBSCRIBE, parse_mailbox, NULL, NULL },
    { "LIST", IMAP_CMD_LIST, parse_list, NULL, NULL },
    { "LSUB", IMAP_CMD_LSUB, parse_list, NULL, NULL },
    { "STATUS", IMAP_CMD_STATUS, parse_status, NULL, NULL },
    { "APPEND", IMAP_CMD_APPEND, parse_append, NULL, NULL },
    { "CHECK", IMAP_CMD_CHECK, parse_none, NULL, NULL },
    { "CLOSE", IMAP_CMD_CLOSE, parse_none, NULL, NULL },
    { "EXPUNGE", IMAP_CMD_EXPUNGE, parse_none, "UID EXPUNGE", parse_seqset_only },
    { "SEARCH", IMAP_CMD_SEARCH, parse_search, "UID SEARCH", parse_search },
    { "FETCH", IMAP_CMD_FETCH, parse_fetch, "UID FETCH", parse_fetch },
    { "STORE", IMAP_CMD_STORE, parse_store, "UID STORE", parse_store },
    { "COPY", IMAP_CMD_COPY, parse_copy, "UID COPY", parse_copy },
    { "MOVE", IMAP_CMD_MOVE, parse_copy, "UID MOVE", parse_copy },
    { "IDLE", IMAP_CMD_IDLE, parse_none, NULL, NULL },
    { "UNSELECT", IMAP_CMD_UNSELECT, parse_none, NULL, NULL },
    { "NAMESPACE", IMAP_CMD_NAMESPACE, parse_none, NULL, NULL },
    { "ID", IMAP_CMD_ID, parse_id, NULL, NULL },
    { "ENABLE", IMAP_CMD_ENABLE, parse_enable, NULL, NULL },
    { "SORT", IMAP_CMD_SORT, parse_sort, "UID SORT", parse_sort },
    { "THREAD", IMAP_CMD_THREAD, parse_thread, "UID THREAD", parse_thread },
    { "XBACKUP", IMAP_CMD_XBACKUP, parse_none, NULL, NULL },
};

static const struct cmd_def *cmd_lookup(const char *word)
{
    for (size_t i = 0; i < sizeof cmd_defs / sizeof cmd_defs[0]; i++)
        if (!strcasecmp(word, cmd_defs[i].word)) return &cmd_defs[i];
    return NULL;
}

static void wipe_free(char *s)
{
    if (!s) return;
    explicit_bzero(s, strlen(s));
    free(s);
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Frees the arguments, keeping tag, kind, uid, name and search_return (a
 * failed SEARCH RETURN (SAVE) resets $, RFC 5182 2.1). */
static void cmd_clear_args(imap_cmd *cmd)
{
    imap_cmd keep = { .tag = cmd->tag, .kind = cmd->kind, .uid = cmd->uid, .name = cmd->name,
                      .search_return = cmd->search_return };
    free(cmd->mailbox);
    free(cmd->mailbox2);
    free(cmd->reference);
    free(cmd->pattern);
    free(cmd->user);
    wipe_free(cmd->password);
    free(cmd->mechanism);
    wipe_free(cmd->initial_response);
    free(cmd->seq.r);
    for (size_t i = 0; i < cmd->natts; i++) att_free(&cmd->atts[i]);
    free(cmd->atts);
    strv_free(cmd->keywords, cmd->nkeywords);
    search_node_free(cmd->search);
    free(cmd->charset);
    free(cmd->sort);
    strv_free(cmd->params, cmd->nparams);
    *cmd = keep;
}

void imap_cmd_free(imap_cmd *cmd)
{
    cmd_clear_args(cmd);
    free(cmd->tag);
    memset(cmd, 0, sizeof *cmd);
}

int imap_parse_command(const char *data, size_t len, imap_cmd *cmd, char *err, size_t errlen)
{
    char scratch[1];
    char word[32];
    memset(cmd, 0, sizeof *cmd);
    if (!err || !errlen) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    imap_lex lx = { .p = data ? data : "", .len = data ? len : 0, .pos = 0, .err = err, .errlen = errlen };

    while (lx.pos < lx.len && tag_char((unsigned char)lx.p[lx.pos])) lx.pos++;
    if (lx.pos == 0) return imap_lex_fail(&lx, imap_lex_at_eol(&lx) ? "empty command" : "invalid tag");
    if (imap_lex_peek(&lx) != ' ' && !imap_lex_at_eol(&lx)) return imap_lex_fail(&lx, "invalid tag");
    cmd->tag = xstrndup(lx.p, lx.pos);
    if (imap_lex_at_eol(&lx)) return imap_lex_fail(&lx, "missing command");
    lx.pos++;
    if (imap_lex_word(&lx, word, sizeof word, "command") < 0) {
        err[0] = '\0';
        return imap_lex_fail(&lx, "unknown command");
    }
    cmd_parser parse;
    const struct cmd_def *def;
    if (!strcasecmp(word, "UID")) {
        cmd->uid = 1;
        if (imap_lex_sp(&lx) < 0) return -1;
        if (imap_lex_word(&lx, word, sizeof word, "UID command") < 0 ||
            !(def = cmd_lookup(word)) || !def->uid_name) {
            err[0] = '\0';
            return imap_lex_fail(&lx, "unknown UID command");
        }
        cmd->kind = def->kind;
        cmd->name = def->uid_name;
        parse = def->uid_parse;
    } else {
        if (!(def = cmd_lookup(word))) return imap_lex_fail(&lx, "unknown command");
        cmd->kind = def->kind;
        cmd->name = def->word;
        parse = def->parse;
    }
    if (parse(&lx, cmd) < 0) goto fail;
    if (lx.pos + 1 < lx.len && lx.p[lx.pos] == '\r' && lx.p[lx.pos + 1] == '\n') lx.pos += 2;
    else if (lx.pos < lx.len && lx.p[lx.pos] == '\n') lx.pos++;
    if (lx.pos != lx.len) {
        imap_lex_fail(&lx, lx.p[lx.pos] == ' ' ? "too many arguments" : "unexpected characters after the arguments");
        goto fail;
    }
    return 0;
fail:
    if (!err[0]) imap_lex_fail(&lx, "syntax error");
    cmd_clear_args(cmd);
    return -1;
}
