/*
 * transfer.c — export and import drivers: walk the folders of a mailbox and write
 * them as mbox / Maildir / eml-zip; walk an mbox tree or a Maildir and append its
 * messages once.
 *
 * OFFERS
 *   transfer_format_parse, transfer_export, transfer_import, transfer_path_escape,
 *   transfer_path_unescape, and (transfer_internal.h) the importer.
 *
 * LAYOUTS
 *   mbox     OUT/<folder path>.mbox, one file per folder: "a/b" -> OUT/a/b.mbox,
 *            INBOX -> OUT/INBOX.mbox; components escaped by transfer_path_escape.
 *   maildir  Maildir++: INBOX in OUT/{cur,new,tmp}, "a/b" in OUT/.a.b/{cur,...}
 *            (import also reads a plain Maildir, and the nested a/b/cur layout of
 *            mbsync's "SubFolders Verbatim");
 *            file "<internaldate>.S<uidvalidity>U<uid>.sealbox:2,<flags>" in cur/,
 *            mtime = internal date; keyword letters in each folder's
 *            dovecot-keywords (the first 26 keywords of the mailbox).
 *   eml-zip  <folder path>/<uid>.eml with the stored (CRLF) bytes, and
 *            manifest.json: folders, and per file its folder, uid, flags,
 *            keywords, internal date (ISO 8601 UTC) and size.
 *
 * PROMISES
 *   Export reads one message at a time (store_fetch RAW per uid of a store_select
 *   snapshot; a message expunged meanwhile is left out) and writes only under OUT,
 *   directories 0700 and files 0600. Import: see transfer.h.
 *
 * DIAGNOSTICS
 *   -1 with a sentence in err: OUT not empty, a write error (naming the file), a
 *   store failure, an input that is not of the format (naming file and line).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "mime/mime.h"
#include "mailbox/mailbox_name.h"
#include "store/store.h"
#include "transfer/transfer_internal.h"

int transfer_format_parse(const char *s, transfer_format *out)
{
    if (!strcmp(s, "mbox")) *out = TRANSFER_MBOX;
    else if (!strcmp(s, "maildir")) *out = TRANSFER_MAILDIR;
    else if (!strcmp(s, "eml-zip")) *out = TRANSFER_EMLZIP;
    else return -1;
    return 0;
}

void transfer_warn(const transfer_opts *o, const char *fmt, ...)
{
    if (!o || !o->warn) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    o->warn(o->warn_arg, msg);
}

/* --- Path components --------------------------------------------------------------- */

void transfer_path_escape(const char *comp, size_t len, int maildirpp, buf *out)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)comp[i];
        int esc = c < 0x20 || c == 0x7f || c == '%' || c == '\\' || c == ':' || c == '*' ||
                  c == '?' || c == '"' || c == '<' || c == '>' || c == '|' || c == '/' ||
                  (c == '.' && (i == 0 || maildirpp));
        if (esc) buf_printf(out, "%%%02X", c);
        else buf_putc(out, (char)c);
    }
}

static int transfer_hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void transfer_path_unescape(const char *s, size_t len, buf *out)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && transfer_hexval(s[i + 1]) >= 0 &&
            transfer_hexval(s[i + 2]) >= 0) {
            buf_putc(out, (char)(transfer_hexval(s[i + 1]) * 16 + transfer_hexval(s[i + 2])));
            i += 2;
        } else {
            buf_putc(out, s[i]);
        }
    }
}

/* "a/b" -> "a/b" with each component escaped, joined by `sep` (and `prefix`). */
static void transfer_folder_path(const char *folder, int maildirpp, buf *out)
{
    const char *s = folder;
    for (;;) {
        const char *slash = strchr(s, '/');
        size_t n = slash ? (size_t)(slash - s) : strlen(s);
        if (maildirpp) buf_putc(out, '.');
        transfer_path_escape(s, n, maildirpp, out);
        if (!slash) break;
        if (!maildirpp) buf_putc(out, '/');
        s = slash + 1;
    }
}

/* --- The importer ---------------------------------------------------------------- */

