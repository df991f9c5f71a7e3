/* SPDX-License-Identifier: MIT */
/* The scheduler's state, shared by its parts (schedule.c: due checks and report schedules;
 * sweep.c: reports whose job was lost). Not for use outside scheduler/. */
#ifndef IQ_SCHEDULE_INT_H
#define IQ_SCHEDULE_INT_H

#include <stdatomic.h>

#include <jansson.h>

#include "kafka.h"
#include "pg.h"
#include "schedule.h"

/* Room for librdkafka to report a message it gave up on after message.timeout.ms. */
#define FLUSH_SLACK_MS 2000

/* One job of a batch. Kafka writes state from its delivery report. */
typedef struct job_slot {
    int64_t id;        /* account id, schedule id, or (sweeper) report id */
    int64_t report_id; /* reports.id of a report job (0: no row) */
    int64_t delay_ms;  /* check job: from now to the account's next check */
    int64_t next_ms;   /* report job: the schedule's next run (Unix ms) */
    bool bad;          /* report schedule that cannot be dispatched (bad cron or filters) */
    iq_delivery state;
} job_slot;

struct iq_sched {
    const iq_config *cfg;
    sigset_t stop_set;
    bool stop;
    PGconn *pg;   /* the claiming transaction: holds the row locks through produce + flush */
    PGconn *side; /* autocommit: reports rows, committed before their jobs are published */
    bool pg_down_logged;
    iq_kafka_producer *producer;
    const char *topic_check, *topic_report;
    int64_t tick_ms, batch, kafka_timeout_ms;
    int64_t jitter_max_ms, backoff_max_ms, auth_backoff_ms;
    int64_t sweep_after_ms, sweep_attempts; /* report sweeper (sweep.c) */
    int64_t next_sweep_ms;                  /* monotonic: when the sweeper runs next */
    uint64_t rng;
    bool warm_check, warm_report; /* a topic's metadata was asked for (see warm_up) */
    /* Slot arrays whose deliveries were still unconfirmed when a flush gave up: librdkafka may
     * still write to them, so they are freed only after the producer is destroyed. */
    job_slot **parked;
    size_t n_parked;
    /* metrics (optional) and the health /readyz reports */
    iq_counter *m_dispatched, *m_undelivered, *m_db_errors, *m_republished, *m_given_up;
    iq_gauge *m_backlog;
    iq_histogram *m_tick;
    atomic_bool pg_ok, kafka_ok;
};

/* Queues job on topic with key_id (decimal) as its key; slot->state gets the delivery report
 * (IQ_DELIVERY_FAILED at once when it could not even be queued). */
void iq_sched_queue(iq_sched *s, const char *topic, int64_t key_id, json_t *job, job_slot *slot);
/* Waits for every delivery report of the batch. false when Kafka did not settle them all even
 * after its own message timeout: jobs is then parked (the caller must not free it). */
bool iq_sched_settle(iq_sched *s, job_slot *jobs);
/* A batch's database step failed with err (freed here): logs it under what, rolls the batch's
 * transaction back and counts it in st->db_errors. published: jobs of the batch Kafka already
 * has (they will be sent again). Returns -1. */
int iq_sched_batch_failed(iq_sched *s, iq_sched_stats *st, const char *what, char *err,
                          int published);

/* One batch of the report sweeper (sweep.c): reports still pending (or running on a worker that
 * stopped heartbeating) report_sweep_after after their job was last published get their job
 * published again, up to report_sweep_attempts times; then they are marked failed. Adds to
 * st->republished, st->given_up, st->undelivered and st->db_errors. *more_r: the batch was full
 * and all went well. 0, or -1 when something failed (logged). */
int iq_sched_sweep_batch(iq_sched *s, iq_sched_stats *st, bool *more_r);

#endif
