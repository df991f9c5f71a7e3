/* SPDX-License-Identifier: MIT */
/* The form's field rules shared by accounts, connectors and credentials: the protocol and
 * security vocabulary, names, hosts, ports, and how validation reaches other objects. */
#ifndef IQ_RULES_H
#define IQ_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef enum { IQ_PROTO_IMAP, IQ_PROTO_POP3 } iq_protocol;

/* "Usar conexão segura" + "Tipo de conexão segura". */
typedef enum {
    IQ_SEC_NONE,     /* secure = no: plain text, as the operator chose */
    IQ_SEC_STARTTLS, /* secure type "TLS": upgrade with STARTTLS / STLS */
    IQ_SEC_IMPLICIT, /* secure type "SSL": TLS from the first byte */
} iq_security;

typedef enum { IQ_CONNECTOR_SOCKS5, IQ_CONNECTOR_HTTP } iq_connector_type;

/* The SQL expression names are unique by (schemas/sql/0013_names.sql's indexes) and looked up
 * by: NFKC (compatibility: full-width "ＡＢＣ" is "ABC"), then lower case. Names are stored in
 * NFC. */
#define IQ_NAME_KEY(x) "lower(normalize(" x ", NFKC))"

/* Standard port for a protocol and security: 143/993, 110/995. */
int iq_account_default_port(iq_protocol protocol, iq_security security);
const char *iq_protocol_name(iq_protocol p);      /* "imap" / "pop3" */
const char *iq_security_type_name(iq_security s); /* NULL / "tls" / "ssl" */

/* Shared field rules; each error names field and says what to do. 0 or -1. */
/* Names of accounts, connectors and credentials: 1..200 bytes of UTF-8, no control
 * characters, no leading/trailing space, not only digits (NAME|ID lookups stay unambiguous). */
int iq_validate_name(const char *field, const char *name, char **error_r);
/* A DNS host name (letters, digits, hyphens; labels of 1..63), an IPv4 address or an IPv6
 * address (brackets allowed; they are not stored). */
int iq_validate_host(const char *field, const char *host, char **error_r);
/* Writes host without IPv6 brackets (malloc'd) after iq_validate_host succeeded. */
char *iq_host_normalize(const char *host);
/* "1".."65535" -> port. */
int iq_parse_port(const char *field, const char *s, int *port_r, char **error_r);
int iq_protocol_parse(const char *s, iq_protocol *p_r);
int iq_connector_type_parse(const char *s, iq_connector_type *t_r);
const char *iq_connector_type_name(iq_connector_type t); /* "socks5" / "http" */

/* Flag combinations that mean nothing, one table for add and edit alike: a field that applies
 * only to one protocol or only to a secure connection. */
typedef struct iq_combo_state {
    iq_protocol protocol; /* after the change */
    bool secure;          /* after the change */
} iq_combo_state;
/* One field as the form gave it: value is the text given (NULL: not given); set is whether the
 * value asks for something (apop yes, not apop no; any folder; any secure type). */
typedef struct iq_combo_given {
    const char *field; /* "apop", "folder", "ignore-certificate", "secure-type" */
    const char *value;
    bool set;
} iq_combo_given;
/* IQ_OK, or IQ_ERR_INVALID with "FIELD: only applies to ...; leave it out, or set OTHER to ..."
 * for the first given field the state makes meaningless. */
iq_err iq_rule_combinations(const iq_combo_state *st, const iq_combo_given *given, size_t n,
                            char **error_r);
/* Whether field means anything in st (a stored value that an edit made meaningless is put back
 * to its default by the caller). */
bool iq_rule_applies(const char *field, const iq_combo_state *st);

/* How validation reaches other objects; the PostgreSQL one comes from iq_refs_pg. Each
 * returns 1 found (*id_r set), 0 not found, or a negative iq_err with *error_r. */
typedef struct iq_refs {
    int (*credential)(void *ctx, const char *ref, int64_t *id_r, char **error_r);
    int (*connector)(void *ctx, const char *ref, int64_t *id_r, char **error_r);
    /* 1 when an object of kind ("account", "connector", "credential") other than self_id
     * already has this name, case-insensitively; 0 when free. */
    int (*name_taken)(void *ctx, const char *kind, const char *name, int64_t self_id,
                      char **error_r);
    void *ctx;
} iq_refs;

#endif
