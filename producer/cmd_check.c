/* SPDX-License-Identifier: MIT */
/* inboxq check: publish check jobs for the workers (and wait for their outcomes), or run one
 * check in this process with --direct. */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "buf.h"
#include "checkenv.h"
#include "cmd_entity.h"
#include "commands.h"
#include "exitcode.h"
#include "kafka.h"
#include "messages.h"
#include "pg.h"
#include "util.h"

#define WAIT_DEFAULT_MS (300 * 1000)
#define POLL_MS 150

static void usage(FILE *out)
{
    fprintf(out,
            "usage: inboxq check ID|NAME... | --all [--wait [--timeout S]] [--format text|json]\n"
            "       inboxq check ID|NAME --direct [--format text|json]\n\n"
            "Checks accounts now. Without --direct it publishes one check job per account to\n"
            "Kafka for the workers (requested_by cli:USER, reason manual) and prints one line\n"
            "per job Kafka confirmed: ACCOUNT_ID JOB_ID.\n"
            "  --all             every active account\n"
            "  --wait            then wait for each job's run in PostgreSQL and print its\n"
            "                    outcome as it lands:\n"
            "                    ACCOUNT_ID JOB_ID OUTCOME new=N deleted=N [CLASS: ERROR]\n"
            "                    (OUTCOME ok, failed, partial, or unfinished at the timeout)\n"
            "  --timeout S       how long --wait waits: seconds, or 500ms, 2m... (default 300)\n"
            "  --direct          run the check in this process (no Kafka, no worker); one ID\n"
            "  --format FMT      text (default) or json. With jobs, json is one object per line:\n"
            "                    {\"account_id\", \"job_id\"} per job, then with --wait\n"
            "                    {\"account_id\", \"job_id\", \"outcome\", \"error_class\", "
            "\"error\",\n"
            "                    \"messages_new\", \"messages_deleted\", \"messages_skipped\",\n"
            "                    \"bytes\", \"duration_ms\"} per outcome\n"
            "Exit status: 0 published (with --wait: every check succeeded); 1 a check failed;\n"
            "64 bad usage; 66 no such account (nothing is published then); 69 Kafka did not\n"
            "confirm a job or PostgreSQL is unavailable; 75 --wait timed out; 78 bad settings.\n");
}

/* --- --direct ----------------------------------------------------------------------------- */

static int check_direct(iq_app *app, const char *ref, bool json)
{
    int64_t id = 0;
    char *err = NULL;
    iq_check_setup cs;
    if (iq_check_setup_init(&cs, app->cfg, "cli", &err) < 0) {
        iq_app_error(app, "%s", err);
        free(err);
        return EX_CONFIG;
    }
    PGconn *c = NULL;
    int pg_rc = iq_app_connect_pg(app, &c);
    if (pg_rc != 0) {
        iq_check_setup_release(&cs);
        return pg_rc;
    }
    if ((pg_rc = iq_cli_find_account(app, c, "check", ref, &id)) != 0) {
        iq_pg_close(&c);
        iq_check_setup_release(&cs);
        return pg_rc;
    }
    char job_id[37];
    iq_uuid_v4(job_id, sizeof(job_id));
    iq_check_result res;
    char by[64];
    iq_operator_identity(by, sizeof(by)); /* the run says who asked, as a job would */
    int rc = iq_check_run_as(c, &cs.env, id, job_id, by, &res);
    if (json) {
        json_t *j = iq_check_result_json(&res, id, job_id);
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", s);
        free(s);
        json_decref(j);
    } else {
        iq_check_result_print(&res, id, stdout);
    }
    int code = rc == 0 ? 0 : IQ_EXIT_CHECK_FAILED;
    if (res.error_class == IQ_ERR_NOT_FOUND)
        code = EX_NOINPUT;
    iq_check_result_release(&res);
    iq_pg_close(&c);
    iq_check_setup_release(&cs);
    return code;
}

/* --- jobs ------------------------------------------------------------------------------------ */

typedef struct job {
    const char *ref; /* the account's code or name as given (NULL with --all) */
    int64_t account_id;
    char job_id[37];
    iq_delivery state;
    bool done;
} job;

