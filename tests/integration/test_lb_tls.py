#!/usr/bin/env python3
"""journey-lb TLS session tickets across processes and reloads, and client certificates, with
real journey-lb and journey-backend processes on loopback and the development CA of the build
tree.

usage: test_lb_tls.py --lb PATH --backend PATH --certs DIR --case NAME
A client (Python's ssl, TLS 1.2 and TLS 1.3) gets a ticket from one journey-lb and offers it to
another one (or to the same one after SIGHUP): resumed or not is what the client sees.
"""
import base64, os, signal, socket, ssl, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import (TMP as tmpdir, case_args, cert_paths, check, free_ports, read, run_case,  # noqa: E402
                      start, wait_for, wait_port)
import loopback  # noqa: E402

A = None
VERSIONS = (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)


def start_backend(*flags):
    port, = free_ports(1)
    p = start([A.backend, "--listen", f"127.0.0.1:{port}", "--name", "b1", *flags], "b1")
    wait_port(port, p, "backend b1")
    p.port = port
    return p


def start_lb(b, name, *flags):
    return loopback.start_lb(A.lb, A.certs, [("b1", b.port)], "--workers", "2", *flags, name=name)


def key_file(name, *keys):
    """A ticket key file (mode 600) with the given keys (bytes), the first one current."""
    path = os.path.join(tmpdir, name)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write("# journey-lb session ticket keys, current first\n")
        for k in keys:
            f.write(base64.b64encode(k).decode() + "\n")
    os.chmod(path, 0o600)
    return path


CLIENTS = {}


def client(version):
    """One client context per version (Python offers a session only on its own context)."""
    if version not in CLIENTS:
        ctx = ssl.create_default_context(cafile=cert_paths(A.certs)[2])
        ctx.minimum_version = ctx.maximum_version = version
        CLIENTS[version] = ctx
    return CLIENTS[version]


