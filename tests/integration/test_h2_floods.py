"""HTTP/2 floods of frames that carry no progress: empty DATA, PRIORITY, PING, SETTINGS,
unknown frame types.

The attack: one connection sends 50,000 empty DATA frames (no END_STREAM) or PRIORITY
frames, or PING / SETTINGS frames as fast as it reads the ACKs. Each costs certgate
parsing (and an ACK) and moves no request forward; before the fix none of them ever got
a GOAWAY (nghttp2 1.52 bounds only the ACKs a client leaves unread). Now each spends one
token of limits.h2_max_no_progress_frames (default 1000), earned back by progress and
by time, and an empty budget ends the connection with GOAWAY ENHANCE_YOUR_CALM.

Raw frames (hyperframe) drive the floods; a well-behaved client keeps being served
meanwhile; a gRPC client streaming many small messages (with keep-alive PINGs) runs
under a budget of 20 without being hit, and that same budget stops a burst of 25 PINGs.
"""

import os
import struct
import sys
import threading
import time
import unittest
from concurrent import futures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import certgate_harness as H  # noqa: E402
from test_h2_proxy import RawH2, h2_policy  # noqa: E402

import grpc  # noqa: E402
import hyperframe.frame as hf  # noqa: E402

ENHANCE_YOUR_CALM = 11
PROTOCOL_ERROR = 1


def raw_frame(ftype, flags, sid, payload=b""):
    """raw_frame builds a frame hyperframe cannot (unknown types)."""
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


def empty_data(sid):
    return raw_frame(0x0, 0x0, sid)


def padded_empty_data(sid):
    return raw_frame(0x0, 0x8, sid, b"\x03\x00\x00\x00")  # pad length 3, no payload


def priority(sid):
    f = hf.PriorityFrame(sid)
    f.depends_on = 0
    f.stream_weight = 15
    return f.serialize()


def ping(i):
    f = hf.PingFrame(0)
    f.opaque_data = struct.pack(">Q", i)
    return f.serialize()


def settings():
    f = hf.SettingsFrame(0)
    f.settings = {hf.SettingsFrame.MAX_CONCURRENT_STREAMS: 100}
    return f.serialize()


def unknown(i):
    return raw_frame(0x42, 0x0, 0, struct.pack(">I", i))


class Flooder:
    """Flooder sends frames on a RawH2 connection in batches, reading what comes back
    between batches like a client that keeps up, and reports the GOAWAY it got."""

    def __init__(self, c):
        self.c = c
        self.goaway = None
        self.acks = 0
        self.sent = 0

    def read(self, timeout):
        for f in self.c.frames(timeout=timeout, until=lambda f: isinstance(f, hf.GoAwayFrame)):
            if isinstance(f, hf.GoAwayFrame):
                self.goaway = f
            elif isinstance(f, (hf.PingFrame, hf.SettingsFrame)) and "ACK" in f.flags:
                self.acks += 1

    def flood(self, make, total, batch):
        for start in range(0, total, batch):
            data = b"".join(make(i) for i in range(start, min(total, start + batch)))
            try:
                self.c.send(data)
            except OSError:
                break
            self.sent += batch
            self.read(0.02)
            if self.goaway is not None:
                return
        self.read(3)


