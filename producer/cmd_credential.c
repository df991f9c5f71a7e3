/* SPDX-License-Identifier: MIT */
/* inboxq credential: manage the credential vault (add, list, show, set-secret, delete, rekey,
 * verify). Secrets come in on stdin or from a file and are never printed. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd_entity.h"
#include "commands.h"
#include "crypto.h"
#include "exitcode.h"
#include "i18n.h"
#include "http.h"
#include "pg.h"
#include "table.h"
#include "util.h"
#include "vault.h"

static const char credential_help[] =
    "usage: inboxq credential COMMAND [ARGS]\n\n"
    "The credential vault: a username and a secret, the secret sealed with AES-256-GCM under\n"
    "the master key (master_key_file, INBOXQ_MASTER_KEY_FILE). A secret is never printed.\n\n"
    "  add --name NAME --username USER (--password-stdin | --password-file FILE)\n"
    "                         add a credential; prints its id alone\n"
    "  list [--format table|json]\n"
    "  show ID|NAME [--format text|json]   everything but the secret\n"
    "  set-secret ID|NAME (--password-stdin | --password-file FILE) [--username USER]\n"
    "  delete ID|NAME         refused while an account or connector uses it\n"
    "  rekey --new-key-file FILE\n"
    "                         re-encrypt every secret with a new master key, in one\n"
    "                         transaction; then point master_key_file at FILE\n"
    "  authorize ID|NAME      OAuth2: get a refresh token by the device flow (RFC 8628)\n"
    "  verify ID|NAME [--password-stdin | --password-file FILE]\n"
    "                         check that the secret opens with the current key (and, given\n"
    "                         one, that it equals the secret supplied; exit 1 if not)\n\n"
    "--password-stdin reads the secret from stdin up to EOF (a pipe, not a terminal);\n"
    "--password-file reads it from FILE. One trailing newline is removed either way.\n"
    "Run 'inboxq credential COMMAND --help' for details.\n";

/* ---- small helpers ---- */

static const iq_entity credential = {
    .kind = "credential",
    .ref_text = "ID or NAME",
    .find = iq_vault_find,
    .remove = iq_vault_delete,
};

static int load_key(iq_app *app, const char *cmd, uint8_t key[IQ_KEY_LEN])
{
    char *err = NULL;
    if (iq_vault_key_from_config(app->cfg, key, &err) < 0) {
        iq_app_error(app, "credential %s: %s", cmd, err);
        free(err);
        return EX_CONFIG;
    }
    return 0;
}

/* Reads fd into buf until EOF or until cap bytes are in: the count, or -1 with errno. */
static ssize_t read_bounded(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    while (len < cap) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    return (ssize_t)len;
}

/* Reads a secret from fd until EOF into one fixed buffer (never reallocated, so no copy is
 * left behind), strips one trailing "\n" or "\r\n" and validates it. NULL on failure with
 * *exit_r set and the error printed. */
static char *read_secret(iq_app *app, const char *cmd, int fd, const char *what, int *exit_r)
{
    size_t cap = (size_t)IQ_SECRET_MAX + 3;
    char *buf = iq_xcalloc(1, cap);
    char *err = NULL;
    ssize_t got = read_bounded(fd, buf, cap - 1);
    if (got < 0) {
        iq_app_error(app, "credential %s: reading %s: %s", cmd, what, IQ_STRERROR(errno));
        *exit_r = EX_IOERR;
        goto fail;
    }
    size_t len = (size_t)got;
    if (len == cap - 1) { /* filled up before EOF: longer than any secret may be */
        iq_app_error(app,
                     "credential %s: secret: %s holds more than %d bytes; a secret is a "
                     "password or a token, not a file",
                     cmd, what, IQ_SECRET_MAX);
        *exit_r = EX_DATAERR;
        goto fail;
    }
    if (len > 0 && buf[len - 1] == '\n') {
        buf[--len] = '\0';
        if (len > 0 && buf[len - 1] == '\r')
            buf[--len] = '\0';
    }
    if (iq_vault_validate_secret(buf, len, &err) < 0) {
        iq_app_error(app, "credential %s: %s (read from %s)", cmd, err, what);
        free(err);
        *exit_r = EX_DATAERR;
        goto fail;
    }
    return buf;
fail:
    iq_secure_zero(buf, cap);
    free(buf);
    return NULL;
}

/* The secret from --password-stdin or --password-file. */
static char *get_secret(iq_app *app, const char *cmd, bool from_stdin, const char *file,
                        int *exit_r)
{
    if (from_stdin) {
        if (isatty(STDIN_FILENO)) {
            iq_app_error(app,
                         "credential %s: --password-stdin reads a pipe, and stdin is a "
                         "terminal; pipe the secret in, or use --password-file FILE",
                         cmd);
            *exit_r = EX_USAGE;
            return NULL;
        }
        return read_secret(app, cmd, STDIN_FILENO, "stdin", exit_r);
    }
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        iq_app_error(app, "credential %s: --password-file %s: %s", cmd, file, IQ_STRERROR(errno));
        *exit_r = errno == ENOENT ? EX_NOINPUT : EX_IOERR;
        return NULL;
    }
    char *s = read_secret(app, cmd, fd, file, exit_r);
    close(fd);
    return s;
}

