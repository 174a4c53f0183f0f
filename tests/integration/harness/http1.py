"""Python clients: TLS contexts with the test PKI, raw exchanges on a TLS connection,
HTTP/1.1 requests and responses (pipelining aware), keep-alive connections."""

import json
import select
import socket
import ssl
import time
import warnings


def client_context(pki, client="admin", verify=True, min_version=None, max_version=None,
                   alpn=("http/1.1",), check_hostname=True):
    """client_context returns an ssl.SSLContext trusting the test CA, presenting the
    client certificate `client` (None: none)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(pki.ca.cert)
        ctx.check_hostname = check_hostname
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if client:
        c = pki.clients[client]
        ctx.load_cert_chain(c.cert, c.key)
    with warnings.catch_warnings():
        # TLS 1.0/1.1 are deprecated in Python; tests still need to offer them.
        warnings.simplefilter("ignore", DeprecationWarning)
        if min_version:
            ctx.minimum_version = min_version
        if max_version:
            ctx.maximum_version = max_version
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def tls_connect(port, ctx, server_hostname="localhost", host="127.0.0.1", timeout=10.0):
    """tls_connect opens a TCP connection and completes the TLS handshake (bounded)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    raw = socket.socket(fam, socket.SOCK_STREAM)
    raw.settimeout(timeout)
    try:
        raw.connect((host, port))
        s = ctx.wrap_socket(raw, server_hostname=server_hostname)
    except BaseException:
        raw.close()
        raise
    s.settimeout(timeout)
    return s


def read_until_close(sock, timeout=5.0, limit=64 << 20, stop=None):
    """read_until_close reads until EOF, timeout or error, or until stop(data) is true.

    Returns (data, how) with how one of "eof", "timeout", "reset", "stopped" or
    "error: ...".
    """
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    chunks = []
    total = 0
    how = "timeout"
    while total < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            b = sock.recv(65536)
        except socket.timeout:
            how = "timeout"
            break
        except ssl.SSLZeroReturnError:
            how = "eof"
            break
        except ConnectionResetError:
            how = "reset"
            break
        except (ssl.SSLError, OSError) as e:
            # An EOF without close_notify is still an EOF for us.
            how = "eof" if "EOF" in str(e) or "eof" in str(e) else "error: %s" % e
            break
        if not b:
            how = "eof"
            break
        chunks.append(b)
        total += len(b)
        if stop and stop(b"".join(chunks)):
            how = "stopped"
            break
    return b"".join(chunks), how


def send_interleaved(sock, data, piece=4096):
    """send_interleaved writes data in pieces and stops early when the server has
    started to answer (it may answer an oversized head and close before reading it all;
    writing on would only provoke a reset). Readable TLS records that carry no
    application data (TLS 1.3 session tickets) do not count as an answer.
    Returns (error text or None, application bytes already received)."""
    view = memoryview(data)
    off = 0
    early = b""
    while off < len(view):
        r, _, _ = select.select([sock], [], [], 0)
        if r or sock.pending():
            timeout = sock.gettimeout()
            sock.setblocking(False)
            try:
                early = sock.recv(65536)
            except ssl.SSLWantReadError:
                early = None  # only handshake messages: keep writing
            except (OSError, ssl.SSLError):
                early = b""
            finally:
                sock.settimeout(timeout)
            if early is None:
                early = b""
            else:
                return None, early
        try:
            off += sock.send(view[off:off + piece])
        except (OSError, ssl.SSLError) as e:
            return "%s: %s" % (type(e).__name__, e), early
    return None, early


def raw_exchange(port, data, pki, client="admin", timeout=5.0, server_hostname="localhost",
                 host="127.0.0.1", stop=None):
    """raw_exchange sends data in one write over a fresh TLS connection and reads until
    the server closes, timeout s pass or stop(data) is true (see read_until_close).
    Returns (response bytes, how it ended)."""
    s = tls_connect(port, client_context(pki, client), server_hostname, host, timeout)
    try:
        err, early = send_interleaved(s, data)
        if early and stop is not None and stop(early):
            return early, "stopped"
        got, how = read_until_close(s, timeout, stop=(lambda d: stop(early + d)) if stop else None)
        got = early + got
        if err and not got:
            how = "write failed (%s), then %s" % (err, how)
        return got, how
    finally:
        s.close()


def lower_names(pairs):
    """lower_names returns header pairs [(name, value)] with the names in lower case."""
    return [(k.lower(), v) for k, v in pairs]


class Response:
    def __init__(self, version, status, reason, headers, body, interim, trailers=()):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers      # [(name, value)] in order
        self.body = body
        self.interim = interim      # [(status, headers)] for 1xx responses seen first
        self.trailers = list(trailers)  # [(name, value)] after a chunked body

    def header(self, name, default=None):
        v = self.all(name)
        return v[0] if v else default

    def all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "Response(%d, %r, body=%r)" % (self.status, self.headers, self.body[:200])


