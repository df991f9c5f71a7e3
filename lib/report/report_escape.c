/* SPDX-License-Identifier: MIT */
/* UTF-8 repair, CSV (RFC 4180 + formula neutralisation) and HTML escaping. */
#include "report_escape.h"

#include <stdbool.h>
#include <string.h>

#include "util.h"

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Walks s, calling emit for each code point with its bytes (the replacement for bad ones). */
typedef int emit_fn(iq_buf *out, uint32_t cp, const char *bytes, size_t len);

static int walk(iq_buf *out, const char *s, size_t n, emit_fn *emit)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = iq_utf8_decode(s + i, n - i, &cp);
        int rc = len ? emit(out, cp, s + i, len) : emit(out, 0xFFFD, replacement, 3);
        if (rc < 0)
            return -1;
        i += len ? len : 1;
    }
    return 0;
}

static int emit_plain(iq_buf *out, uint32_t cp, const char *bytes, size_t len)
{
    (void)cp;
    return iq_buf_append(out, bytes, len);
}

int iq_utf8_sanitize(iq_buf *out, const char *s, size_t n)
{
    if (iq_buf_append(out, "", 0) < 0) /* makes out->data non-NULL even for "" */
        return -1;
    return walk(out, s, n, emit_plain);
}

static bool is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp < 0xA0);
}

static int emit_one_line(iq_buf *out, uint32_t cp, const char *bytes, size_t len)
{
    if (cp == '\r' || cp == '\n' || cp == '\t')
        return iq_buf_append_char(out, ' ');
    if (is_control(cp))
        return iq_buf_append(out, replacement, 3);
    return iq_buf_append(out, bytes, len);
}

int iq_utf8_one_line(iq_buf *out, const char *s, size_t n)
{
    if (iq_buf_append(out, "", 0) < 0)
        return -1;
    return walk(out, s, n, emit_one_line);
}

int iq_csv_cell(iq_buf *out, const char *s)
{
    return iq_csv_cell_sep(out, s, ',');
}

int iq_csv_cell_sep(iq_buf *out, const char *s, char sep)
{
    iq_buf clean;
    int rc = -1;
    iq_buf_init(&clean, out->max);
    if (iq_buf_append(out, "", 0) < 0 || iq_utf8_sanitize(&clean, s, strlen(s)) < 0)
        goto out;
    const char *c = clean.data;
    bool formula = c[0] != '\0' && strchr("=+-@\t\r", c[0]) != NULL;
    bool quote = strpbrk(c, "\"\r\n") != NULL || strchr(c, sep) != NULL;
    if (quote && iq_buf_append_char(out, '"') < 0)
        goto out;
    if (formula && iq_buf_append_char(out, '\'') < 0)
        goto out;
    for (const char *p = c; *p; p++) {
        if (*p == '"' && iq_buf_append_char(out, '"') < 0)
            goto out;
        if (iq_buf_append_char(out, *p) < 0)
            goto out;
    }
    if (quote && iq_buf_append_char(out, '"') < 0)
        goto out;
    rc = 0;
out:
    iq_buf_release(&clean);
    return rc;
}

static int emit_html(iq_buf *out, uint32_t cp, const char *bytes, size_t len)
{
    switch (cp) {
    case '&':
        return iq_buf_append_str(out, "&amp;");
    case '<':
        return iq_buf_append_str(out, "&lt;");
    case '>':
        return iq_buf_append_str(out, "&gt;");
    case '"':
        return iq_buf_append_str(out, "&quot;");
    case '\'':
        return iq_buf_append_str(out, "&#39;");
    case '\t':
    case '\r':
    case '\n':
        return iq_buf_append(out, bytes, len);
    default:
        if (is_control(cp))
            return iq_buf_append(out, replacement, 3);
        return iq_buf_append(out, bytes, len);
    }
}

int iq_html_escape(iq_buf *out, const char *s)
{
    if (iq_buf_append(out, "", 0) < 0)
        return -1;
    return walk(out, s, strlen(s), emit_html);
}

char *iq_like_escape(const char *s)
{
    size_t n = strlen(s);
    char *r = iq_xmalloc(iq_size_add(iq_size_mul(n, 2), 1));
    char *w = r;
    for (const char *p = s; *p; p++) {
        if (*p == '\\' || *p == '%' || *p == '_')
            *w++ = '\\';
        *w++ = *p;
    }
    *w = '\0';
    return r;
}
