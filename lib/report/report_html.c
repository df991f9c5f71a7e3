/* SPDX-License-Identifier: MIT */
/* The report as one self-contained, print-ready HTML file: inline CSS, A4 landscape, one
 * table per printed page with the header repeated, and "Page X of Y" on each page. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "report_escape.h"
#include "report_sink.h"

typedef struct html_state {
    iq_buf b;
    char *head; /* the escaped page header block (title, filters, generation time) */
    int64_t rows;
    int64_t page; /* current page, 1-based; 0 before the first */
} html_state;

/* Column widths in percent of the page, in column order. */
static const int col_pct[IQ_COL__COUNT] = {6, 24, 8, 8, 7, 6, 10, 11, 7, 13};

static const char css[] =
    "@page{size:A4 landscape;margin:10mm}"
    "*{box-sizing:border-box}"
    "body{font-family:\"DejaVu Sans\",Arial,Helvetica,sans-serif;font-size:8pt;color:#111;"
    "margin:0;background:#fff}"
    ".page{page-break-after:always;break-after:page;position:relative}"
    ".page:last-child{page-break-after:auto;break-after:auto}"
    "header h1{font-size:13pt;margin:0 0 1mm}"
    "header p{margin:0 0 .6mm;color:#333}"
    "table{width:100%;border-collapse:collapse;table-layout:fixed;margin-top:2mm}"
    "th,td{border:.2mm solid #999;padding:.5mm 1.2mm;text-align:left;vertical-align:middle}"
    "td{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;height:4.6mm}"
    "th{background:#e4e8ee;font-weight:bold}"
    "tbody tr:nth-child(even) td{background:#f5f6f8}"
    "td.num,th.num{text-align:right}"
    "td.empty{text-align:center;font-style:italic}"
    "footer{display:flex;justify-content:space-between;margin-top:1.5mm;color:#444}"
    "@media screen{body{background:#ddd}.page{background:#fff;width:297mm;min-height:210mm;"
    "margin:6mm auto;padding:10mm;box-shadow:0 0 2mm #888}}";

static int flush_buf(iq_report_ctx *ctx, html_state *st)
{
    if (st->b.len && fwrite(st->b.data, 1, st->b.len, ctx->out) != st->b.len)
        return iq_report_fail(ctx, "writing the HTML failed");
    iq_buf_reset(&st->b);
    return 0;
}

static int open_page(iq_report_ctx *ctx, html_state *st)
{
    st->page++;
    int rc = iq_buf_appendf(&st->b, "<section class=\"page\">\n%s<table>\n<colgroup>", st->head);
    for (int col = 0; rc == 0 && col < IQ_COL__COUNT; col++)
        rc = iq_buf_appendf(&st->b, "<col style=\"width:%d%%\">", col_pct[col]);
    rc = rc ? rc : iq_buf_append_str(&st->b, "</colgroup>\n<thead><tr>");
    for (int col = 0; rc == 0 && col < IQ_COL__COUNT; col++) {
        rc = iq_buf_append_str(&st->b, iq_report_col_numeric(col) ? "<th class=\"num\">" : "<th>");
        rc = rc ? rc : iq_html_escape(&st->b, iq_report_col_label(ctx->lang, col));
        rc = rc ? rc : iq_buf_append_str(&st->b, "</th>");
    }
    rc = rc ? rc : iq_buf_append_str(&st->b, "</tr></thead>\n<tbody>\n");
    if (rc < 0)
        return iq_report_fail(ctx, "the HTML page header is too large");
    return 0;
}

static int close_page(iq_report_ctx *ctx, html_state *st)
{
    char page_of[96];
    char when[40];
    iq_i18n_page_of(ctx->lang, st->page, ctx->print_pages, page_of, sizeof(page_of));
    iq_i18n_time(ctx->lang, ctx->now_ms, when, sizeof(when));
    int rc = iq_buf_append_str(&st->b, "</tbody>\n</table>\n<footer><span>");
    rc = rc ? rc : iq_html_escape(&st->b, iq_msg_get(ctx->lang, IQ_MSG_TITLE));
    rc = rc ? rc : iq_buf_append_str(&st->b, " &middot; ");
    rc = rc ? rc : iq_html_escape(&st->b, when);
    rc = rc ? rc : iq_buf_append_str(&st->b, "</span><span class=\"pageno\">");
    rc = rc ? rc : iq_html_escape(&st->b, page_of);
    rc = rc ? rc : iq_buf_append_str(&st->b, "</span></footer>\n</section>\n");
    if (rc < 0)
        return iq_report_fail(ctx, "the HTML page footer is too large");
    return flush_buf(ctx, st);
}

