/* SPDX-License-Identifier: MIT */
/* Cron expressions: a strict parser for the five fields and the next-run computation in UTC. */
#include "cron.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

typedef struct field_def {
    const char *name;
    int min, max;
    const char *const *names; /* 3-letter names for min.., or NULL */
} field_def;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

enum { F_MINUTE, F_HOUR, F_DOM, F_MONTH, F_DOW, F_COUNT };

static const field_def fields[F_COUNT] = {
    {"minute", 0, 59, NULL},          {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL},    {"month", 1, 12, month_names},
    {"day-of-week", 0, 7, dow_names}, /* 7 is Sunday too */
};

static const struct {
    const char *name;
    const char *expr;
} macros[] = {
    {"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},   {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
};

/* Parses one value (a number or a name) from tok[0..n). is_range_end lets "sun" mean 7 at
 * the end of a day-of-week range ("fri-sun"). 0 or -1 with *error_r. */
static int parse_value(const field_def *f, const char *field_tok, const char *tok, size_t n,
                       bool is_range_end, int *v_r, char **error_r)
{
    if (n == 0) {
        *error_r = iq_xasprintf(
            "cron: %s field '%s': a number is missing (use %d-%d%s)", f->name, field_tok, f->min,
            f->max, f->names ? (f->names == month_names ? " or jan-dec" : " or sun-sat") : "");
        return -1;
    }
    char tmp[16];
    if (n >= sizeof(tmp))
        goto bad;
    memcpy(tmp, tok, n);
    tmp[n] = '\0';
    if (tmp[0] >= '0' && tmp[0] <= '9') {
        int64_t v;
        if (iq_parse_i64(tmp, 0, 9999, &v) < 0)
            goto bad;
        if (v < f->min || v > f->max) {
            *error_r = iq_xasprintf("cron: %s field '%s': %lld is out of range %d-%d", f->name,
                                    field_tok, (long long)v, f->min, f->max);
            return -1;
        }
        *v_r = (int)v;
        return 0;
    }
    if (f->names) {
        for (int i = 0; f->names[i]; i++) {
            if (iq_str_eq_nocase(tmp, f->names[i])) {
                *v_r = f->min + i;
                if (is_range_end && f->names == dow_names && i == 0)
                    *v_r = 7;
                return 0;
            }
        }
    }
bad:
    if (f->names)
        *error_r = iq_xasprintf("cron: %s field '%s': '%.*s' is not a number or a name (use "
                                "%d-%d or %s)",
                                f->name, field_tok, (int)n, tok, f->min, f->max,
                                f->names == month_names ? "jan-dec" : "sun-sat");
    else
        *error_r = iq_xasprintf("cron: %s field '%s': '%.*s' is not a number (use %d-%d)", f->name,
                                field_tok, (int)n, tok, f->min, f->max);
    return -1;
}

/* Parses one comma-separated field into a bit set. */
static int parse_field(const field_def *f, const char *tok, uint64_t *bits_r, bool *star_r,
                       char **error_r)
{
    uint64_t bits = 0;
    const char *p = tok;
    *star_r = tok[0] == '*';
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0) {
            *error_r = iq_xasprintf("cron: %s field '%s': empty list item (remove the extra ',')",
                                    f->name, tok);
            return -1;
        }
        const char *slash = memchr(p, '/', n);
        size_t base_n = slash ? (size_t)(slash - p) : n;
        int lo, hi, step = 1;
        if (base_n == 1 && p[0] == '*') {
            lo = f->min;
            hi = f->max == 7 ? 6 : f->max;
        } else {
            const char *dash = memchr(p, '-', base_n);
            size_t lo_n = dash ? (size_t)(dash - p) : base_n;
            if (parse_value(f, tok, p, lo_n, false, &lo, error_r) < 0)
                return -1;
            if (dash) {
                if (parse_value(f, tok, dash + 1, base_n - lo_n - 1, true, &hi, error_r) < 0)
                    return -1;
                if (hi < lo) {
                    *error_r = iq_xasprintf("cron: %s field '%s': range %d-%d is backwards (write "
                                            "the smaller bound first)",
                                            f->name, tok, lo, hi);
                    return -1;
                }
            } else {
                /* "5/15" means from 5 to the end, every 15; a bare value is just itself. In the
                 * day of the week 7 is Sunday again: "7/N" is Sunday (it selected nothing). */
                hi = slash ? (f->max == 7 ? (lo == 7 ? 7 : 6) : f->max) : lo;
            }
        }
        if (slash) {
            size_t sn = n - base_n - 1;
            char tmp[8];
            int64_t v;
            if (sn == 0 || sn >= sizeof(tmp)) {
                *error_r = iq_xasprintf("cron: %s field '%s': the step after '/' must be a "
                                        "number from 1 to %d",
                                        f->name, tok, f->max - f->min + (f->max == 7 ? 0 : 1));
                return -1;
            }
            memcpy(tmp, slash + 1, sn);
            tmp[sn] = '\0';
            if (iq_parse_i64(tmp, 1, f->max - f->min + (f->max == 7 ? 0 : 1), &v) < 0) {
                *error_r = iq_xasprintf("cron: %s field '%s': step '%s' must be a number from 1 "
                                        "to %d",
                                        f->name, tok, tmp, f->max - f->min + (f->max == 7 ? 0 : 1));
                return -1;
            }
            step = (int)v;
        }
        for (int v = lo; v <= hi; v += step)
            bits |= (uint64_t)1 << (v == 7 && f->max == 7 ? 0 : v);
        if (!end)
            break;
        p = end + 1;
    }
    *bits_r = bits;
    return 0;
}

