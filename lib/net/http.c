/* SPDX-License-Identifier: MIT */
/* HTTPS form POSTs with libcurl (the easy interface, one handle per request). */
#include "http.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "util.h"
#include "version.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void iq_http_response_release(iq_http_response *r)
{
    if (!r)
        return;
    if (r->body) {
        iq_secure_zero(r->body, r->len);
        free(r->body);
    }
    memset(r, 0, sizeof(*r));
}

typedef struct sink {
    char *buf;
    size_t len, cap, max;
    bool over;
} sink;

static size_t on_data(char *data, size_t size, size_t n, void *ctx)
{
    sink *k = ctx;
    size_t add = size * n;
    if (add > k->max - k->len) {
        k->over = true;
        return 0; /* CURLE_WRITE_ERROR */
    }
    if (k->len + add + 1 > k->cap) {
        size_t cap = k->cap ? k->cap : 4096;
        while (cap < k->len + add + 1)
            cap *= 2;
        char *nb = iq_xmalloc(cap);
        if (k->buf) {
            memcpy(nb, k->buf, k->len);
            iq_secure_zero(k->buf, k->cap);
            free(k->buf);
        }
        k->buf = nb;
        k->cap = cap;
    }
    memcpy(k->buf + k->len, data, add);
    k->len += add;
    k->buf[k->len] = '\0';
    return add;
}

/* The form body; NULL when a value would not encode. */
static char *form_body(CURL *h, const char *const *fields, size_t *len_r)
{
    size_t cap = 1, len = 0;
    for (size_t i = 0; fields[i] && fields[i + 1]; i += 2)
        cap = iq_size_add(
            cap, iq_size_add(iq_size_mul(strlen(fields[i + 1]), 3), strlen(fields[i]) + 2));
    char *body = iq_xmalloc(cap);
    body[0] = '\0';
    for (size_t i = 0; fields[i] && fields[i + 1]; i += 2) {
        char *v = curl_easy_escape(h, fields[i + 1], 0);
        if (!v) {
            iq_secure_zero(body, cap);
            free(body);
            return NULL;
        }
        size_t nl = strlen(fields[i]), vl = strlen(v);
        if (len)
            body[len++] = '&';
        memcpy(body + len, fields[i], nl);
        len += nl;
        body[len++] = '=';
        memcpy(body + len, v, vl);
        len += vl;
        body[len] = '\0';
        iq_secure_zero(v, vl);
        curl_free(v);
    }
    *len_r = cap;
    return body;
}

static iq_err classify(CURLcode rc, bool proxied, bool over)
{
    if (over)
        return IQ_ERR_SIZE_LIMIT;
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
        return proxied ? IQ_ERR_PROXY : IQ_ERR_DNS;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_PROXY:
        return IQ_ERR_PROXY;
    case CURLE_COULDNT_CONNECT:
        return proxied ? IQ_ERR_PROXY : IQ_ERR_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        return IQ_ERR_TIMEOUT;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        return IQ_ERR_TLS_VERIFY;
    case CURLE_SSL_CONNECT_ERROR:
        return IQ_ERR_TLS_HANDSHAKE;
    case CURLE_FILESIZE_EXCEEDED:
        return IQ_ERR_SIZE_LIMIT;
    default:
        return IQ_ERR_CONNECT;
    }
}

/* The URL's host, for messages (the URL itself may carry a tenant, never a secret). */
static void url_host(const char *url, char *buf, size_t size)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/?#");
    if (n >= size)
        n = size - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
}

int iq_http_post_form(const char *url, const char *const *fields, const iq_http_opts *o,
                      iq_http_response *r, iq_err *class_r, char **error_r)
{
    memset(r, 0, sizeof(*r));
    char host[256];
    url_host(url, host, sizeof(host));
    pthread_once(&global_once, global_init);
    CURL *h = global_rc == CURLE_OK ? curl_easy_init() : NULL;
    if (!h) {
        *class_r = IQ_ERR_CONNECT;
        *error_r = iq_xstrdup("libcurl could not be initialised");
        return -1;
    }
    size_t body_cap = 0;
    char *body = form_body(h, fields, &body_cap);
    char errbuf[CURL_ERROR_SIZE] = "";
    sink k = {.max = o->max_response ? o->max_response : IQ_HTTP_MAX_RESPONSE};
    struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
    bool proxied = o->proxy != IQ_HTTP_PROXY_NONE;
    char proxy[300] = "";
    int rc = -1;
    if (!body || !hdrs) {
        *class_r = IQ_ERR_CONFIG;
        *error_r = iq_xstrdup("a token request field could not be encoded");
        goto out;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (o->ca_file && *o->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "inboxq/" IQ_VERSION);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &k);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)k.max);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(o->timeout_ms > 0 ? o->timeout_ms : 30000));
    if (proxied) {
        /* socks5h: the proxy resolves the name, as the mail connection's SOCKS5 does */
        snprintf(proxy, sizeof(proxy), "%s://%s:%d",
                 o->proxy == IQ_HTTP_PROXY_SOCKS5 ? "socks5h" : "http", o->proxy_host,
                 o->proxy_port);
        curl_easy_setopt(h, CURLOPT_PROXY, proxy);
        if (o->proxy == IQ_HTTP_PROXY_HTTP)
            curl_easy_setopt(h, CURLOPT_HTTPPROXYTUNNEL, 1L);
        if (o->proxy_user) {
            curl_easy_setopt(h, CURLOPT_PROXYUSERNAME, o->proxy_user);
            curl_easy_setopt(h, CURLOPT_PROXYPASSWORD, o->proxy_pass ? o->proxy_pass : "");
        }
    } else {
        curl_easy_setopt(h, CURLOPT_PROXY, ""); /* no proxy from the environment either */
    }
    CURLcode cr = curl_easy_perform(h);
    if (cr != CURLE_OK) {
        *class_r = classify(cr, proxied, k.over);
        *error_r = k.over ? iq_xasprintf("the answer of %s is larger than %zu bytes", host, k.max)
                          : iq_xasprintf("%s%s: %s", proxied ? "through the proxy, " : "", host,
                                         errbuf[0] ? errbuf : curl_easy_strerror(cr));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    r->body = k.buf ? k.buf : iq_xstrdup("");
    r->len = k.buf ? k.len : 0;
    k.buf = NULL;
    rc = 0;
out:
    if (k.buf) {
        iq_secure_zero(k.buf, k.cap);
        free(k.buf);
    }
    if (body) {
        iq_secure_zero(body, body_cap);
        free(body);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return rc;
}
