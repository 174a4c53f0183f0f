"""TLS towards the database: an "http/1.1" upstream with "tls", and the TLS client that
"h2" upstreams share with it (proxy/tls/tls_client.c).

Regression: certgate accepted `"protocol": "http/1.1"` with a `"tls"` block but its
connection pool spoke cleartext HTTP/1.1 to the HTTPS database, so every request got a
502 (test_requests_pass_over_verified_tls and the others that expect a 200 fail on
such a binary). Also guarded: a database whose certificate is not signed by tls.ca, or
does not name tls.sni (or, without sni, the server's address), must never get a
request, and the failure must say why (502 upstream_tls_verify_failed) and mark the
server down; a database that requires a client certificate gets certgate's; a server
that accepts TCP but never finishes the handshake is given timeouts.upstream_connect;
`certgate check` and the start refuse a tls block whose files do not load.

Every backend is echo_backend.py in HTTPS mode, which logs each handshake (ok or not,
resumed or not, SNI, ALPN, client certificate) so the tests count what reached it.
"""

import os
import socket
import threading
import time
import unittest

import certgate_harness as H

MiB = 1 << 20


def fresh(backend, before):
    """fresh returns the handshake lines the backend logged after the first |before|."""
    return backend.tls_handshakes()[before:]


class SilentServer:
    """A TCP server that accepts connections and never sends a byte (a database whose TLS
    stack hangs): the client's handshake can only time out. close() stops it."""

    def __init__(self):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.conns = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(s)

    def close(self):
        self.stop.set()
        self.thread.join(5)
        for s in self.conns:
            s.close()
        self.lsock.close()


class UpstreamTlsBase(unittest.TestCase):
    """One PKI (the test CA signs every good backend), a second, unrelated PKI (the
    "rogue" CA), and helpers to start HTTPS backends and certgates in front of them."""

    @classmethod
    def setUpClass(cls):
        H.set_up_testbed(cls, backend=False)
        os.makedirs(os.path.join(cls.tmp, "rogue"))
        cls.rogue = H.make_pki(os.path.join(cls.tmp, "rogue"))
        cls.n = 0

    @classmethod
    def backend(cls, cert, client_ca=None, max_version=None):
        cls.n += 1
        b = H.Backend(cls.tmp, name="tlsbackend%d" % cls.n,
                      tls={"cert": cert.cert, "key": cert.key, "client_ca": client_ca,
                           "max_version": max_version})
        cls.addClassCleanup(b.kill)
        return b.start()

    @classmethod
    def certgate(cls, ports, tls, protocol="http/1.1", alpn=("http/1.1",), **kw):
        cls.n += 1
        cg = H.start_certgate(cls.tmp, cls.pki, ports, name="certgate%d" % cls.n,
                              listener={"alpn": list(alpn)},
                              upstream={"protocol": protocol, "tls": tls},
                              overrides={"workers": 1}, **kw)
        cls.addClassCleanup(cg.kill)
        return cg

    def get(self, cg, target, http="1.1"):
        """get sends one request through |cg| with curl; returns the CurlResult."""
        return H.curl(self.pki, ["https://localhost:%d%s" % (cg.port, target)], http=http,
                      tmpdir=self.tmp)

    def logged(self, cg, path):
        """logged waits for the access-log line of |path| and returns it."""
        entries = cg.wait_access_log(lambda es: any(e.get("path") == path for e in es),
                                     what="access log line for %s" % path)
        return [e for e in entries if e.get("path") == path][-1]


