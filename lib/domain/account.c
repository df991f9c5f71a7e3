/* SPDX-License-Identifier: MIT */
/* Mail accounts: defaults and the form's rules applied, loading, and audited writes with
 * optimistic concurrency (a version column). */
#include "account.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <libpq-fe.h>

#include "audit.h"
#include "record_int.h"
#include "op.h"
#include "pg.h"
#include "rules_int.h"
#include "util.h"

#define FOLDER_MAX_BYTES 1000

/* ---- accounts: defaults and rules ---- */

static const char *const push_names[] = {"auto", "idle", "off"};

const char *iq_push_mode_name(iq_push_mode m)
{
    return (unsigned)m < 3 ? push_names[m] : "auto";
}

int iq_push_mode_parse(const char *s, iq_push_mode *m_r)
{
    for (int i = 0; s && i < 3; i++)
        if (iq_str_eq_nocase(s, push_names[i])) {
            *m_r = (iq_push_mode)i;
            return 0;
        }
    return -1;
}

/* Push: a mode name; idle only for IMAP (POP3 has no push). */
static iq_err apply_push(iq_account *a, const char *push, char **error_r)
{
    char shown[64];
    if (push && iq_push_mode_parse(push, &a->push) < 0) {
        iq_rule_show_value(push, shown, sizeof(shown));
        return iq_rule_invalid(error_r,
                               "push: '%s' is not auto, idle or off; choose auto (IDLE when the "
                               "server offers it), idle or off (polling only)",
                               shown);
    }
    if (a->push == IQ_PUSH_IDLE && a->protocol != IQ_PROTO_IMAP)
        return iq_rule_invalid(error_r, "push: idle needs an IMAP account (POP3 has no push); "
                                        "set push to auto or off");
    return IQ_OK;
}

void iq_account_init(iq_account *a)
{
    memset(a, 0, sizeof(*a));
    a->protocol = IQ_PROTO_IMAP;
    a->security = IQ_SEC_IMPLICIT;
    a->port_is_default = true;
    a->port = iq_account_default_port(a->protocol, a->security);
    a->keep_copy = true;
    a->auto_check = true;
    a->active = true;
    a->folder = iq_xstrdup("INBOX");
    a->check_interval_s = IQ_CHECK_INTERVAL_DEFAULT_S;
}

void iq_account_release(iq_account *a)
{
    if (!a)
        return;
    free(a->name);
    free(a->host);
    free(a->folder);
    free(a->last_status);
    free(a->last_error_class);
    free(a->last_error);
    free(a->last_check_at);
    free(a->last_success_at);
    free(a->next_check_at);
    memset(a, 0, sizeof(*a));
}

static iq_err apply_folder(iq_account *a, const char *folder, char **error_r)
{
    if (!folder)
        return IQ_OK;
    if (!*folder)
        return iq_rule_invalid(error_r,
                               "folder: is empty; give the folder to read (INBOX by default)");
    if (strlen(folder) > FOLDER_MAX_BYTES)
        return iq_rule_invalid(error_r, "folder: is longer than %d bytes; give a shorter one",
                               FOLDER_MAX_BYTES);
    if (iq_rule_has_control(folder) || !iq_rule_utf8_valid(folder))
        return iq_rule_invalid(error_r,
                               "folder: contains control characters or invalid UTF-8; give "
                               "the mailbox name as printable UTF-8");
    iq_replace_str(&a->folder, folder);
    return IQ_OK;
}

static iq_err apply_interval(iq_account *a, const char *s, char **error_r)
{
    if (!s)
        return IQ_OK;
    char shown[80];
    iq_rule_show_value(s, shown, sizeof(shown));
    int64_t ms;
    if (iq_parse_duration_ms(s, &ms) < 0)
        return iq_rule_invalid(
            error_r,
            "check-interval: '%s' is not a duration; give e.g. 30s, 5m, 1h or 1d "
            "(from 5s to 7d)",
            shown);
    if (ms % 1000 != 0 || ms < (int64_t)IQ_CHECK_INTERVAL_MIN_S * 1000 ||
        ms > (int64_t)IQ_CHECK_INTERVAL_MAX_S * 1000)
        return iq_rule_invalid(
            error_r,
            "check-interval: '%s' is outside 5s to 7d (whole seconds); give e.g. "
            "30s, 5m, 1h or 1d",
            shown);
    a->check_interval_s = ms / 1000;
    return IQ_OK;
}

