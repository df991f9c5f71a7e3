/* SPDX-License-Identifier: MIT */
/* The account form's rules (lib/domain account + rules), as `inboxq account add/edit` and the
 * console's API (POST/PATCH /api/v1/accounts) apply them to operator input: the input is the
 * sixteen fields, one per line (a field whose line is the single byte 0x01 is not given).
 * Whatever it is, iq_account_apply never crashes; a refusal is IQ_ERR_INVALID with a one-line
 * message that starts with the name of one of the form's fields and a colon (the API answers
 * 422 with that field, the console shows the message under it); an acceptance leaves a usable
 * account (a name and host, a port from 1 to 65535, the interval within its bounds, a
 * credential, a connector exactly when one is used), and applying nothing to it again
 * changes nothing and passes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NFIELDS 16

/* The names the messages may start with: the form's fields as the CLI spells them. */
static const char *const field_names[] = {
    "name",       "host",       "port",           "protocol",
    "credential", "secure",     "secure-type",    "ignore-certificate",
    "keep-copy",  "auto-check", "active",         "use-connector",
    "connector",  "folder",     "check-interval", "apop",
};

static void check_message(const char *err)
{
    if (err == NULL || *err == '\0')
        iq_fuzz_fail("a refusal without a message");
    if (strchr(err, '\n') != NULL)
        iq_fuzz_fail("a message of more than one line: %s", err);
    const char *colon = strchr(err, ':');
    if (colon == NULL)
        iq_fuzz_fail("a message that names no field: %s", err);
    size_t n = (size_t)(colon - err);
    for (size_t i = 0; i < NFIELDS; i++)
        if (strlen(field_names[i]) == n && memcmp(err, field_names[i], n) == 0)
            return;
    iq_fuzz_fail("a message that starts with no field of the form: %s", err);
}

static void check_account(const iq_account *a)
{
    if (a->name == NULL || a->name[0] == '\0' || a->host == NULL || a->host[0] == '\0')
        iq_fuzz_fail("accepted without a name or host");
    if (a->port < 1 || a->port > 65535)
        iq_fuzz_fail("accepted with port %d", a->port);
    if (a->check_interval_s < IQ_CHECK_INTERVAL_MIN_S ||
        a->check_interval_s > IQ_CHECK_INTERVAL_MAX_S)
        iq_fuzz_fail("accepted with an interval of %lld s", (long long)a->check_interval_s);
    if (a->credential_id <= 0)
        iq_fuzz_fail("accepted without a credential");
    if (a->use_connector != (a->connector_id > 0))
        iq_fuzz_fail("use_connector %d with connector %lld", a->use_connector,
                     (long long)a->connector_id);
    if (a->protocol != IQ_PROTO_IMAP && a->protocol != IQ_PROTO_POP3)
        iq_fuzz_fail("accepted with protocol %d", (int)a->protocol);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    const char *fields[NFIELDS] = {0};
    char *p = text;
    for (size_t i = 0; i < NFIELDS && p != NULL; i++) {
        char *nl = strchr(p, '\n');
        if (nl != NULL)
            *nl = '\0';
        fields[i] = strcmp(p, "\x01") == 0 ? NULL : p;
        p = nl != NULL ? nl + 1 : NULL;
    }
    iq_account_input in = {
        .name = fields[0],
        .host = fields[1],
        .port = fields[2],
        .protocol = fields[3],
        .credential = fields[4],
        .secure = fields[5],
        .secure_type = fields[6],
        .ignore_certificate = fields[7],
        .keep_copy = fields[8],
        .auto_check = fields[9],
        .active = fields[10],
        .use_connector = fields[11],
        .connector = fields[12],
        .folder = fields[13],
        .check_interval = fields[14],
        .apop = fields[15],
    };
    iq_account a;
    iq_account_init(&a);
    char *err = NULL;
    /* without lookups (refs NULL) the credential and connector must be numeric codes */
    iq_err st = iq_account_apply(&a, &in, true, NULL, &err);
    if (st == IQ_OK) {
        if (err != NULL)
            iq_fuzz_fail("accepted with a message: %s", err);
        check_account(&a);
        json_t *before = iq_account_fields_json(&a);
        iq_account_input none = {0};
        st = iq_account_apply(&a, &none, false, NULL, &err);
        if (st != IQ_OK)
            iq_fuzz_fail("an accepted account refused with nothing changed: %s", err);
        json_t *after = iq_account_fields_json(&a);
        if (!json_equal(before, after))
            iq_fuzz_fail("applying nothing changed the account");
        json_decref(before);
        json_decref(after);
    } else if (st == IQ_ERR_INVALID) {
        check_message(err);
    } else {
        iq_fuzz_fail("iq_account_apply without lookups returned class %d: %s", (int)st,
                     err != NULL ? err : "");
    }
    free(err);
    iq_account_release(&a);
    free(text);
    return 0;
}
