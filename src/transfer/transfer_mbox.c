/*
 * transfer_mbox.c — the mbox format (mboxrd, RFC 4155 and the mboxrd convention):
 * quoting, "From " lines, flag headers, and reading an mbox file into the store.
 *
 * OFFERS
 *   transfer_crlf_to_lf, transfer_mboxrd_quote, transfer_mboxrd_is_quoted,
 *   transfer_mbox_from_line, transfer_mbox_parse_from_line,
 *   transfer_mbox_flag_lines, transfer_mbox_take_flags, transfer_header_date,
 *   transfer_mbox_read.
 *
 * PROMISES
 *   What the writer side produces, the reader takes back to the same bytes:
 *   - a line of the message matching ^>*From  is written with one more '>' and
 *     read back with one less (mboxrd; an mboxo file, which quotes only "From ",
 *     reads the same way, and an unquoted ">From " of an mboxo file loses a '>':
 *     mboxo cannot tell them apart);
 *   - a message is written followed by one LF; the reader drops one LF (and a CR
 *     before it, for CRLF mbox files) before each "From " line and at the end of
 *     the file, so a message without a final line end survives too;
 *   - a "From " line at the start of any line begins a message (the writer
 *     quotes all others); its date becomes the internal date; Content-Length is
 *     ignored.
 *   The reader holds one message at a time, at most IMAP_APPEND_MAX bytes of it:
 *   a longer one is read past, reported and skipped.
 *
 * DIAGNOSTICS
 *   transfer_mbox_read fails with "FILE:LINE: ..." when the file does not begin
 *   with a "From " line, or on a read error.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/limits.h"
#include "mime/mime.h"
#include "transfer/transfer_internal.h"

static const char *const mbox_months[12] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};
static const char *const mbox_days[7] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

void transfer_crlf_to_lf(const char *in, size_t len, buf *out)
{
    if (!len) return;
    buf_reserve(out, len);
    size_t run = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (in[i] == '\r' && in[i + 1] == '\n') {
            buf_append(out, in + run, i - run);
            run = i + 1;              /* the LF starts the next run */
        }
    }
    buf_append(out, in + run, len - run);
}

/* 1 when the line matches ^>*From  and so needs one more '>' on the way out. */
static int mbox_needs_quote(const char *line, size_t len)
{
    size_t k = 0;
    while (k < len && line[k] == '>') k++;
    return len - k >= 5 && !memcmp(line + k, "From ", 5);
}

int transfer_mboxrd_is_quoted(const char *line, size_t len)
{
    return len > 0 && line[0] == '>' && mbox_needs_quote(line, len);
}

void transfer_mboxrd_quote(const char *in, size_t len, buf *out)
{
    if (!len) return;
    buf_reserve(out, len + 16);
    size_t i = 0;
    while (i < len) {
        const char *lf = memchr(in + i, '\n', len - i);
        size_t end = lf ? (size_t)(lf - in) + 1 : len;
        if (mbox_needs_quote(in + i, end - i)) buf_putc(out, '>');
        buf_append(out, in + i, end - i);
        i = end;
    }
}

/* The first line of header field `name` (no unfolding): 0 and its value
 * (leading blanks skipped, line end excluded), or -1. Only the header is searched. */
static int mbox_header_find(const char *msg, size_t len, const char *name, const char **val,
                            size_t *vlen)
{
    size_t nl = strlen(name), i = 0;
    while (i < len) {
        const char *lf = memchr(msg + i, '\n', len - i);
        size_t end = lf ? (size_t)(lf - msg) : len;
        size_t e = end;
        if (e > i && msg[e - 1] == '\r') e--;
        if (e == i) return -1;                       /* the empty line ends the header */
        if (e - i > nl && msg[i + nl] == ':' && !strncasecmp(msg + i, name, nl)) {
            size_t v = i + nl + 1;
            while (v < e && (msg[v] == ' ' || msg[v] == '\t')) v++;
            *val = msg + v;
            *vlen = e - v;
            return 0;
        }
        if (!lf) break;
        i = end + 1;
    }
    return -1;
}

/* An envelope sender fit for a "From " line: one word of printable ASCII. */
static int mbox_sender_ok(const char *s, size_t n)
{
    if (n == 0 || n > 256) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) return 0;
    return 1;
}

