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

import certgate_harness as h

BIN = h.certgate_bin()
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "pki")


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


def spki_b64(path):
    """spki_b64 is the base64 DER SubjectPublicKeyInfo of the certificate |path|."""
    pub = openssl("x509", "-in", path, "-noout", "-pubkey").stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub.encode(),
                         capture_output=True, timeout=60).stdout
    return base64.b64encode(der).decode()


def thumbprint_fields(path, *extra):
    out = h.run_certgate("cert", "thumbprint", path, *extra).stdout
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
                                 "(app/main.c)")
        cls.tmp = tempfile.mkdtemp(prefix="cg-pki-cli-")
        cls.ca = os.path.join(cls.tmp, "ca")
        h.run_certgate("ca", "init", "--dir", cls.ca, "--name", "Integration CA", "--days", "400")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def assertFails(self, args, code=1, contains=None):
        p = h.run_certgate(*args, ok=False)
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
        return out, h.run_certgate(*args)

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
        h.run_certgate("cert", "server", "--ca", self.ca, "--san", "localhost,127.0.0.1", "--san", "::1",
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
        self.assertEqual(entry["thumbprints"], [fingerprint(crt, "sha1"),
                                                fingerprint(crt, "sha256")])
        self.assertEqual(entry["pins"][0]["spki_sha256"], spki_pin(crt))
        self.assertEqual(entry["pins"][0]["issuer_spki"], spki_b64(self.path("ca", "ca.crt")))
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
        h.run_certgate("cert", "server", "--ca", self.ca, "--san", "localhost,127.0.0.1", "--out", server)
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
        sha256_a = fingerprint(os.path.join(a, "tls.crt"), "sha256")
        sha256_b = fingerprint(os.path.join(b, "tls.crt"), "sha256")
        sha256_c = fingerprint(os.path.join(c, "tls.crt"), "sha256")
        h.run_certgate("cert", "import", multi, "--name", "pair", "--clearance", "Operator",
            "--policy", policy)
        h.run_certgate("cert", "import", os.path.join(c, "bundle.p12"), "--password", "pc", "--name", "pfx",
            "--clearance", "ValidUser", "--db", "orders=ReadOnly", "--policy", policy)
        # an OpenSSL 3 default (AES/PBKDF2) PKCS#12 and a DER file
        h.run_certgate("cert", "import", os.path.join(DATA, "client-openssl3.p12"), "--password",
            "vector-pw", "--name", "vector", "--clearance", "ValidUser", "--policy", policy)
        listed = json.loads(h.run_certgate("cert", "list", "--policy", policy, "--json").stdout)
        self.assertEqual([e["name"] for e in listed], ["pair", "pfx", "vector"])
        self.assertEqual(listed[0]["thumbprints"], [sha_a, sha_b, sha256_a, sha256_b])
        self.assertEqual(listed[1]["thumbprints"], [sha_c, sha256_c])
        self.assertEqual(listed[1]["databases"], {"orders": "ReadOnly"})
        self.assertEqual(listed[2]["thumbprints"], [
            "C0C217A95EB7AFD8A6E4351F21DE53B3445FEEE3",
            "D822E9DA44ABBFE933E2DAE299FFDC4EF3CE7713953C314288C982FFE12AF137"])
        # The chain in the file (PEM, PKCS#12) gives the pins their issuer key.
        ca_key = spki_b64(self.path("ca", "ca.crt"))
        self.assertEqual([p["issuer_spki"] for p in listed[0]["pins"]], [ca_key, ca_key])
        self.assertEqual([p["issuer_spki"] for p in listed[1]["pins"]], [ca_key])
        self.assertEqual([p["issuer_spki"] for p in listed[2]["pins"]],
                         [spki_b64(os.path.join(DATA, "ca.pem"))])
        table = h.run_certgate("cert", "list", "--policy", policy).stdout.splitlines()
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
        h.run_certgate("cert", "edit", colons, "--policy", policy, "--name", "pair2", "--clearance",
            "ValidUser", "--db", "hr=Admin")
        entry = json.loads(h.run_certgate("cert", "list", "--policy", policy, "--json").stdout)[0]
        self.assertEqual((entry["name"], entry["clearance"], entry["databases"]),
                         ("pair2", "ValidUser", {"hr": "Admin"}))
        self.assertEqual(entry["thumbprints"], [sha_a, sha_b, sha256_a, sha256_b])
        # delete removes the whole entry
        h.run_certgate("cert", "delete", sha_a, "--policy", policy)
        names = [e["name"] for e in json.loads(h.run_certgate("cert", "list", "--policy", policy,
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

    # ---- import: the issuer key for pins ----

    def test_import_pins_need_the_issuer(self):
        # A leaf without its chain: registered by thumbprint only, and told so; with --ca
        # (a CA directory or certificate file) it gets a pin with the issuer's key.
        policy = self.path("issuer-policy.json")
        a, _ = self.client("iss-a")
        b, _ = self.client("iss-b")
        p = h.run_certgate("cert", "import", os.path.join(a, "tls.crt"), "--name", "no-chain",
                "--clearance", "ValidUser", "--policy", policy)
        self.assertIn("has no pin", p.stdout)
        h.run_certgate("cert", "import", os.path.join(b, "tls.crt"), "--name", "with-ca",
            "--clearance", "ValidUser", "--ca", self.ca, "--policy", policy)
        entries = json.loads(read(policy))["certificates"]
        self.assertEqual(entries[0]["pins"], [])
        self.assertEqual([p["issuer_spki"] for p in entries[1]["pins"]],
                         [spki_b64(self.path("ca", "ca.crt"))])
        # --ca must hold a CA certificate
        self.assertFails(["cert", "import", os.path.join(b, "tls.crt"), "--name", "x",
                          "--clearance", "ValidUser", "--ca", os.path.join(a, "tls.crt"),
                          "--policy", policy], 1, "no CA certificate")

    # ---- operator safety: the CLI never corrupts what it edits ----

    def write_config(self, name):
        path = self.path(name)
        text = json.dumps({"listeners": [{"name": "db", "listen": ["127.0.0.1:8443"],
                                          "policy": "policy.json", "upstream": "db"}],
                           "upstreams": {"db": {"servers": ["127.0.0.1:8080"]}}}, indent=2)
        with open(path, "w") as f:
            f.write(text)
        return path, text

    def test_refuses_to_edit_a_file_that_is_not_a_policy(self):
        # Regression: `cert client --policy certgate.json` wrote a "certificates" array
        # into the main configuration, and the next start failed.
        cfg, text = self.write_config("not-a-policy.json")
        out = self.path("clients", "into-config")
        src, _ = self.client("nap-src")
        tp = fingerprint(os.path.join(src, "tls.crt"), "sha1")
        cases = [
            ["cert", "client", "--ca", self.ca, "--name", "x", "--clearance", "ValidUser",
             "--password", "pw-12345678", "--out", out, "--policy", cfg],
            ["cert", "import", os.path.join(src, "tls.crt"), "--name", "x", "--clearance",
             "ValidUser", "--policy", cfg],
            ["cert", "edit", tp, "--name", "y", "--policy", cfg],
            ["cert", "delete", tp, "--policy", cfg],
            ["cert", "upgrade-pins", "--ca", self.ca, "--policy", cfg],
        ]
        for args in cases:
            with self.subTest(args=args[:2]):
                self.assertFails(args, 1, "certgate's configuration, not a policy")
                self.assertEqual(read(cfg), text)
        self.assertFalse(os.path.exists(out), "a certificate was issued anyway")
        self.assertFalse(os.path.exists(cfg + ".lock"))
        # Any other file the policy loader refuses is left alone too, with its reason.
        broken = self.path("broken-policy.json")
        broken_text = '{"routes": [{"path": "/x", "require": "Root"}]}'
        with open(broken, "w") as f:
            f.write(broken_text)
        self.assertFails(["cert", "import", os.path.join(src, "tls.crt"), "--name", "x",
                          "--clearance", "ValidUser", "--policy", broken], 1,
                         '$.routes[0].require: unknown requirement "Root"')
        self.assertEqual(read(broken), broken_text)

    def test_list_refuses_a_file_that_is_not_a_policy(self):
        # Regression: `cert list` on certgate.json printed an empty table and exited 0.
        cfg, _ = self.write_config("list-config.json")
        self.assertFails(["cert", "list", "--policy", cfg], 1,
                         "certgate's configuration, not a policy")
        self.assertFails(["cert", "list", "--policy", cfg, "--json"], 1, "not a policy")
        self.assertFails(["cert", "list", "--policy", self.path("absent.json")], 1,
                         "cannot open")

    def test_duplicate_names_are_refused(self):
        # Regression: `cert client` registered two entries with one name (the admin API
        # refuses that with 409). Refused before a certificate is issued.
        policy = self.path("dup-policy.json")
        self.client("dup", "--policy", policy)
        before = read(policy)
        out = self.path("clients", "dup-again")
        self.assertFails(["cert", "client", "--ca", self.ca, "--name", "dup", "--clearance",
                          "Operator", "--password", "pw-12345678", "--out", out,
                          "--policy", policy], 1, "an entry named 'dup' is already registered")
        self.assertFalse(os.path.exists(out), "a certificate was issued anyway")
        other, _ = self.client("dup-other")
        self.assertFails(["cert", "import", os.path.join(other, "tls.crt"), "--name", "dup",
                          "--clearance", "ValidUser", "--policy", policy], 1,
                         "an entry named 'dup' is already registered")
        h.run_certgate("cert", "import", os.path.join(other, "tls.crt"), "--name", "dup-2",
            "--clearance", "ValidUser", "--policy", policy)
        self.assertFails(["cert", "edit", fingerprint(os.path.join(other, "tls.crt"), "sha1"),
                          "--name", "dup", "--policy", policy], 1,
                         "an entry named 'dup' is already registered")
        names = [e["name"] for e in json.loads(read(policy))["certificates"]]
        self.assertEqual(names, ["dup", "dup-2"])
        self.assertTrue(read(policy).startswith(before[:-10]))

    def test_policy_directory_is_created(self):
        # Regression: `--policy conf/policy.json` failed when conf/ did not exist, though
        # the docs say the file is created.
        policy = self.path("newconf", "sub", "policy.json")
        self.client("in-new-dir", "--policy", policy)
        self.assertEqual(stat.S_IMODE(os.stat(self.path("newconf", "sub")).st_mode), 0o755)
        self.assertEqual([e["name"] for e in json.loads(read(policy))["certificates"]],
                         ["in-new-dir"])
        src, _ = self.client("imp-new-dir")
        other = self.path("newconf2", "policy.json")
        h.run_certgate("cert", "import", os.path.join(src, "tls.crt"), "--name", "imp", "--clearance",
            "ValidUser", "--policy", other)
        self.assertTrue(os.path.isfile(other))

    def test_edit_and_delete_by_sha256(self):
        # Regression: edit and delete by SHA-256 failed though the docs promise both.
        policy = self.path("sha256-policy.json")
        out, _ = self.client("by-sha256", "--policy", policy)
        fields = thumbprint_fields(os.path.join(out, "tls.crt"))[0]
        sha256 = fields["sha256"]  # as `cert thumbprint` prints it
        h.run_certgate("cert", "edit", sha256, "--policy", policy, "--clearance", "Operator")
        colons = ":".join(sha256[i:i + 2] for i in range(0, 64, 2)).lower()
        h.run_certgate("cert", "edit", colons, "--policy", policy, "--name", "renamed")
        entry = json.loads(read(policy))["certificates"][0]
        self.assertEqual((entry["name"], entry["clearance"]), ("renamed", "Operator"))
        h.run_certgate("cert", "delete", sha256.lower(), "--policy", policy)
        self.assertEqual(json.loads(read(policy))["certificates"], [])

    def test_san_must_be_an_address_or_a_host_name(self):
        # Regression: `--san 10.0.0.300` was taken as a DNS name.
        for bad, message in (("10.0.0.300", "not a valid IPv4 address"),
                             ("1.2.3", "not a valid IPv4 address"),
                             ("999.1.1.1", "not a valid IPv4 address"),
                             ("db.example.com.", "neither an IP address nor a DNS name"),
                             ("db.-x.example", "neither an IP address nor a DNS name")):
            with self.subTest(san=bad):
                out = self.path("san-bad")
                self.assertFails(["cert", "server", "--ca", self.ca, "--san", bad, "--out", out],
                                 1, message)
                self.assertFalse(os.path.exists(out))
        out = self.path("san-good")
        h.run_certgate("cert", "server", "--ca", self.ca, "--san", "10.0.0.30,db-1.example.com,*.a.b",
            "--out", out)
        text = openssl("x509", "-in", os.path.join(out, "tls.crt"), "-noout", "-text").stdout
        self.assertIn("IP Address:10.0.0.30, DNS:db-1.example.com, DNS:*.a.b", text)

    def test_edit_allow_ips_and_expires(self):
        # Regression: `cert edit` had no --allow-ips / --expires.
        policy = self.path("edit-policy.json")
        out, _ = self.client("edit-me", "--policy", policy)
        tp = fingerprint(os.path.join(out, "tls.crt"), "sha1")
        h.run_certgate("cert", "edit", tp, "--policy", policy, "--allow-ips", "10.1.0.0/16, ::1",
            "--expires", "2030-01-02T03:04:05Z")
        entry = json.loads(read(policy))["certificates"][0]
        self.assertEqual(entry["allow_ips"], ["10.1.0.0/16", "::1"])
        self.assertEqual(entry["expires"], "2030-01-02T03:04:05Z")
        before = read(policy)
        # validated as the policy loader validates them; nothing changes on error
        self.assertFails(["cert", "edit", tp, "--policy", policy, "--allow-ips", "10.0.0.300"],
                         1, "--allow-ips '10.0.0.300'")
        self.assertFails(["cert", "edit", tp, "--policy", policy, "--allow-ips", "10.1.0.1/16"],
                         1, "has bits set past the /16 prefix")
        self.assertFails(["cert", "edit", tp, "--policy", policy, "--expires", "next year"], 1,
                         "$.certificates[0].expires: expected an RFC 3339 time")
        self.assertEqual(read(policy), before)
        # '' clears them
        h.run_certgate("cert", "edit", tp, "--policy", policy, "--allow-ips", "", "--expires", "")
        entry = json.loads(read(policy))["certificates"][0]
        self.assertNotIn("allow_ips", entry)
        self.assertNotIn("expires", entry)
        self.assertEqual(entry["name"], "edit-me")

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
        h.run_certgate("cert", "import", crt, "--name", "n", "--clearance", "Operator", "--policy", policy)
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
            ["cert", "upgrade-pins", "--policy", "p.json"],
            ["cert", "upgrade-pins", "--ca", self.ca],
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
                     ["cert", "thumbprint", "--help"], ["cert", "upgrade-pins", "--help"]):
            with self.subTest(args=args):
                p = h.run_certgate(*args)
                self.assertIn("usage: certgate", p.stdout)


class PkiCliProxyTest(unittest.TestCase):
    """What `cert edit --allow-ips/--expires` write is what a running certgate enforces:
    it reloads the edited policy and decides the next request by it."""

    @classmethod
    def setUpClass(cls):
        h.set_up_testbed(cls, backend=False, prefix="cg-pki-cli-proxy-")
        ca = os.path.join(cls.tmp, "ca")
        h.run_certgate("ca", "init", "--dir", ca)
        cls.policy = os.path.join(cls.tmp, "conf", "policy.json")
        out = os.path.join(cls.tmp, "client")
        h.run_certgate("cert", "client", "--ca", ca, "--name", "app", "--clearance", "ValidUser",
            "--password", "pw-12345678", "--out", out, "--policy", cls.policy)
        cls.pki.clients["app"] = h.Cert("app", os.path.join(out, "tls.crt"),
                                        os.path.join(out, "tls.key"))
        cls.backend = h.Backend(cls.tmp)
        cls.addClassCleanup(cls.backend.kill)
        cls.backend.start()
        cls.cg = h.start_certgate(cls.tmp, cls.pki, [cls.backend.port], policy=False,
                                  policy_path=cls.policy)
        cls.addClassCleanup(cls.cg.kill)

    def outcome(self):
        r = h.https_request(self.cg.port, self.pki, "GET", "/x", client="app")
        return r.status, json.loads(r.body).get("reason") if r.status != 200 else None

    def wait_for(self, want):
        got = []
        h.wait_until(lambda: got.append(self.outcome()) or got[-1] == want, 10,
                          what="%r after the edit (last %r)" % (want, got[-1:]))

    def test_edits_apply_to_the_running_proxy(self):
        sha256 = self.pki.clients["app"].sha256
        self.wait_for((200, None))
        h.run_certgate("cert", "edit", sha256, "--policy", self.policy, "--expires", "2020-01-01T00:00:00Z")
        self.wait_for((403, "certificate_expired"))
        h.run_certgate("cert", "edit", sha256, "--policy", self.policy, "--expires", "")
        self.wait_for((200, None))
        h.run_certgate("cert", "edit", sha256, "--policy", self.policy, "--allow-ips", "10.9.0.0/16")
        self.wait_for((403, "ip_not_allowed"))
        h.run_certgate("cert", "edit", sha256, "--policy", self.policy, "--allow-ips", "127.0.0.0/8,::1")
        self.wait_for((200, None))
        h.run_certgate("cert", "edit", sha256, "--policy", self.policy, "--allow-ips", "10.9.0.0/16")
        self.wait_for((403, "ip_not_allowed"))
        h.run_certgate("cert", "edit", sha256, "--policy", self.policy, "--allow-ips", "")
        self.wait_for((200, None))


if __name__ == "__main__":
    unittest.main()
