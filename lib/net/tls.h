/* SPDX-License-Identifier: MIT */
/* TLS for mail connections with OpenSSL 3 (RFC 8314 implicit TLS, RFC 3501/2595 STARTTLS):
 * TLS 1.2+, SNI, chain verification against the system store or a CA file, and host name or
 * IP verification, all skipped only for an account that says "ignore certificate". */
#ifndef IQ_TLS_H
#define IQ_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "error.h"

typedef struct iq_tls_info {
    char version[16];      /* "TLSv1.3" */
    char cipher[64];       /* "TLS_AES_256_GCM_SHA384" */
    char fingerprint[100]; /* SHA-256 of the leaf certificate, "AB:CD:..." */
    char subject[256];
    char issuer[256];
    char not_before[32];
    char not_after[32];
    char verify_result[160]; /* "ok" or OpenSSL's reason */
    bool verified;           /* chain and name checked and good */
} iq_tls_info;

/* A client context: TLS 1.2 minimum, trust from ca_file (PEM) or, when NULL/empty, the system
 * store. Shared by every connection of a process (thread-safe in OpenSSL 3). */
SSL_CTX *iq_tls_ctx_new(const char *ca_file, char **error_r);
void iq_tls_ctx_free(SSL_CTX **ctx);

/* Runs the client handshake on a connected non-blocking fd within deadline_ms, waiting at most
 * idle_ms (read_timeout; 0 = no such limit) for any one step of the server's. With verify,
 * a bad chain or name fails with class IQ_ERR_TLS_VERIFY right after the handshake, before any
 * application byte is sent; other failures are IQ_ERR_TLS_HANDSHAKE or IQ_ERR_TIMEOUT. info_r is
 * filled as far as the handshake got. *ssl_r owns nothing of fd. */
int iq_tls_handshake(SSL_CTX *ctx, int fd, const char *host, bool verify, int64_t deadline_ms,
                     int64_t idle_ms, SSL **ssl_r, iq_tls_info *info_r, iq_err *class_r,
                     char **error_r);

bool iq_host_is_ip(const char *host);

#endif
