/* SPDX-License-Identifier: MIT */
/* Integration: our TLS module against Dovecot's IMAPS listeners: verifies against the test CA,
 * and refuses self-signed, expired, wrong-name and unknown-CA certificates (tls_verify). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "net.h"
#include "tls.h"
#include "util.h"

static SSL_CTX *ctx;

static int handshake(const char *port_var, const char *host, bool verify, iq_tls_info *info,
                     iq_err *cls)
{
    const char *port = getenv(port_var);
    assert_non_null(port);
    int fd = -1;
    char *err = NULL;
    int64_t deadline = iq_now_mono_ms() + 10000;
    int64_t p = 0;
    assert_int_equal(iq_parse_i64(port, 1, 65535, &p), 0);
    assert_int_equal(iq_net_connect("127.0.0.1", (int)p, 2000, 2000, deadline, &fd, cls, &err), 0);
    SSL *ssl = NULL;
    int rc = iq_tls_handshake(ctx, fd, host, verify, deadline, 0, &ssl, info, cls, &err);
    free(err);
    if (ssl)
        SSL_free(ssl);
    close(fd);
    return rc;
}

static void test_good_chain(void **state)
{
    (void)state;
    iq_tls_info info;
    iq_err cls = IQ_OK;
    assert_int_equal(handshake("INBOXQ_TEST_IMAPS_PORT", "127.0.0.1", true, &info, &cls), 0);
    assert_true(info.verified);
    assert_int_equal(strlen(info.fingerprint), 95);
    assert_true(strncmp(info.version, "TLSv1.", 6) == 0);
    assert_int_equal(handshake("INBOXQ_TEST_IMAPS_PORT", "localhost", true, &info, &cls), 0);
}

static void test_bad_certificates(void **state)
{
    (void)state;
    static const char *const vars[] = {
        "INBOXQ_TEST_IMAPS_SELFSIGNED_PORT", "INBOXQ_TEST_IMAPS_EXPIRED_PORT",
        "INBOXQ_TEST_IMAPS_WRONGNAME_PORT",  "INBOXQ_TEST_IMAPS_UNKNOWNCA_PORT",
        "INBOXQ_TEST_POP3S_SELFSIGNED_PORT", "INBOXQ_TEST_POP3S_EXPIRED_PORT",
        "INBOXQ_TEST_POP3S_WRONGNAME_PORT",  "INBOXQ_TEST_POP3S_UNKNOWNCA_PORT"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        iq_tls_info info;
        iq_err cls = IQ_OK;
        assert_int_equal(handshake(vars[i], "127.0.0.1", true, &info, &cls), -1);
        assert_string_equal(iq_err_name(cls), "tls_verify");
        /* with "ignore certificate" TLS still happens and the certificate is described */
        assert_int_equal(handshake(vars[i], "127.0.0.1", false, &info, &cls), 0);
        assert_false(info.verified);
        assert_int_equal(strlen(info.fingerprint), 95);
    }
    /* the right certificate under the wrong name */
    iq_tls_info info;
    iq_err cls = IQ_OK;
    assert_int_equal(handshake("INBOXQ_TEST_IMAPS_PORT", "wrong.example", true, &info, &cls), -1);
    assert_string_equal(iq_err_name(cls), "tls_verify");
}

int main(void)
{
    char *err = NULL;
    ctx = iq_tls_ctx_new(getenv("INBOXQ_CA_FILE"), &err);
    if (!ctx) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_chain),
        cmocka_unit_test(test_bad_certificates),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    iq_tls_ctx_free(&ctx);
    return rc;
}
