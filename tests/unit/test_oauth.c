/* SPDX-License-Identifier: MIT */
/* Unit tests of OAuth2 sign-in pieces that need no server: the SASL messages of XOAUTH2 and
 * OAUTHBEARER (RFC 7628 3.1), the decoding of a server's failure status, the RS256 JWT (its
 * signature verified with OpenSSL), and the provider presets and their errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "oauth.h"
#include "sasl.h"
#include "util.h"
#include "vault.h"

static char *unb64(const char *b, size_t *len_r)
{
    size_t n = strlen(b);
    unsigned char *out = malloc(n + 1);
    assert_non_null(out);
    int len = EVP_DecodeBlock(out, (const unsigned char *)b, (int)n);
    assert_true(len >= 0);
    while (n > 0 && b[n - 1] == '=') { /* the padding decodes to zero bytes */
        n--;
        len--;
    }
    out[len] = '\0';
    *len_r = (size_t)len;
    return (char *)out;
}

static void test_xoauth2_message(void **state)
{
    (void)state;
    char *b =
        iq_sasl_initial(IQ_AUTH_XOAUTH2, "alice@example.org", "imap.example.org", 993, "tok123");
    size_t n;
    char *m = unb64(b, &n);
    static const char want[] = "user=alice@example.org\001auth=Bearer tok123\001\001";
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(m, want, n);
    free(m);
    free(b);
}

static void test_oauthbearer_message(void **state)
{
    (void)state;
    char *b = iq_sasl_initial(IQ_AUTH_OAUTHBEARER, "bob", "mail.example.org", 143, "t.o.k");
    size_t n;
    char *m = unb64(b, &n);
    static const char want[] =
        "n,a=bob,\001host=mail.example.org\001port=143\001auth=Bearer t.o.k\001\001";
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(m, want, n);
    free(m);
    free(b);
}

static void test_status_text(void **state)
{
    (void)state;
    bool retry = false;
    /* {"status":"401","schemes":"bearer","scope":"https://mail.google.com/"} */
    const char *google = "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJodHRwczovL21h"
                         "aWwuZ29vZ2xlLmNvbS8ifQ==";
    char *t = iq_sasl_status_text(google, &retry);
    assert_true(retry);
    assert_non_null(strstr(t, "status 401"));
    assert_non_null(strstr(t, "scope https://mail.google.com/"));
    free(t);
    /* {"status":"403"}: not the token's fault, no retry */
    t = iq_sasl_status_text(" eyJzdGF0dXMiOiI0MDMifQ==\r\n", &retry);
    assert_false(retry);
    assert_string_equal(t, "status 403");
    free(t);
    t = iq_sasl_status_text("!!!", &retry);
    assert_true(retry);
    assert_string_equal(t, "an unreadable status");
    free(t);
    t = iq_sasl_status_text("", &retry);
    assert_string_equal(t, "no status");
    free(t);
}

static char *b64url_to_std(const char *s)
{
    size_t n = strlen(s);
    char *o = calloc(1, n + 4);
    assert_non_null(o);
    for (size_t i = 0; i < n; i++)
        o[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    while (n % 4)
        o[n++] = '=';
    return o;
}

static void test_jwt_rs256(void **state)
{
    (void)state;
    EVP_PKEY *pk = EVP_RSA_gen(2048);
    assert_non_null(pk);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL), 1);
    char *pem = NULL;
    long len = BIO_get_mem_data(b, &pem);
    char *key = calloc(1, (size_t)len + 1);
    assert_non_null(key);
    memcpy(key, pem, (size_t)len);
    BIO_free(b);
    json_t *hdr = json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
    json_t *cl = json_pack("{s:s, s:s}", "iss", "client", "aud", "https://idp/token");
    char *err = NULL;
    char *jwt = iq_oauth_jwt_rs256(key, hdr, cl, &err);
    assert_non_null(jwt);
    char *dot2 = strrchr(jwt, '.');
    assert_non_null(dot2);
    /* the signature verifies over "header.claims" with the public key */
    char *sig_std = b64url_to_std(dot2 + 1);
    size_t siglen;
    char *sig = unb64(sig_std, &siglen);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk), 1);
    assert_int_equal(EVP_DigestVerify(md, (unsigned char *)sig, siglen, (unsigned char *)jwt,
                                      (size_t)(dot2 - jwt)),
                     1);
    /* and not over anything else */
    jwt[0] = jwt[0] == 'e' ? 'f' : 'e';
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk), 1);
    assert_int_not_equal(EVP_DigestVerify(md, (unsigned char *)sig, siglen, (unsigned char *)jwt,
                                          (size_t)(dot2 - jwt)),
                         1);
    EVP_MD_CTX_free(md);
    /* a key that is no key: an error, no JWT */
    char *none = iq_oauth_jwt_rs256("not a key", hdr, cl, &err);
    assert_null(none);
    assert_non_null(strstr(err, "cannot sign"));
    free(err);
    free(sig);
    free(sig_std);
    free(jwt);
    free(key);
    json_decref(hdr);
    json_decref(cl);
    EVP_PKEY_free(pk);
}

