"""h2c_backend: an HTTP/2-only database stand-in (python-h2) that records what it
receives, for tests whose upstream protocol is "h2c" (or "h2": tls=(cert, key) serves
TLS with ALPN h2).

Runs in the test's own process: one accept thread and one thread per connection, every
socket with a timeout, close() stops them all (bounded joins).

Endpoints (any method; a HEAD request gets the head only):
  /download?size=N   N bytes of echo_backend's pattern with content-length, sent as the
                     stream's and the connection's flow-control windows allow
  /chunks?size=N     the same without content-length, then the trailers
                     x-checksum: <sha256 of the body> and proxy-authenticate (a
                     hop-by-hop field, which must not be passed on)
  /status?code=N     status N with a small JSON body {"error": "from-db"}
  /abort?size=N      content-length N, then half of the body, then the connection closes
  /overlong?size=N   content-length N, then N + 10 bytes of body (a lying database)
  /_health           an empty answer with .health_status (200 unless the test sets it)
  /item...           answered .delay seconds late when delay is set (a slow server)
  anything else      200 JSON {method, path, authority, scheme, headers, trailers,
                     body_len, body_sha256} once the request has ended

Every request is recorded in .requests (list of dicts with the same keys, appended when
the request ends), so a test can check exactly which fields, and which trailers, the
database saw.
"""

import hashlib
import json
import socket
import ssl
import threading
import time
import urllib.parse

import h2.config
import h2.connection
import h2.events
import h2.exceptions

import echo_backend


class H2cBackend:
    def __init__(self, io_timeout=30.0, tls=None, host="127.0.0.1", port=0, delay=0.0):
        self.ctx = None
        if tls is not None:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(*tls)
            self.ctx.set_alpn_protocols(["h2"])
        self.health_status = 200
        self.delay = delay  # seconds before answering /item* (a slow server)
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, port))
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
            client_side=False, validate_inbound_headers=False,
            validate_outbound_headers=False))
        conn.initiate_connection()
        streams = {}  # id -> {"headers", "trailers", "body_len", "sha"}
        sending = {}  # id -> [pattern position, bytes left, trailers or None, stop at]
        idle = 0.0
        try:
            if self.ctx is not None:
                s.settimeout(self.io_timeout)
                s = self.ctx.wrap_socket(s, server_side=True)
                s.settimeout(0.2)
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
                aborted = self._pump(conn, sending)
                s.sendall(conn.data_to_send())
                if aborted:
                    return
        except (OSError, ssl.SSLError, h2.exceptions.ProtocolError):
            return
        finally:
            s.close()

    def _on_event(self, conn, ev, streams, sending):
        if isinstance(ev, h2.events.RequestReceived):
            streams[ev.stream_id] = {"headers": [(k.decode(), v.decode()) for k, v in
                                                 ev.headers],
                                     "trailers": [], "body_len": 0, "sha": hashlib.sha256()}
        elif isinstance(ev, h2.events.DataReceived):
            st = streams.get(ev.stream_id)
            if st is not None:
                st["body_len"] += len(ev.data)
                st["sha"].update(ev.data)
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
               "authority": pseudo.get(":authority"), "scheme": pseudo.get(":scheme"),
               "headers": [[k, v] for k, v in st["headers"] if not k.startswith(":")],
               "trailers": [[k, v] for k, v in st["trailers"]],
               "body_len": st["body_len"], "body_sha256": st["sha"].hexdigest()}
        with self.lock:
            self.requests.append(rec)
        url = urllib.parse.urlsplit(path)
        query = urllib.parse.parse_qs(url.query)
        size = int(query.get("size", ["0"])[0])
        head_only = rec["method"] == "HEAD"
        if url.path in ("/download", "/abort"):
            conn.send_headers(sid, [(":status", "200"), ("content-length", str(size)),
                                    ("content-type", "application/octet-stream")],
                              end_stream=size == 0 or head_only)
            if size > 0 and not head_only:
                stop = size // 2 if url.path == "/abort" else None
                sending[sid] = [0, size, None, stop]
            return
        if self.delay and url.path.startswith("/item"):
            time.sleep(self.delay)  # holds the connection: its other streams wait too
        if url.path == "/_health":
            conn.send_headers(sid, [(":status", str(self.health_status)),
                                    ("content-length", "0")], end_stream=True)
            return
        if url.path == "/overlong":
            conn.send_headers(sid, [(":status", "200"), ("content-length", str(size))])
            conn.send_data(sid, b"x" * (size + 10), end_stream=True)
            return
        if url.path == "/chunks":
            conn.send_headers(sid, [(":status", "200"),
                                    ("content-type", "application/octet-stream")],
                              end_stream=head_only)
            if not head_only:
                checksum = echo_backend.pattern_sha256(size)
                sending[sid] = [0, size, [("x-checksum", checksum), ("proxy-authenticate", "Basic realm=db")],
                                None]
            return
        status = query.get("code", ["200"])[0] if url.path == "/status" else "200"
        body = json.dumps({"error": "from-db"} if url.path == "/status" else rec).encode()
        conn.send_headers(sid, [(":status", status), ("content-type", "application/json"),
                                ("content-length", str(len(body)))], end_stream=head_only)
        if not head_only:
            conn.send_data(sid, body, end_stream=True)

    def _pump(self, conn, sending):
        """_pump sends download bytes while the windows allow; it returns True when an
        /abort download reached its stop point (the caller closes the connection)."""
        for sid in list(sending):
            pos, left, trailers, stop = sending[sid]
            while left > 0:
                if stop is not None and pos >= stop:
                    return True
                try:
                    n = min(left, conn.local_flow_control_window(sid),
                            conn.max_outbound_frame_size)
                except h2.exceptions.StreamClosedError:
                    left = 0
                    break
                if n <= 0:
                    break
                if stop is not None:
                    n = min(n, stop - pos)
                off = pos % echo_backend.PATTERN_PERIOD
                last = n == left
                conn.send_data(sid, bytes(echo_backend.BASE2[off:off + n]),
                               end_stream=last and not trailers)
                if last and trailers:
                    conn.send_headers(sid, trailers, end_stream=True)
                pos += n
                left -= n
            if left == 0:
                del sending[sid]
            else:
                sending[sid] = [pos, left, trailers, stop]
        return False

    def close(self):
        self.stop.set()
        self.lsock.close()
        with self.lock:
            threads = list(self.threads)
        for t in threads:
            t.join(5)
