"""Rotation of certgate's own serving certificates (docs/certificates.md,
docs/operations.md "Live reload").

One listener serves two certificates chosen by SNI, both from a CA made by
`certgate ca init`: "localhost" (files replaced by rename, like an editor or cert-manager
writing in place) and "k8s.test" (a Kubernetes Secret: `tls.crt -> ..data/tls.crt`,
`..data -> ..<version>`, rotated by renaming a `..data_tmp` symlink over `..data`).

- 20 rotations (10 each way) while keep-alive connections loop requests on both names and
  another thread keeps making new connections: zero failed requests, the keep-alive
  connections made before the first rotation are alive at the end (and still on the
  certificate they negotiated), and every rotation is seen by a new handshake (serial);
- sessions made before a rotation still resume after it (TLS 1.2 and 1.3), the resumed
  connection is authorized with the same identity, and a session never resumes under
  another SNI name;
- a broken certificate (garbage, or a key that does not match) is refused (counted in
  certgate_cert_reload_failures_total, `certgate check` names the file) and the previous
  certificate keeps serving;
- `certgate check` prints the days left and warns under 30;
- with the CA in state_dir, a 90-second certificate is renewed before it expires
  (certgate_cert_renewals_total counts it).

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_rotation
"""

import os
import re
import socket
import ssl
import threading
import unittest
from datetime import datetime, timezone

import certgate_harness as h
from certgate_harness import cert_serial, run_certgate

ROTATE_TIMEOUT = 5.0


def cert_refusals(cg):
    """cert_refusals returns how many certificate reloads certgate refused."""
    return cg.metrics().value("certgate_cert_reload_failures_total")


class FileRef:
    def __init__(self, cert, key):
        self.cert = cert
        self.key = key


class ServerCerts:
    """Issues server certificates with `certgate cert server`."""

    def __init__(self, ca_dir, workdir):
        self.ca_dir = ca_dir
        self.workdir = workdir
        self.n = 0

    def issue(self, san, days=None):
        self.n += 1
        out = os.path.join(self.workdir, "issued-%03d" % self.n)
        args = ["cert", "server", "--ca", self.ca_dir, "--san", san, "--out", out]
        if days:
            args += ["--days", str(days)]
        run_certgate(*args)
        crt, key = os.path.join(out, "tls.crt"), os.path.join(out, "tls.key")
        return crt, key, cert_serial(crt)


