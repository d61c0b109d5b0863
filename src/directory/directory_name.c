/*
 * directory_name.c — what a domain and an address may look like, and their
 * one stored form (see directory.h). Pure functions, shared by every directory
 * back-end, so SQLite and PostgreSQL agree on what "the same address" means.
 *
 * Deliberately narrower than RFC 5321 allows: no quoted local parts, no
 * address literals, no internationalised names (IDNA A-labels pass, being
 * LDH). Those are legal but serve nobody as a mailbox name here, and each one
 * is a way to spell one address two ways.
 */
#include <string.h>

#include "util/limits.h"
#include "directory/directory.h"

static int dirname_is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static unsigned char dirname_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* RFC 5322 3.2.3 atext, the letters already lowercase. */
static int dirname_is_atext(unsigned char c)
{
    return dirname_is_alnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* Checks an already lowercased domain of length len. */
static int dirname_domain_ok(const char *s, size_t len)
{
    if (len == 0 || len > DIRECTORY_DOMAIN_MAX) return 0;
    size_t label_start = 0;
    int all_digits = 1;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            size_t n = i - label_start;
            if (n == 0 || n > 63) return 0;
            if (s[label_start] == '-' || s[i - 1] == '-') return 0;
            if (i < len) { label_start = i + 1; all_digits = 1; }
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        if (!dirname_is_alnum(c) && c != '-') return 0;
        if (!(c >= '0' && c <= '9')) all_digits = 0;
    }
    /* The last label: all digits would read as an IPv4 address. */
    return !all_digits;
}

int directory_domain_normalise(const char *in, char *out, size_t outlen)
{
    if (!in) return -1;
    size_t len = strlen(in);
    if (len > DIRECTORY_DOMAIN_MAX || len + 1 > outlen) return -1;
    for (size_t i = 0; i < len; i++) out[i] = (char)dirname_lower((unsigned char)in[i]);
    out[len] = '\0';
    if (!dirname_domain_ok(out, len)) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

int directory_address_normalise(const char *in, char *out, size_t outlen)
{
    if (!in) return -1;
    size_t len = strlen(in);
    if (len > ADDRESS_MAX_LEN || len + 1 > outlen) return -1;
    const char *at = strrchr(in, '@');
    if (!at) return -1;
    size_t local = (size_t)(at - in);
    if (local == 0 || local > DIRECTORY_LOCAL_MAX) goto bad;
    for (size_t i = 0; i < len; i++) out[i] = (char)dirname_lower((unsigned char)in[i]);
    out[len] = '\0';
    /* dot-atom: atext runs separated by single dots, none at either end. */
    if (out[0] == '.' || out[local - 1] == '.') goto bad;
    for (size_t i = 0; i < local; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c == '.') {
            if (out[i + 1] == '.') goto bad;
        } else if (!dirname_is_atext(c)) {
            goto bad;
        }
    }
    if (!dirname_domain_ok(out + local + 1, len - local - 1)) goto bad;
    return 0;
bad:
    if (outlen) out[0] = '\0';
    return -1;
}
