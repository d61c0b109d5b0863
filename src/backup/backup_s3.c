/*
 * backup_s3.c — the S3 side of backups: PUT (multipart above the part size),
 * ListObjectsV2, HEAD for the SHA-256 metadata, GET and DELETE, signed with AWS
 * SigV4 by libcurl (CURLOPT_AWS_SIGV4).
 *
 * SUMMARY
 *   backup_s3_open(cfg)                s3://bucket/prefix + endpoint/region/keys
 *   backup_s3_list/put/get/delete      see backup_internal.h
 *
 * CHOICES
 *   - Path-style URLs (endpoint/bucket/key): they work with AWS and with every
 *     S3-compatible server, and need no DNS per bucket.
 *   - curl 7.88's SigV4 signs what it is given: the x-amz-content-sha256 header
 *     is set explicitly (the payload's real SHA-256, the empty string's for
 *     bodiless requests) and so is Content-Type, or the signature the server
 *     computes differs. Query parameters are written already sorted and
 *     percent-encoded (RFC 3986 unreserved kept) so that curl's canonical query
 *     string is the server's.
 *   - Bucket names and prefixes are restricted to [A-Za-z0-9._-/] (bucket:
 *     lowercase, 3-63): such keys need no encoding in the path, where curl and
 *     servers disagree most.
 *   - Responses are read into a buffer of at most BACKUP_S3_RESPONSE_MAX octets
 *     (GET bodies go to the file instead); XML is read by looking for a few
 *     tags, never by a general parser: it is a hostile peer's text.
 *   - A multipart upload that fails is aborted (AbortMultipartUpload), so no
 *     orphan parts are left to be billed.
 *
 * DIAGNOSTICS
 *   -1 with a sentence in err: the HTTP status and the S3 error <Code> (403 says
 *   the credentials were refused); never the secret or a signature.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/limits.h"
#include "util/log.h"
#include "backup/backup.h"
#include "backup/backup_internal.h"

/* SHA-256 of the empty payload, as SigV4 wants it for bodiless requests. */
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_ETAG_MAX 256

struct backup_s3 {
    char endpoint[512];             /* scheme://host[:port], no trailing slash */
    char bucket[64];
    char prefix[512];               /* "" or "a/b/" (ends with '/') */
    char region[64];
    char sigv4[128];                /* "aws:amz:<region>:s3" */
    char *access;                   /* secure memory */
    char *secret;
    size_t part_size;
    const int *cancel;
};

static pthread_once_t s3_curl_once = PTHREAD_ONCE_INIT;

static void s3_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int s3_bucket_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63) return 0;
    for (const char *p = b; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' || *p == '.'))
            return 0;
    return 1;
}

static int s3_prefix_ok(const char *p)
{
    for (; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '.' || *p == '_' || *p == '/')) return 0;
    return 1;
}

