"""The web console's files on the admin listener (docs/operations.md "Web console").

Attack guarded: a browser that holds an operator's client certificate presents it to
every page that asks. A page of another site could frame the console (clickjacking),
inject script into it, read its files, or post a form to the admin API; the console is
only as safe as the headers it is served with and the API's refusal of cross-site
calls. This checks, against the real binary:

- /ui/ and its files answer only Operators and ClusterAdmins (no certificate, an unknown
  one or a ValidUser: 403), GET only, /ui redirects to /ui/, unknown files are 404;
- the files served are exactly control/admin/ui/* (embedded at build time, nothing read
  at run time: the test serves them from a copy of the binary in another directory);
- every console answer carries a strict Content-Security-Policy (no inline script or
  style, frame-ancestors 'none', Trusted Types), nosniff, X-Frame-Options DENY,
  Cross-Origin-Resource-Policy and no-store;
- no inline script, inline style or event-handler attribute is in the page (the CSP
  would block them, and they are what an injection would need);
- a cross-origin form post (form-encoded or text/plain, with another Origin or
  Sec-Fetch-Site cross-site) to any state-changing endpoint is refused and changes
  nothing, while the console's own same-origin JSON calls pass.

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_admin_ui
"""

import json
import os
import re
import shutil
import unittest
import urllib.parse

import certgate_harness as h

UI_DIR = os.path.normpath(os.path.join(h.HERE, "..", "..", "control", "admin", "ui"))


class AdminUiTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = h.make_tempdir()
        cls.addClassCleanup(h.remove_tree, cls.tmp)
        pki_dir = os.path.join(cls.tmp, "pki")
        os.makedirs(pki_dir)
        cls.pki = h.make_pki(pki_dir)
        ca_dir = os.path.join(cls.tmp, "state", "ca")
        os.makedirs(ca_dir)
        shutil.copy(cls.pki.ca.cert, os.path.join(ca_dir, "ca.crt"))
        shutil.copy(cls.pki.ca.key, os.path.join(ca_dir, "ca.key"))
        # A copy of the binary far from the source tree: the console must come from
        # inside it.
        bindir = os.path.join(cls.tmp, "bin")
        os.makedirs(bindir)
        cls.bin = os.path.join(bindir, "certgate")
        shutil.copy(h.certgate_bin(), cls.bin)
        cls.old_bin = os.environ.get("CERTGATE_BIN")
        os.environ["CERTGATE_BIN"] = cls.bin
        cls.addClassCleanup(cls.restore_bin)
        cls.admin_port = h.free_port()
        c = cls.pki.clients
        cls.cg = h.start_certgate(
            cls.tmp, cls.pki, [h.free_port()],
            policy={"allow_ips": ["127.0.0.1", "::1"],
                    "routes": [{"path": "/*", "require": "Authenticated"}],
                    "certificates": [
                        {"name": "admin", "thumbprints": [c["admin"].sha1],
                         "clearance": "ClusterAdmin"},
                        {"name": "operator", "thumbprints": [c["writer"].sha1],
                         "clearance": "Operator"},
                        {"name": "reader", "thumbprints": [c["reader"].sha1],
                         "clearance": "ValidUser"}]},
            overrides={"admin": {"listen": "127.0.0.1:%d" % cls.admin_port, "listener": "db"}})
        cls.addClassCleanup(cls.cg.kill)
        cls.cg.wait_listening(cls.admin_port)
        cls.origin = "https://127.0.0.1:%d" % cls.admin_port
        cls.policy_path = os.path.join(cls.tmp, "policy.json")

    @classmethod
    def restore_bin(cls):
        if cls.old_bin is None:
            os.environ.pop("CERTGATE_BIN", None)
        else:
            os.environ["CERTGATE_BIN"] = cls.old_bin

    def call(self, method, path, client="admin", body=b"", headers=()):
        s = h.tls_connect(self.admin_port, h.client_context(self.pki, client), timeout=15)
        try:
            s.sendall(h.request_bytes(method, path, "127.0.0.1:%d" % self.admin_port,
                                      list(headers), body))
            return h.ResponseReader(s, 15).read()
        finally:
            s.close()

    def names(self):
        with open(self.policy_path) as f:
            return [e["name"] for e in json.load(f)["certificates"]]

    def test_files_are_the_embedded_sources(self):
        files = sorted(os.listdir(UI_DIR))
        self.assertIn("index.html", files)
        types = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
        for name in files:
            with open(os.path.join(UI_DIR, name), "rb") as f:
                want = f.read()
            r = self.call("GET", "/ui/" + name)
            self.assertEqual(r.status, 200, (name, r))
            self.assertEqual(r.body, want, name)
            self.assertEqual(r.header("Content-Type"), types[os.path.splitext(name)[1]], name)
        r = self.call("GET", "/ui/")
        with open(os.path.join(UI_DIR, "index.html"), "rb") as f:
            self.assertEqual(r.body, f.read())

    def test_security_headers(self):
        for path in ("/ui/", "/ui/console.js", "/ui/console.css", "/ui/nothing", "/ui"):
            r = self.call("GET", path)
            csp = r.header("Content-Security-Policy") or ""
            directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ") if d}
            self.assertEqual(directives.get("default-src"), ["'self'"], path)
            self.assertEqual(directives.get("script-src"), ["'self'"], path)
            self.assertEqual(directives.get("style-src"), ["'self'"], path)
            self.assertEqual(directives.get("frame-ancestors"), ["'none'"], path)
            self.assertEqual(directives.get("object-src"), ["'none'"], path)
            self.assertEqual(directives.get("form-action"), ["'none'"], path)
            self.assertEqual(directives.get("require-trusted-types-for"), ["'script'"], path)
            self.assertNotIn("unsafe", csp)
            self.assertEqual(r.header("X-Content-Type-Options"), "nosniff", path)
            self.assertEqual(r.header("X-Frame-Options"), "DENY", path)
            self.assertEqual(r.header("Cross-Origin-Resource-Policy"), "same-origin", path)
            self.assertEqual(r.header("Cache-Control"), "no-store", path)
        # The API's own answers are not sniffable either.
        self.assertEqual(self.call("GET", "/admin/status").header("X-Content-Type-Options"),
                         "nosniff")

    def test_no_inline_script_or_style(self):
        with open(os.path.join(UI_DIR, "index.html")) as f:
            html = f.read()
        for m in re.finditer(r"<script\b([^>]*)>(.*?)</script>", html, re.S):
            self.assertIn("src=", m.group(1))
            self.assertEqual(m.group(2).strip(), "")
        self.assertNotRegex(html, r"<style\b")
        self.assertNotRegex(html, r"\sstyle\s*=")
        self.assertNotRegex(html, r"\son[a-z]+\s*=")
        self.assertNotIn("javascript:", html)
        with open(os.path.join(UI_DIR, "console.js")) as f:
            js = f.read()
        # The DOM is built from text, never from HTML strings.
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                     "new Function"):
            self.assertNotIn(sink, js)

    def test_access(self):
        for client, reason in ((None, "no_certificate"), ("unknown", "unknown_certificate"),
                               ("reader", "insufficient_clearance")):
            for path in ("/ui/", "/ui/console.js"):
                r = self.call("GET", path, client=client)
                self.assertEqual((r.status, r.json()["reason"]), (403, reason), (client, path))
                self.assertNotIn(b"<html", r.body)
        self.assertEqual(self.call("GET", "/ui/", client="writer").status, 200)
        r = self.call("GET", "/ui")
        self.assertEqual((r.status, r.header("Location")), (301, "/ui/"), r)
        for path in ("/ui/nothing.js", "/ui/../admin/status", "/ui/%2e%2e/x", "/ui/sub/index.html"):
            self.assertEqual(self.call("GET", path).status, 404, path)
        r = self.call("POST", "/ui/", body=b"{}", headers=[("Content-Type", "application/json")])
        self.assertEqual((r.status, r.header("Allow")), (405, "GET"), r)

    def test_cross_origin_form_posts_are_refused(self):
        """What a hostile page can send without a preflight: a form (urlencoded,
        multipart or text/plain, the last one able to carry JSON-looking text), with the
        browser's Origin and Sec-Fetch-Site. Each is refused and the policy unchanged."""
        before = self.names()
        evil = [("Origin", "https://evil.example"), ("Sec-Fetch-Site", "cross-site")]
        forms = [
            ("application/x-www-form-urlencoded",
             urllib.parse.urlencode({"name": "pwned", "clearance": "ClusterAdmin"}).encode()),
            ("text/plain", b'{"name": "pwned", "clearance": "ClusterAdmin", "x": "="}'),
            ("multipart/form-data; boundary=b",
             b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\npwned\r\n--b--\r\n'),
        ]
        reader = self.pki.client("reader").sha1
        targets = [("POST", "/admin/certificates"), ("POST", "/admin/certificates/import"),
                   ("PUT", "/admin/certificates/" + reader), ("POST", "/admin/reload"),
                   ("POST", "/admin/server-certificate/renew"), ("POST", "/admin/explain")]
        for ctype, body in forms:
            for method, path in targets:
                for hdrs in (evil[:1], evil[1:], evil):
                    r = self.call(method, path, body=body,
                                  headers=hdrs + [("Content-Type", ctype)])
                    self.assertEqual(r.status, 403, (ctype, path, hdrs, r))
                    self.assertIn(r.json()["reason"], ("cross_origin_request", "cross_site_request"))
                # Even from our own origin a form is not JSON: 415.
                r = self.call(method, path, body=body,
                              headers=[("Origin", self.origin), ("Content-Type", ctype)])
                self.assertEqual(r.status, 415, (ctype, path, r))
        r = self.call("DELETE", "/admin/certificates/" + reader, headers=evil)
        self.assertEqual(r.status, 403, r)
        self.assertEqual(self.names(), before)

    def test_the_console_own_calls_pass(self):
        """The console's calls: fetch() from https://<admin listener> with a JSON body,
        which Chromium sends with Origin and Sec-Fetch-Site: same-origin."""
        same = [("Origin", self.origin), ("Sec-Fetch-Site", "same-origin"),
                ("Content-Type", "application/json")]
        body = json.dumps({"name": "from-console", "clearance": "ValidUser",
                           "databases": {"db1": "ReadOnly"}, "format": "pem",
                           "password": "a-password"}).encode()
        r = self.call("POST", "/admin/certificates", body=body, headers=same)
        self.assertEqual(r.status, 201, r)
        tp = r.json()["thumbprint"]
        r = self.call("PUT", "/admin/certificates/" + tp, headers=same,
                      body=json.dumps({"databases": {"db1": "ReadWrite"}}).encode())
        self.assertEqual(r.status, 200, r)
        r = self.call("DELETE", "/admin/certificates/" + tp, headers=same[:2])
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("from-console", self.names())


if __name__ == "__main__":
    unittest.main()
