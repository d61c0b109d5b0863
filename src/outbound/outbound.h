/*
 * outbound.h — the durable outbound queue and what drains it: forwarded copies
 * (SMTP client), webhooks (HTTP POST via libcurl) and bounces (RFC 3464 DSN)
 * for jobs that expire (issue 3, "Per-address actions").
 *
 * SUMMARY
 *   outbound_open(datadir) / outbound_open_file(path, key) / outbound_close
 *   outbound_enqueue(q, jobs, n, now)      several jobs, one transaction, fsynced
 *   outbound_due(q, now, max, &jobs, &n)   jobs whose time has come, oldest first
 *   outbound_done(q, id)                   delivered (or permanently failed): gone
 *   outbound_defer(q, job, now, policy, error)  next attempt, or expiry
 *   outbound_backoff(policy, attempts)     seconds before attempt attempts+1
 *   outbound_bounce_build(...)             the DSN for an expired/failed job
 *   outbound_webhook_json(...)             the JSON document a webhook gets
 *   outbound_smtp_send(...)                one message over SMTP (blocking)
 *   outbound_webhook_post(...)             one POST (blocking)
 *   outbound_run_once(q, cfg, now)         one pass of the runner
 *   outbound_runner_start / _stop          the runner thread of sealboxd
 *
 * PROMISES
 *   - DATADIR/queue.db is an SQLite3MC file encrypted (chacha20) with the
 *     server key, journal_mode=WAL, synchronous=FULL: outbound_enqueue returns
 *     0 only after the jobs are committed and fsynced, so the SMTP 250 that
 *     follows it is honest (promise 3).
 *   - TRADE-OFF (promises 1 and 4): a job holds the message in a form the
 *     server can read — it has to, to forward it or to POST it. It is
 *     encrypted at rest with the server key, like the directory, and deleted
 *     (secure_delete) when delivered or given up. An operator who sets
 *     forward/webhook on an address chose that the server handles its mail in
 *     the clear; with `store off` nothing else is kept.
 *   - Jobs are at-least-once: a crash between a successful send and
 *     outbound_done sends the job again on restart.
 *   - Logs name job ids, kinds, SMTP/HTTP codes — never addresses, URLs or content.
 *
 * SMTP CLIENT
 *   EHLO (HELO fallback), STARTTLS when offered (verification: none against
 *   MX hosts — opportunistic TLS, RFC 7435 — and none against the smarthost
 *   either: the relay is configured by the operator, usually on loopback),
 *   MAIL FROM:<original sender> (no SRS: out of scope; receivers doing SPF
 *   checks may refuse forwarded mail), RCPT TO, DATA with dot-stuffing, QUIT.
 *   With no relay configured the target domain's MX is resolved with
 *   res_query(3) (falling back to the domain's own A/AAAA via getaddrinfo
 *   when it has no MX). libevent's evdns is not used: it has no MX queries,
 *   and the runner is a blocking thread anyway. Not exercised by the tests
 *   (no DNS in CI): they all go through --relay.
 *
 * LIMITS OF THIS VERSION
 *   - One runner thread works the jobs one after another: a slow or silent
 *     peer holds the queue for up to OUTBOUND_SMTP_TIMEOUT_SEC per step.
 *   - Each enqueue is its own fsynced transaction (no group commit yet): only
 *     messages for addresses with forward/webhook pay it.
 *   - Every target is its own job and its own SMTP transaction (no grouping
 *     of recipients per destination).
 *
 * DIAGNOSTICS
 *   -1 (or NULL) with a logged reason. outbound_smtp_send and
 *   outbound_webhook_post return OUTBOUND_SENT, OUTBOUND_TEMPFAIL (retry) or
 *   OUTBOUND_PERMFAIL (bounce now), with a short reason text (no addresses).
 */
#ifndef SEALBOX_OUTBOUND_H
#define SEALBOX_OUTBOUND_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/limits.h"

#define OUTBOUND_KEY_LEN 32

typedef struct outbound_queue outbound_queue;

