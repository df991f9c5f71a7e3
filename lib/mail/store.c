/* SPDX-License-Identifier: MIT */
/* Idempotent storage of fetched messages with their outbox events. */
#include "store.h"
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <libpq-fe.h>

#include "buf.h"
#include "log.h"
#include "mailparse.h"
#include "messages.h"
#include "pg.h"
#include "pgcopy.h"
#include "util.h"

/* Runs a statement whose parameters may be binary (lengths/formats given). */
static PGresult *exec_bin(PGconn *pg, const char *sql, int n, const char *const *vals,
                          const int *lens, const int *fmts, char **error_r)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, vals, lens, fmts, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    *error_r = iq_xasprintf("storing messages failed: %s", PQresultErrorMessage(r));
    for (char *p = *error_r; *p; p++)
        if (*p == '\n')
            *p = ' ';
    PQclear(r);
    return NULL;
}

/* The new-mail event of a stored message (NULL with *error_r when it breaks the contract). */
static json_t *event_json(const iq_store_ctx *ctx, int64_t row_id, const iq_store_msg *m,
                          const iq_msg_headers *h, const char *sha_hex, char **error_r)
{
    iq_new_mail ev = {
        .job_id = ctx->job_id,
        .account_id = ctx->account->id,
        .account_name = ctx->account->name,
        .mailbox = ctx->mailbox,
        .message_row_id = row_id,
        .server_id = m->server_id,
        .message_id = h->message_id,
        .from = h->from,
        .to = h->to,
        .subject = h->subject,
        .date_ms = h->has_date ? h->date_ms : IQ_MSG_TIME_NONE,
        .size = (int64_t)m->len,
        .sha256 = sha_hex,
        .fetched_at_ms = iq_now_real_ms(),
    };
    return iq_msg_new_mail_new(&ev, error_r);
}

int iq_store_add_event(const iq_store_ctx *ctx, int64_t row_id, const iq_store_msg *m,
                       const iq_msg_headers *h, const char *sha_hex, char **error_r)
{
    json_t *j = event_json(ctx, row_id, m, h, sha_hex, error_r);
    if (!j)
        return -1;
    char *payload = iq_msg_dump(j);
    char key[24];
    snprintf(key, sizeof(key), "%lld", (long long)ctx->account->id);
    const char *params[] = {iq_msg_id(j), ctx->topic_new_mail, key, payload};
    int rc = iq_pg_exec(ctx->pg,
                        "INSERT INTO outbox (event_id, topic, key, payload) "
                        "VALUES ($1, $2, $3, $4::json)",
                        4, params, error_r);
    free(payload);
    json_decref(j);
    return rc;
}

/* What a batch stores of one message beside its bytes: digest, headers and new-mail event. */
typedef struct msg_row {
    unsigned char sha[SHA256_DIGEST_LENGTH];
    iq_msg_headers h;
    char *payload; /* the event as compact JSON */
    char event_id[40];
} msg_row;

/* Fills r for m stored as row_id: 0, or -1 with *error_r (nothing to release then). */
static int msg_row_fill(const iq_store_ctx *ctx, int64_t row_id, const iq_store_msg *m, msg_row *r,
                        char **error_r)
{
    char sha_hex[2 * SHA256_DIGEST_LENGTH + 1];
    SHA256((const unsigned char *)m->raw, m->len, r->sha);
    iq_hex_encode(r->sha, sizeof(r->sha), sha_hex);
    iq_mail_parse_headers(m->raw, m->len, &r->h);
    json_t *ev = event_json(ctx, row_id, m, &r->h, sha_hex, error_r);
    if (!ev) {
        iq_msg_headers_release(&r->h);
        return -1;
    }
    r->payload = iq_msg_dump(ev);
    snprintf(r->event_id, sizeof(r->event_id), "%s", iq_msg_id(ev));
    json_decref(ev);
    return 0;
}

static void msg_row_release(msg_row *r)
{
    iq_msg_headers_release(&r->h);
    free(r->payload);
    r->payload = NULL;
}