/* Returns how many copies of `digest` this run saw before, and counts this one. */
static uint32_t importer_seen(transfer_importer *imp, const unsigned char digest[32])
{
    if (imp->seen_n * 10 >= imp->seen_cap * 7) {
        size_t ncap = imp->seen_cap ? imp->seen_cap * 2 : 1024;
        unsigned char *nk = xcalloc(ncap, 32);
        uint32_t *nc = xcalloc(ncap, sizeof *nc);
        for (size_t i = 0; i < imp->seen_cap; i++) {
            if (!imp->seen_count[i]) continue;
            size_t h;
            memcpy(&h, imp->seen + i * 32, sizeof h);
            for (h %= ncap; nc[h]; h = (h + 1) % ncap) {}
            memcpy(nk + h * 32, imp->seen + i * 32, 32);
            nc[h] = imp->seen_count[i];
        }
        free(imp->seen);
        free(imp->seen_count);
        imp->seen = nk;
        imp->seen_count = nc;
        imp->seen_cap = ncap;
    }
    size_t h;
    memcpy(&h, digest, sizeof h);
    for (h %= imp->seen_cap; imp->seen_count[h]; h = (h + 1) % imp->seen_cap)
        if (!memcmp(imp->seen + h * 32, digest, 32)) return imp->seen_count[h]++;
    memcpy(imp->seen + h * 32, digest, 32);
    imp->seen_count[h] = 1;
    imp->seen_n++;
    return 0;
}

int transfer_importer_folder(transfer_importer *imp, const char *folder, const char *where,
                             char *err, size_t errlen)
{
    imp->stats->folders++;
    if (imp->folder_ready && !strcmp(imp->folder_ready, folder)) return 0;
    store_status st = store_folder_create(imp->m, folder, 0);
    if (st == STORE_OK || st == STORE_EXISTS) {
        free(imp->folder_ready);
        imp->folder_ready = xstrdup(folder);
        return 0;
    }
    if (st == STORE_INVALID || st == STORE_LIMIT || st == STORE_NOPERM) {
        transfer_warn(imp->opts, "%s: folder \"%s\" cannot be created (%s); its messages are"
                      " skipped", where, folder, store_strerror(st));
        free(imp->folder_refused);
        imp->folder_refused = xstrdup(folder);
        return 1;
    }
    snprintf(err, errlen, "%s: cannot create folder \"%s\": %s", where, folder, store_strerror(st));
    return -1;
}

/* One message waiting in the importer's batch. */
typedef struct import_pending {
    buf data;                              /* the message, CRLF */
    uint32_t flags;
    int64_t date;
    char *kwcopy;                          /* the keywords' storage */
    const char *kws[IMAP_KEYWORDS_MAX];
    size_t nkw;
    char origin[STORE_ORIGIN_MAX + 1];
    char *where;
} import_pending;

static void pending_free(import_pending *p)
{
    buf_free(&p->data);
    free(p->kwcopy);
    free(p->where);
}

/* What became of one message: counted, warned about, or an error. */
static int importer_result(transfer_importer *imp, const import_pending *p, store_status st,
                           char *err, size_t errlen)
{
    switch (st) {
    case STORE_OK: imp->stats->added++; return 0;
    case STORE_EXISTS: imp->stats->present++; return 0;
    case STORE_TOOBIG:
    case STORE_INVALID:
        imp->stats->skipped++;
        transfer_warn(imp->opts, "%s: message refused by the store (%s); skipped", p->where,
                      store_strerror(st));
        return 0;
    default:
        snprintf(err, errlen, "%s: cannot append the message: %s", p->where, store_strerror(st));
        return -1;
    }
}

