"""Regression tests for three request-normalization holes, each of which let a client
make the database read something other than what certgate authorized. Every test here
failed on the binary before the fix:

- underscore spellings: X_Client_Clearance, X-Client_Clearance and x_forwarded_for
  reached the database, where CGI, WSGI, PHP and Rack read them as the real identity
  headers; now every '_' spelling of an owned header is stripped, and by default
  (listener "underscores_in_headers": "drop") every field whose name holds '_' is
  dropped, over HTTP/1.1 and HTTP/2;
- database_from_query spellings: ?db=allowed&DB=forbidden, ?db=allowed&+db=forbidden,
  ?db[]=forbidden&db=allowed and ?db+=forbidden&db=allowed were authorized as
  "allowed" and forwarded; now any second key naming the parameter is a 400;
- ambiguous paths: with /secret/* denied, /secret;x/y, /public/..;/secret/x,
  /secret./x, /secret%20/x, /public/%252e%252e/secret/x and /%2573ecret/x were
  forwarded; now they are a 400 and the database gets nothing. The listener options
  "path_semicolons" and "path_encoded_percent" let ';' and %25 through only where every
  reading of the path reaches the same route.

The database is the echo backend: what it reports having received is the proof. The
policy of the query tests is the InfluxDB preset (conf/policies/influxdb.json) with
two certificates registered.

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_request_normalization
"""

import json
import os
import unittest
import uuid

import certgate_harness as h
from test_h2_proxy import h2_request

REPO = os.path.normpath(os.path.join(h.HERE, "..", ".."))

PATH_ROUTES = [
    {"path": "/secret/*", "require": "Deny"},
    {"path": "/public/*", "require": "Public"},
    {"path": "/db/{db}/*", "require": "ReadOnly"},
    {"path": "/*", "require": "Authenticated"},
]


def path_policy(pki):
    p = h.default_policy(pki)
    p["routes"] = PATH_ROUTES
    return p


def influxdb_policy(pki):
    """influxdb_policy is the InfluxDB preset with reader (ReadOnly on db1) and writer
    (ReadWrite on db1) registered."""
    with open(os.path.join(REPO, "conf", "policies", "influxdb.json")) as f:
        p = json.load(f)
    c = pki.clients
    p["certificates"] = [
        {"name": "reader", "thumbprints": [c["reader"].sha1], "clearance": "ValidUser",
         "databases": {"db1": "ReadOnly"}},
        {"name": "writer", "thumbprints": [c["writer"].sha1], "clearance": "ValidUser",
         "databases": {"db1": "ReadWrite"}},
    ]
    return p


def names_of(echo):
    return [k for k, _ in echo["headers"]]


class _Base(unittest.TestCase):
    LISTENER = {}
    POLICY = staticmethod(path_policy)
    NAME = "reqnorm"

    @classmethod
    def setUpClass(cls):
        h.set_up_testbed(cls, prefix="certgate-%s-" % cls.NAME)
        listener = {"alpn": ["h2", "http/1.1"]}
        listener.update(cls.LISTENER)
        cls.cg = h.start_certgate(cls.tmp, cls.pki, [cls.backend.port],
                                  policy=cls.POLICY(cls.pki), listener=listener)
        cls.addClassCleanup(cls.cg.kill)
        cls.port = cls.cg.port

    def marker(self):
        return uuid.uuid4().hex[:10]

    def h1(self, method, target, client="admin", headers=()):
        return h.https_request(self.port, self.pki, method, target, client=client,
                               headers=headers)

    def h2(self, target, client="admin", method="GET", headers=()):
        """h2 returns (status, response headers, body) over HTTP/2 (python-h2)."""
        status, rh, body, _ = h2_request(self.port, self.pki, target, client=client,
                                         method=method, headers=headers)
        return status, rh, body

    def curl(self, target, client="admin", http="1.1", extra=()):
        return h.curl(self.pki, list(extra) + ["--path-as-is", "--globoff",
                                               "https://localhost:%d%s" % (self.port, target)],
                      client=client, http=http, tmpdir=self.tmp, timeout=20)

    def assertBadRequest(self, status, body, what):
        self.assertEqual(status, 400, "%s: %r" % (what, body[:300]))
        self.assertEqual(json.loads(body)["reason"], "bad_path", what)

    def assertNotForwarded(self, marker):
        got = [t for t in self.backend.requests() if marker in t]
        self.assertEqual(got, [], "refused requests reached the database")


