/*
 * test_outbound.c — the outbound queue (outbound_queue.c), its backoff and
 * expiry, the DSN a failed forward produces, the webhook JSON document, the
 * SMTP client against a tiny in-test SMTP sink, and the runner's handling of
 * refused connections and expiry. Plus the directory's forward/webhook
 * validation.
 *
 * Each queue test gets a fresh temporary queue file with a random key.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "mime/mime.h"
#include "directory/directory.h"
#include "outbound/outbound.h"

typedef struct fixture {
    char dir[64];
    char path[128];
    unsigned char key[32];
    outbound_queue *q;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_outbound.XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/queue.db", f->dir);
    randombytes_buf(f->key, sizeof f->key);
    char err[256];
    f->q = outbound_open_file(f->path, f->key, err, sizeof err);
    if (!f->q) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    outbound_close(f->q);
    char p[160];
    static const char *const sfx[] = { "", "-wal", "-shm" };
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, sfx[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static outbound_job job(outbound_kind kind, const char *sender, const char *target, const char *msg)
{
    return (outbound_job){ .kind = kind, .sender = (char *)sender, .rcpt = "alias@example.org",
                           .target = (char *)target, .msg = (char *)msg, .len = strlen(msg) };
}

static const char MSG[] =
    "Return-Path: <sender@remote.test>\r\n"
    "From: Sender <sender@remote.test>\r\n"
    "To: alias@example.org\r\n"
    "Subject: hello\r\n"
    "\r\n"
    "body line\r\n"
    ".leading dot\r\n";

/* --- Queue ----------------------------------------------------------------------- */

static void enqueue_then_due_returns_every_field_in_order(void **state)
{
    fixture *f = *state;
    outbound_job in[2] = { job(OUTBOUND_FORWARD, "sender@remote.test", "t1@far.test", MSG),
                           job(OUTBOUND_WEBHOOK, "sender@remote.test", "http://127.0.0.1:9/h", MSG) };
    assert_int_equal(outbound_enqueue(f->q, in, 2, 1000), 0);
    assert_true(in[0].id > 0);
    assert_true(in[1].id > in[0].id);
    outbound_job *v;
    size_t n;
    assert_int_equal(outbound_due(f->q, 1000, 10, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].id, in[0].id);
    assert_int_equal(v[0].kind, OUTBOUND_FORWARD);
    assert_string_equal(v[0].sender, "sender@remote.test");
    assert_string_equal(v[0].rcpt, "alias@example.org");
    assert_string_equal(v[0].target, "t1@far.test");
    assert_int_equal(v[0].len, strlen(MSG));
    assert_memory_equal(v[0].msg, MSG, strlen(MSG));
    assert_int_equal(v[0].created, 1000);
    assert_int_equal(v[0].attempts, 0);
    assert_int_equal(v[1].kind, OUTBOUND_WEBHOOK);
    assert_string_equal(v[1].target, "http://127.0.0.1:9/h");
    outbound_jobs_free(v, n);
    assert_int_equal(outbound_due(f->q, 999, 10, &v, &n), 0);
    assert_int_equal(n, 0);
    outbound_jobs_free(v, n);
}

