/* SPDX-License-Identifier: MIT */
/* IMAP IDLE push held by the worker that owns each account's check-topic partition (issue 16):
 * one event-loop thread, its connections, and the ownership fed by the rebalance callback. */
#ifndef IQ_PUSH_H
#define IQ_PUSH_H

#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

typedef struct iq_push iq_push;
struct iq_worker;

/* NULL when push is off (max_push_connections 0) or no event loop could be made. */
iq_push *iq_push_start(struct iq_worker *w);
/* Starts the thread (after the consumer exists). */
void iq_push_run(iq_push *p);
/* From the rebalance callback (any thread): partitions of the check topic assigned or
 * revoked. The connections follow in the push thread. p may be NULL. */
void iq_push_rebalance(iq_push *p, bool assigned, const rd_kafka_topic_partition_list_t *parts);
/* From a job slot, for a check of account_id: the account's held IDLE connection, taken out of
 * the event loop and the slot's until iq_push_return (run the check over it with
 * iq_check_run_held); NULL when it is not held here or not within 2 s (then log in as usual).
 * p may be NULL. */
struct iq_idle *iq_push_borrow(iq_push *p, int64_t account_id);
/* Gives the connection back, with the IQ_IDLE_* bits the check's end reported (ENDED: it is
 * over, reconnect; NEW_MAIL: check again). ic NULL: nothing. */
void iq_push_return(iq_push *p, int64_t account_id, struct iq_idle *ic, int bits);
/* Joins the thread (which ended every connection once *w->stop was set) and frees. */
void iq_push_stop(iq_push **p);

#endif
