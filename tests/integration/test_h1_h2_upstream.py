"""HTTP/1.1 clients on an HTTP/2 upstream (`protocol: "h2c"` and `"h2"`).

The bug: the HTTP/1.1 front end spoke HTTP/1.1 to every upstream, so an HTTP/1.1 client
on a listener whose upstream is h2c or h2 got 502 (a database that speaks only HTTP/2
cannot answer an HTTP/1.1 request), although the configuration accepted the
combination. Now each HTTP/1.1 exchange is a stream of the worker's shared HTTP/2
upstream sessions: the head translated (Host -> :authority, hop-by-hop fields dropped,
owned fields stripped, identity injected), bodies streamed both ways (Content-Length
and chunked requests; Content-Length, chunked with trailers, or close-delimited
responses), errors and a database that goes away mid-response reported as for
HTTP/1.1 upstreams.

The database is h2c_backend.py (python-h2, HTTP/2 with prior knowledge only, or TLS with
ALPN h2), which records what it receives; the clients are curl --http1.1 and raw TLS
sockets.
"""

import hashlib
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import certgate_harness as H  # noqa: E402
import echo_backend  # noqa: E402
from h2c_backend import H2cBackend  # noqa: E402
from test_h2_proxy import h2_policy  # noqa: E402

KIB = 1024


