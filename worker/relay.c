/* SPDX-License-Identifier: MIT */
/* The transactional outbox relay: new-mail events written with their messages are published
 * to Kafka and deleted only after the broker confirmed them (the outbox is a queue: Kafka keeps
 * the events, and rows kept after sending would grow the table by one row per message forever);
 * rows stay locked (SKIP LOCKED) while in flight, so relays in several workers never publish one
 * row twice at once. Also the worker's heartbeat row. Consumers dedupe by event_id (a crash
 * between publish and delete sends an event again; none is ever lost). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libpq-fe.h>

#include "log.h"
#include "pg.h"
#include "util.h"
#include "worker.h"

#define RELAY_BATCH 500
#define RELAY_IDLE_MS 200
#define HEARTBEAT_MS 5000
#define HEALTH_MS 1000

void iq_worker_relay_kick(iq_worker *w)
{
    pthread_mutex_lock(&w->relay_lock);
    w->relay_kick = true;
    pthread_cond_signal(&w->relay_cond);
    pthread_mutex_unlock(&w->relay_lock);
}

static void wait_kick(iq_worker *w, int64_t ms)
{
    struct timespec until = iq_deadline_ts(CLOCK_REALTIME, ms);
    pthread_mutex_lock(&w->relay_lock);
    if (!w->relay_kick && !*w->stop)
        pthread_cond_timedwait(&w->relay_cond, &w->relay_lock, &until);
    w->relay_kick = false;
    pthread_mutex_unlock(&w->relay_lock);
}

/* Publishes one batch; returns rows sent, or -1 on trouble. */
static int relay_batch(iq_worker *w, PGconn *pg)
{
    char *err = NULL;
    if (iq_pg_begin(pg, &err) < 0) {
        free(err);
        return -1;
    }
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", RELAY_BATCH);
    const char *p[] = {lim};
    PGresult *r = iq_pg_query(pg,
                              "SELECT id, topic, key, payload::text FROM outbox WHERE sent_at IS "
                              "NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                              1, p, &err);
    if (!r) {
        IQ_WARN("outbox: %s", err);
        free(err);
        iq_pg_rollback(pg);
        return -1;
    }
    int n = PQntuples(r);
    iq_delivery *state = iq_xcalloc((size_t)(n ? n : 1), sizeof(*state));
    for (int i = 0; i < n; i++) {
        const char *payload = iq_pg_str(r, i, 3);
        if (iq_kafka_produce(w->producer, iq_pg_str(r, i, 1), iq_pg_str(r, i, 2), payload,
                             strlen(payload), &state[i], &err) < 0) {
            IQ_WARN("outbox: %s", err);
            free(err);
            err = NULL;
            state[i] = IQ_DELIVERY_FAILED;
        }
    }
    iq_kafka_flush(w->producer, iq_config_int(w->cfg, IQ_SET_KAFKA_TIMEOUT));
    /* ids of the confirmed rows, as a bigint[] literal */
    size_t cap = (size_t)n * 21 + 3, len = 0;
    char *ids = iq_xmalloc(cap);
    ids[len++] = '{';
    int sent = 0, pending = 0;
    for (int i = 0; i < n; i++) {
        if (state[i] == IQ_DELIVERY_PENDING)
            pending++;
        if (state[i] != IQ_DELIVERY_OK)
            continue;
        len += (size_t)snprintf(ids + len, cap - len, "%s%s", sent ? "," : "", iq_pg_str(r, i, 0));
        sent++;
    }
    ids[len++] = '}';
    ids[len] = '\0';
    PQclear(r);
    const char *q[] = {ids};
    int rc = sent;
    if (sent > 0 &&
        iq_pg_exec(pg, "DELETE FROM outbox WHERE id = ANY($1::bigint[])", 1, q, &err) < 0) {
        IQ_WARN("outbox: %s", err);
        free(err);
        err = NULL;
        rc = -1;
    }
    if (rc >= 0 && iq_pg_commit(pg, &err) < 0) {
        IQ_WARN("outbox: %s", err);
        free(err);
        rc = -1;
    }
    if (rc < 0)
        iq_pg_rollback(pg);
    free(ids);
    if (rc > 0)
        iq_counter_add(w->metrics.events, NULL, rc);
    if (pending == 0)
        free(state);
    /* else the flush timed out and delivery callbacks may still write into state: it is kept
       (a rare, bounded leak) rather than freed under them */
    if (rc >= 0 && sent < n)
        rc = -1; /* some failed: back off before retrying them */
    return rc;
}

/* Health for /readyz and the outbox gauges, refreshed every HEALTH_MS. */
static void health(iq_worker *w, PGconn *pg, iq_redis *redis)
{
    PGresult *r = pg ? iq_pg_query(pg,
                                   "SELECT count(*), coalesce(extract(epoch FROM now() - "
                                   "min(created_at))::bigint, 0) FROM outbox WHERE sent_at IS NULL",
                                   0, NULL, NULL)
                     : NULL;
    atomic_store(&w->pg_ok, r != NULL);
    if (r) {
        atomic_store(&w->outbox_pending, (long)iq_pg_i64(r, 0, 0));
        atomic_store(&w->outbox_oldest_s, (long)iq_pg_i64(r, 0, 1));
        PQclear(r);
    }
    char *err = NULL;
    atomic_store(&w->kafka_ok, iq_kafka_producer_ping(w->producer, 1000, &err) == 0);
    free(err);
    err = NULL;
    atomic_store(&w->redis_ok, redis && iq_redis_ping(redis, &err) == 0);
    free(err);
}

/* Upserts this process's row. The first beat also resets started_at: a process that reuses the
 * name of one that died (same host and pid, as a restarted container) is a new process, and the
 * scheduler's sweeper does not count the dead one's report claims (older than started_at) as its.
 * true once a beat went through. */
static bool heartbeat(iq_worker *w, PGconn *pg, bool first)
{
    char conc[16], inflight[16], done[24];
    snprintf(conc, sizeof(conc), "%d", w->nslots);
    snprintf(inflight, sizeof(inflight), "%d", atomic_load(&w->in_flight));
    snprintf(done, sizeof(done), "%ld", atomic_load(&w->jobs_done));
    const char *p[] = {w->name, conc, inflight, done, first ? "true" : "false"};
    char *err = NULL;
    if (iq_pg_exec(pg,
                   "INSERT INTO workers (name, concurrency, jobs_in_flight, jobs_done) VALUES ($1, "
                   "$2, $3, $4) ON CONFLICT (name) DO UPDATE SET heartbeat_at = now(), "
                   "concurrency = $2, jobs_in_flight = $3, jobs_done = $4, started_at = CASE WHEN "
                   "$5::boolean THEN now() ELSE workers.started_at END",
                   5, p, &err) < 0) {
        IQ_DEBUG("heartbeat: %s", err);
        free(err);
        return false;
    }
    return true;
}

void *iq_worker_relay_main(void *arg)
{
    iq_worker *w = arg;
    PGconn *pg = NULL;
    int64_t next_beat = 0, next_health = 0, backoff = 0;
    bool beaten = false; /* a heartbeat went through (started_at is this process's) */
    iq_redis *redis = NULL;
    char *rerr = NULL;
    if (*iq_config_str(w->cfg, IQ_SET_REDIS_URL))
        redis = iq_redis_new(iq_config_str(w->cfg, IQ_SET_REDIS_URL),
                             iq_config_int(w->cfg, IQ_SET_REDIS_TIMEOUT), &rerr);
    free(rerr);
    for (;;) {
        bool stopping = *w->stop;
        if (!stopping && iq_now_mono_ms() >= next_health) {
            health(w, pg && PQstatus(pg) == CONNECTION_OK ? pg : NULL, redis);
            next_health = iq_now_mono_ms() + HEALTH_MS;
        }
        if (!pg || PQstatus(pg) != CONNECTION_OK) {
            iq_pg_close(&pg);
            char *err = NULL;
            if (iq_pg_connect(iq_config_str(w->cfg, IQ_SET_PG_DSN),
                              iq_config_int(w->cfg, IQ_SET_PG_CONNECT_TIMEOUT), &pg,
                              &err) != IQ_PG_OK) {
                IQ_WARN("outbox relay: %s", err);
                free(err);
                atomic_store(&w->pg_ok, false);
                if (stopping)
                    break;
                wait_kick(w, 1000);
                continue;
            }
        }
        if (iq_now_mono_ms() >= next_beat) {
            beaten = heartbeat(w, pg, !beaten) || beaten;
            next_beat = iq_now_mono_ms() + HEARTBEAT_MS;
        }
        int sent = relay_batch(w, pg);
        if (stopping && sent <= 0)
            break; /* a last pass after the slots stopped, then out */
        if (sent == RELAY_BATCH)
            continue;
        backoff = sent < 0 ? (backoff ? (backoff * 2 > 5000 ? 5000 : backoff * 2) : 250) : 0;
        wait_kick(w, backoff ? backoff : RELAY_IDLE_MS);
    }
    if (pg) {
        const char *p[] = {w->name};
        iq_pg_exec(pg, "DELETE FROM workers WHERE name = $1", 1, p, NULL);
    }
    iq_pg_close(&pg);
    iq_redis_free(&redis);
    return NULL;
}
