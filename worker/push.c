/* SPDX-License-Identifier: MIT */
/* IMAP IDLE push (issue 16). The worker holds IDLE connections for the push accounts of the
 * check-topic partitions it is assigned, and only those: check jobs are keyed by account id,
 * so iq_kafka_key_partition() tells which partition, hence which worker, an account belongs
 * to. Ownership is thus derived from the group's assignment and the database alone: on assign
 * the accounts of the new partitions are opened (rate-limited), on revoke they are ended (DONE,
 * LOGOUT), and a worker that dies loses them to the partitions' next owner.
 *
 * One thread holds every connection in one epoll set. A notification (EXISTS, RECENT > 0)
 * publishes a check job for the account (requested_by "push", reason "push") on the check
 * topic: it lands on the partition this worker owns and runs in a job slot like any other
 * check (the advisory lock, deadlines, caps, delete after commit, run record). The slot
 * borrows the account's IDLE connection for it (iq_push_borrow): the check runs over the
 * session that is logged in already (DONE, SELECT, fetch, commit, IDLE again; no new login)
 * and the slot gives the connection back (iq_push_return). Polling goes on for every account as
 * the reconciliation  * sweep. The connections are owned by this thread; other threads only post
 * ownership changes, borrow requests and returned connections (under lock, with an eventfd to wake
 * it). */
#include "push.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "idle.h"
#include "log.h"
#include "messages.h"
#include "pg.h"
#include "util.h"
#include "worker.h"

#define MAX_OWNED 4096           /* partitions of the check topic one worker may own */
#define BACKOFF_FIRST_MS 1000    /* first reconnect after a dropped connection */
#define BACKOFF_MAX_MS 300000    /* at most 5 minutes between attempts of one account */
#define NO_IDLE_RETRY_MS 3600000 /* a server without IDLE is asked again after an hour */
#define STABLE_MS 60000          /* an IDLE that lasted this long resets the back-off */
#define BORROW_WAIT_MS 2000      /* a slot waits this long for a held connection, then logs in */
#define COALESCE_MS 10000        /* notifications while a check is queued queue no other one */
#define EVENTS 64

/* PC_LENT: a job slot runs a check over the connection; this thread does not touch c->ic
 * (kept only to recognise it when it comes back) until iq_push_return hands it back. */
typedef enum { PC_WAIT, PC_IDLE, PC_LENT } pc_state;

typedef struct push_conn {
    int64_t account_id;
    int32_t partition;
    pc_state state;
    iq_idle *ic;
    int64_t next_open_ms; /* PC_WAIT: the earliest next attempt */
    int64_t backoff_ms;
    int64_t idle_since_ms; /* PC_IDLE: when IDLE was (re)issued */
    bool seen;             /* still wanted at the last refresh */
    int64_t version;       /* the account's at the last refresh: an edit opens it again */
    int64_t queued_ms;     /* when a check was last queued, until a slot asks for it; 0 none */
    bool pending;          /* notified meanwhile: queue another if that check does not begin */
} push_conn;

/* A slot's request for an account's held connection (in p->reqs until answered). */
typedef struct lend_req {
    int64_t account_id;
    bool answered;
    iq_idle *ic; /* the answer: NULL when not held here (the slot logs in) */
    struct lend_req *next;
} lend_req;

/* A connection a slot gave back, with what the check's end saw (IQ_IDLE_* bits). */
typedef struct lent_back {
    int64_t account_id;
    iq_idle *ic;
    int bits;
    struct lent_back *next;
} lent_back;

struct iq_push {
    iq_worker *w;
    pthread_t thread;
    bool started;
    int epfd, evfd;
    /* written by the consumer thread's rebalance callback */
    pthread_mutex_t lock;
    int32_t owned[MAX_OWNED];
    int nowned;
    bool changed;
    pthread_cond_t lend_cond; /* a request answered */
    lend_req *reqs;
    lent_back *backs;
    bool ended; /* the thread stopped: nothing more is lent, returns are closed at once */
    /* this thread's own */
    int32_t mine[MAX_OWNED];
    int nmine;
    push_conn **conns;
    size_t nconns, cap;
    PGconn *pg;
    int32_t partition_cnt;
    int64_t next_refresh_ms, next_open_ms;
    bool capped_logged;
    iq_check_env env;
};

