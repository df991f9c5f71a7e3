/* SPDX-License-Identifier: MIT */
/* Network Connectors (SOCKS5 and HTTP CONNECT proxies): rules, loading and audited writes,
 * like accounts. */
#include "connector.h"

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
#include "record_int.h"
#include "op.h"
#include "pg.h"
#include "rules_int.h"
#include "util.h"

/* ---- Network Connectors ---- */

void iq_connector_init(iq_connector *k)
{
    memset(k, 0, sizeof(*k));
    k->type = IQ_CONNECTOR_SOCKS5;
    k->active = true;
}

void iq_connector_release(iq_connector *k)
{
    if (!k)
        return;
    free(k->name);
    free(k->host);
    memset(k, 0, sizeof(*k));
}

iq_err iq_connector_apply(iq_connector *k, const iq_connector_input *in, bool creating,
                          const iq_refs *refs, char **error_r)
{
    iq_err st;
    char shown[80];
    if ((st = iq_rule_name(&k->name, in->name, creating, error_r)) != IQ_OK)
        return st;
    if (in->type) {
        if (iq_connector_type_parse(in->type, &k->type) < 0) {
            iq_rule_show_value(in->type, shown, sizeof(shown));
            return iq_rule_invalid(
                error_r, "type: '%s' is not socks5 or http; choose socks5 or http (HTTP CONNECT)",
                shown);
        }
    } else if (creating) {
        return iq_rule_invalid(error_r, "type: is required; choose socks5 or http");
    }
    if (in->host) {
        if (iq_validate_host("host", in->host, error_r) < 0)
            return IQ_ERR_INVALID;
        free(k->host);
        k->host = iq_host_normalize(in->host);
    } else if (creating || !k->host) {
        return iq_rule_invalid(error_r,
                               "host: is required; give the proxy's host name or IP address");
    }
    if (in->port) {
        if (iq_parse_port("port", in->port, &k->port, error_r) < 0)
            return IQ_ERR_INVALID;
    } else if (creating || k->port == 0) {
        return iq_rule_invalid(error_r,
                               "port: is required; give the proxy's port (e.g. 1080 for SOCKS5, "
                               "3128 for HTTP)");
    }
    if ((st = iq_rule_bool("active", in->active, &k->active, error_r)) != IQ_OK)
        return st;
    if (in->credential) {
        if (!*in->credential)
            k->credential_id = 0; /* "" removes the proxy login */
        else if ((st = iq_rule_resolve(refs, "credential", in->credential, &k->credential_id,
                                       error_r)) != IQ_OK)
            return st;
    }
    if (in->name &&
        (st = iq_rule_name_free(refs, "connector", "a", k->name, k->id, error_r)) != IQ_OK)
        return st;
    return IQ_OK;
}

json_t *iq_connector_fields_json(const iq_connector *k)
{
    json_t *o = json_object();
    if (!o)
        iq_oom();
    json_object_set_new(o, "name", json_string(k->name ? k->name : ""));
    json_object_set_new(o, "type", json_string(iq_connector_type_name(k->type)));
    json_object_set_new(o, "host", json_string(k->host ? k->host : ""));
    json_object_set_new(o, "port", json_integer(k->port));
    json_object_set_new(o, "credential_id",
                        k->credential_id ? json_integer(k->credential_id) : json_null());
    json_object_set_new(o, "active", json_boolean(k->active));
    return o;
}

static int connector_load_st(PGconn *c, int64_t id, bool for_update, iq_connector *k_r,
                             char **error_r)
{
    char *err = NULL;
    PGresult *r = iq_record_query_by_id(
        c,
        for_update ? "SELECT id, name, type, host, port, credential_id, active, "
                     "version FROM network_connectors WHERE id = $1::bigint "
                     "FOR UPDATE"
                   : "SELECT id, name, type, host, port, credential_id, active, "
                     "version FROM network_connectors WHERE id = $1::bigint",
        id, &err);
    if (!r)
        return (int)iq_op_db_error(c, "loading the connector", err, error_r);
    int found = PQntuples(r) > 0;
    if (found) {
        memset(k_r, 0, sizeof(*k_r));
        k_r->id = iq_pg_i64(r, 0, 0);
        k_r->name = iq_dup_or_null(iq_pg_str(r, 0, 1));
        if (iq_connector_type_parse(iq_pg_str(r, 0, 2), &k_r->type) < 0)
            k_r->type = IQ_CONNECTOR_SOCKS5;
        k_r->host = iq_dup_or_null(iq_pg_str(r, 0, 3));
        k_r->port = (int)iq_pg_i64(r, 0, 4);
        k_r->credential_id = iq_pg_i64(r, 0, 5);
        k_r->active = iq_pg_bool(r, 0, 6);
        k_r->version = (int)iq_pg_i64(r, 0, 7);
    }
    PQclear(r);
    return found;
}

