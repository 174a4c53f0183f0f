"""certgate_harness: the names the integration tests use, as `import certgate_harness as
h` or `from certgate_harness import ...`. The code lives in the package harness/, one
module per concern (its __init__ lists them); this module only re-exports it."""

from harness import HERE  # noqa: F401  (also puts tests/pylib on sys.path)

import echo_backend  # noqa: F401,E402
from certgate_testkit.net import free_port, port_accepts, wait_until  # noqa: F401,E402
from certgate_testkit.pki import Cert, genkey, make_ca, make_csr  # noqa: F401,E402
from certgate_testkit.pki import openssl as _openssl  # noqa: F401,E402
from certgate_testkit.pki import openssl_sha1_thumbprint  # noqa: F401,E402
from certgate_testkit.process import Process, START_TIMEOUT, STOP_TIMEOUT  # noqa: F401,E402
from certgate_testkit.process import tail  # noqa: F401,E402
from certgate_testkit.procfs import process_tree, rss_kb  # noqa: F401,E402

from harness.config import (  # noqa: F401,E402
    DELETE, LIMIT_KEYS, TIMEOUT_KEYS, KubernetesVolume, build_config, deep_merge,
    default_policy, write_atomic, write_config, write_json)
from harness.http1 import (  # noqa: F401,E402
    KeepAlive, Response, ResponseReader, client_context, http_plain, https_request,
    lower_names, parse_responses, raw_exchange, read_until_close, request_bytes, send_interleaved,
    tls_connect)
from harness.metrics import (  # noqa: F401,E402
    Metrics, parse_access_log, parse_metrics, scrape_metrics)
from harness.payload import (  # noqa: F401,E402
    KIB, MIB, echoed_headers, pattern_sha256, read_bytes, sha256_file, write_pattern_file)
from harness.pki import (  # noqa: F401,E402
    CLIENT_NAMES, PKI, _CA_CNF, cert_serial, issue_server, issue_short_lived, make_pki,
    openssl_ca_dir,
    pem_certificates, pem_serial, pem_subject)
from harness.processes import (  # noqa: F401,E402
    DEFAULT_BIN, PYTHON, Backend, Certgate, certgate_bin, make_tempdir, remove_tree,
    run_certgate, start_certgate, stderr_text)
from harness.testbed import CertgateTestCase, set_up_testbed  # noqa: F401,E402
from harness.tools import (  # noqa: F401,E402
    CurlResult, H2loadResult, curl, h2load, nghttp, parse_header_dump,
    run_in_hosts_namespace, s_client, served_certificate, served_subject)
from harness.waiting import (  # noqa: F401,E402
    RELOAD_TIMEOUT, policy_generation, wait_generation_above, wait_metric,
    wait_metric_above, wait_ready)
