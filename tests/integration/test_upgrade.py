"""Binary upgrade without a refused connection or a failed request.

Before, a new certgate could not start while the old one ran (each listen address is
claimed by one process), so an upgrade was a stop and a start: the port refused
connections in between and the stop cut what the drain could not finish. Now
`certgate run --upgrade` (or SIGUSR2 to the running process, which runs its own command
line again with --upgrade) asks the running certgate, through the claim of a listen
address, for its listening sockets; it serves on them, binds what its configuration
adds, and only then tells the old process to stop accepting and drain
(control/upgrade.h). Tested here under HTTP/1.1 (keep-alive and one connection per
request) and HTTP/2 load:
- no request fails, no connection is refused or reset, no HTTP/2 stream has to be
  retried; the
  old process exits 0 once its last request (in flight across the hand-over) is done;
  the access log shows both processes; a listener the new configuration adds serves,
  and an address it drops closes with the old process;
- SIGUSR2 does the same with the running binary, and tells systemd the new main PID
  (MAINPID=, then READY=1 from the new process);
- refusals are one line and exit status 1: nothing runs there, the old process does not
  answer in time (stopped), it is shutting down; and a process of another user gets no
  socket (the claim is an abstract Unix socket: SO_PEERCRED is the check). The old
  process counts each request it refused or that was abandoned
  (certgate_upgrade_requests_total) and serves on.

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_upgrade
"""

import json
import os
import signal
import socket
import subprocess
import threading
import time
import unittest

import certgate_harness as h
import load_clients


def upgrade_child(pid):
    """upgrade_child returns the pid of the `--upgrade` process that process pid started
    (SIGUSR2), or None."""
    for child in h.process_tree(pid)[1:]:
        try:
            with open("/proc/%d/cmdline" % child, "rb") as f:
                if b"--upgrade" in f.read().split(b"\0"):
                    return child
        except FileNotFoundError:
            pass
    return None


