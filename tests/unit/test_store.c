/*
 * test_store.c — the local store (store.h on encrypted SQLite files): keys and
 * the cipher, default folders, APPEND/FETCH, flags and modseqs, change
 * reports, \Recent across sessions, COPY/MOVE, EXPUNGE, folder hierarchy
 * operations and name rules, UIDVALIDITY, keyword limits, the change watch,
 * and that nothing readable reaches the disk.
 *
 * Every test gets a fresh data directory under /tmp and a fixed test key (any
 * 32 bytes do: the key derivation is not the store's business).
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
#include <sqlite3.h>

#include "util/buf.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "util/uidset.h"
#include "mailbox/mailbox_schema.h"
#include "mailbox/msgflags.h"
#include "store/store.h"

#define MBOX_ID "0123456789abcdef0123456789abcdef"

typedef struct fixture {
    char dir[64];
    unsigned char key[STORE_KEY_LEN];
    unsigned char seal[32];
    store_mailbox *m;
} fixture;


static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_store.XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    for (int i = 0; i < STORE_KEY_LEN; i++) f->key[i] = (unsigned char)(i * 7 + 1);
    for (int i = 0; i < 32; i++) f->seal[i] = (unsigned char)(0xa0 + i);
    if (store_create(f->dir, MBOX_ID, f->key, f->seal) != STORE_OK) return -1;
    if (store_open(f->dir, MBOX_ID, f->key, &f->m) != STORE_OK) return -1;
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

static const char MSG1[] =
    "From: Alice <alice@example.org>\r\n"
    "To: Bob <bob@example.org>\r\n"
    "Subject: hello\r\n"
    "Date: Mon, 02 Jan 2023 10:00:00 +0200\r\n"
    "\r\n"
    "Hi Bob.\r\n";

static uint32_t append_msg(store_mailbox *m, const char *folder, const char *msg, uint32_t flags)
{
    uint32_t uv = 0, uid = 0;
    assert_int_equal(store_append(m, folder, flags, NULL, 0, 1700000000, 60, msg, strlen(msg),
                                  &uv, &uid), STORE_OK);
    assert_true(uv != 0);
    return uid;
}

static int64_t folder_id(store_mailbox *m, const char *name)
{
    store_folder f;
    assert_int_equal(store_folder_status(m, name, &f), STORE_OK);
    int64_t id = f.id;
    store_folder_clear(&f);
    return id;
}

static store_folder status_of(store_mailbox *m, const char *name)
{
    store_folder f;
    assert_int_equal(store_folder_status(m, name, &f), STORE_OK);
    return f;
}

static sqlite3 *raw_open(fixture *f)
{
    return test_mailbox_db(f->dir, MBOX_ID, f->key);
}

static uidset set_of(uint32_t lo, uint32_t hi)
{
    uidset s = UIDSET_INIT;
    uidset_add_range(&s, lo, hi);
    return s;
}

/* --- Files and keys ------------------------------------------------------------------- */

static void create_open_and_wrong_key_is_badkey(void **state)
{
    fixture *f = *state;
    store_mailbox *m = NULL;
    unsigned char bad[STORE_KEY_LEN];
    memcpy(bad, f->key, sizeof bad);
    bad[31] ^= 1;
    assert_int_equal(store_open(f->dir, MBOX_ID, bad, &m), STORE_BADKEY);
    assert_null(m);
    assert_int_equal(store_open(f->dir, MBOX_ID, f->key, &m), STORE_OK);
    assert_string_equal(store_mailbox_id(m), MBOX_ID);
    store_close(m);
    assert_int_equal(store_create(f->dir, MBOX_ID, f->key, f->seal), STORE_EXISTS);
    assert_int_equal(store_open(f->dir, "ffffffffffffffffffffffffffffffff", f->key, &m),
                     STORE_NOTFOUND);
    assert_int_equal(store_open(f->dir, "../../etc/passwd", f->key, &m), STORE_INVALID);
    assert_int_equal(store_create(f->dir, "0123456789abcdef0123456789abcde/", f->key, f->seal),
                     STORE_INVALID);
}

static void seal_secret_round_trips(void **state)
{
    fixture *f = *state;
    unsigned char s[32];
    assert_int_equal(store_seal_secret(f->m, s), STORE_OK);
    assert_memory_equal(s, f->seal, 32);
}

static void file_uses_chacha20_wal_and_full_sync(void **state)
{
    fixture *f = *state;
    sqlite3 *db = raw_open(f);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA cipher", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "chacha20");
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    assert_int_equal(test_sql_int(db, "SELECT version FROM schema_version"), MAILBOX_SCHEMA_VERSION);
    sqlite3_close(db);

    /* Without the key the file is not a database at all. */
    char path[256];
    snprintf(path, sizeof path, "%s/mailboxes/%s.db", f->dir, MBOX_ID);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL),
                     SQLITE_NOTADB);
    sqlite3_close(db);
}

static void default_folders_have_special_use_and_are_subscribed(void **state)
{
    fixture *f = *state;
    store_folder *v;
    size_t n;
    assert_int_equal(store_folder_list(f->m, &v, &n), STORE_OK);
    assert_int_equal(n, 6);
    static const char *names[] = { "Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash" };
    static const unsigned special[] = { STORE_SPECIAL_ARCHIVE, STORE_SPECIAL_DRAFTS, 0,
                                        STORE_SPECIAL_JUNK, STORE_SPECIAL_SENT,
                                        STORE_SPECIAL_TRASH };
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(v[i].name, names[i]);
        assert_int_equal(v[i].special_use, special[i]);
        assert_int_equal(v[i].uidnext, 1);
        assert_true(v[i].highestmodseq >= 1);
        for (size_t j = 0; j < i; j++) assert_int_not_equal(v[i].uidvalidity, v[j].uidvalidity);
    }
    store_folders_free(v, n);
    char **subs;
    assert_int_equal(store_subscriptions(f->m, &subs, &n), STORE_OK);
    assert_int_equal(n, 6);
    assert_string_equal(subs[2], "INBOX");
    for (size_t i = 0; i < n; i++) free(subs[i]);
    free(subs);
}