class Http11OverTls(UpstreamTlsBase):
    """An http/1.1 upstream with tls: requests pass over a verified TLS connection,
    which keep-alive reuses, and new connections resume the session."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.good = cls.backend(cls.pki.server)
        cls.cg = cls.certgate([cls.good.port], {"ca": cls.pki.ca.cert, "sni": "localhost"})

    def test_requests_pass_over_verified_tls(self):
        r = self.get(self.cg, "/verified")
        self.assertEqual(r.status, 200, r)
        echo = r.json()
        self.assertEqual(echo["target"], "/verified")
        self.assertEqual(echo["tls"]["sni"], "localhost")
        self.assertEqual(echo["tls"]["alpn"], "http/1.1")
        self.assertIn(echo["tls"]["version"], ("TLSv1.2", "TLSv1.3"))
        e = self.logged(self.cg, "/verified")
        self.assertEqual(e["status"], 200)
        self.assertEqual(e["upstream"], "127.0.0.1:%d" % self.good.port)

    def test_keepalive_reuses_the_tls_connection(self):
        """Sequential requests on one client connection (one worker) ride one pooled TLS
        connection: the backend sees one handshake, not one per request."""
        before = len(self.good.tls_handshakes())
        ka = H.KeepAlive(self.cg.port, H.client_context(self.pki))
        self.addCleanup(ka.close)
        conn_ids = set()
        for i in range(8):
            r = ka.get("/ka/%d" % i)
            self.assertEqual(r.status, 200, r)
            conn_ids.add(r.json()["connection_id"])
        self.assertEqual(len(conn_ids), 1, conn_ids)
        self.assertLessEqual(len(fresh(self.good, before)), 1)

    def test_bodies_both_ways(self):
        """A 3 MiB upload and an 8 MiB download through the TLS pool arrive intact
        (encryption waits for the socket to drain: back-pressure, not buffering)."""
        body = os.path.join(self.tmp, "upload.bin")
        sha = H.write_pattern_file(body, 3 * MiB)
        r = H.curl(self.pki, ["--data-binary", "@" + body,
                              "https://localhost:%d/upload" % self.cg.port], tmpdir=self.tmp)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["body_len"], 3 * MiB)
        self.assertEqual(r.json()["body_sha256"], sha)
        out = os.path.join(self.tmp, "download.bin")
        r = H.curl(self.pki, ["https://localhost:%d/download?size=%d" % (self.cg.port, 8 * MiB)],
                   body_file=out, tmpdir=self.tmp)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(H.sha256_file(out), H.pattern_sha256(8 * MiB))

    def test_http2_client_to_tls_http11_upstream(self):
        """The HTTP/2 -> HTTP/1.1 path takes its connections from the same TLS pool."""
        cg = self.certgate([self.good.port], {"ca": self.pki.ca.cert, "sni": "localhost"},
                           alpn=("h2", "http/1.1"))
        r = self.get(cg, "/from-h2?x=1", http="2")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["tls"]["alpn"], "http/1.1")
        out = os.path.join(self.tmp, "download-h2.bin")
        r = H.curl(self.pki, ["https://localhost:%d/download?size=%d" % (cg.port, 4 * MiB)],
                   http="2", body_file=out, tmpdir=self.tmp)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(H.sha256_file(out), H.pattern_sha256(4 * MiB))

    def test_new_connections_resume_the_session(self):
        """Without pooling every request opens a connection: after the first, they
        resume a session the server gave (no certificate exchange, cheap for both)."""
        cg = self.certgate([self.good.port], {"ca": self.pki.ca.cert, "sni": "localhost"},
                           limits={"upstream_pool_max_idle": 0})
        before = len(self.good.tls_handshakes())
        for i in range(4):
            r = self.get(cg, "/resume/%d" % i)
            self.assertEqual(r.status, 200, r)
        hs = fresh(self.good, before)
        self.assertEqual(len(hs), 4, hs)
        self.assertTrue(all(h["ok"] for h in hs), hs)
        self.assertFalse(hs[0]["resumed"], hs)
        self.assertTrue(all(h["resumed"] for h in hs[1:]), hs)


class VerificationRefused(UpstreamTlsBase):
    """The server's certificate must chain to tls.ca and name tls.sni, or the server's
    IP address without sni; otherwise no request reaches it: 502 with the reason, and
    the server is marked down."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.good = cls.backend(cls.pki.server)          # localhost, 127.0.0.1, ::1
        cls.rsa = cls.backend(cls.pki.server_rsa)       # DNS:rsa.test only
        cls.untrusted = cls.backend(cls.rogue.server)   # right names, another CA

    def expect_verify_failed(self, cg, backend, path):
        before = len(backend.tls_handshakes())
        r = self.get(cg, path)
        self.assertEqual(r.status, 502, r)
        self.assertEqual(r.json()["reason"], "upstream_tls_verify_failed", r)
        e = self.logged(cg, path)
        self.assertEqual((e["status"], e["reason"]), (502, "upstream_tls_verify_failed"))
        # The backend saw a handshake certgate abandoned, and no request.
        hs = H.wait_until(lambda: fresh(backend, before) or None, 5, what="backend handshake")
        self.assertFalse(any(h["ok"] for h in hs), hs)
        self.assertFalse(any(x.get("target") == path for x in backend.request_log()))

    def test_untrusted_ca_refused_and_server_marked_down(self):
        cg = self.certgate([self.untrusted.port], {"ca": self.pki.ca.cert, "sni": "localhost"},
                           timeouts={"upstream_down": 60000})
        self.expect_verify_failed(cg, self.untrusted, "/rogue")
        # Marked down: the next request is not even tried on it.
        before = len(self.untrusted.tls_handshakes())
        r = self.get(cg, "/rogue-again")
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json()["reason"], "no_healthy_server")
        time.sleep(0.3)
        self.assertEqual(fresh(self.untrusted, before), [])

    def test_other_server_of_the_upstream_takes_the_request(self):
        """A server that fails verification is skipped; the request goes to the next."""
        cg = self.certgate([self.untrusted.port, self.good.port],
                           {"ca": self.pki.ca.cert, "sni": "localhost"})
        for i in range(3):
            r = self.get(cg, "/failover/%d" % i)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["tls"]["sni"], "localhost")

    def test_wrong_sni_refused(self):
        cg = self.certgate([self.good.port], {"ca": self.pki.ca.cert, "sni": "db.example"})
        self.expect_verify_failed(cg, self.good, "/wrong-name")

    def test_without_sni_the_ip_address_is_verified(self):
        cg = self.certgate([self.good.port], {"ca": self.pki.ca.cert})
        r = self.get(cg, "/by-ip")
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.json()["tls"]["sni"])
        # A certificate that names only rsa.test does not name 127.0.0.1.
        cg = self.certgate([self.rsa.port], {"ca": self.pki.ca.cert})
        self.expect_verify_failed(cg, self.rsa, "/ip-not-in-cert")
        # ... but it does name rsa.test.
        cg = self.certgate([self.rsa.port], {"ca": self.pki.ca.cert, "sni": "rsa.test"})
        r = self.get(cg, "/by-name")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["tls"]["sni"], "rsa.test")

    def test_h2_upstream_reports_the_same_reason(self):
        """h2 upstreams use the same TLS client: an untrusted server is a 502 with the
        verification reason too (and never gets a stream)."""
        cg = self.certgate([self.untrusted.port], {"ca": self.pki.ca.cert, "sni": "localhost"},
                           protocol="h2", alpn=("h2",))
        before = len(self.untrusted.tls_handshakes())
        r = self.get(cg, "/h2-rogue", http="2")
        self.assertEqual(r.status, 502, r)
        self.assertEqual(r.json()["reason"], "upstream_tls_verify_failed", r)
        e = self.logged(cg, "/h2-rogue")
        self.assertEqual((e["status"], e["reason"]), (502, "upstream_tls_verify_failed"))
        hs = H.wait_until(lambda: fresh(self.untrusted, before) or None, 5,
                          what="backend handshake")
        self.assertFalse(any(h["ok"] for h in hs), hs)


