/* SPDX-License-Identifier: MIT */
/* Unit tests of the metrics HTTP server over real loopback sockets: the three endpoints, 404/405,
 * oversized and silent clients, and a prompt stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "httpd.h"
#include "metrics.h"
#include "util.h"

typedef struct {
    iq_ready_state state;
    const char *reason;
    int calls;
} ready_ctx;

static iq_ready_state ready_cb(void *p, char *reason, size_t size)
{
    ready_ctx *r = p;
    r->calls++;
    if (r->reason != NULL)
        snprintf(reason, size, "%s", r->reason);
    return r->state;
}

typedef struct {
    iq_metrics *m;
    ready_ctx ready;
    iq_httpd *h;
    int port;
} fixture;

static int setup(void **state)
{
    fixture *f = iq_xcalloc(1, sizeof(*f));
    f->m = iq_metrics_new(0);
    iq_counter *c = iq_metrics_counter(f->m, "inboxq_checks_total", "Checks.",
                                       (const char *[]){"outcome", NULL});
    iq_counter_add(c, (const char *[]){"ok"}, 7);
    f->ready.state = IQ_READY_OK;
    char *error = NULL;
    f->h = iq_httpd_start("127.0.0.1:0", f->m, ready_cb, &f->ready, &error);
    if (f->h == NULL)
        fprintf(stderr, "iq_httpd_start: %s\n", error);
    assert_non_null(f->h);
    f->port = iq_httpd_port(f->h);
    assert_true(f->port > 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    iq_httpd_stop(&f->h);
    assert_null(f->h);
    iq_metrics_free(&f->m);
    free(f);
    return 0;
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

static void send_all(int fd, const char *data, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        data += w;
        n -= (size_t)w;
    }
}

/* Reads until the server closes (or timeout_ms passes: then fails). */
static char *read_all(int fd, int timeout_ms)
{
    iq_buf b;
    iq_buf_init(&b, 1 << 20);
    int64_t deadline = iq_now_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - iq_now_mono_ms();
        assert_true(left > 0);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rc = poll(&p, 1, (int)left);
        assert_true(rc >= 0);
        if (rc == 0)
            continue;
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0)
            break;
        assert_int_equal(iq_buf_append(&b, chunk, (size_t)n), 0);
    }
    char *s = iq_buf_detach(&b, NULL);
    return s == NULL ? iq_xstrdup("") : s;
}

/* Sends what the server takes (it may close early on a request it refuses), then reads. */
static char *request_lenient(int port, const char *req)
{
    int fd = connect_to(port);
    for (size_t off = 0, n = strlen(req); off < n;) {
        ssize_t w = send(fd, req + off, n - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    iq_buf b;
    iq_buf_init(&b, 1 << 20);
    for (;;) {
        char chunk[4096];
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) != 1)
            break;
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0)
            break;
        assert_int_equal(iq_buf_append(&b, chunk, (size_t)n), 0);
    }
    close(fd);
    char *s = iq_buf_detach(&b, NULL);
    return s == NULL ? iq_xstrdup("") : s;
}

/* A connection from the loopback address src ("127.0.0.2": another client than the tests'). */
static int connect_from(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in local = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, src, &local.sin_addr), 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&local, sizeof(local)), 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

static char *request(int port, const char *req)
{
    int fd = connect_to(port);
    send_all(fd, req, strlen(req));
    char *resp = read_all(fd, 5000);
    close(fd);
    return resp;
}

static const char *body_of(const char *resp)
{
    const char *p = strstr(resp, "\r\n\r\n");
    assert_non_null(p);
    return p + 4;
}

