"""Hostile conditions around the store and delivery, against the real daemon (issue 12):
a stuck held queue is reported by /readyz, the WAL stays bounded under a saturating flood,
SIGTERM while the disk stalls answers the waiting webhooks 503 and exits cleanly, a TikTok
message cut inside a UTF-8 character keeps the admin API whole, a store that cannot record
a send makes the forwarder back off, and deleted store files make the daemon not ready.

Where the machine cannot do the real thing (freezing a disk, filling one), the daemon runs
with tests/integration/fault_shim.c preloaded: fsync blocks while a flag file exists, and
writes to the store's files fail with ENOSPC while another one does."""

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


if __name__ == "__main__":
    run_cases([
        test_cut_utf8_message_keeps_the_admin_api_whole,
    ])
