/* SPDX-License-Identifier: MIT */
/* inboxq-devbroker: an in-memory DEVELOPMENT Kafka broker on librdkafka's mock cluster that
 * creates the inboxq topics and publishes its bootstrap list; never for production. */

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "util.h" /* iq_strerror: strerror is banned */

#ifndef INBOXQ_VERSION
#define INBOXQ_VERSION "0.1.0"
#endif

#define PROG "inboxq-devbroker"

/* sysexits(3) values, spelled out so we do not depend on <sysexits.h>. */
enum {
    EXIT_USAGE = 64,
    EXIT_UNAVAILABLE = 69,
    EXIT_SOFTWARE = 70,
    EXIT_CANTCREAT = 73,
    EXIT_CONFIG = 78,
};

enum {
    PARTITIONS_DEFAULT = 4,
    PARTITIONS_MAX = 1000,
    BROKERS_DEFAULT = 1,
    BROKERS_MAX = 16,
    TOPICS_MAX = 64,
    TOPIC_NAME_MAX = 249, /* Kafka's own limit */
};

#define DEV_WARNING                                                                                \
    "this is an in-memory DEVELOPMENT Kafka broker built on librdkafka's mock cluster, "           \
    "NOT for production: all data is lost on exit and each partition keeps only about 5 MB"

struct default_topic {
    const char *env;
    const char *name;
};

static const struct default_topic default_topics[] = {
    {"INBOXQ_TOPIC_CHECK", "inboxq.jobs.check"},
    {"INBOXQ_TOPIC_REPORT", "inboxq.jobs.report"},
    {"INBOXQ_TOPIC_NEW_MAIL", "inboxq.events.new-mail"},
    {"INBOXQ_TOPIC_DEAD", "inboxq.jobs.dead"},
};

struct options {
    int partitions;
    int brokers;
    const char *bootstrap_file; /* NULL: stdout only */
    const char *topics[TOPICS_MAX];
    size_t topic_count;
};

#if defined(__GNUC__) || defined(__clang__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

static void log_line(const char *level, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* One whole line per call, written with a single stdio call so that lines from librdkafka's
 * threads (log_cb) never interleave with ours. */
static void log_line(const char *level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    fprintf(stderr, PROG ": %s: %s\n", level, msg);
}

static void on_rdkafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const char *name = level <= 3   ? "error"
                       : level == 4 ? "warning"
                       : level <= 6 ? "info"
                                    : "debug";

    (void)rk;
    log_line(name, "librdkafka %s: %s", fac, buf);
}

static void print_help(FILE *out)
{
    fprintf(out,
            "Usage: " PROG " [--partitions N] [--brokers N] [--bootstrap-file FILE]\n"
            "                        [--topic NAME]... [--help] [--version]\n"
            "\n"
            "An in-memory DEVELOPMENT Kafka broker built on librdkafka's mock cluster, for local\n"
            "runs and tests of inboxq. It is NOT for production: all data is lost on exit and\n"
            "each partition keeps only about 5 MB (a single batch above that is dropped).\n"
            "Production points inboxq at a real Kafka cluster.\n"
            "\n"
            "It listens on random 127.0.0.1 ports, creates the topics, prints the bootstrap\n"
            "server list as one line on stdout, writes it to FILE if asked, and runs until\n"
            "SIGTERM or SIGINT, when it removes FILE and exits 0.\n"
            "\n"
            "Options:\n"
            "  --partitions N         partitions per topic, 1-%d (default %d)\n"
            "  --brokers N            brokers in the mock cluster, 1-%d (default %d)\n"
            "  --bootstrap-file FILE  also write the bootstrap list to FILE (atomically,\n"
            "                         via FILE.tmp); FILE is removed on exit\n"
            "  --topic NAME           create topic NAME; repeat for more (up to %d). When\n"
            "                         given, only these topics are created\n"
            "  --help                 show this help and exit\n"
            "  --version              show the version and exit\n"
            "\n"
            "Default topics (each name can be overridden by the environment variable shown):\n",
            PARTITIONS_MAX, PARTITIONS_DEFAULT, BROKERS_MAX, BROKERS_DEFAULT, TOPICS_MAX);
    for (size_t i = 0; i < sizeof default_topics / sizeof default_topics[0]; i++)
        fprintf(out, "  %-24s %s\n", default_topics[i].name, default_topics[i].env);
    fprintf(out,
            "\n"
            "Other topic names are created on first use with 4 partitions (the mock\n"
            "auto-creates any topic a client asks about, typos included).\n"
            "\n"
            "Exit status: 0 stopped by a signal, 64 bad usage, 69 the mock cluster could not\n"
            "be created, 73 FILE could not be written, 78 bad topic name in the environment.\n");
}

