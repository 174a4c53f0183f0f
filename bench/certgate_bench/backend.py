"""The backend every proxy forwards to: nginx, one worker, on the load core."""

import os

from certgate_testkit.net import free_port

from .common import LOAD_CORE, SMALL_BODY, die, spawn, tool

NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/logs/error.log warn;
worker_rlimit_nofile 19000;
events { worker_connections 9000; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path %(d)s/tmp_body;
    proxy_temp_path %(d)s/tmp_proxy;
    fastcgi_temp_path %(d)s/tmp_fcgi;
    uwsgi_temp_path %(d)s/tmp_uwsgi;
    scgi_temp_path %(d)s/tmp_scgi;
    sendfile on;
    server {
        listen 127.0.0.1:%(port)d backlog=4096;
        default_type text/plain;
        location = /bulk { alias %(bulk)s; }
        location = /whoami {
            return 200 "thumbprint=$http_x_client_cert_thumbprint\\nname=$http_x_client_name\\nclearance=$http_x_client_clearance\\nx-forwarded-for=$http_x_forwarded_for\\nx-forwarded-proto=$http_x_forwarded_proto\\nx-forwarded-host=$http_x_forwarded_host\\nclient-cert=$http_client_cert\\n";
        }
        location / { return 200 "%(body)s"; }
    }
}
"""


def start_nginx(work, bulk_mb):
    """start_nginx serves SMALL_BODY on /, a bulk_mb MB random file on /bulk and the
    identity headers it received on /whoami; returns {"port", "proc", "bulk_bytes"}."""
    d = os.path.join(work, "nginx")
    os.makedirs(os.path.join(d, "logs"))
    bulk = os.path.join(d, "bulk.bin")
    chunk = os.urandom(1 << 20)
    with open(bulk, "wb") as f:
        for _ in range(bulk_mb):
            f.write(chunk)
    port = free_port()
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF % {"d": d, "port": port, "bulk": bulk,
                              "body": SMALL_BODY.replace("\n", "\\n")})
    p = spawn(["taskset", "-c", LOAD_CORE, tool("nginx"), "-p", d, "-c", conf, "-e",
               os.path.join(d, "logs", "error.log")], os.path.join(d, "nginx"))
    try:
        p.wait_listening(port, timeout=15)
    except AssertionError:
        with open(os.path.join(d, "logs", "error.log")) as f:
            die("nginx did not start:\n" + f.read())
    return {"port": port, "proc": p, "bulk_bytes": bulk_mb << 20}
