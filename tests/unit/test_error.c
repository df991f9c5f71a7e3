/* SPDX-License-Identifier: MIT */
/* The error classes' table (names as stored and sent, transient or not) and the back-off
 * policy both the worker and the scheduler apply. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "error.h"
#include "util.h"

/* The names are a contract: check_runs.error_class, JSON output, metrics labels, dead letters. */
static void test_names(void **state)
{
    (void)state;
    static const struct {
        iq_err e;
        const char *name;
        bool transient;
    } want[] = {
        {IQ_OK, "ok", false},
        {IQ_ERR_DNS, "dns", true},
        {IQ_ERR_CONNECT, "connect", true},
        {IQ_ERR_PROXY, "proxy", true},
        {IQ_ERR_TLS_HANDSHAKE, "tls_handshake", true},
        {IQ_ERR_TLS_VERIFY, "tls_verify", false},
        {IQ_ERR_STARTTLS_POLICY, "starttls_policy", false},
        {IQ_ERR_AUTH, "auth", false},
        {IQ_ERR_PROTOCOL, "protocol", false},
        {IQ_ERR_TIMEOUT, "timeout", true},
        {IQ_ERR_SIZE_LIMIT, "size_limit", false},
        {IQ_ERR_STORAGE, "storage", true},
        {IQ_ERR_CONFIG, "config", false},
        {IQ_ERR_NOT_FOUND, "not_found", false},
        {IQ_ERR_INVALID_JSON, "invalid_json", false},
        {IQ_ERR_UNKNOWN_SCHEMA, "unknown_schema", false},
        {IQ_ERR_INVALID_JOB, "invalid_job", false},
        {IQ_ERR_ACCOUNT_DELETED, "account_deleted", false},
        {IQ_ERR_REPORT_DELETED, "report_deleted", false},
        {IQ_ERR_OAUTH, "oauth", false},
    };
    for (size_t i = 0; i < IQ_ARRAY_LEN(want); i++) {
        assert_string_equal(iq_err_name(want[i].e), want[i].name);
        assert_int_equal(iq_err_from_name(want[i].name), want[i].e);
        if (iq_err_is_transient(want[i].e) != want[i].transient)
            fail_msg("%s: transient should be %d", want[i].name, want[i].transient);
    }
    /* every class has a distinct name, and a name read back is the class */
    for (int e = IQ_OK; e >= IQ_ERR_MIN; e--) {
        const char *n = iq_err_name((iq_err)e);
        assert_non_null(n);
        assert_int_equal(iq_err_from_name(n), e);
    }
    /* a class a newer version stored reads as a failure, not as success */
    assert_int_equal(iq_err_from_name("some_future_class"), IQ_ERR_PROTOCOL);
    assert_int_equal(iq_err_from_name(NULL), IQ_OK);
    assert_string_equal(iq_err_name((iq_err)-1000), "protocol");
    assert_int_equal(iq_err_backoff(IQ_ERR_AUTH), IQ_BACKOFF_OPERATOR);
    /* a refused OAuth2 client or grant needs an operator as a refused password does */
    assert_int_equal(iq_err_backoff(IQ_ERR_OAUTH), IQ_BACKOFF_OPERATOR);
    assert_int_equal(iq_err_backoff(IQ_ERR_TIMEOUT), IQ_BACKOFF_RETRY);
    assert_int_equal(iq_err_backoff(IQ_ERR_TLS_VERIFY), IQ_BACKOFF_INTERVAL);
}

static const iq_backoff_policy pol = {
    .retry_base_ms = 5000, .retry_max = 5, .backoff_max_ms = 3600000, .auth_backoff_ms = 21600000};

static void test_backoff(void **state)
{
    (void)state;
    /* no failure: the interval */
    assert_int_equal(iq_backoff_ms(&pol, IQ_OK, 300, 0), 300000);
    assert_int_equal(iq_backoff_ms(&pol, IQ_ERR_AUTH, 300, 0), 300000);
    /* doubling per failure, up to the family's cap */
    assert_int_equal(iq_backoff_ms(&pol, IQ_ERR_PROTOCOL, 300, 1), 600000);
    assert_int_equal(iq_backoff_ms(&pol, IQ_ERR_PROTOCOL, 300, 3), 2400000);
    assert_int_equal(iq_backoff_ms(&pol, IQ_ERR_PROTOCOL, 300, 4), 3600000);
    assert_int_equal(iq_backoff_ms(&pol, IQ_ERR_PROTOCOL, 300, 60), 3600000);
    assert_int_equal(iq_backoff_ms(&pol, IQ_ERR_AUTH, 300, 4), 4800000);
    assert_int_equal(iq_backoff_ms(&pol, IQ_ERR_AUTH, 300, 60), 21600000);
    /* never below the interval, even when the interval exceeds the cap */
    assert_int_equal(iq_backoff_ms(&pol, IQ_ERR_PROTOCOL, 86400, 3), 86400000);
    /* quick retries only for transient classes, and only retry_max of them */
    assert_int_equal(iq_backoff_retry_ms(&pol, IQ_ERR_TIMEOUT, 300, 0), 5000);
    assert_int_equal(iq_backoff_retry_ms(&pol, IQ_ERR_TIMEOUT, 300, 2), 20000);
    assert_int_equal(iq_backoff_retry_ms(&pol, IQ_ERR_CONNECT, 30, 4), 30000); /* <= interval */
    assert_int_equal(iq_backoff_retry_ms(&pol, IQ_ERR_TIMEOUT, 300, 5), -1);
    assert_int_equal(iq_backoff_retry_ms(&pol, IQ_ERR_AUTH, 300, 0), -1);
    assert_int_equal(iq_backoff_retry_ms(&pol, IQ_ERR_TLS_VERIFY, 300, 0), -1);
}

/* The policy is the settings', not constants of its own. */
static void test_policy_from_settings(void **state)
{
    (void)state;
    setenv("INBOXQ_RETRY_MAX", "2", 1);
    setenv("INBOXQ_SCHEDULER_AUTH_BACKOFF_MAX", "2h", 1);
    iq_config *cfg = iq_config_new();
    char *err = NULL;
    assert_int_equal(iq_config_load_env(cfg, &err), 0);
    iq_backoff_policy p;
    iq_backoff_policy_init(&p, cfg);
    assert_int_equal(p.retry_max, 2);
    assert_int_equal(p.auth_backoff_ms, 7200000);
    assert_int_equal(p.retry_base_ms, IQ_BACKOFF_RETRY_BASE_MS);
    assert_int_equal(iq_backoff_retry_ms(&p, IQ_ERR_DNS, 300, 2), -1);
    iq_config_free(&cfg);
    unsetenv("INBOXQ_RETRY_MAX");
    unsetenv("INBOXQ_SCHEDULER_AUTH_BACKOFF_MAX");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_policy_from_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