iq_err iq_account_apply(iq_account *a, const iq_account_input *in, bool creating,
                        const iq_refs *refs, char **error_r)
{
    iq_err st;
    char shown[80];

    /* Nome da conta */
    if ((st = iq_rule_name(&a->name, in->name, creating, error_r)) != IQ_OK)
        return st;
    /* Endereço */
    if (in->host) {
        if (iq_validate_host("host", in->host, error_r) < 0)
            return IQ_ERR_INVALID;
        free(a->host);
        a->host = iq_host_normalize(in->host);
    } else if (creating || !a->host) {
        return iq_rule_invalid(error_r, "host: is required; give the mail server's host name or IP "
                                        "address");
    }
    /* Protocolo */
    if (in->protocol) {
        if (iq_protocol_parse(in->protocol, &a->protocol) < 0) {
            iq_rule_show_value(in->protocol, shown, sizeof(shown));
            return iq_rule_invalid(
                error_r, "protocol: '%s' is not imap or pop3; choose imap or pop3", shown);
        }
    } else if (creating) {
        return iq_rule_invalid(error_r, "protocol: is required; choose imap or pop3");
    }
    /* Porta: empty means the standard port for protocol and security (resolved below). */
    if (in->port) {
        if (!*in->port) {
            a->port_is_default = true;
        } else {
            int64_t v;
            if (iq_parse_i64(in->port, 1, 65535, &v) < 0) {
                iq_rule_show_value(in->port, shown, sizeof(shown));
                return iq_rule_invalid(
                    error_r,
                    "port: '%s' is not a port number from 1 to 65535; give one, or leave it "
                    "empty for the standard one (IMAP 143/993, POP3 110/995)",
                    shown);
            }
            a->port = (int)v;
            a->port_is_default = false;
        }
    }
    /* Usar conexão segura + Tipo de conexão segura */
    bool secure = a->security != IQ_SEC_NONE;
    if ((st = iq_rule_bool("secure", in->secure, &secure, error_r)) != IQ_OK)
        return st;
    iq_security type = a->security;
    if (in->secure_type) {
        if (iq_str_eq_nocase(in->secure_type, "tls")) {
            type = IQ_SEC_STARTTLS;
        } else if (iq_str_eq_nocase(in->secure_type, "ssl")) {
            type = IQ_SEC_IMPLICIT;
        } else {
            iq_rule_show_value(in->secure_type, shown, sizeof(shown));
            return iq_rule_invalid(error_r,
                                   "secure-type: '%s' is not tls or ssl; choose tls (STARTTLS) or "
                                   "ssl (TLS from the first byte)",
                                   shown);
        }
    }
    if (!secure)
        a->security = IQ_SEC_NONE;
    else
        a->security = type == IQ_SEC_NONE ? IQ_SEC_IMPLICIT : type; /* ssl by default */
    if (a->port_is_default)
        a->port = iq_account_default_port(a->protocol, a->security);

    if ((st = iq_rule_bool("ignore-certificate", in->ignore_certificate, &a->ignore_certificate,
                           error_r)) != IQ_OK ||
        (st = iq_rule_bool("keep-copy", in->keep_copy, &a->keep_copy, error_r)) != IQ_OK ||
        (st = iq_rule_bool("auto-check", in->auto_check, &a->auto_check, error_r)) != IQ_OK ||
        (st = iq_rule_bool("active", in->active, &a->active, error_r)) != IQ_OK ||
        (st = iq_rule_bool("apop", in->apop, &a->apop, error_r)) != IQ_OK)
        return st;
    if (in->auth && iq_auth_method_parse(in->auth, &a->auth) < 0) {
        *error_r = iq_xstrdup("auth: give auto, password, xoauth2 or oauthbearer");
        return IQ_ERR_INVALID;
    }
    if ((st = apply_folder(a, in->folder, error_r)) != IQ_OK ||
        (st = apply_interval(a, in->check_interval, error_r)) != IQ_OK ||
        (st = apply_push(a, in->push, error_r)) != IQ_OK)
        return st;

    /* Combinations that mean nothing (rules.c's table): a field given against the protocol or
     * security the account ends up with is refused; a stored value that this change made
     * meaningless goes back to its default (the audit row shows it). */
    iq_combo_state cs = {.protocol = a->protocol, .secure = a->security != IQ_SEC_NONE};
    const iq_combo_given given[] = {
        {"secure-type", in->secure_type, true},
        {"ignore-certificate", in->ignore_certificate, a->ignore_certificate},
        {"apop", in->apop, a->apop},
        {"folder", in->folder, true},
    };
    if ((st = iq_rule_combinations(&cs, given, IQ_ARRAY_LEN(given), error_r)) != IQ_OK)
        return st;
    if (!iq_rule_applies("ignore-certificate", &cs))
        a->ignore_certificate = false;
    if (!iq_rule_applies("apop", &cs))
        a->apop = false;
    if (!iq_rule_applies("folder", &cs))
        iq_replace_str(&a->folder, "INBOX");

    /* Usar Network Connector + Network Connector */
    bool use = a->use_connector;
    if ((st = iq_rule_bool("use-connector", in->use_connector, &use, error_r)) != IQ_OK)
        return st;
    if (in->connector) {
        if (in->use_connector && !use)
            return iq_rule_invalid(error_r,
                                   "connector: only applies when use-connector is yes; leave it "
                                   "out, or set use-connector to yes");
        if (!*in->connector)
            return iq_rule_invalid(error_r, "connector: is empty; give a Network Connector's name "
                                            "or code, or set use-connector to no");
        use = true; /* --connector alone implies --use-connector yes */
    } else if (!use) {
        a->connector_id = 0;
    } else if (a->connector_id == 0) {
        return iq_rule_invalid(error_r, "connector: is required when use-connector is yes; give a "
                                        "Network Connector's name or code");
    }
    a->use_connector = use;

    /* Credencial para autenticação */
    if (in->credential && !*in->credential)
        return iq_rule_invalid(error_r, "credential: is empty; give a credential's name or code");
    if (!in->credential && a->credential_id == 0)
        return iq_rule_invalid(error_r,
                               "credential: is required; give a credential's name or code (add "
                               "one to the vault first)");

    /* Lookups last: they reach the database. */
    if (in->connector && (st = iq_rule_resolve(refs, "connector", in->connector, &a->connector_id,
                                               error_r)) != IQ_OK)
        return st;
    if (in->credential && (st = iq_rule_resolve(refs, "credential", in->credential,
                                                &a->credential_id, error_r)) != IQ_OK)
        return st;
    if (in->name &&
        (st = iq_rule_name_free(refs, "account", "an", a->name, a->id, error_r)) != IQ_OK)
        return st;
    return IQ_OK;
}