class NoProgressFloods(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        H.set_up_testbed(cls)
        cls.cg = H.start_certgate(cls.tmp, cls.pki, [cls.backend.port],
                                  policy=h2_policy(cls.pki), listener={"alpn": ["h2"]})
        cls.addClassCleanup(cls.cg.kill)

    def attack(self, make, total, batch, open_stream=False):
        """attack floods one connection while another client keeps getting answers;
        returns the Flooder."""
        stop = threading.Event()
        results = []

        def good_client():
            while not stop.is_set():
                c = RawH2(self.cg.port, self.pki)
                try:
                    c.send(c.headers(1, "/good"))
                    ok = any(isinstance(f, hf.HeadersFrame) and f.decoded and
                             dict(f.decoded).get(":status") == "200"
                             for f in c.frames(timeout=5, until=lambda f: "END_STREAM" in f.flags))
                    results.append(ok)
                finally:
                    c.close()
                time.sleep(0.05)

        t = threading.Thread(target=good_client, daemon=True)
        t.start()
        c = RawH2(self.cg.port, self.pki)
        self.addCleanup(c.close)
        if open_stream:
            # A request whose body never comes: the empty DATA frames belong to it.
            c.send(c.headers(1, "/flood", end_stream=False, method="POST"))
        fl = Flooder(c)
        try:
            fl.flood(make, total, batch)
        finally:
            time.sleep(0.2)
            stop.set()
            t.join(15)
        self.assertTrue(results and all(results), results)
        return fl

    def assert_calm(self, fl, what):
        self.assertIsNotNone(fl.goaway, "no GOAWAY after %d %s" % (fl.sent, what))
        self.assertEqual(fl.goaway.error_code, ENHANCE_YOUR_CALM, what)
        # Ended near the budget (1000), far below the 50,000 sent.
        self.assertLessEqual(fl.sent, 5000, what)

    def test_empty_data_flood(self):
        fl = self.attack(lambda i: empty_data(1), 50000, 500, open_stream=True)
        self.assert_calm(fl, "empty DATA frames")

    def test_padded_empty_data_flood(self):
        fl = self.attack(lambda i: padded_empty_data(1), 50000, 500, open_stream=True)
        self.assert_calm(fl, "padded empty DATA frames")

    def test_priority_flood(self):
        # PRIORITY frames for streams that are never opened (nghttp2 ignores them under
        # SETTINGS_NO_RFC7540_PRIORITIES without any callback).
        fl = self.attack(lambda i: priority(1 + 2 * (i % 1000)), 50000, 500)
        self.assert_calm(fl, "PRIORITY frames")

    def test_ping_flood_by_a_reading_client(self):
        # Batches of 50 and the ACKs read in between: nghttp2's outbound ACK bound never
        # fires for a client that keeps up.
        fl = self.attack(ping, 50000, 50)
        self.assert_calm(fl, "PING frames")
        self.assertGreater(fl.acks, 500)

    def test_settings_flood_by_a_reading_client(self):
        fl = self.attack(lambda i: settings(), 50000, 50)
        self.assert_calm(fl, "SETTINGS frames")

    def test_unknown_frame_type_flood(self):
        fl = self.attack(unknown, 50000, 500)
        self.assert_calm(fl, "frames of an unknown type")

    def test_window_update_zero_is_nghttp2s(self):
        # A WINDOW_UPDATE with increment 0 is a PROTOCOL_ERROR in nghttp2 already (RFC
        # 9113 §6.9): no flood possible.
        c = RawH2(self.cg.port, self.pki)
        self.addCleanup(c.close)
        c.send(raw_frame(0x8, 0x0, 0, b"\x00\x00\x00\x00"))
        goaway = [f for f in c.frames(timeout=5, until=lambda f: isinstance(f, hf.GoAwayFrame))
                  if isinstance(f, hf.GoAwayFrame)]
        self.assertTrue(goaway)
        self.assertEqual(goaway[0].error_code, PROTOCOL_ERROR)


def ident(b):
    return b


class Servicer:
    def client_stream(self, it, ctx):
        n = 0
        for m in it:
            n += len(m)
        return b"%d" % n

    def server_stream(self, req, ctx):
        for i in range(int(req)):
            yield b"m%d" % i

    def bidi(self, it, ctx):
        for m in it:
            yield m

    def handler(self):
        return grpc.method_handlers_generic_handler("test.Svc", {
            "ClientStream": grpc.stream_unary_rpc_method_handler(self.client_stream, ident, ident),
            "ServerStream": grpc.unary_stream_rpc_method_handler(self.server_stream, ident, ident),
            "Bidi": grpc.stream_stream_rpc_method_handler(self.bidi, ident, ident),
        })


class NoProgressLimitKey(unittest.TestCase):
    """limits.h2_max_no_progress_frames = 20: a burst of 25 PINGs ends the connection,
    15 do not, and a gRPC client streaming thousands of small messages with keep-alive
    PINGs is never hit."""

    LIMIT = 20

    @classmethod
    def setUpClass(cls):
        H.set_up_testbed(cls, backend=False)
        cls.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        cls.server.add_generic_rpc_handlers((Servicer().handler(),))
        cls.gport = cls.server.add_insecure_port("127.0.0.1:0")
        cls.server.start()
        cls.addClassCleanup(cls.server.stop, None)
        cls.cg = H.start_certgate(cls.tmp, cls.pki, [cls.gport], policy=h2_policy(cls.pki),
                                  listener={"alpn": ["h2"]}, upstream={"protocol": "h2c"},
                                  limits={"h2_max_no_progress_frames": cls.LIMIT}, status=True)
        cls.addClassCleanup(cls.cg.kill)

    def ping_burst(self, n):
        c = RawH2(self.cg.port, self.pki)
        self.addCleanup(c.close)
        # Let the connection settle (SETTINGS exchanged) before the burst.
        list(c.frames(timeout=0.3))
        c.send(b"".join(ping(i) for i in range(n)))
        fl = Flooder(c)
        fl.read(2)
        return c, fl

    def goaways(self):
        """goaways returns how many connections certgate ended for frames without
        progress."""
        return self.cg.metrics().value("certgate_h2_no_progress_goaways_total", listener="db")

    def test_burst_over_the_limit_ends_the_connection(self):
        before = self.goaways()
        _, fl = self.ping_burst(self.LIMIT + 5)
        self.assertIsNotNone(fl.goaway)
        self.assertEqual(fl.goaway.error_code, ENHANCE_YOUR_CALM)
        self.assertLessEqual(fl.acks, self.LIMIT)
        self.assertEqual(self.goaways(), before + 1)

    def test_burst_under_the_limit_is_fine(self):
        c, fl = self.ping_burst(self.LIMIT - 5)
        self.assertIsNone(fl.goaway)
        self.assertEqual(fl.acks, self.LIMIT - 5)
        # The connection still serves requests.
        c.send(c.headers(1, "/test.Svc/Nothing"))
        frames = list(c.frames(timeout=5, until=lambda f: f.stream_id == 1 and (
            "END_STREAM" in f.flags or isinstance(f, hf.RstStreamFrame))))
        self.assertTrue([f for f in frames if isinstance(f, hf.HeadersFrame) and f.stream_id == 1],
                        frames)
        self.assertFalse([f for f in frames if isinstance(f, hf.GoAwayFrame)])

    def test_progress_earns_the_budget_back(self):
        c, fl = self.ping_burst(15)  # with the client's SETTINGS: 4 of 20 left
        self.assertIsNone(fl.goaway)
        for i in range(8):
            # Each exchange earns 2 (the request's HEADERS, the response's HEADERS).
            sid = 1 + 2 * i
            c.send(c.headers(sid, "/test.Svc/Nothing"))
            list(c.frames(timeout=5, until=lambda f, sid=sid: f.stream_id == sid and (
                "END_STREAM" in f.flags or isinstance(f, hf.RstStreamFrame))))
        c.send(b"".join(ping(i) for i in range(15)))
        fl.read(1)
        self.assertIsNone(fl.goaway, "progress must earn the budget back")
        self.assertEqual(fl.acks, 30)
        c.send(b"".join(ping(i) for i in range(25)))
        fl.read(2)
        self.assertIsNotNone(fl.goaway, "the budget is capped at the limit")
        self.assertEqual(fl.goaway.error_code, ENHANCE_YOUR_CALM)

    def test_time_refills_the_budget(self):
        c, fl = self.ping_burst(self.LIMIT - 1)  # with the client's SETTINGS: all spent
        self.assertIsNone(fl.goaway)
        time.sleep(3.2)  # at least 3 tokens back, one a second
        c.send(b"".join(ping(i) for i in range(3)))
        fl.read(1)
        self.assertIsNone(fl.goaway)
        self.assertEqual(fl.acks, self.LIMIT + 2)

    def test_grpc_streaming_client_not_hit(self):
        before = self.goaways()
        c = self.pki.clients["admin"]
        creds = grpc.ssl_channel_credentials(H.read_bytes(self.pki.ca.cert), H.read_bytes(c.key), H.read_bytes(c.cert))
        ch = grpc.secure_channel("127.0.0.1:%d" % self.cg.port, creds, options=[
            ("grpc.ssl_target_name_override", "localhost"),
            ("grpc.default_authority", "localhost"),
            ("grpc.keepalive_time_ms", 200),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0)])
        self.addCleanup(ch.close)
        cs = ch.stream_unary("/test.Svc/ClientStream", request_serializer=ident,
                             response_deserializer=ident)
        ss = ch.unary_stream("/test.Svc/ServerStream", request_serializer=ident,
                             response_deserializer=ident)
        bd = ch.stream_stream("/test.Svc/Bidi", request_serializer=ident,
                              response_deserializer=ident)
        msgs = [b"x" * (i % 7 + 1) for i in range(3000)]
        self.assertEqual(cs(iter(msgs), timeout=30), b"%d" % sum(len(m) for m in msgs))
        self.assertEqual(len(list(ss(b"3000", timeout=30))), 3000)

        def slow():
            for i in range(2000):
                if i % 500 == 0:
                    time.sleep(0.5)  # room for keep-alive PINGs in the middle
                yield b"b%d" % i
        out = list(bd(slow(), timeout=30))
        self.assertEqual(len(out), 2000)
        # A GOAWAY could pass unseen (gRPC reconnects): the count shows none was sent.
        self.assertEqual(self.goaways(), before)


if __name__ == "__main__":
    unittest.main()
