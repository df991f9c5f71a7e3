/* SPDX-License-Identifier: MIT */
/* A small thread-safe Prometheus registry rendered in the text exposition format 0.0.4: one mutex
 * per family guards a hash of its series; a capped number of series per family. */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The registry's own family: samples refused by the series cap, per metric. */
#define DROPPED_NAME "inboxq_metrics_dropped_samples_total"
#define DROPPED_HELP                                                                               \
    "Samples dropped because their metric reached its cap on label-value combinations."

const double iq_metrics_duration_buckets[] = {0.05, 0.1, 0.25, 0.5, 1,   2.5, 5,
                                              10,   30,  60,   120, 300, 600};
const size_t iq_metrics_duration_buckets_count = IQ_ARRAY_LEN(iq_metrics_duration_buckets);

typedef enum { FAM_COUNTER, FAM_GAUGE, FAM_HISTOGRAM, FAM_COUNTER_FN, FAM_GAUGE_FN } fam_kind;

typedef struct series {
    char *values[IQ_METRICS_MAX_LABELS];
    uint64_t hash;
    double value;      /* counter, gauge */
    uint64_t *buckets; /* histogram: per-bucket (not cumulative) counts, n_bounds + 1 (+Inf) */
    double sum;
    uint64_t count;
} series;

typedef struct family {
    fam_kind kind;
    char *name;
    char *help;
    char *labels[IQ_METRICS_MAX_LABELS];
    size_t n_labels;
    double *bounds;
    size_t n_bounds;
    iq_metrics_collect_fn fn;
    void *ctx;
    size_t max_series;

    pthread_mutex_t mu; /* guards everything below */
    series **series;
    size_t n_series;
    size_t series_alloc;
    size_t *table; /* open addressing: index + 1 into series, 0 = empty slot */
    size_t table_size;
    uint64_t dropped;

    struct family *next;
} family;

/* The public handle types are families; the wrappers keep them distinct for the compiler. */
struct iq_counter {
    family fam;
};
struct iq_gauge {
    family fam;
};
struct iq_histogram {
    family fam;
};

struct iq_metrics {
    pthread_mutex_t mu; /* guards the family list and serialises rendering */
    family *first;
    family *last;
    size_t max_series;
};

struct iq_metrics_sink {
    family *fam;
    iq_buf *out;
    size_t n;
    int err;
};

