/*
 * sealboxd — the Sealbox daemon.
 *
 * Role "all" (the only one so far): IMAP with STARTTLS and IMAP over TLS, and
 * the SMTP MX (STARTTLS, optionally implicit TLS) delivering into them, on the
 * mailbox files of one data directory. On first start with an empty or missing
 * data directory it initialises it (like `sealbox init`) and creates a demo
 * address, printing the address and its password once.
 *
 * Exit status: 0 after SIGTERM/SIGINT, 1 on a configuration or start-up error
 * (with the reason on stderr), 2 on bad usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <openssl/ssl.h>
#include <sodium.h>

#include "util/config.h"
#include "util/fsutil.h"
#include "util/limits.h"
#include "util/log.h"
#include "net/server.h"
#include "net/tls.h"
#include "crypto/keycache.h"
#include "crypto/secmem.h"
#include "directory/directory.h"
#include "store/account.h"
#include "store/datadir.h"
#include "store/store_watch.h"
#include "imap/imap_server.h"
#include "backup/backup.h"
#include "delivery/delivery.h"
#include "smtp/smtp_server.h"
#include "outbound/outbound.h"

#define DEMO_DOMAIN  "example.org"
#define DEMO_ADDRESS "demo@example.org"

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: sealboxd [-d DIR] [options]\n"
        "\n"
        "Serves IMAP and SMTP on the encrypted mailboxes of the data directory DIR.\n"
        "\n"
        "Options (each overrides DIR/sealbox.conf):\n"
        "  -d, --data-dir DIR     data directory (default ./var); created and\n"
        "                         initialised on first start, with a demo address\n"
        "      --imap HOST:PORT   IMAP with STARTTLS (default 127.0.0.1:1143; 'off' to disable)\n"
        "      --imaps HOST:PORT  IMAP over implicit TLS (default 127.0.0.1:1993; 'off')\n"
        "      --smtp HOST:PORT   SMTP MX with STARTTLS (default 127.0.0.1:2525; 'off')\n"
        "      --smtps HOST:PORT  SMTP over implicit TLS (default off)\n"
        "      --relay HOST:PORT  send forwards and bounces through this smarthost\n"
        "                         (default: the target domain's MX; 'off' for MX)\n"
        "      --hostname NAME    name in greetings (default from the config)\n"
        "      --workers N        worker threads (default 64)\n"
        "      --net-threads N    network event loops (default 2)\n"
        "      --no-demo          do not create the demo address on first start\n"
        "  -v, --verbose          debug logging (never logs passwords, addresses or mail)\n"
        "  -h, --help             this text\n"
        "\n"
        "Admin: sealbox -d DIR alias add you@example.org   (see sealbox --help)\n");
}

static int set_listen(char *dst, size_t cap, const char *v)
{
    if (!strcmp(v, "off")) v = "";
    if (strlen(v) >= cap) return -1;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

/* First start: a demo domain and address so a newcomer can connect at once. */
static int create_demo(accounts *acc, const char *dir, const char *argv0)
{
    /* The admin CLI sits beside this program (build/sealbox after `make`). */
    char cli[4096] = "sealbox";
    const char *slash = strrchr(argv0, '/');
    if (slash) snprintf(cli, sizeof cli, "%.*s/sealbox", (int)(slash - argv0), argv0);
    char password[64];
    if (account_generate_password(password, sizeof password) != 0) return -1;
    if (directory_domain_add(account_directory(acc), DEMO_DOMAIN) != 0) return -1;
    account_status st = account_create(acc, DEMO_ADDRESS, password);
    if (st != ACCOUNT_OK) return -1;
    printf("\n"
           "  Sealbox is initialised in %s with a demo address:\n"
           "\n"
           "    address:  %s\n"
           "    password: %s\n"
           "\n"
           "  The password is shown only now. More addresses:\n"
           "    %s -d %s domain add yourdomain.org\n"
           "    %s -d %s alias add you@yourdomain.org\n\n",
           dir, DEMO_ADDRESS, password, cli, dir, cli, dir);
    fflush(stdout);
    sodium_memzero(password, sizeof password);
    return 0;
}

/* Keys of mailboxes whose last session ended KEYCACHE_GRACE_SEC ago are wiped
 * on time even when nobody logs in (the cache also expires lazily on use). */
static void expire_keys(void *arg)
{
    keycache_expire(keycache_now());
}

/* Changes other processes make to mailboxes that sessions watch (sealbox
 * import, a restore) reach those sessions too (store_watch.h). */
static void poll_mailboxes(void *arg)
{
    store_watch_poll(arg);
}

/* Every connection costs a descriptor, and a session with a mailbox selected
 * three more (the file, its WAL and shm). The soft limit is often 1024 while
 * the hard one allows far more: take what we are allowed, as other daemons do
 * (the accept loop pauses when it runs out regardless, src/net/server.c). */