class ClientCertificate(UpstreamTlsBase):
    """A database that requires a client certificate gets the one in tls.cert/tls.key.
    Without it the database refuses the connection, which never carries a request: in
    TLS 1.2 during the handshake (502 upstream_tls_handshake_failed); in TLS 1.3 after
    certgate's side of the handshake, when the request is already sent (502
    upstream_reset). Either way the server is marked down."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mtls = cls.backend(cls.pki.server, client_ca=cls.pki.ca.cert)
        cls.mtls12 = cls.backend(cls.pki.server, client_ca=cls.pki.ca.cert, max_version="1.2")

    def test_client_certificate_presented(self):
        writer = self.pki.clients["writer"]
        for backend, version in ((self.mtls, "TLSv1.3"), (self.mtls12, "TLSv1.2")):
            cg = self.certgate([backend.port], {"ca": self.pki.ca.cert, "sni": "localhost",
                                                "cert": writer.cert, "key": writer.key})
            r = self.get(cg, "/mtls")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["tls"]["version"], version)
            self.assertIn("commonName=writer", r.json()["tls"]["client_subject"])

    def refused(self, backend, path, reason):
        cg = self.certgate([backend.port], {"ca": self.pki.ca.cert, "sni": "localhost"},
                           timeouts={"upstream_down": 60000})
        before = len(backend.tls_handshakes())
        r = self.get(cg, path)
        self.assertEqual(r.status, 502, r)
        self.assertEqual(r.json()["reason"], reason, r)
        hs = H.wait_until(lambda: fresh(backend, before) or None, 5, what="backend handshake")
        self.assertFalse(any(h["ok"] for h in hs), hs)
        self.assertFalse(any(x.get("target") == path for x in backend.request_log()))
        # Marked down: the next request is not tried on it.
        before = len(backend.tls_handshakes())
        r = self.get(cg, path + "-again")
        self.assertEqual((r.status, r.json()["reason"]), (503, "no_healthy_server"), r)
        time.sleep(0.3)
        self.assertEqual(fresh(backend, before), [])

    def test_no_client_certificate_tls12(self):
        self.refused(self.mtls12, "/no-client-cert-12", "upstream_tls_handshake_failed")

    def test_no_client_certificate_tls13(self):
        self.refused(self.mtls, "/no-client-cert-13", "upstream_reset")


class HandshakeTimeout(UpstreamTlsBase):
    """A server that accepts the connection but never answers the handshake: the
    request fails after timeouts.upstream_connect (502 upstream_tls_handshake_timeout),
    for http/1.1 and h2 upstreams alike, instead of hanging."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.silent = SilentServer()
        cls.addClassCleanup(cls.silent.close)

    def check(self, protocol, alpn, http):
        cg = self.certgate([self.silent.port], {"ca": self.pki.ca.cert, "sni": "localhost"},
                           protocol=protocol, alpn=alpn,
                           timeouts={"upstream_connect": 500, "upstream_response": 30000})
        t0 = time.monotonic()
        r = self.get(cg, "/silent-" + protocol.replace("/", ""), http=http)
        elapsed = time.monotonic() - t0
        self.assertEqual(r.status, 502, r)
        self.assertEqual(r.json()["reason"], "upstream_tls_handshake_timeout", r)
        self.assertLess(elapsed, 20, "waited for upstream_response, not upstream_connect")

    def test_http11(self):
        self.check("http/1.1", ("http/1.1",), "1.1")

    def test_h2(self):
        self.check("h2", ("h2",), "2")


