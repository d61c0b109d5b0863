/*
 * imap_cmd_backup.c — what IMAP sessions have to do with backups: noticing that
 * `sealbox backup restore` replaced the mailbox under them, starting the daily
 * backup while a session holds the key, and the XBACKUP command.
 *
 * SUMMARY
 *   imap_backup_replaced(s)   1 when the mailbox file's generation differs from
 *                             the one the session first saw; the first look (the
 *                             first command after login) also tells the backup
 *                             runner that the mailbox's key is live
 *   imap_cmd_xbackup(s)       XBACKUP (Sealbox extension, capability X-BACKUP):
 *                             runs the backup pipeline now and answers
 *                             "tag OK [X-BACKUP <version>] stored" or
 *                             "tag OK [X-BACKUP <version>] unchanged" (the newest
 *                             stored version), "tag NO [UNAVAILABLE] ..." on
 *                             failure (the reason is logged, not sent)
 *
 * WHY
 *   A restore writes the backup's pages into the live file in one transaction
 *   (store_backup.h), so the session's SQLite handle stays valid and reads the
 *   restored content; but the client's view (sequence numbers, UIDs, modseqs,
 *   even folder ids) belongs to the old content. The session checks the
 *   generation before each command and says BYE (as for a selected folder
 *   deleted by someone else); the client reconnects and sees the restored state.
 *
 * COST
 *   One indexed read of the meta table per command. XBACKUP holds its worker for
 *   the whole pipeline (snapshot, check, upload): seconds for a large mailbox on
 *   a slow link; the daily backups run on the runner's own thread instead.
 */
#include <stdint.h>

#include "util/log.h"
#include "store/account.h"
#include "store/store.h"
#include "store/store_backup.h"
#include "backup/backup.h"
#include "imap/imap_server.h"
#include "imap/imap_session.h"

int imap_backup_replaced(imap_session *s)
{
    uint64_t gen;
    if (!s->store || store_generation(s->store, &gen) != STORE_OK) return 0;
    if (s->store_generation == 0) {
        s->store_generation = gen;
        backup_runner_login(s->srv->backups, store_mailbox_id(s->store));
        return 0;
    }
    if (gen == s->store_generation) return 0;
    log_info("imap", "conn %llu mailbox %s: restored from a backup; closing the session", s->id,
             store_mailbox_id(s->store));
    return 1;
}

void imap_cmd_xbackup(imap_session *s, imap_cmd *cmd)
{
    (void)cmd;
    if (!s->srv->backups || !s->store || !s->auth) {
        imap_set_reply(s, IMAP_REPLY_NO, "UNAVAILABLE", "Backups are not configured.");
        return;
    }
    backup_result res;
    char err[1024];
    if (backup_runner_now(s->srv->backups, s->store, account_auth_key(s->auth), &res, err, sizeof err) != 0) {
        log_warn("imap", "conn %llu mailbox %s: XBACKUP failed: %s", s->id, store_mailbox_id(s->store), err);
        imap_set_reply(s, IMAP_REPLY_NO, "UNAVAILABLE", "Backup failed.");
        return;
    }
    log_info("imap", "conn %llu mailbox %s: XBACKUP: %s %s", s->id, store_mailbox_id(s->store),
             res.unchanged ? "unchanged" : "stored", res.version);
    imap_set_replyf(s, IMAP_REPLY_OK, res.unchanged ? "unchanged" : "stored", "X-BACKUP %s", res.version);
}
