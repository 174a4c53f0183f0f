"""Regression: SIGUSR1 (and SIGUSR2) killed certgate.

Both kept their default action, which ends the process: a logrotate `postrotate` written
for nginx (`kill -USR1 $(cat nginx.pid)`) took the gateway down. Now SIGUSR1 reopens the
access log (as nginx does; SIGHUP does it too, with a reload), SIGUSR2 starts a binary
upgrade (test_upgrade.py), and the signals certgate has no use for whose default would
end it (SIGPIPE, SIGALRM, SIGIO, SIGPWR, SIGXFSZ) are ignored; docs/operations.md lists
every signal.

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_signals
"""

import os
import signal
import time
import unittest

import certgate_harness as h


class SignalsTest(h.CertgateTestCase, unittest.TestCase):
    CONFIG = {"status": True}

    def get(self, path):
        data, _ = h.raw_exchange(
            self.port, b"GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            % path.encode(), self.pki)
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data[:200])

    def paths_in(self, path):
        try:
            with open(path) as f:
                return [line for line in f.read().splitlines() if '"path":' in line]
        except FileNotFoundError:
            return []

    def assert_serving(self, what):
        time.sleep(0.3)  # a signal's default action would have ended the process by now
        self.assertTrue(self.cg.running(), "certgate died after %s\n%s" % (what, self.cg.logs()))
        self.get("/after-" + what)

    def test_unused_signals_are_ignored(self):
        for sig in (signal.SIGALRM, signal.SIGIO, signal.SIGPWR, signal.SIGXFSZ,
                    signal.SIGPIPE):
            self.cg.signal(sig)
            self.assert_serving(sig.name)

    def test_usr1_reopens_the_access_log(self):
        log = self.cg.access_log_path
        self.get("/before-rotation")
        h.wait_until(lambda: any("/before-rotation" in x for x in self.paths_in(log)), 5,
                     what="the first line")
        rotated = log + ".1"
        os.rename(log, rotated)
        # Until told, certgate keeps writing to the file it has open (now rotated).
        self.get("/while-rotating")
        h.wait_until(lambda: any("/while-rotating" in x for x in self.paths_in(rotated)), 5,
                     what="a line in the rotated file")
        self.assertFalse(os.path.exists(log))
        self.cg.signal(signal.SIGUSR1)
        h.wait_until(lambda: os.path.exists(log), 5, what="a new access log after SIGUSR1")
        self.assert_serving("SIGUSR1")
        h.wait_until(lambda: any("/after-SIGUSR1" in x for x in self.paths_in(log)), 5,
                     what="the next line in the new file")
        self.assertFalse(any("/after-SIGUSR1" in x for x in self.paths_in(rotated)))
        # Nothing else: no policy or certificate was reloaded.
        m = self.cg.metrics()
        self.assertEqual((m.value("certgate_policy_generation", listener="db"),
                          m.value("certgate_policy_reloads_total", listener="db", result="ok"),
                          m.value("certgate_cert_reloads_total")), (1, 0, 0))


if __name__ == "__main__":
    unittest.main()