class ResponseReader:
    """Reads HTTP/1.1 responses, one after another, from a socket (pipelining aware)."""

    def __init__(self, sock, timeout=10.0):
        self.sock = sock
        self.buf = bytearray()
        self.timeout = timeout
        self.eof = False

    def _fill(self):
        self.sock.settimeout(self.timeout)
        try:
            b = self.sock.recv(256 * 1024)
        except ssl.SSLZeroReturnError:
            b = b""
        except ssl.SSLEOFError:
            b = b""
        if not b:
            self.eof = True
            return False
        self.buf += b
        return True

    def _line(self, limit=1 << 20):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            if len(self.buf) > limit or not self._fill():
                raise EOFError("connection closed in response head (got %r)" % bytes(self.buf[:200]))

    def _exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError("connection closed in body: %d of %d bytes" % (len(self.buf), n))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _head(self):
        line = self._line().decode("latin-1")
        parts = line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ValueError("bad status line %r" % line)
        version, status = parts[0], int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        while True:
            h = self._line().decode("latin-1")
            if not h:
                break
            name, _, value = h.partition(":")
            headers.append((name, value.strip()))
        return version, status, reason, headers

    def read(self, head_request=False):
        """read returns the next final Response (1xx responses are collected in
        .interim, 101 is returned as final). Raises EOFError / socket.timeout."""
        interim = []
        while True:
            version, status, reason, headers = self._head()
            if 100 <= status < 200 and status != 101:
                interim.append((status, headers))
                continue
            break
        lower = [(n.lower(), v) for n, v in headers]
        te = ",".join(v for n, v in lower if n == "transfer-encoding").lower()
        cl = [v for n, v in lower if n == "content-length"]
        trailers = []
        if head_request or status in (204, 304, 101):
            body = b""
        elif "chunked" in te:
            out = bytearray()
            while True:
                size = int(self._line().split(b";")[0].strip(), 16)
                if size == 0:
                    break
                out += self._exact(size)
                if self._exact(2) != b"\r\n":
                    raise ValueError("missing CRLF after chunk")
            while True:
                t = self._line().decode("latin-1")
                if not t:
                    break
                name, _, value = t.partition(":")
                trailers.append((name, value.strip()))
            body = bytes(out)
        elif cl:
            body = self._exact(int(cl[0]))
        else:
            while self._fill():
                pass
            body = bytes(self.buf)
            self.buf.clear()
        return Response(version, status, reason, headers, body, interim, trailers)

    def at_eof(self, timeout=3.0):
        """at_eof returns True when the server closes the connection within timeout s
        with nothing more sent (a reset also counts as closed)."""
        if self.buf:
            return False
        old = self.timeout
        self.timeout = timeout
        try:
            return not self._fill()
        except socket.timeout:
            return False
        except (ConnectionResetError, ssl.SSLError):
            return True
        finally:
            self.timeout = old


def parse_responses(data):
    """parse_responses parses every complete response in a byte string (read to close)."""
    class _Buf:
        def __init__(self, d):
            self.d = d

        def recv(self, n):
            out, self.d = self.d[:n], self.d[n:]
            return out

        def settimeout(self, t):
            pass
    r = ResponseReader(_Buf(data))
    out = []
    while True:
        if not r.buf and not r._fill():
            return out
        try:
            out.append(r.read())
        except (EOFError, ValueError):
            return out


def request_bytes(method, target, host, headers=(), body=b"", version="HTTP/1.1"):
    """request_bytes builds a request; Content-Length is added when body is non-empty and
    no framing header is given."""
    lines = ["%s %s %s" % (method, target, version)]
    if host is not None:
        lines.append("Host: %s" % host)
    names = {n.lower() for n, _ in headers}
    for n, v in headers:
        lines.append("%s: %s" % (n, v))
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def http_plain(host, port, method, target, headers=(), body=b"", timeout=10.0):
    """http_plain sends one request over plain TCP (to the backend); returns
    (status, headers, body)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(request_bytes(method, target, "%s:%d" % (host, port),
                                list(headers) + [("Connection", "close")], body))
        r = ResponseReader(s, timeout).read(head_request=(method == "HEAD"))
        return r.status, r.headers, r.body


def https_request(port, pki, method, target, client="admin", headers=(), body=b"",
                  timeout=10.0, server_hostname="localhost", host_header=None):
    """https_request sends one request through certgate on a fresh TLS connection."""
    s = tls_connect(port, client_context(pki, client), server_hostname, timeout=timeout)
    try:
        s.sendall(request_bytes(method, target, host_header or "localhost:%d" % port,
                                headers, body))
        return ResponseReader(s, timeout).read(head_request=(method == "HEAD"))
    finally:
        s.close()


class KeepAlive:
    """One TLS connection (ctx, server_hostname) on which GET requests are sent one
    after another; count is how many were answered."""

    def __init__(self, port, ctx, server_hostname="localhost", timeout=10.0):
        self.port = port
        self.server_hostname = server_hostname
        self.sock = tls_connect(port, ctx, server_hostname, timeout=timeout)
        self.reader = ResponseReader(self.sock, timeout)
        self.count = 0

    def get(self, target):
        """get sends GET target and returns the Response; raises like
        ResponseReader.read when the connection fails."""
        self.sock.sendall(request_bytes("GET", target,
                                        "%s:%d" % (self.server_hostname, self.port)))
        r = self.reader.read()
        self.count += 1
        return r

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
