/* SPDX-License-Identifier: MIT */
/* Operators: argon2id hashes (libsodium's crypto_pwhash_str, its "interactive" cost: 64 MiB,
 * 2 passes, above OWASP's floor of 19 MiB), sign-in with a throttle kept in PostgreSQL, and
 * sessions and API tokens stored as the SHA-256 of their random token. */
#include "operator.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>
#include <sodium.h>

#include "audit.h"
#include "op.h"
#include "pg.h"
#include "rules_int.h"
#include "util.h"

int iq_role_parse(const char *s, iq_role *role_r)
{
    if (s == NULL)
        return -1;
    if (strcmp(s, "admin") == 0)
        *role_r = IQ_ROLE_ADMIN;
    else if (strcmp(s, "operator") == 0)
        *role_r = IQ_ROLE_OPERATOR;
    else if (strcmp(s, "auditor") == 0)
        *role_r = IQ_ROLE_AUDITOR;
    else
        return -1;
    return 0;
}

const char *iq_role_name(iq_role role)
{
    switch (role) {
    case IQ_ROLE_ADMIN:
        return "admin";
    case IQ_ROLE_OPERATOR:
        return "operator";
    case IQ_ROLE_AUDITOR:
        return "auditor";
    }
    return "auditor";
}

void iq_session_policy_default(iq_session_policy *p)
{
    p->lifetime_s = 8 * 3600;
    p->idle_s = 30 * 60;
    p->window_s = 15 * 60;
    p->max_per_name = 5;
    p->max_per_peer = 20;
}

static int sodium_ready(void)
{
    /* sodium_init is thread-safe and idempotent: 0 first time, 1 after, -1 failure */
    return sodium_init() < 0 ? -1 : 0;
}

