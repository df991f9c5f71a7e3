/* SPDX-License-Identifier: MIT */
/* A whole check: run record, account and credential, connection, protocol, outcome. */
#include "check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <libpq-fe.h>

#include "account.h"
#include "inbox.h"
#include "log.h"
#include "net.h"
#include "pg.h"
#include "proxy.h"
#include "oauth.h"
#include "session.h"
#include "util.h"
#include "keyring.h"
#include "vault.h"

/* The run record's start, and in the same statement what the check reads first: the account,
 * its credential's sealed columns and the folder's stored state, in one row. */
#define BEGIN_STMT "iq_check_begin"
static const char begin_sql[] =
    "WITH run AS (INSERT INTO check_runs (job_id, account_id, worker, started_at, requested_by) "
    "VALUES ($1, $2, $3, clock_timestamp(), $4) ON CONFLICT (job_id) DO UPDATE SET worker = "
    "EXCLUDED.worker WHERE check_runs.finished_at IS NULL RETURNING id) "
    "SELECT " IQ_ACCOUNT_COLS ", " IQ_VAULT_OPEN_COLS ", " IQ_VAULT_TYPE_COLS
    ", ms.uidvalidity, ms.highest_uid, "
    "ms.account_id IS NOT NULL, (SELECT id FROM run) IS NOT NULL, a.consecutive_failures, "
    "a.check_interval_s "
    "FROM (SELECT $2::bigint AS id) k LEFT JOIN mail_accounts a ON a.id = k.id "
    "LEFT JOIN credentials cr ON cr.id = a.credential_id "
    "LEFT JOIN mailbox_state ms ON ms.account_id = a.id AND ms.mailbox = a.folder";
enum {
    BEGIN_CRED = IQ_ACCOUNT_NCOLS,
    BEGIN_STATE = BEGIN_CRED + IQ_VAULT_OPEN_NCOLS + IQ_VAULT_TYPE_NCOLS, /* uidvalidity,
                                                                highest_uid, found */
    BEGIN_RUN = BEGIN_STATE + 3,    /* whether the run (re)started */
    BEGIN_FAILURES = BEGIN_RUN + 1, /* failed checks in a row before this one */
    BEGIN_INTERVAL = BEGIN_RUN + 2, /* the account's check interval (s) */
};

/* Starts the run record; 1 when the job already finished (nothing to do), 0 to go on with
 * *begin_r (one row, see begin_sql; the caller clears it). */
static int run_begin(PGconn *c, const iq_check_env *env, int64_t account_id, const char *job_id,
                     const char *requested_by, PGresult **begin_r, iq_check_result *res,
                     char **error_r)
{
    char acct[24];
    snprintf(acct, sizeof(acct), "%lld", (long long)account_id);
    const char *p[] = {job_id, acct, env->worker, requested_by};
    PGresult *r = iq_pg_query_prepared(c, BEGIN_STMT, begin_sql, 4, p, error_r);
    if (!r)
        return -1;
    if (iq_pg_bool(r, 0, BEGIN_RUN)) {
        *begin_r = r;
        return 0;
    }
    PQclear(r);
    const char *q[] = {job_id};
    r = iq_pg_query(c,
                    "SELECT outcome, error_class, error, messages_new, messages_deleted, bytes "
                    "FROM check_runs WHERE job_id = $1",
                    1, q, error_r);
    if (!r)
        return -1;
    if (PQntuples(r) == 1) {
        const char *o = iq_pg_str(r, 0, 0);
        res->outcome = o && strcmp(o, "ok") == 0        ? "ok"
                       : o && strcmp(o, "partial") == 0 ? "partial"
                                                        : "failed";
        res->error_class = iq_err_from_name(iq_pg_str(r, 0, 1));
        const char *err = iq_pg_str(r, 0, 2);
        res->error = err ? iq_xstrdup(err) : NULL;
        res->messages_new = (int)iq_pg_i64(r, 0, 3);
        res->messages_deleted = (int)iq_pg_i64(r, 0, 4);
        res->bytes = (uint64_t)iq_pg_i64(r, 0, 5);
    }
    PQclear(r);
    res->already_done = true;
    return 1;
}

