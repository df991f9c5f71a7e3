/* SPDX-License-Identifier: MIT */
/* Integration, on the harness's PostgreSQL: a message streamed into one COPY (store_stream.c)
 * arrives byte for byte under folder names and server ids that need COPY's escapes, is stored
 * once, and leaves nothing behind when the COPY is refused at its end or PostgreSQL goes away
 * in the middle of it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <openssl/sha.h>

#include "account.h"
#include "migrate.h"
#include "pg.h"
#include "store.h"
#include "util.h"

typedef struct fixture {
    char db[64];
    char *dsn; /* the scratch database's */
    PGconn *admin;
    PGconn *pg;  /* the one the stream uses */
    PGconn *obs; /* an observer: what is committed */
    iq_account account;
} fixture;

static PGconn *connect_or_die(const char *dsn)
{
    PGconn *c = NULL;
    char *err = NULL;
    if (iq_pg_connect(dsn, 10000, &c, &err) != IQ_PG_OK)
        fail_msg("connecting to PostgreSQL: %s", err ? err : "?");
    return c;
}

static char *one(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    char *v = iq_xstrdup(PQgetisnull(r, 0, 0) ? "NULL" : PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void exec_or_die(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

static int setup(void **state)
{
    fixture *f = iq_xcalloc(1, sizeof(*f));
    const char *admin = getenv("INBOXQ_PG_ADMIN_DSN"), *dsn = getenv("INBOXQ_PG_DSN");
    assert_non_null(admin);
    assert_non_null(dsn);
    snprintf(f->db, sizeof(f->db), "it_store_stream_%ld", (long)getpid());
    f->admin = connect_or_die(admin);
    char sql[256];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s OWNER inboxq", f->db);
    exec_or_die(f->admin, sql);
    const char *slash = strrchr(dsn, '/');
    assert_non_null(slash);
    f->dsn = iq_xasprintf("%.*s/%s", (int)(slash - dsn), dsn, f->db);
    f->pg = connect_or_die(f->dsn);
    f->obs = connect_or_die(f->dsn);
    char *err = NULL;
    FILE *devnull = fopen("/dev/null", "w");
    assert_int_equal(iq_migrate(f->pg, devnull, &err), IQ_MIGRATE_OK);
    fclose(devnull);
    exec_or_die(f->pg, "INSERT INTO credentials (name, username, secret_nonce, secret_tag, "
                       "secret_ct, key_id) VALUES ('c', 'u', '\\x000102030405060708090a0b', "
                       "'\\x000102030405060708090a0b0c0d0e0f', '\\x00', 'test')");
    char *id = one(f->pg, "INSERT INTO mail_accounts (name, host, port, protocol, credential_id, "
                          "secure, secure_type) SELECT 'stream', 'mail.example.org', 993, "
                          "'imap', id, true, 'ssl' FROM credentials "
                          "RETURNING id");
    iq_account_init(&f->account);
    f->account.name = iq_xstrdup("stream"); /* the new-mail event names it */
    assert_int_equal(iq_parse_i64(id, 1, INT64_MAX, &f->account.id), 0);
    free(id);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    iq_pg_close(&f->pg);
    iq_pg_close(&f->obs);
    char sql[256];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->db);
    exec_or_die(f->admin, sql);
    iq_pg_close(&f->admin);
    iq_account_release(&f->account);
    free(f->dsn);
    free(f);
    return 0;
}

/* Where the stream stores: f's account, mailbox, IMAP under uidvalidity (0: POP3). */
static iq_store_ctx store_ctx(fixture *f, const char *mailbox, int64_t uidvalidity)
{
    return (iq_store_ctx){.pg = f->pg,
                          .account = &f->account,
                          .mailbox = mailbox,
                          .job_id = "00000000-0000-4000-8000-000000000001",
                          .topic_new_mail = "it.new",
                          .uidvalidity = uidvalidity};
}

/* A message of about size bytes: headers that need escapes, then every byte value. */
static char *message(size_t size, const char *subject, size_t *len_r)
{
    char *m = iq_xmalloc(size);
    int h = snprintf(m, size,
                     "From: a\\b <a@example.org>\r\nTo: c@example.org\r\n"
                     "Message-ID: <big\\1@example.org>\r\nSubject: %s\r\n"
                     "Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\n",
                     subject);
    for (size_t i = (size_t)h; i < size; i++)
        m[i] = (char)(i * 7 % 256);
    *len_r = size;
    return m;
}

static char *sha_hex(const char *m, size_t len)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)m, len, d);
    char *hex = iq_xmalloc(2 * sizeof(d) + 1);
    iq_hex_encode(d, sizeof(d), hex);
    return hex;
}

