/* SPDX-License-Identifier: MIT */
/* lib/bus/kafka.c on librdkafka's own in-process cluster (the engine of the dev broker): the
 * producer's delivery reports, the group consumer's stored offsets, pause, both lag readings,
 * the key partitioner the push owner relies on, and the errors with no broker at all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h> /* after rdkafka.h, which it needs */

#include "config.h"
#include "kafka.h"
#include "util.h"

#define TOPIC "unit.jobs"
#define PARTITIONS 3

static rd_kafka_t *mock_owner;
static rd_kafka_mock_cluster_t *mock;

static iq_config *config_for(const char *brokers, const char *timeout)
{
    iq_config *cfg = iq_config_new();
    char *err = NULL;
    assert_int_equal(iq_config_set(cfg, "kafka_brokers", brokers, "test", &err), 0);
    assert_int_equal(iq_config_set(cfg, "kafka_timeout", timeout, "test", &err), 0);
    return cfg;
}

static int setup(void **state)
{
    (void)state;
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    mock_owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(mock_owner);
    mock = rd_kafka_mock_cluster_new(mock_owner, 1);
    assert_non_null(mock);
    assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC, PARTITIONS, 1), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(mock_owner);
    return 0;
}

typedef struct lag_seen {
    int calls;
    int64_t total;
} lag_seen;

static void on_lag(void *ctx, const char *topic, int32_t partition, int64_t lag)
{
    lag_seen *l = ctx;
    assert_string_equal(topic, TOPIC);
    assert_true(partition >= 0 && partition < PARTITIONS);
    l->calls++;
    l->total += lag;
}

static void test_produce_consume_commit(void **state)
{
    (void)state;
    iq_config *cfg = config_for(rd_kafka_mock_cluster_bootstraps(mock), "5s");
    char *err = NULL;
    iq_kafka_producer *p = iq_kafka_producer_new(cfg, &err);
    assert_non_null(p);
    assert_int_equal(iq_kafka_producer_ping(p, 5000, &err), 0);
    static const char *const keys[] = {"17", "42", "4711"};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(iq_kafka_produce_sync(p, TOPIC, keys[i], "job", 3, &err), 0);
    iq_delivery d = IQ_DELIVERY_PENDING;
    assert_int_equal(iq_kafka_produce(p, TOPIC, "99", "job", 3, &d, &err), 0);
    assert_int_equal(iq_kafka_flush(p, 5000), 0);
    assert_int_equal(d, IQ_DELIVERY_OK);

    const char *const topics[] = {TOPIC, NULL};
    iq_kafka_consumer *c = iq_kafka_consumer_new(cfg, "unit-group", topics, &err);
    assert_non_null(c);
    int got = 0;
    int64_t t0 = iq_now_mono_ms();
    while (got < 4 && iq_now_mono_ms() - t0 < 30000) {
        rd_kafka_message_t *m = iq_kafka_consumer_poll(c, 200);
        if (!m)
            continue;
        /* the producers' partitioner, as the push owner computes it */
        char key[16];
        snprintf(key, sizeof(key), "%.*s", (int)m->key_len, (const char *)m->key);
        assert_int_equal(m->partition, iq_kafka_key_partition(key, PARTITIONS));
        assert_int_equal(iq_kafka_consumer_store(c, m), 0);
        rd_kafka_message_destroy(m);
        got++;
    }
    assert_int_equal(got, 4);
    assert_int_equal(iq_kafka_consumer_commit(c), 0);
    lag_seen l = {0, 0};
    assert_int_equal(iq_kafka_consumer_lag(c, on_lag, &l), 0);
    assert_true(l.calls >= 1);
    assert_int_equal(l.total, 0);
    iq_kafka_consumer_pause(c, TOPIC, 0, true);
    iq_kafka_consumer_pause(c, TOPIC, 0, false);
    assert_int_equal(iq_kafka_partition_count(iq_kafka_consumer_handle(c), TOPIC, 5000, &err),
                     PARTITIONS);
    /* the group's lag from outside the group: nothing left after the commit */
    iq_kafka_lag *lag = NULL;
    size_t n = 0;
    assert_int_equal(iq_kafka_group_lag(cfg, "unit-group", topics, &lag, &n, &err), 0);
    assert_int_equal(n, PARTITIONS);
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(lag[i].topic, TOPIC);
        assert_int_equal(lag[i].partition, (int32_t)i);
        sum += lag[i].lag;
    }
    assert_int_equal(sum, 0);
    iq_kafka_lag_free(&lag, n);
    assert_null(lag);
    /* ... and for a group that never read: every message */
    assert_int_equal(iq_kafka_group_lag(cfg, "unit-nobody", topics, &lag, &n, &err), 0);
    sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += lag[i].lag;
    assert_int_equal(sum, 4);
    iq_kafka_lag_free(&lag, n);

    iq_kafka_consumer_leave(c);
    iq_kafka_consumer_free(&c);
    assert_null(c);
    iq_kafka_producer_free(&p);
    assert_null(p);
    iq_config_free(&cfg);
}

/* No broker: each call says what failed and what to check, within its timeout. */
static void test_no_broker(void **state)
{
    (void)state;
    iq_config *cfg = config_for("127.0.0.1:1", "1s");
    char *err = NULL;
    iq_kafka_producer *p = iq_kafka_producer_new(cfg, &err);
    assert_non_null(p);
    int64_t t0 = iq_now_mono_ms();
    assert_int_equal(iq_kafka_producer_ping(p, 500, &err), -1);
    assert_non_null(strstr(err, "kafka_brokers"));
    free(err);
    err = NULL;
    assert_int_equal(iq_kafka_produce_sync(p, TOPIC, "1", "x", 1, &err), -1);
    assert_non_null(strstr(err, "did not confirm"));
    assert_true(iq_now_mono_ms() - t0 < 10000);
    free(err);
    err = NULL;
    iq_kafka_producer_free(&p);
    const char *const topics[] = {TOPIC, NULL};
    iq_kafka_lag *lag = NULL;
    size_t n = 0;
    assert_int_equal(iq_kafka_group_lag(cfg, "g", topics, &lag, &n, &err), -1);
    assert_non_null(err);
    free(err);
    iq_config_free(&cfg);
}

static void test_lag_of(void **state)
{
    (void)state;
    assert_int_equal(iq_kafka_lag_of(5, 0, 10), 5);
    assert_int_equal(iq_kafka_lag_of(-1, 3, 10), 7); /* nothing committed: the whole partition */
    assert_int_equal(iq_kafka_lag_of(12, 0, 10), 0); /* never negative */
    assert_int_equal(iq_kafka_lag_of(0, 0, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lag_of),
        cmocka_unit_test(test_produce_consume_commit),
        cmocka_unit_test(test_no_broker),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
