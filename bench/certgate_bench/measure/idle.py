"""Idle connections: RSS per idle TLS connection on a freshly started proxy."""

import os
import select
import subprocess
import sys
import time

from certgate_testkit.procfs import tree_rss_kb

from ..common import LOAD_CORE, log, started

IDLE_CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "idle_client.py")


def idle(px, tools, a):
    """idle restarts px, warms it up, then opens --idle-conns idle TLS connections from
    5 client processes; returns the VmRSS growth per open connection."""
    px.stop()
    px.start()
    tools.wrk(px.url(), 20, 1)  # warm-up: upstream connections, allocator, caches
    time.sleep(0.5)
    before = tree_rss_kb(px.pid)
    nproc = 5
    per = [a.idle_conns // nproc + (1 if i < a.idle_conns % nproc else 0) for i in range(nproc)]
    clients = []
    for n in per:
        clients.append(started(subprocess.Popen(
            ["taskset", "-c", LOAD_CORE, sys.executable, IDLE_CLIENT, str(px.port), str(n),
             tools.pki["ca"], tools.pki["client_crt"], tools.pki["client_key"]],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True)))
    ok = opened = 0
    deadline = time.monotonic() + 120
    for c in clients:
        line = ""
        while time.monotonic() < deadline:
            rl, _, _ = select.select([c.stdout], [], [], 1.0)
            if rl:
                line = c.stdout.readline()
                break
        parts = line.split()
        if len(parts) == 3 and parts[0] == "ready":
            ok += int(parts[1])
            opened += int(parts[2])
    time.sleep(1.0)
    after = tree_rss_kb(px.pid)
    for c in clients:
        try:
            c.stdin.close()
        except OSError:
            pass
    for c in clients:
        try:
            c.wait(timeout=20)
        except subprocess.TimeoutExpired:
            c.kill()
    if ok != a.idle_conns:
        log("%s idle: %d of %d connections answered 200 (%d open)"
            % (px.name, ok, a.idle_conns, opened))
    return {"kib": (after - before) / max(opened, 1), "before_mib": before / 1024,
            "after_mib": after / 1024}
