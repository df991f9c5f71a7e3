/* SPDX-License-Identifier: MIT */
/* TCP connect with DNS and connect timeouts, and deadline-bounded socket I/O (RFC 793; address
 * order as getaddrinfo sorts it, RFC 6724). */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "util.h"

/* Lookups still running after their caller gave up (a dead resolver) are capped, so a broken
 * DNS server costs failed checks, not an ever-growing number of threads. */
#define IQ_DNS_MAX_PENDING 64
/* Longest host name DNS allows (RFC 1035), plus room for a bracketed IPv6 literal. */
#define IQ_HOST_MAX 255

static atomic_int dns_pending;

static void set_error(char **error_r, iq_err *class_r, iq_err cls, char *msg)
{
    if (class_r)
        *class_r = cls;
    if (error_r)
        *error_r = msg;
    else
        free(msg);
}

static int64_t min_i64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* ---- DNS with a timeout: one detached thread per lookup, the request is shared and freed by
 * whichever side lets go last. ---- */

typedef struct dns_req {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    bool done;
    int rc;
    int sys_errno;
    struct addrinfo *res;
    char host[IQ_HOST_MAX + 1];
    char port[8];
} dns_req;

static void dns_req_unref(dns_req *r)
{
    pthread_mutex_lock(&r->mu);
    bool last = --r->refs == 0;
    pthread_mutex_unlock(&r->mu);
    if (!last)
        return;
    if (r->res)
        freeaddrinfo(r->res);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static void *dns_thread(void *arg)
{
    dns_req *r = arg;
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(r->host, r->port, &hints, &res);
    int err = errno;

    pthread_mutex_lock(&r->mu);
    r->rc = rc;
    r->sys_errno = err;
    r->res = rc == 0 ? res : NULL;
    r->done = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    atomic_fetch_sub(&dns_pending, 1);
    dns_req_unref(r);
    return NULL;
}

/* Tries host as a numeric address (no network traffic). 0 with *res_r set, or -1. */
static int resolve_numeric(const char *host, const char *port, struct addrinfo **res_r)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    return getaddrinfo(host, port, &hints, res_r) == 0 ? 0 : -1;
}

static int resolve(const char *host, const char *port, int64_t dns_timeout_ms, int64_t deadline_ms,
                   struct addrinfo **res_r, iq_err *class_r, char **error_r)
{
    if (resolve_numeric(host, port, res_r) == 0)
        return 0;

    int64_t start = iq_now_mono_ms();
    int64_t limit = deadline_ms;
    bool dns_limited = false;
    if (dns_timeout_ms > 0 && start <= INT64_MAX - dns_timeout_ms &&
        start + dns_timeout_ms <= deadline_ms) {
        limit = start + dns_timeout_ms;
        dns_limited = true;
    }

    if (atomic_fetch_add(&dns_pending, 1) >= IQ_DNS_MAX_PENDING) {
        atomic_fetch_sub(&dns_pending, 1);
        set_error(error_r, class_r, IQ_ERR_DNS,
                  iq_xasprintf("DNS lookup of %s not started: %d earlier lookups are still "
                               "unanswered; check the resolver (/etc/resolv.conf)",
                               host, IQ_DNS_MAX_PENDING));
        return -1;
    }

