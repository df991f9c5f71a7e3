/* SPDX-License-Identifier: MIT */
/* Per-cell text handling for the report formats: UTF-8 repair, CSV and HTML escaping,
 * LIKE-pattern escaping (exposed so they can be unit tested). Terminal column widths are
 * core's (utf8.h, included here). */
#ifndef IQ_REPORT_ESCAPE_H
#define IQ_REPORT_ESCAPE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "utf8.h"

/* Appends s[0..n) to out, each invalid byte replaced by U+FFFD. 0, or -1 when out is full. */
int iq_utf8_sanitize(iq_buf *out, const char *s, size_t n);
/* Like iq_utf8_sanitize for one-line contexts (terminal, PDF): CR, LF and tab become a space,
 * other control characters become U+FFFD. */
int iq_utf8_one_line(iq_buf *out, const char *s, size_t n);
/* Appends one RFC 4180 CSV cell: invalid UTF-8 repaired; a leading = + - @ tab or CR gets a
 * ' prefix (formula injection, OWASP); quoted when it holds a comma, quote, CR or LF, quotes
 * doubled. 0 or -1 (out full). */
int iq_csv_cell(iq_buf *out, const char *s);
/* The same with another separator (';' for spreadsheets in Portuguese): a cell holding it is
 * quoted too. */
int iq_csv_cell_sep(iq_buf *out, const char *s, char sep);
/* Appends s escaped for HTML text and attribute values (& < > " '), invalid UTF-8 and
 * control characters (other than tab, CR, LF) replaced by U+FFFD. 0 or -1. */
int iq_html_escape(iq_buf *out, const char *s);
/* Returns (malloc'd) s with \ % and _ escaped by a backslash, for LIKE ... ESCAPE '\'. */
char *iq_like_escape(const char *s);

#endif
