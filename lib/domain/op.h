/* SPDX-License-Identifier: MIT */
/* An operation's status: a failed statement as an error class with a message. */
#ifndef IQ_OP_H
#define IQ_OP_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "pg.h"

/* Classifies a failed iq_pg_query/iq_pg_exec (pg_error is its message, taken over and freed):
 * sets *error_r to "what: message" plus advice, returns the class (IQ_ERR_UNAVAILABLE,
 * IQ_ERR_SCHEMA, IQ_ERR_STALE or IQ_ERR_FAILED). */
iq_err iq_op_db_error(PGconn *c, const char *what, char *pg_error, char **error_r);

#endif
