/* SPDX-License-Identifier: MIT */
/* A tiny HTTP/1.1 (RFC 9110, 9112) server thread for /metrics, /healthz and /readyz: one poll()
 * loop, a few connection slots, capped requests, deadlines, and a self-pipe for a prompt stop. */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "util.h"

/* How long a client may take to read the response. */
#define WRITE_TIMEOUT_MS 10000
/* After the response: how long, and how much, we read and discard before closing, so that a
 * client with unread request bytes gets the response rather than a reset. */
#define DRAIN_TIMEOUT_MS 500
#define DRAIN_MAX (64 * 1024)
/* After accept() fails for lack of resources, wait this long before trying again. */
#define ACCEPT_PAUSE_MS 100

typedef enum { CONN_FREE, CONN_READ, CONN_WRITE, CONN_DRAIN } conn_state;

typedef struct conn {
    int fd;
    conn_state state;
    int64_t deadline;
    char req[IQ_HTTPD_MAX_REQUEST];
    size_t req_len;
    iq_buf resp;
    size_t resp_off;
    size_t drained;
} conn;

struct iq_httpd {
    int listen_fd;
    int stop_r, stop_w; /* self-pipe: a byte on it stops the thread */
    int port;
    iq_metrics *metrics;
    iq_ready_fn ready;
    void *ready_ctx;
    pthread_t thread;
    bool thread_started;
    conn conns[IQ_HTTPD_MAX_CONNECTIONS];
};

/* ---- responses ---- */

static const char *status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

