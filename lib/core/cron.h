/* SPDX-License-Identifier: MIT */
/* Five-field cron expressions (minute hour day-of-month month day-of-week) evaluated in UTC,
 * with Vixie cron's rules: names, ranges, steps, lists, @macros and the dom/dow OR rule. */
#ifndef IQ_CRON_H
#define IQ_CRON_H

#include <stdbool.h>
#include <stdint.h>

/* A parsed expression; a caller-owned value (nothing to release). */
typedef struct iq_cron {
    uint64_t minute; /* bits 0..59 */
    uint32_t hour;   /* bits 0..23 */
    uint32_t dom;    /* bits 1..31 */
    uint32_t month;  /* bits 1..12 */
    uint32_t dow;    /* bits 0..6, Sunday = 0 */
    /* Vixie cron: a day field that starts with '*' does not take part in the OR rule. When
     * both day fields are restricted a day matches if EITHER matches, otherwise BOTH. */
    bool dom_star;
    bool dow_star;
} iq_cron;

/* Parses "m h dom mon dow" or @hourly/@daily/@midnight/@weekly/@monthly/@yearly/@annually.
 * 0, or -1 with *error_r naming the field and the bad token. An expression that can never
 * fire (e.g. "0 0 30 2 *") is refused too. */
int iq_cron_parse(const char *expr, iq_cron *c_r, char **error_r);
/* The first matching minute strictly after after_ms (Unix milliseconds, UTC), in Unix
 * milliseconds; -1 when none within the next 28 years. */
int64_t iq_cron_next(const iq_cron *c, int64_t after_ms);

#endif
