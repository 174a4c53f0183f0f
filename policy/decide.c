/* policy_decide: the per-request authorization, a pure function of the policy
 * snapshot, the peer's identity and the request. No allocation, no locks.
 *
 * Order of the checks (the first failure is the reason):
 *   1. the target normalizes, and when a listener option let ';' or "%25" through,
 *      the servers that read those differently reach the same route and {db}
 *                                                 else bad_path (400, never audited)
 *   2. Host/:authority names the SNI host, and the proxy did not find it names
 *      another virtual host (req->misdirected)    else misdirected (421, never audited)
 *   3. the peer is in the policy's allow_ips      else ip_not_allowed
 *   4. a route matches method and path            else no_matching_route
 *   5. the route is not Deny                      else route_denied
 *   6. the database parameter is unambiguous      else bad_path (400, never audited)
 *      (policy/query_param.h says which keys name it)
 *   7. Public routes stop here (allowed).
 *   8. a certificate was sent                     else no_certificate
 *      it is within its validity period           else certificate_not_yet_valid/_expired
 *      it is registered (thumbprint, pin, identity) else unknown_certificate
 *      its entry has not expired                  else certificate_expired
 *      the peer is in the entry's allow_ips       else ip_not_allowed
 *   9. clearance / database level suffice         else insufficient_clearance or
 *                                                 database_not_allowed
 * A failure at 3-9 under audit mode (the route's "mode", else the policy's) is allowed
 * with audit = true and the reason kept. */
#include <string.h>

#include "common/hostname.h"
#include "policy/path_normalize.h"
#include "policy/policy_internal.h"
#include "policy/query_param.h"

static void set_status(struct policy_decision *out, enum policy_reason reason)
{
    switch (reason) {
    case POLICY_REASON_OK:
        out->http_status = 0;
        out->grpc_status = 0;
        break;
    case POLICY_REASON_BAD_PATH:
        out->http_status = 400;
        out->grpc_status = 3; /* INVALID_ARGUMENT */
        break;
    case POLICY_REASON_MISDIRECTED:
        out->http_status = 421;
        out->grpc_status = 7;
        break;
    case POLICY_REASON_NO_CERTIFICATE:
    case POLICY_REASON_UNKNOWN_CERTIFICATE:
    case POLICY_REASON_CERTIFICATE_EXPIRED:
    case POLICY_REASON_CERTIFICATE_NOT_YET_VALID:
    case POLICY_REASON_UNTRUSTED_CHAIN:
        out->http_status = 403;
        out->grpc_status = 16; /* UNAUTHENTICATED */
        break;
    case POLICY_REASON_IP_NOT_ALLOWED:
    case POLICY_REASON_INSUFFICIENT_CLEARANCE:
    case POLICY_REASON_DATABASE_NOT_ALLOWED:
    case POLICY_REASON_NO_MATCHING_ROUTE:
    case POLICY_REASON_ROUTE_DENIED:
        out->http_status = 403;
        out->grpc_status = 7; /* PERMISSION_DENIED */
        break;
    }
}

/* finish records |reason|; under audit mode a denial becomes an audited allow. */
static void finish(struct policy_decision *out, enum policy_reason reason, enum policy_mode mode)
{
    out->reason = reason;
    set_status(out, reason);
    if (reason == POLICY_REASON_OK) {
        out->allow = true;
        return;
    }
    bool auditable = reason != POLICY_REASON_BAD_PATH && reason != POLICY_REASON_MISDIRECTED;
    if (auditable && mode == POLICY_MODE_AUDIT) {
        out->allow = true;
        out->audit = true;
        return;
    }
    out->allow = false;
}

static bool host_matches_sni(struct cg_str authority, struct cg_str sni)
{
    if (sni.len > 0 && sni.p[sni.len - 1] == '.') {
        sni.len--;
    }
    return cg_str_case_eq(cg_authority_host(authority), sni);
}