/* The options of add, set-secret and verify: each takes some of them. */
typedef struct secret_args {
    const char *name, *username, *file;
    bool from_stdin;
} secret_args;

/* Parses the options in opts (usage on --help): 0 parsed, 1 help printed, or an exit code. */
static int parse_secret_args(iq_app *app, const char *cmd, int argc, char **argv,
                             const struct option *opts, const char *usage, secret_args *a)
{
    int opt;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            a->name = optarg;
            break;
        case 'u':
            a->username = optarg;
            break;
        case 's':
            a->from_stdin = true;
            break;
        case 'f':
            a->file = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 1;
        default:
            return iq_entity_bad_option(app, &credential, cmd, opt, argv);
        }
    }
    return 0;
}

/* The master key, and the secret when the options name one: 0, or an exit code after the
 * error. */
static int key_and_secret(iq_app *app, const char *cmd, const secret_args *a,
                          uint8_t key[IQ_KEY_LEN], char **secret_r)
{
    int rc = load_key(app, cmd, key);
    if (rc != 0 || (!a->from_stdin && !a->file))
        return rc;
    *secret_r = get_secret(app, cmd, a->from_stdin, a->file, &rc);
    return *secret_r ? 0 : rc;
}

/* ---- subcommands ---- */

static const char add_usage[] =
    "usage: inboxq credential add --name NAME --username USER\n"
    "                             (--password-stdin | --password-file FILE)\n"
    "       inboxq credential add --name NAME --type oauth2 --username MAILBOX\n"
    "                             --provider microsoft365|google|outlook|generic\n"
    "                             [--tenant T] [--token-url URL] [--scope S] [--client-id ID]\n"
    "                             [--client-secret-stdin | --client-certificate FILE\n"
    "                              --client-key FILE | --service-account-file FILE]\n"
    "                             [--grant client_credentials|refresh_token|jwt_bearer]\n\n"
    "Adds a credential to the vault and prints its id alone. The secrets are\n"
    "sealed with the master key and bound to the new row's id.\n"
    "  --name NAME           unique name (case-insensitive), not only digits\n"
    "  --type password|oauth2   default password\n"
    "  --username USER       the login name; for oauth2 the mailbox's address\n"
    "  --password-stdin      read the secret from stdin (a pipe) up to EOF\n"
    "  --password-file FILE  read the secret from FILE\n"
    "OAuth2 (docs/oauth2.md):\n"
    "  --provider P          microsoft365 (--tenant T), google, outlook (personal\n"
    "                        Outlook.com), or generic (--token-url URL --scope S)\n"
    "  --client-id ID        the app registration's application (client) id\n"
    "  --client-secret-stdin read the client secret from stdin (a pipe)\n"
    "  --client-certificate FILE --client-key FILE\n"
    "                        sign a client assertion (RFC 7523, RS256) instead\n"
    "  --service-account-file FILE   Google service-account JSON key (jwt_bearer)\n"
    "  --grant G             default: client_credentials with a client secret or\n"
    "                        certificate, jwt_bearer with a service account, else\n"
    "                        refresh_token (then run 'inboxq credential authorize NAME')\n"
    "  --device-url URL      the device authorization endpoint (generic provider)\n"
    "  --refresh-token-file FILE   a refresh token obtained elsewhere (refresh_token\n"
    "                        grant), instead of 'inboxq credential authorize'\n";

/* Reads a small text file (a PEM key or certificate, a JSON key file): at most IQ_SECRET_MAX
 * bytes, no NUL. NULL on failure with *exit_r set and the error printed. */
static char *read_text_file(iq_app *app, const char *flag, const char *path, int *exit_r)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        iq_app_error(app, "credential add: %s %s: %s", flag, path, IQ_STRERROR(errno));
        *exit_r = errno == ENOENT ? EX_NOINPUT : EX_IOERR;
        return NULL;
    }
    size_t cap = (size_t)IQ_SECRET_MAX + 1;
    char *buf = iq_xcalloc(1, cap + 1);
    ssize_t got = read_bounded(fd, buf, cap);
    if (got < 0) {
        iq_app_error(app, "credential add: %s %s: %s", flag, path, IQ_STRERROR(errno));
        *exit_r = EX_IOERR;
        goto fail;
    }
    size_t len = (size_t)got;
    if (len == cap || len == 0 || memchr(buf, '\0', len)) {
        iq_app_error(app, "credential add: %s %s: %s", flag, path,
                     len == 0     ? "is empty"
                     : len == cap ? "is too large (over 64 KiB)"
                                  : "holds a NUL byte; give a text file");
        *exit_r = EX_DATAERR;
        goto fail;
    }
    close(fd);
    return buf;
