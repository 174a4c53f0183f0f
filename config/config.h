/* The process configuration (certgate.json, docs/configuration.md): model and loader.
 *
 * config_load_file / config_load_string read and validate the whole document and
 * return one heap-allocated struct config with every default applied: a caller never
 * sees an unset field and never checks for zero. The config is immutable afterwards
 * and owns every string and array it points to; config_free releases all of it.
 *
 * Paths (certificates, keys, CAs, CRLs, OCSP responses, policies, state_dir,
 * access_log) are resolved relative to the directory of the configuration file and
 * stored absolute. The loader checks syntax, types, ranges and references; it does not
 * open the files it names (certgate check and the TLS code do that).
 *
 * Every error is one line: "certgate.json: $.listeners[0].tls.min_version: expected
 * \"1.2\" (the default) or \"1.3\"", or "certgate.json:3:7: <jansson text>" for a
 * syntax error. Unknown keys are errors at every level. docs/configuration.md lists every
 * key; the scalar ones (numbers, sizes, durations, booleans, choices) are the table of
 * config/config_keys.h, which gives their defaults. */
#ifndef CG_CONFIG_CONFIG_H
#define CG_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "common/err.h"
#include "common/log.h"
#include "common/str.h"

#define CONFIG_MAX_WORKERS 256

/* TLS protocol versions as BoringSSL numbers them (TLS1_2_VERSION, TLS1_3_VERSION). */
#define CONFIG_TLS_1_2 0x0303
#define CONFIG_TLS_1_3 0x0304

/* ALPN protocols a listener offers (bitmask). When a client offers both and both are
 * enabled, h2 is chosen. */
#define CONFIG_ALPN_H2 0x1     /* "h2" */
#define CONFIG_ALPN_HTTP11 0x2 /* "http/1.1" */

/* struct config_address is one numeric socket address: "127.0.0.1:8443",
 * "[::1]:8443". "*:8443" in a listener expands to two addresses, 0.0.0.0:8443 and
 * [::]:8443, both keeping the text "*:8443". IPv6 addresses are meant to be bound with
 * IPV6_V6ONLY=1, so [::]:p and 0.0.0.0:p never conflict. */
struct config_address {
    char *text;                   /* as written in the file, for logs */
    struct sockaddr_storage addr; /* AF_INET or AF_INET6, port in network order */
    socklen_t addr_len;           /* sizeof(struct sockaddr_in) or sockaddr_in6 */
};

/* struct config_certificate is one served certificate chain; a listener with several
 * picks one by SNI (the first one is the default). */
struct config_certificate {
    char *cert; /* PEM chain, leaf first; absolute path */
    char *key;  /* PEM private key; absolute path */
    char *ocsp; /* DER OCSP response to staple; absolute path or NULL */
};

/* struct config_listener_tls is the server side TLS of a listener. */
struct config_listener_tls {
    struct config_certificate *certificates; /* at least one */
    size_t num_certificates;
    int min_version;      /* CONFIG_TLS_1_2 or CONFIG_TLS_1_3 */
    char *client_ca;      /* PEM CAs that validate client certificates; NULL: no CA
                             validation (identities are then thumbprints / pins only) */
    char *crl;            /* PEM CRL(s) checked with client_ca; NULL unless client_ca */
    bool strict_sni;      /* refuse handshakes whose SNI matches no certificate
                             (false: the first certificate is served) */
    bool session_tickets; /* TLS session resumption by tickets */
};

/* struct config_proxy_protocol: accept a PROXY protocol (v1/v2) header, and only from
 * these peers. Disabled when num_from == 0. */
struct config_proxy_protocol {
    char **from; /* CIDR strings ("10.0.0.0/8", "::1/128"), checked for syntax */
    size_t num_from;
};

/* struct config_listener_requests says what a listener accepts in request heads
 * beyond the safe defaults (all false), for databases that need it. */
struct config_listener_requests {
    bool keep_underscore_headers;    /* "underscores_in_headers": "keep"; by default ("drop")
                                        a field whose name holds '_' is not forwarded (an
                                        owned header in any spelling never is) */
    bool allow_path_semicolons;      /* "path_semicolons": "allow" */
    bool allow_path_encoded_percent; /* "path_encoded_percent": "allow" */
};

