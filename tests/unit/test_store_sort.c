/*
 * test_store_sort.c — store_sort_records(): the facts SORT and THREAD use
 * (RFC 5256, RFC 5957 DISPLAY), their strings exactly, the uid selection,
 * copies sharing a body, and a file of schema version 2 being upgraded (its
 * messages get their sort facts at the next open).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include <sqlite3.h>

#include "util/uidset.h"
#include "mailbox/mailbox_schema.h"
#include "store/store.h"

#define MBOX_ID "0123456789abcdef0123456789abcdef"

typedef struct fixture {
    char dir[64];
    unsigned char key[STORE_KEY_LEN];
    unsigned char seal[32];
    store_mailbox *m;
    int64_t inbox;
} fixture;

static int64_t folder_id(store_mailbox *m, const char *name)
{
    store_folder f;
    assert_int_equal(store_folder_status(m, name, &f), STORE_OK);
    int64_t id = f.id;
    store_folder_clear(&f);
    return id;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_store_sort.XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    for (int i = 0; i < STORE_KEY_LEN; i++) f->key[i] = (unsigned char)(i * 5 + 3);
    for (int i = 0; i < 32; i++) f->seal[i] = (unsigned char)(0x40 + i);
    if (store_create(f->dir, MBOX_ID, f->key, f->seal) != STORE_OK) return -1;
    if (store_open(f->dir, MBOX_ID, f->key, &f->m) != STORE_OK) return -1;
    f->inbox = folder_id(f->m, "INBOX");
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

static uint32_t append(store_mailbox *m, const char *folder, const char *msg, int64_t when)
{
    uint32_t uv = 0, uid = 0;
    assert_int_equal(store_append(m, folder, 0, NULL, 0, when, 0, msg, strlen(msg), &uv, &uid),
                     STORE_OK);
    return uid;
}

static const char FULL[] =
    "From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.org>, bob@example.org\r\n"
    "To: undisclosed:; \"Carol Q.\" <carol@example.net>\r\n"
    "Cc: dave (Dave D) @ example.com\r\n"
    "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus\r\n" /* unfolding keeps both spaces */
    "  Berlin\r\n"
    "Date: Tue, 03 Jan 2023 10:00:00 +0100\r\n"
    "Message-ID: junk <abc@host.example> <second@x>\r\n"
    "In-Reply-To: <parent@host>\r\n"
    "References: <root@host>\r\n"
    "\t<parent@host>\r\n"
    "\r\n"
    "body\r\n";

static const char BARE[] = "X-Nothing: here\r\n\r\nno usual headers\r\n";

static const char NONAME[] =
    "From: solo@example.com\r\n"
    "To: MAILER-DAEMON\r\n"
    "Subject: plain\r\n"
    "\r\n"
    "x\r\n";

static void records_hold_decoded_subject_and_first_addresses(void **state)
{
    fixture *f = *state;
    uint32_t uid = append(f->m, "INBOX", FULL, 1700000000);
    store_sortrec *r = NULL;
    size_t n = 0;
    assert_int_equal(store_sort_records(f->m, f->inbox, NULL, STORE_SORT_ALL, &r, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].uid, uid);
    assert_int_equal(r[0].internaldate, 1700000000);
    assert_int_equal(r[0].sentdate, 1672736400);           /* 2023-01-03 09:00:00 UTC */
    assert_int_equal(r[0].size, strlen(FULL));
    assert_string_equal(r[0].subject, "Gr\xc3\xbc\xc3\x9f" "e aus  Berlin");
    assert_string_equal(r[0].from, "juergen");
    assert_string_equal(r[0].from_display, "J\xc3\xbcrgen M\xc3\xbcller");
    /* A field that starts with a group sorts on the group's name: it is the
     * first address of the ENVELOPE (RFC 5256; Dovecot does the same). */
    assert_string_equal(r[0].to, "undisclosed");
    assert_string_equal(r[0].to_display, "undisclosed");
    assert_string_equal(r[0].cc, "dave");
    assert_string_equal(r[0].message_id, "<abc@host.example>");
    assert_string_equal(r[0].in_reply_to, "<parent@host>");
    assert_string_equal(r[0].references, "<root@host>\t<parent@host>");
    store_sortrecs_free(r, n);
}