static void wake(iq_push *p)
{
    uint64_t one = 1;
    if (write(p->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        IQ_DEBUG("push: wake-up not written: %s", IQ_STRERROR(errno));
}

void iq_push_rebalance(iq_push *p, bool assigned, const rd_kafka_topic_partition_list_t *parts)
{
    if (!p)
        return;
    const char *topic = iq_config_str(p->w->cfg, IQ_SET_TOPIC_CHECK);
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < parts->cnt; i++) {
        if (strcmp(parts->elems[i].topic, topic) != 0)
            continue;
        int32_t part = parts->elems[i].partition;
        int at = -1;
        for (int j = 0; j < p->nowned && at < 0; j++)
            at = p->owned[j] == part ? j : -1;
        if (assigned && at < 0 && p->nowned < MAX_OWNED)
            p->owned[p->nowned++] = part;
        else if (!assigned && at >= 0)
            p->owned[at] = p->owned[--p->nowned];
    }
    p->changed = true;
    pthread_mutex_unlock(&p->lock);
    wake(p);
}

static PGconn *push_pg(iq_push *p)
{
    if (p->pg && PQstatus(p->pg) == CONNECTION_OK)
        return p->pg;
    iq_pg_close(&p->pg);
    char *err = NULL;
    if (iq_pg_connect(iq_config_str(p->w->cfg, IQ_SET_PG_DSN),
                      iq_config_int(p->w->cfg, IQ_SET_PG_CONNECT_TIMEOUT), &p->pg,
                      &err) != IQ_PG_OK) {
        IQ_WARN("push: %s", err);
        free(err);
        return NULL;
    }
    return p->pg;
}

/* push_sessions: who holds the account's IDLE now (for account show and status). */
static void session_row(iq_push *p, int64_t account_id, bool held)
{
    PGconn *pg = push_pg(p);
    if (!pg)
        return;
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, account_id);
    const char *v[] = {id, p->w->name};
    char *err = NULL;
    int rc = held
                 ? iq_pg_exec(pg,
                              "INSERT INTO push_sessions (account_id, worker) VALUES ($1, $2) "
                              "ON CONFLICT (account_id) DO UPDATE SET worker = $2, since = now()",
                              2, v, &err)
                 : iq_pg_exec(pg, "DELETE FROM push_sessions WHERE account_id = $1 AND worker = $2",
                              2, v, &err);
    if (rc < 0) {
        IQ_DEBUG("push: push_sessions of account %s: %s", id, err);
        free(err);
    }
}

static void forget_sessions(iq_push *p)
{
    PGconn *pg = push_pg(p);
    if (pg)
        iq_pg_exec(pg, "DELETE FROM push_sessions WHERE worker = $1", 1,
                   (const char *const[]){p->w->name}, NULL);
}

/* Publishes a check job for the account: it runs in a slot of the partition's owner (us). */
static void notify(iq_push *p, push_conn *c)
{
    iq_worker *w = p->w;
    iq_counter_inc(w->metrics.push_notifications, NULL);
    int64_t now = iq_now_mono_ms();
    if (c->queued_ms && now - c->queued_ms < COALESCE_MS) {
        /* the check queued already has not begun: it will see this mail too. Should it never
         * begin here (its job ran elsewhere, or found the account locked), requeue_due() queues
         * another once COALESCE_MS has passed: a notification is delayed, never lost. */
        c->pending = true;
        return;
    }
    char *err = NULL;
    json_t *job =
        iq_msg_check_job_new(NULL, c->account_id, iq_now_real_ms(), "push", "push", 1, 0, &err);
    if (!job) {
        IQ_ERROR("push: no check job for account %" PRId64 ": %s", c->account_id, err);
        free(err);
        return;
    }
    char key[24];
    snprintf(key, sizeof(key), "%" PRId64, c->account_id);
    char *value = iq_msg_dump(job);
    json_decref(job);
    if (iq_kafka_produce(w->producer, iq_config_str(w->cfg, IQ_SET_TOPIC_CHECK), key, value,
                         strlen(value), NULL, &err) < 0) {
        /* the poll at the account's interval picks the mail up */
        IQ_WARN("push: account %s: %s", key, err);
        free(err);
    } else {
        iq_counter_inc(w->metrics.push_checks, NULL);
        c->queued_ms = now;
        IQ_DEBUG("push: new mail on account %s; check queued", key);
    }
    free(value);
}

