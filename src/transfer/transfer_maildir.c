/*
 * transfer_maildir.c — the Maildir format (the qmail maildir(5) layout, Maildir++
 * folders, Dovecot's keyword letters): info suffixes and reading a maildir.
 *
 * OFFERS
 *   transfer_maildir_info, transfer_maildir_parse_info, transfer_maildir_read.
 *
 * PROMISES
 *   - Flags live in the info suffix ":2,LETTERS": D draft, F flagged, P passed
 *     ($Forwarded), R replied (\Answered), S seen, T trashed (\Deleted); a-z are
 *     keywords numbered by the folder's "dovecot-keywords" file ("0 name" lines).
 *   - The internal date is the file's mtime (what Dovecot and mbsync use).
 *   - Messages of a folder are read in the order of (mtime, file name), from cur/
 *     and new/; files whose names begin with '.' are not messages. One message is
 *     in memory at a time; a file over the append limit is reported and skipped.
 *
 * DIAGNOSTICS
 *   transfer_maildir_read fails on an unreadable directory or file, naming it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "transfer/transfer_internal.h"

/* dovecot-keywords is a few lines per keyword; a bigger file is not one. */
#define MAILDIR_KEYWORDS_FILE_MAX (64 * 1024)

void transfer_maildir_info(uint32_t flags, int forwarded, const char *kwletters, buf *out)
{
    char set[128] = { 0 };
    if (flags & MSG_FLAG_DRAFT) set['D'] = 1;
    if (flags & MSG_FLAG_FLAGGED) set['F'] = 1;
    if (forwarded) set['P'] = 1;
    if (flags & MSG_FLAG_ANSWERED) set['R'] = 1;
    if (flags & MSG_FLAG_SEEN) set['S'] = 1;
    if (flags & MSG_FLAG_DELETED) set['T'] = 1;
    for (const char *k = kwletters; k && *k; k++)
        if (*k >= 'a' && *k <= 'z') set[(unsigned char)*k] = 1;
    buf_puts(out, ":2,");
    for (int c = 0; c < 128; c++)
        if (set[c]) buf_putc(out, (char)c);
}

void transfer_maildir_parse_info(const char *name, uint32_t *flags, int *forwarded,
                                 char kwletters[27])
{
    *flags = 0;
    *forwarded = 0;
    kwletters[0] = '\0';
    const char *info = NULL;
    for (const char *s = name; (s = strstr(s, ":2,")) != NULL; s++) info = s + 3;
    if (!info) return;
    char set[26] = { 0 };
    for (const char *c = info; *c; c++) {
        switch (*c) {
        case 'D': *flags |= MSG_FLAG_DRAFT; break;
        case 'F': *flags |= MSG_FLAG_FLAGGED; break;
        case 'P': *forwarded = 1; break;
        case 'R': *flags |= MSG_FLAG_ANSWERED; break;
        case 'S': *flags |= MSG_FLAG_SEEN; break;
        case 'T': *flags |= MSG_FLAG_DELETED; break;
        default:
            if (*c >= 'a' && *c <= 'z') set[*c - 'a'] = 1;
            break;
        }
    }
    size_t n = 0;
    for (int i = 0; i < 26; i++)
        if (set[i]) kwletters[n++] = (char)('a' + i);
    kwletters[n] = '\0';
}

typedef struct maildir_entry {
    int64_t mtime;
    char *path;
    const char *name;     /* inside path */
} maildir_entry;