def fetch(lb, ctx, session=None):
    """One request on a new TLS connection; returns (session, resumed). The whole response is
    read so that a TLS 1.3 ticket (sent after the handshake) has arrived."""
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", lb.https), 5),
                        server_hostname="www.my-app.com", session=session)
    s.sendall(b"GET /my-app/data HTTP/1.1\r\nHost: www.my-app.com\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        x = s.recv(65536)
        if not x:
            break
        data += x
    check(data.startswith(b"HTTP/1.1 200"), f"response: {data[:80]!r}")
    out = (s.session, s.session_reused)
    s.close()
    return out


def tickets(lb):
    """A fresh ticket of lb for each TLS version (a full handshake each)."""
    out = {}
    for v in VERSIONS:
        sess, reused = fetch(lb, client(v))
        check(not reused and sess is not None and sess.has_ticket, f"{v.name}: a ticket from {lb.name}")
        out[v] = sess
    return out


def resumes(lb, sessions, want, what):
    for v, sess in sessions.items():
        _, reused = fetch(lb, client(v), sess)
        check(reused == want, f"{v.name}: {what}: resumed={reused}, want {want}")


def sighup(lb, count):
    lb.send_signal(signal.SIGHUP)
    wait_for(f"{lb.name} reload #{count}", lambda: read(lb.errpath).count("reload applied") >= count, 10)


# ---------------------------------------------------------------- cases

def case_shared_file():
    """Two processes with the same key file: a ticket of one resumes on the other; a third
    process without the file does not resume it (its own random key)."""
    b = start_backend()
    keys = key_file("tickets.keys", os.urandom(80), os.urandom(80))
    lb1 = start_lb(b, "lb1", "--tls-ticket-key-file", keys)
    lb2 = start_lb(b, "lb2", "--tls-ticket-key-file", keys)
    lb3 = start_lb(b, "lb3")
    check("tls_ticket_keys=2" in read(lb1.errpath) + read(lb1.outpath), "the start line counts the file's keys")
    t1 = tickets(lb1)
    resumes(lb2, t1, True, "ticket of lb1 on lb2 (same key file)")
    resumes(lb3, t1, False, "ticket of lb1 on lb3 (no key file)")
    resumes(lb2, tickets(lb3), False, "ticket of lb3 on lb2")


def case_reload_keeps_keys():
    """Without a key file, SIGHUP keeps the process's key: tickets issued before still resume."""
    b = start_backend()
    lb = start_lb(b, "lb")
    t = tickets(lb)
    resumes(lb, t, True, "before SIGHUP")
    sighup(lb, 1)
    resumes(lb, t, True, "after SIGHUP (new TLS contexts, same ticket key)")


def case_rotation():
    """New key first, old key second, SIGHUP: old tickets still resume (and on a second process
    started with the rotated file); once the old key is dropped, they do not."""
    b = start_backend()
    old, new = os.urandom(80), os.urandom(80)
    path = key_file("rotate.keys", old)
    lb = start_lb(b, "lb", "--tls-ticket-key-file", path)
    t_old = tickets(lb)
    key_file("rotate.keys", new, old)
    sighup(lb, 1)
    resumes(lb, t_old, True, "ticket of the old key after rotation")
    lb2 = start_lb(b, "lb2", "--tls-ticket-key-file", path)
    resumes(lb2, t_old, True, "ticket of the old key on a process started with the rotated file")
    t_new = tickets(lb)
    key_file("rotate.keys", new)
    sighup(lb, 2)
    resumes(lb, t_old, False, "ticket of a key removed from the file")
    resumes(lb, t_new, True, "ticket of the current key")


def case_key_file_errors():
    """A world-readable or malformed file stops the start with the file, the line and the fix;
    on SIGHUP it is refused and the running keys stay."""
    b = start_backend()
    crt, key, _ = cert_paths(A.certs)
    base = [A.lb, "--listen", "https://127.0.0.1:%d" % free_ports(1)[0], "--cert", crt, "--key", key,
            "--backend", f"b1=127.0.0.1:{b.port}"]
    path = key_file("open.keys", os.urandom(80))
    os.chmod(path, 0o644)
    r = subprocess.run(base + ["--tls-ticket-key-file", path], capture_output=True, text=True, timeout=20)
    check(r.returncode == 1 and f"ticket key file {path} is readable by every user (mode 644)" in r.stderr
          and "chmod 600" in r.stderr, f"world-readable: exit {r.returncode}: {r.stderr}")
    bad = key_file("bad.keys", os.urandom(80))
    with open(bad, "a") as f:
        f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
    r = subprocess.run(base + ["--tls-ticket-key-file", bad, "--check-config"], capture_output=True, text=True,
                       timeout=20)
    check(r.returncode == 1 and f"ticket key file {bad}: line 3: 32 bytes; a key is 80 bytes" in r.stderr,
          f"bad line: exit {r.returncode}: {r.stderr}")
    r = subprocess.run(base + ["--tls-ticket-key-file", os.path.join(tmpdir, "missing.keys")],
                       capture_output=True, text=True, timeout=20)
    check(r.returncode == 1 and "cannot open ticket key file" in r.stderr and "No such file" in r.stderr,
          f"missing file: {r.stderr}")
    # Reload with a broken file: rejected, the tickets of the running keys still resume.
    good = key_file("reload.keys", os.urandom(80))
    lb = start_lb(b, "lb", "--tls-ticket-key-file", good)
    t = tickets(lb)
    with open(good, "w") as f:
        f.write("garbage\n")
    lb.send_signal(signal.SIGHUP)
    wait_for("reload rejected", lambda: "reload rejected" in read(lb.errpath), 10)
    check(f"ticket key file {good}: line 1: not base64" in read(lb.errpath), read(lb.errpath)[-500:])
    resumes(lb, t, True, "after a rejected reload")


def client_cert(name, cn, ca=None):
    """A client certificate for CN=cn signed by the development CA (or self-signed: ca=False)."""
    crt, key = os.path.join(tmpdir, name + ".crt"), os.path.join(tmpdir, name + ".key")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", crt + ".csr", "-subj", f"/O=Example Clients/CN={cn}"],
                   check=True, capture_output=True, timeout=30)
    ext = os.path.join(tmpdir, "client.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n")
    sign = (["-CA", os.path.join(A.certs, "ca.crt"), "-CAkey", os.path.join(A.certs, "ca.key"), "-CAcreateserial"]
            if ca is None else ["-key", key])
    subprocess.run(["openssl", "x509", "-req", "-in", crt + ".csr", "-out", crt, "-days", "2", "-extfile", ext,
                    *sign], check=True, capture_output=True, timeout=30)
    return crt, key


