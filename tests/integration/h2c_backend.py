"""h2c_backend: a cleartext HTTP/2 database stand-in (python-h2) that records what it
receives, for tests whose upstream protocol is "h2c".

Runs in the test's own process: one accept thread and one thread per connection, every
socket with a timeout, close() stops them all (bounded joins).

Endpoints (any method):
  /download?size=N   N bytes of echo_backend's pattern, sent as the stream's and the
                     connection's flow-control windows allow
  anything else      200 JSON {method, path, headers, trailers, body_len} once the
                     request has ended

Every request is recorded in .requests (list of dicts with the same keys, appended when
the request ends), so a test can check exactly which fields, and which trailers, the
database saw.
"""

import json
import socket
import threading
import urllib.parse

import h2.config
import h2.connection
import h2.events
import h2.exceptions

import echo_backend


class H2cBackend:
    def __init__(self, io_timeout=30.0):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.io_timeout = io_timeout
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.requests = []
        self.threads = [threading.Thread(target=self._accept_loop, daemon=True)]
        self.threads[0].start()

    def recorded(self, path_prefix=""):
        """recorded returns the requests received so far whose path starts with
        path_prefix."""
        with self.lock:
            return [r for r in self.requests if r["path"].startswith(path_prefix)]

    def _accept_loop(self):
        while not self.stop.is_set():
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(s,), daemon=True)
            t.start()
            with self.lock:
                self.threads.append(t)

    def _serve(self, s):
        s.settimeout(0.2)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, validate_inbound_headers=False))
        conn.initiate_connection()
        streams = {}  # id -> {"headers", "trailers", "body_len"}
        sending = {}  # id -> [pattern position, bytes left]
        idle = 0.0
        try:
            s.sendall(conn.data_to_send())
            while not self.stop.is_set():
                try:
                    data = s.recv(65536)
                except socket.timeout:
                    idle += 0.2
                    if idle > self.io_timeout:
                        return
                    continue
                idle = 0.0
                if not data:
                    return
                for ev in conn.receive_data(data):
                    self._on_event(conn, ev, streams, sending)
                self._pump(conn, sending)
                s.sendall(conn.data_to_send())
        except (OSError, h2.exceptions.ProtocolError):
            return
        finally:
            s.close()

    def _on_event(self, conn, ev, streams, sending):
        if isinstance(ev, h2.events.RequestReceived):
            streams[ev.stream_id] = {"headers": [(k.decode(), v.decode()) for k, v in
                                                 ev.headers],
                                     "trailers": [], "body_len": 0}
        elif isinstance(ev, h2.events.DataReceived):
            st = streams.get(ev.stream_id)
            if st is not None:
                st["body_len"] += len(ev.data)
            conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.TrailersReceived):
            st = streams.get(ev.stream_id)
            if st is not None:
                st["trailers"] = [(k.decode(), v.decode()) for k, v in ev.headers]
        elif isinstance(ev, h2.events.StreamEnded):
            st = streams.pop(ev.stream_id, None)
            if st is not None:
                self._answer(conn, ev.stream_id, st, sending)
        elif isinstance(ev, h2.events.StreamReset):
            streams.pop(ev.stream_id, None)
            sending.pop(ev.stream_id, None)

    def _answer(self, conn, sid, st, sending):
        pseudo = dict((k, v) for k, v in st["headers"] if k.startswith(":"))
        path = pseudo.get(":path", "")
        rec = {"method": pseudo.get(":method"), "path": path,
               "headers": [[k, v] for k, v in st["headers"] if not k.startswith(":")],
               "trailers": [[k, v] for k, v in st["trailers"]],
               "body_len": st["body_len"]}
        with self.lock:
            self.requests.append(rec)
        url = urllib.parse.urlsplit(path)
        if url.path == "/download":
            size = int(urllib.parse.parse_qs(url.query).get("size", ["0"])[0])
            conn.send_headers(sid, [(":status", "200"), ("content-length", str(size)),
                                    ("content-type", "application/octet-stream")],
                              end_stream=size == 0)
            if size > 0:
                sending[sid] = [0, size]
            return
        body = json.dumps(rec).encode()
        conn.send_headers(sid, [(":status", "200"), ("content-type", "application/json"),
                                ("content-length", str(len(body)))])
        conn.send_data(sid, body, end_stream=True)

    def _pump(self, conn, sending):
        """_pump sends download bytes while the windows allow."""
        for sid in list(sending):
            pos, left = sending[sid]
            while left > 0:
                try:
                    n = min(left, conn.local_flow_control_window(sid),
                            conn.max_outbound_frame_size)
                except h2.exceptions.StreamClosedError:
                    left = 0
                    break
                if n <= 0:
                    break
                off = pos % echo_backend.PATTERN_PERIOD
                conn.send_data(sid, bytes(echo_backend.BASE2[off:off + n]),
                               end_stream=n == left)
                pos += n
                left -= n
            if left == 0:
                del sending[sid]
            else:
                sending[sid] = [pos, left]

    def close(self):
        self.stop.set()
        self.lsock.close()
        with self.lock:
            threads = list(self.threads)
        for t in threads:
            t.join(5)
