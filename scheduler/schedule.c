/* SPDX-License-Identifier: MIT */
/* The scheduler's ticks: claim due accounts and report schedules, publish their jobs, and move
 * each row on only after Kafka confirmed its job, all while the claimed rows stay locked. */
#include "schedule.h"
#include "sched.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "buf.h"
#include "cron.h"
#include "exitcode.h"
#include "kafka.h"
#include "log.h"
#include "messages.h"
#include "pg.h"
#include "publish.h"
#include "reports.h"
#include "sweep.h"
#include "util.h"

#define REQUESTED_BY "scheduler"
/* A schedule whose cron or filters cannot be used is tried again this much later (one error
 * line an hour instead of one a tick). */
#define BAD_SCHEDULE_RETRY "1 hour"
/* Longest wait for a row lock (see session_setup). */
#define LOCK_TIMEOUT "30s"
/* The report sweeper runs at most this often. */
#define SWEEP_EVERY_MS 1000

/* --- randomness for jitter (xorshift64*, seeded from the kernel) ------------------------- */

static uint64_t rng_next(uint64_t *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * UINT64_C(0x2545F4914F6CDD1D);
}

/* Uniform in [0, 1). */
static double rng_unit(uint64_t *x)
{
    return (double)(rng_next(x) >> 11) * (1.0 / 9007199254740992.0);
}

static uint64_t rng_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
        seed = (uint64_t)iq_now_real_ms() ^ ((uint64_t)getpid() << 32);
    return seed ? seed : UINT64_C(0x9E3779B97F4A7C15);
}

/* Milliseconds from now to an account's next check: the back-off policy's delay (error.h)
 * after `failures` failures in a row, the last of class last, shifted by up to ±10% (at most the
 * jitter cap) so accounts sharing an interval spread out. */
static int64_t next_delay_ms(iq_sched *s, int64_t interval_s, int64_t failures, iq_err last)
{
    int64_t base_ms = iq_backoff_ms(&s->backoff, last, interval_s, failures);
    int64_t j = base_ms / 10;
    if (j > s->jitter_max_ms)
        j = s->jitter_max_ms;
    double shift = (rng_unit(&s->rng) * 2.0 - 1.0) * (double)j;
    return base_ms + (int64_t)shift;
}

/* --- set-up ------------------------------------------------------------------------------ */

/* A statement that waits on a lock errors out instead of hanging: the stop signals stay
 * blocked while a batch runs, so a hang could not even be interrupted. */
static int session_setup(PGconn *c)
{
    char *err = NULL;
    if (iq_pg_exec(c, "SET lock_timeout = '" LOCK_TIMEOUT "'", 0, NULL, &err) < 0) {
        IQ_ERROR("PostgreSQL session set-up: %s", err);
        free(err);
        return -1;
    }
    return 0;
}

static int ensure_pg(iq_sched *s)
{
    if (s->pg && !iq_pg_connection_lost(s->pg) && s->side && !iq_pg_connection_lost(s->side))
        return 0;
    iq_pg_close(&s->pg);
    iq_pg_close(&s->side);
    const char *dsn = iq_config_str(s->cfg, IQ_SET_PG_DSN);
    int64_t timeout = iq_config_int(s->cfg, IQ_SET_PG_CONNECT_TIMEOUT);
    char *err = NULL;
    if (iq_pg_connect(dsn, timeout, &s->pg, &err) != IQ_PG_OK ||
        iq_pg_connect(dsn, timeout, &s->side, &err) != IQ_PG_OK) {
        if (!s->pg_down_logged)
            IQ_ERROR("%s; retrying every tick", err);
        s->pg_down_logged = true;
        free(err);
        iq_pg_close(&s->pg);
        iq_pg_close(&s->side);
        return -1;
    }
    if (session_setup(s->pg) < 0 || session_setup(s->side) < 0) {
        iq_pg_close(&s->pg);
        iq_pg_close(&s->side);
        return -1;
    }
    if (s->pg_down_logged)
        IQ_INFO("PostgreSQL is reachable again");
    s->pg_down_logged = false;
    return 0;
}