backup_s3 *backup_s3_open(const backup_config *cfg, char *err, size_t errlen)
{
    pthread_once(&s3_curl_once, s3_curl_init);
    backup_s3 *s = xcalloc(1, sizeof *s);
    const char *u = cfg->target + 5;            /* after "s3://" */
    size_t bl = strcspn(u, "/");
    if (bl >= sizeof s->bucket) {
        snprintf(err, errlen, "backup target: the S3 bucket name is longer than 63 characters");
        goto fail;
    }
    memcpy(s->bucket, u, bl);
    s->bucket[bl] = '\0';
    const char *pre = u[bl] == '/' ? u + bl + 1 : "";
    while (*pre == '/') pre++;
    if (!s3_bucket_ok(s->bucket)) {
        snprintf(err, errlen, "backup target: '%s' is not a valid S3 bucket name", s->bucket);
        goto fail;
    }
    if (!s3_prefix_ok(pre) || strlen(pre) + 2 > sizeof s->prefix || strstr(pre, "//") ||
        strstr(pre, "..")) {
        snprintf(err, errlen, "backup target: the S3 prefix may hold only letters, digits and . _ - /");
        goto fail;
    }
    snprintf(s->prefix, sizeof s->prefix, "%s", pre);
    size_t pl = strlen(s->prefix);
    if (pl && s->prefix[pl - 1] != '/') { s->prefix[pl] = '/'; s->prefix[pl + 1] = '\0'; }

    if (!cfg->s3_region[0]) {
        snprintf(err, errlen, "backup target: no S3 region (s3_region or AWS_REGION)");
        goto fail;
    }
    for (const char *p = cfg->s3_region; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '-')) {
            snprintf(err, errlen, "backup target: invalid S3 region");
            goto fail;
        }
    snprintf(s->region, sizeof s->region, "%s", cfg->s3_region);
    snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", s->region);
    if (cfg->s3_endpoint[0]) {
        if (strncmp(cfg->s3_endpoint, "http://", 7) && strncmp(cfg->s3_endpoint, "https://", 8)) {
            snprintf(err, errlen, "backup target: the S3 endpoint must start with http:// or https://");
            goto fail;
        }
        snprintf(s->endpoint, sizeof s->endpoint, "%s", cfg->s3_endpoint);
    } else {
        snprintf(s->endpoint, sizeof s->endpoint, "https://s3.%s.amazonaws.com", s->region);
    }
    size_t el = strlen(s->endpoint);
    while (el > 0 && s->endpoint[el - 1] == '/') s->endpoint[--el] = '\0';
    if (!cfg->s3_access_key[0] || !cfg->s3_secret_key[0]) {
        snprintf(err, errlen, "backup target: no S3 credentials (s3_access_key/s3_secret_key or "
                              "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)");
        goto fail;
    }
    s->access = sodium_malloc(sizeof cfg->s3_access_key);
    s->secret = sodium_malloc(sizeof cfg->s3_secret_key);
    if (!s->access || !s->secret) {
        snprintf(err, errlen, "out of secure memory");
        goto fail;
    }
    memcpy(s->access, cfg->s3_access_key, sizeof cfg->s3_access_key);
    memcpy(s->secret, cfg->s3_secret_key, sizeof cfg->s3_secret_key);
    s->part_size = cfg->part_size;
    s->cancel = cfg->cancel;
    return s;
fail:
    backup_s3_close(s);
    return NULL;
}

void backup_s3_close(backup_s3 *s)
{
    if (!s) return;
    if (s->access) sodium_free(s->access);
    if (s->secret) sodium_free(s->secret);
    free(s);
}

/* --- One request ----------------------------------------------------------------------- */

typedef struct s3_req {
    const char *method;              /* GET PUT POST DELETE HEAD */
    char url[2048];
    const char *payload_sha;         /* hex */
    const char *content_type;
    /* Request body: from memory, or from fd at [off, off+len). */
    const char *body;
    size_t body_len;
    int fd;
    uint64_t off, len, sent;
    /* Response. */
    int out_fd;                      /* GET into a file; -1: into resp */
    uint64_t out_max, out_len;       /* a GET body longer than out_max (when set) is refused */
    buf resp;
    int resp_over;
    char etag[S3_ETAG_MAX];
    char meta_sha[BACKUP_SHA256_HEX];
    char meta_state[BACKUP_SHA256_HEX];
    long status;
} s3_req;

static size_t s3_on_body(char *p, size_t size, size_t n, void *arg)
{
    s3_req *r = arg;
    size_t k = size * n;
    if (r->out_fd >= 0 && r->status / 100 == 2) {
        if (r->out_max && r->out_len + k > r->out_max) return 0;
        r->out_len += k;
        size_t done = 0;
        while (done < k) {
            ssize_t w = write(r->out_fd, p + done, k - done);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return 0;
            done += (size_t)w;
        }
        return k;
    }
    if (r->resp.len + k > BACKUP_S3_RESPONSE_MAX) {
        r->resp_over = 1;
        return 0;
    }
    buf_append(&r->resp, p, k);
    return k;
}