/* The run's end and the account's status in one statement (one commit). */
#define FINISH_STMT "iq_check_finish"
static const char finish_sql[] =
    "WITH run AS (UPDATE check_runs SET finished_at = clock_timestamp(), outcome = $2, "
    "error_class = $3, error = $4, messages_new = $5, messages_deleted = $6, "
    "messages_skipped = $7, bytes = $8, tls_version = $9, tls_cipher = $10, "
    "tls_fingerprint = $11, duration_ms = $12 WHERE job_id = $1) "
    "UPDATE mail_accounts SET last_check_at = now(), last_status = $2, "
    "last_error_class = $3, last_error = $4, "
    "last_success_at = CASE WHEN $2 = 'ok' THEN now() ELSE last_success_at END, "
    /* after a failure, the back-off policy (error.h) computed the delays: $14 is the floor of
       a failure that needs an operator (a refused login: never hammer a server into locking
       the account), $15 the quick retry of a transient one */
    "next_check_at = CASE WHEN $2 = 'ok' AND consecutive_failures = 0 THEN next_check_at "
    /* back to the normal rhythm after the scheduler backed off */
    "WHEN $2 = 'ok' THEN least(next_check_at, now() + make_interval(secs => "
    "check_interval_s)) "
    "WHEN $14::bigint IS NOT NULL THEN greatest(next_check_at, now() + "
    "make_interval(secs => $14::bigint / 1000.0)) "
    "WHEN $15::bigint IS NOT NULL THEN now() + make_interval(secs => $15::bigint / 1000.0) "
    "ELSE next_check_at END, "
    "consecutive_failures = CASE WHEN $2 = 'ok' THEN 0 ELSE consecutive_failures + 1 "
    "END WHERE id = $13";

/* The delays after a failure of an account checked every interval_s whose `failures` checks
 * before this one failed: the floor (IQ_BACKOFF_OPERATOR) or the quick retry (transient), in
 * ms as text; "" when none. */
static void failure_delays(const iq_check_env *env, const iq_check_result *res, int64_t interval_s,
                           int64_t failures, char floor_r[24], char retry_r[24])
{
    floor_r[0] = retry_r[0] = '\0';
    if (res->error_class == IQ_OK || failures < 0)
        return;
    iq_backoff_policy pol;
    iq_backoff_policy_init(&pol, env->cfg);
    if (iq_err_backoff(res->error_class) == IQ_BACKOFF_OPERATOR) {
        snprintf(floor_r, 24, "%lld",
                 (long long)iq_backoff_ms(&pol, res->error_class, interval_s, failures + 1));
        return;
    }
    int64_t retry = iq_backoff_retry_ms(&pol, res->error_class, interval_s, failures);
    if (retry < 0)
        return;
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        rnd = UINT32_MAX / 2;
    /* spread retries of accounts that failed together: 0.75 to 1.25 times the delay */
    double jitter = 0.75 + 0.5 * ((double)rnd / (double)UINT32_MAX);
    snprintf(retry_r, 24, "%lld", (long long)((double)retry * jitter));
}

static void run_finish(PGconn *c, const iq_check_env *env, int64_t account_id, const char *job_id,
                       iq_check_result *res, int64_t interval_s, int64_t failures)
{
    char floor_ms[24], retry_ms[24];
    failure_delays(env, res, interval_s, failures, floor_ms, retry_ms);
    char acct[24], n_new[16], n_del[16], n_skip[16], bytes[24], dur[24];
    snprintf(acct, sizeof(acct), "%lld", (long long)account_id);
    snprintf(n_new, sizeof(n_new), "%d", res->messages_new);
    snprintf(n_del, sizeof(n_del), "%d", res->messages_deleted);
    snprintf(n_skip, sizeof(n_skip), "%d", res->messages_skipped);
    snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)res->bytes);
    snprintf(dur, sizeof(dur), "%lld", (long long)res->duration_ms);
    const char *p[] = {job_id,
                       res->outcome,
                       res->error_class ? iq_err_name(res->error_class) : NULL,
                       res->error,
                       n_new,
                       n_del,
                       n_skip,
                       bytes,
                       res->tls_used ? res->tls.version : NULL,
                       res->tls_used ? res->tls.cipher : NULL,
                       res->tls_used ? res->tls.fingerprint : NULL,
                       dur,
                       acct,
                       floor_ms[0] ? floor_ms : NULL,
                       retry_ms[0] ? retry_ms : NULL};
    char *err = NULL;
    PGresult *r = iq_pg_query_prepared(c, FINISH_STMT, finish_sql, 15, p, &err);
    if (!r) {
        IQ_ERROR("recording the run failed: %s", err);
        free(err);
    }
    PQclear(r);
}

