/* SPDX-License-Identifier: MIT */
/* Cells, labels and failures shared by the report formats. */
#include "report_sink.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "i18n.h"
#include "report_escape.h"
#include "report_sink.h"
#include "util.h"

/* ---- cells and labels shared by the sinks ---- */

const char *iq_report_col_label(iq_lang lang, int col)
{
    static const iq_msg labels[IQ_COL__COUNT] = {
        IQ_MSG_COL_CODE,     IQ_MSG_COL_NAME,        IQ_MSG_COL_SECURE,     IQ_MSG_COL_SECURE_TYPE,
        IQ_MSG_COL_PROTOCOL, IQ_MSG_COL_PORT,        IQ_MSG_COL_AUTO_CHECK, IQ_MSG_COL_KEEP_COPY,
        IQ_MSG_COL_ACTIVE,   IQ_MSG_COL_LAST_STATUS,
    };
    return (unsigned)col < IQ_COL__COUNT ? iq_msg_get(lang, labels[col]) : "";
}

bool iq_report_col_numeric(int col)
{
    return col == IQ_COL_CODE || col == IQ_COL_PORT;
}

const char *iq_report_cell(iq_lang lang, const iq_report_row *r, int col, char numbuf[32])
{
    switch (col) {
    case IQ_COL_CODE:
        snprintf(numbuf, 32, "%lld", (long long)r->id);
        return numbuf;
    case IQ_COL_NAME:
        return r->name ? r->name : "";
    case IQ_COL_SECURE:
        return iq_report_yes_no(lang, r->secure);
    case IQ_COL_SECURE_TYPE:
        if (!r->secure || !r->secure_type)
            return "";
        return strcmp(r->secure_type, "ssl") == 0   ? "SSL"
               : strcmp(r->secure_type, "tls") == 0 ? "TLS"
                                                    : r->secure_type;
    case IQ_COL_PROTOCOL:
        if (!r->protocol)
            return "";
        return strcmp(r->protocol, "imap") == 0   ? "IMAP"
               : strcmp(r->protocol, "pop3") == 0 ? "POP3"
                                                  : r->protocol;
    case IQ_COL_PORT:
        snprintf(numbuf, 32, "%d", r->port);
        return numbuf;
    case IQ_COL_AUTO_CHECK:
        return iq_report_yes_no(lang, r->auto_check);
    case IQ_COL_KEEP_COPY:
        return iq_report_yes_no(lang, r->keep_copy);
    case IQ_COL_ACTIVE:
        return iq_report_yes_no(lang, r->active);
    case IQ_COL_LAST_STATUS:
        if (!r->last_status)
            return iq_msg_get(lang, IQ_MSG_STATUS_NEVER);
        if (strcmp(r->last_status, "ok") == 0)
            return iq_msg_get(lang, IQ_MSG_STATUS_OK);
        if (strcmp(r->last_status, "failed") == 0)
            return iq_msg_get(lang, IQ_MSG_STATUS_FAILED);
        return r->last_status;
    default:
        return "";
    }
}

void iq_report_format_time(int64_t ms, char *buf, size_t size)
{
    iq_i18n_time(IQ_LANG_EN, ms, buf, size);
}

int iq_report_fail(iq_report_ctx *ctx, const char *fmt, ...)
{
    if (!ctx->error) {
        va_list ap;
        va_start(ap, fmt);
        iq_buf b;
        iq_buf_init(&b, 4096);
        if (iq_buf_vappendf(&b, fmt, ap) < 0) /* b is still empty: the note fits */
            IQ_IGNORE_RESULT(iq_buf_append_str(&b, "report: error message too long"));
        va_end(ap);
        ctx->error = iq_buf_detach(&b, NULL);
    }
    return -1;
}

size_t iq_report_split_label(const char *label, double (*measure)(void *arg, const char *s),
                             void *arg)
{
    size_t best = 0;
    double best_w = measure(arg, label);
    size_t n = strlen(label);
    char *tmp = iq_xstrdup(label);
    for (size_t i = 1; i + 1 < n; i++) {
        if (label[i] != ' ')
            continue;
        tmp[i] = '\0';
        double w1 = measure(arg, tmp), w2 = measure(arg, label + i + 1);
        tmp[i] = ' ';
        double w = w1 > w2 ? w1 : w2;
        if (w < best_w) {
            best_w = w;
            best = i;
        }
    }
    free(tmp);
    return best;
}

/* ---- filters ---- */