fail:
    close(fd);
    iq_secure_zero(buf, cap + 1);
    free(buf);
    return NULL;
}

enum {
    OPT_TYPE = 256,
    OPT_PROVIDER,
    OPT_TENANT,
    OPT_TOKEN_URL,
    OPT_DEVICE_URL,
    OPT_SCOPE,
    OPT_CLIENT_ID,
    OPT_GRANT,
    OPT_CLIENT_SECRET_STDIN,
    OPT_CLIENT_CERT,
    OPT_CLIENT_KEY,
    OPT_SA_FILE,
    OPT_REFRESH_FILE,
};

typedef struct oauth_files {
    const char *cert, *key, *sa, *refresh;
    bool secret_stdin;
} oauth_files;

static int add_oauth2(iq_app *app, const secret_args *a, iq_oauth_input *in, const oauth_files *f)
{
    int rc = 0;
    uint8_t key[IQ_KEY_LEN];
    char *secret = NULL, *cert = NULL, *ckey = NULL, *sa = NULL, *rt = NULL, *err = NULL;
    PGconn *c = NULL;
    if (a->from_stdin || a->file) {
        iq_app_error(app, "credential add: --password-stdin/--password-file: an oauth2 "
                          "credential has no password; give --client-secret-stdin, "
                          "--client-certificate and --client-key, or --service-account-file");
        return EX_USAGE;
    }
    if (f->secret_stdin) {
        if (isatty(STDIN_FILENO)) {
            iq_app_error(app, "credential add: --client-secret-stdin reads a pipe, and stdin "
                              "is a terminal; pipe the secret in");
            return EX_USAGE;
        }
        if (!(secret = read_secret(app, "add", STDIN_FILENO, "stdin", &rc)))
            return rc;
        in->client_secret = secret;
    }
    if ((f->cert && !(cert = read_text_file(app, "--client-certificate", f->cert, &rc))) ||
        (f->key && !(ckey = read_text_file(app, "--client-key", f->key, &rc))) ||
        (f->sa && !(sa = read_text_file(app, "--service-account-file", f->sa, &rc))))
        goto out;
    if (f->refresh) {
        int fd = open(f->refresh, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
            iq_app_error(app, "credential add: --refresh-token-file %s: %s", f->refresh,
                         IQ_STRERROR(errno));
            rc = errno == ENOENT ? EX_NOINPUT : EX_IOERR;
            goto out;
        }
        rt = read_secret(app, "add", fd, f->refresh, &rc);
        close(fd);
        if (!rt)
            goto out;
        in->refresh_token = rt;
    }
    in->client_cert_pem = cert;
    in->client_key_pem = ckey;
    in->service_account_json = sa;
    /* the rules first, so a bad flag is named before any connection is tried */
    iq_oauth_cred oc;
    if (iq_oauth_resolve(in, a->username, &oc, &err) != IQ_OK) {
        iq_app_error(app, "credential add: %s", err);
        free(err);
        rc = EX_DATAERR;
        goto out;
    }
    iq_oauth_cred_release(&oc);
    if ((rc = load_key(app, "add", key)) != 0 || (rc = iq_app_connect_pg(app, &c)) != 0)
        goto out;
    int64_t id = 0;
    iq_err st = iq_vault_add_oauth2(c, key, a->name, a->username, in, &id, &err);
    if (st != IQ_OK) {
        rc = iq_entity_store_fail(app, &credential, "add", st, err);
        goto out;
    }
    printf("%" PRId64 "\n", id);
out:
    iq_secret_free(&secret);
    iq_secret_free(&cert);
    iq_secret_free(&ckey);
    iq_secret_free(&sa);
    iq_secret_free(&rt);
    iq_secure_zero(key, sizeof(key));
    iq_pg_close(&c);
    return rc;
}

