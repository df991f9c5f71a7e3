/* SPDX-License-Identifier: MIT */
/* Kafka through librdkafka: an idempotent producer whose delivery reports decide success,
 * and a group consumer whose offsets are stored only when the caller says the job is done. */
#ifndef IQ_KAFKA_H
#define IQ_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "config.h"

typedef struct iq_kafka_producer iq_kafka_producer;
typedef struct iq_kafka_consumer iq_kafka_consumer;

/* Delivery state of one produced message, owned by the caller until the flush returns. */
typedef enum {
    IQ_DELIVERY_PENDING = 0,
    IQ_DELIVERY_OK = 1,
    IQ_DELIVERY_FAILED = -1,
} iq_delivery;

iq_kafka_producer *iq_kafka_producer_new(const iq_config *cfg, char **error_r);
void iq_kafka_producer_free(iq_kafka_producer **p);
/* Queues a message; *state_r (may be NULL) is set when the broker confirms or gives up.
 * Returns 0, or -1 with *error_r when it could not even be queued. */
int iq_kafka_produce(iq_kafka_producer *p, const char *topic, const char *key, const void *value,
                     size_t len, iq_delivery *state_r, char **error_r);
/* Waits until every queued message is confirmed or failed, at most timeout_ms.
 * 0 when nothing is left in flight, -1 otherwise. */
int iq_kafka_flush(iq_kafka_producer *p, int64_t timeout_ms);
/* Produce one message and wait for its delivery report. */
int iq_kafka_produce_sync(iq_kafka_producer *p, const char *topic, const char *key,
                          const void *value, size_t len, char **error_r);
/* Checks the brokers answer (metadata request) within timeout_ms. */
int iq_kafka_producer_ping(iq_kafka_producer *p, int64_t timeout_ms, char **error_r);

/* Called from inside iq_kafka_consumer_poll() when the group gives (assigned) or takes
 * partitions; on a revoke it runs before the partitions are released, so the caller can drop
 * queued work for them. The consumer does the (un)assign itself. */
typedef void iq_rebalance_fn(void *ctx, bool assigned,
                             const rd_kafka_topic_partition_list_t *parts);

/* Joins group on the topics (NULL-terminated). Offsets are stored manually and committed in
 * the background; a stored offset is the only way the group moves on. */
iq_kafka_consumer *iq_kafka_consumer_new(const iq_config *cfg, const char *group,
                                         const char *const *topics, char **error_r);
iq_kafka_consumer *iq_kafka_consumer_new_cb(const iq_config *cfg, const char *group,
                                            const char *const *topics, iq_rebalance_fn *cb,
                                            void *ctx, char **error_r);
/* Stops or restarts fetching one partition (back-pressure). */
void iq_kafka_consumer_pause(iq_kafka_consumer *c, const char *topic, int32_t partition,
                             bool pause);
/* Next message or NULL on timeout; partition EOF and transient errors are swallowed (logged).
 * The caller destroys it with rd_kafka_message_destroy(). */
rd_kafka_message_t *iq_kafka_consumer_poll(iq_kafka_consumer *c, int timeout_ms);
/* Marks the message done: its offset + 1 is stored for the next commit. */
int iq_kafka_consumer_store(iq_kafka_consumer *c, const rd_kafka_message_t *m);
/* Commits stored offsets synchronously. */
int iq_kafka_consumer_commit(iq_kafka_consumer *c);
/* Commits, leaves the group and frees. */
void iq_kafka_consumer_free(iq_kafka_consumer **c);
/* Commits stored offsets and leaves the group, without destroying the handle: for a process
 * about to exit while a message is still held by a thread it abandoned (rd_kafka_destroy would
 * wait for that message forever). */
void iq_kafka_consumer_leave(iq_kafka_consumer *c);
rd_kafka_t *iq_kafka_consumer_handle(iq_kafka_consumer *c);

/* The partition a keyed message goes to among partition_cnt: the producers' partitioner
 * (librdkafka's default, consistent_random), so a worker can tell which accounts belong to the
 * partitions it was assigned (IMAP IDLE push, worker/push.c). key is non-empty. */
int32_t iq_kafka_key_partition(const char *key, int32_t partition_cnt);
/* The topic's partition count from the cluster's metadata; -1 with *error_r. */
int iq_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, char **error_r);

/* Consumer lag, one formula for every caller: messages from the group's offset (committed, or
 * the consumer's position; negative: none) to the end of the partition, and when there is no
 * offset, the whole partition (high - low). Never negative. */
int64_t iq_kafka_lag_of(int64_t offset, int64_t low, int64_t high);

typedef struct iq_kafka_lag {
    char *topic;
    int32_t partition;
    int64_t committed; /* -1: the group has committed nothing there */
    int64_t low, high; /* watermarks */
    int64_t lag;
} iq_kafka_lag;

/* The lag of group on every partition of topics (NULL-terminated), sorted by topic and
 * partition, asked of the brokers (metadata, OffsetFetch, watermarks) without joining the
 * group. 0 with *lag_r (free with iq_kafka_lag_free) and *n_r, or -1 with *error_r. */
int iq_kafka_group_lag(const iq_config *cfg, const char *group, const char *const *topics,
                       iq_kafka_lag **lag_r, size_t *n_r, char **error_r);
void iq_kafka_lag_free(iq_kafka_lag **lag, size_t n);

/* The lag of each partition the consumer holds, from librdkafka's cached watermarks and its
 * position (no I/O): fn(ctx, topic, partition, lag) per partition. 0, or -1 without an
 * assignment. */
typedef void iq_kafka_lag_fn(void *ctx, const char *topic, int32_t partition, int64_t lag);
int iq_kafka_consumer_lag(iq_kafka_consumer *c, iq_kafka_lag_fn *fn, void *ctx);

#endif