/* After a UIDVALIDITY change: the same bytes under the old identity get the new one. */
static int rebind(const iq_store_ctx *ctx, const iq_store_msg *m, bool *done_r, char **error_r)
{
    unsigned char sha[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)m->raw, m->len, sha);
    char acct[24], uidv[24], uid[24];
    snprintf(acct, sizeof(acct), "%lld", (long long)ctx->account->id);
    snprintf(uidv, sizeof(uidv), "%lld", (long long)ctx->uidvalidity);
    snprintf(uid, sizeof(uid), "%lld", (long long)m->uid);
    const char *vals[] = {acct, ctx->mailbox, (const char *)sha, m->server_id, uidv, uid};
    int lens[] = {0, 0, SHA256_DIGEST_LENGTH, 0, 0, 0};
    int fmts[] = {0, 0, 1, 0, 0, 0};
    PGresult *r = exec_bin(ctx->pg,
                           "UPDATE messages SET server_id = $4, uidvalidity = $5, uid = $6 "
                           "WHERE id = (SELECT id FROM messages WHERE account_id = $1 "
                           "AND mailbox = $2 AND sha256 = $3 AND uidvalidity IS DISTINCT FROM $5 "
                           "AND NOT EXISTS (SELECT 1 FROM messages WHERE account_id = $1 AND "
                           "mailbox = $2 AND server_id = $4) LIMIT 1) RETURNING id",
                           6, vals, lens, fmts, error_r);
    if (!r)
        return -1;
    *done_r = PQntuples(r) > 0;
    PQclear(r);
    return 0;
}

/* One message and its event (only when the message was new): prepared once per connection,
 * since planning this for every message cost more than running it. */
#define STORE_STMT "iq_store_message"
static const char store_sql[] =
    "WITH m AS (INSERT INTO messages (id, account_id, mailbox, server_id, uidvalidity, uid, "
    "sha256, message_id, from_addr, to_addr, subject, sent_at, size, raw) VALUES ($1, $2, $3, $4, "
    "$5, $6, $7, $8, $9, $10, $11, to_timestamp($12::double precision / 1000), $13, $14) "
    "ON CONFLICT (account_id, mailbox, server_id) DO NOTHING RETURNING id) INSERT INTO outbox "
    "(event_id, topic, key, payload) SELECT $15, $16, $17, $18::json FROM m";

/* Prepares the statement on this connection unless it already is (before any transaction:
 * a failed check inside one would abort it). */