static void deferred_job_is_not_due_until_its_backoff_passes(void **state)
{
    fixture *f = *state;
    outbound_policy p = { 60, 3600, 5 * 86400 };
    outbound_job in = job(OUTBOUND_FORWARD, "s@r.test", "t@f.test", MSG);
    assert_int_equal(outbound_enqueue(f->q, &in, 1, 1000), 0);
    outbound_job *v;
    size_t n;
    assert_int_equal(outbound_due(f->q, 1000, 10, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(outbound_defer(f->q, &v[0], 1000, &p), 0);
    assert_int_equal(v[0].next_at, 1060);
    assert_int_equal(v[0].attempts, 1);
    outbound_jobs_free(v, n);
    assert_int_equal(outbound_due(f->q, 1059, 10, &v, &n), 0);
    assert_int_equal(n, 0);
    outbound_jobs_free(v, n);
    assert_int_equal(outbound_due(f->q, 1060, 10, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].attempts, 1);
    /* Second failure: twice the wait. */
    assert_int_equal(outbound_defer(f->q, &v[0], 1060, &p), 0);
    assert_int_equal(v[0].next_at, 1060 + 120);
    outbound_jobs_free(v, n);
}

static void backoff_doubles_from_the_first_delay_and_stops_at_the_cap(void **state)
{
    outbound_policy p = { 60, 3600, 5 * 86400 };
    static const int64_t want[] = { 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600 };
    for (int i = 0; i < (int)(sizeof want / sizeof want[0]); i++)
        assert_int_equal(outbound_backoff(&p, i), want[i]);
    assert_int_equal(outbound_backoff(&p, 1000), 3600);     /* no overflow */
    outbound_policy t = { 1, 2, 10 };
    assert_int_equal(outbound_backoff(&t, 0), 1);
    assert_int_equal(outbound_backoff(&t, 1), 2);
    assert_int_equal(outbound_backoff(&t, 5), 2);
}

static void defer_after_the_lifetime_reports_expiry_and_last_try_lands_on_the_deadline(void **state)
{
    fixture *f = *state;
    outbound_policy p = { 60, 3600, 100 };
    outbound_job in = job(OUTBOUND_FORWARD, "s@r.test", "t@f.test", MSG);
    assert_int_equal(outbound_enqueue(f->q, &in, 1, 1000), 0);
    in.attempts = 3;                    /* backoff 480 s > the 100 s left */
    assert_int_equal(outbound_defer(f->q, &in, 1000, &p), 0);
    assert_int_equal(in.next_at, 1100);
    assert_int_equal(outbound_defer(f->q, &in, 1100, &p), 1);
}

static void done_removes_the_job(void **state)
{
    fixture *f = *state;
    outbound_job in[2] = { job(OUTBOUND_FORWARD, "s@r.test", "a@f.test", MSG),
                           job(OUTBOUND_FORWARD, "s@r.test", "b@f.test", MSG) };
    assert_int_equal(outbound_enqueue(f->q, in, 2, 5), 0);
    assert_int_equal(outbound_count(f->q), 2);
    assert_int_equal(outbound_done(f->q, in[0].id), 0);
    assert_int_equal(outbound_count(f->q), 1);
    outbound_job *v;
    size_t n;
    assert_int_equal(outbound_due(f->q, 5, 10, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].target, "b@f.test");
    outbound_jobs_free(v, n);
}

static int file_has(const char *path, const char *needle)
{
    char *data;
    size_t len;
    if (file_read_all(path, &data, &len, 64 << 20) < 0) return 0;
    int hit = memmem(data, len, needle, strlen(needle)) != NULL;
    free(data);
    return hit;
}

static void queue_file_holds_no_plaintext_and_opens_only_with_its_key(void **state)
{
    fixture *f = *state;
    const char *canary = "Subject: CANARY-7f3a9b-outbound\r\n\r\nCANARY-7f3a9b-outbound body\r\n";
    outbound_job in = job(OUTBOUND_FORWARD, "canary-sender@r.test", "canary-target@f.test", canary);
    assert_int_equal(outbound_enqueue(f->q, &in, 1, 5), 0);
    char p[160];
    static const char *const sfx[] = { "", "-wal" };
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, sfx[i]);
        assert_false(file_has(p, "CANARY-7f3a9b"));
        assert_false(file_has(p, "canary-target"));
    }
    unsigned char wrong[32];
    randombytes_buf(wrong, sizeof wrong);
    char err[256];
    outbound_queue *other = outbound_open_file(f->path, wrong, err, sizeof err);
    assert_null(other);
}

/* --- DSN ------------------------------------------------------------------------- */

static const mime_part *child_of_type(const mime_part *root, size_t i, const char *type, const char *sub)
{
    assert_true(i < root->nchildren);
    const mime_part *c = root->children[i];
    assert_string_equal(c->type, type);
    assert_string_equal(c->subtype, sub);
    return c;
}

