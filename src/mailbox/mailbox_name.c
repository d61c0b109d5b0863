/*
 * mailbox_name.c — folder and keyword name rules (see mailbox_name.h).
 *
 * Names arrive from the network (CREATE, RENAME, APPEND, SUBSCRIBE), so every
 * byte is checked here once; the rest of the store only ever sees normalised
 * names and can compare them with strcmp.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"
#include "util/utf8.h"
#include "util/limits.h"
#include "mailbox/mailbox_name.h"

int mailbox_name_normalize(const char *name, char **out)
{
    *out = NULL;
    if (!name) return MAILBOX_NAME_INVALID;
    size_t len = strlen(name);
    if (len == 0) return MAILBOX_NAME_INVALID;
    if (len > IMAP_MAILBOX_NAME_MAX) return MAILBOX_NAME_LIMIT;

    const unsigned char *s = (const unsigned char *)name;
    size_t levels = 1, level_start = 0;
    for (size_t i = 0; i <= len; ) {
        if (i == len || s[i] == '/') {
            size_t n = i - level_start;
            if (n == 0) return MAILBOX_NAME_INVALID;          /* "", "/a", "a/", "a//b" */
            if ((n == 1 && s[level_start] == '.') ||
                (n == 2 && s[level_start] == '.' && s[level_start + 1] == '.'))
                return MAILBOX_NAME_INVALID;
            if (i == len) break;
            levels++;
            i++;
            level_start = i;
            continue;
        }
        uint32_t cp;
        size_t k = utf8_decode(s + i, len - i, &cp);
        if (k == 0) return MAILBOX_NAME_INVALID;
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) return MAILBOX_NAME_INVALID;
        i += k;
    }
    if (levels > IMAP_MAILBOX_DEPTH_MAX) return MAILBOX_NAME_LIMIT;

    char *copy = xstrdup(name);
    /* RFC 3501 5.1: INBOX is case-insensitive, and so is it as a parent. */
    if (strncasecmp(copy, "INBOX", 5) == 0 && (copy[5] == '\0' || copy[5] == '/'))
        memcpy(copy, "INBOX", 5);
    *out = copy;
    return MAILBOX_NAME_OK;
}

int mailbox_name_is_inbox(const char *name)
{
    return strcmp(name, "INBOX") == 0;
}

int mailbox_name_is_within(const char *name, const char *ancestor)
{
    size_t n = strlen(ancestor);
    return strncmp(name, ancestor, n) == 0 && (name[n] == '\0' || name[n] == '/');
}

size_t mailbox_name_depth(const char *name)
{
    size_t levels = 1;
    for (const char *p = name; *p; p++)
        if (*p == '/') levels++;
    return levels;
}

int mailbox_keyword_valid(const char *kw)
{
    if (!kw) return 0;
    size_t len = strlen(kw);
    if (len == 0 || len > IMAP_KEYWORD_LEN_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)kw[i];
        /* ATOM-CHAR: any CHAR except atom-specials, and flag-keyword excludes '\'. */
        if (c <= 0x20 || c >= 0x7f) return 0;
        if (strchr("(){%*\"\\]", c)) return 0;
    }
    return 1;
}
