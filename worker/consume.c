/* SPDX-License-Identifier: MIT */
/* The worker's consumer loop: partitions to slots, back-pressure, rebalances, clean shutdown. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pg.h"
#include "push.h"
#include "util.h"
#include "worker.h"

#define QUEUE_PAUSE 64 /* queued jobs in a slot before its partitions pause */
#define QUEUE_RESUME 8 /* ...and resume */
#define MAX_PAUSED 1024

typedef struct paused {
    char topic[128];
    int32_t partition;
    int slot;
} paused;

static paused g_paused[MAX_PAUSED];
static int g_npaused;

static int slot_for(const iq_worker *w, const char *topic, int32_t partition)
{
    unsigned h = 5381;
    for (const char *p = topic; *p; p++)
        h = h * 33 + (unsigned char)*p;
    h = h * 33 + (unsigned)partition;
    return (int)(h % (unsigned)w->nslots);
}

static void enqueue(iq_slot *s, rd_kafka_message_t *m)
{
    iq_queue_item *it = iq_xcalloc(1, sizeof(*it));
    it->msg = m;
    pthread_mutex_lock(&s->lock);
    if (s->tail)
        s->tail->next = it;
    else
        s->head = it;
    s->tail = it;
    s->queued++;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* Drops queued (not started) jobs of a partition; the next owner gets them again. */
static void drop_partition(iq_slot *s, const char *topic, int32_t partition)
{
    pthread_mutex_lock(&s->lock);
    iq_queue_item **pp = &s->head, *last = NULL;
    while (*pp) {
        iq_queue_item *it = *pp;
        if (it->msg->partition == partition &&
            strcmp(rd_kafka_topic_name(it->msg->rkt), topic) == 0) {
            *pp = it->next;
            rd_kafka_message_destroy(it->msg);
            free(it);
            s->queued--;
        } else {
            last = it;
            pp = &it->next;
        }
    }
    s->tail = last;
    pthread_mutex_unlock(&s->lock);
}

static void on_rebalance(void *ctx, bool assigned, const rd_kafka_topic_partition_list_t *parts)
{
    iq_worker *w = ctx;
    iq_push_rebalance(w->push, assigned, parts);
    if (assigned)
        return;
    for (int i = 0; i < parts->cnt; i++) {
        const char *topic = parts->elems[i].topic;
        int32_t partition = parts->elems[i].partition;
        drop_partition(&w->slots[slot_for(w, topic, partition)], topic, partition);
        for (int j = 0; j < g_npaused; j++)
            if (g_paused[j].partition == partition && strcmp(g_paused[j].topic, topic) == 0)
                g_paused[j--] = g_paused[--g_npaused];
    }
}

static int queued(iq_slot *s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->queued;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* Pauses a partition whose slot has too much queued. Takes the topic and partition, not the
 * message: once enqueued, the message belongs to the slot's thread, which may already have
 * run and destroyed it. */
static void backpressure(iq_worker *w, const char *topic, int32_t partition, int slot)
{
    if (g_npaused == MAX_PAUSED || queued(&w->slots[slot]) < QUEUE_PAUSE)
        return;
    for (int j = 0; j < g_npaused; j++)
        if (g_paused[j].partition == partition && strcmp(g_paused[j].topic, topic) == 0)
            return;
    paused *p = &g_paused[g_npaused++];
    snprintf(p->topic, sizeof(p->topic), "%s", topic);
    p->partition = partition;
    p->slot = slot;
    iq_kafka_consumer_pause(w->consumer, topic, partition, true);
    iq_counter_inc(w->metrics.pauses, NULL);
    IQ_DEBUG("paused %s [%d]: slot %d has %d or more job(s) queued", topic, (int)partition, slot,
             QUEUE_PAUSE);
}

static void resume_drained(iq_worker *w)
{
    for (int j = 0; j < g_npaused; j++) {
        if (queued(&w->slots[g_paused[j].slot]) > QUEUE_RESUME)
            continue;
        iq_kafka_consumer_pause(w->consumer, g_paused[j].topic, g_paused[j].partition, false);
        IQ_DEBUG("resumed %s [%d]", g_paused[j].topic, (int)g_paused[j].partition);
        g_paused[j--] = g_paused[--g_npaused];
    }
}

static void *slot_main(void *arg)
{
    iq_slot *s = arg;
    iq_worker *w = s->w;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        bool stop;
        while (!(stop = atomic_load(w->stop)) && !s->head)
            pthread_cond_wait(&s->cond, &s->lock);
        iq_queue_item *it = stop ? NULL : s->head; /* stopping: queued jobs are left */
        if (!it) {
            pthread_mutex_unlock(&s->lock);
            break;
        }
        s->head = it->next;
        if (!s->head)
            s->tail = NULL;
        s->queued--;
        s->busy = true;
        pthread_mutex_unlock(&s->lock);

        atomic_fetch_add(&w->in_flight, 1);
        bool done = iq_worker_handle(s, it->msg);
        /* The offset is stored only after the results committed, and under the slot's lock:
         * once shutdown has abandoned this job (slots_stop) and closes the consumer, this
         * thread must not touch it, and the job runs again elsewhere. */
        pthread_mutex_lock(&s->lock);
        bool abandoned = s->abandoned;
        if (done && !abandoned)
            iq_kafka_consumer_store(w->consumer, it->msg);
        pthread_mutex_unlock(&s->lock);
        if (abandoned)
            return NULL; /* the process is leaving without cleaning up under this thread */
        atomic_fetch_sub(&w->in_flight, 1);
        atomic_fetch_add(&w->jobs_done, 1);
        rd_kafka_message_destroy(it->msg);
        free(it);
        pthread_mutex_lock(&s->lock);
        s->busy = false;
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

static int slots_init(iq_worker *w, int n, char **error_r)
{
    w->nslots = n;
    w->slots = iq_xcalloc((size_t)n, sizeof(*w->slots));
    for (int i = 0; i < n; i++) {
        iq_slot *s = &w->slots[i];
        s->w = w;
        s->index = i;
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, NULL);
        s->env = w->setup.env;
        s->env.redis = NULL;
        if (*iq_config_str(w->cfg, IQ_SET_REDIS_URL)) {
            /* hiredis contexts are not shared between threads */
            s->env.redis = iq_redis_new(iq_config_str(w->cfg, IQ_SET_REDIS_URL),
                                        iq_config_int(w->cfg, IQ_SET_REDIS_TIMEOUT), error_r);
            if (!s->env.redis)
                return -1;
        }
    }
    return 0;
}

/* Wakes the slots and waits up to shutdown_grace for their running jobs; returns how many
 * were abandoned (not acknowledged, so another worker runs them again, idempotently). */
static int slots_stop(iq_worker *w)
{
    for (int i = 0; i < w->nslots; i++) {
        pthread_mutex_lock(&w->slots[i].lock);
        pthread_cond_broadcast(&w->slots[i].cond);
        pthread_mutex_unlock(&w->slots[i].lock);
    }
    int64_t grace_ms = iq_config_int(w->cfg, IQ_SET_SHUTDOWN_GRACE);
    struct timespec until = iq_deadline_ts(CLOCK_REALTIME, grace_ms);
    int abandoned = 0;
    for (int i = 0; i < w->nslots; i++) {
        iq_slot *s = &w->slots[i];
        if (pthread_timedjoin_np(s->thread, NULL, &until) == 0)
            continue;
        pthread_mutex_lock(&s->lock);
        s->abandoned = true;
        pthread_mutex_unlock(&s->lock);
        pthread_detach(s->thread);
        IQ_WARN("slot %d still busy after %lld ms: abandoning its job", i, (long long)grace_ms);
        abandoned++;
    }
    return abandoned;
}

static void slots_free(iq_worker *w)
{
    for (int i = 0; i < w->nslots; i++) {
        iq_slot *s = &w->slots[i];
        while (s->head) {
            iq_queue_item *it = s->head;
            s->head = it->next;
            rd_kafka_message_destroy(it->msg);
            free(it);
        }
        iq_redis_free(&s->env.redis);
        iq_pg_close(&s->pg);
    }
    free(w->slots);
}

int iq_worker_run(const iq_config *cfg, int concurrency, const char *metrics_listen,
                  atomic_int *stop)
{
    iq_worker w;
    memset(&w, 0, sizeof(w));
    w.cfg = cfg;
    w.stop = stop;
    pthread_mutex_init(&w.relay_lock, NULL);
    pthread_cond_init(&w.relay_cond, NULL);
    char *err = NULL;
    int rc = 0;
    if (iq_check_setup_init(&w.setup, cfg, "worker", &err) < 0) {
        fprintf(stderr, "inboxq-worker: %s\n", err);
        free(err);
        return 78;
    }
    snprintf(w.name, sizeof(w.name), "%s", w.setup.worker);
    iq_worker_metrics_init(&w);
    atomic_store(&w.pg_ok, true);
    atomic_store(&w.kafka_ok, true);
    atomic_store(&w.redis_ok, true);
    if (metrics_listen) {
        w.httpd = iq_httpd_start(metrics_listen, w.metrics.m, iq_worker_ready, &w, &err);
        if (!w.httpd) {
            fprintf(stderr, "inboxq-worker: --metrics-listen %s: %s\n", metrics_listen, err);
            free(err);
            iq_worker_metrics_release(&w);
            iq_check_setup_release(&w.setup);
            return 64;
        }
    }
    w.producer = iq_kafka_producer_new(cfg, &err);
    if (!w.producer || slots_init(&w, concurrency, &err) < 0) {
        fprintf(stderr, "inboxq-worker: %s\n", err);
        free(err);
        rc = 78;
        goto out_setup;
    }
    w.push = iq_push_start(&w); /* before the consumer: its rebalance callback feeds it */
    const char *topics[] = {iq_config_str(cfg, IQ_SET_TOPIC_CHECK),
                            iq_config_str(cfg, IQ_SET_TOPIC_REPORT), NULL};
    w.consumer = iq_kafka_consumer_new_cb(cfg, iq_config_str(cfg, IQ_SET_CONSUMER_GROUP), topics,
                                          on_rebalance, &w, &err);
    if (!w.consumer) {
        fprintf(stderr, "inboxq-worker: %s\n", err);
        free(err);
        rc = 69;
        goto out_slots;
    }
    for (int i = 0; i < w.nslots; i++)
        pthread_create(&w.slots[i].thread, NULL, slot_main, &w.slots[i]);
    iq_push_run(w.push);
    pthread_create(&w.relay_thread, NULL, iq_worker_relay_main, &w);
    IQ_INFO("worker %s: %d slot(s), consuming %s and %s as group %s", w.name, w.nslots, topics[0],
            topics[1], iq_config_str(cfg, IQ_SET_CONSUMER_GROUP));

    while (!*stop) {
        rd_kafka_message_t *m = iq_kafka_consumer_poll(w.consumer, 100);
        if (m) {
            char topic[128];
            snprintf(topic, sizeof(topic), "%s", rd_kafka_topic_name(m->rkt));
            int32_t partition = m->partition;
            int slot = slot_for(&w, topic, partition);
            enqueue(&w.slots[slot], m); /* m is the slot's from here on */
            backpressure(&w, topic, partition, slot);
        }
        resume_drained(&w);
    }
    IQ_INFO("stopping: no new jobs; waiting for %d running job(s)", atomic_load(&w.in_flight));
    int abandoned = slots_stop(&w);
    iq_worker_relay_kick(&w);
    pthread_join(w.relay_thread, NULL);
    if (abandoned > 0) {
        /* An abandoned job's thread still uses its message, the slot, the setup, the producer
         * and this frame: nothing is freed under it. Offsets are committed and the group left,
         * and the process exits now (the job was not acknowledged: it runs again elsewhere). */
        iq_kafka_consumer_leave(w.consumer);
        IQ_WARN("stopped with %d job(s) abandoned; they run again on another worker", abandoned);
        fflush(NULL);
        _exit(rc);
    }
    iq_push_stop(&w.push); /* its thread uses the consumer (metadata) until joined here */
    iq_kafka_consumer_free(&w.consumer); /* commits stored offsets and leaves the group */
out_slots:
    iq_push_stop(&w.push);
    slots_free(&w);
out_setup:
    iq_httpd_stop(&w.httpd);
    iq_kafka_producer_free(&w.producer);
    iq_check_setup_release(&w.setup);
    iq_worker_metrics_release(&w);
    IQ_INFO("stopped after %ld job(s)", atomic_load(&w.jobs_done));
    return rc;
}
