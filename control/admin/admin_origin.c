/* Cross-site request refusal for the admin API (admin_internal.h).
 *
 * A browser attaches the operator's client certificate to any request for the admin
 * listener, whichever page made it. Pages of another origin can only make "simple"
 * requests without asking first (CORS preflight, which the admin API never grants):
 * GET/HEAD/POST with a form, text/plain or no Content-Type. So a state-changing call
 * must carry application/json, which no page can send to another origin without a
 * preflight, and must not come from another origin by the browser's own account:
 * Origin (sent with every non-GET request by current browsers) must be the admin
 * listener itself, and Sec-Fetch-Site must not say cross-site or same-site. Clients
 * that are not browsers (curl, scripts) send neither header. */
#include <stdbool.h>
#include <stdint.h>

#include "common/str.h"
#include "control/admin/admin_internal.h"
#include "proxy/http1/h1_parse.h"

/* strip_https_port removes ":443", the default port a browser leaves out of Origin. */
static struct cg_str strip_https_port(struct cg_str s)
{
    static const struct cg_str p443 = CG_STR_LIT(":443");
    if (s.len > p443.len && cg_str_eq((struct cg_str){s.p + s.len - p443.len, p443.len}, p443)) {
        s.len -= p443.len;
    }
    return s;
}

/* same_origin reports whether |origin| is https://|host| (ASCII case-insensitively, the
 * default port optional on both sides). */
static bool same_origin(struct cg_str origin, struct cg_str host)
{
    static const struct cg_str scheme = CG_STR_LIT("https://");
    if (host.len == 0 || origin.len <= scheme.len ||
        !cg_str_case_eq((struct cg_str){origin.p, scheme.len}, scheme)) {
        return false;
    }
    origin = strip_https_port((struct cg_str){origin.p + scheme.len, origin.len - scheme.len});
    return cg_str_case_eq(origin, strip_https_port(host));
}

/* is_json reports whether a Content-Type value names application/json (parameters
 * such as charset allowed). */
static bool is_json(struct cg_str v)
{
    size_t n = 0;
    while (n < v.len && v.p[n] != ';') {
        n++;
    }
    return cg_str_case_eq(cg_str_trim_ows((struct cg_str){v.p, n}), CG_STR_LIT("application/json"));
}

enum admin_origin_verdict admin_origin_check(struct cg_str method, struct cg_str host,
                                             const struct h1_header *headers,
                                             size_t num_headers, uint64_t body_len,
                                             const char **reason)
{
    if (cg_str_eq(method, CG_STR_LIT("GET")) || cg_str_eq(method, CG_STR_LIT("HEAD"))) {
        return ADMIN_ORIGIN_OK;
    }
    bool json = false, other_type = false;
    for (size_t i = 0; i < num_headers; i++) {
        const struct h1_header *h = &headers[i];
        if (cg_str_case_eq_cstr(h->name, "Origin")) {
            /* Every Origin field must be ours; "null" (a sandboxed or file page) is not. */
            if (!same_origin(h->value, host)) {
                *reason = "cross_origin_request";
                return ADMIN_ORIGIN_CROSS_SITE;
            }
        } else if (cg_str_case_eq_cstr(h->name, "Sec-Fetch-Site")) {
            if (cg_str_case_eq_cstr(h->value, "cross-site") ||
                cg_str_case_eq_cstr(h->value, "same-site")) {
                *reason = "cross_site_request";
                return ADMIN_ORIGIN_CROSS_SITE;
            }
        } else if (cg_str_case_eq_cstr(h->name, "Content-Type")) {
            if (is_json(h->value) && !json) {
                json = true;
            } else {
                other_type = true; /* another type, or a second Content-Type */
            }
        }
    }
    if (other_type || (body_len > 0 && !json)) {
        *reason = "content_type_must_be_application_json";
        return ADMIN_ORIGIN_NOT_JSON;
    }
    return ADMIN_ORIGIN_OK;
}
