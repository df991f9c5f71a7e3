/* SPDX-License-Identifier: MIT */
/* inboxq connector: manage Network Connectors, the SOCKS5 / HTTP CONNECT proxies through which
 * workers reach mail servers in isolated networks (add, list, show, edit, delete). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "cmd_entity.h"
#include "commands.h"
#include "exitcode.h"
#include "i18n.h"
#include "pg.h"
#include "table.h"
#include "util.h"

static const char connector_help[] =
    "usage: inboxq connector COMMAND [ARGS]\n\n"
    "Network Connectors: proxies (SOCKS5, or HTTP CONNECT) that workers tunnel through to\n"
    "reach mail servers in isolated networks.\n\n"
    "  add --name NAME --type socks5|http --host HOST --port PORT [--credential NAME|ID]\n"
    "                         [--active yes|no]; prints the new id alone\n"
    "  list [--format table|json]\n"
    "  show ID|NAME [--format text|json]\n"
    "  edit ID|NAME [the add flags] [--expect-version N]\n"
    "                         change only what is given; --credential '' removes the login\n"
    "  delete ID|NAME         refused while an account uses it\n\n"
    "Run 'inboxq connector COMMAND --help' for details.\n";

/* A JSON value as table text. */
static const char *cell(json_t *v, char *buf, size_t size)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "yes" : "no";
    return "-";
}

/* Rows of JSON objects as a table: the headers, then the value under each key. */
static void print_table(json_t *rows, const char *const *keys, const char *const *headers,
                        size_t ncols)
{
    size_t nrows = json_array_size(rows) + 1;
    char **cells = iq_xcalloc(iq_size_mul(nrows, ncols), sizeof(*cells));
    char buf[32];
    for (size_t j = 0; j < ncols; j++)
        cells[j] = iq_xstrdup(headers[j]);
    for (size_t r = 1; r < nrows; r++) {
        json_t *row = json_array_get(rows, r - 1);
        for (size_t j = 0; j < ncols; j++)
            cells[r * ncols + j] =
                iq_xstrdup(cell(json_object_get(row, keys[j]), buf, sizeof(buf)));
    }
    iq_table_print((const char *const *)cells, nrows, ncols);
    for (size_t i = 0; i < nrows * ncols; i++)
        free(cells[i]);
    free(cells);
}

/* Flags shared by add and edit. */
enum { OPT_NAME = 256, OPT_TYPE, OPT_HOST, OPT_PORT, OPT_CREDENTIAL, OPT_ACTIVE, OPT_EXPECT };

static const struct option form_opts[] = {{"name", required_argument, NULL, OPT_NAME},
                                          {"type", required_argument, NULL, OPT_TYPE},
                                          {"host", required_argument, NULL, OPT_HOST},
                                          {"port", required_argument, NULL, OPT_PORT},
                                          {"credential", required_argument, NULL, OPT_CREDENTIAL},
                                          {"active", required_argument, NULL, OPT_ACTIVE},
                                          {"expect-version", required_argument, NULL, OPT_EXPECT},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};

/* The form into an iq_connector_input (iq_entity's parse_form). */
static int parse_form(iq_app *app, const iq_entity *e, const char *cmd, int argc, char **argv,
                      void *form, int *expect_r, int *count_r)
{
    iq_connector_input *in = form;
    int opt;
    *count_r = 0;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", form_opts, NULL)) != -1) {
        switch (opt) {
        case OPT_NAME:
            in->name = optarg;
            break;
        case OPT_TYPE:
            in->type = optarg;
            break;
        case OPT_HOST:
            in->host = optarg;
            break;
        case OPT_PORT:
            in->port = optarg;
            break;
        case OPT_CREDENTIAL:
            in->credential = optarg;
            break;
        case OPT_ACTIVE:
            in->active = optarg;
            break;
        case OPT_EXPECT: {
            int64_t v;
            if (!expect_r || iq_parse_i64(optarg, 1, INT32_MAX, &v) < 0) {
                iq_app_error(app,
                             "connector %s: --expect-version takes a version number "
                             "(see 'inboxq connector show')",
                             cmd);
                return EX_USAGE;
            }
            *expect_r = (int)v;
            continue; /* not a field */
        }
        case 'h':
            if (strcmp(cmd, "add") == 0)
                printf("usage: inboxq connector add --name NAME --type socks5|http --host HOST "
                       "--port PORT\n"
                       "                            [--credential NAME|ID] [--active yes|no]\n\n"
                       "Adds a Network Connector and prints its id alone.\n"
                       "  --name NAME           unique name (case-insensitive), not only digits\n"
                       "  --type socks5|http    SOCKS5 (RFC 1928) or HTTP CONNECT\n"
                       "  --host HOST           the proxy's host name or IP address\n"
                       "  --port PORT           1-65535\n"
                       "  --credential NAME|ID  the proxy login (SOCKS5 user/password, HTTP "
                       "Basic)\n"
                       "  --active yes|no       default yes\n");
            else
                printf("usage: inboxq connector edit ID|NAME [--name NAME] [--type socks5|http] "
                       "[--host HOST]\n"
                       "       [--port PORT] [--credential NAME|ID|''] [--active yes|no] "
                       "[--expect-version N]\n\n"
                       "Changes only the fields given; --credential '' removes the login.\n"
                       "A concurrent change makes the edit fail (exit 75): run it again.\n"
                       "--expect-version N refuses the edit unless the connector is at version "
                       "N.\n");
            return 1;
        default:
            return iq_entity_bad_option(app, e, cmd, opt, argv);
        }
        (*count_r)++;
    }
    return 0;
}

