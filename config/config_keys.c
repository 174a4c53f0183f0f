/* The key table (config_keys.h says what it is for) and the helpers that read, write
 * and print its values. */
#include "config/config_keys.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "config/config.h"

#define SECOND 1000ull
#define MINUTE (60 * SECOND)
#define HOUR (60 * MINUTE)
#define KIB 1024ull
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)
/* Longer would only hide a mistake (a timeout meant in seconds written as ms is a
 * 1000x too long one). */
#define MAX_DURATION (24 * HOUR)

/* Where an entry's field is: its scope, the JSON object that holds it, its name. */
#define FIELD(type, member) .offset = offsetof(type, member), .size = sizeof(((type *)0)->member)
#define ROOT_KEY(obj, key, member)                                                                 \
    .scope = CONFIG_SCOPE_ROOT, .object = (obj), .name = (key), FIELD(struct config, member)
#define LIMIT(key) ROOT_KEY("limits", #key, limits.key)
#define TIMEOUT(key) ROOT_KEY("timeouts", #key, timeouts.key)
#define LISTENER_KEY(obj, key, member)                                                             \
    .scope = CONFIG_SCOPE_LISTENER, .object = (obj), .name = (key),                                \
    FIELD(struct config_listener, member)
#define UPSTREAM_KEY(obj, key, member)                                                             \
    .scope = CONFIG_SCOPE_UPSTREAM, .object = (obj), .name = (key),                                \
    FIELD(struct config_upstream, member)

/* What an entry accepts and its default. */
#define COUNT(lo, hi, d) .type = CONFIG_KEY_COUNT, .min = (lo), .max = (hi), .def = (d)
#define SIZE(lo, hi, d) .type = CONFIG_KEY_SIZE, .min = (lo), .max = (hi), .def = (d)
#define DURATION(lo, d) .type = CONFIG_KEY_DURATION, .min = (lo), .max = MAX_DURATION, .def = (d)
#define BOOL(d) .type = CONFIG_KEY_BOOL, .max = 1, .def = (d)
#define ENUM(list, d) .type = CONFIG_KEY_ENUM, .choices = (list), .def = (d)

static const struct config_choice log_levels[] = {
    {"error", CG_LOG_ERROR},
    {"warn", CG_LOG_WARN},
    {"info", CG_LOG_INFO},
    {"debug", CG_LOG_DEBUG},
    {NULL, 0},
};
static const struct config_choice log_formats[] = {
    {"text", CG_LOG_FORMAT_TEXT},
    {"json", CG_LOG_FORMAT_JSON},
    {NULL, 0},
};
static const struct config_choice tls_versions[] = {
    {"1.2", CONFIG_TLS_1_2},
    {"1.3", CONFIG_TLS_1_3},
    {NULL, 0},
};
static const struct config_choice drop_keep[] = {{"drop", 0}, {"keep", 1}, {NULL, 0}};
static const struct config_choice reject_allow[] = {{"reject", 0}, {"allow", 1}, {NULL, 0}};
static const struct config_choice upstream_protocols[] = {
    {"http/1.1", CONFIG_UPSTREAM_HTTP11},
    {"h2c", CONFIG_UPSTREAM_H2C},
    {"h2", CONFIG_UPSTREAM_H2},
    {NULL, 0},
};
static const struct config_choice upstream_balances[] = {
    {"round_robin", CONFIG_BALANCE_ROUND_ROBIN},
    {"least_requests", CONFIG_BALANCE_LEAST_REQUESTS},
    {NULL, 0},
};

