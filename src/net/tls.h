/*
 * tls.h — the server's TLS context (OpenSSL 3).
 *
 * One SSL_CTX per certificate, shared by every listener that uses it. Settings
 * measured on this machine (DESIGN.md "Connection facts"): TLS 1.2 minimum,
 * SSL_MODE_RELEASE_BUFFERS (~15 KB per idle connection instead of ~44 KB),
 * SSL_OP_IGNORE_UNEXPECTED_EOF (libevent + OpenSSL 3), stateless session tickets
 * (never SSL_OP_NO_TICKET alone).
 */
#ifndef SEALBOX_TLS_H
#define SEALBOX_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

/* NULL with a reason in err when the certificate or key cannot be used. */
SSL_CTX *tls_server_ctx_new(const char *cert_pem, const char *key_pem, char *err, size_t errlen);

#endif
