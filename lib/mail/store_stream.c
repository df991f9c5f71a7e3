/* SPDX-License-Identifier: MIT */
/* Storing a message too large to hold in memory: its bytes go from the server straight into a
 * COPY (bytea in hex), hashed on the way; the header fields and the event follow at the end. */
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
#include "mailparse.h"
#include "pg.h"
#include "util.h"

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

/* A text field in COPY's text format: backslash escapes, \N for NULL, then the delimiter.
 * 0, or -1 when b is full (the row must not be sent). */
static int copy_text(iq_buf *b, const char *s, char delim)
{
    if (!s && iq_buf_append_str(b, "\\N") < 0)
        return -1;
    for (const char *p = s ? s : ""; *p; p++) {
        int rc;
        switch (*p) {
        case '\\':
            rc = iq_buf_append_str(b, "\\\\");
            break;
        case '\n':
            rc = iq_buf_append_str(b, "\\n");
            break;
        case '\r':
            rc = iq_buf_append_str(b, "\\r");
            break;
        case '\t':
            rc = iq_buf_append_str(b, "\\t");
            break;
        default:
            rc = iq_buf_append_char(b, *p);
        }
        if (rc < 0)
            return -1;
    }
    return iq_buf_append_char(b, delim);
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
        bool fits = copy_text(&row, acct, '\t') == 0 && copy_text(&row, ctx->mailbox, '\t') == 0 &&
                    copy_text(&row, server_id, '\t') == 0 &&
                    copy_text(&row, imap ? uidv : NULL, '\t') == 0 &&
                    copy_text(&row, imap ? uidt : NULL, '\t') == 0 &&
                    /* raw: bytea hex, its backslash escaped */
                    iq_buf_append_str(&row, "\\\\x") == 0;
        if (!ok || !fits || copy_put(ctx->pg, row.data, row.len, error_r) < 0) {
            if (!ok)
                *error_r = iq_xasprintf("COPY into messages refused: %s", PQerrorMessage(ctx->pg));
            else if (!fits)
                *error_r = iq_xasprintf("a message's mailbox or server id is too long to store "
                                        "(over %zu bytes)",
                                        row.max);
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
        /* fits: at most what is left under head's cap, HEADER_KEEP */
        IQ_IGNORE_RESULT(iq_buf_append(&st->head, p, take < len ? take : len));
    }
    char hexbuf[2 * COPY_HEX_CHUNK + 1];
    while (len > 0) {
        size_t n = len < COPY_HEX_CHUNK ? len : COPY_HEX_CHUNK;
        iq_hex_encode(p, n, hexbuf);
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
        iq_hex_encode(sha, sizeof(sha), sha_hex);
        iq_msg_headers h;
        iq_mail_parse_headers(st->head.data ? st->head.data : "", st->head.len, &h);
        iq_buf tail;
        iq_buf_init(&tail, 64 * 1024);
        char size[24], date[40] = "";
        snprintf(size, sizeof(size), "%llu", (unsigned long long)st->size);
        if (h.has_date) {
            time_t t = (time_t)(h.date_ms / 1000);
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S+00", &tm);
        }
        /* the header fields are capped far below tail's cap, even with every byte escaped */
        if (iq_buf_append_char(&tail, '\t') < 0 || copy_text(&tail, size, '\t') < 0 ||
            iq_buf_appendf(&tail, "\\\\x%s\t", sha_hex) < 0 ||
            copy_text(&tail, h.message_id, '\t') < 0 || copy_text(&tail, h.from, '\t') < 0 ||
            copy_text(&tail, h.to, '\t') < 0 || copy_text(&tail, h.subject, '\t') < 0 ||
            copy_text(&tail, h.has_date ? date : NULL, '\n') < 0) {
            *error_r = iq_xasprintf("a large message's header fields are too long to store "
                                    "(over %zu bytes)",
                                    tail.max);
            iq_buf_release(&tail);
            iq_msg_headers_release(&h);
            goto fail; /* still copying: the abort ends the COPY */
        }
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
            if (iq_store_add_event(ctx, row_id, &m, &h, sha_hex, error_r) < 0) {
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
