/* SPDX-License-Identifier: MIT */
/* sysexits-style exit codes used by every program: the programs, not the library, decide how
 * an error class ends a process. */
#ifndef IQ_EXITCODE_H
#define IQ_EXITCODE_H

#include <sysexits.h>

#include "error.h"

/* A check that ran and failed (the server said no, a timeout...): not a usage problem. */
#define IQ_EXIT_CHECK_FAILED 1

/* The sysexits code for an operation's outcome (0 for IQ_OK): EX_DATAERR for bad input, a
 * referenced or corrupt object; EX_NOINPUT for no such object; EX_TEMPFAIL for a stale edit;
 * EX_CONFIG for a missing key or schema; EX_UNAVAILABLE when PostgreSQL is gone; else
 * EX_SOFTWARE. */
int iq_exit_code(iq_err e);
/* The sysexits code for this thread's last failed query (for functions that return -1):
 * EX_CONFIG when the schema is missing, EX_UNAVAILABLE when the server is unreachable,
 * else EX_SOFTWARE. */
int iq_exit_code_last_db(void);

#endif
