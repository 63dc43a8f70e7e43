#!/usr/bin/env python3
"""The ttrelay benchmark (bench/README.md says how to read it). In one run on one machine:
nginx answering `return 200` (this machine's HTTP ceiling), then ttrelayd with a fresh store,
dry_run and synchronous = FULL, both driven by wrk with the same signed Shopify webhooks and
then the same /collect touches; then forwarding to a local mock TikTok and matching against
large stores. Prints a Markdown table; --json writes the figures.

  bench.py --build DIR [--smoke] [--json FILE] [--workdir DIR] [--keep]"""

import argparse
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import ttr_harness as harness  # noqa: E402
from mock_tiktok import BenchTikTok  # noqa: E402
from gen_webhooks import SECRET  # noqa: E402
from report import checks, header, table  # noqa: E402
from procfs import machine_busy_s, proc_cpu_s, proc_kb, threads_cpu, threads_delta, tree_cpu_s  # noqa: E402

PIXEL = "CTTRBENCHPIXEL000001"
LUA = os.path.join(HERE, "replay.lua")

PROFILES = {
    # webhooks: distinct signed orders per run at full speed (the half-rate run gets as many
    # again); duration: seconds per wrk run (an upper bound for runs that stop at the end
    # of their file); forward: orders (and their touches) in the forwarding backlog;
    # match: store sizes in touches (visitors = touches / 10).
    "full": {"webhooks": 100000, "duration": 10, "threads": 2, "conns": 64,
             "forward": 20000, "forward_timeout": 300, "match": [100000, 1000000],
             "queries": 21000},
    "smoke": {"webhooks": 2000, "duration": 2, "threads": 2, "conns": 16,
              "forward": 2000, "forward_timeout": 30, "match": [10000, 20000],
              "queries": 2100},
}

def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


# ---------------------------------------------------------------------------------------
# CPU of the servers during a run

class Servers:
    """The processes a run charges CPU to: ttrelayd instances (split by thread: procfs) and
    process trees by name (nginx's master and workers, the PostgreSQL server's backends)."""

    def __init__(self, daemons=(), trees=None):
        self.daemons, self.trees = list(daemons), dict(trees or {})

    def read(self):
        return ({pid: threads_cpu(pid) for pid in self.daemons},
                {name: tree_cpu_s(pid) for name, pid in self.trees.items()},
                {pid: proc_cpu_s(pid) for pid in self.daemons})

    def since(self, start, n):
        """CPU spent since start (a read()) over n requests: {"ttrelayd_s", "trees_s",
        "threads"}, where threads holds µs per request by role and the listener threads'
        split within each instance. ttrelayd_s is the processes' own count, which keeps the
        CPU of threads that ended meanwhile (the admin listener's connection threads)."""
        now = self.read()
        roles, split = {}, []
        ttr = sum(max(0.0, now[2][pid] - start[2][pid]) for pid in self.daemons)
        for pid in self.daemons:
            d = threads_delta(pid, start[0][pid], now[0][pid])
            for role, s in d["roles"].items():
                roles[role] = roles.get(role, 0.0) + s
            split.append(d["listeners"])
        trees = {name: max(0.0, now[1][name] - start[1][name]) for name in self.trees}
        per = 1e6 / n if n else 0.0
        shares = [max(ls) / sum(ls) for ls in split if ls and sum(ls) > 0]
        threads = {"us_per_req": {r: s * per for r, s in roles.items()},
                   "listeners_us_per_req": [[s * per for s in ls] for ls in split],
                   "listener_max_share": max(shares) if shares else None} if self.daemons else None
        return {"ttrelayd_s": ttr, "trees_s": trees, "threads": threads}


# ---------------------------------------------------------------------------------------
# wrk

def wrk_cmd(port, path, kind, datafile, threads, conns, duration, at_end, rate, limit):
    return ["wrk", "-t", str(threads), "-c", str(conns), "-d", "%ds" % duration, "--timeout",
            "10s", "-s", LUA, "http://127.0.0.1:%d%s" % (port, path), "--", kind, datafile,
            at_end, "%.1f" % rate, str(threads), str(conns), str(limit)]