/* An OAuth2 login: the token step, then the session with the SASL hooks. */
static int oauth_login_run(iq_session *s, const iq_account *a, const PGresult *cred, int col,
                           const char *user, const char *secret)
{
    iq_oauth_cred oc;
    char *err = NULL;
    int rc = -1;
    if (a->auth == IQ_AUTH_PASSWORD)
        return iq_session_fail(s, IQ_ERR_CONFIG,
                               "account '%s' signs in with a password, but its credential is "
                               "OAuth2; set --auth auto, xoauth2 or oauthbearer",
                               a->name);
    iq_err st = iq_vault_oauth_from_secret(a->credential_id, iq_pg_str(cred, 0, col), user,
                                           iq_pg_str(cred, 0, col + IQ_VAULT_OPEN_NCOLS + 1),
                                           secret, &oc, &err);
    if (st != IQ_OK) {
        iq_session_fail(s, IQ_ERR_CONFIG, "credential of account '%s': %s", a->name, err);
        free(err);
        return -1;
    }
    iq_oauth_step *step = iq_xcalloc(1, sizeof(*step));
    st = iq_oauth_token(s->pg, s->env, a, &oc, NULL, &s->token, step, &err);
    if (st != IQ_OK) {
        iq_session_fail(s, st, "OAuth2 token for '%s' (%s grant at %s): %s", oc.username,
                        iq_grant_name(oc.grant), step->endpoint, err);
        free(err);
    } else {
        s->oauth = &oc;
        s->oauth_step = step;
        s->username = oc.username;
        s->password = NULL;
        rc = iq_session_run(s, a->protocol == IQ_PROTO_IMAP ? &iq_imap_driver : &iq_pop3_driver);
    }
    if (s->probe_step_r) {
        *s->probe_step_r = *step; /* what the last token step did (a retry's, after one) */
        memset(step, 0, sizeof(*step));
    }
    iq_oauth_step_release(step);
    free(step);
    iq_secret_free(&s->token);
    s->oauth = NULL;
    s->oauth_step = NULL;
    s->username = NULL;
    iq_oauth_cred_release(&oc);
    return rc;
}

/* Opens the account's credential (from the columns IQ_VAULT_OPEN_COLS and IQ_VAULT_TYPE_COLS
 * at col of cred's first row when the caller read them already, else from PostgreSQL), logs
 * in and runs. */
