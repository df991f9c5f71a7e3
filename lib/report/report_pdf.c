/* SPDX-License-Identifier: MIT */
/* The report as a PDF drawn with cairo: A4 landscape, 30 rows a page, the title, filters,
 * generation time and column header on every page, "Page X of Y" in the footer. Text is laid
 * out by Pango (fontconfig fallback for scripts DejaVu Sans lacks: CJK, emoji; shaping;
 * right-to-left runs), so any name an operator types prints, not as missing-glyph boxes. */
#include <cairo-pdf.h>
#include <cairo.h>
#include <pango/pangocairo.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "report_escape.h"
#include "report_sink.h"

#define PAGE_W 841.89 /* A4 landscape, points */
#define PAGE_H 595.28
#define MARGIN_X 28.0
#define TITLE_Y 42.0
#define META1_Y 57.0
#define META2_Y 68.0
#define TABLE_TOP 78.0
#define FOOTER_Y (PAGE_H - 22.0)
#define TABLE_BOTTOM (PAGE_H - 40.0)
#define PAD 4.0
#define TITLE_SIZE 14.0
#define META_SIZE 8.0
#define HEAD_SIZE 7.5
#define BODY_SIZE 8.0
#define FONT_FAMILY "DejaVu Sans"

typedef struct pdf_state {
    cairo_surface_t *surface;
    cairo_t *cr;
    PangoFontDescription *regular, *bold;
    PangoLayout *layout; /* one layout for every piece of text */
    double col_x[IQ_COL__COUNT + 1];
    char *head1[IQ_COL__COUNT], *head2[IQ_COL__COUNT];
    bool two_lines;
    double head_h, row_h;
    char *filters; /* one-line, sanitised */
    char when[40];
    int64_t rows, page;
    iq_buf text, fit;
} pdf_state;

static cairo_status_t write_out(void *closure, const unsigned char *data, unsigned int len)
{
    FILE *f = closure;
    return fwrite(data, 1, len, f) == len ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

static void use_font(pdf_state *st, PangoFontDescription *face, double size)
{
    pango_font_description_set_absolute_size(face, size * PANGO_SCALE);
    pango_layout_set_font_description(st->layout, face);
}

/* The text's advance in points as Pango lays it out (fallback fonts included). */
static double text_width(pdf_state *st, const char *s)
{
    PangoRectangle logical;
    pango_layout_set_text(st->layout, s, -1);
    pango_layout_get_extents(st->layout, NULL, &logical);
    return (double)logical.width / PANGO_SCALE;
}

static double measure_head(void *arg, const char *s)
{
    pdf_state *st = arg;
    use_font(st, st->bold, HEAD_SIZE);
    return text_width(st, s);
}

/* Leaves in st->fit the longest prefix of s (whole code points) that fits avail points with
 * the current font, followed by "…" when it had to cut, and the layout holding it, its width in
 * *w_r. s must be valid UTF-8. Most cells fit: they are laid out once. */
static int fit_text(pdf_state *st, const char *s, double avail, double *w_r)
{
    iq_buf_reset(&st->fit);
    if ((*w_r = text_width(st, s)) <= avail)
        return iq_buf_append_str(&st->fit, s);
    size_t n = strlen(s);
    size_t *cut = iq_xmalloc(iq_size_mul(iq_size_add(n, 1), sizeof(*cut)));
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = iq_utf8_decode(s + i, n - i, &cp);
        i += len ? len : 1;
        cut[k++] = i; /* prefix lengths that end on a code point boundary */
    }
    /* Largest j such that the first cut[j-1] bytes plus "…" fit (j = 0: the ellipsis alone). */
    size_t lo = 0, hi = k;
    while (lo < hi) {
        size_t mid = (lo + hi + 1) / 2;
        iq_buf_reset(&st->fit);
        if (iq_buf_append(&st->fit, s, cut[mid - 1]) < 0 ||
            iq_buf_append_str(&st->fit, "\xE2\x80\xA6") < 0) {
            free(cut);
            return -1;
        }
        if (text_width(st, st->fit.data) <= avail)
            lo = mid;
        else
            hi = mid - 1;
    }
    iq_buf_reset(&st->fit);
    int rc = iq_buf_append(&st->fit, s, lo ? cut[lo - 1] : 0);
    rc = rc ? rc : iq_buf_append_str(&st->fit, "\xE2\x80\xA6");
    free(cut);
    if (rc == 0)
        *w_r = text_width(st, st->fit.data); /* the layout holds what is drawn */
    return rc;
}

