/* SPDX-License-Identifier: MIT */
/* Idempotent storage of fetched messages with their outbox events. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "buf.h"
#include "log.h"
#include "mailparse.h"
#include "messages.h"
#include "pg.h"
#include "util.h"

static void hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

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

static int add_event(const iq_store_ctx *ctx, int64_t row_id, const iq_store_msg *m,
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
                        "VALUES ($1, $2, $3, $4::jsonb)",
                        4, params, error_r);
    free(payload);
    json_decref(j);
    return rc;
}

/* After a UIDVALIDITY change: the same bytes under the old identity get the new one. */
static int rebind(const iq_store_ctx *ctx, const iq_store_msg *m, const unsigned char *sha,
                  const char *uidv, const char *uid, bool *done_r, char **error_r)
{
    char acct[24];
    snprintf(acct, sizeof(acct), "%lld", (long long)ctx->account->id);
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

static int store_one(const iq_store_ctx *ctx, const iq_store_msg *m, bool *inserted_r,
                     char **error_r)
{
    unsigned char sha[SHA256_DIGEST_LENGTH];
    char sha_hex[2 * SHA256_DIGEST_LENGTH + 1];
    SHA256((const unsigned char *)m->raw, m->len, sha);
    hex(sha, sizeof(sha), sha_hex);
    char acct[24], uidv[24], uid[24], size[24], date[32];
    snprintf(acct, sizeof(acct), "%lld", (long long)ctx->account->id);
    snprintf(uidv, sizeof(uidv), "%lld", (long long)ctx->uidvalidity);
    snprintf(uid, sizeof(uid), "%lld", (long long)m->uid);
    snprintf(size, sizeof(size), "%zu", m->len);
    *inserted_r = false;
    if (ctx->rebind) {
        bool done = false;
        if (rebind(ctx, m, sha, uidv, uid, &done, error_r) < 0)
            return -1;
        if (done)
            return 0;
    }
    iq_msg_headers h;
    iq_mail_parse_headers(m->raw, m->len, &h);
    if (h.has_date)
        snprintf(date, sizeof(date), "%lld", (long long)h.date_ms);
    bool imap = ctx->uidvalidity > 0;
    const char *vals[] = {acct,
                          ctx->mailbox,
                          m->server_id,
                          imap ? uidv : NULL,
                          imap ? uid : NULL,
                          (const char *)sha,
                          h.message_id,
                          h.from,
                          h.to,
                          h.subject,
                          h.has_date ? date : NULL,
                          size,
                          m->raw};
    int lens[] = {0,
                  0,
                  0,
                  0,
                  0,
                  SHA256_DIGEST_LENGTH,
                  0,
                  0,
                  0,
                  0,
                  0,
                  0,
                  m->len > INT32_MAX ? INT32_MAX : (int)m->len};
    int fmts[] = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1};
    PGresult *r = exec_bin(
        ctx->pg,
        "INSERT INTO messages (account_id, mailbox, server_id, uidvalidity, uid, sha256, "
        "message_id, from_addr, to_addr, subject, sent_at, size, raw) VALUES ($1, $2, $3, $4, "
        "$5, $6, $7, $8, $9, $10, to_timestamp($11::double precision / 1000), $12, $13) "
        "ON CONFLICT (account_id, mailbox, server_id) DO NOTHING RETURNING id",
        13, vals, lens, fmts, error_r);
    int rc = -1;
    if (r) {
        rc = 0;
        if (PQntuples(r) == 1) {
            *inserted_r = true;
            rc = add_event(ctx, iq_pg_i64(r, 0, 0), m, &h, sha_hex, error_r);
        }
        PQclear(r);
    }
    iq_msg_headers_release(&h);
    return rc;
}

/* One message and its event (only when the message was new): prepared once per connection,
 * since planning this for every message cost more than running it. */
