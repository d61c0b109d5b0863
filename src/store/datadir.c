/*
 * datadir.c — data directory initialisation (see datadir.h).
 *
 * The certificate is built with OpenSSL 3 directly (EVP_EC_gen, X509_*): no
 * openssl command line at run time. It names localhost and 127.0.0.1 because
 * clients such as mbsync and fetchmail never match a certificate against a bare
 * IP otherwise (DESIGN.md "What real clients rely on").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "util/buf.h"
#include "util/config.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "crypto/secmem.h"
#include "directory/directory.h"
#include "store/datadir.h"

#define DATADIR_SERVER_KEY_LEN 32
#define DATADIR_CERT_DAYS      3650
#define DATADIR_CN_MAX         64      /* X.520 ub-common-name */

/* Writes `data` to `path` only if `path` does not exist: temp file, fsync,
 * link() (which refuses an existing name), unlink of the temp, fsync of the
 * directory. 0 written, 1 already there, -1 error (errno). */
static int datadir_create_file(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[4096], dir[4096];
    if (snprintf(tmp, sizeof tmp, "%s.new.%d", path, (int)getpid()) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (file_exists(path)) return 1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return -1;
    const unsigned char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) goto fail;
        p += n;
        left -= (size_t)n;
    }
    if (fchmod(fd, mode) < 0 || fsync(fd) < 0) goto fail;
    if (close(fd) < 0) { fd = -1; goto fail; }
    fd = -1;
    int rc = link(tmp, path);
    int saved = errno;
    unlink(tmp);
    if (rc < 0) {
        if (saved == EEXIST) return 1;
        errno = saved;
        return -1;
    }
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0'; else snprintf(dir, sizeof dir, ".");
    return fsync_dir(dir[0] ? dir : "/") < 0 ? -1 : 0;
fail:;
    int e = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    errno = e;
    return -1;
}

static int datadir_mkdir(const char *path, char *err, size_t errlen)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is not a directory", path);
        return -1;
    }
    return 0;
}

/* --- TLS --------------------------------------------------------------------------- */

static int datadir_add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext) return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/* A self-signed certificate for `pkey` naming `hostname` (already validated:
 * letters, digits, dots, hyphens, or an IP literal), as PEM in *pem. */
static int datadir_make_cert(EVP_PKEY *pkey, const char *hostname, buf *pem)
{
    int rc = -1;
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    BIO *bio = BIO_new(BIO_s_mem());
    if (!x || !serial || !bio) goto out;

    /* RFC 5280 4.1.2.2: a positive serial of at most 20 octets; random, so two
     * certificates made on one host never share one. */
    unsigned char rnd[16];
    if (RAND_bytes(rnd, sizeof rnd) != 1) goto out;
    rnd[0] &= 0x7f;
    rnd[0] |= 0x01;
    if (!BN_bin2bn(rnd, sizeof rnd, serial) || !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)))
        goto out;
    if (X509_set_version(x, 2) != 1) goto out;                       /* v3 */
    /* An hour in the past: a client whose clock lags a little still accepts it. */
    if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), DATADIR_CERT_DAYS, 0, NULL))
        goto out;
    const char *cn = strlen(hostname) <= DATADIR_CN_MAX ? hostname : "localhost";
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) ||
        X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, pkey) != 1)
        goto out;

    char san[600];
    unsigned char ipbuf[16];
    int is_ip = inet_pton(AF_INET, hostname, ipbuf) == 1 || inet_pton(AF_INET6, hostname, ipbuf) == 1;
    if (!strcmp(hostname, "localhost") || !strcmp(hostname, "127.0.0.1"))
        snprintf(san, sizeof san, "DNS:localhost,IP:127.0.0.1");
    else
        snprintf(san, sizeof san, "DNS:localhost,IP:127.0.0.1,%s:%s", is_ip ? "IP" : "DNS", hostname);
    /* CA:FALSE: a self-signed end-entity certificate that clients pin as their
     * trust anchor (CertificateFile in mbsync, cafile= in Python). The key
     * identifiers keep strict verifiers (X509_V_FLAG_X509_STRICT) content. */
    if (datadir_add_ext(x, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
        datadir_add_ext(x, NID_key_usage, "critical,digitalSignature") < 0 ||
        datadir_add_ext(x, NID_ext_key_usage, "serverAuth") < 0 ||
        datadir_add_ext(x, NID_subject_key_identifier, "hash") < 0 ||
        datadir_add_ext(x, NID_authority_key_identifier, "keyid:always") < 0 ||
        datadir_add_ext(x, NID_subject_alt_name, san) < 0)
        goto out;
    if (X509_sign(x, pkey, EVP_sha256()) <= 0) goto out;
    if (PEM_write_bio_X509(bio, x) != 1) goto out;
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    if (n <= 0) goto out;
    buf_append(pem, data, (size_t)n);
    rc = 0;
out:
    BIO_free(bio);
    BN_free(serial);
    X509_free(x);
    return rc;
}

/* The certificate's name for `h`: an IP literal as it is, a host name
 * lowercased; -1 for anything else (it goes into the subjectAltName text). */
static int datadir_hostname(const char *h, char *out, size_t outlen)
{
    unsigned char ipbuf[16];
    if (inet_pton(AF_INET, h, ipbuf) == 1 || inet_pton(AF_INET6, h, ipbuf) == 1) {
        snprintf(out, outlen, "%s", h);
        return 0;
    }
    return directory_domain_normalise(h, out, outlen);
}

