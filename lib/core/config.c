/* SPDX-License-Identifier: MIT */
/* The settings table and its loaders (defaults, file, environment). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "util.h"

#define KB 1024LL
#define MB (1024LL * 1024)
#define GB (1024LL * 1024 * 1024)
#define SEC 1000LL
#define DAY (86400LL * 1000)

/* clang-format off */
static const iq_setting_def defs[IQ_SET__COUNT] = {
    {IQ_SET_PG_DSN, "pg_dsn", "INBOXQ_PG_DSN", IQ_CT_STRING,
     "host=127.0.0.1 port=5432 dbname=inboxq user=inboxq", 0, 0, NULL, true,
     "PostgreSQL connection string (libpq key=value or postgresql:// URI)"},
    {IQ_SET_PG_CONNECT_TIMEOUT, "pg_connect_timeout", "INBOXQ_PG_CONNECT_TIMEOUT", IQ_CT_DURATION,
     "5s", 1 * SEC, 300 * SEC, NULL, false, "how long to wait for PostgreSQL to accept a connection"},
    {IQ_SET_KAFKA_BROKERS, "kafka_brokers", "INBOXQ_KAFKA_BROKERS", IQ_CT_STRING,
     "127.0.0.1:9092", 0, 0, NULL, false, "Kafka bootstrap servers, comma separated"},
    {IQ_SET_KAFKA_SESSION_TIMEOUT, "kafka_session_timeout", "INBOXQ_KAFKA_SESSION_TIMEOUT",
     IQ_CT_DURATION, "10s", 6 * SEC, 300 * SEC, NULL, false,
     "consumer group session timeout (how soon a dead worker's partitions move)"},
    {IQ_SET_KAFKA_FETCH_WAIT, "kafka_fetch_wait", "INBOXQ_KAFKA_FETCH_WAIT", IQ_CT_DURATION,
     "100ms", 1, 10 * SEC, NULL, false, "longest a broker holds an empty fetch (lower = lower latency)"},
    {IQ_SET_KAFKA_TIMEOUT, "kafka_timeout", "INBOXQ_KAFKA_TIMEOUT", IQ_CT_DURATION,
     "10s", 1 * SEC, 300 * SEC, NULL, false, "how long to wait for Kafka to confirm a delivery"},
    {IQ_SET_TOPIC_CHECK, "topic_check", "INBOXQ_TOPIC_CHECK", IQ_CT_STRING,
     "inboxq.jobs.check", 0, 0, NULL, false, "topic of check jobs"},
    {IQ_SET_TOPIC_REPORT, "topic_report", "INBOXQ_TOPIC_REPORT", IQ_CT_STRING,
     "inboxq.jobs.report", 0, 0, NULL, false, "topic of report jobs"},
    {IQ_SET_TOPIC_NEW_MAIL, "topic_new_mail", "INBOXQ_TOPIC_NEW_MAIL", IQ_CT_STRING,
     "inboxq.events.new-mail", 0, 0, NULL, false, "topic of new-mail events"},
    {IQ_SET_TOPIC_DEAD, "topic_dead", "INBOXQ_TOPIC_DEAD", IQ_CT_STRING,
     "inboxq.jobs.dead", 0, 0, NULL, false, "dead-letter topic for jobs that can never succeed"},
    {IQ_SET_CONSUMER_GROUP, "consumer_group", "INBOXQ_CONSUMER_GROUP", IQ_CT_STRING,
     "inboxq-workers", 0, 0, NULL, false, "Kafka consumer group of the workers"},
    {IQ_SET_REDIS_URL, "redis_url", "INBOXQ_REDIS_URL", IQ_CT_STRING,
     "redis://127.0.0.1:6379", 0, 0, NULL, true,
     "Redis for the inbox cache (redis://[:password@]host:port[/db]); empty disables the cache"},
    {IQ_SET_REDIS_TIMEOUT, "redis_timeout", "INBOXQ_REDIS_TIMEOUT", IQ_CT_DURATION,
     "500ms", 10, 60 * SEC, NULL, false, "Redis connect and command timeout"},
    {IQ_SET_INBOX_CACHE_SIZE, "inbox_cache_size", "INBOXQ_INBOX_CACHE_SIZE", IQ_CT_INT,
     "200", 1, 100000, NULL, false, "messages kept in each account's cached inbox listing"},
    {IQ_SET_MASTER_KEY_FILE, "master_key_file", "INBOXQ_MASTER_KEY_FILE", IQ_CT_PATH,
     "", 0, 0, NULL, false, "file with the 32-byte vault master key (make one with 'inboxq keygen')"},
    {IQ_SET_MASTER_KEY_PREVIOUS_FILE, "master_key_previous_file", "INBOXQ_MASTER_KEY_PREVIOUS_FILE",
     IQ_CT_STRING, "", 0, 0, NULL, false,
     "earlier master key files, comma-separated, that only open secrets (a rekey's rolling "
     "restart); master_key_file seals"},
    {IQ_SET_CA_FILE, "ca_file", "INBOXQ_CA_FILE", IQ_CT_PATH,
     "", 0, 0, NULL, false, "PEM CA bundle for mail server certificates; empty = system store"},
    {IQ_SET_DNS_TIMEOUT, "dns_timeout", "INBOXQ_DNS_TIMEOUT", IQ_CT_DURATION,
     "5s", 100, 120 * SEC, NULL, false, "host name resolution timeout"},
    {IQ_SET_CONNECT_TIMEOUT, "connect_timeout", "INBOXQ_CONNECT_TIMEOUT", IQ_CT_DURATION,
     "10s", 100, 300 * SEC, NULL, false, "TCP connect timeout (mail server or connector)"},
    {IQ_SET_READ_TIMEOUT, "read_timeout", "INBOXQ_READ_TIMEOUT", IQ_CT_DURATION,
     "30s", 100, 600 * SEC, NULL, false, "longest wait for any single read from a mail server"},
    {IQ_SET_CHECK_TIMEOUT, "check_timeout", "INBOXQ_CHECK_TIMEOUT", IQ_CT_DURATION,
     "10m", 1 * SEC, DAY, NULL, false, "overall deadline of one check"},
    {IQ_SET_LOW_SPEED_LIMIT, "low_speed_limit", "INBOXQ_LOW_SPEED_LIMIT", IQ_CT_SIZE,
     "10", 0, 1 * GB, NULL, false,
     "bytes a second a mail server must send while the check waits (over low_speed_time), or the check ends with timeout; 0 = off"},
    {IQ_SET_LOW_SPEED_TIME, "low_speed_time", "INBOXQ_LOW_SPEED_TIME", IQ_CT_DURATION,
     "60s", 1 * SEC, DAY, NULL, false, "the waiting time over which low_speed_limit is measured"},
    {IQ_SET_MAX_LINE, "max_line", "INBOXQ_MAX_LINE", IQ_CT_SIZE,
     "1M", 1 * KB, 64 * MB, NULL, false, "longest protocol line or response accepted from a server"},
    {IQ_SET_MAX_MESSAGE, "max_message", "INBOXQ_MAX_MESSAGE", IQ_CT_SIZE,
     "64M", 1 * KB, 1 * GB, NULL, false, "largest message fetched; larger ones are recorded and skipped"},
    {IQ_SET_MAX_CHECK_BYTES, "max_check_bytes", "INBOXQ_MAX_CHECK_BYTES", IQ_CT_SIZE,
     "1G", 1 * KB, 64 * GB, NULL, false, "most bytes one check reads; the rest waits for the next check"},
    {IQ_SET_MAX_CHECK_MEMORY, "max_check_memory", "INBOXQ_MAX_CHECK_MEMORY", IQ_CT_SIZE,
     "128M", 16 * MB, 16 * GB, NULL, false,
     "most memory one check may hold for what a server sends, whatever it announces"},
    {IQ_SET_FETCH_BATCH, "fetch_batch", "INBOXQ_FETCH_BATCH", IQ_CT_INT,
     "100", 1, 10000, NULL, false, "messages fetched and stored per PostgreSQL transaction"},
    {IQ_SET_CONCURRENCY, "concurrency", "INBOXQ_CONCURRENCY", IQ_CT_INT,
     "4", 1, 1024, NULL, false, "jobs a worker process runs at once"},
    {IQ_SET_SHUTDOWN_GRACE, "shutdown_grace", "INBOXQ_SHUTDOWN_GRACE", IQ_CT_DURATION,
     "20s", 0, 3600 * SEC, NULL, false, "how long a stopping worker waits for running jobs; then it abandons them (they run again elsewhere) and leaves. Keep it below the service manager's stop timeout"},
    {IQ_SET_RETRY_MAX, "retry_max", "INBOXQ_RETRY_MAX", IQ_CT_INT,
     "5", 0, 100, NULL, false, "retries of a transiently failing job before it waits for its next turn"},
    {IQ_SET_SCHEDULER_TICK, "scheduler_tick", "INBOXQ_SCHEDULER_TICK", IQ_CT_DURATION,
     "1s", 10, 600 * SEC, NULL, false, "how often the scheduler looks for due checks and reports"},
    {IQ_SET_SCHEDULER_BATCH, "scheduler_batch", "INBOXQ_SCHEDULER_BATCH", IQ_CT_INT,
     "1000", 1, 100000, NULL, false, "due accounts claimed per scheduler transaction"},
    {IQ_SET_LOG_LEVEL, "log_level", "INBOXQ_LOG_LEVEL", IQ_CT_ENUM,
     "info", 0, 0, "debug|info|warn|error", false, "lowest level logged"},
    {IQ_SET_LOG_FORMAT, "log_format", "INBOXQ_LOG_FORMAT", IQ_CT_ENUM,
     "text", 0, 0, "text|json", false, "log line format"},
    {IQ_SET_SCHEDULER_JITTER_MAX, "scheduler_jitter_max", "INBOXQ_SCHEDULER_JITTER_MAX",
     IQ_CT_DURATION, "5m", 0, 3600 * SEC, NULL, false,
     "largest random shift of an account's next check (also at most 10% of its interval), so "
     "accounts with one interval spread out"},
    {IQ_SET_SCHEDULER_BACKOFF_MAX, "scheduler_backoff_max", "INBOXQ_SCHEDULER_BACKOFF_MAX",
     IQ_CT_DURATION, "1h", 1 * SEC, 7 * DAY, NULL, false,
     "longest gap the scheduler puts between checks of a failing account (the interval doubles "
     "per failure in a row; never shorter than the interval)"},
    {IQ_SET_SCHEDULER_AUTH_BACKOFF_MAX, "scheduler_auth_backoff_max",
     "INBOXQ_SCHEDULER_AUTH_BACKOFF_MAX", IQ_CT_DURATION, "6h", 1 * SEC, 7 * DAY, NULL, false,
     "scheduler_backoff_max for accounts whose last check failed to log in (long waits avoid "
     "server-side account lockouts)"},
    {IQ_SET_REDIS_KEY_PREFIX, "redis_key_prefix", "INBOXQ_REDIS_KEY_PREFIX", IQ_CT_STRING,
     "inboxq:", 0, 0, NULL, false,
     "prefix of every Redis key (inbox listings are PREFIXinbox:ID); give deployments that share "
     "one Redis different prefixes"},
    {IQ_SET_REPORT_SWEEP_AFTER, "report_sweep_after", "INBOXQ_REPORT_SWEEP_AFTER", IQ_CT_DURATION,
     "5m", 1 * SEC, 7 * DAY, NULL, false,
     "how long a report may stay pending (or running on a worker that stopped heartbeating) "
     "after its job was last published before the scheduler publishes the job again (never "
     "sooner than kafka_timeout + 2s)"},
    {IQ_SET_REPORT_SWEEP_ATTEMPTS, "report_sweep_attempts", "INBOXQ_REPORT_SWEEP_ATTEMPTS",
     IQ_CT_INT, "3", 0, 100, NULL, false,
     "times the scheduler publishes a stuck report's job again before it marks the report failed"},
    {IQ_SET_CORE_DUMPS, "core_dumps", "INBOXQ_CORE_DUMPS", IQ_CT_BOOL,
     "false", 0, 0, NULL, false,
     "let the programs dump core when they crash (for debugging only: a core holds the passwords "
     "and keys of the checks in flight; off, a process is not dumpable)"},
    {IQ_SET_MAX_PUSH_CONNECTIONS, "max_push_connections", "INBOXQ_MAX_PUSH_CONNECTIONS", IQ_CT_INT,
     "1000", 0, 1000000, NULL, false,
     "IMAP IDLE connections a worker holds at most for the push accounts of its partitions "
     "(0 = no push: every account polls); past it, accounts poll"},
    {IQ_SET_PUSH_OPEN_RATE, "push_open_rate", "INBOXQ_PUSH_OPEN_RATE", IQ_CT_INT,
     "20", 1, 10000, NULL, false,
     "IDLE connections a worker opens per second at most (no login storm after a rebalance)"},
    {IQ_SET_PUSH_IDLE_RENEW, "push_idle_renew", "INBOXQ_PUSH_IDLE_RENEW", IQ_CT_DURATION,
     "25m", 1 * SEC, 29 * 60 * SEC, NULL, false,
     "IDLE is ended and issued again this often (RFC 2177: before the server's 30-minute "
     "inactivity timeout)"},
    {IQ_SET_PUSH_REFRESH, "push_refresh", "INBOXQ_PUSH_REFRESH", IQ_CT_DURATION,
     "15s", 1 * SEC, 3600 * SEC, NULL, false,
     "how often a worker re-reads which accounts of its partitions want push (new, edited, "
     "deleted accounts)"},
};
/* clang-format on */