static int64_t jitter(int64_t ms)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = UINT32_MAX / 2;
    return (int64_t)((double)ms * (0.75 + 0.5 * ((double)r / (double)UINT32_MAX)));
}

/* The next attempt after a failure: first_ms (jittered), doubling per failure in a row. */
static void retry_later(push_conn *c, int64_t first_ms)
{
    c->backoff_ms = c->backoff_ms ? c->backoff_ms : first_ms;
    c->next_open_ms = iq_now_mono_ms() + jitter(c->backoff_ms);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

/* Ends the connection (DONE, LOGOUT when still sound) and forgets who holds it. */
static void conn_end(iq_push *p, push_conn *c)
{
    if (c->state == PC_WAIT)
        return;
    if (c->state == PC_IDLE) {
        epoll_ctl(p->epfd, EPOLL_CTL_DEL, iq_idle_fd(c->ic), NULL);
        iq_idle_close(&c->ic);
    }
    c->ic = NULL; /* PC_LENT: the slot's until it gives it back, then closed (take_back) */
    c->state = PC_WAIT;
    iq_gauge_add(p->w->metrics.push_connections, NULL, -1);
    session_row(p, c->account_id, false);
}

/* The connection failed or the server ended it: reconnect with back-off. */
static void conn_lost(iq_push *p, push_conn *c)
{
    IQ_WARN("push: account %" PRId64 ": IDLE connection lost (%s: %s); reconnecting", c->account_id,
            iq_err_name(iq_idle_error_class(c->ic)), iq_idle_error(c->ic));
    iq_counter_inc(p->w->metrics.push_reconnects, NULL);
    if (iq_now_mono_ms() - c->idle_since_ms > STABLE_MS)
        c->backoff_ms = 0; /* it had been fine for a while: start the back-off again */
    conn_end(p, c);
    retry_later(c, BACKOFF_FIRST_MS);
}

static void handle_bits(iq_push *p, push_conn *c, int bits)
{
    if (bits & IQ_IDLE_NEW_MAIL)
        notify(p, c);
    if (bits & IQ_IDLE_ENDED)
        conn_lost(p, c);
}

static push_conn *find(iq_push *p, int64_t id);

/* A connection back from a slot: idling again (bits say what its check's end saw), or over. */
static void take_back(iq_push *p, int64_t id, iq_idle *ic, int bits)
{
    push_conn *c = find(p, id);
    if (!c || c->state != PC_LENT || c->ic != ic) {
        iq_idle_close(&ic); /* ended while lent (revoked, switched off): DONE, LOGOUT */
        return;
    }
    c->state = PC_IDLE;
    c->idle_since_ms = iq_now_mono_ms(); /* the slot issued IDLE again */
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (!(bits & IQ_IDLE_ENDED) && epoll_ctl(p->epfd, EPOLL_CTL_ADD, iq_idle_fd(ic), &ev) < 0) {
        iq_idle_fail(ic, IQ_ERR_FAILED, "epoll_ctl failed");
        bits |= IQ_IDLE_ENDED;
    }
    if (bits & IQ_IDLE_NEW_MAIL)
        notify(p, c); /* mail arrived while the check ran */
    if (bits & IQ_IDLE_ENDED)
        conn_lost(p, c);
}

/* Answers the slots' requests (a held connection leaves the epoll set and is theirs) and takes
 * back what they returned. Only epoll_ctl under the lock: no I/O. */
static void serve_slots(iq_push *p)
{
    pthread_mutex_lock(&p->lock);
    lent_back *backs = p->backs;
    p->backs = NULL;
    for (lend_req *r = p->reqs; r; r = r->next) {
        push_conn *c = find(p, r->account_id);
        if (c) {
            c->queued_ms = 0; /* the queued check has begun: the next notification counts */
            c->pending = false;
        }
        if (c && c->state == PC_IDLE) {
            epoll_ctl(p->epfd, EPOLL_CTL_DEL, iq_idle_fd(c->ic), NULL);
            c->state = PC_LENT;
            r->ic = c->ic;
        }
        r->answered = true;
    }
    bool any = p->reqs != NULL;
    p->reqs = NULL;
    if (any)
        pthread_cond_broadcast(&p->lend_cond);
    pthread_mutex_unlock(&p->lock);
    while (backs) {
        lent_back *b = backs;
        backs = b->next;
        take_back(p, b->account_id, b->ic, b->bits);
        free(b);
    }
}

iq_idle *iq_push_borrow(iq_push *p, int64_t account_id)
{
    if (!p || !p->started)
        return NULL;
    struct timespec until = iq_deadline_ts(CLOCK_MONOTONIC, BORROW_WAIT_MS);
    /* on the heap: the list holds it while this thread waits, never after it is answered or
     * taken out of it below */
    lend_req *r = iq_xcalloc(1, sizeof(*r));
    r->account_id = account_id;
    pthread_mutex_lock(&p->lock);
    if (p->ended) {
        pthread_mutex_unlock(&p->lock);
        free(r);
        return NULL;
    }
    r->next = p->reqs;
    p->reqs = r;
    pthread_mutex_unlock(&p->lock);
    wake(p);
    pthread_mutex_lock(&p->lock);
    while (!r->answered && !p->ended &&
           pthread_cond_timedwait(&p->lend_cond, &p->lock, &until) != ETIMEDOUT) {
    }
    if (!r->answered) { /* the push thread is busy (opening connections) or gone: log in */
        for (lend_req **q = &p->reqs; *q; q = &(*q)->next)
            if (*q == r) {
                *q = r->next;
                break;
            }
    }
    pthread_mutex_unlock(&p->lock);
    iq_idle *ic = r->ic;
    free(r);
    return ic;
}

void iq_push_return(iq_push *p, int64_t account_id, iq_idle *ic, int bits)
{
    if (!ic)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->ended) {
        pthread_mutex_unlock(&p->lock);
        iq_idle_close(&ic);
        return;
    }
    lent_back *b = iq_xcalloc(1, sizeof(*b));
    *b = (lent_back){account_id, ic, bits, p->backs};
    p->backs = b;
    pthread_mutex_unlock(&p->lock);
    wake(p);
}

