/* SPDX-License-Identifier: MIT */
/* The report as JSON: an array of account objects with stable English keys and raw values. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "report_escape.h"
#include "report_sink.h"

typedef struct json_state {
    iq_buf name;
    int64_t rows;
} json_state;

static int json_begin(iq_report_ctx *ctx, void **state_r)
{
    json_state *st = iq_xcalloc(1, sizeof(*st));
    iq_buf_init(&st->name, IQ_REPORT_ROW_MAX);
    *state_r = st;
    if (fputs("[", ctx->out) == EOF)
        return iq_report_fail(ctx, "writing the JSON failed");
    return 0;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static int json_row(iq_report_ctx *ctx, void *state, const iq_report_row *r, int64_t index)
{
    json_state *st = state;
    iq_buf_reset(&st->name);
    if (iq_utf8_sanitize(&st->name, r->name ? r->name : "", r->name ? strlen(r->name) : 0) < 0)
        return iq_report_fail(ctx, "account %lld: its name is too large", (long long)r->id);
    json_t *o = json_pack("{sI so sb so so sI sb sb sb so so}", "id", (json_int_t)r->id, "name",
                          json_string(st->name.data), "secure", r->secure, "secure_type",
                          str_or_null(r->secure ? r->secure_type : NULL), "protocol",
                          str_or_null(r->protocol), "port", (json_int_t)r->port, "auto_check",
                          r->auto_check, "keep_copy", r->keep_copy, "active", r->active,
                          "last_status", str_or_null(r->last_status), "push", str_or_null(r->push));
    if (!o)
        return iq_report_fail(ctx, "account %lld: could not encode it as JSON", (long long)r->id);
    int rc = fputs(index > 0 ? ",\n" : "\n", ctx->out) == EOF ||
                     json_dumpf(o, ctx->out, JSON_COMPACT | JSON_PRESERVE_ORDER) < 0
                 ? -1
                 : 0;
    json_decref(o);
    st->rows++;
    if (rc < 0)
        return iq_report_fail(ctx, "writing the JSON failed");
    return 0;
}

static int json_end(iq_report_ctx *ctx, void *state)
{
    json_state *st = state;
    if (fputs(st->rows > 0 ? "\n]\n" : "]\n", ctx->out) == EOF || fflush(ctx->out) != 0 ||
        ferror(ctx->out))
        return iq_report_fail(ctx, "writing the JSON failed");
    return 0;
}

static void json_free(void *state)
{
    json_state *st = state;
    iq_buf_release(&st->name);
    free(st);
}

const iq_report_sink iq_report_sink_json = {json_begin, json_row, json_end, json_free};
