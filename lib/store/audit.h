/* SPDX-License-Identifier: MIT */
/* The audit trail: who changed which account, credential, connector or schedule, when, and
 * each field's old and new value (never a secret), written in the change's own transaction. */
#ifndef IQ_AUDIT_H
#define IQ_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "pg.h"

/* Who is acting: the actor this thread set, else $SUDO_USER, else $USER, else "uid:N". */
void iq_audit_actor(char *buf, size_t size);
/* Names the actor of this thread's changes ("console:NAME" for an operator signed in to
 * `inboxq serve`), control characters as '?'; NULL or "" goes back to the process's user. */
void iq_audit_set_actor(const char *actor);

/* {"field": {"old": .., "new": ..}} for every key whose value differs between two flat JSON
 * objects; old_fields NULL = a creation (every old is null), new_fields NULL = a deletion.
 * Never returns NULL (an empty object when nothing differs). */
json_t *iq_audit_diff(json_t *old_fields, json_t *new_fields);

/* Inserts one audit row on c (inside the caller's transaction). action: create, update or
 * delete; entity: account, credential, connector or schedule. changes may be NULL ({}).
 * Secrets must never be passed: for a secret write {"secret": {"changed": true}}.
 * 0, or -1 with *error_r. */
int iq_audit_write(PGconn *c, const char *action, const char *entity, int64_t entity_id,
                   const json_t *changes, char **error_r);

/* The newest rows first, optionally of one entity kind and one id (entity_id > 0), at most
 * limit rows: a JSON array of {id, at, actor, action, entity, entity_id, changes}, or NULL
 * with *error_r. */
json_t *iq_audit_list(PGconn *c, const char *entity, int64_t entity_id, int64_t limit,
                      char **error_r);

#endif
