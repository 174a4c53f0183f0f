"""Active health checks (upstreams.<name>.health_check, control/upstream_health.c).

Two servers take requests; one starts answering 500 on its health path: within
interval x fall it gets no more requests; it recovers and gets requests again. A client
sends requests on one keep-alive connection the whole time (a bounded loop) and none
fails. The same over HTTP/1.1 cleartext, HTTP/1.1 over TLS (the check goes through the
upstream's TLS client) and h2c (the check is an HTTP/2 request). The metrics show the
server down (certgate_upstream_server_up 0, _health_up 0) and count the checks. The
transition times are printed.

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_upstream_health
"""

import os
import sys
import threading
import time
import unittest

import certgate_harness as h
from h2c_backend import H2cBackend

INTERVAL_MS = 200
FALL = 2
RISE = 2


class ClientLoop:
    """Requests /item/N one after another on one keep-alive TLS connection until stopped
    (at most |limit| requests or |seconds|), recording every status."""

    def __init__(self, port, pki, limit=20000, seconds=60):
        self.port, self.pki, self.limit, self.seconds = port, pki, limit, seconds
        self.statuses = []
        self.errors = []
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        deadline = time.monotonic() + self.seconds
        ka = None
        try:
            ka = h.KeepAlive(self.port, h.client_context(self.pki))
            n = 0
            while not self.stop_ev.is_set() and n < self.limit and time.monotonic() < deadline:
                r = ka.get("/item/%d" % n)
                self.statuses.append(r.status)
                n += 1
                time.sleep(0.002)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(e))
        finally:
            if ka is not None:
                ka.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.thread.join(timeout=30)


class UpstreamHealthTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        h.set_up_testbed(cls, backend=False)
        cls.n = 0

    def certgate(self, ports, **upstream):
        type(self).n += 1
        name = "cg%d" % self.n
        work = os.path.join(self.tmp, name)
        os.makedirs(work)
        self.status_port = h.free_port()
        up = {"health_check": {"path": "/_health", "interval": "%dms" % INTERVAL_MS,
                               "timeout": "150ms", "rise": RISE, "fall": FALL}}
        up.update(upstream)
        cg = h.start_certgate(work, self.pki, ports, name=name, upstream=up,
                              overrides={"status": {"listen": "127.0.0.1:%d" % self.status_port}})
        self.addCleanup(cg.kill)
        return cg

    def up(self, server):
        return h.scrape_metrics(self.status_port).value("certgate_upstream_server_up",
                                                        upstream="db", server=server)

    def transitions(self, cg, servers, count, set_health, what):
        """servers: the two "ip:port" texts; count(i): /item requests server i got;
        set_health(i, status)."""
        with ClientLoop(cg.port, self.pki) as loop:
            h.wait_until(lambda: count(0) >= 3 and count(1) >= 3, 10,
                         what="both servers to take requests")
            # Server 0 fails its checks: it is taken out within interval x fall.
            t0 = time.monotonic()
            set_health(0, 500)
            h.wait_until(lambda: self.up(servers[0]) == 0, 10, what="server 0 down")
            down = time.monotonic() - t0
            s = h.scrape_metrics(self.status_port)
            self.assertEqual(s.value("certgate_upstream_server_health_up", upstream="db",
                                   server=servers[0]), 0)
            self.assertEqual(self.up(servers[1]), 1)
            # In flight when the mark was set: at most one request of the loop.
            time.sleep(0.05)
            c0, o0 = count(0), count(1)
            time.sleep(0.6)
            self.assertEqual(count(0), c0, "a server down by its checks got requests")
            self.assertGreater(count(1), o0)
            # It recovers after rise passes.
            t0 = time.monotonic()
            set_health(0, 200)
            h.wait_until(lambda: self.up(servers[0]) == 1, 10, what="server 0 up")
            back = time.monotonic() - t0
            c0 = count(0)
            h.wait_until(lambda: count(0) > c0 + 3, 10, what="server 0 to take requests")
        self.assertEqual(loop.errors, [])
        self.assertGreater(len(loop.statuses), 50)
        self.assertEqual(set(loop.statuses), {200}, "a client request failed")
        s = h.scrape_metrics(self.status_port)
        self.assertGreater(s.value("certgate_upstream_health_checks_total", upstream="db",
                                 result="passed"), 0)
        self.assertGreaterEqual(s.value("certgate_upstream_health_checks_total", upstream="db",
                                      result="failed"), FALL)
        print("\n  %s: out of service %.0f ms after failing (interval %d ms x fall %d), back "
              "%.0f ms after recovering (rise %d); %d client requests, none failed"
              % (what, down * 1000, INTERVAL_MS, FALL, back * 1000, RISE, len(loop.statuses)),
              file=sys.stderr)
        self.assertLess(down, INTERVAL_MS * (FALL + 1) / 1000 + 1.0)
        self.assertLess(back, INTERVAL_MS * (RISE + 1) / 1000 + 1.0)
        cg.stop()

    def echo_backends(self, tls=None):
        bs = []
        for i in range(2):
            type(self).n += 1
            b = h.Backend(self.tmp, name="b%d" % self.n, tls=tls)
            self.addCleanup(b.kill)
            bs.append(b.start())
        return bs

    @staticmethod
    def items(b):
        return len([e for e in b.request_log() if str(e.get("target", "")).startswith("/item")])

    def test_http1_cleartext(self):
        bs = self.echo_backends()
        cg = self.certgate([b.port for b in bs])
        self.transitions(cg, ["127.0.0.1:%d" % b.port for b in bs],
                         lambda i: self.items(bs[i]), lambda i, st: bs[i].set_health(st),
                         "http/1.1")

    def test_http1_over_tls(self):
        bs = self.echo_backends(tls={"cert": self.pki.server.cert, "key": self.pki.server.key})
        cg = self.certgate([b.port for b in bs], tls={"ca": self.pki.ca.cert, "sni": "localhost"})
        self.transitions(cg, ["127.0.0.1:%d" % b.port for b in bs],
                         lambda i: self.items(bs[i]), lambda i, st: bs[i].set_health(st),
                         "http/1.1 + tls")
        # The checks went through TLS: the backends logged their handshakes.
        self.assertTrue(all(b.tls_handshakes() for b in bs))

    def test_h2c(self):
        bs = [H2cBackend(), H2cBackend()]
        for b in bs:
            self.addCleanup(b.close)

        def set_health(i, st):
            bs[i].health_status = st
        cg = self.certgate([b.port for b in bs], protocol="h2c")
        self.transitions(cg, ["127.0.0.1:%d" % b.port for b in bs],
                         lambda i: len(bs[i].recorded("/item")), set_health, "h2c")
        self.assertTrue(all(b.recorded("/_health") for b in bs))

    def test_unhealthy_at_start_and_all_down(self):
        """A server failing from the start is taken out; with every server out, requests
        get 503 no_healthy_server."""
        bs = self.echo_backends()
        bs[0].set_health(503)
        bs[1].set_health(503)
        cg = self.certgate([b.port for b in bs])
        for b in bs:
            h.wait_until(lambda b=b: self.up("127.0.0.1:%d" % b.port) == 0, 10, what="down")
        r = h.https_request(cg.port, self.pki, "GET", "/item/x")
        self.assertEqual((r.status, r.json()["reason"]), (503, "no_healthy_server"), r)
        bs[1].set_health(200)
        h.wait_until(lambda: self.up("127.0.0.1:%d" % bs[1].port) == 1, 10, what="up")
        r = h.https_request(cg.port, self.pki, "GET", "/item/y")
        self.assertEqual(r.status, 200, r)
        cg.stop()


if __name__ == "__main__":
    unittest.main()
