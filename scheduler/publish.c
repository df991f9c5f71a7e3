/* SPDX-License-Identifier: MIT */
/* Publishing a batch's jobs: queue each with its delivery slot, wait for Kafka to confirm them
 * all, and roll a failed batch back. Used by the check and report batches and the sweeper. */
#include "publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "messages.h"
#include "pg.h"
#include "util.h"

/* --- delivery ---------------------------------------------------------------------------- */

bool iq_sched_settle(iq_sched *s, job_slot *jobs)
{
    if (iq_kafka_flush(s->producer, s->kafka_timeout_ms + FLUSH_SLACK_MS) == 0)
        return true;
    IQ_WARN("kafka: deliveries still unconfirmed after %lld ms; their rows stay due",
            (long long)(s->kafka_timeout_ms + FLUSH_SLACK_MS));
    s->parked = iq_xrealloc(s->parked, iq_size_mul(s->n_parked + 1, sizeof(job_slot *)));
    s->parked[s->n_parked++] = jobs;
    return false;
}

/* librdkafka looks up a topic it first sees in a produce call only on its next 1 s timer
 * scan; a metadata request right after the first message of each topic (which asks about the
 * locally known topics) lets the first batch go out at once. */
static void warm_up(iq_sched *s, const char *topic)
{
    bool *warm = topic == s->topic_check ? &s->warm_check : &s->warm_report;
    if (*warm)
        return;
    *warm = true;
    char *err = NULL;
    if (iq_kafka_producer_ping(s->producer, s->kafka_timeout_ms, &err) < 0) {
        IQ_DEBUG("%s", err);
        free(err);
    }
}

int iq_sched_batch_failed(iq_sched *s, iq_sched_stats *st, const char *what, char *err,
                          int published)
{
    if (published > 0)
        IQ_ERROR("%s: %s; rolled back (%d job(s) already published will be sent again)", what, err,
                 published);
    else
        IQ_ERROR("%s: %s; rolled back", what, err);
    free(err);
    iq_pg_rollback(s->pg);
    st->db_errors++;
    return -1;
}

void iq_sched_queue(iq_sched *s, const char *topic, int64_t key_id, json_t *job, job_slot *slot)
{
    char key[24], *err = NULL;
    snprintf(key, sizeof(key), "%lld", (long long)key_id);
    char *value = iq_msg_dump(job);
    if (iq_kafka_produce(s->producer, topic, key, value, strlen(value), &slot->state, &err) < 0) {
        IQ_WARN("%s", err);
        free(err);
        slot->state = IQ_DELIVERY_FAILED;
    } else {
        IQ_DEBUG("queued job %s (key %s) on %s", iq_msg_id(job), key, topic);
        warm_up(s, topic);
    }
    free(value);
}
