/* SPDX-License-Identifier: MIT */
/* inboxq migrate: apply the embedded schema migrations. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "exitcode.h"
#include "migrate.h"
#include "pg.h"

int iq_cmd_migrate(iq_app *app, int argc, char **argv)
{
    static const struct option opts[] = {
        {"status", no_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int opt, status_only = 0;
    while ((opt = getopt_long(argc, argv, "sh", opts, NULL)) != -1) {
        if (opt == 's') {
            status_only = 1;
        } else if (opt == 'h') {
            printf("usage: inboxq migrate [--status]\n\n"
                   "Creates or upgrades the PostgreSQL schema (idempotent; records what it\n"
                   "applied in schema_migrations; refuses a database newer than it knows).\n"
                   "  --status   print the database's and this build's schema versions\n");
            return 0;
        } else {
            return EX_USAGE;
        }
    }
    if (optind < argc) {
        iq_app_error(app, "migrate: unexpected argument '%s'", argv[optind]);
        return EX_USAGE;
    }
    PGconn *c = NULL;
    char *err = NULL;
    int pg_rc = iq_app_connect_pg(app, &c);
    if (pg_rc != 0) {
        return pg_rc;
    }
    int rc = 0;
    if (status_only) {
        int cur = iq_migrate_current(c, &err);
        if (cur < 0) {
            iq_app_error(app, "migrate: %s", err);
            rc = EX_UNAVAILABLE;
        } else {
            printf("database schema version %d, this build knows up to %d\n", cur,
                   iq_migrate_latest());
        }
    } else {
        iq_migrate_status ms = iq_migrate(c, stdout, &err);
        if (ms != IQ_MIGRATE_OK) {
            iq_app_error(app, "migrate: %s", err);
            rc = ms == IQ_MIGRATE_TOO_NEW ? EX_CONFIG : EX_SOFTWARE;
        }
    }
    free(err);
    iq_pg_close(&c);
    return rc;
}
