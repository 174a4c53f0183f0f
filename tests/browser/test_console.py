"""The admin console in a real browser (docs/operations.md "Web console").

Debian's chromium (headless) driven by puppeteer-core (console_test.js), with the
client certificates in the browser's NSS database and chosen by Chromium's
AutoSelectCertificateForUrls policy, as an operator's browser would present them.

Attack guarded: a browser that holds an admin certificate presents it to any page that
asks, so the console must work only from its own origin: besides the console's own
flows (create a ValidUser, download the bundle, curl is authorized as that user, edit
its databases, delete it and curl is refused, import PEM and PKCS#12, renew, CA
download, ask the policy), a page of another origin in the same browser posts a form
and a JSON fetch to the admin API: both are refused and nothing is created. An Operator
session cannot create a ClusterAdmin. Any page error, console error, failed request or
unexpected HTTP error fails the test.

What this test sets up, and removes afterwards: a state directory made by certgate's
own bootstrap (`certgate run` without -c) with an admin listener added, an Operator
made with `certgate cert client`, two NSS databases (pk12util, certutil), a managed
Chromium policy file /etc/chromium/policies/managed/certgate-test-<pid>.json (needs
root), and puppeteer-core installed with `npm ci` from tests/browser/package-lock.json
into $CERTGATE_BROWSER_CACHE (the build directory; it never downloads a browser).
Screenshots go to the build directory, and to docs/ with CERTGATE_SCREENSHOTS_TO_DOCS=1.

Run: CERTGATE_BIN=build/certgate CERTGATE_BROWSER_CACHE=build/browser-node \\
     /usr/bin/python3 -m unittest -v test_console
"""

import json
import os
import shutil
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import certgate_harness as h  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
POLICY_DIR = "/etc/chromium/policies/managed"
NPM_TIMEOUT = 300
NODE_TIMEOUT = 240


def npm_install(cache):
    """npm_install installs tests/browser/package-lock.json into |cache| (npm ci), unless
    the cache already holds exactly that lock file. Returns the puppeteer-core dir."""
    lock = os.path.join(HERE, "package-lock.json")
    module = os.path.join(cache, "node_modules", "puppeteer-core")
    cached_lock = os.path.join(cache, "package-lock.json")
    with open(lock, "rb") as f:
        want = f.read()
    if os.path.isdir(module) and os.path.exists(cached_lock):
        with open(cached_lock, "rb") as f:
            if f.read() == want:
                return module
    os.makedirs(cache, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(os.path.join(HERE, name), os.path.join(cache, name))
    env = dict(os.environ, PUPPETEER_SKIP_DOWNLOAD="1", npm_config_fund="false",
               npm_config_audit="false", npm_config_update_notifier="false")
    p = subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                       cwd=cache, env=env, capture_output=True, text=True, timeout=NPM_TIMEOUT)
    if p.returncode != 0:
        raise AssertionError("npm ci in %s failed:\n%s%s" % (cache, p.stdout, p.stderr))
    return module


def nss_db(home, p12, password, ca):
    """nss_db makes $home/.pki/nssdb holding the bundle |p12| and trusting |ca|."""
    db = "sql:" + os.path.join(home, ".pki", "nssdb")
    os.makedirs(os.path.join(home, ".pki", "nssdb"))
    for argv in (["certutil", "-d", db, "-N", "--empty-password"],
                 ["pk12util", "-d", db, "-i", p12, "-W", password],
                 ["certutil", "-d", db, "-A", "-t", "C,,", "-n", "certgate-ca", "-i", ca]):
        subprocess.run(argv, check=True, capture_output=True, timeout=60)


class ConsoleBrowserTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        for tool in (CHROMIUM, "node", "npm", "certutil", "pk12util", "curl", "openssl"):
            if shutil.which(tool) is None:
                raise AssertionError("%s is missing: run scripts/deps" % tool)
        if not os.access(os.path.dirname(POLICY_DIR), os.W_OK) and os.geteuid() != 0:
            raise AssertionError("writing %s (Chromium's managed policies) needs root"
                                 % POLICY_DIR)
        cache = os.environ.get("CERTGATE_BROWSER_CACHE") or os.path.join(ROOT, "build",
                                                                            "browser-node")
        started = time.monotonic()
        cls.puppeteer = npm_install(cache)
        cls.npm_seconds = time.monotonic() - started
        cls.tmp = h.make_tempdir("certgate-browser-")
        cls.addClassCleanup(h.remove_tree, cls.tmp)
        cls.out = os.path.join(os.environ.get("CERTGATE_BROWSER_OUT") or cache, "out")
        h.remove_tree(cls.out)
        os.makedirs(cls.out)

        cls.backend = h.Backend(cls.tmp)
        cls.addClassCleanup(cls.backend.kill)
        cls.backend.start()
        cls.port, cls.admin_port = h.free_port(), h.free_port()
        cls.state = os.path.join(cls.tmp, "state")
        cls.bootstrap()
        cls.cg = h.Certgate(cls.tmp, os.path.join(cls.state, "certgate.json"), cls.port)
        cls.addClassCleanup(cls.cg.kill)
        cls.cg.start()
        cls.cg.wait_listening(cls.admin_port)

        # An Operator, made the way operators make one.
        ops_dir = os.path.join(cls.tmp, "ops")
        h.run_certgate("cert", "client", "--ca", os.path.join(cls.state, "ca"), "--name", "ops",
                       "--clearance", "Operator", "--password", "ops-password", "--out",
                       ops_dir, "--policy", os.path.join(cls.state, "policy.json"))
        ca = os.path.join(cls.state, "ca", "ca.crt")
        admin_dir = os.path.join(cls.state, "clients", "admin")
        with open(os.path.join(admin_dir, "password")) as f:
            admin_password = f.read().strip()
        cls.admin_home = os.path.join(cls.tmp, "home-admin")
        cls.ops_home = os.path.join(cls.tmp, "home-ops")
        nss_db(cls.admin_home, os.path.join(admin_dir, "bundle.p12"), admin_password, ca)
        nss_db(cls.ops_home, os.path.join(ops_dir, "bundle.p12"), "ops-password", ca)

        # Chromium presents a client certificate without asking only to URLs its managed
        # policy names.
        cls.admin_url = "https://127.0.0.1:%d" % cls.admin_port
        os.makedirs(POLICY_DIR, exist_ok=True)
        cls.policy_file = os.path.join(POLICY_DIR, "certgate-test-%d.json" % os.getpid())
        cls.addClassCleanup(lambda: os.path.exists(cls.policy_file) and
                            os.unlink(cls.policy_file))
        with open(cls.policy_file, "w") as f:
            json.dump({"AutoSelectCertificateForUrls": [
                json.dumps({"pattern": cls.admin_url, "filter": {}})]}, f)
        cls.config = {
            "puppeteer": cls.puppeteer,
            "chromium": CHROMIUM,
            "admin_url": cls.admin_url,
            "proxy_url": "https://127.0.0.1:%d" % cls.port,
            "ca": ca,
            "out": cls.out,
            "screenshots": os.path.join(ROOT, "docs")
            if os.environ.get("CERTGATE_SCREENSHOTS_TO_DOCS") == "1" else None,
            "admin_home": cls.admin_home,
            "ops_home": cls.ops_home,
            "curl_cert": [os.path.join(admin_dir, "tls.crt"), os.path.join(admin_dir, "tls.key")],
        }

    @classmethod
    def bootstrap(cls):
        """bootstrap makes the state directory with certgate's built-in default (as
        `certgate run` without -c does on a first start), then adds what the test needs:
        an admin listener, database routes and an access log."""
        p = h.Process([h.certgate_bin(), "run", "--state-dir", cls.state, "--listen",
                       "127.0.0.1:%d" % cls.port, "--upstream",
                       "127.0.0.1:%d" % cls.backend.port, "--status-listen",
                       "127.0.0.1:%d" % h.free_port()],
                      os.path.join(cls.tmp, "bootstrap"), cwd=cls.tmp)
        try:
            p.start()
            p.wait_listening(cls.port)
        finally:
            p.stop()
        with open(p.stderr_path, "rb") as f:
            err = f.read()
        if any(m in err for m in h.Certgate.SANITIZER_MARKS):
            raise AssertionError("sanitizer report from the bootstrap run:\n%s" % p.logs())
        cfg_path = os.path.join(cls.state, "certgate.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        cfg["workers"] = 2
        cfg["admin"] = {"listen": "127.0.0.1:%d" % cls.admin_port}
        cfg["log"]["access_log"] = os.path.join(cls.tmp, "access.log")
        h.write_json(cfg_path, cfg)
        pol_path = os.path.join(cls.state, "policy.json")
        with open(pol_path) as f:
            pol = json.load(f)
        pol["routes"] = [
            {"path": "/databases/{db}/*", "methods": ["GET", "HEAD"], "require": "ReadOnly"},
            {"path": "/databases/{db}/*", "require": "ReadWrite"},
            {"path": "/*", "require": "Authenticated"},
        ]
        h.write_json(pol_path, pol)

    def test_console(self):
        cfg_path = os.path.join(self.tmp, "browser.json")
        h.write_json(cfg_path, self.config)
        started = time.monotonic()
        p = subprocess.run(["node", os.path.join(HERE, "console_test.js"), cfg_path],
                           capture_output=True, text=True, timeout=NODE_TIMEOUT)
        took = time.monotonic() - started
        sys.stdout.write(p.stdout)
        sys.stdout.write("npm ci: %.1f s (0 when cached), browser scenario: %.1f s\n"
                         % (self.npm_seconds, took))
        self.assertEqual(p.returncode, 0, "console_test.js failed:\n%s%s"
                         % (p.stdout, p.stderr))
        self.assertIn("all checks passed", p.stdout)
        for name in ("console.png", "console-created.png", "console-operator-refused.png"):
            self.assertTrue(os.path.getsize(os.path.join(self.out, name)) > 10000, name)
        # The audit log names who did what through the console.
        lines = [e for e in self.cg.access_log() if e.get("type") == "admin"]
        created = [e for e in lines if e["method"] == "POST" and e["path"] == "/admin/certificates"
                   and e["status"] == 201]
        self.assertTrue(any(e["cert_name"] == "admin" for e in created), created)
        refused = [e for e in lines if e["method"] == "POST" and e["status"] == 403]
        self.assertTrue(any(e["cert_name"] == "ops" and e["reason"] == "insufficient_clearance"
                            for e in refused), refused)
        self.assertTrue(any(e["reason"] in ("cross_origin_request", "cross_site_request")
                            and e["cert_name"] == "admin" for e in refused), refused)


if __name__ == "__main__":
    unittest.main()
