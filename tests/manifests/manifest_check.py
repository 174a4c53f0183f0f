#!/usr/bin/python3
"""manifest_check: render a deploy/kubernetes base and check it against its certgate.json.

    manifest_check.py [--certgate BIN] BASE_DIR...

For each base: `kubectl kustomize BASE_DIR`, the rules of manifest_rules.py, then
`certgate check` on the certgate.json of every workload, read from its ConfigMap, with
every file it names materialized in a temporary directory at the path the pod mounts it
(ConfigMap files as rendered, certificates, keys and CAs made with openssl), so that the
configuration the pods would run is the one that is checked. Prints every problem and
exits 1 when there is one. BIN defaults to $CERTGATE_BIN, then build/certgate.
"""

import argparse
import json
import os
import posixpath
import re
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "pylib"))

import manifest_rules  # noqa: E402
from certgate_testkit.pki import genkey, make_ca, openssl  # noqa: E402

def image_user():
    """image_user returns (uid, gid) of the Dockerfile's USER line."""
    with open(os.path.join(SOURCE_DIR, "Dockerfile")) as f:
        users = re.findall(r"^USER\s+(\d+):(\d+)\s*$", f.read(), re.M)
    if len(users) != 1:
        raise SystemExit("Dockerfile: expected one numeric USER uid:gid line")
    return int(users[0][0]), int(users[0][1])


def render(base_dir):
    """render returns the documents `kubectl kustomize base_dir` prints."""
    r = subprocess.run(["kubectl", "kustomize", base_dir], capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        raise SystemExit("kubectl kustomize %s failed:\n%s" % (base_dir, r.stderr))
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def load_config(configmap, key):
    """load_config parses certgate.json out of a rendered ConfigMap (ValueError when
    the key is missing or not JSON)."""
    text = (configmap.get("data") or {}).get(key)
    if text is None:
        raise ValueError("ConfigMap %s has no key %s" % (
            configmap["metadata"]["name"], key))
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError("ConfigMap %s key %s: %s" % (configmap["metadata"]["name"], key, e))


class Pki:
    """A throw-away CA and a server certificate it signed, for materialized Secrets."""

    def __init__(self, d):
        self.ca = make_ca(d, "/CN=manifest check CA", 30).cert
        self.key = genkey(os.path.join(d, "tls.key"))
        self.cert = os.path.join(d, "tls.crt")
        openssl("req", "-new", "-x509", "-key", self.key, "-subj", "/CN=manifest check",
                "-CA", self.ca, "-CAkey", os.path.join(d, "ca.key"), "-days", "30",
                "-addext", "subjectAltName=DNS:localhost", "-out", self.cert)

    def file_for(self, role):
        return {"cert": self.cert, "key": self.key, "ca": self.ca}.get(role)


def materialize(base, workload, root, pki):
    """materialize writes, under root, every file the workload's certgate container
    reads, at the path the pod would have it, and returns the path of the rewritten
    certgate.json (its absolute paths moved under root)."""
    pod = manifest_rules.pod_spec(workload)
    gate = [c for c in pod["containers"] if manifest_rules.is_certgate(c)][0]
    mounts = manifest_rules.Mounts(gate, {v["name"]: v for v in pod.get("volumes") or []})
    config_path = manifest_rules.config_arg(gate)
    _, vol, key = mounts.find(config_path)
    config = load_config(base.get("ConfigMap", vol["configMap"]["name"]), key)
    for m, v in mounts.list:
        os.makedirs(root + posixpath.normpath(m["mountPath"]), exist_ok=True)
        if v.get("configMap"):
            cm = base.get("ConfigMap", v["configMap"]["name"])
            for k, text in (cm.get("data") or {}).items():
                with open(root + posixpath.join(m["mountPath"], k), "w") as f:
                    f.write(text)
    for _, path, role in manifest_rules.config_files(config, config_path):
        _, v, _ = mounts.find(path)
        if v.get("secret"):
            src = pki.file_for(role)
            if src is None:
                raise SystemExit("manifest_check: cannot make a %s file (%s)" % (role, path))
            with open(src) as f, open(root + path, "w") as out:
                out.write(f.read())
    rewrite_paths(config, root, config_path)
    out = root + config_path
    with open(out, "w") as f:
        json.dump(config, f, indent=2)
    return out


def rewrite_paths(config, root, config_path):
    """rewrite_paths moves every absolute path of config under root (relative paths
    stay relative to the configuration, which moves too)."""
    def move(obj, key):
        if isinstance(obj.get(key), str) and obj[key].startswith("/"):
            obj[key] = root + obj[key]

    move(config, "state_dir")
    move(config.get("log") or {}, "access_log")
    for lis in config.get("listeners") or []:
        tls = lis.get("tls") or {}
        for c in (tls.get("certificates") or []):
            for k in ("cert", "key", "ocsp"):
                move(c, k)
        for k in ("client_ca", "crl"):
            move(tls, k)
        move(lis, "policy")
        for host in lis.get("hosts") or []:
            move(host, "policy")
            for c in host.get("certificates") or []:
                for k in ("cert", "key", "ocsp"):
                    move(c, k)
    for up in (config.get("upstreams") or {}).values():
        for k in ("ca", "cert", "key"):
            move(up.get("tls") or {}, k)


def certgate_check(certgate, config_file):
    """certgate_check runs `certgate check` (which validates upstream names without
    resolving them); returns the problem or None."""
    r = subprocess.run([certgate, "check", "-c", config_file], capture_output=True,
                       text=True, timeout=60)
    if r.returncode == 0:
        return None
    return "certgate check failed:\n%s%s" % (r.stdout[-2000:], r.stderr)


def check_base(base_dir, certgate, docs=None):
    """check_base returns the problems of one base; docs replaces the rendering (the
    self-test passes broken copies)."""
    docs = render(base_dir) if docs is None else docs
    problems = manifest_rules.check(docs, load_config, image_user())
    if problems:
        return problems
    base = manifest_rules.Base(docs)
    with tempfile.TemporaryDirectory(prefix="certgate-manifests-") as tmp:
        pki = Pki(tmp)
        for w in base.workloads():
            root = os.path.join(tmp, w["metadata"]["name"])
            problem = certgate_check(certgate, materialize(base, w, root, pki))
            if problem:
                problems.append("%s: %s" % (manifest_rules.doc_id(w), problem))
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--certgate", default=os.environ.get("CERTGATE_BIN") or
                    os.path.join(SOURCE_DIR, "build", "certgate"))
    ap.add_argument("bases", nargs="+")
    args = ap.parse_args()
    failed = False
    for b in args.bases:
        problems = check_base(b, args.certgate)
        for p in problems:
            print("%s: %s" % (b, p))
        print("%s: %s" % (b, "FAILED" if problems else "ok"))
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
