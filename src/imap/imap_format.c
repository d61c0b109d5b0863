/*
 * imap_format.c — IMAP strings and dates in responses.
 *
 * OFFERS
 *   imap_write_string     a string as quoted "..." when it can be, else a literal
 *   imap_write_nstring    the same, or NIL for NULL
 *   imap_format_datetime  "dd-Mon-yyyy hh:mm:ss +zzzz" with its quotes
 *
 * PROMISES
 *   Output always parses back to the same bytes (RFC 3501 section 9): a quoted
 *   string holds only 7-bit TEXT-CHARs (no NUL, CR, LF) with '"' and '\' escaped;
 *   anything else (8-bit, CR, LF, NUL) goes as a literal {n}\r\n. No 8-bit text is
 *   ever quoted because we do not advertise UTF8=ACCEPT (RFC 6855).
 *   A date-time always has the exact fixed form: times beyond years 1..9999 are
 *   clamped, zones beyond +/-23:59 too.
 *
 * DIAGNOSTICS
 *   None: these cannot fail (memory exhaustion aborts, util/alloc.h).
 */
#include <string.h>

#include "util/buf.h"
#include "imap/imap_parse.h"

void imap_write_string(buf *out, const char *s, size_t len)
{
    int quotable = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0 || c == '\r' || c == '\n' || c >= 0x80) {
            quotable = 0;
            break;
        }
    }
    if (!quotable) {
        buf_printf(out, "{%zu}\r\n", len);
        buf_append(out, s, len);
        return;
    }
    buf_reserve(out, len + 2);
    buf_putc(out, '"');
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\') buf_putc(out, '\\');
        buf_putc(out, s[i]);
    }
    buf_putc(out, '"');
}

void imap_write_nstring(buf *out, const char *s)
{
    if (!s) buf_puts(out, "NIL");
    else imap_write_string(out, s, strlen(s));
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0))) q--;
    return q;
}

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* Days since 1970-01-01 -> y, m (1..12), d. Walks 400-year cycles (146097 days)
 * then years and months: a few dozen steps at most. */
static void date_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    static const int dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int64_t cycles = floor_div(days, 146097);
    int64_t year = 1970 + cycles * 400;
    days -= cycles * 146097;                /* 0 <= days < 146097 */
    for (;;) {
        int64_t ylen = is_leap(year) ? 366 : 365;
        if (days < ylen) break;
        days -= ylen;
        year++;
    }
    int month = 0;
    for (;; month++) {
        int mlen = dm[month] + (month == 1 && is_leap(year));
        if (days < mlen) break;
        days -= mlen;
    }
    *y = year;
    *m = month + 1;
    *d = (int)days + 1;
}

void imap_format_datetime(buf *out, int64_t utc, int tz_minutes)
{
    static const char months[12][4] = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
    };
    const int64_t min_t = -62135596800LL;   /* 0001-01-01 00:00:00 UTC */
    const int64_t max_t = 253402300799LL;   /* 9999-12-31 23:59:59 UTC */
    if (tz_minutes > 23 * 60 + 59) tz_minutes = 23 * 60 + 59;
    if (tz_minutes < -(23 * 60 + 59)) tz_minutes = -(23 * 60 + 59);
    int64_t local = utc;
    if (local < min_t) local = min_t;
    if (local > max_t) local = max_t;
    local += (int64_t)tz_minutes * 60;
    if (local < min_t) local = min_t;
    if (local > max_t) local = max_t;
    int64_t days = floor_div(local, 86400), secs = local - days * 86400, y;
    int m, d;
    date_from_days(days, &y, &m, &d);
    int tz = tz_minutes < 0 ? -tz_minutes : tz_minutes;
    buf_printf(out, "\"%02d-%s-%04d %02d:%02d:%02d %c%02d%02d\"", d, months[m - 1], (int)y,
               (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60),
               tz_minutes < 0 ? '-' : '+', tz / 60, tz % 60);
}
