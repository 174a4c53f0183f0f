"""What /proc says about a process: its descendants, memory and CPU time."""

import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_tree(pid):
    """process_tree returns pid and all its descendants (nghttpx runs a master and a
    worker); processes that vanish meanwhile are skipped."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def rss_kb(pid):
    """rss_kb returns VmRSS of one process in KiB; raises RuntimeError when /proc has
    none (a zombie) and OSError when the process is gone."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def tree_rss_kb(pid):
    """tree_rss_kb returns the summed VmRSS (KiB) of pid's process tree."""
    total = 0
    for p in process_tree(pid):
        try:
            total += rss_kb(p)
        except (OSError, RuntimeError):
            pass
    return total


def cpu_ticks(pid):
    """cpu_ticks returns (utime, stime) in clock ticks (CLK_TCK per second) of pid's
    process tree."""
    user = sys_ = 0
    for p in process_tree(pid):
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            user += int(fields[11])  # utime (field 14)
            sys_ += int(fields[12])  # stime (field 15)
        except OSError:
            pass
    return user, sys_