struct config_upstream;

/* struct config_path sends the requests of a host entry whose normalized path starts
 * with |prefix| on a segment boundary to another upstream (docs/configuration.md,
 * "listeners[].hosts[].paths"). */
struct config_path {
    char *prefix; /* starts with '/', a normalized path, no query */
    size_t prefix_len;
    struct config_upstream *upstream; /* points into config->upstreams */
    size_t upstream_index;
};

/* struct config_host is one virtual host of a listener: the names that select it (by
 * SNI, and that Host must name), its upstream, policy, certificates and path routes. */
struct config_host {
    size_t index; /* in its listener's hosts */
    char *name;   /* names[0], the entry's name in logs and the API */
    char **names; /* at least one, lower case: host names or "*."
                     wildcards covering exactly one label */
    size_t num_names;
    struct config_upstream *upstream; /* points into config->upstreams, never NULL */
    size_t upstream_index;
    char *policy;                            /* absolute path, required */
    struct config_certificate *certificates; /* served for its names; 0 of them: the
                                                listener's are */
    size_t num_certificates;
    struct config_path *paths; /* longest prefix first */
    size_t num_paths;
};

/* struct config_host_name maps one name of a host entry to the entry. */
struct config_host_name {
    const char *name;               /* lower case; a wildcard without its leading "*." */
    const struct config_host *host; /* points into its listener's hosts */
};

/* struct config_host_names is a listener's lookup table from names to host entries:
 * exact names and wildcards apart, each sorted by name. All-zero: no hosts. */
struct config_host_names {
    struct config_host_name *exact;
    size_t num_exact;
    struct config_host_name *wildcard;
    size_t num_wildcard;
};

/* struct config_listener is one named set of addresses sharing TLS and, without
 * "hosts", one policy and upstream; with "hosts", the host entry the SNI names picks
 * them, and the listener's own ones are the default for other names. */
struct config_listener {
    char *name;                       /* unique among listeners */
    struct config_address *addresses; /* at least one; unique across all listeners */
    size_t num_addresses;
    struct config_listener_tls tls;
    unsigned alpn;                    /* CONFIG_ALPN_* bits, never 0; default both */
    char *policy;                     /* absolute path; NULL: the default authorizes
                                         nothing (every request is denied) */
    struct config_upstream *upstream; /* points into config->upstreams; NULL only when
                                         the listener has hosts and no default: then a
                                         name no host entry has is refused */
    size_t upstream_index;            /* the same, as an index (when upstream != NULL) */
    struct config_host *hosts;        /* "hosts", in file order */
    size_t num_hosts;
    struct config_host_names host_names; /* every name of |hosts| */
    struct config_proxy_protocol proxy_protocol;
    struct config_listener_requests requests;
};

/* config_host_names_find returns the host entry |name| selects in |names|: the entry
 * that lists it exactly, else the one whose wildcard covers its first label ("*.b.c"
 * covers "a.b.c", not "b.c" nor "x.a.b.c"), else NULL. |name| is compared without
 * regard to letter case; one that is not a host name (common/hostname.h: an IP literal,
 * a port, a trailing dot) selects nothing. No allocation. */
const struct config_host *config_host_names_find(const struct config_host_names *names,
                                                 struct cg_str name);

/* Protocol spoken to an upstream's servers. */
enum config_upstream_protocol {
    CONFIG_UPSTREAM_HTTP11 = 0, /* "http/1.1": HTTP/1.1, cleartext or over TLS */
    CONFIG_UPSTREAM_H2C = 1,    /* "h2c": HTTP/2 with prior knowledge, cleartext */
    CONFIG_UPSTREAM_H2 = 2,     /* "h2": HTTP/2 over TLS (ALPN h2); tls required */
};
#define CONFIG_UPSTREAM_NUM_PROTOCOLS 3

/* struct config_upstream_tls is the client side TLS towards the servers of an
 * upstream. The server certificate is always verified against |ca|. */