/* --- APPEND and FETCH --------------------------------------------------------------------- */

static void append_then_fetch_returns_structure_and_exact_bytes(void **state)
{
    fixture *f = *state;
    uint32_t uv = 0, uid = 0;
    const char *kw[] = { "$Forwarded" };
    assert_int_equal(store_append(f->m, "inbox", MSG_FLAG_SEEN, kw, 1, 1700000000, -300,
                                  MSG1, strlen(MSG1), &uv, &uid), STORE_OK);
    assert_int_equal(uid, 1);
    store_folder st = status_of(f->m, "INBOX");
    assert_int_equal(uv, st.uidvalidity);
    assert_int_equal(st.uidnext, 2);
    assert_int_equal(st.messages, 1);
    assert_int_equal(st.unseen, 0);
    assert_int_equal(st.size, strlen(MSG1));

    store_msg msg;
    assert_int_equal(store_fetch(f->m, st.id, 1, STORE_FETCH_ENVELOPE | STORE_FETCH_BODY |
                                 STORE_FETCH_BODYSTRUCTURE | STORE_FETCH_SECTIONS |
                                 STORE_FETCH_RAW, &msg), STORE_OK);
    assert_int_equal(msg.uid, 1);
    assert_int_equal(msg.flags, MSG_FLAG_SEEN);
    assert_int_equal(msg.keywords, 1);
    assert_int_equal(msg.modseq, st.highestmodseq);
    assert_int_equal(msg.internaldate, 1700000000);
    assert_int_equal(msg.internaldate_tz, -300);
    assert_int_equal(msg.sentdate, 1672646400);       /* 2023-01-02 08:00:00 UTC */
    assert_int_equal(msg.size, strlen(MSG1));
    assert_non_null(msg.envelope);
    assert_true(strlen(msg.envelope) > 2 && msg.envelope[0] == '(');
    assert_true(strlen(msg.body) > 2 && msg.body[0] == '(');
    assert_true(strlen(msg.bodystructure) > 2 && msg.bodystructure[0] == '(');
    assert_true(msg.sections_len > 0);
    assert_int_equal(msg.raw_len, strlen(MSG1));
    assert_memory_equal(msg.raw, MSG1, strlen(MSG1));
    assert_int_equal(msg.raw[msg.raw_len], '\0');
    store_msg_clear(&msg);

    /* Without flags only the row facts are filled. */
    assert_int_equal(store_fetch(f->m, st.id, 1, 0, &msg), STORE_OK);
    assert_null(msg.raw);
    assert_null(msg.envelope);
    assert_int_equal(msg.size, strlen(MSG1));
    store_msg_clear(&msg);
    assert_int_equal(store_fetch(f->m, st.id, 2, STORE_FETCH_RAW, &msg), STORE_NOTFOUND);
    store_folder_clear(&st);

    char **kws;
    size_t nkw;
    assert_int_equal(store_keywords(f->m, &kws, &nkw), STORE_OK);
    assert_int_equal(nkw, 1);
    assert_string_equal(kws[0], "$Forwarded");
    free(kws[0]);
    free(kws);
}

static void lf_only_message_is_stored_and_sized_as_crlf(void **state)
{
    fixture *f = *state;
    const char *lf = "Subject: x\nFrom: y\n\nline1\nline2\n";
    const char *crlf = "Subject: x\r\nFrom: y\r\n\r\nline1\r\nline2\r\n";
    uint32_t uid = append_msg(f->m, "INBOX", lf, 0);
    store_msg msg;
    assert_int_equal(store_fetch(f->m, folder_id(f->m, "INBOX"), uid, STORE_FETCH_RAW, &msg),
                     STORE_OK);
    assert_int_equal(msg.size, strlen(crlf));
    assert_int_equal(msg.raw_len, strlen(crlf));
    assert_memory_equal(msg.raw, crlf, strlen(crlf));
    assert_int_equal(msg.sentdate, 0);              /* no Date: header */
    store_msg_clear(&msg);
}

static void append_refuses_missing_folder_big_message_and_bad_keyword(void **state)
{
    fixture *f = *state;
    uint32_t uv, uid;
    assert_int_equal(store_append(f->m, "Nope", 0, NULL, 0, 1, 0, MSG1, strlen(MSG1), &uv, &uid),
                     STORE_NOTFOUND);
    char *big = calloc(1, (size_t)IMAP_APPEND_MAX + 1);
    assert_int_equal(store_append(f->m, "INBOX", 0, NULL, 0, 1, 0, big,
                                  (size_t)IMAP_APPEND_MAX + 1, &uv, &uid), STORE_TOOBIG);
    free(big);
    const char *bad[] = { "with space" };
    assert_int_equal(store_append(f->m, "INBOX", 0, bad, 1, 1, 0, MSG1, strlen(MSG1), &uv, &uid),
                     STORE_INVALID);
    const char *sys[] = { "\\Seen" };
    assert_int_equal(store_append(f->m, "INBOX", 0, sys, 1, 1, 0, MSG1, strlen(MSG1), &uv, &uid),
                     STORE_INVALID);
    store_folder st = status_of(f->m, "INBOX");
    assert_int_equal(st.messages, 0);
    assert_int_equal(st.uidnext, 1);
    store_folder_clear(&st);
}

