/* SPDX-License-Identifier: MIT */
/* An operation's status: how a failed statement becomes an error class and a message. */
#include "op.h"

#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "util.h"

iq_err iq_op_db_error(PGconn *c, const char *what, char *pg_error, char **error_r)
{
    const char *state = iq_pg_last_sqlstate();
    const char *msg = pg_error ? pg_error : "unknown error";
    iq_err st = IQ_ERR_FAILED;
    if (iq_pg_connection_lost(c)) {
        *error_r = iq_xasprintf("%s: lost the connection to PostgreSQL (%s); check the server "
                                "and retry",
                                what, msg);
        st = IQ_ERR_UNAVAILABLE;
    } else if (strcmp(state, "42P01") == 0 || strcmp(state, "42703") == 0) {
        *error_r = iq_xasprintf("%s: the database lacks the inboxq schema (%s); run 'inboxq "
                                "migrate'",
                                what, msg);
        st = IQ_ERR_SCHEMA;
    } else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
        *error_r = iq_xasprintf("%s: a concurrent change got in the way (%s); run the command "
                                "again",
                                what, msg);
        st = IQ_ERR_STALE;
    } else {
        *error_r = iq_xasprintf("%s: %s", what, msg);
    }
    free(pg_error);
    return st;
}