class H1ClientsOnH2cUpstream(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        H.set_up_testbed(cls, backend=False)
        cls.db = H2cBackend()
        cls.addClassCleanup(cls.db.close)
        cls.cg = H.start_certgate(cls.tmp, cls.pki, [cls.db.port], policy=h2_policy(cls.pki),
                                  listener={"alpn": ["h2", "http/1.1"]},
                                  upstream={"protocol": "h2c"})
        cls.addClassCleanup(cls.cg.kill)
        cls.host = "localhost:%d" % cls.cg.port

    def url(self, path):
        return "https://localhost:%d%s" % (self.cg.port, path)

    def received(self, path):
        got = H.wait_until(lambda: self.db.recorded(path), 5, what="request at the database")
        self.assertEqual(len(got), 1, got)
        return got[0]

    def connect(self, client="admin"):
        s = H.tls_connect(self.cg.port, H.client_context(self.pki, client))
        self.addCleanup(s.close)
        return s, H.ResponseReader(s)

    def test_get_with_curl(self):
        r = H.curl(self.pki, [self.url("/get/curl?x=1"), "-H", "X-Client-Clearance: ClusterAdmin",
                              "-H", "Keep-Alive: 5"], client="reader")
        self.assertEqual((r.rc, r.status), (0, 200), r)
        self.assertEqual(r.header("Content-Type"), "application/json")
        rec = r.json()
        self.assertEqual((rec["method"], rec["path"], rec["authority"], rec["scheme"]),
                         ("GET", "/get/curl?x=1", self.host, "https"))
        heads = H.lower_names(rec["headers"])
        names = {k for k, _ in heads}
        # The forged clearance is gone, certgate's identity is there once.
        self.assertEqual([v for k, v in heads if k == "x-client-clearance"], ["ValidUser"])
        self.assertEqual([v for k, v in heads if k == "x-client-name"], ["reader"])
        self.assertEqual([v for k, v in heads if k == "x-forwarded-for"], ["127.0.0.1"])
        self.assertEqual([v for k, v in heads if k == "x-forwarded-proto"], ["https"])
        self.assertEqual([v for k, v in heads if k == "x-forwarded-host"], [self.host])
        self.assertIn("user-agent", names)
        # HTTP/1.1-only fields never reach an HTTP/2 database (RFC 9113 §8.2.2).
        self.assertFalse(names & {"host", "connection", "keep-alive", "te",
                                  "transfer-encoding", "content-length"}, names)
        self.cg.wait_access_log(lambda es: any(
            e.get("path") == "/get/curl?x=1" and e.get("alpn") == "http/1.1" and
            e.get("status") == 200 and e.get("upstream") == "127.0.0.1:%d" % self.db.port
            for e in es), what="access log line of the HTTP/1.1 request")

    def test_post_256k_content_length_with_expect(self):
        body = os.urandom(256 * KIB)
        path = os.path.join(self.tmp, "post-256k.bin")
        with open(path, "wb") as f:
            f.write(body)
        r = H.curl(self.pki, [self.url("/post/256k"), "--data-binary", "@" + path,
                              "-H", "Content-Type: application/octet-stream",
                              "-H", "Expect: 100-continue"])
        self.assertEqual((r.rc, r.status), (0, 200), r)
        self.assertIn(100, [st for st, _ in r.responses], r.responses)
        rec = r.json()
        self.assertEqual(rec["body_len"], len(body))
        self.assertEqual(rec["body_sha256"], hashlib.sha256(body).hexdigest())
        heads = H.lower_names(rec["headers"])
        self.assertEqual([v for k, v in heads if k == "content-length"], [str(len(body))])
        self.assertNotIn("expect", {k for k, _ in heads})

    def test_chunked_request_body_trailers_dropped(self):
        chunks = [os.urandom(n) for n in (1, 4095, 70000, 16384, 300)]
        body = b"".join(chunks)
        req = ("POST /post/chunked HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n"
               "Content-Type: application/octet-stream\r\n\r\n" % self.host).encode()
        for c in chunks:
            req += b"%x;ext=1\r\n" % len(c) + c + b"\r\n"
        req += b"0\r\nX-Checksum: abc\r\nX-Client-Clearance: ClusterAdmin\r\n\r\n"
        s, reader = self.connect("reader")
        s.sendall(req)
        resp = reader.read()
        self.assertEqual(resp.status, 200, resp)
        rec = resp.json()
        self.assertEqual(rec["body_len"], len(body))
        self.assertEqual(rec["body_sha256"], hashlib.sha256(body).hexdigest())
        # Request trailers of HTTP/1.1 clients are dropped (docs/http2.md).
        self.assertEqual(rec["trailers"], [])
        names = {k for k, _ in H.lower_names(rec["headers"])}
        self.assertFalse(names & {"content-length", "transfer-encoding"}, names)
        self.assertEqual([v for k, v in H.lower_names(rec["headers"])
                          if k == "x-client-clearance"], ["ValidUser"])

    def test_large_response(self):
        size = 8 << 20
        r = H.curl(self.pki, [self.url("/download?size=%d" % size)],
                   body_file=os.path.join(self.tmp, "large.bin"))
        self.assertEqual((r.rc, r.status), (0, 200), r)
        self.assertEqual(r.header("Content-Length"), str(size))
        self.assertEqual(os.path.getsize(r.body_path), size)
        self.assertEqual(H.sha256_file(r.body_path), echo_backend.pattern_sha256(size))

    def test_keepalive_several_requests_on_one_connection(self):
        s, reader = self.connect()
        got = []
        for i in range(3):
            s.sendall(H.request_bytes("GET", "/ka/get/%d" % i, self.host))
            got.append(reader.read())
        s.sendall(H.request_bytes("POST", "/ka/post", self.host, body=b"x" * 5000))
        got.append(reader.read())
        s.sendall(H.request_bytes("GET", "/download?size=100000", self.host))
        got.append(reader.read())
        s.sendall(H.request_bytes("HEAD", "/download?size=12345", self.host))
        head = reader.read(head_request=True)
        # Two pipelined requests in one write.
        s.sendall(H.request_bytes("GET", "/ka/pipe/1", self.host) +
                  H.request_bytes("GET", "/ka/pipe/2", self.host))
        got.append(reader.read())
        got.append(reader.read())
        self.assertEqual([r.status for r in got], [200] * 7, got)
        self.assertEqual(got[3].json()["body_len"], 5000)
        self.assertEqual(hashlib.sha256(got[4].body).hexdigest(),
                         echo_backend.pattern_sha256(100000))
        self.assertEqual([got[5].json()["path"], got[6].json()["path"]],
                         ["/ka/pipe/1", "/ka/pipe/2"])
        # HEAD: the database's length, no body, and the connection goes on.
        self.assertEqual((head.status, head.header("Content-Length"), head.body),
                         (200, "12345", b""))
        for r in got + [head]:
            self.assertIsNone(r.header("Connection"), r)

    def test_upstream_error_status_passes_and_keeps_connection(self):
        s, reader = self.connect()
        s.sendall(H.request_bytes("GET", "/status?code=503", self.host))
        r = reader.read()
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json(), {"error": "from-db"})
        s.sendall(H.request_bytes("GET", "/status?code=404", self.host))
        self.assertEqual(reader.read().status, 404)

    def test_upstream_goes_away_mid_response(self):
        s, reader = self.connect()
        s.sendall(H.request_bytes("GET", "/abort?size=200000", self.host))
        with self.assertRaises(EOFError):
            reader.read()  # the head says 200000 bytes; fewer come, then the close
        self.cg.wait_access_log(lambda es: any(
            e.get("path") == "/abort?size=200000" and e.get("reason") == "upstream_closed"
            for e in es), what="access log line of the cut response")
        # A new session serves the next request.
        r = H.curl(self.pki, [self.url("/after/abort")])
        self.assertEqual((r.rc, r.status), (0, 200), r)

    def test_body_longer_than_content_length_never_reaches_client(self):
        # Response splitting: a database that sends more DATA than its content-length
        # must not make an HTTP/1.1 client read the excess as the next response on its
        # keep-alive connection. The response is cut and the connection closed.
        s, reader = self.connect()
        s.sendall(H.request_bytes("GET", "/overlong?size=1000", self.host))
        try:
            r = reader.read()
            self.assertEqual(len(r.body), 1000, r)
        except EOFError:
            pass  # cut before the body's end: the client knows it is incomplete
        self.assertEqual(bytes(reader.buf), b"")
        self.assertTrue(reader.at_eof(), "the connection must end after a lying response")

    def test_chunked_response_keeps_trailers(self):
        size = 300000
        s, reader = self.connect()
        s.sendall(H.request_bytes("GET", "/chunks?size=%d" % size, self.host,
                                  headers=[("TE", "trailers")]))
        r = reader.read()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Transfer-Encoding"), "chunked")
        self.assertIsNone(r.header("Content-Length"))
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), echo_backend.pattern_sha256(size))
        # x-checksum is kept; a hop-by-hop field is not passed on.
        self.assertEqual(H.lower_names(r.trailers),
                         [("x-checksum", echo_backend.pattern_sha256(size))])
        self.assertIn(("te", "trailers"), H.lower_names(self.received("/chunks?size=%d" % size)
                                                       ["headers"]))

    def test_http10_client_gets_close_delimited_body(self):
        size = 5000
        data, how = H.raw_exchange(self.cg.port, b"GET /chunks?size=%d HTTP/1.0\r\n\r\n" % size,
                                   self.pki)
        self.assertEqual(how, "eof")
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
        self.assertNotIn(b"transfer-encoding", head.lower())
        self.assertNotIn(b"content-length", head.lower())
        self.assertEqual(hashlib.sha256(body).hexdigest(), echo_backend.pattern_sha256(size))
        # No Host: the database gets the name the client's TLS connection asked for.
        self.assertEqual(self.received("/chunks?size=%d" % size)["authority"], "localhost")

    def test_upgrade_refused_with_501(self):
        s, reader = self.connect()
        s.sendall(H.request_bytes("GET", "/ws", self.host, headers=[
            ("Connection", "Upgrade"), ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")]))
        r = reader.read()
        self.assertEqual(r.status, 501, r)
        self.assertEqual(r.json()["reason"], "upgrade_needs_http1_upstream")
        self.assertEqual(self.db.recorded("/ws"), [])

    def test_denied_request_never_reaches_database(self):
        r = H.curl(self.pki, [self.url("/databases/db9/docs"), "-X", "PUT", "-d", "x"],
                   client="reader")
        self.assertEqual(r.status, 403, r)
        self.assertEqual(self.db.recorded("/databases/db9"), [])


class H1ClientsOnH2TlsUpstream(unittest.TestCase):
    """`protocol: "h2"`: TLS with ALPN h2 to the database, verified against tls.ca."""

    @classmethod
    def setUpClass(cls):
        H.set_up_testbed(cls, backend=False)
        cls.db = H2cBackend(tls=(cls.pki.server.cert, cls.pki.server.key))
        cls.addClassCleanup(cls.db.close)
        cls.cg = H.start_certgate(cls.tmp, cls.pki, [cls.db.port], policy=h2_policy(cls.pki),
                                  upstream={"protocol": "h2", "tls": {
                                      "ca": cls.pki.ca.cert, "sni": "localhost"}})
        cls.addClassCleanup(cls.cg.kill)
        cls.down = H.start_certgate(cls.tmp, cls.pki, [H.free_port()], name="certgate-down",
                                    policy=h2_policy(cls.pki), upstream={"protocol": "h2c"})
        cls.addClassCleanup(cls.down.kill)

    def test_get_and_post_over_tls(self):
        url = "https://localhost:%d" % self.cg.port
        r = H.curl(self.pki, [url + "/tls/get"])
        self.assertEqual((r.rc, r.status), (0, 200), r)
        self.assertEqual(r.json()["authority"], "localhost:%d" % self.cg.port)
        body = os.urandom(256 * KIB)
        path = os.path.join(self.tmp, "tls-post.bin")
        with open(path, "wb") as f:
            f.write(body)
        r = H.curl(self.pki, [url + "/tls/post", "--data-binary", "@" + path])
        self.assertEqual((r.rc, r.status), (0, 200), r)
        self.assertEqual(r.json()["body_sha256"], hashlib.sha256(body).hexdigest())

    def test_database_down(self):
        r = H.curl(self.pki, ["https://localhost:%d/down" % self.down.port])
        self.assertIn(r.status, (502, 503), r)
        self.assertIn(r.json()["reason"], ("no_healthy_server", "upstream_connect_failed"))


if __name__ == "__main__":
    unittest.main()
