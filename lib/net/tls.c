/* SPDX-License-Identifier: MIT */
/* OpenSSL client handshakes with verification and a record of what the server presented. */
#include "tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
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

/* ---- client-side session resumption -------------------------------------------------------
 * A worker checks the same servers again and again; resuming a TLS session spares the server
 * its certificate signature (the costly part of a handshake) on every check. Sessions are kept
 * per host, peer address and verification mode, so a session set up without verification
 * (an account that ignores the certificate) never stands in for a verified one. */

#define SESSION_SLOTS 1024

typedef struct session_slot {
    char key[320];
    SSL_SESSION *sess;
} session_slot;

static struct {
    pthread_mutex_t lock;
    session_slot slots[SESSION_SLOTS];
    int ex_index;
    pthread_once_t once;
} g_sessions = {.lock = PTHREAD_MUTEX_INITIALIZER, .ex_index = -1, .once = PTHREAD_ONCE_INIT};

/* Frees the session key stored with each SSL when OpenSSL frees the SSL. */
static void free_key(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    IQ_UNUSED(parent);
    IQ_UNUSED(ad);
    IQ_UNUSED(idx);
    IQ_UNUSED(argl);
    IQ_UNUSED(argp);
    free(ptr);
}

static void sessions_init(void)
{
    g_sessions.ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_key);
}

static size_t slot_of(const char *key)
{
    size_t h = 5381;
    for (const char *p = key; *p; p++)
        h = h * 33 + (unsigned char)*p;
    return h % SESSION_SLOTS;
}

/* OpenSSL hands us each new session (for TLS 1.3 after the handshake, with a ticket). */
static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    const char *key = SSL_get_ex_data(ssl, g_sessions.ex_index);
    if (!key || !SSL_SESSION_is_resumable(sess))
        return 0;
    session_slot *slot = &g_sessions.slots[slot_of(key)];
    pthread_mutex_lock(&g_sessions.lock);
    if (slot->sess)
        SSL_SESSION_free(slot->sess);
    slot->sess = sess; /* returning 1: the reference is ours */
    snprintf(slot->key, sizeof(slot->key), "%s", key);
    pthread_mutex_unlock(&g_sessions.lock);
    return 1;
}

static void session_key(int fd, const char *host, bool verify, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t len = sizeof(ss);
    char addr[INET6_ADDRSTRLEN + 8] = "?";
    unsigned port = 0;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)&ss;
            inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
            port = ntohs(in->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)&ss;
            inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
            port = ntohs(in6->sin6_port);
        }
        size_t n = strlen(addr);
        snprintf(addr + n, sizeof(addr) - n, ":%u", port);
    }
    snprintf(buf, size, "%s|%s|%s", verify ? "v" : "n", addr, host);
}

/* A session to resume for this key (a new reference), or NULL. */
static SSL_SESSION *session_get(const char *key)
{
    SSL_SESSION *sess = NULL;
    session_slot *slot = &g_sessions.slots[slot_of(key)];
    pthread_mutex_lock(&g_sessions.lock);
    if (slot->sess && strcmp(slot->key, key) == 0) {
        if (SSL_SESSION_is_resumable(slot->sess) &&
            (int64_t)SSL_SESSION_get_time(slot->sess) +
                    (int64_t)SSL_SESSION_get_timeout(slot->sess) >
                (int64_t)time(NULL)) {
            sess = slot->sess;
            SSL_SESSION_up_ref(sess);
        } else {
            SSL_SESSION_free(slot->sess);
            slot->sess = NULL;
        }
    }
    pthread_mutex_unlock(&g_sessions.lock);
    return sess;
}

SSL_CTX *iq_tls_ctx_new(const char *ca_file, char **error_r)
{
    pthread_once(&g_sessions.once, sessions_init);
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
    /* Read whole bursts of records per system call rather than a 5-byte header and then the
     * body of each record: a first sync is mostly records arriving back to back. */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
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

/* 1 when fd is ready, 0 when the deadline passed, 2 when idle_ms passed without a byte, -1 on a
 * socket error. */
static int wait_io(int fd, int want, int64_t deadline_ms, int64_t idle_ms)
{
    int64_t idle_end = idle_ms > 0 ? iq_now_mono_ms() + idle_ms : INT64_MAX;
    for (;;) {
        int64_t now = iq_now_mono_ms();
        int64_t left = deadline_ms - now;
        if (left <= 0)
            return 0;
        if (idle_end - now <= 0)
            return 2;
        if (idle_end - now < left)
            left = idle_end - now;
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
                     int64_t idle_ms, SSL **ssl_r, iq_tls_info *info_r, iq_err *class_r,
                     char **error_r)
{
    memset(info_r, 0, sizeof(*info_r));
    *ssl_r = NULL;
    ERR_clear_error();
    SSL *ssl = SSL_new(ctx);
    if (!ssl)
        iq_oom();
    SSL_set_fd(ssl, fd);
    /* the key lives as long as ssl: new_session_cb may run at the first read after this */
    char *key = iq_xmalloc(320);
    session_key(fd, host, verify, key, 320);
    SSL_set_ex_data(ssl, g_sessions.ex_index, key);
    SSL_SESSION *resume = session_get(key);
    if (resume) {
        SSL_set_session(ssl, resume);
        SSL_SESSION_free(resume);
    }
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
            int w = wait_io(fd, e, deadline_ms, idle_ms);
            if (w == 1)
                continue;
            *class_r = w >= 0 ? IQ_ERR_TIMEOUT : IQ_ERR_TLS_HANDSHAKE;
            if (w == 2)
                *error_r = iq_xasprintf("TLS handshake with %s stalled: the server sent nothing "
                                        "for %lld ms (read_timeout)",
                                        host, (long long)idle_ms);
            else
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
        *class_r = IQ_ERR_TLS_HANDSHAKE;
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
        *class_r = IQ_ERR_TLS_VERIFY;
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
