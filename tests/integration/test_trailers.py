"""Trailer smuggling of owned headers: request trailers never carry a forged identity,
framing or routing field to the database, in any front/back protocol combination.

The attack: a ValidUser sends a request whose trailers say
`x-client-clearance: ClusterAdmin`, `client-cert: ...`, `x-forwarded-for: ...`,
`host`, `content-length`, `grpc-status`, an `authorization`, a method override. A
database or framework that merges trailers into the header section (many do, for
gRPC metadata and chunked uploads) would believe them, since certgate's identity
headers went out in the head before the trailers arrived. Before the fix certgate
passed HTTP/2 request trailers to an h2/h2c database as they were.

Raw frames (hyperframe + hpack) send what a well-behaved library refuses to send; an
h2c backend (h2c_backend.py) records the trailers it receives; the HTTP/1.1 echo
backend reports chunked trailers. A harmless trailer (`x-checksum`) still passes over
HTTP/2.
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import certgate_harness as H  # noqa: E402
from h2c_backend import H2cBackend  # noqa: E402
from test_h2_proxy import RawH2, h2_policy  # noqa: E402

import hyperframe.frame as hf  # noqa: E402

# What the attacker sends as trailers: each must be dropped.
FORGED = [
    ("x-client-clearance", "ClusterAdmin"),
    ("x-client-name", "admin"),
    ("x-client-cert-thumbprint", "00" * 20),
    ("x-client-database-access", "Admin"),
    ("client-cert", ":AAAA:"),
    ("x-forwarded-client-cert", "Hash=00;Subject=\"CN=admin\""),
    ("x-forwarded-for", "10.0.0.1"),
    ("x-forwarded-host", "evil.example"),
    ("forwarded", "for=10.0.0.1"),
    ("x-real-ip", "10.0.0.1"),
    ("host", "evil.example"),
    ("content-length", "5"),
    ("grpc-status", "0"),
    ("grpc-message", "ok"),
    ("grpc-timeout", "1S"),
    ("authorization", "Bearer forged"),
    ("cookie", "session=admin"),
    ("x-http-method-override", "DELETE"),
    ("content-type", "application/json"),
    ("if-match", "*"),
    ("proxy-authorization", "Basic Zm9vOmJhcg=="),
    ("sec-fetch-site", "same-origin"),
    ("origin", "https://localhost"),
]
KEPT = [("x-checksum", "sha256=abc"), ("server-timing", "db;dur=1")]
FORGED_NAMES = {n for n, _ in FORGED}


def send_with_trailers(port, pki, path, trailers, client="reader", content_length=None):
    """send_with_trailers sends POST path with a 5-byte body and the given trailer
    block (raw, unvalidated) on a fresh connection; returns the response status (or
    "reset:<code>") and the response body."""
    c = RawH2(port, pki, client=client)
    try:
        extra = [("content-type", "application/octet-stream")]
        if content_length is not None:
            extra.append(("content-length", str(content_length)))
        head = c.headers(1, path, end_stream=False, method="POST", extra=extra)
        data = hf.DataFrame(1)
        data.data = b"hello"
        t = hf.HeadersFrame(1)
        t.data = c.enc.encode(trailers)
        t.flags.add("END_HEADERS")
        t.flags.add("END_STREAM")
        c.send(head + data.serialize() + t.serialize())
        status, body = None, b""
        for f in c.frames(timeout=5, until=lambda f: f.stream_id == 1 and (
                "END_STREAM" in f.flags or isinstance(f, hf.RstStreamFrame))):
            if f.stream_id != 1:
                continue
            if isinstance(f, hf.HeadersFrame) and f.decoded and status is None:
                status = dict(f.decoded).get(":status")
            elif isinstance(f, hf.DataFrame):
                body += f.data
            elif isinstance(f, hf.RstStreamFrame) and status is None:
                status = "reset:%d" % f.error_code
        return status, body
    finally:
        c.close()


class TrailersToH2c(unittest.TestCase):
    """HTTP/2 client -> h2c database: trailers are forwarded, filtered."""

    @classmethod
    def setUpClass(cls):
        H.set_up_testbed(cls, backend=False)
        cls.db = H2cBackend()
        cls.addClassCleanup(cls.db.close)
        cls.cg = H.start_certgate(cls.tmp, cls.pki, [cls.db.port], policy=h2_policy(cls.pki),
                                  listener={"alpn": ["h2", "http/1.1"]},
                                  upstream={"protocol": "h2c"})
        cls.addClassCleanup(cls.cg.kill)

    def received(self, path):
        got = H.wait_until(lambda: self.db.recorded(path), 5, what="request at the database")
        self.assertEqual(len(got), 1, got)
        return got[0]

    def test_owned_and_forbidden_trailers_dropped(self):
        status, _ = send_with_trailers(self.cg.port, self.pki, "/smuggle/h2c", FORGED + KEPT)
        self.assertEqual(status, "200")
        r = self.received("/smuggle/h2c")
        trailers = H.lower_names(r["trailers"])
        self.assertEqual(trailers, KEPT, "only harmless trailers may reach the database")
        # The head carries certgate's identity, once, and nothing forged.
        heads = H.lower_names(r["headers"])
        self.assertEqual([v for k, v in heads if k == "x-client-clearance"], ["ValidUser"])
        self.assertEqual([v for k, v in heads if k == "x-client-name"], ["reader"])
        self.assertEqual([v for k, v in heads if k == "x-forwarded-for"], ["127.0.0.1"])
        self.assertEqual(r["body_len"], 5)

    def test_trailers_in_other_letter_case_dropped(self):
        # HTTP/2 requires lower-case names and nghttp2 refuses the others: the stream is
        # reset and the upper-case field never reaches the database either way.
        status, _ = send_with_trailers(self.cg.port, self.pki, "/smuggle/case",
                                       [("X-Client-Clearance", "ClusterAdmin")])
        self.assertEqual(status, "reset:1")  # PROTOCOL_ERROR
        for r in self.db.recorded("/smuggle/case"):
            self.assertNotIn("x-client-clearance", {k.lower() for k, _ in r["trailers"]})

    def test_pseudo_header_trailer_never_forwarded(self):
        status, _ = send_with_trailers(self.cg.port, self.pki, "/smuggle/pseudo",
                                       [(":path", "/admin/cluster/x"), ("x-checksum", "1")])
        # nghttp2 resets the stream (pseudo-headers are not allowed in trailers); the
        # head may have reached the database already, its trailers never do.
        self.assertTrue(str(status).startswith("reset:") or status == "200", status)
        for r in self.db.recorded("/smuggle/pseudo"):
            self.assertEqual(r["trailers"], [])

    def test_only_forbidden_trailers_end_the_body_cleanly(self):
        # Every trailer dropped: the request still ends (END_STREAM on the last DATA)
        # and is answered.
        status, _ = send_with_trailers(self.cg.port, self.pki, "/smuggle/all-dropped",
                                       [("x-client-clearance", "ClusterAdmin")],
                                       content_length=5)
        self.assertEqual(status, "200")
        r = self.received("/smuggle/all-dropped")
        self.assertEqual(r["trailers"], [])
        self.assertEqual(r["body_len"], 5)

    def test_http1_chunked_trailers_to_h2c(self):
        # An HTTP/1.1 client on the same listener: chunked trailers are dropped by the
        # HTTP/1.1 front end, whatever the upstream does with the request (today the
        # HTTP/1.1 front end speaks HTTP/1.1 to every upstream, and an h2c database
        # answers it with garbage: 502).
        req = (b"POST /smuggle/h1-front HTTP/1.1\r\nHost: localhost\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
               b"X-Client-Clearance: ClusterAdmin\r\nX-Checksum: 1\r\n\r\n")
        H.raw_exchange(self.cg.port, req, self.pki, client="reader", timeout=3,
                       stop=lambda d: b"\r\n\r\n" in d)
        for r in self.db.recorded("/smuggle/h1-front"):
            self.assertFalse(FORGED_NAMES & {k.lower() for k, _ in r["trailers"]}, r)


class TrailersToHttp1(unittest.TestCase):
    """Front ends towards an HTTP/1.1 database: request trailers never reach it."""

    @classmethod
    def setUpClass(cls):
        H.set_up_testbed(cls)
        cls.cg = H.start_certgate(cls.tmp, cls.pki, [cls.backend.port],
                                  policy=h2_policy(cls.pki),
                                  listener={"alpn": ["h2", "http/1.1"]})
        cls.addClassCleanup(cls.cg.kill)

    def check_echo(self, echo):
        self.assertEqual(echo["trailers"], [])
        heads = H.lower_names(echo["headers"])
        self.assertEqual([v for k, v in heads if k == "x-client-clearance"], ["ValidUser"])
        self.assertEqual([v for k, v in heads if k == "x-forwarded-for"], ["127.0.0.1"])

    def test_h2_trailers_to_http1_dropped(self):
        # Without a length the body is chunked towards the database: still no trailer.
        status, body = send_with_trailers(self.cg.port, self.pki, "/smuggle/h2-h1",
                                          FORGED + KEPT)
        self.assertEqual(status, "200")
        echo = json.loads(body)
        self.assertEqual(echo["body_framing"], "chunked")
        self.check_echo(echo)

    def test_http1_chunked_trailers_dropped(self):
        req = (b"POST /smuggle/h1-h1 HTTP/1.1\r\nHost: localhost\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
               b"X-Client-Clearance: ClusterAdmin\r\nX-Forwarded-For: 10.0.0.1\r\n"
               b"Content-Length: 0\r\nX-Checksum: 1\r\n\r\n")
        got, how = H.raw_exchange(self.cg.port, req, self.pki, client="reader", timeout=5,
                                  stop=lambda d: d.endswith(b"}\n") or d.endswith(b"}"))
        resps = H.parse_responses(got)
        self.assertTrue(resps, (got, how))
        self.assertEqual(resps[0].status, 200)
        echo = json.loads(resps[0].body)
        self.assertEqual(echo["body_len"], 5)
        self.check_echo(echo)


if __name__ == "__main__":
    unittest.main()
