"""HTTP/2 on the client side, translated to the HTTP/1.1 echo backend.

curl --http2 and nghttp move bodies both ways (hashed at both ends), h2load runs many
multiplexed streams, python-h2 checks denials (403 JSON; gRPC trailers-only with
grpc-status 16 / 7), and raw frames check the protections: rapid reset, CONTINUATION
flood, too many concurrent streams (REFUSED_STREAM), an oversized header list, graceful
drain (GOAWAY). None of the refused requests may reach the backend, and a well-behaved
client on another connection keeps getting answers during the attacks.
"""

import hashlib
import json
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import certgate_harness as H  # noqa: E402

import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import hpack  # noqa: E402
import hyperframe.frame as hf  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def h2_policy(pki):
    p = H.default_policy(pki)
    p["routes"] = [
        {"path": "/healthz", "require": "Public"},
        {"path": "/public/*", "require": "Public"},
        {"path": "/databases/{db}/*", "methods": ["GET", "HEAD"], "require": "ReadOnly"},
        {"path": "/databases/{db}/*", "require": "ReadWrite"},
        {"path": "/*", "require": "Authenticated"},
    ]
    return p


class RawH2:
    """RawH2 is a TLS connection speaking frames directly (hyperframe + hpack), so that
    a test can send what a well-behaved library refuses to send."""

    def __init__(self, port, pki, client="admin", timeout=10.0):
        ctx = H.client_context(pki, client, alpn=("h2",))
        self.sock = H.tls_connect(port, ctx, timeout=timeout)
        assert self.sock.selected_alpn_protocol() == "h2", self.sock.selected_alpn_protocol()
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.buf = b""
        self.sock.sendall(PREFACE + hf.SettingsFrame(0).serialize())
        self.port = port

    def headers(self, sid, path, end_stream=True, extra=(), method="GET"):
        block = self.enc.encode([(":method", method), (":scheme", "https"),
                                 (":authority", "localhost:%d" % self.port),
                                 (":path", path)] + list(extra))
        f = hf.HeadersFrame(sid)
        f.data = block
        f.flags.add("END_HEADERS")
        if end_stream:
            f.flags.add("END_STREAM")
        return f.serialize()

    def send(self, data):
        self.sock.sendall(data)

    def frames(self, timeout=5.0, until=None):
        """frames yields frames until the connection closes, timeout, or until(frame)."""
        deadline = time.monotonic() + timeout
        while True:
            while len(self.buf) >= 9:
                f, length = hf.Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) < 9 + length:
                    break
                f.parse_body(memoryview(self.buf[9:9 + length]))
                self.buf = self.buf[9 + length:]
                if isinstance(f, (hf.HeadersFrame, hf.ContinuationFrame)):
                    try:
                        f.decoded = self.dec.decode(f.data)
                    except Exception:  # noqa: BLE001
                        f.decoded = None
                yield f
                if until is not None and until(f):
                    return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.sock.settimeout(left)
            try:
                b = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                return
            except (ConnectionResetError, OSError):
                return
            if not b:
                return
            self.buf += b

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def h2_request(port, pki, path, client="admin", method="GET", headers=(), body=b"",
               timeout=10.0):
    """h2_request sends one request with python-h2; returns (status, headers dict,
    body, trailers dict)."""
    ctx = H.client_context(pki, client, alpn=("h2",))
    s = H.tls_connect(port, ctx, timeout=timeout)
    try:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        sid = conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", "https"), (":authority", "localhost:%d" % port),
                (":path", path)] + list(headers)
        conn.send_headers(sid, hdrs, end_stream=not body)
        if body:
            conn.send_data(sid, body, end_stream=True)
        s.sendall(conn.data_to_send())
        status, rh, data, trailers = None, {}, b"", {}
        deadline = time.monotonic() + timeout
        done = False
        while not done and time.monotonic() < deadline:
            b = s.recv(65536)
            if not b:
                break
            for ev in conn.receive_data(b):
                if isinstance(ev, h2.events.ResponseReceived):
                    rh = {k.decode(): v.decode() for k, v in ev.headers}
                    status = int(rh[":status"])
                elif isinstance(ev, h2.events.DataReceived):
                    data += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.TrailersReceived):
                    trailers = {k.decode(): v.decode() for k, v in ev.headers}
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                    done = True
            s.sendall(conn.data_to_send())
        return status, rh, data, trailers
    finally:
        s.close()


