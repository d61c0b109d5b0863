/*
 * imap_reader.c — IMAP command framing: bytes in, whole commands out.
 *
 * OFFERS
 *   imap_reader_init / imap_reader_free
 *   imap_reader_feed       a command: its line, every literal the line announces
 *                          ({n} RFC 3501, {n+} RFC 7888) and the lines after them
 *   imap_reader_feed_line  one bare line (AUTHENTICATE responses, IDLE's DONE)
 *
 * PROMISES
 *   - Incremental: the results (and the framed bytes) do not depend on how the
 *     input is split; the state machine looks at one byte at a time, only the
 *     copying is done in runs.
 *   - Byte-exact: r->cmd holds the command as received, literals included (any
 *     byte, NUL too), line ends as sent (CRLF, or a bare LF which we accept).
 *   - Bounded: a line (without its CRLF) holds at most IMAP_LINE_MAX bytes, a
 *     literal IMAP_LITERAL_MAX (IMAP_APPEND_MAX in APPEND), a whole command
 *     IMAP_COMMAND_MAX. Memory held is bounded by those, and a buffer grown past
 *     IMAP_LINE_MAX is released when the next command starts.
 *   - In sync after errors: over a limit we keep reading, without storing, to the
 *     end of the command, so the next command starts where the client thinks it
 *     does. A synchronising literal is never asked for after an error (no "+"):
 *     the client gets the tagged reply instead and will not send it. A
 *     non-synchronising literal is skipped byte for byte, because the client
 *     sends it whatever we say. An over-long line is dropped to its LF; if it
 *     ended in "{n+}", those n bytes are skipped too.
 *   - An empty line is framed like any line; the parser answers it with BAD, as
 *     Dovecot does (a client sending one is out of step and should hear so).
 *   - The previous command's bytes (it may have been LOGIN) are wiped before the
 *     buffer is reused or freed.
 *
 * DIAGNOSTICS
 *   IMAP_FRAME_ERROR with r->error one of "line too long", "literal too large",
 *   "message too large" (error_toobig set: APPEND, answer NO [TOOBIG]),
 *   "command too long", "invalid literal size"; r->tag holds the tag when the
 *   first line had one.
 */
#include <string.h>

#include "util/buf.h"
#include "util/limits.h"
#include "imap/imap_parse.h"

enum { RD_FRESH = 0, RD_LINE, RD_LITERAL, RD_DONE };

/* Scanner for a literal announcement at the end of a line: after '{', digits,
 * an optional '+', '}', and an optional CR right before the LF. */
enum { LS_NONE = 0, LS_DIGITS, LS_PLUS, LS_CLOSED, LS_CLOSED_CR };

/* Past IMAP_LINE_MAX the buffer is not kept for the next command: an idle
 * connection should not pin the memory of its largest APPEND. */
#define READER_KEEP_CAP ((size_t)IMAP_LINE_MAX + 1024)

void imap_reader_init(imap_reader *r)
{
    memset(r, 0, sizeof *r);
    r->state = RD_FRESH;
}

static void reader_wipe(imap_reader *r)
{
    if (r->cmd.p) explicit_bzero(r->cmd.p, r->cmd.len);
}

void imap_reader_free(imap_reader *r)
{
    reader_wipe(r);
    buf_free(&r->cmd);
    imap_reader_init(r);
}

static void reader_new_line(imap_reader *r)
{
    r->line_len = 0;
    r->lit_scan = LS_NONE;
    r->lit_plus = 0;
    r->lit_over = 0;
    r->lit_n = 0;
    r->lit_digits = 0;
}

static void reader_start(imap_reader *r, int line_only)
{
    reader_wipe(r);
    if (r->cmd.cap > READER_KEEP_CAP) buf_free(&r->cmd);
    else buf_reset(&r->cmd);
    r->tag[0] = '\0';
    r->error = NULL;
    r->error_toobig = 0;
    r->state = RD_LINE;
    r->line_only = line_only;
    r->first_line = 1;
    r->discarding = 0;
    r->is_append = 0;
    r->literal_left = 0;
    reader_new_line(r);
}

/* The first error wins; from then on bytes are dropped until the command ends. */
static void reader_error(imap_reader *r, const char *msg, int toobig)
{
    if (!r->error) {
        r->error = msg;
        r->error_toobig = toobig;
    }
    r->discarding = 1;
}

static void reader_scan(imap_reader *r, unsigned char c)
{
    if (c == '{') {
        r->lit_scan = LS_DIGITS;
        r->lit_n = 0;
        r->lit_digits = 0;
        r->lit_over = 0;
        r->lit_plus = 0;
        return;
    }
    switch (r->lit_scan) {
    case LS_DIGITS:
        if (c >= '0' && c <= '9') {
            if (!r->lit_over) {
                r->lit_n = r->lit_n * 10 + (uint64_t)(c - '0');
                if (r->lit_n > UINT32_MAX) r->lit_over = 1;
            }
            r->lit_digits++;
            return;
        }
        if (r->lit_digits > 0 && c == '+') { r->lit_scan = LS_PLUS; r->lit_plus = 1; return; }
        if (r->lit_digits > 0 && c == '}') { r->lit_scan = LS_CLOSED; return; }
        break;
    case LS_PLUS:
        if (c == '}') { r->lit_scan = LS_CLOSED; return; }
        break;
    case LS_CLOSED:
        if (c == '\r') { r->lit_scan = LS_CLOSED_CR; return; }
        break;
    default:
        break;
    }
    r->lit_scan = LS_NONE;
}

