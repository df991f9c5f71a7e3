/* SPDX-License-Identifier: MIT */
/* inboxq account test ID: a step-by-step connection test (DNS, TCP, connector, TLS, capabilities,
 * login, message count and size) that stores nothing. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "checkenv.h"
#include "cmd_entity.h"
#include "commands.h"
#include "exitcode.h"
#include "pg.h"
#include "check.h"
#include "util.h"

typedef struct step {
    const char *name;
    iq_err fails_on[4]; /* error classes that mean this step failed */
} step;

static const step steps[] = {
    {"resolve host", {IQ_ERR_DNS}},
    {"connect", {IQ_ERR_CONNECT}},
    {"network connector", {IQ_ERR_PROXY}},
    {"tls", {IQ_ERR_TLS_HANDSHAKE, IQ_ERR_TLS_VERIFY, IQ_ERR_STARTTLS_POLICY}},
    {"capabilities", {IQ_ERR_PROTOCOL}},
    {"login", {IQ_ERR_AUTH, IQ_ERR_CONFIG, IQ_ERR_OAUTH}},
    {"mailbox", {IQ_ERR_SIZE_LIMIT, IQ_ERR_STORAGE}},
};

static int failing_step(iq_err cls)
{
    if (cls == IQ_OK)
        return -1;
    for (size_t i = 0; i < IQ_ARRAY_LEN(steps); i++)
        for (size_t j = 0; j < 4 && steps[i].fails_on[j]; j++)
            if (steps[i].fails_on[j] == cls)
                return (int)i;
    return 1; /* timeout and the rest: the connection */
}

static const char *step_state(int i, int failed, const iq_account *a)
{
    if ((i == 2 && !a->use_connector) || (i == 3 && a->security == IQ_SEC_NONE))
        return "skipped";
    if (failed < 0 || i < failed)
        return "ok";
    return i == failed ? "FAILED" : "not reached";
}