/* --- Flags and modseq ------------------------------------------------------------------- */

static void flags_change_bumps_modseq_only_when_something_changes(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 3; i++) append_msg(f->m, "INBOX", MSG1, 0);
    int64_t fid = folder_id(f->m, "INBOX");
    store_folder before = status_of(f->m, "INBOX");
    uidset s = set_of(1, 2);
    store_msgflags *out;
    size_t n;
    assert_int_equal(store_flags(f->m, fid, &s, STORE_FLAGS_ADD, MSG_FLAG_SEEN, NULL, 0, &out, &n),
                     STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].uid, 1);
    assert_int_equal(out[1].uid, 2);
    assert_int_equal(out[0].flags, MSG_FLAG_SEEN);
    assert_int_equal(out[0].modseq, out[1].modseq);
    assert_true(out[0].modseq > before.highestmodseq);
    uint64_t ms = out[0].modseq;
    free(out);
    store_folder after = status_of(f->m, "INBOX");
    assert_int_equal(after.highestmodseq, ms);
    assert_int_equal(after.unseen, 1);

    /* Adding what is there changes nothing: no reply, no modseq. */
    assert_int_equal(store_flags(f->m, fid, &s, STORE_FLAGS_ADD, MSG_FLAG_SEEN, NULL, 0, &out, &n),
                     STORE_OK);
    assert_int_equal(n, 0);
    free(out);
    store_folder same = status_of(f->m, "INBOX");
    assert_int_equal(same.highestmodseq, ms);

    /* Only message 2 actually changes. */
    uidset one3 = set_of(2, 3);
    const char *kw[] = { "Work" };
    assert_int_equal(store_flags(f->m, fid, &one3, STORE_FLAGS_SET, MSG_FLAG_SEEN, kw, 1, &out, &n),
                     STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].uid, 2);
    assert_int_equal(out[0].keywords, 1);
    assert_int_equal(out[1].uid, 3);
    assert_int_equal(out[1].flags, MSG_FLAG_SEEN);
    assert_true(out[0].modseq > ms);
    free(out);

    uidset all = set_of(1, 100);
    assert_int_equal(store_flags(f->m, fid, &all, STORE_FLAGS_REMOVE, MSG_FLAG_SEEN, kw, 1, &out, &n),
                     STORE_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(out[i].flags, 0);
        assert_int_equal(out[i].keywords, 0);
    }
    free(out);

    /* Removing an unknown keyword does not create it. */
    const char *unknown[] = { "Never" };
    assert_int_equal(store_flags(f->m, fid, &all, STORE_FLAGS_REMOVE, 0, unknown, 1, &out, &n),
                     STORE_OK);
    assert_int_equal(n, 0);
    free(out);
    char **kws;
    size_t nkw;
    assert_int_equal(store_keywords(f->m, &kws, &nkw), STORE_OK);
    assert_int_equal(nkw, 1);
    free(kws[0]);
    free(kws);

    uidset_free(&s);
    uidset_free(&one3);
    uidset_free(&all);
    store_folder_clear(&before);
    store_folder_clear(&after);
    store_folder_clear(&same);
}

static void changes_since_reports_new_changed_and_expunged(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 3; i++) append_msg(f->m, "INBOX", MSG1, 0);
    store_view v;
    assert_int_equal(store_select(f->m, "INBOX", 1, &v), STORE_OK);
    assert_int_equal(v.nmsgs, 3);
    uint64_t since = v.highestmodseq;
    int64_t fid = v.folder_id;
    store_view_clear(&v);

    append_msg(f->m, "INBOX", MSG1, 0);                         /* uid 4 */
    uidset one = set_of(1, 1), two = set_of(2, 2);
    store_msgflags *out;
    size_t n;
    assert_int_equal(store_flags(f->m, fid, &one, STORE_FLAGS_ADD, MSG_FLAG_FLAGGED, NULL, 0,
                                 &out, &n), STORE_OK);
    free(out);
    assert_int_equal(store_flags(f->m, fid, &two, STORE_FLAGS_ADD, MSG_FLAG_DELETED, NULL, 0,
                                 &out, &n), STORE_OK);
    free(out);
    uidset gone = UIDSET_INIT;
    assert_int_equal(store_expunge(f->m, fid, NULL, &gone), STORE_OK);

    store_changes c;
    assert_int_equal(store_changes_since(f->m, fid, since, 0, &c), STORE_OK);
    assert_int_equal(c.nchanged, 2);
    assert_int_equal(c.changed[0].uid, 1);
    assert_int_equal(c.changed[0].flags, MSG_FLAG_FLAGGED);
    assert_int_equal(c.changed[1].uid, 4);
    assert_int_equal(uidset_count(&c.expunged), 1);
    assert_true(uidset_contains(&c.expunged, 2));
    assert_int_equal(c.uidnext, 5);
    assert_int_equal(c.first_recent_uid, 0);
    uint64_t now = c.highestmodseq;
    assert_true(now > since);
    store_changes_clear(&c);

    /* Nothing since now. */
    assert_int_equal(store_changes_since(f->m, fid, now, 0, &c), STORE_OK);
    assert_int_equal(c.nchanged, 0);
    assert_int_equal(c.expunged.n, 0);
    store_changes_clear(&c);

    uidset_free(&one);
    uidset_free(&two);
    uidset_free(&gone);
}

