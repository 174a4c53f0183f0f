/* certgate check: what `certgate check -c FILE` loads and prints (every listener's
 * certificates, policies and upstream TLS clients), and what a reload of FILE would
 * change in the certgate running with its state_dir (control/running_config.h). */
#include "control/process.h"

#include <stdio.h>

#include "config/config.h"
#include "control/running_config.h"
#include "policy/policy.h"
#include "proxy/protocols.h"
#include "proxy/tls/tls_client.h"
#include "proxy/tls/tls_server.h"

/* check_policy loads |file| as a listener with a client CA or not would, and prints
 * what it holds; false after printing the error. */
static bool check_policy(const char *indent, const char *file, bool client_ca)
{
    struct policy_load_opts opts = {.client_ca = client_ca};
    struct policy *p = NULL;
    struct cg_errbuf err = {0};
    if (policy_load_file(file, &opts, &p, &err) != CG_OK) {
        fprintf(stderr, "certgate: %s\n", err.msg);
        return false;
    }
    printf("%spolicy %s: %zu certificates, %zu routes\n", indent, file,
           policy_num_certificates(p), policy_num_routes(p));
    policy_free(p);
    return true;
}

/* check_host loads host entry |h|'s own certificates and its policy, and prints them. */
static bool check_host(const struct config_listener *l, const struct config_host *h)
{
    bool ok = true;
    printf("  host %s -> upstream %s:\n", h->name, h->upstream->name);
    if (h->num_certificates > 0) {
        struct tls_cert_set *certs = NULL;
        struct cg_errbuf err = {0};
        if (tls_cert_set_load(h->certificates, h->num_certificates, &certs, &err) != CG_OK) {
            fprintf(stderr, "certgate: %s\n", err.msg);
            ok = false;
        } else {
            tls_cert_set_describe(certs, stdout);
        }
        tls_cert_set_unref(certs);
    }
    return check_policy("    ", h->policy, l->tls.client_ca != NULL) && ok;
}

int process_check(const struct config *cfg)
{
    int status = 0;
    config_print_summary(cfg, stdout);
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        const struct config_listener *l = &cfg->listeners[i];
        struct cg_errbuf err = {0};
        struct tls_cert_set *certs = NULL;
        struct tls_server *tls = NULL;
        printf("listener %s:\n", l->name);
        if (tls_cert_set_load(l->tls.certificates, l->tls.num_certificates, &certs, &err) !=
                CG_OK ||
            tls_server_new(l, certs, &tls, &err) != CG_OK) {
            fprintf(stderr, "certgate: %s\n", err.msg);
            status = 1;
        } else {
            tls_cert_set_describe(certs, stdout);
        }
        if (l->policy != NULL) {
            if (!check_policy("  ", l->policy, l->tls.client_ca != NULL)) {
                status = 1;
            }
        } else if (l->upstream != NULL) {
            printf("  policy: none (every request is denied)\n");
        }
        for (size_t h = 0; h < l->num_hosts; h++) {
            if (!check_host(l, &l->hosts[h])) {
                status = 1;
            }
        }
        tls_server_free(tls);
        tls_cert_set_unref(certs);
    }
    for (size_t i = 0; i < cfg->num_upstreams; i++) {
        struct cg_errbuf err = {0};
        struct tls_client *cl = NULL;
        if (proxy_protocols_upstream_tls(&cfg->upstreams[i], &cl, &err) != CG_OK) {
            fprintf(stderr, "certgate: %s\n", err.msg);
            status = 1;
        }
        tls_client_free(cl);
    }
    if (running_config_compare(cfg, stdout) != 0) {
        status = 1;
    }
    return status;
}
