/* SPDX-License-Identifier: MIT */
/* A tiny HTTP/1.1 server thread for --metrics-listen: GET /metrics, /healthz and /readyz, one
 * request per connection, capped and time-limited against hostile clients. */
#ifndef IQ_HTTPD_H
#define IQ_HTTPD_H

#include <stddef.h>

#include "metrics.h"

/* Request line plus headers larger than this are refused with 431. */
#define IQ_HTTPD_MAX_REQUEST 8192
/* A client has this long, from its connection, to send the whole request head (then it is
 * dropped; slow-drip clients too); it then has 10 s to take the response. */
#define IQ_HTTPD_TIMEOUT_MS 2000
/* Connections served at once; more wait in the listen backlog. */
#define IQ_HTTPD_MAX_CONNECTIONS 16
/* Largest /metrics body served (a larger exposition answers 500). */
#define IQ_HTTPD_MAX_METRICS (32u * 1024u * 1024u)

typedef enum {
    IQ_READY_OK,       /* 200 "ready" */
    IQ_READY_DEGRADED, /* 200 "degraded: REASON" (e.g. Redis down: slower, still correct) */
    IQ_READY_NOT,      /* 503 "not ready: REASON" (e.g. PostgreSQL or Kafka unreachable) */
} iq_ready_state;

/* Decides /readyz. Called on the server thread for each /readyz request; it should answer from
 * state the program keeps (or probe with a short timeout), since requests wait while it runs.
 * It may write one line (no newline needed) into reason[reason_size] saying what is wrong. */
typedef iq_ready_state (*iq_ready_fn)(void *ctx, char *reason, size_t reason_size);

typedef struct iq_httpd iq_httpd;

/* Listens on "ADDR:PORT": an IPv4 address ("0.0.0.0:9100", "127.0.0.1:0") or a bracketed IPv6
 * one ("[::]:9100", "[::1]:0"); port 0 picks a free port (see iq_httpd_port). m may be NULL
 * (/metrics is then empty); ready may be NULL (always ready). Returns the running server, or
 * NULL with *error_r (caller frees) naming the address and what to do. */
iq_httpd *iq_httpd_start(const char *listen_addr, iq_metrics *m, iq_ready_fn ready, void *ctx,
                         char **error_r);
/* The port actually bound. */
int iq_httpd_port(const iq_httpd *h);
/* Stops the thread promptly (open connections are closed) and frees the server; NULL is fine. */
void iq_httpd_stop(iq_httpd **h);

#endif
