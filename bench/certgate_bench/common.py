"""Paths, core pinning, logging, bounded commands and the processes bench/run started."""

import os
import resource
import shutil
import subprocess
import sys
import time

from certgate_testkit.process import Process, stop_popen

PKG = os.path.dirname(os.path.abspath(__file__))
HERE = os.path.dirname(PKG)                  # bench/
ROOT = os.path.dirname(HERE)                 # the repository
RESULTS = os.path.join(HERE, "results")
BUILD = os.path.join(HERE, ".build")
SHIM_SRC = os.path.join(HERE, "client_cert_shim.c")

PROXY_CORE = "0"
LOAD_CORE = "1"
SMALL_BODY = "certgate-bench-ok\n"  # the backend's fixed 200 body (18 bytes)
ALL_METRICS = ["h1", "h2", "handshake", "idle", "bulk", "kernel", "scaling", "policy"]
PROXIES = ["certgate", "haproxy", "nghttpx"]

STARTED = []  # every Process or subprocess.Popen started here, stopped at exit


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def die(msg):
    log("ERROR: " + msg)
    sys.exit(1)


def run(argv, timeout, env=None, check=True, cwd=None, input=None):
    """run executes argv with a time limit and returns (rc, stdout, stderr) as text;
    with check, a failure or timeout ends bench/run (die)."""
    try:
        r = subprocess.run(argv, capture_output=True, timeout=timeout, env=env, cwd=cwd,
                           input=input, text=True, errors="replace")
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        if check:
            die("timed out after %ds: %s" % (timeout, " ".join(argv)))
        return 124, out, "timeout"
    if check and r.returncode != 0:
        die("%s failed (%d):\n%s%s" % (" ".join(argv), r.returncode, r.stdout[-3000:],
                                     r.stderr[-3000:]))
    return r.returncode, r.stdout, r.stderr


def tool(name):
    return shutil.which(name) or "/usr/sbin/" + name


def spawn(argv, log_prefix, env=None):
    """spawn starts argv in its own process group (signals reach the workers it forks),
    output in log_prefix.stdout / .stderr, and registers it for stop_all."""
    p = Process(argv, log_prefix, env=env, own_group=True).start()
    STARTED.append(p)
    return p


def started(popen):
    """started registers a subprocess.Popen (a load client, perf) for stop_all."""
    STARTED.append(popen)
    return popen


def stop_all():
    for p in reversed(STARTED):
        try:
            if isinstance(p, Process):
                p.stop(timeout=5)
            else:
                stop_popen(p, timeout=5)
        except Exception:  # noqa: BLE001 (cleanup must go on)
            pass


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
