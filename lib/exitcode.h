/* SPDX-License-Identifier: MIT */
/* sysexits-style exit codes used by every program. */
#ifndef IQ_EXITCODE_H
#define IQ_EXITCODE_H

#include <sysexits.h>

/* A check that ran and failed (the server said no, a timeout...): not a usage problem. */
#define IQ_EXIT_CHECK_FAILED 1

#endif
