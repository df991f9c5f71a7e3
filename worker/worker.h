/* SPDX-License-Identifier: MIT */
/* inboxq-worker internals: a Kafka group consumer feeding per-partition job slots (one thread
 * and one PostgreSQL connection each), the job handlers, and the outbox relay. */
#ifndef IQ_WORKER_H
#define IQ_WORKER_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "checkenv.h"
#include "httpd.h"
#include "metrics.h"
#include "config.h"
#include "kafka.h"
#include "redis.h"

typedef struct iq_worker iq_worker;

/* What the worker exports on /metrics (metrics.c). */
typedef struct iq_worker_metrics {
    iq_metrics *m;
    iq_counter *checks;     /* inboxq_checks_total{outcome,error_class} */
    iq_histogram *duration; /* inboxq_check_duration_seconds */
    iq_counter *messages;   /* inboxq_messages_total{action} fetched/deleted/skipped */
    iq_counter *bytes;      /* inboxq_bytes_fetched_total */
    iq_counter *jobs;       /* inboxq_jobs_total{kind,result} */
    iq_counter *reports;    /* inboxq_reports_total{outcome} done/failed */
    iq_counter *dead;       /* inboxq_jobs_dead_lettered_total{error_class} */
    iq_counter *events;     /* inboxq_events_published_total */
    iq_counter *cache;      /* inboxq_inbox_cache_writes_total{result} */
    iq_counter *pauses;     /* inboxq_consumer_pauses_total */
    /* IMAP IDLE push (push.c) */
    iq_gauge *push_connections;     /* inboxq_push_connections */
    iq_counter *push_notifications; /* inboxq_push_notifications_total */
    iq_counter *push_checks;        /* inboxq_push_checks_total */
    iq_counter *push_reconnects;    /* inboxq_push_reconnects_total */
    iq_histogram *push_latency;     /* inboxq_push_notification_to_commit_seconds */
} iq_worker_metrics;

typedef struct iq_queue_item {
    rd_kafka_message_t *msg;
    struct iq_queue_item *next;
} iq_queue_item;

/* One job slot: a thread with its own PostgreSQL connection and Redis handle. Messages of a
 * partition always go to the same slot, so one account's jobs run in order. */
typedef struct iq_slot {
    iq_worker *w;
    int index;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    iq_queue_item *head, *tail;
    int queued;
    bool busy;
    bool abandoned; /* set under lock when shutdown gave up waiting for its job */
    PGconn *pg;
    iq_check_env env; /* the shared setup with this slot's Redis handle */
} iq_slot;

struct iq_worker {
    const iq_config *cfg;
    iq_check_setup setup;
    iq_kafka_consumer *consumer;
    iq_kafka_producer *producer;
    iq_slot *slots;
    int nslots;
    atomic_int
        *stop; /* set by SIGTERM/SIGINT (lock-free: safe in a handler, read by every thread) */
    atomic_int in_flight;
    atomic_long jobs_done;
    /* the relay's wake-up: a slot stored new mail */
    pthread_mutex_t relay_lock;
    pthread_cond_t relay_cond;
    bool relay_kick;
    pthread_t relay_thread;
    char name[128];
    iq_worker_metrics metrics;
    iq_httpd *httpd;
    struct iq_push *push; /* IMAP IDLE push (push.h); NULL when push is off */
    /* health, refreshed by the relay thread every second or so */
    atomic_bool pg_ok, kafka_ok, redis_ok;
    atomic_long outbox_pending;
    atomic_long outbox_oldest_s;
};

/* Runs until *stop is set; 0 on a clean stop, an exit code otherwise. */
int iq_worker_run(const iq_config *cfg, int concurrency, const char *metrics_listen,
                  atomic_int *stop);

/* metrics.c */
void iq_worker_metrics_init(iq_worker *w);
void iq_worker_metrics_release(iq_worker *w);
void iq_worker_metrics_check(iq_worker *w, const iq_check_result *res);
iq_ready_state iq_worker_ready(void *ctx, char *reason, size_t size);

/* jobs.c: handles one message on a slot; true when done (offset may be stored), false when it
 * must not be acknowledged (shutting down before the job could finish). */
bool iq_worker_handle(iq_slot *slot, const rd_kafka_message_t *m);
/* A connection for the slot, reconnecting (with back-off, until stop) when it was lost. */
PGconn *iq_worker_pg(iq_slot *slot);

/* relay.c */
void *iq_worker_relay_main(void *arg);
void iq_worker_relay_kick(iq_worker *w);

#endif
