/* SPDX-License-Identifier: MIT */
/* Unit tests: strict parsing, the capped buffer, connection-string masking, log lines and the
 * settings table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pwd.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "config.h"
#include "i18n.h"
#include "log.h"
#include "util.h"

static void test_parse_i64(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(iq_parse_i64("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(iq_parse_i64("-5", -10, 10, &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(iq_parse_i64("101", 0, 100, &v), -1);
    assert_int_equal(iq_parse_i64("12x", 0, 100, &v), -1);
    assert_int_equal(iq_parse_i64("", 0, 100, &v), -1);
    assert_int_equal(iq_parse_i64(" 1", 0, 100, &v), -1);
    assert_int_equal(iq_parse_i64("99999999999999999999", 0, INT64_MAX, &v), -1);
}

static void test_parse_duration(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(iq_parse_duration_ms("30s", &ms), 0);
    assert_int_equal(ms, 30000);
    assert_int_equal(iq_parse_duration_ms("5m", &ms), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(iq_parse_duration_ms("1h", &ms), 0);
    assert_int_equal(ms, 3600000);
    assert_int_equal(iq_parse_duration_ms("1d", &ms), 0);
    assert_int_equal(ms, 86400000);
    assert_int_equal(iq_parse_duration_ms("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(iq_parse_duration_ms("7", &ms), 0);
    assert_int_equal(ms, 7000);
    assert_int_equal(iq_parse_duration_ms("5 m", &ms), -1);
    assert_int_equal(iq_parse_duration_ms("m", &ms), -1);
    assert_int_equal(iq_parse_duration_ms("-5s", &ms), -1);
    assert_int_equal(iq_parse_duration_ms("5w", &ms), -1);
    char buf[32];
    iq_format_duration(300000, buf, sizeof(buf));
    assert_string_equal(buf, "5m");
    iq_format_duration(90000, buf, sizeof(buf));
    assert_string_equal(buf, "90s");
}

static void test_parse_size(void **state)
{
    (void)state;
    uint64_t b;
    assert_int_equal(iq_parse_size("64k", &b), 0);
    assert_int_equal(b, 65536);
    assert_int_equal(iq_parse_size("10M", &b), 0);
    assert_int_equal(b, 10 * 1024 * 1024);
    assert_int_equal(iq_parse_size("1G", &b), 0);
    assert_int_equal(iq_parse_size("1T", &b), -1);
    assert_int_equal(iq_parse_size("k", &b), -1);
}

static void test_buf_cap(void **state)
{
    (void)state;
    iq_buf b;
    iq_buf_init(&b, 10);
    assert_int_equal(iq_buf_append_str(&b, "hello"), 0);
    assert_int_equal(iq_buf_append_str(&b, "world"), 0);
    assert_int_equal(b.len, 10);
    assert_int_equal(iq_buf_append_char(&b, '!'), -1);
    assert_string_equal(b.data, "helloworld");
    iq_buf_consume(&b, 5);
    assert_string_equal(b.data, "world");
    assert_int_equal(iq_buf_appendf(&b, "%d", 12345), 0);
    assert_int_equal(iq_buf_appendf(&b, "%d", 1), -1);
    assert_string_equal(b.data, "world12345");
    iq_buf_release(&b);
    /* no limit but memory: max + 1 wrapped to 0 and shrank the buffer to one byte */
    iq_buf_init(&b, SIZE_MAX);
    for (int i = 0; i < 100; i++)
        assert_int_equal(iq_buf_appendf(&b, "%d,", i), 0);
    assert_int_equal(b.len, 290);
    assert_string_equal(b.data + 281, "97,98,99,");
    iq_buf_release(&b);
}

static void test_deadline_ts(void **state)
{
    (void)state;
    for (int64_t ms = 0; ms <= 2999; ms += 333) {
        struct timespec now, at = iq_deadline_ts(CLOCK_MONOTONIC, ms);
        clock_gettime(CLOCK_MONOTONIC, &now);
        assert_true(at.tv_nsec >= 0 && at.tv_nsec < 1000000000L);
        int64_t ahead =
            ((int64_t)at.tv_sec - now.tv_sec) * 1000 + (at.tv_nsec - now.tv_nsec) / 1000000;
        assert_true(ahead <= ms && ahead >= ms - 50);
    }
}