/* Strict integer parsing: the whole string, base 10, within [min, max]. */
static int parse_int(const char *s, int min, int max, int *value_r)
{
    char *end = NULL;
    long v;

    if (s[0] == '\0' || s[0] == ' ' || s[0] == '\t' || s[0] == '+')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *value_r = (int)v;
    return 0;
}

/* Kafka's legal topic names: [a-zA-Z0-9._-]{1,249}, but not "." or "..". */
static int topic_name_valid(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > TOPIC_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

/* Returns 0 when the topic was added, or an exit code after printing the one error line. */
static int add_topic(struct options *opt, const char *name, const char *source, int exit_code)
{
    if (!topic_name_valid(name)) {
        log_line("error",
                 "%s: invalid topic name \"%.260s\": use 1-%d characters from a-z A-Z 0-9 . _ -",
                 source, name, TOPIC_NAME_MAX);
        return exit_code;
    }
    for (size_t i = 0; i < opt->topic_count; i++) {
        if (strcmp(opt->topics[i], name) == 0) {
            log_line("error", "%s: topic \"%s\" is given twice: name each topic once", source,
                     name);
            return exit_code;
        }
    }
    if (opt->topic_count >= TOPICS_MAX) {
        log_line("error", "%s: more than %d topics: create fewer topics", source, TOPICS_MAX);
        return exit_code;
    }
    opt->topics[opt->topic_count++] = name;
    return 0;
}

/* Matches "--name VALUE" and "--name=VALUE"; advances *i past a separate value.
 * Returns 1 with *value_r set, 0 if argv[*i] is another option, -1 if the value is missing. */
static int option_value(int argc, char **argv, int *i, const char *name, const char **value_r)
{
    const char *arg = argv[*i];
    size_t len = strlen(name);

    if (strncmp(arg, name, len) != 0)
        return 0;
    if (arg[len] == '=') {
        *value_r = arg + len + 1;
        return 1;
    }
    if (arg[len] != '\0')
        return 0;
    if (*i + 1 >= argc || strncmp(argv[*i + 1], "--", 2) == 0)
        return -1; /* "--topic --partitions 8" is a missing value, not a topic "--partitions" */
    *i += 1;
    *value_r = argv[*i];
    return 1;
}

/* Returns -1 to run, or an exit code (0 for --help/--version). */
static int parse_args(int argc, char **argv, struct options *opt)
{
    int cli_topics = 0;

    opt->partitions = PARTITIONS_DEFAULT;
    opt->brokers = BROKERS_DEFAULT;
    opt->bootstrap_file = NULL;
    opt->topic_count = 0;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        int r;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_help(stdout);
            return fflush(stdout) == 0 ? 0 : EXIT_SOFTWARE;
        }
        if (strcmp(arg, "--version") == 0) {
            printf(PROG " %s (librdkafka %s mock cluster; development only)\n", INBOXQ_VERSION,
                   rd_kafka_version_str());
            return fflush(stdout) == 0 ? 0 : EXIT_SOFTWARE;
        }
        if ((r = option_value(argc, argv, &i, "--partitions", &value)) != 0) {
            if (r < 0) {
                log_line("error", "--partitions: needs a whole number from 1 to %d",
                         PARTITIONS_MAX);
                return EXIT_USAGE;
            }
            if (parse_int(value, 1, PARTITIONS_MAX, &opt->partitions) != 0) {
                log_line("error", "--partitions: \"%.40s\" is not a whole number from 1 to %d",
                         value, PARTITIONS_MAX);
                return EXIT_USAGE;
            }
        } else if ((r = option_value(argc, argv, &i, "--brokers", &value)) != 0) {
            if (r < 0) {
                log_line("error", "--brokers: needs a whole number from 1 to %d", BROKERS_MAX);
                return EXIT_USAGE;
            }
            if (parse_int(value, 1, BROKERS_MAX, &opt->brokers) != 0) {
                log_line("error", "--brokers: \"%.40s\" is not a whole number from 1 to %d", value,
                         BROKERS_MAX);
                return EXIT_USAGE;
            }
        } else if ((r = option_value(argc, argv, &i, "--bootstrap-file", &value)) != 0) {
            if (r < 0 || value[0] == '\0') {
                log_line("error", "--bootstrap-file: needs a file path, e.g. "
                                  "--bootstrap-file /tmp/inboxq/kafka.bootstrap");
                return EXIT_USAGE;
            }
            opt->bootstrap_file = value;
        } else if ((r = option_value(argc, argv, &i, "--topic", &value)) != 0) {
            if (r < 0) {
                log_line("error", "--topic: needs a topic name, e.g. --topic inboxq.jobs.check");
                return EXIT_USAGE;
            }
            if ((r = add_topic(opt, value, "--topic", EXIT_USAGE)) != 0)
                return r;
            cli_topics = 1;
        } else {
            log_line("error", "unknown argument \"%.80s\": run " PROG " --help for the options",
                     arg);
            return EXIT_USAGE;
        }
    }

    if (!cli_topics) {
        for (size_t i = 0; i < sizeof default_topics / sizeof default_topics[0]; i++) {
            const char *name = getenv(default_topics[i].env);
            int r;

            if (name == NULL || name[0] == '\0')
                name = default_topics[i].name;
            if ((r = add_topic(opt, name, default_topics[i].env, EXIT_CONFIG)) != 0)
                return r;
        }
    }
    return -1;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Write "line\n" to path via path.tmp + fsync + rename, then fsync the directory. */
