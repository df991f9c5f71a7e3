/* SPDX-License-Identifier: MIT */
/* inboxq status: the cluster's state: accounts by last outcome, the oldest overdue check, the
 * outbox backlog, live workers, and the workers' consumer lag per partition. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "commands.h"
#include "exitcode.h"
#include "i18n.h"
#include "kafka.h"
#include "log.h"
#include "pg.h"
#include "util.h"

/* A worker whose heartbeat is older than this is not counted as live. */
#define LIVE_SECONDS "30"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: inboxq status [--format table|json]\n\n"
            "Shows the cluster's state: active accounts by last check outcome (ok, failed,\n"
            "partial, never checked), the failed and partial ones by error class (auth,\n"
            "timeout...), overdue automatic checks and the oldest one, new-mail\n"
            "events waiting in the outbox, live workers (heartbeat within " LIVE_SECONDS " s),\n"
            "and the consumer lag of the workers' group (consumer_group) per partition of the\n"
            "check and report topics (end offset minus committed offset; a partition without a\n"
            "committed offset counts whole). When Kafka is unreachable the PostgreSQL parts are\n"
            "still shown, with a warning.\n"
            "  --format FMT      table (default) or json\n"
            "Exit status: 0 shown; 64 bad usage; 69 PostgreSQL unavailable; 78 bad settings.\n");
}

static json_t *jint(const PGresult *r, int row, int col)
{
    return iq_pg_str(r, row, col) ? json_integer(iq_pg_i64(r, row, col)) : json_null();
}

