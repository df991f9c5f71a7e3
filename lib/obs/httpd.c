/* SPDX-License-Identifier: MIT */
/* The HTTP server on libmicrohttpd: MHD parses HTTP/1.x, keeps the connections in a pool of
 * epoll threads and enforces the caps (connections in all and per address, idle timeout,
 * memory per connection); this module collects the body under its own cap, hands the request to
 * the handler, and sends what the handler answers with the headers every response carries. */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "util.h"

#define MAX_RESP_HEADERS 24

struct iq_httpd {
    struct MHD_Daemon *daemon;
    int port;
    iq_http_handler handler;
    void *ctx;
    size_t max_body;
    bool keep_alive;
    bool tls;
    char *tls_cert, *tls_key;
    /* iq_httpd_start's endpoints */
    iq_metrics *metrics;
    iq_ready_fn ready;
    void *ready_ctx;
};

/* What one request keeps between libmicrohttpd's calls (its body, as it arrives). */
typedef struct {
    iq_buf body;
    bool too_large;
} req_state;

struct iq_http_req {
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    const char *body;
    size_t body_len;
    char peer[INET6_ADDRSTRLEN];
    bool tls;
};

struct iq_http_resp {
    bool set;
    int status;
    char *content_type;
    char *body;
    size_t body_len;
    iq_http_read_fn read; /* a streamed body instead of body (iq_http_resp_stream) */
    void (*done)(void *ctx);
    void *stream_ctx;
    size_t n_headers;
    char *names[MAX_RESP_HEADERS];
    char *values[MAX_RESP_HEADERS];
};

/* ---- requests ---- */

const char *iq_http_req_method(const iq_http_req *r)
{
    return r->method;
}

const char *iq_http_req_path(const iq_http_req *r)
{
    return r->path;
}

