/* SPDX-License-Identifier: MIT */
/* inboxq account: the seed's account form ("Cadastro de conta") on the command line: add,
 * edit, show, delete, enable, disable; 'list' and 'test' live in their own files. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "account.h"
#include "cmd_entity.h"
#include "commands.h"
#include "exitcode.h"
#include "i18n.h"
#include "pg.h"
#include "util.h"

static const char account_help[] =
    "usage: inboxq account COMMAND [ARGS]\n\n"
    "Mail accounts (IMAP or POP3) that the workers check.\n\n"
    "  add --name NAME --host HOST --protocol imap|pop3 --credential NAME|ID [options]\n"
    "                         add an account; prints its code (id) alone\n"
    "  edit ID [options] [--expect-version N]\n"
    "                         change only the fields given\n"
    "  show ID [--format text|json]\n"
    "  list [filters]         the accounts report (see 'inboxq account list --help')\n"
    "  delete ID [--yes]      delete the account and the mail stored for it\n"
    "  enable ID | disable ID make the account active or inactive\n"
    "  test ID                a step-by-step connection test\n\n"
    "ID is the account's code or its name. Run 'inboxq account add --help' for the fields.\n";

static const char form_help[] =
    "  --name NAME                 Nome da conta: unique (case-insensitive), not only digits\n"
    "  --host HOST                 Endereço: the mail server's host name, IPv4 or IPv6 address\n"
    "  --port N                    Porta: 1-65535; empty = the standard port for protocol and\n"
    "                              security (IMAP 143, IMAPS 993, POP3 110, POP3S 995)\n"
    "  --protocol imap|pop3        Protocolo\n"
    "  --credential NAME|ID        Credencial para autenticação (from 'inboxq credential add')\n"
    "  --secure yes|no             Usar conexão segura (default yes)\n"
    "  --secure-type tls|ssl       Tipo de conexão segura, only with --secure yes (default ssl):\n"
    "                              tls = STARTTLS/STLS upgrade, ssl = TLS from the first byte\n"
    "  --ignore-certificate yes|no Ignorar certificado (default no); yes only with --secure yes\n"
    "  --keep-copy yes|no          Manter cópia no servidor (default yes)\n"
    "  --auto-check yes|no         Verificação automática (default yes)\n"
    "  --active yes|no             Ativo (default yes)\n"
    "  --use-connector yes|no      Usar Network Connector (default no)\n"
    "  --connector NAME|ID         Network Connector; required with --use-connector yes, and\n"
    "                              given alone it implies --use-connector yes\n"
    "  --folder NAME               IMAP mailbox to read (default INBOX); IMAP only\n"
    "  --check-interval DURATION   automatic check interval, 5s to 7d: 30s, 5m, 1h, 1d\n"
    "                              (default 5m)\n"
    "  --apop yes|no               POP3: use APOP when the server offers it (default no); yes\n"
    "                              only with --protocol pop3\n"
    "  --push auto|idle|off        IMAP IDLE push: auto = when the server offers IDLE, idle =\n"
    "                              always try it, off = polling only (default auto); polling\n"
    "                              at the interval goes on either way\n"
    "  --auth auto|password|xoauth2|oauthbearer\n"
    "                              how to log in (default auto: the credential's type and\n"
    "                              the server's capabilities decide)\n"
    "  --provider microsoft365|outlook|google\n"
    "                              fill the provider's host (by --protocol, default imap),\n"
    "                              implicit TLS and its port where not given\n"
    "A field that means nothing with the others (--apop yes on IMAP, --folder on POP3,\n"
    "--secure-type or --ignore-certificate yes with --secure no) is refused; when an edit\n"
    "makes a stored one meaningless, it goes back to its default.\n";

enum {
    OPT_NAME = 256,
    OPT_HOST,
    OPT_PORT,
    OPT_PROTOCOL,
    OPT_CREDENTIAL,
    OPT_SECURE,
    OPT_SECURE_TYPE,
    OPT_IGNORE_CERT,
    OPT_KEEP_COPY,
    OPT_AUTO_CHECK,
    OPT_ACTIVE,
    OPT_USE_CONNECTOR,
    OPT_CONNECTOR,
    OPT_FOLDER,
    OPT_INTERVAL,
    OPT_APOP,
    OPT_PUSH,
    OPT_AUTH,
    OPT_PROVIDER,
    OPT_EXPECT,
};

static const struct option form_opts[] = {
    {"name", required_argument, NULL, OPT_NAME},
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"protocol", required_argument, NULL, OPT_PROTOCOL},
    {"credential", required_argument, NULL, OPT_CREDENTIAL},
    {"secure", required_argument, NULL, OPT_SECURE},
    {"secure-type", required_argument, NULL, OPT_SECURE_TYPE},
    {"ignore-certificate", required_argument, NULL, OPT_IGNORE_CERT},
    {"keep-copy", required_argument, NULL, OPT_KEEP_COPY},
    {"auto-check", required_argument, NULL, OPT_AUTO_CHECK},
    {"active", required_argument, NULL, OPT_ACTIVE},
    {"use-connector", required_argument, NULL, OPT_USE_CONNECTOR},
    {"connector", required_argument, NULL, OPT_CONNECTOR},
    {"folder", required_argument, NULL, OPT_FOLDER},
    {"check-interval", required_argument, NULL, OPT_INTERVAL},
    {"apop", required_argument, NULL, OPT_APOP},
    {"push", required_argument, NULL, OPT_PUSH},
    {"auth", required_argument, NULL, OPT_AUTH},
    {"provider", required_argument, NULL, OPT_PROVIDER},
    {"expect-version", required_argument, NULL, OPT_EXPECT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

/* The form into an iq_account_input (iq_entity's parse_form). */
static int parse_form(iq_app *app, const iq_entity *e, const char *cmd, int argc, char **argv,
                      void *form, int *expect_r, int *count_r)
{
    iq_account_input *in = form;
    const char *provider = NULL;
    int opt, idx = 0;
    *count_r = 0;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", form_opts, &idx)) != -1) {
        const char **field = NULL;
        switch (opt) {
        case OPT_NAME:
            field = &in->name;
            break;
        case OPT_HOST:
            field = &in->host;
            break;
        case OPT_PORT:
            field = &in->port;
            break;
        case OPT_PROTOCOL:
            field = &in->protocol;
            break;
        case OPT_CREDENTIAL:
            field = &in->credential;
            break;
        case OPT_SECURE:
            field = &in->secure;
            break;
        case OPT_SECURE_TYPE:
            field = &in->secure_type;
            break;
        case OPT_IGNORE_CERT:
            field = &in->ignore_certificate;
            break;
        case OPT_KEEP_COPY:
            field = &in->keep_copy;
            break;
        case OPT_AUTO_CHECK:
            field = &in->auto_check;
            break;
        case OPT_ACTIVE:
            field = &in->active;
            break;
        case OPT_USE_CONNECTOR:
            field = &in->use_connector;
            break;
        case OPT_CONNECTOR:
            field = &in->connector;
            break;
        case OPT_FOLDER:
            field = &in->folder;
            break;
        case OPT_INTERVAL:
            field = &in->check_interval;
            break;
        case OPT_APOP:
            field = &in->apop;
            break;
        case OPT_PUSH:
            field = &in->push;
            break;
        case OPT_AUTH:
            field = &in->auth;
            break;
        case OPT_PROVIDER:
            provider = optarg;
            continue;
        case OPT_EXPECT: {
            int64_t v;
            if (!expect_r) {
                iq_app_error(app, "account %s: --expect-version only applies to 'account edit'",
                             cmd);
                return EX_USAGE;
            }
            if (iq_parse_i64(optarg, 1, INT32_MAX, &v) < 0) {
                iq_app_error(app,
                             "account %s: --expect-version takes a version number (see "
                             "'inboxq account show ID --format json')",
                             cmd);
                return EX_USAGE;
            }
            *expect_r = (int)v;
            continue;
        }
        case 'h':
            if (strcmp(cmd, "add") == 0)
                printf("usage: inboxq account add --name NAME --host HOST --protocol imap|pop3 "
                       "--credential NAME|ID\n"
                       "                          [options]\n\n"
                       "Adds a mail account and prints its code (id) alone. Invalid data exits "
                       "65 with a\nmessage naming the field.\n\n%s",
                       form_help);
            else
                printf("usage: inboxq account edit ID [options] [--expect-version N]\n\n"
                       "Changes only the fields given (ID is the code or the name). If someone "
                       "else changed\nthe account meanwhile, nothing is written and the exit "
                       "code is 75: run it again.\n"
                       "--expect-version N refuses the edit unless the account is at version N "
                       "(from 'show').\n\n%s",
                       form_help);
            return 1;
        default:
            return iq_entity_bad_option(app, e, cmd, opt, argv);
        }
        if (*field) {
            iq_app_error(app, "account %s: --%s is given twice; give each field once", cmd,
                         form_opts[idx].name);
            return EX_USAGE;
        }
        *field = optarg;
        (*count_r)++;
    }
    if (provider) {
        bool pop3 = in->protocol && strcmp(in->protocol, "pop3") == 0;
        const char *host = strcmp(provider, "microsoft365") == 0 || strcmp(provider, "outlook") == 0
                               ? "outlook.office365.com" /* IMAP and POP3 alike */
                           : strcmp(provider, "google") == 0
                               ? (pop3 ? "pop.gmail.com" : "imap.gmail.com")
                               : NULL;
        if (!host) {
            iq_app_error(app, "account %s: --provider: give microsoft365, outlook or google", cmd);
            return EX_USAGE;
        }
        if (!in->host)
            in->host = host;
        if (!in->protocol)
            in->protocol = "imap";
        if (!in->secure)
            in->secure = "yes";
        if (!in->secure_type)
            in->secure_type = "ssl";
        *count_r += 1;
    }
    return 0;
}

