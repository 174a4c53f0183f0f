"""Throw-away certificates made with the openssl CLI (ECDSA P-256 unless asked)."""

import hashlib
import os
import ssl
import subprocess


def openssl(*args, cwd=None, timeout=60):
    """openssl runs `openssl ARGS` and returns its stdout as text; raises RuntimeError
    with openssl's stderr when it fails."""
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed (%d): %s" % (
            " ".join(args), r.returncode, r.stderr.decode(errors="replace")))
    return r.stdout.decode(errors="replace")


def genkey(path, kind="ec"):
    """genkey writes a new private key to path, readable by its owner only: "ec" is
    P-256, "rsa" is RSA 2048."""
    if kind == "rsa":
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", path)
    else:
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", path)
    os.chmod(path, 0o600)
    return path


def make_ca(dir, subject, days, extensions=(), config=None):
    """make_ca writes dir/ca.key (P-256) and the self-signed dir/ca.crt with
    basicConstraints CA:TRUE, keyUsage keyCertSign and cRLSign plus each -addext in
    extensions; config is the openssl configuration for `req` (None: openssl's own).
    Returns the Cert."""
    key, crt = os.path.join(dir, "ca.key"), os.path.join(dir, "ca.crt")
    genkey(key)
    args = ["req", "-x509", "-new", "-key", key, "-sha256", "-days", str(days),
            "-subj", subject]
    if config:
        args += ["-config", config]
    for ext in ("basicConstraints=critical,CA:TRUE",
                "keyUsage=critical,keyCertSign,cRLSign") + tuple(extensions):
        args += ["-addext", ext]
    openssl(*(args + ["-out", crt]))
    return Cert("ca", crt, key)


def make_csr(key, subject, out, config=None):
    """make_csr writes a certificate request for key with subject to out."""
    args = ["req", "-new", "-key", key, "-subj", subject]
    if config:
        args += ["-config", config]
    openssl(*(args + ["-out", out]))
    return out


def openssl_sha1_thumbprint(cert_path):
    """openssl_sha1_thumbprint returns the SHA-1 fingerprint openssl prints (upper-case
    hex, no colons)."""
    out = openssl("x509", "-in", cert_path, "-noout", "-fingerprint", "-sha1")
    return out.strip().split("=", 1)[1].replace(":", "").upper()


class Cert:
    """One certificate: PEM paths and thumbprints (upper-case hex, no colons).

    cert must hold a single certificate (a chain file does not hash)."""

    def __init__(self, name, cert, key):
        self.name = name
        self.cert = cert
        self.key = key
        with open(cert) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        self.der = der
        self.sha1 = hashlib.sha1(der).hexdigest().upper()
        self.sha256 = hashlib.sha256(der).hexdigest().upper()

    def check_thumbprint(self):
        """check_thumbprint raises RuntimeError unless openssl's SHA-1 fingerprint is the
        one computed here (what certgate, HAProxy and the policy all call thumbprint)."""
        t = openssl_sha1_thumbprint(self.cert)
        if t != self.sha1:
            raise RuntimeError("thumbprint mismatch: %s vs %s" % (t, self.sha1))

    def __repr__(self):
        return "Cert(%s, %s)" % (self.name, self.sha1)
