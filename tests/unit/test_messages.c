/* SPDX-License-Identifier: MIT */
/* Unit tests for the Kafka message contracts (lib/messages.c): builder/parser round trips,
 * every rejection class, hostile input; `--emit-samples DIR` writes builder output for
 * tests/unit/schemas.sh to validate against schemas/json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "messages.h"
#include "util.h"

#define T0 INT64_C(1795888921123) /* 2026-11-28T18:02:01.123Z */
#define UUID_A "0f8fad5b-d9cb-469f-a165-70867728950e"
#define UUID_B "7c9e6679-7425-40de-944b-e07fc1f90ae7"
#define SHA_A "9f86d081884c7d659a2feb5b0d7e0a1a5b8cba3e9a6f3f19a0b1b2c3d4e5f607"

/* ---------------------------------------------------------------- helpers */

static json_t *load(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &e);
    assert_non_null(j);
    return j;
}

static char *dump_check_job_base(void)
{
    char *err = NULL;
    json_t *j = iq_msg_check_job_new(UUID_A, 42, T0, "scheduler", "retry", 2, T0 + 60000, &err);
    assert_non_null(j);
    char *s = iq_msg_dump(j);
    json_decref(j);
    return s;
}

/* Parses data as a check job and expects a failure of class cls whose text contains needle. */
static void expect_check_fail(const void *data, size_t len, const char *cls, const char *needle)
{
    iq_check_job job;
    iq_err gotc = IQ_OK;
    char *err = NULL;
    int rc = iq_msg_parse_check_job(data, len, &job, &gotc, &err);
    if (rc == 0)
        fail_msg("accepted: %.*s", (int)(len > 200 ? 200 : len), (const char *)data);
    assert_int_not_equal(gotc, IQ_OK);
    const char *got = iq_err_name(gotc);
    assert_non_null(err);
    if (strcmp(got, cls) != 0 || (needle && !strstr(err, needle)))
        fail_msg("want %s/%s, got %s: %s", cls, needle ? needle : "", got, err);
    assert_null(strchr(err, '\n'));
    assert_int_equal(job.account_id, 0);
    free(err);
}

static void expect_check_fail_str(const char *s, const char *cls, const char *needle)
{
    expect_check_fail(s, strlen(s), cls, needle);
}

/* Takes the base check job, sets key to the JSON value text (NULL: deletes it), expects cls. */
static void check_mutation(const char *key, const char *value, const char *cls, const char *needle)
{
    char *base = dump_check_job_base();
    json_t *j = load(base);
    free(base);
    if (value)
        json_object_set_new(j, key, load(value));
    else
        json_object_del(j, key);
    char *s = iq_msg_dump(j);
    json_decref(j);
    expect_check_fail_str(s, cls, needle);
    free(s);
}

static void report_mutation(const char *key, const char *value, const char *cls, const char *needle)
{
    char *err = NULL;
    json_t *j = iq_msg_report_job_new(UUID_A, 7, "pdf", "en", NULL, 3, T0, "scheduler", &err);
    assert_non_null(j);
    if (value)
        json_object_set_new(j, key, load(value));
    else
        json_object_del(j, key);
    char *s = iq_msg_dump(j);
    json_decref(j);
    iq_report_job job;
    iq_err gotc = IQ_OK;
    int rc = iq_msg_parse_report_job(s, strlen(s), &job, &gotc, &err);
    if (rc == 0)
        fail_msg("accepted: %s", s);
    const char *got = iq_err_name(gotc);
    if (strcmp(got, cls) != 0 || (needle && !strstr(err, needle)))
        fail_msg("want %s/%s, got %s: %s (%s)", cls, needle ? needle : "", got, err, s);
    assert_null(job.filters.name);
    iq_report_job_release(&job);
    free(err);
    free(s);
}

static void expect_build_fail(json_t *j, char **err, const char *needle)
{
    if (j) {
        char *s = iq_msg_dump(j);
        fail_msg("built: %s", s);
    }
    assert_non_null(*err);
    if (!strstr(*err, needle))
        fail_msg("error \"%s\" does not name %s", *err, needle);
    free(*err);
    *err = NULL;
}

static iq_new_mail sample_mail(void)
{
    iq_new_mail ev = {
        .event_id = UUID_B,
        .job_id = UUID_A,
        .account_id = 42,
        .account_name = "Support",
        .mailbox = "INBOX",
        .message_row_id = 1001,
        .server_id = "1700000000:17",
        .message_id = "<abc@example.org>",
        .from = "Jo\xc3\xa3o <joao@example.org>",
        .to = "support@example.org",
        .subject = "Ol\xc3\xa1 \xe2\x82\xac",
        .date_ms = T0 - 5000,
        .size = 2048,
        .sha256 = SHA_A,
        .fetched_at_ms = T0,
    };
    return ev;
}

static iq_dead_letter sample_dead(void)
{
    iq_dead_letter dl = {
        .job_id = NULL,
        .original_topic = "inboxq.jobs.check",
        .original_partition = 3,
        .original_offset = 12345,
        .original_key = "42",
        .original_key_len = 2,
        .original_value = "{not json",
        .original_value_len = 9,
        .error_class = IQ_ERR_INVALID_JSON,
        .error = "not valid JSON at line 1 column 2",
        .failed_at_ms = T0,
        .worker = "host-a:1234",
    };
    return dl;
}

