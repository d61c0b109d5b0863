/*
 * test_delivery.c — delivery/delivery.c against a real data directory: RCPT
 * lookups (ours, unknown, not ours), a message for an alias nobody is logged in
 * to is sealed into the spool and reaches INBOX at the next login's drain, a
 * message for a live session goes straight into INBOX and wakes the change
 * watch (what IDLE waits on), one copy per mailbox, a failing live path falls
 * back to the spool, and no file under the data directory ever holds the
 * message's canary. Group commit: concurrent live and sealed deliveries to one
 * mailbox all land exactly once; store_append_batch and spool_append_batch
 * give each message its own fate. Quotas: sizes, usage on disk, RCPT refusal
 * and the all-or-nothing refusal after DATA.
 *
 * Key slots use libsodium's minimum Argon2id cost (accounts_set_kdf_cost) so
 * the binary stays fast.
 */
#include <dirent.h>
#include <pthread.h>
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
#include "util/limits.h"
#include "delivery/delivery.h"
#include "delivery/quota.h"
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

/* --- Group commit -------------------------------------------------------------------------- */

#define THREADS 12

typedef struct deliverer {
    fixture *f;
    const delivery_rcpt *r;
    int n;
    delivery_result res;
} deliverer;

static void *deliver_thread(void *arg)
{
    deliverer *t = arg;
    char msg[128];
    snprintf(msg, sizeof msg, "Subject: concurrent %d\r\nX-N: %d\r\n\r\nbody %d\r\n", t->n, t->n, t->n);
    t->res = delivery_store(t->f->d, t->r, msg, strlen(msg), 1700000000 + t->n);
    return NULL;
}

/* Every X-N from 0 to THREADS-1 exactly once in INBOX, uids 1..THREADS. */
static void assert_each_once(store_mailbox *m)
{
    assert_int_equal(inbox_count(m), THREADS);
    int seen[THREADS] = { 0 };
    for (uint32_t uid = 1; uid <= THREADS; uid++) {
        store_msg raw;
        inbox_raw(m, uid, &raw);
        const char *x = strstr(raw.raw, "X-N: ");
        assert_non_null(x);
        int n = atoi(x + 5);
        assert_true(n >= 0 && n < THREADS);
        seen[n]++;
        store_msg_clear(&raw);
    }
    for (int i = 0; i < THREADS; i++) assert_int_equal(seen[i], 1);
}

