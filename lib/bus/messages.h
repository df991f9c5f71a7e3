/* SPDX-License-Identifier: MIT */
/* The Kafka message contracts (schemas/json/<kind>.v1.json): builders for check jobs, report jobs,
 * new-mail events and dead letters, strict parsers for the two job kinds, RFC 3339 times. */
#ifndef IQ_MESSAGES_H
#define IQ_MESSAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"

#define IQ_MSG_SCHEMA_CHECK_JOB "inboxq.check_job.v1"
#define IQ_MSG_SCHEMA_REPORT_JOB "inboxq.report_job.v1"
#define IQ_MSG_SCHEMA_NEW_MAIL "inboxq.new_mail.v1"
#define IQ_MSG_SCHEMA_DEAD_LETTER "inboxq.dead_letter.v1"

/* Largest job message the parsers accept, in bytes. */
#define IQ_MSG_JOB_MAX_BYTES 65536
/* Header-derived text in events and dead letters is cut to this many bytes (UTF-8 safe). */
#define IQ_MSG_TEXT_MAX 4096
/* A dead letter keeps at most this many bytes of the original payload. */
#define IQ_MSG_DEAD_VALUE_MAX 262144
/* An optional timestamp argument that is absent (any negative value means the same). */
#define IQ_MSG_TIME_NONE ((int64_t)-1)
/* A check job's not_before may lie at most this far ahead of the worker's clock (a job from
 * a clock gone wrong, or a hostile producer, would otherwise hold a check back for years). */
#define IQ_MSG_NOT_BEFORE_MAX_AHEAD_MS ((int64_t)3600 * 1000)

/* Parsed check job. Strings are NUL-terminated; the UUID is lowercase. */
typedef struct iq_check_job {
    char job_id[37];
    int64_t account_id;      /* >= 1 */
    int64_t requested_at_ms; /* ms since the epoch, UTC */
    char requested_by[64];   /* "scheduler", "cli:<user>", ... */
    char reason[16];         /* "scheduled", "manual", "retry" or "push" */
    int attempt;             /* >= 1; 1 when the message had none */
    int64_t not_before_ms;   /* 0: no delay */
} iq_check_job;

/* Report filters; each int is -1 (not set: no restriction), 0 (false) or 1 (true).
 * Caller-owned: iq_report_filters_init() first, iq_report_filters_release() after. */
typedef struct iq_report_filters {
    char *name; /* NULL: not set */
    int secure, auto_check, keep_copy, active;
    int last_check; /* -1 not set, or an iq_last_check */
} iq_report_filters;

/* The last-check filter: the account's last check ended ok, did not (failed or partial), or
 * there was none yet. JSON: "ok", "failed", "never". */
typedef enum { IQ_LAST_CHECK_OK, IQ_LAST_CHECK_FAILED, IQ_LAST_CHECK_NEVER } iq_last_check;
/* "ok"/"failed"/"never" -> value. 0 or -1. */
int iq_last_check_parse(const char *s, int *v_r);
const char *iq_last_check_name(int v); /* NULL for -1 */

void iq_report_filters_init(iq_report_filters *f);
/* Frees name and resets every filter to "not set". */
void iq_report_filters_release(iq_report_filters *f);

/* Parsed report job. Release with iq_report_job_release() (also after a failed parse). */
typedef struct iq_report_job {
    char job_id[37];
    int64_t report_id; /* >= 1 */
    char format[8];    /* "csv", "html" or "pdf" */
    char lang[8];      /* "en" or "pt-BR" */
    iq_report_filters filters;
    int64_t schedule_id; /* 0: none (null) */
    int64_t requested_at_ms;
    char requested_by[64];
} iq_report_job;

void iq_report_job_release(iq_report_job *job);

/* Arguments of a new-mail event. Strings are borrowed; text that is not valid UTF-8 is
 * repaired (U+FFFD) and cut to IQ_MSG_TEXT_MAX bytes. Never carries the body. */
