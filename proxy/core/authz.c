#include "proxy/core/authz.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hex.h"
#include "common/http_field.h"
#include "common/log.h"
#include "common/mem.h"
#include "proxy/core/conn.h"
#include "proxy/core/host_table.h"
#include "proxy/core/runtime.h"
#include "proxy/core/worker.h"

/* The Client-Cert value of a larger client certificate is not sent: memory per
 * connection stays bounded. */
#define MAX_CERT_DER (16 * 1024)

size_t authz_scratch_size(size_t max_target)
{
    return POLICY_DECIDE_BUF_LEN(max_target) + 1024 + 64;
}

static struct policy *current_policy(const struct client_conn *c)
{
    return c->host != NULL ? c->ws->policies[c->host->policy_slot] : NULL;
}

/* prepare_pin runs the pin proof against |p| (see policy_pin_verify): a signature
 * verification only for a certificate that no thumbprint of |p| registers and a pin
 * names, and only once per issuer key. */
static void prepare_pin(struct client_conn *c, const struct policy *p)
{
    struct authz_conn *a = &c->authz;
    if (!a->has_cert || p == NULL) {
        return;
    }
    policy_pin_verify(p, c->cert_der, c->cert_der_len, &a->facts);
    a->pin_generation = policy_generation(p);
}

void authz_conn_init(struct client_conn *c)
{
    struct authz_conn *a = &c->authz;
    policy_cert_facts_cleanup(&a->facts);
    free(a->client_cert);
    a->client_cert = NULL;
    a->client_cert_len = 0;
    a->has_cert = false;
    a->thumbprint[0] = '\0';
    a->pin_generation = 0;
    if (c->cert_der != NULL) {
        struct cg_errbuf err = {0};
        if (policy_cert_facts_from_der(c->cert_der, c->cert_der_len, &a->facts, &err) == CG_OK) {
            a->has_cert = true;
            cg_hex_encode(a->facts.sha1, POLICY_SHA1_LEN, CG_HEX_UPPER, a->thumbprint);
        } else {
            CG_LOG_INFO("w%uc%" PRIu64 ": client certificate not parsable: %s", c->w->id, c->id,
                        err.msg);
        }
    }
    prepare_pin(c, current_policy(c));
}

void authz_conn_cleanup(struct authz_conn *a)
{
    policy_cert_facts_cleanup(&a->facts);
    free(a->client_cert);
    a->client_cert = NULL;
    a->client_cert_len = 0;
    a->has_cert = false;
}

/* peer_allowed_by checks the peer against the policy of |e|. */
static bool peer_allowed_by(struct client_conn *c, const struct host_entry *e)
{
    const struct policy *p = c->ws->policies[e->policy_slot];
    if (p == NULL) {
        return true; /* no policy: every request is denied later, with a reason */
    }
    bool audit = false;
    bool ok = policy_allow_peer(p, (const struct sockaddr *)&c->peer, &audit);
    if (audit) {
        CG_LOG_WARN("audit: listener %s%s%s would refuse %s (ip_not_allowed), policy "
                    "generation %" PRIu64,
                    c->lrt->cfg->name, e->name[0] ? " host " : "", e->name, c->peer_ip,
                    policy_generation(p));
    }
    return ok;
}

bool authz_peer_allowed(struct client_conn *c)
{
    /* Before the handshake any entry may be the one: refuse only whom all refuse. */
    for (size_t i = 0; i < c->hosts->num_entries; i++) {
        if (peer_allowed_by(c, &c->hosts->entries[i])) {
            return true;
        }
    }
    return c->hosts->num_entries == 0;
}

bool authz_host_peer_allowed(struct client_conn *c)
{
    return c->host == NULL || peer_allowed_by(c, c->host);
}

static void copy_str(char *dst, size_t cap, const char *s, size_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    if (n > 0) {
        memcpy(dst, s, n);
    }
    dst[n] = '\0';
}

/* reason_of maps the policy's decision onto the proxy's reasons, which list the policy's
 * in the same order from CG_REASON_OK on. */
static enum cg_reason reason_of(enum policy_reason r)
{
    _Static_assert(CG_REASON_UNTRUSTED_CHAIN - CG_REASON_OK ==
                       POLICY_REASON_UNTRUSTED_CHAIN - POLICY_REASON_OK,
                   "common/reason.h lists the policy's reasons in enum policy_reason's order");
    return (enum cg_reason)(CG_REASON_OK + (int)r);
}

