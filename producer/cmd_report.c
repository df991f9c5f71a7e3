/* SPDX-License-Identifier: MIT */
/* inboxq report: render the accounts report (CSV, HTML, PDF) into a file, and manage report
 * schedules ("Agendar relatório") that the scheduler turns into report jobs. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "audit.h"
#include "buf.h"
#include "cmd_entity.h"
#include "commands.h"
#include "cron.h"
#include "exitcode.h"
#include "i18n.h"
#include "pg.h"
#include "rules.h"
#include "report.h"
#include "report_escape.h"
#include "util.h"

/* What 'inboxq report' was asked to produce. */
typedef struct report_request {
    iq_report_format format;
    bool format_given;
    iq_lang lang;
    iq_report_filters filters;
    const char *output;
    bool direct;
    bool wait;
    int64_t timeout_ms;
    iq_csv_dialect csv_dialect; /* IQ_CSV_BY_LANG unless --csv-dialect */
} report_request;

enum {
    OPT_NAME = 1,
    OPT_FILTER_NAME,
    OPT_SECURE,
    OPT_AUTO,
    OPT_KEEP,
    OPT_ACTIVE,
    OPT_LAST_CHECK,
    OPT_FORMAT,
    OPT_LANG,
    OPT_OUTPUT,
    OPT_DIRECT,
    OPT_CRON,
    OPT_OUTPUT_DIR,
    OPT_WAIT,
    OPT_TIMEOUT,
    OPT_CSV_DIALECT,
};

static void usage(void)
{
    printf("usage: inboxq report --format csv|html|pdf [FILTERS] [--lang en|pt-BR] --output FILE "
           "--direct\n"
           "       inboxq report --format csv|html|pdf [FILTERS] [--lang en|pt-BR] [--wait "
           "[--timeout S] [--output FILE]]\n"
           "       inboxq report show ID\n"
           "       inboxq report get ID --output FILE\n"
           "       inboxq report schedule add --name NAME --cron \"m h dom mon dow\" --format "
           "csv|html|pdf\n"
           "                                  [SCHEDULE FILTERS] [--lang en|pt-BR] "
           "[--output-dir DIR]\n"
           "       inboxq report schedule list\n"
           "       inboxq report schedule delete ID|NAME\n\n"
           "Renders the accounts report (\"Configuração IMAP/POP3\"): CSV (RFC 4180, safe to open\n"
           "in a spreadsheet), print-ready HTML or PDF (A4 landscape, 30 rows a page).\n"
           "  --direct          render in this process instead of sending a job to the workers\n"
           "  --wait            (a job) wait until a worker rendered it; prints REPORT_ID JOB_ID\n"
           "                    first; --timeout S (default 300) bounds the wait\n"
           "  --output FILE     where to write (- for standard output); written to a temporary\n"
           "                    file, then renamed\n"
           "  --csv-dialect D   rfc4180 (comma) or excel-pt (UTF-8 byte-order mark and ';', for\n"
           "                    a spreadsheet in Portuguese); default: excel-pt with --lang pt-BR\n"
           "Times: the header says when, as YYYY-MM-DD HH:MM UTC (dd/mm/aaaa HH:MM UTC in\n"
           "pt-BR); JSON and machine output use RFC 3339 UTC (2026-11-28T18:02:01Z).\n"
           "FILTERS:\n"
           "  --name TEXT       accounts whose name contains TEXT (case-insensitive)\n"
           "  --secure, --auto-check, --keep-copy yes|no   filter on that setting\n"
           "  --active yes|no|all   active accounts only, inactive only, or all (default)\n"
           "  --last-check ok|failed|never   accounts whose last check succeeded, did not\n"
           "                    (failed or partial), or that were never checked\n"
           "SCHEDULE FILTERS: the same, with --filter-name TEXT for the name filter (--name\n"
           "names the schedule). Cron times are UTC: minute hour day-of-month month "
           "day-of-week,\n"
           "with *, lists, ranges, steps, jan-dec, sun-sat and @hourly @daily @weekly @monthly "
           "@yearly.\n");
}

