/*
 * test_account.c — accounts on a real data directory: create (all-or-nothing),
 * login through key slots and through the key cache, wrong passwords, unknown
 * addresses, throttling per address and per IP, password changes (the mailbox
 * keeps opening, with the new password only), removal, generated passwords,
 * and datadir_init.
 *
 * Argon2id derivations are counted with keyslot_kdf_count(), never timed. Tests
 * that need many failures lower the cost of the slots they create
 * (accounts_set_kdf_cost) so the binary stays fast; the first test keeps the
 * default cost end to end.
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
#include "util/limits.h"
#include "util/log.h"
#include "crypto/keycache.h"
#include "crypto/keyslot.h"
#include "crypto/secmem.h"
#include "directory/directory.h"
#include "store/store.h"
#include "store/account.h"
#include "store/datadir.h"

#define MIN_OPS ((uint32_t)crypto_pwhash_argon2id_OPSLIMIT_MIN)
#define MIN_MEM ((size_t)crypto_pwhash_argon2id_MEMLIMIT_MIN)
#define PW1 "first-password-123"
#define PW2 "second-password-456"

typedef struct fixture {
    char dir[64];
    accounts *a;
} fixture;


static int setup_common(void **state, int cheap)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_account.XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    char err[512];
    if (datadir_init(f->dir, err, sizeof err) != 0) { fprintf(stderr, "%s\n", err); return -1; }
    f->a = accounts_open(f->dir, err, sizeof err);
    if (!f->a) { fprintf(stderr, "%s\n", err); return -1; }
    if (directory_domain_add(account_directory(f->a), "example.org") != DIR_OK) return -1;
    if (cheap && accounts_set_kdf_cost(f->a, MIN_OPS, MIN_MEM) != 0) return -1;
    *state = f;
    return 0;
}

static int setup(void **state) { return setup_common(state, 0); }
static int setup_cheap(void **state) { return setup_common(state, 1); }

static int teardown(void **state)
{
    fixture *f = *state;
    accounts_close(f->a);
    keycache_clear();
    rm_rf(f->dir);
    free(f);
    return 0;
}

/* The mailbox file opens with the key a login produced. */
static void assert_mailbox_opens(fixture *f, const account_auth *au)
{
    store_mailbox *m = NULL;
    assert_int_equal(store_open(f->dir, account_auth_mailbox_id(au), account_auth_key(au), &m), STORE_OK);
    store_close(m);
}

/* --- Create and login ------------------------------------------------------------------- */

static void create_then_login_then_cached_login(void **state)
{
    fixture *f = *state;
    unsigned long k0 = keyslot_kdf_count();
    assert_int_equal(account_create(f->a, "Alice@Example.org", PW1), ACCOUNT_OK);
    assert_int_equal(keyslot_kdf_count() - k0, 1);

    /* The slot was made at the default cost. */
    directory_keyslot *s;
    size_t n;
    assert_int_equal(directory_keyslot_list(account_directory(f->a), "alice@example.org", &s, &n), DIR_OK);
    assert_int_equal(n, 1);
    uint32_t ops;
    size_t mem;
    assert_int_equal(keyslot_cost(s[0].blob, s[0].len, &ops, &mem), 0);
    assert_int_equal(ops, KEYSLOT_OPSLIMIT);
    assert_int_equal(mem, KEYSLOT_MEMLIMIT);
    directory_keyslots_free(s, n);

    account_auth *au1 = NULL, *au2 = NULL;
    unsigned long k1 = keyslot_kdf_count();
    assert_int_equal(account_login(f->a, "alice@example.org", PW1, "192.0.2.1", &au1), ACCOUNT_OK);
    assert_int_equal(keyslot_kdf_count() - k1, 1);
    assert_non_null(au1);
    assert_string_equal(account_auth_address(au1), "alice@example.org");
    assert_int_equal(strlen(account_auth_mailbox_id(au1)), STORE_MAILBOX_ID_LEN);
    assert_mailbox_opens(f, au1);

    /* A second connection with the same password: no Argon2id at all. */
    unsigned long k2 = keyslot_kdf_count();
    assert_int_equal(account_login(f->a, "ALICE@example.org", PW1, "192.0.2.1", &au2), ACCOUNT_OK);
    assert_int_equal(keyslot_kdf_count(), k2);
    assert_string_equal(account_auth_mailbox_id(au2), account_auth_mailbox_id(au1));
    assert_memory_equal(account_auth_key(au2), account_auth_key(au1), STORE_KEY_LEN);
    account_logout(au1);
    /* Still cached after every session ended (grace period). */
    account_logout(au2);
    assert_int_equal(account_login(f->a, "alice@example.org", PW1, "192.0.2.1", &au1), ACCOUNT_OK);
    assert_int_equal(keyslot_kdf_count(), k2);
    /* Delivery finds the key of a live session. */
    unsigned char *key = secmem_alloc(STORE_KEY_LEN);
    assert_int_equal(keycache_lookup_key(account_auth_mailbox_id(au1), key), 0);
    assert_memory_equal(key, account_auth_key(au1), STORE_KEY_LEN);
    secmem_free(key);
    account_logout(au1);
}

