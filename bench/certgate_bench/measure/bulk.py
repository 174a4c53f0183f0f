"""Bulk transfer: proxy CPU per 100 MB downloaded (curl, one keep-alive connection,
nginx serving a file with sendfile)."""

from ..common import LOAD_CORE, log, run
from .cpu import CpuMeter


def bulk(px, tools, a, backend):
    reps = a.bulk_reps
    extra = ["--http1.1"]
    for _ in range(reps):
        extra += ["-o", "/dev/null"]
    extra += ["-w", "%{size_download}\\n"]
    urls = [px.url("/bulk")] * reps
    argv = ["taskset", "-c", LOAD_CORE, "curl", "-sS", "--max-time", "120", "--cacert",
            tools.pki["ca"], "--cert", tools.pki["client_crt"], "--key",
            tools.pki["client_key"]] + extra + urls
    meter = CpuMeter(px.pid)
    rc, out, err = run(argv, timeout=150, check=False)
    cpu, wall = meter.done()
    got = sum(int(x) for x in out.split() if x.isdigit())
    if rc != 0 or got != reps * backend["bulk_bytes"]:
        log("%s bulk: curl rc %d, %d of %d bytes: %s" % (px.name, rc, got,
                                                         reps * backend["bulk_bytes"], err))
    mb = max(got, 1) / 1e6
    return {"cpu_ms": 1e3 * cpu * 100 / mb, "user_ms": 1e3 * meter.user * 100 / mb,
            "sys_ms": 1e3 * meter.sys * 100 / mb, "mbps": mb / wall}
