/* SPDX-License-Identifier: MIT */
/* inboxq serve: the web console and its JSON API on libmicrohttpd (lib/obs/httpd), with
 * PostgreSQL as the only shared state (sessions included), until SIGINT or SIGTERM. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "commands.h"
#include "exitcode.h"
#include "log.h"
#include "serve.h"
#include "util.h"

#define DEFAULT_LISTEN "127.0.0.1:8480"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: inboxq serve [--listen ADDR:PORT] [--tls-cert FILE --tls-key FILE]\n"
            "                    [--insecure-http]\n\n"
            "Serves the web console and its JSON API (schemas/openapi.json) until SIGINT or\n"
            "SIGTERM. Operators sign in with the accounts 'inboxq operator add' creates.\n"
            "  --listen ADDR:PORT  where to listen (default %s); IPv6 as [::1]:8480\n"
            "  --tls-cert FILE     HTTPS with this PEM certificate chain...\n"
            "  --tls-key FILE      ...and its PEM private key\n"
            "  --insecure-http     allow plain HTTP on a non-loopback address (only behind a\n"
            "                      TLS-terminating proxy: passwords and cookies cross the wire)\n",
            DEFAULT_LISTEN);
}

/* A PEM file's text (at most 1 MiB), or NULL with the error printed. */
static char *read_pem(iq_app *app, const char *opt, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        iq_app_error(app, "serve: %s %s: %s", opt, path, IQ_STRERROR(errno));
        return NULL;
    }
    iq_buf b;
    iq_buf_init(&b, (size_t)1 << 20);
    for (;;) {
        char chunk[4096];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (n > 0 && iq_buf_append(&b, chunk, (size_t)n) != 0)) {
            iq_app_error(app, "serve: %s %s: %s", opt, path,
                         n < 0 ? IQ_STRERROR(errno) : "larger than 1 MiB; is it a PEM file?");
            close(fd);
            iq_buf_release(&b);
            return NULL;
        }
        if (n == 0)
            break;
    }
    close(fd);
    if (b.data == NULL || strstr(b.data, "-----BEGIN ") == NULL) {
        iq_app_error(app, "serve: %s %s: not PEM text (no -----BEGIN line)", opt, path);
        iq_buf_release(&b);
        return NULL;
    }
    return iq_buf_detach(&b, NULL);
}

int iq_cmd_serve(iq_app *app, int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},  {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'}, {"insecure-http", no_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *listen = DEFAULT_LISTEN, *cert_path = NULL, *key_path = NULL;
    bool insecure = false;
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 'l':
            listen = optarg != NULL ? optarg : DEFAULT_LISTEN;
            break;
        case 'c':
            cert_path = optarg;
            break;
        case 'k':
            key_path = optarg;
            break;
        case 'i':
            insecure = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            iq_app_error(app, "serve: option '%s' needs a value", argv[optind - 1]);
            return EX_USAGE;
        default:
            iq_app_error(app, "serve: unknown option '%s'; see 'inboxq serve --help'",
                         argv[optind - 1]);
            return EX_USAGE;
        }
    }
    if (optind < argc) {
        iq_app_error(app, "serve: unexpected argument '%s'; see 'inboxq serve --help'",
                     argv[optind]);
        return EX_USAGE;
    }
    if ((cert_path == NULL) != (key_path == NULL)) {
        iq_app_error(app, "serve: --tls-cert and --tls-key go together; give both or neither");
        return EX_USAGE;
    }
    bool tls = cert_path != NULL;
    bool loopback = iq_httpd_listen_is_loopback(listen);
    if (!tls && !loopback && !insecure) {
        iq_app_error(app,
                     "serve: refusing plain HTTP on %s, which is not a loopback address: "
                     "passwords and session cookies would cross the network in clear; give "
                     "--tls-cert and --tls-key, or --insecure-http behind a TLS-terminating "
                     "proxy",
                     listen);
        return EX_USAGE;
    }
    /* a server logs sign-ins and its start at info unless told otherwise (the CLI is quiet) */
    if (strcmp(iq_config_origin(app->cfg, IQ_SET_LOG_LEVEL), "default") == 0) {
        iq_log_format fmt = IQ_LOG_TEXT;
        iq_log_format_parse(iq_config_str(app->cfg, IQ_SET_LOG_FORMAT), &fmt);
        iq_log_setup("serve", IQ_LOG_INFO, fmt, stderr);
    }
    char *cert = NULL, *key = NULL;
    if (tls && ((cert = read_pem(app, "--tls-cert", cert_path)) == NULL ||
                (key = read_pem(app, "--tls-key", key_path)) == NULL)) {
        free(cert);
        return EX_NOINPUT;
    }

    iq_serve s = {.dsn = iq_config_str(app->cfg, IQ_SET_PG_DSN),
                  .connect_timeout_ms = iq_config_int(app->cfg, IQ_SET_PG_CONNECT_TIMEOUT),
                  .tls = tls,
                  .cfg = app->cfg};
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    iq_session_policy_default(&s.policy);
    int rc = 0;
    char *err = NULL;
    /* Test connection needs the master key; without one the rest still serves */
    if (iq_check_setup_init(&s.check, app->cfg, "console", &s.check_error) == 0)
        s.check_ready = true;
    else
        IQ_WARN("serve: Test connection is off: %s", s.check_error);
    /* PostgreSQL must answer now: a console that cannot sign anyone in helps nobody */
    PGconn *probe = iq_serve_pg_acquire(&s, &err);
    if (probe == NULL) {
        iq_app_error(app, "serve: %s", err);
        free(err);
        rc = EX_UNAVAILABLE;
        goto out;
    }
    iq_serve_pg_release(&s, probe);

    /* the server's threads inherit a mask with the stop signals blocked: sigwait takes them */
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, &old);
    iq_httpd_config cfg = {.listen = listen,
                           .what = "console",
                           .handler = iq_serve_handle,
                           .ctx = &s,
                           .tls_cert = cert,
                           .tls_key = key,
                           .keep_alive = true,
                           .timeout_ms = 30000,
                           .threads = IQ_SERVE_THREADS};
    iq_httpd *h = iq_httpd_serve(&cfg, &err);
    if (h == NULL) {
        iq_app_error(app, "serve: %s", err);
        free(err);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        rc = EX_UNAVAILABLE;
        goto out;
    }
    const char *host_end = strrchr(listen, ':'); /* iq_httpd_serve checked ADDR:PORT */
    if (host_end == NULL)
        host_end = listen + strlen(listen);
    fprintf(stderr, "inboxq serve: console at %s://%.*s:%d/%s\n", tls ? "https" : "http",
            (int)(host_end - listen), listen, iq_httpd_port(h),
            tls        ? ""
            : loopback ? " (plain HTTP: loopback only)"
                       : " (plain HTTP: --insecure-http, behind a TLS proxy only)");
    IQ_INFO("serve: listening on %s (%s)", listen, tls ? "https" : "http");
    int sig = 0;
    sigwait(&stop, &sig);
    IQ_INFO("serve: signal %d, stopping", sig);
    iq_httpd_stop(&h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
out:
    if (s.check_ready)
        iq_check_setup_release(&s.check);
    free(s.check_error);
    for (int i = 0; i < IQ_SERVE_POOL; i++)
        iq_pg_close(&s.conns[i]);
    pthread_cond_destroy(&s.cv);
    pthread_mutex_destroy(&s.mu);
    if (key != NULL) {
        iq_secure_zero(key, strlen(key));
        free(key);
    }
    free(cert);
    return rc;
}
