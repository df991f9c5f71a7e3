/* SPDX-License-Identifier: MIT */
/* Plain text tables on the terminal: columns two spaces apart, each as wide as its widest
 * cell in terminal columns (iq_utf8_width: wide CJK and emoji count two), the last one not
 * padded. */
#ifndef IQ_PRODUCER_TABLE_H
#define IQ_PRODUCER_TABLE_H

#include <stddef.h>
#include <stdio.h>

/* Prints nrows rows of ncols cells (row by row, the header row first) on out. */
void iq_table_fprint(FILE *out, const char *const *cells, size_t nrows, size_t ncols);
/* The same on stdout. */
void iq_table_print(const char *const *cells, size_t nrows, size_t ncols);

#endif
