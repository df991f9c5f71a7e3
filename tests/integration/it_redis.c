/* SPDX-License-Identifier: MIT */
/* Integration: set/get through the redis module on the harness's Redis, and a clean, fast
 * error (then recovery) when a Redis server stops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "redis.h"
#include "util.h"

static void test_set_get(void **state)
{
    (void)state;
    char *err = NULL;
    iq_redis *r = iq_redis_new(getenv("INBOXQ_REDIS_URL"), 500, &err);
    assert_non_null(r);
    char key[64];
    snprintf(key, sizeof(key), "it:redis:%ld", (long)getpid());
    assert_int_equal(iq_redis_set(r, key, "va\0lue", 6, 60, &err), 0);
    char *v = NULL;
    size_t len = 0;
    assert_int_equal(iq_redis_get(r, key, &v, &len, &err), 1);
    assert_int_equal(len, 6);
    assert_memory_equal(v, "va\0lue", 6);
    free(v);
    assert_int_equal(iq_redis_del(r, key, &err), 0);
    assert_int_equal(iq_redis_get(r, key, &v, &len, &err), 0);
    iq_redis_free(&r);
    assert_null(r);
}

/* Starts a private redis-server so stopping it disturbs no other test. */
static void test_stopped_redis(void **state)
{
    (void)state;
    const char *base = getenv("INBOXQ_TEST_PG_PORT");
    int64_t pg_port = 27100;
    if (base)
        assert_int_equal(iq_parse_i64(base, 1, 65000, &pg_port), 0);
    int port = (int)pg_port + 98;
    char dir[] = "/tmp/it-redis-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "redis-server --bind 127.0.0.1 --port %d --save '' --appendonly no --dir %s "
             "--daemonize yes --pidfile %s/pid </dev/null >/dev/null 2>&1",
             port, dir, dir);
    assert_int_equal(system(cmd), 0);
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    char *err = NULL;
    iq_redis *r = iq_redis_new(url, 300, &err);
    int up = -1;
    for (int i = 0; i < 50 && up < 0; i++) {
        free(err);
        err = NULL;
        up = iq_redis_ping(r, &err);
        if (up < 0)
            usleep(100 * 1000);
    }
    assert_int_equal(up, 0);
    snprintf(cmd, sizeof(cmd),
             "kill $(cat %s/pid); while kill -0 $(cat %s/pid) 2>/dev/null; do sleep 0.05; done",
             dir, dir);
    assert_int_equal(system(cmd), 0);

    int64_t t0 = iq_now_mono_ms();
    assert_int_equal(iq_redis_set(r, "k", "v", 1, 0, &err), -1);
    assert_non_null(err);
    assert_non_null(strstr(err, url + strlen("redis://")));
    free(err);
    err = NULL;
    /* while down, calls fail fast without waiting for the timeout again */
    char *v = NULL;
    assert_int_equal(iq_redis_get(r, "k", &v, NULL, &err), -1);
    free(err);
    err = NULL;
    assert_true(iq_now_mono_ms() - t0 < 2000);
    iq_redis_free(&r);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_bad_url(void **state)
{
    (void)state;
    char *err = NULL;
    assert_null(iq_redis_new("http://x", 100, &err));
    assert_non_null(strstr(err, "INBOXQ_REDIS_URL"));
    free(err);
    err = NULL;
    assert_null(iq_redis_new("redis://127.0.0.1:99999", 100, &err));
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_get),
        cmocka_unit_test(test_stopped_redis),
        cmocka_unit_test(test_bad_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
