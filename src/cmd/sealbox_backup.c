/*
 * sealbox_backup.c — `sealbox backup run|list|restore` and `sealbox alias purge`.
 *
 * SYNOPSIS
 *   sealbox [-d DIR] backup run ADDRESS [--target URL]        (password on stdin)
 *   sealbox [-d DIR] backup list ADDRESS [--target URL]
 *   sealbox [-d DIR] backup restore ADDRESS [--version V] [--target URL]  (password on stdin)
 *   sealbox [-d DIR] alias purge ADDRESS
 *
 * DESCRIPTION
 *   run      snapshots the mailbox (still encrypted), checks it, and stores it at
 *            the target unless nothing changed since the newest version; prints
 *            "stored VERSION ..." or "unchanged VERSION".
 *   list     the versions stored for the address's mailbox (needs no password:
 *            only the mailbox id is looked up), oldest first.
 *   restore  downloads a version (the newest by default), checks its SHA-256,
 *            that it opens with the mailbox's key and passes integrity_check,
 *            then writes it into the live mailbox in one transaction. IMAP
 *            sessions of a running sealboxd are told (* BYE) at their next command.
 *   purge    removes every backup of the address, then the address, its mailbox
 *            and its spool. A target that cannot be reached stops it before
 *            anything is removed.
 *   The target is --target, else SEALBOX_BACKUP_TARGET, else backup_target in
 *   DIR/sealbox.conf (`init` sets "backups", i.e. DIR/backups); see
 *   src/backup/backup.h for the S3 settings and their environment variables.
 *
 * DIAGNOSTICS
 *   Exit 0 on success, 1 on failure (a sentence on stderr), 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/limits.h"
#include "crypto/secmem.h"
#include "directory/directory.h"
#include "delivery/spool.h"
#include "store/account.h"
#include "store/store.h"
#include "backup/backup.h"
#include "cmd/cli.h"

int cli_backup(int argc, char **argv);
int cli_alias_purge(int argc, char **argv);

static const char cli_usage_backup[] =
    "Usage: sealbox [-d DIR] backup run ADDRESS [--target URL]\n"
    "       sealbox [-d DIR] backup list ADDRESS [--target URL]\n"
    "       sealbox [-d DIR] backup restore ADDRESS [--version VERSION] [--target URL]\n"
    "\n"
    "run      snapshot the mailbox (it stays encrypted), check it, store it at the\n"
    "         target unless it is unchanged since the newest version (password on stdin)\n"
    "list     the stored versions of the address's mailbox, oldest first\n"
    "restore  put a version (default: the newest) back after checking it (password\n"
    "         on stdin); connected IMAP sessions are told to reconnect\n"
    "\n"
    "  --target URL   s3://bucket/prefix, file:///path, or a folder in DIR; default:\n"
    "                 $SEALBOX_BACKUP_TARGET, else backup_target in DIR/sealbox.conf\n"
    "S3: s3_endpoint, s3_region, s3_access_key, s3_secret_key in sealbox.conf, or\n"
    "$SEALBOX_S3_ENDPOINT, $AWS_REGION, $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY\n"
    "(the environment wins). Versions kept per mailbox: backup_keep (default 7).\n";

static const char cli_usage_purge[] =
    "Usage: sealbox [-d DIR] alias purge ADDRESS [--target URL]\n"
    "\n"
    "Removes every backup of ADDRESS at the backup target, then ADDRESS itself, its\n"
    "mailbox and its spool of sealed mail. Nothing can bring them back.\n";

/* The mailbox id of `address` (no password needed). 0, or 1 after a message. */
static int cli_backup_mailbox_id(accounts *a, const char *address, char *id, size_t idlen)
{
    char addr[ADDRESS_MAX_LEN + 1];
    if (directory_address_normalise(address, addr, sizeof addr) < 0)
        return cli_fail("'%s' is not a valid address", address);
    directory_alias al;
    directory_status st = directory_alias_lookup(account_directory(a), addr, &al);
    if (st == DIR_NOTFOUND) return cli_fail("no address %s", addr);
    if (st != DIR_OK) return cli_fail("cannot look up %s: %s", addr, directory_strerror(st));
    snprintf(id, idlen, "%s", al.mailbox_id);
    return 0;
}

