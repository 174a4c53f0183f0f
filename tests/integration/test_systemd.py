"""systemd integration: the sd_notify protocol over $NOTIFY_SOCKET, and the unit file.

certgate runs under `Type=notify` (deploy/systemd/certgate.service), so systemd takes
it for started only when it says READY=1, and a `systemctl reload` or stop is tracked by
RELOADING=1 / READY=1 and STOPPING=1. Here a test plays systemd: it binds an AF_UNIX
datagram socket (a path, or an abstract '@' name), starts certgate with NOTIFY_SOCKET
naming it, and checks what arrives and when:
- READY=1 only once the listener accepts (a connection made at that moment succeeds);
- SIGHUP: RELOADING=1 with MONOTONIC_USEC (CLOCK_MONOTONIC, as systemd compares it),
  then READY=1, and the reload really happened;
- SIGTERM: STOPPING=1 at once, while a request in flight still completes, then exit 0;
- a notify socket nobody listens on costs a warning, never the service.
And the unit file passes `systemd-analyze verify` (no warning at all) and its sandbox
keeps systemd-analyze's exposure level "OK".

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_systemd
"""

import os
import re
import shutil
import socket
import subprocess
import threading
import time
import unittest

import certgate_harness as h

ROOT = os.path.normpath(os.path.join(h.HERE, "..", ".."))
UNIT = os.path.join(ROOT, "deploy", "systemd", "certgate.service")


class FakeSystemd:
    """An AF_UNIX datagram socket where certgate sends its notifications."""

    def __init__(self, address):
        self.address = address  # as NOTIFY_SOCKET spells it
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.settimeout(10)

    def recv(self, timeout=10):
        """recv returns the next notification as a dict of its KEY=VALUE lines, with the
        time.monotonic() it arrived at under "_at"."""
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096).decode()
        msg = dict(line.split("=", 1) for line in data.split("\n") if line)
        msg["_at"] = time.monotonic()
        return msg

    def nothing_pending(self):
        self.sock.settimeout(0.2)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return True
        raise AssertionError("unexpected notification %r" % data)

    def close(self):
        self.sock.close()


class NotifyTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        h.set_up_testbed(cls)

    def start(self, notify_address, name):
        """start runs certgate with NOTIFY_SOCKET=notify_address; does not wait."""
        work = os.path.join(self.tmp, name)
        os.makedirs(work)
        port = h.free_port()
        path = h.write_config(work, self.pki, port, [self.backend.port],
                              timeouts={"drain": 10000},
                              overrides={"status": {"listen": "127.0.0.1:%d" % h.free_port()}})
        cg = h.Certgate(work, path, port)
        cg.env = dict(os.environ, NOTIFY_SOCKET=notify_address)
        self.addCleanup(cg.kill)
        h.Process.start(cg)  # not Certgate.start, which waits for the port: we wait for READY
        return cg

    def ready(self, fake, cg):
        """ready waits for READY=1 and checks that certgate accepts at that moment."""
        try:
            msg = fake.recv()
        except socket.timeout:
            raise AssertionError("no READY=1 within 10 s\n" + cg.logs())
        self.assertEqual(msg.get("READY"), "1", msg)
        self.assertTrue(h.port_accepts(cg.port), "READY=1 before the listener accepts")
        return msg

    def test_ready_reload_stop(self):
        sock_path = os.path.join(self.tmp, "notify")
        fake = FakeSystemd(sock_path)
        self.addCleanup(fake.close)
        cg = self.start(sock_path, "path")
        msg = self.ready(fake, cg)
        self.assertEqual(msg.get("STATUS"), "serving")
        fake.nothing_pending()
        r = h.https_request(cg.port, self.pki, "GET", "/db/db1/x")
        self.assertEqual(r.status, 200)

        # SIGHUP: RELOADING=1 stamped with CLOCK_MONOTONIC (Python's monotonic clock is
        # the same clock on Linux), then READY=1 once the reload is done.
        before_us = time.monotonic_ns() // 1000
        cg.hup()
        reloading = fake.recv()
        after_us = time.monotonic_ns() // 1000
        self.assertEqual(reloading.get("RELOADING"), "1", reloading)
        usec = int(reloading["MONOTONIC_USEC"])
        self.assertTrue(before_us <= usec <= after_us, (before_us, usec, after_us))
        again = fake.recv()
        self.assertEqual(again.get("READY"), "1", again)
        self.assertEqual(h.policy_generation(cg), 2)  # reloaded before READY=1
        fake.nothing_pending()

        # SIGTERM with a request in flight: STOPPING=1 at once, the request completes,
        # the process exits 0.
        result = {}

        def slow():
            result["r"] = h.https_request(cg.port, self.pki, "GET", "/sleep?ms=1500",
                                          timeout=20)
        t = threading.Thread(target=slow)
        t.start()
        h.wait_until(lambda: "/sleep?ms=1500" in self.backend.requests(), 5,
                     what="request in flight at the backend")
        sent = time.monotonic()
        cg.signal(15)
        stopping = fake.recv()
        self.assertEqual(stopping.get("STOPPING"), "1", stopping)
        self.assertLess(stopping["_at"] - sent, 1.0, "STOPPING=1 only after the drain")
        t.join(20)
        self.assertEqual(result["r"].status, 200)
        self.assertEqual(cg.wait(15), 0, cg.logs())

    def test_abstract_socket(self):
        name = "@certgate-it-notify-%d" % os.getpid()
        fake = FakeSystemd(name)
        self.addCleanup(fake.close)
        cg = self.start(name, "abstract")
        self.ready(fake, cg)
        cg.signal(15)
        self.assertEqual(fake.recv().get("STOPPING"), "1")
        self.assertEqual(cg.wait(15), 0, cg.logs())

    def test_unreachable_notify_socket_only_warns(self):
        cg = self.start(os.path.join(self.tmp, "nobody-listens"), "nobody")
        cg.wait_listening(cg.port)
        r = h.https_request(cg.port, self.pki, "GET", "/db/db1/x")
        self.assertEqual(r.status, 200)
        # The operator's one warning (the diagnostics themselves are under test).
        h.wait_until(lambda: "cannot notify the service manager" in h.stderr_text(cg), 5,
                     what="warning about the notify socket")
        self.assertEqual(cg.stop(), 0, cg.logs())

    def test_no_notify_socket_no_warning(self):
        cg = self.start("", "unset")
        cg.wait_listening(cg.port)
        cg.hup()
        h.wait_generation_above(cg, 1)
        self.assertEqual(cg.stop(), 0, cg.logs())
        # No service manager, nothing to say about one (the diagnostics themselves).
        self.assertNotIn("notify", h.stderr_text(cg))


