#!/usr/bin/env python3
"""Statistics, tables and plots of the benchmark records (the one place they are computed).

  report.py --records FILE [--workload NAME]...            markdown tables on stdout
  report.py --records FILE --results DIR --meta FILE       DIR/RESULTS.md and DIR/*.png (gnuplot)
  report.py --records FILE --plots DIR                     only DIR/*.png, e.g. again from docs/bench/raw

A record is one measured run: a line of key=value fields written by bench_record (bench/lib.sh).
Runs that differ only in `round` (and in measured values) form a group; a table shows each group's
median and min-max per load balancer, and the ratios journey-lb/HAProxy and journey-lb/nginx of the
medians.
"""
import argparse
import collections
import os
import statistics
import subprocess
import sys

LBS = ["journey", "haproxy", "nginx"]
LB_NAMES = {"journey": "journey-lb", "haproxy": "HAProxy", "nginx": "nginx"}
# Fields that are measurements (or per-run detail), not part of what identifies a configuration.
MEASURED = {"round", "rps", "p50", "p99", "p999", "max", "non2xx", "errors", "resumed", "connections",
            "requests", "gen", "lb_cpu", "lb_sys", "sys_us_per_req", "be_cpu", "other", "wall", "limit", "rss_before", "rss_after",
            "kb_per_conn", "kb_per_tunnel", "held", "ir", "ir_per_req", "ir_per_conn", "calls", "calls_per_req", "us_per_req", "gen_us_per_conn", "lb_pid", "error"}

