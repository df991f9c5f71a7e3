/* SPDX-License-Identifier: MIT */
/* Unit tests of the account form's rules (spec.md section 2, issue 4) and the connector rules:
 * every rule fails with a message that starts with the field's name. No database: references
 * and names are looked up in a small fake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "account.h"
#include "util.h"

/* The cases below start from BASE and override single fields on purpose. */
#pragma GCC diagnostic ignored "-Woverride-init"

/* ---- the fake lookups: credentials alice=1, bob=2; connector proxy=7; account "Existing"
 * (id 99) and connector "Taken" (id 98) hold their names. ---- */

static int fake_find(const char *ref, const char *const *names, const int64_t *ids, size_t n,
                     int64_t *id_r)
{
    int64_t v;
    for (size_t i = 0; i < n; i++) {
        if (iq_str_eq_nocase(ref, names[i]) ||
            (iq_parse_i64(ref, 1, INT64_MAX, &v) == 0 && v == ids[i])) {
            *id_r = ids[i];
            return 1;
        }
    }
    return 0;
}

static int fake_credential(void *ctx, const char *ref, int64_t *id_r, char **error_r)
{
    (void)ctx;
    (void)error_r;
    static const char *const names[] = {"alice", "bob"};
    static const int64_t ids[] = {1, 2};
    return fake_find(ref, names, ids, 2, id_r);
}

static int fake_connector(void *ctx, const char *ref, int64_t *id_r, char **error_r)
{
    (void)ctx;
    (void)error_r;
    static const char *const names[] = {"proxy"};
    static const int64_t ids[] = {7};
    return fake_find(ref, names, ids, 1, id_r);
}

static int fake_name_taken(void *ctx, const char *kind, const char *name, int64_t self_id,
                           char **error_r)
{
    (void)ctx;
    (void)error_r;
    if (strcmp(kind, "account") == 0)
        return iq_str_eq_nocase(name, "Existing") && self_id != 99;
    if (strcmp(kind, "connector") == 0)
        return iq_str_eq_nocase(name, "Taken") && self_id != 98;
    return 0;
}

static const iq_refs refs = {fake_credential, fake_connector, fake_name_taken, NULL};

#define BASE .name = "Acc", .host = "imap.example.com", .protocol = "imap", .credential = "alice"

static iq_err add(const iq_account_input *in, iq_account *a, char **err)
{
    iq_account_init(a);
    *err = NULL;
    return iq_account_apply(a, in, true, &refs, err);
}

/* The input must be refused as invalid data with a message starting "field:". */
static void expect_invalid_msg(const iq_account_input *in, const char *field, const char *also)
{
    iq_account a;
    char *err = NULL;
    iq_err st = add(in, &a, &err);
    if (st != IQ_ERR_INVALID)
        fail_msg("expected a refusal naming '%s', got status %d", field, (int)st);
    assert_non_null(err);
    size_t n = strlen(field);
    if (strncmp(err, field, n) != 0 || err[n] != ':')
        fail_msg("message does not start with '%s:': %s", field, err);
    if (also && !strstr(err, also))
        fail_msg("message lacks '%s': %s", also, err);
    assert_null(strchr(err, '\n'));
    free(err);
    iq_account_release(&a);
}

static void expect_invalid(const iq_account_input *in, const char *field)
{
    expect_invalid_msg(in, field, NULL);
}

static void expect_ok(const iq_account_input *in, iq_account *a)
{
    char *err = NULL;
    iq_err st = add(in, a, &err);
    if (st != IQ_OK)
        fail_msg("expected success, got %d: %s", (int)st, err ? err : "");
}

