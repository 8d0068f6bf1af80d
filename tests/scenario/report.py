#!/usr/bin/env python3
"""The scenario's report, by the seed's six steps, and its assertions.

Reads what tests/scenario/run.sh left in --dir: the packet captures of every link (pcap, decoded
here: Ethernet, ARP, IPv4, TCP, UDP, DNS, TLS handshake headers), the neighbour tables before and
after each run, the programs' logs, the pc's route, the NAT counters and the client's JSON.
Assertions use the captures and the servers' logs, never the client's own claims; the client's
view is printed next to them. Exit 1 when an assertion fails (each failure is named), else 0.
"""
import argparse
import calendar
import ipaddress
import json
import os
import re
import struct
import sys
import time

BROADCAST = "ff:ff:ff:ff:ff:ff"
PC, GW, WAN, DNS, LB_PUB = "192.168.1.100", "192.168.1.1", "198.51.100.2", "192.0.2.53", "203.0.113.67"
BACKENDS = {"b1": "10.0.0.4", "b2": "10.0.0.5", "b3": "10.0.0.6"}
# The links a request crosses from the pc to the load balancer, in order, with the router between
# each link and the next.
PATH = [("lan", "pc -> home-router"), ("access", "home-router -> isp-router-1"),
        ("core", "isp-router-1 -> isp-router-2"), ("edge", "isp-router-2 -> lb")]
ROUTERS = ["home-router", "isp-router-1", "isp-router-2"]


# --- pcap decoding ------------------------------------------------------------------------------

def mac_str(b):
    return ":".join(f"{x:02x}" for x in b)


def ip_str(b):
    return str(ipaddress.IPv4Address(b))


class Packet:
    """One captured Ethernet frame, decoded as far as this report needs."""

    def __init__(self, ts, frame):
        self.ts = ts
        self.dst_mac, self.src_mac = mac_str(frame[0:6]), mac_str(frame[6:12])
        self.ethertype = struct.unpack("!H", frame[12:14])[0]
        self.arp = self.ip = self.tcp = self.udp = self.icmp = None
        self.payload = b""
        body = frame[14:]
        if self.ethertype == 0x0806 and len(body) >= 28:
            op = struct.unpack("!H", body[6:8])[0]
            self.arp = {"op": op, "sha": mac_str(body[8:14]), "spa": ip_str(body[14:18]),
                        "tha": mac_str(body[18:24]), "tpa": ip_str(body[24:28])}
        elif self.ethertype == 0x0800 and len(body) >= 20:
            ihl = (body[0] & 15) * 4
            total = struct.unpack("!H", body[2:4])[0]
            self.ip = {"ttl": body[8], "proto": body[9], "id": struct.unpack("!H", body[4:6])[0],
                       "src": ip_str(body[12:16]), "dst": ip_str(body[16:20])}
            seg = body[ihl:total]
            if self.ip["proto"] == 6 and len(seg) >= 20:
                off = (seg[12] >> 4) * 4
                sport, dport, seq, ack = struct.unpack("!HHII", seg[0:12])
                self.tcp = {"sport": sport, "dport": dport, "seq": seq, "ack": ack, "flags": seg[13]}
                self.payload = seg[off:]
            elif self.ip["proto"] == 17 and len(seg) >= 8:
                sport, dport = struct.unpack("!HH", seg[0:4])
                self.udp = {"sport": sport, "dport": dport}
                self.payload = seg[8:]
            elif self.ip["proto"] == 1 and len(seg) >= 8:
                # an ICMP error quotes the IP header of the packet it is about (and 8 bytes more)
                self.icmp = {"type": seg[0], "code": seg[1], "quoted_dst": None}
                if len(seg) >= 28:
                    self.icmp["quoted_dst"] = ip_str(seg[8 + 16:8 + 20])

    def flags(self):
        f = self.tcp["flags"]
        names = [(0x02, "SYN"), (0x10, "ACK"), (0x08, "PSH"), (0x01, "FIN"), (0x04, "RST")]
        return ",".join(n for bit, n in names if f & bit)

    def endpoints(self):
        l4 = self.tcp or self.udp
        return f"{self.ip['src']}:{l4['sport']} > {self.ip['dst']}:{l4['dport']}"


