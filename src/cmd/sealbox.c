/*
 * sealbox — the Sealbox admin command line.
 *
 * SYNOPSIS
 *   sealbox [-d DIR] init
 *   sealbox [-d DIR] domain add|remove NAME
 *   sealbox [-d DIR] domain list
 *   sealbox [-d DIR] alias add ADDRESS [--password-stdin]
 *   sealbox [-d DIR] alias list [DOMAIN]
 *   sealbox [-d DIR] alias remove ADDRESS
 *   sealbox [-d DIR] alias password ADDRESS [--password-stdin]
 *   sealbox [-d DIR] doctor ADDRESS          (password on stdin)
 *   sealbox [-d DIR] export ADDRESS --format mbox|maildir|eml-zip OUT   (sealbox_export.c)
 *   sealbox [-d DIR] import ADDRESS --format mbox|maildir IN
 *   sealbox [-d DIR] backup run|list|restore ADDRESS [--target URL]   (sealbox_backup.c)
 *   sealbox [-d DIR] alias purge ADDRESS
 *   sealbox [-d DIR] alias set ADDRESS [--store on|off] [--forward A,B|none] [--webhook URL|none]
 *                                      [--quota SIZE|none]
 *
 * DESCRIPTION
 *   Works on the data directory DIR (default ./var) directly, also while
 *   sealboxd runs (the directory is shared through SQLite's WAL). A generated
 *   password is printed once, alone on the last line of stdout, and stored
 *   nowhere: only its key slot (Argon2id + XChaCha20-Poly1305) is kept.
 *   Passwords read from stdin go straight into locked memory (read(2) byte by
 *   byte, no stdio buffer) and are wiped after use; on a terminal they are not
 *   echoed.
 *
 * DIAGNOSTICS
 *   Exit 0 on success, 1 on failure (a sentence on stderr), 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "util/buf.h"
#include "util/limits.h"
#include "util/log.h"
#include "crypto/secmem.h"
#include "directory/directory.h"
#include "delivery/quota.h"
#include "store/account.h"
#include "store/datadir.h"
#include "store/store.h"
#include "cmd/cli.h"

static const char cli_usage_main[] =
    "Usage: sealbox [-d DIR] COMMAND ...\n"
    "\n"
    "Administers the Sealbox data directory DIR (default ./var).\n"
    "\n"
    "Commands:\n"
    "  init                            create DIR and what is missing in it (keeps what exists)\n"
    "  domain add|remove|list          the domains addresses may live in\n"
    "  alias add|list|remove|password|set  addresses, mailboxes, passwords, forward/webhook\n"
    "  doctor ADDRESS                  check the mailbox file, rebuild its indexes\n"
    "                                  (password on stdin)\n"
    "  export ADDRESS --format F OUT   write the mailbox as mbox, maildir or eml-zip\n"
    "  import ADDRESS --format F IN    add mail from an mbox or a Maildir, once\n"
    "  backup run|list|restore ADDRESS encrypted backups of a mailbox, and restore\n"
    "\n"
    "Options:\n"
    "  -d, --data-dir DIR   the data directory (default ./var)\n"
    "  -v, --verbose        debug logging on stderr (never passwords or addresses)\n"
    "  -h, --help           this text; `sealbox COMMAND --help` for a command\n";

static const char cli_usage_init[] =
    "Usage: sealbox [-d DIR] init\n"
    "\n"
    "Creates DIR (mode 0700) and whatever of these is missing, keeping what exists:\n"
    "sealbox.conf, server.key (encrypts the directory), directory.db, mailboxes/,\n"
    "tls/key.pem and tls/cert.pem (self-signed ECDSA P-256, 10 years, for\n"
    "localhost, 127.0.0.1 and the configured hostname).\n";

static const char cli_usage_domain[] =
    "Usage: sealbox [-d DIR] domain add NAME\n"
    "       sealbox [-d DIR] domain remove NAME\n"
    "       sealbox [-d DIR] domain list\n"
    "\n"
    "Addresses can only be created in a domain that was added. A domain that still\n"
    "has addresses cannot be removed.\n";

static const char cli_usage_alias[] =
    "Usage: sealbox [-d DIR] alias add ADDRESS [--password-stdin]\n"
    "       sealbox [-d DIR] alias list [DOMAIN]\n"
    "       sealbox [-d DIR] alias remove ADDRESS\n"
    "       sealbox [-d DIR] alias purge ADDRESS      (and all its backups: sealbox_backup.c)\n"
    "       sealbox [-d DIR] alias password ADDRESS [--password-stdin]\n"
    "       sealbox [-d DIR] alias set ADDRESS [--store on|off] [--forward a@x,b@y|none]\n"
    "                                  [--webhook http(s)://URL|none] [--quota SIZE|none]\n"
    "\n"
    "add       creates ADDRESS (its domain must have been added) and its encrypted\n"
    "          mailbox. Prints a generated password alone on the last line of\n"
    "          stdout: it is shown once and stored nowhere. With --password-stdin\n"
    "          the first line of stdin is the password instead (at least 12\n"
    "          characters).\n"
    "list      the addresses (of DOMAIN, or all) with their mailbox ids.\n"
    "remove    removes ADDRESS and destroys its mailbox file, mail and all.\n"
    "password  reads the current password from the first line of stdin and prints\n"
    "          a new generated one alone on the last line of stdout. With\n"
    "          --password-stdin: line 1 is the current password, line 2 the new\n"
    "          one. The mailbox is not re-encrypted; the old password stops working.\n";







/* --- Commands ---------------------------------------------------------------------------- */


