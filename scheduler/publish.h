/* SPDX-License-Identifier: MIT */
/* Publishing a batch of jobs (publish.c). */
#ifndef IQ_PUBLISH_H
#define IQ_PUBLISH_H

#include <stdbool.h>

#include <jansson.h>

#include "sched.h"

/* Queues job on topic with key_id (decimal) as its key; slot->state gets the delivery report
 * (IQ_DELIVERY_FAILED at once when it could not even be queued). */
void iq_sched_queue(iq_sched *s, const char *topic, int64_t key_id, json_t *job, job_slot *slot);
/* Waits for every delivery report of the batch. false when Kafka did not settle them all even
 * after its own message timeout: jobs is then parked (the caller must not free it). */
bool iq_sched_settle(iq_sched *s, job_slot *jobs);
/* A batch's database step failed with err (freed here): logs it under what, rolls the batch's
 * transaction back and counts it in st->db_errors. published: jobs of the batch Kafka already
 * has (they will be sent again). Returns -1. */
int iq_sched_batch_failed(iq_sched *s, iq_sched_stats *st, const char *what, char *err,
                          int published);

#endif
