/* SPDX-License-Identifier: MIT */
/* The credential vault in PostgreSQL: usernames in clear, secrets sealed with AES-256-GCM under
 * the master key (which never touches the database), every change audited. */
#ifndef IQ_VAULT_H
#define IQ_VAULT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "account.h" /* iq_err */
#include "config.h"
#include "crypto.h"
#include "pg.h"

/* A credential without its secret. */
typedef struct iq_credential_info {
    int64_t id;
    char *name;
    char *type; /* "password" or "oauth2" */
    char *username;
    json_t *oauth; /* oauth2: the settings that are not secret (iq_oauth_params'), else NULL */
    char *token_expires_at; /* oauth2: the cached access token's expiry, NULL when none */
    char *key_id;           /* id of the master key that sealed the secret */
    char *created_at;
    char *updated_at;
    int version;
    int64_t accounts;   /* how many accounts use it */
    int64_t connectors; /* how many connectors use it */
} iq_credential_info;

void iq_credential_info_release(iq_credential_info *ci);
json_t *iq_credential_info_json(const iq_credential_info *ci);

/* Loads the master key named by setting master_key_file (INBOXQ_MASTER_KEY_FILE). 0, or -1
 * with *error_r (an unset setting, a missing, short, long or too open file): a configuration
 * problem, EX_CONFIG. */
int iq_vault_key_from_config(const iq_config *cfg, uint8_t key_r[IQ_KEY_LEN], char **error_r);

/* Rules for the pieces of a credential; each error names the field. 0 or -1. */
int iq_vault_validate_username(const char *username, char **error_r);
/* 1..IQ_SECRET_MAX bytes, no NUL, CR or LF (they cannot be sent in IMAP/POP3 commands). */
int iq_vault_validate_secret(const char *secret, size_t len, char **error_r);

/* NAME or numeric ID -> id: 1 found, 0 none, -1 error. */
int iq_vault_find(PGconn *c, const char *ref, int64_t *id_r, char **error_r);
/* 1 found, 0 none, -1 error. */
int iq_vault_get(PGconn *c, int64_t id, iq_credential_info *ci_r, char **error_r);
/* Every credential, by id. *list_r is malloc'd; release each entry and free the array. */
int iq_vault_list(PGconn *c, iq_credential_info **list_r, size_t *count_r, char **error_r);
/* "account 3 'x', connector 2 'y'" (the first few users) or NULL when unused; -1 on error. */
int iq_vault_users(PGconn *c, int64_t id, char **users_r, char **error_r);

/* Adds a credential in one transaction: takes the row id, seals the secret with that id as
 * associated data, inserts the row and its audit row. */
iq_err iq_vault_add(PGconn *c, const uint8_t key[IQ_KEY_LEN], const char *name,
                    const char *username, const char *secret, int64_t *id_r, char **error_r);

/* THE way to get a login: the username and the opened secret of a credential (both malloc'd;
 * free the secret with iq_secret_free). Fails when the row's key id is not this key's, or the
 * ciphertext does not authenticate (tampered, or moved from another row). 0 or -1. */
int iq_vault_open(PGconn *c, const uint8_t key[32], int64_t credential_id, char **username_r,
                  char **secret_r, char **error_r);
/* iq_vault_open with a classified outcome (IQ_ERR_NOT_FOUND, _KEY, _CORRUPT, ...). */
iq_err iq_vault_open_status(PGconn *c, const uint8_t key[IQ_KEY_LEN], int64_t credential_id,
                            char **username_r, char **secret_r, char **error_r);

/* The columns iq_vault_open_row reads, for a query that joins credentials as "cr" (a row
 * whose columns are all NULL reads as a credential that does not exist). */
#define IQ_VAULT_OPEN_COLS                                                                         \
    "cr.name, cr.username, cr.key_id, encode(cr.secret_nonce, 'hex'), "                            \
    "encode(cr.secret_tag, 'hex'), encode(cr.secret_ct, 'hex')"
#define IQ_VAULT_OPEN_NCOLS 6
/* iq_vault_open_status on columns IQ_VAULT_OPEN_COLS already read, from column col on. */
iq_err iq_vault_open_row(const uint8_t key[IQ_KEY_LEN], int64_t credential_id, const PGresult *r,
                         int row, int col, char **username_r, char **secret_r, char **error_r);

/* Replaces the secret (fresh nonce, sealed with key) and, when username is not NULL, the
 * username; audited as {"secret": {"changed": true}}. */
iq_err iq_vault_set_secret(PGconn *c, const uint8_t key[IQ_KEY_LEN], int64_t id,
                           const char *username, const char *secret, char **error_r);
/* Refused with IQ_ERR_IN_USE, naming them, while an account or connector uses it. */
iq_err iq_vault_delete(PGconn *c, int64_t id, char **error_r);

/* Re-encrypts every secret sealed with old_key under new_key in one transaction (rows already
 * under new_key are checked, not changed). Refused, changing nothing, when any row's key id
 * is neither key's, when a secret does not open, or when both keys are the same. Until the
 * commit every row keeps its old key id. *rekeyed_r and *already_r count the rows. */
iq_err iq_vault_rekey(PGconn *c, const uint8_t old_key[IQ_KEY_LEN],
                      const uint8_t new_key[IQ_KEY_LEN], size_t *rekeyed_r, size_t *already_r,
                      char **error_r);

