#!/usr/bin/python3
"""echo_backend.py: the HTTP/1.1 database stand-in behind certgate in integration tests.

Run as its own process:  python3 echo_backend.py --port N [--host 127.0.0.1] [--log FILE]
                                                  [--port-file FILE]
                                                  [--tls-cert FILE --tls-key FILE
                                                   [--tls-client-ca FILE]
                                                   [--tls-max-version 1.2]]
Written on raw sockets (not http.server) so that it reports exactly what arrived: header
names in their original case and order, duplicates, body framing. One thread per TCP
connection, keep-alive, every socket has a timeout, so nothing here can hang a test.

With --tls-cert/--tls-key it is an HTTPS server (TLS 1.2 and 1.3, or only 1.2 with
--tls-max-version 1.2; session tickets on, ALPN http/1.1); with --tls-client-ca it also
requires a client certificate signed by that CA. Every handshake, successful or not, is one line in the --log file:
{"event": "tls_handshake", "ok", "resumed", "version", "sni", "alpn", "client_subject",
"error"}, and the echo JSON carries the connection's "tls" facts (the same keys).

Endpoints (any method; HEAD answers the GET headers without a body):
  any path        200 JSON {method, target, version, headers: [[name, value], ...],
                  body_sha256, body_len, body_framing, trailers, connection_id,
                  request_index_on_connection}
  /download?size=N[&chunked=1][&close=1]
                  N bytes of pattern_bytes() (see below), framed by Content-Length,
                  chunked, or read-until-close; streamed, never built in memory
  /status/NNN     that status; 1xx/204/304 without a body, others with a small JSON body
  /sleep?ms=N     the echo JSON after N milliseconds (at most 60 s)
  /head           a fixed 1234-byte body (or only its headers for HEAD)
  /ws             WebSocket echo (RFC 6455): text, binary, continuation, ping -> pong, close
  /_requests      JSON list of the targets of every complete request received so far
                  (a request counts once its whole body has arrived)
  /_health        the status written in the --health-file (200 when it is missing or
                  empty), for health-check tests
  /close          the echo JSON with "Connection: close", then the connection is closed

The download pattern is reproducible so the client can hash what it expects locally:
byte i of the stream is BASE[i % len(BASE)], BASE being 1 MiB + 7 bytes of SHA-256
counter blocks (the odd period keeps chunk boundaries from lining up with it).
"""

import argparse
import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse

PATTERN_PERIOD = (1 << 20) + 7


def _make_base():
    out = bytearray()
    i = 0
    while len(out) < PATTERN_PERIOD:
        out += hashlib.sha256(b"certgate-pattern-%d" % i).digest()
        i += 1
    return bytes(out[:PATTERN_PERIOD])


BASE = _make_base()
# Twice the base, so any slice of up to PATTERN_PERIOD bytes is contiguous.
BASE2 = memoryview(BASE + BASE)


def pattern_chunks(size, chunk=256 * 1024):
    """pattern_chunks yields the first `size` bytes of the pattern as memoryviews."""
    pos = 0
    chunk = min(chunk, PATTERN_PERIOD)
    while pos < size:
        n = min(chunk, size - pos)
        off = pos % PATTERN_PERIOD
        yield BASE2[off:off + n]
        pos += n


def pattern_sha256(size):
    """pattern_sha256 returns the hex SHA-256 of the first `size` bytes of the pattern."""
    h = hashlib.sha256()
    for c in pattern_chunks(size, 1 << 20):
        h.update(c)
    return h.hexdigest()


WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEAD = 1 << 20
IO_TIMEOUT = 60.0

REASONS = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created",
    204: "No Content", 301: "Moved Permanently", 302: "Found", 304: "Not Modified",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    408: "Request Timeout", 413: "Content Too Large", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}


class BadRequest(Exception):
    pass


