/* SPDX-License-Identifier: MIT */
/* inboxq audit: the audit trail of changes to accounts, credentials, connectors and schedules,
 * newest first. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "audit.h"
#include "buf.h"
#include "cmd_entity.h"
#include "commands.h"
#include "exitcode.h"
#include "i18n.h"
#include "pg.h"
#include "table.h"
#include "util.h"

static void audit_usage(FILE *out)
{
    fprintf(out,
            "usage: inboxq audit [--account ID] [--entity KIND [--id N]] [--limit N]\n"
            "                    [--format table|json]\n\n"
            "Shows who changed what and when, newest first: every create, edit and delete of\n"
            "accounts, credentials, connectors and report schedules, with each changed field's\n"
            "old and new value (secrets never appear; a secret change shows as changed).\n\n"
            "  --account ID       one account's trail (its code, or its name while it exists)\n"
            "  --entity KIND      account, credential, connector or schedule\n"
            "  --id N             with --entity: one object's trail\n"
            "  --limit N          at most N rows (default 50, at most 100000)\n"
            "  --format FMT       table (default) or json\n"
            "  -h, --help         print this help\n");
}

#define CHANGES_MAX (1024 * 1024) /* one row's CHANGES cell */

/* One change as "field: old -> new" (create: "field=new"; delete: "field=old"). 0, or -1 when
 * b is full. */