int iq_cron_parse(const char *expr, iq_cron *c_r, char **error_r)
{
    memset(c_r, 0, sizeof(*c_r));
    const char *s = expr ? expr : "";
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '@') {
        size_t n = strcspn(s, " \t");
        const char *rest = s + n + strspn(s + n, " \t");
        for (size_t i = 0; i < IQ_ARRAY_LEN(macros); i++) {
            if (strlen(macros[i].name) == n && strncmp(s, macros[i].name, n) == 0 && !*rest)
                return iq_cron_parse(macros[i].expr, c_r, error_r);
        }
        *error_r = iq_xasprintf("cron: unknown macro '%.*s' (use @hourly, @daily, @weekly, "
                                "@monthly or @yearly, or five fields 'm h dom mon dow')",
                                (int)n, s);
        return -1;
    }
    char tok[F_COUNT][64];
    int nf = 0;
    while (*s) {
        size_t n = strcspn(s, " \t");
        if (nf == F_COUNT) {
            *error_r = iq_xasprintf("cron: '%s' has more than 5 fields; write 'minute hour "
                                    "day-of-month month day-of-week', e.g. '0 6 * * 1-5'",
                                    expr);
            return -1;
        }
        if (n >= sizeof(tok[0])) {
            *error_r =
                iq_xasprintf("cron: %s field is too long (%zu characters)", fields[nf].name, n);
            return -1;
        }
        memcpy(tok[nf], s, n);
        tok[nf][n] = '\0';
        nf++;
        s += n;
        s += strspn(s, " \t");
    }
    if (nf != F_COUNT) {
        *error_r = iq_xasprintf("cron: '%s' has %d field%s, needs 5: 'minute hour day-of-month "
                                "month day-of-week', e.g. '0 6 * * 1-5'",
                                expr ? expr : "", nf, nf == 1 ? "" : "s");
        return -1;
    }
    uint64_t bits[F_COUNT];
    bool star[F_COUNT];
    for (int i = 0; i < F_COUNT; i++) {
        for (const char *p = tok[i]; *p; p++) {
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                  (*p >= 'A' && *p <= 'Z') || *p == '*' || *p == '-' || *p == '/' || *p == ',')) {
                *error_r = iq_xasprintf("cron: %s field '%s': unexpected character '%c'",
                                        fields[i].name, tok[i], *p);
                return -1;
            }
        }
        if (parse_field(&fields[i], tok[i], &bits[i], &star[i], error_r) < 0)
            return -1;
    }
    c_r->minute = bits[F_MINUTE];
    c_r->hour = (uint32_t)bits[F_HOUR];
    c_r->dom = (uint32_t)bits[F_DOM];
    c_r->month = (uint32_t)bits[F_MONTH];
    c_r->dow = (uint32_t)bits[F_DOW];
    c_r->dom_star = star[F_DOM];
    c_r->dow_star = star[F_DOW];
    if (iq_cron_next(c_r, 0) < 0) {
        *error_r = iq_xasprintf("cron: '%s' never fires (day %s does not exist in month %s)", expr,
                                tok[F_DOM], tok[F_MONTH]);
        return -1;
    }
    return 0;
}

/* The inverse of iq_days_from_civil (H. Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y_r, unsigned *m_r, unsigned *d_r)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    *y_r = y + (m <= 2);
    *m_r = m;
    *d_r = d;
}

static bool day_matches(const iq_cron *c, unsigned dom, int64_t days)
{
    int64_t w = (days % 7 + 7 + 4) % 7; /* 1970-01-01 was a Thursday */
    bool dom_ok = (c->dom >> dom) & 1u;
    bool dow_ok = (c->dow >> w) & 1u;
    if (c->dom_star || c->dow_star)
        return dom_ok && dow_ok;
    return dom_ok || dow_ok;
}

int64_t iq_cron_next(const iq_cron *c, int64_t after_ms)
{
    int64_t minutes = (after_ms >= 0 ? after_ms / 60000 : -((-after_ms + 59999) / 60000)) + 1;
    int64_t days = minutes >= 0 ? minutes / 1440 : -((-minutes + 1439) / 1440);
    int mod = (int)(minutes - days * 1440);
    int64_t limit = days + 28 * 366;
    while (days <= limit) {
        int64_t y;
        unsigned m, d;
        civil_from_days(days, &y, &m, &d);
        if (!((c->month >> m) & 1u)) {
            days = m == 12 ? iq_days_from_civil(y + 1, 1, 1) : iq_days_from_civil(y, (int)m + 1, 1);
            mod = 0;
            continue;
        }
        if (day_matches(c, d, days)) {
            for (int h = mod / 60; h < 24; h++) {
                if (!((c->hour >> h) & 1u))
                    continue;
                for (int mi = h == mod / 60 ? mod % 60 : 0; mi < 60; mi++)
                    if ((c->minute >> mi) & 1u)
                        return ((days * 1440) + h * 60 + mi) * 60000;
            }
        }
        days++;
        mod = 0;
    }
    return -1;
}
