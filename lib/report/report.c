/* SPDX-License-Identifier: MIT */
/* The accounts report: filters to SQL, a read-only transaction with a server-side cursor
 * fetched 1000 rows at a time, and the format sinks fed row by row. */
#include "report.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <libpq-fe.h>

#include "buf.h"
#include "i18n.h"
#include "pg.h"
#include "report_escape.h"
#include "report_sink.h"
#include "util.h"

#define FETCH_SQL "FETCH 1000 FROM iq_report_cursor"
#define FETCH_ROWS 1000

typedef struct query {
    iq_buf where; /* " WHERE ..." built from fixed fragments; values only as parameters */
    const char *params[8];
    int nparams;
    char *like;
    char limit[24], offset[24];
    int64_t after_id; /* keyset paging: rows after this code only (0: none) */
    char after[24];
} query;

/* The SQL is fixed fragments and parameter numbers (values go as parameters), far shorter than
 * its buffers; should an append fail anyway, the query is refused, never sent cut. */
#define SQL_TOO_LONG "the report's SQL does not fit its buffer"

/* 0, or -1 when the WHERE clause does not fit. */
static int query_init(query *q, const iq_report_filters *f)
{
    static const char *const columns[] = {"secure", "auto_check", "keep_copy", "active"};
    memset(q, 0, sizeof(*q));
    iq_buf_init(&q->where, 4096);
    if (iq_buf_append_str(&q->where, " WHERE true") < 0)
        return -1;
    if (f && f->name && *f->name) {
        q->like = iq_like_escape(f->name);
        q->params[q->nparams++] = q->like;
        if (iq_buf_appendf(&q->where, " AND name ILIKE '%%' || $%d || '%%' ESCAPE '\\'",
                           q->nparams) < 0)
            return -1;
    }
    for (size_t i = 0; f && i < IQ_ARRAY_LEN(columns); i++) {
        int v = iq_report_filter_value(f, i);
        if (v < 0)
            continue;
        q->params[q->nparams++] = v ? "true" : "false";
        if (iq_buf_appendf(&q->where, " AND %s = $%d::boolean", columns[i], q->nparams) < 0)
            return -1;
    }
    if (f && f->last_check >= 0) {
        static const char *const last_check_sql[] = {
            [IQ_LAST_CHECK_OK] = " AND last_status = 'ok'",
            [IQ_LAST_CHECK_FAILED] = " AND last_status IS NOT NULL AND last_status <> 'ok'",
            [IQ_LAST_CHECK_NEVER] = " AND last_status IS NULL",
        };
        if (f->last_check > IQ_LAST_CHECK_NEVER ||
            iq_buf_append_str(&q->where, last_check_sql[f->last_check]) < 0)
            return -1;
    }
    return 0;
}

static void query_release(query *q)
{
    iq_buf_release(&q->where);
    free(q->like);
}

/* Appends " [AND id > $k] ORDER BY id LIMIT $n OFFSET $m" for a page (no LIMIT when page is
 * 0; the keyset condition when q->after_id is set). 0 or -1 (sql full). */
static int page_clause(query *q, iq_buf *sql, int64_t page, int64_t per_page, int *np_r)
{
    int np = q->nparams;
    if (q->after_id > 0) {
        snprintf(q->after, sizeof(q->after), "%lld", (long long)q->after_id);
        q->params[np++] = q->after;
        if (iq_buf_appendf(sql, " AND id > $%d::bigint", np) < 0)
            return -1;
    }
    if (iq_buf_append_str(sql, " ORDER BY id") < 0)
        return -1;
    if (page > 0) {
        snprintf(q->limit, sizeof(q->limit), "%lld", (long long)per_page);
        snprintf(q->offset, sizeof(q->offset), "%lld", (long long)(page - 1) * (long long)per_page);
        q->params[np] = q->limit;
        q->params[np + 1] = q->offset;
        if (iq_buf_appendf(sql, " LIMIT $%d OFFSET $%d", np + 1, np + 2) < 0)
            return -1;
        np += 2;
    }
    *np_r = np;
    return 0;
}

