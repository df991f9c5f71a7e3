/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/proxy.c against a scripted proxy on a socketpair: SOCKS5 (RFC 1928/1929)
 * and HTTP CONNECT (RFC 9110), refusals, garbage, truncation, deadlines, and the rule that the
 * mail server's first bytes stay unread in the socket after the handshake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"
#include "proxy.h"
#include "util.h"

/* ---- the scripted proxy ---- */

typedef enum { EXPECT, SEND, SLEEP, CAPTURE_HTTP, CLOSE, END } step_kind;

typedef struct step {
    step_kind kind;
    const void *data;
    size_t len;
    int ms;
} step;

#define S_EXPECT(lit)                                                                              \
    {                                                                                              \
        EXPECT, lit, sizeof(lit) - 1, 0                                                            \
    }
#define S_SEND(lit)                                                                                \
    {                                                                                              \
        SEND, lit, sizeof(lit) - 1, 0                                                              \
    }
#define S_SEND_N(ptr, n)                                                                           \
    {                                                                                              \
        SEND, ptr, n, 0                                                                            \
    }
#define S_SLEEP(m)                                                                                 \
    {                                                                                              \
        SLEEP, NULL, 0, m                                                                          \
    }
#define S_CAPTURE                                                                                  \
    {                                                                                              \
        CAPTURE_HTTP, NULL, 0, 0                                                                   \
    }
#define S_CLOSE                                                                                    \
    {                                                                                              \
        CLOSE, NULL, 0, 0                                                                          \
    }
#define S_END                                                                                      \
    {                                                                                              \
        END, NULL, 0, 0                                                                            \
    }

typedef struct script {
    int fd; /* the proxy's end */
    const step *steps;
    int failed_step; /* -1 when every EXPECT matched */
    char captured[8192];
    size_t captured_len;
    pthread_t thread;
} script;

static bool read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

static void *proxy_thread(void *arg)
{
    script *s = arg;
    bool closed = false;
    for (int i = 0; s->steps[i].kind != END && s->failed_step < 0; i++) {
        const step *st = &s->steps[i];
        switch (st->kind) {
        case EXPECT: {
            char buf[1024];
            if (st->len > sizeof(buf) || !read_full(s->fd, buf, st->len) ||
                memcmp(buf, st->data, st->len) != 0)
                s->failed_step = i;
            break;
        }
        case SEND: {
            const char *p = st->data;
            size_t left = st->len;
            while (left > 0) {
                ssize_t w = send(s->fd, p, left, MSG_NOSIGNAL);
                if (w <= 0)
                    break;
                p += w;
                left -= (size_t)w;
            }
            break;
        }
        case SLEEP:
            usleep((useconds_t)st->ms * 1000);
            break;
        case CAPTURE_HTTP:
            /* One byte at a time up to the blank line, like a real proxy's request parser. */
            while (s->captured_len < sizeof(s->captured) - 1) {
                if (read(s->fd, s->captured + s->captured_len, 1) != 1) {
                    s->failed_step = i;
                    break;
                }
                s->captured_len++;
                if (s->captured_len >= 4 &&
                    memcmp(s->captured + s->captured_len - 4, "\r\n\r\n", 4) == 0)
                    break;
            }
            s->captured[s->captured_len] = '\0';
            break;
        case CLOSE:
            close(s->fd);
            closed = true;
            s->fd = -1;
            break;
        case END:
            break;
        }
        if (closed)
            break;
    }
    /* Stay connected until the client closes, so its end sees no EOF it did not ask for. */
    if (!closed) {
        char sink[256];
        while (read(s->fd, sink, sizeof(sink)) > 0)
            ;
        close(s->fd);
        s->fd = -1;
    }
    return NULL;
}

/* Starts the proxy script; returns the client's (non-blocking) end. */
static int start(script *s, const step *steps)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK), 0);
    memset(s, 0, sizeof(*s));
    s->fd = sv[1];
    s->steps = steps;
    s->failed_step = -1;
    assert_int_equal(pthread_create(&s->thread, NULL, proxy_thread, s), 0);
    return sv[0];
}

static void finish(script *s, int fd)
{
    close(fd);
    pthread_join(s->thread, NULL);
    assert_int_equal(s->failed_step, -1);
}