int iq_connector_load(PGconn *c, int64_t id, iq_connector *k_r, char **error_r)
{
    memset(k_r, 0, sizeof(*k_r));
    int rc = connector_load_st(c, id, false, k_r, error_r);
    return rc < 0 ? -1 : rc;
}

typedef struct connector_params {
    char port[16], credential[24];
    const char *v[6];
} connector_params;

static void connector_params_fill(connector_params *p, const iq_connector *k)
{
    snprintf(p->port, sizeof(p->port), "%d", k->port);
    snprintf(p->credential, sizeof(p->credential), "%" PRId64, k->credential_id);
    p->v[0] = k->name;
    p->v[1] = iq_connector_type_name(k->type);
    p->v[2] = k->host;
    p->v[3] = p->port;
    p->v[4] = k->credential_id ? p->credential : NULL;
    p->v[5] = iq_record_tf(k->active);
}

iq_err iq_connector_create(PGconn *c, const iq_connector_input *in, int64_t *id_r, char **error_r)
{
    iq_connector k;
    iq_refs refs;
    iq_refs_pg(&refs, c);
    iq_connector_init(&k);
    iq_err st = iq_record_begin(c, error_r);
    if (st != IQ_OK)
        goto out;
    if ((st = iq_connector_apply(&k, in, true, &refs, error_r)) != IQ_OK)
        goto fail;
    connector_params p = {0};
    connector_params_fill(&p, &k);
    st = iq_record_insert_audited(
        c, "connector",
        "INSERT INTO network_connectors (name, type, host, port, credential_id, "
        "active) VALUES ($1, $2, $3, $4::int, $5::bigint, $6::bool) RETURNING id",
        6, p.v, iq_connector_fields_json(&k), id_r, error_r);
    if (st == IQ_OK)
        goto out;
fail:
    iq_pg_rollback(c);
out:
    iq_connector_release(&k);
    return st;
}

iq_err iq_connector_update(PGconn *c, int64_t id, const iq_connector_input *in, int expect_version,
                           bool *changed_r, char **error_r)
{
    iq_connector k;
    memset(&k, 0, sizeof(k));
    json_t *before = NULL, *after = NULL;
    iq_refs refs;
    iq_refs_pg(&refs, c);
    *changed_r = false;
    iq_err st = iq_record_begin(c, error_r);
    if (st != IQ_OK)
        return st;
    st = iq_record_found_or_fail(connector_load_st(c, id, false, &k, error_r), "connector", id,
                                 error_r);
    if (st != IQ_OK)
        goto fail;
    if (expect_version > 0 && k.version != expect_version) {
        *error_r = iq_xasprintf("connector %" PRId64 " is at version %d, not %d: someone changed "
                                "it; look at it again and retry",
                                id, k.version, expect_version);
        st = IQ_ERR_STALE;
        goto fail;
    }
    int version = k.version;
    before = iq_connector_fields_json(&k);
    if ((st = iq_connector_apply(&k, in, false, &refs, error_r)) != IQ_OK)
        goto fail;
    after = iq_connector_fields_json(&k);
    connector_params p = {0};
    connector_params_fill(&p, &k);
    st = iq_record_update_audited(c, "connector", id, version, before, after,
                                  "UPDATE network_connectors SET name = $3, type = $4, host = $5, "
                                  "port = $6::int, credential_id = $7::bigint, active = $8::bool, "
                                  "version = version + 1, updated_at = now() "
                                  "WHERE id = $1::bigint AND version = $2::int RETURNING version",
                                  6, p.v, changed_r, error_r);
    if (st == IQ_OK)
        goto out;
fail:
    iq_pg_rollback(c);
out:
    json_decref(before);
    json_decref(after);
    iq_connector_release(&k);
    return st;
}