static int bad_option(iq_app *app, const char *what, char **argv)
{
    iq_app_error(app, "report%s: unknown option '%s'; see 'inboxq report --help'", what,
                 argv[optind - 1]);
    return EX_USAGE;
}

static int missing_value(iq_app *app, const char *what, char **argv)
{
    iq_app_error(app, "report%s: option '%s' needs a value; see 'inboxq report --help'", what,
                 argv[optind - 1]);
    return EX_USAGE;
}

/* Handles the options report and schedule add share. Returns 0, or an exit code. */
static int common_option(iq_app *app, const char *what, int opt, const char *option,
                         const char *arg, report_request *req)
{
    char *err = NULL;
    const char *name = option;
    switch (opt) {
    case OPT_FILTER_NAME:
        name = "name";
        /* fall through */
    case OPT_SECURE:
    case OPT_AUTO:
    case OPT_KEEP:
    case OPT_ACTIVE:
    case OPT_LAST_CHECK:
        if (iq_report_filters_set(&req->filters, name, arg, &err) < 0) {
            if (opt == OPT_FILTER_NAME && strchr(err, ' '))
                iq_app_error(app, "report%s: --%s%s", what, option, strchr(err, ' '));
            else
                iq_app_error(app, "report%s: %s", what, err);
            free(err);
            return EX_USAGE;
        }
        return 0;
    case OPT_FORMAT:
        if (iq_report_format_parse(arg, &req->format) < 0 ||
            (req->format != IQ_REPORT_CSV && req->format != IQ_REPORT_HTML &&
             req->format != IQ_REPORT_PDF)) {
            iq_app_error(app, "report%s: --format must be csv, html or pdf, not '%s'", what, arg);
            return EX_USAGE;
        }
        req->format_given = true;
        return 0;
    case OPT_LANG:
        if (iq_lang_parse(arg, &req->lang) < 0) {
            iq_app_error(app, "report%s: --lang must be en or pt-BR, not '%s'", what, arg);
            return EX_USAGE;
        }
        return 0;
    default:
        return EX_SOFTWARE;
    }
}

/* ---- inboxq report ... --direct ---- */

/* Sending the report to the workers as a job. The cluster issue replaces the body with
 * iq_report_job_submit() (insert into reports, publish on inboxq.jobs.report). */
static int submit_job(iq_app *app, const report_request *req)
{
    return iq_report_job_submit(app, iq_report_format_name(req->format), iq_lang_tag(req->lang),
                                &req->filters, req->wait, req->timeout_ms, req->output);
}

/* --output -: the report on standard output, as it is rendered. */
static int render_stdout(iq_app *app, const report_request *req)
{
    PGconn *c = NULL;
    char *err = NULL;
    int rc = iq_app_connect_pg(app, &c);
    if (rc != 0)
        return rc;
    iq_report_stats st;
    iq_report_options o = {
        .format = req->format, .lang = iq_lang_tag(req->lang), .csv_dialect = req->csv_dialect};
    if (iq_report_render_opts(c, &req->filters, &o, stdout, &st, &err) < 0) {
        iq_app_error(app, "%s", err);
        rc = iq_pg_connection_lost(c) ? EX_UNAVAILABLE : ferror(stdout) ? EX_IOERR : EX_SOFTWARE;
    } else if (fflush(stdout) != 0) {
        iq_app_error(app, "report: writing to standard output failed");
        rc = EX_IOERR;
    }
    free(err);
    iq_pg_close(&c);
    return rc;
}

