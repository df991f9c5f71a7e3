/* SPDX-License-Identifier: MIT */
/* Report formats, filters as options and text, times as reports show them. */
#include "report_filters.h"

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
#include "util.h"

static const char *const format_names[] = {
    [IQ_REPORT_CSV] = "csv",   [IQ_REPORT_HTML] = "html",   [IQ_REPORT_PDF] = "pdf",
    [IQ_REPORT_JSON] = "json", [IQ_REPORT_TABLE] = "table",
};

int iq_report_format_parse(const char *s, iq_report_format *fmt_r)
{
    for (size_t i = 0; s && i < IQ_ARRAY_LEN(format_names); i++) {
        if (iq_str_eq_nocase(s, format_names[i])) {
            *fmt_r = (iq_report_format)i;
            return 0;
        }
    }
    return -1;
}

const char *iq_report_format_name(iq_report_format fmt)
{
    return (size_t)fmt < IQ_ARRAY_LEN(format_names) ? format_names[fmt] : "?";
}

int iq_report_parse_yes_no(const char *s, int allow_all, int *v_r)
{
    bool b;
    if (allow_all && s && iq_str_eq_nocase(s, "all")) {
        *v_r = -1;
        return 0;
    }
    if (!s || iq_parse_bool(s, &b) < 0)
        return -1;
    *v_r = b ? 1 : 0;
    return 0;
}

int iq_report_term_width(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *cols = getenv("COLUMNS");
    int64_t v;
    if (cols && iq_parse_i64(cols, 20, 10000, &v) == 0)
        return (int)v;
    return 100;
}

int iq_csv_dialect_parse(const char *s, iq_csv_dialect *d_r)
{
    if (s && strcmp(s, "rfc4180") == 0)
        *d_r = IQ_CSV_RFC4180;
    else if (s && strcmp(s, "excel-pt") == 0)
        *d_r = IQ_CSV_EXCEL_PT;
    else
        return -1;
    return 0;
}

const char *iq_report_yes_no(iq_lang lang, bool v)
{
    return iq_msg_get(lang, v ? IQ_MSG_YES : IQ_MSG_NO);
}

int iq_report_filter_value(const iq_report_filters *f, size_t i)
{
    const int values[] = {f->secure, f->auto_check, f->keep_copy, f->active};
    return values[i];
}

char *iq_report_filters_describe(const iq_report_filters *f, const char *lang_tag)
{
    iq_lang lang = IQ_LANG_EN;
    iq_lang_parse(lang_tag, &lang);
    static const iq_msg labels[] = {IQ_MSG_FILTER_SECURE, IQ_MSG_FILTER_AUTO_CHECK,
                                    IQ_MSG_FILTER_KEEP_COPY, IQ_MSG_FILTER_ACTIVE};
    /* Every append fits: a name filter is at most 255 bytes (iq_report_filters_set and the job
     * schema refuse longer ones), the rest are short labels, and the cap is 16 MiB. */
    iq_buf b;
    iq_buf_init(&b, (size_t)1 << 24);
    if (f->name && *f->name)
        IQ_IGNORE_RESULT(
            iq_buf_appendf(&b, "%s: \"%s\"", iq_msg_get(lang, IQ_MSG_FILTER_NAME), f->name));
    for (size_t i = 0; i < IQ_ARRAY_LEN(labels); i++) {
        int v = iq_report_filter_value(f, i);
        if (v < 0)
            continue;
        IQ_IGNORE_RESULT(iq_buf_appendf(&b, "%s%s: %s", b.len ? "; " : "",
                                        iq_msg_get(lang, labels[i]), iq_report_yes_no(lang, v)));
    }
    if (f->last_check >= 0) {
        static const iq_msg values[] = {IQ_MSG_STATUS_OK, IQ_MSG_STATUS_FAILED,
                                        IQ_MSG_STATUS_NEVER};
        IQ_IGNORE_RESULT(iq_buf_appendf(&b, "%s%s: %s", b.len ? "; " : "",
                                        iq_msg_get(lang, IQ_MSG_FILTER_LAST_CHECK),
                                        iq_msg_get(lang, values[f->last_check])));
    }
    if (b.len == 0)
        IQ_IGNORE_RESULT(iq_buf_append_str(&b, iq_msg_get(lang, IQ_MSG_FILTERS_NONE)));
    return iq_buf_detach(&b, NULL);
}

