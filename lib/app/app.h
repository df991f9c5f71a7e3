/* SPDX-License-Identifier: MIT */
/* What every program does first: the common options (--config, --check-config, --help,
 * --version, --log-level, --log-format), configuration loading and service checks. */
#ifndef IQ_APP_H
#define IQ_APP_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "pg.h"
#include "util.h"

typedef struct iq_app {
    const char *program;   /* "inboxq-worker" */
    const char *component; /* "worker" */
    const char *config_path;
    const char *log_level;  /* from the command line, overrides the setting */
    const char *log_format; /* idem */
    bool check_config;
    bool help;
    bool version;
    bool quiet; /* interactive tool: log warnings and errors only unless configured */
    iq_config *cfg;
} iq_app;

enum { IQ_NEED_PG = 1, IQ_NEED_KAFKA = 2, IQ_NEED_REDIS = 4 };

/* Handles one common option from getopt_long (opt is the value returned). Returns 1 when
 * it was a common option, 0 when it is the caller's. The caller's long options table must
 * include IQ_APP_LONG_OPTIONS. */
int iq_app_option(iq_app *app, int opt, const char *arg);
#define IQ_APP_OPT_CONFIG 1001
#define IQ_APP_OPT_CHECK 1002
#define IQ_APP_OPT_VERSION 1003
#define IQ_APP_OPT_LOG_LEVEL 1004
#define IQ_APP_OPT_LOG_FORMAT 1005
#define IQ_APP_LONG_OPTIONS                                                                        \
    {"config", required_argument, NULL, IQ_APP_OPT_CONFIG},                                        \
        {"check-config", no_argument, NULL, IQ_APP_OPT_CHECK},                                     \
        {"version", no_argument, NULL, IQ_APP_OPT_VERSION},                                        \
        {"log-level", required_argument, NULL, IQ_APP_OPT_LOG_LEVEL},                              \
        {"log-format", required_argument, NULL, IQ_APP_OPT_LOG_FORMAT},                            \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }
#define IQ_APP_OPTIONS_HELP                                                                        \
    "  --config FILE       read settings from FILE (name = value lines)\n"                         \
    "  --check-config      validate the settings, reach the services, and exit\n"                  \
    "  --log-level LEVEL   debug, info, warn or error\n"                                           \
    "  --log-format FMT    text or json\n"                                                         \
    "  --version           print the version and exit\n"                                           \
    "  -h, --help          print this help and exit\n"

/* Loads defaults, the --config file and the environment, then sets up logging on stderr.
 * Returns 0, or an exit code after printing one line to stderr. */
int iq_app_load(iq_app *app);
/* Makes the process not dumpable and its core limit 0 unless allow (iq_app_load does it from
 * the core_dumps setting). */
void iq_app_no_core_dumps(bool allow);
/* Reaches each needed service within its timeout; prints one line per failure.
 * Returns 0, EX_CONFIG or EX_UNAVAILABLE. */
int iq_app_check_services(iq_app *app, unsigned needs, FILE *out);
void iq_app_release(iq_app *app);
/* Connects to PostgreSQL with the configured DSN and timeout. 0, or after one line on stderr
 * EX_CONFIG (malformed DSN) or EX_UNAVAILABLE. */
int iq_app_connect_pg(iq_app *app, PGconn **c_r);
/* Prints "program: message" on stderr (one line). */
void iq_app_error(const iq_app *app, const char *fmt, ...) IQ_PRINTF(2, 3);
/* After getopt_long returned '?' or ':' (with opterr = 0): one line naming the option. */
void iq_app_bad_option(const iq_app *app, char **argv);
/* Prints the version line. */
void iq_app_print_version(const iq_app *app);

struct option;
/* A daemon's command line: getopt_long over opts (which include IQ_APP_LONG_OPTIONS); the
 * common options go to the app, the others to on_option (false: not an option it takes). Then
 * --help prints usage on stdout and --version the version, and no argument may be left over.
 * Returns -1 to go on, or the exit code: 0 after --help or --version, EX_USAGE otherwise. */
int iq_app_parse_daemon(iq_app *app, int argc, char **argv, const struct option *opts,
                        bool (*on_option)(void *ctx, int opt, const char *arg), void *ctx,
                        void (*usage)(FILE *out));

#endif