static int cmd_add(iq_app *app, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"username", required_argument, NULL, 'u'},
        {"password-stdin", no_argument, NULL, 's'},
        {"password-file", required_argument, NULL, 'f'},
        {"type", required_argument, NULL, OPT_TYPE},
        {"provider", required_argument, NULL, OPT_PROVIDER},
        {"tenant", required_argument, NULL, OPT_TENANT},
        {"token-url", required_argument, NULL, OPT_TOKEN_URL},
        {"device-url", required_argument, NULL, OPT_DEVICE_URL},
        {"scope", required_argument, NULL, OPT_SCOPE},
        {"client-id", required_argument, NULL, OPT_CLIENT_ID},
        {"grant", required_argument, NULL, OPT_GRANT},
        {"client-secret-stdin", no_argument, NULL, OPT_CLIENT_SECRET_STDIN},
        {"client-certificate", required_argument, NULL, OPT_CLIENT_CERT},
        {"client-key", required_argument, NULL, OPT_CLIENT_KEY},
        {"service-account-file", required_argument, NULL, OPT_SA_FILE},
        {"refresh-token-file", required_argument, NULL, OPT_REFRESH_FILE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    secret_args a = {0};
    iq_oauth_input in = {0};
    oauth_files f = {0};
    const char *type = "password";
    bool oauth_given = false;
    int opt;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        oauth_given = oauth_given || opt >= OPT_PROVIDER;
        switch (opt) {
        case 'n':
            a.name = optarg;
            break;
        case 'u':
            a.username = optarg;
            break;
        case 's':
            a.from_stdin = true;
            break;
        case 'f':
            a.file = optarg;
            break;
        case OPT_TYPE:
            type = optarg;
            break;
        case OPT_PROVIDER:
            in.provider = optarg;
            break;
        case OPT_TENANT:
            in.tenant = optarg;
            break;
        case OPT_TOKEN_URL:
            in.token_url = optarg;
            break;
        case OPT_DEVICE_URL:
            in.device_url = optarg;
            break;
        case OPT_SCOPE:
            in.scope = optarg;
            break;
        case OPT_CLIENT_ID:
            in.client_id = optarg;
            break;
        case OPT_GRANT:
            in.grant = optarg;
            break;
        case OPT_CLIENT_SECRET_STDIN:
            f.secret_stdin = true;
            break;
        case OPT_CLIENT_CERT:
            f.cert = optarg;
            break;
        case OPT_CLIENT_KEY:
            f.key = optarg;
            break;
        case OPT_SA_FILE:
            f.sa = optarg;
            break;
        case OPT_REFRESH_FILE:
            f.refresh = optarg;
            break;
        case 'h':
            fputs(add_usage, stdout);
            return 0;
        default:
            return iq_entity_bad_option(app, &credential, "add", opt, argv);
        }
    }
    if (optind < argc) {
        iq_app_error(app, "credential add: unexpected argument '%s'", argv[optind]);
        return EX_USAGE;
    }
    if (!a.name || !a.username) {
        iq_app_error(app, "credential add: --name and --username are required; run 'inboxq "
                          "credential add --help'");
        return EX_USAGE;
    }
    if (strcmp(type, "oauth2") == 0) {
        if (!in.provider) {
            iq_app_error(app, "credential add: --provider: is required with --type oauth2; "
                              "give microsoft365, google, outlook or generic");
            return EX_USAGE;
        }
        return add_oauth2(app, &a, &in, &f);
    }
    if (strcmp(type, "password") != 0) {
        iq_app_error(app, "credential add: --type: give password or oauth2");
        return EX_USAGE;
    }
    if (oauth_given) {
        iq_app_error(app, "credential add: --provider, --client-id and the other OAuth2 flags "
                          "need --type oauth2");
        return EX_USAGE;
    }
    if (a.from_stdin == (a.file != NULL)) {
        iq_app_error(app, "credential add: give exactly one of --password-stdin or "
                          "--password-file FILE (the secret is never taken from the command "
                          "line)");
        return EX_USAGE;
    }
    uint8_t key[IQ_KEY_LEN];
    char *secret = NULL, *err = NULL;
    PGconn *c = NULL;
    int rc;
    if ((rc = key_and_secret(app, "add", &a, key, &secret)) != 0 ||
        (rc = iq_app_connect_pg(app, &c)) != 0)
        goto out;
    int64_t id = 0;
    iq_err st = iq_vault_add(c, key, a.name, a.username, secret, &id, &err);
    if (st != IQ_OK) {
        rc = iq_entity_store_fail(app, &credential, "add", st, err);
        goto out;
    }
    printf("%" PRId64 "\n", id);
out:
    iq_secret_free(&secret);
    iq_secure_zero(key, sizeof(key));
    iq_pg_close(&c);
    return rc;
}

static const char list_usage[] =
    "usage: inboxq credential list [--format table|json]\n\n"
    "Lists every credential: id, name, type (password or oauth2), username, the id\n"
    "of the key that sealed its secrets, and how many accounts and connectors use\n"
    "it. Never secrets.\n";

