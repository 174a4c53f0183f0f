"""gRPC end to end through certgate (HTTP/2 on both sides).

A Python gRPC servicer (generic handlers, raw bytes: no protoc) listens on an h2c
loopback port; certgate terminates mTLS and forwards to it with upstream protocol h2c.
Covers unary, server streaming, client streaming, bidi, a 16 MiB message, a deadline
that expires (DEADLINE_EXCEEDED, the servicer sees the cancellation), denials
(UNAUTHENTICATED for an unknown certificate, PERMISSION_DENIED for a ReadOnly
certificate on a ReadWrite route) that never reach the servicer, and a gRPC call on an
HTTP/1.1 upstream (UNIMPLEMENTED).
"""

import hashlib
import os
import sys
import threading
import time
import unittest
from concurrent import futures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import certgate_harness as H  # noqa: E402

import grpc  # noqa: E402

BIG = 16 * 1024 * 1024 + 123
MAX_MSG = 64 * 1024 * 1024
SVC = "test.Svc"


def ident(b):
    return b


class Servicer:
    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()
        self.cancelled = threading.Event()

    def note(self, name, ctx):
        md = dict(ctx.invocation_metadata())
        with self.lock:
            self.calls.append((name, md))

    def unary(self, req, ctx):
        self.note("Unary", ctx)
        return req

    def write(self, req, ctx):
        self.note("Write", ctx)
        return b"written:" + req

    def big(self, req, ctx):
        self.note("Big", ctx)
        return hashlib.sha256(req).digest() + bytes(BIG)

    def sleep(self, req, ctx):
        self.note("Sleep", ctx)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not ctx.is_active():
                self.cancelled.set()
                break
            time.sleep(0.02)
        return b"late"

    def server_stream(self, req, ctx):
        self.note("ServerStream", ctx)
        for i in range(int(req)):
            yield b"msg-%d" % i

    def client_stream(self, it, ctx):
        self.note("ClientStream", ctx)
        h = hashlib.sha256()
        n = 0
        for m in it:
            h.update(m)
            n += 1
        return b"%d:" % n + h.hexdigest().encode()

    def bidi(self, it, ctx):
        self.note("Bidi", ctx)
        for m in it:
            yield m[::-1]

    def handler(self):
        u = grpc.unary_unary_rpc_method_handler
        return grpc.method_handlers_generic_handler(SVC, {
            "Unary": u(self.unary, ident, ident),
            "Write": u(self.write, ident, ident),
            "Big": u(self.big, ident, ident),
            "Sleep": u(self.sleep, ident, ident),
            "ServerStream": grpc.unary_stream_rpc_method_handler(self.server_stream, ident, ident),
            "ClientStream": grpc.stream_unary_rpc_method_handler(self.client_stream, ident, ident),
            "Bidi": grpc.stream_stream_rpc_method_handler(self.bidi, ident, ident),
        })


def grpc_policy(pki):
    p = H.default_policy(pki)
    p["routes"] = [
        {"path": "/%s/Write" % SVC, "database": "db1", "require": "ReadWrite"},
        {"path": "/%s/*" % SVC, "database": "db1", "require": "ReadOnly"},
        {"path": "/healthz", "require": "Public"},
        {"path": "/*", "require": "Authenticated"},
    ]
    return p


