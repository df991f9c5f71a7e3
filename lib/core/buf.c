/* SPDX-License-Identifier: MIT */
/* Growable buffer with a hard cap. */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void iq_buf_init(iq_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void iq_buf_release(iq_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void iq_buf_reset(iq_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int reserve(iq_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return -1;
    size_t need = iq_size_add(iq_size_add(b->len, extra), 1);
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = iq_size_mul(cap, 2);
    if (b->max < SIZE_MAX && cap > b->max + 1) /* SIZE_MAX: no limit but memory */
        cap = b->max + 1;
    b->data = iq_xrealloc(b->data, cap);
    b->cap = cap;
    return 0;
}

int iq_buf_append(iq_buf *b, const void *data, size_t n)
{
    if (reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int iq_buf_append_str(iq_buf *b, const char *s)
{
    return iq_buf_append(b, s, strlen(s));
}

int iq_buf_append_char(iq_buf *b, char c)
{
    return iq_buf_append(b, &c, 1);
}

int iq_buf_vappendf(iq_buf *b, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0 || reserve(b, (size_t)n) < 0)
        return -1;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int iq_buf_appendf(iq_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = iq_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void iq_buf_consume(iq_buf *b, size_t n)
{
    if (n >= b->len) {
        iq_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *iq_buf_detach(iq_buf *b, size_t *len_r)
{
    char *p = b->data ? b->data : iq_xstrdup("");
    if (len_r)
        *len_r = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
