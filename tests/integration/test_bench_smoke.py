#!/usr/bin/env python3
"""The benchmark's smoke mode (bench/run.sh BUILD --smoke): every phase runs for about two
seconds on 2,000 bodies and must finish within 180 s with sane figures: no failed request,
every signed webhook accepted once, the forwarding backlogs (SQLite and PostgreSQL) fully
acknowledged with each matching rule hit, CPU split by thread, and matching built for each
rule matched by it. The figures themselves are not judged here (make bench does that).
Prints TAP; skips when wrk, nginx or the PostgreSQL server is absent."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ttr_harness as h  # noqa: E402

LIMIT_S = 180


def tool(name):
    return shutil.which(name) or (os.path.exists("/usr/sbin/" + name) and "/usr/sbin/" + name)


def main():
    if not tool("wrk") or not tool("nginx"):
        print("1..0 # SKIP wrk or nginx is not installed (scripts/deps.sh bench)", flush=True)
        return 0
    build = os.path.dirname(h.ttrelayd_path())
    out_dir = tempfile.mkdtemp(prefix="ttr-bench-smoke-")
    json_path = os.path.join(out_dir, "smoke.json")
    t0 = time.monotonic()
    try:
        p = subprocess.run([os.path.join(h.source_dir(), "bench", "run.sh"), build, "--smoke",
                            "--json", json_path], capture_output=True, text=True,
                           timeout=4 * LIMIT_S)
        elapsed = time.monotonic() - t0
        h.diag(p.stdout)
        if p.returncode == 77:
            print("1..0 # SKIP " + p.stderr.strip().splitlines()[-1], flush=True)
            return 0
        if not h.ok(p.returncode == 0, "bench/run.sh --smoke exits 0", p.stderr[-4000:]):
            h.done()
        h.ok(elapsed < LIMIT_S, "the smoke finishes within %d s" % LIMIT_S, "took %.1f s" % elapsed)
        with open(json_path) as f:
            res = json.load(f)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    check_ingest(res, p.stdout)
    check_forward(res["forward"], res)
    check_pg(res, p.stdout)
    check_threads(res)
    check_match(res)
    h.done()


def check_ingest(res, table):
    runs = dict(("nginx " + k, v) for k, v in res["ceiling"].items())
    runs.update((k, res[k]) for k in ("webhook", "webhook_half", "collect", "collect_half"))
    for name, r in runs.items():
        h.ok(r["requests"] > 0 and r["rps"] > 0, "%s: requests were answered" % name, r)
        h.is_(r["errors"], {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0},
              "%s: no failed request" % name)
        h.ok(0 < r["latency_us"]["p50"] <= r["latency_us"]["p99"], "%s: p50 <= p99" % name,
             r["latency_us"])
    chk = res["ingest_check"]
    h.is_(chk["duplicates"], 0, "every webhook body was distinct: no duplicate")
    h.ok(0 < chk["accepted"] <= 2 * res["profile_settings"]["webhooks"],
         "webhooks were accepted, at most once per generated order", chk)
    h.is_(chk["held"], chk["accepted"], "every accepted webhook is a conversion in the store")
    h.ok(chk["touches_stored"] > 0, "touches were stored", chk)
    h.ok(0 < res["rss_idle_kb"] <= res["rss_peak_kb"], "idle RSS and peak RSS were read",
         (res["rss_idle_kb"], res["rss_peak_kb"]))
    h.ok(abs(res["webhook"]["ratio"] - res["webhook"]["rps"] / res["ceiling"]["webhook"]["rps"])
         < 1e-9, "the webhook ratio is ttrelayd / nginx of this run")
    h.ok(res["wal"]["end_bytes"] > 0 and res["wal"]["peak_bytes"] >= res["wal"]["end_bytes"],
         "the WAL size was read at the end of the ingest runs", res["wal"])
    for label in ("| signed webhooks, requests/s (max) |", "| /collect, requests/s (max) |",
                  "| SQLite WAL (`ttrelay.db-wal`)", "| forwarding, events/s",
                  "| matching, 10000 touches", "| matching, 20000 touches",
                  "| CPU µs per request, by thread |"):
        h.ok(label in table, "the table has the row " + label)


def check_pg(res, table):
    pg = res["pg"]
    for n in (1, 2):
        r = pg["webhook_%d" % n]
        h.ok(r["requests"] > 0 and r["rps"] > 0, "PostgreSQL, %d instance(s): requests answered" % n, r)
        h.is_(r["errors_total"], 0, "PostgreSQL, %d instance(s): no failed request" % n)
        h.ok(0 < r["accepted"] <= res["profile_settings"]["webhooks"] and r["duplicates"] == 0,
             "PostgreSQL, %d instance(s): webhooks accepted, at most once per order" % n, r)
        h.ok(r["postgres_cpu_us_per_req"] > 0, "PostgreSQL, %d instance(s): the server's CPU "
             "was read" % n, r)
        h.is_(len(r["threads"]["listeners_us_per_req"]), n,
              "PostgreSQL, %d instance(s): each instance's listener threads were read" % n)
    check_forward(pg["forward"], res, " on PostgreSQL")
    for label in ("| PostgreSQL, signed webhooks, requests/s (max), 1 instance |",
                  "| PostgreSQL, signed webhooks, requests/s (max), 2 instances on one database |",
                  "| forwarding on PostgreSQL, events/s"):
        h.ok(label in table, "the table has the row " + label)


def check_threads(res):
    for name in ("webhook", "webhook_half", "collect", "collect_half"):
        t = res[name]["threads"]
        h.ok(t["us_per_req"].get("listener", 0) > 0 and t["us_per_req"].get("writer", 0) > 0,
             "%s: CPU of the listener threads and of the writer was read" % name, t)
        h.ok(len(t["listeners_us_per_req"][0]) >= 1 and 0 < t["listener_max_share"] <= 1,
             "%s: the busiest listener's share is a fraction" % name, t)
        total = sum(t["us_per_req"].values())
        whole = res[name]["cpu_us_per_req"]
        h.ok(0.8 * whole <= total <= 1.2 * whole + 20,
             "%s: the threads add up to the process's CPU" % name, (total, whole))
    f = res["forward"]["threads"]["us_per_req"]
    h.ok(f.get("matcher", 0) + f.get("send", 0) > 0, "forwarding: CPU of the matcher and the "
         "sender threads was read", f)


def check_forward(f, res, where=""):
    h.ok(f["committed"] == res["profile_settings"]["forward"],
         "the forwarding backlog%s holds every generated order" % where, f)
    h.is_(f["acked"], f["committed"], "the mock acknowledged every committed event" + where)
    h.ok(f["events"] > 0 and f["eps"] > 0, "a forwarding rate was measured" + where, f)
    for rule in ("event_id", "order_ref", "vid", "email", "phone", "ip_ua", "none"):
        h.ok(f["matched_by"].get(rule, 0) > 0, "forwarded events%s matched by %s" % (where, rule),
             f["matched_by"])


def check_match(res):
    sizes = [m["touches"] for m in res["match"]]
    h.is_(sizes, res["profile_settings"]["match"], "matching ran at both store sizes")
    for m in res["match"]:
        h.is_(m["mismatches"], 0, "%d touches: each conversion matched by the rule it was built for"
              % m["touches"])
        h.is_(m["visitors"], m["touches"] // 10, "%d touches: one visitor per ten touches"
              % m["touches"])
        h.ok(0 < m["median_us"] <= m["p99_us"], "%d touches: median <= p99" % m["touches"], m)


if __name__ == "__main__":
    sys.exit(main())
