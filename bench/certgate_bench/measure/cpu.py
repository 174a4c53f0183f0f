"""CPU time of a proxy's process tree over one measurement."""

import time

from certgate_testkit.procfs import CLK_TCK, cpu_ticks


class CpuMeter:
    """CpuMeter starts counting the CPU time of pid's process tree when made."""

    def __init__(self, pid):
        self.pid = pid
        self.t0 = time.monotonic()
        self.c0 = cpu_ticks(pid)
        self.user = self.sys = 0.0

    def done(self):
        """done returns (cpu seconds used by the proxy, wall seconds); self.user and
        self.sys then hold the user-space and kernel parts."""
        u, k = cpu_ticks(self.pid)
        self.user = (u - self.c0[0]) / CLK_TCK
        self.sys = (k - self.c0[1]) / CLK_TCK
        return self.user + self.sys, time.monotonic() - self.t0
