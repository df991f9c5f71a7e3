/* SPDX-License-Identifier: MIT */
/* The credential vault: sealed secrets in PostgreSQL, opened only in memory, every change
 * audited without the secret. */
#include "vault.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#include "audit.h"
#include "pg.h"
#include "util.h"

#define USERNAME_MAX_BYTES 512

void iq_credential_info_release(iq_credential_info *ci)
{
    if (!ci)
        return;
    free(ci->name);
    free(ci->username);
    free(ci->key_id);
    free(ci->created_at);
    free(ci->updated_at);
    memset(ci, 0, sizeof(*ci));
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *iq_credential_info_json(const iq_credential_info *ci)
{
    json_t *o = json_object();
    if (!o)
        iq_oom();
    json_object_set_new(o, "id", json_integer(ci->id));
    json_object_set_new(o, "name", str_or_null(ci->name));
    json_object_set_new(o, "username", str_or_null(ci->username));
    json_object_set_new(o, "key_id", str_or_null(ci->key_id));
    json_object_set_new(o, "accounts", json_integer(ci->accounts));
    json_object_set_new(o, "connectors", json_integer(ci->connectors));
    json_object_set_new(o, "version", json_integer(ci->version));
    json_object_set_new(o, "created_at", str_or_null(ci->created_at));
    json_object_set_new(o, "updated_at", str_or_null(ci->updated_at));
    return o;
}

int iq_vault_key_from_config(const iq_config *cfg, uint8_t key_r[IQ_KEY_LEN], char **error_r)
{
    return iq_master_key_load(iq_config_str(cfg, IQ_SET_MASTER_KEY_FILE), key_r, error_r);
}

int iq_vault_validate_username(const char *username, char **error_r)
{
    if (!username || !*username) {
        *error_r = iq_xstrdup("username: is required; give the mailbox's user name");
        return -1;
    }
    if (strlen(username) > USERNAME_MAX_BYTES) {
        *error_r = iq_xasprintf("username: is longer than %d bytes; give a shorter one",
                                USERNAME_MAX_BYTES);
        return -1;
    }
    for (const unsigned char *p = (const unsigned char *)username; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            *error_r = iq_xstrdup("username: contains a control character (tab, newline...); "
                                  "give it as printable text");
            return -1;
        }
    }
    return 0;
}

int iq_vault_validate_secret(const char *secret, size_t len, char **error_r)
{
    if (!secret || len == 0) {
        *error_r = iq_xstrdup("secret: is empty; give the password");
        return -1;
    }
    if (len > IQ_SECRET_MAX) {
        *error_r = iq_xasprintf("secret: is longer than %d bytes; a secret is a password or a "
                                "token, not a file",
                                IQ_SECRET_MAX);
        return -1;
    }
    if (memchr(secret, '\0', len)) {
        *error_r = iq_xstrdup("secret: contains a NUL byte; give it as text");
        return -1;
    }
    if (memchr(secret, '\n', len) || memchr(secret, '\r', len)) {
        *error_r = iq_xstrdup("secret: contains a line break (only one trailing newline is "
                              "removed); give the secret on one line");
        return -1;
    }
    return 0;
}

static char *hex_encode(const uint8_t *p, size_t n)
{
    char *s = iq_xmalloc(iq_size_add(iq_size_mul(n, 2), 3));
    s[0] = '\\'; /* bytea's hex input form: \x then the digits */
    s[1] = 'x';
    iq_hex_encode(p, n, s + 2);
    return s;
}

/* Decodes lowercase/uppercase hex of exactly want bytes (want = SIZE_MAX: any length into a
 * malloc'd *out_r). 0 or -1. */
static int hex_decode(const char *s, uint8_t *fixed, size_t want, uint8_t **out_r, size_t *len_r)
{
    size_t len = s ? strlen(s) : 0;
    if (len % 2 != 0)
        return -1;
    size_t n = len / 2;
    uint8_t *dst = fixed;
    if (want != SIZE_MAX) {
        if (n != want)
            return -1;
    } else {
        dst = iq_xmalloc(n + 1);
    }
    for (size_t i = 0; i < n; i++) {
        int hi = iq_hex_digit(s[2 * i]), lo = iq_hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            if (dst != fixed)
                free(dst);
            return -1;
        }
        dst[i] = (uint8_t)(hi << 4 | lo);
    }
    if (out_r)
        *out_r = dst;
    if (len_r)
        *len_r = n;
    return 0;
}

