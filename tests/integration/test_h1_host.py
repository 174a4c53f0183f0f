"""Regression: an HTTP/1.0 request without Host.

HTTP/1.0 lets a client leave Host out. certgate passed the absent header's NULL pointer
to memcpy in process_request (undefined behaviour: the ASan+UBSan build aborted, and
the harness fails a test whose certgate printed a sanitizer report) and forwarded the
request to the database without a Host, which HTTP/1.1 requires. Now the database gets
a valid Host: the TLS server name the client asked for, else the upstream's address.
(HTTP/2 has no such hole: a request without :authority or host is reset.)

Driven with raw TLS sockets and no client certificate, on a Public route.

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_h1_host
"""

import unittest

import certgate_harness as h


class HttpNoHostTest(h.CertgateTestCase, unittest.TestCase):
    CONFIG = {"listener": {"alpn": ["h2", "http/1.1"]}}

    def exchange(self, data, server_hostname="localhost", alpn=("http/1.1",)):
        """exchange sends |data| without a client certificate and returns the parsed
        responses; server_hostname None sends no SNI."""
        ctx = h.client_context(self.pki, None, verify=server_hostname is not None,
                               alpn=alpn)
        s = h.tls_connect(self.port, ctx, server_hostname)
        try:
            s.sendall(data)
            got, _ = h.read_until_close(s, timeout=10)
        finally:
            s.close()
        return h.parse_responses(got)

    def forwarded_host(self, resp):
        self.assertEqual(resp.status, 200, resp)
        echo = resp.json()
        hosts = [v for n, v in echo["headers"] if n.lower() == "host"]
        self.assertEqual(len(hosts), 1, echo["headers"])
        return hosts[0], echo

    def test_http10_without_host_gets_the_sni(self):
        r = self.exchange(b"GET /healthz HTTP/1.0\r\n\r\n")
        self.assertEqual(len(r), 1, r)
        host, echo = self.forwarded_host(r[0])
        self.assertEqual(host, "localhost")
        self.assertEqual(echo["target"], "/healthz")
        self.cg.check_sanitizers()

    def test_http10_without_host_or_sni_gets_the_upstream_address(self):
        r = self.exchange(b"GET /healthz HTTP/1.0\r\n\r\n", server_hostname=None)
        self.assertEqual(len(r), 1, r)
        host, _ = self.forwarded_host(r[0])
        self.assertEqual(host, "127.0.0.1:%d" % self.backend.port)
        self.cg.check_sanitizers()

    def test_http10_keeps_a_host_it_was_given(self):
        r = self.exchange(b"GET /healthz HTTP/1.0\r\nHost: localhost:1234\r\n\r\n")
        host, _ = self.forwarded_host(r[0])
        self.assertEqual(host, "localhost:1234")

    def test_http10_keep_alive_without_host_twice(self):
        req = b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        r = self.exchange(req + b"GET /healthz HTTP/1.0\r\n\r\n")
        self.assertEqual(len(r), 2, r)
        for resp in r:
            self.assertEqual(self.forwarded_host(resp)[0], "localhost")
        self.cg.check_sanitizers()

    def test_http2_without_authority_is_refused(self):
        # HTTP/2 has no such hole: nghttp2 resets a request with neither :authority nor
        # host (PROTOCOL_ERROR), so it never reaches an HTTP/1.1 database without Host.
        import h2.config
        import h2.connection
        import h2.events
        ctx = h.client_context(self.pki, None, alpn=("h2",))
        s = h.tls_connect(self.port, ctx)
        reset = None
        try:
            # hyper-h2 would refuse to send a request without :authority or Host.
            conn = h2.connection.H2Connection(h2.config.H2Configuration(
                client_side=True, validate_outbound_headers=False))
            conn.initiate_connection()
            conn.send_headers(1, [(":method", "GET"), (":scheme", "https"),
                                  (":path", "/no-authority")], end_stream=True)
            s.sendall(conn.data_to_send())
            while reset is None:
                data = s.recv(65536)
                if not data:
                    break
                for ev in conn.receive_data(data):
                    if isinstance(ev, (h2.events.StreamEnded, h2.events.ResponseReceived)):
                        self.fail("answered: %r" % ev)
                    if isinstance(ev, h2.events.StreamReset):
                        reset = ev
                s.sendall(conn.data_to_send())
        finally:
            s.close()
        self.assertIsNotNone(reset)
        self.assertEqual(reset.error_code, 1)  # PROTOCOL_ERROR
        self.assertNotIn("/no-authority", self.backend.requests())


if __name__ == "__main__":
    unittest.main()