    dns_req *r = iq_xcalloc(1, sizeof(*r));
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&r->mu, NULL);
    r->refs = 2;
    snprintf(r->host, sizeof(r->host), "%s", host);
    snprintf(r->port, sizeof(r->port), "%s", port);

    /* The resolver thread takes no signals: they belong to the program's own threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t ta;
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    pthread_t tid;
    int prc = pthread_create(&tid, &ta, dns_thread, r);
    pthread_attr_destroy(&ta);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (prc != 0) {
        atomic_fetch_sub(&dns_pending, 1);
        r->refs = 1;
        dns_req_unref(r);
        char eb[IQ_STRERROR_SIZE];
        set_error(error_r, class_r, IQ_ERR_DNS,
                  iq_xasprintf("DNS lookup of %s not started: cannot create a resolver thread "
                               "(%s); lower the worker's concurrency or raise its thread limit",
                               host, iq_strerror(prc, eb, sizeof(eb))));
        return -1;
    }

    int64_t wait_ms = limit - start;
    if (wait_ms > (int64_t)INT_MAX * 1000)
        wait_ms = (int64_t)INT_MAX * 1000; /* "no deadline": ~68 years is enough */
    if (wait_ms < 0)
        wait_ms = 0;
    struct timespec abs = iq_deadline_ts(CLOCK_MONOTONIC, wait_ms);

    pthread_mutex_lock(&r->mu);
    while (!r->done) {
        if (pthread_cond_timedwait(&r->cv, &r->mu, &abs) == ETIMEDOUT)
            break;
    }
    bool done = r->done;
    int rc = r->rc;
    int sys_errno = r->sys_errno;
    struct addrinfo *res = r->res;
    r->res = NULL;
    pthread_mutex_unlock(&r->mu);
    dns_req_unref(r);

    if (!done) {
        char d[32];
        if (dns_limited) {
            iq_format_duration(dns_timeout_ms, d, sizeof(d));
            set_error(error_r, class_r, IQ_ERR_DNS,
                      iq_xasprintf("DNS lookup of %s timed out after %s; check the host name "
                                   "and the resolver (/etc/resolv.conf)",
                                   host, d));
        } else {
            set_error(error_r, class_r, IQ_ERR_TIMEOUT,
                      iq_xasprintf("DNS lookup of %s did not finish before the check's deadline; "
                                   "check the resolver or raise the check timeout",
                                   host));
        }
        return -1;
    }
    if (rc != 0) {
        char eb[IQ_STRERROR_SIZE];
        const char *why =
            rc == EAI_SYSTEM ? iq_strerror(sys_errno, eb, sizeof(eb)) : gai_strerror(rc);
        const char *hint = (rc == EAI_NONAME || rc == EAI_NODATA || rc == EAI_FAIL)
                               ? "check the host name"
                               : "check the resolver (/etc/resolv.conf) and try again";
        set_error(error_r, class_r, IQ_ERR_DNS,
                  iq_xasprintf("DNS lookup of %s failed: %s; %s", host, why, hint));
        return -1;
    }
    if (!res) {
        set_error(
            error_r, class_r, IQ_ERR_DNS,
            iq_xasprintf("DNS lookup of %s returned no addresses; check the host name", host));
        return -1;
    }
    *res_r = res;
    return 0;
}

/* ---- connect ---- */

static void format_addr(const struct sockaddr *sa, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        if (inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip)))
            snprintf(buf, size, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
        else
            snprintf(buf, size, "unknown");
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip)))
            snprintf(buf, size, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
        else
            snprintf(buf, size, "unknown");
    } else {
        snprintf(buf, size, "unknown");
    }
}

/* One address. 0 with *fd_r connected; -1 with *err_r = errno (ETIMEDOUT when timed out). */
static int connect_one(const struct addrinfo *ai, int64_t limit_ms, int *fd_r, int *err_r)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        *err_r = errno;
        return -1;
    }
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc < 0 && errno != EINPROGRESS && errno != EINTR) {
        *err_r = errno;
        close(fd);
        return -1;
    }
    if (rc < 0) {
        int w = iq_net_wait(fd, POLLOUT, limit_ms);
        if (w <= 0) {
            *err_r = w == 0 ? ETIMEDOUT : errno;
            close(fd);
            return -1;
        }
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = errno;
        if (soerr != 0) {
            *err_r = soerr;
            close(fd);
            return -1;
        }
    }
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
        *err_r = errno;
        close(fd);
        return -1;
    }
    *fd_r = fd;
    return 0;
}

/* Copies host into buf without IPv6 brackets ("[::1]" -> "::1"). -1 if unusable. */
static int host_plain(const char *host, char *buf, size_t size)
{
    size_t len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (len == 0 || len >= size)
        return -1;
    memcpy(buf, host, len);
    buf[len] = '\0';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c <= 0x20 || c >= 0x7F)
            return -1;
    }
    return 0;
}

