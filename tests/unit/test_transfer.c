/*
 * test_transfer.c — export/import formats (src/transfer/): mboxrd quoting both
 * ways, "From " lines written and parsed, the mbox flag lines, Maildir info
 * suffixes, path escaping, the zip writer's structure and CRC, and round trips
 * through real encrypted mailboxes: byte-exact, flags and dates kept, a second
 * import adds nothing, identical copies kept, bad input named by file and line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "testutil.h"

#include "util/buf.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "mailbox/msgflags.h"
#include "store/store.h"
#include "transfer/transfer.h"

#define MBOX_A "0123456789abcdef0123456789abcdef"
#define MBOX_B "fedcba9876543210fedcba9876543210"

static void assert_buf(buf *b, const char *expected)
{
    assert_int_equal(b->len, strlen(expected));
    assert_memory_equal(buf_cstr(b), expected, b->len);
}

/* --- mboxrd ------------------------------------------------------------------------ */

static void mboxrd_quote_adds_one_gt_to_from_lines_only(void **state)
{
    buf b = BUF_INIT;
    const char in[] = "From a\n>From b\n>>From c\nFromage\n From d\n>From\nFrom ";
    transfer_mboxrd_quote(in, sizeof in - 1, &b);
    assert_buf(&b, ">From a\n>>From b\n>>>From c\nFromage\n From d\n>From\n>From ");
    buf_free(&b);
}

static void mboxrd_unquote_recognises_quoted_from_lines(void **state)
{
    assert_int_equal(transfer_mboxrd_is_quoted(">From x\n", 8), 1);
    assert_int_equal(transfer_mboxrd_is_quoted(">>>From \n", 9), 1);
    assert_int_equal(transfer_mboxrd_is_quoted("From x\n", 7), 0);
    assert_int_equal(transfer_mboxrd_is_quoted(">From\n", 6), 0);
    assert_int_equal(transfer_mboxrd_is_quoted(">Fro", 4), 0);
    assert_int_equal(transfer_mboxrd_is_quoted("> From x", 8), 0);
}

static void crlf_to_lf_keeps_bare_cr(void **state)
{
    buf b = BUF_INIT;
    const char in[] = "a\r\nb\rc\r\n\r\nd\r";
    transfer_crlf_to_lf(in, sizeof in - 1, &b);
    assert_buf(&b, "a\nb\rc\n\nd\r");
    buf_free(&b);
}

static void from_line_takes_return_path_then_from_then_mailer_daemon(void **state)
{
    buf b = BUF_INIT;
    const char m1[] = "From: Al <al@x.org>\r\nReturn-Path: <bounce@y.org>\r\n\r\nReturn-Path: <no@z>\r\n";
    transfer_mbox_from_line(m1, sizeof m1 - 1, 1700000000, &b);
    assert_buf(&b, "From bounce@y.org Tue Nov 14 22:13:20 2023\n");
    buf_reset(&b);
    const char m2[] = "Subject: s\nFROM: al@x.org (Al)\n\nbody\n";
    transfer_mbox_from_line(m2, sizeof m2 - 1, 1699000000, &b);
    assert_buf(&b, "From al@x.org Fri Nov  3 08:26:40 2023\n");
    buf_reset(&b);
    const char m3[] = "Return-Path: <>\n\n";
    transfer_mbox_from_line(m3, sizeof m3 - 1, 0, &b);
    assert_buf(&b, "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n");
    buf_reset(&b);
    const char m4[] = "From: \"a b\" <a b@x>\n\n";     /* a blank in the address: not a word */
    transfer_mbox_from_line(m4, sizeof m4 - 1, 0, &b);
    assert_buf(&b, "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n");
    buf_free(&b);
}

