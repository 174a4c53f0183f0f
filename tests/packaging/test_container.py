"""The container image (Dockerfile), built and run with podman as an operator would.

No registry is reachable here, so the base is a Debian 12 root made by mmdebstrap with
what debian:bookworm-slim leaves out left out (cached under the build directory) and
imported into a podman store of our own under the build directory; the image is built
from the source tree with BASE pointing at it.

- Kubernetes-style: the configuration and the policy come from a ConfigMap-like volume
  and the server certificate from a Secret-like volume (files are symlinks into
  `..data`, updated by swapping `..data`), both read-only, the root file system
  read-only, state in a volume. curl gets through with the registered certificate; a
  new policy published by a `..data` swap lets a second client in, and a new Secret
  changes the certificate served, with no restart; SIGTERM (podman kill) drains: a
  request in flight completes, the container exits 0.
- No configuration at all, as the README says: `podman run -p PORT:8443 IMAGE` starts
  the built-in default in the image's (anonymous) state volume; its admin bundle,
  copied out with `podman cp`, gets through the port mapping (the client is not
  loopback there) to certgate, which answers for the database it fronts.
- The image runs as uid 65532, names the commit it was built from, carries the OCI
  labels, and its size is printed.

Podman in this sandbox needs runc, cgroupfs and explicit ulimits (see PODMAN). Nothing
is skipped: a missing tool fails the test (scripts/deps installs them).

Run: CERTGATE_BUILD_DIR=build /usr/bin/python3 -m unittest -v test_container
(ctest -L container)
"""

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import packaging_env as env

sys.path.insert(0, os.path.join(env.SOURCE_DIR, "tests", "integration"))
import certgate_harness as h  # noqa: E402

