"""TikTok's 5-minute merge window (issue 13): the delay from the touch (or webhook) to
TikTok's acceptance is a histogram in /metrics and p50/p95 per pixel in `ttrelayctl report`;
the oldest due event's age is a gauge, and a backlog past 5 minutes is logged as a warning."""

import os
import re
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ttr_harness import (on_pg, skip_sqlite_only,  # noqa: E402
                         ADMIN_TOKEN, ORIGIN, PIXEL, Daemon, MockTikTok, diag,  # noqa: E402
                         is_, ok, post_generic, run_cases, ttrelayctl_path, wait_until)

HOLD_S = 1
FAST = {"retry_base_ms": 200, "retry_cap_ms": 1000, "request_timeout_ms": 2000}


def metrics(d):
    st, _, text = d.request("admin", "GET", "/metrics", None, d._admin_headers())
    return text.decode() if st == 200 else ""


def sample(text, name):
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


def ctl(d, *args):
    r = subprocess.run([ttrelayctl_path(), "--url", "http://127.0.0.1:%d" % d.admin_port,
                        "--token", ADMIN_TOKEN] + list(args),
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


def test_delay_from_touch_is_measured():
    mock = MockTikTok()
    d = Daemon(mock, match={"hold_s": HOLD_S}, tiktok=FAST)
    # The pixel event, then its webhook 2 s later: the delay runs from the touch.
    st = d.post_collect({"vid": "v-merge-1", "event": "Lead", "event_id": "mw-1",
                         "ts": int(time.time())})
    is_(st, 204, "touch stored")
    time.sleep(2)
    st, resp = post_generic(d, "leads", {"id": "mw-lead-1", "event_id": "mw-1", "vid": "v-merge-1",
                                         "email": "merge@example.com"})
    is_(st, 200, "webhook accepted")
    evs = mock.wait_for_events(1, HOLD_S + 10)
    is_([ev.get("event_id") for _, ev in evs], ["mw-1"], "sent with the touch's event_id")
    text = ""
    name = 'ttrelay_delivery_delay_seconds_count{pixel="%s"}' % PIXEL
    wait_until(lambda: sample(metrics(d), name), 5)
    text = metrics(d)
    ok("# TYPE ttrelay_delivery_delay_seconds histogram" in text, "the delay histogram is exposed")
    is_(sample(text, name), 1.0, "one delivery observed for the pixel")
    total = sample(text, 'ttrelay_delivery_delay_seconds_sum{pixel="%s"}' % PIXEL) or 0
    diag("touch -> TikTok delay: %.2f s (hold %d s, webhook 2 s after the touch)" % (total, HOLD_S))
    ok(2.0 <= total < 10, "measured from the touch, not the webhook (%.2f s)" % total)
    is_(sample(text, 'ttrelay_delivery_delay_seconds_bucket{pixel="%s",le="300"}' % PIXEL), 1.0,
        "within the 5-minute merge window")
    ok(sample(text, "ttrelay_oldest_due_event_age_seconds") == 0, "nothing due: gauge at 0")
    rc, out, err = ctl(d, "report", "--since", "1h")
    is_(rc, 0, "ttrelayctl report exits 0")
    diag(out)
    row = [l for l in out.splitlines() if l.startswith(PIXEL)]
    ok(row and re.search(r"\s1\s", row[-1]) and "100" in row[-1],
       "report prints the pixel's delay row (1 sent, 100 % within 5 min)", out + err)
    rc, out, _ = ctl(d, "--json", "report", "--since", "1h")
    ok('"delay_p95_s"' in out and '"pixels"' in out, "the JSON report carries p50/p95 per pixel")


def test_backlog_past_five_minutes_warns():
    mock = MockTikTok()
    mock.stop()  # TikTok unreachable: the event waits in retry
    d = Daemon(mock, match={"hold_s": HOLD_S}, tiktok=FAST)
    st, resp = post_generic(d, "leads", {"id": "mw-old-1", "email": "old@example.com"})
    is_(st, 200, "webhook accepted")
    eid = (resp or {}).get("id")
    e = d.wait_event_state(eid, "retry", HOLD_S + 10)
    is_(e.get("state"), "retry", "waiting in retry")
    is_(d.stop(), 0, "stopped")
    # Six minutes ago: what a long TikTok outage leaves behind.
    if on_pg():
        d.pg("UPDATE conversions SET received_ms=received_ms-360000 WHERE id=%d" % int(eid))
    else:
        db = sqlite3.connect(d.config["store"]["path"])
        db.execute("UPDATE conversions SET received_ms=received_ms-360000 WHERE id=?", (eid,))
        db.commit()
        db.close()
    d.start()
    found = wait_until(lambda: re.search(r'level=warn msg="delivery backlog past TikTok.s '
                                         r'5-minute merge window[^"]*" oldest_age_s=(\d+)',
                                         d.log_text()), 15)
    ok(found and int(found.group(1)) >= 360, "a warning names the backlog's age",
       found.group(0) if found else None)
    age = sample(metrics(d), "ttrelay_oldest_due_event_age_seconds")
    ok(age is not None and age >= 360, "ttrelay_oldest_due_event_age_seconds shows it (%s)" % age)
    mock.start()
    e = d.wait_event_state(eid, "sent", 15)
    is_(e.get("state"), "sent", "sent once TikTok answers")
    wait_until(lambda: sample(metrics(d), "ttrelay_oldest_due_event_age_seconds") == 0, 5)
    is_(sample(metrics(d), "ttrelay_oldest_due_event_age_seconds"), 0.0, "the gauge falls to 0")


if __name__ == "__main__":
    run_cases([test_delay_from_touch_is_measured, test_backlog_past_five_minutes_warns])