/* Sets b to "{a,b,c}" of the ids (a bigint[] / uuid[] parameter). 0, or -1 when they do not
 * fit b's cap (an array cut short would silently leave accounts out). */
static int id_array(iq_buf *b, const job *jobs, size_t n, bool uuids)
{
    iq_buf_reset(b);
    if (iq_buf_append_char(b, '{') < 0)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (uuids && (jobs[i].done || jobs[i].state != IQ_DELIVERY_OK))
            continue;
        if (k++ > 0 && iq_buf_append_char(b, ',') < 0)
            return -1;
        if (uuids ? iq_buf_append_str(b, jobs[i].job_id) < 0
                  : iq_buf_appendf(b, "%lld", (long long)jobs[i].account_id) < 0)
            return -1;
    }
    return iq_buf_append_char(b, '}');
}

/* The given codes and names into ids (names through the account resolver; codes checked
 * all at once below). 0 or an exit code; refs that name no account are appended to missing. */
static int resolve_refs(iq_app *app, PGconn *c, job *jobs, size_t n, iq_buf *missing,
                        size_t *nmissing_r)
{
    for (size_t i = 0; i < n; i++) {
        job *j = &jobs[i];
        int64_t v = 0;
        int found = 1;
        char *err = NULL;
        if (iq_parse_i64(j->ref, 1, INT64_MAX, &v) == 0)
            j->account_id = v;
        else if ((found = iq_account_find(c, j->ref, &j->account_id, &err)) < 0) {
            iq_app_error(app, "check: %s", err ? err : "database error");
            free(err);
            return iq_exit_code_last_db();
        }
        if (found == 0 && (*nmissing_r)++ < 20)
            IQ_IGNORE_RESULT(iq_buf_appendf(missing, "%s'%s'", *nmissing_r > 1 ? ", " : "",
                                            j->ref)); /* refs are argv: bounded */
    }
    return 0;
}

/* Drops repeated accounts (a code and the name of the same account count once). */
static size_t dedup(job *jobs, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t j = 0; j < k && !dup; j++)
            dup = jobs[j].account_id == jobs[i].account_id;
        if (!dup)
            jobs[k++] = jobs[i];
    }
    return k;
}

/* Fills jobs with the accounts to check: the given codes and names (refusing unknown ones) or,
 * for --all, every active account. Returns 0 or an exit code. */
static int load_accounts(iq_app *app, PGconn *c, bool all, job **jobs_r, size_t *n_r)
{
    char *err = NULL;
    iq_buf ids, missing;
    iq_buf_init(&ids, 64 * 1024 * 1024);
    iq_buf_init(&missing, 64 * 1024);
    size_t nmissing = 0;
    PGresult *r;
    if (!all) {
        int rc = resolve_refs(app, c, *jobs_r, *n_r, &missing, &nmissing);
        if (rc != 0) {
            iq_buf_release(&ids);
            iq_buf_release(&missing);
            return rc;
        }
    }
    if (all) {
        r = iq_pg_query(c, "SELECT id FROM mail_accounts WHERE active ORDER BY id", 0, NULL, &err);
    } else if (id_array(&ids, *jobs_r, *n_r, false) < 0) {
        iq_buf_release(&ids);
        iq_buf_release(&missing);
        iq_app_error(app,
                     "check: %zu account ids are too many for one command; check them in "
                     "smaller groups",
                     *n_r);
        return EX_USAGE;
    } else {
        r = iq_pg_query(c,
                        "SELECT x.n - 1 FROM unnest($1::bigint[]) WITH ORDINALITY AS x(id, n) "
                        "WHERE x.id > 0 AND NOT EXISTS (SELECT 1 FROM mail_accounts a WHERE "
                        "a.id = x.id) ORDER BY x.n",
                        1, (const char *const[]){ids.data}, &err);
    }
    iq_buf_release(&ids);
    if (!r) {
        iq_buf_release(&missing);
        iq_app_error(app, "check: %s", err);
        free(err);
        return EX_UNAVAILABLE;
    }
    int rc = 0, n = PQntuples(r);
    if (all) {
        free(*jobs_r);
        *jobs_r = iq_xcalloc(n > 0 ? (size_t)n : 1, sizeof(job));
        *n_r = (size_t)n;
        for (int i = 0; i < n; i++)
            (*jobs_r)[i].account_id = iq_pg_i64(r, i, 0);
    } else {
        for (int i = 0; i < n; i++) {
            int64_t at = iq_pg_i64(r, i, 0);
            if (at >= 0 && (size_t)at < *n_r && nmissing++ < 20)
                IQ_IGNORE_RESULT(iq_buf_appendf(&missing, "%s'%s'", nmissing > 1 ? ", " : "",
                                                (*jobs_r)[at].ref));
        }
        if (nmissing > 0) {
            iq_app_error(app,
                         "check: no account has the code or name %s%s; see 'inboxq account "
                         "list'",
                         missing.data, nmissing > 20 ? ", ..." : "");
            rc = EX_NOINPUT;
        } else {
            *n_r = dedup(*jobs_r, *n_r);
        }
    }
    iq_buf_release(&missing);
    PQclear(r);
    return rc;
}

