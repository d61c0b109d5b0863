/*
 * test_backup.c — snapshots, backups to a local folder target, versions,
 * restore and its refusals (store_backup.h, backup/backup.h).
 *
 * Every test gets a fresh data directory under /tmp with one mailbox and a fixed
 * key; the target is DIR/backups (the default). The S3 target is tested end to
 * end against a real S3 server (tests/e2e/test_backup.py).
 *
 * BACKUP_MEASURE=<MiB> in the environment adds a measurement (not an assertion,
 * DESIGN.md: timings are never asserted): how long the write lock is held while
 * a mailbox of that size is snapshotted.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "testutil.h"

#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/uidset.h"
#include "mailbox/msgflags.h"
#include "store/store.h"
#include "store/store_backup.h"
#include "backup/backup.h"

#define MBOX_ID "0123456789abcdef0123456789abcdef"
#define CANARY "CANARY-7f3e9a1c-backup-plaintext"

typedef struct fixture {
    char dir[64];
    unsigned char key[STORE_KEY_LEN];
    unsigned char seal[32];
    store_mailbox *m;
    backup_config cfg;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_backup.XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    for (int i = 0; i < STORE_KEY_LEN; i++) f->key[i] = (unsigned char)(i * 11 + 3);
    for (int i = 0; i < 32; i++) f->seal[i] = (unsigned char)(0x50 + i);
    if (store_create(f->dir, MBOX_ID, f->key, f->seal) != STORE_OK) return -1;
    if (store_open(f->dir, MBOX_ID, f->key, &f->m) != STORE_OK) return -1;
    char err[256];
    if (backup_config_load(f->dir, NULL, &f->cfg, err, sizeof err) != 0) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->m);
    rm_rf(f->dir);
    free(f);
    return 0;
}

static uint32_t append_text(store_mailbox *m, const char *body)
{
    buf b = BUF_INIT;
    buf_printf(&b, "From: a@example.org\r\nTo: b@example.org\r\nSubject: t\r\n\r\n%s\r\n", body);
    uint32_t uv = 0, uid = 0;
    assert_int_equal(store_append(m, "INBOX", 0, NULL, 0, 1700000000, 0, b.p, b.len, &uv, &uid), STORE_OK);
    buf_free(&b);
    return uid;
}

static uint32_t inbox_count(store_mailbox *m)
{
    store_folder f;
    assert_int_equal(store_folder_status(m, "INBOX", &f), STORE_OK);
    uint32_t n = f.messages;
    store_folder_clear(&f);
    return n;
}

static void snap_path(fixture *f, char *out, size_t outlen, const char *name)
{
    char tmp[128];
    assert_int_equal(backup_tmpdir(f->dir, tmp, sizeof tmp), 0);
    snprintf(out, outlen, "%s/%s.db", tmp, name);
}

/* Opens the file at `path` as a mailbox: copies it into a second data directory. */
static store_mailbox *open_copy(fixture *f, const char *path, char *dir2, size_t dlen)
{
    snprintf(dir2, dlen, "%s/copy", f->dir);
    char mb[256], dst[300];
    snprintf(mb, sizeof mb, "%s/mailboxes", dir2);
    assert_int_equal(mkdir_p(mb, 0700), 0);
    snprintf(dst, sizeof dst, "%s/%s.db", mb, MBOX_ID);
    char *data;
    size_t len;
    assert_int_equal(file_read_all(path, &data, &len, 1u << 30), 0);
    assert_int_equal(file_write_atomic(dst, data, len, 0600), 0);
    free(data);
    store_mailbox *m = NULL;
    assert_int_equal(store_open(dir2, MBOX_ID, f->key, &m), STORE_OK);
    return m;
}

/* --- Snapshots ------------------------------------------------------------------------ */

