/* SPDX-License-Identifier: MIT */
/* The plumbing 'inboxq account', 'connector' and 'credential' share (see cmd_entity.h). */
#include "cmd_entity.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "pg.h"

int iq_entity_dispatch(iq_app *app, const iq_entity *e, const char *help, const iq_entity_sub *subs,
                       size_t nsubs, int argc, char **argv)
{
    if (argc < 2) {
        fputs(help, stderr);
        return EX_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(help, stdout);
        return 0;
    }
    for (size_t i = 0; i < nsubs; i++) {
        if (strcmp(argv[1], subs[i].name) == 0) {
            optind = 0; /* each sub-command runs getopt from scratch */
            return subs[i].fn(app, argc - 1, argv + 1);
        }
    }
    iq_app_error(app, "%s: unknown command '%s'; run 'inboxq %s --help'", e->kind, argv[1],
                 e->kind);
    return EX_USAGE;
}

int iq_entity_bad_option(iq_app *app, const iq_entity *e, const char *cmd, int opt, char **argv)
{
    if (opt == ':')
        iq_app_error(app, "%s %s: %s needs a value; run 'inboxq %s %s --help'", e->kind, cmd,
                     argv[optind - 1], e->kind, cmd);
    else
        iq_app_error(app, "%s %s: unknown option '%s'; run 'inboxq %s %s --help'", e->kind, cmd,
                     argv[optind - 1], e->kind, cmd);
    return EX_USAGE;
}

/* The library names the field an error is about ("host: is required; ..."); the CLI adds the
 * option that sets it. */
static const struct {
    const char *field;
    const char *option;
} field_options[] = {
    {"name", "--name"},
    {"host", "--host"},
    {"port", "--port"},
    {"protocol", "--protocol"},
    {"secure", "--secure"},
    {"secure-type", "--secure-type"},
    {"ignore-certificate", "--ignore-certificate"},
    {"keep-copy", "--keep-copy"},
    {"auto-check", "--auto-check"},
    {"active", "--active"},
    {"use-connector", "--use-connector"},
    {"connector", "--connector"},
    {"credential", "--credential"},
    {"folder", "--folder"},
    {"check-interval", "--check-interval"},
    {"apop", "--apop"},
    {"push", "--push"},
    {"auth", "--auth"},
    {"type", "--type"},
    {"username", "--username"},
    {"secret", "--password-stdin or --password-file"},
};

char *iq_cli_with_option(const char *err)
{
    for (size_t i = 0; err && i < IQ_ARRAY_LEN(field_options); i++) {
        size_t n = strlen(field_options[i].field);
        if (strncmp(err, field_options[i].field, n) == 0 && err[n] == ':' && err[n + 1] == ' ')
            return iq_xasprintf("%s (%s)", err, field_options[i].option);
    }
    return iq_xstrdup(err ? err : "failed");
}

int iq_entity_store_fail(iq_app *app, const iq_entity *e, const char *cmd, iq_err st, char *err)
{
    char *shown = st == IQ_ERR_INVALID ? iq_cli_with_option(err)
                  : st == IQ_ERR_NOT_FOUND
                      ? iq_xasprintf("%s; see 'inboxq %s list'", err ? err : "not found", e->kind)
                  : st == IQ_ERR_STALE ? iq_xasprintf("%s (see 'inboxq %s show')",
                                                      err ? err : "changed meanwhile", e->kind)
                                       : iq_xstrdup(err ? err : "failed");
    iq_app_error(app, "%s %s: %s", e->kind, cmd, shown);
    free(shown);
    free(err);
    return iq_exit_code(st);
}

int iq_cli_not_found(iq_app *app, const char *who, const char *kind, const char *ref,
                     const char *list)
{
    /* The operator's text on one line: control characters as '?', at most 60 bytes, cut on
     * a UTF-8 boundary. */
    char shown[64];
    size_t n = strlen(ref), cut = n > 60 ? 60 : n;
    while (cut > 0 && cut < n && ((unsigned char)ref[cut] & 0xc0) == 0x80)
        cut--;
    for (size_t i = 0; i < cut; i++)
        shown[i] = (unsigned char)ref[i] < 0x20 || ref[i] == 0x7f ? '?' : ref[i];
    shown[cut] = '\0';
    iq_app_error(app, "%s: no %s has the code or name '%s%s'; see 'inboxq %s'", who, kind, shown,
                 cut < n ? "..." : "", list);
    return EX_NOINPUT;
}

static int find_kind(iq_app *app, const char *who, const char *kind, const char *list,
                     int (*find)(PGconn *, const char *, int64_t *, char **), PGconn *c,
                     const char *ref, int64_t *id_r)
{
    char *err = NULL;
    int rc = find(c, ref, id_r, &err);
    if (rc < 0) {
        iq_app_error(app, "%s: %s", who, err ? err : "database error");
        free(err);
        return iq_exit_code_last_db();
    }
    if (rc == 0)
        return iq_cli_not_found(app, who, kind, ref, list);
    return 0;
}

