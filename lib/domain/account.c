/* SPDX-License-Identifier: MIT */
/* Mail accounts and Network Connectors: the form's rules, loading, and audited writes with
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
#include "pg.h"
#include "util.h"

#define NAME_MAX_BYTES 200
#define HOST_MAX_BYTES 253
#define FOLDER_MAX_BYTES 1000

/* ---- status and errors ---- */

iq_err iq_op_db_error(PGconn *c, const char *what, char *pg_error, char **error_r)
{
    const char *state = iq_pg_last_sqlstate();
    const char *msg = pg_error ? pg_error : "unknown error";
    iq_err st = IQ_ERR_FAILED;
    if (iq_pg_connection_lost(c)) {
        *error_r = iq_xasprintf("%s: lost the connection to PostgreSQL (%s); check the server "
                                "and retry",
                                what, msg);
        st = IQ_ERR_UNAVAILABLE;
    } else if (strcmp(state, "42P01") == 0 || strcmp(state, "42703") == 0) {
        *error_r = iq_xasprintf("%s: the database lacks the inboxq schema (%s); run 'inboxq "
                                "migrate'",
                                what, msg);
        st = IQ_ERR_SCHEMA;
    } else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
        *error_r = iq_xasprintf("%s: a concurrent change got in the way (%s); run the command "
                                "again",
                                what, msg);
        st = IQ_ERR_STALE;
    } else {
        *error_r = iq_xasprintf("%s: %s", what, msg);
    }
    free(pg_error);
    return st;
}

static iq_err invalid(char **error_r, const char *fmt, ...) IQ_PRINTF(2, 3);
static iq_err invalid(char **error_r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char buf[1024];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    *error_r = iq_xstrdup(buf);
    return IQ_ERR_INVALID;
}

/* Operator input echoed in a message: at most 60 bytes, control characters as '?'. */
static void show_value(const char *s, char *buf, size_t size)
{
    size_t j = 0;
    for (size_t i = 0; s[i] && j + 4 < size && i < 60; i++)
        buf[j++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (strlen(s) > 60 && j + 4 < size) {
        memcpy(buf + j, "...", 3);
        j += 3;
    }
    buf[j] = '\0';
}

static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += n + 1;
    }
    return true;
}

static bool has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

static char *dup_or_null(const char *s)
{
    return s ? iq_xstrdup(s) : NULL;
}

static void replace_str(char **dst, const char *src)
{
    free(*dst);
    *dst = iq_xstrdup(src);
}

/* ---- field rules ---- */

int iq_validate_name(const char *field, const char *name, char **error_r)
{
    char shown[80];
    if (!name || !*name) {
        *error_r = iq_xasprintf("%s: is required; give --%s NAME", field, field);
        return -1;
    }
    size_t len = strlen(name);
    if (len > NAME_MAX_BYTES) {
        *error_r = iq_xasprintf("%s: is %zu bytes long, at most %d are allowed; give a shorter "
                                "--%s",
                                field, len, NAME_MAX_BYTES, field);
        return -1;
    }
    if (has_control(name)) {
        *error_r = iq_xasprintf("%s: contains a control character (tab, newline...); give "
                                "printable text",
                                field);
        return -1;
    }
    if (!utf8_valid(name)) {
        *error_r = iq_xasprintf("%s: is not valid UTF-8; give the name in UTF-8", field);
        return -1;
    }
    if (isspace((unsigned char)name[0]) || isspace((unsigned char)name[len - 1])) {
        *error_r = iq_xasprintf("%s: begins or ends with a space; remove it", field);
        return -1;
    }
    if (all_digits(name)) {
        show_value(name, shown, sizeof(shown));
        *error_r = iq_xasprintf("%s: '%s' is only digits and would be read as an id; add a "
                                "letter",
                                field, shown);
        return -1;
    }
    return 0;
}

static bool dns_name_valid(const char *s)
{
    size_t len = strlen(s);
    if (len > 0 && s[len - 1] == '.')
        len--; /* a fully qualified name's final dot */
    if (len == 0 || len > HOST_MAX_BYTES)
        return false;
    size_t start = 0;
    bool last_all_digits = false;
    while (start <= len) {
        size_t end = start;
        while (end < len && s[end] != '.')
            end++;
        size_t label = end - start;
        if (label == 0 || label > 63)
            return false;
        if (s[start] == '-' || s[end - 1] == '-')
            return false;
        last_all_digits = true;
        for (size_t i = start; i < end; i++) {
            unsigned char ch = (unsigned char)s[i];
            if (!isalnum(ch) && ch != '-')
                return false;
            if (!isdigit(ch))
                last_all_digits = false;
        }
        start = end + 1;
    }
    /* "1.2.3.999" is neither an IPv4 address nor a name (no top-level domain is numeric). */
    return !last_all_digits;
}

int iq_validate_host(const char *field, const char *host, char **error_r)
{
    char shown[80];
    if (!host || !*host) {
        *error_r = iq_xasprintf("%s: is required; give --%s with the server's host name or IP "
                                "address",
                                field, field);
        return -1;
    }
    size_t len = strlen(host);
    bool ok = false;
    if (len < 64) {
        char buf[64];
        unsigned char addr[16];
        if (host[0] == '[' && host[len - 1] == ']' && len > 2) {
            memcpy(buf, host + 1, len - 2);
            buf[len - 2] = '\0';
            ok = inet_pton(AF_INET6, buf, addr) == 1;
        } else {
            ok = inet_pton(AF_INET6, host, addr) == 1 || inet_pton(AF_INET, host, addr) == 1;
        }
    }
    if (!ok && host[0] != '[')
        ok = dns_name_valid(host);
    if (!ok) {
        show_value(host, shown, sizeof(shown));
        *error_r = iq_xasprintf("%s: '%s' is not a valid host name or IP address; give a name "
                                "like imap.example.com, an IPv4 or an IPv6 address",
                                field, shown);
        return -1;
    }
    return 0;
}

