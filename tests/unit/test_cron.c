/* SPDX-License-Identifier: MIT */
/* Unit tests: cron parsing (errors name the field and token) and next-run times in UTC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cron.h"
#include "util.h"

/* Unix ms of a UTC date and time. */
static int64_t at(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    return (int64_t)timegm(&tm) * 1000;
}

static iq_cron parse_ok(const char *expr)
{
    iq_cron c;
    char *err = NULL;
    if (iq_cron_parse(expr, &c, &err) != 0) {
        print_error("'%s' failed: %s\n", expr, err ? err : "?");
        fail();
    }
    return c;
}

/* Asserts that expr is refused with an error containing each needle. */
static void parse_bad(const char *expr, const char *needle1, const char *needle2)
{
    iq_cron c;
    char *err = NULL;
    assert_int_equal(iq_cron_parse(expr, &c, &err), -1);
    assert_non_null(err);
    if ((needle1 && !strstr(err, needle1)) || (needle2 && !strstr(err, needle2))) {
        print_error("error for '%s' was: %s\n", expr, err);
        fail();
    }
    assert_null(strchr(err, '\n'));
    free(err);
}

static void test_parse_errors(void **state)
{
    (void)state;
    parse_bad("", "has 0 fields", "needs 5");
    parse_bad("* * * *", "has 4 fields", NULL);
    parse_bad("* * * * * *", "more than 5 fields", NULL);
    parse_bad("60 * * * *", "minute field '60'", "out of range 0-59");
    parse_bad("* 24 * * *", "hour field '24'", "0-23");
    parse_bad("* * 0 * *", "day-of-month field '0'", "1-31");
    parse_bad("* * 32 * *", "day-of-month field '32'", NULL);
    parse_bad("* * * 13 *", "month field '13'", "1-12");
    parse_bad("* * * * 8", "day-of-week field '8'", "0-7");
    parse_bad("5-1 * * * *", "minute field '5-1'", "backwards");
    parse_bad("*/0 * * * *", "minute field '*/0'", "step '0'");
    parse_bad("*/61 * * * *", "step '61'", "1 to 60");
    parse_bad("*/ * * * *", "the step after '/'", NULL);
    parse_bad("*/x * * * *", "step 'x'", NULL);
    parse_bad("1,,2 * * * *", "minute field '1,,2'", "empty list item");
    parse_bad("1, * * * *", "empty list item", NULL);
    parse_bad("foo * * * *", "minute field 'foo'", "'foo' is not a number");
    parse_bad("* * * jam *", "month field 'jam'", "jan-dec");
    parse_bad("* * * * mo", "day-of-week field 'mo'", "sun-sat");
    parse_bad("1- * * * *", "a number is missing", NULL);
    parse_bad("-1 * * * *", "a number is missing", NULL);
    parse_bad("1.5 * * * *", "unexpected character '.'", NULL);
    parse_bad("@reboot", "unknown macro '@reboot'", NULL);
    parse_bad("@daily extra", "unknown macro", NULL);
    parse_bad("0 0 30 2 *", "never fires", NULL);
    parse_bad("0 0 31 4,6,9,11 *", "never fires", NULL);
    parse_bad("99999999999999999999 * * * *", "minute field", NULL);
}

static void test_parse_forms(void **state)
{
    (void)state;
    iq_cron c = parse_ok("0 9 * jan-mar MON-Fri");
    assert_int_equal(c.month, 0xEu); /* bits 1..3 */
    assert_int_equal(c.dow, 0x3Eu);  /* bits 1..5 */
    c = parse_ok("0 0 * * fri-sun"); /* "sun" ends a range as 7 */
    assert_int_equal(c.dow, (1u << 5) | (1u << 6) | 1u);
    c = parse_ok("0 0 * * 7");
    assert_int_equal(c.dow, 1u);
    c = parse_ok("10-50/20 * * * *");
    assert_true(c.minute == ((1ull << 10) | (1ull << 30) | (1ull << 50)));
    c = parse_ok("5/20 * * * *");
    assert_true(c.minute == ((1ull << 5) | (1ull << 25) | (1ull << 45)));
    c = parse_ok("1,2,3-4 * * * *");
    assert_true(c.minute == 0x1Eull);
    c = parse_ok("  0\t12  *  *  *  ");
    assert_int_equal(c.hour, 1u << 12);
    iq_cron m = parse_ok("@daily"), d = parse_ok("0 0 * * *");
    assert_memory_equal(&m, &d, sizeof(m));
    m = parse_ok("@yearly");
    d = parse_ok("0 0 1 1 *");
    assert_memory_equal(&m, &d, sizeof(m));
    assert_true(parse_ok("@annually").month == 2u);
    assert_true(parse_ok("@monthly").dom == 2u);
    assert_true(parse_ok("@weekly").dow == 1u);
    assert_true(parse_ok("@hourly").hour == 0xFFFFFFu);
    assert_true(parse_ok("@midnight").hour == 1u);
    assert_true(parse_ok("0 0 1 * *").dom_star == false);
    assert_true(parse_ok("* * */2 * *").dom_star);
}

static void expect_next(const char *expr, int64_t after, int64_t want)
{
    iq_cron c = parse_ok(expr);
    int64_t got = iq_cron_next(&c, after);
    if (got != want) {
        char a[40], g[40], w[40];
        iq_format_time_utc(after, a, sizeof(a));
        iq_format_time_utc(got, g, sizeof(g));
        iq_format_time_utc(want, w, sizeof(w));
        print_error("'%s' after %s: got %s, want %s\n", expr, a, g, w);
        fail();
    }
}

