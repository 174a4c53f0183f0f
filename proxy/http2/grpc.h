/* gRPC over HTTP/2 as certgate sees it: recognising gRPC requests, their deadline, and
 * the status codes certgate answers itself (docs/policy.md "Errors"). Pure functions, no I/O. */
#ifndef CG_PROXY_HTTP2_GRPC_H
#define CG_PROXY_HTTP2_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/reason.h"

/* Status codes certgate produces (grpc/doc/statuscodes.md). */
enum grpc_status {
    GRPC_OK = 0,
    GRPC_CANCELLED = 1,
    GRPC_INVALID_ARGUMENT = 3,
    GRPC_DEADLINE_EXCEEDED = 4,
    GRPC_PERMISSION_DENIED = 7,
    GRPC_RESOURCE_EXHAUSTED = 8,
    GRPC_UNIMPLEMENTED = 12,
    GRPC_INTERNAL = 13,
    GRPC_UNAVAILABLE = 14,
    GRPC_UNAUTHENTICATED = 16,
};

/* grpc_is_content_type reports whether a content-type value names gRPC
 * ("application/grpc", "application/grpc+proto", "application/grpc;..."). */
bool grpc_is_content_type(const char *value, size_t len);

/* grpc_parse_timeout parses a grpc-timeout value ("100m", "5S": 1-8 digits and a unit
 * H M S m u n) into milliseconds, rounding up (at least 1). Returns false if malformed. */
bool grpc_parse_timeout(const char *value, size_t len, uint64_t *out_ms);

/* grpc_status_from_http maps an HTTP status certgate answers to a gRPC status. */
int grpc_status_from_http(int http_status);

/* grpc_message_for returns the grpc-message text for a reason code (already safe: no
 * characters that need percent-encoding). */
const char *grpc_message_for(enum cg_reason reason);

#endif