static void recent_is_seen_by_the_first_select_only(void **state)
{
    fixture *f = *state;
    store_mailbox *b = NULL;
    assert_int_equal(store_open(f->dir, MBOX_ID, f->key, &b), STORE_OK);
    append_msg(f->m, "INBOX", MSG1, 0);
    append_msg(b, "INBOX", MSG1, 0);

    store_view va, vb;
    /* EXAMINE sees recent messages without taking them away. */
    assert_int_equal(store_select(b, "INBOX", 0, &vb), STORE_OK);
    assert_int_equal(vb.first_recent_uid, 1);
    store_view_clear(&vb);
    assert_int_equal(store_select(f->m, "INBOX", 1, &va), STORE_OK);
    assert_int_equal(va.first_recent_uid, 1);              /* 1 and 2 are \Recent for A */
    assert_int_equal(va.uidnext, 3);
    assert_int_equal(store_select(b, "INBOX", 1, &vb), STORE_OK);
    assert_int_equal(vb.first_recent_uid, 3);              /* none for B */
    store_folder st = status_of(b, "INBOX");
    assert_int_equal(st.recent, 0);
    store_folder_clear(&st);

    append_msg(f->m, "INBOX", MSG1, 0);                     /* uid 3 */
    store_changes cb, ca;
    assert_int_equal(store_changes_since(b, vb.folder_id, vb.highestmodseq, 1, &cb), STORE_OK);
    assert_int_equal(cb.first_recent_uid, 3);              /* B claims 3 */
    assert_int_equal(store_changes_since(f->m, va.folder_id, va.highestmodseq, 1, &ca), STORE_OK);
    assert_int_equal(ca.first_recent_uid, 4);              /* A sees 3 arrive, not recent */
    assert_int_equal(ca.nchanged, 1);
    store_changes_clear(&ca);
    store_changes_clear(&cb);
    store_view_clear(&va);
    store_view_clear(&vb);
    store_close(b);
}

typedef struct writer_arg {
    fixture *f;
    int ok;
} writer_arg;

static void *writer_thread(void *p)
{
    writer_arg *a = p;
    store_mailbox *m = NULL;
    if (store_open(a->f->dir, MBOX_ID, a->f->key, &m) != STORE_OK) return NULL;
    for (int i = 0; i < 15; i++) {
        uint32_t uv, uid;
        if (store_append(m, "INBOX", 0, NULL, 0, 1, 0, MSG1, strlen(MSG1), &uv, &uid) == STORE_OK)
            a->ok++;
    }
    store_close(m);
    return NULL;
}

static void concurrent_writers_on_separate_handles_all_succeed(void **state)
{
    fixture *f = *state;
    pthread_t t[3];
    writer_arg a[3];
    for (int i = 0; i < 3; i++) {
        a[i].f = f;
        a[i].ok = 0;
        assert_int_equal(pthread_create(&t[i], NULL, writer_thread, &a[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].ok, 15);
    }
    store_view v;
    assert_int_equal(store_select(f->m, "INBOX", 0, &v), STORE_OK);
    assert_int_equal(v.nmsgs, 45);
    for (size_t i = 0; i < v.nmsgs; i++) assert_int_equal(v.msgs[i].uid, i + 1);
    /* Every append took its own modseq. */
    for (size_t i = 1; i < v.nmsgs; i++) assert_true(v.msgs[i].modseq > v.msgs[i - 1].modseq);
    store_view_clear(&v);
}

/* --- COPY, MOVE, EXPUNGE ------------------------------------------------------------------ */

static void copy_shares_body_and_reports_copyuid(void **state)
{
    fixture *f = *state;
    append_msg(f->m, "INBOX", MSG1, MSG_FLAG_SEEN);
    append_msg(f->m, "INBOX", MSG1, 0);
    append_msg(f->m, "INBOX", MSG1, MSG_FLAG_FLAGGED);
    append_msg(f->m, "Archive", MSG1, 0);                 /* Archive uid 1 */
    int64_t fid = folder_id(f->m, "INBOX");
    uidset s = UIDSET_INIT;
    uidset_add(&s, 3);
    uidset_add(&s, 1);
    uidset_add(&s, 99);
    store_copyuid cu;
    assert_int_equal(store_copy(f->m, fid, &s, "Archive", 0, &cu), STORE_OK);
    store_folder ar = status_of(f->m, "Archive");
    assert_int_equal(cu.uidvalidity, ar.uidvalidity);
    assert_int_equal(cu.n, 2);
    assert_int_equal(cu.src[0], 1);
    assert_int_equal(cu.dst[0], 2);
    assert_int_equal(cu.src[1], 3);
    assert_int_equal(cu.dst[1], 3);
    assert_int_equal(ar.messages, 3);
    assert_int_equal(ar.uidnext, 4);
    store_copyuid_clear(&cu);

    store_msg msg;
    assert_int_equal(store_fetch(f->m, ar.id, 3, STORE_FETCH_RAW, &msg), STORE_OK);
    assert_int_equal(msg.flags, MSG_FLAG_FLAGGED);
    assert_memory_equal(msg.raw, MSG1, strlen(MSG1));
    store_msg_clear(&msg);

    sqlite3 *db = raw_open(f);
    assert_int_equal(test_sql_int(db, "SELECT count(*) FROM bodies"), 4);
    assert_int_equal(test_sql_int(db, "SELECT sum(refcount) FROM bodies"), 6);

    assert_int_equal(store_copy(f->m, fid, &s, "Missing", 0, &cu), STORE_NOTFOUND);
    assert_int_equal(store_copy(f->m, fid, &s, "a//b", 0, &cu), STORE_INVALID);

    /* Deleting both folders' messages drops every body. */
    store_folder_create(f->m, "Tmp", 0);
    assert_int_equal(store_folder_delete(f->m, "Archive"), STORE_OK);
    assert_int_equal(test_sql_int(db, "SELECT count(*) FROM bodies"), 3);
    assert_int_equal(test_sql_int(db, "SELECT sum(refcount) FROM bodies"), 3);
    sqlite3_close(db);
    uidset_free(&s);
    store_folder_clear(&ar);
}

static void move_expunges_sources_with_tombstones(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 3; i++) append_msg(f->m, "INBOX", MSG1, 0);
    store_view v;
    assert_int_equal(store_select(f->m, "INBOX", 1, &v), STORE_OK);
    uidset s = set_of(2, 3);
    store_copyuid cu;
    assert_int_equal(store_copy(f->m, v.folder_id, &s, "Trash", 1, &cu), STORE_OK);
    assert_int_equal(cu.n, 2);
    assert_int_equal(cu.dst[0], 1);
    assert_int_equal(cu.dst[1], 2);
    store_copyuid_clear(&cu);
    store_changes c;
    assert_int_equal(store_changes_since(f->m, v.folder_id, v.highestmodseq, 0, &c), STORE_OK);
    assert_int_equal(c.nchanged, 0);
    assert_int_equal(uidset_count(&c.expunged), 2);
    assert_true(uidset_contains(&c.expunged, 2) && uidset_contains(&c.expunged, 3));
    store_changes_clear(&c);
    store_folder in = status_of(f->m, "INBOX"), tr = status_of(f->m, "Trash");
    assert_int_equal(in.messages, 1);
    assert_int_equal(tr.messages, 2);
    assert_int_equal(in.highestmodseq, tr.highestmodseq);   /* one transaction, one modseq */
    store_folder_clear(&in);
    store_folder_clear(&tr);
    store_view_clear(&v);
    uidset_free(&s);
}