/* The address inside <...>, or else the word holding '@'. */
static int mbox_pick_address(const char *v, size_t n, const char **a, size_t *an)
{
    const char *lt = memchr(v, '<', n);
    if (lt) {
        const char *gt = memchr(lt, '>', n - (size_t)(lt - v));
        if (!gt) return -1;
        *a = lt + 1;
        *an = (size_t)(gt - lt - 1);
        return 0;
    }
    const char *at = memchr(v, '@', n);
    if (!at) return -1;
    const char *s = at, *e = at;
    while (s > v && !isspace((unsigned char)s[-1]) && s[-1] != ',') s--;
    while (e < v + n && !isspace((unsigned char)*e) && *e != ',') e++;
    *a = s;
    *an = (size_t)(e - s);
    return 0;
}

void transfer_mbox_from_line(const char *msg, size_t len, int64_t date, buf *out)
{
    const char *v, *a = NULL;
    size_t vn, an = 0;
    if (mbox_header_find(msg, len, "Return-Path", &v, &vn) == 0) {
        if (mbox_pick_address(v, vn, &a, &an) < 0) a = NULL;
    } else if (mbox_header_find(msg, len, "From", &v, &vn) == 0) {
        if (mbox_pick_address(v, vn, &a, &an) < 0) a = NULL;
    }
    buf_puts(out, "From ");
    if (a && mbox_sender_ok(a, an)) buf_append(out, a, an);
    else buf_puts(out, "MAILER-DAEMON");    /* the null sender <> too, as sendmail does */
    time_t t = (time_t)date;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        t = 0;
        gmtime_r(&t, &tm);
    }
    buf_printf(out, " %s %s %2d %02d:%02d:%02d %d\n", mbox_days[tm.tm_wday % 7],
               mbox_months[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
               tm.tm_year + 1900);
}

static int mbox_all_digits(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return 0;
    return 1;
}

int transfer_mbox_parse_from_line(const char *line, size_t len, int64_t *date)
{
    if (len < 5 || memcmp(line, "From ", 5) != 0) return -1;
    size_t i = 5;
    while (i < len && line[i] == ' ') i++;
    /* The sender: one word, or a quoted local part with blanks in it. */
    if (i < len && line[i] == '"') {
        const char *q = memchr(line + i + 1, '"', len - i - 1);
        i = q ? (size_t)(q - line) + 1 : len;
    }
    while (i < len && !isspace((unsigned char)line[i])) i++;
    int mon = -1, day = -1, year = -1, hh = -1, mm = -1, ss = 0, zone = 0;
    while (i < len) {
        while (i < len && (isspace((unsigned char)line[i]) || line[i] == ',')) i++;
        size_t s = i;
        while (i < len && !isspace((unsigned char)line[i]) && line[i] != ',') i++;
        const char *w = line + s;
        size_t n = i - s;
        if (n == 0) break;
        if (mon < 0 && n == 3) {
            for (int k = 0; k < 12; k++)
                if (!strncasecmp(w, mbox_months[k], 3)) mon = k;
        } else if (memchr(w, ':', n) && hh < 0) {
            if (sscanf(w, "%2d:%2d:%2d", &hh, &mm, &ss) < 2) hh = -1;
        } else if ((w[0] == '+' || w[0] == '-') && n == 5 && mbox_all_digits(w + 1, 4)) {
            int z = (w[1] - '0') * 600 + (w[2] - '0') * 60 + (w[3] - '0') * 10 + (w[4] - '0');
            zone = w[0] == '-' ? -z : z;
        } else if (mbox_all_digits(w, n) && n <= 2 && day < 0) {
            day = atoi(w);
        } else if (mbox_all_digits(w, n) && n == 4 && year < 0) {
            year = atoi(w);
        }
    }
    if (mon < 0 || day < 1 || day > 31 || year < 1970 || hh < 0 || hh > 23 || mm < 0 ||
        mm > 59 || ss < 0 || ss > 60)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = year - 1900;
    tm.tm_mon = mon;
    tm.tm_mday = day;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    *date = (int64_t)timegm(&tm) - (int64_t)zone * 60;
    return 0;
}