struct iq_config {
    char *str[IQ_SET__COUNT];
    int64_t num[IQ_SET__COUNT];
    char *origin[IQ_SET__COUNT];
};

static const char *type_hint(const iq_setting_def *d)
{
    switch (d->type) {
    case IQ_CT_DURATION:
        return "a duration such as 500ms, 30s, 5m, 1h or 1d";
    case IQ_CT_SIZE:
        return "a size such as 4096, 64k, 10M or 1G";
    case IQ_CT_INT:
        return "a whole number";
    case IQ_CT_BOOL:
        return "yes or no";
    case IQ_CT_ENUM:
        return "one of the listed values";
    case IQ_CT_STRING:
    case IQ_CT_PATH:
        return "text";
    }
    return "a value";
}

static char *bad_value(const iq_setting_def *d, const char *value, const char *origin,
                       const char *why)
{
    if (d->secret)
        value = "(hidden)";
    if (d->type == IQ_CT_ENUM)
        return iq_xasprintf("setting %s (%s, from %s) = '%s': %s; use one of %s", d->name, d->env,
                            origin, value, why, d->choices);
    if (d->type == IQ_CT_INT || d->type == IQ_CT_DURATION || d->type == IQ_CT_SIZE) {
        char lo[32], hi[32];
        if (d->type == IQ_CT_DURATION) {
            iq_format_duration(d->min, lo, sizeof(lo));
            iq_format_duration(d->max, hi, sizeof(hi));
        } else {
            snprintf(lo, sizeof(lo), "%lld", (long long)d->min);
            snprintf(hi, sizeof(hi), "%lld", (long long)d->max);
        }
        return iq_xasprintf("setting %s (%s, from %s) = '%s': %s; use %s from %s to %s", d->name,
                            d->env, origin, value, why, type_hint(d), lo, hi);
    }
    return iq_xasprintf("setting %s (%s, from %s) = '%s': %s; use %s", d->name, d->env, origin,
                        value, why, type_hint(d));
}

