/* SPDX-License-Identifier: MIT */
/* The operator CLI's subcommands: each takes argv starting at its own name. */
#ifndef IQ_PRODUCER_COMMANDS_H
#define IQ_PRODUCER_COMMANDS_H

#include "app.h"

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
int iq_cmd_audit(iq_app *app, int argc, char **argv);
int iq_cmd_report(iq_app *app, int argc, char **argv);
int iq_cmd_check(iq_app *app, int argc, char **argv);
int iq_cmd_inbox(iq_app *app, int argc, char **argv);
int iq_cmd_runs(iq_app *app, int argc, char **argv);
int iq_cmd_status(iq_app *app, int argc, char **argv);

#endif