static void snapshot_holds_no_plaintext(void **state)
{
    fixture *f = *state;
    append_text(f->m, "the secret line " CANARY);
    /* The canary must also be in the WAL only (not yet checkpointed) for the
     * test to show that VACUUM INTO reads through the cipher. */
    char path[256];
    snap_path(f, path, sizeof path, "s1");
    store_snapshot_info info;
    assert_int_equal(store_snapshot(f->m, path, &info), STORE_OK);
    assert_true(info.size > 0);
    assert_int_equal(file_contains(path, CANARY), 0);
    assert_int_equal(file_contains(path, "SQLite format 3"), 0);
    assert_int_equal(file_contains(path, "INBOX"), 0);
    assert_int_equal(file_contains(path, "example.org"), 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* Nothing else was left in the temporary folder. */
    char tmp[128];
    assert_int_equal(backup_tmpdir(f->dir, tmp, sizeof tmp), 0);
    assert_int_equal(tree_contains(f->dir, CANARY), 0);
}

static void snapshot_opens_with_the_key_only(void **state)
{
    fixture *f = *state;
    append_text(f->m, "hello " CANARY);
    char path[256];
    snap_path(f, path, sizeof path, "s2");
    store_snapshot_info info;
    assert_int_equal(store_snapshot(f->m, path, &info), STORE_OK);
    buf report = BUF_INIT;
    assert_int_equal(store_snapshot_verify(path, MBOX_ID, f->key, 1, &report, NULL), STORE_OK);
    assert_string_equal(buf_cstr(&report), "ok\n");
    buf_free(&report);
    unsigned char bad[STORE_KEY_LEN];
    memcpy(bad, f->key, sizeof bad);
    bad[0] ^= 0x80;
    assert_int_equal(store_snapshot_verify(path, MBOX_ID, bad, 0, NULL, NULL), STORE_BADKEY);
    /* And it holds the message, byte for byte. */
    char dir2[128];
    store_mailbox *c = open_copy(f, path, dir2, sizeof dir2);
    store_folder fo;
    assert_int_equal(store_folder_status(c, "INBOX", &fo), STORE_OK);
    assert_int_equal(fo.messages, 1);
    store_msg msg;
    assert_int_equal(store_fetch(c, fo.id, 1, STORE_FETCH_RAW, &msg), STORE_OK);
    assert_non_null(strstr(msg.raw, "hello " CANARY "\r\n"));
    store_msg_clear(&msg);
    store_folder_clear(&fo);
    store_close(c);
}

static void snapshot_refuses_an_existing_path(void **state)
{
    fixture *f = *state;
    char path[256];
    snap_path(f, path, sizeof path, "s3");
    assert_int_equal(file_write_atomic(path, "x", 1, 0600), 0);
    store_snapshot_info info;
    assert_int_equal(store_snapshot(f->m, path, &info), STORE_ERROR);
    /* The file that was there is not ours to remove. */
    assert_true(file_exists(path));
}

static void content_hash_is_equal_for_equal_content_only(void **state)
{
    fixture *f = *state;
    append_text(f->m, "one");
    char p1[256], p2[256], p3[256];
    char s1[STORE_STATE_HEX], s2[STORE_STATE_HEX], s3[STORE_STATE_HEX], h1[BACKUP_SHA256_HEX], h2[BACKUP_SHA256_HEX];
    store_snapshot_info info;
    snap_path(f, p1, sizeof p1, "h1");
    snap_path(f, p2, sizeof p2, "h2");
    snap_path(f, p3, sizeof p3, "h3");
    assert_int_equal(store_snapshot(f->m, p1, &info), STORE_OK);
    assert_int_equal(store_snapshot(f->m, p2, &info), STORE_OK);
    /* Fresh nonces per page: the files differ although nothing changed ... */
    assert_int_equal(backup_sha256_file(p1, h1), 0);
    assert_int_equal(backup_sha256_file(p2, h2), 0);
    assert_string_not_equal(h1, h2);
    /* ... and the content hash does not. */
    assert_int_equal(store_snapshot_verify(p1, MBOX_ID, f->key, 0, NULL, s1), STORE_OK);
    assert_int_equal(store_snapshot_verify(p2, MBOX_ID, f->key, 0, NULL, s2), STORE_OK);
    assert_int_equal(strlen(s1), 64);
    assert_string_equal(s1, s2);
    /* A flag change is a change. */
    int64_t inbox;
    store_folder fo;
    assert_int_equal(store_folder_status(f->m, "INBOX", &fo), STORE_OK);
    inbox = fo.id;
    store_folder_clear(&fo);
    uidset one = UIDSET_INIT;
    uidset_add(&one, 1);
    store_msgflags *changed = NULL;
    size_t nchanged = 0;
    assert_int_equal(store_flags(f->m, inbox, &one, STORE_FLAGS_ADD, MSG_FLAG_SEEN, NULL, 0, &changed,
                                 &nchanged), STORE_OK);
    assert_int_equal(nchanged, 1);
    free(changed);
    uidset_free(&one);
    assert_int_equal(store_snapshot(f->m, p3, &info), STORE_OK);
    assert_int_equal(store_snapshot_verify(p3, MBOX_ID, f->key, 0, NULL, s3), STORE_OK);
    assert_string_not_equal(s1, s3);
}

static void sha256_of_a_file_is_the_standard_one(void **state)
{
    fixture *f = *state;
    char path[256], hex[BACKUP_SHA256_HEX];
    snprintf(path, sizeof path, "%s/abc", f->dir);
    assert_int_equal(file_write_atomic(path, "abc", 3, 0600), 0);
    assert_int_equal(backup_sha256_file(path, hex), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* --- Backups to a folder ------------------------------------------------------------------ */

static backup_version *list_versions(fixture *f, size_t *n)
{
    char err[256];
    backup_target *t = backup_target_open(&f->cfg, err, sizeof err);
    assert_non_null(t);
    assert_int_equal(backup_target_is_s3(t), 0);
    backup_version *v = NULL;
    assert_int_equal(backup_target_list(t, MBOX_ID, &v, n, err, sizeof err), 0);
    backup_target_close(t);
    return v;
}

static void unchanged_mailbox_is_not_stored_twice(void **state)
{
    fixture *f = *state;
    append_text(f->m, "one");
    backup_result r1, r2;
    char err[256];
    assert_int_equal(backup_run(f->dir, f->m, f->key, &f->cfg, &r1, err, sizeof err), 0);
    assert_int_equal(r1.unchanged, 0);
    assert_int_equal(strlen(r1.sha256), 64);
    assert_int_equal(backup_run(f->dir, f->m, f->key, &f->cfg, &r2, err, sizeof err), 0);
    assert_int_equal(r2.unchanged, 1);
    assert_string_equal(r2.version, r1.version);
    assert_string_equal(r2.sha256, r1.sha256);
    assert_int_equal(strlen(r1.state), 64);
    assert_string_equal(r2.state, r1.state);
    size_t n;
    backup_version *v = list_versions(f, &n);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].version, r1.version);
    assert_string_equal(v[0].sha256, r1.sha256);
    assert_int_equal(v[0].size, r1.size);
    free(v);
    /* The stored file is the snapshot: its hash is the one recorded; the folder
     * is named by the mailbox id, and no snapshot is left in DIR/tmp. */
    char p[256], hex[BACKUP_SHA256_HEX];
    snprintf(p, sizeof p, "%s/backups/%s/%s.db", f->dir, MBOX_ID, r1.version);
    assert_int_equal(backup_sha256_file(p, hex), 0);
    assert_string_equal(hex, r1.sha256);
    snprintf(p, sizeof p, "%s/tmp", f->dir);
    assert_int_equal(tree_contains(p, ""), 0);
}

static void only_the_newest_versions_are_kept(void **state)
{
    fixture *f = *state;
    f->cfg.keep = 3;
    char made[5][BACKUP_VERSION_MAX];
    for (int i = 0; i < 5; i++) {
        char body[32], err[256];
        snprintf(body, sizeof body, "message %d", i);
        append_text(f->m, body);
        backup_result r;
        assert_int_equal(backup_run(f->dir, f->m, f->key, &f->cfg, &r, err, sizeof err), 0);
        assert_int_equal(r.unchanged, 0);
        assert_int_equal(r.deleted, i >= 3 ? 1 : 0);
        memcpy(made[i], r.version, sizeof made[i]);
        if (i) assert_true(strcmp(made[i], made[i - 1]) > 0);
    }
    size_t n;
    backup_version *v = list_versions(f, &n);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) assert_string_equal(v[i].version, made[i + 2]);
    free(v);
}

