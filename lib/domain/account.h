/* SPDX-License-Identifier: MIT */
/* Mail accounts as stored in PostgreSQL (spec.md section 2): the struct every module shares,
 * the form's input, loading and audited writes. The field rules are rules.h; Network
 * Connectors connector.h. */
#ifndef IQ_ACCOUNT_H
#define IQ_ACCOUNT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "connector.h"
#include "record.h"
#include "error.h"
#include "op.h"
#include "pg.h"
#include "rules.h"

/* IMAP IDLE push (issue 16): auto = IDLE when the server advertises it, else polling; idle =
 * always try IDLE (a server without it is logged and polled); off = polling only. Polling goes
 * on at the interval for every account either way. POP3 has no push. */
typedef enum { IQ_PUSH_AUTO, IQ_PUSH_IDLE, IQ_PUSH_OFF } iq_push_mode;
const char *iq_push_mode_name(iq_push_mode m); /* "auto" / "idle" / "off" */
int iq_push_mode_parse(const char *s, iq_push_mode *m_r);

/* How an account logs in (mail_accounts.auth). */
typedef enum {
    IQ_AUTH_AUTO = 0,    /* the credential's type and the server's capabilities decide */
    IQ_AUTH_PASSWORD,    /* AUTHENTICATE PLAIN / LOGIN, USER/PASS, APOP */
    IQ_AUTH_XOAUTH2,     /* SASL XOAUTH2 with an OAuth2 credential */
    IQ_AUTH_OAUTHBEARER, /* SASL OAUTHBEARER (RFC 7628) with an OAuth2 credential */
} iq_auth_method;

const char *iq_auth_method_name(iq_auth_method m);
/* 0 and *m_r, or -1 for a name that is none of auto, password, xoauth2, oauthbearer. */
int iq_auth_method_parse(const char *s, iq_auth_method *m_r);

typedef struct iq_account {
    int64_t id; /* "Código" */
    char *name;
    char *host;
    int port; /* resolved: the standard port when the operator left it empty */
    bool port_is_default;
    iq_protocol protocol;
    iq_security security;
    bool ignore_certificate;
    bool keep_copy;
    bool auto_check;
    bool active;
    bool use_connector;
    int64_t connector_id; /* 0 when none */
    int64_t credential_id;
    char *folder; /* IMAP mailbox, default "INBOX" */
    bool apop;    /* POP3: use APOP when the server offers it */
    iq_auth_method auth;
    int64_t check_interval_s;
    iq_push_mode push;
    int version; /* optimistic concurrency for edits */
    /* read-only status columns (may be NULL) */
    char *last_status;
    char *last_error_class;
    char *last_error;
    char *last_check_at;
    char *last_success_at;
    char *next_check_at;
} iq_account;

/* Loads one account (1 found, 0 no such account, -1 error with *error_r). */
int iq_account_load(PGconn *c, int64_t id, iq_account *a_r, char **error_r);
void iq_account_release(iq_account *a);
/* An account row in a query of one's own: IQ_ACCOUNT_COLS (mail_accounts as "a") give the
 * first IQ_ACCOUNT_NCOLS columns, which iq_account_from_row reads. */
/* clang-format off */
#define IQ_ACCOUNT_COLS                                                                            \
    "a.id, a.name, a.host, a.port, a.port_is_default, a.protocol, a.secure, a.secure_type, "       \
    "a.ignore_certificate, a.keep_copy, a.auto_check, a.active, a.use_connector, "                 \
    "a.connector_id, a.credential_id, a.folder, a.apop, a.check_interval_s, a.version, "           \
    "a.last_status, a.last_error_class, a.last_error, " IQ_SQL_TS("a.last_check_at") ", "      \
    IQ_SQL_TS("a.last_success_at") ", " IQ_SQL_TS("a.next_check_at") ", a.push, a.auth"
/* clang-format on */
#define IQ_ACCOUNT_NCOLS 27
void iq_account_from_row(const PGresult *r, int row, iq_account *a_r);
/* Operator input for add and edit, as text; NULL = not given (edit keeps the value). */
typedef struct iq_account_input {
    const char *name;
    const char *host;
    const char *port; /* "" = the standard port */
    const char *protocol;
    const char *credential; /* NAME or ID */
    const char *secure;
    const char *secure_type; /* tls | ssl */
    const char *ignore_certificate;
    const char *keep_copy;
    const char *auto_check;
    const char *active;
    const char *use_connector;
    const char *connector; /* NAME or ID; alone it implies use_connector yes */
    const char *folder;
    const char *check_interval; /* 30s, 5m, 1h, 1d; 5s..7d */
    const char *apop;
    const char *push; /* auto | idle | off */
    const char *auth; /* auto | password | xoauth2 | oauthbearer */
} iq_account_input;

#define IQ_CHECK_INTERVAL_MIN_S 5
#define IQ_CHECK_INTERVAL_MAX_S (7 * 86400)
#define IQ_CHECK_INTERVAL_DEFAULT_S 300

/* A new account's defaults: secure ssl, keep copy, automatic check, active, INBOX, 5m. */
void iq_account_init(iq_account *a);
/* Applies the given fields to a (an iq_account_init'd one when creating, else a loaded one)
 * and checks every rule. refs may be NULL to skip the lookups (credential and connector then
 * must be numeric ids). On failure a may be partly changed. */
iq_err iq_account_apply(iq_account *a, const iq_account_input *in, bool creating,
                        const iq_refs *refs, char **error_r);
/* The stored fields as a JSON object (column names; what the audit trail compares). */
json_t *iq_account_fields_json(const iq_account *a);

/* NAME or numeric ID -> id: 1 found, 0 none, -1 error. */
int iq_account_find(PGconn *c, const char *ref, int64_t *id_r, char **error_r);
/* Each write runs in its own transaction together with its audit row. */
iq_err iq_account_create(PGconn *c, const iq_account_input *in, int64_t *id_r, char **error_r);
/* Reads the row, applies only the given fields and writes WHERE version matches what was
 * read (and expect_version when > 0): a concurrent change gives IQ_ERR_STALE. *changed_r
 * tells whether anything differed (nothing is written when not). */
iq_err iq_account_update(PGconn *c, int64_t id, const iq_account_input *in, int expect_version,
                         bool *changed_r, char **error_r);
iq_err iq_account_delete(PGconn *c, int64_t id, char **error_r);
iq_err iq_account_set_active(PGconn *c, int64_t id, bool active, bool *changed_r, char **error_r);

/* An account with the names of what it refers to and its timestamps, for display. */
typedef struct iq_account_view {
    iq_account a;
    char *credential_name;
    char *connector_name; /* NULL when none */
    char *created_at;
    char *updated_at;
    /* IMAP IDLE push held now (push_sessions): the worker and since when; NULL when none */
    char *push_worker;
    char *push_since;
} iq_account_view;
int iq_account_view_load(PGconn *c, int64_t id, iq_account_view *v_r, char **error_r);
void iq_account_view_release(iq_account_view *v);
/* Every field, for `account show --format json`. */
json_t *iq_account_view_json(const iq_account_view *v);

#endif
