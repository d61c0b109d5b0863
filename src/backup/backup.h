/*
 * backup.h — backups of mailbox files (DESIGN.md "Backups"): snapshot, verify,
 * hash, upload to a target, keep N versions; list, download, restore; purge.
 *
 * SUMMARY
 *   backup_config_load(datadir, target, cfg)    sealbox.conf + environment
 *   backup_target_open(cfg) / _close            a local folder or an S3 bucket
 *   backup_target_list/put/get/delete           versions of one mailbox
 *   backup_run(datadir, m, key, cfg, result)    the whole pipeline once
 *   backup_restore(datadir, id, key, cfg, ver)  download, verify, swap in
 *   backup_purge(cfg, id)                       every version of a mailbox
 *   backup_sha256_file(path, hex)
 *   backup_runner_start/_stop                   sealboxd's daily backups (backup_runner.c)
 *   backup_runner_login(r, id)                  a session of mailbox `id` is live
 *   backup_runner_now(r, m, key, result)        on demand (IMAP XBACKUP)
 *
 * TARGETS AND NAMES
 *   A target is "s3://bucket/prefix", "file:///absolute/path", or a path (relative
 *   paths are inside the data directory; the default "backups" is DIR/backups).
 *   A version is stored as <prefix>/<mailbox id>/<version>.db where <version> is
 *   the UTC time of the snapshot, "YYYYMMDDTHHMMSS.mmmZ": names never carry an
 *   address, and they sort by age. Its SHA-256 and its content hash are kept
 *   beside it: S3 object metadata x-amz-meta-sha256 and x-amz-meta-state; a
 *   local target a "<version>.meta" file.
 *
 * CONFIGURATION (precedence: --target, then environment, then sealbox.conf)
 *   backup_target            SEALBOX_BACKUP_TARGET
 *   s3_endpoint              SEALBOX_S3_ENDPOINT   ("" = https://s3.<region>.amazonaws.com)
 *   s3_region                AWS_REGION, then AWS_DEFAULT_REGION
 *   s3_access_key            AWS_ACCESS_KEY_ID
 *   s3_secret_key            AWS_SECRET_ACCESS_KEY
 *   backup_keep, backup_daily, s3_part_size  (config only)
 *   The environment wins over the file because that is where operators and CI
 *   keep credentials that must not sit in a file.
 *
 * PROMISES
 *   - Only encrypted bytes leave the mailbox file: the snapshot is written by
 *     SQLite3MC under the mailbox's own key (store_backup.h), in DIR/tmp (0700),
 *     and removed when done. No address is in any name or log line.
 *   - A snapshot is uploaded only after it opened with the key and passed
 *     quick_check; a version is restored only after its SHA-256 matched what
 *     was stored and it passed integrity_check. The live mailbox is untouched
 *     when anything fails.
 *   - "unchanged": when the snapshot's content hash equals the newest stored
 *     version's, nothing is uploaded. (Not the file's SHA-256: the cipher
 *     draws a fresh nonce per page written, so two snapshots of the same
 *     content never share a byte pattern; see store_snapshot_verify.)
 *   - After a successful upload the oldest versions beyond `keep` are deleted.
 *
 * DIAGNOSTICS
 *   Functions return 0 or -1 with one sentence in err (fit for the CLI and the
 *   log: no secret, no address).
 */
#ifndef SEALBOX_BACKUP_H
#define SEALBOX_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define BACKUP_URL_MAX 1024
#define BACKUP_VERSION_MAX 32          /* "20261129T101500.123Z" and room */
#define BACKUP_SHA256_HEX 65

typedef struct backup_config {
    char target[BACKUP_URL_MAX];       /* as configured: s3://, file:// or a path */
    char datadir[4096];
    int keep;
    int daily;                         /* backup_daily */
    char s3_endpoint[512];
    char s3_region[64];
    char s3_access_key[256];
    char s3_secret_key[256];
    size_t part_size;
    const int *cancel;                 /* when set and *cancel != 0, S3 transfers stop
                                          (sealboxd's shutdown); NULL for the CLI */
} backup_config;

/* Reads DATADIR/sealbox.conf and the environment (see above); `target` (may be
 * NULL) overrides the configured target. */
int backup_config_load(const char *datadir, const char *target, backup_config *cfg,
                       char *err, size_t errlen);
/* Wipes the secret from the struct. */
void backup_config_clear(backup_config *cfg);