static void expunge_removes_deleted_restricted_to_only(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 4; i++) append_msg(f->m, "INBOX", MSG1, i == 1 ? 0 : MSG_FLAG_DELETED);
    int64_t fid = folder_id(f->m, "INBOX");
    uidset only = set_of(3, 4), gone = UIDSET_INIT;
    assert_int_equal(store_expunge(f->m, fid, &only, &gone), STORE_OK);
    assert_int_equal(uidset_count(&gone), 2);
    assert_true(uidset_contains(&gone, 3) && uidset_contains(&gone, 4));
    assert_int_equal(store_expunge(f->m, fid, NULL, &gone), STORE_OK);
    assert_int_equal(uidset_count(&gone), 1);
    assert_true(uidset_contains(&gone, 1));
    assert_int_equal(store_expunge(f->m, fid, NULL, &gone), STORE_OK);
    assert_int_equal(gone.n, 0);
    store_folder st = status_of(f->m, "INBOX");
    assert_int_equal(st.messages, 1);
    assert_int_equal(st.uidnext, 5);                    /* uids are never reused */
    store_folder_clear(&st);
    uidset_free(&only);
    uidset_free(&gone);
}

/* --- Folders -------------------------------------------------------------------------------- */

static void create_makes_parents_and_normalises_inbox(void **state)
{
    fixture *f = *state;
    assert_int_equal(store_folder_create(f->m, "a/b/c", 0), STORE_OK);
    assert_int_equal(store_folder_create(f->m, "inbox/Sub", STORE_SPECIAL_FLAGGED), STORE_OK);
    assert_int_equal(store_folder_create(f->m, "x/", 0), STORE_OK);     /* RFC 3501 6.3.3 */
    assert_int_equal(store_folder_create(f->m, "a/b", 0), STORE_EXISTS);
    assert_int_equal(store_folder_create(f->m, "Inbox", 0), STORE_EXISTS);
    assert_int_equal(store_folder_create(f->m, "q", 0x80), STORE_INVALID);
    store_folder *v;
    size_t n;
    assert_int_equal(store_folder_list(f->m, &v, &n), STORE_OK);
    const char *want[] = { "Archive", "Drafts", "INBOX", "INBOX/Sub", "Junk", "Sent", "Trash",
                           "a", "a/b", "a/b/c", "x" };
    assert_int_equal(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n; i++) assert_string_equal(v[i].name, want[i]);
    assert_int_equal(v[3].special_use, STORE_SPECIAL_FLAGGED);
    store_folders_free(v, n);
}