static void from_line_dates_parse_in_common_forms(void **state)
{
    int64_t d = 0;
    const char *l1 = "From al@x.org Tue Nov 14 22:13:20 2023\n";
    assert_int_equal(transfer_mbox_parse_from_line(l1, strlen(l1), &d), 0);
    assert_int_equal(d, 1700000000);
    const char *l2 = "From MAILER-DAEMON  Fri Nov  3 08:26:40 2023";
    assert_int_equal(transfer_mbox_parse_from_line(l2, strlen(l2), &d), 0);
    assert_int_equal(d, 1699000000);
    const char *l3 = "From al@x.org Tue Nov 14 23:13:20 +0100 2023\r\n";
    assert_int_equal(transfer_mbox_parse_from_line(l3, strlen(l3), &d), 0);
    assert_int_equal(d, 1700000000);
    const char *l4 = "From \"a b\"@x.org Tue, 14 Nov 2023 22:13 +0000\n";
    assert_int_equal(transfer_mbox_parse_from_line(l4, strlen(l4), &d), 0);
    assert_int_equal(d, 1700000000 - 20);
    const char *l5 = "From al@x.org\n";
    assert_int_equal(transfer_mbox_parse_from_line(l5, strlen(l5), &d), -1);
    const char *l6 = "From 2023 Nov 14\n";
    assert_int_equal(transfer_mbox_parse_from_line(l6, strlen(l6), &d), -1);
}

static void flag_lines_round_trip_and_leave_the_message_exact(void **state)
{
    const char *kws[] = { "$Forwarded", "Work" };
    buf b = BUF_INIT, kw = BUF_INIT;
    transfer_mbox_flag_lines(MSG_FLAG_SEEN | MSG_FLAG_FLAGGED | MSG_FLAG_ANSWERED, kws, 2, &b);
    assert_buf(&b, "Status: RO\nX-Status: AF\nX-Keywords: $Forwarded Work\n");
    /* The message itself opens with a Status: field of its own: it stays. */
    const char msg[] = "Status: mine\nSubject: s\n\nbody";
    buf_append(&b, msg, sizeof msg - 1);
    uint32_t flags;
    transfer_mbox_take_flags(&b, &flags, &kw);
    assert_int_equal(flags, MSG_FLAG_SEEN | MSG_FLAG_FLAGGED | MSG_FLAG_ANSWERED);
    assert_buf(&kw, "$Forwarded Work");
    assert_buf(&b, msg);

    buf_reset(&b);
    transfer_mbox_flag_lines(0, NULL, 0, &b);
    assert_buf(&b, "Status: O\nX-Status:\nX-Keywords:\n");
    transfer_mbox_take_flags(&b, &flags, &kw);
    assert_int_equal(flags, 0);
    assert_int_equal(kw.len, 0);
    assert_int_equal(b.len, 0);
    buf_free(&b);
    buf_free(&kw);
}

static void foreign_flag_fields_are_read_and_removed_from_the_header_only(void **state)
{
    buf b = BUF_INIT, kw = BUF_INIT;
    buf_puts(&b, "Subject: s\nStatus: RO\nX-Keywords: Junk,\n $label1\nX-Status: FT\n\n"
                 "Status: in the body\n");
    uint32_t flags;
    transfer_mbox_take_flags(&b, &flags, &kw);
    assert_int_equal(flags, MSG_FLAG_SEEN | MSG_FLAG_FLAGGED | MSG_FLAG_DRAFT);
    assert_buf(&kw, "Junk $label1");
    assert_buf(&b, "Subject: s\n\nStatus: in the body\n");
    /* Thunderbird's: read + replied + forwarded, its keys. */
    buf_reset(&b);
    buf_puts(&b, "X-Mozilla-Status: 1003\nX-Mozilla-Status2: 00000000\nX-Mozilla-Keys: $label2\n"
                 "Subject: t\n\nbody\n");
    transfer_mbox_take_flags(&b, &flags, &kw);
    assert_int_equal(flags, MSG_FLAG_SEEN | MSG_FLAG_ANSWERED);
    assert_buf(&kw, "$Forwarded $label2");
    assert_buf(&b, "Subject: t\n\nbody\n");
    buf_free(&b);
    buf_free(&kw);
}

/* --- Maildir, paths ------------------------------------------------------------------ */

