/* SPDX-License-Identifier: MIT */
/* Small helpers every module uses: allocation that aborts on OOM, checked sizes,
 * strict number parsing, durations, clocks and UUIDs. */
#ifndef IQ_UTIL_H
#define IQ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define IQ_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define IQ_UNUSED(x) ((void)(x))

#if defined(__GNUC__)
#define IQ_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define IQ_NORETURN __attribute__((noreturn))
#define IQ_MUST_CHECK __attribute__((warn_unused_result))
#else
#define IQ_PRINTF(f, a)
#define IQ_NORETURN
#define IQ_MUST_CHECK
#endif
/* Drops an IQ_MUST_CHECK result that cannot matter; say why beside it. GCC warns about a plain
 * (void) cast of such a result, so the result is consumed instead. */
#define IQ_IGNORE_RESULT(call) ((void)!(call))

void *iq_xmalloc(size_t n);
void *iq_xcalloc(size_t nmemb, size_t size);
void *iq_xrealloc(void *p, size_t n);
char *iq_xstrdup(const char *s);
char *iq_xstrndup(const char *s, size_t n);
char *iq_xasprintf(const char *fmt, ...) IQ_PRINTF(1, 2);
IQ_NORETURN void iq_oom(void);

/* Overflow-checked size arithmetic: abort on overflow (a programming error or hostile size). */
size_t iq_size_add(size_t a, size_t b);
size_t iq_size_mul(size_t a, size_t b);

/* Strict parsers: the whole string must be a number in [min, max]. 0 on success, -1 otherwise. */
int iq_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out_r);
int iq_parse_u64(const char *s, uint64_t max, uint64_t *out_r);
/* "500ms", "30s", "5m", "1h", "1d" or a bare number of seconds -> milliseconds. */
int iq_parse_duration_ms(const char *s, int64_t *ms_r);
/* "1024", "64k", "10M", "1G" (binary multiples) -> bytes. */
int iq_parse_size(const char *s, uint64_t *bytes_r);
/* "yes/no/true/false/on/off/1/0" -> bool. */
int iq_parse_bool(const char *s, bool *out_r);
/* Formats a duration as the shortest exact form ("5m", "90s", "250ms"). */
void iq_format_duration(int64_t ms, char *buf, size_t size);

int64_t iq_now_mono_ms(void);
int64_t iq_now_real_ms(void);
/* The moment ms (>= 0) from now on clock (CLOCK_MONOTONIC, CLOCK_REALTIME), as the absolute
 * time pthread_cond_timedwait and pthread_timedjoin_np take. */
struct timespec iq_deadline_ts(clockid_t clock, int64_t ms);
/* RFC 3339 UTC with milliseconds: "2026-11-28T18:02:01.123Z" (buf >= 32). */
void iq_format_time_utc(int64_t real_ms, char *buf, size_t size);
/* Days from 1970-01-01 to the proleptic Gregorian date y-m-d (m 1..12, d 1..31, negative
 * before 1970), exact for any year a caller validates (H. Hinnant's days_from_civil): the one
 * civil-date helper, so parsers need neither timegm's time_t range nor its -1 ambiguity. */
int64_t iq_days_from_civil(int64_t y, int m, int d);

/* Random version-4 UUID from the OpenSSL CSPRNG (buf >= 37). 0 or -1. */
int iq_uuid_v4(char *buf, size_t size);

/* The value of one hexadecimal digit (either case), or -1. */
int iq_hex_digit(char c);
/* Writes the n bytes at p as 2n lowercase hex digits and a NUL to out (2n + 1 bytes). */
void iq_hex_encode(const void *p, size_t n, char *out);

/* The text of errno value err, safe from any thread: strerror is banned (tests/unit/banned.sh)
 * because its buffer is shared. Returns buf (size IQ_STRERROR_SIZE is enough) or a static
 * string, never NULL (GNU strerror_r). IQ_STRERROR(err) passes a buffer that lives until the
 * end of the enclosing block, for use as a printf argument. */
#define IQ_STRERROR_SIZE 128
const char *iq_strerror(int err, char *buf, size_t size);
#define IQ_STRERROR(err) iq_strerror((err), (char[IQ_STRERROR_SIZE]){0}, IQ_STRERROR_SIZE)

/* Zero memory that held a secret in a way the compiler will not elide. */
void iq_secure_zero(void *p, size_t n);
/* Duplicates and later wipes+frees a secret string. */
void iq_secret_free(char **s);

/* The operator's one identity, the same in audit rows, check and report jobs, and check runs:
 * "cli:" and the OS user name: $SUDO_USER when running as root through sudo, else $USER, else
 * the name of the real uid (getpwuid), else "uid:N". At most 63 bytes (what requested_by
 * holds; cut on a UTF-8 boundary), control characters as '_'. size: at least 64. */
void iq_operator_identity(char *buf, size_t size);

bool iq_str_eq_nocase(const char *a, const char *b);
bool iq_str_has_prefix(const char *s, const char *prefix);

#endif
