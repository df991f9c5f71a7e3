/* SPDX-License-Identifier: MIT */
/* Applies the embedded schema migrations, once each, under an advisory lock. */
#include "migrate.h"

#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#include "pg.h"
#include "util.h"

/* Arbitrary constant shared by every inboxq process that migrates. */
#define MIGRATE_LOCK_KEY "7234917301"

int iq_migrate_latest(void)
{
    return iq_migrations_count > 0 ? iq_migrations[iq_migrations_count - 1].version : 0;
}

int iq_migrate_current(PGconn *c, char **error_r)
{
    PGresult *r = iq_pg_query(c,
                              "SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN 0 "
                              "ELSE (SELECT coalesce(max(version), 0) FROM schema_migrations) END",
                              0, NULL, error_r);
    if (!r)
        return -1;
    int v = (int)iq_pg_i64(r, 0, 0);
    PQclear(r);
    return v;
}

iq_migrate_status iq_migrate(PGconn *c, FILE *out, char **error_r)
{
    char *err = NULL;
    const char *lock[] = {MIGRATE_LOCK_KEY};
    if (iq_pg_begin(c, &err) < 0 ||
        iq_pg_exec(c, "SELECT pg_advisory_xact_lock($1::bigint)", 1, lock, &err) < 0 ||
        iq_pg_exec(c,
                   "CREATE TABLE IF NOT EXISTS schema_migrations ("
                   " version integer PRIMARY KEY, name text NOT NULL,"
                   " applied_at timestamptz NOT NULL DEFAULT now())",
                   0, NULL, &err) < 0)
        goto failed;
    int current = iq_migrate_current(c, &err);
    if (current < 0)
        goto failed;
    if (current > iq_migrate_latest()) {
        iq_pg_rollback(c);
        *error_r = iq_xasprintf("the database schema is version %d but this inboxq knows only up "
                                "to %d; upgrade inboxq before running it against this database",
                                current, iq_migrate_latest());
        return IQ_MIGRATE_TOO_NEW;
    }
    int applied = 0;
    for (int i = 0; i < iq_migrations_count; i++) {
        const iq_migration *m = &iq_migrations[i];
        if (m->version <= current)
            continue;
        /* A multi-statement script needs the simple protocol; it is our own embedded text. */
        PGresult *r = PQexec(c, m->sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
            err = iq_xasprintf("migration %s failed: %s", m->name, PQresultErrorMessage(r));
            PQclear(r);
            goto failed;
        }
        PQclear(r);
        char ver[16];
        snprintf(ver, sizeof(ver), "%d", m->version);
        const char *params[] = {ver, m->name};
        if (iq_pg_exec(c, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
                       params, &err) < 0)
            goto failed;
        if (out)
            fprintf(out, "applied %s\n", m->name);
        applied++;
    }
    if (iq_pg_commit(c, &err) < 0)
        goto failed;
    if (out && applied == 0)
        fprintf(out, "schema is up to date (version %d)\n", iq_migrate_latest());
    return IQ_MIGRATE_OK;
failed:
    iq_pg_rollback(c);
    for (char *p = err; p && *p; p++)
        if (*p == '\n')
            *p = ' ';
    *error_r = err;
    return IQ_MIGRATE_FAILED;
}
