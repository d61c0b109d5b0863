/*
 * config.h — the data directory's configuration file, DIR/sealbox.conf.
 *
 * Format: one "key = value" per line; '#' starts a comment; unknown keys are an
 * error (a typo must not silently fall back to a default). `sealbox init` writes
 * the file with every key and its default; sealboxd's flags override it.
 */
#ifndef SEALBOX_CONFIG_H
#define SEALBOX_CONFIG_H

#include <stddef.h>

typedef struct config {
    char hostname[256];          /* name in the greeting and the certificate */
    char imap_listen[128];       /* "127.0.0.1:1143"; "" = off */
    char imaps_listen[128];      /* "127.0.0.1:1993"; "" = off */
    char smtp_listen[128];       /* SMTP MX with STARTTLS: "127.0.0.1:2525"; "" = off */
    char smtps_listen[128];      /* SMTP over implicit TLS; "" = off (the default) */
    int smtp_max_message_size;   /* octets; SMTP_MESSAGE_MAX_DEFAULT, at most SMTP_MESSAGE_MAX_CEILING */
    char tls_cert[1024];         /* PEM paths, relative to the data directory */
    char tls_key[1024];
    int plaintext_auth_loopback; /* allow LOGIN/AUTHENTICATE without TLS from loopback */
    int workers;                 /* worker threads */
    int net_threads;             /* network loops */
    int mailbox_cache_mb;        /* page cache per open mailbox (store_set_cache_mb) */
    int log_debug;
    /* Outbound (forwarding, webhooks, bounces; src/outbound/). */
    char relay[262];             /* smarthost "HOST:PORT"; "" = deliver by MX */
    int queue_retry_first;       /* seconds before the first retry (doubles after) */
    int queue_retry_max;         /* backoff cap, seconds */
    int queue_lifetime;          /* seconds before a job is given up (and bounced) */
    int queue_interval;          /* seconds between runner passes */
    /* Backups (src/backup/backup.h says how the environment overrides these). */
    char backup_target[1024];    /* "s3://bucket/prefix", "file:///path" or a path
                                    relative to the data directory ("backups") */
    int backup_keep;             /* versions kept per mailbox */
    int backup_daily;            /* sealboxd backs up each mailbox daily while its key is live */
    char s3_endpoint[512];       /* "https://host[:port]"; "" = AWS for the region */
    char s3_region[64];
    char s3_access_key[256];
    char s3_secret_key[256];
    int s3_part_size;            /* multipart upload above this, in parts this big */
} config;

void config_defaults(config *c);
/* Loads `path` over the defaults. Returns 0, or -1 with a message in err. */
int config_load(const char *path, config *c, char *err, size_t errlen);
/* Writes the configuration (durably) with comments. */
int config_write(const char *path, const config *c);

#endif
