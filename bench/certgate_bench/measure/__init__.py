"""The measurements. Each function measures one proxy once (one round) and returns a
dict of named values; main.py runs them interleaved across the proxies.

  request_rates  h1, h2, handshake: requests or handshakes per second and CPU per request
  bulk           CPU per 100 MB downloaded
  idle           RSS per idle TLS connection
  kernel         where the CPU goes in the kernel (perf), and --profile
  scaling        certgate with 1 and 2 workers
  policy         bench/policy_bench
"""
