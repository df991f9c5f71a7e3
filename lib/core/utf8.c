/* SPDX-License-Identifier: MIT */
/* The UTF-8 decoder (RFC 3629) and terminal column widths (utf8proc). */
#include "utf8.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "util.h"

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */
static const char ellipsis[] = "\xE2\x80\xA6";    /* U+2026 */

size_t iq_utf8_decode(const char *s, size_t n, uint32_t *cp_r)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t cp;
    size_t len;
    *cp_r = 0xFFFD;
    if (n == 0)
        return 0;
    if (p[0] < 0x80) {
        *cp_r = p[0];
        return 1;
    } else if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        cp = p[0] & 0x1Fu;
        len = 2;
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        cp = p[0] & 0x0Fu;
        len = 3;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        cp = p[0] & 0x07u;
        len = 4;
    } else {
        return 0; /* continuation byte, overlong lead (C0/C1) or beyond U+10FFFF */
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    *cp_r = cp;
    return len;
}

int iq_utf8_cp_width(uint32_t cp)
{
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0))
        return 1; /* utf8proc says 0; our tables show a control character as one cell */
    int w = utf8proc_charwidth((utf8proc_int32_t)cp);
    return w < 0 ? 0 : w;
}

size_t iq_utf8_width(const char *s)
{
    size_t n = strlen(s), i = 0, w = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = iq_utf8_decode(s + i, n - i, &cp);
        w += (size_t)iq_utf8_cp_width(cp);
        i += len ? len : 1;
    }
    return w;
}

int iq_utf8_fit(iq_buf *out, const char *s, size_t width, int pad)
{
    size_t n = strlen(s);
    size_t total = iq_utf8_width(s);
    size_t limit = total > width ? (width > 0 ? width - 1 : 0) : width;
    size_t i = 0, w = 0;
    if (iq_buf_append(out, "", 0) < 0)
        return -1;
    while (i < n) {
        uint32_t cp;
        size_t len = iq_utf8_decode(s + i, n - i, &cp);
        size_t cw = (size_t)iq_utf8_cp_width(cp);
        if (w + cw > limit)
            break;
        if (iq_buf_append(out, len ? s + i : replacement, len ? len : 3) < 0)
            return -1;
        w += cw;
        i += len ? len : 1;
    }
    if (total > width && width > 0) {
        if (iq_buf_append(out, ellipsis, 3) < 0)
            return -1;
        w++;
    }
    while (pad && w < width) {
        if (iq_buf_append_char(out, ' ') < 0)
            return -1;
        w++;
    }
    return 0;
}

uint32_t iq_utf8_first_invisible(const char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = iq_utf8_decode(s + i, n - i, &cp);
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
        if (len && (cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_ZL ||
                    cat == UTF8PROC_CATEGORY_ZP))
            return cp;
        i += len ? len : 1;
    }
    return 0;
}

char *iq_utf8_nfc(const char *s)
{
    utf8proc_uint8_t *out = utf8proc_NFC((const utf8proc_uint8_t *)s);
    if (!out)
        return iq_xstrdup(s);
    char *copy = iq_xstrdup((const char *)out);
    free(out);
    return copy;
}