static const iq_setting_def *find_def(const char *name)
{
    for (size_t i = 0; i < IQ_SET__COUNT; i++)
        if (strcmp(defs[i].name, name) == 0 || strcmp(defs[i].env, name) == 0)
            return &defs[i];
    return NULL;
}

static int store(iq_config *cfg, const iq_setting_def *d, const char *value, const char *origin,
                 char **error_r)
{
    int64_t num = 0;
    switch (d->type) {
    case IQ_CT_INT:
        if (iq_parse_i64(value, d->min, d->max, &num) < 0) {
            *error_r = bad_value(d, value, origin, "not a whole number in range");
            return -1;
        }
        break;
    case IQ_CT_DURATION:
        if (iq_parse_duration_ms(value, &num) < 0 || num < d->min || num > d->max) {
            *error_r = bad_value(d, value, origin, "not a duration in range");
            return -1;
        }
        break;
    case IQ_CT_SIZE: {
        uint64_t b;
        if (iq_parse_size(value, &b) < 0 || b < (uint64_t)d->min || b > (uint64_t)d->max) {
            *error_r = bad_value(d, value, origin, "not a size in range");
            return -1;
        }
        num = (int64_t)b;
        break;
    }
    case IQ_CT_BOOL: {
        bool v;
        if (iq_parse_bool(value, &v) < 0) {
            *error_r = bad_value(d, value, origin, "not yes or no");
            return -1;
        }
        num = v;
        break;
    }
    case IQ_CT_ENUM: {
        size_t vlen = strlen(value);
        bool ok = false;
        for (const char *c = d->choices; *c;) {
            size_t n = strcspn(c, "|");
            if (n == vlen && strncmp(c, value, n) == 0)
                ok = true;
            c += n + (c[n] == '|');
        }
        if (!ok) {
            *error_r = bad_value(d, value, origin, "unknown value");
            return -1;
        }
        break;
    }
    case IQ_CT_STRING:
    case IQ_CT_PATH:
        if (strchr(value, '\n') || strchr(value, '\r')) {
            *error_r = bad_value(d, value, origin, "contains a line break");
            return -1;
        }
        break;
    }
    iq_secret_free(&cfg->str[d->id]);
    free(cfg->origin[d->id]);
    cfg->str[d->id] = iq_xstrdup(value);
    cfg->num[d->id] = num;
    cfg->origin[d->id] = iq_xstrdup(origin);
    return 0;
}