static void test_conninfo_mask(void **state)
{
    (void)state;
    char a[] = "host=db password=hunter2 user=x";
    iq_conninfo_mask(a);
    assert_null(strstr(a, "hunter2"));
    assert_non_null(strstr(a, "user=x"));
    char q[] = "host=db password = 'hun ter\\'2' user=x";
    iq_conninfo_mask(q);
    assert_null(strstr(q, "hun"));
    assert_null(strstr(q, "ter"));
    assert_non_null(strstr(q, "user=x"));
    /* libpq skips tabs and newlines around '=' as well (found by fuzz_config) */
    char w[] = "host=db password=\n3cr3t-pw user=x";
    iq_conninfo_mask(w);
    assert_null(strstr(w, "3cr3t"));
    assert_non_null(strstr(w, "user=x"));
    char t[] = "host=db password\t=\t3cr3t-pw";
    iq_conninfo_mask(t);
    assert_null(strstr(t, "3cr3t"));
    char b[] = "redis://:s3cret@127.0.0.1:6379/0";
    iq_conninfo_mask(b);
    assert_null(strstr(b, "s3cret"));
    assert_non_null(strstr(b, "127.0.0.1:6379"));
    /* as typed: '/', '@' and spaces in the password (masking stopped at '/' before) */
    char c[] = "redis://default:pa/ss w@rd@127.0.0.1:6379/0";
    iq_conninfo_mask(c);
    assert_null(strstr(c, "pa/ss"));
    assert_null(strstr(c, "rd@"));
    assert_non_null(strstr(c, "default:"));
    assert_non_null(strstr(c, "@127.0.0.1:6379/0"));
    char e[] = "postgresql://inboxq:pw123@127.0.0.1:5432/inboxq";
    iq_conninfo_mask(e);
    assert_null(strstr(e, "pw123"));
}

/* Log lines are what was written: no word in ordinary text is taken for a secret. */
static void test_log_not_garbled(void **state)
{
    (void)state;
    char *data = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&data, &len);
    assert_non_null(f);
    iq_log_setup("test", IQ_LOG_INFO, IQ_LOG_TEXT, f);
    IQ_WARN("the server rejected the login of user 'alice'");
    IQ_WARN("credential set-secret: give exactly one of --password-stdin or --password-file");
    IQ_WARN("secret: is empty; give the password");
    fflush(f);
    assert_non_null(strstr(data, "the server rejected the login of user 'alice'"));
    assert_non_null(strstr(data, "set-secret: give exactly one of --password-stdin"));
    assert_non_null(strstr(data, "secret: is empty; give the password"));
    assert_null(strstr(data, "**"));
    iq_log_setup("test", IQ_LOG_INFO, IQ_LOG_TEXT, stderr);
    fclose(f);
    free(data);
}

static void test_config_table(void **state)
{
    (void)state;
    iq_config *cfg = iq_config_new();
    char *err = NULL;
    assert_int_equal(iq_config_int(cfg, IQ_SET_CHECK_TIMEOUT), 600000);
    assert_int_equal(iq_config_set(cfg, "check_timeout", "2m", "test", &err), 0);
    assert_int_equal(iq_config_int(cfg, IQ_SET_CHECK_TIMEOUT), 120000);
    assert_int_equal(iq_config_set(cfg, "INBOXQ_CONCURRENCY", "8", "test", &err), 0);
    assert_int_equal(iq_config_int(cfg, IQ_SET_CONCURRENCY), 8);

    assert_int_equal(iq_config_set(cfg, "concurrency", "0", "test", &err), -1);
    assert_non_null(strstr(err, "concurrency"));
    assert_non_null(strstr(err, "INBOXQ_CONCURRENCY"));
    assert_non_null(strstr(err, "'0'"));
    free(err);
    err = NULL;

    assert_int_equal(iq_config_set(cfg, "no_such_key", "1", "test", &err), -1);
    assert_non_null(strstr(err, "no_such_key"));
    free(err);
    err = NULL;

    assert_int_equal(iq_config_set(cfg, "log_level", "loud", "test", &err), -1);
    assert_non_null(strstr(err, "debug|info|warn|error"));
    free(err);
    err = NULL;

    /* A secret setting's value never appears in its error. */
    assert_int_equal(iq_config_set(cfg, "pg_dsn", "x\npassword=zz", "test", &err), -1);
    assert_null(strstr(err, "zz"));
    free(err);

    size_t n;
    const iq_setting_def *defs = iq_config_defs(&n);
    assert_int_equal(n, IQ_SET__COUNT);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(defs[i].id, (int)i);
        assert_true(strncmp(defs[i].env, "INBOXQ_", 7) == 0);
        assert_true(strlen(defs[i].help) > 10);
    }
    iq_config_free(&cfg);
    assert_null(cfg);
}

static void test_uuid(void **state)
{
    (void)state;
    char a[37], b[37];
    assert_int_equal(iq_uuid_v4(a, sizeof(a)), 0);
    assert_int_equal(iq_uuid_v4(b, sizeof(b)), 0);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[14], '4');
    assert_string_not_equal(a, b);
}

/* The one civil-date helper agrees with glibc's timegm on every first and last day of a month
 * from 1900 to 9999 (what the mail Date and RFC 3339 parsers accept), and before 1970. */