/* --- Restore ------------------------------------------------------------------------------- */

static void restore_brings_back_the_version_under_an_open_handle(void **state)
{
    fixture *f = *state;
    append_text(f->m, "kept");
    backup_result r;
    char err[256], restored[BACKUP_VERSION_MAX];
    assert_int_equal(backup_run(f->dir, f->m, f->key, &f->cfg, &r, err, sizeof err), 0);
    append_text(f->m, "after the backup");
    append_text(f->m, "after the backup too");
    assert_int_equal(inbox_count(f->m), 3);
    uint64_t gen0, gen1;
    assert_int_equal(store_generation(f->m, &gen0), STORE_OK);
    assert_int_equal(gen0, 1);

    /* f->m stays open, as a session of sealboxd would. */
    assert_int_equal(backup_restore(f->dir, MBOX_ID, f->key, &f->cfg, NULL, restored, sizeof restored,
                                    err, sizeof err), 0);
    assert_string_equal(restored, r.version);
    assert_int_equal(inbox_count(f->m), 1);
    assert_int_equal(store_generation(f->m, &gen1), STORE_OK);
    assert_true(gen1 != gen0 && gen1 > 1);
    /* The open handle writes on into the restored file. */
    append_text(f->m, "written after the restore");
    assert_int_equal(inbox_count(f->m), 2);
    buf report = BUF_INIT;
    assert_int_equal(store_check(f->m, &report), STORE_OK);
    assert_string_equal(buf_cstr(&report), "ok\n");
    buf_free(&report);
    /* A fresh handle sees the same. */
    store_mailbox *m2 = NULL;
    assert_int_equal(store_open(f->dir, MBOX_ID, f->key, &m2), STORE_OK);
    assert_int_equal(inbox_count(m2), 2);
    store_close(m2);
}

