/* SPDX-License-Identifier: MIT */
/* One check of one mailbox, exactly as a worker runs it: load the account and its credential,
 * connect (direct or through a Network Connector), TLS as configured, log in, fetch what is
 * new, store it in PostgreSQL with its new-mail events, delete on the server only after the
 * commit when "keep copy" is off, and record the run. Nothing lost, nothing stored twice. */
#ifndef IQ_CHECK_H
#define IQ_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <openssl/ssl.h>

#include "config.h"
#include "tls.h"

typedef struct iq_check_env {
    const iq_config *cfg;
    SSL_CTX *tls_ctx;
    const uint8_t *master_key; /* 32 bytes */
    const char *worker;        /* who runs it: "cli:host:pid", "worker:host:pid/2" */
    const char *topic_new_mail;
    struct iq_redis *redis; /* inbox cache, may be NULL */
    const char *redis_prefix;
    int inbox_cache_size;
} iq_check_env;

typedef struct iq_check_result {
    const char *outcome;     /* "ok", "failed" or "partial" (stored some, then failed) */
    const char *error_class; /* NULL when ok; dns, connect, proxy, tls_handshake, tls_verify,
                                starttls_policy, auth, protocol, timeout, size_limit, storage,
                                config, not_found */
    char *error;             /* one line, no secrets */
    char *note;              /* what was left alone and why (skipped, not deleted) */
    int messages_new;
    int messages_deleted;
    int messages_skipped;
    uint64_t bytes;
    bool tls_used;
    iq_tls_info tls;
    int64_t duration_ms;
    bool already_done; /* the job id had finished before: nothing was done again */
    int cache_write;   /* inbox listing in Redis: 1 rewritten, -1 failed, 0 not needed */
} iq_check_result;

/* Runs the check for job_id (a UUID; the run record is unique on it, so a redelivered job
 * that already finished does nothing). Returns 0 when the check ran to the end and succeeded,
 * -1 otherwise (res says why). res must be released. */
int iq_check_run(PGconn *c, const iq_check_env *env, int64_t account_id, const char *job_id,
                 iq_check_result *res);
/* The same, recording who asked for it ("scheduler", "cli:alice") in the run. */
int iq_check_run_as(PGconn *c, const iq_check_env *env, int64_t account_id, const char *job_id,
                    const char *requested_by, iq_check_result *res);
void iq_check_result_release(iq_check_result *res);
/* Error classes after which the same job can succeed later (network, timeouts, storage). */
bool iq_check_error_is_transient(const char *error_class);

#endif