/* After a handshake: the very next read returns exactly the mail server's greeting. */
static void assert_greeting(int fd, const char *greeting)
{
    char buf[256];
    ssize_t r = iq_net_read(fd, buf, sizeof(buf), iq_now_mono_ms() + 2000);
    assert_int_equal(r, (ssize_t)strlen(greeting));
    assert_memory_equal(buf, greeting, strlen(greeting));
    /* ... and nothing else is waiting. */
    errno = 0;
    assert_int_equal(iq_net_read(fd, buf, sizeof(buf), iq_now_mono_ms() + 50), -1);
    assert_int_equal(errno, ETIMEDOUT);
}

static void assert_fail(int rc, iq_err cls, char *err, const char *cls_expect, const char *needle)
{
    assert_int_equal(rc, -1);
    assert_int_not_equal(cls, IQ_OK);
    assert_string_equal(iq_err_name(cls), cls_expect);
    assert_non_null(err);
    if (needle && !strstr(err, needle))
        fail_msg("error \"%s\" lacks \"%s\"", err, needle);
    assert_null(strchr(err, '\n'));
    assert_null(strstr(err, "s3cret")); /* the test password never shows */
}

/* ---- SOCKS5 ---- */

#define GREETING_IMAP "* OK IMAP4rev1 ready\r\n"
#define GREETING_POP "+OK POP3 ready\r\n"

static void test_socks5_noauth_domain(void **state)
{
    (void)state;
    static const step steps[] = {
        S_EXPECT("\x05\x01\x00"),
        S_SEND("\x05\x00"),
        S_EXPECT("\x05\x01\x00\x03\x10"
                 "mail.example.com\x03\xe1"),
        /* Reply and greeting in one write: the greeting must survive the handshake. */
        S_SEND("\x05\x00\x00\x01\x7f\x00\x00\x01\x03\xe1" GREETING_IMAP),
        S_END,
    };
    script s;
    int fd = start(&s, steps);
    iq_err cls = IQ_OK;
    char *err = NULL;
    int rc = iq_proxy_socks5(fd, "mail.example.com", 993, NULL, NULL, iq_now_mono_ms() + 3000, 0,
                             &cls, &err);
    if (rc != 0)
        fail_msg("%s", err);
    assert_null(err);
    assert_greeting(fd, GREETING_IMAP);
    finish(&s, fd);
}

static void test_socks5_userpass_ipv4(void **state)
{
    (void)state;
    static const step steps[] = {
        S_EXPECT("\x05\x02\x00\x02"),
        S_SEND("\x05\x02"),
        S_EXPECT("\x01\x04user\x06s3cret"),
        S_SEND("\x01\x00"),
        S_EXPECT("\x05\x01\x00\x01\xc0\x00\x02\x01\x00\x6e"),
        /* Bound address as a domain name (ATYP 3), then the POP3 greeting, split in two. */
        S_SEND("\x05\x00\x00\x03\x05proxy\x00"),
        S_SLEEP(30),
        S_SEND("\x50" GREETING_POP),
        S_END,
    };
    script s;
    int fd = start(&s, steps);
    iq_err cls = IQ_OK;
    char *err = NULL;
    int rc = iq_proxy_socks5(fd, "192.0.2.1", 110, "user", "s3cret", iq_now_mono_ms() + 3000, 0,
                             &cls, &err);
    if (rc != 0)
        fail_msg("%s", err);
    assert_greeting(fd, GREETING_POP);
    finish(&s, fd);
}

