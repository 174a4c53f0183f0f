"""HTTP/2 -> HTTP/1.1 translation bugs found by tests/fuzz/http2_translate_fuzz.c.

- A request whose `host` field (standing in for a missing :authority) was over 256
  bytes was forwarded with no Host field at all, which HTTP/1.1 requires (RFC 9112
  §3.2), and without the Host/SNI check (421), as if it named no host. Now such a host
  is refused with 400, like an :authority over 256 bytes.
- An `expect` field was forwarded as is: an HTTP/1.1 database answers an unknown
  expectation with 417 and `100-continue` with an interim response nobody asked for.
  Now it is dropped, as the HTTP/1.1 front end does.
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import certgate_harness as H  # noqa: E402
from test_h2_proxy import RawH2, h2_policy  # noqa: E402

import hyperframe.frame as hf  # noqa: E402


class H2ToHttp1Translation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        H.set_up_testbed(cls)
        cls.cg = H.start_certgate(cls.tmp, cls.pki, [cls.backend.port],
                                  policy=h2_policy(cls.pki), listener={"alpn": ["h2"]})
        cls.addClassCleanup(cls.cg.kill)

    def exchange(self, fields):
        """exchange sends one HEADERS frame with exactly `fields`; returns the status and
        the echo backend's JSON (or None)."""
        c = RawH2(self.cg.port, self.pki)
        self.addCleanup(c.close)
        f = hf.HeadersFrame(1)
        f.data = c.enc.encode(fields)
        f.flags.add("END_HEADERS")
        f.flags.add("END_STREAM")
        c.send(f.serialize())
        status, body = None, b""
        for fr in c.frames(timeout=5, until=lambda fr: fr.stream_id == 1 and (
                "END_STREAM" in fr.flags or isinstance(fr, hf.RstStreamFrame))):
            if isinstance(fr, hf.HeadersFrame) and fr.stream_id == 1 and fr.decoded:
                status = dict(fr.decoded).get(":status")
            elif isinstance(fr, hf.DataFrame) and fr.stream_id == 1:
                body += fr.data
        return status, (json.loads(body) if status == "200" else None)

    def test_oversized_host_refused_like_authority(self):
        host = "a" * 300 + ".example"
        for fields in ([("host", host)], [(":authority", host)]):
            status, _ = self.exchange([(":method", "GET"), (":scheme", "https"),
                                       (":path", "/long-host")] + fields)
            self.assertEqual(status, "400", fields[0][0])
        self.assertNotIn("/long-host", self.backend.requests())
        # A host field of ordinary length still stands in for :authority.
        status, echo = self.exchange([(":method", "GET"), (":scheme", "https"),
                                      (":path", "/host-field"),
                                      ("host", "localhost:%d" % self.cg.port)])
        self.assertEqual(status, "200")
        hosts = [v for k, v in echo["headers"] if k.lower() == "host"]
        self.assertEqual(hosts, ["localhost:%d" % self.cg.port])

    def test_expect_not_forwarded(self):
        for value in ("100-continue", "fancy-feature"):
            status, echo = self.exchange([(":method", "GET"), (":scheme", "https"),
                                          (":authority", "localhost:%d" % self.cg.port),
                                          (":path", "/expect"), ("expect", value)])
            self.assertEqual(status, "200", value)
            self.assertNotIn("expect", [k.lower() for k, _ in echo["headers"]])


if __name__ == "__main__":
    unittest.main()
