/* SPDX-License-Identifier: MIT */
/* UTF-8 decoding (RFC 3629: shortest form only, no surrogates, at most U+10FFFF): the one
 * decoder behind header repair, report escaping and the Kafka messages' text checks; and the
 * one measure of terminal columns (Unicode East Asian Width through utf8proc) behind every
 * text table: the CLI's, the report's and account list's. */
#ifndef IQ_UTF8_H
#define IQ_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Length (1..4) of the valid sequence at s with *cp_r set, or 0 (then *cp_r is U+FFFD). */
size_t iq_utf8_decode(const char *s, size_t n, uint32_t *cp_r);

/* Columns a code point takes on a terminal, from utf8proc's Unicode tables: 2 for wide and
 * fullwidth (CJK, Hangul, most emoji), 0 for combining marks and zero-width format characters,
 * 1 otherwise. Control characters count 1: the tables show them as one cell (a space or
 * U+FFFD). */
int iq_utf8_cp_width(uint32_t cp);
/* Columns a string takes (invalid bytes count as one column each, as U+FFFD). */
size_t iq_utf8_width(const char *s);
/* Appends the longest prefix of s (whole code points only) that fits in width columns; when s
 * is wider, the prefix fits width - 1 columns and "…" follows. Pads with spaces to exactly
 * width columns when pad is non-zero. 0 or -1 (out full). */
int iq_utf8_fit(iq_buf *out, const char *s, size_t width, int pad);

/* The first invisible or text-direction control character of s (Unicode general category Cf:
 * bidi embeddings, overrides and isolates U+202A..U+202E and U+2066..U+2069, the marks U+200E,
 * U+200F and U+061C, zero-width characters U+200B..U+200D, U+2060, U+FEFF, soft hyphen...), or
 * the line and paragraph separators U+2028 and U+2029; 0 when there is none. s is valid
 * UTF-8. */
uint32_t iq_utf8_first_invisible(const char *s);
/* s in Unicode Normalization Form C (composed: "e" + U+0301 becomes U+00E9), malloc'd; a copy
 * of s when utf8proc cannot normalise it. s is valid UTF-8. */
char *iq_utf8_nfc(const char *s);

#endif