static int ensure_prepared(PGconn *pg, char **error_r)
{
    const char *p[] = {STORE_STMT};
    PGresult *r =
        iq_pg_query(pg, "SELECT 1 FROM pg_prepared_statements WHERE name = $1", 1, p, error_r);
    if (!r)
        return -1;
    bool have = PQntuples(r) > 0;
    PQclear(r);
    if (have)
        return 0;
    r = PQprepare(pg, STORE_STMT, store_sql, 18, NULL);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        *error_r =
            iq_xasprintf("preparing the store statement failed: %s", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

/* Row ids for n new messages, taken before they are stored so each event can name its row. */
static PGresult *reserve_ids(PGconn *pg, size_t n, char **error_r)
{
    char cnt[24];
    snprintf(cnt, sizeof(cnt), "%zu", n);
    const char *cp[] = {cnt};
    return iq_pg_query(pg, "SELECT nextval('messages_id_seq') FROM generate_series(1, $1)", 1, cp,
                       error_r);
}

/* Every message of the batch with its event, in one round trip: ids are reserved first so
 * each event can name its row, and each statement inserts the event only when the message
 * was new (ON CONFLICT DO NOTHING yields no row for the outbox insert to select). */
static int store_pipelined(const iq_store_ctx *ctx, iq_store_msg *msgs, size_t n, int *stored_r,
                           char **error_r)
{
    PGconn *pg = ctx->pg;
    PGresult *ids = reserve_ids(pg, n, error_r);
    if (!ids)
        return -1;
    if (PQenterPipelineMode(pg) != 1) {
        PQclear(ids);
        *error_r = iq_xasprintf("PostgreSQL pipeline mode unavailable: %s", PQerrorMessage(pg));
        return -1;
    }
    char acct[24], uidv[24];
    snprintf(acct, sizeof(acct), "%lld", (long long)ctx->account->id);
    snprintf(uidv, sizeof(uidv), "%lld", (long long)ctx->uidvalidity);
    bool imap = ctx->uidvalidity > 0;
    int rc = 0;
    size_t sent = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        iq_store_msg *m = &msgs[i];
        msg_row r;
        if (msg_row_fill(ctx, iq_pg_i64(ids, (int)i, 0), m, &r, error_r) < 0) {
            rc = -1;
            break;
        }
        char uid[24], size[24], date[32];
        snprintf(uid, sizeof(uid), "%lld", (long long)m->uid);
        snprintf(size, sizeof(size), "%zu", m->len);
        if (r.h.has_date)
            snprintf(date, sizeof(date), "%lld", (long long)r.h.date_ms);
        const char *vals[] = {iq_pg_str(ids, (int)i, 0),
                              acct,
                              ctx->mailbox,
                              m->server_id,
                              imap ? uidv : NULL,
                              imap ? uid : NULL,
                              (const char *)r.sha,
                              r.h.message_id,
                              r.h.from,
                              r.h.to,
                              r.h.subject,
                              r.h.has_date ? date : NULL,
                              size,
                              m->raw,
                              r.event_id,
                              ctx->topic_new_mail,
                              acct,
                              r.payload};
        int lens[18] = {0};
        int fmts[18] = {0};
        lens[6] = SHA256_DIGEST_LENGTH;
        fmts[6] = 1;
        lens[13] = m->len > INT32_MAX ? INT32_MAX : (int)m->len;
        fmts[13] = 1;
        if (PQsendQueryPrepared(pg, STORE_STMT, 18, vals, lens, fmts, 0) != 1) {
            *error_r = iq_xasprintf("storing messages failed: %s", PQerrorMessage(pg));
            rc = -1;
        } else {
            sent++;
        }
        msg_row_release(&r);
    }
    PQclear(ids);
    if (PQpipelineSync(pg) != 1 && rc == 0) {
        *error_r = iq_xasprintf("storing messages failed: %s", PQerrorMessage(pg));
        rc = -1;
    }
    /* one result (then NULL) per statement, then the sync */
    int stored = 0;
    for (;;) {
        PGresult *r = PQgetResult(pg);
        if (!r) {
            if (PQstatus(pg) != CONNECTION_OK)
                break;
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            break;
        }
        int64_t rows = 0;
        if (st == PGRES_COMMAND_OK) {
            if (iq_parse_i64(PQcmdTuples(r), 0, 1, &rows) == 0)
                stored += (int)rows;
        } else if (rc == 0) {
            *error_r = iq_xasprintf("storing messages failed: %s", PQresultErrorMessage(r));
            for (char *c = *error_r; *c; c++)
                if (*c == '\n')
                    *c = ' ';
            rc = -1;
        }
        PQclear(r);
    }
    if (PQexitPipelineMode(pg) != 1 && rc == 0) {
        *error_r = iq_xasprintf("leaving pipeline mode failed: %s", PQerrorMessage(pg));
        rc = -1;
    }
    *stored_r = stored;
    return rc;
}

/* The fast path: the whole batch as two binary COPYs, messages then their events. COPY has no
 * ON CONFLICT, so a message stored before (a redelivered job, a lost mailbox state) makes the
 * server refuse the batch; the caller then rolls back and stores message by message, where the
 * unique key decides. *sqlstate_r says why the server refused, "" for other failures. */
static int store_copied(const iq_store_ctx *ctx, iq_store_msg *msgs, size_t n, int *stored_r,
                        char sqlstate_r[6], char **error_r)
{
    sqlstate_r[0] = '\0';
    PGresult *ids = reserve_ids(ctx->pg, n, error_r);
    if (!ids)
        return -1;
    iq_pgcopy w;
    if (iq_pgcopy_begin(&w, ctx->pg,
                        "COPY messages (id, account_id, mailbox, server_id, uidvalidity, uid, "
                        "sha256, message_id, from_addr, to_addr, subject, sent_at, size, raw) "
                        "FROM STDIN WITH (FORMAT binary)",
                        error_r) < 0) {
        PQclear(ids);
        return -1;
    }
    char **payloads = iq_xcalloc(n, sizeof(*payloads));
    char(*event_ids)[40] = iq_xcalloc(n, sizeof(*event_ids));
    bool imap = ctx->uidvalidity > 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        const iq_store_msg *m = &msgs[i];
        int64_t row_id = iq_pg_i64(ids, (int)i, 0);
        msg_row r;
        if (msg_row_fill(ctx, row_id, m, &r, error_r) < 0) {
            rc = -1;
            break;
        }
        payloads[i] = r.payload; /* kept for the outbox COPY */
        r.payload = NULL;
        memcpy(event_ids[i], r.event_id, sizeof(event_ids[i]));
        iq_pgcopy_row(&w, 14);
        iq_pgcopy_i64(&w, row_id);
        iq_pgcopy_i64(&w, ctx->account->id);
        iq_pgcopy_text(&w, ctx->mailbox);
        iq_pgcopy_text(&w, m->server_id);
        if (imap) {
            iq_pgcopy_i64(&w, ctx->uidvalidity);
            iq_pgcopy_i64(&w, m->uid);
        } else {
            iq_pgcopy_null(&w);
            iq_pgcopy_null(&w);
        }
        iq_pgcopy_bytes(&w, r.sha, sizeof(r.sha));
        iq_pgcopy_text(&w, r.h.message_id);
        iq_pgcopy_text(&w, r.h.from);
        iq_pgcopy_text(&w, r.h.to);
        iq_pgcopy_text(&w, r.h.subject);
        if (r.h.has_date)
            iq_pgcopy_timestamptz_ms(&w, r.h.date_ms);
        else
            iq_pgcopy_null(&w);
        iq_pgcopy_i64(&w, (int64_t)m->len);
        iq_pgcopy_bytes(&w, m->raw, m->len);
        msg_row_release(&r);
    }
    PQclear(ids);
    if (rc < 0)
        iq_pgcopy_abort(&w);
    else if (iq_pgcopy_end(&w, sqlstate_r, error_r) != (int64_t)n)
        rc = -1;
    if (rc == 0 && iq_pgcopy_begin(&w, ctx->pg,
                                   "COPY outbox (event_id, topic, key, payload) FROM STDIN WITH "
                                   "(FORMAT binary)",
                                   error_r) < 0)
        rc = -1;
    if (rc == 0) {
        char key[24];
        snprintf(key, sizeof(key), "%lld", (long long)ctx->account->id);
        for (size_t i = 0; i < n && rc == 0; i++) {
            iq_pgcopy_row(&w, 4);
            if (iq_pgcopy_uuid(&w, event_ids[i]) < 0) {
                *error_r = iq_xasprintf("event id '%s' is not a UUID", event_ids[i]);
                rc = -1;
                break;
            }
            iq_pgcopy_text(&w, ctx->topic_new_mail);
            iq_pgcopy_text(&w, key);
            iq_pgcopy_text(&w, payloads[i]); /* json: its text */
        }
        if (rc < 0)
            iq_pgcopy_abort(&w);
        else if (iq_pgcopy_end(&w, sqlstate_r, error_r) != (int64_t)n)
            rc = -1;
    }
    for (size_t i = 0; i < n; i++)
        free(payloads[i]);
    free(payloads);
    free(event_ids);
    if (rc == 0)
        *stored_r = (int)n;
    return rc;
}

