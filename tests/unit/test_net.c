/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/net.c: loopback connects over IPv4 and IPv6, refused ports, DNS failure,
 * connect and deadline timeouts, and deadline-bounded I/O. Only loopback traffic (and one DNS
 * query for a .invalid name, RFC 6761) ever leaves this process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "iq_skip.h"
#include "net.h"
#include "util.h"

/* A listening loopback socket on an ephemeral port; -1 when the family is unavailable. */
static int listen_loopback(int family, int backlog, int *port_r)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t sl;
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof(*in);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        sl = sizeof(*in6);
    }
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, backlog) < 0) {
        close(fd);
        return -1;
    }
    sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_r = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                      : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

static void assert_socket_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    assert_true(fl >= 0 && (fl & O_NONBLOCK));
    int fdfl = fcntl(fd, F_GETFD);
    assert_true(fdfl >= 0 && (fdfl & FD_CLOEXEC));
    int nodelay = 0;
    socklen_t sl = sizeof(nodelay);
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &sl), 0);
    assert_true(nodelay != 0);
}

/* Connects to host, exchanges a few bytes both ways with the accepted side. */
static void roundtrip(int lfd, const char *host, int port, const char *peer_expect)
{
    int fd = -1;
    iq_err cls = IQ_ERR_FAILED; /* any value the call must reset */
    char *err = NULL;
    int64_t deadline = iq_now_mono_ms() + 5000;
    assert_int_equal(iq_net_connect(host, port, 2000, 2000, deadline, &fd, &cls, &err), 0);
    assert_null(err);
    assert_true(fd >= 0);
    assert_socket_flags(fd);

    char peer[IQ_NET_PEER_MAX];
    assert_string_equal(iq_net_peer(fd, peer, sizeof(peer)), peer_expect);

    int afd = accept(lfd, NULL, NULL);
    assert_true(afd >= 0);
    assert_int_equal(iq_net_write_all(fd, "ping", 4, deadline), 0);
    char buf[16];
    assert_int_equal(read(afd, buf, 4), 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(write(afd, "pong!", 5), 5);
    size_t got = 0;
    while (got < 5) {
        ssize_t r = iq_net_read(fd, buf + got, sizeof(buf) - got, deadline);
        assert_true(r > 0);
        got += (size_t)r;
    }
    assert_memory_equal(buf, "pong!", 5);
    close(afd);
    /* End of stream is 0, not an error. */
    assert_int_equal(iq_net_read(fd, buf, sizeof(buf), deadline), 0);
    close(fd);
}

static void test_connect_ipv4(void **state)
{
    (void)state;
    int port;
    int lfd = listen_loopback(AF_INET, 8, &port);
    assert_true(lfd >= 0);
    char expect[64];
    snprintf(expect, sizeof(expect), "127.0.0.1:%d", port);
    roundtrip(lfd, "127.0.0.1", port, expect);
    roundtrip(lfd, "localhost", port, expect); /* /etc/hosts: still no DNS traffic */
    close(lfd);
}

static void test_connect_ipv6(void **state)
{
    (void)state;
    int port;
    int lfd = listen_loopback(AF_INET6, 8, &port);
    if (lfd < 0)
        IQ_SKIP("ipv6", "no IPv6 loopback here: the IPv6 connect paths are untested");
    char expect[64];
    snprintf(expect, sizeof(expect), "[::1]:%d", port);
    roundtrip(lfd, "::1", port, expect);
    roundtrip(lfd, "[::1]", port, expect);
    close(lfd);
}

static void test_connect_refused(void **state)
{
    (void)state;
    /* Bind to learn a free port, then close it: nothing listens there. */
    int port;
    int lfd = listen_loopback(AF_INET, 1, &port);
    assert_true(lfd >= 0);
    close(lfd);

    int fd = 7;
    iq_err cls = IQ_OK;
    char *err = NULL;
    int64_t t0 = iq_now_mono_ms();
    assert_int_equal(iq_net_connect("127.0.0.1", port, 2000, 2000, t0 + 5000, &fd, &cls, &err), -1);
    assert_int_equal(fd, -1);
    assert_string_equal(iq_err_name(cls), "connect");
    assert_non_null(err);
    assert_non_null(strstr(err, "127.0.0.1"));
    assert_non_null(strstr(err, "refused"));
    assert_null(strchr(err, '\n'));
    assert_true(iq_now_mono_ms() - t0 < 1000);
    free(err);
}

static void test_dns_failure(void **state)
{
    (void)state;
    int fd = 7;
    iq_err cls = IQ_OK;
    char *err = NULL;
    int64_t t0 = iq_now_mono_ms();
    assert_int_equal(
        iq_net_connect("no-such-host.invalid", 993, 2000, 2000, t0 + 10000, &fd, &cls, &err), -1);
    int64_t took = iq_now_mono_ms() - t0;
    assert_int_equal(fd, -1);
    /* NXDOMAIN, or a resolver that does not answer within the 2 s DNS timeout: both "dns". */
    assert_string_equal(iq_err_name(cls), "dns");
    assert_non_null(strstr(err, "no-such-host.invalid"));
    assert_true(took < 2500);
    free(err);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    int fd;
    iq_err cls = IQ_OK;
    char *err = NULL;
    int64_t dl = iq_now_mono_ms() + 1000;
    assert_int_equal(iq_net_connect("127.0.0.1", 0, 100, 100, dl, &fd, &cls, &err), -1);
    assert_string_equal(iq_err_name(cls), "connect");
    free(err);
    err = NULL;
    assert_int_equal(iq_net_connect("", 993, 100, 100, dl, &fd, &cls, &err), -1);
    assert_string_equal(iq_err_name(cls), "dns");
    free(err);
    err = NULL;
    assert_int_equal(iq_net_connect("bad host\r\n", 993, 100, 100, dl, &fd, &cls, &err), -1);
    assert_string_equal(iq_err_name(cls), "dns");
    free(err);
    /* A deadline already gone: no attempt at all. */
    err = NULL;
    assert_int_equal(
        iq_net_connect("127.0.0.1", 993, 100, 100, iq_now_mono_ms() - 1, &fd, &cls, &err), -1);
    assert_string_equal(iq_err_name(cls), "timeout");
    free(err);
    /* NULL class/error out-params are allowed. */
    assert_int_equal(iq_net_connect("127.0.0.1", 0, 100, 100, dl, &fd, NULL, NULL), -1);
}

/* Fills a backlog-0 listener so the next SYN goes unanswered; 0 when that worked. */
static int fill_backlog(int lfd_port, int *fillers, int n)
{
    for (int i = 0; i < n; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct sockaddr_in in;
        memset(&in, 0, sizeof(in));
        in.sin_family = AF_INET;
        in.sin_port = htons((uint16_t)lfd_port);
        in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        (void)connect(fillers[i], (struct sockaddr *)&in, sizeof(in));
    }
    usleep(100 * 1000);
    return 0;
}

static void test_connect_timeout(void **state)
{
    (void)state;
    int port;
    int lfd = listen_loopback(AF_INET, 0, &port);
    assert_true(lfd >= 0);
    int fillers[8];
    fill_backlog(port, fillers, 8);

    int fd = -1;
    iq_err cls = IQ_OK;
    char *err = NULL;
    int64_t t0 = iq_now_mono_ms();
    int rc = iq_net_connect("127.0.0.1", port, 1000, 300, t0 + 5000, &fd, &cls, &err);
    int64_t took = iq_now_mono_ms() - t0;
    if (rc == 0) {
        /* This kernel completes handshakes beyond the backlog: nothing to time out here. */
        close(fd);
        for (int i = 0; i < 8; i++)
            close(fillers[i]);
        close(lfd);
        IQ_SKIP("backlog", "this kernel completes handshakes beyond the listen backlog: the "
                           "connect timeout is untested");
    }
    assert_string_equal(iq_err_name(cls), "connect");
    assert_non_null(strstr(err, "no answer within 300ms"));
    assert_true(took >= 250 && took < 1500);
    free(err);

    /* Same, but the job's deadline is the tighter limit: "timeout". */
    err = NULL;
    t0 = iq_now_mono_ms();
    rc = iq_net_connect("127.0.0.1", port, 1000, 5000, t0 + 300, &fd, &cls, &err);
    took = iq_now_mono_ms() - t0;
    assert_int_equal(rc, -1);
    assert_string_equal(iq_err_name(cls), "timeout");
    assert_true(took >= 250 && took < 1500);
    free(err);

    for (int i = 0; i < 8; i++)
        close(fillers[i]);
    close(lfd);
}

static void test_wait_read_timeout(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int64_t t0 = iq_now_mono_ms();
    assert_int_equal(iq_net_wait(sv[0], POLLIN, t0 + 150), 0);
    assert_true(iq_now_mono_ms() - t0 >= 140);

    char buf[8];
    t0 = iq_now_mono_ms();
    errno = 0;
    assert_int_equal(iq_net_read(sv[0], buf, sizeof(buf), t0 + 150), -1);
    assert_int_equal(errno, ETIMEDOUT);
    int64_t took = iq_now_mono_ms() - t0;
    assert_true(took >= 140 && took < 1000);

    /* The read works on a blocking fd too (it never blocks past the deadline). */
    assert_int_equal(write(sv[1], "x", 1), 1);
    assert_int_equal(iq_net_wait(sv[0], POLLIN, iq_now_mono_ms() + 1000), 1);
    assert_int_equal(iq_net_read(sv[0], buf, sizeof(buf), iq_now_mono_ms() + 1000), 1);
    close(sv[0]);
    close(sv[1]);
}

static void test_write_closed_peer(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    close(sv[1]);
    /* No SIGPIPE: the test would die here if MSG_NOSIGNAL were missing. */
    errno = 0;
    assert_int_equal(iq_net_write_all(sv[0], "data", 4, iq_now_mono_ms() + 1000), -1);
    assert_int_equal(errno, EPIPE);
    close(sv[0]);
}

static void test_write_timeout(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    /* Nobody reads sv[1]: the socket buffer fills and the write must stop at the deadline. */
    size_t n = 16 * 1024 * 1024;
    char *big = calloc(1, n);
    assert_non_null(big);
    int64_t t0 = iq_now_mono_ms();
    errno = 0;
    assert_int_equal(iq_net_write_all(sv[0], big, n, t0 + 200), -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_true(iq_now_mono_ms() - t0 < 1500);
    free(big);
    close(sv[0]);
    close(sv[1]);
}

static void test_peer_unknown(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    char buf[IQ_NET_PEER_MAX];
    assert_string_equal(iq_net_peer(fd, buf, sizeof(buf)), "unknown");
    close(fd);
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_ipv4),      cmocka_unit_test(test_connect_ipv6),
        cmocka_unit_test(test_connect_refused),   cmocka_unit_test(test_dns_failure),
        cmocka_unit_test(test_bad_arguments),     cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_wait_read_timeout), cmocka_unit_test(test_write_closed_peer),
        cmocka_unit_test(test_write_timeout),     cmocka_unit_test(test_peer_unknown),
    };
    return iq_skip_status(cmocka_run_group_tests(tests, NULL, NULL));
}