/* Copies a header's value (trimmed, quotes kept) into out when `line` is that header. */
static int s3_header_value(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':') return 0;
    const char *v = line + nl + 1;
    const char *e = line + len;
    while (v < e && (*v == ' ' || *v == '\t')) v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ')) e--;
    size_t vl = (size_t)(e - v);
    if (vl >= outlen) return 0;
    memcpy(out, v, vl);
    out[vl] = '\0';
    return 1;
}

static size_t s3_on_header(char *p, size_t size, size_t n, void *arg)
{
    s3_req *r = arg;
    size_t k = size * n;
    if (k >= 5 && !strncmp(p, "HTTP/", 5)) {     /* a new response (100-continue, redirect) */
        r->etag[0] = '\0';
        r->meta_sha[0] = '\0';
        r->meta_state[0] = '\0';
        const char *sp = memchr(p, ' ', k);
        if (sp) r->status = strtol(sp + 1, NULL, 10);
        return k;
    }
    s3_header_value(p, k, "ETag", r->etag, sizeof r->etag);
    s3_header_value(p, k, "x-amz-meta-sha256", r->meta_sha, sizeof r->meta_sha);
    s3_header_value(p, k, "x-amz-meta-state", r->meta_state, sizeof r->meta_state);
    return k;
}

static size_t s3_on_read(char *p, size_t size, size_t n, void *arg)
{
    s3_req *r = arg;
    size_t want = size * n;
    if (r->body) {
        size_t left = r->body_len - (size_t)r->sent;
        if (want > left) want = left;
        memcpy(p, r->body + r->sent, want);
        r->sent += want;
        return want;
    }
    uint64_t left = r->len - r->sent;
    if (want > left) want = (size_t)left;
    if (want == 0) return 0;
    ssize_t got;
    do got = pread(r->fd, p, want, (off_t)(r->off + r->sent));
    while (got < 0 && errno == EINTR);
    if (got <= 0) return CURL_READFUNC_ABORT;
    r->sent += (uint64_t)got;
    return (size_t)got;
}

static void s3_req_init(s3_req *r, const char *method)
{
    memset(r, 0, sizeof *r);
    r->method = method;
    r->fd = -1;
    r->out_fd = -1;
    r->payload_sha = S3_EMPTY_SHA256;
}

/* The text of <tag>...</tag> at or after `from` in the response, entities of
 * XML 1.0 section 4.6 decoded; NULL when absent or longer than outlen. */
static const char *s3_xml_tag(const char *doc, size_t len, const char *tag, const char *from,
                              char *out, size_t outlen)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *end = doc + len;
    if (!from) from = doc;
    const char *a = memmem(from, (size_t)(end - from), open, strlen(open));
    if (!a) return NULL;
    a += strlen(open);
    const char *b = memmem(a, (size_t)(end - a), close, strlen(close));
    if (!b) return NULL;
    size_t o = 0;
    for (const char *p = a; p < b; p++) {
        char c = *p;
        if (c == '&') {
            static const struct { const char *ent; char c; } ents[] = {
                { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' }, { "&apos;", '\'' },
            };
            size_t i;
            for (i = 0; i < sizeof ents / sizeof ents[0]; i++) {
                size_t el = strlen(ents[i].ent);
                if ((size_t)(b - p) >= el && !memcmp(p, ents[i].ent, el)) {
                    c = ents[i].c;
                    p += el - 1;
                    break;
                }
            }
            if (i == sizeof ents / sizeof ents[0]) return NULL;
        }
        if (o + 1 >= outlen) return NULL;
        out[o++] = c;
    }
    out[o] = '\0';
    return b + strlen(close);
}