static iq_err create(PGconn *c, const void *in, int64_t *id_r, char **error_r)
{
    return iq_account_create(c, in, id_r, error_r);
}

static iq_err update(PGconn *c, int64_t id, const void *in, int expect_version, bool *changed_r,
                     char **error_r)
{
    return iq_account_update(c, id, in, expect_version, changed_r, error_r);
}

static const iq_entity account = {
    .kind = "account",
    .ref_text = "account code or name",
    .find = iq_account_find,
    .remove = iq_account_delete,
    .parse_form = parse_form,
    .create = create,
    .update = update,
};

static int cmd_add(iq_app *app, int argc, char **argv)
{
    iq_account_input in = {0};
    return iq_entity_add(app, &account, &in, argc, argv);
}

static int cmd_edit(iq_app *app, int argc, char **argv)
{
    iq_account_input in = {0};
    return iq_entity_edit(app, &account, &in, argc, argv);
}

static const char *yn(bool b)
{
    return b ? "yes" : "no";
}

static const char *dash(const char *s)
{
    return s && *s ? s : "-";
}

static void print_account_text(const iq_account_view *v)
{
    const iq_account *a = &v->a;
    char dur[32];
    iq_format_duration(a->check_interval_s * 1000, dur, sizeof(dur));
    const char *stype = a->security == IQ_SEC_STARTTLS   ? "TLS (STARTTLS/STLS upgrade)"
                        : a->security == IQ_SEC_IMPLICIT ? "SSL (TLS from the first byte)"
                                                         : "-";
    printf("Code:                    %" PRId64 "\n", a->id);
    printf("Account name:            %s\n", a->name);
    printf("Keep copy on server:     %s\n", yn(a->keep_copy));
    printf("Automatic check:         %s\n", yn(a->auto_check));
    printf("Active:                  %s\n", yn(a->active));
    printf("Address:                 %s\n", a->host);
    printf("Port:                    %d%s\n", a->port, a->port_is_default ? " (standard)" : "");
    printf("Protocol:                %s\n", a->protocol == IQ_PROTO_POP3 ? "POP3" : "IMAP");
    printf("Use Network Connector:   %s\n", yn(a->use_connector));
    if (a->connector_id)
        printf("Network Connector:       %s (id %" PRId64 ")\n", dash(v->connector_name),
               a->connector_id);
    else
        printf("Network Connector:       -\n");
    printf("Credential:              %s (id %" PRId64 ")\n", dash(v->credential_name),
           a->credential_id);
    printf("Ignore certificate:      %s\n", yn(a->ignore_certificate));
    printf("Use secure connection:   %s\n", yn(a->security != IQ_SEC_NONE));
    printf("Secure connection type:  %s\n", stype);
    printf("Folder:                  %s\n", a->folder);
    printf("APOP:                    %s\n", yn(a->apop));
    printf("Sign-in:                 %s\n", iq_auth_method_name(a->auth));
    printf("Check interval:          %s\n", dur);
    char t_last[40], t_success[40], t_next[40], t_created[40], t_updated[40], t_push[40];
    iq_i18n_time_text(IQ_LANG_EN, a->last_check_at, t_last, sizeof(t_last));
    iq_i18n_time_text(IQ_LANG_EN, a->last_success_at, t_success, sizeof(t_success));
    iq_i18n_time_text(IQ_LANG_EN, a->next_check_at, t_next, sizeof(t_next));
    iq_i18n_time_text(IQ_LANG_EN, v->created_at, t_created, sizeof(t_created));
    iq_i18n_time_text(IQ_LANG_EN, v->updated_at, t_updated, sizeof(t_updated));
    iq_i18n_time_text(IQ_LANG_EN, v->push_since, t_push, sizeof(t_push));
    printf("Push (IMAP IDLE):        %s\n", iq_push_mode_name(a->push));
    if (v->push_worker)
        printf("Pushed now:              yes, by worker %s since %s\n", v->push_worker,
               v->push_since ? t_push : "-");
    else
        printf("Pushed now:              no\n");
    printf("Last check:              %s\n", a->last_check_at ? t_last : "never");
    printf("Last status:             %s\n", dash(a->last_status));
    if (a->last_error)
        printf("Last error:              %s%s%s%s\n", a->last_error_class ? "[" : "",
               a->last_error_class ? a->last_error_class : "", a->last_error_class ? "] " : "",
               a->last_error);
    printf("Last success:            %s\n", t_success);
    printf("Next check:              %s\n",
           a->active && a->auto_check ? t_next : "- (automatic check off or inactive)");
    printf("Created:                 %s\n", t_created);
    printf("Updated:                 %s\n", t_updated);
    printf("Version:                 %d\n", a->version);
}