static int write_file_atomically(const char *path, const char *line)
{
    size_t path_len = strlen(path);
    char *tmp = NULL;
    char *dir = NULL;
    int fd = -1;
    int ret = -1;

    tmp = malloc(path_len + sizeof ".tmp");
    dir = malloc(path_len + 2);
    if (tmp == NULL || dir == NULL) {
        log_line("error", "out of memory");
        goto out;
    }
    memcpy(tmp, path, path_len);
    memcpy(tmp + path_len, ".tmp", sizeof ".tmp");

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_line("error",
                 "--bootstrap-file: cannot create %s: %s: check that the directory "
                 "exists and is writable",
                 tmp, IQ_STRERROR(errno));
        goto out;
    }
    if (write_all(fd, line, strlen(line)) != 0 || write_all(fd, "\n", 1) != 0 || fsync(fd) != 0) {
        log_line("error", "--bootstrap-file: cannot write %s: %s", tmp, IQ_STRERROR(errno));
        goto out_unlink;
    }
    if (close(fd) != 0) {
        fd = -1;
        log_line("error", "--bootstrap-file: cannot write %s: %s", tmp, IQ_STRERROR(errno));
        goto out_unlink;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        log_line("error", "--bootstrap-file: cannot rename %s to %s: %s", tmp, path,
                 IQ_STRERROR(errno));
        goto out_unlink;
    }
    ret = 0;

    /* Make the rename durable; failing here is not fatal, the file is already in place. */
    {
        const char *slash = strrchr(path, '/');
        int dfd;

        if (slash == NULL) {
            memcpy(dir, ".", 2);
        } else if (slash == path) {
            memcpy(dir, "/", 2);
        } else {
            size_t dlen = (size_t)(slash - path);
            memcpy(dir, path, dlen);
            dir[dlen] = '\0';
        }
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0)
            log_line("warning", "cannot fsync directory %s: %s", dir, IQ_STRERROR(errno));
        if (dfd >= 0)
            close(dfd);
    }
    goto out;

out_unlink:
    if (unlink(tmp) != 0 && errno != ENOENT)
        log_line("warning", "cannot remove %s: %s", tmp, IQ_STRERROR(errno));
out:
    if (fd >= 0)
        close(fd);
    free(tmp);
    free(dir);
    return ret;
}

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGTERM:
        return "SIGTERM";
    case SIGINT:
        return "SIGINT";
    case SIGHUP:
        return "SIGHUP";
    default:
        return "a signal";
    }
}

