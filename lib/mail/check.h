/* SPDX-License-Identifier: MIT */
/* One check of one mailbox, exactly as a worker runs it: load the account and its credential,
 * connect (direct or through a Network Connector), TLS as configured, log in, fetch what is
 * new, store it in PostgreSQL with its new-mail events, delete on the server only after the
 * commit when "keep copy" is off, and record the run. Nothing lost, nothing stored twice. */
#ifndef IQ_CHECK_H
#define IQ_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "pg.h"
#include "result.h"

/* Runs the check for job_id (a UUID; the run record is unique on it, so a redelivered job
 * that already finished does nothing). Returns 0 when the check ran to the end and succeeded,
 * -1 otherwise (res says why). res must be released. */
int iq_check_run(PGconn *c, const iq_check_env *env, int64_t account_id, const char *job_id,
                 iq_check_result *res);
/* The same, recording who asked for it ("scheduler", "cli:alice") in the run. */
int iq_check_run_as(PGconn *c, const iq_check_env *env, int64_t account_id, const char *job_id,
                    const char *requested_by, iq_check_result *res);
/* The connection test ('inboxq account test'): everything a check does up to the login and
 * the folder's counts, storing nothing and recording no run. */
typedef struct iq_probe {
    char *capabilities; /* as last seen (after TLS), space separated; NULL if none */
    int64_t messages;   /* in the folder (IMAP) or the maildrop (POP3) */
    int64_t bytes;
    /* the OAuth2 token step (NULL endpoint: a password login): never the token */
    char *oauth_endpoint;
    const char *oauth_grant;
    char *oauth_expires_at;
    char *oauth_scope;
    bool oauth_cached;
} iq_probe;

/* Runs the test of account_id. 0 when every step passed; -1 with res saying why. probe_r is
 * filled as far as the test got; release it and res. */
int iq_check_probe(PGconn *c, const iq_check_env *env, int64_t account_id, iq_check_result *res,
                   iq_probe *probe_r);
void iq_probe_release(iq_probe *p);

#endif
