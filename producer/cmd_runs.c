/* SPDX-License-Identifier: MIT */
/* inboxq runs: an account's check history (newest first) from check_runs, as a table or JSON. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "cmd_entity.h"
#include "commands.h"
#include "exitcode.h"
#include "i18n.h"
#include "pg.h"
#include "table.h"
#include "util.h"

enum {
    C_JOB,
    C_BY,
    C_WORKER,
    C_STARTED,
    C_STARTED_ISO,
    C_FINISHED_ISO,
    C_DURATION,
    C_OUTCOME,
    C_CLASS,
    C_ERROR,
    C_NEW,
    C_DELETED,
    C_SKIPPED,
    C_BYTES,
    C_TLS
};

static const char *const runs_sql =
    "SELECT job_id::text, requested_by, worker, " IQ_SQL_TS("started_at") ", " IQ_SQL_TS(
        "started_at") ", " IQ_SQL_TS("finished_at") ", "
                                                    "coalesce(duration_ms, floor(extract(epoch "
                                                    "FROM coalesce(finished_at, now()) - "
                                                    "started_at) "
                                                    "* 1000)::bigint), "
                                                    "CASE WHEN finished_at IS NULL THEN 'running' "
                                                    "ELSE coalesce(outcome, 'failed') END, "
                                                    "error_class, error, messages_new, "
                                                    "messages_deleted, messages_skipped, bytes, "
                                                    "tls_version "
                                                    "FROM check_runs WHERE account_id = $1 ORDER "
                                                    "BY started_at DESC, id DESC LIMIT $2";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: inboxq runs ID [--limit N] [--format table|json]\n\n"
            "Shows the account's check history, newest first: started (UTC), duration, outcome\n"
            "(ok, failed, partial, or running), messages new/deleted/skipped, bytes, TLS version,\n"
            "who asked (scheduler, cli:USER...), the job id and the error.\n"
            "  --limit N         runs to show, 1 to 10000 (default 20)\n"
            "  --format FMT      table (default) or json: {\"account_id\", \"account_name\",\n"
            "                    \"runs\": [{\"job_id\", \"requested_by\", \"worker\", "
            "\"started_at\",\n"
            "                    \"finished_at\", \"duration_ms\", \"outcome\", \"error_class\",\n"
            "                    \"error\", \"messages_new\", \"messages_deleted\",\n"
            "                    \"messages_skipped\", \"bytes\", \"tls_version\"}]}\n"
            "Exit status: 0 shown; 64 bad usage; 66 no such account; 69 PostgreSQL unavailable.\n");
}

static void fmt_duration(int64_t ms, char *buf, size_t size)
{
    if (ms < 1000)
        snprintf(buf, size, "%lldms", (long long)ms);
    else if (ms < 60000)
        snprintf(buf, size, "%.1fs", (double)ms / 1000.0);
    else if (ms < 3600000)
        snprintf(buf, size, "%lldm%02llds", (long long)(ms / 60000), (long long)(ms / 1000 % 60));
    else
        snprintf(buf, size, "%lldh%02lldm", (long long)(ms / 3600000),
                 (long long)(ms / 60000 % 60));
}

static void fmt_bytes(int64_t b, char *buf, size_t size)
{
    if (b < 1024)
        snprintf(buf, size, "%lld B", (long long)b);
    else if (b < 1024 * 1024)
        snprintf(buf, size, "%.1f KiB", (double)b / 1024.0);
    else if (b < 1024LL * 1024 * 1024)
        snprintf(buf, size, "%.1f MiB", (double)b / (1024.0 * 1024.0));
    else
        snprintf(buf, size, "%.1f GiB", (double)b / (1024.0 * 1024.0 * 1024.0));
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static void print_json(int64_t id, const char *name, const PGresult *r)
{
    json_t *runs = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_object();
        json_object_set_new(o, "job_id", str_or_null(iq_pg_str(r, i, C_JOB)));
        json_object_set_new(o, "requested_by", str_or_null(iq_pg_str(r, i, C_BY)));
        json_object_set_new(o, "worker", str_or_null(iq_pg_str(r, i, C_WORKER)));
        json_object_set_new(o, "started_at", str_or_null(iq_pg_str(r, i, C_STARTED_ISO)));
        json_object_set_new(o, "finished_at", str_or_null(iq_pg_str(r, i, C_FINISHED_ISO)));
        json_object_set_new(o, "duration_ms", json_integer(iq_pg_i64(r, i, C_DURATION)));
        json_object_set_new(o, "outcome", str_or_null(iq_pg_str(r, i, C_OUTCOME)));
        json_object_set_new(o, "error_class", str_or_null(iq_pg_str(r, i, C_CLASS)));
        json_object_set_new(o, "error", str_or_null(iq_pg_str(r, i, C_ERROR)));
        json_object_set_new(o, "messages_new", json_integer(iq_pg_i64(r, i, C_NEW)));
        json_object_set_new(o, "messages_deleted", json_integer(iq_pg_i64(r, i, C_DELETED)));
        json_object_set_new(o, "messages_skipped", json_integer(iq_pg_i64(r, i, C_SKIPPED)));
        json_object_set_new(o, "bytes", json_integer(iq_pg_i64(r, i, C_BYTES)));
        json_object_set_new(o, "tls_version", str_or_null(iq_pg_str(r, i, C_TLS)));
        json_array_append_new(runs, o);
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "account_id", json_integer(id));
    json_object_set_new(doc, "account_name", json_string(name));
    json_object_set_new(doc, "runs", runs);
    char *s = json_dumps(doc, JSON_INDENT(2));
    printf("%s\n", s);
    free(s);
    json_decref(doc);
}

enum {
    T_STARTED,
    T_DURATION,
    T_OUTCOME,
    T_NEW,
    T_DEL,
    T_SKIP,
    T_BYTES,
    T_TLS,
    T_BY,
    T_JOB,
    T_ERROR,
    T__COUNT
};

static void print_table(int64_t id, const char *name, const PGresult *r)
{
    static const char *const heads[T__COUNT] = {"STARTED (UTC)", "DURATION", "OUTCOME", "NEW",
                                                "DEL",           "SKIP",     "BYTES",   "TLS",
                                                "REQUESTED BY",  "JOB",      "ERROR"};
    int n = PQntuples(r);
    printf("account %lld (%s): %d most recent check run(s), newest first\n", (long long)id, name,
           n);
    if (n == 0) {
        printf("no checks recorded yet\n");
        return;
    }
    /* cells[row][col]: the header row, then owned strings */
    char *(*cells)[T__COUNT] = iq_xcalloc((size_t)n + 1, sizeof(*cells));
    for (int c = 0; c < T__COUNT; c++)
        cells[0][c] = iq_xstrdup(heads[c]);
    for (int i = 1; i <= n; i++) {
        int row = i - 1;
        char dur[32], bytes[32];
        fmt_duration(iq_pg_i64(r, row, C_DURATION), dur, sizeof(dur));
        fmt_bytes(iq_pg_i64(r, row, C_BYTES), bytes, sizeof(bytes));
        const char *cls = iq_pg_str(r, row, C_CLASS), *err = iq_pg_str(r, row, C_ERROR);
        const char *tls = iq_pg_str(r, row, C_TLS), *by = iq_pg_str(r, row, C_BY);
        char when[40];
        iq_i18n_time_text(IQ_LANG_EN, iq_pg_str(r, row, C_STARTED), when, sizeof(when));
        cells[i][T_STARTED] = iq_xstrdup(when);
        cells[i][T_DURATION] = iq_xstrdup(dur);
        cells[i][T_OUTCOME] = iq_xstrdup(iq_pg_str(r, row, C_OUTCOME));
        cells[i][T_NEW] = iq_xasprintf("%lld", (long long)iq_pg_i64(r, row, C_NEW));
        cells[i][T_DEL] = iq_xasprintf("%lld", (long long)iq_pg_i64(r, row, C_DELETED));
        cells[i][T_SKIP] = iq_xasprintf("%lld", (long long)iq_pg_i64(r, row, C_SKIPPED));
        cells[i][T_BYTES] = iq_xstrdup(bytes);
        cells[i][T_TLS] = iq_xstrdup(tls ? tls : "-");
        cells[i][T_BY] = iq_xstrdup(by ? by : "-");
        cells[i][T_JOB] = iq_xstrdup(iq_pg_str(r, row, C_JOB));
        if (cls || err)
            cells[i][T_ERROR] = iq_xasprintf("%s: %s", cls ? cls : "error", err ? err : "");
        else
            cells[i][T_ERROR] = iq_xstrdup("");
        for (char *p = cells[i][T_ERROR]; *p; p++)
            if ((unsigned char)*p < 0x20)
                *p = ' ';
    }
    iq_table_print((const char *const *)cells[0], (size_t)n + 1, T__COUNT);
    for (int i = 0; i <= n; i++)
        for (int c = 0; c < T__COUNT; c++)
            free(cells[i][c]);
    free(cells);
}

