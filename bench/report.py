"""The benchmark's Markdown report (bench/README.md "Reading the output"): the main table,
matching by rule, CPU by thread, and the check lines, from bench.py's figures."""

import os
import platform
import time

TARGETS = {"webhook_ratio": 0.25, "collect_ratio": 0.35, "p99_half_ms": 5.0,
           "forward_eps": 20000, "match_median_us": 50.0, "rss_load_mb": 64, "rss_idle_mb": 16}

# The ttrelayd threads the CPU table has a column for (procfs.thread_role); any other
# (main, admin listener, …) goes to "other".
ROLES = ("writer", "matcher", "dispatch", "send")


def verdict(ok):
    return "met" if ok else "**missed**"


def lat(r):
    return "%.2f / %.2f" % (r["p50_ms"], r["p99_ms"])


def cpu(r):
    return " (%.0f µs CPU/req)" % r["cpu_us_per_req"] if r.get("cpu_us_per_req") else ""


def ingest_rows(c, w):
    rows = []
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
    rows.append("| SQLite WAL (`ttrelay.db-wal`) after the webhook runs / at the end of the ingest runs / largest seen | | %.1f / %.1f / %.1f MB | | |" % (
        w["webhook_half"]["wal_bytes"] / 1e6, w["wal"]["end_bytes"] / 1e6, w["wal"]["peak_bytes"] / 1e6))
    rows.append("| ttrelayd RSS idle / peak under load | | %.1f MB / %.1f MB | | ≤ 16 / ≤ 64 MB: %s / %s |" % (
        w["rss_idle_kb"] / 1024, w["rss_peak_kb"] / 1024,
        verdict(w["rss_idle_kb"] / 1024 <= TARGETS["rss_idle_mb"]),
        verdict(w["rss_peak_kb"] / 1024 <= TARGETS["rss_load_mb"])))
    return rows


def pg_rows(c, pg):
    rows = []
    for n, what in ((1, "1 instance"), (2, "2 instances on one database")):
        r = pg["webhook_%d" % n]
        rows.append("| PostgreSQL, signed webhooks, requests/s (max), %s | %.0f | %.0f (%.0f µs CPU/req + %.0f µs PostgreSQL) | %.3f | |" % (
            what, c["webhook"]["rps"], r["rps"], r["cpu_us_per_req"],
            r["postgres_cpu_us_per_req"], r["ratio"]))
        rows.append("| PostgreSQL, webhooks p50 / p99 ms (max), %s%s | | %s | | |" % (
            what, ": the slower instance's" if n > 1 else "", lat(r)))
    return rows


def forward_row(f, where):
    return "| forwarding%s, events/s committed → acknowledged (%d events, batches of ≤ 1,000) | | %.0f | | ≥ 20,000: %s |" % (
        where, f["events"], f["eps"], verdict(f["eps"] >= TARGETS["forward_eps"]))


def table(res):
    c, w = res["ceiling"], res
    rows = ["| measure | nginx `return 200` | ttrelayd | ttrelayd / nginx | target |",
            "|---|---|---|---|---|"]
    rows += ingest_rows(c, w)
    if "pg" in w:
        rows += pg_rows(c, w["pg"])
    rows.append(forward_row(w["forward"], ""))
    if "pg" in w:
        rows.append(forward_row(w["pg"]["forward"], " on PostgreSQL"))
    for m in w["match"]:
        rows.append("| matching, %d touches / %d visitors: median / p99 µs | | %.1f / %.1f | | median ≤ 50 µs: %s |" % (
            m["touches"], m["visitors"], m["median_us"], m["p99_us"],
            verdict(m["median_us"] <= TARGETS["match_median_us"])))
    per = ["| matching by rule, median / p99 µs | " + " | ".join(r for r in w["match"][0]["rules"]) + " |",
           "|---|" + "---|" * len(w["match"][0]["rules"])]
    for m in w["match"]:
        per.append("| %d touches | " % m["touches"] + " | ".join(
            "%.1f / %.1f" % (v["median_us"], v["p99_us"]) for v in m["rules"].values()) + " |")
    return "\n".join(rows) + "\n\n" + "\n".join(per) + "\n\n" + thread_table(res)


