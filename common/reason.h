/* Why certgate answered a request itself, cut a response or refused a connection: one
 * enum and one table of the stable snake_case names that the JSON error bodies, the
 * access log, grpc-message and metrics labels use. The policy's decisions (policy/)
 * have their own enum; the data plane maps them onto the CG_REASON_POLICY_* values so
 * that a log line or a counter has one vocabulary. */
#ifndef CG_COMMON_REASON_H
#define CG_COMMON_REASON_H

/* X(name, "text"): the enum value CG_REASON_<name> and its name in logs. */
#define CG_REASONS(X)                                                                          \
    X(NONE, "")                                                                                \
    X(OK, "ok")                                                                                \
    /* Decisions of the policy (enum policy_reason, in its order). */                          \
    X(IP_NOT_ALLOWED, "ip_not_allowed")                                                        \
    X(NO_CERTIFICATE, "no_certificate")                                                        \
    X(UNKNOWN_CERTIFICATE, "unknown_certificate")                                              \
    X(CERTIFICATE_EXPIRED, "certificate_expired")                                              \
    X(CERTIFICATE_NOT_YET_VALID, "certificate_not_yet_valid")                                  \
    X(INSUFFICIENT_CLEARANCE, "insufficient_clearance")                                        \
    X(DATABASE_NOT_ALLOWED, "database_not_allowed")                                            \
    X(NO_MATCHING_ROUTE, "no_matching_route")                                                  \
    X(ROUTE_DENIED, "route_denied")                                                            \
    X(BAD_PATH, "bad_path")                                                                    \
    X(MISDIRECTED, "misdirected")                                                              \
    X(UNTRUSTED_CHAIN, "untrusted_chain")                                                      \
    /* The listener could not decide. */                                                       \
    X(NO_POLICY, "no_policy")                                                                  \
    X(TARGET_TOO_LONG, "target_too_long")                                                      \
    X(IDENTITY_HEADERS_TOO_LARGE, "identity_headers_too_large")                                \
    /* Connections refused before a request. */                                                \
    X(BAD_PROXY_HEADER, "bad_proxy_header")                                                    \
    X(INVALID_SNI, "invalid_sni")                                                              \
    X(UNKNOWN_SNI, "unknown_sni")                                                              \
    /* The client's request. */                                                                \
    X(MALFORMED_REQUEST, "malformed_request")                                                  \
    X(REQUEST_LINE_TOO_LONG, "request_line_too_long")                                          \
    X(HEADER_FIELDS_TOO_LARGE, "header_fields_too_large")                                      \
    X(HEADER_LIST_TOO_LARGE, "header_list_too_large")                                          \
    X(TRAILERS_TOO_LARGE, "trailers_too_large")                                                \
    X(UNSUPPORTED_EXPECTATION, "unsupported_expectation")                                      \
    X(HTTP_VERSION_NOT_SUPPORTED, "http_version_not_supported")                                \
    X(REQUEST_TOO_UNUSUAL, "request_too_unusual")                                              \
    X(METHOD_NOT_ALLOWED, "method_not_allowed")                                                \
    X(BODY_TOO_LARGE, "body_too_large")                                                        \
    X(BAD_CHUNKED_BODY, "bad_chunked_body")                                                    \
    X(REQUEST_HEADER_TIMEOUT, "request_header_timeout")                                        \
    X(CLIENT_BODY_TIMEOUT, "client_body_timeout")                                              \
    X(DEADLINE_EXCEEDED, "deadline_exceeded")                                                  \
    X(GRPC_NEEDS_H2_UPSTREAM, "grpc_needs_h2_upstream")                                        \
    X(UPGRADE_NEEDS_HTTP1_UPSTREAM, "upgrade_needs_http1_upstream")                            \
    /* The client went away. */                                                                \
    X(CLIENT_CLOSED, "client_closed")                                                          \
    X(CLIENT_RESET, "client_reset")                                                            \
    X(INCOMPLETE, "incomplete")                                                                \
    X(CONNECTION_CLOSED, "connection_closed")                                                  \
    /* The database. */                                                                        \
    X(NO_HEALTHY_SERVER, "no_healthy_server")                                                  \
    X(UPSTREAM_UNRESOLVED, "upstream_unresolved")                                              \
    X(UPSTREAM_CONNECT_FAILED, "upstream_connect_failed")                                      \
    X(UPSTREAM_TLS_VERIFY_FAILED, "upstream_tls_verify_failed")                                \
    X(UPSTREAM_TLS_HANDSHAKE_FAILED, "upstream_tls_handshake_failed")                          \
    X(UPSTREAM_TLS_HANDSHAKE_TIMEOUT, "upstream_tls_handshake_timeout")                        \
    X(UPSTREAM_SUBMIT_FAILED, "upstream_submit_failed")                                        \
    X(UPSTREAM_TIMEOUT, "upstream_timeout")                                                    \
    X(UPSTREAM_IDLE_TIMEOUT, "upstream_idle_timeout")                                          \
    X(UPSTREAM_CLOSED, "upstream_closed")                                                      \
    X(UPSTREAM_RESET, "upstream_reset")                                                        \
    X(UPSTREAM_INCOMPLETE, "upstream_incomplete")                                              \
    X(UPSTREAM_TRUNCATED, "upstream_truncated")                                                \
    X(UPSTREAM_LENGTH_MISMATCH, "upstream_length_mismatch")                                    \
    X(BAD_UPSTREAM_RESPONSE, "bad_upstream_response")                                          \
    X(BAD_UPSTREAM_BODY, "bad_upstream_body")                                                  \
    X(UNEXPECTED_101, "unexpected_101")                                                        \
    /* Upgrade tunnels. */                                                                     \
    X(UPGRADED, "upgraded")                                                                    \
    X(TUNNEL_IDLE, "tunnel_idle")

#define CG_REASON_ENUM_(name, text) CG_REASON_##name,
enum cg_reason { CG_REASONS(CG_REASON_ENUM_) CG_REASON_COUNT };
#undef CG_REASON_ENUM_

/* cg_reason_str returns the stable name of |r| ("upstream_timeout"); "" for
 * CG_REASON_NONE, "unknown" out of range. Static storage. */
const char *cg_reason_str(enum cg_reason r);

#endif