/* Draws text fitted into [x0, x1] at baseline y, right-aligned when right. */
static int draw_text(pdf_state *st, const char *raw, double x0, double x1, double y, bool right)
{
    double w;
    iq_buf_reset(&st->text);
    if (iq_utf8_one_line(&st->text, raw, strlen(raw)) < 0 ||
        fit_text(st, st->text.data, x1 - x0, &w) < 0)
        return -1;
    double x = right ? x1 - w : x0;
    /* y is the baseline; Pango draws from the layout's top */
    double baseline = (double)pango_layout_get_baseline(st->layout) / PANGO_SCALE;
    cairo_move_to(st->cr, x, y - baseline);
    pango_cairo_show_layout(st->cr, st->layout);
    return 0;
}

static int begin_page(iq_report_ctx *ctx, pdf_state *st)
{
    cairo_t *cr = st->cr;
    char page_of[96], meta[160];
    st->page++;
    cairo_set_source_rgb(cr, 0.07, 0.07, 0.07);
    use_font(st, st->bold, TITLE_SIZE);
    if (draw_text(st, iq_msg_get(ctx->lang, IQ_MSG_TITLE), MARGIN_X, PAGE_W - MARGIN_X, TITLE_Y,
                  false) < 0)
        return -1;
    use_font(st, st->regular, META_SIZE);
    iq_buf b;
    iq_buf_init(&b, IQ_REPORT_ROW_MAX);
    int rc = iq_buf_appendf(&b, "%s: %s", iq_msg_get(ctx->lang, IQ_MSG_FILTERS), st->filters);
    rc = rc ? rc : draw_text(st, b.data, MARGIN_X, PAGE_W - MARGIN_X, META1_Y, false);
    iq_buf_release(&b);
    if (rc < 0)
        return -1;
    snprintf(meta, sizeof(meta), "%s: %s  ·  %lld %s", iq_msg_get(ctx->lang, IQ_MSG_GENERATED),
             st->when, (long long)ctx->count,
             iq_msg_get(ctx->lang, ctx->count == 1 ? IQ_MSG_ACCOUNT : IQ_MSG_ACCOUNTS));
    if (draw_text(st, meta, MARGIN_X, PAGE_W - MARGIN_X, META2_Y, false) < 0)
        return -1;

    /* Column header. */
    double x0 = st->col_x[0], x1 = st->col_x[IQ_COL__COUNT];
    cairo_set_source_rgb(cr, 0.86, 0.89, 0.93);
    cairo_rectangle(cr, x0, TABLE_TOP, x1 - x0, st->head_h);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.07, 0.07, 0.07);
    use_font(st, st->bold, HEAD_SIZE);
    for (int col = 0; col < IQ_COL__COUNT; col++) {
        double a = st->col_x[col] + PAD, z = st->col_x[col + 1] - PAD;
        bool right = iq_report_col_numeric(col);
        if (st->two_lines && *st->head2[col]) {
            if (draw_text(st, st->head1[col], a, z, TABLE_TOP + 9.0, right) < 0 ||
                draw_text(st, st->head2[col], a, z, TABLE_TOP + 18.0, right) < 0)
                return -1;
        } else if (draw_text(st, st->head1[col], a, z, TABLE_TOP + st->head_h / 2 + 2.7, right) <
                   0) {
            return -1;
        }
    }
    cairo_set_line_width(cr, 0.6);
    cairo_move_to(cr, x0, TABLE_TOP + st->head_h);
    cairo_line_to(cr, x1, TABLE_TOP + st->head_h);
    cairo_stroke(cr);

    /* Footer. */
    use_font(st, st->regular, META_SIZE);
    iq_i18n_page_of(ctx->lang, st->page, ctx->print_pages, page_of, sizeof(page_of));
    snprintf(meta, sizeof(meta), "inboxq  ·  %s  ·  %s", iq_msg_get(ctx->lang, IQ_MSG_TITLE),
             st->when);
    if (draw_text(st, meta, MARGIN_X, PAGE_W / 2, FOOTER_Y, false) < 0 ||
        draw_text(st, page_of, PAGE_W / 2, PAGE_W - MARGIN_X, FOOTER_Y, true) < 0)
        return -1;
    return 0;
}

static int end_page(iq_report_ctx *ctx, pdf_state *st)
{
    cairo_show_page(st->cr);
    cairo_status_t s = cairo_status(st->cr);
    if (s != CAIRO_STATUS_SUCCESS)
        return iq_report_fail(ctx, "drawing the PDF failed: %s", cairo_status_to_string(s));
    return 0;
}

