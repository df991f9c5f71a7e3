/* SPDX-License-Identifier: MIT */
/* hiredis wrapper with timeouts, lazy reconnect and fast failure while Redis is down. */
#include "redis.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "util.h"

/* After a failure, do not try to reconnect for this long: a down cache costs nothing. */
#define RECONNECT_BACKOFF_MS 1000

struct iq_redis {
    char *host;
    int port;
    char *password;
    int db;
    int64_t timeout_ms;
    redisContext *ctx;
    int64_t retry_after;
};

static int parse_url(iq_redis *r, const char *url, char **error_r)
{
    const char *p = url;
    if (!iq_str_has_prefix(p, "redis://")) {
        *error_r = iq_xstrdup("setting redis_url (INBOXQ_REDIS_URL) must start with redis://, "
                              "e.g. redis://127.0.0.1:6379");
        return -1;
    }
    p += strlen("redis://");
    const char *at = strchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon)
            r->password = iq_xstrndup(colon + 1, (size_t)(at - colon - 1));
        p = at + 1;
    }
    size_t hlen = strcspn(p, ":/");
    r->host = hlen ? iq_xstrndup(p, hlen) : iq_xstrdup("127.0.0.1");
    p += hlen;
    r->port = 6379;
    if (*p == ':') {
        p++;
        size_t plen = strcspn(p, "/");
        char port[8];
        int64_t v;
        if (plen == 0 || plen >= sizeof(port)) {
            *error_r = iq_xstrdup("setting redis_url (INBOXQ_REDIS_URL) has a bad port; use "
                                  "redis://HOST:PORT with PORT from 1 to 65535");
            return -1;
        }
        memcpy(port, p, plen);
        port[plen] = '\0';
        if (iq_parse_i64(port, 1, 65535, &v) < 0) {
            *error_r = iq_xstrdup("setting redis_url (INBOXQ_REDIS_URL) has a bad port; use "
                                  "redis://HOST:PORT with PORT from 1 to 65535");
            return -1;
        }
        r->port = (int)v;
        p += plen;
    }
    if (*p == '/' && p[1]) {
        int64_t db;
        if (iq_parse_i64(p + 1, 0, 1000000, &db) < 0) {
            *error_r = iq_xstrdup("setting redis_url (INBOXQ_REDIS_URL) has a bad database "
                                  "number after '/'; use e.g. redis://127.0.0.1:6379/0");
            return -1;
        }
        r->db = (int)db;
    }
    return 0;
}

iq_redis *iq_redis_new(const char *url, int64_t timeout_ms, char **error_r)
{
    iq_redis *r = iq_xcalloc(1, sizeof(*r));
    r->timeout_ms = timeout_ms;
    if (url && *url && parse_url(r, url, error_r) < 0) {
        iq_redis_free(&r);
        return NULL;
    }
    return r;
}

void iq_redis_free(iq_redis **rp)
{
    iq_redis *r = *rp;
    if (!r)
        return;
    if (r->ctx)
        redisFree(r->ctx);
    free(r->host);
    iq_secret_free(&r->password);
    free(r);
    *rp = NULL;
}

static void drop(iq_redis *r)
{
    if (r->ctx)
        redisFree(r->ctx);
    r->ctx = NULL;
    r->retry_after = iq_now_mono_ms() + RECONNECT_BACKOFF_MS;
}

static redisReply *command(iq_redis *r, char **error_r, int argc, const char **argv,
                           const size_t *lens);

static int ensure(iq_redis *r, char **error_r)
{
    if (r->ctx)
        return 0;
    if (!r->host) {
        *error_r = iq_xstrdup("Redis cache disabled (redis_url is empty)");
        return -1;
    }
    if (iq_now_mono_ms() < r->retry_after) {
        *error_r = iq_xasprintf("Redis at %s:%d unavailable (retrying shortly)", r->host, r->port);
        return -1;
    }
    struct timeval tv = {(time_t)(r->timeout_ms / 1000),
                         (suseconds_t)(r->timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(r->host, r->port, tv);
    if (!c || c->err) {
        *error_r = iq_xasprintf("Redis at %s:%d unavailable: %s; start it or fix redis_url "
                                "(INBOXQ_REDIS_URL)",
                                r->host, r->port, c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        r->retry_after = iq_now_mono_ms() + RECONNECT_BACKOFF_MS;
        return -1;
    }
    redisSetTimeout(c, tv);
    r->ctx = c;
    if (r->password) {
        const char *argv[] = {"AUTH", r->password};
        size_t lens[] = {4, strlen(r->password)};
        redisReply *rep = command(r, error_r, 2, argv, lens);
        if (!rep)
            return -1;
        freeReplyObject(rep);
    }
    if (r->db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", r->db);
        const char *argv[] = {"SELECT", db};
        size_t lens[] = {6, strlen(db)};
        redisReply *rep = command(r, error_r, 2, argv, lens);
        if (!rep)
            return -1;
        freeReplyObject(rep);
    }
    return 0;
}

/* Runs a command on the open context; NULL with *error_r on any failure. */
static redisReply *command(iq_redis *r, char **error_r, int argc, const char **argv,
                           const size_t *lens)
{
    redisReply *rep = redisCommandArgv(r->ctx, argc, argv, lens);
    if (!rep) {
        *error_r = iq_xasprintf("Redis at %s:%d: %s", r->host, r->port,
                                r->ctx->errstr[0] ? r->ctx->errstr : "connection lost");
        drop(r);
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        *error_r =
            iq_xasprintf("Redis at %s:%d refused %s: %s", r->host, r->port, argv[0], rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

static redisReply *run(iq_redis *r, char **error_r, int argc, const char **argv, const size_t *lens)
{
    if (ensure(r, error_r) < 0)
        return NULL;
    return command(r, error_r, argc, argv, lens);
}

int iq_redis_ping(iq_redis *r, char **error_r)
{
    const char *argv[] = {"PING"};
    size_t lens[] = {4};
    redisReply *rep = run(r, error_r, 1, argv, lens);
    if (!rep)
        return -1;
    freeReplyObject(rep);
    return 0;
}

int iq_redis_set(iq_redis *r, const char *key, const void *value, size_t len, int64_t ttl_s,
                 char **error_r)
{
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%lld", (long long)ttl_s);
    const char *argv[] = {"SET", key, value, "EX", ttl};
    size_t lens[] = {3, strlen(key), len, 2, strlen(ttl)};
    redisReply *rep = run(r, error_r, ttl_s > 0 ? 5 : 3, argv, lens);
    if (!rep)
        return -1;
    freeReplyObject(rep);
    return 0;
}

int iq_redis_get(iq_redis *r, const char *key, char **value_r, size_t *len_r, char **error_r)
{
    const char *argv[] = {"GET", key};
    size_t lens[] = {3, strlen(key)};
    redisReply *rep = run(r, error_r, 2, argv, lens);
    if (!rep)
        return -1;
    int found = 0;
    if (rep->type == REDIS_REPLY_STRING) {
        *value_r = iq_xmalloc(rep->len + 1);
        memcpy(*value_r, rep->str, rep->len);
        (*value_r)[rep->len] = '\0';
        if (len_r)
            *len_r = rep->len;
        found = 1;
    }
    freeReplyObject(rep);
    return found;
}

int iq_redis_del(iq_redis *r, const char *key, char **error_r)
{
    const char *argv[] = {"DEL", key};
    size_t lens[] = {3, strlen(key)};
    redisReply *rep = run(r, error_r, 2, argv, lens);
    if (!rep)
        return -1;
    freeReplyObject(rep);
    return 0;
}