static const iq_report_sink *sink_for(iq_report_format fmt)
{
    switch (fmt) {
    case IQ_REPORT_CSV:
        return &iq_report_sink_csv;
    case IQ_REPORT_HTML:
        return &iq_report_sink_html;
    case IQ_REPORT_PDF:
        return &iq_report_sink_pdf;
    case IQ_REPORT_JSON:
        return &iq_report_sink_json;
    case IQ_REPORT_TABLE:
        return &iq_report_sink_table;
    }
    return NULL;
}

static void row_from_result(const PGresult *r, int i, iq_report_row *row)
{
    row->id = iq_pg_i64(r, i, 0);
    row->name = iq_pg_str(r, i, 1);
    row->secure = iq_pg_bool(r, i, 2);
    row->secure_type = iq_pg_str(r, i, 3);
    row->protocol = iq_pg_str(r, i, 4);
    row->port = (int)iq_pg_i64(r, i, 5);
    row->auto_check = iq_pg_bool(r, i, 6);
    row->keep_copy = iq_pg_bool(r, i, 7);
    row->active = iq_pg_bool(r, i, 8);
    row->last_status = iq_pg_str(r, i, 9);
    row->push = iq_pg_str(r, i, 10);
}

/* Raises *max_r to the terminal columns of the widest non-ASCII name shown. length() counts
 * characters, which is the width of an ASCII name only; a wide (CJK, emoji) or combining one is
 * measured here by the tables' own width function, through a cursor so memory stays flat. */
static int measure_names(PGconn *c, query *q, iq_buf *sql, int64_t page, int64_t per_page,
                         int64_t *max_r, char **err_r)
{
    int np;
    iq_buf_reset(sql);
    if (iq_buf_appendf(sql,
                       "DECLARE iq_report_names NO SCROLL CURSOR FOR SELECT name FROM "
                       "(SELECT id, name FROM mail_accounts%s",
                       q->where.data) < 0 ||
        page_clause(q, sql, page, per_page, &np) < 0 ||
        iq_buf_append_str(sql, ") AS shown WHERE octet_length(name) <> length(name)") < 0) {
        *err_r = iq_xstrdup(SQL_TOO_LONG);
        return -1;
    }
    if (iq_pg_exec(c, sql->data, np, q->params, err_r) < 0)
        return -1;
    for (;;) {
        PGresult *r = iq_pg_query(c, "FETCH 1000 FROM iq_report_names", 0, NULL, err_r);
        if (!r)
            return -1;
        int n = PQntuples(r);
        for (int i = 0; i < n; i++) {
            size_t w = iq_utf8_width(PQgetvalue(r, i, 0));
            if (w > (uint64_t)*max_r)
                *max_r = (int64_t)w;
        }
        PQclear(r);
        if (n < FETCH_ROWS)
            break;
    }
    return iq_pg_exec(c, "CLOSE iq_report_names", 0, NULL, err_r);
}

int iq_report_render(PGconn *c, const iq_report_filters *f, iq_report_format fmt, const char *lang,
                     FILE *out, iq_report_stats *stats_r, char **error_r)
{
    iq_report_options o = {.format = fmt, .lang = lang};
    return iq_report_render_opts(c, f, &o, out, stats_r, error_r);
}

struct iq_report_stream {
    PGconn *c;
    iq_report_ctx ctx;
    const iq_report_sink *sink;
    void *state;
    query q;
    bool own_tx, began, cursor_open, finished;
    int64_t rows, last_id;
};

/* The stream's failure as *error_r ("report: ..."), from a sink's error or err (freed). */
static int stream_fail(iq_report_stream *s, char *err, char **error_r)
{
    if (s->began) {
        s->began = false;
        iq_pg_rollback(s->c);
    }
    if (s->ctx.error)
        *error_r = iq_xasprintf("report: %s", s->ctx.error);
    else
        *error_r =
            iq_xasprintf("report: reading the accounts failed: %s", err ? err : "unknown error");
    free(err);
    s->finished = true;
    return -1;
}

void iq_report_stream_free(iq_report_stream **sp)
{
    iq_report_stream *s = *sp;
    if (!s)
        return;
    if (s->began)
        iq_pg_rollback(s->c);
    else if (s->cursor_open && !s->finished)
        iq_pg_exec(s->c, "CLOSE iq_report_cursor", 0, NULL, NULL);
    if (s->state)
        s->sink->free(s->state);
    free(s->ctx.error);
    query_release(&s->q);
    free(s);
    *sp = NULL;
}

