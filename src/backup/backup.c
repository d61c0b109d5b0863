/*
 * backup.c — the backup pipeline, restore and purge (backup.h), the local
 * folder target, and the dispatch to the S3 target (backup_s3.c).
 *
 * THE PIPELINE (backup_run)
 *   store_snapshot into DATADIR/tmp/snap-<random>.db  ->  store_snapshot_verify
 *   (key + quick_check + content hash)  ->  SHA-256  ->  compare the content
 *   hash with the newest stored version's
 *   ->  upload as <id>/<UTC time>.db  ->  delete the oldest beyond `keep`  ->
 *   remove the snapshot. Any failure before the upload uploads nothing.
 *
 * LOCAL FOLDER TARGET
 *   <dir>/<id>/<version>.db (0600, folders 0700) and <version>.meta beside it
 *   ("sha256 <hex>\nstate <hex>\n"). A version is copied under a temporary
 *   name, fsynced and renamed into place (after its .meta), so a listed version
 *   is always whole.
 *
 * DIAGNOSTICS
 *   -1 with one sentence in err; progress and results are logged by mailbox id.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/config.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "util/log.h"
#include "store/store.h"
#include "store/store_backup.h"
#include "backup/backup.h"
#include "backup/backup_internal.h"

/* --- Configuration ------------------------------------------------------------------------ */

static void backup_env(char *dst, size_t cap, const char *name)
{
    const char *v = getenv(name);
    if (v && *v && strlen(v) < cap) snprintf(dst, cap, "%s", v);
}

int backup_config_load(const char *datadir, const char *target, backup_config *cfg,
                       char *err, size_t errlen)
{
    char path[4200];
    config *c = xcalloc(1, sizeof *c);
    memset(cfg, 0, sizeof *cfg);
    int rc = -1;
    config_defaults(c);
    snprintf(path, sizeof path, "%s/sealbox.conf", datadir);
    if (file_exists(path) && config_load(path, c, err, errlen) < 0) goto out;
    if (strlen(datadir) >= sizeof cfg->datadir) {
        snprintf(err, errlen, "data directory path too long");
        goto out;
    }
    snprintf(cfg->datadir, sizeof cfg->datadir, "%s", datadir);
    snprintf(cfg->target, sizeof cfg->target, "%s", c->backup_target);
    snprintf(cfg->s3_endpoint, sizeof cfg->s3_endpoint, "%s", c->s3_endpoint);
    snprintf(cfg->s3_region, sizeof cfg->s3_region, "%s", c->s3_region);
    snprintf(cfg->s3_access_key, sizeof cfg->s3_access_key, "%s", c->s3_access_key);
    snprintf(cfg->s3_secret_key, sizeof cfg->s3_secret_key, "%s", c->s3_secret_key);
    cfg->keep = c->backup_keep;
    cfg->daily = c->backup_daily;
    cfg->part_size = (size_t)c->s3_part_size;
    backup_env(cfg->target, sizeof cfg->target, "SEALBOX_BACKUP_TARGET");
    backup_env(cfg->s3_endpoint, sizeof cfg->s3_endpoint, "SEALBOX_S3_ENDPOINT");
    backup_env(cfg->s3_region, sizeof cfg->s3_region, "AWS_DEFAULT_REGION");
    backup_env(cfg->s3_region, sizeof cfg->s3_region, "AWS_REGION");
    backup_env(cfg->s3_access_key, sizeof cfg->s3_access_key, "AWS_ACCESS_KEY_ID");
    backup_env(cfg->s3_secret_key, sizeof cfg->s3_secret_key, "AWS_SECRET_ACCESS_KEY");
    if (target) {
        if (strlen(target) >= sizeof cfg->target) {
            snprintf(err, errlen, "--target: longer than %d characters", BACKUP_URL_MAX - 1);
            goto out;
        }
        snprintf(cfg->target, sizeof cfg->target, "%s", target);
    }
    if (!cfg->target[0]) {
        snprintf(err, errlen, "no backup target configured (backup_target in sealbox.conf)");
        goto out;
    }
    rc = 0;
out:
    sodium_memzero(c, sizeof *c);
    free(c);
    if (rc < 0) backup_config_clear(cfg);
    return rc;
}

