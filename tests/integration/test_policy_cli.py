"""certgate policy show / explain (docs/policy.md "Asking the policy").

The real binary on real files made with the openssl CLI:

- `policy show` prints the routes in match order (index, pattern, methods, requirement,
  where the database comes from, mode), allow_ips, the certificates (name, clearance,
  databases, thumbprints, pins, allow_ips, expires) and the header names; --json gives
  the GET /admin/policy form; a policy that does not load exits 1 with the loader's
  error;
- `policy explain` exits 0 for allow, 1 for deny, 2 for usage errors and unreadable
  inputs, and says why: a certificate registered by thumbprint, one trusted only by its
  pin (same key, renewed by the CA), an unknown one, an address outside allow_ips,
  database_from_query, gRPC, audit mode; with --client-ca (and --crl) the chain is
  checked as the listener does: a revoked certificate is untrusted_chain; the headers
  listed are the ones the database receives.

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_policy_cli
"""

import json
import os
import subprocess
import unittest

import certgate_harness as h


class PolicyCliTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = h.make_tempdir()
        cls.addClassCleanup(h.remove_tree, cls.tmp)
        d = os.path.join(cls.tmp, "pki")
        os.makedirs(d)
        cls.pki = h.make_pki(d)
        ca, cnf = cls.pki.ca, os.path.join(d, "ca.cnf")
        # "renewed": a new certificate for the reader's key from the same CA, registered
        # nowhere by thumbprint: only the pin of the reader's entry can trust it.
        renewed = os.path.join(d, "client-renewed.crt")
        h._openssl("ca", "-batch", "-config", cnf, "-cert", ca.cert, "-keyfile", ca.key,
                   "-in", os.path.join(d, "client-reader.csr"), "-out", renewed,
                   "-extensions", "client_ext", "-notext")
        cls.renewed = renewed
        # Revoke "writer" and publish a CRL.
        h._openssl("ca", "-config", cnf, "-cert", ca.cert, "-keyfile", ca.key,
                   "-revoke", cls.pki.client("writer").cert)
        cls.crl = os.path.join(d, "crl.pem")
        h._openssl("ca", "-config", cnf, "-cert", ca.cert, "-keyfile", ca.key, "-gencrl",
                   "-crldays", "30", "-out", cls.crl)
        cls.policy = os.path.join(cls.tmp, "policy.json")
        c = cls.pki.clients
        h.write_json(cls.policy, {
            "allow_ips": ["10.0.0.0/8", "127.0.0.1"],
            "routes": [
                {"path": "/healthz", "require": "Public"},
                {"path": "/databases/{db}/*", "methods": ["GET", "HEAD"],
                 "require": "ReadOnly"},
                {"path": "/databases/{db}/*", "require": "ReadWrite"},
                {"path": "/query", "database_from_query": "db", "require": "ReadOnly"},
                {"path": "/etcdserverpb.KV/Range", "database": "etcd", "require": "ReadOnly"},
                {"path": "/cluster/*", "require": "ClusterAdmin", "mode": "audit"},
                {"path": "/*", "require": "Authenticated"},
            ],
            "certificates": [
                {"name": "admin", "thumbprints": [c["admin"].sha1], "clearance": "ClusterAdmin",
                 "allow_ips": ["127.0.0.1"]},
                {"name": "writer", "thumbprints": [c["writer"].sha256], "clearance": "ValidUser",
                 "databases": {"hr": "ReadWrite"}, "expires": "2099-01-01T00:00:00Z"},
            ],
        })
        # The reader is registered the way operators do it: `cert import --ca`, which
        # adds its thumbprints and a pin with the CA's key.
        h.run_certgate("cert", "import", c["reader"].cert, "--name", "reader", "--clearance",
                       "ValidUser", "--db", "hr=ReadOnly", "--db", "etcd=ReadOnly",
                       "--policy", cls.policy, "--ca", ca.cert)

    def run_cg(self, *args):
        return subprocess.run([h.certgate_bin(), *args], capture_output=True, text=True,
                              timeout=60)

    def explain(self, *args, client=None, cert=None, rc=None):
        argv = ["policy", "explain", "--policy", self.policy]
        if client:
            argv += ["--cert", self.pki.client(client).cert]
        if cert:
            argv += ["--cert", cert]
        p = self.run_cg(*argv, *args, "--json")
        if rc is not None:
            self.assertEqual(p.returncode, rc, p.stdout + p.stderr)
        self.assertEqual(p.stderr, "")
        return json.loads(p.stdout)

    # -- show ------------------------------------------------------------------------

    def test_show(self):
        p = self.run_cg("policy", "show", "--policy", self.policy)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout
        self.assertIn("allow_ips: 10.0.0.0/8, 127.0.0.1", out)
        lines = out.splitlines()
        header = next(i for i, l in enumerate(lines) if l.split()[:2] == ["#", "PATH"])
        self.assertEqual(lines[header].split(), ["#", "PATH", "METHODS", "REQUIRE", "DATABASE",
                                                 "MODE"])
        rows = [l.split() for l in lines[header + 1:header + 8]]
        self.assertEqual([r[0] for r in rows], [str(i) for i in range(7)])
        self.assertEqual(rows[1][:5], ["1", "/databases/{db}/*", "GET,", "HEAD", "ReadOnly"])
        self.assertIn("query parameter db", lines[header + 4])
        self.assertEqual(rows[5][-1], "audit")
        self.assertEqual(rows[6][-1], "enforce")
        reader = self.pki.client("reader")
        line = next(l for l in lines if l.strip().startswith("reader "))
        self.assertIn("hr=ReadOnly, etcd=ReadOnly", line)
        self.assertIn(reader.sha1, line)
        line = next(l for l in lines if l.strip().startswith("admin "))
        self.assertIn("all (Admin)", line)
        self.assertIn("127.0.0.1", line)
        self.assertIn("2099-01-01T00:00:00Z", next(l for l in lines if "writer " in l))
        self.assertIn("X-Client-Name", out)

        p = self.run_cg("policy", "show", "--policy", self.policy, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        j = json.loads(p.stdout)
        self.assertEqual(j["allow_ips"], ["10.0.0.0/8", "127.0.0.1"])
        self.assertEqual(j["routes"][4]["database"], {"source": "fixed", "name": "etcd"})
        r = {e["name"]: e for e in j["certificates"]}["reader"]
        self.assertEqual(r["thumbprints"], [reader.sha1, reader.sha256])
        self.assertEqual(len(r["pins"]), 1)
        self.assertTrue(r["pins"][0]["issuer_key"])

    def test_show_errors(self):
        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w") as f:
            f.write('{"routes": [{"path": "/x", "require": "Nobody"}]}\n')
        p = self.run_cg("policy", "show", "--policy", bad)
        self.assertEqual(p.returncode, 1)
        self.assertIn("$.routes[0].require", p.stderr)
        self.assertEqual(p.stdout, "")
        for args in ([], ["--policy"], ["--policy", self.policy, "extra"], ["--colour"]):
            p = self.run_cg("policy", "show", *args)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn("certgate policy show", p.stderr)
        p = self.run_cg("policy", "show", "--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("--json", p.stdout)
        for args in (["policy"], ["policy", "frobnicate"]):
            self.assertEqual(self.run_cg(*args).returncode, 2)
        p = self.run_cg("policy", "--help")
        self.assertIn("certgate policy explain", p.stdout)
        self.assertIn("policy ...", self.run_cg("--help").stdout)

    # -- explain ---------------------------------------------------------------------

    def test_allow_by_thumbprint(self):
        reader = self.pki.client("reader")
        x = self.explain("--method", "GET", "--path", "/databases/hr/docs?id=7", "--host",
                         "db.example", "--ip", "10.1.2.3", client="reader", rc=0)
        self.assertEqual((x["decision"], x["reason"]), ("allow", "ok"))
        self.assertEqual((x["route"]["index"], x["route"]["path"]), (1, "/databases/{db}/*"))
        self.assertEqual(x["entry"]["matched_by"], "thumbprint")
        self.assertEqual(x["entry"]["thumbprint"]["value"], reader.sha1)
        self.assertEqual(x["database"], {"name": "hr", "source": "path", "level": "ReadOnly"})
        hdrs = {hd["name"]: hd["value"] for hd in x["headers"] + x["forwarded"]}
        self.assertEqual(hdrs["X-Client-Name"], "reader")
        self.assertEqual(hdrs["X-Client-Cert-Thumbprint"], reader.sha1)
        self.assertEqual(hdrs["X-Client-Database-Access"], "ReadOnly")
        self.assertEqual(hdrs["X-Forwarded-For"], "10.1.2.3")
        self.assertEqual(hdrs["X-Forwarded-Host"], "db.example")
        self.assertTrue(hdrs["Client-Cert"].startswith(":") and hdrs["Client-Cert"].endswith(":"))
        self.assertEqual(x["forward_target"], "/databases/hr/docs?id=7")
        # The text form says the same.
        p = self.run_cg("policy", "explain", "--policy", self.policy, "--cert",
                        reader.cert, "--method", "GET", "--path", "/databases/hr/docs")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("decision:     allow (ok)", p.stdout)
        self.assertIn("route:        #1 /databases/{db}/* (GET, HEAD) requires ReadOnly", p.stdout)
        self.assertIn('entry:        #2 "reader" ValidUser, matched by thumbprint (SHA-1 %s)'
                      % reader.sha1, p.stdout)
        self.assertIn("  X-Client-Database-Access: ReadOnly", p.stdout)
        self.assertIn("note:", p.stdout)  # the chain was not checked

    def test_deny_exits_1(self):
        x = self.explain("--method", "PUT", "--path", "/databases/hr/docs", client="reader",
                         rc=1)
        self.assertEqual((x["decision"], x["reason"], x["status"]),
                         ("deny", "insufficient_clearance", 403))
        self.assertEqual(x["headers"], [])
        x = self.explain("--method", "GET", "--path", "/databases/payroll/x", client="reader",
                         rc=1)
        self.assertEqual(x["reason"], "database_not_allowed")
        p = self.run_cg("policy", "explain", "--policy", self.policy, "--method", "GET",
                        "--path", "/x")
        self.assertEqual(p.returncode, 1)
        self.assertIn("decision:     deny (no_certificate; HTTP 403)", p.stdout)
        self.assertIn("headers:      none (denied", p.stdout)

    def test_pin(self):
        """A renewed certificate (same key, same CA, new thumbprint) is trusted by the
        pin `cert import --ca` wrote, and explain says so."""
        x = self.explain("--method", "GET", "--path", "/databases/etcd/x", cert=self.renewed,
                         rc=0)
        self.assertEqual(x["entry"]["name"], "reader")
        self.assertEqual(x["entry"]["matched_by"], "pin")
        pin = x["entry"]["pin"]
        self.assertEqual(pin["spki_sha256"], x["certificate"]["spki_sha256"])
        self.assertTrue(pin["signed_by_issuer_key"])
        self.assertNotIn(x["certificate"]["sha1"],
                         [self.pki.client("reader").sha1, self.pki.client("reader").sha256])
        p = self.run_cg("policy", "explain", "--policy", self.policy, "--cert", self.renewed,
                        "--method", "GET", "--path", "/x")
        self.assertIn("matched by pin", p.stdout)

    def test_unknown_certificate_and_ip(self):
        x = self.explain("--method", "GET", "--path", "/x", client="unknown", rc=1)
        self.assertEqual(x["reason"], "unknown_certificate")
        self.assertIsNone(x["entry"])
        self.assertTrue(x["certificate_checked"])
        p = self.run_cg("policy", "explain", "--policy", self.policy, "--cert",
                        self.pki.client("unknown").cert, "--method", "GET", "--path", "/x")
        self.assertIn("entry:        none: the certificate is not registered", p.stdout)
        # Outside the policy's allow_ips: refused before the certificate matters.
        x = self.explain("--method", "GET", "--path", "/x", "--ip", "192.0.2.1",
                         client="admin", rc=1)
        self.assertEqual(x["reason"], "ip_not_allowed")
        self.assertFalse(x["certificate_checked"])
        # Inside it but outside the entry's own: the entry is named and refused.
        x = self.explain("--method", "GET", "--path", "/x", "--ip", "10.0.0.1",
                         client="admin", rc=1)
        self.assertEqual((x["reason"], x["entry"]["name"]), ("ip_not_allowed", "admin"))
        x = self.explain("--method", "GET", "--path", "/x", "--ip", "::ffff:127.0.0.1",
                         client="admin", rc=0)
        self.assertEqual(x["request"]["ip"], "127.0.0.1")
        x = self.explain("--method", "GET", "--path", "/x", client="expired", rc=1)
        self.assertEqual(x["reason"], "certificate_expired")  # dates first, registered or not

    def test_database_from_query_grpc_and_audit(self):
        x = self.explain("--method", "GET", "--path", "/query?q=1&db=hr", client="reader", rc=0)
        self.assertEqual(x["database"], {"name": "hr", "source": "query", "level": "ReadOnly"})
        x = self.explain("--method", "GET", "--path", "/query?db=payroll", client="reader", rc=1)
        self.assertEqual(x["reason"], "database_not_allowed")
        x = self.explain("--grpc", "/etcdserverpb.KV/Range", client="reader", rc=0)
        self.assertEqual((x["request"]["method"], x["database"]["name"]), ("POST", "etcd"))
        x = self.explain("--grpc", "/etcdserverpb.KV/Range", client="unknown", rc=1)
        self.assertEqual((x["reason"], x["grpc_status"]), ("unknown_certificate", 16))
        x = self.explain("--grpc", "/etcdserverpb.KV/Range", client="writer", rc=1)
        self.assertEqual((x["reason"], x["grpc_status"]), ("database_not_allowed", 7))
        x = self.explain("--method", "GET", "--path", "/cluster/nodes", client="reader", rc=0)
        self.assertEqual((x["decision"], x["reason"]), ("audit", "insufficient_clearance"))
        self.assertTrue(any("audit mode" in n for n in x["notes"]))

    def test_case_sensitive_databases(self):
        # Regression: database names always compared case-insensitively, so with InfluxDB
        # (where "hr" and "HR" are two databases) a ValidUser allowed "hr" reached "HR".
        x = self.explain("--method", "GET", "--path", "/query?db=HR", client="reader", rc=0)
        self.assertEqual(x["database"]["level"], "ReadOnly")
        with open(self.policy) as f:
            doc = json.load(f)
        doc["case_sensitive_databases"] = True
        strict = os.path.join(self.tmp, "strict-policy.json")
        h.write_json(strict, doc)
        base = ["--cert", self.pki.client("reader").cert, "--method", "GET", "--json"]
        p = self.run_cg("policy", "explain", "--policy", strict, *base, "--path", "/query?db=HR")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertEqual(json.loads(p.stdout)["reason"], "database_not_allowed")
        p = self.run_cg("policy", "explain", "--policy", strict, *base, "--path", "/query?db=hr")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # Two entries' levels on "hr" and "HR" may now differ within one entry.
        doc["certificates"][1]["databases"] = {"hr": "ReadWrite", "HR": "ReadOnly"}
        h.write_json(strict, doc)
        p = self.run_cg("policy", "show", "--policy", strict, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(json.loads(p.stdout)["case_sensitive_databases"])
        del doc["case_sensitive_databases"]
        h.write_json(strict, doc)
        p = self.run_cg("policy", "show", "--policy", strict)
        self.assertEqual(p.returncode, 1)
        self.assertIn("database listed twice", p.stderr)

    def test_client_ca_and_crl(self):
        ca = self.pki.ca.cert
        x = self.explain("--method", "GET", "--path", "/x", "--client-ca", ca, client="reader",
                         rc=0)
        self.assertEqual(x["certificate"]["chain"], "validated")
        self.assertFalse(any("chain was not checked" in n for n in x["notes"]))
        # The writer is revoked: a listener with that client_ca and crl refuses it.
        x = self.explain("--method", "GET", "--path", "/x", "--client-ca", ca, "--crl",
                         self.crl, client="writer", rc=1)
        self.assertEqual(x["reason"], "untrusted_chain")
        self.assertEqual(x["certificate"]["chain_error"], "certificate revoked")
        x = self.explain("--method", "GET", "--path", "/x", client="writer", rc=0)
        self.assertEqual(x["certificate"]["chain"], "not checked")
        # Another CA's certificate does not validate.
        x = self.explain("--method", "GET", "--path", "/x", "--client-ca",
                         self.pki.client("admin").cert, client="reader", rc=1)
        self.assertEqual(x["reason"], "untrusted_chain")

    def test_usage_errors_exit_2(self):
        base = ["policy", "explain", "--policy", self.policy]
        cases = [
            (base + ["--method", "GET"], "missing --method"),
            (base + ["--path", "/x"], "missing --method"),
            (["policy", "explain", "--method", "GET", "--path", "/"], "missing --policy"),
            (base + ["--grpc", "/a.B/C", "--path", "/x"], "--grpc"),
            (base + ["--method", "GET", "--path", "/", "--frob"], "unknown option"),
            (base + ["--method", "GET", "--path", "/", "--ip"], "needs a value"),
            (base + ["--method", "GET", "--path", "/", "--method", "PUT"], "--method given twice"),
            (base + ["--method", "GET", "--path", "/", "--crl", self.crl], "--crl needs"),
            (base + ["--method", "GET", "--path", "/", "--ip", "10.0.0.300"], "10.0.0.300"),
            (base + ["--method", "GET", "--path", "/", "--cert", "/nonexistent.pem"],
             "/nonexistent.pem"),
            (base + ["--method", "GET", "--path", "/", "--cert", self.policy], "policy.json"),
            (["policy", "explain", "--policy", "/nonexistent.json", "--method", "GET",
              "--path", "/"], "/nonexistent.json"),
        ]
        for argv, part in cases:
            p = self.run_cg(*argv)
            self.assertEqual(p.returncode, 2, (argv, p.stdout, p.stderr))
            self.assertIn(part, p.stderr, argv)
            self.assertEqual(p.stdout, "", argv)
        p = self.run_cg("policy", "explain", "--help")
        self.assertEqual(p.returncode, 0)
        for opt in ("--cert", "--client-ca", "--crl", "--ip", "--host", "--sni", "--method",
                    "--path", "--grpc", "--json"):
            self.assertIn(opt, p.stdout)


if __name__ == "__main__":
    unittest.main()
