/* SPDX-License-Identifier: MIT */
/* Report jobs for the workers: 'inboxq report ... [--wait --output FILE]' without --direct,
 * 'inboxq report show ID' and 'inboxq report get ID --output FILE'. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libpq-fe.h>

#include "commands.h"
#include "exitcode.h"
#include "i18n.h"
#include "kafka.h"
#include "messages.h"
#include "pg.h"
#include "reports.h"
#include "util.h"

/* Writes the report's stored output to path (temporary file, then rename). */
static int save_output(iq_app *app, PGconn *c, int64_t id, const char *path)
{
    PGresult *r = iq_reports_output(c, id);
    if (!r) {
        iq_app_error(app,
                     "report %lld has no output (not rendered yet, or it failed); see "
                     "'inboxq report show %lld'",
                     (long long)id, (long long)id);
        return EX_NOINPUT;
    }
    if (strcmp(path, "-") == 0) { /* standard output */
        const char *bytes = PQgetvalue(r, 0, 0);
        size_t n = (size_t)PQgetlength(r, 0, 0);
        int out = fwrite(bytes, 1, n, stdout) == n && fflush(stdout) == 0 ? 0 : EX_IOERR;
        if (out)
            iq_app_error(app, "report: writing to standard output failed");
        PQclear(r);
        return out;
    }
    char *tmp = iq_xasprintf("%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    int rc = 0;
    const char *data = PQgetvalue(r, 0, 0);
    size_t len = (size_t)PQgetlength(r, 0, 0);
    for (size_t off = 0; fd >= 0 && off < len;) {
        ssize_t n = write(fd, data + off, len - off);
        if (n <= 0) {
            rc = EX_IOERR;
            break;
        }
        off += (size_t)n;
    }
    if (fd < 0 || fchmod(fd, 0644) < 0 || fsync(fd) < 0 || close(fd) < 0 || rc ||
        rename(tmp, path) < 0) {
        iq_app_error(app, "report: cannot write %s; check the directory exists and is writable",
                     path);
        unlink(tmp);
        rc = EX_CANTCREAT;
    }
    free(tmp);
    PQclear(r);
    return rc;
}

bool iq_output_is_dir(const char *path)
{
    size_t n = strlen(path);
    struct stat sb;
    return (n > 0 && path[n - 1] == '/') || (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode));
}

/* 'done', 'failed' or NULL (still pending/running) */
static char *status_of(PGconn *c, int64_t id, char **error_r)
{
    char *st = NULL, *why = NULL, *err = NULL;
    if (iq_reports_status(c, id, &st, &why, &err) > 0 &&
        (strcmp(st, "done") == 0 || strcmp(st, "failed") == 0)) {
        *error_r = why;
        return st;
    }
    free(err);
    free(st);
    free(why);
    return NULL;
}

iq_err iq_report_job_queue(PGconn *c, const iq_config *cfg, const char *format, const char *lang,
                           const iq_report_filters *f, const char *by, int64_t *id_r,
                           char job_id[37], char **error_r)
{
    iq_uuid_v4(job_id, 37);
    json_t *filters = iq_msg_report_filters_new(f, error_r);
    char *fjson = filters ? json_dumps(filters, JSON_COMPACT) : NULL;
    json_decref(filters);
    int64_t id = 0;
    if (!fjson)
        return IQ_ERR_INVALID;
    if (iq_reports_create(c, job_id, 0, format, lang, fjson, by, &id, error_r) < 0) {
        free(fjson);
        return IQ_ERR_UNAVAILABLE;
    }
    free(fjson);
    json_t *job =
        iq_msg_report_job_new(job_id, id, format, lang, f, 0, iq_now_real_ms(), by, error_r);
    iq_kafka_producer *prod = job ? iq_kafka_producer_new(cfg, error_r) : NULL;
    char key[24];
    snprintf(key, sizeof(key), "%lld", (long long)id);
    char *payload = job ? iq_msg_dump(job) : NULL;
    json_decref(job);
    iq_err st = IQ_OK;
    if (!prod || iq_kafka_produce_sync(prod, iq_config_str(cfg, IQ_SET_TOPIC_REPORT), key, payload,
                                       strlen(payload), error_r) < 0) {
        iq_reports_fail(c, id, "not queued", NULL);
        st = IQ_ERR_UNAVAILABLE;
    }
    free(payload);
    iq_kafka_producer_free(&prod);
    *id_r = id;
    return st;
}