/* After a UIDVALIDITY change, the messages whose bytes are stored under the old identity take
 * the new one; the others are moved to the front of msgs, and their count is returned in *n_r
 * (-1 on error). Inside the batch's transaction, before the new ones are stored. */
static int rebind_all(const iq_store_ctx *ctx, iq_store_msg *msgs, size_t *n_r, char **error_r)
{
    size_t keep = 0;
    for (size_t i = 0; i < *n_r; i++) {
        bool done = false;
        if (rebind(ctx, &msgs[i], &done, error_r) < 0)
            return -1;
        if (!done) {
            iq_store_msg m = msgs[keep];
            msgs[keep++] = msgs[i];
            msgs[i] = m;
        }
    }
    *n_r = keep;
    return 0;
}

/* One attempt at the whole batch in one transaction: the rebind pass, the new messages (COPY,
 * or one statement each), the mailbox state. 1 when the COPY was refused (rolled back: try
 * again without it), 0 done, -1 failed. */
static int store_tx(const iq_store_ctx *ctx, iq_store_msg *msgs, size_t n, int64_t highest_uid,
                    bool copy, int *stored_r, char **error_r)
{
    if (!copy && ensure_prepared(ctx->pg, error_r) < 0)
        return -1;
    if (iq_pg_begin(ctx->pg, error_r) < 0)
        return -1;
    int stored = 0;
    size_t fresh = n;
    if (ctx->rebind && rebind_all(ctx, msgs, &fresh, error_r) < 0)
        goto fail;
    if (fresh > 0 && copy) {
        char sqlstate[6], *err = NULL;
        if (store_copied(ctx, msgs, fresh, &stored, sqlstate, &err) < 0) {
            /* most likely a message stored before (23505); the statement path sorts it out,
             * and reports any failure that is not a conflict */
            IQ_DEBUG("batch COPY of %zu messages refused (%s), storing them one by one: %s", fresh,
                     sqlstate[0] ? sqlstate : "-", err);
            free(err);
            iq_pg_rollback(ctx->pg);
            return 1;
        }
    } else if (fresh > 0 && store_pipelined(ctx, msgs, fresh, &stored, error_r) < 0) {
        goto fail;
    }
    if (ctx->uidvalidity > 0 && iq_store_state_set(ctx->pg, ctx->account->id, ctx->mailbox,
                                                   ctx->uidvalidity, highest_uid, error_r) < 0)
        goto fail;
    if (iq_pg_commit(ctx->pg, error_r) < 0)
        goto fail;
    *stored_r = stored;
    return 0;
fail:
    iq_pg_rollback(ctx->pg);
    return -1;
}