char *iq_host_normalize(const char *host)
{
    size_t len = strlen(host);
    if (len > 2 && host[0] == '[' && host[len - 1] == ']')
        return iq_xstrndup(host + 1, len - 2);
    return iq_xstrdup(host);
}

int iq_parse_port(const char *field, const char *s, int *port_r, char **error_r)
{
    int64_t v;
    char shown[80];
    if (!s || iq_parse_i64(s, 1, 65535, &v) < 0) {
        show_value(s ? s : "", shown, sizeof(shown));
        *error_r = iq_xasprintf("%s: '%s' is not a port number from 1 to 65535; give --%s N", field,
                                shown, field);
        return -1;
    }
    *port_r = (int)v;
    return 0;
}

int iq_protocol_parse(const char *s, iq_protocol *p_r)
{
    if (iq_str_eq_nocase(s, "imap"))
        *p_r = IQ_PROTO_IMAP;
    else if (iq_str_eq_nocase(s, "pop3"))
        *p_r = IQ_PROTO_POP3;
    else
        return -1;
    return 0;
}

int iq_connector_type_parse(const char *s, iq_connector_type *t_r)
{
    if (iq_str_eq_nocase(s, "socks5"))
        *t_r = IQ_CONNECTOR_SOCKS5;
    else if (iq_str_eq_nocase(s, "http"))
        *t_r = IQ_CONNECTOR_HTTP;
    else
        return -1;
    return 0;
}

const char *iq_connector_type_name(iq_connector_type t)
{
    return t == IQ_CONNECTOR_HTTP ? "http" : "socks5";
}

int iq_account_default_port(iq_protocol protocol, iq_security security)
{
    bool implicit = security == IQ_SEC_IMPLICIT;
    if (protocol == IQ_PROTO_POP3)
        return implicit ? 995 : 110;
    return implicit ? 993 : 143;
}

const char *iq_protocol_name(iq_protocol p)
{
    return p == IQ_PROTO_POP3 ? "pop3" : "imap";
}

const char *iq_security_type_name(iq_security s)
{
    switch (s) {
    case IQ_SEC_STARTTLS:
        return "tls";
    case IQ_SEC_IMPLICIT:
        return "ssl";
    case IQ_SEC_NONE:
        break;
    }
    return NULL;
}

static iq_err apply_bool(const char *field, const char *s, bool *out, char **error_r)
{
    if (!s)
        return IQ_OK;
    if (iq_parse_bool(s, out) < 0) {
        char shown[80];
        show_value(s, shown, sizeof(shown));
        return invalid(error_r, "%s: '%s' is not yes or no; give --%s yes or --%s no", field, shown,
                       field, field);
    }
    return IQ_OK;
}

/* A form's name: the one given, checked, or the one it has (required when creating). */
static iq_err apply_name(char **name, const char *given, bool creating, char **error_r)
{
    if (given) {
        if (iq_validate_name("name", given, error_r) < 0)
            return IQ_ERR_INVALID;
        replace_str(name, given);
    } else if (creating || !*name) {
        return invalid(error_r, "name: is required; give --name NAME");
    }
    return IQ_OK;
}

/* Resolves a NAME|ID reference through refs (or numerically without refs). */
static iq_err resolve(const iq_refs *refs, const char *kind, const char *ref, int64_t *id_r,
                      char **error_r)
{
    char shown[80];
    show_value(ref, shown, sizeof(shown));
    int rc = 0;
    bool is_credential = strcmp(kind, "credential") == 0;
    if (refs) {
        rc = is_credential ? refs->credential(refs->ctx, ref, id_r, error_r)
                           : refs->connector(refs->ctx, ref, id_r, error_r);
        if (rc < 0)
            return (iq_err)rc;
    } else {
        int64_t v;
        rc = iq_parse_i64(ref, 1, INT64_MAX, &v) == 0;
        if (rc)
            *id_r = v;
    }
    if (rc == 0) {
        if (is_credential)
            return invalid(error_r,
                           "credential: no credential is named or numbered '%s'; see 'inboxq "
                           "credential list', or add it with 'inboxq credential add'",
                           shown);
        return invalid(error_r,
                       "connector: no Network Connector is named or numbered '%s'; see 'inboxq "
                       "connector list', or add it with 'inboxq connector add'",
                       shown);
    }
    return IQ_OK;
}

static iq_err check_name_free(const iq_refs *refs, const char *kind, const char *article,
                              const char *name, int64_t self_id, char **error_r)
{
    if (!refs || !refs->name_taken)
        return IQ_OK;
    int rc = refs->name_taken(refs->ctx, kind, name, self_id, error_r);
    if (rc < 0)
        return (iq_err)rc;
    if (rc > 0) {
        char shown[80];
        show_value(name, shown, sizeof(shown));
        return invalid(error_r,
                       "name: %s %s named '%s' already exists (names are case-insensitive); "
                       "choose another --name",
                       article, kind, shown);
    }
    return IQ_OK;
}

/* ---- accounts: defaults and rules ---- */

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
        return invalid(error_r, "folder: is empty; give --folder NAME (INBOX by default)");
    if (strlen(folder) > FOLDER_MAX_BYTES)
        return invalid(error_r, "folder: is longer than %d bytes; give a shorter --folder",
                       FOLDER_MAX_BYTES);
    if (has_control(folder) || !utf8_valid(folder))
        return invalid(error_r, "folder: contains control characters or invalid UTF-8; give "
                                "the mailbox name as printable UTF-8");
    replace_str(&a->folder, folder);
    return IQ_OK;
}