int iq_report_job_submit(iq_app *app, const char *format, const char *lang,
                         const iq_report_filters *f, bool wait, int64_t timeout_ms,
                         const char *output)
{
    PGconn *c = NULL;
    int rc = iq_app_connect_pg(app, &c);
    if (rc)
        return rc;
    char *err = NULL;
    char job_id[37];
    char by_buf[64];
    iq_operator_identity(by_buf, sizeof(by_buf));
    int64_t id = 0;
    iq_err st = iq_report_job_queue(c, app->cfg, format, lang, f, by_buf, &id, job_id, &err);
    if (st != IQ_OK) {
        iq_app_error(app, "report: %s", err ? err : "bad filters");
        rc = st == IQ_ERR_INVALID ? EX_USAGE : EX_UNAVAILABLE;
        goto out;
    }
    printf("%lld %s\n", (long long)id, job_id);
    fflush(stdout);
    if (!wait)
        goto out;
    int64_t deadline = iq_now_mono_ms() + timeout_ms;
    char *status = NULL, *why = NULL;
    while (!(status = status_of(c, id, &why)) && iq_now_mono_ms() < deadline)
        usleep(150 * 1000);
    if (!status) {
        iq_app_error(app,
                     "report %lld not rendered within the timeout; is a worker running? "
                     "'inboxq report get %lld --output FILE' fetches it later",
                     (long long)id, (long long)id);
        rc = EX_TEMPFAIL;
    } else if (strcmp(status, "failed") == 0) {
        iq_app_error(app, "report %lld failed: %s", (long long)id, why);
        rc = IQ_EXIT_CHECK_FAILED;
    } else if (output) {
        rc = save_output(app, c, id, output);
        if (rc == 0)
            printf("report %lld written to %s\n", (long long)id, output);
    } else {
        printf("report %lld done\n", (long long)id);
    }
    free(status);
    free(why);
out:
    free(err);
    iq_pg_close(&c);
    return rc;
}

static int parse_id(iq_app *app, const char *what, int argc, char **argv, int64_t *id_r)
{
    if (optind + 1 != argc || iq_parse_i64(argv[optind], 1, INT64_MAX, id_r) < 0) {
        iq_app_error(app, "report %s: give one report ID (a positive number)", what);
        return EX_USAGE;
    }
    return 0;
}

int iq_cmd_report_show(iq_app *app, int argc, char **argv)
{
    optind = 0;
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: inboxq report show ID\n\nA report's status, format, filters, rows and "
               "size.\n");
        return 0;
    }
    optind = 1;
    int64_t id;
    PGconn *c = NULL;
    int rc = parse_id(app, "show", argc, argv, &id);
    if (rc || (rc = iq_app_connect_pg(app, &c)))
        return rc;
    char *err = NULL;
    PGresult *r = iq_reports_show(c, id, &err);
    if (!r || PQntuples(r) == 0) {
        iq_app_error(app, "report show: %s", r ? "no such report" : err);
        rc = r ? EX_NOINPUT : EX_UNAVAILABLE;
    } else {
        static const char *const labels[] = {"status",  "format",   "lang",       "filters",
                                             "rows",    "bytes",    "error",      "requested by",
                                             "created", "finished", "written to", "job"};
        printf("report %lld\n", (long long)id);
        for (int i = 0; i < IQ_REPORTS_SHOW_NCOLS; i++) {
            const char *v = iq_pg_str(r, 0, i);
            char when[40];
            if (!*v)
                continue;
            if (i == 8 || i == 9) { /* created, finished: times for people */
                iq_i18n_time_text(IQ_LANG_EN, v, when, sizeof(when));
                v = when;
            }
            printf("  %-13s %s\n", labels[i], v);
        }
    }
    PQclear(r);
    free(err);
    iq_pg_close(&c);
    return rc;
}

int iq_cmd_report_get(iq_app *app, int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *output = NULL;
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        if (opt == 'o') {
            output = optarg;
        } else if (opt == 'h') {
            printf("usage: inboxq report get ID --output FILE\n\nWrites a rendered report's "
                   "output to FILE (- for standard output).\n");
            return 0;
        } else {
            return EX_USAGE;
        }
    }
    int64_t id;
    int rc = parse_id(app, "get", argc, argv, &id);
    if (rc)
        return rc;
    if (!output) {
        iq_app_error(app, "report get: --output FILE is required (- for standard output)");
        return EX_USAGE;
    }
    if (iq_output_is_dir(output)) {
        iq_app_error(app, "report get: --output '%s' is a directory; give a file name in it",
                     output);
        return EX_CANTCREAT;
    }
    PGconn *c = NULL;
    if ((rc = iq_app_connect_pg(app, &c)))
        return rc;
    rc = save_output(app, c, id, output);
    iq_pg_close(&c);
    return rc;
}
