/* SPDX-License-Identifier: MIT */
/* `inboxq serve`: the web console and the JSON API (cmd_serve.c starts it, serve_api.c answers
 * requests). Internal to producer/. */
#ifndef IQ_PRODUCER_SERVE_H
#define IQ_PRODUCER_SERVE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checkenv.h"
#include "config.h"
#include "httpd.h"
#include "operator.h"
#include "pg.h"

/* The console's files (console/), embedded at build time by cmake/EmbedFiles.cmake. */
typedef struct iq_static_file {
    const char *path; /* "/index.html" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
} iq_static_file;
extern const iq_static_file iq_static_files[];
extern const int iq_static_files_count;

/* Threads answering requests, and PostgreSQL connections: a Test connection holds one of each
 * for as long as the mail server takes (the check's timeouts), so there are enough for a few
 * at once beside everyone else's reads. */
#define IQ_SERVE_THREADS 8
#define IQ_SERVE_POOL 8
/* CSV exports streaming at once (each holds a connection of the pool while it is sent). */
#define IQ_SERVE_EXPORTS 2

/* What every request handler shares: PostgreSQL connections (each request takes one for its
 * duration), the session policy and the settings. */
typedef struct iq_serve {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    PGconn *conns[IQ_SERVE_POOL];
    bool busy[IQ_SERVE_POOL];
    int exports; /* CSV exports being sent (under mu) */
    const char *dsn;
    int64_t connect_timeout_ms;
    iq_session_policy policy;
    bool tls; /* cookies get Secure */
    const iq_config *cfg;
    /* Test connection: the master key and TLS context, set up at start when configured */
    iq_check_setup check;
    bool check_ready;
    char *check_error; /* why not (for a 503), when !check_ready */
} iq_serve;

/* The request handler (iq_http_handler) for ctx = an iq_serve. */
void iq_serve_handle(void *ctx, const iq_http_req *req, iq_http_resp *resp);

/* A connection of the pool (connecting it when needed): NULL with *error_r when PostgreSQL
 * cannot be reached. Give it back with iq_serve_pg_release. */
PGconn *iq_serve_pg_acquire(iq_serve *s, char **error_r);
void iq_serve_pg_release(iq_serve *s, PGconn *c);

#endif
