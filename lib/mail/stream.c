/* SPDX-License-Identifier: MIT */
/* mailstream_low driver over a socket or an OpenSSL connection, with deadlines and byte caps. */
#include "stream.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "log.h"
#include "util.h"

#define READ_BUFFER 8192 /* libetpan's read buffer for the stream */
#define TAIL_MAX 24      /* line end kept to spot a literal: "{" 20 digits "+}" CR fits */
#define ERROR_MAX 256    /* the first failure's reason, NUL included */

struct iq_stream {
    int fd;
    SSL *ssl;
    iq_stream_syntax syntax;
    iq_stream_limits lim;
    uint64_t total;
    uint64_t line_len;     /* bytes since the last LF, outside literals */
    uint64_t literal_left; /* IMAP: literal bytes still to come */
    char tail[TAIL_MAX];   /* the end of the current line, to spot "{N}\r\n" */
    size_t tail_len;
    uint64_t response_max;
    uint64_t response_len;
    iq_err error_class;
    char error[ERROR_MAX];
};

static void fail(iq_stream *st, iq_err cls, const char *fmt, ...) IQ_PRINTF(3, 4);

static void fail(iq_stream *st, iq_err cls, const char *fmt, ...)
{
    if (st->error_class)
        return; /* keep the first cause */
    st->error_class = cls;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->error, sizeof(st->error), fmt, ap);
    va_end(ap);
}

/* Parses "{123}" or "{123+}" at the end of tail (before CR). */
static int literal_announced(const iq_stream *st, uint64_t *n_r)
{
    size_t len = st->tail_len;
    if (len < 4 || st->tail[len - 1] != '\r' || st->tail[len - 2] != '}')
        return 0;
    size_t end = len - 2;
    if (st->tail[end - 1] == '+')
        end--;
    size_t start = end;
    while (start > 0 && st->tail[start - 1] >= '0' && st->tail[start - 1] <= '9')
        start--;
    if (start == end || start == 0 || st->tail[start - 1] != '{')
        return 0;
    if (end - start > 19)
        return -1;
    uint64_t n = 0;
    for (size_t i = start; i < end; i++)
        n = n * 10 + (uint64_t)(st->tail[i] - '0');
    *n_r = n;
    return 1;
}

/* Keeps the last sizeof(tail) bytes of the current line. */
static void remember_tail(iq_stream *st, const char *p, size_t n)
{
    size_t cap = sizeof(st->tail);
    if (n >= cap) {
        memcpy(st->tail, p + n - cap, cap);
        st->tail_len = cap;
        return;
    }
    if (st->tail_len + n > cap) {
        size_t drop = st->tail_len + n - cap;
        memmove(st->tail, st->tail + drop, st->tail_len - drop);
        st->tail_len -= drop;
    }
    memcpy(st->tail + st->tail_len, p, n);
    st->tail_len += n;
}

/* Follows the byte stream's shape; returns -1 (and fails the stream) on a violated cap. */
static int scan(iq_stream *st, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (st->literal_left > 0) {
            size_t take = n - i;
            if (take > st->literal_left)
                take = (size_t)st->literal_left;
            st->literal_left -= take;
            i += take;
            continue;
        }
        /* the rest of this line in this read: counted, and its last bytes kept for the
         * literal check, without touching each byte twice */
        const char *nl = memchr(p + i, '\n', n - i);
        size_t seg = (nl ? (size_t)(nl - p) : n) - i;
        st->line_len += seg;
        if (st->line_len > st->lim.max_line) {
            fail(st, IQ_ERR_SIZE_LIMIT,
                 "server sent a line longer than %llu bytes (max_line); giving up",
                 (unsigned long long)st->lim.max_line);
            return -1;
        }
        remember_tail(st, p + i, seg);
        i += seg;
        if (!nl)
            break;
        i++; /* the line feed */
        if (st->syntax == IQ_STREAM_IMAP) {
            uint64_t lit = 0;
            int r = literal_announced(st, &lit);
            if (r < 0 || (r > 0 && lit > st->lim.max_literal)) {
                fail(st, IQ_ERR_SIZE_LIMIT,
                     "server announced a literal of %s bytes, over the max_message limit of "
                     "%llu",
                     r < 0 ? "more than 10^19" : "many", (unsigned long long)st->lim.max_literal);
                if (r > 0)
                    snprintf(st->error, sizeof(st->error),
                             "server announced a literal of %llu bytes, over the max_message "
                             "limit of %llu",
                             (unsigned long long)lit, (unsigned long long)st->lim.max_literal);
                return -1;
            }
            st->literal_left = lit;
        }
        st->line_len = 0;
        st->tail_len = 0;
    }
    return 0;
}