typedef struct iq_new_mail {
    const char *event_id; /* NULL: a fresh UUID */
    const char *job_id;   /* the check job that stored the message */
    int64_t account_id;
    const char *account_name;
    const char *mailbox;
    int64_t message_row_id; /* messages.id */
    const char *server_id;
    const char *message_id; /* NULL -> null */
    const char *from;       /* NULL -> null */
    const char *to;         /* NULL -> null */
    const char *subject;    /* NULL -> null */
    int64_t date_ms;        /* IQ_MSG_TIME_NONE (any negative) -> null */
    int64_t size;           /* bytes of the raw message */
    const char *sha256;     /* 64 hex digits (written lowercase) */
    int64_t fetched_at_ms;
} iq_new_mail;

/* Arguments of a dead letter. The key and value are the original message's raw bytes. */
typedef struct iq_dead_letter {
    const char *job_id; /* NULL: a fresh UUID (the record's own id) */
    const char *original_topic;
    int32_t original_partition;
    int64_t original_offset;
    const void *original_key; /* NULL -> null; repaired to UTF-8, cut to 1024 bytes */
    size_t original_key_len;
    const void *original_value; /* UTF-8 as is, anything else base64; NULL = empty */
    size_t original_value_len;
    iq_err error_class; /* why the job was not run, e.g. IQ_ERR_INVALID_JSON */
    const char *error;  /* control characters become spaces */
    int64_t failed_at_ms;
    const char *worker;
} iq_dead_letter;

/* Builders: a new object (json_decref() it) that validates against its schema, or NULL with
 * *error_r set when an argument breaks the contract (a bad UUID, id < 1, time out of range,
 * unknown enum value, ...). A NULL job_id/event_id gets a fresh random UUID; read it back with
 * iq_msg_id(). Times are ms since the epoch and must lie in 1970..9999. */
json_t *iq_msg_check_job_new(const char *job_id, int64_t account_id, int64_t requested_at_ms,
                             const char *requested_by, const char *reason, int attempt,
                             int64_t not_before_ms /* <= 0: none */, char **error_r);
json_t *iq_msg_report_job_new(const char *job_id, int64_t report_id, const char *format,
                              const char *lang, const iq_report_filters *filters /* NULL: none */,
                              int64_t schedule_id /* <= 0: null */, int64_t requested_at_ms,
                              const char *requested_by, char **error_r);
json_t *iq_msg_new_mail_new(const iq_new_mail *ev, char **error_r);
json_t *iq_msg_dead_letter_new(const iq_dead_letter *dl, char **error_r);
/* The "filters" object alone (as stored in reports.filters); NULL on a bad name filter. */
json_t *iq_msg_report_filters_new(const iq_report_filters *f, char **error_r);

/* The message's event_id, else its job_id (borrowed from msg), or NULL. */
const char *iq_msg_id(const json_t *msg);
/* Compact UTF-8 JSON, malloc'd (free() it), as it goes on Kafka; NULL for NULL.
 * Aborts on OOM. */
char *iq_msg_dump(const json_t *msg);

/* Strict parsers for consumed jobs: 0, or -1 with *error_class_r IQ_ERR_INVALID_JSON,
 * IQ_ERR_UNKNOWN_SCHEMA or IQ_ERR_INVALID_JOB and
 * *error_r a one-line text naming the field. Unknown fields are rejected (invalid_job). */
int iq_msg_parse_check_job(const void *data, size_t len, iq_check_job *job_r, iq_err *error_class_r,
                           char **error_r);
int iq_msg_parse_report_job(const void *data, size_t len, iq_report_job *job_r,
                            iq_err *error_class_r, char **error_r);
/* Parses a filters object (e.g. reports.filters); f_r must be initialised. 0 or -1. */
int iq_msg_parse_report_filters(const json_t *obj, iq_report_filters *f_r, char **error_r);

/* True for a canonical 8-4-4-4-12 hex UUID (either case). */
bool iq_msg_uuid_valid(const char *s);

/* Parses "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (RFC 3339, UTC only, years 1970..9999, the
 * fraction truncated to ms), the form iq_format_time_utc() writes. 0 or -1. */
int iq_parse_time_utc(const char *s, int64_t *ms_r);

#endif