def wrk_parse(p, out, err):
    line = next((x for x in out.splitlines() if x.startswith("BENCH ")), None)
    if p.returncode != 0 or not line:
        raise RuntimeError("wrk failed (%d): %s %s" % (p.returncode, out[-2000:], err[-2000:]))
    return with_rates(json.loads(line[6:]))


def with_rates(r):
    """Adds requests/s, p50/p99 in ms and the error total to a wrk result; returns it."""
    secs = r["duration_us"] / 1e6
    r["rps"] = r["requests"] / secs if secs > 0 else 0.0
    r["p50_ms"] = r["latency_us"]["p50"] / 1000.0
    r["p99_ms"] = r["latency_us"]["p99"] / 1000.0
    r["errors_total"] = sum(r["errors"].values())
    return r


def wrk_together(cmds, timeout):
    """Runs the wrk commands at once; returns their results, in order. Every wrk is gone
    when this returns, even on an exception or ^C."""
    procs = []
    try:
        for cmd in cmds:
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))
        outs = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return [wrk_parse(p, o, e) for p, (o, e) in zip(procs, outs)]


def combined(rs):
    """One result for wrk runs made at once: requests add up over the longest run; p50 and
    p99 are the slower run's (wrk prints percentiles, not its histogram)."""
    if len(rs) == 1:
        return rs[0]
    r = {"requests": sum(x["requests"] for x in rs),
         "duration_us": max(x["duration_us"] for x in rs),
         "errors": {k: sum(x["errors"][k] for x in rs) for k in rs[0]["errors"]},
         "latency_us": {k: max(x["latency_us"][k] for x in rs) for k in rs[0]["latency_us"]},
         "runs": rs}
    return with_rates(r)


