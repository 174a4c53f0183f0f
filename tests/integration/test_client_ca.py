"""A listener with a client CA and a CRL (docs/policy.md), and OCSP stapling (§9).

With tls.client_ca every certificate's chain must validate, also for certificates
registered by thumbprint: one from another CA is refused (untrusted_chain), as is a
certificate revoked in the CRL. Identity matchers (subject CN here) work only on such a
listener. The served certificate's OCSP response file is stapled (openssl s_client
-status).
Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_client_ca
"""

import json
import os
import subprocess
import unittest

import certgate_harness as h


class ClientCATest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = h.make_tempdir()
        cls.addClassCleanup(h.remove_tree, cls.tmp)
        d = os.path.join(cls.tmp, "pki")
        os.makedirs(d)
        cls.pki = h.make_pki(d)
        other = os.path.join(cls.tmp, "other-pki")
        os.makedirs(other)
        cls.other = h.make_pki(other)
        cnf = os.path.join(d, "ca.cnf")
        ca = cls.pki.ca
        # Revoke "reader" and publish a CRL.
        h._openssl("ca", "-config", cnf, "-cert", ca.cert, "-keyfile", ca.key,
                   "-revoke", cls.pki.clients["reader"].cert)
        cls.crl = os.path.join(d, "crl.pem")
        h._openssl("ca", "-config", cnf, "-cert", ca.cert, "-keyfile", ca.key, "-gencrl",
                   "-crldays", "30", "-out", cls.crl)
        # An OCSP response for the served certificate, signed by the CA.
        req, cls.ocsp = os.path.join(d, "ocsp.req"), os.path.join(d, "ocsp.der")
        h._openssl("ocsp", "-issuer", ca.cert, "-cert", cls.pki.server.cert, "-no_nonce",
                   "-reqout", req)
        h._openssl("ocsp", "-index", os.path.join(d, "index.txt"), "-rsigner", ca.cert,
                   "-rkey", ca.key, "-CA", ca.cert, "-reqin", req, "-respout", cls.ocsp,
                   "-ndays", "1")
        c = cls.pki.clients
        policy = {
            "allow_ips": ["127.0.0.1", "::1"],
            "routes": [{"path": "/databases/{db}/*", "require": "ReadOnly"},
                       {"path": "/*", "require": "Authenticated"}],
            "certificates": [
                {"name": "admin", "thumbprints": [c["admin"].sha1], "clearance": "ClusterAdmin"},
                {"name": "reader", "thumbprints": [c["reader"].sha1],
                 "clearance": "ClusterAdmin"},
                {"name": "foreign", "thumbprints": [cls.other.clients["admin"].sha1],
                 "clearance": "ClusterAdmin"},
                {"name": "by-cn", "match": {"subject_cn": "unknown"}, "clearance": "ValidUser",
                 "databases": {"hr": "ReadOnly"}},
            ],
        }
        cls.backend = h.Backend(cls.tmp)
        cls.addClassCleanup(cls.backend.kill)
        cls.backend.start()
        cls.cg = h.start_certgate(
            cls.tmp, cls.pki, [cls.backend.port], policy=policy,
            tls={"client_ca": ca.cert, "crl": cls.crl,
                 "certificates": [{"cert": cls.pki.server.cert, "key": cls.pki.server.key,
                                   "ocsp": cls.ocsp}]})
        cls.addClassCleanup(cls.cg.kill)
        cls.port = cls.cg.port

    def get(self, cert, path="/databases/hr/x"):
        r = subprocess.run(["curl", "-sS", "--cacert", self.pki.ca.cert, "--cert", cert.cert,
                            "--key", cert.key, "-w", "\n%{http_code}",
                            "https://localhost:%d%s" % (self.port, path)],
                           capture_output=True, timeout=20)
        body, _, code = r.stdout.decode().rpartition("\n")
        return int(code or 0), body

    def test_chain_from_client_ca_allowed(self):
        code, body = self.get(self.pki.clients["admin"])
        self.assertEqual(code, 200, body)

    def test_registered_thumbprint_from_other_ca_refused(self):
        code, body = self.get(self.other.clients["admin"], "/databases/hr/foreign")
        self.assertEqual(code, 403, body)
        self.assertEqual(json.loads(body)["reason"], "untrusted_chain")
        self.assertNotIn("/databases/hr/foreign", self.backend.requests())

    def test_revoked_certificate_refused(self):
        code, body = self.get(self.pki.clients["reader"], "/databases/hr/revoked")
        self.assertEqual(code, 403, body)
        self.assertEqual(json.loads(body)["reason"], "untrusted_chain")
        self.assertNotIn("/databases/hr/revoked", self.backend.requests())

    def test_identity_matcher_on_validated_chain(self):
        code, body = self.get(self.pki.clients["unknown"])
        self.assertEqual(code, 200, body)
        hdrs = {k.lower(): v for k, v in json.loads(body)["headers"]}
        self.assertEqual(hdrs.get("x-client-name"), "by-cn")
        self.assertEqual(hdrs.get("x-client-database-access"), "ReadOnly")
        log = self.cg.wait_access_log(
            lambda es: any(e.get("cert_name") == "by-cn" for e in es), what="matcher line")
        entry = [e for e in log if e.get("cert_name") == "by-cn"][-1]
        self.assertEqual(entry["matched_by"], "identity")

    def test_ocsp_response_is_stapled(self):
        r = h.s_client(self.port, self.pki, extra=["-status"])
        out = r.stdout.decode(errors="replace")
        self.assertIn("OCSP Response Status: successful", out)
        self.assertIn("Cert Status: good", out)


if __name__ == "__main__":
    unittest.main()
