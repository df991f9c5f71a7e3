/* SPDX-License-Identifier: MIT */
/* Skips in cmocka tests, never silent (the shell side is tests/lib/skip.bash):
 *  - IQ_SKIP(id, why) prints "SKIP - id: why", records "unit.PROGRAM: id: why" in $IQ_SKIP_LOG
 *    and counts it; iq_skip_status() turns cmocka's result into the exit status: the failures,
 *    else 77 ("Skipped" in ctest) when something was skipped, else 0;
 *  - with INBOXQ_TEST_NO_SKIP=1 (CI) a skip is a failure unless INBOXQ_TEST_ALLOW_SKIP (comma
 *    separated ids) names it.
 * Include after <cmocka.h>; one translation unit per test program. */
#ifndef IQ_TEST_SKIP_H
#define IQ_TEST_SKIP_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char *program_invocation_short_name; /* glibc */

static int iq_skipped;

static bool iq_skip_allowed(const char *id)
{
    const char *strict = getenv("INBOXQ_TEST_NO_SKIP");
    if (!strict || strcmp(strict, "1") != 0)
        return true;
    const char *allow = getenv("INBOXQ_TEST_ALLOW_SKIP");
    size_t n = strlen(id);
    for (const char *p = allow; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, id, n) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

static void iq_skip_note(const char *id, const char *why)
{
    iq_skipped++;
    print_message("SKIP - %s: %s\n", id, why);
    const char *log = getenv("IQ_SKIP_LOG");
    FILE *f = log && *log ? fopen(log, "a") : NULL;
    if (f) {
        fprintf(f, "unit.%s: %s: %s\n", program_invocation_short_name, id, why);
        fclose(f);
    }
}

#define IQ_SKIP(id, why)                                                                           \
    do {                                                                                           \
        if (!iq_skip_allowed(id))                                                                  \
            fail_msg("skipped (%s), and INBOXQ_TEST_NO_SKIP=1 forbids it: %s", (id), (why));       \
        iq_skip_note((id), (why));                                                                 \
        skip();                                                                                    \
    } while (0)

static inline int iq_skip_status(int failed)
{
    if (failed)
        return failed;
    return iq_skipped ? 77 : 0;
}

#endif