iq_sched *iq_sched_new(const iq_config *cfg, const sigset_t *stop_signals, int *exit_r,
                       char **error_r)
{
    iq_sched *s = iq_xcalloc(1, sizeof(*s));
    s->cfg = cfg;
    s->stop_set = *stop_signals;
    s->topic_check = iq_config_str(cfg, IQ_SET_TOPIC_CHECK);
    s->topic_report = iq_config_str(cfg, IQ_SET_TOPIC_REPORT);
    s->tick_ms = iq_config_int(cfg, IQ_SET_SCHEDULER_TICK);
    s->batch = iq_config_int(cfg, IQ_SET_SCHEDULER_BATCH);
    s->kafka_timeout_ms = iq_config_int(cfg, IQ_SET_KAFKA_TIMEOUT);
    s->jitter_max_ms = iq_config_int(cfg, IQ_SET_SCHEDULER_JITTER_MAX);
    iq_backoff_policy_init(&s->backoff, cfg);
    s->sweep_after_ms = iq_config_int(cfg, IQ_SET_REPORT_SWEEP_AFTER);
    s->sweep_attempts = iq_config_int(cfg, IQ_SET_REPORT_SWEEP_ATTEMPTS);
    s->rng = rng_seed();
    atomic_store(&s->pg_ok, true);
    atomic_store(&s->kafka_ok, true);
    if (!*s->topic_check || !*s->topic_report) {
        *error_r = iq_xasprintf("topic_check and topic_report (INBOXQ_TOPIC_CHECK, "
                                "INBOXQ_TOPIC_REPORT) must not be empty");
        *exit_r = EX_CONFIG;
        goto fail;
    }
    s->producer = iq_kafka_producer_new(cfg, error_r);
    if (!s->producer) {
        *exit_r = EX_CONFIG;
        goto fail;
    }
    char *err = NULL;
    const char *dsn = iq_config_str(cfg, IQ_SET_PG_DSN);
    int64_t timeout = iq_config_int(cfg, IQ_SET_PG_CONNECT_TIMEOUT);
    iq_pg_status st = iq_pg_connect(dsn, timeout, &s->pg, &err);
    if (st == IQ_PG_OK)
        st = iq_pg_connect(dsn, timeout, &s->side, &err);
    if (st != IQ_PG_OK) {
        *error_r = err;
        *exit_r = st == IQ_PG_ERR_DSN ? EX_CONFIG : EX_UNAVAILABLE;
        goto fail;
    }
    if (session_setup(s->pg) < 0 || session_setup(s->side) < 0) {
        *error_r = iq_xstrdup("PostgreSQL session set-up failed (see the log)");
        *exit_r = EX_UNAVAILABLE;
        goto fail;
    }
    return s;
fail:
    iq_sched_free(&s);
    return NULL;
}

void iq_sched_free(iq_sched **sp)
{
    iq_sched *s = *sp;
    if (!s)
        return;
    iq_kafka_producer_free(&s->producer);
    for (size_t i = 0; i < s->n_parked; i++)
        free(s->parked[i]);
    free(s->parked);
    iq_pg_close(&s->pg);
    iq_pg_close(&s->side);
    free(s);
    *sp = NULL;
}

bool iq_sched_stopping(iq_sched *s)
{
    if (!s->stop) {
        struct timespec zero = {0, 0};
        int sig = sigtimedwait(&s->stop_set, NULL, &zero);
        if (sig > 0) {
            IQ_INFO("signal %d: finishing the current batch, then stopping", sig);
            s->stop = true;
        }
    }
    return s->stop;
}