class H2Proxy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        H.set_up_testbed(cls)
        cls.cg = H.start_certgate(cls.tmp, cls.pki, [cls.backend.port], policy=h2_policy(cls.pki),
                                  listener={"alpn": ["h2", "http/1.1"]},
                                  limits={"h2_max_concurrent_streams": 100})
        cls.addClassCleanup(cls.cg.kill)
        cls.port = cls.cg.port

    def url(self, path):
        return "https://localhost:%d%s" % (self.port, path)

    def backend_targets(self):
        return self.backend.requests()

    # ---- plain traffic ---------------------------------------------------------

    def test_curl_h2_get_and_identity(self):
        r = H.curl(self.pki, [self.url("/hello?q=1"), "-w", "%{http_version}"], http="2")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.stdout, "2")
        self.assertEqual(r.status, 200)
        j = r.json()
        self.assertEqual(j["target"], "/hello?q=1")
        names = {k.lower(): v for k, v in j["headers"]}
        self.assertEqual(names["x-client-name"], "admin")
        self.assertEqual(names["host"], "localhost:%d" % self.port)
        self.assertEqual(names["x-forwarded-proto"], "https")

    def test_curl_h2_upload_and_download_hashed(self):
        up = os.path.join(self.tmp, "up.bin")
        data = os.urandom(5 * 1024 * 1024 + 17)
        with open(up, "wb") as f:
            f.write(data)
        want = hashlib.sha256(data).hexdigest()
        # Content-Length framing, then chunked (no length known to certgate).
        for extra in ([], ["-H", "Transfer-Encoding: chunked"]):
            r = H.curl(self.pki, [self.url("/upload"), "--data-binary", "@" + up] + extra,
                       http="2")
            self.assertEqual(r.status, 200, r)
            j = r.json()
            self.assertEqual(j["body_sha256"], want)
            self.assertEqual(j["body_len"], len(data))
        for q in ("", "&chunked=1", "&close=1"):
            size = 7 * 1024 * 1024 + 3
            r = H.curl(self.pki, [self.url("/download?size=%d%s" % (size, q))], http="2")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(len(r.body), size)
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), H.pattern_sha256(size))

    def test_nghttp_upload_download(self):
        up = os.path.join(self.tmp, "ng-up.bin")
        data = os.urandom(3 * 1024 * 1024)
        with open(up, "wb") as f:
            f.write(data)
        out = H.nghttp(self.pki, self.url("/databases/db1/docs"), client="writer", data=up)
        self.assertEqual(out.returncode, 0, out.stderr)
        j = json.loads(out.stdout)
        self.assertEqual(j["body_sha256"], hashlib.sha256(data).hexdigest())
        size = 4 * 1024 * 1024 + 5
        out = H.nghttp(self.pki, self.url("/download?size=%d&chunked=1" % size), client="writer")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(hashlib.sha256(out.stdout).hexdigest(), H.pattern_sha256(size))

    def test_h2load_many_streams(self):
        # h2load cannot present a client certificate: a Public route.
        r = H.h2load("https://127.0.0.1:%d/public/load" % self.port, 2000, 4, 10)
        self.assertEqual(r.rc, 0, r.text)
        self.assertEqual(r.succeeded, 2000, r.text)
        sys.stderr.write("\n[h2load] %s req/s (2000 requests, -c 4 -m 10, %.1f s)\n" % (
            r.rps, r.seconds))

    # ---- denials ---------------------------------------------------------------

    def test_unknown_certificate_403_json(self):
        status, hdrs, body, _ = h2_request(self.port, self.pki, "/databases/db1/x",
                                           client="unknown")
        self.assertEqual(status, 403)
        self.assertEqual(hdrs["content-type"], "application/json")
        j = json.loads(body)
        self.assertEqual(j["error"], "forbidden")
        self.assertEqual(j["reason"], "unknown_certificate")
        self.assertTrue(j["request_id"])

    def test_readonly_cannot_write_403(self):
        status, _, body, _ = h2_request(self.port, self.pki, "/databases/db1/docs",
                                        client="reader", method="PUT", body=b"{}")
        self.assertEqual(status, 403)
        self.assertEqual(json.loads(body)["reason"], "insufficient_clearance")
        status, _, _, _ = h2_request(self.port, self.pki, "/databases/db1/docs",
                                     client="reader")
        self.assertEqual(status, 200)

    def test_grpc_style_denials_trailers_only(self):
        grpc_hdrs = [("content-type", "application/grpc"), ("te", "trailers")]
        status, hdrs, body, trailers = h2_request(
            self.port, self.pki, "/databases/db1/svc.Kv/Get", client="unknown",
            method="POST", headers=grpc_hdrs, body=b"\x00\x00\x00\x00\x00")
        self.assertEqual(status, 200)
        self.assertEqual(hdrs.get("grpc-status"), "16", hdrs)  # in the only HEADERS
        self.assertEqual(body, b"")
        self.assertEqual(trailers, {})
        status, hdrs, _, _ = h2_request(
            self.port, self.pki, "/databases/db1/svc.Kv/Put", client="reader",
            method="POST", headers=grpc_hdrs, body=b"\x00\x00\x00\x00\x00")
        self.assertEqual(status, 200)
        self.assertEqual(hdrs.get("grpc-status"), "7", hdrs)
        targets = self.backend_targets()
        self.assertFalse([t for t in targets if "svc.Kv" in t], targets)

    def test_long_path_and_normalization(self):
        # Longer than HTTP/1.1's request line limit is fine over HTTP/2 (header list
        # limit applies); the database gets the normalized path, the log shows it.
        long = "/long/" + "a" * 12000 + "?q=" + "b" * 100
        status, _, body, _ = h2_request(self.port, self.pki, long)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["target"], long)
        status, _, body, _ = h2_request(self.port, self.pki, "/norm/%7Euser/%41?z=%41")
        self.assertEqual(status, 200)
        target = json.loads(body)["target"]
        self.cg.wait_access_log(lambda es: any(e.get("path") == target for e in es),
                                what="forwarded target in the log")
        # Dot segments cannot be normalized safely: refused (400), never forwarded.
        status, _, body, _ = h2_request(self.port, self.pki, "/norm/x/../y")
        self.assertEqual(status, 400)
        self.assertFalse([t for t in self.backend_targets() if "/norm/x" in t])

    def test_forged_identity_headers_stripped(self):
        status, _, body, _ = h2_request(self.port, self.pki, "/whoami", client="reader",
                                        headers=[("x-client-name", "admin"),
                                                 ("x-forwarded-for", "10.9.9.9")])
        self.assertEqual(status, 200)
        names = {}
        for k, v in json.loads(body)["headers"]:
            names.setdefault(k.lower(), []).append(v)
        self.assertEqual(names["x-client-name"], ["reader"])
        self.assertEqual(names["x-forwarded-for"], ["127.0.0.1"])

    # ---- protections -----------------------------------------------------------

    def good_client_loop(self, stop, results):
        while not stop.is_set():
            try:
                st, _, _, _ = h2_request(self.port, self.pki, "/good/ping", timeout=5)
                results.append(st)
            except Exception as e:  # noqa: BLE001
                results.append(repr(e))
            time.sleep(0.05)

    def with_good_client(self, fn):
        stop = threading.Event()
        results = []
        t = threading.Thread(target=self.good_client_loop, args=(stop, results), daemon=True)
        t.start()
        try:
            fn()
        finally:
            time.sleep(0.3)
            stop.set()
            t.join(15)
        self.assertTrue(results, "the well-behaved client made no request")
        self.assertTrue(all(r == 200 for r in results), results[:10])

    def test_rapid_reset_goaway(self):
        def attack():
            c = RawH2(self.port, self.pki)
            self.addCleanup(c.close)
            rst = b""
            batch = []
            sid = 1
            for i in range(3000):
                batch.append(c.headers(sid, "/rapid/%d" % i))
                r = hf.RstStreamFrame(sid)
                r.error_code = 8  # CANCEL
                batch.append(r.serialize())
                sid += 2
                if len(batch) >= 200:
                    try:
                        c.send(b"".join(batch))
                    except OSError:
                        break
                    batch = []
            del rst
            goaway = [f for f in c.frames(timeout=5, until=lambda f: isinstance(
                f, hf.GoAwayFrame)) if isinstance(f, hf.GoAwayFrame)]
            self.assertTrue(goaway, "no GOAWAY after 3000 HEADERS+RST_STREAM")
        self.with_good_client(attack)
        time.sleep(0.5)
        rapid = [t for t in self.backend_targets() if t.startswith("/rapid/")]
        self.assertEqual(rapid, [])

    def test_continuation_flood(self):
        def attack():
            c = RawH2(self.port, self.pki)
            self.addCleanup(c.close)
            block = c.enc.encode([(":method", "GET"), (":scheme", "https"),
                                  (":authority", "localhost"), (":path", "/cont")])
            f = hf.HeadersFrame(1)
            f.data = block
            c.send(f.serialize())
            t0 = time.monotonic()
            sent = 0
            try:
                for i in range(20000):
                    cf = hf.ContinuationFrame(1)
                    cf.data = c.enc.encode([("x-pad-%d" % (i % 50), "v" * 20)])
                    c.send(cf.serialize())
                    sent += 1
            except OSError:
                pass
            goaway = [f for f in c.frames(timeout=5, until=lambda f: isinstance(
                f, hf.GoAwayFrame)) if isinstance(f, hf.GoAwayFrame)]
            self.assertTrue(goaway, "no GOAWAY after %d CONTINUATION frames" % sent)
            self.assertIn(goaway[0].error_code, (1, 11))  # PROTOCOL_ERROR, ENHANCE_YOUR_CALM
            self.assertLess(time.monotonic() - t0, 20)
        self.with_good_client(attack)
        self.assertFalse([t for t in self.backend_targets() if t.startswith("/cont")])

    def test_too_many_concurrent_streams_refused(self):
        # Streams over the advertised limit sent before the client acknowledged our
        # SETTINGS are refused one by one (REFUSED_STREAM); the first 100 are served.
        c = RawH2(self.port, self.pki)
        self.addCleanup(c.close)
        c.send(b"".join(c.headers(1 + 2 * i, "/sleep?ms=1500&early=%d" % i) for i in range(130)))
        refused, ok = set(), set()
        for f in c.frames(timeout=6, until=lambda f: len(ok) + len(refused) >= 130):
            if isinstance(f, hf.RstStreamFrame) and f.error_code == 7:  # REFUSED_STREAM
                refused.add(f.stream_id)
            elif isinstance(f, hf.HeadersFrame) and f.decoded and \
                    dict(f.decoded).get(":status") == "200":
                ok.add(f.stream_id)
        self.assertEqual(len(refused), 30, sorted(refused)[:10])
        self.assertTrue(all(sid > 199 for sid in refused), sorted(refused)[:10])
        self.assertEqual(len(ok), 100)

    def test_too_many_concurrent_streams_after_settings_ack(self):
        # Once the limit is acknowledged, nghttp2 treats exceeding it as a connection
        # error (RFC 9113 §5.1.2 allows PROTOCOL_ERROR): GOAWAY, and nothing beyond the
        # limit reaches the database.
        c = RawH2(self.port, self.pki)
        self.addCleanup(c.close)
        # Wait for the server's SETTINGS (and ACK them) so the limit is in force.
        for f in c.frames(timeout=5, until=lambda f: isinstance(f, hf.SettingsFrame) and
                          "ACK" not in f.flags):
            if isinstance(f, hf.SettingsFrame) and "ACK" not in f.flags:
                self.assertEqual(f.settings.get(hf.SettingsFrame.MAX_CONCURRENT_STREAMS), 100)
        ack = hf.SettingsFrame(0)
        ack.flags.add("ACK")
        c.send(ack.serialize())
        out = b"".join(c.headers(1 + 2 * i, "/sleep?ms=300&late=%d" % i) for i in range(130))
        c.send(out)
        refused, goaway = set(), None
        for f in c.frames(timeout=3):
            if isinstance(f, hf.RstStreamFrame) and f.error_code == 7:  # REFUSED_STREAM
                refused.add(f.stream_id)
            elif isinstance(f, hf.GoAwayFrame):
                goaway = f
        self.assertTrue(len(refused) == 30 or (goaway is not None and goaway.error_code == 1),
                        (sorted(refused)[:10], goaway))
        time.sleep(0.5)
        late = [t for t in self.backend_targets() if "late=" in t]
        self.assertFalse([t for t in late if int(t.rsplit("=", 1)[1]) >= 100], late)

    def test_oversized_header_list(self):
        c = RawH2(self.port, self.pki)
        self.addCleanup(c.close)
        extra = [("x-big-%d" % i, "a" * 4000) for i in range(20)]  # 80 KB > 64 KiB
        frame = c.headers(1, "/oversized", extra=extra)
        c.send(frame)
        status, rst, goaway = None, None, None
        for f in c.frames(timeout=5):
            if isinstance(f, hf.HeadersFrame) and f.stream_id == 1 and f.decoded:
                status = dict(f.decoded).get(":status")
            elif isinstance(f, hf.RstStreamFrame) and f.stream_id == 1:
                rst = f.error_code
            elif isinstance(f, hf.GoAwayFrame):
                goaway = f.error_code
            if status or goaway is not None:
                break
        self.assertTrue(status == "431" or rst is not None or goaway is not None,
                        (status, rst, goaway))
        self.assertFalse([t for t in self.backend_targets() if t.startswith("/oversized")])

    def test_access_log_h2_fields(self):
        h2_request(self.port, self.pki, "/logged/h2", client="reader")
        entries = self.cg.wait_access_log(
            lambda es: any(e.get("path") == "/logged/h2" for e in es), what="h2 log line")
        e = [e for e in entries if e.get("path") == "/logged/h2"][-1]
        self.assertEqual(e["alpn"], "h2")
        self.assertGreaterEqual(e["stream"], 1)
        self.assertEqual(e["status"], 200)
        self.assertEqual(e["cert_name"], "reader")