# workload -> (title, what it measures, [(metric, label, higher_is_better, format)])
WORKLOADS = collections.OrderedDict([
    ("https-ka", ("1. HTTPS keep-alive", "wrk, 64 connections, keep-alive, GET /my-app/data through the LB",
                  [("rps", "req/s", True, "{:,.0f}"), ("p50", "p50 ms", False, "{:.2f}"),
                   ("p99", "p99 ms", False, "{:.2f}"), ("us_per_req", "LB CPU µs/req", False, "{:.1f}"),
                  ("sys_us_per_req", "of which kernel µs/req", False, "{:.1f}")])),
    ("http-ka", ("2. Plain HTTP keep-alive", "same, plain HTTP",
                 [("rps", "req/s", True, "{:,.0f}"), ("p50", "p50 ms", False, "{:.2f}"),
                  ("p99", "p99 ms", False, "{:.2f}"), ("us_per_req", "LB CPU µs/req", False, "{:.1f}"),
                  ("sys_us_per_req", "of which kernel µs/req", False, "{:.1f}")])),
    ("tls-new", ("3a. New TLS connection per request", "tlsconn rate: full handshake, one request, "
                 "Connection: close", [("rps", "conn/s", True, "{:,.0f}"),
                                       ("us_per_req", "LB CPU µs/conn", False, "{:.0f}"),
                                       ("gen_us_per_conn", "generator CPU µs/conn", False, "{:.0f}")])),
    ("tls-resume", ("3b. New TLS connection per request, resumed", "tlsconn rate --resume: each "
                    "connection offers its previous session ticket", [
                        ("rps", "conn/s", True, "{:,.0f}"), ("us_per_req", "LB CPU µs/conn", False, "{:.0f}"),
                        ("gen_us_per_conn", "generator CPU µs/conn", False, "{:.0f}"),
                        ("resumed_pct", "resumed %", True, "{:.0f}")])),
    ("tls-close", ("3c. New TLS connection per request from wrk", "wrk -c16 -H 'Connection: close', HTTPS: "
                   "each connection resumes the previous one's TLS 1.3 session (a browser's fresh connection)",
                   [("rps", "req/s", True, "{:,.0f}"), ("us_per_req", "LB CPU µs/conn", False, "{:.0f}")])),
    ("latency", ("4. Latency at a fixed rate", "h2load --h1 --rps, HTTPS keep-alive, well below "
                 "saturation; percentiles from h2load's per-request log",
                 [("p50", "p50 ms", False, "{:.3f}"), ("p99", "p99 ms", False, "{:.3f}"),
                  ("p999", "p99.9 ms", False, "{:.3f}"), ("rps", "req/s done", True, "{:,.0f}")])),
    ("memory", ("5. Memory per idle keep-alive TLS connection", "tlsconn hold: N TLS connections, one "
                "request each, then idle; RSS of all the LB's processes before and after",
                [("kb_per_conn", "kB/conn", False, "{:.1f}"), ("rss_after", "RSS MB", False, "{:.0f}")])),
    ("tunnel", ("9. Memory per idle WebSocket tunnel", "tlsconn hold --websocket: N WebSocket handshakes "
                "through the LB to the journey-backends' /ws echo, answered 101, then idle; RSS of all the "
                "LB's processes before and after", [("kb_per_tunnel", "kB/tunnel", False, "{:.1f}"),
                                                    ("held", "tunnels held", True, "{:.0f}")])),
    ("h2-m1", ("10a. HTTP/2 over TLS, 1 stream per connection", "h2load -c 64 -m 1: 64 h2 connections "
               "(ALPN h2), one request in flight on each, GET /my-app/data to the journey-backends",
               [("rps", "req/s", True, "{:,.0f}"), ("p50", "p50 ms", False, "{:.2f}"),
                ("p99", "p99 ms", False, "{:.2f}"), ("us_per_req", "LB CPU µs/req", False, "{:.1f}")])),
    ("h2-m10", ("10b. HTTP/2 over TLS, 10 streams per connection", "h2load -c 64 -m 10: the same with ten "
                "concurrent streams on each connection", [("rps", "req/s", True, "{:,.0f}"),
                                                          ("p50", "p50 ms", False, "{:.2f}"),
                                                          ("p99", "p99 ms", False, "{:.2f}"),
                                                          ("us_per_req", "LB CPU µs/req", False, "{:.1f}")])),
    ("h2-idle", ("10c. Memory per idle HTTP/2 connection", "bench/h2hold.py: N h2 connections (ALPN h2), "
                 "one request each, then idle; RSS of all the LB's processes before and after",
                 [("kb_per_conn", "kB/conn", False, "{:.1f}"), ("rss_after", "RSS MB", False, "{:.0f}")])),
    ("pool", ("6. Cost growth with the pool size", "wrk, plain HTTP keep-alive, 64 connections, N nginx "
              "backends (one nginx, N ports)", [("rps", "req/s", True, "{:,.0f}"),
                                                ("us_per_req", "LB CPU µs/req", False, "{:.1f}")])),
    ("server", ("journey-backend vs nginx as the HTTP server", "wrk -t1 against journey-backend and "
                 "against nginx `return 200` with the same body (bench/backend-vs-nginx.sh)",
                 [("rps", "req/s", True, "{:,.0f}"), ("p99", "p99 ms", False, "{:.2f}"),
                  ("us_per_req", "server CPU µs/req", False, "{:.1f}")])),
    ("server-instructions", ("journey-backend vs nginx, instructions per request", "both under callgrind, "
                              "one wrk -t1 run each (bench/backend-vs-nginx.sh --instructions)",
                              [("ir_per_req", "instructions/req", False, "{:,.0f}")])),
    ("lb-health-overhead", ("journey-lb: cost of the health hooks and checks", "wrk -t1 -c32, plain HTTP "
                             "keep-alive, variants of journey-lb (bench/lb-health-overhead.sh)",
                             [("rps", "req/s", True, "{:,.0f}"), ("us_per_req", "LB CPU µs/req", False, "{:.2f}")])),
    ("callgrind", ("7. Instructions per request (callgrind)", "each LB under valgrind --tool=callgrind, "
                   "1 worker; two windows of N1 and N2 keep-alive requests on 8 new connections; per request = "
                   "(Ir2 - Ir1) / (N2 - N1), per new connection (TCP accept, TLS handshake) = the rest / 8",
                   [("ir_per_req", "instructions/req", False, "{:,.0f}"),
                    ("ir_per_conn", "instructions/new connection", False, "{:,.0f}")])),
    ("callgrind-conn", ("7b. Instructions per new TLS connection (callgrind)", "each LB under valgrind "
                        "--tool=callgrind, 1 worker; two windows of N1 and N2 connections of tlsconn rate --count "
                        "(accept, handshake, one request with Connection: close, close), 8 in flight; per "
                        "connection = (Ir2 - Ir1) / (N2 - N1)",
                        [("ir_per_conn", "instructions/connection", False, "{:,.0f}")])),
    ("syscalls", ("8. System calls per request (strace -c)", "strace attached to each LB (1 worker) over a fixed "
                  "number of keep-alive requests on 16 connections (h2load --h1): the kernel's share, which "
                  "callgrind does not count", [("calls_per_req", "syscalls/req", False, "{:.2f}")])),
])