/* Reads nonce, tag and ciphertext from hex columns col, col+1, col+2. */
static int sealed_from_row(const PGresult *r, int row, int col, iq_sealed *s)
{
    memset(s, 0, sizeof(*s));
    if (hex_decode(iq_pg_str(r, row, col), s->nonce, IQ_NONCE_LEN, NULL, NULL) < 0 ||
        hex_decode(iq_pg_str(r, row, col + 1), s->tag, IQ_TAG_LEN, NULL, NULL) < 0 ||
        hex_decode(iq_pg_str(r, row, col + 2), NULL, SIZE_MAX, &s->ct, &s->ct_len) < 0) {
        iq_sealed_release(s);
        return -1;
    }
    return 0;
}

static void show_name(const char *s, char *buf, size_t size)
{
    size_t j = 0;
    for (size_t i = 0; s && s[i] && j + 1 < size && i < 60; i++)
        buf[j++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    buf[j] = '\0';
}

int iq_vault_find(PGconn *c, const char *ref, int64_t *id_r, char **error_r)
{
    iq_refs refs;
    iq_refs_pg(&refs, c);
    int rc = refs.credential(refs.ctx, ref, id_r, error_r);
    return rc < 0 ? -1 : rc;
}

#define INFO_SQL                                                                                   \
    "SELECT c.id, c.name, c.username, c.key_id, " IQ_SQL_TS("c.created_at") ", " IQ_SQL_TS(        \
        "c.updated_at") ", c.version, "                                                            \
                        "(SELECT count(*) FROM mail_accounts a WHERE a.credential_id = c.id), "    \
                        "(SELECT count(*) FROM network_connectors k WHERE k.credential_id = "      \
                        "c.id) FROM credentials c "

static void info_from_row(const PGresult *r, int row, iq_credential_info *ci)
{
    memset(ci, 0, sizeof(*ci));
    ci->id = iq_pg_i64(r, row, 0);
    ci->name = iq_xstrdup(iq_pg_str(r, row, 1));
    ci->username = iq_xstrdup(iq_pg_str(r, row, 2));
    ci->key_id = iq_xstrdup(iq_pg_str(r, row, 3));
    ci->created_at = iq_xstrdup(iq_pg_str(r, row, 4));
    ci->updated_at = iq_xstrdup(iq_pg_str(r, row, 5));
    ci->version = (int)iq_pg_i64(r, row, 6);
    ci->accounts = iq_pg_i64(r, row, 7);
    ci->connectors = iq_pg_i64(r, row, 8);
}

int iq_vault_get(PGconn *c, int64_t id, iq_credential_info *ci_r, char **error_r)
{
    char idbuf[32];
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    const char *params[] = {idbuf};
    char *err = NULL;
    memset(ci_r, 0, sizeof(*ci_r));
    PGresult *r = iq_pg_query(c, INFO_SQL "WHERE c.id = $1::bigint", 1, params, &err);
    if (!r) {
        iq_op_db_error(c, "loading the credential", err, error_r);
        return -1;
    }
    int found = PQntuples(r) > 0;
    if (found)
        info_from_row(r, 0, ci_r);
    PQclear(r);
    return found;
}

int iq_vault_list(PGconn *c, iq_credential_info **list_r, size_t *count_r, char **error_r)
{
    char *err = NULL;
    *list_r = NULL;
    *count_r = 0;
    PGresult *r = iq_pg_query(c, INFO_SQL "ORDER BY c.id", 0, NULL, &err);
    if (!r) {
        iq_op_db_error(c, "listing credentials", err, error_r);
        return -1;
    }
    size_t n = (size_t)PQntuples(r);
    iq_credential_info *list = iq_xcalloc(n ? n : 1, sizeof(*list));
    for (size_t i = 0; i < n; i++)
        info_from_row(r, (int)i, &list[i]);
    PQclear(r);
    *list_r = list;
    *count_r = n;
    return 0;
}

int iq_vault_users(PGconn *c, int64_t id, char **users_r, char **error_r)
{
    char idbuf[32];
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    const char *params[] = {idbuf};
    char *err = NULL;
    *users_r = NULL;
    PGresult *r = iq_pg_query(c,
                              "SELECT kind, id, name FROM ("
                              " SELECT 'account' AS kind, id, name FROM mail_accounts"
                              "  WHERE credential_id = $1::bigint"
                              " UNION ALL"
                              " SELECT 'connector', id, name FROM network_connectors"
                              "  WHERE credential_id = $1::bigint) u"
                              " ORDER BY kind, id LIMIT 11",
                              1, params, &err);
    if (!r) {
        iq_op_db_error(c, "checking who uses the credential", err, error_r);
        return -1;
    }
    *users_r = iq_users_text(r);
    PQclear(r);
    return 0;
}

static iq_err tx_begin(PGconn *c, char **error_r)
{
    char *err = NULL;
    if (iq_pg_begin(c, &err) < 0)
        return iq_op_db_error(c, "starting a transaction", err, error_r);
    return IQ_OK;
}

static iq_err tx_commit(PGconn *c, char **error_r)
{
    char *err = NULL;
    if (iq_pg_commit(c, &err) < 0)
        return iq_op_db_error(c, "committing", err, error_r);
    return IQ_OK;
}

static iq_err audit(PGconn *c, const char *action, int64_t id, json_t *changes, char **error_r)
{
    char *err = NULL;
    int rc = iq_audit_write(c, action, "credential", id, changes, &err);
    json_decref(changes);
    if (rc < 0)
        return iq_op_db_error(c, "writing the audit trail", err, error_r);
    return IQ_OK;
}

static json_t *change(json_t *changes, const char *field, json_t *old, json_t *new_)
{
    json_t *pair =
        json_pack("{s:o,s:o}", "old", old ? old : json_null(), "new", new_ ? new_ : json_null());
    if (!pair)
        iq_oom();
    json_object_set_new(changes, field, pair);
    return changes;
}

static json_t *secret_changed(json_t *changes)
{
    json_t *flag = json_pack("{s:b}", "changed", 1);
    if (!flag)
        iq_oom();
    json_object_set_new(changes, "secret", flag);
    return changes;
}

/* The row's sealed columns as bytea hex parameters. */
typedef struct sealed_params {
    char *nonce, *tag, *ct;
} sealed_params;

static void sealed_params_fill(sealed_params *p, const iq_sealed *s)
{
    p->nonce = hex_encode(s->nonce, IQ_NONCE_LEN);
    p->tag = hex_encode(s->tag, IQ_TAG_LEN);
    p->ct = hex_encode(s->ct, s->ct_len);
}

static void sealed_params_release(sealed_params *p)
{
    free(p->nonce);
    free(p->tag);
    free(p->ct);
    memset(p, 0, sizeof(*p));
}

iq_err iq_vault_add(PGconn *c, const uint8_t key[IQ_KEY_LEN], const char *name,
                    const char *username, const char *secret, int64_t *id_r, char **error_r)
{
    iq_sealed sealed;
    sealed_params sp = {0};
    memset(&sealed, 0, sizeof(sealed));
    char key_id[IQ_KEY_ID_LEN + 1], idbuf[32];
    iq_key_id(key, key_id);
    if (iq_validate_name("name", name, error_r) < 0 ||
        iq_vault_validate_username(username, error_r) < 0 ||
        iq_vault_validate_secret(secret, secret ? strlen(secret) : 0, error_r) < 0)
        return IQ_ERR_INVALID;
    iq_refs refs;
    iq_refs_pg(&refs, c);
    iq_err st = tx_begin(c, error_r);
    if (st != IQ_OK)
        return st;
    int taken = refs.name_taken(refs.ctx, "credential", name, 0, error_r);
    if (taken < 0) {
        st = (iq_err)taken;
        goto fail;
    }
    if (taken) {
        char shown[80];
        show_name(name, shown, sizeof(shown));
        *error_r = iq_xasprintf("name: a credential named '%s' already exists (names are "
                                "case-insensitive); choose another name",
                                shown);
        st = IQ_ERR_INVALID;
        goto fail;
    }
    /* The id first: it is the associated data that binds the secret to this row. */
    char *err = NULL;
    PGresult *r = iq_pg_query(c, "SELECT nextval(pg_get_serial_sequence('credentials', 'id'))", 0,
                              NULL, &err);
    if (!r) {
        st = iq_op_db_error(c, "adding the credential", err, error_r);
        goto fail;
    }
    int64_t id = iq_pg_i64(r, 0, 0);
    PQclear(r);
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    if (iq_credential_seal(key, id, secret, &sealed, error_r) < 0) {
        st = IQ_ERR_FAILED;
        goto fail;
    }
    sealed_params_fill(&sp, &sealed);
    const char *params[] = {idbuf, name, username, sp.nonce, sp.tag, sp.ct, key_id};
    if (iq_pg_exec(c,
                   "INSERT INTO credentials (id, name, username, secret_nonce, secret_tag, "
                   "secret_ct, key_id) VALUES ($1::bigint, $2, $3, $4::bytea, $5::bytea, "
                   "$6::bytea, $7)",
                   7, params, &err) < 0) {
        if (strcmp(iq_pg_last_sqlstate(), "23505") == 0) {
            free(err);
            *error_r = iq_xstrdup("name: another credential already has this name (names are "
                                  "case-insensitive); choose another name");
            st = IQ_ERR_INVALID;
        } else {
            st = iq_op_db_error(c, "adding the credential", err, error_r);
        }
        goto fail;
    }
    json_t *changes = json_object();
    if (!changes)
        iq_oom();
    change(changes, "name", NULL, json_string(name));
    change(changes, "username", NULL, json_string(username));
    change(changes, "key_id", NULL, json_string(key_id));
    secret_changed(changes);
    if ((st = audit(c, "create", id, changes, error_r)) != IQ_OK ||
        (st = tx_commit(c, error_r)) != IQ_OK)
        goto fail;
    *id_r = id;
    goto out;
fail:
    iq_pg_rollback(c);
out:
    sealed_params_release(&sp);
    iq_sealed_release(&sealed);
    return st;
}

iq_err iq_vault_open_row(const uint8_t key[IQ_KEY_LEN], int64_t credential_id, const PGresult *r,
                         int row, int col, char **username_r, char **secret_r, char **error_r)
{
    char key_id[IQ_KEY_ID_LEN + 1];
    *secret_r = NULL;
    if (username_r)
        *username_r = NULL;
    if (row >= PQntuples(r) || PQgetisnull(r, row, col + 2)) {
        *error_r = iq_xasprintf("credential %" PRId64 " does not exist; see 'inboxq credential "
                                "list'",
                                credential_id);
        return IQ_ERR_NOT_FOUND;
    }
    char shown[80];
    show_name(iq_pg_str(r, row, col), shown, sizeof(shown));
    iq_key_id(key, key_id);
    const char *row_key = iq_pg_str(r, row, col + 2);
    if (strcmp(row_key, key_id) != 0) {
        *error_r = iq_xasprintf("credential %" PRId64 " '%s' is sealed with master key %s, but "
                                "master_key_file holds key %s; point master_key_file at the key "
                                "it was sealed with (after a rekey, at the new key)",
                                credential_id, shown, row_key, key_id);
        return IQ_ERR_KEY;
    }
    iq_sealed sealed;
    if (sealed_from_row(r, row, col + 3, &sealed) < 0) {
        *error_r = iq_xasprintf("credential %" PRId64 " '%s' has malformed sealed columns; set "
                                "the secret again with 'inboxq credential set-secret'",
                                credential_id, shown);
        return IQ_ERR_CORRUPT;
    }
    iq_err st = IQ_OK;
    char *err = NULL;
    if (iq_credential_open(key, credential_id, &sealed, secret_r, &err) < 0) {
        *error_r = iq_xasprintf("%s; set the secret again with 'inboxq credential set-secret "
                                "%" PRId64 "'",
                                err, credential_id);
        free(err);
        st = IQ_ERR_CORRUPT;
    } else if (username_r) {
        *username_r = iq_xstrdup(iq_pg_str(r, row, col + 1));
    }
    iq_sealed_release(&sealed);
    return st;
}

iq_err iq_vault_open_status(PGconn *c, const uint8_t key[IQ_KEY_LEN], int64_t credential_id,
                            char **username_r, char **secret_r, char **error_r)
{
    char idbuf[32];
    *secret_r = NULL;
    if (username_r)
        *username_r = NULL;
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, credential_id);
    const char *params[] = {idbuf};
    char *err = NULL;
    PGresult *r = iq_pg_query(c,
                              "SELECT " IQ_VAULT_OPEN_COLS " FROM credentials cr "
                              "WHERE cr.id = $1::bigint",
                              1, params, &err);
    if (!r)
        return iq_op_db_error(c, "reading the credential", err, error_r);
    iq_err st = iq_vault_open_row(key, credential_id, r, 0, 0, username_r, secret_r, error_r);
    PQclear(r);
    return st;
}

