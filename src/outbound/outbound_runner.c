/*
 * outbound_runner.c — working off the outbound queue: one thread that wakes
 * every `interval` seconds (or when kicked after an enqueue), takes the due
 * jobs in batches and sends each one; plus the webhook POST (libcurl).
 *
 * SUMMARY
 *   outbound_webhook_post(url, json)   POST, Content-Type: application/json
 *   outbound_run_once(q, cfg, now)     every due job once
 *   outbound_runner_start/_kick/_stop
 *
 * WHAT HAPPENS TO A JOB
 *   sent                        -> removed
 *   temporary failure           -> retried after outbound_backoff(); when its
 *                                  lifetime is over: a bounce (forwards with a
 *                                  non-null sender only) is queued, then removed
 *   permanent failure (5xx)     -> the same bounce at once, then removed
 *   webhooks: 2xx is success; no connection, 408, 429 and 5xx are retried;
 *   other codes are permanent (logged and dropped: a webhook has no sender
 *   to bounce to). Bounces that cannot be delivered are dropped (never a
 *   bounce of a bounce, RFC 5321 6.1).
 *   The bounce is queued before the job is removed, so a crash in between
 *   can at worst bounce twice, never lose the notice.
 *
 * PROMISES
 *   One job at a time, on this one thread: blocking sockets with timeouts are
 *   fine here and no SMTP or IMAP worker ever waits for a remote host.
 *   Logs: job id, kind, codes — no address, URL or content.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/limits.h"
#include "util/log.h"
#include "outbound/outbound.h"

static pthread_once_t runner_curl_once = PTHREAD_ONCE_INIT;

static void runner_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The response body is not ours to keep or log: swallow it. */
static size_t runner_discard(char *p, size_t size, size_t n, void *arg)
{
    return size * n;
}

outbound_result outbound_webhook_post(const char *url, const char *json, size_t len, long *code)
{
    pthread_once(&runner_curl_once, runner_curl_init);
    *code = 0;
    CURL *h = curl_easy_init();
    if (!h) return OUTBOUND_TEMPFAIL;
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "User-Agent: sealbox-webhook/1");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, runner_discard);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)WEBHOOK_TIMEOUT_SEC);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    CURLcode rc = curl_easy_perform(h);
    outbound_result res = OUTBOUND_TEMPFAIL;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code);
        if (*code >= 200 && *code < 300) res = OUTBOUND_SENT;
        else if (*code >= 500 || *code == 408 || *code == 429) res = OUTBOUND_TEMPFAIL;
        else res = OUTBOUND_PERMFAIL;
    } else if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT) {
        res = OUTBOUND_PERMFAIL;
    }
    if (rc != CURLE_OK) log_info("outbound", "webhook: %s", curl_easy_strerror(rc));
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return res;
}

static const char *runner_kind(outbound_kind k)
{
    switch (k) {
    case OUTBOUND_FORWARD: return "forward";
    case OUTBOUND_WEBHOOK: return "webhook";
    case OUTBOUND_BOUNCE: return "bounce";
    }
    return "unknown";
}

/* Queues the DSN for j (a forward with a real sender); 0 or -1. */
static int runner_bounce(outbound_queue *q, const outbound_config *cfg, const outbound_job *j,
                         const char *reason, int64_t now)
{
    if (j->kind != OUTBOUND_FORWARD || !j->sender || !j->sender[0]) return 0;
    buf dsn = BUF_INIT;
    outbound_bounce_build(j, cfg->hostname, reason, now, &dsn);
    outbound_job b = {
        .kind = OUTBOUND_BOUNCE,
        .sender = "",
        .rcpt = "",
        .target = j->sender,
        .msg = dsn.p,
        .len = dsn.len,
    };
    int rc = outbound_enqueue(q, &b, 1, now);
    if (rc == 0) log_info("outbound", "job %lld: bounce queued as job %lld", (long long)j->id, (long long)b.id);
    buf_free(&dsn);
    return rc;
}