static int cli_init(int argc, char **argv)
{
    int rc = cli_subopts(argc, argv, cli_usage_init, 0, NULL);
    if (rc >= 0) return rc;
    if (optind != argc) return cli_bad_usage(cli_usage_init, "init takes no arguments");
    char err[512];
    if (datadir_init(cli_dir, err, sizeof err) != 0) return cli_fail("%s", err);
    printf("Data directory %s is ready.\n", cli_dir);
    return 0;
}

static int cli_domain(int argc, char **argv)
{
    int rc = cli_subopts(argc, argv, cli_usage_domain, 0, NULL);
    if (rc >= 0) return rc;
    if (optind >= argc) return cli_bad_usage(cli_usage_domain, "domain: add, remove or list?");
    const char *verb = argv[optind];
    int nargs = argc - optind - 1;
    char **args = argv + optind + 1;
    int list = !strcmp(verb, "list");
    if (!list && strcmp(verb, "add") != 0 && strcmp(verb, "remove") != 0)
        return cli_bad_usage(cli_usage_domain, "domain: unknown command");
    if (nargs != (list ? 0 : 1))
        return cli_bad_usage(cli_usage_domain, list ? "domain list takes no arguments"
                                                    : "domain add/remove takes one NAME");
    char name[DIRECTORY_DOMAIN_MAX + 1];
    if (!list && directory_domain_normalise(args[0], name, sizeof name) < 0)
        return cli_fail("'%s' is not a valid domain name", args[0]);

    accounts *a = cli_accounts();
    if (!a) return 1;
    directory *d = account_directory(a);
    rc = 1;
    if (list) {
        char **names;
        size_t n;
        if (directory_domain_list(d, &names, &n) != DIR_OK) {
            cli_fail("cannot list domains");
        } else {
            for (size_t i = 0; i < n; i++) {
                printf("%s\n", names[i]);
                free(names[i]);
            }
            free(names);
            rc = 0;
        }
    } else if (!strcmp(verb, "add")) {
        directory_status st = directory_domain_add(d, name);
        if (st == DIR_OK) { printf("Added domain %s.\n", name); rc = 0; }
        else if (st == DIR_EXISTS) cli_fail("domain %s exists already", name);
        else cli_fail("cannot add domain %s: %s", name, directory_strerror(st));
    } else {
        directory_status st = directory_domain_remove(d, name);
        if (st == DIR_OK) { printf("Removed domain %s.\n", name); rc = 0; }
        else if (st == DIR_NOTFOUND) cli_fail("no domain %s", name);
        else if (st == DIR_NOTEMPTY)
            cli_fail("domain %s still has addresses; remove them first (sealbox -d %s alias list %s)",
                     name, cli_dir, name);
        else cli_fail("cannot remove domain %s: %s", name, directory_strerror(st));
    }
    accounts_close(a);
    return rc;
}

