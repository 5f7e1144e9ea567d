#!/usr/bin/env python3
"""Bounded soak of the exportgate binary: mixed admission load over TLS keep-alive and fresh
connections, with policy reloads (including a broken policy that must be rejected) and
certificate rotations in between. Fails on any failed or wrong answer, on a tenant cap passed
(or never reached), on a rotated certificate that new connections do not get, on resident-memory growth
beyond a small bound after warm-up, and on file descriptors left open at the end.

Usage: soak.py BINARY SECONDS   (tests/soak/run.sh sets both)
"""
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

BIN, SECONDS = sys.argv[1], float(sys.argv[2])
CLIENTS = 8                      # concurrent clients; half keep one connection, half reconnect
RSS_GROWTH_LIMIT_KB = 16 * 1024  # after warm-up: a leak of 1 KB per request would exceed this
WARMUP = max(10.0, SECONDS * 0.2)

POLICY = """apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata:
  name: soak-{version}
spec:
  preset: diffusion-2025
  tiers:
    tier2:
      tenantCapTPP: {cap}
  tenants:
    - {{name: team-sg, jurisdiction: SG, namespaces: [team-sg]}}
    - {{name: team-cn, jurisdiction: CN, namespaces: [team-cn]}}
    - {{name: team-us, jurisdiction: US, namespaces: [team-us]}}
  admins:
    users: [admin@example.com]
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(*args):
    subprocess.run(args, check=True, capture_output=True)


def issue_server_cert(d, name):
    """A new key and certificate for 127.0.0.1 from the soak CA, written atomically."""
    key, csr, crt = (os.path.join(d, f"{name}.{x}") for x in ("key", "csr", "crt"))
    sh("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
       "-nodes", "-keyout", key, "-subj", "/CN=exportgate-soak", "-out", csr)
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    sh("openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(d, "ca.crt"), "-CAkey",
       os.path.join(d, "ca.key"), "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt)
    # Key first, then certificate, each by rename: the watcher never sees half a file.
    os.replace(key, os.path.join(d, "tls.key"))
    os.replace(crt, os.path.join(d, "tls.crt"))


def write_policy(d, text):
    tmp = os.path.join(d, "policy.yaml.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, os.path.join(d, "policy.yaml"))


def pod(ns, name, gpus):
    res = {"requests": {"cpu": "1"}}
    spec = {"containers": [{"name": "c", "image": "i", "resources": res}]}
    if gpus:
        res["limits"] = {"nvidia.com/gpu": str(gpus)}
        spec["nodeSelector"] = {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": spec}


def review(uid, obj, ns, op="CREATE", old=None):
    src = obj or old
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": uid, "kind": {"group": "", "version": "v1", "kind": src["kind"]},
        "resource": {"group": "", "version": "v1", "resource": src["kind"].lower() + "s"},
        "name": src["metadata"]["name"], "namespace": ns, "operation": op,
        "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
        "object": obj, "oldObject": old}}


# (path, body, expected HTTP status, expected allowed or None) -- the mix each client cycles.
def mix(i):
    n = f"p{i}"
    return [
        ("/validate", review(n + "a", pod("team-us", n, 0), "team-us"), 200, True),
        ("/validate", review(n + "b", pod("team-cn", n, 8), "team-cn"), 200, False),
        ("/mutate", review(n + "e", pod("team-us", n, 1), "team-us"), 200, True),
        ("/validate", "{\"apiVersion\": ", 400, None),
    ]


# The capped tenant: team-sg (Tier 2) under tenantCapTPP. Each client holds up to HOLD one-GPU
# Pods there, deleting the oldest before creating more, so together the clients ask for more than
# the cap holds: denials must happen, and the Pods admitted and not yet deleted must never be
# more than the cap allows.
CAP = 260000
GPU_TPP = 15832  # one pinned H100
HOLD = 3


class Held:
    """team-sg Pods admitted and whose DELETE has not been sent: the server counts at least these."""

    def __init__(self):
        self.lock, self.pods, self.max, self.admitted, self.denied = threading.Lock(), set(), 0, 0, 0

    def admit(self, name):
        with self.lock:
            self.pods.add(name)
            self.admitted += 1
            self.max = max(self.max, len(self.pods))
            return len(self.pods)

    def deny(self):
        with self.lock:
            self.denied += 1

    def release(self, name):
        with self.lock:
            self.pods.discard(name)


class Failures:
    def __init__(self):
        self.lock, self.items, self.requests = threading.Lock(), [], 0

    def add(self, what):
        with self.lock:
            self.items.append(what)

    def count(self):
        with self.lock:
            self.requests += 1


def capped_steps(idx, i, mine, held):
    """The next requests against the cap: DELETE the oldest held Pod when HOLD are held (released
    from `held` before it is sent), then CREATE a new one."""
    steps = []
    if len(mine) >= HOLD:
        old = mine.pop(0)
        held.release(old)
        steps.append(("/validate", review(f"{old}-del", None, "team-sg", "DELETE", pod("team-sg", old, 1)),
                      200, True))
    name = f"sg{idx}-{i}"
    steps.append(("/validate", review(f"{name}-new", pod("team-sg", name, 1), "team-sg"), 200, "capped"))
    return steps


def client_loop(idx, port, ctx, stop, failures, held):
    reconnect = idx % 2 == 1  # half the clients open a fresh connection every few requests
    conn, i = None, 0
    mine = []  # this client's held team-sg Pods, oldest first
    while not stop.is_set():
        for path, body, status, allowed in mix(idx * 1_000_000 + i) + capped_steps(idx, i, mine, held):
            if conn is None:
                conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
            data = body if isinstance(body, str) else json.dumps(body)
            try:
                conn.request("POST", path, data, {"Content-Type": "application/json"})
                r = conn.getresponse()
                payload = r.read()
            except Exception as e:  # any transport error is a failed request
                failures.add(f"client {idx}: {path}: {type(e).__name__}: {e}")
                conn.close()
                conn = None
                continue
            failures.count()
            if r.status != status:
                failures.add(f"client {idx}: {path}: HTTP {r.status}, want {status}: {payload[:200]}")
            elif status == 200:
                resp = json.loads(payload)["response"]
                uid = body["request"]["uid"]
                if resp.get("uid") != uid:
                    failures.add(f"client {idx}: uid {resp.get('uid')} != {uid}")
                if allowed == "capped":
                    name = body["request"]["name"]
                    if resp.get("allowed"):
                        mine.append(name)
                        n = held.admit(name)
                        if n * GPU_TPP > CAP:
                            failures.add(f"client {idx}: {uid} admitted with {n} team-sg Pods held: "
                                         f"{n * GPU_TPP} TPP over the {CAP} cap")
                    elif "tenant cap" in resp.get("status", {}).get("message", ""):
                        held.deny()
                    else:
                        failures.add(f"client {idx}: {uid}: denied for another reason: {resp.get('status')}")
                elif allowed is not None and resp.get("allowed") != allowed:
                    failures.add(f"client {idx}: {uid}: allowed={resp.get('allowed')}")
        i += 1
        if reconnect and i % 3 == 0 and conn is not None:
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


def served_certificate(port, d, ctx, timeout=10.0):
    """Whether a new TLS connection gets the certificate now in tls.crt (within `timeout`)."""
    with open(os.path.join(d, "tls.crt")) as f:
        want = ssl.PEM_cert_to_DER_cert(f.read())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    if tls.getpeercert(binary_form=True) == want:
                        return True
        except (OSError, ssl.SSLError):
            pass
        time.sleep(0.2)
    return False


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def metric(port, name_and_labels):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name_and_labels):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def main():
    d = tempfile.mkdtemp(prefix="exportgate-soak-")
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
       "-nodes", "-keyout", os.path.join(d, "ca.key"), "-subj", "/CN=soak CA", "-days", "2",
       "-out", os.path.join(d, "ca.crt"))
    issue_server_cert(d, "s0")
    write_policy(d, POLICY.format(version=0, cap=CAP))
    port, mport = free_port(), free_port()
    log = open(os.path.join(d, "server.log"), "w")
    proc = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{port}", "--metrics-listen",
                             f"127.0.0.1:{mport}", "--tls-cert", os.path.join(d, "tls.crt"),
                             "--tls-key", os.path.join(d, "tls.key"), "--policy",
                             os.path.join(d, "policy.yaml"), "--reload-interval", "1"],
                            stdout=log, stderr=log)
    ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.crt"))
    failures = Failures()
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        fds_idle = fd_count(proc.pid)

        stop = threading.Event()
        held = Held()
        threads = [threading.Thread(target=client_loop, args=(k, port, ctx, stop, failures, held))
                   for k in range(CLIENTS)]
        for t in threads:
            t.start()
        start = time.monotonic()
        rss_base = None
        rss_max = 0
        step = 0
        rotations = served = 0
        while time.monotonic() - start < SECONDS:
            time.sleep(1)
            step += 1
            elapsed = time.monotonic() - start
            if step % 5 == 0:  # policy reload: a new valid version, or a broken one then a fix
                if step % 15 == 0:
                    write_policy(d, "apiVersion: exportgate.io/v1alpha1\nkind: Policy\nspec: [\n")
                else:
                    write_policy(d, POLICY.format(version=step, cap=CAP + step % 1000))
            if step % 7 == 0:
                issue_server_cert(d, f"s{step}")
                rotations += 1
                if served_certificate(port, d, ctx):
                    served += 1
                else:
                    failures.add(f"rotation {rotations}: new connections still get the old certificate")
            rss = rss_kb(proc.pid)
            if elapsed < WARMUP:
                rss_base = max(rss_base or 0, rss)
            else:
                rss_max = max(rss_max, rss)
            if proc.poll() is not None:
                failures.add(f"the server exited with {proc.returncode}")
                break
        stop.set()
        for t in threads:
            t.join()
        write_policy(d, POLICY.format(version="final", cap=CAP))  # end on a good policy

        # Every client connection is closed: the server must be back to its idle descriptors.
        fds_end = fd_count(proc.pid)
        deadline = time.monotonic() + 15
        while fds_end > fds_idle and time.monotonic() < deadline:
            time.sleep(0.2)
            fds_end = fd_count(proc.pid)
        ok_reloads = metric(mport, 'exportgate_policy_reloads_total{result="success"}')
        bad_reloads = metric(mport, 'exportgate_policy_reloads_total{result="failure"}')
        growth = rss_max - (rss_base or 0)
        print(f"soak: {SECONDS:.0f}s, {failures.requests} requests, {len(failures.items)} failed; "
              f"policy reloads ok={ok_reloads:.0f} rejected={bad_reloads:.0f}; certificate "
              f"rotations={rotations}, served={served}; team-sg cap {CAP}: admitted {held.admitted}, "
              f"denied at the cap {held.denied}, most held at once {held.max} "
              f"({held.max * GPU_TPP} TPP); RSS after warm-up {rss_base} KB, max {rss_max} KB "
              f"(+{growth} KB); fds idle={fds_idle} end={fds_end}")
        problems = list(failures.items[:20])
        if failures.requests == 0:
            problems.append("no requests were answered")
        if growth > RSS_GROWTH_LIMIT_KB:
            problems.append(f"resident memory grew by {growth} KB after warm-up")
        if fds_end > fds_idle:
            problems.append(f"file descriptors leaked: {fds_idle} idle at start, {fds_end} at end")
        if SECONDS >= 20 and (ok_reloads < 1 or bad_reloads < 1):
            problems.append("policy reloads did not happen as expected")
        if SECONDS >= 20 and (rotations < 1 or served != rotations):
            problems.append(f"certificate rotations: {rotations} made, {served} served")
        if held.admitted == 0 or held.denied == 0:
            problems.append(f"the cap was never reached and held (admitted {held.admitted}, "
                            f"denied {held.denied})")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = "killed"
        log.close()
    if rc != 0:
        problems.append(f"the server did not exit cleanly on SIGTERM ({rc})")
    # No secrets in logs: no private key material of any rotated key, no PEM blocks at all.
    with open(os.path.join(d, "server.log")) as f:
        logged = f.read()
    with open(os.path.join(d, "tls.key")) as f:
        key_lines = [l for l in f.read().splitlines() if l and not l.startswith("-----")]
    if "PRIVATE KEY" in logged or any(l in logged for l in key_lines):
        problems.append("private key material appears in the server log")
    if problems:
        print("SOAK FAILED:\n  " + "\n  ".join(problems))
        print("server log: " + os.path.join(d, "server.log"))
        sys.exit(1)
    subprocess.run(["rm", "-rf", d])
    print("soak: ok")


if __name__ == "__main__":
    main()