int iq_net_connect(const char *host, int port, int64_t dns_timeout_ms, int64_t connect_timeout_ms,
                   int64_t deadline_ms, int *fd_r, iq_err *class_r, char **error_r)
{
    *fd_r = -1;
    if (class_r)
        *class_r = IQ_OK;
    if (error_r)
        *error_r = NULL;

    char name[IQ_HOST_MAX + 1];
    if (!host || host_plain(host, name, sizeof(name)) < 0) {
        set_error(error_r, class_r, IQ_ERR_DNS,
                  iq_xasprintf("invalid host name (empty, longer than %d bytes, or not printable "
                               "ASCII without spaces); fix the host, using the punycode form "
                               "of an international name",
                               IQ_HOST_MAX));
        return -1;
    }
    if (port < 1 || port > 65535) {
        set_error(
            error_r, class_r, IQ_ERR_CONNECT,
            iq_xasprintf("invalid port %d for %s; use a port between 1 and 65535", port, name));
        return -1;
    }
    if (iq_now_mono_ms() >= deadline_ms) {
        set_error(error_r, class_r, IQ_ERR_TIMEOUT,
                  iq_xasprintf("no time left to connect to %s:%d before the check's deadline; "
                               "raise the check timeout",
                               name, port));
        return -1;
    }

    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo *res = NULL;
    if (resolve(name, portstr, dns_timeout_ms, deadline_ms, &res, class_r, error_r) < 0)
        return -1;

    iq_buf why;
    iq_buf_init(&why, 600);
    bool why_full = false;
    int count = 0;
    bool deadline_hit = false;
    int ret = -1;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        int64_t now = iq_now_mono_ms();
        if (now >= deadline_ms) {
            deadline_hit = true;
            break;
        }
        int64_t limit = deadline_ms;
        if (connect_timeout_ms > 0 && now <= INT64_MAX - connect_timeout_ms)
            limit = min_i64(now + connect_timeout_ms, deadline_ms);
        int fd = -1, err = 0;
        count++;
        if (connect_one(ai, limit, &fd, &err) == 0) {
            *fd_r = fd;
            ret = 0;
            break;
        }
        if (err == ETIMEDOUT && limit == deadline_ms && iq_now_mono_ms() >= deadline_ms)
            deadline_hit = true;
        char addr[IQ_NET_PEER_MAX], eb[IQ_STRERROR_SIZE], d[32];
        format_addr(ai->ai_addr, addr, sizeof(addr));
        const char *what = iq_strerror(err, eb, sizeof(eb));
        if (err == ETIMEDOUT && connect_timeout_ms > 0 && limit != deadline_ms) {
            iq_format_duration(connect_timeout_ms, d, sizeof(d));
            snprintf(eb, sizeof(eb), "no answer within %s", d);
            what = eb;
        }
        /* The list is for humans: from the first entry that does not fit on, the rest are
         * dropped (so it never skips one and shows a later one). */
        if (!why_full && iq_buf_appendf(&why, "%s%s: %s", why.len ? "; " : "", addr, what) < 0)
            why_full = true;
        if (deadline_hit)
            break;
    }
    freeaddrinfo(res);
    if (ret == 0) {
        iq_buf_release(&why);
        return 0;
    }

    if (count == 0 && !deadline_hit) {
        set_error(error_r, class_r, IQ_ERR_DNS,
                  iq_xasprintf("DNS lookup of %s returned no IPv4 or IPv6 address; check the "
                               "host name",
                               name));
    } else if (deadline_hit) {
        set_error(error_r, class_r, IQ_ERR_TIMEOUT,
                  iq_xasprintf("connecting to %s:%d did not finish before the check's deadline "
                               "(%s); check the network path or raise the check timeout",
                               name, port, why.len ? why.data : "no address tried"));
    } else {
        set_error(error_r, class_r, IQ_ERR_CONNECT,
                  iq_xasprintf("cannot connect to %s:%d (%s); check the host, the port and any "
                               "firewall in between",
                               name, port, why.data));
    }
    iq_buf_release(&why);
    return -1;
}

/* ---- I/O with deadlines ---- */

int iq_net_wait(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - iq_now_mono_ms();
        if (deadline_ms == IQ_NET_NO_DEADLINE)
            left = -1;
        else if (left < 0)
            left = 0;
        else if (left > INT_MAX)
            left = INT_MAX;
        struct pollfd pfd = {.fd = fd, .events = events, .revents = 0};
        int rc = poll(&pfd, 1, (int)left);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (rc > 0) {
            if (pfd.revents & POLLNVAL) {
                errno = EBADF;
                return -1;
            }
            return 1;
        }
        if (left == 0 || iq_now_mono_ms() >= deadline_ms)
            return 0;
        /* poll's timeout was clamped to INT_MAX ms; go round again. */
    }
}

ssize_t iq_net_read(int fd, void *buf, size_t n, int64_t deadline_ms)
{
    if (n == 0)
        return 0;
    for (;;) {
        ssize_t r = recv(fd, buf, n, MSG_DONTWAIT);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        int w = iq_net_wait(fd, POLLIN, deadline_ms);
        if (w < 0)
            return -1;
        if (w == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
    }
}

int iq_net_write_all(int fd, const void *buf, size_t n, int64_t deadline_ms)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        int rc = iq_net_wait(fd, POLLOUT, deadline_ms);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
    }
    return 0;
}

const char *iq_net_peer(int fd, char *buf, size_t size)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl = sizeof(ss);
    if (size == 0)
        return buf;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) {
        snprintf(buf, size, "unknown");
        return buf;
    }
    format_addr((const struct sockaddr *)&ss, buf, size);
    return buf;
}
