/*
 * imap_list.c — LIST and LSUB: wildcard matching and the entries a pattern
 * selects (RFC 3501 6.3.8, 6.3.9; CHILDREN RFC 3348; SPECIAL-USE RFC 6154).
 *
 * SUMMARY
 *   imap_list_match()     '*' and '%' against one name
 *   imap_list_select()    the sorted LIST/LSUB result over a set of names
 *   imap_list_write_attrs() the attribute list of one entry
 *
 * COST
 *   Matching is a dynamic programme over the name's positions, one pass per
 *   pattern token: O(tokens x name length), never exponential whatever the
 *   pattern. Runs of wildcards collapse first, and a pattern needing more literal
 *   characters than the name has fails at once, so tokens <= 2 x name length + 1
 *   and a name is at most IMAP_MAILBOX_NAME_MAX bytes.
 *
 * Pure: no store, no connection. Fails only by aborting when memory runs out.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/limits.h"
#include "store/store.h"
#include "imap/imap_session.h"

static int list_is_inbox_prefix(const char *name)
{
    return strncmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/');
}

static unsigned char list_fold(unsigned char c)
{
    return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 'a' + 'A') : c;
}

int imap_list_match(const char *pattern, const char *name)
{
    size_t n = strlen(name);
    size_t plen = strlen(pattern);
    /* Positions 0..n of the name reachable after the pattern so far. */
    unsigned char stackbuf[IMAP_MAILBOX_NAME_MAX + 2];
    unsigned char *cur = n + 1 <= sizeof stackbuf ? stackbuf : xmalloc(n + 1);
    int inbox = list_is_inbox_prefix(name);
    int result = 0;

    /* Literal characters in the pattern: each consumes one byte of the name. */
    size_t literals = 0;
    for (size_t i = 0; i < plen; i++)
        if (pattern[i] != '*' && pattern[i] != '%') literals++;
    if (literals > n) goto out;

    memset(cur, 0, n + 1);
    cur[0] = 1;
    size_t lo = 0;                     /* lowest reachable position */
    for (size_t i = 0; i < plen; ) {
        char p = pattern[i];
        if (p == '*' || p == '%') {
            /* Collapse a run of wildcards: any '*' in it makes it a '*'. */
            int star = 0;
            while (i < plen && (pattern[i] == '*' || pattern[i] == '%')) {
                if (pattern[i] == '*') star = 1;
                i++;
            }
            if (star) {
                for (size_t k = lo; k <= n; k++) cur[k] = 1;
            } else {
                /* '%': extend each reachable position up to the next '/'. */
                int on = 0;
                for (size_t k = lo; k <= n; k++) {
                    if (cur[k]) on = 1;
                    else if (on) cur[k] = 1;
                    if (k < n && name[k] == '/') on = 0;
                }
            }
            continue;
        }
        /* A literal: shift every reachable position by one matching byte. */
        int any = 0;
        size_t newlo = n + 1;
        for (size_t k = n; k-- > lo; ) {
            int ok = 0;
            if (cur[k]) {
                unsigned char a = (unsigned char)name[k], b = (unsigned char)p;
                ok = a == b || (inbox && k < 5 && list_fold(a) == list_fold(b));
            }
            cur[k + 1] = (unsigned char)ok;
            if (ok) { any = 1; newlo = k + 1; }
        }
        cur[lo] = 0;
        if (!any) goto out;
        lo = newlo;
        i++;
    }
    result = cur[n];
out:
    if (cur != stackbuf) free(cur);
    return result;
}

static int list_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_cmp_entry(const void *a, const void *b)
{
    return strcmp(((const imap_list_entry *)a)->name, ((const imap_list_entry *)b)->name);
}

