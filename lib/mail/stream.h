/* SPDX-License-Identifier: MIT */
/* Our libetpan mailstream_low driver: carries plain and TLS connections alike and is the
 * guard rail against hostile servers: an overall deadline, a per-read timeout and a low-speed
 * limit (a server dripping bytes cannot hold a check until its deadline), end of
 * stream as an error, caps on line length, IMAP literal size (checked before libetpan sees
 * the announcement) and total bytes, and a STARTTLS upgrade that refuses injected bytes. */
#ifndef IQ_STREAM_H
#define IQ_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include <libetpan/libetpan.h>
#include <openssl/ssl.h>

#include "error.h"
#include "tls.h"

typedef struct iq_stream_limits {
    int64_t deadline_ms;       /* monotonic, absolute: the whole check */
    int64_t read_timeout_ms;   /* longest wait for any single read */
    uint64_t max_line;         /* bytes without a line feed (outside literals) */
    uint64_t max_literal;      /* IMAP literal announced by the server */
    uint64_t max_total;        /* bytes read over the whole connection */
    uint64_t low_speed_limit;  /* bytes/s the server must average while we wait; 0 = off */
    int64_t low_speed_time_ms; /* ... measured over this much waiting */
} iq_stream_limits;

typedef enum { IQ_STREAM_PLAIN_LINES, IQ_STREAM_IMAP } iq_stream_syntax;

typedef struct iq_stream iq_stream;

/* Wraps a connected fd (and an established SSL, or NULL). The returned mailstream owns
 * everything: mailstream_close() closes the fd and frees the stream state. *st_r stays
 * valid until then, for the queries below. */
mailstream *iq_stream_open(int fd, SSL *ssl, iq_stream_syntax syntax,
                           const iq_stream_limits *limits, iq_stream **st_r);

/* Upgrades the connection to TLS after a STARTTLS/STLS OK. Refuses (IQ_ERR_STARTTLS_POLICY) when
 * any byte is already buffered after the OK (response injection). */
int iq_stream_starttls(iq_stream *st, mailstream *s, SSL_CTX *ctx, const char *host, bool verify,
                       iq_tls_info *info_r, iq_err *class_r, char **error_r);

/* Why the stream failed, when it did: error class (IQ_ERR_TIMEOUT, IQ_ERR_SIZE_LIMIT,
 * IQ_ERR_PROTOCOL, IQ_ERR_CONNECT) and text; NULL when it has not failed. */
iq_err iq_stream_error_class(const iq_stream *st);
const char *iq_stream_error(const iq_stream *st);
uint64_t iq_stream_bytes_read(const iq_stream *st);
bool iq_stream_is_tls(const iq_stream *st);
/* Starts counting a response of at most max bytes (0 = no per-response cap). */
void iq_stream_expect(iq_stream *st, uint64_t max);
/* For a connection held open past one check (IMAP IDLE push, idle.c): new limits, and the
 * byte count (max_total) starts again from zero. */
void iq_stream_set_limits(iq_stream *st, const iq_stream_limits *limits);
/* The socket and the TLS connection (NULL when plain), to wait on and to ask SSL_pending(). */
int iq_stream_fd(const iq_stream *st);
SSL *iq_stream_ssl(const iq_stream *st);
/* Our state of a mailstream opened by iq_stream_open (NULL for any other stream). */
iq_stream *iq_stream_of(mailstream *s);

#endif
