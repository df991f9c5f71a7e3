/* SPDX-License-Identifier: MIT */
/* A growable byte buffer with a hard size cap (every buffer fed by the network has one). */
#ifndef IQ_BUF_H
#define IQ_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "util.h"

typedef struct iq_buf {
    char *data; /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max; /* hard limit on len; appends beyond it fail */
} iq_buf;

void iq_buf_init(iq_buf *b, size_t max);
void iq_buf_release(iq_buf *b);
void iq_buf_reset(iq_buf *b);
/* Each append returns 0, or -1 when the cap would be exceeded (the buffer is unchanged). The
 * result must be checked: ignoring a full buffer silently truncates. Where an append cannot
 * fail (the cap is known to fit), IQ_IGNORE_RESULT says so. */
IQ_MUST_CHECK int iq_buf_append(iq_buf *b, const void *data, size_t n);
IQ_MUST_CHECK int iq_buf_append_str(iq_buf *b, const char *s);
IQ_MUST_CHECK int iq_buf_append_char(iq_buf *b, char c);
IQ_MUST_CHECK int iq_buf_appendf(iq_buf *b, const char *fmt, ...) IQ_PRINTF(2, 3);
IQ_MUST_CHECK int iq_buf_vappendf(iq_buf *b, const char *fmt, va_list ap) IQ_PRINTF(2, 0);
/* Removes the first n bytes. */
void iq_buf_consume(iq_buf *b, size_t n);
/* Hands the data to the caller (who frees it) and resets the buffer. */
char *iq_buf_detach(iq_buf *b, size_t *len_r);

#endif