int transfer_importer_flush(transfer_importer *imp, char *err, size_t errlen)
{
    size_t n = imp->npending;
    if (n == 0) return 0;
    import_pending *pend = imp->pending;
    store_batch_msg *v = xcalloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[i].msg = buf_cstr(&pend[i].data);
        v[i].len = pend[i].data.len;
        v[i].internaldate = pend[i].date;
        v[i].flags = pend[i].flags & MSG_FLAG_ALL;
        v[i].keywords = pend[i].kws;
        v[i].nkeywords = pend[i].nkw;
        v[i].origin = pend[i].origin;
    }
    int rc = 0;
    store_status bst = store_append_batch(imp->m, imp->pending_folder, v, n);
    for (size_t i = 0; i < n; i++) {
        store_status st = bst == STORE_OK ? v[i].status : bst;
        if (rc == 0 && st == STORE_LIMIT && pend[i].nkw) {
            transfer_warn(imp->opts, "%s: the mailbox has no room for more keywords; imported"
                          " without its keywords", pend[i].where);
            st = store_append_once(imp->m, imp->pending_folder, v[i].flags, NULL, 0, v[i].internaldate,
                                   v[i].msg, v[i].len, v[i].origin, NULL, NULL);
        }
        if (rc == 0 && importer_result(imp, &pend[i], st, err, errlen) < 0) rc = -1;
        pending_free(&pend[i]);
    }
    free(v);
    imp->npending = 0;
    imp->pending_bytes = 0;
    return rc;
}

int transfer_importer_add(transfer_importer *imp, const char *folder, const char *msg,
                          size_t len, uint32_t flags, const char *keywords, int64_t date,
                          const char *where, char *err, size_t errlen)
{
    imp->stats->messages++;
    imp->stats->bytes += len;
    if (imp->folder_refused && !strcmp(imp->folder_refused, folder)) {
        imp->stats->skipped++;            /* warned once, for the folder */
        return 0;
    }
    if (len > IMAP_APPEND_MAX) {
        imp->stats->skipped++;
        transfer_warn(imp->opts, "%s: message of %zu bytes is over the limit of %d bytes; skipped",
                      where, len, IMAP_APPEND_MAX);
        return 0;
    }
    /* A batch holds one folder's messages. */
    if (imp->npending && strcmp(imp->pending_folder, folder) != 0 &&
        transfer_importer_flush(imp, err, errlen) < 0)
        return -1;
    if (imp->npending == 0) {
        free(imp->pending_folder);
        imp->pending_folder = xstrdup(folder);
    }
    if (!imp->pending) imp->pending = xcalloc(TRANSFER_BATCH_MESSAGES, sizeof *imp->pending);
    import_pending *p = &imp->pending[imp->npending];
    memset(p, 0, sizeof *p);
    /* The origin is judged on the bytes the store will hold, so an LF and a CRLF
     * copy of one message are the same message. */
    mime_normalize_crlf(msg, len, &p->data);
    unsigned char digest[32];
    crypto_hash_sha256_state hs;
    crypto_hash_sha256_init(&hs);
    crypto_hash_sha256_update(&hs, (const unsigned char *)folder, strlen(folder) + 1);
    crypto_hash_sha256_update(&hs, (const unsigned char *)buf_cstr(&p->data), p->data.len);
    crypto_hash_sha256_final(&hs, digest);
    uint32_t copy = importer_seen(imp, digest);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    if (copy) snprintf(p->origin, sizeof p->origin, "import:%s:%u", hex, copy);
    else snprintf(p->origin, sizeof p->origin, "import:%s", hex);
    p->flags = flags;
    p->date = date;
    p->where = xstrdup(where);
    if (keywords && *keywords) {
        p->kwcopy = xstrdup(keywords);
        char *save = NULL;
        for (char *k = strtok_r(p->kwcopy, " ", &save); k; k = strtok_r(NULL, " ", &save)) {
            if (!mailbox_keyword_valid(k)) continue;   /* not an IMAP atom: not a keyword */
            int dup = 0;
            for (size_t i = 0; i < p->nkw; i++) dup |= !strcmp(p->kws[i], k);
            if (!dup && p->nkw < IMAP_KEYWORDS_MAX) p->kws[p->nkw++] = k;
        }
    }
    imp->npending++;
    imp->pending_bytes += p->data.len;
    if (imp->npending == TRANSFER_BATCH_MESSAGES || imp->pending_bytes >= TRANSFER_BATCH_BYTES)
        return transfer_importer_flush(imp, err, errlen);
    return 0;
}