static int datadir_tls(const char *dir, const config *cfg, char *err, size_t errlen)
{
    char certpath[4096], keypath[4096], tlsdir[4096];
    snprintf(tlsdir, sizeof tlsdir, "%s/tls", dir);
    if (snprintf(certpath, sizeof certpath, cfg->tls_cert[0] == '/' ? "%s%s" : "%s/%s",
                 cfg->tls_cert[0] == '/' ? "" : dir, cfg->tls_cert) >= (int)sizeof certpath ||
        snprintf(keypath, sizeof keypath, cfg->tls_key[0] == '/' ? "%s%s" : "%s/%s",
                 cfg->tls_key[0] == '/' ? "" : dir, cfg->tls_key) >= (int)sizeof keypath) {
        snprintf(err, errlen, "TLS file path too long");
        return -1;
    }
    int have_cert = file_exists(certpath), have_key = file_exists(keypath);
    if (have_cert && have_key) return 0;
    if (have_cert) {
        snprintf(err, errlen, "%s exists but its key %s is missing; remove the certificate to get a new pair",
                 certpath, keypath);
        return -1;
    }
    char host[sizeof cfg->hostname];
    if (datadir_hostname(cfg->hostname, host, sizeof host) < 0) {
        snprintf(err, errlen, "hostname '%s' in sealbox.conf is not a valid host name", cfg->hostname);
        return -1;
    }
    if (datadir_mkdir(tlsdir, err, errlen) < 0) return -1;

    int rc = -1;
    EVP_PKEY *pkey = NULL;
    BIO *kbio = NULL;
    buf pem = BUF_INIT;
    if (have_key) {
        /* Keep an existing key and give it the certificate it lacks. */
        FILE *f = fopen(keypath, "r");
        if (f) {
            pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
            fclose(f);
        }
        if (!pkey) {
            snprintf(err, errlen, "cannot read the private key %s", keypath);
            goto out;
        }
    } else {
        pkey = EVP_EC_gen("P-256");
        /* BIO_s_secmem: the PEM of the private key lives in OpenSSL's secure
         * heap when one is configured and is cleared when freed either way. */
        kbio = BIO_new(BIO_s_secmem());
        char *data;
        long n;
        if (!pkey || !kbio || PEM_write_bio_PrivateKey(kbio, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
            (n = BIO_get_mem_data(kbio, &data)) <= 0) {
            snprintf(err, errlen, "cannot generate an ECDSA P-256 key");
            goto out;
        }
        if (datadir_create_file(keypath, data, (size_t)n, 0600) < 0) {
            snprintf(err, errlen, "cannot write %s: %s", keypath, strerror(errno));
            goto out;
        }
    }
    if (datadir_make_cert(pkey, host, &pem) < 0) {
        snprintf(err, errlen, "cannot build the self-signed certificate");
        goto out;
    }
    if (datadir_create_file(certpath, pem.p, pem.len, 0644) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", certpath, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    buf_free(&pem);
    BIO_free(kbio);
    EVP_PKEY_free(pkey);
    return rc;
}

/* --- The directory --------------------------------------------------------------------- */

static int datadir_server_key(const char *dir, char *err, size_t errlen)
{
    char keypath[4096], dbpath[4096];
    snprintf(keypath, sizeof keypath, "%s/server.key", dir);
    snprintf(dbpath, sizeof dbpath, "%s/directory.db", dir);
    if (file_exists(keypath)) return 0;
    if (file_exists(dbpath)) {
        snprintf(err, errlen, "%s exists but %s is missing: without it the directory cannot be "
                 "read; restore the key from a backup", dbpath, keypath);
        return -1;
    }
    unsigned char *key = secmem_alloc(DATADIR_SERVER_KEY_LEN);
    randombytes_buf(key, DATADIR_SERVER_KEY_LEN);
    int rc = datadir_create_file(keypath, key, DATADIR_SERVER_KEY_LEN, 0600);
    secmem_free(key);
    if (rc < 0) {
        snprintf(err, errlen, "cannot write %s: %s", keypath, strerror(errno));
        return -1;
    }
    return 0;
}

int datadir_init(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    crypto_init();
    if (!dir || !*dir || strlen(dir) > 3000) {
        snprintf(err, errlen, "bad data directory name");
        return -1;
    }
    if (mkdir_p(dir, 0700) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }

    config cfg;
    config_defaults(&cfg);
    snprintf(path, sizeof path, "%s/sealbox.conf", dir);
    if (!file_exists(path)) {
        /* config_write replaces; write to a private name, then link into place. */
        char newpath[4200];
        snprintf(newpath, sizeof newpath, "%s.init", path);
        if (config_write(newpath, &cfg) < 0) {
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
            return -1;
        }
        if (link(newpath, path) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
            unlink(newpath);
            return -1;
        }
        unlink(newpath);
        fsync_dir(dir);
    }
    if (config_load(path, &cfg, err, errlen) < 0) return -1;

    if (datadir_server_key(dir, err, errlen) < 0) return -1;
    snprintf(path, sizeof path, "%s/mailboxes", dir);
    if (datadir_mkdir(path, err, errlen) < 0) return -1;
    if (datadir_tls(dir, &cfg, err, errlen) < 0) return -1;

    directory *d = directory_open(dir, err, errlen);
    if (!d) return -1;
    directory_close(d);
    return 0;
}