int iq_vault_open(PGconn *c, const uint8_t key[32], int64_t credential_id, char **username_r,
                  char **secret_r, char **error_r)
{
    return iq_vault_open_status(c, key, credential_id, username_r, secret_r, error_r) == IQ_OK ? 0
                                                                                               : -1;
}

/* Locks the row; 1 found (name and username copied), 0 none, or a negative status. */
static int lock_credential(PGconn *c, int64_t id, char **name_r, char **username_r, char **key_id_r,
                           char **error_r)
{
    char idbuf[32];
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    const char *params[] = {idbuf};
    char *err = NULL;
    PGresult *r = iq_pg_query(c,
                              "SELECT name, username, key_id FROM credentials "
                              "WHERE id = $1::bigint FOR UPDATE",
                              1, params, &err);
    if (!r)
        return (int)iq_op_db_error(c, "reading the credential", err, error_r);
    int found = PQntuples(r) > 0;
    if (found) {
        *name_r = iq_xstrdup(iq_pg_str(r, 0, 0));
        *username_r = iq_xstrdup(iq_pg_str(r, 0, 1));
        *key_id_r = iq_xstrdup(iq_pg_str(r, 0, 2));
    } else {
        *error_r = iq_xasprintf("credential %" PRId64 " does not exist; see 'inboxq credential "
                                "list'",
                                id);
    }
    PQclear(r);
    return found;
}