static int cli_alias_add(accounts *a, const char *address, int pw_stdin)
{
    char addr[ADDRESS_MAX_LEN + 1];
    if (directory_address_normalise(address, addr, sizeof addr) < 0)
        return cli_fail("'%s' is not a valid address (local@domain, at most %d characters)",
                        address, ADDRESS_MAX_LEN);
    char *pw = secmem_alloc(CLI_PW_BUF);
    int rc = 1;
    if (pw_stdin) {
        if (cli_read_password("Password", pw) != 0 || cli_password_strength("the password", pw) != 0)
            goto out;
    } else if (account_generate_password(pw, CLI_PW_BUF) != 0) {
        cli_fail("cannot generate a password");
        goto out;
    }
    account_status st = account_create(a, addr, pw);
    switch (st) {
    case ACCOUNT_OK:
        if (pw_stdin) {
            printf("Created %s.\n", addr);
            rc = 0;
        } else {
            printf("Created %s. ", addr);
            rc = cli_print_password("Its password, shown only now and stored nowhere:\n", pw);
        }
        break;
    case ACCOUNT_NOTFOUND:
        cli_fail("the domain of %s does not exist; add it first: sealbox -d %s domain add %s",
                 addr, cli_dir, strchr(addr, '@') + 1);
        break;
    case ACCOUNT_EXISTS:
        cli_fail("%s exists already", addr);
        break;
    case ACCOUNT_INVALID:
        cli_fail("invalid address or password (passwords need %d to %d characters)",
                 PASSWORD_MIN_LEN, PASSWORD_MAX_LEN);
        break;
    default:
        cli_fail("cannot create %s: %s", addr, account_strerror(st));
        break;
    }
out:
    secmem_free(pw);
    return rc;
}

/* --- Per-address actions (alias set) --------------------------------------------------- */

/* Appends "  store=off forward=.. webhook=scheme://host/..." to a list line,
 * only what differs from the defaults. A webhook URL may carry a token in its
 * path, query or user part: only scheme and host are shown. */
static void cli_alias_print_actions(accounts *a, const char *address)
{
    directory_alias_actions *act = malloc(sizeof *act);
    if (!act) return;
    if (directory_alias_actions_get(account_directory(a), address, act) == DIR_OK) {
        directory_alias al;
        if (directory_alias_lookup(account_directory(a), address, &al) == DIR_OK && al.quota) {
            char q[32];
            quota_format(al.quota, q, sizeof q);
            printf("  quota=%s", q);
        }
        if (!act->store) printf("  store=off");
        if (act->forward[0]) printf("  forward=%s", act->forward);
        if (act->webhook[0]) {
            const char *h = strstr(act->webhook, "://");
            size_t scheme = h ? (size_t)(h - act->webhook) + 3 : 0;
            h = act->webhook + scheme;
            size_t hn = strcspn(h, "/?#");
            const char *at = memchr(h, '@', hn);
            if (at) {
                hn -= (size_t)(at + 1 - h);
                h = at + 1;
            }
            printf("  webhook=%.*s%.*s/...", (int)scheme, act->webhook, (int)hn, h);
        }
    }
    free(act);
}

static const char cli_usage_alias_set[] =
    "Usage: sealbox [-d DIR] alias set ADDRESS [--store on|off] [--forward a@x,b@y|none]\n"
    "                                  [--webhook http(s)://URL|none] [--quota SIZE|none]\n"
    "\n"
    "  --store on|off     keep messages in the address's mailbox (default on)\n"
    "  --forward LIST     also send a copy to each address (at most 10); 'none' clears\n"
    "  --webhook URL      POST a JSON summary of each message there; 'none' clears\n"
    "  --quota SIZE       most space the address may use on disk (500M, 2G: powers of\n"
    "                     1024); 'none' clears. Counted: its encrypted mailbox and spool\n"
    "                     files. Over it, SMTP answers 452/552 and IMAP APPEND NO [OVERQUOTA]\n"
    "Forwarded copies and webhook jobs are queued durably (DATADIR/queue.db, encrypted\n"
    "with the server key: the server reads these messages to pass them on).\n";