static iq_err create(PGconn *c, const void *in, int64_t *id_r, char **error_r)
{
    return iq_connector_create(c, in, id_r, error_r);
}

static iq_err update(PGconn *c, int64_t id, const void *in, int expect_version, bool *changed_r,
                     char **error_r)
{
    return iq_connector_update(c, id, in, expect_version, changed_r, error_r);
}

static const iq_entity connector = {
    .kind = "connector",
    .ref_text = "ID or NAME",
    .find = iq_connector_find,
    .remove = iq_connector_delete,
    .parse_form = parse_form,
    .create = create,
    .update = update,
};

static int cmd_add(iq_app *app, int argc, char **argv)
{
    iq_connector_input in = {0};
    return iq_entity_add(app, &connector, &in, argc, argv);
}

static int cmd_edit(iq_app *app, int argc, char **argv)
{
    iq_connector_input in = {0};
    return iq_entity_edit(app, &connector, &in, argc, argv);
}

static int list_or_show(iq_app *app, int argc, char **argv, bool show)
{
    const char *cmd = show ? "show" : "list";
    bool json = false;
    int rc = iq_entity_parse_format(app, &connector, cmd, argc, argv, show ? "text" : "table",
                                    show ? "usage: inboxq connector show ID|NAME [--format "
                                           "text|json]\n"
                                         : "usage: inboxq connector list [--format table|json]\n",
                                    &json);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    if (argc - optind != (show ? 1 : 0)) {
        iq_app_error(app, "connector %s: %s; run 'inboxq connector %s --help'", cmd,
                     show ? "give one ID or NAME" : "takes no arguments", cmd);
        return EX_USAGE;
    }
    PGconn *c = NULL;
    int64_t id = 0;
    json_t *rows = NULL;
    char *err = NULL;
    if ((rc = iq_app_connect_pg(app, &c)) != 0 ||
        (show && (rc = iq_entity_find(app, &connector, c, cmd, argv[optind], &id)) != 0))
        goto out;
    if (!(rows = iq_connector_list_json(c, show ? id : 0, &err))) {
        iq_app_error(app, "connector %s: %s", cmd, err);
        free(err);
        rc = iq_exit_code_last_db();
        goto out;
    }
    if (show && json_array_size(rows) == 0) {
        iq_app_error(app, "connector show: connector %" PRId64 " vanished", id);
        rc = EX_NOINPUT;
    } else if (json) {
        iq_entity_print_json(show ? json_array_get(rows, 0) : rows);
    } else if (show) {
        static const char *const keys[] = {"id",      "name",       "type",      "host",
                                           "port",    "credential", "active",    "accounts",
                                           "version", "created_at", "updated_at"};
        static const char *const labels[] = {"ID",      "Name",       "Type",   "Host",
                                             "Port",    "Credential", "Active", "Used by accounts",
                                             "Version", "Created",    "Updated"};
        json_t *o = json_array_get(rows, 0);
        char buf[32];
        for (size_t j = 0; j < IQ_ARRAY_LEN(keys); j++) {
            const char *text = cell(json_object_get(o, keys[j]), buf, sizeof(buf));
            char when[40];
            if (strstr(keys[j], "_at")) { /* times for people */
                iq_i18n_time_text(IQ_LANG_EN, text, when, sizeof(when));
                text = when;
            }
            printf("%-18s %s\n", labels[j], text);
        }
    } else {
        static const char *const keys[] = {"id",   "name",       "type",   "host",
                                           "port", "credential", "active", "accounts"};
        static const char *const headers[] = {"ID",   "NAME",       "TYPE",   "HOST",
                                              "PORT", "CREDENTIAL", "ACTIVE", "ACCOUNTS"};
        print_table(rows, keys, headers, IQ_ARRAY_LEN(keys));
    }
out:
    json_decref(rows);
    iq_pg_close(&c);
    return rc;
}

static int cmd_list(iq_app *app, int argc, char **argv)
{
    return list_or_show(app, argc, argv, false);
}

static int cmd_show(iq_app *app, int argc, char **argv)
{
    return list_or_show(app, argc, argv, true);
}

static const char delete_usage[] =
    "usage: inboxq connector delete ID|NAME\n\n"
    "Deletes a Network Connector; refused while an account uses it (they "
    "are named).\n";

static int cmd_delete(iq_app *app, int argc, char **argv)
{
    return iq_entity_delete(app, &connector, delete_usage, argc, argv);
}

int iq_cmd_connector(iq_app *app, int argc, char **argv)
{
    static const iq_entity_sub subs[] = {{"add", cmd_add},
                                         {"list", cmd_list},
                                         {"show", cmd_show},
                                         {"edit", cmd_edit},
                                         {"delete", cmd_delete}};
    return iq_entity_dispatch(app, &connector, connector_help, subs, IQ_ARRAY_LEN(subs), argc,
                              argv);
}