void authz_decide(struct client_conn *c, struct cg_str method, struct cg_str authority,
                  struct cg_str target, struct authz_result *out)
{
    struct authz_conn *a = &c->authz;
    const struct policy *p = current_policy(c);
    char *scratch = c->w->scratch.authz;
    size_t scratch_cap = c->w->scratch.authz_cap;
    memset(out, 0, sizeof(*out));
    out->clearance = out->requirement = out->level = "";
    /* A connection belongs to the host entry its SNI chose: a request whose authority
     * names another one (or that no entry serves) goes elsewhere (RFC 9110 §15.5.20). */
    bool misdirected = c->host == NULL || host_table_misdirected(c->hosts, c->host, authority);
    if (misdirected && p == NULL) {
        out->status = 421;
        out->grpc_status = 7;
        out->reason = CG_REASON_MISDIRECTED;
        return;
    }
    if (p == NULL) {
        out->status = 403;
        out->grpc_status = 7;
        out->reason = CG_REASON_NO_POLICY;
        return;
    }
    out->generation = policy_generation(p);
    if (POLICY_DECIDE_BUF_LEN(target.len) + 1024 > scratch_cap) {
        out->status = 414;
        out->grpc_status = 3;
        out->reason = CG_REASON_TARGET_TOO_LONG;
        return;
    }
    if (a->has_cert && a->pin_generation != out->generation) {
        prepare_pin(c, p); /* a reload since the handshake */
    }
    struct policy_identity id = {
        .peer = (const struct sockaddr *)&c->peer,
        .cert = a->has_cert ? &a->facts : NULL,
        .chain_validated = c->tls.peer.chain_checked && c->tls.peer.chain_ok,
        .chain_required = c->lrt->cfg->tls.client_ca != NULL,
    };
    struct policy_request req = {
        .now = time(NULL),
        /* On a host entry, any of its names may be the authority (a client reusing the
         * connection for another name of a wildcard certificate); on the default, the
         * authority must be the name the client asked for, as without hosts. */
        .sni = c->host->cfg == NULL ? cg_str_from_cstr(c->tls.peer.sni) : (struct cg_str){0},
        .method = method,
        .authority = authority,
        .misdirected = misdirected,
        .target = target,
        .path_opts = {.allow_semicolons = c->lrt->cfg->requests.allow_path_semicolons,
                      .allow_encoded_percent = c->lrt->cfg->requests.allow_path_encoded_percent},
        .buf = scratch,
        .buf_cap = POLICY_DECIDE_BUF_LEN(target.len),
    };
    struct policy_decision *d = &out->d;
    policy_decide(p, &id, &req, d);
    out->allow = d->allow;
    out->status = d->http_status;
    out->grpc_status = d->grpc_status;
    out->reason = reason_of(d->reason);
    out->clearance =
        d->clearance != POLICY_CLEARANCE_NONE ? policy_clearance_str(d->clearance) : "";
    out->requirement = d->route_index >= 0 ? policy_requirement_str(d->requirement) : "";
    out->level = d->has_database ? policy_level_str(d->level) : "";
    if (d->entry_name != NULL) {
        copy_str(out->entry_name, sizeof(out->entry_name), d->entry_name, strlen(d->entry_name));
    }
    if (d->has_database) {
        copy_str(out->database, sizeof(out->database), d->database.p, d->database.len);
    }
    if (d->route_pattern != NULL) {
        copy_str(out->route_pattern, sizeof(out->route_pattern), d->route_pattern,
                 strlen(d->route_pattern));
        d->route_pattern = out->route_pattern;
    }
    out->path = d->path;
    out->has_query = d->has_query;
    out->query = d->query;
    out->upstream_index = host_entry_upstream(c->host, d->path, policy_case_sensitive_paths(p));
    if (d->audit) {
        CG_LOG_WARN("audit: w%uc%" PRIu64 " would deny %.*s %.*s from %s (%s, certificate "
                    "%s), policy generation %" PRIu64,
                    c->w->id, c->id, (int)method.len, method.p, (int)target.len, target.p,
                    c->peer_ip, cg_reason_str(out->reason), out->entry_name[0] ? out->entry_name : "none",
                    out->generation);
    }
    if (d->matched_by == POLICY_MATCH_PIN && !c->pin_logged) {
        c->pin_logged = true;
        CG_LOG_INFO("w%uc%" PRIu64 ": certificate %s trusted by its pinned key as entry \"%s\" "
                    "(same public key, issuer and authority key id, signed by the pinned "
                    "issuer key)",
                    c->w->id, c->id, a->thumbprint, out->entry_name);
    }
    if (!out->allow || !d->identified || !a->has_cert) {
        return;
    }
    if (a->client_cert == NULL && c->cert_der_len <= MAX_CERT_DER) {
        size_t cap = POLICY_CLIENT_CERT_VALUE_LEN(c->cert_der_len);
        a->client_cert = cg_xmalloc(cap);
        a->client_cert_len =
            policy_client_cert_value(c->cert_der, c->cert_der_len, a->client_cert, cap);
    }
    size_t used = POLICY_DECIDE_BUF_LEN(target.len);
    struct cg_str client_cert = {a->client_cert, a->client_cert_len};
    if (policy_headers_build(p, d, &a->facts, client_cert, scratch + used, scratch_cap - used,
                             out->headers, &out->num_headers) != CG_OK) {
        /* Cannot happen with the budget above; never forward without identity. */
        out->allow = false;
        out->status = 500;
        out->grpc_status = 13;
        out->reason = CG_REASON_IDENTITY_HEADERS_TOO_LARGE;
    }
}

bool authz_header_is_owned(struct client_conn *c, struct cg_str name)
{
    return policy_header_is_owned(current_policy(c), name);
}

/* framing_spelling reports whether |name| reads as a framing or hop-by-hop field
 * (Content-Length, Transfer-Encoding, Host, Connection, ...) once its '_' are '-': a
 * database that maps both alike could frame or route the request by it. */
static bool framing_spelling(struct cg_str name)
{
    char buf[32];
    if (name.len > sizeof(buf)) {
        return false;
    }
    for (size_t i = 0; i < name.len; i++) {
        buf[i] = name.p[i] == '_' ? '-' : name.p[i];
    }
    struct cg_str n = {buf, name.len};
    return cg_http_field_hop_by_hop(n) || cg_str_case_eq(n, CG_STR_LIT("content-length")) ||
           cg_str_case_eq(n, CG_STR_LIT("host")) || cg_str_case_eq(n, CG_STR_LIT("expect"));
}

bool authz_header_dropped(struct client_conn *c, struct cg_str name)
{
    if (name.len > 0 && memchr(name.p, '_', name.len) != NULL &&
        (!c->lrt->cfg->requests.keep_underscore_headers || framing_spelling(name))) {
        return true;
    }
    return authz_header_is_owned(c, name);
}