/* Sleeps ms or until a stop signal; true when stopping. */
static bool sleep_or_stop(iq_sched *s, int64_t ms)
{
    int64_t deadline = iq_now_mono_ms() + ms;
    while (!s->stop) {
        int64_t left = deadline - iq_now_mono_ms();
        if (left <= 0)
            break;
        struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
        int sig = sigtimedwait(&s->stop_set, NULL, &ts);
        if (sig > 0) {
            IQ_INFO("signal %d: stopping", sig);
            s->stop = true;
        } else if (errno != EINTR && errno != EAGAIN) {
            IQ_ERROR("sigtimedwait: %s", IQ_STRERROR(errno));
            s->stop = true;
        }
    }
    return s->stop;
}

/* --- check jobs -------------------------------------------------------------------------- */

/* One batch of due accounts. *more_r: the batch was full and all went well (go on). */
static int check_batch(iq_sched *s, iq_sched_stats *st, bool *more_r)
{
    *more_r = false;
    char *err = NULL, lim[24];
    job_slot *jobs = NULL;
    bool parked = false;
    int n = 0, ok = 0, ret = -1;
    iq_buf ids, delays;
    iq_buf_init(&ids, 64 * 1024 * 1024);
    iq_buf_init(&delays, 64 * 1024 * 1024);
    snprintf(lim, sizeof(lim), "%lld", (long long)s->batch);
    if (iq_pg_begin(s->pg, &err) < 0)
        goto db_fail;
    PGresult *r =
        iq_pg_query(s->pg,
                    "SELECT id, check_interval_s, consecutive_failures, "
                    "CASE WHEN last_status <> 'ok' THEN last_error_class END "
                    "FROM mail_accounts WHERE active AND auto_check AND next_check_at <= now() "
                    "ORDER BY next_check_at LIMIT $1 FOR NO KEY UPDATE SKIP LOCKED",
                    1, (const char *const[]){lim}, &err);
    if (!r)
        goto db_fail;
    n = PQntuples(r);
    if (n == 0) {
        PQclear(r);
        ret = iq_pg_commit(s->pg, &err);
        if (ret < 0)
            goto db_fail;
        goto out;
    }
    jobs = iq_xcalloc((size_t)n, sizeof(*jobs));
    int64_t now_ms = iq_now_real_ms(), t_claimed = iq_now_mono_ms();
    for (int i = 0; i < n; i++) {
        job_slot *j = &jobs[i];
        j->id = iq_pg_i64(r, i, 0);
        j->delay_ms = next_delay_ms(s, iq_pg_i64(r, i, 1), iq_pg_i64(r, i, 2),
                                    iq_err_from_name(iq_pg_str(r, i, 3)));
        j->state = IQ_DELIVERY_FAILED;
        json_t *job =
            iq_msg_check_job_new(NULL, j->id, now_ms, REQUESTED_BY, "scheduled", 1, 0, &err);
        if (!job) {
            IQ_ERROR("account %lld: cannot build its check job: %s", (long long)j->id, err);
            free(err);
            err = NULL;
            continue;
        }
        iq_sched_queue(s, s->topic_check, j->id, job, j);
        json_decref(job);
    }
    PQclear(r);
    int64_t t_queued = iq_now_mono_ms();
    parked = !iq_sched_settle(s, jobs);
    int64_t t_settled = iq_now_mono_ms();

    /* Only the accounts whose job Kafka confirmed move on; the others stay due. */
    if (iq_buf_append_char(&ids, '{') < 0 || iq_buf_append_char(&delays, '{') < 0) {
        err = iq_xstrdup("batch too large for one statement; lower scheduler_batch");
        goto db_fail;
    }
    for (int i = 0; i < n; i++) {
        if (jobs[i].state != IQ_DELIVERY_OK)
            continue;
        if ((ok > 0 &&
             (iq_buf_append_char(&ids, ',') < 0 || iq_buf_append_char(&delays, ',') < 0)) ||
            iq_buf_appendf(&ids, "%lld", (long long)jobs[i].id) < 0 ||
            iq_buf_appendf(&delays, "%lld", (long long)jobs[i].delay_ms) < 0) {
            err = iq_xstrdup("batch too large for one statement; lower scheduler_batch");
            goto db_fail;
        }
        ok++;
    }
    if (iq_buf_append_char(&ids, '}') < 0 || iq_buf_append_char(&delays, '}') < 0) {
        err = iq_xstrdup("batch too large for one statement; lower scheduler_batch");
        goto db_fail;
    }
    if (ok > 0 &&
        iq_pg_exec(s->pg,
                   "UPDATE mail_accounts AS a "
                   "SET next_check_at = now() + v.delay_ms * interval '1 millisecond' "
                   "FROM unnest($1::bigint[], $2::bigint[]) AS v(id, delay_ms) WHERE a.id = v.id",
                   2, (const char *const[]){ids.data, delays.data}, &err) < 0)
        goto db_fail;
    if (iq_pg_commit(s->pg, &err) < 0)
        goto db_fail;
    IQ_DEBUG("check batch: %d claimed, %d confirmed; queue %lld ms, delivery %lld ms, "
             "update+commit %lld ms",
             n, ok, (long long)(t_queued - t_claimed), (long long)(t_settled - t_queued),
             (long long)(iq_now_mono_ms() - t_settled));
    st->checks += ok;
    st->undelivered += n - ok;
    if (n > ok)
        IQ_WARN("%d of %d check job(s) not confirmed by Kafka; those accounts stay due", n - ok, n);
    *more_r = n == s->batch && ok == n;
    ret = ok == n ? 0 : -1;
    goto out;
db_fail:
    ret = iq_sched_batch_failed(s, st, "check batch", err, ok);
out:
    if (!parked)
        free(jobs);
    iq_buf_release(&ids);
    iq_buf_release(&delays);
    return ret;
}

