"""certgate_harness: shared helpers for the integration tests in this directory.

Everything runs on loopback (127.0.0.1 / ::1) with ports found free at run time, every
wait is bounded, and every process started here is registered for cleanup by the caller
(addCleanup / addClassCleanup) so that a failing test never leaves one behind.

- make_pki(dir):           test CA, ECDSA and RSA server certificates, client certificates
                           (admin, reader, writer, unknown, expired, notyet) via openssl CLI.
- write_config(...):       certgate.json (docs/configuration.md) plus a policy.json (§5).
- Certgate:                start `$CERTGATE_BIN run -c FILE`, wait until it accepts TCP,
                           SIGHUP, SIGTERM + bounded wait, access log as JSON, VmRSS.
- Backend:                 echo_backend.py in its own process on a free port.
- client_context, tls_connect, raw_exchange, read_response, http_request: TLS clients.
- KeepAlive:               one TLS connection for a sequence of requests.
- curl(...):               run curl with the test PKI and parse what it got.
- run_certgate, stderr_text, write_atomic, KubernetesVolume: CLI runs, logs, and policy
                           or certificate files replaced the ways operators replace them.

Ports, waiting, processes, /proc and the openssl primitives come from
tests/pylib/certgate_testkit, which bench/ uses too.

The names certgate's configuration uses for limits and timeouts are not fixed by the
design yet; the ones used here are collected in LIMIT_KEYS / TIMEOUT_KEYS so that they
can be adjusted in one place.
"""

import copy
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "pylib")))

import echo_backend  # noqa: E402  (pattern helpers shared with the backend)
# Ports, processes, /proc and openssl helpers shared with bench/ (tests/pylib); the
# names are re-exported here because the tests use them as h.NAME.
from certgate_testkit.net import free_port, port_accepts, wait_until  # noqa: E402,F401
from certgate_testkit.pki import Cert, genkey, make_ca, make_csr  # noqa: E402,F401
from certgate_testkit.pki import openssl as _openssl  # noqa: E402,F401
from certgate_testkit.pki import openssl_sha1_thumbprint  # noqa: E402,F401
from certgate_testkit.process import Process, START_TIMEOUT, STOP_TIMEOUT  # noqa: E402,F401
from certgate_testkit.process import tail  # noqa: E402,F401
from certgate_testkit.procfs import rss_kb  # noqa: E402,F401

pattern_sha256 = echo_backend.pattern_sha256

PYTHON = "/usr/bin/python3"
DEFAULT_BIN = os.path.normpath(os.path.join(HERE, "..", "..", "build", "certgate"))

# Configuration key names for limits and timeouts (docs/configuration.md leaves them open; these
# are the names config/config.c accepts). Timeouts are numbers in milliseconds.
TIMEOUT_KEYS = {
    "tls_handshake": "tls_handshake",
    "request_header": "request_header",      # whole request head must arrive (slowloris)
    "keepalive_idle": "keepalive_idle",      # idle keep-alive connection
    "body_idle": "client_body_idle",         # no request body byte for this long
    "upstream_connect": "upstream_connect",
    "upstream_response": "upstream_response",
    "upstream_down": "upstream_down",        # passive health: how long a server stays down
    "drain": "drain",                        # graceful shutdown on SIGTERM
}
LIMIT_KEYS = {
    "max_connections": "max_connections",
    "max_header_bytes": "max_header_bytes",
    "max_headers": "max_headers",
    "max_request_line": "max_request_line",
}


def certgate_bin():
    return os.environ.get("CERTGATE_BIN") or DEFAULT_BIN


def run_certgate(*args, ok=True):
    """run_certgate runs `$CERTGATE_BIN ARGS` (a CLI command such as `cert server`, 60 s
    at most) and returns the subprocess.CompletedProcess with text output; raises
    AssertionError with the output when ok and the exit code is not 0."""
    p = subprocess.run([certgate_bin(), *args], capture_output=True, text=True, timeout=60)
    if ok and p.returncode != 0:
        raise AssertionError("certgate %s failed (%d): %s%s" % (
            " ".join(args), p.returncode, p.stdout, p.stderr))
    return p