static const char show_usage[] =
    "usage: inboxq account show ID [--format text|json]\n\n"
    "Shows every field of the account form, labelled, and the account's check\n"
    "status. ID is the account's code or name. The secret is never shown.\n";

static int cmd_show(iq_app *app, int argc, char **argv)
{
    bool json = false;
    int rc = iq_entity_parse_format(app, &account, "show", argc, argv, "text", show_usage, &json);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    if (argc - optind != 1) {
        iq_app_error(app, "account show: give one account code or name");
        return EX_USAGE;
    }
    PGconn *c = NULL;
    int64_t id = 0;
    iq_account_view v;
    memset(&v, 0, sizeof(v));
    char *err = NULL;
    if ((rc = iq_entity_open(app, &account, "show", argv[optind], &c, &id)) != 0)
        goto out;
    int found = iq_account_view_load(c, id, &v, &err);
    if (found <= 0) {
        iq_app_error(app, "account show: %s", err ? err : "the account vanished");
        free(err);
        rc = found == 0 ? EX_NOINPUT : iq_exit_code_last_db();
        goto out;
    }
    if (json) {
        json_t *o = iq_account_view_json(&v);
        iq_entity_print_json(o);
        json_decref(o);
    } else {
        print_account_text(&v);
    }
out:
    iq_account_view_release(&v);
    iq_pg_close(&c);
    return rc;
}