static void bounce_is_a_multipart_report_with_status_and_original_header(void **state)
{
    outbound_job j = job(OUTBOUND_FORWARD, "sender@remote.test", "target@far.test", MSG);
    j.created = 0;
    buf b = BUF_INIT;
    outbound_bounce_build(&j, "mx.example.org", "delivery time expired (relay: connection refused)", 86400, &b);
    mime_part *root = mime_parse(b.p, b.len);
    assert_string_equal(root->type, "multipart");
    assert_string_equal(root->subtype, "report");
    int found = 0;
    for (size_t i = 0; i < root->nparams; i++)
        if (!strcmp(root->params[i].name, "report-type"))
            found = !strcmp(root->params[i].value, "delivery-status");
    assert_true(found);
    assert_int_equal(root->nchildren, 3);
    child_of_type(root, 0, "text", "plain");
    const mime_part *ds = child_of_type(root, 1, "message", "delivery-status");
    const mime_part *hd = child_of_type(root, 2, "text", "rfc822-headers");
    static const char want_ds[] =
        "Reporting-MTA: dns; mx.example.org\r\n"
        "Arrival-Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"
        "\r\n"
        "Final-Recipient: rfc822; target@far.test\r\n"
        "Action: failed\r\n"
        "Status: 4.4.7\r\n";      /* the CRLF before the delimiter is not the part's */
    assert_int_equal(ds->body_len, strlen(want_ds));
    assert_memory_equal(b.p + ds->body_off, want_ds, strlen(want_ds));
    /* The original header, not the body. */
    const char *hdr_end = strstr(MSG, "\r\n\r\n") + 2;
    size_t hlen = (size_t)(hdr_end - MSG);
    assert_true(hd->body_len >= hlen);
    assert_memory_equal(b.p + hd->body_off, MSG, hlen);
    assert_null(memmem(b.p, b.len, "leading dot", 11));
    assert_non_null(strstr(b.p, "\r\nTo: <sender@remote.test>\r\n"));
    assert_non_null(strstr(b.p, "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"));
    assert_non_null(strstr(b.p, "\r\nAuto-Submitted: auto-replied\r\n"));
    assert_non_null(strstr(b.p, "\r\nDate: Fri, 02 Jan 1970 00:00:00 +0000\r\n"));
    mime_free(root);
    buf_free(&b);
}

static void bounce_takes_status_and_diagnostic_from_an_smtp_reply(void **state)
{
    outbound_job j = job(OUTBOUND_FORWARD, "s@r.test", "t@f.test", MSG);
    buf b = BUF_INIT;
    outbound_bounce_build(&j, "h", "550 5.1.1 no such user", 0, &b);
    assert_non_null(strstr(b.p, "\r\nAction: failed\r\nStatus: 5.1.1\r\n"
                                "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n\r\n"));
    buf_free(&b);
}

/* --- JSON ------------------------------------------------------------------------ */

static void json_string_escapes_quotes_controls_and_replaces_invalid_utf8(void **state)
{
    buf b = BUF_INIT;
    const char in[] = "a\"b\\c\n\r\t\x01\x7f" "\xc3\xa9" "\xff" "z";
    outbound_json_string(&b, in, sizeof in - 1);
    assert_string_equal(b.p, "\"a\\\"b\\\\c\\n\\r\\t\\u0001\\u007f\xc3\xa9\xef\xbf\xbdz\"");
    buf_free(&b);
}

