/* SPDX-License-Identifier: MIT */
/* OAuth2 access tokens for a check: the shared cache in PostgreSQL, and the token endpoint
 * (client_credentials with a client secret or an RS256 client assertion, refresh_token with
 * rotation, jwt_bearer for Google service accounts) over HTTPS, through the account's Network
 * Connector when it has one. One refresher per credential: the cache row's lock. */
#ifndef IQ_OAUTH_H
#define IQ_OAUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "account.h"
#include "error.h"
#include "pg.h"
#include "result.h"
#include "vault.h"

/* What the token step did, for 'account test' (never the token). */
typedef struct iq_oauth_step {
    char endpoint[256]; /* the token endpoint's host */
    const char *grant;
    bool from_cache; /* a token another check (or an earlier one) obtained */
    char *expires_at;
    char *scope;
} iq_oauth_step;

void iq_oauth_step_release(iq_oauth_step *st);

/* A usable access token for oc: the cached one while it is valid and is not `rejected` (the
 * token the mail server just refused), else a fresh one from the endpoint (one request, made
 * by one worker at a time per credential; the others wait for its result). *token_r is
 * malloc'd (iq_secret_free). IQ_OK, or a class with *error_r: IQ_ERR_OAUTH (the endpoint
 * refused the client or grant), IQ_ERR_CONNECT/_DNS/_TIMEOUT/_PROXY/_TLS_* (transient or
 * TLS), IQ_ERR_PROTOCOL, IQ_ERR_STORAGE. */
iq_err iq_oauth_token(PGconn *c, const iq_check_env *env, const iq_account *a,
                      const iq_oauth_cred *oc, const char *rejected, char **token_r,
                      iq_oauth_step *step_r, char **error_r);

/* An RS256 JWT (RFC 7515 compact form) of header and claims signed with the PEM key; NULL
 * with *error_r. Exposed for the tests. */
char *iq_oauth_jwt_rs256(const char *key_pem, json_t *header, json_t *claims, char **error_r);

#endif