/* Publishes one job per account and waits for Kafka's confirmations; prints the confirmed
 * ones. Returns 0 or EX_UNAVAILABLE / EX_CONFIG. */
static int publish(iq_app *app, job *jobs, size_t n, bool json)
{
    char *err = NULL, by[64];
    iq_operator_identity(by, sizeof(by));
    iq_kafka_producer *p = iq_kafka_producer_new(app->cfg, &err);
    if (!p) {
        iq_app_error(app, "check: %s", err);
        free(err);
        return EX_CONFIG;
    }
    const char *topic = iq_config_str(app->cfg, IQ_SET_TOPIC_CHECK);
    int64_t now_ms = iq_now_real_ms();
    for (size_t i = 0; i < n; i++) {
        job *j = &jobs[i];
        j->state = IQ_DELIVERY_FAILED;
        json_t *msg = iq_msg_check_job_new(NULL, j->account_id, now_ms, by, "manual", 1, 0, &err);
        if (!msg) {
            iq_app_error(app, "check: account %lld: %s", (long long)j->account_id, err);
            free(err);
            err = NULL;
            continue;
        }
        snprintf(j->job_id, sizeof(j->job_id), "%s", iq_msg_id(msg));
        char key[24], *value = iq_msg_dump(msg);
        snprintf(key, sizeof(key), "%lld", (long long)j->account_id);
        if (iq_kafka_produce(p, topic, key, value, strlen(value), &j->state, &err) < 0) {
            j->state = IQ_DELIVERY_FAILED;
            free(err);
            err = NULL;
        }
        free(value);
        json_decref(msg);
    }
    iq_kafka_flush(p, iq_config_int(app->cfg, IQ_SET_KAFKA_TIMEOUT) + 2000);
    /* Frees only after every delivery report was served or purged (the states are ours). */
    iq_kafka_producer_free(&p);
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        job *j = &jobs[i];
        if (j->state != IQ_DELIVERY_OK) {
            failed++;
            continue;
        }
        if (json)
            printf("{\"account_id\":%lld,\"job_id\":\"%s\"}\n", (long long)j->account_id,
                   j->job_id);
        else
            printf("%lld %s\n", (long long)j->account_id, j->job_id);
    }
    fflush(stdout);
    if (failed > 0) {
        iq_app_error(app,
                     "check: Kafka did not confirm %zu of %zu job(s) on %s; check kafka_brokers "
                     "(INBOXQ_KAFKA_BROKERS) and that the broker is up",
                     failed, n, topic);
        return EX_UNAVAILABLE;
    }
    return 0;
}

static int cmp_job_id(const void *a, const void *b)
{
    return strcmp((*(const job *const *)a)->job_id, (*(const job *const *)b)->job_id);
}

