/* SPDX-License-Identifier: MIT */
/* Levelled text/JSON logging with per-thread context and secret redaction. */
#include "log.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "buf.h"

static struct {
    const char *component;
    iq_log_level level;
    iq_log_format format;
    FILE *out;
    pthread_mutex_t lock;
} g_log = {"inboxq", IQ_LOG_OFF, IQ_LOG_TEXT, NULL, PTHREAD_MUTEX_INITIALIZER};

static _Thread_local struct {
    char job_id[64];
    int64_t account_id;
    char error_class[32];
} t_ctx;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void iq_log_setup(const char *component, iq_log_level level, iq_log_format format, FILE *out)
{
    pthread_mutex_lock(&g_log.lock);
    g_log.component = component;
    g_log.level = out ? level : IQ_LOG_OFF;
    g_log.format = format;
    g_log.out = out;
    pthread_mutex_unlock(&g_log.lock);
}

int iq_log_level_parse(const char *s, iq_log_level *level_r)
{
    for (size_t i = 0; i < IQ_ARRAY_LEN(level_names); i++)
        if (strcasecmp(s, level_names[i]) == 0) {
            *level_r = (iq_log_level)i;
            return 0;
        }
    if (strcasecmp(s, "warning") == 0) {
        *level_r = IQ_LOG_WARN;
        return 0;
    }
    return -1;
}

int iq_log_format_parse(const char *s, iq_log_format *format_r)
{
    if (strcasecmp(s, "text") == 0)
        *format_r = IQ_LOG_TEXT;
    else if (strcasecmp(s, "json") == 0)
        *format_r = IQ_LOG_JSON;
    else
        return -1;
    return 0;
}

bool iq_log_enabled(iq_log_level level)
{
    return level >= g_log.level && g_log.level != IQ_LOG_OFF;
}

void iq_log_ctx_set(const char *job_id, int64_t account_id)
{
    snprintf(t_ctx.job_id, sizeof(t_ctx.job_id), "%s", job_id ? job_id : "");
    t_ctx.account_id = account_id;
    t_ctx.error_class[0] = '\0';
}

void iq_log_ctx_error_class(const char *error_class)
{
    snprintf(t_ctx.error_class, sizeof(t_ctx.error_class), "%s", error_class ? error_class : "");
}

/* Masks from p up to the end of a libpq keyword value: a quoted one to its closing quote (a
 * backslash escapes the next character), else to the next white space. */
static void mask_value(char *p)
{
    if (*p == '\'') {
        for (p++; *p && *p != '\''; p++) {
            if (*p == '\\' && p[1])
                *p++ = '*';
            *p = '*';
        }
        return;
    }
    while (*p && !isspace((unsigned char)*p))
        *p++ = '*';
}

char *iq_conninfo_mask(char *s)
{
    /* keyword form: password=VALUE */
    for (char *p = s; (p = strcasestr(p, "password")) != NULL; p += 8) {
        char *v = p + 8;
        /* libpq skips any white space around '=' (isspace: tabs and newlines too) */
        while (isspace((unsigned char)*v))
            v++;
        if (*v != '=')
            continue;
        for (v++; isspace((unsigned char)*v);)
            v++;
        mask_value(v);
    }
    /* URL form: scheme://user:password@host. The password may hold '/', '@' or spaces as
     * typed, so the user information runs to the last '@'. */
    char *scheme = strstr(s, "://");
    if (scheme) {
        char *user = scheme + 3;
        char *at = strrchr(user, '@');
        char *colon = at ? memchr(user, ':', (size_t)(at - user)) : NULL;
        if (colon)
            memset(colon + 1, '*', (size_t)(at - colon - 1));
    }
    return s;
}

/* A message's text takes at most LOG_MSG_MAX bytes (a longer one is replaced by a note), and
 * the line around it always fits: JSON escapes a byte to at most 6 ("\u001f"), and the rest
 * (time, level, component, job, account, error class) takes far less than the 4 KiB left. */
#define LOG_MSG_MAX (16 * 1024)
#define LOG_LINE_MAX (6 * LOG_MSG_MAX + 4096)