static void runner_job(outbound_queue *q, const outbound_config *cfg, outbound_job *j, int64_t now)
{
    char reason[OUTBOUND_SMTP_LINE_MAX + 1] = "";
    outbound_result r;
    long code = 0;
    if (j->kind == OUTBOUND_WEBHOOK) {
        buf json = BUF_INIT;
        outbound_webhook_json(j->sender, j->rcpt, j->msg, j->len, &json);
        r = outbound_webhook_post(j->target, json.p, json.len, &code);
        buf_free(&json);
        log_info("outbound", "job %lld (webhook): HTTP %ld", (long long)j->id, code);
        snprintf(reason, sizeof reason, "HTTP %ld", code);
    } else {
        r = outbound_smtp_send(cfg->relay, cfg->hostname, j->kind == OUTBOUND_BOUNCE ? "" : j->sender,
                               j->target, j->msg, j->len, reason, sizeof reason);
    }
    if (r == OUTBOUND_SENT) {
        log_info("outbound", "job %lld (%s): delivered after %d earlier attempt(s)", (long long)j->id,
                 runner_kind(j->kind), j->attempts);
        outbound_done(q, j->id);
        return;
    }
    if (r == OUTBOUND_TEMPFAIL) {
        int d = outbound_defer(q, j, now, &cfg->policy);
        if (d == 0) {
            log_info("outbound", "job %lld (%s): temporary failure, retry in %llds", (long long)j->id,
                     runner_kind(j->kind), (long long)(j->next_at - now));
            return;
        }
        if (d < 0) return;              /* the queue failed: the job stays due */
        log_warn("outbound", "job %lld (%s): lifetime over after %d attempt(s); giving up",
                 (long long)j->id, runner_kind(j->kind), j->attempts + 1);
        /* An SMTP reply is the best reason there is; otherwise say what failed. */
        char exp[OUTBOUND_SMTP_LINE_MAX + 64];
        if (reason[0] == '4' || reason[0] == '5') snprintf(exp, sizeof exp, "%s", reason);
        else snprintf(exp, sizeof exp, "delivery time expired (%s)", reason[0] ? reason : "no reason");
        if (runner_bounce(q, cfg, j, exp, now) < 0) return;
        outbound_done(q, j->id);
        return;
    }
    log_warn("outbound", "job %lld (%s): permanent failure; giving up", (long long)j->id, runner_kind(j->kind));
    if (runner_bounce(q, cfg, j, reason, now) < 0) return;
    outbound_done(q, j->id);
}

int outbound_run_once(outbound_queue *q, const outbound_config *cfg, int64_t now)
{
    int handled = 0;
    /* Jobs handled in this pass are rescheduled into the future or removed,
     * so each batch makes progress; the cap keeps one pass finite even if a
     * clock jump made everything due at once. */
    for (int pass = 0; pass < 64; pass++) {
        outbound_job *jobs = NULL;
        size_t n = 0;
        if (outbound_due(q, now, OUTBOUND_BATCH_MAX, &jobs, &n) < 0) return -1;
        for (size_t i = 0; i < n; i++) runner_job(q, cfg, &jobs[i], now);
        outbound_jobs_free(jobs, n);
        handled += (int)n;
        if (n < OUTBOUND_BATCH_MAX) break;
    }
    return handled;
}

struct outbound_runner {
    outbound_queue *q;
    outbound_config cfg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, kicked;
};

static void *runner_main(void *arg)
{
    outbound_runner *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        if (!r->kicked && !r->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += r->cfg.interval > 0 ? r->cfg.interval : 5;
            pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        }
        int stop = r->stop;
        r->kicked = 0;
        pthread_mutex_unlock(&r->mu);
        if (stop) break;
        outbound_run_once(r->q, &r->cfg, (int64_t)time(NULL));
    }
    return NULL;
}

outbound_runner *outbound_runner_start(outbound_queue *q, const outbound_config *cfg)
{
    pthread_once(&runner_curl_once, runner_curl_init);
    outbound_runner *r = xcalloc(1, sizeof *r);
    r->q = q;
    r->cfg = *cfg;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->kicked = 1;                      /* a first pass at once: jobs left from before a restart */
    if (pthread_create(&r->thread, NULL, runner_main, r) != 0) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return NULL;
    }
    return r;
}

void outbound_runner_kick(outbound_runner *r)
{
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    r->kicked = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void outbound_runner_stop(outbound_runner *r)
{
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