static void invalid_names_are_refused(void **state)
{
    fixture *f = *state;
    static const char *const invalid[] = {
        "", "/a", "a//b", ".", "..", "a/./b", "a/../b", "tab\there", "del\x7f",
        "\xff", "\xc0\xaf", "\xed\xa0\x80", "c1\xc2\x85", "//",
    };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        assert_int_equal(store_folder_create(f->m, invalid[i], 0), STORE_INVALID);
    char longname[IMAP_MAILBOX_NAME_MAX + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(store_folder_create(f->m, longname, 0), STORE_LIMIT);
    longname[IMAP_MAILBOX_NAME_MAX] = '\0';
    assert_int_equal(store_folder_create(f->m, longname, 0), STORE_OK);
    buf deep = BUF_INIT;
    for (int i = 0; i <= IMAP_MAILBOX_DEPTH_MAX; i++) buf_puts(&deep, i ? "/d" : "d");
    assert_int_equal(store_folder_create(f->m, deep.p, 0), STORE_LIMIT);
    buf_free(&deep);
    assert_int_equal(store_folder_create(f->m, "Grüße/日本", 0), STORE_OK);
    assert_int_equal(store_subscribe(f->m, "a//b", 1), STORE_INVALID);
    store_view v;
    assert_int_equal(store_select(f->m, "/x", 0, &v), STORE_INVALID);
    assert_int_equal(store_select(f->m, "x/", 0, &v), STORE_INVALID);
    assert_int_equal(store_select(f->m, "NoSuch", 0, &v), STORE_NOTFOUND);
}

static void rename_moves_children_and_refuses_bad_targets(void **state)
{
    fixture *f = *state;
    assert_int_equal(store_folder_create(f->m, "a/x/y", 0), STORE_OK);
    append_msg(f->m, "a/x", MSG1, 0);
    store_folder ax = status_of(f->m, "a/x");
    assert_int_equal(store_folder_rename(f->m, "a", "b/c"), STORE_OK);
    store_folder bx = status_of(f->m, "b/c/x");
    assert_int_equal(bx.id, ax.id);
    assert_int_equal(bx.uidvalidity, ax.uidvalidity);
    assert_int_equal(bx.messages, 1);
    store_folder st;
    assert_int_equal(store_folder_status(f->m, "a", &st), STORE_NOTFOUND);
    assert_int_equal(store_folder_status(f->m, "a/x/y", &st), STORE_NOTFOUND);
    st = status_of(f->m, "b/c/x/y");
    store_folder_clear(&st);
    st = status_of(f->m, "b");
    store_folder_clear(&st);

    assert_int_equal(store_folder_rename(f->m, "b/c", "b/c/d"), STORE_NOPERM);
    assert_int_equal(store_folder_rename(f->m, "b/c", "Sent"), STORE_EXISTS);
    assert_int_equal(store_folder_rename(f->m, "b/c", "b/c"), STORE_EXISTS);
    assert_int_equal(store_folder_rename(f->m, "nope", "q"), STORE_NOTFOUND);
    assert_int_equal(store_folder_rename(f->m, "Sent", "INBOX"), STORE_EXISTS);
    store_folder_clear(&ax);
    store_folder_clear(&bx);
}

static void rename_inbox_moves_messages_and_keeps_inbox(void **state)
{
    fixture *f = *state;
    assert_int_equal(store_folder_create(f->m, "INBOX/kid", 0), STORE_OK);
    append_msg(f->m, "INBOX", MSG1, MSG_FLAG_SEEN);
    append_msg(f->m, "INBOX", MSG1, 0);
    append_msg(f->m, "INBOX", MSG1, 0);
    int64_t fid = folder_id(f->m, "INBOX");
    uidset one = set_of(1, 1), gone = UIDSET_INIT;
    uidset_add(&one, 1);
    store_msgflags *o;
    size_t n;
    assert_int_equal(store_flags(f->m, fid, &one, STORE_FLAGS_ADD, MSG_FLAG_DELETED, NULL, 0, &o, &n),
                     STORE_OK);
    free(o);
    assert_int_equal(store_expunge(f->m, fid, NULL, &gone), STORE_OK);
    store_view v;
    assert_int_equal(store_select(f->m, "INBOX", 0, &v), STORE_OK);

    assert_int_equal(store_folder_rename(f->m, "INBOX", "Old/Inbox"), STORE_OK);
    store_folder in = status_of(f->m, "INBOX"), old = status_of(f->m, "Old/Inbox");
    assert_int_equal(in.messages, 0);
    assert_int_equal(in.uidnext, 4);                       /* INBOX keeps its uid space */
    assert_int_equal(in.uidvalidity, v.uidvalidity);
    assert_int_equal(old.messages, 2);
    assert_int_equal(old.uidnext, 3);
    assert_int_not_equal(old.uidvalidity, in.uidvalidity);
    store_msg msg;
    assert_int_equal(store_fetch(f->m, old.id, 1, STORE_FETCH_RAW, &msg), STORE_OK);
    assert_int_equal(msg.flags, 0);                          /* was uid 2 */
    store_msg_clear(&msg);
    store_folder kid = status_of(f->m, "INBOX/kid");          /* children stay */
    store_folder_clear(&kid);

    store_changes c;
    assert_int_equal(store_changes_since(f->m, v.folder_id, v.highestmodseq, 0, &c), STORE_OK);
    assert_int_equal(uidset_count(&c.expunged), 2);
    store_changes_clear(&c);
    store_view_clear(&v);
    store_folder_clear(&in);
    store_folder_clear(&old);
    uidset_free(&one);
    uidset_free(&gone);
}

static void delete_refuses_inbox_keeps_children_and_drops_messages(void **state)
{
    fixture *f = *state;
    assert_int_equal(store_folder_delete(f->m, "INBOX"), STORE_NOPERM);
    assert_int_equal(store_folder_delete(f->m, "inbox"), STORE_NOPERM);
    assert_int_equal(store_folder_create(f->m, "p/q", 0), STORE_OK);
    assert_int_equal(store_folder_create(f->m, "r/s", 0), STORE_OK);
    assert_int_equal(store_folder_delete(f->m, "r"), STORE_OK);      /* children stay */
    store_folder st;
    assert_int_equal(store_folder_status(f->m, "r/s", &st), STORE_OK);
    store_folder_clear(&st);
    assert_int_equal(store_folder_status(f->m, "r", &st), STORE_NOTFOUND);
    assert_int_equal(store_folder_delete(f->m, "r"), STORE_NOTFOUND);
    assert_int_equal(store_folder_delete(f->m, "nope"), STORE_NOTFOUND);
    append_msg(f->m, "p/q", MSG1, 0);
    int64_t fid = folder_id(f->m, "p/q");
    assert_int_equal(store_folder_delete(f->m, "p/q"), STORE_OK);
    assert_int_equal(store_folder_delete(f->m, "p"), STORE_OK);

    /* A session still holding the folder learns that it is gone. */
    store_changes c;
    assert_int_equal(store_changes_since(f->m, fid, 0, 0, &c), STORE_GONE);
    store_msg msg;
    assert_int_equal(store_fetch(f->m, fid, 1, STORE_FETCH_RAW, &msg), STORE_GONE);
    uidset s = set_of(1, 1), gone = UIDSET_INIT;
    assert_int_equal(store_expunge(f->m, fid, NULL, &gone), STORE_GONE);
    store_copyuid cu;
    assert_int_equal(store_copy(f->m, fid, &s, "INBOX", 0, &cu), STORE_GONE);
    /* And a new folder never takes over its id. */
    assert_int_equal(store_folder_create(f->m, "p/q", 0), STORE_OK);
    assert_true(folder_id(f->m, "p/q") > fid);
    sqlite3 *db = raw_open(f);
    assert_int_equal(test_sql_int(db, "SELECT count(*) FROM bodies"), 0);
    sqlite3_close(db);
    uidset_free(&s);
    uidset_free(&gone);
}

static void uidvalidity_is_never_reused_after_delete_and_create(void **state)
{
    fixture *f = *state;
    uint32_t seen[5];
    for (int i = 0; i < 5; i++) {
        assert_int_equal(store_folder_create(f->m, "Again", 0), STORE_OK);
        store_folder st = status_of(f->m, "Again");
        seen[i] = st.uidvalidity;
        store_folder_clear(&st);
        for (int j = 0; j < i; j++) assert_true(seen[i] > seen[j]);
        assert_int_equal(store_folder_delete(f->m, "Again"), STORE_OK);
    }
}

static void subscriptions_are_names_independent_of_folders(void **state)
{
    fixture *f = *state;
    assert_int_equal(store_subscribe(f->m, "Ghost/x", 1), STORE_OK);
    assert_int_equal(store_subscribe(f->m, "Ghost/x", 1), STORE_OK);
    assert_int_equal(store_subscribe(f->m, "Sent", 0), STORE_OK);
    assert_int_equal(store_subscribe(f->m, "Sent", 0), STORE_OK);
    char **v;
    size_t n;
    assert_int_equal(store_subscriptions(f->m, &v, &n), STORE_OK);
    const char *want[] = { "Archive", "Drafts", "Ghost/x", "INBOX", "Junk", "Trash" };
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(v[i], want[i]);
        free(v[i]);
    }
    free(v);
}