typedef struct backup_version {
    char version[BACKUP_VERSION_MAX];  /* "20261129T101500.123Z" */
    char sha256[BACKUP_SHA256_HEX];    /* of the stored file; "" when the target does not know it */
    char state[BACKUP_SHA256_HEX];     /* of the logical content (store_backup.h); "" unknown */
    uint64_t size;
} backup_version;

typedef struct backup_target backup_target;

backup_target *backup_target_open(const backup_config *cfg, char *err, size_t errlen);
void backup_target_close(backup_target *t);
/* 1 for S3, 0 for a local folder. */
int backup_target_is_s3(const backup_target *t);
/* The versions of one mailbox, oldest first (malloc'ed; free()). */
int backup_target_list(backup_target *t, const char *mailbox_id, backup_version **out, size_t *n,
                       char *err, size_t errlen);
/* Uploads the file at `path` as <id>/<version>.db with its SHA-256 and its
 * content hash (hex) as metadata. */
int backup_target_put(backup_target *t, const char *mailbox_id, const char *version,
                      const char *path, const char *sha256, const char *state,
                      char *err, size_t errlen);
/* Downloads a version to `path` (created 0600, must not exist); `size` from the
 * listing bounds what an S3 server may send (0: unbounded). */
int backup_target_get(backup_target *t, const char *mailbox_id, const char *version,
                      uint64_t size, const char *path, char *err, size_t errlen);
int backup_target_delete(backup_target *t, const char *mailbox_id, const char *version,
                         char *err, size_t errlen);

/* The hex SHA-256 of a file. 0 or -1. */
int backup_sha256_file(const char *path, char hex[BACKUP_SHA256_HEX]);

typedef struct backup_result {
    int unchanged;                     /* 1: same bytes as the newest version, not uploaded */
    char version[BACKUP_VERSION_MAX];  /* the new version, or the newest when unchanged */
    char sha256[BACKUP_SHA256_HEX];    /* of the snapshot file */
    char state[BACKUP_SHA256_HEX];     /* of its content */
    uint64_t size;
    uint64_t lock_us;                  /* write lock held while snapshotting */
    uint64_t snapshot_us;
    size_t deleted;                    /* old versions removed (keep) */
} backup_result;

/* The pipeline once for the open mailbox `m` (its data key is `key`). */
int backup_run(const char *datadir, store_mailbox *m, const unsigned char key[STORE_KEY_LEN],
               const backup_config *cfg, backup_result *res, char *err, size_t errlen);

/* Restores `version` (NULL: the newest) of mailbox `id` from the target. */
int backup_restore(const char *datadir, const char *mailbox_id, const unsigned char key[STORE_KEY_LEN],
                   const backup_config *cfg, const char *version, char *restored,
                   size_t restored_len, char *err, size_t errlen);

/* Deletes every version of mailbox `id` at the target; *deleted counts them. */
int backup_purge(const backup_config *cfg, const char *mailbox_id, size_t *deleted,
                 char *err, size_t errlen);

/* --- sealboxd: daily backups while a key is available (backup_runner.c) ---------- */

typedef struct backup_runner backup_runner;

/* Loads the configuration of DATADIR (sealbox.conf + environment) and starts
 * the runner's thread; removes snapshots left in DATADIR/tmp by a crash. NULL
 * with a sentence in err. */
backup_runner *backup_runner_start(const char *datadir, char *err, size_t errlen);
void backup_runner_stop(backup_runner *r);
/* A session of mailbox `id` logged in: once BACKUP_LOGIN_DELAY_SEC later, the
 * runner backs the mailbox up if its newest backup is older than
 * BACKUP_INTERVAL_SEC, with the key from the key cache (nothing happens once
 * the key is gone). Never blocks. NULL runner: nothing. */
void backup_runner_login(backup_runner *r, const char *mailbox_id);
/* The pipeline now, on the caller's thread, with the runner's configuration;
 * a success also counts as the mailbox's daily backup. */
int backup_runner_now(backup_runner *r, store_mailbox *m, const unsigned char key[STORE_KEY_LEN],
                      backup_result *res, char *err, size_t errlen);

/* A private temporary folder DATADIR/tmp (0700), created when missing; its
 * path in out. 0 or -1. */
int backup_tmpdir(const char *datadir, char *out, size_t outlen);

#endif