int64_t transfer_header_date(const char *msg, size_t len)
{
    const char *v;
    size_t vn;
    int64_t t;
    int tz;
    if (mbox_header_find(msg, len, "Date", &v, &vn) == 0 && mime_parse_date(v, vn, &t, &tz) == 0)
        return t;
    return 0;
}

void transfer_mbox_flag_lines(uint32_t flags, const char *const *keywords, size_t nkeywords,
                              buf *out)
{
    buf_puts(out, flags & MSG_FLAG_SEEN ? "Status: RO\n" : "Status: O\n");
    buf_puts(out, "X-Status:");
    if (flags & (MSG_FLAG_ANSWERED | MSG_FLAG_DELETED | MSG_FLAG_FLAGGED | MSG_FLAG_DRAFT)) {
        buf_putc(out, ' ');
        if (flags & MSG_FLAG_ANSWERED) buf_putc(out, 'A');
        if (flags & MSG_FLAG_DELETED) buf_putc(out, 'D');
        if (flags & MSG_FLAG_FLAGGED) buf_putc(out, 'F');
        if (flags & MSG_FLAG_DRAFT) buf_putc(out, 'T');
    }
    buf_puts(out, "\nX-Keywords:");
    for (size_t i = 0; i < nkeywords; i++) {
        buf_putc(out, ' ');
        buf_puts(out, keywords[i]);
    }
    buf_putc(out, '\n');
}

/* The flag fields mbox software writes into headers: 1 Status, 2 X-Status,
 * 3 X-Keywords (mutt, Dovecot, ours); 4 X-Mozilla-Status, 5 X-Mozilla-Status2,
 * 6 X-Mozilla-Keys (Thunderbird). 0: any other line. */
static const struct { const char *name; size_t len; } mbox_fields[7] = {
    { "", 0 }, { "Status:", 7 }, { "X-Status:", 9 }, { "X-Keywords:", 11 },
    { "X-Mozilla-Status:", 17 }, { "X-Mozilla-Status2:", 18 }, { "X-Mozilla-Keys:", 15 },
};

static int mbox_flag_field(const char *line, size_t n)
{
    for (int f = 1; f < 7; f++)
        if (n >= mbox_fields[f].len && !strncasecmp(line, mbox_fields[f].name, mbox_fields[f].len))
            return f;
    return 0;
}

static void mbox_add_keyword(buf *keywords, const char *k, size_t n)
{
    if (keywords->len) buf_putc(keywords, ' ');
    buf_append(keywords, k, n);
}

/* Thunderbird's X-Mozilla-Status bits (nsMsgMessageFlags.h). */
#define MOZ_READ      0x0001u
#define MOZ_REPLIED   0x0002u
#define MOZ_MARKED    0x0004u
#define MOZ_EXPUNGED  0x0008u
#define MOZ_FORWARDED 0x1000u

static void mbox_apply_field(int field, const char *v, size_t n, uint32_t *flags, buf *keywords)
{
    if (field == 3 || field == 6) {
        /* Keywords are atoms: split on blanks and commas (some writers use ", "). */
        size_t i = 0;
        while (i < n) {
            while (i < n && (isspace((unsigned char)v[i]) || v[i] == ',')) i++;
            size_t s = i;
            while (i < n && !isspace((unsigned char)v[i]) && v[i] != ',') i++;
            if (i > s) mbox_add_keyword(keywords, v + s, i - s);
        }
        return;
    }
    if (field == 4) {
        char hex[16];
        size_t k = 0;
        for (size_t i = 0; i < n && k < sizeof hex - 1; i++)
            if (!isspace((unsigned char)v[i])) hex[k++] = v[i];
        hex[k] = '\0';
        unsigned long moz = strtoul(hex, NULL, 16);
        if (moz & MOZ_READ) *flags |= MSG_FLAG_SEEN;
        if (moz & MOZ_REPLIED) *flags |= MSG_FLAG_ANSWERED;
        if (moz & MOZ_MARKED) *flags |= MSG_FLAG_FLAGGED;
        if (moz & MOZ_EXPUNGED) *flags |= MSG_FLAG_DELETED;
        if (moz & MOZ_FORWARDED) mbox_add_keyword(keywords, "$Forwarded", 10);
        return;
    }
    if (field == 5) return;       /* Thunderbird's own bookkeeping: dropped */
    for (size_t i = 0; i < n; i++) {
        switch (v[i]) {
        case 'R': if (field == 1) *flags |= MSG_FLAG_SEEN; break;
        case 'A': *flags |= MSG_FLAG_ANSWERED; break;
        case 'F': *flags |= MSG_FLAG_FLAGGED; break;
        case 'T': *flags |= MSG_FLAG_DRAFT; break;
        case 'D': *flags |= MSG_FLAG_DELETED; break;
        default: break;
        }
    }
}

