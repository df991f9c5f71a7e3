/* SPDX-License-Identifier: MIT */
/* Unit tests of the Prometheus registry: exact exposition text, escaping, the series cap and
 * exact totals under concurrency; with --dump-sample it prints a sample for promtool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>
#include <pthread.h>

#include <cmocka.h>

#include "buf.h"
#include "metrics.h"

#define DROPPED_HEADER                                                                             \
    "# HELP inboxq_metrics_dropped_samples_total Samples dropped because their metric reached "    \
    "its cap on label-value combinations.\n"                                                       \
    "# TYPE inboxq_metrics_dropped_samples_total counter\n"

static char *render(iq_metrics *m)
{
    iq_buf b;
    iq_buf_init(&b, 1 << 20);
    assert_int_equal(iq_metrics_render(m, &b), 0);
    char *s = iq_buf_detach(&b, NULL);
    return s == NULL ? iq_xstrdup("") : s;
}

static void assert_render(iq_metrics *m, const char *expected)
{
    char *got = render(m);
    if (strcmp(got, expected) != 0)
        fprintf(stderr, "--- expected\n%s--- got\n%s---\n", expected, got);
    assert_string_equal(got, expected);
    free(got);
}

static void test_counter_gauge_exact(void **state)
{
    (void)state;
    iq_metrics *m = iq_metrics_new(0);
    iq_counter *checks = iq_metrics_counter(m, "inboxq_checks_total", "Checks by outcome.",
                                            (const char *[]){"outcome", "error_class", NULL});
    iq_gauge *inflight = iq_metrics_gauge(m, "inboxq_jobs_in_flight", "Jobs running now.", NULL);
    iq_counter *plain =
        iq_metrics_counter(m, "inboxq_plain_total", "Help with \\ and\nnewline.", NULL);

    iq_counter_inc(checks, (const char *[]){"ok", ""});
    iq_counter_inc(checks, (const char *[]){"ok", ""});
    iq_counter_add(checks, (const char *[]){"error", "auth"}, 3);
    iq_counter_inc(checks, (const char *[]){"error", "say \"hi\"\\now\nnext"});
    iq_counter_add(checks, (const char *[]){"ok", ""}, -5);  /* ignored: counters only go up */
    iq_counter_add(checks, (const char *[]){"ok", ""}, NAN); /* ignored */
    iq_gauge_add(inflight, NULL, 3);
    iq_gauge_add(inflight, NULL, -1);
    (void)plain;

    assert_render(
        m, "# HELP inboxq_checks_total Checks by outcome.\n"
           "# TYPE inboxq_checks_total counter\n"
           "inboxq_checks_total{outcome=\"ok\",error_class=\"\"} 2\n"
           "inboxq_checks_total{outcome=\"error\",error_class=\"auth\"} 3\n"
           "inboxq_checks_total{outcome=\"error\",error_class=\"say \\\"hi\\\"\\\\now\\nnext\"} 1\n"
           "# HELP inboxq_jobs_in_flight Jobs running now.\n"
           "# TYPE inboxq_jobs_in_flight gauge\n"
           "inboxq_jobs_in_flight 2\n"
           "# HELP inboxq_plain_total Help with \\\\ and\\nnewline.\n"
           "# TYPE inboxq_plain_total counter\n"
           "inboxq_plain_total 0\n" DROPPED_HEADER);

    /* Registering again gives the same handle. */
    assert_ptr_equal(iq_metrics_counter(m, "inboxq_checks_total", "Checks by outcome.",
                                        (const char *[]){"outcome", "error_class", NULL}),
                     checks);
    iq_metrics_free(&m);
    assert_null(m);
    iq_metrics_free(&m);
}