class RenameSlot:
    """A certificate whose tls.crt / tls.key are regular files replaced by rename."""

    def __init__(self, dir):
        self.dir = dir
        os.makedirs(dir)
        self.cert = os.path.join(dir, "tls.crt")
        self.key = os.path.join(dir, "tls.key")

    def install(self, crt, key):
        self.install_bytes(h.read_bytes(crt), h.read_bytes(key))

    def install_bytes(self, crt_data, key_data=None):
        # Both files written and synced first, then renamed key first, certificate
        # second, back to back (a tool replacing both): no reload falls in between.
        files = ([(self.key, key_data)] if key_data is not None else []) + [(self.cert, crt_data)]
        for path, data in files:
            with open(path + ".new", "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for path, _ in files:
            os.rename(path + ".new", path)


class SecretSlot:
    """A Kubernetes Secret volume: tls.crt -> ..data/tls.crt, ..data -> ..<version>."""

    def __init__(self, dir):
        self.volume = h.KubernetesVolume(dir)
        self.cert = self.volume.path("tls.crt")
        self.key = self.volume.path("tls.key")

    def install(self, crt, key):
        self.volume.publish({"tls.crt": h.read_bytes(crt), "tls.key": h.read_bytes(key)})


# --------------------------------------------------------------------------------------

TMP = None
PKI = None
CERTS = None


def setUpModule():
    global TMP, PKI, CERTS
    TMP = h.make_tempdir("certgate-rotation-")
    unittest.addModuleCleanup(h.remove_tree, TMP)
    ca = os.path.join(TMP, "ca")
    run_certgate("ca", "init", "--dir", ca, "--name", "rotation test CA")
    run_certgate("cert", "client", "--ca", ca, "--name", "Loader", "--clearance",
                 "ClusterAdmin", "--password", "pw-123456", "--out",
                 os.path.join(TMP, "loader"))
    PKI = h.PKI(TMP)
    PKI.ca = h.Cert("ca", os.path.join(ca, "ca.crt"), os.path.join(ca, "ca.key"))
    PKI.clients["loader"] = h.Cert("loader", os.path.join(TMP, "loader", "tls.crt"),
                                   os.path.join(TMP, "loader", "tls.key"))
    CERTS = ServerCerts(ca, TMP)


def policy_for(pki):
    return {
        "allow_ips": ["127.0.0.1", "::1"],
        "routes": [{"path": "/*", "require": "Authenticated"}],
        "certificates": [{"name": "Loader", "thumbprints": [pki.clients["loader"].sha1],
                          "clearance": "ClusterAdmin"}],
    }


def client_ctx(min_version=None, max_version=None):
    return h.client_context(PKI, "loader", min_version=min_version, max_version=max_version)


def peer_serial(sock):
    return sock.getpeercert()["serialNumber"]


def handshake_serial(port, sni):
    s = h.tls_connect(port, client_ctx(), server_hostname=sni, timeout=5)
    try:
        return peer_serial(s)
    finally:
        s.close()


class RotationTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.work = os.path.join(TMP, "rotation")
        os.makedirs(cls.work)
        cls.backend = h.Backend(cls.work)
        cls.addClassCleanup(cls.backend.kill)
        cls.backend.start()
        cls.local = RenameSlot(os.path.join(cls.work, "local"))
        cls.secret = SecretSlot(os.path.join(cls.work, "secret"))
        crt, key, cls.local_serial = CERTS.issue("localhost,127.0.0.1,::1")
        cls.local.install(crt, key)
        crt, key, cls.secret_serial = CERTS.issue("k8s.test")
        cls.secret.install(crt, key)
        # build_config only reads .cert / .key of these (overridden by tls= below); the
        # files are chains, which h.Cert cannot hash.
        PKI.server = PKI.server_rsa = FileRef(cls.local.cert, cls.local.key)
        cls.cg = h.start_certgate(cls.work, PKI, [cls.backend.port], policy=policy_for(PKI),
                                  tls={"certificates": [
                                      {"cert": cls.local.cert, "key": cls.local.key},
                                      {"cert": cls.secret.cert, "key": cls.secret.key}]},
                                  status=True)
        cls.addClassCleanup(cls.cg.kill)
        cls.port = cls.cg.port

    # rotate_* install a new certificate and wait until new handshakes show it.

    def wait_serial(self, sni, serial):
        last = [None]

        def ok():
            last[0] = handshake_serial(self.port, sni)
            return last[0] == serial
        try:
            h.wait_until(ok, ROTATE_TIMEOUT, 0.02, "serial %s on %s" % (serial, sni))
        except AssertionError as e:
            raise AssertionError("%s (still %s)\n%s" % (e, last[0], self.cg.logs()))

    def rotate_local(self):
        crt, key, serial = CERTS.issue("localhost,127.0.0.1,::1")
        self.local.install(crt, key)
        self.wait_serial("localhost", serial)
        type(self).local_serial = serial
        return serial

    def rotate_secret(self):
        crt, key, serial = CERTS.issue("k8s.test")
        self.secret.install(crt, key)
        self.wait_serial("k8s.test", serial)
        type(self).secret_serial = serial
        return serial

    # --- under load ---------------------------------------------------------------

    def test_20_rotations_under_load(self):
        stop = threading.Event()
        lock = threading.Lock()
        stats = {"ok": 0, "failed": [], "closed": 0, "new_conns": 0, "serials": set()}
        kas = [h.KeepAlive(self.port, client_ctx(), sni)
               for sni in ("localhost", "localhost", "k8s.test")]
        for ka in kas:
            self.addCleanup(ka.close)
        original = [peer_serial(ka.sock) for ka in kas]
        self.assertEqual(original, [self.local_serial, self.local_serial, self.secret_serial])

        def keepalive_loop(i, ka):
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    r = ka.get("/ka/%d/%d" % (i, n))
                except Exception as e:  # noqa: BLE001 - a closed connection is a failure
                    with lock:
                        stats["failed"].append("keep-alive %d #%d: %r" % (i, n, e))
                        stats["closed"] += 1
                    return
                closing = any("close" in v.lower() for v in r.all("Connection"))
                with lock:
                    if r.status == 200:
                        stats["ok"] += 1
                    else:
                        stats["failed"].append("keep-alive %d #%d: %r" % (i, n, r))
                    if closing:
                        stats["closed"] += 1
                if closing:
                    return

        def newconn_loop():
            n = 0
            ctx = client_ctx()
            while not stop.is_set():
                n += 1
                sni = "localhost" if n % 2 else "k8s.test"
                try:
                    s = h.tls_connect(self.port, ctx, server_hostname=sni, timeout=10)
                    try:
                        serial = peer_serial(s)
                        s.sendall(h.request_bytes("GET", "/new/%d" % n,
                                                  "%s:%d" % (sni, self.port)))
                        r = h.ResponseReader(s, 10).read()
                    finally:
                        s.close()
                    with lock:
                        stats["new_conns"] += 1
                        stats["serials"].add(serial)
                        if r.status == 200:
                            stats["ok"] += 1
                        else:
                            stats["failed"].append("new conn %d: %r" % (n, r))
                except Exception as e:  # noqa: BLE001
                    with lock:
                        stats["failed"].append("new conn %d (%s): %r" % (n, sni, e))

        threads = [threading.Thread(target=keepalive_loop, args=(i, ka), daemon=True)
                   for i, ka in enumerate(kas)]
        threads.append(threading.Thread(target=newconn_loop, daemon=True))
        for t in threads:
            t.start()
        self.addCleanup(stop.set)
        rotated = []
        try:
            h.wait_until(lambda: stats["ok"] >= 20, 10, 0.02, "load to start")
            for n in range(20):
                rotated.append(self.rotate_local() if n % 2 == 0 else self.rotate_secret())
            before = stats["ok"]
            h.wait_until(lambda: stats["ok"] >= before + 20, 10, 0.02, "load after rotations")
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        self.assertFalse(any(t.is_alive() for t in threads), "a load thread hung")
        self.assertEqual(len(set(rotated)), 20)
        self.assertEqual(stats["failed"][:20], [], "%d failed" % len(stats["failed"]))
        self.assertEqual(stats["closed"], 0)
        self.assertGreater(stats["new_conns"], 10)
        # The connections made before the first rotation: still open, same certificate.
        for ka, serial in zip(kas, original):
            r = ka.get("/ka/final")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(peer_serial(ka.sock), serial)
        self.assertEqual(cert_refusals(self.cg), 0)
        # openssl s_client sees the latest certificates too.
        for sni, want in (("localhost", self.local_serial), ("k8s.test", self.secret_serial)):
            p = h.s_client(self.port, PKI, sni, "loader", ["-verify_return_error"])
            pems = h.pem_certificates(p.stdout)
            self.assertTrue(pems, p.stdout.decode(errors="replace")[-2000:])
            self.assertEqual(h.pem_serial(pems[0]), want)
        print("\n    20 rotations under load: %d requests ok, %d new connections, %d "
              "serials seen by new connections, %d failed, %d closed" % (
                  stats["ok"], stats["new_conns"], len(stats["serials"]),
                  len(stats["failed"]), stats["closed"]))

    # --- resumption ------------------------------------------------------------------

    def check_resumption(self, version):
        ctx = client_ctx(min_version=version, max_version=version)
        s = h.tls_connect(self.port, ctx, server_hostname="localhost")
        try:
            s.sendall(h.request_bytes("GET", "/resume/1", "localhost:%d" % self.port))
            # TLS 1.3 tickets arrive after the handshake: read a response first.
            r = h.ResponseReader(s, 10).read()
            self.assertEqual(r.status, 200, r)
            session = s.session
            first_serial = peer_serial(s)
        finally:
            s.close()
        self.assertIsNotNone(session)
        self.assertTrue(session.has_ticket or version == ssl.TLSVersion.TLSv1_2)
        new_serial = self.rotate_local()
        self.assertNotEqual(new_serial, first_serial)

        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
        try:
            self.assertTrue(s.session_reused, "%s: session not resumed after a rotation"
                            % version.name)
            s.sendall(h.request_bytes("GET", "/resume/2", "localhost:%d" % self.port))
            r = h.ResponseReader(s, 10).read()
            self.assertEqual(r.status, 200, r)
            e = r.json()
            thumb = [v for k, v in e["headers"] if k.lower() == "x-client-cert-thumbprint"]
            self.assertEqual(thumb, [PKI.clients["loader"].sha1],
                             "identity lost on a resumed connection")
        finally:
            s.close()

        # Never resumed under another SNI name.
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s = ctx.wrap_socket(raw, server_hostname="k8s.test", session=session)
        try:
            self.assertFalse(s.session_reused, "%s: resumed across SNI names" % version.name)
            self.assertEqual(peer_serial(s), self.secret_serial)
        finally:
            s.close()

    def test_resumption_survives_rotation_tls12(self):
        self.check_resumption(ssl.TLSVersion.TLSv1_2)

    def test_resumption_survives_rotation_tls13(self):
        self.check_resumption(ssl.TLSVersion.TLSv1_3)

    # --- broken certificates ------------------------------------------------------------

    def test_broken_certificate_refused(self):
        serial = self.local_serial
        ka = h.KeepAlive(self.port, client_ctx(), "localhost")
        self.addCleanup(ka.close)

        def expect_refused(what, crt_data, key_data=None):
            n = cert_refusals(self.cg)
            self.local.install_bytes(crt_data, key_data)
            h.wait_until(lambda: cert_refusals(self.cg) > n, ROTATE_TIMEOUT, 0.02,
                         "the refusal of %s" % what)
            self.assertEqual(cert_refusals(self.cg), n + 1, what)
            self.assertEqual(handshake_serial(self.port, "localhost"), serial, what)
            self.assertEqual(ka.get("/broken").status, 200)
            # What the operator runs to see why.
            p = run_certgate("check", "-c", self.cg.config_path, ok=False)
            self.assertEqual(p.returncode, 1, "%s: %s%s" % (what, p.stdout, p.stderr))
            return p.stderr

        line = expect_refused("garbage", b"-----BEGIN CERTIFICATE-----\ngarbage\n"
                                         b"-----END CERTIFICATE-----\n")
        self.assertIn(self.local.cert, line)
        crt, _, _ = CERTS.issue("localhost,127.0.0.1,::1")
        _, other_key, _ = CERTS.issue("localhost,127.0.0.1,::1")
        line = expect_refused("a key that does not match", h.read_bytes(crt),
                              h.read_bytes(other_key))
        self.assertRegex(line.lower(), r"match|key")
        # Empty file (a writer that crashed half-way).
        expect_refused("an empty certificate", b"")
        # A valid pair is taken again.
        self.rotate_local()
        self.assertEqual(ka.get("/after").status, 200)
        self.assertEqual(peer_serial(ka.sock), serial)

    # --- certgate check ----------------------------------------------------------------

    def test_check_reports_days_left(self):
        crt, key, _ = CERTS.issue("localhost,127.0.0.1,::1", days=10)
        short = os.path.join(self.work, "check-short")
        os.makedirs(short)
        cfg = h.build_config(short, PKI, h.free_port(), [self.backend.port],
                             policy_path=os.path.join(self.work, "policy.json"),
                             tls={"certificates": [
                                 {"cert": crt, "key": key},
                                 {"cert": self.secret.cert, "key": self.secret.key}]})
        path = os.path.join(short, "certgate.json")
        h.write_json(path, cfg)
        p = run_certgate("check", "-c", path, ok=False)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, out)
        m = re.search(r"%s.*\((\d+) days left\).*WARNING.*30" % re.escape(crt), out)
        self.assertTrue(m, out)
        self.assertIn(int(m.group(1)), (9, 10), out)
        m = re.search(r"%s.*\((\d+) days left\)(.*)" % re.escape(self.secret.cert), out)
        self.assertTrue(m, out)
        self.assertGreater(int(m.group(1)), 30, out)
        self.assertNotIn("WARNING", m.group(2), out)

        p = run_certgate("check", "-c", self.cg.config_path, ok=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"days left")
        self.assertNotIn("WARNING", p.stdout)


