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

#include "imapline.h"
#include "log.h"
#include "util.h"

#define READ_BUFFER 8192 /* libetpan's read buffer for the stream */
#define RAW_CHUNK 16384  /* bytes read from the socket at a time (IMAP) */
#define ERROR_MAX 256    /* the first failure's reason, NUL included */

struct iq_stream {
    int fd;
    SSL *ssl;
    iq_stream_syntax syntax;
    iq_stream_limits lim;
    uint64_t total;
    uint64_t line_len;     /* POP3: bytes since the last LF */
    uint64_t literal_left; /* IMAP: literal bytes still to come */
    iq_buf line;           /* IMAP: the current line, until its LF */
    iq_buf out;            /* IMAP: filtered bytes libetpan has not read yet */
    size_t out_off;
    uint64_t lines;       /* IMAP: lines passed (the first is the greeting) */
    bool after_literal;   /* IMAP: the current line continues a response after a literal */
    int64_t slow_wait_ms; /* time spent waiting for the server since the last speed check */
    uint64_t slow_bytes;  /* bytes it sent meanwhile */
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

static int line_too_long(iq_stream *st)
{
    fail(st, IQ_ERR_SIZE_LIMIT, "server sent a line longer than %llu bytes (max_line); giving up",
         (unsigned long long)st->lim.max_line);
    return -1;
}

/* POP3: follows the line lengths; returns -1 (and fails the stream) on a violated cap. */
static int scan(iq_stream *st, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(p + i, '\n', n - i);
        size_t seg = (nl ? (size_t)(nl - p) : n) - i;
        st->line_len += seg;
        if (st->line_len > st->lim.max_line)
            return line_too_long(st);
        i += seg;
        if (!nl)
            break;
        i++; /* the line feed */
        st->line_len = 0;
    }
    return 0;
}

/* IMAP: passes raw bytes through the line filter (imapline.h) into st->out, whole lines at a
 * time, literal bodies as they come. Returns -1 (and fails the stream) on a refused line. */
static int imap_take(iq_stream *st, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (st->literal_left > 0) {
            size_t take = n - i;
            if (take > st->literal_left)
                take = (size_t)st->literal_left;
            if (iq_buf_append(&st->out, p + i, take) < 0) {
                fail(st, IQ_ERR_SIZE_LIMIT, "a server reply did not fit the read buffer");
                return -1;
            }
            st->literal_left -= take;
            i += take;
            continue;
        }
        const char *nl = memchr(p + i, '\n', n - i);
        size_t seg = (nl ? (size_t)(nl - p) + 1 : n) - i;
        if (st->line.len + seg - (nl ? 1 : 0) > st->lim.max_line ||
            iq_buf_append(&st->line, p + i, seg) < 0)
            return line_too_long(st);
        i += seg;
        if (!nl)
            break;
        iq_imap_line_result res;
        iq_imap_line_kind kind = st->lines == 0      ? IQ_IMAP_LINE_GREETING
                                 : st->after_literal ? IQ_IMAP_LINE_AFTER_LITERAL
                                                     : IQ_IMAP_LINE_START;
        if (iq_imap_line_filter(st->line.data, st->line.len, kind, st->lim.max_literal, &st->out,
                                &res) < 0) {
            fail(st, res.error_class, "%s", res.error);
            return -1;
        }
        if (res.code_cut)
            IQ_DEBUG("imap: a response code libetpan cannot take safely was cut out");
        st->lines++;
        st->literal_left = res.literal;
        st->after_literal = res.literal_follows;
        iq_buf_reset(&st->line);
    }
    return 0;
}

/* The low-speed limit (curl's --speed-limit/--speed-time): once the check has waited
 * low_speed_time for the server, it must have sent low_speed_limit bytes a second meanwhile.
 * Only waiting counts: the time the check spends on its own work is not the server's. */
static int speed_check(iq_stream *st)
{
    if (!st->lim.low_speed_limit || st->slow_wait_ms < st->lim.low_speed_time_ms)
        return 0;
    if (st->slow_bytes * 1000 < st->lim.low_speed_limit * (uint64_t)st->slow_wait_ms) {
        fail(st, IQ_ERR_TIMEOUT,
             "the server sent %llu bytes in %lld ms of waiting, below low_speed_limit (%llu "
             "bytes/s over low_speed_time)",
             (unsigned long long)st->slow_bytes, (long long)st->slow_wait_ms,
             (unsigned long long)st->lim.low_speed_limit);
        return -1;
    }
    st->slow_wait_ms = 0;
    st->slow_bytes = 0;
    return 0;
}

