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
/* Whether an --output path names a directory (ends in '/' or is one): not a file to write. */
bool iq_output_is_dir(const char *path);
int iq_cmd_report_show(iq_app *app, int argc, char **argv);
int iq_cmd_report_get(iq_app *app, int argc, char **argv);
int iq_cmd_audit(iq_app *app, int argc, char **argv);
int iq_cmd_report(iq_app *app, int argc, char **argv);
int iq_cmd_check(iq_app *app, int argc, char **argv);
int iq_cmd_inbox(iq_app *app, int argc, char **argv);
int iq_cmd_runs(iq_app *app, int argc, char **argv);
int iq_cmd_status(iq_app *app, int argc, char **argv);
int iq_cmd_operator(iq_app *app, int argc, char **argv);
int iq_cmd_serve(iq_app *app, int argc, char **argv);

#endif
