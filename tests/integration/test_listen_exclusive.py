"""Regression: a second certgate silently shared the listen port.

Every worker binds its own SO_REUSEPORT socket per address, and SO_REUSEPORT let a
second certgate process of the same user bind the same address too: the kernel then
split clients between two processes and two configurations. Now a process claims each
listen address before binding it (control/listen.h) and refuses to start, with one line
naming the address and exit status 1, when another certgate holds it or any other
process listens there; the workers of one process still share their addresses, and two
certgates started at the same moment cannot both win. The admin listener is bound
before any worker starts, so an admin address in use stops the start too.

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_listen_exclusive
"""

import os
import socket
import subprocess
import unittest

import certgate_harness as h


class ListenExclusiveTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        h.set_up_testbed(cls)

    def config(self, name, port, **kw):
        """config writes NAME.json for a certgate on 127.0.0.1:port and [::1]:port with
        its own access log; returns the path."""
        over = kw.pop("overrides", {})
        over = h.deep_merge({"log": {"access_log": os.path.join(self.tmp, name + ".log")}},
                           over)
        return h.write_config(self.tmp, self.pki, port, [self.backend.port],
                              name=name + ".json", overrides=over, **kw)

    def start(self, name, path, port):
        cg = h.Certgate(self.tmp, path, port, name=name)
        self.addCleanup(cg.kill)
        return cg.start()

    def run_second(self, path):
        """run_second runs `certgate run -c path` to its end (bounded); a process that is
        still running after 10 s has started serving, which is the bug."""
        try:
            p = subprocess.run([h.certgate_bin(), "run", "-c", path], capture_output=True,
                               text=True, timeout=10, cwd=self.tmp)
        except subprocess.TimeoutExpired as e:
            self.fail("the second certgate kept running (shares the address): %s" % e.stderr)
        return p

    def get_all(self, port, n):
        """get_all makes n requests on fresh connections; returns their paths."""
        paths = []
        for i in range(n):
            path = "/exclusive/%d" % i
            data, _ = h.raw_exchange(
                port, ("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                       % path).encode(), self.pki)
            self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data[:100])
            paths.append(path)
        return paths

    def test_second_certgate_on_the_same_port_exits(self):
        port = h.free_port()
        first = self.start("first", self.config("first", port), port)
        p = self.run_second(self.config("second", port))
        self.assertEqual(p.returncode, 1, p.stderr)
        errors = [line for line in p.stderr.splitlines() if line.startswith("certgate:")]
        self.assertEqual(errors, ["certgate: listen 127.0.0.1:%d: already in use by another "
                                  "certgate process" % port], p.stderr)
        # The first one serves every request, over both of its workers.
        paths = self.get_all(port, 40)
        entries = first.wait_access_log(
            lambda e: sum(1 for x in e if x.get("path", "").startswith("/exclusive/")) >= 40)
        self.assertEqual(sorted(x["path"] for x in entries
                                if x.get("path", "").startswith("/exclusive/")), sorted(paths))
        self.assertEqual({x["conn"][:2] for x in entries if "conn" in x}, {"w0", "w1"})
        self.assertTrue(first.running())

    def test_other_process_with_reuseport_on_the_port(self):
        # Any program can join an SO_REUSEPORT group of its own user (nginx `reuseport`,
        # another proxy): certgate refuses to start next to it.
        port = h.free_port()
        other = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.addCleanup(other.close)
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        other.bind(("::1", port))
        other.listen(8)
        p = self.run_second(self.config("beside-other", port))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("certgate: listen [::1]:%d: address already in use by another process"
                      % port, p.stderr)

    def test_two_started_at_once_one_wins(self):
        port = h.free_port()
        procs = []
        for name in ("race-a", "race-b"):
            cg = h.Certgate(self.tmp, self.config(name, port), port, name=name)
            self.addCleanup(cg.kill)
            procs.append(cg)
        for cg in procs:
            h.Process.start(cg)  # both at once, without waiting for either to listen
        h.wait_until(lambda: any(not cg.running() for cg in procs), 10,
                     what="one of two certgates started at once to exit")
        loser = [cg for cg in procs if not cg.running()]
        winner = [cg for cg in procs if cg.running()]
        self.assertEqual(len(loser), 1)
        self.assertEqual(len(winner), 1, [cg.logs() for cg in procs])
        self.assertEqual(loser[0].wait(5), 1)
        self.assertIn("already in use by another certgate process",
                      h.tail(loser[0].stderr_path))
        winner[0].wait_listening(port)
        self.get_all(port, 5)

    def test_admin_address_in_use_stops_the_start(self):
        port, admin_port = h.free_port(), h.free_port()
        first = self.start("admin-first", self.config(
            "admin-first", port, overrides={"admin": {"listen": "127.0.0.1:%d" % admin_port}}),
            port)
        other_port = h.free_port()
        p = self.run_second(self.config(
            "admin-second", other_port,
            overrides={"admin": {"listen": "127.0.0.1:%d" % admin_port}}))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("certgate: admin listen 127.0.0.1:%d: Address already in use" % admin_port,
                      p.stderr)
        self.assertTrue(first.running())


if __name__ == "__main__":
    unittest.main()
