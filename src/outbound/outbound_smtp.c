/*
 * outbound_smtp.c — a blocking SMTP client for one message to one recipient
 * (see outbound.h "SMTP CLIENT"). Runs on the outbound runner thread.
 *
 * SUMMARY
 *   outbound_smtp_send(relay, helo, sender, target, msg, len, reason)
 *     connect (relay, or the target domain's MX hosts by preference, or its
 *     A/AAAA when it has no MX: RFC 5321 5.1), read 220, EHLO (HELO when
 *     EHLO is refused), STARTTLS when offered (then EHLO again), MAIL FROM
 *     (BODY=8BITMIME when offered and the message has 8-bit bytes), RCPT TO,
 *     DATA, the message dot-stuffed (RFC 5321 4.5.2), ".", QUIT.
 *
 * PROMISES
 *   - Every read and write is bounded by OUTBOUND_SMTP_TIMEOUT_SEC; reply
 *     lines by OUTBOUND_SMTP_LINE_MAX (longer input is cut, never buffered
 *     without bound) and multi-line replies by OUTBOUND_SMTP_REPLY_LINES.
 *   - The leading Return-Path: field our MX added is not sent on: RFC 5321
 *     4.4 reserves it for final delivery. Everything else goes byte for byte.
 *   - TLS is opportunistic and unverified (RFC 7435): it protects against
 *     passive eavesdropping only. A failed handshake is a temporary failure
 *     rather than a fall-back to plaintext on the same connection.
 *
 * DIAGNOSTICS
 *   OUTBOUND_TEMPFAIL for connection/DNS/TLS trouble and 4xx replies,
 *   OUTBOUND_PERMFAIL for 5xx; `reason` gets the last reply line (sanitised)
 *   or a short description. Logs give the step and the reply code only.
 */
#include <arpa/nameser.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/limits.h"
#include "util/log.h"
#include "outbound/outbound.h"

#define SMTPC_MX_MAX 8        /* MX hosts tried per attempt */

typedef struct smtpc {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    char rbuf[4096];
    size_t rpos, rlen;
    char *reason;
    size_t reasonlen;
} smtpc;

static int smtpc_fill(smtpc *c)
{
    ssize_t n;
    if (c->ssl) {
        n = SSL_read(c->ssl, c->rbuf, sizeof c->rbuf);
        if (n <= 0) return -1;
    } else {
        do n = read(c->fd, c->rbuf, sizeof c->rbuf); while (n < 0 && errno == EINTR);
        if (n <= 0) return -1;
    }
    c->rpos = 0;
    c->rlen = (size_t)n;
    return 0;
}