static void test_next_basic(void **state)
{
    (void)state;
    /* Strictly after: a time on the boundary moves to the next occurrence. */
    expect_next("0 * * * *", at(2025, 3, 10, 10, 0), at(2025, 3, 10, 11, 0));
    expect_next("0 * * * *", at(2025, 3, 10, 10, 0) - 1, at(2025, 3, 10, 10, 0));
    expect_next("* * * * *", at(2025, 3, 10, 10, 0) + 30000, at(2025, 3, 10, 10, 1));
    expect_next("*/15 * * * *", at(2025, 3, 10, 10, 7), at(2025, 3, 10, 10, 15));
    expect_next("10-50/20 * * * *", at(2025, 3, 10, 10, 31), at(2025, 3, 10, 10, 50));
    expect_next("10-50/20 * * * *", at(2025, 3, 10, 10, 50), at(2025, 3, 10, 11, 10));
    expect_next("0 */6 * * *", at(2025, 3, 10, 7, 0), at(2025, 3, 10, 12, 0));
    expect_next("30 6 * * 1-5", at(2025, 3, 14, 7, 0), at(2025, 3, 17, 6, 30)); /* Fri->Mon */
    expect_next("0 0 * * 7", at(2025, 3, 10, 0, 0), at(2025, 3, 16, 0, 0));     /* Sunday */
    /* "7/N" starts at Sunday (7) like "0/N" (found by the cron fuzz target: it selected no day,
     * and with a * day of month it was refused as "day * does not exist") */
    expect_next("0 3 * * 7/4", at(2025, 3, 10, 0, 0), at(2025, 3, 16, 3, 0));
    expect_next("0 3 7 1 7/4", at(2025, 3, 10, 0, 0), at(2026, 1, 4, 3, 0)); /* a Jan. Sunday */
}

static void test_next_month_ends(void **state)
{
    (void)state;
    expect_next("0 0 31 * *", at(2025, 1, 31, 0, 0), at(2025, 3, 31, 0, 0));
    expect_next("0 0 31 * *", at(2025, 4, 15, 0, 0), at(2025, 5, 31, 0, 0));
    expect_next("0 0 30 * *", at(2025, 1, 30, 12, 0), at(2025, 3, 30, 0, 0));
    expect_next("0 0 1 * *", at(2025, 4, 30, 23, 59), at(2025, 5, 1, 0, 0));
    expect_next("@monthly", at(2025, 2, 28, 23, 59), at(2025, 3, 1, 0, 0));
}

static void test_next_leap_day(void **state)
{
    (void)state;
    expect_next("0 12 29 2 *", at(2025, 1, 1, 0, 0), at(2028, 2, 29, 12, 0));
    expect_next("0 12 29 2 *", at(2028, 2, 29, 12, 0), at(2032, 2, 29, 12, 0));
    expect_next("0 12 29 2 *", at(2024, 2, 29, 11, 59), at(2024, 2, 29, 12, 0));
    /* 2100 is not a leap year. */
    expect_next("0 0 29 2 *", at(2096, 3, 1, 0, 0), at(2104, 2, 29, 0, 0));
    /* The last day of February: 28th in common years, then the 29th in a leap year. */
    expect_next("0 0 28,29 2 *", at(2027, 2, 28, 0, 0), at(2028, 2, 28, 0, 0));
    expect_next("0 0 28,29 2 *", at(2028, 2, 28, 0, 0), at(2028, 2, 29, 0, 0));
}

static void test_next_year_end(void **state)
{
    (void)state;
    expect_next("0 0 1 1 *", at(2025, 12, 31, 23, 59), at(2026, 1, 1, 0, 0));
    expect_next("* * * * *", at(2025, 12, 31, 23, 59) + 59999, at(2026, 1, 1, 0, 0));
    expect_next("59 23 31 12 *", at(2025, 12, 31, 23, 59), at(2026, 12, 31, 23, 59));
    expect_next("0 0 * dec *", at(2025, 12, 31, 0, 0), at(2026, 12, 1, 0, 0));
}

static void test_next_dom_dow_or(void **state)
{
    (void)state;
    /* Both restricted: the 13th OR any Friday (2025-07-13 is a Sunday). */
    expect_next("0 0 13 * 5", at(2025, 7, 12, 0, 0), at(2025, 7, 13, 0, 0));
    expect_next("0 0 13 * 5", at(2025, 7, 13, 0, 0), at(2025, 7, 18, 0, 0));
    /* Days 1-7 OR Mondays: 2025-07-14 is a Monday past the 7th. */
    expect_next("0 0 1-7 * mon", at(2025, 7, 7, 0, 0), at(2025, 7, 14, 0, 0));
    /* dom '*': Mondays only. */
    expect_next("0 0 * * mon", at(2025, 7, 1, 0, 0), at(2025, 7, 7, 0, 0));
    /* dow '*': the 13th only. */
    expect_next("0 0 13 * *", at(2025, 7, 1, 0, 0), at(2025, 7, 13, 0, 0));
    /* Vixie: a day field starting with '*' (even "*\/2") makes it AND: odd days that are
     * Mondays (2025-07-07 is a Monday on an odd day). */
    expect_next("0 0 */2 * 1", at(2025, 7, 1, 0, 0), at(2025, 7, 7, 0, 0));
    expect_next("0 0 */2 * 1", at(2025, 7, 7, 0, 0), at(2025, 7, 21, 0, 0));
    /* "0 0 30 2 mon" never has Feb 30 but fires on Mondays in February (OR rule). */
    expect_next("0 0 30 2 mon", at(2025, 1, 1, 0, 0), at(2025, 2, 3, 0, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),    cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_next_basic),      cmocka_unit_test(test_next_month_ends),
        cmocka_unit_test(test_next_leap_day),   cmocka_unit_test(test_next_year_end),
        cmocka_unit_test(test_next_dom_dow_or),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