class UnitFileTest(unittest.TestCase):
    """deploy/systemd/certgate.service, checked offline by systemd's own tools. The
    package test verifies the installed unit again, with the real /usr/bin/certgate
    and man pages."""

    def setUp(self):
        self.assertIsNotNone(shutil.which("systemd-analyze"),
                             "systemd-analyze is missing: run scripts/deps")
        self.tmp = h.make_tempdir()
        self.addCleanup(h.remove_tree, self.tmp)
        # verify checks that ExecStart's binary exists: point it at the one under test.
        with open(UNIT) as f:
            text = f.read()
        self.assertIn("ExecStart=/usr/bin/certgate ", text)
        self.unit = os.path.join(self.tmp, "certgate.service")
        with open(self.unit, "w") as f:
            f.write(text.replace("/usr/bin/certgate", os.path.abspath(h.certgate_bin())))

    def test_verify_is_silent(self):
        p = subprocess.run(["systemd-analyze", "verify", "--man=no", self.unit],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual((p.returncode, p.stdout + p.stderr), (0, ""))

    def test_exposure_ok(self):
        p = subprocess.run(["systemd-analyze", "security", "--offline=true", self.unit],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for certgate.service: ([\d.]+) (\w+)",
                      p.stdout)
        self.assertIsNotNone(m, p.stdout + p.stderr)
        self.assertEqual(m.group(2), "OK", p.stdout)

    def test_exec_start_serves_and_notifies(self):
        # ExecStart as written, with its two paths moved into the test's directory and
        # a free port: with no config file it starts the built-in default, says READY=1
        # and drains on SIGTERM with STOPPING=1.
        with open(UNIT) as f:
            line = next(l for l in f if l.startswith("ExecStart="))
        argv = line.split("=", 1)[1].split()
        self.assertIn("/etc/certgate/certgate.json", argv)
        self.assertIn("/var/lib/certgate/default", argv)
        moved = {"/usr/bin/certgate": os.path.abspath(h.certgate_bin()),
                 "/etc/certgate/certgate.json": os.path.join(self.tmp, "etc.json"),
                 "/var/lib/certgate/default": os.path.join(self.tmp, "state")}
        port = h.free_port()
        argv = [moved.get(a, a) for a in argv] + ["--listen", "127.0.0.1:%d" % port]
        fake = FakeSystemd(os.path.join(self.tmp, "notify"))
        self.addCleanup(fake.close)
        p = h.Process(argv, os.path.join(self.tmp, "unit"), cwd=self.tmp,
                      env=dict(os.environ, NOTIFY_SOCKET=fake.address))
        self.addCleanup(p.kill)
        p.start()
        try:
            msg = fake.recv(20)
        except socket.timeout:
            raise AssertionError("no READY=1\n" + p.logs())
        self.assertEqual(msg.get("READY"), "1", msg)
        self.assertTrue(h.port_accepts(port))
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "state", "certgate.json")))
        p.signal(15)
        self.assertEqual(fake.recv().get("STOPPING"), "1")
        self.assertEqual(p.wait(15), 0, p.logs())

if __name__ == "__main__":
    unittest.main()
