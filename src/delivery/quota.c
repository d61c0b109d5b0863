/*
 * quota.c — quota sizes and usage on disk (see quota.h).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "directory/directory.h"
#include "store/account.h"
#include "delivery/quota.h"

int quota_parse(const char *text, uint64_t *out)
{
    *out = 0;
    if (!text || !*text) return -1;
    if (!strcasecmp(text, "none")) return 0;
    const char *p = text;
    uint64_t v = 0;
    if (!isdigit((unsigned char)*p)) return -1;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    unsigned shift = 0;
    switch (toupper((unsigned char)*p)) {
    case '\0': break;
    case 'K': shift = 10; p++; break;
    case 'M': shift = 20; p++; break;
    case 'G': shift = 30; p++; break;
    case 'T': shift = 40; p++; break;
    case 'B': break;
    default: return -1;
    }
    if (shift && (*p == 'i' || *p == 'I')) p++;
    if (*p == 'B' || *p == 'b') p++;
    if (*p) return -1;
    /* The directory stores it as a signed 64-bit integer. */
    if (v > ((uint64_t)INT64_MAX >> shift)) return -1;
    *out = v << shift;
    return 0;
}

void quota_format(uint64_t bytes, char *out, size_t outlen)
{
    static const char units[] = "KMGT";
    if (bytes == 0) {
        snprintf(out, outlen, "none");
        return;
    }
    int u = -1;
    while (u < 3 && bytes % 1024 == 0) {
        bytes /= 1024;
        u++;
    }
    if (u < 0) snprintf(out, outlen, "%llu", (unsigned long long)bytes);
    else snprintf(out, outlen, "%llu%c", (unsigned long long)bytes, units[u]);
}

static uint64_t file_size(const char *datadir, const char *sub, const char *id, const char *suffix)
{
    char path[4096];
    struct stat st;
    int n = snprintf(path, sizeof path, "%s/%s/%s.db%s", datadir, sub, id, suffix);
    if (n < 0 || (size_t)n >= sizeof path) return 0;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0) return 0;
    return (uint64_t)st.st_size;
}

uint64_t quota_usage(const char *datadir, const char *mailbox_id)
{
    /* The id becomes a path: only the hex form ids have. */
    size_t len = strlen(mailbox_id);
    if (len == 0 || len > DIRECTORY_MAILBOX_ID_LEN) return 0;
    for (size_t i = 0; i < len; i++)
        if (!isxdigit((unsigned char)mailbox_id[i])) return 0;
    return file_size(datadir, "mailboxes", mailbox_id, "") + file_size(datadir, "mailboxes", mailbox_id, "-wal") +
           file_size(datadir, "spool", mailbox_id, "") + file_size(datadir, "spool", mailbox_id, "-wal");
}

int quota_over(uint64_t quota, uint64_t usage, uint64_t add)
{
    if (quota == 0) return 0;
    if (usage >= quota) return 1;
    return add > quota - usage;
}

int quota_check(directory *dir, const char *datadir, const char *address, const char *mailbox_id,
                uint64_t add)
{
    directory_alias a;
    if (directory_alias_lookup(dir, address, &a) != DIR_OK) return 0;
    uint64_t quota = a.quota;
    memset(&a, 0, sizeof a);
    if (quota == 0) return 0;
    return quota_over(quota, quota_usage(datadir, mailbox_id), add);
}

int quota_check_session(accounts *acc, const account_auth *au, uint64_t add)
{
    if (!acc || !au) return 0;
    return quota_check(account_directory(acc), account_datadir(acc), account_auth_address(au),
                       account_auth_mailbox_id(au), add);
}
