/*
 * directory_actions.c — what a forward target list and a webhook URL may look
 * like (see directory.h, "Per-address actions"). Pure functions shared by
 * every directory back-end and by the admin CLI.
 *
 * Forward targets are addresses in the same narrow form as aliases
 * (directory_address_normalise): no quoted local parts, no address literals,
 * no UTF-8 — the CLI refuses them instead of queueing mail that no relay we
 * speak to would accept unchanged.
 *
 * A webhook URL is checked for shape only (scheme, a host, printable ASCII):
 * libcurl parses it for real when the job runs; a URL that fails there fails
 * the job, which is retried and finally given up.
 */
#include <string.h>
#include <strings.h>

#include "util/limits.h"
#include "directory/directory.h"

int directory_forward_list_normalise(const char *in, char *out, size_t outlen)
{
    if (!in || !out || outlen == 0) return -1;
    out[0] = '\0';
    if (!strcmp(in, "") || !strcasecmp(in, "none")) return 0;
    size_t used = 0, count = 0;
    const char *p = in;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n && (*p == ' ' || *p == '\t')) { p++; n--; }
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
        if (n == 0 || n > ADDRESS_MAX_LEN) return -1;
        char raw[ADDRESS_MAX_LEN + 1], addr[ADDRESS_MAX_LEN + 1];
        memcpy(raw, p, n);
        raw[n] = '\0';
        if (directory_address_normalise(raw, addr, sizeof addr) < 0) return -1;
        /* Drop a repeated target: two copies to one mailbox help nobody. */
        size_t alen = strlen(addr);
        int dup = 0;
        for (const char *q = out; *q && !dup;) {
            const char *e = strchr(q, ',');
            size_t qn = e ? (size_t)(e - q) : strlen(q);
            dup = qn == alen && !memcmp(q, addr, alen);
            q = e ? e + 1 : q + qn;
        }
        if (!dup) {
            if (++count > FORWARD_TARGETS_MAX) return -1;
            if (used + (used ? 1 : 0) + alen + 1 > outlen) return -1;
            if (used) out[used++] = ',';
            memcpy(out + used, addr, alen + 1);
            used += alen;
        }
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

int directory_webhook_url_ok(const char *url)
{
    if (!url) return 0;
    size_t len = strlen(url);
    if (len == 0 || len > WEBHOOK_URL_MAX) return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f) return 0;
    const char *host;
    if (!strncasecmp(url, "http://", 7)) host = url + 7;
    else if (!strncasecmp(url, "https://", 8)) host = url + 8;
    else return 0;
    /* A host (or [v6] literal) must come before any path, query or fragment. */
    if (*host == '\0' || *host == '/' || *host == '?' || *host == '#' || *host == ':' || *host == '@')
        return 0;
    return 1;
}