static void raise_descriptor_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) rl.rlim_cur = was;
    }
    log_info("sealboxd", "descriptor limit %llu", (unsigned long long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
    const char *dir = "var";
    char imap_opt[128] = "", imaps_opt[128] = "", host_opt[256] = "";
    char smtp_opt[128] = "", smtps_opt[128] = "";
    int have_imap = 0, have_imaps = 0, workers = 0, net_threads = 0, verbose = 0, no_demo = 0;
    int have_smtp = 0, have_smtps = 0;
    char relay_opt[262] = "";
    int have_relay = 0;
    static const struct option longopts[] = {
        { "data-dir", required_argument, NULL, 'd' },
        { "imap", required_argument, NULL, 'I' },
        { "imaps", required_argument, NULL, 'S' },
        { "smtp", required_argument, NULL, 'M' },
        { "smtps", required_argument, NULL, 'T' },
        { "relay", required_argument, NULL, 'R' },
        { "hostname", required_argument, NULL, 'H' },
        { "workers", required_argument, NULL, 'w' },
        { "net-threads", required_argument, NULL, 'n' },
        { "no-demo", no_argument, NULL, 'D' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "d:vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd': dir = optarg; break;
        case 'I': if (set_listen(imap_opt, sizeof imap_opt, optarg)) goto bad; have_imap = 1; break;
        case 'S': if (set_listen(imaps_opt, sizeof imaps_opt, optarg)) goto bad; have_imaps = 1; break;
        case 'M': if (set_listen(smtp_opt, sizeof smtp_opt, optarg)) goto bad; have_smtp = 1; break;
        case 'T': if (set_listen(smtps_opt, sizeof smtps_opt, optarg)) goto bad; have_smtps = 1; break;
        case 'R': if (set_listen(relay_opt, sizeof relay_opt, optarg)) goto bad; have_relay = 1; break;
        case 'H': snprintf(host_opt, sizeof host_opt, "%s", optarg); break;
        case 'w': workers = atoi(optarg); if (workers < 1 || workers > 4096) goto bad; break;
        case 'n': net_threads = atoi(optarg); if (net_threads < 1 || net_threads > 256) goto bad; break;
        case 'D': no_demo = 1; break;
        case 'v': verbose = 1; break;
        case 'h': usage(stdout); return 0;
        default: goto bad;
        }
    }
    if (optind != argc) goto bad;

    crypto_init();
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/directory.db", dir);
    int first_start = !file_exists(path);
    if (datadir_init(dir, err, sizeof err) != 0) {
        fprintf(stderr, "sealboxd: %s\n", err);
        return 1;
    }
    config cfg;
    config_defaults(&cfg);
    snprintf(path, sizeof path, "%s/sealbox.conf", dir);
    if (config_load(path, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "sealboxd: %s\n", err);
        return 1;
    }
    if (have_imap) snprintf(cfg.imap_listen, sizeof cfg.imap_listen, "%s", imap_opt);
    if (have_imaps) snprintf(cfg.imaps_listen, sizeof cfg.imaps_listen, "%s", imaps_opt);
    if (have_smtp) snprintf(cfg.smtp_listen, sizeof cfg.smtp_listen, "%s", smtp_opt);
    if (have_smtps) snprintf(cfg.smtps_listen, sizeof cfg.smtps_listen, "%s", smtps_opt);
    if (have_relay) snprintf(cfg.relay, sizeof cfg.relay, "%s", relay_opt);
    if (host_opt[0]) snprintf(cfg.hostname, sizeof cfg.hostname, "%s", host_opt);
    if (workers) cfg.workers = workers;
    if (net_threads) cfg.net_threads = net_threads;
    if (verbose || cfg.log_debug) log_set_level(LOG_DEBUG);

    accounts *acc = accounts_open(dir, err, sizeof err);
    if (!acc) {
        fprintf(stderr, "sealboxd: %s\n", err);
        return 1;
    }
    if (first_start && !no_demo && create_demo(acc, dir, argv[0]) != 0) {
        fprintf(stderr, "sealboxd: cannot create the demo address\n");
        accounts_close(acc);
        return 1;
    }

    char cert[4096], key[4096];
    snprintf(cert, sizeof cert, cfg.tls_cert[0] == '/' ? "%s%s" : "%s/%s", cfg.tls_cert[0] == '/' ? "" : dir, cfg.tls_cert);
    snprintf(key, sizeof key, cfg.tls_key[0] == '/' ? "%s%s" : "%s/%s", cfg.tls_key[0] == '/' ? "" : dir, cfg.tls_key);
    SSL_CTX *tls = tls_server_ctx_new(cert, key, err, sizeof err);
    if (!tls) {
        fprintf(stderr, "sealboxd: %s\n", err);
        accounts_close(acc);
        return 1;
    }

    imap_server imap = {
        .acc = acc,
        .datadir = dir,
        .hostname = cfg.hostname,
        .plaintext_auth_loopback = cfg.plaintext_auth_loopback,
    };
    conn_handler imap_handler = { "imap", imap_on_event, &imap };
    conn_handler imaps_handler = { "imaps", imap_on_event, &imap };
    static const char refuse[] = "* BYE Too many connections, try again later\r\n";

    delivery *dlv = delivery_open(dir, account_directory(acc), err, sizeof err);
    if (!dlv) {
        fprintf(stderr, "sealboxd: %s\n", err);
        SSL_CTX_free(tls);
        accounts_close(acc);
        return 1;
    }
    /* The outbound queue (forwards, webhooks, bounces) and its runner thread. */
    outbound_queue *outq = outbound_open(dir, err, sizeof err);
    if (!outq) {
        fprintf(stderr, "sealboxd: %s\n", err);
        delivery_close(dlv);
        SSL_CTX_free(tls);
        accounts_close(acc);
        return 1;
    }
    outbound_config ocfg = {
        .policy = { cfg.queue_retry_first, cfg.queue_retry_max, cfg.queue_lifetime },
        .interval = cfg.queue_interval,
    };
    snprintf(ocfg.relay, sizeof ocfg.relay, "%s", cfg.relay);
    snprintf(ocfg.hostname, sizeof ocfg.hostname, "%s", cfg.hostname);
    outbound_runner *outr = outbound_runner_start(outq, &ocfg);
    if (!outr) {
        fprintf(stderr, "sealboxd: cannot start the outbound queue runner\n");
        outbound_close(outq);
        delivery_close(dlv);
        SSL_CTX_free(tls);
        accounts_close(acc);
        return 1;
    }
    delivery_set_outbound(dlv, outq, outr);
    smtp_server smtp = {
        .dlv = dlv,
        .hostname = cfg.hostname,
        .max_message_size = (uint64_t)cfg.smtp_max_message_size,
    };
    conn_handler smtp_handler = { "smtp", smtp_on_event, &smtp };
    conn_handler smtps_handler = { "smtps", smtp_on_event, &smtp };
    static const char smtp_refuse[] = "421 4.7.0 Too many connections, try again later\r\n";

    /* Daily backups while keys are live, and XBACKUP (backup/backup.h). A target
     * that cannot be used turns them off with a warning; mail goes on. */
    imap.backups = backup_runner_start(dir, err, sizeof err);
    if (!imap.backups) log_warn("sealboxd", "backups are off: %s", err);
    raise_descriptor_limit();
    store_set_cache_mb(cfg.mailbox_cache_mb);
    net_server *srv = net_server_new(cfg.net_threads, cfg.workers);
    int rc = 1;
    if (!srv) goto out;
    if (!cfg.imap_listen[0] && !cfg.imaps_listen[0] && !cfg.smtp_listen[0] && !cfg.smtps_listen[0]) {
        fprintf(stderr, "sealboxd: no listener configured (--imap / --imaps / --smtp / --smtps)\n");
        goto out;
    }
    if (cfg.imap_listen[0] &&
        net_server_listen(srv, cfg.imap_listen, &imap_handler, NULL, tls, refuse, err, sizeof err) != 0) {
        fprintf(stderr, "sealboxd: %s\n", err);
        goto out;
    }
    if (cfg.imaps_listen[0] &&
        net_server_listen(srv, cfg.imaps_listen, &imaps_handler, tls, NULL, refuse, err, sizeof err) != 0) {
        fprintf(stderr, "sealboxd: %s\n", err);
        goto out;
    }
    if (net_server_every(srv, 30, expire_keys, NULL) != 0 ||
        net_server_every(srv, STORE_WATCH_POLL_SEC, poll_mailboxes, (void *)dir) != 0) {
        fprintf(stderr, "sealboxd: cannot start the key expiry and mailbox poll timers\n");
        goto out;
    }
    if (cfg.smtp_listen[0] &&
        net_server_listen(srv, cfg.smtp_listen, &smtp_handler, NULL, tls, smtp_refuse, err, sizeof err) != 0) {
        fprintf(stderr, "sealboxd: %s\n", err);
        goto out;
    }
    if (cfg.smtps_listen[0] &&
        net_server_listen(srv, cfg.smtps_listen, &smtps_handler, tls, NULL, smtp_refuse, err, sizeof err) != 0) {
        fprintf(stderr, "sealboxd: %s\n", err);
        goto out;
    }
    log_info("sealboxd", "serving %s: imap %s, imaps %s, smtp %s, smtps %s", dir,
             cfg.imap_listen[0] ? cfg.imap_listen : "off", cfg.imaps_listen[0] ? cfg.imaps_listen : "off",
             cfg.smtp_listen[0] ? cfg.smtp_listen : "off", cfg.smtps_listen[0] ? cfg.smtps_listen : "off");
    net_server_run(srv);
    rc = 0;
    log_info("sealboxd", "stopped");
out:
    net_server_free(srv);
    backup_runner_stop(imap.backups);
    outbound_runner_stop(outr);
    delivery_close(dlv);
    outbound_close(outq);
    SSL_CTX_free(tls);
    accounts_close(acc);
    keycache_clear();
    return rc;
bad:
    usage(stderr);
    return 2;
}