static void maildir_info_is_sorted_and_parses_back(void **state)
{
    buf b = BUF_INIT;
    transfer_maildir_info(MSG_FLAG_SEEN | MSG_FLAG_DRAFT | MSG_FLAG_DELETED | MSG_FLAG_ANSWERED |
                          MSG_FLAG_FLAGGED, 1, "ca", &b);
    assert_buf(&b, ":2,DFPRSTac");
    uint32_t flags;
    int fwd;
    char letters[27];
    transfer_maildir_parse_info("1700000000.M1P2.host,S=12:2,STbz", &flags, &fwd, letters);
    assert_int_equal(flags, MSG_FLAG_SEEN | MSG_FLAG_DELETED);
    assert_int_equal(fwd, 0);
    assert_string_equal(letters, "bz");
    transfer_maildir_parse_info("1700000000.M1P2.host", &flags, &fwd, letters);
    assert_int_equal(flags, 0);
    assert_string_equal(letters, "");
    transfer_maildir_parse_info("x:2,P", &flags, &fwd, letters);
    assert_int_equal(fwd, 1);
    buf_free(&b);
}

static void path_escape_hides_dots_and_separators(void **state)
{
    buf b = BUF_INIT, u = BUF_INIT;
    transfer_path_escape("..", 2, 0, &b);
    assert_buf(&b, "%2E.");
    buf_reset(&b);
    transfer_path_escape("a.b%c:d", 7, 1, &b);
    assert_buf(&b, "a%2Eb%25c%3Ad");
    transfer_path_unescape(b.p, b.len, &u);
    assert_buf(&u, "a.b%c:d");
    buf_reset(&u);
    transfer_path_unescape("caf\xc3\xa9%2", 7, &u);     /* a cut escape stays as it is */
    assert_buf(&u, "caf\xc3\xa9%2");
    buf_free(&b);
    buf_free(&u);
}

/* --- Zip ------------------------------------------------------------------------------ */

static uint32_t rd32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static unsigned rd16(const unsigned char *p) { return p[0] | p[1] << 8; }

static void zip_has_correct_crc_sizes_and_central_directory(void **state)
{
    char *data = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&data, &size);
    transfer_zip *z = transfer_zip_new(f);
    char big[4000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 7);
    assert_int_equal(transfer_zip_add(z, "INBOX/1.eml", big, sizeof big, 1700000000), 0);
    assert_int_equal(transfer_zip_add(z, "caf\xc3\xa9/2.eml", "x", 1, 1700000000), 0);
    assert_int_equal(transfer_zip_finish(z), 0);
    fclose(f);
    const unsigned char *p = (const unsigned char *)data;

    /* First local header: deflated (the repetitive text shrinks), real CRC. */
    assert_int_equal(rd32(p), 0x04034b50);
    assert_int_equal(rd16(p + 6), 0x0800);
    assert_int_equal(rd16(p + 8), 8);
    uint32_t crc = (uint32_t)crc32(0, (const Bytef *)big, sizeof big);
    assert_int_equal(rd32(p + 14), crc);
    uint32_t csize = rd32(p + 18);
    assert_int_equal(rd32(p + 22), sizeof big);
    assert_int_equal(rd16(p + 26), 11);
    assert_memory_equal(p + 30, "INBOX/1.eml", 11);
    /* Inflate it back. */
    unsigned char out[4000];
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(inflateInit2(&zs, -15), Z_OK);
    zs.next_in = (Bytef *)(p + 30 + 11);
    zs.avail_in = csize;
    zs.next_out = out;
    zs.avail_out = sizeof out;
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    inflateEnd(&zs);
    assert_memory_equal(out, big, sizeof big);

    /* Second entry: one byte, stored. */
    const unsigned char *q = p + 30 + 11 + csize;
    assert_int_equal(rd32(q), 0x04034b50);
    assert_int_equal(rd16(q + 8), 0);
    assert_int_equal(rd32(q + 14), (uint32_t)crc32(0, (const Bytef *)"x", 1));
    assert_int_equal(rd32(q + 18), 1);

    /* End record: two entries, the central directory where it says. */
    const unsigned char *e = p + size - 22;
    assert_int_equal(rd32(e), 0x06054b50);
    assert_int_equal(rd16(e + 8), 2);
    assert_int_equal(rd16(e + 10), 2);
    uint32_t cd_size = rd32(e + 12), cd_off = rd32(e + 16);
    assert_int_equal(cd_off + cd_size, size - 22);
    assert_int_equal(rd32(p + cd_off), 0x02014b50);
    assert_int_equal(rd32(p + cd_off + 42), 0);                /* first local header at 0 */
    assert_int_equal(rd32(p + cd_off + 38) >> 16, 0100600);
    free(data);
}

