/* SPDX-License-Identifier: MIT */
/* What a worker does with one job: a mailbox check or a report, each idempotent, acknowledged
 * only once its results are committed; jobs that can never succeed go to the dead-letter topic. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libpq-fe.h>

#include "log.h"
#include "messages.h"
#include "idle.h"
#include "pg.h"
#include "push.h"
#include "reports.h"
#include "report.h"
#include "util.h"
#include "worker.h"

#define LOCK_WAIT_MS 60000 /* another worker checking the same account: wait this long */
/* Advisory lock keys of accounts live above 2^62, away from anything else we lock. */
#define ACCOUNT_LOCK_BASE (1LL << 62)

/* Sleeps up to ms, waking early when the worker is stopping. false when stopping. */
static bool nap(iq_worker *w, int64_t ms)
{
    int64_t until = iq_now_mono_ms() + ms;
    while (!*w->stop) {
        int64_t left = until - iq_now_mono_ms();
        if (left <= 0)
            return true;
        usleep((useconds_t)(left > 100 ? 100000 : left * 1000));
    }
    return false;
}

PGconn *iq_worker_pg(iq_slot *s)
{
    iq_worker *w = s->w;
    int64_t backoff = 250;
    while (!*w->stop) {
        if (s->pg && PQstatus(s->pg) == CONNECTION_OK)
            return s->pg;
        iq_pg_close(&s->pg);
        char *err = NULL;
        if (iq_pg_connect(iq_config_str(w->cfg, IQ_SET_PG_DSN),
                          iq_config_int(w->cfg, IQ_SET_PG_CONNECT_TIMEOUT), &s->pg,
                          &err) == IQ_PG_OK)
            return s->pg;
        IQ_WARN("slot %d: %s; retrying in %lld ms", s->index, err, (long long)backoff);
        free(err);
        if (!nap(w, backoff))
            break;
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    return NULL;
}

/* Publishes the job to the dead-letter topic, retrying until Kafka confirms or we stop. */
static bool dead_letter(iq_slot *s, const rd_kafka_message_t *m, iq_err cls, const char *why)
{
    iq_worker *w = s->w;
    iq_dead_letter dl = {
        .original_topic = rd_kafka_topic_name(m->rkt),
        .original_partition = m->partition,
        .original_offset = m->offset,
        .original_key = m->key,
        .original_key_len = m->key_len,
        .original_value = m->payload,
        .original_value_len = m->len,
        .error_class = cls,
        .error = why,
        .failed_at_ms = iq_now_real_ms(),
        .worker = w->name,
    };
    char *err = NULL;
    json_t *j = iq_msg_dead_letter_new(&dl, &err);
    if (!j) {
        IQ_ERROR("cannot build a dead letter: %s", err);
        free(err);
        return true; /* nothing better to do than to move on */
    }
    char *payload = iq_msg_dump(j);
    json_decref(j);
    char key[64] = "";
    if (m->key && m->key_len < sizeof(key))
        memcpy(key, m->key, m->key_len);
    int64_t backoff = 500;
    bool ok = false;
    while (!ok && !*w->stop) {
        ok = iq_kafka_produce_sync(w->producer, iq_config_str(w->cfg, IQ_SET_TOPIC_DEAD),
                                   key[0] ? key : NULL, payload, strlen(payload), &err) == 0;
        if (!ok) {
            IQ_WARN("dead letter not delivered (%s); retrying", err);
            free(err);
            err = NULL;
            nap(w, backoff);
            backoff = backoff * 2 > 10000 ? 10000 : backoff * 2;
        }
    }
    free(payload);
    if (ok)
        iq_counter_inc(w->metrics.dead, (const char *[]){iq_err_name(cls)});
    if (ok)
        IQ_WARN("job at %s[%d]@%lld dead-lettered (%s): %s", rd_kafka_topic_name(m->rkt),
                m->partition, (long long)m->offset, iq_err_name(cls), why);
    return ok;
}

/* pg_try_advisory_lock (lock) or pg_advisory_unlock (!lock) of the account's key. */
static int try_lock(PGconn *pg, int64_t account_id, bool lock)
{
    char key[32];
    snprintf(key, sizeof(key), "%lld", (long long)(ACCOUNT_LOCK_BASE + account_id));
    const char *p[] = {key};
    PGresult *r = lock ? iq_pg_query_prepared(pg, "iq_account_lock",
                                              "SELECT pg_try_advisory_lock($1::bigint)", 1, p, NULL)
                       : iq_pg_query_prepared(pg, "iq_account_unlock",
                                              "SELECT pg_advisory_unlock($1::bigint)", 1, p, NULL);
    if (!r)
        return -1;
    int got = iq_pg_bool(r, 0, 0);
    PQclear(r);
    return got;
}

/* The per-account lock: two workers never check one account at once, even while a rebalance
 * hands a partition over or a job is delivered twice. 1 got it, 0 busy, -1 connection trouble. */
static int lock_account(iq_slot *s, PGconn *pg, int64_t account_id)
{
    int64_t until = iq_now_mono_ms() + LOCK_WAIT_MS;
    for (;;) {
        int got = try_lock(pg, account_id, true);
        if (got != 0)
            return got;
        if (iq_now_mono_ms() > until || !nap(s->w, 200))
            return 0;
    }
}

/* A check job not due yet. A slot never sleeps on a job (every job behind it on the partition
 * would wait): the account's next check moves to not_before, and the scheduler sends it then.
 * true when done (the offset may be committed). */
static bool defer_check(iq_slot *s, const iq_check_job *job)
{
    char id[24], at[24];
    snprintf(id, sizeof(id), "%lld", (long long)job->account_id);
    snprintf(at, sizeof(at), "%lld", (long long)job->not_before_ms);
    for (;;) {
        PGconn *pg = iq_worker_pg(s);
        if (!pg)
            return false;
        char *err = NULL;
        if (iq_pg_exec(pg,
                       "UPDATE mail_accounts SET next_check_at = greatest(next_check_at, "
                       "to_timestamp($2::bigint / 1000.0)) WHERE id = $1",
                       2, (const char *const[]){id, at}, &err) == 0) {
            IQ_INFO("job %s for account %s is not due before %s ms since the epoch; left to the "
                    "scheduler",
                    job->job_id, id, at);
            return true;
        }
        bool lost = iq_pg_connection_lost(pg);
        IQ_WARN("deferring job %s: %s", job->job_id, err);
        free(err);
        if (!lost)
            return true; /* the account is gone or the row is unusable: nothing to defer */
        if (*s->w->stop)
            return false;
    }
}

static bool handle_check(iq_slot *s, const rd_kafka_message_t *m)
{
    iq_worker *w = s->w;
    iq_check_job job;
    iq_err cls = IQ_OK;
    char *err = NULL;
    if (iq_msg_parse_check_job(m->payload, m->len, &job, &cls, &err) < 0) {
        bool done = dead_letter(s, m, cls, err);
        free(err);
        return done;
    }
    if (job.not_before_ms > iq_now_real_ms())
        return defer_check(s, &job);
    for (;;) {
        PGconn *pg = iq_worker_pg(s);
        if (!pg)
            return false;
        int locked = lock_account(s, pg, job.account_id);
        if (locked < 0)
            continue; /* the connection went away: reconnect and try again */
        if (locked == 0) {
            if (*w->stop)
                return false;
            IQ_WARN("account %lld is being checked by another worker; job %s not run",
                    (long long)job.account_id, job.job_id);
            return true;
        }
        /* A push account's check runs over its held IDLE session (no new login) when this
         * worker holds it; else, or when that session just ended, over a login of its own. */
        iq_check_result res;
        iq_idle *held = iq_push_borrow(w->push, job.account_id);
        int bits = 0;
        int run = held ? iq_idle_check(pg, &s->env, job.account_id, job.job_id, job.requested_by,
                                       held, &bits, &res)
                       : IQ_IDLE_NOT_HELD;
        if (run == IQ_IDLE_NOT_HELD)
            iq_check_run_as(pg, &s->env, job.account_id, job.job_id, job.requested_by, &res);
        iq_push_return(w->push, job.account_id, held, bits);
        if (PQstatus(pg) == CONNECTION_OK)
            try_lock(pg, job.account_id, false);
        bool lost = res.error_class == IQ_ERR_STORAGE && iq_pg_connection_lost(pg);
        bool gone = res.error_class == IQ_ERR_NOT_FOUND;
        bool stored = res.messages_new > 0;
        if (stored && strcmp(job.requested_by, "push") == 0) /* requested_at: the notification */
            iq_histogram_observe(w->metrics.push_latency, NULL,
                                 (double)(iq_now_real_ms() - job.requested_at_ms) / 1000.0);
        if (!lost && !res.already_done)
            iq_worker_metrics_check(w, &res);
        iq_check_result_release(&res);
        if (stored)
            iq_worker_relay_kick(w);
        if (lost) {
            /* PostgreSQL went away mid-check: what was committed stays, the rest runs again */
            IQ_WARN("PostgreSQL connection lost during job %s; retrying it", job.job_id);
            if (!nap(w, 500))
                return false;
            continue;
        }
        if (gone)
            return dead_letter(s, m, IQ_ERR_ACCOUNT_DELETED, "the account no longer exists");
        return true;
    }
}

static const char *extension(const char *format)
{
    return strcmp(format, "pdf") == 0 ? "pdf" : strcmp(format, "html") == 0 ? "html" : "csv";
}

/* Stages the rendered report for the schedule's output directory: written and synced under
 * PATH.tmp, and PATH returned. The file takes its name (publish_output) only once the result is
 * recorded: a worker whose report was taken over, or whose result could not be stored, leaves
 * nothing there. NULL (logged) when it cannot be written. */
/* Writes data to a new temporary file in dir (created with O_EXCL, so neither a symlink
 * planted there nor a leftover file is followed or truncated) and returns the final name the
 * file gets when the result is recorded; *tmp_r is the temporary name. NULL with *why_r (the
 * reason, malloc'd) when the file cannot be written. */
static char *stage_output(const char *dir, const char *schedule, int64_t report_id,
                          const char *format, const char *data, size_t len, char **tmp_r,
                          char **why_r)
{
    char safe[64];
    size_t o = 0;
    for (const char *p = schedule; *p && o + 1 < sizeof(safe); p++)
        safe[o++] = (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                                   (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
                               ? *p
                               : '_');
    safe[o] = '\0';
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    char *path =
        iq_xasprintf("%s/%s-%s-%lld.%s", dir, safe, stamp, (long long)report_id, extension(format));
    char *tmp = iq_xasprintf("%s.XXXXXX.tmp", path);
    int fd = mkostemps(tmp, 4, O_CLOEXEC); /* O_CREAT | O_EXCL: never follows a symlink */
    bool ok = fd >= 0 && fchmod(fd, 0640) == 0;
    for (size_t off = 0; ok && off < len;) {
        ssize_t n = write(fd, data + off, len - off);
        ok = n > 0;
        off += ok ? (size_t)n : 0;
    }
    ok = ok && fsync(fd) == 0;
    int e = errno;
    if (fd >= 0 && close(fd) < 0 && ok) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        *why_r =
            iq_xasprintf("the report file could not be written in %s: %s", dir, IQ_STRERROR(e));
        IQ_WARN("report %lld: %s", (long long)report_id, *why_r);
        if (fd >= 0)
            unlink(tmp);
        free(tmp);
        free(path);
        return NULL;
    }
    *tmp_r = tmp;
    return path;
}

/* Gives a staged file its name (keep) or removes it. */
static void publish_output(const char *tmp, const char *path, bool keep)
{
    if (!keep)
        unlink(tmp);
    else if (rename(tmp, path) < 0)
        IQ_WARN("report file %s not renamed into place: %s", path, IQ_STRERROR(errno));
}

static bool handle_report(iq_slot *s, const rd_kafka_message_t *m)
{
    iq_worker *w = s->w;
    iq_report_job job;
    iq_err cls = IQ_OK;
    char *err = NULL;
    if (iq_msg_parse_report_job(m->payload, m->len, &job, &cls, &err) < 0) {
        bool done = dead_letter(s, m, cls, err);
        free(err);
        iq_report_job_release(&job);
        return done;
    }
    /* Our claim on the report: kept across retries of this job, new for every job. */
    char claim[37];
    if (iq_uuid_v4(claim, sizeof(claim)) < 0) {
        IQ_ERROR("no randomness for a claim token; report job %s not run", job.job_id);
        iq_report_job_release(&job);
        return false;
    }
    bool done = false;
    while (!done) {
        PGconn *pg = iq_worker_pg(s);
        if (!pg)
            break;
        char *dir = NULL, *sched = NULL;
        int claimed =
            iq_reports_claim(pg, job.report_id, job.job_id, s->w->name, claim, &dir, &sched, &err);
        if (claimed < 0) {
            free(err);
            err = NULL;
            if (iq_pg_connection_lost(pg) && nap(w, 500))
                continue;
            break;
        }
        if (claimed == 0) {
            char *st = NULL, *why = NULL;
            int found = iq_reports_status(pg, job.report_id, &st, &why, NULL);
            if (found < 0 && iq_pg_connection_lost(pg) && nap(w, 500))
                continue;
            if (found > 0) {
                /* a duplicate or a redelivery: another job of this report got there first */
                IQ_INFO("report %lld is already %s; job %s skipped", (long long)job.report_id, st,
                        job.job_id);
                done = true;
            } else if (found == 0) {
                done = dead_letter(s, m, IQ_ERR_REPORT_DELETED, "the report no longer exists");
            }
            free(st);
            free(why);
            break;
        }
        char *data = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&data, &len);
        iq_report_format fmt = strcmp(job.format, "pdf") == 0    ? IQ_REPORT_PDF
                               : strcmp(job.format, "html") == 0 ? IQ_REPORT_HTML
                                                                 : IQ_REPORT_CSV;
        iq_report_stats stats;
        memset(&stats, 0, sizeof(stats));
        int rc = out ? iq_report_render(pg, &job.filters, fmt, job.lang, out, &stats, &err) : -1;
        if (out)
            fclose(out);
        if (rc < 0 && iq_pg_connection_lost(pg)) {
            free(err);
            err = NULL;
            free(data);
            free(dir);
            free(sched);
            if (!nap(w, 500))
                break;
            continue;
        }
        char *path = NULL, *tmp = NULL, *why = NULL;
        if (rc == 0 && dir) {
            path = stage_output(dir, sched ? sched : "report", job.report_id, job.format, data, len,
                                &tmp, &why);
            if (!path) {
                /* a scheduled report exists to be a file: without it the report failed */
                rc = -1;
                free(err);
                err = why;
            }
        }
        int stored =
            iq_reports_finish(pg, job.report_id, claim, rc == 0 ? "done" : "failed",
                              rc == 0 ? NULL : (err ? err : "rendering failed"),
                              rc == 0 ? data : NULL, rc == 0 ? len : 0, (int64_t)stats.rows, path);
        done = stored >= 0;
        if (path)
            publish_output(tmp, path, stored > 0);
        if (stored > 0)
            iq_counter_inc(w->metrics.reports, (const char *[]){rc == 0 ? "done" : "failed"});
        if (stored > 0)
            IQ_INFO("report %lld %s: %lld rows, %zu bytes", (long long)job.report_id,
                    rc == 0 ? "rendered" : "failed", (long long)stats.rows, len);
        else if (stored == 0)
            IQ_WARN("report %lld was taken over while this worker rendered it (its job was "
                    "published again); this result is dropped",
                    (long long)job.report_id);
        free(err);
        err = NULL;
        free(data);
        free(path);
        free(tmp);
        free(dir);
        free(sched);
        if (!done && !(iq_pg_connection_lost(pg) && nap(w, 500)))
            break;
    }
    iq_report_job_release(&job);
    return done;
}

bool iq_worker_handle(iq_slot *s, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    bool report = strcmp(topic, iq_config_str(s->w->cfg, IQ_SET_TOPIC_REPORT)) == 0;
    bool done = report ? handle_report(s, m) : handle_check(s, m);
    iq_counter_inc(s->w->metrics.jobs,
                   (const char *[]){report ? "report" : "check", done ? "done" : "abandoned"});
    return done;
}