class RenewalTest(unittest.TestCase):
    """A 90-second certificate issued by the CA in state_dir is renewed before it
    expires. It is issued 55 s in the past (notBefore now-55 s, notAfter now+35 s) so
    that two thirds of its lifetime fall 5 s after the start instead of 60 s."""

    def test_short_certificate_renewed_before_expiry(self):
        work = os.path.join(TMP, "renewal")
        state = os.path.join(work, "state")
        os.makedirs(state)
        ca = os.path.join(state, "ca")
        run_certgate("ca", "init", "--dir", ca, "--name", "renewal test CA")
        srv = os.path.join(work, "server")
        os.makedirs(srv)
        crt, key, not_after = h.issue_short_lived(ca, srv, "tls")
        old_serial = cert_serial(crt)

        pki = h.PKI(work)
        pki.ca = h.Cert("ca", os.path.join(ca, "ca.crt"), os.path.join(ca, "ca.key"))
        pki.clients["loader"] = PKI.clients["loader"]
        pki.server = pki.server_rsa = FileRef(crt, key)
        backend = h.Backend(work)
        self.addCleanup(backend.kill)
        backend.start()
        cg = h.start_certgate(work, pki, [backend.port], policy=policy_for(pki),
                              tls={"certificates": [{"cert": crt, "key": key}]},
                              overrides={"state_dir": state}, status=True)
        self.addCleanup(cg.kill)
        ctx = h.client_context(pki, "loader")

        def serial_now():
            s = h.tls_connect(cg.port, ctx, timeout=5)
            try:
                return s.getpeercert()
            finally:
                s.close()
        first = serial_now()
        self.assertEqual(first["serialNumber"], old_serial)
        ka = h.KeepAlive(cg.port, ctx, "localhost")
        self.addCleanup(ka.close)
        deadline = (not_after - datetime.now(timezone.utc)).total_seconds() - 2
        self.assertGreater(deadline, 10)
        try:
            got = h.wait_until(lambda: (lambda c: c if c["serialNumber"] != old_serial
                                        else None)(serial_now()), deadline, 0.2,
                               "the renewed certificate")
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, cg.logs()))
        self.assertLess(datetime.now(timezone.utc), not_after, "renewed only after expiry")
        # Verified by Python against the CA and the host name (client_context checks both).
        new_after = datetime.strptime(got["notAfter"], "%b %d %H:%M:%S %Y %Z").replace(
            tzinfo=timezone.utc)
        self.assertGreater(new_after, not_after)
        self.assertIn(("IP Address", "127.0.0.1"), got["subjectAltName"])
        # The files were rewritten, and the open connection is untouched.
        self.assertNotEqual(cert_serial(crt), old_serial)
        r = ka.get("/after-renewal")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(peer_serial(ka.sock), old_serial)
        m = cg.metrics()
        self.assertEqual((m.value("certgate_cert_renewals_total"),
                          m.value("certgate_cert_renewal_failures_total")), (1, 0))


if __name__ == "__main__":
    unittest.main()
