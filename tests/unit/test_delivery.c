/*
 * test_delivery.c — delivery/delivery.c against a real data directory: RCPT
 * lookups (ours, unknown, not ours), a message for an alias nobody is logged in
 * to is sealed into the spool and reaches INBOX at the next login's drain, a
 * message for a live session goes straight into INBOX and wakes the change
 * watch (what IDLE waits on), one copy per mailbox, a failing live path falls
 * back to the spool, and no file under the data directory ever holds the
 * message's canary.
 *
 * Key slots use libsodium's minimum Argon2id cost (accounts_set_kdf_cost) so
 * the binary stays fast.
 */
#include <dirent.h>
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

#include "util/fsutil.h"
#include "crypto/dbkey.h"
#include "crypto/keycache.h"
#include "crypto/secmem.h"
#include "directory/directory.h"
#include "store/account.h"
#include "store/datadir.h"
#include "store/store.h"
#include "delivery/delivery.h"
#include "delivery/spool.h"

#define MIN_OPS ((uint32_t)crypto_pwhash_argon2id_OPSLIMIT_MIN)
#define MIN_MEM ((size_t)crypto_pwhash_argon2id_MEMLIMIT_MIN)
#define ALICE "alice@example.org"
#define BOB   "bob@example.org"
#define PW    "alice-password-123"
#define PWB   "bob-password-12345"

typedef struct fixture {
    char dir[64];
    accounts *a;
    delivery *d;
    delivery_rcpt alice, bob;
} fixture;


static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char err[512];
    snprintf(f->dir, sizeof f->dir, "/tmp/test_delivery.XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    if (datadir_init(f->dir, err, sizeof err) != 0) { fprintf(stderr, "%s\n", err); return -1; }
    f->a = accounts_open(f->dir, err, sizeof err);
    if (!f->a) { fprintf(stderr, "%s\n", err); return -1; }
    if (accounts_set_kdf_cost(f->a, MIN_OPS, MIN_MEM) != 0) return -1;
    if (directory_domain_add(account_directory(f->a), "example.org") != DIR_OK) return -1;
    if (account_create(f->a, ALICE, PW) != ACCOUNT_OK) return -1;
    if (account_create(f->a, BOB, PWB) != ACCOUNT_OK) return -1;
    f->d = delivery_open(f->dir, account_directory(f->a), err, sizeof err);
    if (!f->d) { fprintf(stderr, "%s\n", err); return -1; }
    if (delivery_rcpt_lookup(f->d, ALICE, &f->alice) != DELIVERY_RCPT_OK) return -1;
    if (delivery_rcpt_lookup(f->d, BOB, &f->bob) != DELIVERY_RCPT_OK) return -1;
    /* Creating an account may leave nothing cached; make sure both are offline. */
    keycache_clear();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    delivery_close(f->d);
    accounts_close(f->a);
    keycache_clear();
    rm_rf(f->dir);
    free(f);
    return 0;
}

static size_t spool_entries(fixture *f, const char *mbid)
{
    unsigned char *key;
    char err[256];
    spool *sp = NULL;
    size_t n = 0;
    /* Reads DATADIR/server.key the way the daemon does. */
    key = dbkey_read_server_key(f->dir, err, sizeof err);
    assert_non_null(key);
    if (spool_open(f->dir, mbid, key, 0, &sp) == SPOOL_OK) {
        assert_int_equal(spool_count(sp, &n), SPOOL_OK);
        spool_close(sp);
    }
    secmem_free(key);
    return n;
}

/* Logs in and opens the mailbox, as the IMAP login does. */
static store_mailbox *login(fixture *f, const char *address, const char *pw, account_auth **au)
{
    assert_int_equal(account_login(f->a, address, pw, NULL, au), ACCOUNT_OK);
    store_mailbox *m = NULL;
    assert_int_equal(store_open(f->dir, account_auth_mailbox_id(*au), account_auth_key(*au), &m), STORE_OK);
    return m;
}

static uint32_t inbox_count(store_mailbox *m)
{
    store_folder st;
    assert_int_equal(store_folder_status(m, "INBOX", &st), STORE_OK);
    uint32_t n = st.messages;
    store_folder_clear(&st);
    return n;
}

