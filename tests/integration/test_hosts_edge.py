"""The edge gateway: one certgate listener in front of a real etcd and a real InfluxDB
1.6, told apart by name (listeners[].hosts), each with its policy preset from
conf/policies and a certificate of its own.

  etcd.test   -> etcd 3.4 (upstream h2c), conf/policies/etcd.json: the "writer"
                 certificate has ReadWrite on etcd.
  influx.test -> InfluxDB 1.6 (upstream http/1.1), conf/policies/influxdb.json: the
                 "reader" certificate has ReadOnly on the database "telemetry" and
                 nothing on "secret".
The listener has no default and strict_sni: any other name is refused at the handshake.

Both databases are started by the test on loopback ports (influxd with a temporary
configuration: meta, data and wal in the test's directory, reporting off). The clients
reach the names the way they would in production, through name resolution: etcdctl,
influx and nghttp have no --resolve option, so they run in a private mount namespace
whose /etc/hosts maps etcd.test and influx.test to 127.0.0.1 (H.run_in_hosts_namespace;
needs root, as CI has); curl uses --resolve.

The influx CLI of InfluxDB 1.6 has no option to present a client certificate (only
-ssl and -unsafeSsl): it connects over TLS (verifying influx.test against the test CA
through SSL_CERT_FILE), its /ping is Public in the preset, and its query is refused with
no_certificate. The authorized InfluxDB calls (query, write, another database) are
therefore made with curl against the InfluxDB HTTP API, with the client certificate.

Fails on a certgate before host entries: it refuses the "hosts" key.

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_hosts_edge
"""

import json
import os
import shutil
import threading
import unittest
import urllib.parse

import certgate_harness as H

ROOT = os.path.normpath(os.path.join(H.HERE, "..", ".."))
PRESETS = os.path.join(ROOT, "conf", "policies")
NAMES = {"etcd.test": "127.0.0.1", "influx.test": "127.0.0.1"}

INFLUXD_CONF = """reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{dir}/meta"
[data]
  dir = "{dir}/data"
  wal-dir = "{dir}/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
"""


def preset(name, certificates):
    with open(os.path.join(PRESETS, name)) as f:
        doc = json.load(f)
    doc["certificates"] = certificates
    return doc


@unittest.skipUnless(all(shutil.which(t) for t in ("etcd", "etcdctl", "influxd", "influx",
                                                   "unshare"))
                     and os.geteuid() == 0,
                     "etcd, etcdctl, influxd, influx or unshare missing, or not root")
class EdgeGatewayTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = H.make_tempdir()
        cls.addClassCleanup(H.remove_tree, cls.tmp)
        pki_dir = os.path.join(cls.tmp, "pki")
        os.makedirs(pki_dir)
        cls.pki = H.make_pki(pki_dir)
        cls.start_etcd()
        cls.start_influxd()
        etcd_cert = H.issue_server(cls.pki, pki_dir, "etcd-server", "etcd.test", ["DNS:etcd.test"])
        influx_cert = H.issue_server(cls.pki, pki_dir, "influx-server", "influx.test",
                                   ["DNS:influx.test"])
        c = cls.pki.clients
        policies = {
            "etcd": preset("etcd.json", [
                {"name": "writer", "thumbprints": [c["writer"].sha1], "clearance": "ValidUser",
                 "databases": {"etcd": "ReadWrite"}}]),
            "influx": preset("influxdb.json", [
                {"name": "reader", "thumbprints": [c["reader"].sha1], "clearance": "ValidUser",
                 "databases": {"telemetry": "ReadOnly"}}]),
        }
        for name, doc in policies.items():
            H.write_json(os.path.join(cls.tmp, "policy-%s.json" % name), doc)
        cls.port = H.free_port()
        cfg = {
            "workers": 2,
            "log": {"level": "info", "access_log": os.path.join(cls.tmp, "access.log")},
            "listeners": [{
                "name": "edge",
                "listen": ["127.0.0.1:%d" % cls.port],
                # The listener's own certificate is served to no name: strict_sni refuses
                # every name that is not a host entry's.
                "tls": {"certificates": [{"cert": cls.pki.server.cert,
                                          "key": cls.pki.server.key}],
                        "strict_sni": True},
                "alpn": ["h2", "http/1.1"],
                "hosts": [
                    {"names": ["etcd.test"], "upstream": "etcd",
                     "policy": os.path.join(cls.tmp, "policy-etcd.json"),
                     "certificates": [{"cert": etcd_cert.cert, "key": etcd_cert.key}]},
                    {"names": ["influx.test"], "upstream": "influx",
                     "policy": os.path.join(cls.tmp, "policy-influx.json"),
                     "certificates": [{"cert": influx_cert.cert, "key": influx_cert.key}]},
                ],
            }],
            "upstreams": {
                "etcd": {"servers": ["127.0.0.1:%d" % cls.etcd_port], "protocol": "h2c"},
                "influx": {"servers": ["127.0.0.1:%d" % cls.influx_port]},
            },
        }
        path = os.path.join(cls.tmp, "certgate.json")
        H.write_json(path, cfg)
        cls.cg = H.Certgate(cls.tmp, path, cls.port)
        cls.addClassCleanup(cls.cg.kill)
        cls.cg.start()

    @classmethod
    def start_etcd(cls):
        cls.etcd_port, peer = H.free_port(), H.free_port()
        cls.etcd = H.Process([
            "etcd", "--name", "t", "--data-dir", os.path.join(cls.tmp, "etcd-data"),
            "--listen-client-urls", "http://127.0.0.1:%d" % cls.etcd_port,
            "--advertise-client-urls", "http://127.0.0.1:%d" % cls.etcd_port,
            "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
            "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
            "--initial-cluster", "t=http://127.0.0.1:%d" % peer,
        ], os.path.join(cls.tmp, "etcd"), cwd=cls.tmp)
        cls.addClassCleanup(cls.etcd.kill)
        cls.etcd.start()
        cls.etcd.wait_listening(cls.etcd_port, timeout=20)

    @classmethod
    def start_influxd(cls):
        cls.influx_port, rpc = H.free_port(), H.free_port()
        conf = os.path.join(cls.tmp, "influxdb.conf")
        with open(conf, "w") as f:
            f.write(INFLUXD_CONF.format(dir=os.path.join(cls.tmp, "influxdb"), rpc=rpc,
                                        http=cls.influx_port))
        cls.influxd = H.Process(["influxd", "-config", conf], os.path.join(cls.tmp, "influxd"),
                                cwd=cls.tmp)
        cls.addClassCleanup(cls.influxd.kill)
        cls.influxd.start()
        cls.influxd.wait_listening(cls.influx_port, timeout=30)
        # Set up directly, not through certgate: two databases, one point in each.
        for q in ("CREATE DATABASE telemetry", "CREATE DATABASE secret"):
            status, _, body = H.http_plain("127.0.0.1", cls.influx_port, "POST",
                                           "/query?" + urllib.parse.urlencode({"q": q}))
            assert status == 200, body
        for db, line in (("telemetry", b"cpu,host=a value=0.5"), ("secret", b"pay,who=b v=1")):
            status, _, body = H.http_plain("127.0.0.1", cls.influx_port, "POST",
                                           "/write?db=" + db, body=line)
            assert status == 204, body

    # ---- clients -------------------------------------------------------------------

    def etcdctl(self, client, *args):
        c = self.pki.client(client)
        env = dict(os.environ, ETCDCTL_API="3")
        r = H.run_in_hosts_namespace(
            ["etcdctl", "--endpoints", "https://etcd.test:%d" % self.port,
             "--cacert", self.pki.ca.cert, "--cert", c.cert, "--key", c.key,
             "--dial-timeout", "5s", "--command-timeout", "10s"] + list(args),
            NAMES, timeout=30, env=env)
        return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

    def influx_api(self, client, method, path, params, body=None):
        """influx_api calls the InfluxDB HTTP API at influx.test through certgate with curl
        and the client certificate |client|; returns the CurlResult."""
        url = "https://influx.test:%d%s?%s" % (self.port, path, urllib.parse.urlencode(params))
        args = ["--resolve", "influx.test:%d:127.0.0.1" % self.port, "-X", method, url]
        if body is not None:
            args += ["--data-binary", body]
        return H.curl(self.pki, args, client=client, resolve=False)

    def query(self, client, db, q):
        return self.influx_api(client, "GET", "/query", {"db": db, "q": q})

    # ---- tests ---------------------------------------------------------------------

    def test_each_name_serves_its_own_certificate(self):
        self.assertEqual(H.served_subject(self.port, "etcd.test", self.pki),
                         "CN=etcd.test,O=certgate-tests")
        self.assertEqual(H.served_subject(self.port, "influx.test", self.pki),
                         "CN=influx.test,O=certgate-tests")
        # strict_sni and no default: another name, or none, is refused at the handshake.
        self.assertIsNone(H.served_subject(self.port, "localhost", self.pki))
        self.assertIsNone(H.served_subject(self.port, None, self.pki))

    def test_influx_and_etcd_at_the_same_time(self):
        # etcdctl works on etcd.test while the InfluxDB calls run on influx.test.
        etcd_results = []

        def etcd_loop():
            for i in range(3):
                etcd_results.append(self.etcdctl("writer", "put", "edge-%d" % i, "v%d" % i))
                etcd_results.append(self.etcdctl("writer", "get", "edge-%d" % i))
        t = threading.Thread(target=etcd_loop)
        t.start()
        try:
            for _ in range(3):
                r = self.query("reader", "telemetry", "SELECT value FROM cpu")
                self.assertEqual(r.status, 200, r)
                series = r.json()["results"][0]["series"][0]
                self.assertEqual((series["name"], series["values"][0][1]), ("cpu", 0.5))
        finally:
            t.join(120)
        self.assertFalse(t.is_alive(), "etcdctl did not finish")
        for i in range(3):
            rc, out, err = etcd_results[2 * i]
            self.assertEqual((rc, out.strip()), (0, "OK"), err)
            rc, out, err = etcd_results[2 * i + 1]
            self.assertEqual((rc, out.split()), (0, ["edge-%d" % i, "v%d" % i]), err)
        entries = self.cg.access_log()
        self.assertTrue(any(e.get("host") == "etcd.test" and e.get("sni") == "etcd.test" and
                            e.get("path") == "/etcdserverpb.KV/Put" and e.get("status") == 200
                            for e in entries), entries[-5:])
        self.assertTrue(any(e.get("host") == "influx.test" and
                            e.get("path", "").startswith("/query?") and
                            e.get("database") == "telemetry" and e.get("decision") == "allow"
                            for e in entries), entries[-5:])

    def test_influx_readonly_cannot_write(self):
        r = self.influx_api("reader", "POST", "/write", {"db": "telemetry"},
                            body="cpu,host=b value=9")
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.json()["reason"], "insufficient_clearance")
        # Nothing reached the database.
        r = self.query("reader", "telemetry", "SELECT count(value) FROM cpu")
        self.assertEqual(r.json()["results"][0]["series"][0]["values"][0][1], 1)

    def test_influx_other_database_refused(self):
        r = self.query("reader", "secret", "SELECT * FROM pay")
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.json()["reason"], "database_not_allowed")
        # The name is exact: InfluxDB's database names are case-sensitive (the preset).
        r = self.query("reader", "Telemetry", "SELECT * FROM cpu")
        self.assertEqual((r.status, r.json()["reason"]), (403, "database_not_allowed"))

    def test_policies_belong_to_their_names(self):
        # writer has ReadWrite on etcd in etcd.test's policy, and nothing in influx.test's;
        # reader the other way round.
        r = self.query("writer", "telemetry", "SELECT * FROM cpu")
        self.assertEqual((r.status, r.json()["reason"]), (403, "unknown_certificate"))
        rc, out, err = self.etcdctl("reader", "get", "edge-0")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("Unauthenticated", err)

    def test_influx_cli(self):
        # The influx CLI (no client certificate option) over TLS by name: /ping is Public,
        # the query is refused for want of a certificate.
        env = dict(os.environ, SSL_CERT_FILE=self.pki.ca.cert)
        r = H.run_in_hosts_namespace(
            ["influx", "-ssl", "-host", "influx.test", "-port", str(self.port),
             "-database", "telemetry", "-execute", "SELECT * FROM cpu"],
            NAMES, timeout=30, env=env)
        out = (r.stdout + r.stderr).decode(errors="replace")
        self.assertNotEqual(r.returncode, 0, out)
        self.assertIn("forbidden", out)
        self.cg.wait_access_log(
            lambda es: any(e.get("host") == "influx.test" and e.get("path") == "/ping" and
                           e.get("status") == 204 for e in es) and
            any(e.get("host") == "influx.test" and e.get("path", "").startswith("/query?") and
                e.get("reason") == "no_certificate" and e.get("status") == 403 for e in es),
            what="the influx CLI's ping and refused query")


if __name__ == "__main__":
    unittest.main()