static void restore_of_a_named_version(void **state)
{
    fixture *f = *state;
    char err[256], restored[BACKUP_VERSION_MAX];
    backup_result r1, r2;
    append_text(f->m, "one");
    assert_int_equal(backup_run(f->dir, f->m, f->key, &f->cfg, &r1, err, sizeof err), 0);
    append_text(f->m, "two");
    assert_int_equal(backup_run(f->dir, f->m, f->key, &f->cfg, &r2, err, sizeof err), 0);
    assert_int_equal(backup_restore(f->dir, MBOX_ID, f->key, &f->cfg, r1.version, restored,
                                    sizeof restored, err, sizeof err), 0);
    assert_string_equal(restored, r1.version);
    assert_int_equal(inbox_count(f->m), 1);
    assert_int_equal(backup_restore(f->dir, MBOX_ID, f->key, &f->cfg, "20000101T000000.000Z", restored,
                                    sizeof restored, err, sizeof err), -1);
    assert_non_null(strstr(err, "no backup version"));
    assert_int_equal(inbox_count(f->m), 1);
}

/* Stores a backup, then damages the stored file with `damage` (and, with
 * fix_hash, records the damaged file's hash so only the integrity check can
 * tell). The restore must fail and leave the live mailbox as it was. */
static void restore_refused(fixture *f, int truncate_it, int fix_hash, const char *expect)
{
    append_text(f->m, "one");
    backup_result r;
    char err[256], restored[BACKUP_VERSION_MAX] = "";
    assert_int_equal(backup_run(f->dir, f->m, f->key, &f->cfg, &r, err, sizeof err), 0);
    append_text(f->m, "two");
    char p[256];
    snprintf(p, sizeof p, "%s/backups/%s/%s.db", f->dir, MBOX_ID, r.version);
    char *data;
    size_t len;
    assert_int_equal(file_read_all(p, &data, &len, 1u << 30), 0);
    assert_true(len > 8192);
    if (truncate_it) len = len / 2 + 100;
    else data[len - 2000] ^= 0x5a;           /* one byte inside the last page */
    assert_int_equal(file_write_atomic(p, data, len, 0600), 0);
    free(data);
    if (fix_hash) {
        char hex[BACKUP_SHA256_HEX], sp[256], line[200];
        assert_int_equal(backup_sha256_file(p, hex), 0);
        snprintf(sp, sizeof sp, "%s/backups/%s/%s.meta", f->dir, MBOX_ID, r.version);
        snprintf(line, sizeof line, "sha256 %s\nstate %s\n", hex, r.state);
        assert_int_equal(file_write_atomic(sp, line, strlen(line), 0600), 0);
    }
    assert_int_equal(backup_restore(f->dir, MBOX_ID, f->key, &f->cfg, NULL, restored, sizeof restored,
                                    err, sizeof err), -1);
    assert_non_null(strstr(err, expect));
    assert_non_null(strstr(err, "not touched"));
    assert_int_equal(inbox_count(f->m), 2);
    uint64_t gen;
    assert_int_equal(store_generation(f->m, &gen), STORE_OK);
    assert_int_equal(gen, 1);
    snprintf(p, sizeof p, "%s/tmp", f->dir);
    assert_int_equal(tree_contains(p, ""), 0);
}

