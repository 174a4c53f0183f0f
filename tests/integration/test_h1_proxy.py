"""HTTP/1.1 proxying through certgate with real clients (curl, Python ssl, openssl).

One echo backend and one certgate (ECDSA cert for localhost, RSA cert for rsa.test,
ALPN http/1.1, TLS >= 1.2) for the whole class; every request presents the "admin"
client certificate, which the default policy registers as ClusterAdmin.
Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_h1_proxy
"""

import hashlib
import json
import os
import socket
import ssl
import subprocess
import time
import unittest
import uuid

import certgate_harness as h

MIB = 1 << 20


class H1ProxyTest(h.CertgateTestCase, unittest.TestCase):

    def unique(self, prefix="/p"):
        return "%s-%s" % (prefix, uuid.uuid4().hex[:12])

    def curl(self, args, **kw):
        kw.setdefault("tmpdir", self.tmp)
        return h.curl(self.pki, args, **kw)

    def echo(self, r):
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.status, 200, r)
        return r.json()

    @staticmethod
    def hdrs(echo, name):
        n = name.lower()
        return [v for k, v in echo["headers"] if k.lower() == n]

    # --- basic forwarding over both TLS versions -------------------------------------

    def check_echo_roundtrip(self, tls_args):
        path = self.unique("/echo") + "?a=1&b=%2F"
        body = os.urandom(3000)
        f = os.path.join(self.tmp, "small-body")
        with open(f, "wb") as fh:
            fh.write(body)
        r = self.curl(tls_args + ["-X", "PUT", "-H", "X-Test-Header: Value 1",
                                  "-H", "Content-Type: application/octet-stream",
                                  "--data-binary", "@" + f, self.url(path)])
        e = self.echo(r)
        self.assertEqual(e["method"], "PUT")
        self.assertEqual(e["target"], path)
        self.assertEqual(e["version"], "HTTP/1.1")
        self.assertEqual(self.hdrs(e, "X-Test-Header"), ["Value 1"])
        self.assertEqual(e["body_len"], len(body))
        self.assertEqual(e["body_sha256"], hashlib.sha256(body).hexdigest())
        return r

    def test_tls12_roundtrip(self):
        r = self.check_echo_roundtrip(["--tlsv1.2", "--tls-max", "1.2", "-w",
                                       "%{ssl_verify_result}"])
        self.assertEqual(r.stdout.strip(), "0")

    def test_tls13_roundtrip(self):
        self.check_echo_roundtrip(["--tlsv1.3"])

    def test_tls_versions_negotiated(self):
        for v, want in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
            ctx = h.client_context(self.pki, min_version=v, max_version=v)
            s = h.tls_connect(self.port, ctx)
            try:
                self.assertEqual(s.version(), want)
            finally:
                s.close()

    def test_ipv6_listener(self):
        r = self.curl(["-g", "https://[::1]:%d/v6" % self.port])
        e = self.echo(r)
        self.assertEqual(e["target"], "/v6")
        self.assertEqual(self.hdrs(e, "X-Forwarded-For"), ["::1"])

    # --- connections ------------------------------------------------------------------

    def test_keepalive_reuse(self):
        f1, f2 = os.path.join(self.tmp, "ka1"), os.path.join(self.tmp, "ka2")
        r = self.curl(["-w", "%{num_connects}\n", "-o", f1, "-o", f2,
                       self.url("/ka1"), self.url("/ka2")])
        self.assertEqual(r.rc, 0, r)
        # One TLS connection for both requests...
        self.assertEqual(r.stdout.split(), ["1", "0"], r)
        with open(f1) as a, open(f2) as b:
            e1, e2 = json.load(a), json.load(b)
        # ...and one upstream connection, reused.
        self.assertEqual(e1["connection_id"], e2["connection_id"], (e1, e2))
        self.assertEqual(e2["request_index_on_connection"],
                         e1["request_index_on_connection"] + 1)

    def test_pipelining(self):
        s = h.tls_connect(self.port, h.client_context(self.pki))
        try:
            host = "localhost:%d" % self.port
            s.sendall(b"".join(h.request_bytes("GET", "/pipe%d" % i, host) for i in (1, 2, 3)))
            rd = h.ResponseReader(s, 10)
            got = [rd.read() for _ in range(3)]
        finally:
            s.close()
        self.assertEqual([r.status for r in got], [200, 200, 200])
        self.assertEqual([r.json()["target"] for r in got], ["/pipe1", "/pipe2", "/pipe3"])
        self.assertEqual(len({r.json()["connection_id"] for r in got}), 1,
                         "pipelined requests went over different upstream connections")

    # --- headers ----------------------------------------------------------------------

    def test_hop_by_hop_headers_removed(self):
        r = h.https_request(self.port, self.pki, "GET", "/hop", headers=[
            ("Connection", "Foo, keep-alive"),
            ("Foo", "bar"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "gzip"),
            ("Upgrade", "h2c"),
            ("Proxy-Connection", "keep-alive"),
            ("X-Survives", "yes"),
        ])
        self.assertEqual(r.status, 200, r)
        e = r.json()
        names = [n.lower() for n, _ in e["headers"]]
        for hop in ("foo", "keep-alive", "te", "upgrade", "proxy-connection"):
            self.assertNotIn(hop, names, e["headers"])
        self.assertEqual(self.hdrs(e, "X-Survives"), ["yes"])
        for v in self.hdrs(e, "Connection"):
            self.assertNotIn("foo", v.lower())

    def test_forwarded_headers(self):
        r = h.https_request(self.port, self.pki, "GET", "/xff", headers=[
            ("X-Forwarded-For", "203.0.113.9"),
            ("x-forwarded-for", "198.51.100.1"),
            ("X-Forwarded-Proto", "http"),
            ("X-Forwarded-Host", "evil.example"),
        ])
        self.assertEqual(r.status, 200, r)
        e = r.json()
        # Replaced, never appended to (docs/policy.md "Headers").
        self.assertEqual(self.hdrs(e, "X-Forwarded-For"), ["127.0.0.1"], e["headers"])
        self.assertEqual(self.hdrs(e, "X-Forwarded-Proto"), ["https"], e["headers"])
        self.assertEqual(self.hdrs(e, "X-Forwarded-Host"), ["localhost:%d" % self.port],
                         e["headers"])

    def test_owned_identity_headers_replaced(self):
        admin = self.pki.clients["admin"]
        r = h.https_request(self.port, self.pki, "GET", "/owned", headers=[
            ("X-Client-Name", "mallory"),
            ("x-client-name", "mallory2"),
            ("X-CLIENT-CLEARANCE", "ClusterAdmin"),
            ("X-Client-Cert-Thumbprint", "00" * 20),
            ("Client-Cert", ":AAAA:"),
        ])
        self.assertEqual(r.status, 200, r)
        e = r.json()
        self.assertEqual(self.hdrs(e, "X-Client-Name"), ["admin"], e["headers"])
        self.assertEqual(self.hdrs(e, "X-Client-Clearance"), ["ClusterAdmin"], e["headers"])
        self.assertEqual(self.hdrs(e, "X-Client-Cert-Thumbprint"), [admin.sha1], e["headers"])
        cc = self.hdrs(e, "Client-Cert")
        self.assertEqual(len(cc), 1, e["headers"])
        import base64
        self.assertEqual(cc[0], ":%s:" % base64.b64encode(admin.der).decode())

    def test_method_and_target_overrides_removed(self):
        # Regression: X-HTTP-Method-Override and its kin were forwarded, and frameworks
        # that honour them ran a DELETE or another path than the GET the route allowed.
        r = h.https_request(self.port, self.pki, "GET", "/override", headers=[
            ("X-HTTP-Method-Override", "DELETE"),
            ("x-http-method", "PUT"),
            ("X-Method-Override", "PATCH"),
            ("X-Original-URL", "/admin/cluster/reset"),
            ("X-Rewrite-URL", "/admin/cluster/reset"),
            ("X_Original_Method", "DELETE"),
        ])
        self.assertEqual(r.status, 200, r)
        names = [n.lower().replace("_", "-") for n, _ in r.json()["headers"]]
        for n in ("x-http-method-override", "x-http-method", "x-method-override",
                  "x-original-url", "x-rewrite-url", "x-original-method"):
            self.assertNotIn(n, names)

    # --- request bodies ---------------------------------------------------------------

    def test_chunked_upload_5mib(self):
        f = os.path.join(self.tmp, "up5")
        want = h.write_pattern_file(f, 5 * MIB)
        r = self.curl(["-H", "Transfer-Encoding: chunked", "--data-binary", "@" + f,
                       self.url("/upload-chunked")])
        e = self.echo(r)
        self.assertEqual(e["body_len"], 5 * MIB)
        self.assertEqual(e["body_sha256"], want)

    def test_content_length_upload_10mib(self):
        f = os.path.join(self.tmp, "up10")
        want = h.write_pattern_file(f, 10 * MIB)
        r = self.curl(["-H", "Expect:", "--data-binary", "@" + f, self.url("/upload-cl")])
        e = self.echo(r)
        self.assertEqual(e["method"], "POST")
        self.assertEqual(e["body_len"], 10 * MIB)
        self.assertEqual(e["body_sha256"], want)
        self.assertEqual(self.hdrs(e, "Content-Length"), [str(10 * MIB)])

    def test_expect_100_continue(self):
        f = os.path.join(self.tmp, "up2")
        want = h.write_pattern_file(f, 2 * MIB)
        t0 = time.monotonic()
        r = self.curl(["-H", "Expect: 100-continue", "--expect100-timeout", "5",
                       "--data-binary", "@" + f, self.url("/upload-expect")])
        elapsed = time.monotonic() - t0
        e = self.echo(r)
        self.assertEqual(e["body_sha256"], want)
        self.assertIn(100, [s for s, _ in r.responses],
                      "no 100 Continue reached the client: %r" % r.responses)
        self.assertLess(elapsed, 4.5, "curl waited for its expect timeout")

    # --- responses without bodies -----------------------------------------------------

    def test_head_then_get_on_same_connection(self):
        s = h.tls_connect(self.port, h.client_context(self.pki))
        try:
            host = "localhost:%d" % self.port
            rd = h.ResponseReader(s, 10)
            s.sendall(h.request_bytes("HEAD", "/head", host))
            r1 = rd.read(head_request=True)
            s.sendall(h.request_bytes("GET", "/head", host))
            r2 = rd.read()
            s.sendall(h.request_bytes("GET", "/after-head", host))
            r3 = rd.read()
        finally:
            s.close()
        self.assertEqual(r1.status, 200)
        self.assertEqual(r1.header("Content-Length"), "1234")
        self.assertEqual(r2.status, 200)
        self.assertEqual(r2.body, b"h" * 1234)
        self.assertEqual(r3.json()["target"], "/after-head")

    def test_head_with_curl(self):
        r = self.curl(["-I", self.url("/head")])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Length"), "1234")
        # With -I curl writes the headers as its output; no body byte may follow them.
        self.assertTrue(r.body.endswith(b"\r\n\r\n"), r.body)
        self.assertNotIn(b"hhh", r.body)

    def test_204_and_304_without_body(self):
        s = h.tls_connect(self.port, h.client_context(self.pki))
        try:
            host = "localhost:%d" % self.port
            rd = h.ResponseReader(s, 10)
            s.sendall(h.request_bytes("GET", "/status/204", host))
            r1 = rd.read()
            s.sendall(h.request_bytes("GET", "/status/304", host))
            r2 = rd.read()
            s.sendall(h.request_bytes("GET", "/after-304", host))
            r3 = rd.read()
        finally:
            s.close()
        self.assertEqual((r1.status, r1.body), (204, b""))
        self.assertIsNone(r1.header("Transfer-Encoding"), r1)
        self.assertEqual((r2.status, r2.body), (304, b""))
        self.assertEqual(r3.status, 200, "a body leaked after 204/304: %r" % r3)
        self.assertEqual(r3.json()["target"], "/after-304")

    def test_500_with_body(self):
        r = self.curl([self.url("/status/500")])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.status, 500)
        self.assertEqual(r.json()["target"], "/status/500")

    # --- downloads --------------------------------------------------------------------

    def check_download(self, query, size):
        f = os.path.join(self.tmp, "dl-" + uuid.uuid4().hex[:8])
        try:
            r = self.curl(["-w", "%{size_download}", self.url("/download?size=%d%s" % (size, query))],
                          body_file=f, timeout=120)
            self.assertEqual(r.rc, 0, r)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(os.path.getsize(f), size)
            self.assertEqual(h.sha256_file(f), h.pattern_sha256(size))
            return r
        finally:
            if os.path.exists(f):
                os.unlink(f)

    def test_download_100mib_content_length(self):
        r = self.check_download("", 100 * MIB)
        self.assertEqual(r.header("Content-Length"), str(100 * MIB))

    def test_download_20mib_chunked(self):
        self.check_download("&chunked=1", 20 * MIB)

    def test_download_until_close(self):
        self.check_download("&close=1", 7 * MIB + 3)

    # --- TLS: SNI, ALPN, versions -------------------------------------------------------

    def peer_cert(self, server_hostname):
        ctx = h.client_context(self.pki)
        s = h.tls_connect(self.port, ctx, server_hostname=server_hostname)
        try:
            return s.getpeercert(binary_form=True), s.selected_alpn_protocol()
        finally:
            s.close()

    def test_sni_selects_certificate(self):
        der, _ = self.peer_cert("rsa.test")
        self.assertEqual(hashlib.sha1(der).hexdigest().upper(), self.pki.server_rsa.sha1)
        der, _ = self.peer_cert("localhost")
        self.assertEqual(hashlib.sha1(der).hexdigest().upper(), self.pki.server.sha1)

    def test_sni_with_openssl_s_client(self):
        for name, want in (("rsa.test", "rsaEncryption"), ("localhost", "id-ecPublicKey")):
            r = subprocess.run(
                "openssl s_client -connect 127.0.0.1:%d -servername %s -CAfile %s "
                "-cert %s -key %s -alpn http/1.1 </dev/null 2>/dev/null | "
                "openssl x509 -noout -text" % (self.port, name, self.pki.ca.cert,
                                               self.pki.clients["admin"].cert,
                                               self.pki.clients["admin"].key),
                shell=True, capture_output=True, text=True, timeout=20)
            self.assertIn(want, r.stdout, (name, r.stdout[:300], r.stderr[:300]))
            self.assertIn("CN = %s" % name, r.stdout)

    def test_rsa_sni_request(self):
        r = self.curl([self.url("/rsa", host="rsa.test")])
        e = self.echo(r)
        self.assertEqual(e["target"], "/rsa")

    def test_alpn_http11(self):
        _, alpn = self.peer_cert("localhost")
        self.assertEqual(alpn, "http/1.1")
        ctx = h.client_context(self.pki, alpn=("h2", "http/1.1"))
        s = h.tls_connect(self.port, ctx)
        try:
            self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
        finally:
            s.close()

    def test_tls11_refused(self):
        ctx = h.client_context(self.pki, min_version=ssl.TLSVersion.TLSv1_1,
                               max_version=ssl.TLSVersion.TLSv1_1)
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        with self.assertRaises((ssl.SSLError, ConnectionError)) as cm:
            s = h.tls_connect(self.port, ctx)
            s.close()
        # The client must really have offered TLS 1.1 for this test to mean anything.
        self.assertNotIn("NO_PROTOCOLS_AVAILABLE", str(cm.exception))

    def test_tls11_refused_curl(self):
        r = self.curl(["--tlsv1.1", "--tls-max", "1.1", "--ciphers", "DEFAULT:@SECLEVEL=0",
                       self.url("/tls11")])
        self.assertNotEqual(r.rc, 0, r)
        self.assertIsNone(r.status)

    # --- access log -------------------------------------------------------------------

    def test_access_log(self):
        path = self.unique("/logged")
        for i in range(3):
            r = self.curl(["-X", "POST", "--data-binary", "x" * (10 + i),
                           self.url("%s/%d" % (path, i))])
            self.assertEqual(r.status, 200, r)

        def mine(entries):
            return [e for e in entries if path in str(e.get("path", ""))]
        entries = mine(self.cg.wait_access_log(lambda es: len(mine(es)) >= 3, 10))
        self.assertEqual(len(entries), 3, entries)
        for i, e in enumerate(sorted(entries, key=lambda e: e["path"])):
            self.assertEqual(e.get("status"), 200, e)
            self.assertEqual(e.get("method"), "POST", e)
            self.assertEqual(e.get("path"), "%s/%d" % (path, i), e)
            self.assertIsInstance(e.get("duration_us"), int, e)
            self.assertGreaterEqual(e["duration_us"], 0)
            self.assertTrue(any(k.startswith("bytes") for k in e), e)
            if "bytes_in" in e:
                self.assertGreaterEqual(e["bytes_in"], 10 + i, e)
            if "bytes_out" in e:
                self.assertGreater(e["bytes_out"], 0, e)


class H1MinVersion13Test(h.CertgateTestCase, unittest.TestCase):
    """A listener with tls.min_version 1.3 refuses a TLS 1.2-only client."""

    CONFIG = {"tls": {"min_version": "1.3"}}

    def test_tls12_client_refused(self):
        r = h.curl(self.pki, ["--tlsv1.2", "--tls-max", "1.2", self.url("/x")], tmpdir=self.tmp)
        self.assertNotEqual(r.rc, 0, r)
        self.assertIsNone(r.status)

    def test_tls13_client_accepted(self):
        r = h.curl(self.pki, ["--tlsv1.3", self.url("/x")], tmpdir=self.tmp)
        self.assertEqual((r.rc, r.status), (0, 200), r)


if __name__ == "__main__":
    unittest.main()