int iq_session_login_run(iq_session *s, const iq_account *a, const PGresult *cred, int col)
{
    char *user = NULL, *pass = NULL, *err = NULL;
    const iq_keyring one = {s->env->master_key, 1},
                     *ring = s->env->keyring ? s->env->keyring : &one;
    PGresult *own = NULL;
    if (!cred) {
        char idbuf[32];
        snprintf(idbuf, sizeof(idbuf), "%lld", (long long)a->credential_id);
        const char *params[] = {idbuf};
        own = iq_pg_query(s->pg,
                          "SELECT " IQ_VAULT_OPEN_COLS ", " IQ_VAULT_TYPE_COLS
                          " FROM credentials cr WHERE cr.id = $1::bigint",
                          1, params, &err);
        if (!own) {
            s->account = a;
            iq_session_fail(s, IQ_ERR_STORAGE, "reading the credential: %s", err);
            free(err);
            s->account = NULL;
            return -1;
        }
        cred = own;
        col = 0;
    }
    iq_err st = iq_vault_open_row_ring(ring, a->credential_id, cred, 0, col, &user, &pass, &err);
    int rc = -1;
    s->account = a;
    bool oauth2 = iq_vault_row_is_oauth2(cred, 0, col + IQ_VAULT_OPEN_NCOLS);
    if (st != IQ_OK) {
        iq_session_fail(s, IQ_ERR_CONFIG, "credential of account '%s': %s", a->name, err);
        free(err);
    } else if (oauth2) {
        rc = oauth_login_run(s, a, cred, col, user, pass);
    } else if (a->auth == IQ_AUTH_XOAUTH2 || a->auth == IQ_AUTH_OAUTHBEARER) {
        iq_session_fail(s, IQ_ERR_CONFIG,
                        "account '%s' signs in with %s, but its credential holds a password; "
                        "give it an OAuth2 credential or set --auth auto",
                        a->name, iq_auth_method_name(a->auth));
    } else {
        s->username = user;
        s->password = pass;
        rc = iq_session_run(s, a->protocol == IQ_PROTO_IMAP ? &iq_imap_driver : &iq_pop3_driver);
    }
    iq_secret_free(&user);
    iq_secret_free(&pass);
    s->username = s->password = NULL;
    s->account = NULL;
    PQclear(own);
    return rc;
}

int iq_session_open_account(iq_session *s, PGconn *c, const iq_check_env *env, int64_t account_id,
                            iq_check_result *res, iq_account *a_r)
{
    char *err = NULL;
    iq_session_init(s, c, env, NULL, true, res);
    int found = iq_account_load(c, account_id, a_r, &err);
    if (found > 0)
        return 0;
    iq_session_fail(s, found < 0 ? IQ_ERR_STORAGE : IQ_ERR_NOT_FOUND, "%s",
                    found < 0 ? err : "no such account");
    free(err);
    return -1;
}

int iq_check_probe(PGconn *c, const iq_check_env *env, int64_t account_id, iq_check_result *res,
                   iq_probe *probe_r)
{
    memset(probe_r, 0, sizeof(*probe_r));
    iq_session s;
    iq_account a;
    if (iq_session_open_account(&s, c, env, account_id, res, &a) < 0)
        return -1;
    iq_oauth_step step;
    memset(&step, 0, sizeof(step));
    s.probe_step_r = &step;
    int rc = iq_session_login_run(&s, &a, NULL, 0);
    iq_account_release(&a);
    if (step.endpoint[0]) {
        probe_r->oauth_endpoint = iq_xstrdup(step.endpoint);
        probe_r->oauth_grant = step.grant;
        probe_r->oauth_expires_at = step.expires_at;
        probe_r->oauth_scope = step.scope;
        probe_r->oauth_cached = step.from_cache;
        step.expires_at = step.scope = NULL;
    }
    iq_oauth_step_release(&step);
    probe_r->capabilities = s.capabilities;
    probe_r->messages = s.probe_messages;
    probe_r->bytes = s.probe_bytes;
    return rc;
}

void iq_probe_release(iq_probe *p)
{
    free(p->capabilities);
    free(p->oauth_endpoint);
    free(p->oauth_expires_at);
    free(p->oauth_scope);
    memset(p, 0, sizeof(*p));
}

/* The check with what run_begin read (its row r, which this clears): over a session of its
 * own (login), or over the held IDLE session `held` (after DONE; no login) when there is one. */
