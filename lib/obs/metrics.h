/* SPDX-License-Identifier: MIT */
/* A small thread-safe Prometheus registry (counters, gauges, histograms, scrape-time callbacks)
 * rendered in the text exposition format 0.0.4. */
#ifndef IQ_METRICS_H
#define IQ_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* At most this many label names per family. */
#define IQ_METRICS_MAX_LABELS 3
/* Default cap on label-value combinations (series) per family; beyond it samples are dropped
 * and counted in inboxq_metrics_dropped_samples_total{metric="NAME"}. */
#define IQ_METRICS_DEFAULT_MAX_SERIES 10000
/* Label values longer than this many bytes are truncated (label values name classes, not data). */
#define IQ_METRICS_MAX_LABEL_VALUE 128
/* The Content-Type of iq_metrics_render()'s output. */
#define IQ_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct iq_metrics iq_metrics;
typedef struct iq_counter iq_counter;
typedef struct iq_gauge iq_gauge;
typedef struct iq_histogram iq_histogram;
/* What a scrape-time callback appends its samples to. */
typedef struct iq_metrics_sink iq_metrics_sink;

/* Called on every scrape (from the scraping thread, with the registry's render lock held: it
 * must not register metrics, and should return quickly). Appends 0..n samples to sink. */
typedef void (*iq_metrics_collect_fn)(iq_metrics_sink *sink, void *ctx);

/* Check duration buckets in seconds: 0.05 .. 600 (a check's deadline defaults to 10 minutes). */
extern const double iq_metrics_duration_buckets[];
extern const size_t iq_metrics_duration_buckets_count;

/* max_series: cap on series per family; 0 means IQ_METRICS_DEFAULT_MAX_SERIES. */
iq_metrics *iq_metrics_new(size_t max_series);
/* Frees the registry and every handle it gave out. */
void iq_metrics_free(iq_metrics **m);

/* Registration. name must match [a-zA-Z_:][a-zA-Z0-9_:]*, help is any text, label_names is a
 * NULL-terminated array of at most IQ_METRICS_MAX_LABELS names matching [a-zA-Z_][a-zA-Z0-9_]*
 * (not starting with "__"), or NULL for none. Registering the same name again with the same type
 * and labels returns the same handle; anything else invalid is a programming error and aborts.
 * Handles live as long as the registry. Families are rendered in registration order. */
iq_counter *iq_metrics_counter(iq_metrics *m, const char *name, const char *help,
                               const char *const *label_names);
iq_gauge *iq_metrics_gauge(iq_metrics *m, const char *name, const char *help,
                           const char *const *label_names);
/* bounds: strictly increasing finite upper bounds (the +Inf bucket is implicit), copied;
 * NULL with n_bounds 0 means iq_metrics_duration_buckets. "le" is not a valid label name. */
iq_histogram *iq_metrics_histogram(iq_metrics *m, const char *name, const char *help,
                                   const char *const *label_names, const double *bounds,
                                   size_t n_bounds);
/* A gauge (or counter) family whose samples fn produces at scrape time, e.g. outbox rows
 * pending or consumer lag. */
void iq_metrics_gauge_fn(iq_metrics *m, const char *name, const char *help,
                         const char *const *label_names, iq_metrics_collect_fn fn, void *ctx);
void iq_metrics_counter_fn(iq_metrics *m, const char *name, const char *help,
                           const char *const *label_names, iq_metrics_collect_fn fn, void *ctx);

/* Hot path. values: exactly as many label values as the family has label names (NULL when it
 * has none); a NULL entry counts as "". Each call takes the family's mutex for one hash lookup
 * and an add. Counters only go up: a negative or NaN v is ignored. */
void iq_counter_add(iq_counter *c, const char *const *values, double v);
void iq_counter_inc(iq_counter *c, const char *const *values);
void iq_gauge_set(iq_gauge *g, const char *const *values, double v);
void iq_gauge_add(iq_gauge *g, const char *const *values, double delta);
void iq_histogram_observe(iq_histogram *h, const char *const *values, double v);

/* For scrape-time callbacks: appends one sample of the family being collected. Samples past
 * the family's series cap are dropped and counted. */
void iq_metrics_sink_add(iq_metrics_sink *sink, const char *const *values, double v);

/* Samples dropped so far by the series cap, over all families. */
uint64_t iq_metrics_dropped(iq_metrics *m);

/* Appends the whole registry to out in the text format 0.0.4 (HELP and TYPE lines, escaped
 * label values, cumulative histogram buckets with +Inf, _sum and _count). 0, or -1 when out's
 * cap was reached (out then holds a truncated exposition that must not be served). */
int iq_metrics_render(iq_metrics *m, iq_buf *out);

#endif
