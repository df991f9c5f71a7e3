/* SPDX-License-Identifier: MIT */
/* PostgreSQL through libpq: connect with a timeout, parameterised queries only,
 * transaction helpers. */
#ifndef IQ_PG_H
#define IQ_PG_H

#include <stdbool.h>
#include <stdint.h>

/* libpq's handles, declared as libpq-fe.h does, so that users of this header need not
 * include libpq (only the modules that call libpq themselves do). */
typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

/* A timestamptz column as RFC 3339 UTC text, as every timestamp leaves the database for
 * machines: "2026-12-06T03:04:05Z". */
#define IQ_SQL_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

typedef enum {
    IQ_PG_OK = 0,
    IQ_PG_ERR_DSN = -1,         /* malformed connection string: a configuration error */
    IQ_PG_ERR_UNREACHABLE = -2, /* could not connect: the service is unavailable */
} iq_pg_status;

/* Connects; on failure *error_r names the server and what to do. */
iq_pg_status iq_pg_connect(const char *dsn, int64_t timeout_ms, PGconn **conn_r, char **error_r);
void iq_pg_close(PGconn **conn);

/* Runs one parameterised statement (text params, NULL = SQL NULL). Returns the result
 * (TUPLES_OK or COMMAND_OK) or NULL with *error_r set. */
PGresult *iq_pg_query(PGconn *c, const char *sql, int nparams, const char *const *params,
                      char **error_r);
/* iq_pg_query for a hot statement: prepared once per connection under name (on first use,
 * when the server answers that it does not know the name) and then only bound and run, so
 * it is neither parsed nor, once PostgreSQL settles on a generic plan, planned again. Inside
 * an open transaction it runs unprepared (a failed first try would abort the transaction). */
PGresult *iq_pg_query_prepared(PGconn *c, const char *name, const char *sql, int nparams,
                               const char *const *params, char **error_r);
/* Like iq_pg_query for statements whose rows are not needed. 0 or -1. */
int iq_pg_exec(PGconn *c, const char *sql, int nparams, const char *const *params, char **error_r);
int iq_pg_begin(PGconn *c, char **error_r);
int iq_pg_commit(PGconn *c, char **error_r);
void iq_pg_rollback(PGconn *c);

/* Whether the last failure lost the connection (worth a reconnect and retry). */
bool iq_pg_connection_lost(PGconn *c);
/* SQLSTATE of the last failed iq_pg_query/iq_pg_exec in this thread ("" if none). */
const char *iq_pg_last_sqlstate(void);

/* Cell accessors: NULL-safe conversions. */
const char *iq_pg_str(const PGresult *r, int row, int col); /* NULL for SQL NULL */
int64_t iq_pg_i64(const PGresult *r, int row, int col);     /* 0 for SQL NULL */
bool iq_pg_bool(const PGresult *r, int row, int col);

#endif