static void restore_of_a_damaged_version_is_refused(void **state)
{
    restore_refused(*state, 0, 0, "damaged");
}

static void restore_of_a_truncated_version_is_refused(void **state)
{
    restore_refused(*state, 1, 1, "integrity check");
}

static void restore_of_a_corrupted_page_is_refused(void **state)
{
    restore_refused(*state, 0, 1, "integrity check");
}

static void restore_with_a_wrong_key_is_refused(void **state)
{
    fixture *f = *state;
    append_text(f->m, "one");
    backup_result r;
    char err[256], restored[BACKUP_VERSION_MAX];
    assert_int_equal(backup_run(f->dir, f->m, f->key, &f->cfg, &r, err, sizeof err), 0);
    unsigned char bad[STORE_KEY_LEN];
    memcpy(bad, f->key, sizeof bad);
    bad[5] ^= 1;
    assert_int_equal(backup_restore(f->dir, MBOX_ID, bad, &f->cfg, NULL, restored, sizeof restored,
                                    err, sizeof err), -1);
    assert_non_null(strstr(err, "does not open"));
    assert_int_equal(inbox_count(f->m), 1);
}

static void purge_removes_every_version(void **state)
{
    fixture *f = *state;
    char err[256];
    backup_result r;
    for (int i = 0; i < 3; i++) {
        append_text(f->m, "x");
        assert_int_equal(backup_run(f->dir, f->m, f->key, &f->cfg, &r, err, sizeof err), 0);
    }
    size_t deleted = 0, n;
    assert_int_equal(backup_purge(&f->cfg, MBOX_ID, &deleted, err, sizeof err), 0);
    assert_int_equal(deleted, 3);
    backup_version *v = list_versions(f, &n);
    assert_int_equal(n, 0);
    free(v);
    char p[256];
    snprintf(p, sizeof p, "%s/backups/%s", f->dir, MBOX_ID);
    assert_false(file_exists(p));
}

