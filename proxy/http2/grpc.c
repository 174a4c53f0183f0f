#include "proxy/http2/grpc.h"

#include <string.h>

bool grpc_is_content_type(const char *value, size_t len)
{
    static const char prefix[] = "application/grpc";
    size_t n = sizeof(prefix) - 1;
    if (len < n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = value[i];
        if (ch >= 'A' && ch <= 'Z') {
            ch = (char)(ch + 32);
        }
        if (ch != prefix[i]) {
            return false;
        }
    }
    return len == n || value[n] == '+' || value[n] == ';';
}

bool grpc_parse_timeout(const char *value, size_t len, uint64_t *out_ms)
{
    if (len < 2 || len > 9) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (value[i] < '0' || value[i] > '9') {
            return false;
        }
        v = v * 10 + (uint64_t)(value[i] - '0');
    }
    uint64_t ms;
    switch (value[len - 1]) {
    case 'H':
        ms = v * 3600000u;
        break;
    case 'M':
        ms = v * 60000u;
        break;
    case 'S':
        ms = v * 1000u;
        break;
    case 'm':
        ms = v;
        break;
    case 'u':
        ms = (v + 999u) / 1000u;
        break;
    case 'n':
        ms = (v + 999999u) / 1000000u;
        break;
    default:
        return false;
    }
    *out_ms = ms == 0 ? 1 : ms;
    return true;
}

int grpc_status_from_http(int http_status)
{
    switch (http_status) {
    case 400:
        return GRPC_INTERNAL;
    case 401:
        return GRPC_UNAUTHENTICATED;
    case 403:
        return GRPC_PERMISSION_DENIED;
    case 404:
        return GRPC_UNIMPLEMENTED;
    case 413:
    case 431:
        return GRPC_RESOURCE_EXHAUSTED;
    case 429:
    case 502:
    case 503:
        return GRPC_UNAVAILABLE;
    case 504:
        return GRPC_DEADLINE_EXCEEDED;
    default:
        return GRPC_INTERNAL;
    }
}

const char *grpc_message_for(enum cg_reason reason)
{
    /* Reasons are snake_case identifiers from certgate itself: nothing to encode. */
    return reason != CG_REASON_NONE ? cg_reason_str(reason) : "error";
}
