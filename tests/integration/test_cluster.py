#!/usr/bin/env python3
"""Several ttrelayd on one PostgreSQL database (PostgreSQL only): signed webhooks and touches
spread over two instances, one of them SIGKILLed twice under load; and the database down
for 10 s under load. What must hold: every acknowledged webhook reaches TikTok, an event_id
travels in two batches only when its claim was taken over (a batch in flight when its instance
died), no touch is consumed twice, and what TikTok sees equals a single instance's run."""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ttr_harness import (SECRETS, Daemon, MockTikTok, diag, generic_signature,  # noqa: E402
                         is_, ok, on_pg, pg_createdb, run_cases, wait_until)

N_TOUCHES = 120
N_WEBHOOKS = 300
BROWSER = {"X-Forwarded-For": "203.0.113.9", "User-Agent": "Mozilla/5.0 (cluster test)"}
# A short lease (12 x 500 ms + 2 s) so that a batch orphaned by a SIGKILL is re-sent soon.
TIKTOK = {"request_timeout_ms": 500, "claim_lease_s": 2, "retry_base_ms": 100,
          "retry_cap_ms": 1000}
# One browser address sends every touch here: the per-address limit is not under test.
COLLECT = {"rate_per_s": 100000.0, "burst": 100000}


def touch_obj(i):
    return {"vid": "v-cl-%d" % i, "event": "Lead", "event_id": "px-cl-%d" % i}