static void test_values(void **state)
{
    (void)state;
    iq_metrics *m = iq_metrics_new(0);
    iq_gauge *g = iq_metrics_gauge(m, "g", "values", (const char *[]){"k", NULL});
    iq_gauge_set(g, (const char *[]){"tenth"}, 0.1);
    iq_gauge_set(g, (const char *[]){"small"}, 1e-7);
    iq_gauge_set(g, (const char *[]){"big"}, 1e20);
    iq_gauge_set(g, (const char *[]){"neg"}, -2.5);
    iq_gauge_set(g, (const char *[]){"inf"}, INFINITY);
    iq_gauge_set(g, (const char *[]){"ninf"}, -INFINITY);
    iq_gauge_set(g, (const char *[]){"nan"}, NAN);
    iq_gauge_set(g, (const char *[]){"third"}, 1.0 / 3.0);
    iq_gauge_set(g, (const char *[]){NULL}, 7);
    assert_render(m, "# HELP g values\n"
                     "# TYPE g gauge\n"
                     "g{k=\"tenth\"} 0.1\n"
                     "g{k=\"small\"} 1e-07\n"
                     "g{k=\"big\"} 1e+20\n"
                     "g{k=\"neg\"} -2.5\n"
                     "g{k=\"inf\"} +Inf\n"
                     "g{k=\"ninf\"} -Inf\n"
                     "g{k=\"nan\"} NaN\n"
                     "g{k=\"third\"} 0.33333333333333331\n"
                     "g{k=\"\"} 7\n" DROPPED_HEADER);
    iq_metrics_free(&m);
}

static void test_histogram_exact(void **state)
{
    (void)state;
    iq_metrics *m = iq_metrics_new(0);
    static const double bounds[] = {0.1, 1, 2.5};
    iq_histogram *h =
        iq_metrics_histogram(m, "inboxq_check_duration_seconds", "Check duration.",
                             (const char *[]){"protocol", NULL}, bounds, IQ_ARRAY_LEN(bounds));
    iq_histogram *plain = iq_metrics_histogram(m, "plain_seconds", "No labels.", NULL, bounds, 3);
    iq_histogram_observe(h, (const char *[]){"imap"}, 0.05);
    iq_histogram_observe(h, (const char *[]){"imap"}, 0.1); /* le is inclusive */
    iq_histogram_observe(h, (const char *[]){"imap"}, 2);
    iq_histogram_observe(h, (const char *[]){"imap"}, 30);
    iq_histogram_observe(h, (const char *[]){"pop3"}, 1);
    iq_histogram_observe(h, (const char *[]){"pop3"}, NAN); /* ignored */
    (void)plain;
    assert_render(m, "# HELP inboxq_check_duration_seconds Check duration.\n"
                     "# TYPE inboxq_check_duration_seconds histogram\n"
                     "inboxq_check_duration_seconds_bucket{protocol=\"imap\",le=\"0.1\"} 2\n"
                     "inboxq_check_duration_seconds_bucket{protocol=\"imap\",le=\"1\"} 2\n"
                     "inboxq_check_duration_seconds_bucket{protocol=\"imap\",le=\"2.5\"} 3\n"
                     "inboxq_check_duration_seconds_bucket{protocol=\"imap\",le=\"+Inf\"} 4\n"
                     "inboxq_check_duration_seconds_sum{protocol=\"imap\"} 32.15\n"
                     "inboxq_check_duration_seconds_count{protocol=\"imap\"} 4\n"
                     "inboxq_check_duration_seconds_bucket{protocol=\"pop3\",le=\"0.1\"} 0\n"
                     "inboxq_check_duration_seconds_bucket{protocol=\"pop3\",le=\"1\"} 1\n"
                     "inboxq_check_duration_seconds_bucket{protocol=\"pop3\",le=\"2.5\"} 1\n"
                     "inboxq_check_duration_seconds_bucket{protocol=\"pop3\",le=\"+Inf\"} 1\n"
                     "inboxq_check_duration_seconds_sum{protocol=\"pop3\"} 1\n"
                     "inboxq_check_duration_seconds_count{protocol=\"pop3\"} 1\n"
                     "# HELP plain_seconds No labels.\n"
                     "# TYPE plain_seconds histogram\n"
                     "plain_seconds_bucket{le=\"0.1\"} 0\n"
                     "plain_seconds_bucket{le=\"1\"} 0\n"
                     "plain_seconds_bucket{le=\"2.5\"} 0\n"
                     "plain_seconds_bucket{le=\"+Inf\"} 0\n"
                     "plain_seconds_sum 0\n"
                     "plain_seconds_count 0\n" DROPPED_HEADER);

    /* The default buckets are the check-duration ones. */
    iq_histogram *d = iq_metrics_histogram(m, "d_seconds", "Default buckets.", NULL, NULL, 0);
    iq_histogram_observe(d, NULL, 700);
    char *text = render(m);
    assert_non_null(strstr(text, "d_seconds_bucket{le=\"0.05\"} 0\n"));
    assert_non_null(strstr(text, "d_seconds_bucket{le=\"600\"} 0\n"));
    assert_non_null(strstr(text, "d_seconds_bucket{le=\"+Inf\"} 1\n"));
    free(text);
    iq_metrics_free(&m);
}