def read_records(path):
    out = []
    with open(path) as f:
        for line in f:
            kv = dict(x.split("=", 1) for x in line.split() if "=" in x)
            if kv:
                out.append(kv)
    return out


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def derive(r):
    """Per-run figures computed from others: LB CPU per request, share resumed, MB."""
    rps, lb = num(r.get("rps")), num(r.get("lb_cpu"))
    if rps and lb is not None and "us_per_req" not in r:
        r["us_per_req"] = str(lb * 1e6 / rps)
    ls = num(r.get("lb_sys"))
    if rps and ls is not None:
        r["sys_us_per_req"] = str(ls * 1e6 / rps)
    gen = num(r.get("gen"))
    if rps and gen is not None and r.get("workload") in ("tls-new", "tls-resume", "tls-close"):
        r["gen_us_per_conn"] = str(gen * 1e6 / rps)  # the client's cost: is it the limit?
    if r.get("workload") == "tls-resume" and num(r.get("connections")):
        r["resumed_pct"] = str(100.0 * num(r.get("resumed", 0)) / num(r["connections"]))
    if r.get("workload") in ("memory", "tunnel", "h2-idle") and num(r.get("rss_after")):
        r["rss_after"] = str(num(r["rss_after"]) / 1024)
    return r


def config_key(r):
    return tuple(sorted((k, v) for k, v in r.items() if k not in MEASURED and k not in ("lb", "workload", "resumed_pct")))


def groups(records, workload):
    """config -> lb -> [records]"""
    g = collections.OrderedDict()
    for r in records:
        if r.get("workload") != workload:
            continue
        g.setdefault(config_key(r), {}).setdefault(r.get("lb", "journey"), []).append(r)
    return g


def stats(rs, metric):
    vals = [num(r.get(metric)) for r in rs]
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals), len(vals)


def limit_of(rs):
    c = collections.Counter(r.get("limit") for r in rs if r.get("limit"))
    return c.most_common(1)[0][0] if c else ""


def config_label(key):
    names = {"workers": "workers", "backend": "backend", "pool": "servers", "algo": "algorithm",
             "count": "connections", "proto": "protocol", "rate": "rate req/s"}
    return ", ".join(f"{names.get(k, k)} {v}" for k, v in key)


def table(records, workload, out):
    title, what, metrics = WORKLOADS.get(workload, (workload, "", [("rps", "req/s", True, "{:,.0f}")]))
    g = groups(records, workload)
    if not g:
        return
    lbs = [lb for lb in LBS if any(lb in per for per in g.values())]
    names = dict(LB_NAMES, journey="journey-backend") if workload.startswith("server") else LB_NAMES
    out.append(f"### {title}\n\n{what}.\n")
    head = ["configuration", "metric"] + [names[lb] + " median (min–max)" for lb in lbs]
    peers = [lb for lb in lbs if lb != "journey"] if "journey" in lbs else []
    head += [f"{names['journey']}/{names[p]}" for p in peers]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    for key, per in g.items():
        for metric, label, _, fmt in metrics:
            cells = [config_label(key), label]
            meds = {}
            for lb in lbs:
                s = stats(per.get(lb, []), metric)
                if s is None:  # e.g. error=not-negotiated: the LB did not speak the protocol
                    errs = sorted({r["error"] for r in per.get(lb, []) if r.get("error")})
                    cells.append(", ".join(e.replace("-", " ") for e in errs) or "–")
                    continue
                meds[lb] = s[0]
                cells.append(fmt.format(s[0]) + (f" ({fmt.format(s[1])}–{fmt.format(s[2])})" if s[3] > 1 else ""))
            if all(num(c.replace(",", "").split(" ")[0]) is None for c in cells[2:]):
                continue
            for p in peers:
                a, b = meds.get("journey"), meds.get(p)
                cells.append(f"**{a / b:.2f}**" if a is not None and b else "–")
            out.append("| " + " | ".join(cells) + " |")
        lim = [limit_of(per.get(lb, [])) for lb in lbs]
        if any(lim):
            out.append("| " + " | ".join([config_label(key), "limit (CPU)"] + [x or "–" for x in lim] + [""] * len(peers)) + " |")
    out.append("")


def median_of(records, workload, lb, metric, **match):
    rs = [r for r in records if r.get("workload") == workload and r.get("lb") == lb
          and all(r.get(k) == v for k, v in match.items())]
    s = stats(rs, metric)
    return s[0] if s else None


