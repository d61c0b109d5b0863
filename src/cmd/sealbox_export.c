/*
 * sealbox_export.c — `sealbox export` and `sealbox import`: take a mailbox out as
 * mbox, Maildir or a zip of .eml files, or bring mbox / Maildir mail in.
 *
 * SYNOPSIS
 *   sealbox [-d DIR] export ADDRESS --format mbox|maildir|eml-zip OUT
 *   sealbox [-d DIR] import ADDRESS --format mbox|maildir IN
 *
 * DESCRIPTION
 *   The password is read from the first line of stdin (cli_mailbox_open). The
 *   formats, layouts and the byte-exactness and idempotence rules are those of
 *   src/transfer/transfer.h. Export writes plaintext mail into OUT, because that
 *   is what was asked, and nowhere else. One summary line on stdout; a message
 *   that cannot be imported is named on stderr (file and line, never content) and
 *   the run goes on.
 *
 * DIAGNOSTICS
 *   Exit 0 on success, 1 on failure (and for an import that skipped messages),
 *   2 on bad usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "util/limits.h"
#include "store/store.h"
#include "transfer/transfer.h"
#include "cmd/cli.h"

static const char cli_usage_export[] =
    "Usage: sealbox [-d DIR] export ADDRESS --format mbox|maildir|eml-zip OUT\n"
    "\n"
    "Writes every folder of the mailbox of ADDRESS (password on the first line of\n"
    "stdin) into OUT, which must not exist or be empty. The messages are written\n"
    "in plaintext: OUT is the only place they go.\n"
    "\n"
    "  mbox      OUT/<folder>.mbox per folder (\"a/b\" -> OUT/a/b.mbox), mboxrd, LF\n"
    "            line ends; flags in Status:/X-Status:/X-Keywords: lines at the top\n"
    "            of each header (import removes them again).\n"
    "  maildir   Maildir++ (INBOX in OUT/cur, \"a/b\" in OUT/.a.b/cur), LF line ends,\n"
    "            flags in the \":2,\" suffix, keywords in dovecot-keywords,\n"
    "            internal date as the file's mtime.\n"
    "  eml-zip   OUT is a zip: <folder>/<uid>.eml as stored (CRLF) and\n"
    "            manifest.json with each file's uid, flags, keywords and date.\n";

static const char cli_usage_import[] =
    "Usage: sealbox [-d DIR] import ADDRESS --format mbox|maildir IN\n"
    "\n"
    "Appends the messages of IN to the mailbox of ADDRESS (password on the first\n"
    "line of stdin), creating folders, keeping flags, keywords and dates.\n"
    "Running it again adds nothing: each message is recorded by a hash of its\n"
    "folder and bytes (identical copies within one folder are all kept).\n"
    "\n"
    "  mbox      IN is an mbox file (into INBOX) or a directory of *.mbox files\n"
    "            (a/b.mbox into folder \"a/b\"); mboxrd or mboxo, Content-Length\n"
    "            ignored; the date of each \"From \" line is the internal date.\n"
    "  maildir   IN is a Maildir (cur/ and new/ into INBOX) with Maildir++\n"
    "            subfolders (.a.b/ into \"a/b\"); the mtime is the internal date.\n"
    "\n"
    "A message over the append limit (50 MiB) is reported and skipped.\n";

static void cli_transfer_warn(void *arg, const char *msg)
{
    fprintf(stderr, "sealbox: %s\n", msg);
}

/* Options of export/import: --format and --help; the words go to argv[optind..]. */
static int cli_transfer_opts(int argc, char **argv, const char *usage, const char **format)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 },
    };
    optind = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "hf:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h': fputs(usage, stdout); return 0;
        case 'f': *format = optarg; break;
        default: return cli_bad_usage(usage, NULL);
        }
    }
    return -1;
}

static int cli_transfer(int argc, char **argv, int is_export)
{
    const char *usage = is_export ? cli_usage_export : cli_usage_import;
    const char *format = NULL;
    int rc = cli_transfer_opts(argc, argv, usage, &format);
    if (rc >= 0) return rc;
    if (argc - optind != 2)
        return cli_bad_usage(usage, is_export ? "export takes ADDRESS and OUT"
                                              : "import takes ADDRESS and IN");
    if (!format) return cli_bad_usage(usage, "--format is required");
    transfer_format fmt;
    if (transfer_format_parse(format, &fmt) < 0 || (!is_export && fmt == TRANSFER_EMLZIP))
        return cli_bad_usage(usage, is_export ? "--format is mbox, maildir or eml-zip"
                                              : "--format is mbox or maildir");
    const char *path = argv[optind + 1];
    cli_mailbox mb;
    if (cli_mailbox_open(argv[optind], &mb) != 0) return 1;
    transfer_opts opts = { cli_transfer_warn, NULL };
    transfer_stats st;
    char err[1024];
    rc = 1;
    if (is_export) {
        if (transfer_export(mb.mailbox, fmt, path, &opts, &st, err, sizeof err) != 0) {
            if (st.folders) cli_fail("export failed, %s is incomplete: %s", path, err);
            else cli_fail("%s", err);
        } else {
            printf("Exported %llu folders, %llu messages, %llu bytes to %s.\n",
                   (unsigned long long)st.folders, (unsigned long long)st.messages,
                   (unsigned long long)st.bytes, path);
            rc = 0;
        }
    } else {
        int r = transfer_import(mb.mailbox, fmt, path, &opts, &st, err, sizeof err);
        if (r == 0 || st.messages)
            printf("Imported %llu folders, %llu messages, %llu bytes: %llu added, %llu already"
                   " present, %llu skipped.\n",
                   (unsigned long long)st.folders, (unsigned long long)st.messages,
                   (unsigned long long)st.bytes, (unsigned long long)st.added,
                   (unsigned long long)st.present, (unsigned long long)st.skipped);
        if (r != 0) cli_fail("import stopped: %s", err);
        else if (st.skipped) cli_fail("%llu messages were skipped (see above)",
                                      (unsigned long long)st.skipped);
        else rc = 0;
    }
    cli_mailbox_close(&mb);
    return rc;
}

int cli_export(int argc, char **argv)
{
    return cli_transfer(argc, argv, 1);
}

int cli_import(int argc, char **argv)
{
    return cli_transfer(argc, argv, 0);
}