static void importer_free(transfer_importer *imp)
{
    for (size_t i = 0; i < imp->npending; i++) pending_free(&imp->pending[i]);
    free(imp->pending);
    free(imp->pending_folder);
    free(imp->seen);
    free(imp->seen_count);
    free(imp->folder_ready);
    free(imp->folder_refused);
}

/* --- Export -------------------------------------------------------------------------- */

typedef struct exporter {
    store_mailbox *m;
    transfer_format fmt;
    const char *out;
    transfer_stats *stats;
    char **kwnames;
    size_t nkw;
    FILE *zipf;
    transfer_zip *zip;
    buf manifest;
    int manifest_first;
    buf scratch, scratch2;
} exporter;

static void json_string(buf *b, const char *s)
{
    buf_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') buf_printf(b, "\\%c", c);
        else if (c < 0x20) buf_printf(b, "\\u%04x", c);
        else buf_putc(b, (char)c);
    }
    buf_putc(b, '"');
}

static void iso_date(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) memset(&tm, 0, sizeof tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Writes all of `data` to a new file `path` (0600, refusing an existing one),
 * with mtime `mtime` when it is not 0. */
static int export_file(const char *path, const void *data, size_t len, int64_t mtime,
                       char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) goto fail;
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, (const char *)data + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { int e = errno; close(fd); errno = e; goto fail; }
        off += (size_t)n;
    }
    if (mtime) {
        struct timespec ts[2] = { { (time_t)mtime, 0 }, { (time_t)mtime, 0 } };
        futimens(fd, ts);
    }
    if (close(fd) != 0) goto fail;
    return 0;
fail:
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
}

