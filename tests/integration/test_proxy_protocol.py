"""PROXY protocol in front of certgate: a load balancer on 127.0.0.1 (the `from` list)
must send a v1 or v2 header, and then the address it names is the client's for the
policy's allow_ips and for X-Forwarded-For.

The policy allows only 10.0.0.0/8: a header naming 10.1.2.3 gets through, one naming
192.168.7.7 is refused before the TLS handshake, and a connection without a header
(or with a garbage one) is closed without reaching the backend.
Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_proxy_protocol
"""

import json
import os
import socket
import ssl
import struct
import unittest

import certgate_harness as h

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(src_ip, src_port):
    addrs = socket.inet_aton(src_ip) + socket.inet_aton("127.0.0.1") + \
        struct.pack("!HH", src_port, 8443)
    return V2_SIG + bytes([0x21, 0x11]) + struct.pack("!H", len(addrs)) + addrs


class ProxyProtocolTest(h.CertgateTestCase, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.CONFIG = {"listener": {"proxy_protocol": {"from": ["127.0.0.1/32"]}},
                      "policy": None, "status": True}
        super().setUpClass()
        pol = h.default_policy(cls.pki)
        pol["allow_ips"] = ["10.0.0.0/8"]
        h.write_json(cls.cg_policy_path(), pol)
        cls.cg.hup()
        h.wait_generation_above(cls.cg, 1, timeout=10)

    @classmethod
    def cg_policy_path(cls):
        with open(cls.cg.config_path) as f:
            return json.load(f)["listeners"][0]["policy"]

    def exchange(self, preamble, path="/pp"):
        """Send |preamble| on a fresh TCP connection, then TLS and one request. Returns
        the parsed response or the exception the client saw."""
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        try:
            raw.sendall(preamble)
            ctx = h.client_context(self.pki, "admin")
            s = ctx.wrap_socket(raw, server_hostname="localhost")
        except (ssl.SSLError, OSError) as e:
            raw.close()
            return e
        with s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                       % path).encode())
            data, _ = h.read_until_close(s, timeout=5)
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split(b" ")[1]), body

    def test_v1_allowed_client_address(self):
        status, body = self.exchange(b"PROXY TCP4 10.1.2.3 127.0.0.1 40000 8443\r\n", "/pp-v1")
        self.assertEqual(status, 200)
        echo = json.loads(body[body.index(b"{"):body.rindex(b"}") + 1])
        xff = [v for k, v in echo["headers"] if k.lower() == "x-forwarded-for"]
        self.assertEqual(xff, ["10.1.2.3"])

    def test_v2_allowed_client_address(self):
        status, _ = self.exchange(v2_header("10.9.9.9", 5555), "/pp-v2")
        self.assertEqual(status, 200)
        # The access log names the client the header names, port included.
        h.wait_until(lambda: any(e.get("path") == "/pp-v2" and e.get("client") == "10.9.9.9"
                                 and e.get("client_port") == 5555
                                 for e in self.cg.access_log()), 5, what="request logged")

    def test_refused_client_address_never_reaches_backend(self):
        r = self.exchange(b"PROXY TCP4 192.168.7.7 127.0.0.1 40000 8443\r\n", "/pp-refused")
        self.assertIsInstance(r, (ssl.SSLError, OSError))
        self.assertNotIn("/pp-refused", self.backend.requests())
        h.wait_until(lambda: any(e.get("reason") == "ip_not_allowed" and
                                 e.get("client") == "192.168.7.7" and
                                 e.get("client_port") == 40000
                                 for e in self.cg.access_log()), 5, what="refusal logged")

    def test_missing_or_bad_header_closes(self):
        # The ClientHello itself is not a PROXY header: the handshake fails.
        r = self.exchange(b"", "/pp-none")
        self.assertIsInstance(r, (ssl.SSLError, OSError))
        r = self.exchange(b"PROXY TCP4 10.1.2.3 nonsense\r\n", "/pp-bad")
        self.assertIsInstance(r, (ssl.SSLError, OSError))
        self.assertNotIn("/pp-none", self.backend.requests())
        self.assertNotIn("/pp-bad", self.backend.requests())

    def test_check_refuses_from_that_run_refuses(self):
        # Regression: `certgate check` read proxy_protocol.from with a CIDR rule of its
        # own that let through blocks with host bits set ("10.0.0.1/8") and prefix
        # lengths with a leading zero ("10.0.0.0/08"), which `run` then refused at start:
        # a configuration checked as valid failed in production. One rule now
        # (policy/ipset), so check refuses them and names the entry.
        with open(self.cg.config_path) as f:
            cfg = json.load(f)
        for bad in ("10.0.0.1/8", "10.0.0.0/08", "fd00::1/8"):
            cfg["listeners"][0]["proxy_protocol"] = {"from": ["127.0.0.1/32", bad]}
            path = os.path.join(self.tmp, "pp-check.json")
            h.write_json(path, cfg)
            p = h.run_certgate("check", "-c", path, ok=False)
            self.assertEqual(p.returncode, 1, (bad, p.stdout, p.stderr))
            self.assertIn("$.listeners[0].proxy_protocol.from[1]", p.stderr, bad)
        cfg["listeners"][0]["proxy_protocol"] = {"from": ["127.0.0.1/32", "10.0.0.0/8"]}
        h.write_json(path, cfg)
        p = h.run_certgate("check", "-c", path, ok=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
