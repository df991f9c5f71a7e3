/* SPDX-License-Identifier: MIT */
/* Inside the report module: the row model, the shared render context and the format sinks. */
#ifndef IQ_REPORT_SINK_H
#define IQ_REPORT_SINK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "i18n.h"
#include "report_filters.h"

/* One account as the report shows it; strings point into the current result batch. */
typedef struct iq_report_row {
    int64_t id;
    const char *name;
    bool secure;
    const char *secure_type; /* "ssl" / "tls" / NULL */
    const char *protocol;    /* "imap" / "pop3" */
    int port;
    bool auto_check;
    bool keep_copy;
    bool active;
    const char *last_status; /* "ok" / "failed" / NULL (never checked) */
    const char *push;        /* "auto" / "idle" / "off" */
} iq_report_row;

/* The seed's columns in the seed's order, plus the last check status. */
enum {
    IQ_COL_CODE,
    IQ_COL_NAME,
    IQ_COL_SECURE,
    IQ_COL_SECURE_TYPE,
    IQ_COL_PROTOCOL,
    IQ_COL_PORT,
    IQ_COL_AUTO_CHECK,
    IQ_COL_KEEP_COPY,
    IQ_COL_ACTIVE,
    IQ_COL_LAST_STATUS,
    IQ_COL__COUNT
};

typedef struct iq_report_ctx {
    const iq_report_filters *filters;
    iq_lang lang;
    FILE *out;
    int64_t total;       /* accounts matching the filters */
    int64_t count;       /* rows this output holds (one page, or all) */
    int64_t per_page;    /* rows per (printed) page */
    int64_t print_pages; /* printed pages this output holds: max(1, ceil(count / per_page)) */
    int64_t max_id;      /* largest code among the rows shown (table layout) */
    int64_t max_name;    /* widest name in terminal columns among the rows shown (table) */
    int width;           /* table: terminal columns */
    int64_t now_ms;      /* generation time */
    bool csv_excel_pt;   /* CSV: byte-order mark and ';' (iq_csv_dialect) */
    char *error;         /* set by a sink that fails */
} iq_report_ctx;

typedef struct iq_report_sink {
    /* Each returns 0, or -1 after setting ctx->error. */
    int (*begin)(iq_report_ctx *ctx, void **state_r);
    int (*row)(iq_report_ctx *ctx, void *state, const iq_report_row *r, int64_t index);
    int (*end)(iq_report_ctx *ctx, void *state);
    void (*free)(void *state);
} iq_report_sink;

extern const iq_report_sink iq_report_sink_csv;
extern const iq_report_sink iq_report_sink_html;
extern const iq_report_sink iq_report_sink_pdf;
extern const iq_report_sink iq_report_sink_json;
extern const iq_report_sink iq_report_sink_table;

/* Column header in the context's language. */
const char *iq_report_col_label(iq_lang lang, int col);
/* The text of one cell, localised (Yes/Sim, SSL, IMAP, OK/Falhou...). numbuf holds numbers. */
const char *iq_report_cell(iq_lang lang, const iq_report_row *r, int col, char numbuf[32]);
/* Whether a column holds numbers (right-aligned). */
bool iq_report_col_numeric(int col);
/* Sets ctx->error from a printf format (only the first error is kept). Returns -1. */
int iq_report_fail(iq_report_ctx *ctx, const char *fmt, ...) IQ_PRINTF(2, 3);
/* Splits label at the space that best halves its width (measure gives a width); returns the
 * byte offset of that space, or 0 when it has none. */
size_t iq_report_split_label(const char *label, double (*measure)(void *arg, const char *s),
                             void *arg);

/* Caps for one row's text and for one cell (hostile names are large, not unbounded). */
#define IQ_REPORT_ROW_MAX ((size_t)64 << 20)

#endif