static int maildir_entry_cmp(const void *a, const void *b)
{
    const maildir_entry *x = a, *y = b;
    if (x->mtime != y->mtime) return x->mtime < y->mtime ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Reads DIR/dovecot-keywords into names[26] (NULL where unset). */
static void maildir_keywords_load(const char *dir, char *names[26])
{
    for (int i = 0; i < 26; i++) names[i] = NULL;
    buf path = BUF_INIT;
    buf_printf(&path, "%s/dovecot-keywords", dir);
    char *data = NULL;
    size_t len;
    if (file_read_all(buf_cstr(&path), &data, &len, MAILDIR_KEYWORDS_FILE_MAX) == 0) {
        char *save = NULL;
        for (char *ln = strtok_r(data, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
            char *sp = strchr(ln, ' ');
            if (!sp) continue;
            int idx = atoi(ln);
            size_t kl = strcspn(sp + 1, "\r");
            if (idx >= 0 && idx < 26 && kl > 0 && !names[idx]) names[idx] = xstrndup(sp + 1, kl);
        }
    }
    free(data);
    buf_free(&path);
}

static int maildir_list(const char *dir, const char *sub, maildir_entry **ents, size_t *n,
                        size_t *cap, char *err, size_t errlen)
{
    buf d = BUF_INIT;
    buf_printf(&d, "%s/%s", dir, sub);
    DIR *dh = opendir(buf_cstr(&d));
    if (!dh) {
        int e = errno;
        buf_free(&d);
        if (e == ENOENT) return 0;
        snprintf(err, errlen, "%s/%s: %s", dir, sub, strerror(e));
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        if (de->d_name[0] == '.') continue;
        buf p = BUF_INIT;
        buf_printf(&p, "%s/%s", buf_cstr(&d), de->d_name);
        struct stat sb;
        if (stat(buf_cstr(&p), &sb) != 0 || !S_ISREG(sb.st_mode)) {
            buf_free(&p);
            continue;
        }
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 64;
            *ents = xrealloc(*ents, *cap * sizeof **ents);
        }
        maildir_entry *e = &(*ents)[(*n)++];
        e->mtime = (int64_t)sb.st_mtime;
        e->path = buf_steal(&p, NULL);
        e->name = strrchr(e->path, '/') + 1;
    }
    closedir(dh);
    buf_free(&d);
    return 0;
}

int transfer_maildir_read(transfer_importer *imp, const char *dir, const char *folder,
                          char *err, size_t errlen)
{
    int rc = -1;
    maildir_entry *ents = NULL;
    size_t n = 0, cap = 0;
    char *kwnames[26];
    maildir_keywords_load(dir, kwnames);
    buf kw = BUF_INIT;
    int fr = transfer_importer_folder(imp, folder, dir, err, errlen);
    if (fr < 0) goto out;
    if (maildir_list(dir, "cur", &ents, &n, &cap, err, errlen) < 0 ||
        maildir_list(dir, "new", &ents, &n, &cap, err, errlen) < 0)
        goto out;
    if (n) qsort(ents, n, sizeof *ents, maildir_entry_cmp);
    for (size_t i = 0; i < n; i++) {
        char *data = NULL;
        size_t len = 0;
        struct stat sb;
        if (stat(ents[i].path, &sb) == 0 && (uint64_t)sb.st_size > IMAP_APPEND_MAX) {
            imp->stats->messages++;
            imp->stats->skipped++;
            transfer_warn(imp->opts, "%s: message of %lld bytes is over the limit of %d bytes;"
                          " skipped", ents[i].path, (long long)sb.st_size, IMAP_APPEND_MAX);
            continue;
        }
        if (file_read_all(ents[i].path, &data, &len, IMAP_APPEND_MAX) != 0) {
            snprintf(err, errlen, "%s: %s", ents[i].path, strerror(errno));
            goto out;
        }
        uint32_t flags;
        int fwd;
        char letters[27];
        transfer_maildir_parse_info(ents[i].name, &flags, &fwd, letters);
        buf_reset(&kw);
        if (fwd) buf_puts(&kw, "$Forwarded");
        for (const char *l = letters; *l; l++) {
            const char *name = kwnames[*l - 'a'];
            if (!name) continue;          /* a letter the keywords file does not name */
            if (fwd && !strcmp(name, "$Forwarded")) continue;
            if (kw.len) buf_putc(&kw, ' ');
            buf_puts(&kw, name);
        }
        int r = transfer_importer_add(imp, folder, data ? data : "", len, flags, buf_cstr(&kw),
                                      ents[i].mtime, ents[i].path, err, errlen);
        free(data);
        if (r < 0) goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < n; i++) free(ents[i].path);
    free(ents);
    for (int i = 0; i < 26; i++) free(kwnames[i]);
    buf_free(&kw);
    return rc;
}
