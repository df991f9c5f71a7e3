/* SPDX-License-Identifier: MIT */
/* The stream driver (lib/mail/stream.c) over a socketpair, without libetpan's parser: what it
 * hands on byte for byte, however the server's bytes are split, and every cap and timeout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "stream.h"
#include "util.h"

/* The server side: writes data in pieces of `piece` bytes, pausing between them, then keeps
 * the connection open for linger_ms (or closes it at once). */
typedef struct server {
    int fd;
    const char *data;
    size_t len;
    size_t piece;
    long pause_us;
    long linger_ms;
    pthread_t thread;
} server;

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void *serve(void *arg)
{
    server *sv = arg;
    for (size_t off = 0; off < sv->len;) {
        size_t n = sv->len - off < sv->piece ? sv->len - off : sv->piece;
        ssize_t w = send(sv->fd, sv->data + off, n, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
        if (sv->pause_us)
            sleep_us(sv->pause_us);
    }
    if (sv->linger_ms)
        sleep_us(sv->linger_ms * 1000);
    close(sv->fd);
    return NULL;
}

static iq_stream_limits limits(void)
{
    return (iq_stream_limits){.deadline_ms = iq_now_mono_ms() + 5000,
                              .read_timeout_ms = 2000,
                              .max_line = 1024,
                              .max_literal = 4096,
                              .max_total = 1 << 20};
}

typedef struct outcome {
    char got[8192];
    size_t len;
    iq_err cls;
    char error[256];
    int64_t ms;
} outcome;

/* Feeds data through a stream with the given limits until it ends; what libetpan would read
 * goes to out->got. */
static void run(const char *data, size_t len, size_t piece, long pause_us, long linger_ms,
                iq_stream_syntax syntax, const iq_stream_limits *lim, uint64_t response_max,
                outcome *out)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    server s = {sv[1], data, len, piece, pause_us, linger_ms, 0};
    assert_int_equal(pthread_create(&s.thread, NULL, serve, &s), 0);
    iq_stream *st = NULL;
    mailstream *ms = iq_stream_open(sv[0], NULL, syntax, lim, &st);
    if (response_max)
        iq_stream_expect(st, response_max);
    memset(out, 0, sizeof(*out));
    int64_t t0 = iq_now_mono_ms();
    for (;;) {
        char buf[64]; /* libetpan reads far more at a time; small reads test the queue too */
        ssize_t r = mailstream_read(ms, buf, sizeof(buf));
        if (r <= 0)
            break;
        assert_true(out->len + (size_t)r < sizeof(out->got));
        memcpy(out->got + out->len, buf, (size_t)r);
        out->len += (size_t)r;
    }
    out->ms = iq_now_mono_ms() - t0;
    out->cls = iq_stream_error_class(st);
    snprintf(out->error, sizeof(out->error), "%s", iq_stream_error(st) ? iq_stream_error(st) : "");
    mailstream_close(ms);
    pthread_join(s.thread, NULL);
}

/* A session's worth of IMAP with literals (one holding a line that looks like an
 * announcement, and line ends), read split at every byte and in larger pieces: what comes out
 * is exactly what went in, and the stream ends only because the server closed. */
static void test_imap_split_everywhere(void **state)
{
    (void)state;
    static const char session[] = "* OK [CAPABILITY IMAP4rev1 UIDPLUS] ready\r\n"
                                  "1 OK [READ-WRITE] done\r\n"
                                  "* 1 FETCH (UID 5 BODY[] {29}\r\n"
                                  "hello\r\n{999999}\r\n* OK [X (\"\r\n"
                                  " FLAGS (\\Seen))\r\n"
                                  "* 2 FETCH (UID 6 BODY[] {0}\r\n"
                                  ")\r\n"
                                  "2 OK FETCH completed\r\n";
    size_t len = sizeof(session) - 1;
    static const size_t pieces[] = {1, 2, 3, 7, 64, 4096};
    for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
        iq_stream_limits lim = limits();
        outcome o;
        run(session, len, pieces[k], pieces[k] < 4 ? 200 : 0, 0, IQ_STREAM_IMAP, &lim, 0, &o);
        assert_int_equal(o.len, len);
        assert_memory_equal(o.got, session, len);
        assert_int_equal(o.cls, IQ_ERR_PROTOCOL); /* the close, after the last byte */
        assert_non_null(strstr(o.error, "closed"));
    }
}

/* What the line filter cuts reaches libetpan cut, split or not. */
static void test_imap_greeting_cut(void **state)
{
    (void)state;
    static const char in[] = "* OK [BADCHARSET (UTF-8)] ready\r\n+ [PERMANENTFLAGS (\\)] go\r\n";
    static const char want[] = "* OK ready\r\n+ go\r\n";
    for (size_t piece = 1; piece <= 64; piece *= 4) {
        iq_stream_limits lim = limits();
        outcome o;
        run(in, sizeof(in) - 1, piece, 100, 0, IQ_STREAM_IMAP, &lim, 0, &o);
        assert_int_equal(o.len, sizeof(want) - 1);
        assert_memory_equal(o.got, want, sizeof(want) - 1);
    }
}