const char *iq_http_req_header(const iq_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *iq_http_req_query(const iq_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *iq_http_req_cookie(const iq_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

const char *iq_http_req_body(const iq_http_req *r, size_t *len_r)
{
    if (len_r != NULL)
        *len_r = r->body_len;
    return r->body;
}

const char *iq_http_req_peer(const iq_http_req *r)
{
    return r->peer;
}

bool iq_http_req_tls(const iq_http_req *r)
{
    return r->tls;
}

/* ---- responses ---- */

static bool has_ctl(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static void stream_drop(iq_http_resp *r)
{
    if (r->done != NULL)
        r->done(r->stream_ctx);
    r->read = NULL;
    r->done = NULL;
    r->stream_ctx = NULL;
}

void iq_http_resp_take(iq_http_resp *r, int status, const char *content_type, char *body,
                       size_t body_len)
{
    stream_drop(r);
    free(r->content_type);
    free(r->body);
    r->set = true;
    r->status = status;
    r->content_type = iq_xstrdup(
        content_type == NULL || has_ctl(content_type) ? "application/octet-stream" : content_type);
    r->body = body;
    r->body_len = body == NULL ? 0 : body_len;
}

void iq_http_resp_set(iq_http_resp *r, int status, const char *content_type, const void *body,
                      size_t body_len)
{
    char *copy = NULL;
    if (body_len > 0) {
        copy = iq_xmalloc(body_len);
        memcpy(copy, body, body_len);
    }
    iq_http_resp_take(r, status, content_type, copy, body_len);
}

void iq_http_resp_stream(iq_http_resp *r, int status, const char *content_type,
                         iq_http_read_fn read, void (*done)(void *ctx), void *ctx)
{
    iq_http_resp_take(r, status, content_type, NULL, 0);
    r->read = read;
    r->done = done;
    r->stream_ctx = ctx;
}

void iq_http_resp_header(iq_http_resp *r, const char *name, const char *value)
{
    if (has_ctl(name) || has_ctl(value) || *name == '\0' || strchr(name, ':') != NULL) {
        IQ_WARN("httpd: a response header with control characters was dropped");
        return;
    }
    if (r->n_headers == MAX_RESP_HEADERS) {
        IQ_WARN("httpd: more than %d response headers; header %s dropped", MAX_RESP_HEADERS, name);
        return;
    }
    r->names[r->n_headers] = iq_xstrdup(name);
    r->values[r->n_headers] = iq_xstrdup(value);
    r->n_headers++;
}

static void resp_release(iq_http_resp *r)
{
    stream_drop(r);
    free(r->content_type);
    free(r->body);
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    memset(r, 0, sizeof(*r));
}

static void resp_text(iq_http_resp *r, int status, const char *text)
{
    iq_http_resp_set(r, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* A streamed body as libmicrohttpd pulls it: the reader's bytes, its end, or on failure the
 * connection closed without the last chunk (the client sees an incomplete transfer). */
typedef struct {
    iq_http_read_fn read;
    void (*done)(void *ctx);
    void *ctx;
} stream_cls;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    IQ_UNUSED(pos);
    stream_cls *st = cls;
    ssize_t n = st->read(st->ctx, buf, max);
    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void stream_free(void *cls)
{
    stream_cls *st = cls;
    if (st->done != NULL)
        st->done(st->ctx);
    free(st);
}

/* Sends r on c with the headers every response carries. */
static enum MHD_Result send_resp(iq_httpd *h, struct MHD_Connection *c, iq_http_resp *r)
{
    if (!r->set)
        resp_text(r, 500, "internal error\n");
    struct MHD_Response *mr;
    if (r->read != NULL) {
        stream_cls *st = iq_xmalloc(sizeof(*st));
        *st = (stream_cls){.read = r->read, .done = r->done, .ctx = r->stream_ctx};
        r->read = NULL;
        r->done = NULL; /* the response's now: stream_free ends it */
        mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, IQ_HTTPD_STREAM_BLOCK, stream_read,
                                               st, stream_free);
        if (mr == NULL) {
            stream_free(st);
            return MHD_NO;
        }
    } else {
        mr = MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
        if (mr == NULL)
            return MHD_NO; /* out of memory: MHD closes the connection */
        r->body = NULL;    /* the response frees it */
    }
    bool ok = MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type) == MHD_YES;
    bool cache_set = false;
    for (size_t i = 0; i < r->n_headers; i++) {
        ok = ok && MHD_add_response_header(mr, r->names[i], r->values[i]) == MHD_YES;
        if (strcasecmp(r->names[i], "Cache-Control") == 0)
            cache_set = true;
    }
    if (!cache_set)
        ok = ok && MHD_add_response_header(mr, "Cache-Control", "no-store") == MHD_YES;
    ok = ok && MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff") == MHD_YES;
    if (!h->keep_alive)
        ok = ok && MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
    if (!ok)
        IQ_WARN("httpd: a response header could not be added");
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return rc;
}

/* ---- the built-in endpoints ---- */

/* Keeps one printable line of a readiness reason. */
static void clean_reason(char *s)
{
    for (char *p = s; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
}

static void serve_readyz(iq_ready_fn ready, void *ready_ctx, iq_http_resp *resp)
{
    char reason[256] = "";
    iq_ready_state state = IQ_READY_OK;
    if (ready != NULL)
        state = ready(ready_ctx, reason, sizeof(reason));
    reason[sizeof(reason) - 1] = '\0';
    clean_reason(reason);
    const char *word = state == IQ_READY_OK         ? "ready"
                       : state == IQ_READY_DEGRADED ? "degraded"
                                                    : "not ready";
    char *body = state != IQ_READY_OK && reason[0] != '\0' ? iq_xasprintf("%s: %s\n", word, reason)
                                                           : iq_xasprintf("%s\n", word);
    iq_http_resp_take(resp, state == IQ_READY_NOT ? 503 : 200, "text/plain; charset=utf-8", body,
                      strlen(body));
}

static void serve_metrics(iq_metrics *m, iq_http_resp *resp)
{
    iq_buf body;
    iq_buf_init(&body, IQ_HTTPD_MAX_METRICS);
    if (m != NULL && iq_metrics_render(m, &body) != 0) {
        IQ_WARN("metrics: the exposition exceeds %u bytes; serving 500", IQ_HTTPD_MAX_METRICS);
        resp_text(resp, 500, "metrics exposition too large\n");
        iq_buf_release(&body);
        return;
    }
    size_t len = 0;
    char *data = iq_buf_detach(&body, &len);
    iq_http_resp_take(resp, 200, IQ_METRICS_CONTENT_TYPE, data, len);
}

bool iq_httpd_serve_obs(iq_metrics *m, iq_ready_fn ready, void *ready_ctx, const iq_http_req *req,
                        iq_http_resp *resp)
{
    const char *path = req->path;
    bool metrics = strcmp(path, "/metrics") == 0;
    bool healthz = strcmp(path, "/healthz") == 0;
    bool readyz = strcmp(path, "/readyz") == 0;
    if (!metrics && !healthz && !readyz)
        return false;
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        resp_text(resp, 405, "method not allowed: use GET\n");
        iq_http_resp_header(resp, "Allow", "GET, HEAD");
    } else if (metrics) {
        serve_metrics(m, resp);
    } else if (healthz) {
        resp_text(resp, 200, "ok\n");
    } else {
        serve_readyz(ready, ready_ctx, resp);
    }
    return true;
}

static void obs_handler(void *ctx, const iq_http_req *req, iq_http_resp *resp)
{
    iq_httpd *h = ctx;
    if (!iq_httpd_serve_obs(h->metrics, h->ready, h->ready_ctx, req, resp))
        resp_text(resp, 404, "not found: try /metrics, /healthz or /readyz\n");
}

/* ---- libmicrohttpd's callbacks ---- */

static void peer_of(struct MHD_Connection *c, char *out, size_t size)
{
    snprintf(out, size, "?");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)size);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)size);
}

