"""The built-in default of docs/certificates.md: `certgate run` with no configuration creates a
state directory from nothing (CA, server certificate, ClusterAdmin bundle, policy,
config), prints a curl command that works as printed, and reuses everything on the
next start. Also curl with the PKCS#12 bundle (--cert-type P12) and with the PEMs.
Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_bootstrap
"""

import json
import os
import re
import shlex
import subprocess
import time
import unittest

import certgate_harness as h


class StateDirCase(unittest.TestCase):
    """A backend and a state directory path for each test."""

    def setUp(self):
        self.tmp = h.make_tempdir()
        self.addCleanup(h.remove_tree, self.tmp)
        self.backend = h.Backend(self.tmp)
        self.addCleanup(self.backend.kill)
        self.backend.start()
        self.port = h.free_port()
        self.status_port = h.free_port()
        self.state = os.path.join(self.tmp, "state-dir")

    def run_curl(self, argv):
        r = subprocess.run(argv + ["-sS", "-w", "\n%{http_code}"], capture_output=True,
                           timeout=20)
        out = r.stdout.decode()
        body, _, code = out.rpartition("\n")
        return r.returncode, int(code or 0), body or r.stderr.decode()


class BootstrapTest(StateDirCase):

    def start(self, name="certgate"):
        argv = [h.certgate_bin(), "run", "--state-dir", self.state,
                "--listen", "127.0.0.1:%d" % self.port,
                "--upstream", "127.0.0.1:%d" % self.backend.port,
                "--status-listen", "127.0.0.1:%d" % self.status_port]
        p = h.Process(argv, os.path.join(self.tmp, name), cwd=self.tmp)
        self.addCleanup(p.kill)
        p.start()
        p.wait_listening(self.port)
        h.wait_until(lambda: "curl " in p.logs(), 5, what="printed curl command")
        return p

    def curl_command(self, logs):
        m = re.search(r"^\s*(curl .*)$", logs, re.M)
        self.assertIsNotNone(m, logs)
        return m.group(1)

    def test_bootstrap_printed_curl_works_and_state_is_reused(self):
        p = self.start()
        logs = p.logs()
        self.assertIn("created state directory", logs)
        cmd = self.curl_command(logs)
        # Exactly as printed (plus output options): allowed, with the admin identity.
        rc, code, body = self.run_curl(shlex.split(cmd))
        self.assertEqual((rc, code), (0, 200), body)
        echo = json.loads(body)
        hdrs = {k.lower(): v for k, v in echo["headers"]}
        self.assertEqual(hdrs.get("x-client-clearance"), "ClusterAdmin")
        self.assertEqual(hdrs.get("x-client-name"), "admin")
        # Key files are private.
        for key in ("ca/ca.key", "server/tls.key", "clients/admin/tls.key",
                    "clients/admin/password"):
            mode = os.stat(os.path.join(self.state, key)).st_mode & 0o777
            self.assertEqual(mode & 0o077, 0, key)
        # Without a client certificate: refused.
        ca = os.path.join(self.state, "ca", "ca.crt")
        url = "https://localhost:%d/" % self.port
        rc, code, body = self.run_curl(["curl", "--cacert", ca, url])
        self.assertEqual(code, 403, body)
        # The PKCS#12 bundle works with curl as it is handed out.
        bundle = os.path.join(self.state, "clients", "admin")
        with open(os.path.join(bundle, "password")) as f:
            password = f.read().strip()
        rc, code, body = self.run_curl(["curl", "--cacert", ca, "--cert-type", "P12",
                                        "--cert", "%s/bundle.p12:%s" % (bundle, password),
                                        url])
        self.assertEqual((rc, code), (0, 200), body)
        with open(ca, "rb") as f:
            ca_before = f.read()
        p.stop()
        self.assertEqual(p.wait(5), 0)

        # Second start: everything reused, the same command still works.
        p2 = self.start("certgate-second")
        self.assertNotIn("created state directory", p2.logs())
        self.assertIn("using state directory", p2.logs())
        self.assertIn(self.state, p2.logs())
        with open(ca, "rb") as f:
            self.assertEqual(f.read(), ca_before)
        rc, code, body = self.run_curl(shlex.split(self.curl_command(p2.logs())))
        self.assertEqual((rc, code), (0, 200), body)


class BootstrapPasswordAndStatusTest(BootstrapTest):
    """Regression: the bootstrap printed the bundle.p12 password on standard output, which
    a container runtime ships to log stores. Now the password is only in
    clients/admin/password (mode 0600) and the output says where; the built-in default
    also serves the status port."""

    def test_password_only_in_its_file(self):
        p = self.start()
        with open(os.path.join(self.state, "clients", "admin", "password")) as f:
            password = f.read().strip()
        self.assertEqual(len(password), 24)
        mode = os.stat(os.path.join(self.state, "clients", "admin", "password")).st_mode
        self.assertEqual(mode & 0o777, 0o600)
        logs = p.logs()
        self.assertNotIn(password, logs)
        self.assertIn("password: in %s (mode 0600)"
                      % os.path.join(self.state, "clients", "admin", "password"), logs)
        with open(os.path.join(self.state, "certgate.json")) as f:
            cfg = json.load(f)
        self.assertEqual(cfg["status"], {"listen": "127.0.0.1:%d" % self.status_port})
        status, _, body = h.http_plain("127.0.0.1", self.status_port, "GET", "/readyz")
        self.assertEqual((status, json.loads(body)["status"]), (200, "ready"))
        p.stop()
        p2 = self.start("certgate-second")
        self.assertNotIn(password, p2.logs())