static void lag_fn(iq_metrics_sink *sink, void *ctx)
{
    int *calls = ctx;
    (*calls)++;
    iq_metrics_sink_add(sink, (const char *[]){"inboxq.jobs.check", "0"}, 12);
    iq_metrics_sink_add(sink, (const char *[]){"inboxq.jobs.check", "1"}, 0);
}

static void pending_fn(iq_metrics_sink *sink, void *ctx)
{
    (void)ctx;
    iq_metrics_sink_add(sink, NULL, 5);
}

static void nothing_fn(iq_metrics_sink *sink, void *ctx)
{
    (void)sink;
    (void)ctx;
}

static void test_callback_gauges(void **state)
{
    (void)state;
    int calls = 0;
    iq_metrics *m = iq_metrics_new(0);
    iq_metrics_gauge_fn(m, "inboxq_kafka_consumer_lag", "Messages behind.",
                        (const char *[]){"topic", "partition", NULL}, lag_fn, &calls);
    iq_metrics_gauge_fn(m, "inboxq_outbox_pending", "Outbox rows pending.", NULL, pending_fn, NULL);
    iq_metrics_counter_fn(m, "inboxq_unknown_total", "Nothing known yet.", NULL, nothing_fn, NULL);
    const char *expected =
        "# HELP inboxq_kafka_consumer_lag Messages behind.\n"
        "# TYPE inboxq_kafka_consumer_lag gauge\n"
        "inboxq_kafka_consumer_lag{topic=\"inboxq.jobs.check\",partition=\"0\"} 12\n"
        "inboxq_kafka_consumer_lag{topic=\"inboxq.jobs.check\",partition=\"1\"} 0\n"
        "# HELP inboxq_outbox_pending Outbox rows pending.\n"
        "# TYPE inboxq_outbox_pending gauge\n"
        "inboxq_outbox_pending 5\n"
        "# HELP inboxq_unknown_total Nothing known yet.\n"
        "# TYPE inboxq_unknown_total counter\n" DROPPED_HEADER;
    assert_render(m, expected);
    assert_render(m, expected);
    assert_int_equal(calls, 2);
    iq_metrics_free(&m);
}

static void many_fn(iq_metrics_sink *sink, void *ctx)
{
    (void)ctx;
    for (int i = 0; i < 5; i++) {
        char v[8];
        snprintf(v, sizeof(v), "%d", i);
        iq_metrics_sink_add(sink, (const char *[]){v}, i);
    }
}

static void test_cardinality_cap(void **state)
{
    (void)state;
    iq_metrics *m = iq_metrics_new(3);
    iq_counter *c = iq_metrics_counter(m, "c_total", "capped", (const char *[]){"k", NULL});
    iq_histogram *h = iq_metrics_histogram(m, "h_seconds", "capped", (const char *[]){"k", NULL},
                                           (const double[]){1}, 1);
    iq_metrics_gauge_fn(m, "f", "capped", (const char *[]){"k", NULL}, many_fn, NULL);
    for (int i = 0; i < 10; i++) {
        char v[8];
        snprintf(v, sizeof(v), "v%d", i);
        iq_counter_inc(c, (const char *[]){v});
        iq_histogram_observe(h, (const char *[]){v}, 0.5);
    }
    /* Existing series still count once the cap is reached. */
    iq_counter_add(c, (const char *[]){"v0"}, 10);
    assert_int_equal(iq_metrics_dropped(m), 14);
    char *text = render(m);
    assert_non_null(
        strstr(text, "c_total{k=\"v0\"} 11\nc_total{k=\"v1\"} 1\nc_total{k=\"v2\"} 1\n#"));
    assert_null(strstr(text, "v3"));
    assert_non_null(strstr(text, "h_seconds_count{k=\"v2\"} 1\n#"));
    assert_non_null(strstr(text, "f{k=\"0\"} 0\nf{k=\"1\"} 1\nf{k=\"2\"} 2\n#"));
    assert_non_null(strstr(text, DROPPED_HEADER
                           "inboxq_metrics_dropped_samples_total{metric=\"c_total\"} 7\n"
                           "inboxq_metrics_dropped_samples_total{metric=\"h_seconds\"} 7\n"
                           "inboxq_metrics_dropped_samples_total{metric=\"f\"} 2\n"));
    free(text);
    assert_int_equal(iq_metrics_dropped(m), 16);
    iq_metrics_free(&m);
}