class H2Drain(unittest.TestCase):
    """SIGTERM: an open HTTP/2 connection gets GOAWAY, its stream in flight finishes."""

    def test_goaway_on_drain(self):
        tmp = H.make_tempdir()
        self.addCleanup(H.remove_tree, tmp)
        os.makedirs(os.path.join(tmp, "pki"))
        pki = H.make_pki(os.path.join(tmp, "pki"))
        be = H.Backend(tmp)
        self.addCleanup(be.kill)
        be.start()
        cg = H.start_certgate(tmp, pki, [be.port], policy=h2_policy(pki),
                              listener={"alpn": ["h2"]})
        self.addCleanup(cg.kill)
        c = RawH2(cg.port, pki)
        self.addCleanup(c.close)
        c.send(c.headers(1, "/sleep?ms=1000"))
        time.sleep(0.3)
        cg.signal(15)
        got = {"goaway": False, "status": None, "end": False}
        for f in c.frames(timeout=10):
            if isinstance(f, hf.GoAwayFrame):
                got["goaway"] = True
            elif isinstance(f, hf.HeadersFrame) and f.stream_id == 1 and f.decoded:
                got["status"] = dict(f.decoded).get(":status")
            if f.stream_id == 1 and "END_STREAM" in f.flags:
                got["end"] = True
        self.assertTrue(got["goaway"], got)
        self.assertEqual(got["status"], "200", got)
        self.assertTrue(got["end"], got)
        self.assertEqual(cg.wait(15), 0)


