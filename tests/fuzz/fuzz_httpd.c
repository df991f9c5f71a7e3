/* SPDX-License-Identifier: MIT */
/* Requests to the HTTP server (lib/obs/httpd.c on libmicrohttpd, as --metrics-listen and
 * `inboxq serve` run it): the input is everything one client sends on one connection to a
 * server running in this process on 127.0.0.1. The server parses with libmicrohttpd, collects
 * the body under its cap and answers through our handler; it must answer (or close) promptly
 * once the client has sent all and half-closed, any answer must be one well-formed HTTP/1.1
 * response (after any "100 Continue") whose Content-Length is its body's, an incomplete request
 * head gets the close or an error status, and the server keeps serving /healthz afterwards. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "httpd.h"
#include "metrics.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A finished client gets its answer (or the close) well within this. */
#define ANSWER_TIMEOUT_S 5

static iq_metrics *metrics;
static iq_httpd *server;
static int port;
static unsigned served;

static iq_ready_state ready(void *ctx, char *reason, size_t size)
{
    IQ_UNUSED(ctx);
    snprintf(reason, size, "redis: \"down\"\r\n\\ (cache off)");
    return IQ_READY_DEGRADED;
}

static void collect(iq_metrics_sink *sink, void *ctx)
{
    IQ_UNUSED(ctx);
    const char *v[] = {"inboxq.jobs.check", "0"};
    iq_metrics_sink_add(sink, v, 3);
}

/* The metrics endpoints, as iq_httpd_start serves them; 404 elsewhere. */
static void handle(void *ctx, const iq_http_req *req, iq_http_resp *resp)
{
    IQ_UNUSED(ctx);
    if (!iq_httpd_serve_obs(metrics, ready, NULL, req, resp))
        iq_http_resp_set(resp, 404, "text/plain", "not found\n", 10);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    IQ_UNUSED(argc);
    IQ_UNUSED(argv);
    metrics = iq_metrics_new(0);
    const char *labels[] = {"outcome", "error_class", NULL};
    iq_counter *c =
        iq_metrics_counter(metrics, "inboxq_checks_total", "Checks by outcome.", labels);
    const char *ok[] = {"ok", ""}, *odd[] = {"failed", "quote\" backslash\\ newline\n"};
    iq_counter_inc(c, ok);
    iq_counter_add(c, odd, 2);
    iq_histogram *h = iq_metrics_histogram(metrics, "inboxq_check_duration_seconds",
                                           "Check duration.", NULL, NULL, 0);
    iq_histogram_observe(h, NULL, 0.25);
    const char *lag_labels[] = {"topic", "partition", NULL};
    iq_metrics_gauge_fn(metrics, "inboxq_consumer_lag", "Lag.", lag_labels, collect, NULL);
    char *err = NULL;
    /* the shortest idle timeout: inputs that stop inside a body wait it out */
    iq_httpd_config cfg = {.listen = "127.0.0.1:0",
                           .what = "fuzz",
                           .handler = handle,
                           .timeout_ms = 1000,
                           .max_body = 4096};
    server = iq_httpd_serve(&cfg, &err);
    if (!server)
        iq_fuzz_fail("iq_httpd_start: %s", err);
    port = iq_httpd_port(server);
    return 0;
}

/* Where the request head ends in data (just past its empty line), or 0: what the server must
 * find, computed here on its own. */
