/* SPDX-License-Identifier: MIT */
/* inboxq serve's PostgreSQL connections: IQ_SERVE_POOL of them, one per request at a time,
 * connected on first use and again after a lost connection. */
#include "serve.h"

#include <pthread.h>
#include <stddef.h>

PGconn *iq_serve_pg_acquire(iq_serve *s, char **error_r)
{
    pthread_mutex_lock(&s->mu);
    int slot = -1;
    for (;;) {
        for (int i = 0; i < IQ_SERVE_POOL && slot < 0; i++)
            if (!s->busy[i])
                slot = i;
        if (slot >= 0)
            break;
        pthread_cond_wait(&s->cv, &s->mu);
    }
    s->busy[slot] = true;
    PGconn *c = s->conns[slot];
    s->conns[slot] = NULL;
    pthread_mutex_unlock(&s->mu);
    if (c != NULL && iq_pg_connection_lost(c))
        iq_pg_close(&c);
    if (c == NULL && iq_pg_connect(s->dsn, s->connect_timeout_ms, &c, error_r) != IQ_PG_OK) {
        pthread_mutex_lock(&s->mu);
        s->busy[slot] = false;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        return NULL;
    }
    return c;
}

void iq_serve_pg_release(iq_serve *s, PGconn *c)
{
    pthread_mutex_lock(&s->mu);
    int slot = -1;
    for (int i = 0; i < IQ_SERVE_POOL && slot < 0; i++)
        if (s->busy[i] && s->conns[i] == NULL)
            slot = i;
    if (slot >= 0) {
        s->conns[slot] = c;
        s->busy[slot] = false;
        c = NULL;
    }
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    iq_pg_close(&c); /* cannot happen: every acquire has its slot */
}
