/* SPDX-License-Identifier: MIT */
/* The POP3 replies a check reads (RFC 1939, RFC 2449), parsed from bytes: status lines, the
 * APOP timestamp of the greeting, multi-line bodies (dot-unstuffing, the lone dot that ends
 * them), UIDL and LIST listings. Pure functions over memory: pop3.c feeds them what the stream
 * holds, and tests feed them anything.
 *
 * Every rule that keeps a hostile maildrop from losing or duplicating mail lives here: a listing
 * line that is not "N UIDL" with N in 1..IQ_POP3_MAX_LISTED and a UIDL of 1..70 characters in
 * 0x21..0x7E refuses the whole listing (never a reason to stop reading it: the messages after
 * it would never be fetched), as does a message listed twice or two messages under one UIDL. */
#ifndef IQ_POP3REPLY_H
#define IQ_POP3REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define IQ_POP3_MAX_LISTED 1000000 /* messages a maildrop may list */

/* A status line: 1 for "+OK...", 0 for "-ERR...", -1 for anything else. */
int iq_pop3_status(const char *line);

/* Copies the greeting's APOP timestamp ("<...@...>") into out (NUL-terminated); false, out
 * left "", when there is none or it does not fit in outsz. */
bool iq_pop3_apop_timestamp(const char *greeting, char *out, size_t outsz);

/* Hands a piece of a multi-line body, line ends included, to its reader; < 0 stops the read. */
typedef int (*iq_pop3_sink)(void *ctx, const char *data, size_t len);

/* A multi-line body being read: where the reader stands and how much it has handed on. */
typedef struct iq_pop3_body {
    int state;      /* at a line start, after a dot there, after ".\r" there, inside a line */
    uint64_t total; /* bytes handed on (before the sink) so far */
    uint64_t max;   /* more than this is IQ_ERR_SIZE_LIMIT */
} iq_pop3_body;

void iq_pop3_body_init(iq_pop3_body *b, uint64_t max);

/* Reads data[0, n) into b, undoing dot-stuffing and handing the bytes on to sink (when not
 * NULL) in pieces of any size. Sets *used_r to the bytes consumed: all of them unless the body
 * ended inside data, when what follows the lone dot (a pipelined reply) is left unconsumed.
 * Returns 1 when the body ended, 0 when it needs more data, IQ_ERR_SIZE_LIMIT past b->max
 * (nothing of the excess handed on), or -1 when sink refused. */
int iq_pop3_body_feed(iq_pop3_body *b, const char *data, size_t n, size_t *used_r,
                      iq_pop3_sink sink, void *ctx);

/* One message of a listing. */
typedef struct iq_pop3_entry {
    unsigned num;
    uint64_t size; /* from LIST, 0 until then */
    char *uidl;    /* owned */
} iq_pop3_entry;

void iq_pop3_entries_free(iq_pop3_entry *e, size_t n);

/* Parses a UIDL body (len bytes, modified in place, and a NUL after them as iq_buf keeps) into
 * entries sorted by message number and checked as the header says. Every 4,096 lines it gives up
 * with IQ_ERR_TIMEOUT past deadline_ms (monotonic; 0: none). Returns 0 with *e_r (owned; NULL when
 * empty) and *n_r, or an error class with *err_r (owned) saying what the server did. */
int iq_pop3_parse_uidl(char *body, size_t len, int64_t deadline_ms, iq_pop3_entry **e_r,
                       size_t *n_r, char **err_r);

/* Parses a LIST body (modified in place, a NUL after it) into the sizes of e (sorted by number, as
 * iq_pop3_parse_uidl leaves it); lines that do not parse or name no listed message are
 * ignored (sizes only decide what is skipped or streamed). IQ_ERR_TIMEOUT past deadline_ms,
 * with *err_r (owned). */
int iq_pop3_parse_list(char *body, size_t len, int64_t deadline_ms, iq_pop3_entry *e, size_t n,
                       char **err_r);

#endif
