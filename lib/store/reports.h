/* SPDX-License-Identifier: MIT */
/* The reports table's lifecycle, every statement on it in one place: a report is created
 * pending (by the CLI or the scheduler) before its job is published; a worker claims it
 * (running, with a claim token of its job) and finishes it (done or failed) only while the
 * claim is still its own; the scheduler's sweeper publishes the job of a report that stayed
 * pending or whose worker stopped, and after report_sweep_attempts marks it failed. */
#ifndef IQ_REPORTS_H
#define IQ_REPORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pg.h"

/* A new pending report. schedule_id <= 0: none; filters_json: the filters object as JSON text;
 * requested_by: who asked ("cli:alice", "scheduler"). 0 with *id_r, or -1 with *error_r. */
int iq_reports_create(PGconn *c, const char *job_id, int64_t schedule_id, const char *format,
                      const char *lang, const char *filters_json, const char *requested_by,
                      int64_t *id_r, char **error_r);
/* Removes a report still pending whose job was never published. 0 or -1. */
int iq_reports_discard(PGconn *c, int64_t id, char **error_r);
/* Marks a report failed with why (its job could not be published, or the sweeper gave up):
 * finished now, no claim. 0 or -1. */
int iq_reports_fail(PGconn *c, int64_t id, const char *why, char **error_r);

/* Claims the report for the job: only a pending report (or one this claim already holds, when
 * a worker retries after losing the connection) can be claimed, so of two jobs of one report
 * exactly one renders it, and never two at once. 1 claimed (with the schedule's output
 * directory and name in *dir_r and *schedule_r, malloc'd, NULL when none), 0 not claimable,
 * -1 error. */
int iq_reports_claim(PGconn *c, int64_t id, const char *job_id, const char *worker,
                     const char *claim, char **dir_r, char **schedule_r, char **error_r);
/* Stores the outcome (status "done" or "failed", the output bytes, rows, the file written)
 * while the row still carries the claim. 1 stored, 0 the claim was taken over (the sweeper
 * thought the worker gone and published the job again), -1 error. */
int iq_reports_finish(PGconn *c, int64_t id, const char *claim, const char *status,
                      const char *error, const void *data, size_t len, int64_t rows,
                      const char *path);

/* The report's status ("pending", "running", "done", "failed") and error text ("" when none),
 * malloc'd. 1 found, 0 no such report, -1 error. */
int iq_reports_status(PGconn *c, int64_t id, char **status_r, char **error_text_r, char **error_r);
/* The output of a done report as a binary result (one row, one bytea column), or NULL when it
 * has none (not rendered yet, failed, or no such report). PQclear it. */
PGresult *iq_reports_output(PGconn *c, int64_t id);
/* One report for display, or NULL with *error_r: status, format, lang, filters, rows, bytes,
 * error, requested_by, created, finished, written to, job id (text; "" for none). */
PGresult *iq_reports_show(PGconn *c, int64_t id, char **error_r);
#define IQ_REPORTS_SHOW_NCOLS 12

/* Reports the sweeper takes over, locked (FOR NO KEY UPDATE SKIP LOCKED) in the caller's
 * transaction: pending or running after_ms since created, republished or claimed, and, when
 * running, whose worker stopped heartbeating; at most limit, oldest first. Columns: */
enum {
    IQ_STALE_ID,
    IQ_STALE_JOB_ID,
    IQ_STALE_FORMAT,
    IQ_STALE_LANG,
    IQ_STALE_FILTERS,
    IQ_STALE_SCHEDULE_ID,
    IQ_STALE_CREATED_MS,
    IQ_STALE_REQUESTED_BY,
    IQ_STALE_REPUBLISHED,
    IQ_STALE_STATUS,
    IQ_STALE_CLAIMED_BY,
};
PGresult *iq_reports_stale(PGconn *c, int64_t after_ms, int64_t limit, char **error_r);
/* A stale report's job was published again: back to pending, the gone worker's claim void
 * (claimed_by stays to say who it was), job_id set when it had none. 0 or -1. */
int iq_reports_republished(PGconn *c, int64_t id, const char *job_id, char **error_r);

/* A worker whose heartbeat (every 5 s) is older is gone ('inboxq status' counts it stale). */
#define IQ_WORKER_GONE_SQL "30 seconds"

#endif
