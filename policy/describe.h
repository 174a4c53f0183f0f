/* The policy as a reader sees it: what `certgate policy show` prints and what
 * GET /admin/policy answers (docs/policy.md "Asking the policy"). */
#ifndef CG_POLICY_DESCRIBE_H
#define CG_POLICY_DESCRIBE_H

#include <jansson.h>

#include "policy/policy.h"

/* policy_describe returns a new JSON object describing the loaded policy |p|:
 *
 *   {"mode", "case_sensitive_paths",
 *    "allow_ips": [as written] or null (every address),
 *    "routes": [{"index", "path", "methods": [...] or null (any), "require",
 *                "database": null | {"source": "path"} | {"source": "fixed", "name"} |
 *                            {"source": "query", "param"},
 *                "mode": the route's own mode, else the policy's}],
 *    "certificates": [{"index", "name", "clearance", "databases": {...},
 *                      "thumbprints": [...], "pins": [{"spki_sha256", "issuer",
 *                      "issuer_key_id", "issuer_key": bool}], "match": [...],
 *                      "allow_ips": [...] or null, "expires": "..." or null}],
 *    "headers": every identity header name and switch, defaults filled in}
 *
 * Routes and headers come from the compiled snapshot, so they show the effective
 * values; allow_ips, thumbprints and pins as written in the document the snapshot was
 * compiled from (compiling merges address blocks and hashes thumbprints). The caller
 * owns the result (json_decref). Only reads |p|. */
json_t *policy_describe(const struct policy *p);

#endif
