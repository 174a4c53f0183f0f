/* certgate: command-line entry point. Dispatches to the proxy (run, check), to the
 * certificate commands (ca, cert) of pki/ and to the policy commands (policy). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/cli_pki.h"
#include "app/cli_policy.h"
#include "common/log.h"
#include "common/version.h"
#include "config/config.h"
#include "control/process.h"
#include "pki/bootstrap.h"

static void usage(FILE *f)
{
    fputs("usage: certgate <command> [options]\n"
          "\n"
          "certgate terminates TLS in front of a database and lets a request through only\n"
          "when the client's certificate and address allow it.\n"
          "\n"
          "commands:\n"
          "  run   [-c FILE]     run the proxy (default command). Without -c, creates or\n"
          "                      reuses ./certgate-state (a private CA, certificates, a\n"
          "                      policy and a config) and serves 127.0.0.1:8443 -> :8080\n"
          "  check [-c FILE]     validate the configuration, policies and certificates,\n"
          "                      and list what a reload would change in the running\n"
          "                      certgate (the one with the same state_dir)\n"
          "  ca init ...         create a private CA             (certgate ca --help)\n"
          "  cert ...            issue, import, list, edit, delete client certificates\n"
          "                      (certgate cert --help)\n"
          "  policy ...          show a policy; explain why a request is allowed or\n"
          "                      denied (certgate policy --help)\n"
          "  version             print the version, the git commit it was built from\n"
          "                      and the BoringSSL it runs on (also --version)\n"
          "\n"
          "Documentation: README.md and docs/ in the source tree.\n",
          f);
}

static void usage_run(FILE *f, const char *cmd)
{
    bool run = strcmp(cmd, "run") == 0;
    fprintf(f,
            "usage: certgate %s [-c FILE [--default-if-missing]] [--state-dir DIR]\n"
            "                [--listen ADDR] [--upstream ADDR] [--allow-ips LIST]\n"
            "                [--status-listen ADDR]%s\n"
            "\n"
            "  -c, --config FILE    configuration file (docs/configuration.md)\n"
            "      --default-if-missing\n"
            "                       with -c: when nothing exists at FILE, use the built-in\n"
            "                       default instead of failing (the container image and the\n"
            "                       systemd unit start this way); a warning says so\n"
            "      --state-dir DIR  where the built-in default keeps its CA, certificates,\n"
            "                       policy and config (default ./certgate-state)\n"
            "      --listen ADDR    for the built-in default, when the state directory is\n"
            "                       created: where to listen (default 127.0.0.1:8443)\n"
            "      --upstream ADDR  likewise: the database (default 127.0.0.1:8080)\n"
            "      --allow-ips LIST likewise: the policy's allow_ips, comma-separated\n"
            "                       addresses or CIDR blocks (default 127.0.0.1,::1)\n"
            "      --status-listen ADDR\n"
            "                       likewise: the plain-HTTP status port with /healthz,\n"
            "                       /readyz and /metrics (default 127.0.0.1:9100)\n"
            "%s"
            "  -h, --help           this text\n"
            "\n"
            "%s",
            cmd, run ? " [--upgrade]" : "",
            run ? "      --upgrade        take the listening sockets over from the certgate\n"
                  "                       running on these addresses (same user), which then\n"
                  "                       stops accepting and drains: a binary or configuration\n"
                  "                       upgrade that refuses no connection. Exit status 1\n"
                  "                       when no certgate runs there or it does not answer\n"
                : "",
            run ? "Signals: SIGTERM/SIGINT: not ready, still accepting for\n"
                  "timeouts.shutdown_delay, then drain in-flight requests and exit 0 (a second\n"
                  "signal skips the rest of the delay, another one exits at once); SIGHUP\n"
                  "reloads policies and certificates and reopens the access log; SIGUSR1 only\n"
                  "reopens the access log; SIGUSR2 runs this command line again with --upgrade\n"
                  "(the binary upgrade under systemd). docs/operations.md lists every signal.\n"
                : "Exit status: 0 when everything is valid, 1 when something is not.\n");
}

struct run_args {
    const char *config;
    bool default_if_missing; /* --default-if-missing: no file at |config| -> the default */
    const char *state_dir;
    struct pki_bootstrap_options boot; /* --listen / --upstream / --allow-ips /
                                          --status-listen */
    bool upgrade;                      /* --upgrade (run only) */
    const char *fell_back_from;        /* --default-if-missing found nothing at this path */
};

/* The whole command line, which SIGUSR2 runs again for a binary upgrade. */
static char **command_line;

/* parse_run_args reads the options of run and check. Returns 0, or 2 after printing
 * usage. */
