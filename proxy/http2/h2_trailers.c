#include "proxy/http2/h2_trailers.h"

#include "proxy/http2/h2_stream.h"

/* Fields that must not travel in request trailers (RFC 9110 §6.5.1 and the sections it
 * points to), grouped by why. A name here is dropped in any letter case. */
static const struct cg_str forbidden[] = {
    /* Message framing (RFC 9110 §6.4, RFC 9112 §6). */
    CG_STR_LIT("content-length"),
    CG_STR_LIT("transfer-encoding"),
    CG_STR_LIT("trailer"),
    /* Connection-specific (RFC 9113 §8.2.2), refused by nghttp2 already. */
    CG_STR_LIT("connection"),
    CG_STR_LIT("keep-alive"),
    CG_STR_LIT("upgrade"),
    CG_STR_LIT("http2-settings"),
    /* Routing (§7.2), and the routing overrides some frameworks honour. */
    CG_STR_LIT("host"),
    CG_STR_LIT("via"),
    CG_STR_LIT("x-original-url"),
    CG_STR_LIT("x-rewrite-url"),
    /* Request modifiers: controls (§10.1), conditionals (§13.1), negotiation (§12.5),
     * method overrides. */
    CG_STR_LIT("cache-control"),
    CG_STR_LIT("expect"),
    CG_STR_LIT("max-forwards"),
    CG_STR_LIT("pragma"),
    CG_STR_LIT("range"),
    CG_STR_LIT("te"),
    CG_STR_LIT("if-match"),
    CG_STR_LIT("if-none-match"),
    CG_STR_LIT("if-modified-since"),
    CG_STR_LIT("if-unmodified-since"),
    CG_STR_LIT("if-range"),
    CG_STR_LIT("accept"),
    CG_STR_LIT("accept-charset"),
    CG_STR_LIT("accept-encoding"),
    CG_STR_LIT("accept-language"),
    CG_STR_LIT("x-http-method-override"),
    CG_STR_LIT("x-http-method"),
    CG_STR_LIT("x-method-override"),
    /* Authentication and state (§11, RFC 6265), and the request context that
     * cross-site checks rely on. */
    CG_STR_LIT("authorization"),
    CG_STR_LIT("www-authenticate"),
    CG_STR_LIT("authentication-info"),
    CG_STR_LIT("cookie"),
    CG_STR_LIT("set-cookie"),
    CG_STR_LIT("origin"),
    /* Response control data (§10.2, RFC 9111 §5): meaningless in a request. */
    CG_STR_LIT("age"),
    CG_STR_LIT("expires"),
    CG_STR_LIT("date"),
    CG_STR_LIT("location"),
    CG_STR_LIT("retry-after"),
    CG_STR_LIT("vary"),
    CG_STR_LIT("warning"),
    /* How to process the content (§8). */
    CG_STR_LIT("content-encoding"),
    CG_STR_LIT("content-type"),
    CG_STR_LIT("content-range"),
    CG_STR_LIT("content-language"),
    CG_STR_LIT("content-location"),
    /* gRPC: the status belongs to responses; deadline and encoding steer the call. */
    CG_STR_LIT("grpc-status"),
    CG_STR_LIT("grpc-message"),
    CG_STR_LIT("grpc-status-details-bin"),
    CG_STR_LIT("grpc-timeout"),
    CG_STR_LIT("grpc-encoding"),
    CG_STR_LIT("grpc-accept-encoding"),
};

/* Name prefixes that are never trailers: Proxy-Authorization, Proxy-Connection and
 * the rest of the proxy family; the Fetch Metadata fields (Sec-Fetch-Site, ...) that
 * servers use for cross-site decisions. */
static const struct cg_str forbidden_prefix[] = {
    CG_STR_LIT("proxy-"),
    CG_STR_LIT("sec-"),
};

static bool has_prefix(struct cg_str name, struct cg_str prefix)
{
    return name.len >= prefix.len && cg_str_case_eq((struct cg_str){name.p, prefix.len}, prefix);
}

bool h2_trailer_allowed(struct cg_str name)
{
    if (name.len == 0 || name.p[0] == ':') {
        return false;
    }
    for (size_t i = 0; i < sizeof(forbidden_prefix) / sizeof(forbidden_prefix[0]); i++) {
        if (has_prefix(name, forbidden_prefix[i])) {
            return false;
        }
    }
    for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
        if (cg_str_case_eq(name, forbidden[i])) {
            return false;
        }
    }
    return true;
}

size_t h2_trailers_filter(struct h2_fields *f, h2_field_owned_fn owned, void *arg)
{
    size_t kept = 0;
    for (size_t i = 0; i < f->num; i++) {
        const nghttp2_nv *nv = &f->nv[i];
        struct cg_str name = {(const char *)nv->name, nv->namelen};
        if (!h2_trailer_allowed(name) || owned(arg, nv)) {
            continue;
        }
        f->nv[kept++] = *nv;
    }
    size_t removed = f->num - kept;
    f->num = kept;
    return removed;
}
