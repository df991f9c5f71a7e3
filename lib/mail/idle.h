/* SPDX-License-Identifier: MIT */
/* One IMAP connection held open in IDLE (RFC 2177) for push: opened exactly as a check opens
 * its connection (account, credential, Network Connector, TLS or STARTTLS, login, SELECT of
 * the account's folder), then IDLE. The caller (worker/push.c) waits on iq_idle_fd() in its
 * own event loop and calls iq_idle_read() when it is readable; nothing here blocks longer than
 * read_timeout. The caller owns the iq_idle; one thread uses it at a time. */
#ifndef IQ_IDLE_H
#define IQ_IDLE_H

#include <stdbool.h>
#include <stdint.h>

#include "pg.h"
#include "result.h"

typedef struct iq_idle iq_idle;

/* What iq_idle_read saw. */
#define IQ_IDLE_NEW_MAIL 1 /* EXISTS, RECENT > 0, or a FETCH with \Recent: check the account */
#define IQ_IDLE_ENDED 2    /* the connection is over (BYE, drop, TLS failure, timeout) */

/* Opens the account's connection up to SELECT. 1: ready for IDLE (*idle_r set); 0: the
 * server does not advertise IDLE (the account stays on polling; nothing is held); -1: failed,
 * res says why (error class and text, as a check would). res must be released. */
int iq_idle_open(PGconn *c, const iq_check_env *env, int64_t account_id, iq_idle **idle_r,
                 iq_check_result *res);
/* Sends IDLE and waits for the server's continuation. Returns IQ_IDLE_* bits (new mail may be
 * announced before the continuation); IQ_IDLE_ENDED when the server refused or went away. */
int iq_idle_start(iq_idle *ic);
/* Reads what the server sent without waiting for more than is there (only a line already
 * begun is waited for, up to read_timeout). IQ_IDLE_* bits, 0 when nothing of note. */
int iq_idle_read(iq_idle *ic);
/* Ends IDLE (DONE) and waits for the tagged answer. IQ_IDLE_* bits; ENDED when it did not
 * come (a server that never answers DONE costs read_timeout, then the connection). */
int iq_idle_done(iq_idle *ic);
/* The socket to wait on, and whether bytes are already read and buffered (TLS record or the
 * stream's buffer): then do not wait, read. */
int iq_idle_fd(const iq_idle *ic);
bool iq_idle_buffered(const iq_idle *ic);
/* A check of the account over this session instead of a login (its job's slot borrowed it):
 * DONE, then iq_check_run_as's run record and check (SELECT again, fetch, commit, delete after
 * commit, events; deadline, caps and error classes as ever), then IDLE again. *bits_r: IQ_IDLE_*
 * bits for the holder (NEW_MAIL: mail arrived meanwhile, check again; ENDED: the session is
 * over, reconnect). 0 or -1 as iq_check_run_as; IQ_IDLE_NOT_HELD when the session was over
 * before the check began (nothing was recorded: run iq_check_run_as instead). */
#define IQ_IDLE_NOT_HELD (-2)
int iq_idle_check(PGconn *c, const iq_check_env *env, int64_t account_id, const char *job_id,
                  const char *requested_by, iq_idle *ic, int *bits_r, iq_check_result *res);
/* Marks the connection as over (what its holder saw fail). */
void iq_idle_fail(iq_idle *ic, iq_err cls, const char *why);
/* Why the connection ended (never NULL), and its error class. */
const char *iq_idle_error(const iq_idle *ic);
iq_err iq_idle_error_class(const iq_idle *ic);
/* DONE (when idling) and LOGOUT when the connection is still sound, then closes and frees. */
void iq_idle_close(iq_idle **ic);

#endif