int iq_store_batch(const iq_store_ctx *ctx, iq_store_msg *msgs, size_t n, int64_t highest_uid,
                   int *stored_r, char **error_r)
{
    *stored_r = 0;
    int rc = store_tx(ctx, msgs, n, highest_uid, true, stored_r, error_r);
    if (rc == 1)
        rc = store_tx(ctx, msgs, n, highest_uid, false, stored_r, error_r);
    return rc;
}

void iq_store_msgs_release(iq_store_msg *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(msgs[i].raw);
        msgs[i].raw = NULL;
    }
}

int iq_store_state_get(PGconn *pg, int64_t account_id, const char *mailbox, int64_t *uidvalidity_r,
                       int64_t *highest_r, char **error_r)
{
    char acct[24];
    snprintf(acct, sizeof(acct), "%lld", (long long)account_id);
    const char *p[] = {acct, mailbox};
    PGresult *r = iq_pg_query(pg,
                              "SELECT uidvalidity, highest_uid FROM mailbox_state "
                              "WHERE account_id = $1 AND mailbox = $2",
                              2, p, error_r);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    *uidvalidity_r = found ? iq_pg_i64(r, 0, 0) : 0;
    *highest_r = found ? iq_pg_i64(r, 0, 1) : 0;
    PQclear(r);
    return found;
}

int iq_store_state_set(PGconn *pg, int64_t account_id, const char *mailbox, int64_t uidvalidity,
                       int64_t highest_uid, char **error_r)
{
    char acct[24], uidv[24], high[24];
    snprintf(acct, sizeof(acct), "%lld", (long long)account_id);
    snprintf(uidv, sizeof(uidv), "%lld", (long long)uidvalidity);
    snprintf(high, sizeof(high), "%lld", (long long)highest_uid);
    const char *p[] = {acct, mailbox, uidv, high};
    return iq_pg_exec(pg,
                      "INSERT INTO mailbox_state (account_id, mailbox, uidvalidity, highest_uid) "
                      "VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, mailbox) DO UPDATE SET "
                      "uidvalidity = EXCLUDED.uidvalidity, highest_uid = EXCLUDED.highest_uid, "
                      "updated_at = now()",
                      4, p, error_r);
}

int iq_store_undeleted_uids(PGconn *pg, int64_t account_id, const char *mailbox,
                            int64_t uidvalidity, int64_t **uids_r, size_t *n_r, char **error_r)
{
    char acct[24], uidv[24];
    snprintf(acct, sizeof(acct), "%lld", (long long)account_id);
    snprintf(uidv, sizeof(uidv), "%lld", (long long)uidvalidity);
    const char *p[] = {acct, mailbox, uidv};
    PGresult *r = iq_pg_query(pg,
                              "SELECT uid FROM messages WHERE account_id = $1 AND mailbox = $2 "
                              "AND uidvalidity = $3 AND deleted_on_server_at IS NULL ORDER BY uid",
                              3, p, error_r);
    if (!r)
        return -1;
    size_t n = (size_t)PQntuples(r);
    int64_t *uids = iq_xcalloc(n ? n : 1, sizeof(*uids));
    for (size_t i = 0; i < n; i++)
        uids[i] = iq_pg_i64(r, (int)i, 0);
    PQclear(r);
    *uids_r = uids;
    *n_r = n;
    return 0;
}