class FilesThatDoNotLoad(UpstreamTlsBase):
    """`certgate check` and `certgate run` refuse an upstream tls block whose files do
    not load (exit 1, one line naming the key and the file), for every protocol."""

    def write(self, name, tls, protocol="http/1.1"):
        return H.write_config(self.tmp, self.pki, H.free_port(), [H.free_port()],
                              name=name, upstream={"protocol": protocol, "tls": tls})

    def refused(self, path, key, file):
        p = H.run_certgate("check", "-c", path, ok=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("upstreams.db.tls.%s" % key, p.stderr)
        self.assertIn(file, p.stderr)
        p = H.run_certgate("run", "-c", path, ok=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn(file, p.stderr)

    def test_missing_ca(self):
        missing = os.path.join(self.tmp, "no-such-ca.pem")
        self.refused(self.write("c1.json", {"ca": missing}), "ca", missing)
        self.refused(self.write("c1h2.json", {"ca": missing}, protocol="h2"), "ca", missing)

    def test_ca_without_certificates(self):
        junk = os.path.join(self.tmp, "junk-ca.pem")
        with open(junk, "w") as f:
            f.write("not a certificate\n")
        self.refused(self.write("c2.json", {"ca": junk}), "ca", junk)

    def test_unreadable_key_and_mismatched_key(self):
        writer, reader = self.pki.clients["writer"], self.pki.clients["reader"]
        missing = os.path.join(self.tmp, "no-such.key")
        self.refused(self.write("c3.json", {"ca": self.pki.ca.cert, "cert": writer.cert,
                                            "key": missing}), "key", missing)
        self.refused(self.write("c4.json", {"ca": self.pki.ca.cert, "cert": writer.cert,
                                            "key": reader.key}), "key", reader.key)

    def test_good_files_pass_check(self):
        writer = self.pki.clients["writer"]
        path = self.write("c5.json", {"ca": self.pki.ca.cert, "cert": writer.cert,
                                      "key": writer.key, "sni": "localhost"})
        p = H.run_certgate("check", "-c", path, ok=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
