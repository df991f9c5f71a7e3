/* SPDX-License-Identifier: MIT */
/* PostgreSQL's binary COPY format: a signature and two zero words, then per row a 16-bit field
 * count and per field a 32-bit length (-1 for NULL) and the value in the type's binary form
 * (network byte order), then a 16-bit -1. */
#include "pgcopy.h"

#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#include "util.h"

#define FLUSH_AT (256 * 1024)           /* encoded bytes kept before they are sent */
#define DIRECT_ABOVE (64 * 1024)        /* values larger than this are sent without a copy */
#define PG_EPOCH_UNIX_MS 946684800000LL /* 2000-01-01 00:00:00 UTC */

static const char signature[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n', '\0'};

static void put_be(iq_pgcopy *w, uint64_t v, int bytes)
{
    unsigned char b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
    if (iq_buf_append(&w->buf, b, (size_t)bytes) < 0)
        iq_oom();
}

static void put(iq_pgcopy *w, const void *p, size_t n)
{
    if (iq_buf_append(&w->buf, p, n) < 0)
        iq_oom();
}

static void fail(iq_pgcopy *w, const char *what)
{
    if (w->failed)
        return;
    w->failed = true;
    w->error = iq_xasprintf("%s: %s", what, w->pg ? PQerrorMessage(w->pg) : "no connection");
}

static void send_buf(iq_pgcopy *w)
{
    if (w->pg && w->buf.len > 0 && !w->failed &&
        PQputCopyData(w->pg, w->buf.data, (int)w->buf.len) != 1)
        fail(w, "sending rows to PostgreSQL failed");
    if (w->pg)
        iq_buf_reset(&w->buf);
}

static void maybe_send(iq_pgcopy *w)
{
    if (w->buf.len >= FLUSH_AT)
        send_buf(w);
}

int iq_pgcopy_begin(iq_pgcopy *w, PGconn *pg, const char *sql, char **error_r)
{
    memset(w, 0, sizeof(*w));
    iq_buf_init(&w->buf, (size_t)1 << 31);
    if (pg) {
        PGresult *r = PQexec(pg, sql);
        bool ok = PQresultStatus(r) == PGRES_COPY_IN;
        if (!ok)
            *error_r = iq_xasprintf("PostgreSQL refused the COPY: %s", PQresultErrorMessage(r));
        PQclear(r);
        if (!ok) {
            iq_buf_release(&w->buf);
            return -1;
        }
        w->pg = pg;
    }
    put(w, signature, sizeof(signature));
    put_be(w, 0, 4); /* flags */
    put_be(w, 0, 4); /* header extension length */
    return 0;
}

void iq_pgcopy_row(iq_pgcopy *w, int nfields)
{
    maybe_send(w);
    put_be(w, (uint16_t)nfields, 2);
}

void iq_pgcopy_null(iq_pgcopy *w)
{
    put_be(w, UINT32_MAX, 4); /* -1 */
}

void iq_pgcopy_i64(iq_pgcopy *w, int64_t v)
{
    put_be(w, 8, 4);
    put_be(w, (uint64_t)v, 8);
}

void iq_pgcopy_bytes(iq_pgcopy *w, const void *p, size_t n)
{
    if (n > INT32_MAX) {
        fail(w, "a value is larger than PostgreSQL accepts");
        return;
    }
    put_be(w, (uint32_t)n, 4);
    if (w->pg && n > DIRECT_ABOVE) {
        send_buf(w);
        if (!w->failed && PQputCopyData(w->pg, p, (int)n) != 1)
            fail(w, "sending rows to PostgreSQL failed");
        return;
    }
    put(w, p, n);
}

void iq_pgcopy_text(iq_pgcopy *w, const char *s)
{
    if (!s)
        iq_pgcopy_null(w);
    else
        iq_pgcopy_bytes(w, s, strlen(s));
}

void iq_pgcopy_timestamptz_ms(iq_pgcopy *w, int64_t unix_ms)
{
    put_be(w, 8, 4);
    put_be(w, (uint64_t)((unix_ms - PG_EPOCH_UNIX_MS) * 1000), 8);
}

int iq_pgcopy_uuid(iq_pgcopy *w, const char *text)
{
    unsigned char u[16];
    size_t k = 0;
    if (strlen(text) != 36)
        return -1;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-')
                return -1;
            continue;
        }
        int hi = iq_hex_digit(text[i]), lo = iq_hex_digit(text[i + 1]);
        if (hi < 0 || lo < 0 || i + 1 == 8 || i + 1 == 13 || i + 1 == 18 || i + 1 == 23)
            return -1;
        u[k++] = (unsigned char)(hi << 4 | lo);
        i++;
    }
    put_be(w, 16, 4);
    put(w, u, sizeof(u));
    return 0;
}

int64_t iq_pgcopy_end(iq_pgcopy *w, char sqlstate_r[6], char **error_r)
{
    sqlstate_r[0] = '\0';
    put_be(w, 0xffff, 2); /* -1: no more rows */
    if (!w->pg)
        return 0;
    send_buf(w);
    PGconn *pg = w->pg;
    int64_t rows = -1;
    if (PQputCopyEnd(pg, w->failed ? "the client could not send every row" : NULL) != 1)
        fail(w, "ending the COPY failed");
    PGresult *r = PQgetResult(pg);
    if (PQresultStatus(r) == PGRES_COMMAND_OK && !w->failed) {
        rows = strtoll(PQcmdTuples(r), NULL, 10);
    } else if (!w->failed) {
        const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        snprintf(sqlstate_r, 6, "%s", st ? st : "");
        fail(w, "PostgreSQL refused the rows");
        free(w->error);
        w->error = iq_xasprintf("PostgreSQL refused the rows: %s", PQresultErrorMessage(r));
    }
    PQclear(r);
    while ((r = PQgetResult(pg)))
        PQclear(r);
    if (rows < 0) {
        for (char *c = w->error; *c; c++)
            if (*c == '\n')
                *c = ' ';
        *error_r = w->error;
        w->error = NULL;
    }
    iq_buf_release(&w->buf);
    free(w->error);
    w->error = NULL;
    return rows;
}

void iq_pgcopy_abort(iq_pgcopy *w)
{
    if (w->pg) {
        PGresult *r;
        if (PQputCopyEnd(w->pg, "abandoned by the client") == 1)
            while ((r = PQgetResult(w->pg)))
                PQclear(r);
    }
    iq_buf_release(&w->buf);
    free(w->error);
    memset(w, 0, sizeof(*w));
}
