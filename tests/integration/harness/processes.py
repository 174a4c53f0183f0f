"""The processes of a test: certgate (run, and its CLI commands) and echo backends.

Process itself (a child with its output in files and a bounded stop) is
certgate_testkit.process.Process, shared with bench/.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile

from certgate_testkit.net import free_port, wait_until
from certgate_testkit.process import Process, START_TIMEOUT, STOP_TIMEOUT
from certgate_testkit.procfs import rss_kb

from . import HERE
from .config import deep_merge, write_atomic, write_config
from .http1 import http_plain
from .metrics import parse_access_log, scrape_metrics

PYTHON = "/usr/bin/python3"
DEFAULT_BIN = os.path.normpath(os.path.join(HERE, "..", "..", "build", "certgate"))


def certgate_bin():
    return os.environ.get("CERTGATE_BIN") or DEFAULT_BIN


def run_certgate(*args, ok=True, input=None, timeout=60):
    """run_certgate runs `$CERTGATE_BIN ARGS` (a CLI command such as `cert server`) and
    returns the subprocess.CompletedProcess with text output; raises AssertionError with
    the output when ok and the exit code is not 0."""
    p = subprocess.run([certgate_bin(), *args], capture_output=True, text=True,
                       timeout=timeout, input=input)
    if ok and p.returncode != 0:
        raise AssertionError("certgate %s failed (%d): %s%s" % (
            " ".join(args), p.returncode, p.stdout, p.stderr))
    return p


def make_tempdir(prefix="certgate-it-"):
    return tempfile.mkdtemp(prefix=prefix)


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)


def stderr_text(proc):
    """stderr_text returns what the Process proc has written to stderr so far ("" when
    nothing yet). For diagnostics in failure messages and for tests of the log format
    itself: tests read events from metrics, /admin/status and the access log."""
    try:
        with open(proc.stderr_path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


class Backend(Process):
    """echo_backend.py on 127.0.0.1; port chosen by the backend itself unless given.
    tls: None (cleartext), or for HTTPS a dict with "cert" and "key" (PEM paths), and
    optionally "client_ca" (require a client certificate) and "max_version" ("1.2").
    host: the loopback address it listens on (127.0.0.2 and 127.0.0.3 work too);
    delay_ms: every answer but /_* that much later (a slow server); set_health(status)
    makes its /_health answer that status (health-check tests)."""

    def __init__(self, workdir, port=None, name="backend", tls=None, host="127.0.0.1",
                 delay_ms=0):
        self.workdir = workdir
        self.host = host
        self.fixed_port = port
        self.port = port
        self.name = name
        self.log_path = os.path.join(workdir, name + ".requests.jsonl")
        self.port_file = os.path.join(workdir, name + ".port")
        self.health_file = os.path.join(workdir, name + ".health")
        argv = [PYTHON, os.path.join(HERE, "echo_backend.py"),
                "--host", host, "--port", str(port or 0), "--log", self.log_path,
                "--health-file", self.health_file, "--delay-ms", str(delay_ms)]
        if not port:
            argv += ["--port-file", self.port_file]
        if tls:
            argv += ["--tls-cert", tls["cert"], "--tls-key", tls["key"]]
            if tls.get("client_ca"):
                argv += ["--tls-client-ca", tls["client_ca"]]
            if tls.get("max_version"):
                argv += ["--tls-max-version", tls["max_version"]]
        super().__init__(argv, os.path.join(workdir, name), cwd=workdir)

    def start(self, timeout=START_TIMEOUT):
        if not self.fixed_port:
            try:
                os.unlink(self.port_file)
            except FileNotFoundError:
                pass
        super().start()
        if not self.fixed_port:
            def have_port():
                if self.proc.poll() is not None:
                    raise AssertionError("backend exited early\n" + self.logs())
                try:
                    with open(self.port_file) as f:
                        return int(f.read())
                except (FileNotFoundError, ValueError):
                    return None
            self.port = wait_until(have_port, timeout, what="backend port file")
        self.wait_listening(self.port, timeout, host=self.host)
        return self

    def set_health(self, status):
        write_atomic(self.health_file, "%d\n" % status)

    def requests(self):
        """requests returns the targets the backend has received (asked directly, not
        through certgate)."""
        status, _, body = http_plain(self.host, self.port, "GET", "/_requests")
        assert status == 200, status
        return json.loads(body)

    def tls_handshakes(self):
        """tls_handshakes returns the handshake lines of an HTTPS backend's log (dicts:
        ok, resumed, version, sni, alpn, client_subject, error), oldest first."""
        return [e for e in self.request_log() if e.get("event") == "tls_handshake"]

    def request_log(self):
        out = []
        try:
            with open(self.log_path) as f:
                for line in f:
                    if line.strip():
                        out.append(json.loads(line))
        except FileNotFoundError:
            pass
        return out


def _port_of(address):
    """_port_of returns the port of "HOST:PORT" or "[V6]:PORT" (None for None)."""
    return int(address.rsplit(":", 1)[1]) if address else None


class Certgate(Process):
    """certgate run -c CONFIG, listening on self.port (127.0.0.1 and ::1); status_port is
    the status port of the configuration ("status": {"listen": ...}), or None."""

    def __init__(self, workdir, config_path, port, name="certgate"):
        self.workdir = workdir
        self.config_path = config_path
        self.port = port
        with open(config_path) as f:
            cfg = json.load(f)
        self.access_log_path = cfg.get("log", {}).get("access_log")
        self.status_port = _port_of((cfg.get("status") or {}).get("listen"))
        super().__init__([certgate_bin(), "run", "-c", config_path],
                         os.path.join(workdir, name), cwd=workdir)

    def start(self, timeout=START_TIMEOUT):
        b = certgate_bin()
        if not os.access(b, os.X_OK):
            raise AssertionError("certgate binary not found or not executable: %s "
                                 "(set CERTGATE_BIN)" % b)
        super().start()
        self.wait_listening(self.port, timeout)
        return self

    # What ASan, LeakSanitizer and UBSan print when a sanitizer build (CERTGATE_BIN from
    # -DCERTGATE_SANITIZE=ON) finds a bug: the process may abort or exit with its own
    # code, which a test expecting a refused connection could take for the behaviour
    # under test, so every stop checks the log.
    SANITIZER_MARKS = (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer", b"runtime error:")

    def sanitizer_report(self):
        """sanitizer_report returns the sanitizer report in the process's stderr, or ""."""
        try:
            with open(self.stderr_path, "rb") as f:
                data = f.read()
        except OSError:
            return ""
        at = [data.find(m) for m in self.SANITIZER_MARKS if m in data]
        return data[min(at):min(at) + 6000].decode("utf-8", "replace") if at else ""

    def check_sanitizers(self):
        report = self.sanitizer_report()
        if report:
            raise AssertionError("%s: sanitizer report in %s:\n%s"
                                 % (" ".join(self.argv), self.stderr_path, report))

    def stop(self, timeout=STOP_TIMEOUT):
        rc = super().stop(timeout)
        self.check_sanitizers()
        return rc

    def kill(self):
        super().kill()
        self.check_sanitizers()

    def hup(self):
        self.signal(signal.SIGHUP)

    def rss_kb(self):
        return rss_kb(self.pid)

    def metrics(self):
        """metrics scrapes the status port's /metrics (the config must have a status
        port: start_certgate(..., status=True)); returns a metrics.Metrics."""
        if self.status_port is None:
            raise AssertionError("%s has no status port: start it with status=True"
                                 % self.config_path)
        return scrape_metrics(self.status_port)

    def readyz(self):
        """readyz returns (status, JSON body) of the status port's /readyz."""
        status, _, body = http_plain("127.0.0.1", self.status_port, "GET", "/readyz")
        return status, json.loads(body)

    def access_log(self):
        """access_log returns the access log lines parsed as JSON (a line that does not
        parse is returned as {"_unparsed": line})."""
        return parse_access_log(self.access_log_path)

    def wait_access_log(self, pred, timeout=5.0, what="access log entries"):
        """wait_access_log polls until pred(entries) is truthy; returns the entries."""
        last = []

        def check():
            nonlocal last
            last = self.access_log()
            return pred(last)
        try:
            wait_until(check, timeout, 0.1, what)
        except AssertionError as e:
            raise AssertionError("%s; access log has %d lines, last: %r" % (
                e, len(last), last[-3:]))
        return last


def start_certgate(workdir, pki, upstream_ports, name="certgate", attempts=3, status=False,
                   **cfg_kw):
    """start_certgate writes a config for a free port and starts certgate on it, retrying
    with another port if the first is taken meanwhile. With status=True the config gets a
    status port on 127.0.0.1 too (Certgate.metrics). The caller must register cg.kill /
    cg.stop for cleanup. Returns the Certgate."""
    last = None
    for _ in range(attempts):
        port = free_port()
        kw = dict(cfg_kw)
        if status:
            kw["overrides"] = deep_merge(
                {"status": {"listen": "127.0.0.1:%d" % free_port()}}, kw.get("overrides") or {})
        path = write_config(workdir, pki, port, upstream_ports, name=name + ".json", **kw)
        cg = Certgate(workdir, path, port, name=name)
        try:
            return cg.start()
        except AssertionError as e:
            cg.kill()
            last = e
            if "in use" not in cg.logs().lower():
                raise
    raise last
