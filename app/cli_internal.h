/* Shared by the files of the certificate command line (cli.c, cli_registry.c). */
#ifndef CG_APP_CLI_INTERNAL_H
#define CG_APP_CLI_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/err.h"
#include "pki/clearance.h"
#include "pki/enroll.h"
#include "pki/import.h"

#define CLI_MAX_ARGS 64 /* repeated --db / --san options */

enum cli_exit {
    CLI_OK = 0,    /* success */
    CLI_FAIL = 1,  /* bad input or a failed operation */
    CLI_USAGE = 2, /* the command line itself is wrong */
};

/* struct cli_opts is one parsed command line. */
struct cli_opts {
    const char *cmd;            /* "ca init", "cert client", ... for messages */
    const char *positional[2];  /* FILE or THUMBPRINT */
    size_t num_positional;
    const char *dir, *name, *days, *ca, *out, *clearance, *password, *policy;
    const char *allow_ips, *expires; /* cert edit; "" clears */
    const char *sans[CLI_MAX_ARGS];
    size_t num_sans;
    const char *dbs[CLI_MAX_ARGS];
    size_t num_dbs;
    bool json;
    bool help;
};

/* cli_fail prints "certgate: |err|" on stderr and returns CLI_FAIL. */
int cli_fail(const struct cg_errbuf *err);

/* cli_usage prints "certgate |cmd|: message (see --help)" and returns CLI_USAGE. */
int cli_usage(const struct cli_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* cli_parse_grants validates the --db options into |out| (CLI_MAX_ARGS entries). */
int cli_parse_grants(const struct cli_opts *o, struct pki_db_grant *out,
                     struct cg_errbuf *err);

/* cli_parse_entry reads --name, --clearance and --db into the new registry entry |out|
 * (|grants| holds CLI_MAX_ARGS) and checks them (pki_enroll_entry_check). */
int cli_parse_entry(const struct cli_opts *o, struct pki_db_grant *grants,
                    struct pki_enroll_entry *out, struct cg_errbuf *err);

/* cli_ca_certs_load reads the CA certificates of |path|: a PEM/DER file with one or
 * more certificates, or a directory holding ca.crt (as `certgate ca init` writes it).
 * Only the certificates are read: a CA key stays where it is. */
int cli_ca_certs_load(const char *path, struct pki_import *out, struct cg_errbuf *err);

int cli_cert_import(const struct cli_opts *o);
int cli_cert_upgrade_pins(const struct cli_opts *o);
int cli_cert_list(const struct cli_opts *o);
int cli_cert_edit(const struct cli_opts *o);
int cli_cert_delete(const struct cli_opts *o);

#endif