STORE = os.path.join(env.CACHE_DIR, "podman")
PODMAN = ["podman", "--root", os.path.join(STORE, "storage"),
          "--runroot", os.path.join(STORE, "run"), "--storage-driver", "overlay",
          "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
LIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=1000:1000"]
UID = 65532


def podman(*args, timeout=120, check=True):
    argv = PODMAN + list(args)
    if check:
        return env.run(argv, timeout=timeout)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def curl(ca, cert, key, url, *extra):
    """curl returns (exit code, HTTP status, body) of one request."""
    argv = ["curl", "-sS", "--max-time", "20", "--cacert", ca, "-w", "\n%{http_code}"]
    if cert:
        argv += ["--cert", cert, "--key", key]
    r = subprocess.run(argv + list(extra) + [url], capture_output=True, text=True, timeout=30)
    body, _, code = r.stdout.rpartition("\n")
    return r.returncode, int(code or 0), body or r.stderr


def readable_by_container(path):
    """The container runs as uid 65532: give it read access to a test directory."""
    for dirpath, dirnames, filenames in os.walk(path):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                os.chmod(p, 0o644)


class ContainerTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        env.need_tools("podman", "runc", "mmdebstrap", "curl", "git")
        cls.times = {}
        cls.tmp = tempfile.mkdtemp(prefix="certgate-ctr-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)

        t0 = time.monotonic()
        tar = env.minbase_tar(slim=True)
        base = "localhost/certgate-test-base:" + os.path.basename(tar)[:-len(".tar")]
        if podman("image", "exists", base, check=False).returncode != 0:
            podman("import", "--quiet", tar, base, timeout=300)
        cls.times["base image"] = time.monotonic() - t0

        commit = subprocess.run(["git", "-C", env.SOURCE_DIR, "rev-parse", "HEAD"],
                                capture_output=True, text=True).stdout.strip() or "unknown"
        cls.commit = commit
        cls.image = "localhost/certgate-test:%d" % os.getpid()
        build = ["build", "--network", "host", *LIMITS, "--build-arg", "BASE=" + base,
                 "--build-arg", "GIT_COMMIT=" + commit]
        t0 = time.monotonic()
        # The deps stage is tagged so that pruning keeps it: the next build reuses it.
        podman(*build, "--target", "deps", "-t", "localhost/certgate-test-deps:latest",
               env.SOURCE_DIR, timeout=900)
        podman(*build, "-t", cls.image, env.SOURCE_DIR, timeout=900)
        cls.times["image build"] = time.monotonic() - t0
        cls.addClassCleanup(cls.remove_image)

        info = json.loads(podman("image", "inspect", cls.image).stdout)[0]
        cls.config = info["Config"]
        cls.size_mb = info["Size"] / 1e6

    @classmethod
    def remove_image(cls):
        podman("rmi", "--force", cls.image, check=False)
        # Intermediate images of this build (the compile stage); base and deps stay.
        podman("image", "prune", "--force", check=False)

    @classmethod
    def tearDownClass(cls):
        print("\ncontainer test: image %.1f MB, user %s; times: %s" % (
            cls.size_mb, cls.config.get("User"),
            ", ".join("%s %.1f s" % kv for kv in cls.times.items())))

    def start(self, name, *args):
        """start runs the image detached (removed at cleanup) and returns its name."""
        name = "certgate-test-%s-%d" % (name, os.getpid())
        podman("rm", "--force", name, check=False)
        t0 = time.monotonic()
        podman("run", "--detach", "--name", name, *LIMITS, "--read-only", *args, self.image)
        self.addCleanup(podman, "rm", "--force", "--volumes", "--time", "0", name,
                        check=False)
        self.started = t0
        return name

    def logs(self, name):
        r = podman("logs", name, check=False)
        return r.stdout + r.stderr

    def wait_port(self, name, port):
        def up():
            state = podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
            if state != "running":
                raise AssertionError("container %s: %s\n%s" % (name, state, self.logs(name)))
            return h.port_accepts(port)
        h.wait_until(up, 30, what="container listening on %d" % port)

    def test_image_metadata(self):
        self.assertEqual(self.config.get("User"), "%d:%d" % (UID, UID))
        self.assertEqual(self.config.get("Entrypoint"), ["certgate"])
        self.assertEqual(self.config.get("Cmd")[:3], ["run", "-c", "/etc/certgate/certgate.json"])
        self.assertIn("/var/lib/certgate", self.config.get("Volumes", {}))
        self.assertIn("8443/tcp", self.config.get("ExposedPorts", {}))
        labels = self.config.get("Labels", {})
        out = podman("run", "--rm", "--network", "host", *LIMITS, self.image, "version").stdout
        lines = out.splitlines()
        self.assertEqual(lines[0], "certgate " + labels["org.opencontainers.image.version"])
        self.assertEqual(lines[1], "commit: " + self.commit)
        self.assertEqual(labels["org.opencontainers.image.revision"], self.commit)
        self.assertEqual(labels["org.opencontainers.image.licenses"], "Apache-2.0")
        self.assertTrue(lines[2].startswith("tls: BoringSSL"), out)

    def test_kubernetes_volumes_reload_and_drain(self):
        t_test = time.monotonic()
        d = os.path.join(self.tmp, "k8s")
        os.makedirs(d)
        ca = os.path.join(d, "ca")
        h.run_certgate("ca", "init", "--dir", ca)
        for name in ("admin", "reader"):
            h.run_certgate("cert", "client", "--ca", ca, "--name", name, "--clearance",
                           "ClusterAdmin", "--password", "pw-123456",
                           "--out", os.path.join(d, name),
                           "--policy", os.path.join(d, "policy-%s.json" % name))
        with open(os.path.join(d, "policy-admin.json")) as f:
            policy1 = json.load(f)
        with open(os.path.join(d, "policy-reader.json")) as f:
            reader_entry = json.load(f)["certificates"][0]
        policy1["allow_ips"] = ["127.0.0.1", "::1"]
        policy2 = json.loads(json.dumps(policy1))
        policy2["certificates"].append(reader_entry)
        for i in (1, 2):
            h.run_certgate("cert", "server", "--ca", ca, "--san", "localhost,127.0.0.1",
                           "--out", os.path.join(d, "server%d" % i))

        backend = h.Backend(d)
        self.addCleanup(backend.kill)
        backend.start()
        port = h.free_port()
        config = {
            "workers": 2,
            "state_dir": "/var/lib/certgate",
            "log": {"level": "info", "access_log": "-"},
            "listeners": [{
                "name": "db", "listen": ["127.0.0.1:%d" % port],
                "tls": {"certificates": [{"cert": "/etc/certgate-tls/tls.crt",
                                          "key": "/etc/certgate-tls/tls.key"}]},
                "policy": "/etc/certgate/policy.json", "upstream": "db"}],
            "upstreams": {"db": {"servers": ["127.0.0.1:%d" % backend.port]}},
            "timeouts": {"drain": "20s"},
        }
        configmap = h.KubernetesVolume(os.path.join(d, "configmap"))
        configmap.publish({"certgate.json": json.dumps(config),
                           "policy.json": json.dumps(policy1)})
        secret = h.KubernetesVolume(os.path.join(d, "secret"))

        def server_files(i):
            out = {}
            for f in ("tls.crt", "tls.key"):
                with open(os.path.join(d, "server%d" % i, f), "rb") as fh:
                    out[f] = fh.read()
            return out
        secret.publish(server_files(1))
        state = os.path.join(d, "state")
        os.makedirs(state)
        os.chown(state, UID, UID)
        readable_by_container(os.path.join(d, "configmap"))
        readable_by_container(os.path.join(d, "secret"))

        name = self.start("k8s", "--network", "host",
                          "-v", "%s:/var/lib/certgate" % state,
                          "-v", "%s:/etc/certgate:ro" % configmap.dir,
                          "-v", "%s:/etc/certgate-tls:ro" % secret.dir)
        self.wait_port(name, port)
        self.times["k8s container up"] = time.monotonic() - self.started
        url = "https://localhost:%d/db/x" % port
        cacert = os.path.join(ca, "ca.crt")

        def as_client(who, path="/db/x"):
            c = os.path.join(d, who)
            return curl(cacert, os.path.join(c, "tls.crt"), os.path.join(c, "tls.key"),
                        "https://localhost:%d%s" % (port, path))
        rc, code, body = as_client("admin")
        self.assertEqual((rc, code), (0, 200), body + self.logs(name))
        self.assertEqual(as_client("reader")[1], 403)

        # The user certgate runs as, and a root file system it cannot write.
        self.assertEqual(podman("exec", name, "id", "-u").stdout.strip(), str(UID))
        r = podman("exec", name, "sh", "-c", "touch /etc/x", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Read-only file system", r.stderr)

        # The ConfigMap changes (a ..data swap): the reader is let in, no restart.
        configmap.publish({"certgate.json": json.dumps(config),
                           "policy.json": json.dumps(policy2)})
        readable_by_container(os.path.join(d, "configmap"))
        h.wait_until(lambda: as_client("reader")[1] == 200, 10, what="new policy in force")
        self.assertIn("generation 2", self.logs(name))

        # The Secret changes: new handshakes get the new certificate.
        def served_serial():
            ctx = ssl.create_default_context(cafile=cacert)
            with ctx.wrap_socket(socket.create_connection(
                    ("127.0.0.1", port), timeout=5), server_hostname="localhost") as s:
                return s.getpeercert()["serialNumber"]

        def file_serial(i):
            return ssl._ssl._test_decode_cert(
                os.path.join(d, "server%d" % i, "tls.crt"))["serialNumber"]
        self.assertEqual(served_serial(), file_serial(1))
        secret.publish(server_files(2))
        readable_by_container(os.path.join(d, "secret"))
        h.wait_until(lambda: served_serial() == file_serial(2), 10,
                     what="new certificate served")

        # SIGTERM with a request in flight: it completes, the container exits 0.
        result = {}

        def slow():
            result["r"] = as_client("admin", "/sleep?ms=2000")
        t = threading.Thread(target=slow)
        t.start()
        h.wait_until(lambda: "/sleep?ms=2000" in backend.requests(), 10,
                     what="request in flight at the backend")
        t0 = time.monotonic()
        podman("kill", "--signal", "TERM", name)
        code = podman("wait", name, timeout=60).stdout.strip()
        self.times["drain"] = time.monotonic() - t0
        t.join(30)
        self.assertEqual(code, "0", self.logs(name))
        self.assertEqual(result["r"][:2], (0, 200), result["r"])
        self.assertIn("SIGTERM: draining", self.logs(name))
        # access_log "-": the request lines are in the container's log.
        self.assertIn('"/sleep?ms=2000"', self.logs(name).replace("\\/", "/"))
        self.times["k8s test"] = time.monotonic() - t_test

    def test_default_without_config(self):
        # The README's `podman run -p 8443:8443 certgate`, on a free port: podman's own
        # network and a port mapping, the state in the image's anonymous volume.
        t_test = time.monotonic()
        port = h.free_port()
        name = self.start("default", "-p", "127.0.0.1:%d:8443" % port)
        self.wait_port(name, port)
        self.times["default container up"] = time.monotonic() - self.started
        logs = self.logs(name)
        self.assertIn("/etc/certgate/certgate.json does not exist: using the built-in "
                      "default in /var/lib/certgate/default", logs)
        self.assertIn("created state directory /var/lib/certgate/default", logs)
        st = podman("exec", name, "stat", "-c", "%u %a", "/var/lib/certgate/default").stdout
        self.assertEqual(st.split(), [str(UID), "700"])

        # The bundle, taken out as the README says.
        out = os.path.join(self.tmp, "default-bundle")
        podman("cp", name + ":/var/lib/certgate/default/clients/admin", out)
        podman("cp", name + ":/var/lib/certgate/default/ca/ca.crt", out + "-ca.crt")
        url = "https://localhost:%d/" % port
        # Through the mapping the client is not loopback; the image's default lets the
        # bundle in and certgate answers for the database it fronts (none here: 502).
        rc, code, body = curl(out + "-ca.crt", os.path.join(out, "tls.crt"),
                              os.path.join(out, "tls.key"), url)
        self.assertEqual((rc, code), (0, 502), body + logs)
        self.assertEqual(json.loads(body)["error"], "bad_gateway", body)
        rc, code, body = curl(out + "-ca.crt", None, None, url)
        self.assertEqual(code, 403, body)

        podman("stop", "--time", "30", name)
        self.assertEqual(podman("inspect", "--format", "{{.State.ExitCode}}", name
                                ).stdout.strip(), "0", self.logs(name))
        self.times["default test"] = time.monotonic() - t_test

if __name__ == "__main__":
    unittest.main()