struct config_upstream_tls {
    bool enabled; /* "tls" was given; the other fields are meaningful only then */
    char *ca;     /* PEM CAs that validate the servers; absolute path, required */
    char *cert;   /* client certificate for mTLS to the database, or NULL */
    char *key;    /* its key; set exactly when cert is set */
    char *sni;    /* server name sent and verified; NULL: no SNI is sent and the
                     certificate must name the server's IP address */
};

/* How requests are spread over the servers of an upstream. */
enum config_upstream_balance {
    CONFIG_BALANCE_ROUND_ROBIN = 0,    /* "round_robin": each server in turn */
    CONFIG_BALANCE_LEAST_REQUESTS = 1, /* "least_requests": the fewest requests in flight
                                          (per worker), ties in turn */
};

/* struct config_upstream_host is a server given by DNS name: "db.example.com:8080".
 * Every A and AAAA record of the name is a server (control/upstream_dns.c). */
struct config_upstream_host {
    char *name;    /* a host name (common/hostname.h) */
    uint16_t port; /* 1..65535 */
    char *text;    /* as written in the file, for logs */
};

/* struct config_health_check is the active health check of an upstream's servers
 * (control/upstream_health.c). */
struct config_health_check {
    bool enabled;      /* "health_check" was given */
    char *path;        /* request target: "/" then visible ASCII */
    uint64_t interval; /* ms between the starts of two checks of a server */
    uint64_t timeout;  /* ms for connect, TLS, request and response head; <= interval */
    unsigned rise;     /* consecutive passes that bring a down server back */
    unsigned fall;     /* consecutive failures that take a server out */
    int *expect;       /* statuses that pass, at least one */
    size_t num_expect;
};

/* struct config_upstream is one named group of equivalent servers. */
struct config_upstream {
    char *name;                     /* the key in "upstreams" */
    struct config_address *servers; /* the servers given as IP literals, file order */
    size_t num_servers;
    struct config_upstream_host *hosts; /* the servers given by name; num_servers +
                                           num_hosts >= 1 */
    size_t num_hosts;
    uint64_t resolve_interval; /* ms between two resolutions of each name */
    enum config_upstream_balance balance;
    enum config_upstream_protocol protocol;
    struct config_upstream_tls tls;
    struct config_health_check health;
};

/* struct config_limits bounds memory and abuse. Defaults, ranges and the one-line
 * description of every field are in the key table (config/config_keys.c), the reasons
 * for the defaults in docs/configuration.md. */
struct config_limits {
    unsigned max_connections; /* client connections per process */
    size_t max_request_line;  /* bytes, HTTP/1.1 request line; <= max_header_bytes */
    size_t max_header_bytes;  /* bytes, whole request head incl. request line */
    unsigned max_headers;     /* header fields per request */
    uint64_t max_body;        /* bytes per request body; 0 = unlimited */
    size_t buffer_high_water; /* bytes buffered per direction per connection before
                                 reading from the other side stops */
    uint32_t h2_max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS */
    uint32_t h2_max_header_list;        /* bytes, SETTINGS_MAX_HEADER_LIST_SIZE */
    unsigned h2_max_continuations;      /* CONTINUATION frames per header block */
    uint64_t h2_reset_burst;            /* RST_STREAM token bucket size */
    uint64_t h2_reset_rate;             /* RST_STREAM tokens refilled per second */
    uint32_t h2_max_no_progress_frames; /* budget of frames that move no request forward
                                           (empty DATA, PRIORITY, PING, SETTINGS, unknown
                                           types) per connection */
    unsigned upstream_pool_max_idle;    /* idle upstream connections kept per server per
                                           worker */
};

/* struct config_timeouts, all in milliseconds; defaults in config/config_keys.c. */
struct config_timeouts {
    uint64_t tls_handshake;     /* accept to handshake done */
    uint64_t request_header;    /* first byte to complete request head (slowloris) */
    uint64_t client_body_idle;  /* longest silence inside a request body */
    uint64_t keepalive_idle;    /* HTTP/1.1 idle between requests */
    uint64_t upstream_connect;  /* TCP (+ TLS) connect to a server */
    uint64_t upstream_response; /* request sent to first response byte */
    uint64_t upstream_idle;     /* longest silence inside a response body */
    uint64_t upstream_down;     /* a server that failed to connect is skipped */
    uint64_t shutdown_delay;    /* after SIGTERM: not ready, still accepting, before the
                                   drain; 0 = drain at once */
    uint64_t drain;             /* graceful shutdown: wait for requests in flight; 0 =
                                   close at once */
    uint64_t h2_idle;           /* HTTP/2 connection without open streams */
};