static int tag_char(unsigned char c)
{
    /* ASTRING-CHAR except '+': CHAR without CTL, SP, ( ) { % * " \ and +. */
    if (c <= 0x20 || c >= 0x7f) return 0;
    return !strchr("(){%*\"\\+", c);
}

/* Reads the tag (and whether this is APPEND) from the start of the first line,
 * which the buffer still holds (at most IMAP_LINE_MAX bytes of it). */
static void reader_first_line(imap_reader *r)
{
    const char *p = r->cmd.p ? r->cmd.p : "";
    size_t n = r->cmd.len, i = 0;
    while (i < n && tag_char((unsigned char)p[i])) i++;
    if (i == 0 || i >= sizeof r->tag) return;
    if (i < n && p[i] != ' ' && p[i] != '\r' && p[i] != '\n') return;
    memcpy(r->tag, p, i);
    r->tag[i] = '\0';
    if (i + 7 < n && p[i] == ' ' && !strncasecmp(p + i + 1, "APPEND", 6) && p[i + 7] == ' ')
        r->is_append = 1;
}

/* Appends line bytes while the line and the command stay within their limits. */
static void reader_line_bytes(imap_reader *r, const char *data, size_t n)
{
    for (size_t k = 0; k < n; k++) reader_scan(r, (unsigned char)data[k]);
    size_t old = r->line_len;
    r->line_len += n;
    if (r->discarding) return;
    /* The limit counts the line without its CRLF: one more byte is allowed only
     * if it is the CR, and we know that once the LF arrives. */
    size_t keep = n;
    if (r->line_len > (size_t)IMAP_LINE_MAX + 1 ||
        (r->line_len == (size_t)IMAP_LINE_MAX + 1 && data[n - 1] != '\r')) {
        keep = old < IMAP_LINE_MAX ? IMAP_LINE_MAX - old : 0;
        reader_error(r, "line too long", 0);
    }
    if (r->cmd.len + keep + 1 > IMAP_COMMAND_MAX) {
        keep = 0;
        reader_error(r, "command too long", 0);
    }
    buf_append(&r->cmd, data, keep);
    if (r->discarding && r->first_line && !r->line_only) {
        /* Keep exactly the first IMAP_LINE_MAX bytes whatever the split, and read
         * the tag from them now: the rest of this line is not kept. */
        if (r->cmd.len > IMAP_LINE_MAX) buf_truncate(&r->cmd, IMAP_LINE_MAX);
        reader_first_line(r);
    }
}

/* A line ended (its LF consumed). Returns NEED_MORE to keep reading. */
static imap_frame reader_line_end(imap_reader *r)
{
    int announced = r->lit_scan == LS_CLOSED || r->lit_scan == LS_CLOSED_CR;
    if (r->line_only) {
        r->state = RD_DONE;
        if (r->discarding) return IMAP_FRAME_ERROR;
        if (r->cmd.len && r->cmd.p[r->cmd.len - 1] == '\r') buf_truncate(&r->cmd, r->cmd.len - 1);
        return IMAP_FRAME_COMMAND;
    }
    if (!r->discarding) buf_putc(&r->cmd, '\n');
    if (r->first_line) {
        if (!r->discarding) reader_first_line(r);
        r->first_line = 0;
    }
    if (!announced) {
        r->state = RD_DONE;
        return r->discarding ? IMAP_FRAME_ERROR : IMAP_FRAME_COMMAND;
    }
    int sync = !r->lit_plus;
    uint64_t n = r->lit_n;
    if (r->lit_over) {
        /* We cannot know how much to skip: resynchronise on the next line. */
        reader_error(r, "invalid literal size", 0);
        r->state = RD_DONE;
        return IMAP_FRAME_ERROR;
    }
    if (!r->discarding) {
        uint64_t limit = r->is_append ? IMAP_APPEND_MAX : IMAP_LITERAL_MAX;
        if (n > limit)
            reader_error(r, r->is_append ? "message too large" : "literal too large", r->is_append);
        else if (r->cmd.len + n > IMAP_COMMAND_MAX)
            reader_error(r, "command too long", 0);
    }
    if (r->discarding && sync) {
        r->state = RD_DONE;
        return IMAP_FRAME_ERROR;
    }
    reader_new_line(r);
    r->literal_left = n;
    r->state = n ? RD_LITERAL : RD_LINE;
    return sync ? IMAP_FRAME_CONTINUE : IMAP_FRAME_NEED_MORE;
}

static imap_frame reader_feed(imap_reader *r, const char *data, size_t len, size_t *used,
                              int line_only)
{
    size_t i = 0;
    if (r->state == RD_FRESH || r->state == RD_DONE) reader_start(r, line_only);
    while (i < len) {
        if (r->state == RD_LITERAL) {
            size_t k = len - i;
            if ((uint64_t)k > r->literal_left) k = (size_t)r->literal_left;
            if (!r->discarding) buf_append(&r->cmd, data + i, k);
            i += k;
            r->literal_left -= k;
            if (r->literal_left == 0) r->state = RD_LINE;
            continue;
        }
        const char *nl = memchr(data + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - data) : len;
        reader_line_bytes(r, data + i, end - i);
        if (!nl) {
            i = len;
            break;
        }
        i = end + 1;
        imap_frame f = reader_line_end(r);
        if (f != IMAP_FRAME_NEED_MORE) {
            *used = i;
            return f;
        }
    }
    *used = i;
    return IMAP_FRAME_NEED_MORE;
}

imap_frame imap_reader_feed(imap_reader *r, const char *data, size_t len, size_t *used)
{
    return reader_feed(r, data, len, used, 0);
}

imap_frame imap_reader_feed_line(imap_reader *r, const char *data, size_t len, size_t *used)
{
    return reader_feed(r, data, len, used, 1);
}