int iq_operator_name_check(const char *name, char **error_r)
{
    size_t n = name == NULL ? 0 : strlen(name);
    if (n == 0) {
        *error_r = iq_xstrdup("name: is required; give the operator's sign-in name");
        return -1;
    }
    bool ok = n <= 64;
    for (size_t i = 0; ok && i < n; i++) {
        char ch = name[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '.' || ch == '_' || ch == '@' || ch == '-';
    }
    if (!ok) {
        char shown[80];
        iq_rule_show_value(name, shown, sizeof(shown));
        *error_r = iq_xasprintf("name: '%s' is not 1 to 64 of the letters A-Z and a-z, digits "
                                "and . _ @ -; choose another",
                                shown);
        return -1;
    }
    return 0;
}

/* Random 32 bytes as hex into out (IQ_TOKEN_HEX + 1 bytes). */
static void random_hex(char *out)
{
    unsigned char raw[IQ_TOKEN_HEX / 2];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(out, IQ_TOKEN_HEX + 1, raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
}

/* SHA-256 of a token, as hex (for decode($n, 'hex')). */
static void token_hash_hex(const char *token, char out[2 * crypto_hash_sha256_BYTES + 1])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
    sodium_bin2hex(out, 2 * crypto_hash_sha256_BYTES + 1, h, sizeof(h));
}

iq_err iq_operator_add(PGconn *c, const char *name, const char *role, const char *password,
                       int64_t *id_r, char **error_r)
{
    iq_role r;
    if (iq_operator_name_check(name, error_r) != 0)
        return IQ_ERR_INVALID;
    if (iq_role_parse(role, &r) != 0)
        return iq_rule_invalid(error_r, "role: is not admin, operator or auditor; choose one");
    size_t pw_len = password == NULL ? 0 : strlen(password);
    if (pw_len < 8 || pw_len > IQ_PASSWORD_MAX)
        return iq_rule_invalid(error_r,
                               "password: must be 8 to %d bytes long; give a longer passphrase",
                               IQ_PASSWORD_MAX);
    if (sodium_ready() != 0) {
        *error_r = iq_xstrdup("password: libsodium could not start");
        return IQ_ERR_FAILED;
    }
    char hash[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(hash, password, pw_len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        *error_r = iq_xstrdup("password: hashing ran out of memory; retry");
        return IQ_ERR_FAILED;
    }
    char *err = NULL;
    if (iq_pg_begin(c, &err) != 0)
        return iq_op_db_error(c, "operator add", err, error_r);
    const char *params[] = {name, iq_role_name(r), hash};
    PGresult *res = iq_pg_query(c,
                                "INSERT INTO operators (name, role, pw_hash) VALUES ($1, $2, $3) "
                                "ON CONFLICT (name) DO NOTHING RETURNING id",
                                3, params, &err);
    sodium_memzero(hash, sizeof(hash));
    if (res == NULL) {
        iq_pg_rollback(c);
        return iq_op_db_error(c, "operator add", err, error_r);
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        iq_pg_rollback(c);
        *error_r = iq_xasprintf("name: an operator named '%s' already exists; choose another "
                                "name",
                                name);
        return IQ_ERR_IN_USE;
    }
    int64_t id = iq_pg_i64(res, 0, 0);
    PQclear(res);
    json_t *fields = json_pack("{s:s, s:s}", "name", name, "role", iq_role_name(r));
    if (fields == NULL)
        iq_oom();
    json_t *changes = iq_audit_diff(NULL, fields);
    json_decref(fields);
    int rc = iq_audit_write(c, "create", "operator", id, changes, &err);
    json_decref(changes);
    if (rc != 0 || iq_pg_commit(c, &err) != 0) {
        iq_pg_rollback(c);
        return iq_op_db_error(c, "operator add", err, error_r);
    }
    if (id_r != NULL)
        *id_r = id;
    return IQ_OK;
}

char *iq_operator_list_json(PGconn *c, char **error_r)
{
    PGresult *res = iq_pg_query(
        c,
        "SELECT coalesce(json_agg(json_build_object('id', id, 'name', name, 'role', role, "
        "'active', active, 'created_at', " IQ_SQL_TS("created_at") ") ORDER BY id), '[]')::text "
                                                                   "FROM operators",
        0, NULL, error_r);
    if (res == NULL)
        return NULL;
    char *out = iq_xstrdup(iq_pg_str(res, 0, 0));
    PQclear(res);
    return out;
}

/* ---- changes by an admin ---- */

/* In the caller's transaction: locks operator id and every active admin; 1 with its role and
 * active flag and whether another active admin remains, 0 none, -1 with *err. */
static int lock_for_change(PGconn *c, const char *ids, char role_r[16], bool *active_r,
                           bool *other_admin_r, char **err)
{
    const char *params[] = {ids};
    PGresult *res = iq_pg_query(c,
                                "SELECT id, role, active FROM operators WHERE id = $1::bigint OR "
                                "(role = 'admin' AND active) ORDER BY id FOR UPDATE",
                                1, params, err);
    if (res == NULL)
        return -1;
    int found = 0;
    *other_admin_r = false;
    for (int i = 0; i < PQntuples(res); i++) {
        if (strcmp(iq_pg_str(res, i, 0), ids) == 0) {
            found = 1;
            snprintf(role_r, 16, "%s", iq_pg_str(res, i, 1));
            *active_r = iq_pg_bool(res, i, 2);
        } else if (strcmp(iq_pg_str(res, i, 1), "admin") == 0 && iq_pg_bool(res, i, 2)) {
            *other_admin_r = true;
        }
    }
    PQclear(res);
    return found;
}

int iq_operator_find(PGconn *c, const char *name, int64_t *id_r, char **error_r)
{
    const char *params[] = {name};
    PGresult *res = iq_pg_query(c, "SELECT id FROM operators WHERE name = $1", 1, params, error_r);
    if (res == NULL)
        return -1;
    int found = PQntuples(res) == 1;
    if (found)
        *id_r = iq_pg_i64(res, 0, 0);
    PQclear(res);
    return found;
}

static iq_err no_operator(int64_t id, char **error_r)
{
    *error_r = iq_xasprintf("operator: no operator %" PRId64 "; see the list of operators", id);
    return IQ_ERR_NOT_FOUND;
}

static iq_err last_admin(char **error_r)
{
    *error_r = iq_xstrdup("operator: the last active admin cannot be demoted, disabled or "
                          "deleted; make another operator admin first");
    return IQ_ERR_IN_USE;
}

iq_err iq_operator_update(PGconn *c, int64_t id, const char *role, int active, char **error_r)
{
    iq_role r = IQ_ROLE_AUDITOR;
    if (role != NULL && iq_role_parse(role, &r) != 0)
        return iq_rule_invalid(error_r, "role: is not admin, operator or auditor; choose one");
    char ids[32], old_role[16] = "";
    snprintf(ids, sizeof(ids), "%" PRId64, id);
    bool old_active = false, other_admin = false;
    char *err = NULL;
    if (iq_pg_begin(c, &err) != 0)
        return iq_op_db_error(c, "operator edit", err, error_r);
    int found = lock_for_change(c, ids, old_role, &old_active, &other_admin, &err);
    if (found <= 0) {
        iq_pg_rollback(c);
        return found < 0 ? iq_op_db_error(c, "operator edit", err, error_r)
                         : no_operator(id, error_r);
    }
    const char *new_role = role != NULL ? iq_role_name(r) : old_role;
    bool new_active = active < 0 ? old_active : active > 0;
    bool was_admin = strcmp(old_role, "admin") == 0 && old_active;
    bool is_admin = strcmp(new_role, "admin") == 0 && new_active;
    if (was_admin && !is_admin && !other_admin) {
        iq_pg_rollback(c);
        return last_admin(error_r);
    }
    json_t *before = json_pack("{s:s, s:b}", "role", old_role, "active", old_active);
    json_t *after = json_pack("{s:s, s:b}", "role", new_role, "active", new_active);
    if (before == NULL || after == NULL)
        iq_oom();
    json_t *changes = iq_audit_diff(before, after);
    json_decref(before);
    json_decref(after);
    const char *params[] = {ids, new_role, new_active ? "true" : "false"};
    int rc = 0;
    if (json_object_size(changes) > 0) {
        rc = iq_pg_exec(c,
                        "UPDATE operators SET role = $2, active = $3::boolean, updated_at = now() "
                        "WHERE id = $1::bigint",
                        3, params, &err);
        /* a disabled operator is signed out at once; tokens above the new role stop at it */
        if (rc == 0 && !new_active)
            rc = iq_pg_exec(c, "DELETE FROM operator_sessions WHERE operator_id = $1::bigint", 1,
                            params, &err);
        if (rc == 0)
            rc = iq_audit_write(c, "update", "operator", id, changes, &err);
    }
    json_decref(changes);
    if (rc != 0 || iq_pg_commit(c, &err) != 0) {
        iq_pg_rollback(c);
        return iq_op_db_error(c, "operator edit", err, error_r);
    }
    return IQ_OK;
}

iq_err iq_operator_delete(PGconn *c, int64_t id, char **error_r)
{
    char ids[32], old_role[16] = "";
    snprintf(ids, sizeof(ids), "%" PRId64, id);
    bool old_active = false, other_admin = false;
    char *err = NULL;
    if (iq_pg_begin(c, &err) != 0)
        return iq_op_db_error(c, "operator delete", err, error_r);
    int found = lock_for_change(c, ids, old_role, &old_active, &other_admin, &err);
    if (found <= 0) {
        iq_pg_rollback(c);
        return found < 0 ? iq_op_db_error(c, "operator delete", err, error_r)
                         : no_operator(id, error_r);
    }
    if (strcmp(old_role, "admin") == 0 && old_active && !other_admin) {
        iq_pg_rollback(c);
        return last_admin(error_r);
    }
    const char *params[] = {ids};
    PGresult *res = iq_pg_query(c, "DELETE FROM operators WHERE id = $1::bigint RETURNING name", 1,
                                params, &err);
    int rc = res == NULL ? -1 : 0;
    if (rc == 0) {
        json_t *fields = json_pack("{s:s, s:s, s:b}", "name", iq_pg_str(res, 0, 0), "role",
                                   old_role, "active", old_active);
        PQclear(res);
        if (fields == NULL)
            iq_oom();
        json_t *changes = iq_audit_diff(fields, NULL);
        json_decref(fields);
        rc = iq_audit_write(c, "delete", "operator", id, changes, &err);
        json_decref(changes);
    }
    if (rc != 0 || iq_pg_commit(c, &err) != 0) {
        iq_pg_rollback(c);
        return iq_op_db_error(c, "operator delete", err, error_r);
    }
    return IQ_OK;
}

/* ---- sign-in ---- */

/* Records a failure; those past the window go at the same time (the table stays small). */
static int record_failure(PGconn *c, const char *name, const char *peer, const iq_session_policy *p,
                          char **error_r)
{
    char window[32];
    snprintf(window, sizeof(window), "%" PRId64, p->window_s);
    const char *params[] = {name, peer, window};
    return iq_pg_exec(c,
                      "WITH old AS (DELETE FROM signin_failures "
                      "WHERE at < now() - $3::bigint * interval '1 second') "
                      "INSERT INTO signin_failures (name, peer) VALUES ($1, $2)",
                      3, params, error_r);
}

/* 1 when the name or the address has too many recent failures, 0 if not, -1 error. */
static int throttled(PGconn *c, const char *name, const char *peer, const iq_session_policy *p,
                     char **error_r)
{
    char window[32], max_name[32], max_peer[32];
    snprintf(window, sizeof(window), "%" PRId64, p->window_s);
    snprintf(max_name, sizeof(max_name), "%" PRId64, p->max_per_name);
    snprintf(max_peer, sizeof(max_peer), "%" PRId64, p->max_per_peer);
    const char *params[] = {name, peer, window, max_name, max_peer};
    PGresult *res = iq_pg_query(c,
                                "SELECT (SELECT count(*) FROM signin_failures WHERE name = $1 AND "
                                "at > now() - $3::bigint * interval '1 second') >= $4::bigint OR "
                                "(SELECT count(*) FROM signin_failures WHERE peer = $2 AND "
                                "at > now() - $3::bigint * interval '1 second') >= $5::bigint",
                                5, params, error_r);
    if (res == NULL)
        return -1;
    int rc = iq_pg_bool(res, 0, 0) ? 1 : 0;
    PQclear(res);
    return rc;
}

/* A valid hash of a random password, checked when the name is unknown so that the answer
 * takes the same time either way. */
static const char *dummy_hash(void)
{
    static char hash[crypto_pwhash_STRBYTES];
    static int done;
    if (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        char pw[IQ_TOKEN_HEX + 1];
        random_hex(pw);
        char h[crypto_pwhash_STRBYTES];
        if (crypto_pwhash_str(h, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0) {
            /* two threads may both compute one: either is fine */
            memcpy(hash, h, sizeof(hash));
            __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
        }
    }
    return hash;
}

static int session_create(PGconn *c, int64_t operator_id, const char *peer,
                          const iq_session_policy *p, char token_r[IQ_TOKEN_HEX + 1],
                          char csrf_r[IQ_TOKEN_HEX + 1], char **error_r)
{
    random_hex(token_r);
    random_hex(csrf_r);
    char hash[2 * crypto_hash_sha256_BYTES + 1];
    token_hash_hex(token_r, hash);
    char id[32], life[32];
    snprintf(id, sizeof(id), "%" PRId64, operator_id);
    snprintf(life, sizeof(life), "%" PRId64, p->lifetime_s);
    const char *params[] = {hash, id, csrf_r, life, peer};
    /* expired sessions of anyone go on each sign-in: the table stays small */
    if (iq_pg_exec(c, "DELETE FROM operator_sessions WHERE expires_at < now()", 0, NULL, error_r) !=
        0)
        return -1;
    return iq_pg_exec(c,
                      "INSERT INTO operator_sessions (token_hash, operator_id, csrf, expires_at, "
                      "peer) VALUES (decode($1, 'hex'), $2::bigint, $3, "
                      "now() + $4::bigint * interval '1 second', $5)",
                      5, params, error_r);
}

iq_signin iq_operator_sign_in(PGconn *c, const char *name, const char *password, const char *peer,
                              const iq_session_policy *p, char token_r[IQ_TOKEN_HEX + 1],
                              iq_operator_session *s_r, char **error_r)
{
    if (sodium_ready() != 0) {
        *error_r = iq_xstrdup("sign-in: libsodium could not start");
        return IQ_SIGNIN_ERROR;
    }
    if (name == NULL || password == NULL || strlen(name) > 64 || strlen(password) > IQ_PASSWORD_MAX)
        return IQ_SIGNIN_REFUSED;
    int t = throttled(c, name, peer, p, error_r);
    if (t != 0)
        return t < 0 ? IQ_SIGNIN_ERROR : IQ_SIGNIN_THROTTLED;

    const char *params[] = {name};
    PGresult *res =
        iq_pg_query(c, "SELECT id, name, role, pw_hash, active FROM operators WHERE name = $1", 1,
                    params, error_r);
    if (res == NULL)
        return IQ_SIGNIN_ERROR;
    bool found = PQntuples(res) == 1;
    const char *hash = found ? iq_pg_str(res, 0, 3) : dummy_hash();
    bool ok = crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
    ok = ok && found && iq_pg_bool(res, 0, 4);
    if (!ok) {
        PQclear(res);
        return record_failure(c, name, peer, p, error_r) != 0 ? IQ_SIGNIN_ERROR : IQ_SIGNIN_REFUSED;
    }
    memset(s_r, 0, sizeof(*s_r));
    s_r->operator_id = iq_pg_i64(res, 0, 0);
    snprintf(s_r->name, sizeof(s_r->name), "%s", iq_pg_str(res, 0, 1));
    if (iq_role_parse(iq_pg_str(res, 0, 2), &s_r->role) != 0)
        s_r->role = IQ_ROLE_AUDITOR;
    PQclear(res);
    if (session_create(c, s_r->operator_id, peer, p, token_r, s_r->csrf, error_r) != 0)
        return IQ_SIGNIN_ERROR;
    return IQ_SIGNIN_OK;
}

int iq_operator_session_get(PGconn *c, const char *token, const iq_session_policy *p,
                            iq_operator_session *s_r, char **error_r)
{
    if (token == NULL || strlen(token) != IQ_TOKEN_HEX)
        return 0;
    char hash[2 * crypto_hash_sha256_BYTES + 1];
    token_hash_hex(token, hash);
    char idle[32];
    snprintf(idle, sizeof(idle), "%" PRId64, p->idle_s);
    const char *params[] = {hash, idle};
    PGresult *res = iq_pg_query(
        c,
        "WITH s AS (UPDATE operator_sessions SET last_seen_at = now() "
        "WHERE token_hash = decode($1, 'hex') AND expires_at > now() "
        "AND last_seen_at > now() - $2::bigint * interval '1 second' "
        "RETURNING operator_id, csrf) "
        "SELECT o.id, o.name, o.role, s.csrf FROM s JOIN operators o ON o.id = s.operator_id "
        "WHERE o.active",
        2, params, error_r);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 0;
    }
    memset(s_r, 0, sizeof(*s_r));
    s_r->operator_id = iq_pg_i64(res, 0, 0);
    snprintf(s_r->name, sizeof(s_r->name), "%s", iq_pg_str(res, 0, 1));
    if (iq_role_parse(iq_pg_str(res, 0, 2), &s_r->role) != 0)
        s_r->role = IQ_ROLE_AUDITOR;
    snprintf(s_r->csrf, sizeof(s_r->csrf), "%s", iq_pg_str(res, 0, 3));
    PQclear(res);
    return 1;
}

int iq_operator_sign_out(PGconn *c, const char *token, char **error_r)
{
    if (token == NULL || strlen(token) != IQ_TOKEN_HEX)
        return 0;
    char hash[2 * crypto_hash_sha256_BYTES + 1];
    token_hash_hex(token, hash);
    const char *params[] = {hash};
    return iq_pg_exec(c, "DELETE FROM operator_sessions WHERE token_hash = decode($1, 'hex')", 1,
                      params, error_r);
}

/* ---- API tokens ---- */

iq_err iq_operator_token_create(PGconn *c, const char *name, const char *role, const char *label,
                                char token_r[IQ_TOKEN_HEX + 5], int64_t *id_r, char **error_r)
{
    iq_role r;
    if (iq_role_parse(role, &r) != 0)
        return iq_rule_invalid(error_r, "role: is not admin, operator or auditor; choose one");
    if (sodium_ready() != 0) {
        *error_r = iq_xstrdup("token: libsodium could not start");
        return IQ_ERR_FAILED;
    }
    char raw[IQ_TOKEN_HEX + 1];
    random_hex(raw);
    snprintf(token_r, IQ_TOKEN_HEX + 5, "iqt_%s", raw);
    sodium_memzero(raw, sizeof(raw));
    char hash[2 * crypto_hash_sha256_BYTES + 1];
    token_hash_hex(token_r, hash);
    const char *params[] = {hash, name, iq_role_name(r), label == NULL ? "" : label};
    char *err = NULL;
    PGresult *res =
        iq_pg_query(c,
                    "INSERT INTO operator_tokens (token_hash, operator_id, role, label) "
                    "SELECT decode($1, 'hex'), id, $3, $4 FROM operators WHERE name = $2 AND "
                    "(CASE role WHEN 'admin' THEN 3 WHEN 'operator' THEN 2 ELSE 1 END) >= "
                    "(CASE $3 WHEN 'admin' THEN 3 WHEN 'operator' THEN 2 ELSE 1 END) RETURNING id",
                    4, params, &err);
    if (res == NULL)
        return iq_op_db_error(c, "operator token", err, error_r);
    if (PQntuples(res) == 0) {
        PQclear(res);
        return iq_rule_invalid(error_r,
                               "name: no operator '%s' whose role allows %s; check 'inboxq "
                               "operator list'",
                               name, iq_role_name(r));
    }
    if (id_r != NULL)
        *id_r = iq_pg_i64(res, 0, 0);
    PQclear(res);
    return IQ_OK;
}

iq_err iq_operator_token_revoke(PGconn *c, int64_t id, char **error_r)
{
    char ids[32];
    snprintf(ids, sizeof(ids), "%" PRId64, id);
    const char *params[] = {ids};
    char *err = NULL;
    PGresult *res = iq_pg_query(c,
                                "UPDATE operator_tokens SET revoked_at = coalesce(revoked_at, "
                                "now()) WHERE id = $1::bigint RETURNING id",
                                1, params, &err);
    if (res == NULL)
        return iq_op_db_error(c, "operator token revoke", err, error_r);
    bool found = PQntuples(res) == 1;
    PQclear(res);
    if (!found) {
        *error_r = iq_xasprintf("no API token %" PRId64 "; see 'inboxq operator token list'", id);
        return IQ_ERR_NOT_FOUND;
    }
    return IQ_OK;
}

int iq_operator_token_get(PGconn *c, const char *token, iq_operator_session *s_r, char **error_r)
{
    if (token == NULL || strlen(token) != IQ_TOKEN_HEX + 4 || strncmp(token, "iqt_", 4) != 0)
        return 0;
    char hash[2 * crypto_hash_sha256_BYTES + 1];
    token_hash_hex(token, hash);
    const char *params[] = {hash};
    PGresult *res = iq_pg_query(
        c,
        "SELECT o.id, o.name, t.role, o.role FROM operator_tokens t JOIN operators o ON "
        "o.id = t.operator_id WHERE t.token_hash = decode($1, 'hex') AND "
        "t.revoked_at IS NULL AND o.active",
        1, params, error_r);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 0;
    }
    memset(s_r, 0, sizeof(*s_r));
    s_r->operator_id = iq_pg_i64(res, 0, 0);
    snprintf(s_r->name, sizeof(s_r->name), "%s", iq_pg_str(res, 0, 1));
    iq_role now = IQ_ROLE_AUDITOR;
    if (iq_role_parse(iq_pg_str(res, 0, 2), &s_r->role) != 0)
        s_r->role = IQ_ROLE_AUDITOR;
    if (iq_role_parse(iq_pg_str(res, 0, 3), &now) != 0 || now < s_r->role)
        s_r->role = now; /* never above the operator's role today */
    s_r->api_token = true;
    PQclear(res);
    return 1;
}
