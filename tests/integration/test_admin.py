"""The admin API (docs/operations.md "Admin API", docs/operations.md "Admin API").

One certgate with an admin listener on 127.0.0.1 serving the proxy listener's
certificates, the test CA copied into state_dir/ca, and a policy with a ClusterAdmin
("admin"), an Operator ("operator", the writer certificate) and a ValidUser ("reader").

- /healthz and /readyz answer without a client certificate; everything else needs a
  registered Operator or ClusterAdmin certificate (no certificate, an unknown one and a
  ValidUser get 403 JSON with the reason);
- list, create (PKCS#12 and PEM), import (PEM collection, PKCS#12), edit, delete, with
  RavenDB's rule that an Operator cannot create, edit, edit into or delete a ClusterAdmin;
- a created PKCS#12 works against the proxy listener with curl at once; a deleted
  certificate is denied on its next request on an already open keep-alive connection;
- If-Match with another generation answers 412; a change that would make the policy
  invalid answers 400 and leaves the file untouched;
- the serving chain is exported without key; renew changes the serial a new handshake
  sees; reload; status; /metrics parses as Prometheus text; the audit log records changes;
- malformed requests answer 400 and close, bodies over 1 MiB 413.
- state-changing calls a browser could make for another site are refused (another
  Origin or Sec-Fetch-Site: 403; a body that is not application/json: 415), while curl
  and the admin listener's own origin still work.

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_admin
"""

import base64
import json
import os
import re
import shutil
import ssl
import subprocess
import unittest

import certgate_harness as h


def admin_policy(pki):
    c = pki.clients
    return {
        "allow_ips": ["127.0.0.1", "::1"],
        "routes": [
            {"path": "/healthz", "require": "Public"},
            {"path": "/*", "require": "Authenticated"},
        ],
        "certificates": [
            {"name": "admin", "thumbprints": [c["admin"].sha1], "clearance": "ClusterAdmin"},
            {"name": "operator", "thumbprints": [c["writer"].sha1], "clearance": "Operator"},
            {"name": "reader", "thumbprints": [c["reader"].sha1], "clearance": "ValidUser",
             "databases": {"db1": "ReadOnly"}},
        ],
    }


def peer_serial(port, pki):
    ctx = h.client_context(pki, None)
    s = h.tls_connect(port, ctx)
    try:
        der = s.getpeercert(binary_form=True)
    finally:
        s.close()
    pem = ssl.DER_cert_to_PEM_cert(der)
    out = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem.encode(),
                         capture_output=True, timeout=30, check=True).stdout.decode()
    return out.strip().split("=", 1)[1].upper(), der


def ca_spki_b64(cert_path):
    """ca_spki_b64 is the base64 DER SubjectPublicKeyInfo of a PEM certificate."""
    pub = subprocess.run(["openssl", "x509", "-in", cert_path, "-noout", "-pubkey"],
                         capture_output=True, timeout=30, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         capture_output=True, timeout=30, check=True).stdout
    return base64.b64encode(der).decode()