void backup_config_clear(backup_config *cfg)
{
    sodium_memzero(cfg->s3_secret_key, sizeof cfg->s3_secret_key);
    sodium_memzero(cfg->s3_access_key, sizeof cfg->s3_access_key);
}

/* --- Small helpers ------------------------------------------------------------------------- */

int backup_version_valid(const char *v)
{
    /* YYYYMMDDTHHMMSS.mmmZ */
    static const char shape[] = "dddddddd" "T" "dddddd" "." "ddd" "Z";
    if (strlen(v) != sizeof shape - 1) return 0;
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)v[i]) : v[i] != shape[i]) return 0;
    }
    return 1;
}

static int backup_version_cmp(const void *a, const void *b)
{
    return strcmp(((const backup_version *)a)->version, ((const backup_version *)b)->version);
}

void backup_versions_sort(backup_version *v, size_t n)
{
    if (n > 1) qsort(v, n, sizeof *v, backup_version_cmp);
}

static int backup_id_valid(const char *id)
{
    if (!id || strlen(id) != STORE_MAILBOX_ID_LEN) return 0;
    for (const char *p = id; *p; p++)
        if (!isxdigit((unsigned char)*p)) return 0;
    return 1;
}

/* The version name for now; later than `after` (the newest stored) even when
 * the clock says otherwise, so names stay unique and ordered. */
static void backup_version_now(char out[BACKUP_VERSION_MAX], const char *after)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    for (int i = 0; i < 100000; i++) {
        struct tm tm;
        time_t t = tv.tv_sec;
        gmtime_r(&t, &tm);
        char base[24];
        strftime(base, sizeof base, "%Y%m%dT%H%M%S", &tm);
        snprintf(out, BACKUP_VERSION_MAX, "%s.%03dZ", base, (int)(tv.tv_usec / 1000));
        if (!after || strcmp(out, after) > 0) return;
        tv.tv_usec += 1000;
        if (tv.tv_usec >= 1000000) { tv.tv_usec -= 1000000; tv.tv_sec++; }
    }
}

int backup_sha256_file(const char *path, char hex[BACKUP_SHA256_HEX])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    unsigned char *chunk = xmalloc(1 << 16);
    int rc = -1;
    for (;;) {
        ssize_t n = read(fd, chunk, 1 << 16);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) goto out;
        if (n == 0) break;
        crypto_hash_sha256_update(&st, chunk, (unsigned long long)n);
    }
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(hex, BACKUP_SHA256_HEX, h, sizeof h);
    rc = 0;
out:
    free(chunk);
    close(fd);
    return rc;
}

int backup_tmpdir(const char *datadir, char *out, size_t outlen)
{
    if (snprintf(out, outlen, "%s/tmp", datadir) >= (int)outlen) return -1;
    if (mkdir(out, 0700) < 0 && errno != EEXIST) return -1;
    struct stat sb;
    if (stat(out, &sb) < 0 || !S_ISDIR(sb.st_mode)) return -1;
    return 0;
}

/* DATADIR/tmp/<what>-<random>.db; the file does not exist yet. */
static int backup_tmpfile(const char *datadir, const char *what, char *out, size_t outlen)
{
    char dir[4200], rnd[33];
    if (backup_tmpdir(datadir, dir, sizeof dir) < 0) return -1;
    random_hex_id(rnd, 16);
    return snprintf(out, outlen, "%s/%s-%s.db", dir, what, rnd) < (int)outlen ? 0 : -1;
}

/* --- Local folder target ------------------------------------------------------------------ */