/* --- report jobs ------------------------------------------------------------------------- */

/* Prepares slot's report job from its schedule row: the normalised filters text and the job
 * (report_id is filled in once the reports row exists). NULL when the schedule is unusable. */
static json_t *report_job(const PGresult *r, int row, job_slot *slot, int64_t now_ms,
                          char **filters_r)
{
    const char *cron_text = iq_pg_str(r, row, 1);
    const char *filters_text = iq_pg_str(r, row, 4);
    char *err = NULL;
    iq_cron cron;
    iq_report_filters f;
    iq_report_filters_init(&f);
    json_t *fj = NULL, *job = NULL;
    if (iq_cron_parse(cron_text ? cron_text : "", &cron, &err) < 0)
        goto bad;
    slot->next_ms = iq_cron_next(&cron, now_ms);
    if (slot->next_ms < 0) {
        err = iq_xasprintf("cron '%s' never fires again", cron_text);
        goto bad;
    }
    json_error_t jerr;
    fj = json_loads(filters_text ? filters_text : "{}", 0, &jerr);
    if (!fj) {
        err = iq_xasprintf("filters: %s", jerr.text);
        goto bad;
    }
    if (iq_msg_parse_report_filters(fj, &f, &err) < 0)
        goto bad;
    json_decref(fj);
    fj = iq_msg_report_filters_new(&f, &err);
    if (!fj)
        goto bad;
    char job_id[37];
    if (iq_uuid_v4(job_id, sizeof(job_id)) < 0) {
        err = iq_xstrdup("no randomness for a job id");
        goto bad;
    }
    /* report_id 1 stands in until the reports row exists. */
    job = iq_msg_report_job_new(job_id, 1, iq_pg_str(r, row, 2), iq_pg_str(r, row, 3), &f, slot->id,
                                now_ms, REQUESTED_BY, &err);
    if (!job)
        goto bad;
    *filters_r = iq_msg_dump(fj);
    json_decref(fj);
    iq_report_filters_release(&f);
    return job;
bad:
    IQ_ERROR("report schedule %lld (%s): %s; trying again in %s", (long long)slot->id,
             iq_pg_str(r, row, 5), err, BAD_SCHEDULE_RETRY);
    free(err);
    json_decref(fj);
    iq_report_filters_release(&f);
    slot->bad = true;
    return NULL;
}

