/* SPDX-License-Identifier: MIT */
/* Cron expressions of report schedules (lib/cron.c): the parser on any text an operator may
 * type, and for each expression it accepts, iq_cron_next() checked against an independent
 * minute-by-minute evaluation (gmtime, Vixie cron's day rule): the next run is a matching
 * minute strictly after the start, no earlier minute matches, and an accepted expression
 * always fires again (the parser refuses those that never do). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cron.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* How far the brute-force search looks for an earlier match. */
#define SCAN_MINUTES 1440

static bool matches(const iq_cron *c, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        iq_fuzz_fail("gmtime_r failed for %lld", (long long)ms);
    if (!((c->minute >> tm.tm_min) & 1u) || !((c->hour >> tm.tm_hour) & 1u) ||
        !((c->month >> (tm.tm_mon + 1)) & 1u))
        return false;
    bool dom = (c->dom >> tm.tm_mday) & 1u, dow = (c->dow >> tm.tm_wday) & 1u;
    return (c->dom_star || c->dow_star) ? dom && dow : dom || dow;
}

static void check_next(const iq_cron *c, int64_t after)
{
    int64_t next = iq_cron_next(c, after);
    if (next < 0)
        iq_fuzz_fail("an accepted expression never fires after %lld", (long long)after);
    if (next <= after || next % 60000 != 0)
        iq_fuzz_fail("next %lld is not a whole minute after %lld", (long long)next,
                     (long long)after);
    if (!matches(c, next))
        iq_fuzz_fail("next %lld after %lld does not match the expression", (long long)next,
                     (long long)after);
    int64_t first = (after / 60000 + 1) * 60000;
    for (int64_t m = first, n = 0; m < next && n < SCAN_MINUTES; m += 60000, n++)
        if (matches(c, m))
            iq_fuzz_fail("next after %lld is %lld, but %lld matches already", (long long)after,
                         (long long)next, (long long)m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the expression arrives as a C string (command line, database) */
    char *expr = malloc(size + 1);
    if (!expr)
        return 0;
    memcpy(expr, data, size);
    expr[size] = '\0';
    iq_cron c;
    char *err = NULL;
    int rc = iq_cron_parse(expr, &c, &err);
    if (rc < 0) {
        if (!err || !strstr(err, "cron: "))
            iq_fuzz_fail("a refused expression must say why");
        free(err);
        free(expr);
        return 0;
    }
    if (err)
        iq_fuzz_fail("an accepted expression set an error: %s", err);
    if ((c.minute >> 60) || (c.hour >> 24) || (c.dom & 1u) || (c.month & 1u) || (c.month >> 13) ||
        (c.dow >> 7) || !c.minute || !c.hour || !c.dom || !c.month)
        iq_fuzz_fail("field bits out of range for '%s'", expr);
    /* an accepted day-of-week selects a day ("7/N" selected none before: the reproducer is
     * tests/fuzz/crashes/cron/dow-7-step-selects-nothing) */
    if (!c.dow)
        iq_fuzz_fail("day-of-week selects no day in the accepted '%s'", expr);
    /* 1970, a recent instant at odd seconds, just past a leap day, the end of a century */
    static const int64_t starts[] = {0, 1767225637123LL, 951868800000LL, 4107542340000LL};
    for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
        check_next(&c, starts[i]);
    free(expr);
    return 0;
}
