"""What certgate exposes for machines, parsed: the Prometheus text of /metrics (status
port or admin API) and the JSON lines of the access log. Tests read events here, not in
the wording of certgate's diagnostics on stderr."""

import json
import re

from .http1 import http_plain

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.eE+]+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Metrics:
    """One scrape: samples {(name, frozenset(labels.items())): value} and the TYPE of
    every family {name: "counter" | "gauge" | "histogram"}."""

    def __init__(self, samples, types):
        self.samples = samples
        self.types = types

    # The metric's name is positional-only: "name" is a label too.

    def value(self, metric, /, **labels):
        """value returns the sample of metric with exactly these labels (0 when absent)."""
        return self.samples.get((metric, frozenset(labels.items())), 0)

    def total(self, metric, /, **labels):
        """total returns the sum of the samples of metric whose labels include these."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == metric and want <= ls)

    def family(self, metric):
        """family returns {frozenset(labels.items()): value} of every sample of metric."""
        return {ls: v for (n, ls), v in self.samples.items() if n == metric}


def parse_metrics(text):
    """parse_metrics parses Prometheus text (version 0.0.4); raises AssertionError on a
    line that is not. Returns a Metrics."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, "not Prometheus text: %r" % line
        samples[(m.group(1), frozenset(_LABEL.findall(m.group(2) or "")))] = float(m.group(3))
    return Metrics(samples, types)


def scrape_metrics(port, host="127.0.0.1"):
    """scrape_metrics GETs /metrics from a status port (plain HTTP); returns a Metrics."""
    status, _, body = http_plain(host, port, "GET", "/metrics")
    assert status == 200, (status, body)
    return parse_metrics(body.decode())


def parse_access_log(path):
    """parse_access_log returns the lines of a JSON-lines log file as dicts (a line that
    does not parse is returned as {"_unparsed": line}; no file: [])."""
    out = []
    if not path:
        return out
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"_unparsed": line})
    except FileNotFoundError:
        pass
    return out
