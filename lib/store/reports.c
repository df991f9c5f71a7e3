/* SPDX-License-Identifier: MIT */
/* The reports table's lifecycle (reports.h). */
#include "reports.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#include "util.h"

static void id_text(int64_t id, char buf[24])
{
    snprintf(buf, 24, "%lld", (long long)id);
}

int iq_reports_create(PGconn *c, const char *job_id, int64_t schedule_id, const char *format,
                      const char *lang, const char *filters_json, const char *requested_by,
                      int64_t *id_r, char **error_r)
{
    char sid[24];
    id_text(schedule_id, sid);
    const char *p[] = {job_id,      schedule_id > 0 ? sid : NULL, format, lang, filters_json,
                       requested_by};
    PGresult *r = iq_pg_query(c,
                              "INSERT INTO reports (job_id, schedule_id, format, lang, filters, "
                              "status, requested_by) VALUES ($1, $2, $3, $4, $5::jsonb, "
                              "'pending', $6) RETURNING id",
                              6, p, error_r);
    if (!r)
        return -1;
    *id_r = iq_pg_i64(r, 0, 0);
    PQclear(r);
    return 0;
}

int iq_reports_discard(PGconn *c, int64_t id, char **error_r)
{
    char ids[24];
    id_text(id, ids);
    return iq_pg_exec(c, "DELETE FROM reports WHERE id = $1 AND status = 'pending'", 1,
                      (const char *const[]){ids}, error_r);
}

int iq_reports_fail(PGconn *c, int64_t id, const char *why, char **error_r)
{
    char ids[24];
    id_text(id, ids);
    return iq_pg_exec(c,
                      "UPDATE reports SET status = 'failed', error = $2, finished_at = now(), "
                      "claim = NULL WHERE id = $1",
                      2, (const char *const[]){ids, why}, error_r);
}

int iq_reports_claim(PGconn *c, int64_t id, const char *job_id, const char *worker,
                     const char *claim, char **dir_r, char **schedule_r, char **error_r)
{
    char ids[24];
    id_text(id, ids);
    *dir_r = *schedule_r = NULL;
    const char *p[] = {ids, job_id, worker, claim};
    PGresult *r = iq_pg_query(
        c,
        "UPDATE reports r SET status = 'running', job_id = coalesce(r.job_id, $2::uuid), "
        "claimed_by = $3, claimed_at = now(), claim = $4::uuid WHERE r.id = $1 AND "
        "(r.status = 'pending' OR (r.status = 'running' AND r.claim = $4::uuid)) RETURNING "
        "(SELECT output_dir FROM report_schedules WHERE id = r.schedule_id), (SELECT name FROM "
        "report_schedules WHERE id = r.schedule_id)",
        4, p, error_r);
    if (!r)
        return -1;
    int claimed = PQntuples(r) > 0;
    if (claimed) {
        if (iq_pg_str(r, 0, 0))
            *dir_r = iq_xstrdup(iq_pg_str(r, 0, 0));
        if (iq_pg_str(r, 0, 1))
            *schedule_r = iq_xstrdup(iq_pg_str(r, 0, 1));
    }
    PQclear(r);
    return claimed;
}

int iq_reports_finish(PGconn *c, int64_t id, const char *claim, const char *status,
                      const char *error, const void *data, size_t len, int64_t rows,
                      const char *path)
{
    char ids[24], nrows[24];
    id_text(id, ids);
    id_text(rows, nrows);
    const char *vals[] = {ids, status, error, data, nrows, path, claim};
    int lens[] = {0, 0, 0, (int)len, 0, 0, 0};
    int fmts[] = {0, 0, 0, 1, 0, 0, 0};
    PGresult *r = PQexecParams(c,
                               "UPDATE reports SET status = $2, error = $3, output = $4, rows = "
                               "$5, output_path = $6, finished_at = now() WHERE id = $1 AND "
                               "status = 'running' AND claim = $7::uuid",
                               7, NULL, vals, lens, fmts, 0);
    int rc = PQresultStatus(r) != PGRES_COMMAND_OK ? -1 : strcmp(PQcmdTuples(r), "0") == 0 ? 0 : 1;
    PQclear(r);
    return rc;
}

int iq_reports_status(PGconn *c, int64_t id, char **status_r, char **error_text_r, char **error_r)
{
    char ids[24];
    id_text(id, ids);
    *status_r = *error_text_r = NULL;
    PGresult *r = iq_pg_query(c, "SELECT status, coalesce(error, '') FROM reports WHERE id = $1", 1,
                              (const char *const[]){ids}, error_r);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    if (found) {
        *status_r = iq_xstrdup(iq_pg_str(r, 0, 0));
        *error_text_r = iq_xstrdup(iq_pg_str(r, 0, 1));
    }
    PQclear(r);
    return found;
}

PGresult *iq_reports_output(PGconn *c, int64_t id)
{
    char ids[24];
    id_text(id, ids);
    const char *p[] = {ids};
    PGresult *r = PQexecParams(c, "SELECT output FROM reports WHERE id = $1 AND status = 'done'", 1,
                               NULL, p, NULL, NULL, 1 /* binary: the raw bytes */);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQgetisnull(r, 0, 0)) {
        PQclear(r);
        return NULL;
    }
    return r;
}

PGresult *iq_reports_show(PGconn *c, int64_t id, char **error_r)
{
    char ids[24];
    id_text(id, ids);
    return iq_pg_query(
        c,
        "SELECT status, format, lang, filters::text, coalesce(rows::text, ''), "
        "coalesce(length(output)::text, ''), coalesce(error, ''), coalesce(requested_by, "
        "''), " IQ_SQL_TS("created_at") ", coalesce(" IQ_SQL_TS(
            "finished_at") ", ''), "
                           "coalesce(output_path, ''), job_id FROM reports WHERE id = $1",
        1, (const char *const[]){ids}, error_r);
}

PGresult *iq_reports_stale(PGconn *c, int64_t after_ms, int64_t limit, char **error_r)
{
    char after[24], lim[24];
    id_text(after_ms, after);
    id_text(limit, lim);
    return iq_pg_query(
        c,
        "SELECT r.id, r.job_id, r.format, r.lang, r.filters::text, r.schedule_id, "
        "(extract(epoch FROM r.created_at) * 1000)::bigint, coalesce(r.requested_by, 'scheduler'), "
        "r.republished, r.status, coalesce(r.claimed_by, '') FROM reports r "
        "WHERE r.status IN ('pending', 'running') "
        "AND greatest(r.created_at, r.republished_at, r.claimed_at) <= "
        "now() - $1::bigint * interval '1 millisecond' "
        "AND (r.status = 'pending' OR NOT EXISTS (SELECT 1 FROM workers w WHERE w.name = "
        "r.claimed_by AND w.heartbeat_at > now() - interval '" IQ_WORKER_GONE_SQL "' AND "
        "w.started_at <= r.claimed_at)) "
        "ORDER BY r.id LIMIT $2 FOR NO KEY UPDATE OF r SKIP LOCKED",
        2, (const char *const[]){after, lim}, error_r);
}

int iq_reports_republished(PGconn *c, int64_t id, const char *job_id, char **error_r)
{
    char rid[24];
    id_text(id, rid);
    return iq_pg_exec(c,
                      "UPDATE reports SET republished = republished + 1, republished_at = now(), "
                      "job_id = coalesce(job_id, $2::uuid), status = 'pending', claim = NULL "
                      "WHERE id = $1",
                      2, (const char *const[]){rid, job_id}, error_r);
}