static int export_mkdir(const char *path, char *err, size_t errlen)
{
    if (mkdir_p(path, 0700) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void export_message_keywords(exporter *x, uint64_t mask, const char **kws, size_t *n)
{
    *n = 0;
    for (size_t i = 0; i < x->nkw && i < 64; i++)
        if (mask & ((uint64_t)1 << i)) kws[(*n)++] = x->kwnames[i];
}

static int export_folder(exporter *x, const char *name, char *err, size_t errlen)
{
    int rc = -1;
    store_view v;
    memset(&v, 0, sizeof v);
    store_msg msg;
    memset(&msg, 0, sizeof msg);
    buf path = BUF_INIT, rel = BUF_INIT, data = BUF_INIT;
    FILE *mf = NULL;
    store_status st = store_select(x->m, name, 0, &v);
    if (st == STORE_NOTFOUND) return 0;            /* deleted meanwhile */
    if (st != STORE_OK) {
        snprintf(err, errlen, "cannot open folder \"%s\": %s", name, store_strerror(st));
        return -1;
    }
    x->stats->folders++;
    if (x->fmt == TRANSFER_MBOX) {
        transfer_folder_path(name, 0, &rel);
        buf_printf(&path, "%s/%s", x->out, buf_cstr(&rel));
        char *slash = strrchr(path.p, '/');
        *slash = '\0';
        if (export_mkdir(path.p, err, errlen) < 0) goto out;
        *slash = '/';
        buf_puts(&path, ".mbox");
        int fd = open(buf_cstr(&path), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || !(mf = fdopen(fd, "wb"))) {
            if (fd >= 0) close(fd);
            snprintf(err, errlen, "%s: %s", buf_cstr(&path), strerror(errno));
            goto out;
        }
    } else if (x->fmt == TRANSFER_MAILDIR) {
        if (!strcmp(name, "INBOX")) buf_puts(&path, x->out);
        else {
            buf_printf(&path, "%s/", x->out);
            transfer_folder_path(name, 1, &path);
        }
        static const char *const subs[3] = { "cur", "new", "tmp" };
        for (int i = 0; i < 3; i++) {
            buf_reset(&rel);
            buf_printf(&rel, "%s/%s", buf_cstr(&path), subs[i]);
            if (export_mkdir(buf_cstr(&rel), err, errlen) < 0) goto out;
        }
        if (x->nkw) {
            buf_reset(&rel);
            buf_printf(&rel, "%s/dovecot-keywords", buf_cstr(&path));
            buf_reset(&data);
            for (size_t i = 0; i < x->nkw && i < 26; i++)
                buf_printf(&data, "%zu %s\n", i, x->kwnames[i]);
            if (export_file(buf_cstr(&rel), data.p, data.len, 0, err, errlen) < 0) goto out;
        }
    } else {
        transfer_folder_path(name, 0, &rel);
    }

    for (size_t i = 0; i < v.nmsgs; i++) {
        store_msg_clear(&msg);
        st = store_fetch(x->m, v.folder_id, v.msgs[i].uid, STORE_FETCH_RAW, &msg);
        if (st == STORE_NOTFOUND) continue;         /* expunged meanwhile */
        if (st != STORE_OK) {
            snprintf(err, errlen, "cannot read message %u of folder \"%s\": %s", v.msgs[i].uid,
                     name, store_strerror(st));
            goto out;
        }
        const char *kws[64];
        size_t nk;
        export_message_keywords(x, msg.keywords, kws, &nk);
        x->stats->messages++;
        x->stats->bytes += msg.raw_len;
        buf_reset(&data);
        buf_reset(&x->scratch);
        if (x->fmt == TRANSFER_MBOX) {
            transfer_crlf_to_lf(msg.raw, msg.raw_len, &x->scratch);
            transfer_mbox_from_line(x->scratch.p, x->scratch.len, msg.internaldate, &data);
            transfer_mbox_flag_lines(msg.flags, kws, nk, &data);
            transfer_mboxrd_quote(x->scratch.p, x->scratch.len, &data);
            buf_putc(&data, '\n');
            if (fwrite(data.p, 1, data.len, mf) != data.len) {
                snprintf(err, errlen, "%s: %s", buf_cstr(&path), strerror(errno));
                goto out;
            }
        } else if (x->fmt == TRANSFER_MAILDIR) {
            int fwd = 0;
            char letters[27];
            size_t nl = 0;
            for (size_t k = 0; k < x->nkw && k < 64; k++) {
                if (!(msg.keywords & ((uint64_t)1 << k))) continue;
                if (!strcmp(x->kwnames[k], "$Forwarded")) fwd = 1;
                else if (k < 26) letters[nl++] = (char)('a' + k);
            }
            letters[nl] = '\0';
            buf_reset(&rel);
            buf_printf(&rel, "%s/cur/%lld.S%uU%u.sealbox", buf_cstr(&path),
                       (long long)msg.internaldate, v.uidvalidity, msg.uid);
            transfer_maildir_info(msg.flags, fwd, letters, &rel);
            transfer_crlf_to_lf(msg.raw, msg.raw_len, &data);
            if (export_file(buf_cstr(&rel), data.p, data.len,
                            msg.internaldate ? msg.internaldate : 1, err, errlen) < 0)
                goto out;
        } else {
            buf_reset(&x->scratch2);
            buf_printf(&x->scratch2, "%s/%u.eml", buf_cstr(&rel), msg.uid);
            if (transfer_zip_add(x->zip, buf_cstr(&x->scratch2), msg.raw, msg.raw_len,
                                 msg.internaldate) < 0) {
                snprintf(err, errlen, "%s: %s", x->out, strerror(errno));
                goto out;
            }
            buf *j = &x->manifest;
            buf_puts(j, x->manifest_first ? "\n  " : ",\n  ");
            x->manifest_first = 0;
            buf_puts(j, "{\"file\": ");
            json_string(j, buf_cstr(&x->scratch2));
            buf_puts(j, ", \"folder\": ");
            json_string(j, name);
            buf_printf(j, ", \"uid\": %u, \"flags\": [", msg.uid);
            static const struct { uint32_t bit; const char *name; } sys[] = {
                { MSG_FLAG_SEEN, "\\\\Seen" }, { MSG_FLAG_ANSWERED, "\\\\Answered" },
                { MSG_FLAG_FLAGGED, "\\\\Flagged" }, { MSG_FLAG_DELETED, "\\\\Deleted" },
                { MSG_FLAG_DRAFT, "\\\\Draft" },
            };
            int first = 1;
            for (size_t k = 0; k < sizeof sys / sizeof sys[0]; k++) {
                if (!(msg.flags & sys[k].bit)) continue;
                buf_printf(j, "%s\"%s\"", first ? "" : ", ", sys[k].name);
                first = 0;
            }
            buf_puts(j, "], \"keywords\": [");
            for (size_t k = 0; k < nk; k++) {
                if (k) buf_puts(j, ", ");
                json_string(j, kws[k]);
            }
            char d[32];
            iso_date(msg.internaldate, d);
            buf_printf(j, "], \"internaldate\": \"%s\", \"size\": %zu}", d, msg.raw_len);
        }
    }
    if (mf) {
        FILE *f = mf;
        mf = NULL;
        if (fclose(f) != 0) {
            snprintf(err, errlen, "%s: %s", buf_cstr(&path), strerror(errno));
            goto out;
        }
    }
    rc = 0;
out:
    if (mf) fclose(mf);
    store_msg_clear(&msg);
    store_view_clear(&v);
    buf_free(&path);
    buf_free(&rel);
    buf_free(&data);
    return rc;
}

/* OUT must be new, or an empty directory (mbox, maildir) / an empty file (zip). */
static int export_check_out(const char *out, transfer_format fmt, char *err, size_t errlen)
{
    struct stat sb;
    if (stat(out, &sb) != 0) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "%s: %s", out, strerror(errno));
        return -1;
    }
    if (fmt == TRANSFER_EMLZIP) {
        if (S_ISREG(sb.st_mode) && sb.st_size == 0) return 0;
        snprintf(err, errlen, "%s exists and is not empty: give a new file name", out);
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        snprintf(err, errlen, "%s exists and is not a directory: give a new directory", out);
        return -1;
    }
    DIR *d = opendir(out);
    if (!d) {
        snprintf(err, errlen, "%s: %s", out, strerror(errno));
        return -1;
    }
    struct dirent *de;
    int empty = 1;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) empty = 0;
    closedir(d);
    if (!empty) {
        snprintf(err, errlen, "%s exists and is not empty: give a new or empty directory", out);
        return -1;
    }
    return 0;
}