static void webhook_json_decodes_parts_headers_and_lists_attachments(void **state)
{
    static const char m[] =
        "Return-Path: <s@r.test>\r\n"
        "From: =?UTF-8?B?SsO8cmdlbg==?= <j@r.test>\r\n"
        "To: a@example.org\r\n"
        "Subject: =?iso-8859-1?Q?caf=E9?= =?utf-8?q?_ok?= \"q\"\r\n"
        "Date: Mon, 2 Jan 2023 10:00:00 +0000\r\n"
        "Message-ID: <id1@r.test>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"B\"\r\n"
        "\r\n"
        "--B\r\n"
        "Content-Type: multipart/alternative; boundary=\"C\"\r\n"
        "\r\n"
        "--C\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n"
        "Gr=C3=BC=C3=9Fe, soft=\r\n"
        "break\r\n"
        "--C\r\n"
        "Content-Type: text/html; charset=iso-8859-1\r\n"
        "\r\n"
        "<p>caf\xe9</p>\r\n"
        "--C--\r\n"
        "--B\r\n"
        "Content-Type: application/pdf; name=\"x.pdf\"\r\n"
        "Content-Disposition: attachment; filename=\"r\xc3\xa9port.pdf\"\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        "AAECAwQ=\r\n"
        "--B--\r\n";
    buf b = BUF_INIT;
    outbound_webhook_json("s@r.test", "a@example.org", m, sizeof m - 1, &b);
    char want[2048];
    snprintf(want, sizeof want,
             "{\"envelope\":{\"from\":\"s@r.test\",\"to\":\"a@example.org\"},"
             "\"headers\":{\"from\":\"J\xc3\xbcrgen <j@r.test>\",\"to\":\"a@example.org\","
             "\"cc\":null,\"subject\":\"caf\xc3\xa9 ok \\\"q\\\"\","
             "\"date\":\"Mon, 2 Jan 2023 10:00:00 +0000\",\"message_id\":\"<id1@r.test>\"},"
             "\"text\":\"Gr\xc3\xbc\xc3\x9f" "e, softbreak\","
             "\"html\":\"<p>caf\xc3\xa9</p>\",\"truncated\":false,"
             "\"attachments\":[{\"filename\":\"r\xc3\xa9port.pdf\",\"content_type\":\"application/pdf\",\"size\":5}],"
             "\"raw_size\":%zu}", sizeof m - 1);
    assert_string_equal(b.p, want);
    buf_free(&b);
}

/* --- Directory validation -------------------------------------------------------- */