# ---------------------------------------------------------------------------------------
# Small utilities (ports and waiting: certgate_testkit.net)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def write_pattern_file(path, size):
    """write_pattern_file writes `size` pattern bytes to path; returns their SHA-256."""
    with open(path, "wb") as f:
        for c in echo_backend.pattern_chunks(size, 1 << 20):
            f.write(c)
    return pattern_sha256(size)


def make_tempdir(prefix="certgate-it-"):
    return tempfile.mkdtemp(prefix=prefix)


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# PKI


class PKI:
    def __init__(self, dir):
        self.dir = dir
        self.ca = None          # Cert
        self.server = None      # ECDSA P-256, localhost / 127.0.0.1 / ::1
        self.server_rsa = None  # RSA 2048, rsa.test
        self.clients = {}       # name -> Cert

    def client(self, name):
        return self.clients[name]


_CA_CNF = """
[ ca ]
default_ca = testca
[ testca ]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}/newcerts
serial = {dir}/serial
default_md = sha256
default_days = 825
policy = pol
unique_subject = no
copy_extensions = none
email_in_dn = no
[ pol ]
commonName = supplied
organizationName = optional
[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ server_ecdsa_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ server_rsa_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:rsa.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

CLIENT_NAMES = ("admin", "reader", "writer", "unknown", "expired", "notyet")


def openssl_ca_dir(dir, serial="1000"):
    """openssl_ca_dir prepares dir (made if missing) for `openssl ca -config CNF`:
    database, serial file, newcerts/ and a ca.cnf with the extension sections client_ext,
    server_ecdsa_ext (localhost, 127.0.0.1, ::1) and server_rsa_ext (rsa.test).
    Returns the path of ca.cnf."""
    os.makedirs(os.path.join(dir, "newcerts"), exist_ok=True)
    open(os.path.join(dir, "index.txt"), "w").close()
    with open(os.path.join(dir, "serial"), "w") as f:
        f.write("%s\n" % serial)
    cnf = os.path.join(dir, "ca.cnf")
    with open(cnf, "w") as f:
        f.write(_CA_CNF.format(dir=dir))
    return cnf


def make_pki(dir):
    """make_pki creates the test PKI under dir (which must exist) and returns a PKI.

    CA: ECDSA P-256, self-signed. Server certificates: ECDSA P-256 for localhost,
    127.0.0.1 and ::1; RSA 2048 for rsa.test. Clients (ECDSA, clientAuth): admin, reader,
    writer, unknown (valid, never registered), expired (2020-2021), notyet (2090-2091).
    All leaves are issued with `openssl ca`, which takes explicit -startdate/-enddate
    (openssl 3.0's `x509 -req` cannot backdate). Raises RuntimeError when openssl fails.
    """
    cnf = openssl_ca_dir(dir)
    p = lambda name: os.path.join(dir, name)  # noqa: E731
    ca = make_ca(dir, "/O=certgate-tests/CN=certgate test CA", 3650,
                 extensions=["subjectKeyIdentifier=hash"])

    def issue(name, subj, ext, keyalg, start=None, end=None):
        key, csr, crt = p(name + ".key"), p(name + ".csr"), p(name + ".crt")
        genkey(key, keyalg)
        make_csr(key, subj, csr)
        args = ["ca", "-batch", "-config", cnf, "-cert", ca.cert, "-keyfile", ca.key,
                "-in", csr, "-out", crt, "-extensions", ext, "-notext"]
        if start:
            args += ["-startdate", start]
        if end:
            args += ["-enddate", end]
        _openssl(*args)
        return Cert(name, crt, key)

    pki = PKI(dir)
    pki.ca = ca
    pki.server = issue("server", "/O=certgate-tests/CN=localhost", "server_ecdsa_ext", "ec")
    pki.server_rsa = issue("server-rsa", "/O=certgate-tests/CN=rsa.test", "server_rsa_ext",
                           "rsa")
    for name in CLIENT_NAMES:
        start = end = None
        if name == "expired":
            start, end = "20200101000000Z", "20210101000000Z"
        elif name == "notyet":
            start, end = "20900101000000Z", "20910101000000Z"
        pki.clients[name] = issue("client-" + name, "/O=certgate-tests/CN=" + name,
                                  "client_ext", "ec", start, end)
    # Cross-check our thumbprint against openssl's -fingerprint once.
    pki.clients["admin"].check_thumbprint()
    return pki


# ---------------------------------------------------------------------------------------
# Configuration

DELETE = object()  # in overrides: remove this key


def deep_merge(base, over):
    """deep_merge returns base updated by over (dicts merged recursively; DELETE removes)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v is DELETE:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def default_policy(pki):
    """default_policy registers admin, reader, writer, expired and notyet ("unknown" is
    left out on purpose) and lets any registered certificate reach any path."""
    c = pki.clients
    return {
        "allow_ips": ["127.0.0.1", "::1"],
        "routes": [
            {"path": "/healthz", "require": "Public"},
            {"path": "/*", "require": "Authenticated"},
        ],
        "certificates": [
            {"name": "admin", "thumbprints": [c["admin"].sha1], "clearance": "ClusterAdmin"},
            {"name": "reader", "thumbprints": [c["reader"].sha1], "clearance": "ValidUser",
             "databases": {"db1": "ReadOnly"}},
            {"name": "writer", "thumbprints": [c["writer"].sha1], "clearance": "ValidUser",
             "databases": {"db1": "ReadWrite"}},
            {"name": "expired", "thumbprints": [c["expired"].sha1],
             "clearance": "ClusterAdmin"},
            {"name": "notyet", "thumbprints": [c["notyet"].sha1],
             "clearance": "ClusterAdmin"},
        ],
    }


def build_config(workdir, pki, port, upstream_ports, *, listener=None, tls=None,
                 upstream=None, limits=None, timeouts=None, overrides=None,
                 policy_path=None, listen=None):
    """build_config returns the certgate.json dict (docs/configuration.md) for one listener on
    127.0.0.1:port and [::1]:port forwarding to 127.0.0.1:upstream_ports.

    listener / tls / upstream are merged into listeners[0], listeners[0].tls and
    upstreams.db; limits / timeouts take the logical names of LIMIT_KEYS / TIMEOUT_KEYS
    (or raw keys); overrides is deep-merged last into the whole document.
    """
    cfg = {
        "workers": 2,
        "state_dir": os.path.join(workdir, "state"),
        "log": {"level": "info", "access_log": os.path.join(workdir, "access.log")},
        "listeners": [{
            "name": "db",
            "listen": listen or ["127.0.0.1:%d" % port, "[::1]:%d" % port],
            "tls": {
                "certificates": [
                    {"cert": pki.server.cert, "key": pki.server.key},
                    {"cert": pki.server_rsa.cert, "key": pki.server_rsa.key},
                ],
                "min_version": "1.2",
                "client_ca": None,
                "crl": None,
            },
            "alpn": ["http/1.1"],
            "policy": policy_path or os.path.join(workdir, "policy.json"),
            "upstream": "db",
        }],
        "upstreams": {
            "db": {
                "servers": ["127.0.0.1:%d" % p for p in upstream_ports],
                "protocol": "http/1.1",
                "tls": None,
            },
        },
        "limits": {LIMIT_KEYS.get(k, k): v for k, v in (limits or {}).items()},
        "timeouts": {TIMEOUT_KEYS.get(k, k): v for k, v in (timeouts or {}).items()},
    }
    if tls:
        cfg["listeners"][0]["tls"] = deep_merge(cfg["listeners"][0]["tls"], tls)
    if listener:
        cfg["listeners"][0] = deep_merge(cfg["listeners"][0], listener)
    if upstream:
        cfg["upstreams"]["db"] = deep_merge(cfg["upstreams"]["db"], upstream)
    if overrides:
        cfg = deep_merge(cfg, overrides)
    return cfg


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.rename(tmp, path)


def write_atomic(path, content):
    """write_atomic saves content (bytes, text, or an object written as JSON) the way an
    editor or cert-manager does: a temporary file in the same directory, fsync, rename
    over path. A reader never sees a half-written file."""
    tmp = os.path.join(os.path.dirname(path), ".%s.%s.tmp" % (
        os.path.basename(path), uuid.uuid4().hex[:6]))
    with open(tmp, "wb" if isinstance(content, bytes) else "w") as f:
        if isinstance(content, (bytes, str)):
            f.write(content)
        else:
            json.dump(content, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


class KubernetesVolume:
    """A directory updated the way the kubelet updates a ConfigMap or Secret volume:
    each version of the files is a directory `..<timestamp>`, `..data` points at the
    current one, and each file is a symlink `NAME -> ..data/NAME`. publish() writes a
    new version directory, points a `..data_tmp` link at it, renames that over `..data`
    (the one atomic step) and removes the old version."""

    def __init__(self, dir):
        self.dir = dir
        os.makedirs(dir, exist_ok=True)
        self.version = 0

    def path(self, name):
        """path returns the path of file name as a reader opens it (the symlink)."""
        return os.path.join(self.dir, name)

    def publish(self, files):
        """publish makes files ({name: bytes or text}) the current version; returns the
        name of its version directory."""
        self.version += 1
        vname = "..2026_11_24_00_00_%02d.%d" % (self.version % 60, self.version)
        vdir = os.path.join(self.dir, vname)
        os.makedirs(vdir)
        for name, data in files.items():
            with open(os.path.join(vdir, name), "wb" if isinstance(data, bytes) else "w") as f:
                f.write(data)
        data_link = os.path.join(self.dir, "..data")
        old = os.readlink(data_link) if os.path.islink(data_link) else None
        tmp = os.path.join(self.dir, "..data_tmp")
        os.symlink(vname, tmp)
        os.rename(tmp, data_link)
        for name in files:
            if not os.path.islink(self.path(name)):
                os.symlink(os.path.join("..data", name), self.path(name))
        if old:
            remove_tree(os.path.join(self.dir, old))
        return vname


def write_config(workdir, pki, port, upstream_ports, policy=None, name="certgate.json",
                 **kw):
    """write_config writes policy.json (default_policy unless given; pass policy=False to
    write none) and certgate.json into workdir; returns the config path."""
    os.makedirs(os.path.join(workdir, "state"), exist_ok=True)
    if policy is not False:
        write_json(os.path.join(workdir, "policy.json"),
                   policy if policy is not None else default_policy(pki))
    cfg = build_config(workdir, pki, port, upstream_ports, **kw)
    path = os.path.join(workdir, name)
    write_json(path, cfg)
    return path


# ---------------------------------------------------------------------------------------
# Processes (Process itself is certgate_testkit.process.Process)


class Backend(Process):
    """echo_backend.py on 127.0.0.1; port chosen by the backend itself unless given.
    tls: None (cleartext), or for HTTPS a dict with "cert" and "key" (PEM paths), and
    optionally "client_ca" (require a client certificate) and "max_version" ("1.2").
    host: the loopback address it listens on (127.0.0.2 and 127.0.0.3 work too).
    set_health(status) makes its /_health answer that status (health-check tests)."""

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


class Certgate(Process):
    """certgate run -c CONFIG, listening on self.port (127.0.0.1 and ::1)."""

    def __init__(self, workdir, config_path, port, name="certgate"):
        self.workdir = workdir
        self.config_path = config_path
        self.port = port
        with open(config_path) as f:
            cfg = json.load(f)
        self.access_log_path = cfg.get("log", {}).get("access_log")
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

    def access_log(self):
        """access_log returns the access log lines parsed as JSON (a line that does not
        parse is returned as {"_unparsed": line})."""
        out = []
        if not self.access_log_path:
            return out
        try:
            with open(self.access_log_path) as f:
                for line in f:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        out.append({"_unparsed": line})
        except FileNotFoundError:
            pass
        return out

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


def stderr_text(proc):
    """stderr_text returns what the Process proc has written to stderr so far ("" when
    nothing yet)."""
    try:
        with open(proc.stderr_path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def start_certgate(workdir, pki, upstream_ports, name="certgate", attempts=3, **cfg_kw):
    """start_certgate writes a config for a free port and starts certgate on it, retrying
    with another port if the first is taken meanwhile. The caller must register
    cg.kill / cg.stop for cleanup. Returns the Certgate."""
    last = None
    for _ in range(attempts):
        port = free_port()
        path = write_config(workdir, pki, port, upstream_ports, name=name + ".json", **cfg_kw)
        cg = Certgate(workdir, path, port, name=name)
        try:
            return cg.start()
        except AssertionError as e:
            cg.kill()
            last = e
            if "in use" not in cg.logs().lower():
                raise
    raise last


# ---------------------------------------------------------------------------------------
# Clients


def client_context(pki, client="admin", verify=True, min_version=None, max_version=None,
                   alpn=("http/1.1",), check_hostname=True):
    """client_context returns an ssl.SSLContext trusting the test CA, presenting the
    client certificate `client` (None: none)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(pki.ca.cert)
        ctx.check_hostname = check_hostname
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if client:
        c = pki.clients[client]
        ctx.load_cert_chain(c.cert, c.key)
    with warnings.catch_warnings():
        # TLS 1.0/1.1 are deprecated in Python; tests still need to offer them.
        warnings.simplefilter("ignore", DeprecationWarning)
        if min_version:
            ctx.minimum_version = min_version
        if max_version:
            ctx.maximum_version = max_version
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def tls_connect(port, ctx, server_hostname="localhost", host="127.0.0.1", timeout=10.0):
    """tls_connect opens a TCP connection and completes the TLS handshake (bounded)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    raw = socket.socket(fam, socket.SOCK_STREAM)
    raw.settimeout(timeout)
    try:
        raw.connect((host, port))
        s = ctx.wrap_socket(raw, server_hostname=server_hostname)
    except BaseException:
        raw.close()
        raise
    s.settimeout(timeout)
    return s


def read_until_close(sock, timeout=5.0, limit=64 << 20, stop=None):
    """read_until_close reads until EOF, timeout or error, or until stop(data) is true.

    Returns (data, how) with how one of "eof", "timeout", "reset", "stopped" or
    "error: ...".
    """
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    chunks = []
    total = 0
    how = "timeout"
    while total < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            b = sock.recv(65536)
        except socket.timeout:
            how = "timeout"
            break
        except ssl.SSLZeroReturnError:
            how = "eof"
            break
        except ConnectionResetError:
            how = "reset"
            break
        except (ssl.SSLError, OSError) as e:
            # An EOF without close_notify is still an EOF for us.
            how = "eof" if "EOF" in str(e) or "eof" in str(e) else "error: %s" % e
            break
        if not b:
            how = "eof"
            break
        chunks.append(b)
        total += len(b)
        if stop and stop(b"".join(chunks)):
            how = "stopped"
            break
    return b"".join(chunks), how


def send_interleaved(sock, data, piece=4096):
    """send_interleaved writes data in pieces and stops early when the server has
    started to answer (it may answer an oversized head and close before reading it all;
    writing on would only provoke a reset). Readable TLS records that carry no
    application data (TLS 1.3 session tickets) do not count as an answer.
    Returns (error text or None, application bytes already received)."""
    import select
    view = memoryview(data)
    off = 0
    early = b""
    while off < len(view):
        r, _, _ = select.select([sock], [], [], 0)
        if r or sock.pending():
            timeout = sock.gettimeout()
            sock.setblocking(False)
            try:
                early = sock.recv(65536)
            except ssl.SSLWantReadError:
                early = None  # only handshake messages: keep writing
            except (OSError, ssl.SSLError):
                early = b""
            finally:
                sock.settimeout(timeout)
            if early is None:
                early = b""
            else:
                return None, early
        try:
            off += sock.send(view[off:off + piece])
        except (OSError, ssl.SSLError) as e:
            return "%s: %s" % (type(e).__name__, e), early
    return None, early


def raw_exchange(port, data, pki, client="admin", timeout=5.0, server_hostname="localhost",
                 host="127.0.0.1", stop=None):
    """raw_exchange sends data in one write over a fresh TLS connection and reads until
    the server closes, timeout s pass or stop(data) is true (see read_until_close).
    Returns (response bytes, how it ended)."""
    s = tls_connect(port, client_context(pki, client), server_hostname, host, timeout)
    try:
        err, early = send_interleaved(s, data)
        if early and stop is not None and stop(early):
            return early, "stopped"
        got, how = read_until_close(s, timeout, stop=(lambda d: stop(early + d)) if stop else None)
        got = early + got
        if err and not got:
            how = "write failed (%s), then %s" % (err, how)
        return got, how
    finally:
        s.close()


class Response:
    def __init__(self, version, status, reason, headers, body, interim, trailers=()):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers      # [(name, value)] in order
        self.body = body
        self.interim = interim      # [(status, headers)] for 1xx responses seen first
        self.trailers = list(trailers)  # [(name, value)] after a chunked body

    def header(self, name, default=None):
        v = self.all(name)
        return v[0] if v else default

    def all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "Response(%d, %r, body=%r)" % (self.status, self.headers, self.body[:200])


class ResponseReader:
    """Reads HTTP/1.1 responses, one after another, from a socket (pipelining aware)."""

    def __init__(self, sock, timeout=10.0):
        self.sock = sock
        self.buf = bytearray()
        self.timeout = timeout
        self.eof = False

    def _fill(self):
        self.sock.settimeout(self.timeout)
        try:
            b = self.sock.recv(256 * 1024)
        except ssl.SSLZeroReturnError:
            b = b""
        except ssl.SSLEOFError:
            b = b""
        if not b:
            self.eof = True
            return False
        self.buf += b
        return True

    def _line(self, limit=1 << 20):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            if len(self.buf) > limit or not self._fill():
                raise EOFError("connection closed in response head (got %r)" % bytes(self.buf[:200]))

    def _exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError("connection closed in body: %d of %d bytes" % (len(self.buf), n))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _head(self):
        line = self._line().decode("latin-1")
        parts = line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ValueError("bad status line %r" % line)
        version, status = parts[0], int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        while True:
            h = self._line().decode("latin-1")
            if not h:
                break
            name, _, value = h.partition(":")
            headers.append((name, value.strip()))
        return version, status, reason, headers

    def read(self, head_request=False):
        """read returns the next final Response (1xx responses are collected in
        .interim, 101 is returned as final). Raises EOFError / socket.timeout."""
        interim = []
        while True:
            version, status, reason, headers = self._head()
            if 100 <= status < 200 and status != 101:
                interim.append((status, headers))
                continue
            break
        lower = [(n.lower(), v) for n, v in headers]
        te = ",".join(v for n, v in lower if n == "transfer-encoding").lower()
        cl = [v for n, v in lower if n == "content-length"]
        trailers = []
        if head_request or status in (204, 304, 101):
            body = b""
        elif "chunked" in te:
            out = bytearray()
            while True:
                size = int(self._line().split(b";")[0].strip(), 16)
                if size == 0:
                    break
                out += self._exact(size)
                if self._exact(2) != b"\r\n":
                    raise ValueError("missing CRLF after chunk")
            while True:
                t = self._line().decode("latin-1")
                if not t:
                    break
                name, _, value = t.partition(":")
                trailers.append((name, value.strip()))
            body = bytes(out)
        elif cl:
            body = self._exact(int(cl[0]))
        else:
            while self._fill():
                pass
            body = bytes(self.buf)
            self.buf.clear()
        return Response(version, status, reason, headers, body, interim, trailers)

    def at_eof(self, timeout=3.0):
        """at_eof returns True when the server closes the connection within timeout s
        with nothing more sent (a reset also counts as closed)."""
        if self.buf:
            return False
        old = self.timeout
        self.timeout = timeout
        try:
            return not self._fill()
        except socket.timeout:
            return False
        except (ConnectionResetError, ssl.SSLError):
            return True
        finally:
            self.timeout = old


def parse_responses(data):
    """parse_responses parses every complete response in a byte string (read to close)."""
    class _Buf:
        def __init__(self, d):
            self.d = d

        def recv(self, n):
            out, self.d = self.d[:n], self.d[n:]
            return out

        def settimeout(self, t):
            pass
    r = ResponseReader(_Buf(data))
    out = []
    while True:
        if not r.buf and not r._fill():
            return out
        try:
            out.append(r.read())
        except (EOFError, ValueError):
            return out


def request_bytes(method, target, host, headers=(), body=b"", version="HTTP/1.1"):
    """request_bytes builds a request; Content-Length is added when body is non-empty and
    no framing header is given."""
    lines = ["%s %s %s" % (method, target, version)]
    if host is not None:
        lines.append("Host: %s" % host)
    names = {n.lower() for n, _ in headers}
    for n, v in headers:
        lines.append("%s: %s" % (n, v))
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def http_plain(host, port, method, target, headers=(), body=b"", timeout=10.0):
    """http_plain sends one request over plain TCP (to the backend); returns
    (status, headers, body)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(request_bytes(method, target, "%s:%d" % (host, port),
                                list(headers) + [("Connection", "close")], body))
        r = ResponseReader(s, timeout).read(head_request=(method == "HEAD"))
        return r.status, r.headers, r.body


def https_request(port, pki, method, target, client="admin", headers=(), body=b"",
                  timeout=10.0, server_hostname="localhost", host_header=None):
    """https_request sends one request through certgate on a fresh TLS connection."""
    s = tls_connect(port, client_context(pki, client), server_hostname, timeout=timeout)
    try:
        s.sendall(request_bytes(method, target, host_header or "localhost:%d" % port,
                                headers, body))
        return ResponseReader(s, timeout).read(head_request=(method == "HEAD"))
    finally:
        s.close()


def run_in_hosts_namespace(argv, names, timeout=60, env=None, input=b""):
    """run_in_hosts_namespace runs argv (subprocess.run, output captured) with its own
    /etc/hosts, which maps names ({name: address}) and localhost: in a private mount
    namespace (`unshare -m`, needs root) a temporary file is bind-mounted over /etc/hosts,
    so that clients without a --resolve option (nghttp, etcdctl, influx) reach test host
    names on loopback, send them as SNI and Host, and the machine's /etc/hosts is never
    touched."""
    fd, path = tempfile.mkstemp(prefix="certgate-hosts-")
    with os.fdopen(fd, "w") as f:
        f.write("127.0.0.1 localhost\n::1 localhost\n")
        for name, addr in names.items():
            f.write("%s %s\n" % (addr, name))
    try:
        return subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             'mount --bind "$0" /etc/hosts && exec "$@"', path] + [str(a) for a in argv],
            capture_output=True, timeout=timeout, env=env, input=input)
    finally:
        os.unlink(path)


class KeepAlive:
    """One TLS connection (ctx, server_hostname) on which GET requests are sent one
    after another; count is how many were answered."""

    def __init__(self, port, ctx, server_hostname="localhost", timeout=10.0):
        self.port = port
        self.server_hostname = server_hostname
        self.sock = tls_connect(port, ctx, server_hostname, timeout=timeout)
        self.reader = ResponseReader(self.sock, timeout)
        self.count = 0

    def get(self, target):
        """get sends GET target and returns the Response; raises like
        ResponseReader.read when the connection fails."""
        self.sock.sendall(request_bytes("GET", target,
                                        "%s:%d" % (self.server_hostname, self.port)))
        r = self.reader.read()
        self.count += 1
        return r

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class CurlResult:
    def __init__(self, rc, responses, body, body_path, stdout, stderr, argv):
        self.rc = rc
        self.responses = responses  # [(status, [(name, value)])] incl. 1xx, in order
        finals = [r for r in responses if r[0] >= 200 or r[0] == 101]
        self.status = finals[-1][0] if finals else None
        self.headers = finals[-1][1] if finals else []
        self.body = body
        self.body_path = body_path
        self.stdout = stdout
        self.stderr = stderr
        self.argv = argv

    def header(self, name, default=None):
        n = name.lower()
        for k, v in self.headers:
            if k.lower() == n:
                return v
        return default

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "CurlResult(rc=%d, status=%s, stderr=%r, stdout=%r, body=%r)" % (
            self.rc, self.status, self.stderr[-500:], self.stdout[-500:],
            (self.body or b"")[:300])


def parse_header_dump(text):
    responses = []
    for block in re.split(r"\r?\n\r?\n", text):
        lines = [l for l in block.splitlines() if l]
        if not lines or not lines[0].startswith("HTTP/"):
            continue
        status = int(lines[0].split()[1])
        hdrs = []
        for l in lines[1:]:
            n, _, v = l.partition(":")
            hdrs.append((n, v.strip()))
        responses.append((status, hdrs))
    return responses


def curl(pki, args, client="admin", timeout=60, http="1.1", body_file=None, tmpdir=None,
         resolve=True):
    """curl runs curl with the test CA and client certificate `client` (None: none).

    args are extra arguments including the URL(s). The body goes to a temp file (or
    body_file; then .body is None and the caller hashes .body_path). Hosts localhost and
    rsa.test in https URLs are resolved to 127.0.0.1. Returns a CurlResult.
    """
    own_tmp = tempfile.mkdtemp(prefix="curl-", dir=tmpdir)
    try:
        hdr = os.path.join(own_tmp, "headers")
        out = body_file or os.path.join(own_tmp, "body")
        argv = ["curl", "-sS", "--max-time", str(timeout), "--connect-timeout", "10",
                "--cacert", pki.ca.cert, "-D", hdr]
        if "-o" not in args and "--output" not in args:
            argv += ["-o", out]
        if http == "1.1":
            argv.append("--http1.1")
        elif http == "2":
            argv.append("--http2")
        if client:
            c = pki.clients[client]
            argv += ["--cert", c.cert, "--key", c.key]
        if resolve:
            seen = set()
            for a in args:
                m = re.match(r"https?://(localhost|rsa\.test):(\d+)", str(a))
                if m and m.groups() not in seen:
                    seen.add(m.groups())
                    argv += ["--resolve", "%s:%s:127.0.0.1" % m.groups()]
        argv += [str(a) for a in args]
        try:
            r = subprocess.run(argv, capture_output=True, timeout=timeout + 15)
            rc, so, se = r.returncode, r.stdout.decode(errors="replace"), \
                r.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired as e:
            rc, so, se = -1, "", "curl did not finish in time: %s" % e
        try:
            with open(hdr, encoding="latin-1") as f:
                responses = parse_header_dump(f.read())
        except FileNotFoundError:
            responses = []
        body = None
        if body_file is None:
            try:
                with open(out, "rb") as f:
                    body = f.read()
            except FileNotFoundError:
                body = b""
        return CurlResult(rc, responses, body, out, so, se, argv)
    finally:
        shutil.rmtree(own_tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# Test base class


class CertgateTestCase:
    """Mixin for unittest.TestCase classes: one temp dir, PKI, backend and certgate per
    class (setUpClass), all cleaned up with addClassCleanup even when setUpClass fails.

    Subclasses may set CONFIG (kwargs for write_config) and START_BACKEND.
    """

    CONFIG = {}
    START_BACKEND = True

    @classmethod
    def setUpClass(cls):
        cls.tmp = make_tempdir()
        cls.addClassCleanup(remove_tree, cls.tmp)
        pki_dir = os.path.join(cls.tmp, "pki")
        os.makedirs(pki_dir)
        cls.pki = make_pki(pki_dir)
        cls.backend = None
        if cls.START_BACKEND:
            cls.backend = Backend(cls.tmp)
            cls.addClassCleanup(cls.backend.kill)
            cls.backend.start()
        cls.cg = None
        ports = [cls.backend.port] if cls.backend else [free_port()]
        cls.cg = start_certgate(cls.tmp, cls.pki, ports, **cls.CONFIG)
        cls.addClassCleanup(cls.cg.kill)
        cls.port = cls.cg.port

    def url(self, path, host="localhost"):
        return "https://%s:%d%s" % (host, self.port, path)