IQ_NORETURN static void misuse(const char *fmt, ...) IQ_PRINTF(1, 2);
static void misuse(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("inboxq: metrics misuse: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

static void lock(pthread_mutex_t *mu)
{
    if (pthread_mutex_lock(mu) != 0)
        abort();
}

static void unlock(pthread_mutex_t *mu)
{
    if (pthread_mutex_unlock(mu) != 0)
        abort();
}

/* ---- names ---- */

static bool valid_metric_name(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (const char *p = s; *p != '\0'; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(p != s && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static bool valid_label_name(const char *s)
{
    if (s == NULL || *s == '\0' || iq_str_has_prefix(s, "__"))
        return false;
    for (const char *p = s; *p != '\0'; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(p != s && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

/* ---- series table ---- */

static size_t value_len(const char *v)
{
    return v == NULL ? 0 : strnlen(v, IQ_METRICS_MAX_LABEL_VALUE);
}

static uint64_t hash_values(const family *f, const char *const *values)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < f->n_labels; i++) {
        const char *v = values[i];
        size_t n = value_len(v);
        for (size_t j = 0; j < n; j++) {
            h ^= (unsigned char)v[j];
            h *= 1099511628211ULL;
        }
        h ^= 0xffu; /* separator: ("a","bc") and ("ab","c") differ */
        h *= 1099511628211ULL;
    }
    return h;
}

static bool series_matches(const family *f, const series *s, uint64_t h, const char *const *values)
{
    if (s->hash != h)
        return false;
    for (size_t i = 0; i < f->n_labels; i++) {
        const char *v = values[i] == NULL ? "" : values[i];
        size_t n = value_len(v);
        if (strlen(s->values[i]) != n || memcmp(s->values[i], v, n) != 0)
            return false;
    }
    return true;
}

static void table_insert(family *f, size_t index)
{
    size_t mask = f->table_size - 1;
    size_t slot = (size_t)f->series[index]->hash & mask;
    while (f->table[slot] != 0)
        slot = (slot + 1) & mask;
    f->table[slot] = index + 1;
}

static void table_grow(family *f)
{
    size_t size = f->table_size == 0 ? 16 : iq_size_mul(f->table_size, 2);
    free(f->table);
    f->table = iq_xcalloc(size, sizeof(*f->table));
    f->table_size = size;
    for (size_t i = 0; i < f->n_series; i++)
        table_insert(f, i);
}

static series *series_new(family *f, uint64_t h, const char *const *values)
{
    series *s = iq_xcalloc(1, sizeof(*s));
    s->hash = h;
    for (size_t i = 0; i < f->n_labels; i++) {
        const char *v = values[i] == NULL ? "" : values[i];
        s->values[i] = iq_xstrndup(v, value_len(v));
    }
    if (f->kind == FAM_HISTOGRAM)
        s->buckets = iq_xcalloc(f->n_bounds + 1, sizeof(*s->buckets));
    return s;
}

static void series_free(series *s)
{
    for (size_t i = 0; i < IQ_METRICS_MAX_LABELS; i++)
        free(s->values[i]);
    free(s->buckets);
    free(s);
}

/* With f->mu held: the series for values, created when new; NULL (and counted) past the cap. */
static series *series_get(family *f, const char *const *values)
{
    if (f->n_labels > 0 && values == NULL)
        misuse("%s has %zu labels but was given no values", f->name, f->n_labels);
    uint64_t h = hash_values(f, values);
    if (f->table_size > 0) {
        size_t mask = f->table_size - 1;
        for (size_t slot = (size_t)h & mask; f->table[slot] != 0; slot = (slot + 1) & mask) {
            series *s = f->series[f->table[slot] - 1];
            if (series_matches(f, s, h, values))
                return s;
        }
    }
    if (f->n_series >= f->max_series) {
        f->dropped++;
        return NULL;
    }
    if (f->n_series == f->series_alloc) {
        f->series_alloc = f->series_alloc == 0 ? 8 : iq_size_mul(f->series_alloc, 2);
        f->series = iq_xrealloc(f->series, iq_size_mul(f->series_alloc, sizeof(series *)));
    }
    f->series[f->n_series++] = series_new(f, h, values);
    if (iq_size_mul(f->n_series, 2) > f->table_size)
        table_grow(f);
    else
        table_insert(f, f->n_series - 1);
    return f->series[f->n_series - 1];
}

/* ---- registry ---- */

iq_metrics *iq_metrics_new(size_t max_series)
{
    iq_metrics *m = iq_xcalloc(1, sizeof(*m));
    if (pthread_mutex_init(&m->mu, NULL) != 0)
        iq_oom();
    m->max_series = max_series == 0 ? IQ_METRICS_DEFAULT_MAX_SERIES : max_series;
    return m;
}

static void family_free(family *f)
{
    for (size_t i = 0; i < f->n_series; i++)
        series_free(f->series[i]);
    free(f->series);
    free(f->table);
    for (size_t i = 0; i < f->n_labels; i++)
        free(f->labels[i]);
    free(f->bounds);
    free(f->name);
    free(f->help);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

void iq_metrics_free(iq_metrics **m)
{
    if (m == NULL || *m == NULL)
        return;
    family *f = (*m)->first;
    while (f != NULL) {
        family *next = f->next;
        family_free(f);
        f = next;
    }
    pthread_mutex_destroy(&(*m)->mu);
    free(*m);
    *m = NULL;
}

static bool same_labels(const family *f, const char *const *label_names, size_t n)
{
    if (f->n_labels != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(f->labels[i], label_names[i]) != 0)
            return false;
    return true;
}

static bool same_bounds(const family *f, const double *bounds, size_t n)
{
    if (f->n_bounds != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (f->bounds[i] != bounds[i])
            return false;
    return true;
}

static family *family_register(iq_metrics *m, fam_kind kind, const char *name, const char *help,
                               const char *const *label_names, const double *bounds,
                               size_t n_bounds, iq_metrics_collect_fn fn, void *ctx)
{
    if (m == NULL)
        misuse("no registry for %s", name == NULL ? "(null)" : name);
    if (!valid_metric_name(name))
        misuse("invalid metric name \"%s\"", name == NULL ? "(null)" : name);
    if (strcmp(name, DROPPED_NAME) == 0)
        misuse("%s is reserved for the registry", name);
    if (help == NULL)
        misuse("%s has no help text", name);
    size_t n_labels = 0;
    while (label_names != NULL && label_names[n_labels] != NULL) {
        if (n_labels == IQ_METRICS_MAX_LABELS)
            misuse("%s has more than %d labels", name, IQ_METRICS_MAX_LABELS);
        const char *l = label_names[n_labels];
        if (!valid_label_name(l) || (kind == FAM_HISTOGRAM && strcmp(l, "le") == 0))
            misuse("%s: invalid label name \"%s\"", name, l);
        for (size_t j = 0; j < n_labels; j++)
            if (strcmp(label_names[j], l) == 0)
                misuse("%s: label \"%s\" given twice", name, l);
        n_labels++;
    }
    if (kind == FAM_HISTOGRAM) {
        if (bounds == NULL && n_bounds == 0) {
            bounds = iq_metrics_duration_buckets;
            n_bounds = iq_metrics_duration_buckets_count;
        }
        if (bounds == NULL || n_bounds == 0)
            misuse("%s: a histogram needs bucket bounds", name);
        for (size_t i = 0; i < n_bounds; i++)
            if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
                misuse("%s: bucket bounds must be finite and strictly increasing", name);
    }
    if ((kind == FAM_COUNTER_FN || kind == FAM_GAUGE_FN) && fn == NULL)
        misuse("%s: no collect function", name);

    lock(&m->mu);
    for (family *f = m->first; f != NULL; f = f->next) {
        if (strcmp(f->name, name) != 0)
            continue;
        bool same = f->kind == kind && same_labels(f, label_names, n_labels) &&
                    (kind != FAM_HISTOGRAM || same_bounds(f, bounds, n_bounds)) &&
                    kind != FAM_COUNTER_FN && kind != FAM_GAUGE_FN;
        if (!same)
            misuse("%s registered twice with a different type, labels or buckets", name);
        unlock(&m->mu);
        return f;
    }
    /* Every handle type wraps a family as its first member and has the same size. */
    family *f = iq_xcalloc(1, sizeof(struct iq_counter));
    f->kind = kind;
    f->name = iq_xstrdup(name);
    f->help = iq_xstrdup(help);
    f->n_labels = n_labels;
    for (size_t i = 0; i < n_labels; i++)
        f->labels[i] = iq_xstrdup(label_names[i]);
    if (kind == FAM_HISTOGRAM) {
        f->bounds = iq_xmalloc(iq_size_mul(n_bounds, sizeof(*bounds)));
        memcpy(f->bounds, bounds, n_bounds * sizeof(*bounds));
        f->n_bounds = n_bounds;
    }
    f->fn = fn;
    f->ctx = ctx;
    f->max_series = m->max_series;
    if (pthread_mutex_init(&f->mu, NULL) != 0)
        iq_oom();
    /* A family without labels has its one series from the start, so it renders as 0. */
    if (n_labels == 0 && kind != FAM_COUNTER_FN && kind != FAM_GAUGE_FN)
        (void)series_get(f, NULL);
    if (m->last == NULL)
        m->first = f;
    else
        m->last->next = f;
    m->last = f;
    unlock(&m->mu);
    return f;
}

iq_counter *iq_metrics_counter(iq_metrics *m, const char *name, const char *help,
                               const char *const *label_names)
{
    family *f = family_register(m, FAM_COUNTER, name, help, label_names, NULL, 0, NULL, NULL);
    return (iq_counter *)f;
}

iq_gauge *iq_metrics_gauge(iq_metrics *m, const char *name, const char *help,
                           const char *const *label_names)
{
    family *f = family_register(m, FAM_GAUGE, name, help, label_names, NULL, 0, NULL, NULL);
    return (iq_gauge *)f;
}

iq_histogram *iq_metrics_histogram(iq_metrics *m, const char *name, const char *help,
                                   const char *const *label_names, const double *bounds,
                                   size_t n_bounds)
{
    family *f =
        family_register(m, FAM_HISTOGRAM, name, help, label_names, bounds, n_bounds, NULL, NULL);
    return (iq_histogram *)f;
}

void iq_metrics_gauge_fn(iq_metrics *m, const char *name, const char *help,
                         const char *const *label_names, iq_metrics_collect_fn fn, void *ctx)
{
    (void)family_register(m, FAM_GAUGE_FN, name, help, label_names, NULL, 0, fn, ctx);
}

void iq_metrics_counter_fn(iq_metrics *m, const char *name, const char *help,
                           const char *const *label_names, iq_metrics_collect_fn fn, void *ctx)
{
    (void)family_register(m, FAM_COUNTER_FN, name, help, label_names, NULL, 0, fn, ctx);
}

/* ---- hot path ---- */

void iq_counter_add(iq_counter *c, const char *const *values, double v)
{
    if (!(v >= 0) || isinf(v))
        return;
    family *f = &c->fam;
    lock(&f->mu);
    series *s = series_get(f, values);
    if (s != NULL)
        s->value += v;
    unlock(&f->mu);
}

void iq_counter_inc(iq_counter *c, const char *const *values)
{
    iq_counter_add(c, values, 1);
}

void iq_gauge_set(iq_gauge *g, const char *const *values, double v)
{
    family *f = &g->fam;
    lock(&f->mu);
    series *s = series_get(f, values);
    if (s != NULL)
        s->value = v;
    unlock(&f->mu);
}

void iq_gauge_add(iq_gauge *g, const char *const *values, double delta)
{
    family *f = &g->fam;
    lock(&f->mu);
    series *s = series_get(f, values);
    if (s != NULL)
        s->value += delta;
    unlock(&f->mu);
}

void iq_histogram_observe(iq_histogram *h, const char *const *values, double v)
{
    if (isnan(v))
        return;
    family *f = &h->fam;
    size_t b = 0;
    while (b < f->n_bounds && !(v <= f->bounds[b]))
        b++;
    lock(&f->mu);
    series *s = series_get(f, values);
    if (s != NULL) {
        s->buckets[b]++;
        s->sum += v;
        s->count++;
    }
    unlock(&f->mu);
}

uint64_t iq_metrics_dropped(iq_metrics *m)
{
    uint64_t total = 0;
    lock(&m->mu);
    for (family *f = m->first; f != NULL; f = f->next) {
        lock(&f->mu);
        total += f->dropped;
        unlock(&f->mu);
    }
    unlock(&m->mu);
    return total;
}

/* ---- rendering ---- */

/* The shortest text that reads back as v; Prometheus spells infinities +Inf/-Inf and NaN. */
static void format_value(double v, char *buf, size_t size)
{
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
    } else if (v == trunc(v) && fabs(v) < 1e15) {
        snprintf(buf, size, "%.0f", v);
    } else {
        snprintf(buf, size, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, size, "%.17g", v);
    }
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0u) != 0x80u)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* Appends s escaped for a label value (\\, \", \n) or HELP text (\\, \n); bytes that are not
 * UTF-8 become U+FFFD so the exposition stays valid. */
static void append_escaped(iq_buf *out, const char *s, bool label_value, int *err)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    size_t i = 0;
    while (i < n) {
        int rc = 0;
        if (p[i] == '\\') {
            rc = iq_buf_append(out, "\\\\", 2);
            i++;
        } else if (p[i] == '\n') {
            rc = iq_buf_append(out, "\\n", 2);
            i++;
        } else if (p[i] == '"' && label_value) {
            rc = iq_buf_append(out, "\\\"", 2);
            i++;
        } else {
            size_t len = utf8_seq(p + i, n - i);
            if (len == 0) {
                rc = iq_buf_append(out, "\xef\xbf\xbd", 3);
                i++;
            } else {
                rc = iq_buf_append(out, p + i, len);
                i += len;
            }
        }
        if (rc != 0)
            *err = -1;
    }
}

static void append_str(iq_buf *out, const char *s, int *err)
{
    if (iq_buf_append_str(out, s) != 0)
        *err = -1;
}

/* name{l1="v1",...,extra_name="extra_value"} value\n */
static void append_sample(iq_buf *out, const family *f, const char *suffix,
                          const char *const *values, const char *extra_name,
                          const char *extra_value, double v, int *err)
{
    append_str(out, f->name, err);
    append_str(out, suffix, err);
    if (f->n_labels > 0 || extra_name != NULL) {
        append_str(out, "{", err);
        for (size_t i = 0; i < f->n_labels; i++) {
            if (i > 0)
                append_str(out, ",", err);
            append_str(out, f->labels[i], err);
            append_str(out, "=\"", err);
            append_escaped(out, values[i] == NULL ? "" : values[i], true, err);
            append_str(out, "\"", err);
        }
        if (extra_name != NULL) {
            if (f->n_labels > 0)
                append_str(out, ",", err);
            append_str(out, extra_name, err);
            append_str(out, "=\"", err);
            append_escaped(out, extra_value, true, err);
            append_str(out, "\"", err);
        }
        append_str(out, "}", err);
    }
    char num[64];
    format_value(v, num, sizeof(num));
    append_str(out, " ", err);
    append_str(out, num, err);
    append_str(out, "\n", err);
}

static void append_header(iq_buf *out, const char *name, const char *help, const char *type,
                          int *err)
{
    append_str(out, "# HELP ", err);
    append_str(out, name, err);
    append_str(out, " ", err);
    append_escaped(out, help, false, err);
    append_str(out, "\n# TYPE ", err);
    append_str(out, name, err);
    append_str(out, " ", err);
    append_str(out, type, err);
    append_str(out, "\n", err);
}

static void render_histogram_series(iq_buf *out, const family *f, const series *s, int *err)
{
    const char *const *values = (const char *const *)s->values;
    uint64_t cumulative = 0;
    char le[64];
    for (size_t b = 0; b < f->n_bounds; b++) {
        cumulative += s->buckets[b];
        format_value(f->bounds[b], le, sizeof(le));
        append_sample(out, f, "_bucket", values, "le", le, (double)cumulative, err);
    }
    cumulative += s->buckets[f->n_bounds];
    append_sample(out, f, "_bucket", values, "le", "+Inf", (double)cumulative, err);
    append_sample(out, f, "_sum", values, NULL, NULL, s->sum, err);
    append_sample(out, f, "_count", values, NULL, NULL, (double)s->count, err);
}

void iq_metrics_sink_add(iq_metrics_sink *sink, const char *const *values, double v)
{
    family *f = sink->fam;
    if (f->n_labels > 0 && values == NULL)
        misuse("%s has %zu labels but was given no values", f->name, f->n_labels);
    if (sink->n >= f->max_series) {
        lock(&f->mu);
        f->dropped++;
        unlock(&f->mu);
        return;
    }
    sink->n++;
    char *truncated[IQ_METRICS_MAX_LABELS] = {NULL};
    for (size_t i = 0; i < f->n_labels; i++)
        if (values[i] != NULL)
            truncated[i] = iq_xstrndup(values[i], value_len(values[i]));
    append_sample(sink->out, f, "", (const char *const *)truncated, NULL, NULL, v, &sink->err);
    for (size_t i = 0; i < f->n_labels; i++)
        free(truncated[i]);
}

static const char *type_name(fam_kind kind)
{
    switch (kind) {
    case FAM_COUNTER:
    case FAM_COUNTER_FN:
        return "counter";
    case FAM_GAUGE:
    case FAM_GAUGE_FN:
        return "gauge";
    case FAM_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

int iq_metrics_render(iq_metrics *m, iq_buf *out)
{
    int err = 0;
    lock(&m->mu);
    for (family *f = m->first; f != NULL; f = f->next) {
        append_header(out, f->name, f->help, type_name(f->kind), &err);
        if (f->kind == FAM_COUNTER_FN || f->kind == FAM_GAUGE_FN) {
            iq_metrics_sink sink = {.fam = f, .out = out, .n = 0, .err = 0};
            f->fn(&sink, f->ctx);
            if (sink.err != 0)
                err = -1;
            continue;
        }
        lock(&f->mu);
        for (size_t i = 0; i < f->n_series; i++) {
            const series *s = f->series[i];
            if (f->kind == FAM_HISTOGRAM)
                render_histogram_series(out, f, s, &err);
            else
                append_sample(out, f, "", (const char *const *)s->values, NULL, NULL, s->value,
                              &err);
        }
        unlock(&f->mu);
    }
    /* The registry's own family, last: what the series caps refused, per metric. */
    append_header(out, DROPPED_NAME, DROPPED_HELP, "counter", &err);
    for (family *f = m->first; f != NULL; f = f->next) {
        lock(&f->mu);
        uint64_t dropped = f->dropped;
        unlock(&f->mu);
        if (dropped == 0)
            continue;
        append_str(out, DROPPED_NAME "{metric=\"", &err);
        append_escaped(out, f->name, true, &err);
        char num[32];
        format_value((double)dropped, num, sizeof(num));
        append_str(out, "\"} ", &err);
        append_str(out, num, &err);
        append_str(out, "\n", &err);
    }
    unlock(&m->mu);
    return err;
}