static void test_label_value_hygiene(void **state)
{
    (void)state;
    iq_metrics *m = iq_metrics_new(0);
    iq_counter *c = iq_metrics_counter(m, "c_total", "hygiene", (const char *[]){"k", NULL});
    char longv[400];
    memset(longv, 'x', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    iq_counter_inc(c, (const char *[]){longv});
    longv[200] = 'y'; /* differs only past the truncation: same series */
    iq_counter_inc(c, (const char *[]){longv});
    iq_counter_inc(c, (const char *[]){"caf\xc3\xa9 \xff\xfe ok"});
    char *text = render(m);
    char expected[512];
    snprintf(expected, sizeof(expected), "c_total{k=\"%.*s\"} 2\n", IQ_METRICS_MAX_LABEL_VALUE,
             longv);
    assert_non_null(strstr(text, expected));
    assert_non_null(strstr(text, "c_total{k=\"caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd ok\"} 1\n"));
    free(text);
    iq_metrics_free(&m);
}

static void test_render_cap(void **state)
{
    (void)state;
    iq_metrics *m = iq_metrics_new(0);
    iq_counter *c = iq_metrics_counter(m, "c_total", "capped output", (const char *[]){"k", NULL});
    for (int i = 0; i < 100; i++) {
        char v[8];
        snprintf(v, sizeof(v), "%d", i);
        iq_counter_inc(c, (const char *[]){v});
    }
    iq_buf b;
    iq_buf_init(&b, 256);
    assert_int_equal(iq_metrics_render(m, &b), -1);
    iq_buf_release(&b);
    iq_metrics_free(&m);
}

#define THREADS 4
#define ITERATIONS 100000

typedef struct {
    iq_counter *c;
    iq_gauge *g;
    iq_histogram *h;
    int id;
} worker_arg;

static void *hammer(void *p)
{
    worker_arg *a = p;
    static const char *const outcomes[] = {"ok", "error", "timeout"};
    for (int i = 0; i < ITERATIONS; i++) {
        iq_counter_inc(a->c, (const char *[]){outcomes[i % 3]});
        iq_gauge_add(a->g, NULL, (i % 2) == 0 ? 1 : -1);
        iq_histogram_observe(a->h, NULL, (i % 2) == 0 ? 0.5 : 5);
    }
    return NULL;
}

static void test_concurrency(void **state)
{
    (void)state;
    iq_metrics *m = iq_metrics_new(0);
    worker_arg args[THREADS];
    pthread_t threads[THREADS];
    iq_counter *c = iq_metrics_counter(m, "c_total", "hammered", (const char *[]){"outcome", NULL});
    iq_gauge *g = iq_metrics_gauge(m, "g", "hammered", NULL);
    iq_histogram *h =
        iq_metrics_histogram(m, "h_seconds", "hammered", NULL, (const double[]){1}, 1);
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg){.c = c, .g = g, .h = h, .id = i};
        assert_int_equal(pthread_create(&threads[i], NULL, hammer, &args[i]), 0);
    }
    /* Scrapes while the threads run must be consistent (+Inf bucket == count). */
    for (int i = 0; i < 20; i++) {
        char *text = render(m);
        const char *inf = strstr(text, "h_seconds_bucket{le=\"+Inf\"} ");
        const char *cnt = strstr(text, "h_seconds_count ");
        assert_non_null(inf);
        assert_non_null(cnt);
        assert_int_equal(strtoll(inf + strlen("h_seconds_bucket{le=\"+Inf\"} "), NULL, 10),
                         strtoll(cnt + strlen("h_seconds_count "), NULL, 10));
        free(text);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);

    char *text = render(m);
    /* 4 x 100000 increments, split 33334 / 33333 / 33333 per thread. */
    assert_non_null(strstr(text, "c_total{outcome=\"ok\"} 133336\n"));
    assert_non_null(strstr(text, "c_total{outcome=\"error\"} 133332\n"));
    assert_non_null(strstr(text, "c_total{outcome=\"timeout\"} 133332\n"));
    assert_non_null(strstr(text, "\ng 0\n"));
    assert_non_null(strstr(text, "h_seconds_bucket{le=\"1\"} 200000\n"));
    assert_non_null(strstr(text, "h_seconds_bucket{le=\"+Inf\"} 400000\n"));
    assert_non_null(strstr(text, "h_seconds_sum 1100000\n"));
    assert_non_null(strstr(text, "h_seconds_count 400000\n"));
    free(text);
    iq_metrics_free(&m);
}

