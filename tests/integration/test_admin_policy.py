"""Asking the policy through the admin API (docs/operations.md "Admin API",
docs/policy.md "Asking the policy"), and the calls the web console needs.

One certgate with an admin listener, a policy with database routes, a ClusterAdmin
("admin"), an Operator ("operator", the writer certificate) and a ValidUser ("reader",
db1 ReadOnly):

- GET /admin/policy shows the snapshot in force with its generation as ETag, for
  Operators and ClusterAdmins only; a policy file that fails to load changes nothing
  it shows;
- POST /admin/explain answers what the proxy decides: the same requests sent through
  the proxy with curl get exactly the status explain predicts, and the identity headers
  explain lists are the ones the database receives; unknown certificates, addresses
  outside allow_ips, database_from_query, gRPC and bad bodies; as a POST with a body it
  obeys the cross-site rules (another Origin 403, a non-JSON body 415);
- GET /admin/ca-certificate gives the private CA's certificate and never a key;
  GET /admin/whoami names the caller;
- POST /admin/certificates takes allow_ips (the entry is never registered without
  them), and the list shows pins.

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_admin_policy
"""

import json
import os
import shutil
import ssl
import unittest

import certgate_harness as h


def policy(pki):
    c = pki.clients
    return {
        "allow_ips": ["127.0.0.1", "::1"],
        "routes": [
            {"path": "/healthz", "require": "Public"},
            {"path": "/databases/{db}/*", "methods": ["GET", "HEAD"], "require": "ReadOnly"},
            {"path": "/databases/{db}/*", "require": "ReadWrite"},
            {"path": "/query", "database_from_query": "db", "require": "ReadOnly"},
            {"path": "/admin/*", "require": "Operator"},
            {"path": "/*", "require": "Authenticated"},
        ],
        "certificates": [
            {"name": "admin", "thumbprints": [c["admin"].sha1], "clearance": "ClusterAdmin"},
            {"name": "operator", "thumbprints": [c["writer"].sha1], "clearance": "Operator"},
            {"name": "reader", "thumbprints": [c["reader"].sha1], "clearance": "ValidUser",
             "databases": {"db1": "ReadOnly"}},
        ],
    }


def pem(cert):
    with open(cert.cert) as f:
        return f.read()


class AdminPolicyTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = h.make_tempdir()
        cls.addClassCleanup(h.remove_tree, cls.tmp)
        pki_dir = os.path.join(cls.tmp, "pki")
        os.makedirs(pki_dir)
        cls.pki = h.make_pki(pki_dir)
        ca_dir = os.path.join(cls.tmp, "state", "ca")
        os.makedirs(ca_dir)
        shutil.copy(cls.pki.ca.cert, os.path.join(ca_dir, "ca.crt"))
        shutil.copy(cls.pki.ca.key, os.path.join(ca_dir, "ca.key"))
        cls.backend = h.Backend(cls.tmp)
        cls.addClassCleanup(cls.backend.kill)
        cls.backend.start()
        cls.admin_port = h.free_port()
        cls.cg = h.start_certgate(
            cls.tmp, cls.pki, [cls.backend.port], policy=policy(cls.pki),
            overrides={"admin": {"listen": "127.0.0.1:%d" % cls.admin_port, "listener": "db"}})
        cls.addClassCleanup(cls.cg.kill)
        cls.cg.wait_listening(cls.admin_port)
        cls.port = cls.cg.port
        cls.policy_path = os.path.join(cls.tmp, "policy.json")

    def call(self, method, path, client="admin", body=None, headers=(), content_type=None):
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs = list(headers)
        if data is not None:
            hdrs.append(("Content-Type", content_type or "application/json"))
        s = h.tls_connect(self.admin_port, h.client_context(self.pki, client), timeout=15)
        try:
            s.sendall(h.request_bytes(method, path, "localhost:%d" % self.admin_port, hdrs,
                                      data or b""))
            return h.ResponseReader(s, 15).read()
        finally:
            s.close()

    def explain(self, client="admin", **body):
        r = self.call("POST", "/admin/explain", client=client, body=body)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def proxy(self, method, target, client):
        """proxy sends the request through the proxy listener with curl."""
        return h.curl(self.pki, ["-X", method, "https://localhost:%d%s" % (self.port, target)],
                      client=client)

    # -- GET /admin/policy -----------------------------------------------------------

    def test_policy_in_force(self):
        r = self.call("GET", "/admin/policy")
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(r.header("ETag"), '"%d"' % j["generation"])
        self.assertEqual((j["listener"], j["file"]), ("db", self.policy_path))
        p = j["policy"]
        self.assertEqual(p["allow_ips"], ["127.0.0.1", "::1"])
        self.assertEqual([r["path"] for r in p["routes"]],
                         [r["path"] for r in policy(self.pki)["routes"]])
        self.assertEqual(p["routes"][1]["methods"], ["GET", "HEAD"])
        self.assertEqual(p["routes"][1]["database"], {"source": "path"})
        self.assertEqual(p["routes"][3]["database"], {"source": "query", "param": "db"})
        self.assertEqual(p["routes"][4]["require"], "Operator")
        names = {e["name"]: e for e in p["certificates"]}
        self.assertEqual(names["reader"]["databases"], {"db1": "ReadOnly"})
        self.assertEqual(names["reader"]["thumbprints"], [self.pki.client("reader").sha1])
        self.assertEqual(p["headers"]["name"], "X-Client-Name")
        # Operators may read it, others may not.
        self.assertEqual(self.call("GET", "/admin/policy", client="writer").status, 200)
        for client, reason in (("reader", "insufficient_clearance"),
                               ("unknown", "unknown_certificate"), (None, "no_certificate")):
            r = self.call("GET", "/admin/policy", client=client)
            self.assertEqual((r.status, r.json()["reason"]), (403, reason), client)
        r = self.call("POST", "/admin/policy", body={})
        self.assertEqual((r.status, r.header("Allow")), (405, "GET"), r)

    def test_policy_shows_the_snapshot_not_the_file(self):
        with open(self.policy_path) as f:
            good = f.read()
        before = self.call("GET", "/admin/policy").json()
        try:
            h.write_atomic(self.policy_path, good.replace('"ReadOnly"', '"Reader"', 1))
            r = self.call("POST", "/admin/reload")
            self.assertEqual(r.json()["policies_refused"], 1, r)
            after = self.call("GET", "/admin/policy").json()
            self.assertEqual(after["generation"], before["generation"])
            self.assertEqual(after["policy"], before["policy"])
        finally:
            h.write_atomic(self.policy_path, good)
            self.assertEqual(self.call("POST", "/admin/reload").status, 200)

    # -- POST /admin/explain ---------------------------------------------------------

    def test_explain_predicts_the_proxy(self):
        """Whatever explain answers, the proxy does: the same requests through the
        proxy get the status explain predicts, and the identity headers it lists."""
        cases = [
            ("reader", "GET", "/databases/db1/docs?x=1", "allow", "ok"),
            ("reader", "PUT", "/databases/db1/docs", "deny", "insufficient_clearance"),
            ("reader", "GET", "/databases/db2/docs", "deny", "database_not_allowed"),
            ("reader", "GET", "/query?db=db1", "allow", "ok"),
            ("reader", "GET", "/query?db=db2", "deny", "database_not_allowed"),
            ("reader", "GET", "/query?db=db1&DB=db2", "deny", "bad_path"),
            ("reader", "GET", "/admin/x", "deny", "insufficient_clearance"),
            ("writer", "DELETE", "/databases/db2/x", "allow", "ok"),
            ("unknown", "GET", "/anything", "deny", "unknown_certificate"),
            ("expired", "GET", "/anything", "deny", "certificate_expired"),
            ("unknown", "GET", "/healthz", "allow", "ok"),
            (None, "GET", "/anything", "deny", "no_certificate"),
        ]
        for client, method, target, decision, reason in cases:
            with self.subTest(client=client, method=method, target=target):
                body = {"method": method, "path": target, "host": "localhost:%d" % self.port}
                if client:
                    body["certificate"] = pem(self.pki.client(client))
                x = self.explain(**body)
                self.assertEqual((x["decision"], x["reason"]), (decision, reason), x)
                res = self.proxy(method, target, client)
                if decision == "deny":
                    self.assertEqual(res.status, x["status"], res)
                    self.assertEqual(res.json()["reason"], reason)
                    self.assertEqual(x["headers"], [])
                    continue
                self.assertEqual(res.status, 200, res)
                seen = {n.lower(): v for n, v in res.json()["headers"]}
                for hd in x["headers"] + x["forwarded"]:
                    self.assertEqual(seen.get(hd["name"].lower()), hd["value"], hd["name"])
                self.assertEqual(res.json()["target"], x["forward_target"])

    def test_explain_facts(self):
        reader = self.pki.client("reader")
        x = self.explain(certificate=pem(reader), method="GET", path="/databases/db1/a%62",
                         ip="::1")
        self.assertEqual((x["listener"], x["decision"]), ("db", "allow"))
        self.assertEqual(x["request"]["path"], "/databases/db1/ab")
        self.assertEqual(x["forward_target"], "/databases/db1/ab")
        self.assertEqual(x["generation"], self.call("GET", "/admin/policy").json()["generation"])
        self.assertEqual(x["route"], {"index": 1, "path": "/databases/{db}/*",
                                      "methods": ["GET", "HEAD"], "require": "ReadOnly",
                                      "mode": "enforce"})
        self.assertEqual(x["database"], {"name": "db1", "source": "path", "level": "ReadOnly"})
        e = x["entry"]
        self.assertEqual((e["index"], e["name"], e["clearance"], e["matched_by"]),
                         (2, "reader", "ValidUser", "thumbprint"))
        self.assertEqual(e["thumbprint"], {"algorithm": "SHA-1", "value": reader.sha1})
        self.assertEqual(x["certificate"]["sha256"], reader.sha256)
        self.assertEqual(x["certificate"]["chain"], "not checked")  # no client_ca
        self.assertEqual(x["request"]["ip"], "::1")
        names = [hd["name"] for hd in x["headers"]]
        self.assertEqual(names, ["X-Client-Cert-Thumbprint", "X-Client-Name",
                                 "X-Client-Clearance", "X-Client-Database-Access",
                                 "Client-Cert"])
        # An address outside allow_ips: refused before the certificate is looked at.
        x = self.explain(certificate=pem(reader), method="GET", path="/databases/db1/a",
                         ip="192.0.2.9")
        self.assertEqual((x["decision"], x["reason"]), ("deny", "ip_not_allowed"))
        self.assertFalse(x["certificate_checked"])
        self.assertTrue(any("before the TLS handshake" in n for n in x["notes"]), x["notes"])
        # gRPC: method POST, denial as grpc-status.
        x = self.explain(grpc="/etcdserverpb.KV/Range")
        self.assertEqual((x["reason"], x["grpc_status"]), ("no_certificate", 16))
        self.assertEqual(x["request"]["method"], "POST")
        self.assertTrue(x["request"]["grpc"])
        # Operators may ask too; ValidUsers may not.
        self.assertEqual(self.call("POST", "/admin/explain", client="writer",
                                   body={"method": "GET", "path": "/"}).status, 200)
        r = self.call("POST", "/admin/explain", client="reader",
                      body={"method": "GET", "path": "/"})
        self.assertEqual(r.status, 403, r)

    def test_explain_bad_input(self):
        for body, part in (({"method": "GET"}, "give \"method\" and \"path\""),
                           ({"method": "GET", "path": "/", "grpc": "/a.B/C"}, "grpc"),
                           ({"method": "GET", "path": "/", "colour": "red"}, "colour"),
                           ({"method": "GET", "path": "/", "ip": "10.0.0.300"}, "10.0.0.300"),
                           ({"method": "GET", "path": "/", "certificate": "not a pem"},
                            "$.certificate"),
                           ({"method": 7, "path": "/"}, "$.method")):
            r = self.call("POST", "/admin/explain", body=body)
            self.assertEqual(r.status, 400, (body, r))
            self.assertIn(part, r.json()["reason"], body)
        r = self.call("POST", "/admin/explain", body=b"[1, 2]")
        self.assertEqual(r.status, 400, r)
        r = self.call("GET", "/admin/explain")
        self.assertEqual((r.status, r.header("Allow")), (405, "POST"), r)

    def test_explain_obeys_the_cross_site_rules(self):
        """POST /admin/explain changes nothing, but it reveals the policy and takes a
        body: it follows the rule of every non-GET call, so that no other site's page
        can use an operator's browser to ask."""
        body = json.dumps({"method": "GET", "path": "/"}).encode()
        r = self.call("POST", "/admin/explain", body=body,
                      headers=[("Origin", "https://evil.example")])
        self.assertEqual((r.status, r.json()["reason"]), (403, "cross_origin_request"), r)
        r = self.call("POST", "/admin/explain", body=body, content_type="text/plain")
        self.assertEqual(r.status, 415, r)
        r = self.call("POST", "/admin/explain", body=body,
                      headers=[("Origin", "https://localhost:%d" % self.admin_port),
                               ("Sec-Fetch-Site", "same-origin")])
        self.assertEqual(r.status, 200, r)

    # -- what the console needs ------------------------------------------------------

    def test_ca_certificate_and_whoami(self):
        r = self.call("GET", "/admin/ca-certificate", client="writer")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "application/x-pem-file")
        self.assertIn('filename="ca.crt"', r.header("Content-Disposition"))
        text = r.body.decode()
        self.assertNotIn("PRIVATE KEY", text)
        self.assertEqual(ssl.PEM_cert_to_DER_cert(text), self.pki.ca.der)
        self.assertEqual(self.call("GET", "/admin/ca-certificate", client="reader").status, 403)
        r = self.call("GET", "/admin/whoami", client="writer")
        self.assertEqual(r.json(), {"name": "operator", "clearance": "Operator",
                                    "thumbprint": self.pki.client("writer").sha1,
                                    "listener": "db", "host": ""})
        self.assertEqual(self.call("GET", "/admin/whoami").json()["clearance"], "ClusterAdmin")

    def test_create_with_allow_ips_and_pins_in_list(self):
        r = self.call("POST", "/admin/certificates",
                      body={"name": "far-away", "clearance": "ValidUser",
                            "databases": {"db1": "ReadOnly"}, "allow_ips": ["10.9.0.0/16"],
                            "format": "pem", "password": "pw-for-test"})
        self.assertEqual(r.status, 201, r)
        j = r.json()
        self.assertIn("pkcs12_base64", j)
        entries = {e["name"]: e for e in self.call("GET", "/admin/certificates").json()
                   ["certificates"]}
        self.assertEqual(entries["far-away"]["allow_ips"], ["10.9.0.0/16"])
        self.assertEqual(len(entries["far-away"]["pins"]), 1)
        self.assertIn("spki_sha256", entries["far-away"]["pins"][0])
        # From 127.0.0.1 it is refused, as the entry said from its first moment.
        d = os.path.join(self.tmp, "far-away")
        os.makedirs(d)
        with open(os.path.join(d, "tls.crt"), "w") as f:
            f.write(j["certificate"])
        with open(os.path.join(d, "tls.key"), "w") as f:
            f.write(j["key"])
        res = h.curl(self.pki, ["--cert", os.path.join(d, "tls.crt"), "--key",
                                os.path.join(d, "tls.key"),
                                "https://localhost:%d/databases/db1/x" % self.port], client=None)
        self.assertEqual((res.status, res.json()["reason"]), (403, "ip_not_allowed"), res)
        x = self.explain(certificate=j["certificate"], method="GET", path="/databases/db1/x")
        self.assertEqual((x["decision"], x["reason"]), ("deny", "ip_not_allowed"))
        self.assertTrue(x["certificate_checked"])  # the entry's own list refused it
        self.assertEqual(x["entry"]["name"], "far-away")
        self.assertEqual(x["entry"]["allow_ips"], ["10.9.0.0/16"])
        r = self.call("POST", "/admin/certificates",
                      body={"name": "bad-ips", "clearance": "ValidUser", "allow_ips": "10.0.0.1"})
        self.assertEqual(r.status, 400, r)
        self.assertIn("allow_ips", r.json()["reason"])


if __name__ == "__main__":
    unittest.main()