/* Inserts the pending reports row (committed at once on the side connection, so a worker
 * that gets the job finds it) and publishes the job. */
static void dispatch_report(iq_sched *s, job_slot *slot, json_t *job, const char *filters)
{
    char *err = NULL;
    if (iq_reports_create(s->side, iq_msg_id(job), slot->id,
                          json_string_value(json_object_get(job, "format")),
                          json_string_value(json_object_get(job, "lang")), filters, REQUESTED_BY,
                          &slot->report_id, &err) < 0) {
        IQ_ERROR("report schedule %lld: cannot add its reports row: %s", (long long)slot->id, err);
        free(err);
        return;
    }
    json_object_set_new(job, "report_id", json_integer((json_int_t)slot->report_id));
    iq_sched_queue(s, s->topic_report, slot->report_id, job, slot);
}

static int report_batch(iq_sched *s, iq_sched_stats *st, bool *more_r)
{
    *more_r = false;
    char *err = NULL, lim[24];
    job_slot *jobs = NULL;
    bool parked = false;
    int n = 0, ok = 0, ret = -1;
    snprintf(lim, sizeof(lim), "%lld", (long long)s->batch);
    if (iq_pg_begin(s->pg, &err) < 0)
        goto db_fail;
    PGresult *r = iq_pg_query(s->pg,
                              "SELECT id, cron, format, lang, filters::text, name "
                              "FROM report_schedules WHERE active AND next_run_at <= now() "
                              "ORDER BY next_run_at LIMIT $1 FOR NO KEY UPDATE SKIP LOCKED",
                              1, (const char *const[]){lim}, &err);
    if (!r)
        goto db_fail;
    n = PQntuples(r);
    if (n > 0)
        jobs = iq_xcalloc((size_t)n, sizeof(*jobs));
    int64_t now_ms = iq_now_real_ms();
    for (int i = 0; i < n; i++) {
        job_slot *j = &jobs[i];
        j->id = iq_pg_i64(r, i, 0);
        j->state = IQ_DELIVERY_FAILED;
        char *filters = NULL;
        json_t *job = report_job(r, i, j, now_ms, &filters);
        if (job)
            dispatch_report(s, j, job, filters);
        json_decref(job);
        free(filters);
    }
    PQclear(r);
    if (n > 0)
        parked = !iq_sched_settle(s, jobs);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        job_slot *j = &jobs[i];
        char sid[24], next[32], rid[24];
        snprintf(sid, sizeof(sid), "%lld", (long long)j->id);
        snprintf(rid, sizeof(rid), "%lld", (long long)j->report_id);
        snprintf(next, sizeof(next), "%lld", (long long)j->next_ms);
        if (j->bad) {
            bad++;
            if (iq_pg_exec(s->pg,
                           "UPDATE report_schedules SET next_run_at = now() + "
                           "interval '" BAD_SCHEDULE_RETRY "' WHERE id = $1",
                           1, (const char *const[]){sid}, &err) < 0)
                goto db_fail;
        } else if (j->state == IQ_DELIVERY_OK) {
            ok++;
            if (iq_pg_exec(s->pg,
                           "UPDATE report_schedules SET last_run_at = now(), "
                           "next_run_at = to_timestamp($2::float8 / 1000) WHERE id = $1",
                           2, (const char *const[]){sid, next}, &err) < 0)
                goto db_fail;
        } else if (j->report_id > 0) {
            /* Not published: its row goes; the schedule stays due and tries again. */
            if (iq_reports_discard(s->side, j->report_id, &err) < 0) {
                IQ_WARN("report %s was not published and stays pending: %s", rid, err);
                free(err);
                err = NULL;
            }
        }
    }
    if (iq_pg_commit(s->pg, &err) < 0)
        goto db_fail;
    st->reports += ok;
    st->undelivered += n - ok - bad;
    if (n - ok - bad > 0)
        IQ_WARN("%d of %d report job(s) not published; those schedules stay due", n - ok - bad, n);
    *more_r = n == s->batch && ok + bad == n;
    ret = ok + bad == n ? 0 : -1;
    goto out;
