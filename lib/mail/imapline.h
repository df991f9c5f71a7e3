/* SPDX-License-Identifier: MIT */
/* The IMAP line filter: every response line passes through it, whole, before libetpan parses
 * it (the stream driver holds a line until its line feed; literal bodies pass straight by).
 *
 * It exists because libetpan 1.9.4's parser cannot be trusted with what a hostile server sends:
 * - it reads a literal wherever it tries a string, in forms RFC 3501 does not have ("{ 5}",
 *   "{5 }", leading zeros, 20 digits wrapped to 32 bits, no CRLF after the brace) and allocates
 *   the announced size first: the only literal this filter lets through is "{digits}" or
 *   "{digits+}" of at most 10 digits, ending the line, at most max_literal bytes; any other
 *   "{" followed by a digit or '-' outside a quoted string refuses the line;
 * - it parses the greeting and continuation requests without a parser context, and dies
 *   (NULL dereference) on the first string in them, e.g. "* OK [BADCHARSET (x)]", and it frees a
 *   NULL list on a malformed PERMANENTFLAGS, and frees a live list on a second BADCHARSET:
 *   response codes are kept only when their arguments have the shape RFC 3501 gives them
 *   (and, without a parser context, only CAPABILITY and codes without arguments); any other
 *   code is cut out of the line, which then reads as plain text. */
#ifndef IQ_IMAPLINE_H
#define IQ_IMAPLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"

typedef enum {
    IQ_IMAP_LINE_START,         /* a response's first line */
    IQ_IMAP_LINE_GREETING,      /* the connection's first line */
    IQ_IMAP_LINE_AFTER_LITERAL, /* the rest of a response after a literal's body */
} iq_imap_line_kind;

typedef struct iq_imap_line_result {
    uint64_t literal;     /* bytes of the literal the line announces */
    bool literal_follows; /* it announces one (even "{0}"): the next line continues it */
    bool code_cut;        /* a response code was cut out */
    iq_err error_class;
    char error[160]; /* why the line was refused, when it was */
} iq_imap_line_result;

/* Filters one line (with its line feed) and appends what libetpan may see to out. The
 * greeting and continuation requests ("+ ...") are parsed by libetpan without a parser context;
 * status lines ("* OK", "tag NO", ...) end in text, never in a literal, unless they follow a
 * literal (then they are not status lines). Returns 0, or -1 with res->error_class
 * (IQ_ERR_PROTOCOL, IQ_ERR_SIZE_LIMIT) and res->error when the line must not reach libetpan
 * (out is then unchanged). */
int iq_imap_line_filter(const char *line, size_t len, iq_imap_line_kind kind, uint64_t max_literal,
                        iq_buf *out, iq_imap_line_result *res);

#endif
