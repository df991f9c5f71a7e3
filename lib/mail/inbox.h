/* SPDX-License-Identifier: MIT */
/* "View inbox": an account's messages newest first (date, from, subject, size), served from the
 * Redis listing <prefix>inbox:<id> (prefix "inboxq:" by default) and rebuilt from PostgreSQL on a
 * miss or after new mail. Redis holds nothing that PostgreSQL cannot rebuild; without Redis it all
 * still works. */
#ifndef IQ_INBOX_H
#define IQ_INBOX_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "pg.h"
#include "redis.h"

/* The listing (a JSON array of {id, date, from, to, subject, size, message_id}), at most limit
 * entries. redis may be NULL. *from_cache_r tells where it came from. NULL with *error_r
 * when PostgreSQL failed too. */
json_t *iq_inbox_get(PGconn *pg, iq_redis *redis, const char *prefix, int64_t account_id, int limit,
                     int cache_size, bool *from_cache_r, char **error_r);
/* Rewrites the cached listing from PostgreSQL (after a check stored mail). 0 or -1 (with
 * *error_r; a Redis failure is harmless: readers fall back to PostgreSQL). */
int iq_inbox_refresh(PGconn *pg, iq_redis *redis, const char *prefix, int64_t account_id,
                     int cache_size, char **error_r);

#endif