iq_err iq_vault_set_secret(PGconn *c, const uint8_t key[IQ_KEY_LEN], int64_t id,
                           const char *username, const char *secret, char **error_r)
{
    char *name = NULL, *old_user = NULL, *old_key = NULL;
    iq_sealed sealed;
    sealed_params sp = {0};
    memset(&sealed, 0, sizeof(sealed));
    char key_id[IQ_KEY_ID_LEN + 1], idbuf[32];
    iq_key_id(key, key_id);
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    if ((username && iq_vault_validate_username(username, error_r) < 0) ||
        iq_vault_validate_secret(secret, secret ? strlen(secret) : 0, error_r) < 0)
        return IQ_ERR_INVALID;
    iq_err st = tx_begin(c, error_r);
    if (st != IQ_OK)
        return st;
    int found = lock_credential(c, id, &name, &old_user, &old_key, error_r);
    if (found <= 0) {
        st = found < 0 ? (iq_err)found : IQ_ERR_NOT_FOUND;
        goto fail;
    }
    if (iq_credential_seal(key, id, secret, &sealed, error_r) < 0) {
        st = IQ_ERR_FAILED;
        goto fail;
    }
    sealed_params_fill(&sp, &sealed);
    const char *new_user = username ? username : old_user;
    const char *params[] = {idbuf, sp.nonce, sp.tag, sp.ct, key_id, new_user};
    char *err = NULL;
    if (iq_pg_exec(c,
                   "UPDATE credentials SET secret_nonce = $2::bytea, secret_tag = $3::bytea, "
                   "secret_ct = $4::bytea, key_id = $5, username = $6, version = version + 1, "
                   "updated_at = now() WHERE id = $1::bigint",
                   6, params, &err) < 0) {
        st = iq_op_db_error(c, "changing the secret", err, error_r);
        goto fail;
    }
    json_t *changes = json_object();
    if (!changes)
        iq_oom();
    /* lock_credential set old_user, as it found the row */
    if (strcmp(new_user, old_user) != 0) // NOLINT(clang-analyzer-core.NonNullParamChecker)
        change(changes, "username", json_string(old_user), json_string(new_user));
    if (strcmp(key_id, old_key) != 0)
        change(changes, "key_id", json_string(old_key), json_string(key_id));
    secret_changed(changes);
    if ((st = audit(c, "update", id, changes, error_r)) != IQ_OK ||
        (st = tx_commit(c, error_r)) != IQ_OK)
        goto fail;
    goto out;
fail:
    iq_pg_rollback(c);
out:
    free(name);
    free(old_user);
    free(old_key);
    sealed_params_release(&sp);
    iq_sealed_release(&sealed);
    return st;
}

