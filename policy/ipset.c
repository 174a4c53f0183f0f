#include "policy/ipset.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void push4(struct ipset *set, uint32_t lo, uint32_t hi)
{
    if (set->num_v4 == set->cap_v4) {
        set->cap_v4 = set->cap_v4 ? set->cap_v4 * 2 : 8;
        set->v4 = cg_xrealloc(set->v4, set->cap_v4 * sizeof(*set->v4));
    }
    set->v4[set->num_v4++] = (struct ipset_range4){lo, hi};
}

static void push6(struct ipset *set, struct ipset_u128 lo, struct ipset_u128 hi)
{
    if (set->num_v6 == set->cap_v6) {
        set->cap_v6 = set->cap_v6 ? set->cap_v6 * 2 : 8;
        set->v6 = cg_xrealloc(set->v6, set->cap_v6 * sizeof(*set->v6));
    }
    set->v6[set->num_v6++] = (struct ipset_range6){lo, hi};
}

static struct ipset_u128 u128_from_bytes(const uint8_t b[16])
{
    struct ipset_u128 v = {0, 0};
    for (int i = 0; i < 8; i++) {
        v.hi = (v.hi << 8) | b[i];
        v.lo = (v.lo << 8) | b[8 + i];
    }
    return v;
}

static int u128_cmp(struct ipset_u128 a, struct ipset_u128 b)
{
    if (a.hi != b.hi) {
        return a.hi < b.hi ? -1 : 1;
    }
    if (a.lo != b.lo) {
        return a.lo < b.lo ? -1 : 1;
    }
    return 0;
}

/* host_mask6 returns the mask of the bits past |prefix| (the host part). */
static struct ipset_u128 host_mask6(unsigned prefix)
{
    struct ipset_u128 m;
    if (prefix == 0) {
        m.hi = UINT64_MAX;
        m.lo = UINT64_MAX;
    } else if (prefix < 64) {
        m.hi = UINT64_MAX >> prefix;
        m.lo = UINT64_MAX;
    } else if (prefix < 128) {
        m.hi = 0;
        m.lo = prefix == 64 ? UINT64_MAX : UINT64_MAX >> (prefix - 64);
    } else {
        m.hi = 0;
        m.lo = 0;
    }
    return m;
}

static uint32_t host_mask4(unsigned prefix)
{
    return prefix == 0 ? UINT32_MAX : (prefix >= 32 ? 0 : UINT32_MAX >> prefix);
}

/* parse_prefix reads a prefix length of at most |max| (no sign, no leading zero). */
static bool parse_prefix(const char *s, unsigned max, unsigned *out)
{
    if (*s == '\0' || (s[0] == '0' && s[1] != '\0')) {
        return false;
    }
    unsigned v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') {
            return false;
        }
        v = v * 10 + (unsigned)(*s - '0');
        if (v > max) {
            return false;
        }
    }
    *out = v;
    return true;
}

int ipset_check(const char *text, struct cg_errbuf *err)
{
    struct ipset scratch = {0};
    int rc = ipset_add(&scratch, text, err);
    ipset_cleanup(&scratch);
    return rc;
}

int ipset_add(struct ipset *set, const char *text, struct cg_errbuf *err)
{
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(text, '/');
    size_t addr_len = slash ? (size_t)(slash - text) : strlen(text);
    if (addr_len == 0 || addr_len >= sizeof(addr)) {
        return cg_errf(err, CG_ERR_INVALID, "\"%s\" is not an IP address or CIDR block", text);
    }
    memcpy(addr, text, addr_len);
    addr[addr_len] = '\0';

    uint8_t b[16];
    if (inet_pton(AF_INET, addr, b) == 1) {
        unsigned prefix = 32;
        if (slash && !parse_prefix(slash + 1, 32, &prefix)) {
            return cg_errf(err, CG_ERR_INVALID, "\"%s\": the IPv4 prefix length must be 0 to 32",
                           text);
        }
        uint32_t a = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
        uint32_t m = host_mask4(prefix);
        if (a & m) {
            return cg_errf(err, CG_ERR_INVALID, "\"%s\" has bits set past the /%u prefix", text,
                           prefix);
        }
        push4(set, a, a | m);
        return CG_OK;
    }
    if (inet_pton(AF_INET6, addr, b) == 1) {
        unsigned prefix = 128;
        if (slash && !parse_prefix(slash + 1, 128, &prefix)) {
            return cg_errf(err, CG_ERR_INVALID, "\"%s\": the IPv6 prefix length must be 0 to 128",
                           text);
        }
        struct ipset_u128 a = u128_from_bytes(b);
        struct ipset_u128 m = host_mask6(prefix);
        if ((a.hi & m.hi) || (a.lo & m.lo)) {
            return cg_errf(err, CG_ERR_INVALID, "\"%s\" has bits set past the /%u prefix", text,
                           prefix);
        }
        if (prefix >= 96 && memcmp(b, v4_mapped_prefix, 12) == 0) {
            /* ::ffff:a.b.c.d/n is the IPv4 block a.b.c.d/(n-96): peers are matched as
             * IPv4, so store it there. */
            uint32_t a4 = (uint32_t)a.lo;
            push4(set, a4, a4 | host_mask4(prefix - 96));
            return CG_OK;
        }
        struct ipset_u128 hi = {a.hi | m.hi, a.lo | m.lo};
        push6(set, a, hi);
        return CG_OK;
    }
    return cg_errf(err, CG_ERR_INVALID, "\"%s\" is not an IP address or CIDR block", text);
}