static const char *sget(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

/* ---------------------------------------------------------------- time */

static void test_time(void **state)
{
    (void)state;
    static const int64_t samples[] = {0,
                                      1,
                                      999,
                                      1000,
                                      951782400000 /* 2000-02-29 */,
                                      1709164800123 /* 2024-02-29 */,
                                      T0,
                                      INT64_C(253402300799999)};
    char buf[40];
    int64_t ms;
    for (size_t i = 0; i < IQ_ARRAY_LEN(samples); i++) {
        iq_format_time_utc(samples[i], buf, sizeof(buf));
        assert_int_equal(iq_parse_time_utc(buf, &ms), 0);
        assert_int_equal(ms, samples[i]);
    }
    assert_int_equal(iq_parse_time_utc("2026-11-28T18:02:01Z", &ms), 0);
    assert_int_equal(ms, T0 - 123);
    assert_int_equal(iq_parse_time_utc("2026-11-28T18:02:01.5Z", &ms), 0);
    assert_int_equal(ms, T0 - 123 + 500);
    assert_int_equal(iq_parse_time_utc("2026-11-28T18:02:01.123999999Z", &ms), 0);
    assert_int_equal(ms, T0);
    static const char *const bad[] = {
        "",
        "2026-11-28",
        "2026-11-28T18:02:01",
        "2026-11-28T18:02:01+00:00",
        "2026-11-28t18:02:01Z",
        "2026-11-28T18:02:01z",
        "2026-11-28 18:02:01Z",
        "2026-11-28T18:02:01.Z",
        "2026-11-28T18:02:01.1234567890Z",
        "2026-11-28T18:02:01Z ",
        "2026-11-28T18:02:60Z",
        "2026-11-28T24:00:00Z",
        "2026-11-28T23:60:00Z",
        "2026-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-13-10T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "1969-12-31T23:59:59.999Z",
        "+2026-11-28T18:02:01Z",
        "2026-1-28T18:02:01Z",
        "2O26-11-28T18:02:01Z",
        "2026-11-28T18:02:01.12a4Z",
    };
    for (size_t i = 0; i < IQ_ARRAY_LEN(bad); i++)
        if (iq_parse_time_utc(bad[i], &ms) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(iq_parse_time_utc(NULL, &ms), -1);
}

static void test_uuid_valid(void **state)
{
    (void)state;
    assert_true(iq_msg_uuid_valid(UUID_A));
    assert_true(iq_msg_uuid_valid("0F8FAD5B-D9CB-469F-A165-70867728950E"));
    assert_false(iq_msg_uuid_valid(NULL));
    assert_false(iq_msg_uuid_valid(""));
    assert_false(iq_msg_uuid_valid(UUID_A "0"));
    assert_false(iq_msg_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950"));
    assert_false(iq_msg_uuid_valid("0f8fad5bd9cb469fa16570867728950e"));
    assert_false(iq_msg_uuid_valid("{0f8fad5b-d9cb-469f-a165-70867728950e}"));
    assert_false(iq_msg_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950g"));
    assert_false(iq_msg_uuid_valid("0f8fad5b_d9cb-469f-a165-70867728950e"));
}

/* ---------------------------------------------------------------- check job */

static void test_check_job_round_trip(void **state)
{
    (void)state;
    char *err = NULL;
    json_t *j = iq_msg_check_job_new("0F8FAD5B-D9CB-469F-A165-70867728950E", 42, T0,
                                     "cli:jo\xc3\xa3o", "manual", 3, T0 + 60000, &err);
    assert_non_null(j);
    assert_null(err);
    assert_string_equal(iq_msg_id(j), UUID_A);
    assert_string_equal(sget(j, "schema"), IQ_MSG_SCHEMA_CHECK_JOB);
    assert_string_equal(sget(j, "requested_at"), "2026-11-28T18:02:01.123Z");
    assert_string_equal(sget(j, "not_before"), "2026-11-28T18:03:01.123Z");
    char *s = iq_msg_dump(j);
    json_decref(j);
    assert_null(strchr(s, '\n'));
    assert_null(strstr(s, ": "));
    assert_null(strstr(s, ", "));

    iq_check_job job;
    iq_err cls = IQ_OK;
    assert_int_equal(iq_msg_parse_check_job(s, strlen(s), &job, &cls, &err), 0);
    assert_null(err);
    assert_string_equal(job.job_id, UUID_A);
    assert_int_equal(job.account_id, 42);
    assert_int_equal(job.requested_at_ms, T0);
    assert_string_equal(job.requested_by, "cli:jo\xc3\xa3o");
    assert_string_equal(job.reason, "manual");
    assert_int_equal(job.attempt, 3);
    assert_int_equal(job.not_before_ms, T0 + 60000);
    free(s);

    /* No not_before, a generated id, the largest account id. */
    j = iq_msg_check_job_new(NULL, INT64_MAX, T0, "scheduler", "scheduled", 1, 0, &err);
    assert_non_null(j);
    assert_true(iq_msg_uuid_valid(iq_msg_id(j)));
    assert_null(json_object_get(j, "not_before"));
    char id[37];
    memcpy(id, iq_msg_id(j), sizeof(id));
    s = iq_msg_dump(j);
    json_decref(j);
    assert_int_equal(iq_msg_parse_check_job(s, strlen(s), &job, &cls, &err), 0);
    assert_string_equal(job.job_id, id);
    assert_int_equal(job.account_id, INT64_MAX);
    assert_int_equal(job.not_before_ms, 0);
    free(s);

    /* attempt is optional and defaults to 1; upper-case ids are accepted and lowered. */
    const char *minimal = "{\"schema\":\"inboxq.check_job.v1\","
                          "\"job_id\":\"7C9E6679-7425-40DE-944B-E07FC1F90AE7\","
                          "\"account_id\":5,\"requested_at\":\"2026-01-01T00:00:00Z\","
                          "\"requested_by\":\"scheduler\",\"reason\":\"scheduled\"}";
    assert_int_equal(iq_msg_parse_check_job(minimal, strlen(minimal), &job, &cls, &err), 0);
    assert_int_equal(job.attempt, 1);
    assert_string_equal(job.job_id, UUID_B);
    assert_int_equal(job.requested_at_ms, INT64_C(1767225600000));

    /* Two ids in a row differ. */
    json_t *a = iq_msg_check_job_new(NULL, 1, T0, "scheduler", "scheduled", 1, 0, &err);
    json_t *b = iq_msg_check_job_new(NULL, 1, T0, "scheduler", "scheduled", 1, 0, &err);
    assert_string_not_equal(iq_msg_id(a), iq_msg_id(b));
    json_decref(a);
    json_decref(b);
}

static void test_check_job_builder_rejects(void **state)
{
    (void)state;
    char *err = NULL;
    char long_label[80];
    memset(long_label, 'x', 64);
    long_label[64] = '\0';
    expect_build_fail(iq_msg_check_job_new("nope", 1, T0, "s", "manual", 1, 0, &err), &err,
                      "job_id");
    expect_build_fail(iq_msg_check_job_new(NULL, 0, T0, "s", "manual", 1, 0, &err), &err,
                      "account_id");
    expect_build_fail(iq_msg_check_job_new(NULL, -7, T0, "s", "manual", 1, 0, &err), &err,
                      "account_id");
    expect_build_fail(iq_msg_check_job_new(NULL, 1, -1, "s", "manual", 1, 0, &err), &err,
                      "requested_at");
    expect_build_fail(
        iq_msg_check_job_new(NULL, 1, INT64_C(253402300800000), "s", "manual", 1, 0, &err), &err,
        "requested_at");
    expect_build_fail(iq_msg_check_job_new(NULL, 1, T0, "", "manual", 1, 0, &err), &err,
                      "requested_by");
    expect_build_fail(iq_msg_check_job_new(NULL, 1, T0, NULL, "manual", 1, 0, &err), &err,
                      "requested_by");
    expect_build_fail(iq_msg_check_job_new(NULL, 1, T0, long_label, "manual", 1, 0, &err), &err,
                      "requested_by");
    expect_build_fail(iq_msg_check_job_new(NULL, 1, T0, "a\nb", "manual", 1, 0, &err), &err,
                      "requested_by");
    expect_build_fail(iq_msg_check_job_new(NULL, 1, T0, "\xff", "manual", 1, 0, &err), &err,
                      "requested_by");
    expect_build_fail(iq_msg_check_job_new(NULL, 1, T0, "s", "urgent", 1, 0, &err), &err, "reason");
    expect_build_fail(iq_msg_check_job_new(NULL, 1, T0, "s", NULL, 1, 0, &err), &err, "reason");
    expect_build_fail(iq_msg_check_job_new(NULL, 1, T0, "s", "retry", 0, 0, &err), &err, "attempt");
    expect_build_fail(iq_msg_check_job_new(NULL, 1, T0, "s", "retry", 2, INT64_MAX, &err), &err,
                      "not_before");
    /* 63 bytes is the most requested_by holds. */
    long_label[63] = '\0';
    json_t *j = iq_msg_check_job_new(NULL, 1, T0, long_label, "retry", 2, 0, &err);
    assert_non_null(j);
    json_decref(j);
}

static void test_check_job_invalid_json(void **state)
{
    (void)state;
    const char *J = "invalid_json";
    expect_check_fail(NULL, 0, J, "empty");
    expect_check_fail("", 0, J, "empty");
    expect_check_fail_str("not json", J, "not valid JSON");
    expect_check_fail_str("[1,2]", J, "not a JSON object");
    expect_check_fail_str("\"inboxq.check_job.v1\"", J, "not a JSON object");
    expect_check_fail_str("null", J, NULL);
    expect_check_fail_str("42", J, NULL);
    expect_check_fail_str("{\"schema\":\"inboxq.check_job.v1\"", J, NULL);
    expect_check_fail_str("{\"schema\":\"inboxq.check_job.v1\"}{}", J, NULL);
    expect_check_fail_str("{\"schema\":\"inboxq.check_job.v1\",\"schema\":\"x\"}", J, NULL);
    expect_check_fail_str("{'schema':'inboxq.check_job.v1'}", J, NULL);

    /* Hostile numbers: beyond int64 or double. */
    expect_check_fail_str("{\"schema\":\"inboxq.check_job.v1\",\"account_id\":"
                          "99999999999999999999999999}",
                          J, NULL);
    expect_check_fail_str("{\"schema\":\"inboxq.check_job.v1\",\"account_id\":1e999}", J, NULL);
    expect_check_fail_str("{\"schema\":\"inboxq.check_job.v1\",\"account_id\":NaN}", J, NULL);

    /* Invalid UTF-8 and NUL bytes, in strings and around the object. */
    expect_check_fail_str("{\"schema\":\"inboxq.check_job.v1\",\"requested_by\":\"\xc3\x28\"}", J,
                          NULL);
    expect_check_fail_str("{\"schema\":\"inboxq.check_job.v1\",\"requested_by\":\"\xed\xa0\x80\"}",
                          J, NULL);
    expect_check_fail_str("{\"schema\":\"inboxq.check_job.v1\",\"requested_by\":\"\xc0\xaf\"}", J,
                          NULL);
    static const char nul_in_string[] = "{\"schema\":\"inboxq.check\0_job.v1\"}";
    expect_check_fail(nul_in_string, sizeof(nul_in_string) - 1, J, NULL);
    static const char nul_after[] = "{\"schema\":\"inboxq.check_job.v1\"}\0";
    expect_check_fail(nul_after, sizeof(nul_after) - 1, J, NULL);
    static const char nul_before[] = "\0{\"schema\":\"inboxq.check_job.v1\"}";
    expect_check_fail(nul_before, sizeof(nul_before) - 1, J, NULL);
    expect_check_fail_str("{\"schema\":\"inboxq.check_job.v1\\u0000\"}", J, NULL);
    expect_check_fail_str("{\"schema\\u0000x\":\"inboxq.check_job.v1\"}", J, NULL);
    expect_check_fail_str("{\"schema\":\"inboxq.check_job.v1\",\"requested_by\":\"\\ud800\"}", J,
                          NULL);

    /* Too deep for the parser, and too big. */
    char *deep = iq_xmalloc(20001);
    memset(deep, '[', 20000);
    deep[20000] = '\0';
    expect_check_fail_str(deep, J, NULL);
    free(deep);

    char *base = dump_check_job_base();
    size_t n = strlen(base);
    char *big = iq_xmalloc(IQ_MSG_JOB_MAX_BYTES + 2);
    memcpy(big, base, n);
    memset(big + n, ' ', IQ_MSG_JOB_MAX_BYTES + 1 - n);
    iq_check_job job;
    iq_err cls;
    char *err = NULL;
    assert_int_equal(iq_msg_parse_check_job(big, IQ_MSG_JOB_MAX_BYTES, &job, &cls, &err), 0);
    expect_check_fail(big, IQ_MSG_JOB_MAX_BYTES + 1, J, "65537 bytes");
    free(big);
    free(base);

    /* The error text of a hostile parser message stays one printable line. */
    expect_check_fail_str("{\"schema\":\"inboxq.check_job.v1\",\n\x01\x7f\xff}", J, NULL);
}

static void test_check_job_unknown_schema(void **state)
{
    (void)state;
    const char *U = "unknown_schema";
    expect_check_fail_str("{}", U, "schema");
    check_mutation("schema", NULL, U, "schema: missing");
    check_mutation("schema", "42", U, "not an integer");
    check_mutation("schema", "null", U, "not null");
    check_mutation("schema", "\"inboxq.check_job.v2\"", U, "\"inboxq.check_job.v2\"");
    check_mutation("schema", "\"inboxq.report_job.v1\"", U, "inboxq.report_job.v1");
    check_mutation("schema", "\"INBOXQ.CHECK_JOB.V1\"", U, NULL);
    check_mutation("schema", "\"inboxq.check_job.v1 \"", U, NULL);
    check_mutation("schema", "[\"inboxq.check_job.v1\"]", U, "an array");
    /* Hostile schema text is cut and made printable in the error. */
    char *huge = iq_xmalloc(5002);
    huge[0] = '"';
    memset(huge + 1, 'A', 4999);
    huge[5000] = '"';
    huge[5001] = '\0';
    char *base = dump_check_job_base();
    json_t *j = load(base);
    free(base);
    json_object_set_new(j, "schema", load(huge));
    char *s = iq_msg_dump(j);
    json_decref(j);
    iq_check_job job;
    iq_err cls;
    char *err = NULL;
    assert_int_equal(iq_msg_parse_check_job(s, strlen(s), &job, &cls, &err), -1);
    assert_string_equal(iq_err_name(cls), U);
    assert_true(strlen(err) < 200);
    free(err);
    free(s);
    free(huge);
}

static void test_check_job_invalid_job(void **state)
{
    (void)state;
    const char *I = "invalid_job";
    static const char *const required[] = {"job_id", "account_id", "requested_at", "requested_by",
                                           "reason"};
    for (size_t i = 0; i < IQ_ARRAY_LEN(required); i++)
        check_mutation(required[i], NULL, I, required[i]);

    check_mutation("job_id", "\"\"", I, "job_id");
    check_mutation("job_id", "\"not-a-uuid\"", I, "job_id");
    check_mutation("job_id", "\"" UUID_A "x\"", I, "job_id");
    check_mutation("job_id", "\"0f8fad5bd9cb469fa16570867728950e\"", I, "job_id");
    check_mutation("job_id", "42", I, "job_id: must be a string");
    check_mutation("job_id", "null", I, "job_id");

    check_mutation("account_id", "0", I, "account_id");
    check_mutation("account_id", "-1", I, "account_id");
    check_mutation("account_id", "-9223372036854775808", I, "account_id");
    check_mutation("account_id", "\"42\"", I, "account_id: must be an integer, not a string");
    check_mutation("account_id", "42.0", I, "account_id: must be an integer");
    check_mutation("account_id", "1e3", I, "account_id");
    check_mutation("account_id", "true", I, "account_id");
    check_mutation("account_id", "null", I, "account_id");
    check_mutation("account_id", "[42]", I, "account_id");
    check_mutation("account_id", "{\"id\":42}", I, "account_id");

    check_mutation("requested_at", "\"2026-11-28 18:02:01\"", I, "requested_at");
    check_mutation("requested_at", "\"2026-11-28T18:02:01+01:00\"", I, "requested_at");
    check_mutation("requested_at", "1795888921123", I, "requested_at");
    check_mutation("requested_at", "\"\"", I, "requested_at");

    check_mutation("requested_by", "\"\"", I, "requested_by");
    check_mutation("requested_by",
                   "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"", I,
                   "requested_by");
    check_mutation("requested_by", "\"a\\nb\"", I, "requested_by");
    check_mutation("requested_by", "\"a\\u007fb\"", I, "requested_by");
    check_mutation("requested_by", "7", I, "requested_by");

    check_mutation("reason", "\"urgent\"", I, "reason");
    check_mutation("reason", "\"Manual\"", I, "reason");
    check_mutation("reason", "\"scheduledxxxxxxxxxxxxxxxxxxxxxx\"", I, "reason");
    check_mutation("reason", "null", I, "reason");

    check_mutation("attempt", "0", I, "attempt");
    check_mutation("attempt", "2147483648", I, "attempt");
    check_mutation("attempt", "1.5", I, "attempt");
    check_mutation("attempt", "\"1\"", I, "attempt");
    check_mutation("not_before", "null", I, "not_before");
    check_mutation("not_before", "\"soon\"", I, "not_before");
    check_mutation("not_before", "0", I, "not_before");
    /* not_before at most an hour ahead of this clock: a job for year 9999 would hold its
     * partition for ever */
    check_mutation("not_before", "\"9999-12-31T23:59:59.000Z\"", I, "not_before: more than 60");
    char ahead[64], when[48];
    iq_format_time_utc(iq_now_real_ms() + 61 * 60000, when, sizeof(when));
    snprintf(ahead, sizeof(ahead), "\"%s\"", when);
    check_mutation("not_before", ahead, I, "not_before: more than 60");
    json_t *soon = iq_msg_check_job_new(UUID_A, 42, T0, "scheduler", "retry", 2,
                                        iq_now_real_ms() + 59 * 60000, NULL);
    char *soon_s = iq_msg_dump(soon);
    json_decref(soon);
    iq_check_job sj;
    iq_err scls = IQ_OK;
    char *serr = NULL;
    assert_int_equal(iq_msg_parse_check_job(soon_s, strlen(soon_s), &sj, &scls, &serr), 0);
    free(soon_s);

    check_mutation("extra", "1", I, "unexpected field \"extra\"");
    check_mutation("body", "\"From: x\"", I, "\"body\"");
    check_mutation("", "1", I, "unexpected field \"\"");
    check_mutation("evil\nkey", "1", I, "evil?key");
    /* Nested junk in an unknown field. */
    char *nested = iq_xmalloc(4001);
    for (int i = 0; i < 1000; i++)
        memcpy(nested + i * 2, "[{", 2);
    nested[2000] = '\0';
    char *junk = iq_xasprintf("{\"schema\":\"inboxq.check_job.v1\",\"x\":%s", nested);
    /* Unbalanced nesting is invalid JSON... */
    expect_check_fail_str(junk, "invalid_json", NULL);
    /* ...balanced arrays inside the object are an unexpected field. */
    char *arr = iq_xmalloc(2 * 1000 + 64);
    size_t o = 0;
    for (int i = 0; i < 1000; i++)
        arr[o++] = '[';
    for (int i = 0; i < 1000; i++)
        arr[o++] = ']';
    arr[o] = '\0';
    check_mutation("x", arr, I, "unexpected field \"x\"");
    check_mutation("account_id", arr, I, "account_id");
    free(arr);
    free(junk);
    free(nested);
}

/* Random byte flips of a valid job: never a crash, always a known class. */
static void test_check_job_mutations(void **state)
{
    (void)state;
    char *base = dump_check_job_base();
    size_t n = strlen(base);
    char *buf = iq_xmalloc(n + 1);
    uint32_t seed = 12345;
    int ok = 0;
    for (int round = 0; round < 5000; round++) {
        memcpy(buf, base, n + 1);
        int flips = 1 + round % 4;
        for (int f = 0; f < flips; f++) {
            seed = seed * 1103515245u + 12345u;
            size_t pos = (seed >> 8) % n;
            seed = seed * 1103515245u + 12345u;
            buf[pos] = (char)(seed >> 16);
        }
        iq_check_job job;
        iq_err cls = IQ_OK;
        char *err = NULL;
        if (iq_msg_parse_check_job(buf, n, &job, &cls, &err) == 0) {
            ok++;
            assert_null(err);
            assert_true(job.account_id >= 1);
            assert_true(iq_msg_uuid_valid(job.job_id));
            continue;
        }
        assert_non_null(err);
        assert_true(cls == IQ_ERR_INVALID_JSON || cls == IQ_ERR_UNKNOWN_SCHEMA ||
                    cls == IQ_ERR_INVALID_JOB);
        for (const char *p = err; *p; p++)
            assert_true(*p >= 0x20 && *p < 0x7f);
        free(err);
    }
    assert_true(ok > 0);
    free(buf);
    free(base);
}

/* ---------------------------------------------------------------- report job */

static void test_report_job_round_trip(void **state)
{
    (void)state;
    char *err = NULL;
    iq_report_filters f;
    iq_report_filters_init(&f);
    f.name = iq_xstrdup("Jo\xc3\xa3o's \"box\"");
    f.secure = 1;
    f.auto_check = 0;
    f.keep_copy = 1;
    f.active = 0;
    f.last_check = IQ_LAST_CHECK_FAILED;
    json_t *j = iq_msg_report_job_new(UUID_A, 7, "pdf", "pt-BR", &f, 3, T0, "cli:ops", &err);
    assert_non_null(j);
    iq_report_filters_release(&f);
    assert_null(f.name);
    assert_int_equal(f.secure, -1);
    char *s = iq_msg_dump(j);
    json_decref(j);

    iq_report_job job;
    iq_err cls = IQ_OK;
    assert_int_equal(iq_msg_parse_report_job(s, strlen(s), &job, &cls, &err), 0);
    free(s);
    assert_string_equal(job.job_id, UUID_A);
    assert_int_equal(job.report_id, 7);
    assert_string_equal(job.format, "pdf");
    assert_string_equal(job.lang, "pt-BR");
    assert_string_equal(job.filters.name, "Jo\xc3\xa3o's \"box\"");
    assert_int_equal(job.filters.secure, 1);
    assert_int_equal(job.filters.auto_check, 0);
    assert_int_equal(job.filters.keep_copy, 1);
    assert_int_equal(job.filters.active, 0);
    assert_int_equal(job.filters.last_check, IQ_LAST_CHECK_FAILED);
    assert_int_equal(job.schedule_id, 3);
    assert_int_equal(job.requested_at_ms, T0);
    assert_string_equal(job.requested_by, "cli:ops");
    iq_report_job_release(&job);
    assert_null(job.filters.name);

    /* No filters, no schedule: {} and null. */
    j = iq_msg_report_job_new(NULL, 8, "csv", "en", NULL, 0, T0, "scheduler", &err);
    assert_non_null(j);
    assert_int_equal(json_object_size(json_object_get(j, "filters")), 0);
    assert_true(json_is_null(json_object_get(j, "schedule_id")));
    s = iq_msg_dump(j);
    json_decref(j);
    assert_int_equal(iq_msg_parse_report_job(s, strlen(s), &job, &cls, &err), 0);
    free(s);
    assert_null(job.filters.name);
    assert_int_equal(job.filters.secure, -1);
    assert_int_equal(job.filters.auto_check, -1);
    assert_int_equal(job.filters.keep_copy, -1);
    assert_int_equal(job.filters.active, -1);
    assert_int_equal(job.filters.last_check, -1);
    assert_int_equal(job.schedule_id, 0);
    iq_report_job_release(&job);

    /* "active": null means all, like absence; an empty name is not written. */
    const char *txt = "{\"schema\":\"inboxq.report_job.v1\",\"job_id\":\"" UUID_B "\","
                      "\"report_id\":1,\"format\":\"html\",\"lang\":\"en\","
                      "\"filters\":{\"active\":null,\"secure\":false},\"schedule_id\":null,"
                      "\"requested_at\":\"2026-11-28T18:02:01.123Z\",\"requested_by\":\"x\"}";
    assert_int_equal(iq_msg_parse_report_job(txt, strlen(txt), &job, &cls, &err), 0);
    assert_int_equal(job.filters.active, -1);
    assert_int_equal(job.filters.secure, 0);
    iq_report_job_release(&job);

    iq_report_filters_init(&f);
    f.name = iq_xstrdup("");
    j = iq_msg_report_filters_new(&f, &err);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 0);
    json_decref(j);
    iq_report_filters_release(&f);

    /* The filters parser alone, as for reports.filters. */
    j = load("{\"name\":\"acme\",\"keep_copy\":true}");
    iq_report_filters_init(&f);
    assert_int_equal(iq_msg_parse_report_filters(j, &f, &err), 0);
    assert_string_equal(f.name, "acme");
    assert_int_equal(f.keep_copy, 1);
    assert_int_equal(f.active, -1);
    /* A second parse into the same struct replaces, and frees, the old name. */
    json_decref(j);
    j = load("{\"secure\":true}");
    assert_int_equal(iq_msg_parse_report_filters(j, &f, &err), 0);
    assert_null(f.name);
    assert_int_equal(f.secure, 1);
    assert_int_equal(f.keep_copy, -1);
    json_decref(j);
    iq_report_filters_release(&f);
}

static void test_report_job_rejects(void **state)
{
    (void)state;
    const char *I = "invalid_job";
    static const char *const required[] = {"job_id",       "report_id",   "format",
                                           "lang",         "filters",     "schedule_id",
                                           "requested_at", "requested_by"};
    for (size_t i = 0; i < IQ_ARRAY_LEN(required); i++)
        report_mutation(required[i], NULL, I, required[i]);
    report_mutation("schema", NULL, "unknown_schema", "schema");
    report_mutation("schema", "\"inboxq.check_job.v1\"", "unknown_schema", NULL);
    report_mutation("report_id", "0", I, "report_id");
    report_mutation("report_id", "\"7\"", I, "report_id");
    report_mutation("format", "\"docx\"", I, "format");
    report_mutation("format", "\"PDF\"", I, "format");
    report_mutation("lang", "\"fr\"", I, "lang");
    report_mutation("lang", "\"pt-br\"", I, "lang");
    report_mutation("filters", "null", I, "filters");
    report_mutation("filters", "[]", I, "filters");
    report_mutation("filters", "{\"owner\":\"x\"}", I, "filters: unexpected field \"owner\"");
    report_mutation("filters", "{\"secure\":\"yes\"}", I, "filters.secure");
    report_mutation("filters", "{\"secure\":null}", I, "filters.secure");
    report_mutation("filters", "{\"auto_check\":1}", I, "filters.auto_check");
    report_mutation("filters", "{\"keep_copy\":[]}", I, "filters.keep_copy");
    report_mutation("filters", "{\"active\":\"all\"}", I, "filters.active");
    report_mutation("filters", "{\"last_check\":\"partial\"}", I, "filters.last_check");
    report_mutation("filters", "{\"last_check\":true}", I, "filters.last_check");
    report_mutation("filters", "{\"name\":\"\"}", I, "filters.name");
    report_mutation("filters", "{\"name\":null}", I, "filters.name");
    report_mutation("filters", "{\"name\":\"a\\tb\"}", I, "filters.name");
    report_mutation("filters", "{\"name\":\"acme\",\"secure\":\"x\"}", I, "filters.secure");
    report_mutation("schedule_id", "0", I, "schedule_id");
    report_mutation("schedule_id", "\"3\"", I, "schedule_id: must be an integer or null");
    report_mutation("schedule_id", "3.5", I, "schedule_id");
    report_mutation("requested_at", "null", I, "requested_at");
    report_mutation("requested_by", "\"\"", I, "requested_by");
    report_mutation("note", "\"x\"", I, "unexpected field \"note\"");

    char *err = NULL;
    iq_report_filters f;
    iq_report_filters_init(&f);
    expect_build_fail(iq_msg_report_job_new(NULL, 1, "doc", "en", NULL, 0, T0, "x", &err), &err,
                      "format");
    expect_build_fail(iq_msg_report_job_new(NULL, 1, "csv", "de", NULL, 0, T0, "x", &err), &err,
                      "lang");
    expect_build_fail(iq_msg_report_job_new(NULL, 0, "csv", "en", NULL, 0, T0, "x", &err), &err,
                      "report_id");
    f.secure = 2;
    expect_build_fail(iq_msg_report_job_new(NULL, 1, "csv", "en", &f, 0, T0, "x", &err), &err,
                      "filters.secure");
    f.secure = -1;
    f.name = iq_xstrdup("a\nb");
    expect_build_fail(iq_msg_report_job_new(NULL, 1, "csv", "en", &f, 0, T0, "x", &err), &err,
                      "filters.name");
    iq_report_filters_release(&f);
    expect_build_fail(iq_msg_report_job_new(NULL, 1, "csv", "en", NULL, 0, T0, "", &err), &err,
                      "requested_by");

    /* A report job is not a check job, and the other way round. */
    json_t *j = iq_msg_report_job_new(NULL, 1, "csv", "en", NULL, 0, T0, "x", &err);
    char *s = iq_msg_dump(j);
    json_decref(j);
    expect_check_fail_str(s, "unknown_schema", "inboxq.report_job.v1");
    free(s);
    s = dump_check_job_base();
    iq_report_job job;
    iq_err cls;
    assert_int_equal(iq_msg_parse_report_job(s, strlen(s), &job, &cls, &err), -1);
    assert_string_equal(iq_err_name(cls), "unknown_schema");
    iq_report_job_release(&job);
    free(err);
    free(s);
}

/* ---------------------------------------------------------------- new-mail event */

static void test_new_mail(void **state)
{
    (void)state;
    char *err = NULL;
    iq_new_mail ev = sample_mail();
    json_t *j = iq_msg_new_mail_new(&ev, &err);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 16);
    assert_string_equal(sget(j, "schema"), IQ_MSG_SCHEMA_NEW_MAIL);
    assert_string_equal(iq_msg_id(j), UUID_B); /* the event_id, not the check's job_id */
    assert_string_equal(sget(j, "job_id"), UUID_A);
    assert_string_equal(sget(j, "from"), "Jo\xc3\xa3o <joao@example.org>");
    assert_string_equal(sget(j, "subject"), "Ol\xc3\xa1 \xe2\x82\xac");
    assert_string_equal(sget(j, "date"), "2026-11-28T18:01:56.123Z");
    assert_string_equal(sget(j, "sha256"), SHA_A);
    assert_int_equal(json_integer_value(json_object_get(j, "size")), 2048);
    assert_int_equal(json_integer_value(json_object_get(j, "message_row_id")), 1001);
    assert_null(json_object_get(j, "body"));
    json_decref(j);

    /* NULL fields become JSON null; a fresh event id; upper-case hash lowered. */
    ev.event_id = NULL;
    ev.message_id = ev.from = ev.to = ev.subject = NULL;
    ev.date_ms = IQ_MSG_TIME_NONE;
    ev.size = 0;
    char upper[65];
    for (int i = 0; i < 64; i++)
        upper[i] = (SHA_A[i] >= 'a' && SHA_A[i] <= 'f') ? (char)(SHA_A[i] - 32) : SHA_A[i];
    upper[64] = '\0';
    ev.sha256 = upper;
    j = iq_msg_new_mail_new(&ev, &err);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 16);
    assert_true(iq_msg_uuid_valid(sget(j, "event_id")));
    static const char *const nulls[] = {"message_id", "from", "to", "subject", "date"};
    for (size_t i = 0; i < IQ_ARRAY_LEN(nulls); i++)
        assert_true(json_is_null(json_object_get(j, nulls[i])));
    assert_string_equal(sget(j, "sha256"), SHA_A);
    char *s = iq_msg_dump(j);
    assert_non_null(strstr(s, "\"subject\":null"));
    free(s);
    json_decref(j);

    /* Header text that is not UTF-8 is repaired; long text is cut on a character boundary. */
    ev = sample_mail();
    ev.subject = "bad \xff\xfe and \xc3 truncated \xe2\x82";
    ev.from = "NUL-free but overlong \xc0\xaf and surrogate \xed\xa0\x80";
    char *longtext = iq_xmalloc(3 * 3000 + 1);
    for (int i = 0; i < 3000; i++)
        memcpy(longtext + i * 3, "\xe2\x82\xac", 3);
    longtext[9000] = '\0';
    ev.to = longtext;
    j = iq_msg_new_mail_new(&ev, &err);
    assert_non_null(j);
    assert_string_equal(sget(j, "subject"), "bad \xef\xbf\xbd\xef\xbf\xbd and \xef\xbf\xbd "
                                            "truncated \xef\xbf\xbd\xef\xbf\xbd");
    assert_null(strstr(sget(j, "from"), "\xc0"));
    size_t tl = strlen(sget(j, "to"));
    assert_true(tl <= IQ_MSG_TEXT_MAX);
    assert_int_equal(tl, 4095); /* 1365 whole euro signs */
    json_decref(j);
    free(longtext);

    /* Contract violations. */
    ev = sample_mail();
    ev.job_id = NULL;
    expect_build_fail(iq_msg_new_mail_new(&ev, &err), &err, "job_id");
    ev = sample_mail();
    ev.event_id = "x";
    expect_build_fail(iq_msg_new_mail_new(&ev, &err), &err, "event_id");
    ev = sample_mail();
    ev.account_id = 0;
    expect_build_fail(iq_msg_new_mail_new(&ev, &err), &err, "account_id");
    ev = sample_mail();
    ev.message_row_id = 0;
    expect_build_fail(iq_msg_new_mail_new(&ev, &err), &err, "message_row_id");
    ev = sample_mail();
    ev.account_name = NULL;
    expect_build_fail(iq_msg_new_mail_new(&ev, &err), &err, "account_name");
    ev = sample_mail();
    ev.mailbox = NULL;
    expect_build_fail(iq_msg_new_mail_new(&ev, &err), &err, "mailbox");
    ev = sample_mail();
    ev.server_id = NULL;
    expect_build_fail(iq_msg_new_mail_new(&ev, &err), &err, "server_id");
    ev = sample_mail();
    ev.size = -1;
    expect_build_fail(iq_msg_new_mail_new(&ev, &err), &err, "size");
    ev = sample_mail();
    ev.sha256 = "abc";
    expect_build_fail(iq_msg_new_mail_new(&ev, &err), &err, "sha256");
    ev = sample_mail();
    ev.sha256 = SHA_A "0";
    expect_build_fail(iq_msg_new_mail_new(&ev, &err), &err, "sha256");
    ev = sample_mail();
    ev.sha256 = NULL;
    expect_build_fail(iq_msg_new_mail_new(&ev, &err), &err, "sha256");
    ev = sample_mail();
    ev.fetched_at_ms = -1;
    expect_build_fail(iq_msg_new_mail_new(&ev, &err), &err, "fetched_at");
    /* A date beyond year 9999 is unusable: null, not an error. */
    ev = sample_mail();
    ev.date_ms = INT64_MAX;
    j = iq_msg_new_mail_new(&ev, &err);
    assert_non_null(j);
    assert_true(json_is_null(json_object_get(j, "date")));
    json_decref(j);
}

/* ---------------------------------------------------------------- dead letter */

static unsigned char *b64_decode(const char *s, size_t *len_r)
{
    size_t n = strlen(s);
    unsigned char *out = iq_xmalloc(n / 4 * 3 + 1);
    int l = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    assert_true(l >= 0);
    size_t pad = (n >= 1 && s[n - 1] == '=') + (n >= 2 && s[n - 2] == '=');
    *len_r = (size_t)l - pad;
    return out;
}

static void test_dead_letter(void **state)
{
    (void)state;
    char *err = NULL;
    iq_dead_letter dl = sample_dead();
    json_t *j = iq_msg_dead_letter_new(&dl, &err);
    assert_non_null(j);
    assert_string_equal(sget(j, "schema"), IQ_MSG_SCHEMA_DEAD_LETTER);
    assert_true(iq_msg_uuid_valid(iq_msg_id(j)));
    assert_string_equal(sget(j, "original_topic"), "inboxq.jobs.check");
    assert_int_equal(json_integer_value(json_object_get(j, "original_partition")), 3);
    assert_int_equal(json_integer_value(json_object_get(j, "original_offset")), 12345);
    assert_string_equal(sget(j, "original_key"), "42");
    assert_string_equal(sget(j, "original_value"), "{not json");
    assert_string_equal(sget(j, "original_value_encoding"), "utf-8");
    assert_null(json_object_get(j, "original_value_truncated"));
    assert_string_equal(sget(j, "error_class"), "invalid_json");
    assert_string_equal(sget(j, "failed_at"), "2026-11-28T18:02:01.123Z");
    assert_string_equal(sget(j, "worker"), "host-a:1234");
    json_decref(j);

    /* Binary payload with NUL bytes: base64, exact bytes back. Null key. Flattened error. */
    static const unsigned char bin[] = {0x00, 0xff, 0x7b, 0x22, 0x00, 0xc3, 0x28, 0x0a};
    dl.original_key = NULL;
    dl.original_value = bin;
    dl.original_value_len = sizeof(bin);
    dl.error = "line one\nline two\r\tend";
    dl.job_id = UUID_B;
    j = iq_msg_dead_letter_new(&dl, &err);
    assert_non_null(j);
    assert_string_equal(iq_msg_id(j), UUID_B);
    assert_true(json_is_null(json_object_get(j, "original_key")));
    assert_string_equal(sget(j, "original_value_encoding"), "base64");
    size_t n;
    unsigned char *back = b64_decode(sget(j, "original_value"), &n);
    assert_int_equal(n, sizeof(bin));
    assert_memory_equal(back, bin, sizeof(bin));
    free(back);
    assert_string_equal(sget(j, "error"), "line one line two  end");
    json_decref(j);

    /* UTF-8 with a NUL inside is base64 too; invalid UTF-8 in the key is repaired. */
    static const char with_nul[] = "{\"a\":\0}";
    dl = sample_dead();
    dl.original_value = with_nul;
    dl.original_value_len = sizeof(with_nul) - 1;
    dl.original_key = "4\xff\0"
                      "2";
    dl.original_key_len = 4;
    j = iq_msg_dead_letter_new(&dl, &err);
    assert_non_null(j);
    assert_string_equal(sget(j, "original_value_encoding"), "base64");
    assert_string_equal(sget(j, "original_key"), "4\xef\xbf\xbd\xef\xbf\xbd"
                                                 "2");
    json_decref(j);

    /* Empty and NULL payloads. */
    dl = sample_dead();
    dl.original_value = NULL;
    dl.original_value_len = 0;
    j = iq_msg_dead_letter_new(&dl, &err);
    assert_non_null(j);
    assert_string_equal(sget(j, "original_value"), "");
    assert_string_equal(sget(j, "original_value_encoding"), "utf-8");
    json_decref(j);

    /* A huge UTF-8 payload is cut on a character boundary and marked. */
    size_t big_len = IQ_MSG_DEAD_VALUE_MAX + 1000;
    char *big = iq_xmalloc(big_len);
    for (size_t i = 0; i + 3 <= big_len; i += 3)
        memcpy(big + i, "\xe2\x82\xac", 3);
    for (size_t i = big_len - big_len % 3; i < big_len; i++)
        big[i] = 'x';
    dl.original_value = big;
    dl.original_value_len = big_len;
    j = iq_msg_dead_letter_new(&dl, &err);
    assert_non_null(j);
    assert_string_equal(sget(j, "original_value_encoding"), "utf-8");
    assert_true(json_is_true(json_object_get(j, "original_value_truncated")));
    size_t vl = json_string_length(json_object_get(j, "original_value"));
    assert_true(vl <= IQ_MSG_DEAD_VALUE_MAX && vl % 3 == 0 && vl > IQ_MSG_DEAD_VALUE_MAX - 3);
    json_decref(j);
    /* ...and a huge binary one is cut before encoding. */
    big[0] = '\xff';
    j = iq_msg_dead_letter_new(&dl, &err);
    assert_non_null(j);
    assert_string_equal(sget(j, "original_value_encoding"), "base64");
    assert_true(json_is_true(json_object_get(j, "original_value_truncated")));
    back = b64_decode(sget(j, "original_value"), &n);
    assert_int_equal(n, IQ_MSG_DEAD_VALUE_MAX);
    assert_memory_equal(back, big, n);
    free(back);
    json_decref(j);
    free(big);

    /* Contract violations. */
    dl = sample_dead();
    dl.error_class = IQ_OK; /* a dead letter always has a cause */
    expect_build_fail(iq_msg_dead_letter_new(&dl, &err), &err, "error_class");
    dl = sample_dead();
    dl.original_topic = "";
    expect_build_fail(iq_msg_dead_letter_new(&dl, &err), &err, "original_topic");
    dl = sample_dead();
    dl.original_partition = -1;
    expect_build_fail(iq_msg_dead_letter_new(&dl, &err), &err, "original_partition");
    dl = sample_dead();
    dl.original_offset = -1001;
    expect_build_fail(iq_msg_dead_letter_new(&dl, &err), &err, "original_offset");
    dl = sample_dead();
    dl.worker = NULL;
    expect_build_fail(iq_msg_dead_letter_new(&dl, &err), &err, "worker");
    dl = sample_dead();
    dl.failed_at_ms = -5;
    expect_build_fail(iq_msg_dead_letter_new(&dl, &err), &err, "failed_at");
    dl = sample_dead();
    dl.job_id = "nope";
    expect_build_fail(iq_msg_dead_letter_new(&dl, &err), &err, "job_id");
}

/* A rejected job, dead-lettered, keeps the payload and the parser's class. */
static void test_dead_letter_from_parse(void **state)
{
    (void)state;
    static const char payload[] = "{\"schema\":\"inboxq.check_job.v9\"}";
    iq_check_job job;
    iq_err cls;
    char *err = NULL;
    assert_int_equal(iq_msg_parse_check_job(payload, sizeof(payload) - 1, &job, &cls, &err), -1);
    iq_dead_letter dl = sample_dead();
    dl.original_value = payload;
    dl.original_value_len = sizeof(payload) - 1;
    dl.error_class = cls;
    dl.error = err;
    char *err2 = NULL;
    json_t *j = iq_msg_dead_letter_new(&dl, &err2);
    assert_non_null(j);
    assert_string_equal(sget(j, "error_class"), "unknown_schema");
    assert_string_equal(sget(j, "original_value"), payload);
    assert_string_equal(sget(j, "error"), err);
    json_decref(j);
    free(err);
}

static void test_dump(void **state)
{
    (void)state;
    assert_null(iq_msg_dump(NULL));
    json_t *j = json_pack("{s:s, s:[i, i]}", "a", "\xc3\xa9\n", "b", 1, 2);
    char *s = iq_msg_dump(j);
    assert_string_equal(s, "{\"a\":\"\xc3\xa9\\n\",\"b\":[1,2]}");
    free(s);
    json_decref(j);
    assert_null(iq_msg_id(NULL));
}

/* ---------------------------------------------------------------- --emit-samples */

static int emit_line(FILE *f, json_t *j, char **err, const char *what)
{
    if (!j) {
        fprintf(stderr, "test_messages: building %s failed: %s\n", what, *err ? *err : "?");
        free(*err);
        *err = NULL;
        return -1;
    }
    char *s = iq_msg_dump(j);
    json_decref(j);
    fprintf(f, "%s\n", s);
    free(s);
    return 0;
}

static FILE *open_sample(const char *dir, const char *name)
{
    char *path = iq_xasprintf("%s/%s.jsonl", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "test_messages: cannot write %s\n", path);
    free(path);
    return f;
}

/* Writes check_job.jsonl, report_job.jsonl, new_mail.jsonl and dead_letter.jsonl into dir:
 * one compact message per line, built by the real builders, covering null and edge values. */
static int emit_samples(const char *dir)
{
    char *err = NULL;
    int rc = 0;
    FILE *f;

    if (!(f = open_sample(dir, "check_job")))
        return -1;
    rc |= emit_line(f, iq_msg_check_job_new(NULL, 1, T0, "scheduler", "scheduled", 1, 0, &err),
                    &err, "check job");
    rc |= emit_line(f,
                    iq_msg_check_job_new("0F8FAD5B-D9CB-469F-A165-70867728950E", INT64_MAX, 0,
                                         "cli:jo\xc3\xa3o", "manual", 1, 0, &err),
                    &err, "check job");
    rc |= emit_line(f,
                    iq_msg_check_job_new(UUID_B, 42, INT64_C(253402300799999), "worker", "retry",
                                         2147483647, T0 + 30000, &err),
                    &err, "check job");
    if (fclose(f) != 0)
        rc = -1;

    if (!(f = open_sample(dir, "report_job")))
        return -1;
    iq_report_filters fl;
    iq_report_filters_init(&fl);
    rc |= emit_line(f, iq_msg_report_job_new(NULL, 1, "csv", "en", NULL, 0, T0, "cli:ops", &err),
                    &err, "report job");
    fl.name = iq_xstrdup("Jo\xc3\xa3o \"quoted\" \\ name");
    fl.secure = 1;
    fl.auto_check = 0;
    fl.keep_copy = 1;
    fl.active = 1;
    rc |= emit_line(f,
                    iq_msg_report_job_new(UUID_A, 7, "pdf", "pt-BR", &fl, 3, T0, "scheduler", &err),
                    &err, "report job");
    iq_report_filters_release(&fl);
    fl.active = 0;
    rc |= emit_line(
        f,
        iq_msg_report_job_new(NULL, INT64_MAX, "html", "en", &fl, INT64_MAX, T0, "cli:root", &err),
        &err, "report job");
    if (fclose(f) != 0)
        rc = -1;

    if (!(f = open_sample(dir, "new_mail")))
        return -1;
    iq_new_mail ev = sample_mail();
    rc |= emit_line(f, iq_msg_new_mail_new(&ev, &err), &err, "new-mail event");
    ev.event_id = NULL;
    ev.message_id = ev.from = ev.to = ev.subject = NULL;
    ev.date_ms = IQ_MSG_TIME_NONE;
    ev.size = 0;
    rc |= emit_line(f, iq_msg_new_mail_new(&ev, &err), &err, "new-mail event");
    ev = sample_mail();
    ev.subject = "bad \xff\xfe bytes \xc3 and \xed\xa0\x80 control \x01\x1f";
    char *longtext = iq_xmalloc(3 * 3000 + 1);
    for (int i = 0; i < 3000; i++)
        memcpy(longtext + i * 3, "\xe2\x82\xac", 3);
    longtext[9000] = '\0';
    ev.to = longtext;
    ev.date_ms = 0;
    rc |= emit_line(f, iq_msg_new_mail_new(&ev, &err), &err, "new-mail event");
    free(longtext);
    if (fclose(f) != 0)
        rc = -1;

    if (!(f = open_sample(dir, "dead_letter")))
        return -1;
    iq_dead_letter dl = sample_dead();
    rc |= emit_line(f, iq_msg_dead_letter_new(&dl, &err), &err, "dead letter");
    static const unsigned char bin[] = {0x00, 0xff, 0x7b, 0x22, 0x00, 0xc3, 0x28, 0x0a};
    dl.original_key = NULL;
    dl.original_value = bin;
    dl.original_value_len = sizeof(bin);
    dl.error_class = IQ_ERR_UNKNOWN_SCHEMA;
    dl.error = "schema: \"x\"\nis not \"inboxq.check_job.v1\"";
    rc |= emit_line(f, iq_msg_dead_letter_new(&dl, &err), &err, "dead letter");
    size_t big_len = IQ_MSG_DEAD_VALUE_MAX + 10;
    char *big = iq_xmalloc(big_len);
    memset(big, 'v', big_len);
    dl = sample_dead();
    dl.original_key = "\xff\xfe";
    dl.original_key_len = 2;
    dl.original_value = big;
    dl.original_value_len = big_len;
    dl.error_class = IQ_ERR_ACCOUNT_DELETED;
    dl.error = NULL;
    rc |= emit_line(f, iq_msg_dead_letter_new(&dl, &err), &err, "dead letter");
    free(big);
    dl = sample_dead();
    dl.original_value = NULL;
    dl.original_value_len = 0;
    dl.original_offset = 0;
    dl.original_partition = 0;
    rc |= emit_line(f, iq_msg_dead_letter_new(&dl, &err), &err, "dead letter");
    if (fclose(f) != 0)
        rc = -1;
    return rc ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        if (argc == 3 && strcmp(argv[1], "--emit-samples") == 0)
            return emit_samples(argv[2]) == 0 ? 0 : 1;
        fprintf(stderr, "usage: test_messages [--emit-samples DIR]\n");
        return 64;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_uuid_valid),
        cmocka_unit_test(test_check_job_round_trip),
        cmocka_unit_test(test_check_job_builder_rejects),
        cmocka_unit_test(test_check_job_invalid_json),
        cmocka_unit_test(test_check_job_unknown_schema),
        cmocka_unit_test(test_check_job_invalid_job),
        cmocka_unit_test(test_check_job_mutations),
        cmocka_unit_test(test_report_job_round_trip),
        cmocka_unit_test(test_report_job_rejects),
        cmocka_unit_test(test_new_mail),
        cmocka_unit_test(test_dead_letter),
        cmocka_unit_test(test_dead_letter_from_parse),
        cmocka_unit_test(test_dump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
