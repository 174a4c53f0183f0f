"""Command-line clients driven the way a user drives them: curl, nghttp, h2load and
openssl s_client with the test PKI, and a private /etc/hosts for clients that have no
--resolve option."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from .pki import pem_certificates, pem_subject


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


def nghttp(pki, url, client="admin", data=None, extra=(), timeout=60):
    """nghttp runs `nghttp URL` (HTTP/2) with the client certificate `client` (None:
    none); data is a file to upload (-d), extra more arguments. Returns the
    subprocess.CompletedProcess (bytes output: the response body on stdout)."""
    argv = ["nghttp"]
    if client:
        c = pki.clients[client]
        argv += ["--cert", c.cert, "--key", c.key]
    if data:
        argv += ["-d", data]
    argv += list(extra) + [url]
    return subprocess.run(argv, capture_output=True, timeout=timeout)


class H2loadResult:
    def __init__(self, rc, text, seconds):
        self.rc = rc
        self.text = text          # stdout and stderr
        self.seconds = seconds
        m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded",
                      text)
        self.succeeded = int(m.group(4)) if m else None
        rps = re.search(r"finished in [^,]+, ([\d.]+) req/s", text)
        self.rps = float(rps.group(1)) if rps else None


def h2load(url, requests, clients, streams, timeout=120):
    """h2load runs `h2load -n REQUESTS -c CLIENTS -m STREAMS URL` (it presents no client
    certificate: URL must be a Public route), bounded by timeout s; returns an
    H2loadResult."""
    t0 = time.monotonic()
    p = subprocess.run(["timeout", str(timeout), "h2load", "-n", str(requests), "-c",
                        str(clients), "-m", str(streams), url],
                       capture_output=True, timeout=timeout + 10)
    text = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    return H2loadResult(p.returncode, text, time.monotonic() - t0)


def s_client(port, pki, servername="localhost", client="admin", extra=(), input=b"",
             timeout=30):
    """s_client runs `openssl s_client -connect 127.0.0.1:PORT` trusting the test CA,
    with -servername (None: no SNI) and the client certificate `client` (None: none),
    extra more arguments, and input on stdin. Returns the subprocess.CompletedProcess
    (bytes output)."""
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile", pki.ca.cert]
    if servername:
        argv += ["-servername", servername]
    if client:
        c = pki.clients[client]
        argv += ["-cert", c.cert, "-key", c.key]
    argv += list(extra)
    return subprocess.run(argv, input=input, capture_output=True, timeout=timeout)


def served_certificate(port, pki, servername="localhost", client="admin"):
    """served_certificate returns the PEM leaf certgate serves on port to a client asking
    for servername (None: no SNI), as openssl s_client sees it, or None."""
    pems = pem_certificates(s_client(port, pki, servername, client).stdout)
    return pems[0] if pems else None


def served_subject(port, servername, pki):
    """served_subject returns the subject (RFC 2253) of the certificate certgate serves on
    port to a client asking for servername (None: no SNI), or None when the handshake
    fails."""
    pem = served_certificate(port, pki, servername)
    return pem_subject(pem) if pem else None
