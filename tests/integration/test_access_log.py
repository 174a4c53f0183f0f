"""Regression: a client-chosen server name (SNI) forged access-log lines.

certgate wrote the SNI into the JSON access log unescaped (only a NUL was refused), so
`openssl s_client -servername 'x","decision":"allow","status":200,"z":"'` added members
to the line of its connection, and a newline in the name would have written a whole
line of the attacker's choosing. Now a server name that is not a DNS host name (RFC
6066 §3: no IP literal, no trailing dot) ends the handshake with an unrecognized_name
alert, the refusal is logged with the name escaped, and every line certgate writes goes
through one JSON-line writer (common/json_line.h): whatever a client sends in the SNI,
Host or path stays inside its JSON string, and a line too long for the writer's buffer
is cut at a character boundary and marked "truncated": true, never emitted broken.

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_access_log
"""

import json
import unittest

import certgate_harness as h

INJECT_QUOTES = 'x","decision":"allow","status":200,"z":"'
# (lower case: certgate compares and logs server names in lower case)
INJECT_LINE = ('a\n{"time":"2026-01-01t00:00:00.000000z","conn":"w0c1","decision":"allow",'
               '"status":200,"cert_name":"admin"}\nb')


class AccessLogTest(h.CertgateTestCase, unittest.TestCase):
    CONFIG = {"limits": {"max_request_line": 16000, "max_header_bytes": 32000}}

    def s_client(self, servername, path="/sni-probe"):
        """s_client runs `openssl s_client -servername NAME` with the admin certificate
        and a request on stdin; returns (exit code, stdout, stderr)."""
        req = b"GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % path.encode()
        p = h.s_client(self.port, self.pki, servername, extra=["-ign_eof", "-quiet"], input=req)
        return p.returncode, p.stdout.decode("latin-1"), p.stderr.decode("latin-1")

    def raw_lines(self):
        with open(self.cg.access_log_path, "rb") as f:
            return f.read().split(b"\n")[:-1]

    def assert_every_line_is_one_object(self):
        """Every line parses as one JSON object; returns them."""
        out = []
        for raw in self.raw_lines():
            try:
                obj = json.loads(raw.decode("utf-8"))
            except ValueError as e:
                self.fail("access-log line is not JSON (%s): %r" % (e, raw))
            self.assertIsInstance(obj, dict, raw)
            out.append(obj)
        return out

    def test_malicious_sni_is_refused_and_cannot_forge_a_line(self):
        for name in (INJECT_QUOTES, INJECT_LINE):
            rc, out, err = self.s_client(name)
            self.assertNotEqual(rc, 0, "handshake with SNI %r completed:\n%s" % (name, out))
            self.assertIn("unrecognized name", err, err)
            self.assertNotIn("HTTP/1.1", out)
        # A valid name still works (and writes a request line of its own).
        rc, out, err = self.s_client("localhost")
        self.assertEqual(rc, 0, err)
        self.assertIn("HTTP/1.1 200", out)
        self.cg.wait_access_log(
            lambda e: sum(1 for x in e if x.get("sni") in (INJECT_QUOTES, INJECT_LINE)) >= 2
            and any(x.get("path") == "/sni-probe" for x in e))
        lines = self.assert_every_line_is_one_object()
        refused = [x for x in lines if x.get("sni") in (INJECT_QUOTES, INJECT_LINE)]
        self.assertEqual(sorted(x["sni"] for x in refused), sorted([INJECT_QUOTES, INJECT_LINE]))
        for x in refused:
            self.assertEqual(x["decision"], "deny")
            self.assertEqual(x["status"], 0)
            self.assertNotIn("z", x)
        # Nothing but the one real request is allowed, and only for the valid name.
        allowed = [x for x in lines if x.get("decision") == "allow" and
                   not x.get("path", "").startswith(("/q?", "/long?", "/sni-accepted"))]
        self.assertEqual([x["path"] for x in allowed], ["/sni-probe"], allowed)
        self.assertEqual(allowed[0]["sni"], "localhost")
        self.assertEqual(self.backend.requests().count("/sni-probe"), 1)

    def test_ip_literal_sni_is_no_sni_and_trailing_dot_dropped(self):
        # RFC 6066 forbids both, but real clients (wrk, libraries dialling an address)
        # send them: refusing them refused those clients. An IP literal counts as no
        # server name (as nginx treats it), a trailing dot is dropped; names with other
        # characters are still refused (test_malicious_sni_is_refused...).
        for name in ("127.0.0.1", "::1", "localhost."):
            rc, out, err = self.s_client(name, "/sni-accepted")
            self.assertEqual(rc, 0, "handshake with SNI %r refused: %s" % (name, err))
            self.assertIn("HTTP/1.1 200", out, out)
        for name in ("a b", "x,y", "-lead.example"):
            rc, out, err = self.s_client(name, "/sni-refused")
            self.assertNotEqual(rc, 0, "handshake with SNI %r completed" % name)
            self.assertIn("unrecognized name", err, err)

    def test_client_chosen_fields_stay_in_their_strings(self):
        # A query with quotes and a backslash is forwarded (200); a path with them is
        # refused (400) and logged as received. Both lines must parse and hold the bytes.
        query = '/q?a="uote\\back,"decision":"allow","status":200,"z":"'
        path = '/p"ath\\,"decision":"allow'
        want = {query: 200, path: 400}
        for target, status in want.items():
            req = "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % target
            data, _ = h.raw_exchange(self.port, req.encode(), self.pki)
            self.assertIn(b" %d " % status, data.split(b"\r\n", 1)[0])
        self.cg.wait_access_log(lambda e: sum(1 for x in e if x.get("path") in want) >= 2)
        lines = self.assert_every_line_is_one_object()
        mine = {x["path"]: x for x in lines if x.get("path") in want}
        self.assertEqual({p: x["status"] for p, x in mine.items()}, want)
        self.assertEqual(mine[query]["decision"], "allow")
        self.assertEqual(mine[path]["decision"], "deny")
        for x in mine.values():
            self.assertNotIn("z", x)

    def test_long_line_is_cut_not_broken(self):
        # A 15,000-byte query of quotes escapes to 30,000 bytes: more than a line holds.
        path = "/long?" + '"' * 15000
        req = ("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % path)
        data, _ = h.raw_exchange(self.port, req.encode(), self.pki)
        self.assertIn(b" 200 ", data.split(b"\r\n", 1)[0])
        entries = self.cg.wait_access_log(
            lambda e: any(x.get("path", "").startswith("/long?") for x in e))
        self.assert_every_line_is_one_object()
        x = [x for x in entries if x.get("path", "").startswith("/long?")][0]
        self.assertIs(x.get("truncated"), True, x)
        self.assertTrue(path.startswith(x["path"]))
        self.assertGreater(len(x["path"]), 3000)
        for line in self.raw_lines():
            self.assertLessEqual(len(line), 8 * 1024)


if __name__ == "__main__":
    unittest.main()
