/* SPDX-License-Identifier: MIT */
/* Allocation, checked arithmetic, strict parsing, clocks and UUIDs. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <pwd.h>
#include <unistd.h>

#include <sys/random.h>

void iq_oom(void)
{
    static const char msg[] = "inboxq: out of memory\n";
    fwrite(msg, 1, sizeof(msg) - 1, stderr);
    abort();
}

void *iq_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        iq_oom();
    return p;
}

void *iq_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        iq_oom();
    return p;
}

void *iq_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        iq_oom();
    return q;
}

char *iq_xstrdup(const char *s)
{
    return iq_xstrndup(s, strlen(s));
}

char *iq_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = iq_xmalloc(iq_size_add(len, 1));
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *iq_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        iq_oom();
    char *p = iq_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

size_t iq_size_add(size_t a, size_t b)
{
    if (a > SIZE_MAX - b) {
        static const char msg[] = "inboxq: size overflow\n";
        fwrite(msg, 1, sizeof(msg) - 1, stderr);
        abort();
    }
    return a + b;
}

size_t iq_size_mul(size_t a, size_t b)
{
    if (b != 0 && a > SIZE_MAX / b) {
        static const char msg[] = "inboxq: size overflow\n";
        fwrite(msg, 1, sizeof(msg) - 1, stderr);
        abort();
    }
    return a * b;
}

int iq_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out_r)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out_r = (int64_t)v;
    return 0;
}

int iq_parse_u64(const char *s, uint64_t max, uint64_t *out_r)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out_r = (uint64_t)v;
    return 0;
}

/* Splits "123abc" into 123 and "abc"; the suffix must be short. */
static int split_number(const char *s, uint64_t *num_r, char *suffix, size_t suffix_size)
{
    size_t i = 0;
    while (isdigit((unsigned char)s[i]))
        i++;
    if (i == 0 || i > 15)
        return -1;
    char digits[16];
    memcpy(digits, s, i);
    digits[i] = '\0';
    if (iq_parse_u64(digits, UINT64_MAX, num_r) < 0)
        return -1;
    size_t rest = strlen(s + i);
    if (rest >= suffix_size)
        return -1;
    memcpy(suffix, s + i, rest + 1);
    return 0;
}

int iq_parse_duration_ms(const char *s, int64_t *ms_r)
{
    uint64_t n;
    char suf[4];
    if (!s || split_number(s, &n, suf, sizeof(suf)) < 0)
        return -1;
    uint64_t mult;
    if (strcmp(suf, "") == 0 || strcmp(suf, "s") == 0)
        mult = 1000;
    else if (strcmp(suf, "ms") == 0)
        mult = 1;
    else if (strcmp(suf, "m") == 0)
        mult = 60 * 1000;
    else if (strcmp(suf, "h") == 0)
        mult = 3600 * 1000;
    else if (strcmp(suf, "d") == 0)
        mult = 86400ull * 1000;
    else
        return -1;
    if (n > (uint64_t)INT64_MAX / mult)
        return -1;
    *ms_r = (int64_t)(n * mult);
    return 0;
}

int iq_parse_size(const char *s, uint64_t *bytes_r)
{
    uint64_t n;
    char suf[4];
    if (!s || split_number(s, &n, suf, sizeof(suf)) < 0)
        return -1;
    uint64_t mult;
    if (strcmp(suf, "") == 0)
        mult = 1;
    else if (strcasecmp(suf, "k") == 0 || strcasecmp(suf, "kib") == 0)
        mult = 1024;
    else if (strcasecmp(suf, "m") == 0 || strcasecmp(suf, "mib") == 0)
        mult = 1024 * 1024;
    else if (strcasecmp(suf, "g") == 0 || strcasecmp(suf, "gib") == 0)
        mult = 1024ull * 1024 * 1024;
    else
        return -1;
    if (n > UINT64_MAX / mult)
        return -1;
    *bytes_r = n * mult;
    return 0;
}

int iq_parse_bool(const char *s, bool *out_r)
{
    static const char *const yes[] = {"yes", "true", "on", "1", "y", "sim"};
    static const char *const no[] = {"no", "false", "off", "0", "n", "nao", "não"};
    if (!s)
        return -1;
    for (size_t i = 0; i < IQ_ARRAY_LEN(yes); i++)
        if (strcasecmp(s, yes[i]) == 0) {
            *out_r = true;
            return 0;
        }
    for (size_t i = 0; i < IQ_ARRAY_LEN(no); i++)
        if (strcasecmp(s, no[i]) == 0) {
            *out_r = false;
            return 0;
        }
    return -1;
}

void iq_format_duration(int64_t ms, char *buf, size_t size)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (size_t i = 0; i < IQ_ARRAY_LEN(units); i++) {
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(buf, size, "%" PRId64 "%s", ms / units[i].ms, units[i].unit);
            return;
        }
    }
    snprintf(buf, size, "%" PRId64 "ms", ms);
}

int64_t iq_now_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec iq_deadline_ts(clockid_t clock, int64_t ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int64_t iq_now_real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void iq_format_time_utc(int64_t real_ms, char *buf, size_t size)
{
    time_t t = (time_t)(real_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[24];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", base, (int)(real_ms % 1000));
}

int64_t iq_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                  /* 0..399 */
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* March-based, 0..365 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* 0..146096 */
    return era * 146097 + doe - 719468;
}

const char *iq_strerror(int err, char *buf, size_t size)
{
    /* GNU strerror_r (we build with _GNU_SOURCE): returns a pointer that may not be buf. */
    return strerror_r(err, buf, size);
}

int iq_uuid_v4(char *buf, size_t size)
{
    unsigned char b[16];
    if (size < 37 || getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(buf, size, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}

void iq_hex_encode(const void *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

int iq_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void iq_secure_zero(void *p, size_t n)
{
    if (p)
        explicit_bzero(p, n);
}

void iq_secret_free(char **s)
{
    if (!s || !*s)
        return;
    iq_secure_zero(*s, strlen(*s));
    free(*s);
    *s = NULL;
}

bool iq_str_eq_nocase(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

bool iq_str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

void iq_operator_identity(char *buf, size_t size)
{
    if (size == 0)
        return;
    const char *user = NULL;
    if (getuid() == 0) {
        const char *sudo = getenv("SUDO_USER");
        user = sudo && *sudo ? sudo : NULL;
    }
    if (!user) {
        const char *env = getenv("USER");
        user = env && *env ? env : NULL;
    }
    struct passwd pwbuf, *pw = NULL;
    char pwmem[1024];
    if (!user && getpwuid_r(getuid(), &pwbuf, pwmem, sizeof(pwmem), &pw) == 0 && pw &&
        pw->pw_name && *pw->pw_name)
        user = pw->pw_name;
    char full[320];
    if (user)
        snprintf(full, sizeof(full), "cli:%s", user);
    else
        snprintf(full, sizeof(full), "cli:uid:%u", (unsigned)getuid());
    size_t max = size - 1 < 63 ? size - 1 : 63, n = strlen(full);
    if (n > max) {
        n = max;
        while (n > 4 && ((unsigned char)full[n] & 0xc0) == 0x80)
            n--; /* never cut a UTF-8 sequence */
    }
    memcpy(buf, full, n);
    buf[n] = '\0';
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '_';
}
