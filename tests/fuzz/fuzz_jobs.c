/* SPDX-License-Identifier: MIT */
/* Kafka job payloads (lib/messages.c), as a worker consumes them: the input is one message's
 * value, parsed as a check job and as a report job. A job the parser accepts must round-trip
 * through its builder (which validates against the contract) to the same job; a job it
 * refuses must make a valid dead letter carrying the original bytes, as the worker sends. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz_common.h"
#include "messages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void dead_letter(const uint8_t *data, size_t size, iq_err cls, const char *err)
{
    if (cls == IQ_OK || !err)
        iq_fuzz_fail("a refused job must have an error class and a text");
    if (cls != IQ_ERR_INVALID_JSON && cls != IQ_ERR_UNKNOWN_SCHEMA && cls != IQ_ERR_INVALID_JOB)
        iq_fuzz_fail("unknown error class %s", iq_err_name(cls));
    iq_dead_letter dl = {
        .original_topic = "inboxq.jobs.check",
        .original_partition = 0,
        .original_offset = 42,
        .original_key = data,
        .original_key_len = size < 40 ? size : 40,
        .original_value = data,
        .original_value_len = size,
        .error_class = cls,
        .error = err,
        .failed_at_ms = 1767225600000LL,
        .worker = "worker:fuzz:1/0",
    };
    char *berr = NULL;
    json_t *j = iq_msg_dead_letter_new(&dl, &berr);
    if (!j)
        iq_fuzz_fail("no dead letter for a refused job: %s", berr);
    char *text = iq_msg_dump(j);
    json_decref(j);
    json_error_t jerr;
    json_t *back = json_loads(text, 0, &jerr);
    if (!back)
        iq_fuzz_fail("the dead letter is not JSON: %s", jerr.text);
    json_decref(back);
    free(text);
}

static void check_job(const uint8_t *data, size_t size)
{
    iq_check_job job;
    iq_err cls = IQ_OK;
    char *err = NULL;
    if (iq_msg_parse_check_job(data, size, &job, &cls, &err) < 0) {
        dead_letter(data, size, cls, err);
        free(err);
        return;
    }
    json_t *j =
        iq_msg_check_job_new(job.job_id, job.account_id, job.requested_at_ms, job.requested_by,
                             job.reason, job.attempt, job.not_before_ms, &err);
    if (!j)
        iq_fuzz_fail("a parsed check job does not build again: %s", err);
    char *text = iq_msg_dump(j);
    json_decref(j);
    iq_check_job again;
    if (iq_msg_parse_check_job(text, strlen(text), &again, &cls, &err) < 0)
        iq_fuzz_fail("a built check job does not parse: %s (%s)", err, text);
    if (strcmp(job.job_id, again.job_id) != 0 || job.account_id != again.account_id ||
        job.requested_at_ms != again.requested_at_ms ||
        strcmp(job.requested_by, again.requested_by) != 0 ||
        strcmp(job.reason, again.reason) != 0 || job.attempt != again.attempt ||
        job.not_before_ms != again.not_before_ms)
        iq_fuzz_fail("a check job changed on its way round: %s", text);
    free(text);
}

static bool same_filters(const iq_report_filters *a, const iq_report_filters *b)
{
    if ((a->name == NULL) != (b->name == NULL) || (a->name && strcmp(a->name, b->name) != 0))
        return false;
    return a->secure == b->secure && a->auto_check == b->auto_check &&
           a->keep_copy == b->keep_copy && a->active == b->active && a->last_check == b->last_check;
}

static void report_job(const uint8_t *data, size_t size)
{
    iq_report_job job;
    iq_err cls = IQ_OK;
    char *err = NULL;
    if (iq_msg_parse_report_job(data, size, &job, &cls, &err) < 0) {
        dead_letter(data, size, cls, err);
        free(err);
        iq_report_job_release(&job);
        return;
    }
    json_t *j = iq_msg_report_job_new(job.job_id, job.report_id, job.format, job.lang, &job.filters,
                                      job.schedule_id, job.requested_at_ms, job.requested_by, &err);
    if (!j)
        iq_fuzz_fail("a parsed report job does not build again: %s", err);
    char *text = iq_msg_dump(j);
    json_decref(j);
    iq_report_job again;
    if (iq_msg_parse_report_job(text, strlen(text), &again, &cls, &err) < 0)
        iq_fuzz_fail("a built report job does not parse: %s (%s)", err, text);
    if (strcmp(job.job_id, again.job_id) != 0 || job.report_id != again.report_id ||
        strcmp(job.format, again.format) != 0 || strcmp(job.lang, again.lang) != 0 ||
        !same_filters(&job.filters, &again.filters) || job.schedule_id != again.schedule_id ||
        job.requested_at_ms != again.requested_at_ms ||
        strcmp(job.requested_by, again.requested_by) != 0)
        iq_fuzz_fail("a report job changed on its way round: %s", text);
    free(text);
    iq_report_job_release(&again);
    iq_report_job_release(&job);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_job(data, size);
    report_job(data, size);
    return 0;
}