int transfer_export(store_mailbox *m, transfer_format fmt, const char *out,
                    const transfer_opts *opts, transfer_stats *stats, char *err, size_t errlen)
{
    memset(stats, 0, sizeof *stats);
    int rc = -1;
    exporter x;
    memset(&x, 0, sizeof x);
    x.m = m;
    x.fmt = fmt;
    x.out = out;
    x.stats = stats;
    x.manifest_first = 1;
    store_folder *folders = NULL;
    size_t nf = 0;
    if (export_check_out(out, fmt, err, errlen) < 0) return -1;
    if (store_keywords(m, &x.kwnames, &x.nkw) != STORE_OK ||
        store_folder_list(m, &folders, &nf) != STORE_OK) {
        snprintf(err, errlen, "cannot list the folders of the mailbox");
        goto out;
    }
    if (fmt == TRANSFER_EMLZIP) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || !(x.zipf = fdopen(fd, "wb"))) {
            if (fd >= 0) close(fd);
            snprintf(err, errlen, "%s: %s", out, strerror(errno));
            goto out;
        }
        x.zip = transfer_zip_new(x.zipf);
        buf_puts(&x.manifest, "{\"format\": \"sealbox-eml-zip\", \"version\": 1,\n \"folders\": [");
        for (size_t i = 0; i < nf; i++) {
            buf_puts(&x.manifest, i ? ", " : "");
            json_string(&x.manifest, folders[i].name);
        }
        buf_puts(&x.manifest, "],\n \"messages\": [");
    } else if (export_mkdir(out, err, errlen) < 0) {
        goto out;
    }
    for (size_t i = 0; i < nf; i++)
        if (export_folder(&x, folders[i].name, err, errlen) < 0) goto out;
    if (fmt == TRANSFER_EMLZIP) {
        buf_puts(&x.manifest, "\n ]}\n");
        transfer_zip *z = x.zip;
        x.zip = NULL;
        int zr = transfer_zip_add(z, "manifest.json", x.manifest.p, x.manifest.len,
                                  (int64_t)time(NULL));
        if (zr < 0) transfer_zip_abort(z);
        else zr = transfer_zip_finish(z);
        if (zr < 0) {
            snprintf(err, errlen, "%s: %s", out, strerror(errno));
            goto out;
        }
        FILE *f = x.zipf;
        x.zipf = NULL;
        if (fclose(f) != 0) {
            snprintf(err, errlen, "%s: %s", out, strerror(errno));
            goto out;
        }
    }
    rc = 0;