static void test_defaults(void **state)
{
    (void)state;
    iq_account a;
    expect_ok(&(iq_account_input){BASE}, &a);
    assert_string_equal(a.name, "Acc");
    assert_string_equal(a.host, "imap.example.com");
    assert_int_equal(a.protocol, IQ_PROTO_IMAP);
    assert_int_equal(a.security, IQ_SEC_IMPLICIT); /* secure yes, type ssl by default */
    assert_int_equal(a.port, 993);
    assert_true(a.port_is_default);
    assert_true(a.keep_copy);
    assert_true(a.auto_check);
    assert_true(a.active);
    assert_false(a.ignore_certificate);
    assert_false(a.use_connector);
    assert_int_equal(a.connector_id, 0);
    assert_int_equal(a.credential_id, 1);
    assert_string_equal(a.folder, "INBOX");
    assert_false(a.apop);
    assert_int_equal(a.check_interval_s, 300);
    iq_account_release(&a);
}

static void test_every_field(void **state)
{
    (void)state;
    iq_account a;
    expect_ok(&(iq_account_input){.name = "Suporte POP",
                                  .host = "pop.example.org",
                                  .port = "1110",
                                  .protocol = "POP3",
                                  .credential = "2",
                                  .secure = "yes",
                                  .secure_type = "TLS",
                                  .ignore_certificate = "yes",
                                  .keep_copy = "no",
                                  .auto_check = "no",
                                  .active = "no",
                                  .use_connector = "yes",
                                  .connector = "proxy",
                                  .check_interval = "1h",
                                  .apop = "yes"},
              &a);
    assert_string_equal(a.name, "Suporte POP");
    assert_string_equal(a.host, "pop.example.org");
    assert_int_equal(a.port, 1110);
    assert_false(a.port_is_default);
    assert_int_equal(a.protocol, IQ_PROTO_POP3);
    assert_int_equal(a.credential_id, 2);
    assert_int_equal(a.security, IQ_SEC_STARTTLS);
    assert_true(a.ignore_certificate);
    assert_false(a.keep_copy);
    assert_false(a.auto_check);
    assert_false(a.active);
    assert_true(a.use_connector);
    assert_int_equal(a.connector_id, 7);
    assert_string_equal(a.folder, "INBOX");
    assert_int_equal(a.check_interval_s, 3600);
    assert_true(a.apop);
    json_t *j = iq_account_fields_json(&a);
    assert_string_equal(json_string_value(json_object_get(j, "secure_type")), "tls");
    assert_int_equal(json_integer_value(json_object_get(j, "connector_id")), 7);
    assert_true(json_is_false(json_object_get(j, "keep_copy")));
    json_decref(j);
    iq_account_release(&a);
}

static void test_default_ports(void **state)
{
    (void)state;
    assert_int_equal(iq_account_default_port(IQ_PROTO_IMAP, IQ_SEC_NONE), 143);
    assert_int_equal(iq_account_default_port(IQ_PROTO_IMAP, IQ_SEC_STARTTLS), 143);
    assert_int_equal(iq_account_default_port(IQ_PROTO_IMAP, IQ_SEC_IMPLICIT), 993);
    assert_int_equal(iq_account_default_port(IQ_PROTO_POP3, IQ_SEC_NONE), 110);
    assert_int_equal(iq_account_default_port(IQ_PROTO_POP3, IQ_SEC_STARTTLS), 110);
    assert_int_equal(iq_account_default_port(IQ_PROTO_POP3, IQ_SEC_IMPLICIT), 995);
    static const struct {
        const char *protocol, *secure, *type, *port;
        int want;
        bool is_default;
    } cases[] = {
        {"imap", NULL, NULL, NULL, 993, true},       {"imap", "yes", "ssl", NULL, 993, true},
        {"imap", "yes", "tls", NULL, 143, true},     {"imap", "no", NULL, NULL, 143, true},
        {"pop3", NULL, NULL, NULL, 995, true},       {"pop3", "yes", "ssl", NULL, 995, true},
        {"pop3", "yes", "tls", NULL, 110, true},     {"pop3", "no", NULL, NULL, 110, true},
        {"imap", NULL, NULL, "", 993, true},         {"pop3", "no", NULL, "", 110, true},
        {"imap", "no", NULL, "2143", 2143, false},   {"pop3", NULL, NULL, "1", 1, false},
        {"imap", NULL, NULL, "65535", 65535, false},
    };
    for (size_t i = 0; i < IQ_ARRAY_LEN(cases); i++) {
        iq_account a;
        expect_ok(&(iq_account_input){.name = "A",
                                      .host = "h",
                                      .credential = "alice",
                                      .protocol = cases[i].protocol,
                                      .secure = cases[i].secure,
                                      .secure_type = cases[i].type,
                                      .port = cases[i].port},
                  &a);
        assert_int_equal(a.port, cases[i].want);
        assert_int_equal(a.port_is_default, cases[i].is_default);
        iq_account_release(&a);
    }
}

