/* The zero-configuration start of `certgate run` (docs/certificates.md): a state directory with
 * a private CA, a server certificate, a ClusterAdmin client bundle, a policy that
 * registers it and a certgate.json that ties them together.
 *
 *   STATE/certgate.json            configuration (paths relative to STATE), with the
 *                                  status port on 127.0.0.1:9100
 *   STATE/policy.json              allow_ips loopback, "/" and below: Authenticated, admin
 *   STATE/ca/ca.crt, ca.key        the private CA (ca.key 0600)
 *   STATE/server/tls.crt, tls.key, ca.crt     localhost, 127.0.0.1, ::1, the host name
 *   STATE/clients/admin/ca.crt, tls.crt, tls.key, bundle.p12, password (0600)
 *
 * The directory is built under a temporary name and renamed into place, so it exists
 * complete or not at all; a later call reuses it untouched. */
#ifndef CG_PKI_BOOTSTRAP_H
#define CG_PKI_BOOTSTRAP_H

#include <stdbool.h>
#include <stdio.h>

#include "common/err.h"

#define PKI_BOOTSTRAP_DEFAULT_DIR "certgate-state"
#define PKI_BOOTSTRAP_DEFAULT_LISTEN "127.0.0.1:8443"
#define PKI_BOOTSTRAP_DEFAULT_UPSTREAM "127.0.0.1:8080"
#define PKI_BOOTSTRAP_DEFAULT_STATUS_LISTEN "127.0.0.1:9100"

/* struct pki_bootstrap_options overrides defaults of a new state directory (tests use
 * other ports). All-zero means the defaults. Ignored when the directory is reused. */
struct pki_bootstrap_options {
    const char *listen;    /* "host:port" of the listener; default 127.0.0.1:8443 */
    const char *upstream;  /* "host:port" of the database; default 127.0.0.1:8080 */
    const char *allow_ips; /* comma-separated addresses or CIDR blocks for the policy's
                              allow_ips; default 127.0.0.1,::1 */
    const char *status_listen; /* "host:port" of the status port (/healthz, /readyz,
                                  /metrics); default 127.0.0.1:9100 */
};

/* struct pki_bootstrap_result says where everything is. Strings are owned; release
 * them with pki_bootstrap_result_cleanup. */
struct pki_bootstrap_result {
    bool created;        /* true: created by this call; false: an existing one reused */
    char *state_dir;     /* absolute path of the state directory */
    char *config_path;   /* STATE/certgate.json, for `certgate run -c` */
    char *policy_path;   /* STATE/policy.json */
    char *ca_cert_path;  /* STATE/ca/ca.crt */
    char *bundle_dir;    /* STATE/clients/admin */
    char *p12_path;      /* STATE/clients/admin/bundle.p12 */
    char *password;      /* password of bundle.p12 (also in STATE/clients/admin/password) */
    char *curl_command;  /* a curl command line that reaches the listener as admin */
};

/* pki_bootstrap creates the state directory |state_dir| (mode 0700) with the defaults,
 * or reuses it if it already holds a complete state. Equivalent to pki_bootstrap_with
 * without options. */
int pki_bootstrap(const char *state_dir, struct pki_bootstrap_result *out,
                  struct cg_errbuf *err);

/* pki_bootstrap_with is pki_bootstrap with |opts| (NULL for defaults). |out| must be
 * zeroed. A directory that exists but lacks one of the files above fails with
 * CG_ERR_INVALID naming the missing file (certgate never leaves one behind; remove the
 * directory to start over). An empty directory is filled. An |opts|->allow_ips entry
 * that is not an address or CIDR block is CG_ERR_INVALID before anything is created. */
int pki_bootstrap_with(const char *state_dir, const struct pki_bootstrap_options *opts,
                       struct pki_bootstrap_result *out, struct cg_errbuf *err);

/* pki_bootstrap_print writes the paths, where the bundle's password is (never the
 * password: standard output may go to a log store) and the curl command for a person to
 * read. */
void pki_bootstrap_print(const struct pki_bootstrap_result *r, FILE *f);

/* pki_bootstrap_result_cleanup frees |r|'s strings (wiping the password) and zeroes
 * it. */
void pki_bootstrap_result_cleanup(struct pki_bootstrap_result *r);

#endif
