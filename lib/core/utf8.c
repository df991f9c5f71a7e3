/* SPDX-License-Identifier: MIT */
/* The UTF-8 decoder (RFC 3629). */
#include "utf8.h"

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