/* Index of the first sorted name >= key. */
static size_t list_lower_bound(char **sorted, size_t n, const char *key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(sorted[mid], key) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static int list_contains(char **sorted, size_t n, const char *key)
{
    size_t i = list_lower_bound(sorted, n, key);
    return i < n && strcmp(sorted[i], key) == 0;
}

/* 1 when some sorted name lies below `name` ("name/..."). Names below a name form
 * one block in byte order, starting at the first name >= "name/". */
static int list_has_children(char **sorted, size_t n, const char *name)
{
    size_t len = strlen(name);
    char *key = xmalloc(len + 2);
    memcpy(key, name, len);
    key[len] = '/';
    key[len + 1] = '\0';
    size_t i = list_lower_bound(sorted, n, key);
    int yes = i < n && strncmp(sorted[i], key, len + 1) == 0;
    free(key);
    return yes;
}

static void list_push(imap_list_entry **out, size_t *count, size_t *cap, const char *name,
                      size_t len, unsigned attrs)
{
    if (*count == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *out = xrealloc(*out, *cap * sizeof **out);
    }
    (*out)[*count].name = xstrndup(name, len);
    (*out)[*count].attrs = attrs;
    (*count)++;
}

size_t imap_list_select(const char *pattern, char *const *names, const unsigned *special,
                        size_t n, int children, imap_list_entry **out)
{
    imap_list_entry *res = NULL;
    size_t count = 0, cap = 0;
    char **sorted = n ? xmalloc(n * sizeof *sorted) : NULL;
    for (size_t i = 0; i < n; i++) sorted[i] = names[i];
    if (n) qsort(sorted, n, sizeof *sorted, list_cmp_str);

    for (size_t i = 0; i < n; i++) {
        const char *name = names[i];
        int m = imap_list_match(pattern, name);
        if (m) {
            unsigned attrs = special ? (special[i] << IMAP_LIST_SPECIAL_SHIFT) : 0;
            if (children)
                attrs |= list_has_children(sorted, n, name) ? IMAP_LIST_HASCHILDREN
                                                            : IMAP_LIST_HASNOCHILDREN;
            list_push(&res, &count, &cap, name, strlen(name), attrs);
            /* LSUB: a subscribed name that matches stands for itself only. */
            if (!children) continue;
        }
        /* Levels above a name that are not names themselves: LIST shows them as
         * \Noselect (a deleted parent keeps its children, RFC 3501 6.3.4; "%"
         * lists levels, 6.3.8); LSUB lists an unsubscribed parent as \Noselect
         * when the pattern does not reach the subscribed name (6.3.9). */
        for (const char *slash = strchr(name, '/'); slash; slash = strchr(slash + 1, '/')) {
            char *level = xstrndup(name, (size_t)(slash - name));
            if (!list_contains(sorted, n, level) && imap_list_match(pattern, level)) {
                unsigned attrs = IMAP_LIST_NOSELECT | (children ? IMAP_LIST_HASCHILDREN : 0);
                list_push(&res, &count, &cap, level, strlen(level), attrs);
            }
            free(level);
        }
    }
    free(sorted);

    if (count > 1) {
        qsort(res, count, sizeof *res, list_cmp_entry);
        size_t w = 1;
        for (size_t i = 1; i < count; i++) {
            if (strcmp(res[i].name, res[w - 1].name) == 0) {
                free(res[i].name);
                continue;
            }
            res[w++] = res[i];
        }
        count = w;
    }
    *out = res;
    return count;
}

void imap_list_entries_free(imap_list_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) free(e[i].name);
    free(e);
}

void imap_list_write_attrs(buf *out, unsigned attrs)
{
    static const struct { unsigned bit; const char *name; } names[] = {
        { IMAP_LIST_NOSELECT, "\\Noselect" },
        { IMAP_LIST_HASCHILDREN, "\\HasChildren" },
        { IMAP_LIST_HASNOCHILDREN, "\\HasNoChildren" },
        { STORE_SPECIAL_ALL << IMAP_LIST_SPECIAL_SHIFT, "\\All" },
        { STORE_SPECIAL_ARCHIVE << IMAP_LIST_SPECIAL_SHIFT, "\\Archive" },
        { STORE_SPECIAL_DRAFTS << IMAP_LIST_SPECIAL_SHIFT, "\\Drafts" },
        { STORE_SPECIAL_FLAGGED << IMAP_LIST_SPECIAL_SHIFT, "\\Flagged" },
        { STORE_SPECIAL_JUNK << IMAP_LIST_SPECIAL_SHIFT, "\\Junk" },
        { STORE_SPECIAL_SENT << IMAP_LIST_SPECIAL_SHIFT, "\\Sent" },
        { STORE_SPECIAL_TRASH << IMAP_LIST_SPECIAL_SHIFT, "\\Trash" },
    };
    int first = 1;
    buf_putc(out, '(');
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(attrs & names[i].bit)) continue;
        if (!first) buf_putc(out, ' ');
        buf_puts(out, names[i].name);
        first = 0;
    }
    buf_putc(out, ')');
}
