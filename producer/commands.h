/* SPDX-License-Identifier: MIT */
/* The operator CLI's subcommands: each takes argv starting at its own name. */
#ifndef IQ_PRODUCER_COMMANDS_H
#define IQ_PRODUCER_COMMANDS_H

#include <jansson.h>

#include "account.h"
#include "app.h"
#include "messages.h"

typedef int iq_cmd_fn(iq_app *app, int argc, char **argv);

typedef struct iq_command {
    const char *name;
    iq_cmd_fn *fn;
    const char *summary;
} iq_command;

int iq_cmd_migrate(iq_app *app, int argc, char **argv);
int iq_cmd_config(iq_app *app, int argc, char **argv);
int iq_cmd_keygen(iq_app *app, int argc, char **argv);
int iq_cmd_credential(iq_app *app, int argc, char **argv);
int iq_cmd_connector(iq_app *app, int argc, char **argv);
int iq_cmd_account(iq_app *app, int argc, char **argv);
/* 'account test' and 'account list' live in their own files. */
int iq_cmd_account_test(iq_app *app, int argc, char **argv);
int iq_cmd_account_list(iq_app *app, int argc, char **argv);
/* The steps of a connection test (resolve host ... mailbox) and each one's state ("ok",
 * "FAILED", "not reached", "skipped") for a test of a that ended with error_class (IQ_OK:
 * every step passed), as a JSON array of {step, state}: `account test` and `inboxq serve`. */
json_t *iq_account_test_steps_json(const iq_account *a, iq_err error_class);
/* Report jobs for the workers (cmd_report_job.c). */
int iq_report_job_submit(iq_app *app, const char *format, const char *lang,
                         const iq_report_filters *f, bool wait, int64_t timeout_ms,
                         const char *output);
/* Creates a pending report requested by `by` and publishes its job on the report topic.
 * IQ_OK with *id_r and job_id; IQ_ERR_INVALID (bad filters) or IQ_ERR_UNAVAILABLE (PostgreSQL
 * or Kafka; a report created but not queued is marked failed) with *error_r. */
iq_err iq_report_job_queue(PGconn *c, const iq_config *cfg, const char *format, const char *lang,
                           const iq_report_filters *f, const char *by, int64_t *id_r,
                           char job_id[37], char **error_r);
/* Whether an --output path names a directory (ends in '/' or is one): not a file to write. */
bool iq_output_is_dir(const char *path);
int iq_cmd_report_show(iq_app *app, int argc, char **argv);
int iq_cmd_report_get(iq_app *app, int argc, char **argv);
/* Report schedules (cmd_report.c), for `report schedule` and `inboxq serve`. */
#define IQ_SCHEDULE_NAME_MAX 200
#define IQ_SCHEDULE_OUTPUT_DIR_MAX 4096
/* 1..max bytes of valid UTF-8 without control characters. */
bool iq_report_schedule_text_ok(const char *s, size_t max);
/* Adds a schedule (cron_text in UTC, its next run after now_ms) and its audit row in one
 * transaction. IQ_OK with *id_r; IQ_ERR_INVALID with *error_r naming the field (a bad cron,
 * a name taken); else IQ_ERR_UNAVAILABLE / IQ_ERR_FAILED. */
iq_err iq_report_schedule_insert(PGconn *c, const char *name, const char *cron_text,
                                 const char *format, const char *lang, json_t *filters,
                                 const char *output_dir, int64_t now_ms, int64_t *id_r,
                                 char **error_r);
/* Deletes the schedule ref names (an id, else a name unless id_only) with its audit row.
 * IQ_OK with *id_r and *name_r (malloc'd); IQ_ERR_NOT_FOUND; else a database error. */
iq_err iq_report_schedule_delete(PGconn *c, const char *ref, bool id_only, int64_t *id_r,
                                 char **name_r, char **error_r);
/* Every schedule as a JSON array of {id, name, cron, format, lang, filters, output_dir,
 * active, next_run_at, last_run_at} (RFC 3339 UTC), or NULL with *error_r. */
json_t *iq_report_schedule_list_json(PGconn *c, char **error_r);
/* What `inboxq status --format json` shows: accounts, failures, overdue, outbox, workers and
 * the Kafka lag (kafka.available false with the reason when Kafka cannot be reached), or NULL
 * with *error_r when PostgreSQL fails (cmd_status.c). */
json_t *iq_status_json(PGconn *c, const iq_config *cfg, char **error_r);
int iq_cmd_audit(iq_app *app, int argc, char **argv);
int iq_cmd_report(iq_app *app, int argc, char **argv);
int iq_cmd_check(iq_app *app, int argc, char **argv);
int iq_cmd_inbox(iq_app *app, int argc, char **argv);
int iq_cmd_runs(iq_app *app, int argc, char **argv);
int iq_cmd_status(iq_app *app, int argc, char **argv);
int iq_cmd_operator(iq_app *app, int argc, char **argv);
int iq_cmd_serve(iq_app *app, int argc, char **argv);

#endif
