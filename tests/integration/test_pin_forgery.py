"""Regression: pin trust accepted a self-made issuer.

Attack: a registered ValidUser whose entry carries a pin (RavenDB's renewal rule: same
public key, same issuer name, same authority key identifier) builds a CA of its own with
the real CA's subject name and key identifier, and signs a new certificate for its own
pinned key with a forged subject ("CN=Cluster Admin") and SANs. The old rule compared only
those public facts, so the request passed as the attacker's entry and the forged subject
and SANs went to the database in X-Forwarded-Client-Cert and Client-Cert.

Checked here, through the real binary with python3-cryptography building the chains:
- the forged certificate is refused (403 unknown_certificate), on a fresh and on a
  resumed TLS session, never reaches the database, and gets no identity header on a
  Public route;
- a legitimate renewal (same key, re-signed by the real CA, new serial and dates) is
  still trusted by pin and forwards its own, verified identity (XFCC Hash/Subject,
  Client-Cert), also on a resumed session; an expired or not-yet-valid renewal is refused;
- a policy whose pin lacks the issuer key is refused by `certgate check` and at start
  with the JSON path, and `certgate cert upgrade-pins` repairs it.

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_pin_forgery
"""

import base64
import datetime
import hashlib
import json
import os
import socket
import ssl
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import certgate_harness as h
from certgate_harness import run_certgate


def load_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def write_pem(path, *certs):
    with open(path, "wb") as f:
        for c in certs:
            f.write(c.public_bytes(serialization.Encoding.PEM))
    return path


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def leaf_builder(subject, issuer_name, public_key, aki, start, end, sans=()):
    b = (x509.CertificateBuilder()
         .subject_name(subject)
         .issuer_name(issuer_name)
         .public_key(public_key)
         .serial_number(x509.random_serial_number())
         .not_valid_before(start)
         .not_valid_after(end)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                      key_encipherment=False, data_encipherment=False,
                                      key_agreement=False, key_cert_sign=False,
                                      crl_sign=False, encipher_only=False,
                                      decipher_only=False), critical=True)
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                        critical=False)
         .add_extension(x509.AuthorityKeyIdentifier(key_identifier=aki,
                                                    authority_cert_issuer=None,
                                                    authority_cert_serial_number=None),
                        critical=False))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return b


PKI = None
TMP = None
CG = {}  # paths and objects made once for every test


