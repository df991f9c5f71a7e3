/* SPDX-License-Identifier: MIT */
/* Common program start-up: options, configuration, logging, service checks. */
#include "app.h"

#include <getopt.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#include "exitcode.h"
#include "kafka.h"
#include "log.h"
#include "pg.h"
#include "redis.h"
#include "util.h"
#include "version.h"

int iq_app_option(iq_app *app, int opt, const char *arg)
{
    switch (opt) {
    case IQ_APP_OPT_CONFIG:
        app->config_path = arg;
        return 1;
    case IQ_APP_OPT_CHECK:
        app->check_config = true;
        return 1;
    case IQ_APP_OPT_VERSION:
        app->version = true;
        return 1;
    case IQ_APP_OPT_LOG_LEVEL:
        app->log_level = arg;
        return 1;
    case IQ_APP_OPT_LOG_FORMAT:
        app->log_format = arg;
        return 1;
    case 'h':
        app->help = true;
        return 1;
    default:
        return 0;
    }
}

void iq_app_error(const iq_app *app, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "%s: %s\n", app->program, msg);
}

void iq_app_bad_option(const iq_app *app, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    if (optopt && optopt < 256 && !(arg[0] == '-' && arg[1] == '-'))
        iq_app_error(app, "unknown option '-%c' or missing value; run '%s --help'", optopt,
                     app->program);
    else
        iq_app_error(app, "unknown option '%s' or missing value; run '%s --help'", arg,
                     app->program);
}

void iq_app_print_version(const iq_app *app)
{
    printf("%s %s\n", app->program, IQ_VERSION);
}

int iq_app_parse_daemon(iq_app *app, int argc, char **argv, const struct option *opts,
                        bool (*on_option)(void *ctx, int opt, const char *arg), void *ctx,
                        void (*usage)(FILE *out))
{
    int opt;
    opterr = 0; /* one clear line of our own instead of getopt's two */
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (!on_option(ctx, opt, optarg) && !iq_app_option(app, opt, optarg)) {
            iq_app_bad_option(app, argv);
            return EX_USAGE;
        }
    }
    if (app->help) {
        usage(stdout);
        return 0;
    }
    if (app->version) {
        iq_app_print_version(app);
        return 0;
    }
    if (optind < argc) {
        iq_app_error(app, "unexpected argument '%s'; run '%s --help'", argv[optind], app->program);
        return EX_USAGE;
    }
    return -1;
}

/* Passwords pass through libetpan's and OpenSSL's buffers, which we cannot wipe: unless the
 * core_dumps setting asks for them, the process is not dumpable (no core, no /proc/PID/mem for
 * other users) and its core size limit is 0. A sanitizer build keeps its reports. */
void iq_app_no_core_dumps(bool allow)
{
    if (allow)
        return;
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}

int iq_app_load(iq_app *app)
{
    char *err = NULL;
    app->cfg = iq_config_new();
    if (app->config_path && iq_config_load_file(app->cfg, app->config_path, &err) < 0)
        goto bad;
    if (iq_config_load_env(app->cfg, &err) < 0)
        goto bad;
    if (app->log_level &&
        iq_config_set(app->cfg, "log_level", app->log_level, "--log-level", &err) < 0)
        goto bad;
    if (app->log_format &&
        iq_config_set(app->cfg, "log_format", app->log_format, "--log-format", &err) < 0)
        goto bad;
    iq_log_level level = IQ_LOG_INFO;
    iq_log_format format = IQ_LOG_TEXT;
    iq_log_level_parse(iq_config_str(app->cfg, IQ_SET_LOG_LEVEL), &level);
    if (app->quiet && strcmp(iq_config_origin(app->cfg, IQ_SET_LOG_LEVEL), "default") == 0)
        level = IQ_LOG_WARN;
    iq_log_format_parse(iq_config_str(app->cfg, IQ_SET_LOG_FORMAT), &format);
    iq_log_setup(app->component, level, format, stderr);
    iq_app_no_core_dumps(iq_config_bool(app->cfg, IQ_SET_CORE_DUMPS));
    return 0;
bad:
    iq_app_error(app, "%s", err);
    free(err);
    iq_config_free(&app->cfg);
    return EX_CONFIG;
}

int iq_app_check_services(iq_app *app, unsigned needs, FILE *out)
{
    int rc = 0;
    char *err = NULL;
    if (needs & IQ_NEED_PG) {
        PGconn *c = NULL;
        iq_pg_status st =
            iq_pg_connect(iq_config_str(app->cfg, IQ_SET_PG_DSN),
                          iq_config_int(app->cfg, IQ_SET_PG_CONNECT_TIMEOUT), &c, &err);
        if (st != IQ_PG_OK) {
            iq_app_error(app, "%s", err);
            free(err);
            err = NULL;
            rc = st == IQ_PG_ERR_DSN ? EX_CONFIG : EX_UNAVAILABLE;
        } else if (out) {
            fprintf(out, "postgresql: ok (server %d)\n", PQserverVersion(c));
        }
        iq_pg_close(&c);
    }
    if (rc == 0 && (needs & IQ_NEED_KAFKA)) {
        iq_kafka_producer *p = iq_kafka_producer_new(app->cfg, &err);
        if (!p) {
            iq_app_error(app, "%s", err);
            rc = EX_CONFIG;
        } else if (iq_kafka_producer_ping(p, iq_config_int(app->cfg, IQ_SET_KAFKA_TIMEOUT), &err) <
                   0) {
            iq_app_error(app, "%s", err);
            rc = EX_UNAVAILABLE;
        } else if (out) {
            fprintf(out, "kafka: ok (%s)\n", iq_config_str(app->cfg, IQ_SET_KAFKA_BROKERS));
        }
        free(err);
        err = NULL;
        iq_kafka_producer_free(&p);
    }
    if (rc == 0 && (needs & IQ_NEED_REDIS) && *iq_config_str(app->cfg, IQ_SET_REDIS_URL)) {
        iq_redis *r = iq_redis_new(iq_config_str(app->cfg, IQ_SET_REDIS_URL),
                                   iq_config_int(app->cfg, IQ_SET_REDIS_TIMEOUT), &err);
        if (!r) {
            iq_app_error(app, "%s", err);
            rc = EX_CONFIG;
        } else if (iq_redis_ping(r, &err) < 0) {
            /* The cache is optional: a down Redis is degraded, not fatal. */
            iq_app_error(app, "warning: %s (the inbox cache is degraded; PostgreSQL serves)", err);
        } else if (out) {
            fprintf(out, "redis: ok\n");
        }
        free(err);
        err = NULL;
        iq_redis_free(&r);
    }
    if (rc == 0 && (needs & IQ_NEED_PG) == 0 && out)
        fprintf(out, "configuration: ok\n");
    return rc;
}

int iq_app_connect_pg(iq_app *app, PGconn **c_r)
{
    char *err = NULL;
    iq_pg_status st = iq_pg_connect(iq_config_str(app->cfg, IQ_SET_PG_DSN),
                                    iq_config_int(app->cfg, IQ_SET_PG_CONNECT_TIMEOUT), c_r, &err);
    if (st == IQ_PG_OK)
        return 0;
    iq_app_error(app, "%s", err);
    free(err);
    return st == IQ_PG_ERR_DSN ? EX_CONFIG : EX_UNAVAILABLE;
}

void iq_app_release(iq_app *app)
{
    iq_config_free(&app->cfg);
    iq_log_setup(app->component, IQ_LOG_OFF, IQ_LOG_TEXT, NULL);
}
