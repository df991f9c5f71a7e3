/* SPDX-License-Identifier: MIT */
/* What accounts and connectors share in PostgreSQL: lookups by NAME or ID, the references
 * validation follows, and writes audited in the same transaction with a version check. */
#include "record_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <libpq-fe.h>

#include "audit.h"
#include "op.h"
#include "pg.h"
#include "rules.h"
#include "rules_int.h"
#include "util.h"

/* ---- lookups in PostgreSQL ---- */

/* Runs sql with id as its one parameter ($1): iq_pg_query's result. */
PGresult *iq_record_query_by_id(PGconn *c, const char *sql, int64_t id, char **error_r)
{
    char idbuf[32];
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    const char *params[] = {idbuf};
    return iq_pg_query(c, sql, 1, params, error_r);
}

/* 1 found, 0 none, or a negative iq_err. */
int iq_record_find(PGconn *c, iq_table_kind t, const char *ref, int64_t *id_r, char **error_r)
{
    static const char *const by_id[] = {
        "SELECT id FROM mail_accounts WHERE id = $1::bigint",
        "SELECT id FROM network_connectors WHERE id = $1::bigint",
        "SELECT id FROM credentials WHERE id = $1::bigint",
    };
    static const char *const by_name[] = {
        "SELECT id FROM mail_accounts WHERE " IQ_NAME_KEY("name") " = " IQ_NAME_KEY("$1::text"),
        "SELECT id FROM network_connectors WHERE " IQ_NAME_KEY("name") " = " IQ_NAME_KEY(
            "$1::text"),
        "SELECT id FROM credentials WHERE " IQ_NAME_KEY("name") " = " IQ_NAME_KEY("$1::text"),
    };
    if (!ref || !*ref)
        return 0;
    int64_t v;
    const char *sql;
    if (iq_rule_all_digits(ref)) {
        if (iq_parse_i64(ref, 1, INT64_MAX, &v) < 0)
            return 0;
        sql = by_id[t];
    } else {
        sql = by_name[t];
    }
    char *err = NULL;
    const char *params[] = {ref};
    PGresult *r = iq_pg_query(c, sql, 1, params, &err);
    if (!r)
        return (int)iq_op_db_error(c, "looking up a reference", err, error_r);
    int found = PQntuples(r) > 0;
    if (found)
        *id_r = iq_pg_i64(r, 0, 0);
    PQclear(r);
    return found;
}

static int refs_credential(void *ctx, const char *ref, int64_t *id_r, char **error_r)
{
    return iq_record_find(ctx, IQ_TBL_CREDENTIAL, ref, id_r, error_r);
}

/* A connector to attach: it must exist and be active. */
static int refs_connector(void *ctx, const char *ref, int64_t *id_r, char **error_r)
{
    int found = iq_record_find(ctx, IQ_TBL_CONNECTOR, ref, id_r, error_r);
    if (found <= 0)
        return found;
    PGresult *r = iq_record_query_by_id(
        ctx, "SELECT active, name FROM network_connectors WHERE id = $1::bigint", *id_r, NULL);
    if (!r)
        return 1; /* the write checks the reference again */
    int rc = 1;
    if (PQntuples(r) == 1 && !iq_pg_bool(r, 0, 0)) {
        char shown[80];
        iq_rule_show_value(iq_pg_str(r, 0, 1), shown, sizeof(shown));
        *error_r = iq_xasprintf("connector: Network Connector '%s' is inactive; activate it "
                                "first, or choose another",
                                shown);
        rc = IQ_ERR_INVALID;
    }
    PQclear(r);
    return rc;
}

static int refs_name_taken(void *ctx, const char *kind, const char *name, int64_t self_id,
                           char **error_r)
{
    const char *sql;
    if (strcmp(kind, "account") == 0)
        sql = "SELECT 1 FROM mail_accounts WHERE " IQ_NAME_KEY("name") " = " IQ_NAME_KEY(
            "$1::text") " AND id <> $2::bigint";
    else if (strcmp(kind, "connector") == 0)
        sql = "SELECT 1 FROM network_connectors WHERE " IQ_NAME_KEY("name") " = " IQ_NAME_KEY(
            "$1::text") " AND id <> $2::bigint";
    else
        sql = "SELECT 1 FROM credentials WHERE " IQ_NAME_KEY("name") " = " IQ_NAME_KEY(
            "$1::text") " AND id <> $2::bigint";
    char idbuf[32];
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, self_id);
    const char *params[] = {name, idbuf};
    char *err = NULL;
    PGresult *r = iq_pg_query(ctx, sql, 2, params, &err);
    if (!r)
        return (int)iq_op_db_error(ctx, "checking the name", err, error_r);
    int taken = PQntuples(r) > 0;
    PQclear(r);
    return taken;
}

void iq_refs_pg(iq_refs *refs_r, PGconn *c)
{
    refs_r->credential = refs_credential;
    refs_r->connector = refs_connector;
    refs_r->name_taken = refs_name_taken;
    refs_r->ctx = c;
}

char *iq_users_text(const PGresult *r)
{
    int n = PQntuples(r);
    if (n == 0)
        return NULL;
    char *out = NULL;
    for (int i = 0; i < n && i < 10; i++) {
        char shown[80];
        iq_rule_show_value(iq_pg_str(r, i, 2), shown, sizeof(shown));
        char *next = iq_xasprintf("%s%s%s %s '%s'", out ? out : "", out ? ", " : "",
                                  iq_pg_str(r, i, 0), iq_pg_str(r, i, 1), shown);
        free(out);
        out = next;
    }
    if (n > 10) {
        char *next = iq_xasprintf("%s and more", out);
        free(out);
        out = next;
    }
    return out;
}