/* ---- OAuth2 credentials ---- */

typedef enum {
    IQ_GRANT_CLIENT_CREDENTIALS = 0, /* app-only: client secret or client certificate */
    IQ_GRANT_REFRESH_TOKEN,          /* delegated: refresh token from the device flow */
    IQ_GRANT_JWT_BEARER,             /* Google service account with domain-wide delegation */
} iq_grant;

const char *iq_grant_name(iq_grant g);

/* What an OAuth2 credential holds, opened (iq_vault_oauth_open). Strings malloc'd; the
 * secrets are wiped by iq_oauth_cred_release. */
typedef struct iq_oauth_cred {
    int64_t id;
    char *name;
    char *username; /* the mailbox: user= of XOAUTH2, a= of OAUTHBEARER, sub of jwt_bearer */
    char *provider; /* microsoft365, google, outlook, generic */
    char *token_url;
    char *device_url; /* RFC 8628 device authorization endpoint, NULL when unknown */
    char *client_id;
    char *scope;
    iq_grant grant;
    char *assertion_iss; /* jwt_bearer: the service account's e-mail */
    char *assertion_kid; /* the signing key's id (service account) or x5t (certificate) */
    /* secrets */
    char *client_secret;
    char *client_key; /* PEM: the certificate's private key, or the service account's */
    char *refresh_token;
} iq_oauth_cred;

void iq_oauth_cred_release(iq_oauth_cred *oc);

/* Operator input for an OAuth2 credential (the CLI read the files). NULL = not given. */
typedef struct iq_oauth_input {
    const char *provider; /* required */
    const char *tenant;
    const char *token_url;
    const char *device_url;
    const char *scope;
    const char *client_id;
    const char *grant;
    const char *client_secret;
    const char *client_cert_pem; /* with client_key_pem */
    const char *client_key_pem;
    const char *service_account_json; /* Google's key file */
    const char *refresh_token;
} iq_oauth_input;

/* Presets, rules and defaults: fills *oc (secrets included) from in. Each error names the
 * flag (--provider, --tenant, ...). IQ_OK or IQ_ERR_INVALID. */
iq_err iq_oauth_resolve(const iq_oauth_input *in, const char *username, iq_oauth_cred *oc,
                        char **error_r);

/* Adds an OAuth2 credential (one transaction, audited without secrets). */
iq_err iq_vault_add_oauth2(PGconn *c, const uint8_t key[IQ_KEY_LEN], const char *name,
                           const char *username, const iq_oauth_input *in, int64_t *id_r,
                           char **error_r);

/* The columns iq_vault_oauth_from_row reads after IQ_VAULT_OPEN_COLS: type and settings. */
#define IQ_VAULT_TYPE_COLS "cr.type, cr.oauth"
#define IQ_VAULT_TYPE_NCOLS 2
/* Whether the row (type column at col) is an OAuth2 credential. */
bool iq_vault_row_is_oauth2(const PGresult *r, int row, int col);
/* Builds *oc from an opened secret (the sealed JSON) and the settings column (oauth). */
iq_err iq_vault_oauth_from_secret(int64_t id, const char *name, const char *username,
                                  const char *settings_json, const char *secret, iq_oauth_cred *oc,
                                  char **error_r);
/* Opens an OAuth2 credential from PostgreSQL. IQ_ERR_CONFIG when it is a password. */
iq_err iq_vault_oauth_open(PGconn *c, const uint8_t key[IQ_KEY_LEN], int64_t id, iq_oauth_cred *oc,
                           char **error_r);
/* Stores a rotated refresh token: in the caller's transaction when in_tx, else in one of
 * its own; audited as {"refresh_token": {"changed": true}}. */
iq_err iq_vault_oauth_set_refresh(PGconn *c, const uint8_t key[IQ_KEY_LEN], const iq_oauth_cred *oc,
                                  const char *refresh_token, bool in_tx, char **error_r);

/* The access token every worker shares (table oauth_tokens). */
typedef struct iq_token_cache {
    char *token;      /* opened; wiped by iq_token_cache_release */
    int64_t valid_s;  /* seconds until the refresh margin before expiry; <= 0: refresh it */
    char *expires_at; /* ISO 8601 UTC */
    char *scope;      /* as granted, may be NULL */
} iq_token_cache;

void iq_token_cache_release(iq_token_cache *t);
/* Reads the cached token: 1 one opened, 0 none (or sealed with another key), -1 error. With
 * lock (inside the caller's transaction) the row is created when missing and locked FOR
 * UPDATE: the one refresher per credential; the others wait here for its result. */
int iq_vault_token_get(PGconn *c, const uint8_t key[IQ_KEY_LEN], int64_t id, bool lock,
                       iq_token_cache *t_r, char **error_r);
/* Stores a fresh token that expires in expires_in_s seconds, and counts the request. */
iq_err iq_vault_token_put(PGconn *c, const uint8_t key[IQ_KEY_LEN], int64_t id, const char *token,
                          int64_t expires_in_s, const char *scope, char **error_r);
/* Counts a refused or failed request and keeps its reason (never a secret). */
iq_err iq_vault_token_failed(PGconn *c, int64_t id, const char *reason, const char *cls,
                             char **error_r);

#endif