const struct config_key config_keys[] = {
    /* Top level. "workers": 0 is resolved to the CPU count by the loader. */
    {ROOT_KEY(NULL, "workers", workers), COUNT(0, CONFIG_MAX_WORKERS, 0), .zero = "one per core",
     .doc = "Worker threads; 0 is one per CPU the process may run on."},
    {ROOT_KEY("log", "level", log.level), ENUM(log_levels, CG_LOG_INFO),
     .doc = "Most verbose diagnostic level printed on standard error."},
    {ROOT_KEY("log", "format", log.format), ENUM(log_formats, CG_LOG_FORMAT_TEXT),
     .doc = "Diagnostic lines as text, or as one JSON object per line."},

    /* limits */
    {LIMIT(max_connections), COUNT(1, 1000000, 10000), .doc = "Client connections per process."},
    {LIMIT(max_request_line), SIZE(256, 1 * MIB, 8 * KIB),
     .doc = "HTTP/1.1 request line (414 above); at most max_header_bytes."},
    {LIMIT(max_header_bytes), SIZE(1 * KIB, 1 * MIB, 16 * KIB),
     .doc = "HTTP/1.1 request head, request line included (431 above)."},
    {LIMIT(max_headers), COUNT(1, 10000, 100), .doc = "Header fields per request (431 above)."},
    {LIMIT(max_body), SIZE(0, INT64_MAX, 0), .zero = "unlimited",
     .doc = "Request body bytes (413 above), 0 for no limit; bodies are streamed."},
    {LIMIT(buffer_high_water), SIZE(4 * KIB, 64 * MIB, 256 * KIB),
     .doc = "Bytes buffered per direction per connection before back-pressure."},
    {LIMIT(h2_max_concurrent_streams), COUNT(1, 10000, 100),
     .doc = "HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS."},
    {LIMIT(h2_max_header_list), SIZE(1 * KIB, 1 * MIB, 64 * KIB),
     .doc = "HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE."},
    {LIMIT(h2_max_continuations), COUNT(0, 1000, 8),
     .doc = "CONTINUATION frames per header block."},
    {LIMIT(h2_reset_burst), COUNT(1, 1000000, 1000),
     .doc = "RST_STREAM token bucket size (Rapid Reset)."},
    {LIMIT(h2_reset_rate), COUNT(1, 1000000, 33),
     .doc = "RST_STREAM tokens refilled per second; over the rate: GOAWAY."},
    {LIMIT(h2_max_no_progress_frames), COUNT(1, 100000, 1000),
     .doc = "HTTP/2 frames that move no request forward, beyond those progress earned."},
    {LIMIT(upstream_pool_max_idle), COUNT(0, 10000, 128), .zero = "no pooling",
     .doc = "Idle database connections kept per server per worker."},

    /* timeouts: 0 would expire everything at once, except where it says otherwise. */
    {TIMEOUT(tls_handshake), DURATION(1, 10 * SECOND),
     .doc = "From accept to a finished TLS handshake."},
    {TIMEOUT(request_header), DURATION(1, 10 * SECOND),
     .doc = "From the first byte of a request to its complete head."},
    {TIMEOUT(client_body_idle), DURATION(1, 30 * SECOND),
     .doc = "Longest silence inside a request body."},
    {TIMEOUT(keepalive_idle), DURATION(1, 60 * SECOND),
     .doc = "HTTP/1.1 connection idle between requests."},
    {TIMEOUT(upstream_connect), DURATION(1, 5 * SECOND),
     .doc = "TCP connect and TLS handshake to a database server."},
    {TIMEOUT(upstream_response), DURATION(1, 60 * SECOND),
     .doc = "From the request sent to the first response byte (504 after it)."},
    {TIMEOUT(upstream_idle), DURATION(1, 60 * SECOND),
     .doc = "Longest silence inside a response body."},
    {TIMEOUT(upstream_down), DURATION(1, 10 * SECOND),
     .doc = "How long a server that failed a connect is skipped."},
    {TIMEOUT(shutdown_delay), DURATION(0, 0), .zero = "drain at once",
     .doc = "After SIGTERM: not ready, still accepting, for this long before the drain."},
    {TIMEOUT(drain), DURATION(0, 30 * SECOND), .zero = "close at once",
     .doc = "How long requests in flight may finish after SIGTERM; 0 closes at once."},
    {TIMEOUT(h2_idle), DURATION(1, 5 * MINUTE), .doc = "HTTP/2 connection without open streams."},

    /* listeners[] */
    {LISTENER_KEY("tls", "min_version", tls.min_version), ENUM(tls_versions, CONFIG_TLS_1_2),
     .doc = "Lowest TLS version accepted."},
    {LISTENER_KEY("tls", "strict_sni", tls.strict_sni), BOOL(false),
     .doc = "Refuse handshakes without SNI or whose SNI nothing serves."},
    {LISTENER_KEY("tls", "session_tickets", tls.session_tickets), BOOL(true),
     .doc = "TLS session resumption by tickets."},
    {LISTENER_KEY(NULL, "underscores_in_headers", requests.keep_underscore_headers),
     ENUM(drop_keep, 0), .doc = "Request header fields whose name holds \"_\": dropped or kept."},
    {LISTENER_KEY(NULL, "path_semicolons", requests.allow_path_semicolons), ENUM(reject_allow, 0),
     .doc = "A \";\" in the request path: refused (400) or allowed."},
    {LISTENER_KEY(NULL, "path_encoded_percent", requests.allow_path_encoded_percent),
     ENUM(reject_allow, 0), .doc = "An encoded \"%\" (%25) in the path: refused (400) or allowed."},

    /* upstreams.<name> */
    {UPSTREAM_KEY(NULL, "protocol", protocol), ENUM(upstream_protocols, CONFIG_UPSTREAM_HTTP11),
     .doc = "What the servers speak: HTTP/1.1, cleartext HTTP/2 or HTTP/2 over TLS."},
    {UPSTREAM_KEY(NULL, "balance", balance),
     ENUM(upstream_balances, CONFIG_BALANCE_ROUND_ROBIN),
     .doc = "How requests are spread: each server in turn, or the fewest in flight."},
    /* Below a tenth of a second a name would be asked for faster than a DNS server
     * answers a retry. */
    {UPSTREAM_KEY(NULL, "resolve_interval", resolve_interval), DURATION(100, 5 * SECOND),
     .doc = "How often each server name is resolved again."},
    /* upstreams.<name>.health_check: the object's presence turns checks on. */
    {UPSTREAM_KEY("health_check", "interval", health.interval), DURATION(100, 2 * SECOND),
     .doc = "Time between the starts of two checks of a server."},
    {UPSTREAM_KEY("health_check", "timeout", health.timeout), DURATION(1, 1 * SECOND),
     .doc = "Connect, TLS, request and response head of one check; at most interval."},
    {UPSTREAM_KEY("health_check", "rise", health.rise), COUNT(1, 100, 2),
     .doc = "Consecutive passed checks that bring a server back."},
    {UPSTREAM_KEY("health_check", "fall", health.fall), COUNT(1, 100, 2),
     .doc = "Consecutive failed checks that take a server out."},
};

