"""load_clients: bounded HTTP/1.1 and HTTP/2 load through certgate that counts every
request that did not get its answer, for tests of shutdown and upgrade.

Each client is a thread that sends GET requests until told to stop (or until its own
deadline), and records in a shared LoadStats:
- ok: a complete 200 response;
- refused: a TCP connect refused (no listener on the port);
- reset: a connection reset (or closed) before its TLS handshake completed, no request
  sent: what a client whose connection was still in a listening socket's accept queue
  gets when that socket closes (the kernel resets it);
- failed: anything else that lost a request: a connect or handshake error, a response
  other than 200, a connection closed or reset before its response was complete, an
  HTTP/2 stream reset;
- retried: requests a correct client resends on a new connection because the protocol
  says the server never processed them: an HTTP/2 stream above the last stream id of a
  GOAWAY (RFC 9113 section 6.8). They are counted apart and sent again.
A connection the server closes after a complete response (Connection: close, or
GOAWAY once its streams are done) is simply replaced; that is how a draining server
sends its clients elsewhere. Every request carries its client and sequence number in
the path, so the access logs show which process served it.
"""

import ssl
import threading
import time

import h2.config
import h2.errors
import h2.connection
import h2.events
import hyperframe.frame

import certgate_harness as h


class LoadStats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = 0
        self.refused = 0
        self.retried = 0
        self.failures = []  # (client, target, what)
        self.connections = 0
        self.first_refused = None  # time.monotonic() of the first refused connect
        self.reset = 0
        self.first_reset = None

    def add(self, field, n=1):
        with self.lock:
            setattr(self, field, getattr(self, field) + n)

    def fail(self, client, target, what):
        with self.lock:
            self.failures.append((client, target, what))

    def snapshot(self):
        with self.lock:
            return {"ok": self.ok, "failed": len(self.failures), "refused": self.refused,
                    "reset": self.reset, "retried": self.retried,
                    "connections": self.connections}

    def __repr__(self):
        s = self.snapshot()
        with self.lock:
            s["first_failures"] = self.failures[:5]
        return repr(s)


class _Client(threading.Thread):
    def __init__(self, name, port, pki, stats, stop, max_seconds=60.0, host="127.0.0.1"):
        super().__init__(name=name, daemon=True)
        self.cname = name
        self.port = port
        self.pki = pki
        self.stats = stats
        self.stop = stop
        self.host = host
        self.deadline = time.monotonic() + max_seconds
        self.seq = 0

    def running(self):
        return not self.stop.is_set() and time.monotonic() < self.deadline

    def next_target(self):
        self.seq += 1
        return "/load/%s/%d" % (self.cname, self.seq)

    def connect(self, alpn):
        """connect returns a TLS socket, or None after counting a refusal or failure."""
        try:
            s = h.tls_connect(self.port, h.client_context(self.pki, alpn=(alpn,)),
                              host=self.host, timeout=10.0)
        except ConnectionRefusedError:
            with self.stats.lock:
                self.stats.refused += 1
                if self.stats.first_refused is None:
                    self.stats.first_refused = time.monotonic()
            time.sleep(0.01)
            return None
        except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError,
                ssl.SSLZeroReturnError):
            with self.stats.lock:
                self.stats.reset += 1
                if self.stats.first_reset is None:
                    self.stats.first_reset = time.monotonic()
            time.sleep(0.01)
            return None
        except (OSError, ssl.SSLError) as e:
            self.stats.fail(self.cname, None, "connect: %r" % e)
            time.sleep(0.01)
            return None
        self.stats.add("connections")
        return s


class H1Client(_Client):
    """HTTP/1.1: one request at a time, on a keep-alive connection (keepalive=True) or
    on a new connection per request."""

    def __init__(self, *args, keepalive=True, **kw):
        super().__init__(*args, **kw)
        self.keepalive = keepalive

    def run(self):
        try:
            self.loop()
        except Exception as e:  # a bug here must not pass for a quiet client
            self.stats.fail(self.cname, None, "client error: %r" % e)

    def loop(self):
        sock = reader = None
        while self.running():
            if sock is None:
                sock = self.connect("http/1.1")
                if sock is None:
                    continue
                reader = h.ResponseReader(sock, 10.0)
            target = self.next_target()
            headers = [] if self.keepalive else [("Connection", "close")]
            try:
                sock.sendall(h.request_bytes("GET", target, "localhost:%d" % self.port, headers))
                r = reader.read()
            except (OSError, EOFError, ValueError, ssl.SSLError) as e:
                self.stats.fail(self.cname, target, "%r" % e)
                sock.close()
                sock = None
                continue
            if r.status == 200:
                self.stats.add("ok")
            else:
                self.stats.fail(self.cname, target, "status %d %r" % (r.status, r.body[:200]))
            if not self.keepalive or (r.header("connection") or "").lower() == "close":
                sock.close()
                sock = None
        if sock is not None:
            sock.close()


