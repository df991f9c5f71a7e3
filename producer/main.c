/* SPDX-License-Identifier: MIT */
/* inboxq: the operator CLI (accounts, credentials, connectors, reports, and job triggers). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "commands.h"
#include "exitcode.h"

static const iq_command commands[] = {
    {"migrate", iq_cmd_migrate, "create or upgrade the PostgreSQL schema"},
    {"config", iq_cmd_config, "print the settings reference or the effective settings"},
    {"keygen", iq_cmd_keygen, "make a new vault master key file"},
    {"credential", iq_cmd_credential,
     "manage the credential vault (add, list, show, set-secret, delete, rekey)"},
    {"connector", iq_cmd_connector, "manage Network Connectors (SOCKS5 / HTTP CONNECT proxies)"},
    {"account", iq_cmd_account,
     "manage mail accounts (add, edit, show, list, delete, enable, disable, test)"},
    {"audit", iq_cmd_audit, "show the audit trail of changes"},
    {"report", iq_cmd_report,
     "render the accounts report (CSV, HTML, PDF) and manage report schedules"},
    {"check", iq_cmd_check,
     "check accounts now (--direct in this process, or as jobs for the workers)"},
    {"inbox", iq_cmd_inbox, "view an account's inbox (newest first)"},
    {"runs", iq_cmd_runs, "show an account's check history"},
    {"status", iq_cmd_status, "show the cluster's state"},
    {"operator", iq_cmd_operator, "manage the operators who sign in to the console"},
    {"serve", iq_cmd_serve, "serve the web console and the HTTP API"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: inboxq [OPTIONS] COMMAND [ARGS]\n\n"
                 "Registers IMAP/POP3 mailbox accounts and reads their mail through a cluster of\n"
                 "workers (scheduler -> Kafka -> workers -> PostgreSQL).\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\noptions:\n" IQ_APP_OPTIONS_HELP
                 "\nSettings come from the environment (INBOXQ_*) and --config; "
                 "'inboxq config reference' lists them.\n"
                 "Run 'inboxq COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    iq_app app = {.program = "inboxq", .component = "cli", .quiet = true};
    static const struct option opts[] = {IQ_APP_LONG_OPTIONS, {NULL, 0, NULL, 0}};
    int opt;
    opterr = 0; /* one clear line of our own instead of getopt's two */
    while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (!iq_app_option(&app, opt, optarg)) {
            iq_app_bad_option(&app, argv);
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
    if (!app.check_config && optind >= argc) {
        usage(stderr);
        return EX_USAGE;
    }
    int rc = iq_app_load(&app);
    if (rc != 0)
        return rc;
    if (app.check_config) {
        rc = iq_app_check_services(&app, IQ_NEED_PG | IQ_NEED_KAFKA | IQ_NEED_REDIS, stdout);
        iq_app_release(&app);
        return rc;
    }
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    const char *name = sub_argv[0];
    rc = -1;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, name) == 0) {
            optind = 0; /* let the subcommand run getopt from scratch */
            rc = commands[i].fn(&app, sub_argc, sub_argv);
            break;
        }
    }
    if (rc == -1) {
        iq_app_error(&app, "unknown command '%s'; run 'inboxq --help' for the list", name);
        rc = EX_USAGE;
    }
    iq_app_release(&app);
    return rc;
}