static void only_the_facts_asked_for_are_filled(void **state)
{
    fixture *f = *state;
    append(f->m, "INBOX", FULL, 1700000000);
    store_sortrec *r = NULL;
    size_t n = 0;
    assert_int_equal(store_sort_records(f->m, f->inbox, NULL, 0, &r, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].internaldate, 1700000000);
    assert_int_equal(r[0].sentdate, 1672736400);
    assert_int_equal(r[0].size, strlen(FULL));
    assert_null(r[0].subject);
    assert_null(r[0].from);
    assert_null(r[0].references);
    store_sortrecs_free(r, n);
    assert_int_equal(store_sort_records(f->m, f->inbox, NULL, STORE_SORT_SUBJECT | STORE_SORT_THREADING,
                                        &r, &n), STORE_OK);
    assert_string_equal(r[0].subject, "Gr\xc3\xbc\xc3\x9f" "e aus  Berlin");
    assert_string_equal(r[0].message_id, "<abc@host.example>");
    assert_string_equal(r[0].references, "<root@host>\t<parent@host>");
    assert_null(r[0].from);
    assert_null(r[0].to_display);
    store_sortrecs_free(r, n);
    assert_int_equal(store_sort_records(f->m, f->inbox, NULL, STORE_SORT_ADDRESSES | STORE_SORT_DISPLAY,
                                        &r, &n), STORE_OK);
    assert_null(r[0].subject);
    assert_string_equal(r[0].from, "juergen");
    assert_string_equal(r[0].cc, "dave");
    assert_string_equal(r[0].to_display, "undisclosed");
    assert_null(r[0].message_id);
    store_sortrecs_free(r, n);
}