static int pdf_begin(iq_report_ctx *ctx, void **state_r)
{
    pdf_state *st = iq_xcalloc(1, sizeof(*st));
    *state_r = st;
    iq_buf_init(&st->text, IQ_REPORT_ROW_MAX);
    iq_buf_init(&st->fit, IQ_REPORT_ROW_MAX);
    st->surface = cairo_pdf_surface_create_for_stream(write_out, ctx->out, PAGE_W, PAGE_H);
    st->cr = cairo_create(st->surface);
    if (cairo_status(st->cr) != CAIRO_STATUS_SUCCESS)
        return iq_report_fail(ctx, "cairo could not start the PDF: %s",
                              cairo_status_to_string(cairo_status(st->cr)));
    cairo_pdf_surface_set_metadata(st->surface, CAIRO_PDF_METADATA_TITLE,
                                   iq_msg_get(ctx->lang, IQ_MSG_TITLE));
    cairo_pdf_surface_set_metadata(st->surface, CAIRO_PDF_METADATA_CREATOR, "inboxq");
    st->layout = pango_cairo_create_layout(st->cr);
    st->regular = pango_font_description_from_string(FONT_FAMILY);
    st->bold = pango_font_description_copy(st->regular);
    pango_font_description_set_weight(st->bold, PANGO_WEIGHT_BOLD);
    pango_layout_set_single_paragraph_mode(st->layout, TRUE);
    iq_i18n_time(ctx->lang, ctx->now_ms, st->when, sizeof(st->when));
    char *f = iq_report_filters_describe(
        ctx->filters ? ctx->filters : &(iq_report_filters){NULL, -1, -1, -1, -1, -1},
        iq_lang_tag(ctx->lang));
    iq_buf_reset(&st->text);
    int rc = iq_utf8_one_line(&st->text, f, strlen(f));
    free(f);
    if (rc < 0)
        return iq_report_fail(ctx, "the name filter is too large");
    st->filters = iq_xstrdup(st->text.data);

    /* Column widths: each fixed column as wide as its widest value or header line. */
    static const char *const digits9 = "999999999999999999";
    char num[32];
    snprintf(num, sizeof(num), "%lld", (long long)(ctx->max_id > 0 ? ctx->max_id : 1));
    double width[IQ_COL__COUNT], fixed = 0;
    iq_lang l = ctx->lang;
    for (int col = 0; col < IQ_COL__COUNT; col++) {
        const char *values[4] = {NULL, NULL, NULL, NULL};
        char idw[32];
        switch (col) {
        case IQ_COL_CODE:
            snprintf(idw, sizeof(idw), "%.*s", (int)strlen(num), digits9);
            values[0] = idw;
            break;
        case IQ_COL_SECURE:
        case IQ_COL_AUTO_CHECK:
        case IQ_COL_KEEP_COPY:
        case IQ_COL_ACTIVE:
            values[0] = iq_msg_get(l, IQ_MSG_YES);
            values[1] = iq_msg_get(l, IQ_MSG_NO);
            break;
        case IQ_COL_SECURE_TYPE:
            values[0] = "SSL";
            values[1] = "TLS";
            break;
        case IQ_COL_PROTOCOL:
            values[0] = "IMAP";
            values[1] = "POP3";
            break;
        case IQ_COL_PORT:
            values[0] = "99999";
            break;
        case IQ_COL_LAST_STATUS:
            values[0] = iq_msg_get(l, IQ_MSG_STATUS_OK);
            values[1] = iq_msg_get(l, IQ_MSG_STATUS_FAILED);
            values[2] = iq_msg_get(l, IQ_MSG_STATUS_NEVER);
            break;
        default:
            break;
        }
        double dw = 0;
        use_font(st, st->regular, BODY_SIZE);
        for (int i = 0; values[i]; i++) {
            double w = text_width(st, values[i]);
            dw = w > dw ? w : dw;
        }
        const char *label = iq_report_col_label(l, col);
        double hw = measure_head(st, label);
        size_t split = 0;
        if (col != IQ_COL_NAME && hw > dw)
            split = iq_report_split_label(label, measure_head, st);
        if (split) {
            st->head1[col] = iq_xstrndup(label, split);
            st->head2[col] = iq_xstrdup(label + split + 1);
            st->two_lines = true;
            double w1 = measure_head(st, st->head1[col]), w2 = measure_head(st, st->head2[col]);
            hw = w1 > w2 ? w1 : w2;
        } else {
            st->head1[col] = iq_xstrdup(label);
            st->head2[col] = iq_xstrdup("");
        }
        width[col] = (dw > hw ? dw : hw) + 2 * PAD;
        if (col != IQ_COL_NAME)
            fixed += width[col];
    }
    width[IQ_COL_NAME] = PAGE_W - 2 * MARGIN_X - fixed;
    st->col_x[0] = MARGIN_X;
    for (int col = 0; col < IQ_COL__COUNT; col++)
        st->col_x[col + 1] = st->col_x[col] + width[col];
    st->head_h = st->two_lines ? 23.0 : 15.0;
    st->row_h = (TABLE_BOTTOM - TABLE_TOP - st->head_h) / (double)ctx->per_page;
    if (st->row_h > 14.0)
        st->row_h = 14.0;
    return 0;
}