out:
    transfer_zip_abort(x.zip);
    if (x.zipf) fclose(x.zipf);
    for (size_t i = 0; i < x.nkw; i++) free(x.kwnames[i]);
    free(x.kwnames);
    store_folders_free(folders, nf);
    buf_free(&x.manifest);
    buf_free(&x.scratch);
    buf_free(&x.scratch2);
    return rc;
}

/* --- Import ------------------------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of a directory, sorted, without "." and "..". NULL after err. */
static char **list_dir(const char *dir, size_t *n, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return NULL;
    }
    char **names = NULL;
    size_t cap = 0;
    *n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            names = xrealloc(names, cap * sizeof *names);
        }
        names[(*n)++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (*n) qsort(names, *n, sizeof *names, name_cmp);
    if (!names) names = xcalloc(1, sizeof *names);
    return names;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* A maildir: a directory with cur/ or new/ (tmp/ is only for delivery). */
static int is_maildir(const char *p)
{
    buf b = BUF_INIT;
    buf_printf(&b, "%s/cur", p);
    int r = is_dir(buf_cstr(&b));
    buf_reset(&b);
    buf_printf(&b, "%s/new", p);
    r |= is_dir(buf_cstr(&b));
    buf_free(&b);
    return r;
}

/* DIR/REL...: every *.mbox below, folder = the unescaped relative path. */
static int import_mbox_tree(transfer_importer *imp, const char *dir, const char *folder_prefix,
                            int depth, char *err, size_t errlen)
{
    if (depth > IMAP_MAILBOX_DEPTH_MAX) {
        transfer_warn(imp->opts, "%s: nested too deep; ignored", dir);
        return 0;
    }
    size_t n;
    char **names = list_dir(dir, &n, err, errlen);
    if (!names) return -1;
    int rc = 0;
    buf path = BUF_INIT, folder = BUF_INIT;
    for (size_t i = 0; i < n && rc == 0; i++) {
        buf_reset(&path);
        buf_printf(&path, "%s/%s", dir, names[i]);
        buf_reset(&folder);
        buf_puts(&folder, folder_prefix);
        if (*folder_prefix) buf_putc(&folder, '/');
        size_t nl = strlen(names[i]);
        if (is_dir(buf_cstr(&path))) {
            transfer_path_unescape(names[i], nl, &folder);
            rc = import_mbox_tree(imp, buf_cstr(&path), buf_cstr(&folder), depth + 1, err, errlen);
        } else if (nl > 5 && !strcmp(names[i] + nl - 5, ".mbox")) {
            transfer_path_unescape(names[i], nl - 5, &folder);
            rc = transfer_mbox_read(imp, buf_cstr(&path), buf_cstr(&folder), err, errlen);
        } else {
            transfer_warn(imp->opts, "%s: not a *.mbox file; ignored", buf_cstr(&path));
        }
    }
    buf_free(&path);
    buf_free(&folder);
    free_names(names, n);
    return rc;
}

/* mbsync's "SubFolders Verbatim" and Dovecot's LAYOUT=fs: DIR/a/b/cur is folder
 * "a/b". Names beginning with '.' (Maildir++ folders, hidden files) and the
 * maildir's own cur/new/tmp are not folders here. */
static int import_maildir_verbatim(transfer_importer *imp, const char *dir, const char *prefix,
                                   int depth, int *any, char *err, size_t errlen)
{
    if (depth > IMAP_MAILBOX_DEPTH_MAX) return 0;
    size_t n;
    char **names = list_dir(dir, &n, err, errlen);
    if (!names) return -1;
    int rc = 0;
    buf path = BUF_INIT, folder = BUF_INIT;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *nm = names[i];
        if (nm[0] == '.' || !strcmp(nm, "cur") || !strcmp(nm, "new") || !strcmp(nm, "tmp"))
            continue;
        buf_reset(&path);
        buf_printf(&path, "%s/%s", dir, nm);
        if (!is_dir(buf_cstr(&path))) continue;
        buf_reset(&folder);
        if (*prefix) buf_printf(&folder, "%s/", prefix);
        transfer_path_unescape(nm, strlen(nm), &folder);
        if (is_maildir(buf_cstr(&path))) {
            *any = 1;
            rc = transfer_maildir_read(imp, buf_cstr(&path), buf_cstr(&folder), err, errlen);
        }
        if (rc == 0)
            rc = import_maildir_verbatim(imp, buf_cstr(&path), buf_cstr(&folder), depth + 1, any,
                                         err, errlen);
    }
    buf_free(&path);
    buf_free(&folder);
    free_names(names, n);
    return rc;
}

