/* Admin API: GET /admin/ca-certificate, the certificate of the private CA in
 * state_dir/ca (what clients and browsers trust the serving certificate with, and the
 * issuer of the client bundles the admin API makes). Certificates only, re-encoded:
 * the CA key next to it is never read. */
#include <stdio.h>
#include <stdlib.h>

#include "control/admin/admin_internal.h"
#include "pki/import.h"
#include "pki/key.h"
#include "proxy/core/runtime.h"

void admin_ca_cert_get(struct admin_server *a, const struct admin_request *req,
                       struct admin_response *resp)
{
    const char *state_dir = a->rt->cfg->state_dir;
    if (state_dir == NULL) {
        admin_resp_error(resp, req, 404, "no_ca", "no private CA (state_dir is not configured)");
        return;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/ca/ca.crt", state_dir);
    struct pki_import imp = {0};
    struct cg_errbuf err = {{0}};
    char *pem = NULL;
    size_t pem_len = 0;
    if (pki_import_file(path, NULL, &imp, &err) != CG_OK ||
        pki_certs_to_pem(imp.certs, imp.num_certs, &pem, &pem_len, &err) != CG_OK) {
        admin_resp_error(resp, req, 404, "no_ca", "no private CA: %s", err.msg);
        pki_import_cleanup(&imp);
        return;
    }
    evbuffer_add(resp->body, pem, pem_len);
    free(pem);
    pki_import_cleanup(&imp);
    resp->status = 200;
    resp->content_type = "application/x-pem-file";
    admin_resp_header(resp, "Content-Disposition", "attachment; filename=\"ca.crt\"");
}
