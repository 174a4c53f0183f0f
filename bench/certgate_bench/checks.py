"""The start-up checks: before anything is measured, every proxy must refuse a client
without a certificate, let the registered one through, and deliver the identity headers
to nginx /whoami (the same job for all three)."""

import socket
import ssl

from .common import die, log


def negotiated(pki, port, alpn="http/1.1"):
    """negotiated returns (TLS version, cipher, ALPN) seen by a python client."""
    ctx = ssl.create_default_context(cafile=pki["ca"])
    ctx.load_cert_chain(pki["client_crt"], pki["client_key"])
    ctx.set_alpn_protocols([alpn])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            return t.version(), t.cipher()[0], t.selected_alpn_protocol()


def check_proxies(proxies, tools, notes):
    """check_proxies verifies the shim and the authorization of every proxy: with the
    registered certificate requests pass, without a certificate they are refused, and the
    identity headers reach the backend. Returns h2 availability per proxy."""
    h2ok = {}
    for px in proxies:
        with_cert = tools.wrk(px.url(), 2, 1)
        without = tools.wrk(px.url(), 2, 1, cert=False)
        if with_cert["ok"] <= 0 or with_cert["non2xx"]:
            die("%s: wrk with the client certificate shim got no 2xx:\n%s"
                % (px.name, with_cert["raw"][-2000:]))
        if without["ok"] > 0:
            die("%s: wrk WITHOUT a client certificate got %d 2xx responses: the "
                "certificate check does not work" % (px.name, without["ok"]))
        h_with = tools.h2load(px.url(), 20, conns=1, streams=1, timeout=20, h1=True)
        h_without = tools.h2load(px.url(), 20, conns=1, streams=1, timeout=20, h1=True,
                                 cert=False)
        if h_with["ok"] != 20 or h_without["ok"] != 0:
            die("%s: h2load shim check failed (with cert %d/20 ok, without %d ok)"
                % (px.name, h_with["ok"], h_without["ok"]))
        rc, who, err = tools.curl(px.url("/whoami"))
        rc2, other, _ = tools.curl(px.url("/"), extra=["-o", "/dev/null", "-w", "%{http_code}"],
                                   client="other")
        version, cipher, _ = negotiated(tools.pki, px.port)
        h2 = tools.h2load(px.url(), 100, conns=1, streams=10, timeout=20)
        h2ok[px.name] = h2["ok"] == 100 and h2["proto"] == "h2"
        seen = dict(l.split("=", 1) for l in who.splitlines() if "=" in l)
        want = {"thumbprint": tools.pki["sha1"], "name": "bench-client",
                "clearance": "ValidUser", "x-forwarded-for": "127.0.0.1",
                "x-forwarded-proto": "https", "x-forwarded-host": "127.0.0.1:%d" % px.port,
                "client-cert": tools.pki["client_cert_header"]}
        wrong = [k for k, v in want.items() if seen.get(k) != v]
        if rc != 0 or wrong:
            die("%s: the backend did not receive the identity headers %s: %r %s"
                % (px.name, ", ".join(wrong), who, err))
        notes.append("%s: %s %s; without a client certificate: %d of %d wrk requests and "
                     "%d of 20 h2load requests answered 2xx (refused); unregistered "
                     "certificate from the same CA: %s; backend saw %s; h2: %s"
                     % (px.name, version, cipher, without["ok"], without["requests"],
                        h_without["ok"],
                        "HTTP %s" % other.strip() if rc2 == 0 and other.strip() != "000"
                        else "refused at the TLS layer",
                        "all %d identity headers" % len(want),
                        "yes" if h2ok[px.name] else "no (%s)" %
                        (h2["proto"] or "no ALPN h2")))
        log(notes[-1])
    return h2ok
