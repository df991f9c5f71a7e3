/* SPDX-License-Identifier: MIT */
/* The worker's Prometheus metrics and readiness. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

static void collect_in_flight(iq_metrics_sink *sink, void *ctx)
{
    iq_worker *w = ctx;
    iq_metrics_sink_add(sink, NULL, atomic_load(&w->in_flight));
}

static void collect_outbox_pending(iq_metrics_sink *sink, void *ctx)
{
    iq_worker *w = ctx;
    iq_metrics_sink_add(sink, NULL, (double)atomic_load(&w->outbox_pending));
}

static void collect_outbox_age(iq_metrics_sink *sink, void *ctx)
{
    iq_worker *w = ctx;
    iq_metrics_sink_add(sink, NULL, (double)atomic_load(&w->outbox_oldest_s));
}

static void add_lag(void *sink, const char *topic, int32_t partition, int64_t lag)
{
    char p[16];
    snprintf(p, sizeof(p), "%d", (int)partition);
    iq_metrics_sink_add(sink, (const char *[]){topic, p}, (double)lag);
}

/* Lag of the partitions this worker holds, from librdkafka's cached watermarks (no I/O). */
static void collect_lag(iq_metrics_sink *sink, void *ctx)
{
    iq_worker *w = ctx;
    if (w->consumer)
        iq_kafka_consumer_lag(w->consumer, add_lag, sink);
}

void iq_worker_metrics_init(iq_worker *w)
{
    iq_worker_metrics *wm = &w->metrics;
    iq_metrics *m = iq_metrics_new(0);
    wm->m = m;
    wm->checks =
        iq_metrics_counter(m, "inboxq_checks_total", "Checks run, by outcome and error class",
                           (const char *[]){"outcome", "error_class", NULL});
    wm->duration = iq_metrics_histogram(m, "inboxq_check_duration_seconds",
                                        "Wall time of one check", NULL, NULL, 0);
    wm->messages = iq_metrics_counter(m, "inboxq_messages_total",
                                      "Messages fetched and stored, deleted on the server, or "
                                      "skipped as too large",
                                      (const char *[]){"action", NULL});
    wm->bytes =
        iq_metrics_counter(m, "inboxq_bytes_fetched_total", "Bytes read from mail servers", NULL);
    wm->jobs = iq_metrics_counter(m, "inboxq_jobs_total", "Jobs handled, by kind and result",
                                  (const char *[]){"kind", "result", NULL});
    wm->reports = iq_metrics_counter(m, "inboxq_reports_total",
                                     "Reports rendered and recorded, by outcome (a scheduled "
                                     "report whose file could not be written is failed)",
                                     (const char *[]){"outcome", NULL});
    wm->dead = iq_metrics_counter(m, "inboxq_jobs_dead_lettered_total",
                                  "Jobs sent to the dead-letter topic, by reason",
                                  (const char *[]){"error_class", NULL});
    wm->events = iq_metrics_counter(m, "inboxq_events_published_total",
                                    "New-mail events published from the outbox", NULL);
    wm->cache = iq_metrics_counter(m, "inboxq_inbox_cache_writes_total",
                                   "Inbox listings rewritten in Redis, by result",
                                   (const char *[]){"result", NULL});
    wm->pauses = iq_metrics_counter(m, "inboxq_consumer_pauses_total",
                                    "Times a partition was paused because its slot had too many "
                                    "jobs queued (back-pressure)",
                                    NULL);
    wm->push_connections =
        iq_metrics_gauge(m, "inboxq_push_connections", "IMAP IDLE connections held now", NULL);
    wm->push_notifications =
        iq_metrics_counter(m, "inboxq_push_notifications_total",
                           "New-mail notifications (EXISTS, RECENT) on IDLE connections", NULL);
    wm->push_checks =
        iq_metrics_counter(m, "inboxq_push_checks_total",
                           "Checks queued by push (a notification or a reconnect)", NULL);
    wm->push_reconnects = iq_metrics_counter(
        m, "inboxq_push_reconnects_total",
        "IDLE connections lost (BYE, drop, TLS failure, timeout) and reopened", NULL);
    static const double latency[] = {0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 5, 10, 30};
    wm->push_latency =
        iq_metrics_histogram(m, "inboxq_push_notification_to_commit_seconds",
                             "From a push notification to the commit of the new mail it announced",
                             NULL, latency, sizeof(latency) / sizeof(latency[0]));
    iq_metrics_gauge_fn(m, "inboxq_jobs_in_flight", "Jobs running now", NULL, collect_in_flight, w);
    iq_metrics_gauge_fn(m, "inboxq_outbox_pending", "New-mail events not yet published", NULL,
                        collect_outbox_pending, w);
    iq_metrics_gauge_fn(m, "inboxq_outbox_oldest_pending_seconds",
                        "Age of the oldest unpublished new-mail event", NULL, collect_outbox_age,
                        w);
    iq_metrics_gauge_fn(m, "inboxq_kafka_consumer_lag",
                        "Messages behind the high watermark, per assigned partition",
                        (const char *[]){"topic", "partition", NULL}, collect_lag, w);
}

void iq_worker_metrics_release(iq_worker *w)
{
    iq_metrics_free(&w->metrics.m);
}

void iq_worker_metrics_check(iq_worker *w, const iq_check_result *res)
{
    iq_worker_metrics *wm = &w->metrics;
    iq_counter_inc(wm->checks,
                   (const char *[]){res->outcome ? res->outcome : "failed",
                                    res->error_class ? iq_err_name(res->error_class) : ""});
    iq_histogram_observe(wm->duration, NULL, (double)res->duration_ms / 1000.0);
    iq_counter_add(wm->messages, (const char *[]){"fetched"}, res->messages_new);
    iq_counter_add(wm->messages, (const char *[]){"deleted"}, res->messages_deleted);
    iq_counter_add(wm->messages, (const char *[]){"skipped"}, res->messages_skipped);
    iq_counter_add(wm->bytes, NULL, (double)res->bytes);
    if (res->cache_write)
        iq_counter_inc(wm->cache, (const char *[]){res->cache_write > 0 ? "ok" : "failed"});
}

iq_ready_state iq_worker_ready(void *ctx, char *reason, size_t size)
{
    iq_worker *w = ctx;
    bool pg = atomic_load(&w->pg_ok), kafka = atomic_load(&w->kafka_ok);
    if (!pg || !kafka) {
        snprintf(reason, size, "%s%s%s", pg ? "" : "PostgreSQL unreachable",
                 !pg && !kafka ? ", " : "", kafka ? "" : "Kafka unreachable");
        return IQ_READY_NOT;
    }
    if (!atomic_load(&w->redis_ok)) {
        snprintf(reason, size, "Redis unreachable: inbox listings are served from PostgreSQL");
        return IQ_READY_DEGRADED;
    }
    return IQ_READY_OK;
}