static int cmd_list(iq_app *app, int argc, char **argv)
{
    bool json = false;
    int rc =
        iq_entity_parse_format(app, &credential, "list", argc, argv, "table", list_usage, &json);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    if (optind < argc) {
        iq_app_error(app, "credential list: unexpected argument '%s'", argv[optind]);
        return EX_USAGE;
    }
    PGconn *c = NULL;
    if ((rc = iq_app_connect_pg(app, &c)) != 0)
        return rc;
    iq_credential_info *list = NULL;
    size_t n = 0;
    char *err = NULL;
    if (iq_vault_list(c, &list, &n, &err) < 0) {
        iq_app_error(app, "credential list: %s", err);
        free(err);
        iq_pg_close(&c);
        return iq_exit_code_last_db();
    }
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, iq_credential_info_json(&list[i]));
        iq_entity_print_json(arr);
        json_decref(arr);
    } else {
        static const char *const hdr[] = {"ID",     "NAME",     "TYPE",       "USERNAME",
                                          "KEY ID", "ACCOUNTS", "CONNECTORS", "UPDATED"};
        enum { NC = 8 };
        const char **cells = iq_xcalloc(iq_size_mul(n + 1, NC), sizeof(*cells));
        char(*nums)[4][40] = iq_xcalloc(n ? n : 1, sizeof(*nums)); /* id, accounts, conn., time */
        memcpy(cells, hdr, sizeof(hdr));
        for (size_t i = 0; i < n; i++) {
            snprintf(nums[i][0], 40, "%" PRId64, list[i].id);
            snprintf(nums[i][1], 40, "%" PRId64, list[i].accounts);
            snprintf(nums[i][2], 40, "%" PRId64, list[i].connectors);
            iq_i18n_time_text(IQ_LANG_EN, list[i].updated_at, nums[i][3], 40); /* for people */
            const char *v[NC] = {nums[i][0],     list[i].name, list[i].type, list[i].username,
                                 list[i].key_id, nums[i][1],   nums[i][2],   nums[i][3]};
            memcpy(cells + (i + 1) * NC, v, sizeof(v));
        }
        iq_table_print(cells, n + 1, NC);
        free(nums);
        free(cells);
    }
    for (size_t i = 0; i < n; i++)
        iq_credential_info_release(&list[i]);
    free(list);
    iq_pg_close(&c);
    return 0;
}

static const char show_usage[] =
    "usage: inboxq credential show ID|NAME [--format text|json]\n\n"
    "Shows a credential and what uses it. The secret is never shown.\n";

static int cmd_show(iq_app *app, int argc, char **argv)
{
    bool json = false;
    int rc =
        iq_entity_parse_format(app, &credential, "show", argc, argv, "text", show_usage, &json);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    if (argc - optind != 1) {
        iq_app_error(app, "credential show: give one ID or NAME; run 'inboxq credential show "
                          "--help'");
        return EX_USAGE;
    }
    PGconn *c = NULL;
    int64_t id = 0;
    iq_credential_info ci;
    memset(&ci, 0, sizeof(ci));
    char *err = NULL, *users = NULL;
    if ((rc = iq_entity_open(app, &credential, "show", argv[optind], &c, &id)) != 0)
        goto out;
    int found = iq_vault_get(c, id, &ci, &err);
    if (found <= 0 || iq_vault_users(c, id, &users, &err) < 0) {
        iq_app_error(app, "credential show: %s", err ? err : "the credential vanished");
        free(err);
        rc = found == 0 ? EX_NOINPUT : iq_exit_code_last_db();
        goto out;
    }
    if (json) {
        json_t *o = iq_credential_info_json(&ci);
        json_object_set_new(o, "used_by", users ? json_string(users) : json_null());
        iq_entity_print_json(o);
        json_decref(o);
    } else {
        char t_created[40], t_updated[40];
        iq_i18n_time_text(IQ_LANG_EN, ci.created_at, t_created, sizeof(t_created));
        iq_i18n_time_text(IQ_LANG_EN, ci.updated_at, t_updated, sizeof(t_updated));
        printf("ID:          %" PRId64 "\n"
               "Name:        %s\n"
               "Username:    %s\n"
               "Secret:      sealed with master key %s (never shown)\n"
               "Used by:     %s\n"
               "Version:     %d\n"
               "Created:     %s\n"
               "Updated:     %s\n",
               ci.id, ci.name, ci.username, ci.key_id, users ? users : "nothing", ci.version,
               t_created, t_updated);
        printf("Type:        %s\n", ci.type ? ci.type : "password");
        if (ci.oauth) {
            static const char *const keys[][2] = {
                {"provider", "Provider:    "},     {"grant", "Grant:       "},
                {"token_url", "Token URL:   "},    {"device_url", "Device URL:  "},
                {"client_id", "Client id:   "},    {"client_auth", "Client auth: "},
                {"scope", "Scope:       "},        {"assertion_iss", "Issuer:      "},
                {"assertion_kid", "Key id:      "}};
            for (size_t i = 0; i < IQ_ARRAY_LEN(keys); i++) {
                const char *v = json_string_value(json_object_get(ci.oauth, keys[i][0]));
                if (v)
                    printf("%s%s\n", keys[i][1], v);
            }
            if (ci.token_expires_at) {
                char t_token[40];
                iq_i18n_time_text(IQ_LANG_EN, ci.token_expires_at, t_token, sizeof(t_token));
                printf("Token:       cached, expires %s (never shown)\n", t_token);
            } else {
                printf("Token:       none cached\n");
            }
        }
    }
out:
    free(users);
    iq_credential_info_release(&ci);
    iq_pg_close(&c);
    return rc;
}

static const char set_secret_usage[] =
    "usage: inboxq credential set-secret ID|NAME (--password-stdin | --password-file FILE)\n"
    "                                    [--username USER]\n\n"
    "Replaces the secret (sealed again with the current master key and a fresh\n"
    "nonce) and, with --username, the username. Audited without the secret.\n";