static const struct policy_route *find_route(const struct policy *p,
                                             const struct policy_request *req, struct cg_str path,
                                             int *out_index, struct cg_str *out_capture)
{
    for (size_t i = 0; i < p->num_routes; i++) {
        if (policy_route_match(&p->routes[i], p->case_sensitive_paths, req->method, path,
                               out_capture)) {
            *out_index = (int)i;
            return &p->routes[i];
        }
    }
    *out_index = -1;
    return NULL;
}

/* readings_agree checks, for a path that holds what only a listener option lets
 * through (';' or "%25"), that the servers which read it differently would reach the
 * same route, with the same {db}, as certgate: a servlet container drops ";params"
 * from every segment, some servers decode twice. |tmp| (|tmp_cap| >= path.len + 1)
 * holds each reading in turn. */
static bool readings_agree(const struct policy *p, const struct policy_request *req,
                           struct cg_str path, int route_index, struct cg_str capture, char *tmp,
                           size_t tmp_cap)
{
    unsigned kinds = 0;
    if (req->path_opts.allow_semicolons && memchr(path.p, ';', path.len) != NULL) {
        kinds |= POLICY_PATH_VIEW_STRIP_PARAMS;
    }
    if (req->path_opts.allow_encoded_percent && memmem(path.p, path.len, "%25", 3) != NULL) {
        kinds |= POLICY_PATH_VIEW_DECODE_TWICE;
    }
    /* Each reading alone and both together: a server may do either or both. */
    for (unsigned how = 1; how <= kinds; how++) {
        if ((how & kinds) != how) {
            continue;
        }
        size_t len;
        if (policy_path_view(path.p, path.len, how, tmp, tmp_cap, &len) != CG_OK) {
            return false;
        }
        int index;
        struct cg_str other = {NULL, 0};
        find_route(p, req, (struct cg_str){tmp, len}, &index, &other);
        if (index != route_index || !cg_str_eq(other, capture)) {
            return false;
        }
    }
    return true;
}

/* identify ties the certificate to an entry and checks what must hold for it whatever
 * the route: validity, the entry's expiry and its allow_ips. */
static enum policy_reason identify(const struct policy *p, const struct policy_identity *id,
                                   time_t now, struct policy_decision *out,
                                   const struct policy_entry **out_entry)
{
    const struct policy_cert_facts *cert = id->cert;
    *out_entry = NULL;
    out->cert_checked = true;
    if (cert == NULL) {
        return POLICY_REASON_NO_CERTIFICATE;
    }
    if (now < cert->not_before) {
        return POLICY_REASON_CERTIFICATE_NOT_YET_VALID;
    }
    if (now > cert->not_after) {
        return POLICY_REASON_CERTIFICATE_EXPIRED;
    }
    /* docs/policy.md: with a client CA the chain must validate too, also for
     * certificates registered by thumbprint or pin. */
    if (id->chain_required && !id->chain_validated) {
        return POLICY_REASON_UNTRUSTED_CHAIN;
    }
    uint32_t idx;
    enum policy_match how = policy_registry_find(p, cert, id->chain_validated, &idx);
    if (how == POLICY_MATCH_NONE) {
        return POLICY_REASON_UNKNOWN_CERTIFICATE;
    }
    const struct policy_entry *e = &p->entries[idx];
    /* Named in the decision (for the audit log) even when refused below. */
    out->matched_by = how;
    out->entry_name = e->name;
    out->entry_index = idx;
    out->clearance = e->clearance;
    if (e->has_expires && now >= e->expires) {
        return POLICY_REASON_CERTIFICATE_EXPIRED;
    }
    if (e->has_allow_ips && !ipset_contains(&e->allow_ips, id->peer)) {
        return POLICY_REASON_IP_NOT_ALLOWED;
    }
    *out_entry = e;
    out->identified = true;
    return POLICY_REASON_OK;
}