def curl(lb, *args):
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                        os.path.join(A.certs, "ca.crt"), "--resolve", f"www.my-app.com:{lb.https}:127.0.0.1",
                        "-H", "X-Client-Cert-Subject: CN=forged-by-the-client", *args,
                        f"https://www.my-app.com:{lb.https}/my-app/data"],
                       capture_output=True, text=True, timeout=20)
    return r.stdout.strip(), r.stderr


def received(path):
    """The X-Client-Cert-Subject lines of every request the backend recorded (None: no header)."""
    reqs = [x for x in read(path).split("GET /my-app/data ") if x]
    out = []
    for r in reqs:
        head = r.replace("\r\n", "\n").split("\n\n", 1)[0]
        vals = [ln.split(":", 1)[1].strip() for ln in head.split("\n") if ln.lower().startswith("x-client-cert-subject:")]
        out.append(vals)
    return out


def case_client_cert_required():
    """client-verify required: a verified certificate's subject reaches the backend (the client's
    own copy of the header never does) and is logged; no certificate, or one of another CA: the
    handshake is refused, the log names the alert, the backend receives nothing."""
    rec = os.path.join(tmpdir, "required.rec")
    b = start_backend("--record", rec)
    crt, key = client_cert("alice", "alice")
    lb = start_lb(b, "lb", "--client-ca", os.path.join(A.certs, "ca.crt"), "--client-verify", "required")
    code, err = curl(lb, "--cert", crt, "--key", key)
    check(code == "200", f"with a certificate: {code} {err}")
    wait_for("the backend's record", lambda: received(rec), 5)
    check(received(rec) == [["CN=alice,O=Example Clients"]], f"backend received {read(rec)!r}")
    wait_for("the access log line", lambda: "client_cert=" in read(lb.outpath), 5)
    check('client_cert="CN=alice,O=Example Clients"' in read(lb.outpath), read(lb.outpath)[-600:])
    # HTTP/1.1: curl then reads the TLS 1.3 alert that follows the handshake; over h2 it reports
    # only the closed socket (the LB refuses the same way either way: the log checks below)
    code, err = curl(lb, "--http1.1")
    check(code == "000" and "alert certificate required" in err, f"without a certificate: HTTP {code} {err}")
    code, err = curl(lb, "--tls-max", "1.2")
    check(code == "000" and "alert handshake failure" in err, f"TLS 1.2 without a certificate: {code} {err}")
    other_crt, other_key = client_cert("mallory", "mallory", ca=False)
    code, err = curl(lb, "--cert", other_crt, "--key", other_key)
    check(code == "000", f"self-signed certificate: HTTP {code}")
    def log():
        return read(lb.outpath) + read(lb.errpath)
    wait_for("the three refusals logged", lambda: log().count("TLS handshake with") >= 3, 5)
    log = log()
    check("alert sent: certificate required" in log and "peer did not return a certificate" in log,
          f"missing certificate: the alert is named: {log[-800:]}")
    check("alert sent: handshake failure" in log, f"TLS 1.2: the alert is named: {log[-800:]}")
    check("certificate verify failed" in log and "alert sent: unknown CA" in log,
          f"foreign certificate: the alert is named: {log[-800:]}")
    time.sleep(0.3)
    check(len(received(rec)) == 1, f"refused handshakes reached the backend: {received(rec)}")


def case_client_cert_optional():
    """client-verify optional: without a certificate the request passes with no subject header
    (the client's forged one dropped); with one, its subject is sent."""
    rec = os.path.join(tmpdir, "optional.rec")
    b = start_backend("--record", rec)
    crt, key = client_cert("bob", "bob")
    lb = start_lb(b, "lb", "--client-ca", os.path.join(A.certs, "ca.crt"), "--client-verify", "optional",
                  "--client-cert-header", "X-Client-Cert-Subject")
    code, err = curl(lb)
    check(code == "200", f"without a certificate: {code} {err}")
    code, err = curl(lb, "--cert", crt, "--key", key)
    check(code == "200", f"with a certificate: {code} {err}")
    wait_for("two recorded requests", lambda: len(received(rec)) == 2, 5)
    check(received(rec) == [[], ["CN=bob,O=Example Clients"]], f"backend received {received(rec)}")
    # Without --client-ca the header is dropped as well: a backend may trust it.
    lb2 = start_lb(b, "lb2")
    code, err = curl(lb2)
    check(code == "200", f"no client-ca: {code} {err}")
    wait_for("three recorded requests", lambda: len(received(rec)) == 3, 5)
    check(received(rec)[2] == [], f"forged header reached the backend: {received(rec)}")
    r = subprocess.run([A.lb, "--listen", "https://127.0.0.1:1", "--cert", cert_paths(A.certs)[0], "--key",
                        cert_paths(A.certs)[1], "--backend", "b=127.0.0.1:1", "--client-verify", "optional"],
                       capture_output=True, text=True, timeout=20)
    check(r.returncode == 1 and "client-verify needs client-ca FILE" in r.stderr, r.stderr)