class GrpcThroughCertgate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        H.set_up_testbed(cls, backend=False)
        cls.svc = Servicer()
        cls.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=[
            ("grpc.max_receive_message_length", MAX_MSG),
            ("grpc.max_send_message_length", MAX_MSG)])
        cls.server.add_generic_rpc_handlers((cls.svc.handler(),))
        cls.gport = cls.server.add_insecure_port("127.0.0.1:0")
        cls.server.start()
        cls.addClassCleanup(cls.server.stop, None)
        policy = grpc_policy(cls.pki)
        cls.cg = H.start_certgate(cls.tmp, cls.pki, [cls.gport], policy=policy,
                                  listener={"alpn": ["h2", "http/1.1"]},
                                  upstream={"protocol": "h2c"})
        cls.addClassCleanup(cls.cg.kill)
        # A second certgate whose upstream speaks HTTP/1.1: gRPC is refused there.
        be_port = H.free_port()
        cls.cg1 = H.start_certgate(cls.tmp, cls.pki, [be_port], name="certgate-h1",
                                   policy=policy, listener={"alpn": ["h2", "http/1.1"]})
        cls.addClassCleanup(cls.cg1.kill)

    def channel(self, client="admin", port=None):
        c = self.pki.clients[client]
        with open(self.pki.ca.cert, "rb") as f:
            ca = f.read()
        with open(c.key, "rb") as f:
            key = f.read()
        with open(c.cert, "rb") as f:
            cert = f.read()
        creds = grpc.ssl_channel_credentials(ca, key, cert)
        ch = grpc.secure_channel("127.0.0.1:%d" % (port or self.cg.port), creds, options=[
            ("grpc.ssl_target_name_override", "localhost"),
            ("grpc.default_authority", "localhost"),
            ("grpc.max_receive_message_length", MAX_MSG),
            ("grpc.max_send_message_length", MAX_MSG)])
        self.addCleanup(ch.close)
        return ch

    def method(self, ch, name, kind="uu"):
        f = {"uu": ch.unary_unary, "us": ch.unary_stream, "su": ch.stream_unary,
             "ss": ch.stream_stream}[kind]
        return f("/%s/%s" % (SVC, name), request_serializer=ident, response_deserializer=ident)

    def calls(self, name):
        with self.svc.lock:
            return [md for n, md in self.svc.calls if n == name]

    def test_unary_with_identity(self):
        ch = self.channel("reader")
        out = self.method(ch, "Unary")(b"hello", timeout=10)
        self.assertEqual(out, b"hello")
        md = self.calls("Unary")[-1]
        self.assertEqual(md.get("x-client-name"), "reader")
        self.assertEqual(md.get("x-client-cert-thumbprint"), self.pki.clients["reader"].sha1)

    def test_forged_identity_stripped(self):
        ch = self.channel("reader")
        self.method(ch, "Unary")(b"x", timeout=10, metadata=(("x-client-name", "admin"),))
        md = self.calls("Unary")[-1]
        self.assertEqual(md.get("x-client-name"), "reader")

    def test_server_streaming(self):
        ch = self.channel()
        out = list(self.method(ch, "ServerStream", "us")(b"500", timeout=20))
        self.assertEqual(len(out), 500)
        self.assertEqual(out[499], b"msg-499")

    def test_client_streaming(self):
        ch = self.channel()
        msgs = [os.urandom(1000 + i) for i in range(300)]
        out = self.method(ch, "ClientStream", "su")(iter(msgs), timeout=20)
        h = hashlib.sha256(b"".join(msgs)).hexdigest().encode()
        self.assertEqual(out, b"300:" + h)

    def test_bidi(self):
        ch = self.channel()
        msgs = [b"ping-%d" % i for i in range(200)]
        out = list(self.method(ch, "Bidi", "ss")(iter(msgs), timeout=20))
        self.assertEqual(out, [m[::-1] for m in msgs])

    def test_large_message_both_ways(self):
        ch = self.channel()
        req = os.urandom(BIG)
        out = self.method(ch, "Big")(req, timeout=60)
        self.assertEqual(len(out), 32 + BIG)
        self.assertEqual(out[:32], hashlib.sha256(req).digest())

    def test_deadline_exceeded(self):
        ch = self.channel()
        self.svc.cancelled.clear()
        t0 = time.monotonic()
        with self.assertRaises(grpc.RpcError) as cm:
            self.method(ch, "Sleep")(b"", timeout=0.5)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertLess(time.monotonic() - t0, 5)
        # The cancellation reached the database (RST_STREAM upstream).
        self.assertTrue(self.svc.cancelled.wait(5), "servicer never saw the cancellation")

    def test_unknown_certificate_unauthenticated(self):
        n = len(self.calls("Unary"))
        ch = self.channel("unknown")
        with self.assertRaises(grpc.RpcError) as cm:
            self.method(ch, "Unary")(b"x", timeout=10)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        self.assertEqual(len(self.calls("Unary")), n)

    def test_readonly_on_readwrite_route_permission_denied(self):
        ch = self.channel("reader")
        with self.assertRaises(grpc.RpcError) as cm:
            self.method(ch, "Write")(b"x", timeout=10)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(self.calls("Write"), [])
        ok = self.method(self.channel("writer"), "Write")(b"x", timeout=10)
        self.assertEqual(ok, b"written:x")

    def test_grpc_on_http11_upstream_unimplemented(self):
        ch = self.channel(port=self.cg1.port)
        with self.assertRaises(grpc.RpcError) as cm:
            self.method(ch, "Unary")(b"x", timeout=10)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNIMPLEMENTED)

    def test_access_log_has_streams(self):
        ch = self.channel("reader")
        self.method(ch, "Unary")(b"log", timeout=10)
        entries = self.cg.wait_access_log(
            lambda es: any(e.get("alpn") == "h2" and e.get("stream", 0) > 0 and
                           e.get("path") == "/%s/Unary" % SVC and e.get("grpc_status") == 0
                           for e in es), what="h2 gRPC access log line")
        self.assertTrue(entries)