static int render_direct(iq_app *app, const report_request *req)
{
    if (strcmp(req->output, "-") == 0)
        return render_stdout(app, req);
    char *tmp = iq_xasprintf("%s.tmp.XXXXXX", req->output);
    char *err = NULL;
    PGconn *c = NULL;
    FILE *f = NULL;
    int rc = 0;
    /* Create the temporary file first: a bad path fails before any database work. */
    int fd = mkstemp(tmp);
    if (fd < 0) {
        iq_app_error(app,
                     "report: cannot create the output '%s' (%s); check that its directory "
                     "exists and is writable",
                     req->output, IQ_STRERROR(errno));
        free(tmp);
        return EX_CANTCREAT;
    }
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) < 0 || !(f = fdopen(fd, "wb"))) {
        iq_app_error(app, "report: cannot prepare '%s': %s", tmp, IQ_STRERROR(errno));
        close(fd);
        rc = EX_CANTCREAT;
        goto out;
    }
    rc = iq_app_connect_pg(app, &c);
    if (rc != 0)
        goto out;
    iq_report_stats st;
    iq_report_options o = {
        .format = req->format, .lang = iq_lang_tag(req->lang), .csv_dialect = req->csv_dialect};
    if (iq_report_render_opts(c, &req->filters, &o, f, &st, &err) < 0) {
        iq_app_error(app, "%s", err);
        rc = iq_pg_connection_lost(c) ? EX_UNAVAILABLE : ferror(f) ? EX_IOERR : EX_SOFTWARE;
        goto out;
    }
    if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
        iq_app_error(app, "report: writing '%s' failed: %s", tmp, IQ_STRERROR(errno));
        rc = EX_IOERR;
        goto out;
    }
    FILE *done = f;
    f = NULL;
    if (fclose(done) != 0) {
        iq_app_error(app, "report: writing '%s' failed: %s", tmp, IQ_STRERROR(errno));
        rc = EX_IOERR;
        goto out;
    }
    if (rename(tmp, req->output) < 0) {
        iq_app_error(app, "report: cannot create the output '%s': %s", req->output,
                     IQ_STRERROR(errno));
        rc = EX_CANTCREAT;
        goto out;
    }
    struct stat sb;
    printf("%s: %s report, %lld account%s, %lld page%s, %lld bytes\n", req->output,
           iq_report_format_name(req->format), (long long)st.rows, st.rows == 1 ? "" : "s",
           (long long)st.pages, st.pages == 1 ? "" : "s",
           stat(req->output, &sb) == 0 ? (long long)sb.st_size : -1LL);
out:
    if (f)
        fclose(f);
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    free(err);
    iq_pg_close(&c);
    return rc;
}

