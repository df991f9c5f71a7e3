/* SPDX-License-Identifier: MIT */
/* The scheduler's work: claim due accounts and report schedules with FOR UPDATE SKIP LOCKED,
 * publish their jobs with the idempotent producer, and move a row on only after Kafka confirmed
 * its job, so several schedulers at once never send the same due job twice. */
#ifndef IQ_SCHEDULE_H
#define IQ_SCHEDULE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "httpd.h"
#include "metrics.h"
#include "sched.h"

/* Connects to PostgreSQL and creates the producer. stop_signals are blocked by the caller
 * (before any thread starts); the scheduler sleeps in sigtimedwait() on them and finishes its
 * current batch when one arrives. NULL with *error_r and *exit_r (EX_CONFIG/EX_UNAVAILABLE). */
iq_sched *iq_sched_new(const iq_config *cfg, const sigset_t *stop_signals, int *exit_r,
                       char **error_r);
/* Flushes the producer and frees everything. */
void iq_sched_free(iq_sched **s);

/* One tick: batches of due accounts until one comes back short, then due report schedules,
 * then (at most once a second) the report sweeper. Adds to *st. 0, or -1 when something failed
 * (PostgreSQL or Kafka; logged). */
int iq_sched_tick(iq_sched *s, iq_sched_stats *st);
/* Milliseconds to sleep before the next tick began tick_start_ms (monotonic): until the tick
 * is over or the earliest future due time, whichever comes first, never more than the tick. */
int64_t iq_sched_wait_ms(iq_sched *s, int64_t tick_start_ms);
/* True once a stop signal arrived (checked without waiting). */
bool iq_sched_stopping(iq_sched *s);

/* Exports dispatch counters, the due backlog and readiness on m (owned by the caller). */
void iq_sched_set_metrics(iq_sched *s, iq_metrics *m);
/* For /readyz: PostgreSQL and Kafka answered in the last tick. */
iq_ready_state iq_sched_ready(void *ctx, char *reason, size_t size);

/* Ticks until a stop signal (or once). Returns the program's exit status: 0, or with once
 * EX_UNAVAILABLE when Kafka did not confirm every job or PostgreSQL failed. */
int iq_sched_run(iq_sched *s, bool once, iq_sched_stats *total_r);

#endif
