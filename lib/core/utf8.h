/* SPDX-License-Identifier: MIT */
/* UTF-8 decoding (RFC 3629: shortest form only, no surrogates, at most U+10FFFF): the one
 * decoder behind header repair, report escaping and the Kafka messages' text checks. */
#ifndef IQ_UTF8_H
#define IQ_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length (1..4) of the valid sequence at s with *cp_r set, or 0 (then *cp_r is U+FFFD). */
size_t iq_utf8_decode(const char *s, size_t n, uint32_t *cp_r);

#endif
