/* SPDX-License-Identifier: MIT */
/* inboxq check ID --direct: one complete check in this process, exactly as a worker runs it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkenv.h"
#include "commands.h"
#include "exitcode.h"
#include "pg.h"
#include "util.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: inboxq check ID --direct [--format text|json]\n\n"
                 "Checks the account now.\n"
                 "  --direct          run the check in this process (no Kafka, no worker)\n"
                 "  --format FMT      text (default) or json\n"
                 "Exit status: 0 when the check succeeded, 1 when it failed.\n");
}

int iq_cmd_check(iq_app *app, int argc, char **argv)
{
    static const struct option opts[] = {{"direct", no_argument, NULL, 'd'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool direct = false, json = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            direct = true;
            break;
        case 'f':
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0) {
                iq_app_error(app, "check: --format must be text or json, not '%s'", optarg);
                return EX_USAGE;
            }
            json = strcmp(optarg, "json") == 0;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            return EX_USAGE;
        }
    }
    int64_t id;
    if (optind + 1 != argc || iq_parse_i64(argv[optind], 1, INT64_MAX, &id) < 0) {
        iq_app_error(app, "check: give exactly one account ID (a positive number); see 'inboxq "
                          "check --help'");
        return EX_USAGE;
    }
    if (!direct) {
        iq_app_error(app, "check: only --direct is available in this build (checks through the "
                          "workers come with the cluster)");
        return EX_UNAVAILABLE;
    }
    char *err = NULL;
    iq_check_setup cs;
    if (iq_check_setup_init(&cs, app->cfg, "cli", &err) < 0) {
        iq_app_error(app, "%s", err);
        free(err);
        return EX_CONFIG;
    }
    PGconn *c = NULL;
    iq_pg_status st = iq_pg_connect(iq_config_str(app->cfg, IQ_SET_PG_DSN),
                                    iq_config_int(app->cfg, IQ_SET_PG_CONNECT_TIMEOUT), &c, &err);
    if (st != IQ_PG_OK) {
        iq_app_error(app, "%s", err);
        free(err);
        iq_check_setup_release(&cs);
        return st == IQ_PG_ERR_DSN ? EX_CONFIG : EX_UNAVAILABLE;
    }
    char job_id[37];
    iq_uuid_v4(job_id, sizeof(job_id));
    iq_check_result res;
    int rc = iq_check_run(c, &cs.env, id, job_id, &res);
    if (json) {
        json_t *j = iq_check_result_json(&res, id, job_id);
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", s);
        free(s);
        json_decref(j);
    } else {
        iq_check_result_print(&res, id, stdout);
    }
    int code = rc == 0 ? 0 : IQ_EXIT_CHECK_FAILED;
    if (res.error_class && strcmp(res.error_class, "not_found") == 0)
        code = EX_NOINPUT;
    iq_check_result_release(&res);
    iq_pg_close(&c);
    iq_check_setup_release(&cs);
    return code;
}