static iq_err apply_interval(iq_account *a, const char *s, char **error_r)
{
    if (!s)
        return IQ_OK;
    char shown[80];
    show_value(s, shown, sizeof(shown));
    int64_t ms;
    if (iq_parse_duration_ms(s, &ms) < 0)
        return invalid(error_r,
                       "check-interval: '%s' is not a duration; give e.g. 30s, 5m, 1h or 1d "
                       "(from 5s to 7d)",
                       shown);
    if (ms % 1000 != 0 || ms < (int64_t)IQ_CHECK_INTERVAL_MIN_S * 1000 ||
        ms > (int64_t)IQ_CHECK_INTERVAL_MAX_S * 1000)
        return invalid(error_r,
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
    if ((st = apply_name(&a->name, in->name, creating, error_r)) != IQ_OK)
        return st;
    /* Endereço */
    if (in->host) {
        if (iq_validate_host("host", in->host, error_r) < 0)
            return IQ_ERR_INVALID;
        free(a->host);
        a->host = iq_host_normalize(in->host);
    } else if (creating || !a->host) {
        return invalid(error_r, "host: is required; give --host with the mail server's host "
                                "name or IP address");
    }
    /* Protocolo */
    if (in->protocol) {
        if (iq_protocol_parse(in->protocol, &a->protocol) < 0) {
            show_value(in->protocol, shown, sizeof(shown));
            return invalid(error_r,
                           "protocol: '%s' is not imap or pop3; give --protocol imap or "
                           "--protocol pop3",
                           shown);
        }
    } else if (creating) {
        return invalid(error_r, "protocol: is required; give --protocol imap or --protocol pop3");
    }
    /* Porta: empty means the standard port for protocol and security (resolved below). */
    if (in->port) {
        if (!*in->port) {
            a->port_is_default = true;
        } else {
            int64_t v;
            if (iq_parse_i64(in->port, 1, 65535, &v) < 0) {
                show_value(in->port, shown, sizeof(shown));
                return invalid(error_r,
                               "port: '%s' is not a port number from 1 to 65535; give --port N, "
                               "or an empty --port for the standard one (IMAP 143/993, POP3 "
                               "110/995)",
                               shown);
            }
            a->port = (int)v;
            a->port_is_default = false;
        }
    }
    /* Usar conexão segura + Tipo de conexão segura */
    bool secure = a->security != IQ_SEC_NONE;
    if ((st = apply_bool("secure", in->secure, &secure, error_r)) != IQ_OK)
        return st;
    iq_security type = a->security;
    if (in->secure_type) {
        if (iq_str_eq_nocase(in->secure_type, "tls")) {
            type = IQ_SEC_STARTTLS;
        } else if (iq_str_eq_nocase(in->secure_type, "ssl")) {
            type = IQ_SEC_IMPLICIT;
        } else {
            show_value(in->secure_type, shown, sizeof(shown));
            return invalid(error_r,
                           "secure-type: '%s' is not tls or ssl; give --secure-type tls "
                           "(STARTTLS) or --secure-type ssl (TLS from the first byte)",
                           shown);
        }
        if (!secure)
            return invalid(error_r, "secure-type: only applies to a secure connection; drop "
                                    "--secure-type or give --secure yes");
    }
    if (!secure)
        a->security = IQ_SEC_NONE;
    else
        a->security = type == IQ_SEC_NONE ? IQ_SEC_IMPLICIT : type; /* ssl by default */
    if (a->port_is_default)
        a->port = iq_account_default_port(a->protocol, a->security);

    if ((st = apply_bool("ignore-certificate", in->ignore_certificate, &a->ignore_certificate,
                         error_r)) != IQ_OK ||
        (st = apply_bool("keep-copy", in->keep_copy, &a->keep_copy, error_r)) != IQ_OK ||
        (st = apply_bool("auto-check", in->auto_check, &a->auto_check, error_r)) != IQ_OK ||
        (st = apply_bool("active", in->active, &a->active, error_r)) != IQ_OK ||
        (st = apply_bool("apop", in->apop, &a->apop, error_r)) != IQ_OK)
        return st;
    if ((st = apply_folder(a, in->folder, error_r)) != IQ_OK ||
        (st = apply_interval(a, in->check_interval, error_r)) != IQ_OK)
        return st;

    /* Usar Network Connector + Network Connector */
    bool use = a->use_connector;
    if ((st = apply_bool("use-connector", in->use_connector, &use, error_r)) != IQ_OK)
        return st;
    if (in->connector) {
        if (in->use_connector && !use)
            return invalid(error_r, "connector: only applies with --use-connector yes; drop "
                                    "--connector or give --use-connector yes");
        if (!*in->connector)
            return invalid(error_r, "connector: is empty; give --connector NAME|ID, or "
                                    "--use-connector no");
        use = true; /* --connector alone implies --use-connector yes */
    } else if (!use) {
        a->connector_id = 0;
    } else if (a->connector_id == 0) {
        return invalid(error_r, "connector: is required with --use-connector yes; give "
                                "--connector NAME|ID (see 'inboxq connector list')");
    }
    a->use_connector = use;

    /* Credencial para autenticação */
    if (in->credential && !*in->credential)
        return invalid(error_r, "credential: is empty; give --credential NAME|ID");
    if (!in->credential && a->credential_id == 0)
        return invalid(error_r, "credential: is required; give --credential NAME|ID (register "
                                "one first with 'inboxq credential add')");

    /* Lookups last: they reach the database. */
    if (in->connector &&
        (st = resolve(refs, "connector", in->connector, &a->connector_id, error_r)) != IQ_OK)
        return st;
    if (in->credential &&
        (st = resolve(refs, "credential", in->credential, &a->credential_id, error_r)) != IQ_OK)
        return st;
    if (in->name && (st = check_name_free(refs, "account", "an", a->name, a->id, error_r)) != IQ_OK)
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
    json_object_set_new(o, "check_interval_s", json_integer(a->check_interval_s));
    return o;
}

/* ---- lookups in PostgreSQL ---- */

/* Runs sql with id as its one parameter ($1): iq_pg_query's result. */
static PGresult *query_by_id(PGconn *c, const char *sql, int64_t id, char **error_r)
{
    char idbuf[32];
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    const char *params[] = {idbuf};
    return iq_pg_query(c, sql, 1, params, error_r);
}

typedef enum { TBL_ACCOUNT, TBL_CONNECTOR, TBL_CREDENTIAL } table_kind;

/* 1 found, 0 none, or a negative iq_err. */
static int pg_find(PGconn *c, table_kind t, const char *ref, int64_t *id_r, char **error_r)
{
    static const char *const by_id[] = {
        "SELECT id FROM mail_accounts WHERE id = $1::bigint",
        "SELECT id FROM network_connectors WHERE id = $1::bigint",
        "SELECT id FROM credentials WHERE id = $1::bigint",
    };
    static const char *const by_name[] = {
        "SELECT id FROM mail_accounts WHERE lower(name) = lower($1)",
        "SELECT id FROM network_connectors WHERE lower(name) = lower($1)",
        "SELECT id FROM credentials WHERE lower(name) = lower($1)",
    };
    if (!ref || !*ref)
        return 0;
    int64_t v;
    const char *sql;
    if (all_digits(ref)) {
        if (iq_parse_i64(ref, 1, INT64_MAX, &v) < 0)
            return 0;
        sql = by_id[t];
    } else {
        sql = by_name[t];
    }
    char *err = NULL;
    const char *params[] = {ref};
    PGresult *r = iq_pg_query(c, sql, 1, params, &err);
    if (!r)
        return (int)iq_op_db_error(c, "looking up a reference", err, error_r);
    int found = PQntuples(r) > 0;
    if (found)
        *id_r = iq_pg_i64(r, 0, 0);
    PQclear(r);
    return found;
}

static int refs_credential(void *ctx, const char *ref, int64_t *id_r, char **error_r)
{
    return pg_find(ctx, TBL_CREDENTIAL, ref, id_r, error_r);
}

static int refs_connector(void *ctx, const char *ref, int64_t *id_r, char **error_r)
{
    return pg_find(ctx, TBL_CONNECTOR, ref, id_r, error_r);
}

static int refs_name_taken(void *ctx, const char *kind, const char *name, int64_t self_id,
                           char **error_r)
{
    const char *sql;
    if (strcmp(kind, "account") == 0)
        sql = "SELECT 1 FROM mail_accounts WHERE lower(name) = lower($1) AND id <> $2::bigint";
    else if (strcmp(kind, "connector") == 0)
        sql = "SELECT 1 FROM network_connectors WHERE lower(name) = lower($1) AND id <> "
              "$2::bigint";
    else
        sql = "SELECT 1 FROM credentials WHERE lower(name) = lower($1) AND id <> $2::bigint";
    char idbuf[32];
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, self_id);
    const char *params[] = {name, idbuf};
    char *err = NULL;
    PGresult *r = iq_pg_query(ctx, sql, 2, params, &err);
    if (!r)
        return (int)iq_op_db_error(ctx, "checking the name", err, error_r);
    int taken = PQntuples(r) > 0;
    PQclear(r);
    return taken;
}

