/*
 * test_spool.c — the sealed spool (delivery/spool.c) and its drain into INBOX
 * (delivery_spool_drain_key, store_append_once): order, ids that never come
 * back, wrong keys, tampered blobs, a canary that never reaches the disk or
 * the server key's view, drains that import once, and a crash between the
 * mailbox commit and the spool delete simulated by restoring the spool file.
 *
 * Each test gets a fresh temporary data directory with one mailbox file made
 * by store_create (random data key and X25519 pair) and a random server key.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include <sodium.h>

#include "util/buf.h"
#include "util/fsutil.h"
#include "crypto/seal.h"
#include "crypto/secmem.h"
#include "store/store.h"
#include "delivery/delivery.h"
#include "delivery/spool.h"

#define MBOX_ID "0123456789abcdef0123456789abcdef"

typedef struct fixture {
    char dir[64];
    unsigned char server_key[32];
    unsigned char data_key[32];
    unsigned char pk[SEAL_PUBLIC_LEN], sk[SEAL_SECRET_LEN];
    store_mailbox *m;
} fixture;


static int setup(void **state)
{
    crypto_init();
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_spool.XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    randombytes_buf(f->server_key, sizeof f->server_key);
    randombytes_buf(f->data_key, sizeof f->data_key);
    seal_keypair(f->pk, f->sk);
    if (store_create(f->dir, MBOX_ID, f->data_key, f->sk) != STORE_OK) return -1;
    if (store_open(f->dir, MBOX_ID, f->data_key, &f->m) != STORE_OK) return -1;
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

/* Seals `msg` to the fixture's key pair and appends it; returns the id. */
static int64_t spool_msg(fixture *f, const char *msg, int64_t received)
{
    spool *sp = NULL;
    assert_int_equal(spool_open(f->dir, MBOX_ID, f->server_key, 1, &sp), SPOOL_OK);
    size_t len = strlen(msg);
    unsigned char *blob = malloc(len + SEAL_OVERHEAD);
    assert_int_equal(seal_seal(f->pk, msg, len, blob), 0);
    int64_t id = 0;
    assert_int_equal(spool_append(sp, received, blob, len + SEAL_OVERHEAD, &id), SPOOL_OK);
    free(blob);
    spool_close(sp);
    return id;
}

static size_t spool_entries(fixture *f)
{
    spool *sp = NULL;
    assert_int_equal(spool_open(f->dir, MBOX_ID, f->server_key, 0, &sp), SPOOL_OK);
    size_t n = 0;
    assert_int_equal(spool_count(sp, &n), SPOOL_OK);
    spool_close(sp);
    return n;
}

static uint32_t inbox_count(fixture *f)
{
    store_folder st;
    assert_int_equal(store_folder_status(f->m, "INBOX", &st), STORE_OK);
    uint32_t n = st.messages;
    store_folder_clear(&st);
    return n;
}

/* The raw bytes and internaldate of INBOX message `uid`. */
static void inbox_fetch(fixture *f, uint32_t uid, store_msg *out)
{
    store_view v;
    assert_int_equal(store_select(f->m, "INBOX", 0, &v), STORE_OK);
    int64_t folder = v.folder_id;
    store_view_clear(&v);
    assert_int_equal(store_fetch(f->m, folder, uid, STORE_FETCH_RAW, out), STORE_OK);
}


/* Files under `dir` whose bytes contain `needle`. */

/* --- The spool file ----------------------------------------------------------------- */

