"""packaging_env: what the package and container tests share.

They test artifacts made from a finished build (its binary, `cpack -G DEB`, the
Dockerfile), need tools beyond the normal test set (scripts/deps installs them) and
Debian's archive, and cache what takes long to make (a minimal Debian root) under the
build directory, so that it is made once per build directory.
"""

import hashlib
import os
import shutil
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD_DIR = os.environ.get("CERTGATE_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
CACHE_DIR = os.path.join(BUILD_DIR, "packaging-cache")

SUITE = "bookworm"
MIRRORS = [
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
]


def need_tools(*tools):
    """need_tools fails (never skips) with one message naming every missing tool."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise AssertionError("missing tools: %s (scripts/deps installs them)"
                             % ", ".join(missing))


def run(argv, timeout, **kw):
    """run runs argv (bounded by timeout s) and returns its CompletedProcess (text);
    raises AssertionError with the output when it fails."""
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if p.returncode != 0:
        raise AssertionError("%s failed (%d) after %.1f s:\n%s\n%s" % (
            " ".join(argv), p.returncode, time.monotonic() - t0, p.stdout[-4000:],
            p.stderr[-4000:]))
    return p


# What Debian's -slim images leave out (documentation, manuals, translations); the
# settings stay in the root, so packages installed later leave them out too.
SLIM_DPKG_OPTIONS = [
    "path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*", "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/groff/*", "path-exclude=/usr/share/lintian/*",
    "path-exclude=/usr/share/locale/*", "path-include=/usr/share/locale/locale.alias",
]


def minbase_tar(include=(), slim=False):
    """minbase_tar returns the path of a `mmdebstrap --variant=minbase` root of SUITE
    with the packages of include (slim: without documentation, as debian:*-slim), as a
    tarball cached under the build directory (made on first use, about 20 s; its name
    carries the options, so other options make another one)."""
    os.makedirs(CACHE_DIR, exist_ok=True)
    dpkgopts = SLIM_DPKG_OPTIONS if slim else []
    key = hashlib.sha256(repr((SUITE, MIRRORS, sorted(include), dpkgopts)).encode()
                         ).hexdigest()[:12]
    path = os.path.join(CACHE_DIR, "%s-minbase-%s.tar" % (SUITE, key))
    if os.path.exists(path):
        return path
    need_tools("mmdebstrap")
    tmp = path[:-len(".tar")] + ".partial.tar"
    argv = ["mmdebstrap", "--quiet", "--variant=minbase", "--mode=root", "--format=tar"]
    if include:
        argv.append("--include=" + ",".join(include))
    argv += ["--dpkgopt=" + o for o in dpkgopts]
    run(argv + [SUITE, tmp] + MIRRORS, timeout=600)
    os.rename(tmp, path)
    return path