static int cli_backup_run(const char *address, backup_config *cfg)
{
    cli_mailbox mb;
    if (cli_mailbox_open(address, &mb) != 0) return 1;
    backup_result r;
    char err[1024];
    int rc = 1;
    if (backup_run(cli_dir, mb.mailbox, account_auth_key(mb.auth), cfg, &r, err, sizeof err) != 0) {
        cli_fail("backup of %s failed: %s", mb.address, err);
    } else if (r.unchanged) {
        printf("unchanged %s\n", r.version);
        rc = 0;
    } else {
        printf("stored %s size %llu sha256 %s\n", r.version, (unsigned long long)r.size, r.sha256);
        if (r.deleted) printf("removed %zu old version(s)\n", r.deleted);
        rc = 0;
    }
    cli_mailbox_close(&mb);
    return rc;
}

static int cli_backup_list(const char *address, backup_config *cfg)
{
    accounts *a = cli_accounts();
    if (!a) return 1;
    char id[STORE_MAILBOX_ID_LEN + 1], err[1024];
    int rc = cli_backup_mailbox_id(a, address, id, sizeof id);
    accounts_close(a);
    if (rc != 0) return rc;
    backup_target *t = backup_target_open(cfg, err, sizeof err);
    if (!t) return cli_fail("%s", err);
    backup_version *v = NULL;
    size_t n = 0;
    if (backup_target_list(t, id, &v, &n, err, sizeof err) != 0) {
        rc = cli_fail("cannot list the backups: %s", err);
    } else {
        for (size_t i = 0; i < n; i++)
            printf("%s  %12llu  %s\n", v[i].version, (unsigned long long)v[i].size,
                   v[i].sha256[0] ? v[i].sha256 : "-");
        rc = 0;
    }
    free(v);
    backup_target_close(t);
    return rc;
}

/* Restore logs in without opening the mailbox file: restoring one that no
 * longer opens is what restore is for. */
static int cli_backup_restore(const char *address, const char *version, backup_config *cfg)
{
    char addr[ADDRESS_MAX_LEN + 1], err[1024], restored[BACKUP_VERSION_MAX];
    if (directory_address_normalise(address, addr, sizeof addr) < 0)
        return cli_fail("'%s' is not a valid address", address);
    accounts *a = cli_accounts();
    if (!a) return 1;
    char *pw = secmem_alloc(CLI_PW_BUF);
    account_auth *auth = NULL;
    int rc = 1;
    if (cli_read_password("Password", pw) != 0) goto out;
    account_status ast = account_login(a, addr, pw, "cli", &auth);
    if (ast != ACCOUNT_OK) {
        cli_fail("cannot restore %s: %s", addr,
                 ast == ACCOUNT_BADAUTH ? "wrong password or no such address" : account_strerror(ast));
        goto out;
    }
    if (backup_restore(cli_dir, account_auth_mailbox_id(auth), account_auth_key(auth), cfg, version,
                       restored, sizeof restored, err, sizeof err) != 0) {
        cli_fail("restore of %s failed: %s", addr, err);
        goto out;
    }
    printf("restored %s\n", restored);
    rc = 0;
out:
    if (auth) account_logout(auth);
    secmem_free(pw);
    accounts_close(a);
    return rc;
}

/* Options shared by the backup commands: --target, --version, --help. Returns
 * -1 to go on, or an exit status. */
static int cli_backup_opts(int argc, char **argv, const char *usage, const char **target,
                           const char **version)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "target", required_argument, NULL, 't' },
        { "version", required_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    optind = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h': fputs(usage, stdout); return 0;
        case 't': *target = optarg; break;
        case 'V':
            if (!version) return cli_bad_usage(usage, "--version goes with backup restore");
            *version = optarg;
            break;
        default: return cli_bad_usage(usage, NULL);
        }
    }
    return -1;
}