static void conn_open(iq_push *p, push_conn *c)
{
    PGconn *pg = push_pg(p);
    if (!pg) {
        c->next_open_ms = iq_now_mono_ms() + 5000;
        return;
    }
    iq_check_result res;
    iq_idle *ic = NULL;
    int rc = iq_idle_open(pg, &p->env, c->account_id, &ic, &res);
    if (rc == 0) {
        IQ_INFO("push: account %" PRId64 ": the server does not offer IDLE; it is polled",
                c->account_id);
        c->next_open_ms = iq_now_mono_ms() + NO_IDLE_RETRY_MS;
    } else if (rc < 0) {
        bool config = res.error_class == IQ_ERR_CONFIG || res.error_class == IQ_ERR_NOT_FOUND ||
                      iq_err_backoff(res.error_class) == IQ_BACKOFF_OPERATOR;
        IQ_WARN("push: account %" PRId64 ": IDLE connection not opened (%s: %s)", c->account_id,
                iq_err_name(res.error_class), res.error ? res.error : "?");
        retry_later(c, config ? BACKOFF_MAX_MS : 5000);
    }
    iq_check_result_release(&res);
    if (rc <= 0)
        return;
    int bits = iq_idle_start(ic);
    if (bits & IQ_IDLE_ENDED) {
        IQ_WARN("push: account %" PRId64 ": IDLE not started (%s: %s)", c->account_id,
                iq_err_name(iq_idle_error_class(ic)), iq_idle_error(ic));
        iq_idle_close(&ic);
        retry_later(c, 5000);
        return;
    }
    c->ic = ic;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, iq_idle_fd(ic), &ev) < 0) {
        IQ_ERROR("push: epoll_ctl: %s", IQ_STRERROR(errno));
        iq_idle_close(&c->ic);
        c->next_open_ms = iq_now_mono_ms() + 5000;
        return;
    }
    c->state = PC_IDLE;
    c->idle_since_ms = iq_now_mono_ms(); /* the back-off is reset once it has lasted STABLE_MS */
    iq_gauge_add(p->w->metrics.push_connections, NULL, 1);
    session_row(p, c->account_id, true);
    IQ_INFO("push: account %" PRId64 " (partition %d) idling", c->account_id, (int)c->partition);
    /* mail that arrived while we were away is the next check's; one now closes the gap */
    notify(p, c);
    if (bits)
        handle_bits(p, c, bits & ~IQ_IDLE_NEW_MAIL);
}