static enum MHD_Result refuse(iq_httpd *h, struct MHD_Connection *c, int status, const char *text)
{
    iq_http_resp r = {0};
    resp_text(&r, status, text);
    enum MHD_Result rc = send_resp(h, c, &r);
    resp_release(&r);
    return rc;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_size, void **con_cls)
{
    IQ_UNUSED(version);
    iq_httpd *h = cls;
    req_state *st = *con_cls;
    if (st == NULL) {
        st = iq_xcalloc(1, sizeof(*st));
        iq_buf_init(&st->body, h->max_body);
        *con_cls = st;
        /* a body announced over the cap is refused before it is read */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        uint64_t n = 0;
        if (cl != NULL && (iq_parse_u64(cl, UINT64_MAX, &n) != 0 || n > h->max_body))
            return refuse(h, c, 413, "request body too large\n");
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!st->too_large && iq_buf_append(&st->body, upload_data, *upload_size) != 0)
            st->too_large = true;
        *upload_size = 0;
        return MHD_YES;
    }
    if (st->too_large)
        return refuse(h, c, 413, "request body too large\n");

    iq_http_req req = {.conn = c,
                       .method = method,
                       .path = url,
                       .body = st->body.data == NULL ? "" : st->body.data,
                       .body_len = st->body.len,
                       .tls = h->tls};
    peer_of(c, req.peer, sizeof(req.peer));
    iq_http_resp resp = {0};
    h->handler(h->ctx, &req, &resp);
    enum MHD_Result rc = send_resp(h, c, &resp);
    resp_release(&resp);
    return rc;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    IQ_UNUSED(cls);
    IQ_UNUSED(c);
    IQ_UNUSED(toe);
    req_state *st = *con_cls;
    if (st == NULL)
        return;
    iq_buf_release(&st->body);
    free(st);
    *con_cls = NULL;
}

static void on_log(void *cls, const char *fmt, va_list ap)
{
    IQ_UNUSED(cls);
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    IQ_DEBUG("httpd: %s", line);
}

/* ---- start / stop ---- */

static int parse_listen(const char *listen_addr, struct sockaddr_storage *ss, char **error_r,
                        const char *what)
{
    const char *host;
    size_t host_len;
    const char *port_s;
    bool v6 = false;
    if (listen_addr == NULL || *listen_addr == '\0')
        goto bad;
    if (listen_addr[0] == '[') {
        const char *close_br = strchr(listen_addr, ']');
        if (close_br == NULL || close_br[1] != ':')
            goto bad;
        host = listen_addr + 1;
        host_len = (size_t)(close_br - host);
        port_s = close_br + 2;
        v6 = true;
    } else {
        const char *colon = strrchr(listen_addr, ':');
        if (colon == NULL || memchr(listen_addr, ':', (size_t)(colon - listen_addr)) != NULL)
            goto bad;
        host = listen_addr;
        host_len = (size_t)(colon - listen_addr);
        port_s = colon + 1;
    }
    int64_t port;
    if (host_len == 0 || host_len >= INET6_ADDRSTRLEN || iq_parse_i64(port_s, 0, 65535, &port) != 0)
        goto bad;
    char addr[INET6_ADDRSTRLEN];
    memcpy(addr, host, host_len);
    addr[host_len] = '\0';

    memset(ss, 0, sizeof(*ss));
    if (v6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1)
            goto bad;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
            goto bad;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
    }
    return 0;
bad:
    if (error_r != NULL)
        *error_r = iq_xasprintf("%s listen address \"%s\" is not ADDR:PORT; use an IPv4 "
                                "address (0.0.0.0:9100) or a bracketed IPv6 one ([::]:9100)",
                                what, listen_addr == NULL ? "" : listen_addr);
    return -1;
}

bool iq_httpd_listen_is_loopback(const char *listen_addr)
{
    struct sockaddr_storage ss;
    if (parse_listen(listen_addr, &ss, NULL, "") != 0)
        return false;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
        return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
    }
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
    return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
}

/* Binds ss as libmicrohttpd would, to name a busy port or a missing address in plain words
 * before the server starts (libmicrohttpd itself only says that it failed). */
