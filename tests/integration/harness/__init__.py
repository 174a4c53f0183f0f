"""harness: what the integration tests in tests/integration share, by concern.

- processes: the certgate binary and CLI runs, Certgate and Backend processes, temp dirs
- pki:       the test PKI (CA, server and client certificates) and extra certificates
- config:    certgate.json and policy.json, written the ways operators write them
- http1:     Python TLS clients: contexts, raw exchanges, HTTP/1.1 responses, keep-alive
- tools:     command-line clients: curl, nghttp, h2load, openssl s_client
- metrics:   /metrics (status port or admin API) and the access log, parsed
- waiting:   bounded polling on metrics: counters, the policy generation, readiness
- payload:   the backend's pattern bodies and JSON echo, file contents and hashes
- testbed:   set_up_testbed (temp dir, PKI, echo backend) and CertgateTestCase (one
             certgate per class)

Everything runs on loopback with ports found free at run time, every wait is bounded,
and every process started here is registered for cleanup by the caller. Ports, waiting,
processes, /proc and the openssl primitives come from tests/pylib/certgate_testkit,
which bench/ uses too. Tests import the names through the facade certgate_harness.py.
"""

import os
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/integration
for _p in (HERE, os.path.normpath(os.path.join(HERE, "..", "pylib"))):
    if _p not in sys.path:
        sys.path.insert(0, _p)