/* Fills err with what went wrong; the S3 <Code> is copied only as [A-Za-z0-9]. */
static void s3_fail(s3_req *r, const char *what, CURLcode rc, char *err, size_t errlen)
{
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && r->resp_over)) {
        snprintf(err, errlen, "S3 %s: %s", what, curl_easy_strerror(rc));
        return;
    }
    char code[64] = "";
    if (r->resp.len && s3_xml_tag(r->resp.p, r->resp.len, "Code", NULL, code, sizeof code)) {
        for (char *p = code; *p; p++)
            if (!isalnum((unsigned char)*p)) *p = '?';
    }
    if (r->status == 403)
        snprintf(err, errlen, "S3 %s: access denied (HTTP 403%s%s): check the access key and secret",
                 what, code[0] ? " " : "", code);
    else if (r->resp_over)
        snprintf(err, errlen, "S3 %s: response larger than %d octets", what, BACKUP_S3_RESPONSE_MAX);
    else
        snprintf(err, errlen, "S3 %s: HTTP %ld%s%s", what, r->status, code[0] ? " " : "", code);
}

/* Aborts a transfer when the owner is shutting down (libcurl calls this about
 * once a second, during connect too). */
static int s3_on_progress(void *arg, curl_off_t dlt, curl_off_t dln, curl_off_t ult, curl_off_t uln)
{
    const int *cancel = arg;
    return cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED) ? 1 : 0;
}

/* Runs the request; 0 when the status is 2xx, else -1 with err. */
static int s3_perform(backup_s3 *s, s3_req *r, const char *what, char *err, size_t errlen)
{
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(err, errlen, "S3 %s: cannot start libcurl", what);
        return -1;
    }
    char hsha[128], htype[128];
    snprintf(hsha, sizeof hsha, "x-amz-content-sha256: %s", r->payload_sha);
    struct curl_slist *hdrs = curl_slist_append(NULL, hsha);
    if (r->content_type) {
        snprintf(htype, sizeof htype, "Content-Type: %s", r->content_type);
        hdrs = curl_slist_append(hdrs, htype);
    }
    if (r->meta_sha[0]) {
        char hmeta[128];
        snprintf(hmeta, sizeof hmeta, "x-amz-meta-sha256: %s", r->meta_sha);
        hdrs = curl_slist_append(hdrs, hmeta);
        r->meta_sha[0] = '\0';          /* from here on it holds the response's */
    }
    if (r->meta_state[0]) {
        char hmeta[128];
        snprintf(hmeta, sizeof hmeta, "x-amz-meta-state: %s", r->meta_state);
        hdrs = curl_slist_append(hdrs, hmeta);
        r->meta_state[0] = '\0';
    }
    /* No "Expect:" header to suppress 100-continue: curl 7.88 would sign the
     * empty header and the server's signature would differ. */
    curl_easy_setopt(h, CURLOPT_URL, r->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
    curl_easy_setopt(h, CURLOPT_USERNAME, s->access);
    curl_easy_setopt(h, CURLOPT_PASSWORD, s->secret);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)BACKUP_S3_TIMEOUT_SEC);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)BACKUP_S3_CONNECT_SEC);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s3_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, s3_on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    if (s->cancel) {
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, s3_on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, s->cancel);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    }
    if (!strcmp(r->method, "PUT")) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, s3_on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
                         (curl_off_t)(r->body ? r->body_len : r->len));
    } else if (!strcmp(r->method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(r->body ? r->body_len : 0));
    } else if (!strcmp(r->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    if (rc == CURLE_OK && r->status / 100 == 2) return 0;
    s3_fail(r, what, rc, err, errlen);
    return -1;
}

/* endpoint/bucket/prefix<id>/<version>.db plus `query` ("" or "?..."). */
static int s3_object_url(backup_s3 *s, s3_req *r, const char *id, const char *version, const char *query)
{
    int n = snprintf(r->url, sizeof r->url, "%s/%s/%s%s/%s.db%s", s->endpoint, s->bucket, s->prefix,
                     id, version, query);
    return n > 0 && (size_t)n < sizeof r->url ? 0 : -1;
}

/* RFC 3986 percent-encoding of everything but unreserved characters. */
static void s3_urlencode(buf *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') buf_putc(out, (char)c);
        else buf_printf(out, "%%%02X", c);
    }
}

