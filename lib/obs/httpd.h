/* SPDX-License-Identifier: MIT */
/* The programs' HTTP server, on libmicrohttpd (the only module that calls it): a pool of
 * threads polling every connection (epoll), a cap on connections in all and per client address,
 * an idle timeout, a bounded request head and body. Two uses: --metrics-listen (GET /metrics,
 * /healthz and /readyz: iq_httpd_start) and `inboxq serve` (any handler: iq_httpd_serve), which
 * may add TLS. A slow or silent client holds one connection slot of its own address, never a
 * thread: /healthz stays prompt while a client sits on idle sockets (issue 12, item 10). */
#ifndef IQ_HTTPD_H
#define IQ_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "metrics.h"

/* Request line plus headers much larger than this are refused with 431 (the exact cap is that
 * of libmicrohttpd's per-connection memory pool, IQ_HTTPD_MEMORY: a head of this size is
 * always served). */
#define IQ_HTTPD_MAX_REQUEST 8192
#define IQ_HTTPD_MEMORY (32u * 1024u)
/* A connection that sends nothing (or takes nothing) for this long is closed. */
#define IQ_HTTPD_TIMEOUT_MS 2000
/* Connections open at once in all, and from one client address (more are closed at accept). */
#define IQ_HTTPD_MAX_CONNECTIONS 512
#define IQ_HTTPD_MAX_PER_ADDRESS 32
/* Threads that serve requests by default (each polls its share of the connections). */
#define IQ_HTTPD_THREADS 2
/* Largest /metrics body served (a larger exposition answers 500). */
#define IQ_HTTPD_MAX_METRICS (32u * 1024u * 1024u)
/* Largest request body accepted by default (more answers 413). */
#define IQ_HTTPD_MAX_BODY (1024u * 1024u)

typedef enum {
    IQ_READY_OK,       /* 200 "ready" */
    IQ_READY_DEGRADED, /* 200 "degraded: REASON" (e.g. Redis down: slower, still correct) */
    IQ_READY_NOT,      /* 503 "not ready: REASON" (e.g. PostgreSQL or Kafka unreachable) */
} iq_ready_state;

/* Decides /readyz. Called on a server thread for each /readyz request (possibly on two threads
 * at once); it should answer from state the program keeps (or probe with a short timeout).
 * It may write one line (no newline needed) into reason[reason_size] saying what is wrong. */
typedef iq_ready_state (*iq_ready_fn)(void *ctx, char *reason, size_t reason_size);

typedef struct iq_httpd iq_httpd;

/* ---- requests and responses, for handlers ---- */

/* One request, valid during the handler call. */
typedef struct iq_http_req iq_http_req;
/* The response a handler fills; without a call to iq_http_resp_set it is a 500. */
typedef struct iq_http_resp iq_http_resp;

/* "GET", "POST", ... as sent (case kept). */
const char *iq_http_req_method(const iq_http_req *r);
/* The path, percent-decoded, without the query string. */
const char *iq_http_req_path(const iq_http_req *r);
/* A request header (name case-insensitive), a decoded query argument, a cookie; NULL if absent. */
const char *iq_http_req_header(const iq_http_req *r, const char *name);
const char *iq_http_req_query(const iq_http_req *r, const char *name);
const char *iq_http_req_cookie(const iq_http_req *r, const char *name);
/* The body (NUL-terminated after *len_r bytes; "" when none). */
const char *iq_http_req_body(const iq_http_req *r, size_t *len_r);
/* The client's address as text ("127.0.0.1", "::1"). */
const char *iq_http_req_peer(const iq_http_req *r);
/* Whether the request came over TLS. */
bool iq_http_req_tls(const iq_http_req *r);

/* The status, type and body (copied). Calling it again replaces them. */
void iq_http_resp_set(iq_http_resp *r, int status, const char *content_type, const void *body,
                      size_t body_len);
/* Same with a body the response takes (malloc'd; freed by the server). */
void iq_http_resp_take(iq_http_resp *r, int status, const char *content_type, char *body,
                       size_t body_len);
/* A body sent as it is produced (chunked, of unknown length), in blocks of at most this. */
#define IQ_HTTPD_STREAM_BLOCK (32u * 1024u)
/* Fills up to max bytes of buf: how many (> 0), 0 at the end, -1 on failure (the connection is
 * then closed before the last chunk, so the client sees the transfer incomplete). Called on a
 * server thread, one call at a time per response. */
typedef ssize_t (*iq_http_read_fn)(void *ctx, char *buf, size_t max);
/* The status and type with a body read from read(ctx) while it is sent; done(ctx) (may be
 * NULL) runs exactly once, when the response has been sent or abandoned (the client went away,
 * the server stops) or replaced by another iq_http_resp_set/take/stream. */
void iq_http_resp_stream(iq_http_resp *r, int status, const char *content_type,
                         iq_http_read_fn read, void (*done)(void *ctx), void *ctx);
/* Adds a header (a name or value with control characters is dropped, and logged). */
void iq_http_resp_header(iq_http_resp *r, const char *name, const char *value);

typedef void (*iq_http_handler)(void *ctx, const iq_http_req *req, iq_http_resp *resp);

/* The built-in endpoints, for handlers that serve them beside their own: answers GET/HEAD
 * /metrics, /healthz and /readyz (405 on other methods) and returns true, or returns false
 * for any other path. m and ready may be NULL (empty /metrics; always ready). */
bool iq_httpd_serve_obs(iq_metrics *m, iq_ready_fn ready, void *ready_ctx, const iq_http_req *req,
                        iq_http_resp *resp);

/* ---- servers ---- */

typedef struct {
    const char *listen; /* "ADDR:PORT", as iq_httpd_start takes it */
    const char *what;   /* names the server in errors: "metrics", "console" */
    iq_http_handler handler;
    void *ctx;
    size_t max_body;      /* 0: IQ_HTTPD_MAX_BODY */
    const char *tls_cert; /* PEM text (not a path) of certificate chain and key, or NULL */
    const char *tls_key;  /* for plain HTTP */
    bool keep_alive;      /* false: "Connection: close" on every response */
    unsigned per_address; /* 0: IQ_HTTPD_MAX_PER_ADDRESS */
    unsigned timeout_ms;  /* 0: IQ_HTTPD_TIMEOUT_MS (rounded up to whole seconds) */
    unsigned threads;     /* 0: IQ_HTTPD_THREADS */
} iq_httpd_config;

/* Starts a server running cfg->handler for every request on its own threads; NULL with
 * *error_r (caller frees) naming the address and what to do. Handlers run concurrently. */
iq_httpd *iq_httpd_serve(const iq_httpd_config *cfg, char **error_r);

/* The metrics server: listens on "ADDR:PORT": an IPv4 address ("0.0.0.0:9100", "127.0.0.1:0")
 * or a bracketed IPv6 one ("[::]:9100", "[::1]:0"); port 0 picks a free port (see
 * iq_httpd_port). m may be NULL (/metrics is then empty); ready may be NULL (always ready).
 * Returns the running server, or NULL with *error_r (caller frees) naming the address and what
 * to do. */
iq_httpd *iq_httpd_start(const char *listen_addr, iq_metrics *m, iq_ready_fn ready, void *ctx,
                         char **error_r);
/* The port actually bound. */
int iq_httpd_port(const iq_httpd *h);
/* Stops the threads promptly (open connections are closed) and frees the server; NULL is fine. */
void iq_httpd_stop(iq_httpd **h);

/* Whether "ADDR:PORT" names a loopback address (127.0.0.0/8 or ::1); false if malformed. */
bool iq_httpd_listen_is_loopback(const char *listen_addr);

#endif