def targets(records):
    """The project's targets, checked against the medians of this run."""
    rows = []

    def ratio_rows(workload, metric, peer, goal, higher, text):
        for key, per in groups(records, workload).items():
            a, b = stats(per.get("journey", []), metric), stats(per.get(peer, []), metric)
            if not a or not b or not b[0]:
                continue
            r = a[0] / b[0]
            ok = r >= goal if higher else r <= goal
            rows.append((f"{text} ({config_label(key)})", f"{r:.2f}", "met" if ok else "**missed**"))

    for w in ("https-ka", "http-ka"):
        for p in ("haproxy", "nginx"):
            ratio_rows(w, "rps", p, 1.1, True, f"{WORKLOADS[w][0][3:]} req/s ≥ 1.1 × {LB_NAMES[p]}")
            # the same goal as CPU cost, which the other tenants of a shared machine disturb less
            ratio_rows(w, "us_per_req", p, 1 / 1.1, False,
                       f"{WORKLOADS[w][0][3:]} LB CPU per request ≤ {LB_NAMES[p]}'s / 1.1")
    for p in ("haproxy", "nginx"):
        # deterministic stand-ins of the req/s goal: user-space instructions and system calls
        ratio_rows("callgrind", "ir_per_req", p, 1 / 1.1, False,
                   f"instructions per request ≤ {LB_NAMES[p]}'s / 1.1 (callgrind, stable)")
        ratio_rows("syscalls", "calls_per_req", p, 1.0, False,
                   f"system calls per request ≤ {LB_NAMES[p]}'s (strace, stable)")
    ratio_rows("latency", "p99", "haproxy", 1.0, False, "p99 at the fixed rate ≤ HAProxy's")
    for w in ("tls-new", "tls-resume", "tls-close"):
        for p in ("haproxy", "nginx"):
            ratio_rows(w, "rps", p, 1.1, True, f"{WORKLOADS[w][0][4:]}: conn/s ≥ 1.1 × {LB_NAMES[p]}")
            ratio_rows(w, "us_per_req", p, 0.9, False,
                       f"{WORKLOADS[w][0][4:]}: LB CPU per connection ≤ 0.9 × {LB_NAMES[p]}'s")
    for p in ("haproxy", "nginx"):
        ratio_rows("callgrind-conn", "ir_per_conn", p, 0.9, False,
                   f"instructions per new TLS connection ≤ 0.9 × {LB_NAMES[p]}'s (callgrind)")
    ratio_rows("memory", "kb_per_conn", "haproxy", 1.0, False, "memory per idle TLS connection ≤ HAProxy's")
    ratio_rows("tunnel", "kb_per_tunnel", "haproxy", 1.0, False, "memory per idle WebSocket tunnel ≤ HAProxy's")
    for w in ("h2-m1", "h2-m10"):
        for p in ("haproxy", "nginx"):
            ratio_rows(w, "rps", p, 1.1, True, f"{WORKLOADS[w][0][5:]} req/s ≥ 1.1 × {LB_NAMES[p]}")
            ratio_rows(w, "us_per_req", p, 1.0, False, f"{WORKLOADS[w][0][5:]} LB CPU per request ≤ {LB_NAMES[p]}'s")
        if any(r.get("workload") == w and r.get("lb") == "journey" and r.get("error") for r in records):
            rows.append((f"{WORKLOADS[w][0][5:]}: journey-lb does not negotiate h2", "–", "**missed**"))
    ratio_rows("h2-idle", "kb_per_conn", "haproxy", 1.0, False, "memory per idle HTTP/2 connection ≤ HAProxy's")
    if any(r.get("workload") == "pool" for r in records):
        for algo in sorted({r["algo"] for r in records if r.get("workload") == "pool"}):
            have = sorted({int(r["pool"]) for r in records if r.get("workload") == "pool"
                           and r.get("lb") == "journey" and r.get("algo") == algo})
            if len(have) < 2:
                continue
            lo, hi = str(have[0]), str(have[-1])
            a = median_of(records, "pool", "journey", "rps", pool=lo, algo=algo)
            b = median_of(records, "pool", "journey", "rps", pool=hi, algo=algo)
            if a and b:
                rows.append((f"flat cost {lo} → {hi} servers, {algo}: req/s at {hi} / at {lo}, within 5%",
                             f"{b / a:.2f}", "met" if b / a >= 0.95 else "**missed**"))
            a = median_of(records, "pool", "journey", "us_per_req", pool=lo, algo=algo)
            b = median_of(records, "pool", "journey", "us_per_req", pool=hi, algo=algo)
            if a and b:
                rows.append((f"flat cost {lo} → {hi} servers, {algo}: LB CPU/req at {hi} / at {lo}, within 5%",
                             f"{b / a:.2f}", "met" if b / a <= 1.05 else "**missed**"))
    return rows