json_t *iq_account_fields_json(const iq_account *a)
{
    const char *stype = iq_security_type_name(a->security);
    json_t *o = json_object();
    if (!o)
        iq_oom();
    json_object_set_new(o, "name", json_string(a->name ? a->name : ""));
    json_object_set_new(o, "keep_copy", json_boolean(a->keep_copy));
    json_object_set_new(o, "auto_check", json_boolean(a->auto_check));
    json_object_set_new(o, "active", json_boolean(a->active));
    json_object_set_new(o, "host", json_string(a->host ? a->host : ""));
    json_object_set_new(o, "port", json_integer(a->port));
    json_object_set_new(o, "port_is_default", json_boolean(a->port_is_default));
    json_object_set_new(o, "protocol", json_string(iq_protocol_name(a->protocol)));
    json_object_set_new(o, "use_connector", json_boolean(a->use_connector));
    json_object_set_new(o, "connector_id",
                        a->connector_id ? json_integer(a->connector_id) : json_null());
    json_object_set_new(o, "credential_id", json_integer(a->credential_id));
    json_object_set_new(o, "ignore_certificate", json_boolean(a->ignore_certificate));
    json_object_set_new(o, "secure", json_boolean(a->security != IQ_SEC_NONE));
    json_object_set_new(o, "secure_type", stype ? json_string(stype) : json_null());
    json_object_set_new(o, "folder", json_string(a->folder ? a->folder : "INBOX"));
    json_object_set_new(o, "apop", json_boolean(a->apop));
    json_object_set_new(o, "auth", json_string(iq_auth_method_name(a->auth)));
    json_object_set_new(o, "check_interval_s", json_integer(a->check_interval_s));
    json_object_set_new(o, "push", json_string(iq_push_mode_name(a->push)));
    return o;
}