static void print_outcome(const PGresult *r, int row, bool json)
{
    const char *outcome = iq_pg_str(r, row, 2), *cls = iq_pg_str(r, row, 3),
               *error = iq_pg_str(r, row, 4);
    if (!outcome)
        outcome = "failed";
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "account_id", json_integer(iq_pg_i64(r, row, 1)));
        json_object_set_new(o, "job_id", json_string(iq_pg_str(r, row, 0)));
        json_object_set_new(o, "outcome", json_string(outcome));
        json_object_set_new(o, "error_class", cls ? json_string(cls) : json_null());
        json_object_set_new(o, "error", error ? json_string(error) : json_null());
        json_object_set_new(o, "messages_new", json_integer(iq_pg_i64(r, row, 5)));
        json_object_set_new(o, "messages_deleted", json_integer(iq_pg_i64(r, row, 6)));
        json_object_set_new(o, "messages_skipped", json_integer(iq_pg_i64(r, row, 7)));
        json_object_set_new(o, "bytes", json_integer(iq_pg_i64(r, row, 8)));
        json_object_set_new(o, "duration_ms",
                            iq_pg_str(r, row, 9) ? json_integer(iq_pg_i64(r, row, 9))
                                                 : json_null());
        char *s = json_dumps(o, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        printf("%s %s %s new=%lld deleted=%lld", iq_pg_str(r, row, 1), iq_pg_str(r, row, 0),
               outcome, (long long)iq_pg_i64(r, row, 5), (long long)iq_pg_i64(r, row, 6));
        if (cls || error) {
            /* one line per outcome, whatever the error text holds */
            char *e = iq_xstrdup(error ? error : "");
            for (char *p = e; *p; p++)
                if (*p == '\n' || *p == '\r')
                    *p = ' ';
            printf(" %s: %s", cls ? cls : "error", e);
            free(e);
        }
        printf("\n");
    }
    fflush(stdout);
}