static void conn_free(iq_push *p, size_t i)
{
    push_conn *c = p->conns[i];
    conn_end(p, c);
    free(c);
    p->conns[i] = p->conns[--p->nconns];
}

static bool mine(const iq_push *p, int32_t part)
{
    for (int i = 0; i < p->nmine; i++)
        if (p->mine[i] == part)
            return true;
    return false;
}

static push_conn *find(iq_push *p, int64_t id)
{
    for (size_t i = 0; i < p->nconns; i++)
        if (p->conns[i]->account_id == id)
            return p->conns[i];
    return NULL;
}

/* Which push accounts belong to our partitions now: new ones are added (to open), those gone,
 * switched off or no longer ours are ended. */
static void refresh(iq_push *p)
{
    iq_worker *w = p->w;
    p->next_refresh_ms = iq_now_mono_ms() + iq_config_int(w->cfg, IQ_SET_PUSH_REFRESH);
    if (p->nmine > 0) {
        char *err = NULL;
        int n = iq_kafka_partition_count(iq_kafka_consumer_handle(w->consumer),
                                         iq_config_str(w->cfg, IQ_SET_TOPIC_CHECK), 5000, &err);
        if (n < 0) {
            IQ_WARN("push: %s; accounts not refreshed", err);
            free(err);
            return;
        }
        p->partition_cnt = n;
    }
    PGconn *pg = p->nmine > 0 ? push_pg(p) : NULL;
    PGresult *r = NULL;
    if (pg) {
        char *err = NULL;
        r = iq_pg_query(
            pg,
            "SELECT id, version FROM mail_accounts WHERE active AND auto_check AND push <> 'off' "
            "AND protocol = 'imap' ORDER BY id",
            0, NULL, &err);
        if (!r) {
            IQ_WARN("push: %s; accounts not refreshed", err);
            free(err);
            return;
        }
    } else if (p->nmine > 0) {
        return;
    }
    for (size_t i = 0; i < p->nconns; i++)
        p->conns[i]->seen = false;
    int64_t max = iq_config_int(w->cfg, IQ_SET_MAX_PUSH_CONNECTIONS);
    int rows = r ? PQntuples(r) : 0, skipped = 0;
    for (int i = 0; i < rows; i++) {
        const char *key = iq_pg_str(r, i, 0);
        int32_t part = iq_kafka_key_partition(key, p->partition_cnt);
        if (!mine(p, part))
            continue;
        int64_t id = iq_pg_i64(r, i, 0);
        int64_t version = iq_pg_i64(r, i, 1);
        push_conn *c = find(p, id);
        if (c) {
            c->seen = true;
            if (c->version != version) {
                /* host, port, security or credential may have changed: a session opened
                 * before the edit would go on checking what it signed in to, and a back-off
                 * (a refused login, say) waits for what the edit may have fixed */
                IQ_INFO("push: account %" PRId64 " was edited; opening its IDLE again", id);
                conn_end(p, c);
                c->backoff_ms = 0;
                c->next_open_ms = iq_now_mono_ms();
            }
            c->version = version;
            continue;
        }
        if ((int64_t)p->nconns >= max) {
            skipped++;
            continue;
        }
        if (p->nconns == p->cap) {
            p->cap = p->cap ? p->cap * 2 : 64;
            p->conns = iq_xrealloc(p->conns, p->cap * sizeof(push_conn *));
        }
        c = iq_xcalloc(1, sizeof(*c));
        c->account_id = id;
        c->partition = part;
        c->seen = true;
        c->version = version;
        p->conns[p->nconns++] = c;
    }
    PQclear(r);
    for (size_t i = 0; i < p->nconns;) {
        if (p->conns[i]->seen) {
            i++;
            continue;
        }
        IQ_INFO("push: account %" PRId64 " no longer pushed here", p->conns[i]->account_id);
        conn_free(p, i);
    }
    if (skipped && !p->capped_logged)
        IQ_WARN("push: max_push_connections (%" PRId64 ") reached: %d account(s) of this worker's "
                "partitions are only polled",
                max, skipped);
    p->capped_logged = skipped > 0;
}