def setUpModule():
    global PKI, TMP
    TMP = h.make_tempdir("certgate-pin-forgery-")
    unittest.addModuleCleanup(h.remove_tree, TMP)
    pki_dir = os.path.join(TMP, "pki")
    os.makedirs(pki_dir)
    PKI = h.make_pki(pki_dir)

    # The real CA and the attacker's legitimate, pinned registration, both by certgate.
    cg = os.path.join(TMP, "cg")
    ca_dir = os.path.join(cg, "ca")
    run_certgate("ca", "init", "--dir", ca_dir, "--name", "Acme DB CA")
    frag = os.path.join(cg, "fragment.json")
    run_certgate("cert", "client", "--ca", ca_dir, "--name", "Mallory", "--clearance",
                 "ValidUser", "--db", "hr=ReadOnly", "--password", "pw-123456", "--out",
                 os.path.join(cg, "mallory"), "--policy", frag)
    with open(frag) as f:
        entry = json.load(f)["certificates"][0]
    CG["entry"] = entry
    key_path = os.path.join(cg, "mallory", "tls.key")
    PKI.clients["mallory"] = h.Cert("mallory", os.path.join(cg, "mallory", "tls.crt"),
                                    key_path)

    real_ca = load_cert(os.path.join(ca_dir, "ca.crt"))
    real_ca_key = load_key(os.path.join(ca_dir, "ca.key"))
    attacker_key = load_key(key_path)
    ski = real_ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    CG["real_ca"] = real_ca

    # The fake CA: the real one's subject and subject key identifier, another key.
    fake_ca_key = ec.generate_private_key(ec.SECP256R1())
    fake_ca = (x509.CertificateBuilder()
               .subject_name(real_ca.subject)
               .issuer_name(real_ca.subject)
               .public_key(fake_ca_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now() - datetime.timedelta(days=1))
               .not_valid_after(now() + datetime.timedelta(days=365))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(ski, critical=False)
               .sign(fake_ca_key, hashes.SHA256()))
    assert fake_ca.subject == real_ca.subject

    # The forgery: the attacker's pinned key, the real issuer name and key id, a subject
    # and SANs of the attacker's choosing, signed by the fake CA.
    forged_subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Cluster Admin"),
    ])
    forged = leaf_builder(forged_subject, real_ca.subject, attacker_key.public_key(),
                          ski.digest, now() - datetime.timedelta(hours=1),
                          now() + datetime.timedelta(days=30),
                          sans=[x509.DNSName("admin.internal"),
                                x509.UniformResourceIdentifier("spiffe://prod/ns/db/sa/admin")]
                          ).sign(fake_ca_key, hashes.SHA256())
    # The chain a client would send: the forged leaf and the fake CA (Cert reads one
    # PEM certificate for its thumbprints; the handshake sends the chain file).
    c = h.Cert("forged", write_pem(os.path.join(cg, "forged.crt"), forged), key_path)
    c.cert = write_pem(os.path.join(cg, "forged-chain.crt"), forged, fake_ca)
    PKI.clients["forged"] = c

    # A legitimate renewal: the same key, re-signed by the real CA, new serial and dates.
    mallory = load_cert(PKI.clients["mallory"].cert)
    renewed = leaf_builder(mallory.subject, real_ca.subject, attacker_key.public_key(),
                           ski.digest, now() - datetime.timedelta(minutes=5),
                           now() + datetime.timedelta(days=60)
                           ).sign(real_ca_key, hashes.SHA256())
    assert renewed.serial_number != mallory.serial_number
    PKI.clients["renewed"] = h.Cert("renewed", write_pem(os.path.join(cg, "renewed.crt"),
                                                         renewed), key_path)
    # Renewals outside their validity period, also signed by the real CA.
    for name, start, end in (("renewed-expired", now() - datetime.timedelta(days=60),
                              now() - datetime.timedelta(days=1)),
                             ("renewed-notyet", now() + datetime.timedelta(days=1),
                              now() + datetime.timedelta(days=60))):
        c = leaf_builder(mallory.subject, real_ca.subject, attacker_key.public_key(),
                         ski.digest, start, end).sign(real_ca_key, hashes.SHA256())
        PKI.clients[name] = h.Cert(name, write_pem(os.path.join(cg, name + ".crt"), c),
                                   key_path)


def pin_policy(entry):
    return {
        "allow_ips": ["127.0.0.1", "::1"],
        "routes": [
            {"path": "/healthz", "require": "Public"},
            {"path": "/databases/{db}/*", "require": "ReadOnly"},
            {"path": "/*", "require": "Authenticated"},
        ],
        "headers": {"xfcc": True},
        "certificates": [entry],
    }


class PinForgeryTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pki = PKI
        cls.tmp = h.make_tempdir("certgate-pin-forgery-run-")
        cls.addClassCleanup(h.remove_tree, cls.tmp)
        cls.backend = h.Backend(cls.tmp)
        cls.addClassCleanup(cls.backend.kill)
        cls.backend.start()
        cls.admin_port = h.free_port()
        cls.cg = h.start_certgate(
            cls.tmp, cls.pki, [cls.backend.port], policy=pin_policy(CG["entry"]),
            overrides={"admin": {"listen": "127.0.0.1:%d" % cls.admin_port, "listener": "db"}})
        cls.addClassCleanup(cls.cg.kill)
        cls.cg.wait_listening(cls.admin_port)
        cls.port = cls.cg.port
        cls.contexts = {}

    def request(self, client, target, session=None):
        """request sends GET target on a new connection (resuming |session| if given);
        returns (Response, the TLS session, whether it was resumed)."""
        # One context per client: a session resumes only within its context.
        ctx = self.contexts.setdefault(client, h.client_context(self.pki, client))
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
        try:
            s.settimeout(10)
            s.sendall(h.request_bytes("GET", target, "localhost:%d" % self.port))
            r = h.ResponseReader(s, 10).read()
            return r, s.session, s.session_reused
        finally:
            s.close()

    def assertForbidden(self, r, reason):
        self.assertEqual(r.status, 403, r)
        self.assertEqual(json.loads(r.body)["reason"], reason, r)

    def test_forged_issuer_is_refused(self):
        forged = self.pki.clients["forged"]
        r, sess, _ = self.request("forged", "/databases/hr/docs/forged-1")
        self.assertForbidden(r, "unknown_certificate")
        r, _, _ = self.request("forged", "/studio/forged-2")
        self.assertForbidden(r, "unknown_certificate")
        # A resumed session is authorized exactly like a fresh one.
        r, _, resumed = self.request("forged", "/databases/hr/docs/forged-3", session=sess)
        self.assertTrue(resumed, "the session was not resumed: the test proves nothing")
        self.assertForbidden(r, "unknown_certificate")
        # On a Public route the request passes as anonymous: no forged identity at all.
        r, _, _ = self.request("forged", "/healthz?forged-4")
        self.assertEqual(r.status, 200, r)
        for name in ("X-Client-Name", "X-Client-Clearance", "X-Client-Cert-Thumbprint",
                     "X-Forwarded-Client-Cert", "Client-Cert"):
            self.assertEqual(h.echoed_headers(r.json(), name), [], name)
        seen = self.backend.requests()
        self.assertEqual([t for t in seen if "forged-" in t and "forged-4" not in t], [],
                         "a forged request reached the database")
        entries = self.cg.wait_access_log(
            lambda es: [e for e in es if e.get("thumbprint") == forged.sha1 and
                        e.get("decision") == "deny"], 5.0, "denials of the forged certificate")
        self.assertTrue(all(e.get("reason") == "unknown_certificate" for e in entries
                            if e.get("thumbprint") == forged.sha1 and
                            e.get("decision") == "deny"), entries)
        self.assertFalse([e for e in self.cg.access_log()
                          if e.get("thumbprint") == forged.sha1 and e.get("cert_name")])

    def test_legitimate_renewal_is_trusted_by_pin(self):
        renewed = self.pki.clients["renewed"]
        r, sess, _ = self.request("renewed", "/databases/hr/docs/renewed-1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(h.echoed_headers(r.json(), "X-Client-Name"), ["Mallory"])
        self.assertEqual(h.echoed_headers(r.json(), "X-Client-Clearance"), ["ValidUser"])
        self.assertEqual(h.echoed_headers(r.json(), "X-Client-Cert-Thumbprint"), [renewed.sha1])
        # The identity forwarded is the renewed certificate's own, which certgate
        # verified: its hash and subject, and its DER in Client-Cert.
        xfcc = h.echoed_headers(r.json(), "X-Forwarded-Client-Cert")
        self.assertEqual(len(xfcc), 1, xfcc)
        self.assertIn("Hash=%s" % renewed.sha256.lower(), xfcc[0])
        self.assertIn('Subject="CN=Mallory"', xfcc[0])
        self.assertEqual(h.echoed_headers(r.json(), "Client-Cert"),
                         [":%s:" % base64.b64encode(renewed.der).decode()])
        # Resumed: the same.
        r, _, resumed = self.request("renewed", "/databases/hr/docs/renewed-2", session=sess)
        self.assertTrue(resumed, "the session was not resumed: the test proves nothing")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(h.echoed_headers(r.json(), "X-Client-Name"), ["Mallory"])
        entries = self.cg.wait_access_log(
            lambda es: [e for e in es if e.get("thumbprint") == renewed.sha1 and
                        e.get("decision") == "allow"], 5.0, "the renewed certificate allowed")
        mine = [e for e in entries if e.get("thumbprint") == renewed.sha1 and
                e.get("decision") == "allow" and e.get("type") != "admin"]
        self.assertEqual({e.get("matched_by") for e in mine}, {"pin"}, mine)
        self.assertEqual({e.get("cert_name") for e in mine}, {"Mallory"}, mine)
        # The entry's own clearance still applies.
        r, _, _ = self.request("renewed", "/databases/payroll/docs/renewed-3")
        self.assertForbidden(r, "database_not_allowed")

    def admin_reason(self, client):
        s = h.tls_connect(self.admin_port, h.client_context(self.pki, client))
        try:
            s.sendall(h.request_bytes("GET", "/admin/certificates",
                                      "localhost:%d" % self.admin_port))
            r = h.ResponseReader(s, 10).read()
        finally:
            s.close()
        self.assertEqual(r.status, 403, r)
        return json.loads(r.body)["reason"]

    def test_admin_api_identifies_by_verified_pins_only(self):
        # The admin API identifies callers through the same registry: the forged
        # certificate is unknown there too, the renewal is the ValidUser it is (and so
        # not allowed in: the API needs Operator).
        self.assertEqual(self.admin_reason("forged"), "unknown_certificate")
        self.assertEqual(self.admin_reason("renewed"), "insufficient_clearance")

    def test_renewal_outside_its_validity_is_refused(self):
        r, _, _ = self.request("renewed-expired", "/databases/hr/docs/expired-1")
        self.assertForbidden(r, "certificate_expired")
        r, _, _ = self.request("renewed-notyet", "/databases/hr/docs/notyet-1")
        self.assertForbidden(r, "certificate_not_yet_valid")
        seen = self.backend.requests()
        self.assertEqual([t for t in seen if "expired-1" in t or "notyet-1" in t], [])


class PinWrittenTest(unittest.TestCase):

    def test_cert_client_pins_the_issuer_key(self):
        """`certgate cert client --policy` writes the CA's public key with the pin."""
        pins = CG["entry"]["pins"]
        self.assertEqual(len(pins), 1, pins)
        want = base64.b64encode(CG["real_ca"].public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
        self.assertEqual(pins[0].get("issuer_spki"), want)


class LegacyPinTest(unittest.TestCase):
    """A pin without the issuer key (as certgate wrote them before) never grants access:
    the policy is refused with the JSON path, and upgrade-pins adds the key."""

    def test_check_refuses_and_upgrade_pins_repairs(self):
        tmp = h.make_tempdir("certgate-legacy-pin-")
        self.addCleanup(h.remove_tree, tmp)
        entry = json.loads(json.dumps(CG["entry"]))
        entry["pins"][0].pop("issuer_spki", None)
        policy = pin_policy(entry)
        policy["certificates"].insert(0, {"name": "admin", "clearance": "ClusterAdmin",
                                          "thumbprints": [PKI.clients["admin"].sha1]})
        port = h.free_port()
        cfg = h.write_config(tmp, PKI, port, [h.free_port()], policy=policy)
        policy_path = os.path.join(tmp, "policy.json")
        p = run_certgate("check", "-c", cfg, ok=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn('$.certificates[1].pins[0]: missing "issuer_spki"', p.stderr)
        # Wrong CA: refused, nothing written.
        with open(policy_path, "rb") as f:
            before = f.read()
        other = os.path.join(tmp, "other-ca")
        run_certgate("ca", "init", "--dir", other, "--name", "Acme DB CA")
        p = run_certgate("cert", "upgrade-pins", "--policy", policy_path, "--ca", other,
                         ok=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("$.certificates[1].pins[0]: no given CA certificate is its issuer",
                      p.stderr)
        with open(policy_path, "rb") as f:
            self.assertEqual(f.read(), before)
        # The real CA (its certificate only): upgraded, and the policy loads again.
        ca_crt = write_pem(os.path.join(tmp, "real-ca.crt"), CG["real_ca"])
        p = run_certgate("cert", "upgrade-pins", "--policy", policy_path, "--ca", ca_crt)
        self.assertIn("1 pin upgraded", p.stdout)
        with open(policy_path) as f:
            upgraded = json.load(f)
        want = base64.b64encode(CG["real_ca"].public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
        self.assertEqual(upgraded["certificates"][1]["pins"][0]["issuer_spki"], want)
        run_certgate("check", "-c", cfg)


if __name__ == "__main__":
    unittest.main()