typedef struct login_thread {
    fixture *f;
    account_status st;
    account_auth *au;
} login_thread;

static void *login_thread_main(void *arg)
{
    login_thread *t = arg;
    t->st = account_login(t->f->a, "multi@example.org", PW1, "192.0.2.5", &t->au);
    return NULL;
}

static void five_simultaneous_logins_pay_argon2id_once(void **state)
{
    fixture *f = *state;
    assert_int_equal(account_create(f->a, "multi@example.org", PW1), ACCOUNT_OK);
    login_thread t[5];
    pthread_t th[5];
    unsigned long k = keyslot_kdf_count();
    for (int i = 0; i < 5; i++) {
        t[i] = (login_thread){ f, ACCOUNT_ERROR, NULL };
        assert_int_equal(pthread_create(&th[i], NULL, login_thread_main, &t[i]), 0);
    }
    for (int i = 0; i < 5; i++) pthread_join(th[i], NULL);
    /* Whoever came first derived; the others waited for it or hit the cache. */
    assert_int_equal(keyslot_kdf_count() - k, 1);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(t[i].st, ACCOUNT_OK);
        assert_memory_equal(account_auth_key(t[i].au), account_auth_key(t[0].au), STORE_KEY_LEN);
    }
    for (int i = 0; i < 5; i++) account_logout(t[i].au);
}

static void wrong_password_is_badauth_and_costs_a_derivation(void **state)
{
    fixture *f = *state;
    assert_int_equal(account_create(f->a, "bob@example.org", PW1), ACCOUNT_OK);
    account_auth *au = NULL;
    unsigned long k = keyslot_kdf_count();
    assert_int_equal(account_login(f->a, "bob@example.org", PW2, "192.0.2.2", &au), ACCOUNT_BADAUTH);
    assert_null(au);
    assert_int_equal(keyslot_kdf_count() - k, 1);
    /* A cached right password does not let a wrong one in. */
    assert_int_equal(account_login(f->a, "bob@example.org", PW1, "192.0.2.2", &au), ACCOUNT_OK);
    account_auth *au2 = NULL;
    assert_int_equal(account_login(f->a, "bob@example.org", PW2, "192.0.2.2", &au2), ACCOUNT_BADAUTH);
    assert_null(au2);
    account_logout(au);
}

static void unknown_or_malformed_address_is_badauth_after_a_derivation(void **state)
{
    fixture *f = *state;
    account_auth *au = NULL;
    unsigned long k = keyslot_kdf_count();
    assert_int_equal(account_login(f->a, "nobody@example.org", PW1, "192.0.2.3", &au), ACCOUNT_BADAUTH);
    assert_int_equal(account_login(f->a, "not an address", PW1, "192.0.2.3", &au), ACCOUNT_BADAUTH);
    assert_int_equal(account_login(f->a, "x@nodomain.example", "", NULL, &au), ACCOUNT_BADAUTH);
    assert_null(au);
    /* Same work as a real one-slot account, so timing does not tell. */
    assert_int_equal(keyslot_kdf_count() - k, 3);
}