/* A registry like the worker's, with every kind of sample and the escapes, for promtool. */
static int dump_sample(void)
{
    iq_metrics *m = iq_metrics_new(2);
    iq_counter *checks =
        iq_metrics_counter(m, "inboxq_checks_total", "Checks finished, by outcome and error class.",
                           (const char *[]){"outcome", "error_class", NULL});
    iq_histogram *dur = iq_metrics_histogram(m, "inboxq_check_duration_seconds",
                                             "How long checks took.\nSecond line with \\.",
                                             (const char *[]){"protocol", NULL}, NULL, 0);
    iq_counter *bytes =
        iq_metrics_counter(m, "inboxq_fetched_bytes_total", "Message bytes fetched.", NULL);
    iq_gauge *inflight = iq_metrics_gauge(m, "inboxq_jobs_in_flight", "Jobs running now.", NULL);
    iq_counter *capped =
        iq_metrics_counter(m, "inboxq_capped_total", "A family that reached its series cap.",
                           (const char *[]){"k", NULL});
    iq_metrics_gauge_fn(m, "inboxq_kafka_consumer_lag", "Messages behind, per partition.",
                        (const char *[]){"topic", "partition", NULL}, lag_fn, &(int){0});
    iq_metrics_gauge_fn(m, "inboxq_outbox_pending", "Outbox rows pending.", NULL, pending_fn, NULL);
    iq_counter_add(checks, (const char *[]){"ok", ""}, 41);
    iq_counter_inc(checks, (const char *[]){"error", "quote \" backslash \\ newline \n end"});
    iq_histogram_observe(dur, (const char *[]){"imap"}, 0.7);
    iq_histogram_observe(dur, (const char *[]){"imap"}, 12.25);
    iq_histogram_observe(dur, (const char *[]){"pop3"}, 0.01);
    iq_counter_add(bytes, NULL, 123456789);
    iq_gauge_set(inflight, NULL, 3);
    iq_counter_inc(capped, (const char *[]){"a"});
    iq_counter_inc(capped, (const char *[]){"b"});
    iq_counter_inc(capped, (const char *[]){"c"});
    iq_buf b;
    iq_buf_init(&b, 1 << 20);
    int rc = iq_metrics_render(m, &b);
    if (rc == 0)
        fputs(b.data, stdout);
    iq_buf_release(&b);
    iq_metrics_free(&m);
    return rc == 0 && fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        if (strcmp(argv[1], "--dump-sample") == 0)
            return dump_sample();
        fprintf(stderr, "usage: %s [--dump-sample]\n", argv[0]);
        return 64; /* EX_USAGE */
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_gauge_exact), cmocka_unit_test(test_values),
        cmocka_unit_test(test_histogram_exact),     cmocka_unit_test(test_callback_gauges),
        cmocka_unit_test(test_cardinality_cap),     cmocka_unit_test(test_label_value_hygiene),
        cmocka_unit_test(test_render_cap),          cmocka_unit_test(test_concurrency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