class DefaultIfMissingTest(StateDirCase):
    """`run -c FILE --default-if-missing`, as the container image and the systemd unit
    start: the built-in default while nothing exists at FILE, the file once it does; and
    --allow-ips, which the image needs because a port mapping never shows the client
    as loopback."""

    def start_with(self, config, *extra, name="certgate", wait=True):
        argv = [h.certgate_bin(), "run", "-c", config, "--default-if-missing",
                "--state-dir", self.state, "--listen", "127.0.0.1:%d" % self.port,
                "--upstream", "127.0.0.1:%d" % self.backend.port,
                "--status-listen", "127.0.0.1:%d" % self.status_port, *extra]
        p = h.Process(argv, os.path.join(self.tmp, name), cwd=self.tmp)
        self.addCleanup(p.kill)
        p.start()
        if wait:
            p.wait_listening(self.port)
        return p

    def admin_curl(self, *extra):
        c = os.path.join(self.state, "clients", "admin")
        return self.run_curl(["curl", "--cacert", os.path.join(self.state, "ca", "ca.crt"),
                              "--cert", os.path.join(c, "tls.crt"),
                              "--key", os.path.join(c, "tls.key"), *extra,
                              "https://localhost:%d/" % self.port])

    def test_missing_config_runs_the_default_then_the_file(self):
        config = os.path.join(self.tmp, "etc", "certgate.json")
        p = self.start_with(config, "--allow-ips", "127.0.0.2")
        h.wait_until(lambda: "curl " in p.logs(), 5, what="printed curl command")
        logs = p.logs()
        self.assertIn("%s does not exist: using the built-in default in %s" % (
            config, self.state), logs)
        self.assertIn("created state directory", logs)
        # --allow-ips replaced the loopback default: a connection from 127.0.0.1 is
        # closed before TLS, one from 127.0.0.2 is let through.
        rc, code, body = self.admin_curl()
        self.assertEqual((rc, code), (35, 0), body)
        self.assertEqual(self.backend.requests(), ["/_requests"])
        rc, code, body = self.admin_curl("--interface", "127.0.0.2")
        self.assertEqual((rc, code), (0, 200), body)
        self.assertEqual(p.stop(), 0, p.logs())

        # Once a file exists at the path, it is what runs (here: the default's own
        # config with loopback allowed), with no word about the default.
        with open(os.path.join(self.state, "certgate.json")) as f:
            cfg = json.load(f)
        with open(os.path.join(self.state, "policy.json")) as f:
            policy = json.load(f)
        policy["allow_ips"] = ["127.0.0.1"]
        os.makedirs(os.path.dirname(config))
        h.write_json(os.path.join(self.tmp, "etc", "policy.json"), policy)
        cfg["listeners"][0]["policy"] = os.path.join(self.tmp, "etc", "policy.json")
        for c in cfg["listeners"][0]["tls"]["certificates"]:
            c["cert"] = os.path.join(self.state, c["cert"])
            c["key"] = os.path.join(self.state, c["key"])
        h.write_json(config, cfg)
        p2 = self.start_with(config, name="certgate-file")
        rc, code, body = self.admin_curl()
        self.assertEqual((rc, code), (0, 200), body)
        self.assertNotIn("built-in default", p2.logs())
        self.assertNotIn("state directory", p2.logs())

    def test_check_follows_the_same_rule(self):
        # `check` with the unit's options checks what `run` would run: the default's
        # configuration while nothing is at FILE.
        config = os.path.join(self.tmp, "absent.json")
        r = h.run_certgate("check", "-c", config, "--default-if-missing",
                           "--state-dir", self.state, ok=False)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("no -c FILE and no %s/certgate.json" % self.state, r.stderr)
        p = self.start_with(config)
        self.assertEqual(p.stop(), 0, p.logs())
        r = h.run_certgate("check", "-c", config, "--default-if-missing",
                           "--state-dir", self.state)
        self.assertIn("%s/certgate.json: OK" % self.state, r.stdout)

    def test_dangling_symlink_is_an_error_not_the_default(self):
        # A ConfigMap key that points nowhere is the operator's file gone wrong.
        config = os.path.join(self.tmp, "certgate.json")
        os.symlink("..data/certgate.json", config)
        p = self.start_with(config, wait=False)
        self.assertEqual(p.wait(20), 1, p.logs())
        self.assertIn(config, p.logs())
        self.assertFalse(os.path.exists(self.state))

    def test_without_the_flag_a_missing_config_fails(self):
        config = os.path.join(self.tmp, "absent.json")
        r = h.run_certgate("run", "-c", config, ok=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(config, r.stderr)

    def test_option_misuse_is_refused(self):
        config = os.path.join(self.tmp, "absent.json")
        for args, msg in (
                (["--default-if-missing"], "--default-if-missing needs -c FILE"),
                (["-c", config, "--allow-ips", "127.0.0.1"], "apply to the built-in default"),
                (["-c", config, "--listen", "127.0.0.1:1"], "apply to the built-in default")):
            r = h.run_certgate("run", *args, ok=False)
            self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
            self.assertIn(msg, r.stderr)
        # A bad --allow-ips entry is refused before the state directory exists.
        r = h.run_certgate("run", "--state-dir", self.state, "--allow-ips", "10.0.0.1/8",
                           ok=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("10.0.0.1/8", r.stderr)
        self.assertFalse(os.path.exists(self.state))


if __name__ == "__main__":
    unittest.main()
