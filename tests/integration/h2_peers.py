"""HTTP/2 load balancers to test against, started the same way: journey-lb, or one of the peers that
already speak h2 here (HAProxy with `alpn h2,http/1.1` on its bind, nginx with `listen ... ssl http2`,
the form nginx 1.22 accepts). Each listens on one free loopback port with TLS (the development
certificate), runs ONE worker/thread (so an attacker and the other clients share one event loop),
and forwards to the given HTTP/1.1 backends. Used by h2_attacks.py and test_lb_h2_browser.py, so
that every check is proved against the peers before journey-lb is held to it."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import TMP, cert_paths, free_ports, read, start, wait_port  # noqa: E402

TARGETS = ("journey", "haproxy", "nginx")
HOST = "www.my-app.com"  # the development certificate's name; connections go to 127.0.0.1


def lb_tree(pid):
    """The PID and its children (nginx's master and worker), for RSS sums."""
    out = [pid]
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                for c in f.read().split():
                    out += lb_tree(int(c))
    except OSError:
        pass
    return out


def rss_kib(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def start_target(target, certs, backends, lb_binary=None, extra=(), name=None):
    """Starts TARGET in front of backends [(name, port)]; returns the process with .port (HTTPS, h2
    offered by ALPN) and .target. `extra`: more journey-lb flags; `name`: its files' and log's name
    (default: the target's), so that two instances can run side by side."""
    name = name or ("journey-lb" if target == "journey" else target)
    crt, key, _ = cert_paths(certs)
    (port,) = free_ports(1)
    if target == "journey":
        cmd = [lb_binary, "--listen", f"https://127.0.0.1:{port}", "--cert", crt, "--key", key,
               "--workers", "1", *extra]
        for n, p in backends:
            cmd += ["--backend", f"{n}=127.0.0.1:{p}"]
        # A sanitizer build keeps up to 256 MiB of freed blocks resident (ASan's quarantine): a
        # small one lets RSS show the memory the LB holds, which the attack tests bound.
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = ":".join(x for x in (env.get("ASAN_OPTIONS", ""), "quarantine_size_mb=4",
                                                   "thread_local_quarantine_size_kb=256") if x)
        proc = start(cmd, name, env=env)
    elif target == "haproxy":
        pem = os.path.join(TMP, f"{name}.pem")
        with open(pem, "w") as f:
            f.write(read(crt) + read(key))
        cfg = os.path.join(TMP, f"{name}.cfg")
        with open(cfg, "w") as f:
            f.write("global\n  nbthread 1\n  maxconn 2000\n  ssl-default-bind-options ssl-min-ver TLSv1.2\n"
                    "defaults\n  mode http\n  timeout connect 3s\n  timeout client 30s\n"
                    "  timeout server 30s\n  timeout http-request 30s\n  timeout http-keep-alive 30s\n  option http-keep-alive\n"
                    f"frontend fe\n  bind 127.0.0.1:{port} ssl crt {pem} alpn h2,http/1.1\n"
                    "  default_backend be\nbackend be\n  balance roundrobin\n")
            for n, p in backends:
                f.write(f"  server {n} 127.0.0.1:{p}\n")
        proc = start(["haproxy", "-f", cfg, "-db"], name)
    elif target == "nginx":
        d = os.path.join(TMP, name)
        os.makedirs(os.path.join(d, "logs"), exist_ok=True)
        ups = "".join(f"    server 127.0.0.1:{p};\n" for _, p in backends)
        temps = "".join(f"  {t}_temp_path {d}/{t};\n" for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            # As root, nginx's workers would run as nobody, who cannot enter the test's 0700
            # scratch folder to write a request body's temp file (500 on an upload).
            user = "user root;\n" if os.geteuid() == 0 else ""
            f.write(user + f"worker_processes 1; daemon off; pid {d}/nginx.pid;\nerror_log {d}/error.log info;\n"
                    "events { worker_connections 2000; }\nhttp {\n  access_log off;\n" + temps +
                    f"  upstream be {{\n{ups}    keepalive 16;\n  }}\n"
                    f"  server {{\n    listen 127.0.0.1:{port} ssl http2;\n"
                    f"    ssl_certificate {crt}; ssl_certificate_key {key};\n"
                    "    ssl_protocols TLSv1.2 TLSv1.3;\n"
                    "    location / { proxy_pass http://be; proxy_http_version 1.1;\n"
                    "      proxy_set_header Connection \"\"; proxy_set_header Host $host; }\n  }\n}\n")
        proc = start(["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf")], name)
        proc.error_log = os.path.join(d, "error.log")
    else:
        raise ValueError(f"unknown target {target!r} (one of {', '.join(TARGETS)})")
    wait_port(port, proc, target)
    proc.port, proc.target = port, target
    return proc
