/* SPDX-License-Identifier: MIT */
/* inboxq-scheduler: publishes due check jobs and report jobs to Kafka. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "app.h"
#include "exitcode.h"
#include "log.h"
#include "schedule.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: inboxq-scheduler [--once] [OPTIONS]\n\n"
        "The inboxq scheduler: publishes due check jobs and report jobs to Kafka.\n"
        "Each tick (scheduler_tick) it claims due accounts in batches (scheduler_batch) with\n"
        "row locks (SKIP LOCKED), publishes one check job per account, and moves an account's\n"
        "next check (its interval with jitter, backed off while its checks fail) only after\n"
        "Kafka confirmed the job; due report schedules likewise. Reports left pending (their\n"
        "job lost) or running on a worker that stopped are published again after\n"
        "report_sweep_after, up to report_sweep_attempts times, then marked failed. Any number\n"
        "of schedulers can run at once. SIGTERM or SIGINT: finish the current batch, flush,\n"
        "exit 0.\n\n"
        "options:\n"
        "  --once              run one tick, print \"dispatched N checks, M reports\", "
        "exit\n"
        "  --metrics-listen ADDR:PORT  serve /metrics, /healthz and /readyz (off by "
        "default)\n" IQ_APP_OPTIONS_HELP
        "\nExit status: 0 done; 64 bad usage; 69 PostgreSQL or Kafka unavailable (with --once:\n"
        "also when a job was not confirmed); 78 bad configuration.\n"
        "Settings come from the environment (INBOXQ_*) and --config; "
        "'inboxq config reference' lists them.\n");
}

typedef struct sched_opts {
    bool once;
    const char *metrics_listen;
} sched_opts;

static bool on_option(void *ctx, int opt, const char *arg)
{
    sched_opts *o = ctx;
    if (opt == 'o')
        o->once = true;
    else if (opt == 'm')
        o->metrics_listen = arg;
    return opt == 'o' || opt == 'm';
}

int main(int argc, char **argv)
{
    iq_app app = {.program = "inboxq-scheduler", .component = "scheduler"};
    static const struct option opts[] = {{"once", no_argument, NULL, 'o'},
                                         {"metrics-listen", required_argument, NULL, 'm'},
                                         IQ_APP_LONG_OPTIONS,
                                         {NULL, 0, NULL, 0}};
    sched_opts o = {false, NULL};
    int done = iq_app_parse_daemon(&app, argc, argv, opts, on_option, &o, usage);
    if (done >= 0)
        return done;
    bool once = o.once;
    const char *metrics_listen = o.metrics_listen;
    int rc = iq_app_load(&app);
    if (rc != 0)
        return rc;
    rc = iq_app_check_services(&app, IQ_NEED_PG | IQ_NEED_KAFKA, app.check_config ? stdout : NULL);
    if (rc != 0 || app.check_config)
        goto out;

    /* Blocked before any thread starts (librdkafka's inherit the mask): the scheduler takes
     * them with sigtimedwait() between batches and while it sleeps. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    char *err = NULL;
    iq_sched *s = iq_sched_new(app.cfg, &stop, &rc, &err);
    if (!s) {
        iq_app_error(&app, "%s", err);
        free(err);
        goto out;
    }
    iq_metrics *metrics = NULL;
    iq_httpd *httpd = NULL;
    if (metrics_listen) {
        metrics = iq_metrics_new(0);
        iq_sched_set_metrics(s, metrics);
        httpd = iq_httpd_start(metrics_listen, metrics, iq_sched_ready, s, &err);
        if (!httpd) {
            iq_app_error(&app, "--metrics-listen %s: %s", metrics_listen, err);
            free(err);
            iq_sched_free(&s);
            iq_metrics_free(&metrics);
            rc = EX_USAGE;
            goto out;
        }
    }
    IQ_INFO("started: tick %lld ms, batch %lld, topics %s and %s",
            (long long)iq_config_int(app.cfg, IQ_SET_SCHEDULER_TICK),
            (long long)iq_config_int(app.cfg, IQ_SET_SCHEDULER_BATCH),
            iq_config_str(app.cfg, IQ_SET_TOPIC_CHECK),
            iq_config_str(app.cfg, IQ_SET_TOPIC_REPORT));
    iq_sched_stats total;
    rc = iq_sched_run(s, once, &total);
    iq_httpd_stop(&httpd);
    iq_sched_free(&s);
    iq_metrics_free(&metrics);
    IQ_INFO("stopped: %lld check(s) and %lld report(s) dispatched in all", (long long)total.checks,
            (long long)total.reports);
    if (once) {
        printf("dispatched %lld checks, %lld reports\n", (long long)total.checks,
               (long long)total.reports);
        if (total.undelivered > 0)
            iq_app_error(&app,
                         "%lld job(s) not confirmed by Kafka; their rows stay due for the "
                         "next tick",
                         (long long)total.undelivered);
        else if (total.db_errors > 0)
            iq_app_error(&app, "PostgreSQL failed during the tick (see the log above)");
    }
out:
    iq_app_release(&app);
    return rc;
}