/* Polls check_runs until every job finished or the timeout. Returns the exit status. */
static int wait_outcomes(iq_app *app, PGconn *c, job *jobs, size_t n, int64_t timeout_ms, bool json)
{
    job **by_id = iq_xcalloc(n > 0 ? n : 1, sizeof(job *));
    for (size_t i = 0; i < n; i++)
        by_id[i] = &jobs[i];
    qsort(by_id, n, sizeof(job *), cmp_job_id);
    iq_buf ids;
    iq_buf_init(&ids, 64 * 1024 * 1024);
    size_t pending = n, failed = 0;
    int64_t deadline = iq_now_mono_ms() + timeout_ms;
    int rc = 0;
    char *err = NULL;
    for (;;) {
        if (id_array(&ids, jobs, n, true) < 0) {
            /* the jobs are published; only waiting for so many at once is refused */
            iq_app_error(app,
                         "check: %zu jobs are too many to --wait for at once; their runs "
                         "are recorded in PostgreSQL (inboxq runs)",
                         pending);
            rc = EX_TEMPFAIL;
            break;
        }
        PGresult *r = iq_pg_query(
            c,
            "SELECT job_id::text, account_id, outcome, error_class, error, messages_new, "
            "messages_deleted, messages_skipped, bytes, duration_ms FROM check_runs "
            "WHERE job_id = ANY($1::uuid[]) AND finished_at IS NOT NULL ORDER BY finished_at",
            1, (const char *const[]){ids.data}, &err);
        if (!r) {
            iq_app_error(app, "check: waiting for the outcomes: %s", err);
            free(err);
            rc = EX_UNAVAILABLE;
            break;
        }
        for (int i = 0; i < PQntuples(r); i++) {
            job key, *kp = &key;
            snprintf(key.job_id, sizeof(key.job_id), "%s", iq_pg_str(r, i, 0));
            job **hit = bsearch(&kp, by_id, n, sizeof(job *), cmp_job_id);
            if (!hit || (*hit)->done)
                continue;
            (*hit)->done = true;
            pending--;
            const char *outcome = iq_pg_str(r, i, 2);
            if (!outcome || strcmp(outcome, "ok") != 0)
                failed++;
            print_outcome(r, i, json);
        }
        PQclear(r);
        if (pending == 0)
            break;
        if (iq_now_mono_ms() >= deadline) {
            char t[32];
            iq_format_duration(timeout_ms, t, sizeof(t));
            for (size_t i = 0; i < n; i++) {
                if (jobs[i].done)
                    continue;
                if (json)
                    printf("{\"account_id\":%lld,\"job_id\":\"%s\",\"outcome\":\"unfinished\"}\n",
                           (long long)jobs[i].account_id, jobs[i].job_id);
                else
                    printf("%lld %s unfinished\n", (long long)jobs[i].account_id, jobs[i].job_id);
            }
            fflush(stdout);
            iq_app_error(app,
                         "check: %zu of %zu job(s) unfinished after %s; are workers running? "
                         "('inboxq status' shows them and the consumer lag)",
                         pending, n, t);
            rc = EX_TEMPFAIL;
            break;
        }
        struct timespec ts = {0, POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    iq_buf_release(&ids);
    free(by_id);
    if (rc == 0 && failed > 0)
        rc = IQ_EXIT_CHECK_FAILED;
    return rc;
}

static int check_jobs(iq_app *app, job *jobs, size_t n, bool all, bool wait, int64_t timeout_ms,
                      bool json)
{
    PGconn *c = NULL;
    int pg_rc = iq_app_connect_pg(app, &c);
    if (pg_rc != 0) {
        free(jobs);
        return pg_rc;
    }
    int rc = load_accounts(app, c, all, &jobs, &n);
    if (rc == 0 && n == 0)
        iq_app_error(app, "check: no active accounts; nothing to publish");
    if (rc == 0 && n > 0)
        rc = publish(app, jobs, n, json);
    if (rc == 0 && n > 0 && wait)
        rc = wait_outcomes(app, c, jobs, n, timeout_ms, json);
    iq_pg_close(&c);
    free(jobs);
    return rc;
}

int iq_cmd_check(iq_app *app, int argc, char **argv)
{
    static const struct option opts[] = {{"direct", no_argument, NULL, 'd'},
                                         {"all", no_argument, NULL, 'a'},
                                         {"wait", no_argument, NULL, 'w'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool direct = false, json = false, all = false, wait = false, timeout_set = false;
    int64_t timeout_ms = WAIT_DEFAULT_MS;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            direct = true;
            break;
        case 'a':
            all = true;
            break;
        case 'w':
            wait = true;
            break;
        case 't':
            if (iq_parse_duration_ms(optarg, &timeout_ms) < 0 || timeout_ms < 1 ||
                timeout_ms > 7 * 86400 * 1000LL) {
                iq_app_error(app,
                             "check: --timeout must be seconds or a duration such as 500ms, "
                             "30s, 5m (up to 7d), not '%s'",
                             optarg);
                return EX_USAGE;
            }
            timeout_set = true;
            break;
        case 'f':
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0) {
                iq_app_error(app, "check: --format must be text or json, not '%s'", optarg);
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
    if (timeout_set && !wait) {
        iq_app_error(app, "check: --timeout goes with --wait; see 'inboxq check --help'");
        return EX_USAGE;
    }
    size_t n = (size_t)(argc - optind);
    if (direct) {
        if (all || wait) {
            iq_app_error(app, "check: --direct checks one account in this process; --all and "
                              "--wait are for jobs");
            return EX_USAGE;
        }
        if (n != 1) {
            iq_app_error(app, "check: --direct checks one account: give its code or name; see "
                              "'inboxq check --help'");
            return EX_USAGE;
        }
        return check_direct(app, argv[optind], json);
    }
    if (all == (n > 0)) {
        iq_app_error(app,
                     "check: give account codes or names, or --all (not both); see 'inboxq check "
                     "--help'");
        return EX_USAGE;
    }
    job *jobs = iq_xcalloc(n > 0 ? n : 1, sizeof(*jobs));
    for (size_t i = 0; i < n; i++)
        jobs[i].ref = argv[optind + (int)i];
    size_t k = n;
    return check_jobs(app, jobs, k, all, wait, timeout_ms, json);
}