static void inbox_raw(store_mailbox *m, uint32_t uid, store_msg *out)
{
    store_view v;
    assert_int_equal(store_select(m, "INBOX", 0, &v), STORE_OK);
    int64_t folder = v.folder_id;
    store_view_clear(&v);
    assert_int_equal(store_fetch(m, folder, uid, STORE_FETCH_RAW, out), STORE_OK);
}


/* --- Recipients -------------------------------------------------------------------------- */

static void rcpt_lookup_tells_ours_unknown_and_foreign_apart(void **state)
{
    fixture *f = *state;
    delivery_rcpt r;
    assert_int_equal(delivery_rcpt_lookup(f->d, "Alice@Example.ORG", &r), DELIVERY_RCPT_OK);
    assert_string_equal(r.mailbox_id, f->alice.mailbox_id);
    assert_int_equal(strlen(r.mailbox_id), 32);
    assert_int_equal(delivery_rcpt_lookup(f->d, "carol@example.org", &r), DELIVERY_RCPT_UNKNOWN);
    assert_int_equal(delivery_rcpt_lookup(f->d, "\"alice x\"@example.org", &r), DELIVERY_RCPT_UNKNOWN);
    assert_int_equal(delivery_rcpt_lookup(f->d, "j\xc3\xb6rg@example.org", &r), DELIVERY_RCPT_UNKNOWN);
    assert_int_equal(delivery_rcpt_lookup(f->d, "alice@example.com", &r), DELIVERY_RCPT_RELAY);
    assert_int_equal(delivery_rcpt_lookup(f->d, "alice@sub.example.org", &r), DELIVERY_RCPT_RELAY);
    assert_int_equal(delivery_rcpt_lookup(f->d, "alice@[127.0.0.1]", &r), DELIVERY_RCPT_RELAY);
    assert_int_equal(delivery_rcpt_lookup(f->d, "alice@b\xc3\xbc" "cher.example", &r), DELIVERY_RCPT_RELAY);
    assert_int_equal(delivery_rcpt_lookup(f->d, "postmaster", &r), DELIVERY_RCPT_RELAY);
}

/* --- Offline and live ----------------------------------------------------------------------- */

static void offline_delivery_is_sealed_and_drained_at_login(void **state)
{
    fixture *f = *state;
    const char msg[] = "Subject: while you were out\r\n\r\nhello\r\n";
    assert_int_equal(delivery_store(f->d, &f->alice, msg, sizeof msg - 1, 1700000000), DELIVERY_SPOOLED);
    assert_int_equal(spool_entries(f, f->alice.mailbox_id), 1);

    account_auth *au = NULL;
    store_mailbox *m = login(f, ALICE, PW, &au);
    assert_int_equal(inbox_count(m), 0);
    delivery_drain_stats ds;
    assert_int_equal(delivery_spool_drain(f->dir, m, &ds), 0);
    assert_int_equal(ds.imported, 1);
    assert_int_equal(inbox_count(m), 1);
    assert_int_equal(spool_entries(f, f->alice.mailbox_id), 0);
    store_msg raw;
    inbox_raw(m, 1, &raw);
    assert_int_equal(raw.raw_len, sizeof msg - 1);
    assert_memory_equal(raw.raw, msg, sizeof msg - 1);
    assert_int_equal(raw.internaldate, 1700000000);
    assert_int_equal(raw.flags, 0);
    store_msg_clear(&raw);
    store_close(m);
    account_logout(au);
}

static int watch_hits;
static void watch_cb(void *arg) { __atomic_add_fetch(&watch_hits, 1, __ATOMIC_SEQ_CST); }

static void live_delivery_goes_straight_to_inbox_and_wakes_the_watch(void **state)
{
    fixture *f = *state;
    account_auth *au = NULL;
    store_mailbox *m = login(f, ALICE, PW, &au);
    watch_hits = 0;
    store_watch *w = store_watch_add(f->alice.mailbox_id, watch_cb, NULL);
    assert_non_null(w);
    const char msg[] = "Subject: live\r\n\r\nnow\r\n";
    assert_int_equal(delivery_store(f->d, &f->alice, msg, sizeof msg - 1, 1700000001), DELIVERY_LIVE);
    assert_int_equal(watch_hits, 1);
    assert_int_equal(inbox_count(m), 1);
    assert_int_equal(spool_entries(f, f->alice.mailbox_id), 0);
    store_msg raw;
    inbox_raw(m, 1, &raw);
    assert_memory_equal(raw.raw, msg, sizeof msg - 1);
    store_msg_clear(&raw);
    /* Bob is not logged in: his copy is sealed, Alice's watch stays quiet. */
    assert_int_equal(delivery_store(f->d, &f->bob, msg, sizeof msg - 1, 1700000001), DELIVERY_SPOOLED);
    assert_int_equal(watch_hits, 1);
    store_watch_remove(w);
    store_close(m);
    account_logout(au);
}

