"""Live policy reload (docs/policy.md, docs/operations.md "Live reload").

Each test starts its own certgate (the backend and the PKI are shared) and changes the
policy while it runs, observing the change only through requests: a certificate that
becomes allowed or denied, never a restart.

- SIGHUP (the file is rewritten through a descriptor held open, which makes no inotify
  event certgate listens to, so the reload can only come from the signal);
- an editor's save: temporary file + rename;
- Kubernetes' ConfigMap update: `..2026_01/`, `..data -> ..2026_01`,
  `policy.json -> ..data/policy.json`, then `..data_tmp -> ..2026_02` renamed over `..data`;
- invalid policies (syntax, unknown key, bad clearance): each counted once as a refused
  reload (certgate_policy_reloads_total{result="failed"}), `certgate check` names the
  file and the JSON path, the previous policy keeps deciding (same generation), a later
  valid one applies;
- deleting an entry (`certgate cert delete`) denies the next request on an already open
  keep-alive connection, re-adding it allows the next one, the connection stays open;
- `certgate cert client --policy FILE` then a request with the new bundle, no restart;
- 50 reloads (rename and SIGHUP) under continuous load on keep-alive connections plus a
  thread of new connections: zero failed requests, zero closed connections.

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_reload
"""

import json
import os
import ssl
import subprocess
import threading
import time
import unittest
import uuid

import certgate_harness as h
from certgate_harness import RELOAD_TIMEOUT, policy_generation, run_certgate, write_atomic


def refusals(cg):
    """refusals returns how many policy reloads of listener db certgate refused."""
    return cg.metrics().value("certgate_policy_reloads_total", listener="db", result="failed")


def make_policy(pki, clients, names=None):
    names = names or {}
    clearance = {"admin": "ClusterAdmin", "reader": "ValidUser", "writer": "ValidUser",
                 "unknown": "Operator"}
    entries = []
    for c in clients:
        e = {"name": names.get(c, c), "thumbprints": [pki.clients[c].sha1],
             "clearance": clearance[c]}
        if clearance[c] == "ValidUser":
            e["databases"] = {"db1": "ReadWrite" if c == "writer" else "ReadOnly"}
        entries.append(e)
    return {
        "allow_ips": ["127.0.0.1", "::1"],
        "routes": [
            {"path": "/healthz", "require": "Public"},
            {"path": "/databases/{db}/*", "require": "ReadOnly"},
            {"path": "/*", "require": "Authenticated"},
        ],
        "certificates": entries,
    }


# --------------------------------------------------------------------------------------

PKI = None
TMP = None
BACKEND = None


def setUpModule():
    global PKI, TMP, BACKEND
    TMP = h.make_tempdir("certgate-reload-")
    unittest.addModuleCleanup(h.remove_tree, TMP)
    os.makedirs(os.path.join(TMP, "pki"))
    PKI = h.make_pki(os.path.join(TMP, "pki"))
    BACKEND = h.Backend(TMP)
    unittest.addModuleCleanup(BACKEND.kill)
    BACKEND.start()


