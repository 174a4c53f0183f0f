/* The admin console (docs/operations.md "Web console"): static files compiled into the
 * binary (control/admin/admin_ui_assets.h), served under /ui/ on the admin listener,
 * behind the same mutual TLS and clearance as the API. The page does everything through
 * the admin API with fetch() from its own origin, so the API's cross-site refusals
 * (admin_origin.c) protect it too.
 *
 * Every answer forbids what a hostile page could use against an operator whose browser
 * holds an admin certificate: framing (clickjacking), other origins' scripts, inline
 * script and style (script injection), sniffing a file as another type, and reading it
 * from another origin. */
#include <string.h>

#include "control/admin/admin_internal.h"
#include "control/admin/admin_ui_assets.h"

/* CSP allows only the console's own files, no inline script or style, no plugins, no
 * framing, no form submission (the page posts JSON with fetch), and DOM sinks only
 * through Trusted Types (the page builds its DOM with textContent, never HTML text). */
#define UI_CSP                                                                                     \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "                    \
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "                 \
    "frame-ancestors 'none'; require-trusted-types-for 'script'"

static void security_headers(struct admin_response *resp)
{
    admin_resp_header(resp, "Content-Security-Policy", "%s", UI_CSP);
    admin_resp_header(resp, "X-Frame-Options", "DENY");
    admin_resp_header(resp, "Referrer-Policy", "no-referrer");
    admin_resp_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
    admin_resp_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
}

static const struct admin_ui_asset *find(const char *name)
{
    for (size_t i = 0; i < admin_ui_num_assets; i++) {
        if (strcmp(admin_ui_assets[i].name, name) == 0) {
            return &admin_ui_assets[i];
        }
    }
    return NULL;
}

void admin_ui_get(struct admin_server *a, const struct admin_request *req,
                  struct admin_response *resp)
{
    static const char prefix[] = "/ui/";
    security_headers(resp);
    if (strcmp(req->path, "/ui") == 0) {
        admin_resp_header(resp, "Location", "/ui/");
        admin_resp_error(resp, req, 301, "moved", "the console is at /ui/");
        return;
    }
    const char *name = req->path + sizeof(prefix) - 1;
    const struct admin_ui_asset *asset = find(name[0] == '\0' ? "index.html" : name);
    if (asset == NULL) {
        admin_resp_error(resp, req, 404, "not_found", "no such console file");
        return;
    }
    resp->status = 200;
    resp->content_type = asset->content_type;
    /* Static data: referenced, not copied. */
    evbuffer_add_reference(resp->body, asset->data, asset->len, NULL, NULL);
}
