"""Request loads: HTTP/1.1 keep-alive (wrk), HTTP/2 (h2load) and full mTLS handshakes
(wrk, one request per connection, no session resumption). The *_load functions are the
loads alone, which kernel.py also records with perf."""

from ..common import log
from .cpu import CpuMeter


def h1_load(px, tools, a):
    return tools.wrk(px.url(), 20, a.duration)


_H2_N = {}  # proxy name -> h2load -n, calibrated once


def h2_n(px, tools, a):
    """h2_n picks -n so that a run lasts about --duration s (calibrated once per proxy)."""
    if px.name not in _H2_N:
        r = tools.h2load(px.url(), 5000, timeout=30)
        rate = r["rps"] if r["ok"] == 5000 else 5000
        _H2_N[px.name] = max(2000, int(rate * a.duration) // 100 * 100)
    return _H2_N[px.name]


def h2_load(px, tools, a, n=None):
    return tools.h2load(px.url(), n or h2_n(px, tools, a), timeout=a.duration * 4 + 20)


def handshake_load(px, tools, a):
    """handshake_load: wrk -c20 with `Connection: close` and the shim refusing session
    resumption, so that every request is a full handshake."""
    return tools.wrk(px.url(), 20, a.duration, headers=["Connection: close"], no_resume=True)


def per_request(meter, cpu, wall, ok):
    """per_request returns the CPU µs per answered request, split in user space and
    kernel, and how busy the proxy's core was (%)."""
    n = max(ok, 1)
    return {"cpu_us": 1e6 * cpu / n, "user_us": 1e6 * meter.user / n,
            "sys_us": 1e6 * meter.sys / n, "busy": 100.0 * cpu / wall}


def h1(px, tools, a):
    meter = CpuMeter(px.pid)
    r = h1_load(px, tools, a)
    cpu, wall = meter.done()
    if r["non2xx"] or r["errors"] or r["ok"] <= 0:
        log("%s h1: %d non-2xx, %d socket errors" % (px.name, r["non2xx"], r["errors"]))
    return dict({"rps": r["rps"]}, **per_request(meter, cpu, wall, r["ok"]))


def h2(px, tools, a):
    n = h2_n(px, tools, a)
    meter = CpuMeter(px.pid)
    r = h2_load(px, tools, a, n)
    cpu, wall = meter.done()
    if r["ok"] != n:
        log("%s h2: %d of %d requests succeeded%s" % (px.name, r["ok"], n,
                                                      " (timed out)" if r["timeout"] else ""))
    return dict({"rps": r["rps"]}, **per_request(meter, cpu, wall, r["ok"]))


def handshake(px, tools, a):
    meter = CpuMeter(px.pid)
    r = handshake_load(px, tools, a)
    cpu, wall = meter.done()
    if r["non2xx"] or r["ok"] <= 0:
        log("%s handshake: %d non-2xx, %d socket errors" % (px.name, r["non2xx"], r["errors"]))
    m = per_request(meter, cpu, wall, r["ok"])
    return {"rps": r["rps"], "cpu_us": m["cpu_us"], "busy": m["busy"]}
