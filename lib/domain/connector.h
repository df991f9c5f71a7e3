/* SPDX-License-Identifier: MIT */
/* Network Connectors (SOCKS5 and HTTP CONNECT proxies) as stored in PostgreSQL: the struct,
 * the form's input, rules and audited writes, like accounts. */
#ifndef IQ_CONNECTOR_H
#define IQ_CONNECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"
#include "pg.h"
#include "rules.h"

typedef struct iq_connector {
    int64_t id;
    char *name;
    iq_connector_type type;
    char *host;
    int port;
    int64_t credential_id; /* 0 when none */
    bool active;
    int version;
} iq_connector;

int iq_connector_load(PGconn *c, int64_t id, iq_connector *k_r, char **error_r);
void iq_connector_release(iq_connector *k);

/* Network Connectors: input, rules and writes, like accounts. */
typedef struct iq_connector_input {
    const char *name;
    const char *type; /* socks5 | http */
    const char *host;
    const char *port;
    const char *credential; /* NAME or ID; "" removes it */
    const char *active;
} iq_connector_input;

void iq_connector_init(iq_connector *k);
iq_err iq_connector_apply(iq_connector *k, const iq_connector_input *in, bool creating,
                          const iq_refs *refs, char **error_r);
json_t *iq_connector_fields_json(const iq_connector *k);
int iq_connector_find(PGconn *c, const char *ref, int64_t *id_r, char **error_r);
iq_err iq_connector_create(PGconn *c, const iq_connector_input *in, int64_t *id_r, char **error_r);
iq_err iq_connector_update(PGconn *c, int64_t id, const iq_connector_input *in, int expect_version,
                           bool *changed_r, char **error_r);
/* Refused (IQ_ERR_IN_USE, naming them) while an account uses the connector. */
iq_err iq_connector_delete(PGconn *c, int64_t id, char **error_r);
/* Every connector (or one when id > 0) as a JSON array of objects with the credential's
 * name, the number of accounts using it and the timestamps. */
json_t *iq_connector_list_json(PGconn *c, int64_t id, char **error_r);

#endif