static int smtpc_write(smtpc *c, const char *p, size_t n)
{
    while (n) {
        ssize_t w;
        if (c->ssl) {
            w = SSL_write(c->ssl, p, (int)(n > 65536 ? 65536 : n));
            if (w <= 0) return -1;
        } else {
            do w = send(c->fd, p, n, MSG_NOSIGNAL); while (w < 0 && errno == EINTR);
            if (w <= 0) return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One line without CRLF into line (cut at cap - 1). 0, or -1 at EOF/timeout. */
static int smtpc_line(smtpc *c, char *line, size_t cap)
{
    size_t n = 0;
    for (;;) {
        if (c->rpos == c->rlen && smtpc_fill(c) < 0) return -1;
        char ch = c->rbuf[c->rpos++];
        if (ch == '\n') break;
        if (n + 1 < cap) line[n++] = ch;
    }
    if (n && line[n - 1] == '\r') n--;
    line[n] = '\0';
    return 0;
}

static void smtpc_reason(smtpc *c, const char *text)
{
    size_t n = 0;
    for (; text[n] && n + 1 < c->reasonlen; n++) {
        unsigned char ch = (unsigned char)text[n];
        c->reason[n] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
    }
    c->reason[n] = '\0';
}

/* Reads a whole reply; returns its code (or -1). With `ehlo`, sets *starttls
 * and *eightbit from the keywords. */
static int smtpc_reply(smtpc *c, int *starttls, int *eightbit)
{
    char line[OUTBOUND_SMTP_LINE_MAX + 1];
    for (int i = 0; i < OUTBOUND_SMTP_REPLY_LINES; i++) {
        if (smtpc_line(c, line, sizeof line) < 0) {
            smtpc_reason(c, "connection lost or timed out");
            return -1;
        }
        if (strlen(line) < 3 || !isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
            !isdigit((unsigned char)line[2]) || (line[3] && line[3] != ' ' && line[3] != '-')) {
            smtpc_reason(c, "malformed reply");
            return -1;
        }
        if (i > 0 && starttls && !strncasecmp(line + 4, "STARTTLS", 8) && (!line[12] || line[12] == ' '))
            *starttls = 1;
        if (i > 0 && eightbit && !strncasecmp(line + 4, "8BITMIME", 8) && (!line[12] || line[12] == ' '))
            *eightbit = 1;
        if (line[3] != '-') {
            smtpc_reason(c, line);
            return atoi(line) ? (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0') : -1;
        }
    }
    smtpc_reason(c, "reply too long");
    return -1;
}

static int smtpc_cmd(smtpc *c, const char *cmd, int *starttls, int *eightbit)
{
    size_t n = strlen(cmd);
    if (smtpc_write(c, cmd, n) < 0 || smtpc_write(c, "\r\n", 2) < 0) {
        smtpc_reason(c, "connection lost while sending");
        return -1;
    }
    return smtpc_reply(c, starttls, eightbit);
}

static int smtpc_connect_host(const char *host, const char *port)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        struct timeval tv = { .tv_sec = OUTBOUND_SMTP_TIMEOUT_SEC };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

/* "host:port" or "[v6]:port". */
static int smtpc_split(const char *hp, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *colon = strrchr(hp, ':');
    if (!colon || !colon[1] || strlen(colon + 1) >= pcap) return -1;
    const char *h = hp;
    size_t hn = (size_t)(colon - hp);
    if (hn >= 2 && h[0] == '[' && h[hn - 1] == ']') { h++; hn -= 2; }
    if (hn == 0 || hn >= hcap) return -1;
    memcpy(host, h, hn);
    host[hn] = '\0';
    snprintf(port, pcap, "%s", colon + 1);
    return 0;
}

typedef struct smtpc_mx { int pref; char host[NS_MAXDNAME]; } smtpc_mx;

/* MX hosts of `domain`, by preference; 0 when there are none (use the
 * domain itself), -1 when the lookup failed. */
static int smtpc_mx_lookup(const char *domain, smtpc_mx *mx, int max)
{
    unsigned char ans[4096];
    int n = res_query(domain, ns_c_in, ns_t_mx, ans, sizeof ans);
    if (n < 0) return h_errno == HOST_NOT_FOUND || h_errno == NO_DATA ? 0 : -1;
    if (n < 12) return -1;
    const unsigned char *end = ans + n, *p = ans + 12;
    int qd = (ans[4] << 8) | ans[5], an = (ans[6] << 8) | ans[7];
    for (int i = 0; i < qd; i++) {
        int k = dn_skipname(p, end);
        if (k < 0 || p + k + 4 > end) return -1;
        p += k + 4;
    }
    int count = 0;
    for (int i = 0; i < an && count < max; i++) {
        int k = dn_skipname(p, end);
        if (k < 0 || p + k + 10 > end) return -1;
        p += k;
        int type = (p[0] << 8) | p[1];
        int rdlen = (p[8] << 8) | p[9];
        p += 10;
        if (p + rdlen > end) return -1;
        if (type == ns_t_mx && rdlen > 2) {
            mx[count].pref = (p[0] << 8) | p[1];
            if (dn_expand(ans, end, p + 2, mx[count].host, sizeof mx[count].host) >= 0) count++;
        }
        p += rdlen;
    }
    /* Insertion sort: a handful of entries. */
    for (int i = 1; i < count; i++)
        for (int j = i; j > 0 && mx[j].pref < mx[j - 1].pref; j--) {
            smtpc_mx t = mx[j]; mx[j] = mx[j - 1]; mx[j - 1] = t;
        }
    return count;
}

static int smtpc_connect(const char *relay, const char *target, smtpc *c)
{
    char host[300], port[16];
    if (relay && *relay) {
        if (smtpc_split(relay, host, sizeof host, port, sizeof port) < 0) {
            smtpc_reason(c, "bad relay setting");
            return -1;
        }
        int fd = smtpc_connect_host(host, port);
        if (fd < 0) smtpc_reason(c, "relay: connection refused or unreachable");
        return fd;
    }
    const char *at = strrchr(target, '@');
    if (!at || !at[1]) { smtpc_reason(c, "no domain in the target"); return -1; }
    smtpc_mx *mx = xcalloc(SMTPC_MX_MAX, sizeof *mx);
    int n = smtpc_mx_lookup(at + 1, mx, SMTPC_MX_MAX);
    int fd = -1;
    if (n < 0) smtpc_reason(c, "MX lookup failed");
    else if (n == 0) fd = smtpc_connect_host(at + 1, "25");
    for (int i = 0; i < n && fd < 0; i++) fd = smtpc_connect_host(mx[i].host, "25");
    if (fd < 0 && n >= 0) smtpc_reason(c, "no MX host accepted a connection");
    free(mx);
    return fd;
}

static int smtpc_starttls(smtpc *c)
{
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx) return -1;
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_options(c->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 || SSL_connect(c->ssl) != 1) {
        ERR_clear_error();
        smtpc_reason(c, "TLS handshake failed");
        return -1;
    }
    return 0;
}

static int smtpc_has_8bit(const char *msg, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)msg[i] & 0x80) return 1;
    return 0;
}

/* Skips a leading Return-Path: field (with continuation lines). */
static size_t smtpc_skip_return_path(const char *msg, size_t len)
{
    if (len < 12 || strncasecmp(msg, "Return-Path:", 12)) return 0;
    size_t i = 0;
    for (;;) {
        const char *nl = memchr(msg + i, '\n', len - i);
        if (!nl) return 0;
        i = (size_t)(nl - msg) + 1;
        if (i >= len || (msg[i] != ' ' && msg[i] != '\t')) return i;
    }
}

/* The message dot-stuffed, CRLF-terminated, then ".\r\n". */
static int smtpc_data(smtpc *c, const char *msg, size_t len)
{
    buf out = BUF_INIT;
    int bol = 1, rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        if (bol && msg[i] == '.') buf_putc(&out, '.');
        buf_putc(&out, msg[i]);
        bol = msg[i] == '\n';
        if (out.len >= 65536) {
            rc = smtpc_write(c, out.p, out.len);
            buf_reset(&out);
        }
    }
    if (rc == 0 && len && !(len >= 2 && msg[len - 2] == '\r' && msg[len - 1] == '\n'))
        buf_puts(&out, msg[len - 1] == '\r' ? "\n" : "\r\n");
    if (rc == 0) {
        buf_puts(&out, ".\r\n");
        rc = smtpc_write(c, out.p, out.len);
    }
    buf_free(&out);
    if (rc < 0) smtpc_reason(c, "connection lost while sending the message");
    return rc;
}