static void test_required(void **state)
{
    (void)state;
    expect_invalid_msg(&(iq_account_input){.host = "h", .protocol = "imap", .credential = "alice"},
                       "name", "give a name");
    expect_invalid_msg(&(iq_account_input){.name = "A", .protocol = "imap", .credential = "alice"},
                       "host", "host name or IP address");
    expect_invalid_msg(&(iq_account_input){.name = "A", .host = "h", .credential = "alice"},
                       "protocol", "choose imap or pop3");
    expect_invalid_msg(&(iq_account_input){.name = "A", .host = "h", .protocol = "pop3"},
                       "credential", "credential's name or code");
    expect_invalid(&(iq_account_input){BASE, .name = ""}, "name");
    expect_invalid(&(iq_account_input){BASE, .host = ""}, "host");
    expect_invalid(&(iq_account_input){BASE, .credential = ""}, "credential");
}

static void test_name_rules(void **state)
{
    (void)state;
    char longname[202];
    memset(longname, 'x', 201);
    longname[201] = '\0';
    expect_invalid(&(iq_account_input){BASE, .name = longname}, "name");
    longname[200] = '\0';
    iq_account a;
    expect_ok(&(iq_account_input){BASE, .name = longname}, &a);
    iq_account_release(&a);
    expect_invalid_msg(&(iq_account_input){BASE, .name = "12345"}, "name", "digits");
    expect_invalid(&(iq_account_input){BASE, .name = "a\tb"}, "name");
    expect_invalid(&(iq_account_input){BASE, .name = "a\nb"}, "name");
    expect_invalid(&(iq_account_input){BASE, .name = " lead"}, "name");
    expect_invalid(&(iq_account_input){BASE, .name = "trail "}, "name");
    expect_invalid(&(iq_account_input){BASE, .name = "bad \xff utf8"}, "name");
    expect_invalid(&(iq_account_input){BASE, .name = "overlong \xc0\xaf"}, "name");
    /* unique, case-insensitively */
    expect_invalid_msg(&(iq_account_input){BASE, .name = "Existing"}, "name", "already exists");
    expect_invalid_msg(&(iq_account_input){BASE, .name = "EXISTING"}, "name", "already exists");
    /* accented names are fine */
    expect_ok(&(iq_account_input){BASE, .name = "Conta Suporte São Paulo 2"}, &a);
    iq_account_release(&a);
    /* invisible and direction-changing characters are refused, naming the code point
     * (hardening item 19) */
    expect_invalid_msg(&(iq_account_input){BASE, .name = "RTL \xe2\x80\xae"
                                                         "evil"},
                       "name", "U+202E");
    expect_invalid_msg(&(iq_account_input){BASE, .name = "Zero\xe2\x80\x8dWidth"}, "name",
                       "U+200D");
    expect_invalid_msg(&(iq_account_input){BASE, .name = "iso \xe2\x81\xa6x\xe2\x81\xa9"}, "name",
                       "U+2066");
    expect_invalid_msg(&(iq_account_input){BASE, .name = "bom\xef\xbb\xbf"}, "name", "U+FEFF");
    expect_invalid_msg(&(iq_account_input){BASE, .name = "zw\xe2\x80\x8bsp"}, "name", "U+200B");
    expect_invalid_msg(&(iq_account_input){BASE, .name = "line\xe2\x80\xa8sep"}, "name", "U+2028");
    /* stored composed: "a" + COMBINING TILDE becomes U+00E3 */
    expect_ok(&(iq_account_input){BASE, .name = "Sa\xcc\x83o Paulo"}, &a);
    assert_string_equal(a.name, "S\xc3\xa3o Paulo");
    iq_account_release(&a);
    /* CJK, emoji and right-to-left letters are names like any other */
    expect_ok(&(iq_account_input){BASE, .name = "東京 😀 \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d"}, &a);
    iq_account_release(&a);
}