static int local_path(const backup_target *t, const char *id, const char *version, const char *suffix,
                      char *out, size_t outlen)
{
    int n = version ? snprintf(out, outlen, "%s/%s/%s%s", t->dir, id, version, suffix)
                    : snprintf(out, outlen, "%s/%s", t->dir, id);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* Copies src to dst (created 0600 with O_EXCL), fsynced. */
static int local_copy(const char *src, const char *dst, char *err, size_t errlen)
{
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
    char *chunk = NULL;
    if (in < 0) {
        snprintf(err, errlen, "cannot read %s: %s", src, strerror(errno));
        return -1;
    }
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        snprintf(err, errlen, "cannot create %s: %s", dst, strerror(errno));
        goto done;
    }
    chunk = xmalloc(1 << 16);
    for (;;) {
        ssize_t n = read(in, chunk, 1 << 16);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { snprintf(err, errlen, "cannot read %s: %s", src, strerror(errno)); goto done; }
        if (n == 0) break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, chunk + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) { snprintf(err, errlen, "cannot write %s: %s", dst, strerror(errno)); goto done; }
            off += w;
        }
    }
    if (fsync(out) < 0) { snprintf(err, errlen, "cannot fsync %s: %s", dst, strerror(errno)); goto done; }
    rc = 0;
done:
    free(chunk);
    if (out >= 0) close(out);
    if (rc < 0 && out >= 0) unlink(dst);
    close(in);
    return rc;
}

/* Copies the 64 hex digits after `name` at a line start of `meta` into out. */
static void local_meta_field(const char *meta, const char *name, char out[BACKUP_SHA256_HEX])
{
    size_t nl = strlen(name);
    for (const char *l = meta; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, name, nl) != 0) continue;
        const char *v = l + nl;
        size_t k = 0;
        while (k < 64 && isxdigit((unsigned char)v[k])) k++;
        if (k == 64) {
            memcpy(out, v, 64);
            out[64] = '\0';
        }
        return;
    }
}

static int local_list(backup_target *t, const char *id, backup_version **out, size_t *n,
                      char *err, size_t errlen)
{
    char dir[4200];
    *out = NULL;
    *n = 0;
    if (local_path(t, id, NULL, "", dir, sizeof dir) < 0) {
        snprintf(err, errlen, "backup folder path too long");
        return -1;
    }
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "cannot read %s: %s", dir, strerror(errno));
        return -1;
    }
    backup_version *v = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 4 || strcmp(e->d_name + l - 3, ".db") != 0 || l - 3 >= BACKUP_VERSION_MAX) continue;
        char ver[BACKUP_VERSION_MAX];
        memcpy(ver, e->d_name, l - 3);
        ver[l - 3] = '\0';
        if (!backup_version_valid(ver)) continue;
        if (count >= BACKUP_VERSIONS_MAX) {
            snprintf(err, errlen, "more than %d versions in %s", BACKUP_VERSIONS_MAX, dir);
            closedir(d);
            free(v);
            return -1;
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            v = xrealloc(v, cap * sizeof *v);
        }
        backup_version *bv = &v[count++];
        memset(bv, 0, sizeof *bv);
        memcpy(bv->version, ver, l - 2);
        char p[4300];
        struct stat sb;
        if (local_path(t, id, ver, ".db", p, sizeof p) == 0 && stat(p, &sb) == 0) bv->size = (uint64_t)sb.st_size;
        char *meta = NULL;
        if (local_path(t, id, ver, ".meta", p, sizeof p) == 0 && file_read_all(p, &meta, NULL, 512) == 0) {
            local_meta_field(meta, "sha256 ", bv->sha256);
            local_meta_field(meta, "state ", bv->state);
            free(meta);
        }
    }
    closedir(d);
    backup_versions_sort(v, count);
    *out = v;
    *n = count;
    return 0;
}

