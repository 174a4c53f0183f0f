"""The proxies under test, each doing the same job: TLS 1.3, client certificate
required, the bench client's thumbprint allowed, the same identity headers to nginx.

One worker or thread each, pinned to PROXY_CORE."""

import json
import os
import time

from certgate_testkit.net import free_port

from .common import PROXY_CORE, die, spawn, tool


class Proxy:
    """One proxy under test: start() on core 0, url(), pid for /proc."""

    name = ""

    def __init__(self, work, pki, backend_port):
        self.work = os.path.join(work, self.name)
        os.makedirs(self.work, exist_ok=True)
        self.pki = pki
        self.backend_port = backend_port
        self.port = free_port()
        self.proc = None

    def argv(self):
        raise NotImplementedError

    def env(self):
        return None

    def start(self, pin=True):
        """start writes the configuration for a fresh port and starts the proxy, on
        PROXY_CORE when pin; ends bench/run when it does not listen within 15 s."""
        self.port = free_port()
        self.write_config()
        argv = (["taskset", "-c", PROXY_CORE] if pin else []) + self.argv()
        self.proc = spawn(argv, os.path.join(self.work, "output"), env=self.env())
        try:
            self.proc.wait_listening(self.port, timeout=15)
        except AssertionError:
            die("%s did not start:\n%s" % (self.name, self.proc.logs(3000)))
        time.sleep(0.3)  # let nghttpx fork its worker and everyone settle
        return self

    def stop(self):
        if self.proc is not None:
            self.proc.stop(timeout=10)
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid

    def url(self, path="/"):
        return "https://127.0.0.1:%d%s" % (self.port, path)


class Certgate(Proxy):
    name = "certgate"
    workers = 1
    limits = {}  # extra certgate limits (--certgate-limit KEY=VALUE)

    def __init__(self, work, pki, backend_port, binary):
        self.binary = binary
        super().__init__(work, pki, backend_port)

    def write_config(self):
        policy = {
            "allow_ips": ["127.0.0.1"],
            "routes": [{"path": "/*", "require": "Authenticated"}],
            "certificates": [{"name": "bench-client", "thumbprints": [self.pki["sha1"]],
                              "clearance": "ValidUser"}],
        }
        cfg = {
            "workers": self.workers,
            "state_dir": os.path.join(self.work, "state"),
            "log": {"level": "warn", "access_log": None},
            "listeners": [{
                "name": "bench",
                "listen": ["127.0.0.1:%d" % self.port],
                "tls": {"certificates": [{"cert": self.pki["server_crt"],
                                          "key": self.pki["server_key"]}],
                        "min_version": "1.3"},
                "alpn": ["h2", "http/1.1"],
                "policy": os.path.join(self.work, "policy.json"),
                "upstream": "db",
            }],
            "upstreams": {"db": {"servers": ["127.0.0.1:%d" % self.backend_port],
                                 "protocol": "http/1.1"}},
            "limits": dict({"max_connections": 9000}, **self.limits),
        }
        os.makedirs(cfg["state_dir"], exist_ok=True)
        with open(os.path.join(self.work, "policy.json"), "w") as f:
            json.dump(policy, f, indent=2)
        self.config = os.path.join(self.work, "certgate.json")
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=2)

    def argv(self):
        return [self.binary, "run", "-c", self.config]


class Haproxy(Proxy):
    name = "haproxy"

    def write_config(self):
        thumbs = os.path.join(self.work, "thumbprints.txt")
        with open(thumbs, "w") as f:
            f.write(self.pki["sha1"] + "\n")
        names = os.path.join(self.work, "names.map")
        with open(names, "w") as f:
            f.write("%s bench-client\n" % self.pki["sha1"])
        clearances = os.path.join(self.work, "clearances.map")
        with open(clearances, "w") as f:
            f.write("%s ValidUser\n" % self.pki["sha1"])
        self.config = os.path.join(self.work, "haproxy.cfg")
        with open(self.config, "w") as f:
            f.write("""
global
    nbthread 1
    maxconn 9000
    ssl-default-bind-options ssl-min-ver TLSv1.3
defaults
    mode http
    maxconn 9000
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    timeout http-request 10s
    timeout http-keep-alive 120s
frontend fe
    bind 127.0.0.1:%(port)d ssl crt %(pem)s ca-file %(ca)s verify required alpn h2,http/1.1
    http-request deny deny_status 403 unless { ssl_c_sha1,hex -f %(thumbs)s }
    # The identity headers certgate sends by default, and the client's copies of the
    # headers it owns removed first: the same job.
    http-request del-header X-Client-Database-Access
    http-request del-header X-Forwarded-Client-Cert
    http-request del-header Client-Cert-Chain
    http-request del-header X-Forwarded-For
    http-request del-header Forwarded
    http-request del-header X-Real-IP
    http-request set-header X-Client-Cert-Thumbprint %%[ssl_c_sha1,hex]
    http-request set-header X-Client-Name %%[ssl_c_sha1,hex,map(%(names)s)]
    http-request set-header X-Client-Clearance %%[ssl_c_sha1,hex,map(%(clearances)s)]
    http-request set-header Client-Cert :%%[ssl_c_der,base64]:
    http-request set-header X-Forwarded-Proto https
    http-request set-header X-Forwarded-Host %%[req.hdr(host)]
    option forwardfor
    default_backend db
backend db
    http-reuse always
    server db1 127.0.0.1:%(bport)d
""" % {"port": self.port, "pem": self.pki["server_pem"], "ca": self.pki["ca"],
       "thumbs": thumbs, "names": names, "clearances": clearances,
       "bport": self.backend_port})

    def argv(self):
        return [tool("haproxy"), "-db", "-f", self.config]


class Nghttpx(Proxy):
    name = "nghttpx"

    def write_config(self):
        self.config = os.path.join(self.work, "nghttpx.conf")
        with open(self.config, "w") as f:
            f.write("""
frontend=127.0.0.1,%(port)d
backend=127.0.0.1,%(bport)d;;proto=http/1.1
private-key-file=%(key)s
certificate-file=%(crt)s
workers=1
single-thread=yes
verify-client=yes
verify-client-cacert=%(ca)s
tls-min-proto-version=TLSv1.3
tls-max-proto-version=TLSv1.3
tls13-ciphers=TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256
no-ocsp=yes
add-request-header=X-Client-Cert-Thumbprint: %(sha1)s
add-request-header=X-Client-Name: bench-client
add-request-header=X-Client-Clearance: ValidUser
add-request-header=Client-Cert: %(client_cert)s
add-request-header=X-Forwarded-Host: 127.0.0.1:%(port)d
add-x-forwarded-for=yes
strip-incoming-x-forwarded-for=yes
frontend-keep-alive-timeout=120s
backend-keep-alive-timeout=120s
errorlog-file=%(work)s/error.log
pid-file=%(work)s/nghttpx.pid
""" % {"port": self.port, "bport": self.backend_port, "key": self.pki["server_key"],
       "crt": self.pki["server_crt"], "ca": self.pki["ca"], "sha1": self.pki["sha1"],
       "client_cert": self.pki["client_cert_header"], "work": self.work})

    def argv(self):
        return [tool("nghttpx"), "--conf=" + self.config]
