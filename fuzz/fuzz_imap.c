/*
 * fuzz_imap.c — libFuzzer target for the IMAP command path: the framing reader,
 * the grammar (SEARCH included), modified UTF-7 and string/date output.
 *
 * Beyond "no crash, no leak, no UB" it checks properties that must hold for any
 * input, and aborts when one does not:
 *   - the reader logs the same events fed whole and fed one byte at a time
 *     (and in chunks of the first input byte's size);
 *   - every framed command stays within IMAP_COMMAND_MAX, and a tagged error
 *     has a reason;
 *   - a modified UTF-7 name that decodes re-encodes to the very same bytes (one
 *     spelling per name), and valid UTF-8 survives a round trip;
 *   - imap_write_string output parses back to the same string;
 *   - imap_format_datetime output parses back as an APPEND date-time.
 *
 * Build: see the Makefile's fuzz target, or
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=fuzzer,address,undefined \
 *     fuzz/fuzz_imap.c src/imap/imap_parse.c src/imap/imap_reader.c src/imap/imap_utf7.c \
 *     src/imap/imap_format.c src/imap/imap_search_parse.c src/search/search.c src/util/{alloc,buf,uidset}.c ...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/limits.h"
#include "imap/imap_parse.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_imap: property violated: %s\n", what);
        abort();
    }
}

/* Feeds data in chunks (0 = all at once), parses each command, logs events. */
static void run_reader(const uint8_t *data, size_t size, size_t chunk, int line_first, buf *log)
{
    imap_reader r;
    imap_reader_init(&r);
    int use_line = line_first;
    size_t off = 0;
    while (off < size) {
        size_t n = chunk ? (size - off < chunk ? size - off : chunk) : size - off;
        size_t pos = 0;
        while (pos < n) {
            size_t used = 0;
            imap_frame f = use_line
                ? imap_reader_feed_line(&r, (const char *)data + off + pos, n - pos, &used)
                : imap_reader_feed(&r, (const char *)data + off + pos, n - pos, &used);
            check(used <= n - pos, "used within the input");
            pos += used;
            if (f == IMAP_FRAME_NEED_MORE) {
                check(pos == n, "NEED_MORE consumes everything");
                continue;
            }
            use_line = 0;
            if (f == IMAP_FRAME_CONTINUE) {
                buf_puts(log, "+\n");
            } else if (f == IMAP_FRAME_ERROR) {
                check(r.error != NULL, "error has a reason");
                buf_printf(log, "E %s %s %d\n", r.tag, r.error, r.error_toobig);
            } else {
                check(r.cmd.len <= IMAP_COMMAND_MAX, "command within IMAP_COMMAND_MAX");
                buf_printf(log, "C %zu ", r.cmd.len);
                buf_append(log, r.cmd.p, r.cmd.len);
                imap_cmd c;
                char err[256];
                int rc = imap_parse_command(r.cmd.p, r.cmd.len, &c, err, sizeof err);
                check(rc == 0 || err[0], "BAD has a reason");
                if (rc == 0 && c.message)
                    check(c.message >= r.cmd.p && c.message + c.message_len <= r.cmd.p + r.cmd.len,
                          "APPEND message inside the command");
                buf_printf(log, " -> %d %s\n", rc, rc ? err : (c.name ? c.name : "?"));
                imap_cmd_free(&c);
            }
        }
        off += n;
    }
    imap_reader_free(&r);
}

static void fuzz_utf7(const char *s)
{
    buf a = BUF_INIT, b = BUF_INIT;
    if (imap_utf7_to_utf8(s, &a) == 0) {
        check(imap_utf8_to_utf7(buf_cstr(&a), &b) == 0, "decoded UTF-7 re-encodes");
        check(strcmp(buf_cstr(&b), s) == 0, "UTF-7 has one spelling");
    }
    buf_reset(&a);
    buf_reset(&b);
    if (imap_utf8_to_utf7(s, &a) == 0) {
        check(imap_utf7_to_utf8(buf_cstr(&a), &b) == 0, "encoded UTF-7 decodes");
        check(strcmp(buf_cstr(&b), s) == 0, "UTF-8 round trip");
    }
    buf_free(&a);
    buf_free(&b);
}

static void fuzz_write_string(const char *s)
{
    buf line = BUF_INIT;
    buf_puts(&line, "a SELECT ");
    imap_write_string(&line, s, strlen(s));
    buf_puts(&line, "\r\n");
    imap_cmd c;
    char err[256];
    int rc = imap_parse_command(line.p, line.len, &c, err, sizeof err);
    /* Invalid UTF-8 goes as a literal, so everything but NUL parses back. */
    check(rc == 0, "written string parses");
    check(strcmp(c.mailbox, s) == 0, "written string round trip");
    imap_cmd_free(&c);
    buf_free(&line);
}

static void fuzz_datetime(const uint8_t *data, size_t size)
{
    int64_t t = 0;
    int32_t tz = 0;
    if (size < 12) return;
    memcpy(&t, data, 8);
    memcpy(&tz, data + 8, 4);
    buf line = BUF_INIT;
    buf_puts(&line, "a APPEND x ");
    imap_format_datetime(&line, t, tz % 2000);
    buf_puts(&line, " {0+}\r\n");
    imap_cmd c;
    char err[256];
    check(line.len == strlen("a APPEND x \"dd-Mon-yyyy hh:mm:ss +zzzz\" {0+}\r\n"), "date-time fixed width");
    int rc = imap_parse_command(line.p, line.len, &c, err, sizeof err);
    check(rc == 0 && c.has_date, "formatted date-time parses");
    int ctz = tz % 2000;
    if (ctz > 1439) ctz = 1439;
    if (ctz < -1439) ctz = -1439;
    check(c.date_tz == ctz, "date-time zone round trip");
    if (t > -50000000000LL && t < 250000000000LL) check(c.date == t, "date-time round trip");
    imap_cmd_free(&c);
    buf_free(&line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    size_t chunk = data[0] % 17;
    int line_first = data[0] >= 0xf0;

    buf whole = BUF_INIT, bytewise = BUF_INIT, chunked = BUF_INIT;
    run_reader(data + 1, size - 1, 0, line_first, &whole);
    run_reader(data + 1, size - 1, 1, line_first, &bytewise);
    check(whole.len == bytewise.len && !memcmp(whole.p, bytewise.p, whole.len),
          "reader independent of the split (1 byte)");
    if (chunk > 1) {
        run_reader(data + 1, size - 1, chunk, line_first, &chunked);
        check(whole.len == chunked.len && !memcmp(whole.p, chunked.p, whole.len),
              "reader independent of the split (chunks)");
    }
    buf_free(&whole);
    buf_free(&bytewise);
    buf_free(&chunked);

    /* The grammar on its own, on bytes the reader never framed. */
    imap_cmd c;
    char err[256];
    imap_parse_command((const char *)data + 1, size - 1, &c, err, sizeof err);
    imap_cmd_free(&c);

    char *s = malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    fuzz_utf7(s);
    fuzz_write_string(s);
    free(s);
    fuzz_datetime(data + 1, size - 1);
    return 0;
}
