"""Headless Chromium for the tests where a browser is the user: found on PATH, given a fresh
profile, trusting the development certificate's key and nothing else, and killed with all its
helper processes if it outlives its time."""
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess

from h2_peers import HOST
from loopback import TMP, cert_paths, check


def find_chromium():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    check(chromium, "chromium is not installed (scripts/install-deps.sh installs it)")
    return chromium


def spki_hash(cert):
    """base64 SHA-256 of the certificate's public key: what --ignore-certificate-errors-spki-list
    takes, so that Chromium trusts this one key and still checks everything else."""
    pem = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"], capture_output=True,
                         check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pem,
                         capture_output=True, check=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def trust_flags(certs):
    """HOST mapped to 127.0.0.1 and the development certificate's key trusted (nothing else:
    never --ignore-certificate-errors, which would accept any certificate)."""
    return [f"--host-resolver-rules=MAP {HOST} 127.0.0.1",
            f"--ignore-certificate-errors-spki-list={spki_hash(cert_paths(certs)[0])}"]


def chromium_args(chromium, netlog, certs):
    """Headless Chromium with a fresh profile, a net log and trust_flags."""
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", "--disable-background-networking",
            "--disable-component-update", "--disable-sync",
            f"--user-data-dir={os.path.join(TMP, 'chromium-profile')}",
            f"--log-net-log={netlog}"] + trust_flags(certs)


def run_chromium(cmd, timeout):
    """(exit code, or None when Chromium had to be killed at the timeout; its stdout; stderr).
    Its own session, so that the kill reaches its helper processes too."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out, err
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return None, out, err


def netlog_events(path):
    """(event type name, source type name, source id, params) of every event in a Chromium net log."""
    with open(path) as f:
        log = json.load(f)
    types = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    sources = {v: k for k, v in log["constants"]["logSourceType"].items()}
    return [(types.get(e["type"], str(e["type"])), sources.get(e["source"]["type"], ""),
             e["source"]["id"], e.get("params", {})) for e in log["events"]]
