/* Numeric socket addresses as certgate.json writes them (CIDR blocks are checked by
 * policy/ipset). */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/sockaddr.h"
#include "config/config_internal.h"

static bool parse_port(const char *s, uint16_t *out)
{
    unsigned long n = 0;
    if (*s == '\0' || strlen(s) > 5) {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (!isdigit((unsigned char)*s)) {
            return false;
        }
        n = n * 10 + (unsigned long)(*s - '0');
    }
    if (n == 0 || n > 65535) {
        return false;
    }
    *out = (uint16_t)n;
    return true;
}

static void set_sockaddr(struct config_address *a, int family, const void *ip, uint16_t port)
{
    memset(&a->addr, 0, sizeof(a->addr));
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&a->addr;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        memcpy(&sin->sin_addr, ip, sizeof(sin->sin_addr));
        a->addr_len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->addr;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        memcpy(&sin6->sin6_addr, ip, sizeof(sin6->sin6_addr));
        a->addr_len = sizeof(*sin6);
    }
}

size_t config_address_parse(const char *s, bool wildcard, struct config_address *out)
{
    const char *colon = strrchr(s, ':');
    uint16_t port;
    if (colon == NULL || !parse_port(colon + 1, &port)) {
        return 0;
    }
    size_t host_len = (size_t)(colon - s);
    char host[INET6_ADDRSTRLEN + 2];
    if (host_len + 1 > sizeof(host)) {
        return 0;
    }
    memcpy(host, s, host_len);
    host[host_len] = '\0';

    if (wildcard && strcmp(host, "*") == 0) {
        struct in_addr any4 = {.s_addr = htonl(INADDR_ANY)};
        set_sockaddr(&out[0], AF_INET, &any4, port);
        set_sockaddr(&out[1], AF_INET6, &in6addr_any, port);
        out[0].text = cg_xstrdup(s);
        out[1].text = cg_xstrdup(s);
        return 2;
    }
    if (host[0] == '[') {
        struct in6_addr a6;
        if (host_len < 3 || host[host_len - 1] != ']') {
            return 0;
        }
        host[host_len - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &a6) != 1) {
            return 0;
        }
        set_sockaddr(&out[0], AF_INET6, &a6, port);
    } else {
        struct in_addr a4;
        if (inet_pton(AF_INET, host, &a4) != 1) {
            return 0;
        }
        set_sockaddr(&out[0], AF_INET, &a4, port);
    }
    out[0].text = cg_xstrdup(s);
    return 1;
}

bool config_address_is_unspecified(const struct config_address *a)
{
    if (a->addr.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->addr;
        return sin->sin_addr.s_addr == htonl(INADDR_ANY);
    }
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->addr;
    return IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
}

/* overlaps reports whether binding both |a| and |b| would take the same connections:
 * same family and port, and the same address or either one a wildcard (with
 * SO_REUSEPORT the kernel would accept both binds and split traffic silently). */
static bool overlaps(const struct config_address *a, const struct config_address *b)
{
    if (a->addr.ss_family != b->addr.ss_family ||
        cg_sockaddr_port((const struct sockaddr *)&a->addr) !=
            cg_sockaddr_port((const struct sockaddr *)&b->addr)) {
        return false;
    }
    if (config_address_is_unspecified(a) || config_address_is_unspecified(b)) {
        return true;
    }
    if (a->addr.ss_family == AF_INET) {
        return ((const struct sockaddr_in *)&a->addr)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)&b->addr)->sin_addr.s_addr;
    }
    return memcmp(&((const struct sockaddr_in6 *)&a->addr)->sin6_addr,
                  &((const struct sockaddr_in6 *)&b->addr)->sin6_addr,
                  sizeof(struct in6_addr)) == 0;
}

int config_address_check_overlap(struct config_loader *ld, const char *path,
                                 const struct config_address *a)
{
    const struct config *cfg = ld->cfg;
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        const struct config_listener *l = &cfg->listeners[i];
        for (size_t j = 0; j < l->num_addresses; j++) {
            if (overlaps(a, &l->addresses[j])) {
                return cg_json_fail(&ld->ctx, path,
                                    "address \"%s\" overlaps \"%s\" of listener \"%s\"", a->text,
                                    l->addresses[j].text, l->name ? l->name : "");
            }
        }
    }
    return CG_OK;
}

void config_address_cleanup(struct config_address *a)
{
    free(a->text);
    a->text = NULL;
}
