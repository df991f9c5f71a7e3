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
    char *username;
    char *key_id; /* id of the master key that sealed the secret */
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

#endif
