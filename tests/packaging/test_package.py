"""The Debian package (cpack -G DEB), installed the way a user installs it.

The test builds the .deb from the finished build, checks its control data (Depends
computed by dpkg-shlibdeps, conffiles, maintainer scripts) and contents, then installs
it with apt into a fresh Debian 12 root (mmdebstrap --variant=minbase, cached under the
build directory) so that apt must find every runtime library from Depends alone, and
there:
- `certgate version` runs (the RUNPATH reaches the Android BoringSSL directory);
- postinst created the certgate system user and its directories;
- a CA and a server certificate made with certgate itself, `certgate check` passes on
  the shipped example configuration with the shipped ravendb preset;
- man finds the three pages, the bash completion completes, and systemd-analyze verify
  accepts the installed unit (with the real /usr/bin/certgate and man pages);
- dpkg --purge removes the binary, the conffiles and the state.
Nothing is skipped: a missing tool fails the test with its name (scripts/deps).

Run: CERTGATE_BUILD_DIR=build /usr/bin/python3 -m unittest -v test_package
(ctest -L package)
"""

import glob
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import packaging_env as env

DEB_GLOB = os.path.join(env.BUILD_DIR, "package", "certgate_*.deb")
RUNTIME = ["android-libboringssl", "libevent-2.1-7", "libevent-core-2.1-7",
           "libevent-pthreads-2.1-7",
           "libnghttp2-14", "libjansson4"]


class PackageTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        env.need_tools("cpack", "dpkg-deb", "dpkg-shlibdeps", "unshare", "chroot", "tar",
                       "readelf", "mmdebstrap")
        cls.times = {}
        t0 = time.monotonic()
        for old in glob.glob(DEB_GLOB):
            os.unlink(old)
        env.run(["cpack", "-G", "DEB", "--config",
                 os.path.join(env.BUILD_DIR, "CPackConfig.cmake")],
                timeout=300, cwd=env.BUILD_DIR)
        debs = glob.glob(DEB_GLOB)
        assert len(debs) == 1, debs
        cls.deb = debs[0]
        cls.times["cpack"] = time.monotonic() - t0

        t0 = time.monotonic()
        tar = env.minbase_tar(include=("systemd", "man-db"))
        cls.times["root tarball"] = time.monotonic() - t0
        cls.tmp = tempfile.mkdtemp(prefix="certgate-pkg-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.root = os.path.join(cls.tmp, "root")
        os.makedirs(cls.root)
        t0 = time.monotonic()
        env.run(["tar", "-xf", tar, "-C", cls.root], timeout=120)
        shutil.copy("/etc/resolv.conf", os.path.join(cls.root, "etc", "resolv.conf"))
        shutil.copy(cls.deb, os.path.join(cls.root, "tmp", "certgate.deb"))
        cls.times["extract"] = time.monotonic() - t0
        t0 = time.monotonic()
        cls.in_root("apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                    "apt-get install -y -qq --no-install-recommends /tmp/certgate.deb",
                    timeout=300)
        cls.times["apt install"] = time.monotonic() - t0

    @classmethod
    def tearDownClass(cls):
        print("\npackage test times: " + ", ".join(
            "%s %.1f s" % kv for kv in cls.times.items()))

    @classmethod
    def in_root(cls, script, timeout=120, check=True):
        """in_root runs the shell script in the Debian root, in private mount and PID
        namespaces (its /proc and /dev mounts and its processes end with it)."""
        argv = ["unshare", "--mount", "--pid", "--fork", "--kill-child",
                "sh", "-euc",
                'mount -t proc proc "$1/proc"; mount --rbind /dev "$1/dev"; '
                'exec chroot "$1" /bin/sh -euc "$2"', "sh", cls.root, script]
        env_vars = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                    "HOME": "/root"}
        if check:
            return env.run(argv, timeout=timeout, env=env_vars)
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env=env_vars)

    def field(self, name):
        return env.run(["dpkg-deb", "-f", self.deb, name], timeout=30).stdout.strip()

    def test_control(self):
        depends = self.field("Depends")
        for pkg in RUNTIME + ["passwd", "procps", "libc6"]:
            self.assertRegex(depends, r"(^|, )%s( \(|,|$)" % re.escape(pkg), depends)
        # Nothing from OpenSSL 3: certgate links BoringSSL only.
        self.assertNotIn("libssl3", depends)
        self.assertEqual(self.field("Package"), "certgate")
        ctrl = os.path.join(self.tmp, "control")
        env.run(["dpkg-deb", "-e", self.deb, ctrl], timeout=30)
        with open(os.path.join(ctrl, "conffiles")) as f:
            conffiles = sorted(f.read().split())
        self.assertEqual(conffiles, ["/etc/certgate/policies/%s.json" % n
                                     for n in ("etcd", "influxdb", "ravendb")])
        for script in ("postinst", "prerm", "postrm"):
            self.assertTrue(os.access(os.path.join(ctrl, script), os.X_OK), script)

    def test_contents(self):
        listing = env.run(["dpkg-deb", "-c", self.deb], timeout=30).stdout
        paths = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
        for p in ("/usr/bin/certgate", "/usr/lib/systemd/system/certgate.service",
                  "/usr/share/man/man1/certgate.1.gz", "/usr/share/man/man5/certgate.json.5.gz",
                  "/usr/share/man/man5/certgate-policy.5.gz",
                  "/usr/share/bash-completion/completions/certgate",
                  "/usr/share/doc/certgate/copyright", "/usr/share/doc/certgate/examples/certgate.json",
                  "/etc/certgate/policies/ravendb.json"):
            self.assertIn(p, paths)
        # The installed binary is stripped and finds BoringSSL through its RUNPATH.
        binary = os.path.join(self.root, "usr", "bin", "certgate")
        dyn = env.run(["readelf", "-d", binary], timeout=30).stdout
        self.assertIn("RUNPATH", dyn)
        self.assertIn("/usr/lib/x86_64-linux-gnu/android", dyn)
        sections = env.run(["readelf", "-S", binary], timeout=30).stdout
        self.assertNotIn(".debug_info", sections)

    def test_installed_commands(self):
        out = self.in_root("certgate version").stdout
        self.assertRegex(out, r"^certgate \d+\.\d+\.\d+\ncommit: ([0-9a-f]{7,}|unknown)\n"
                              r"tls: BoringSSL")
        self.assertEqual(self.in_root("certgate --version").stdout, out)

        # The user and the directories the unit writes to.
        passwd = self.in_root("getent passwd certgate").stdout.split(":")
        self.assertEqual((passwd[5], passwd[6].strip()), ("/var/lib/certgate",
                                                          "/usr/sbin/nologin"))
        self.assertLess(int(passwd[2]), 1000)  # a system user
        st = self.in_root("stat -c '%U %a' /var/lib/certgate /var/log/certgate").stdout
        self.assertEqual(st.split("\n")[:2], ["certgate 700", "certgate 750"])

        # The shipped example, with a CA and server certificate made by certgate as
        # the certgate user, passes check.
        self.in_root(
            "runuser -u certgate -- certgate ca init --dir /var/lib/certgate/ca && "
            "runuser -u certgate -- certgate cert server --ca /var/lib/certgate/ca "
            "--san localhost,127.0.0.1 --out /var/lib/certgate/server")
        r = self.in_root("runuser -u certgate -- certgate check "
                         "-c /usr/share/doc/certgate/examples/certgate.json")
        self.assertIn("/usr/share/doc/certgate/examples/certgate.json: OK", r.stdout)
        self.assertIn("/etc/certgate/policies/ravendb.json", r.stdout)

    def test_man_pages(self):
        for page in ("certgate", "certgate.json", "certgate-policy"):
            path = self.in_root("man -w %s" % page).stdout.strip()
            self.assertTrue(path.startswith("/usr/share/man/man"), path)
            # --warnings=w: every groff warning (groff -ww).
            r = self.in_root("MANWIDTH=80 man --warnings=w %s >/dev/null" % page)
            self.assertEqual(r.stderr, "", page)

    def test_bash_completion(self):
        # bash is Essential: the completion works in the plain root (without the
        # bash-completion package) and follows the installed binary's --help.
        script = ('. /usr/share/bash-completion/completions/certgate; '
                  'c() { COMP_WORDS=("$@"); COMP_CWORD=$(($#-1)); _certgate; '
                  'echo "${COMPREPLY[*]}"; }; '
                  'c certgate ""; c certgate cert ""; c certgate run --d; '
                  'c certgate cert client --clearance ""; c certgate policy ""; '
                  'c certgate policy explain --cl')
        out = self.in_root("bash -c '%s'" % script).stdout.split("\n")
        self.assertTrue({"run", "check", "ca", "cert", "policy", "version"} <= set(out[0].split()),
                        out[0])
        self.assertTrue({"server", "client", "list", "delete"} <= set(out[1].split()), out[1])
        self.assertEqual(out[2], "--default-if-missing")
        self.assertEqual(out[3], "ClusterAdmin Operator ValidUser")
        self.assertEqual(out[4], "show explain")
        self.assertEqual(out[5], "--client-ca")

    def test_unit_verifies(self):
        r = self.in_root("systemd-analyze verify certgate.service", check=False)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    def test_zz_purge(self):
        # Last (tests run in name order): the removal paths of the maintainer scripts.
        self.in_root("dpkg --purge certgate")
        r = self.in_root("ls -d /usr/bin/certgate /etc/certgate/policies/ravendb.json "
                         "/var/lib/certgate /var/log/certgate 2>&1 || true")
        self.assertEqual(r.stdout.count("No such file"), 4, r.stdout)


if __name__ == "__main__":
    unittest.main()
