"""Bodies the tests send and expect: echo_backend.py's pattern and its JSON echo of a
request, file contents and hashes."""

import hashlib

import echo_backend  # (the pattern is the backend's)

pattern_sha256 = echo_backend.pattern_sha256

KIB = 1024
MIB = 1 << 20


def sha256_file(path):
    """sha256_file returns the hex SHA-256 of the file at path."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def write_pattern_file(path, size):
    """write_pattern_file writes `size` pattern bytes to path; returns their SHA-256."""
    with open(path, "wb") as f:
        for c in echo_backend.pattern_chunks(size, 1 << 20):
            f.write(c)
    return pattern_sha256(size)


def read_bytes(path):
    """read_bytes returns the content of the file at path."""
    with open(path, "rb") as f:
        return f.read()


def echoed_headers(echo, name):
    """echoed_headers returns the values of header name (any case) in the request
    echo_backend.py reports (its JSON answer, already parsed), in order."""
    n = name.lower()
    return [v for k, v in echo["headers"] if k.lower() == n]