def read_pcap(path):
    """Every frame of a classic pcap file (what tcpdump -w writes), as Packets."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError(f"{path}: not a pcap file")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        raise ValueError(f"{path}: link type {linktype}, expected Ethernet")
    out, pos = [], 24
    while pos + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + "IIII", data[pos:pos + 16])
        frame = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        if len(frame) >= 14:
            out.append(Packet(sec + frac / (1e9 if nano else 1e6), frame))
    return out


def dns_decode(msg):
    """A DNS message: id, response flag, rcode, question, answers [(name, type, ttl, data)]."""
    def name_at(pos):
        labels, jumps = [], 0
        while pos < len(msg):
            n = msg[pos]
            if n == 0:
                return ".".join(labels), pos + 1
            if n & 0xC0 == 0xC0:
                ptr = struct.unpack("!H", msg[pos:pos + 2])[0] & 0x3FFF
                jumps += 1
                if jumps > 10:
                    break
                rest, _ = name_at(ptr)
                labels.append(rest)
                return ".".join(labels), pos + 2
            labels.append(msg[pos + 1:pos + 1 + n].decode("ascii", "replace"))
            pos += 1 + n
        return ".".join(labels), pos

    if len(msg) < 12:
        return None
    qid, fl, qd, an = struct.unpack("!HHHH", msg[0:8])
    pos, qname, qtype = 12, "", 0
    for _ in range(qd):
        qname, pos = name_at(pos)
        qtype = struct.unpack("!H", msg[pos:pos + 2])[0]
        pos += 4
    answers = []
    for _ in range(an):
        name, pos = name_at(pos)
        rtype, _, ttl, rdlen = struct.unpack("!HHIH", msg[pos:pos + 10])
        rdata = msg[pos + 10:pos + 10 + rdlen]
        pos += 10 + rdlen
        answers.append((name, rtype, ttl, ip_str(rdata) if rtype == 1 and rdlen == 4 else rdata.hex()))
    return {"id": qid, "qr": bool(fl & 0x8000), "rcode": fl & 15, "qname": qname,
            "qtype": {1: "A", 28: "AAAA"}.get(qtype, str(qtype)), "answers": answers}


def tls_handshakes(payload):
    """(handshake type, detail) for the TLS handshake messages visible in one TCP payload."""
    found, pos = [], 0
    while pos + 5 <= len(payload):
        ctype, _ver, length = struct.unpack("!BHH", payload[pos:pos + 5])
        rec = payload[pos + 5:pos + 5 + length]
        if ctype == 22 and len(rec) >= 4:
            htype = rec[0]
            detail = {}
            if htype in (1, 2):
                detail = tls_hello(rec[4:], htype)
            found.append((htype, detail))
        elif ctype == 23:
            found.append(("appdata", {"len": length}))
        elif ctype == 20:
            found.append(("ccs", {}))
        pos += 5 + length
    return found


def tls_hello(h, htype):
    """SNI and ALPN of a ClientHello; chosen version and cipher of a ServerHello."""
    try:
        pos = 2 + 32
        sid = h[pos]
        pos += 1 + sid
        out = {}
        if htype == 1:
            cs = struct.unpack("!H", h[pos:pos + 2])[0]
            pos += 2 + cs
            pos += 1 + h[pos]
        else:
            out["cipher"] = f"0x{struct.unpack('!H', h[pos:pos + 2])[0]:04x}"
            pos += 3
        ext_end = pos + 2 + struct.unpack("!H", h[pos:pos + 2])[0]
        pos += 2
        while pos + 4 <= ext_end:
            et, el = struct.unpack("!HH", h[pos:pos + 4])
            ed = h[pos + 4:pos + 4 + el]
            if et == 0 and htype == 1:
                out["sni"] = ed[5:].decode("ascii", "replace")
            elif et == 16:
                out["alpn"] = ed[3:3 + ed[2]].decode("ascii", "replace")
            elif et == 43 and htype == 2:
                out["version"] = {0x0304: "TLSv1.3", 0x0303: "TLSv1.2"}.get(struct.unpack("!H", ed[:2])[0], ed.hex())
            pos += 4 + el
        if htype == 2 and "version" not in out:
            out["version"] = "TLSv1.2"
        return out
    except (IndexError, struct.error):
        return {}


CIPHERS = {"0x1301": "TLS_AES_128_GCM_SHA256", "0x1302": "TLS_AES_256_GCM_SHA384",
           "0x1303": "TLS_CHACHA20_POLY1305_SHA256", "0xc02b": "ECDHE-ECDSA-AES128-GCM-SHA256",
           "0xc02c": "ECDHE-ECDSA-AES256-GCM-SHA384", "0xcca9": "ECDHE-ECDSA-CHACHA20-POLY1305"}


# --- the other inputs ---------------------------------------------------------------------------

def read(path, default=""):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return default


def logfmt(line):
    """key=value pairs of a logfmt line (values may be double-quoted), or a JSON line's object."""
    line = line.strip()
    if line.startswith("{"):
        try:
            return {k: str(v) for k, v in json.loads(line).items()}
        except ValueError:
            return {}
    return {m.group(1): (m.group(3) if m.group(3) is not None else m.group(2))
            for m in re.finditer(r'([\w.\-]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))', line)}


def short_log(line):
    """A log line without its date, level and msg=phase: the time of day and the fields."""
    m = re.match(r'^time=\S*T(\d\d:\d\d:\d\d\.\d+)Z?\s+(.*)$', line)
    if not m:
        return line
    rest = re.sub(r'\blevel=\S+\s*|\bmsg=phase\s*', "", m.group(2))
    return f"{m.group(1)} {rest}"


def health_flags(args):
    """The --health-* flags and their values from the LB's command line."""
    a = args.split()
    return " ".join(f"{a[i]} {a[i + 1]}" for i in range(len(a) - 1) if a[i].startswith("--health-"))


def log_time(line):
    """Seconds since the epoch of a log line's time=...Z field, or None."""
    m = re.match(r"^time=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", line)
    if not m:
        return None
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) + float(m.group(2) or 0)


def lines_after(path, count_file, until_file=None):
    """The lines a log gained between two moments (line counts saved by run.sh)."""
    start = int(read(count_file, "0").strip() or 0)
    lines = read(path).splitlines()
    end = int(read(until_file, str(len(lines))).strip() or len(lines)) if until_file else len(lines)
    return lines[start:end]


def client_addr(fields):
    """The client address an access-log line records (whatever the key, the first IP-looking value
    of a key naming the client/remote side)."""
    for k, v in fields.items():
        if re.search(r"client|remote|peer|src", k, re.I) and not re.search(r"port", k, re.I):
            m = re.match(r"\[?(\d+\.\d+\.\d+\.\d+)", v)
            if m:
                return m.group(1)
    return None


def backend_of(fields):
    for k in ("backend", "server", "backend_name", "served_by", "upstream"):
        if fields.get(k):
            return fields[k].split("=")[0]
    return None


def neigh_tables(path):
    tables, cur = {}, None
    for line in read(path).splitlines():
        if line.startswith("== "):
            cur = line[3:].strip()
            tables[cur] = []
        elif cur and line.strip():
            tables[cur].append(line.strip())
    return tables


