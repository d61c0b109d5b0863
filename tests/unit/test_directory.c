/*
 * test_directory.c — the embedded directory: domains, aliases, key slots, name
 * rules, the wrong-key refusal, the server key file, and that neither the
 * database nor its WAL holds an address or domain in plaintext.
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

#include "util/fsutil.h"
#include "util/limits.h"
#include "util/log.h"
#include "crypto/secmem.h"
#include "directory/directory.h"

typedef struct fixture {
    char dir[64];
    char path[128];
    unsigned char key[DIRECTORY_KEY_LEN];
    directory *d;
} fixture;


static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_directory.XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/directory.db", f->dir);
    for (int i = 0; i < DIRECTORY_KEY_LEN; i++) f->key[i] = (unsigned char)(0x40 + i);
    char err[256];
    f->d = directory_open_file(f->path, f->key, err, sizeof err);
    if (!f->d) { fprintf(stderr, "%s\n", err); return -1; }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    directory_close(f->d);
    rm_rf(f->dir);
    free(f);
    return 0;
}

static directory_alias make_alias(const char *address, char idc)
{
    directory_alias a;
    memset(&a, 0, sizeof a);
    snprintf(a.address, sizeof a.address, "%s", address);
    memset(a.mailbox_id, idc, DIRECTORY_MAILBOX_ID_LEN);
    a.mailbox_id[DIRECTORY_MAILBOX_ID_LEN] = '\0';
    for (int i = 0; i < DIRECTORY_SEAL_PUBLIC_LEN; i++) a.seal_public[i] = (unsigned char)(idc + i);
    a.quota = 1000000;
    return a;
}

static const unsigned char SLOT_A[] = "slot-a-bytes-0123456789";
static const unsigned char SLOT_B[] = "slot-b-bytes-9876543210";

/* --- Names --------------------------------------------------------------------------- */

