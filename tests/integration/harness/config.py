"""certgate.json and policy.json for the tests, and files replaced the ways operators
replace them (an editor's rename, a Kubernetes volume's `..data` swap)."""

import copy
import json
import os
import shutil
import uuid

# Short names the tests use for limits and timeouts, mapped to certgate's keys
# (config/config_keys.c, docs/configuration.md). Timeouts are numbers in milliseconds.
TIMEOUT_KEYS = {
    "tls_handshake": "tls_handshake",
    "request_header": "request_header",      # whole request head must arrive (slowloris)
    "keepalive_idle": "keepalive_idle",      # idle keep-alive connection
    "body_idle": "client_body_idle",         # no request body byte for this long
    "upstream_connect": "upstream_connect",
    "upstream_response": "upstream_response",
    "upstream_down": "upstream_down",        # passive health: how long a server stays down
    "drain": "drain",                        # graceful shutdown on SIGTERM
}
LIMIT_KEYS = {
    "max_connections": "max_connections",
    "max_header_bytes": "max_header_bytes",
    "max_headers": "max_headers",
    "max_request_line": "max_request_line",
}


DELETE = object()  # in overrides: remove this key


def deep_merge(base, over):
    """deep_merge returns base updated by over (dicts merged recursively; DELETE removes)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v is DELETE:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def default_policy(pki):
    """default_policy registers admin, reader, writer, expired and notyet ("unknown" is
    left out on purpose) and lets any registered certificate reach any path."""
    c = pki.clients
    return {
        "allow_ips": ["127.0.0.1", "::1"],
        "routes": [
            {"path": "/healthz", "require": "Public"},
            {"path": "/*", "require": "Authenticated"},
        ],
        "certificates": [
            {"name": "admin", "thumbprints": [c["admin"].sha1], "clearance": "ClusterAdmin"},
            {"name": "reader", "thumbprints": [c["reader"].sha1], "clearance": "ValidUser",
             "databases": {"db1": "ReadOnly"}},
            {"name": "writer", "thumbprints": [c["writer"].sha1], "clearance": "ValidUser",
             "databases": {"db1": "ReadWrite"}},
            {"name": "expired", "thumbprints": [c["expired"].sha1],
             "clearance": "ClusterAdmin"},
            {"name": "notyet", "thumbprints": [c["notyet"].sha1],
             "clearance": "ClusterAdmin"},
        ],
    }


def build_config(workdir, pki, port, upstream_ports, *, listener=None, tls=None,
                 upstream=None, limits=None, timeouts=None, overrides=None,
                 policy_path=None, listen=None):
    """build_config returns the certgate.json dict (docs/configuration.md) for one listener on
    127.0.0.1:port and [::1]:port forwarding to 127.0.0.1:upstream_ports.

    listener / tls / upstream are merged into listeners[0], listeners[0].tls and
    upstreams.db; limits / timeouts take the logical names of LIMIT_KEYS / TIMEOUT_KEYS
    (or raw keys); overrides is deep-merged last into the whole document.
    """
    cfg = {
        "workers": 2,
        "state_dir": os.path.join(workdir, "state"),
        "log": {"level": "info", "access_log": os.path.join(workdir, "access.log")},
        "listeners": [{
            "name": "db",
            "listen": listen or ["127.0.0.1:%d" % port, "[::1]:%d" % port],
            "tls": {
                "certificates": [
                    {"cert": pki.server.cert, "key": pki.server.key},
                    {"cert": pki.server_rsa.cert, "key": pki.server_rsa.key},
                ],
                "min_version": "1.2",
                "client_ca": None,
                "crl": None,
            },
            "alpn": ["http/1.1"],
            "policy": policy_path or os.path.join(workdir, "policy.json"),
            "upstream": "db",
        }],
        "upstreams": {
            "db": {
                "servers": ["127.0.0.1:%d" % p for p in upstream_ports],
                "protocol": "http/1.1",
                "tls": None,
            },
        },
        "limits": {LIMIT_KEYS.get(k, k): v for k, v in (limits or {}).items()},
        "timeouts": {TIMEOUT_KEYS.get(k, k): v for k, v in (timeouts or {}).items()},
    }
    if tls:
        cfg["listeners"][0]["tls"] = deep_merge(cfg["listeners"][0]["tls"], tls)
    if listener:
        cfg["listeners"][0] = deep_merge(cfg["listeners"][0], listener)
    if upstream:
        cfg["upstreams"]["db"] = deep_merge(cfg["upstreams"]["db"], upstream)
    if overrides:
        cfg = deep_merge(cfg, overrides)
    return cfg


def write_json(path, obj):
    """write_json writes obj as indented JSON to path (a temporary file renamed over it)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.rename(tmp, path)


def write_atomic(path, content):
    """write_atomic saves content (bytes, text, or an object written as JSON) the way an
    editor or cert-manager does: a temporary file in the same directory, fsync, rename
    over path. A reader never sees a half-written file."""
    tmp = os.path.join(os.path.dirname(path), ".%s.%s.tmp" % (
        os.path.basename(path), uuid.uuid4().hex[:6]))
    with open(tmp, "wb" if isinstance(content, bytes) else "w") as f:
        if isinstance(content, (bytes, str)):
            f.write(content)
        else:
            json.dump(content, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


class KubernetesVolume:
    """A directory updated the way the kubelet updates a ConfigMap or Secret volume:
    each version of the files is a directory `..<timestamp>`, `..data` points at the
    current one, and each file is a symlink `NAME -> ..data/NAME`. publish() writes a
    new version directory, points a `..data_tmp` link at it, renames that over `..data`
    (the one atomic step) and removes the old version."""

    def __init__(self, dir):
        self.dir = dir
        os.makedirs(dir, exist_ok=True)
        self.version = 0

    def path(self, name):
        """path returns the path of file name as a reader opens it (the symlink)."""
        return os.path.join(self.dir, name)

    def publish(self, files):
        """publish makes files ({name: bytes or text}) the current version; returns the
        name of its version directory."""
        self.version += 1
        vname = "..2026_11_24_00_00_%02d.%d" % (self.version % 60, self.version)
        vdir = os.path.join(self.dir, vname)
        os.makedirs(vdir)
        for name, data in files.items():
            with open(os.path.join(vdir, name), "wb" if isinstance(data, bytes) else "w") as f:
                f.write(data)
        data_link = os.path.join(self.dir, "..data")
        old = os.readlink(data_link) if os.path.islink(data_link) else None
        tmp = os.path.join(self.dir, "..data_tmp")
        os.symlink(vname, tmp)
        os.rename(tmp, data_link)
        for name in files:
            if not os.path.islink(self.path(name)):
                os.symlink(os.path.join("..data", name), self.path(name))
        if old:
            shutil.rmtree(os.path.join(self.dir, old), ignore_errors=True)
        return vname


def write_config(workdir, pki, port, upstream_ports, policy=None, name="certgate.json",
                 **kw):
    """write_config writes policy.json (default_policy unless given; pass policy=False to
    write none) and certgate.json into workdir; returns the config path."""
    os.makedirs(os.path.join(workdir, "state"), exist_ok=True)
    if policy is not False:
        write_json(os.path.join(workdir, "policy.json"),
                   policy if policy is not None else default_policy(pki))
    cfg = build_config(workdir, pki, port, upstream_ports, **kw)
    path = os.path.join(workdir, name)
    write_json(path, cfg)
    return path