def link_macs(path):
    """{mac: "machine ifname"} from `ip -br link` dumps."""
    names, cur = {}, None
    for line in read(path).splitlines():
        if line.startswith("== "):
            cur = line[3:].strip()
            continue
        parts = line.split()
        if cur and len(parts) >= 3 and re.match(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$", parts[2]):
            names[parts[2]] = f"{cur} {parts[0].split('@')[0]}"
    return names


def machines(path):
    """[(machine, [(ifname, mac, address)])] from the `ip -br link` / `ip -br addr` dumps, and
    {machine: net.ipv4.ip_forward}."""
    out, cur, macs_of, forwarding = [], None, {}, {}
    for line in read(path).splitlines():
        if line.startswith("== "):
            cur = (line[3:].strip(), [])
            out.append(cur)
            macs_of = {}
            continue
        parts = line.split()
        if cur and parts[:1] == ["ip_forward"]:
            forwarding[cur[0]] = parts[1]
            continue
        if not cur or len(parts) < 3 or parts[0] == "lo":
            continue
        ifname = parts[0].split("@")[0]
        if re.match(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$", parts[2]):
            macs_of[ifname] = parts[2]
        else:
            cur[1].append((ifname, macs_of.get(ifname, "?"), parts[2]))
    return out, forwarding


def walk(obj):
    """Every dict and list inside a JSON value, depth first."""
    yield obj
    if isinstance(obj, dict):
        for v in obj.values():
            yield from walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from walk(v)


def load_json(path):
    try:
        return json.loads(read(path))
    except ValueError:
        return None


def dig(obj, *keys):
    for k in keys:
        if not isinstance(obj, dict) or k not in obj:
            return None
        obj = obj[k]
    return obj


def us(v):
    """Microseconds as milliseconds with 3 decimals, or '-'."""
    return f"{v / 1000:.3f} ms" if isinstance(v, (int, float)) else "-"


def fields(obj, *keys):
    """'key=value' for the keys an object has (the client's JSON, printed as it is)."""
    if not isinstance(obj, dict):
        return "(absent)"
    return " ".join(f"{k}={json.dumps(obj[k]) if not isinstance(obj[k], str) else obj[k]}"
                    for k in keys if k in obj and obj[k] not in (None, ""))


def http_requests(pkts, path="/my-app/data"):
    """Plaintext HTTP requests for PATH seen in TCP payloads: (time, src, dst ip, dst port)."""
    out = []
    needle = f" {path} HTTP/1.".encode()
    for p in pkts:
        if p.tcp and needle in p.payload:
            out.append((p.ts, p.ip["src"], p.ip["dst"], p.tcp["dport"]))
    return out


def http_exchanges(pkts):
    """Plaintext HTTP/1.1 exchanges per TCP connection: [(time, server ip, request line, status)]."""
    conns = {}
    for p in pkts:
        if not p.tcp or not p.payload:
            continue
        if re.match(rb"^[A-Z]+ /\S* HTTP/1\.[01]\r\n", p.payload):
            key = (p.ip["src"], p.tcp["sport"], p.ip["dst"], p.tcp["dport"])
            conns.setdefault(key, {"req": [], "resp": []})["req"].append(
                (p.ts, p.payload.split(b"\r\n", 1)[0].decode("latin-1")))
        m = re.match(rb"^HTTP/1\.[01] (\d{3})", p.payload)
        if m:
            key = (p.ip["dst"], p.tcp["dport"], p.ip["src"], p.tcp["sport"])
            conns.setdefault(key, {"req": [], "resp": []})["resp"].append(int(m.group(1)))
    out = []
    for key, c in conns.items():
        for i, (ts, line) in enumerate(c["req"]):
            out.append((ts, key[2], line, c["resp"][i] if i < len(c["resp"]) else None))
    return sorted(out)


# --- the report ---------------------------------------------------------------------------------

class Report:
    def __init__(self, directory):
        self.dir = directory
        self.lines = []
        self.checks = []
        self.fenced = False

    def out(self, text=""):
        self.lines.append(text[3:] if self.fenced and text.startswith("   ") else text)

    def section(self, title, seed=""):
        """A heading, what the seed says at this step, then the section's lines in a fenced block
        (the report is Markdown)."""
        self.close()
        self.lines += ["", f"## {title}", ""]
        if seed:
            self.lines += [f"> The story: {seed}", ""]
        self.lines.append("```")
        self.fenced = True

    def close(self):
        if self.fenced:
            self.lines.append("```")
            self.fenced = False

    def check(self, ok, what, evidence):
        self.checks.append((bool(ok), what, evidence))
        self.out(f"   [{'PASS' if ok else 'FAIL'}] {what}: {evidence}")

    def p(self, *parts):
        return os.path.join(self.dir, *parts)


def flow_packets(pkts, src, dst, dport=443):
    return [p for p in pkts if p.tcp and p.ip["src"] == src and p.ip["dst"] == dst and p.tcp["dport"] == dport]


def client_dns(r, run, dns):
    """The client's own account of its look-up, source by source (printed; its answers and TTLs
    are checked against the wire by dns_ttl_countdown)."""
    if not isinstance(dns, dict):
        r.out(f"   journey's DNS phase ({run}): (absent)")
        return
    r.out(f"   journey's DNS phase ({run}): {fields(dns, 'source', 'server')} in {us(dns.get('duration_us'))}")
    for st in dns.get("steps") or []:
        r.out(f"     {st.get('source', '?'):<8} {st.get('result', '?'):<8} {us(st.get('duration_us')):>10}  {st.get('detail', '')}")
    for a in dns.get("answers") or []:
        r.out(f"     answer {a.get('type')} {a.get('address')} TTL {a.get('ttl')}")


def dns_ttl_countdown(r, caps, dns1, dns2):
    """The client's DNS account against the wire: run 1 reports the TTL the server sent; run 2,
    answered from the client's cache, reports that TTL minus the seconds since the answer came
    (the countdown it shows), with the same address."""
    answers = [(p.ts, ttl, data) for p in caps["run1"]["lan"]
               if p.udp and p.ip["src"] == DNS and (d := dns_decode(p.payload))
               for _, t, ttl, data in d["answers"] if t == 1]
    syn2 = next((p.ts for p in caps["run2"]["lan"]
                 if p.tcp and p.tcp["flags"] & 0x12 == 0x02 and p.ip["dst"] == LB_PUB), None)
    a1 = [(a.get("address"), a.get("ttl")) for a in (dns1 or {}).get("answers") or [] if a.get("type") == "A"]
    a2 = [(a.get("address"), a.get("ttl")) for a in (dns2 or {}).get("answers") or [] if a.get("type") == "A"]
    wire = [(data, ttl) for _, ttl, data in answers]
    r.check(bool(wire) and a1 == wire[-1:] and (dns1 or {}).get("source") == "server",
            "run 1: journey reports the answer and TTL the DNS server sent",
            f"journey: {a1} from {(dns1 or {}).get('source')}; on the wire: {wire}")
    if not (answers and syn2 is not None and a1 and len(a2) == 1 and isinstance(a2[0][1], int)):
        r.check(False, "run 2: journey's cached answer counts its TTL down",
                f"run 2 answers {a2}; run 1 answer captured: {bool(answers)}; run 2 SYN captured: {syn2 is not None}")
        return
    elapsed = syn2 - answers[-1][0]
    want = answers[-1][1] - elapsed
    ttl2 = a2[0][1]
    # The cache is read just before run 2's SYN, and keeps whole seconds: 2 s of slack.
    r.check((dns2 or {}).get("source") == "cache" and a2[0][0] == a1[0][0] and ttl2 < a1[0][1]
            and abs(ttl2 - want) <= 2,
            "run 2: journey's cached answer counts its TTL down (server's TTL minus the seconds since it answered)",
            f"run 1 TTL {a1[0][1]}, run 2 (from {(dns2 or {}).get('source')}) TTL {ttl2} for {a2[0][0]}, "
            f"{elapsed:.1f} s after the answer on the wire: expected {want:.1f} +- 2")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--quiet", action="store_true")
    opts = ap.parse_args()
    r = Report(opts.dir)
    macs = link_macs(r.p("state", "links"))

    def mname(m):
        return f"{m} ({macs[m]})" if m in macs else m

    caps = {run: {name: read_pcap(r.p(run, f"{name}.pcap"))
                  for name in ("lan", "access", "dns", "core", "edge", "private")} for run in ("run1", "run2")}
    c1 = load_json(r.p("run1", "client.json")) or {}
    c2 = load_json(r.p("run2", "client.json")) or {}
    lb_lines1 = [line for line in lines_after(r.p("logs", "lb.access.log"), r.p("run1", "lb.lines.before"),
                                                   r.p("run1", "lb.lines.after")) if line.strip()]

    r.out("# One request's journey, watched on real interfaces")
    r.section("The network and the runs",
              "a laptop on office Wi-Fi (KT internet) sends GET https://www.my-app.com/my-app/data to an "
              "Azure Load Balancer. Here: nine network namespaces, two switches (bridges), documentation "
              "addresses in place of the public ones, every program real.")
    r.out("   pc --[switch br-lan]-- home-router ==NAT== isp-router-1 ---- isp-router-2 ---- lb --[switch br-be]-- b1 b2 b3")
    r.out("                                                  |")
    r.out("                                                 dns")
    r.out()
    roles = {"pc": "the laptop (story: 192.168.1.100 on office Wi-Fi)", "dns": "dnsmasq, the ISP's resolver (story: 168.126.63.1)",
             "lb": "journey-lb (story: the Azure Load Balancer 20.123.45.67)", "home-router": "NAT (story: the home router)",
             "isp-router-1": "router (story: KT's network)", "isp-router-2": "router (story: the way into Azure)",
             "b1": "journey-backend",
             "b2": "journey-backend", "b3": "journey-backend"}
    hosts, forwarding = machines(r.p("state", "links"))
    r.out(f"   {'machine':<13} {'iface':<9} {'MAC':<18} {'address':<18} ip_forward  role")
    for name, ifs in hosts:
        for i, (ifname, mac, addr) in enumerate(ifs):
            first = i == 0
            r.out(f"   {name if first else '':<13} {ifname:<9} {mac:<18} {addr:<18} "
                  f"{forwarding.get(name, '?') if first else '':<11} {roles.get(name, '') if first else ''}")
    r.out()
    rcs = [read(r.p(run, "client.rc")).strip() for run in ("run1", "run2")]
    r.check(rcs == ["0", "0"], "journey completed both runs (exit 0)",
            f"exit codes {rcs}; stderr: {read(r.p('run1', 'client.stderr')).strip()[:200] or '(empty)'}")

    # ---- step 1
    r.section("Step 1: the URL and the request",
              "the browser parses the URL into scheme https, host www.my-app.com, path /my-app/data and "
              "builds GET /my-app/data HTTP/1.1 with Host, User-Agent, Accept, Accept-Language, "
              "Accept-Encoding, Connection: keep-alive.")
    url = dig(c1, "phases", "url") or {}
    r.out(f"   journey parsed: {fields(url, 'scheme', 'host', 'port', 'path', 'query', 'method')}")
    req = url.get("request")
    if isinstance(req, str):
        r.out("   the exact request bytes journey sent (inside TLS, so not visible on the wire):")
        for line in req.rstrip("\r\n").split("\r\n"):
            r.out(f"   > {line}")
    be_hits = http_requests(caps["run1"]["private"])
    if be_hits:
        r.out("   the same request as it reached the backend (plaintext on the private link, after the LB's rewriting):")
        for p in caps["run1"]["private"]:
            if p.tcp and b" /my-app/data HTTP/1." in p.payload:
                for line in p.payload.split(b"\r\n\r\n")[0].decode("latin-1").splitlines():
                    r.out(f"   | {line}")
                break

    # ---- step 2
    r.section("Step 2: DNS",
              "browser cache, OS cache, hosts file, then the DNS server (168.126.63.1, here 192.0.2.53) "
              "answers www.my-app.com -> 20.123.45.67 (here 203.0.113.67).")
    hosts = read(r.p("state", "pc-hosts"))
    in_hosts = [x for x in hosts.splitlines() if re.search(r"\swww\.my-app\.com(\s|$)", x)]
    r.out(f"   the pc's /etc/hosts: {' | '.join(hosts.splitlines())} -> "
          f"{'has ' + in_hosts[0] if in_hosts else 'no www.my-app.com: a hosts miss'}")
    r.out(f"   the pc's /etc/resolv.conf: {' | '.join(read(r.p('state', 'pc-resolv.conf')).splitlines())}")
    client_dns(r, "run 1", dig(c1, "phases", "dns"))
    lan_dns = [p for p in caps["run1"]["lan"] if p.udp and 53 in (p.udp["sport"], p.udp["dport"])]
    srv_dns = [p for p in caps["run1"]["dns"] if p.udp and 53 in (p.udp["sport"], p.udp["dport"])]
    for label, pkts in (("on the LAN (pc side)", lan_dns), ("at the DNS server (after NAT)", srv_dns)):
        r.out(f"   captured {label}:")
        for p in pkts:
            d = dns_decode(p.payload)
            if not d:
                continue
            ans = ", ".join(f"{n} {t if t != 1 else 'A'} {data} TTL {ttl}" for n, t, ttl, data in d["answers"])
            kind = f"answer rcode={d['rcode']} [{ans or 'no records'}]" if d["qr"] else "query"
            r.out(f"     {p.endpoints():<44} {kind} {d['qtype']} {d['qname']} ttl(ip)={p.ip['ttl']}")
    answers = [dns_decode(p.payload) for p in lan_dns if p.ip["src"] == DNS]
    a_records = [(data, ttl) for d in answers if d for _, t, ttl, data in d["answers"] if t == 1]
    r.check(any(data == LB_PUB for data, _ in a_records), "DNS server 192.0.2.53 answered www.my-app.com A 203.0.113.67",
            f"A records on the wire: {a_records}")
    dq = [line.split(": ", 1)[-1] for line in read(r.p("logs", "dnsmasq.log")).splitlines()
          if "my-app.com" in line and re.search(r"query\[|config |reply |cached ", line)]
    for line in dq[:4]:
        r.out(f"   dnsmasq's log: {line}")
    lan_dns2 = [p for p in caps["run2"]["lan"] if p.udp and 53 in (p.udp["sport"], p.udp["dport"])]
    client_dns(r, "run 2", dig(c2, "phases", "dns"))
    r.check(not lan_dns2, "run 2: the client's DNS cache answered (no DNS packet on the LAN)",
            f"{len(lan_dns2)} DNS packets captured on the LAN in run 2")
    dns_ttl_countdown(r, caps, dig(c1, "phases", "dns"), dig(c2, "phases", "dns"))

    # ---- step 3
    r.section("Step 3: TCP, TLS and IP",
              "a TCP session to port 443, the TLS handshake, the request encrypted, an IP header "
              "(src 192.168.1.100, dst 20.123.45.67) and an Ethernet frame with MAC addresses.")
    lan = caps["run1"]["lan"]
    syn = next((p for p in lan if p.tcp and p.tcp["flags"] & 0x12 == 0x02 and p.ip["dst"] == LB_PUB), None)
    if syn:
        cport = syn.tcp["sport"]
        conv = [p for p in lan if p.tcp and {p.tcp["sport"], p.tcp["dport"]} == {cport, 443}]
        t0 = conv[0].ts
        r.out(f"   the connection on the LAN: {PC}:{cport} -> {LB_PUB}:443 ({len(conv)} packets)")
        for p in conv[:14]:
            hs = tls_handshakes(p.payload) if p.payload else []
            names = {1: "ClientHello", 2: "ServerHello", 4: "NewSessionTicket", 11: "Certificate",
                     8: "EncryptedExtensions"}
            desc = []
            for h, d in hs:
                if h == "appdata":
                    desc.append(f"TLS application data {d['len']} B")
                elif h == "ccs":
                    desc.append("ChangeCipherSpec")
                else:
                    extra = dict(d)
                    if "cipher" in extra:
                        extra["cipher"] = CIPHERS.get(extra["cipher"], extra["cipher"])
                    desc.append(f"{names.get(h, f'handshake {h}')} {json.dumps(extra) if extra else ''}".strip())
            r.out(f"   {1000 * (p.ts - t0):8.3f} ms  {p.endpoints():<42} [{p.flags()}] len={len(p.payload)}"
                  f" ttl={p.ip['ttl']}  {'; '.join(desc)}")
        if len(conv) > 14:
            r.out(f"   ... {len(conv) - 14} more")
        hello = [d for p in conv for h, d in tls_handshakes(p.payload) if h == 1]
        r.check(hello and hello[0].get("sni") == "www.my-app.com", "ClientHello carries SNI www.my-app.com",
                f"SNI seen: {hello[0].get('sni') if hello else None}")
    else:
        r.check(False, "a TCP connection from the pc to 203.0.113.67:443 was captured on the LAN", "no SYN seen")
    tcp, tls = dig(c1, "phases", "tcp"), dig(c1, "phases", "tls")
    r.out(f"   journey's TCP phase: {fields(tcp, 'local', 'remote', 'rtt_us', 'mss', 'cwnd', 'retransmits')}"
          f" connect {us((tcp or {}).get('duration_us'))}")
    r.out(f"   journey's TLS phase: {fields(tls, 'version', 'cipher', 'group', 'alpn', 'sni', 'verified', 'verify_result', 'verify_name')}"
          f" handshake {us((tls or {}).get('duration_us'))}")
    cert = (tls or {}).get("certificate") if isinstance(tls, dict) else None
    if isinstance(cert, dict):
        r.out(f"   the LB's certificate as journey saw it: {fields(cert, 'subject', 'issuer', 'san', 'sans', 'not_after')}")

    # ---- step 4
    r.section("Step 4: from the LAN to the internet: routing and NAT",
              "routing-table look-up, default gateway 192.168.1.1, NAT private -> public on the home "
              "router, on to the ISP.")
    r.out(f"   pc's routing table: {' | '.join(read(r.p('run1', 'pc.routes')).splitlines())}")
    route = read(r.p("run1", "pc.route")).strip().splitlines()
    r.out(f"   ip route get {LB_PUB} (in the pc): {route[0] if route else '?'}")
    r.check(route and f"via {GW}" in route[0], "the pc routes to the LB through its default gateway 192.168.1.1",
            route[0] if route else "no route")
    croute = dig(c1, "phases", "route")
    r.out(f"   journey's route phase (netlink): {fields(croute, 'gateway', 'interface', 'interface_mac', 'source', 'next_hop', 'ttl', 'source_private', 'nat')}")
    for line in read(r.p("run1", "nat.counters")).splitlines():
        if "MASQUERADE" in line:
            r.out(f"   home-router NAT rule (packets bytes ...): {' '.join(line.split())}")
    acc = flow_packets(caps["run1"]["access"], WAN, LB_PUB)
    lan_fl = flow_packets(lan, PC, LB_PUB)
    if acc and lan_fl:
        r.out(f"   before NAT (LAN): {lan_fl[0].endpoints()}   after NAT (WAN): {acc[0].endpoints()}")
    r.check(acc and not flow_packets(caps["run1"]["access"], PC, LB_PUB),
            "on the WAN link the source is 198.51.100.2, never 192.168.1.100",
            f"{len(acc)} packets from {WAN} to {LB_PUB}:443 on the access link")
    clients = [client_addr(logfmt(line)) for line in lb_lines1]
    for line in lb_lines1[:3]:
        r.out(f"   LB access log: {short_log(line)[:400]}")
    r.check(lb_lines1 and all(c == WAN for c in clients),
            "the LB's access log shows the NAT address 198.51.100.2 as the client, not 192.168.1.100",
            f"client addresses in the LB log for run 1: {clients}")

    # ---- step 5
    r.section("Step 5: ARP and the hops",
              "each router checks whether the IP is its own or forwards; the next hop's MAC comes from the "
              "ARP cache (hit) or a broadcast ARP request to FF:FF:FF:FF:FF:FF and its reply (miss); the "
              "Ethernet header is rewritten at every hop, the TTL drops by one per router.")
    before, after = neigh_tables(r.p("run1", "neigh.before")), neigh_tables(r.p("run1", "neigh.after"))
    after2 = neigh_tables(r.p("run2", "neigh.before"))
    for n in ["pc"] + ROUTERS + ["lb"]:
        r.out(f"   {n} neighbour table before run 1: {'; '.join(before.get(n, [])) or '(empty)'}")
        r.out(f"   {n} neighbour table after run 1:  {'; '.join(after.get(n, [])) or '(empty)'}")
        if n == "pc":
            r.out(f"   {n} neighbour table before run 2: {'; '.join(after2.get(n, [])) or '(empty)'}")
    r.out("   ARP on each link, run 1 (ms from the run's first packet on the LAN):")
    t0 = caps["run1"]["lan"][0].ts if caps["run1"]["lan"] else 0
    for name in ("lan", "access", "dns", "core", "edge"):
        pk = caps["run1"][name]
        for i, p in enumerate(pk):
            if p.arp:
                a = p.arp
                what = (f"who-has {a['tpa']} tell {a['spa']}" if a["op"] == 1
                        else f"{a['spa']} is-at {a['sha']}")
                r.out(f"     {1000 * (p.ts - t0):8.3f} {name:<7} {p.src_mac} -> {p.dst_mac}"
                      f"{' (broadcast)' if p.dst_mac == BROADCAST else ''}: "
                      f"ARP {'request' if a['op'] == 1 else 'reply'} {what}")
                if a["op"] == 2:
                    nxt = next((q for q in pk[i + 1:] if q.ip), None)
                    if nxt:
                        kind = "DNS query" if nxt.udp and nxt.udp["dport"] == 53 else (
                            "TCP " + nxt.flags() if nxt.tcp else f"proto {nxt.ip['proto']}")
                        r.out(f"     {1000 * (nxt.ts - t0):8.3f} {name:<7} then the packet that waited for it: "
                              f"{nxt.endpoints()} ({kind})")
    req1 = [p for p in caps["run1"]["lan"] if p.arp and p.arp["op"] == 1 and p.arp["spa"] == PC and p.arp["tpa"] == GW]
    rep1 = [p for p in caps["run1"]["lan"] if p.arp and p.arp["op"] == 2 and p.arp["spa"] == GW]
    r.check(req1 and req1[0].dst_mac == BROADCAST,
            "run 1: the pc's ARP request for 192.168.1.1 is broadcast to ff:ff:ff:ff:ff:ff on the LAN",
            f"{len(req1)} request(s), to {[p.dst_mac for p in req1]}")
    r.check(rep1 and req1 and rep1[0].dst_mac == req1[0].src_mac and rep1[0].arp["sha"] in macs,
            "run 1: the home router replies with its MAC, unicast to the pc",
            f"{[(p.arp['sha'], p.dst_mac) for p in rep1]}")
    req2 = [p for p in caps["run2"]["lan"] if p.arp and p.arp["op"] == 1]
    bc2 = [p for name in ("lan", "access", "core", "edge") for p in caps["run2"][name] if p.arp and p.dst_mac == BROADCAST]
    r.out("   ARP on each link, run 2: " + (", ".join(f"{p.arp['spa']} asks {p.arp['tpa']} -> {p.dst_mac}"
                                                     for name in ("lan", "access", "core", "edge")
                                                     for p in caps["run2"][name] if p.arp) or "none"))
    r.check(not [p for p in req2 if p.arp["spa"] == PC] and not bc2,
            "run 2: ARP cache hit: no ARP request from the pc and no broadcast ARP on the path",
            f"{len(req2)} ARP request(s) on the LAN, {len(bc2)} broadcast on the path")
    for run, cj in (("run 1", c1), ("run 2", c2)):
        r.out(f"   journey's next-hop entry, {run}: {fields(dig(cj, 'phases', 'route', 'neighbour'), 'mac', 'state_before', 'state', 'cache')}")
    first_ip = next((p for p in caps["run1"]["lan"] if p.ip), None)
    if req1 and first_ip and first_ip.udp and first_ip.udp["dport"] == 53:
        r.out("   (in run 1 the pc's ARP miss is paid by the DNS query, its first packet through the gateway: by the time")
        r.out("    journey connects, the entry is already REACHABLE, so its route phase rightly reports a hit)")

    r.out("   the request's packets (client -> LB) on each link, run 1:")
    r.out(f"     {'link':<7} {'between':<30} {'src MAC -> dst MAC':<40} {'src IP -> dst IP':<34} TTL")
    ttls, pairs = [], []
    for name, between in PATH:
        src = PC if name == "lan" else WAN
        pk = flow_packets(caps["run1"][name], src, LB_PUB)
        if not pk:
            r.out(f"     {name:<7} {between:<30} (no packet of the request captured)")
            ttls.append(None)
            pairs.append(None)
            continue
        t = sorted({p.ip["ttl"] for p in pk})
        pr = sorted({(p.src_mac, p.dst_mac) for p in pk})
        ttls.append(t[0] if len(t) == 1 else tuple(t))
        pairs.append(pr[0] if len(pr) == 1 else tuple(pr))
        r.out(f"     {name:<7} {between:<30} {pr[0][0]} -> {pr[0][1]}  {pk[0].ip['src']:>15} -> {pk[0].ip['dst']:<15} {','.join(map(str, t))}")
    for m in sorted({m for pr in pairs if pr and isinstance(pr[0], str) for m in pr}):
        r.out(f"       {mname(m)}")
    r.check(all(isinstance(t, int) for t in ttls) and all(ttls[i + 1] == ttls[i] - 1 for i in range(len(ttls) - 1)),
            "TTL drops by exactly one at each router (home-router, isp-router-1, isp-router-2)",
            f"TTL per link {[name for name, _ in PATH]}: {ttls}")
    flat = [pr for pr in pairs if pr and isinstance(pr[0], str)]
    r.check(len(flat) == len(PATH) and len(set(flat)) == len(flat) and all(s != d for s, d in flat)
            and all(s in macs and d in macs for s, d in flat),
            "MAC pair (src, dst) differs on every link: rewritten at each hop",
            f"{len(set(flat))} distinct pairs over {len(PATH)} links")
    ips = [sorted({(p.ip['src'], p.ip['dst']) for p in flow_packets(caps['run1'][n], PC if n == 'lan' else WAN, LB_PUB)})
           for n, _ in PATH]
    r.check(all(len(x) == 1 for x in ips) and len({x[0] for x in ips[1:]}) == 1 and ips[1][0][1] == ips[0][0][1],
            "IP addresses unchanged over the hops apart from the NAT of the source",
            f"{[x[0] if len(x) == 1 else x for x in ips]}")
    # the way back, for completeness
    back = []
    for name, _ in PATH:
        dst = PC if name == "lan" else WAN
        pk = [p for p in caps["run1"][name] if p.tcp and p.ip["src"] == LB_PUB and p.ip["dst"] == dst]
        back.append(sorted({p.ip["ttl"] for p in pk}))
    r.out(f"   the response's TTL on the way back, per link (lan, access, core, edge): {back}")

    # ---- every hop, as a client can see it
    r.section("Every hop: journey --trace-path",
              "each router on the way is found by a probe sent with a TTL just large enough to reach it: "
              "the router that takes the TTL to 0 answers with ICMP time exceeded; the destination answers "
              "itself (port unreachable for the UDP probe) because the address is its own.")
    tj = load_json(r.p("tracepath", "client.json")) or {}
    path = tj.get("path") or {}
    hops = [(h.get("ttl"), h.get("address"), h.get("kind")) for h in path.get("hops") or []]
    r.out(f"   journey --trace-path (exit {read(r.p('tracepath', 'client.rc')).strip()}): {path.get('note')}")
    for ttl, addr, kind in hops:
        r.out(f"     TTL {ttl}: {addr} ({kind})")
    # the wire: each probe on the LAN (UDP from the pc to the LB) and the ICMP answer that came back
    # to the pc before the next probe left
    lan_t = read_pcap(r.p("tracepath", "lan.pcap"))
    wire = []
    for i, p in enumerate(lan_t):
        if p.udp and p.ip["src"] == PC and p.ip["dst"] == LB_PUB:
            ans = None
            for q in lan_t[i + 1:]:
                if q.udp and q.ip["src"] == PC and q.ip["dst"] == LB_PUB:
                    break
                if q.icmp and q.ip["dst"] == PC and q.icmp["quoted_dst"] == LB_PUB:
                    ans = q
                    break
            kind = None if not ans else ("router" if ans.icmp["type"] == 11 else
                                         "destination" if ans.icmp["type"] == 3 else f"icmp {ans.icmp['type']}")
            wire.append((p.ip["ttl"], ans.ip["src"] if ans else None, kind))
            r.out(f"   captured on the LAN: probe {p.endpoints()} TTL {p.ip['ttl']} -> "
                  + (f"ICMP {'time exceeded' if kind == 'router' else 'port unreachable' if kind == 'destination' else kind}"
                     f" from {ans.ip['src']}" if ans else "no answer"))
    # what the request's own packets showed (step 5): the router at the end of link i sees the
    # request's TTL lowered i times, so a probe reaches it with TTL 1 when sent with TTL i + 1
    want = []
    if all(isinstance(t, int) for t in ttls):
        at = {"home-router": GW, "isp-router-1": "198.51.100.1", "isp-router-2": "198.51.100.10"}
        want = [(ttls[0] - ttls[i] + 1, at[ROUTERS[i]], "router") for i in range(len(ROUTERS))]
        want.append((ttls[0] - ttls[-1] + 1, LB_PUB, "destination"))
    r.out(f"   expected from the request's TTLs per link {ttls}: {want}")
    r.check(read(r.p("tracepath", "client.rc")).strip() == "0" and path.get("probed") and path.get("reached"),
            "journey --trace-path completed and reached the destination",
            f"exit {read(r.p('tracepath', 'client.rc')).strip()}, probed {path.get('probed')}, reached {path.get('reached')}")
    r.check(bool(want) and hops == want,
            "journey --trace-path lists the home router, isp-router-1, isp-router-2 and the LB in order, "
            "at the TTLs the request's captures show",
            f"journey {hops}, expected {want}")
    r.check(bool(wire) and hops == wire,
            "each hop journey lists is the answer captured on the LAN for the probe sent with that TTL",
            f"journey {hops}, the wire {wire}")

    # ---- step 6
    r.section("Step 6: the load balancer",
              "the destination IP is its own, so it processes the packet locally: receives on its public "
              "IP, health-checks the backends, picks one by round-robin or least-connections, forwards.")
    edge = flow_packets(caps["run1"]["edge"], WAN, LB_PUB)
    lb_fwd = machines(r.p("state", "links"))[1].get("lb", "?")
    r.out(f"   local delivery: {LB_PUB} is the lb's own address (eth0), so the kernel delivers the packets to "
          f"journey-lb's socket instead of forwarding them (ip_forward={lb_fwd}); "
          f"{len(edge)} packets of the connection arrived on eth0")
    lbargs = read(r.p("state", "lb.args")).strip().replace(os.path.abspath(r.dir) + "/", "")
    r.out(f"   journey-lb {lbargs}")
    stats_text = read(r.p("state", "lb.stats")).strip()
    try:
        servers = [(x.get("name"), x.get("address"), x.get("state")) for x in walk(json.loads(stats_text))
                   if isinstance(x, dict) and "name" in x and "state" in x]
        r.out(f"   health of the backends (journey-lb /stats on its admin port): {servers}")
    except ValueError:
        r.out(f"   journey-lb /stats (admin port, loopback in lb): {stats_text[:200] or '(no answer)'}")
    names = {v: k for k, v in BACKENDS.items()}
    for run in ("run1", "run2"):
        checks = [(names.get(ip, ip), st) for _, ip, line, st in http_exchanges(caps[run]["private"]) if "/health" in line]
        if checks:
            r.out(f"   health checks on the private link during {run}'s capture (backend, status): {checks}")
    health = [line for line in read(r.p("logs", "lb.err")).splitlines() if re.search(r"\b(UP|DOWN|health|check)", line)]
    for line in health[:12]:
        r.out(f"   LB diagnostics: {short_log(line)[:300]}")
    phases = [x for x in lines_after(r.p("logs", "lb.err"), r.p("run1", "lb.err.before"), r.p("run1", "lb.err.after"))
              if re.search(r"\bphase=", x) and not re.search(r"/health\b", x)]
    if phases:
        rid = next((logfmt(x).get("request_id") for x in phases if logfmt(x).get("request_id")), None)
        r.out(f"   the LB's debug log, phase by phase, for run 1's request (request_id={rid}):")
        for line in phases[:16]:
            line = re.sub(r"\b(conn|request_id)=\S+\s*", "", short_log(line))
            r.out(f"     {line[:200]}")
    chosen = [backend_of(logfmt(line)) for line in lb_lines1]
    algos = sorted({logfmt(line).get("algorithm", "?") for line in lb_lines1})
    r.out(f"   algorithm (LB access log): {', '.join(algos) or '?'}; pool: "
          f"{', '.join(sorted({logfmt(line).get('pool', '?') for line in lb_lines1})) or '?'}")
    r.out(f"   chosen backend (LB access log): {chosen}; X-Served-By seen by the client: {c1.get('served_by')}")
    lbc = dig(c1, "phases", "lb")
    if isinstance(lbc, dict) and lbc.get("server_timing"):
        r.out("   Server-Timing as journey received it: " + ", ".join(
            f"{t.get('name')}={us(t.get('duration_us'))}" for t in lbc["server_timing"]))
    r.out(f"   journey's totals (curl's names, s): {fields(c1, 'time_namelookup', 'time_connect', 'time_appconnect', 'time_pretransfer', 'time_starttransfer', 'time_total')}")
    for line in lb_lines1[:2]:
        f = logfmt(line)
        timers = {k: v for k, v in f.items() if re.match(r"^(T[a-z]?|T[A-Z]|.*_ms|.*_us|dur.*)$", k)}
        r.out(f"   LB phase timers: {timers}")
    reached = [(dst, port) for _, _, dst, port in be_hits]
    r.out(f"   the request on the private link: {[f'10.0.0.1 -> {d}:{port}' for d, port in reached]}")
    b_logged = [b for b in BACKENDS if any("/my-app/data" in x for x in lines_after(
        r.p("logs", f"{b}.log"), r.p("run1", f"{b}.lines.before"), r.p("run1", f"{b}.lines.after")))]
    r.check(len(reached) == 1 and reached[0][0] in names and chosen == [names[reached[0][0]]]
            and b_logged == chosen,
            "the request reached one of the three backends, the one the LB's log names",
            f"captured to {[names.get(d, d) for d, _ in reached]}, LB log says {chosen}, backends with it in their log: {b_logged}")

    # the load balancer is an L7 proxy: the backend connection is its own, so the TTL starts again
    # and both addresses are the private side's.
    priv = [p for p in caps["run1"]["private"] if p.tcp and p.ip["src"] == "10.0.0.1" and p.tcp["dport"] == 8080
            and b" /my-app/data HTTP/1." in p.payload]
    for p in priv[:1]:
        r.out(f"   on the private link: {p.endpoints()} {p.src_mac} -> {p.dst_mac} TTL {p.ip['ttl']}: a new "
              f"connection from the LB (an L7 proxy terminates TCP and TLS; nothing is forwarded at L3)")
        stream = b"".join(q.payload for q in caps["run1"]["private"] if q.tcp and q.ip["src"] == p.ip["dst"]
                          and q.tcp["dport"] == p.tcp["sport"] and q.ts >= p.ts)
        i = stream.find(b"HTTP/1.")
        if i >= 0:
            head, _, content = stream[i:].partition(b"\r\n\r\n")
            status = head.split(b"\r\n", 1)[0].decode("latin-1")
            r.out(f"   the backend's response: {status}, body: {content[:400].decode('latin-1', 'replace')}")

    # ---- failure variant
    r.section("Failure variant: b2 turned unhealthy",
              "a load balancer sends traffic only to servers that pass their health checks.")
    fd = "failover"
    trans = lines_after(r.p("logs", "lb.err"), r.p(fd, "lb.err.before"), r.p(fd, "lb.err.up"))
    tr_lines = [x for x in trans if re.search(r"\bb2\b", x) and re.search(r"\b(DOWN|UP)\b", x)]
    t_signal = float(read(r.p(fd, "t.down"), "0").strip() or 0)
    r.out(f"   b2 got SIGUSR1 at {time.strftime('%H:%M:%S', time.gmtime(t_signal))}"
          f".{int(t_signal % 1 * 1000):03d}; from then on it answers /health with 503")
    for line in [x for x in trans if re.search(r"\bb2\b", x) and re.search(r"check|DOWN|UP", x)][:6]:
        r.out(f"   LB: {short_log(line)[:300]}")
    t_down = next((log_time(x) for x in tr_lines if re.search(r"\bDOWN\b", x)), None)
    if t_down and t_signal:
        r.out(f"   b2 marked DOWN {t_down - t_signal:.3f} s after the signal "
              f"(the LB's settings: {health_flags(read(r.p('state', 'lb.args')))})")
    no_health = read(r.p("state", "health-flags")).strip() == "0"
    if no_health:
        r.out("   journey-lb's --help has no --health-interval: it runs no active health checks (issue 5), so")
        r.out("   nothing tells it that b2 now answers /health with 503")
    r.check(any(re.search(r"\bDOWN\b", x) for x in tr_lines), "the LB logged b2's transition to DOWN",
            f"{len(tr_lines)} transition line(s) for b2" + (" (journey-lb has no health checks yet)" if no_health else ""))
    served = []
    for i in range(1, 20):
        j = load_json(r.p(fd, f"client.{i}.json"))
        if j is None and not os.path.exists(r.p(fd, f"client.{i}.json")):
            break
        served.append((j or {}).get("served_by"))
    fo_lb = lines_after(r.p("logs", "lb.access.log"), r.p(fd, "lb.lines.before"))
    fo_chosen = [backend_of(logfmt(x)) for x in fo_lb if x.strip()]
    r.out(f"   {len(served)} requests after the transition: served by {served} (client), LB log: {fo_chosen}")
    priv = read_pcap(r.p(fd, "private.pcap"))
    b2cap = read_pcap(r.p(fd, "b2.pcap"))
    to_b2_priv = [h for h in http_requests(priv) if h[2] == BACKENDS["b2"]]
    to_b2 = http_requests(b2cap)
    checks_b2 = http_requests(b2cap, "/health")
    b2_checks = [(round(ts - float(read(r.p(fd, "t.down"), "0") or 0), 1), st)
                 for ts, ip, line, st in http_exchanges(b2cap) if "/health" in line]
    r.out(f"   on b2's wire: {len(to_b2)} request(s) for /my-app/data, {len(checks_b2)} health check(s): "
          f"(seconds after SIGUSR1, status) {b2_checks}")
    b2_new = lines_after(r.p("logs", "b2.log"), r.p(fd, "b2.lines.before"))
    b2_data = [x for x in b2_new if "/my-app/data" in x]
    r.check(not to_b2 and not to_b2_priv and not b2_data and len(fo_chosen) == len(served) and served and all(s and s != "b2" for s in served)
            and "b2" not in fo_chosen,
            "after its transition b2 receives no request: capture and b2's own log are empty of /my-app/data",
            f"{len(to_b2)} on b2's link, {len(to_b2_priv)} to 10.0.0.5 on the LB's private side, "
            f"{len(b2_data)} in b2's log, LB sent to {fo_chosen}")
    up = lines_after(r.p("logs", "lb.err"), r.p(fd, "lb.err.up"))
    for line in [x for x in up if re.search(r"\bb2\b", x)][:3]:
        r.out(f"   LB (after SIGUSR2): {short_log(line)[:300]}")

    # ---- stop
    r.section("Stop: SIGTERM to every program")
    exits = {n: read(r.p("state", f"{n}.exit")).strip() for n in ("lb", "b1", "b2", "b3", "dns")}
    r.out(f"   exit statuses: {exits}")
    r.check(all(exits[n] == "0" for n in ("lb", "b1", "b2", "b3")),
            "journey-lb and the three journey-backends exit 0 on SIGTERM", f"{exits}")

    # ---- verdict
    failed = [c for c in r.checks if not c[0]]
    r.section(f"Verdict: {len(r.checks) - len(failed)}/{len(r.checks)} assertions hold")
    for _, what, ev in failed:
        r.out(f"   FAILED: {what} ({ev})")
    if not failed:
        r.out("   every assertion holds")
    r.close()
    text = "\n".join(r.lines) + "\n"
    with open(r.p("report.md"), "w", encoding="utf-8") as f:
        f.write(text)
    if opts.quiet:
        print("\n".join(f"[{'PASS' if ok else 'FAIL'}] {w}: {ev}" for ok, w, ev in r.checks))
    else:
        sys.stdout.write(text)
    print(f"scenario: report written to {r.p('report.md')}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
