/* SPDX-License-Identifier: MIT */
/* Versioned schema migrations (schemas/sql, embedded at build time). */
#ifndef IQ_MIGRATE_H
#define IQ_MIGRATE_H

#include <stdio.h>

#include "pg.h"

typedef struct iq_migration {
    int version;
    const char *name;
    const char *sql;
} iq_migration;

extern const iq_migration iq_migrations[];
extern const int iq_migrations_count;

typedef enum {
    IQ_MIGRATE_OK = 0,
    IQ_MIGRATE_FAILED = -1,  /* a statement failed; nothing was applied */
    IQ_MIGRATE_TOO_NEW = -2, /* the database is newer than this build knows */
} iq_migrate_status;

/* Applies every migration newer than the database's version, in one transaction under an
 * advisory lock, recording each in schema_migrations. Reports what it did on out (may be NULL).
 * Idempotent: a second run applies nothing. */
iq_migrate_status iq_migrate(PGconn *c, FILE *out, char **error_r);
/* The newest version this build knows. */
int iq_migrate_latest(void);
/* The database's version (0 when none applied), or -1 with *error_r. */
int iq_migrate_current(PGconn *c, char **error_r);

#endif
