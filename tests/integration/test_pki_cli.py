"""certgate ca / cert: the certificate command line driven through the real binary.

Every file it writes is checked with the tools people use: openssl verify, openssl
pkcs12 (OpenSSL 3, without -legacy), openssl x509 fingerprints, and Python's ssl
module doing a real mutual-TLS handshake with the issued certificates. Every error case
must print exactly one line on stderr and exit 1 (bad input) or 2 (usage).
"""
import base64
import fcntl
import hashlib
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile
import threading
import unittest

BIN = os.environ.get("CERTGATE_BIN", "certgate")
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "pki")


def run(*args, ok=True):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60)
    if ok and p.returncode != 0:
        raise AssertionError(f"certgate {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


def read(path):
    with open(path) as f:
        return f.read()


def openssl(*args, input=None):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, input=input,
                          timeout=60)


def fingerprint(path, algo):
    out = openssl("x509", "-in", path, "-noout", "-fingerprint", f"-{algo}").stdout
    return out.strip().split("=", 1)[1].replace(":", "")


def spki_pin(path):
    pub = openssl("x509", "-in", path, "-noout", "-pubkey").stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub.encode(),
                         capture_output=True, timeout=60).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def thumbprint_fields(path, *extra):
    out = run("cert", "thumbprint", path, *extra).stdout
    blocks = []
    for block in out.strip().split("\n\n"):
        fields = {}
        for line in block.splitlines():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        blocks.append(fields)
    return blocks


class PkiCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        p = subprocess.run([BIN, "ca", "--help"], capture_output=True, text=True, timeout=60)
        if "ca init" not in p.stdout:
            raise AssertionError(f"{BIN} does not dispatch 'ca'/'cert' to pki_cli_main "
                                 "(proxy/main.c)")
        cls.tmp = tempfile.mkdtemp(prefix="cg-pki-cli-")
        cls.ca = os.path.join(cls.tmp, "ca")
        run("ca", "init", "--dir", cls.ca, "--name", "Integration CA", "--days", "400")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def assertFails(self, args, code=1, contains=None):
        p = run(*args, ok=False)
        self.assertEqual(p.returncode, code, f"{args}: {p.stdout} {p.stderr}")
        lines = p.stderr.splitlines()
        self.assertEqual(len(lines), 1, f"{args}: expected one line, got {p.stderr!r}")
        if contains:
            self.assertIn(contains, lines[0])
        return lines[0]

    def client(self, name, *extra, clearance="ValidUser", password="pw-" + "x" * 8):
        out = self.path("clients", name)
        args = ["cert", "client", "--ca", self.ca, "--name", name, "--clearance", clearance,
                "--out", out, *extra]
        if password:
            args += ["--password", password]
        return out, run(*args)

    # ---- CA and server ----

    def test_ca_files(self):
        self.assertEqual(stat.S_IMODE(os.stat(self.path("ca", "ca.key")).st_mode), 0o600)
        text = openssl("x509", "-in", self.path("ca", "ca.crt"), "-noout", "-text").stdout
        self.assertIn("CA:TRUE", text)
        self.assertIn("Certificate Sign, CRL Sign", text)
        self.assertIn("Subject: CN = Integration CA", text)
        self.assertEqual(openssl("pkey", "-in", self.path("ca", "ca.key"), "-noout").returncode, 0)
        # never overwritten
        before = read(self.path("ca", "ca.key"))
        self.assertFails(["ca", "init", "--dir", self.ca], 1, "already exists")
        self.assertEqual(read(self.path("ca", "ca.key")), before)

    def test_server_certificate(self):
        out = self.path("server")
        run("cert", "server", "--ca", self.ca, "--san", "localhost,127.0.0.1", "--san", "::1",
            "--san", "db.example.com", "--out", out, "--days", "30")
        self.assertEqual(sorted(os.listdir(out)), ["ca.crt", "tls.crt", "tls.key"])
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(out, "tls.key")).st_mode), 0o600)
        v = openssl("verify", "-CAfile", self.path("ca", "ca.crt"), "-purpose", "sslserver",
                    os.path.join(out, "tls.crt"))
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        text = openssl("x509", "-in", os.path.join(out, "tls.crt"), "-noout", "-text").stdout
        self.assertIn("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, "
                      "DNS:db.example.com", text)
        self.assertIn("TLS Web Server Authentication", text)
        self.assertIn("CA:FALSE", text)
        # tls.crt carries the chain
        self.assertEqual(read(os.path.join(out, "tls.crt")).count("BEGIN CERTIFICATE"), 2)
        self.assertFails(["cert", "server", "--ca", self.ca, "--san", "localhost", "--out", out],
                         1, "already exists")
        self.assertFails(["cert", "server", "--ca", self.ca, "--san", "bad name!", "--out",
                          self.path("s2")], 1, "neither an IP address nor a DNS name")
        self.assertFalse(os.path.exists(self.path("s2")))

    # ---- client bundles ----

    def test_client_bundle_and_interop(self):
        policy = self.path("client-policy.json")
        out, p = self.client("hr", "--db", "hr=ReadWrite", "--db", "catalog=ReadOnly",
                             "--policy", policy, password=None)
        password = [l for l in p.stdout.splitlines() if "shown only once" in l][0].split(": ")[1]
        self.assertEqual(len(password), 24)
        self.assertEqual(sorted(os.listdir(out)), ["bundle.p12", "ca.crt", "tls.crt", "tls.key"])
        for f in ("tls.key", "bundle.p12"):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(out, f)).st_mode), 0o600)
        crt = os.path.join(out, "tls.crt")
        v = openssl("verify", "-CAfile", os.path.join(out, "ca.crt"), "-purpose", "sslclient", crt)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        # OpenSSL 3 reads the bundle without -legacy
        info = openssl("pkcs12", "-info", "-in", os.path.join(out, "bundle.p12"),
                       "-passin", f"pass:{password}", "-noout")
        self.assertEqual(info.returncode, 0, info.stderr)
        self.assertIn("pbeWithSHA1And3-KeyTripleDES-CBC", info.stderr + info.stdout)
        bad = openssl("pkcs12", "-info", "-in", os.path.join(out, "bundle.p12"),
                      "-passin", "pass:wrong", "-noout")
        self.assertNotEqual(bad.returncode, 0)
        # thumbprints and pin agree with openssl
        fields = thumbprint_fields(crt)[0]
        self.assertEqual(fields["sha1"], fingerprint(crt, "sha1"))
        self.assertEqual(fields["sha256"], fingerprint(crt, "sha256"))
        self.assertEqual(fields["spki_sha256"], spki_pin(crt))
        self.assertEqual(fields["subject"], "CN=hr")
        # registered in the new policy file
        doc = json.loads(read(policy))
        self.assertEqual(doc["allow_ips"], ["127.0.0.1", "::1"])
        self.assertEqual(doc["routes"], [{"path": "/*", "require": "Authenticated"}])
        entry = doc["certificates"][0]
        self.assertEqual(list(entry), ["name", "thumbprints", "pins", "clearance", "databases",
                                       "expires"])
        self.assertEqual(entry["thumbprints"], [fingerprint(crt, "sha1")])
        self.assertEqual(entry["pins"][0]["spki_sha256"], spki_pin(crt))
        self.assertEqual(entry["pins"][0]["issuer"], "CN=Integration CA")
        ski = openssl("x509", "-in", self.path("ca", "ca.crt"), "-noout", "-ext",
                      "subjectKeyIdentifier").stdout.splitlines()[1].strip().replace(":", "")
        self.assertEqual(entry["pins"][0]["issuer_key_id"], ski)
        self.assertEqual(entry["databases"], {"hr": "ReadWrite", "catalog": "ReadOnly"})
        self.assertTrue(entry["expires"].endswith("Z"))
        self.assertTrue(read(policy).startswith('{\n  "allow_ips": [\n'))
        # the p12 reads back through certgate too
        fields = thumbprint_fields(os.path.join(out, "bundle.p12"), "--password", password)
        self.assertEqual(fields[0]["sha1"], fingerprint(crt, "sha1"))

    def test_mutual_tls_with_python_ssl(self):
        server = self.path("tls-server")
        run("cert", "server", "--ca", self.ca, "--san", "localhost,127.0.0.1", "--out", server)
        client, _ = self.client("tls-client")
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(os.path.join(server, "tls.crt"), os.path.join(server, "tls.key"))
        sctx.load_verify_locations(os.path.join(server, "ca.crt"))
        sctx.verify_mode = ssl.CERT_REQUIRED
        cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cctx.load_verify_locations(os.path.join(client, "ca.crt"))
        cctx.load_cert_chain(os.path.join(client, "tls.crt"), os.path.join(client, "tls.key"))
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        port = lsock.getsockname()[1]
        seen = {}

        def serve():
            conn, _ = lsock.accept()
            with sctx.wrap_socket(conn, server_side=True) as tls:
                seen["peer"] = tls.getpeercert()
                tls.sendall(b"ok")

        t = threading.Thread(target=serve)
        t.start()
        with socket.create_connection(("127.0.0.1", port)) as raw:
            with cctx.wrap_socket(raw, server_hostname="localhost") as tls:
                self.assertEqual(tls.recv(2), b"ok")
        t.join(10)
        lsock.close()
        self.assertEqual(dict(x[0] for x in seen["peer"]["subject"])["commonName"], "tls-client")

    # ---- import, list, edit, delete ----

    def test_registry_lifecycle(self):
        policy = self.path("registry-policy.json")
        a, _ = self.client("imp-a", password="pa")
        b, _ = self.client("imp-b", password="pb")
        c, _ = self.client("imp-c", password="pc")
        multi = self.path("multi.pem")
        with open(multi, "w") as f:
            f.write(read(os.path.join(a, "tls.crt")))
            f.write(read(os.path.join(b, "tls.crt")))
            f.write(read(os.path.join(a, "ca.crt")))  # chain: not registered
        sha_a = fingerprint(os.path.join(a, "tls.crt"), "sha1")
        sha_b = fingerprint(os.path.join(b, "tls.crt"), "sha1")
        sha_c = fingerprint(os.path.join(c, "tls.crt"), "sha1")
        run("cert", "import", multi, "--name", "pair", "--clearance", "Operator",
            "--policy", policy)
        run("cert", "import", os.path.join(c, "bundle.p12"), "--password", "pc", "--name", "pfx",
            "--clearance", "ValidUser", "--db", "orders=ReadOnly", "--policy", policy)
        # an OpenSSL 3 default (AES/PBKDF2) PKCS#12 and a DER file
        run("cert", "import", os.path.join(DATA, "client-openssl3.p12"), "--password",
            "vector-pw", "--name", "vector", "--clearance", "ValidUser", "--policy", policy)
        listed = json.loads(run("cert", "list", "--policy", policy, "--json").stdout)
        self.assertEqual([e["name"] for e in listed], ["pair", "pfx", "vector"])
        self.assertEqual(listed[0]["thumbprints"], [sha_a, sha_b])
        self.assertEqual(listed[1]["thumbprints"], [sha_c])
        self.assertEqual(listed[1]["databases"], {"orders": "ReadOnly"})
        self.assertEqual(listed[2]["thumbprints"], ["C0C217A95EB7AFD8A6E4351F21DE53B3445FEEE3"])
        table = run("cert", "list", "--policy", policy).stdout.splitlines()
        self.assertEqual(table[0].split(), ["NAME", "CLEARANCE", "DATABASES", "THUMBPRINTS",
                                            "EXPIRES"])
        self.assertIn(f"{sha_a},{sha_b}", table[1])
        self.assertIn("orders=ReadOnly", table[2])
        # the same certificate cannot be registered twice
        self.assertFails(["cert", "import", os.path.join(DATA, "client.der"), "--name", "again",
                          "--clearance", "Operator", "--policy", policy], 1,
                         "already registered as 'vector'")
        # edit by SHA-1 with colons, lower case
        colons = ":".join(sha_b[i:i + 2] for i in range(0, 40, 2)).lower()
        run("cert", "edit", colons, "--policy", policy, "--name", "pair2", "--clearance",
            "ValidUser", "--db", "hr=Admin")
        entry = json.loads(run("cert", "list", "--policy", policy, "--json").stdout)[0]
        self.assertEqual((entry["name"], entry["clearance"], entry["databases"]),
                         ("pair2", "ValidUser", {"hr": "Admin"}))
        self.assertEqual(entry["thumbprints"], [sha_a, sha_b])
        # delete removes the whole entry
        run("cert", "delete", sha_a, "--policy", policy)
        names = [e["name"] for e in json.loads(run("cert", "list", "--policy", policy,
                                                   "--json").stdout)]
        self.assertEqual(names, ["pfx", "vector"])
        before = read(policy)
        self.assertFails(["cert", "delete", sha_a, "--policy", policy], 1, "no certificate")
        self.assertFails(["cert", "edit", sha_b, "--policy", policy, "--name", "x"], 1,
                         "no certificate")
        self.assertEqual(read(policy), before)
        self.assertEqual([f for f in os.listdir(self.tmp) if ".tmp." in f], [])

    def test_concurrent_writers_lose_nothing(self):
        # Regression: every writer loads the policy, changes it and renames a new file
        # over it; without the policy lock two concurrent commands both loaded the old
        # file and the later rename dropped the other's entry.
        policy = self.path("concurrent-policy.json")
        imports = []
        for i in range(4):
            out, _ = self.client(f"conc-imp-{i}")
            imports.append(os.path.join(out, "tls.crt"))
        commands = []
        for i in range(4):
            commands.append(["cert", "client", "--ca", self.ca, "--name", f"conc-new-{i}",
                             "--clearance", "ValidUser", "--password", "pw-concurrent",
                             "--out", self.path("clients", f"conc-new-{i}"),
                             "--policy", policy])
            commands.append(["cert", "import", imports[i], "--name", f"conc-imp-{i}",
                             "--clearance", "ValidUser", "--policy", policy])
        procs = [subprocess.Popen([BIN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for args in commands]
        for args, p in zip(commands, procs):
            try:
                _, err = p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                for q in procs:
                    q.kill()
                raise
            self.assertEqual(p.returncode, 0, f"{args}: {err}")
        names = sorted(e["name"] for e in json.loads(read(policy))["certificates"])
        self.assertEqual(names, sorted([f"conc-new-{i}" for i in range(4)] +
                                       [f"conc-imp-{i}" for i in range(4)]))
        # the lock file stays (deleting it would race); created before the policy: 0600
        self.assertEqual(stat.S_IMODE(os.stat(policy + ".lock").st_mode), 0o600)
        self.assertEqual([f for f in os.listdir(self.tmp) if ".tmp." in f], [])

    def test_waits_for_flock_holder(self):
        # Scripts can take the same lock with flock(1)/flock(2) on "<policy>.lock": a
        # command waits for them (up to 10 s) instead of overwriting their change.
        policy = self.path("flock-policy.json")
        out, _ = self.client("flock-a")
        with open(policy + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            p = subprocess.Popen([BIN, "cert", "import", os.path.join(out, "tls.crt"), "--name",
                                  "flock-a", "--clearance", "ValidUser", "--policy", policy],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                with self.assertRaises(subprocess.TimeoutExpired):
                    p.wait(timeout=0.5)
                self.assertFalse(os.path.exists(policy))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual([e["name"] for e in json.loads(read(policy))["certificates"]],
                         ["flock-a"])

    # ---- errors ----

    def test_errors_are_one_line(self):
        policy = self.path("err-policy.json")
        a, _ = self.client("err-a", password="right")
        crt, key = os.path.join(a, "tls.crt"), os.path.join(a, "tls.key")
        garbage = self.path("garbage.txt")
        with open(garbage, "w") as f:
            f.write("this is not a certificate\n")
        mismatch = self.path("mismatch.pem")
        with open(mismatch, "w") as f:
            f.write(read(crt) + read(os.path.join(DATA, "other.key")))
        imp = ["--name", "n", "--clearance", "Operator", "--policy", policy]
        cases = [
            (["cert", "client", "--ca", self.ca, "--name", "x", "--clearance", "Admin",
              "--out", self.path("e1")], "valid: ClusterAdmin, Operator, ValidUser"),
            (["cert", "client", "--ca", self.ca, "--name", "x", "--clearance", "clusteradmin",
              "--out", self.path("e1")], "did you mean 'ClusterAdmin'?"),
            (["cert", "client", "--ca", self.ca, "--name", "x", "--clearance", "ValidUser",
              "--db", "hr=readwrite", "--out", self.path("e1")], "did you mean 'ReadWrite'?"),
            (["cert", "client", "--ca", self.ca, "--name", "x", "--clearance", "ValidUser",
              "--db", "hr", "--out", self.path("e1")], "expected NAME=LEVEL"),
            (["cert", "client", "--ca", self.path("nope"), "--name", "x", "--clearance",
              "ValidUser", "--out", self.path("e1")], "cannot open"),
            (["cert", "import", garbage, *imp], "not a certificate"),
            (["cert", "import", key, *imp], "not a certificate"),
            (["cert", "import", mismatch, *imp], "private key does not match"),
            (["cert", "import", os.path.join(a, "bundle.p12"), "--password", "wrong", *imp],
             "wrong password"),
            (["cert", "import", os.path.join(a, "bundle.p12"), *imp], "needs a password"),
            (["cert", "import", crt, "--name", "n", "--clearance", "Operater", "--policy", policy],
             "unknown clearance 'Operater'"),
            (["cert", "edit", "00" * 20, "--policy", self.path("missing.json"), "--name", "x"],
             "cannot open"),
            (["cert", "thumbprint", garbage], "not a certificate"),
            (["cert", "list", "--policy", garbage], "garbage.txt"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                self.assertFails(args, 1, message)
        self.assertFalse(os.path.exists(self.path("e1")))
        self.assertFalse(os.path.exists(policy))
        run("cert", "import", crt, "--name", "n", "--clearance", "Operator", "--policy", policy)
        self.assertFails(["cert", "delete", "XYZ", "--policy", policy], 1, "not a thumbprint")
        self.assertFails(["cert", "delete", "AB" * 32, "--policy", policy], 1, "no certificate")
        self.assertFails(["cert", "edit", fingerprint(crt, "sha1"), "--policy", policy,
                          "--db", "x=Owner"], 1, "unknown access level 'Owner'")

    def test_usage_errors_exit_2(self):
        cases = [
            ["ca"],
            ["ca", "create"],
            ["ca", "init"],
            ["ca", "init", "--dir"],
            ["ca", "init", "--dir", self.path("u"), "--days", "ten"],
            ["ca", "init", "--dir", self.path("u"), "--bogus"],
            ["cert", "client", "--ca", self.ca, "--name", "x", "--out", self.path("u")],
            ["cert", "server", "--ca", self.ca, "--out", self.path("u")],
            ["cert", "import", "--name", "x", "--clearance", "Operator", "--policy", "p.json"],
            ["cert", "list"],
            ["cert", "edit", "AB" * 20, "--policy", "p.json"],
            ["cert", "delete", "AB" * 20, "extra", "--policy", "p.json"],
            ["cert", "thumbprint"],
            ["cert", "list", "--policy", "a", "--policy", "b"],
        ]
        for args in cases:
            with self.subTest(args=args):
                self.assertFails(args, 2)
        self.assertFalse(os.path.exists(self.path("u")))

    def test_help(self):
        for args in (["ca", "--help"], ["cert", "--help"], ["ca", "init", "--help"],
                     ["cert", "server", "--help"], ["cert", "client", "--help"],
                     ["cert", "import", "--help"], ["cert", "list", "--help"],
                     ["cert", "edit", "--help"], ["cert", "delete", "--help"],
                     ["cert", "thumbprint", "--help"]):
            with self.subTest(args=args):
                p = run(*args)
                self.assertIn("usage: certgate", p.stdout)


if __name__ == "__main__":
    unittest.main()