int main(int argc, char **argv)
{
    struct options opt;
    char errstr[512];
    sigset_t stop_signals;
    struct sigaction ign;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mcluster = NULL;
    const char *bootstraps;
    int file_written = 0;
    int sig = 0;
    int exit_code;

    exit_code = parse_args(argc, argv, &opt);
    if (exit_code >= 0)
        return exit_code;
    exit_code = EXIT_UNAVAILABLE;

    log_line("warning", DEV_WARNING);

    /* Block the stop signals before librdkafka starts its threads, so that every thread
     * inherits the mask and the signals are only ever taken by sigwait() below. A signal that
     * arrives during start-up stays pending and stops us cleanly right after. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &stop_signals, NULL) != 0) {
        log_line("error", "cannot block signals");
        return EXIT_SOFTWARE;
    }
    /* A reader that closes our stdout must not kill us before we remove the bootstrap file. */
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, NULL);

    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "client.id", PROG, errstr, sizeof errstr) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        log_line("error", "librdkafka configuration: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return EXIT_SOFTWARE;
    }
    rd_kafka_conf_set_log_cb(conf, on_rdkafka_log);

    /* The producer handle only hosts the mock cluster; it never produces. */
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (rk == NULL) {
        log_line("error", "cannot create the librdkafka handle: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return EXIT_UNAVAILABLE;
    }

    mcluster = rd_kafka_mock_cluster_new(rk, opt.brokers);
    if (mcluster == NULL) {
        log_line("error",
                 "cannot create the mock cluster with %d broker(s): check that "
                 "127.0.0.1 is configured and ports can be bound",
                 opt.brokers);
        goto out;
    }

    for (size_t i = 0; i < opt.topic_count; i++) {
        /* librdkafka 2.0.2's mock thread can miss the wake-up for a request queued right after
         * it answered the previous one, and then sleeps up to 1 s per topic (measured: 29 of 40
         * starts took 1-3 s). A 2 ms pause between requests avoids that (0 of 40). */
        const struct timespec gap = {0, 2 * 1000 * 1000};
        rd_kafka_resp_err_t err;

        if (i > 0)
            nanosleep(&gap, NULL);
        err = rd_kafka_mock_topic_create(mcluster, opt.topics[i], opt.partitions, 1);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            log_line("error", "cannot create topic %s with %d partitions: %s", opt.topics[i],
                     opt.partitions, rd_kafka_err2str(err));
            goto out;
        }
    }

    bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
    if (bootstraps == NULL || bootstraps[0] == '\0') {
        log_line("error", "the mock cluster reported no bootstrap servers");
        goto out;
    }

    if (opt.bootstrap_file != NULL) {
        if (write_file_atomically(opt.bootstrap_file, bootstraps) != 0) {
            exit_code = EXIT_CANTCREAT;
            goto out;
        }
        file_written = 1;
    }

    if (printf("%s\n", bootstraps) < 0 || fflush(stdout) != 0)
        log_line("warning", "cannot write the bootstrap list to stdout: %s", IQ_STRERROR(errno));

    log_line("info",
             "ready: %zu topic(s) with %d partition(s) each on %d broker(s); bootstrap "
             "servers %s%s%s",
             opt.topic_count, opt.partitions, opt.brokers, bootstraps,
             file_written ? ", written to " : "", file_written ? opt.bootstrap_file : "");

    for (;;) {
        int r = sigwait(&stop_signals, &sig);
        if (r == 0)
            break;
        if (r != EINTR) {
            log_line("error", "sigwait failed: %s", IQ_STRERROR(r));
            exit_code = EXIT_SOFTWARE;
            goto out;
        }
    }
    log_line("info", "received %s, shutting down", signal_name(sig));
    exit_code = 0;

out:
    if (file_written && unlink(opt.bootstrap_file) != 0 && errno != ENOENT) {
        log_line("warning", "cannot remove %s: %s", opt.bootstrap_file, IQ_STRERROR(errno));
    }
    /* Takes up to 1 s in librdkafka 2.0.2 when idle: the mock thread waits for an internal
     * broker thread that only notices termination on its 1 s timer. */
    if (mcluster != NULL)
        rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(rk);
    if (exit_code == 0)
        log_line("info", "stopped");
    return exit_code;
}