static void fmt_age(int64_t ms, char *buf, size_t size)
{
    int64_t s = ms / 1000;
    if (s < 60)
        snprintf(buf, size, "%llds", (long long)s);
    else if (s < 3600)
        snprintf(buf, size, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else if (s < 86400)
        snprintf(buf, size, "%lldh%02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
    else
        snprintf(buf, size, "%lldd%02lldh", (long long)(s / 86400), (long long)(s / 3600 % 24));
}

/* --- PostgreSQL -------------------------------------------------------------------------- */

static json_t *query_object(PGconn *c, const char *sql, const char *const *keys, char **error_r)
{
    PGresult *r = iq_pg_query(c, sql, 0, NULL, error_r);
    if (!r)
        return NULL;
    json_t *o = json_object();
    for (int k = 0; keys[k]; k++) {
        if (keys[k][0] == '$')
            json_object_set_new(o, keys[k] + 1,
                                iq_pg_str(r, 0, k) ? json_string(iq_pg_str(r, 0, k)) : json_null());
        else
            json_object_set_new(o, keys[k], jint(r, 0, k));
    }
    PQclear(r);
    return o;
}

static json_t *pg_status(PGconn *c, char **error_r)
{
    static const char *const acct_keys[] = {"active",        "ok",       "failed", "partial",
                                            "never_checked", "inactive", NULL};
    static const char *const overdue_keys[] = {"count", "oldest_account_id", "$oldest_account_name",
                                               "oldest_overdue_ms", NULL};
    static const char *const outbox_keys[] = {"pending", "oldest_pending_ms", NULL};
    json_t *doc = json_object(), *o;
    o = query_object(c,
                     "SELECT count(*) FILTER (WHERE active), "
                     "count(*) FILTER (WHERE active AND last_status = 'ok'), "
                     "count(*) FILTER (WHERE active AND last_status IS NOT NULL "
                     "AND last_status NOT IN ('ok', 'partial')), "
                     "count(*) FILTER (WHERE active AND last_status = 'partial'), "
                     "count(*) FILTER (WHERE active AND last_status IS NULL), "
                     "count(*) FILTER (WHERE NOT active) FROM mail_accounts",
                     acct_keys, error_r);
    if (!o)
        goto fail;
    json_object_set_new(doc, "accounts", o);
    /* the failures (failed or partial) of active accounts by error class, largest first */
    PGresult *fr = iq_pg_query(c,
                               "SELECT coalesce(last_error_class, 'unknown'), count(*) "
                               "FROM mail_accounts WHERE active AND last_status IS NOT NULL "
                               "AND last_status <> 'ok' GROUP BY 1 ORDER BY 2 DESC, 1",
                               0, NULL, error_r);
    if (!fr)
        goto fail;
    json_t *by_class = json_object();
    for (int i = 0; i < PQntuples(fr); i++)
        json_object_set_new(by_class, iq_pg_str(fr, i, 0), json_integer(iq_pg_i64(fr, i, 1)));
    PQclear(fr);
    json_object_set_new(doc, "failures_by_class", by_class);
    o = query_object(c,
                     "SELECT n.count, a.id, a.name, "
                     "floor(extract(epoch FROM now() - a.next_check_at) * 1000)::bigint "
                     "FROM (SELECT count(*) FROM mail_accounts "
                     "      WHERE active AND auto_check AND next_check_at < now()) n "
                     "LEFT JOIN LATERAL (SELECT id, name, next_check_at FROM mail_accounts "
                     "      WHERE active AND auto_check AND next_check_at < now() "
                     "      ORDER BY next_check_at LIMIT 1) a ON true",
                     overdue_keys, error_r);
    if (!o)
        goto fail;
    json_object_set_new(doc, "overdue", o);
    o = query_object(c,
                     "SELECT count(*), "
                     "floor(extract(epoch FROM now() - min(created_at)) * 1000)::bigint "
                     "FROM outbox WHERE sent_at IS NULL",
                     outbox_keys, error_r);
    if (!o)
        goto fail;
    json_object_set_new(doc, "outbox", o);

    PGresult *r = iq_pg_query(
        c,
        "SELECT name, concurrency, jobs_in_flight, jobs_done, "
        "floor(extract(epoch FROM now() - heartbeat_at) * 1000)::bigint, " IQ_SQL_TS(
            "started_at") ", "
                          "heartbeat_at > now() - interval '" LIVE_SECONDS " seconds', "
                          "(SELECT count(*) FROM push_sessions p WHERE p.worker = w.name) "
                          "FROM workers w ORDER BY name",
        0, NULL, error_r);
    if (!r)
        goto fail;
    json_t *live = json_array();
    int stale = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        if (!iq_pg_bool(r, i, 6)) {
            stale++;
            continue;
        }
        json_t *w = json_object();
        json_object_set_new(w, "name", json_string(iq_pg_str(r, i, 0)));
        json_object_set_new(w, "concurrency", jint(r, i, 1));
        json_object_set_new(w, "jobs_in_flight", jint(r, i, 2));
        json_object_set_new(w, "jobs_done", jint(r, i, 3));
        json_object_set_new(w, "heartbeat_age_ms", jint(r, i, 4));
        json_object_set_new(w, "started_at", json_string(iq_pg_str(r, i, 5)));
        json_object_set_new(w, "push_connections", jint(r, i, 7)); /* IMAP IDLE held now */
        json_array_append_new(live, w);
    }
    PQclear(r);
    o = json_object();
    json_object_set_new(o, "live", live);
    json_object_set_new(o, "stale", json_integer(stale));
    json_object_set_new(doc, "workers", o);
    return doc;
fail:
    json_decref(doc);
    return NULL;
}

/* --- Kafka lag --------------------------------------------------------------------------- */

/* {"group", "partitions": [{"topic", "partition", "committed", "low", "high", "lag"}],
 * "total_lag"} or NULL with *error_r when Kafka cannot be reached. */
static json_t *kafka_lag(const iq_config *cfg, char **error_r)
{
    const char *group = iq_config_str(cfg, IQ_SET_CONSUMER_GROUP);
    const char *topics[] = {iq_config_str(cfg, IQ_SET_TOPIC_CHECK),
                            iq_config_str(cfg, IQ_SET_TOPIC_REPORT), NULL};
    if (strcmp(topics[0], topics[1]) == 0)
        topics[1] = NULL; /* the same topic configured twice */
    iq_kafka_lag *lag = NULL;
    size_t n = 0;
    if (iq_kafka_group_lag(cfg, group, topics, &lag, &n, error_r) < 0)
        return NULL;
    json_t *parts = json_array();
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const iq_kafka_lag *l = &lag[i];
        total += l->lag;
        json_t *o = json_object();
        json_object_set_new(o, "topic", json_string(l->topic));
        json_object_set_new(o, "partition", json_integer(l->partition));
        json_object_set_new(o, "committed",
                            l->committed >= 0 ? json_integer(l->committed) : json_null());
        json_object_set_new(o, "low", json_integer(l->low));
        json_object_set_new(o, "high", json_integer(l->high));
        json_object_set_new(o, "lag", json_integer(l->lag));
        json_array_append_new(parts, o);
    }
    iq_kafka_lag_free(&lag, n);
    json_t *doc = json_object();
    json_object_set_new(doc, "group", json_string(group));
    json_object_set_new(doc, "partitions", parts);
    json_object_set_new(doc, "total_lag", json_integer(total));
    return doc;
}