def other_ca(name):
    """A second CA (self-signed) and a client certificate it signed: (ca.crt, client crt, key)."""
    ca_key, ca_crt = os.path.join(tmpdir, name + "-ca.key"), os.path.join(tmpdir, name + "-ca.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", ca_key, "-out", ca_crt, "-days", "2", "-subj", f"/CN={name} CA",
                    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"],
                   check=True, capture_output=True, timeout=30)
    crt, key = os.path.join(tmpdir, name + ".crt"), os.path.join(tmpdir, name + ".key")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", crt + ".csr", "-subj", f"/O=Other Clients/CN={name}"],
                   check=True, capture_output=True, timeout=30)
    ext = os.path.join(tmpdir, name + ".ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n")
    subprocess.run(["openssl", "x509", "-req", "-in", crt + ".csr", "-out", crt, "-days", "2", "-extfile", ext,
                    "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial"], check=True, capture_output=True,
                   timeout=30)
    return ca_crt, crt, key


def case_client_ca_reload():
    """client-ca added, changed and removed in the config file take effect at SIGHUP: new
    handshakes follow the reloaded setting (what the backend receives shows it)."""
    rec = os.path.join(tmpdir, "ca-reload.rec")
    b = start_backend("--record", rec)
    alice_crt, alice_key = client_cert("alice-r", "alice")
    ca2, carol_crt, carol_key = other_ca("carol")
    https, = free_ports(1)
    crt, key, _ = cert_paths(A.certs)
    conf = os.path.join(tmpdir, "ca-reload.conf")
    base = f"[lb]\nlisten = https://127.0.0.1:{https}\ncert = {crt}\nkey = {key}\nbackend = b1=127.0.0.1:{b.port}\n"

    def write(extra):
        with open(conf, "w") as f:
            f.write(base + extra)
    write("")
    lb = start([A.lb, "--config", conf, "--workers", "2"], "lb")
    wait_port(https, lb, "journey-lb")
    lb.https = https
    code, err = curl(lb)
    check(code == "200", f"no client-ca yet: a client without a certificate is served: {code} {err}")
    # Added: required, the development CA.
    write(f"client-ca = {os.path.join(A.certs, 'ca.crt')}\nclient-verify = required\n")
    sighup(lb, 1)
    code, err = curl(lb, "--http1.1")  # HTTP/1.1: curl reads the alert (see client_cert_required)
    check(code == "000" and "alert certificate required" in err, f"after adding client-ca: {code} {err}")
    code, err = curl(lb, "--cert", alice_crt, "--key", alice_key)
    check(code == "200", f"alice (development CA) after adding client-ca: {code} {err}")
    code, err = curl(lb, "--cert", carol_crt, "--key", carol_key)
    check(code == "000", f"carol (another CA) is refused: {code} {err}")
    # Changed: the other CA only.
    write(f"client-ca = {ca2}\nclient-verify = required\n")
    sighup(lb, 2)
    code, err = curl(lb, "--cert", alice_crt, "--key", alice_key)
    check(code == "000", f"alice after the CA changed: {code} {err}")
    code, err = curl(lb, "--cert", carol_crt, "--key", carol_key)
    check(code == "200", f"carol after the CA changed: {code} {err}")
    # Removed: no certificate asked, no subject sent.
    write("")
    sighup(lb, 3)
    code, err = curl(lb)
    check(code == "200", f"after removing client-ca: {code} {err}")
    wait_for("four recorded requests", lambda: len(received(rec)) == 4, 5)
    got = received(rec)
    print("backend received subjects:", got)
    check(got == [[], ["CN=alice,O=Example Clients"], ["CN=carol,O=Other Clients"], []],
          f"the subjects the backend received follow the reloads: {got}")


CASES = {n[5:]: f for n, f in globals().items() if n.startswith("case_")}

if __name__ == "__main__":
    A = case_args(CASES)
    run_case(CASES[A.case])