static void keywords_beyond_the_limit_are_refused(void **state)
{
    fixture *f = *state;
    append_msg(f->m, "INBOX", MSG1, 0);
    int64_t fid = folder_id(f->m, "INBOX");
    uidset s = set_of(1, 1);
    char names[IMAP_KEYWORDS_MAX + 1][16];
    const char *ptr[IMAP_KEYWORDS_MAX + 1];
    for (int i = 0; i <= IMAP_KEYWORDS_MAX; i++) {
        snprintf(names[i], sizeof names[i], "kw%d", i);
        ptr[i] = names[i];
    }
    store_msgflags *o;
    size_t n;
    assert_int_equal(store_flags(f->m, fid, &s, STORE_FLAGS_ADD, 0, ptr, IMAP_KEYWORDS_MAX, &o, &n),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(o[0].keywords, UINT64_MAX);
    free(o);
    assert_int_equal(store_flags(f->m, fid, &s, STORE_FLAGS_ADD, 0, ptr + IMAP_KEYWORDS_MAX, 1,
                                 &o, &n), STORE_LIMIT);
    /* Keywords match case-insensitively, so KW0 is not a new one. */
    const char *upper[] = { "KW0" };
    assert_int_equal(store_flags(f->m, fid, &s, STORE_FLAGS_REMOVE, 0, upper, 1, &o, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(o[0].keywords, UINT64_MAX - 1);
    free(o);
    uidset_free(&s);
}

/* --- Change watch -------------------------------------------------------------------------- */

typedef struct watch_probe {
    fixture *f;
    int calls;
    int64_t visible;          /* messages a fresh connection saw inside the callback */
} watch_probe;

/* Runs with the registry lock held: it must not assert (a longjmp out of it
 * would leave the lock taken), so it only records what it saw. */
static void watch_cb(void *arg)
{
    watch_probe *p = arg;
    p->calls++;
    char path[256], key[80];
    snprintf(path, sizeof path, "%s/mailboxes/%s.db", p->f->dir, MBOX_ID);
    strcpy(key, "raw:");
    for (int i = 0; i < STORE_KEY_LEN; i++) sprintf(key + 4 + 2 * i, "%02x", p->f->key[i]);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    p->visible = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_key_v2(db, "main", key, (int)strlen(key)) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM messages", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        p->visible = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void watch_is_called_after_commit_from_another_handle(void **state)
{
    fixture *f = *state;
    watch_probe p = { f, 0, -1 };
    store_watch *w = store_watch_add(MBOX_ID, watch_cb, &p);
    assert_non_null(w);
    store_watch *other = store_watch_add("ffffffffffffffffffffffffffffffff", watch_cb, &p);
    store_mailbox *b = NULL;
    assert_int_equal(store_open(f->dir, MBOX_ID, f->key, &b), STORE_OK);
    append_msg(b, "INBOX", MSG1, 0);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.visible, 1);                 /* committed before the call */
    /* A STORE that changes nothing wakes nobody. */
    uidset s = set_of(1, 1);
    store_msgflags *o;
    size_t n;
    assert_int_equal(store_flags(b, folder_id(b, "INBOX"), &s, STORE_FLAGS_REMOVE, MSG_FLAG_SEEN,
                                 NULL, 0, &o, &n), STORE_OK);
    free(o);
    assert_int_equal(p.calls, 1);
    store_watch_remove(w);
    append_msg(b, "INBOX", MSG1, 0);
    assert_int_equal(p.calls, 1);
    store_watch_remove(other);
    store_close(b);
    uidset_free(&s);
}

/* --- Nothing readable on disk ------------------------------------------------------------- */


static void mailbox_files_hold_no_plaintext(void **state)
{
    fixture *f = *state;
    const char *msg =
        "From: Canary <canary-from@example.org>\r\n"
        "Subject: CanarySubject7391\r\n"
        "\r\n"
        "CanaryBody7391 CanaryBody7391 CanaryBody7391\r\n";
    append_msg(f->m, "INBOX", msg, 0);
    assert_int_equal(store_folder_create(f->m, "CanaryFolder7391", 0), STORE_OK);
    int64_t fid = folder_id(f->m, "INBOX");
    uidset s = set_of(1, 1);
    const char *kw[] = { "CanaryKeyword7391" };
    store_msgflags *o;
    size_t n;
    assert_int_equal(store_flags(f->m, fid, &s, STORE_FLAGS_ADD, 0, kw, 1, &o, &n), STORE_OK);
    free(o);
    uidset_free(&s);

    const char *canaries[] = { "CanarySubject7391", "CanaryBody7391", "canary-from@example.org",
                               "CanaryFolder7391", "CanaryKeyword7391", "SQLite format 3" };
    const char *suffixes[] = { "", "-wal", "-shm" };
    char path[256];
    int checked = 0;
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/mailboxes/%s.db%s", f->dir, MBOX_ID, suffixes[i]);
        if (!file_exists(path)) continue;
        checked++;
        for (size_t j = 0; j < sizeof canaries / sizeof canaries[0]; j++)
            assert_false(file_contains(path, canaries[j]));
    }
    assert_true(checked >= 2);              /* the file and its WAL at least */
    /* The subject is really in there: reading it back proves the check above
     * was looking at the right bytes. */
    sqlite3 *db = raw_open(f);
    assert_int_equal(test_sql_int(db, "SELECT count(*) FROM messages WHERE hdr_subject = 'CanarySubject7391'"), 1);
    sqlite3_close(db);
}

static void destroy_removes_every_file(void **state)
{
    fixture *f = *state;
    append_msg(f->m, "INBOX", MSG1, 0);
    store_close(f->m);
    f->m = NULL;
    assert_int_equal(store_destroy(f->dir, MBOX_ID), STORE_OK);
    char path[256];
    const char *suffixes[] = { "", "-wal", "-shm" };
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/mailboxes/%s.db%s", f->dir, MBOX_ID, suffixes[i]);
        assert_false(file_exists(path));
    }
    assert_int_equal(store_open(f->dir, MBOX_ID, f->key, &f->m), STORE_NOTFOUND);
    assert_int_equal(store_destroy(f->dir, MBOX_ID), STORE_NOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(create_open_and_wrong_key_is_badkey, setup, teardown),
        cmocka_unit_test_setup_teardown(seal_secret_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(file_uses_chacha20_wal_and_full_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(default_folders_have_special_use_and_are_subscribed, setup, teardown),
        cmocka_unit_test_setup_teardown(append_then_fetch_returns_structure_and_exact_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(lf_only_message_is_stored_and_sized_as_crlf, setup, teardown),
        cmocka_unit_test_setup_teardown(append_refuses_missing_folder_big_message_and_bad_keyword, setup, teardown),
        cmocka_unit_test_setup_teardown(flags_change_bumps_modseq_only_when_something_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(changes_since_reports_new_changed_and_expunged, setup, teardown),
        cmocka_unit_test_setup_teardown(recent_is_seen_by_the_first_select_only, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_writers_on_separate_handles_all_succeed, setup, teardown),
        cmocka_unit_test_setup_teardown(copy_shares_body_and_reports_copyuid, setup, teardown),
        cmocka_unit_test_setup_teardown(move_expunges_sources_with_tombstones, setup, teardown),
        cmocka_unit_test_setup_teardown(expunge_removes_deleted_restricted_to_only, setup, teardown),
        cmocka_unit_test_setup_teardown(create_makes_parents_and_normalises_inbox, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_names_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(rename_moves_children_and_refuses_bad_targets, setup, teardown),
        cmocka_unit_test_setup_teardown(rename_inbox_moves_messages_and_keeps_inbox, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_refuses_inbox_keeps_children_and_drops_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(uidvalidity_is_never_reused_after_delete_and_create, setup, teardown),
        cmocka_unit_test_setup_teardown(subscriptions_are_names_independent_of_folders, setup, teardown),
        cmocka_unit_test_setup_teardown(keywords_beyond_the_limit_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(watch_is_called_after_commit_from_another_handle, setup, teardown),
        cmocka_unit_test_setup_teardown(mailbox_files_hold_no_plaintext, setup, teardown),
        cmocka_unit_test_setup_teardown(destroy_removes_every_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