/* enable or disable, as cmd says. */
static iq_err set_active(const iq_entity *e, PGconn *c, const char *cmd, int64_t id, char **error_r)
{
    bool on = strcmp(cmd, "enable") == 0, changed = false;
    iq_err st = iq_account_set_active(c, id, on, &changed, error_r);
    if (st == IQ_OK)
        printf("%s %" PRId64 ": %s%s\n", e->kind, id, changed ? "now " : "already ",
               on ? "active" : "inactive");
    return st;
}

static int cmd_set_active(iq_app *app, int argc, char **argv, const char *cmd)
{
    char usage[160];
    snprintf(usage, sizeof(usage),
             "usage: inboxq account %s ID\n\n"
             "Makes the account %s (\"Ativo\"); inactive accounts are never checked.\n",
             cmd, strcmp(cmd, "enable") == 0 ? "active" : "inactive");
    return iq_entity_act(app, &account, cmd, usage, set_active, argc, argv);
}

static int cmd_enable(iq_app *app, int argc, char **argv)
{
    return cmd_set_active(app, argc, argv, "enable");
}

static int cmd_disable(iq_app *app, int argc, char **argv)
{
    return cmd_set_active(app, argc, argv, "disable");
}

static const char delete_usage[] =
    "usage: inboxq account delete ID [--yes]\n\n"
    "Deletes the account together with its stored messages, mailbox state and check\n"
    "history, and prints what it removes first. Audited. When the account has stored\n"
    "messages, it asks on a terminal, and otherwise needs --yes (exit 64 without it).\n";

