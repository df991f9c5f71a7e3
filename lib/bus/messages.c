/* SPDX-License-Identifier: MIT */
/* Kafka message contracts: builders that only ever produce schema-valid JSON, strict job
 * parsers that classify every rejection, and RFC 3339 UTC time parsing. */
#include "messages.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "utf8.h"
#include "util.h"

/* 9999-12-31T23:59:59.999Z: the last instant a four-digit year can write. */
#define TIME_MAX_MS INT64_C(253402300799999)
#define KEY_MAX 1024
#define LABEL_MAX 63 /* requested_by: fits char[64] */
#define FILTER_NAME_MAX 255
#define NAME_MAX_BYTES 255 /* topic, worker */

/* ---------------------------------------------------------------- errors and text */

static void fail(char **error_r, const char *fmt, ...) IQ_PRINTF(2, 3);

static void fail(char **error_r, const char *fmt, ...)
{
    if (!error_r)
        return;
    iq_buf b;
    iq_buf_init(&b, 4096);
    va_list ap;
    va_start(ap, fmt);
    if (iq_buf_vappendf(&b, fmt, ap) < 0) {
        iq_buf_reset(&b);
        /* 20 bytes into an empty buffer of 4096: cannot fail */
        IQ_IGNORE_RESULT(iq_buf_append_str(&b, "error text too long"));
    }
    va_end(ap);
    free(*error_r);
    *error_r = iq_buf_detach(&b, NULL);
}

/* A short printable-ASCII excerpt of untrusted text, for error messages (out >= 48). */
static const char *excerpt(const char *s, size_t n, char *out, size_t size)
{
    size_t limit = size - 4, o = 0, i;
    for (i = 0; i < n && o < limit; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (i < n) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction or exponent";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, at most
 * U+10FFFF), or 0 when the bytes there are not one. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    uint32_t cp;
    return iq_utf8_decode((const char *)p, n, &cp);
}

/* Valid UTF-8 without NUL bytes. */
static bool utf8_valid(const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n;) {
        size_t l = p[i] ? utf8_seq(p + i, n - i) : 0;
        if (l == 0)
            return false;
        i += l;
    }
    return true;
}

/* Copies data as UTF-8: NUL and invalid bytes become U+FFFD, control characters become
 * spaces when flatten is set, and the result is cut to at most max bytes on a character
 * boundary. Returns a malloc'd string. */
static char *utf8_repair(const void *data, size_t n, size_t max, bool flatten)
{
    static const char replacement[] = "\xef\xbf\xbd";
    const unsigned char *p = data;
    iq_buf b;
    iq_buf_init(&b, max);
    for (size_t i = 0; i < n;) {
        size_t l = p[i] ? utf8_seq(p + i, n - i) : 0;
        int rc;
        if (l == 0) {
            rc = iq_buf_append(&b, replacement, 3);
            l = 1;
        } else if (flatten && l == 1 && (p[i] < 0x20 || p[i] == 0x7f)) {
            rc = iq_buf_append_char(&b, ' ');
        } else {
            rc = iq_buf_append(&b, p + i, l);
        }
        if (rc < 0)
            break; /* cap reached: the buffer holds whole characters only */
        i += l;
    }
    return iq_buf_detach(&b, NULL);
}

/* 1..max bytes of valid UTF-8 without control characters. */
static bool label_valid(const char *s, size_t max)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > max || !utf8_valid(s, n))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

