/*
 * cli.h — helpers shared by the `sealbox` subcommands (src/cmd/sealbox*.c).
 *
 * Conventions: a subcommand returns its exit status — 0 success, 1 failure (one
 * sentence on stderr, via cli_fail), 2 bad usage (via cli_bad_usage). Passwords
 * come from stdin into locked memory and never reach stdio buffers or logs.
 */
#ifndef SEALBOX_CLI_H
#define SEALBOX_CLI_H

#include "util/limits.h"
#include "store/account.h"
#include "store/store.h"

#define CLI_PW_BUF (PASSWORD_MAX_LEN + 2)

/* The data directory (-d DIR, default ./var). */
extern const char *cli_dir;

/* "sealbox: <message>" on stderr; returns 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Optional "sealbox: <what>", then the usage text, on stderr; returns 2. */
int cli_bad_usage(const char *usage, const char *what);
/* Options of a subcommand: -h/--help and, where allowed, --password-stdin.
 * Returns -1 to go on, or an exit status; the words are argv[optind..argc). */
int cli_subopts(int argc, char **argv, const char *usage, int allow_pw_stdin, int *pw_stdin);
/* One line of stdin into `pw` (CLI_PW_BUF bytes of secmem), no echo on a tty.
 * 0, or 1 after an error message. */
int cli_read_password(const char *prompt, char *pw);
int cli_password_strength(const char *what, const char *pw);
/* `intro`, then the password alone on the last line of stdout. */
int cli_print_password(const char *intro, const char *pw);
/* The directory of cli_dir; NULL after an error message. */
accounts *cli_accounts(void);

/* A mailbox opened with its owner's password read from stdin. */
typedef struct cli_mailbox {
    char address[ADDRESS_MAX_LEN + 1];   /* normalised */
    accounts *accounts;
    account_auth *auth;                  /* holds the data key (locked memory) */
    store_mailbox *mailbox;
} cli_mailbox;

/* Normalises `address`, reads the password from stdin, logs in and opens the
 * mailbox file. 0, or 1 after an error message (nothing left open). */
int cli_mailbox_open(const char *address, cli_mailbox *out);
void cli_mailbox_close(cli_mailbox *mb);

/* Subcommands defined in sealbox_export.c. */
int cli_export(int argc, char **argv);
int cli_import(int argc, char **argv);
/* Subcommands defined in sealbox_backup.c. */
int cli_backup(int argc, char **argv);
int cli_alias_purge(int argc, char **argv);

#endif