static void target_urls_are_checked(void **state)
{
    fixture *f = *state;
    char err[256];
    backup_config c = f->cfg;
    snprintf(c.target, sizeof c.target, "ftp://host/x");
    assert_null(backup_target_open(&c, err, sizeof err));
    assert_non_null(strstr(err, "s3:// and file://"));
    snprintf(c.target, sizeof c.target, "file://relative");
    assert_null(backup_target_open(&c, err, sizeof err));
    snprintf(c.target, sizeof c.target, "s3://Bad_Bucket/x");
    assert_null(backup_target_open(&c, err, sizeof err));
    assert_non_null(strstr(err, "bucket"));
    snprintf(c.target, sizeof c.target, "s3://bucket/a b");
    assert_null(backup_target_open(&c, err, sizeof err));
    snprintf(c.target, sizeof c.target, "s3://bucket/pre");
    c.s3_access_key[0] = '\0';
    assert_null(backup_target_open(&c, err, sizeof err));
    assert_non_null(strstr(err, "credentials"));
    snprintf(c.target, sizeof c.target, "file://%s/elsewhere", f->dir);
    backup_target *t = backup_target_open(&c, err, sizeof err);
    assert_non_null(t);
    backup_target_close(t);
}

/* --- Snapshots while another handle appends ----------------------------------------------- */

typedef struct appender {
    fixture *f;
    volatile int stop;
    int appended, failed;
} appender;

/* Message i: its body names i and its own length, so a torn copy shows. */
static void numbered_message(buf *b, int i)
{
    buf_reset(b);
    size_t lines = 20 + (size_t)(i % 50) * 10;
    buf_printf(b, "From: a@example.org\r\nSubject: n%d\r\nX-Lines: %zu\r\n\r\n", i, lines);
    for (size_t k = 0; k < lines; k++) buf_printf(b, "message %d line %zu ........................\r\n", i, k);
    buf_printf(b, "end of message %d\r\n", i);
}

static void *append_loop(void *arg)
{
    appender *a = arg;
    store_mailbox *m = NULL;
    if (store_open(a->f->dir, MBOX_ID, a->f->key, &m) != STORE_OK) { a->failed++; return NULL; }
    buf b = BUF_INIT;
    while (!a->stop) {
        numbered_message(&b, a->appended);
        uint32_t uv, uid;
        if (store_append(m, "INBOX", 0, NULL, 0, 1700000000, 0, b.p, b.len, &uv, &uid) != STORE_OK) a->failed++;
        else a->appended++;
    }
    buf_free(&b);
    store_close(m);
    return NULL;
}

static void snapshot_while_appending_is_consistent(void **state)
{
    fixture *f = *state;
    appender a = { .f = f };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, append_loop, &a), 0);
    while (a.appended < 20) usleep(1000);
    char paths[3][256];
    for (int s = 0; s < 3; s++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", s);
        snap_path(f, paths[s], sizeof paths[s], name);
        store_snapshot_info info;
        assert_int_equal(store_snapshot(f->m, paths[s], &info), STORE_OK);
        usleep(20000);
    }
    a.stop = 1;
    pthread_join(th, NULL);
    assert_int_equal(a.failed, 0);
    assert_true(a.appended >= 20);

    buf want = BUF_INIT;
    uint32_t last = 0;
    for (int s = 0; s < 3; s++) {
        assert_int_equal(store_snapshot_verify(paths[s], MBOX_ID, f->key, 1, NULL, NULL), STORE_OK);
        char dir2[128];
        store_mailbox *c = open_copy(f, paths[s], dir2, sizeof dir2);
        store_folder fo;
        assert_int_equal(store_folder_status(c, "INBOX", &fo), STORE_OK);
        /* Every message of the snapshot whole, uids 1..n without a gap. */
        assert_true(fo.messages >= last);
        for (uint32_t uid = 1; uid <= fo.messages; uid++) {
            store_msg msg;
            assert_int_equal(store_fetch(c, fo.id, uid, STORE_FETCH_RAW, &msg), STORE_OK);
            numbered_message(&want, (int)uid - 1);
            assert_int_equal(msg.raw_len, want.len);
            assert_memory_equal(msg.raw, want.p, want.len);
            store_msg_clear(&msg);
        }
        last = fo.messages;
        store_folder_clear(&fo);
        store_close(c);
        char mb[200];
        snprintf(mb, sizeof mb, "%s/copy", f->dir);
        rm_rf(mb);
    }
    buf_free(&want);
    assert_int_equal(inbox_count(f->m), (uint32_t)a.appended);
}