/* "12 KiB" */
static void fmt_size(int64_t b, char *buf, size_t size)
{
    if (b < 1024)
        snprintf(buf, size, "%lld B", (long long)b);
    else if (b < 1024 * 1024)
        snprintf(buf, size, "%.1f KiB", (double)b / 1024.0);
    else if (b < 1024LL * 1024 * 1024)
        snprintf(buf, size, "%.1f MiB", (double)b / (1024.0 * 1024.0));
    else
        snprintf(buf, size, "%.1f GiB", (double)b / (1024.0 * 1024.0 * 1024.0));
}

/* Whether the operator typed yes at the terminal. */
static bool confirmed(void)
{
    char line[16];
    fputs("Delete them? [y/N] ", stdout);
    fflush(stdout);
    if (!fgets(line, sizeof(line), stdin))
        return false;
    return line[0] == 'y' || line[0] == 'Y' || line[0] == 's' || line[0] == 'S';
}

static int cmd_delete(iq_app *app, int argc, char **argv)
{
    static const struct option opts[] = {
        {"yes", no_argument, NULL, 'y'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool yes = false;
    int opt;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":hy", opts, NULL)) != -1) {
        if (opt == 'y') {
            yes = true;
        } else if (opt == 'h') {
            fputs(delete_usage, stdout);
            return 0;
        } else {
            return iq_entity_bad_option(app, &account, "delete", opt, argv);
        }
    }
    if (argc - optind != 1) {
        iq_app_error(app, "account delete: give one %s", account.ref_text);
        return EX_USAGE;
    }
    PGconn *c = NULL;
    int64_t id = 0;
    int rc = iq_entity_open(app, &account, "delete", argv[optind], &c, &id);
    if (rc != 0)
        goto out;
    char idbuf[24], *err = NULL;
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    PGresult *r = iq_pg_query(c,
                              "SELECT a.name, (SELECT count(*) FROM messages m WHERE m.account_id "
                              "= a.id), (SELECT coalesce(sum(size), 0) FROM messages m WHERE "
                              "m.account_id = a.id), (SELECT count(*) FROM check_runs r WHERE "
                              "r.account_id = a.id) FROM mail_accounts a WHERE a.id = $1::bigint",
                              1, (const char *const[]){idbuf}, &err);
    if (!r || PQntuples(r) != 1) {
        if (r)
            rc = iq_cli_not_found(app, "account delete", "account", argv[optind], "account list");
        else
            iq_app_error(app, "account delete: %s", err ? err : "database error");
        if (!r)
            rc = iq_exit_code_last_db();
        PQclear(r);
        free(err);
        goto out;
    }
    int64_t msgs = iq_pg_i64(r, 0, 1), bytes = iq_pg_i64(r, 0, 2), runs = iq_pg_i64(r, 0, 3);
    char *name = iq_xstrdup(iq_pg_str(r, 0, 0));
    PQclear(r);
    char sz[32];
    fmt_size(bytes, sz, sizeof(sz));
    printf("account %" PRId64 " '%s' is deleted with %lld stored message%s (%s), its mailbox "
           "state and %lld check run%s\n",
           id, name, (long long)msgs, msgs == 1 ? "" : "s", sz, (long long)runs,
           runs == 1 ? "" : "s");
    fflush(stdout);
    if (msgs > 0 && !yes) {
        if (!isatty(STDIN_FILENO)) {
            iq_app_error(app,
                         "account delete: account %" PRId64 " has %lld stored message%s that "
                         "are deleted with it; give --yes to confirm (nothing was deleted)",
                         id, (long long)msgs, msgs == 1 ? "" : "s");
            rc = EX_USAGE;
        } else if (!confirmed()) {
            iq_app_error(app, "account delete: not confirmed; nothing was deleted");
            rc = 1;
        }
    }
    free(name);
    if (rc == 0) {
        iq_err st = iq_account_delete(c, id, &err);
        if (st != IQ_OK)
            rc = iq_entity_store_fail(app, &account, "delete", st, err);
        else
            printf("account %" PRId64 ": deleted\n", id);
    }
out:
    iq_pg_close(&c);
    return rc;
}

int iq_cmd_account(iq_app *app, int argc, char **argv)
{
    static const iq_entity_sub subs[] = {{"add", cmd_add},
                                         {"edit", cmd_edit},
                                         {"show", cmd_show},
                                         {"delete", cmd_delete},
                                         {"enable", cmd_enable},
                                         {"disable", cmd_disable},
                                         {"list", iq_cmd_account_list},
                                         {"test", iq_cmd_account_test}};
    return iq_entity_dispatch(app, &account, account_help, subs, IQ_ARRAY_LEN(subs), argc, argv);
}
