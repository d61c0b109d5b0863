/*
 * config.c — DIR/sealbox.conf (see config.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/config.h"
#include "util/fsutil.h"
#include "util/limits.h"

void config_defaults(config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->hostname, sizeof c->hostname, "localhost");
    snprintf(c->imap_listen, sizeof c->imap_listen, "127.0.0.1:1143");
    snprintf(c->imaps_listen, sizeof c->imaps_listen, "127.0.0.1:1993");
    snprintf(c->smtp_listen, sizeof c->smtp_listen, "127.0.0.1:2525");
    c->smtps_listen[0] = '\0';
    c->smtp_max_message_size = SMTP_MESSAGE_MAX_DEFAULT;
    snprintf(c->tls_cert, sizeof c->tls_cert, "tls/cert.pem");
    snprintf(c->tls_key, sizeof c->tls_key, "tls/key.pem");
    c->plaintext_auth_loopback = 1;
    c->workers = 64;
    c->net_threads = 2;
    c->mailbox_cache_mb = MAILBOX_CACHE_MB_DEFAULT;
    c->log_debug = 0;
    c->relay[0] = '\0';
    c->queue_retry_first = OUTBOUND_RETRY_FIRST_SEC;
    c->queue_retry_max = OUTBOUND_RETRY_MAX_SEC;
    c->queue_lifetime = OUTBOUND_LIFETIME_SEC;
    c->queue_interval = 5;
    snprintf(c->backup_target, sizeof c->backup_target, "backups");
    c->backup_keep = BACKUP_KEEP_DEFAULT;
    c->backup_daily = 1;
    snprintf(c->s3_region, sizeof c->s3_region, "us-east-1");
    c->s3_part_size = BACKUP_PART_SIZE_DEFAULT;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

static int set_string(char *dst, size_t cap, const char *v)
{
    if (strlen(v) >= cap) return -1;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int set_int(int *dst, const char *v, int lo, int hi)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n < lo || n > hi) return -1;
    *dst = (int)n;
    return 0;
}

int config_load(const char *path, config *c, char *err, size_t errlen)
{
    char *data;
    if (file_read_all(path, &data, NULL, 1 << 20) < 0) {
        snprintf(err, errlen, "cannot read %s", path);
        return -1;
    }
    int lineno = 0, rc = 0;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char *s = trim(line);
        if (*s == '\0') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected key = value", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        int bad;
        if (!strcmp(k, "hostname")) bad = set_string(c->hostname, sizeof c->hostname, v);
        else if (!strcmp(k, "imap_listen")) bad = set_string(c->imap_listen, sizeof c->imap_listen, v);
        else if (!strcmp(k, "imaps_listen")) bad = set_string(c->imaps_listen, sizeof c->imaps_listen, v);
        else if (!strcmp(k, "smtp_listen")) bad = set_string(c->smtp_listen, sizeof c->smtp_listen, v);
        else if (!strcmp(k, "smtps_listen")) bad = set_string(c->smtps_listen, sizeof c->smtps_listen, v);
        else if (!strcmp(k, "smtp_max_message_size"))
            bad = set_int(&c->smtp_max_message_size, v, 1024, SMTP_MESSAGE_MAX_CEILING);
        else if (!strcmp(k, "tls_cert")) bad = set_string(c->tls_cert, sizeof c->tls_cert, v);
        else if (!strcmp(k, "tls_key")) bad = set_string(c->tls_key, sizeof c->tls_key, v);
        else if (!strcmp(k, "plaintext_auth_loopback")) bad = set_int(&c->plaintext_auth_loopback, v, 0, 1);
        else if (!strcmp(k, "workers")) bad = set_int(&c->workers, v, 1, 4096);
        else if (!strcmp(k, "net_threads")) bad = set_int(&c->net_threads, v, 1, 256);
        else if (!strcmp(k, "mailbox_cache_mb"))
            bad = set_int(&c->mailbox_cache_mb, v, MAILBOX_CACHE_MB_MIN, MAILBOX_CACHE_MB_MAX);
        else if (!strcmp(k, "log_debug")) bad = set_int(&c->log_debug, v, 0, 1);
        else if (!strcmp(k, "relay")) bad = set_string(c->relay, sizeof c->relay, v);
        else if (!strcmp(k, "queue_retry_first")) bad = set_int(&c->queue_retry_first, v, 1, 86400);
        else if (!strcmp(k, "queue_retry_max")) bad = set_int(&c->queue_retry_max, v, 1, 7 * 86400);
        else if (!strcmp(k, "queue_lifetime")) bad = set_int(&c->queue_lifetime, v, 1, 30 * 86400);
        else if (!strcmp(k, "queue_interval")) bad = set_int(&c->queue_interval, v, 1, 3600);
        else if (!strcmp(k, "backup_target")) bad = set_string(c->backup_target, sizeof c->backup_target, v);
        else if (!strcmp(k, "backup_keep")) bad = set_int(&c->backup_keep, v, 1, BACKUP_KEEP_MAX);
        else if (!strcmp(k, "backup_daily")) bad = set_int(&c->backup_daily, v, 0, 1);
        else if (!strcmp(k, "s3_endpoint")) bad = set_string(c->s3_endpoint, sizeof c->s3_endpoint, v);
        else if (!strcmp(k, "s3_region")) bad = set_string(c->s3_region, sizeof c->s3_region, v);
        else if (!strcmp(k, "s3_access_key")) bad = set_string(c->s3_access_key, sizeof c->s3_access_key, v);
        else if (!strcmp(k, "s3_secret_key")) bad = set_string(c->s3_secret_key, sizeof c->s3_secret_key, v);
        else if (!strcmp(k, "s3_part_size"))
            bad = set_int(&c->s3_part_size, v, BACKUP_PART_SIZE_MIN, 1024 * 1024 * 1024);
        else {
            snprintf(err, errlen, "%s:%d: unknown key '%s'", path, lineno, k);
            rc = -1;
            break;
        }
        if (bad) {
            snprintf(err, errlen, "%s:%d: bad value for '%s'", path, lineno, k);
            rc = -1;
            break;
        }
    }
    free(data);
    return rc;
}

int config_write(const char *path, const config *c)
{
    buf b = BUF_INIT;
    buf_printf(&b,
        "# Sealbox configuration. sealboxd's command-line flags override these.\n"
        "# Host name used in greetings and in the self-signed certificate.\n"
        "hostname = %s\n"
        "# IMAP with STARTTLS and IMAP over implicit TLS (host:port; empty = off).\n"
        "imap_listen = %s\n"
        "imaps_listen = %s\n"
        "# SMTP MX with STARTTLS and SMTP over implicit TLS (host:port; empty = off),\n"
        "# and the largest message accepted (octets, advertised as SIZE).\n"
        "smtp_listen = %s\n"
        "smtps_listen = %s\n"
        "smtp_max_message_size = %d\n"
        "# TLS certificate and key (PEM), relative to the data directory.\n"
        "tls_cert = %s\n"
        "tls_key = %s\n"
        "# Allow LOGIN/AUTHENTICATE without TLS from loopback addresses (1/0).\n"
        "plaintext_auth_loopback = %d\n"
        "# Worker threads (commands run there) and network threads (event loops).\n"
        "workers = %d\n"
        "net_threads = %d\n"
        "# Decrypted pages a session with a mailbox selected may keep (MiB): a large\n"
        "# mailbox searched, sorted or threaded again reads them from memory instead\n"
        "# of decrypting them again. Only what the session reads is kept; a waiting\n"
        "# session (IDLE, nothing selected) keeps none.\n"
        "mailbox_cache_mb = %d\n"
        "log_debug = %d\n"
        "# Outbound mail (forwards, bounces): a smarthost HOST:PORT, empty = by MX;\n"
        "# retry after queue_retry_first seconds, doubling up to queue_retry_max;\n"
        "# give up (and bounce) after queue_lifetime seconds; a runner pass every\n"
        "# queue_interval seconds.\n"
        "relay = %s\n"
        "queue_retry_first = %d\n"
        "queue_retry_max = %d\n"
        "queue_lifetime = %d\n"
        "queue_interval = %d\n"
        "# Backups: where they go (s3://bucket/prefix, file:///path, or a folder\n"
        "# relative to the data directory) and how many versions per mailbox are\n"
        "# kept; backup_daily = 1: sealboxd backs each mailbox up once a day while\n"
        "# a session holds its key. S3: endpoint (empty = AWS), region, credentials (the environment's\n"
        "# SEALBOX_S3_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY\n"
        "# override these), and the multipart part size in octets.\n"
        "backup_target = %s\n"
        "backup_keep = %d\n"
        "backup_daily = %d\n"
        "s3_endpoint = %s\n"
        "s3_region = %s\n"
        "s3_access_key = %s\n"
        "s3_secret_key = %s\n"
        "s3_part_size = %d\n",
        c->hostname, c->imap_listen, c->imaps_listen, c->smtp_listen, c->smtps_listen,
        c->smtp_max_message_size, c->tls_cert, c->tls_key,
        c->plaintext_auth_loopback, c->workers, c->net_threads, c->mailbox_cache_mb, c->log_debug,
        c->relay, c->queue_retry_first, c->queue_retry_max, c->queue_lifetime, c->queue_interval,
        c->backup_target, c->backup_keep, c->backup_daily, c->s3_endpoint, c->s3_region, c->s3_access_key,
        c->s3_secret_key, c->s3_part_size);
    int rc = file_write_atomic(path, b.p, b.len, 0600);
    buf_free(&b);
    return rc;
}
