"""What a Prometheus user expects from /metrics (issue 14): ttrelay_build_info, the process_*
family, the configuration reload gauges, per-pixel and per-source series at 0 from the
start; `promtool check metrics` on a real scrape and `promtool check rules`/`check config`
on the shipped files when promtool is installed (Debian package prometheus)."""

import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ttr_harness import (PIXEL, PIXEL2, TIKTOK_TOKEN, Daemon, MockTikTok, diag, is_, ok,  # noqa
                         post_generic, run_cases, source_dir, wait_until)

PROMTOOL = shutil.which("promtool")
PROM_DIR = os.path.join(source_dir(), "etc", "prometheus")


def scrape(d):
    st, hdrs, body = d.request("admin", "GET", "/metrics", None, d._admin_headers())
    if st != 200:
        raise RuntimeError("GET /metrics answered %s" % st)
    return body.decode()


def value(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def skip(name):
    ok(True, "%s # SKIP promtool not installed (apt-get install prometheus provides it)" % name)


def promtool(*args, stdin=None):
    p = subprocess.run([PROMTOOL] + list(args), input=stdin, capture_output=True, text=True,
                       timeout=60)
    return p.returncode, p.stdout + p.stderr


def case_families_and_zero_series():
    mock = MockTikTok()
    pixels = [{"code": PIXEL, "access_token": TIKTOK_TOKEN, "test_event_code": "",
               "rate_per_s": 10000.0},
              {"code": PIXEL2, "access_token": TIKTOK_TOKEN, "test_event_code": "",
               "rate_per_s": 10000.0}]
    t0 = time.time()
    d = Daemon(mock, tiktok={"pixels": pixels})
    text = scrape(d)
    is_(value(text, 'ttrelay_build_info{version="0.1.0"}'), 1.0, "ttrelay_build_info{version}")
    start = value(text, "process_start_time_seconds")
    ok(start is not None and t0 - 5 <= start <= time.time() + 1,
       "process_start_time_seconds is when the daemon started", start)
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                 "process_virtual_memory_bytes", "process_open_fds", "process_max_fds"):
        v = value(text, name)
        ok(v is not None and v >= 0, "%s present" % name, v)
    ok(value(text, "process_resident_memory_bytes") > 1e6 and
       value(text, "process_max_fds") >= value(text, "process_open_fds") >= 5,
       "memory and descriptor figures are plausible")
    for px in (PIXEL, PIXEL2):
        is_((value(text, 'ttrelay_events_sent_total{pixel="%s"}' % px),
             value(text, 'ttrelay_events_dead_total{pixel="%s"}' % px)), (0.0, 0.0),
            "pixel %s: sent and dead at 0 before any event" % px)
    for s in d.config["sources"]:
        is_(value(text, 'ttrelay_webhooks_total{source="%s",result="accepted"}' % s["id"]), 0.0,
            "source %s: accepted at 0 before any webhook" % s["id"])
    is_(value(text, "ttrelay_config_last_reload_successful"), 1.0, "the start counts as a load")
    ts0 = value(text, "ttrelay_config_last_reload_success_timestamp_seconds")
    ok(ts0 and t0 - 5 <= ts0 <= time.time() + 1, "with its time", ts0)

    if PROMTOOL:
        rc, out = promtool("check", "metrics", stdin=text)
        ok(rc == 0, "promtool check metrics accepts a scrape", out)
    else:
        skip("promtool check metrics")

    d.config["tiktok"]["dry_runn"] = True
    d.write_config()
    mark = len(d.log_text())
    d.kill(1)  # SIGHUP
    wait_until(lambda: "reload refused" in d.log_text()[mark:], 10)
    text = scrape(d)
    is_((value(text, "ttrelay_config_last_reload_successful"),
         value(text, "ttrelay_config_last_reload_success_timestamp_seconds")), (0.0, ts0),
        "a refused reload: 0, the last success's time kept")
    del d.config["tiktok"]["dry_runn"]
    time.sleep(0.01)
    is_(d.reload(sources=d.config["sources"] + [
        {"id": "newcrm", "type": "generic", "secret": "new-crm-secret", "kind": "lead"}]),
        "reloaded", "a good file reloads")
    text = scrape(d)
    ok(value(text, "ttrelay_config_last_reload_successful") == 1.0 and
       value(text, "ttrelay_config_last_reload_success_timestamp_seconds") > ts0,
       "then 1 with a later time")
    is_(value(text, 'ttrelay_webhooks_total{source="newcrm",result="accepted"}'), 0.0,
        "a source added by a reload is present at 0")
    post_generic(d, "crm", {"id": "prom-1"})
    text = scrape(d)
    is_(value(text, 'ttrelay_webhooks_total{source="crm",result="accepted"}'), 1.0,
        "and counts from there")


def case_shipped_prometheus_files():
    rules = os.path.join(PROM_DIR, "ttrelay-alerts.yml")
    conf = os.path.join(PROM_DIR, "prometheus.yml")
    ok(os.path.isfile(rules) and os.path.isfile(conf), "the rule and scrape files exist")
    with open(rules) as f:
        text = f.read()
    for alert in ("TtrelayPixelPaused", "TtrelayDeadEvents", "TtrelayBacklogOld",
                  "TtrelaySourceSilent"):
        ok("alert: %s" % alert in text, "rule %s is there" % alert)
    if not PROMTOOL:
        skip("promtool check rules")
        skip("promtool check config")
        return
    rc, out = promtool("check", "rules", rules)
    ok(rc == 0 and "SUCCESS: 6 rules found" in out, "promtool check rules", out)
    rc, out = promtool("check", "config", "--syntax-only", conf)
    ok(rc == 0, "promtool check config --syntax-only", out)


if __name__ == "__main__":
    if not PROMTOOL:
        diag("promtool not found: its checks are skipped (Debian package prometheus)")
    run_cases([case_families_and_zero_series, case_shipped_prometheus_files])