static int wait_fd(iq_stream *st, short events)
{
    for (;;) {
        int64_t now = iq_now_mono_ms();
        int64_t left = st->lim.deadline_ms - now;
        if (left <= 0) {
            fail(st, IQ_ERR_TIMEOUT, "the check's deadline passed while waiting for the server");
            return -1;
        }
        int64_t wait = left < st->lim.read_timeout_ms ? left : st->lim.read_timeout_ms;
        struct pollfd p = {.fd = st->fd, .events = events};
        int r = poll(&p, 1, (int)wait);
        if (r > 0)
            return 0;
        if (r == 0) {
            if (wait == st->lim.read_timeout_ms && left > wait)
                fail(st, IQ_ERR_TIMEOUT, "server sent nothing for %lld ms (read_timeout)",
                     (long long)st->lim.read_timeout_ms);
            else
                fail(st, IQ_ERR_TIMEOUT,
                     "the check's deadline passed while waiting for the server");
            return -1;
        }
        if (errno != EINTR) {
            fail(st, IQ_ERR_CONNECT, "poll: %s", IQ_STRERROR(errno));
            return -1;
        }
    }
}

static ssize_t raw_read(iq_stream *st, void *buf, size_t count)
{
    for (;;) {
        if (st->ssl) {
            ERR_clear_error();
            int r = SSL_read(st->ssl, buf, count > INT32_MAX ? INT32_MAX : (int)count);
            if (r > 0)
                return r;
            int e = SSL_get_error(st->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                if (wait_fd(st, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT) < 0)
                    return -1;
                continue;
            }
            if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
                fail(st, IQ_ERR_PROTOCOL,
                     "the server closed the connection in the middle of a reply");
            else
                fail(st, IQ_ERR_PROTOCOL, "TLS read failed: %s",
                     ERR_reason_error_string(ERR_get_error()));
            return -1;
        }
        ssize_t r = recv(st->fd, buf, count, 0);
        if (r > 0)
            return r;
        if (r == 0) {
            fail(st, IQ_ERR_PROTOCOL, "the server closed the connection in the middle of a reply");
            return -1;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            if (wait_fd(st, POLLIN) < 0)
                return -1;
            continue;
        }
        fail(st, IQ_ERR_CONNECT, "read: %s", IQ_STRERROR(errno));
        return -1;
    }
}

static ssize_t drv_read(mailstream_low *low, void *buf, size_t count)
{
    iq_stream *st = low->data;
    if (st->error_class)
        return -1;
    if (iq_now_mono_ms() >= st->lim.deadline_ms) {
        fail(st, IQ_ERR_TIMEOUT, "the check's deadline passed");
        return -1;
    }
    ssize_t r = raw_read(st, buf, count);
    if (r <= 0)
        return -1; /* never a silent 0: libetpan would retry it forever */
    st->total += (uint64_t)r;
    st->response_len += (uint64_t)r;
    if (st->total > st->lim.max_total) {
        fail(st, IQ_ERR_SIZE_LIMIT,
             "the server sent more than %llu bytes in one check "
             "(max_check_bytes)",
             (unsigned long long)st->lim.max_total);
        return -1;
    }
    if (st->response_max && st->response_len > st->response_max) {
        fail(st, IQ_ERR_SIZE_LIMIT, "a reply was longer than %llu bytes",
             (unsigned long long)st->response_max);
        return -1;
    }
    if (scan(st, buf, (size_t)r) < 0)
        return -1;
    return r;
}

static ssize_t drv_write(mailstream_low *low, const void *buf, size_t count)
{
    iq_stream *st = low->data;
    if (st->error_class)
        return -1;
    for (;;) {
        if (st->ssl) {
            ERR_clear_error();
            int r = SSL_write(st->ssl, buf, count > INT32_MAX ? INT32_MAX : (int)count);
            if (r > 0)
                return r;
            int e = SSL_get_error(st->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                if (wait_fd(st, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT) < 0)
                    return -1;
                continue;
            }
            fail(st, IQ_ERR_PROTOCOL, "TLS write failed (the server closed the connection?)");
            return -1;
        }
        ssize_t r = send(st->fd, buf, count, MSG_NOSIGNAL);
        if (r >= 0)
            return r;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            if (wait_fd(st, POLLOUT) < 0)
                return -1;
            continue;
        }
        fail(st, IQ_ERR_CONNECT, "write: %s", IQ_STRERROR(errno));
        return -1;
    }
}

