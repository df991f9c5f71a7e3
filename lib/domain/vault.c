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
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "audit.h"
#include "pg.h"
#include "rules_int.h"
#include "util.h"

#define USERNAME_MAX_BYTES 512

void iq_credential_info_release(iq_credential_info *ci)
{
    if (!ci)
        return;
    free(ci->name);
    free(ci->type);
    free(ci->username);
    json_decref(ci->oauth);
    free(ci->token_expires_at);
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
    json_object_set_new(o, "type", str_or_null(ci->type));
    json_object_set_new(o, "username", str_or_null(ci->username));
    if (ci->oauth) {
        json_object_set(o, "oauth", ci->oauth);
        json_object_set_new(o, "token_expires_at", str_or_null(ci->token_expires_at));
    }
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
                        "c.id), c.type, c.oauth::text, (SELECT " IQ_SQL_TS(                        \
                            "t.expires_at") " "                                                    \
                                            "FROM oauth_tokens t WHERE t.credential_id = c.id) "   \
                                            "FROM credentials c "

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
    ci->type = iq_xstrdup(iq_pg_str(r, row, 9));
    const char *oauth = iq_pg_str(r, row, 10);
    ci->oauth = oauth ? json_loads(oauth, 0, NULL) : NULL;
    const char *exp = iq_pg_str(r, row, 11);
    ci->token_expires_at = exp ? iq_xstrdup(exp) : NULL;
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

/* The insert of iq_vault_add and iq_vault_add_oauth2: type "password" (oauth NULL) or
 * "oauth2" with its settings (JSON text, audited in full: nothing in it is secret). */
static iq_err add_row(PGconn *c, const uint8_t key[IQ_KEY_LEN], const char *name,
                      const char *username, const char *secret, const char *type, const char *oauth,
                      int64_t *id_r, char **error_r)
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
    const char *params[] = {idbuf, name, username, sp.nonce, sp.tag, sp.ct, key_id, type, oauth};
    if (iq_pg_exec(c,
                   "INSERT INTO credentials (id, name, username, secret_nonce, secret_tag, "
                   "secret_ct, key_id, type, oauth) VALUES ($1::bigint, $2, $3, $4::bytea, "
                   "$5::bytea, $6::bytea, $7, $8, $9::jsonb)",
                   9, params, &err) < 0) {
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
    if (oauth) {
        change(changes, "type", NULL, json_string(type));
        change(changes, "oauth", NULL, json_loads(oauth, 0, NULL));
    }
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

iq_err iq_vault_add(PGconn *c, const uint8_t key[IQ_KEY_LEN], const char *name,
                    const char *username, const char *secret, int64_t *id_r, char **error_r)
{
    return add_row(c, key, name, username, secret, "password", NULL, id_r, error_r);
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

static iq_err open_status(PGconn *c, const uint8_t key[IQ_KEY_LEN], int64_t credential_id,
                          char **username_r, char **secret_r, bool password_only, char **error_r);

iq_err iq_vault_open_status(PGconn *c, const uint8_t key[IQ_KEY_LEN], int64_t credential_id,
                            char **username_r, char **secret_r, char **error_r)
{
    return open_status(c, key, credential_id, username_r, secret_r, false, error_r);
}

static iq_err open_status(PGconn *c, const uint8_t key[IQ_KEY_LEN], int64_t credential_id,
                          char **username_r, char **secret_r, bool password_only, char **error_r)
{
    char idbuf[32];
    *secret_r = NULL;
    if (username_r)
        *username_r = NULL;
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, credential_id);
    const char *params[] = {idbuf};
    char *err = NULL;
    PGresult *r = iq_pg_query(c,
                              "SELECT " IQ_VAULT_OPEN_COLS ", " IQ_VAULT_TYPE_COLS
                              " FROM credentials cr WHERE cr.id = $1::bigint",
                              1, params, &err);
    if (!r)
        return iq_op_db_error(c, "reading the credential", err, error_r);
    if (password_only && iq_vault_row_is_oauth2(r, 0, IQ_VAULT_OPEN_NCOLS)) {
        PQclear(r);
        *error_r = iq_xasprintf("credential %" PRId64 " is an OAuth2 credential, which only a "
                                "mail account can use; give a password credential",
                                credential_id);
        return IQ_ERR_CONFIG;
    }
    iq_err st = iq_vault_open_row(key, credential_id, r, 0, 0, username_r, secret_r, error_r);
    PQclear(r);
    return st;
}

int iq_vault_open(PGconn *c, const uint8_t key[32], int64_t credential_id, char **username_r,
                  char **secret_r, char **error_r)
{
    return open_status(c, key, credential_id, username_r, secret_r, true, error_r) == IQ_OK ? 0
                                                                                            : -1;
}

/* Locks the row; 1 found (name and username copied), 0 none, or a negative status. */
static int lock_credential(PGconn *c, int64_t id, char **name_r, char **username_r, char **key_id_r,
                           bool *oauth2_r, char **error_r)
{
    char idbuf[32];
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    const char *params[] = {idbuf};
    char *err = NULL;
    PGresult *r = iq_pg_query(c,
                              "SELECT name, username, key_id, type FROM credentials "
                              "WHERE id = $1::bigint FOR UPDATE",
                              1, params, &err);
    if (!r)
        return (int)iq_op_db_error(c, "reading the credential", err, error_r);
    int found = PQntuples(r) > 0;
    if (found) {
        *name_r = iq_xstrdup(iq_pg_str(r, 0, 0));
        *username_r = iq_xstrdup(iq_pg_str(r, 0, 1));
        *key_id_r = iq_xstrdup(iq_pg_str(r, 0, 2));
        if (oauth2_r)
            *oauth2_r = strcmp(iq_pg_str(r, 0, 3), "oauth2") == 0;
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
    bool oauth2 = false;
    int found = lock_credential(c, id, &name, &old_user, &old_key, &oauth2, error_r);
    if (found <= 0) {
        st = found < 0 ? (iq_err)found : IQ_ERR_NOT_FOUND;
        goto fail;
    }
    if (oauth2) {
        *error_r = iq_xasprintf("credential %" PRId64 " is an OAuth2 credential: its secrets "
                                "are a client secret, key or refresh token, not a password; "
                                "get a new refresh token with 'inboxq credential authorize "
                                "%" PRId64 "', or delete it and add it again",
                                id, id);
        st = IQ_ERR_INVALID;
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
    int found = lock_credential(c, id, &name, &user, &key_id, NULL, error_r);
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

/* ---- OAuth2 credentials ---- */

static const char *const grant_names[] = {"client_credentials", "refresh_token", "jwt_bearer"};

const char *iq_grant_name(iq_grant g)
{
    return (unsigned)g < IQ_ARRAY_LEN(grant_names) ? grant_names[g] : "client_credentials";
}

void iq_oauth_cred_release(iq_oauth_cred *oc)
{
    if (!oc)
        return;
    free(oc->name);
    free(oc->username);
    free(oc->provider);
    free(oc->token_url);
    free(oc->device_url);
    free(oc->client_id);
    free(oc->scope);
    free(oc->assertion_iss);
    free(oc->assertion_kid);
    iq_secret_free(&oc->client_secret);
    iq_secret_free(&oc->client_key);
    iq_secret_free(&oc->refresh_token);
    memset(oc, 0, sizeof(*oc));
}

/* Microsoft's tenant: a GUID, a domain name, or organizations/common/consumers. */
static bool tenant_ok(const char *t)
{
    if (!*t || strlen(t) > 253)
        return false;
    for (const char *p = t; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
            return false;
    return true;
}

static bool printable(const char *s, size_t max)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
        if (*p <= 0x20 || *p == 0x7f)
            return false;
    return n > 0 && n <= max;
}

/* An https:// URL of printable characters without spaces. */
static int check_url(const char *flag, const char *url, char **error_r)
{
    if (!printable(url, 2048) || !iq_str_has_prefix(url, "https://") || !url[8]) {
        *error_r = iq_xasprintf("%s: give an https:// URL (the token is sent over it)", flag);
        return -1;
    }
    return 0;
}

/* base64url without padding of n bytes; malloc'd. */
static char *b64url(const unsigned char *p, size_t n)
{
    char *s = iq_xmalloc(iq_size_add(4 * ((n + 2) / 3), 1));
    int len = EVP_EncodeBlock((unsigned char *)s, p, (int)n);
    while (len > 0 && s[len - 1] == '=')
        len--;
    s[len] = '\0';
    for (char *c = s; *c; c++)
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    return s;
}

/* Checks the client key PEM (an RSA private key: RS256) and, given the certificate, that they
 * match; *x5t_r is the certificate's SHA-1 thumbprint, base64url (the JWT header's x5t, which
 * Microsoft identity platform matches with the uploaded certificate). */
static int check_client_key(const char *cert_pem, const char *key_pem, const char *flag,
                            char **x5t_r, char **error_r)
{
    int rc = -1;
    X509 *x = NULL;
    BIO *kb = BIO_new_mem_buf(key_pem, -1);
    EVP_PKEY *pk = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    BIO_free(kb);
    if (!pk || EVP_PKEY_base_id(pk) != EVP_PKEY_RSA) {
        *error_r = iq_xasprintf("%s: %s", flag,
                                pk ? "is not an RSA key (RS256 signs with RSA); give the RSA "
                                     "private key in PEM"
                                   : "holds no private key in PEM (unencrypted); give the "
                                     "key's PEM file");
        goto out;
    }
    if (cert_pem) {
        BIO *cb = BIO_new_mem_buf(cert_pem, -1);
        x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
        BIO_free(cb);
        if (!x) {
            *error_r = iq_xstrdup("--client-certificate: holds no certificate in PEM; give the "
                                  "certificate uploaded to the app registration");
            goto out;
        }
        if (X509_check_private_key(x, pk) != 1) {
            *error_r = iq_xstrdup("--client-key: does not belong to --client-certificate; give "
                                  "the certificate's own key");
            goto out;
        }
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        if (X509_digest(x, EVP_sha1(), md, &mdlen) != 1) {
            *error_r = iq_xstrdup("--client-certificate: its thumbprint could not be computed");
            goto out;
        }
        *x5t_r = b64url(md, mdlen);
    }
    rc = 0;
out:
    ERR_clear_error();
    X509_free(x);
    EVP_PKEY_free(pk);
    return rc;
}

/* Google's service-account key file: client_email, private_key, private_key_id, token_uri. */
static int read_service_account(const char *text, iq_oauth_cred *oc, char **error_r)
{
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    const char *type = NULL, *email = NULL, *key = NULL, *kid = NULL, *uri = NULL;
    int rc = -1;
    if (!json_is_object(o) ||
        json_unpack(o, "{s?s, s?s, s?s, s?s, s?s}", "type", &type, "client_email", &email,
                    "private_key", &key, "private_key_id", &kid, "token_uri", &uri) < 0) {
        *error_r = iq_xstrdup("--service-account-file: is not a service-account key file "
                              "(JSON); download a key of the service account as JSON");
        goto out;
    }
    if ((type && strcmp(type, "service_account") != 0) || !email || !key) {
        *error_r = iq_xstrdup("--service-account-file: has no client_email and private_key of "
                              "a service account; download a key of the service account as "
                              "JSON");
        goto out;
    }
    if (check_client_key(NULL, key, "--service-account-file", NULL, error_r) < 0)
        goto out;
    if (!printable(email, 320)) {
        *error_r = iq_xstrdup("--service-account-file: client_email is not an address");
        goto out;
    }
    oc->assertion_iss = iq_xstrdup(email);
    oc->assertion_kid = kid && printable(kid, 256) ? iq_xstrdup(kid) : NULL;
    oc->client_key = iq_xstrdup(key);
    if (uri && !oc->token_url && check_url("--service-account-file: token_uri", uri, error_r) < 0)
        goto out;
    if (uri && !oc->token_url)
        oc->token_url = iq_xstrdup(uri);
    if (!oc->client_id)
        oc->client_id = iq_xstrdup(email);
    rc = 0;
out:
    json_decref(o);
    return rc;
}

iq_err iq_oauth_resolve(const iq_oauth_input *in, const char *username, iq_oauth_cred *oc,
                        char **error_r)
{
    memset(oc, 0, sizeof(*oc));
    const char *p = in->provider;
    bool ms = p && strcmp(p, "microsoft365") == 0, outlook = p && strcmp(p, "outlook") == 0;
    bool google = p && strcmp(p, "google") == 0, generic = p && strcmp(p, "generic") == 0;
    if (!ms && !outlook && !google && !generic) {
        *error_r = iq_xstrdup("--provider: give microsoft365, google, outlook or generic");
        goto bad;
    }
    oc->provider = iq_xstrdup(p);
    if (iq_vault_validate_username(username, error_r) < 0)
        goto bad;
    if (!in->client_id || !printable(in->client_id, 512)) {
        *error_r = iq_xstrdup("--client-id: is required; give the application (client) id "
                              "of the app registration");
        if (!(google && in->service_account_json && !in->client_id))
            goto bad;
        free(*error_r);
        *error_r = NULL;
    } else {
        oc->client_id = iq_xstrdup(in->client_id);
    }
    int secrets = (in->client_secret != NULL) + (in->client_key_pem != NULL) +
                  (in->service_account_json != NULL);
    if (secrets > 1) {
        *error_r = iq_xstrdup("--client-secret-stdin, --client-certificate/--client-key and "
                              "--service-account-file: give at most one of them");
        goto bad;
    }
    if ((in->client_cert_pem != NULL) != (in->client_key_pem != NULL)) {
        *error_r = iq_xstrdup("--client-certificate: and --client-key go together; give both");
        goto bad;
    }
    /* the grant: given, or what the secrets imply */
    if (in->grant) {
        size_t g = 0;
        while (g < IQ_ARRAY_LEN(grant_names) && strcmp(grant_names[g], in->grant) != 0)
            g++;
        if (g == IQ_ARRAY_LEN(grant_names)) {
            *error_r = iq_xstrdup("--grant: give client_credentials, refresh_token or "
                                  "jwt_bearer");
            goto bad;
        }
        oc->grant = (iq_grant)g;
    } else {
        /* Google has no client_credentials for mail: its client secret is a delegated one */
        oc->grant = in->service_account_json ? IQ_GRANT_JWT_BEARER
                    : !google && (in->client_secret || in->client_key_pem)
                        ? IQ_GRANT_CLIENT_CREDENTIALS
                        : IQ_GRANT_REFRESH_TOKEN;
    }
    if (google && oc->grant == IQ_GRANT_CLIENT_CREDENTIALS) {
        *error_r = iq_xstrdup("--grant: Google offers no app-only access to mail; use a service "
                              "account with domain-wide delegation (--service-account-file) or "
                              "refresh_token");
        goto bad;
    }
    if (oc->grant == IQ_GRANT_JWT_BEARER && !in->service_account_json) {
        *error_r = iq_xstrdup("--service-account-file: the jwt_bearer grant signs with the "
                              "service account's key; give its JSON key file");
        goto bad;
    }
    if (oc->grant == IQ_GRANT_CLIENT_CREDENTIALS && !in->client_secret && !in->client_key_pem) {
        *error_r = iq_xstrdup("--client-secret-stdin: the client_credentials grant needs a "
                              "client secret (or --client-certificate and --client-key)");
        goto bad;
    }
    if (oc->grant != IQ_GRANT_JWT_BEARER && in->service_account_json) {
        *error_r = iq_xstrdup("--service-account-file: only the jwt_bearer grant uses it");
        goto bad;
    }
    if (outlook && oc->grant != IQ_GRANT_REFRESH_TOKEN) {
        *error_r = iq_xstrdup("--grant: Outlook.com personal mailboxes allow delegated access "
                              "only: use refresh_token (then 'inboxq credential authorize')");
        goto bad;
    }
    if (in->tenant && !ms) {
        *error_r = iq_xstrdup("--tenant: only --provider microsoft365 has tenants");
        goto bad;
    }
    if (ms && !in->tenant && !in->token_url) {
        *error_r = iq_xstrdup("--tenant: is required with --provider microsoft365; give the "
                              "directory (tenant) id or the tenant's domain name");
        goto bad;
    }
    if (in->tenant && !tenant_ok(in->tenant)) {
        *error_r = iq_xstrdup("--tenant: give the directory (tenant) id, a GUID, or the "
                              "tenant's domain name");
        goto bad;
    }
    if (in->token_url && check_url("--token-url", in->token_url, error_r) < 0)
        goto bad;
    if (in->device_url && check_url("--device-url", in->device_url, error_r) < 0)
        goto bad;
    if (in->scope && (strlen(in->scope) > 1024 || iq_rule_has_control(in->scope) || !*in->scope)) {
        *error_r = iq_xstrdup("--scope: give space-separated scopes on one line");
        goto bad;
    }
    if (in->token_url)
        oc->token_url = iq_xstrdup(in->token_url);
    if (in->device_url)
        oc->device_url = iq_xstrdup(in->device_url);
    if (in->service_account_json && read_service_account(in->service_account_json, oc, error_r) < 0)
        goto bad;
    if (in->client_key_pem && check_client_key(in->client_cert_pem, in->client_key_pem,
                                               "--client-key", &oc->assertion_kid, error_r) < 0)
        goto bad;
    /* presets */
    const char *ms_tenant = in->tenant ? in->tenant : "consumers";
    const char *scope = NULL;
    if (ms || outlook) {
        if (!oc->token_url)
            oc->token_url =
                iq_xasprintf("https://login.microsoftonline.com/%s/oauth2/v2.0/token", ms_tenant);
        if (!oc->device_url && !in->token_url)
            oc->device_url = iq_xasprintf(
                "https://login.microsoftonline.com/%s/oauth2/v2.0/devicecode", ms_tenant);
        scope = oc->grant == IQ_GRANT_CLIENT_CREDENTIALS ? "https://outlook.office365.com/.default"
                : outlook ? "https://outlook.office.com/IMAP.AccessAsUser.All "
                            "https://outlook.office.com/POP.AccessAsUser.All offline_access"
                          : "https://outlook.office365.com/IMAP.AccessAsUser.All "
                            "https://outlook.office365.com/POP.AccessAsUser.All offline_access";
    } else if (google) {
        if (!oc->token_url)
            oc->token_url = iq_xstrdup("https://oauth2.googleapis.com/token");
        if (!oc->device_url && !in->token_url)
            oc->device_url = iq_xstrdup("https://oauth2.googleapis.com/device/code");
        scope = "https://mail.google.com/";
    } else if (!oc->token_url) {
        *error_r = iq_xstrdup("--token-url: is required with --provider generic; give the "
                              "authorization server's token endpoint");
        goto bad;
    }
    oc->scope = iq_xstrdup(in->scope ? in->scope : scope ? scope : "");
    if (in->client_secret) {
        if (iq_vault_validate_secret(in->client_secret, strlen(in->client_secret), error_r) < 0)
            goto bad;
        oc->client_secret = iq_xstrdup(in->client_secret);
    }
    if (in->client_key_pem)
        oc->client_key = iq_xstrdup(in->client_key_pem);
    if (in->refresh_token)
        oc->refresh_token = iq_xstrdup(in->refresh_token);
    return IQ_OK;
bad:
    if (*error_r && strncmp(*error_r, "username:", 9) == 0) {
        char *e = iq_xasprintf("--%s", *error_r);
        free(*error_r);
        *error_r = e;
    }
    iq_oauth_cred_release(oc);
    return IQ_ERR_INVALID;
}

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, json_string(v));
}

/* The settings column: everything but the secrets. */
static char *settings_json(const iq_oauth_cred *oc)
{
    json_t *o = json_object();
    if (!o)
        iq_oom();
    set_str(o, "provider", oc->provider);
    set_str(o, "token_url", oc->token_url);
    set_str(o, "device_url", oc->device_url);
    set_str(o, "client_id", oc->client_id);
    set_str(o, "grant", iq_grant_name(oc->grant));
    set_str(o, "scope", oc->scope);
    set_str(o, "assertion_iss", oc->assertion_iss);
    set_str(o, "assertion_kid", oc->assertion_kid);
    json_object_set_new(o, "client_auth",
                        json_string(oc->client_key && oc->grant != IQ_GRANT_JWT_BEARER
                                        ? "certificate"
                                    : oc->client_secret ? "secret"
                                                        : "none"));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!s)
        iq_oom();
    return s;
}

/* The sealed secret: a compact JSON object (no raw line breaks), wiped by the caller. */
static char *secrets_json(const iq_oauth_cred *oc, const char *refresh_token)
{
    json_t *o = json_object();
    if (!o)
        iq_oom();
    set_str(o, "client_secret", oc->client_secret);
    set_str(o, "client_key", oc->client_key);
    set_str(o, "refresh_token", refresh_token);
    char *s = json_dumps(o, JSON_COMPACT);
    /* jansson's copies of the strings are freed without wiping; they live only as long as
     * this call, as the secret's copies in libpq's buffers do */
    json_decref(o);
    if (!s)
        iq_oom();
    return s;
}

iq_err iq_vault_add_oauth2(PGconn *c, const uint8_t key[IQ_KEY_LEN], const char *name,
                           const char *username, const iq_oauth_input *in, int64_t *id_r,
                           char **error_r)
{
    iq_oauth_cred oc;
    iq_err st = iq_oauth_resolve(in, username, &oc, error_r);
    if (st != IQ_OK)
        return st;
    char *settings = settings_json(&oc);
    char *secret = secrets_json(&oc, oc.refresh_token);
    st = add_row(c, key, name, username, secret, "oauth2", settings, id_r, error_r);
    iq_secret_free(&secret);
    free(settings);
    iq_oauth_cred_release(&oc);
    return st;
}

bool iq_vault_row_is_oauth2(const PGresult *r, int row, int col)
{
    const char *t = row < PQntuples(r) ? iq_pg_str(r, row, col) : NULL;
    return t && strcmp(t, "oauth2") == 0;
}

static char *dup_member(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? iq_xstrdup(v) : NULL;
}

iq_err iq_vault_oauth_from_secret(int64_t id, const char *name, const char *username,
                                  const char *settings, const char *secret, iq_oauth_cred *oc,
                                  char **error_r)
{
    memset(oc, 0, sizeof(*oc));
    json_t *set = settings ? json_loads(settings, 0, NULL) : NULL;
    json_t *sec = secret ? json_loads(secret, 0, NULL) : NULL;
    iq_err st = IQ_OK;
    if (!json_is_object(set) || !json_is_object(sec)) {
        *error_r = iq_xasprintf("credential %" PRId64 " holds malformed OAuth2 settings; "
                                "delete it and add it again",
                                id);
        st = IQ_ERR_CORRUPT;
        goto out;
    }
    oc->id = id;
    oc->name = iq_xstrdup(name ? name : "");
    oc->username = iq_xstrdup(username ? username : "");
    oc->provider = dup_member(set, "provider");
    oc->token_url = dup_member(set, "token_url");
    oc->device_url = dup_member(set, "device_url");
    oc->client_id = dup_member(set, "client_id");
    oc->scope = dup_member(set, "scope");
    oc->assertion_iss = dup_member(set, "assertion_iss");
    oc->assertion_kid = dup_member(set, "assertion_kid");
    const char *g = json_string_value(json_object_get(set, "grant"));
    for (size_t i = 0; g && i < IQ_ARRAY_LEN(grant_names); i++)
        if (strcmp(g, grant_names[i]) == 0)
            oc->grant = (iq_grant)i;
    oc->client_secret = dup_member(sec, "client_secret");
    oc->client_key = dup_member(sec, "client_key");
    oc->refresh_token = dup_member(sec, "refresh_token");
    if (!oc->token_url || !oc->client_id) {
        *error_r = iq_xasprintf("credential %" PRId64 " has no token endpoint or client id; "
                                "delete it and add it again",
                                id);
        st = IQ_ERR_CORRUPT;
        iq_oauth_cred_release(oc);
    }
out:
    json_decref(set);
    json_decref(sec);
    return st;
}

iq_err iq_vault_oauth_open(PGconn *c, const uint8_t key[IQ_KEY_LEN], int64_t id, iq_oauth_cred *oc,
                           char **error_r)
{
    char idbuf[32];
    memset(oc, 0, sizeof(*oc));
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    const char *params[] = {idbuf};
    char *err = NULL, *user = NULL, *secret = NULL;
    PGresult *r = iq_pg_query(c,
                              "SELECT " IQ_VAULT_OPEN_COLS ", " IQ_VAULT_TYPE_COLS
                              " FROM credentials cr WHERE cr.id = $1::bigint",
                              1, params, &err);
    if (!r)
        return iq_op_db_error(c, "reading the credential", err, error_r);
    iq_err st = iq_vault_open_row(key, id, r, 0, 0, &user, &secret, error_r);
    if (st == IQ_OK && !iq_vault_row_is_oauth2(r, 0, IQ_VAULT_OPEN_NCOLS)) {
        *error_r = iq_xasprintf("credential %" PRId64 " is a password credential, not OAuth2", id);
        st = IQ_ERR_CONFIG;
    }
    if (st == IQ_OK)
        st = iq_vault_oauth_from_secret(id, iq_pg_str(r, 0, 0), user, iq_pg_str(r, 0, 7), secret,
                                        oc, error_r);
    PQclear(r);
    iq_secret_free(&user);
    iq_secret_free(&secret);
    return st;
}

iq_err iq_vault_oauth_set_refresh(PGconn *c, const uint8_t key[IQ_KEY_LEN], const iq_oauth_cred *oc,
                                  const char *refresh_token, bool in_tx, char **error_r)
{
    iq_sealed sealed;
    sealed_params sp = {0};
    memset(&sealed, 0, sizeof(sealed));
    char key_id[IQ_KEY_ID_LEN + 1], idbuf[32];
    iq_key_id(key, key_id);
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, oc->id);
    iq_err st = IQ_OK;
    if (!in_tx && (st = tx_begin(c, error_r)) != IQ_OK)
        return st;
    char *secret = secrets_json(oc, refresh_token);
    if (iq_credential_seal(key, oc->id, secret, &sealed, error_r) < 0) {
        st = IQ_ERR_FAILED;
        goto fail;
    }
    sealed_params_fill(&sp, &sealed);
    const char *params[] = {idbuf, sp.nonce, sp.tag, sp.ct, key_id};
    char *err = NULL;
    if (iq_pg_exec(c,
                   "UPDATE credentials SET secret_nonce = $2::bytea, secret_tag = $3::bytea, "
                   "secret_ct = $4::bytea, key_id = $5, version = version + 1, "
                   "updated_at = now() WHERE id = $1::bigint AND type = 'oauth2'",
                   5, params, &err) < 0) {
        st = iq_op_db_error(c, "storing the new refresh token", err, error_r);
        goto fail;
    }
    json_t *changes = json_pack("{s:{s:b}}", "refresh_token", "changed", 1);
    if (!changes)
        iq_oom();
    if ((st = audit(c, "update", oc->id, changes, error_r)) != IQ_OK ||
        (!in_tx && (st = tx_commit(c, error_r)) != IQ_OK))
        goto fail;
    goto out;
fail:
    if (!in_tx)
        iq_pg_rollback(c);
out:
    iq_secret_free(&secret);
    sealed_params_release(&sp);
    iq_sealed_release(&sealed);
    return st;
}

/* ---- the access token cache ---- */

void iq_token_cache_release(iq_token_cache *t)
{
    if (!t)
        return;
    iq_secret_free(&t->token);
    free(t->expires_at);
    free(t->scope);
    memset(t, 0, sizeof(*t));
}

static size_t token_aad(int64_t id, char *buf, size_t size)
{
    int n = snprintf(buf, size, "inboxq-token:%" PRId64, id);
    return n < 0 ? 0 : (size_t)n;
}

int iq_vault_token_get(PGconn *c, const uint8_t key[IQ_KEY_LEN], int64_t id, bool lock,
                       iq_token_cache *t_r, char **error_r)
{
    char idbuf[32], key_id[IQ_KEY_ID_LEN + 1];
    memset(t_r, 0, sizeof(*t_r));
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    iq_key_id(key, key_id);
    const char *params[] = {idbuf};
    char *err = NULL;
    if (lock && iq_pg_exec(c,
                           "INSERT INTO oauth_tokens (credential_id) VALUES ($1::bigint) "
                           "ON CONFLICT (credential_id) DO NOTHING",
                           1, params, &err) < 0) {
        iq_op_db_error(c, "reading the access token cache", err, error_r);
        return -1;
    }
    /* usable until the refresh margin: a tenth of its lifetime, at most a minute */
    PGresult *r = iq_pg_query(
        c,
        lock ? "SELECT key_id, encode(token_nonce, 'hex'), encode(token_tag, 'hex'), "
               "encode(token_ct, 'hex'), " IQ_SQL_TS(
                   "expires_at") ", scope, "
                                 "floor(extract(epoch FROM expires_at - least(interval '60 s', "
                                 "(expires_at - obtained_at) / 10) - now()))::bigint "
                                 "FROM oauth_tokens WHERE credential_id = $1::bigint FOR UPDATE"
             : "SELECT key_id, encode(token_nonce, 'hex'), encode(token_tag, 'hex'), "
               "encode(token_ct, 'hex'), " IQ_SQL_TS(
                   "expires_at") ", scope, "
                                 "floor(extract(epoch FROM expires_at - least(interval '60 s', "
                                 "(expires_at - obtained_at) / 10) - now()))::bigint "
                                 "FROM oauth_tokens WHERE credential_id = $1::bigint",
        1, params, &err);
    if (!r) {
        iq_op_db_error(c, "reading the access token cache", err, error_r);
        return -1;
    }
    int found = 0;
    iq_sealed sealed;
    const char *kid = PQntuples(r) ? iq_pg_str(r, 0, 0) : NULL;
    if (kid && strcmp(kid, key_id) == 0 && !PQgetisnull(r, 0, 6) &&
        sealed_from_row(r, 0, 1, &sealed) == 0) {
        char aad[48];
        size_t aad_len = token_aad(id, aad, sizeof(aad));
        size_t len = 0;
        if (iq_crypto_open(key, aad, aad_len, &sealed, &t_r->token, &len, &err) == 0) {
            found = 1;
            t_r->valid_s = iq_pg_i64(r, 0, 6);
            t_r->expires_at = iq_xstrdup(iq_pg_str(r, 0, 4));
            const char *sc = iq_pg_str(r, 0, 5);
            t_r->scope = sc ? iq_xstrdup(sc) : NULL;
        } else {
            free(err); /* a token that does not open is no token: get a fresh one */
        }
        iq_sealed_release(&sealed);
    }
    PQclear(r);
    return found;
}

iq_err iq_vault_token_put(PGconn *c, const uint8_t key[IQ_KEY_LEN], int64_t id, const char *token,
                          int64_t expires_in_s, const char *scope, char **error_r)
{
    char idbuf[32], key_id[IQ_KEY_ID_LEN + 1], exp[24], aad[48];
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    snprintf(exp, sizeof(exp), "%" PRId64, expires_in_s);
    iq_key_id(key, key_id);
    iq_sealed sealed;
    memset(&sealed, 0, sizeof(sealed));
    size_t aad_len = token_aad(id, aad, sizeof(aad));
    if (iq_crypto_seal(key, aad, aad_len, token, strlen(token), &sealed, error_r) < 0)
        return IQ_ERR_FAILED;
    sealed_params sp;
    sealed_params_fill(&sp, &sealed);
    const char *params[] = {idbuf, sp.nonce, sp.tag, sp.ct, key_id, exp, scope};
    char *err = NULL;
    iq_err st = IQ_OK;
    if (iq_pg_exec(c,
                   "INSERT INTO oauth_tokens AS t (credential_id, token_nonce, token_tag, "
                   "token_ct, key_id, expires_at, scope, obtained_at, requests) VALUES "
                   "($1::bigint, $2::bytea, $3::bytea, $4::bytea, $5, now() + make_interval("
                   "secs => $6::bigint), $7, now(), 1) ON CONFLICT (credential_id) DO UPDATE SET "
                   "token_nonce = EXCLUDED.token_nonce, token_tag = EXCLUDED.token_tag, "
                   "token_ct = EXCLUDED.token_ct, key_id = EXCLUDED.key_id, "
                   "expires_at = EXCLUDED.expires_at, scope = EXCLUDED.scope, "
                   "obtained_at = now(), requests = t.requests + 1, last_error = NULL, "
                   "last_error_class = NULL, failed_at = NULL",
                   7, params, &err) < 0)
        st = iq_op_db_error(c, "storing the access token", err, error_r);
    sealed_params_release(&sp);
    iq_sealed_release(&sealed);
    return st;
}

iq_err iq_vault_token_failed(PGconn *c, int64_t id, const char *reason, const char *cls,
                             char **error_r)
{
    char idbuf[32];
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    const char *params[] = {idbuf, reason, cls};
    char *err = NULL;
    if (iq_pg_exec(c,
                   "INSERT INTO oauth_tokens AS t (credential_id, requests, last_error, "
                   "last_error_class, failed_at) VALUES ($1::bigint, 1, $2, $3, now()) "
                   "ON CONFLICT (credential_id) DO UPDATE SET requests = t.requests + 1, "
                   "last_error = $2, last_error_class = $3, failed_at = now()",
                   3, params, &err) < 0)
        return iq_op_db_error(c, "recording the token endpoint's answer", err, error_r);
    return IQ_OK;
}
