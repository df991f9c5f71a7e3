/* SPDX-License-Identifier: MIT */
/* Inside domain/: the helpers the rules share with accounts, connectors and lookups. */
#ifndef IQ_RULES_INT_H
#define IQ_RULES_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "rules.h"
#include "util.h"

/* Sets *error_r to the formatted message and returns IQ_ERR_INVALID. */
iq_err iq_rule_invalid(char **error_r, const char *fmt, ...) IQ_PRINTF(2, 3);
/* Operator input echoed in a message: at most 60 bytes, control characters as '?'. */
void iq_rule_show_value(const char *s, char *buf, size_t size);
bool iq_rule_all_digits(const char *s);
/* Valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
bool iq_rule_utf8_valid(const char *s);
/* Any C0 control character or DEL. */
bool iq_rule_has_control(const char *s);
char *iq_dup_or_null(const char *s);
/* Frees *dst and sets it to a copy of src. */
void iq_replace_str(char **dst, const char *src);
/* A yes/no field given as text (NULL: not given, *out unchanged). */
iq_err iq_rule_bool(const char *field, const char *s, bool *out, char **error_r);
/* A form's name: the one given, checked, or the one it has (required when creating). */
iq_err iq_rule_name(char **name, const char *given, bool creating, char **error_r);
/* Resolves a NAME|ID reference of kind "credential" or "connector" through refs (or
 * numerically without refs). */
iq_err iq_rule_resolve(const iq_refs *refs, const char *kind, const char *ref, int64_t *id_r,
                       char **error_r);
/* IQ_ERR_INVALID when another object of kind already has name (refs may be NULL: no check). */
iq_err iq_rule_name_free(const iq_refs *refs, const char *kind, const char *article,
                         const char *name, int64_t self_id, char **error_r);

#endif
