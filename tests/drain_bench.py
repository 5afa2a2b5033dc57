#!/usr/bin/env python3
"""Failed requests per stop, behind HAProxy: two backends of one real server
(nginx, gunicorn or uvicorn), each in its own network and PID namespace (as two
pods), behind Debian's HAProxy that health-checks them, under continuous load
(keep-alive, a new connection per request, slow downloads); backends are
stopped one after the other (rolling: stop one with SIGTERM, as `docker
stop`; wait until HAProxy has marked it DOWN; start it again; wait until
HAProxy has it back UP; then the other).

Run inside a fresh network namespace (tests/drain_haproxy.rs and the
`drain` rows of `cargo bench --bench compare` do `unshare --net`), as root,
with haproxy, tini and the server installed:

    drain_bench.py HOOKINIT SERVER SETUPS STOPS INTER_MS FALL [K,F,S[,PAUSE_MS]]

SERVER is nginx (graceful on QUIT), gunicorn or uvicorn (Debian's, run by
/usr/bin/python3; both graceful on TERM). SETUPS is
a comma-separated list of: tini, defaults (hookinit, TERM at once),
graceful (hookinit, the server's graceful signal), sleepN (PreStop `sleep N`
+ the graceful signal), drain (the autopilot + the graceful signal). The load:
K keep-alive clients, F clients with a new connection per request, S slow
128 KB downloads (256 KB/s), each pausing PAUSE_MS between requests
(default 6,6,2,10). Prints one JSON object per set-up: failed requests (and
per stop), requests, stop durations (TERM -> the backend gone) and the
balancer's withdrawal times (TERM -> HAProxy's stats say DOWN), and
hookinit's `Drained` event for drains that outlasted the withdrawal + the
quiet interval + 0.3 s. DRAIN_BENCH_KEEP=1 keeps the logs (in
$TMPDIR/hookinit-drain-bench-*).
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

HOOKINIT, SERVER, SETUPS, STOPS, INTER_MS, FALL = (
    sys.argv[1],
    sys.argv[2],
    sys.argv[3].split(","),
    int(sys.argv[4]),
    int(sys.argv[5]),
    int(sys.argv[6]),
)
_load = [int(x) for x in (sys.argv[7] if len(sys.argv) > 7 else "6,6,2").split(",")]
KEEP, FRESH, SLOW = _load[:3]
PAUSE = (_load[3] if len(_load) > 3 else 10) / 1000
assert SERVER in ("nginx", "gunicorn", "uvicorn"), SERVER
GRACEFUL = "SIGQUIT" if SERVER == "nginx" else "SIGTERM"
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

# A WSGI app with the endpoints the load uses: `/` (3 bytes) and `/big`
# (128 KB, sent at about nginx's `limit_rate 256k`: 16 chunks 1/32 s apart).
GUNICORN_APP = """
import time
CHUNK = b"x" * 8192
def app(environ, start_response):
    if environ["PATH_INFO"] == "/big":
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(16 * len(CHUNK)))])
        def body():
            for _ in range(16):
                yield CHUNK
                time.sleep(1 / 32)
        return body()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\\n"]
"""

# The same endpoints as an ASGI app (no framework), for uvicorn: the
# download as 16 chunks 1/32 s apart, the event loop free meanwhile.
UVICORN_APP = """
import asyncio
CHUNK = b"x" * 8192
async def app(scope, receive, send):
    assert scope["type"] == "http"
    if scope["path"] == "/big":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream"),
                                (b"content-length", str(16 * len(CHUNK)).encode())]})
        for _ in range(16):
            await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
            await asyncio.sleep(1 / 32)
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"3")]})
    await send({"type": "http.response.body", "body": b"ok\\n"})
"""

# `timeout check 1s`: a healthy backend slow to answer on a loaded machine
# must not be taken out (a stopped one answers 503 or is unreachable at
# once, so this does not slow the withdrawal). `rise 1 downinter 100ms`: a
# restarted backend is back within 0.1 s, which keeps the rolling stops
# short; neither changes how fast a stopping backend is withdrawn
# (`inter` x `fall`).
HAPROXY_CONF = """
global
    maxconn 2000
    stats socket {w}/haproxy.sock mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout check 1s
    retries 3
    option redispatch
frontend fe
    bind 127.0.0.1:8000
    default_backend be
backend be
    option httpchk GET /
    default-server check inter {inter}ms fall {fall} rise 1 downinter 100ms port {check_port}
    server b1 10.9.1.2:80
    server b2 10.9.2.2:80