static void spool_keeps_entries_in_order_and_never_reuses_an_id(void **state)
{
    fixture *f = *state;
    spool *sp = NULL;
    assert_int_equal(spool_open(f->dir, MBOX_ID, f->server_key, 0, &sp), SPOOL_NOTFOUND);
    assert_null(sp);
    assert_int_equal(spool_open(f->dir, MBOX_ID, f->server_key, 1, &sp), SPOOL_OK);
    int64_t a, b, c;
    assert_int_equal(spool_append(sp, 100, (const unsigned char *)"aaaa", 4, &a), SPOOL_OK);
    assert_int_equal(spool_append(sp, 200, (const unsigned char *)"bb", 2, &b), SPOOL_OK);
    assert_true(b > a);
    spool_entry e;
    assert_int_equal(spool_next(sp, 0, &e), SPOOL_OK);
    assert_int_equal(e.id, a);
    assert_int_equal(e.received, 100);
    assert_int_equal(e.len, 4);
    assert_memory_equal(e.blob, "aaaa", 4);
    spool_entry_clear(&e);
    assert_int_equal(spool_next(sp, a, &e), SPOOL_OK);
    assert_int_equal(e.id, b);
    spool_entry_clear(&e);
    assert_int_equal(spool_next(sp, b, &e), SPOOL_NOTFOUND);
    /* Deleting the highest id must not let it come back (AUTOINCREMENT). */
    assert_int_equal(spool_delete(sp, b), SPOOL_OK);
    assert_int_equal(spool_delete(sp, b), SPOOL_OK);
    assert_int_equal(spool_append(sp, 300, (const unsigned char *)"c", 1, &c), SPOOL_OK);
    assert_true(c > b);
    size_t n;
    assert_int_equal(spool_count(sp, &n), SPOOL_OK);
    assert_int_equal(n, 2);
    char o1[SPOOL_ORIGIN_MAX], o2[SPOOL_ORIGIN_MAX];
    spool_origin(sp, c, o1);
    assert_int_equal(strncmp(o1, "spool:", 6), 0);
    assert_int_equal(strlen(o1), 6 + 32 + 1 + strlen("3"));
    spool_close(sp);

    /* Reopened: same uid, so the same origin for the same id. */
    assert_int_equal(spool_open(f->dir, MBOX_ID, f->server_key, 0, &sp), SPOOL_OK);
    spool_origin(sp, c, o2);
    assert_string_equal(o1, o2);
    spool_close(sp);

    /* The file is private and named by the mailbox id only. */
    char path[256];
    assert_int_equal(spool_path(path, sizeof path, f->dir, MBOX_ID), 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/spool", f->dir);
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
}

static void spool_refuses_a_wrong_key_and_a_bad_id(void **state)
{
    fixture *f = *state;
    spool_msg(f, "x", 1);
    unsigned char other[32];
    memcpy(other, f->server_key, 32);
    other[0] ^= 1;
    spool *sp = NULL;
    assert_int_equal(spool_open(f->dir, MBOX_ID, other, 0, &sp), SPOOL_BADKEY);
    assert_null(sp);
    assert_int_equal(spool_open(f->dir, "../../etc/passwd", f->server_key, 1, &sp), SPOOL_ERROR);
    assert_int_equal(spool_open(f->dir, "0123456789ABCDEF0123456789abcdef", f->server_key, 1, &sp), SPOOL_ERROR);
}

static void a_new_spool_file_gets_a_new_uid(void **state)
{
    fixture *f = *state;
    int64_t id = spool_msg(f, "x", 1);
    spool *sp = NULL;
    char o1[SPOOL_ORIGIN_MAX], o2[SPOOL_ORIGIN_MAX];
    assert_int_equal(spool_open(f->dir, MBOX_ID, f->server_key, 0, &sp), SPOOL_OK);
    spool_origin(sp, id, o1);
    spool_close(sp);
    char path[256];
    spool_path(path, sizeof path, f->dir, MBOX_ID);
    unlink(path);
    int64_t id2 = spool_msg(f, "y", 2);
    assert_int_equal(id2, id);    /* the id restarts with the file ... */
    assert_int_equal(spool_open(f->dir, MBOX_ID, f->server_key, 0, &sp), SPOOL_OK);
    spool_origin(sp, id2, o2);
    spool_close(sp);
    assert_string_not_equal(o1, o2);   /* ... the origin does not */
}

/* --- store_append_once ------------------------------------------------------------------ */

static void append_once_records_the_origin_with_the_message(void **state)
{
    fixture *f = *state;
    const char msg[] = "Subject: once\r\n\r\nbody\r\n";
    uint32_t uidv = 0, uid = 0;
    assert_int_equal(store_append_once(f->m, "INBOX", 0, NULL, 0, 1000, msg, sizeof msg - 1, "spool:x:1", &uidv, &uid),
                     STORE_OK);
    assert_int_equal(uid, 1);
    assert_true(uidv > 0);
    assert_int_equal(store_append_once(f->m, "inbox", 0, NULL, 0, 1000, msg, sizeof msg - 1, "spool:x:1", &uidv, &uid),
                     STORE_EXISTS);
    assert_int_equal(uid, 0);
    assert_int_equal(store_append_once(f->m, "INBOX", 0, NULL, 0, 1000, msg, sizeof msg - 1, "spool:x:2", NULL, NULL),
                     STORE_OK);
    assert_int_equal(inbox_count(f), 2);
    assert_int_equal(store_append_once(f->m, "INBOX", 0, NULL, 0, 1000, msg, sizeof msg - 1, "", NULL, NULL),
                     STORE_INVALID);
    /* A failed append records nothing: the origin stays free. */
    assert_int_equal(store_append_once(f->m, "NoSuchFolder", 0, NULL, 0, 1000, msg, sizeof msg - 1, "spool:x:3", NULL, NULL),
                     STORE_NOTFOUND);
    assert_int_equal(store_append_once(f->m, "INBOX", 0, NULL, 0, 1000, msg, sizeof msg - 1, "spool:x:3", NULL, NULL),
                     STORE_OK);
    assert_int_equal(inbox_count(f), 3);
}

/* --- Drain -------------------------------------------------------------------------------- */

static void sealed_message_is_drained_into_inbox_byte_for_byte(void **state)
{
    fixture *f = *state;
    const char m1[] = "Subject: first\r\n\r\nfirst body\r\n";
    const char m2[] = "Subject: second\r\n\r\nsecond body\r\n";
    spool_msg(f, m1, 1700000000);
    spool_msg(f, m2, 1700000100);
    assert_int_equal(inbox_count(f), 0);
    delivery_drain_stats ds;
    assert_int_equal(delivery_spool_drain_key(f->dir, f->server_key, f->m, &ds), 0);
    assert_int_equal(ds.imported, 2);
    assert_int_equal(ds.duplicates, 0);
    assert_int_equal(ds.refused, 0);
    assert_int_equal(inbox_count(f), 2);
    assert_int_equal(spool_entries(f), 0);
    store_msg msg;
    inbox_fetch(f, 1, &msg);
    assert_int_equal(msg.raw_len, sizeof m1 - 1);
    assert_memory_equal(msg.raw, m1, sizeof m1 - 1);
    assert_int_equal(msg.internaldate, 1700000000);
    store_msg_clear(&msg);
    inbox_fetch(f, 2, &msg);
    assert_memory_equal(msg.raw, m2, sizeof m2 - 1);
    assert_int_equal(msg.internaldate, 1700000100);
    store_msg_clear(&msg);
}

static void drain_without_a_spool_is_a_no_op(void **state)
{
    fixture *f = *state;
    delivery_drain_stats ds = { 9, 9, 9 };
    assert_int_equal(delivery_spool_drain_key(f->dir, f->server_key, f->m, &ds), 0);
    assert_int_equal(ds.imported + ds.duplicates + ds.refused, 0);
    char path[256];
    spool_path(path, sizeof path, f->dir, MBOX_ID);
    assert_false(file_exists(path));
}

static void drain_twice_imports_once(void **state)
{
    fixture *f = *state;
    spool_msg(f, "Subject: a\r\n\r\na\r\n", 1);
    delivery_drain_stats ds;
    assert_int_equal(delivery_spool_drain_key(f->dir, f->server_key, f->m, &ds), 0);
    assert_int_equal(ds.imported, 1);
    assert_int_equal(delivery_spool_drain_key(f->dir, f->server_key, f->m, &ds), 0);
    assert_int_equal(ds.imported, 0);
    assert_int_equal(inbox_count(f), 1);
    spool_msg(f, "Subject: b\r\n\r\nb\r\n", 2);
    assert_int_equal(delivery_spool_drain_key(f->dir, f->server_key, f->m, &ds), 0);
    assert_int_equal(ds.imported, 1);
    assert_int_equal(inbox_count(f), 2);
}

static void copy_file(const char *from, const char *to)
{
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(file_read_all(from, &data, &len, 1 << 28), 0);
    assert_int_equal(file_write_atomic(to, data, len, 0600), 0);
    free(data);
}

/* The crash this guards against: the mailbox COMMIT (message + origin) is
 * durable, the process dies before the spool DELETE. Restoring the spool file
 * as it was before the drain recreates exactly that state on disk. */
static void crash_between_import_and_delete_neither_loses_nor_duplicates(void **state)
{
    fixture *f = *state;
    spool_msg(f, "Subject: one\r\n\r\n1\r\n", 1);
    spool_msg(f, "Subject: two\r\n\r\n2\r\n", 2);
    char path[256], saved[300], wal[300];
    spool_path(path, sizeof path, f->dir, MBOX_ID);
    snprintf(saved, sizeof saved, "%s.saved", path);
    snprintf(wal, sizeof wal, "%s-wal", path);
    /* The last handle closed, so the WAL was checkpointed into the file. */
    assert_false(file_exists(wal));
    copy_file(path, saved);

    delivery_drain_stats ds;
    assert_int_equal(delivery_spool_drain_key(f->dir, f->server_key, f->m, &ds), 0);
    assert_int_equal(ds.imported, 2);
    assert_int_equal(spool_entries(f), 0);

    /* "Crash": both imports committed, neither delete happened. */
    assert_false(file_exists(wal));
    copy_file(saved, path);
    unlink(saved);
    assert_int_equal(spool_entries(f), 2);

    assert_int_equal(delivery_spool_drain_key(f->dir, f->server_key, f->m, &ds), 0);
    assert_int_equal(ds.imported, 0);
    assert_int_equal(ds.duplicates, 2);
    assert_int_equal(inbox_count(f), 2);
    assert_int_equal(spool_entries(f), 0);

    /* A message that arrives afterwards is still imported. */
    spool_msg(f, "Subject: three\r\n\r\n3\r\n", 3);
    assert_int_equal(delivery_spool_drain_key(f->dir, f->server_key, f->m, &ds), 0);
    assert_int_equal(ds.imported, 1);
    assert_int_equal(inbox_count(f), 3);
}

static void tampered_blob_is_refused_and_left_in_the_spool(void **state)
{
    fixture *f = *state;
    const char good[] = "Subject: good\r\n\r\nok\r\n";
    spool *sp = NULL;
    assert_int_equal(spool_open(f->dir, MBOX_ID, f->server_key, 1, &sp), SPOOL_OK);
    unsigned char blob[256];
    const char msg[] = "Subject: evil\r\n\r\nx\r\n";
    assert_int_equal(seal_seal(f->pk, msg, sizeof msg - 1, blob), 0);
    blob[SEAL_OVERHEAD + 3] ^= 0x20;      /* one bit of the ciphertext */
    assert_int_equal(spool_append(sp, 1, blob, sizeof msg - 1 + SEAL_OVERHEAD, NULL), SPOOL_OK);
    /* Sealed to another alias's key. */
    unsigned char opk[32], osk[32];
    seal_keypair(opk, osk);
    assert_int_equal(seal_seal(opk, msg, sizeof msg - 1, blob), 0);
    assert_int_equal(spool_append(sp, 2, blob, sizeof msg - 1 + SEAL_OVERHEAD, NULL), SPOOL_OK);
    /* Too short to be a sealed box at all. */
    assert_int_equal(spool_append(sp, 3, blob, 10, NULL), SPOOL_OK);
    spool_close(sp);
    spool_msg(f, good, 4);

    delivery_drain_stats ds;
    assert_int_equal(delivery_spool_drain_key(f->dir, f->server_key, f->m, &ds), 0);
    assert_int_equal(ds.refused, 3);
    assert_int_equal(ds.imported, 1);
    assert_int_equal(inbox_count(f), 1);
    store_msg m;
    inbox_fetch(f, 1, &m);
    assert_memory_equal(m.raw, good, sizeof good - 1);
    store_msg_clear(&m);
    assert_int_equal(spool_entries(f), 3);
}

static void canary_never_reaches_the_spool_file_nor_the_server_keys_view(void **state)
{
    fixture *f = *state;
    char canary[48], msg[256];
    unsigned char rnd[12];
    randombytes_buf(rnd, sizeof rnd);
    strcpy(canary, "cnry");
    sodium_bin2hex(canary + 4, sizeof canary - 4, rnd, sizeof rnd);
    snprintf(msg, sizeof msg, "From: %s@x.org\r\nSubject: %s\r\n\r\n%s\r\n", canary, canary, canary);
    /* Several entries so that the file has real pages and a WAL. */
    spool *sp = NULL;
    assert_int_equal(spool_open(f->dir, MBOX_ID, f->server_key, 1, &sp), SPOOL_OK);
    for (int i = 0; i < 20; i++) {
        size_t len = strlen(msg);
        unsigned char *blob = malloc(len + SEAL_OVERHEAD);
        assert_int_equal(seal_seal(f->pk, msg, len, blob), 0);
        assert_int_equal(spool_append(sp, i, blob, len + SEAL_OVERHEAD, NULL), SPOOL_OK);
        free(blob);
    }
    /* While open (WAL live) and after close. */
    assert_int_equal(tree_contains(f->dir, canary), 0);
    assert_int_equal(tree_contains(f->dir, "Subject"), 0);
    spool_close(sp);
    assert_int_equal(tree_contains(f->dir, canary), 0);

    /* With the server key, the spool opens, but holds only sealed blobs. */
    assert_int_equal(spool_open(f->dir, MBOX_ID, f->server_key, 0, &sp), SPOOL_OK);
    spool_entry e;
    int64_t after = 0;
    int n = 0;
    while (spool_next(sp, after, &e) == SPOOL_OK) {
        after = e.id;
        assert_null(memmem(e.blob, e.len, canary, strlen(canary)));
        assert_null(memmem(e.blob, e.len, "Subject", 7));
        spool_entry_clear(&e);
        n++;
    }
    assert_int_equal(n, 20);
    spool_close(sp);

    /* Only the mailbox's secret key opens them: after the drain the canary
     * is in INBOX and still in no file (the mailbox is encrypted). */
    delivery_drain_stats ds;
    assert_int_equal(delivery_spool_drain_key(f->dir, f->server_key, f->m, &ds), 0);
    assert_int_equal(ds.imported, 20);
    store_msg m;
    inbox_fetch(f, 20, &m);
    assert_non_null(memmem(m.raw, m.raw_len, canary, strlen(canary)));
    store_msg_clear(&m);
    assert_int_equal(tree_contains(f->dir, canary), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(spool_keeps_entries_in_order_and_never_reuses_an_id, setup, teardown),
        cmocka_unit_test_setup_teardown(spool_refuses_a_wrong_key_and_a_bad_id, setup, teardown),
        cmocka_unit_test_setup_teardown(a_new_spool_file_gets_a_new_uid, setup, teardown),
        cmocka_unit_test_setup_teardown(append_once_records_the_origin_with_the_message, setup, teardown),
        cmocka_unit_test_setup_teardown(sealed_message_is_drained_into_inbox_byte_for_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(drain_without_a_spool_is_a_no_op, setup, teardown),
        cmocka_unit_test_setup_teardown(drain_twice_imports_once, setup, teardown),
        cmocka_unit_test_setup_teardown(crash_between_import_and_delete_neither_loses_nor_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(tampered_blob_is_refused_and_left_in_the_spool, setup, teardown),
        cmocka_unit_test_setup_teardown(canary_never_reaches_the_spool_file_nor_the_server_keys_view, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