static void expect_refused(const char *data, size_t piece, iq_err cls, const char *needle,
                           const char *not_before)
{
    iq_stream_limits lim = limits();
    outcome o;
    run(data, strlen(data), piece, 0, 500, IQ_STREAM_IMAP, &lim, 0, &o);
    assert_int_equal(o.cls, cls);
    if (!strstr(o.error, needle))
        fail_msg("'%s' not in '%s'", needle, o.error);
    /* nothing of the refused line reached libetpan */
    if (not_before) {
        size_t keep = strlen(not_before);
        assert_int_equal(o.len, keep);
        assert_memory_equal(o.got, not_before, keep);
    }
}

static void test_imap_literal_caps(void **state)
{
    (void)state;
    const char *ok = "* OK hi\r\n";
    /* over max_literal (4096 here), over 10 digits, and shapes only libetpan reads */
    expect_refused("* OK hi\r\n* 1 FETCH (BODY[] {4097}\r\n", 1, IQ_ERR_SIZE_LIMIT, "4097", ok);
    expect_refused("* OK hi\r\n* 1 FETCH (BODY[] {00000000001}\r\n", 3, IQ_ERR_SIZE_LIMIT, "digits",
                   ok);
    expect_refused("* OK hi\r\n* 1 FETCH (BODY[] {99999999999999999999999}\r\n", 64,
                   IQ_ERR_SIZE_LIMIT, "digits", ok);
    expect_refused("* OK hi\r\n* 1 FETCH (BODY[] { 5000000}\r\n", 2, IQ_ERR_PROTOCOL, "literal",
                   ok);
    expect_refused("* OK hi\r\n* 1 FETCH (BODY[] {50 }\r\n", 1, IQ_ERR_PROTOCOL, "literal", ok);
    expect_refused("* OK hi\r\n* 1 FETCH (BODY[] {50}x)\r\n", 5, IQ_ERR_PROTOCOL, "literal", ok);
}

static void test_line_and_total_caps(void **state)
{
    (void)state;
    char longline[2048];
    memset(longline, 'a', sizeof(longline) - 3);
    memcpy(longline + sizeof(longline) - 3, "\r\n", 3);
    for (int syntax = 0; syntax < 2; syntax++) {
        iq_stream_limits lim = limits();
        outcome o;
        run(longline, strlen(longline), 100, 0, 500, (iq_stream_syntax)syntax, &lim, 0, &o);
        assert_int_equal(o.cls, IQ_ERR_SIZE_LIMIT);
        assert_non_null(strstr(o.error, "max_line"));
    }
    /* the whole connection: max_total */
    static char many[8192];
    for (size_t i = 0; i + 10 <= sizeof(many) - 1; i += 10)
        memcpy(many + i, "* OK abc\r\n", 10);
    iq_stream_limits lim = limits();
    lim.max_total = 4000;
    outcome o;
    run(many, strlen(many), 512, 0, 500, IQ_STREAM_IMAP, &lim, 0, &o);
    assert_int_equal(o.cls, IQ_ERR_SIZE_LIMIT);
    assert_non_null(strstr(o.error, "max_check_bytes"));
    assert_true(o.len <= 4000);
    /* one response: iq_stream_expect() */
    lim = limits();
    run(many, strlen(many), 512, 0, 500, IQ_STREAM_IMAP, &lim, 1000, &o);
    assert_int_equal(o.cls, IQ_ERR_SIZE_LIMIT);
    assert_non_null(strstr(o.error, "reply was longer than 1000"));
}

static void test_timeouts(void **state)
{
    (void)state;
    /* silence: read_timeout */
    iq_stream_limits lim = limits();
    lim.read_timeout_ms = 200;
    outcome o;
    run("* OK hi\r\n", 9, 64, 0, 1500, IQ_STREAM_IMAP, &lim, 0, &o);
    assert_int_equal(o.cls, IQ_ERR_TIMEOUT);
    assert_non_null(strstr(o.error, "read_timeout"));
    assert_true(o.ms >= 190 && o.ms < 1000);
    /* the deadline comes first */
    lim = limits();
    lim.deadline_ms = iq_now_mono_ms() + 300;
    run("* OK hi\r\n", 9, 64, 0, 1500, IQ_STREAM_IMAP, &lim, 0, &o);
    assert_int_equal(o.cls, IQ_ERR_TIMEOUT);
    assert_non_null(strstr(o.error, "deadline"));
    /* a byte every 40 ms: under 100 bytes/s over 400 ms of waiting */
    static char drip[64];
    memset(drip, 'x', sizeof(drip) - 1);
    lim = limits();
    lim.low_speed_limit = 100;
    lim.low_speed_time_ms = 400;
    run(drip, sizeof(drip) - 1, 1, 40000, 0, IQ_STREAM_PLAIN_LINES, &lim, 0, &o);
    assert_int_equal(o.cls, IQ_ERR_TIMEOUT);
    assert_non_null(strstr(o.error, "low_speed_limit"));
    assert_true(o.ms >= 350 && o.ms < 1500);
    /* ... and the same drip is fine without the limit (it ends with the close) */
    lim = limits();
    run(drip, 20, 1, 10000, 0, IQ_STREAM_PLAIN_LINES, &lim, 0, &o);
    assert_int_equal(o.cls, IQ_ERR_PROTOCOL);
    assert_int_equal(o.len, 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_imap_split_everywhere),
        cmocka_unit_test(test_imap_greeting_cut),
        cmocka_unit_test(test_imap_literal_caps),
        cmocka_unit_test(test_line_and_total_caps),
        cmocka_unit_test(test_timeouts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
