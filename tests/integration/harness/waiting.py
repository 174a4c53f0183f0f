"""Bounded polling on what certgate exposes: a metric reaching a value, the policy
generation moving, readiness. Every wait raises AssertionError after its timeout."""

from certgate_testkit.net import wait_until

RELOAD_TIMEOUT = 5.0  # a reload is debounced 150 ms: generous for a loaded 2-core machine


def wait_metric(cg, pred, metric, /, timeout=RELOAD_TIMEOUT, what=None, **labels):
    """wait_metric polls cg's /metrics until pred(total) is true, where total is the sum
    of the samples of metric whose labels include these; returns that total."""
    last = [None]

    def check():
        last[0] = cg.metrics().total(metric, **labels)
        return pred(last[0])
    try:
        wait_until(check, timeout, 0.02, what or "%s%r" % (metric, labels))
    except AssertionError as e:
        raise AssertionError("%s (last value %r)\n%s" % (e, last[0], cg.logs()))
    return last[0]


def wait_metric_above(cg, metric, floor, /, timeout=RELOAD_TIMEOUT, what=None, **labels):
    """wait_metric_above waits until the metric (as wait_metric) is above floor; returns
    it."""
    return wait_metric(cg, lambda v: v > floor, metric, timeout=timeout,
                       what=what or "%s%r above %s" % (metric, labels, floor), **labels)


def policy_generation(cg, listener="db", **labels):
    """policy_generation returns the generation of the policy in force on listener (a
    host entry's own with host="NAME"), from the metrics."""
    return int(cg.metrics().value("certgate_policy_generation", listener=listener, **labels))


def wait_generation_above(cg, g, listener="db", timeout=RELOAD_TIMEOUT, **labels):
    """wait_generation_above waits until the policy generation of listener (host="NAME":
    of that host entry) is above g; returns it."""
    return wait_until(lambda: (lambda n: n > g and n)(policy_generation(cg, listener, **labels)),
                      timeout, 0.02, "a policy generation above %d" % g)


def wait_ready(cg, status, timeout=5.0):
    """wait_ready polls the status port's /readyz until it answers status (200: ready,
    503: not ready); returns the JSON body."""
    return wait_until(lambda: (lambda r: r[0] == status and r[1])(cg.readyz()), timeout,
                      0.05, "/readyz to answer %d" % status)
