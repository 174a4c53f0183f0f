/* The fixture of the policy_decide tests: a policy with one entry per clearance and
 * kind of match (thumbprint, pin, identity, address list, expiry), synthetic
 * certificates for them, and run(), which decides one request and checks the
 * invariants of every decision. */
#ifndef CG_TESTS_UNIT_POLICY_DECIDE_FIXTURE_H
#define CG_TESTS_UNIT_POLICY_DECIDE_FIXTURE_H

#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>

#include "policy/policy.h"

#define NOW 1800000000 /* 2027-01-15T08:00:00Z */

/* The synthetic certificates of the policy below (fake_cert tags in decide_fixture.c). */
enum cert_id { NO_CERT, ADMIN, OP, USER, PINNED, RESTRICTED, EXPIRING, SPIFFE, CATALOG, STRANGER };

/* pol is the fixture's policy (setup loads it, teardown drops it); certs[id] are the
 * certificates of enum cert_id. */
extern struct policy *pol;
extern struct policy_cert_facts certs[STRANGER + 1];

/* setup loads pol (with a client CA) and makes certs; teardown releases pol. For
 * tcase_add_checked_fixture. */
void setup(void);
void teardown(void);

/* load loads |json| as a policy with |opts| (NULL: none), failing the test when it does
 * not load; the caller owns the reference. */
struct policy *load(const char *json, const struct policy_load_opts *opts);

/* peer_of returns the socket address of the IPv4 or IPv6 literal |text|. */
struct sockaddr_storage peer_of(const char *text);

/* struct call is one request for run(): unset fields take the defaults noted. */
struct call {
    const struct policy *p;
    enum cert_id cert;
    const char *peer;   /* default 10.0.0.1 */
    const char *method; /* default GET */
    const char *target;
    const char *sni;
    const char *authority;
    time_t now; /* default NOW */
    bool chain_validated;
    bool chain_required;
    bool misdirected;
    struct policy_path_opts path_opts; /* default: strict */
};

/* run decides |c| with policy_decide (pol unless c.p) and checks the invariants every
 * decision holds (allow agrees with the reason, a status for every refusal). */
struct policy_decision run(struct call c);

#define R(x) POLICY_REASON_##x

#endif