/* --- Measurement ------------------------------------------------------------------------------- */

static void measure_lock_time(void **state)
{
    fixture *f = *state;
    const char *mib = getenv("BACKUP_MEASURE");
    if (!mib || atoi(mib) <= 0) skip();
    size_t target = (size_t)atoi(mib) << 20, total = 0;
    /* Random bytes as base64 lines: incompressible, as real attachments are. */
    unsigned char raw[48];
    char line[80];
    buf b = BUF_INIT;
    while (total < target) {
        buf_reset(&b);
        buf_puts(&b, "From: a@example.org\r\nSubject: big\r\n\r\n");
        for (int k = 0; k < 16384; k++) {
            randombytes_buf(raw, sizeof raw);
            sodium_bin2base64(line, sizeof line, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
            buf_printf(&b, "%s\r\n", line);
        }
        uint32_t uv, uid;
        assert_int_equal(store_append(f->m, "INBOX", 0, NULL, 0, 1700000000, 0, b.p, b.len, &uv, &uid),
                         STORE_OK);
        total += b.len;
    }
    buf_free(&b);
    appender a = { .f = f };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, append_loop, &a), 0);
    while (a.appended < 5) usleep(1000);
    char path[256];
    snap_path(f, path, sizeof path, "m");
    store_snapshot_info info;
    int before = a.appended;
    assert_int_equal(store_snapshot(f->m, path, &info), STORE_OK);
    int during = a.appended - before;
    a.stop = 1;
    pthread_join(th, NULL);
    printf("# snapshot of %.1f MiB: waited %llu us for the write lock, held it %llu us, whole "
           "snapshot %llu ms, %d appends by another handle completed meanwhile\n",
           (double)info.size / 1048576.0, (unsigned long long)info.lock_wait_us,
           (unsigned long long)info.lock_us,
           (unsigned long long)(info.total_us / 1000), during);
}

int main(void)
{
    log_set_level(LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(snapshot_holds_no_plaintext, setup, teardown),
        cmocka_unit_test_setup_teardown(snapshot_opens_with_the_key_only, setup, teardown),
        cmocka_unit_test_setup_teardown(snapshot_refuses_an_existing_path, setup, teardown),
        cmocka_unit_test_setup_teardown(content_hash_is_equal_for_equal_content_only, setup, teardown),
        cmocka_unit_test_setup_teardown(sha256_of_a_file_is_the_standard_one, setup, teardown),
        cmocka_unit_test_setup_teardown(unchanged_mailbox_is_not_stored_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(only_the_newest_versions_are_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(restore_brings_back_the_version_under_an_open_handle, setup, teardown),
        cmocka_unit_test_setup_teardown(restore_of_a_named_version, setup, teardown),
        cmocka_unit_test_setup_teardown(restore_of_a_damaged_version_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(restore_of_a_truncated_version_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(restore_of_a_corrupted_page_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(restore_with_a_wrong_key_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(purge_removes_every_version, setup, teardown),
        cmocka_unit_test_setup_teardown(target_urls_are_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(snapshot_while_appending_is_consistent, setup, teardown),
        cmocka_unit_test_setup_teardown(measure_lock_time, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