static int json_escape(iq_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;
        switch (*p) {
        case '"':
            rc = iq_buf_append_str(b, "\\\"");
            break;
        case '\\':
            rc = iq_buf_append_str(b, "\\\\");
            break;
        case '\n':
            rc = iq_buf_append_str(b, "\\n");
            break;
        case '\r':
            rc = iq_buf_append_str(b, "\\r");
            break;
        case '\t':
            rc = iq_buf_append_str(b, "\\t");
            break;
        default:
            rc = *p < 0x20 ? iq_buf_appendf(b, "\\u%04x", *p) : iq_buf_append_char(b, (char)*p);
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* One JSON object per line: time, level, component, the thread's context, the message. */
static int format_json(iq_buf *line, const char *ts, iq_log_level level, const char *msg)
{
    if (iq_buf_appendf(line, "{\"time\":\"%s\",\"level\":\"%s\",\"component\":\"", ts,
                       level_names[level]) < 0 ||
        json_escape(line, g_log.component) < 0 || iq_buf_append_char(line, '"') < 0)
        return -1;
    if (t_ctx.job_id[0] &&
        (iq_buf_append_str(line, ",\"job_id\":\"") < 0 || json_escape(line, t_ctx.job_id) < 0 ||
         iq_buf_append_char(line, '"') < 0))
        return -1;
    if (t_ctx.account_id > 0 &&
        iq_buf_appendf(line, ",\"account_id\":%lld", (long long)t_ctx.account_id) < 0)
        return -1;
    if (t_ctx.error_class[0] &&
        iq_buf_appendf(line, ",\"error_class\":\"%s\"", t_ctx.error_class) < 0)
        return -1;
    if (iq_buf_append_str(line, ",\"message\":\"") < 0 || json_escape(line, msg) < 0 ||
        iq_buf_append_str(line, "\"}\n") < 0)
        return -1;
    return 0;
}

/* "TIME COMPONENT LEVEL: [job J] [account A] MESSAGE". */
static int format_text(iq_buf *line, const char *ts, iq_log_level level, const char *msg)
{
    if (iq_buf_appendf(line, "%s %s %s:", ts, g_log.component, level_names[level]) < 0)
        return -1;
    if (t_ctx.job_id[0] && iq_buf_appendf(line, " [job %s]", t_ctx.job_id) < 0)
        return -1;
    if (t_ctx.account_id > 0 &&
        iq_buf_appendf(line, " [account %lld]", (long long)t_ctx.account_id) < 0)
        return -1;
    return iq_buf_appendf(line, " %s\n", msg);
}

static int format_line(iq_buf *line, const char *ts, iq_log_level level, const char *msg)
{
    iq_buf_reset(line);
    return g_log.format == IQ_LOG_JSON ? format_json(line, ts, level, msg)
                                       : format_text(line, ts, level, msg);
}

void iq_log_write(iq_log_level level, const char *fmt, ...)
{
    static const char too_long[] = "(log message too long, dropped)";
    if (!iq_log_enabled(level))
        return;
    iq_buf msg;
    iq_buf_init(&msg, LOG_MSG_MAX);
    va_list ap;
    va_start(ap, fmt);
    int rc = iq_buf_vappendf(&msg, fmt, ap);
    va_end(ap);

    char ts[40];
    iq_format_time_utc(iq_now_real_ms(), ts, sizeof(ts));
    iq_buf line;
    iq_buf_init(&line, LOG_LINE_MAX);
    const char *text = rc == 0 ? (msg.data ? msg.data : "") : too_long;
    if (format_line(&line, ts, level, text) < 0 && format_line(&line, ts, level, too_long) < 0)
        iq_buf_release(&line); /* not even that fits (a huge component name): write nothing */
    pthread_mutex_lock(&g_log.lock);
    if (g_log.out && line.data) {
        fwrite(line.data, 1, line.len, g_log.out);
        fflush(g_log.out);
    }
    pthread_mutex_unlock(&g_log.lock);
    iq_buf_release(&line);
    iq_buf_release(&msg);
}
