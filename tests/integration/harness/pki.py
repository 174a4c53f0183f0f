"""The test PKI: a CA, server certificates and client certificates made with the openssl
CLI (certgate_testkit.pki has the primitives), and extra certificates tests issue."""

import os
import re
import ssl
import subprocess
import uuid
from datetime import datetime, timedelta, timezone

from certgate_testkit.pki import Cert, genkey, make_ca, make_csr
from certgate_testkit.pki import openssl as _openssl


class PKI:
    def __init__(self, dir):
        self.dir = dir
        self.ca = None          # Cert
        self.server = None      # ECDSA P-256, localhost / 127.0.0.1 / ::1
        self.server_rsa = None  # RSA 2048, rsa.test
        self.clients = {}       # name -> Cert

    def client(self, name):
        return self.clients[name]


_CA_CNF = """
[ ca ]
default_ca = testca
[ testca ]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}/newcerts
serial = {dir}/serial
default_md = sha256
default_days = 825
policy = pol
unique_subject = no
copy_extensions = none
email_in_dn = no
[ pol ]
commonName = supplied
organizationName = optional
[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ server_ecdsa_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ server_rsa_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:rsa.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

CLIENT_NAMES = ("admin", "reader", "writer", "unknown", "expired", "notyet")


def openssl_ca_dir(dir, serial="1000"):
    """openssl_ca_dir prepares dir (made if missing) for `openssl ca -config CNF`:
    database, serial file, newcerts/ and a ca.cnf with the extension sections client_ext,
    server_ecdsa_ext (localhost, 127.0.0.1, ::1) and server_rsa_ext (rsa.test).
    Returns the path of ca.cnf."""
    os.makedirs(os.path.join(dir, "newcerts"), exist_ok=True)
    open(os.path.join(dir, "index.txt"), "w").close()
    with open(os.path.join(dir, "serial"), "w") as f:
        f.write("%s\n" % serial)
    cnf = os.path.join(dir, "ca.cnf")
    with open(cnf, "w") as f:
        f.write(_CA_CNF.format(dir=dir))
    return cnf


def make_pki(dir):
    """make_pki creates the test PKI under dir (which must exist) and returns a PKI.

    CA: ECDSA P-256, self-signed. Server certificates: ECDSA P-256 for localhost,
    127.0.0.1 and ::1; RSA 2048 for rsa.test. Clients (ECDSA, clientAuth): admin, reader,
    writer, unknown (valid, never registered), expired (2020-2021), notyet (2090-2091).
    All leaves are issued with `openssl ca`, which takes explicit -startdate/-enddate
    (openssl 3.0's `x509 -req` cannot backdate). Raises RuntimeError when openssl fails.
    """
    cnf = openssl_ca_dir(dir)
    p = lambda name: os.path.join(dir, name)  # noqa: E731
    ca = make_ca(dir, "/O=certgate-tests/CN=certgate test CA", 3650,
                 extensions=["subjectKeyIdentifier=hash"])

    def issue(name, subj, ext, keyalg, start=None, end=None):
        key, csr, crt = p(name + ".key"), p(name + ".csr"), p(name + ".crt")
        genkey(key, keyalg)
        make_csr(key, subj, csr)
        args = ["ca", "-batch", "-config", cnf, "-cert", ca.cert, "-keyfile", ca.key,
                "-in", csr, "-out", crt, "-extensions", ext, "-notext"]
        if start:
            args += ["-startdate", start]
        if end:
            args += ["-enddate", end]
        _openssl(*args)
        return Cert(name, crt, key)

    pki = PKI(dir)
    pki.ca = ca
    pki.server = issue("server", "/O=certgate-tests/CN=localhost", "server_ecdsa_ext", "ec")
    pki.server_rsa = issue("server-rsa", "/O=certgate-tests/CN=rsa.test", "server_rsa_ext",
                           "rsa")
    for name in CLIENT_NAMES:
        start = end = None
        if name == "expired":
            start, end = "20200101000000Z", "20210101000000Z"
        elif name == "notyet":
            start, end = "20900101000000Z", "20910101000000Z"
        pki.clients[name] = issue("client-" + name, "/O=certgate-tests/CN=" + name,
                                  "client_ext", "ec", start, end)
    # Cross-check our thumbprint against openssl's -fingerprint once.
    pki.clients["admin"].check_thumbprint()
    return pki


_SERVER_EXT = """[ e ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = %s
"""


def issue_server(pki, dir, name, cn, sans, days=30):
    """issue_server certifies a new ECDSA key for the subject alternative names |sans|
    ("DNS:db1.test", "IP:127.0.0.1"; a bare name is taken as DNS) with subject
    CN=|cn| under the test CA, valid |days|; writes NAME.key/.crt into dir and returns a
    Cert."""
    key, csr, crt = (os.path.join(dir, name + ext) for ext in (".key", ".csr", ".crt"))
    ext = os.path.join(dir, name + ".ext")
    with open(ext, "w") as f:
        f.write(_SERVER_EXT % ", ".join(s if ":" in s else "DNS:" + s for s in sans))
    genkey(key, "ec")
    make_csr(key, "/O=certgate-tests/CN=%s" % cn, csr)
    _openssl("x509", "-req", "-in", csr, "-CA", pki.ca.cert, "-CAkey", pki.ca.key,
             "-set_serial", "0x" + uuid.uuid4().hex, "-days", str(days), "-sha256",
             "-extfile", ext, "-extensions", "e", "-out", crt)
    return Cert(name, crt, key)


def cert_serial(path):
    """cert_serial returns the serial number (upper-case hex) of the PEM certificate at
    path."""
    return ssl._ssl._test_decode_cert(path)["serialNumber"]


def pem_certificates(text):
    """pem_certificates returns the PEM certificate blocks in text (bytes or str), in
    order, as bytes."""
    if isinstance(text, str):
        text = text.encode()
    return re.findall(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)


def pem_subject(pem):
    """pem_subject returns the subject (RFC 2253) of a PEM certificate (bytes)."""
    x = subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "RFC2253"],
                       input=pem, capture_output=True, timeout=30)
    return x.stdout.decode().strip().split("=", 1)[1]


def pem_serial(pem):
    """pem_serial returns the serial number (upper-case hex) of a PEM certificate."""
    x = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem,
                       capture_output=True, timeout=30)
    return x.stdout.decode().strip().split("=")[-1].upper()


def issue_short_lived(ca_dir, workdir, name, past_s=55, left_s=35, subject="/CN=localhost"):
    """issue_short_lived issues a server certificate (localhost, 127.0.0.1, ::1) from the
    `certgate ca init` CA in ca_dir that began past_s seconds ago and ends left_s seconds
    from now, so that automatic renewal (due at two thirds of the lifetime) comes a few
    seconds after a start. Writes NAME.key and NAME.crt into workdir; returns
    (crt path, key path, notAfter as an aware datetime)."""
    cnf = openssl_ca_dir(os.path.join(workdir, name + "-ossl"), serial=uuid.uuid4().hex)
    key, csr, crt = (os.path.join(workdir, name + ext) for ext in (".key", ".csr", ".crt"))
    genkey(key)
    make_csr(key, subject, csr)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    not_before, not_after = now - timedelta(seconds=past_s), now + timedelta(seconds=left_s)
    fmt = "%Y%m%d%H%M%SZ"
    _openssl("ca", "-batch", "-config", cnf, "-cert", os.path.join(ca_dir, "ca.crt"),
             "-keyfile", os.path.join(ca_dir, "ca.key"), "-in", csr, "-out", crt,
             "-extensions", "server_ecdsa_ext", "-notext",
             "-startdate", not_before.strftime(fmt), "-enddate", not_after.strftime(fmt))
    return crt, key, not_after
