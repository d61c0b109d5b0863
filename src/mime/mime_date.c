/*
 * mime_date.c — the Date: header (RFC 5322 3.3 and 4.3) and line endings.
 *
 * OFFERS
 *   mime_parse_date()      [day-of-week ","] day month year hour ":" minute
 *                          [":" second] zone  ->  UTC seconds and zone minutes.
 *   mime_normalize_crlf()  bare LF and bare CR become CRLF.
 *
 * PROMISES
 *   Dates are read leniently, as mail in the wild needs: comments and extra
 *   whitespace anywhere between items, the day of week optional (its comma
 *   too), seconds optional, month names in any case (full names accepted),
 *   2-digit years (< 50: 20xx, else 19xx) and 3-digit years (+ 1900), obsolete
 *   zones UT GMT Z EST EDT CST CDT MST MDT PST PDT, military letters and any
 *   other alphabetic zone as +0000 (RFC 5322 4.3 says their meaning is
 *   unknown), "+hh:mm", a missing zone as +0000. Anything after the zone is
 *   ignored. The calendar arithmetic is our own (no timegm, no TZ).
 *
 * DIAGNOSTICS
 *   mime_parse_date() returns -1 for a missing or out-of-range item (day not
 *   in the month, hour > 23, minute > 59, second > 60, zone minutes > 59).
 */
#include <stdint.h>
#include <string.h>

#include "util/buf.h"
#include "mime/mime.h"
#include "mime/mime_internal.h"

static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Reads up to `max` digits; returns how many were read. */
static size_t read_num(const char *s, size_t n, size_t *i, size_t max, int *v)
{
    size_t k = 0;
    int r = 0;
    while (*i < n && k < max && is_digit(s[*i])) {
        r = r * 10 + (s[*i] - '0');
        (*i)++;
        k++;
    }
    *v = r;
    return k;
}

static size_t read_word(const char *s, size_t n, size_t i)
{
    while (i < n && is_alpha(s[i])) i++;
    return i;
}

static int month_of(const char *w, size_t len)
{
    static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    if (len < 3) return -1;
    for (int m = 0; m < 12; m++)
        if (mime_ascii_casecmp_n(w, names + 3 * m, 3) == 0) return m + 1;
    return -1;
}

static int is_weekday(const char *w, size_t len)
{
    static const char names[] = "montuewedthufrisatsun";
    if (len < 3) return 0;
    for (int d = 0; d < 7; d++)
        if (mime_ascii_casecmp_n(w, names + 3 * d, 3) == 0) return 1;
    return 0;
}

/* Minutes east of UTC of an alphabetic zone. */
static int zone_of(const char *w, size_t len)
{
    static const struct { const char *name; int minutes; } zones[] = {
        { "UT", 0 }, { "GMT", 0 }, { "Z", 0 }, { "UTC", 0 },
        { "EST", -300 }, { "EDT", -240 }, { "CST", -360 }, { "CDT", -300 },
        { "MST", -420 }, { "MDT", -360 }, { "PST", -480 }, { "PDT", -420 },
    };
    for (size_t k = 0; k < sizeof zones / sizeof zones[0]; k++)
        if (strlen(zones[k].name) == len && mime_ascii_casecmp_n(w, zones[k].name, len) == 0)
            return zones[k].minutes;
    return 0;   /* military letters and unknown names: "-0000", unknown offset */
}

static int leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int y, int m)
{
    static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian): whole years via the
 * 400-year cycle counts, then the months of the year. */
static int64_t days_from_epoch(int y, int m, int d)
{
    int64_t yy = y - 1;
    int64_t days = yy * 365 + yy / 4 - yy / 100 + yy / 400;    /* days before Jan 1 of y */
    days -= 719162;                                             /* same for 1970 */
    for (int k = 1; k < m; k++) days += days_in_month(y, k);
    return days + d - 1;
}

int mime_parse_date(const char *s, size_t n, int64_t *utc, int *tz_minutes)
{
    size_t i, e;
    int day, year, hour, min, sec = 0, tz = 0;
    if (!s) return -1;
    i = mime_skip_cfws(s, n, 0, NULL);
    e = read_word(s, n, i);
    if (e > i) {
        if (!is_weekday(s + i, e - i)) return -1;
        i = mime_skip_cfws(s, n, e, NULL);
        if (i < n && s[i] == ',') i = mime_skip_cfws(s, n, i + 1, NULL);
    }
    if (read_num(s, n, &i, 2, &day) == 0) return -1;
    i = mime_skip_cfws(s, n, i, NULL);
    e = read_word(s, n, i);
    int month = month_of(s + i, e - i);
    if (month < 0) return -1;
    i = mime_skip_cfws(s, n, e, NULL);
    size_t yd = read_num(s, n, &i, 4, &year);
    if (yd < 2) return -1;
    if (yd == 2) year += year < 50 ? 2000 : 1900;
    else if (yd == 3) year += 1900;
    i = mime_skip_cfws(s, n, i, NULL);
    if (read_num(s, n, &i, 2, &hour) == 0) return -1;
    i = mime_skip_cfws(s, n, i, NULL);
    if (i >= n || s[i] != ':') return -1;
    i = mime_skip_cfws(s, n, i + 1, NULL);
    if (read_num(s, n, &i, 2, &min) == 0) return -1;
    size_t j = mime_skip_cfws(s, n, i, NULL);
    if (j < n && s[j] == ':') {
        i = mime_skip_cfws(s, n, j + 1, NULL);
        if (read_num(s, n, &i, 2, &sec) == 0) return -1;
    }
    i = mime_skip_cfws(s, n, i, NULL);
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i] == '-' ? -1 : 1, hh, mm;
        i++;
        if (read_num(s, n, &i, 2, &hh) != 2) return -1;
        if (i < n && s[i] == ':') i++;
        if (read_num(s, n, &i, 2, &mm) != 2 || mm > 59) return -1;
        tz = sign * (hh * 60 + mm);
    } else if (i < n && is_alpha(s[i])) {
        e = read_word(s, n, i);
        tz = zone_of(s + i, e - i);
    }
    if (year < 1 || month < 1 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
        min > 59 || sec > 60)
        return -1;
    if (utc) *utc = days_from_epoch(year, month, day) * 86400 + hour * 3600 + min * 60 + sec -
                    (int64_t)tz * 60;
    if (tz_minutes) *tz_minutes = tz;
    return 0;
}

void mime_normalize_crlf(const char *in, size_t len, buf *out)
{
    if (!in) len = 0;
    buf_reserve(out, len + len / 32);
    size_t i = 0, run = 0;
    while (i < len) {
        /* One line at a time: memchr finds its LF, then any CR inside it. */
        const char *lf = memchr(in + i, '\n', len - i);
        size_t stop = lf ? (size_t)(lf - in) : len;
        for (size_t k = i; k < stop;) {
            const char *cr = memchr(in + k, '\r', stop - k);
            if (!cr) break;
            size_t c = (size_t)(cr - in);
            if (lf && c + 1 == stop) break;              /* CRLF: kept */
            buf_append(out, in + run, c - run);          /* a bare CR */
            buf_append(out, "\r\n", 2);
            k = run = c + 1;
        }
        if (!lf) break;
        if (stop == i || in[stop - 1] != '\r') {         /* a bare LF */
            buf_append(out, in + run, stop - run);
            buf_append(out, "\r\n", 2);
            run = stop + 1;
        }
        i = stop + 1;
    }
    buf_append(out, in ? in + run : "", len - run);
}