static void test_presets(void **state)
{
    (void)state;
    iq_oauth_cred oc;
    char *err = NULL;
    iq_oauth_input in = {.provider = "microsoft365",
                         .tenant = "contoso.example",
                         .client_id = "app",
                         .client_secret = "s"};
    assert_int_equal(iq_oauth_resolve(&in, "box@contoso.example", &oc, &err), IQ_OK);
    assert_string_equal(oc.token_url,
                        "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token");
    assert_string_equal(oc.scope, "https://outlook.office365.com/.default");
    assert_int_equal(oc.grant, IQ_GRANT_CLIENT_CREDENTIALS);
    iq_oauth_cred_release(&oc);
    /* delegated Microsoft 365: the user scopes and offline_access */
    in = (iq_oauth_input){.provider = "microsoft365", .tenant = "t1", .client_id = "app"};
    assert_int_equal(iq_oauth_resolve(&in, "u", &oc, &err), IQ_OK);
    assert_int_equal(oc.grant, IQ_GRANT_REFRESH_TOKEN);
    assert_non_null(strstr(oc.scope, "IMAP.AccessAsUser.All"));
    assert_non_null(strstr(oc.scope, "offline_access"));
    iq_oauth_cred_release(&oc);
    /* Google with a client secret: delegated (refresh_token), never client_credentials */
    in = (iq_oauth_input){.provider = "google", .client_id = "app", .client_secret = "s"};
    assert_int_equal(iq_oauth_resolve(&in, "u@example.com", &oc, &err), IQ_OK);
    assert_int_equal(oc.grant, IQ_GRANT_REFRESH_TOKEN);
    assert_string_equal(oc.token_url, "https://oauth2.googleapis.com/token");
    assert_string_equal(oc.device_url, "https://oauth2.googleapis.com/device/code");
    iq_oauth_cred_release(&oc);
    /* errors name the flag */
    static const struct {
        iq_oauth_input in;
        const char *flag;
    } bad[] = {
        {{.provider = "aol", .client_id = "x"}, "--provider:"},
        {{.provider = "microsoft365", .client_id = "x"}, "--tenant:"},
        {{.provider = "generic", .client_id = "x"}, "--token-url:"},
        {{.provider = "generic", .client_id = "x", .token_url = "ftp://x"}, "--token-url:"},
        {{.provider = "google", .tenant = "t", .client_id = "x"}, "--tenant:"},
        {{.provider = "outlook", .client_id = "x", .client_secret = "s"}, "--grant:"},
        {{.provider = "google", .client_id = "x", .grant = "client_credentials"}, "--grant:"},
        {{.provider = "generic", .token_url = "https://x/t", .client_secret = "s"}, "--client-id:"},
        {{.provider = "generic",
          .token_url = "https://x/t",
          .client_id = "x",
          .grant = "jwt_bearer"},
         "--service-account-file:"},
        {{.provider = "generic", .token_url = "https://x/t", .client_id = "x", .scope = "a\nb"},
         "--scope:"},
    };
    for (size_t i = 0; i < IQ_ARRAY_LEN(bad); i++) {
        err = NULL;
        assert_int_equal(iq_oauth_resolve(&bad[i].in, "u", &oc, &err), IQ_ERR_INVALID);
        if (strncmp(err, bad[i].flag, strlen(bad[i].flag)) != 0)
            fail_msg("case %zu: '%s' does not start with '%s'", i, err, bad[i].flag);
        free(err);
    }
    err = NULL;
    in = (iq_oauth_input){.provider = "generic", .token_url = "https://x/t", .client_id = "x"};
    assert_int_equal(iq_oauth_resolve(&in, "", &oc, &err), IQ_ERR_INVALID);
    assert_non_null(strstr(err, "--username:"));
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xoauth2_message), cmocka_unit_test(test_oauthbearer_message),
        cmocka_unit_test(test_status_text),     cmocka_unit_test(test_jwt_rs256),
        cmocka_unit_test(test_presets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