# --------------------------------------------------------------------------------------
# Item: underscore spellings of owned headers


SPOOF_H1 = [
    ("X_Client_Clearance", "ClusterAdmin"),
    ("X-Client_Clearance", "ClusterAdmin"),
    ("x_client-clearance", "Operator"),
    ("X_Client_Name", "admin"),
    ("X_Client_Cert_Thumbprint", "00" * 20),
    ("X_Client_Database_Access", "Admin"),
    ("Client_Cert", ":AAAA:"),
    ("X_Forwarded_Client_Cert", "Hash=00"),
    ("x_forwarded_for", "10.9.9.9"),
    ("X_Forwarded_Proto", "http"),
    ("X_Forwarded_Host", "evil.example"),
    ("X_Real_IP", "10.9.9.9"),
]

SPOOF_H2 = [(n.lower(), v) for n, v in SPOOF_H1]


class UnderscoreHeadersDropped(_Base):
    """Default listener: every field with '_' is dropped, owned ones in any spelling."""

    NAME = "underscores-drop"

    def check_identity(self, echo):
        # The reader's own identity, once each; nothing the client sent.
        self.assertEqual(h.echoed_headers(echo, "X-Client-Clearance"), ["ValidUser"], echo["headers"])
        self.assertEqual(h.echoed_headers(echo, "X-Client-Name"), ["reader"], echo["headers"])
        self.assertEqual(h.echoed_headers(echo, "X-Forwarded-For"), ["127.0.0.1"], echo["headers"])
        self.assertEqual(h.echoed_headers(echo, "X-Forwarded-Proto"), ["https"], echo["headers"])
        under = [n for n in names_of(echo) if "_" in n]
        self.assertEqual(under, [], "fields with '_' reached the database: %r" % under)
        for name, value in SPOOF_H1:
            for n, v in echo["headers"]:
                self.assertNotEqual(v, value, "spoofed %s reached the database as %s: %s"
                                    % (name, n, v))

    def test_h1_raw_socket(self):
        r = self.h1("GET", "/whoami-" + self.marker(), client="reader",
                    headers=SPOOF_H1 + [("X_Custom", "dropped"), ("X-Custom-Dash", "kept")])
        self.assertEqual(r.status, 200, r)
        echo = r.json()
        self.check_identity(echo)
        self.assertEqual(h.echoed_headers(echo, "X-Custom-Dash"), ["kept"])

    def test_h1_curl(self):
        r = self.curl("/whoami-curl", client="reader", extra=[
            "-H", "X_Client_Clearance: ClusterAdmin", "-H", "x_forwarded_for: 10.9.9.9",
            "-H", "X_Custom: dropped"])
        self.assertEqual(r.status, 200, r)
        self.check_identity(r.json())

    def test_h2(self):
        status, _, body = self.h2("/whoami-h2-" + self.marker(), client="reader",
                                  headers=SPOOF_H2 + [("x_custom", "dropped"),
                                                      ("x-custom-dash", "kept")])
        self.assertEqual(status, 200, body)
        echo = json.loads(body)
        self.check_identity(echo)
        self.assertEqual(h.echoed_headers(echo, "x-custom-dash"), ["kept"])


# '_' spellings of framing and hop-by-hop fields: dropped even with "keep".
FRAMING_H1 = [("Transfer_Encoding", "chunked"), ("Content_Length", "5"), ("Keep_Alive", "1"),
              ("Proxy_Connection", "keep-alive")]


