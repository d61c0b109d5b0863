/*
 * cli.c — what every `sealbox` subcommand shares (cli.h): error and usage
 * output, subcommand options, passwords on stdin in locked memory, and opening
 * a mailbox with its owner's password.
 *
 * Passwords are read with read(2) byte by byte into secmem (no stdio buffer
 * holds a copy) and wiped by the caller's secmem_free.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "util/limits.h"
#include "crypto/secmem.h"
#include "directory/directory.h"
#include "cmd/cli.h"

const char *cli_dir = "var";

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sealbox: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_bad_usage(const char *usage, const char *what)
{
    if (what) fprintf(stderr, "sealbox: %s\n\n", what);
    fputs(usage, stderr);
    return 2;
}

/* Parses the options of a subcommand: -h/--help and, where allowed,
 * --password-stdin, anywhere among the arguments. Returns -1 to go on, or an
 * exit status. The remaining words end up in argv[optind..argc). */
int cli_subopts(int argc, char **argv, const char *usage, int allow_pw_stdin, int *pw_stdin)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "password-stdin", no_argument, NULL, 'P' },
        { NULL, 0, NULL, 0 },
    };
    optind = 0;     /* GNU: full reset, so a second getopt pass starts clean */
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h':
            fputs(usage, stdout);
            return 0;
        case 'P':
            if (!allow_pw_stdin) return cli_bad_usage(usage, "--password-stdin is not an option of this command");
            *pw_stdin = 1;
            break;
        default:
            return cli_bad_usage(usage, NULL);
        }
    }
    return -1;
}

/* Reads one line from fd 0 into `pw` (CLI_PW_BUF bytes of secure memory),
 * without the line end. On a terminal, prompts on stderr with echo off.
 * 0, or 1 after an error message. */
int cli_read_password(const char *prompt, char *pw)
{
    struct termios old, quiet;
    int tty = isatty(0) && tcgetattr(0, &old) == 0;
    if (tty) {
        fprintf(stderr, "%s: ", prompt);
        fflush(stderr);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(0, TCSAFLUSH, &quiet);
    }
    size_t n = 0;
    int rc = 0, got_any = 0;
    for (;;) {
        char c;
        ssize_t r = read(0, &c, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got_any = 1;
        if (c == '\n') break;
        if (n >= CLI_PW_BUF - 1) { rc = -2; continue; }   /* drain the rest of the line */
        pw[n++] = c;
    }
    if (tty) {
        tcsetattr(0, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (n > 0 && pw[n - 1] == '\r') n--;
    pw[n] = '\0';
    if (rc == -2) return cli_fail("%s: longer than %d characters", prompt, PASSWORD_MAX_LEN);
    if (!got_any) return cli_fail("%s: nothing on stdin", prompt);
    return 0;
}

int cli_password_strength(const char *what, const char *pw)
{
    if (strlen(pw) < PASSWORD_MIN_LEN)
        return cli_fail("%s is too short: at least %d characters", what, PASSWORD_MIN_LEN);
    return 0;
}

/* Prints `intro` and then the password alone on the last line. The password
 * goes out with write(2) after a flush, so no copy of it lingers in stdio's
 * heap buffer. */
int cli_print_password(const char *intro, const char *pw)
{
    fputs(intro, stdout);
    fflush(stdout);
    size_t len = strlen(pw), off = 0;
    while (off < len) {
        ssize_t n = write(1, pw + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return cli_fail("cannot write the password to stdout");
        off += (size_t)n;
    }
    if (write(1, "\n", 1) != 1) return cli_fail("cannot write the password to stdout");
    return 0;
}

accounts *cli_accounts(void)
{
    char err[512];
    accounts *a = accounts_open(cli_dir, err, sizeof err);
    if (!a) cli_fail("%s", err);
    return a;
}

int cli_mailbox_open(const char *address, cli_mailbox *out)
{
    memset(out, 0, sizeof *out);
    if (directory_address_normalise(address, out->address, sizeof out->address) < 0)
        return cli_fail("'%s' is not a valid address", address);
    out->accounts = cli_accounts();
    if (!out->accounts) return 1;
    char *pw = secmem_alloc(CLI_PW_BUF);
    int rc = 1;
    if (cli_read_password("Password", pw) != 0) goto out;
    account_status ast = account_login(out->accounts, out->address, pw, "cli", &out->auth);
    if (ast != ACCOUNT_OK) {
        cli_fail("cannot open the mailbox of %s: %s", out->address,
                 ast == ACCOUNT_BADAUTH ? "wrong password or no such address" : account_strerror(ast));
        goto out;
    }
    store_status st = store_open(account_datadir(out->accounts), account_auth_mailbox_id(out->auth),
                                 account_auth_key(out->auth), &out->mailbox);
    if (st != STORE_OK) {
        cli_fail("cannot open the mailbox file of %s: %s", out->address, store_strerror(st));
        goto out;
    }
    rc = 0;
out:
    secmem_free(pw);
    if (rc != 0) cli_mailbox_close(out);
    return rc;
}

void cli_mailbox_close(cli_mailbox *mb)
{
    if (mb->mailbox) store_close(mb->mailbox);
    if (mb->auth) account_logout(mb->auth);
    if (mb->accounts) accounts_close(mb->accounts);
    mb->mailbox = NULL;
    mb->auth = NULL;
    mb->accounts = NULL;
}