class AdminTest(unittest.TestCase):

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
            cls.tmp, cls.pki, [cls.backend.port], policy=admin_policy(cls.pki),
            overrides={"admin": {"listen": "127.0.0.1:%d" % cls.admin_port, "listener": "db"},
                       "timeouts": {"request_header": 2000}})
        cls.addClassCleanup(cls.cg.kill)
        cls.cg.wait_listening(cls.admin_port)
        cls.port = cls.cg.port
        cls.policy_path = os.path.join(cls.tmp, "policy.json")

    # -- helpers --------------------------------------------------------------------

    def call(self, method, path, client="admin", body=None, headers=(), raw=None):
        """call sends one request to the admin listener on a fresh connection."""
        data = raw
        if body is not None and not isinstance(body, (bytes, str)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        hdrs = list(headers)
        if data is not None:
            hdrs.append(("Content-Type", "application/json"))
        s = h.tls_connect(self.admin_port, h.client_context(self.pki, client), timeout=15)
        try:
            s.sendall(h.request_bytes(method, path, "localhost:%d" % self.admin_port, hdrs,
                                      data or b""))
            return h.ResponseReader(s, 15).read()
        finally:
            s.close()

    def exchange(self, data):
        """exchange writes raw bytes on a fresh admin connection and reads to the end."""
        s = h.tls_connect(self.admin_port, h.client_context(self.pki, "admin"))
        try:
            s.sendall(data)
            return h.read_until_close(s, timeout=10)
        finally:
            s.close()

    def etag(self):
        r = self.call("GET", "/admin/certificates")
        self.assertEqual(r.status, 200, r)
        return r.header("ETag")

    def policy_file(self):
        with open(self.policy_path) as f:
            return json.load(f)

    def entry(self, name):
        for e in self.policy_file()["certificates"]:
            if e["name"] == name:
                return e
        return None

    def create(self, name, clearance="ValidUser", client="admin", **kw):
        body = {"name": name, "clearance": clearance, "databases": {"db1": "ReadWrite"}}
        body.update(kw)
        return self.call("POST", "/admin/certificates", client, body)

    def write_pem_bundle(self, r, name):
        j = r.json()
        d = os.path.join(self.tmp, "bundle-" + name)
        os.makedirs(d, exist_ok=True)
        for k in ("certificate", "key", "ca"):
            with open(os.path.join(d, k + ".pem"), "w") as f:
                f.write(j[k])
        os.chmod(os.path.join(d, "key.pem"), 0o600)
        return os.path.join(d, "certificate.pem"), os.path.join(d, "key.pem"), j["thumbprint"]

    # -- probes and authorization ----------------------------------------------------

    def test_probes_without_certificate(self):
        r = self.call("GET", "/healthz", client=None)
        self.assertEqual((r.status, r.json()), (200, {"status": "ok"}))
        r = self.call("GET", "/readyz", client=None)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["status"], "ready")

    def test_authorization(self):
        for client, reason in ((None, "no_certificate"), ("unknown", "unknown_certificate"),
                               ("reader", "insufficient_clearance"),
                               ("expired", "certificate_expired")):
            for method, path in (("GET", "/admin/status"), ("GET", "/admin/certificates"),
                                 ("GET", "/metrics"), ("POST", "/admin/reload"),
                                 ("GET", "/no/such/endpoint")):
                r = self.call(method, path, client=client)
                self.assertEqual(r.status, 403, (client, path, r))
                j = r.json()
                self.assertEqual(j["error"], "forbidden")
                self.assertEqual(j["reason"], reason, (client, path))
                self.assertTrue(j["request_id"])
        # Operators and ClusterAdmins are in.
        for client in ("admin", "writer"):
            self.assertEqual(self.call("GET", "/admin/status", client=client).status, 200)
        r = self.call("GET", "/admin/nothing")
        self.assertEqual(r.status, 404, r)
        r = self.call("DELETE", "/admin/status")
        self.assertEqual(r.status, 405, r)
        self.assertEqual(r.header("Allow"), "GET")

    # -- status, metrics, reload -----------------------------------------------------

    def test_status(self):
        r = self.call("GET", "/admin/status")
        self.assertEqual(r.status, 200, r)
        j = r.json()
        for k in ("generation", "uptime_s", "listeners", "reloads", "reload_failures"):
            self.assertIn(k, j)
        self.assertGreaterEqual(j["generation"], 1)
        l = j["listeners"][0]
        self.assertEqual(l["name"], "db")
        self.assertEqual(l["policy"], self.policy_path)
        self.assertEqual(len(l["certificates"]), 2)
        c = l["certificates"][0]
        self.assertEqual(set(c), {"file", "subject", "not_after", "days_left"})
        self.assertGreater(c["days_left"], 700)
        self.assertEqual(r.header("ETag"), '"%d"' % l["policy_generation"])

    def test_metrics(self):
        r = self.call("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("text/plain"))
        text = r.body.decode()
        sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|'
                            r'\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)?\})? '
                            r'(?P<value>-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)$')
        seen, typed = {}, set()
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                name, kind = line.split()[2:4]
                self.assertIn(kind, ("counter", "gauge", "histogram"))
                typed.add(name)
                if kind == "histogram":
                    typed.update(name + s for s in ("_bucket", "_sum", "_count"))
                continue
            if line.startswith("# HELP ") or not line:
                continue
            m = sample.match(line)
            self.assertIsNotNone(m, "not Prometheus text: %r" % line)
            self.assertIn(m.group(1), typed, "sample before its TYPE: %r" % line)
            seen.setdefault(m.group(1), []).append((m.group(2) or "", float(m.group("value"))))
        for name in ("certgate_policy_generation", "certgate_policy_reloads_total",
                     "certgate_policy_reload_failures_total", "certgate_cert_reloads_total",
                     "certgate_connections", "certgate_access_log_dropped_total",
                     "certgate_certificate_expiry_seconds"):
            self.assertIn(name, seen)
        expiry = seen["certgate_certificate_expiry_seconds"]
        self.assertEqual(len(expiry), 2)
        self.assertIn('listener="db"', expiry[0][0])
        self.assertGreater(expiry[0][1], 700 * 86400)

    def test_reload(self):
        before = self.call("GET", "/admin/status").json()["generation"]
        r = self.call("POST", "/admin/reload")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json()["ok"])
        self.assertGreater(r.json()["generation"], before)

    # -- the certificate registry ----------------------------------------------------

    def test_list(self):
        r = self.call("GET", "/admin/certificates", client="writer")
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(r.header("ETag"), '"%d"' % j["generation"])
        names = {e["name"]: e for e in j["certificates"]}
        self.assertEqual(names["admin"]["thumbprints"], [self.pki.client("admin").sha1])
        self.assertEqual(names["reader"]["databases"], {"db1": "ReadOnly"})
        self.assertEqual(names["operator"]["clearance"], "Operator")

    def test_get_one_entry(self):
        reader = self.pki.client("reader")
        r = self.call("GET", "/admin/certificates/" + reader.sha1, client="writer")
        self.assertEqual(r.status, 200, r)
        e = r.json()
        self.assertEqual((e["name"], e["clearance"], e["thumbprints"], e["databases"]),
                         ("reader", "ValidUser", [reader.sha1], {"db1": "ReadOnly"}))
        self.assertEqual(r.header("ETag"), self.etag())
        # Any case and the colon form name the same entry, as for PUT and DELETE.
        colons = ":".join(reader.sha1[i:i + 2] for i in range(0, 40, 2)).lower()
        r = self.call("GET", "/admin/certificates/" + colons)
        self.assertEqual((r.status, r.json()["name"]), (200, "reader"), r)
        r = self.call("GET", "/admin/certificates/" + "0" * 40)
        self.assertEqual((r.status, r.json()["error"]), (404, "not_found"), r)
        r = self.call("GET", "/admin/certificates/not-hex")
        self.assertEqual((r.status, r.json()["error"]), (400, "bad_request"), r)
        r = self.call("POST", "/admin/certificates/" + reader.sha1, body={})
        self.assertEqual(r.status, 405, r)
        self.assertEqual(r.header("Allow"), "GET, PUT, DELETE")
        # A ValidUser reads nothing of the admin API.
        r = self.call("GET", "/admin/certificates/" + reader.sha1, client="reader")
        self.assertEqual(r.status, 403, r)

    def test_create_pkcs12_then_use_it_with_curl(self):
        r = self.create("app-p12")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.header("Content-Type"), "application/x-pkcs12")
        password = r.header("X-Bundle-Password")
        self.assertTrue(password)
        tp = r.header("X-Certificate-Thumbprint")
        p12 = os.path.join(self.tmp, "app-p12.p12")
        with open(p12, "wb") as f:
            f.write(r.body)
        e = self.entry("app-p12")
        self.assertEqual(e["thumbprints"][0], tp)
        self.assertEqual(len(e["thumbprints"]), 2)  # the SHA-1, then the SHA-256
        # The pin holds the private CA's public key, which renewals are verified with.
        self.assertEqual([pin.get("issuer_spki") for pin in e["pins"]],
                         [ca_spki_b64(self.pki.ca.cert)])
        self.assertEqual(e["databases"], {"db1": "ReadWrite"})
        # openssl 3 reads it without -legacy; curl presents it to the proxy at once.
        subprocess.run(["openssl", "pkcs12", "-info", "-noout", "-in", p12, "-passin",
                        "pass:" + password], check=True, capture_output=True, timeout=30)
        res = h.curl(self.pki, ["--cert-type", "P12", "--cert", "%s:%s" % (p12, password),
                                "https://localhost:%d/anything" % self.port], client=None)
        self.assertEqual(res.status, 200, res)
        # The same name again is a conflict.
        self.assertEqual(self.create("app-p12").status, 409)

    def test_create_pem_then_delete_denies_open_connection(self):
        r = self.create("app-pem", format="pem")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.header("Content-Type"), "application/json")
        cert, key, tp = self.write_pem_bundle(r, "app-pem")
        self.assertNotIn("pkcs12_base64", r.json())
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.pki.ca.cert)
        ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(["http/1.1"])
        ka = h.KeepAlive(self.port, ctx)
        try:
            self.assertEqual(ka.get("/one").status, 200)
            d = self.call("DELETE", "/admin/certificates/" + tp.lower())
            self.assertEqual(d.status, 200, d)
            self.assertEqual(d.json()["deleted"]["name"], "app-pem")
            self.assertIsNone(self.entry("app-pem"))
            denied = ka.get("/two")
            self.assertEqual(denied.status, 403, denied)
            self.assertEqual(denied.json()["reason"], "unknown_certificate")
        finally:
            ka.close()
        self.assertEqual(self.call("DELETE", "/admin/certificates/" + tp).status, 404)

    def test_bad_input(self):
        r = self.create("bad1", clearance="root")
        self.assertEqual(r.status, 400, r)
        self.assertIn("unknown clearance 'root'", r.json()["reason"])
        self.assertNotIn("\n", r.json()["reason"])
        r = self.create("bad2", databases={"db1": "Reader"})
        self.assertEqual(r.status, 400, r)
        self.assertIn("database 'db1'", r.json()["reason"])
        r = self.call("POST", "/admin/certificates", body={"name": "x", "clearance": "ValidUser",
                                                             "colour": "red"})
        self.assertEqual(r.status, 400, r)
        self.assertIn("colour", r.json()["reason"])
        r = self.call("POST", "/admin/certificates", body="{not json")
        self.assertEqual(r.status, 400, r)
        # An edit that the policy loader would refuse never reaches the file.
        before = self.policy_file()
        tp = self.pki.client("reader").sha1
        r = self.call("PUT", "/admin/certificates/" + tp, body={"allow_ips": ["10.0.0.300/8"]})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["error"], "invalid_policy")
        self.assertEqual(self.policy_file(), before)
        r = self.call("PUT", "/admin/certificates/nothex", body={"name": "x"})
        self.assertEqual(r.status, 400, r)
        r = self.call("PUT", "/admin/certificates/" + "0" * 40, body={"name": "x"})
        self.assertEqual(r.status, 404, r)

    def test_edit_and_if_match(self):
        r = self.create("editme", format="pem")
        self.assertEqual(r.status, 201, r)
        tp = r.json()["thumbprint"]
        etag = self.etag()
        stale = '"%d"' % (int(etag.strip('"')) + 1000)
        r = self.call("PUT", "/admin/certificates/" + tp, body={"name": "edited"},
                      headers=[("If-Match", stale)])
        self.assertEqual(r.status, 412, r)
        self.assertEqual(r.header("ETag"), etag)
        self.assertIsNotNone(self.entry("editme"))
        r = self.call("DELETE", "/admin/certificates/" + tp, headers=[("If-Match", stale)])
        self.assertEqual(r.status, 412, r)
        r = self.call("PUT", "/admin/certificates/" + tp,
                      body={"name": "edited", "clearance": "ValidUser",
                            "databases": {"db2": "ReadOnly"}, "allow_ips": ["127.0.0.0/8"]},
                      headers=[("If-Match", etag)])
        self.assertEqual(r.status, 200, r)
        self.assertNotEqual(r.header("ETag"), etag)
        e = self.entry("edited")
        self.assertEqual(e["databases"], {"db2": "ReadOnly"})
        self.assertEqual(e["allow_ips"], ["127.0.0.0/8"])
        self.assertEqual(r.json()["name"], "edited")
        # The old ETag is stale now.
        r = self.call("PUT", "/admin/certificates/" + tp, body={"allow_ips": None},
                      headers=[("If-Match", etag)])
        self.assertEqual(r.status, 412, r)
        r = self.call("PUT", "/admin/certificates/" + tp, body={"allow_ips": None})
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("allow_ips", self.entry("edited"))
        # Renaming onto another entry's name is a conflict.
        r = self.call("PUT", "/admin/certificates/" + tp, body={"name": "reader"})
        self.assertEqual(r.status, 409, r)

    def test_operator_rules(self):
        admin_tp = self.pki.client("admin").sha1
        reader_tp = self.pki.client("reader").sha1
        r = self.create("op-made-ca", clearance="ClusterAdmin", client="writer")
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.json()["reason"], "insufficient_clearance")
        self.assertIsNone(self.entry("op-made-ca"))
        for method, path, body in (
                ("PUT", "/admin/certificates/" + admin_tp, {"name": "renamed"}),
                ("DELETE", "/admin/certificates/" + admin_tp, None),
                ("PUT", "/admin/certificates/" + reader_tp, {"clearance": "ClusterAdmin"})):
            r = self.call(method, path, client="writer", body=body)
            self.assertEqual(r.status, 403, (method, path, r))
            self.assertEqual(r.json()["reason"], "insufficient_clearance")
        self.assertEqual(self.entry("admin")["clearance"], "ClusterAdmin")
        self.assertEqual(self.entry("reader")["clearance"], "ValidUser")
        # What an Operator may do.
        r = self.create("op-made", client="writer", format="pem")
        self.assertEqual(r.status, 201, r)
        tp = r.json()["thumbprint"]
        r = self.call("PUT", "/admin/certificates/" + tp, client="writer",
                      body={"clearance": "Operator"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.call("DELETE", "/admin/certificates/" + tp,
                                   client="writer").status, 200)
        # A ClusterAdmin may create a ClusterAdmin.
        r = self.create("ca-made-ca", clearance="ClusterAdmin", format="pem")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.call("DELETE", "/admin/certificates/" +
                                   r.json()["thumbprint"]).status, 200)

    def test_import(self):
        # A PEM collection: two certificates become one entry with two thumbprints.
        with open(self.pki.client("unknown").cert) as f:
            unknown = f.read()
        with open(self.pki.client("notyet").cert) as f:
            notyet = f.read()
        r = self.call("POST", "/admin/certificates/import",
                      body={"name": "imported", "clearance": "ValidUser",
                            "databases": {"db1": "ReadOnly"}, "certificate": unknown + notyet})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(sorted(r.json()["thumbprints"]),
                         sorted([self.pki.client("unknown").sha1, self.pki.client("notyet").sha1,
                                 self.pki.client("unknown").sha256,
                                 self.pki.client("notyet").sha256]))
        # Issued by the private CA of state_dir: each gets a pin with its public key.
        self.assertEqual([pin.get("issuer_spki") for pin in self.entry("imported")["pins"]],
                         [ca_spki_b64(self.pki.ca.cert)] * 2)
        # "unknown" may now use the proxy.
        res = h.curl(self.pki, ["https://localhost:%d/imported" % self.port], client="unknown")
        self.assertEqual(res.status, 200, res)
        # Registered already: conflict.
        r = self.call("POST", "/admin/certificates/import",
                      body={"name": "again", "clearance": "ValidUser", "certificate": unknown})
        self.assertEqual(r.status, 409, r)
        self.assertEqual(self.call("DELETE", "/admin/certificates/" +
                                   self.pki.client("notyet").sha1).status, 200)
        # PKCS#12 with a password, base64 in JSON.
        p12 = os.path.join(self.tmp, "unknown.p12")
        subprocess.run(["openssl", "pkcs12", "-export", "-in", self.pki.client("unknown").cert,
                        "-inkey", self.pki.client("unknown").key, "-out", p12, "-passout",
                        "pass:s3cret"], check=True, capture_output=True, timeout=30)
        with open(p12, "rb") as f:
            blob = base64.b64encode(f.read()).decode()
        r = self.call("POST", "/admin/certificates/import",
                      body={"name": "from-p12", "clearance": "ValidUser",
                            "pkcs12_base64": blob, "password": "wrong"})
        self.assertEqual(r.status, 400, r)
        r = self.call("POST", "/admin/certificates/import",
                      body={"name": "from-p12", "clearance": "Operator",
                            "pkcs12_base64": blob, "password": "s3cret"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["thumbprints"], [self.pki.client("unknown").sha1,
                                                   self.pki.client("unknown").sha256])
        # Found by its SHA-256 too.
        self.assertEqual(self.call("DELETE", "/admin/certificates/" +
                                   self.pki.client("unknown").sha256).status, 200)

    def test_audit_log(self):
        r = self.create("audited", format="pem")
        self.assertEqual(r.status, 201, r)
        rid = r.header("X-Request-Id")

        def found(entries):
            return [e for e in entries if e.get("type") == "admin" and
                    e.get("request_id") == rid]
        lines = self.cg.wait_access_log(found, what="admin audit line")
        e = found(lines)[0]
        self.assertEqual((e["cert_name"], e["thumbprint"], e["method"], e["path"], e["status"]),
                         ("admin", self.pki.client("admin").sha1, "POST", "/admin/certificates",
                          201))
        self.assertIn("audited", e["target"])
        self.assertEqual(e["client"], "127.0.0.1", e)
        self.assertTrue(0 < e["client_port"] < 65536, e)

    # -- the serving certificate -----------------------------------------------------

    def test_server_certificate_and_renew(self):
        r = self.call("GET", "/admin/server-certificate")
        self.assertEqual(r.status, 200, r)
        text = r.body.decode()
        self.assertIn("-----BEGIN CERTIFICATE-----", text)
        self.assertNotIn("PRIVATE KEY", text)
        serial, der = peer_serial(self.port, self.pki)
        first = ssl.PEM_cert_to_DER_cert(text[:text.index("-----END CERTIFICATE-----") + 25])
        self.assertEqual(first, der)
        before = self.call("GET", "/admin/status").json()
        r = self.call("POST", "/admin/server-certificate/renew")
        self.assertEqual(r.status, 200, r)
        renewed = r.json()["renewed"]
        self.assertEqual(len(renewed), 2)
        after = self.call("GET", "/admin/status").json()
        self.assertEqual((after["cert_renewals"] - before["cert_renewals"],
                          after["cert_renewal_failures"]), (2, 0))
        new_serial, _ = peer_serial(self.port, self.pki)
        self.assertNotEqual(new_serial, serial)
        self.assertEqual(new_serial.lstrip("0"), renewed[0]["serial"].lstrip("0"))
        # The admin listener serves the same rotated certificate.
        admin_serial, _ = peer_serial(self.admin_port, self.pki)
        self.assertEqual(admin_serial, new_serial)

    # -- framing and limits ----------------------------------------------------------

    def test_malformed_and_limits(self):
        got, how = self.exchange(b"GARBAGE\r\n\r\n")
        self.assertTrue(got.startswith(b"HTTP/1.1 400 "), got)
        self.assertIn(how, ("eof", "reset"))
        # The head announces too much: 413 before the body is read.
        got, how = self.exchange(h.request_bytes("POST", "/admin/certificates", "localhost",
                                                 [("Content-Length", str(1024 * 1024 + 1))]))
        self.assertTrue(got.startswith(b"HTTP/1.1 413 "), got[:200])
        # Slow head: answered 408 after request_header (2 s here) and closed.
        s = h.tls_connect(self.admin_port, h.client_context(self.pki, "admin"))
        try:
            s.sendall(b"GET /admin/status HTTP/1.1\r\n")
            data, how = h.read_until_close(s, timeout=8)
            self.assertTrue(data.startswith(b"HTTP/1.1 408 "), data)
        finally:
            s.close()
        # Keep-alive: two requests on one connection.
        s = h.tls_connect(self.admin_port, h.client_context(self.pki, "admin"))
        try:
            reader = h.ResponseReader(s, 10)
            for _ in range(2):
                s.sendall(h.request_bytes("GET", "/healthz", "localhost"))
                self.assertEqual(reader.read().status, 200)
        finally:
            s.close()

    # -- cross-site requests ---------------------------------------------------------
    # Regression: an operator who imported an admin bundle into a browser presents it to
    # any page that asks, and a "simple" request needs no CORS preflight: a text/plain
    # POST /admin/certificates with a JSON body and Origin: https://evil.example was
    # answered 201 and created the entry. State-changing calls now need
    # application/json and refuse another Origin or Sec-Fetch-Site cross-site/same-site.

    def send(self, method, path, headers=(), body=b"", client="admin"):
        """send makes one request with exactly these headers (no Content-Type added)."""
        s = h.tls_connect(self.admin_port, h.client_context(self.pki, client), timeout=15)
        try:
            s.sendall(h.request_bytes(method, path, "localhost:%d" % self.admin_port,
                                      list(headers), body))
            return h.ResponseReader(s, 15).read()
        finally:
            s.close()

    def assert_refused(self, r, status, reason):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.json()["reason"], reason, r)
        self.assertTrue(r.json()["request_id"])

    def test_cross_origin_text_plain_post_creates_nothing(self):
        body = json.dumps({"name": "csrf-plain", "clearance": "ClusterAdmin",
                           "format": "pem"}).encode()
        r = self.send("POST", "/admin/certificates",
                      [("Content-Type", "text/plain;charset=UTF-8"),
                       ("Origin", "https://evil.example"), ("Sec-Fetch-Site", "cross-site")],
                      body)
        self.assert_refused(r, 403, "cross_origin_request")
        self.assertIsNone(self.entry("csrf-plain"))
        # The audit line names whose certificate the browser presented.
        rid = r.header("X-Request-Id")
        lines = self.cg.wait_access_log(
            lambda e: [x for x in e if x.get("request_id") == rid], what="audit line")
        e = [x for x in lines if x.get("request_id") == rid][0]
        self.assertEqual((e["decision"], e["reason"], e["cert_name"], e["status"]),
                         ("deny", "cross_origin_request", "admin", 403))
        # Without Origin (an older browser, sendBeacon) text/plain is refused all the same.
        r = self.send("POST", "/admin/certificates", [("Content-Type", "text/plain")], body)
        self.assert_refused(r, 415, "content_type_must_be_application_json")
        self.assertIsNone(self.entry("csrf-plain"))

    def test_form_post_is_refused(self):
        body = b"name=csrf-form&clearance=ClusterAdmin"
        form = ("Content-Type", "application/x-www-form-urlencoded")
        r = self.send("POST", "/admin/certificates", [form, ("Origin", "https://evil.example")],
                      body)
        self.assert_refused(r, 403, "cross_origin_request")
        r = self.send("POST", "/admin/certificates", [form], body)
        self.assert_refused(r, 415, "content_type_must_be_application_json")
        # A form with no fields posts an empty body, still form-encoded.
        r = self.send("POST", "/admin/reload", [form])
        self.assert_refused(r, 415, "content_type_must_be_application_json")
        r = self.send("POST", "/admin/certificates", [], body)  # a body without a type
        self.assert_refused(r, 415, "content_type_must_be_application_json")
        self.assertIsNone(self.entry("csrf-form"))

    def test_cross_site_fetch_metadata_and_delete_refused(self):
        r = self.create("csrf-victim", format="pem")
        self.assertEqual(r.status, 201, r)
        tp = r.json()["thumbprint"]
        r = self.send("DELETE", "/admin/certificates/" + tp, [("Sec-Fetch-Site", "same-site")])
        self.assert_refused(r, 403, "cross_site_request")
        r = self.send("DELETE", "/admin/certificates/" + tp, [("Origin", "null")])
        self.assert_refused(r, 403, "cross_origin_request")
        body = json.dumps({"clearance": "ClusterAdmin"}).encode()
        r = self.send("PUT", "/admin/certificates/" + tp,
                      [("Content-Type", "application/json"), ("Sec-Fetch-Site", "cross-site")],
                      body)
        self.assert_refused(r, 403, "cross_site_request")
        self.assertEqual(self.entry("csrf-victim")["clearance"], "ValidUser")
        # Reads are not state changes: a GET with a foreign Origin is still answered.
        r = self.send("GET", "/admin/status", [("Origin", "https://evil.example")])
        self.assertEqual(r.status, 200, r)

    def test_json_post_from_curl_and_from_own_origin(self):
        url = "https://localhost:%d/admin/certificates" % self.admin_port
        r = h.curl(self.pki, ["-H", "Content-Type: application/json", "--data-binary",
                              json.dumps({"name": "by-curl", "clearance": "ValidUser",
                                          "format": "pem"}), url])
        self.assertEqual(r.status, 201, r)
        self.assertIsNotNone(self.entry("by-curl"))
        origin = "https://localhost:%d" % self.admin_port
        r = self.send("POST", "/admin/certificates",
                      [("Content-Type", "application/json"), ("Origin", origin),
                       ("Sec-Fetch-Site", "same-origin")],
                      json.dumps({"name": "by-console", "clearance": "ValidUser",
                                  "format": "pem"}).encode())
        self.assertEqual(r.status, 201, r)
        self.assertIsNotNone(self.entry("by-console"))
        # Body-less calls need no type: curl -X POST .../admin/reload.
        r = h.curl(self.pki, ["-X", "POST", "https://localhost:%d/admin/reload"
                              % self.admin_port])
        self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    unittest.main()
