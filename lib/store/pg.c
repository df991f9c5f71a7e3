/* SPDX-License-Identifier: MIT */
/* libpq wrappers: connection with timeout and clear errors, parameterised statements. */
#include "pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#include "log.h"
#include "util.h"

static _Thread_local char t_sqlstate[8];

const char *iq_pg_last_sqlstate(void)
{
    return t_sqlstate;
}

/* libpq messages end in newlines and may span lines: keep one clean line. */
static char *one_line(const char *msg)
{
    char *s = iq_xstrdup(msg ? msg : "unknown error");
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
    return iq_conninfo_mask(s);
}

static const char *conninfo_value(PQconninfoOption *opts, const char *key)
{
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, key) == 0 && o->val && *o->val)
            return o->val;
    return NULL;
}

/* Server notices ("already exists, skipping") are not for the operator's terminal. */
/* A WARNING (a migration that fell back, saying what to run) reaches the operator; notices
 * stay at debug. */
static void notice(void *arg, const char *message)
{
    IQ_UNUSED(arg);
    if (strncmp(message, "WARNING:", 8) == 0)
        IQ_WARN("postgresql: %s", message);
    else
        IQ_DEBUG("postgresql: %s", message);
}

iq_pg_status iq_pg_connect(const char *dsn, int64_t timeout_ms, PGconn **conn_r, char **error_r)
{
    *conn_r = NULL;
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &perr);
    if (!opts) {
        char *why = one_line(perr);
        PQfreemem(perr);
        *error_r = iq_xasprintf("setting pg_dsn (INBOXQ_PG_DSN) is malformed: %s; use "
                                "'host=H port=P dbname=D user=U' or postgresql://U@H:P/D",
                                why);
        free(why);
        return IQ_PG_ERR_DSN;
    }
    char where[256];
    const char *host = conninfo_value(opts, "host");
    const char *port = conninfo_value(opts, "port");
    const char *db = conninfo_value(opts, "dbname");
    snprintf(where, sizeof(where), "%s:%s/%s", host ? host : "(default host)", port ? port : "5432",
             db ? db : "(default db)");
    PQconninfoFree(opts);

    /* libpq takes whole seconds, minimum 2. */
    char timeout[32];
    int64_t secs = (timeout_ms + 999) / 1000;
    snprintf(timeout, sizeof(timeout), "%lld", (long long)(secs < 2 ? 2 : secs));
    const char *const keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *const vals[] = {dsn, timeout, "inboxq", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c)
        iq_oom();
    if (PQstatus(c) != CONNECTION_OK) {
        char *why = one_line(PQerrorMessage(c));
        *error_r = iq_xasprintf("PostgreSQL at %s is unavailable: %s; start it or fix pg_dsn "
                                "(INBOXQ_PG_DSN)",
                                where, why);
        free(why);
        PQfinish(c);
        return IQ_PG_ERR_UNREACHABLE;
    }
    PQsetNoticeProcessor(c, notice, NULL);
    /* Every session works in UTC so timestamps print the same everywhere. */
    PGresult *r = PQexec(c, "SET TIME ZONE 'UTC'");
    PQclear(r);
    *conn_r = c;
    return IQ_PG_OK;
}

void iq_pg_close(PGconn **conn)
{
    if (*conn) {
        PQfinish(*conn);
        *conn = NULL;
    }
}

/* The result when it succeeded; else NULL, with the SQLSTATE kept and *error_r set. */
static PGresult *checked(PGconn *c, PGresult *r, char **error_r)
{
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(t_sqlstate, sizeof(t_sqlstate), "%s", state ? state : "");
    if (error_r)
        *error_r = one_line(r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    PQclear(r);
    return NULL;
}

PGresult *iq_pg_query(PGconn *c, const char *sql, int nparams, const char *const *params,
                      char **error_r)
{
    t_sqlstate[0] = '\0';
    return checked(c, PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0), error_r);
}

/* Statements this thread prepared on its connection (identified by handle and server
 * process, so a new connection at the same address starts empty). Only a hint: a statement
 * the server does not know after all is prepared again. */
static _Thread_local struct {
    const PGconn *conn;
    int pid;
    size_t n;
    const char *names[16];
} t_prepared;

static bool prepared_known(const PGconn *c, const char *name)
{
    int pid = PQbackendPID(c);
    if (t_prepared.conn != c || t_prepared.pid != pid) {
        t_prepared.conn = c;
        t_prepared.pid = pid;
        t_prepared.n = 0;
    }
    for (size_t i = 0; i < t_prepared.n; i++)
        if (strcmp(t_prepared.names[i], name) == 0)
            return true;
    return false;
}

/* Prepares name (an existing one is fine) and remembers it. 0 or -1 with *r the error. */
static int prepare(PGconn *c, const char *name, const char *sql, int nparams, PGresult **r)
{
    *r = PQprepare(c, name, sql, nparams, NULL);
    const char *state = *r ? PQresultErrorField(*r, PG_DIAG_SQLSTATE) : NULL;
    if (PQresultStatus(*r) != PGRES_COMMAND_OK && !(state && strcmp(state, "42P05") == 0))
        return -1;
    PQclear(*r);
    *r = NULL;
    if (t_prepared.n < IQ_ARRAY_LEN(t_prepared.names))
        t_prepared.names[t_prepared.n++] = name;
    return 0;
}

PGresult *iq_pg_query_prepared(PGconn *c, const char *name, const char *sql, int nparams,
                               const char *const *params, char **error_r)
{
    if (PQtransactionStatus(c) != PQTRANS_IDLE)
        return iq_pg_query(c, sql, nparams, params, error_r);
    t_sqlstate[0] = '\0';
    PGresult *r = NULL;
    if (!prepared_known(c, name) && prepare(c, name, sql, nparams, &r) < 0)
        return checked(c, r, error_r);
    r = PQexecPrepared(c, name, nparams, params, NULL, NULL, 0);
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (state && strcmp(state, "26000") == 0) { /* invalid_sql_statement_name: gone after all */
        PQclear(r);
        t_prepared.n = 0;
        if (prepare(c, name, sql, nparams, &r) < 0)
            return checked(c, r, error_r);
        r = PQexecPrepared(c, name, nparams, params, NULL, NULL, 0);
    }
    return checked(c, r, error_r);
}

int iq_pg_exec(PGconn *c, const char *sql, int nparams, const char *const *params, char **error_r)
{
    PGresult *r = iq_pg_query(c, sql, nparams, params, error_r);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int iq_pg_begin(PGconn *c, char **error_r)
{
    return iq_pg_exec(c, "BEGIN", 0, NULL, error_r);
}

int iq_pg_commit(PGconn *c, char **error_r)
{
    return iq_pg_exec(c, "COMMIT", 0, NULL, error_r);
}

void iq_pg_rollback(PGconn *c)
{
    if (PQstatus(c) == CONNECTION_OK)
        PQclear(PQexec(c, "ROLLBACK"));
}

bool iq_pg_connection_lost(PGconn *c)
{
    return !c || PQstatus(c) != CONNECTION_OK;
}

const char *iq_pg_str(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

int64_t iq_pg_i64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool iq_pg_bool(const PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}
