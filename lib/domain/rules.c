/* SPDX-License-Identifier: MIT */
/* The form's field rules, shared by accounts, connectors and credentials: names, hosts, ports,
 * the protocol and security vocabulary, yes/no fields and references by NAME or ID. */
#include "rules.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <libpq-fe.h>

#include "rules_int.h"
#include "utf8.h"
#include "util.h"

#define NAME_MAX_BYTES 200
#define HOST_MAX_BYTES 253

iq_err iq_rule_invalid(char **error_r, const char *fmt, ...) IQ_PRINTF(2, 3);
iq_err iq_rule_invalid(char **error_r, const char *fmt, ...)
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
void iq_rule_show_value(const char *s, char *buf, size_t size)
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

bool iq_rule_utf8_valid(const char *s)
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

bool iq_rule_has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

bool iq_rule_all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

char *iq_dup_or_null(const char *s)
{
    return s ? iq_xstrdup(s) : NULL;
}

void iq_replace_str(char **dst, const char *src)
{
    free(*dst);
    *dst = iq_xstrdup(src);
}

/* ---- field rules ---- */

int iq_validate_name(const char *field, const char *name, char **error_r)
{
    char shown[80];
    if (!name || !*name) {
        *error_r = iq_xasprintf("%s: is required; give a name", field);
        return -1;
    }
    size_t len = strlen(name);
    if (len > NAME_MAX_BYTES) {
        *error_r = iq_xasprintf("%s: is %zu bytes long, at most %d are allowed; give a shorter one",
                                field, len, NAME_MAX_BYTES);
        return -1;
    }
    if (iq_rule_has_control(name)) {
        *error_r = iq_xasprintf("%s: contains a control character (tab, newline...); give "
                                "printable text",
                                field);
        return -1;
    }
    if (!iq_rule_utf8_valid(name)) {
        *error_r = iq_xasprintf("%s: is not valid UTF-8; give the name in UTF-8", field);
        return -1;
    }
    uint32_t invisible = iq_utf8_first_invisible(name);
    if (invisible) {
        *error_r = iq_xasprintf("%s: contains U+%04X, an invisible or text-direction control "
                                "character (bidi control, zero-width character); remove it, so "
                                "that the name looks like what it is",
                                field, (unsigned)invisible);
        return -1;
    }
    if (isspace((unsigned char)name[0]) || isspace((unsigned char)name[len - 1])) {
        *error_r = iq_xasprintf("%s: begins or ends with a space; remove it", field);
        return -1;
    }
    if (iq_rule_all_digits(name)) {
        iq_rule_show_value(name, shown, sizeof(shown));
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
        *error_r =
            iq_xasprintf("%s: is required; give the server's host name or IP address", field);
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
        iq_rule_show_value(host, shown, sizeof(shown));
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
        iq_rule_show_value(s ? s : "", shown, sizeof(shown));
        *error_r = iq_xasprintf("%s: '%s' is not a port number from 1 to 65535", field, shown);
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

iq_err iq_rule_bool(const char *field, const char *s, bool *out, char **error_r)
{
    if (!s)
        return IQ_OK;
    if (iq_parse_bool(s, out) < 0) {
        char shown[80];
        iq_rule_show_value(s, shown, sizeof(shown));
        return iq_rule_invalid(error_r, "%s: '%s' is not yes or no", field, shown);
    }
    return IQ_OK;
}

/* A form's name: the one given, checked, or the one it has (required when creating). */
iq_err iq_rule_name(char **name, const char *given, bool creating, char **error_r)
{
    if (given) {
        if (iq_validate_name("name", given, error_r) < 0)
            return IQ_ERR_INVALID;
        free(*name);
        *name = iq_utf8_nfc(given); /* stored composed (NFC); unique by NFKC + case */
    } else if (creating || !*name) {
        return iq_rule_invalid(error_r, "name: is required; give a name");
    }
    return IQ_OK;
}

/* Resolves a NAME|ID reference through refs (or numerically without refs). */
iq_err iq_rule_resolve(const iq_refs *refs, const char *kind, const char *ref, int64_t *id_r,
                       char **error_r)
{
    char shown[80];
    iq_rule_show_value(ref, shown, sizeof(shown));
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
            return iq_rule_invalid(
                error_r,
                "credential: no credential in the vault is named or numbered '%s'; check the "
                "name, or add the credential first",
                shown);
        return iq_rule_invalid(
            error_r,
            "connector: no Network Connector is named or numbered '%s'; check the name, or add "
            "the connector first",
            shown);
    }
    return IQ_OK;
}

iq_err iq_rule_name_free(const iq_refs *refs, const char *kind, const char *article,
                         const char *name, int64_t self_id, char **error_r)
{
    if (!refs || !refs->name_taken)
        return IQ_OK;
    int rc = refs->name_taken(refs->ctx, kind, name, self_id, error_r);
    if (rc < 0)
        return (iq_err)rc;
    if (rc > 0) {
        char shown[80];
        iq_rule_show_value(name, shown, sizeof(shown));
        return iq_rule_invalid(
            error_r,
            "name: %s %s named '%s' already exists (names are compared ignoring case and "
            "character width); "
            "choose another name",
            article, kind, shown);
    }
    return IQ_OK;
}

/* ---- flag combinations: one table for add and edit ---- */

typedef enum { NEEDS_IMAP, NEEDS_POP3, NEEDS_SECURE } combo_need;

static const struct {
    const char *field;
    combo_need need;
    const char *applies; /* "only applies to ..." */
    const char *fix;     /* "leave it out, or ..." */
} combo_rules[] = {
    {"secure-type", NEEDS_SECURE, "a secure connection", "set secure to yes"},
    {"ignore-certificate", NEEDS_SECURE,
     "a secure connection (there is no certificate without one)", "set secure to yes"},
    {"apop", NEEDS_POP3, "POP3 accounts", "set protocol to pop3"},
    {"folder", NEEDS_IMAP, "IMAP accounts (POP3 has one mailbox)", "set protocol to imap"},
};

static int combo_find(const char *field)
{
    for (size_t i = 0; i < IQ_ARRAY_LEN(combo_rules); i++)
        if (strcmp(combo_rules[i].field, field) == 0)
            return (int)i;
    return -1;
}

static bool combo_met(combo_need need, const iq_combo_state *st)
{
    switch (need) {
    case NEEDS_IMAP:
        return st->protocol == IQ_PROTO_IMAP;
    case NEEDS_POP3:
        return st->protocol == IQ_PROTO_POP3;
    case NEEDS_SECURE:
        return st->secure;
    }
    return true;
}

bool iq_rule_applies(const char *field, const iq_combo_state *st)
{
    int i = combo_find(field);
    return i < 0 || combo_met(combo_rules[i].need, st);
}

iq_err iq_rule_combinations(const iq_combo_state *st, const iq_combo_given *given, size_t n,
                            char **error_r)
{
    for (size_t k = 0; k < n; k++) {
        int i = combo_find(given[k].field);
        if (i < 0 || !given[k].value || !given[k].set || combo_met(combo_rules[i].need, st))
            continue;
        char shown[80];
        iq_rule_show_value(given[k].value, shown, sizeof(shown));
        return iq_rule_invalid(error_r, "%s: '%s' only applies to %s; leave it out, or %s",
                               combo_rules[i].field, shown, combo_rules[i].applies,
                               combo_rules[i].fix);
    }
    return IQ_OK;
}