int iq_cmd_runs(iq_app *app, int argc, char **argv)
{
    static const struct option opts[] = {{"limit", required_argument, NULL, 'l'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int64_t limit = 20, id;
    bool json = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'l':
            if (iq_parse_i64(optarg, 1, 10000, &limit) < 0) {
                iq_app_error(app, "runs: --limit must be a number from 1 to 10000, not '%s'",
                             optarg);
                return EX_USAGE;
            }
            break;
        case 'f':
            if (strcmp(optarg, "table") != 0 && strcmp(optarg, "json") != 0) {
                iq_app_error(app, "runs: --format must be table or json, not '%s'", optarg);
                return EX_USAGE;
            }
            json = strcmp(optarg, "json") == 0;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            iq_app_bad_option(app, argv);
            return EX_USAGE;
        }
    }
    if (optind + 1 != argc) {
        iq_app_error(app, "runs: give one account code or name; see 'inboxq runs --help'");
        return EX_USAGE;
    }
    char *err = NULL;
    PGconn *c = NULL;
    int pg_rc = iq_app_connect_pg(app, &c);
    if (pg_rc != 0) {
        return pg_rc;
    }
    int rc = iq_cli_find_account(app, c, "runs", argv[optind], &id);
    if (rc != 0) {
        iq_pg_close(&c);
        return rc;
    }
    char ids[24], lim[24];
    snprintf(ids, sizeof(ids), "%lld", (long long)id);
    snprintf(lim, sizeof(lim), "%lld", (long long)limit);
    PGresult *acct = iq_pg_query(c, "SELECT name FROM mail_accounts WHERE id = $1", 1,
                                 (const char *const[]){ids}, &err);
    PGresult *r = NULL;
    if (!acct)
        goto db_fail;
    if (PQntuples(acct) == 0) {
        rc = iq_cli_not_found(app, "runs", "account", argv[optind], "account list");
        goto out;
    }
    r = iq_pg_query(c, runs_sql, 2, (const char *const[]){ids, lim}, &err);
    if (!r)
        goto db_fail;
    if (json)
        print_json(id, iq_pg_str(acct, 0, 0), r);
    else
        print_table(id, iq_pg_str(acct, 0, 0), r);
    goto out;
db_fail:
    iq_app_error(app, "runs: %s", err);
    free(err);
    rc = EX_UNAVAILABLE;
out:
    PQclear(r);
    PQclear(acct);
    iq_pg_close(&c);
    return rc;
}
