/* SPDX-License-Identifier: MIT */
/* From error classes to exit codes. */
#include "exitcode.h"

#include <string.h>

#include "pg.h"

int iq_exit_code(iq_err e)
{
    switch (e) {
    case IQ_OK:
        return 0;
    case IQ_ERR_INVALID:
    case IQ_ERR_IN_USE:
    case IQ_ERR_CORRUPT:
        return EX_DATAERR;
    case IQ_ERR_NOT_FOUND:
        return EX_NOINPUT;
    case IQ_ERR_STALE:
        return EX_TEMPFAIL;
    case IQ_ERR_KEY:
    case IQ_ERR_SCHEMA:
    case IQ_ERR_CONFIG:
        return EX_CONFIG;
    case IQ_ERR_UNAVAILABLE:
        return EX_UNAVAILABLE;
    default:
        return EX_SOFTWARE;
    }
}

int iq_exit_code_last_db(void)
{
    const char *state = iq_pg_last_sqlstate();
    if (!*state || strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
        return EX_UNAVAILABLE;
    if (strcmp(state, "42P01") == 0 || strcmp(state, "42703") == 0)
        return EX_CONFIG;
    return EX_SOFTWARE;
}