def thread_row(name, r, postgres=None):
    t = r.get("threads")
    if not t:
        return None
    us = t["us_per_req"]
    each = " / ".join(" + ".join("%.0f" % x for x in ls) for ls in t["listeners_us_per_req"])
    share = t["listener_max_share"]
    other = sum(v for k, v in us.items() if k not in ROLES and k != "listener")
    cells = [name, each or "-", "%.0f %%" % (100 * share) if share is not None else "-"]
    cells += ["%.0f" % us[k] if k in us else "-" for k in ROLES]
    cells += ["%.0f" % other, "%.0f" % sum(us.values()),
              "%.0f" % postgres if postgres is not None else ""]
    return "| " + " | ".join(cells) + " |"


def thread_table(res):
    """µs of CPU per request (per event for forwarding) by ttrelayd thread."""
    rows = ["| CPU µs per request, by thread | listeners (each) | busiest listener's share | "
            "writer | matcher | dispatch | send | other | ttrelayd | PostgreSQL |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    runs = [("webhooks (max)", res["webhook"], None),
            ("webhooks at half of max", res["webhook_half"], None),
            ("/collect (max)", res["collect"], None),
            ("/collect at half of max", res["collect_half"], None),
            ("forwarding, per event", res["forward"], None)]
    pg = res.get("pg")
    if pg:
        runs += [("PostgreSQL webhooks (max), 1 instance", pg["webhook_1"],
                  pg["webhook_1"]["postgres_cpu_us_per_req"]),
                 ("PostgreSQL webhooks (max), 2 instances", pg["webhook_2"],
                  pg["webhook_2"]["postgres_cpu_us_per_req"]),
                 ("PostgreSQL forwarding, per event", pg["forward"],
                  pg["forward"]["postgres_cpu_us_per_event"])]
    for name, r, postgres in runs:
        row = thread_row(name, r, postgres)
        if row:
            rows.append(row)
    return "\n".join(rows)


def header(profile, prof):
    return ("ttrelay benchmark, %s profile, %s, %d cores (%s), wrk -t %d -c %d -d %ds, store "
            "synchronous=FULL, dry_run" % (profile, time.strftime("%Y-%m-%d %H:%M %Z"),
                                           os.cpu_count() or 0, platform.machine(),
                                           prof["threads"], prof["conns"], prof["duration"]))


def checks(res):
    chk = res["ingest_check"]
    lines = ["checks: %d webhooks accepted, %d duplicates, %d held in the store; %d touches "
             "stored; mean commit group %.1f rows; forwarding matched_by %s" % (
                 chk["accepted"], chk["duplicates"], chk["held"], chk["touches_stored"],
                 chk["mean_commit_group"], res["forward"]["matched_by"])]
    pg = res.get("pg")
    if pg:
        lines.append("PostgreSQL checks: webhooks accepted %d (1 instance), %d (2 instances), "
                     "%d duplicates; forwarding matched_by %s" % (
                         pg["webhook_1"]["accepted"], pg["webhook_2"]["accepted"],
                         pg["webhook_1"]["duplicates"] + pg["webhook_2"]["duplicates"],
                         pg["forward"]["matched_by"]))
    runs = list(res["ceiling"].values()) + [res[k] for k in (
        "webhook", "webhook_half", "collect", "collect_half", "forward")]
    if pg:
        runs += [pg["webhook_1"], pg["webhook_2"], pg["forward"]]
    loads = [r["other_load"] for r in runs if r.get("other_load") is not None]
    lines.append("CPU used by other processes on the machine during the runs: %.0f%% to %.0f%% "
                 "of all cores" % (100 * min(loads), 100 * max(loads)))
    return "\n".join(lines)