json_t *iq_status_json(PGconn *c, const iq_config *cfg, char **error_r)
{
    json_t *doc = pg_status(c, error_r);
    if (!doc)
        return NULL;
    char *err = NULL;
    json_t *lag = kafka_lag(cfg, &err);
    if (lag) {
        json_object_set_new(lag, "available", json_true());
    } else {
        lag = json_object();
        json_object_set_new(lag, "available", json_false());
        json_object_set_new(lag, "error", json_string(err ? err : "unreachable"));
        free(err);
    }
    json_object_set_new(doc, "kafka", lag);
    return doc;
}

/* --- output ------------------------------------------------------------------------------ */

static int64_t geti(const json_t *o, const char *key)
{
    return (int64_t)json_integer_value(json_object_get(o, key));
}

static void print_table(const json_t *doc)
{
    char age[32];
    const json_t *a = json_object_get(doc, "accounts");
    printf("accounts:  %lld active: %lld ok, %lld failed, %lld partial, %lld never checked "
           "(%lld inactive not counted)\n",
           (long long)geti(a, "active"), (long long)geti(a, "ok"), (long long)geti(a, "failed"),
           (long long)geti(a, "partial"), (long long)geti(a, "never_checked"),
           (long long)geti(a, "inactive"));

    json_t *fc = json_object_get(doc, "failures_by_class");
    if (json_object_size(fc) > 0) {
        printf("failures:  by error class:");
        const char *cls;
        json_t *n;
        bool first = true;
        json_object_foreach((json_t *)fc, cls, n)
        {
            printf("%s %s %lld", first ? "" : ",", cls, (long long)json_integer_value(n));
            first = false;
        }
        printf("\n");
    }

    const json_t *o = json_object_get(doc, "overdue");
    if (geti(o, "count") == 0) {
        printf("overdue:   none\n");
    } else {
        fmt_age(geti(o, "oldest_overdue_ms"), age, sizeof(age));
        printf("overdue:   %lld check(s); oldest: account %lld (%s), %s overdue\n",
               (long long)geti(o, "count"), (long long)geti(o, "oldest_account_id"),
               json_string_value(json_object_get(o, "oldest_account_name")), age);
    }

    const json_t *ob = json_object_get(doc, "outbox");
    if (geti(ob, "pending") == 0) {
        printf("outbox:    0 events pending\n");
    } else {
        fmt_age(geti(ob, "oldest_pending_ms"), age, sizeof(age));
        printf("outbox:    %lld event(s) pending, oldest %s old\n", (long long)geti(ob, "pending"),
               age);
    }

    const json_t *w = json_object_get(doc, "workers");
    const json_t *live = json_object_get(w, "live");
    printf("workers:   %zu live (heartbeat within " LIVE_SECONDS " s), %lld stale\n",
           json_array_size(live), (long long)geti(w, "stale"));
    if (json_array_size(live) > 0) {
        int nw = 4;
        size_t i;
        json_t *x;
        json_array_foreach(live, i, x)
        {
            int len = (int)strlen(json_string_value(json_object_get(x, "name")));
            if (len > nw)
                nw = len;
        }
        printf("  %-*s  %11s  %9s  %10s  %6s  %9s  %s\n", nw, "NAME", "CONCURRENCY", "IN FLIGHT",
               "DONE", "PUSH", "HEARTBEAT", "STARTED");
        json_array_foreach(live, i, x)
        {
            fmt_age(geti(x, "heartbeat_age_ms"), age, sizeof(age));
            char started[40];
            iq_i18n_time_text(IQ_LANG_EN, json_string_value(json_object_get(x, "started_at")),
                              started, sizeof(started));
            printf("  %-*s  %11lld  %9lld  %10lld  %6lld  %5s ago  %s\n", nw,
                   json_string_value(json_object_get(x, "name")), (long long)geti(x, "concurrency"),
                   (long long)geti(x, "jobs_in_flight"), (long long)geti(x, "jobs_done"),
                   (long long)geti(x, "push_connections"), age, started);
        }
    }

    const json_t *k = json_object_get(doc, "kafka");
    if (!json_is_true(json_object_get(k, "available"))) {
        printf("kafka:     unavailable (%s)\n", json_string_value(json_object_get(k, "error")));
        return;
    }
    const json_t *parts = json_object_get(k, "partitions");
    printf("kafka:     consumer lag of group %s: %lld job(s) in all\n",
           json_string_value(json_object_get(k, "group")), (long long)geti(k, "total_lag"));
    int nt = 5;
    size_t i;
    json_t *x;
    json_array_foreach(parts, i, x)
    {
        int len = (int)strlen(json_string_value(json_object_get(x, "topic")));
        if (len > nt)
            nt = len;
    }
    printf("  %-*s  %9s  %10s  %10s  %8s\n", nt, "TOPIC", "PARTITION", "COMMITTED", "END", "LAG");
    json_array_foreach(parts, i, x)
    {
        const json_t *c = json_object_get(x, "committed");
        char committed[24];
        if (json_is_integer(c))
            snprintf(committed, sizeof(committed), "%lld", (long long)json_integer_value(c));
        else
            snprintf(committed, sizeof(committed), "-");
        printf("  %-*s  %9lld  %10s  %10lld  %8lld\n", nt,
               json_string_value(json_object_get(x, "topic")), (long long)geti(x, "partition"),
               committed, (long long)geti(x, "high"), (long long)geti(x, "lag"));
    }
}