int iq_report_stream_open(PGconn *c, const iq_report_filters *f, const iq_report_options *o,
                          FILE *out, iq_report_stream **s_r, char **error_r)
{
    *s_r = NULL;
    const iq_report_sink *sink = sink_for(o->format);
    if (!sink) {
        *error_r = iq_xstrdup("report: unknown format; use csv, html, pdf, json or table");
        return -1;
    }
    iq_lang lang;
    if (iq_lang_parse(o->lang, &lang) < 0) {
        *error_r = iq_xasprintf("report: unknown language '%s'; use en or pt-BR", o->lang);
        return -1;
    }
    if ((o->per_page > 0 ? o->per_page : IQ_REPORT_ROWS_PER_PAGE) > IQ_REPORT_MAX_PER_PAGE ||
        o->page < 0 || o->page > INT64_MAX / IQ_REPORT_MAX_PER_PAGE || o->after_id < 0 ||
        (o->after_id > 0 && o->page > 1)) {
        *error_r = iq_xasprintf("report: rows per page must be 1-%d and the page 1 or more (page 1 "
                                "with a cursor)",
                                IQ_REPORT_MAX_PER_PAGE);
        return -1;
    }
    iq_report_stream *s = iq_xcalloc(1, sizeof(*s));
    s->c = c;
    s->sink = sink;
    iq_report_ctx *ctx = &s->ctx;
    ctx->filters = f;
    ctx->out = out;
    ctx->lang = lang;
    ctx->per_page = o->per_page > 0 ? o->per_page : IQ_REPORT_ROWS_PER_PAGE;
    ctx->width = o->width > 0 ? o->width : iq_report_term_width();
    ctx->now_ms = o->now_ms > 0 ? o->now_ms : iq_now_real_ms();
    ctx->csv_excel_pt = o->csv_dialect == IQ_CSV_EXCEL_PT ||
                        (o->csv_dialect == IQ_CSV_BY_LANG && ctx->lang == IQ_LANG_PT_BR);
    int64_t page = o->after_id > 0 ? 1 : o->page;
    iq_buf sql;
    char *err = NULL;
    int qrc = query_init(&s->q, f);
    iq_buf_init(&sql, 8192);
    if (qrc < 0)
        goto too_long;
    s->q.after_id = o->after_id;

    /* Everything below reads one snapshot, so the count, the page and the rows agree. */
    if (strcmp(pg_encoding_to_char(PQclientEncoding(c)), "UTF8") != 0 &&
        PQsetClientEncoding(c, "UTF8") != 0) {
        err = iq_xstrdup("could not switch the PostgreSQL client encoding to UTF8");
        goto fail;
    }
    switch (PQtransactionStatus(c)) {
    case PQTRANS_IDLE:
        s->own_tx = true;
        if (iq_pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, &err) < 0)
            goto fail;
        s->began = true;
        break;
    case PQTRANS_INTRANS:
        break;
    default:
        err = iq_xstrdup("the PostgreSQL connection is busy or in a failed transaction");
        goto fail;
    }

    if (iq_buf_appendf(&sql, "SELECT count(*) FROM mail_accounts%s", s->q.where.data) < 0)
        goto too_long;
    PGresult *r = iq_pg_query(c, sql.data, s->q.nparams, s->q.params, &err);
    if (!r)
        goto fail;
    ctx->total = iq_pg_i64(r, 0, 0);
    PQclear(r);

    int64_t offset = page > 0 ? (page - 1) * ctx->per_page : 0;
    if (page > 0 && offset >= ctx->total)
        ctx->count = 0;
    else if (page > 0)
        ctx->count = ctx->total - offset < ctx->per_page ? ctx->total - offset : ctx->per_page;
    else
        ctx->count = ctx->total;
    ctx->print_pages = ctx->count > 0 ? (ctx->count + ctx->per_page - 1) / ctx->per_page : 1;

    int np;
    if (o->format == IQ_REPORT_TABLE || o->format == IQ_REPORT_PDF) {
        /* Column widths come from the rows shown, measured before streaming them. */
        iq_buf_reset(&sql);
        if (iq_buf_appendf(&sql,
                           "SELECT coalesce(max(id), 0), coalesce(max(length(name)) FILTER (WHERE "
                           "octet_length(name) = length(name)), 0) FROM "
                           "(SELECT id, name FROM mail_accounts%s",
                           s->q.where.data) < 0 ||
            page_clause(&s->q, &sql, page, ctx->per_page, &np) < 0 ||
            iq_buf_append_str(&sql, ") AS shown") < 0)
            goto too_long;
        r = iq_pg_query(c, sql.data, np, s->q.params, &err);
        if (!r)
            goto fail;
        ctx->max_id = iq_pg_i64(r, 0, 0);
        ctx->max_name = iq_pg_i64(r, 0, 1);
        PQclear(r);
        if (o->format == IQ_REPORT_TABLE &&
            measure_names(c, &s->q, &sql, page, ctx->per_page, &ctx->max_name, &err) < 0)
            goto fail;
    }

    iq_buf_reset(&sql);
    if (iq_buf_appendf(&sql,
                       "DECLARE iq_report_cursor NO SCROLL CURSOR FOR SELECT id, name, secure, "
                       "secure_type, protocol, port, auto_check, keep_copy, active, last_status, "
                       "push FROM mail_accounts%s",
                       s->q.where.data) < 0 ||
        page_clause(&s->q, &sql, page, ctx->per_page, &np) < 0)
        goto too_long;
    if (iq_pg_exec(c, sql.data, np, s->q.params, &err) < 0)
        goto fail;
    s->cursor_open = true;
    if (sink->begin(ctx, &s->state) < 0)
        goto fail;
    iq_buf_release(&sql);
    *s_r = s;
    return 0;