static int cli_alias_set(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "store", required_argument, NULL, 's' },
        { "forward", required_argument, NULL, 'f' },
        { "webhook", required_argument, NULL, 'w' },
        { "quota", required_argument, NULL, 'q' },
        { NULL, 0, NULL, 0 },
    };
    directory_alias_actions *act = calloc(1, sizeof *act);
    if (!act) return cli_fail("out of memory");
    unsigned which = 0;
    uint64_t quota = 0;
    int set_quota = 0;
    int rc = 2, ch;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h':
            fputs(cli_usage_alias_set, stdout);
            rc = 0;
            goto out;
        case 's':
            if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
                rc = cli_bad_usage(cli_usage_alias_set, "--store takes on or off");
                goto out;
            }
            act->store = !strcmp(optarg, "on");
            which |= DIRECTORY_ACTION_STORE;
            break;
        case 'f':
            if (directory_forward_list_normalise(optarg, act->forward, sizeof act->forward) < 0) {
                rc = cli_fail("--forward: not a list of at most %d valid addresses", FORWARD_TARGETS_MAX);
                goto out;
            }
            which |= DIRECTORY_ACTION_FORWARD;
            break;
        case 'w':
            if (!strcmp(optarg, "none")) act->webhook[0] = '\0';
            else if (!directory_webhook_url_ok(optarg)) {
                rc = cli_fail("--webhook: not an http:// or https:// URL (at most %d characters)",
                              WEBHOOK_URL_MAX);
                goto out;
            } else snprintf(act->webhook, sizeof act->webhook, "%s", optarg);
            which |= DIRECTORY_ACTION_WEBHOOK;
            break;
        case 'q':
            if (quota_parse(optarg, &quota) < 0) {
                rc = cli_fail("--quota: not a size (e.g. 500M, 2G, 1048576) or none");
                goto out;
            }
            set_quota = 1;
            break;
        default:
            rc = cli_bad_usage(cli_usage_alias_set, NULL);
            goto out;
        }
    }
    if (argc - optind != 1) {
        rc = cli_bad_usage(cli_usage_alias_set, "alias set takes one ADDRESS");
        goto out;
    }
    if (!which && !set_quota) {
        rc = cli_bad_usage(cli_usage_alias_set, "nothing to set: --store, --forward, --webhook or --quota");
        goto out;
    }
    const char *address = argv[optind];
    accounts *a = cli_accounts();
    if (!a) { rc = 1; goto out; }
    directory_status st = which ? directory_alias_actions_set(account_directory(a), address, act, which) : DIR_OK;
    if (st == DIR_OK && set_quota) st = directory_alias_quota_set(account_directory(a), address, quota);
    if (st == DIR_OK) {
        printf("Updated %s:", address);
        cli_alias_print_actions(a, address);
        putchar('\n');
        if (directory_alias_actions_get(account_directory(a), address, act) == DIR_OK && !act->store &&
            !act->forward[0] && !act->webhook[0])
            fprintf(stderr, "sealbox: warning: %s now keeps, forwards and posts nothing: "
                            "its mail is accepted and dropped\n", address);
        rc = 0;
    } else if (st == DIR_NOTFOUND) {
        rc = cli_fail("no address %s", address);
    } else if (st == DIR_INVALID) {
        rc = cli_fail("'%s' is not a valid address, or a setting is invalid", address);
    } else {
        rc = cli_fail("cannot update %s: %s", address, directory_strerror(st));
    }
    accounts_close(a);
out:
    free(act);
    return rc;
}