def run_wrk(targets, path, kind, datafiles, prof, at_end="wrap", rate=0, limit=0, servers=None,
            duration=None):
    """wrk against each port of targets at once (one wrk process each, sharing the
    profile's threads and connections; datafiles[i] for targets[i], at most limit requests
    from each if limit); returns the combined
    figures, the servers' CPU per request (ttrelayd's by thread) and the share of the
    machine's CPU that went to neither the servers nor wrk (other load on the machine)."""
    n = len(targets)
    t, c, d = max(1, prof["threads"] // n), prof["conns"] // n, duration or prof["duration"]
    per_thread = -(-limit // t) if limit else 0
    cmds = [wrk_cmd(port, path, kind, f, t, c, d, at_end, rate / n, per_thread)
            for port, f in zip(targets, datafiles)]
    servers = servers or Servers()
    start = servers.read()
    kids0 = os.times()
    busy0, wall0 = machine_busy_s(), time.monotonic()
    r = combined(wrk_together(cmds, d + 120))
    wall = time.monotonic() - wall0
    busy = machine_busy_s() - busy0
    kids = os.times()
    wrk_cpu = (kids.children_user - kids0.children_user) + (kids.children_system - kids0.children_system)
    cpu = servers.since(start, r["requests"])
    total = cpu["ttrelayd_s"] + sum(cpu["trees_s"].values())
    measured = bool(servers.daemons or servers.trees)
    per = 1e6 / r["requests"] if r["requests"] else 0.0
    if servers.daemons:
        r["cpu_us_per_req"] = cpu["ttrelayd_s"] * per
        r["threads"] = cpu["threads"]
    elif measured:
        r["cpu_us_per_req"] = total * per
    else:
        r["cpu_us_per_req"] = None
    for name, s in cpu["trees_s"].items():
        r[name + "_cpu_us_per_req"] = s * per
    r["server_cpu_s"], r["wrk_cpu_s"] = total, wrk_cpu
    cores = os.cpu_count() or 1
    r["other_load"] = max(0.0, busy - total - wrk_cpu) / (wall * cores) if measured and wall > 0 else None
    share = (r.get("threads") or {}).get("listener_max_share")
    log("  %-8s %-5s rate=%-6s %8.0f req/s  p50 %.2f ms  p99 %.2f ms  errors %d  server CPU "
        "%.1f s%s, wrk %.1f s, other load %s" % (
            kind, at_end, "max" if rate == 0 else "%.0f" % rate, r["rps"], r["p50_ms"],
            r["p99_ms"], r["errors_total"], total,
            " (busiest listener %.0f%%)" % (100 * share) if share is not None else "", wrk_cpu,
            "%.0f%%" % (100 * r["other_load"]) if r["other_load"] is not None else "-"))
    return r


# ---------------------------------------------------------------------------------------
# nginx

NGINX_CONF = """worker_processes auto;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    client_max_body_size 1m;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200; }}
    }}
}}
"""


class Nginx:
    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "nginx")
        os.makedirs(os.path.join(self.dir, "body"), exist_ok=True)
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, port=self.port))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.proc = subprocess.Popen([nginx, "-p", self.dir, "-e", os.path.join(self.dir, "error.log"),
                                      "-c", conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not wait_port(self.port, 10):
            self.stop()
            raise RuntimeError("nginx did not start: " + self.proc.stderr.read().decode()[-2000:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# ---------------------------------------------------------------------------------------
# ttrelayd

def daemon_sections(api_base, dry_run, hold_s, conninfo=None):
    """The benchmark's configuration; with conninfo, on that PostgreSQL database."""
    store = {"backend": "postgresql", "conninfo": conninfo} if conninfo else {"synchronous": "full"}
    return {
        "listen": {"address": "127.0.0.1", "port": 0, "max_connections": 1024},
        "store": store,
        "log": {"level": "info"},
        "tiktok": {"api_base": api_base, "default_pixel": PIXEL,
                   "pixels": [{"code": PIXEL, "access_token": "bench-token",
                               "test_event_code": "", "rate_per_s": 1000.0}],
                   "dry_run": dry_run, "batch_size": 1000, "request_timeout_ms": 600000,
                   "retry_base_ms": 200, "retry_cap_ms": 2000, "rate_per_s": 1000.0},
        "match": {"hold_s": hold_s},
        "collect": {"allowed_origins": [harness.ORIGIN], "trusted_proxies": ["127.0.0.1"]},
        "sources": [{"id": "shop", "type": "shopify", "secret": SECRET}],
    }


def metric(d, name, labels):
    """Sum of a Prometheus counter's samples whose labels include labels."""
    st, _, body = d.request("admin", "GET", "/metrics", None, d._admin_headers())
    if st != 200:
        raise RuntimeError("/metrics answered %d" % st)
    total = 0.0
    for line in body.decode().splitlines():
        m = re.match(r'^%s(\{[^}]*\})?\s+(\S+)$' % re.escape(name), line)
        if m and all('%s="%s"' % kv in (m.group(1) or "") for kv in labels.items()):
            total += float(m.group(2))
    return total


def stop_daemon(d):
    code = d.stop(30)
    if code != 0:
        raise RuntimeError("ttrelayd exited with %r; log tail:\n%s" % (code, d.log_text()[-3000:]))


class WalWatch:
    """The size of a SQLite store's write-ahead log (ttrelay.db-wal): now, and the largest
    seen by sampling it every 100 ms until close()."""

    def __init__(self, db_path):
        self.path = db_path + "-wal"
        self.peak = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def size(self):
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0

    def _sample(self):
        while True:
            self.peak = max(self.peak, self.size())
            if self.done.wait(0.1):
                return

    def close(self):
        self.done.set()
        self.thread.join(5)


class Perf:
    """perf record -g on one process while a run lasts (--perf): where its CPU goes."""

    def __init__(self, pid, out):
        self.out = out
        self.proc = None
        if not out:
            return
        if not shutil.which("perf"):
            log("--perf: perf is not installed (apt-get install linux-perf); no profile")
            return
        self.proc = subprocess.Popen(["perf", "record", "-g", "-F", "499", "-p", str(pid), "-o",
                                      out], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self):
        if not self.proc:
            return None
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        parts = []
        for sort, limit in (("comm,dso", "1"), ("comm,dso,symbol", "0.7")):
            r = subprocess.run(["perf", "report", "-i", self.out, "--stdio", "--no-children",
                                "--sort", sort, "--percent-limit", limit, "-g", "none"],
                               capture_output=True, text=True, timeout=300)
            parts.append("by %s (>= %s %%):\n" % (sort, limit) + "\n".join(
                l.rstrip(" -") for l in r.stdout.splitlines() if l and not l.startswith("#")))
        text = "\n\n".join(parts)
        with open(self.out + ".txt", "w") as f:
            f.write(text + "\n")
        log("perf profile of the webhook run (self time), also in %s.txt:\n%s" % (self.out, text))
        return text


def ingest_phase(prof, files, ceiling, res, perf_out=None):
    """ttrelayd with dry_run and synchronous=FULL: webhooks then /collect, each at full
    speed and at half that rate. With perf_out, the full-speed webhook run is profiled
    (perf's sampling costs a few per cent of that run's rate)."""
    d = harness.Daemon(None, **daemon_sections("http://127.0.0.1:9", True, 3600))
    wal = WalWatch(d.config["store"]["path"])
    try:
        pid = d.proc.pid
        srv = Servers([pid])
        time.sleep(1.0)
        res["rss_idle_kb"] = proc_kb(pid, "VmRSS")
        log("ttrelayd pid %d, idle RSS %d kB; webhooks at full speed" % (pid, res["rss_idle_kb"]))
        perf = Perf(pid, perf_out)
        wh = run_wrk([d.public_port], "/webhooks/shop", "shopify", [files["webhooks"]], prof,
                     "stop", servers=srv)
        profile = perf.stop()
        if profile:
            res["perf_webhooks"] = profile
        wh["wal_bytes"] = wal.size()
        half = max(wh["rps"] / 2, 1.0)
        log("webhooks at half rate (%.0f/s)" % half)
        whh = run_wrk([d.public_port], "/webhooks/shop", "shopify", [files["webhooks_half"]], prof,
                      "stop", rate=half, servers=srv)
        whh["wal_bytes"] = wal.size()
        accepted = metric(d, "ttrelay_webhooks_total", {"result": "accepted"})
        dups = metric(d, "ttrelay_webhooks_total", {"result": "duplicate"})
        groups = metric(d, "ttrelay_commit_group_size_count", {})
        rows = metric(d, "ttrelay_commit_group_size_sum", {})
        held = d.admin_status()["counts"]["held"]
        log("collect at full speed")
        co = run_wrk([d.public_port], "/collect", "collect", [files["collect"]], prof, "wrap",
                     servers=srv)
        co["wal_bytes"] = wal.size()
        coh = run_wrk([d.public_port], "/collect", "collect", [files["collect"]], prof, "wrap",
                      rate=max(co["rps"] / 2, 1.0), servers=srv)
        coh["wal_bytes"] = wal.size()
        stored = metric(d, "ttrelay_collect_total", {"result": "stored"})
        res["rss_peak_kb"] = proc_kb(pid, "VmHWM")
        res["wal"] = {"end_bytes": coh["wal_bytes"], "peak_bytes": max(wal.peak, wal.size())}
        log("WAL %.1f MB at the end of the ingest runs, %.1f MB at most" % (
            res["wal"]["end_bytes"] / 1e6, res["wal"]["peak_bytes"] / 1e6))
        stop_daemon(d)
    finally:
        wal.close()
        d.close()
    res["webhook"], res["webhook_half"], res["collect"], res["collect_half"] = wh, whh, co, coh
    res["webhook"]["ratio"] = wh["rps"] / ceiling["webhook"]["rps"]
    res["collect"]["ratio"] = co["rps"] / ceiling["collect"]["rps"]
    res["ingest_check"] = {"accepted": int(accepted), "duplicates": int(dups), "held": held,
                           "webhook_requests": wh["requests"] + whh["requests"],
                           "touches_stored": int(stored),
                           "collect_requests": co["requests"] + coh["requests"],
                           "mean_commit_group": rows / groups if groups else 0.0}


def forward_phase(prof, files, res, pg=None):
    """A backlog of committed conversions (with their touches) drained to the mock; on a
    fresh database of pg when given (res["pg"]["forward"]), else SQLite (res["forward"])."""
    mock = BenchTikTok(held=True)
    conninfo = pg.createdb("bench_forward") if pg else None
    d = harness.Daemon(None, **daemon_sections(mock.url, False, 0, conninfo))
    try:
        pid = d.proc.pid
        srv = Servers([pid], {"postgres": pg.pid} if pg else None)
        n = prof["forward"]
        log("forwarding%s: loading %d orders' touches, then the %d orders, mock held" % (
            " (PostgreSQL)" if pg else "", n, n))
        run_wrk([d.public_port], "/collect", "collect", [files["fwd_collect"]], prof, "stop",
                duration=prof["forward_timeout"])
        run_wrk([d.public_port], "/webhooks/shop", "shopify", [files["fwd_webhooks"]], prof,
                "stop", duration=prof["forward_timeout"])
        committed = sum(d.admin_status()["counts"].values())
        start, self0, busy0 = srv.read(), sum(os.times()[:2]), machine_busy_s()
        mock.release()
        got = mock.wait_events(committed, prof["forward_timeout"])
        events, secs = mock.drain_rate()
        cpu = srv.since(start, events)
        wall = time.monotonic() - mock.released_at
        spent = cpu["ttrelayd_s"] + sum(cpu["trees_s"].values())
        other = machine_busy_s() - busy0 - spent - (sum(os.times()[:2]) - self0)
        status = d.admin_status()
        st, report = d.admin_get("/admin/report?since=86400")
        matched = {}
        for row in (report or {}).get("rows", []):
            for k, v in row.get("matched", {}).items():
                matched[k] = matched.get(k, 0) + v
        f = {"committed": committed, "acked": got, "events": events, "seconds": secs,
             "eps": events / secs if secs > 0 else 0.0,
             "cpu_us_per_event": cpu["ttrelayd_s"] / events * 1e6 if events else None,
             "threads": cpu["threads"],
             "other_load": max(0.0, other) / (wall * (os.cpu_count() or 1)),
             "batches": len(mock.batches), "counts": status["counts"], "matched_by": matched}
        if pg:
            f["postgres_cpu_us_per_event"] = (cpu["trees_s"]["postgres"] / events * 1e6
                                              if events else None)
            res.setdefault("pg", {})["forward"] = f
        else:
            res["forward"] = f
        log("  %d of %d events acknowledged in %.2f s: %.0f events/s; matched_by %s" % (
            events, committed, secs, f["eps"], matched))
        stop_daemon(d)
    finally:
        d.close()
        mock.close()


class PgServer:
    """The tests' throwaway PostgreSQL (tests/pg/pg_server.sh) with PG_DURABLE=1: its data
    under /var/tmp, PostgreSQL's defaults for fsync and synchronous_commit, on 127.0.0.1."""
    SCRIPT = os.path.join(ROOT, "tests", "pg", "pg_server.sh")

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "pg")
        self.started = False
        self.pid = None

    def _run(self, *args, env=None):
        p = subprocess.run(["sh", self.SCRIPT] + list(args), capture_output=True, text=True,
                           timeout=120, env=env)
        if p.returncode != 0:
            raise RuntimeError("pg_server.sh %s failed: %s" % (args[0], p.stderr[-2000:]))
        return p.stdout.strip()

    def start(self):
        self.started = True  # from here on stop() has something to clean up
        self._run("start", self.dir, env=dict(os.environ, PG_DURABLE="1"))
        with open(os.path.join(self.dir, "datadir")) as f:
            self.data = f.read().strip()
        with open(os.path.join(self.data, "db", "postmaster.pid")) as f:
            self.pid = int(f.readline())
        log("PostgreSQL on %s (data under %s), postmaster pid %d" % (
            open(os.path.join(self.dir, "conninfo")).read().strip(), self.data, self.pid))

    def createdb(self, name):
        return self._run("createdb", self.dir, name)

    def stop(self, keep=False):
        """Stops the server; removes its data unless keep."""
        if not self.started:
            return
        self.started = False
        if keep:
            self._run("down", self.dir)
            log("PostgreSQL data kept under %s" % self.data)
        else:
            self._run("stop", self.dir)


def pg_available():
    if os.environ.get("PGBIN"):
        return os.access(os.path.join(os.environ["PGBIN"], "initdb"), os.X_OK)
    return bool(glob.glob("/usr/lib/postgresql/*/bin/initdb") or shutil.which("initdb"))


def pg_ingest_phase(prof, files, ceiling, pg, res):
    """Durable signed webhooks on PostgreSQL: one ttrelayd on a fresh database, then two on
    another (two ports, one database), wrk driving both at once with half the connections
    and half the bodies each. The same bodies as the SQLite run at full speed."""
    pgres = res.setdefault("pg", {})
    for n in (1, 2):
        conninfo = pg.createdb("bench_ingest_%d" % n)
        ds = []
        try:
            for _ in range(n):
                ds.append(harness.Daemon(None, **daemon_sections("http://127.0.0.1:9", True, 3600,
                                                                 conninfo)))
            srv = Servers([d.proc.pid for d in ds], {"postgres": pg.pid})
            log("PostgreSQL: webhooks at full speed, %d instance%s (pid %s)" % (
                n, "s" if n > 1 else "", ", ".join(str(d.proc.pid) for d in ds)))
            r = run_wrk([d.public_port for d in ds], "/webhooks/shop", "shopify",
                        [files["webhooks"], files["webhooks_half"]][:n], prof, "stop",
                        limit=prof["webhooks"] // n if n > 1 else 0, servers=srv)
            r["accepted"] = int(sum(metric(d, "ttrelay_webhooks_total", {"result": "accepted"})
                                    for d in ds))
            r["duplicates"] = int(sum(metric(d, "ttrelay_webhooks_total", {"result": "duplicate"})
                                      for d in ds))
            r["ratio"] = r["rps"] / ceiling["webhook"]["rps"]
            for d in ds:
                stop_daemon(d)
        finally:
            for d in ds:
                d.close()
        pgres["webhook_%d" % n] = r


def match_bench_path(build, workdir):
    """The CMake-built match_bench, or one compiled here against the build's libttrelay.a."""
    built = os.path.join(build, "bench", "match_bench")
    if os.access(built, os.X_OK):
        return built
    lib = os.path.join(build, "libttrelay.a")
    out = os.path.join(workdir, "match_bench")
    flags = ["-O2"]
    with open(lib, "rb") as f:
        if b"__asan_" in f.read():
            flags = ["-O1", "-fsanitize=address,undefined"]
    libs = subprocess.run(["pkg-config", "--libs", "libmicrohttpd", "libcurl", "jansson", "libconfig",
                           "sqlite3", "libcrypto"], capture_output=True, text=True, check=True).stdout
    cmd = ["cc", "-std=c11", "-D_GNU_SOURCE", "-DTTR_VERSION=\"bench\"", "-Wall", "-Wextra"] + flags + [
        "-I", os.path.join(ROOT, "lib"), "-I", os.path.join(ROOT, "lib", "sources"),
        os.path.join(HERE, "match_bench.c"), lib] + libs.split() + ["-lpthread", "-lm", "-o", out]
    subprocess.run(cmd, check=True)
    return out


def match_phase(prof, build, workdir, res):
    exe = match_bench_path(build, workdir)
    res["match"] = []
    for touches in prof["match"]:
        log("matching: %d touches, %d visitors" % (touches, touches // 10))
        p = subprocess.run([exe, "--dir", os.path.join(workdir, "match"), "--touches", str(touches),
                            "--queries", str(prof["queries"])], capture_output=True, text=True,
                           timeout=900)
        line = next((x for x in p.stdout.splitlines() if x.startswith("MATCH ")), None)
        if not line:
            raise RuntimeError("match_bench failed (%d): %s" % (p.returncode, p.stderr[-2000:]))
        m = json.loads(line[6:])
        m["exit"] = p.returncode
        res["match"].append(m)
        log("  median %.1f us, p99 %.1f us, mismatches %d" % (m["median_us"], m["p99_us"],
                                                               m["mismatches"]))
        os.unlink(os.path.join(workdir, "match", "match-%d.db" % touches))


# ---------------------------------------------------------------------------------------

def fsync_ms(workdir, n=100):
    """Median and p99 time of a 4 KB append + fdatasync where the stores live: the floor
    under any durable answer."""
    path = os.path.join(workdir, "fsync.probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    times = []
    try:
        for _ in range(n):
            t = time.perf_counter()
            os.write(fd, b"x" * 4096)
            os.fdatasync(fd)
            times.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    times.sort()
    return times[n // 2], times[min(n - 1, int(n * 0.99))]


def generate(prof, workdir):
    n = prof["webhooks"]
    gen = os.path.join(HERE, "gen_webhooks.py")
    files = {k: os.path.join(workdir, k + ".txt") for k in
             ("webhooks", "webhooks_half", "collect", "fwd_webhooks", "fwd_collect")}
    t0 = time.monotonic()
    for args in (["shopify", str(n), files["webhooks"]],
                 ["shopify", str(n), files["webhooks_half"], "--first", str(n)],
                 ["collect", str(n), files["collect"]],
                 ["shopify", str(prof["forward"]), files["fwd_webhooks"], "--first", str(2 * n)],
                 ["collect", str(prof["forward"]), files["fwd_collect"], "--first", str(2 * n)]):
        subprocess.run([sys.executable, gen] + args, check=True)
    log("generated %d + %d signed webhooks and the touches of %d orders, and a forwarding "
        "backlog of %d, in %.1f s" % (n, n, n, prof["forward"], time.monotonic() - t0))
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True, help="CMake build directory holding ttrelayd")
    ap.add_argument("--smoke", action="store_true", help="2 s phases, 2,000 bodies")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--workdir", help="scratch directory (default: a new one under /var/tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--perf", metavar="FILE",
                    help="profile ttrelayd with perf during the full-speed webhook run into FILE "
                         "(and FILE.txt: self time by thread, library and function)")
    a = ap.parse_args()
    profile = "smoke" if a.smoke else "full"
    prof = PROFILES[profile]
    build = os.path.abspath(a.build)
    os.environ["TTRELAYD"] = os.path.join(build, "ttrelayd")
    os.environ.pop("TTR_STORE_BACKEND", None)  # the harness's Daemon: SQLite unless told
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            log("%s is not installed (scripts/deps.sh bench)" % tool)
            return 77
    if not pg_available():
        log("the PostgreSQL server is not installed (scripts/deps.sh bench)")
        return 77
    # ^C and SIGTERM unwind through the finally below (the harness's own handlers would
    # exit at once, leaving nginx, PostgreSQL and the scratch directory behind).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(128 + sig))
    # The store must be on a real disk: fsync on tmpfs would measure nothing.
    workdir = a.workdir or tempfile.mkdtemp(prefix="ttr-bench-", dir="/var/tmp")
    os.makedirs(workdir, exist_ok=True)
    tempfile.tempdir = workdir
    res = {"profile": profile, "date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count(),
           "profile_settings": prof, "ceiling": {}}
    nginx, pg = None, PgServer(workdir)
    t0 = time.monotonic()
    try:
        res["fsync_ms"] = fsync_ms(workdir)
        log("fdatasync of 4 KB under %s: median %.2f ms, p99 %.2f ms" % (
            workdir, res["fsync_ms"][0], res["fsync_ms"][1]))
        files = generate(prof, workdir)
        nginx = Nginx(workdir)
        log("nginx on port %d: webhooks, then /collect" % nginx.port)
        srv = Servers(trees={"nginx": nginx.proc.pid})
        res["ceiling"]["webhook"] = run_wrk([nginx.port], "/webhooks/shop", "shopify",
                                            [files["webhooks"]], prof, "wrap", servers=srv)
        res["ceiling"]["collect"] = run_wrk([nginx.port], "/collect", "collect", [files["collect"]],
                                            prof, "wrap", servers=srv)
        nginx.stop()
        nginx = None
        ingest_phase(prof, files, res["ceiling"], res, a.perf and os.path.abspath(a.perf))
        pg.start()
        pg_ingest_phase(prof, files, res["ceiling"], pg, res)
        forward_phase(prof, files, res)
        forward_phase(prof, files, res, pg)
        pg.stop(a.keep)
        match_phase(prof, build, workdir, res)
    finally:
        if nginx:
            nginx.stop()
        harness.cleanup()
        try:
            pg.stop(a.keep)
        finally:
            if not a.keep:
                shutil.rmtree(workdir, ignore_errors=True)
    res["seconds"] = time.monotonic() - t0
    log("done in %.0f s" % res["seconds"])
    print(header(profile, prof) + "; fdatasync median %.2f ms, p99 %.2f ms" % tuple(res["fsync_ms"]))
    print()
    print(table(res))
    print()
    print(checks(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0

if __name__ == "__main__":
    sys.exit(main())
