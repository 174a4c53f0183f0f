"""The load generators: wrk (HTTP/1.1), h2load (HTTP/2, or HTTP/1.1 with --h1) and
curl, pinned to LOAD_CORE and presenting the client certificate through
bench/client_cert_shim.c (LD_PRELOAD)."""

import os
import re
import time

from .common import LOAD_CORE, run


class Tools:
    """Tools runs the load generators with the shim and the bench PKI."""

    def __init__(self, shim, pki):
        self.shim = shim
        self.pki = pki

    def env(self, cert=True, no_resume=False, client="client"):
        e = dict(os.environ)
        e["LD_PRELOAD"] = self.shim
        if cert:
            e["BENCH_CLIENT_CERT"] = self.pki[client + "_crt"]
            e["BENCH_CLIENT_KEY"] = self.pki[client + "_key"]
        if no_resume:
            e["BENCH_CLIENT_NO_RESUME"] = "1"
        return e

    def wrk(self, url, conns, secs, threads=1, headers=(), cert=True, no_resume=False,
            pin=True):
        argv = (["taskset", "-c", LOAD_CORE] if pin else []) + [
            "wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % secs, "--timeout", "5s"]
        for h in headers:
            argv += ["-H", h]
        argv.append(sni_safe(url))
        rc, out, err = run(argv, timeout=secs + 30, env=self.env(cert, no_resume), check=False)
        return parse_wrk(out + err)

    def h2load(self, url, n, conns=10, streams=10, timeout=60, cert=True, h1=False,
               headers=()):
        argv = ["taskset", "-c", LOAD_CORE, "h2load", "-t1", "-c%d" % conns,
                "-m%d" % streams, "-n%d" % n]
        if h1:
            argv.append("--h1")
        for h in headers:
            argv += ["-H", h]
        argv.append(url)
        t0 = time.monotonic()
        rc, out, err = run(argv, timeout=timeout, env=self.env(cert), check=False)
        r = parse_h2load(out + err)
        r["wall"] = time.monotonic() - t0
        r["timeout"] = rc == 124
        return r

    def curl(self, url, extra=(), cert=True, client="client", timeout=30):
        argv = ["curl", "-sS", "--max-time", str(timeout), "--cacert", self.pki["ca"]]
        if cert:
            argv += ["--cert", self.pki[client + "_crt"], "--key", self.pki[client + "_key"]]
        argv += list(extra) + [url]
        return run(argv, timeout=timeout + 10, check=False)


def sni_safe(url):
    """sni_safe names the loopback address "localhost" in |url|: wrk sends the URL's host
    as the TLS server name even when it is an IP address, which RFC 6066 forbids and
    certgate refuses (invalid_sni); curl and h2load send none for an address."""
    return url.replace("https://127.0.0.1:", "https://localhost:", 1)


def parse_wrk(text):
    r = {"ok": 0, "requests": 0, "rps": 0.0, "non2xx": 0, "errors": 0, "raw": text}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        r["errors"] = sum(int(x) for x in m.groups())
    r["ok"] = r["requests"] - r["non2xx"]
    return r


def parse_h2load(text):
    r = {"ok": 0, "requests": 0, "rps": 0.0, "raw": text, "proto": ""}
    m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", text)
    if m:
        r["rps"] = float(m.group(3))
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded", text)
    if m:
        r["requests"] = int(m.group(3))
    m = re.search(r"status codes: (\d+) 2xx", text)
    if m:
        r["ok"] = int(m.group(1))
    m = re.search(r"Application protocol: (\S+)", text)
    if m:
        r["proto"] = m.group(1)
    return r
