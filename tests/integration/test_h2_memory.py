"""Zero-window memory: HTTP/2 streams whose client never opens its flow-control window
hold at most the documented per-stream buffer, and the memory goes back after the
clients leave.

The attack: 5 connections x 100 streams ask for large downloads and advertise
SETTINGS_INITIAL_WINDOW_SIZE = 0, so certgate can send no DATA and buffers what the
database sends. docs/http2.md promises max(buffer_high_water / 4, 64 KiB) per stream
before certgate stops reading the database for that stream. Before the fix each such
stream held about 190 KiB towards an HTTP/1.1 database (read-ahead chains and a
pull-up of body bytes into one 128 KiB chain) and 280 KiB towards an h2c database (its
stream window was buffer_high_water), and RSS stayed at its peak after the clients
left (glibc kept the freed memory).

RSS is measured before (after a warm-up request), during (once it stops growing) and
after the clients closed. The bounds are about glibc's allocator, which certgate ships
with: under AddressSanitizer (redzones, a quarantine of freed memory, no malloc_trim)
the same load runs to check it for memory errors, and only the response heads are
asserted. The bounds are resource bounds derived from the documented
figures with a generous margin, not timings: growth during at most twice the
per-stream figure per stream; after, at most what glibc may keep at the top of each
worker's arena (M_TRIM_THRESHOLD, 8 MiB, docs/operations.md) plus a quarter of the
whole load's figure above the start.
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import certgate_harness as H  # noqa: E402
from h2c_backend import H2cBackend  # noqa: E402
from test_h2_proxy import RawH2, h2_policy  # noqa: E402

import hyperframe.frame as hf  # noqa: E402

KIB = 1024
CONNS = 5
STREAMS = 100  # limits.h2_max_concurrent_streams
BODY = 8 * 1024 * KIB
PER_STREAM = 64 * KIB  # max(buffer_high_water / 4, 64 KiB) with the default 256 KiB
WORKERS = 2
ARENA_TOP_KEPT = 8 * 1024 * KIB  # M_TRIM_THRESHOLD


def settle(rss, timeout=15.0, step=0.25, quiet=1.0):
    """settle samples rss() until it has moved by less than 256 KiB for `quiet`
    seconds (or `timeout` passed); returns the last sample."""
    deadline = time.monotonic() + timeout
    last, since = rss(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(step)
        now = rss()
        if abs(now - last) >= 256:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
    return rss()


def sanitizer_build():
    """sanitizer_build tells whether CERTGATE_BIN carries AddressSanitizer."""
    with open(H.certgate_bin(), "rb") as f:
        return b"AddressSanitizer" in f.read()


def count_heads(c, want, timeout=10.0):
    """count_heads reads frames until `want` response heads with status 200 arrived
    (or timeout); returns how many did."""
    seen = set()

    def ok(f):
        if isinstance(f, hf.HeadersFrame) and f.decoded and \
                dict(f.decoded).get(":status") == "200":
            seen.add(f.stream_id)
        return len(seen) >= want
    for _ in c.frames(timeout=timeout, until=ok):
        pass
    return len(seen)


class ZeroWindowMemory:
    """Mixed into a TestCase whose setUpClass starts self.cg in front of a database
    serving /download?size=N."""

    def zero_window_client(self):
        c = RawH2(self.cg.port, self.pki)
        s = hf.SettingsFrame(0)
        s.settings = {hf.SettingsFrame.INITIAL_WINDOW_SIZE: 0}
        c.send(s.serialize())
        c.send(b"".join(c.headers(1 + 2 * i, "/download?size=%d&n=%d" % (BODY, i))
                        for i in range(STREAMS)))
        return c

    def test_zero_window_streams_bounded_and_released(self):
        rss = self.cg.rss_kb
        # Warm up: TLS, the first HTTP/2 session and upstream connection.
        w = RawH2(self.cg.port, self.pki)
        w.send(w.headers(1, "/download?size=10"))
        list(w.frames(timeout=5, until=lambda f: "END_STREAM" in f.flags))
        w.close()
        before = settle(rss)

        clients = [self.zero_window_client() for _ in range(CONNS)]
        try:
            heads = sum(count_heads(c, STREAMS) for c in clients)
            self.assertEqual(heads, CONNS * STREAMS, "every stream got its response head")
            during = settle(rss)
        finally:
            for c in clients:
                c.close()
        after_bound = before + (WORKERS * ARENA_TOP_KEPT +
                                CONNS * STREAMS * PER_STREAM // 4) // KIB
        deadline = time.monotonic() + 10
        after = rss()
        while after > after_bound and time.monotonic() < deadline:
            time.sleep(0.25)
            after = rss()

        if sanitizer_build():
            return
        grown = during - before
        sys.stderr.write("\n[zero-window %s] RSS before %d KiB, during %d KiB (%.0f KiB per "
                         "stream), after %d KiB\n" % (self.db_kind, before, during,
                                                      grown / (CONNS * STREAMS), after))
        # The load happened: every stream buffered something.
        self.assertGreater(grown, CONNS * STREAMS * PER_STREAM // KIB // 4)
        self.assertLessEqual(grown, CONNS * STREAMS * 2 * PER_STREAM // KIB,
                             "more than twice the documented per-stream buffer")
        self.assertLessEqual(after, after_bound, "memory not given back after the load")


class ZeroWindowHttp1Database(ZeroWindowMemory, unittest.TestCase):
    db_kind = "http/1.1"

    @classmethod
    def setUpClass(cls):
        H.set_up_testbed(cls)
        cls.cg = H.start_certgate(cls.tmp, cls.pki, [cls.backend.port],
                                  policy=h2_policy(cls.pki), listener={"alpn": ["h2"]},
                                  overrides={"workers": WORKERS})
        cls.addClassCleanup(cls.cg.kill)


class ZeroWindowH2cDatabase(ZeroWindowMemory, unittest.TestCase):
    db_kind = "h2c"

    @classmethod
    def setUpClass(cls):
        H.set_up_testbed(cls, backend=False)
        cls.db = H2cBackend()
        cls.addClassCleanup(cls.db.close)
        cls.cg = H.start_certgate(cls.tmp, cls.pki, [cls.db.port], policy=h2_policy(cls.pki),
                                  listener={"alpn": ["h2"]}, upstream={"protocol": "h2c"},
                                  overrides={"workers": WORKERS})
        cls.addClassCleanup(cls.cg.kill)


if __name__ == "__main__":
    unittest.main()