static int local_put(backup_target *t, const char *id, const char *version, const char *path,
                     const char *sha256, const char *state, char *err, size_t errlen)
{
    char dir[4200], dst[4300], tmp[4400], shap[4300];
    if (local_path(t, id, NULL, "", dir, sizeof dir) < 0 ||
        local_path(t, id, version, ".db", dst, sizeof dst) < 0 ||
        local_path(t, id, version, ".meta", shap, sizeof shap) < 0 ||
        snprintf(tmp, sizeof tmp, "%s.part", dst) >= (int)sizeof tmp) {
        snprintf(err, errlen, "backup folder path too long");
        return -1;
    }
    if (mkdir_p(dir, 0700) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    unlink(tmp);
    if (local_copy(path, tmp, err, errlen) < 0) return -1;
    char line[200];
    snprintf(line, sizeof line, "sha256 %s\nstate %s\n", sha256, state);
    if (file_write_atomic(shap, line, strlen(line), 0600) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", shap, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, dst) < 0) {
        snprintf(err, errlen, "cannot rename into %s: %s", dst, strerror(errno));
        unlink(tmp);
        unlink(shap);
        return -1;
    }
    fsync_dir(dir);
    return 0;
}

static int local_get(backup_target *t, const char *id, const char *version, const char *path,
                     char *err, size_t errlen)
{
    char src[4300];
    if (local_path(t, id, version, ".db", src, sizeof src) < 0) {
        snprintf(err, errlen, "backup folder path too long");
        return -1;
    }
    if (!file_exists(src)) {
        snprintf(err, errlen, "no backup version %s", version);
        return -1;
    }
    return local_copy(src, path, err, errlen);
}

static int local_delete(backup_target *t, const char *id, const char *version, char *err, size_t errlen)
{
    char p[4300], dir[4200];
    if (local_path(t, id, version, ".db", p, sizeof p) < 0) {
        snprintf(err, errlen, "backup folder path too long");
        return -1;
    }
    if (unlink(p) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot remove %s: %s", p, strerror(errno));
        return -1;
    }
    if (local_path(t, id, version, ".meta", p, sizeof p) == 0) unlink(p);
    if (local_path(t, id, NULL, "", dir, sizeof dir) == 0) {
        rmdir(dir);                 /* only succeeds once the last version is gone */
        fsync_dir(t->dir);
    }
    return 0;
}

/* --- Targets --------------------------------------------------------------------------------- */

backup_target *backup_target_open(const backup_config *cfg, char *err, size_t errlen)
{
    backup_target *t = xcalloc(1, sizeof *t);
    const char *u = cfg->target;
    if (!strncmp(u, "s3://", 5)) {
        t->is_s3 = 1;
        t->s3 = backup_s3_open(cfg, err, errlen);
        if (!t->s3) goto fail;
        return t;
    }
    if (!strncmp(u, "file://", 7)) {
        u += 7;
        if (*u != '/') {
            snprintf(err, errlen, "backup target: a file:// URL needs an absolute path (file:///path)");
            goto fail;
        }
    } else if (strstr(u, "://")) {
        snprintf(err, errlen, "backup target: only s3:// and file:// are supported");
        goto fail;
    }
    int n = *u == '/' ? snprintf(t->dir, sizeof t->dir, "%s", u)
                      : snprintf(t->dir, sizeof t->dir, "%s/%s", cfg->datadir, u);
    if (n <= 0 || (size_t)n >= sizeof t->dir) {
        snprintf(err, errlen, "backup target: path too long");
        goto fail;
    }
    while (n > 1 && t->dir[n - 1] == '/') t->dir[--n] = '\0';
    return t;
fail:
    backup_target_close(t);
    return NULL;
}

void backup_target_close(backup_target *t)
{
    if (!t) return;
    backup_s3_close(t->s3);
    free(t);
}

int backup_target_is_s3(const backup_target *t)
{
    return t->is_s3;
}

int backup_target_list(backup_target *t, const char *mailbox_id, backup_version **out, size_t *n,
                       char *err, size_t errlen)
{
    if (!backup_id_valid(mailbox_id)) { snprintf(err, errlen, "invalid mailbox id"); return -1; }
    return t->is_s3 ? backup_s3_list(t->s3, mailbox_id, out, n, err, errlen)
                    : local_list(t, mailbox_id, out, n, err, errlen);
}

int backup_target_put(backup_target *t, const char *mailbox_id, const char *version,
                      const char *path, const char *sha256, const char *state,
                      char *err, size_t errlen)
{
    if (!backup_id_valid(mailbox_id) || !backup_version_valid(version)) {
        snprintf(err, errlen, "invalid mailbox id or version");
        return -1;
    }
    return t->is_s3 ? backup_s3_put(t->s3, mailbox_id, version, path, sha256, state, err, errlen)
                    : local_put(t, mailbox_id, version, path, sha256, state, err, errlen);
}

int backup_target_get(backup_target *t, const char *mailbox_id, const char *version,
                      uint64_t size, const char *path, char *err, size_t errlen)
{
    if (!backup_id_valid(mailbox_id) || !backup_version_valid(version)) {
        snprintf(err, errlen, "invalid mailbox id or version");
        return -1;
    }
    return t->is_s3 ? backup_s3_get(t->s3, mailbox_id, version, size, path, err, errlen)
                    : local_get(t, mailbox_id, version, path, err, errlen);
}

int backup_target_delete(backup_target *t, const char *mailbox_id, const char *version,
                         char *err, size_t errlen)
{
    if (!backup_id_valid(mailbox_id) || !backup_version_valid(version)) {
        snprintf(err, errlen, "invalid mailbox id or version");
        return -1;
    }
    return t->is_s3 ? backup_s3_delete(t->s3, mailbox_id, version, err, errlen)
                    : local_delete(t, mailbox_id, version, err, errlen);
}

/* --- Run, restore, purge ------------------------------------------------------------------------- */

int backup_run(const char *datadir, store_mailbox *m, const unsigned char key[STORE_KEY_LEN],
               const backup_config *cfg, backup_result *res, char *err, size_t errlen)
{
    const char *id = store_mailbox_id(m);
    char snap[4400];
    backup_target *t = NULL;
    backup_version *v = NULL;
    size_t nv = 0;
    int rc = -1, have_snap = 0;
    memset(res, 0, sizeof *res);

    t = backup_target_open(cfg, err, errlen);
    if (!t) goto out;
    if (backup_tmpfile(datadir, "snap", snap, sizeof snap) < 0) {
        snprintf(err, errlen, "cannot create %s/tmp: %s", datadir, strerror(errno));
        goto out;
    }
    log_info("backup", "mailbox %s: snapshot", id);
    store_snapshot_info info;
    store_status st = store_snapshot(m, snap, &info);
    if (st != STORE_OK) {
        snprintf(err, errlen, "the snapshot failed: %s", store_strerror(st));
        goto out;
    }
    have_snap = 1;
    res->size = info.size;
    res->lock_us = info.lock_us;
    res->snapshot_us = info.total_us;
    /* Never upload what does not open with the key or does not check out. */
    st = store_snapshot_verify(snap, id, key, 0, NULL, res->state);
    if (st != STORE_OK) {
        snprintf(err, errlen, "the snapshot did not verify (%s); nothing uploaded", store_strerror(st));
        goto out;
    }
    if (backup_sha256_file(snap, res->sha256) < 0) {
        snprintf(err, errlen, "cannot hash the snapshot: %s", strerror(errno));
        goto out;
    }
    if (backup_target_list(t, id, &v, &nv, err, errlen) < 0) goto out;
    if (nv > 0 && !strcmp(v[nv - 1].state, res->state)) {
        res->unchanged = 1;
        memcpy(res->version, v[nv - 1].version, sizeof res->version);
        memcpy(res->sha256, v[nv - 1].sha256, sizeof res->sha256);
        log_info("backup", "mailbox %s: unchanged since version %s", id, res->version);
        rc = 0;
        goto out;
    }
    backup_version_now(res->version, nv ? v[nv - 1].version : NULL);
    log_info("backup", "mailbox %s: uploading version %s (%llu octets)", id, res->version,
             (unsigned long long)res->size);
    if (backup_target_put(t, id, res->version, snap, res->sha256, res->state, err, errlen) < 0) goto out;
    log_info("backup", "mailbox %s: version %s stored (lock held %llu us)", id, res->version,
             (unsigned long long)res->lock_us);
    /* Keep the newest `keep`, the one just stored included. A failed delete
     * is logged and left for the next run: the backup itself succeeded. */
    size_t total = nv + 1, keep = cfg->keep > 0 ? (size_t)cfg->keep : BACKUP_KEEP_DEFAULT;
    for (size_t i = 0; total > keep && i < nv; i++, total--) {
        char derr[512];
        if (backup_target_delete(t, id, v[i].version, derr, sizeof derr) < 0) {
            log_warn("backup", "mailbox %s: removing old version %s: %s", id, v[i].version, derr);
            continue;
        }
        res->deleted++;
    }
    rc = 0;
out:
    if (rc < 0) log_info("backup", "mailbox %s: backup failed: %s", id, err);
    if (have_snap) unlink(snap);
    free(v);
    backup_target_close(t);
    return rc;
}

int backup_restore(const char *datadir, const char *mailbox_id, const unsigned char key[STORE_KEY_LEN],
                   const backup_config *cfg, const char *version, char *restored,
                   size_t restored_len, char *err, size_t errlen)
{
    char tmp[4400];
    backup_version *v = NULL;
    size_t nv = 0;
    int rc = -1, have_tmp = 0;
    backup_target *t = backup_target_open(cfg, err, errlen);
    if (!t) return -1;
    if (version && !backup_version_valid(version)) {
        snprintf(err, errlen, "'%s' is not a version name (see backup list)", version);
        goto out;
    }
    if (backup_target_list(t, mailbox_id, &v, &nv, err, errlen) < 0) goto out;
    const backup_version *pick = NULL;
    for (size_t i = 0; i < nv; i++)
        if (!version || !strcmp(v[i].version, version)) pick = &v[i];
    if (!pick) {
        snprintf(err, errlen, version ? "no backup version %s" : "no backup of this mailbox%s",
                 version ? version : "");
        goto out;
    }
    if (backup_tmpfile(datadir, "restore", tmp, sizeof tmp) < 0) {
        snprintf(err, errlen, "cannot create %s/tmp: %s", datadir, strerror(errno));
        goto out;
    }
    log_info("backup", "mailbox %s: downloading version %s", mailbox_id, pick->version);
    if (backup_target_get(t, mailbox_id, pick->version, pick->size, tmp, err, errlen) < 0) goto out;
    have_tmp = 1;
    char sha[BACKUP_SHA256_HEX];
    if (backup_sha256_file(tmp, sha) < 0) {
        snprintf(err, errlen, "cannot hash the download: %s", strerror(errno));
        goto out;
    }
    if (pick->sha256[0] && strcmp(pick->sha256, sha) != 0) {
        snprintf(err, errlen, "version %s is damaged (its SHA-256 differs from the stored one); "
                              "the mailbox was not touched", pick->version);
        goto out;
    }
    store_status st = store_snapshot_verify(tmp, mailbox_id, key, 1, NULL, NULL);
    if (st == STORE_BADKEY) {
        snprintf(err, errlen, "version %s does not open with this mailbox's key; the mailbox was "
                              "not touched", pick->version);
        goto out;
    }
    if (st != STORE_OK) {
        snprintf(err, errlen, "version %s failed the integrity check; the mailbox was not touched",
                 pick->version);
        goto out;
    }
    st = store_restore(datadir, mailbox_id, key, tmp);
    if (st != STORE_OK) {
        snprintf(err, errlen, "restoring version %s failed: %s", pick->version, store_strerror(st));
        goto out;
    }
    log_info("backup", "mailbox %s: restored version %s", mailbox_id, pick->version);
    if (restored) snprintf(restored, restored_len, "%s", pick->version);
    rc = 0;
out:
    if (rc < 0) log_info("backup", "mailbox %s: restore failed: %s", mailbox_id, err);
    if (have_tmp) unlink(tmp);
    free(v);
    backup_target_close(t);
    return rc;
}

int backup_purge(const backup_config *cfg, const char *mailbox_id, size_t *deleted,
                 char *err, size_t errlen)
{
    backup_version *v = NULL;
    size_t nv = 0;
    int rc = -1;
    *deleted = 0;
    backup_target *t = backup_target_open(cfg, err, errlen);
    if (!t) return -1;
    if (backup_target_list(t, mailbox_id, &v, &nv, err, errlen) < 0) goto out;
    for (size_t i = 0; i < nv; i++) {
        if (backup_target_delete(t, mailbox_id, v[i].version, err, errlen) < 0) goto out;
        (*deleted)++;
    }
    rc = 0;
out:
    free(v);
    backup_target_close(t);
    return rc;
}