#define STORE_STMT "iq_store_message"
static const char store_sql[] =
    "WITH m AS (INSERT INTO messages (id, account_id, mailbox, server_id, uidvalidity, uid, "
    "sha256, message_id, from_addr, to_addr, subject, sent_at, size, raw) VALUES ($1, $2, $3, $4, "
    "$5, $6, $7, $8, $9, $10, $11, to_timestamp($12::double precision / 1000), $13, $14) "
    "ON CONFLICT (account_id, mailbox, server_id) DO NOTHING RETURNING id) INSERT INTO outbox "
    "(event_id, topic, key, payload) SELECT $15, $16, $17, $18::jsonb FROM m";

/* Prepares the statement on this connection unless it already is (before any transaction:
 * a failed check inside one would abort it). */
static int ensure_prepared(PGconn *pg, char **error_r)
{
    const char *p[] = {STORE_STMT};
    PGresult *r = iq_pg_query(pg, "SELECT 1 FROM pg_prepared_statements WHERE name = $1", 1, p,
                              error_r);
    if (!r)
        return -1;
    bool have = PQntuples(r) > 0;
    PQclear(r);
    if (have)
        return 0;
    r = PQprepare(pg, STORE_STMT, store_sql, 18, NULL);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        *error_r = iq_xasprintf("preparing the store statement failed: %s",
                                PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

/* Every message of the batch with its event, in one round trip: ids are reserved first so
 * each event can name its row, and each statement inserts the event only when the message
 * was new (ON CONFLICT DO NOTHING yields no row for the outbox insert to select). */
static int store_pipelined(const iq_store_ctx *ctx, iq_store_msg *msgs, size_t n, int *stored_r,
                           char **error_r)
{
    PGconn *pg = ctx->pg;
    char cnt[24];
    snprintf(cnt, sizeof(cnt), "%zu", n);
    const char *cp[] = {cnt};
    PGresult *ids = iq_pg_query(pg, "SELECT nextval('messages_id_seq') FROM generate_series(1, $1)",
                                1, cp, error_r);
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
        unsigned char sha[SHA256_DIGEST_LENGTH];
        char sha_hex[2 * SHA256_DIGEST_LENGTH + 1], uid[24], size[24], date[32];
        SHA256((const unsigned char *)m->raw, m->len, sha);
        hex(sha, sizeof(sha), sha_hex);
        snprintf(uid, sizeof(uid), "%lld", (long long)m->uid);
        snprintf(size, sizeof(size), "%zu", m->len);
        iq_msg_headers h;
        iq_mail_parse_headers(m->raw, m->len, &h);
        if (h.has_date)
            snprintf(date, sizeof(date), "%lld", (long long)h.date_ms);
        int64_t row_id = iq_pg_i64(ids, (int)i, 0);
        json_t *ev = event_json(ctx, row_id, m, &h, sha_hex, error_r);
        if (!ev) {
            iq_msg_headers_release(&h);
            rc = -1;
            break;
        }
        char *payload = iq_msg_dump(ev);
        const char *vals[] = {iq_pg_str(ids, (int)i, 0),
                              acct,
                              ctx->mailbox,
                              m->server_id,
                              imap ? uidv : NULL,
                              imap ? uid : NULL,
                              (const char *)sha,
                              h.message_id,
                              h.from,
                              h.to,
                              h.subject,
                              h.has_date ? date : NULL,
                              size,
                              m->raw,
                              iq_msg_id(ev),
                              ctx->topic_new_mail,
                              acct,
                              payload};
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
        free(payload);
        json_decref(ev);
        iq_msg_headers_release(&h);
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

int iq_store_batch(const iq_store_ctx *ctx, iq_store_msg *msgs, size_t n, int64_t highest_uid,
                   int *stored_r, char **error_r)
{
    *stored_r = 0;
    if (!ctx->rebind && n > 0 && ensure_prepared(ctx->pg, error_r) < 0)
        return -1;
    if (iq_pg_begin(ctx->pg, error_r) < 0)
        return -1;
    int stored = 0;
    if (!ctx->rebind && n > 0) {
        if (store_pipelined(ctx, msgs, n, &stored, error_r) < 0)
            goto fail;
    }
    for (size_t i = 0; ctx->rebind && i < n; i++) {
        bool inserted;
        if (store_one(ctx, &msgs[i], &inserted, error_r) < 0)
            goto fail;
        stored += inserted;
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

/* "{1,2,3}" for a bigint[] or text[] parameter. */
static char *array_literal_i64(const int64_t *v, size_t n)
{
    iq_buf b;
    iq_buf_init(&b, SIZE_MAX / 2);
    iq_buf_append_char(&b, '{');
    for (size_t i = 0; i < n; i++)
        iq_buf_appendf(&b, "%s%lld", i ? "," : "", (long long)v[i]);
    iq_buf_append_char(&b, '}');
    return iq_buf_detach(&b, NULL);
}

static char *array_literal_text(char *const *v, size_t n)
{
    iq_buf b;
    iq_buf_init(&b, SIZE_MAX / 2);
    iq_buf_append_char(&b, '{');
    for (size_t i = 0; i < n; i++) {
        iq_buf_append_str(&b, i ? ",\"" : "\"");
        for (const char *p = v[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                iq_buf_append_char(&b, '\\');
            iq_buf_append_char(&b, *p);
        }
        iq_buf_append_char(&b, '"');
    }
    iq_buf_append_char(&b, '}');
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

/* ---- streaming a large message ------------------------------------------------------------ */

#define HEADER_KEEP (256 * 1024) /* what header parsing sees, as in mailparse */
#define COPY_HEX_CHUNK 65536

struct iq_store_stream {
    const iq_store_ctx *ctx;
    char server_id[128];
    int64_t uid;
    bool exists;
    bool copying;
    EVP_MD_CTX *sha;
    uint64_t size;
    iq_buf head; /* the first HEADER_KEEP bytes, for the header fields */
};

static int copy_put(PGconn *pg, const char *data, size_t len, char **error_r)
{
    if (PQputCopyData(pg, data, (int)len) != 1) {
        *error_r =
            iq_xasprintf("streaming a message into PostgreSQL failed: %s", PQerrorMessage(pg));
        return -1;
    }
    return 0;
}

/* A text field in COPY's text format: backslash escapes, \N for NULL, then the delimiter. */
static void copy_text(iq_buf *b, const char *s, char delim)
{
    if (!s) {
        iq_buf_append_str(b, "\\N");
    } else {
        for (const char *p = s; *p; p++) {
            switch (*p) {
            case '\\':
                iq_buf_append_str(b, "\\\\");
                break;
            case '\n':
                iq_buf_append_str(b, "\\n");
                break;
            case '\r':
                iq_buf_append_str(b, "\\r");
                break;
            case '\t':
                iq_buf_append_str(b, "\\t");
                break;
            default:
                iq_buf_append_char(b, *p);
            }
        }
    }
    iq_buf_append_char(b, delim);
}

int iq_store_stream_begin(const iq_store_ctx *ctx, const char *server_id, int64_t uid,
                          iq_store_stream **st_r, bool *exists_r, char **error_r)
{
    *st_r = NULL;
    if (iq_pg_begin(ctx->pg, error_r) < 0)
        return -1;
    char acct[24];
    snprintf(acct, sizeof(acct), "%lld", (long long)ctx->account->id);
    const char *p[] = {acct, ctx->mailbox, server_id};
    PGresult *r = iq_pg_query(ctx->pg,
                              "SELECT 1 FROM messages WHERE account_id = $1 AND mailbox = $2 "
                              "AND server_id = $3",
                              3, p, error_r);
    if (!r) {
        iq_pg_rollback(ctx->pg);
        return -1;
    }
    iq_store_stream *st = iq_xcalloc(1, sizeof(*st));
    st->ctx = ctx;
    snprintf(st->server_id, sizeof(st->server_id), "%s", server_id);
    st->uid = uid;
    st->exists = PQntuples(r) > 0;
    PQclear(r);
    st->sha = EVP_MD_CTX_new();
    if (!st->sha || EVP_DigestInit_ex(st->sha, EVP_sha256(), NULL) != 1)
        iq_oom();
    iq_buf_init(&st->head, HEADER_KEEP);
    *exists_r = st->exists;
    if (!st->exists) {
        /* the fields known only at the end come after raw */
        r = PQexec(ctx->pg, "COPY messages (account_id, mailbox, server_id, uidvalidity, uid, raw, "
                            "size, sha256, message_id, from_addr, to_addr, subject, sent_at) "
                            "FROM STDIN");
        bool ok = PQresultStatus(r) == PGRES_COPY_IN;
        PQclear(r);
        iq_buf row;
        iq_buf_init(&row, 4096);
        char uidv[24], uidt[24];
        snprintf(uidv, sizeof(uidv), "%lld", (long long)ctx->uidvalidity);
        snprintf(uidt, sizeof(uidt), "%lld", (long long)uid);
        bool imap = ctx->uidvalidity > 0;
        copy_text(&row, acct, '\t');
        copy_text(&row, ctx->mailbox, '\t');
        copy_text(&row, server_id, '\t');
        copy_text(&row, imap ? uidv : NULL, '\t');
        copy_text(&row, imap ? uidt : NULL, '\t');
        iq_buf_append_str(&row, "\\\\x"); /* raw: bytea hex, its backslash escaped */
        if (!ok || copy_put(ctx->pg, row.data, row.len, error_r) < 0) {
            if (!ok)
                *error_r = iq_xasprintf("COPY into messages refused: %s", PQerrorMessage(ctx->pg));
            iq_buf_release(&row);
            st->copying = ok;
            iq_store_stream_abort(&st);
            return -1;
        }
        iq_buf_release(&row);
        st->copying = true;
    }
    *st_r = st;
    return 0;
}

int iq_store_stream_write(iq_store_stream *st, const void *data, size_t len, char **error_r)
{
    if (st->exists)
        return 0;
    const unsigned char *p = data;
    EVP_DigestUpdate(st->sha, p, len);
    st->size += len;
    if (st->head.len < HEADER_KEEP) {
        size_t take = HEADER_KEEP - st->head.len;
        iq_buf_append(&st->head, p, take < len ? take : len);
    }
    static const char digits[] = "0123456789abcdef";
    char hexbuf[2 * COPY_HEX_CHUNK];
    while (len > 0) {
        size_t n = len < COPY_HEX_CHUNK ? len : COPY_HEX_CHUNK;
        for (size_t i = 0; i < n; i++) {
            hexbuf[2 * i] = digits[p[i] >> 4];
            hexbuf[2 * i + 1] = digits[p[i] & 15];
        }
        if (copy_put(st->ctx->pg, hexbuf, 2 * n, error_r) < 0)
            return -1;
        p += n;
        len -= n;
    }
    return 0;
}

int iq_store_stream_finish(iq_store_stream *st, int64_t highest_uid, int *stored_r, char **error_r)
{
    const iq_store_ctx *ctx = st->ctx;
    PGconn *pg = ctx->pg;
    *stored_r = 0;
    char acct[24];
    snprintf(acct, sizeof(acct), "%lld", (long long)ctx->account->id);
    if (!st->exists) {
        unsigned char sha[SHA256_DIGEST_LENGTH];
        char sha_hex[2 * SHA256_DIGEST_LENGTH + 1];
        EVP_DigestFinal_ex(st->sha, sha, NULL);
        hex(sha, sizeof(sha), sha_hex);
        iq_msg_headers h;
        iq_mail_parse_headers(st->head.data ? st->head.data : "", st->head.len, &h);
        iq_buf tail;
        iq_buf_init(&tail, 64 * 1024);
        char size[24], date[40];
        snprintf(size, sizeof(size), "%llu", (unsigned long long)st->size);
        iq_buf_append_char(&tail, '\t');
        copy_text(&tail, size, '\t');
        iq_buf_appendf(&tail, "\\\\x%s\t", sha_hex);
        copy_text(&tail, h.message_id, '\t');
        copy_text(&tail, h.from, '\t');
        copy_text(&tail, h.to, '\t');
        copy_text(&tail, h.subject, '\t');
        if (h.has_date) {
            time_t t = (time_t)(h.date_ms / 1000);
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S+00", &tm);
        }
        copy_text(&tail, h.has_date ? date : NULL, '\n');
        int rc = copy_put(pg, tail.data, tail.len, error_r);
        iq_buf_release(&tail);
        st->copying = false;
        if (rc < 0 || PQputCopyEnd(pg, NULL) != 1) {
            if (rc == 0)
                *error_r = iq_xasprintf("ending a COPY failed: %s", PQerrorMessage(pg));
            iq_msg_headers_release(&h);
            goto fail;
        }
        PGresult *r = PQgetResult(pg);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            *error_r = iq_xasprintf("storing a large message failed: %s", PQresultErrorMessage(r));
        PQclear(r);
        while ((r = PQgetResult(pg)))
            PQclear(r);
        if (!ok) {
            iq_msg_headers_release(&h);
            goto fail;
        }
        const char *p[] = {acct, ctx->mailbox, st->server_id};
        r = iq_pg_query(pg,
                        "SELECT id FROM messages WHERE account_id = $1 AND mailbox = $2 AND "
                        "server_id = $3",
                        3, p, error_r);
        int64_t row_id = r && PQntuples(r) == 1 ? iq_pg_i64(r, 0, 0) : 0;
        PQclear(r);
        bool is_new = row_id > 0;
        if (is_new && ctx->rebind) {
            /* the same bytes stored under the old UIDVALIDITY: keep that row, renamed */
            char uidv[24], uidt[24], id[24];
            snprintf(uidv, sizeof(uidv), "%lld", (long long)ctx->uidvalidity);
            snprintf(uidt, sizeof(uidt), "%lld", (long long)st->uid);
            snprintf(id, sizeof(id), "%lld", (long long)row_id);
            const char *q[] = {id, acct, ctx->mailbox, sha_hex, uidv};
            PGresult *old = iq_pg_query(pg,
                                        "SELECT id FROM messages WHERE account_id = $2 AND "
                                        "mailbox = $3 AND sha256 = decode($4, 'hex') AND "
                                        "uidvalidity IS DISTINCT FROM $5 AND id <> $1 LIMIT 1",
                                        5, q, error_r);
            if (!old) {
                iq_msg_headers_release(&h);
                goto fail;
            }
            if (PQntuples(old) == 1) {
                const char *u[] = {id, iq_pg_str(old, 0, 0), st->server_id, uidv, uidt};
                if (iq_pg_exec(pg, "DELETE FROM messages WHERE id = $1", 1, u, error_r) < 0 ||
                    iq_pg_exec(pg,
                               "UPDATE messages SET server_id = $3, uidvalidity = $4, uid = $5 "
                               "WHERE id = $2 AND $1::bigint IS NOT NULL",
                               5, u, error_r) < 0) {
                    PQclear(old);
                    iq_msg_headers_release(&h);
                    goto fail;
                }
                is_new = false;
            }
            PQclear(old);
        }
        if (is_new) {
            iq_store_msg m;
            memset(&m, 0, sizeof(m));
            snprintf(m.server_id, sizeof(m.server_id), "%s", st->server_id);
            m.len = (size_t)st->size;
            if (add_event(ctx, row_id, &m, &h, sha_hex, error_r) < 0) {
                iq_msg_headers_release(&h);
                goto fail;
            }
            *stored_r = 1;
        }
        iq_msg_headers_release(&h);
    }
    if (ctx->uidvalidity > 0 && iq_store_state_set(pg, ctx->account->id, ctx->mailbox,
                                                   ctx->uidvalidity, highest_uid, error_r) < 0)
        goto fail;
    if (iq_pg_commit(pg, error_r) < 0)
        goto fail;
    iq_buf_release(&st->head);
    EVP_MD_CTX_free(st->sha);
    free(st);
    return 0;
fail:
    iq_store_stream_abort(&st);
    *stored_r = 0;
    return -1;
}

void iq_store_stream_abort(iq_store_stream **stp)
{
    iq_store_stream *st = *stp;
    if (!st)
        return;
    PGconn *pg = st->ctx->pg;
    if (st->copying) {
        PQputCopyEnd(pg, "aborted");
        PGresult *r;
        while ((r = PQgetResult(pg)))
            PQclear(r);
    }
    iq_pg_rollback(pg);
    iq_buf_release(&st->head);
    EVP_MD_CTX_free(st->sha);
    free(st);
    *stp = NULL;
}
