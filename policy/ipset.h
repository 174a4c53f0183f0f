/* IP address sets: IPv4 and IPv6 CIDR blocks, looked up by binary search over sorted,
 * merged, disjoint ranges (O(log n), no allocation, safe for concurrent readers once
 * finished).
 *
 * An IPv4-mapped IPv6 address (::ffff:a.b.c.d), as a dual-stack socket reports IPv4
 * peers, is looked up among the IPv4 blocks; a block written inside ::ffff:0:0/96 is
 * stored as the IPv4 block it denotes. */
#ifndef CG_POLICY_IPSET_H
#define CG_POLICY_IPSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/err.h"

struct ipset_range4 {
    uint32_t lo, hi; /* inclusive, host byte order */
};

struct ipset_u128 {
    uint64_t hi, lo; /* the address as a 128-bit big-endian number */
};

struct ipset_range6 {
    struct ipset_u128 lo, hi; /* inclusive */
};

/* struct ipset is a set of addresses. All-zero is the empty set. Build it with
 * ipset_add, then call ipset_finish once; after that it is read-only. */
struct ipset {
    struct ipset_range4 *v4; /* sorted by lo, disjoint and non-adjacent once finished */
    size_t num_v4, cap_v4;
    struct ipset_range6 *v6;
    size_t num_v6, cap_v6;
};

/* ipset_add adds "address" or "address/prefix" (IPv4 dotted quad or IPv6 text; a bare
 * address is a /32 or /128). A prefix with bits set past its length ("10.0.0.1/8") is
 * refused as a probable typo. Returns 0 or CG_ERR_INVALID with a message naming the
 * text. */
int ipset_add(struct ipset *set, const char *text, struct cg_errbuf *err);

/* ipset_check accepts exactly what ipset_add accepts, without a set: the one CIDR rule
 * for every address list certgate reads (the policy's allow_ips, a listener's
 * proxy_protocol.from, `certgate cert edit --allow-ips`). Returns 0 or CG_ERR_INVALID
 * with ipset_add's message. */
int ipset_check(const char *text, struct cg_errbuf *err);

/* ipset_finish sorts and merges the blocks added so far (overlapping and adjacent
 * blocks become one range). Must be called before the lookups below. */
void ipset_finish(struct ipset *set);

/* ipset_contains reports whether the address of |sa| (AF_INET or AF_INET6; any other
 * family or NULL is not contained) is in |set|. */
bool ipset_contains(const struct ipset *set, const struct sockaddr *sa);

/* ipset_contains_v4 looks up an IPv4 address given in host byte order. */
bool ipset_contains_v4(const struct ipset *set, uint32_t addr);

/* ipset_contains_v6 looks up a 16-byte IPv6 address (network order); IPv4-mapped
 * addresses are looked up as IPv4. */
bool ipset_contains_v6(const struct ipset *set, const uint8_t addr[16]);

/* ipset_is_empty reports whether |set| holds no address at all. */
bool ipset_is_empty(const struct ipset *set);

/* ipset_cleanup frees the ranges and zeroes |set|. */
void ipset_cleanup(struct ipset *set);

#endif
