#!/usr/bin/env python3
"""Failed requests per stop, behind HAProxy: two nginx backends, each in its
own network and PID namespace (as two pods), behind Debian's HAProxy that
health-checks them, under continuous load (keep-alive, a new connection per
request, slow downloads); backends are stopped one after the other (rolling:
stop one, start it again, wait until HAProxy has it back, then the other).

Run inside a fresh network namespace (tests/drain_haproxy.rs does
`unshare --net`), as root, with nginx, haproxy and tini installed:

    drain_bench.py HOOKINIT SETUPS STOPS INTER_MS FALL

SETUPS is a comma-separated list of: tini, defaults, quit, sleepN (PreStop
`sleep N` + QUIT), drain (the autopilot + QUIT). Prints one JSON object per
set-up: failed requests, requests, stop durations.
"""
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HOOKINIT, SETUPS, STOPS, INTER_MS, FALL = (
    sys.argv[1],
    sys.argv[2].split(","),
    int(sys.argv[3]),
    int(sys.argv[4]),
    int(sys.argv[5]),
)
QUIET = 0.5
BIG = 128 * 1024
WORK = tempfile.mkdtemp(prefix="hookinit-drain-bench-")

NGINX_CONF = """
daemon off;
user root;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log notice;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp;
    proxy_temp_path {d}/tmp;
    fastcgi_temp_path {d}/tmp;
    uwsgi_temp_path {d}/tmp;
    scgi_temp_path {d}/tmp;
    keepalive_timeout 65;
    server {{
        listen 80;
        root {d}/www;
        location /big {{ limit_rate 256k; }}
    }}
}}
"""

HAPROXY_CONF = """
global
    maxconn 2000
    stats socket {w}/haproxy.sock mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout check {inter}ms
    retries 3
    option redispatch
frontend fe
    bind 127.0.0.1:8000
    default_backend be
backend be
    option httpchk GET /
    default-server check inter {inter}ms fall {fall} rise 2 port {check_port}
    server b1 10.9.1.2:80
    server b2 10.9.2.2:80
"""


def sh(*cmd):
    subprocess.run(cmd, check=True)


class Backend:
    def __init__(self, i, setup):
        self.i, self.setup = i, setup
        self.d = os.path.join(WORK, f"b{i}")
        os.makedirs(os.path.join(self.d, "www"), exist_ok=True)
        os.makedirs(os.path.join(self.d, "tmp"), exist_ok=True)
        with open(os.path.join(self.d, "www", "index.html"), "w") as f:
            f.write("ok\n")
        with open(os.path.join(self.d, "www", "big"), "wb") as f:
            f.write(b"x" * BIG)
        with open(os.path.join(self.d, "nginx.conf"), "w") as f:
            f.write(NGINX_CONF.format(d=self.d))

    def start(self):
        go = os.path.join(self.d, "go")
        if os.path.exists(go):
            os.remove(go)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        nginx = ["nginx", "-c", os.path.join(self.d, "nginx.conf")]
        s = self.setup
        if s == "tini":
            init = ["tini", "--"]
        else:
            init = [HOOKINIT, "--"]
            env["HOOKINIT_READINESS_ADDRESS"] = "8086"
            if s != "defaults":
                env["HOOKINIT_STOP_SIGNAL"] = "SIGQUIT"
            if s.startswith("sleep"):
                env["HOOKINIT_PRE_STOP"] = json.dumps(["sleep", s[5:]])
            if s == "drain":
                env["HOOKINIT_DRAIN"] = json.dumps({"quietSeconds": QUIET})
        script = (
            f'while [ ! -e {go} ]; do sleep 0.01; done; ip link set lo up; '
            f"ip addr add 10.9.{self.i}.2/24 dev eth0; ip link set eth0 up; "
            'exec "$@"'
        )
        self.proc = subprocess.Popen(
            ["unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child",
             "sh", "-c", script, "sh"] + init + nginx,
            env=env,
            stdout=open(os.path.join(self.d, "out.log"), "a"),
            stderr=open(os.path.join(self.d, "events.log"), "a"),
        )
        pid = self.proc.pid
        end = time.time() + 5
        self.inner = None
        while time.time() < end and not self.inner:
            try:
                with open(f"/proc/{pid}/task/{pid}/children") as f:
                    kids = f.read().split()
                self.inner = int(kids[0]) if kids else None
            except OSError:
                pass
            time.sleep(0.005)
        veth = f"vb{self.i}"
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0",
           "netns", str(self.inner))
        sh("ip", "addr", "add", f"10.9.{self.i}.1/24", "dev", veth)
        sh("ip", "link", "set", veth, "up")
        open(go, "w").close()

    def stop(self):
        """Sends TERM (as `docker stop`); returns how long the stop took."""
        t0 = time.time()
        os.kill(self.inner, 15)
        self.proc.wait(timeout=30)
        took = time.time() - t0
        # The dead namespace's end of the pair goes asynchronously: remove
        # ours now, so that the next start can make it again.
        subprocess.run(["ip", "link", "del", f"vb{self.i}"], stderr=subprocess.DEVNULL)
        return took