class Conn:
    """One client connection: a socket plus a read buffer."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def fill(self):
        data = self.sock.recv(256 * 1024)
        if not data:
            return False
        self.buf += data
        return True

    def read_until(self, delim, limit):
        while True:
            i = self.buf.find(delim)
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + len(delim)]
                return out
            if len(self.buf) > limit:
                raise BadRequest("line too long")
            if not self.fill():
                return None

    def read_exact(self, n):
        while len(self.buf) < n:
            if not self.fill():
                raise BadRequest("eof in body")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_exact_into(self, n, h):
        """read_exact_into feeds the next n bytes into hash h without keeping them."""
        while n > 0:
            if not self.buf and not self.fill():
                raise BadRequest("eof in body")
            take = min(n, len(self.buf))
            h.update(self.buf[:take])
            del self.buf[:take]
            n -= take


class State:
    def __init__(self, log_path):
        self.lock = threading.Lock()
        self.next_conn_id = 0
        self.targets = []
        self.health_file = None  # --health-file
        self.delay_ms = 0  # --delay-ms
        self.log = open(log_path, "a", buffering=1) if log_path else None

    def health_status(self):
        try:
            with open(self.health_file) as f:
                return int(f.read().strip() or "200")
        except (TypeError, FileNotFoundError, ValueError):
            return 200

    def new_conn_id(self):
        with self.lock:
            self.next_conn_id += 1
            return self.next_conn_id

    def event(self, obj):
        with self.lock:
            if self.log:
                self.log.write(json.dumps(dict(obj, time=time.time())) + "\n")

    def record(self, method, target, headers):
        with self.lock:
            self.targets.append(target)
            if self.log:
                self.log.write(json.dumps({"time": time.time(), "method": method,
                                           "target": target, "headers": headers}) + "\n")


def parse_head(raw):
    """parse_head splits a request head leniently (it reports, it does not judge)."""
    text = raw.decode("latin-1")
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise BadRequest("bad request line %r" % lines[0])
    method, target, version = parts
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        if ":" not in line:
            raise BadRequest("bad header line %r" % line)
        name, value = line.split(":", 1)
        headers.append([name, value.strip(" \t")])
    return method, target, version, headers


def hget(headers, name):
    name = name.lower()
    return [v for n, v in headers if n.lower() == name]


def send_response(sock, status, headers, body=b"", head_only=False):
    lines = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, "Status"))]
    for n, v in headers:
        lines.append("%s: %s" % (n, v))
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if body and not head_only:
        data += body
    sock.sendall(data)


def read_body(conn, headers):
    """read_body consumes the request body; returns (sha256 hex, length, framing, trailers)."""
    h = hashlib.sha256()
    te = ",".join(hget(headers, "transfer-encoding")).lower()
    if "chunked" in te:
        total = 0
        while True:
            line = conn.read_until(b"\r\n", 4096)
            if line is None:
                raise BadRequest("eof in chunk size")
            size_s = line.split(b";", 1)[0].strip()
            try:
                size = int(size_s, 16)
            except ValueError:
                raise BadRequest("bad chunk size %r" % size_s)
            if size == 0:
                break
            conn.read_exact_into(size, h)
            total += size
            if conn.read_exact(2) != b"\r\n":
                raise BadRequest("missing CRLF after chunk")
        trailers = []
        while True:
            line = conn.read_until(b"\r\n", 65536)
            if line is None:
                raise BadRequest("eof in trailers")
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            trailers.append([name, value.strip()])
        return h.hexdigest(), total, "chunked", trailers
    cls = hget(headers, "content-length")
    if cls:
        n = int(cls[0])
        conn.read_exact_into(n, h)
        return h.hexdigest(), n, "content-length", []
    return h.hexdigest(), 0, "none", []


def ws_recv_frame(conn):
    b0, b1 = conn.read_exact(2)
    fin, opcode = b0 & 0x80, b0 & 0x0F
    masked, n = b1 & 0x80, b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", conn.read_exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", conn.read_exact(8))[0]
    if n > (64 << 20):
        raise BadRequest("websocket frame too large")
    key = conn.read_exact(4) if masked else None
    payload = conn.read_exact(n)
    if key and n:
        mask = (key * (n // 4 + 1))[:n]
        payload = (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(n, "big")
    return bool(fin), opcode, bool(masked), payload


def ws_send_frame(sock, fin, opcode, payload):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 126, n)
    else:
        head = struct.pack("!BBQ", b0, 127, n)
    sock.sendall(head + payload)


def websocket(conn, headers):
    keys = hget(headers, "sec-websocket-key")
    if not keys:
        send_response(conn.sock, 400, [("Content-Length", "0"), ("Connection", "close")])
        return
    accept = base64.b64encode(hashlib.sha1(keys[0].encode() + WS_GUID).digest()).decode()
    send_response(conn.sock, 101, [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                   ("Sec-WebSocket-Accept", accept)])
    while True:
        fin, opcode, masked, payload = ws_recv_frame(conn)
        if not masked:
            # RFC 6455 §5.1: a server must close on an unmasked client frame.
            ws_send_frame(conn.sock, True, 0x8, struct.pack("!H", 1002))
            return
        if opcode == 0x8:
            ws_send_frame(conn.sock, True, 0x8, payload[:2] if len(payload) >= 2 else b"")
            return
        if opcode == 0x9:
            ws_send_frame(conn.sock, True, 0xA, payload)
        elif opcode == 0xA:
            pass
        else:
            ws_send_frame(conn.sock, fin, opcode, payload)


def download(sock, query, head_only):
    size = int(query.get("size", ["0"])[0])
    chunked = query.get("chunked", ["0"])[0] == "1"
    close = query.get("close", ["0"])[0] == "1"
    headers = [("Content-Type", "application/octet-stream")]
    if close:
        headers.append(("Connection", "close"))
    elif chunked:
        headers.append(("Transfer-Encoding", "chunked"))
    else:
        headers.append(("Content-Length", str(size)))
    send_response(sock, 200, headers)
    if head_only:
        return not close
    for c in pattern_chunks(size, 64 * 1024 if chunked else 256 * 1024):
        if chunked:
            sock.sendall(b"%x\r\n" % len(c))
            sock.sendall(c)
            sock.sendall(b"\r\n")
        else:
            sock.sendall(c)
    if chunked and not close:
        sock.sendall(b"0\r\n\r\n")
    return not close


def handle(state, sock, tls=None):
    conn = Conn(sock)
    conn_id = state.new_conn_id()
    index = 0
    while True:
        raw = conn.read_until(b"\r\n\r\n", MAX_HEAD)
        if raw is None:
            return
        method, target, version, headers = parse_head(raw)
        index += 1
        if hget(headers, "expect") and hget(headers, "expect")[0].lower() == "100-continue":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body_sha, body_len, framing, trailers = read_body(conn, headers)
        state.record(method, target, headers)

        url = urllib.parse.urlsplit(target)
        path = url.path
        query = urllib.parse.parse_qs(url.query)
        head_only = method == "HEAD"
        conn_hdr = ",".join(hget(headers, "connection")).lower()
        keep = version == "HTTP/1.1" and "close" not in conn_hdr
        if version == "HTTP/1.0" and "keep-alive" in conn_hdr:
            keep = True

        if path == "/ws" and "websocket" in ",".join(hget(headers, "upgrade")).lower():
            websocket(conn, headers)
            return
        if path == "/download":
            if not download(sock, query, head_only):
                return
            if not keep:
                return
            continue

        status = 200
        extra = []
        if path.startswith("/status/"):
            status = int(path[len("/status/"):])
        if path == "/sleep":
            ms = min(int(query.get("ms", ["0"])[0]), 60000)
            time.sleep(ms / 1000.0)
        if path == "/close":
            keep = False
        if path == "/_health":
            status = state.health_status()
        elif state.delay_ms and not path.startswith("/_"):
            time.sleep(state.delay_ms / 1000.0)  # a slow server (--delay-ms)

        if path == "/_requests":
            with state.lock:
                body = json.dumps(state.targets).encode()
        elif path == "/head":
            body = b"h" * 1234
            extra.append(("Content-Type", "text/plain"))
        else:
            body = json.dumps({
                "method": method, "target": target, "version": version,
                "headers": headers, "body_sha256": body_sha, "body_len": body_len,
                "body_framing": framing, "trailers": trailers,
                "connection_id": conn_id, "request_index_on_connection": index,
                "tls": tls,
            }).encode()
        if status < 200 or status in (204, 304):
            rheaders = []
            body = b""
        else:
            rheaders = extra or [("Content-Type", "application/json")]
            rheaders.append(("Content-Length", str(len(body))))
        if not keep:
            rheaders.append(("Connection", "close"))
        send_response(sock, status, rheaders, body, head_only)
        if not keep:
            return


def tls_accept(state, ctx, sock):
    """tls_accept runs the server handshake on sock and logs it; returns the TLS socket
    and its facts, or (None, None) when the handshake failed."""
    facts = {"event": "tls_handshake", "ok": False, "resumed": False, "version": None,
             "sni": None, "alpn": None, "client_subject": None, "error": None}
    sni = []
    try:
        tsock = ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        tsock.cg_sni = sni
        tsock.do_handshake()
    except (OSError, ssl.SSLError) as e:
        facts["error"] = str(e)
        facts["sni"] = sni[0] if sni else None
        state.event(facts)
        sock.close()
        return None, None
    peer = tsock.getpeercert()
    subject = None
    if peer:
        subject = ",".join("%s=%s" % kv for rdn in peer.get("subject", ()) for kv in rdn)
    facts.update(ok=True, resumed=tsock.session_reused, version=tsock.version(),
                 sni=sni[0] if sni else None, alpn=tsock.selected_alpn_protocol(),
                 client_subject=subject)
    state.event(facts)
    return tsock, facts


def serve_conn(state, sock, ctx=None):
    tls = None
    try:
        sock.settimeout(IO_TIMEOUT)
        if ctx is not None:
            sock, tls = tls_accept(state, ctx, sock)
            if sock is None:
                return
        handle(state, sock, tls)
    except BadRequest as e:
        try:
            msg = str(e).encode()
            sock.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(msg), msg))
        except OSError:
            pass
    except (OSError, ValueError):
        pass
    finally:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log")
    ap.add_argument("--health-file", help="/_health answers the status written here")
    ap.add_argument("--delay-ms", type=int, default=0,
                    help="answer every request but /_* this much later (a slow server)")
    ap.add_argument("--port-file", help="write the bound port here (for --port 0)")
    ap.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate chain")
    ap.add_argument("--tls-key", help="the key of --tls-cert")
    ap.add_argument("--tls-client-ca", help="require a client certificate from this CA")
    ap.add_argument("--tls-max-version", choices=["1.2"], help="no TLS 1.3")
    args = ap.parse_args()
    ctx = None
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if args.tls_max_version:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        ctx.set_alpn_protocols(["http/1.1"])

        def on_sni(tsock, name, _ctx):
            tsock.cg_sni.append(name)
        ctx.sni_callback = on_sni
        if args.tls_client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(args.tls_client_ca)
    fam = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.host, args.port))
    ls.listen(512)
    port = ls.getsockname()[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.rename(tmp, args.port_file)
    print("echo_backend listening on %s:%d" % (args.host, port), flush=True)
    state = State(args.log)
    state.health_file = args.health_file
    state.delay_ms = args.delay_ms
    while True:
        sock, _ = ls.accept()
        t = threading.Thread(target=serve_conn, args=(state, sock, ctx), daemon=True)
        t.start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