static void test_days_from_civil(void **state)
{
    (void)state;
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    assert_int_equal(iq_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(iq_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(iq_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(iq_days_from_civil(9999, 12, 31), 2932896);
    for (int y = 1900; y <= 9999; y++) {
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        for (int m = 1; m <= 12; m++) {
            int last = mdays[m - 1] + (m == 2 && leap);
            for (int d = 1; d <= last; d += last - 1) {
                struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
                assert_int_equal(iq_days_from_civil(y, m, d) * 86400, (int64_t)timegm(&tm));
            }
        }
    }
}

/* A JSON log line is whole even when every byte of the longest message needs escaping, and a
 * message past the cap is replaced by a note, not cut. */
static void test_log_line_whole(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    iq_log_setup("test", IQ_LOG_INFO, IQ_LOG_JSON, out);
    char *msg = iq_xmalloc(16 * 1024 - 1);
    memset(msg, 0x01, 16 * 1024 - 2);
    msg[16 * 1024 - 2] = '\0';
    IQ_INFO("%s", msg);
    assert_int_equal(fflush(out), 0);
    assert_true(len > 6 * (16 * 1024 - 2));
    assert_string_equal(text + len - 3, "\"}\n");
    size_t first = len;
    memset(msg, 'x', 16 * 1024 - 2);
    IQ_INFO("%s and more", msg);
    assert_int_equal(fflush(out), 0);
    assert_non_null(strstr(text + first, "\"message\":\"(log message too long, dropped)\"}\n"));
    iq_log_setup("test", IQ_LOG_OFF, IQ_LOG_TEXT, NULL);
    assert_int_equal(fclose(out), 0);
    free(text);
    free(msg);
}

/* The thread-safe strerror: the text of an errno value, in buf or static, never NULL. */
static void test_strerror(void **state)
{
    (void)state;
    char buf[IQ_STRERROR_SIZE];
    assert_string_equal(iq_strerror(ENOENT, buf, sizeof(buf)), "No such file or directory");
    assert_string_equal(IQ_STRERROR(EACCES), "Permission denied");
    assert_string_equal(iq_strerror(99999, buf, sizeof(buf)), "Unknown error 99999");
    char tiny[4];
    assert_non_null(iq_strerror(99999, tiny, sizeof(tiny))); /* cut, still a string */
    assert_true(strlen(iq_strerror(99999, tiny, sizeof(tiny))) < sizeof(tiny));
}

/* One operator identity (hardening item 22): cli: and the user name, from the uid without
 * $USER, cut to 63 bytes on a UTF-8 boundary. */
static void test_operator_identity(void **state)
{
    (void)state;
    char buf[64], want[80];
    unsetenv("SUDO_USER");
    setenv("USER", "alice", 1);
    iq_operator_identity(buf, sizeof(buf));
    assert_string_equal(buf, "cli:alice");
    unsetenv("USER");
    const struct passwd *pw = getpwuid(getuid());
    assert_non_null(pw);
    snprintf(want, sizeof(want), "cli:%s", pw->pw_name);
    iq_operator_identity(buf, sizeof(buf));
    assert_string_equal(buf, want);
    setenv("USER", "a\tb", 1);
    iq_operator_identity(buf, sizeof(buf));
    assert_string_equal(buf, "cli:a_b");
    /* 30 two-byte characters: 4 + 60 bytes, cut to 63 on a boundary (4 + 58) */
    char longname[61];
    for (int i = 0; i < 30; i++)
        memcpy(longname + 2 * i, "\xc3\xa9", 2);
    longname[60] = '\0';
    setenv("USER", longname, 1);
    iq_operator_identity(buf, sizeof(buf));
    assert_int_equal(strlen(buf), 62);
    unsetenv("USER");
}

/* One time format for people per language, RFC 3339 for machines (hardening item 26). */
static void test_time_formats(void **state)
{
    (void)state;
    char buf[64];
    const int64_t t = 1764352921123; /* 2025-11-28T18:02:01.123Z */
    iq_i18n_time(IQ_LANG_EN, t, buf, sizeof(buf));
    assert_string_equal(buf, "2025-11-28 18:02 UTC");
    iq_i18n_time(IQ_LANG_PT_BR, t, buf, sizeof(buf));
    assert_string_equal(buf, "28/11/2025 18:02 UTC");
    iq_time_rfc3339(t, buf, sizeof(buf));
    assert_string_equal(buf, "2025-11-28T18:02:01Z");
    iq_i18n_time_text(IQ_LANG_EN, "2025-11-28T18:02:01Z", buf, sizeof(buf));
    assert_string_equal(buf, "2025-11-28 18:02 UTC");
    iq_i18n_time_text(IQ_LANG_PT_BR, "2025-11-28T18:02:01.123Z", buf, sizeof(buf));
    assert_string_equal(buf, "28/11/2025 18:02 UTC");
    iq_i18n_time_text(IQ_LANG_EN, NULL, buf, sizeof(buf));
    assert_string_equal(buf, "-");
    iq_i18n_time_text(IQ_LANG_EN, "soon", buf, sizeof(buf));
    assert_string_equal(buf, "soon");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_i64),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_buf_cap),
        cmocka_unit_test(test_deadline_ts),
        cmocka_unit_test(test_conninfo_mask),
        cmocka_unit_test(test_log_not_garbled),
        cmocka_unit_test(test_config_table),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_days_from_civil),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_log_line_whole),
        cmocka_unit_test(test_operator_identity),
        cmocka_unit_test(test_time_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