static int import_maildir(transfer_importer *imp, const char *in, char *err, size_t errlen)
{
    buf p = BUF_INIT, folder = BUF_INIT;
    int rc = -1, any = 0;
    size_t n = 0;
    char **names = NULL;
    if (is_maildir(in)) {
        any = 1;
        if (transfer_maildir_read(imp, in, "INBOX", err, errlen) < 0) goto out;
    }
    names = list_dir(in, &n, err, errlen);
    if (!names) goto out;
    for (size_t i = 0; i < n; i++) {
        if (names[i][0] != '.' || !names[i][1]) continue;
        buf_reset(&p);
        buf_printf(&p, "%s/%s", in, names[i]);
        if (!is_maildir(buf_cstr(&p))) continue;
        /* Maildir++: ".a.b" is "a/b"; "..a" is "INBOX/a" (mbsync writes INBOX's
         * children so). */
        buf_reset(&folder);
        const char *s = names[i] + 1;
        if (*s == '.') {
            buf_puts(&folder, "INBOX/");
            s++;
        }
        for (;;) {
            const char *dot = strchr(s, '.');
            size_t len = dot ? (size_t)(dot - s) : strlen(s);
            transfer_path_unescape(s, len, &folder);
            if (!dot) break;
            buf_putc(&folder, '/');
            s = dot + 1;
        }
        any = 1;
        if (transfer_maildir_read(imp, buf_cstr(&p), buf_cstr(&folder), err, errlen) < 0) goto out;
    }
    if (import_maildir_verbatim(imp, in, "", 0, &any, err, errlen) < 0) goto out;
    if (!any) {
        snprintf(err, errlen, "%s: not a Maildir (no cur/ or new/, no .Folder/cur, no Folder/cur)",
                 in);
        goto out;
    }
    rc = 0;
out:
    free_names(names, n);
    buf_free(&p);
    buf_free(&folder);
    return rc;
}

int transfer_import(store_mailbox *m, transfer_format fmt, const char *in,
                    const transfer_opts *opts, transfer_stats *stats, char *err, size_t errlen)
{
    memset(stats, 0, sizeof *stats);
    transfer_importer imp;
    memset(&imp, 0, sizeof imp);
    imp.m = m;
    imp.opts = opts;
    imp.stats = stats;
    int rc = -1;
    struct stat sb;
    if (stat(in, &sb) != 0) {
        snprintf(err, errlen, "%s: %s", in, strerror(errno));
        return -1;
    }
    if (fmt == TRANSFER_MBOX) {
        if (S_ISDIR(sb.st_mode)) rc = import_mbox_tree(&imp, in, "", 0, err, errlen);
        else rc = transfer_mbox_read(&imp, in, "INBOX", err, errlen);
    } else if (fmt == TRANSFER_MAILDIR) {
        if (!S_ISDIR(sb.st_mode)) snprintf(err, errlen, "%s: a Maildir is a directory", in);
        else rc = import_maildir(&imp, in, err, errlen);
    } else {
        snprintf(err, errlen, "import reads mbox or maildir");
    }
    if (rc == 0) rc = transfer_importer_flush(&imp, err, errlen);
    importer_free(&imp);
    return rc;
}