iq_err iq_connector_delete(PGconn *c, int64_t id, char **error_r)
{
    iq_connector k;
    memset(&k, 0, sizeof(k));
    iq_err st = iq_record_begin(c, error_r);
    if (st != IQ_OK)
        return st;
    st = iq_record_found_or_fail(connector_load_st(c, id, true, &k, error_r), "connector", id,
                                 error_r);
    if (st != IQ_OK)
        goto fail;
    char *err = NULL;
    PGresult *r = iq_record_query_by_id(c,
                                        "SELECT 'account', id, name FROM mail_accounts "
                                        "WHERE connector_id = $1::bigint ORDER BY id LIMIT 11",
                                        id, &err);
    if (!r) {
        st = iq_op_db_error(c, "checking who uses the connector", err, error_r);
        goto fail;
    }
    char *users = iq_users_text(r);
    PQclear(r);
    if (users) {
        char shown[80];
        iq_rule_show_value(k.name, shown, sizeof(shown));
        *error_r = iq_xasprintf("connector %" PRId64 " '%s' is used by %s; point them elsewhere "
                                "(set their use-connector to no) or delete them "
                                "first",
                                id, shown, users);
        free(users);
        st = IQ_ERR_IN_USE;
        goto fail;
    }
    if (!(r = iq_record_query_by_id(c, "DELETE FROM network_connectors WHERE id = $1::bigint", id,
                                    &err))) {
        if (strcmp(iq_pg_last_sqlstate(), "23503") == 0) {
            free(err);
            *error_r = iq_xasprintf("connector %" PRId64 " came into use by an account "
                                    "meanwhile; run the command again to see which",
                                    id);
            st = IQ_ERR_IN_USE;
        } else {
            st = iq_op_db_error(c, "deleting the connector", err, error_r);
        }
        goto fail;
    }
    PQclear(r);
    json_t *fields = iq_connector_fields_json(&k);
    st = iq_record_audit_commit(c, "delete", "connector", id, iq_audit_diff(fields, NULL), error_r);
    json_decref(fields);
    if (st == IQ_OK)
        goto out;
fail:
    iq_pg_rollback(c);
out:
    iq_connector_release(&k);
    return st;
}

json_t *iq_connector_list_json(PGconn *c, int64_t id, char **error_r)
{
    char idbuf[32];
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    const char *params[] = {id > 0 ? idbuf : NULL};
    char *err = NULL;
    PGresult *r = iq_pg_query(
        c,
        "SELECT k.id, k.name, k.type, k.host, k.port, k.credential_id, cr.name, k.active, "
        "k.version, " IQ_SQL_TS("k.created_at") ", " IQ_SQL_TS(
            "k.updated_at") ", "
                            "(SELECT count(*) FROM mail_accounts a WHERE a.connector_id = k.id) "
                            "FROM network_connectors k LEFT JOIN credentials cr ON cr.id = "
                            "k.credential_id "
                            "WHERE ($1::bigint IS NULL OR k.id = $1::bigint) ORDER BY k.id",
        1, params, &err);
    if (!r) {
        iq_op_db_error(c, "listing connectors", err, error_r);
        return NULL;
    }
    json_t *arr = json_array();
    if (!arr)
        iq_oom();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_object();
        if (!o)
            iq_oom();
        json_object_set_new(o, "id", json_integer(iq_pg_i64(r, i, 0)));
        json_object_set_new(o, "name", iq_record_json_str(iq_pg_str(r, i, 1)));
        json_object_set_new(o, "type", iq_record_json_str(iq_pg_str(r, i, 2)));
        json_object_set_new(o, "host", iq_record_json_str(iq_pg_str(r, i, 3)));
        json_object_set_new(o, "port", json_integer(iq_pg_i64(r, i, 4)));
        json_object_set_new(o, "credential_id",
                            iq_pg_str(r, i, 5) ? json_integer(iq_pg_i64(r, i, 5)) : json_null());
        json_object_set_new(o, "credential", iq_record_json_str(iq_pg_str(r, i, 6)));
        json_object_set_new(o, "active", json_boolean(iq_pg_bool(r, i, 7)));
        json_object_set_new(o, "version", json_integer(iq_pg_i64(r, i, 8)));
        json_object_set_new(o, "created_at", iq_record_json_str(iq_pg_str(r, i, 9)));
        json_object_set_new(o, "updated_at", iq_record_json_str(iq_pg_str(r, i, 10)));
        json_object_set_new(o, "accounts", json_integer(iq_pg_i64(r, i, 11)));
        json_array_append_new(arr, o);
    }
    PQclear(r);
    return arr;
}

int iq_connector_find(PGconn *c, const char *ref, int64_t *id_r, char **error_r)
{
    int rc = iq_record_find(c, IQ_TBL_CONNECTOR, ref, id_r, error_r);
    return rc < 0 ? -1 : rc;
}