static enum policy_level required_level(enum policy_requirement r)
{
    switch (r) {
    case POLICY_REQUIRE_READ_ONLY:
        return POLICY_LEVEL_READ_ONLY;
    case POLICY_REQUIRE_READ_WRITE:
        return POLICY_LEVEL_READ_WRITE;
    case POLICY_REQUIRE_ADMIN:
        return POLICY_LEVEL_ADMIN;
    default:
        return POLICY_LEVEL_NONE;
    }
}

void policy_decide(const struct policy *p, const struct policy_identity *id,
                   const struct policy_request *req, struct policy_decision *out)
{
    memset(out, 0, sizeof(*out));
    out->route_index = -1;
    out->entry_index = -1;
    out->requirement = POLICY_REQUIRE_DENY;

    /* 1. One normalized path for authorization and for the database, read the same way
     * by every server behind. */
    struct policy_path pp;
    if (req->buf == NULL || req->buf_cap < POLICY_DECIDE_BUF_LEN(req->target.len) ||
        policy_path_normalize(req->target.p, req->target.len, &req->path_opts, req->buf,
                              req->buf_cap, &pp) != CG_OK) {
        finish(out, POLICY_REASON_BAD_PATH, POLICY_MODE_ENFORCE);
        return;
    }
    out->path = (struct cg_str){req->buf, pp.path_len};
    out->has_query = pp.has_query;
    out->query = pp.query;
    char *scratch = req->buf + pp.path_len + 1;
    size_t scratch_cap = req->buf_cap - pp.path_len - 1;

    int route_index;
    struct cg_str capture = {NULL, 0};
    const struct policy_route *route = find_route(p, req, out->path, &route_index, &capture);
    if (!readings_agree(p, req, out->path, route_index, capture, scratch, scratch_cap)) {
        finish(out, POLICY_REASON_BAD_PATH, POLICY_MODE_ENFORCE);
        return;
    }

    /* 2. Host vs SNI. */
    if (req->misdirected || (req->sni.len > 0 && req->authority.len > 0 &&
                             !host_matches_sni(req->authority, req->sni))) {
        finish(out, POLICY_REASON_MISDIRECTED, POLICY_MODE_ENFORCE);
        return;
    }
    out->route_index = route_index;
    enum policy_mode mode = route && route->has_mode ? route->mode : p->mode;

    /* 3. The policy's IP rules (also checked per connection, but a reload may have
     * narrowed them since the connection was accepted). */
    if (p->has_allow_ips && !ipset_contains(&p->allow_ips, id->peer)) {
        finish(out, POLICY_REASON_IP_NOT_ALLOWED, mode);
        return;
    }
    /* 4, 5. */
    if (route == NULL) {
        finish(out, POLICY_REASON_NO_MATCHING_ROUTE, mode);
        return;
    }
    out->route_pattern = route->pattern;
    out->requirement = route->require;
    if (route->require == POLICY_REQUIRE_DENY) {
        finish(out, POLICY_REASON_ROUTE_DENIED, mode);
        return;
    }

    /* 6. The database the route is about. */
    size_t db_len = 0;
    switch (route->db_source) {
    case POLICY_DB_NONE:
        break;
    case POLICY_DB_CAPTURE:
        if (policy_pct_decode(capture, false, scratch, scratch_cap, &db_len) != CG_OK) {
            finish(out, POLICY_REASON_BAD_PATH, POLICY_MODE_ENFORCE);
            return;
        }
        out->database = (struct cg_str){scratch, db_len};
        out->has_database = true;
        break;
    case POLICY_DB_FIXED:
        out->database = cg_str_from_cstr(route->database);
        out->has_database = true;
        break;
    case POLICY_DB_QUERY: {
        struct policy_query_value qv;
        if (!pp.has_query) {
            break;
        }
        if (policy_query_param(pp.query, route->query_param, scratch, scratch_cap, &qv) != CG_OK) {
            finish(out, POLICY_REASON_BAD_PATH, POLICY_MODE_ENFORCE);
            return;
        }
        if (qv.found && qv.value.len > 0) {
            out->database = qv.value;
            out->has_database = true;
        }
        break;
    }
    }

    /* 7, 8. Who is calling. */
    const struct policy_entry *e;
    enum policy_reason who = identify(p, id, req->now, out, &e);
    if (e != NULL && out->has_database) {
        out->level = policy_entry_level(p, e, out->database);
    }
    if (route->require == POLICY_REQUIRE_PUBLIC) {
        if (e == NULL) {
            /* An unidentified or refused certificate on a public route: anonymous. */
            out->matched_by = POLICY_MATCH_NONE;
            out->entry_name = NULL;
            out->entry_index = -1;
            out->clearance = POLICY_CLEARANCE_NONE;
        }
        finish(out, POLICY_REASON_OK, mode);
        return;
    }
    if (who != POLICY_REASON_OK) {
        finish(out, who, mode);
        return;
    }

    /* 9. Clearance and database level. */
    enum policy_reason reason = POLICY_REASON_OK;
    switch (route->require) {
    case POLICY_REQUIRE_AUTHENTICATED:
        break;
    case POLICY_REQUIRE_OPERATOR:
        if (e->clearance < POLICY_CLEARANCE_OPERATOR) {
            reason = POLICY_REASON_INSUFFICIENT_CLEARANCE;
        }
        break;
    case POLICY_REQUIRE_CLUSTER_ADMIN:
        if (e->clearance < POLICY_CLEARANCE_CLUSTER_ADMIN) {
            reason = POLICY_REASON_INSUFFICIENT_CLEARANCE;
        }
        break;
    case POLICY_REQUIRE_READ_ONLY:
    case POLICY_REQUIRE_READ_WRITE:
    case POLICY_REQUIRE_ADMIN:
        if (e->clearance >= POLICY_CLEARANCE_OPERATOR) {
            /* Admin on every database, also when the request names none. */
            out->level = POLICY_LEVEL_ADMIN;
        } else if (!out->has_database || out->level == POLICY_LEVEL_NONE) {
            reason = POLICY_REASON_DATABASE_NOT_ALLOWED;
        } else if (out->level < required_level(route->require)) {
            reason = POLICY_REASON_INSUFFICIENT_CLEARANCE;
        }
        break;
    case POLICY_REQUIRE_PUBLIC:
    case POLICY_REQUIRE_DENY:
        break; /* handled above */
    }
    finish(out, reason, mode);
}