bool iq_msg_uuid_valid(const char *s)
{
    if (!s)
        return false;
    for (size_t i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return s[36] == '\0';
}

static void lowercase_copy(const char *s, char *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
    out[n] = '\0';
}

/* ---------------------------------------------------------------- time */

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int iq_parse_time_utc(const char *s, int64_t *ms_r)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec;
    if (!s || strnlen(s, 20) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':')
        return -1;
    if (digits(s, 4, &y) < 0 || digits(s + 5, 2, &mo) < 0 || digits(s + 8, 2, &d) < 0 ||
        digits(s + 11, 2, &h) < 0 || digits(s + 14, 2, &mi) < 0 || digits(s + 17, 2, &sec) < 0)
        return -1;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap ? 1 : 0) ||
        h > 23 || mi > 59 || sec > 59)
        return -1;
    const char *p = s + 19;
    int ms = 0;
    if (*p == '.') {
        size_t n = 0;
        p++;
        while (p[n] >= '0' && p[n] <= '9')
            n++;
        if (n < 1 || n > 9)
            return -1;
        for (size_t i = 0; i < 3; i++)
            ms = ms * 10 + (i < n ? p[i] - '0' : 0);
        p += n;
    }
    if (p[0] != 'Z' || p[1] != '\0')
        return -1;
    int64_t days = iq_days_from_civil(y, (int)mo, (int)d);
    *ms_r = ((days * 86400 + h * 3600 + mi * 60 + sec) * 1000) + ms;
    return 0;
}

/* ---------------------------------------------------------------- building */

static void put(json_t *obj, const char *key, json_t *value)
{
    if (!value || json_object_set_new(obj, key, value) < 0)
        iq_oom(); /* every value was validated first: only allocation can fail */
}

static json_t *new_object(const char *schema)
{
    json_t *obj = json_object();
    if (!obj)
        iq_oom();
    put(obj, "schema", json_string(schema));
    return obj;
}

static int put_time(json_t *obj, const char *key, int64_t ms, char **error_r)
{
    if (ms < 0 || ms > TIME_MAX_MS) {
        fail(error_r, "%s: time %lld ms is outside 1970..9999", key, (long long)ms);
        return -1;
    }
    char buf[40];
    iq_format_time_utc(ms, buf, sizeof(buf));
    put(obj, key, json_string(buf));
    return 0;
}

/* A given UUID (lowercased) or a fresh one. */
static int put_uuid(json_t *obj, const char *key, const char *uuid, bool generate, char **error_r)
{
    char buf[37];
    if (!uuid && generate) {
        if (iq_uuid_v4(buf, sizeof(buf)) < 0) {
            fail(error_r, "%s: cannot generate a UUID: the random generator failed", key);
            return -1;
        }
    } else if (iq_msg_uuid_valid(uuid)) {
        lowercase_copy(uuid, buf, 36);
    } else if (!uuid) {
        fail(error_r, "%s: missing", key);
        return -1;
    } else {
        char ex[48];
        fail(error_r, "%s: \"%s\" is not a UUID", key, excerpt(uuid, strlen(uuid), ex, sizeof(ex)));
        return -1;
    }
    put(obj, key, json_string(buf));
    return 0;
}

static int put_id(json_t *obj, const char *key, int64_t v, int64_t min, char **error_r)
{
    if (v < min) {
        fail(error_r, "%s: %lld is below %lld", key, (long long)v, (long long)min);
        return -1;
    }
    put(obj, key, json_integer((json_int_t)v));
    return 0;
}

static int put_label(json_t *obj, const char *key, const char *s, size_t max, char **error_r)
{
    if (!label_valid(s, max)) {
        fail(error_r, "%s: must be 1 to %zu bytes of UTF-8 without control characters", key, max);
        return -1;
    }
    put(obj, key, json_string(s));
    return 0;
}

/* Header-derived text: repaired and cut; NULL becomes null when nullable. */
static int put_text(json_t *obj, const char *key, const char *s, bool nullable, char **error_r)
{
    if (!s) {
        if (!nullable) {
            fail(error_r, "%s: missing", key);
            return -1;
        }
        put(obj, key, json_null());
        return 0;
    }
    char *t = utf8_repair(s, strlen(s), IQ_MSG_TEXT_MAX, false);
    put(obj, key, json_string(t));
    free(t);
    return 0;
}

static bool one_of(const char *s, const char *const *values, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(s, values[i]) == 0)
            return true;
    return false;
}

