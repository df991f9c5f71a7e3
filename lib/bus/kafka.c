/* SPDX-License-Identifier: MIT */
/* librdkafka producer (idempotent, delivery reports) and group consumer (manual offset store). */
#include "kafka.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

struct iq_kafka_producer {
    rd_kafka_t *rk;
    int64_t timeout_ms;
};

struct iq_kafka_consumer {
    rd_kafka_t *rk;
    iq_rebalance_fn *cb;
    void *cb_ctx;
};

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    iq_kafka_consumer *c = opaque;
    bool assigned = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    IQ_INFO("kafka: %d partition(s) %s", parts->cnt, assigned ? "assigned" : "revoked");
    if (!assigned && c && c->cb)
        c->cb(c->cb_ctx, false, parts);
    if (!assigned) {
        /* offsets stored for finished jobs go out before another member takes over */
        rd_kafka_commit(rk, NULL, 0);
        rd_kafka_assign(rk, NULL);
    } else {
        rd_kafka_assign(rk, parts);
        if (c && c->cb)
            c->cb(c->cb_ctx, true, parts);
    }
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    IQ_UNUSED(rk);
    /* Broker-down chatter (levels 3-4) repeats every few seconds and every failure that matters
     * also surfaces as a delivery or poll error: keep it at debug. */
    iq_log_level l = level <= 2 ? IQ_LOG_ERROR : IQ_LOG_DEBUG;
    IQ_LOG(l, "kafka %s: %s", fac, buf);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    IQ_UNUSED(rk);
    IQ_UNUSED(opaque);
    iq_delivery *state = m->_private;
    if (m->err)
        IQ_WARN("kafka delivery to %s failed: %s", rd_kafka_topic_name(m->rkt),
                rd_kafka_err2str(m->err));
    if (state)
        *state = m->err ? IQ_DELIVERY_FAILED : IQ_DELIVERY_OK;
}

static int set(rd_kafka_conf_t *conf, const char *k, const char *v, char **error_r)
{
    char err[256];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        *error_r = iq_xasprintf("kafka setting %s=%s: %s", k, v, err);
        return -1;
    }
    return 0;
}

static rd_kafka_conf_t *base_conf(const iq_config *cfg, char **error_r)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char ms[32];
    rd_kafka_conf_set_log_cb(conf, log_cb);
    if (set(conf, "bootstrap.servers", iq_config_str(cfg, IQ_SET_KAFKA_BROKERS), error_r) < 0)
        goto fail;
    snprintf(ms, sizeof(ms), "%lld", (long long)iq_config_int(cfg, IQ_SET_KAFKA_TIMEOUT));
    if (set(conf, "socket.timeout.ms", ms, error_r) < 0 ||
        set(conf, "log.connection.close", "false", error_r) < 0)
        goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

iq_kafka_producer *iq_kafka_producer_new(const iq_config *cfg, char **error_r)
{
    rd_kafka_conf_t *conf = base_conf(cfg, error_r);
    if (!conf)
        return NULL;
    char ms[32];
    snprintf(ms, sizeof(ms), "%lld", (long long)iq_config_int(cfg, IQ_SET_KAFKA_TIMEOUT));
    if (set(conf, "enable.idempotence", "true", error_r) < 0 ||
        set(conf, "message.timeout.ms", ms, error_r) < 0 ||
        set(conf, "linger.ms", "5", error_r) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        *error_r = iq_xasprintf("kafka producer: %s", err);
        return NULL;
    }
    iq_kafka_producer *p = iq_xcalloc(1, sizeof(*p));
    p->rk = rk;
    p->timeout_ms = iq_config_int(cfg, IQ_SET_KAFKA_TIMEOUT);
    return p;
}

void iq_kafka_producer_free(iq_kafka_producer **pp)
{
    iq_kafka_producer *p = *pp;
    if (!p)
        return;
    rd_kafka_flush(p->rk, (int)p->timeout_ms);
    if (rd_kafka_outq_len(p->rk) > 0)
        IQ_WARN("kafka producer closed with %d message(s) undelivered", rd_kafka_outq_len(p->rk));
    rd_kafka_destroy(p->rk);
    free(p);
    *pp = NULL;
}

int iq_kafka_produce(iq_kafka_producer *p, const char *topic, const char *key, const void *value,
                     size_t len, iq_delivery *state_r, char **error_r)
{
    if (state_r)
        *state_r = IQ_DELIVERY_PENDING;
    for (int attempt = 0;; attempt++) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
            RD_KAFKA_V_VALUE((void *)(uintptr_t)value, len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(state_r), RD_KAFKA_V_END);
        if (!err)
            return 0;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && attempt < 100) {
            rd_kafka_poll(p->rk, 100);
            continue;
        }
        *error_r = iq_xasprintf("kafka produce to %s: %s", topic, rd_kafka_err2str(err));
        return -1;
    }
}

int iq_kafka_flush(iq_kafka_producer *p, int64_t timeout_ms)
{
    rd_kafka_flush(p->rk, (int)timeout_ms);
    return rd_kafka_outq_len(p->rk) == 0 ? 0 : -1;
}

