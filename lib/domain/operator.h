/* SPDX-License-Identifier: MIT */
/* Operators of `inboxq serve` (schemas/sql/0011_operators.sql): roles, argon2id password
 * hashes (libsodium), sign-in with throttling per account and per address, sessions in
 * PostgreSQL (the cookie's token, stored as its SHA-256) with expiry and idle timeout, and
 * API tokens. */
#ifndef IQ_OPERATOR_H
#define IQ_OPERATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "pg.h"

/* Ordered: each role may do what the ones below it may. */
typedef enum {
    IQ_ROLE_AUDITOR = 1, /* reads everything and the audit */
    IQ_ROLE_OPERATOR,    /* also edits accounts, runs checks and reports */
    IQ_ROLE_ADMIN,       /* also manages credentials, connectors and operators */
} iq_role;

/* "admin", "operator", "auditor" -> role: 0 or -1. */
int iq_role_parse(const char *s, iq_role *role_r);
const char *iq_role_name(iq_role role);

/* Tokens (session, CSRF, API) are this many hex digits (32 random bytes). */
#define IQ_TOKEN_HEX 64
/* Longest password taken (bytes). */
#define IQ_PASSWORD_MAX 1024

/* Operator names: 1-64 of A-Z a-z 0-9 . _ @ -. 0, or -1 with *error_r naming the field. */
int iq_operator_name_check(const char *name, char **error_r);

/* Adds an operator with an argon2id hash of password (8 to IQ_PASSWORD_MAX bytes), audited.
 * IQ_OK, IQ_ERR_INVALID (which field, what to do), IQ_ERR_IN_USE (the name is taken), or a
 * database class, with *error_r. */
iq_err iq_operator_add(PGconn *c, const char *name, const char *role, const char *password,
                       int64_t *id_r, char **error_r);
/* Lists operators: a JSON array text of {id, name, role, active, created_at} (malloc'd), or
 * NULL with *error_r. */
char *iq_operator_list_json(PGconn *c, char **error_r);

/* The id of the operator named name: 1 with *id_r, 0 none, -1 with *error_r. */
int iq_operator_find(PGconn *c, const char *name, int64_t *id_r, char **error_r);
/* An admin's change of operator id: role (NULL: unchanged) and active (1, 0, or -1: unchanged),
 * audited; disabling ends the operator's sessions at once (its API tokens stop working while it
 * is inactive, and never act above its role). IQ_OK, IQ_ERR_INVALID (role), IQ_ERR_NOT_FOUND,
 * IQ_ERR_IN_USE (it would leave no active admin), or a database class, with *error_r. */
iq_err iq_operator_update(PGconn *c, int64_t id, const char *role, int active, char **error_r);
/* Deletes operator id with its sessions and tokens, audited; the same refusals. */
iq_err iq_operator_delete(PGconn *c, int64_t id, char **error_r);

typedef struct iq_session_policy {
    int64_t lifetime_s;   /* a session ends this long after sign-in */
    int64_t idle_s;       /* ... or after this long unused */
    int64_t window_s;     /* sign-in failures count over this window */
    int64_t max_per_name; /* failures for one operator name within the window */
    int64_t max_per_peer; /* failures from one address within the window */
} iq_session_policy;

/* 8 h, 30 min idle; 5 failures per name or 20 per address in 15 minutes. */
void iq_session_policy_default(iq_session_policy *p);

/* Who is signed in. */
typedef struct iq_operator_session {
    int64_t operator_id;
    char name[72];
    iq_role role;
    char csrf[IQ_TOKEN_HEX + 1]; /* "" for an API token (no cookie, no CSRF) */
    bool api_token;
} iq_operator_session;

typedef enum {
    IQ_SIGNIN_OK,
    IQ_SIGNIN_REFUSED,   /* no such operator, inactive, or a wrong password */
    IQ_SIGNIN_THROTTLED, /* too many failures for the name or the address: try later */
    IQ_SIGNIN_ERROR,     /* the database failed (*error_r) */
} iq_signin;

/* Checks the throttle, then the password (the same work for an unknown name), and on success
 * creates a new session: token_r gets its token (for the cookie), s_r who it is. A failure is
 * recorded for the throttle. */
iq_signin iq_operator_sign_in(PGconn *c, const char *name, const char *password, const char *peer,
                              const iq_session_policy *p, char token_r[IQ_TOKEN_HEX + 1],
                              iq_operator_session *s_r, char **error_r);
/* The live session of token (and marks it used): 1, 0 (none, expired or idle), -1 error. */
int iq_operator_session_get(PGconn *c, const char *token, const iq_session_policy *p,
                            iq_operator_session *s_r, char **error_r);
/* Ends the session of token (none is fine). 0 or -1. */
int iq_operator_sign_out(PGconn *c, const char *token, char **error_r);

/* A new API token for operator name, scoped to role (not above the operator's): token_r gets
 * "iqt_" and IQ_TOKEN_HEX hex digits, shown once. IQ_OK or a class with *error_r. */
iq_err iq_operator_token_create(PGconn *c, const char *name, const char *role, const char *label,
                                char token_r[IQ_TOKEN_HEX + 5], int64_t *id_r, char **error_r);
/* Revokes API token id. IQ_OK, IQ_ERR_NOT_FOUND, or a class with *error_r. */
iq_err iq_operator_token_revoke(PGconn *c, int64_t id, char **error_r);
/* Who an "Authorization: Bearer" token is: 1, 0 (unknown or revoked), -1 error. */
int iq_operator_token_get(PGconn *c, const char *token, iq_operator_session *s_r, char **error_r);

#endif