static void test_host_rules(void **state)
{
    (void)state;
    static const char *const good[] = {"imap.example.com",
                                       "localhost",
                                       "mail-1.example.co.uk.",
                                       "a.b",
                                       "xn--bcher-kva.example",
                                       "192.0.2.1",
                                       "127.0.0.1",
                                       "::1",
                                       "2001:db8::1",
                                       "[2001:db8::25]",
                                       "1.2.3.a4",
                                       "a1"};
    for (size_t i = 0; i < IQ_ARRAY_LEN(good); i++) {
        iq_account a;
        expect_ok(&(iq_account_input){BASE, .host = good[i]}, &a);
        iq_account_release(&a);
    }
    iq_account a;
    expect_ok(&(iq_account_input){BASE, .host = "[2001:db8::25]"}, &a);
    assert_string_equal(a.host, "2001:db8::25"); /* brackets are not stored */
    iq_account_release(&a);

    char label64[80], longhost[300];
    memset(label64, 'a', 64);
    memcpy(label64 + 64, ".com", 5);
    for (size_t i = 0; i < 254; i += 2) {
        longhost[i] = 'a';
        longhost[i + 1] = '.';
    }
    memcpy(longhost + 254, "com", 4);
    const char *const bad[] = {"exa mple.com",  "-bad.example", "bad-.example", "a..b",
                               ".lead",         "1.2.3.999",    "256.1.1.1",    "1.2.3",
                               "host_name.com", "[::1",         "[1.2.3.4]",    "[]",
                               "http://x",      "user@host",    "host:143",     "2001:db8::g",
                               label64,         longhost,       "a\nb",         "ho\xc3\xa9st"};
    for (size_t i = 0; i < IQ_ARRAY_LEN(bad); i++)
        expect_invalid_msg(&(iq_account_input){BASE, .host = bad[i]}, "host",
                           "not a valid host name or IP address");
}

static void test_port_rules(void **state)
{
    (void)state;
    static const char *const bad[] = {"0",    "65536", "-1",          "abc",
                                      "143x", " 143",  "99999999999", "1.5"};
    for (size_t i = 0; i < IQ_ARRAY_LEN(bad); i++)
        expect_invalid_msg(&(iq_account_input){BASE, .port = bad[i]}, "port", "1 to 65535");
}

static void test_protocol_rules(void **state)
{
    (void)state;
    expect_invalid_msg(&(iq_account_input){BASE, .protocol = "smtp"}, "protocol", "imap or pop3");
    expect_invalid(&(iq_account_input){BASE, .protocol = ""}, "protocol");
    expect_invalid(&(iq_account_input){BASE, .protocol = "imaps"}, "protocol");
    iq_account a;
    expect_ok(&(iq_account_input){BASE, .protocol = "IMAP"}, &a);
    assert_int_equal(a.protocol, IQ_PROTO_IMAP);
    iq_account_release(&a);
}

static void test_secure_rules(void **state)
{
    (void)state;
    /* secure type only with secure yes */
    expect_invalid_msg(&(iq_account_input){BASE, .secure = "no", .secure_type = "tls"},
                       "secure-type", "set secure to yes");
    expect_invalid_msg(&(iq_account_input){BASE, .secure = "no", .secure_type = "ssl"},
                       "secure-type", "set secure to yes");
    expect_invalid_msg(&(iq_account_input){BASE, .secure_type = "starttls"}, "secure-type",
                       "tls or ssl");
    expect_invalid(&(iq_account_input){BASE, .secure = "maybe"}, "secure");
    iq_account a;
    expect_ok(&(iq_account_input){BASE, .secure = "no"}, &a);
    assert_int_equal(a.security, IQ_SEC_NONE);
    assert_null(iq_security_type_name(a.security));
    iq_account_release(&a);
    expect_ok(&(iq_account_input){BASE, .secure = "yes"}, &a);
    assert_int_equal(a.security, IQ_SEC_IMPLICIT); /* ssl by default */
    assert_string_equal(iq_security_type_name(a.security), "ssl");
    iq_account_release(&a);
    expect_ok(&(iq_account_input){BASE, .secure_type = "tls"}, &a); /* secure yes by default */
    assert_int_equal(a.security, IQ_SEC_STARTTLS);
    iq_account_release(&a);
}

