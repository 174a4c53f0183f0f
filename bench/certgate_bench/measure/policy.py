"""The policy micro-benchmark: bench/policy_bench, built next to certgate."""

import os

from ..common import BUILD, HERE, PROXY_CORE, ROOT, run


def policy_bench():
    """policy_bench builds and runs bench/policy_bench when its sources exist; returns
    its output, or why it could not run."""
    if not os.path.exists(os.path.join(HERE, "policy_bench.c")):
        return None
    exe = None
    if os.path.isdir(BUILD):
        rc, out, err = run(["ninja", "-C", BUILD, "policy_bench"], timeout=300, check=False)
        if rc == 0:
            for cand in (os.path.join(BUILD, "bench", "policy_bench"),
                         os.path.join(BUILD, "policy_bench")):
                if os.path.exists(cand):
                    exe = cand
    if exe is None and os.path.exists(os.path.join(HERE, "CMakeLists.txt")):
        pb = os.path.join(BUILD, "policy-bench-standalone")
        rc, out, err = run(["cmake", "-S", HERE, "-B", pb, "-G", "Ninja",
                            "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DCERTGATE_ROOT=" + ROOT],
                           timeout=300, check=False)
        if rc == 0:
            rc, out, err = run(["ninja", "-C", pb], timeout=600, check=False)
        cand = os.path.join(pb, "policy_bench")
        if rc == 0 and os.path.exists(cand):
            exe = cand
        elif rc != 0:
            return "bench/policy_bench could not be built:\n" + (out + err)[-2000:]
    if exe is None:
        return "bench/policy_bench.c exists but no build target was found"
    rc, out, err = run(["taskset", "-c", PROXY_CORE, exe], timeout=300, check=False)
    return (out + err) if rc == 0 else "policy_bench exited %d:\n%s" % (rc, (out + err)[-3000:])