static const char *const auth_names[] = {"auto", "password", "xoauth2", "oauthbearer"};

const char *iq_auth_method_name(iq_auth_method m)
{
    return (unsigned)m < IQ_ARRAY_LEN(auth_names) ? auth_names[m] : "auto";
}

int iq_auth_method_parse(const char *s, iq_auth_method *m_r)
{
    for (size_t i = 0; s && i < IQ_ARRAY_LEN(auth_names); i++)
        if (strcmp(s, auth_names[i]) == 0) {
            *m_r = (iq_auth_method)i;
            return 0;
        }
    return -1;
}

/* ---- accounts in PostgreSQL ---- */

#define ACCOUNT_COLS IQ_ACCOUNT_COLS
#define ACCOUNT_NCOLS IQ_ACCOUNT_NCOLS

void iq_account_from_row(const PGresult *r, int row, iq_account *a)
{
    memset(a, 0, sizeof(*a));
    a->id = iq_pg_i64(r, row, 0);
    a->name = iq_dup_or_null(iq_pg_str(r, row, 1));
    a->host = iq_dup_or_null(iq_pg_str(r, row, 2));
    a->port = (int)iq_pg_i64(r, row, 3);
    a->port_is_default = iq_pg_bool(r, row, 4);
    if (iq_protocol_parse(iq_pg_str(r, row, 5), &a->protocol) < 0)
        a->protocol = IQ_PROTO_IMAP;
    const char *stype = iq_pg_str(r, row, 7);
    if (!iq_pg_bool(r, row, 6))
        a->security = IQ_SEC_NONE;
    else if (stype && strcmp(stype, "tls") == 0)
        a->security = IQ_SEC_STARTTLS;
    else
        a->security = IQ_SEC_IMPLICIT;
    a->ignore_certificate = iq_pg_bool(r, row, 8);
    a->keep_copy = iq_pg_bool(r, row, 9);
    a->auto_check = iq_pg_bool(r, row, 10);
    a->active = iq_pg_bool(r, row, 11);
    a->use_connector = iq_pg_bool(r, row, 12);
    a->connector_id = iq_pg_i64(r, row, 13);
    a->credential_id = iq_pg_i64(r, row, 14);
    a->folder = iq_dup_or_null(iq_pg_str(r, row, 15));
    a->apop = iq_pg_bool(r, row, 16);
    a->check_interval_s = iq_pg_i64(r, row, 17);
    a->version = (int)iq_pg_i64(r, row, 18);
    a->last_status = iq_dup_or_null(iq_pg_str(r, row, 19));
    a->last_error_class = iq_dup_or_null(iq_pg_str(r, row, 20));
    a->last_error = iq_dup_or_null(iq_pg_str(r, row, 21));
    a->last_check_at = iq_dup_or_null(iq_pg_str(r, row, 22));
    a->last_success_at = iq_dup_or_null(iq_pg_str(r, row, 23));
    a->next_check_at = iq_dup_or_null(iq_pg_str(r, row, 24));
    if (iq_push_mode_parse(iq_pg_str(r, row, 25), &a->push) < 0)
        a->push = IQ_PUSH_AUTO;
    if (iq_auth_method_parse(iq_pg_str(r, row, 26), &a->auth) < 0)
        a->auth = IQ_AUTH_AUTO;
}