static int cmd_render(iq_app *app, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, OPT_FILTER_NAME},
        {"secure", required_argument, NULL, OPT_SECURE},
        {"auto-check", required_argument, NULL, OPT_AUTO},
        {"keep-copy", required_argument, NULL, OPT_KEEP},
        {"active", required_argument, NULL, OPT_ACTIVE},
        {"last-check", required_argument, NULL, OPT_LAST_CHECK},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"lang", required_argument, NULL, OPT_LANG},
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"direct", no_argument, NULL, OPT_DIRECT},
        {"wait", no_argument, NULL, OPT_WAIT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"csv-dialect", required_argument, NULL, OPT_CSV_DIALECT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    report_request req = {.format = IQ_REPORT_CSV, .timeout_ms = 300000};
    iq_report_filters_init(&req.filters);
    int opt, idx = -1, rc = 0;
    optind = 0;
    opterr = 0;
    while (rc == 0 && (opt = getopt_long(argc, argv, ":h", opts, &idx)) != -1) {
        const char *name = idx >= 0 ? opts[idx].name : "";
        idx = -1;
        switch (opt) {
        case OPT_OUTPUT:
            if (!*optarg) {
                iq_app_error(app, "report: --output needs a file name (or - for standard "
                                  "output)");
                rc = EX_USAGE;
            } else if (iq_output_is_dir(optarg)) {
                iq_app_error(app, "report: --output '%s' is a directory; give a file name in it",
                             optarg);
                rc = EX_CANTCREAT;
            }
            req.output = optarg;
            break;
        case OPT_DIRECT:
            req.direct = true;
            break;
        case OPT_WAIT:
            req.wait = true;
            break;
        case OPT_TIMEOUT:
            if (iq_parse_duration_ms(optarg, &req.timeout_ms) < 0 || req.timeout_ms <= 0) {
                iq_app_error(app,
                             "report: --timeout takes seconds or a duration like 2m, not "
                             "'%s'",
                             optarg);
                rc = EX_USAGE;
            }
            break;
        case OPT_CSV_DIALECT:
            if (iq_csv_dialect_parse(optarg, &req.csv_dialect) < 0) {
                iq_app_error(app, "report: --csv-dialect must be rfc4180 or excel-pt, not '%s'",
                             optarg);
                rc = EX_USAGE;
            }
            break;
        case 'h':
            usage();
            rc = -1;
            break;
        case ':':
            rc = missing_value(app, "", argv);
            break;
        case '?':
            rc = bad_option(app, "", argv);
            break;
        default:
            rc = common_option(app, "", opt, name, optarg, &req); /* --name is the filter */
            break;
        }
    }
    if (rc == 0 && optind < argc) {
        iq_app_error(app, "report: unexpected argument '%s'; see 'inboxq report --help'",
                     argv[optind]);
        rc = EX_USAGE;
    }
    if (rc == 0 && !req.format_given) {
        iq_app_error(app, "report: --format csv|html|pdf is required");
        rc = EX_USAGE;
    }
    if (rc == 0 && !req.direct && req.output && !req.wait) {
        iq_app_error(app, "report: --output with a job needs --wait (or use 'inboxq report get "
                          "ID --output FILE' later)");
        rc = EX_USAGE;
    }
    if (rc == 0 && req.csv_dialect != IQ_CSV_BY_LANG && req.format != IQ_REPORT_CSV) {
        iq_app_error(app, "report: --csv-dialect only applies to --format csv");
        rc = EX_USAGE;
    }
    /* a job's CSV follows its --lang (the job carries no dialect) */
    if (rc == 0 && !req.direct && req.csv_dialect != IQ_CSV_BY_LANG &&
        (req.csv_dialect == IQ_CSV_EXCEL_PT) != (req.lang == IQ_LANG_PT_BR)) {
        iq_app_error(app, "report: a job's CSV follows its --lang (pt-BR: excel-pt, en: rfc4180); "
                          "for another --csv-dialect, render it with --direct");
        rc = EX_USAGE;
    }
    if (rc == 0 && req.direct && !req.output) {
        iq_app_error(app, "report: --direct needs --output FILE (where to write the report)");
        rc = EX_USAGE;
    }
    if (rc == 0)
        rc = req.direct ? render_direct(app, &req) : submit_job(app, &req);
    iq_report_filters_release(&req.filters);
    return rc < 0 ? 0 : rc;
}

/* ---- inboxq report schedule ... ---- */

bool iq_report_schedule_text_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = iq_utf8_decode(s + i, n - i, &cp);
        if (len == 0 || cp < 0x20 || (cp >= 0x7F && cp < 0xA0))
            return false;
        i += len;
    }
    return true;
}

static void print_next_runs(const iq_cron *cron, int64_t from_ms, int n, const char *prefix)
{
    int64_t t = from_ms;
    for (int i = 0; i < n; i++) {
        t = iq_cron_next(cron, t);
        if (t < 0)
            break;
        char when[40];
        iq_report_format_time(t, when, sizeof(when));
        printf("%s%s\n", prefix, when);
    }
}