static int html_begin(iq_report_ctx *ctx, void **state_r)
{
    html_state *st = iq_xcalloc(1, sizeof(*st));
    iq_buf_init(&st->b, IQ_REPORT_ROW_MAX);
    *state_r = st;
    const char *title = iq_msg_get(ctx->lang, IQ_MSG_TITLE);
    char when[40];
    iq_i18n_time(ctx->lang, ctx->now_ms, when, sizeof(when));
    char *filters = iq_report_filters_describe(
        ctx->filters ? ctx->filters : &(iq_report_filters){NULL, -1, -1, -1, -1, -1},
        iq_lang_tag(ctx->lang));
    iq_buf h;
    iq_buf_init(&h, IQ_REPORT_ROW_MAX);
    int rc = iq_buf_append_str(&h, "<header><h1>");
    rc = rc ? rc : iq_html_escape(&h, title);
    rc = rc ? rc : iq_buf_append_str(&h, "</h1><p class=\"filters\"><b>");
    rc = rc ? rc : iq_html_escape(&h, iq_msg_get(ctx->lang, IQ_MSG_FILTERS));
    rc = rc ? rc : iq_buf_append_str(&h, ":</b> ");
    rc = rc ? rc : iq_html_escape(&h, filters);
    rc = rc ? rc : iq_buf_append_str(&h, "</p><p class=\"generated\"><b>");
    rc = rc ? rc : iq_html_escape(&h, iq_msg_get(ctx->lang, IQ_MSG_GENERATED));
    rc = rc ? rc : iq_buf_append_str(&h, ":</b> ");
    rc = rc ? rc : iq_html_escape(&h, when);
    rc = rc ? rc
            : iq_buf_appendf(
                  &h, " &middot; %lld %s</p></header>\n", (long long)ctx->count,
                  iq_msg_get(ctx->lang, ctx->count == 1 ? IQ_MSG_ACCOUNT : IQ_MSG_ACCOUNTS));
    st->head = iq_buf_detach(&h, NULL);
    rc = rc ? rc
            : iq_buf_appendf(&st->b,
                             "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta "
                             "charset=\"utf-8\">\n<meta name=\"generator\" content=\"inboxq\">\n"
                             "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
                             "'none'; style-src 'unsafe-inline'\">\n<title>",
                             iq_lang_tag(ctx->lang));
    rc = rc ? rc : iq_html_escape(&st->b, title);
    rc = rc ? rc : iq_buf_appendf(&st->b, "</title>\n<style>%s</style>\n</head>\n<body>\n", css);
    free(filters);
    if (rc < 0)
        return iq_report_fail(ctx, "the HTML header is too large (the name filter?)");
    return 0;
}

static int html_row(iq_report_ctx *ctx, void *state, const iq_report_row *r, int64_t index)
{
    (void)index;
    html_state *st = state;
    if (st->rows > 0 && st->rows % ctx->per_page == 0 && close_page(ctx, st) < 0)
        return -1;
    if (st->rows % ctx->per_page == 0 && open_page(ctx, st) < 0)
        return -1;
    st->rows++;
    char num[32];
    int rc = iq_buf_append_str(&st->b, "<tr>");
    for (int col = 0; rc == 0 && col < IQ_COL__COUNT; col++) {
        rc = iq_buf_append_str(&st->b, iq_report_col_numeric(col) ? "<td class=\"num\">" : "<td>");
        rc = rc ? rc : iq_html_escape(&st->b, iq_report_cell(ctx->lang, r, col, num));
        rc = rc ? rc : iq_buf_append_str(&st->b, "</td>");
    }
    rc = rc ? rc : iq_buf_append_str(&st->b, "</tr>\n");
    if (rc < 0)
        return iq_report_fail(ctx, "account %lld: its HTML row is too large", (long long)r->id);
    /* Keep the buffer small: write out every few rows. */
    if (st->b.len > 65536)
        return flush_buf(ctx, st);
    return 0;
}

static int html_end(iq_report_ctx *ctx, void *state)
{
    html_state *st = state;
    if (st->rows == 0) {
        if (open_page(ctx, st) < 0)
            return -1;
        if (iq_buf_appendf(&st->b, "<tr><td class=\"empty\" colspan=\"%d\">", IQ_COL__COUNT) < 0 ||
            iq_html_escape(&st->b, iq_msg_get(ctx->lang, IQ_MSG_NO_ROWS)) < 0 ||
            iq_buf_append_str(&st->b, "</td></tr>\n") < 0)
            return iq_report_fail(ctx, "writing the HTML failed");
    }
    if (close_page(ctx, st) < 0)
        return -1;
    if (iq_buf_append_str(&st->b, "</body>\n</html>\n") < 0 || flush_buf(ctx, st) < 0)
        return iq_report_fail(ctx, "writing the HTML failed");
    if (fflush(ctx->out) != 0 || ferror(ctx->out))
        return iq_report_fail(ctx, "writing the HTML failed");
    return 0;
}

static void html_free(void *state)
{
    html_state *st = state;
    iq_buf_release(&st->b);
    free(st->head);
    free(st);
}

const iq_report_sink iq_report_sink_html = {html_begin, html_row, html_end, html_free};