"""


def sh(*cmd):
    subprocess.run(cmd, check=True)


class Backend:
    def __init__(self, i, setup):
        self.i, self.setup = i, setup
        self.drained = []
        self.d = os.path.join(WORK, f"{setup}-b{i}")
        os.makedirs(os.path.join(self.d, "www"), exist_ok=True)
        os.makedirs(os.path.join(self.d, "tmp"), exist_ok=True)
        with open(os.path.join(self.d, "www", "index.html"), "w") as f:
            f.write("ok\n")
        with open(os.path.join(self.d, "www", "big"), "wb") as f:
            f.write(b"x" * BIG)
        with open(os.path.join(self.d, "nginx.conf"), "w") as f:
            f.write(NGINX_CONF.format(d=self.d))
        with open(os.path.join(self.d, "app.py"), "w") as f:
            f.write(GUNICORN_APP)
        with open(os.path.join(self.d, "asgi.py"), "w") as f:
            f.write(UVICORN_APP)

    def server(self):
        if SERVER == "nginx":
            return ["nginx", "-c", os.path.join(self.d, "nginx.conf")]
        # gthread: keep-alive connections wait in the worker's poller, a
        # request takes a thread; TERM is gunicorn's graceful stop (no new
        # connection, in-flight requests finish, then idle keep-alive
        # connections close), bounded by --graceful-timeout.
        if SERVER == "uvicorn":
            # One process, no reloader: TERM reaches the server itself,
            # which checks for it every 0.1 s, stops listening, closes idle
            # keep-alive connections, lets in-flight requests finish, then
            # exits. Debian's h11 protocol and asyncio loop (no httptools,
            # no uvloop); no access log (gunicorn's is off by default too).
            return ["/usr/bin/python3", "-m", "uvicorn", "--app-dir", self.d,
                    "--host", "0.0.0.0", "--port", "80", "--timeout-keep-alive", "65",
                    "--lifespan", "off", "--no-access-log", "asgi:app"]
        return ["gunicorn", "--chdir", self.d, "--bind", "0.0.0.0:80",
                "--worker-class", "gthread", "--workers", "1", "--threads", "8",
                "--keep-alive", "65", "--graceful-timeout", "5", "app:app"]

    def start(self):
        go = os.path.join(self.d, "go")
        if os.path.exists(go):
            os.remove(go)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        s = self.setup
        if s == "tini":
            init = ["tini", "--"]
        else:
            init = [HOOKINIT, "--"]
            env["HOOKINIT_READINESS_ADDRESS"] = "8086"
            env["HOOKINIT_LOG_FORMAT"] = "json"
            if SERVER == "gunicorn":
                # gunicorn says READY=1 once it listens: the endpoint says
                # 200 no earlier.
                env["HOOKINIT_NOTIFY_SOCKET"] = "1"
            if SERVER == "uvicorn":
                # uvicorn sends no READY=1: a readiness probe on its port
                # (the shortest period, 1 s) keeps the endpoint at 503
                # until it accepts connections. Probes stop when a stop
                # begins, so the probe's connections never count as the
                # drain's traffic.
                env["HOOKINIT_READINESS_PROBE"] = json.dumps(
                    {"tcpSocket": {"port": 80}, "periodSeconds": 1})
            if s != "defaults":
                env["HOOKINIT_STOP_SIGNAL"] = GRACEFUL
                # A window the drain's ceiling never cuts.
                env["HOOKINIT_GRACE_PERIOD"] = "30"
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
             "sh", "-c", script, "sh"] + init + self.server(),
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

    def stop(self, withdrawn=True):
        """Sends TERM (as `docker stop`); returns how long the stop took, when
        HAProxy's stats first said DOWN (with `withdrawn`) and when the
        server's main process exited (all from the TERM, in seconds;
        sampled every 10 ms)."""
        try:
            with open(f"/proc/{self.inner}/task/{self.inner}/children") as f:
                app = int(f.read().split()[0])
        except (OSError, IndexError):
            app = None
        t0 = time.time()
        os.kill(self.inner, 15)
        took = down = gone = None
        limit = t0 + 60
        while time.time() < limit:
            if gone is None and app is not None:
                # The server's main process exited (a zombie until its
                # init reaps it).
                try:
                    with open(f"/proc/{app}/stat") as f:
                        if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                            gone = time.time() - t0
                except OSError:
                    gone = time.time() - t0
            if took is None and self.proc.poll() is not None:
                took = time.time() - t0
                if gone is None:
                    gone = took
            if withdrawn and down is None:
                try:
                    st = haproxy_status().get(f"b{self.i}", "")
                except OSError:
                    st = ""
                if st.startswith("DOWN"):
                    down = time.time() - t0
            if took is not None and (down is not None or not withdrawn):
                break
            time.sleep(0.01)
        if took is None:
            raise SystemExit(f"b{self.i} still running 60 s after TERM")
        if withdrawn and down is None:
            raise SystemExit(f"b{self.i} never DOWN: {haproxy_status()}")
        # The dead namespace's end of the pair goes asynchronously: remove
        # ours now, so that the next start can make it again.
        subprocess.run(["ip", "link", "del", f"vb{self.i}"], stderr=subprocess.DEVNULL)
        return took, down, gone


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
        self.threads = [threading.Thread(target=self.keep_alive) for _ in range(KEEP)]
        self.threads += [threading.Thread(target=self.fresh) for _ in range(FRESH)]
        self.threads += [threading.Thread(target=self.slow) for _ in range(SLOW)]
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
            time.sleep(PAUSE)

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


def signal_delays(backends):
    """hookinit's own part of each stop, in the order of the stops (they
    alternate between the backends): from its `Killing` event (the TERM
    arrived) to `StopSignalSent` (the drain and PreStop are over), from
    the JSON events' times (ms)."""
    each = []
    for b in backends:
        out = []
        each.append(out)
        began = None
        with open(os.path.join(b.d, "events.log"), errors="replace") as f:
            for line in f:
                try:
                    e = json.loads(line)
                    ev, t = e["event"], e["time"]
                except (ValueError, KeyError, TypeError):
                    continue  # the server's own log lines
                # "2026-12-03T19:29:49.239Z": seconds of the day suffice.
                hh, mm, ss = t[11:-1].split(":")
                at = int(hh) * 3600 + int(mm) * 60 + float(ss)
                if ev == "Killing":
                    began = at
                elif ev == "Drained":
                    b.drained.append(e.get("message", ""))
                elif ev == "StopSignalSent" and began is not None:
                    out.append((at - began) % 86400)
                    began = None
    merged = []
    for k in range(max(len(x) for x in each)):
        merged += [x[k] for x in each if k < len(x)]
    return merged