static const char *const filter_options[] = {"secure", "auto-check", "keep-copy", "active"};

int iq_report_filters_set(iq_report_filters *f, const char *option, const char *value,
                          char **error_r)
{
    if (strcmp(option, "name") == 0) {
        iq_report_filters probe;
        iq_report_filters_init(&probe);
        probe.name = (char *)(uintptr_t)value;
        char *err = NULL;
        json_t *j = iq_msg_report_filters_new(&probe, &err);
        if (!j || !value || !*value) {
            *error_r = iq_xstrdup("--name must be 1 to 255 bytes of UTF-8 text without control "
                                  "characters (a part of the account name)");
            free(err);
            json_decref(j);
            return -1;
        }
        json_decref(j);
        free(f->name);
        f->name = iq_xstrdup(value);
        return 0;
    }
    for (size_t i = 0; i < IQ_ARRAY_LEN(filter_options); i++) {
        if (strcmp(option, filter_options[i]) != 0)
            continue;
        int allow_all = i == 3, v;
        if (iq_report_parse_yes_no(value, allow_all, &v) < 0) {
            *error_r = iq_xasprintf("--%s must be yes or no%s, not '%s'", option,
                                    allow_all ? " or all" : "", value ? value : "");
            return -1;
        }
        int *fields[] = {&f->secure, &f->auto_check, &f->keep_copy, &f->active};
        *fields[i] = v;
        return 0;
    }
    if (strcmp(option, "last-check") == 0) {
        if (iq_last_check_parse(value, &f->last_check) < 0) {
            *error_r = iq_xasprintf("--last-check must be ok, failed or never, not '%s'",
                                    value ? value : "");
            return -1;
        }
        return 0;
    }
    *error_r = iq_xasprintf("unknown report filter '--%s'", option);
    return -1;
}

int iq_report_shell_quote(iq_buf *b, const char *s)
{
    bool plain = *s != '\0';
    for (const char *p = s; *p && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                strchr("@%+=:,./_-", *p) != NULL;
    if (plain)
        return iq_buf_append_str(b, s);
    if (iq_buf_append_char(b, '\'') < 0)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p == '\'' ? iq_buf_append_str(b, "'\\''") < 0 : iq_buf_append_char(b, *p) < 0)
            return -1;
    }
    return iq_buf_append_char(b, '\'');
}

char *iq_report_filters_args(const iq_report_filters *f)
{
    /* Every append fits: a name filter is at most 255 bytes (iq_report_filters_set and the job
     * schema refuse longer ones), quoted at most 4 times that, and the cap is 1 MiB. */
    iq_buf b;
    iq_buf_init(&b, (size_t)1 << 20);
    IQ_IGNORE_RESULT(iq_buf_append_str(&b, "")); /* "" when there are no filters */
    if (f->name && *f->name) {
        IQ_IGNORE_RESULT(iq_buf_append_str(&b, "--name "));
        IQ_IGNORE_RESULT(iq_report_shell_quote(&b, f->name));
    }
    for (size_t i = 0; i < IQ_ARRAY_LEN(filter_options); i++) {
        int v = iq_report_filter_value(f, i);
        if (v >= 0)
            IQ_IGNORE_RESULT(iq_buf_appendf(&b, "%s--%s %s", b.len ? " " : "", filter_options[i],
                                            v ? "yes" : "no"));
    }
    if (f->last_check >= 0)
        IQ_IGNORE_RESULT(iq_buf_appendf(&b, "%s--last-check %s", b.len ? " " : "",
                                        iq_last_check_name(f->last_check)));
    return iq_buf_detach(&b, NULL);
}

/* ---- SQL ---- */