static void domain_names_follow_rfc1035_labels(void **state)
{
    char out[300];
    static const char *const good[] = {
        "example.org", "EXAMPLE.Org", "a.b", "x", "mail-1.example.org", "1example.org",
        "xn--bcher-kva.example", "a123456789012345678901234567890123456789012345678901234567890bc.org",
    };
    static const char *const bad[] = {
        "", ".", "example.org.", ".example.org", "exa..mple.org", "-example.org", "example-.org",
        "exa_mple.org", "exa mple.org", "exämple.org", "192.168.1.1", "example.123",
        "a1234567890123456789012345678901234567890123456789012345678901bcd.org",   /* 64-octet label */
        "example.org/x", "ex@mple.org",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(directory_domain_normalise(good[i], out, sizeof out), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(directory_domain_normalise(bad[i], out, sizeof out), -1);
    assert_int_equal(directory_domain_normalise("MaIl.Example.ORG", out, sizeof out), 0);
    assert_string_equal(out, "mail.example.org");
    /* 253 octets is the most. */
    char longname[300];
    memset(longname, 'a', 253);
    for (int i = 63; i < 253; i += 64) longname[i] = '.';
    longname[253] = '\0';
    assert_int_equal(directory_domain_normalise(longname, out, sizeof out), 0);
    longname[253] = 'a';
    longname[254] = '\0';
    assert_int_equal(directory_domain_normalise(longname, out, sizeof out), -1);
}

static void addresses_are_dot_atoms_lowercased(void **state)
{
    char out[ADDRESS_MAX_LEN + 1];
    static const char *const good[] = {
        "hello@example.org", "first.last@example.org", "a+tag@example.org",
        "o'brien@example.org", "x!#$%&'*+-/=?^_`{|}~@example.org", "1@a.b",
    };
    static const char *const bad[] = {
        "", "@example.org", "hello@", "hello", "hello@@example.org", ".hello@example.org",
        "hello.@example.org", "hel..lo@example.org", "\"quoted\"@example.org", "hel lo@example.org",
        "hello@[127.0.0.1]", "hello@example..org", "hél@example.org", "hello@example.org.",
        "a(b)@example.org", "a,b@example.org", "a\n@example.org",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(directory_address_normalise(good[i], out, sizeof out), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(directory_address_normalise(bad[i], out, sizeof out), -1);
    assert_int_equal(directory_address_normalise("Hello.World@Example.ORG", out, sizeof out), 0);
    assert_string_equal(out, "hello.world@example.org");

    /* Local part: 64 octets at most. Whole address: ADDRESS_MAX_LEN. */
    char addr[400];
    memset(addr, 'l', 64);
    snprintf(addr + 64, sizeof addr - 64, "@example.org");
    assert_int_equal(directory_address_normalise(addr, out, sizeof out), 0);
    memset(addr, 'l', 65);
    snprintf(addr + 65, sizeof addr - 65, "@example.org");
    assert_int_equal(directory_address_normalise(addr, out, sizeof out), -1);
    /* 64 + '@' + a 190-octet domain (labels of 49) = 255 octets: one too many. */
    memset(addr, 'l', 64);
    addr[64] = '@';
    for (size_t i = 0; i < 190; i++) addr[65 + i] = (i % 50 == 49) ? '.' : 'd';
    addr[255] = '\0';
    assert_int_equal(directory_address_normalise(addr, out, sizeof out), -1);
    addr[254] = '\0';                                  /* 254 = ADDRESS_MAX_LEN */
    assert_int_equal(directory_address_normalise(addr, out, sizeof out), 0);
}

/* --- Domains ------------------------------------------------------------------------------ */

static void domains_add_list_exists_remove(void **state)
{
    fixture *f = *state;
    assert_int_equal(directory_domain_add(f->d, "Example.ORG"), DIR_OK);
    assert_int_equal(directory_domain_add(f->d, "example.org"), DIR_EXISTS);
    assert_int_equal(directory_domain_add(f->d, "beta.example"), DIR_OK);
    assert_int_equal(directory_domain_add(f->d, "bad..name"), DIR_INVALID);
    char **names;
    size_t n;
    assert_int_equal(directory_domain_list(f->d, &names, &n), DIR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "beta.example");
    assert_string_equal(names[1], "example.org");
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    assert_int_equal(directory_domain_exists(f->d, "EXAMPLE.org"), 1);
    assert_int_equal(directory_domain_exists(f->d, "other.org"), 0);
    assert_int_equal(directory_domain_remove(f->d, "beta.example"), DIR_OK);
    assert_int_equal(directory_domain_remove(f->d, "beta.example"), DIR_NOTFOUND);
    assert_int_equal(directory_domain_exists(f->d, "beta.example"), 0);
}

static void domain_with_aliases_cannot_be_removed(void **state)
{
    fixture *f = *state;
    assert_int_equal(directory_domain_add(f->d, "example.org"), DIR_OK);
    directory_alias a = make_alias("one@example.org", 'a');
    assert_int_equal(directory_alias_add(f->d, &a, NULL, 0, NULL), DIR_OK);
    assert_int_equal(directory_domain_remove(f->d, "example.org"), DIR_NOTEMPTY);
    assert_int_equal(directory_domain_exists(f->d, "example.org"), 1);
    assert_int_equal(directory_alias_remove(f->d, "one@example.org"), DIR_OK);
    assert_int_equal(directory_domain_remove(f->d, "example.org"), DIR_OK);
}

/* --- Aliases ------------------------------------------------------------------------------- */

static void alias_needs_its_domain(void **state)
{
    fixture *f = *state;
    directory_alias a = make_alias("one@example.org", 'a');
    assert_int_equal(directory_alias_add(f->d, &a, SLOT_A, sizeof SLOT_A, NULL), DIR_NOTFOUND);
    directory_alias got;
    assert_int_equal(directory_alias_lookup(f->d, "one@example.org", &got), DIR_NOTFOUND);
}

static void alias_add_lookup_list_remove(void **state)
{
    fixture *f = *state;
    assert_int_equal(directory_domain_add(f->d, "example.org"), DIR_OK);
    assert_int_equal(directory_domain_add(f->d, "other.net"), DIR_OK);
    directory_alias a = make_alias("Zed@Example.org", 'a');
    directory_alias b = make_alias("amy@example.org", 'b');
    directory_alias c = make_alias("cy@other.net", 'c');
    int64_t sid = 0;
    assert_int_equal(directory_alias_add(f->d, &a, SLOT_A, sizeof SLOT_A, &sid), DIR_OK);
    assert_true(sid > 0);
    assert_int_equal(directory_alias_add(f->d, &b, NULL, 0, NULL), DIR_OK);
    assert_int_equal(directory_alias_add(f->d, &c, NULL, 0, NULL), DIR_OK);

    /* Duplicates: same address in another case, or same mailbox id. */
    directory_alias dup = make_alias("ZED@example.org", 'd');
    assert_int_equal(directory_alias_add(f->d, &dup, NULL, 0, NULL), DIR_EXISTS);
    directory_alias dupid = make_alias("new@example.org", 'a');
    assert_int_equal(directory_alias_add(f->d, &dupid, NULL, 0, NULL), DIR_EXISTS);
    directory_alias badid = make_alias("new@example.org", 'A');   /* uppercase hex refused */
    assert_int_equal(directory_alias_add(f->d, &badid, NULL, 0, NULL), DIR_INVALID);

    directory_alias got;
    assert_int_equal(directory_alias_lookup(f->d, "zed@EXAMPLE.ORG", &got), DIR_OK);
    assert_string_equal(got.address, "zed@example.org");
    assert_string_equal(got.mailbox_id, a.mailbox_id);
    assert_memory_equal(got.seal_public, a.seal_public, DIRECTORY_SEAL_PUBLIC_LEN);
    assert_int_equal(got.quota, 1000000);
    assert_true(got.created > 1600000000);
    assert_int_equal(directory_alias_lookup(f->d, "nobody@example.org", &got), DIR_NOTFOUND);
    assert_int_equal(directory_alias_lookup(f->d, "not an address", &got), DIR_INVALID);

    directory_alias *v;
    size_t n;
    assert_int_equal(directory_alias_list(f->d, NULL, &v, &n), DIR_OK);
    assert_int_equal(n, 3);
    assert_string_equal(v[0].address, "amy@example.org");
    assert_string_equal(v[1].address, "cy@other.net");
    assert_string_equal(v[2].address, "zed@example.org");
    free(v);
    assert_int_equal(directory_alias_list(f->d, "OTHER.net", &v, &n), DIR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].address, "cy@other.net");
    free(v);

    assert_int_equal(directory_alias_remove(f->d, "zed@example.org"), DIR_OK);
    assert_int_equal(directory_alias_remove(f->d, "zed@example.org"), DIR_NOTFOUND);
    assert_int_equal(directory_alias_lookup(f->d, "zed@example.org", &got), DIR_NOTFOUND);
    /* Its key slot went with it. */
    directory_keyslot *s;
    assert_int_equal(directory_keyslot_list(f->d, "zed@example.org", &s, &n), DIR_NOTFOUND);
    /* And the address can be created again. */
    assert_int_equal(directory_alias_add(f->d, &a, SLOT_B, sizeof SLOT_B, NULL), DIR_OK);
    assert_int_equal(directory_keyslot_list(f->d, "zed@example.org", &s, &n), DIR_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(s[0].blob, SLOT_B, sizeof SLOT_B);
    directory_keyslots_free(s, n);
}

/* --- Key slots ------------------------------------------------------------------------------ */

static void keyslots_add_list_remove_replace(void **state)
{
    fixture *f = *state;
    assert_int_equal(directory_domain_add(f->d, "example.org"), DIR_OK);
    directory_alias a = make_alias("one@example.org", 'a');
    int64_t first = 0, second = 0, third = 0;
    assert_int_equal(directory_alias_add(f->d, &a, SLOT_A, sizeof SLOT_A, &first), DIR_OK);
    assert_int_equal(directory_keyslot_add(f->d, "ONE@example.org", SLOT_B, sizeof SLOT_B, &second), DIR_OK);
    assert_true(second > first);
    assert_int_equal(directory_keyslot_add(f->d, "two@example.org", SLOT_B, sizeof SLOT_B, NULL), DIR_NOTFOUND);

    directory_keyslot *s;
    size_t n;
    assert_int_equal(directory_keyslot_list(f->d, "one@example.org", &s, &n), DIR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(s[0].id, first);
    assert_int_equal(s[0].len, sizeof SLOT_A);
    assert_memory_equal(s[0].blob, SLOT_A, sizeof SLOT_A);
    assert_int_equal(s[1].id, second);
    assert_memory_equal(s[1].blob, SLOT_B, sizeof SLOT_B);
    directory_keyslots_free(s, n);

    /* Replace: the old id goes, a new id (never a reused one) comes. */
    assert_int_equal(directory_keyslot_replace(f->d, "one@example.org", first, SLOT_B, sizeof SLOT_B, &third),
                     DIR_OK);
    assert_true(third > second);
    assert_int_equal(directory_keyslot_replace(f->d, "one@example.org", first, SLOT_B, sizeof SLOT_B, NULL),
                     DIR_NOTFOUND);
    assert_int_equal(directory_keyslot_list(f->d, "one@example.org", &s, &n), DIR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(s[0].id, second);
    assert_int_equal(s[1].id, third);
    directory_keyslots_free(s, n);

    assert_int_equal(directory_keyslot_remove(f->d, "one@example.org", second), DIR_OK);
    assert_int_equal(directory_keyslot_remove(f->d, "one@example.org", second), DIR_NOTFOUND);
    /* A slot id of another alias cannot be removed through this one. */
    directory_alias b = make_alias("two@example.org", 'b');
    int64_t other = 0;
    assert_int_equal(directory_alias_add(f->d, &b, SLOT_A, sizeof SLOT_A, &other), DIR_OK);
    assert_int_equal(directory_keyslot_remove(f->d, "one@example.org", other), DIR_NOTFOUND);
    assert_int_equal(directory_keyslot_replace(f->d, "one@example.org", other, SLOT_B, sizeof SLOT_B, NULL),
                     DIR_NOTFOUND);

    /* Removing the newest slot and adding one never reuses its id. */
    assert_int_equal(directory_keyslot_remove(f->d, "two@example.org", other), DIR_OK);
    int64_t again = 0;
    assert_int_equal(directory_keyslot_add(f->d, "two@example.org", SLOT_A, sizeof SLOT_A, &again), DIR_OK);
    assert_true(again > other);
}

static void keyslots_per_alias_are_limited(void **state)
{
    fixture *f = *state;
    assert_int_equal(directory_domain_add(f->d, "example.org"), DIR_OK);
    directory_alias a = make_alias("one@example.org", 'a');
    assert_int_equal(directory_alias_add(f->d, &a, SLOT_A, sizeof SLOT_A, NULL), DIR_OK);
    for (int i = 1; i < KEYSLOTS_PER_ADDRESS_MAX; i++)
        assert_int_equal(directory_keyslot_add(f->d, "one@example.org", SLOT_B, sizeof SLOT_B, NULL), DIR_OK);
    assert_int_equal(directory_keyslot_add(f->d, "one@example.org", SLOT_B, sizeof SLOT_B, NULL), DIR_LIMIT);
    unsigned char huge[DIRECTORY_KEYSLOT_MAX + 1] = { 0 };
    assert_int_equal(directory_keyslot_replace(f->d, "one@example.org", 1, huge, sizeof huge, NULL), DIR_INVALID);
}

/* --- Files and keys ------------------------------------------------------------------------- */


static void database_and_wal_hold_no_plaintext_addresses(void **state)
{
    fixture *f = *state;
    assert_int_equal(directory_domain_add(f->d, "canarydomain.example"), DIR_OK);
    directory_alias a = make_alias("canaryuser@canarydomain.example", 'e');
    assert_int_equal(directory_alias_add(f->d, &a, SLOT_A, sizeof SLOT_A, NULL), DIR_OK);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    /* While open the rows sit in the WAL; after close in the main file. */
    struct stat st;
    assert_int_equal(stat(wal, &st), 0);
    assert_true(st.st_size > 4096);
    for (int pass = 0; pass < 2; pass++) {
        const char *files[] = { f->path, wal };
        for (int i = 0; i < 2; i++) {
            assert_false(file_contains(files[i], "canary"));
            assert_false(file_contains(files[i], "CANARY"));
            assert_false(file_contains(files[i], a.mailbox_id));
            assert_false(file_contains(files[i], "SQLite format"));
            assert_false(file_contains(files[i], "CREATE TABLE"));
        }
        if (pass == 0) {
            directory_close(f->d);
            char err[256];
            f->d = directory_open_file(f->path, f->key, err, sizeof err);
            assert_non_null(f->d);
        }
    }
    /* The data really is there, behind the key. */
    directory_alias got;
    assert_int_equal(directory_alias_lookup(f->d, "canaryuser@canarydomain.example", &got), DIR_OK);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void wrong_key_does_not_open(void **state)
{
    fixture *f = *state;
    assert_int_equal(directory_domain_add(f->d, "example.org"), DIR_OK);
    directory_close(f->d);
    unsigned char other[DIRECTORY_KEY_LEN];
    memcpy(other, f->key, sizeof other);
    other[31] ^= 1;
    char err[256] = "";
    assert_null(directory_open_file(f->path, other, err, sizeof err));
    assert_non_null(strstr(err, "server.key"));
    f->d = directory_open_file(f->path, f->key, err, sizeof err);
    assert_non_null(f->d);
    assert_int_equal(directory_domain_exists(f->d, "example.org"), 1);
}

static void open_reads_the_server_key_file(void **state)
{
    fixture *f = *state;
    char err[256] = "", keypath[160];
    snprintf(keypath, sizeof keypath, "%s/server.key", f->dir);
    /* No key file: a clear refusal that names init. */
    assert_null(directory_open(f->dir, err, sizeof err));
    assert_non_null(strstr(err, "init"));
    /* A key of the wrong size is refused. */
    assert_int_equal(file_write_atomic(keypath, f->key, 31, 0600), 0);
    assert_null(directory_open(f->dir, err, sizeof err));
    assert_non_null(strstr(err, "32 bytes"));
    unsigned char longer[33];
    memcpy(longer, f->key, 32);
    longer[32] = 0;
    assert_int_equal(file_write_atomic(keypath, longer, 33, 0600), 0);
    assert_null(directory_open(f->dir, err, sizeof err));
    /* The right key opens the fixture's file, which another handle shares. */
    assert_int_equal(file_write_atomic(keypath, f->key, 32, 0600), 0);
    assert_int_equal(directory_domain_add(f->d, "shared.example"), DIR_OK);
    directory *d2 = directory_open(f->dir, err, sizeof err);
    assert_non_null(d2);
    assert_int_equal(directory_domain_exists(d2, "shared.example"), 1);
    directory_close(d2);
}

int main(void)
{
    crypto_init();
    log_set_level(LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(domain_names_follow_rfc1035_labels),
        cmocka_unit_test(addresses_are_dot_atoms_lowercased),
        cmocka_unit_test_setup_teardown(domains_add_list_exists_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(domain_with_aliases_cannot_be_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(alias_needs_its_domain, setup, teardown),
        cmocka_unit_test_setup_teardown(alias_add_lookup_list_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(keyslots_add_list_remove_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(keyslots_per_alias_are_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(database_and_wal_hold_no_plaintext_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_key_does_not_open, setup, teardown),
        cmocka_unit_test_setup_teardown(open_reads_the_server_key_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