static int schedule_add(iq_app *app, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, OPT_NAME},
        {"filter-name", required_argument, NULL, OPT_FILTER_NAME},
        {"secure", required_argument, NULL, OPT_SECURE},
        {"auto-check", required_argument, NULL, OPT_AUTO},
        {"keep-copy", required_argument, NULL, OPT_KEEP},
        {"active", required_argument, NULL, OPT_ACTIVE},
        {"last-check", required_argument, NULL, OPT_LAST_CHECK},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"lang", required_argument, NULL, OPT_LANG},
        {"cron", required_argument, NULL, OPT_CRON},
        {"output-dir", required_argument, NULL, OPT_OUTPUT_DIR},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    report_request req = {.format = IQ_REPORT_CSV};
    iq_report_filters_init(&req.filters);
    const char *name = NULL, *cron_text = NULL, *output_dir = NULL;
    char *err = NULL;
    PGconn *c = NULL;
    json_t *filters = NULL;
    int opt, idx = -1, rc = 0;
    optind = 0;
    opterr = 0;
    while (rc == 0 && (opt = getopt_long(argc, argv, ":h", opts, &idx)) != -1) {
        const char *oname = idx >= 0 ? opts[idx].name : "";
        idx = -1;
        switch (opt) {
        case OPT_NAME:
            name = optarg;
            break;
        case OPT_CRON:
            cron_text = optarg;
            break;
        case OPT_OUTPUT_DIR:
            output_dir = optarg;
            break;
        case 'h':
            usage();
            rc = -1;
            break;
        case ':':
            rc = missing_value(app, " schedule add", argv);
            break;
        case '?':
            rc = bad_option(app, " schedule add", argv);
            break;
        default:
            rc = common_option(app, " schedule add", opt, oname, optarg, &req);
            break;
        }
    }
    if (rc != 0)
        goto out;
    if (optind < argc) {
        iq_app_error(app, "report schedule add: unexpected argument '%s'", argv[optind]);
        rc = EX_USAGE;
        goto out;
    }
    if (!name || !cron_text || !req.format_given) {
        iq_app_error(app, "report schedule add: --name, --cron and --format are required; e.g. "
                          "--name weekly --cron '0 6 * * 1' --format pdf");
        rc = EX_USAGE;
        goto out;
    }
    if (!iq_report_schedule_text_ok(name, IQ_SCHEDULE_NAME_MAX)) {
        iq_app_error(app,
                     "report schedule add: --name must be 1 to %d bytes of UTF-8 text "
                     "without control characters",
                     IQ_SCHEDULE_NAME_MAX);
        rc = EX_DATAERR;
        goto out;
    }
    iq_cron cron;
    if (iq_cron_parse(cron_text, &cron, &err) < 0) {
        iq_app_error(app, "report schedule add: --%s", err); /* "cron: ..." */
        rc = EX_DATAERR;
        goto out;
    }
    if (output_dir && (!iq_report_schedule_text_ok(output_dir, IQ_SCHEDULE_OUTPUT_DIR_MAX) ||
                       output_dir[0] != '/')) {
        iq_app_error(app, "report schedule add: --output-dir must be an absolute directory path "
                          "(where the worker writes the files)");
        rc = EX_DATAERR;
        goto out;
    }
    struct stat dir_st;
    if (output_dir && (stat(output_dir, &dir_st) < 0 || !S_ISDIR(dir_st.st_mode))) {
        iq_app_error(app,
                     "report schedule add: --output-dir %s is not a directory here; create it "
                     "first (the workers write the files there, so it must exist where they "
                     "run, writable by their user)",
                     output_dir);
        rc = EX_CANTCREAT;
        goto out;
    }
    filters = iq_msg_report_filters_new(&req.filters, &err);
    if (!filters) {
        iq_app_error(app, "report schedule add: %s", err);
        rc = EX_DATAERR;
        goto out;
    }
    int64_t now = iq_now_real_ms();
    rc = iq_app_connect_pg(app, &c);
    if (rc != 0)
        goto out;
    int64_t id = 0;
    iq_err st =
        iq_report_schedule_insert(c, name, cron_text, iq_report_format_name(req.format),
                                  iq_lang_tag(req.lang), filters, output_dir, now, &id, &err);
    if (st == IQ_ERR_INVALID) {
        iq_app_error(app,
                     "report schedule add: a schedule named '%s' already exists; pick "
                     "another --name or delete it first",
                     name);
        rc = EX_DATAERR;
    } else if (st != IQ_OK) {
        iq_app_error(app, "report schedule add: %s", err ? err : "database error");
        rc = iq_pg_connection_lost(c) ? EX_UNAVAILABLE : EX_SOFTWARE;
    } else {
        printf("%lld\n", (long long)id);
        print_next_runs(&cron, now, 3, "next run: ");
    }
