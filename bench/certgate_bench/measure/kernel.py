"""perf: where each proxy's CPU goes in the kernel under the h1 and h2 loads, and
(--profile) certgate's top symbols under each load."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from certgate_testkit.procfs import process_tree

from ..common import RESULTS, log, run, started
from .bulk import bulk
from .request_rates import h1_load, h2_load, handshake_load

# Kernel paths whose share of a proxy's samples kernel() reports (perf's "children"
# column: the time in the function and everything it called). On loopback the sender's
# write runs the receiver's TCP processing too (net_rx_action in a softirq), including
# waking the receiving process (sock_def_readable).
KERNEL_PATHS = [
    ("send", "tcp_sendmsg"),
    ("rx_softirq", "net_rx_action"),
    ("wakeup", "sock_def_readable"),
    ("recv", "tcp_recvmsg"),
    ("epoll", "do_epoll_wait"),
    ("syscalls", "entry_SYSCALL_64_after_hwframe"),
]


def perf_record(pids, data, freq, load):
    """perf_record samples |pids| with call graphs into |data| while load() runs."""
    rec = started(subprocess.Popen(["perf", "record", "-q", "-g", "-F", str(freq), "-o", data,
                                    "-p", ",".join(str(p) for p in pids)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(0.5)
    load()
    rec.send_signal(signal.SIGINT)
    try:
        rec.wait(timeout=30)
    except subprocess.TimeoutExpired:
        rec.kill()


def kernel_paths(px, name, load):
    data = os.path.join(tempfile.gettempdir(), "certgate-bench-%s-kernel.data" % px.name)
    perf_record(process_tree(px.pid), data, 1000, load)
    _, out, _ = run(["perf", "report", "-i", data, "--stdio", "--children", "--sort", "symbol",
                     "-g", "none", "--percent-limit", "0.1"], timeout=120, check=False)
    os.unlink(data)
    children = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+[\d.]+%\s+\[k\]\s+(\S+)", line)
        if m:
            children.setdefault(m.group(2), float(m.group(1)))
    return {name + "_" + key: children.get(sym, 0.0) for key, sym in KERNEL_PATHS}


def kernel(px, tools, a, h2):
    """kernel records the proxy's process tree with perf during the h1 load, and the h2
    load when |h2|, and returns the percentage of its samples under each KERNEL_PATHS
    function, keyed "h1_<path>" and "h2_<path>"."""
    out = kernel_paths(px, "h1", lambda: h1_load(px, tools, a))
    if h2:
        out.update(kernel_paths(px, "h2", lambda: h2_load(px, tools, a)))
    return out


def profile(cg, tools, a, work, stamp, h2ok, backend):
    """profile records certgate with perf under each load; returns written file names."""
    if shutil.which("perf") is None:
        log("perf not installed: skipping --profile")
        return []
    files = []
    loads = [("h1", lambda: h1_load(cg, tools, a)),
             ("handshake", lambda: handshake_load(cg, tools, a)),
             ("bulk", lambda: bulk(cg, tools, a, backend))]
    if h2ok.get("certgate"):
        loads.insert(1, ("h2", lambda: h2_load(cg, tools, a)))
    for name, load in loads:
        data = os.path.join(work, "perf-%s.data" % name)
        perf_record([cg.pid], data, 2000, load)
        rc, out, err = run(["perf", "report", "-i", data, "--stdio", "--no-children",
                            "--sort", "dso,symbol", "-g", "none", "--percent-limit", "0.5"],
                           timeout=120, check=False)
        path = os.path.join(RESULTS, "%s-perf-%s.txt" % (stamp, name))
        with open(path, "w") as f:
            f.write("# perf record -g -p certgate during the %s load (%d s)\n" % (name,
                                                                                 a.duration))
            f.write("\n".join(l for l in out.splitlines() if l.strip()) + "\n")
        files.append("perf profile of certgate under the %s load: `bench/results/%s`"
                     % (name, os.path.basename(path)))
        log("wrote " + path)
    return files