static size_t head_len(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (d[i] != '\n')
            continue;
        if (i + 1 < n && d[i + 1] == '\n')
            return i + 2;
        if (i + 2 < n && d[i + 1] == '\r' && d[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* libmicrohttpd 0.9.75 sends the head of its own 400 twice, the first time without its body,
 * when a Content-Length value is malformed ("3\r*"): recorded under
 * tests/fuzz/crashes/httpd/, let pass unless INBOXQ_FUZZ_STRICT. Returns where the second
 * head starts when resp is that, else NULL. */
static const char *known_mhd_double_head(const char *resp, size_t len)
{
    const char *end = memmem(resp, len, "\r\n\r\n", 4);
    if (end == NULL || len < 13 || memcmp(resp, "HTTP/1.1 400 ", 13) != 0)
        return NULL;
    size_t head = (size_t)(end + 4 - resp);
    if (len - head < head || memcmp(resp + head, "HTTP/1.1 400 ", 13) != 0)
        return NULL;
    return resp + head;
}

static void check_response(const char *resp, size_t len, bool head_request)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    while (len >= sizeof(cont) - 1 && memcmp(resp, cont, sizeof(cont) - 1) == 0) {
        resp += sizeof(cont) - 1;
        len -= sizeof(cont) - 1;
    }
    if (len == 0)
        return; /* 100 Continue, then the close: the client gave up on its body */
    const char *second = iq_fuzz_strict() ? NULL : known_mhd_double_head(resp, len);
    if (second != NULL) {
        len -= (size_t)(second - resp);
        resp = second;
    }
    if (len < 12 || memcmp(resp, "HTTP/1.1 ", 9) != 0 || resp[9] < '1' || resp[9] > '5')
        iq_fuzz_fail("not an HTTP/1.1 status line: %.*s", (int)(len < 40 ? len : 40), resp);
    const char *end = memmem(resp, len, "\r\n\r\n", 4);
    if (!end)
        iq_fuzz_fail("the response head does not end");
    size_t body = len - (size_t)(end + 4 - resp);
    const char *cl = memmem(resp, (size_t)(end - resp), "\r\nContent-Length: ", 18);
    if (!cl)
        iq_fuzz_fail("the response has no Content-Length");
    size_t declared = strtoul(cl + 18, NULL, 10);
    if (body != declared && !(head_request && body == 0))
        iq_fuzz_fail("Content-Length %zu, body %zu bytes", declared, body);
}

/* The server still answers a plain probe. */
static void check_alive(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = ANSWER_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc;
    do
        rc = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
    while (rc < 0 && errno == EINTR);
    static const char probe[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    if (rc < 0 || send(fd, probe, sizeof(probe) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(probe) - 1)
        iq_fuzz_fail("the server no longer takes connections: %s", IQ_STRERROR(errno));
    char buf[512];
    size_t len = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || len + (size_t)r >= sizeof(buf) - 1) {
            if (r > 0)
                len += (size_t)r;
            break;
        }
        len += (size_t)r;
    }
    buf[len] = '\0';
    close(fd);
    if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0 || strstr(buf, "\r\n\r\nok\n") == NULL)
        iq_fuzz_fail("/healthz no longer answers ok: %.60s", buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        iq_fuzz_fail("socket: %s", IQ_STRERROR(errno));
    struct timeval tv = {.tv_sec = ANSWER_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        /* interrupted (libFuzzer's timers use signals): the connection completes on its own */
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (errno != EINTR || poll(&p, 1, ANSWER_TIMEOUT_S * 1000) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0)
            iq_fuzz_fail("connect: %s", IQ_STRERROR(soerr ? soerr : errno));
    }
    /* the server may answer and stop reading early: a failed send is its right */
    for (size_t off = 0; off < size;) {
        ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    size_t cap = 64 * 1024, len = 0;
    char *resp = iq_xmalloc(cap);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            resp = iq_xrealloc(resp, cap);
        }
        ssize_t r = recv(fd, resp + len, cap - len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            iq_fuzz_fail("the server neither answered nor closed within %d s", ANSWER_TIMEOUT_S);
        if (r < 0 && errno == ECONNRESET)
            break;
        if (r < 0)
            iq_fuzz_fail("recv: %s", IQ_STRERROR(errno));
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);

    /* without the empty line that ends a head, the client gave up: the close, or a 4xx for
     * what it sent already being wrong (4xx, 5xx), never a served request */
    if (head_len(data, size) == 0 && len > 0 && size < IQ_HTTPD_MAX_REQUEST &&
        (len < 10 || (resp[9] != '4' && resp[9] != '5')))
        iq_fuzz_fail("a success answer to an incomplete request head");
    if (len > 0)
        check_response(resp, len, size >= 5 && memcmp(data, "HEAD ", 5) == 0);
    if (++served % 64 == 0)
        check_alive();
    free(resp);
    return 0;
}