const char *iq_record_tf(bool b)
{
    return b ? "t" : "f";
}

/* Maps an insert/update failure: names and references get field messages. */
iq_err iq_record_write_error(PGconn *c, const char *kind, const char *what, char *err,
                             char **error_r)
{
    const char *state = iq_pg_last_sqlstate();
    if (strcmp(state, "23505") == 0) {
        free(err);
        return iq_rule_invalid(
            error_r,
            "name: another %s already has this name (names are case-insensitive); "
            "choose another name",
            kind);
    }
    if (strcmp(state, "23503") == 0) {
        free(err);
        return iq_rule_invalid(error_r,
                               "%s: a credential or connector it refers to was deleted "
                               "meanwhile; check them and run the command again",
                               kind);
    }
    return iq_op_db_error(c, what, err, error_r);
}

/* A change's audit row (diff is consumed) and the commit. */
iq_err iq_record_audit_commit(PGconn *c, const char *action, const char *entity, int64_t id,
                              json_t *diff, char **error_r)
{
    char *err = NULL;
    int rc = iq_audit_write(c, action, entity, id, diff, &err);
    json_decref(diff);
    if (rc < 0)
        return iq_op_db_error(c, "writing the audit trail", err, error_r);
    if (iq_pg_commit(c, &err) < 0)
        return iq_op_db_error(c, "committing", err, error_r);
    return IQ_OK;
}

/* An add's INSERT ... RETURNING id, its audit row (fields: the new object's, consumed) and the
 * commit; *id_r is set when all of it succeeded. */
iq_err iq_record_insert_audited(PGconn *c, const char *entity, const char *sql, int nparams,
                                const char *const *params, json_t *fields, int64_t *id_r,
                                char **error_r)
{
    char *err = NULL;
    PGresult *r = iq_pg_query(c, sql, nparams, params, &err);
    if (!r) {
        json_decref(fields);
        char what[64];
        snprintf(what, sizeof(what), "adding the %s", entity);
        return iq_record_write_error(c, entity, what, err, error_r);
    }
    int64_t id = iq_pg_i64(r, 0, 0);
    PQclear(r);
    iq_err st =
        iq_record_audit_commit(c, "create", entity, id, iq_audit_diff(NULL, fields), error_r);
    json_decref(fields);
    if (st == IQ_OK)
        *id_r = id;
    return st;
}

/* An edit's write, when the fields' JSON before and after it differ (else the transaction is
 * rolled back and nothing is written): UPDATE ... WHERE id = $1 AND version = $2 RETURNING
 * version, with the nfields stored fields as $3 on, then its audit row and the commit. A row
 * that changed meanwhile is a stale edit. *changed_r tells whether it wrote. */
iq_err iq_record_update_audited(PGconn *c, const char *entity, int64_t id, int version,
                                json_t *before, json_t *after, const char *sql, int nfields,
                                const char *const *fields, bool *changed_r, char **error_r)
{
    json_t *diff = iq_audit_diff(before, after);
    if (json_object_size(diff) == 0) {
        json_decref(diff);
        iq_pg_rollback(c); /* nothing to write */
        return IQ_OK;
    }
    char idbuf[32], verbuf[16];
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    snprintf(verbuf, sizeof(verbuf), "%d", version);
    const char *params[2 + IQ_RECORD_MAX_FIELDS] = {idbuf, verbuf};
    memcpy(params + 2, fields, (size_t)nfields * sizeof(*fields));
    char *err = NULL;
    PGresult *r = iq_pg_query(c, sql, nfields + 2, params, &err);
    if (!r) {
        json_decref(diff);
        char what[64];
        snprintf(what, sizeof(what), "changing the %s", entity);
        return iq_record_write_error(c, entity, what, err, error_r);
    }
    int rows = PQntuples(r);
    PQclear(r);
    if (rows == 0) {
        json_decref(diff);
        *error_r = iq_xasprintf("%s %" PRId64 " was changed (or deleted) by someone else while "
                                "this edit ran; nothing was written: run the edit again",
                                entity, id);
        return IQ_ERR_STALE;
    }
    iq_err st = iq_record_audit_commit(c, "update", entity, id, diff, error_r);
    if (st == IQ_OK)
        *changed_r = true;
    return st;
}

/* A load before a write (1 found, 0 none, or a negative status) as a status: none is
 * IQ_ERR_NOT_FOUND, "ENTITY ID does not exist". */
iq_err iq_record_found_or_fail(int found, const char *entity, int64_t id, char **error_r)
{
    if (found < 0)
        return (iq_err)found;
    if (found == 0) {
        *error_r = iq_xasprintf("%s %" PRId64 " does not exist", entity, id);
        return IQ_ERR_NOT_FOUND;
    }
    return IQ_OK;
}

iq_err iq_record_begin(PGconn *c, char **error_r)
{
    char *err = NULL;
    if (iq_pg_begin(c, &err) < 0)
        return iq_op_db_error(c, "starting a transaction", err, error_r);
    return IQ_OK;
}

json_t *iq_record_json_str(const char *s)
{
    return s ? json_string(s) : json_null();
}