def gp_str(text):
    """A gnuplot double-quoted string (where \\n is a line break)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def gnuplot_bars(path_png, path_dat, title, ylabel, rows, series, logscale=False, kilo=False):
    """rows: [(label, {series: (median, min, max)})] -> clustered bars with min-max error bars.
    A label may hold line breaks (\\n); the clusters are at x = 0, 1, 2 ..."""
    with open(path_dat, "w") as f:
        f.write("# label " + " ".join(f"{s}_median {s}_min {s}_max" for s in series) + "\n")
        for label, vals in rows:
            f.write('"' + label.replace("\n", ", ") + '" ' + " ".join(
                "{} {} {}".format(*vals[s]) if s in vals else "NaN NaN NaN" for s in series) + "\n")
    plots = ", ".join(
        f"'{path_dat}' using {2 + 3 * i}:{3 + 3 * i}:{4 + 3 * i} title '{LB_NAMES.get(s, s)}'"
        for i, s in enumerate(series))
    xtics = ", ".join(f"{gp_str(label)} {i}" for i, (label, _) in enumerate(rows))
    script = f"""
set terminal pngcairo size {max(1200, 175 * len(rows))},660 font ",12"
set output '{path_png}'
set title {gp_str(title)} font ",14"
set ylabel {gp_str(ylabel)}
set style data histogram
set style histogram errorbars gap 1.5 lw 1
set style fill solid 0.85 border -1
set key outside top center horizontal
set grid ytics
set yrange [0:*]
set xtics ({xtics}) noenhanced nomirror
set ytics nomirror
set xrange [-0.6:{len(rows) - 0.4}]
set bmargin 6
set label {gp_str(WHISKERS)} at screen 0.99, screen 0.015 right font ",10"
{"set format y '%.0s%c'" if kilo else ""}
{"set logscale y; set yrange [*:*]" if logscale else ""}
plot {plots}
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


PROTO = {"https-ka": "HTTPS", "http-ka": "plain HTTP", "tls-new": "full handshake", "tls-resume": "resumed session"}


def plot_label(w, k):
    """A cluster's label in words, two lines: what was measured, then the set-up."""
    workers = k.get("workers")
    setup = [f"{workers} worker" + ("s" if workers != "1" else "")] if workers else []
    if k.get("backend"):
        setup.append(k["backend"].replace("-backend", "") + " backends")
    if w == "pool":
        return f"{k.get('pool')} servers\n{k.get('algo')}"
    if w in ("memory", "tunnel"):
        what = "tunnels" if w == "tunnel" else "connections"
        return f"{int(k.get('count', 0)):,} {what}".replace(",", " ") + "\n" + "\n".join(setup)
    return PROTO.get(w, w) + "\n" + "\n".join(setup)


WHISKERS = "bars: median over the rounds, whiskers: min to max"