/* 1 found, 0 none, or a negative iq_err. */
static int account_load_st(PGconn *c, int64_t id, bool for_update, iq_account *a_r, char **error_r)
{
    char *err = NULL;
    PGresult *r = iq_record_query_by_id(
        c,
        for_update ? "SELECT " ACCOUNT_COLS " FROM mail_accounts a WHERE a.id = $1::bigint "
                     "FOR UPDATE"
                   : "SELECT " ACCOUNT_COLS " FROM mail_accounts a WHERE a.id = $1::bigint",
        id, &err);
    if (!r)
        return (int)iq_op_db_error(c, "loading the account", err, error_r);
    int found = PQntuples(r) > 0;
    if (found)
        iq_account_from_row(r, 0, a_r);
    PQclear(r);
    return found;
}

int iq_account_load(PGconn *c, int64_t id, iq_account *a_r, char **error_r)
{
    memset(a_r, 0, sizeof(*a_r));
    int rc = account_load_st(c, id, false, a_r, error_r);
    return rc < 0 ? -1 : rc;
}

/* The account, the names it refers to, and who pushes it now (a push_sessions row of a worker
 * that is alive: a killed worker's rows stay until the next owner replaces them). */
/* clang-format off */
static const char view_sql[] =
    "SELECT " ACCOUNT_COLS ", cr.name, k.name, " IQ_SQL_TS("a.created_at") ", "
    IQ_SQL_TS("a.updated_at") ", ps.worker, " IQ_SQL_TS("ps.since") " FROM mail_accounts a "
    "JOIN credentials cr ON cr.id = a.credential_id "
    "LEFT JOIN network_connectors k ON k.id = a.connector_id "
    "LEFT JOIN push_sessions ps ON ps.account_id = a.id AND EXISTS (SELECT 1 FROM workers w "
    "WHERE w.name = ps.worker AND w.heartbeat_at > now() - interval '30 seconds') "
    "WHERE a.id = $1::bigint";
/* clang-format on */

int iq_account_view_load(PGconn *c, int64_t id, iq_account_view *v_r, char **error_r)
{
    memset(v_r, 0, sizeof(*v_r));
    char *err = NULL;
    PGresult *r = iq_record_query_by_id(c, view_sql, id, &err);
    if (!r) {
        iq_op_db_error(c, "loading the account", err, error_r);
        return -1;
    }
    int found = PQntuples(r) > 0;
    if (found) {
        iq_account_from_row(r, 0, &v_r->a);
        v_r->credential_name = iq_dup_or_null(iq_pg_str(r, 0, ACCOUNT_NCOLS));
        v_r->connector_name = iq_dup_or_null(iq_pg_str(r, 0, ACCOUNT_NCOLS + 1));
        v_r->created_at = iq_dup_or_null(iq_pg_str(r, 0, ACCOUNT_NCOLS + 2));
        v_r->updated_at = iq_dup_or_null(iq_pg_str(r, 0, ACCOUNT_NCOLS + 3));
        v_r->push_worker = iq_dup_or_null(iq_pg_str(r, 0, ACCOUNT_NCOLS + 4));
        v_r->push_since = iq_dup_or_null(iq_pg_str(r, 0, ACCOUNT_NCOLS + 5));
    }
    PQclear(r);
    return found;
}

void iq_account_view_release(iq_account_view *v)
{
    if (!v)
        return;
    iq_account_release(&v->a);
    free(v->credential_name);
    free(v->connector_name);
    free(v->created_at);
    free(v->updated_at);
    free(v->push_worker);
    free(v->push_since);
    memset(v, 0, sizeof(*v));
}