int cli_backup(int argc, char **argv)
{
    const char *target = NULL, *version = NULL;
    int rc = cli_backup_opts(argc, argv, cli_usage_backup, &target, &version);
    if (rc >= 0) return rc;
    if (argc - optind != 2) return cli_bad_usage(cli_usage_backup, "backup: run, list or restore, and one ADDRESS");
    const char *verb = argv[optind], *address = argv[optind + 1];
    int is_run = !strcmp(verb, "run"), is_list = !strcmp(verb, "list"), is_restore = !strcmp(verb, "restore");
    if (!is_run && !is_list && !is_restore) return cli_bad_usage(cli_usage_backup, "backup: unknown command");
    if (version && !is_restore) return cli_bad_usage(cli_usage_backup, "--version goes with backup restore");
    backup_config *cfg = secmem_alloc(sizeof *cfg);
    char err[1024];
    if (backup_config_load(cli_dir, target, cfg, err, sizeof err) != 0) {
        secmem_free(cfg);
        return cli_fail("%s", err);
    }
    if (is_run) rc = cli_backup_run(address, cfg);
    else if (is_list) rc = cli_backup_list(address, cfg);
    else rc = cli_backup_restore(address, version, cfg);
    backup_config_clear(cfg);
    secmem_free(cfg);
    return rc;
}

/* Removes DATADIR/spool/<id>.db and its -wal/-shm (sealed blobs under the server
 * key; nothing to wipe that the server could not read anyway). */
static int cli_purge_spool(const char *id)
{
    char path[4096], extra[4200];
    if (spool_path(path, sizeof path, cli_dir, id) < 0) return -1;
    static const char *const suffixes[] = { "-wal", "-shm", "" };
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(extra, sizeof extra, "%s%s", path, suffixes[i]);
        if (unlink(extra) < 0 && errno != ENOENT) return -1;
    }
    return 0;
}

int cli_alias_purge(int argc, char **argv)
{
    const char *target = NULL;
    int rc = cli_backup_opts(argc, argv, cli_usage_purge, &target, NULL);
    if (rc >= 0) return rc;
    if (argc - optind != 2 || strcmp(argv[optind], "purge") != 0)
        return cli_bad_usage(cli_usage_purge, "alias purge takes one ADDRESS");
    const char *address = argv[optind + 1];
    accounts *a = cli_accounts();
    if (!a) return 1;
    char id[STORE_MAILBOX_ID_LEN + 1], err[1024];
    backup_config *cfg = secmem_alloc(sizeof *cfg);
    size_t deleted = 0;
    rc = cli_backup_mailbox_id(a, address, id, sizeof id);
    if (rc != 0) goto out;
    rc = 1;
    if (backup_config_load(cli_dir, target, cfg, err, sizeof err) != 0) {
        cli_fail("%s", err);
        goto out;
    }
    /* Backups first: if the target cannot be reached, nothing is removed and the
     * command can simply be run again. */
    if (backup_purge(cfg, id, &deleted, err, sizeof err) != 0) {
        cli_fail("cannot remove the backups of %s (nothing was removed): %s", address, err);
        goto out;
    }
    account_status st = account_remove(a, address);
    if (st != ACCOUNT_OK && st != ACCOUNT_NOTFOUND) {
        cli_fail("removed %zu backup(s), but not %s: %s", deleted, address, account_strerror(st));
        goto out;
    }
    if (cli_purge_spool(id) != 0) {
        cli_fail("removed %s, but not its spool file: %s", address, strerror(errno));
        goto out;
    }
    printf("Purged %s: its mailbox, its spool and %zu backup(s).\n", address, deleted);
    rc = 0;
out:
    backup_config_clear(cfg);
    secmem_free(cfg);
    accounts_close(a);
    return rc;
}
