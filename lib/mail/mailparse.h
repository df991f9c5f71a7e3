/* SPDX-License-Identifier: MIT */
/* The header fields we index (From, To, Subject, Date, Message-ID) from a raw RFC 5322 message,
 * parsed with libetpan's mailimf and decoded from RFC 2047 encoded words to clean UTF-8. */
#ifndef IQ_MAILPARSE_H
#define IQ_MAILPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Only the first IQ_MAIL_HEADER_MAX bytes of a message are searched for the header block. */
#define IQ_MAIL_HEADER_MAX (256 * 1024)
/* Output caps in bytes (without the NUL); strings are cut on a character boundary. */
#define IQ_MAIL_SUBJECT_MAX 998
#define IQ_MAIL_FROM_MAX 1024
#define IQ_MAIL_TO_MAX 4096
#define IQ_MAIL_MESSAGE_ID_MAX 998

typedef struct iq_msg_headers {
    char *message_id; /* without angle brackets */
    char *from;       /* "Display Name <addr>" or "addr" (first mailbox) */
    char *to;         /* addresses joined by ", ", groups flattened; whole addresses only */
    char *subject;    /* RFC 2047 decoded */
    int64_t date_ms;  /* Date as milliseconds since the epoch, UTC (zone offset applied) */
    bool has_date;
} iq_msg_headers;

/* Fills *h_r from the header block of raw[0..len) (it need not be NUL-terminated). Every string
 * is malloc'd, valid UTF-8 (bad bytes become U+FFFD), free of control characters other than
 * tab, trimmed, and within its cap; a missing, empty or unparsable field is NULL (has_date
 * false). Never fails: garbage in gives NULLs out. Release with iq_msg_headers_release(). */
void iq_mail_parse_headers(const char *raw, size_t len, iq_msg_headers *h_r);
/* Frees the strings and zeroes *h; NULL is fine. */
void iq_msg_headers_release(iq_msg_headers *h);

/* Returns a malloc'd, NUL-terminated copy of s[0..len) as valid UTF-8: each byte that is not
 * part of a valid shortest-form sequence becomes U+FFFD, CR and LF become a space, other
 * control characters (C0 except tab, DEL, C1) become U+FFFD. At most max bytes are kept, cut
 * on a character boundary. s may be NULL when len is 0. Never returns NULL. */
char *iq_utf8_sanitize_dup(const char *s, size_t len, size_t max);

#endif