class ReloadTest(unittest.TestCase):

    def setUp(self):
        self.pki = PKI
        self.work = os.path.join(TMP, self.id().rsplit(".", 1)[-1])
        os.makedirs(self.work)

    def start(self, policy=None, policy_path=None, **kw):
        """start runs a certgate for this test (policy.json in self.work unless
        policy_path is given, then policy=False: the test wrote it)."""
        if policy_path:
            cg = h.start_certgate(self.work, self.pki, [BACKEND.port], policy=False,
                                  policy_path=policy_path, status=True, **kw)
        else:
            cg = h.start_certgate(self.work, self.pki, [BACKEND.port], policy=policy,
                                  status=True, **kw)
        self.addCleanup(cg.kill)
        self.cg = cg
        self.port = cg.port
        self.policy_path = policy_path or os.path.join(self.work, "policy.json")
        self.pid = cg.pid
        h.wait_until(lambda: policy_generation(cg) >= 1, RELOAD_TIMEOUT,
                     what="the first policy in force")
        return cg

    def status(self, client, target="/x"):
        r = h.https_request(self.port, self.pki, "GET", target, client=client)
        return r

    def wait_status(self, client, want, target="/x", timeout=RELOAD_TIMEOUT, reason=None):
        """wait_status polls fresh connections until `client` gets `want`."""
        last = [None]

        def ok():
            r = self.status(client, target)
            last[0] = r
            if r.status != want:
                return False
            if reason and json.loads(r.body).get("reason") != reason:
                return False
            return r
        try:
            return h.wait_until(ok, timeout, 0.03, "%s -> %d" % (client, want))
        except AssertionError as e:
            raise AssertionError("%s; last response %r\n%s" % (e, last[0], self.cg.logs()))

    def assertStillRunning(self):
        self.assertTrue(self.cg.running(), self.cg.logs())
        self.assertEqual(self.cg.pid, self.pid)

    def wait_generation_above(self, g, timeout=RELOAD_TIMEOUT):
        return h.wait_generation_above(self.cg, g, timeout=timeout)

    # --- the three ways a reload is triggered ----------------------------------------

    def test_sighup(self):
        self.start(make_policy(self.pki, ["admin"]))
        self.assertEqual(self.status("writer").status, 403)
        g0 = policy_generation(self.cg)
        # Rewrite the file in place through a descriptor kept open: truncate and write
        # only raise IN_MODIFY (not watched; only IN_CLOSE_WRITE is), so nothing but the
        # signal can make certgate read it.
        data = json.dumps(make_policy(self.pki, ["admin", "writer"]), indent=2).encode()
        fd = os.open(self.policy_path, os.O_WRONLY)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            os.fsync(fd)
            # Negative check (time-based by nature: 3x the 150 ms debounce).
            time.sleep(0.5)
            r = self.status("writer")
            self.assertEqual(r.status, 403, "policy changed without SIGHUP: %r" % r)
            self.cg.hup()
            self.wait_status("writer", 200)
        finally:
            os.close(fd)
        self.assertGreater(policy_generation(self.cg), g0)
        # And back, by SIGHUP again.
        fd = os.open(self.policy_path, os.O_WRONLY)
        try:
            data = json.dumps(make_policy(self.pki, ["admin"]), indent=2).encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            self.cg.hup()
            self.wait_status("writer", 403, reason="unknown_certificate")
        finally:
            os.close(fd)
        self.assertEqual(self.status("admin").status, 200)
        self.assertStillRunning()

    def test_editor_rename(self):
        self.start(make_policy(self.pki, ["admin"]))
        self.assertEqual(self.status("reader").status, 403)
        write_atomic(self.policy_path, make_policy(self.pki, ["admin", "reader"]))
        r = self.wait_status("reader", 200, target="/databases/db1/doc")
        self.assertEqual(h.Response.all(r, "Connection"), [])
        write_atomic(self.policy_path, make_policy(self.pki, ["admin"]))
        self.wait_status("reader", 403, reason="unknown_certificate")
        # An editor that writes a backup and renames the original away first (vim's
        # "backupcopy=no"): the path is missing for a moment, then the new file appears.
        os.rename(self.policy_path, self.policy_path + "~")
        write_atomic(self.policy_path, make_policy(self.pki, ["admin", "reader"]))
        self.wait_status("reader", 200)
        self.assertStillRunning()

    def test_kubernetes_data_symlink_swap(self):
        volume = h.KubernetesVolume(os.path.join(self.work, "configmap"))

        def swap(clients):
            # Like the kubelet: new version directory, ..data renamed over, the old
            # version directory removed afterwards.
            volume.publish({"policy.json": json.dumps(make_policy(self.pki, clients))})

        swap(["admin"])
        self.start(policy_path=volume.path("policy.json"))
        self.assertEqual(self.status("admin").status, 200)
        self.assertEqual(self.status("writer").status, 403)
        swap(["admin", "writer"])
        self.wait_status("writer", 200)
        swap(["writer"])
        self.wait_status("admin", 403, reason="unknown_certificate")
        self.assertEqual(self.status("writer").status, 200)
        self.assertStillRunning()

    def test_reload_not_starved_by_directory_churn(self):
        # Unrelated files keep changing in the policy's directory (a sidecar's scratch
        # files, another ConfigMap key, curl's temp dirs...): a policy change must still
        # be applied within a bounded time, not postponed while the churn goes on.
        self.start(make_policy(self.pki, ["admin"]))
        stop = threading.Event()
        churn_dir = os.path.dirname(self.policy_path)
        done = [0]

        def churn():
            i = 0
            while not stop.is_set():
                i += 1
                done[0] = i
                p = os.path.join(churn_dir, "scratch-%d" % (i % 4))
                with open(p, "w") as f:
                    f.write("x")
                os.unlink(p)
                stop.wait(0.05)
        t = threading.Thread(target=churn, daemon=True)
        t.start()
        self.addCleanup(t.join, 5)
        self.addCleanup(stop.set)
        h.wait_until(lambda: done[0] >= 4, 5, 0.02, "the churn to be under way")
        write_atomic(self.policy_path, make_policy(self.pki, ["admin", "writer"]))
        t0 = time.monotonic()
        try:
            self.wait_status("writer", 200, timeout=3.0)
        finally:
            stop.set()
        took = time.monotonic() - t0
        self.assertLess(took, 3.0)

    # --- invalid policies -----------------------------------------------------------

    def test_invalid_policy_keeps_previous(self):
        self.start(make_policy(self.pki, ["admin"]))
        g0 = policy_generation(self.cg)
        good = make_policy(self.pki, ["admin", "writer"])
        bad_syntax = json.dumps(good, indent=2)[:-20] + "\n"
        unknown_key = json.loads(json.dumps(good))
        unknown_key["certificates"][1]["clearence"] = "ValidUser"
        bad_clearance = json.loads(json.dumps(good))
        bad_clearance["certificates"][1]["clearance"] = "SuperAdmin"
        unknown_top = json.loads(json.dumps(good))
        unknown_top["alow_ips"] = ["0.0.0.0/0"]
        cases = [
            ("syntax error", bad_syntax, r"policy\.json:\d+:\d+"),
            ("unknown key", unknown_key, r"\$\.certificates\[1\]"),
            ("bad clearance", bad_clearance, r"\$\.certificates\[1\]\.clearance"),
            ("unknown top-level key", unknown_top, r"alow_ips"),
        ]
        for what, content, pattern in cases:
            n = refusals(self.cg)
            write_atomic(self.policy_path, content)
            h.wait_until(lambda: refusals(self.cg) > n, RELOAD_TIMEOUT, 0.02,
                         "the refusal of the %s" % what)
            # The old policy still decides: admin allowed, writer still unknown.
            self.assertEqual(self.status("admin").status, 200, what)
            r = self.status("writer")
            self.assertEqual(r.status, 403, "%s: %r" % (what, r))
            self.assertEqual(json.loads(r.body)["reason"], "unknown_certificate")
            self.assertEqual(refusals(self.cg), n + 1, what)
            self.assertEqual(policy_generation(self.cg), g0, "%s: generation moved" % what)
            # What the operator runs to see why: the file and the JSON path.
            p = run_certgate("check", "-c", self.cg.config_path, ok=False)
            self.assertEqual(p.returncode, 1, "%s: %s%s" % (what, p.stdout, p.stderr))
            self.assertIn(self.policy_path, p.stderr, what)
            self.assertRegex(p.stderr, pattern, what)
        # The access log shows requests still decided by generation g0.
        ents = self.cg.wait_access_log(lambda es: any(
            e.get("thumbprint") == self.pki.clients["writer"].sha1 for e in es))
        self.assertEqual({e["policy_generation"] for e in ents
                          if e.get("thumbprint") == self.pki.clients["writer"].sha1}, {g0})
        # A valid file is taken again.
        write_atomic(self.policy_path, good)
        self.wait_status("writer", 200)
        self.assertEqual(policy_generation(self.cg), g0 + 1)
        self.assertStillRunning()

    def test_invalid_policy_refused_at_sighup_too(self):
        self.start(make_policy(self.pki, ["admin"]))
        n = refusals(self.cg)
        fd = os.open(self.policy_path, os.O_WRONLY)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, b"{\"routes\": [}", 0)
            self.cg.hup()
            h.wait_until(lambda: refusals(self.cg) > n, RELOAD_TIMEOUT, 0.02,
                         "the refusal after SIGHUP")
        finally:
            os.close(fd)
        self.assertEqual(self.status("admin").status, 200)
        self.assertStillRunning()

    # --- per request, not per connection ------------------------------------------

    def test_delete_denies_next_request_on_open_connection(self):
        self.start(make_policy(self.pki, ["admin", "writer"]))
        writer = self.pki.clients["writer"]
        ka = h.KeepAlive(self.port, h.client_context(self.pki, "writer"))
        self.addCleanup(ka.close)
        r = ka.get("/before")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["headers"] and
                         [v for k, v in r.json()["headers"]
                          if k.lower() == "x-client-name"], ["writer"])
        p = run_certgate("cert", "delete", writer.sha1, "--policy", self.policy_path)
        # Poll on the SAME connection until the deletion applies.
        marker = uuid.uuid4().hex[:8]
        deadline = time.monotonic() + RELOAD_TIMEOUT
        i = 0
        while True:
            i += 1
            r = ka.get("/after-%s-%d" % (marker, i))
            if r.status == 403:
                break
            self.assertEqual(r.status, 200, r)
            self.assertLess(time.monotonic(), deadline,
                            "deletion not applied on the open connection\n" + self.cg.logs())
            time.sleep(0.03)
        body = json.loads(r.body)
        self.assertEqual(body["reason"], "unknown_certificate", body)
        self.assertNotIn("close", [v.lower() for v in r.all("Connection")], r)
        # Still open, still denied, and the denied request never reached the backend.
        r = ka.get("/denied-%s" % marker)
        self.assertEqual(r.status, 403, r)
        self.assertFalse([t for t in BACKEND.requests() if t == "/denied-%s" % marker])
        # Re-registered: the same connection is allowed again.
        write_atomic(self.policy_path, make_policy(self.pki, ["admin", "writer"]))
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while True:
            r = ka.get("/readded-%s" % marker)
            if r.status == 200:
                break
            self.assertLess(time.monotonic(), deadline, "re-registration not applied")
            time.sleep(0.03)
        self.assertGreater(ka.count, 3)
        self.assertStillRunning()

    def test_cert_client_cli_registers_without_restart(self):
        self.start(make_policy(self.pki, ["admin"]))
        ca = os.path.join(self.work, "ca")
        run_certgate("ca", "init", "--dir", ca, "--name", "reload test CA")
        out = os.path.join(self.work, "newclient")
        run_certgate("cert", "client", "--ca", ca, "--name", "New App", "--clearance",
                     "ValidUser", "--db", "db1=ReadOnly", "--password", "pw-123456",
                     "--out", out, "--policy", self.policy_path)
        self.pki.clients["newapp"] = h.Cert("newapp", os.path.join(out, "tls.crt"),
                                            os.path.join(out, "tls.key"))

        last = []

        def curl_ok():
            # curl's scratch files go outside the watched policy directory (see
            # test_reload_not_starved_by_directory_churn for why that matters).
            r = h.curl(self.pki, ["https://localhost:%d/databases/db1/doc" % self.port],
                       client="newapp", tmpdir=TMP, timeout=10)
            last[:] = [r]
            return r if r.status == 200 else None
        try:
            r = h.wait_until(curl_ok, RELOAD_TIMEOUT, 0.05, "the new bundle to be allowed")
        except AssertionError as e:
            raise AssertionError("%s: last %r\n%s" % (e, last, self.cg.logs()))
        e = r.json()
        names = [v for k, v in e["headers"] if k.lower() == "x-client-name"]
        self.assertEqual(names, ["New App"])
        # With the PKCS#12 bundle too.
        r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                            "--cacert", self.pki.ca.cert, "--cert-type", "P12",
                            "--cert", os.path.join(out, "bundle.p12") + ":pw-123456",
                            "--resolve", "localhost:%d:127.0.0.1" % self.port,
                            "https://localhost:%d/databases/db1/doc" % self.port],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.stdout, "200", r.stderr)
        self.assertStillRunning()

    def test_symlinked_policy_edited_through_the_link(self):
        # The configured policy path is a symlink to a file kept in another directory
        # (configuration management). `certgate cert` writes through the link: the link
        # stays, the target changes, and the daemon, which watches the target's
        # directory too, applies it. (Renaming over the link used to replace it with a
        # regular file.)
        store = os.path.join(self.work, "store")
        conf = os.path.join(self.work, "conf")
        os.makedirs(store)
        os.makedirs(conf)
        target = os.path.join(store, "policy.json")
        with open(target, "w") as f:
            json.dump(make_policy(self.pki, ["admin"]), f)
        link = os.path.join(conf, "policy.json")
        os.symlink(target, link)
        self.start(policy_path=link)
        self.assertEqual(self.status("writer").status, 403)
        run_certgate("cert", "import", self.pki.client("writer").cert, "--name", "writer",
                     "--clearance", "ClusterAdmin", "--policy", link)
        self.assertTrue(os.path.islink(link))
        with open(target) as f:
            self.assertIn("writer", [e["name"] for e in json.load(f)["certificates"]])
        self.assertTrue(os.path.exists(target + ".lock"))
        self.assertFalse(os.path.exists(link + ".lock"))
        self.wait_status("writer", 200)
        # An editor replacing the target in its own directory is seen as well.
        write_atomic(target, make_policy(self.pki, ["admin"]))
        self.wait_status("writer", 403, reason="unknown_certificate")
        self.assertStillRunning()

    # --- reloads under load ------------------------------------------------------

    def test_50_reloads_under_load(self):
        names_a = {"admin": "admin-A"}
        names_b = {"admin": "admin-B"}
        self.start(make_policy(self.pki, ["admin", "reader"], names_a))
        stop = threading.Event()
        lock = threading.Lock()
        stats = {"ok": 0, "failed": [], "closed": 0, "new_conns": 0, "names": set()}
        NKEEP = 3

        def keepalive_loop(tid):
            ka = None
            i = 0
            try:
                ka = h.KeepAlive(self.port, h.client_context(self.pki, "admin"))
                while not stop.is_set():
                    i += 1
                    try:
                        r = ka.get("/load/k%d/%d" % (tid, i))
                    except (OSError, EOFError, ValueError, ssl.SSLError) as e:
                        with lock:
                            stats["failed"].append("keep-alive %d req %d: %r" % (tid, i, e))
                            stats["closed"] += 1
                        ka.close()
                        ka = h.KeepAlive(self.port, h.client_context(self.pki, "admin"))
                        continue
                    closing = [v for v in r.all("Connection") if "close" in v.lower()]
                    name = [v for k, v in r.json()["headers"]
                            if k.lower() == "x-client-name"] if r.status == 200 else []
                    with lock:
                        if r.status != 200:
                            stats["failed"].append("keep-alive %d req %d: %r" % (tid, i, r))
                        else:
                            stats["ok"] += 1
                            stats["names"].update(name)
                        if closing:
                            stats["closed"] += 1
                            stats["failed"].append("keep-alive %d: Connection: close" % tid)
                    if closing:
                        ka.close()
                        ka = h.KeepAlive(self.port, h.client_context(self.pki, "admin"))
                # The connection made at the start is still usable at the end.
                r = ka.get("/load/k%d/final" % tid)
                with lock:
                    if r.status != 200:
                        stats["failed"].append("keep-alive %d final: %r" % (tid, r))
            except Exception as e:  # noqa: BLE001 - everything counts as a failure
                with lock:
                    stats["failed"].append("keep-alive %d crashed: %r" % (tid, e))
            finally:
                if ka:
                    ka.close()

        def newconn_loop():
            ctx = h.client_context(self.pki, "reader")
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    s = h.tls_connect(self.port, ctx, timeout=10)
                    try:
                        s.sendall(h.request_bytes("GET", "/databases/db1/n%d" % i,
                                                  "localhost:%d" % self.port))
                        r = h.ResponseReader(s, 10).read()
                    finally:
                        s.close()
                    with lock:
                        stats["new_conns"] += 1
                        if r.status == 200:
                            stats["ok"] += 1
                        else:
                            stats["failed"].append("new conn %d: %r" % (i, r))
                except Exception as e:  # noqa: BLE001
                    with lock:
                        stats["failed"].append("new conn %d: %r" % (i, e))

        threads = [threading.Thread(target=keepalive_loop, args=(t,), daemon=True)
                   for t in range(NKEEP)] + [threading.Thread(target=newconn_loop, daemon=True)]
        for t in threads:
            t.start()
        self.addCleanup(stop.set)
        try:
            # Let every loop get going.
            h.wait_until(lambda: stats["ok"] >= 20, 10, 0.02, "load to start")
            g = policy_generation(self.cg)
            g_first = g
            for n in range(50):
                if n % 2 == 0:
                    # An edit by rename: the keep-alive clients' entry changes its name
                    # (admin-A / admin-B) and the writer comes and goes.
                    names = names_b if n % 4 == 0 else names_a
                    clients = ["admin", "reader"] + (["writer"] if n % 3 == 0 else [])
                    write_atomic(self.policy_path, make_policy(self.pki, clients, names))
                else:
                    # SIGHUP: a forced reload of the same file (a new generation too).
                    self.cg.hup()
                g = self.wait_generation_above(g)
            before = stats["ok"]
            h.wait_until(lambda: stats["ok"] >= before + 20, 10, 0.02,
                         "requests after the last reload")
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        self.assertFalse(any(t.is_alive() for t in threads), "a load thread hung")
        self.assertGreaterEqual(g - g_first, 50, "fewer than 50 reloads happened")
        self.assertEqual(stats["failed"][:20], [], "%d failed requests" % len(stats["failed"]))
        self.assertEqual(stats["closed"], 0)
        self.assertGreater(stats["new_conns"], 5)
        self.assertEqual(stats["names"], {"admin-A", "admin-B"},
                         "the keep-alive connections did not see the reloads")
        self.assertEqual(refusals(self.cg), 0)
        # Requests were decided under many generations.
        ents = self.cg.wait_access_log(lambda es: len(es) >= stats["ok"], 5.0)
        gens = {e["policy_generation"] for e in ents if e.get("path", "").startswith("/load/")}
        self.assertGreater(len(gens), 10, sorted(gens))
        self.assertStillRunning()
        print("\n    50 reloads under load: %d requests ok, %d new connections, %d failed, "
              "%d closed, %d generations seen" % (stats["ok"], stats["new_conns"],
                                                  len(stats["failed"]), stats["closed"],
                                                  len(gens)))


if __name__ == "__main__":
    unittest.main()