void transfer_mbox_take_flags(buf *msg, uint32_t *flags, buf *keywords)
{
    *flags = 0;
    buf_reset(keywords);
    const char *p = msg->p ? msg->p : "";
    size_t len = msg->len;
    /* Our own three opening lines, exactly. */
    size_t i = 0, starts[4];
    int ours = 1;
    for (int k = 0; k < 3; k++) {
        starts[k] = i;
        const char *lf = i < len ? memchr(p + i, '\n', len - i) : NULL;
        if (!lf || mbox_flag_field(p + i, (size_t)(lf - p) - i) != k + 1) { ours = 0; break; }
        i = (size_t)(lf - p) + 1;
    }
    if (ours) {
        starts[3] = i;
        for (int k = 0; k < 3; k++) {
            size_t skip = mbox_fields[k + 1].len;
            mbox_apply_field(k + 1, p + starts[k] + skip, starts[k + 1] - 1 - starts[k] - skip,
                             flags, keywords);
        }
        memmove(msg->p, msg->p + i, len - i);
        buf_truncate(msg, len - i);
        return;
    }
    /* Another writer's (mutt, Dovecot, Thunderbird): the fields anywhere in the
     * header, folded or not; they belong to the mbox, not the message. */
    buf kept = BUF_INIT;
    int found = 0, field = 0;
    i = 0;
    while (i < len) {
        const char *lf = memchr(p + i, '\n', len - i);
        size_t end = lf ? (size_t)(lf - p) + 1 : len;
        size_t e = lf ? end - 1 : end;
        if (e > i && p[e - 1] == '\r') e--;
        if (e == i) break;                           /* the empty line ends the header */
        int cont = p[i] == ' ' || p[i] == '\t';
        if (!cont) field = mbox_flag_field(p + i, e - i);
        if (field) {
            size_t off = cont ? 0 : mbox_fields[field].len;
            mbox_apply_field(field, p + i + off, e - i - off, flags, keywords);
            found = 1;
        } else {
            buf_append(&kept, p + i, end - i);
        }
        i = end;
    }
    if (found) {
        buf_append(&kept, p + i, len - i);
        buf_free(msg);
        *msg = kept;
    } else {
        buf_free(&kept);
    }
}

/* --- Reading ------------------------------------------------------------------- */

/* Input in pieces: a whole line when it fits in TRANSFER_PIECE_MAX, else pieces
 * of that size. A line's first piece always holds min(line, PIECE_MAX) bytes, so
 * the "From " test and mboxrd unquoting see the start of every line. */
typedef struct mbox_reader {
    FILE *f;
    char *b;
    size_t pos, end;
    int eof;
} mbox_reader;

/* 1 and a piece (ends_line: it ends with LF), 0 at the end, -1 read error. */
static int mbox_piece(mbox_reader *r, const char **p, size_t *n, int *ends_line)
{
    const char *lf = r->pos < r->end ? memchr(r->b + r->pos, '\n', r->end - r->pos) : NULL;
    if (!lf && !r->eof) {
        memmove(r->b, r->b + r->pos, r->end - r->pos);
        r->end -= r->pos;
        r->pos = 0;
        while (r->end < TRANSFER_PIECE_MAX && !r->eof) {
            size_t got = fread(r->b + r->end, 1, TRANSFER_PIECE_MAX - r->end, r->f);
            r->end += got;
            if (got == 0) {
                if (ferror(r->f)) return -1;
                r->eof = 1;
            }
            if (memchr(r->b + r->end - got, '\n', got)) break;
        }
        lf = r->pos < r->end ? memchr(r->b + r->pos, '\n', r->end - r->pos) : NULL;
    }
    if (r->pos >= r->end) return 0;
    size_t stop = lf ? (size_t)(lf - r->b) + 1 : r->end;
    *p = r->b + r->pos;
    *n = stop - r->pos;
    *ends_line = lf != NULL;
    r->pos = stop;
    return 1;
}