/* The rebalance callback changed what we own: end what is no longer ours, then refresh. */
static void take_ownership(iq_push *p)
{
    pthread_mutex_lock(&p->lock);
    bool changed = p->changed;
    p->changed = false;
    memcpy(p->mine, p->owned, sizeof(p->mine[0]) * (size_t)p->nowned);
    p->nmine = p->nowned;
    pthread_mutex_unlock(&p->lock);
    if (!changed)
        return;
    for (size_t i = 0; i < p->nconns;) {
        if (mine(p, p->conns[i]->partition)) {
            i++;
            continue;
        }
        IQ_INFO("push: account %" PRId64 ": partition %d revoked; ending IDLE",
                p->conns[i]->account_id, (int)p->conns[i]->partition);
        conn_free(p, i);
    }
    refresh(p);
}

/* Opens what is due, at most push_open_rate per second over the worker. */
static void open_due(iq_push *p)
{
    int64_t step = 1000 / iq_config_int(p->w->cfg, IQ_SET_PUSH_OPEN_RATE);
    for (size_t i = 0; i < p->nconns && !*p->w->stop; i++) {
        push_conn *c = p->conns[i];
        int64_t now = iq_now_mono_ms();
        if (c->state != PC_WAIT || c->next_open_ms > now)
            continue;
        if (p->next_open_ms > now)
            return;
        p->next_open_ms = (p->next_open_ms > now - 1000 ? p->next_open_ms : now) + step;
        conn_open(p, c);
        serve_slots(p); /* a ramp of many opens does not keep the slots waiting */
    }
}

/* IDLE again before the server's inactivity timeout (RFC 2177: re-issue within 29 minutes). */
static void renew_due(iq_push *p)
{
    int64_t renew = iq_config_int(p->w->cfg, IQ_SET_PUSH_IDLE_RENEW);
    for (size_t i = 0; i < p->nconns; i++) {
        push_conn *c = p->conns[i];
        if (c->state != PC_IDLE || iq_now_mono_ms() - c->idle_since_ms < renew)
            continue;
        int bits = iq_idle_done(c->ic);
        if (!(bits & IQ_IDLE_ENDED))
            bits |= iq_idle_start(c->ic);
        c->idle_since_ms = iq_now_mono_ms();
        handle_bits(p, c, bits);
    }
}

/* Notifications held back behind a queued check that did not begin within COALESCE_MS. */
static void requeue_due(iq_push *p)
{
    int64_t now = iq_now_mono_ms();
    for (size_t i = 0; i < p->nconns; i++) {
        push_conn *c = p->conns[i];
        if (c->pending && c->state == PC_IDLE && now - c->queued_ms >= COALESCE_MS) {
            c->pending = false;
            c->queued_ms = 0;
            notify(p, c);
        }
    }
}