static void test_bool_rules(void **state)
{
    (void)state;
    expect_invalid_msg(&(iq_account_input){BASE, .keep_copy = "maybe"}, "keep-copy", "yes or no");
    expect_invalid(&(iq_account_input){BASE, .auto_check = "2"}, "auto-check");
    expect_invalid(&(iq_account_input){BASE, .active = ""}, "active");
    expect_invalid(&(iq_account_input){BASE, .ignore_certificate = "si"}, "ignore-certificate");
    expect_invalid(&(iq_account_input){BASE, .use_connector = "x"}, "use-connector");
    expect_invalid(&(iq_account_input){BASE, .apop = "perhaps"}, "apop");
    iq_account a;
    expect_ok(&(iq_account_input){BASE, .keep_copy = "sim", .auto_check = "não", .active = "off",
                                  .ignore_certificate = "true"},
              &a);
    assert_true(a.keep_copy);
    assert_false(a.auto_check);
    assert_false(a.active);
    assert_true(a.ignore_certificate);
    iq_account_release(&a);
}

/* --push: auto by default, idle only for IMAP, and shown in the stored fields. */
static void test_push_rules(void **state)
{
    (void)state;
    iq_account a;
    expect_ok(&(iq_account_input){BASE}, &a);
    assert_int_equal(a.push, IQ_PUSH_AUTO);
    json_t *j = iq_account_fields_json(&a);
    assert_string_equal(json_string_value(json_object_get(j, "push")), "auto");
    json_decref(j);
    iq_account_release(&a);
    expect_ok(&(iq_account_input){BASE, .push = "IDLE"}, &a);
    assert_int_equal(a.push, IQ_PUSH_IDLE);
    iq_account_release(&a);
    expect_ok(&(iq_account_input){BASE, .protocol = "pop3", .push = "off"}, &a);
    assert_int_equal(a.push, IQ_PUSH_OFF);
    iq_account_release(&a);
    expect_ok(&(iq_account_input){BASE, .protocol = "pop3"}, &a); /* auto: POP3 just polls */
    assert_int_equal(a.push, IQ_PUSH_AUTO);
    iq_account_release(&a);
    expect_invalid_msg(&(iq_account_input){BASE, .push = "always"}, "push", "auto, idle or off");
    expect_invalid(&(iq_account_input){BASE, .push = ""}, "push");
    expect_invalid_msg(&(iq_account_input){BASE, .protocol = "pop3", .push = "idle"}, "push",
                       "POP3 has no push");
    iq_push_mode m = IQ_PUSH_OFF;
    assert_int_equal(iq_push_mode_parse("auto", &m), 0);
    assert_int_equal(m, IQ_PUSH_AUTO);
    assert_int_equal(iq_push_mode_parse(NULL, &m), -1);
    assert_string_equal(iq_push_mode_name(IQ_PUSH_OFF), "off");
}

static void test_connector_rules(void **state)
{
    (void)state;
    iq_account a;
    /* --connector alone implies --use-connector yes */
    expect_ok(&(iq_account_input){BASE, .connector = "proxy"}, &a);
    assert_true(a.use_connector);
    assert_int_equal(a.connector_id, 7);
    iq_account_release(&a);
    expect_ok(&(iq_account_input){BASE, .use_connector = "yes", .connector = "7"}, &a);
    assert_int_equal(a.connector_id, 7);
    iq_account_release(&a);
    /* a connector only with use-connector yes */
    expect_invalid_msg(&(iq_account_input){BASE, .use_connector = "no", .connector = "proxy"},
                       "connector", "use-connector is yes");
    /* and required then */
    expect_invalid_msg(&(iq_account_input){BASE, .use_connector = "yes"}, "connector", "required");
    expect_invalid(&(iq_account_input){BASE, .connector = ""}, "connector");
    /* it must exist */
    expect_invalid_msg(&(iq_account_input){BASE, .connector = "nope"}, "connector",
                       "no Network Connector is named or numbered 'nope'");
    expect_invalid(&(iq_account_input){BASE, .connector = "8"}, "connector");
}

