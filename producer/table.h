/* SPDX-License-Identifier: MIT */
/* Plain text tables on the terminal: columns two spaces apart, each as wide as its widest
 * cell, the last one not padded. */
#ifndef IQ_PRODUCER_TABLE_H
#define IQ_PRODUCER_TABLE_H

#include <stddef.h>

/* Display width of UTF-8 text, counted in code points. */
size_t iq_text_width(const char *s);
/* Prints nrows rows of ncols cells (row by row, the header row first) on stdout. */
void iq_table_print(const char *const *cells, size_t nrows, size_t ncols);

#endif
