"""Worker scaling: certgate with 1 and 2 workers under wrk -t2 -c40, nothing pinned
(the machine has 2 vCPUs, so this shows that a second worker is used, not a speed-up)."""

from ..common import log
from .cpu import CpuMeter


def scaling(cg, tools, a, res):
    """scaling fills res["scaling"][workers] = {"rps": [...], "cpu_us": [...]} over
    --rounds rounds, and leaves cg stopped with 1 worker."""
    res["scaling"] = {}
    for rnd in range(a.rounds):
        for w in (1, 2):
            cg.stop()
            cg.workers = w
            cg.start(pin=False)
            tools.wrk(cg.url(), 40, 1, threads=2, pin=False)
            meter = CpuMeter(cg.pid)
            r = tools.wrk(cg.url(), 40, a.duration, threads=2, pin=False)
            cpu, _ = meter.done()
            d = res["scaling"].setdefault(w, {})
            d.setdefault("rps", []).append(r["rps"])
            d.setdefault("cpu_us", []).append(1e6 * cpu / max(r["ok"], 1))
            log("scaling round %d workers %d: %.0f req/s" % (rnd + 1, w, r["rps"]))
    cg.stop()
    cg.workers = 1
