/* SPDX-License-Identifier: MIT */
/* Audit rows: the actor, the field-by-field difference, and the listing. */
#include "audit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libpq-fe.h>

#include "pg.h"
#include "util.h"

/* Set by a server for the request it is handling (each request runs on one thread). */
static _Thread_local char thread_actor[80];

void iq_audit_set_actor(const char *actor)
{
    size_t j = 0;
    for (; actor != NULL && actor[j] != '\0' && j + 1 < sizeof(thread_actor); j++)
        thread_actor[j] = ((unsigned char)actor[j] < 0x20 || actor[j] == 0x7f) ? '?' : actor[j];
    thread_actor[j] = '\0';
}

void iq_audit_actor(char *buf, size_t size)
{
    if (thread_actor[0] != '\0') {
        snprintf(buf, size, "%s", thread_actor); /* a console operator: console:NAME */
        return;
    }
    iq_operator_identity(buf, size); /* the same identity as jobs and runs */
}

json_t *iq_audit_diff(json_t *old_fields, json_t *new_fields)
{
    json_t *changes = json_object();
    if (!changes)
        iq_oom();
    const char *key;
    json_t *value;
    /* Keys of the new object, in its order, then keys only the old object has. */
    if (new_fields) {
        json_object_foreach(new_fields, key, value)
        {
            json_t *old = old_fields ? json_object_get(old_fields, key) : NULL;
            if (old_fields && old && json_equal(old, value))
                continue;
            json_t *pair = json_pack("{s:O,s:O}", "old", old ? old : json_null(), "new", value);
            if (!pair)
                iq_oom();
            json_object_set_new(changes, key, pair);
        }
    }
    if (old_fields) {
        json_object_foreach(old_fields, key, value)
        {
            if (new_fields && json_object_get(new_fields, key))
                continue;
            json_t *pair = json_pack("{s:O,s:n}", "old", value, "new");
            if (!pair)
                iq_oom();
            json_object_set_new(changes, key, pair);
        }
    }
    return changes;
}

int iq_audit_write(PGconn *c, const char *action, const char *entity, int64_t entity_id,
                   const json_t *changes, char **error_r)
{
    char actor[80], idbuf[32];
    iq_audit_actor(actor, sizeof(actor));
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, entity_id);
    char *js = changes ? json_dumps(changes, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    if (changes && !js)
        iq_oom();
    const char *params[] = {actor, action, entity, idbuf, js ? js : "{}"};
    char *err = NULL;
    int rc = iq_pg_exec(c,
                        "INSERT INTO audit_log (actor, action, entity, entity_id, changes) "
                        "VALUES ($1, $2, $3, $4::bigint, $5::jsonb)",
                        5, params, &err);
    free(js);
    if (rc < 0) {
        *error_r = iq_xasprintf("writing the audit row: %s", err);
        free(err);
    }
    return rc;
}

json_t *iq_audit_list(PGconn *c, const char *entity, int64_t entity_id, int64_t limit,
                      char **error_r)
{
    char idbuf[32], limbuf[32];
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, entity_id);
    snprintf(limbuf, sizeof(limbuf), "%" PRId64, limit);
    const char *params[] = {entity && *entity ? entity : NULL, entity_id > 0 ? idbuf : NULL,
                            limbuf};
    char *err = NULL;
    PGresult *r = iq_pg_query(
        c,
        "SELECT id, " IQ_SQL_TS("at") ", actor, "
                                      "action, entity, entity_id, changes::text FROM audit_log "
                                      "WHERE ($1::text IS NULL OR entity = $1) AND ($2::bigint IS "
                                      "NULL OR entity_id = $2) "
                                      "ORDER BY at DESC, id DESC LIMIT $3::bigint",
        3, params, &err);
    if (!r) {
        *error_r = iq_xasprintf("reading the audit trail: %s", err);
        free(err);
        return NULL;
    }
    json_t *arr = json_array();
    if (!arr)
        iq_oom();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *changes = json_loads(iq_pg_str(r, i, 6), 0, NULL);
        json_t *row =
            json_pack("{s:I,s:s,s:s,s:s,s:s,s:I,s:o}", "id", (json_int_t)iq_pg_i64(r, i, 0), "at",
                      iq_pg_str(r, i, 1), "actor", iq_pg_str(r, i, 2), "action", iq_pg_str(r, i, 3),
                      "entity", iq_pg_str(r, i, 4), "entity_id", (json_int_t)iq_pg_i64(r, i, 5),
                      "changes", changes ? changes : json_object());
        if (!row)
            iq_oom();
        json_array_append_new(arr, row);
    }
    PQclear(r);
    return arr;
}
