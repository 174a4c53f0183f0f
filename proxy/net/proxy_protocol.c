#include "proxy/net/proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

#define V1_MAX 107

/* parse_port reads a decimal port 0..65535 without leading zeros or signs. */
static bool parse_port(const char *s, size_t len, uint16_t *out)
{
    if (len == 0 || len > 5 || (len > 1 && s[0] == '0')) {
        return false;
    }
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535) {
        return false;
    }
    *out = (uint16_t)v;
    return true;
}

static int parse_v1(const unsigned char *buf, size_t len, struct pp_header *out)
{
    const unsigned char *end = memchr(buf, '\n', len < V1_MAX ? len : V1_MAX);
    if (end == NULL) {
        return len >= V1_MAX ? PP_ERROR : PP_INCOMPLETE;
    }
    size_t line_len = (size_t)(end - buf) + 1;
    if (line_len < 8 || buf[line_len - 2] != '\r') {
        return PP_ERROR;
    }
    char line[V1_MAX + 1];
    memcpy(line, buf, line_len - 2);
    line[line_len - 2] = '\0';
    /* "PROXY" SP proto SP src SP dst SP sport SP dport, single spaces. */
    char *fields[6];
    size_t n = 0;
    char *p = line;
    for (;;) {
        char *sp = strchr(p, ' ');
        if (n == 6) {
            return PP_ERROR;
        }
        fields[n++] = p;
        if (sp == NULL) {
            break;
        }
        *sp = '\0';
        p = sp + 1;
    }
    if (strcmp(fields[0], "PROXY") != 0) {
        return PP_ERROR;
    }
    if (n >= 2 && strcmp(fields[1], "UNKNOWN") == 0) {
        out->has_address = false;
        return (int)line_len;
    }
    if (n != 6) {
        return PP_ERROR;
    }
    uint16_t sport, dport;
    if (!parse_port(fields[4], strlen(fields[4]), &sport) ||
        !parse_port(fields[5], strlen(fields[5]), &dport)) {
        return PP_ERROR;
    }
    memset(&out->src, 0, sizeof(out->src));
    if (strcmp(fields[1], "TCP4") == 0) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&out->src;
        struct in_addr dst;
        if (inet_pton(AF_INET, fields[2], &sin->sin_addr) != 1 ||
            inet_pton(AF_INET, fields[3], &dst) != 1) {
            return PP_ERROR;
        }
        sin->sin_family = AF_INET;
        sin->sin_port = htons(sport);
        out->src_len = sizeof(*sin);
    } else if (strcmp(fields[1], "TCP6") == 0) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->src;
        struct in6_addr dst;
        if (inet_pton(AF_INET6, fields[2], &sin6->sin6_addr) != 1 ||
            inet_pton(AF_INET6, fields[3], &dst) != 1) {
            return PP_ERROR;
        }
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(sport);
        out->src_len = sizeof(*sin6);
    } else {
        return PP_ERROR;
    }
    out->has_address = true;
    return (int)line_len;
}

static int parse_v2(const unsigned char *buf, size_t len, struct pp_header *out)
{
    if (len < 16) {
        return PP_INCOMPLETE;
    }
    unsigned ver = buf[12] >> 4, cmd = buf[12] & 0x0f;
    unsigned fam = buf[13];
    size_t body = ((size_t)buf[14] << 8) | buf[15];
    if (ver != 2 || cmd > 1 || 16 + body > PP_MAX_HEADER) {
        return PP_ERROR;
    }
    if (len < 16 + body) {
        return PP_INCOMPLETE;
    }
    const unsigned char *a = buf + 16;
    out->has_address = false;
    memset(&out->src, 0, sizeof(out->src));
    if (cmd == 0) {
        return (int)(16 + body); /* LOCAL: health check from the balancer itself */
    }
    switch (fam) {
    case 0x11: { /* TCP over IPv4 */
        if (body < 12) {
            return PP_ERROR;
        }
        struct sockaddr_in *sin = (struct sockaddr_in *)&out->src;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, a, 4);
        memcpy(&sin->sin_port, a + 8, 2);
        out->src_len = sizeof(*sin);
        out->has_address = true;
        break;
    }
    case 0x21: { /* TCP over IPv6 */
        if (body < 36) {
            return PP_ERROR;
        }
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->src;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, a, 16);
        memcpy(&sin6->sin6_port, a + 32, 2);
        out->src_len = sizeof(*sin6);
        out->has_address = true;
        break;
    }
    case 0x00: /* UNSPEC */
        break;
    default:
        return PP_ERROR; /* UDP or unix sockets make no sense in front of TLS */
    }
    return (int)(16 + body);
}

int pp_parse(const unsigned char *buf, size_t len, struct pp_header *out)
{
    if (len == 0) {
        return PP_INCOMPLETE;
    }
    /* Decide the version from the bytes seen so far; refuse early on a mismatch. */
    size_t n = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
    if (memcmp(buf, v2_sig, n) == 0) {
        return n < sizeof(v2_sig) ? PP_INCOMPLETE : parse_v2(buf, len, out);
    }
    static const char v1_prefix[] = "PROXY ";
    n = len < sizeof(v1_prefix) - 1 ? len : sizeof(v1_prefix) - 1;
    if (memcmp(buf, v1_prefix, n) != 0) {
        return PP_ERROR;
    }
    return parse_v1(buf, len, out);
}