class H2Timeouts(unittest.TestCase):
    """h2_idle closes a connection without streams (GOAWAY NO_ERROR); before the first
    frame request_header applies (a silent TLS client is dropped)."""

    @classmethod
    def setUpClass(cls):
        H.set_up_testbed(cls, backend=False)
        cls.be = H.Backend(cls.tmp)
        cls.addClassCleanup(cls.be.kill)
        cls.be.start()
        cls.cg = H.start_certgate(cls.tmp, cls.pki, [cls.be.port], policy=h2_policy(cls.pki),
                                  listener={"alpn": ["h2"]},
                                  timeouts={"h2_idle": 1000, "request_header": 1000,
                                            "body_idle": 1000})
        cls.addClassCleanup(cls.cg.kill)

    def test_stalled_request_body_times_out(self):
        # A client that stops sending in the middle of a request body gets 408 after
        # client_body_idle instead of holding a backend stream forever.
        c = RawH2(self.cg.port, self.pki)
        self.addCleanup(c.close)
        data = hf.DataFrame(1)
        data.data = b"0123456789"
        c.send(c.headers(1, "/stall", end_stream=False, method="POST",
                         extra=[("content-type", "application/octet-stream")]) +
               data.serialize())
        t0 = time.monotonic()
        frames = list(c.frames(timeout=6, until=lambda f: f.stream_id == 1 and (
            isinstance(f, hf.RstStreamFrame) or "END_STREAM" in f.flags)))
        heads = [f for f in frames if isinstance(f, hf.HeadersFrame) and f.stream_id == 1]
        self.assertTrue(heads, frames)
        self.assertIn((b":status", b"408"), [(k if isinstance(k, bytes) else k.encode(),
                                              v if isinstance(v, bytes) else v.encode())
                                             for k, v in heads[0].decoded])
        self.assertGreater(time.monotonic() - t0, 0.5)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertNotIn("/stall", self.be.requests())

    def test_idle_goaway(self):
        c = RawH2(self.cg.port, self.pki)
        self.addCleanup(c.close)
        c.send(c.headers(1, "/idle"))
        t0 = time.monotonic()
        frames = list(c.frames(timeout=6))
        goaway = [f for f in frames if isinstance(f, hf.GoAwayFrame)]
        self.assertTrue(any(isinstance(f, hf.HeadersFrame) and f.stream_id == 1
                            for f in frames))
        self.assertTrue(goaway)
        self.assertEqual(goaway[0].error_code, 0)
        self.assertLess(time.monotonic() - t0, 5)

    def test_silent_client_dropped(self):
        ctx = H.client_context(self.pki, "admin", alpn=("h2",))
        s = H.tls_connect(self.cg.port, ctx)
        self.addCleanup(s.close)
        t0 = time.monotonic()
        data, how = H.read_until_close(s, timeout=6)
        self.assertIn(how, ("eof", "reset"), how)
        self.assertLess(time.monotonic() - t0, 5)


if __name__ == "__main__":
    unittest.main()
