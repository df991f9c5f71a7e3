/* SPDX-License-Identifier: MIT */
/* Plain text tables on the terminal (see table.h). */
#include "table.h"

#include <stdio.h>
#include <stdlib.h>

#include "util.h"

size_t iq_text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

void iq_table_print(const char *const *cells, size_t nrows, size_t ncols)
{
    size_t *w = iq_xcalloc(ncols, sizeof(*w));
    for (size_t i = 0; i < nrows; i++) {
        for (size_t j = 0; j < ncols; j++) {
            size_t tw = iq_text_width(cells[i * ncols + j]);
            if (tw > w[j])
                w[j] = tw;
        }
    }
    for (size_t i = 0; i < nrows; i++) {
        for (size_t j = 0; j < ncols; j++) {
            const char *s = cells[i * ncols + j];
            fputs(s, stdout);
            if (j + 1 < ncols)
                for (size_t k = iq_text_width(s); k < w[j] + 2; k++)
                    fputc(' ', stdout);
        }
        fputc('\n', stdout);
    }
    free(w);
}
