"""Authorization through a running certgate (docs/policy.md), with real curl.

Certificates are made in the test: the harness's openssl CA (ClusterAdmin, Operator, a
ValidUser with ReadWrite on "hr" and ReadOnly on "catalog", unknown, expired,
not-yet-valid, an entry past its own "expires", an entry bound to other addresses) and a
CA made by `certgate ca init` whose `certgate cert client --policy` entry carries a pin:
a renewed certificate for the same key from the same CA is trusted through the pin, the
same key certified by another CA with the same name (different key id) is not.

Checked: status codes and the JSON error body for every denial reason, that denied
requests never reach the backend, that spoofed identity headers never reach it and the
injected ones are right, path normalization (400 / decoded and forwarded), Host vs SNI
(421), a peer outside allow_ips closed before the TLS handshake, audit mode on a route
and on the whole policy, and the access log (one JSON object per line).

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_authz
"""

import base64
import concurrent.futures
import json
import os
import re
import socket
import ssl
import unittest
import uuid

import certgate_harness as h
from certgate_harness import run_certgate

# --------------------------------------------------------------------------------------
# Local helpers (PKI beyond the harness's fixed set of clients)


def issue_client(pki, name, cn=None, start=None, end=None, key=None):
    """issue_client signs a clientAuth certificate with the harness CA (openssl ca, so
    that validity can be backdated) and registers it in pki.clients[name]."""
    d = pki.dir
    crt = os.path.join(d, "x-%s.crt" % name)
    csr = os.path.join(d, "x-%s.csr" % name)
    if key is None:
        key = os.path.join(d, "x-%s.key" % name)
        h.genkey(key)
    h.make_csr(key, "/O=certgate-tests/CN=%s" % (cn or name), csr)
    args = ["ca", "-batch", "-config", os.path.join(d, "ca.cnf"), "-cert", pki.ca.cert,
            "-keyfile", pki.ca.key, "-in", csr, "-out", crt, "-extensions", "client_ext",
            "-notext", "-utf8"]
    if start:
        args += ["-startdate", start]
    if end:
        args += ["-enddate", end]
    h._openssl(*args)
    c = h.Cert(name, crt, key)
    pki.clients[name] = c
    return c