static int probe_bind(const struct sockaddr_storage *ss, char **error_r, const char *listen_addr,
                      const char *what)
{
    socklen_t len =
        ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (const struct sockaddr *)ss, len) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (error_r != NULL)
            *error_r = iq_xasprintf("cannot listen on %s for %s: %s; pick another address or "
                                    "port, or stop what holds it",
                                    listen_addr, what, IQ_STRERROR(e));
        return -1;
    }
    close(fd);
    return 0;
}

static void httpd_free(iq_httpd *h)
{
    if (h == NULL)
        return;
    if (h->daemon != NULL)
        MHD_stop_daemon(h->daemon);
    free(h->tls_cert);
    free(h->tls_key);
    free(h);
}

/* Starts cfg's server; with no handler in cfg, the built-in endpoints of m, ready, ready_ctx. */
static iq_httpd *httpd_start(const iq_httpd_config *cfg, iq_metrics *m, iq_ready_fn ready,
                             void *ready_ctx, char **error_r)
{
    const char *what = cfg->what == NULL ? "HTTP" : cfg->what;
    struct sockaddr_storage ss;
    if (parse_listen(cfg->listen, &ss, error_r, what) != 0)
        return NULL;
    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
        if (error_r != NULL)
            *error_r = iq_xasprintf("%s server: TLS needs both a certificate and its key", what);
        return NULL;
    }
    if (probe_bind(&ss, error_r, cfg->listen, what) != 0)
        return NULL;

    iq_httpd *h = iq_xcalloc(1, sizeof(*h));
    h->handler = cfg->handler == NULL ? obs_handler : cfg->handler;
    h->ctx = cfg->handler == NULL ? h : cfg->ctx;
    h->metrics = m;
    h->ready = ready;
    h->ready_ctx = ready_ctx;
    h->max_body = cfg->max_body == 0 ? IQ_HTTPD_MAX_BODY : cfg->max_body;
    h->keep_alive = cfg->keep_alive;
    unsigned timeout_ms = cfg->timeout_ms == 0 ? IQ_HTTPD_TIMEOUT_MS : cfg->timeout_ms;
    unsigned per_address = cfg->per_address == 0 ? IQ_HTTPD_MAX_PER_ADDRESS : cfg->per_address;
    unsigned threads = cfg->threads == 0 ? IQ_HTTPD_THREADS : cfg->threads;

    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (cfg->tls_cert != NULL) {
        if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
            if (error_r != NULL)
                *error_r = iq_xasprintf("%s server: this libmicrohttpd has no TLS; serve plain "
                                        "HTTP behind a TLS proxy instead",
                                        what);
            httpd_free(h);
            return NULL;
        }
        flags |= MHD_USE_TLS;
        h->tls = true;
        h->tls_cert = iq_xstrdup(cfg->tls_cert);
        h->tls_key = iq_xstrdup(cfg->tls_key);
    }
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem no_opts[] = {{MHD_OPTION_END, 0, NULL}};
    /* The port comes from the address option; MHD's own port argument is ignored then. */
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)IQ_HTTPD_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_address,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)((timeout_ms + 999) / 1000),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)IQ_HTTPD_MEMORY, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned)128, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_EXTERNAL_LOGGER,
        on_log, NULL, MHD_OPTION_ARRAY, h->tls ? tls_opts : no_opts, MHD_OPTION_END);
    if (h->daemon == NULL) {
        if (error_r != NULL)
            *error_r = iq_xasprintf("cannot start the %s server on %s%s; see the log (run with "
                                    "--log-level debug) and check the address%s",
                                    what, cfg->listen, h->tls ? " with TLS" : "",
                                    h->tls ? ", certificate and key" : "");
        httpd_free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di == NULL ? 0 : (int)di->port;
    return h;
}

iq_httpd *iq_httpd_serve(const iq_httpd_config *cfg, char **error_r)
{
    if (cfg->handler == NULL) {
        if (error_r != NULL)
            *error_r = iq_xasprintf("%s server: no request handler", cfg->what);
        return NULL;
    }
    return httpd_start(cfg, NULL, NULL, NULL, error_r);
}

iq_httpd *iq_httpd_start(const char *listen_addr, iq_metrics *m, iq_ready_fn ready, void *ctx,
                         char **error_r)
{
    iq_httpd_config cfg = {.listen = listen_addr, .what = "metrics"};
    return httpd_start(&cfg, m, ready, ctx, error_r);
}

int iq_httpd_port(const iq_httpd *h)
{
    return h->port;
}

void iq_httpd_stop(iq_httpd **hp)
{
    if (hp == NULL || *hp == NULL)
        return;
    httpd_free(*hp);
    *hp = NULL;
}
