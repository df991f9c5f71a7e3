/* SPDX-License-Identifier: MIT */
/* The scheduler's state, shared by its parts (schedule.c: due checks and report schedules;
 * publish.c: a batch's jobs to Kafka; sweep.c: reports whose job was lost). */
#ifndef IQ_SCHED_H
#define IQ_SCHED_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "kafka.h"
#include "pg.h"
#include "config.h"
#include "error.h"
#include "metrics.h"

typedef struct iq_sched iq_sched;

/* What one tick (or a whole run) did. */
typedef struct iq_sched_stats {
    int64_t checks;      /* check jobs Kafka confirmed (their accounts moved on) */
    int64_t reports;     /* report jobs Kafka confirmed (their schedules moved on) */
    int64_t undelivered; /* jobs Kafka did not confirm: their rows stay due for the next tick */
    int64_t db_errors;   /* batches that failed in PostgreSQL (rolled back) */
    int64_t republished; /* report jobs the sweeper published again (Kafka confirmed) */
    int64_t given_up;    /* reports the sweeper marked failed after report_sweep_attempts */
} iq_sched_stats;

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
    int64_t jitter_max_ms;
    iq_backoff_policy backoff;
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

#endif