out:
    json_decref(filters);
    free(err);
    iq_pg_close(&c);
    iq_report_filters_release(&req.filters);
    return rc < 0 ? 0 : rc;
}

iq_err iq_report_schedule_insert(PGconn *c, const char *name, const char *cron_text,
                                 const char *format, const char *lang, json_t *filters,
                                 const char *output_dir, int64_t now_ms, int64_t *id_r,
                                 char **error_r)
{
    iq_cron cron;
    if (iq_cron_parse(cron_text, &cron, error_r) < 0)
        return IQ_ERR_INVALID;
    char *filters_text = json_dumps(filters, JSON_COMPACT | JSON_SORT_KEYS);
    if (!filters_text)
        iq_oom();
    char next_text[40];
    iq_format_time_utc(iq_cron_next(&cron, now_ms), next_text, sizeof(next_text));
    const char *params[] = {name, cron_text, format, lang, filters_text, output_dir, next_text};
    json_t *fields = NULL, *changes = NULL;
    iq_err st = IQ_OK;
    if (iq_pg_begin(c, error_r) < 0) {
        st = iq_pg_connection_lost(c) ? IQ_ERR_UNAVAILABLE : IQ_ERR_FAILED;
        goto out;
    }
    PGresult *r = iq_pg_query(c,
                              "INSERT INTO report_schedules (name, cron, format, lang, filters, "
                              "output_dir, next_run_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, "
                              "$7::timestamptz) RETURNING id",
                              7, params, error_r);
    if (!r) {
        if (strcmp(iq_pg_last_sqlstate(), "23505") == 0) {
            iq_pg_rollback(c);
            free(*error_r);
            *error_r = iq_xasprintf("name: a schedule named '%s' already exists (names are "
                                    "compared ignoring case); choose another name or delete it "
                                    "first",
                                    name);
            st = IQ_ERR_INVALID;
            goto out;
        }
        goto db_error;
    }
    *id_r = iq_pg_i64(r, 0, 0);
    PQclear(r);
    fields = json_pack("{ss ss ss ss sO ss?}", "name", name, "cron", cron_text, "format", format,
                       "lang", lang, "filters", filters, "output_dir", output_dir);
    if (!fields)
        iq_oom();
    changes = iq_audit_diff(NULL, fields);
    if (iq_audit_write(c, "create", "schedule", *id_r, changes, error_r) < 0 ||
        iq_pg_commit(c, error_r) < 0)
        goto db_error;
    goto out;
db_error:
    iq_pg_rollback(c);
    st = iq_pg_connection_lost(c) ? IQ_ERR_UNAVAILABLE : IQ_ERR_FAILED;
out:
    json_decref(fields);
    json_decref(changes);
    free(filters_text);
    return st;
}

json_t *iq_report_schedule_list_json(PGconn *c, char **error_r)
{
    PGresult *r = iq_pg_query(c,
                              "SELECT coalesce(json_agg(x ORDER BY x.id), '[]')::text FROM ("
                              "SELECT id, name, cron, format, lang, filters, output_dir, active, "
                              "to_char(next_run_at AT TIME ZONE 'UTC', "
                              "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS next_run_at, "
                              "to_char(last_run_at AT TIME ZONE 'UTC', "
                              "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS last_run_at "
                              "FROM report_schedules) x",
                              0, NULL, error_r);
    if (!r)
        return NULL;
    json_error_t je;
    json_t *a = json_loads(iq_pg_str(r, 0, 0), 0, &je);
    PQclear(r);
    if (!a)
        iq_oom();
    return a;
}

