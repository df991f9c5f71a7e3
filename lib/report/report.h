/* SPDX-License-Identifier: MIT */
/* The accounts report (spec.md section 1): filters, and rendering as CSV, print-ready HTML,
 * PDF, JSON or a terminal table, streamed from a server-side cursor. */
#ifndef IQ_REPORT_H
#define IQ_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "pg.h"
#include "report_filters.h"

typedef struct iq_report_stats {
    int64_t rows;    /* rows written */
    int64_t pages;   /* pages of per_page rows among all matching accounts, at least 1: the
                      * printed pages of an unpaged HTML/PDF, the last page number when paging */
    int64_t total;   /* accounts matching the filters */
    int64_t last_id; /* the code of the last row written (0: none): the next page's cursor */
} iq_report_stats;

/* Everything iq_report_render takes, plus paging and layout knobs for the CLI and tests. */
typedef struct iq_report_options {
    iq_report_format format;
    const char *lang; /* "en" (default, NULL) or "pt-BR" */
    int64_t page;     /* 1-based page of per_page rows; 0 = every row */
    int64_t per_page; /* rows per page (and per printed page); 0 = 30 */
    int width;        /* table: columns to fit; 0 = the terminal's (see iq_report_term_width) */
    int64_t now_ms;   /* generation time shown in HTML/PDF; 0 = now */
    iq_csv_dialect csv_dialect; /* CSV: IQ_CSV_BY_LANG (0) follows lang */
    int64_t after_id; /* keyset paging: per_page rows with a code above this (page must be 0
                       * or 1); total still counts every match */
} iq_report_options;

#define IQ_REPORT_ROWS_PER_PAGE 30
#define IQ_REPORT_MAX_PER_PAGE 10000

/* Renders the report of the accounts matching f (NULL: all) to out, ordered by code, in lang
 * ("en"/NULL or "pt-BR"). Returns 0, or -1 with *error_r (one line). stats_r may be NULL.
 * Reads in one REPEATABLE READ, READ ONLY transaction of its own (or inside the caller's, when
 * one is open on c) through a server-side cursor, 1000 rows per FETCH, so memory stays flat
 * however many accounts match. HTML and PDF count the rows first for "page X of Y". */
int iq_report_render(PGconn *c, const iq_report_filters *f, iq_report_format fmt, const char *lang,
                     FILE *out, iq_report_stats *stats_r, char **error_r);
/* The same with paging and layout options. */
int iq_report_render_opts(PGconn *c, const iq_report_filters *f, const iq_report_options *o,
                          FILE *out, iq_report_stats *stats_r, char **error_r);

/* The same, one batch at a time, for a caller that sends the report as it is produced (the
 * console's CSV export): open writes the beginning (the CSV header) to out; each next writes
 * up to 1000 more rows to out (which may differ between calls) and returns 1 while more
 * follow, 0 when the end is written and the transaction committed (stats_r filled), or -1 with
 * *error_r. f must stay valid until the stream is freed; c is the stream's until then.
 * Freeing an unfinished stream rolls its transaction back. */
typedef struct iq_report_stream iq_report_stream;
int iq_report_stream_open(PGconn *c, const iq_report_filters *f, const iq_report_options *o,
                          FILE *out, iq_report_stream **s_r, char **error_r);
int iq_report_stream_next(iq_report_stream *s, FILE *out, iq_report_stats *stats_r, char **error_r);
void iq_report_stream_free(iq_report_stream **s);

#endif
