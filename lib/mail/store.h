/* SPDX-License-Identifier: MIT */
/* Where fetched mail lands: messages, their new-mail events (transactional outbox) and the
 * mailbox state, one PostgreSQL transaction per batch; plus the bookkeeping of deletions. */
#ifndef IQ_STORE_H
#define IQ_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "account.h"
#include "pg.h"

typedef struct iq_store_msg {
    char server_id[128]; /* IMAP "UIDVALIDITY:UID", POP3 the UIDL */
    int64_t uid;         /* IMAP UID, 0 for POP3 */
    char *raw;           /* owned; the RFC 5322 bytes exactly as the server sent them */
    size_t len;
} iq_store_msg;

typedef struct iq_store_ctx {
    PGconn *pg;
    const iq_account *account;
    const char *mailbox;
    const char *job_id;
    const char *topic_new_mail;
    int64_t uidvalidity; /* IMAP: the current one; 0 for POP3 */
    bool rebind;         /* IMAP: UIDVALIDITY changed: match stored content by hash */
} iq_store_ctx;

/* Stores a batch and (IMAP) moves the mailbox state to highest_uid, all in one transaction.
 * Messages already stored (same server identity, or same content after a UIDVALIDITY change)
 * are not stored again and get no event. *stored_r counts the new ones. 0 or -1. */
int iq_store_batch(const iq_store_ctx *ctx, iq_store_msg *msgs, size_t n, int64_t highest_uid,
                   int *stored_r, char **error_r);
void iq_store_msgs_release(iq_store_msg *msgs, size_t n);

/* A message too large to hold in memory goes in as a stream: COPY into messages while it
 * arrives, hashing as it goes; headers are parsed from the first 256 KiB. One transaction,
 * with its outbox event and (IMAP) the mailbox state. */
typedef struct iq_store_stream iq_store_stream;
/* Starts the transaction. *exists_r is set when this server identity is already stored: then
 * call iq_store_stream_finish() without writing (it only moves the mailbox state). */
int iq_store_stream_begin(const iq_store_ctx *ctx, const char *server_id, int64_t uid,
                          iq_store_stream **st_r, bool *exists_r, char **error_r);
int iq_store_stream_write(iq_store_stream *st, const void *data, size_t len, char **error_r);
/* Ends the COPY, matches a UIDVALIDITY change by content, adds the event, moves the state to
 * highest_uid (IMAP) and commits. *stored_r is 1 when a new message was stored. Frees st. */
int iq_store_stream_finish(iq_store_stream *st, int64_t highest_uid, int *stored_r, char **error_r);
/* Rolls back and frees (NULL-safe). */
void iq_store_stream_abort(iq_store_stream **st);

/* IMAP mailbox state: 1 found, 0 none yet, -1 error. */
int iq_store_state_get(PGconn *pg, int64_t account_id, const char *mailbox, int64_t *uidvalidity_r,
                       int64_t *highest_r, char **error_r);
/* Moves the state without storing (e.g. past skipped messages). */
int iq_store_state_set(PGconn *pg, int64_t account_id, const char *mailbox, int64_t uidvalidity,
                       int64_t highest_uid, char **error_r);
/* IMAP: UIDs stored under this UIDVALIDITY and not yet deleted on the server (ascending). */
int iq_store_undeleted_uids(PGconn *pg, int64_t account_id, const char *mailbox,
                            int64_t uidvalidity, int64_t **uids_r, size_t *n_r, char **error_r);
int iq_store_mark_deleted_uids(PGconn *pg, int64_t account_id, const char *mailbox,
                               int64_t uidvalidity, const int64_t *uids, size_t n, char **error_r);
/* POP3: which of these UIDLs are stored (known_r[i]). */
int iq_store_known_uidls(PGconn *pg, int64_t account_id, const char *mailbox, char *const *uidls,
                         size_t n, bool *known_r, char **error_r);
int iq_store_mark_deleted_uidls(PGconn *pg, int64_t account_id, const char *mailbox,
                                char *const *uidls, size_t n, char **error_r);

#endif