static void create_refuses_bad_input_and_duplicates(void **state)
{
    fixture *f = *state;
    assert_int_equal(account_create(f->a, "carol@example.org", "elevenchars"), ACCOUNT_INVALID);
    assert_int_equal(account_create(f->a, "not-an-address", PW1), ACCOUNT_INVALID);
    assert_int_equal(account_create(f->a, "carol@unknown.example", PW1), ACCOUNT_NOTFOUND);
    assert_int_equal(account_create(f->a, "carol@example.org", "twelve-chars"), ACCOUNT_OK);
    assert_int_equal(account_create(f->a, "CAROL@example.org", PW1), ACCOUNT_EXISTS);
    char big[PASSWORD_MAX_LEN + 2];
    memset(big, 'p', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(account_create(f->a, "dave@example.org", big), ACCOUNT_INVALID);
    /* Only the one good account made a mailbox file. */
    directory_alias *v;
    size_t n;
    assert_int_equal(directory_alias_list(account_directory(f->a), NULL, &v, &n), DIR_OK);
    assert_int_equal(n, 1);
    char path[256];
    snprintf(path, sizeof path, "%s/mailboxes/%s.db", f->dir, v[0].mailbox_id);
    assert_true(file_exists(path));
    free(v);
}

static void create_is_all_or_nothing_when_the_store_fails(void **state)
{
    fixture *f = *state;
    /* mailboxes/ replaced by a file: store_create cannot make the mailbox. */
    char path[256];
    snprintf(path, sizeof path, "%s/mailboxes", f->dir);
    assert_int_equal(rmdir(path), 0);
    assert_int_equal(file_write_atomic(path, "x", 1, 0600), 0);
    assert_int_equal(account_create(f->a, "erin@example.org", PW1), ACCOUNT_ERROR);
    directory_alias al;
    assert_int_equal(directory_alias_lookup(account_directory(f->a), "erin@example.org", &al), DIR_NOTFOUND);
}

/* --- Throttling ------------------------------------------------------------------------------ */

static void address_is_throttled_after_limit_even_with_right_password(void **state)
{
    fixture *f = *state;
    assert_int_equal(account_create(f->a, "frank@example.org", PW1), ACCOUNT_OK);
    account_auth *au = NULL;
    /* Failures from many IPs, so only the per-address count reaches its limit. */
    for (int i = 0; i < AUTH_FAIL_PER_ADDRESS; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "198.51.100.%d", i + 1);
        assert_int_equal(account_login(f->a, "frank@example.org", PW2, ip, &au), ACCOUNT_BADAUTH);
    }
    unsigned long k = keyslot_kdf_count();
    assert_int_equal(account_login(f->a, "frank@example.org", PW1, "203.0.113.9", &au), ACCOUNT_THROTTLED);
    assert_int_equal(account_login(f->a, "Frank@Example.org", PW1, NULL, &au), ACCOUNT_THROTTLED);
    assert_null(au);
    assert_int_equal(keyslot_kdf_count(), k);          /* not even tried */
    /* Other addresses are not affected. */
    assert_int_equal(account_create(f->a, "grace@example.org", PW1), ACCOUNT_OK);
    assert_int_equal(account_login(f->a, "grace@example.org", PW1, "203.0.113.9", &au), ACCOUNT_OK);
    account_logout(au);
}

static void success_clears_the_address_count(void **state)
{
    fixture *f = *state;
    assert_int_equal(account_create(f->a, "heidi@example.org", PW1), ACCOUNT_OK);
    account_auth *au = NULL;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < AUTH_FAIL_PER_ADDRESS - 1; i++)
            assert_int_equal(account_login(f->a, "heidi@example.org", PW2, NULL, &au), ACCOUNT_BADAUTH);
        assert_int_equal(account_login(f->a, "heidi@example.org", PW1, NULL, &au), ACCOUNT_OK);
        account_logout(au);
    }
}

