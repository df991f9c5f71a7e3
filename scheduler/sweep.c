/* SPDX-License-Identifier: MIT */
/* The report sweeper. A reports row is committed before its job is published, so a crash (or
 * Kafka being away) in between leaves it pending with no job anywhere; a worker that dies while
 * rendering leaves it running. Reports in either state report_sweep_after after their job was
 * last published get the job again (same job_id: a worker renders a report only from pending, so
 * the original arriving late changes nothing), claimed with FOR UPDATE SKIP LOCKED so that two
 * schedulers never both publish one; after report_sweep_attempts the report is marked failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#include "log.h"
#include "messages.h"
#include "publish.h"
#include "reports.h"
#include "sched.h"
#include "sweep.h"
#include "util.h"

/* The report job of row `row` again, from what the reports row holds (the same job_id, or a new
 * one when the row has none; *job_id_r gets it). NULL with *error_r when the row cannot make a
 * valid job. */
static json_t *job_again(const PGresult *r, int row, char *job_id_r, size_t size, char **error_r)
{
    if (iq_pg_str(r, row, IQ_STALE_JOB_ID))
        snprintf(job_id_r, size, "%s", iq_pg_str(r, row, IQ_STALE_JOB_ID));
    else if (iq_uuid_v4(job_id_r, size) < 0) {
        *error_r = iq_xstrdup("no randomness for a job id");
        return NULL;
    }
    json_error_t jerr;
    json_t *fj = json_loads(iq_pg_str(r, row, IQ_STALE_FILTERS), 0, &jerr);
    if (!fj) {
        *error_r = iq_xasprintf("its filters: %s", jerr.text);
        return NULL;
    }
    iq_report_filters f;
    iq_report_filters_init(&f);
    json_t *job = NULL;
    if (iq_msg_parse_report_filters(fj, &f, error_r) == 0)
        job = iq_msg_report_job_new(
            job_id_r, iq_pg_i64(r, row, IQ_STALE_ID), iq_pg_str(r, row, IQ_STALE_FORMAT),
            iq_pg_str(r, row, IQ_STALE_LANG), &f,
            iq_pg_str(r, row, IQ_STALE_SCHEDULE_ID) ? iq_pg_i64(r, row, IQ_STALE_SCHEDULE_ID) : 0,
            iq_pg_i64(r, row, IQ_STALE_CREATED_MS), iq_pg_str(r, row, IQ_STALE_REQUESTED_BY),
            error_r);
    iq_report_filters_release(&f);
    json_decref(fj);
    return job;
}

/* Marks report id failed with why (still under the sweeper's row lock). */
static int give_up(iq_sched *s, int64_t id, const char *why, char **error_r)
{
    IQ_ERROR("report %lld: %s", (long long)id, why);
    return iq_reports_fail(s->pg, id, why, error_r);
}

int iq_sched_sweep_batch(iq_sched *s, iq_sched_stats *st, bool *more_r)
{
    *more_r = false;
    /* A row whose creator may still be waiting for Kafka's verdict on its job is not stuck. */
    int64_t after_ms = s->sweep_after_ms;
    if (after_ms < s->kafka_timeout_ms + FLUSH_SLACK_MS)
        after_ms = s->kafka_timeout_ms + FLUSH_SLACK_MS;
    char *err = NULL;
    char every[32];
    iq_format_duration(after_ms, every, sizeof(every));
    job_slot *jobs = NULL;
    bool parked = false;
    int n = 0, queued = 0, ok = 0, gave = 0, ret = -1;
    if (iq_pg_begin(s->pg, &err) < 0)
        goto db_fail;
    PGresult *r = iq_reports_stale(s->pg, after_ms, s->batch, &err);
    if (!r)
        goto db_fail;
    n = PQntuples(r);
    if (n > 0)
        jobs = iq_xcalloc((size_t)n, sizeof(*jobs));
    /* the job id each republished job carries (a new one for a row that had none) */
    char **job_ids = n > 0 ? iq_xcalloc((size_t)n, sizeof(*job_ids)) : NULL;
    for (int i = 0; i < n; i++) {
        job_slot *j = &jobs[i];
        j->report_id = iq_pg_i64(r, i, IQ_STALE_ID);
        j->state = IQ_DELIVERY_FAILED;
        const char *id = iq_pg_str(r, i, IQ_STALE_ID);
        bool running = strcmp(iq_pg_str(r, i, IQ_STALE_STATUS), "running") == 0;
        int64_t times = iq_pg_i64(r, i, IQ_STALE_REPUBLISHED);
        char *why = NULL;
        if (times >= s->sweep_attempts) {
            const char *worker = iq_pg_str(r, i, IQ_STALE_CLAIMED_BY);
            char *what = *worker ? iq_xasprintf("its worker %s stopped while rendering it", worker)
                                 : iq_xstrdup("no worker took its job");
            why = iq_xasprintf("not rendered: %s; gave up after publishing its job again %lld "
                               "time(s), %s apart (report_sweep_attempts, report_sweep_after)",
                               what, (long long)times, every);
            free(what);
        } else {
            char job_id[37];
            char *jerr = NULL;
            json_t *job = job_again(r, i, job_id, sizeof(job_id), &jerr);
            if (!job) {
                why = iq_xasprintf("not rendered: its job cannot be published again: %s", jerr);
                free(jerr);
            } else {
                if (running)
                    IQ_WARN("report %s: its worker %s stopped while rendering it; publishing "
                            "its job again (%lld of %lld)",
                            id, iq_pg_str(r, i, IQ_STALE_CLAIMED_BY), (long long)times + 1,
                            (long long)s->sweep_attempts);
                else
                    IQ_WARN("report %s: still pending %s after its job was published; "
                            "publishing it again (%lld of %lld)",
                            id, every, (long long)times + 1, (long long)s->sweep_attempts);
                job_ids[i] = iq_xstrdup(job_id);
                iq_sched_queue(s, s->topic_report, j->report_id, job, j);
                json_decref(job);
                queued++;
            }
        }
        if (why) {
            j->bad = true;
            int rc = give_up(s, j->report_id, why, &err);
            free(why);
            if (rc < 0) {
                PQclear(r);
                for (int k = 0; k < n; k++)
                    free(job_ids[k]);
                free(job_ids);
                goto db_fail;
            }
            gave++;
        }
    }
    PQclear(r);
    if (queued > 0)
        parked = !iq_sched_settle(s, jobs);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        job_slot *j = &jobs[i];
        if (j->bad)
            continue;
        if (j->state != IQ_DELIVERY_OK) {
            failed++;
            continue;
        }
        /* Back to pending; a gone worker's claim is void (its result would not be stored),
         * claimed_by stays to say who it was. */
        if (err == NULL && iq_reports_republished(s->pg, j->report_id, job_ids[i], &err) == 0)
            ok++;
    }
    for (int i = 0; i < n; i++)
        free(job_ids[i]);
    free(job_ids);
    if (err || iq_pg_commit(s->pg, &err) < 0)
        goto db_fail;
    st->republished += ok;
    st->given_up += gave;
    st->undelivered += failed;
    if (failed > 0)
        IQ_WARN("%d of %d report job(s) not published again; those reports are tried next tick",
                failed, queued);
    *more_r = n == s->batch && failed == 0;
    ret = failed == 0 ? 0 : -1;
    goto out;
db_fail:
    ret = iq_sched_batch_failed(s, st, "report sweep", err, 0);
out:
    if (!parked)
        free(jobs);
    return ret;
}