iq_config *iq_config_new(void)
{
    iq_config *cfg = iq_xcalloc(1, sizeof(*cfg));
    for (size_t i = 0; i < IQ_SET__COUNT; i++) {
        char *err = NULL;
        if (store(cfg, &defs[i], defs[i].def, "default", &err) < 0) {
            /* A default that fails its own validation is a programming error. */
            fprintf(stderr, "inboxq: bad built-in default: %s\n", err);
            abort();
        }
    }
    return cfg;
}

void iq_config_free(iq_config **cfgp)
{
    iq_config *cfg = *cfgp;
    if (!cfg)
        return;
    for (size_t i = 0; i < IQ_SET__COUNT; i++) {
        iq_secret_free(&cfg->str[i]);
        free(cfg->origin[i]);
    }
    free(cfg);
    *cfgp = NULL;
}

int iq_config_set(iq_config *cfg, const char *name, const char *value, const char *origin,
                  char **error_r)
{
    const iq_setting_def *d = find_def(name);
    if (!d) {
        *error_r = iq_xasprintf("unknown setting '%s' (from %s); 'inboxq config reference' lists "
                                "every setting",
                                name, origin);
        return -1;
    }
    return store(cfg, d, value, origin, error_r);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

int iq_config_load_file(iq_config *cfg, const char *path, char **error_r)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        *error_r = iq_xasprintf("config file %s: %s; give an existing file with --config or "
                                "leave it out",
                                path, IQ_STRERROR(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = 0;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            *error_r = iq_xasprintf("config file %s:%d: expected 'name = value'", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        size_t vlen = strlen(value);
        if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
            value[vlen - 1] = '\0';
            value++;
        }
        char origin[512];
        snprintf(origin, sizeof(origin), "%s:%d", path, lineno);
        if (iq_config_set(cfg, key, value, origin, error_r) < 0) {
            rc = -1;
            break;
        }
    }
    if (line) {
        iq_secure_zero(line, cap);
        free(line);
    }
    fclose(f);
    return rc;
}

int iq_config_load_env(iq_config *cfg, char **error_r)
{
    for (size_t i = 0; i < IQ_SET__COUNT; i++) {
        const char *v = getenv(defs[i].env);
        if (!v)
            continue;
        char origin[96];
        snprintf(origin, sizeof(origin), "env %s", defs[i].env);
        if (store(cfg, &defs[i], v, origin, error_r) < 0)
            return -1;
    }
    return 0;
}

const char *iq_config_str(const iq_config *cfg, iq_setting_id id)
{
    return cfg->str[id];
}

int64_t iq_config_int(const iq_config *cfg, iq_setting_id id)
{
    return cfg->num[id];
}

bool iq_config_bool(const iq_config *cfg, iq_setting_id id)
{
    return cfg->num[id] != 0;
}

const char *iq_config_origin(const iq_config *cfg, iq_setting_id id)
{
    return cfg->origin[id];
}

const iq_setting_def *iq_config_defs(size_t *count_r)
{
    *count_r = IQ_SET__COUNT;
    return defs;
}

static const char *type_name(const iq_setting_def *d)
{
    static const char *const names[] = {"string", "path", "integer", "duration",
                                        "size",   "bool", "enum"};
    return names[d->type];
}

void iq_config_print_reference(FILE *out, bool markdown)
{
    if (markdown) {
        fprintf(out, "| setting | environment variable | type | default | description |\n");
        fprintf(out, "|---|---|---|---|---|\n");
    }
    for (size_t i = 0; i < IQ_SET__COUNT; i++) {
        const iq_setting_def *d = &defs[i];
        char type[96];
        if (d->type == IQ_CT_ENUM) {
            /* "a|b" reads as "a, b" (a bare | would split a Markdown table cell) */
            size_t o = 0;
            for (const char *c = d->choices; *c && o + 3 < sizeof(type); c++) {
                if (*c == '|') {
                    type[o++] = ',';
                    type[o++] = ' ';
                } else {
                    type[o++] = *c;
                }
            }
            type[o] = '\0';
        } else
            snprintf(type, sizeof(type), "%s", type_name(d));
        if (markdown)
            fprintf(out, "| `%s` | `%s` | %s | `%s` | %s |\n", d->name, d->env, type,
                    d->def[0] ? d->def : "(empty)", d->help);
        else
            fprintf(out, "%-22s %-30s %-10s %-22s %s\n", d->name, d->env, type,
                    d->def[0] ? d->def : "(empty)", d->help);
    }
}

void iq_config_print_effective(const iq_config *cfg, FILE *out)
{
    for (size_t i = 0; i < IQ_SET__COUNT; i++) {
        char *v = iq_xstrdup(cfg->str[i]);
        if (defs[i].secret)
            iq_conninfo_mask(v);
        fprintf(out, "%-22s = %-40s (%s)\n", defs[i].name, v, cfg->origin[i]);
        free(v);
    }
}