typedef struct mbox_msg {
    int open;
    buf data;
    size_t size;          /* bytes seen, also past the limit */
    unsigned long line;   /* of its From line */
    int64_t date;         /* 0: none on the From line */
} mbox_msg;

static int mbox_finish(transfer_importer *imp, mbox_msg *mm, const char *path,
                       const char *folder, char *err, size_t errlen)
{
    if (!mm->open) return 0;
    mm->open = 0;
    char where[600];
    snprintf(where, sizeof where, "%s:%lu", path, mm->line);
    size_t size = mm->size;
    if (size > 0 && mm->data.p[mm->data.len - 1] == '\n') {
        /* The LF that separates messages (RFC 4155: an empty line before "From "). */
        size_t cut = (mm->data.len >= 2 && mm->data.p[mm->data.len - 2] == '\r') ? 2 : 1;
        if (size <= IMAP_APPEND_MAX + 2) buf_truncate(&mm->data, mm->data.len - cut);
        size -= cut;
    }
    if (size > IMAP_APPEND_MAX) {
        imp->stats->messages++;
        imp->stats->skipped++;
        transfer_warn(imp->opts, "%s: message of %zu bytes is over the limit of %d bytes; skipped",
                      where, size, IMAP_APPEND_MAX);
        buf_reset(&mm->data);
        return 0;
    }
    uint32_t flags;
    buf kw = BUF_INIT;
    transfer_mbox_take_flags(&mm->data, &flags, &kw);
    int64_t date = mm->date;
    if (!date) date = transfer_header_date(buf_cstr(&mm->data), mm->data.len);
    if (!date) date = (int64_t)time(NULL);
    int rc = transfer_importer_add(imp, folder, buf_cstr(&mm->data), mm->data.len, flags,
                                   buf_cstr(&kw), date, where, err, errlen);
    buf_free(&kw);
    buf_reset(&mm->data);
    return rc;
}

int transfer_mbox_read(transfer_importer *imp, const char *path, const char *folder,
                       char *err, size_t errlen)
{
    int rc = -1;
    mbox_reader r = { 0 };
    mbox_msg mm;
    memset(&mm, 0, sizeof mm);
    r.f = fopen(path, "rb");
    if (!r.f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    r.b = xmalloc(TRANSFER_PIECE_MAX);
    /* The folder exists even when the file holds no message (an empty folder). */
    int fr = transfer_importer_folder(imp, folder, path, err, errlen);
    if (fr < 0) goto out;
    unsigned long line = 0;
    int at_start = 1, skip_line = 0;
    const char *p;
    size_t n;
    int ends, got;
    while ((got = mbox_piece(&r, &p, &n, &ends)) > 0) {
        if (at_start) {
            line++;
            skip_line = 0;
            if (n >= 5 && !memcmp(p, "From ", 5)) {
                if (mbox_finish(imp, &mm, path, folder, err, errlen) < 0) goto out;
                mm.open = 1;
                mm.size = 0;
                mm.line = line;
                mm.date = 0;
                int64_t d;
                if (transfer_mbox_parse_from_line(p, n, &d) == 0) mm.date = d;
                skip_line = !ends;            /* the rest of an absurdly long From line */
                at_start = ends;
                continue;
            }
            if (!mm.open) {
                if ((n == 1 && p[0] == '\n') || (n == 2 && p[0] == '\r' && p[1] == '\n'))
                    continue;                 /* blank lines before the first message */
                snprintf(err, errlen, "%s:%lu: not an mbox file: a message must begin with a"
                         " \"From \" line", path, line);
                goto out;
            }
            if (transfer_mboxrd_is_quoted(p, n)) { p++; n--; }
        }
        at_start = ends;
        if (skip_line) continue;
        mm.size += n;
        if (mm.size <= IMAP_APPEND_MAX + 2) buf_append(&mm.data, p, n);
    }
    if (got < 0) {
        snprintf(err, errlen, "%s:%lu: %s", path, line, strerror(errno));
        goto out;
    }
    if (mbox_finish(imp, &mm, path, folder, err, errlen) < 0) goto out;
    rc = 0;
out:
    buf_free(&mm.data);
    free(r.b);
    fclose(r.f);
    return rc;
}
