#!/usr/bin/env python3
"""layout_check: the folder dependency rule of docs/architecture.md, checked on every
#include of the project's own headers.

A folder may include headers of the folders below it (ALLOWED) and its own. A header
named *_internal.h is private to its folder (and its sub-folders). Exit status 1 and
one line per violation when the rule is broken.
"""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Bottom up: each folder and the folders it may use (besides itself).
LAYERS = [
    ("common", []),
    ("policy", ["common"]),
    ("pki", ["common", "policy"]),
    ("config", ["common", "policy"]),
    ("proxy/net", ["common", "config"]),
    ("proxy/tls", ["common", "config", "policy", "pki", "proxy/net"]),
    ("proxy/upstream", ["common", "config", "proxy/net", "proxy/tls"]),
    ("proxy/core", ["common", "config", "policy", "pki", "proxy/net", "proxy/tls",
                    "proxy/upstream"]),
    ("proxy/http1", ["common", "config", "policy", "proxy/net", "proxy/tls",
                     "proxy/upstream", "proxy/core"]),
    ("proxy/http2", ["common", "config", "policy", "proxy/net", "proxy/tls",
                     "proxy/upstream", "proxy/core", "proxy/http1"]),
    ("proxy", ["common", "config", "policy", "proxy/net", "proxy/tls", "proxy/upstream",
               "proxy/core", "proxy/http1", "proxy/http2"]),
    ("control", ["common", "config", "policy", "pki", "proxy/net", "proxy/tls",
                 "proxy/upstream", "proxy/core", "proxy/http1", "proxy/http2", "proxy"]),
    ("app", ["common", "config", "policy", "pki", "control", "proxy/core"]),
]
FOLDERS = [name for name, _ in LAYERS]
# Headers the build generates (not in the source tree).
GENERATED = {"common/version_build.h"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def folder_of(path):
    """folder_of returns the most specific folder of LAYERS holding |path|."""
    best = None
    for name in FOLDERS:
        if path.startswith(name + "/") and (best is None or len(name) > len(best)):
            best = name
    return best


def main():
    allowed = {name: set(deps) | {name} for name, deps in LAYERS}
    problems = []
    for top in ("common", "policy", "pki", "config", "proxy", "control", "app"):
        for dirpath, _, names in os.walk(os.path.join(ROOT, top)):
            for n in sorted(names):
                if not n.endswith((".c", ".h")):
                    continue
                path = os.path.relpath(os.path.join(dirpath, n), ROOT)
                src = folder_of(path)
                text = open(os.path.join(ROOT, path), encoding="utf-8").read()
                for inc in INCLUDE.findall(text):
                    dst = folder_of(inc)
                    if dst is None:
                        continue  # a system or generated header
                    if inc not in GENERATED and not os.path.exists(os.path.join(ROOT, inc)):
                        problems.append(f"{path}: includes {inc}, which does not exist")
                    if dst not in allowed[src]:
                        problems.append(f"{path}: {src}/ may not include {inc} ({dst}/ is "
                                        f"not below it)")
                    if inc.endswith("_internal.h"):
                        private_to = os.path.dirname(inc)
                        if not (os.path.dirname(path) + "/").startswith(private_to + "/"):
                            problems.append(f"{path}: includes {inc}, private to {private_to}/")
    for p in problems:
        print(p)
    print(f"layout_check: {len(problems)} violation(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