/* struct config_log is the diagnostic and access log setup. */
struct config_log {
    enum cg_log_level level;   /* most verbose level printed */
    enum cg_log_format format; /* diagnostic lines as text or JSON objects */
    char *access_log;        /* absolute path; "-" means stderr; NULL: no access log
                                (the default) */
};

/* struct config_admin is the admin API listener (docs/operations.md "Admin API"). */
struct config_admin {
    bool enabled;                  /* "admin.listen" was given */
    struct config_address address; /* meaningful only when enabled */
    size_t listener_index;         /* "admin.listener": the proxy listener whose
                                      certificates the admin listener serves and whose
                                      policy it manages and authorizes against; default
                                      0 (the first listener) */
    const struct config_host *host; /* "admin.host": the host entry of that listener
                                       whose policy the admin API manages instead of
                                       the listener's own; NULL: the listener's */
};

/* struct config_status is the plain-HTTP status port: /healthz, /readyz, /metrics
 * (docs/operations.md "Status port"). */
struct config_status {
    bool enabled;                  /* "status.listen" was given */
    struct config_address address; /* meaningful only when enabled */
};

/* struct config is one loaded and validated certgate.json. */
struct config {
    char *source;      /* absolute path of the file, or the name given to
                          config_load_string */
    unsigned workers;  /* worker threads, 1..CONFIG_MAX_WORKERS, already resolved */
    bool workers_auto; /* "workers" was 0 (or absent): one per CPU in the affinity mask */
    char *state_dir;   /* absolute path, or NULL */
    struct config_log log;
    struct config_listener *listeners; /* at least one */
    size_t num_listeners;
    struct config_upstream *upstreams; /* at least one, in file order */
    size_t num_upstreams;
    struct config_address *resolvers; /* DNS servers for upstream names; none: the
                                         system's (/etc/resolv.conf) */
    size_t num_resolvers;
    struct config_admin admin;
    struct config_status status;
    struct config_limits limits;
    struct config_timeouts timeouts;
};

/* config_load_file reads and validates the configuration file |path|. On success it
 * stores a new config in |*out| (free it with config_free) and returns 0. On failure
 * it returns CG_ERR_IO (cannot read) or CG_ERR_INVALID with one line in |err|, and
 * leaves |*out| untouched. Relative paths inside are resolved against the file's
 * directory. */
int config_load_file(const char *path, struct config **out, struct cg_errbuf *err);

/* config_load_string is config_load_file for the |len| bytes at |json|. |name| is used
 * in error messages and stored as config->source; relative paths inside are resolved
 * against |base_dir| (a relative base_dir starts at the current directory; NULL: the
 * current directory). */
int config_load_string(const char *name, const char *json, size_t len, const char *base_dir,
                       struct config **out, struct cg_errbuf *err);

/* config_free releases |cfg| and everything it owns. config_free(NULL) is a no-op. */
void config_free(struct config *cfg);

/* config_find_upstream returns the upstream called |name| in |cfg|, or NULL. */
const struct config_upstream *config_find_upstream(const struct config *cfg, const char *name);

/* config_upstream_host_parse parses "host.name:port" (a host name by
 * common/hostname.h, port 1..65535) into |out|, which then owns copies of the name and
 * of |s|. Returns false, storing nothing, when |s| is not that. */
bool config_upstream_host_parse(const char *s, struct config_upstream_host *out);

/* config_upstream_protocol_str returns "http/1.1", "h2c" or "h2" (static storage). */
const char *config_upstream_protocol_str(enum config_upstream_protocol protocol);

/* config_print_summary writes a few human-readable lines about |cfg| to |out|: workers,
 * listeners with addresses and certificates, upstreams with servers, the admin API, and
 * the value of every key of the table (config/config_keys.h), limits and timeouts
 * included. Used by `certgate check`. */
void config_print_summary(const struct config *cfg, FILE *out);

#endif