void iq_refs_pg(iq_refs *refs_r, PGconn *c)
{
    refs_r->credential = refs_credential;
    refs_r->connector = refs_connector;
    refs_r->name_taken = refs_name_taken;
    refs_r->ctx = c;
}

int iq_account_find(PGconn *c, const char *ref, int64_t *id_r, char **error_r)
{
    int rc = pg_find(c, TBL_ACCOUNT, ref, id_r, error_r);
    return rc < 0 ? -1 : rc;
}

int iq_connector_find(PGconn *c, const char *ref, int64_t *id_r, char **error_r)
{
    int rc = pg_find(c, TBL_CONNECTOR, ref, id_r, error_r);
    return rc < 0 ? -1 : rc;
}

char *iq_users_text(const PGresult *r)
{
    int n = PQntuples(r);
    if (n == 0)
        return NULL;
    char *out = NULL;
    for (int i = 0; i < n && i < 10; i++) {
        char shown[80];
        show_value(iq_pg_str(r, i, 2), shown, sizeof(shown));
        char *next = iq_xasprintf("%s%s%s %s '%s'", out ? out : "", out ? ", " : "",
                                  iq_pg_str(r, i, 0), iq_pg_str(r, i, 1), shown);
        free(out);
        out = next;
    }
    if (n > 10) {
        char *next = iq_xasprintf("%s and more", out);
        free(out);
        out = next;
    }
    return out;
}

/* ---- accounts in PostgreSQL ---- */

#define ACCOUNT_COLS IQ_ACCOUNT_COLS
#define ACCOUNT_NCOLS IQ_ACCOUNT_NCOLS

void iq_account_from_row(const PGresult *r, int row, iq_account *a)
{
    memset(a, 0, sizeof(*a));
    a->id = iq_pg_i64(r, row, 0);
    a->name = dup_or_null(iq_pg_str(r, row, 1));
    a->host = dup_or_null(iq_pg_str(r, row, 2));
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
    a->folder = dup_or_null(iq_pg_str(r, row, 15));
    a->apop = iq_pg_bool(r, row, 16);
    a->check_interval_s = iq_pg_i64(r, row, 17);
    a->version = (int)iq_pg_i64(r, row, 18);
    a->last_status = dup_or_null(iq_pg_str(r, row, 19));
    a->last_error_class = dup_or_null(iq_pg_str(r, row, 20));
    a->last_error = dup_or_null(iq_pg_str(r, row, 21));
    a->last_check_at = dup_or_null(iq_pg_str(r, row, 22));
    a->last_success_at = dup_or_null(iq_pg_str(r, row, 23));
    a->next_check_at = dup_or_null(iq_pg_str(r, row, 24));
}