json_t *iq_account_view_json(const iq_account_view *v)
{
    const iq_account *a = &v->a;
    json_t *o = json_object();
    if (!o)
        iq_oom();
    json_object_set_new(o, "id", json_integer(a->id));
    json_t *fields = iq_account_fields_json(a);
    json_object_update(o, fields);
    json_decref(fields);
    /* names next to the ids they explain */
    json_object_set_new(o, "connector", iq_record_json_str(v->connector_name));
    json_object_set_new(o, "credential", iq_record_json_str(v->credential_name));
    char dur[32];
    iq_format_duration(a->check_interval_s * 1000, dur, sizeof(dur));
    json_object_set_new(o, "check_interval", json_string(dur));
    json_object_set_new(o, "version", json_integer(a->version));
    json_object_set_new(o, "last_status", iq_record_json_str(a->last_status));
    json_object_set_new(o, "last_error_class", iq_record_json_str(a->last_error_class));
    json_object_set_new(o, "last_error", iq_record_json_str(a->last_error));
    json_object_set_new(o, "last_check_at", iq_record_json_str(a->last_check_at));
    json_object_set_new(o, "last_success_at", iq_record_json_str(a->last_success_at));
    json_object_set_new(o, "next_check_at", iq_record_json_str(a->next_check_at));
    json_object_set_new(o, "created_at", iq_record_json_str(v->created_at));
    json_object_set_new(o, "updated_at", iq_record_json_str(v->updated_at));
    json_object_set_new(o, "pushed_by", iq_record_json_str(v->push_worker));
    json_object_set_new(o, "pushed_since", iq_record_json_str(v->push_since));
    return o;
}

/* Text parameters for the 19 stored fields, in the order of the INSERT's columns (the most
 * fields of any kind). */
typedef struct account_params {
    char port[16], connector[24], credential[24], interval[24];
    const char *v[IQ_RECORD_MAX_FIELDS];
} account_params;

static void account_params_fill(account_params *p, const iq_account *a)
{
    snprintf(p->port, sizeof(p->port), "%d", a->port);
    snprintf(p->connector, sizeof(p->connector), "%" PRId64, a->connector_id);
    snprintf(p->credential, sizeof(p->credential), "%" PRId64, a->credential_id);
    snprintf(p->interval, sizeof(p->interval), "%" PRId64, a->check_interval_s);
    const char *v[IQ_RECORD_MAX_FIELDS] = {a->name,
                                           a->host,
                                           p->port,
                                           iq_record_tf(a->port_is_default),
                                           iq_protocol_name(a->protocol),
                                           iq_record_tf(a->security != IQ_SEC_NONE),
                                           iq_security_type_name(a->security),
                                           iq_record_tf(a->ignore_certificate),
                                           iq_record_tf(a->keep_copy),
                                           iq_record_tf(a->auto_check),
                                           iq_record_tf(a->active),
                                           iq_record_tf(a->use_connector),
                                           a->use_connector && a->connector_id ? p->connector
                                                                               : NULL,
                                           p->credential,
                                           a->folder,
                                           iq_record_tf(a->apop),
                                           p->interval,
                                           iq_push_mode_name(a->push),
                                           iq_auth_method_name(a->auth)};
    memcpy(p->v, v, sizeof(v));
}

iq_err iq_account_create(PGconn *c, const iq_account_input *in, int64_t *id_r, char **error_r)
{
    iq_account a;
    iq_refs refs;
    iq_refs_pg(&refs, c);
    iq_account_init(&a);
    iq_err st = iq_record_begin(c, error_r);
    if (st != IQ_OK)
        goto out;
    if ((st = iq_account_apply(&a, in, true, &refs, error_r)) != IQ_OK)
        goto fail;
    account_params p = {0};
    account_params_fill(&p, &a);
    st = iq_record_insert_audited(
        c, "account",
        "INSERT INTO mail_accounts (name, host, port, port_is_default, protocol, secure, "
        "secure_type, ignore_certificate, keep_copy, auto_check, active, use_connector, "
        "connector_id, credential_id, folder, apop, check_interval_s, push, auth) VALUES ($1, $2, "
        "$3::int, $4::bool, $5, $6::bool, $7, $8::bool, $9::bool, $10::bool, $11::bool, "
        "$12::bool, $13::bigint, $14::bigint, $15, $16::bool, $17::int, $18, $19) RETURNING id",
        IQ_RECORD_MAX_FIELDS, p.v, iq_account_fields_json(&a), id_r, error_r);
    if (st == IQ_OK)
        goto out;
fail:
    iq_pg_rollback(c);
out:
    iq_account_release(&a);
    return st;
}