/* Streams m in 100,000-byte pieces; returns finish's result (or -1 when a write failed). */
static int stream(fixture *f, const iq_store_ctx *ctx, const char *server_id, int64_t uid,
                  const char *m, size_t len, bool *exists_r, int *stored_r, char **err_r)
{
    iq_store_stream *st = NULL;
    *stored_r = -1;
    if (iq_store_stream_begin(ctx, server_id, uid, &st, exists_r, err_r) < 0)
        return -1;
    (void)f;
    for (size_t at = 0; at < len; at += 100000)
        if (iq_store_stream_write(st, m + at, len - at < 100000 ? len - at : 100000, err_r) < 0) {
            iq_store_stream_abort(&st);
            return -1;
        }
    return iq_store_stream_finish(st, uid, stored_r, err_r);
}

static void test_escapes_round_trip(void **state)
{
    fixture *f = *state;
    /* every character COPY's text format escapes, and a control character it does not */
    const char *mailbox = "Caixa\\de\tentrada\n2\r\x01";
    const char *server_id = "7:9\\\t";
    iq_store_ctx ctx = store_ctx(f, mailbox, 7);
    size_t len;
    char *m = message(4500000, "tab\there back\\slash", &len);
    bool exists = true;
    int stored = 0;
    char *err = NULL;
    int rc = stream(f, &ctx, server_id, 9, m, len, &exists, &stored, &err);
    if (rc < 0)
        fail_msg("%s", err);
    assert_false(exists);
    assert_int_equal(stored, 1);
    char *sha = sha_hex(m, len), q[1024];
    char *row =
        one(f->obs, "SELECT mailbox || '|' || server_id || '|' || uidvalidity || '|' || uid "
                    "|| '|' || size || '|' || encode(sha256, 'hex') || '|' || "
                    "encode(sha256(raw), 'hex') || '|' || subject || '|' || from_addr || "
                    "'|' || message_id || '|' || sent_at AT TIME ZONE 'UTC' FROM messages");
    snprintf(q, sizeof(q),
             "%s|%s|7|9|%zu|%s|%s|tab here back\\slash|a\\b <a@example.org>|"
             "big\\1@example.org|2026-12-01 10:00:00", /* as the header parser has them */
             mailbox, server_id, len, sha, sha);
    assert_string_equal(row, q);
    free(row);
    row = one(f->obs, "SELECT uidvalidity || ':' || highest_uid || '|' || (mailbox = "
                      "E'Caixa\\\\de\\tentrada\\n2\\r\\x01') FROM mailbox_state");
    assert_string_equal(row, "7:9|true");
    free(row);
    row = one(f->obs, "SELECT count(*) FROM outbox");
    assert_string_equal(row, "1"); /* one new-mail event */
    free(row);

    /* the same message again (a redelivered job): found, not read into PostgreSQL again */
    assert_int_equal(stream(f, &ctx, server_id, 9, m, len, &exists, &stored, &err), 0);
    assert_true(exists);
    assert_int_equal(stored, 0);
    row = one(f->obs, "SELECT count(*) FROM messages");
    assert_string_equal(row, "1");
    free(row);
    row = one(f->obs, "SELECT count(*) FROM outbox");
    assert_string_equal(row, "1");
    free(row);

    /* POP3: no UIDVALIDITY or UID (COPY's \N) */
    ctx.uidvalidity = 0;
    ctx.mailbox = "INBOX";
    assert_int_equal(stream(f, &ctx, "uidl\\x", 0, m, len, &exists, &stored, &err), 0);
    assert_int_equal(stored, 1);
    row = one(f->obs, "SELECT (uidvalidity IS NULL AND uid IS NULL)::text || '|' || "
                      "(sha256 = sha256(raw))::text FROM messages WHERE server_id = 'uidl\\x'");
    assert_string_equal(row, "true|true");
    free(row);
    free(sha);
    free(m);
}

