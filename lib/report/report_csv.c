/* SPDX-License-Identifier: MIT */
/* The report as CSV (RFC 4180: UTF-8, CRLF, header row, every cell neutralised; for a
 * spreadsheet in Portuguese with a byte-order mark and ';'). */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "report_escape.h"
#include "report_sink.h"

typedef struct csv_state {
    iq_buf line;
} csv_state;

static int write_line(iq_report_ctx *ctx, csv_state *st)
{
    if (iq_buf_append(&st->line, "\r\n", 2) < 0)
        return iq_report_fail(ctx, "a CSV row is larger than %zu bytes", IQ_REPORT_ROW_MAX);
    if (fwrite(st->line.data, 1, st->line.len, ctx->out) != st->line.len)
        return iq_report_fail(ctx, "writing the CSV failed");
    iq_buf_reset(&st->line);
    return 0;
}

static int csv_begin(iq_report_ctx *ctx, void **state_r)
{
    csv_state *st = iq_xcalloc(1, sizeof(*st));
    iq_buf_init(&st->line, IQ_REPORT_ROW_MAX);
    *state_r = st;
    char sep = ctx->csv_excel_pt ? ';' : ',';
    /* a spreadsheet in Portuguese reads UTF-8 only after a byte-order mark */
    if (ctx->csv_excel_pt && iq_buf_append_str(&st->line, "\xEF\xBB\xBF") < 0)
        return iq_report_fail(ctx, "the CSV header does not fit");
    for (int col = 0; col < IQ_COL__COUNT; col++) {
        if ((col > 0 && iq_buf_append_char(&st->line, sep) < 0) ||
            iq_csv_cell_sep(&st->line, iq_report_col_label(ctx->lang, col), sep) < 0)
            return iq_report_fail(ctx, "the CSV header does not fit");
    }
    return write_line(ctx, st);
}

static int csv_row(iq_report_ctx *ctx, void *state, const iq_report_row *r, int64_t index)
{
    (void)index;
    csv_state *st = state;
    char num[32], sep = ctx->csv_excel_pt ? ';' : ',';
    for (int col = 0; col < IQ_COL__COUNT; col++) {
        if ((col > 0 && iq_buf_append_char(&st->line, sep) < 0) ||
            iq_csv_cell_sep(&st->line, iq_report_cell(ctx->lang, r, col, num), sep) < 0)
            return iq_report_fail(ctx, "account %lld: its CSV row is larger than %zu bytes",
                                  (long long)r->id, IQ_REPORT_ROW_MAX);
    }
    return write_line(ctx, st);
}

static int csv_end(iq_report_ctx *ctx, void *state)
{
    (void)state;
    if (fflush(ctx->out) != 0 || ferror(ctx->out))
        return iq_report_fail(ctx, "writing the CSV failed");
    return 0;
}

static void csv_free(void *state)
{
    csv_state *st = state;
    iq_buf_release(&st->line);
    free(st);
}

const iq_report_sink iq_report_sink_csv = {csv_begin, csv_row, csv_end, csv_free};
