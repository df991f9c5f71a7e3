/* SPDX-License-Identifier: MIT */
/* Redis through hiredis, for caches only: connect and command timeouts, and when Redis is down
 * every call fails fast (with a reconnect back-off) so callers fall back to PostgreSQL. */
#ifndef IQ_REDIS_H
#define IQ_REDIS_H

#include <stddef.h>
#include <stdint.h>

typedef struct iq_redis iq_redis;

/* url: redis://[:password@]host[:port][/db]. NULL on a malformed URL (*error_r set);
 * connecting is lazy. An empty url gives a handle whose every call fails (cache disabled). */
iq_redis *iq_redis_new(const char *url, int64_t timeout_ms, char **error_r);
void iq_redis_free(iq_redis **r);
int iq_redis_ping(iq_redis *r, char **error_r);
/* Sets key to value, with a TTL in seconds when ttl_s > 0. 0 or -1. */
int iq_redis_set(iq_redis *r, const char *key, const void *value, size_t len, int64_t ttl_s,
                 char **error_r);
/* 1 found (*value_r malloc'd, NUL-terminated), 0 missing, -1 error. */
int iq_redis_get(iq_redis *r, const char *key, char **value_r, size_t *len_r, char **error_r);
int iq_redis_del(iq_redis *r, const char *key, char **error_r);

#endif