static int append_changes(iq_buf *b, const char *action, json_t *changes)
{
    const char *key;
    json_t *pair;
    int rc = 0;
    json_object_foreach(changes, key, pair)
    {
        json_t *old = json_object_get(pair, "old"), *new_ = json_object_get(pair, "new");
        char *o = old ? json_dumps(old, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        char *n = new_ ? json_dumps(new_, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        const char *sep = b->len ? ", " : "";
        if (!old && !new_)
            rc = iq_buf_appendf(b, "%s%s changed", sep, key); /* {"secret": {"changed": true}} */
        else if (strcmp(action, "create") == 0)
            rc = iq_buf_appendf(b, "%s%s=%s", sep, key, n ? n : "null");
        else if (strcmp(action, "delete") == 0)
            rc = iq_buf_appendf(b, "%s%s=%s", sep, key, o ? o : "null");
        else
            rc = iq_buf_appendf(b, "%s%s: %s -> %s", sep, key, o ? o : "null", n ? n : "null");
        free(o);
        free(n);
        if (rc < 0)
            break;
    }
    return rc;
}

static void print_table(json_t *rows)
{
    static const char *const headers[] = {"AT", "ACTOR", "ACTION", "ENTITY", "ID", "CHANGES"};
    enum { NC = 6 };
    size_t n = json_array_size(rows);
    char **cells = iq_xcalloc(iq_size_mul(n + 1, NC), sizeof(char *));
    for (size_t j = 0; j < NC; j++)
        cells[j] = iq_xstrdup(headers[j]);
    for (size_t i = 0; i < n; i++) {
        json_t *row = json_array_get(rows, i);
        const char *action = json_string_value(json_object_get(row, "action"));
        char **c = cells + (i + 1) * NC;
        char when[40];
        iq_i18n_time_text(IQ_LANG_EN, json_string_value(json_object_get(row, "at")), when,
                          sizeof(when));
        c[0] = iq_xstrdup(when);
        c[1] = iq_xstrdup(json_string_value(json_object_get(row, "actor")));
        c[2] = iq_xstrdup(action);
        c[3] = iq_xstrdup(json_string_value(json_object_get(row, "entity")));
        c[4] = iq_xasprintf("%" JSON_INTEGER_FORMAT,
                            json_integer_value(json_object_get(row, "entity_id")));
        iq_buf b;
        iq_buf_init(&b, CHANGES_MAX);
        if (append_changes(&b, action, json_object_get(row, "changes")) < 0)
            c[5] = iq_xasprintf("(over %d KiB of changes; --format json shows them)",
                                CHANGES_MAX / 1024);
        else
            c[5] = b.data ? iq_buf_detach(&b, NULL) : iq_xstrdup("-");
        iq_buf_release(&b);
    }
    iq_table_print((const char *const *)cells, n + 1, NC);
    for (size_t i = 0; i < (n + 1) * NC; i++)
        free(cells[i]);
    free(cells);
}

int iq_cmd_audit(iq_app *app, int argc, char **argv)
{
    static const struct option opts[] = {{"account", required_argument, NULL, 'a'},
                                         {"entity", required_argument, NULL, 'e'},
                                         {"id", required_argument, NULL, 'i'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"format", required_argument, NULL, 'F'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const entities[] = {"account", "credential", "connector", "schedule"};
    const char *account = NULL, *entity = NULL;
    int64_t entity_id = 0, limit = 50;
    bool json = false;
    int opt, rc;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 'a':
            account = optarg;
            break;
        case 'e': {
            entity = NULL;
            for (size_t i = 0; i < IQ_ARRAY_LEN(entities); i++)
                if (strcmp(optarg, entities[i]) == 0)
                    entity = entities[i];
            if (!entity) {
                iq_app_error(app, "audit: --entity must be account, credential, connector or "
                                  "schedule");
                return EX_USAGE;
            }
            break;
        }
        case 'i':
            if (iq_parse_i64(optarg, 1, INT64_MAX, &entity_id) < 0) {
                iq_app_error(app, "audit: --id takes a positive number");
                return EX_USAGE;
            }
            break;
        case 'l':
            if (iq_parse_i64(optarg, 1, 100000, &limit) < 0) {
                iq_app_error(app, "audit: --limit takes a number from 1 to 100000");
                return EX_USAGE;
            }
            break;
        case 'F':
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "table") != 0) {
                iq_app_error(app, "audit: --format must be table or json");
                return EX_USAGE;
            }
            json = strcmp(optarg, "json") == 0;
            break;
        case 'h':
            audit_usage(stdout);
            return 0;
        case ':':
            iq_app_error(app, "audit: %s needs a value; run 'inboxq audit --help'",
                         argv[optind - 1]);
            return EX_USAGE;
        default:
            iq_app_error(app, "audit: unknown option '%s'; run 'inboxq audit --help'",
                         argv[optind - 1]);
            return EX_USAGE;
        }
    }
    if (optind < argc) {
        iq_app_error(app, "audit: unexpected argument '%s'; run 'inboxq audit --help'",
                     argv[optind]);
        return EX_USAGE;
    }
    if (account && (entity || entity_id)) {
        iq_app_error(app, "audit: --account cannot be combined with --entity or --id");
        return EX_USAGE;
    }
    if (entity_id && !entity) {
        iq_app_error(app, "audit: --id needs --entity KIND");
        return EX_USAGE;
    }
    PGconn *c = NULL;
    char *err = NULL;
    json_t *rows = NULL;
    int pg_rc = iq_app_connect_pg(app, &c);
    if (pg_rc != 0) {
        return pg_rc;
    }
    rc = 0;
    if (account) {
        entity = "account";
        int found = iq_account_find(c, account, &entity_id, &err);
        if (found < 0) {
            iq_app_error(app, "audit: %s", err);
            free(err);
            rc = iq_exit_code_last_db();
            goto out;
        }
        /* A deleted account keeps its trail: a numeric code is taken as is. */
        if (found == 0 && iq_parse_i64(account, 1, INT64_MAX, &entity_id) < 0) {
            /* the one wording; a deleted account's trail is found by its code */
            rc = iq_cli_not_found(app, "audit", "account", account, "account list");
            goto out;
        }
    }
    rows = iq_audit_list(c, entity, entity_id, limit, &err);
    if (!rows) {
        iq_app_error(app, "audit: %s", err);
        free(err);
        rc = iq_exit_code_last_db();
        goto out;
    }
    if (json) {
        json_dumpf(rows, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        print_table(rows);
    }
out:
    json_decref(rows);
    iq_pg_close(&c);
    return rc;
}