static int cli_alias_list(accounts *a, const char *domain)
{
    directory_alias *v;
    size_t n;
    directory_status st = directory_alias_list(account_directory(a), domain, &v, &n);
    if (st == DIR_INVALID) return cli_fail("'%s' is not a valid domain name", domain);
    if (st != DIR_OK) return cli_fail("cannot list addresses: %s", directory_strerror(st));
    for (size_t i = 0; i < n; i++) {
        char when[32];
        time_t t = (time_t)v[i].created;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("%-40s  %s  %s", v[i].address, v[i].mailbox_id, when);
        cli_alias_print_actions(a, v[i].address);
        putchar('\n');
    }
    free(v);
    return 0;
}

static int cli_alias_remove(accounts *a, const char *address)
{
    account_status st = account_remove(a, address);
    if (st == ACCOUNT_OK) {
        printf("Removed %s and destroyed its mailbox.\n", address);
        return 0;
    }
    if (st == ACCOUNT_NOTFOUND) return cli_fail("no address %s", address);
    if (st == ACCOUNT_INVALID) return cli_fail("'%s' is not a valid address", address);
    return cli_fail("cannot remove %s: %s", address, account_strerror(st));
}

static int cli_alias_password(accounts *a, const char *address, int pw_stdin)
{
    char addr[ADDRESS_MAX_LEN + 1];
    if (directory_address_normalise(address, addr, sizeof addr) < 0)
        return cli_fail("'%s' is not a valid address", address);
    char *old = secmem_alloc(CLI_PW_BUF);
    char *pw = secmem_alloc(CLI_PW_BUF);
    int rc = 1;
    if (cli_read_password("Current password", old) != 0) goto out;
    if (pw_stdin) {
        if (cli_read_password("New password", pw) != 0 || cli_password_strength("the new password", pw) != 0)
            goto out;
    } else if (account_generate_password(pw, CLI_PW_BUF) != 0) {
        cli_fail("cannot generate a password");
        goto out;
    }
    account_status st = account_password_change(a, addr, old, pw);
    switch (st) {
    case ACCOUNT_OK:
        if (pw_stdin) {
            printf("Changed the password of %s.\n", addr);
            rc = 0;
        } else {
            printf("Changed the password of %s. ", addr);
            rc = cli_print_password("The new password, shown only now:\n", pw);
        }
        break;
    case ACCOUNT_BADAUTH:
        cli_fail("the current password of %s is wrong; nothing changed", addr);
        break;
    case ACCOUNT_NOTFOUND:
        cli_fail("no address %s", addr);
        break;
    case ACCOUNT_INVALID:
        cli_fail("the new password needs %d to %d characters", PASSWORD_MIN_LEN, PASSWORD_MAX_LEN);
        break;
    default:
        cli_fail("cannot change the password of %s: %s", addr, account_strerror(st));
        break;
    }
out:
    secmem_free(pw);
    secmem_free(old);
    return rc;
}

static int cli_alias(int argc, char **argv)
{
    int pw_stdin = 0;
    if (argc > 1 && !strcmp(argv[1], "set")) return cli_alias_set(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "purge")) return cli_alias_purge(argc, argv);
    int rc = cli_subopts(argc, argv, cli_usage_alias, 1, &pw_stdin);
    if (rc >= 0) return rc;
    if (optind >= argc) return cli_bad_usage(cli_usage_alias, "alias: add, list, remove or password?");
    const char *verb = argv[optind];
    int nargs = argc - optind - 1;
    char **args = argv + optind + 1;
    int is_add = !strcmp(verb, "add"), is_list = !strcmp(verb, "list");
    int is_remove = !strcmp(verb, "remove"), is_password = !strcmp(verb, "password");
    if (!is_add && !is_list && !is_remove && !is_password)
        return cli_bad_usage(cli_usage_alias, "alias: unknown command");
    if (pw_stdin && !is_add && !is_password)
        return cli_bad_usage(cli_usage_alias, "--password-stdin goes with alias add and alias password");
    if (is_list ? nargs > 1 : nargs != 1)
        return cli_bad_usage(cli_usage_alias, is_list ? "alias list takes at most a DOMAIN"
                                                       : "this alias command takes one ADDRESS");
    accounts *a = cli_accounts();
    if (!a) return 1;
    if (is_add) rc = cli_alias_add(a, args[0], pw_stdin);
    else if (is_list) rc = cli_alias_list(a, nargs ? args[0] : NULL);
    else if (is_remove) rc = cli_alias_remove(a, args[0]);
    else rc = cli_alias_password(a, args[0], pw_stdin);
    accounts_close(a);
    return rc;
}

