/* SPDX-License-Identifier: MIT */
/* Report labels in English and in the seed's Brazilian Portuguese (pt-BR). */
#ifndef IQ_I18N_H
#define IQ_I18N_H

#include <stddef.h>
#include <stdint.h>

typedef enum { IQ_LANG_EN, IQ_LANG_PT_BR } iq_lang;

typedef enum {
    IQ_MSG_TITLE,
    IQ_MSG_COL_CODE,
    IQ_MSG_COL_NAME,
    IQ_MSG_COL_SECURE,
    IQ_MSG_COL_SECURE_TYPE,
    IQ_MSG_COL_PROTOCOL,
    IQ_MSG_COL_PORT,
    IQ_MSG_COL_AUTO_CHECK,
    IQ_MSG_COL_KEEP_COPY,
    IQ_MSG_COL_LAST_STATUS,
    IQ_MSG_COL_ACTIVE,
    IQ_MSG_FILTER_LAST_CHECK,
    IQ_MSG_YES,
    IQ_MSG_NO,
    IQ_MSG_ALL,
    IQ_MSG_STATUS_OK,
    IQ_MSG_STATUS_FAILED,
    IQ_MSG_STATUS_NEVER,
    IQ_MSG_FILTERS,
    IQ_MSG_FILTERS_NONE,
    IQ_MSG_FILTER_NAME,
    IQ_MSG_FILTER_SECURE,
    IQ_MSG_FILTER_AUTO_CHECK,
    IQ_MSG_FILTER_KEEP_COPY,
    IQ_MSG_FILTER_ACTIVE,
    IQ_MSG_GENERATED,
    IQ_MSG_PAGE,
    IQ_MSG_OF,
    IQ_MSG_ACCOUNT,
    IQ_MSG_ACCOUNTS,
    IQ_MSG_NO_ROWS,
    IQ_MSG_NEXT_PAGE,
    IQ_MSG_LAST_PAGE,
    IQ_MSG__COUNT
} iq_msg;

/* "en" or "pt-BR" (case-insensitive; "pt_BR" and "pt" accepted); NULL or "" is English.
 * 0, or -1 for anything else. */
int iq_lang_parse(const char *s, iq_lang *lang_r);
/* The canonical tag: "en" / "pt-BR". */
const char *iq_lang_tag(iq_lang lang);
/* The label, never NULL. */
const char *iq_msg_get(iq_lang lang, iq_msg msg);
/* "Page 2 of 5" / "Página 2 de 5" into buf. */
/* Times for people, one format each (hardening item 26): "2026-11-28 18:02 UTC" in English,
 * "28/11/2026 18:02 UTC" in Portuguese. Machines get RFC 3339 UTC, "2026-11-28T18:02:01Z"
 * (IQ_SQL_TS, iq_time_rfc3339). buf >= 32. */
void iq_i18n_time(iq_lang lang, int64_t ms, char *buf, size_t size);
/* The same from an RFC 3339 UTC text ("2026-11-28T18:02:01Z", fraction allowed); NULL or "" is
 * "-", text of another form is copied as is. */
void iq_i18n_time_text(iq_lang lang, const char *rfc3339, char *buf, size_t size);
/* "2026-11-28T18:02:01Z" (seconds, UTC). buf >= 24. */
void iq_time_rfc3339(int64_t ms, char *buf, size_t size);
void iq_i18n_page_of(iq_lang lang, int64_t page, int64_t pages, char *buf, size_t size);

#endif
