/* SPDX-License-Identifier: MIT */
/* Plain text tables on the terminal (see table.h). */
#include "table.h"

#include <stdlib.h>

#include "utf8.h"
#include "util.h"

void iq_table_fprint(FILE *out, const char *const *cells, size_t nrows, size_t ncols)
{
    size_t *w = iq_xcalloc(ncols, sizeof(*w));
    for (size_t i = 0; i < nrows; i++) {
        for (size_t j = 0; j < ncols; j++) {
            size_t tw = iq_utf8_width(cells[i * ncols + j]);
            if (tw > w[j])
                w[j] = tw;
        }
    }
    for (size_t i = 0; i < nrows; i++) {
        for (size_t j = 0; j < ncols; j++) {
            const char *s = cells[i * ncols + j];
            fputs(s, out);
            if (j + 1 < ncols)
                for (size_t k = iq_utf8_width(s); k < w[j] + 2; k++)
                    fputc(' ', out);
        }
        fputc('\n', out);
    }
    free(w);
}

void iq_table_print(const char *const *cells, size_t nrows, size_t ncols)
{
    iq_table_fprint(stdout, cells, nrows, ncols);
}
