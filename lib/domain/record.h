/* SPDX-License-Identifier: MIT */
/* Lookups by NAME or ID in PostgreSQL, for validation (iq_refs) and messages. */
#ifndef IQ_RECORD_H
#define IQ_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include "pg.h"
#include "rules.h"

void iq_refs_pg(iq_refs *refs_r, PGconn *c);
/* Rows of (kind, id, name) as "account 3 'x', connector 2 'y'" (the first ten, then "and
 * more"), malloc'd; NULL when there are none. */
char *iq_users_text(const PGresult *r);

#endif