static const char *const reasons[] = {"scheduled", "manual", "retry", "push"};
static const char *const formats[] = {"csv", "html", "pdf"};
static const char *const langs[] = {"en", "pt-BR"};

/* Error for a value outside an enumeration: names the field and every allowed value. */
static void enum_error(char **error_r, const char *key, const char *s, const char *const *values,
                       size_t n)
{
    char ex[48], allowed[64] = "";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(allowed + o, sizeof(allowed) - o, "%s%s", i ? ", " : "", values[i]);
        if (w < 0 || (size_t)w >= sizeof(allowed) - o)
            break;
        o += (size_t)w;
    }
    if (s)
        fail(error_r, "%s: \"%s\" is not one of %s", key, excerpt(s, strlen(s), ex, sizeof(ex)),
             allowed);
    else
        fail(error_r, "%s: missing (one of %s)", key, allowed);
}

static int put_enum(json_t *obj, const char *key, const char *s, const char *const *values,
                    size_t n, char **error_r)
{
    if (!one_of(s, values, n)) {
        enum_error(error_r, key, s, values, n);
        return -1;
    }
    put(obj, key, json_string(s));
    return 0;
}

json_t *iq_msg_check_job_new(const char *job_id, int64_t account_id, int64_t requested_at_ms,
                             const char *requested_by, const char *reason, int attempt,
                             int64_t not_before_ms, char **error_r)
{
    json_t *obj = new_object(IQ_MSG_SCHEMA_CHECK_JOB);
    if (put_uuid(obj, "job_id", job_id, true, error_r) < 0 ||
        put_id(obj, "account_id", account_id, 1, error_r) < 0 ||
        put_time(obj, "requested_at", requested_at_ms, error_r) < 0 ||
        put_label(obj, "requested_by", requested_by, LABEL_MAX, error_r) < 0 ||
        put_enum(obj, "reason", reason, reasons, IQ_ARRAY_LEN(reasons), error_r) < 0 ||
        put_id(obj, "attempt", attempt, 1, error_r) < 0 ||
        (not_before_ms > 0 && put_time(obj, "not_before", not_before_ms, error_r) < 0)) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static int put_tristate(json_t *obj, const char *key, int v, char **error_r)
{
    if (v < -1 || v > 1) {
        fail(error_r, "filters.%s: %d is not -1 (not set), 0 or 1", key, v);
        return -1;
    }
    if (v >= 0) /* -1 is written as absence, which for active means the same as null */
        put(obj, key, json_boolean(v));
    return 0;
}

json_t *iq_msg_report_filters_new(const iq_report_filters *f, char **error_r)
{
    json_t *obj = json_object();
    if (!obj)
        iq_oom();
    if (!f)
        return obj;
    if (f->name && f->name[0] && !label_valid(f->name, FILTER_NAME_MAX)) {
        fail(error_r, "filters.name: must be 1 to %d bytes of UTF-8 without control characters",
             FILTER_NAME_MAX);
        goto bad;
    }
    if (f->name && f->name[0])
        put(obj, "name", json_string(f->name));
    if (put_tristate(obj, "secure", f->secure, error_r) < 0 ||
        put_tristate(obj, "auto_check", f->auto_check, error_r) < 0 ||
        put_tristate(obj, "keep_copy", f->keep_copy, error_r) < 0 ||
        put_tristate(obj, "active", f->active, error_r) < 0)
        goto bad;
    if (f->last_check != -1) {
        const char *lc = iq_last_check_name(f->last_check);
        if (!lc) {
            fail(error_r, "filters.last_check: %d is not a last-check value", f->last_check);
            goto bad;
        }
        put(obj, "last_check", json_string(lc));
    }
    return obj;
bad:
    json_decref(obj);
    return NULL;
}

json_t *iq_msg_report_job_new(const char *job_id, int64_t report_id, const char *format,
                              const char *lang, const iq_report_filters *filters,
                              int64_t schedule_id, int64_t requested_at_ms,
                              const char *requested_by, char **error_r)
{
    json_t *obj = new_object(IQ_MSG_SCHEMA_REPORT_JOB);
    json_t *f = NULL;
    if (put_uuid(obj, "job_id", job_id, true, error_r) < 0 ||
        put_id(obj, "report_id", report_id, 1, error_r) < 0 ||
        put_enum(obj, "format", format, formats, IQ_ARRAY_LEN(formats), error_r) < 0 ||
        put_enum(obj, "lang", lang, langs, IQ_ARRAY_LEN(langs), error_r) < 0 ||
        !(f = iq_msg_report_filters_new(filters, error_r)))
        goto bad;
    put(obj, "filters", f);
    put(obj, "schedule_id", schedule_id > 0 ? json_integer((json_int_t)schedule_id) : json_null());
    if (put_time(obj, "requested_at", requested_at_ms, error_r) < 0 ||
        put_label(obj, "requested_by", requested_by, LABEL_MAX, error_r) < 0)
        goto bad;
    return obj;
bad:
    json_decref(obj);
    return NULL;
}

json_t *iq_msg_new_mail_new(const iq_new_mail *ev, char **error_r)
{
    json_t *obj = new_object(IQ_MSG_SCHEMA_NEW_MAIL);
    if (put_uuid(obj, "event_id", ev->event_id, true, error_r) < 0 ||
        put_uuid(obj, "job_id", ev->job_id, false, error_r) < 0 ||
        put_id(obj, "account_id", ev->account_id, 1, error_r) < 0 ||
        put_text(obj, "account_name", ev->account_name, false, error_r) < 0 ||
        put_text(obj, "mailbox", ev->mailbox, false, error_r) < 0 ||
        put_id(obj, "message_row_id", ev->message_row_id, 1, error_r) < 0 ||
        put_text(obj, "server_id", ev->server_id, false, error_r) < 0 ||
        put_text(obj, "message_id", ev->message_id, true, error_r) < 0 ||
        put_text(obj, "from", ev->from, true, error_r) < 0 ||
        put_text(obj, "to", ev->to, true, error_r) < 0 ||
        put_text(obj, "subject", ev->subject, true, error_r) < 0)
        goto bad;
    if (ev->date_ms < 0 || ev->date_ms > TIME_MAX_MS)
        put(obj, "date", json_null());
    else if (put_time(obj, "date", ev->date_ms, error_r) < 0)
        goto bad;
    if (put_id(obj, "size", ev->size, 0, error_r) < 0)
        goto bad;
    const char *h = ev->sha256;
    size_t hl = h ? strnlen(h, 65) : 0;
    bool hex = hl == 64;
    for (size_t i = 0; hex && i < 64; i++)
        hex = (h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f') ||
              (h[i] >= 'A' && h[i] <= 'F');
    if (!hex) {
        fail(error_r, "sha256: must be 64 hex digits");
        goto bad;
    }
    char lower[65];
    lowercase_copy(h, lower, 64);
    put(obj, "sha256", json_string(lower));
    if (put_time(obj, "fetched_at", ev->fetched_at_ms, error_r) < 0)
        goto bad;
    return obj;
bad:
    json_decref(obj);
    return NULL;
}

json_t *iq_msg_dead_letter_new(const iq_dead_letter *dl, char **error_r)
{
    json_t *obj = new_object(IQ_MSG_SCHEMA_DEAD_LETTER);
    if (put_uuid(obj, "job_id", dl->job_id, true, error_r) < 0 ||
        put_label(obj, "original_topic", dl->original_topic, NAME_MAX_BYTES, error_r) < 0 ||
        put_id(obj, "original_partition", dl->original_partition, 0, error_r) < 0 ||
        put_id(obj, "original_offset", dl->original_offset, 0, error_r) < 0)
        goto bad;

    if (dl->original_key) {
        char *k = utf8_repair(dl->original_key, dl->original_key_len, KEY_MAX, false);
        put(obj, "original_key", json_string(k));
        free(k);
    } else {
        put(obj, "original_key", json_null());
    }

    const unsigned char *v = dl->original_value;
    size_t vlen = v ? dl->original_value_len : 0;
    size_t n = vlen < IQ_MSG_DEAD_VALUE_MAX ? vlen : IQ_MSG_DEAD_VALUE_MAX;
    if (utf8_valid(v, vlen)) {
        while (n < vlen && n > 0 && (v[n] & 0xc0) == 0x80)
            n--; /* cut on a character boundary */
        put(obj, "original_value", json_stringn(v ? (const char *)v : "", n));
        put(obj, "original_value_encoding", json_string("utf-8"));
    } else {
        char *b64 = iq_xmalloc(iq_size_add(iq_size_mul((n + 2) / 3, 4), 1));
        EVP_EncodeBlock((unsigned char *)b64, v, (int)n);
        put(obj, "original_value", json_string(b64));
        free(b64);
        put(obj, "original_value_encoding", json_string("base64"));
    }
    if (n < vlen)
        put(obj, "original_value_truncated", json_true());

    if (dl->error_class == IQ_OK) {
        fail(error_r, "error_class: a dead letter needs the class of its failure");
        goto bad;
    }
    put(obj, "error_class", json_string(iq_err_name(dl->error_class)));
    const char *e = dl->error ? dl->error : "";
    char *flat = utf8_repair(e, strlen(e), IQ_MSG_TEXT_MAX, true);
    put(obj, "error", json_string(flat));
    free(flat);
    if (put_time(obj, "failed_at", dl->failed_at_ms, error_r) < 0 ||
        put_label(obj, "worker", dl->worker, NAME_MAX_BYTES, error_r) < 0)
        goto bad;
    return obj;
bad:
    json_decref(obj);
    return NULL;
}

const char *iq_msg_id(const json_t *msg)
{
    const char *id = json_string_value(json_object_get(msg, "event_id"));
    return id ? id : json_string_value(json_object_get(msg, "job_id"));
}

char *iq_msg_dump(const json_t *msg)
{
    if (!msg)
        return NULL;
    char *s = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        iq_oom();
    return s;
}

/* ---------------------------------------------------------------- parsing */

/* jansson's iterators take a non-const object even though they only read it. */
static json_t *unconst(const json_t *v)
{
    union {
        const json_t *c;
        json_t *m;
    } u = {.c = v};
    return u.m;
}

/* Every key of obj must be in allowed[]. */
static int known_fields(const json_t *obj, const char *const *allowed, size_t n, const char *prefix,
                        char **error_r)
{
    const char *key;
    json_t *value;
    json_object_foreach(unconst(obj), key, value)
    {
        if (!one_of(key, allowed, n)) {
            char ex[48];
            fail(error_r, "%sunexpected field \"%s\"", prefix,
                 excerpt(key, strlen(key), ex, sizeof(ex)));
            return -1;
        }
    }
    return 0;
}

/* *v_r is NULL when the field is absent and not required. */
static int get_field(const json_t *obj, const char *key, bool required, json_t **v_r,
                     char **error_r)
{
    *v_r = json_object_get(obj, key);
    if (!*v_r && required) {
        fail(error_r, "%s: missing", key);
        return -1;
    }
    return 0;
}

static int get_int(const json_t *obj, const char *key, bool required, int64_t min, int64_t max,
                   int64_t *out_r, bool *present_r, char **error_r)
{
    json_t *v;
    if (present_r)
        *present_r = false;
    if (get_field(obj, key, required, &v, error_r) < 0)
        return -1;
    if (!v)
        return 0;
    if (!json_is_integer(v)) {
        fail(error_r, "%s: must be an integer, not %s", key, type_name(v));
        return -1;
    }
    json_int_t i = json_integer_value(v);
    if (i < min || i > max) {
        fail(error_r, "%s: %lld is out of range %lld..%lld", key, (long long)i, (long long)min,
             (long long)max);
        return -1;
    }
    *out_r = (int64_t)i;
    if (present_r)
        *present_r = true;
    return 0;
}

static int get_str(const json_t *obj, const char *key, bool required, const char **s_r,
                   char **error_r)
{
    json_t *v;
    *s_r = NULL;
    if (get_field(obj, key, required, &v, error_r) < 0)
        return -1;
    if (!v)
        return 0;
    if (!json_is_string(v)) {
        fail(error_r, "%s: must be a string, not %s", key, type_name(v));
        return -1;
    }
    *s_r = json_string_value(v);
    return 0;
}

static int get_uuid(const json_t *obj, const char *key, char out[37], char **error_r)
{
    const char *s;
    if (get_str(obj, key, true, &s, error_r) < 0)
        return -1;
    if (!iq_msg_uuid_valid(s)) {
        char ex[48];
        fail(error_r, "%s: \"%s\" is not a UUID", key, excerpt(s, strlen(s), ex, sizeof(ex)));
        return -1;
    }
    lowercase_copy(s, out, 36);
    return 0;
}

static int get_time(const json_t *obj, const char *key, bool required, int64_t *ms_r,
                    char **error_r)
{
    const char *s;
    if (get_str(obj, key, required, &s, error_r) < 0)
        return -1;
    if (!s)
        return 0;
    if (iq_parse_time_utc(s, ms_r) < 0) {
        char ex[48];
        fail(error_r, "%s: \"%s\" is not an RFC 3339 UTC time like 2026-01-31T12:00:00.000Z", key,
             excerpt(s, strlen(s), ex, sizeof(ex)));
        return -1;
    }
    return 0;
}

static int get_label(const json_t *obj, const char *key, size_t max, char *out, char **error_r)
{
    const char *s;
    if (get_str(obj, key, true, &s, error_r) < 0)
        return -1;
    if (!label_valid(s, max)) {
        fail(error_r, "%s: must be 1 to %zu bytes of UTF-8 without control characters", key, max);
        return -1;
    }
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

static int get_enum(const json_t *obj, const char *key, const char *const *values, size_t n,
                    char *out, char **error_r)
{
    const char *s;
    if (get_str(obj, key, true, &s, error_r) < 0)
        return -1;
    if (!one_of(s, values, n)) {
        enum_error(error_r, key, s, values, n);
        return -1;
    }
    memcpy(out, s, strlen(s) + 1); /* every allowed value fits the caller's field */
    return 0;
}

/* Decodes a job message and checks its schema string. NULL with *class_r set on failure. */
static json_t *load_job(const void *data, size_t len, const char *schema, iq_err *class_r,
                        char **error_r)
{
    *class_r = IQ_ERR_INVALID_JSON;
    if (!data || len == 0) {
        fail(error_r, "empty message");
        return NULL;
    }
    if (len > IQ_MSG_JOB_MAX_BYTES) {
        fail(error_r, "message is %zu bytes, over the %d-byte limit for jobs", len,
             IQ_MSG_JOB_MAX_BYTES);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        char ex[48];
        fail(error_r, "not valid JSON at line %d column %d: %s", jerr.line, jerr.column,
             excerpt(jerr.text, strlen(jerr.text), ex, sizeof(ex)));
        return NULL;
    }
    if (!json_is_object(root)) {
        fail(error_r, "message is %s, not a JSON object", type_name(root));
        goto bad;
    }
    *class_r = IQ_ERR_UNKNOWN_SCHEMA;
    json_t *v = json_object_get(root, "schema");
    if (!v) {
        fail(error_r, "schema: missing (expected \"%s\")", schema);
        goto bad;
    }
    if (!json_is_string(v)) {
        fail(error_r, "schema: must be the string \"%s\", not %s", schema, type_name(v));
        goto bad;
    }
    if (strcmp(json_string_value(v), schema) != 0) {
        char ex[48];
        const char *s = json_string_value(v);
        fail(error_r, "schema: \"%s\" is not \"%s\"", excerpt(s, strlen(s), ex, sizeof(ex)),
             schema);
        goto bad;
    }
    *class_r = IQ_ERR_INVALID_JOB;
    return root;
bad:
    json_decref(root);
    return NULL;
}

int iq_msg_parse_check_job(const void *data, size_t len, iq_check_job *job_r, iq_err *error_class_r,
                           char **error_r)
{
    static const char *const fields[] = {"schema",       "job_id", "account_id", "requested_at",
                                         "requested_by", "reason", "attempt",    "not_before"};
    iq_err cls;
    int ret = -1;
    int64_t attempt = 1;
    memset(job_r, 0, sizeof(*job_r));
    json_t *root = load_job(data, len, IQ_MSG_SCHEMA_CHECK_JOB, &cls, error_r);
    if (!root)
        goto out;
    if (known_fields(root, fields, IQ_ARRAY_LEN(fields), "", error_r) < 0 ||
        get_uuid(root, "job_id", job_r->job_id, error_r) < 0 ||
        get_int(root, "account_id", true, 1, INT64_MAX, &job_r->account_id, NULL, error_r) < 0 ||
        get_time(root, "requested_at", true, &job_r->requested_at_ms, error_r) < 0 ||
        get_label(root, "requested_by", LABEL_MAX, job_r->requested_by, error_r) < 0 ||
        get_enum(root, "reason", reasons, IQ_ARRAY_LEN(reasons), job_r->reason, error_r) < 0 ||
        get_int(root, "attempt", false, 1, INT_MAX, &attempt, NULL, error_r) < 0 ||
        get_time(root, "not_before", false, &job_r->not_before_ms, error_r) < 0)
        goto out;
    if (job_r->not_before_ms > iq_now_real_ms() + IQ_MSG_NOT_BEFORE_MAX_AHEAD_MS) {
        fail(error_r,
             "not_before: more than %lld minutes ahead of this worker's clock; the job "
             "is refused (check the producer's clock)",
             (long long)(IQ_MSG_NOT_BEFORE_MAX_AHEAD_MS / 60000));
        goto out;
    }
    job_r->attempt = (int)attempt;
    ret = 0;
out:
    json_decref(root);
    if (ret < 0) {
        memset(job_r, 0, sizeof(*job_r));
        if (error_class_r)
            *error_class_r = cls;
    }
    return ret;
}

void iq_report_filters_init(iq_report_filters *f)
{
    f->name = NULL;
    f->secure = f->auto_check = f->keep_copy = f->active = f->last_check = -1;
}

static const char *const last_check_names[] = {"ok", "failed", "never"};

int iq_last_check_parse(const char *s, int *v_r)
{
    for (size_t i = 0; s && i < IQ_ARRAY_LEN(last_check_names); i++) {
        if (strcmp(s, last_check_names[i]) == 0) {
            *v_r = (int)i;
            return 0;
        }
    }
    return -1;
}

const char *iq_last_check_name(int v)
{
    return v >= 0 && (size_t)v < IQ_ARRAY_LEN(last_check_names) ? last_check_names[v] : NULL;
}

void iq_report_filters_release(iq_report_filters *f)
{
    if (!f)
        return;
    free(f->name);
    iq_report_filters_init(f);
}

void iq_report_job_release(iq_report_job *job)
{
    if (job)
        iq_report_filters_release(&job->filters);
}

static int get_bool(const json_t *obj, const char *key, bool null_ok, int *out_r, char **error_r)
{
    json_t *v = json_object_get(obj, key);
    if (!v || (null_ok && json_is_null(v))) {
        *out_r = -1;
        return 0;
    }
    if (!json_is_boolean(v)) {
        fail(error_r, "filters.%s: must be a boolean%s, not %s", key, null_ok ? " or null" : "",
             type_name(v));
        return -1;
    }
    *out_r = json_is_true(v) ? 1 : 0;
    return 0;
}

int iq_msg_parse_report_filters(const json_t *obj, iq_report_filters *f_r, char **error_r)
{
    static const char *const fields[] = {"name",      "secure", "auto_check",
                                         "keep_copy", "active", "last_check"};
    iq_report_filters_release(f_r);
    if (!json_is_object(obj)) {
        fail(error_r, "filters: must be an object, not %s", obj ? type_name(obj) : "missing");
        return -1;
    }
    if (known_fields(obj, fields, IQ_ARRAY_LEN(fields), "filters: ", error_r) < 0)
        goto bad;
    json_t *name = json_object_get(obj, "name");
    if (name) {
        const char *s = json_string_value(name);
        if (!s || !label_valid(s, FILTER_NAME_MAX)) {
            fail(error_r,
                 "filters.name: must be a string of 1 to %d bytes without control characters",
                 FILTER_NAME_MAX);
            goto bad;
        }
        f_r->name = iq_xstrdup(s);
    }
    if (get_bool(obj, "secure", false, &f_r->secure, error_r) < 0 ||
        get_bool(obj, "auto_check", false, &f_r->auto_check, error_r) < 0 ||
        get_bool(obj, "keep_copy", false, &f_r->keep_copy, error_r) < 0 ||
        get_bool(obj, "active", true, &f_r->active, error_r) < 0)
        goto bad;
    json_t *lc = json_object_get(obj, "last_check");
    if (lc && iq_last_check_parse(json_string_value(lc), &f_r->last_check) < 0) {
        fail(error_r, "filters.last_check: must be \"ok\", \"failed\" or \"never\"");
        goto bad;
    }
    return 0;
bad:
    iq_report_filters_release(f_r);
    return -1;
}

int iq_msg_parse_report_job(const void *data, size_t len, iq_report_job *job_r,
                            iq_err *error_class_r, char **error_r)
{
    static const char *const fields[] = {"schema",      "job_id",       "report_id",
                                         "format",      "lang",         "filters",
                                         "schedule_id", "requested_at", "requested_by"};
    iq_err cls;
    int ret = -1;
    json_t *v;
    memset(job_r, 0, sizeof(*job_r));
    iq_report_filters_init(&job_r->filters);
    json_t *root = load_job(data, len, IQ_MSG_SCHEMA_REPORT_JOB, &cls, error_r);
    if (!root)
        goto out;
    if (known_fields(root, fields, IQ_ARRAY_LEN(fields), "", error_r) < 0 ||
        get_uuid(root, "job_id", job_r->job_id, error_r) < 0 ||
        get_int(root, "report_id", true, 1, INT64_MAX, &job_r->report_id, NULL, error_r) < 0 ||
        get_enum(root, "format", formats, IQ_ARRAY_LEN(formats), job_r->format, error_r) < 0 ||
        get_enum(root, "lang", langs, IQ_ARRAY_LEN(langs), job_r->lang, error_r) < 0 ||
        get_field(root, "filters", true, &v, error_r) < 0 ||
        iq_msg_parse_report_filters(v, &job_r->filters, error_r) < 0 ||
        get_field(root, "schedule_id", true, &v, error_r) < 0)
        goto out;
    if (!json_is_null(v) && !json_is_integer(v)) {
        fail(error_r, "schedule_id: must be an integer or null, not %s", type_name(v));
        goto out;
    }
    if (!json_is_null(v) &&
        get_int(root, "schedule_id", true, 1, INT64_MAX, &job_r->schedule_id, NULL, error_r) < 0)
        goto out;
    if (get_time(root, "requested_at", true, &job_r->requested_at_ms, error_r) < 0 ||
        get_label(root, "requested_by", LABEL_MAX, job_r->requested_by, error_r) < 0)
        goto out;
    ret = 0;
out:
    json_decref(root);
    if (ret < 0) {
        iq_report_job_release(job_r);
        memset(job_r, 0, sizeof(*job_r));
        iq_report_filters_init(&job_r->filters);
        if (error_class_r)
            *error_class_r = cls;
    }
    return ret;
}
