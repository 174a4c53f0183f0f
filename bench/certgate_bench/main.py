"""bench/run's command line and the order of the run: setup, checks, measurements
interleaved across the proxies, report."""

import argparse
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from . import checks, prepare, report
from .backend import start_nginx
from .common import ALL_METRICS, RESULTS, die, log, raise_nofile, stop_all
from .loadtools import Tools
from .measure.bulk import bulk
from .measure.idle import idle
from .measure.kernel import kernel, profile
from .measure.policy import policy_bench
from .measure.request_rates import h1, h2, handshake
from .measure.scaling import scaling
from .proxies import Certgate, Haproxy, Nghttpx


def parse_args(description, argv=None):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds of load per measurement")
    ap.add_argument("--idle-conns", type=int, default=5000)
    ap.add_argument("--bulk-mb", type=int, default=100)
    ap.add_argument("--bulk-reps", type=int, default=10,
                    help="downloads per measurement (a 100 MB one takes ~0.15 s of CPU)")
    ap.add_argument("--only", default=",".join(ALL_METRICS),
                    help="comma-separated subset of: " + ",".join(ALL_METRICS))
    ap.add_argument("--quick", action="store_true",
                    help="1 round, 2 s loads, 1,000 idle connections, 2 bulk downloads")
    ap.add_argument("--skip-deps", action="store_true", help="do not run scripts/deps --bench")
    ap.add_argument("--certgate-bin", help="use this certgate binary instead of building")
    ap.add_argument("--profile", action="store_true",
                    help="perf-record certgate under each load after the measurements")
    ap.add_argument("--certgate-limit", action="append", default=[], metavar="KEY=INT",
                    help="extra certgate limits, e.g. upstream_pool_max_idle=128")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--no-write", action="store_true", help="print only, write no results")
    a = ap.parse_args(argv)
    if a.quick:
        a.rounds, a.duration, a.idle_conns, a.bulk_reps = 1, 2, 1000, 2
    only = [m.strip() for m in a.only.split(",") if m.strip()]
    for m in only:
        if m not in ALL_METRICS:
            ap.error("unknown metric %r" % m)
    return a, only


def main(description, argv=None):
    a, only = parse_args(description, argv)
    if os.cpu_count() < 2:
        die("needs at least 2 CPUs (proxy on core 0, load on core 1)")

    started = datetime.datetime.now()
    t_start = time.monotonic()
    prepare.install_tools(a.skip_deps)
    cg_bin = prepare.build_certgate(a)
    nofile = raise_nofile()
    if nofile < 2 * a.idle_conns + 1000:
        a.idle_conns = max(100, (nofile - 1000) // 2)
        log("open file limit %d: idle connections reduced to %d" % (nofile, a.idle_conns))
    work = tempfile.mkdtemp(prefix="certgate-bench-")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return bench(a, only, cg_bin, work, started, t_start)
    finally:
        stop_all()
        if a.keep:
            log("work directory kept: " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


def bench(a, only, cg_bin, work, started, t_start):
    log("work directory " + work)
    try:
        pki = prepare.make_pki(work)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        die("making the PKI: %s" % e)
    shim = prepare.build_shim(work)
    tools = Tools(shim, pki)
    backend = start_nginx(work, a.bulk_mb)
    notes = []
    cg = Certgate(work, pki, backend["port"], cg_bin)
    for kv in a.certgate_limit:
        k, _, v = kv.partition("=")
        cg.limits[k] = int(v) if v.isdigit() else v
    if cg.limits:
        notes.append("certgate limits changed from the defaults: %s" % json.dumps(cg.limits))
    proxies = [cg, Haproxy(work, pki, backend["port"]), Nghttpx(work, pki, backend["port"])]
    for px in proxies:
        px.start()
        log("%s listening on 127.0.0.1:%d (pid %d)" % (px.name, px.port, px.pid))
    h2ok = checks.check_proxies(proxies, tools, notes)
    if not h2ok["certgate"]:
        log("certgate does not serve h2 yet: HTTP/2 numbers are n/a for certgate")

    res = {}

    def record(metric, proxy, vals):
        d = res.setdefault(metric, {}).setdefault(proxy, {})
        for k, v in vals.items():
            d.setdefault(k, []).append(v)

    simple = [("h1", h1), ("h2", h2), ("handshake", handshake),
              ("bulk", lambda px, t, aa: bulk(px, t, aa, backend)),
              ("kernel", lambda px, t, aa: kernel(px, t, aa, h2ok[px.name]))]
    if "kernel" in only and shutil.which("perf") is None:
        log("perf not installed: no kernel paths")
        only = [m for m in only if m != "kernel"]
    for metric, fn in simple:
        if metric not in only:
            continue
        for rnd in range(a.rounds):
            for px in proxies:
                if metric == "h2" and not h2ok[px.name]:
                    continue
                vals = fn(px, tools, a)
                record(metric, px.name, vals)
                log("%s round %d %s: %s" % (metric, rnd + 1, px.name, ", ".join(
                    "%s=%.1f" % kv for kv in vals.items())))
                time.sleep(0.3)

    profile_files = []
    stamp = started.strftime("%Y-%m-%d-%H%M") + "-" + socket.gethostname()
    if a.profile and not a.no_write:
        os.makedirs(RESULTS, exist_ok=True)
        profile_files = profile(cg, tools, a, work, stamp, h2ok, backend)

    if "idle" in only:
        for rnd in range(a.rounds):
            for px in proxies:
                vals = idle(px, tools, a)
                record("idle", px.name, vals)
                log("idle round %d %s: %.1f KiB/connection (%.1f → %.1f MiB)"
                    % (rnd + 1, px.name, vals["kib"], vals["before_mib"], vals["after_mib"]))

    if "scaling" in only:
        scaling(cg, tools, a, res)

    policy_out = policy_bench() if "policy" in only else None

    vers = report.versions(cg_bin)
    notes.append("total bench/run time: %.0f s" % (time.monotonic() - t_start))
    text = report.report(res, a, vers, notes, h2ok, policy_out, started, profile_files)
    print(text)
    if not a.no_write:
        os.makedirs(RESULTS, exist_ok=True)
        path = os.path.join(RESULTS, stamp + ".md")
        with open(path, "w") as f:
            f.write(text)
        with open(os.path.join(RESULTS, "latest.md"), "w") as f:
            f.write(text)
        log("wrote %s and bench/results/latest.md" % path)
    return 0