too_long:
    err = iq_xstrdup(SQL_TOO_LONG);
fail:
    iq_buf_release(&sql);
    stream_fail(s, err, error_r);
    iq_report_stream_free(&s);
    return -1;
}

int iq_report_stream_next(iq_report_stream *s, FILE *out, iq_report_stats *stats_r, char **error_r)
{
    if (s->finished) {
        *error_r = iq_xstrdup("report: the stream has ended");
        return -1;
    }
    s->ctx.out = out;
    char *err = NULL;
    PGresult *r = iq_pg_query(s->c, FETCH_SQL, 0, NULL, &err);
    if (!r)
        return stream_fail(s, err, error_r);
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        iq_report_row row;
        row_from_result(r, i, &row);
        if (s->sink->row(&s->ctx, s->state, &row, s->rows) < 0) {
            PQclear(r);
            return stream_fail(s, NULL, error_r);
        }
        s->last_id = row.id;
        s->rows++;
    }
    PQclear(r);
    if (n == FETCH_ROWS)
        return 1;
    if (s->sink->end(&s->ctx, s->state) < 0)
        return stream_fail(s, NULL, error_r);
    if (iq_pg_exec(s->c, "CLOSE iq_report_cursor", 0, NULL, &err) < 0)
        return stream_fail(s, err, error_r);
    if (s->own_tx) {
        s->began = false;
        if (iq_pg_commit(s->c, &err) < 0)
            return stream_fail(s, err, error_r);
    }
    s->finished = true;
    if (stats_r) {
        stats_r->rows = s->rows;
        stats_r->total = s->ctx.total;
        stats_r->pages =
            s->ctx.total > 0 ? (s->ctx.total + s->ctx.per_page - 1) / s->ctx.per_page : 1;
        stats_r->last_id = s->last_id;
    }
    return 0;
}

int iq_report_render_opts(PGconn *c, const iq_report_filters *f, const iq_report_options *o,
                          FILE *out, iq_report_stats *stats_r, char **error_r)
{
    iq_report_stream *s = NULL;
    if (stats_r)
        memset(stats_r, 0, sizeof(*stats_r));
    if (iq_report_stream_open(c, f, o, out, &s, error_r) < 0)
        return -1;
    int rc;
    while ((rc = iq_report_stream_next(s, out, stats_r, error_r)) == 1)
        ;
    iq_report_stream_free(&s);
    return rc;
}