static void test_metrics_endpoint(void **state)
{
    fixture *f = *state;
    char *resp = request(f->port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
    assert_true(iq_str_has_prefix(resp, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(resp, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert_non_null(strstr(resp, "\r\nConnection: close\r\n"));
    iq_buf expected;
    iq_buf_init(&expected, 1 << 20);
    assert_int_equal(iq_metrics_render(f->m, &expected), 0);
    assert_string_equal(body_of(resp), expected.data);
    char clen[64];
    snprintf(clen, sizeof(clen), "\r\nContent-Length: %zu\r\n", expected.len);
    assert_non_null(strstr(resp, clen));
    assert_non_null(strstr(body_of(resp), "inboxq_checks_total{outcome=\"ok\"} 7\n"));
    iq_buf_release(&expected);
    free(resp);

    /* A query string is ignored; HTTP/1.0 and bare-LF line ends are accepted. */
    resp = request(f->port, "GET /metrics?x=1 HTTP/1.0\n\n");
    assert_true(iq_str_has_prefix(resp, "HTTP/1.1 200 OK\r\n"));
    free(resp);
}

static void test_healthz(void **state)
{
    fixture *f = *state;
    char *resp = request(f->port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(iq_str_has_prefix(resp, "HTTP/1.1 200 OK\r\n"));
    assert_string_equal(body_of(resp), "ok\n");
    free(resp);

    resp = request(f->port, "HEAD /healthz HTTP/1.1\r\n\r\n");
    assert_true(iq_str_has_prefix(resp, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(resp, "\r\nContent-Length: 3\r\n"));
    assert_string_equal(body_of(resp), "");
    free(resp);
}

static void test_readyz(void **state)
{
    fixture *f = *state;
    char *resp = request(f->port, "GET /readyz HTTP/1.1\r\n\r\n");
    assert_true(iq_str_has_prefix(resp, "HTTP/1.1 200 OK\r\n"));
    assert_string_equal(body_of(resp), "ready\n");
    free(resp);

    f->ready.state = IQ_READY_DEGRADED;
    f->ready.reason = "redis unreachable";
    resp = request(f->port, "GET /readyz HTTP/1.1\r\n\r\n");
    assert_true(iq_str_has_prefix(resp, "HTTP/1.1 200 OK\r\n"));
    assert_string_equal(body_of(resp), "degraded: redis unreachable\n");
    free(resp);

    f->ready.state = IQ_READY_NOT;
    f->ready.reason = "postgresql unreachable\r\nX-Injected: yes";
    resp = request(f->port, "GET /readyz HTTP/1.1\r\n\r\n");
    assert_true(iq_str_has_prefix(resp, "HTTP/1.1 503 Service Unavailable\r\n"));
    assert_string_equal(body_of(resp), "not ready: postgresql unreachable  X-Injected: yes\n");
    free(resp);

    f->ready.reason = NULL;
    resp = request(f->port, "GET /readyz HTTP/1.1\r\n\r\n");
    assert_true(iq_str_has_prefix(resp, "HTTP/1.1 503 "));
    assert_string_equal(body_of(resp), "not ready\n");
    free(resp);
    assert_int_equal(f->ready.calls, 4);
}

static void test_errors(void **state)
{
    fixture *f = *state;
    char *resp = request(f->port, "GET /nope HTTP/1.1\r\n\r\n");
    assert_true(iq_str_has_prefix(resp, "HTTP/1.1 404 Not Found\r\n"));
    free(resp);
    resp = request(f->port, "GET /metricsx HTTP/1.1\r\n\r\n");
    assert_true(iq_str_has_prefix(resp, "HTTP/1.1 404 "));
    free(resp);

    const char *methods[] = {"POST", "PUT", "DELETE", "OPTIONS", "get"};
    for (size_t i = 0; i < IQ_ARRAY_LEN(methods); i++) {
        char req[128];
        snprintf(req, sizeof(req), "%s /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", methods[i]);
        resp = request(f->port, req);
        assert_true(iq_str_has_prefix(resp, "HTTP/1.1 405 Method Not Allowed\r\n"));
        assert_non_null(strstr(resp, "\r\nAllow: GET, HEAD\r\n"));
        free(resp);
    }

    /* Malformed request lines: libmicrohttpd answers 400, or closes without a word when there
     * is no request line at all; a method that is not a token is not GET (405). */
    const char *bad[] = {"GET /metrics\r\n\r\n", "GET /metrics FTP/1.0\r\n\r\n",
                         "GET /metrics HTTP/1.1 x\r\n\r\n"};
    for (size_t i = 0; i < IQ_ARRAY_LEN(bad); i++) {
        resp = request(f->port, bad[i]);
        assert_true(iq_str_has_prefix(resp, "HTTP/1.1 400 Bad Request\r\n"));
        free(resp);
    }
    const char *no_line[] = {"GET\r\n\r\n", "\r\n\r\n", "\x01\x02\r\n\r\n"};
    for (size_t i = 0; i < IQ_ARRAY_LEN(no_line); i++) {
        resp = request(f->port, no_line[i]);
        assert_true(resp[0] == '\0' || iq_str_has_prefix(resp, "HTTP/1.1 400 "));
        free(resp);
    }
    resp = request(f->port, "G(T /metrics HTTP/1.1\r\n\r\n");
    assert_true(iq_str_has_prefix(resp, "HTTP/1.1 405 "));
    free(resp);
    resp = request(f->port, "GET /metrics HTTP/2.0\r\n\r\n");
    assert_true(iq_str_has_prefix(resp, "HTTP/1.1 505 "));
    free(resp);
}

static void test_huge_headers_refused(void **state)
{
    fixture *f = *state;
    iq_buf req;
    iq_buf_init(&req, 64 * 1024);
    assert_int_equal(iq_buf_append_str(&req, "GET /metrics HTTP/1.1\r\n"), 0);
    for (int i = 0; req.len < 40 * 1024; i++)
        assert_int_equal(iq_buf_appendf(&req, "X-Filler-%d: %0100d\r\n", i, 0), 0);
    assert_int_equal(iq_buf_append_str(&req, "\r\n"), 0);
    /* 431, or (when the server closed on request bytes it never read) a reset that cost the
     * client the answer: never the metrics. */
    char *resp = request_lenient(f->port, req.data);
    assert_true(resp[0] == '\0' ||
                iq_str_has_prefix(resp, "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    assert_null(strstr(resp, "inboxq_checks_total"));
    free(resp);
    iq_buf_release(&req);

    /* A request head of exactly the cap is still served. */
    iq_buf_init(&req, 64 * 1024);
    assert_int_equal(iq_buf_append_str(&req, "GET /healthz HTTP/1.1\r\nX-Pad: "), 0);
    while (req.len < IQ_HTTPD_MAX_REQUEST - 4)
        assert_int_equal(iq_buf_append_char(&req, 'a'), 0);
    assert_int_equal(iq_buf_append_str(&req, "\r\n\r\n"), 0);
    assert_int_equal(req.len, IQ_HTTPD_MAX_REQUEST);
    resp = request(f->port, req.data);
    assert_true(iq_str_has_prefix(resp, "HTTP/1.1 200 OK\r\n"));
    free(resp);
    iq_buf_release(&req);
}

static void test_silent_client(void **state)
{
    fixture *f = *state;
    /* A silent client does not delay anyone else... */
    int idle = connect_to(f->port);
    int64_t t0 = iq_now_mono_ms();
    char *resp = request(f->port, "GET /healthz HTTP/1.1\r\n\r\n");
    assert_true(iq_str_has_prefix(resp, "HTTP/1.1 200 OK\r\n"));
    assert_true(iq_now_mono_ms() - t0 < 500);
    free(resp);
    /* ...and is dropped after the read timeout. */
    char *nothing = read_all(idle, IQ_HTTPD_TIMEOUT_MS + 2000);
    int64_t waited = iq_now_mono_ms() - t0;
    assert_string_equal(nothing, "");
    assert_true(waited >= IQ_HTTPD_TIMEOUT_MS - 200);
    free(nothing);
    close(idle);

    /* A client that drips its request is dropped once it pauses for the idle timeout (a
     * steady drip keeps one slot of its own address: see the per-address cap below). */
    int drip = connect_to(f->port);
    t0 = iq_now_mono_ms();
    for (int i = 0; i < 3; i++) {
        send_all(drip, "G", 1);
        usleep(300 * 1000);
    }
    nothing = read_all(drip, IQ_HTTPD_TIMEOUT_MS + 3000);
    assert_string_equal(nothing, "");
    waited = iq_now_mono_ms() - t0;
    free(nothing);
    close(drip);
    assert_true(waited >= IQ_HTTPD_TIMEOUT_MS - 200 && waited < IQ_HTTPD_TIMEOUT_MS + 2500);
}

/* Issue 12, item 10: 80 idle sockets from one client made /healthz take 9-10 s, and the
 * liveness probe (3 s) restarted the workers. Now they hold slots of their own address only. */
static void test_idle_sockets_do_not_starve(void **state)
{
    fixture *f = *state;
    int idlers[80];
    size_t open_idlers = 0;
    for (size_t i = 0; i < IQ_ARRAY_LEN(idlers); i++)
        idlers[open_idlers++] = connect_from("127.0.0.2", f->port);
    usleep(100 * 1000);
    for (int round = 0; round < 5; round++) {
        int64_t t0 = iq_now_mono_ms();
        char *resp = request(f->port, "GET /healthz HTTP/1.1\r\n\r\n");
        int64_t took = iq_now_mono_ms() - t0;
        assert_true(iq_str_has_prefix(resp, "HTTP/1.1 200 OK\r\n"));
        assert_string_equal(body_of(resp), "ok\n");
        if (took >= 250)
            fail_msg("/healthz took %lld ms beside 80 idle sockets", (long long)took);
        free(resp);
    }
    /* Past its per-address cap the idle client's own connections are closed at once... */
    size_t closed = 0;
    for (size_t i = 0; i < open_idlers; i++) {
        struct pollfd p = {.fd = idlers[i], .events = POLLIN};
        char ch;
        if (poll(&p, 1, 0) == 1 && recv(idlers[i], &ch, 1, MSG_DONTWAIT) <= 0)
            closed++;
    }
    assert_int_equal(closed, IQ_ARRAY_LEN(idlers) - IQ_HTTPD_MAX_PER_ADDRESS);
    /* ...and the ones it kept are dropped after the idle timeout, freeing its slots. */
    for (size_t i = 0; i < open_idlers; i++) {
        char *nothing = read_all(idlers[i], IQ_HTTPD_TIMEOUT_MS + 2500);
        assert_string_equal(nothing, "");
        free(nothing);
        close(idlers[i]);
    }
    /* The server frees a slot when it has cleaned the connection up, a moment after closing it
     * (later still on a busy machine): the address is served again within 2 s. */
    bool served = false;
    for (int tries = 0; tries < 20 && !served; tries++) {
        int again = connect_from("127.0.0.2", f->port);
        /* a refused connection may be reset before the request is out */
        ssize_t sent = send(again, "GET /healthz HTTP/1.1\r\n\r\n", 25, MSG_NOSIGNAL);
        char *resp = sent == 25 ? read_all(again, 5000) : iq_xstrdup("");
        served = iq_str_has_prefix(resp, "HTTP/1.1 200 OK\r\n");
        free(resp);
        close(again);
        if (!served)
            usleep(100 * 1000);
    }
    assert_true(served);
}

static void test_stop_is_prompt(void **state)
{
    (void)state;
    char *error = NULL;
    iq_httpd *h = iq_httpd_start("127.0.0.1:0", NULL, NULL, NULL, &error);
    assert_non_null(h);
    int port = iq_httpd_port(h);
    char *resp = request(port, "GET /readyz HTTP/1.1\r\n\r\n");
    assert_string_equal(body_of(resp), "ready\n"); /* no callback: always ready */
    free(resp);
    resp = request(port, "GET /metrics HTTP/1.1\r\n\r\n");
    assert_true(iq_str_has_prefix(resp, "HTTP/1.1 200 OK\r\n"));
    assert_string_equal(body_of(resp), "");
    free(resp);

    int idle = connect_to(port); /* a connection in progress does not hold the stop up */
    usleep(50 * 1000);
    int64_t t0 = iq_now_mono_ms();
    iq_httpd_stop(&h);
    assert_null(h);
    assert_true(iq_now_mono_ms() - t0 < 200);
    char *nothing = read_all(idle, 1000); /* and it was closed */
    assert_string_equal(nothing, "");
    free(nothing);
    close(idle);
    iq_httpd_stop(&h); /* NULL is fine */
}

static void test_listen_addresses(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "9100",
                         "localhost:9100",
                         "1.2.3:80",
                         "::1:9100",
                         "[::1]9100",
                         "[::1]:",
                         "127.0.0.1:65536",
                         "127.0.0.1:-1",
                         "127.0.0.1:x",
                         "[nonsense]:80",
                         "127.0.0.1:80 "};
    for (size_t i = 0; i < IQ_ARRAY_LEN(bad); i++) {
        char *error = NULL;
        assert_null(iq_httpd_start(bad[i], NULL, NULL, NULL, &error));
        assert_non_null(error);
        assert_non_null(strstr(error, "ADDR:PORT"));
        free(error);
    }
    char *error = NULL;
    iq_httpd *h = iq_httpd_start("127.0.0.1:0", NULL, NULL, NULL, &error);
    assert_non_null(h);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", iq_httpd_port(h));
    iq_httpd *again = iq_httpd_start(addr, NULL, NULL, NULL, &error);
    assert_null(again);
    assert_non_null(strstr(error, "cannot listen on"));
    free(error);
    iq_httpd_stop(&h);

    /* IPv6, where the machine has it. */
    error = NULL;
    h = iq_httpd_start("[::1]:0", NULL, NULL, NULL, &error);
    if (h == NULL) {
        fprintf(stderr, "note: no IPv6 loopback here (%s)\n", error);
        free(error);
        return;
    }
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6,
                                .sin6_port = htons((uint16_t)iq_httpd_port(h))};
    sin6.sin6_addr = in6addr_loopback;
    assert_int_equal(connect(fd, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
    send_all(fd, "GET /healthz HTTP/1.1\r\n\r\n", 25);
    char *resp = read_all(fd, 5000);
    assert_true(iq_str_has_prefix(resp, "HTTP/1.1 200 OK\r\n"));
    free(resp);
    close(fd);
    iq_httpd_stop(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics_endpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_healthz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readyz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_headers_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silent_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_sockets_do_not_starve, setup, teardown),
        cmocka_unit_test(test_stop_is_prompt),
        cmocka_unit_test(test_listen_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