int iq_cmd_account_test(iq_app *app, int argc, char **argv)
{
    static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool json = false;
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (opt == 'f' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "text") == 0)) {
            json = strcmp(optarg, "json") == 0;
        } else if (opt == 'h') {
            printf("usage: inboxq account test ID|NAME [--format text|json]\n\n"
                   "Connects to the account's server step by step (DNS, TCP, connector, TLS,\n"
                   "capabilities, login, message count) and stores nothing. Exit 0 only when\n"
                   "every step passed.\n");
            return 0;
        } else {
            iq_app_error(app, "account test: bad option; see 'inboxq account test --help'");
            return EX_USAGE;
        }
    }
    int64_t id = 0;
    if (optind + 1 != argc) {
        iq_app_error(app, "account test: give one account code or name");
        return EX_USAGE;
    }
    char *err = NULL;
    iq_check_setup cs;
    if (iq_check_setup_init(&cs, app->cfg, "cli", &err) < 0) {
        iq_app_error(app, "%s", err);
        free(err);
        return EX_CONFIG;
    }
    PGconn *c = NULL;
    int pg_rc = iq_app_connect_pg(app, &c);
    if (pg_rc != 0) {
        iq_check_setup_release(&cs);
        return pg_rc;
    }
    int find_rc = iq_cli_find_account(app, c, "account test", argv[optind], &id);
    if (find_rc != 0) {
        iq_pg_close(&c);
        iq_check_setup_release(&cs);
        return find_rc;
    }
    iq_account a;
    int found = iq_account_load(c, id, &a, &err);
    if (found <= 0) {
        if (found < 0)
            iq_app_error(app, "account test: %s", err);
        else
            iq_cli_not_found(app, "account test", "account", argv[optind], "account list");
        free(err);
        iq_pg_close(&c);
        iq_check_setup_release(&cs);
        return found < 0 ? EX_UNAVAILABLE : EX_NOINPUT;
    }
    iq_probe s;
    iq_check_result res;
    memset(&res, 0, sizeof(res));
    int64_t t0 = iq_now_mono_ms();
    int rc = iq_check_probe(c, &cs.env, id, &res, &s);
    int64_t ms = iq_now_mono_ms() - t0;
    int failed = rc == 0 ? -1 : failing_step(res.error_class);
    if (json) {
        json_t *j = json_object();
        json_object_set_new(j, "account_id", json_integer(id));
        json_object_set_new(j, "host", json_string(a.host));
        json_object_set_new(j, "port", json_integer(a.port));
        json_object_set_new(j, "ok", json_boolean(rc == 0));
        json_t *arr = json_array();
        for (size_t i = 0; i < IQ_ARRAY_LEN(steps); i++)
            json_array_append_new(arr, json_pack("{s:s, s:s}", "step", steps[i].name, "state",
                                                 step_state((int)i, failed, &a)));
        json_object_set_new(j, "steps", arr);
        json_object_set_new(j, "error_class",
                            res.error_class ? json_string(iq_err_name(res.error_class))
                                            : json_null());
        json_object_set_new(j, "error", res.error ? json_string(res.error) : json_null());
        json_object_set_new(j, "capabilities",
                            s.capabilities ? json_string(s.capabilities) : json_null());
        json_object_set_new(j, "tls",
                            res.tls_used || res.tls.fingerprint[0]
                                ? json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "version",
                                            res.tls.version, "cipher", res.tls.cipher, "subject",
                                            res.tls.subject, "issuer", res.tls.issuer, "not_after",
                                            res.tls.not_after, "fingerprint_sha256",
                                            res.tls.fingerprint, "verified", res.tls.verified)
                                : json_null());
        json_object_set_new(j, "oauth2",
                            s.oauth_endpoint ? json_pack("{s:s, s:s, s:b, s:s?, s:s?}", "endpoint",
                                                         s.oauth_endpoint, "grant", s.oauth_grant,
                                                         "cached", s.oauth_cached, "expires_at",
                                                         s.oauth_expires_at, "scope", s.oauth_scope)
                                             : json_null());
        json_object_set_new(j, "messages", rc == 0 ? json_integer(s.messages) : json_null());
        json_object_set_new(j, "bytes", rc == 0 ? json_integer(s.bytes) : json_null());
        json_object_set_new(j, "duration_ms", json_integer(ms));
        char *out = json_dumps(j, JSON_INDENT(2));
        printf("%s\n", out);
        free(out);
        json_decref(j);
    } else {
        printf("testing account %lld '%s': %s %s:%d\n", (long long)id, a.name,
               iq_protocol_name(a.protocol), a.host, a.port);
        for (size_t i = 0; i < IQ_ARRAY_LEN(steps); i++)
            printf("  %-18s %s\n", steps[i].name, step_state((int)i, failed, &a));
        if (res.tls.fingerprint[0]) {
            printf("  certificate subject %s\n", res.tls.subject);
            printf("              issuer  %s\n", res.tls.issuer);
            printf("              expires %s\n", res.tls.not_after);
            printf("              sha256  %s\n", res.tls.fingerprint);
            printf("              %s %s, %s\n", res.tls.version, res.tls.cipher,
                   res.tls.verified ? "verified" : "NOT verified");
        }
        if (s.oauth_endpoint) {
            printf("  oauth2 token: %s grant at %s\n", s.oauth_grant, s.oauth_endpoint);
            if (s.oauth_expires_at)
                printf("                %s, expires %s (the token is never shown)\n",
                       s.oauth_cached ? "cached" : "obtained now", s.oauth_expires_at);
            if (s.oauth_scope)
                printf("                scopes granted: %s\n", s.oauth_scope);
        }
        if (s.capabilities)
            printf("  capabilities: %s\n", s.capabilities);
        if (rc == 0)
            printf("  mailbox: %lld messages, %lld bytes\n", (long long)s.messages,
                   (long long)s.bytes);
        else
            printf("  error (%s): %s\n", iq_err_name(res.error_class), res.error ? res.error : "");
        printf("  took %lld ms; nothing was stored\n", (long long)ms);
    }
    iq_probe_release(&s);
    iq_check_result_release(&res);
    iq_account_release(&a);
    iq_pg_close(&c);
    iq_check_setup_release(&cs);
    return rc == 0 ? 0 : IQ_EXIT_CHECK_FAILED;
}

json_t *iq_account_test_steps_json(const iq_account *a, iq_err error_class)
{
    int failed = error_class == IQ_OK ? -1 : failing_step(error_class);
    json_t *arr = json_array();
    if (arr == NULL)
        iq_oom();
    for (size_t i = 0; i < IQ_ARRAY_LEN(steps); i++)
        json_array_append_new(arr, json_pack("{s:s, s:s}", "step", steps[i].name, "state",
                                             step_state((int)i, failed, a)));
    return arr;
}
