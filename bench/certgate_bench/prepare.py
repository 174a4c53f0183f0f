"""Before measuring: the tools, the certgate build, the client certificate shim, the PKI."""

import base64
import os
import shutil

from certgate_testkit import pki as testkit_pki

from .common import BUILD, ROOT, SHIM_SRC, die, log, run


def install_tools(skip):
    need = ["haproxy", "nghttpx", "nginx", "wrk", "h2load", "curl", "openssl", "gcc", "cmake",
            "ninja", "taskset"]
    if not skip:
        log("installing tools: scripts/deps --bench")
        rc, out, err = run([os.path.join(ROOT, "scripts", "deps"), "--bench"], timeout=900,
                           check=False)
        if rc != 0:
            log("scripts/deps --bench failed (%d); continuing with what is installed:\n%s"
                % (rc, (out + err)[-1500:]))
    missing = [t for t in need if shutil.which(t) is None and
               not os.path.exists("/usr/sbin/" + t)]
    if missing:
        die("missing tools: %s (run scripts/deps --bench as root)" % " ".join(missing))
    if not os.path.exists("/usr/include/openssl/ssl.h"):
        die("OpenSSL 3 headers missing (libssl-dev) for the client certificate shim")


def build_certgate(args):
    if args.certgate_bin:
        return os.path.abspath(args.certgate_bin)
    log("building certgate (RelWithDebInfo) in %s" % BUILD)
    run(["cmake", "-S", ROOT, "-B", BUILD, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
         "-DBUILD_TESTING=OFF"], timeout=300)
    run(["ninja", "-C", BUILD, "certgate"], timeout=900)
    return os.path.join(BUILD, "certgate")


def build_shim(work):
    so = os.path.join(work, "client_cert_shim.so")
    run(["gcc", "-O2", "-Wall", "-Wextra", "-shared", "-fPIC", "-o", so, SHIM_SRC, "-ldl"],
        timeout=120)
    return so


# The leaves carry no key identifiers and come from `x509 -req` (random serials): what
# the proxies hand over in every handshake stays what earlier results measured.
CA_CNF = """
[ req ]
distinguished_name = dn
[ dn ]
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
"""


def make_pki(work):
    """make_pki creates an ECDSA P-256 CA, server certificate (localhost, 127.0.0.1),
    a registered client certificate and an unregistered one from the same CA; returns
    a dict of paths plus the client's SHA-1 thumbprint and its RFC 9440 Client-Cert
    header value. Raises RuntimeError when openssl fails."""
    d = os.path.join(work, "pki")
    os.makedirs(d)
    p = lambda n: os.path.join(d, n)  # noqa: E731
    cnf = p("openssl.cnf")
    with open(cnf, "w") as f:
        f.write(CA_CNF)
    ca = testkit_pki.make_ca(d, "/O=certgate-bench/CN=bench CA", 30, config=cnf)
    for name, ext, cn in (("server", "server_ext", "localhost"),
                          ("client", "client_ext", "bench-client"),
                          ("other", "client_ext", "unregistered-client")):
        testkit_pki.genkey(p(name + ".key"))
        testkit_pki.make_csr(p(name + ".key"), "/O=certgate-bench/CN=" + cn, p(name + ".csr"),
                             config=cnf)
        testkit_pki.openssl("x509", "-req", "-in", p(name + ".csr"), "-CA", ca.cert,
                            "-CAkey", ca.key, "-CAcreateserial", "-days", "30", "-sha256",
                            "-extfile", cnf, "-extensions", ext, "-out", p(name + ".crt"))
    # HAProxy wants certificate and key in one file.
    with open(p("server.pem"), "w") as out:
        for n in ("server.crt", "server.key"):
            with open(p(n)) as f:
                out.write(f.read())
    client = testkit_pki.Cert("client", p("client.crt"), p("client.key"))
    client.check_thumbprint()
    return {"dir": d, "ca": ca.cert, "server_crt": p("server.crt"),
            "server_key": p("server.key"), "server_pem": p("server.pem"),
            "client_crt": client.cert, "client_key": client.key,
            "other_crt": p("other.crt"), "other_key": p("other.key"), "sha1": client.sha1,
            "client_cert_header": ":%s:" % base64.b64encode(client.der).decode()}
