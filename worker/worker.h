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
#include "config.h"
#include "kafka.h"
#include "redis.h"

typedef struct iq_worker iq_worker;

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
    volatile sig_atomic_t *stop; /* set by SIGTERM/SIGINT */
    atomic_int in_flight;
    atomic_long jobs_done;
    /* the relay's wake-up: a slot stored new mail */
    pthread_mutex_t relay_lock;
    pthread_cond_t relay_cond;
    bool relay_kick;
    pthread_t relay_thread;
    char name[128];
};

/* Runs until *stop is set; 0 on a clean stop, an exit code otherwise. */
int iq_worker_run(const iq_config *cfg, int concurrency, volatile sig_atomic_t *stop);

/* jobs.c: handles one message on a slot; true when done (offset may be stored), false when it
 * must not be acknowledged (shutting down before the job could finish). */
bool iq_worker_handle(iq_slot *slot, const rd_kafka_message_t *m);
/* A connection for the slot, reconnecting (with back-off, until stop) when it was lost. */
PGconn *iq_worker_pg(iq_slot *slot);

/* relay.c */
void *iq_worker_relay_main(void *arg);
void iq_worker_relay_kick(iq_worker *w);

#endif
