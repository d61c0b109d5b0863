/*
 * store_search.c — store_search(): which messages of a folder match a search
 * program (search/search.h).
 *
 * Today every message's metadata row is given to search/search_eval.c, and only
 * a message whose match depends on its text is decompressed and scanned.
 */
#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "util/buf.h"
#include "util/uidset.h"
#include "search/search.h"
#include "search/search_eval.h"
#include "store/store.h"
#include "store/store_internal.h"

store_status store_search(store_mailbox *m, int64_t folder_id, const search_node *prog,
                          uidset *result)
{
    uidset_clear(result);
    if (!prog) return STORE_INVALID;
    store_status res = STORE_ERROR;
    sqlite3_stmt *st = NULL;
    search_eval *ev = NULL;
    char **kw = NULL;
    size_t nkw = 0;
    buf raw = BUF_INIT;
    if (store_tx_begin(m, 0) < 0) goto done;
    store_folder_row f;
    int found = store_folder_by_id(m, folder_id, &f);
    if (found <= 0) { res = found < 0 ? STORE_ERROR : STORE_GONE; goto done; }
    if (store_keywords_load(m, &kw, &nkw) < 0) goto done;
    ev = search_eval_new(prog, (const char *const *)kw, nkw);
    if (!ev) { res = STORE_INVALID; goto done; }
    st = store_db_prepare(m,
        "SELECT uid, flags, keywords, internaldate, internaldate_tz, sentdate, sentdate_tz,"
        " size, body_id FROM messages WHERE folder_id = ? ORDER BY uid");
    if (!st) goto done;
    sqlite3_bind_int64(st, 1, folder_id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        search_msg sm;
        memset(&sm, 0, sizeof sm);
        sm.uid = (uint32_t)sqlite3_column_int64(st, 0);
        sm.flags = (uint32_t)sqlite3_column_int(st, 1);
        sm.keywords = (uint64_t)sqlite3_column_int64(st, 2);
        sm.internaldate = sqlite3_column_int64(st, 3);
        sm.internaldate_tz = sqlite3_column_int(st, 4);
        sm.has_sentdate = sqlite3_column_type(st, 5) != SQLITE_NULL;
        sm.sentdate = sqlite3_column_int64(st, 5);
        sm.sentdate_tz = sqlite3_column_int(st, 6);
        sm.size = (uint64_t)sqlite3_column_int64(st, 7);
        search_match r = search_eval_msg(ev, &sm);
        if (r == SEARCH_MATCH_UNKNOWN) {
            /* Only now is the message worth decompressing. */
            buf_reset(&raw);
            if (store_body_load(m, sqlite3_column_int64(st, 8), (size_t)sm.size, &raw) < 0) goto done;
            sm.raw = buf_cstr(&raw);
            sm.raw_len = raw.len;
            r = search_eval_msg(ev, &sm);
        }
        if (r == SEARCH_MATCH_YES) uidset_add(result, sm.uid);
    }
    if (rc != SQLITE_DONE) { store_db_fail(m, "search"); goto done; }
    sqlite3_finalize(st);
    st = NULL;
    if (store_tx_commit(m) < 0) goto done;
    res = STORE_OK;
done:
    sqlite3_finalize(st);
    store_tx_rollback(m);
    search_eval_free(ev);
    store_names_free(kw, nkw);
    buf_free(&raw);
    if (res != STORE_OK) uidset_clear(result);
    return res;
}
