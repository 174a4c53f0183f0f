"""Live configuration (docs/operations.md "Live configuration").

certgate.json is reloaded by SIGHUP and when the file changes (an editor's rename, a
Kubernetes ConfigMap's `..data` symlink swap), while real clients keep sending requests:

- the upstream of a listener changes: new connections reach the new backend, and a
  connection opened before the reload keeps its old backend for its next requests on
  the same keep-alive connection (the rule: a connection keeps the configuration it was
  accepted with, to its end);
- a listener is added (it accepts) and one is removed (connection refused at once; a
  request in flight on it finishes, then its connection closes);
- a limit changes (limits.max_headers): new connections are held to it, an old
  connection keeps the old one;
- an invalid file is refused as a whole: one log line naming the file and the JSON
  path, certgate_config_reloads_total{result="error"}, the generation stays;
- a change that needs a restart (workers) is reported and the rest applies; `certgate
  check -c FILE` says what a reload would change against the running process;
- the admin API follows a reload (its /admin/status shows the new generation, and a
  client it deletes is refused on connections of the old configuration too); a file
  that removes the listener admin.listener names is refused.

The load runs through all of it: HTTP/1.1 keep-alive and new-connection loops (Python
TLS) and HTTP/2 rounds of h2load (a Public route: h2load presents no client
certificate), each bounded; not one request may fail.

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_live_config
"""

import json
import os
import re
import subprocess
import threading
import time
import unittest

import certgate_harness as h
from certgate_harness import stderr_text

RELOAD_TIMEOUT = 10.0

PKI = None
TMP = None
BACKEND_A = None
BACKEND_B = None


def setUpModule():
    global PKI, TMP, BACKEND_A, BACKEND_B
    TMP = h.make_tempdir("certgate-livecfg-")
    unittest.addModuleCleanup(h.remove_tree, TMP)
    os.makedirs(os.path.join(TMP, "pki"))
    PKI = h.make_pki(os.path.join(TMP, "pki"))
    BACKEND_A = h.Backend(TMP, name="backend-a")
    unittest.addModuleCleanup(BACKEND_A.kill)
    BACKEND_A.start()
    BACKEND_B = h.Backend(TMP, name="backend-b")
    unittest.addModuleCleanup(BACKEND_B.kill)
    BACKEND_B.start()


def backend_of(target):
    """backend_of says which backend received |target| ("a", "b", or None)."""
    if target in BACKEND_A.requests():
        return "a"
    if target in BACKEND_B.requests():
        return "b"
    return None


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        out[name] = float(value)
    return out


def ka_get(ka, target, headers=()):
    """ka_get sends GET |target| with |headers| on the keep-alive connection |ka|."""
    ka.sock.sendall(h.request_bytes("GET", target, "%s:%d" % (ka.server_hostname, ka.port),
                                    headers))
    r = ka.reader.read()
    ka.count += 1
    return r


def many_headers(n):
    return [("X-Extra-%d" % i, "v") for i in range(n)]


