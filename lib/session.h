/* SPDX-License-Identifier: MIT */
/* What the IMAP and POP3 check code shares: the live connection, the account, the login,
 * the limits, and the way failures are classified. Internal to the check modules. */
#ifndef IQ_SESSION_H
#define IQ_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include <libetpan/libetpan.h>
#include <libpq-fe.h>

#include "account.h"
#include "check.h"
#include "stream.h"

typedef struct iq_session {
    PGconn *pg;
    const iq_check_env *env;
    const iq_account *account;
    const char *job_id;
    const char *username;
    const char *password;
    int fd;             /* connected socket, until the stream owns it */
    mailstream *stream; /* NULL until opened */
    iq_stream *st;      /* our driver state, valid while stream is */
    iq_stream_limits limits;
    uint64_t max_message;
    int fetch_batch;
    iq_check_result *res;
    /* test mode: stop after the capabilities and login, store nothing */
    bool probe_only;
    int64_t probe_messages;
    int64_t probe_bytes;
    char *capabilities;      /* space separated, as last seen (after TLS) */
    bool caps_from_greeting; /* IMAP: capabilities is the greeting's list, none asked yet */
    /* the folder's stored state, when read with the run record (else imap.c reads it) */
    bool state_loaded;
    bool state_found;
    int64_t state_uidvalidity;
    int64_t state_highest;
} iq_session;

/* Records a failure (first one wins): class, then a printf-style message. When the stream
 * itself failed, its class and reason take precedence. Always returns -1. */
int iq_session_fail(iq_session *s, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Loads the account and its credential, connects and runs the protocol; with probe_only it
 * stops after logging in and counting (the connection test). s->capabilities is the caller's
 * to free. */
int iq_check_session(PGconn *c, const iq_check_env *env, int64_t account_id, const char *job_id,
                     bool probe_only, iq_session *s, iq_check_result *res);

int iq_imap_check(iq_session *s);
int iq_pop3_check(iq_session *s);

#endif