iq_err iq_vault_delete(PGconn *c, int64_t id, char **error_r)
{
    char *name = NULL, *user = NULL, *key_id = NULL, *users = NULL;
    iq_err st = tx_begin(c, error_r);
    if (st != IQ_OK)
        return st;
    /* The row lock makes a concurrent account or connector insert that refers to this
     * credential wait (its foreign key check locks the row too). */
    int found = lock_credential(c, id, &name, &user, &key_id, error_r);
    if (found <= 0) {
        st = found < 0 ? (iq_err)found : IQ_ERR_NOT_FOUND;
        goto fail;
    }
    if (iq_vault_users(c, id, &users, error_r) < 0) {
        st = IQ_ERR_FAILED;
        goto fail;
    }
    if (users) {
        char shown[80];
        show_name(name, shown, sizeof(shown));
        *error_r = iq_xasprintf("credential %" PRId64 " '%s' is used by %s; give them another "
                                "credential or delete them first",
                                id, shown, users);
        st = IQ_ERR_IN_USE;
        goto fail;
    }
    char idbuf[32];
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    const char *params[] = {idbuf};
    char *err = NULL;
    if (iq_pg_exec(c, "DELETE FROM credentials WHERE id = $1::bigint", 1, params, &err) < 0) {
        if (strcmp(iq_pg_last_sqlstate(), "23503") == 0) {
            free(err);
            *error_r = iq_xasprintf("credential %" PRId64 " came into use meanwhile; run the "
                                    "command again to see by what",
                                    id);
            st = IQ_ERR_IN_USE;
        } else {
            st = iq_op_db_error(c, "deleting the credential", err, error_r);
        }
        goto fail;
    }
    json_t *changes = json_object();
    if (!changes)
        iq_oom();
    change(changes, "name", json_string(name), NULL);
    change(changes, "username", json_string(user), NULL);
    change(changes, "key_id", json_string(key_id), NULL);
    if ((st = audit(c, "delete", id, changes, error_r)) != IQ_OK ||
        (st = tx_commit(c, error_r)) != IQ_OK)
        goto fail;
    goto out;
fail:
    iq_pg_rollback(c);
out:
    free(name);
    free(user);
    free(key_id);
    free(users);
    return st;
}