def haproxy_status():
    s = socket.socket(socket.AF_UNIX)
    s.connect(os.path.join(WORK, "haproxy.sock"))
    s.sendall(b"show stat\n")
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    status = {}
    for line in out.decode().splitlines():
        f = line.split(",")
        if len(f) > 17 and f[0] == "be" and f[1] in ("b1", "b2"):
            status[f[1]] = f[17]
    return status


def wait_up(names, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            st = haproxy_status()
        except OSError:  # HAProxy is still starting
            st = {}
        if all(st.get(n) == "UP" for n in names):
            return
        time.sleep(0.02)
    raise SystemExit(f"servers {names} not UP: {haproxy_status()}")


class Load:
    def __init__(self):
        self.stop = False
        self.ok = 0
        self.failed = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.keep_alive) for _ in range(6)]
        self.threads += [threading.Thread(target=self.fresh) for _ in range(6)]
        self.threads += [threading.Thread(target=self.slow) for _ in range(2)]
        for t in self.threads:
            t.start()

    def count(self, good, what):
        with self.lock:
            if good:
                self.ok += 1
            else:
                self.failed.append((time.time(), what))

    def get(self, conn, path, length):
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        return r.status == 200 and len(body) == length, f"{r.status} {len(body)}"

    def run(self, path, length, keep):
        conn = None
        while not self.stop:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", 8000, timeout=10)
                good, what = self.get(conn, path, length)
            except Exception as e:  # a failed request, as a client sees it
                good, what = False, repr(e)
                conn = None
            self.count(good, what)
            if not keep and conn is not None:
                conn.close()
                conn = None
            time.sleep(0.01)

    def keep_alive(self):
        self.run("/", 3, True)

    def fresh(self):
        self.run("/", 3, False)

    def slow(self):
        self.run("/big", BIG, False)

    def end(self):
        self.stop = True
        for t in self.threads:
            t.join()


def main():
    sh("ip", "link", "set", "lo", "up")
    for setup in SETUPS:
        backends = [Backend(1, setup), Backend(2, setup)]
        for b in backends:
            b.start()
        cfg = os.path.join(WORK, "haproxy.cfg")
        with open(cfg, "w") as f:
            check_port = 80 if setup == "tini" else 8086
            f.write(HAPROXY_CONF.format(w=WORK, inter=INTER_MS, fall=FALL, check_port=check_port))
        hap = subprocess.Popen(["haproxy", "-f", cfg, "-db"], stdout=subprocess.DEVNULL,
                               stderr=open(os.path.join(WORK, "haproxy.log"), "a"))
        time.sleep(0.3)
        wait_up(["b1", "b2"])
        load = Load()
        time.sleep(1.0)
        durations = []
        for k in range(STOPS):
            b = backends[k % 2]
            durations.append(b.stop())
            b.start()
            wait_up(["b1", "b2"])
            time.sleep(0.3)
        load.end()
        for b in backends:
            b.stop()
        hap.terminate()
        hap.wait()
        durations.sort()
        print(json.dumps({
            "setup": setup,
            "inter_ms": INTER_MS,
            "fall": FALL,
            "stops": STOPS,
            "requests": load.ok + len(load.failed),
            "failed": len(load.failed),
            "failures": [w for _, w in load.failed[:5]],
            "stop_median": durations[len(durations) // 2],
            "stop_p90": durations[min(len(durations) - 1, int(len(durations) * 0.9))],
            "stop_max": durations[-1],
        }), flush=True)


try:
    main()
finally:
    shutil.rmtree(WORK, ignore_errors=True)
