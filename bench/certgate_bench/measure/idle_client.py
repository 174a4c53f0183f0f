"""idle_client.py PORT N CA CERT KEY: open N TLS 1.3 connections to 127.0.0.1:PORT with
the client certificate, send one request on each and read its response, print
"ready OK OPENED", then hold them all idle until stdin closes (run by idle.py)."""

import socket
import ssl
import sys

port, n, ca, crt, key = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(crt, key)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.set_alpn_protocols(["http/1.1"])
conns, ok = [], 0
for i in range(n):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        # Without TCP_NODELAY certgate (git 9a7f4ce) makes every first request wait 40 ms:
        # BoringSSL holds the session tickets until the first write, so our Finished is
        # only ACKed after the delayed-ACK timer and Nagle holds the request until then.
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = ctx.wrap_socket(s, server_hostname="localhost")
        t.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = t.recv(4096)
            if not d:
                break
            buf += d
        head, _, body = buf.partition(b"\r\n\r\n")
        cl = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                cl = int(v)
        while len(body) < cl:
            d = t.recv(4096)
            if not d:
                break
            body += d
        if head.startswith(b"HTTP/1.1 200"):
            ok += 1
        conns.append(t)
    except OSError as e:
        print("error", e, file=sys.stderr, flush=True)
print("ready", ok, len(conns), flush=True)
sys.stdin.read()
