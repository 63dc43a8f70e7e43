#!/usr/bin/env python3
"""The ttrelay benchmark (bench/README.md says how to read it). In one run on one machine:
nginx answering `return 200` (this machine's HTTP ceiling), then ttrelayd with a fresh store,
dry_run and synchronous = FULL, both driven by wrk with the same signed Shopify webhooks and
then the same /collect touches; then forwarding to a local mock TikTok and matching against
large stores. Prints a Markdown table; --json writes the figures.

  bench.py --build DIR [--smoke] [--json FILE] [--workdir DIR] [--keep]"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import ttr_harness as harness  # noqa: E402
from mock_tiktok import BenchTikTok  # noqa: E402
from gen_webhooks import SECRET  # noqa: E402

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

TARGETS = {"webhook_ratio": 0.25, "collect_ratio": 0.35, "p99_half_ms": 5.0,
           "forward_eps": 20000, "match_median_us": 50.0, "rss_load_mb": 64, "rss_idle_mb": 16}


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
# /proc readings

def proc_kb(pid, field):
    """VmRSS / VmHWM of pid in kB, or 0."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_cpu_s(pid):
    """User + system CPU seconds of pid (all threads)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def tree_cpu_s(pid):
    """CPU seconds of pid and its children (nginx master + workers)."""
    total = proc_cpu_s(pid)
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        total += sum(proc_cpu_s(int(p)) for p in out.split())
    except OSError:
        pass
    return total


# ---------------------------------------------------------------------------------------
# wrk

def machine_busy_s():
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run_wrk(port, path, kind, datafile, prof, at_end="wrap", rate=0, limit=0, pid=None,
            duration=None):
    """One wrk run; returns its figures, the server's CPU per request and the share of the
    machine's CPU that went to neither the server nor wrk (other load on the machine)."""
    t, c, d = prof["threads"], prof["conns"], duration or prof["duration"]
    cmd = ["wrk", "-t", str(t), "-c", str(c), "-d", "%ds" % d, "--timeout", "10s", "-s", LUA,
           "http://127.0.0.1:%d%s" % (port, path), "--", kind, datafile, at_end,
           "%.1f" % rate, str(t), str(c), str(limit)]
    cpu0 = tree_cpu_s(pid) if pid else 0.0
    kids0 = os.times()
    busy0, wall0 = machine_busy_s(), time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=d + 120)
    wall = time.monotonic() - wall0
    busy = machine_busy_s() - busy0
    kids = os.times()
    wrk_cpu = (kids.children_user - kids0.children_user) + (kids.children_system - kids0.children_system)
    cpu = (tree_cpu_s(pid) - cpu0) if pid else 0.0
    line = next((x for x in p.stdout.splitlines() if x.startswith("BENCH ")), None)
    if p.returncode != 0 or not line:
        raise RuntimeError("wrk failed (%d): %s %s" % (p.returncode, p.stdout[-2000:],
                                                        p.stderr[-2000:]))
    r = json.loads(line[6:])
    secs = r["duration_us"] / 1e6
    r["rps"] = r["requests"] / secs if secs > 0 else 0.0
    r["p50_ms"] = r["latency_us"]["p50"] / 1000.0
    r["p99_ms"] = r["latency_us"]["p99"] / 1000.0
    r["cpu_us_per_req"] = cpu / r["requests"] * 1e6 if r["requests"] and pid else None
    r["server_cpu_s"], r["wrk_cpu_s"] = cpu, wrk_cpu
    cores = os.cpu_count() or 1
    r["other_load"] = max(0.0, busy - cpu - wrk_cpu) / (wall * cores) if pid and wall > 0 else None
    r["errors_total"] = sum(r["errors"].values())
    log("  %-8s %-5s rate=%-6s %8.0f req/s  p50 %.2f ms  p99 %.2f ms  errors %d  server CPU "
        "%.1f s, wrk %.1f s, other load %s" % (
            kind, at_end, "max" if rate == 0 else "%.0f" % rate, r["rps"], r["p50_ms"],
            r["p99_ms"], r["errors_total"], cpu, wrk_cpu,
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

def daemon_sections(api_base, dry_run, hold_s):
    return {
        "listen": {"address": "127.0.0.1", "port": 0, "max_connections": 1024},
        "store": {"synchronous": "full"},
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


def ingest_phase(prof, files, ceiling, res):
    """ttrelayd with dry_run and synchronous=FULL: webhooks then /collect, each at full
    speed and at half that rate."""
    d = harness.Daemon(None, **daemon_sections("http://127.0.0.1:9", True, 3600))
    pid = d.proc.pid
    time.sleep(1.0)
    res["rss_idle_kb"] = proc_kb(pid, "VmRSS")
    log("ttrelayd pid %d, idle RSS %d kB; webhooks at full speed" % (pid, res["rss_idle_kb"]))
    wh = run_wrk(d.public_port, "/webhooks/shop", "shopify", files["webhooks"], prof, "stop", pid=pid)
    half = max(wh["rps"] / 2, 1.0)
    log("webhooks at half rate (%.0f/s)" % half)
    whh = run_wrk(d.public_port, "/webhooks/shop", "shopify", files["webhooks_half"], prof, "stop",
                  rate=half, pid=pid)
    accepted = metric(d, "ttrelay_webhooks_total", {"result": "accepted"})
    dups = metric(d, "ttrelay_webhooks_total", {"result": "duplicate"})
    groups = metric(d, "ttrelay_commit_group_size_count", {})
    rows = metric(d, "ttrelay_commit_group_size_sum", {})
    held = d.admin_status()["counts"]["held"]
    log("collect at full speed")
    co = run_wrk(d.public_port, "/collect", "collect", files["collect"], prof, "wrap", pid=pid)
    coh = run_wrk(d.public_port, "/collect", "collect", files["collect"], prof, "wrap",
                  rate=max(co["rps"] / 2, 1.0), pid=pid)
    stored = metric(d, "ttrelay_collect_total", {"result": "stored"})
    res["rss_peak_kb"] = proc_kb(pid, "VmHWM")
    stop_daemon(d)
    d.close()
    res["webhook"], res["webhook_half"], res["collect"], res["collect_half"] = wh, whh, co, coh
    res["webhook"]["ratio"] = wh["rps"] / ceiling["webhook"]["rps"]
    res["collect"]["ratio"] = co["rps"] / ceiling["collect"]["rps"]
    res["ingest_check"] = {"accepted": int(accepted), "duplicates": int(dups), "held": held,
                           "webhook_requests": wh["requests"] + whh["requests"],
                           "touches_stored": int(stored),
                           "collect_requests": co["requests"] + coh["requests"],
                           "mean_commit_group": rows / groups if groups else 0.0}


def forward_phase(prof, files, res):
    """A backlog of committed conversions (with their touches) drained to the mock."""
    mock = BenchTikTok(held=True)
    d = harness.Daemon(None, **daemon_sections(mock.url, False, 0))
    try:
        pid = d.proc.pid
        n = prof["forward"]
        log("forwarding: loading %d orders' touches, then the %d orders, mock held" % (n, n))
        run_wrk(d.public_port, "/collect", "collect", files["fwd_collect"], prof, "stop",
                duration=prof["forward_timeout"])
        run_wrk(d.public_port, "/webhooks/shop", "shopify", files["fwd_webhooks"], prof, "stop",
                duration=prof["forward_timeout"])
        committed = sum(d.admin_status()["counts"].values())
        cpu0, self0, busy0 = proc_cpu_s(pid), sum(os.times()[:2]), machine_busy_s()
        mock.release()
        got = mock.wait_events(committed, prof["forward_timeout"])
        events, secs = mock.drain_rate()
        cpu = proc_cpu_s(pid) - cpu0
        wall = time.monotonic() - mock.released_at
        other = machine_busy_s() - busy0 - cpu - (sum(os.times()[:2]) - self0)
        status = d.admin_status()
        st, report = d.admin_get("/admin/report?since=86400")
        matched = {}
        for row in (report or {}).get("rows", []):
            for k, v in row.get("matched", {}).items():
                matched[k] = matched.get(k, 0) + v
        res["forward"] = {"committed": committed, "acked": got, "events": events, "seconds": secs,
                          "eps": events / secs if secs > 0 else 0.0,
                          "cpu_us_per_event": cpu / events * 1e6 if events else None,
                          "other_load": max(0.0, other) / (wall * (os.cpu_count() or 1)),
                          "batches": len(mock.batches), "counts": status["counts"],
                          "matched_by": matched}
        log("  %d of %d events acknowledged in %.2f s: %.0f events/s; matched_by %s" % (
            events, committed, secs, res["forward"]["eps"], matched))
        stop_daemon(d)
    finally:
        d.close()
        mock.close()


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
# report

def verdict(ok):
    return "met" if ok else "**missed**"


def table(res):
    c, w = res["ceiling"], res
    rows = ["| measure | nginx `return 200` | ttrelayd | ttrelayd / nginx | target |",
            "|---|---|---|---|---|"]

    def lat(r):
        return "%.2f / %.2f" % (r["p50_ms"], r["p99_ms"])

    def cpu(r):
        return " (%.0f µs CPU/req)" % r["cpu_us_per_req"] if r.get("cpu_us_per_req") else ""

    rows.append("| signed webhooks, requests/s (max) | %.0f | %.0f%s | %.3f | ≥ 0.25: %s |" % (
        c["webhook"]["rps"], w["webhook"]["rps"], cpu(w["webhook"]), w["webhook"]["ratio"],
        verdict(w["webhook"]["ratio"] >= TARGETS["webhook_ratio"])))
    rows.append("| webhooks p50 / p99 ms (max) | %s | %s | | |" % (lat(c["webhook"]), lat(w["webhook"])))
    rows.append("| webhooks at half of max: requests/s, p50 / p99 ms | | %.0f, %s%s | | p99 ≤ 5 ms: %s |" % (
        w["webhook_half"]["rps"], lat(w["webhook_half"]), cpu(w["webhook_half"]),
        verdict(w["webhook_half"]["p99_ms"] <= TARGETS["p99_half_ms"])))
    rows.append("| /collect, requests/s (max) | %.0f | %.0f%s | %.3f | ≥ 0.35: %s |" % (
        c["collect"]["rps"], w["collect"]["rps"], cpu(w["collect"]), w["collect"]["ratio"],
        verdict(w["collect"]["ratio"] >= TARGETS["collect_ratio"])))
    rows.append("| /collect p50 / p99 ms (max) | %s | %s | | |" % (lat(c["collect"]), lat(w["collect"])))
    rows.append("| /collect at half of max: requests/s, p50 / p99 ms | | %.0f, %s%s | | |" % (
        w["collect_half"]["rps"], lat(w["collect_half"]), cpu(w["collect_half"])))
    rows.append("| ttrelayd RSS idle / peak under load | | %.1f MB / %.1f MB | | ≤ 16 / ≤ 64 MB: %s / %s |" % (
        w["rss_idle_kb"] / 1024, w["rss_peak_kb"] / 1024,
        verdict(w["rss_idle_kb"] / 1024 <= TARGETS["rss_idle_mb"]),
        verdict(w["rss_peak_kb"] / 1024 <= TARGETS["rss_load_mb"])))
    f = w["forward"]
    rows.append("| forwarding, events/s committed → acknowledged (%d events, batches of ≤ 1,000) | | %.0f | | ≥ 20,000: %s |" % (
        f["events"], f["eps"], verdict(f["eps"] >= TARGETS["forward_eps"])))
    for m in w["match"]:
        rows.append("| matching, %d touches / %d visitors: median / p99 µs | | %.1f / %.1f | | median ≤ 50 µs: %s |" % (
            m["touches"], m["visitors"], m["median_us"], m["p99_us"],
            verdict(m["median_us"] <= TARGETS["match_median_us"])))
    per = ["| matching by rule, median / p99 µs | " + " | ".join(r for r in w["match"][0]["rules"]) + " |",
           "|---|" + "---|" * len(w["match"][0]["rules"])]
    for m in w["match"]:
        per.append("| %d touches | " % m["touches"] + " | ".join(
            "%.1f / %.1f" % (v["median_us"], v["p99_us"]) for v in m["rules"].values()) + " |")
    return "\n".join(rows) + "\n\n" + "\n".join(per)


def header(profile, prof):
    return ("ttrelay benchmark, %s profile, %s, %d cores (%s), wrk -t %d -c %d -d %ds, store "
            "synchronous=FULL, dry_run" % (profile, time.strftime("%Y-%m-%d %H:%M %Z"),
                                           os.cpu_count() or 0, platform.machine(),
                                           prof["threads"], prof["conns"], prof["duration"]))


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
    a = ap.parse_args()
    profile = "smoke" if a.smoke else "full"
    prof = PROFILES[profile]
    build = os.path.abspath(a.build)
    os.environ["TTRELAYD"] = os.path.join(build, "ttrelayd")
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            log("%s is not installed (scripts/deps.sh bench)" % tool)
            return 77
    # The store must be on a real disk: fsync on tmpfs would measure nothing.
    workdir = a.workdir or tempfile.mkdtemp(prefix="ttr-bench-", dir="/var/tmp")
    os.makedirs(workdir, exist_ok=True)
    tempfile.tempdir = workdir
    res = {"profile": profile, "date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count(),
           "profile_settings": prof, "ceiling": {}}
    nginx = None
    try:
        res["fsync_ms"] = fsync_ms(workdir)
        log("fdatasync of 4 KB under %s: median %.2f ms, p99 %.2f ms" % (
            workdir, res["fsync_ms"][0], res["fsync_ms"][1]))
        files = generate(prof, workdir)
        nginx = Nginx(workdir)
        log("nginx on port %d: webhooks, then /collect" % nginx.port)
        res["ceiling"]["webhook"] = run_wrk(nginx.port, "/webhooks/shop", "shopify", files["webhooks"],
                                            prof, "wrap", pid=nginx.proc.pid)
        res["ceiling"]["collect"] = run_wrk(nginx.port, "/collect", "collect", files["collect"],
                                            prof, "wrap", pid=nginx.proc.pid)
        nginx.stop()
        nginx = None
        ingest_phase(prof, files, res["ceiling"], res)
        forward_phase(prof, files, res)
        match_phase(prof, build, workdir, res)
    finally:
        if nginx:
            nginx.stop()
        harness.cleanup()
        if not a.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(header(profile, prof) + "; fdatasync median %.2f ms, p99 %.2f ms" % tuple(res["fsync_ms"]))
    print()
    print(table(res))
    chk = res["ingest_check"]
    print()
    print("checks: %d webhooks accepted, %d duplicates, %d held in the store; %d touches stored; "
          "mean commit group %.1f rows; forwarding matched_by %s" % (
              chk["accepted"], chk["duplicates"], chk["held"], chk["touches_stored"],
              chk["mean_commit_group"], res["forward"]["matched_by"]))
    loads = [r["other_load"] for r in list(res["ceiling"].values()) + [
        res[k] for k in ("webhook", "webhook_half", "collect", "collect_half", "forward")]
        if r.get("other_load") is not None]
    print("CPU used by other processes on the machine during the runs: %.0f%% to %.0f%% of "
          "all cores" % (100 * min(loads), 100 * max(loads)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
