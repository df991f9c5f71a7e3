/* SPDX-License-Identifier: MIT */
/* What a check runs with (its environment) and what it comes back with (its result): shared by
 * the check, the session and its protocol drivers, and the programs that show results. */
#ifndef IQ_RESULT_H
#define IQ_RESULT_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "config.h"
#include "error.h"
#include "tls.h"

typedef struct iq_check_env {
    const iq_config *cfg;
    SSL_CTX *tls_ctx;
    const uint8_t *master_key; /* 32 bytes: the newest key, the one that seals */
    /* every key a secret may be sealed with (keyring.h); NULL: master_key alone */
    const struct iq_keyring *keyring;
    const char *worker; /* who runs it: "cli:host:pid", "worker:host:pid/2" */
    const char *topic_new_mail;
    struct iq_redis *redis; /* inbox cache, may be NULL */
    const char *redis_prefix;
    int inbox_cache_size;
} iq_check_env;

typedef struct iq_check_result {
    const char *outcome; /* "ok", "failed" or "partial" (stored some, then failed) */
    iq_err error_class;  /* IQ_OK when ok, else a check's class (error.h) */
    char *error;         /* one line, no secrets */
    char *note;          /* what was left alone and why (skipped, not deleted) */
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

void iq_check_result_release(iq_check_result *res);

#endif
