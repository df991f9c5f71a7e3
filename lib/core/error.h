/* SPDX-License-Identifier: MIT */
/* The one error type: every failure inboxq reports has a class from this enum. The table in
 * error.c gives each its name (the string in JSON output, metrics labels and the database,
 * which never changes), whether it is worth retrying soon, and its back-off family. Exit codes
 * and HTTP statuses are not chosen here but by the programs (lib/app/exitcode.h). */
#ifndef IQ_ERROR_H
#define IQ_ERROR_H

#include <stdbool.h>
#include <stdint.h>

/* 0 is success and every class is negative, so functions that return a count or an id can
 * return a class as well ("< 0: failed"). */
typedef enum {
    IQ_OK = 0,
    /* an operation on stored objects (accounts, connectors, the vault, reports) */
    IQ_ERR_INVALID = -1,     /* the input breaks a rule */
    IQ_ERR_NOT_FOUND = -2,   /* no such object ("not_found") */
    IQ_ERR_STALE = -3,       /* changed by someone else since it was read */
    IQ_ERR_IN_USE = -4,      /* still referenced by other objects */
    IQ_ERR_KEY = -5,         /* master key missing or not the one the data needs */
    IQ_ERR_CORRUPT = -6,     /* a stored secret does not authenticate */
    IQ_ERR_SCHEMA = -7,      /* the database has no (or an old) inboxq schema */
    IQ_ERR_UNAVAILABLE = -8, /* the connection to PostgreSQL was lost */
    IQ_ERR_FAILED = -9,      /* any other database failure */
    /* a check of a mailbox (the classes of check_runs.error_class) */
    IQ_ERR_DNS = -10,             /* the host name did not resolve */
    IQ_ERR_CONNECT = -11,         /* TCP connection refused, unreachable or timed out */
    IQ_ERR_PROXY = -12,           /* the Network Connector refused or failed */
    IQ_ERR_TLS_HANDSHAKE = -13,   /* TLS could not be negotiated */
    IQ_ERR_TLS_VERIFY = -14,      /* the server's certificate did not verify */
    IQ_ERR_STARTTLS_POLICY = -15, /* STARTTLS required but not offered */
    IQ_ERR_AUTH = -16,            /* the server refused the login */
    IQ_ERR_PROTOCOL = -17,        /* the server broke the protocol */
    IQ_ERR_TIMEOUT = -18,         /* a deadline passed */
    IQ_ERR_SIZE_LIMIT = -19,      /* a line, literal or message over its cap */
    IQ_ERR_STORAGE = -20,         /* PostgreSQL failed while storing */
    IQ_ERR_CONFIG = -21,          /* the account or its credential/connector is unusable */
    /* a job that cannot be run (the dead letter's error_class) */
    IQ_ERR_INVALID_JSON = -22,    /* not JSON, not an object, too big */
    IQ_ERR_UNKNOWN_SCHEMA = -23,  /* "schema" missing or another kind/version */
    IQ_ERR_INVALID_JOB = -24,     /* a field missing, mistyped or out of range */
    IQ_ERR_ACCOUNT_DELETED = -25, /* the job's account no longer exists */
    IQ_ERR_REPORT_DELETED = -26,  /* the job's report no longer exists */
    /* the OAuth2 token endpoint refused the credential (invalid_client, invalid_grant,
       unauthorized_client, consent missing): an operator must act, as for "auth" */
    IQ_ERR_OAUTH = -27,
} iq_err;

#define IQ_ERR_MIN IQ_ERR_OAUTH

/* How long the next try waits after a failure of a class. */
typedef enum {
    IQ_BACKOFF_NONE = 0, /* nothing to retry (success, or an operation's own outcome) */
    IQ_BACKOFF_RETRY,    /* transient: retried soon, with exponential back-off and jitter */
    IQ_BACKOFF_INTERVAL, /* permanent until something changes: the next regular check */
    IQ_BACKOFF_OPERATOR, /* needs an operator (a refused login): the long back-off */
} iq_backoff_family;

/* The class's stable name ("auth", "tls_verify", "not_found", ...; "ok" for IQ_OK). */
const char *iq_err_name(iq_err e);
/* The class of a stored or received name; IQ_ERR_PROTOCOL for an unknown one (so a newer
 * worker's class still reads as a failure). */
iq_err iq_err_from_name(const char *name);
/* Whether a failure of this class is likely to go away by itself (network, timeouts,
 * PostgreSQL): the check is retried soon. */
bool iq_err_is_transient(iq_err e);
iq_backoff_family iq_err_backoff(iq_err e);

/* The back-off policy, the one both the worker (after a failed check) and the scheduler (when
 * it publishes the next one) apply; from the settings retry_max, scheduler_backoff_max and
 * scheduler_auth_backoff_max. */
typedef struct {
    int64_t retry_base_ms; /* first quick retry of a transient failure (IQ_BACKOFF_RETRY_BASE_MS) */
    int64_t retry_max;     /* quick retries before a transient failure waits like the others */
    int64_t backoff_max_ms;  /* cap of the doubling after repeated failures */
    int64_t auth_backoff_ms; /* the cap for classes that need an operator (a refused login) */
} iq_backoff_policy;

#define IQ_BACKOFF_RETRY_BASE_MS 5000

struct iq_config;
void iq_backoff_policy_init(iq_backoff_policy *p, const struct iq_config *cfg);

/* Milliseconds from a check to the next regular one of an account checked every interval_s
 * seconds whose last `failures` checks in a row failed, the last with class e: the interval,
 * doubled per failure up to the cap of e's family (auth_backoff_ms for IQ_BACKOFF_OPERATOR,
 * else backoff_max_ms), never below the interval. No jitter: the caller adds its own. */
int64_t iq_backoff_ms(const iq_backoff_policy *p, iq_err e, int64_t interval_s, int64_t failures);
/* The quick retry after a transient failure (IQ_BACKOFF_RETRY) when fewer than retry_max
 * failures came before it in a row (`failures`): retry_base_ms doubled per earlier failure,
 * at most the interval. -1 when e gets no quick retry. */
int64_t iq_backoff_retry_ms(const iq_backoff_policy *p, iq_err e, int64_t interval_s,
                            int64_t failures);

#endif
