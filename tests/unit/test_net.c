/*
 * test_net.c — the network layer with a real server on a loopback port: events
 * reach the handler one at a time, output is delivered whole (also through
 * backpressure), conn_close flushes, conn_notify wakes a session from another
 * thread, and the per-IP limit refuses the connection over it.
 */
#include <arpa/inet.h>
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

#include "util/buf.h"
#include "util/limits.h"
#include "net/conn.h"
#include "net/server.h"

/* The echo protocol: "big N\n" answers N bytes of 'x' then "\n"; "quit\n" closes
 * after "bye\n"; "wait\n" remembers the conn for a notify from the test thread;
 * anything else is echoed. */
typedef struct echo_sess {
    buf in;
    int events_running;
} echo_sess;

static conn *waiting_conn;
static pthread_mutex_t waiting_mu = PTHREAD_MUTEX_INITIALIZER;
static int concurrent_violation;

static void echo_event(conn *c, void **sessp, unsigned events)
{
    echo_sess *s = *sessp;
    if (events & CONN_EV_OPEN) {
        s = calloc(1, sizeof *s);
        *sessp = s;
        conn_printf(c, "hello\n");
    }
    if (__atomic_add_fetch(&s->events_running, 1, __ATOMIC_SEQ_CST) != 1) concurrent_violation = 1;
    if (events & CONN_EV_INPUT) {
        conn_read(c, &s->in, 1 << 20);
        char *nl;
        while (s->in.len && (nl = memchr(s->in.p, '\n', s->in.len))) {
            size_t n = (size_t)(nl - s->in.p) + 1;
            if (!strncmp(s->in.p, "big ", 4)) {
                size_t total = strtoul(s->in.p + 4, NULL, 10);
                char chunk[65536];
                memset(chunk, 'x', sizeof chunk);
                while (total > 0) {
                    size_t k = total < sizeof chunk ? total : sizeof chunk;
                    if (conn_write(c, chunk, k) < 0) break;
                    total -= k;
                }
                conn_write(c, "\n", 1);
            } else if (!strncmp(s->in.p, "quit\n", 5)) {
                conn_printf(c, "bye\n");
                conn_close(c);
            } else if (!strncmp(s->in.p, "wait\n", 5)) {
                conn_ref(c);
                pthread_mutex_lock(&waiting_mu);
                waiting_conn = c;
                pthread_mutex_unlock(&waiting_mu);
                conn_printf(c, "waiting\n");
            } else {
                conn_write(c, s->in.p, n);
            }
            memmove(s->in.p, s->in.p + n, s->in.len - n);
            s->in.len -= n;
        }
    }
    if (events & CONN_EV_NOTIFY) conn_printf(c, "notified\n");
    __atomic_sub_fetch(&s->events_running, 1, __ATOMIC_SEQ_CST);
    if (events & CONN_EV_CLOSED) {
        buf_free(&s->in);
        free(s);
        *sessp = NULL;
    }
}

static net_server *srv;
static pthread_t srv_thread;
static int port;
static conn_handler handler = { "echo", echo_event, NULL };

static void *run_server(void *arg)
{
    net_server_run(arg);
    return NULL;
}

static int setup(void **state)
{
    srv = net_server_new(2, 8);
    for (port = 20000 + getpid() % 20000;; port++) {
        char hp[64], err[256];
        snprintf(hp, sizeof hp, "127.0.0.1:%d", port);
        if (net_server_listen(srv, hp, &handler, NULL, NULL, "busy\n", err, sizeof err) == 0) break;
    }
    pthread_create(&srv_thread, NULL, run_server, srv);
    return 0;
}

static int teardown(void **state)
{
    net_server_stop(srv);
    pthread_join(srv_thread, NULL);
    net_server_free(srv);
    return 0;
}

static int connect_client(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = { 10, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Reads until `n` bytes or EOF; returns the count. */
static size_t read_n(int fd, char *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, out + got, n - got);
        if (k <= 0) break;
        got += (size_t)k;
    }
    return got;
}

static void expect(int fd, const char *want)
{
    char got[256] = "";
    size_t n = strlen(want);
    assert_int_equal(read_n(fd, got, n), n);
    got[n] = '\0';
    assert_string_equal(got, want);
}

static void greeting_then_echo_of_pipelined_lines(void **state)
{
    int fd = connect_client();
    expect(fd, "hello\n");
    const char *lines = "one\ntwo\nthree\n";
    assert_int_equal(write(fd, lines, strlen(lines)), (ssize_t)strlen(lines));
    expect(fd, "one\ntwo\nthree\n");
    close(fd);
}

static void large_output_arrives_whole_to_a_slow_reader(void **state)
{
    int fd = connect_client();
    expect(fd, "hello\n");
    size_t total = 8 * NET_OUTPUT_HIGH_WATER + 123;
    char cmd[64];
    snprintf(cmd, sizeof cmd, "big %zu\n", total);
    assert_true(write(fd, cmd, strlen(cmd)) > 0);
    usleep(300 * 1000);            /* the worker fills the output and must wait */
    char *data = malloc(total + 1);
    assert_int_equal(read_n(fd, data, total + 1), total + 1);
    for (size_t i = 0; i < total; i++) if (data[i] != 'x') fail_msg("byte %zu is %d", i, data[i]);
    assert_int_equal(data[total], '\n');
    free(data);
    assert_int_equal(concurrent_violation, 0);
    close(fd);
}

static void close_flushes_the_last_reply_then_eof(void **state)
{
    int fd = connect_client();
    expect(fd, "hello\n");
    assert_true(write(fd, "quit\n", 5) == 5);
    expect(fd, "bye\n");
    char c;
    assert_int_equal(read(fd, &c, 1), 0);
    close(fd);
}

static void notify_from_another_thread_reaches_the_session(void **state)
{
    int fd = connect_client();
    expect(fd, "hello\n");
    assert_true(write(fd, "wait\n", 5) == 5);
    expect(fd, "waiting\n");
    pthread_mutex_lock(&waiting_mu);
    conn *c = waiting_conn;
    waiting_conn = NULL;
    pthread_mutex_unlock(&waiting_mu);
    assert_non_null(c);
    conn_notify(c);
    expect(fd, "notified\n");
    close(fd);
    usleep(100 * 1000);
    conn_notify(c);                /* after close: must be harmless */
    conn_unref(c);
}

static void connections_over_the_per_ip_limit_are_refused(void **state)
{
    int fds[NET_CONN_PER_IP_MAX];
    for (int i = 0; i < NET_CONN_PER_IP_MAX; i++) {
        fds[i] = connect_client();
        expect(fds[i], "hello\n");
    }
    int extra = connect_client();
    expect(extra, "busy\n");
    char c;
    assert_int_equal(read(extra, &c, 1), 0);
    close(extra);
    for (int i = 0; i < NET_CONN_PER_IP_MAX; i++) close(fds[i]);
    usleep(300 * 1000);
    int again = connect_client();  /* slots are given back when connections end */
    expect(again, "hello\n");
    close(again);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(greeting_then_echo_of_pipelined_lines),
        cmocka_unit_test(large_output_arrives_whole_to_a_slow_reader),
        cmocka_unit_test(close_flushes_the_last_reply_then_eof),
        cmocka_unit_test(notify_from_another_thread_reaches_the_session),
        cmocka_unit_test(connections_over_the_per_ip_limit_are_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