const size_t config_num_keys = sizeof(config_keys) / sizeof(config_keys[0]);

uint64_t config_key_get(const struct config_key *k, const void *base)
{
    const unsigned char *p = (const unsigned char *)base + k->offset;
    switch (k->size) {
    case 1: {
        uint8_t v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    case 2: {
        uint16_t v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    default: {
        uint64_t v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    }
}

void config_key_set(const struct config_key *k, void *base, uint64_t value)
{
    unsigned char *p = (unsigned char *)base + k->offset;
    switch (k->size) {
    case 1: {
        uint8_t v = (uint8_t)value;
        memcpy(p, &v, sizeof(v));
        break;
    }
    case 2: {
        uint16_t v = (uint16_t)value;
        memcpy(p, &v, sizeof(v));
        break;
    }
    case 4: {
        uint32_t v = (uint32_t)value;
        memcpy(p, &v, sizeof(v));
        break;
    }
    default:
        memcpy(p, &value, sizeof(value));
        break;
    }
}

void config_keys_set_defaults(enum config_scope scope, void *base)
{
    for (size_t i = 0; i < config_num_keys; i++) {
        if (config_keys[i].scope == scope) {
            config_key_set(&config_keys[i], base, config_keys[i].def);
        }
    }
}

struct unit {
    const char *suffix;
    uint64_t size;
};

/* scaled writes |n| with the largest unit of |units| (largest first) that divides it
 * exactly, or with the last one; 0 has no unit. */
static const char *scaled(char *buf, size_t len, uint64_t n, const struct unit *units)
{
    const struct unit *u = units;
    while (u[1].suffix != NULL && (n == 0 || n % u->size != 0)) {
        u++;
    }
    snprintf(buf, len, "%" PRIu64 "%s", n / u->size, n == 0 ? "" : u->suffix);
    return buf;
}

const char *config_key_format(const struct config_key *k, uint64_t value, char *buf, size_t len)
{
    static const struct unit sizes[] = {
        {"GiB", GIB}, {"MiB", MIB}, {"KiB", KIB}, {"", 1}, {NULL, 0}};
    static const struct unit durations[] = {
        {"h", HOUR}, {"m", MINUTE}, {"s", SECOND}, {"ms", 1}, {NULL, 0}};
    switch (k->type) {
    case CONFIG_KEY_COUNT:
        snprintf(buf, len, "%" PRIu64, value);
        return buf;
    case CONFIG_KEY_SIZE:
        return scaled(buf, len, value, sizes);
    case CONFIG_KEY_DURATION:
        return scaled(buf, len, value, durations);
    case CONFIG_KEY_BOOL:
        snprintf(buf, len, "%s", value ? "true" : "false");
        return buf;
    case CONFIG_KEY_ENUM:
        for (const struct config_choice *c = k->choices; c->name != NULL; c++) {
            if (c->value == value) {
                snprintf(buf, len, "%s", c->name);
                return buf;
            }
        }
        break;
    }
    snprintf(buf, len, "?");
    return buf;
}

const char *config_key_section(const struct config_key *k, char *buf, size_t len)
{
    static const char *const scopes[] = {
        [CONFIG_SCOPE_ROOT] = "",
        [CONFIG_SCOPE_LISTENER] = "listeners[]",
        [CONFIG_SCOPE_UPSTREAM] = "upstreams.<name>",
    };
    const char *scope = scopes[k->scope];
    const char *object = k->object != NULL ? k->object : "";
    snprintf(buf, len, "%s%s%s", scope, scope[0] != '\0' && object[0] != '\0' ? "." : "", object);
    return buf;
}