int iq_cli_find_account(iq_app *app, PGconn *c, const char *who, const char *ref, int64_t *id_r)
{
    return find_kind(app, who, "account", "account list", iq_account_find, c, ref, id_r);
}

int iq_entity_find(iq_app *app, const iq_entity *e, PGconn *c, const char *cmd, const char *ref,
                   int64_t *id_r)
{
    char who[64], list[64];
    snprintf(who, sizeof(who), "%s %s", e->kind, cmd);
    snprintf(list, sizeof(list), "%s list", e->kind);
    return find_kind(app, who, e->kind, list, e->find, c, ref, id_r);
}

int iq_entity_open(iq_app *app, const iq_entity *e, const char *cmd, const char *ref, PGconn **c_r,
                   int64_t *id_r)
{
    int rc = iq_app_connect_pg(app, c_r);
    if (rc != 0)
        return rc;
    return iq_entity_find(app, e, *c_r, cmd, ref, id_r);
}

int iq_entity_parse_format(iq_app *app, const iq_entity *e, const char *cmd, int argc, char **argv,
                           const char *alt, const char *usage, bool *json_r)
{
    static const struct option opts[] = {{"format", required_argument, NULL, 'F'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int opt;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 'F':
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, alt) != 0) {
                iq_app_error(app, "%s %s: --format must be %s or json", e->kind, cmd, alt);
                return EX_USAGE;
            }
            *json_r = strcmp(optarg, "json") == 0;
            break;
        case 'h':
            fputs(usage, stdout);
            return 1;
        default:
            return iq_entity_bad_option(app, e, cmd, opt, argv);
        }
    }
    return 0;
}

void iq_entity_print_json(json_t *v)
{
    json_dumpf(v, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
}

int iq_entity_add(iq_app *app, const iq_entity *e, void *in, int argc, char **argv)
{
    int count = 0;
    int rc = e->parse_form(app, e, "add", argc, argv, in, NULL, &count);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    if (optind < argc) {
        iq_app_error(app, "%s add: unexpected argument '%s'; run 'inboxq %s add --help'", e->kind,
                     argv[optind], e->kind);
        return EX_USAGE;
    }
    PGconn *c = NULL;
    if ((rc = iq_app_connect_pg(app, &c)) != 0)
        return rc;
    int64_t id = 0;
    char *err = NULL;
    iq_err st = e->create(c, in, &id, &err);
    if (st != IQ_OK)
        rc = iq_entity_store_fail(app, e, "add", st, err);
    else
        printf("%" PRId64 "\n", id);
    iq_pg_close(&c);
    return rc;
}

int iq_entity_edit(iq_app *app, const iq_entity *e, void *in, int argc, char **argv)
{
    int count = 0, expect = 0;
    int rc = e->parse_form(app, e, "edit", argc, argv, in, &expect, &count);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    if (argc - optind != 1) {
        iq_app_error(app, "%s edit: give one %s; run 'inboxq %s edit --help'", e->kind, e->ref_text,
                     e->kind);
        return EX_USAGE;
    }
    if (count == 0) {
        iq_app_error(app, "%s edit: give at least one field to change; run 'inboxq %s edit --help'",
                     e->kind, e->kind);
        return EX_USAGE;
    }
    PGconn *c = NULL;
    int64_t id = 0;
    if ((rc = iq_entity_open(app, e, "edit", argv[optind], &c, &id)) == 0) {
        bool changed = false;
        char *err = NULL;
        iq_err st = e->update(c, id, in, expect, &changed, &err);
        if (st != IQ_OK)
            rc = iq_entity_store_fail(app, e, "edit", st, err);
        else
            printf("%s %" PRId64 ": %s\n", e->kind, id, changed ? "updated" : "no change");
    }
    iq_pg_close(&c);
    return rc;
}

int iq_entity_act(iq_app *app, const iq_entity *e, const char *cmd, const char *usage,
                  iq_entity_act_fn *act, int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int opt;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (opt != 'h')
            return iq_entity_bad_option(app, e, cmd, opt, argv);
        fputs(usage, stdout);
        return 0;
    }
    if (argc - optind != 1) {
        iq_app_error(app, "%s %s: give one %s", e->kind, cmd, e->ref_text);
        return EX_USAGE;
    }
    PGconn *c = NULL;
    int64_t id = 0;
    int rc = iq_entity_open(app, e, cmd, argv[optind], &c, &id);
    if (rc == 0) {
        char *err = NULL;
        iq_err st = act(e, c, cmd, id, &err);
        if (st != IQ_OK)
            rc = iq_entity_store_fail(app, e, cmd, st, err);
    }
    iq_pg_close(&c);
    return rc;
}

static iq_err remove_one(const iq_entity *e, PGconn *c, const char *cmd, int64_t id, char **error_r)
{
    (void)cmd;
    iq_err st = e->remove(c, id, error_r);
    if (st == IQ_OK)
        printf("%s %" PRId64 ": deleted\n", e->kind, id);
    return st;
}

int iq_entity_delete(iq_app *app, const iq_entity *e, const char *usage, int argc, char **argv)
{
    return iq_entity_act(app, e, "delete", usage, remove_one, argc, argv);
}