/* 1 found, 0 none, or a negative iq_err. */
static int account_load_st(PGconn *c, int64_t id, bool for_update, iq_account *a_r, char **error_r)
{
    char *err = NULL;
    PGresult *r = query_by_id(
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

int iq_account_view_load(PGconn *c, int64_t id, iq_account_view *v_r, char **error_r)
{
    memset(v_r, 0, sizeof(*v_r));
    char *err = NULL;
    PGresult *r = query_by_id(
        c,
        "SELECT " ACCOUNT_COLS ", cr.name, k.name, " IQ_SQL_TS("a.created_at") ", " IQ_SQL_TS(
            "a.updated_at") " FROM mail_accounts a"
                            " JOIN credentials cr ON cr.id = a.credential_id"
                            " LEFT JOIN network_connectors k ON k.id = a.connector_id"
                            " WHERE a.id = $1::bigint",
        id, &err);
    if (!r) {
        iq_op_db_error(c, "loading the account", err, error_r);
        return -1;
    }
    int found = PQntuples(r) > 0;
    if (found) {
        iq_account_from_row(r, 0, &v_r->a);
        v_r->credential_name = dup_or_null(iq_pg_str(r, 0, ACCOUNT_NCOLS));
        v_r->connector_name = dup_or_null(iq_pg_str(r, 0, ACCOUNT_NCOLS + 1));
        v_r->created_at = dup_or_null(iq_pg_str(r, 0, ACCOUNT_NCOLS + 2));
        v_r->updated_at = dup_or_null(iq_pg_str(r, 0, ACCOUNT_NCOLS + 3));
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
    memset(v, 0, sizeof(*v));
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
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
    json_object_set_new(o, "connector", str_or_null(v->connector_name));
    json_object_set_new(o, "credential", str_or_null(v->credential_name));
    char dur[32];
    iq_format_duration(a->check_interval_s * 1000, dur, sizeof(dur));
    json_object_set_new(o, "check_interval", json_string(dur));
    json_object_set_new(o, "version", json_integer(a->version));
    json_object_set_new(o, "last_status", str_or_null(a->last_status));
    json_object_set_new(o, "last_error_class", str_or_null(a->last_error_class));
    json_object_set_new(o, "last_error", str_or_null(a->last_error));
    json_object_set_new(o, "last_check_at", str_or_null(a->last_check_at));
    json_object_set_new(o, "last_success_at", str_or_null(a->last_success_at));
    json_object_set_new(o, "next_check_at", str_or_null(a->next_check_at));
    json_object_set_new(o, "created_at", str_or_null(v->created_at));
    json_object_set_new(o, "updated_at", str_or_null(v->updated_at));
    return o;
}

/* Text parameters for the 17 stored fields, in the order of the INSERT's columns (the most
 * fields of any kind). */
#define ACCOUNT_NFIELDS 17
typedef struct account_params {
    char port[16], connector[24], credential[24], interval[24];
    const char *v[ACCOUNT_NFIELDS];
} account_params;

static const char *tf(bool b)
{
    return b ? "t" : "f";
}

static void account_params_fill(account_params *p, const iq_account *a)
{
    snprintf(p->port, sizeof(p->port), "%d", a->port);
    snprintf(p->connector, sizeof(p->connector), "%" PRId64, a->connector_id);
    snprintf(p->credential, sizeof(p->credential), "%" PRId64, a->credential_id);
    snprintf(p->interval, sizeof(p->interval), "%" PRId64, a->check_interval_s);
    const char *v[ACCOUNT_NFIELDS] = {a->name,
                                      a->host,
                                      p->port,
                                      tf(a->port_is_default),
                                      iq_protocol_name(a->protocol),
                                      tf(a->security != IQ_SEC_NONE),
                                      iq_security_type_name(a->security),
                                      tf(a->ignore_certificate),
                                      tf(a->keep_copy),
                                      tf(a->auto_check),
                                      tf(a->active),
                                      tf(a->use_connector),
                                      a->use_connector && a->connector_id ? p->connector : NULL,
                                      p->credential,
                                      a->folder,
                                      tf(a->apop),
                                      p->interval};
    memcpy(p->v, v, sizeof(v));
}

/* Maps an insert/update failure: names and references get field messages. */
static iq_err write_error(PGconn *c, const char *kind, const char *what, char *err, char **error_r)
{
    const char *state = iq_pg_last_sqlstate();
    if (strcmp(state, "23505") == 0) {
        free(err);
        return invalid(error_r,
                       "name: another %s already has this name (names are case-insensitive); "
                       "choose another --name",
                       kind);
    }
    if (strcmp(state, "23503") == 0) {
        free(err);
        return invalid(error_r,
                       "%s: a credential or connector it refers to was deleted "
                       "meanwhile; check them and run the command again",
                       kind);
    }
    return iq_op_db_error(c, what, err, error_r);
}

/* A change's audit row (diff is consumed) and the commit. */
static iq_err audit_commit(PGconn *c, const char *action, const char *entity, int64_t id,
                           json_t *diff, char **error_r)
{
    char *err = NULL;
    int rc = iq_audit_write(c, action, entity, id, diff, &err);
    json_decref(diff);
    if (rc < 0)
        return iq_op_db_error(c, "writing the audit trail", err, error_r);
    if (iq_pg_commit(c, &err) < 0)
        return iq_op_db_error(c, "committing", err, error_r);
    return IQ_OK;
}

/* An add's INSERT ... RETURNING id, its audit row (fields: the new object's, consumed) and the
 * commit; *id_r is set when all of it succeeded. */
static iq_err insert_audited(PGconn *c, const char *entity, const char *sql, int nparams,
                             const char *const *params, json_t *fields, int64_t *id_r,
                             char **error_r)
{
    char *err = NULL;
    PGresult *r = iq_pg_query(c, sql, nparams, params, &err);
    if (!r) {
        json_decref(fields);
        char what[64];
        snprintf(what, sizeof(what), "adding the %s", entity);
        return write_error(c, entity, what, err, error_r);
    }
    int64_t id = iq_pg_i64(r, 0, 0);
    PQclear(r);
    iq_err st = audit_commit(c, "create", entity, id, iq_audit_diff(NULL, fields), error_r);
    json_decref(fields);
    if (st == IQ_OK)
        *id_r = id;
    return st;
}

/* An edit's write, when the fields' JSON before and after it differ (else the transaction is
 * rolled back and nothing is written): UPDATE ... WHERE id = $1 AND version = $2 RETURNING
 * version, with the nfields stored fields as $3 on, then its audit row and the commit. A row
 * that changed meanwhile is a stale edit. *changed_r tells whether it wrote. */
static iq_err update_audited(PGconn *c, const char *entity, int64_t id, int version, json_t *before,
                             json_t *after, const char *sql, int nfields, const char *const *fields,
                             bool *changed_r, char **error_r)
{
    json_t *diff = iq_audit_diff(before, after);
    if (json_object_size(diff) == 0) {
        json_decref(diff);
        iq_pg_rollback(c); /* nothing to write */
        return IQ_OK;
    }
    char idbuf[32], verbuf[16];
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    snprintf(verbuf, sizeof(verbuf), "%d", version);
    const char *params[2 + ACCOUNT_NFIELDS] = {idbuf, verbuf};
    memcpy(params + 2, fields, (size_t)nfields * sizeof(*fields));
    char *err = NULL;
    PGresult *r = iq_pg_query(c, sql, nfields + 2, params, &err);
    if (!r) {
        json_decref(diff);
        char what[64];
        snprintf(what, sizeof(what), "changing the %s", entity);
        return write_error(c, entity, what, err, error_r);
    }
    int rows = PQntuples(r);
    PQclear(r);
    if (rows == 0) {
        json_decref(diff);
        *error_r = iq_xasprintf("%s %" PRId64 " was changed (or deleted) by someone else while "
                                "this edit ran; nothing was written: run the edit again",
                                entity, id);
        return IQ_ERR_STALE;
    }
    iq_err st = audit_commit(c, "update", entity, id, diff, error_r);
    if (st == IQ_OK)
        *changed_r = true;
    return st;
}

/* A load before a write (1 found, 0 none, or a negative status) as a status: none is
 * IQ_ERR_NOT_FOUND, "ENTITY ID does not exist". */
static iq_err found_or_fail(int found, const char *entity, int64_t id, char **error_r)
{
    if (found < 0)
        return (iq_err)found;
    if (found == 0) {
        *error_r =
            iq_xasprintf("%s %" PRId64 " does not exist; see 'inboxq %s list'", entity, id, entity);
        return IQ_ERR_NOT_FOUND;
    }
    return IQ_OK;
}

static iq_err begin_or_fail(PGconn *c, char **error_r)
{
    char *err = NULL;
    if (iq_pg_begin(c, &err) < 0)
        return iq_op_db_error(c, "starting a transaction", err, error_r);
    return IQ_OK;
}

iq_err iq_account_create(PGconn *c, const iq_account_input *in, int64_t *id_r, char **error_r)
{
    iq_account a;
    iq_refs refs;
    iq_refs_pg(&refs, c);
    iq_account_init(&a);
    iq_err st = begin_or_fail(c, error_r);
    if (st != IQ_OK)
        goto out;
    if ((st = iq_account_apply(&a, in, true, &refs, error_r)) != IQ_OK)
        goto fail;
    account_params p = {0};
    account_params_fill(&p, &a);
    st = insert_audited(
        c, "account",
        "INSERT INTO mail_accounts (name, host, port, port_is_default, protocol, secure, "
        "secure_type, ignore_certificate, keep_copy, auto_check, active, use_connector, "
        "connector_id, credential_id, folder, apop, check_interval_s) VALUES ($1, $2, $3::int, "
        "$4::bool, $5, $6::bool, $7, $8::bool, $9::bool, $10::bool, $11::bool, $12::bool, "
        "$13::bigint, $14::bigint, $15, $16::bool, $17::int) RETURNING id",
        ACCOUNT_NFIELDS, p.v, iq_account_fields_json(&a), id_r, error_r);
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
    iq_err st = begin_or_fail(c, error_r);
    if (st != IQ_OK)
        return st;
    /* A plain read: the write below is what detects a concurrent change. */
    st = found_or_fail(account_load_st(c, id, false, &a, error_r), "account", id, error_r);
    if (st != IQ_OK)
        goto fail;
    if (expect_version > 0 && a.version != expect_version) {
        *error_r =
            iq_xasprintf("account %" PRId64 " is at version %d, not %d: someone changed "
                         "it; look at it again ('inboxq account show %" PRId64 "') and retry",
                         id, a.version, expect_version, id);
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
    st = update_audited(
        c, "account", id, version, before, after,
        "UPDATE mail_accounts SET name = $3, host = $4, port = $5::int, port_is_default = "
        "$6::bool, protocol = $7, secure = $8::bool, secure_type = $9, ignore_certificate = "
        "$10::bool, keep_copy = $11::bool, auto_check = $12::bool, active = $13::bool, "
        "use_connector = $14::bool, connector_id = $15::bigint, credential_id = $16::bigint, "
        "folder = $17, apop = $18::bool, check_interval_s = $19::int, "
        "next_check_at = CASE WHEN check_interval_s <> $19::int "
        "THEN least(next_check_at, now() + make_interval(secs => $19::int)) "
        "ELSE next_check_at END, "
        "version = version + 1, updated_at = now() "
        "WHERE id = $1::bigint AND version = $2::int RETURNING version",
        ACCOUNT_NFIELDS, p.v, changed_r, error_r);
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
    iq_err st = begin_or_fail(c, error_r);
    if (st != IQ_OK)
        return st;
    st = found_or_fail(account_load_st(c, id, true, &a, error_r), "account", id, error_r);
    if (st != IQ_OK)
        goto fail;
    char *err = NULL;
    PGresult *r = query_by_id(c, "DELETE FROM mail_accounts WHERE id = $1::bigint", id, &err);
    if (!r) {
        st = iq_op_db_error(c, "deleting the account", err, error_r);
        goto fail;
    }
    PQclear(r);
    json_t *fields = iq_account_fields_json(&a);
    st = audit_commit(c, "delete", "account", id, iq_audit_diff(fields, NULL), error_r);
    json_decref(fields);
    if (st == IQ_OK)
        goto out;
fail:
    iq_pg_rollback(c);
out:
    iq_account_release(&a);
    return st;
}

/* ---- Network Connectors ---- */

void iq_connector_init(iq_connector *k)
{
    memset(k, 0, sizeof(*k));
    k->type = IQ_CONNECTOR_SOCKS5;
    k->active = true;
}

void iq_connector_release(iq_connector *k)
{
    if (!k)
        return;
    free(k->name);
    free(k->host);
    memset(k, 0, sizeof(*k));
}

iq_err iq_connector_apply(iq_connector *k, const iq_connector_input *in, bool creating,
                          const iq_refs *refs, char **error_r)
{
    iq_err st;
    char shown[80];
    if ((st = apply_name(&k->name, in->name, creating, error_r)) != IQ_OK)
        return st;
    if (in->type) {
        if (iq_connector_type_parse(in->type, &k->type) < 0) {
            show_value(in->type, shown, sizeof(shown));
            return invalid(error_r,
                           "type: '%s' is not socks5 or http; give --type socks5 or --type http "
                           "(HTTP CONNECT)",
                           shown);
        }
    } else if (creating) {
        return invalid(error_r, "type: is required; give --type socks5 or --type http");
    }
    if (in->host) {
        if (iq_validate_host("host", in->host, error_r) < 0)
            return IQ_ERR_INVALID;
        free(k->host);
        k->host = iq_host_normalize(in->host);
    } else if (creating || !k->host) {
        return invalid(error_r, "host: is required; give --host with the proxy's host name or "
                                "IP address");
    }
    if (in->port) {
        if (iq_parse_port("port", in->port, &k->port, error_r) < 0)
            return IQ_ERR_INVALID;
    } else if (creating || k->port == 0) {
        return invalid(error_r, "port: is required; give --port N (e.g. 1080 for SOCKS5, 3128 "
                                "for HTTP)");
    }
    if ((st = apply_bool("active", in->active, &k->active, error_r)) != IQ_OK)
        return st;
    if (in->credential) {
        if (!*in->credential)
            k->credential_id = 0; /* "" removes the proxy login */
        else if ((st = resolve(refs, "credential", in->credential, &k->credential_id, error_r)) !=
                 IQ_OK)
            return st;
    }
    if (in->name &&
        (st = check_name_free(refs, "connector", "a", k->name, k->id, error_r)) != IQ_OK)
        return st;
    return IQ_OK;
}

json_t *iq_connector_fields_json(const iq_connector *k)
{
    json_t *o = json_object();
    if (!o)
        iq_oom();
    json_object_set_new(o, "name", json_string(k->name ? k->name : ""));
    json_object_set_new(o, "type", json_string(iq_connector_type_name(k->type)));
    json_object_set_new(o, "host", json_string(k->host ? k->host : ""));
    json_object_set_new(o, "port", json_integer(k->port));
    json_object_set_new(o, "credential_id",
                        k->credential_id ? json_integer(k->credential_id) : json_null());
    json_object_set_new(o, "active", json_boolean(k->active));
    return o;
}

static int connector_load_st(PGconn *c, int64_t id, bool for_update, iq_connector *k_r,
                             char **error_r)
{
    char *err = NULL;
    PGresult *r =
        query_by_id(c,
                    for_update ? "SELECT id, name, type, host, port, credential_id, active, "
                                 "version FROM network_connectors WHERE id = $1::bigint "
                                 "FOR UPDATE"
                               : "SELECT id, name, type, host, port, credential_id, active, "
                                 "version FROM network_connectors WHERE id = $1::bigint",
                    id, &err);
    if (!r)
        return (int)iq_op_db_error(c, "loading the connector", err, error_r);
    int found = PQntuples(r) > 0;
    if (found) {
        memset(k_r, 0, sizeof(*k_r));
        k_r->id = iq_pg_i64(r, 0, 0);
        k_r->name = dup_or_null(iq_pg_str(r, 0, 1));
        if (iq_connector_type_parse(iq_pg_str(r, 0, 2), &k_r->type) < 0)
            k_r->type = IQ_CONNECTOR_SOCKS5;
        k_r->host = dup_or_null(iq_pg_str(r, 0, 3));
        k_r->port = (int)iq_pg_i64(r, 0, 4);
        k_r->credential_id = iq_pg_i64(r, 0, 5);
        k_r->active = iq_pg_bool(r, 0, 6);
        k_r->version = (int)iq_pg_i64(r, 0, 7);
    }
    PQclear(r);
    return found;
}

int iq_connector_load(PGconn *c, int64_t id, iq_connector *k_r, char **error_r)
{
    memset(k_r, 0, sizeof(*k_r));
    int rc = connector_load_st(c, id, false, k_r, error_r);
    return rc < 0 ? -1 : rc;
}

typedef struct connector_params {
    char port[16], credential[24];
    const char *v[6];
} connector_params;

static void connector_params_fill(connector_params *p, const iq_connector *k)
{
    snprintf(p->port, sizeof(p->port), "%d", k->port);
    snprintf(p->credential, sizeof(p->credential), "%" PRId64, k->credential_id);
    p->v[0] = k->name;
    p->v[1] = iq_connector_type_name(k->type);
    p->v[2] = k->host;
    p->v[3] = p->port;
    p->v[4] = k->credential_id ? p->credential : NULL;
    p->v[5] = tf(k->active);
}

iq_err iq_connector_create(PGconn *c, const iq_connector_input *in, int64_t *id_r, char **error_r)
{
    iq_connector k;
    iq_refs refs;
    iq_refs_pg(&refs, c);
    iq_connector_init(&k);
    iq_err st = begin_or_fail(c, error_r);
    if (st != IQ_OK)
        goto out;
    if ((st = iq_connector_apply(&k, in, true, &refs, error_r)) != IQ_OK)
        goto fail;
    connector_params p = {0};
    connector_params_fill(&p, &k);
    st = insert_audited(c, "connector",
                        "INSERT INTO network_connectors (name, type, host, port, credential_id, "
                        "active) VALUES ($1, $2, $3, $4::int, $5::bigint, $6::bool) RETURNING id",
                        6, p.v, iq_connector_fields_json(&k), id_r, error_r);
    if (st == IQ_OK)
        goto out;
fail:
    iq_pg_rollback(c);
out:
    iq_connector_release(&k);
    return st;
}

iq_err iq_connector_update(PGconn *c, int64_t id, const iq_connector_input *in, int expect_version,
                           bool *changed_r, char **error_r)
{
    iq_connector k;
    memset(&k, 0, sizeof(k));
    json_t *before = NULL, *after = NULL;
    iq_refs refs;
    iq_refs_pg(&refs, c);
    *changed_r = false;
    iq_err st = begin_or_fail(c, error_r);
    if (st != IQ_OK)
        return st;
    st = found_or_fail(connector_load_st(c, id, false, &k, error_r), "connector", id, error_r);
    if (st != IQ_OK)
        goto fail;
    if (expect_version > 0 && k.version != expect_version) {
        *error_r = iq_xasprintf("connector %" PRId64 " is at version %d, not %d: someone changed "
                                "it; look at it again and retry",
                                id, k.version, expect_version);
        st = IQ_ERR_STALE;
        goto fail;
    }
    int version = k.version;
    before = iq_connector_fields_json(&k);
    if ((st = iq_connector_apply(&k, in, false, &refs, error_r)) != IQ_OK)
        goto fail;
    after = iq_connector_fields_json(&k);
    connector_params p = {0};
    connector_params_fill(&p, &k);
    st = update_audited(c, "connector", id, version, before, after,
                        "UPDATE network_connectors SET name = $3, type = $4, host = $5, "
                        "port = $6::int, credential_id = $7::bigint, active = $8::bool, "
                        "version = version + 1, updated_at = now() "
                        "WHERE id = $1::bigint AND version = $2::int RETURNING version",
                        6, p.v, changed_r, error_r);
    if (st == IQ_OK)
        goto out;
fail:
    iq_pg_rollback(c);
out:
    json_decref(before);
    json_decref(after);
    iq_connector_release(&k);
    return st;
}

iq_err iq_connector_delete(PGconn *c, int64_t id, char **error_r)
{
    iq_connector k;
    memset(&k, 0, sizeof(k));
    iq_err st = begin_or_fail(c, error_r);
    if (st != IQ_OK)
        return st;
    st = found_or_fail(connector_load_st(c, id, true, &k, error_r), "connector", id, error_r);
    if (st != IQ_OK)
        goto fail;
    char *err = NULL;
    PGresult *r = query_by_id(c,
                              "SELECT 'account', id, name FROM mail_accounts "
                              "WHERE connector_id = $1::bigint ORDER BY id LIMIT 11",
                              id, &err);
    if (!r) {
        st = iq_op_db_error(c, "checking who uses the connector", err, error_r);
        goto fail;
    }
    char *users = iq_users_text(r);
    PQclear(r);
    if (users) {
        char shown[80];
        show_value(k.name, shown, sizeof(shown));
        *error_r = iq_xasprintf("connector %" PRId64 " '%s' is used by %s; point them elsewhere "
                                "('inboxq account edit ID --use-connector no') or delete them "
                                "first",
                                id, shown, users);
        free(users);
        st = IQ_ERR_IN_USE;
        goto fail;
    }
    if (!(r = query_by_id(c, "DELETE FROM network_connectors WHERE id = $1::bigint", id, &err))) {
        if (strcmp(iq_pg_last_sqlstate(), "23503") == 0) {
            free(err);
            *error_r = iq_xasprintf("connector %" PRId64 " came into use by an account "
                                    "meanwhile; run the command again to see which",
                                    id);
            st = IQ_ERR_IN_USE;
        } else {
            st = iq_op_db_error(c, "deleting the connector", err, error_r);
        }
        goto fail;
    }
    PQclear(r);
    json_t *fields = iq_connector_fields_json(&k);
    st = audit_commit(c, "delete", "connector", id, iq_audit_diff(fields, NULL), error_r);
    json_decref(fields);
    if (st == IQ_OK)
        goto out;
fail:
    iq_pg_rollback(c);
out:
    iq_connector_release(&k);
    return st;
}

json_t *iq_connector_list_json(PGconn *c, int64_t id, char **error_r)
{
    char idbuf[32];
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    const char *params[] = {id > 0 ? idbuf : NULL};
    char *err = NULL;
    PGresult *r = iq_pg_query(
        c,
        "SELECT k.id, k.name, k.type, k.host, k.port, k.credential_id, cr.name, k.active, "
        "k.version, " IQ_SQL_TS("k.created_at") ", " IQ_SQL_TS(
            "k.updated_at") ", "
                            "(SELECT count(*) FROM mail_accounts a WHERE a.connector_id = k.id) "
                            "FROM network_connectors k LEFT JOIN credentials cr ON cr.id = "
                            "k.credential_id "
                            "WHERE ($1::bigint IS NULL OR k.id = $1::bigint) ORDER BY k.id",
        1, params, &err);
    if (!r) {
        iq_op_db_error(c, "listing connectors", err, error_r);
        return NULL;
    }
    json_t *arr = json_array();
    if (!arr)
        iq_oom();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_object();
        if (!o)
            iq_oom();
        json_object_set_new(o, "id", json_integer(iq_pg_i64(r, i, 0)));
        json_object_set_new(o, "name", str_or_null(iq_pg_str(r, i, 1)));
        json_object_set_new(o, "type", str_or_null(iq_pg_str(r, i, 2)));
        json_object_set_new(o, "host", str_or_null(iq_pg_str(r, i, 3)));
        json_object_set_new(o, "port", json_integer(iq_pg_i64(r, i, 4)));
        json_object_set_new(o, "credential_id",
                            iq_pg_str(r, i, 5) ? json_integer(iq_pg_i64(r, i, 5)) : json_null());
        json_object_set_new(o, "credential", str_or_null(iq_pg_str(r, i, 6)));
        json_object_set_new(o, "active", json_boolean(iq_pg_bool(r, i, 7)));
        json_object_set_new(o, "version", json_integer(iq_pg_i64(r, i, 8)));
        json_object_set_new(o, "created_at", str_or_null(iq_pg_str(r, i, 9)));
        json_object_set_new(o, "updated_at", str_or_null(iq_pg_str(r, i, 10)));
        json_object_set_new(o, "accounts", json_integer(iq_pg_i64(r, i, 11)));
        json_array_append_new(arr, o);
    }
    PQclear(r);
    return arr;
}