/* --- Operations ------------------------------------------------------------------------ */

int backup_s3_list(backup_s3 *s, const char *mailbox_id, backup_version **out, size_t *n,
                   char *err, size_t errlen)
{
    backup_version *v = NULL;
    size_t count = 0, cap = 0;
    char token[1024] = "";
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s%s/", s->prefix, mailbox_id);
    *out = NULL;
    *n = 0;
    for (int page = 0; page < BACKUP_S3_LIST_PAGES_MAX; page++) {
        s3_req r;
        s3_req_init(&r, "GET");
        buf q = BUF_INIT;
        buf_printf(&q, "%s/%s?", s->endpoint, s->bucket);
        if (token[0]) {
            buf_puts(&q, "continuation-token=");
            s3_urlencode(&q, token);
            buf_puts(&q, "&");
        }
        buf_puts(&q, "list-type=2&prefix=");
        s3_urlencode(&q, prefix);
        int fits = q.len < sizeof r.url;
        if (fits) snprintf(r.url, sizeof r.url, "%s", buf_cstr(&q));
        buf_free(&q);
        if (!fits) {
            snprintf(err, errlen, "S3 list: URL too long");
            goto fail;
        }
        if (s3_perform(s, &r, "list", err, errlen) < 0) {
            buf_free(&r.resp);
            goto fail;
        }
        const char *doc = buf_cstr(&r.resp), *end = doc + r.resp.len, *at = doc;
        while (at < end) {
            const char *c = memmem(at, (size_t)(end - at), "<Contents>", 10);
            if (!c) break;
            const char *ce = memmem(c, (size_t)(end - c), "</Contents>", 11);
            if (!ce) break;
            char key[700], size[32] = "0";
            size_t clen = (size_t)(ce - c);
            if (s3_xml_tag(c, clen, "Key", NULL, key, sizeof key)) {
                s3_xml_tag(c, clen, "Size", NULL, size, sizeof size);
                size_t pl = strlen(prefix), kl = strlen(key);
                /* Only <prefix><version>.db is ours; anything else is left alone. */
                if (kl > pl + 3 && !strncmp(key, prefix, pl) && !strcmp(key + kl - 3, ".db")) {
                    char ver[BACKUP_VERSION_MAX];
                    size_t vl = kl - pl - 3;
                    if (vl < sizeof ver) {
                        memcpy(ver, key + pl, vl);
                        ver[vl] = '\0';
                        if (backup_version_valid(ver)) {
                            if (count >= BACKUP_VERSIONS_MAX) {
                                snprintf(err, errlen, "S3 list: more than %d versions of one mailbox",
                                         BACKUP_VERSIONS_MAX);
                                buf_free(&r.resp);
                                goto fail;
                            }
                            if (count == cap) {
                                cap = cap ? cap * 2 : 16;
                                v = xrealloc(v, cap * sizeof *v);
                            }
                            memset(&v[count], 0, sizeof v[count]);
                            memcpy(v[count].version, ver, vl + 1);
                            v[count].size = strtoull(size, NULL, 10);
                            count++;
                        }
                    }
                }
            }
            at = ce + 11;
        }
        char trunc[16] = "";
        s3_xml_tag(doc, r.resp.len, "IsTruncated", NULL, trunc, sizeof trunc);
        token[0] = '\0';
        if (!strcmp(trunc, "true"))
            s3_xml_tag(doc, r.resp.len, "NextContinuationToken", NULL, token, sizeof token);
        buf_free(&r.resp);
        if (!token[0]) break;
    }
    /* The hash lives in each object's metadata: one HEAD per version (a handful). */
    for (size_t i = 0; i < count; i++) {
        s3_req r;
        s3_req_init(&r, "HEAD");
        if (s3_object_url(s, &r, mailbox_id, v[i].version, "") < 0) continue;
        if (s3_perform(s, &r, "head", err, errlen) < 0) {
            buf_free(&r.resp);
            goto fail;
        }
        if (strlen(r.meta_sha) == 64) memcpy(v[i].sha256, r.meta_sha, BACKUP_SHA256_HEX);
        if (strlen(r.meta_state) == 64) memcpy(v[i].state, r.meta_state, BACKUP_SHA256_HEX);
        buf_free(&r.resp);
    }
    backup_versions_sort(v, count);
    *out = v;
    *n = count;
    return 0;
fail:
    free(v);
    return -1;
}

