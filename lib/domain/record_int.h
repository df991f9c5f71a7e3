/* SPDX-License-Identifier: MIT */
/* Inside domain/: what accounts and connectors share to read and write their rows. */
#ifndef IQ_RECORD_INT_H
#define IQ_RECORD_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "record.h"
#include "error.h"
#include "pg.h"

/* The most stored fields of any kind (an account's 17). */
#define IQ_RECORD_MAX_FIELDS 19

typedef enum { IQ_TBL_ACCOUNT, IQ_TBL_CONNECTOR, IQ_TBL_CREDENTIAL } iq_table_kind;

/* "t" / "f", a boolean as a text parameter. */
const char *iq_record_tf(bool b);
/* Runs sql with id as its one parameter ($1): iq_pg_query's result. */
PGresult *iq_record_query_by_id(PGconn *c, const char *sql, int64_t id, char **error_r);
/* NAME or numeric ID in table t: 1 found (*id_r), 0 none, or a negative iq_err. */
int iq_record_find(PGconn *c, iq_table_kind t, const char *ref, int64_t *id_r, char **error_r);
/* Maps an insert/update failure (err taken over): names and references get field messages. */
iq_err iq_record_write_error(PGconn *c, const char *kind, const char *what, char *err,
                             char **error_r);
/* A change's audit row (diff is consumed) and the commit. */
iq_err iq_record_audit_commit(PGconn *c, const char *action, const char *entity, int64_t id,
                              json_t *diff, char **error_r);
/* An add's INSERT ... RETURNING id, its audit row (fields: the new object's, consumed) and the
 * commit; *id_r is set when all of it succeeded. */
iq_err iq_record_insert_audited(PGconn *c, const char *entity, const char *sql, int nparams,
                                const char *const *params, json_t *fields, int64_t *id_r,
                                char **error_r);
/* An edit's write when the fields' JSON before and after differ (else the transaction is
 * rolled back and nothing is written): UPDATE ... WHERE id = $1 AND version = $2 RETURNING
 * version, with the nfields (at most IQ_RECORD_MAX_FIELDS) stored fields as $3 on, then its
 * audit row and the commit. A row changed meanwhile is IQ_ERR_STALE. */
iq_err iq_record_update_audited(PGconn *c, const char *entity, int64_t id, int version,
                                json_t *before, json_t *after, const char *sql, int nfields,
                                const char *const *fields, bool *changed_r, char **error_r);
/* A load before a write (1 found, 0 none, or a negative status) as a status: none is
 * IQ_ERR_NOT_FOUND, "ENTITY ID does not exist". */
iq_err iq_record_found_or_fail(int found, const char *entity, int64_t id, char **error_r);
iq_err iq_record_begin(PGconn *c, char **error_r);
/* A JSON string, or null for NULL. */
json_t *iq_record_json_str(const char *s);

#endif