typedef enum outbound_kind {
    OUTBOUND_FORWARD = 1,       /* SMTP copy of the message to `target` */
    OUTBOUND_WEBHOOK = 2,       /* POST of a JSON document to URL `target` */
    OUTBOUND_BOUNCE = 3,        /* SMTP DSN (null sender) to `target` */
} outbound_kind;

typedef struct outbound_job {
    int64_t id;                 /* assigned by the queue */
    outbound_kind kind;
    char *sender;               /* envelope sender; "" = null sender <> */
    char *rcpt;                 /* the alias the message came for (webhook envelope) */
    char *target;               /* forward address, bounce address or webhook URL */
    char *msg;                  /* the message */
    size_t len;
    int64_t created, next_at;
    int attempts;
} outbound_job;

void outbound_job_clear(outbound_job *j);
void outbound_jobs_free(outbound_job *v, size_t n);

typedef struct outbound_policy {
    int retry_first;            /* seconds */
    int retry_max;              /* seconds */
    int lifetime;               /* seconds */
} outbound_policy;

outbound_queue *outbound_open(const char *datadir, char *err, size_t errlen);
outbound_queue *outbound_open_file(const char *path, const unsigned char key[OUTBOUND_KEY_LEN],
                                   char *err, size_t errlen);
void outbound_close(outbound_queue *q);

/* Adds jobs[0..n) (their id, created, next_at, attempts are set here: due
 * now) in one transaction. 0 once durable, -1 on failure (nothing added). */
int outbound_enqueue(outbound_queue *q, outbound_job *jobs, size_t n, int64_t now);
/* At most max jobs with next_at <= now, by next_at then id. */
int outbound_due(outbound_queue *q, int64_t now, size_t max, outbound_job **jobs, size_t *n);
/* Jobs in the queue (tests, doctor). -1 on error. */
int64_t outbound_count(outbound_queue *q);
int outbound_done(outbound_queue *q, int64_t id);
/* Records a failed attempt: 0 rescheduled, 1 expired (the caller bounces and
 * calls outbound_done), -1 error. */
int outbound_defer(outbound_queue *q, outbound_job *j, int64_t now, const outbound_policy *p);
/* retry_first * 2^attempts, capped at retry_max (attempts = failed so far - 1). */
int64_t outbound_backoff(const outbound_policy *p, int attempts);

/* An RFC 3464 multipart/report to j->sender about j->target, from
 * MAILER-DAEMON@reporting_host, with the original header as
 * text/rfc822-headers. `reason` is a short text (e.g. "451 4.4.1 ..."). */
void outbound_bounce_build(const outbound_job *j, const char *reporting_host, const char *reason,
                           int64_t now, buf *out);

/* The webhook's JSON document for message msg[0..len). */
void outbound_webhook_json(const char *sender, const char *rcpt, const char *msg, size_t len, buf *out);
/* JSON string literal (with quotes) of s[0..n): escapes ", \, controls; bytes
 * that are not valid UTF-8 become U+FFFD. */
void outbound_json_string(buf *out, const char *s, size_t n);

typedef enum outbound_result {
    OUTBOUND_SENT = 0,
    OUTBOUND_TEMPFAIL = 1,
    OUTBOUND_PERMFAIL = 2,
} outbound_result;

/* relay "HOST:PORT" or NULL/"" (MX of the target's domain, port 25). */
outbound_result outbound_smtp_send(const char *relay, const char *helo, const char *sender,
                                   const char *target, const char *msg, size_t len,
                                   char *reason, size_t reasonlen);
outbound_result outbound_webhook_post(const char *url, const char *json, size_t len, long *code);

typedef struct outbound_config {
    char relay[262];
    char hostname[256];
    outbound_policy policy;
    int interval;               /* seconds between passes */
} outbound_config;

/* Works off every due job once; returns how many were handled, -1 on error. */
int outbound_run_once(outbound_queue *q, const outbound_config *cfg, int64_t now);

typedef struct outbound_runner outbound_runner;
outbound_runner *outbound_runner_start(outbound_queue *q, const outbound_config *cfg);
/* Wakes the runner now (after an enqueue) instead of at its next pass. */
void outbound_runner_kick(outbound_runner *r);
void outbound_runner_stop(outbound_runner *r);

#endif