static void test_credential_rules(void **state)
{
    (void)state;
    iq_account a;
    expect_ok(&(iq_account_input){BASE, .credential = "BOB"}, &a);
    assert_int_equal(a.credential_id, 2);
    iq_account_release(&a);
    expect_ok(&(iq_account_input){BASE, .credential = "1"}, &a);
    assert_int_equal(a.credential_id, 1);
    iq_account_release(&a);
    expect_invalid_msg(&(iq_account_input){BASE, .credential = "carol"}, "credential",
                       "add the credential first");
    expect_invalid(&(iq_account_input){BASE, .credential = "3"}, "credential");
}

static void test_interval_rules(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int64_t s;
    } good[] = {{"30s", 30},    {"5m", 300},        {"1h", 3600},  {"1d", 86400}, {"5s", 5},
                {"7d", 604800}, {"604800", 604800}, {"5000ms", 5}, {"90", 90}};
    for (size_t i = 0; i < IQ_ARRAY_LEN(good); i++) {
        iq_account a;
        expect_ok(&(iq_account_input){BASE, .check_interval = good[i].in}, &a);
        assert_int_equal(a.check_interval_s, good[i].s);
        iq_account_release(&a);
    }
    static const char *const bad[] = {"4s",  "8d", "604801", "0",   "1500ms",
                                      "abc", "",   "5 m",    "-5m", "1w"};
    for (size_t i = 0; i < IQ_ARRAY_LEN(bad); i++)
        expect_invalid_msg(&(iq_account_input){BASE, .check_interval = bad[i]}, "check-interval",
                           "5s");
}