/* The next moment something is due, as an epoll timeout (ms, at most 1 s). */
static int next_timeout(const iq_push *p)
{
    int64_t now = iq_now_mono_ms(), t = 1000;
    for (size_t i = 0; i < p->nconns; i++) {
        const push_conn *c = p->conns[i];
        if (c->state == PC_IDLE && iq_idle_buffered(c->ic))
            return 0;
        if (c->state == PC_WAIT) {
            int64_t at = c->next_open_ms > p->next_open_ms ? c->next_open_ms : p->next_open_ms;
            t = at - now < t ? at - now : t;
        }
    }
    return t < 0 ? 0 : (int)t;
}

static void *push_main(void *arg)
{
    iq_push *p = arg;
    iq_worker *w = p->w;
    forget_sessions(p); /* rows of an earlier process of the same name */
    struct epoll_event evs[EVENTS];
    while (!*w->stop) {
        serve_slots(p);
        take_ownership(p);
        if (iq_now_mono_ms() >= p->next_refresh_ms)
            refresh(p);
        open_due(p);
        renew_due(p);
        requeue_due(p);
        /* bytes already read (TLS records, the stream's buffer) are never waited for */
        for (size_t i = 0; i < p->nconns; i++) {
            push_conn *c = p->conns[i];
            if (c->state == PC_IDLE && iq_idle_buffered(c->ic))
                handle_bits(p, c, iq_idle_read(c->ic));
        }
        int n = epoll_wait(p->epfd, evs, EVENTS, next_timeout(p));
        if (n < 0 && errno != EINTR) {
            IQ_ERROR("push: epoll_wait: %s", IQ_STRERROR(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            if (!evs[i].data.ptr) {
                uint64_t v;
                if (read(p->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                    IQ_DEBUG("push: eventfd: %s", IQ_STRERROR(errno));
                continue;
            }
            push_conn *c = evs[i].data.ptr;
            if (c->state == PC_IDLE)
                handle_bits(p, c, iq_idle_read(c->ic));
        }
    }
    /* nothing is lent from here; what comes back now is closed by the slot giving it back */
    pthread_mutex_lock(&p->lock);
    p->ended = true;
    for (lend_req *r = p->reqs; r; r = r->next)
        r->answered = true;
    p->reqs = NULL;
    pthread_cond_broadcast(&p->lend_cond);
    pthread_mutex_unlock(&p->lock);
    serve_slots(p); /* what was given back before */
    size_t held = p->nconns;
    while (p->nconns > 0)
        conn_free(p, p->nconns - 1);
    forget_sessions(p);
    if (held)
        IQ_INFO("push: stopped; %zu account(s) left to the partitions' next owners", held);
    return NULL;
}

iq_push *iq_push_start(iq_worker *w)
{
    if (iq_config_int(w->cfg, IQ_SET_MAX_PUSH_CONNECTIONS) == 0)
        return NULL;
    iq_push *p = iq_xcalloc(1, sizeof(*p));
    p->w = w;
    p->env = w->setup.env;
    p->env.redis = NULL;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->lend_cond, &ca);
    pthread_condattr_destroy(&ca);
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    p->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (p->epfd < 0 || p->evfd < 0 || epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->evfd, &ev) < 0) {
        IQ_ERROR("push: no event loop (%s); push is off, every account polls", IQ_STRERROR(errno));
        iq_push_stop(&p);
        return NULL;
    }
    return p;
}

void iq_push_run(iq_push *p)
{
    if (p && pthread_create(&p->thread, NULL, push_main, p) == 0)
        p->started = true;
}

void iq_push_stop(iq_push **pp)
{
    iq_push *p = *pp;
    if (!p)
        return;
    if (p->started) {
        wake(p);
        pthread_join(p->thread, NULL);
    }
    while (p->backs) { /* given back after the thread's last look */
        lent_back *b = p->backs;
        p->backs = b->next;
        iq_idle_close(&b->ic);
        free(b);
    }
    free(p->conns);
    iq_pg_close(&p->pg);
    if (p->epfd >= 0)
        close(p->epfd);
    if (p->evfd >= 0)
        close(p->evfd);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->lend_cond);
    free(p);
    *pp = NULL;
}