def plots(records, results_dir, out):
    raw = os.path.join(results_dir, "raw")
    os.makedirs(raw, exist_ok=True)
    made = []

    def rows_for(workloads, metric, label_fn):
        rows = []
        for w in workloads:
            for key, per in groups(records, w).items():
                vals = {lb: stats(rs, metric)[:3] for lb, rs in per.items() if stats(rs, metric)}
                if vals:
                    rows.append((label_fn(w, dict(key)), vals))
        return rows

    # (png, title, y label, workloads, metric, log scale, y in k/M)
    specs = [
        ("keepalive-rps.png", "Requests per second through the load balancer, keep-alive: higher is better",
         "requests per second", ["https-ka", "http-ka"], "rps", False, True),
        ("cpu-per-request.png", "Load balancer CPU time per request, keep-alive: lower is better",
         "µs of load balancer CPU per request", ["https-ka", "http-ka"], "us_per_req", False, False),
        ("handshakes.png", "New TLS connections per second, one request each: higher is better",
         "connections per second", ["tls-new", "tls-resume"], "rps", False, True),
        ("latency.png", "Latency at a fixed request rate, HTTPS keep-alive: lower is better",
         "milliseconds (log scale)", None, None, True, False),
        ("pool.png", "Requests per second as the pool grows from 3 to 300 servers: higher is better\n"
         "(plain HTTP keep-alive, 1 worker: flat bars mean that the pool's size costs nothing)",
         "requests per second", ["pool"], "rps", False, True),
        ("memory.png", "Memory per idle keep-alive TLS connection: lower is better",
         "kB per connection", ["memory"], "kb_per_conn", False, False),
        ("tunnel.png", "Memory per idle WebSocket tunnel: lower is better", "kB per tunnel", ["tunnel"],
         "kb_per_tunnel", False, False),
    ]
    for png, title, ylabel, ws, metric, log, kilo in specs:
        if ws is None:  # latency: one cluster per percentile
            rows = []
            for key, per in groups(records, "latency").items():
                k = dict(key)
                for m, lab in (("p50", "median"), ("p99", "p99"), ("p999", "p99.9")):
                    vals = {lb: stats(rs, m)[:3] for lb, rs in per.items() if stats(rs, m)}
                    if vals:
                        rows.append((f"{lab}\n{k.get('workers')} worker" + ("s" if k.get("workers") != "1" else ""), vals))
        else:
            rows = rows_for(ws, metric, plot_label)
        if not rows:
            continue
        series = [lb for lb in LBS if any(lb in v for _, v in rows)]
        try:
            gnuplot_bars(os.path.join(results_dir, png), os.path.join(raw, png.replace(".png", ".dat")),
                         title, ylabel, rows, series, log, kilo)
            made.append(png)
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"report: gnuplot failed for {png}: {e}", file=sys.stderr)
    if made:
        out.append("## Plots\n")
        for png in made:
            out.append(f"![{png}]({png})\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", required=True)
    ap.add_argument("--workload", action="append")
    ap.add_argument("--results", help="directory for RESULTS.md and the plots")
    ap.add_argument("--meta", help="markdown to put first (machine, versions, commands)")
    ap.add_argument("--tail", help="markdown to put last (profiles)")
    ap.add_argument("--plots", metavar="DIR", help="only the plots: DIR/*.png (and DIR/raw/*.dat) from the records")
    a = ap.parse_args()
    records = [derive(r) for r in read_records(a.records)]
    if not records:
        sys.exit("report: no records in " + a.records)
    if a.plots:
        out = []
        plots(records, a.plots, out)
        print("report: wrote " + ", ".join(l[l.index("(") + 1:-2] for l in out[1:]), file=sys.stderr)
        return
    order = a.workload or list(WORKLOADS) + sorted({r["workload"] for r in records} - set(WORKLOADS))
    out = []
    if a.results and a.meta:
        out.append(open(a.meta).read())
    if a.results:
        rows = targets(records)
        if rows:
            out.append("## Targets, this run\n")
            out.append("Each target is checked against the medians of this run. The CPU-per-request rows state "
                       "the same goal as the req/s rows in cost (µs of LB CPU per request, from /proc): on a "
                       "shared machine the other tenants change req/s from round to round much more than "
                       "they change what a request costs.\n")
            out.append("| target | journey-lb/peer (medians) | |\n|---|---|---|")
            out += [f"| {t} | {r} | {ok} |" for t, r, ok in rows]
            out.append("")
        out.append("## Results per workload\n")
        out.append("Cells: median over the rounds (min–max). Ratios are journey-lb's median over the "
                   "peer's: above 1 is better for req/s and conn/s, below 1 for latency, CPU and memory. "
                   "\"limit (CPU)\": which side used most of its CPU over the round (`lb`: the load "
                   "balancer's workers were busy; `generator`: the load generator was; `machine`: all the "
                   "cores were full (load generator, LB, backends and the machine's other tenants together) "
                   "with neither side at its own limit; `none`: both used under half of theirs, as in a "
                   "fixed-rate run), the most frequent over the rounds. CPU use per round, in cores: "
                   "raw/records.txt (gen, lb_cpu, be_cpu, other).\n")
    for w in order:
        table(records, w, out)
    if a.results:
        plots(records, a.results, out)
        if a.tail and os.path.exists(a.tail):
            out.append(open(a.tail).read())
        with open(os.path.join(a.results, "RESULTS.md"), "w") as f:
            f.write("\n".join(out) + "\n")
        print(f"report: wrote {os.path.join(a.results, 'RESULTS.md')}", file=sys.stderr)
    else:
        print("\n".join(out))


if __name__ == "__main__":
    main()