static void ip_is_throttled_across_addresses(void **state)
{
    fixture *f = *state;
    assert_int_equal(account_create(f->a, "ivan@example.org", PW1), ACCOUNT_OK);
    account_auth *au = NULL;
    for (int i = 0; i < AUTH_FAIL_PER_IP; i++) {
        char addr[64];
        snprintf(addr, sizeof addr, "guess%d@example.org", i);
        assert_int_equal(account_login(f->a, addr, PW1, "192.0.2.66", &au), ACCOUNT_BADAUTH);
    }
    assert_int_equal(account_login(f->a, "ivan@example.org", PW1, "192.0.2.66", &au), ACCOUNT_THROTTLED);
    /* The same address from elsewhere is fine. */
    assert_int_equal(account_login(f->a, "ivan@example.org", PW1, "192.0.2.67", &au), ACCOUNT_OK);
    account_logout(au);
}

/* --- Password change and removal ---------------------------------------------------------------- */

static void password_change_keeps_mailbox_and_retires_old_password(void **state)
{
    fixture *f = *state;
    assert_int_equal(account_create(f->a, "judy@example.org", PW1), ACCOUNT_OK);
    account_auth *old = NULL, *au = NULL;
    /* A live session with the old password: its cache entry must not keep the
     * old password working once its slot is gone. */
    assert_int_equal(account_login(f->a, "judy@example.org", PW1, NULL, &old), ACCOUNT_OK);
    unsigned char before[STORE_KEY_LEN];
    memcpy(before, account_auth_key(old), sizeof before);
    char mbid[STORE_MAILBOX_ID_LEN + 1];
    snprintf(mbid, sizeof mbid, "%s", account_auth_mailbox_id(old));

    assert_int_equal(account_password_change(f->a, "judy@example.org", PW2, "whatever-new-pw"), ACCOUNT_BADAUTH);
    assert_int_equal(account_password_change(f->a, "judy@example.org", PW1, "short"), ACCOUNT_INVALID);
    assert_int_equal(account_password_change(f->a, "nobody@example.org", PW1, PW2), ACCOUNT_NOTFOUND);
    assert_int_equal(account_password_change(f->a, "judy@example.org", PW1, PW2), ACCOUNT_OK);

    assert_int_equal(account_login(f->a, "judy@example.org", PW1, NULL, &au), ACCOUNT_BADAUTH);
    assert_int_equal(account_login(f->a, "judy@example.org", PW2, NULL, &au), ACCOUNT_OK);
    assert_string_equal(account_auth_mailbox_id(au), mbid);
    assert_memory_equal(account_auth_key(au), before, STORE_KEY_LEN);   /* never re-encrypted */
    assert_mailbox_opens(f, au);
    /* The session opened before the change still has its key. */
    assert_memory_equal(account_auth_key(old), before, STORE_KEY_LEN);
    account_logout(old);
    account_logout(au);

    /* Exactly one slot remains. */
    directory_keyslot *s;
    size_t n;
    assert_int_equal(directory_keyslot_list(account_directory(f->a), "judy@example.org", &s, &n), DIR_OK);
    assert_int_equal(n, 1);
    directory_keyslots_free(s, n);
}

static void remove_destroys_mailbox_and_login(void **state)
{
    fixture *f = *state;
    assert_int_equal(account_create(f->a, "ken@example.org", PW1), ACCOUNT_OK);
    account_auth *au = NULL;
    assert_int_equal(account_login(f->a, "ken@example.org", PW1, NULL, &au), ACCOUNT_OK);
    char path[256];
    snprintf(path, sizeof path, "%s/mailboxes/%s.db", f->dir, account_auth_mailbox_id(au));
    account_logout(au);
    assert_true(file_exists(path));
    assert_int_equal(account_remove(f->a, "KEN@example.org"), ACCOUNT_OK);
    assert_false(file_exists(path));
    assert_int_equal(account_remove(f->a, "ken@example.org"), ACCOUNT_NOTFOUND);
    assert_int_equal(account_login(f->a, "ken@example.org", PW1, NULL, &au), ACCOUNT_BADAUTH);
    /* The domain is free to go now. */
    assert_int_equal(directory_domain_remove(account_directory(f->a), "example.org"), DIR_OK);
}