int iq_cmd_status(iq_app *app, int argc, char **argv)
{
    static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool json = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'f':
            if (strcmp(optarg, "table") != 0 && strcmp(optarg, "json") != 0) {
                iq_app_error(app, "status: --format must be table or json, not '%s'", optarg);
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
    if (optind < argc) {
        iq_app_error(app, "status: unexpected argument '%s'; see 'inboxq status --help'",
                     argv[optind]);
        return EX_USAGE;
    }
    char *err = NULL;
    PGconn *c = NULL;
    int pg_rc = iq_app_connect_pg(app, &c);
    if (pg_rc != 0) {
        return pg_rc;
    }
    json_t *doc = iq_status_json(c, app->cfg, &err);
    iq_pg_close(&c);
    if (!doc) {
        iq_app_error(app, "status: %s", err);
        free(err);
        return EX_UNAVAILABLE;
    }
    const json_t *k = json_object_get(doc, "kafka");
    if (!json_is_true(json_object_get(k, "available")))
        iq_app_error(app,
                     "warning: Kafka is unavailable (%s); consumer lag not shown; check "
                     "kafka_brokers (INBOXQ_KAFKA_BROKERS)",
                     json_string_value(json_object_get(k, "error")));
    if (json) {
        char *s = json_dumps(doc, JSON_INDENT(2));
        printf("%s\n", s);
        free(s);
    } else {
        print_table(doc);
    }
    json_decref(doc);
    return 0;
}