_EXT = """[ e ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def sign_with(ca_dir, key, cn, out, workdir):
    """sign_with certifies |key| under the CA in |ca_dir| (ca.crt / ca.key, as written by
    `certgate ca init`) with openssl x509 -req; returns out."""
    csr = out + ".csr"
    ext = os.path.join(workdir, "client-ext.cnf")
    with open(ext, "w") as f:
        f.write(_EXT)
    h.make_csr(key, "/CN=%s" % cn, csr)
    h._openssl("x509", "-req", "-in", csr, "-CA", os.path.join(ca_dir, "ca.crt"),
               "-CAkey", os.path.join(ca_dir, "ca.key"), "-set_serial",
               "0x" + uuid.uuid4().hex, "-days", "30", "-sha256", "-extfile", ext,
               "-extensions", "e", "-out", out)
    return out


def parse_xfcc_element(value):
    """parse_xfcc_element splits one XFCC element into [(key, value)], honouring quoted
    strings with backslash escapes (Envoy's grammar)."""
    out = []
    i = 0
    n = len(value)
    while i < n:
        eq = value.index("=", i)
        key = value[i:eq]
        i = eq + 1
        if i < n and value[i] == '"':
            i += 1
            buf = []
            while True:
                c = value[i]
                if c == "\\":
                    buf.append(value[i + 1])
                    i += 2
                    continue
                if c == '"':
                    i += 1
                    break
                buf.append(c)
                i += 1
            val = "".join(buf)
        else:
            j = i
            while j < n and value[j] not in ";,":
                j += 1
            val = value[i:j]
            i = j
        out.append((key, val))
        if i < n:
            if value[i] != ";":
                raise ValueError("XFCC: unexpected %r at %d in %r" % (value[i], i, value))
            i += 1
    return out


# --------------------------------------------------------------------------------------
# Module fixture: one PKI for every class

PKI = None
TMP = None
PIN = {}  # "entry": the policy entry written by `certgate cert client`, paths of certs


def setUpModule():
    global PKI, TMP
    TMP = h.make_tempdir("certgate-authz-")
    unittest.addModuleCleanup(h.remove_tree, TMP)
    pki_dir = os.path.join(TMP, "pki")
    os.makedirs(pki_dir)
    PKI = h.make_pki(pki_dir)
    issue_client(PKI, "cluster")
    issue_client(PKI, "operator")
    issue_client(PKI, "hr")
    issue_client(PKI, "stale")
    issue_client(PKI, "ipbound")
    # No "/" in it: openssl's -subj would split there.
    issue_client(PKI, "quoted", cn='evil";By=spiffe:x,Hash=00;URI=y')
    # The harness's "expired" / "notyet" / "unknown" clients are used as they are.

    # A CA made by certgate itself, and a client registered with a pin by the CLI.
    cg = os.path.join(TMP, "cgpki")
    os.makedirs(cg)
    run_certgate("ca", "init", "--dir", os.path.join(cg, "ca"), "--name", "certgate pin CA")
    frag = os.path.join(cg, "fragment.json")
    run_certgate("cert", "client", "--ca", os.path.join(cg, "ca"), "--name", "Pinned",
                 "--clearance", "ValidUser", "--db", "hr=ReadOnly", "--password", "pw-123456",
                 "--out", os.path.join(cg, "pinned"), "--policy", frag)
    with open(frag) as f:
        entries = json.load(f)["certificates"]
    assert len(entries) == 1 and entries[0].get("pins"), entries
    PIN["entry"] = entries[0]
    key = os.path.join(cg, "pinned", "tls.key")
    PKI.clients["pinned"] = h.Cert("pinned", os.path.join(cg, "pinned", "tls.crt"), key)
    # Renewed: a new certificate for the same key from the same CA.
    renewed = sign_with(os.path.join(cg, "ca"), key, "Pinned",
                        os.path.join(cg, "renewed.crt"), cg)
    PKI.clients["renewed"] = h.Cert("renewed", renewed, key)
    # The same key under another CA that has the same name (so another key id).
    run_certgate("ca", "init", "--dir", os.path.join(cg, "evilca"), "--name",
                 "certgate pin CA")
    evil = sign_with(os.path.join(cg, "evilca"), key, "Pinned",
                     os.path.join(cg, "evil.crt"), cg)
    PKI.clients["evil"] = h.Cert("evil", evil, key)


ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


def ravendb_policy(pki, **over):
    c = pki.clients
    p = {
        "allow_ips": ["127.0.0.1", "::1"],
        "routes": [
            {"path": "/admin/cluster/*", "require": "ClusterAdmin"},
            {"path": "/admin/*", "require": "Operator"},
            {"path": "/databases/{db}/admin/*", "require": "Admin"},
            {"path": "/databases/{db}/*", "methods": ["GET", "HEAD"], "require": "ReadOnly"},
            {"path": "/databases/{db}/*", "require": "ReadWrite"},
            {"path": "/query", "database_from_query": "db", "require": "ReadOnly"},
            {"path": "/healthz", "require": "Public"},
            {"path": "/audited/*", "require": "ClusterAdmin", "mode": "audit"},
            {"path": "/forbidden/*", "require": "Deny"},
            # No TRACE: a TRACE request matches no route at all.
            {"path": "/*", "methods": ALL_METHODS, "require": "Authenticated"},
        ],
        "headers": {"xfcc": True},
        "certificates": [
            {"name": "Cluster Admin", "thumbprints": [c["cluster"].sha1],
             "clearance": "ClusterAdmin"},
            # SHA-256, lower case, with colons: any thumbprint spelling registers.
            {"name": "Operator", "thumbprints": [":".join(
                c["operator"].sha256.lower()[i:i + 2] for i in range(0, 64, 2))],
             "clearance": "Operator"},
            {"name": "HR app", "thumbprints": [c["hr"].sha1], "clearance": "ValidUser",
             "databases": {"hr": "ReadWrite", "catalog": "ReadOnly"}},
            {"name": "expired", "thumbprints": [c["expired"].sha1],
             "clearance": "ClusterAdmin"},
            {"name": "notyet", "thumbprints": [c["notyet"].sha1],
             "clearance": "ClusterAdmin"},
            {"name": "stale", "thumbprints": [c["stale"].sha1], "clearance": "ClusterAdmin",
             "expires": "2020-01-01T00:00:00Z"},
            {"name": "ipbound", "thumbprints": [c["ipbound"].sha1],
             "clearance": "ClusterAdmin", "allow_ips": ["10.1.0.0/16"]},
            {"name": "quoted", "thumbprints": [c["quoted"].sha1], "clearance": "ValidUser",
             "databases": {"hr": "ReadOnly"}},
            PIN["entry"],
        ],
    }
    p.update(over)
    return p


class _Base(unittest.TestCase):
    POLICY_OVERRIDES = {}
    NAME = "certgate"

    @classmethod
    def setUpClass(cls):
        cls.pki = PKI
        cls.tmp = h.make_tempdir("certgate-authz-%s-" % cls.NAME)
        cls.addClassCleanup(h.remove_tree, cls.tmp)
        cls.backend = h.Backend(cls.tmp)
        cls.addClassCleanup(cls.backend.kill)
        cls.backend.start()
        cls.cg = h.start_certgate(cls.tmp, cls.pki, [cls.backend.port],
                                  policy=ravendb_policy(cls.pki, **cls.POLICY_OVERRIDES))
        cls.addClassCleanup(cls.cg.kill)
        cls.port = cls.cg.port

    def url(self, path, host="localhost"):
        return "https://%s:%d%s" % (host, self.port, path)

    def curl(self, client, method, path, extra=()):
        args = ["-X", method] if method not in ("GET", "HEAD") else (
            ["-I"] if method == "HEAD" else [])
        return h.curl(self.pki, list(args) + list(extra) + ["--path-as-is", self.url(path)],
                      client=client, tmpdir=self.tmp, timeout=20)

    def request(self, client, method, target, headers=(), **kw):
        return h.https_request(self.port, self.pki, method, target, client=client,
                               headers=headers, **kw)

    def assertDenied(self, r, status, reason, what=""):
        """r: CurlResult or Response. Checks the JSON error body of docs/policy.md "Errors"."""
        self.assertEqual(r.status, status, "%s: %r" % (what, r))
        body = json.loads(r.body)
        self.assertEqual(set(body), {"error", "reason", "request_id"}, body)
        self.assertEqual(body["error"], {403: "forbidden", 400: "bad_request",
                                         421: "misdirected_request"}[status], body)
        self.assertEqual(body["reason"], reason, "%s: %r" % (what, body))
        self.assertRegex(body["request_id"], r"^[0-9A-Za-z_-]{8,}$")
        return body

    def backend_targets(self):
        return self.backend.requests()

    def log_entries(self, pred, what, timeout=5.0):
        """log_entries waits until at least one access-log entry satisfies pred."""
        ents = self.cg.wait_access_log(lambda es: [e for e in es if pred(e)], timeout,
                                       what)
        return [e for e in ents if pred(e)]


# --------------------------------------------------------------------------------------


class RavenDbPolicyTest(_Base):
    NAME = "ravendb"

    # (client, method, path, status, reason or None for allowed, database access header)
    MATRIX = [
        # ClusterAdmin: everything.
        ("cluster", "GET", "/admin/cluster/topology", 200, None, None),
        ("cluster", "POST", "/admin/databases", 200, None, None),
        ("cluster", "DELETE", "/databases/payroll/admin/indexes", 200, None, "Admin"),
        ("cluster", "PUT", "/databases/hr/docs/1", 200, None, "Admin"),
        ("cluster", "GET", "/query?db=payroll", 200, None, "Admin"),
        # Operator: not cluster operations, Admin on every database.
        ("operator", "GET", "/admin/cluster/topology", 403, "insufficient_clearance", None),
        ("operator", "POST", "/admin/databases", 200, None, None),
        ("operator", "PUT", "/databases/payroll/admin/indexes", 200, None, "Admin"),
        ("operator", "PUT", "/databases/hr/docs/1", 200, None, "Admin"),
        ("operator", "GET", "/other/thing", 200, None, None),
        # ValidUser: hr ReadWrite, catalog ReadOnly, nothing else.
        ("hr", "GET", "/admin/cluster/topology", 403, "insufficient_clearance", None),
        ("hr", "GET", "/admin/stats", 403, "insufficient_clearance", None),
        ("hr", "GET", "/databases/hr/admin/indexes", 403, "insufficient_clearance", None),
        ("hr", "GET", "/databases/hr/docs/1", 200, None, "ReadWrite"),
        ("hr", "HEAD", "/databases/hr/docs/1", 200, None, "ReadWrite"),
        ("hr", "PUT", "/databases/hr/docs/1", 200, None, "ReadWrite"),
        ("hr", "DELETE", "/databases/hr/docs/1", 200, None, "ReadWrite"),
        ("hr", "GET", "/databases/catalog/docs/1", 200, None, "ReadOnly"),
        ("hr", "PUT", "/databases/catalog/docs/1", 403, "insufficient_clearance", None),
        ("hr", "GET", "/databases/payroll/docs/1", 403, "database_not_allowed", None),
        # Database names compare case-insensitively (RavenDB's rule).
        ("hr", "GET", "/databases/HR/docs/1", 200, None, "ReadWrite"),
        ("hr", "PUT", "/databases/Catalog/docs/1", 403, "insufficient_clearance", None),
        ("hr", "GET", "/query?db=catalog&q=from%20Orders", 200, None, "ReadOnly"),
        ("hr", "GET", "/query?db=payroll", 403, "database_not_allowed", None),
        ("hr", "GET", "/query", 403, "database_not_allowed", None),
        ("hr", "GET", "/query?db=catalog&db=payroll", 400, "bad_path", None),
        ("hr", "GET", "/healthz", 200, None, None),
        ("hr", "GET", "/studio/index.html", 200, None, None),
        # Certificate problems.
        ("unknown", "GET", "/studio/index.html", 403, "unknown_certificate", None),
        ("unknown", "GET", "/healthz", 200, None, None),
        (None, "GET", "/studio/index.html", 403, "no_certificate", None),
        (None, "GET", "/healthz", 200, None, None),
        ("expired", "GET", "/studio/index.html", 403, "certificate_expired", None),
        ("notyet", "GET", "/studio/index.html", 403, "certificate_not_yet_valid", None),
        ("stale", "GET", "/studio/index.html", 403, "certificate_expired", None),
        ("ipbound", "GET", "/studio/index.html", 403, "ip_not_allowed", None),
        # Routes.
        ("cluster", "GET", "/forbidden/x", 403, "route_denied", None),
        ("cluster", "TRACE", "/studio/index.html", 403, "no_matching_route", None),
        # Pins: renewed with the same key from the same CA, and the same key elsewhere.
        ("pinned", "GET", "/databases/hr/docs/1", 200, None, "ReadOnly"),
        ("renewed", "GET", "/databases/hr/docs/1", 200, None, "ReadOnly"),
        ("renewed", "PUT", "/databases/hr/docs/1", 403, "insufficient_clearance", None),
        ("evil", "GET", "/databases/hr/docs/1", 403, "unknown_certificate", None),
    ]

    NAMES = {"cluster": ("Cluster Admin", "ClusterAdmin"), "operator": ("Operator", "Operator"),
             "hr": ("HR app", "ValidUser"), "pinned": ("Pinned", "ValidUser"),
             "renewed": ("Pinned", "ValidUser")}

    def test_clearance_matrix_with_curl(self):
        marker = uuid.uuid4().hex[:10]

        def one(i, case):
            client, method, path, status, reason, access = case
            sep = "&" if "?" in path else "?"
            target = "%s%sm=%s-%d" % (path, sep, marker, i)
            return case, target, self.curl(client, method, target)

        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            results = list(ex.map(lambda a: one(*a), enumerate(self.MATRIX)))
        failures = []
        denied_targets, allowed_targets = [], []
        ids = {}
        for case, target, r in results:
            client, method, path, status, reason, access = case
            what = "%s %s %s" % (client, method, target)
            if r.rc != 0 or r.status != status:
                failures.append("%s: expected %d, got rc=%s status=%s body=%r stderr=%r" % (
                    what, status, r.rc, r.status, (r.body or b"")[:200], r.stderr[-200:]))
                continue
            if reason is not None:
                try:
                    body = self.assertDenied(r, status, reason, what)
                    ids[body["request_id"]] = (case, target)
                except AssertionError as e:
                    failures.append("%s: %s" % (what, e))
                denied_targets.append(target)
                continue
            allowed_targets.append(target)
            if method == "HEAD":
                continue
            e = r.json()
            # Forwarded exactly as authorized (the normalized path plus the query).
            if e["target"] != target:
                failures.append("%s: backend got target %r" % (what, e["target"]))
            want_db = [access] if access else []
            got_db = h.echoed_headers(e, "X-Client-Database-Access")
            if got_db != want_db:
                failures.append("%s: X-Client-Database-Access %r, want %r" % (
                    what, got_db, want_db))
            if client in self.NAMES and path != "/healthz":
                name, clearance = self.NAMES[client]
                got = (h.echoed_headers(e, "X-Client-Name"), h.echoed_headers(e, "X-Client-Clearance"),
                       h.echoed_headers(e, "X-Client-Cert-Thumbprint"))
                want = ([name], [clearance], [self.pki.clients[client].sha1])
                if got != want:
                    failures.append("%s: identity headers %r, want %r" % (what, got, want))
            if client in (None, "unknown") and h.echoed_headers(e, "X-Client-Name"):
                failures.append("%s: anonymous request got identity %r" % (
                    what, h.echoed_headers(e, "X-Client-Name")))
        self.assertEqual(failures, [], "\n".join(failures))

        # Denied requests never reached the database; allowed ones did.
        seen = self.backend_targets()
        leaked = [t for t in seen if any(t == d for d in denied_targets)]
        self.assertEqual(leaked, [], "denied requests reached the backend")
        for t in allowed_targets:
            self.assertIn(t, seen)

        # The access log has each denial with the same request id and reason.
        entries = self.log_entries(lambda e: e.get("request_id") in ids,
                                   "access-log lines for the denials")
        want_n = len(ids)
        entries = self.cg.wait_access_log(
            lambda es: len([e for e in es if e.get("request_id") in ids]) >= want_n, 5.0,
            "all %d denials in the access log" % want_n)
        for e in entries:
            if e.get("request_id") not in ids:
                continue
            case, target = ids[e["request_id"]]
            self.assertEqual(e["decision"], "deny", e)
            self.assertEqual(e["reason"], case[4], e)
            self.assertEqual(e["status"], case[3], e)
        # Renewed certificate: matched by its pin, logged with the entry's name.
        pinned = [e for e in self.cg.access_log()
                  if e.get("thumbprint") == self.pki.clients["renewed"].sha1 and
                  e.get("decision") == "allow"]
        self.assertTrue(pinned, "no allowed access-log line for the renewed certificate")
        self.assertEqual({e.get("matched_by") for e in pinned}, {"pin"}, pinned)
        self.assertEqual({e.get("cert_name") for e in pinned}, {"Pinned"}, pinned)

    def test_spoofed_identity_headers_are_stripped(self):
        spoof = [
            ("X-Client-Cert-Thumbprint", "0000000000000000000000000000000000000000"),
            ("x-client-cert-thumbprint", "1111"),
            ("X-CLIENT-NAME", "Cluster Admin"),
            ("x-Client-Name", "root"),
            ("X-Client-Clearance", "ClusterAdmin"),
            ("x-client-clearance", "Operator"),
            ("X-Client-Database-Access", "Admin"),
            ("X-CLIENT-DATABASE-ACCESS", "Admin"),
            ("Client-Cert", ":AAAA:"),
            ("client-cert", ":BBBB:"),
            ("X-Forwarded-Client-Cert", 'Hash=00;Subject="CN=root"'),
            ("x-forwarded-client-cert", "By=spiffe://evil"),
            ("X-Forwarded-For", "10.1.2.3"),
            ("x-forwarded-for", "10.9.9.9, 127.0.0.1"),
            ("X-Forwarded-Proto", "http"),
            ("X-Forwarded-Host", "evil.example"),
            ("Forwarded", "for=10.1.2.3"),
            ("X-Unrelated", "kept"),
        ]
        marker = "/databases/hr/docs/spoof-" + uuid.uuid4().hex[:8]
        r = self.request("hr", "GET", marker, headers=spoof)
        self.assertEqual(r.status, 200, r)
        e = r.json()
        c = self.pki.clients["hr"]
        self.assertEqual(h.echoed_headers(e, "X-Client-Cert-Thumbprint"), [c.sha1], e["headers"])
        self.assertRegex(c.sha1, r"^[0-9A-F]{40}$")
        self.assertEqual(h.echoed_headers(e, "X-Client-Name"), ["HR app"], e["headers"])
        self.assertEqual(h.echoed_headers(e, "X-Client-Clearance"), ["ValidUser"], e["headers"])
        self.assertEqual(h.echoed_headers(e, "X-Client-Database-Access"), ["ReadWrite"], e["headers"])
        self.assertEqual(h.echoed_headers(e, "Client-Cert"),
                         [":%s:" % base64.b64encode(c.der).decode()], e["headers"])
        self.assertEqual(h.echoed_headers(e, "X-Forwarded-For"), ["127.0.0.1"], e["headers"])
        self.assertEqual(h.echoed_headers(e, "X-Forwarded-Proto"), ["https"], e["headers"])
        self.assertEqual(h.echoed_headers(e, "X-Forwarded-Host"), ["localhost:%d" % self.port])
        self.assertEqual(h.echoed_headers(e, "Forwarded"), [], e["headers"])
        self.assertEqual(h.echoed_headers(e, "X-Unrelated"), ["kept"])
        xfcc = h.echoed_headers(e, "X-Forwarded-Client-Cert")
        self.assertEqual(len(xfcc), 1, e["headers"])
        self.assertTrue(xfcc[0].startswith("Hash=%s" % c.sha256.lower()), xfcc)
        # None of the client's values survived anywhere.
        for name, value in spoof:
            if name.lower() in ("x-unrelated",):
                continue
            for n, v in e["headers"]:
                self.assertNotEqual(v, value, "spoofed %s: %s reached the backend as %s" % (
                    name, value, n))

        # Spoofed headers on a Public route with no certificate: nothing claims identity.
        r = self.request(None, "GET", "/healthz", headers=spoof)
        self.assertEqual(r.status, 200, r)
        e = r.json()
        for name in ("X-Client-Cert-Thumbprint", "X-Client-Name", "X-Client-Clearance",
                     "X-Client-Database-Access", "Client-Cert", "X-Forwarded-Client-Cert"):
            self.assertEqual(h.echoed_headers(e, name), [], "%s reached the backend: %r" % (
                name, e["headers"]))
        self.assertEqual(h.echoed_headers(e, "X-Forwarded-For"), ["127.0.0.1"])

    def test_spoofed_headers_with_curl(self):
        r = self.curl("operator", "GET", "/databases/x/docs", extra=[
            "-H", "X-Client-Name: Cluster Admin", "-H", "X-Client-Clearance: ClusterAdmin",
            "-H", "x-client-cert-thumbprint: %s" % self.pki.clients["cluster"].sha1])
        self.assertEqual(r.status, 200, r)
        e = r.json()
        self.assertEqual(h.echoed_headers(e, "X-Client-Name"), ["Operator"], e["headers"])
        self.assertEqual(h.echoed_headers(e, "X-Client-Clearance"), ["Operator"], e["headers"])
        self.assertEqual(h.echoed_headers(e, "X-Client-Cert-Thumbprint"),
                         [self.pki.clients["operator"].sha1], e["headers"])
        self.assertEqual(h.echoed_headers(e, "X-Client-Database-Access"), ["Admin"], e["headers"])

    def test_xfcc_subject_cannot_inject_fields(self):
        c = self.pki.clients["quoted"]
        r = self.request("quoted", "GET", "/databases/hr/docs/q")
        self.assertEqual(r.status, 200, r)
        e = r.json()
        xfcc = h.echoed_headers(e, "X-Forwarded-Client-Cert")
        self.assertEqual(len(xfcc), 1, e["headers"])
        fields = parse_xfcc_element(xfcc[0])
        keys = [k for k, _ in fields]
        self.assertEqual(keys, ["Hash", "Subject"], xfcc)
        self.assertEqual(fields[0][1], c.sha256.lower())
        # The Subject is RFC 4514 text (its own backslash escapes) inside the quotes.
        subject = re.sub(r"\\(.)", r"\1", fields[1][1])
        self.assertIn('CN=evil";By=spiffe:x,Hash=00;URI=y', subject, xfcc)

    def test_path_normalization(self):
        marker = uuid.uuid4().hex[:8]
        bad = [
            "/databases/hr/%2e%2e/payroll/docs-{m}",
            "/databases/hr/%2E%2E/%2e%2e/admin/cluster/x-{m}",
            "/databases/hr%2Fdocs/x-{m}",
            "/databases/hr%2fdocs/x-{m}",
            "/databases//hr/docs/x-{m}",
            "//admin/cluster/x-{m}",
            "/databases/./hr/docs/x-{m}",
            "/databases/hr/docs/../../payroll/x-{m}",
            "/databases/hr/docs/%2e/x-{m}",
            "/databases/hr/docs/%5c..%5cx-{m}",
            "/databases/hr/docs/%00x-{m}",
            "/databases/hr/docs/x-{m}/.",
            "/databases/hr/docs/x-{m}/..",
        ]
        for t in bad:
            target = t.format(m=marker)
            r = self.request("cluster", "GET", target)
            self.assertDenied(r, 400, "bad_path", target)
        # With curl too (--path-as-is keeps the dot segments).
        r = self.curl("cluster", "GET", "/databases/hr/../../admin/x-%s" % marker)
        self.assertDenied(r, 400, "bad_path", "curl dot segments")

        # Unreserved escapes are decoded, matched decoded and forwarded decoded.
        r = self.request("hr", "GET", "/databases/p%61yroll/docs/%41bc-" + marker)
        self.assertDenied(r, 403, "database_not_allowed", "p%61yroll")
        r = self.request("hr", "GET", "/databases/%68r/docs/%41bc-" + marker + "?x=%41")
        self.assertEqual(r.status, 200, r)
        e = r.json()
        self.assertEqual(e["target"], "/databases/hr/docs/Abc-" + marker + "?x=%41")
        self.assertEqual(h.echoed_headers(e, "X-Client-Database-Access"), ["ReadWrite"])
        # An escaped route prefix is matched after decoding: no way around /admin/.
        r = self.request("hr", "GET", "/%61dmin/cluster/x-" + marker)
        self.assertDenied(r, 403, "insufficient_clearance", "%61dmin")
        r = self.request("hr", "PUT", "/databases/c%61talog/docs/x-" + marker)
        self.assertDenied(r, 403, "insufficient_clearance", "c%61talog PUT")
        # The query string is never matched as a path.
        r = self.request("hr", "GET", "/studio/x-%s?p=/admin/cluster/x" % marker)
        self.assertEqual(r.status, 200, r)
        leaked = [t for t in self.backend_targets() if marker in t and (
            "payroll" in t or "admin" in t.split("?")[0] or ".." in t or "%2" in t.lower()
            or "//" in t or "/./" in t)]
        self.assertEqual(leaked, [], "refused paths reached the backend")

    def test_host_must_match_sni(self):
        denied = "/studio/sni-" + uuid.uuid4().hex[:8]
        r = self.request("cluster", "GET", denied, host_header="other.example")
        self.assertDenied(r, 421, "misdirected", "Host other.example")
        r = self.request("cluster", "GET", denied,
                         host_header="rsa.test:%d" % self.port)
        self.assertDenied(r, 421, "misdirected", "Host rsa.test")
        # Same name: any letter case, with or without port / trailing dot.
        for host in ("LocalHost:%d" % self.port, "localhost", "localhost.:%d" % self.port):
            r = self.request("cluster", "GET", "/studio/sni", host_header=host)
            self.assertEqual(r.status, 200, "%s: %r" % (host, r))
        # curl: SNI rsa.test (resolved to 127.0.0.1), Host header localhost.
        r = h.curl(self.pki, ["-k", "-H", "Host: localhost:%d" % self.port,
                              self.url(denied, host="rsa.test")],
                   client="cluster", tmpdir=self.tmp, timeout=20)
        self.assertDenied(r, 421, "misdirected", "curl SNI rsa.test Host localhost")
        self.assertNotIn(denied, self.backend_targets())

    def test_route_audit_mode(self):
        target = "/audited/x-%s" % uuid.uuid4().hex[:8]
        r = self.curl("hr", "GET", target)
        self.assertEqual(r.status, 200, r)
        e = r.json()
        self.assertEqual(e["target"], target)
        ents = self.log_entries(lambda e: e.get("path") == target, "audit line")
        self.assertEqual(ents[0]["decision"], "audit", ents)
        self.assertEqual(ents[0]["reason"], "insufficient_clearance", ents)
        # A bad path is never "audited" through.
        r = self.request("hr", "GET", "/audited/../admin/cluster/x")
        self.assertDenied(r, 400, "bad_path", "audited bad path")

    def test_denied_request_with_body_never_reaches_backend(self):
        marker = uuid.uuid4().hex[:8]
        body = b"{\"doc\": 1}" * 100
        s = h.tls_connect(self.port, h.client_context(self.pki, "hr"))
        try:
            s.sendall(h.request_bytes("PUT", "/databases/catalog/docs/%s" % marker,
                                      "localhost:%d" % self.port, [], body))
            rd = h.ResponseReader(s, 10)
            r = rd.read()
            self.assertDenied(r, 403, "insufficient_clearance", "PUT catalog")
        finally:
            s.close()
        self.assertFalse([t for t in self.backend_targets() if marker in t])

    def test_access_log_lines_are_json(self):
        self.curl("cluster", "GET", "/studio/log-check")
        self.curl("unknown", "GET", "/studio/log-check-denied")
        self.log_entries(lambda e: e.get("path") == "/studio/log-check-denied", "log line")
        entries = self.cg.access_log()
        self.assertTrue(entries)
        bad = [e for e in entries if "_unparsed" in e]
        self.assertEqual(bad, [], "access-log lines that are not JSON")
        for e in entries:
            for k in ("decision", "reason", "policy_generation", "time", "client",
                      "client_port", "status"):
                self.assertIn(k, e, e)
            self.assertIsInstance(e["client_port"], int, e)
            self.assertTrue(0 < e["client_port"] < 65536, e)
            self.assertIn(e["decision"], ("allow", "deny", "audit", "none"), e)
            self.assertIsInstance(e["policy_generation"], int, e)
        reqs = [e for e in entries if e.get("path") in ("/studio/log-check",
                                                        "/studio/log-check-denied")]
        got = sorted((e["path"], e["decision"], e["reason"]) for e in reqs)
        self.assertEqual(len(got), 2, got)
        self.assertEqual(got[0][:2], ("/studio/log-check", "allow"), got)
        self.assertIn(got[0][2], ("", "ok"), got)
        self.assertEqual(got[1], ("/studio/log-check-denied", "deny", "unknown_certificate"))
        for e in reqs:
            self.assertGreaterEqual(e["policy_generation"], 1, e)


class AllowIpsTest(_Base):
    """The policy admits only 10.0.0.0/8: loopback peers are closed before TLS."""
    NAME = "allowips"
    POLICY_OVERRIDES = {"allow_ips": ["10.0.0.0/8"]}

    def test_raw_tcp_closed_without_a_byte(self):
        for host in ("127.0.0.1", "::1"):
            fam = socket.AF_INET6 if ":" in host else socket.AF_INET
            with socket.socket(fam, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect((host, self.port))
                try:
                    data = s.recv(100)
                except ConnectionResetError:
                    data = b""
                self.assertEqual(data, b"", "%s: server sent %r" % (host, data))

    def test_python_ssl_gets_eof(self):
        ctx = h.client_context(self.pki, "cluster")
        with self.assertRaises((ssl.SSLError, ConnectionResetError, BrokenPipeError,
                                ConnectionAbortedError)) as cm:
            s = h.tls_connect(self.port, ctx, timeout=5)
            s.close()
        self.assertNotIsInstance(cm.exception, ssl.SSLCertVerificationError)

    def test_openssl_s_client_sees_no_certificate(self):
        p = h.s_client(self.port, self.pki, client=None)
        out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
        self.assertNotEqual(p.returncode, 0, out)
        self.assertIn("no peer certificate available", out)
        self.assertNotIn("BEGIN CERTIFICATE", out)

    def test_refusal_is_logged(self):
        # Other tests of this class also get refused (over IPv4 and IPv6): the client
        # port tells this connection's line apart.
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            port = s.getsockname()[1]
            s.recv(1)
        ents = self.log_entries(lambda e: e.get("client_port") == port and
                                e.get("client") == "127.0.0.1",
                                "access-log line for the refused connection")
        # (An earlier test's connection could have had the same port: the last line.)
        self.assertEqual(ents[-1]["decision"], "deny", ents[-1])
        self.assertEqual(ents[-1]["reason"], "ip_not_allowed", ents[-1])
        self.assertEqual(ents[-1]["status"], 0, ents[-1])
        self.assertEqual([t for t in self.backend_targets() if t != "/_requests"], [])


class AuditPolicyTest(_Base):
    """"mode": "audit" on the whole policy: would-be denials pass and are logged."""
    NAME = "audit"
    POLICY_OVERRIDES = {"mode": "audit"}

    def test_would_be_denials_pass(self):
        cases = [("unknown", "GET", "/studio/a", "unknown_certificate"),
                 (None, "GET", "/studio/b", "no_certificate"),
                 ("hr", "GET", "/admin/cluster/c", "insufficient_clearance"),
                 ("hr", "GET", "/databases/payroll/d", "database_not_allowed"),
                 ("expired", "GET", "/studio/e", "certificate_expired"),
                 ("cluster", "GET", "/forbidden/f", "route_denied")]
        for client, method, path, reason in cases:
            r = self.curl(client, method, path)
            self.assertEqual(r.status, 200, "%s %s: %r" % (client, path, r))
            self.assertEqual(r.json()["target"], path)
        for client, method, path, reason in cases:
            ents = self.log_entries(lambda e, p=path: e.get("path") == p, path)
            self.assertEqual((ents[0]["decision"], ents[0]["reason"]), ("audit", reason),
                             ents[0])
        # An audited request with a certificate that would be refused gets no identity.
        r = self.request("unknown", "GET", "/studio/g")
        self.assertEqual(h.echoed_headers(r.json(), "X-Client-Name"), [])
        # Never audited: malformed paths and misdirected requests.
        r = self.request("cluster", "GET", "/a/%2e%2e/b")
        self.assertDenied(r, 400, "bad_path")
        r = self.request("cluster", "GET", "/studio/h", host_header="other.example")
        self.assertDenied(r, 421, "misdirected")


if __name__ == "__main__":
    unittest.main()