static int wait_fd(iq_stream *st, short events)
{
    int64_t idle_end = iq_now_mono_ms() + st->lim.read_timeout_ms;
    for (;;) {
        int64_t now = iq_now_mono_ms();
        if (now >= st->lim.deadline_ms) {
            fail(st, IQ_ERR_TIMEOUT, "the check's deadline passed while waiting for the server");
            return -1;
        }
        if (now >= idle_end) {
            fail(st, IQ_ERR_TIMEOUT, "server sent nothing for %lld ms (read_timeout)",
                 (long long)st->lim.read_timeout_ms);
            return -1;
        }
        int64_t wait = st->lim.deadline_ms - now;
        if (idle_end - now < wait)
            wait = idle_end - now;
        bool speed = st->lim.low_speed_limit && events == POLLIN;
        if (speed && st->lim.low_speed_time_ms - st->slow_wait_ms + 1 < wait)
            wait = st->lim.low_speed_time_ms - st->slow_wait_ms + 1;
        struct pollfd p = {.fd = st->fd, .events = events};
        int r = poll(&p, 1, (int)wait);
        if (r < 0 && errno != EINTR) {
            fail(st, IQ_ERR_CONNECT, "poll: %s", IQ_STRERROR(errno));
            return -1;
        }
        if (events == POLLIN) {
            st->slow_wait_ms += iq_now_mono_ms() - now;
            if (speed_check(st) < 0)
                return -1;
        }
        if (r > 0)
            return 0;
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

/* Counts r bytes just read against the caps; -1 (the stream failed) when one is passed. */
static int count_read(iq_stream *st, ssize_t r)
{
    st->total += (uint64_t)r;
    st->response_len += (uint64_t)r;
    st->slow_bytes += (uint64_t)r;
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
    return 0;
}

static ssize_t imap_read(iq_stream *st, char *buf, size_t count)
{
    for (;;) {
        if (st->out_off < st->out.len) {
            size_t n = st->out.len - st->out_off;
            if (n > count)
                n = count;
            memcpy(buf, st->out.data + st->out_off, n);
            st->out_off += n;
            if (st->out_off == st->out.len) {
                iq_buf_reset(&st->out);
                st->out_off = 0;
            }
            return (ssize_t)n;
        }
        if (st->literal_left > 0) {
            /* a literal's body goes straight into libetpan's buffer */
            size_t want = count < st->literal_left ? count : (size_t)st->literal_left;
            ssize_t r = raw_read(st, buf, want);
            if (r <= 0 || count_read(st, r) < 0)
                return -1;
            st->literal_left -= (uint64_t)r;
            return r;
        }
        char chunk[RAW_CHUNK];
        ssize_t r = raw_read(st, chunk, sizeof(chunk));
        if (r <= 0 || count_read(st, r) < 0)
            return -1;
        if (imap_take(st, chunk, (size_t)r) < 0 && st->out_off == st->out.len)
            return -1; /* else the lines before the refused one first */
    }
}

static ssize_t drv_read(mailstream_low *low, void *buf, size_t count)
{
    iq_stream *st = low->data;
    if (st->error_class)
        return st->out_off < st->out.len ? imap_read(st, buf, count) : -1;
    if (iq_now_mono_ms() >= st->lim.deadline_ms) {
        fail(st, IQ_ERR_TIMEOUT, "the check's deadline passed");
        return -1;
    }
    if (st->syntax == IQ_STREAM_IMAP)
        return imap_read(st, buf, count);
    ssize_t r = raw_read(st, buf, count);
    if (r <= 0)
        return -1; /* never a silent 0: libetpan would retry it forever */
    if (count_read(st, r) < 0 || scan(st, buf, (size_t)r) < 0)
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
    iq_buf_release(&st->line);
    iq_buf_release(&st->out);
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
    iq_buf_init(&st->line, (size_t)limits->max_line + 2);
    iq_buf_init(&st->out, (size_t)limits->max_line + 2 + RAW_CHUNK);
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
    if (s->read_buffer_len > 0 || waiting > 0 || st->line.len > 0 || st->out_off < st->out.len ||
        st->literal_left > 0) {
        *class_r = IQ_ERR_STARTTLS_POLICY;
        *error_r = iq_xstrdup("the server sent bytes after its STARTTLS OK and before the TLS "
                              "handshake (possible response injection); refusing to go on");
        return -1;
    }
    SSL *ssl = NULL;
    if (iq_tls_handshake(ctx, st->fd, host, verify, st->lim.deadline_ms, st->lim.read_timeout_ms,
                         &ssl, info_r, class_r, error_r) < 0)
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