static void conn_respond(conn *c, int status, const char *content_type, const char *body,
                         size_t body_len, bool head_only)
{
    iq_buf_reset(&c->resp);
    int rc = iq_buf_appendf(&c->resp,
                            "HTTP/1.1 %d %s\r\n"
                            "Content-Type: %s\r\n"
                            "Content-Length: %zu\r\n"
                            "Cache-Control: no-store\r\n"
                            "%s"
                            "Connection: close\r\n"
                            "\r\n",
                            status, status_text(status), content_type, body_len,
                            status == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (rc == 0 && !head_only)
        rc = iq_buf_append(&c->resp, body, body_len);
    if (rc != 0) {
        /* Cannot happen with the caps chosen; answer something small rather than nothing. */
        iq_buf_reset(&c->resp);
        /* fits: 83 bytes into the empty response buffer of IQ_HTTPD_MAX_METRICS + 1024 */
        IQ_IGNORE_RESULT(iq_buf_append_str(&c->resp,
                                           "HTTP/1.1 500 Internal Server Error\r\n"
                                           "Content-Length: 0\r\nConnection: close\r\n\r\n"));
    }
    c->resp_off = 0;
    c->state = CONN_WRITE;
    c->deadline = iq_now_mono_ms() + WRITE_TIMEOUT_MS;
}

static void respond_text(conn *c, int status, const char *text, bool head_only)
{
    conn_respond(c, status, "text/plain; charset=utf-8", text, strlen(text), head_only);
}

/* Keeps one printable line of a readiness reason. */
static void clean_reason(char *s)
{
    for (char *p = s; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
}

static void serve_readyz(iq_httpd *h, conn *c, bool head_only)
{
    char reason[256] = "";
    iq_ready_state state = IQ_READY_OK;
    if (h->ready != NULL)
        state = h->ready(h->ready_ctx, reason, sizeof(reason));
    reason[sizeof(reason) - 1] = '\0';
    clean_reason(reason);
    const char *word = state == IQ_READY_OK         ? "ready"
                       : state == IQ_READY_DEGRADED ? "degraded"
                                                    : "not ready";
    char *body = state != IQ_READY_OK && reason[0] != '\0' ? iq_xasprintf("%s: %s\n", word, reason)
                                                           : iq_xasprintf("%s\n", word);
    respond_text(c, state == IQ_READY_NOT ? 503 : 200, body, head_only);
    free(body);
}

static void serve_metrics(iq_httpd *h, conn *c, bool head_only)
{
    iq_buf body;
    iq_buf_init(&body, IQ_HTTPD_MAX_METRICS);
    if (h->metrics != NULL && iq_metrics_render(h->metrics, &body) != 0) {
        IQ_WARN("metrics: the exposition exceeds %u bytes; serving 500", IQ_HTTPD_MAX_METRICS);
        respond_text(c, 500, "metrics exposition too large\n", head_only);
    } else {
        conn_respond(c, 200, IQ_METRICS_CONTENT_TYPE, body.data == NULL ? "" : body.data, body.len,
                     head_only);
    }
    iq_buf_release(&body);
}

static bool is_tchar(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* The request head is complete (c->req[0..head_len) ends with an empty line): answer it. */
static void handle_request(iq_httpd *h, conn *c, size_t head_len)
{
    const char *line = c->req;
    const char *eol = memchr(line, '\n', head_len);
    size_t line_len = (size_t)(eol - line);
    if (line_len > 0 && line[line_len - 1] == '\r')
        line_len--;

    /* method SP request-target SP HTTP-version */
    const char *sp1 = memchr(line, ' ', line_len);
    const char *sp2 =
        sp1 == NULL ? NULL : memchr(sp1 + 1, ' ', line_len - (size_t)(sp1 + 1 - line));
    if (sp1 == NULL || sp2 == NULL || sp1 == line || sp2 == sp1 + 1 ||
        memchr(sp2 + 1, ' ', line_len - (size_t)(sp2 + 1 - line)) != NULL) {
        respond_text(c, 400, "bad request line\n", false);
        return;
    }
    for (const char *p = line; p < sp1; p++) {
        if (!is_tchar(*p)) {
            respond_text(c, 400, "bad request line\n", false);
            return;
        }
    }
    size_t method_len = (size_t)(sp1 - line);
    const char *target = sp1 + 1;
    size_t target_len = (size_t)(sp2 - target);
    const char *version = sp2 + 1;
    size_t version_len = line_len - (size_t)(version - line);
    if (version_len != 8 || memcmp(version, "HTTP/1.", 7) != 0) {
        if (version_len >= 5 && memcmp(version, "HTTP/", 5) == 0)
            respond_text(c, 505, "only HTTP/1.0 and HTTP/1.1 are served\n", false);
        else
            respond_text(c, 400, "bad request line\n", false);
        return;
    }
    if (version[7] != '0' && version[7] != '1') {
        respond_text(c, 505, "only HTTP/1.0 and HTTP/1.1 are served\n", false);
        return;
    }

    bool get = method_len == 3 && memcmp(line, "GET", 3) == 0;
    bool head = method_len == 4 && memcmp(line, "HEAD", 4) == 0;
    if (!get && !head) {
        respond_text(c, 405, "method not allowed: use GET\n", false);
        return;
    }
    const char *query = memchr(target, '?', target_len);
    size_t path_len = query == NULL ? target_len : (size_t)(query - target);
#define PATH_IS(p) (path_len == sizeof(p) - 1 && memcmp(target, p, path_len) == 0)
    if (PATH_IS("/metrics"))
        serve_metrics(h, c, head);
    else if (PATH_IS("/healthz"))
        respond_text(c, 200, "ok\n", head);
    else if (PATH_IS("/readyz"))
        serve_readyz(h, c, head);
    else
        respond_text(c, 404, "not found: try /metrics, /healthz or /readyz\n", head);
#undef PATH_IS
}

/* Where the request head ends (just past its empty line), or 0 when it is not complete yet. */
static size_t head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < len && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* ---- connections ---- */

static void conn_close(conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = CONN_FREE;
    c->req_len = 0;
    c->resp_off = 0;
    c->drained = 0;
    iq_buf_release(&c->resp); /* a large /metrics body is not kept per slot */
}

static void conn_on_readable(iq_httpd *h, conn *c)
{
    if (c->state == CONN_DRAIN) {
        char scratch[4096];
        ssize_t n = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);
        if (n > 0)
            c->drained += (size_t)n;
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || c->drained > DRAIN_MAX)
            conn_close(c);
        return;
    }
    ssize_t n = recv(c->fd, c->req + c->req_len, sizeof(c->req) - c->req_len, MSG_DONTWAIT);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            conn_close(c);
        return;
    }
    if (n == 0) { /* the client gave up before finishing its request */
        conn_close(c);
        return;
    }
    size_t scan_from = c->req_len > 2 ? c->req_len - 2 : 0;
    c->req_len += (size_t)n;
    size_t end = head_end(c->req + scan_from, c->req_len - scan_from);
    if (end > 0) {
        handle_request(h, c, scan_from + end);
    } else if (c->req_len == sizeof(c->req)) {
        IQ_DEBUG("httpd: request head over %d bytes; answering 431", IQ_HTTPD_MAX_REQUEST);
        respond_text(c, 431, "request line and headers exceed 8 KiB\n", false);
    }
}