class UnderscoreHeadersKept(_Base):
    """"underscores_in_headers": "keep": other fields with '_' pass, owned ones and
    framing ones never."""

    NAME = "underscores-keep"
    LISTENER = {"underscores_in_headers": "keep"}

    def test_h1_keeps_others_strips_owned(self):
        r = self.h1("GET", "/whoami-keep", client="reader",
                    headers=SPOOF_H1 + FRAMING_H1 + [("X_Custom", "kept")])
        self.assertEqual(r.status, 200, r)
        echo = r.json()
        self.assertEqual(h.echoed_headers(echo, "X_Custom"), ["kept"], echo["headers"])
        self.assertEqual([n for n in names_of(echo) if "_" in n], ["X_Custom"], echo["headers"])
        self.assertEqual(h.echoed_headers(echo, "X-Client-Clearance"), ["ValidUser"])
        self.assertEqual(h.echoed_headers(echo, "X-Forwarded-For"), ["127.0.0.1"])

    def test_h2_keeps_others_strips_owned(self):
        framing = [(n.lower(), v) for n, v in FRAMING_H1]
        status, _, body = self.h2("/whoami-keep-h2", client="reader",
                                  headers=SPOOF_H2 + framing + [("x_custom", "kept")])
        self.assertEqual(status, 200, body)
        echo = json.loads(body)
        self.assertEqual([n for n in names_of(echo) if "_" in n], ["x_custom"], echo["headers"])
        self.assertEqual(h.echoed_headers(echo, "x-client-clearance"), ["ValidUser"])
        self.assertEqual(h.echoed_headers(echo, "x-forwarded-for"), ["127.0.0.1"])


# --------------------------------------------------------------------------------------
# Item: spellings of the database_from_query key (InfluxDB preset)


class QueryDatabaseSpellings(_Base):
    NAME = "query-keys"
    POLICY = staticmethod(influxdb_policy)

    # reader has ReadOnly on db1 and nothing on db2.
    TWO_KEYS = [
        "/query?db=db1&DB=db2",
        "/query?db=db1&+db=db2",
        "/query?db[]=db2&db=db1",
        "/query?db+=db2&db=db1",
        "/query?%64b=db2&db=db1",
        "/query?db%5B%5D=db2&db=db1",
        "/query?db=db1;db=db2",
        "/query?[db]=db2&db=db1",
        "/query?db=db1&Db",
    ]

    def test_two_keys_refused_h1(self):
        m = self.marker()
        for t in self.TWO_KEYS:
            target = "%s&q=SELECT+%s" % (t, m)
            r = self.h1("GET", target, client="reader")
            self.assertBadRequest(r.status, r.body, target)
        # curl as a client would send them.
        r = self.curl("/query?db=db1&DB=db2&q=%s" % m, client="reader")
        self.assertBadRequest(r.status, r.body, "curl DB=db2")
        self.assertNotForwarded(m)

    def test_two_keys_refused_h2(self):
        m = self.marker()
        for t in self.TWO_KEYS:
            target = "%s&q=SELECT+%s" % (t, m)
            status, _, body = self.h2(target, client="reader")
            self.assertBadRequest(status, body, "h2 " + target)
        self.assertNotForwarded(m)

    def test_write_route_too(self):
        m = self.marker()
        r = self.h1("POST", "/write?db=db1&DB=db2&m=%s" % m, client="writer")
        self.assertBadRequest(r.status, r.body, "POST /write DB=db2")
        r = self.h1("POST", "/api/v2/write?bucket=db1&BUCKET=db2&m=%s" % m, client="writer")
        self.assertBadRequest(r.status, r.body, "POST /api/v2/write BUCKET=db2")
        self.assertNotForwarded(m)

    def test_one_key_in_any_spelling_is_the_database(self):
        m = self.marker()
        # A lone variant spelling is what is authorized: db2 is not the reader's.
        r = self.h1("GET", "/query?DB=db2&m=%s" % m, client="reader")
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.json()["reason"], "database_not_allowed")
        self.assertNotForwarded(m)
        # The plain key, and a lone variant naming db1, pass; the query is unchanged.
        for target in ("/query?db=db1&q=SELECT+1&m=%s" % m, "/query?db[]=db1&m=%s" % m):
            r = self.h1("GET", target, client="reader")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["target"], target)
            self.assertEqual(h.echoed_headers(r.json(), "X-Client-Database-Access"), ["ReadOnly"])
        status, _, body = self.h2("/query?Db=db1&m=%s" % m, client="reader")
        self.assertEqual(status, 200, body)


