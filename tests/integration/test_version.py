"""`certgate version` and `certgate --version`: the version CMake's project() declares,
the git commit the binary was built from (a commit of this repository, or "unknown"
for a build outside git), and the BoringSSL the binary runs on; `--help` lists the
command.

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_version
"""

import os
import re
import subprocess
import unittest

import certgate_harness as h

ROOT = os.path.normpath(os.path.join(h.HERE, "..", ".."))


def project_version():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        return re.search(r"project\(certgate VERSION (\S+)", f.read()).group(1)


class VersionTest(unittest.TestCase):

    def test_version_lines(self):
        out = h.run_certgate("version").stdout
        lines = out.splitlines()
        self.assertEqual(len(lines), 3, out)
        self.assertEqual(lines[0], "certgate " + project_version())
        m = re.fullmatch(r"commit: ([0-9a-f]{7,40}|unknown)", lines[1])
        self.assertIsNotNone(m, out)
        if m.group(1) != "unknown":
            # A commit this repository has (the build's HEAD or an ancestor of a later
            # one), not a made-up string.
            r = subprocess.run(["git", "-C", ROOT, "cat-file", "-e", m.group(1) + "^{commit}"],
                               capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 0, "%s is not a commit of %s" % (m.group(1), ROOT))
        # What the library says at run time, then what it was compiled against.
        self.assertRegex(lines[2], r"^tls: BoringSSL \(OpenSSL \d+\.\d+\.\d+ API\), "
                                   r"built against API \d+")
        self.assertEqual(h.run_certgate("--version").stdout, out)

    def test_help_lists_version(self):
        out = h.run_certgate("--help").stdout
        self.assertRegex(out, r"\n  version +print the version, the git commit")


if __name__ == "__main__":
    unittest.main()
