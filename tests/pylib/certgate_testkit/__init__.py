"""certgate_testkit: helpers shared by the integration tests and the benchmark.

Both tests/integration/certgate_harness.py and bench/certgate_bench start real
processes on loopback, wait for their ports, stop them within a bound, read /proc and
make throw-away certificates with the openssl CLI. Those helpers live here, once:

- net:     free_port, port_accepts, wait_until
- process: Process (a child with its output in files, bounded stop), stop_popen, tail
- procfs:  process_tree, rss_kb, tree_rss_kb, cpu_ticks
- pki:     openssl, genkey, make_ca, make_csr, Cert, thumbprint cross-check

Standard library only: the tests run under Debian's /usr/bin/python3 and bench/run
under whatever python3 is first in PATH.
"""