db_fail:
    ret = iq_sched_batch_failed(s, st, "report batch", err, 0);
out:
    if (!parked)
        free(jobs);
    return ret;
}

/* --- ticks ------------------------------------------------------------------------------- */

int iq_sched_tick(iq_sched *s, iq_sched_stats *st)
{
    if (ensure_pg(s) < 0) {
        st->db_errors++;
        return -1;
    }
    int rc = 0;
    bool more = true;
    while (more && !iq_sched_stopping(s))
        if (check_batch(s, st, &more) < 0)
            rc = -1;
    if (iq_pg_connection_lost(s->pg))
        return -1;
    more = true;
    while (more && !iq_sched_stopping(s))
        if (report_batch(s, st, &more) < 0)
            rc = -1;
    if (iq_pg_connection_lost(s->pg) || iq_now_mono_ms() < s->next_sweep_ms)
        return rc;
    s->next_sweep_ms = iq_now_mono_ms() + SWEEP_EVERY_MS;
    more = true;
    while (more && !iq_sched_stopping(s))
        if (iq_sched_sweep_batch(s, st, &more) < 0)
            rc = -1;
    return rc;
}

int64_t iq_sched_wait_ms(iq_sched *s, int64_t tick_start_ms)
{
    int64_t wait = tick_start_ms + s->tick_ms - iq_now_mono_ms();
    if (wait <= 0 || !s->pg || iq_pg_connection_lost(s->pg))
        return wait < 0 ? 0 : wait;
    /* Rows due in the past are locked by another scheduler or were not confirmed by Kafka:
     * they wait for the next tick. Only a future due time shortens the sleep. */
    char *err = NULL;
    PGresult *r = iq_pg_query(s->pg,
                              "SELECT ceil(extract(epoch FROM least("
                              "(SELECT min(next_check_at) FROM mail_accounts "
                              " WHERE active AND auto_check AND next_check_at > now()), "
                              "(SELECT min(next_run_at) FROM report_schedules "
                              " WHERE active AND next_run_at > now())) - now()) * 1000)::bigint",
                              0, NULL, &err);
    if (!r) {
        IQ_WARN("next due time: %s", err);
        free(err);
        return wait;
    }
    if (PQntuples(r) == 1 && iq_pg_str(r, 0, 0)) {
        int64_t due = iq_pg_i64(r, 0, 0) + 2;
        if (due < 10)
            due = 10;
        if (due < wait)
            wait = due;
    }
    PQclear(r);
    return wait;
}

void iq_sched_set_metrics(iq_sched *s, iq_metrics *m)
{
    s->m_dispatched = iq_metrics_counter(m, "inboxq_scheduler_dispatched_total",
                                         "Jobs published and confirmed by Kafka, by kind",
                                         (const char *[]){"kind", NULL});
    s->m_undelivered = iq_metrics_counter(m, "inboxq_scheduler_undelivered_total",
                                          "Jobs Kafka did not confirm (their rows stay due)", NULL);
    s->m_db_errors = iq_metrics_counter(m, "inboxq_scheduler_db_errors_total",
                                        "Scheduler batches that failed in PostgreSQL", NULL);
    s->m_backlog =
        iq_metrics_gauge(m, "inboxq_scheduler_due_backlog",
                         "Active automatic-check accounts due now, after the last tick", NULL);
    s->m_tick = iq_metrics_histogram(m, "inboxq_scheduler_tick_seconds", "Wall time of one tick",
                                     NULL, NULL, 0);
    s->m_republished = iq_metrics_counter(
        m, "inboxq_scheduler_reports_republished_total",
        "Report jobs published again (same job_id) because their report stayed pending or its "
        "worker stopped, confirmed by Kafka",
        NULL);
    s->m_given_up = iq_metrics_counter(m, "inboxq_scheduler_reports_given_up_total",
                                       "Reports marked failed after report_sweep_attempts "
                                       "republished jobs brought no result",
                                       NULL);
}