/* A name too long for the COPY's first row: refused at begin, no transaction left open. */
static void test_too_long(void **state)
{
    fixture *f = *state;
    char *mailbox = iq_xmalloc(5001);
    memset(mailbox, '\\', 5000); /* 10,000 bytes escaped */
    mailbox[5000] = '\0';
    iq_store_ctx ctx = store_ctx(f, mailbox, 8);
    iq_store_stream *st = NULL;
    bool exists = false;
    char *err = NULL;
    assert_int_equal(iq_store_stream_begin(&ctx, "8:1", 1, &st, &exists, &err), -1);
    assert_null(st);
    assert_non_null(strstr(err, "mailbox or server id is too long to store"));
    free(err);
    assert_int_equal(PQtransactionStatus(f->pg), PQTRANS_IDLE);
    free(mailbox);
}

/* The row is refused when the COPY ends (someone stored the same server id meanwhile): the
 * error says so, nothing of ours is committed, the connection is usable. */
static void test_refused_at_end(void **state)
{
    fixture *f = *state;
    iq_store_ctx ctx = store_ctx(f, "Refused", 3);
    size_t len;
    char *m = message(300000, "refused", &len);
    iq_store_stream *st = NULL;
    bool exists = true;
    char *err = NULL, sql[512];
    assert_int_equal(iq_store_stream_begin(&ctx, "3:1", 1, &st, &exists, &err), 0);
    assert_false(exists);
    assert_int_equal(iq_store_stream_write(st, m, len, &err), 0);
    snprintf(sql, sizeof(sql),
             "INSERT INTO messages (account_id, mailbox, server_id, uidvalidity, uid, raw, size, "
             "sha256) VALUES (%lld, 'Refused', '3:1', 3, 1, 'x', 1, sha256('x'))",
             (long long)f->account.id);
    exec_or_die(f->obs, sql);
    int stored = 7;
    assert_int_equal(iq_store_stream_finish(st, 1, &stored, &err), -1);
    assert_int_equal(stored, 0);
    assert_non_null(strstr(err, "storing a large message failed"));
    free(err);
    assert_int_equal(PQtransactionStatus(f->pg), PQTRANS_IDLE);
    char *row = one(f->obs, "SELECT count(*) || '|' || min(size) FROM messages WHERE mailbox = "
                            "'Refused'");
    assert_string_equal(row, "1|1"); /* only the other one */
    free(row);
    row = one(f->pg, "SELECT count(*) FROM mailbox_state WHERE mailbox = 'Refused'");
    assert_string_equal(row, "0");
    free(row);
    free(m);
}

/* PostgreSQL goes away in the middle of the COPY: the stream fails with an error naming it
 * (on a write or at the end) and nothing is stored. */
static void test_server_gone_mid_copy(void **state)
{
    fixture *f = *state;
    iq_store_ctx ctx = store_ctx(f, "Gone", 4);
    size_t len;
    char *m = message(1000000, "gone", &len);
    iq_store_stream *st = NULL;
    bool exists = true;
    char *err = NULL, sql[128];
    assert_int_equal(iq_store_stream_begin(&ctx, "4:1", 1, &st, &exists, &err), 0);
    assert_int_equal(iq_store_stream_write(st, m, 100000, &err), 0);
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", PQbackendPID(f->pg));
    char *t = one(f->obs, sql);
    assert_string_equal(t, "t");
    free(t);
    int rc = 0, stored = 7;
    /* libpq notices the closed socket on a later write, or at the end of the COPY */
    for (int i = 0; i < 200 && rc == 0; i++)
        rc = iq_store_stream_write(st, m, len, &err);
    if (rc < 0) {
        assert_non_null(strstr(err, "streaming a message into PostgreSQL failed"));
        iq_store_stream_abort(&st);
    } else {
        assert_int_equal(iq_store_stream_finish(st, 1, &stored, &err), -1);
        assert_int_equal(stored, 0);
        assert_true(strstr(err, "ending a COPY failed") || strstr(err, "storing a large message"));
    }
    free(err);
    assert_null(st);
    char *row = one(f->obs, "SELECT count(*) FROM messages WHERE mailbox = 'Gone'");
    assert_string_equal(row, "0");
    free(row);
    iq_pg_close(&f->pg);
    f->pg = connect_or_die(f->dsn);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes_round_trip),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_refused_at_end),
        cmocka_unit_test(test_server_gone_mid_copy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