static int drv_close(mailstream_low *low)
{
    iq_stream *st = low->data;
    if (st->ssl && !st->error_class)
        SSL_shutdown(st->ssl); /* best effort, non-blocking */
    if (st->fd >= 0)
        close(st->fd);
    st->fd = -1;
    return 0;
}

static int drv_get_fd(mailstream_low *low)
{
    iq_stream *st = low->data;
    return st->fd;
}

static void drv_free(mailstream_low *low)
{
    iq_stream *st = low->data;
    if (st->fd >= 0)
        close(st->fd);
    if (st->ssl)
        SSL_free(st->ssl);
    free(st);
    free(low);
}

static void drv_cancel(mailstream_low *low)
{
    IQ_UNUSED(low);
}

static struct mailstream_cancel *drv_get_cancel(mailstream_low *low)
{
    IQ_UNUSED(low);
    return NULL;
}

static carray *drv_get_certificate_chain(mailstream_low *low)
{
    IQ_UNUSED(low);
    return NULL;
}

static mailstream_low_driver driver = {
    .mailstream_read = drv_read,
    .mailstream_write = drv_write,
    .mailstream_close = drv_close,
    .mailstream_get_fd = drv_get_fd,
    .mailstream_free = drv_free,
    .mailstream_cancel = drv_cancel,
    .mailstream_get_cancel = drv_get_cancel,
    .mailstream_get_certificate_chain = drv_get_certificate_chain,
};

mailstream *iq_stream_open(int fd, SSL *ssl, iq_stream_syntax syntax,
                           const iq_stream_limits *limits, iq_stream **st_r)
{
    iq_stream *st = iq_xcalloc(1, sizeof(*st));
    st->fd = fd;
    st->ssl = ssl;
    st->syntax = syntax;
    st->lim = *limits;
    mailstream_low *low = mailstream_low_new(st, &driver);
    if (!low)
        iq_oom();
    mailstream *s = mailstream_new(low, READ_BUFFER);
    if (!s)
        iq_oom();
    *st_r = st;
    return s;
}

int iq_stream_starttls(iq_stream *st, mailstream *s, SSL_CTX *ctx, const char *host, bool verify,
                       iq_tls_info *info_r, iq_err *class_r, char **error_r)
{
    char peek;
    ssize_t waiting = recv(st->fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT);
    if (s->read_buffer_len > 0 || waiting > 0 || st->tail_len > 0 || st->literal_left > 0) {
        *class_r = IQ_ERR_STARTTLS_POLICY;
        *error_r = iq_xstrdup("the server sent bytes after its STARTTLS OK and before the TLS "
                              "handshake (possible response injection); refusing to go on");
        return -1;
    }
    SSL *ssl = NULL;
    if (iq_tls_handshake(ctx, st->fd, host, verify, st->lim.deadline_ms, &ssl, info_r, class_r,
                         error_r) < 0)
        return -1;
    st->ssl = ssl;
    return 0;
}

iq_err iq_stream_error_class(const iq_stream *st)
{
    return st->error_class;
}

const char *iq_stream_error(const iq_stream *st)
{
    return st->error_class ? st->error : NULL;
}

uint64_t iq_stream_bytes_read(const iq_stream *st)
{
    return st->total;
}

bool iq_stream_is_tls(const iq_stream *st)
{
    return st->ssl != NULL;
}

void iq_stream_expect(iq_stream *st, uint64_t max)
{
    st->response_max = max;
    st->response_len = 0;
}

void iq_stream_set_limits(iq_stream *st, const iq_stream_limits *limits)
{
    st->lim = *limits;
    st->total = 0;
}

int iq_stream_fd(const iq_stream *st)
{
    return st->fd;
}

SSL *iq_stream_ssl(const iq_stream *st)
{
    return st->ssl;
}

iq_stream *iq_stream_of(mailstream *s)
{
    return s && s->low && s->low->driver == &driver ? s->low->data : NULL;
}
