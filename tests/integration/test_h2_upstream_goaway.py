"""GOAWAY from an HTTP/2 database (upstream h2c).

A small python-h2 server stands in for the database. The first request to /retry gets
GOAWAY with last-stream-id 0 (never processed, RFC 9113 §6.8): certgate must retry it on
a new session and the client must get the answer. A request to /lost gets GOAWAY with
its own stream id and the connection closes without an answer: it may have been
processed, so certgate must not retry it and answers 502. A session left without
streams is closed after keepalive_idle.
"""

import os
import socket
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import certgate_harness as H  # noqa: E402
from test_h2_proxy import h2_policy, h2_request  # noqa: E402

import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402


class FakeDb:
    def __init__(self):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.lsock.settimeout(0.5)
        self.port = self.lsock.getsockname()[1]
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.seen = []          # (connection index, path)
        self.conns = 0
        self.closed_by_peer = set()  # connection indexes certgate closed
        self.retry_goaway_sent = False
        self.threads = [threading.Thread(target=self.accept_loop, daemon=True)]
        self.threads[0].start()

    def accept_loop(self):
        while not self.stop.is_set():
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.conns += 1
                idx = self.conns
            t = threading.Thread(target=self.serve, args=(s, idx), daemon=True)
            t.start()
            self.threads.append(t)

    def serve(self, s, idx):
        s.settimeout(10)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        s.sendall(conn.data_to_send())
        try:
            while not self.stop.is_set():
                data = s.recv(65536)
                if not data:
                    with self.lock:
                        self.closed_by_peer.add(idx)
                    return
                for ev in conn.receive_data(data):
                    if not isinstance(ev, h2.events.RequestReceived):
                        continue
                    path = dict(ev.headers)[b":path"].decode()
                    with self.lock:
                        self.seen.append((idx, path))
                        first_retry = path == "/retry" and not self.retry_goaway_sent
                        if first_retry:
                            self.retry_goaway_sent = True
                    if first_retry:
                        conn.close_connection(last_stream_id=0)
                        s.sendall(conn.data_to_send())
                        return
                    if path == "/lost":
                        conn.close_connection(last_stream_id=ev.stream_id)
                        s.sendall(conn.data_to_send())
                        return
                    conn.send_headers(ev.stream_id, [(":status", "200"),
                                                     ("content-type", "text/plain")])
                    conn.send_data(ev.stream_id, b"ok from %d" % idx, end_stream=True)
                s.sendall(conn.data_to_send())
        except (OSError, h2.exceptions.ProtocolError):
            return
        finally:
            s.close()

    def close(self):
        self.stop.set()
        self.lsock.close()
        for t in self.threads:
            t.join(5)


class UpstreamGoaway(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        H.set_up_testbed(cls, backend=False)
        cls.db = FakeDb()
        cls.addClassCleanup(cls.db.close)
        cls.cg = H.start_certgate(cls.tmp, cls.pki, [cls.db.port], policy=h2_policy(cls.pki),
                                  listener={"alpn": ["h2"]}, upstream={"protocol": "h2c"},
                                  timeouts={"keepalive_idle": 1000},
                                  overrides={"workers": 1})
        cls.addClassCleanup(cls.cg.kill)

    def test_unprocessed_stream_retried_on_new_session(self):
        status, _, body, _ = h2_request(self.cg.port, self.pki, "/retry")
        self.assertEqual(status, 200)
        self.assertTrue(body.startswith(b"ok from "), body)
        with self.db.lock:
            tries = [c for c, p in self.db.seen if p == "/retry"]
        self.assertEqual(len(tries), 2, self.db.seen)
        self.assertNotEqual(tries[0], tries[1])

    def test_processed_stream_not_retried(self):
        status, _, body, _ = h2_request(self.cg.port, self.pki, "/lost")
        self.assertEqual(status, 502, body)
        with self.db.lock:
            self.assertEqual(len([1 for _, p in self.db.seen if p == "/lost"]), 1)
        # The next request works on a fresh session.
        status, _, _, _ = h2_request(self.cg.port, self.pki, "/after")
        self.assertEqual(status, 200)

    def test_idle_session_closed(self):
        # A session without streams is closed after keepalive_idle: the database does
        # not keep connections certgate no longer uses.
        status, _, _, _ = h2_request(self.cg.port, self.pki, "/idle-check")
        self.assertEqual(status, 200)
        with self.db.lock:
            idx = [c for c, p in self.db.seen if p == "/idle-check"][0]
        H.wait_until(lambda: idx in self.db.closed_by_peer, 6, what="idle session closed")


if __name__ == "__main__":
    unittest.main()
