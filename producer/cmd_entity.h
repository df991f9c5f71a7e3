/* SPDX-License-Identifier: MIT */
/* What 'inboxq account', 'inboxq connector' and 'inboxq credential' share: the sub-command
 * table, the messages that name the kind of object, NAME|ID lookups, and the plumbing of
 * add, edit, show, list and delete. Each command keeps its fields, texts and output. */
#ifndef IQ_PRODUCER_CMD_ENTITY_H
#define IQ_PRODUCER_CMD_ENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "account.h"
#include "commands.h"

typedef struct iq_entity iq_entity;

/* One kind of object and how its commands differ. */
struct iq_entity {
    const char *kind;     /* "account": the command's word, first in every message */
    const char *ref_text; /* one reference in usage errors: "account code or name" */
    /* NAME or ID -> id: 1 found, 0 none, -1 error. */
    int (*find)(PGconn *c, const char *ref, int64_t *id_r, char **error_r);
    iq_err (*remove)(PGconn *c, int64_t id, char **error_r); /* for delete */
    /* add and edit, for kinds with a form (NULL otherwise). parse_form fills the input struct
     * in from the options (expect_r is NULL for add) and counts the fields given: 0 parsed,
     * 1 help printed, or an exit code. */
    int (*parse_form)(iq_app *app, const iq_entity *e, const char *cmd, int argc, char **argv,
                      void *in, int *expect_r, int *count_r);
    iq_err (*create)(PGconn *c, const void *in, int64_t *id_r, char **error_r);
    iq_err (*update)(PGconn *c, int64_t id, const void *in, int expect_version, bool *changed_r,
                     char **error_r);
};

typedef struct iq_entity_sub {
    const char *name;
    iq_cmd_fn *fn;
} iq_entity_sub;

/* 'inboxq KIND SUB ...': runs the sub-command argv[1] names with argv from there on; with
 * none, help (the kind's usage) on stderr and EX_USAGE. */
int iq_entity_dispatch(iq_app *app, const iq_entity *e, const char *help, const iq_entity_sub *subs,
                       size_t nsubs, int argc, char **argv);

/* After getopt_long returned ':' or '?': the error naming the option; returns EX_USAGE. */
int iq_entity_bad_option(iq_app *app, const iq_entity *e, const char *cmd, int opt, char **argv);
/* A library error about a form field ("host: is required; ...") with the option that sets it
 * appended (" (--host)"); other errors unchanged. malloc'd. */
char *iq_cli_with_option(const char *err);
/* A failed write: "KIND CMD: err" (err freed; a rule broken names its option, see
 * iq_cli_with_option); returns the status's exit code. */
int iq_entity_store_fail(iq_app *app, const iq_entity *e, const char *cmd, iq_err st, char *err);
/* NAME|ID -> id: 0, or an exit code after the error. */
int iq_entity_find(iq_app *app, const iq_entity *e, PGconn *c, const char *cmd, const char *ref,
                   int64_t *id_r);
/* The one account resolver behind every command that takes an account (account show, edit,
 * delete, enable, disable, test; check; inbox; runs; audit --account): ref is the account's code
 * or its name (case-insensitive). 0 with *id_r set; otherwise the one message
 * "WHO: no account has the code or name 'REF'; see 'inboxq account list'" and EX_NOINPUT
 * (or the database's exit code). who is the command's words ("account test", "check"). */
int iq_cli_find_account(iq_app *app, PGconn *c, const char *who, const char *ref, int64_t *id_r);
/* The same wording for an object of a kind that is not there: "WHO: no KIND has the code or
 * name 'REF'; see 'inboxq LIST'" (ref shown on one line, at most 60 bytes); returns
 * EX_NOINPUT. */
int iq_cli_not_found(iq_app *app, const char *who, const char *kind, const char *ref,
                     const char *list);
/* Connects to PostgreSQL and looks ref up: 0, or an exit code after the error. *c_r may be
 * open either way: the caller closes it. */
int iq_entity_open(iq_app *app, const iq_entity *e, const char *cmd, const char *ref, PGconn **c_r,
                   int64_t *id_r);

/* The options of show and list: --format ALT|json and --help (usage printed). 0 parsed,
 * 1 help printed, or an exit code. */
int iq_entity_parse_format(iq_app *app, const iq_entity *e, const char *cmd, int argc, char **argv,
                           const char *alt, const char *usage, bool *json_r);
/* A JSON value, indented, on stdout. */
void iq_entity_print_json(json_t *v);

/* 'KIND add [the form]': prints the new id alone. in is the kind's zeroed input struct. */
int iq_entity_add(iq_app *app, const iq_entity *e, void *in, int argc, char **argv);
/* 'KIND edit NAME|ID [the form] [--expect-version N]': changes only the fields given. */
int iq_entity_edit(iq_app *app, const iq_entity *e, void *in, int argc, char **argv);

/* What a one-reference command does to the object (delete, enable...): writes, prints what
 * it did, and returns the status (on failure with *error_r). */
typedef iq_err iq_entity_act_fn(const iq_entity *e, PGconn *c, const char *cmd, int64_t id,
                                char **error_r);
/* 'KIND CMD NAME|ID', with --help alone (usage printed): looks the object up and acts. */
int iq_entity_act(iq_app *app, const iq_entity *e, const char *cmd, const char *usage,
                  iq_entity_act_fn *act, int argc, char **argv);
/* 'KIND delete NAME|ID' through e->remove: prints "KIND ID: deleted". */
int iq_entity_delete(iq_app *app, const iq_entity *e, const char *usage, int argc, char **argv);

#endif