static void test_socks5_ipv6_literal(void **state)
{
    (void)state;
    static const step steps[] = {
        S_EXPECT("\x05\x01\x00"),
        S_SEND("\x05\x00"),
        S_EXPECT("\x05\x01\x00\x04\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                 "\x01\x03\xe1"),
        S_SEND("\x05\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
               "\x01\x03\xe1" GREETING_IMAP),
        S_END,
    };
    script s;
    int fd = start(&s, steps);
    iq_err cls = IQ_OK;
    char *err = NULL;
    int rc = iq_proxy_socks5(fd, "[2001:db8::1]", 993, NULL, NULL, iq_now_mono_ms() + 3000, 0, &cls,
                             &err);
    if (rc != 0)
        fail_msg("%s", err);
    assert_greeting(fd, GREETING_IMAP);
    finish(&s, fd);
}

static void test_socks5_wrong_auth(void **state)
{
    (void)state;
    static const step steps[] = {
        S_EXPECT("\x05\x02\x00\x02"),
        S_SEND("\x05\x02"),
        S_EXPECT("\x01\x04user\x06s3cret"),
        S_SEND("\x01\x01"),
        S_END,
    };
    script s;
    int fd = start(&s, steps);
    iq_err cls = IQ_OK;
    char *err = NULL;
    int rc = iq_proxy_socks5(fd, "mail.example.com", 993, "user", "s3cret", iq_now_mono_ms() + 3000,
                             0, &cls, &err);
    assert_fail(rc, cls, err, "proxy", "rejected the username/password");
    free(err);
    finish(&s, fd);
}

static void test_socks5_auth_required(void **state)
{
    (void)state;
    static const step steps[] = {
        S_EXPECT("\x05\x01\x00"),
        S_SEND("\x05\xff"),
        S_END,
    };
    script s;
    int fd = start(&s, steps);
    iq_err cls = IQ_OK;
    char *err = NULL;
    int rc = iq_proxy_socks5(fd, "mail.example.com", 993, NULL, NULL, iq_now_mono_ms() + 3000, 0,
                             &cls, &err);
    assert_fail(rc, cls, err, "proxy", "requires authentication");
    free(err);
    finish(&s, fd);
}

static void test_socks5_method_not_offered(void **state)
{
    (void)state;
    static const step steps[] = {
        S_EXPECT("\x05\x01\x00"),
        S_SEND("\x05\x02"),
        S_END,
    };
    script s;
    int fd = start(&s, steps);
    iq_err cls = IQ_OK;
    char *err = NULL;
    int rc = iq_proxy_socks5(fd, "mail.example.com", 993, NULL, NULL, iq_now_mono_ms() + 3000, 0,
                             &cls, &err);
    assert_fail(rc, cls, err, "proxy", "did not offer");
    free(err);
    finish(&s, fd);
}

static void test_socks5_refused(void **state)
{
    (void)state;
    static const step steps[] = {
        S_EXPECT("\x05\x01\x00"),
        S_SEND("\x05\x00"),
        S_EXPECT("\x05\x01\x00\x03\x10"
                 "mail.example.com\x03\xe1"),
        S_SEND("\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00"),
        S_END,
    };
    script s;
    int fd = start(&s, steps);
    iq_err cls = IQ_OK;
    char *err = NULL;
    int rc = iq_proxy_socks5(fd, "mail.example.com", 993, NULL, NULL, iq_now_mono_ms() + 3000, 0,
                             &cls, &err);
    assert_fail(rc, cls, err, "proxy", "connection refused");
    assert_non_null(strstr(err, "mail.example.com:993"));
    free(err);
    finish(&s, fd);
}

static void test_socks5_truncated(void **state)
{
    (void)state;
    static const step steps[] = {
        S_EXPECT("\x05\x01\x00"),
        S_SEND("\x05\x00"),
        S_EXPECT("\x05\x01\x00\x03\x10"
                 "mail.example.com\x03\xe1"),
        S_SEND("\x05\x00\x00\x01\x7f"), /* IPv4 bound address cut short */
        S_CLOSE,
        S_END,
    };
    script s;
    int fd = start(&s, steps);
    iq_err cls = IQ_OK;
    char *err = NULL;
    int rc = iq_proxy_socks5(fd, "mail.example.com", 993, NULL, NULL, iq_now_mono_ms() + 3000, 0,
                             &cls, &err);
    assert_fail(rc, cls, err, "proxy", "closed the connection");
    free(err);
    finish(&s, fd);
}

static void test_socks5_garbage(void **state)
{
    (void)state;
    static const step bad_version[] = {
        S_EXPECT("\x05\x01\x00"),
        S_SEND("HTTP/1.1 400 Bad Request\r\n\r\n"),
        S_END,
    };
    static const step bad_atyp[] = {
        S_EXPECT("\x05\x01\x00"),
        S_SEND("\x05\x00"),
        S_EXPECT("\x05\x01\x00\x03\x10"
                 "mail.example.com\x03\xe1"),
        S_SEND("\x05\x00\x00\x09\x00\x00"),
        S_END,
    };
    const step *scripts[] = {bad_version, bad_atyp};
    const char *needles[] = {"not answer as a SOCKS5 proxy", "unknown address type"};
    for (size_t i = 0; i < 2; i++) {
        script s;
        int fd = start(&s, scripts[i]);
        iq_err cls = IQ_OK;
        char *err = NULL;
        int rc = iq_proxy_socks5(fd, "mail.example.com", 993, NULL, NULL, iq_now_mono_ms() + 3000,
                                 0, &cls, &err);
        assert_fail(rc, cls, err, "proxy", needles[i]);
        free(err);
        finish(&s, fd);
    }
}

static void test_socks5_slow(void **state)
{
    (void)state;
    static const step steps[] = {
        S_EXPECT("\x05\x01\x00"),
        S_SEND("\x05"), /* half an answer, then silence */
        S_END,
    };
    script s;
    int fd = start(&s, steps);
    iq_err cls = IQ_OK;
    char *err = NULL;
    int64_t t0 = iq_now_mono_ms();
    int rc = iq_proxy_socks5(fd, "mail.example.com", 993, NULL, NULL, t0 + 300, 0, &cls, &err);
    int64_t took = iq_now_mono_ms() - t0;
    assert_fail(rc, cls, err, "timeout", "deadline");
    assert_true(took >= 250 && took < 1500);
    free(err);
    finish(&s, fd);
}

/* A proxy that stalls mid-handshake ends the check's wait after read_timeout, not at the
 * check's deadline (which could be 10 minutes away). */
static void test_socks5_stall_read_timeout(void **state)
{
    (void)state;
    static const step steps[] = {
        S_EXPECT("\x05\x01\x00"),
        S_SEND("\x05"),
        S_END,
    };
    script s;
    int fd = start(&s, steps);
    iq_err cls = IQ_OK;
    char *err = NULL;
    int64_t t0 = iq_now_mono_ms();
    int rc = iq_proxy_socks5(fd, "mail.example.com", 993, NULL, NULL, t0 + 600000, 300, &cls, &err);
    int64_t took = iq_now_mono_ms() - t0;
    assert_fail(rc, cls, err, "timeout", "read_timeout");
    assert_true(took >= 250 && took < 1500);
    free(err);
    finish(&s, fd);
}

static void test_socks5_bad_arguments(void **state)
{
    (void)state;
    iq_err cls = IQ_OK;
    char *err = NULL;
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    /* Refused before any byte is sent: fd -1 is never touched. */
    int rc = iq_proxy_socks5(-1, longname, 993, NULL, NULL, iq_now_mono_ms() + 100, 0, &cls, &err);
    assert_fail(rc, cls, err, "proxy", "host");
    free(err);
    err = NULL;
    rc = iq_proxy_socks5(-1, "a.example", 70000, NULL, NULL, iq_now_mono_ms() + 100, 0, &cls, &err);
    assert_fail(rc, cls, err, "proxy", "port");
    free(err);
    err = NULL;
    char longuser[300];
    memset(longuser, 'u', sizeof(longuser) - 1);
    longuser[sizeof(longuser) - 1] = '\0';
    static const step steps[] = {
        S_EXPECT("\x05\x02\x00\x02"),
        S_SEND("\x05\x02"),
        S_END,
    };
    script s;
    int fd = start(&s, steps);
    rc = iq_proxy_socks5(fd, "a.example", 993, longuser, "s3cret", iq_now_mono_ms() + 3000, 0, &cls,
                         &err);
    assert_fail(rc, cls, err, "proxy", "RFC 1929");
    free(err);
    finish(&s, fd);
}

/* ---- HTTP CONNECT ---- */

static void test_http_200_greeting_same_write(void **state)
{
    (void)state;
    static const step steps[] = {
        S_CAPTURE,
        S_SEND(
            "HTTP/1.1 200 Connection established\r\nProxy-Agent: scripted\r\n\r\n" GREETING_IMAP),
        S_END,
    };
    script s;
    int fd = start(&s, steps);
    iq_err cls = IQ_OK;
    char *err = NULL;
    int rc = iq_proxy_http_connect(fd, "mail.example.com", 993, NULL, NULL, iq_now_mono_ms() + 3000,
                                   0, &cls, &err);
    if (rc != 0)
        fail_msg("%s", err);
    assert_greeting(fd, GREETING_IMAP);
    finish(&s, fd);
    assert_string_equal(
        s.captured, "CONNECT mail.example.com:993 HTTP/1.1\r\nHost: mail.example.com:993\r\n\r\n");
}

static void test_http_basic_auth_split(void **state)
{
    (void)state;
    /* The blank line is split across writes, and the greeting follows in the second one. */
    static const step steps[] = {
        S_CAPTURE, S_SEND("HTTP/1.0 200 OK\r\n\r"), S_SLEEP(50), S_SEND("\n" GREETING_POP), S_END,
    };
    script s;
    int fd = start(&s, steps);
    iq_err cls = IQ_OK;
    char *err = NULL;
    int rc = iq_proxy_http_connect(fd, "2001:db8::1", 995, "user", "s3cret",
                                   iq_now_mono_ms() + 3000, 0, &cls, &err);
    if (rc != 0)
        fail_msg("%s", err);
    assert_greeting(fd, GREETING_POP);
    finish(&s, fd);
    /* base64("user:s3cret") */
    assert_string_equal(s.captured, "CONNECT [2001:db8::1]:995 HTTP/1.1\r\n"
                                    "Host: [2001:db8::1]:995\r\n"
                                    "Proxy-Authorization: Basic dXNlcjpzM2NyZXQ=\r\n\r\n");
}

static void test_http_byte_by_byte(void **state)
{
    (void)state;
    static const char resp[] = "HTTP/1.1 200 OK\r\nX-A: b\r\n\r\n" GREETING_IMAP;
    /* One SEND per byte of the response head, then the greeting. */
    step steps[64];
    size_t n = 0;
    steps[n++] = (step)S_CAPTURE;
    size_t head = strlen(resp) - strlen(GREETING_IMAP);
    for (size_t i = 0; i < head; i++) {
        steps[n++] = (step)S_SEND_N(resp + i, 1);
        if (i % 8 == 0)
            steps[n++] = (step)S_SLEEP(2);
    }
    steps[n++] = (step)S_SEND_N(resp + head, strlen(GREETING_IMAP));
    steps[n++] = (step)S_END;
    assert_true(n <= IQ_ARRAY_LEN(steps));
    script s;
    int fd = start(&s, steps);
    iq_err cls = IQ_OK;
    char *err = NULL;
    int rc = iq_proxy_http_connect(fd, "mail.example.com", 993, NULL, NULL, iq_now_mono_ms() + 3000,
                                   0, &cls, &err);
    if (rc != 0)
        fail_msg("%s", err);
    assert_greeting(fd, GREETING_IMAP);
    finish(&s, fd);
}

static void http_refusal(const char *response, const char *user, const char *cls_expect,
                         const char *needle)
{
    step steps[] = {
        S_CAPTURE,
        {SEND, response, strlen(response), 0},
        S_END,
    };
    script s;
    int fd = start(&s, steps);
    iq_err cls = IQ_OK;
    char *err = NULL;
    int rc = iq_proxy_http_connect(fd, "mail.example.com", 993, user, user ? "s3cret" : NULL,
                                   iq_now_mono_ms() + 3000, 0, &cls, &err);
    assert_fail(rc, cls, err, cls_expect, needle);
    free(err);
    finish(&s, fd);
}

static void test_http_407(void **state)
{
    (void)state;
    http_refusal("HTTP/1.1 407 Proxy Authentication Required\r\n"
                 "Proxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n",
                 NULL, "proxy", "requires authentication (407");
    http_refusal("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", "user", "proxy",
                 "rejected the connector's credentials (407");
}

static void test_http_403_and_garbage(void **state)
{
    (void)state;
    http_refusal("HTTP/1.1 403 Forbidden\r\n\r\n", NULL, "proxy", "403 Forbidden");
    http_refusal("HTTP/1.1 502 Bad\x01Gateway\r\n\r\n", NULL, "proxy", "502 Bad?Gateway");
    http_refusal("SSH-2.0-OpenSSH_9.2\r\n\r\n", NULL, "proxy", "not an HTTP/1.x status line");
    http_refusal("HTTP/2 200\r\n\r\n", NULL, "proxy", "not an HTTP/1.x status line");
    http_refusal("HTTP/1.1 2000 OK\r\n\r\n", NULL, "proxy", "not an HTTP/1.x status line");
    http_refusal("\r\n\r\n", NULL, "proxy", "not an HTTP/1.x status line");
}

static void test_http_oversized(void **state)
{
    (void)state;
    size_t n = 20 * 1024;
    char *resp = malloc(n + 64);
    assert_non_null(resp);
    size_t len = 0;
    memcpy(resp, "HTTP/1.1 200 OK\r\n", 17);
    len = 17;
    while (len < n) {
        memcpy(resp + len, "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 56);
        len += 56;
    }
    memcpy(resp + len, "\r\n" GREETING_IMAP, 2 + strlen(GREETING_IMAP) + 1);
    http_refusal(resp, NULL, "proxy", "exceed 16 KiB");
    /* A single header line longer than the cap, no line breaks at all. */
    memset(resp, 'A', n);
    resp[n] = '\0';
    http_refusal(resp, NULL, "proxy", "exceed 16 KiB");
    free(resp);
}

static void test_http_closed_early(void **state)
{
    (void)state;
    static const step steps[] = {
        S_CAPTURE,
        S_SEND("HTTP/1.1 200 OK\r\nVia: x\r\n"),
        S_CLOSE,
        S_END,
    };
    script s;
    int fd = start(&s, steps);
    iq_err cls = IQ_OK;
    char *err = NULL;
    int rc = iq_proxy_http_connect(fd, "mail.example.com", 993, NULL, NULL, iq_now_mono_ms() + 3000,
                                   0, &cls, &err);
    assert_fail(rc, cls, err, "proxy", "closed the connection");
    free(err);
    finish(&s, fd);
}

static void test_http_slow(void **state)
{
    (void)state;
    static const step steps[] = {
        S_CAPTURE,
        S_SEND("HTTP/1.1 200 OK\r\n"), /* and never the blank line */
        S_END,
    };
    script s;
    int fd = start(&s, steps);
    iq_err cls = IQ_OK;
    char *err = NULL;
    int64_t t0 = iq_now_mono_ms();
    int rc =
        iq_proxy_http_connect(fd, "mail.example.com", 993, NULL, NULL, t0 + 300, 0, &cls, &err);
    int64_t took = iq_now_mono_ms() - t0;
    assert_fail(rc, cls, err, "timeout", "deadline");
    assert_true(took >= 250 && took < 1500);
    free(err);
    finish(&s, fd);
}

static void test_http_bad_arguments(void **state)
{
    (void)state;
    iq_err cls = IQ_OK;
    char *err = NULL;
    /* A colon in a Basic user-id is not representable (RFC 7617); nothing is sent. */
    int rc = iq_proxy_http_connect(-1, "mail.example.com", 993, "us:er", "s3cret",
                                   iq_now_mono_ms() + 100, 0, &cls, &err);
    assert_fail(rc, cls, err, "proxy", "colon");
    free(err);
    err = NULL;
    /* Header injection through the host is refused. */
    rc = iq_proxy_http_connect(-1, "a.example\r\nX-Evil: 1", 993, NULL, NULL,
                               iq_now_mono_ms() + 100, 0, &cls, &err);
    assert_fail(rc, cls, err, "proxy", "host");
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_socks5_noauth_domain),
        cmocka_unit_test(test_socks5_userpass_ipv4),
        cmocka_unit_test(test_socks5_ipv6_literal),
        cmocka_unit_test(test_socks5_wrong_auth),
        cmocka_unit_test(test_socks5_auth_required),
        cmocka_unit_test(test_socks5_method_not_offered),
        cmocka_unit_test(test_socks5_refused),
        cmocka_unit_test(test_socks5_truncated),
        cmocka_unit_test(test_socks5_garbage),
        cmocka_unit_test(test_socks5_slow),
        cmocka_unit_test(test_socks5_bad_arguments),
        cmocka_unit_test(test_http_200_greeting_same_write),
        cmocka_unit_test(test_http_basic_auth_split),
        cmocka_unit_test(test_http_byte_by_byte),
        cmocka_unit_test(test_http_407),
        cmocka_unit_test(test_http_403_and_garbage),
        cmocka_unit_test(test_http_oversized),
        cmocka_unit_test(test_http_closed_early),
        cmocka_unit_test(test_http_slow),
        cmocka_unit_test(test_http_bad_arguments),
        cmocka_unit_test(test_socks5_stall_read_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