void policy_identify(const struct policy *p, const struct policy_identity *id, time_t now,
                     enum policy_clearance min, struct policy_decision *out)
{
    memset(out, 0, sizeof(*out));
    out->route_index = -1;
    out->entry_index = -1;
    out->requirement = POLICY_REQUIRE_DENY;
    if (p->has_allow_ips && !ipset_contains(&p->allow_ips, id->peer)) {
        finish(out, POLICY_REASON_IP_NOT_ALLOWED, POLICY_MODE_ENFORCE);
        return;
    }
    const struct policy_entry *e;
    enum policy_reason who = identify(p, id, now, out, &e);
    if (who == POLICY_REASON_OK && e->clearance < min) {
        who = POLICY_REASON_INSUFFICIENT_CLEARANCE;
    }
    finish(out, who, POLICY_MODE_ENFORCE);
}

bool policy_allow_peer(const struct policy *p, const struct sockaddr *peer, bool *out_audit)
{
    if (out_audit != NULL) {
        *out_audit = false;
    }
    if (!p->has_allow_ips || ipset_contains(&p->allow_ips, peer)) {
        return true;
    }
    if (p->mode == POLICY_MODE_AUDIT) {
        if (out_audit != NULL) {
            *out_audit = true;
        }
        return true;
    }
    return false;
}