static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static void zip_past_65535_entries_writes_zip64_end_records(void **state)
{
    char path[] = "/tmp/test_transfer_zip64.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w+b");
    transfer_zip *z = transfer_zip_new(f);
    char name[32];
    for (unsigned i = 0; i < 65537; i++) {
        snprintf(name, sizeof name, "m/%u.eml", i);
        assert_int_equal(transfer_zip_add(z, name, "x\r\n", 3, 1700000000), 0);
    }
    assert_int_equal(transfer_zip_finish(z), 0);
    fflush(f);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    size_t size = (size_t)sb.st_size;
    unsigned char *p = malloc(size);
    rewind(f);
    assert_int_equal(fread(p, 1, size, f), size);
    fclose(f);
    unlink(path);
    /* EOCD says "see ZIP64"; the locator points at the ZIP64 end record, which
     * holds the real count and the central directory's place. */
    const unsigned char *e = p + size - 22, *loc = e - 20;
    assert_int_equal(rd32(e), 0x06054b50);
    assert_int_equal(rd16(e + 10), 0xffff);
    assert_int_equal(rd32(loc), 0x07064b50);
    uint64_t rec = rd64(loc + 8);
    assert_int_equal(rec, size - 22 - 20 - 56);
    assert_int_equal(rd32(p + rec), 0x06064b50);
    assert_int_equal(rd64(p + rec + 4), 44);
    assert_int_equal(rd64(p + rec + 32), 65537);
    uint64_t cd_size = rd64(p + rec + 40), cd_off = rd64(p + rec + 48);
    assert_int_equal(cd_off + cd_size, rec);
    assert_int_equal(rd32(p + cd_off), 0x02014b50);
    free(p);
}

/* --- Round trips through the store ------------------------------------------------- */

typedef struct fixture {
    char dir[64];
    char out[96];
    unsigned char key[STORE_KEY_LEN];
    store_mailbox *a, *b;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_transfer.XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->out, sizeof f->out, "%s/out", f->dir);
    unsigned char seal[32] = { 1 };
    for (int i = 0; i < STORE_KEY_LEN; i++) f->key[i] = (unsigned char)(i * 5 + 3);
    if (store_create(f->dir, MBOX_A, f->key, seal) != STORE_OK ||
        store_create(f->dir, MBOX_B, f->key, seal) != STORE_OK ||
        store_open(f->dir, MBOX_A, f->key, &f->a) != STORE_OK ||
        store_open(f->dir, MBOX_B, f->key, &f->b) != STORE_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->a);
    store_close(f->b);
    rm_rf(f->dir);
    free(f);
    return 0;
}

static const char *const TRICKY[] = {
    "From: a@x.org\r\nSubject: from lines\r\n\r\nFrom here on\r\n>From quoted\r\n>>From twice\r\n",
    "Subject: no final newline\r\n\r\nlast line",
    "Subject: empty body\r\n\r\n",
    "Subject: 8bit \xc3\xa9\r\nReturn-Path: <r@x.org>\r\n\r\ncaf\xc3\xa9 \xff\xfe\r\n\r\n\r\n",
    "Subject: blank lines at end\r\n\r\nbody\r\n\r\n",
    "Subject: dup\r\n\r\nsame\r\n",
    "no header at all",
    "Subject: dup\r\n\r\nsame\r\n",     /* the same folder as [5]: both kept */
};
#define NTRICKY (sizeof TRICKY / sizeof TRICKY[0])

static void fill(store_mailbox *m)
{
    assert_int_equal(store_folder_create(m, "Work/2023.Q1", 0), STORE_OK);
    const char *kw[] = { "$Forwarded", "Project" };
    for (size_t i = 0; i < NTRICKY; i++) {
        const char *folder = i % 2 ? "Work/2023.Q1" : "INBOX";
        assert_int_equal(store_append(m, folder, (uint32_t)i & MSG_FLAG_ALL, kw, i % 3, 1600000000 + (int64_t)i * 86400,
                                      0, TRICKY[i], strlen(TRICKY[i]), NULL, NULL), STORE_OK);
    }
}

