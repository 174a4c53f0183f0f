"""Virtual hosts (listeners[].hosts): the SNI picks a host entry, its upstream, policy,
certificates and path routes; a request whose Host / :authority names another entry is
misdirected (421).

One certgate with three listeners in front of six echo backends:
  edge      db1.test -> A; db2.test -> B, its /ingest/ prefix -> C, its own certificate
            and a policy that does not register the "reader" certificate; *.eu.test -> W;
            a.eu.test (exact, beside the wildcard) -> E; every other name -> D (the
            listener's own upstream and policy).
  strict    the same hosts, no default, strict_sni: an unknown name is refused at the
            handshake.
  nodefault the same hosts, no default, no strict_sni: an unknown name gets 421.
Per-host policies (a certificate allowed on one name and refused on the other) and their
reload, the per-host certificate and its rotation, the access log's "host" field, the
admin API managing admin.host's policy, and `certgate check` listing the host entries.
Clients: curl (--resolve sends the SNI names to 127.0.0.1), nghttp (HTTP/2; it has no
--resolve, so it runs with its own /etc/hosts: H.run_in_hosts_namespace), openssl
s_client (-servername) for the certificate served, python ssl sockets.

Fails on a certgate before host entries: its configuration has no "hosts" key, so it
refuses to start, and with the listener's single upstream no name reaches B, C, W or E.

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_hosts
"""

import hashlib
import json
import os
import re
import subprocess
import unittest
import uuid
from datetime import datetime, timezone

import certgate_harness as H

BACKENDS = ("A", "B", "C", "W", "E", "D")


class HostsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = H.make_tempdir()
        cls.addClassCleanup(H.remove_tree, cls.tmp)
        pki_dir = os.path.join(cls.tmp, "pki")
        os.makedirs(pki_dir)
        cls.pki = H.make_pki(pki_dir)
        cls.listener_cert = H.issue_server(
            cls.pki, pki_dir, "listener", "listener.test",
            ["DNS:db1.test", "DNS:*.eu.test", "DNS:a.eu.test", "DNS:localhost",
             "IP:127.0.0.1"])
        cls.db2_cert = H.issue_server(cls.pki, pki_dir, "db2", "db2.test", ["DNS:db2.test"])
        cls.backends = {}
        for name in BACKENDS:
            b = H.Backend(cls.tmp, name="backend-" + name)
            cls.addClassCleanup(b.kill)
            b.start()
            cls.backends[name] = b
        everyone = H.default_policy(cls.pki)
        no_reader = H.default_policy(cls.pki)
        no_reader["certificates"] = [e for e in no_reader["certificates"]
                                     if e["name"] != "reader"]
        cls.policy = {}
        elsewhere = dict(everyone, allow_ips=["10.0.0.0/8"])
        for name, doc in (("default", everyone), ("db1", everyone), ("db2", no_reader),
                          ("eu", everyone), ("closed", elsewhere)):
            cls.policy[name] = os.path.join(cls.tmp, "policy-%s.json" % name)
            H.write_json(cls.policy[name], doc)
        cls.db2_doc = no_reader
        cls.db2_cert_path = os.path.join(cls.tmp, "db2-serving.crt")
        cls.db2_key_path = os.path.join(cls.tmp, "db2-serving.key")
        with open(cls.db2_cert.cert) as f:
            H.write_atomic(cls.db2_cert_path, f.read())
        with open(cls.db2_cert.key) as f:
            H.write_atomic(cls.db2_key_path, f.read())
        hosts = [
            {"names": ["db1.test"], "upstream": "A", "policy": cls.policy["db1"]},
            {"names": ["db2.test"], "upstream": "B", "policy": cls.policy["db2"],
             "certificates": [{"cert": cls.db2_cert_path, "key": cls.db2_key_path}],
             "paths": [{"prefix": "/ingest/", "upstream": "C"}]},
            {"names": ["*.eu.test"], "upstream": "W", "policy": cls.policy["eu"]},
            {"names": ["a.eu.test"], "upstream": "E", "policy": cls.policy["eu"]},
            {"names": ["closed.test"], "upstream": "A", "policy": cls.policy["closed"]},
        ]
        cls.ports = {n: H.free_port() for n in ("edge", "strict", "nodefault")}
        cls.admin_port = H.free_port()
        tls = {"certificates": [{"cert": cls.listener_cert.cert, "key": cls.listener_cert.key}]}

        def listener(name, **extra):
            d = {"name": name, "listen": ["127.0.0.1:%d" % cls.ports[name]],
                 "tls": dict(tls), "alpn": ["h2", "http/1.1"], "hosts": hosts}
            d.update(extra)
            return d
        cfg = {
            "workers": 2,
            "log": {"level": "info", "access_log": os.path.join(cls.tmp, "access.log")},
            "listeners": [
                listener("edge", upstream="D", policy=cls.policy["default"]),
                listener("strict", tls=dict(tls, strict_sni=True)),
                listener("nodefault"),
            ],
            "upstreams": {n: {"servers": ["127.0.0.1:%d" % b.port]}
                          for n, b in cls.backends.items()},
            "admin": {"listen": "127.0.0.1:%d" % cls.admin_port, "listener": "edge",
                      "host": "db2.test"},
        }
        cls.config_path = os.path.join(cls.tmp, "certgate.json")
        H.write_json(cls.config_path, cfg)
        cls.cg = H.Certgate(cls.tmp, cls.config_path, cls.ports["edge"])
        cls.addClassCleanup(cls.cg.kill)
        cls.cg.start()
        cls.port = cls.ports["edge"]

    # ---- helpers -------------------------------------------------------------------

    def curl(self, name, path, client="admin", http="1.1", headers=(), port=None):
        """curl asks https://NAME:PORT/PATH with NAME resolved to 127.0.0.1 (so NAME is
        the SNI and the Host), or https://127.0.0.1:PORT (no SNI) when name is None."""
        port = port or self.port
        args = ["--path-as-is"]
        if name:
            args += ["--resolve", "%s:%d:127.0.0.1" % (name, port)]
        for hv in headers:
            args += ["-H", hv]
        args.append("https://%s:%d%s" % (name or "127.0.0.1", port, path))
        return H.curl(self.pki, args, client=client, http=http, resolve=False)

    def nghttp(self, name, path, client="admin"):
        """nghttp asks https://NAME:PORT/PATH over HTTP/2, NAME resolving to 127.0.0.1 in
        its own /etc/hosts (nghttp sends the URL's name as SNI and :authority, and a
        :authority given with -H as both); returns (exit code, status, the run)."""
        c = self.pki.client(client)
        argv = ["nghttp", "-v", "--cert", c.cert, "--key", c.key,
                "https://%s:%d%s" % (name, self.port, path)]
        r = H.run_in_hosts_namespace(argv, {name: "127.0.0.1"}, timeout=30)
        status = re.findall(rb":status: (\d+)", r.stdout)
        return r.returncode, int(status[-1]) if status else None, r

    def which(self, target):
        """which names the backends that received |target| (asked directly)."""
        return [n for n, b in self.backends.items() if target in b.requests()]

    def routed(self, name, path, **kw):
        """routed sends PATH?id=<unique> to NAME and returns (status, backends)."""
        target = "%s%sid=%s" % (path, "&" if "?" in path else "?", uuid.uuid4().hex)
        r = self.curl(name, target, **kw)
        return r.status, self.which(target)

    def wait_log_entry(self, pred, what):
        """wait_log_entry waits for an access log line for which pred is true."""
        self.cg.wait_access_log(lambda entries: any(pred(e) for e in entries), 5.0, what)

    def policy_reloads(self, host):
        """policy_reloads reads certgate_policy_reloads_total{result="ok"} of host entry
        |host| on listener edge from the admin API's metrics."""
        r = self.admin("GET", "/metrics")
        self.assertEqual(r.status, 200)
        m = H.parse_metrics(r.body.decode())
        key = ("certgate_policy_reloads_total",
               frozenset({"listener": "edge", "host": host, "result": "ok"}.items()))
        self.assertIn(key, m.samples)
        return int(m.samples[key])

    # ---- routing -------------------------------------------------------------------

    def test_sni_picks_the_host_entry_http1(self):
        self.assertEqual(self.routed("db1.test", "/r"), (200, ["A"]))
        self.assertEqual(self.routed("db2.test", "/r"), (200, ["B"]))
        self.assertEqual(self.routed("localhost", "/r"), (200, ["D"]))
        # A client connecting by address sends no SNI: the listener's default.
        self.assertEqual(self.routed(None, "/r"), (200, ["D"]))

    def test_path_prefix_picks_the_upstream(self):
        self.assertEqual(self.routed("db2.test", "/ingest/x"), (200, ["C"]))
        self.assertEqual(self.routed("db2.test", "/ingest/a/b"), (200, ["C"]))
        # Segment boundaries: "/ingest/" does not cover "/ingest" nor "/ingestion".
        self.assertEqual(self.routed("db2.test", "/ingest"), (200, ["B"]))
        self.assertEqual(self.routed("db2.test", "/ingestion/x"), (200, ["B"]))
        # The normalized path is what is routed (and forwarded): "/x/../ingest/y" is
        # refused, "/%69ngest/y" is "/ingest/y"; letter case as the policy's routes.
        tag = uuid.uuid4().hex
        self.assertEqual(self.curl("db2.test", "/%69ngest/y?id=" + tag).status, 200)
        self.assertEqual(self.which("/ingest/y?id=" + tag), ["C"])
        self.assertEqual(self.routed("db2.test", "/INGEST/y"), (200, ["C"]))
        self.assertEqual(self.routed("db2.test", "/x/../ingest/y")[0], 400)
        # Another entry has no such prefix.
        self.assertEqual(self.routed("db1.test", "/ingest/x"), (200, ["A"]))

    def test_wildcard_and_exact(self):
        self.assertEqual(self.routed("x.eu.test", "/r"), (200, ["W"]))
        self.assertEqual(self.routed("b.eu.test", "/r"), (200, ["W"]))
        # The exact name wins over the wildcard, whatever the order in the file.
        self.assertEqual(self.routed("a.eu.test", "/r"), (200, ["E"]))
        # A client reusing a wildcard connection for another name of the same entry
        # (HTTP/2 coalescing) is served; for the exact entry's name it is misdirected.
        self.assertEqual(self.routed("b.eu.test", "/r", headers=["Host: c.eu.test"])[0], 200)
        status, got = self.routed("b.eu.test", "/r", headers=["Host: a.eu.test"])
        self.assertEqual((status, got), (421, []))

    def test_mismatched_host_is_421(self):
        cases = [
            ("db1.test", "Host: db2.test"),              # another entry
            ("db1.test", "Host: other.test"),            # a name no entry has
            ("db1.test", "Host: 127.0.0.1:%d" % self.port),  # the listener's address
            ("localhost", "Host: db1.test"),             # default connection, entry Host
            ("localhost", "Host: other.test"),           # default: Host must be the SNI
            (None, "Host: db2.test"),                    # no SNI is the default too
        ]
        for name, host in cases:
            with self.subTest(name=name, host=host):
                status, got = self.routed(name, "/r", headers=[host])
                self.assertEqual((status, got), (421, []))
        r = self.curl("db1.test", "/r", headers=["Host: db2.test"])
        self.assertEqual(r.json()["reason"], "misdirected")
        # On the default, a client that connected by address may name the address.
        self.assertEqual(self.routed(None, "/r", headers=["Host: 127.0.0.1:%d" % self.port]),
                         (200, ["D"]))
        self.assertEqual(self.routed("db1.test", "/r", headers=["Host: DB1.test:1234"]),
                         (200, ["A"]))

    def test_http2_authority(self):
        # nghttp sends the name of its URL as SNI and :authority.
        for name, path, backend in (("db2.test", "/h2", "B"), ("db2.test", "/ingest/h2", "C"),
                                    ("db1.test", "/h2", "A"), ("x.eu.test", "/h2", "W"),
                                    ("a.eu.test", "/h2", "E")):
            with self.subTest(name=name, path=path):
                target = "%s?id=%s" % (path, uuid.uuid4().hex)
                rc, status, r = self.nghttp(name, target)
                self.assertEqual((rc, status), (0, 200), r.stdout[-2000:] + r.stderr)
                self.assertEqual(self.which(target), [backend])
        # curl --http2 sends its URL's name as SNI and a Host header as :authority.
        tag = uuid.uuid4().hex
        r = self.curl("db1.test", "/h2?id=" + tag, http="2", headers=["Host: db2.test"])
        self.assertEqual(r.status, 421, r)
        self.assertEqual(self.which("/h2?id=" + tag), [])
        self.wait_log_entry(lambda e: tag in e.get("path", "") and e.get("alpn") == "h2" and
                            e.get("sni") == "db1.test" and e.get("authority") == "db2.test"
                            and e.get("status") == 421 and e.get("host") == "db1.test",
                            "the HTTP/2 421 in the access log")
        self.assertEqual(self.routed("db2.test", "/ingest/c2", http="2"), (200, ["C"]))
        self.assertEqual(self.routed("localhost", "/r", http="2", headers=["Host: db1.test"]),
                         (421, []))

    def test_no_default_unknown_name_is_421(self):
        # nodefault serves no name but its hosts': the handshake completes (no
        # strict_sni) and every request is misdirected.
        port = self.ports["nodefault"]
        self.assertEqual(self.curl("db1.test", "/r", port=port).status, 200)
        r = self.curl("localhost", "/r", port=port)
        self.assertEqual(r.status, 421, r)
        self.assertEqual(self.curl(None, "/r", port=port).status, 421)

    def test_strict_sni_refuses_unknown_names_at_the_handshake(self):
        port = self.ports["strict"]
        self.assertEqual(self.curl("db2.test", "/r", port=port).status, 200)
        self.assertEqual(self.curl("x.eu.test", "/r", port=port).status, 200)
        for name in ("localhost", None):
            with self.subTest(name=name):
                r = self.curl(name, "/r", port=port)
                self.assertIsNone(r.status, r)
                self.assertNotEqual(r.rc, 0)
        self.assertIsNone(H.served_subject(port, "other.test", self.pki))
        self.wait_log_entry(lambda e: e.get("listener") == "strict" and
                            e.get("reason") == "unknown_sni" and e.get("sni") == "other.test",
                            "an unknown_sni refusal")

    # ---- policies and certificates --------------------------------------------------

    def admin(self, method, path, client="admin", body=None):
        data = json.dumps(body).encode() if body is not None else b""
        headers = [("Content-Type", "application/json")] if body is not None else []
        s = H.tls_connect(self.admin_port, H.client_context(self.pki, client), timeout=15)
        try:
            s.sendall(H.request_bytes(method, path, "localhost:%d" % self.admin_port, headers,
                                      data))
            return H.ResponseReader(s, 15).read()
        finally:
            s.close()

    def test_admin_explain_predicts_the_host_rule(self):
        # Explain on admin.host's entry answers what the proxy does on its connections.
        cases = [("db2.test", "DB2.test:%d" % self.port, "allow", 200),
                 ("db2.test", "db1.test", "misdirected", 421),
                 ("db1.test", "db1.test", "misdirected", 421),
                 ("db2.test", "127.0.0.1:%d" % self.port, "misdirected", 421)]
        with open(self.pki.client("admin").cert) as f:
            pem = f.read()
        for sni, host, want, status in cases:
            with self.subTest(sni=sni, host=host):
                r = self.admin("POST", "/admin/explain",
                               body={"method": "GET", "path": "/x", "sni": sni, "host": host,
                                     "certificate": pem})
                self.assertEqual(r.status, 200, r)
                j = r.json()
                self.assertEqual(j["host"], "db2.test")
                self.assertEqual(j["reason"] if want != "allow" else j["decision"], want)
                got = self.curl(sni, "/x", headers=["Host: " + host])
                if sni == "db2.test":
                    self.assertEqual(got.status, status)

    def test_admin_api_manages_admin_host(self):
        # admin.host = db2.test: the API authorizes against db2's policy (reader is not
        # in it, though the listener's own policy has it), shows it and edits its file.
        r = self.admin("GET", "/admin/policy")
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual((j["listener"], j["host"], j["file"]),
                         ("edge", "db2.test", self.policy["db2"]))
        hosts = {e["name"]: e for e in j["hosts"]}
        self.assertEqual(set(hosts), {"db1.test", "db2.test", "*.eu.test", "a.eu.test",
                                      "closed.test", ""})
        self.assertEqual(hosts["db2.test"]["paths"], [{"prefix": "/ingest/", "upstream": "C"}])
        self.assertEqual((hosts["db2.test"]["upstream"], hosts["db2.test"]["managed"]),
                         ("B", True))
        self.assertEqual((hosts[""]["upstream"], hosts[""]["policy_file"], hosts[""]["managed"]),
                         ("D", self.policy["default"], False))
        self.assertEqual(self.admin("GET", "/admin/whoami").json()["host"], "db2.test")
        r = self.admin("GET", "/admin/policy", client="reader")
        self.assertEqual((r.status, r.json()["reason"]), (403, "unknown_certificate"))
        # Deleting the writer's entry changes db2's policy only.
        self.assertEqual(self.curl("db2.test", "/w", client="writer").status, 200)
        before = self.policy_reloads("db2.test")
        r = self.admin("DELETE", "/admin/certificates/" + self.pki.client("writer").sha1)
        self.assertEqual(r.status, 200, r)
        # The API answers once the new policy is in force.
        self.assertEqual(self.policy_reloads("db2.test"), before + 1)
        self.assertEqual(self.curl("db2.test", "/w", client="writer").status, 403)
        self.assertEqual(self.curl("db1.test", "/w", client="writer").status, 200)
        with open(self.policy["db2"]) as f:
            self.assertNotIn(self.pki.client("writer").sha1, f.read())
        with open(self.policy["db1"]) as f:
            self.assertIn(self.pki.client("writer").sha1, f.read())

    def test_check_shows_hosts(self):
        r = H.run_certgate("check", "-c", self.config_path)
        out = r.stdout
        self.assertIn("host db2.test: db2.test -> upstream B", out)
        self.assertIn("path /ingest/ -> upstream C", out)
        self.assertIn("host *.eu.test: *.eu.test -> upstream W", out)
        self.assertRegex(out, r"policy %s: \d+ certificates, 2 routes" % re.escape(self.policy["db2"]))
        self.assertIn("CN = db2.test", out.replace("/CN=", "CN = "))
        self.assertIn("admin 127.0.0.1:%d (listener edge, host db2.test)" % self.admin_port, out)
        # A host entry's policy that does not load fails the check, naming the file.
        with open(self.config_path) as f:
            cfg = json.load(f)
        broken = os.path.join(self.tmp, "broken-policy.json")
        with open(broken, "w") as f:
            f.write('{"routes": [{"path": "/x", "require": "Nobody"}]}')
        cfg["listeners"][0]["hosts"][2]["policy"] = broken
        path = os.path.join(self.tmp, "check-broken.json")
        H.write_json(path, cfg)
        r = H.run_certgate("check", "-c", path, ok=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("broken-policy.json", r.stderr)
        # So does a host entry's certificate that does not load, and `run` refuses to
        # start with it.
        cfg["listeners"][0]["hosts"][2]["policy"] = self.policy["eu"]
        cfg["listeners"][0]["hosts"][2]["certificates"] = [
            {"cert": self.db2_cert.cert, "key": self.listener_cert.key}]
        H.write_json(path, cfg)
        r = H.run_certgate("check", "-c", path, ok=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("key does not match certificate", r.stderr)
        cfg["listeners"] = cfg["listeners"][:1]
        cfg["listeners"][0]["listen"] = ["127.0.0.1:%d" % H.free_port()]
        del cfg["admin"]
        H.write_json(path, cfg)
        r = subprocess.run([H.certgate_bin(), "run", "-c", path], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("key does not match certificate", r.stderr)

    def test_address_refused_by_the_host_entry_policy(self):
        # Before the handshake the entry is not known: the connection is accepted since
        # other entries' policies allow 127.0.0.1. Once the SNI names closed.test, whose
        # policy allows only 10.0.0.0/8, it is closed before any request is read.
        ctx = H.client_context(self.pki, "admin", verify=False)
        s = H.tls_connect(self.port, ctx, "closed.test")
        try:
            s.sendall(H.request_bytes("GET", "/closed", "closed.test"))
            got, _ = H.read_until_close(s, timeout=10)
        except OSError:
            got = b""
        finally:
            s.close()
        self.assertEqual(got, b"")
        self.assertNotIn("/closed", self.backends["A"].requests())
        self.wait_log_entry(lambda e: e.get("host") == "closed.test" and
                            e.get("reason") == "ip_not_allowed" and e.get("status") == 0,
                            "the refusal of the connection to closed.test")

    def test_per_host_policy(self):
        # reader is registered in db1's policy, not in db2's.
        self.assertEqual(self.routed("db1.test", "/p", client="reader"), (200, ["A"]))
        r = self.curl("db2.test", "/p", client="reader")
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json()["reason"], "unknown_certificate")
        self.assertEqual(self.routed("db2.test", "/ingest/p", client="reader")[0], 403)
        self.assertEqual(self.routed("db2.test", "/p", client="admin"), (200, ["B"]))

    def test_access_log_names_the_host_entry(self):
        tag = uuid.uuid4().hex
        self.curl("db2.test", "/ingest/log?t=" + tag)
        self.curl("localhost", "/log?t=" + tag)
        self.curl("b.eu.test", "/log?t=" + tag)

        def lines():
            return [e for e in self.cg.access_log() if tag in json.dumps(e)]
        H.wait_until(lambda: len(lines()) >= 3, 5, what="three access log lines")
        got = {(e["sni"], e["host"], e["upstream"].rsplit(":", 1)[1]) for e in lines()}
        self.assertEqual(got, {("db2.test", "db2.test", str(self.backends["C"].port)),
                               ("localhost", "", str(self.backends["D"].port)),
                               ("b.eu.test", "*.eu.test", str(self.backends["W"].port))})

    def test_per_host_certificate(self):
        self.assertEqual(H.served_subject(self.port, "db2.test", self.pki),
                         "CN=db2.test,O=certgate-tests")
        self.assertEqual(H.served_subject(self.port, "db1.test", self.pki),
                         "CN=listener.test,O=certgate-tests")
        self.assertEqual(H.served_subject(self.port, "other.test", self.pki),
                         "CN=listener.test,O=certgate-tests")
        # Its expiry is in the metrics with the listener's: an alert covers both.
        page = self.admin("GET", "/metrics").body.decode()
        for cn in ("db2.test", "listener.test"):
            self.assertIn('certgate_certificate_expiry_timestamp_seconds{kind="server",'
                          'name="%s",' % cn, page)

    def test_zz_per_host_policy_and_certificate_reload(self):
        # Runs last: it changes db2's policy and certificate files.
        self.assertEqual(self.curl("db2.test", "/p", client="reader").status, 403)
        db1 = H.KeepAlive(self.port, H.client_context(self.pki, "reader"), "db1.test")
        self.addCleanup(db1.close)
        self.assertEqual(db1.get("/before").status, 200)
        doc = json.loads(json.dumps(self.db2_doc))
        doc["certificates"].append({"name": "reader", "thumbprints":
                                    [self.pki.client("reader").sha1],
                                    "clearance": "ValidUser"})
        before = {n: self.policy_reloads(n) for n in ("db1.test", "db2.test")}
        H.write_atomic(self.policy["db2"], doc)
        H.wait_until(lambda: self.policy_reloads("db2.test") == before["db2.test"] + 1, 10,
                     what="db2's policy reloaded")
        # Only db2's slot was reloaded: db1's file did not change.
        self.assertEqual(self.policy_reloads("db1.test"), before["db1.test"])
        self.assertEqual(self.routed("db2.test", "/p2", client="reader"), (200, ["B"]))
        # The open connection to db1 goes on, on its own policy.
        self.assertEqual(db1.get("/after").status, 200)
        # A new certificate for db2 is served to new handshakes.
        rotated = H.issue_server(self.pki, self.tmp, "db2-rotated", "db2-rotated.test",
                               ["DNS:db2.test"])
        with open(rotated.key) as f:
            H.write_atomic(self.db2_key_path, f.read())
        with open(rotated.cert) as f:
            H.write_atomic(self.db2_cert_path, f.read())
        H.wait_until(lambda: H.served_subject(self.port, "db2.test", self.pki) ==
                     "CN=db2-rotated.test,O=certgate-tests", 10,
                     what="db2's new certificate served")
        self.assertEqual(H.served_subject(self.port, "db1.test", self.pki),
                         "CN=listener.test,O=certgate-tests")
        self.cg.check_sanitizers()


class HostCertificateRenewalTest(unittest.TestCase):
    """A host entry's own certificate, issued by the CA in state_dir for 90 seconds (55 s
    of them in the past), is renewed before it expires and served to new handshakes,
    as a listener's is; the listener's certificate is left alone."""

    def test_host_certificate_renewed_before_expiry(self):
        work = H.make_tempdir()
        self.addCleanup(H.remove_tree, work)
        os.makedirs(os.path.join(work, "pki"))
        pki = H.make_pki(os.path.join(work, "pki"))
        state = os.path.join(work, "state")
        ca = os.path.join(state, "ca")
        H.run_certgate("ca", "init", "--dir", ca, "--name", "host renewal CA")
        crt, key, not_after = H.issue_short_lived(ca, work, "host")
        backend = H.Backend(work)
        self.addCleanup(backend.kill)
        backend.start()
        policy = os.path.join(work, "policy.json")
        cg = H.start_certgate(
            work, pki, [backend.port], overrides={"state_dir": state},
            tls={"certificates": [{"cert": pki.server_rsa.cert, "key": pki.server_rsa.key}]},
            listener={"hosts": [{"names": ["localhost"], "upstream": "db", "policy": policy,
                                 "certificates": [{"cert": crt, "key": key}]}]},
            status=True)
        self.addCleanup(cg.kill)
        ctx = H.client_context(pki, "admin", verify=False)

        def serial(name):
            s = H.tls_connect(cg.port, ctx, name, timeout=5)
            try:
                der = s.getpeercert(binary_form=True)
            finally:
                s.close()
            return hashlib.sha256(der).hexdigest()
        first = serial("localhost")
        listener_cert = serial("rsa.test")
        deadline = (not_after - datetime.now(timezone.utc)).total_seconds() - 2
        self.assertGreater(deadline, 10)
        H.wait_until(lambda: serial("localhost") != first, deadline, 0.2,
                     "the host entry's renewed certificate")
        self.assertLess(datetime.now(timezone.utc), not_after, "renewed only after expiry")
        self.assertEqual(serial("rsa.test"), listener_cert)
        # One renewal: the host entry's certificate (the listener's is not the CA's).
        self.assertEqual(cg.metrics().value("certgate_cert_renewals_total"), 1)
        r = H.curl(pki, ["-k", "https://localhost:%d/after-renewal" % cg.port])
        self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    unittest.main()