/* --- Passwords and the data directory ---------------------------------------------------------- */

static void generated_passwords_are_long_readable_and_distinct(void **state)
{
    char a[64], b[64], small[34];
    assert_int_equal(account_generate_password(a, sizeof a), 0);
    assert_int_equal(account_generate_password(b, sizeof b), 0);
    assert_int_equal(account_generate_password(small, sizeof small), -1);
    assert_int_equal(strlen(a), 34);
    assert_string_not_equal(a, b);
    int letters = 0;
    for (int i = 0; i < 34; i++) {
        if (i % 5 == 4) { assert_int_equal(a[i], '-'); continue; }
        assert_non_null(strchr("abcdefghijklmnopqrstuvwxyz234567", a[i]));
        letters++;
    }
    assert_true(letters * 5 >= 128);      /* 28 base32 characters: 140 bits */
    assert_true(strlen(a) >= PASSWORD_MIN_LEN);
}

static void datadir_init_is_idempotent_and_private(void **state)
{
    fixture *f = *state;
    char path[256], err[512];
    char *cert1, *cert2, *key1, *key2;
    size_t l1, l2;
    snprintf(path, sizeof path, "%s/tls/cert.pem", f->dir);
    assert_int_equal(file_read_all(path, &cert1, &l1, 1 << 20), 0);
    assert_non_null(strstr(cert1, "BEGIN CERTIFICATE"));
    snprintf(path, sizeof path, "%s/server.key", f->dir);
    assert_int_equal(file_read_all(path, &key1, &l1, 1 << 20), 0);
    assert_int_equal(l1, 32);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/tls/key.pem", f->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(f->dir, &st), 0);

    assert_int_equal(datadir_init(f->dir, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/tls/cert.pem", f->dir);
    assert_int_equal(file_read_all(path, &cert2, &l2, 1 << 20), 0);
    assert_string_equal(cert1, cert2);
    snprintf(path, sizeof path, "%s/server.key", f->dir);
    assert_int_equal(file_read_all(path, &key2, &l2, 1 << 20), 0);
    assert_memory_equal(key1, key2, 32);
    free(cert1); free(cert2); free(key1); free(key2);
    /* The domain added by setup survived. */
    assert_int_equal(directory_domain_exists(account_directory(f->a), "example.org"), 1);

    /* A missing server key next to an existing directory is an error, not a new key. */
    snprintf(path, sizeof path, "%s/server.key", f->dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(datadir_init(f->dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "server.key"));
    assert_false(file_exists(path));
}

int main(void)
{
    crypto_init();
    log_set_level(LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(create_then_login_then_cached_login, setup, teardown),
        cmocka_unit_test_setup_teardown(five_simultaneous_logins_pay_argon2id_once, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_password_is_badauth_and_costs_a_derivation, setup_cheap, teardown),
        cmocka_unit_test_setup_teardown(unknown_or_malformed_address_is_badauth_after_a_derivation, setup_cheap, teardown),
        cmocka_unit_test_setup_teardown(create_refuses_bad_input_and_duplicates, setup_cheap, teardown),
        cmocka_unit_test_setup_teardown(create_is_all_or_nothing_when_the_store_fails, setup_cheap, teardown),
        cmocka_unit_test_setup_teardown(address_is_throttled_after_limit_even_with_right_password, setup_cheap, teardown),
        cmocka_unit_test_setup_teardown(success_clears_the_address_count, setup_cheap, teardown),
        cmocka_unit_test_setup_teardown(ip_is_throttled_across_addresses, setup_cheap, teardown),
        cmocka_unit_test_setup_teardown(password_change_keeps_mailbox_and_retires_old_password, setup_cheap, teardown),
        cmocka_unit_test_setup_teardown(remove_destroys_mailbox_and_login, setup_cheap, teardown),
        cmocka_unit_test(generated_passwords_are_long_readable_and_distinct),
        cmocka_unit_test_setup_teardown(datadir_init_is_idempotent_and_private, setup_cheap, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
