/* SPDX-License-Identifier: MIT */
/* What the IMAP and POP3 check code shares: the live connection, the account, the login,
 * the limits, and the way failures are classified. Internal to the check modules. */
#ifndef IQ_SESSION_H
#define IQ_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include <libetpan/libetpan.h>

#include "account.h"
#include "error.h"
#include "result.h"
#include "pg.h"
#include "stream.h"

/* Caps both drivers apply. A message larger than IQ_STREAM_ABOVE bytes is fetched alone and
 * streamed into PostgreSQL, never whole in memory; smaller ones are fetched in batches of at
 * most IQ_BATCH_BYTES message bytes (and fetch_batch messages), stored in one transaction. */
#define IQ_STREAM_ABOVE (4u * 1024 * 1024)
#define IQ_BATCH_BYTES (16u * 1024 * 1024)
/* The longest capability list kept (IMAP CAPABILITY, POP3 CAPA); a longer one is cut. */
#define IQ_CAPS_MAX (64u * 1024)

typedef struct iq_session {
    PGconn *pg;
    const iq_check_env *env;
    const iq_account *account;
    const char *job_id;
    const char *username;
    const char *password;
    int fd;             /* connected socket, until the stream owns it */
    mailstream *stream; /* NULL until opened */
    iq_stream *st;      /* our driver state, valid while stream is */
    iq_stream_limits limits;
    uint64_t max_message;
    uint64_t max_memory; /* max_check_memory */
    int fetch_batch;
    iq_check_result *res;
    /* test mode: stop after the capabilities and login, store nothing */
    bool probe_only;
    int64_t probe_messages;
    int64_t probe_bytes;
    char *capabilities;      /* space separated, as last seen (after TLS) */
    bool caps_from_greeting; /* IMAP: capabilities is the greeting's list, none asked yet */
    /* the folder's stored state, when read with the run record (else imap.c reads it) */
    bool state_loaded;
    bool state_found;
    int64_t state_uidvalidity;
    int64_t state_highest;
    /* IMAP IDLE push (idle.c): when set, the driver stops after SELECT and hands the selected
     * session over here instead of checking (s->st stays valid with it) */
    mailimap **hold_r;
    /* OAuth2 sign-in (sasl.h): the credential, the token in use and what the token step did;
       oauth is NULL for a password login */
    const struct iq_oauth_cred *oauth;
    char *token;
    struct iq_oauth_step *oauth_step;
    struct iq_oauth_step *probe_step_r; /* account test: where the token step is kept */
} iq_session;

/* Records a failure (first one wins): class, then a printf-style message. When the stream
 * itself failed, its class and reason take precedence. Always returns -1. */
int iq_session_fail(iq_session *s, iq_err cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Whether a space-separated capability list (IMAP CAPABILITY, POP3 CAPA) holds name, compared
 * case-insensitively as whole words. caps may be NULL. */
bool iq_session_has_cap(const char *caps, const char *name);

/* A protocol driver (as isync's struct driver, curl's protocol handlers): what differs between
 * IMAP and POP3. The session connects, does implicit TLS, opens the stream with the driver's
 * framing, runs the driver, and closes what the driver left open. */
typedef struct iq_driver {
    const char *name;        /* "imap", "pop3" */
    iq_stream_syntax syntax; /* how the stream frames the server's bytes (literals or lines) */
    /* Greeting, STARTTLS, login, then the check (fetch new mail, store, delete after commit)
     * or, with s->probe_only, the counts. Failures go through iq_session_fail. A driver that
     * hands s->stream to a library which closes it sets s->stream and s->st to NULL (after
     * recording s->res->bytes). 0 or -1. */
    int (*run)(iq_session *s);
} iq_driver;

extern const iq_driver iq_imap_driver;
extern const iq_driver iq_pop3_driver;

/* The check on an IMAP session that is logged in already (an IMAP IDLE push connection, after
 * DONE), with s->account set: SELECT of the account's folder, then the same check as after a
 * login, under the check's own deadline and byte budget; the session stays open (no LOGOUT) and
 * gets back its held limits when sound. *more_r: mail arrived while it ran (check again). */
int iq_imap_check_held(iq_session *s, mailimap *imap, bool *more_r);
/* An IMAP session logged in already (an IDLE push connection, idle.c): what a check on it needs
 * of its opening. */
typedef struct iq_held {
    mailimap *imap;
    const char *caps;       /* capabilities seen when it was opened (after TLS); may be NULL */
    const iq_tls_info *tls; /* NULL when plain */
} iq_held;
/* iq_check_run_as over a held session instead of a login (check.c): the run record and the
 * very same check. *more_r: mail arrived while it ran. */
int iq_check_run_on(PGconn *c, const iq_check_env *env, int64_t account_id, const char *job_id,
                    const char *requested_by, const iq_held *held, bool *more_r,
                    iq_check_result *res);
/* Zeroes s and sets its connection, environment, job and the limits from the settings. */
void iq_session_init(iq_session *s, PGconn *c, const iq_check_env *env, const char *job_id,
                     bool probe_only, iq_check_result *res);
/* With s->account, s->username and s->password set: connects, runs drv, closes. 0 or -1. */
int iq_session_run(iq_session *s, const iq_driver *drv);
/* Opens account a's credential (password or OAuth2, with the key ring; from the columns
 * IQ_VAULT_OPEN_COLS and IQ_VAULT_TYPE_COLS at col of cred's first row, or read here when cred
 * is NULL), logs in the way the account says and runs its driver (check.c). */
int iq_session_login_run(iq_session *s, const iq_account *a, const PGresult *cred, int col);
/* A session that only signs in and looks (probe mode, no job) on account account_id, loaded into
 * *a_r (the caller releases it). -1 (the failure in res) when it cannot be read. */
int iq_session_open_account(iq_session *s, PGconn *c, const iq_check_env *env, int64_t account_id,
                            iq_check_result *res, iq_account *a_r);

#endif