iq_err iq_vault_rekey(PGconn *c, const uint8_t old_key[IQ_KEY_LEN],
                      const uint8_t new_key[IQ_KEY_LEN], size_t *rekeyed_r, size_t *already_r,
                      char **error_r)
{
    char old_id[IQ_KEY_ID_LEN + 1], new_id[IQ_KEY_ID_LEN + 1];
    iq_key_id(old_key, old_id);
    iq_key_id(new_key, new_id);
    *rekeyed_r = *already_r = 0;
    if (strcmp(old_id, new_id) == 0) {
        *error_r = iq_xasprintf("new-key-file: holds the current master key (%s); make a new "
                                "one with 'inboxq keygen --output FILE'",
                                old_id);
        return IQ_ERR_INVALID;
    }
    iq_err st = tx_begin(c, error_r);
    if (st != IQ_OK)
        return st;
    char *err = NULL;
    PGresult *r = iq_pg_query(c,
                              "SELECT id, name, key_id, encode(secret_nonce, 'hex'), "
                              "encode(secret_tag, 'hex'), encode(secret_ct, 'hex') "
                              "FROM credentials ORDER BY id FOR UPDATE",
                              0, NULL, &err);
    if (!r) {
        st = iq_op_db_error(c, "reading the credentials", err, error_r);
        goto fail;
    }
    int n = PQntuples(r);
    /* First pass: every row must be under one of the two keys, or nothing changes. */
    for (int i = 0; i < n; i++) {
        const char *kid = iq_pg_str(r, i, 2);
        if (strcmp(kid, old_id) != 0 && strcmp(kid, new_id) != 0) {
            char shown[80];
            show_name(iq_pg_str(r, i, 1), shown, sizeof(shown));
            *error_r = iq_xasprintf("credential %" PRId64 " '%s' is sealed with key %s, which is "
                                    "neither the current key %s nor the new key %s; nothing "
                                    "was changed: set master_key_file to the key that sealed it, "
                                    "or set its secret again",
                                    iq_pg_i64(r, i, 0), shown, kid, old_id, new_id);
            st = IQ_ERR_KEY;
            PQclear(r);
            goto fail;
        }
    }
    for (int i = 0; i < n && st == IQ_OK; i++) {
        int64_t id = iq_pg_i64(r, i, 0);
        bool under_new = strcmp(iq_pg_str(r, i, 2), new_id) == 0;
        iq_sealed in, out;
        memset(&out, 0, sizeof(out));
        if (sealed_from_row(r, i, 3, &in) < 0) {
            *error_r = iq_xasprintf("credential %" PRId64 " has malformed sealed columns; "
                                    "nothing was changed: set its secret again first",
                                    id);
            st = IQ_ERR_CORRUPT;
            break;
        }
        if (under_new) {
            /* Already under the new key (an earlier rekey to it): check it opens. */
            char *secret = NULL;
            if (iq_credential_open(new_key, id, &in, &secret, &err) < 0) {
                *error_r = iq_xasprintf("%s; nothing was changed", err);
                free(err);
                st = IQ_ERR_CORRUPT;
            } else {
                (*already_r)++;
            }
            iq_secret_free(&secret);
            iq_sealed_release(&in);
            continue;
        }
        if (iq_credential_reseal(old_key, new_key, id, &in, &out, &err) < 0) {
            *error_r = iq_xasprintf("%s; nothing was changed: set its secret again first", err);
            free(err);
            st = IQ_ERR_CORRUPT;
            iq_sealed_release(&in);
            break;
        }
        sealed_params sp;
        sealed_params_fill(&sp, &out);
        char idbuf[32];
        snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
        const char *params[] = {idbuf, sp.nonce, sp.tag, sp.ct, new_id};
        if (iq_pg_exec(c,
                       "UPDATE credentials SET secret_nonce = $2::bytea, secret_tag = $3::bytea, "
                       "secret_ct = $4::bytea, key_id = $5, version = version + 1, "
                       "updated_at = now() WHERE id = $1::bigint",
                       5, params, &err) < 0) {
            st = iq_op_db_error(c, "re-encrypting a credential", err, error_r);
        } else {
            json_t *changes = json_object();
            if (!changes)
                iq_oom();
            change(changes, "key_id", json_string(old_id), json_string(new_id));
            st = audit(c, "update", id, changes, error_r);
            if (st == IQ_OK)
                (*rekeyed_r)++;
        }
        sealed_params_release(&sp);
        iq_sealed_release(&in);
        iq_sealed_release(&out);
    }
    PQclear(r);
    if (st != IQ_OK || (st = tx_commit(c, error_r)) != IQ_OK)
        goto fail;
    return IQ_OK;
fail:
    iq_pg_rollback(c);
    *rekeyed_r = *already_r = 0;
    return st;
}
