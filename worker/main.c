/* SPDX-License-Identifier: MIT */
/* inboxq-worker: consumes check and report jobs from Kafka, checks mailboxes, renders reports. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "exitcode.h"
#include "util.h"
#include "worker.h"

static atomic_int g_stop; /* lock-free, so a signal handler may set it */

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&g_stop, 1);
}

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: inboxq-worker [OPTIONS]\n\n"
        "The inboxq worker: joins the consumer group on the check and report job topics,\n"
        "checks mailboxes and renders reports, writing results to PostgreSQL. Run as\n"
        "many as needed; SIGTERM finishes (or safely abandons) running jobs and leaves.\n"
        "\noptions:\n"
        "  --concurrency N     jobs at once in this process (setting concurrency)\n"
        "  --metrics-listen ADDR:PORT  serve /metrics, /healthz and /readyz (off by\n"
        "                      default; e.g. 127.0.0.1:9100 or [::1]:9100)\n" IQ_APP_OPTIONS_HELP
        "\nSettings come from the environment (INBOXQ_*) and --config; "
        "'inboxq config reference' lists them.\n");
}

typedef struct worker_opts {
    const char *concurrency, *metrics_listen;
} worker_opts;

static bool on_option(void *ctx, int opt, const char *arg)
{
    worker_opts *o = ctx;
    if (opt == 'c')
        o->concurrency = arg;
    else if (opt == 'm')
        o->metrics_listen = arg;
    return opt == 'c' || opt == 'm';
}

int main(int argc, char **argv)
{
    iq_app app = {.program = "inboxq-worker", .component = "worker"};
    static const struct option opts[] = {IQ_APP_LONG_OPTIONS,
                                         {"concurrency", required_argument, NULL, 'c'},
                                         {"metrics-listen", required_argument, NULL, 'm'},
                                         {NULL, 0, NULL, 0}};
    worker_opts o = {NULL, NULL};
    int done = iq_app_parse_daemon(&app, argc, argv, opts, on_option, &o, usage);
    if (done >= 0)
        return done;
    const char *concurrency = o.concurrency, *metrics_listen = o.metrics_listen;
    int rc = iq_app_load(&app);
    if (rc != 0)
        return rc;
    char *err = NULL;
    if (concurrency &&
        iq_config_set(app.cfg, "concurrency", concurrency, "--concurrency", &err) < 0) {
        iq_app_error(&app, "%s", err);
        iq_app_release(&app);
        return EX_USAGE;
    }
    rc = iq_app_check_services(&app, IQ_NEED_PG | IQ_NEED_KAFKA | IQ_NEED_REDIS,
                               app.check_config ? stdout : NULL);
    if (rc == 0 && !app.check_config) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        rc = iq_worker_run(app.cfg, (int)iq_config_int(app.cfg, IQ_SET_CONCURRENCY), metrics_listen,
                           &g_stop);
    }
    iq_app_release(&app);
    return rc;
}