static const char cli_usage_doctor[] =
    "Usage: sealbox [-d DIR] doctor ADDRESS\n"
    "\n"
    "Opens the mailbox of ADDRESS with the password read from the first line of\n"
    "stdin and runs SQLite's integrity check over the whole encrypted file, which\n"
    "also proves that every page decrypts under the key. Prints \"ok\" and exits 0\n"
    "when the file is sound; prints the problems and exits 1 otherwise.\n"
    "A sound file then gets its search and sort indexes rebuilt from the stored\n"
    "messages, in one transaction that holds the mailbox's write lock (about\n"
    "4 ms per message here: minutes for a large mailbox; stop the server first);\n"
    "a failed rebuild is reported on stderr and exits 1.\n";

static int cli_doctor(int argc, char **argv)
{
    int rc = cli_subopts(argc, argv, cli_usage_doctor, 0, NULL);
    if (rc >= 0) return rc;
    if (argc - optind != 1) return cli_bad_usage(cli_usage_doctor, "doctor takes one ADDRESS");
    cli_mailbox mb;
    if (cli_mailbox_open(argv[optind], &mb) != 0) return 1;
    buf report = BUF_INIT;
    rc = 1;
    store_status st = store_check(mb.mailbox, &report);
    fputs(buf_cstr(&report), stdout);
    if (st == STORE_OK && !strcmp(buf_cstr(&report), "ok\n")) rc = 0;
    else if (st != STORE_OK) cli_fail("the integrity check of %s could not run", mb.address);
    /* Only a sound file is worth re-indexing: the index is derived from it. */
    if (rc == 0 && store_reindex(mb.mailbox) != STORE_OK) {
        cli_fail("rebuilding the search index of %s failed", mb.address);
        rc = 1;
    }
    buf_free(&report);
    cli_mailbox_close(&mb);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "data-dir", required_argument, NULL, 'd' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int ch;
    /* Administrative output is the point here; routine info lines of the
     * library (mailbox created, schema migrated) would only clutter it. */
    log_set_level(LOG_WARN);
    /* "+": stop at the command, whose own options come after it. */
    while ((ch = getopt_long(argc, argv, "+d:vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd': cli_dir = optarg; break;
        case 'v': log_set_level(LOG_DEBUG); break;
        case 'h': fputs(cli_usage_main, stdout); return 0;
        default: return cli_bad_usage(cli_usage_main, NULL);
        }
    }
    if (optind >= argc) return cli_bad_usage(cli_usage_main, "which command?");
    if (!*cli_dir) return cli_bad_usage(cli_usage_main, "-d needs a directory");
    crypto_init();
    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    if (!strcmp(cmd, "init")) return cli_init(sub_argc, sub_argv);
    if (!strcmp(cmd, "domain")) return cli_domain(sub_argc, sub_argv);
    if (!strcmp(cmd, "alias")) return cli_alias(sub_argc, sub_argv);
    if (!strcmp(cmd, "doctor")) return cli_doctor(sub_argc, sub_argv);
    if (!strcmp(cmd, "export")) return cli_export(sub_argc, sub_argv);
    if (!strcmp(cmd, "import")) return cli_import(sub_argc, sub_argv);
    if (!strcmp(cmd, "backup")) return cli_backup(sub_argc, sub_argv);
    if (!strcmp(cmd, "help")) { fputs(cli_usage_main, stdout); return 0; }
    fprintf(stderr, "sealbox: unknown command '%s'\n\n", cmd);
    fputs(cli_usage_main, stderr);
    return 2;
}
