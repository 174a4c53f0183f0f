/* Issuing certificates from a private CA: the CA itself, server certificates and client
 * certificates. Keys are EC P-256, signatures ECDSA with SHA-256, serials 128 random
 * bits, notBefore five minutes in the past to absorb clock skew. */
#ifndef CG_PKI_ISSUE_H
#define CG_PKI_ISSUE_H

#include <stddef.h>

#include "common/err.h"
#include "pki/identity.h"

#define PKI_MAX_DAYS 36500u     /* longest validity accepted, in days */
#define PKI_MAX_CN_LEN 64       /* RFC 5280 ub-common-name */
#define PKI_MAX_SANS 32         /* subjectAltName entries per server certificate */

/* pki_san_check accepts an IPv4 address, an IPv6 address (optionally in brackets) or a
 * DNS host name (RFC 1123 labels of letters, digits and '-', optionally starting with
 * "*.", the last label not all digits) and fails with CG_ERR_INVALID naming |san|
 * otherwise; digits and dots that are not a valid IPv4 address ("10.0.0.300") get a
 * message saying so. */
int pki_san_check(const char *san, struct cg_errbuf *err);

/* pki_name_check accepts a subject common name: 1..64 bytes of printable UTF-8
 * without control characters. */
int pki_name_check(const char *name, struct cg_errbuf *err);

/* pki_ca_create makes a self-signed CA in |out| (empty before): subject CN=|common_name|,
 * valid |days| (1..PKI_MAX_DAYS), basicConstraints CA:TRUE and keyUsage keyCertSign,
 * cRLSign (both critical), subject and authority key identifiers. */
int pki_ca_create(const char *common_name, unsigned days, struct pki_identity *out,
                  struct cg_errbuf *err);

/* pki_issue_server signs a server certificate with |ca|: subject CN=|common_name|,
 * subjectAltName from |sans| (1..PKI_MAX_SANS entries, see pki_san_check), EKU
 * serverAuth, keyUsage digitalSignature, basicConstraints CA:FALSE, SKI and AKI (the
 * CA's SKI). Validity is |days|, cut at the CA's own expiry. A fresh key is generated.
 * Fails if the CA has no subject key identifier. */
int pki_issue_server(const struct pki_identity *ca, const char *common_name,
                     const char *const *sans, size_t num_sans, unsigned days,
                     struct pki_identity *out, struct cg_errbuf *err);

/* pki_issue_client is pki_issue_server for a client certificate: subject CN=|name|, no
 * subjectAltName, EKU clientAuth. Its AKI equals the CA's SKI, which the policy's pin
 * rule compares. */
int pki_issue_client(const struct pki_identity *ca, const char *name, unsigned days,
                     struct pki_identity *out, struct cg_errbuf *err);

#endif