iq_err iq_account_update(PGconn *c, int64_t id, const iq_account_input *in, int expect_version,
                         bool *changed_r, char **error_r)
{
    iq_account a;
    memset(&a, 0, sizeof(a));
    json_t *before = NULL, *after = NULL;
    iq_refs refs;
    iq_refs_pg(&refs, c);
    *changed_r = false;
    iq_err st = iq_record_begin(c, error_r);
    if (st != IQ_OK)
        return st;
    /* A plain read: the write below is what detects a concurrent change. */
    st =
        iq_record_found_or_fail(account_load_st(c, id, false, &a, error_r), "account", id, error_r);
    if (st != IQ_OK)
        goto fail;
    if (expect_version > 0 && a.version != expect_version) {
        *error_r = iq_xasprintf("account %" PRId64 " is at version %d, not %d: someone changed "
                                "it; look at it again and retry",
                                id, a.version, expect_version);
        st = IQ_ERR_STALE;
        goto fail;
    }
    int version = a.version;
    before = iq_account_fields_json(&a);
    if ((st = iq_account_apply(&a, in, false, &refs, error_r)) != IQ_OK)
        goto fail;
    after = iq_account_fields_json(&a);
    account_params p = {0};
    account_params_fill(&p, &a);
    st = iq_record_update_audited(
        c, "account", id, version, before, after,
        "UPDATE mail_accounts SET name = $3, host = $4, port = $5::int, port_is_default = "
        "$6::bool, protocol = $7, secure = $8::bool, secure_type = $9, ignore_certificate = "
        "$10::bool, keep_copy = $11::bool, auto_check = $12::bool, active = $13::bool, "
        "use_connector = $14::bool, connector_id = $15::bigint, credential_id = $16::bigint, "
        "folder = $17, apop = $18::bool, check_interval_s = $19::int, push = $20, auth = $21, "
        "next_check_at = CASE WHEN check_interval_s <> $19::int "
        "THEN least(next_check_at, now() + make_interval(secs => $19::int)) "
        "ELSE next_check_at END, "
        "version = version + 1, updated_at = now() "
        "WHERE id = $1::bigint AND version = $2::int RETURNING version",
        IQ_RECORD_MAX_FIELDS, p.v, changed_r, error_r);
    if (st == IQ_OK)
        goto out;
fail:
    iq_pg_rollback(c);
out:
    json_decref(before);
    json_decref(after);
    iq_account_release(&a);
    return st;
}

iq_err iq_account_set_active(PGconn *c, int64_t id, bool active, bool *changed_r, char **error_r)
{
    iq_account_input in = {.active = active ? "yes" : "no"};
    return iq_account_update(c, id, &in, 0, changed_r, error_r);
}

iq_err iq_account_delete(PGconn *c, int64_t id, char **error_r)
{
    iq_account a;
    memset(&a, 0, sizeof(a));
    iq_err st = iq_record_begin(c, error_r);
    if (st != IQ_OK)
        return st;
    st = iq_record_found_or_fail(account_load_st(c, id, true, &a, error_r), "account", id, error_r);
    if (st != IQ_OK)
        goto fail;
    char *err = NULL;
    PGresult *r =
        iq_record_query_by_id(c, "DELETE FROM mail_accounts WHERE id = $1::bigint", id, &err);
    if (!r) {
        st = iq_op_db_error(c, "deleting the account", err, error_r);
        goto fail;
    }
    PQclear(r);
    json_t *fields = iq_account_fields_json(&a);
    st = iq_record_audit_commit(c, "delete", "account", id, iq_audit_diff(fields, NULL), error_r);
    json_decref(fields);
    if (st == IQ_OK)
        goto out;
fail:
    iq_pg_rollback(c);
out:
    iq_account_release(&a);
    return st;
}

int iq_account_find(PGconn *c, const char *ref, int64_t *id_r, char **error_r)
{
    int rc = iq_record_find(c, IQ_TBL_ACCOUNT, ref, id_r, error_r);
    return rc < 0 ? -1 : rc;
}