static int schedule_list(iq_app *app, int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: inboxq report schedule list\n\nEvery report schedule with its next run "
               "time (UTC).\n");
        return 0;
    }
    if (argc > 1) {
        iq_app_error(app, "report schedule list: unexpected argument '%s'", argv[1]);
        return EX_USAGE;
    }
    PGconn *c = NULL;
    char *err = NULL;
    int rc = iq_app_connect_pg(app, &c);
    if (rc != 0)
        return rc;
    PGresult *r =
        iq_pg_query(c,
                    "SELECT id, name, cron, format, lang, filters::text, output_dir, active, "
                    "(extract(epoch FROM next_run_at) * 1000)::bigint, next_run_at <= now() "
                    "FROM report_schedules ORDER BY id",
                    0, NULL, &err);
    if (!r) {
        iq_app_error(app, "report schedule list: %s", err);
        free(err);
        rc = iq_pg_connection_lost(c) ? EX_UNAVAILABLE : EX_SOFTWARE;
        iq_pg_close(&c);
        return rc;
    }
    int n = PQntuples(r);
    size_t wname = 4, wcron = 4;
    iq_buf cell;
    iq_buf_init(&cell, (size_t)1 << 20);
    for (int i = 0; i < n; i++) {
        size_t a = iq_utf8_width(PQgetvalue(r, i, 1)), b = iq_utf8_width(PQgetvalue(r, i, 2));
        wname = a > wname ? a : wname;
        wcron = b > wcron ? b : wcron;
    }
    wname = wname > 40 ? 40 : wname;
    printf("%-6s  %-*s  %-*s  %-6s  %-5s  %-27s  %s\n", "ID", (int)wname, "NAME", (int)wcron,
           "CRON", "FORMAT", "LANG", "NEXT RUN", "FILTERS / OUTPUT DIR");
    for (int i = 0; i < n; i++) {
        char when[40];
        iq_report_format_time(iq_pg_i64(r, i, 8), when, sizeof(when));
        if (!iq_pg_bool(r, i, 7))
            snprintf(when, sizeof(when), "paused");
        else if (iq_pg_bool(r, i, 9))
            snprintf(when, sizeof(when), "due now");
        iq_report_filters f;
        iq_report_filters_init(&f);
        json_t *fj = json_loads(PQgetvalue(r, i, 5), 0, NULL);
        char *desc = NULL;
        if (fj && iq_msg_parse_report_filters(fj, &f, &err) == 0)
            desc = iq_report_filters_describe(&f, "en");
        else
            desc = iq_xstrdup(PQgetvalue(r, i, 5));
        free(err);
        err = NULL;
        json_decref(fj);
        iq_buf_reset(&cell);
        iq_utf8_one_line(&cell, PQgetvalue(r, i, 1), strlen(PQgetvalue(r, i, 1)));
        char *one = iq_xstrdup(cell.data);
        iq_buf_reset(&cell);
        iq_utf8_fit(&cell, one, wname, 1);
        printf("%-6s  %s  %-*s  %-6s  %-5s  %-27s  %s%s%s\n", PQgetvalue(r, i, 0), cell.data,
               (int)wcron, PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), when,
               desc, PQgetisnull(r, i, 6) ? "" : " -> ",
               PQgetisnull(r, i, 6) ? "" : PQgetvalue(r, i, 6));
        free(one);
        free(desc);
        iq_report_filters_release(&f);
    }
    if (n == 0)
        printf("(no report schedules; add one with 'inboxq report schedule add')\n");
    iq_buf_release(&cell);
    PQclear(r);
    iq_pg_close(&c);
    return 0;
}

