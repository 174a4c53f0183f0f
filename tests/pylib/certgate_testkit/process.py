"""Child processes with their output in files, started and stopped within bounds."""

import os
import signal
import subprocess
import time

from .net import port_accepts

START_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0


def tail(path, limit=6000):
    """tail returns the last limit bytes of a file as text (or why it cannot)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return "<%s>" % e
    data = data[-limit:]
    return data.decode("utf-8", "replace")


def _send(proc, sig, group):
    try:
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except ProcessLookupError:
        pass


def stop_popen(proc, timeout=STOP_TIMEOUT, group=False):
    """stop_popen sends SIGTERM (to proc's process group when group), waits up to
    timeout s, then SIGKILLs and reaps. Returns the exit code of the SIGTERM path, or None
    when a kill was needed or proc is None."""
    if proc is None:
        return None
    if proc.poll() is not None:
        return proc.returncode
    _send(proc, signal.SIGTERM, group)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    _send(proc, signal.SIGKILL, group)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    return None


class Process:
    """A child process with its output in files; stop() is idempotent and bounded.

    argv runs in cwd with env (None: inherited); stdout and stderr go to
    log_prefix + ".stdout" / ".stderr" (appended). With own_group the child gets its own
    session, and signals reach its whole process group (a daemon that forks workers, or
    one started through taskset).
    """

    def __init__(self, argv, log_prefix, cwd=None, env=None, own_group=False):
        self.argv = argv
        self.stdout_path = log_prefix + ".stdout"
        self.stderr_path = log_prefix + ".stderr"
        self.cwd = cwd
        self.env = env
        self.own_group = own_group
        self.proc = None

    def start(self):
        out = open(self.stdout_path, "ab")
        err = open(self.stderr_path, "ab")
        try:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, cwd=self.cwd,
                                         env=self.env, start_new_session=self.own_group)
        finally:
            out.close()
            err.close()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def logs(self, limit=6000):
        """logs returns the command line and the tails of its stdout and stderr."""
        return "--- %s (stdout) ---\n%s\n--- (stderr) ---\n%s" % (
            " ".join(self.argv), tail(self.stdout_path, limit), tail(self.stderr_path, limit))

    def wait_listening(self, port, timeout=START_TIMEOUT, host="127.0.0.1"):
        """wait_listening returns once host:port accepts a TCP connection; raises
        AssertionError (with the logs) when the process exits first or timeout s pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("process exited with code %s before listening on %d\n%s"
                                     % (self.proc.returncode, port, self.logs()))
            if port_accepts(port, host):
                return
            time.sleep(0.05)
        raise AssertionError("not listening on %s:%d after %.0f s\n%s" % (
            host, port, timeout, self.logs()))

    def signal(self, sig):
        if self.running():
            _send(self.proc, sig, self.own_group)

    def wait(self, timeout):
        """wait returns the exit code, or None if still running after timeout s."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=STOP_TIMEOUT):
        """stop sends SIGTERM, waits up to timeout s, then SIGKILLs; returns the exit code
        of the SIGTERM path or None when a kill was needed."""
        return stop_popen(self.proc, timeout, self.own_group)

    def kill(self):
        if self.running():
            _send(self.proc, signal.SIGKILL, self.own_group)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