static void absent_headers_are_empty_strings_and_display_falls_back_to_addr_spec(void **state)
{
    fixture *f = *state;
    append(f->m, "INBOX", BARE, 1700000000);
    append(f->m, "INBOX", NONAME, 1700000100);
    store_sortrec *r = NULL;
    size_t n = 0;
    assert_int_equal(store_sort_records(f->m, f->inbox, NULL, STORE_SORT_ALL, &r, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(r[0].subject, "");
    assert_string_equal(r[0].from, "");
    assert_string_equal(r[0].from_display, "");
    assert_string_equal(r[0].to, "");
    assert_string_equal(r[0].cc, "");
    assert_string_equal(r[0].message_id, "");
    assert_string_equal(r[0].in_reply_to, "");
    assert_string_equal(r[0].references, "");
    assert_int_equal(r[0].sentdate, 0);
    assert_string_equal(r[1].subject, "plain");
    assert_string_equal(r[1].from, "solo");
    assert_string_equal(r[1].from_display, "solo@example.com");
    /* No host: the addr-spec is the mailbox alone. */
    assert_string_equal(r[1].to, "MAILER-DAEMON");
    assert_string_equal(r[1].to_display, "MAILER-DAEMON");
    store_sortrecs_free(r, n);
}

static void uid_set_selects_records_in_ascending_uid_order(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 6; i++) append(f->m, "INBOX", i % 2 ? NONAME : BARE, 1700000000 + i);
    uidset s = UIDSET_INIT;
    uidset_add(&s, 5);
    uidset_add_range(&s, 1, 2);
    uidset_add(&s, 99);
    store_sortrec *r = NULL;
    size_t n = 0;
    assert_int_equal(store_sort_records(f->m, f->inbox, &s, STORE_SORT_ALL, &r, &n), STORE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(r[0].uid, 1);
    assert_int_equal(r[1].uid, 2);
    assert_int_equal(r[2].uid, 5);
    assert_string_equal(r[1].subject, "plain");
    store_sortrecs_free(r, n);
    uidset_clear(&s);
    assert_int_equal(store_sort_records(f->m, f->inbox, &s, STORE_SORT_ALL, &r, &n), STORE_OK);
    assert_int_equal(n, 0);
    uidset_free(&s);
    assert_int_equal(store_sort_records(f->m, 99999, NULL, STORE_SORT_ALL, &r, &n), STORE_GONE);
}

static void copies_and_moves_keep_their_records_until_the_last_is_expunged(void **state)
{
    fixture *f = *state;
    append(f->m, "INBOX", FULL, 1700000000);
    uidset one = UIDSET_INIT;
    uidset_add(&one, 1);
    store_copyuid cu;
    assert_int_equal(store_copy(f->m, f->inbox, &one, "Archive", 0, &cu), STORE_OK);
    store_copyuid_clear(&cu);
    assert_int_equal(store_copy(f->m, f->inbox, &one, "Trash", 1, &cu), STORE_OK);
    store_copyuid_clear(&cu);
    store_sortrec *r = NULL;
    size_t n = 0;
    assert_int_equal(store_sort_records(f->m, f->inbox, NULL, STORE_SORT_ALL, &r, &n), STORE_OK);
    assert_int_equal(n, 0);
    int64_t archive = folder_id(f->m, "Archive"), trash = folder_id(f->m, "Trash");
    assert_int_equal(store_sort_records(f->m, trash, NULL, STORE_SORT_ALL, &r, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].from, "juergen");
    store_sortrecs_free(r, n);
    assert_int_equal(store_folder_delete(f->m, "Trash"), STORE_OK);
    assert_int_equal(store_sort_records(f->m, archive, NULL, STORE_SORT_ALL, &r, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].cc, "dave");
    store_sortrecs_free(r, n);
    uidset_free(&one);
}

static sqlite3 *raw_open(fixture *f)
{
    return test_mailbox_db(f->dir, MBOX_ID, f->key);
}

/* Turns the file back into what schema version 2 made: no index tables. */
static void downgrade_to_v2(fixture *f)
{
    store_close(f->m);
    f->m = NULL;
    sqlite3 *db = raw_open(f);
    assert_int_equal(sqlite3_exec(db,
        "DROP TRIGGER bodies_index_unref; DROP TABLE body_sort; DROP TABLE body_fts; DROP TABLE head_fts;"
        "DROP INDEX messages_facts; DELETE FROM meta WHERE key = 'index_version';"
        "UPDATE schema_version SET version = 2;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void version_2_file_is_upgraded_and_indexed_at_open(void **state)
{
    fixture *f = *state;
    append(f->m, "INBOX", FULL, 1700000000);
    append(f->m, "INBOX", NONAME, 1700000001);
    downgrade_to_v2(f);
    assert_int_equal(store_open(f->dir, MBOX_ID, f->key, &f->m), STORE_OK);
    sqlite3 *db = raw_open(f);
    assert_int_equal(test_sql_int(db, "SELECT version FROM schema_version"), MAILBOX_SCHEMA_VERSION);
    assert_int_equal(test_sql_int(db, "SELECT count(*) FROM body_sort"), 2);
    assert_int_equal(test_sql_int(db, "SELECT value FROM meta WHERE key = 'index_version'"), 1);
    sqlite3_close(db);
    store_sortrec *r = NULL;
    size_t n = 0;
    assert_int_equal(store_sort_records(f->m, f->inbox, NULL, STORE_SORT_ALL, &r, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(r[0].subject, "Gr\xc3\xbc\xc3\x9f" "e aus  Berlin");
    assert_string_equal(r[0].references, "<root@host>\t<parent@host>");
    assert_string_equal(r[1].from, "solo");
    store_sortrecs_free(r, n);
}

static void records_without_index_rows_are_parsed_on_the_spot(void **state)
{
    fixture *f = *state;
    append(f->m, "INBOX", FULL, 1700000000);
    sqlite3 *db = raw_open(f);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM body_sort", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    store_sortrec *r = NULL;
    size_t n = 0;
    assert_int_equal(store_sort_records(f->m, f->inbox, NULL, STORE_SORT_ALL, &r, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].from_display, "J\xc3\xbcrgen M\xc3\xbcller");
    assert_string_equal(r[0].message_id, "<abc@host.example>");
    store_sortrecs_free(r, n);
    /* A rebuild puts the row back. */
    assert_int_equal(store_reindex(f->m), STORE_OK);
    db = raw_open(f);
    assert_int_equal(test_sql_int(db, "SELECT count(*) FROM body_sort"), 1);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(records_hold_decoded_subject_and_first_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(only_the_facts_asked_for_are_filled, setup, teardown),
        cmocka_unit_test_setup_teardown(absent_headers_are_empty_strings_and_display_falls_back_to_addr_spec, setup, teardown),
        cmocka_unit_test_setup_teardown(uid_set_selects_records_in_ascending_uid_order, setup, teardown),
        cmocka_unit_test_setup_teardown(copies_and_moves_keep_their_records_until_the_last_is_expunged, setup, teardown),
        cmocka_unit_test_setup_teardown(version_2_file_is_upgraded_and_indexed_at_open, setup, teardown),
        cmocka_unit_test_setup_teardown(records_without_index_rows_are_parsed_on_the_spot, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