static int pdf_row(iq_report_ctx *ctx, void *state, const iq_report_row *r, int64_t index)
{
    (void)index;
    pdf_state *st = state;
    int64_t slot = st->rows % ctx->per_page;
    if (st->rows > 0 && slot == 0 && end_page(ctx, st) < 0)
        return -1;
    if (slot == 0 && begin_page(ctx, st) < 0)
        return iq_report_fail(ctx, "drawing the PDF page header failed");
    st->rows++;
    cairo_t *cr = st->cr;
    double top = TABLE_TOP + st->head_h + (double)slot * st->row_h;
    double x0 = st->col_x[0], x1 = st->col_x[IQ_COL__COUNT];
    if (slot % 2 == 1) {
        cairo_set_source_rgb(cr, 0.96, 0.965, 0.975);
        cairo_rectangle(cr, x0, top, x1 - x0, st->row_h);
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
    cairo_set_line_width(cr, 0.3);
    cairo_move_to(cr, x0, top + st->row_h);
    cairo_line_to(cr, x1, top + st->row_h);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.07, 0.07, 0.07);
    use_font(st, st->regular, BODY_SIZE);
    double baseline = top + st->row_h / 2 + BODY_SIZE * 0.36;
    char num[32];
    for (int col = 0; col < IQ_COL__COUNT; col++) {
        if (draw_text(st, iq_report_cell(ctx->lang, r, col, num), st->col_x[col] + PAD,
                      st->col_x[col + 1] - PAD, baseline, iq_report_col_numeric(col)) < 0)
            return iq_report_fail(ctx, "account %lld: its row is too large", (long long)r->id);
    }
    return 0;
}

static int pdf_end(iq_report_ctx *ctx, void *state)
{
    pdf_state *st = state;
    if (st->rows == 0) {
        if (begin_page(ctx, st) < 0)
            return iq_report_fail(ctx, "drawing the PDF page header failed");
        use_font(st, st->regular, BODY_SIZE);
        if (draw_text(st, iq_msg_get(ctx->lang, IQ_MSG_NO_ROWS), MARGIN_X + PAD, PAGE_W - MARGIN_X,
                      TABLE_TOP + st->head_h + 12.0, false) < 0)
            return iq_report_fail(ctx, "drawing the PDF failed");
    }
    if (end_page(ctx, st) < 0)
        return -1;
    g_object_unref(st->layout);
    st->layout = NULL;
    cairo_destroy(st->cr);
    st->cr = NULL;
    cairo_surface_finish(st->surface);
    cairo_status_t s = cairo_surface_status(st->surface);
    if (s != CAIRO_STATUS_SUCCESS)
        return iq_report_fail(ctx, "writing the PDF failed: %s", cairo_status_to_string(s));
    if (fflush(ctx->out) != 0 || ferror(ctx->out))
        return iq_report_fail(ctx, "writing the PDF failed");
    return 0;
}

static void pdf_free(void *state)
{
    pdf_state *st = state;
    if (st->layout)
        g_object_unref(st->layout);
    if (st->cr)
        cairo_destroy(st->cr);
    if (st->surface)
        cairo_surface_destroy(st->surface);
    if (st->regular)
        pango_font_description_free(st->regular);
    if (st->bold)
        pango_font_description_free(st->bold);
    for (int col = 0; col < IQ_COL__COUNT; col++) {
        free(st->head1[col]);
        free(st->head2[col]);
    }
    free(st->filters);
    iq_buf_release(&st->text);
    iq_buf_release(&st->fit);
    free(st);
}

const iq_report_sink iq_report_sink_pdf = {pdf_begin, pdf_row, pdf_end, pdf_free};