/* Every message of `m` in folder order as "folder|flags|kw|date|bytes\n". */
static void describe(store_mailbox *m, buf *out)
{
    store_folder *fl;
    size_t nf;
    char **kwn;
    size_t nkw;
    assert_int_equal(store_keywords(m, &kwn, &nkw), STORE_OK);
    assert_int_equal(store_folder_list(m, &fl, &nf), STORE_OK);
    for (size_t i = 0; i < nf; i++) {
        store_view v;
        assert_int_equal(store_select(m, fl[i].name, 0, &v), STORE_OK);
        for (size_t k = 0; k < v.nmsgs; k++) {
            store_msg msg;
            assert_int_equal(store_fetch(m, v.folder_id, v.msgs[k].uid, STORE_FETCH_RAW, &msg), STORE_OK);
            buf_printf(out, "%s|%u|", fl[i].name, msg.flags);
            for (size_t j = 0; j < nkw; j++)
                if (msg.keywords & (1ull << j)) buf_printf(out, "%s,", kwn[j]);
            buf_printf(out, "|%lld|", (long long)msg.internaldate);
            buf_append(out, msg.raw, msg.raw_len);
            buf_putc(out, '\n');
            store_msg_clear(&msg);
        }
        store_view_clear(&v);
    }
    store_folders_free(fl, nf);
    for (size_t j = 0; j < nkw; j++) free(kwn[j]);
    free(kwn);
}

static void round_trip(fixture *f, transfer_format fmt)
{
    fill(f->a);
    transfer_stats st;
    char err[512] = "";
    assert_int_equal(transfer_export(f->a, fmt, f->out, NULL, &st, err, sizeof err), 0);
    assert_int_equal(st.messages, NTRICKY);
    assert_int_equal(st.folders, 8);          /* six defaults, Work, Work/2023.Q1 */
    assert_int_equal(transfer_import(f->b, fmt, f->out, NULL, &st, err, sizeof err), 0);
    assert_int_equal(st.added, NTRICKY);      /* the two identical copies both come in */
    assert_int_equal(st.present, 0);
    buf da = BUF_INIT, db = BUF_INIT;
    describe(f->a, &da);
    describe(f->b, &db);
    assert_int_equal(da.len, db.len);
    assert_memory_equal(da.p, db.p, da.len);
    /* Again: nothing new. */
    assert_int_equal(transfer_import(f->b, fmt, f->out, NULL, &st, err, sizeof err), 0);
    assert_int_equal(st.added, 0);
    assert_int_equal(st.present, NTRICKY);
    buf_free(&da);
    buf_free(&db);
}

static void mbox_round_trip_is_byte_exact_and_idempotent(void **state)
{
    fixture *f = *state;
    round_trip(f, TRANSFER_MBOX);
    char p[160];
    snprintf(p, sizeof p, "%s/Work/2023.Q1.mbox", f->out);
    assert_int_equal(file_exists(p), 1);
    snprintf(p, sizeof p, "%s/INBOX.mbox", f->out);
    /* The body's "From " lines are quoted in the file, the separators are not. */
    assert_int_equal(file_contains(p, "\n>From here on\n>>From quoted\n>>>From twice\n"), 1);
    assert_int_equal(file_contains(p, "From a@x.org Sun Sep 13 12:26:40 2020\nStatus: O\n"
                                      "X-Status:\nX-Keywords:\nFrom: a@x.org\n"), 1);
}

static void maildir_round_trip_is_byte_exact_and_idempotent(void **state)
{
    fixture *f = *state;
    round_trip(f, TRANSFER_MAILDIR);
    char p[160];
    snprintf(p, sizeof p, "%s/.Work.2023%%2EQ1/cur", f->out);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    snprintf(p, sizeof p, "%s/dovecot-keywords", f->out);
    assert_int_equal(file_contains(p, "0 $Forwarded\n1 Project\n"), 1);
}