int iq_kafka_produce_sync(iq_kafka_producer *p, const char *topic, const char *key,
                          const void *value, size_t len, char **error_r)
{
    iq_delivery state;
    if (iq_kafka_produce(p, topic, key, value, len, &state, error_r) < 0)
        return -1;
    int64_t deadline = iq_now_mono_ms() + p->timeout_ms + 1000;
    while (state == IQ_DELIVERY_PENDING && iq_now_mono_ms() < deadline)
        rd_kafka_poll(p->rk, 50);
    if (state == IQ_DELIVERY_OK)
        return 0;
    if (state == IQ_DELIVERY_PENDING) {
        /* The opaque points at our stack: purge so the callback can never write to it. */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(p->rk, 0);
    }
    *error_r = iq_xasprintf("kafka did not confirm delivery to %s; check kafka_brokers "
                            "(INBOXQ_KAFKA_BROKERS) and that the broker is up",
                            topic);
    return -1;
}

int iq_kafka_producer_ping(iq_kafka_producer *p, int64_t timeout_ms, char **error_r)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(p->rk, 0, NULL, &md, (int)timeout_ms);
    if (err) {
        *error_r = iq_xasprintf("Kafka brokers unavailable: %s; start Kafka or fix kafka_brokers "
                                "(INBOXQ_KAFKA_BROKERS)",
                                rd_kafka_err2str(err));
        return -1;
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

iq_kafka_consumer *iq_kafka_consumer_new(const iq_config *cfg, const char *group,
                                         const char *const *topics, char **error_r)
{
    return iq_kafka_consumer_new_cb(cfg, group, topics, NULL, NULL, error_r);
}

iq_kafka_consumer *iq_kafka_consumer_new_cb(const iq_config *cfg, const char *group,
                                            const char *const *topics, iq_rebalance_fn *cb,
                                            void *ctx, char **error_r)
{
    rd_kafka_conf_t *conf = base_conf(cfg, error_r);
    if (!conf)
        return NULL;
    char session[32], fetch_wait[32];
    snprintf(session, sizeof(session), "%lld",
             (long long)iq_config_int(cfg, IQ_SET_KAFKA_SESSION_TIMEOUT));
    snprintf(fetch_wait, sizeof(fetch_wait), "%lld",
             (long long)iq_config_int(cfg, IQ_SET_KAFKA_FETCH_WAIT));
    if (set(conf, "group.id", group, error_r) < 0 ||
        set(conf, "enable.auto.offset.store", "false", error_r) < 0 ||
        set(conf, "enable.auto.commit", "true", error_r) < 0 ||
        set(conf, "auto.commit.interval.ms", "1000", error_r) < 0 ||
        set(conf, "auto.offset.reset", "earliest", error_r) < 0 ||
        set(conf, "session.timeout.ms", session, error_r) < 0 ||
        set(conf, "fetch.wait.max.ms", fetch_wait, error_r) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    iq_kafka_consumer *c = iq_xcalloc(1, sizeof(*c));
    c->cb = cb;
    c->cb_ctx = ctx;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, c);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        free(c);
        *error_r = iq_xasprintf("kafka consumer: %s", err);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    size_t n = 0;
    while (topics[n])
        n++;
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e) {
        *error_r = iq_xasprintf("kafka subscribe: %s", rd_kafka_err2str(e));
        rd_kafka_destroy(rk);
        free(c);
        return NULL;
    }
    c->rk = rk;
    return c;
}

rd_kafka_message_t *iq_kafka_consumer_poll(iq_kafka_consumer *c, int timeout_ms)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (m && m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            IQ_WARN("kafka consumer: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return NULL;
    }
    return m;
}