static int check_loaded(PGconn *c, const iq_check_env *env, const char *job_id, PGresult *r,
                        const iq_held *held, bool *more_r, iq_check_result *res)
{
    iq_session s;
    iq_session_init(&s, c, env, job_id, false, res);
    int rc;
    if (PQgetisnull(r, 0, 0)) {
        rc = iq_session_fail(&s, IQ_ERR_NOT_FOUND, "%s", "no such account");
    } else {
        iq_account a;
        iq_account_from_row(r, 0, &a);
        s.state_loaded = true;
        s.state_found = iq_pg_bool(r, 0, BEGIN_STATE + 2);
        s.state_uidvalidity = iq_pg_i64(r, 0, BEGIN_STATE);
        s.state_highest = iq_pg_i64(r, 0, BEGIN_STATE + 1);
        if (held && a.protocol == IQ_PROTO_IMAP) {
            s.capabilities = held->caps ? iq_xstrdup(held->caps) : NULL;
            res->tls_used = held->tls != NULL;
            if (held->tls)
                res->tls = *held->tls;
            s.account = &a;
            rc = iq_imap_check_held(&s, held->imap, more_r);
            s.account = NULL;
        } else {
            rc = iq_session_login_run(&s, &a, r, BEGIN_CRED);
        }
        iq_account_release(&a);
    }
    PQclear(r);
    free(s.capabilities);
    return rc;
}

int iq_check_run(PGconn *c, const iq_check_env *env, int64_t account_id, const char *job_id,
                 iq_check_result *res)
{
    return iq_check_run_as(c, env, account_id, job_id, NULL, res);
}

/* One check: the run record, the check (over `held` when not NULL), the outcome. */
static int check_job(PGconn *c, const iq_check_env *env, int64_t account_id, const char *job_id,
                     const char *requested_by, const iq_held *held, bool *more_r,
                     iq_check_result *res)
{
    memset(res, 0, sizeof(*res));
    int64_t start = iq_now_mono_ms();
    char *err = NULL;
    iq_log_ctx_set(job_id, account_id);
    PGresult *loaded = NULL;
    int begun = run_begin(c, env, account_id, job_id, requested_by ? requested_by : env->worker,
                          &loaded, res, &err);
    if (begun != 0) {
        if (begun < 0) {
            res->outcome = "failed";
            res->error_class =
                strcmp(iq_pg_last_sqlstate(), "23503") == 0 ? IQ_ERR_NOT_FOUND : IQ_ERR_STORAGE;
            res->error = err;
            return -1;
        }
        return strcmp(res->outcome, "ok") == 0 ? 0 : -1;
    }
    /* the account's rhythm, for the back-off after a failure (-1: no such account) */
    int64_t interval_s = 0, failures = -1;
    if (!PQgetisnull(loaded, 0, 0)) {
        interval_s = iq_pg_i64(loaded, 0, BEGIN_INTERVAL);
        failures = iq_pg_i64(loaded, 0, BEGIN_FAILURES);
    }
    int rc = check_loaded(c, env, job_id, loaded, held, more_r, res);
    res->duration_ms = iq_now_mono_ms() - start;
    res->outcome = rc == 0 ? "ok" : res->messages_new > 0 ? "partial" : "failed";
    if (res->error_class)
        iq_log_ctx_error_class(iq_err_name(res->error_class));
    if (rc == 0)
        IQ_INFO("check ok: %d new, %d deleted, %d skipped", res->messages_new,
                res->messages_deleted, res->messages_skipped);
    else
        IQ_WARN("check %s (%s): %s", res->outcome, iq_err_name(res->error_class), res->error);
    run_finish(c, env, account_id, job_id, res, interval_s, failures);
    if (res->messages_new > 0 && env->redis) {
        res->cache_write = 1;
        if (iq_inbox_refresh(c, env->redis, env->redis_prefix, account_id, env->inbox_cache_size,
                             &err) < 0) {
            IQ_WARN("inbox listing not refreshed: %s", err);
            free(err);
            res->cache_write = -1;
        }
    }
    iq_log_ctx_set(NULL, 0);
    return rc;
}

int iq_check_run_as(PGconn *c, const iq_check_env *env, int64_t account_id, const char *job_id,
                    const char *requested_by, iq_check_result *res)
{
    bool more = false;
    return check_job(c, env, account_id, job_id, requested_by, NULL, &more, res);
}

int iq_check_run_on(PGconn *c, const iq_check_env *env, int64_t account_id, const char *job_id,
                    const char *requested_by, const iq_held *held, bool *more_r,
                    iq_check_result *res)
{
    *more_r = false;
    return check_job(c, env, account_id, job_id, requested_by, held, more_r, res);
}
