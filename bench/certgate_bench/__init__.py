"""certgate_bench: the code behind bench/run (its docstring says what it measures).

  main.py        command line, order of the run
  common.py      paths, core pinning, logging, bounded commands, started processes
  prepare.py     tools (scripts/deps --bench), certgate build, client certificate shim, PKI
  backend.py     nginx, the backend all three proxies forward to
  proxies.py     certgate, HAProxy and nghttpx configured for the same job
  loadtools.py   wrk, h2load and curl with the client certificate shim
  checks.py      start-up checks: certificate required, identity headers at nginx /whoami
  measure/       the measurements (h1, h2, handshake, bulk, idle, kernel, scaling, policy)
  report.py      the Markdown report and the versions it lists

Ports, processes, /proc and openssl primitives come from tests/pylib/certgate_testkit,
which the integration harness (tests/integration/certgate_harness.py) uses too.
"""
