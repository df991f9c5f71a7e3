/* SPDX-License-Identifier: MIT */
/* inboxq-worker: consumes check and report jobs from Kafka, checks mailboxes, renders reports. */
#include <getopt.h>
#include <stdio.h>

#include "app.h"
#include "exitcode.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: inboxq-worker [OPTIONS]\n\n"
                 "The inboxq worker: consumes check and report jobs from Kafka, checks mailboxes, renders reports.\n\noptions:\n" IQ_APP_OPTIONS_HELP
                 "\nSettings come from the environment (INBOXQ_*) and --config; "
                 "'inboxq config reference' lists them.\n");
}

int main(int argc, char **argv)
{
    iq_app app = {.program = "inboxq-worker", .component = "worker"};
    static const struct option opts[] = {IQ_APP_LONG_OPTIONS, {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (!iq_app_option(&app, opt, optarg)) {
            fprintf(stderr, "Run 'inboxq-worker --help' for usage.\n");
            return EX_USAGE;
        }
    }
    if (app.help) {
        usage(stdout);
        return 0;
    }
    if (app.version) {
        iq_app_print_version(&app);
        return 0;
    }
    if (optind < argc) {
        fprintf(stderr, "inboxq-worker: unexpected argument '%s'; run 'inboxq-worker --help'\n",
                argv[optind]);
        return EX_USAGE;
    }
    int rc = iq_app_load(&app);
    if (rc != 0)
        return rc;
    rc = iq_app_check_services(&app, IQ_NEED_PG | IQ_NEED_KAFKA | IQ_NEED_REDIS, app.check_config ? stdout : NULL);
    if (rc == 0 && !app.check_config) {
        iq_app_error(&app, "the job loop is not built yet; only --check-config works");
        rc = EX_UNAVAILABLE;
    }
    iq_app_release(&app);
    return rc;
}