static int cmp4(const void *pa, const void *pb)
{
    const struct ipset_range4 *a = pa, *b = pb;
    if (a->lo != b->lo) {
        return a->lo < b->lo ? -1 : 1;
    }
    return (a->hi > b->hi) - (a->hi < b->hi);
}

static int cmp6(const void *pa, const void *pb)
{
    const struct ipset_range6 *a = pa, *b = pb;
    int c = u128_cmp(a->lo, b->lo);
    return c ? c : u128_cmp(a->hi, b->hi);
}

static bool u128_is_max(struct ipset_u128 v)
{
    return v.hi == UINT64_MAX && v.lo == UINT64_MAX;
}

static struct ipset_u128 u128_inc(struct ipset_u128 v)
{
    v.lo++;
    if (v.lo == 0) {
        v.hi++;
    }
    return v;
}

void ipset_finish(struct ipset *set)
{
    if (set->num_v4 > 1) {
        qsort(set->v4, set->num_v4, sizeof(*set->v4), cmp4);
        size_t n = 0;
        for (size_t i = 1; i < set->num_v4; i++) {
            struct ipset_range4 *cur = &set->v4[n];
            /* Merge overlapping and adjacent ranges (hi + 1 == next lo). */
            if (cur->hi == UINT32_MAX || set->v4[i].lo <= cur->hi + 1) {
                if (set->v4[i].hi > cur->hi) {
                    cur->hi = set->v4[i].hi;
                }
            } else {
                set->v4[++n] = set->v4[i];
            }
        }
        set->num_v4 = n + 1;
    }
    if (set->num_v6 > 1) {
        qsort(set->v6, set->num_v6, sizeof(*set->v6), cmp6);
        size_t n = 0;
        for (size_t i = 1; i < set->num_v6; i++) {
            struct ipset_range6 *cur = &set->v6[n];
            if (u128_is_max(cur->hi) || u128_cmp(set->v6[i].lo, u128_inc(cur->hi)) <= 0) {
                if (u128_cmp(set->v6[i].hi, cur->hi) > 0) {
                    cur->hi = set->v6[i].hi;
                }
            } else {
                set->v6[++n] = set->v6[i];
            }
        }
        set->num_v6 = n + 1;
    }
}

bool ipset_contains_v4(const struct ipset *set, uint32_t addr)
{
    /* Find the last range whose lo <= addr. */
    size_t lo = 0, hi = set->num_v4;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (set->v4[mid].lo <= addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo > 0 && addr <= set->v4[lo - 1].hi;
}

bool ipset_contains_v6(const struct ipset *set, const uint8_t addr[16])
{
    if (memcmp(addr, v4_mapped_prefix, 12) == 0) {
        uint32_t a = ((uint32_t)addr[12] << 24) | ((uint32_t)addr[13] << 16) |
                     ((uint32_t)addr[14] << 8) | addr[15];
        return ipset_contains_v4(set, a);
    }
    struct ipset_u128 a = u128_from_bytes(addr);
    size_t lo = 0, hi = set->num_v6;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (u128_cmp(set->v6[mid].lo, a) <= 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo > 0 && u128_cmp(a, set->v6[lo - 1].hi) <= 0;
}

bool ipset_contains(const struct ipset *set, const struct sockaddr *sa)
{
    if (sa == NULL) {
        return false;
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
        return ipset_contains_v4(set, ntohl(sin->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
        return ipset_contains_v6(set, sin6->sin6_addr.s6_addr);
    }
    return false;
}

bool ipset_is_empty(const struct ipset *set)
{
    return set->num_v4 == 0 && set->num_v6 == 0;
}

void ipset_cleanup(struct ipset *set)
{
    free(set->v4);
    free(set->v6);
    memset(set, 0, sizeof(*set));
}
