/* SPDX-License-Identifier: MIT */
/* Inbox listings: PostgreSQL is the truth, Redis the cache. */
#include "inbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#include "log.h"
#include "pg.h"
#include "util.h"

/* Rebuilt on every new mail anyway; the TTL bounds how long a listing can stay stale when a
 * rewrite failed (Redis briefly unreachable right after a check stored mail). */
#define CACHE_TTL_S 3600

static void cache_key(const char *prefix, int64_t account_id, char *buf, size_t size)
{
    snprintf(buf, size, "%sinbox:%lld", prefix ? prefix : "inboxq:", (long long)account_id);
}

static json_t *from_pg(PGconn *pg, int64_t account_id, int limit, char **error_r)
{
    char acct[24], lim[16];
    snprintf(acct, sizeof(acct), "%lld", (long long)account_id);
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *p[] = {acct, lim};
    PGresult *r = iq_pg_query(
        pg,
        "SELECT id, " IQ_SQL_TS(
            "sent_at") ", "
                       "from_addr, to_addr, subject, size, message_id FROM messages WHERE "
                       "account_id = $1 "
                       "ORDER BY sent_at DESC NULLS LAST, id DESC LIMIT $2", /* messages_listing */
        2, p, error_r);
    if (!r)
        return NULL;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(iq_pg_i64(r, i, 0)));
        static const char *const names[] = {NULL, "date", "from", "to", "subject"};
        for (int c = 1; c <= 4; c++) {
            const char *v = iq_pg_str(r, i, c);
            json_object_set_new(o, names[c], v ? json_string(v) : json_null());
        }
        json_object_set_new(o, "size", json_integer(iq_pg_i64(r, i, 5)));
        const char *mid = iq_pg_str(r, i, 6);
        json_object_set_new(o, "message_id", mid ? json_string(mid) : json_null());
        json_array_append_new(arr, o);
    }
    PQclear(r);
    return arr;
}

static int store_cache(iq_redis *redis, const char *prefix, int64_t account_id, json_t *listing,
                       char **error_r)
{
    char key[256];
    cache_key(prefix, account_id, key, sizeof(key));
    char *s = json_dumps(listing, JSON_COMPACT);
    int rc = s ? iq_redis_set(redis, key, s, strlen(s), CACHE_TTL_S, error_r) : -1;
    free(s);
    return rc;
}

json_t *iq_inbox_get(PGconn *pg, iq_redis *redis, const char *prefix, int64_t account_id, int limit,
                     int cache_size, bool *from_cache_r, char **error_r)
{
    *from_cache_r = false;
    if (redis && limit <= cache_size) {
        char key[256], *val = NULL, *err = NULL;
        size_t len = 0;
        cache_key(prefix, account_id, key, sizeof(key));
        int found = iq_redis_get(redis, key, &val, &len, &err);
        if (found == 1) {
            json_t *cached = json_loadb(val, len, 0, NULL);
            free(val);
            if (json_is_array(cached)) {
                while (json_array_size(cached) > (size_t)limit)
                    json_array_remove(cached, json_array_size(cached) - 1);
                *from_cache_r = true;
                return cached;
            }
            json_decref(cached);
        } else if (found < 0) {
            IQ_DEBUG("inbox cache unavailable, reading PostgreSQL: %s", err);
            free(err);
        }
    }
    int want = limit > cache_size ? limit : cache_size;
    json_t *all = from_pg(pg, account_id, want, error_r);
    if (!all)
        return NULL;
    char *err = NULL;
    if (redis && store_cache(redis, prefix, account_id, all, &err) < 0) {
        IQ_DEBUG("inbox cache not written: %s", err);
        free(err);
    }
    while (json_array_size(all) > (size_t)limit)
        json_array_remove(all, json_array_size(all) - 1);
    return all;
}

int iq_inbox_refresh(PGconn *pg, iq_redis *redis, const char *prefix, int64_t account_id,
                     int cache_size, char **error_r)
{
    if (!redis)
        return 0;
    json_t *all = from_pg(pg, account_id, cache_size, error_r);
    if (!all)
        return -1;
    int rc = store_cache(redis, prefix, account_id, all, error_r);
    json_decref(all);
    if (rc < 0) {
        /* never leave the old listing behind: without it, readers refill from PostgreSQL */
        char key[256], *err = NULL;
        cache_key(prefix, account_id, key, sizeof(key));
        if (iq_redis_del(redis, key, &err) < 0)
            free(err);
    }
    return rc;
}
