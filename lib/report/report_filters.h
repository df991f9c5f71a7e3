/* SPDX-License-Identifier: MIT */
/* The accounts report's vocabulary, shared by the renderer, the formats and the programs:
 * formats, filters as options and as text, and the way reports show times. */
#ifndef IQ_REPORT_FILTERS_H
#define IQ_REPORT_FILTERS_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "buf.h"
#include "i18n.h"
#include "messages.h" /* iq_report_filters, its init/release and its JSON form */

typedef enum {
    IQ_REPORT_CSV,
    IQ_REPORT_HTML,
    IQ_REPORT_PDF,
    IQ_REPORT_JSON,
    IQ_REPORT_TABLE,
} iq_report_format;

/* CSV for which reader: RFC 4180 (comma, no byte-order mark), or a spreadsheet in Portuguese
 * (Excel and LibreOffice in pt-BR: UTF-8 byte-order mark, ';' between cells). By default the
 * report's language decides: pt-BR gets excel-pt. */
typedef enum { IQ_CSV_BY_LANG, IQ_CSV_RFC4180, IQ_CSV_EXCEL_PT } iq_csv_dialect;
/* "rfc4180" / "excel-pt" -> dialect. 0 or -1. */
int iq_csv_dialect_parse(const char *s, iq_csv_dialect *d_r);

/* "csv", "html", "pdf", "json", "table" -> format. 0 or -1. */
int iq_report_format_parse(const char *s, iq_report_format *fmt_r);
const char *iq_report_format_name(iq_report_format fmt);
/* "yes"/"no" -> 1/0 (also true/false, on/off, 1/0); "all" -> -1 when allow_all. 0 or -1. */
int iq_report_parse_yes_no(const char *s, int allow_all, int *v_r);

/* "2026-11-28 18:02 UTC" (buf >= 32): iq_i18n_time in English, for the CLI's listings. */
void iq_report_format_time(int64_t ms, char *buf, size_t size);

/* Columns of the terminal on stdout: TIOCGWINSZ, else $COLUMNS, else 100. */
int iq_report_term_width(void);

/* Sets one filter from a command-line option: option is "name", "secure", "auto-check",
 * "keep-copy" or "active" (yes|no|all); value as typed. 0, or -1 with *error_r naming the
 * option and what it takes. */
int iq_report_filters_set(iq_report_filters *f, const char *option, const char *value,
                          char **error_r);
/* The filters as command-line options that reproduce them ("--name 'a b' --secure yes"),
 * shell-quoted; "" when none. malloc'd. */
char *iq_report_filters_args(const iq_report_filters *f);
/* Appends s to b as one shell word (single-quoted when needed). 0 or -1 (b full). */
int iq_report_shell_quote(iq_buf *b, const char *s);
/* One line for humans in lang: "Name: acme; Secure connection: Yes" or "none (all accounts)".
 * malloc'd. */
char *iq_report_filters_describe(const iq_report_filters *f, const char *lang);

/* The i-th yes/no filter (0 secure, 1 auto_check, 2 keep_copy, 3 active): 1, 0, or -1 (all). */
int iq_report_filter_value(const iq_report_filters *f, size_t i);

/* "Yes"/"No" (or "Sim"/"Não") in lang. */
const char *iq_report_yes_no(iq_lang lang, bool v);

#endif
