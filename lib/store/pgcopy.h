/* SPDX-License-Identifier: MIT */
/* Rows in PostgreSQL's binary COPY format (PGCOPY): the cheapest way to hand a batch of rows to
 * the server, with no text escaping of bytea and no per-row statement. A writer encodes into a
 * small buffer and passes it to PQputCopyData as it fills; without a connection it only
 * encodes (for tests). */
#ifndef IQ_PGCOPY_H
#define IQ_PGCOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "pg.h"

typedef struct iq_pgcopy {
    PGconn *pg;  /* NULL: encode into buf only */
    iq_buf buf;  /* encoded, not yet sent */
    bool failed; /* a send failed: the COPY must be ended with an error */
    char *error; /* what failed, once failed */
} iq_pgcopy;

/* Starts `COPY ... FROM STDIN WITH (FORMAT binary)` (sql is the statement) and writes the
 * header; with pg NULL only the header is encoded. 0, or -1 with *error_r. */
int iq_pgcopy_begin(iq_pgcopy *w, PGconn *pg, const char *sql, char **error_r);

/* Fields of one row: start it with its field count, then exactly that many fields. */
void iq_pgcopy_row(iq_pgcopy *w, int nfields);
void iq_pgcopy_null(iq_pgcopy *w);
void iq_pgcopy_i64(iq_pgcopy *w, int64_t v);
/* text (NULL pointer: SQL NULL) and bytea; large values go to the connection uncopied */
void iq_pgcopy_text(iq_pgcopy *w, const char *s);
void iq_pgcopy_bytes(iq_pgcopy *w, const void *p, size_t n);
/* timestamptz from milliseconds since the Unix epoch */
void iq_pgcopy_timestamptz_ms(iq_pgcopy *w, int64_t unix_ms);
/* uuid from its 36-character text form; -1 (and nothing written) when malformed */
int iq_pgcopy_uuid(iq_pgcopy *w, const char *text);

/* Writes the trailer and ends the COPY; returns the rows copied, or -1 with *error_r (and the
 * SQLSTATE in *sqlstate_r when the server refused the data, "" otherwise). With pg NULL the
 * trailer is encoded and 0 returned. */
int64_t iq_pgcopy_end(iq_pgcopy *w, char sqlstate_r[6], char **error_r);
/* Abandons a COPY in progress (the server discards it) and frees the writer. */
void iq_pgcopy_abort(iq_pgcopy *w);

#endif
