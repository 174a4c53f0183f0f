"""Loopback ports and bounded waiting."""

import socket
import time


def free_port():
    """free_port returns a TCP port free on both 127.0.0.1 and ::1 right now."""
    for _ in range(50):
        s4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s4.bind(("127.0.0.1", 0))
            port = s4.getsockname()[1]
            s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            try:
                s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s6.bind(("::1", port))
                return port
            except OSError:
                continue
            finally:
                s6.close()
        finally:
            s4.close()
    raise RuntimeError("no free port found on 127.0.0.1 and ::1")


def port_accepts(port, host="127.0.0.1", timeout=0.5):
    """port_accepts returns True when a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """wait_until polls pred() until it is truthy (returned) or raises AssertionError
    after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)