static void test_folder_rules(void **state)
{
    (void)state;
    expect_invalid(&(iq_account_input){BASE, .folder = ""}, "folder");
    expect_invalid(&(iq_account_input){BASE, .folder = "INBOX\r\nA1 DELETE INBOX"}, "folder");
    char big[1100];
    memset(big, 'f', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    expect_invalid(&(iq_account_input){BASE, .folder = big}, "folder");
}

/* Flag combinations that mean nothing: one table (rules.c), for add and edit alike
 * (hardening item 21). */
static void test_combination_rules(void **state)
{
    (void)state;
    expect_invalid_msg(&(iq_account_input){BASE, .apop = "yes"}, "apop", "set protocol to pop3");
    expect_invalid_msg(&(iq_account_input){BASE, .protocol = "pop3", .folder = "Sent"}, "folder",
                       "set protocol to imap");
    expect_invalid_msg(&(iq_account_input){BASE, .secure = "no", .ignore_certificate = "yes"},
                       "ignore-certificate", "set secure to yes");
    expect_invalid_msg(&(iq_account_input){BASE, .secure = "no", .secure_type = "ssl"},
                       "secure-type", "set secure to yes");
    /* the harmless "no" of a field that does not apply is accepted */
    iq_account a;
    expect_ok(&(iq_account_input){BASE, .apop = "no", .secure = "no", .ignore_certificate = "no"},
              &a);
    iq_account_release(&a);
    expect_ok(&(iq_account_input){BASE, .folder = "Archive/2024"}, &a);
    assert_string_equal(a.folder, "Archive/2024");
    iq_account_release(&a);
    expect_ok(&(iq_account_input){BASE, .protocol = "pop3", .apop = "yes"}, &a);
    assert_true(a.apop);
    /* edit: a field given against what the account is refused, as on add */
    char *err = NULL;
    a.id = 5;
    assert_int_equal(
        iq_account_apply(&a, &(iq_account_input){.folder = "Sent"}, false, &refs, &err),
        IQ_ERR_INVALID);
    assert_true(strncmp(err, "folder:", 7) == 0);
    free(err);
    err = NULL;
    assert_int_equal(
        iq_account_apply(&a, &(iq_account_input){.secure = "no", .ignore_certificate = "yes"},
                         false, &refs, &err),
        IQ_ERR_INVALID);
    assert_true(strncmp(err, "ignore-certificate:", 19) == 0);
    free(err);
    err = NULL;
    /* (a refused apply leaves a half-changed: the store loads the row afresh each time) */
    /* and a stored value the edit made meaningless goes back to its default */
    assert_int_equal(
        iq_account_apply(&a, &(iq_account_input){.protocol = "imap"}, false, &refs, &err), IQ_OK);
    assert_false(a.apop);
    assert_int_equal(
        iq_account_apply(
            &a, &(iq_account_input){.secure = "yes", .folder = "Sent", .ignore_certificate = "yes"},
            false, &refs, &err),
        IQ_OK);
    assert_int_equal(iq_account_apply(&a, &(iq_account_input){.secure = "no", .protocol = "pop3"},
                                      false, &refs, &err),
                     IQ_OK);
    assert_false(a.ignore_certificate);
    assert_string_equal(a.folder, "INBOX");
    iq_account_release(&a);
}

/* An edit applies only the given fields to a loaded account. */
static void test_edit_semantics(void **state)
{
    (void)state;
    iq_account a;
    char *err = NULL;
    expect_ok(&(iq_account_input){BASE, .connector = "proxy"}, &a);
    a.id = 5;
    a.version = 3;
    /* protocol change with a standard port: the port follows */
    assert_int_equal(
        iq_account_apply(&a, &(iq_account_input){.protocol = "pop3"}, false, &refs, &err), IQ_OK);
    assert_int_equal(a.port, 995);
    assert_string_equal(a.name, "Acc");
    assert_int_equal(a.connector_id, 7);
    /* secure no drops the type and the port follows again */
    assert_int_equal(iq_account_apply(&a, &(iq_account_input){.secure = "no"}, false, &refs, &err),
                     IQ_OK);
    assert_int_equal(a.security, IQ_SEC_NONE);
    assert_int_equal(a.port, 110);
    /* a type on an insecure account is refused */
    assert_int_equal(
        iq_account_apply(&a, &(iq_account_input){.secure_type = "tls"}, false, &refs, &err),
        IQ_ERR_INVALID);
    assert_true(strncmp(err, "secure-type:", 12) == 0);
    free(err);
    err = NULL;
    /* secure yes again: ssl by default */
    assert_int_equal(iq_account_apply(&a, &(iq_account_input){.secure = "yes"}, false, &refs, &err),
                     IQ_OK);
    assert_int_equal(a.security, IQ_SEC_IMPLICIT);
    /* an explicit port stays through a protocol change; empty goes back to the standard */
    assert_int_equal(iq_account_apply(&a, &(iq_account_input){.port = "2110"}, false, &refs, &err),
                     IQ_OK);
    assert_int_equal(
        iq_account_apply(&a, &(iq_account_input){.protocol = "imap"}, false, &refs, &err), IQ_OK);
    assert_int_equal(a.port, 2110);
    assert_int_equal(iq_account_apply(&a, &(iq_account_input){.port = ""}, false, &refs, &err),
                     IQ_OK);
    assert_int_equal(a.port, 993);
    assert_true(a.port_is_default);
    /* use-connector no clears the connector */
    assert_int_equal(
        iq_account_apply(&a, &(iq_account_input){.use_connector = "no"}, false, &refs, &err),
        IQ_OK);
    assert_false(a.use_connector);
    assert_int_equal(a.connector_id, 0);
    /* and yes alone is then refused (no connector) */
    assert_int_equal(
        iq_account_apply(&a, &(iq_account_input){.use_connector = "yes"}, false, &refs, &err),
        IQ_ERR_INVALID);
    assert_true(strncmp(err, "connector:", 10) == 0);
    free(err);
    err = NULL;
    /* renaming to its own name in another case is fine; to a taken one is not */
    assert_int_equal(iq_account_apply(&a, &(iq_account_input){.name = "ACC"}, false, &refs, &err),
                     IQ_OK);
    assert_int_equal(
        iq_account_apply(&a, &(iq_account_input){.name = "existing"}, false, &refs, &err),
        IQ_ERR_INVALID);
    assert_true(strncmp(err, "name:", 5) == 0);
    free(err);
    iq_account_release(&a);
}

static void expect_connector_invalid(const iq_connector_input *in, const char *field)
{
    iq_connector k;
    iq_connector_init(&k);
    char *err = NULL;
    assert_int_equal(iq_connector_apply(&k, in, true, &refs, &err), IQ_ERR_INVALID);
    size_t n = strlen(field);
    if (strncmp(err, field, n) != 0 || err[n] != ':')
        fail_msg("message does not start with '%s:': %s", field, err);
    free(err);
    iq_connector_release(&k);
}

#define KBASE .name = "P", .type = "socks5", .host = "proxy.example", .port = "1080"

static void test_connector_form(void **state)
{
    (void)state;
    iq_connector k;
    char *err = NULL;
    iq_connector_init(&k);
    assert_int_equal(iq_connector_apply(&k,
                                        &(iq_connector_input){.name = "Office proxy",
                                                              .type = "HTTP",
                                                              .host = "10.0.0.1",
                                                              .port = "3128",
                                                              .credential = "bob",
                                                              .active = "no"},
                                        true, &refs, &err),
                     IQ_OK);
    assert_int_equal(k.type, IQ_CONNECTOR_HTTP);
    assert_int_equal(k.port, 3128);
    assert_int_equal(k.credential_id, 2);
    assert_false(k.active);
    /* "" removes the login */
    assert_int_equal(
        iq_connector_apply(&k, &(iq_connector_input){.credential = ""}, false, &refs, &err), IQ_OK);
    assert_int_equal(k.credential_id, 0);
    iq_connector_release(&k);

    expect_connector_invalid(&(iq_connector_input){.type = "socks5", .host = "h", .port = "1"},
                             "name");
    expect_connector_invalid(&(iq_connector_input){.name = "P", .host = "h", .port = "1"}, "type");
    expect_connector_invalid(&(iq_connector_input){KBASE, .type = "socks4"}, "type");
    expect_connector_invalid(&(iq_connector_input){.name = "P", .type = "http", .port = "1"},
                             "host");
    expect_connector_invalid(&(iq_connector_input){KBASE, .host = "bad host"}, "host");
    expect_connector_invalid(&(iq_connector_input){.name = "P", .type = "http", .host = "h"},
                             "port");
    expect_connector_invalid(&(iq_connector_input){KBASE, .port = "0"}, "port");
    expect_connector_invalid(&(iq_connector_input){KBASE, .port = "70000"}, "port");
    expect_connector_invalid(&(iq_connector_input){KBASE, .credential = "nobody"}, "credential");
    expect_connector_invalid(&(iq_connector_input){KBASE, .active = "maybe"}, "active");
    expect_connector_invalid(&(iq_connector_input){KBASE, .name = "taken"}, "name");
    expect_connector_invalid(&(iq_connector_input){KBASE, .name = "42"}, "name");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),          cmocka_unit_test(test_every_field),
        cmocka_unit_test(test_default_ports),     cmocka_unit_test(test_required),
        cmocka_unit_test(test_name_rules),        cmocka_unit_test(test_host_rules),
        cmocka_unit_test(test_port_rules),        cmocka_unit_test(test_protocol_rules),
        cmocka_unit_test(test_secure_rules),      cmocka_unit_test(test_bool_rules),
        cmocka_unit_test(test_connector_rules),   cmocka_unit_test(test_credential_rules),
        cmocka_unit_test(test_interval_rules),    cmocka_unit_test(test_folder_rules),
        cmocka_unit_test(test_edit_semantics),    cmocka_unit_test(test_connector_form),
        cmocka_unit_test(test_combination_rules), cmocka_unit_test(test_push_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
