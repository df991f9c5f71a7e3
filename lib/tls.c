/* SPDX-License-Identifier: MIT */
/* OpenSSL client handshakes with verification and a record of what the server presented. */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "util.h"

bool iq_host_is_ip(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static char *ssl_error_text(void)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    if (e == 0)
        return iq_xstrdup("unknown TLS error");
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return iq_xstrdup(buf);
}

SSL_CTX *iq_tls_ctx_new(const char *ca_file, char **error_r)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        char *why = ssl_error_text();
        *error_r = iq_xasprintf("TLS context: %s", why);
        free(why);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    int ok = ca_file && *ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                                 : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        char *why = ssl_error_text();
        *error_r = iq_xasprintf("setting ca_file (INBOXQ_CA_FILE) = '%s': cannot load CA "
                                "certificates: %s; give a readable PEM file",
                                ca_file ? ca_file : "", why);
        free(why);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

void iq_tls_ctx_free(SSL_CTX **ctx)
{
    if (*ctx) {
        SSL_CTX_free(*ctx);
        *ctx = NULL;
    }
}

/* Keeps verifying to the end so the whole certificate can be described; the result is
 * checked right after the handshake, before anything else is sent. */
static int verify_cb(int ok, X509_STORE_CTX *store)
{
    IQ_UNUSED(ok);
    IQ_UNUSED(store);
    return 1;
}

static void asn1_time(const ASN1_TIME *t, char *buf, size_t size)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) {
        snprintf(buf, size, "?");
        return;
    }
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void describe(SSL *ssl, iq_tls_info *info)
{
    snprintf(info->version, sizeof(info->version), "%s", SSL_get_version(ssl));
    const char *cipher = SSL_get_cipher_name(ssl);
    snprintf(info->cipher, sizeof(info->cipher), "%s", cipher ? cipher : "");
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (!cert)
        return;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (X509_digest(cert, EVP_sha256(), md, &n) == 1) {
        size_t off = 0;
        for (unsigned int i = 0; i < n && off + 3 < sizeof(info->fingerprint); i++)
            off += (size_t)snprintf(info->fingerprint + off, sizeof(info->fingerprint) - off,
                                    i ? ":%02X" : "%02X", md[i]);
    }
    X509_NAME_oneline(X509_get_subject_name(cert), info->subject, (int)sizeof(info->subject));
    X509_NAME_oneline(X509_get_issuer_name(cert), info->issuer, (int)sizeof(info->issuer));
    asn1_time(X509_get0_notBefore(cert), info->not_before, sizeof(info->not_before));
    asn1_time(X509_get0_notAfter(cert), info->not_after, sizeof(info->not_after));
    X509_free(cert);
}

static int wait_io(int fd, int want, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - iq_now_mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd,
                           .events = (short)(want == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN)};
        int r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

int iq_tls_handshake(SSL_CTX *ctx, int fd, const char *host, bool verify, int64_t deadline_ms,
                     SSL **ssl_r, iq_tls_info *info_r, const char **class_r, char **error_r)
{
    memset(info_r, 0, sizeof(*info_r));
    *ssl_r = NULL;
    ERR_clear_error();
    SSL *ssl = SSL_new(ctx);
    if (!ssl)
        iq_oom();
    SSL_set_fd(ssl, fd);
    bool ip = iq_host_is_ip(host);
    if (!ip)
        SSL_set_tlsext_host_name(ssl, host);
    if (verify) {
        SSL_set_verify(ssl, SSL_VERIFY_PEER, verify_cb);
        if (ip)
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
        else
            SSL_set1_host(ssl, host);
    } else {
        SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
    }
    for (;;) {
        int r = SSL_connect(ssl);
        if (r == 1)
            break;
        int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            int w = wait_io(fd, e, deadline_ms);
            if (w == 1)
                continue;
            *class_r = w == 0 ? "timeout" : "tls_handshake";
            *error_r = iq_xasprintf("TLS handshake with %s %s", host,
                                    w == 0 ? "did not finish before the deadline"
                                           : "failed: socket error");
            SSL_free(ssl);
            return -1;
        }
        char *why = e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0
                        ? iq_xstrdup("the server closed the connection")
                        : ssl_error_text();
        describe(ssl, info_r);
        *class_r = "tls_handshake";
        *error_r = iq_xasprintf("TLS handshake with %s failed: %s", host, why);
        free(why);
        SSL_free(ssl);
        return -1;
    }
    describe(ssl, info_r);
    long vr = SSL_get_verify_result(ssl);
    snprintf(info_r->verify_result, sizeof(info_r->verify_result), "%s",
             vr == X509_V_OK ? "ok" : X509_verify_cert_error_string(vr));
    info_r->verified = verify && vr == X509_V_OK;
    if (verify && vr != X509_V_OK) {
        *class_r = "tls_verify";
        *error_r =
            iq_xasprintf("certificate of %s not trusted: %s (subject %s, issuer %s); fix "
                         "the server's certificate, set ca_file, or set the account to "
                         "ignore the certificate",
                         host, X509_verify_cert_error_string(vr), info_r->subject, info_r->issuer);
        SSL_free(ssl);
        return -1;
    }
    *ssl_r = ssl;
    return 0;
}