static int s3_file_sha256_range(int fd, uint64_t off, uint64_t len, char hex[BACKUP_SHA256_HEX])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    unsigned char chunk[65536];
    uint64_t done = 0;
    while (done < len) {
        size_t want = len - done < sizeof chunk ? (size_t)(len - done) : sizeof chunk;
        ssize_t got = pread(fd, chunk, want, (off_t)(off + done));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        crypto_hash_sha256_update(&st, chunk, (unsigned long long)got);
        done += (uint64_t)got;
    }
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(hex, BACKUP_SHA256_HEX, h, sizeof h);
    return 0;
}

static int s3_put_multipart(backup_s3 *s, const char *id, const char *version, int fd, uint64_t size,
                            const char *sha256, const char *state, char *err, size_t errlen)
{
    char upload[512] = "";
    buf done = BUF_INIT;
    int rc = -1;
    size_t nparts = (size_t)((size + s->part_size - 1) / s->part_size);
    if (nparts > BACKUP_PARTS_MAX) {
        snprintf(err, errlen, "S3 upload: %zu parts are more than S3 allows; raise s3_part_size", nparts);
        return -1;
    }
    s3_req r;
    s3_req_init(&r, "POST");
    r.content_type = "application/octet-stream";
    snprintf(r.meta_sha, sizeof r.meta_sha, "%s", sha256);
    snprintf(r.meta_state, sizeof r.meta_state, "%s", state);
    if (s3_object_url(s, &r, id, version, "?uploads=") < 0 ||
        s3_perform(s, &r, "create multipart upload", err, errlen) < 0) {
        buf_free(&r.resp);
        return -1;
    }
    if (!s3_xml_tag(buf_cstr(&r.resp), r.resp.len, "UploadId", NULL, upload, sizeof upload) || !upload[0]) {
        snprintf(err, errlen, "S3 upload: no UploadId in the server's answer");
        buf_free(&r.resp);
        return -1;
    }
    buf_free(&r.resp);
    buf encid = BUF_INIT;
    s3_urlencode(&encid, upload);
    buf_puts(&done, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < nparts; i++) {
        uint64_t off = (uint64_t)i * s->part_size;
        uint64_t len = size - off < s->part_size ? size - off : s->part_size;
        char psha[BACKUP_SHA256_HEX], query[700];
        if (s3_file_sha256_range(fd, off, len, psha) < 0) {
            snprintf(err, errlen, "S3 upload: cannot read the snapshot: %s", strerror(errno));
            goto abort;
        }
        s3_req_init(&r, "PUT");
        r.content_type = "application/octet-stream";
        r.payload_sha = psha;
        r.fd = fd;
        r.off = off;
        r.len = len;
        snprintf(query, sizeof query, "?partNumber=%zu&uploadId=%s", i + 1, buf_cstr(&encid));
        if (s3_object_url(s, &r, id, version, query) < 0 ||
            s3_perform(s, &r, "upload part", err, errlen) < 0) {
            buf_free(&r.resp);
            goto abort;
        }
        buf_free(&r.resp);
        if (!r.etag[0] || strchr(r.etag, '<') || strchr(r.etag, '&')) {
            snprintf(err, errlen, "S3 upload: part %zu has no usable ETag", i + 1);
            goto abort;
        }
        buf_printf(&done, "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>", i + 1, r.etag);
    }
    buf_puts(&done, "</CompleteMultipartUpload>");
    char dsha[BACKUP_SHA256_HEX], query[700];
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)done.p, done.len);
    sodium_bin2hex(dsha, sizeof dsha, h, sizeof h);
    s3_req_init(&r, "POST");
    r.content_type = "application/xml";
    r.payload_sha = dsha;
    r.body = done.p;
    r.body_len = done.len;
    snprintf(query, sizeof query, "?uploadId=%s", buf_cstr(&encid));
    if (s3_object_url(s, &r, id, version, query) < 0 ||
        s3_perform(s, &r, "complete multipart upload", err, errlen) < 0) {
        buf_free(&r.resp);
        goto abort;
    }
    /* CompleteMultipartUpload can answer 200 with an <Error> body. */
    if (r.resp.len && memmem(r.resp.p, r.resp.len, "<Error>", 7)) {
        r.status = 500;
        s3_fail(&r, "complete multipart upload", CURLE_OK, err, errlen);
        buf_free(&r.resp);
        goto abort;
    }
    buf_free(&r.resp);
    rc = 0;
    goto out;