def pid_gone(pid):
    """pid_gone reports whether process pid has exited (a zombie counts: it is not our
    child to reap)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def server_socket_inode(port, client_port):
    """server_socket_inode returns the inode of the server side of the TCP connection
    from client_port to port, from /proc/net/tcp{,6}."""
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                local, remote = fields[1], fields[2]
                if (int(local.rsplit(":", 1)[1], 16) == port and
                        int(remote.rsplit(":", 1)[1], 16) == client_port):
                    return fields[9]
    return None


def fd_targets(pid):
    """fd_targets returns what the descriptors of process pid point to."""
    out = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            out.add(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except FileNotFoundError:
            pass
    return out


class UpgradeBase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        h.set_up_testbed(cls)

    def workdir(self, name):
        work = os.path.join(self.tmp, name)
        os.makedirs(work)
        return work

    def config(self, work, port, name="certgate.json", **kw):
        """config writes a configuration for port, with a status port of its own."""
        kw.setdefault("listener", {"alpn": ["h2", "http/1.1"]})
        kw.setdefault("timeouts", {"drain": 15000})
        kw.setdefault("overrides", {"status": {"listen": "127.0.0.1:%d" % h.free_port()}})
        return h.write_config(work, self.pki, port, [self.backend.port], name=name, **kw)

    def upgrade_requests(self, cg, result):
        """upgrade_requests reads certgate_upgrade_requests_total{result} of cg."""
        return cg.metrics().value("certgate_upgrade_requests_total", result=result)

    def start(self, work, path, port, name, env=None):
        cg = h.Certgate(work, path, port, name=name)
        cg.env = env
        self.addCleanup(cg.kill)
        return cg.start()

    def run_upgrade(self, path, timeout=30):
        """run_upgrade runs `certgate run -c path --upgrade` expecting it to fail; returns
        (exit code, stderr, seconds it took)."""
        t0 = time.monotonic()
        try:
            p = subprocess.run([h.certgate_bin(), "run", "-c", path, "--upgrade"],
                               capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            self.fail("certgate run --upgrade still running after %d s: %s" % (timeout, e.stderr))
        return p.returncode, p.stderr, time.monotonic() - t0

    def slow_request(self, port, ms, result):
        """slow_request sends GET /sleep?ms=MS on a new connection from a thread and
        returns once the backend has it; the Response lands in result["r"]."""
        target = "/sleep?ms=%d&t=%d" % (ms, time.monotonic_ns())

        def run():
            try:
                result["r"] = h.https_request(port, self.pki, "GET", target, timeout=30)
            except Exception as e:  # reported by the caller
                result["error"] = e
        t = threading.Thread(target=run, daemon=True)
        t.start()
        h.wait_until(lambda: load_clients.backend_has(self.backend, target), 5,
                     what="the slow request at the backend")
        result["target"] = target
        return t

    def assert_no_loss(self, stats):
        self.assertEqual(stats.failures, [], stats)
        self.assertEqual(stats.refused, 0, stats)
        self.assertEqual(stats.reset, 0, stats)
        self.assertEqual(stats.retried, 0, stats)


class UpgradeUnderLoad(UpgradeBase):

    def test_upgrade_under_load_with_a_new_listener(self):
        work = self.workdir("load")
        port, extra_port = h.free_port(), h.free_port()
        old_path = self.config(work, port)
        # The new configuration: one worker more, a second listener, and no [::1].
        with open(old_path) as f:
            new_cfg = json.load(f)
        new_cfg["workers"] = 3
        new_cfg["listeners"][0]["listen"] = ["127.0.0.1:%d" % port]
        extra = json.loads(json.dumps(new_cfg["listeners"][0]))
        extra.update({"name": "extra", "listen": ["127.0.0.1:%d" % extra_port]})
        new_cfg["listeners"].append(extra)
        new_path = os.path.join(work, "new.json")
        h.write_json(new_path, new_cfg)

        old = self.start(work, old_path, port, "old")
        load = load_clients.Load(port, self.pki, h1_keepalive=3, h1_close=2, h2=2, streams=4,
                                 max_seconds=60).start()
        self.addCleanup(load.stop)
        load.wait_ok(300)
        slow = {}
        t = self.slow_request(port, 2500, slow)  # in flight on the old process

        ok_before = load.stats.snapshot()["ok"]
        new = h.Certgate(work, new_path, port, name="new")
        new.argv = new.argv + ["--upgrade"]
        self.addCleanup(new.kill)
        new.start()
        # The old process drains once the new one has taken over: it closes the address
        # the new configuration drops, and exits after its last request.
        h.wait_until(lambda: not h.port_accepts(port, "::1", timeout=0.2), 10, 0.02,
                     what="the old process to drain\n" + new.logs())
        drain_began = time.monotonic()
        self.assertEqual(old.wait(20), 0, old.logs())
        drained_s = time.monotonic() - drain_began
        ok_during = load.stats.snapshot()["ok"] - ok_before
        self.assertFalse(h.port_accepts(port, "::1"))  # dropped with the old process
        t.join(20)
        self.assertNotIn("error", slow, slow)
        self.assertEqual(slow["r"].status, 200)  # finished on the old process

        load.wait_ok(300)  # the new process serves
        r = h.https_request(extra_port, self.pki, "GET", "/on-the-new-listener")
        self.assertEqual(r.status, 200)
        stats = load.stop()
        self.assert_no_loss(stats)

        self.assertGreater(drained_s, 0.5)  # it waited for the slow request

        # Both processes in the access log: request ids start with the instance.
        entries = new.wait_access_log(
            lambda e: any(x.get("path") == "/on-the-new-listener" for x in e), 5)
        instance = {}
        for e in entries:
            if e.get("path", "").startswith(("/load/", "/sleep", "/on-the-new-listener")):
                instance.setdefault(e["request_id"][:8], []).append(e["path"])
        self.assertEqual(len(instance), 2, list(instance))
        (old_id,) = [i for i, paths in instance.items()
                     if any(p.startswith("/sleep") for p in paths)]
        (new_id,) = [i for i, paths in instance.items() if "/on-the-new-listener" in paths]
        self.assertNotEqual(old_id, new_id)
        self.assertTrue(all(p.startswith("/load/") or p == "/on-the-new-listener"
                            for p in instance[new_id]))
        self.assertEqual(new.stop(), 0)
        print("\n[upgrade] %d requests (%d from the start of the upgrade to the old "
              "process's exit), 0 failed, 0 refused, 0 reset, 0 retried, %d connections; "
              "old drained in %.2f s; "
              "access log: %d lines from the old, %d from the new"
              % (stats.ok, ok_during, stats.connections, drained_s, len(instance[old_id]),
                 len(instance[new_id])))

    def test_sigusr2_runs_the_upgrade_and_tells_systemd(self):
        work = self.workdir("usr2")
        port = h.free_port()
        path = self.config(work, port)
        notify_path = os.path.join(work, "notify")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(notify.close)
        notify.bind(notify_path)
        notify.settimeout(10)

        def notification():
            data = notify.recv(4096).decode()
            return dict(line.split("=", 1) for line in data.split("\n") if line)

        old = self.start(work, path, port, "old",
                         env=dict(os.environ, NOTIFY_SOCKET=notify_path))
        self.assertEqual(notification().get("READY"), "1")
        load = load_clients.Load(port, self.pki, h1_keepalive=2, h1_close=1, h2=1,
                                 max_seconds=60).start()
        self.addCleanup(load.stop)
        load.wait_ok(200)
        # An idle keep-alive connection of the old process: its drain closes it, and the
        # client must see that close (a descriptor leaked into the new process would
        # keep the connection open, the client waiting for ever).
        idle = h.KeepAlive(port, h.client_context(self.pki))
        self.addCleanup(idle.close)
        self.assertEqual(idle.get("/idle-before").status, 200)

        old.signal(signal.SIGUSR2)
        new_pid = h.wait_until(lambda: upgrade_child(old.pid), 5, 0.02,
                               what="the --upgrade process SIGUSR2 starts")
        self.addCleanup(lambda: pid_gone(new_pid) or os.kill(new_pid, signal.SIGKILL))
        # The new process holds none of the old one's connections (only what it was
        # handed): a copy would keep a connection the old process aborts open.
        inode = server_socket_inode(port, idle.sock.getsockname()[1])
        self.assertIsNotNone(inode)
        self.assertNotIn("socket:[%s]" % inode, fd_targets(new_pid))
        self.assertEqual(old.wait(20), 0, old.logs())
        self.assertTrue(idle.reader.at_eof(3.0), "the idle connection was not closed")
        # The old process names the new main process, which then says it is ready.
        msg = notification()
        self.assertEqual(msg.get("MAINPID"), str(new_pid), msg)
        msg = notification()
        self.assertEqual(msg.get("READY"), "1", msg)
        load.wait_ok(200)
        stats = load.stop()
        self.assert_no_loss(stats)
        self.assertEqual(h.https_request(port, self.pki, "GET", "/after").status, 200)

        os.kill(new_pid, signal.SIGTERM)
        h.wait_until(lambda: pid_gone(new_pid), 15, what="the new process to exit")
        self.assertEqual(notification().get("STOPPING"), "1")
        print("\n[SIGUSR2] %d requests, 0 failed, 0 refused, 0 reset, 0 retried" % stats.ok)


class UpgradeRefusals(UpgradeBase):

    def test_nothing_to_take_over(self):
        port = h.free_port()
        path = self.config(self.workdir("nothing"), port)
        rc, err, _ = self.run_upgrade(path)
        self.assertEqual(rc, 1, err)
        self.assertIn("certgate: --upgrade: no running certgate listens on 127.0.0.1:%d, "
                      "[::1]:%d: nothing to take over" % (port, port), err.splitlines())
        self.assertFalse(h.port_accepts(port))

    def test_old_process_does_not_answer(self):
        work = self.workdir("stopped")
        port = h.free_port()
        path = self.config(work, port)
        old = self.start(work, path, port, "old")
        old.signal(signal.SIGSTOP)
        self.addCleanup(old.signal, signal.SIGCONT)
        rc, err, took = self.run_upgrade(path)
        old.signal(signal.SIGCONT)
        self.assertEqual(rc, 1, err)
        self.assertIn("did not answer within 10 s", err)
        self.assertLess(took, 25)
        # The old process serves on, and forgets the abandoned request.
        self.assertEqual(h.https_request(port, self.pki, "GET", "/still").status, 200)
        h.wait_until(lambda: self.upgrade_requests(old, "abandoned") == 1, 5,
                     what="the old process to count the abandoned upgrade")
        self.assertEqual(self.upgrade_requests(old, "handed_over"), 0)
        self.assertTrue(old.running())
        self.assertEqual(old.stop(), 0)

    def test_old_process_shutting_down(self):
        work = self.workdir("stopping")
        port = h.free_port()
        path = self.config(work, port, timeouts={"shutdown_delay": 5000, "drain": 1000})
        old = self.start(work, path, port, "old")
        old.signal(signal.SIGTERM)
        h.wait_ready(old, 503)  # the stop began; the status port is open for the delay
        rc, err, _ = self.run_upgrade(path)
        self.assertEqual(rc, 1, err)
        self.assertIn("refused: it is shutting down", err)
        self.assertEqual(self.upgrade_requests(old, "refused"), 1)
        self.assertEqual(old.wait(15), 0)

    def test_another_user_gets_no_socket(self):
        work = self.workdir("other-user")
        port = h.free_port()
        path = self.config(work, port)
        old = self.start(work, path, port, "old")
        # A process of another user speaks the protocol on the claim: it must get a
        # refusal and no descriptor (the wire format is control/upgrade.c's).
        script = r"""
import array, json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect("\0certgate/listen/tcp4/127.0.0.1:%s" % sys.argv[1])
hello = struct.pack("=16sIIII160s", b"certgate-upgrade", 1, 1, 0, 0, b"")
try:
    s.sendall(hello)
except BrokenPipeError:
    pass  # refused at once: the refusal is still there to read
got, fds, text, typ = b"", 0, "", None
while len(got) < len(hello):
    data, anc, _, _ = s.recvmsg(len(hello) - len(got), socket.CMSG_SPACE(64))
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += len(payload) // 4
    if not data:
        break
    got += data
if len(got) == len(hello):
    _, _, typ, _, _, raw = struct.unpack("=16sIIII160s", got)
    text = raw.split(b"\0")[0].decode()
print(json.dumps({"type": typ, "fds": fds, "text": text}))
"""
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            h.PYTHON, "-c", script, str(port)],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        got = json.loads(p.stdout)
        self.assertEqual(got, {"type": 4, "fds": 0,
                               "text": "the running certgate belongs to another user"})
        self.assertEqual(self.upgrade_requests(old, "refused"), 1)
        self.assertEqual(h.https_request(port, self.pki, "GET", "/still").status, 200)


if __name__ == "__main__":
    unittest.main()