int iq_kafka_consumer_store(iq_kafka_consumer *c, const rd_kafka_message_t *m)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset =
        m->offset + 1;
    rd_kafka_resp_err_t e = rd_kafka_offsets_store(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        IQ_WARN("kafka offset store: %s", rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

int iq_kafka_consumer_commit(iq_kafka_consumer *c)
{
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, NULL, 0);
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        IQ_WARN("kafka commit: %s", rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

void iq_kafka_consumer_leave(iq_kafka_consumer *c)
{
    iq_kafka_consumer_commit(c);
    rd_kafka_consumer_close(c->rk);
}

void iq_kafka_consumer_free(iq_kafka_consumer **cp)
{
    iq_kafka_consumer *c = *cp;
    if (!c)
        return;
    iq_kafka_consumer_commit(c);
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    free(c);
    *cp = NULL;
}

void iq_kafka_consumer_pause(iq_kafka_consumer *c, const char *topic, int32_t partition, bool pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    if (pause)
        rd_kafka_pause_partitions(c->rk, l);
    else
        rd_kafka_resume_partitions(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

rd_kafka_t *iq_kafka_consumer_handle(iq_kafka_consumer *c)
{
    return c->rk;
}

/* --- lag ----------------------------------------------------------------------------------- */

int64_t iq_kafka_lag_of(int64_t offset, int64_t low, int64_t high)
{
    int64_t lag = offset >= 0 ? high - offset : high - low;
    return lag < 0 ? 0 : lag;
}

/* Adds the topic's partitions (from a metadata request) to list. */
static int add_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms,
                          rd_kafka_topic_partition_list_t *list, char **error_r)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt) {
        *error_r = iq_xasprintf("topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (e) {
        *error_r = iq_xasprintf("metadata of %s: %s", topic, rd_kafka_err2str(e));
        return -1;
    }
    for (int t = 0; t < md->topic_cnt; t++) {
        if (strcmp(md->topics[t].topic, topic) != 0 || md->topics[t].err)
            continue;
        for (int p = 0; p < md->topics[t].partition_cnt; p++)
            rd_kafka_topic_partition_list_add(list, topic, md->topics[t].partitions[p].id);
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

static int cmp_partition(const void *a, const void *b)
{
    const rd_kafka_topic_partition_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

int iq_kafka_group_lag(const iq_config *cfg, const char *group, const char *const *topics,
                       iq_kafka_lag **lag_r, size_t *n_r, char **error_r)
{
    *lag_r = NULL;
    *n_r = 0;
    int timeout = (int)iq_config_int(cfg, IQ_SET_KAFKA_TIMEOUT);
    /* a consumer handle of the group that never joins it: it only reads the group's committed
     * offsets (OffsetFetch) and the partitions' watermarks */
    rd_kafka_conf_t *conf = base_conf(cfg, error_r);
    if (!conf)
        return -1;
    if (set(conf, "group.id", group, error_r) < 0 ||
        set(conf, "enable.auto.commit", "false", error_r) < 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        *error_r = iq_xasprintf("kafka consumer: %s", err);
        return -1;
    }
    int rc = -1;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(16);
    for (size_t t = 0; topics[t]; t++)
        if (add_partitions(rk, topics[t], timeout, list, error_r) < 0)
            goto out;
    qsort(list->elems, (size_t)list->cnt, sizeof(*list->elems), cmp_partition);
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, list, timeout);
    if (e) {
        *error_r = iq_xasprintf("committed offsets of group %s: %s", group, rd_kafka_err2str(e));
        goto out;
    }
    iq_kafka_lag *lag = iq_xcalloc((size_t)list->cnt + 1, sizeof(*lag));
    for (int i = 0; i < list->cnt; i++) {
        rd_kafka_topic_partition_t *p = &list->elems[i];
        int64_t lo = 0, hi = 0;
        e = rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo, &hi, timeout);
        if (e) {
            *error_r = iq_xasprintf("end offsets of %s [%d]: %s", p->topic, (int)p->partition,
                                    rd_kafka_err2str(e));
            iq_kafka_lag_free(&lag, (size_t)i);
            goto out;
        }
        lag[i].topic = iq_xstrdup(p->topic);
        lag[i].partition = p->partition;
        lag[i].committed = !p->err && p->offset >= 0 ? p->offset : -1;
        lag[i].low = lo;
        lag[i].high = hi;
        lag[i].lag = iq_kafka_lag_of(lag[i].committed, lo, hi);
    }
    *lag_r = lag;
    *n_r = (size_t)list->cnt;
    rc = 0;
out:
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_destroy(rk);
    return rc;
}

void iq_kafka_lag_free(iq_kafka_lag **lag, size_t n)
{
    if (!lag || !*lag)
        return;
    for (size_t i = 0; i < n; i++)
        free((*lag)[i].topic);
    free(*lag);
    *lag = NULL;
}

int iq_kafka_consumer_lag(iq_kafka_consumer *c, iq_kafka_lag_fn *fn, void *ctx)
{
    rd_kafka_t *rk = c->rk;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(rk, &parts) || !parts)
        return -1;
    rd_kafka_position(rk, parts);
    for (int i = 0; i < parts->cnt; i++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_get_watermark_offsets(rk, parts->elems[i].topic, parts->elems[i].partition,
                                           &lo, &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi < 0)
            continue;
        fn(ctx, parts->elems[i].topic, parts->elems[i].partition,
           iq_kafka_lag_of(parts->elems[i].offset, lo, hi));
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return 0;
}

int32_t iq_kafka_key_partition(const char *key, int32_t partition_cnt)
{
    /* The producers set no partitioner: librdkafka's default, consistent_random, which for a
     * non-empty key is CRC32(key) % partition_cnt. Its own function, so both sides agree. */
    return rd_kafka_msg_partitioner_consistent_random(NULL, key, strlen(key), partition_cnt, NULL,
                                                      NULL);
}

int iq_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, char **error_r)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    int n = add_partitions(rk, topic, timeout_ms, list, error_r) < 0 ? -1 : list->cnt;
    rd_kafka_topic_partition_list_destroy(list);
    if (n == 0)
        *error_r = iq_xasprintf("topic %s has no partitions (yet)", topic);
    return n > 0 ? n : -1;
}