class LiveConfigTest(unittest.TestCase):

    def setUp(self):
        self.pki = PKI
        self.work = os.path.join(TMP, self.id().rsplit(".", 1)[-1])
        os.makedirs(os.path.join(self.work, "state"))
        h.write_json(os.path.join(self.work, "policy.json"), h.default_policy(self.pki))
        self.port = h.free_port()
        self.status_port = h.free_port()

    # ---- configuration -----------------------------------------------------------------

    def listener(self, name, port):
        return {
            "name": name,
            "listen": ["127.0.0.1:%d" % port],
            "tls": {"certificates": [{"cert": self.pki.server.cert, "key": self.pki.server.key}]},
            "alpn": ["h2", "http/1.1"],
            "policy": os.path.join(self.work, "policy.json"),
            "upstream": "db",
        }

    def config(self, backend, listeners=None, limits=None, workers=2):
        """config returns a certgate.json document: listeners [(name, port)] (default
        one "main" on self.port), upstream db on |backend|."""
        listeners = listeners or [("main", self.port)]
        return {
            "workers": workers,
            "state_dir": os.path.join(self.work, "state"),
            "log": {"level": "info"},
            "status": {"listen": "127.0.0.1:%d" % self.status_port},
            "listeners": [self.listener(n, p) for n, p in listeners],
            "upstreams": {"db": {"servers": ["127.0.0.1:%d" % backend.port]}},
            "limits": limits or {"max_headers": 100},
            "timeouts": {"drain": 5000},
        }

    def start(self, cfg, path):
        h.write_json(path, cfg)
        cg = h.Certgate(self.work, path, self.port)
        self.addCleanup(cg.kill)
        cg.start()
        self.cg = cg
        self.pid = cg.pid
        return cg

    def metrics(self):
        status, _, body = h.http_plain("127.0.0.1", self.status_port, "GET", "/metrics")
        self.assertEqual(status, 200)
        return parse_metrics(body.decode())

    def generation(self):
        return int(self.metrics()["certgate_config_generation"])

    def reloads(self, result):
        return int(self.metrics()['certgate_config_reloads_total{result="%s"}' % result])

    def wait_generation(self, g):
        try:
            h.wait_until(lambda: self.generation() >= g, RELOAD_TIMEOUT, 0.05,
                         "configuration generation %d" % g)
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.cg.logs()))
        self.assertEqual(self.generation(), g, self.cg.logs())

    def get(self, port, target, headers=()):
        return h.https_request(port, self.pki, "GET", target, headers=headers)

    def sighup_with(self, path, cfg):
        """sighup_with rewrites |path| in place through a descriptor held open while
        SIGHUP is sent: no inotify event certgate watches is made before it closes, so
        the reload comes from the signal."""
        real = os.path.realpath(path)
        f = open(real, "r+")
        f.seek(0)
        f.truncate()
        json.dump(cfg, f, indent=2)
        f.flush()
        return f

    def check_report(self, path):
        out = subprocess.run([h.certgate_bin(), "check", "-c", path], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        return out.stdout

    # ---- tests -------------------------------------------------------------------------

    def test_upstream_change_and_the_keepalive_rule(self):
        path = os.path.join(self.work, "certgate.json")
        cg = self.start(self.config(BACKEND_A), path)
        self.assertEqual(self.generation(), 1)
        self.assertIn("no change", self.check_report(path))
        old = h.KeepAlive(self.port, h.client_context(self.pki))
        self.addCleanup(old.close)
        self.assertEqual(old.get("/rule/old-1").status, 200)
        self.assertEqual(backend_of("/rule/old-1"), "a")

        # `check` against the running process, before the reload.
        h.write_json(path + ".next", self.config(BACKEND_B))
        report = self.check_report(path + ".next")
        self.assertIn("changed: upstreams.db.servers [127.0.0.1:%d] -> [127.0.0.1:%d]"
                      % (BACKEND_A.port, BACKEND_B.port), report)

        f = self.sighup_with(path, self.config(BACKEND_B))
        try:
            cg.hup()
            self.wait_generation(2)
        finally:
            f.close()
        self.assertEqual(self.reloads("ok"), 1)
        # New connections follow the new configuration...
        self.assertEqual(self.get(self.port, "/rule/new-1").status, 200)
        self.assertEqual(backend_of("/rule/new-1"), "b")
        # ... the connection opened before keeps the one it started with.
        self.assertEqual(old.get("/rule/old-2").status, 200)
        self.assertEqual(backend_of("/rule/old-2"), "a")
        self.assertIn("no change", self.check_report(path))

        # An editor's save (temporary file + rename), no signal.
        h.write_atomic(path, self.config(BACKEND_A))
        self.wait_generation(3)
        self.assertEqual(self.get(self.port, "/rule/new-2").status, 200)
        self.assertEqual(backend_of("/rule/new-2"), "a")
        self.assertEqual(old.get("/rule/old-3").status, 200)
        self.assertEqual(backend_of("/rule/old-3"), "a")
        old.close()
        # /admin/status is not configured here; the status port and the metrics say it.
        self.assertTrue(cg.running())
        cg.stop()
        self.assertFalse(os.path.exists(os.path.join(self.work, "state",
                                                     "running-config.json")))
        self.assertIn("no certgate runs", self.check_report(path))

    def test_invalid_configuration_is_refused_as_a_whole(self):
        path = os.path.join(self.work, "certgate.json")
        cg = self.start(self.config(BACKEND_A), path)
        bad = self.config(BACKEND_B, limits={"max_headers": "lots"})
        h.write_atomic(path, bad)
        h.wait_until(lambda: self.reloads("error") == 1, RELOAD_TIMEOUT, 0.05, "refusal")
        self.assertEqual(self.generation(), 1)
        lines = [l for l in stderr_text(cg).splitlines() if "configuration reload refused" in l]
        self.assertEqual(len(lines), 1, stderr_text(cg))
        self.assertIn(path, lines[0])
        self.assertIn("limits.max_headers", lines[0])
        # The running configuration stays: its upstream still serves.
        self.assertEqual(self.get(self.port, "/invalid/after").status, 200)
        self.assertEqual(backend_of("/invalid/after"), "a")
        # A file that loads but whose certificate does not is refused the same way.
        broken = self.config(BACKEND_B)
        broken["listeners"][0]["tls"]["certificates"][0]["cert"] = "/nonexistent.pem"
        h.write_atomic(path, broken)
        h.wait_until(lambda: self.reloads("error") == 2, RELOAD_TIMEOUT, 0.05, "refusal")
        self.assertEqual(self.generation(), 1)
        # A valid one applies afterwards.
        h.write_atomic(path, self.config(BACKEND_B))
        self.wait_generation(2)
        self.assertEqual(self.get(self.port, "/invalid/fixed").status, 200)
        self.assertEqual(backend_of("/invalid/fixed"), "b")
        cg.stop()

    def test_restart_only_change_is_reported_and_the_rest_applies(self):
        path = os.path.join(self.work, "certgate.json")
        cg = self.start(self.config(BACKEND_A), path)
        headers = many_headers(30)
        self.assertEqual(self.get(self.port, "/limit/before", headers).status, 200)
        h.write_atomic(path, self.config(BACKEND_A, limits={"max_headers": 20}, workers=3))
        self.wait_generation(2)
        self.assertEqual(self.get(self.port, "/limit/after", headers).status, 431)
        self.assertIn("not applied live: workers 2 -> 3 (restart needed)", stderr_text(cg))
        report = self.check_report(path).split("\nreload: ", 1)[1]
        self.assertIn("changed: workers 2 -> 3 (restart needed)", report)
        self.assertNotIn("max_headers", report)  # applied: nothing left to change
        cg.stop()

    def admin_call(self, method, path, headers=()):
        s = h.tls_connect(self.admin_port, h.client_context(self.pki, "admin"), timeout=15)
        try:
            s.sendall(h.request_bytes(method, path, "localhost:%d" % self.admin_port,
                                      list(headers)))
            return h.ResponseReader(s, 15).read()
        finally:
            s.close()

    def test_admin_api_follows_a_reload(self):
        self.admin_port = h.free_port()
        path = os.path.join(self.work, "certgate.json")

        def with_admin(cfg):
            cfg["admin"] = {"listen": "127.0.0.1:%d" % self.admin_port, "listener": "main"}
            return cfg
        cg = self.start(with_admin(self.config(BACKEND_A)), path)
        cg.wait_listening(self.admin_port)
        old = h.KeepAlive(self.port, h.client_context(self.pki, "reader"))
        self.addCleanup(old.close)
        self.assertEqual(old.get("/admin-rule/1").status, 200)

        h.write_atomic(path, with_admin(self.config(BACKEND_B)))
        self.wait_generation(2)
        r = self.admin_call("GET", "/admin/status")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["config"]["generation"], 2)
        self.assertEqual(r.json()["config"]["reloads"], 1)
        # POST /admin/reload reloads certgate.json too: nothing new in it.
        r = self.admin_call("POST", "/admin/reload")
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json()["ok"], r.json()["config_refused"],
                          r.json()["config_generation"]), (True, False, 2))
        self.assertEqual(self.reloads("ok"), 2)

        # The admin API edits the policy of the configuration in force; the change
        # reaches the connection that still runs on generation 1 as well.
        etag = self.admin_call("GET", "/admin/certificates").header("ETag")
        r = self.admin_call("DELETE", "/admin/certificates/" + self.pki.clients["reader"].sha1,
                            [("If-Match", etag)])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(h.https_request(self.port, self.pki, "GET", "/admin-rule/2",
                                         client="reader").status, 403)
        self.assertEqual(old.get("/admin-rule/3").status, 403)

        # Removing the listener admin.listener names cannot apply live.
        renamed = with_admin(self.config(BACKEND_B, [("other", self.port)]))
        renamed["admin"]["listener"] = "other"
        h.write_atomic(path, renamed)
        h.wait_until(lambda: self.reloads("error") == 1, RELOAD_TIMEOUT, 0.05, "refusal")
        self.assertEqual(self.generation(), 2)
        self.assertIn("admin.listener", [l for l in stderr_text(cg).splitlines()
                                         if "configuration reload refused" in l][0])
        self.assertEqual(self.admin_call("GET", "/admin/status").status, 200)
        cg.stop()

    def test_reload_under_load(self):
        vol = h.KubernetesVolume(os.path.join(self.work, "config"))
        old_port = h.free_port()
        new_port = h.free_port()
        cfg1 = self.config(BACKEND_A, [("main", self.port), ("old", old_port)])
        vol.publish({"certgate.json": json.dumps(cfg1)})
        path = vol.path("certgate.json")
        cg = h.Certgate(self.work, path, self.port)
        self.addCleanup(cg.kill)
        cg.start()
        self.cg = cg

        stop = threading.Event()
        stats = {"ka": 0, "ka_fail": [], "new": [], "new_fail": [], "h2": 0, "h2_fail": [],
                 "old_ka": 0, "old_ka_fail": []}
        headers = many_headers(30)

        def keepalive_loop():
            # One connection for the whole test: every reload happens under it.
            ka = h.KeepAlive(self.port, h.client_context(self.pki))
            try:
                i = 0
                while not stop.is_set() and i < 20000:
                    i += 1
                    try:
                        # Every tenth request has 30 header fields: still fine on this
                        # connection after the limit goes down to 20 for new ones.
                        r = ka_get(ka, "/load/ka-%d" % i, headers if i % 10 == 0 else ())
                    except Exception as e:  # noqa: BLE001 (any failure counts)
                        stats["ka_fail"].append(repr(e))
                        return
                    if r.status != 200:
                        stats["ka_fail"].append(r.status)
                    stats["ka"] += 1
            finally:
                ka.close()

        def new_connection_loop():
            i = 0
            while not stop.is_set() and i < 5000:
                i += 1
                target = "/load/new-%d" % i
                try:
                    r = self.get(self.port, target)
                except Exception as e:  # noqa: BLE001
                    stats["new_fail"].append(repr(e))
                    continue
                if r.status != 200:
                    stats["new_fail"].append(r.status)
                stats["new"].append((time.monotonic(), target))

        def h2_loop():
            rounds = 0
            while not stop.is_set() and rounds < 200:
                rounds += 1
                out = subprocess.run(
                    ["timeout", "60", "h2load", "-n", "400", "-c", "2", "-m", "4",
                     "https://127.0.0.1:%d/healthz" % self.port],
                    capture_output=True, text=True)
                m = re.search(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, "
                              r"(\d+) failed, (\d+) errored, (\d+) timeout", out.stdout)
                if m is None or out.returncode != 0:
                    stats["h2_fail"].append(out.stdout[-500:] + out.stderr[-500:])
                    continue
                stats["h2"] += int(m.group(2))
                if int(m.group(3)) or int(m.group(4)) or int(m.group(5)) or \
                        int(m.group(1)) != int(m.group(2)):
                    stats["h2_fail"].append(m.group(0))

        def old_listener_loop():
            # A keep-alive connection to the listener that goes away.
            ka = h.KeepAlive(old_port, h.client_context(self.pki))
            try:
                while not stop.is_set():
                    try:
                        r = ka.get("/load/old-%d" % stats["old_ka"])
                    except Exception:  # noqa: BLE001
                        return  # closed after the removal: checked below
                    if r.status != 200:
                        stats["old_ka_fail"].append(r.status)
                    stats["old_ka"] += 1
                    if (r.header("connection") or "").lower() == "close":
                        return
            finally:
                ka.close()

        threads = [threading.Thread(target=f) for f in
                   (keepalive_loop, new_connection_loop, h2_loop, old_listener_loop)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)
            # 1. The upstream changes, by SIGHUP.
            f = self.sighup_with(path, self.config(BACKEND_B, [("main", self.port),
                                                               ("old", old_port)]))
            try:
                t_reload = time.monotonic()
                cg.hup()
                self.wait_generation(2)
            finally:
                f.close()
            h.wait_until(lambda: any(backend_of(t) == "b" for ts, t in stats["new"][-20:]
                                     if ts > t_reload), RELOAD_TIMEOUT, 0.1,
                         "new connections on backend b")
            time.sleep(0.5)
            # 2. A listener is added (..data swap).
            cfg3 = self.config(BACKEND_B, [("main", self.port), ("old", old_port),
                                           ("new", new_port)])
            vol.publish({"certgate.json": json.dumps(cfg3)})
            self.wait_generation(3)
            self.assertEqual(self.get(new_port, "/load/added").status, 200)
            # 3. A listener is removed (..data swap) while a request is in flight on it.
            slow = h.KeepAlive(old_port, h.client_context(self.pki))
            self.addCleanup(slow.close)
            slow.sock.sendall(h.request_bytes("GET", "/sleep?ms=1500",
                                              "localhost:%d" % old_port))
            time.sleep(0.3)
            cfg4 = self.config(BACKEND_B, [("main", self.port), ("new", new_port)])
            vol.publish({"certgate.json": json.dumps(cfg4)})
            self.wait_generation(4)
            with self.assertRaises(ConnectionRefusedError):
                self.get(old_port, "/load/removed")
            r = slow.reader.read()
            self.assertEqual(r.status, 200)
            self.assertEqual((r.header("connection") or "").lower(), "close")
            time.sleep(0.5)
            # 4. A limit changes, by SIGHUP: new connections get it, the old keep-alive
            # connection keeps its own (its 30-header requests go on succeeding).
            f = self.sighup_with(path, self.config(BACKEND_B, [("main", self.port),
                                                               ("new", new_port)],
                                                   limits={"max_headers": 20}))
            try:
                cg.hup()
                self.wait_generation(5)
            finally:
                f.close()
            self.assertEqual(self.get(self.port, "/load/limit", headers).status, 431)
            time.sleep(0.5)
            # 5. An invalid file is refused; everything goes on.
            bad = self.config(BACKEND_B, [("main", self.port), ("new", new_port)])
            bad["upstreams"]["db"]["servers"] = ["not an address"]
            vol.publish({"certgate.json": json.dumps(bad)})
            h.wait_until(lambda: self.reloads("error") == 1, RELOAD_TIMEOUT, 0.05, "refusal")
            self.assertEqual(self.generation(), 5)
            time.sleep(1.0)
        finally:
            stop.set()
            for t in threads:
                t.join(120)
        self.assertEqual(self.reloads("ok"), 4)
        refused = [l for l in stderr_text(cg).splitlines() if "configuration reload refused" in l]
        self.assertEqual(len(refused), 1, refused)
        self.assertIn("upstreams.db.servers", refused[0])
        self.assertIn(path, refused[0])
        self.assertEqual(stats["ka_fail"], [])
        self.assertEqual(stats["new_fail"], [])
        self.assertEqual(stats["h2_fail"], [])
        self.assertEqual(stats["old_ka_fail"], [])
        self.assertGreater(stats["ka"], 50)
        self.assertGreater(len(stats["new"]), 20)
        self.assertGreater(stats["h2"], 400)
        import sys
        sys.stderr.write("\n[reload under load] 5 reloads (1 refused): %d keep-alive, %d "
                         "new-connection HTTP/1.1, %d HTTP/2 requests, %d on the removed "
                         "listener; 0 failed\n" % (stats["ka"], len(stats["new"]), stats["h2"],
                                                   stats["old_ka"]))
        cg.stop()


if __name__ == "__main__":
    unittest.main()