static void conn_on_writable(conn *c)
{
    while (c->resp_off < c->resp.len) {
        ssize_t n = send(c->fd, c->resp.data + c->resp_off, c->resp.len - c->resp_off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            conn_close(c);
            return;
        }
        c->resp_off += (size_t)n;
    }
    (void)shutdown(c->fd, SHUT_WR);
    c->state = CONN_DRAIN;
    c->deadline = iq_now_mono_ms() + DRAIN_TIMEOUT_MS;
}

static void accept_clients(iq_httpd *h, int64_t *accept_pause_until)
{
    for (size_t i = 0; i < IQ_ARRAY_LEN(h->conns); i++) {
        conn *c = &h->conns[i];
        if (c->state != CONN_FREE)
            continue;
        int fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                IQ_WARN("httpd: accept: %s; pausing", IQ_STRERROR(errno));
                *accept_pause_until = iq_now_mono_ms() + ACCEPT_PAUSE_MS;
            }
            return; /* EAGAIN: nobody waiting; ECONNABORTED etc.: try on the next poll */
        }
        c->fd = fd;
        c->state = CONN_READ;
        c->req_len = 0;
        c->deadline = iq_now_mono_ms() + IQ_HTTPD_TIMEOUT_MS;
    }
}

static void *server_main(void *arg)
{
    iq_httpd *h = arg;
    struct pollfd pfds[2 + IQ_HTTPD_MAX_CONNECTIONS];
    conn *owner[2 + IQ_HTTPD_MAX_CONNECTIONS];
    int64_t accept_pause_until = 0;

    for (;;) {
        int64_t now = iq_now_mono_ms();
        int64_t next_deadline = INT64_MAX;
        bool slot_free = false;
        nfds_t n = 0;
        pfds[n] = (struct pollfd){.fd = h->stop_r, .events = POLLIN};
        owner[n++] = NULL;
        for (size_t i = 0; i < IQ_ARRAY_LEN(h->conns); i++) {
            conn *c = &h->conns[i];
            if (c->state == CONN_FREE) {
                slot_free = true;
                continue;
            }
            if (c->deadline <= now) {
                IQ_DEBUG("httpd: dropping a client that was too slow");
                conn_close(c);
                slot_free = true;
                continue;
            }
            if (c->deadline < next_deadline)
                next_deadline = c->deadline;
            pfds[n] =
                (struct pollfd){.fd = c->fd, .events = c->state == CONN_WRITE ? POLLOUT : POLLIN};
            owner[n++] = c;
        }
        bool poll_listen = slot_free && now >= accept_pause_until;
        if (poll_listen) {
            pfds[n] = (struct pollfd){.fd = h->listen_fd, .events = POLLIN};
            owner[n++] = NULL;
        } else if (slot_free && accept_pause_until < next_deadline) {
            next_deadline = accept_pause_until;
        }
        int timeout = -1;
        if (next_deadline != INT64_MAX) {
            int64_t wait = next_deadline - now;
            timeout = wait < 0 ? 0 : wait > 60000 ? 60000 : (int)wait;
        }

        int rc = poll(pfds, n, timeout);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            IQ_ERROR("httpd: poll: %s; the metrics server stops", IQ_STRERROR(errno));
            break;
        }
        if (pfds[0].revents != 0)
            break; /* stop requested */
        for (nfds_t i = 1; i < n; i++) {
            if (pfds[i].revents == 0)
                continue;
            conn *c = owner[i];
            if (c == NULL) {
                accept_clients(h, &accept_pause_until);
            } else if (c->state == CONN_WRITE) {
                conn_on_writable(c);
            } else {
                conn_on_readable(h, c);
                /* A complete request answers at once; try writing without another poll. */
                if (c->state == CONN_WRITE)
                    conn_on_writable(c);
            }
        }
    }
    return NULL;
}

