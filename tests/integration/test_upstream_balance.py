"""upstreams.<name>.balance: "round_robin" (the default) and "least_requests".

One slow server (every answer 1.5 s late) and one fast one, one worker so that its
counts of requests in flight are the whole process's. Requests start 80 ms apart and
each waits for its answer: with least_requests the slow server gets at most the first
one (it then always has one in flight, the fast one none), with round_robin each gets
half. The same for an HTTP/1.1 upstream (the keep-alive pool) and an h2c upstream (the
HTTP/2 client sessions).

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_upstream_balance
"""

import os
import sys
import threading
import time
import unittest

import certgate_harness as h
from h2c_backend import H2cBackend

N = 10
GAP = 0.08
SLOW_S = 1.5


class UpstreamBalanceTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        h.set_up_testbed(cls, backend=False)
        cls.n = 0

    def certgate(self, ports, **upstream):
        type(self).n += 1
        name = "cg%d" % self.n
        work = os.path.join(self.tmp, name)
        os.makedirs(work)
        cg = h.start_certgate(work, self.pki, ports, name=name, upstream=upstream,
                              overrides={"workers": 1})
        self.addCleanup(cg.kill)
        return cg

    def burst(self, cg, n=N):
        """burst starts n requests GAP apart, each on its own connection, and waits for
        all of them (bounded); returns their statuses."""
        statuses = [None] * n

        def one(i):
            try:
                statuses[i] = h.https_request(cg.port, self.pki, "GET", "/item/%d" % i,
                                              timeout=30).status
            except Exception as e:  # noqa: BLE001 - reported below
                statuses[i] = repr(e)
        threads = []
        for i in range(n):
            t = threading.Thread(target=one, args=(i,), daemon=True)
            t.start()
            threads.append(t)
            time.sleep(GAP)
        for t in threads:
            t.join(timeout=60)
        return statuses

    def run_both(self, make_backends, count, protocol):
        results = {}
        for balance in ("least_requests", "round_robin"):
            slow, fast = make_backends()
            cg = self.certgate([slow.port, fast.port], balance=balance, protocol=protocol)
            t0 = time.monotonic()
            statuses = self.burst(cg)
            took = time.monotonic() - t0
            self.assertEqual(statuses, [200] * N, statuses)
            results[balance] = (count(slow), count(fast))
            print("\n  %s %s: slow server %d, fast server %d of %d requests (%.1f s)"
                  % (protocol, balance, results[balance][0], results[balance][1], N, took),
                  file=sys.stderr)
            cg.stop()
        slow_lr, fast_lr = results["least_requests"]
        self.assertLessEqual(slow_lr, 1)
        self.assertEqual(slow_lr + fast_lr, N)
        self.assertEqual(results["round_robin"], (N // 2, N // 2))

    def test_http1_pool(self):
        def make():
            bs = []
            for delay in (int(SLOW_S * 1000), 0):
                type(self).n += 1
                b = h.Backend(self.tmp, name="b%d" % self.n, delay_ms=delay)
                self.addCleanup(b.kill)
                bs.append(b.start())
            return bs

        def count(b):
            return len([t for t in b.requests() if t.startswith("/item")])
        self.run_both(make, count, "http/1.1")

    def test_h2c_sessions(self):
        def make():
            bs = [H2cBackend(delay=SLOW_S), H2cBackend()]
            for b in bs:
                self.addCleanup(b.close)
            return bs
        self.run_both(make, lambda b: len(b.recorded("/item")), "h2c")


if __name__ == "__main__":
    unittest.main()
