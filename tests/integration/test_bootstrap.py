"""The built-in default of design.md §3: `certgate run` with no configuration creates a
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


class BootstrapTest(unittest.TestCase):

    def setUp(self):
        self.tmp = h.make_tempdir()
        self.addCleanup(h.remove_tree, self.tmp)
        self.backend = h.Backend(self.tmp)
        self.addCleanup(self.backend.kill)
        self.backend.start()
        self.port = h.free_port()
        self.state = os.path.join(self.tmp, "state-dir")

    def start(self, name="certgate"):
        argv = [h.certgate_bin(), "run", "--state-dir", self.state,
                "--listen", "127.0.0.1:%d" % self.port,
                "--upstream", "127.0.0.1:%d" % self.backend.port]
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

    def run_curl(self, argv):
        r = subprocess.run(argv + ["-sS", "-w", "\n%{http_code}"], capture_output=True,
                           timeout=20)
        out = r.stdout.decode()
        body, _, code = out.rpartition("\n")
        return r.returncode, int(code or 0), body or r.stderr.decode()

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


if __name__ == "__main__":
    unittest.main()
