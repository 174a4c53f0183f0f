"""A real etcd behind certgate (upstream h2c), driven by etcdctl over gRPC + mTLS.

etcd-server is started by the test on loopback; the policy is the conf/policies/etcd.json
preset with two certificates registered: writer (etcd: ReadWrite) and reader (etcd:
ReadOnly). put/get/del work with the ReadWrite certificate; a put with the ReadOnly one
fails with PermissionDenied while its get works; an unknown certificate gets
Unauthenticated; a watch opened before a policy reload (SIGHUP) keeps delivering events;
deleting a certificate's entry denies its next call.
Skipped when etcd or etcdctl is not installed.
"""

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import certgate_harness as H  # noqa: E402

ROOT = os.path.normpath(os.path.join(H.HERE, "..", ".."))
PRESET = os.path.join(ROOT, "conf", "policies", "etcd.json")


@unittest.skipUnless(shutil.which("etcd") and shutil.which("etcdctl") and os.path.exists(PRESET),
                     "etcd, etcdctl or conf/policies/etcd.json missing")
class EtcdThroughCertgate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        H.set_up_testbed(cls, backend=False)
        cport, pport = H.free_port(), H.free_port()
        cls.etcd = H.Process([
            "etcd", "--name", "t", "--data-dir", os.path.join(cls.tmp, "etcd-data"),
            "--listen-client-urls", "http://127.0.0.1:%d" % cport,
            "--advertise-client-urls", "http://127.0.0.1:%d" % cport,
            "--listen-peer-urls", "http://127.0.0.1:%d" % pport,
            "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % pport,
            "--initial-cluster", "t=http://127.0.0.1:%d" % pport,
        ], os.path.join(cls.tmp, "etcd"), cwd=cls.tmp)
        cls.addClassCleanup(cls.etcd.kill)
        cls.etcd.start()
        cls.etcd.wait_listening(cport, timeout=20)
        with open(PRESET) as f:
            cls.policy = json.load(f)
        c = cls.pki.clients
        cls.policy["certificates"] = [
            {"name": "writer", "thumbprints": [c["writer"].sha1], "clearance": "ValidUser",
             "databases": {"etcd": "ReadWrite"}},
            {"name": "reader", "thumbprints": [c["reader"].sha1], "clearance": "ValidUser",
             "databases": {"etcd": "ReadOnly"}},
        ]
        cls.cg = H.start_certgate(cls.tmp, cls.pki, [cport], policy=cls.policy,
                                  listener={"alpn": ["h2", "http/1.1"]},
                                  upstream={"protocol": "h2c"}, status=True)
        cls.addClassCleanup(cls.cg.kill)
        cls.endpoint = "https://127.0.0.1:%d" % cls.cg.port

    def ctl(self, client, *args, timeout=20):
        c = self.pki.clients[client]
        env = dict(os.environ, ETCDCTL_API="3")
        argv = ["etcdctl", "--endpoints", self.endpoint, "--cacert", self.pki.ca.cert,
                "--cert", c.cert, "--key", c.key, "--dial-timeout", "5s",
                "--command-timeout", "10s"] + list(args)
        r = subprocess.run(argv, capture_output=True, timeout=timeout, env=env)
        return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

    def test_put_get_del_readwrite(self):
        rc, out, err = self.ctl("writer", "put", "k1", "v1")
        self.assertEqual(rc, 0, err)
        self.assertIn("OK", out)
        rc, out, err = self.ctl("writer", "get", "k1")
        self.assertEqual((rc, out.split()), (0, ["k1", "v1"]), err)
        rc, out, err = self.ctl("writer", "del", "k1")
        self.assertEqual((rc, out.strip()), (0, "1"), err)

    def test_readonly_cannot_put_but_can_get(self):
        self.assertEqual(self.ctl("writer", "put", "ro", "x")[0], 0)
        rc, out, err = self.ctl("reader", "put", "ro", "y")
        self.assertNotEqual(rc, 0)
        self.assertIn("PermissionDenied", err)
        rc, out, err = self.ctl("reader", "get", "ro")
        self.assertEqual((rc, out.split()), (0, ["ro", "x"]), err)

    def test_unknown_certificate_unauthenticated(self):
        rc, out, err = self.ctl("unknown", "get", "anything")
        self.assertNotEqual(rc, 0)
        self.assertIn("Unauthenticated", err)

    def test_watch_survives_reload(self):
        c = self.pki.clients["reader"]
        env = dict(os.environ, ETCDCTL_API="3")
        w = subprocess.Popen(["etcdctl", "--endpoints", self.endpoint, "--cacert",
                              self.pki.ca.cert, "--cert", c.cert, "--key", c.key,
                              "watch", "wkey"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
        def stop_watch():
            w.kill()
            w.wait(10)
            w.stdout.close()
            w.stderr.close()
        self.addCleanup(stop_watch)
        lines = queue.Queue()

        def reader():
            for line in w.stdout:
                lines.put(line.decode(errors="replace").strip())
        threading.Thread(target=reader, daemon=True).start()

        def wait_for(value, timeout=10):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    if lines.get(timeout=0.2) == value:
                        return True
                except queue.Empty:
                    pass
            return False

        time.sleep(1.0)  # let the watch be established
        self.assertEqual(self.ctl("writer", "put", "wkey", "before")[0], 0)
        self.assertTrue(wait_for("before"), "watch did not deliver the first event")
        # Reload: a changed policy file (one more route) and SIGHUP.
        self.policy["routes"].insert(0, {"path": "/reload-marker", "require": "Deny"})
        H.write_json(os.path.join(self.tmp, "policy.json"), self.policy)
        g = H.policy_generation(self.cg)
        self.cg.hup()
        H.wait_generation_above(self.cg, g, timeout=10)
        self.assertEqual(self.ctl("writer", "put", "wkey", "after")[0], 0)
        self.assertTrue(wait_for("after"), "watch stopped delivering after the reload")
        self.assertIsNone(w.poll(), "etcdctl watch exited")

    def test_zz_revoked_certificate_denied_on_next_call(self):
        # Runs last (it changes the class's policy): deleting the reader's entry denies
        # its next call without a restart, the writer is unaffected.
        self.assertEqual(self.ctl("reader", "get", "rkey")[0], 0)
        gen_before = H.policy_generation(self.cg)
        self.policy["certificates"] = [e for e in self.policy["certificates"]
                                       if e["name"] != "reader"]
        H.write_json(os.path.join(self.tmp, "policy.json"), self.policy)
        self.cg.hup()
        H.wait_generation_above(self.cg, gen_before, timeout=10)
        rc, out, err = self.ctl("reader", "get", "rkey")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("Unauthenticated", err)
        self.assertEqual(self.ctl("writer", "put", "rkey", "v")[0], 0)


if __name__ == "__main__":
    unittest.main()