static void run_threads(fixture *f, const delivery_rcpt *r, delivery_result want)
{
    pthread_t th[THREADS];
    deliverer t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        t[i] = (deliverer){ f, r, i, DELIVERY_FAILED };
        assert_int_equal(pthread_create(&th[i], NULL, deliver_thread, &t[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(t[i].res, want);
    }
}

static void concurrent_live_deliveries_each_land_once(void **state)
{
    fixture *f = *state;
    account_auth *au = NULL;
    store_mailbox *m = login(f, ALICE, PW, &au);
    run_threads(f, &f->alice, DELIVERY_LIVE);
    assert_int_equal(spool_entries(f, f->alice.mailbox_id), 0);
    assert_each_once(m);
    store_close(m);
    account_logout(au);
}

static void concurrent_sealed_deliveries_each_land_once(void **state)
{
    fixture *f = *state;
    run_threads(f, &f->bob, DELIVERY_SPOOLED);
    assert_int_equal(spool_entries(f, f->bob.mailbox_id), THREADS);
    account_auth *au = NULL;
    store_mailbox *m = login(f, BOB, PWB, &au);
    delivery_drain_stats ds;
    assert_int_equal(delivery_spool_drain(f->dir, m, &ds), 0);
    assert_int_equal(ds.imported, THREADS);
    assert_each_once(m);
    store_close(m);
    account_logout(au);
}

static void batch_append_gives_each_message_its_own_fate(void **state)
{
    fixture *f = *state;
    account_auth *au = NULL;
    store_mailbox *m = login(f, ALICE, PW, &au);
    const char a[] = "Subject: a\r\n\r\na\r\n", c[] = "Subject: c\r\n\r\nc\r\n";
    store_batch_msg v[3] = {
        { .msg = a, .len = sizeof a - 1, .internaldate = 11 },
        /* Refused before it writes anything: the others commit. */
        { .msg = a, .len = (size_t)IMAP_APPEND_MAX + 1, .internaldate = 12 },
        { .msg = c, .len = sizeof c - 1, .internaldate = 13 },
    };
    assert_int_equal(store_append_batch(m, "INBOX", v, 3), STORE_OK);
    assert_int_equal(v[0].status, STORE_OK);
    assert_int_equal(v[0].uid, 1);
    assert_int_equal(v[1].status, STORE_TOOBIG);
    assert_int_equal(v[1].uid, 0);
    assert_int_equal(v[2].status, STORE_OK);
    assert_int_equal(v[2].uid, 2);
    store_msg raw;
    inbox_raw(m, 2, &raw);
    assert_memory_equal(raw.raw, c, sizeof c - 1);
    assert_int_equal(raw.internaldate, 13);
    store_msg_clear(&raw);
    /* No such folder: found by reading, nothing written; each message says so. */
    store_batch_msg w[2] = { { .msg = a, .len = sizeof a - 1 }, { .msg = c, .len = sizeof c - 1 } };
    assert_int_equal(store_append_batch(m, "No such folder", w, 2), STORE_OK);
    assert_int_equal(w[0].status, STORE_NOTFOUND);
    assert_int_equal(w[1].status, STORE_NOTFOUND);
    assert_int_equal(store_append_batch(m, "INBOX", w, 2), STORE_OK);
    assert_int_equal(w[0].uid, 3);
    assert_int_equal(w[1].uid, 4);
    assert_int_equal(inbox_count(m), 4);
    store_close(m);
    account_logout(au);
}

/* Import's batches: flags, keywords and origins per message; an origin already
 * imported is refused without failing the batch around it. */
static void batch_append_with_origins_flags_and_keywords(void **state)
{
    fixture *f = *state;
    account_auth *au = NULL;
    store_mailbox *m = login(f, ALICE, PW, &au);
    const char a[] = "Subject: a\r\n\r\na\r\n", b[] = "Subject: b\r\n\r\nb\r\n";
    assert_int_equal(store_append_once(m, "INBOX", 0, NULL, 0, 5, a, sizeof a - 1, "import:x", NULL, NULL),
                     STORE_OK);
    const char *kw[] = { "$Junk", "project" };
    store_batch_msg v[3] = {
        { .msg = b, .len = sizeof b - 1, .internaldate = 21, .flags = MSG_FLAG_SEEN | MSG_FLAG_FLAGGED,
          .keywords = kw, .nkeywords = 2, .origin = "import:y" },
        { .msg = a, .len = sizeof a - 1, .internaldate = 22, .origin = "import:x" },
        { .msg = a, .len = sizeof a - 1, .internaldate = 23, .flags = MSG_FLAG_ANSWERED, .origin = "import:z" },
    };
    assert_int_equal(store_append_batch(m, "INBOX", v, 3), STORE_OK);
    assert_int_equal(v[0].status, STORE_OK);
    assert_int_equal(v[1].status, STORE_EXISTS);
    assert_int_equal(v[2].status, STORE_OK);
    assert_int_equal(v[0].uid, 2);
    assert_int_equal(v[2].uid, 3);
    assert_int_equal(inbox_count(m), 3);
    store_msg raw;
    inbox_raw(m, 2, &raw);
    assert_int_equal(raw.flags, MSG_FLAG_SEEN | MSG_FLAG_FLAGGED);
    assert_true(raw.keywords != 0);
    assert_int_equal(raw.internaldate, 21);
    store_msg_clear(&raw);
    inbox_raw(m, 3, &raw);
    assert_int_equal(raw.flags, MSG_FLAG_ANSWERED);
    assert_int_equal(raw.keywords, 0);
    store_msg_clear(&raw);
    /* Every origin is now recorded: the same batch again adds nothing. */
    assert_int_equal(store_append_batch(m, "INBOX", v, 3), STORE_OK);
    for (int i = 0; i < 3; i++) assert_int_equal(v[i].status, STORE_EXISTS);
    assert_int_equal(inbox_count(m), 3);
    store_close(m);
    account_logout(au);
}

static void spool_batch_appends_in_order(void **state)
{
    fixture *f = *state;
    char err[256];
    unsigned char *key = dbkey_read_server_key(f->dir, err, sizeof err);
    assert_non_null(key);
    spool *sp = NULL;
    assert_int_equal(spool_open(f->dir, f->bob.mailbox_id, key, 1, &sp), SPOOL_OK);
    const unsigned char b1[] = "one", b2[] = "two", b3[] = "three";
    spool_batch_entry e[3] = { { 1, b1, 3, SPOOL_ERROR, 0 }, { 2, b2, 3, SPOOL_ERROR, 0 },
                               { 3, b3, 5, SPOOL_ERROR, 0 } };
    assert_int_equal(spool_append_batch(sp, e, 3), SPOOL_OK);
    for (int i = 0; i < 3; i++) assert_int_equal(e[i].status, SPOOL_OK);
    assert_true(e[0].id < e[1].id && e[1].id < e[2].id);
    spool_entry got;
    assert_int_equal(spool_next(sp, e[0].id, &got), SPOOL_OK);
    assert_int_equal(got.id, e[1].id);
    assert_int_equal(got.received, 2);
    assert_int_equal(got.len, 3);
    assert_memory_equal(got.blob, "two", 3);
    spool_entry_clear(&got);
    size_t n;
    assert_int_equal(spool_count(sp, &n), SPOOL_OK);
    assert_int_equal(n, 3);
    spool_close(sp);
    secmem_free(key);
}

/* --- Quotas ---------------------------------------------------------------------------------- */

static void quota_sizes_parse_and_print(void **state)
{
    uint64_t q;
    assert_int_equal(quota_parse("500M", &q), 0);
    assert_true(q == 500ull * 1024 * 1024);
    assert_int_equal(quota_parse("2G", &q), 0);
    assert_true(q == 2ull << 30);
    assert_int_equal(quota_parse("10KiB", &q), 0);
    assert_true(q == 10240);
    assert_int_equal(quota_parse("1048576", &q), 0);
    assert_true(q == 1048576);
    assert_int_equal(quota_parse("none", &q), 0);
    assert_true(q == 0);
    assert_int_equal(quota_parse("0", &q), 0);
    assert_true(q == 0);
    const char *bad[] = { "", "1.5G", "-1", "G", "12X", "5 M", "99999999999999999999", "9000000000G", "none1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_int_equal(quota_parse(bad[i], &q), -1);
    char out[32];
    quota_format(500ull << 20, out, sizeof out);
    assert_string_equal(out, "500M");
    quota_format(3ull << 30, out, sizeof out);
    assert_string_equal(out, "3G");
    quota_format(1000, out, sizeof out);
    assert_string_equal(out, "1000");
    quota_format(0, out, sizeof out);
    assert_string_equal(out, "none");
    assert_int_equal(quota_over(0, 1000, 1000), 0);
    assert_int_equal(quota_over(100, 100, 0), 1);
    assert_int_equal(quota_over(100, 50, 50), 0);
    assert_int_equal(quota_over(100, 50, 51), 1);
}

static uint64_t file_bytes(const char *dir, const char *sub, const char *id, const char *suffix)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s/%s.db%s", dir, sub, id, suffix);
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void usage_is_the_mailbox_and_spool_files_on_disk(void **state)
{
    fixture *f = *state;
    const char *id = f->bob.mailbox_id;
    uint64_t before = quota_usage(f->dir, id);
    assert_true(before > 0);
    assert_true(before == file_bytes(f->dir, "mailboxes", id, "") + file_bytes(f->dir, "mailboxes", id, "-wal"));
    const char msg[] = "Subject: grows\r\n\r\nx\r\n";
    assert_int_equal(delivery_store(f->d, &f->bob, msg, sizeof msg - 1, 5), DELIVERY_SPOOLED);
    uint64_t after = quota_usage(f->dir, id);
    assert_true(after == before + file_bytes(f->dir, "spool", id, "") + file_bytes(f->dir, "spool", id, "-wal"));
    assert_true(after > before);
    assert_true(quota_usage(f->dir, "../../etc/passwd") == 0);
}

static void rcpt_over_quota_is_full_and_a_message_is_refused_only_when_nobody_has_room(void **state)
{
    fixture *f = *state;
    directory *dir = account_directory(f->a);
    uint64_t used = quota_usage(f->dir, f->alice.mailbox_id);
    /* Room for 1000 more octets. */
    assert_int_equal(directory_alias_quota_set(dir, ALICE, used + 1000), DIR_OK);
    delivery_rcpt r;
    assert_int_equal(delivery_rcpt_lookup(f->d, ALICE, &r), DELIVERY_RCPT_OK);
    assert_true(r.quota == used + 1000);
    assert_int_equal(delivery_rcpt_fits(f->d, &r, 1000), 1);
    assert_int_equal(delivery_rcpt_fits(f->d, &r, 1001), 0);
    char big[2000];
    memset(big, 'x', sizeof big);
    memcpy(big, "Subject: big\r\n\r\n", 17);
    /* Alone, Alice cannot take it: nothing stored. */
    const delivery_rcpt *only[] = { &r };
    assert_int_equal(delivery_deliver(f->d, only, 1, big, sizeof big, 5), DELIVERY_DELIVER_FULL);
    assert_int_equal(spool_entries(f, f->alice.mailbox_id), 0);
    /* With Bob, who has room, both get it (Alice's quota is passed once). */
    const delivery_rcpt *both[] = { &r, &f->bob };
    assert_int_equal(delivery_deliver(f->d, both, 2, big, sizeof big, 5), 0);
    assert_int_equal(spool_entries(f, f->alice.mailbox_id), 1);
    assert_int_equal(spool_entries(f, f->bob.mailbox_id), 1);
    /* Now over: refused at RCPT. */
    assert_int_equal(delivery_rcpt_lookup(f->d, ALICE, &r), DELIVERY_RCPT_FULL);
    assert_int_equal(directory_alias_quota_set(dir, ALICE, 0), DIR_OK);
    assert_int_equal(delivery_rcpt_lookup(f->d, ALICE, &r), DELIVERY_RCPT_OK);
    assert_int_equal(directory_alias_quota_set(dir, "nobody@example.org", 5), DIR_NOTFOUND);
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
        cmocka_unit_test_setup_teardown(concurrent_live_deliveries_each_land_once, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_sealed_deliveries_each_land_once, setup, teardown),
        cmocka_unit_test_setup_teardown(batch_append_gives_each_message_its_own_fate, setup, teardown),
        cmocka_unit_test_setup_teardown(batch_append_with_origins_flags_and_keywords, setup, teardown),
        cmocka_unit_test_setup_teardown(spool_batch_appends_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(quota_sizes_parse_and_print, setup, teardown),
        cmocka_unit_test_setup_teardown(usage_is_the_mailbox_and_spool_files_on_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(rcpt_over_quota_is_full_and_a_message_is_refused_only_when_nobody_has_room, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