static void forward_list_is_normalised_deduplicated_and_bounded(void **state)
{
    char out[FORWARD_LIST_MAX + 1];
    assert_int_equal(directory_forward_list_normalise(" A@X.org, b@y.org ,a@x.org", out, sizeof out), 0);
    assert_string_equal(out, "a@x.org,b@y.org");
    assert_int_equal(directory_forward_list_normalise("none", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(directory_forward_list_normalise("a@x.org,,b@y.org", out, sizeof out), -1);
    assert_int_equal(directory_forward_list_normalise("not-an-address", out, sizeof out), -1);
    assert_int_equal(directory_forward_list_normalise("a@x.org\r\nRCPT TO:<e@v.il>", out, sizeof out), -1);
    char many[1024] = "";
    for (int i = 0; i <= FORWARD_TARGETS_MAX; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%su%d@x.org", i ? "," : "", i);
    assert_int_equal(directory_forward_list_normalise(many, out, sizeof out), -1);
}

static void webhook_url_must_be_http_or_https_with_a_host(void **state)
{
    assert_true(directory_webhook_url_ok("http://127.0.0.1:8080/hook"));
    assert_true(directory_webhook_url_ok("https://hooks.example/p?t=1"));
    assert_false(directory_webhook_url_ok("ftp://x/"));
    assert_false(directory_webhook_url_ok("file:///etc/passwd"));
    assert_false(directory_webhook_url_ok("http:///path"));
    assert_false(directory_webhook_url_ok("http://a b/"));
    assert_false(directory_webhook_url_ok("http://x/\r\nHost: y"));
    assert_false(directory_webhook_url_ok(""));
}

/* --- SMTP client against an in-test sink ------------------------------------------ */

typedef struct sink {
    int lfd, port;
    pthread_t t;
    buf transcript;       /* what the client sent */
    const char *data_reply;
} sink;

static void sink_send(int fd, const char *s)
{
    ssize_t w = write(fd, s, strlen(s));
    (void)w;
}

static int sink_line(int fd, sink *s, char *line, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char c;
        if (read(fd, &c, 1) != 1) return -1;
        buf_putc(&s->transcript, c);
        if (n + 1 < cap) line[n++] = c;
        if (c == '\n') break;
    }
    line[n] = '\0';
    return 0;
}

static void *sink_main(void *arg)
{
    sink *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0) return NULL;
    char line[2048];
    sink_send(fd, "220 sink ESMTP\r\n");
    int in_data = 0;
    while (sink_line(fd, s, line, sizeof line) == 0) {
        if (in_data) {
            if (!strcmp(line, ".\r\n")) { in_data = 0; sink_send(fd, s->data_reply); }
            continue;
        }
        if (!strncmp(line, "EHLO", 4)) sink_send(fd, "250-sink\r\n250-8BITMIME\r\n250 SIZE 1000000\r\n");
        else if (!strncmp(line, "DATA", 4)) { in_data = 1; sink_send(fd, "354 go\r\n"); }
        else if (!strncmp(line, "QUIT", 4)) { sink_send(fd, "221 bye\r\n"); break; }
        else sink_send(fd, "250 ok\r\n");
    }
    close(fd);
    return NULL;
}

static void sink_start(sink *s, const char *data_reply)
{
    memset(s, 0, sizeof *s);
    s->data_reply = data_reply;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(s->lfd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    assert_int_equal(listen(s->lfd, 4), 0);
    pthread_create(&s->t, NULL, sink_main, s);
}

static void sink_stop(sink *s)
{
    pthread_join(s->t, NULL);
    close(s->lfd);
    buf_free(&s->transcript);
}

static void smtp_client_sends_envelope_and_dot_stuffed_message_without_return_path(void **state)
{
    sink s;
    sink_start(&s, "250 2.0.0 queued\r\n");
    char relay[64], reason[600];
    snprintf(relay, sizeof relay, "127.0.0.1:%d", s.port);
    outbound_result r = outbound_smtp_send(relay, "mx.example.org", "sender@remote.test", "t@far.test",
                                           MSG, strlen(MSG), reason, sizeof reason);
    pthread_join(s.t, NULL);
    assert_int_equal(r, OUTBOUND_SENT);
    static const char want[] =
        "EHLO mx.example.org\r\n"
        "MAIL FROM:<sender@remote.test>\r\n"
        "RCPT TO:<t@far.test>\r\n"
        "DATA\r\n"
        "From: Sender <sender@remote.test>\r\n"
        "To: alias@example.org\r\n"
        "Subject: hello\r\n"
        "\r\n"
        "body line\r\n"
        "..leading dot\r\n"
        ".\r\n"
        "QUIT\r\n";
    assert_int_equal(s.transcript.len, strlen(want));
    assert_memory_equal(s.transcript.p, want, strlen(want));
    close(s.lfd);
    buf_free(&s.transcript);
}

static void smtp_client_reports_5xx_as_permanent_with_the_reply(void **state)
{
    sink s;
    sink_start(&s, "554 5.6.0 rejected\r\n");
    char relay[64], reason[600];
    snprintf(relay, sizeof relay, "127.0.0.1:%d", s.port);
    outbound_result r = outbound_smtp_send(relay, "h", "", "t@far.test", "x\r\n", 3, reason, sizeof reason);
    assert_int_equal(r, OUTBOUND_PERMFAIL);
    assert_string_equal(reason, "554 5.6.0 rejected");
    /* No QUIT after a failed transaction: the client closes, the sink ends. */
    sink_stop(&s);
}

static void smtp_client_refused_connection_is_temporary(void **state)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    char relay[64], reason[600];
    snprintf(relay, sizeof relay, "127.0.0.1:%d", ntohs(a.sin_port));   /* bound, not listening */
    outbound_result r = outbound_smtp_send(relay, "h", "s@r.test", "t@far.test", "x\r\n", 3, reason, sizeof reason);
    close(fd);
    assert_int_equal(r, OUTBOUND_TEMPFAIL);
    assert_string_equal(reason, "relay: connection refused or unreachable");
}

/* --- Runner ---------------------------------------------------------------------- */

static void runner_retries_a_refused_forward_then_bounces_it_to_the_sender(void **state)
{
    fixture *f = *state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    outbound_config cfg = { .policy = { 10, 100, 30 }, .interval = 1 };
    snprintf(cfg.relay, sizeof cfg.relay, "127.0.0.1:%d", ntohs(a.sin_port));
    snprintf(cfg.hostname, sizeof cfg.hostname, "mx.example.org");
    outbound_job in = job(OUTBOUND_FORWARD, "sender@remote.test", "t@far.test", MSG);
    assert_int_equal(outbound_enqueue(f->q, &in, 1, 1000), 0);

    assert_int_equal(outbound_run_once(f->q, &cfg, 1000), 1);
    outbound_job *v;
    size_t n;
    assert_int_equal(outbound_due(f->q, 1009, 10, &v, &n), 0);
    assert_int_equal(n, 0);                                  /* retry in 10 s */
    outbound_jobs_free(v, n);
    assert_int_equal(outbound_run_once(f->q, &cfg, 1010), 1);   /* next in 20 s: at 1030 */
    assert_int_equal(outbound_run_once(f->q, &cfg, 1030), 1);   /* lifetime over: bounce */
    close(fd);
    assert_int_equal(outbound_due(f->q, 1030, 10, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].kind, OUTBOUND_BOUNCE);
    assert_string_equal(v[0].sender, "");
    assert_string_equal(v[0].target, "sender@remote.test");
    assert_non_null(strstr(v[0].msg, "Content-Type: multipart/report; report-type=delivery-status;"));
    assert_non_null(strstr(v[0].msg, "Final-Recipient: rfc822; t@far.test\r\n"));
    assert_non_null(strstr(v[0].msg, "delivery time expired (relay: connection refused or unreachable)"));
    outbound_jobs_free(v, n);
    assert_int_equal(outbound_count(f->q), 1);
}

static void runner_drops_an_undeliverable_bounce_without_bouncing_it(void **state)
{
    fixture *f = *state;
    outbound_config cfg = { .policy = { 10, 100, 0 }, .interval = 1 };
    snprintf(cfg.relay, sizeof cfg.relay, "127.0.0.1:1");
    snprintf(cfg.hostname, sizeof cfg.hostname, "h");
    outbound_job in = job(OUTBOUND_BOUNCE, "", "sender@remote.test", MSG);
    assert_int_equal(outbound_enqueue(f->q, &in, 1, 1000), 0);
    assert_int_equal(outbound_run_once(f->q, &cfg, 1000), 1);
    assert_int_equal(outbound_count(f->q), 0);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(enqueue_then_due_returns_every_field_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(deferred_job_is_not_due_until_its_backoff_passes, setup, teardown),
        cmocka_unit_test(backoff_doubles_from_the_first_delay_and_stops_at_the_cap),
        cmocka_unit_test_setup_teardown(defer_after_the_lifetime_reports_expiry_and_last_try_lands_on_the_deadline,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(done_removes_the_job, setup, teardown),
        cmocka_unit_test_setup_teardown(queue_file_holds_no_plaintext_and_opens_only_with_its_key, setup, teardown),
        cmocka_unit_test(bounce_is_a_multipart_report_with_status_and_original_header),
        cmocka_unit_test(bounce_takes_status_and_diagnostic_from_an_smtp_reply),
        cmocka_unit_test(json_string_escapes_quotes_controls_and_replaces_invalid_utf8),
        cmocka_unit_test(webhook_json_decodes_parts_headers_and_lists_attachments),
        cmocka_unit_test(forward_list_is_normalised_deduplicated_and_bounded),
        cmocka_unit_test(webhook_url_must_be_http_or_https_with_a_host),
        cmocka_unit_test(smtp_client_sends_envelope_and_dot_stuffed_message_without_return_path),
        cmocka_unit_test(smtp_client_reports_5xx_as_permanent_with_the_reply),
        cmocka_unit_test(smtp_client_refused_connection_is_temporary),
        cmocka_unit_test_setup_teardown(runner_retries_a_refused_forward_then_bounces_it_to_the_sender,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(runner_drops_an_undeliverable_bounce_without_bouncing_it, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
