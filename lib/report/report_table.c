/* SPDX-License-Identifier: MIT */
/* The report as an aligned terminal table that fits the width (the name column gives way). */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "report_escape.h"
#include "report_sink.h"

#define MIN_NAME 8   /* the name column never gets narrower */
#define WANT_NAME 16 /* below this, narrow the gaps and then the headers first */

typedef struct table_state {
    size_t width[IQ_COL__COUNT];
    char *head1[IQ_COL__COUNT];
    char *head2[IQ_COL__COUNT]; /* second header line, "" when none */
    bool two_lines;
    size_t gap; /* spaces between columns: 2, or 1 on a narrow terminal */
    int64_t rows;
    iq_buf line, cell, fit;
} table_state;

static double measure_cols(void *arg, const char *s)
{
    (void)arg;
    return (double)iq_utf8_width(s);
}

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

static size_t digits(int64_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

static size_t data_width(const iq_report_ctx *ctx, int col)
{
    iq_lang l = ctx->lang;
    size_t yes_no =
        max_size(iq_utf8_width(iq_msg_get(l, IQ_MSG_YES)), iq_utf8_width(iq_msg_get(l, IQ_MSG_NO)));
    switch (col) {
    case IQ_COL_CODE:
        return digits(ctx->max_id);
    case IQ_COL_NAME:
        return ctx->max_name > 0 ? (size_t)ctx->max_name : 1;
    case IQ_COL_SECURE:
    case IQ_COL_AUTO_CHECK:
    case IQ_COL_KEEP_COPY:
    case IQ_COL_ACTIVE:
        return yes_no;
    case IQ_COL_SECURE_TYPE:
        return 3;
    case IQ_COL_PROTOCOL:
        return 4;
    case IQ_COL_PORT:
        return 5;
    case IQ_COL_LAST_STATUS:
        return max_size(max_size(iq_utf8_width(iq_msg_get(l, IQ_MSG_STATUS_OK)),
                                 iq_utf8_width(iq_msg_get(l, IQ_MSG_STATUS_FAILED))),
                        iq_utf8_width(iq_msg_get(l, IQ_MSG_STATUS_NEVER)));
    default:
        return 1;
    }
}

/* Appends one cell: text made one line, fitted to the column, numbers right-aligned. */
static int put_cell(table_state *st, int col, const char *text)
{
    iq_buf_reset(&st->cell);
    iq_buf_reset(&st->fit);
    if (col > 0 && iq_buf_append(&st->line, "  ", st->gap) < 0)
        return -1;
    if (iq_utf8_one_line(&st->cell, text, strlen(text)) < 0 ||
        iq_utf8_fit(&st->fit, st->cell.data, st->width[col], 0) < 0)
        return -1;
    size_t w = iq_utf8_width(st->fit.data);
    size_t pad = st->width[col] > w ? st->width[col] - w : 0;
    if (iq_report_col_numeric(col))
        for (size_t i = 0; i < pad; i++)
            if (iq_buf_append_char(&st->line, ' ') < 0)
                return -1;
    if (iq_buf_append(&st->line, st->fit.data, st->fit.len) < 0)
        return -1;
    if (!iq_report_col_numeric(col))
        for (size_t i = 0; i < pad; i++)
            if (iq_buf_append_char(&st->line, ' ') < 0)
                return -1;
    return 0;
}

static int end_line(iq_report_ctx *ctx, table_state *st)
{
    while (st->line.len > 0 && st->line.data[st->line.len - 1] == ' ')
        st->line.len--;
    if (iq_buf_append_char(&st->line, '\n') < 0)
        return iq_report_fail(ctx, "a table row is too large");
    if (fwrite(st->line.data, 1, st->line.len, ctx->out) != st->line.len)
        return iq_report_fail(ctx, "writing the table failed");
    iq_buf_reset(&st->line);
    return 0;
}

static int table_begin(iq_report_ctx *ctx, void **state_r)
{
    table_state *st = iq_xcalloc(1, sizeof(*st));
    iq_buf_init(&st->line, IQ_REPORT_ROW_MAX);
    iq_buf_init(&st->cell, IQ_REPORT_ROW_MAX);
    iq_buf_init(&st->fit, IQ_REPORT_ROW_MAX);
    *state_r = st;

    size_t fixed = 0, dws[IQ_COL__COUNT];
    for (int col = 0; col < IQ_COL__COUNT; col++) {
        const char *label = iq_report_col_label(ctx->lang, col);
        size_t dw = data_width(ctx, col);
        dws[col] = dw;
        size_t split = 0;
        if (col != IQ_COL_NAME && iq_utf8_width(label) > dw)
            split = iq_report_split_label(label, measure_cols, NULL);
        if (split) {
            st->head1[col] = iq_xstrndup(label, split);
            st->head2[col] = iq_xstrdup(label + split + 1);
            st->two_lines = true;
        } else {
            st->head1[col] = iq_xstrdup(label);
            st->head2[col] = iq_xstrdup("");
        }
        st->width[col] =
            max_size(dw, max_size(iq_utf8_width(st->head1[col]), iq_utf8_width(st->head2[col])));
        if (col != IQ_COL_NAME)
            fixed += st->width[col];
    }
    /* The name column takes what is left of the terminal. When that is too little, the gaps
     * shrink to one space, then header-driven columns narrow (their headers get an ellipsis)
     * down to their data width; past that the table is wider than the terminal. */
    size_t w = (size_t)ctx->width;
    st->gap = 2;
    if (w < fixed + st->gap * (IQ_COL__COUNT - 1) + WANT_NAME)
        st->gap = 1;
    fixed += st->gap * (IQ_COL__COUNT - 1);
    while (w < fixed + MIN_NAME) {
        int widest = -1;
        size_t most = 0;
        for (int col = 0; col < IQ_COL__COUNT; col++) {
            size_t floor = dws[col] > 3 ? dws[col] : 3;
            if (col != IQ_COL_NAME && st->width[col] > floor && st->width[col] - floor > most) {
                most = st->width[col] - floor;
                widest = col;
            }
        }
        if (widest < 0)
            break;
        st->width[widest]--;
        fixed--;
    }
    size_t avail = w > fixed ? w - fixed : 0;
    if (avail < MIN_NAME)
        avail = MIN_NAME;
    if (st->width[IQ_COL_NAME] > avail)
        st->width[IQ_COL_NAME] = avail;

    for (int col = 0; col < IQ_COL__COUNT; col++)
        if (put_cell(st, col, st->head1[col]) < 0)
            return iq_report_fail(ctx, "the table header does not fit");
    if (end_line(ctx, st) < 0)
        return -1;
    if (st->two_lines) {
        for (int col = 0; col < IQ_COL__COUNT; col++)
            if (put_cell(st, col, st->head2[col]) < 0)
                return iq_report_fail(ctx, "the table header does not fit");
        if (end_line(ctx, st) < 0)
            return -1;
    }
    for (int col = 0; col < IQ_COL__COUNT; col++) {
        if (col > 0 && iq_buf_append(&st->line, "  ", st->gap) < 0)
            return iq_report_fail(ctx, "the table header does not fit");
        for (size_t i = 0; i < st->width[col]; i++)
            if (iq_buf_append_char(&st->line, '-') < 0)
                return iq_report_fail(ctx, "the table header does not fit");
    }
    return end_line(ctx, st);
}

static int table_row(iq_report_ctx *ctx, void *state, const iq_report_row *r, int64_t index)
{
    (void)index;
    table_state *st = state;
    char num[32];
    st->rows++;
    for (int col = 0; col < IQ_COL__COUNT; col++)
        if (put_cell(st, col, iq_report_cell(ctx->lang, r, col, num)) < 0)
            return iq_report_fail(ctx, "account %lld: its row is too large", (long long)r->id);
    return end_line(ctx, st);
}

static int table_end(iq_report_ctx *ctx, void *state)
{
    table_state *st = state;
    if (st->rows == 0 && fprintf(ctx->out, "%s\n", iq_msg_get(ctx->lang, IQ_MSG_NO_ROWS)) < 0)
        return iq_report_fail(ctx, "writing the table failed");
    if (fflush(ctx->out) != 0 || ferror(ctx->out))
        return iq_report_fail(ctx, "writing the table failed");
    return 0;
}

static void table_free(void *state)
{
    table_state *st = state;
    for (int col = 0; col < IQ_COL__COUNT; col++) {
        free(st->head1[col]);
        free(st->head2[col]);
    }
    iq_buf_release(&st->line);
    iq_buf_release(&st->cell);
    iq_buf_release(&st->fit);
    free(st);
}

const iq_report_sink iq_report_sink_table = {table_begin, table_row, table_end, table_free};