def lead_obj(i):
    # Every other lead carries a visitor with a touch: matched (the touch's event_id);
    # the rest go with the deterministic one.
    obj = {"id": "cl-%d" % i, "email": "cl%d@example.com" % i}
    if i % 2 == 0 and i // 2 < N_TOUCHES:
        obj["vid"] = "v-cl-%d" % (i // 2)
    return obj


def post_lead(d, i):
    body = json.dumps(lead_obj(i)).encode()
    h = {"Content-Type": "application/json",
         "X-Ttrelay-Signature": generic_signature(SECRETS["leads"], body)}
    return d.post_webhook("leads", body, h, timeout=10)


def try_post(fn, daemons, start):
    """Posts through the first instance that answers, as a load balancer would: a refused
    connection goes to the next. Returns (status, json, instance index) or (None, None, -1)."""
    for k in range(len(daemons) * 3):
        d = daemons[(start + k) % len(daemons)]
        try:
            st, obj = fn(d)
        except OSError:
            time.sleep(0.05)
            continue
        if st == 200:
            return st, obj, (start + k) % len(daemons)
        if st == 503:
            time.sleep(0.1)
            continue
        return st, obj, (start + k) % len(daemons)
    return None, None, -1


def send_touches(daemons):
    stored = 0
    for i in range(N_TOUCHES):
        for k in range(6):
            d = daemons[(i + k) % len(daemons)]
            try:
                if d.post_collect(touch_obj(i), headers=BROWSER) == 204:
                    stored += 1
                    break
            except OSError:
                time.sleep(0.05)
    return stored


def mock_view(mock):
    """The set of (event, event_id) TikTok received, and each event_id's batches (request
    numbers and receipt times)."""
    view, batches = set(), {}
    for r in mock.all_requests():
        body = r["json"] if isinstance(r["json"], dict) else {}
        for e in body.get("data") or []:
            view.add((e.get("event"), e.get("event_id")))
            batches.setdefault(e.get("event_id"), []).append((r["n"], r["t"]))
    return view, batches


def settled(d, n):
    c = d.admin_status()["counts"]
    return c.get("sent", 0) == n and c.get("sending", 0) == 0


def single_instance_view():
    mock = MockTikTok()
    d = Daemon(mock, match={"hold_s": 1}, tiktok=TIKTOK, collect=COLLECT)
    is_(send_touches([d]), N_TOUCHES, "single instance: every touch stored")
    acked = [i for i in range(N_WEBHOOKS) if post_lead(d, i)[0] == 200]
    is_(len(acked), N_WEBHOOKS, "single instance: every webhook acknowledged")
    ok(wait_until(lambda: settled(d, N_WEBHOOKS), 60), "single instance: all sent",
       repr(d.admin_status()["counts"]))
    view, _ = mock_view(mock)
    d.stop()
    mock.close()
    return view


def test_two_instances_one_database_survive_sigkills():
    if not on_pg():
        print("# SKIP the cluster tests need TTR_STORE_BACKEND=postgresql", flush=True)
        return
    want = single_instance_view()
    is_(len(want), N_WEBHOOKS, "the single run sent %d distinct events" % N_WEBHOOKS)

    mock = MockTikTok()
    a = Daemon(mock, match={"hold_s": 1}, tiktok=TIKTOK, collect=COLLECT)
    b = Daemon(mock, conninfo=a.conninfo, match={"hold_s": 1}, tiktok=TIKTOK, collect=COLLECT)
    ok(a.proc.pid != b.proc.pid and a.conninfo == b.conninfo, "two instances, one database")
    daemons = [a, b]
    is_(send_touches(daemons), N_TOUCHES, "every touch stored, spread over both")

    acked, refused, kills = {}, [], []
    # A slow TikTok now and then, so that a kill finds batches in flight.
    mock.slow(0.4, n=6)
    for i in range(N_WEBHOOKS):
        if i in (N_WEBHOOKS // 3, 2 * N_WEBHOOKS // 3):
            mock.slow(0.4, n=3)
            time.sleep(0.3)
            kills.append(time.time())
            a.sigkill()
            diag("SIGKILL instance a at webhook %d" % i)
        if not a.running() and i % 20 == 10:
            a.start()
        st, obj, _ = try_post(lambda d: post_lead(d, i), daemons, i % 2)
        if st == 200 and obj and obj.get("id"):
            acked[i] = obj["id"]
        else:
            refused.append((i, st))
    if not a.running():
        a.start()
    is_(len(kills), 2, "instance a was SIGKILLed twice under load and restarted")
    is_(refused, [], "every webhook was acknowledged by one instance or the other")

    ok(wait_until(lambda: settled(b, len(acked)), 90), "every acknowledged webhook is sent",
       repr(b.admin_status()["counts"]))
    got, batches = mock_view(mock)
    sent_ids = {eid for _, eid in got}
    rows = b.pg("SELECT object_id, event_id FROM conversions WHERE source='leads'")
    by_object = dict((r[0], r[1]) for r in rows)
    missing = [i for i in acked if by_object.get("cl-%d" % i) not in sent_ids]
    is_(missing, [], "acknowledged %d, delivered %d" % (len(acked), len(acked) - len(missing)))

    resent = {eid: v for eid, v in batches.items() if len(v) > 1}
    # A legitimate re-send: its first batch reached TikTok before a kill, the next after it
    # (the killed instance never recorded the answer; the instance that took its pixel's
    # lock took its claims over; same event_id).
    bad = {eid: v for eid, v in resent.items()
           if not any(v[0][1] < k < v[-1][1] for k in kills)}
    is_(bad, {}, "no event_id in two batches except re-sends of claims taken over")
    resent_batches = {n for v in resent.values() for n, _ in v[1:]}
    diag("cluster figures: acknowledged %d, delivered %d, event_ids re-sent after their claim "
         "was taken over %d (in %d batches), requests to TikTok %d"
         % (len(acked), len(acked) - len(missing), len(resent), len(resent_batches),
            mock.count()))

    twice = b.pg("SELECT touch_id, count(*) FROM conversions WHERE touch_id > 0"
                 " GROUP BY touch_id HAVING count(*) > 1")
    is_(twice, [], "no touch consumed by two conversions")
    mismatch = b.pg("SELECT t.id FROM touches t LEFT JOIN conversions c ON c.id = t.consumed_by"
                    " WHERE t.consumed_by IS NOT NULL AND (c.id IS NULL OR c.touch_id <> t.id)")
    is_(mismatch, [], "each consumed touch names the conversion that consumed it")
    consumed = int(b.pg("SELECT count(*) FROM touches WHERE consumed_by IS NOT NULL")[0][0])
    is_(consumed, N_WEBHOOKS // 2 if N_WEBHOOKS // 2 <= N_TOUCHES else N_TOUCHES,
        "the matched leads consumed their touches (%d)" % consumed)
    ok(got == want, "TikTok's (event, event_id) set equals the single instance's run (%d)"
       % len(got), "only in the cluster run: %r\nonly in the single run: %r"
       % (sorted(got - want)[:20], sorted(want - got)[:20]))


def test_pause_and_instances_are_shared():
    """A pause asked of one instance holds every instance (it is a row); the resume asked
    of the other sends; each instance's status lists both."""
    if not on_pg():
        print("# SKIP the cluster tests need TTR_STORE_BACKEND=postgresql", flush=True)
        return
    from ttr_harness import PIXEL
    mock = MockTikTok()
    a = Daemon(mock, match={"hold_s": 1}, tiktok=TIKTOK, collect=COLLECT)
    b = Daemon(mock, conninfo=a.conninfo, match={"hold_s": 1}, tiktok=TIKTOK, collect=COLLECT)
    st, resp = a.admin_post("/admin/pixels/%s/pause" % PIXEL, {"reason": "cluster audit"})
    is_((st, (resp or {}).get("status")), (200, "paused"), "paused through instance a")

    def b_paused():
        px = [p for p in b.admin_status().get("pixels") or [] if p.get("pixel") == PIXEL]
        return px and px[0].get("paused") and px[0].get("reason") == "cluster audit"
    ok(wait_until(b_paused, 10, 0.1), "instance b reports the pause with its reason")
    for i in range(6):
        st, _, _ = try_post(lambda d: post_lead(d, 1000 + i), [a, b], i % 2)
        is_(st, 200, "lead %d acknowledged" % i)

    def all_ready():
        c = a.admin_status()["counts"]
        return c.get("ready", 0) == 6
    ok(wait_until(all_ready, 15, 0.1), "all six matched and ready", a.admin_status()["counts"])
    time.sleep(2.0)
    is_(mock.count(), 0, "neither instance sent while paused")
    st, resp = b.admin_post("/admin/pixels/%s/resume" % PIXEL)
    is_((st, (resp or {}).get("was_paused")), (200, True), "resumed through instance b")
    ok(wait_until(lambda: settled(a, 6), 20, 0.1), "all six sent after the resume",
       repr(a.admin_status()["counts"]))
    ids = [ev.get("event_id") for _, ev in mock.events()]
    is_(len(ids), len(set(ids)), "each sent once")

    def both_listed(d):
        st = d.admin_status()
        running = {i.get("id") for i in st.get("instances") or [] if i.get("state") == "running"}
        return a_id in running and b_id in running
    a_id, b_id = a.admin_status().get("instance"), b.admin_status().get("instance")
    ok(a_id and b_id and a_id != b_id, "two instance ids", (a_id, b_id))
    ok(wait_until(lambda: both_listed(a) and both_listed(b), 15, 0.2),
       "each instance's status lists both running", a.admin_status().get("instances"))
    b.stop()
    mock.close()


def test_database_down_ten_seconds_under_load():
    if not on_pg():
        print("# SKIP the cluster tests need TTR_STORE_BACKEND=postgresql", flush=True)
        return
    server = os.environ["TTR_PG_SERVER"]
    own = tempfile.mkdtemp(prefix="ttr-pg-own-")
    # A server of this test's own: the shared one serves the other tests meanwhile.
    out = subprocess.run(["sh", server, "start", own], capture_output=True, text=True, timeout=120)
    ok(out.returncode == 0, "a PostgreSQL server of the test's own", out.stderr)
    try:
        conninfo = pg_createdb("down", pgdir=own)
        mock = MockTikTok()
        a = Daemon(mock, conninfo=conninfo, match={"hold_s": 1}, tiktok=TIKTOK, collect=COLLECT)
        b = Daemon(mock, conninfo=conninfo, match={"hold_s": 1}, tiktok=TIKTOK, collect=COLLECT)
        daemons = [a, b]
        acked, answers, stop = {}, [], threading.Event()
        seq = [0]

        def load():
            while not stop.is_set():
                i = seq[0]
                seq[0] += 1
                d = daemons[i % 2]
                try:
                    st, obj = post_lead(d, 10000 + i)
                except OSError as e:
                    answers.append((i, "error", str(e), None))
                    continue
                answers.append((i, st, None, d.last_headers.get("retry-after")))
                if st == 200 and obj and obj.get("id"):
                    acked[10000 + i] = obj["id"]
                time.sleep(0.02)

        th = threading.Thread(target=load, daemon=True)
        th.start()
        time.sleep(2)
        before = len(acked)
        t0 = time.monotonic()
        subprocess.run(["sh", server, "down", own], check=True, timeout=60)
        time.sleep(4)
        ready_down = [d.request("public", "GET", "/readyz")[0] for d in daemons]
        time.sleep(6)
        subprocess.run(["sh", server, "up", own], check=True, timeout=60)
        diag("database down for %.1f s" % (time.monotonic() - t0))
        time.sleep(4)
        stop.set()
        th.join(20)
        refused = [x for x in answers if x[1] == 503]
        others = [x for x in answers if x[1] not in (200, 503)]
        ok(before > 10, "webhooks acknowledged before the outage (%d)" % before)
        is_(ready_down, [503, 503], "/readyz fails on both instances while the database is down")
        ok(len(refused) > 0, "webhooks answered 503 while the database was down (%d)" % len(refused))
        is_([x for x in refused if not x[3]], [], "every 503 carries Retry-After")
        is_(others, [], "no other answer than 200 or 503 (no crash, no hang)")
        ok(len(acked) > before + 5, "acknowledged again once the database is back (%d in all)"
           % len(acked))
        for d in daemons:
            ok(d.running(), "the instance kept running")
        ok(wait_until(lambda: settled(a, len(acked)), 60),
           "delivery resumed by itself: all %d acknowledged are sent" % len(acked),
           repr(a.admin_status()["counts"]))
        got, batches = mock_view(mock)
        sent_ids = {eid for _, eid in got}
        rows = a.pg("SELECT object_id, event_id FROM conversions WHERE source='leads'")
        by_object = dict((r[0], r[1]) for r in rows)
        missing = [i for i in acked if by_object.get("cl-%d" % i) not in sent_ids]
        is_(missing, [], "nothing acknowledged is lost (%d acknowledged, %d 503)"
            % (len(acked), len(refused)))
        ok(wait_until(lambda: a.request("public", "GET", "/readyz")[0] == 200, 15), "ready again")
        a.stop()
        b.stop()
    finally:
        subprocess.run(["sh", server, "stop", own], capture_output=True, timeout=60)


if __name__ == "__main__":
    if not on_pg():
        # Registered by the integration glob too: on SQLite there is one instance only.
        print("1..0 # SKIP several instances need TTR_STORE_BACKEND=postgresql", flush=True)
        sys.exit(0)
    run_cases([test_two_instances_one_database_survive_sigkills,
               test_pause_and_instances_are_shared,
               test_database_down_ten_seconds_under_load])