static void deliver_makes_one_copy_per_mailbox(void **state)
{
    fixture *f = *state;
    const char msg[] = "Subject: twice named\r\n\r\nx\r\n";
    const delivery_rcpt *rcpts[] = { &f->alice, &f->bob, &f->alice };
    assert_int_equal(delivery_deliver(f->d, rcpts, 3, msg, sizeof msg - 1, 5), 0);
    assert_int_equal(spool_entries(f, f->alice.mailbox_id), 1);
    assert_int_equal(spool_entries(f, f->bob.mailbox_id), 1);
}

static void live_failure_falls_back_to_the_spool(void **state)
{
    fixture *f = *state;
    account_auth *au = NULL;
    assert_int_equal(account_login(f->a, ALICE, PW, NULL, &au), ACCOUNT_OK);
    /* The key is cached but the mailbox file cannot be opened with it. */
    char path[256], moved[300];
    snprintf(path, sizeof path, "%s/mailboxes/%s.db", f->dir, f->alice.mailbox_id);
    snprintf(moved, sizeof moved, "%s.away", path);
    assert_int_equal(rename(path, moved), 0);
    const char msg[] = "Subject: fallback\r\n\r\nx\r\n";
    assert_int_equal(delivery_store(f->d, &f->alice, msg, sizeof msg - 1, 5), DELIVERY_SPOOLED);
    assert_int_equal(rename(moved, path), 0);
    assert_int_equal(spool_entries(f, f->alice.mailbox_id), 1);
    /* The copy that fell back to the spool comes in with the next drain. */
    store_mailbox *m = NULL;
    assert_int_equal(store_open(f->dir, f->alice.mailbox_id, account_auth_key(au), &m), STORE_OK);
    assert_int_equal(delivery_spool_drain(f->dir, m, NULL), 0);
    assert_int_equal(inbox_count(m), 1);
    store_close(m);
    account_logout(au);
}

static void canary_reaches_no_file_under_the_data_directory(void **state)
{
    fixture *f = *state;
    char canary[48], msg[512];
    unsigned char rnd[12];
    randombytes_buf(rnd, sizeof rnd);
    strcpy(canary, "cnry");
    sodium_bin2hex(canary + 4, sizeof canary - 4, rnd, sizeof rnd);
    snprintf(msg, sizeof msg, "From: <%s@elsewhere.example>\r\nSubject: %s\r\n\r\n%s %s\r\n",
             canary, canary, canary, canary);
    for (int i = 0; i < 5; i++)
        assert_int_equal(delivery_store(f->d, &f->alice, msg, strlen(msg), 10 + i), DELIVERY_SPOOLED);
    assert_int_equal(tree_contains(f->dir, canary), 0);
    account_auth *au = NULL;
    store_mailbox *m = login(f, ALICE, PW, &au);
    assert_int_equal(delivery_spool_drain(f->dir, m, NULL), 0);
    assert_int_equal(inbox_count(m), 5);
    assert_int_equal(delivery_store(f->d, &f->alice, msg, strlen(msg), 20), DELIVERY_LIVE);
    assert_int_equal(inbox_count(m), 6);
    assert_int_equal(tree_contains(f->dir, canary), 0);
    store_close(m);
    account_logout(au);
    assert_int_equal(tree_contains(f->dir, canary), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rcpt_lookup_tells_ours_unknown_and_foreign_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(offline_delivery_is_sealed_and_drained_at_login, setup, teardown),
        cmocka_unit_test_setup_teardown(live_delivery_goes_straight_to_inbox_and_wakes_the_watch, setup, teardown),
        cmocka_unit_test_setup_teardown(deliver_makes_one_copy_per_mailbox, setup, teardown),
        cmocka_unit_test_setup_teardown(live_failure_falls_back_to_the_spool, setup, teardown),
        cmocka_unit_test_setup_teardown(canary_reaches_no_file_under_the_data_directory, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