def quantile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))]


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
        wait_up(["b1", "b2"])
        load = Load()
        time.sleep(1.0)
        durations, withdrawals, starts, gones = [], [], [], []
        for k in range(STOPS):
            b = backends[k % 2]
            starts.append(time.time())
            took, down, gone = b.stop()
            durations.append(took)
            gones.append(gone)
            withdrawals.append(down)
            b.start()
            wait_up(["b1", "b2"])
            time.sleep(0.3)
        load.end()
        signals = signal_delays(backends)
        drained = []
        for k in range(max(len(b.drained) for b in backends)):
            drained += [b.drained[k] for b in backends if k < len(b.drained)]
        for b in backends:
            b.stop(withdrawn=False)
        hap.terminate()
        hap.wait()
        # Each failure counts for the last stop begun before it.
        per_stop = [0] * STOPS
        before = 0
        detail = []
        for t, what in load.failed:
            k = sum(1 for s in starts if s <= t) - 1
            if k < 0:
                before += 1
            else:
                per_stop[k] += 1
            if len(detail) < 8:
                detail.append(f"stop {k}, {t - starts[k] if k >= 0 else 0:+.2f}s: {what}")
        print(json.dumps({
            "server": SERVER,
            "setup": setup,
            "inter_ms": INTER_MS,
            "fall": FALL,
            "stops": STOPS,
            "requests": load.ok + len(load.failed),
            "failed": len(load.failed),
            "failed_per_stop": per_stop,
            "failed_before_first_stop": before,
            "failures": detail,
            "stop_median": quantile(durations, 0.5),
            "stop_p90": quantile(durations, 0.9),
            "stop_max": max(durations),
            "withdrawal_median": quantile(withdrawals, 0.5),
            "withdrawal_p90": quantile(withdrawals, 0.9),
            "signal_median": quantile(signals, 0.5) if signals else None,
            "signal_p90": quantile(signals, 0.9) if signals else None,
            "signal_max": max(signals) if signals else None,
            # Stop by stop: what the server took after the stop signal, and
            # what the stop took after the server's exit (its init reaping
            # it and exiting).
            "exits": [round(g - k, 3) for g, k in zip(gones, signals)] if signals else None,
            "tails": [round(d - g, 3) for d, g in zip(durations, gones)],
            # hookinit's own account of the stops whose drain outlasted the
            # withdrawal + the quiet interval + 0.3 s.
            "late_drains": [
                f"stop {k}: withdrawn {w:.2f}s, signal {g:.2f}s: {m}"
                for k, (w, g, m) in enumerate(zip(withdrawals, signals, drained))
                if setup == "drain" and g > w + QUIET + 0.3
            ][:5],
        }), flush=True)


try:
    main()
finally:
    # DRAIN_BENCH_KEEP=1 keeps the logs (hookinit's events, per backend).
    if not os.environ.get("DRAIN_BENCH_KEEP"):
        shutil.rmtree(WORK, ignore_errors=True)