iq_err iq_report_schedule_delete(PGconn *c, const char *ref, bool id_only, int64_t *id_r,
                                 char **name_r, char **error_r)
{
    int64_t id = 0;
    bool by_id = iq_parse_i64(ref, 1, INT64_MAX, &id) == 0;
    json_t *old = NULL, *changes = NULL;
    char idparam[24];
    snprintf(idparam, sizeof(idparam), "%lld", (long long)id);
    const char *params[] = {id_only ? NULL : ref, by_id ? idparam : NULL};
    iq_err st = IQ_OK;
    if (iq_pg_begin(c, error_r) < 0)
        goto db_error;
    /* A number is an id first; a schedule may also be named "2024". */
    PGresult *r = iq_pg_query(
        c,
        "SELECT id, name, cron, format, lang, filters::text, output_dir "
        "FROM report_schedules WHERE id = $2::bigint OR " IQ_NAME_KEY("name") " = " IQ_NAME_KEY(
            "$1::text") " ORDER BY id = $2::bigint DESC NULLS LAST, id "
                        "LIMIT 1 FOR UPDATE",
        2, params, error_r);
    if (!r)
        goto db_error;
    if (PQntuples(r) == 0) {
        PQclear(r);
        iq_pg_rollback(c);
        *error_r = iq_xstrdup("schedule: no such report schedule");
        return IQ_ERR_NOT_FOUND;
    }
    id = iq_pg_i64(r, 0, 0);
    char *sname = iq_xstrdup(PQgetvalue(r, 0, 1));
    old = json_pack("{ss ss ss ss so* ss?}", "name", sname, "cron", PQgetvalue(r, 0, 2), "format",
                    PQgetvalue(r, 0, 3), "lang", PQgetvalue(r, 0, 4), "filters",
                    json_loads(PQgetvalue(r, 0, 5), 0, NULL), "output_dir",
                    PQgetisnull(r, 0, 6) ? NULL : PQgetvalue(r, 0, 6));
    PQclear(r);
    char idtext[24];
    snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
    const char *del[] = {idtext};
    changes = iq_audit_diff(old, NULL);
    if (iq_pg_exec(c, "DELETE FROM report_schedules WHERE id = $1::bigint", 1, del, error_r) < 0 ||
        iq_audit_write(c, "delete", "schedule", id, changes, error_r) < 0 ||
        iq_pg_commit(c, error_r) < 0) {
        free(sname);
        goto db_error;
    }
    *id_r = id;
    *name_r = sname;
    goto out;
db_error:
    iq_pg_rollback(c);
    st = iq_pg_connection_lost(c) ? IQ_ERR_UNAVAILABLE : IQ_ERR_FAILED;
out:
    json_decref(old);
    json_decref(changes);
    return st;
}

static int schedule_delete(iq_app *app, int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: inboxq report schedule delete ID|NAME\n");
        return 0;
    }
    if (argc != 2) {
        iq_app_error(app, "report schedule delete: give one schedule ID or NAME");
        return EX_USAGE;
    }
    const char *ref = argv[1];
    PGconn *c = NULL;
    char *err = NULL, *sname = NULL;
    int64_t id = 0;
    int rc = iq_app_connect_pg(app, &c);
    if (rc != 0)
        return rc;
    iq_err st = iq_report_schedule_delete(c, ref, false, &id, &sname, &err);
    if (st == IQ_ERR_NOT_FOUND) {
        rc = iq_cli_not_found(app, "report schedule delete", "schedule", ref,
                              "report schedule list");
    } else if (st != IQ_OK) {
        iq_app_error(app, "report schedule delete: %s", err ? err : "database error");
        rc = iq_pg_connection_lost(c) ? EX_UNAVAILABLE : EX_SOFTWARE;
    } else {
        iq_buf b;
        iq_buf_init(&b, (size_t)1 << 20);
        iq_utf8_one_line(&b, sname, strlen(sname));
        printf("deleted schedule %lld (%s)\n", (long long)id, b.data);
        iq_buf_release(&b);
    }
    free(sname);
    free(err);
    iq_pg_close(&c);
    return rc;
}

static int cmd_schedule(iq_app *app, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    if (strcmp(sub, "add") == 0)
        return schedule_add(app, argc - 1, argv + 1);
    if (strcmp(sub, "list") == 0)
        return schedule_list(app, argc - 1, argv + 1);
    if (strcmp(sub, "delete") == 0)
        return schedule_delete(app, argc - 1, argv + 1);
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        usage();
        return 0;
    }
    iq_app_error(app,
                 "report schedule: expected add, list or delete%s%s; see 'inboxq report "
                 "--help'",
                 *sub ? ", not " : "", sub);
    return EX_USAGE;
}

int iq_cmd_report(iq_app *app, int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "schedule") == 0)
        return cmd_schedule(app, argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "show") == 0)
        return iq_cmd_report_show(app, argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "get") == 0)
        return iq_cmd_report_get(app, argc - 1, argv + 1);
    return cmd_render(app, argc, argv);
}
