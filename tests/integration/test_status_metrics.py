"""Regression: nothing an operator runs could watch certgate without an admin certificate.

/metrics and the Kubernetes probes were only on the mutual-TLS admin API, whose Operator
certificate can also mint certificates, and /metrics had no request, latency, upstream or
handshake series. Now the status port ("status": {"listen": ...}) serves /healthz,
/readyz and /metrics over plain HTTP, read-only, and the metrics count what the proxy
did. These tests send known traffic and check the exact counters and label sets, the
histograms' consistency, the process metrics, the probes (503 after SIGTERM during
timeouts.shutdown_delay), that the port refuses other methods and paths and never asks
for a certificate, that its address is claimed like a listener's, JSON logs line by
line, and the access log's new fields (user_agent, upstream_status,
upstream_duration_us, route, route_path, host).

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_status_metrics
"""

import calendar
import json
import os
import signal
import socket
import subprocess
import unittest

import certgate_harness as h

class StatusMetricsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        h.set_up_testbed(cls)

    def certgate(self, name, upstream_ports=None, timeouts=None, log=None, workers=2):
        work = os.path.join(self.tmp, name)
        os.makedirs(work)
        status_port = h.free_port()
        over = {"status": {"listen": "127.0.0.1:%d" % status_port}, "workers": workers}
        if log:
            over["log"] = log
        cg = h.start_certgate(work, self.pki, upstream_ports or [self.backend.port],
                              timeouts=timeouts, listener={"alpn": ["h2", "http/1.1"]},
                              overrides=over)
        self.addCleanup(cg.kill)
        return cg

    def curl_h2(self, cg, path, client="admin"):
        r = h.curl(self.pki, ["https://localhost:%d%s" % (cg.port, path)], client=client,
                   http="2")
        return r

    # -- the port itself ------------------------------------------------------------

    def test_probes_without_a_certificate_and_read_only(self):
        cg = self.certgate("probes")
        port = cg.status_port
        self.assertEqual(h.http_plain("127.0.0.1", port, "GET", "/healthz")[0], 200)
        status, _, body = h.http_plain("127.0.0.1", port, "GET", "/readyz")
        self.assertEqual((status, json.loads(body)["status"]), (200, "ready"))
        status, headers, body = h.http_plain("127.0.0.1", port, "HEAD", "/metrics")
        self.assertEqual((status, body), (200, b""))
        for method in ("POST", "PUT", "DELETE"):
            status, headers, _ = h.http_plain("127.0.0.1", port, method, "/metrics")
            self.assertEqual(status, 405, method)
            self.assertEqual(dict((k.lower(), v) for k, v in headers)["allow"], "GET, HEAD")
        for path in ("/", "/admin/status", "/admin/certificates", "/metrics/x", "/ui/"):
            self.assertEqual(h.http_plain("127.0.0.1", port, "GET", path)[0], 404, path)
        # A TLS client gets no TLS: the port is plain HTTP, and asks nobody for a key.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"\x16\x03\x01\x00\x05hello")
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 400 "))
        self.assertTrue(cg.running())

    def test_status_address_is_claimed(self):
        cg = self.certgate("claim")
        work = os.path.join(self.tmp, "claim-second")
        os.makedirs(work)
        path = h.write_config(work, self.pki, h.free_port(), [self.backend.port],
                              overrides={"status": {"listen": "127.0.0.1:%d" % cg.status_port}})
        p = subprocess.run([h.certgate_bin(), "run", "-c", path], capture_output=True,
                           text=True, timeout=20, cwd=work)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("127.0.0.1:%d: already in use by another certgate process"
                      % cg.status_port, p.stderr)
        self.assertEqual(h.http_plain("127.0.0.1", cg.status_port, "GET", "/healthz")[0], 200)

    # -- counting ---------------------------------------------------------------------

    def test_counters_after_known_traffic(self):
        cg = self.certgate("counts")
        for i in range(3):
            self.assertEqual(h.https_request(cg.port, self.pki, "GET", "/ok/%d" % i).status, 200)
        for _ in range(2):
            r = h.https_request(cg.port, self.pki, "GET", "/x", client="unknown")
            self.assertEqual(r.status, 403)
        self.assertEqual(h.https_request(cg.port, self.pki, "GET", "/x", client=None).status, 403)
        self.assertEqual(h.https_request(cg.port, self.pki, "GET", "/healthz",
                                         client=None).status, 200)
        for _ in range(2):
            r = self.curl_h2(cg, "/h2")
            self.assertEqual(r.responses[-1][0], 200, r)
        # A TLS handshake failure: plain HTTP on the TLS port.
        with socket.create_connection(("127.0.0.1", cg.port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                s.recv(100)
            except OSError:
                pass
        cg.wait_access_log(lambda e: sum(1 for x in e if "stream" in x) >= 9)
        s = cg.metrics()

        req = "certgate_requests_total"
        base = {"listener": "db"}
        self.assertEqual(s.family(req), {
            frozenset(dict(base, protocol="http/1.1", decision="allow", reason="ok",
                           code="200").items()): 4,
            frozenset(dict(base, protocol="http/1.1", decision="deny",
                           reason="unknown_certificate", code="403").items()): 2,
            frozenset(dict(base, protocol="http/1.1", decision="deny", reason="no_certificate",
                           code="403").items()): 1,
            frozenset(dict(base, protocol="h2", decision="allow", reason="ok",
                           code="200").items()): 2,
        })
        self.assertEqual(s.types[req], "counter")
        # Histograms: buckets cumulative, +Inf = _count = requests counted.
        self.assertEqual(s.types["certgate_request_duration_seconds"], "histogram")
        for proto, n in (("http/1.1", 7), ("h2", 2)):
            buckets = sorted(
                ((float("inf") if dict(k)["le"] == "+Inf" else float(dict(k)["le"])), v)
                for k, v in s.family("certgate_request_duration_seconds_bucket").items()
                if dict(k)["protocol"] == proto)
            counts = [v for _, v in buckets]
            self.assertEqual(counts, sorted(counts), proto)
            self.assertEqual(counts[-1], n, proto)
            self.assertEqual(s.value("certgate_request_duration_seconds_count", listener="db",
                                   protocol=proto), n)
            self.assertGreater(s.value("certgate_request_duration_seconds_sum",
                                     listener="db", protocol=proto), 0)
        server = "127.0.0.1:%d" % self.backend.port
        self.assertEqual(s.family("certgate_upstream_requests_total"), {
            frozenset({"upstream": "db", "server": server, "code": "200"}.items()): 6})
        self.assertEqual(s.value("certgate_upstream_response_seconds_count", upstream="db"), 6)
        self.assertEqual(s.value("certgate_upstream_server_up", upstream="db", server=server), 1)
        self.assertEqual(s.value("certgate_upstream_connect_errors_total", upstream="db",
                               server=server), 0)
        # Connections: 9 TLS handshakes (TLS 1.3), one plain-HTTP client refused.
        self.assertEqual(s.value("certgate_tls_handshakes_total", listener="db",
                               version="TLSv1.3"), 9)
        errors = {dict(k)["reason"]: v
                  for k, v in s.family("certgate_tls_handshake_errors_total").items()}
        # The harness's own check that the port listens connects and closes: client_closed.
        self.assertLessEqual(errors.pop("client_closed"), 2)
        self.assertEqual({k: v for k, v in errors.items() if v}, {"http_request": 1})
        h.wait_metric(cg, lambda v: v == 0, "certgate_connections",
                      what="connections gauge back to 0")
        self.assertGreater(s.value("certgate_bytes_received_total", listener="db"), 2000)
        self.assertGreater(s.value("certgate_bytes_sent_total", listener="db"), 2000)
        self.assertEqual(s.value("certgate_policy_generation", listener="db"), 1)
        self.assertEqual(s.value("certgate_policy_reloads_total", listener="db", result="ok"), 0)
        # Certificates: both served ones, and every client entry (none has "expires").
        expiry = s.family("certgate_certificate_expiry_timestamp_seconds")
        kinds = sorted(dict(k)["kind"] for k in expiry)
        self.assertEqual(kinds, ["server", "server"])
        build = s.family("certgate_build_info")
        self.assertEqual(list(build.values()), [1])
        self.assertEqual({k for k, _ in next(iter(build))}, {"version", "commit", "boringssl"})
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                     "process_open_fds", "process_max_fds", "process_start_time_seconds"):
            self.assertIn(name, s.types)
            self.assertGreater(s.value(name), 0, name)

    def test_reload_and_client_expiry(self):
        cg = self.certgate("reload")
        policy = h.default_policy(self.pki)
        policy["certificates"][1]["expires"] = "2031-11-24T00:00:00Z"
        h.write_json(os.path.join(cg.workdir, "policy.json"), policy)
        cg.hup()
        h.wait_metric(cg, lambda v: v == 1, "certgate_policy_reloads_total", listener="db",
                      result="ok", what="reload counted")
        with open(os.path.join(cg.workdir, "policy.json"), "w") as f:
            f.write("{ not json")
        cg.hup()
        h.wait_metric(cg, lambda v: v == 1, "certgate_policy_reloads_total", listener="db",
                      result="failed", what="refused reload counted")
        s = cg.metrics()
        self.assertEqual(s.value("certgate_certificate_expiry_timestamp_seconds", kind="client",
                               name="reader", thumbprint=self.pki.client("reader").sha1),
                         calendar.timegm((2031, 11, 24, 0, 0, 0)))
        self.assertEqual(s.value("certgate_policy_generation", listener="db"), 2)

    def test_upstream_down(self):
        dead = h.free_port()
        cg = self.certgate("down", upstream_ports=[dead], workers=1)  # one pool marks it down
        r = h.https_request(cg.port, self.pki, "GET", "/a")
        self.assertEqual(r.status, 502)
        r = h.https_request(cg.port, self.pki, "GET", "/b")
        self.assertEqual(r.status, 503)
        cg.wait_access_log(lambda e: sum(1 for x in e if "stream" in x) >= 2)
        s = cg.metrics()
        base = {"listener": "db", "protocol": "http/1.1", "decision": "allow"}
        self.assertEqual(s.value("certgate_requests_total", reason="upstream_connect_failed",
                               code="502", **base), 1)
        self.assertEqual(s.value("certgate_requests_total", reason="no_healthy_server",
                               code="503", **base), 1)
        server = "127.0.0.1:%d" % dead
        self.assertEqual(s.value("certgate_upstream_server_up", upstream="db", server=server), 0)
        self.assertEqual(s.value("certgate_upstream_connect_errors_total", upstream="db",
                               server=server), 1)
        self.assertEqual(s.family("certgate_upstream_requests_total"), {})

    # -- readiness during the stop ------------------------------------------------------

    def test_readyz_503_after_sigterm_during_shutdown_delay(self):
        cg = self.certgate("stop", timeouts={"shutdown_delay": "3s"})
        self.assertEqual(h.http_plain("127.0.0.1", cg.status_port, "GET", "/readyz")[0], 200)
        cg.proc.send_signal(signal.SIGTERM)
        h.wait_until(lambda: h.http_plain("127.0.0.1", cg.status_port, "GET",
                                          "/readyz")[0] == 503, 2,
                     what="/readyz to answer 503 after SIGTERM")
        status, _, body = h.http_plain("127.0.0.1", cg.status_port, "GET", "/readyz")
        self.assertEqual(json.loads(body), {"status": "not_ready", "reason": "shutting down"})
        # Still alive, and still serving, during the delay.
        self.assertEqual(h.http_plain("127.0.0.1", cg.status_port, "GET", "/healthz")[0], 200)
        self.assertEqual(h.https_request(cg.port, self.pki, "GET", "/during").status, 200)
        self.assertEqual(cg.wait(15), 0)

    # -- logs -----------------------------------------------------------------------------

    def test_json_log_and_access_log_fields(self):
        cg = self.certgate("json", log={"format": "json"})
        r = h.https_request(cg.port, self.pki, "GET", "/db/x",
                            headers=[("User-Agent", 'probe/1.0 "quoted"')])
        self.assertEqual(r.status, 200)
        self.assertEqual(h.https_request(cg.port, self.pki, "GET", "/y",
                                         client="unknown").status, 403)
        entries = cg.wait_access_log(lambda e: sum(1 for x in e if "stream" in x) >= 2)
        ok = next(x for x in entries if x.get("path") == "/db/x")
        self.assertEqual(ok["user_agent"], 'probe/1.0 "quoted"')
        self.assertEqual(ok["upstream_status"], 200)
        self.assertIsInstance(ok["upstream_duration_us"], int)
        self.assertLessEqual(ok["upstream_duration_us"], ok["duration_us"])
        self.assertEqual((ok["route"], ok["route_path"]), (1, "/*"))
        # The host entry (test_hosts.py covers named entries): "" is the listener's own.
        self.assertEqual(ok["host"], "")
        with open(cg.access_log_path) as f:  # one "host" member per line, not two
            self.assertEqual([line for line in f if line.count('"host":') != 1], [])
        denied = next(x for x in entries if x.get("path") == "/y")
        self.assertNotIn("upstream_status", denied)
        self.assertNotIn("upstream_duration_us", denied)
        self.assertNotIn("user_agent", denied)
        cg.stop()
        with open(cg.stderr_path) as f:
            lines = [line for line in f.read().splitlines() if line]
        self.assertGreater(len(lines), 3)
        objs = [json.loads(line) for line in lines]  # every line is one JSON object
        for o in objs:
            self.assertTrue({"ts", "level", "msg"} <= set(o), o)
        first = objs[0]
        self.assertEqual(set(first) - {"ts", "level", "msg"}, {"version", "commit", "boringssl"})
        self.assertIn(first["version"], first["msg"])


if __name__ == "__main__":
    unittest.main()