static outbound_result smtpc_fail(smtpc *c, int code, const char *step)
{
    log_info("outbound", "smtp %s: %s%d", step, code < 0 ? "no reply " : "reply ", code < 0 ? 0 : code);
    return code >= 500 && code < 600 ? OUTBOUND_PERMFAIL : OUTBOUND_TEMPFAIL;
}

outbound_result outbound_smtp_send(const char *relay, const char *helo, const char *sender,
                                   const char *target, const char *msg, size_t len,
                                   char *reason, size_t reasonlen)
{
    smtpc c = { .fd = -1, .reason = reason, .reasonlen = reasonlen };
    outbound_result res = OUTBOUND_TEMPFAIL;
    buf cmd = BUF_INIT;
    if (reasonlen) reason[0] = '\0';
    size_t skip = smtpc_skip_return_path(msg, len);
    msg += skip;
    len -= skip;
    c.fd = smtpc_connect(relay, target, &c);
    if (c.fd < 0) {
        log_info("outbound", "smtp connect: failed");
        goto out;
    }
    int code = smtpc_reply(&c, NULL, NULL);
    if (code != 220) { res = smtpc_fail(&c, code, "greeting"); goto out; }
    int starttls = 0, eightbit = 0;
    buf_printf(&cmd, "EHLO %s", helo);
    code = smtpc_cmd(&c, cmd.p, &starttls, &eightbit);
    if (code >= 500) {
        buf_reset(&cmd);
        buf_printf(&cmd, "HELO %s", helo);
        code = smtpc_cmd(&c, cmd.p, NULL, NULL);
    }
    if (code != 250) { res = smtpc_fail(&c, code, "ehlo"); goto out; }
    if (starttls) {
        code = smtpc_cmd(&c, "STARTTLS", NULL, NULL);
        if (code != 220) { res = smtpc_fail(&c, code, "starttls"); goto out; }
        if (smtpc_starttls(&c) < 0) { res = smtpc_fail(&c, -1, "tls"); goto out; }
        starttls = eightbit = 0;
        buf_reset(&cmd);
        buf_printf(&cmd, "EHLO %s", helo);
        code = smtpc_cmd(&c, cmd.p, &starttls, &eightbit);
        if (code != 250) { res = smtpc_fail(&c, code, "ehlo after tls"); goto out; }
    }
    buf_reset(&cmd);
    buf_printf(&cmd, "MAIL FROM:<%s>%s", sender ? sender : "",
               eightbit && smtpc_has_8bit(msg, len) ? " BODY=8BITMIME" : "");
    code = smtpc_cmd(&c, cmd.p, NULL, NULL);
    if (code != 250) { res = smtpc_fail(&c, code, "mail"); goto out; }
    buf_reset(&cmd);
    buf_printf(&cmd, "RCPT TO:<%s>", target);
    code = smtpc_cmd(&c, cmd.p, NULL, NULL);
    if (code != 250 && code != 251) { res = smtpc_fail(&c, code, "rcpt"); goto out; }
    code = smtpc_cmd(&c, "DATA", NULL, NULL);
    if (code != 354) { res = smtpc_fail(&c, code, "data"); goto out; }
    if (smtpc_data(&c, msg, len) < 0) { res = smtpc_fail(&c, -1, "message"); goto out; }
    code = smtpc_reply(&c, NULL, NULL);
    if (code != 250) { res = smtpc_fail(&c, code, "end of data"); goto out; }
    res = OUTBOUND_SENT;
    /* The message is accepted; a lost QUIT reply changes nothing. */
    smtpc_cmd(&c, "QUIT", NULL, NULL);
out:
    buf_free(&cmd);
    if (c.ssl) {
        SSL_shutdown(c.ssl);
        SSL_free(c.ssl);
    }
    SSL_CTX_free(c.ctx);
    if (c.fd >= 0) close(c.fd);
    return res;
}
