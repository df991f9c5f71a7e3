/* SPDX-License-Identifier: MIT */
/* Integration: messages produced through the kafka module reach a consumer group member in
 * another process, through the dev broker; stored offsets survive a consumer restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "kafka.h"
#include "log.h"
#include "util.h"

#define COUNT 5

static char topic[64], group[64];

static iq_config *load_config(void)
{
    iq_config *cfg = iq_config_new();
    char *err = NULL;
    if (iq_config_load_env(cfg, &err) < 0) {
        fprintf(stderr, "%s\n", err);
        exit(2);
    }
    iq_config_set(cfg, "kafka_session_timeout", "6s", "test", &err);
    iq_config_set(cfg, "kafka_fetch_wait", "10ms", "test", &err);
    return cfg;
}

/* Consumes until `want` messages arrived; stores offsets; exits with the count seen. */
static int consume(int want, int first_expected)
{
    iq_config *cfg = load_config();
    char *err = NULL;
    const char *topics[] = {topic, NULL};
    iq_kafka_consumer *c = iq_kafka_consumer_new(cfg, group, topics, &err);
    if (!c) {
        fprintf(stderr, "consumer: %s\n", err);
        return 100;
    }
    int seen = 0, bad = 0;
    int64_t deadline = iq_now_mono_ms() + 30000;
    while (seen < want && iq_now_mono_ms() < deadline) {
        rd_kafka_message_t *m = iq_kafka_consumer_poll(c, 200);
        if (!m)
            continue;
        char expect[32];
        snprintf(expect, sizeof(expect), "job-%d", first_expected + seen);
        if (m->len != strlen(expect) || memcmp(m->payload, expect, m->len) != 0)
            bad++;
        iq_kafka_consumer_store(c, m);
        rd_kafka_message_destroy(m);
        seen++;
    }
    iq_kafka_consumer_free(&c);
    iq_config_free(&cfg);
    return bad ? 101 : seen;
}

static pid_t spawn_consumer(int want, int first)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(consume(want, first));
    return pid;
}

static void produce(int from, int to)
{
    iq_config *cfg = load_config();
    char *err = NULL;
    iq_kafka_producer *p = iq_kafka_producer_new(cfg, &err);
    assert_non_null(p);
    for (int i = from; i < to; i++) {
        char v[32];
        snprintf(v, sizeof(v), "job-%d", i);
        /* one key: one partition, so the order is the order produced */
        assert_int_equal(iq_kafka_produce_sync(p, topic, "account-1", v, strlen(v), &err), 0);
    }
    iq_kafka_producer_free(&p);
    iq_config_free(&cfg);
}

static void test_group_consumer_in_other_process(void **state)
{
    (void)state;
    pid_t child = spawn_consumer(COUNT, 0);
    produce(0, COUNT);
    int st = 0;
    waitpid(child, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), COUNT);

    /* A new member of the same group starts after the stored offsets: it sees only new ones. */
    produce(COUNT, COUNT + 2);
    child = spawn_consumer(2, COUNT);
    waitpid(child, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
}

static void test_unreachable_broker_fails_cleanly(void **state)
{
    (void)state;
    iq_config *cfg = load_config();
    char *err = NULL;
    assert_int_equal(iq_config_set(cfg, "kafka_brokers", "127.0.0.1:1", "test", &err), 0);
    assert_int_equal(iq_config_set(cfg, "kafka_timeout", "2s", "test", &err), 0);
    iq_kafka_producer *p = iq_kafka_producer_new(cfg, &err);
    assert_non_null(p);
    int64_t t0 = iq_now_mono_ms();
    assert_int_equal(iq_kafka_produce_sync(p, topic, "k", "v", 1, &err), -1);
    assert_true(iq_now_mono_ms() - t0 < 6000);
    assert_non_null(strstr(err, "INBOXQ_KAFKA_BROKERS"));
    free(err);
    iq_kafka_producer_free(&p);
    iq_config_free(&cfg);
}

int main(void)
{
    snprintf(topic, sizeof(topic), "it.kafka.%ld", (long)getpid());
    snprintf(group, sizeof(group), "it-kafka-%ld", (long)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_consumer_in_other_process),
        cmocka_unit_test(test_unreachable_broker_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
