/*
 * outbound_dsn.c — the bounce for a forward that could not be delivered: an
 * RFC 3464 delivery status notification inside an RFC 6522 multipart/report.
 *
 *   part 1  text/plain: what happened, for people
 *   part 2  message/delivery-status: Reporting-MTA, Arrival-Date; then one
 *           recipient block: Final-Recipient, Action: failed, Status,
 *           Diagnostic-Code (when the reason is an SMTP reply)
 *   part 3  text/rfc822-headers: the original message's header only (the
 *           body is not returned: it may be large and was already delivered
 *           to the sender's own outbox)
 *
 * The bounce is sent with the null sender (RFC 5321 4.5.5) so it can never
 * bounce itself, and carries Auto-Submitted: auto-replied (RFC 3834).
 * Status: the enhanced code of the reason when it has one (a 5.x.x from the
 * remote end), otherwise 4.4.7 "delivery time expired" (RFC 3463).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "util/buf.h"
#include "outbound/outbound.h"

static void dsn_date(int64_t t, buf *out)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *const mo[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    buf_printf(out, "%s, %02d %s %04d %02d:%02d:%02d +0000", wd[tm.tm_wday], tm.tm_mday, mo[tm.tm_mon],
               tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* "550 5.1.1 ..." -> "5.1.1" in status; 0, or -1 when there is none. */
static int dsn_status_of(const char *reason, char *status, size_t cap)
{
    const char *p = reason;
    while (*p && !isspace((unsigned char)*p)) p++;          /* the basic code */
    while (*p == ' ') p++;
    if (!(p[0] == '4' || p[0] == '5') || p[1] != '.') return -1;
    size_t n = 0;
    while (p[n] && (isdigit((unsigned char)p[n]) || p[n] == '.')) n++;
    if (n < 5 || n >= cap) return -1;
    memcpy(status, p, n);
    status[n] = '\0';
    return 0;
}

/* Keeps a text single-line and printable for a header or DSN field. */
static void dsn_put_line(buf *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        buf_putc(out, c >= 0x20 && c < 0x7f ? (char)c : ' ');
    }
}

void outbound_bounce_build(const outbound_job *j, const char *reporting_host, const char *reason,
                           int64_t now, buf *out)
{
    unsigned char rnd[12];
    randombytes_buf(rnd, sizeof rnd);
    char boundary[64], mid[64];
    char hex[2 * sizeof rnd + 1];
    sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
    snprintf(boundary, sizeof boundary, "=_sealbox_dsn_%s", hex);
    snprintf(mid, sizeof mid, "dsn.%s", hex);
    char status[16];
    if (!reason || !*reason) reason = "delivery time expired";
    if (dsn_status_of(reason, status, sizeof status) < 0) snprintf(status, sizeof status, "4.4.7");

    buf_puts(out, "From: Mail Delivery System <MAILER-DAEMON@");
    dsn_put_line(out, reporting_host);
    buf_puts(out, ">\r\nTo: <");
    dsn_put_line(out, j->sender);
    buf_puts(out, ">\r\nSubject: Undelivered Mail Returned to Sender\r\nDate: ");
    dsn_date(now, out);
    buf_printf(out, "\r\nMessage-ID: <%s@", mid);
    dsn_put_line(out, reporting_host);
    buf_printf(out, ">\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
                    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
                    "\tboundary=\"%s\"\r\n\r\n", boundary);
    buf_puts(out, "This is a MIME-encapsulated message.\r\n\r\n");

    buf_printf(out, "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n", boundary);
    buf_puts(out, "This is the mail system at host ");
    dsn_put_line(out, reporting_host);
    buf_puts(out, ".\r\n\r\nYour message was forwarded by this system, but the copy could not be\r\n"
                  "delivered to the address below. Giving up.\r\n\r\n<");
    dsn_put_line(out, j->target);
    buf_puts(out, ">: ");
    dsn_put_line(out, reason);
    buf_puts(out, "\r\n\r\n");

    buf_printf(out, "--%s\r\nContent-Type: message/delivery-status\r\n\r\n", boundary);
    buf_puts(out, "Reporting-MTA: dns; ");
    dsn_put_line(out, reporting_host);
    buf_puts(out, "\r\nArrival-Date: ");
    dsn_date(j->created, out);
    buf_puts(out, "\r\n\r\nFinal-Recipient: rfc822; ");
    dsn_put_line(out, j->target);
    buf_printf(out, "\r\nAction: failed\r\nStatus: %s\r\n", status);
    if (isdigit((unsigned char)reason[0])) {
        buf_puts(out, "Diagnostic-Code: smtp; ");
        dsn_put_line(out, reason);
        buf_puts(out, "\r\n");
    }
    buf_puts(out, "\r\n");

    buf_printf(out, "--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary);
    /* The header ends at the first empty line (or the whole message has none). */
    size_t hlen = j->len;
    for (size_t i = 0; i + 3 < j->len; i++)
        if (!memcmp(j->msg + i, "\r\n\r\n", 4)) { hlen = i + 2; break; }
    buf_append(out, j->msg, hlen);
    if (hlen < 2 || memcmp(j->msg + hlen - 2, "\r\n", 2)) buf_puts(out, "\r\n");
    buf_printf(out, "\r\n--%s--\r\n", boundary);
}
