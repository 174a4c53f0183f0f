"""Request smuggling and malformed HTTP/1.1: certgate must answer 400 (414/431 for
oversized heads, 501 for a transfer coding it does not implement), close the connection,
and never let the request -- or a request hidden in its body -- reach the database.

Each case is sent with one write over a fresh TLS connection (admin client certificate);
the response is read until the server closes (bounded). The backend is then asked
directly (/_requests) whether any target carrying the case's marker arrived.
Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_h1_smuggling
"""

import unittest
import uuid

import certgate_harness as h


class H1SmugglingTest(h.CertgateTestCase, unittest.TestCase):

    def setUp(self):
        self.marker = "m" + uuid.uuid4().hex[:12]
        self.host = "localhost:%d" % self.port

    def send(self, raw):
        # A success response means the case failed already: stop waiting for a close.
        def accepted(data):
            return any(r.status < 400 for r in h.parse_responses(data))
        return h.raw_exchange(self.port, raw, self.pki, timeout=5.0, stop=accepted)

    def assert_rejected(self, raw, statuses=(400,)):
        data, how = self.send(raw)
        resps = h.parse_responses(data)
        self.assertTrue(resps, "no HTTP response (connection ended by %s; got %r)" % (how, data[:300]))
        self.assertIn(resps[0].status, statuses, "got %r" % data[:500])
        self.assertEqual(len(resps), 1, "more than one response: %r" % data[:1000])
        self.assertEqual(how, "eof", "connection not closed after the error (%s)" % how)
        seen = [t for t in self.backend.requests() if self.marker in t]
        self.assertEqual(seen, [], "rejected request reached the backend")
        return resps[0]

    def head(self, target=None, extra=b"", version=b"HTTP/1.1", host=True):
        t = (target or "/%s" % self.marker).encode()
        out = b"POST " + t + b" " + version + b"\r\n"
        if host:
            out += b"Host: " + self.host.encode() + b"\r\n"
        return out + extra

    def smuggled(self):
        return b"GET /%s-smuggled HTTP/1.1\r\nHost: %s\r\n\r\n" % (
            self.marker.encode(), self.host.encode())

    # --- sanity: the same connection handling accepts a correct request ----------------

    def test_valid_request_passes(self):
        body = b"hello"
        raw = self.head(extra=b"Content-Length: 5\r\nConnection: close\r\n\r\n" + body)
        data, how = self.send(raw)
        resps = h.parse_responses(data)
        self.assertEqual([r.status for r in resps], [200], data[:300])
        self.assertIn("/" + self.marker, self.backend.requests())

    # --- Content-Length / Transfer-Encoding ---------------------------------------------

    def test_cl_and_te(self):
        s = self.smuggled()
        body = b"0\r\n\r\n" + s
        self.assert_rejected(self.head(extra=b"Content-Length: %d\r\nTransfer-Encoding: chunked"
                                       b"\r\n\r\n" % len(body) + body))

    def test_te_and_cl(self):
        s = self.smuggled()
        body = b"0\r\n\r\n" + s
        self.assert_rejected(self.head(extra=b"Transfer-Encoding: chunked\r\nContent-Length: 5"
                                       b"\r\n\r\n" + body))

    def test_duplicate_content_length(self):
        s = self.smuggled()
        self.assert_rejected(self.head(extra=b"Content-Length: 0\r\nContent-Length: %d\r\n\r\n"
                                       % len(s) + s))

    def test_duplicate_content_length_same_value(self):
        self.assert_rejected(self.head(extra=b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc"))

    def test_content_length_with_plus_sign(self):
        self.assert_rejected(self.head(extra=b"Content-Length: +3\r\n\r\nabc"))

    def test_content_length_negative(self):
        self.assert_rejected(self.head(extra=b"Content-Length: -1\r\n\r\nabc"))

    def test_content_length_comma_list(self):
        self.assert_rejected(self.head(extra=b"Content-Length: 3, 3\r\n\r\nabc"))

    def test_content_length_empty(self):
        self.assert_rejected(self.head(extra=b"Content-Length: \r\n\r\nabc"))

    def test_content_length_hex(self):
        self.assert_rejected(self.head(extra=b"Content-Length: 0x3\r\n\r\nabc"))

    def test_content_length_overflow(self):
        self.assert_rejected(self.head(extra=b"Content-Length: 99999999999999999999999\r\n\r\nabc"),
                             (400, 413))

    def test_te_gzip_chunked(self):
        self.assert_rejected(self.head(extra=b"Transfer-Encoding: gzip, chunked\r\n\r\n"
                                       b"0\r\n\r\n" + self.smuggled()), (400, 501))

    def test_te_chunked_gzip(self):
        self.assert_rejected(self.head(extra=b"Transfer-Encoding: chunked, gzip\r\n\r\n"
                                       b"0\r\n\r\n" + self.smuggled()), (400, 501))

    def test_te_identity(self):
        self.assert_rejected(self.head(extra=b"Transfer-Encoding: identity\r\n\r\n"), (400, 501))

    def test_te_two_headers(self):
        self.assert_rejected(self.head(extra=b"Transfer-Encoding: chunked\r\n"
                                       b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                                       + self.smuggled()))

    def test_te_space_before_colon(self):
        self.assert_rejected(self.head(extra=b"Transfer-Encoding : chunked\r\n\r\n"
                                       b"0\r\n\r\n" + self.smuggled()))

    def test_te_in_http10(self):
        self.assert_rejected(self.head(version=b"HTTP/1.0",
                                       extra=b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))

    # --- header syntax ----------------------------------------------------------------

    def test_obs_fold(self):
        self.assert_rejected(self.head(extra=b"X-Folded: a\r\n  b\r\nContent-Length: 0\r\n\r\n"))

    def test_obs_fold_of_transfer_encoding(self):
        self.assert_rejected(self.head(extra=b"Transfer-Encoding:\r\n chunked\r\n\r\n"
                                       b"0\r\n\r\n" + self.smuggled()))

    def test_bare_lf_line_endings(self):
        raw = b"GET /%s HTTP/1.1\nHost: %s\nX-A: b\n\n" % (self.marker.encode(),
                                                            self.host.encode())
        self.assert_rejected(raw)

    def test_bare_lf_in_one_header(self):
        self.assert_rejected(self.head(extra=b"X-A: b\nContent-Length: 0\r\n\r\n"))

    def test_bare_cr(self):
        self.assert_rejected(self.head(extra=b"X-A: b\rX-B: c\r\nContent-Length: 0\r\n\r\n"))

    def test_nul_in_header_value(self):
        self.assert_rejected(self.head(extra=b"X-A: b\x00c\r\nContent-Length: 0\r\n\r\n"))

    def test_control_char_in_header_name(self):
        self.assert_rejected(self.head(extra=b"X-\x01A: b\r\nContent-Length: 0\r\n\r\n"))

    def test_space_in_header_name(self):
        self.assert_rejected(self.head(extra=b"X A: b\r\nContent-Length: 0\r\n\r\n"))

    def test_empty_header_name(self):
        self.assert_rejected(self.head(extra=b": b\r\nContent-Length: 0\r\n\r\n"))

    def test_header_without_colon(self):
        self.assert_rejected(self.head(extra=b"X-No-Colon\r\nContent-Length: 0\r\n\r\n"))

    def test_bad_request_line(self):
        self.assert_rejected(b"GET  /%s HTTP/1.1\r\nHost: %s\r\n\r\n" % (
            self.marker.encode(), self.host.encode()))

    def test_bad_version(self):
        self.assert_rejected(b"GET /%s HTTP/1.2.3\r\nHost: %s\r\n\r\n" % (
            self.marker.encode(), self.host.encode()), (400, 505))

    # --- chunked body syntax ----------------------------------------------------------

    def chunked(self, body):
        return self.head(extra=b"Transfer-Encoding: chunked\r\n\r\n" + body)

    def test_chunk_size_not_hex(self):
        self.assert_rejected(self.chunked(b"zz\r\nabc\r\n0\r\n\r\n"))

    def test_chunk_size_negative(self):
        self.assert_rejected(self.chunked(b"-1\r\nabc\r\n0\r\n\r\n"))

    def test_chunk_size_overflow(self):
        self.assert_rejected(self.chunked(b"1" + b"0" * 19 + b"\r\nabc\r\n0\r\n\r\n"))

    def test_chunk_size_overflow_wraps_to_small(self):
        # 2^64 + 3 would wrap to 3 in a careless 64-bit accumulator.
        self.assert_rejected(self.chunked(b"10000000000000003\r\nabc\r\n0\r\n\r\n"
                                          + self.smuggled()))

    def test_chunk_missing_crlf(self):
        self.assert_rejected(self.chunked(b"3\r\nabcX\r\n0\r\n\r\n"))

    def test_chunk_size_with_space(self):
        self.assert_rejected(self.chunked(b"3 3\r\nabc\r\n0\r\n\r\n"))

    # --- sizes ------------------------------------------------------------------------

    def test_request_line_too_long(self):
        target = "/%s?%s" % (self.marker, "a" * (9 * 1024))
        self.assert_rejected(b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (
            target.encode(), self.host.encode()), (414,))

    def test_too_many_headers(self):
        extra = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
        self.assert_rejected(self.head(extra=extra + b"Content-Length: 0\r\n\r\n"), (431,))

    def test_header_block_64k(self):
        extra = b"".join(b"X-Big%d: %s\r\n" % (i, b"v" * 8000) for i in range(8))
        self.assert_rejected(self.head(extra=extra + b"Content-Length: 0\r\n\r\n"), (431,))

    def test_single_header_too_large(self):
        extra = b"X-Big: " + b"v" * (40 * 1024) + b"\r\n"
        self.assert_rejected(self.head(extra=extra + b"Content-Length: 0\r\n\r\n"), (431,))

    # --- Host -------------------------------------------------------------------------

    def test_http11_without_host(self):
        self.assert_rejected(self.head(host=False, extra=b"Content-Length: 0\r\n\r\n"))

    def test_two_host_headers(self):
        self.assert_rejected(self.head(extra=b"Host: %s\r\nContent-Length: 0\r\n\r\n"
                                       % self.host.encode()))

    def test_empty_host(self):
        self.assert_rejected(b"GET /%s HTTP/1.1\r\nHost: \r\n\r\n" % self.marker.encode(),
                             (400, 421))

    def test_absolute_form_host_mismatch(self):
        raw = b"GET https://localhost:%d/%s HTTP/1.1\r\nHost: other.example\r\n\r\n" % (
            self.port, self.marker.encode())
        self.assert_rejected(raw)


if __name__ == "__main__":
    unittest.main()