static void export_refuses_a_non_empty_out(void **state)
{
    fixture *f = *state;
    transfer_stats st;
    char err[512] = "";
    mkdir(f->out, 0700);
    char p[160];
    snprintf(p, sizeof p, "%s/x", f->out);
    assert_int_equal(file_write_atomic(p, "x", 1, 0600), 0);
    assert_int_equal(transfer_export(f->a, TRANSFER_MBOX, f->out, NULL, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "not empty"));
    assert_int_equal(transfer_export(f->a, TRANSFER_EMLZIP, p, NULL, &st, err, sizeof err), -1);
}

static void bad_mbox_is_named_by_file_and_line(void **state)
{
    fixture *f = *state;
    char p[160];
    snprintf(p, sizeof p, "%s/bad.mbox", f->dir);
    const char text[] = "\n\nSubject: not an mbox\n";
    assert_int_equal(file_write_atomic(p, text, sizeof text - 1, 0600), 0);
    transfer_stats st;
    char err[512] = "";
    assert_int_equal(transfer_import(f->b, TRANSFER_MBOX, p, NULL, &st, err, sizeof err), -1);
    char want[200];
    snprintf(want, sizeof want, "%s:3: not an mbox file", p);
    assert_non_null(strstr(err, want));
}

static int warnings;
static void count_warning(void *arg, const char *msg) { warnings++; }

static void foreign_mbox_keeps_flags_dates_and_skips_what_is_too_big(void **state)
{
    fixture *f = *state;
    char p[160];
    snprintf(p, sizeof p, "%s/in.mbox", f->dir);
    buf b = BUF_INIT;
    /* mboxo-style, Content-Length lying, flags at the end of the header. */
    buf_puts(&b, "From x@y Tue Nov 14 22:13:20 2023\nSubject: one\nContent-Length: 3\n"
                 "Status: RO\nX-Status: A\n\nbody\n>From quoted\n\n"
                 "From x@y Tue Nov 14 22:13:21 2023\nSubject: big\n\n");
    for (size_t i = 0; i < IMAP_APPEND_MAX / 64 + 1; i++)
        buf_puts(&b, "0123456789012345678901234567890123456789012345678901234567890123\n");
    buf_puts(&b, "\nFrom x@y Tue Nov 14 22:13:22 2023\nSubject: three\n\nend\n\n");
    assert_int_equal(file_write_atomic(p, b.p, b.len, 0600), 0);
    buf_free(&b);
    transfer_stats st;
    char err[512] = "";
    transfer_opts o = { count_warning, NULL };
    warnings = 0;
    assert_int_equal(transfer_import(f->b, TRANSFER_MBOX, p, &o, &st, err, sizeof err), 0);
    assert_int_equal(st.messages, 3);
    assert_int_equal(st.added, 2);
    assert_int_equal(st.skipped, 1);
    assert_int_equal(warnings, 1);
    store_view v;
    assert_int_equal(store_select(f->b, "INBOX", 0, &v), STORE_OK);
    assert_int_equal(v.nmsgs, 2);
    store_msg m;
    assert_int_equal(store_fetch(f->b, v.folder_id, v.msgs[0].uid, STORE_FETCH_RAW, &m), STORE_OK);
    assert_int_equal(m.flags, MSG_FLAG_SEEN | MSG_FLAG_ANSWERED);
    assert_int_equal(m.internaldate, 1700000000);
    const char want[] = "Subject: one\r\nContent-Length: 3\r\n\r\nbody\r\nFrom quoted\r\n";
    assert_int_equal(m.raw_len, sizeof want - 1);
    assert_memory_equal(m.raw, want, m.raw_len);
    store_msg_clear(&m);
    store_view_clear(&v);
}

static void put_file(const char *dir, const char *name, const char *text, int64_t mtime)
{
    char p[300];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    assert_int_equal(mkdir_p(p, 0700), 0);
    *slash = '/';
    assert_int_equal(file_write_atomic(p, text, strlen(text), 0600), 0);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "touch -d @%lld '%s'", (long long)mtime, p);
    assert_int_equal(system(cmd), 0);
}