class GrpcOverTlsUpstream(unittest.TestCase):
    """Upstream protocol h2: TLS to the database with ALPN h2, its certificate verified
    against tls.ca for tls.sni, and certgate's own client certificate (mTLS). Also: a
    database that is down answers UNAVAILABLE."""

    @classmethod
    def setUpClass(cls):
        H.set_up_testbed(cls, backend=False)
        cls.svc = Servicer()
        cls.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        cls.server.add_generic_rpc_handlers((cls.svc.handler(),))
        creds = grpc.ssl_server_credentials(
            [(H.read_bytes(cls.pki.server.key), H.read_bytes(cls.pki.server.cert))],
            root_certificates=H.read_bytes(cls.pki.ca.cert), require_client_auth=True)
        cls.gport = cls.server.add_secure_port("127.0.0.1:0", creds)
        cls.server.start()
        cls.addClassCleanup(cls.server.stop, None)
        policy = grpc_policy(cls.pki)
        proxy_client = cls.pki.clients["writer"]
        cls.cg = H.start_certgate(cls.tmp, cls.pki, [cls.gport], policy=policy,
                                  listener={"alpn": ["h2"]},
                                  upstream={"protocol": "h2", "tls": {
                                      "ca": cls.pki.ca.cert, "cert": proxy_client.cert,
                                      "key": proxy_client.key, "sni": "localhost"}})
        cls.addClassCleanup(cls.cg.kill)
        cls.down = H.start_certgate(cls.tmp, cls.pki, [H.free_port()], name="certgate-down",
                                    policy=policy, listener={"alpn": ["h2"]},
                                    upstream={"protocol": "h2c"})
        cls.addClassCleanup(cls.down.kill)

    channel = GrpcThroughCertgate.channel
    method = GrpcThroughCertgate.method

    def test_unary_and_streaming_over_tls(self):
        ch = self.channel("reader")
        self.assertEqual(self.method(ch, "Unary")(b"tls", timeout=10), b"tls")
        out = list(self.method(ch, "Bidi", "ss")(iter([b"ab", b"cd"]), timeout=10))
        self.assertEqual(out, [b"ba", b"dc"])

    def test_upstream_down_unavailable(self):
        ch = self.channel(port=self.down.port)
        with self.assertRaises(grpc.RpcError) as cm:
            self.method(ch, "Unary")(b"x", timeout=10)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)


if __name__ == "__main__":
    unittest.main()