static int parse_run_args(int argc, char **argv, const char *cmd, struct run_args *a)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"default-if-missing", no_argument, NULL, 'd'},
        {"state-dir", required_argument, NULL, 's'},
        {"listen", required_argument, NULL, 'l'},
        {"upstream", required_argument, NULL, 'u'},
        {"allow-ips", required_argument, NULL, 'a'},
        {"status-listen", required_argument, NULL, 'S'},
        {"upgrade", no_argument, NULL, 'U'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            a->config = optarg;
            break;
        case 's':
            a->state_dir = optarg;
            break;
        case 'l':
            a->boot.listen = optarg;
            break;
        case 'u':
            a->boot.upstream = optarg;
            break;
        case 'a':
            a->boot.allow_ips = optarg;
            break;
        case 'S':
            a->boot.status_listen = optarg;
            break;
        case 'd':
            a->default_if_missing = true;
            break;
        case 'U':
            if (strcmp(cmd, "run") != 0) {
                fprintf(stderr, "certgate %s: --upgrade applies to run only\n", cmd);
                usage_run(stderr, cmd);
                return 2;
            }
            a->upgrade = true;
            break;
        case 'h':
            usage_run(stdout, cmd);
            exit(0);
        default:
            usage_run(stderr, cmd);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "certgate %s: unexpected argument \"%s\"\n", cmd, argv[optind]);
        usage_run(stderr, cmd);
        return 2;
    }
    if (a->default_if_missing && a->config == NULL) {
        fprintf(stderr, "certgate %s: --default-if-missing needs -c FILE\n", cmd);
        return 2;
    }
    if (a->config != NULL && !a->default_if_missing &&
        (a->boot.listen != NULL || a->boot.upstream != NULL || a->boot.allow_ips != NULL ||
         a->boot.status_listen != NULL)) {
        fprintf(stderr,
                "certgate %s: --listen, --upstream, --allow-ips and --status-listen apply to "
                "the built-in default only; with -c they come from the configuration file\n",
                cmd);
        return 2;
    }
    if (a->default_if_missing) {
        /* Only when nothing is there: a dangling symlink or an unreadable file is the
         * operator's file and gets its error, not a silent fallback. */
        struct stat st;
        if (lstat(a->config, &st) != 0 && errno == ENOENT) {
            /* Said once the log is set up (log_start), in its format. */
            a->fell_back_from = a->config;
            a->config = NULL;
        }
    }
    return 0;
}

static int load_config(const char *path, struct config **out)
{
    struct cg_errbuf err = {0};
    if (config_load_file(path, out, &err) != CG_OK) {
        fprintf(stderr, "certgate: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* log_start sets the log up as |cfg| says and writes its first lines: what this binary
 * is (so that every log store knows which build wrote what follows) and, for
 * --default-if-missing, that the default is used. */
static void log_start(const struct config *cfg, const struct run_args *a)
{
    cg_log_set_level(cfg->log.level);
    cg_log_set_format(cfg->log.format);
    char tls[256];
    cg_version_tls(tls, sizeof(tls));
    const struct cg_log_field fields[] = {
        {"version", cg_version()},
        {"commit", cg_version_commit()},
        {"boringssl", tls},
    };
    cg_log_fields(CG_LOG_INFO, fields, sizeof(fields) / sizeof(fields[0]), "certgate %s starting",
                  cg_version());
    if (a->fell_back_from != NULL) {
        CG_LOG_WARN("%s does not exist: using the built-in default in %s (--default-if-missing)",
                    a->fell_back_from, a->state_dir);
    }
}

static int cmd_run(int argc, char **argv)
{
    struct run_args a = {.state_dir = PKI_BOOTSTRAP_DEFAULT_DIR};
    int rc = parse_run_args(argc, argv, "run", &a);
    if (rc != 0) {
        return rc;
    }
    const char *config_path = a.config;
    struct pki_bootstrap_result boot = {0};
    if (config_path == NULL) {
        struct cg_errbuf err = {0};
        if (pki_bootstrap_with(a.state_dir, &a.boot, &boot, &err) != CG_OK) {
            fprintf(stderr, "certgate: %s\n", err.msg);
            return 1;
        }
        pki_bootstrap_print(&boot, stdout);
        fflush(stdout);
        config_path = boot.config_path;
    }
    struct config *cfg;
    rc = load_config(config_path, &cfg);
    pki_bootstrap_result_cleanup(&boot);
    if (rc != 0) {
        return rc;
    }
    log_start(cfg, &a);
    struct process_options opts = {.upgrade = a.upgrade, .argv = command_line};
    return process_run(cfg, &opts);
}

static int cmd_check(int argc, char **argv)
{
    struct run_args a = {.state_dir = PKI_BOOTSTRAP_DEFAULT_DIR};
    int rc = parse_run_args(argc, argv, "check", &a);
    if (rc != 0) {
        return rc;
    }
    if (a.fell_back_from != NULL) {
        CG_LOG_WARN("%s does not exist: using the built-in default in %s (--default-if-missing)",
                    a.fell_back_from, a.state_dir);
    }
    const char *config_path = a.config;
    char fallback[4096];
    if (config_path == NULL) {
        snprintf(fallback, sizeof(fallback), "%s/certgate.json", a.state_dir);
        if (access(fallback, R_OK) != 0) {
            fprintf(stderr, "certgate check: no -c FILE and no %s\n", fallback);
            return 2;
        }
        config_path = fallback;
    }
    struct config *cfg;
    rc = load_config(config_path, &cfg);
    if (rc != 0) {
        return rc;
    }
    rc = process_check(cfg);
    config_free(cfg);
    if (rc == 0) {
        printf("%s: OK\n", config_path);
    }
    return rc;
}

int main(int argc, char **argv)
{
    command_line = argv;
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
            usage(stdout);
            return 0;
        }
        if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
            cg_version_print(stdout);
            return 0;
        }
        /* No command: "run" with whatever options were given. */
        return cmd_run(argc, argv);
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0) {
        return cmd_run(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "check") == 0) {
        return cmd_check(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "ca") == 0 || strcmp(cmd, "cert") == 0) {
        return pki_cli_main(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "policy") == 0) {
        return policy_cli_main(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "version") == 0) {
        cg_version_print(stdout);
        return 0;
    }
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "certgate: unknown command \"%s\"\n\n", cmd);
    usage(stderr);
    return 2;
}