static void plain_and_nested_maildirs_import_into_folders(void **state)
{
    fixture *f = *state;
    char in[128];
    snprintf(in, sizeof in, "%s/md", f->dir);
    put_file(in, "cur/100.a:2,S", "Subject: inbox\n\nx\n", 1500000000);
    put_file(in, "new/200.b", "Subject: new\n\ny\n", 1500000001);
    put_file(in, "Work/cur/300.c:2,FRa", "Subject: work\n\nz\n", 1500000002);
    put_file(in, "Work/dovecot-keywords", "0 Urgent\n", 1500000002);
    put_file(in, "Work/Sub/new/400.d", "Subject: sub\n\nw\n", 1500000003);
    transfer_stats st;
    char err[512] = "";
    assert_int_equal(transfer_import(f->b, TRANSFER_MAILDIR, in, NULL, &st, err, sizeof err), 0);
    assert_int_equal(st.added, 4);
    buf d = BUF_INIT;
    describe(f->b, &d);
    assert_buf(&d, "INBOX|1||1500000000|Subject: inbox\r\n\r\nx\r\n\n"
                   "INBOX|0||1500000001|Subject: new\r\n\r\ny\r\n\n"
                   "Work|6|Urgent,|1500000002|Subject: work\r\n\r\nz\r\n\n"
                   "Work/Sub|0||1500000003|Subject: sub\r\n\r\nw\r\n\n");
    buf_free(&d);
}

static void refused_folder_counts_its_messages_as_skipped(void **state)
{
    fixture *f = *state;
    char in[128];
    snprintf(in, sizeof in, "%s/tree", f->dir);
    put_file(in, "ok.mbox", "From a Tue Nov 14 22:13:20 2023\nSubject: ok\n\nx\n\n", 1);
    put_file(in, "bad\xff.mbox", "From a Tue Nov 14 22:13:20 2023\nSubject: 1\n\nx\n\n"
                                 "From a Tue Nov 14 22:13:20 2023\nSubject: 2\n\ny\n\n", 1);
    transfer_stats st;
    char err[512] = "";
    transfer_opts o = { count_warning, NULL };
    warnings = 0;
    assert_int_equal(transfer_import(f->b, TRANSFER_MBOX, in, &o, &st, err, sizeof err), 0);
    assert_int_equal(st.messages, 3);
    assert_int_equal(st.added, 1);
    assert_int_equal(st.skipped, 2);
    assert_int_equal(warnings, 1);
    store_folder sf;
    assert_int_equal(store_folder_status(f->b, "ok", &sf), STORE_OK);
    assert_int_equal(sf.messages, 1);
    store_folder_clear(&sf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mboxrd_quote_adds_one_gt_to_from_lines_only),
        cmocka_unit_test(mboxrd_unquote_recognises_quoted_from_lines),
        cmocka_unit_test(crlf_to_lf_keeps_bare_cr),
        cmocka_unit_test(from_line_takes_return_path_then_from_then_mailer_daemon),
        cmocka_unit_test(from_line_dates_parse_in_common_forms),
        cmocka_unit_test(flag_lines_round_trip_and_leave_the_message_exact),
        cmocka_unit_test(foreign_flag_fields_are_read_and_removed_from_the_header_only),
        cmocka_unit_test(maildir_info_is_sorted_and_parses_back),
        cmocka_unit_test(path_escape_hides_dots_and_separators),
        cmocka_unit_test(zip_has_correct_crc_sizes_and_central_directory),
        cmocka_unit_test(zip_past_65535_entries_writes_zip64_end_records),
        cmocka_unit_test_setup_teardown(mbox_round_trip_is_byte_exact_and_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(maildir_round_trip_is_byte_exact_and_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(export_refuses_a_non_empty_out, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_mbox_is_named_by_file_and_line, setup, teardown),
        cmocka_unit_test_setup_teardown(plain_and_nested_maildirs_import_into_folders, setup, teardown),
        cmocka_unit_test_setup_teardown(refused_folder_counts_its_messages_as_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(foreign_mbox_keeps_flags_dates_and_skips_what_is_too_big, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