iq_ready_state iq_sched_ready(void *ctx, char *reason, size_t size)
{
    iq_sched *s = ctx;
    bool pg = atomic_load(&s->pg_ok), kafka = atomic_load(&s->kafka_ok);
    if (pg && kafka)
        return IQ_READY_OK;
    snprintf(reason, size, "%s%s%s", pg ? "" : "PostgreSQL unreachable", !pg && !kafka ? ", " : "",
             kafka ? "" : "Kafka did not confirm jobs");
    return IQ_READY_NOT;
}

/* After a tick: counters, the backlog left behind, and readiness. */
static void observe_tick(iq_sched *s, const iq_sched_stats *st, int64_t ms)
{
    atomic_store(&s->kafka_ok, st->undelivered == 0);
    PGresult *r = s->pg ? iq_pg_query(s->pg,
                                      "SELECT count(*) FROM mail_accounts WHERE active AND "
                                      "auto_check AND next_check_at <= now()",
                                      0, NULL, NULL)
                        : NULL;
    atomic_store(&s->pg_ok, r != NULL && st->db_errors == 0);
    if (!s->m_dispatched) {
        PQclear(r);
        return;
    }
    if (r)
        iq_gauge_set(s->m_backlog, NULL, (double)iq_pg_i64(r, 0, 0));
    PQclear(r);
    iq_counter_add(s->m_dispatched, (const char *[]){"check"}, (double)st->checks);
    iq_counter_add(s->m_dispatched, (const char *[]){"report"}, (double)st->reports);
    iq_counter_add(s->m_undelivered, NULL, (double)st->undelivered);
    iq_counter_add(s->m_db_errors, NULL, (double)st->db_errors);
    iq_counter_add(s->m_republished, NULL, (double)st->republished);
    iq_counter_add(s->m_given_up, NULL, (double)st->given_up);
    iq_histogram_observe(s->m_tick, NULL, (double)ms / 1000.0);
}

int iq_sched_run(iq_sched *s, bool once, iq_sched_stats *total_r)
{
    iq_sched_stats total = {0};
    for (;;) {
        int64_t t0 = iq_now_mono_ms();
        iq_sched_stats st = {0};
        iq_sched_tick(s, &st);
        long long ms = (long long)(iq_now_mono_ms() - t0);
        observe_tick(s, &st, ms);
        IQ_DEBUG("tick: %lld check(s), %lld report(s) dispatched, %lld undelivered in %lld ms",
                 (long long)st.checks, (long long)st.reports, (long long)st.undelivered, ms);
        if (st.checks + st.reports > 0)
            IQ_INFO("dispatched %lld check(s) and %lld report(s) in %lld ms", (long long)st.checks,
                    (long long)st.reports, ms);
        total.checks += st.checks;
        total.reports += st.reports;
        total.undelivered += st.undelivered;
        total.db_errors += st.db_errors;
        total.republished += st.republished;
        total.given_up += st.given_up;
        if (once || iq_sched_stopping(s))
            break;
        if (sleep_or_stop(s, iq_sched_wait_ms(s, t0)))
            break;
    }
    *total_r = total;
    if (once && (total.undelivered > 0 || total.db_errors > 0))
        return EX_UNAVAILABLE;
    return 0;
}