/* "{1,2,3}" for a bigint[] or text[] parameter. The buffers' cap (SIZE_MAX / 2) is beyond what
 * can be allocated, so the only way an append fails is memory running out: iq_oom. */
static char *array_literal_i64(const int64_t *v, size_t n)
{
    iq_buf b;
    iq_buf_init(&b, SIZE_MAX / 2);
    int rc = iq_buf_append_char(&b, '{');
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = iq_buf_appendf(&b, "%s%lld", i ? "," : "", (long long)v[i]);
    if (rc < 0 || iq_buf_append_char(&b, '}') < 0)
        iq_oom();
    return iq_buf_detach(&b, NULL);
}

static char *array_literal_text(char *const *v, size_t n)
{
    iq_buf b;
    iq_buf_init(&b, SIZE_MAX / 2);
    int rc = iq_buf_append_char(&b, '{');
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = iq_buf_append_str(&b, i ? ",\"" : "\"");
        for (const char *p = v[i]; *p && rc == 0; p++) {
            if (*p == '"' || *p == '\\')
                rc = iq_buf_append_char(&b, '\\');
            if (rc == 0)
                rc = iq_buf_append_char(&b, *p);
        }
        if (rc == 0)
            rc = iq_buf_append_char(&b, '"');
    }
    if (rc < 0 || iq_buf_append_char(&b, '}') < 0)
        iq_oom();
    return iq_buf_detach(&b, NULL);
}

int iq_store_mark_deleted_uids(PGconn *pg, int64_t account_id, const char *mailbox,
                               int64_t uidvalidity, const int64_t *uids, size_t n, char **error_r)
{
    if (n == 0)
        return 0;
    char acct[24], uidv[24];
    snprintf(acct, sizeof(acct), "%lld", (long long)account_id);
    snprintf(uidv, sizeof(uidv), "%lld", (long long)uidvalidity);
    char *arr = array_literal_i64(uids, n);
    const char *p[] = {acct, mailbox, uidv, arr};
    int rc = iq_pg_exec(pg,
                        "UPDATE messages SET deleted_on_server_at = now() WHERE account_id = $1 "
                        "AND mailbox = $2 AND uidvalidity = $3 AND uid = ANY($4::bigint[])",
                        4, p, error_r);
    free(arr);
    return rc;
}

int iq_store_known_uidls(PGconn *pg, int64_t account_id, const char *mailbox, char *const *uidls,
                         size_t n, bool *known_r, char **error_r)
{
    for (size_t i = 0; i < n; i++)
        known_r[i] = false;
    if (n == 0)
        return 0;
    char acct[24];
    snprintf(acct, sizeof(acct), "%lld", (long long)account_id);
    char *arr = array_literal_text(uidls, n);
    const char *p[] = {acct, mailbox, arr};
    PGresult *r = iq_pg_query(pg,
                              "SELECT u.i FROM unnest($3::text[]) WITH ORDINALITY AS u(id, i) "
                              "JOIN messages m ON m.account_id = $1 AND m.mailbox = $2 "
                              "AND m.server_id = u.id",
                              3, p, error_r);
    free(arr);
    if (!r)
        return -1;
    for (int row = 0; row < PQntuples(r); row++) {
        int64_t i = iq_pg_i64(r, row, 0);
        if (i >= 1 && (size_t)i <= n)
            known_r[i - 1] = true;
    }
    PQclear(r);
    return 0;
}

int iq_store_mark_deleted_uidls(PGconn *pg, int64_t account_id, const char *mailbox,
                                char *const *uidls, size_t n, char **error_r)
{
    if (n == 0)
        return 0;
    char acct[24];
    snprintf(acct, sizeof(acct), "%lld", (long long)account_id);
    char *arr = array_literal_text(uidls, n);
    const char *p[] = {acct, mailbox, arr};
    int rc = iq_pg_exec(pg,
                        "UPDATE messages SET deleted_on_server_at = now() WHERE account_id = $1 "
                        "AND mailbox = $2 AND server_id = ANY($3::text[])",
                        3, p, error_r);
    free(arr);
    return rc;
}