class H2Client(_Client):
    """HTTP/2 with python-h2: |streams| requests in flight on one connection, each
    replaced by the next as it completes."""

    def __init__(self, *args, streams=4, **kw):
        super().__init__(*args, **kw)
        self.streams = streams

    def run(self):
        pending = []  # targets to send again (refused by a GOAWAY)
        while self.running():
            sock = self.connect("h2")
            if sock is None:
                continue
            try:
                pending = self.serve(sock, pending)
            except Exception as e:  # a bug here must not pass for a quiet client
                self.stats.fail(self.cname, None, "client error: %r" % e)
            sock.close()

    def serve(self, sock, pending):
        """serve runs requests on one connection until it ends; returns the targets to
        send again on the next one."""
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        receive_goaway = conn._receive_goaway_frame

        def graceful_goaway(frame):
            # python-h2 4.1 closes its connection state on any GOAWAY, although the
            # streams up to the last id are still answered (RFC 9113 section 6.8; a
            # graceful shutdown starts with a GOAWAY naming 2^31-1): keep reading them,
            # as nghttp2 and curl do. No new stream is opened after it (goaway is set).
            frames, events = receive_goaway(frame)
            if frame.error_code == 0:
                conn.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
            return frames, events
        conn._frame_dispatch_table[hyperframe.frame.GoAwayFrame] = graceful_goaway
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        inflight = {}  # stream id -> [target, status]
        goaway = None  # last stream id the server processes
        while True:
            while goaway is None and self.running() and len(inflight) < self.streams:
                target = pending.pop(0) if pending else self.next_target()
                sid = conn.get_next_available_stream_id()
                conn.send_headers(sid, [(":method", "GET"), (":scheme", "https"),
                                        (":authority", "localhost:%d" % self.port),
                                        (":path", target)], end_stream=True)
                inflight[sid] = [target, None]
            if not inflight:
                return pending
            try:
                sock.sendall(conn.data_to_send())
                data = sock.recv(65536)
            except (OSError, ssl.SSLError) as e:
                data = None
                err = e
            if not data:
                for sid, (target, _) in inflight.items():
                    if goaway is not None and sid > goaway:
                        self.stats.add("retried")
                        pending.append(target)
                    else:
                        self.stats.fail(self.cname, target, "connection ended: %r"
                                        % (err if data is None else "EOF"))
                return pending
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    if ev.stream_id in inflight:
                        inflight[ev.stream_id][1] = int(dict(ev.headers)[b":status"])
                elif isinstance(ev, h2.events.DataReceived):
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    target, status = inflight.pop(ev.stream_id, [None, None])
                    if status == 200:
                        self.stats.add("ok")
                    elif target is not None:
                        self.stats.fail(self.cname, target, "status %r" % status)
                elif isinstance(ev, h2.events.StreamReset):
                    target, _ = inflight.pop(ev.stream_id, [None, None])
                    if target is not None and ev.error_code == h2.errors.ErrorCodes.REFUSED_STREAM:
                        self.stats.add("retried")  # never processed (RFC 9113 8.7)
                        pending.append(target)
                    elif target is not None:
                        self.stats.fail(self.cname, target, "reset %r" % ev.error_code)
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    goaway = ev.last_stream_id
                    for sid in [s for s in inflight if s > goaway]:
                        self.stats.add("retried")
                        pending.append(inflight.pop(sid)[0])


class Load:
    """A set of clients started together and stopped together (bounded)."""

    def __init__(self, port, pki, h1_keepalive=3, h1_close=2, h2=2, streams=4,
                 max_seconds=60.0, host="127.0.0.1"):
        self.stats = LoadStats()
        self.stop_event = threading.Event()
        args = dict(port=port, pki=pki, stats=self.stats, stop=self.stop_event,
                    max_seconds=max_seconds, host=host)
        self.clients = [H1Client("h1ka%d" % i, keepalive=True, **args)
                        for i in range(h1_keepalive)]
        self.clients += [H1Client("h1new%d" % i, keepalive=False, **args)
                         for i in range(h1_close)]
        self.clients += [H2Client("h2c%d" % i, streams=streams, **args) for i in range(h2)]

    def start(self):
        for c in self.clients:
            c.start()
        return self

    def stop(self, timeout=20.0):
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for c in self.clients:
            c.join(max(0.1, deadline - time.monotonic()))
        alive = [c.name for c in self.clients if c.is_alive()]
        if alive:
            raise AssertionError("load clients still running: %s" % alive)
        return self.stats

    def wait_ok(self, n, timeout=10.0):
        """wait_ok waits until at least n more requests have succeeded."""
        target = self.stats.snapshot()["ok"] + n
        h.wait_until(lambda: self.stats.snapshot()["ok"] >= target, timeout,
                     what="%d more successful requests (%r)" % (n, self.stats))


def backend_has(backend, target):
    """backend_has reports whether the backend has received target (its request log may
    end in a line being written)."""
    try:
        return any(e["target"] == target for e in backend.request_log())
    except ValueError:
        return False