static int cmd_set_secret(iq_app *app, int argc, char **argv)
{
    static const struct option opts[] = {{"username", required_argument, NULL, 'u'},
                                         {"password-stdin", no_argument, NULL, 's'},
                                         {"password-file", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    secret_args a = {0};
    int rc = parse_secret_args(app, "set-secret", argc, argv, opts, set_secret_usage, &a);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    if (argc - optind != 1) {
        iq_app_error(app, "credential set-secret: give one ID or NAME; run 'inboxq credential "
                          "set-secret --help'");
        return EX_USAGE;
    }
    if (a.from_stdin == (a.file != NULL)) {
        iq_app_error(app, "credential set-secret: give exactly one of --password-stdin or "
                          "--password-file FILE");
        return EX_USAGE;
    }
    uint8_t key[IQ_KEY_LEN];
    char *secret = NULL, *err = NULL;
    PGconn *c = NULL;
    int64_t id = 0;
    if ((rc = key_and_secret(app, "set-secret", &a, key, &secret)) != 0 ||
        (rc = iq_entity_open(app, &credential, "set-secret", argv[optind], &c, &id)) != 0)
        goto out;
    iq_err st = iq_vault_set_secret(c, key, id, a.username, secret, &err);
    if (st != IQ_OK) {
        rc = iq_entity_store_fail(app, &credential, "set-secret", st, err);
        goto out;
    }
    printf("credential %" PRId64 ": secret replaced\n", id);
out:
    iq_secret_free(&secret);
    iq_secure_zero(key, sizeof(key));
    iq_pg_close(&c);
    return rc;
}

static const char delete_usage[] =
    "usage: inboxq credential delete ID|NAME\n\n"
    "Deletes a credential. Refused while an account or a connector uses it "
    "(they\nare named). Audited.\n";

static int cmd_delete(iq_app *app, int argc, char **argv)
{
    return iq_entity_delete(app, &credential, delete_usage, argc, argv);
}

static int cmd_rekey(iq_app *app, int argc, char **argv)
{
    static const struct option opts[] = {{"new-key-file", required_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *new_file = NULL;
    int opt, rc;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 'k':
            new_file = optarg;
            break;
        case 'h':
            printf("usage: inboxq credential rekey --new-key-file FILE\n\n"
                   "Re-encrypts every secret from the current master key (master_key_file) to\n"
                   "the key in FILE (make it with 'inboxq keygen'), in one transaction: until\n"
                   "it commits every row keeps its old key id, and on any problem nothing\n"
                   "changes. Refused when a row is sealed with neither key.\n\n"
                   "Without stopping the workers: first restart them one by one with\n"
                   "master_key_file at FILE and master_key_previous_file at the old key (they\n"
                   "open secrets sealed with either), then rekey, then drop the old key from\n"
                   "master_key_previous_file at the next restart.\n");
            return 0;
        default:
            return iq_entity_bad_option(app, &credential, "rekey", opt, argv);
        }
    }
    if (optind < argc || !new_file) {
        iq_app_error(app, "credential rekey: give --new-key-file FILE (and nothing else); run "
                          "'inboxq credential rekey --help'");
        return EX_USAGE;
    }
    uint8_t old_key[IQ_KEY_LEN], new_key[IQ_KEY_LEN];
    char *err = NULL;
    PGconn *c = NULL;
    if ((rc = load_key(app, "rekey", old_key)) != 0)
        return rc;
    if (iq_master_key_load(new_file, new_key, &err) < 0) {
        iq_app_error(app, "credential rekey: --new-key-file: %s", err);
        free(err);
        rc = EX_CONFIG;
        goto out;
    }
    if ((rc = iq_app_connect_pg(app, &c)) != 0)
        goto out;
    size_t rekeyed = 0, already = 0;
    iq_err st = iq_vault_rekey(c, old_key, new_key, &rekeyed, &already, &err);
    if (st != IQ_OK) {
        rc = iq_entity_store_fail(app, &credential, "rekey", st, err);
        goto out;
    }
    char new_id[IQ_KEY_ID_LEN + 1];
    iq_key_id(new_key, new_id);
    printf("re-encrypted %zu credential(s) with key %s (%zu already under it); now point "
           "master_key_file at %s (programs holding the old key in master_key_previous_file "
           "keep working meanwhile)\n",
           rekeyed, new_id, already, new_file);
out:
    iq_secure_zero(old_key, sizeof(old_key));
    iq_secure_zero(new_key, sizeof(new_key));
    iq_pg_close(&c);
    return rc;
}

static const char verify_usage[] =
    "usage: inboxq credential verify ID|NAME [--password-stdin | --password-file FILE]\n\n"
    "Checks that the stored secret opens with the current master key. Given a\n"
    "secret, also compares it (in constant time) with the stored one: exit 0\n"
    "when equal, 1 when not. Nothing secret is printed.\n";

static int cmd_verify(iq_app *app, int argc, char **argv)
{
    static const struct option opts[] = {{"password-stdin", no_argument, NULL, 's'},
                                         {"password-file", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    secret_args a = {0};
    int rc = parse_secret_args(app, "verify", argc, argv, opts, verify_usage, &a);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    if (argc - optind != 1) {
        iq_app_error(app, "credential verify: give one ID or NAME");
        return EX_USAGE;
    }
    if (a.from_stdin && a.file) {
        iq_app_error(app, "credential verify: give at most one of --password-stdin or "
                          "--password-file FILE");
        return EX_USAGE;
    }
    uint8_t key[IQ_KEY_LEN];
    char *given = NULL, *stored = NULL, *err = NULL;
    PGconn *c = NULL;
    int64_t id = 0;
    if ((rc = key_and_secret(app, "verify", &a, key, &given)) != 0 ||
        (rc = iq_entity_open(app, &credential, "verify", argv[optind], &c, &id)) != 0)
        goto out;
    iq_err st = iq_vault_open_status(c, key, id, NULL, &stored, &err);
    if (st != IQ_OK) {
        rc = iq_entity_store_fail(app, &credential, "verify", st, err);
        goto out;
    }
    char key_id[IQ_KEY_ID_LEN + 1];
    iq_key_id(key, key_id);
    if (given) {
        if (!iq_crypto_equal(given, strlen(given), stored, strlen(stored))) {
            printf("credential %" PRId64 ": opens with key %s, but differs from the secret "
                   "given\n",
                   id, key_id);
            rc = IQ_EXIT_CHECK_FAILED;
            goto out;
        }
        printf("credential %" PRId64 ": opens with key %s and equals the secret given\n", id,
               key_id);
    } else {
        printf("credential %" PRId64 ": opens with key %s\n", id, key_id);
    }
out:
    iq_secret_free(&given);
    iq_secret_free(&stored);
    iq_secure_zero(key, sizeof(key));
    iq_pg_close(&c);
    return rc;
}

static const char authorize_usage[] =
    "usage: inboxq credential authorize ID|NAME [--timeout DURATION]\n\n"
    "Gets a refresh token for an OAuth2 credential with the refresh_token grant, by the\n"
    "device authorization grant (RFC 8628): prints a URL and a code to enter in any\n"
    "browser, waits while the mailbox's user signs in and consents, then stores the\n"
    "refresh token sealed in the vault. Nothing secret is printed. --timeout caps the\n"
    "wait (default: as long as the code is valid).\n";

/* A field of the device endpoint's answer, as text (numbers too); NULL when absent. */
static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int cmd_authorize(iq_app *app, int argc, char **argv)
{
    static const struct option opts[] = {{"timeout", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int64_t timeout_s = 0;
    int opt;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 't': {
            int64_t ms = 0;
            if (iq_parse_duration_ms(optarg, &ms) < 0 || ms < 1000) {
                iq_app_error(app, "credential authorize: --timeout: give a duration such as "
                                  "90s or 10m");
                return EX_USAGE;
            }
            timeout_s = ms / 1000;
            break;
        }
        case 'h':
            fputs(authorize_usage, stdout);
            return 0;
        default:
            return iq_entity_bad_option(app, &credential, "authorize", opt, argv);
        }
    }
    if (argc - optind != 1) {
        iq_app_error(app, "credential authorize: give one ID or NAME");
        return EX_USAGE;
    }
    uint8_t key[IQ_KEY_LEN];
    PGconn *c = NULL;
    int64_t id = 0;
    char *err = NULL;
    iq_oauth_cred oc;
    memset(&oc, 0, sizeof(oc));
    iq_http_response r = {0};
    json_t *o = NULL;
    int rc;
    if ((rc = load_key(app, "authorize", key)) != 0 ||
        (rc = iq_entity_open(app, &credential, "authorize", argv[optind], &c, &id)) != 0)
        goto out;
    iq_err st = iq_vault_oauth_open(c, key, id, &oc, &err);
    if (st != IQ_OK) {
        rc = iq_entity_store_fail(app, &credential, "authorize", st, err);
        goto out;
    }
    if (oc.grant != IQ_GRANT_REFRESH_TOKEN) {
        iq_app_error(app,
                     "credential authorize: credential %" PRId64 " uses the %s grant, "
                     "which needs no user's consent; only refresh_token credentials are "
                     "authorized",
                     id, iq_grant_name(oc.grant));
        rc = EX_DATAERR;
        goto out;
    }
    if (!oc.device_url) {
        iq_app_error(app,
                     "credential authorize: credential %" PRId64 " has no device "
                     "authorization endpoint; add it again with --device-url URL",
                     id);
        rc = EX_DATAERR;
        goto out;
    }
    iq_http_opts ho = {.ca_file = iq_config_str(app->cfg, IQ_SET_CA_FILE), .timeout_ms = 30000};
    const char *dev[] = {"client_id", oc.client_id, "scope", oc.scope ? oc.scope : "", NULL};
    iq_err cls = IQ_OK;
    if (iq_http_post_form(oc.device_url, dev, &ho, &r, &cls, &err) < 0) {
        iq_app_error(app, "credential authorize: the device endpoint: %s", err);
        free(err);
        rc = EX_UNAVAILABLE;
        goto out;
    }
    o = json_loadb(r.body, r.len, 0, NULL);
    const char *device_code = jstr(o, "device_code"), *user_code = jstr(o, "user_code");
    const char *uri =
        jstr(o, "verification_uri") ? jstr(o, "verification_uri") : jstr(o, "verification_url");
    if (r.status != 200 || !device_code || !user_code || !uri) {
        const char *e = jstr(o, "error");
        iq_app_error(app,
                     "credential authorize: the device endpoint answered HTTP %ld%s%s; "
                     "check the client id and that the app allows public client flows",
                     r.status, e ? ": " : "", e ? e : "");
        rc = r.status >= 500 ? EX_TEMPFAIL : EX_DATAERR;
        goto out;
    }
    json_int_t interval = json_integer_value(json_object_get(o, "interval"));
    json_int_t expires = json_integer_value(json_object_get(o, "expires_in"));
    if (interval < 1)
        interval = 5;
    if (expires < 1)
        expires = 900;
    if (timeout_s > 0 && timeout_s < expires)
        expires = timeout_s;
    printf("To sign in, open %s and enter the code %s\n", uri, user_code);
    printf("Waiting up to %lld s for the mailbox's user (%s) to approve...\n", (long long)expires,
           oc.username);
    fflush(stdout);
    int64_t deadline = iq_now_mono_ms() + (int64_t)expires * 1000;
    rc = EX_TEMPFAIL;
    while (iq_now_mono_ms() < deadline) {
        struct timespec ts = {.tv_sec = (time_t)interval};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        const char *f[12];
        size_t n = 0;
        f[n++] = "grant_type";
        f[n++] = "urn:ietf:params:oauth:grant-type:device_code";
        f[n++] = "device_code";
        f[n++] = device_code;
        f[n++] = "client_id";
        f[n++] = oc.client_id;
        if (oc.client_secret) {
            f[n++] = "client_secret";
            f[n++] = oc.client_secret;
        }
        f[n] = NULL;
        iq_http_response tr = {0};
        if (iq_http_post_form(oc.token_url, f, &ho, &tr, &cls, &err) < 0) {
            iq_app_error(app, "credential authorize: the token endpoint: %s (retrying)", err);
            free(err);
            err = NULL;
            continue;
        }
        json_t *t = json_loadb(tr.body, tr.len, 0, NULL);
        const char *e = jstr(t, "error"), *rt = jstr(t, "refresh_token");
        if (tr.status == 200 && rt) {
            st = iq_vault_oauth_set_refresh(c, key, &oc, rt, false, &err);
            json_decref(t);
            iq_http_response_release(&tr);
            if (st != IQ_OK) {
                rc = iq_entity_store_fail(app, &credential, "authorize", st, err);
                goto out;
            }
            /* a cached token of the old grant is of no use now */
            char idbuf[32];
            snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
            const char *p[] = {idbuf};
            if (iq_pg_exec(c, "DELETE FROM oauth_tokens WHERE credential_id = $1::bigint", 1, p,
                           &err) < 0) {
                free(err);
                err = NULL;
            }
            printf("credential %" PRId64 ": authorized; the refresh token is stored (never "
                   "shown)\n",
                   id);
            rc = 0;
            goto out;
        }
        bool pending = e && strcmp(e, "authorization_pending") == 0;
        if (e && strcmp(e, "slow_down") == 0) {
            interval += 5;
            pending = true;
        }
        if (!pending) {
            iq_app_error(app, "credential authorize: %s",
                         e && strcmp(e, "access_denied") == 0
                             ? "the user declined; run the command again to retry"
                         : e && strcmp(e, "expired_token") == 0
                             ? "the code expired; run the command again"
                             : "the token endpoint refused the device code");
            json_decref(t);
            iq_http_response_release(&tr);
            rc = EX_NOPERM;
            goto out;
        }
        json_decref(t);
        iq_http_response_release(&tr);
    }
    iq_app_error(app, "credential authorize: nobody approved within the time; run the command "
                      "again");
out:
    json_decref(o);
    iq_http_response_release(&r);
    iq_oauth_cred_release(&oc);
    iq_secure_zero(key, sizeof(key));
    iq_pg_close(&c);
    return rc;
}

int iq_cmd_credential(iq_app *app, int argc, char **argv)
{
    static const iq_entity_sub subs[] = {{"add", cmd_add},       {"list", cmd_list},
                                         {"show", cmd_show},     {"set-secret", cmd_set_secret},
                                         {"delete", cmd_delete}, {"rekey", cmd_rekey},
                                         {"verify", cmd_verify}, {"authorize", cmd_authorize}};
    return iq_entity_dispatch(app, &credential, credential_help, subs, IQ_ARRAY_LEN(subs), argc,
                              argv);
}
