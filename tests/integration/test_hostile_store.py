"""Hostile conditions around the store and delivery, against the real daemon (issue 12):
a stuck held queue is reported by /readyz, the WAL stays bounded under a saturating flood,
SIGTERM while the disk stalls answers the waiting webhooks 503 and exits cleanly, a TikTok
message cut inside a UTF-8 character keeps the admin API whole, a store that cannot record
a send makes the forwarder back off, and deleted store files make the daemon not ready.

Where the machine cannot do the real thing (freezing a disk, filling one), the daemon runs
with tests/integration/fault_shim.c preloaded: fsync blocks while a flag file exists, and
writes to the store's files fail with ENOSPC while another one does."""

import http.client
import json
import os
import re
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ttr_harness import (SECRETS, Daemon, MockTikTok, diag, is_, ok, post_generic,  # noqa: E402
                         run_cases, wait_until)

SANITIZER_RE = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|"
                          r"runtime error:|ThreadSanitizer")


def lead(d, object_id, **fields):
    """Posts a generic lead; returns (status, json)."""
    return post_generic(d, "leads", dict({"id": object_id}, **fields))


def readyz(d):
    st, _, body = d.request("public", "GET", "/readyz")
    try:
        return st, json.loads(body)
    except ValueError:
        return st, None


def fault_env(fault_dir):
    """The daemon's environment with the fault shim preloaded (see the module docstring)."""
    shim = os.environ.get("TTR_FAULT_SHIM")
    if not shim or not os.path.exists(shim):
        raise RuntimeError("TTR_FAULT_SHIM is not set to the built fault shim (got %r)" % shim)
    asan = os.environ.get("ASAN_OPTIONS", "")
    # A sanitized daemon wants its runtime first among preloads; the shim only wraps a few
    # system calls, so the order does not matter here.
    return {"LD_PRELOAD": shim, "TTR_FAULT_DIR": fault_dir,
            "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}


def flag(fault_dir, name, on):
    path = os.path.join(fault_dir, name)
    if on:
        open(path, "w").close()
    elif os.path.exists(path):
        os.unlink(path)


def store_path(d):
    return d.config["store"]["path"]


def no_sanitizer_report(d):
    log = d.log_text()
    m = SANITIZER_RE.search(log)
    ok(not m, "no sanitizer report", m and log[m.start():][:2000])


# ---------------------------------------------------------------------------------------
# Defect 7: a TikTok message cut inside a UTF-8 character

def test_cut_utf8_message_keeps_the_admin_api_whole():
    """TikTok's message is kept to 255 bytes; one whose 255th byte is the first half of 'é'
    must still leave a readable dead event and /admin/status, not an empty object."""
    mock = MockTikTok()
    d = Daemon(mock, match={"hold_s": 0})
    message = "x" * 254 + "\u00e9" + "y" * 40
    mock.fail_code(40002, message=message)
    st, resp = lead(d, "utf8-cut-1")
    is_(st, 200, "lead accepted")
    ev = d.wait_event_state(resp["id"], "dead", 30)
    is_(ev.get("state"), "dead", "the rejected event is dead")
    ok(ev.get("last_error", "").startswith("TikTok code 40002: " + "x" * 254),
       "its last_error holds TikTok's message, cut before the split character",
       repr(ev.get("last_error", ""))[:120])
    listed = [e["id"] for e in d.admin_events(state="dead")]
    ok(resp["id"] in listed, "it is listed by /admin/events?state=dead", repr(listed))

    mock.fail_code(40001, message=message)
    st, resp = lead(d, "utf8-cut-2")
    is_(st, 200, "second lead accepted")
    paused = wait_until(lambda: [p for p in d.admin_status().get("pixels", []) if p["paused"]], 30)
    ok(paused and paused[0]["reason"].startswith("TikTok code 40001: " + "x" * 254),
       "/admin/status shows the paused pixel with its reason", repr(d.admin_status())[:300])
    status = d.admin_status()
    ok("counts" in status and status["counts"].get("dead") == 1,
       "/admin/status is whole (counts, one dead)", repr(status)[:300])
    no_sanitizer_report(d)


# ---------------------------------------------------------------------------------------
# Defect 4: the WAL under a saturating flood

WAL_BOUND = 80 << 20        # 16,384 pages of 4 KiB (the writer's hard limit) and a margin
WAL_KEPT = 8 << 20          # journal_size_limit: what a restarted WAL is cut back to


def flood_collect(d, first, n, workers, codes):
    """Posts n distinct beacons (an email each: touch, visitor, visitor key) from workers
    keep-alive connections, each beacon from its own address."""
    lock = threading.Lock()

    def worker(k):
        conn = None
        for i in range(first + k, first + n, workers):
            body = json.dumps({"vid": "vf%d" % i, "event": "ViewContent", "event_id": "evf-%d" % i,
                               "email": "flood%d@example.com" % i,
                               "url": "https://shop.example/p/%d" % i})
            h = {"Content-Type": "application/json", "Origin": "https://shop.example",
                 "X-Forwarded-For": "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255)}
            for _ in range(3):
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", d.public_port, timeout=60)
                    conn.request("POST", "/collect", body, h)
                    resp = conn.getresponse()
                    resp.read()
                    status = resp.status
                    break
                except (OSError, http.client.HTTPException):
                    conn = None
                    status = "error"
            with lock:
                codes[status] = codes.get(status, 0) + 1
        if conn:
            conn.close()

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(workers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(900)


def test_wal_stays_bounded_under_a_saturating_flood():
    """12,000 back-to-back beacons left a 595 MB -wal behind (only passive checkpoints ran,
    so the WAL never restarted). The writer now restarts it every ~1,024 pages and, past
    16,384, makes ingest wait for readers rather than let the file grow."""
    mock = MockTikTok()
    d = Daemon(mock, collect={"allowed_origins": ["https://shop.example"],
                              "trusted_proxies": ["127.0.0.1"], "rate_per_s": 1e6, "burst": 1000000})
    wal = store_path(d) + "-wal"
    sizes, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            try:
                sizes.append(os.path.getsize(wal))
            except OSError:
                pass
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    n, codes = 12000, {}
    t0 = time.monotonic()
    try:
        flood_collect(d, 0, n, 8, codes)
    finally:
        stop.set()
        watcher.join(5)
    diag("%d beacons in %.1f s; WAL at most %.1f MiB"
         % (n, time.monotonic() - t0, max(sizes or [0]) / 1048576.0))
    is_(codes, {204: n}, "every beacon is stored (204)")
    is_(d.admin_status().get("touches"), n, "and every touch is in the store")
    ok(sizes and max(sizes) <= WAL_BOUND, "the WAL never passed %d MiB (at most %.1f MiB)"
       % (WAL_BOUND >> 20, max(sizes or [0]) / 1048576.0))
    is_(d.post_collect({"vid": "v-after", "event": "ViewContent", "event_id": "ev-after"}), 204,
        "one more beacon")
    ok(wait_until(lambda: os.path.getsize(wal) <= WAL_KEPT + (1 << 20), 30),
       "then the WAL file is cut back to journal_size_limit (%.1f MiB)"
       % (os.path.getsize(wal) / 1048576.0))
    is_(d.stop(), 0, "SIGTERM: exit 0")
    no_sanitizer_report(d)


# ---------------------------------------------------------------------------------------
# Defect 6: SIGTERM while webhooks wait on a stalled disk

def post_in_thread(d, object_id, results, i):
    body = json.dumps({"id": object_id}).encode()
    h = {"Content-Type": "application/json", "Authorization": "Bearer " + SECRETS["leads"]}
    try:
        results[i] = d.request("public", "POST", "/webhooks/leads", body, h, timeout=60)[0]
    except Exception as e:  # noqa: BLE001 - the status is the assertion
        results[i] = repr(e)


def test_sigterm_while_the_disk_stalls_answers_waiting_webhooks_503():
    """Webhooks wait, suspended, for a group commit that hangs in fdatasync. SIGTERM used to
    abort the process (libmicrohttpd: MHD_stop_daemon() called while we have suspended
    connections). Now each waiting webhook is answered 503 (its sender retries), and the
    process exits 0 once the disk answers, or 1 within a bound when it never does."""
    fault_dir = os.path.join(os.environ.get("TMPDIR", "/tmp"), "ttr-stall-%d" % os.getpid())
    os.makedirs(fault_dir, exist_ok=True)
    mock = MockTikTok()
    d = Daemon(mock, env=fault_env(fault_dir), match={"hold_s": 0})
    n = 4
    try:
        st, resp = lead(d, "term-0")
        is_(st, 200, "a lead before the stall is accepted")
        is_(d.wait_event_state(resp["id"], "sent", 30).get("state"), "sent", "and sent")
        flag(fault_dir, "stall", True)
        results = [None] * n
        threads = [threading.Thread(target=post_in_thread, args=(d, "term-%d" % (i + 1), results, i),
                                    daemon=True) for i in range(n)]
        for th in threads:
            th.start()
        time.sleep(1.5)
        ok(all(r is None for r in results), "%d webhooks wait for the stalled commit" % n, repr(results))
        t0 = time.monotonic()
        d.kill()                                         # SIGTERM
        for th in threads:
            th.join(60)
        diag("answered after %.1f s" % (time.monotonic() - t0))
        is_(results, [503] * n, "each waiting webhook is answered 503")
        ok(d.running(), "the process waits for the disk to flush the store")
    finally:
        flag(fault_dir, "stall", False)
    try:
        rc = d.proc.wait(60)
    except Exception:  # noqa: BLE001
        rc = None
    is_(rc, 0, "once the disk answers it exits 0")
    log = d.log_text()
    ok("suspended connections" not in log and "Aborted" not in log, "no libmicrohttpd abort",
       log[-2000:])
    no_sanitizer_report(d)
    d.start()
    got = [lead(d, "term-%d" % (i + 1)) for i in range(n)]
    ok(all(st == 200 and r.get("status") in ("accepted", "duplicate") for st, r in got),
       "after a restart the senders' retries are accepted (or duplicates)", repr(got))

    # A disk that never answers: the process still exits, within a bound, with status 1.
    flag(fault_dir, "stall", True)
    try:
        results = [None]
        th = threading.Thread(target=post_in_thread, args=(d, "term-frozen", results, 0), daemon=True)
        th.start()
        time.sleep(1.5)
        t0 = time.monotonic()
        d.kill()
        th.join(60)
        is_(results, [503], "the waiting webhook is answered 503")
        try:
            rc = d.proc.wait(90)
        except Exception:  # noqa: BLE001
            rc = None
        diag("exited after %.1f s" % (time.monotonic() - t0))
        is_(rc, 1, "with the disk frozen for good it exits 1")
        ok("stopped without flushing the store" in d.log_text(), "and says why")
    finally:
        flag(fault_dir, "stall", False)
    no_sanitizer_report(d)
    os.rmdir(fault_dir)


# ---------------------------------------------------------------------------------------
# Defect 1 (readiness half): a stuck held queue

def test_readyz_reports_held_conversions_far_past_their_due_time():
    """Matching that cannot progress (here: another process holds the database's write
    lock, so no promotion can commit) left /readyz ready while nothing was sent. A held
    conversion far past its due time now makes the daemon not ready, until it moves."""
    mock = MockTikTok()
    d = Daemon(mock, match={"hold_s": 86400})
    st, resp = lead(d, "stuck-1")
    is_(st, 200, "lead accepted and held")
    is_(d.stop(), 0, "stopped")
    db = sqlite3.connect(store_path(d), isolation_level=None)
    db.execute("UPDATE conversions SET due_ms=? WHERE state=0", (int(time.time() * 1000) - 3600000,))
    db.execute("BEGIN IMMEDIATE")   # held until released below: nothing can be promoted
    try:
        d.start()
        got = wait_until(lambda: readyz(d), 1)
        last = [None]

        def stuck():
            last[0] = readyz(d)
            return last[0][0] == 503 and any("held conversions overdue" in r
                                             for r in last[0][1].get("reasons", []))
        ok(wait_until(stuck, 20), "/readyz: 503, held conversions overdue", repr(last[0] or got))
        is_(d.admin_event(resp["id"]).get("state"), "held", "the conversion is still held")
    finally:
        db.execute("ROLLBACK")
        db.close()
    evs = mock.wait_for_events(1, 60)
    is_(len(evs), 1, "once the lock is gone the conversion is sent")
    ok(wait_until(lambda: readyz(d)[0] == 200, 20), "and /readyz is ready again", repr(readyz(d)))
    no_sanitizer_report(d)


# ---------------------------------------------------------------------------------------
# Defect 8: a store that cannot record a send

def test_store_that_cannot_record_a_send_makes_the_forwarder_back_off():
    """TikTok accepted the batch but the disk was full, so store_mark_sent failed and its
    result was ignored: the batch was resent every 200 ms. Now the pixel backs off
    (retry_base_ms doubling) and readiness says the store is not writable."""
    fault_dir = os.path.join(os.environ.get("TMPDIR", "/tmp"), "ttr-fault-%d" % os.getpid())
    os.makedirs(fault_dir, exist_ok=True)
    mock = MockTikTok()
    d = Daemon(mock, env=fault_env(fault_dir), match={"hold_s": 0},
               tiktok={"retry_base_ms": 1000, "retry_cap_ms": 4000})
    try:
        mock.slow(2.0)                      # the first batch is answered 200/0 after 2 s
        st, resp = lead(d, "full-1")
        is_(st, 200, "lead accepted")
        is_(len(mock.wait_for_requests(1, 30)), 1, "its batch is on its way to TikTok")
        flag(fault_dir, "full", True)       # the disk fills while TikTok answers
        time.sleep(2.5)
        n0 = mock.count()
        time.sleep(6)
        resent = mock.count() - n0
        diag("batches sent in 6 s with the disk full: %d" % resent)
        # The batch is claimed while it is sent; a new claim is a write, so with the disk full
        # nothing is resent at all (before: every 200 ms).
        ok(resent <= 5, "the batch is not resent every pass (%d in 6 s)" % resent)
        code, body = readyz(d)
        ok(code == 503 and "store not writable" in (body or {}).get("reasons", []),
           "/readyz: 503, store not writable", repr((code, body)))
        st, _ = lead(d, "full-2")
        is_(st, 503, "a webhook meanwhile is not acknowledged (503)")
        ok("store cannot record a batch's outcome" in d.log_text(), "the failure is logged")
    finally:
        flag(fault_dir, "full", False)
    ev = d.wait_event_state(resp["id"], "sent", 30)
    is_(ev.get("state"), "sent", "with space again the event is recorded as sent")
    ok(wait_until(lambda: readyz(d)[0] == 200, 20), "and /readyz is ready again", repr(readyz(d)))
    st, _ = lead(d, "full-2")
    is_(st, 200, "and the refused webhook is accepted when resent")
    is_(d.stop(), 0, "SIGTERM: exit 0")
    no_sanitizer_report(d)
    os.rmdir(fault_dir)


# ---------------------------------------------------------------------------------------
# Defect 12: store files deleted at run time

def test_deleted_store_files_make_the_daemon_not_ready_and_refuse_webhooks():
    """Before, webhooks were acknowledged into the deleted inode (lost at restart) and
    /readyz stayed ready."""
    mock = MockTikTok()
    d = Daemon(mock, match={"hold_s": 0})
    st, _ = lead(d, "del-1")
    is_(st, 200, "lead accepted")
    is_(len(mock.wait_for_events(1, 30)), 1, "and sent")
    path = store_path(d)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    code, body = readyz(d)
    ok(code == 503 and any("store files deleted" in r for r in (body or {}).get("reasons", [])),
       "/readyz: 503, store files deleted", repr((code, body)))
    st, _ = lead(d, "del-2")
    is_(st, 503, "a webhook is not acknowledged into the deleted files (503)")
    st, _, _ = d.request("public", "GET", "/healthz")
    is_(st, 200, "/healthz still answers (the process is alive)")
    is_(d.stop(), 0, "SIGTERM: exit 0")
    d.start()
    ok(wait_until(lambda: readyz(d)[0] == 200, 20), "after a restart the store is recreated: ready")
    st, resp = lead(d, "del-2")
    is_((st, (resp or {}).get("status")), (200, "accepted"), "and the refused webhook is accepted")
    no_sanitizer_report(d)


if __name__ == "__main__":
    run_cases([
        test_cut_utf8_message_keeps_the_admin_api_whole,
        test_readyz_reports_held_conversions_far_past_their_due_time,
        test_wal_stays_bounded_under_a_saturating_flood,
        test_sigterm_while_the_disk_stalls_answers_waiting_webhooks_503,
        test_store_that_cannot_record_a_send_makes_the_forwarder_back_off,
        test_deleted_store_files_make_the_daemon_not_ready_and_refuse_webhooks,
    ])