# --------------------------------------------------------------------------------------
# Item: ambiguous path forms


AMBIGUOUS = [
    "/secret;x/y-{m}",
    "/public/..;/secret/x-{m}",
    "/secret./x-{m}",
    "/secret%2e/x-{m}",
    "/secret%20/x-{m}",
    "/secret%09/x-{m}",
    "/public/%252e%252e/secret/x-{m}",
    "/%2573ecret/x-{m}",
]


class AmbiguousPathsRefused(_Base):
    NAME = "paths-default"

    def test_h1_raw_socket(self):
        m = self.marker()
        for t in AMBIGUOUS:
            target = t.format(m=m)
            r = self.h1("GET", target)
            self.assertBadRequest(r.status, r.body, target)
        self.assertNotForwarded(m)

    def test_h1_curl(self):
        m = self.marker()
        for t in ("/secret;x/y-{m}", "/public/..;/secret/x-{m}", "/secret./x-{m}"):
            r = self.curl(t.format(m=m))
            self.assertBadRequest(r.status, r.body, "curl " + t)
        self.assertNotForwarded(m)

    def test_h2(self):
        m = self.marker()
        for t in AMBIGUOUS:
            target = t.format(m=m)
            status, _, body = self.h2(target)
            self.assertBadRequest(status, body, "h2 " + target)
        r = self.curl("/secret;x/y-" + m, http="2")
        self.assertBadRequest(r.status, r.body, "curl --http2 /secret;x/y")
        self.assertNotForwarded(m)

    def test_options_off_refuse_harmless_forms_too(self):
        # What path_semicolons / path_encoded_percent would allow is refused by default.
        m = self.marker()
        for t in ("/other/x;jsessionid=1-{m}", "/files/50%25off-{m}"):
            r = self.h1("GET", t.format(m=m))
            self.assertBadRequest(r.status, r.body, t)
        self.assertNotForwarded(m)
        # The plain forms pass, and a denied one is denied.
        r = self.h1("GET", "/other/x-" + m)
        self.assertEqual(r.status, 200, r)
        r = self.h1("GET", "/secret/x-" + m)
        self.assertEqual(r.status, 403, r)


class AmbiguousPathsWithOptions(_Base):
    """path_semicolons and path_encoded_percent "allow": accepted only when a servlet
    container (drops ";params") and a server that decodes twice reach the same route;
    the database gets exactly what was matched."""

    NAME = "paths-allow"
    LISTENER = {"path_semicolons": "allow", "path_encoded_percent": "allow"}

    def test_still_refused_h1_h2(self):
        m = self.marker()
        for t in AMBIGUOUS + ["/public;x/y-{m}", "/db/db1;x/docs-{m}", "/public/%252F/x-{m}"]:
            target = t.format(m=m)
            r = self.h1("GET", target)
            self.assertBadRequest(r.status, r.body, target)
            status, _, body = self.h2(target)
            self.assertBadRequest(status, body, "h2 " + target)
        self.assertNotForwarded(m)

    def test_allowed_forms_forwarded_exactly(self):
        m = self.marker()
        for t in ("/other/x;jsessionid=1-{m}", "/files/50%25off-{m}",
                  "/public/doc;v=2/50%25-{m}", "/db/db1/docs;x-{m}"):
            target = t.format(m=m)
            r = self.h1("GET", target, client="reader")
            self.assertEqual(r.status, 200, "%s: %r" % (target, r))
            self.assertEqual(r.json()["target"], target)
            status, _, body = self.h2(target, client="reader")
            self.assertEqual(status, 200, "h2 %s: %r" % (target, body))
            self.assertEqual(json.loads(body)["target"], target)


if __name__ == "__main__":
    unittest.main()