/* ---- start / stop ---- */

static int parse_listen(const char *listen_addr, struct sockaddr_storage *ss, socklen_t *len_r,
                        char **error_r)
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
        *len_r = sizeof(*sin6);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
            goto bad;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        *len_r = sizeof(*sin);
    }
    return 0;
bad:
    if (error_r != NULL)
        *error_r = iq_xasprintf("metrics listen address \"%s\" is not ADDR:PORT; use an IPv4 "
                                "address (0.0.0.0:9100) or a bracketed IPv6 one ([::]:9100)",
                                listen_addr == NULL ? "" : listen_addr);
    return -1;
}

static void httpd_free(iq_httpd *h)
{
    for (size_t i = 0; i < IQ_ARRAY_LEN(h->conns); i++) {
        conn_close(&h->conns[i]);
        iq_buf_release(&h->conns[i].resp);
    }
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    if (h->stop_r >= 0)
        close(h->stop_r);
    if (h->stop_w >= 0)
        close(h->stop_w);
    free(h);
}

iq_httpd *iq_httpd_start(const char *listen_addr, iq_metrics *m, iq_ready_fn ready, void *ctx,
                         char **error_r)
{
    struct sockaddr_storage ss;
    socklen_t ss_len = 0;
    if (parse_listen(listen_addr, &ss, &ss_len, error_r) != 0)
        return NULL;

    iq_httpd *h = iq_xcalloc(1, sizeof(*h));
    h->listen_fd = h->stop_r = h->stop_w = -1;
    h->metrics = m;
    h->ready = ready;
    h->ready_ctx = ctx;
    for (size_t i = 0; i < IQ_ARRAY_LEN(h->conns); i++) {
        h->conns[i].fd = -1;
        iq_buf_init(&h->conns[i].resp, IQ_HTTPD_MAX_METRICS + 1024);
    }

    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) != 0) {
        if (error_r != NULL)
            *error_r = iq_xasprintf("metrics server: pipe: %s", IQ_STRERROR(errno));
        goto fail;
    }
    h->stop_r = pipefd[0];
    h->stop_w = pipefd[1];

    h->listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (h->listen_fd < 0 ||
        setsockopt(h->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(h->listen_fd, (struct sockaddr *)&ss, ss_len) != 0 || listen(h->listen_fd, 64) != 0) {
        if (error_r != NULL)
            *error_r = iq_xasprintf("cannot listen on %s for metrics: %s; pick another "
                                    "--metrics-listen address or port, or stop what holds it",
                                    listen_addr, IQ_STRERROR(errno));
        goto fail;
    }
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof(bound);
    if (getsockname(h->listen_fd, (struct sockaddr *)&bound, &bound_len) != 0) {
        if (error_r != NULL)
            *error_r = iq_xasprintf("metrics server: getsockname: %s", IQ_STRERROR(errno));
        goto fail;
    }
    h->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);

    /* The thread takes no signals: they stay with the program's own threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&h->thread, NULL, server_main, h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        if (error_r != NULL)
            *error_r = iq_xasprintf("metrics server: cannot start its thread: %s", IQ_STRERROR(rc));
        goto fail;
    }
    h->thread_started = true;
    return h;
fail:
    httpd_free(h);
    return NULL;
}

int iq_httpd_port(const iq_httpd *h)
{
    return h->port;
}

void iq_httpd_stop(iq_httpd **hp)
{
    if (hp == NULL || *hp == NULL)
        return;
    iq_httpd *h = *hp;
    if (h->thread_started) {
        ssize_t n;
        do
            n = write(h->stop_w, "x", 1);
        while (n < 0 && errno == EINTR);
        pthread_join(h->thread, NULL);
    }
    httpd_free(h);
    *hp = NULL;
}
