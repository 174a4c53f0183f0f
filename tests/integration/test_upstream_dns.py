"""Upstream servers given by DNS name ("db.test:port"), resolved by certgate's main
thread (control/upstream_dns.c) from a real DNS server (dnsmasq) on loopback.

dnsmasq serves db.test with two addresses, 127.0.0.2 and 127.0.0.3, and a backend
listens on each. Requests through certgate (curl over HTTP/1.1 and HTTP/2, towards an
http/1.1 and an h2c upstream) reach both; when the records change (dnsmasq rereads its
hosts file on SIGHUP) certgate follows within resolve_interval; when dnsmasq stops,
certgate keeps the last addresses and requests still succeed. The metrics say how many
servers each upstream has, which are up, and count resolutions by result; a server that
stays across a change keeps its counters. The transition times are printed.

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_upstream_dns
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

import certgate_harness as h
from h2c_backend import H2cBackend

RESOLVE_MS = 300
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


class Dnsmasq:
    """dnsmasq on 127.0.0.1:port answering for *.test from a hosts file (SIGHUP rereads
    it); AAAA queries for names with only A records get an empty answer (--local), not
    REFUSED."""

    def __init__(self, workdir):
        self.hosts = os.path.join(workdir, "dns.hosts")
        self.port = h.free_port()
        self.log = open(os.path.join(workdir, "dnsmasq.log"), "wb")
        self.proc = None

    def write(self, entries):
        h.write_atomic(self.hosts, "".join("%s %s\n" % e for e in entries))

    def start(self):
        self.proc = subprocess.Popen(
            [DNSMASQ, "--no-daemon", "--conf-file=/dev/null", "--port=%d" % self.port,
             "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
             "--addn-hosts=" + self.hosts, "--local=/test/", "--user=root"],
            stdout=self.log, stderr=subprocess.STDOUT)
        h.wait_until(lambda: h.port_accepts(self.port, "127.0.0.1"), 10, what="dnsmasq")

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def close(self):
        self.stop()
        self.log.close()


def per_backend(backends, before):
    """per_backend returns how many requests (not health checks) each backend received
    since |before| (the counts of an earlier call)."""
    now = [len([t for t in b.requests() if t.startswith("/item")]) for b in backends]
    return [n - b for n, b in zip(now, before)]


class UpstreamDnsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        h.set_up_testbed(cls, backend=False)
        cls.dns = Dnsmasq(cls.tmp)
        cls.dns.write([("127.0.0.2", "db.test"), ("127.0.0.3", "db.test")])
        cls.addClassCleanup(cls.dns.close)
        cls.dns.start()

    def start_certgate(self, name, port, protocol="http/1.1"):
        work = os.path.join(self.tmp, name)
        os.makedirs(work)
        self.status_port = h.free_port()
        cg = h.start_certgate(
            work, self.pki, [], name=name, listener={"alpn": ["h2", "http/1.1"]},
            upstream={"servers": ["db.test:%d" % port], "protocol": protocol,
                      "resolve_interval": "%dms" % RESOLVE_MS},
            overrides={"resolvers": ["127.0.0.1:%d" % self.dns.port],
                       "status": {"listen": "127.0.0.1:%d" % self.status_port}})
        self.addCleanup(cg.kill)
        return cg

    def get(self, cg, n, http="1.1"):
        urls = ["https://localhost:%d/item/%d" % (cg.port, i) for i in range(n)]
        r = h.curl(self.pki, urls, http=http)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual([x[0] for x in r.responses], [200] * n, r)

    def metrics(self):
        return h.scrape_metrics(self.status_port)

    def wait_servers(self, n, what):
        """wait_servers waits until the upstream has n servers; returns the seconds."""
        t0 = time.monotonic()
        h.wait_until(lambda: self.metrics().value("certgate_upstream_servers",
                                   upstream="db") == n, 10, what=what)
        return time.monotonic() - t0

    def test_http1_upstream_follows_dns(self):
        port = h.free_port()
        backends = [h.Backend(self.tmp, port=port, name="b2", host="127.0.0.2"),
                    h.Backend(self.tmp, port=port, name="b3", host="127.0.0.3")]
        for b in backends:
            self.addCleanup(b.kill)
            b.start()
        self.dns.write([("127.0.0.2", "db.test"), ("127.0.0.3", "db.test")])
        self.dns.reload()
        cg = self.start_certgate("cg_h1", port)
        # Resolved before the first request: both servers take requests, over HTTP/1.1
        # and HTTP/2 clients alike.
        zero = per_backend(backends, [0, 0])
        self.get(cg, 20, http="1.1")
        self.get(cg, 20, http="2")
        spread = per_backend(backends, zero)
        self.assertEqual(sum(spread), 40, spread)
        self.assertTrue(all(n >= 10 for n in spread), spread)
        s = self.metrics()
        for ip in ("127.0.0.2", "127.0.0.3"):
            self.assertEqual(s.value("certgate_upstream_server_up", upstream="db",
                                   server="%s:%d" % (ip, port)), 1)
        self.assertGreater(s.value("certgate_upstream_resolve_total", upstream="db",
                                 result="ok"), 0)
        kept = s.value("certgate_upstream_requests_total", upstream="db",
                     server="127.0.0.3:%d" % port, code="200")
        self.assertGreaterEqual(kept, 10)

        # 127.0.0.2 leaves the name: certgate follows within resolve_interval.
        self.dns.write([("127.0.0.3", "db.test")])
        self.dns.reload()
        took = self.wait_servers(1, "127.0.0.2 to leave")
        print("\n  DNS removal followed in %.0f ms (resolve_interval %d ms)"
              % (took * 1000, RESOLVE_MS), file=sys.stderr)
        self.assertLess(took, 3 * RESOLVE_MS / 1000 + 1.0)
        before = per_backend(backends, [0, 0])
        self.get(cg, 10)
        self.assertEqual(per_backend(backends, before), [0, 10])
        s = self.metrics()
        # The server that left is no longer listed.
        self.assertNotIn(("certgate_upstream_server_up",
                          frozenset({("upstream", "db"), ("server", "127.0.0.2:%d" % port)})),
                         s.samples)
        # The server that stayed kept its counters across the change.
        self.assertEqual(s.value("certgate_upstream_requests_total", upstream="db",
                               server="127.0.0.3:%d" % port, code="200"), kept + 10)

        # It comes back.
        self.dns.write([("127.0.0.2", "db.test"), ("127.0.0.3", "db.test")])
        self.dns.reload()
        took = self.wait_servers(2, "127.0.0.2 to come back")
        print("  DNS addition followed in %.0f ms" % (took * 1000), file=sys.stderr)
        before = per_backend(backends, [0, 0])
        self.get(cg, 20)
        self.assertTrue(all(n >= 5 for n in per_backend(backends, before)))

        # DNS goes away: the last addresses stay, requests still succeed.
        failed0 = self.metrics().value("certgate_upstream_resolve_total", upstream="db",
                        result="failed")
        self.dns.stop()
        t0 = time.monotonic()
        h.wait_until(lambda: self.metrics().value("certgate_upstream_resolve_total",
                                   upstream="db", result="failed") > failed0, 15,
                     what="a failed resolution")
        print("  DNS failure noticed in %.0f ms; servers kept" % ((time.monotonic() - t0) * 1000),
              file=sys.stderr)
        before = per_backend(backends, [0, 0])
        self.get(cg, 20)
        self.get(cg, 10, http="2")
        self.assertTrue(all(n >= 5 for n in per_backend(backends, before)))
        self.assertEqual(self.metrics().value("certgate_upstream_servers", upstream="db"), 2)
        cg.stop()
        self.assertIn("resolving db.test failed", cg.logs())
        self.dns.start()  # for the other tests

    def test_h2c_upstream_spreads_over_names(self):
        port = h.free_port()
        backends = [H2cBackend(host="127.0.0.2", port=port), H2cBackend(host="127.0.0.3", port=port)]
        for b in backends:
            self.addCleanup(b.close)
        cg = self.start_certgate("cg_h2c", port, protocol="h2c")
        self.get(cg, 20, http="1.1")
        self.get(cg, 20, http="2")
        counts = [len(b.recorded("/item")) for b in backends]
        self.assertEqual(sum(counts), 40, counts)
        self.assertTrue(all(n >= 10 for n in counts), counts)

    def test_unresolved_at_start_answers_503_until_it_resolves(self):
        """A name with no answer at start does not stop certgate: its upstream answers
        503 upstream_unresolved until the name resolves."""
        port = h.free_port()
        b = h.Backend(self.tmp, port=port, name="late", host="127.0.0.2")
        self.addCleanup(b.kill)
        b.start()
        self.dns.write([("127.0.0.3", "other.test")])
        self.dns.reload()
        time.sleep(0.2)
        work = os.path.join(self.tmp, "late_cg")
        os.makedirs(work)
        self.status_port = h.free_port()
        t0 = time.monotonic()
        cg = h.start_certgate(
            work, self.pki, [], name="late_cg",
            upstream={"servers": ["late.test:%d" % port], "resolve_interval": "200ms"},
            overrides={"resolvers": ["127.0.0.1:%d" % self.dns.port],
                       "status": {"listen": "127.0.0.1:%d" % self.status_port}})
        self.addCleanup(cg.kill)
        print("\n  started with an unresolvable name in %.1f s" % (time.monotonic() - t0),
              file=sys.stderr)
        r = h.https_request(cg.port, self.pki, "GET", "/item/1")
        self.assertEqual((r.status, r.json()["reason"]), (503, "upstream_unresolved"), r)
        self.assertEqual(self.metrics().value("certgate_upstream_servers", upstream="db"), 0)
        self.dns.write([("127.0.0.3", "other.test"), ("127.0.0.2", "late.test")])
        self.dns.reload()
        self.wait_servers(1, "late.test to resolve")
        r = h.https_request(cg.port, self.pki, "GET", "/item/2")
        self.assertEqual(r.status, 200, r)
        cg.stop()
        self.assertIn("upstream db has no server yet", cg.logs())

    def test_reload_keeps_the_servers_of_a_name(self):
        """A configuration reload that leaves an upstream's servers as written keeps what
        its names resolved to (and the servers' state): without that, the new
        configuration's named upstream would answer 503 until DNS answered again, and
        not at all while DNS is down, as it is here."""
        port = h.free_port()
        backends = [h.Backend(self.tmp, port=port, name="r2", host="127.0.0.2"),
                    h.Backend(self.tmp, port=port, name="r3", host="127.0.0.3")]
        for b in backends:
            self.addCleanup(b.kill)
            b.start()
        self.dns.write([("127.0.0.2", "db.test"), ("127.0.0.3", "db.test")])
        self.dns.reload()
        cg = self.start_certgate("cg_reload", port)
        self.get(cg, 4)
        # DNS loses the name; the running set stays (a failed answer keeps the last).
        self.dns.write([("127.0.0.9", "other.test")])
        self.dns.reload()
        self.addCleanup(lambda: (self.dns.write([("127.0.0.2", "db.test"),
                                                 ("127.0.0.3", "db.test")]),
                                 self.dns.reload()))
        with open(cg.config_path) as f:
            doc = json.load(f)
        doc.setdefault("limits", {})["max_headers"] = 77
        tmp = cg.config_path + ".new"
        with open(tmp, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, cg.config_path)
        cg.hup()
        h.wait_until(lambda: self.metrics().value("certgate_config_generation") == 2, 10,
                     what="the configuration reload")
        zero = per_backend(backends, [0, 0])
        self.get(cg, 20)
        spread = per_backend(backends, zero)
        self.assertTrue(all(n >= 5 for n in spread), spread)
        self.assertEqual(self.metrics().value("certgate_upstream_servers", upstream="db"), 2)

    def test_check_validates_names_without_resolving(self):
        work = os.path.join(self.tmp, "check")
        os.makedirs(work)
        # A resolver nobody answers on: check must not ask it.
        dead = h.free_port()
        path = h.write_config(work, self.pki, h.free_port(), [],
                              upstream={"servers": ["nowhere.invalid:8080", "127.0.0.1:1"]},
                              overrides={"resolvers": ["127.0.0.1:%d" % dead]})
        t0 = time.monotonic()
        p = h.run_certgate("check", "-c", path)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIn("nowhere.invalid:8080 (resolved at run time)", p.stdout)
        path = h.write_config(work, self.pki, h.free_port(), [], name="bad.json",
                              upstream={"servers": ["db_.-x:8080"]})
        p = h.run_certgate("check", "-c", path, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("$.upstreams.db.servers[0]", p.stderr)


if __name__ == "__main__":
    unittest.main()