abort:;
    char query2[700], ignored[256];
    s3_req_init(&r, "DELETE");
    snprintf(query2, sizeof query2, "?uploadId=%s", buf_cstr(&encid));
    if (s3_object_url(s, &r, id, version, query2) == 0 &&
        s3_perform(s, &r, "abort multipart upload", ignored, sizeof ignored) < 0)
        log_warn("backup", "mailbox %s: %s", id, ignored);
    buf_free(&r.resp);
out:
    buf_free(&encid);
    buf_free(&done);
    return rc;
}

int backup_s3_put(backup_s3 *s, const char *mailbox_id, const char *version, const char *path,
                  const char *sha256, const char *state, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot read the snapshot: %s", strerror(errno));
        return -1;
    }
    struct stat sb;
    int rc = -1;
    if (fstat(fd, &sb) < 0) {
        snprintf(err, errlen, "cannot read the snapshot: %s", strerror(errno));
        goto out;
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size > s->part_size) {
        rc = s3_put_multipart(s, mailbox_id, version, fd, size, sha256, state, err, errlen);
        goto out;
    }
    s3_req r;
    s3_req_init(&r, "PUT");
    r.content_type = "application/octet-stream";
    r.payload_sha = sha256;
    snprintf(r.meta_sha, sizeof r.meta_sha, "%s", sha256);
    snprintf(r.meta_state, sizeof r.meta_state, "%s", state);
    r.fd = fd;
    r.off = 0;
    r.len = size;
    if (s3_object_url(s, &r, mailbox_id, version, "") < 0) snprintf(err, errlen, "S3 upload: URL too long");
    else rc = s3_perform(s, &r, "upload", err, errlen);
    buf_free(&r.resp);
out:
    close(fd);
    return rc;
}

int backup_s3_get(backup_s3 *s, const char *mailbox_id, const char *version, uint64_t size,
                  const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create the download file: %s", strerror(errno));
        return -1;
    }
    s3_req r;
    s3_req_init(&r, "GET");
    r.out_fd = fd;
    r.out_max = size;
    int rc = -1;
    if (s3_object_url(s, &r, mailbox_id, version, "") < 0) snprintf(err, errlen, "S3 download: URL too long");
    else rc = s3_perform(s, &r, "download", err, errlen);
    buf_free(&r.resp);
    if (rc == 0 && fsync(fd) < 0) {
        snprintf(err, errlen, "download: fsync: %s", strerror(errno));
        rc = -1;
    }
    close(fd);
    if (rc < 0) unlink(path);
    return rc;
}

int backup_s3_delete(backup_s3 *s, const char *mailbox_id, const char *version,
                     char *err, size_t errlen)
{
    s3_req r;
    s3_req_init(&r, "DELETE");
    int rc = -1;
    if (s3_object_url(s, &r, mailbox_id, version, "") < 0) snprintf(err, errlen, "S3 delete: URL too long");
    else rc = s3_perform(s, &r, "delete", err, errlen);
    buf_free(&r.resp);
    return rc;
}
