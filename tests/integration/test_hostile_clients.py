"""Hostile clients against the real daemon (issue 12): a beacon whose User-Agent is not
UTF-8, an X-Forwarded-For longer than any fixed buffer, bodies dripped one byte at a time,
a backward step of the wall clock (libfaketime), phone numbers in page URLs, form keys
holding an email, a generic lead with over-long context fields, and source ids with
control bytes. Each case reproduces the attack and asserts the fixed behaviour."""

import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ttr_harness import (SECRETS, Daemon, MockTikTok, diag, is_, ok, post_generic,  # noqa: E402
                         run_cases, wait_until)

ORIGIN = "https://shop.example"
SANITIZER_RE = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|"
                          r"runtime error:|ThreadSanitizer")


def no_sanitizer_report(d):
    log = d.log_text()
    m = SANITIZER_RE.search(log)
    ok(not m, "no sanitizer report", m and log[m.start():][:2000])


def touches(d, vid):
    st, obj = d.admin_get("/admin/touches?vid=" + vid)
    return (obj or {}).get("touches") or [] if st == 200 else []


def raw_request(port, head, body=b"", timeout=10):
    """Sends head (the request line and header lines, without the blank line) and body on
    a fresh connection; returns the status, or None when the daemon closed first."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return int(m.group(1)) if m else None


def utf8_ok(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


# ---------------------------------------------------------------------------------------
# Defect 1 (ingest half): a beacon whose User-Agent is not UTF-8

def test_beacon_user_agent_that_is_not_utf8_cannot_poison_its_visitor():
    """Before: the raw bytes were stored, TikTok's payload could not be built, and every
    conversion carrying the visitor's vid stayed held for ever. Now header text is checked
    like webhook fields: unclean values are dropped, long ones cut between characters."""
    mock = MockTikTok()
    d = Daemon(mock, match={"hold_s": 1})
    cases = [
        ("v-ua-bad", b"Mozilla/5.0 \xff\xfe\xc3", ""),
        ("v-ua-ctl", b"Mozilla/5.0\x01(X11)", ""),
    ]
    long_ua = ("Mozilla/5.0 " + "\u00e9" * 400).encode()  # 812 bytes: cut inside 'é' at 511
    for vid, ua, _ in cases + [("v-ua-long", long_ua, None)]:
        st = d.post_collect({"vid": vid, "event": "SubmitForm", "event_id": "ev-" + vid},
                            headers={"User-Agent": ua, "X-Forwarded-For": "198.51.100.20"})
        is_(st, 204, "beacon with User-Agent %r… is answered 204" % ua[:16])
    for vid, _, want in cases:
        t = touches(d, vid)
        ok(t and t[0]["user_agent"] == want, "%s: the unclean User-Agent is dropped" % vid, repr(t))
    t = touches(d, "v-ua-long")
    ua = t[0]["user_agent"].encode() if t else b""
    ok(t and 0 < len(ua) <= 511 and utf8_ok(ua) and ua.startswith(b"Mozilla/5.0 \xc3\xa9"),
       "a long User-Agent is cut between characters (%d bytes)" % len(ua))
    ids = {}
    for vid, _, _ in cases + [("v-ua-long", None, None)]:
        st, resp = post_generic(d, "leads", {"id": "lead-" + vid, "vid": vid})
        is_(st, 200, "a lead carrying %s is accepted" % vid)
        ids[resp["id"]] = vid
    evs = mock.wait_for_events(3, 30)
    is_(len(evs), 3, "all three leads reach TikTok, none stays held")
    sent = {ev["event_id"]: ev for _, ev in evs}
    for vid, _, _ in cases:
        ev = sent.get("ev-" + vid)
        ok(ev is not None and "user_agent" not in ev.get("user", {}),
           "%s: matched to its beacon, sent without a user_agent" % vid, repr(ev))
    ev = sent.get("ev-v-ua-long")
    ok(ev is not None and ev["user"].get("user_agent", "").encode() == ua,
       "the cut User-Agent is what TikTok gets")
    is_(d.admin_status()["counts"]["held"], 0, "nothing is left held")
    no_sanitizer_report(d)


# ---------------------------------------------------------------------------------------
# Defect 2: X-Forwarded-For longer than 1,023 bytes

def test_long_x_forwarded_for_cannot_choose_the_client_address():
    """The proxy (127.0.0.1, trusted) appends the real address after whatever the client
    sent. Before, the header was cut at 1,023 bytes, so a client could pad it to end the
    cut copy with an address of its choice and dodge the per-address rate limit."""
    mock = MockTikTok()
    rate, burst = 1.0, 3
    d = Daemon(mock, collect={"allowed_origins": [ORIGIN], "trusted_proxies": ["127.0.0.1"],
                              "rate_per_s": rate, "burst": burst})
    real = "198.51.100.7"
    got = []
    for i in range(burst + 5):
        chosen = "6.6.6.%d" % (i + 1)
        head = ", ".join(["10.9.8.7"] * 100)
        pad = 1023 - len(head) - len(", ") - len(chosen)
        client_part = head + ", " + " " * pad + chosen      # exactly 1,023 bytes
        assert len(client_part) == 1023
        xff = client_part + ", " + real
        got.append(d.post_collect({"vid": "v-xff", "event": "ViewContent",
                                   "event_id": "ev-xff-%d" % i},
                                  headers={"X-Forwarded-For": xff}))
    is_(got[:burst], [204] * burst, "the first %d beacons pass" % burst)
    ok(all(g == 429 for g in got[burst + 1:]),
       "then the real address is rate limited, whatever the client padded in", repr(got))
    ips = {t["ip"] for t in touches(d, "v-xff")}
    is_(ips, {real}, "every stored touch carries the address the proxy appended")
    # Several X-Forwarded-For lines: the last one is the proxy's.
    st = raw_request(d.public_port,
                     b"POST /collect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 203.0.113.77\r\n",
                     json.dumps({"vid": "v-xff2", "event": "ViewContent",
                                 "event_id": "ev-xff2"}).encode())
    is_(st, 204, "beacon with two X-Forwarded-For lines")
    is_([t["ip"] for t in touches(d, "v-xff2")], ["203.0.113.77"], "the last line's address is kept")
    # One IPv6 subscriber rotating through its /64 is one client.
    got = [d.post_collect({"vid": "v-xff6", "event": "ViewContent", "event_id": "ev6-%d" % i},
                          headers={"X-Forwarded-For": "2001:db8:1:2::%x" % (i + 1)})
           for i in range(burst + 3)]
    ok(got[:burst] == [204] * burst and all(g == 429 for g in got[burst + 1:]),
       "addresses of one IPv6 /64 share one limit", repr(got))
    no_sanitizer_report(d)


# ---------------------------------------------------------------------------------------
# Defect 11: control bytes in a source id

def test_source_id_with_control_bytes_is_404():
    """libmicrohttpd decoded %00 into a NUL that ended the path, so /webhooks/crm%00x
    reached the source crm."""
    mock = MockTikTok()
    d = Daemon(mock)
    body = json.dumps({"id": "nul-1"}).encode()
    h = {"Content-Type": "application/json", "Authorization": "Bearer " + SECRETS["crm"]}
    for path in ("crm%00x", "crm%00", "crm%0a", "crm%0D%0A", "crm%7f", "crm%1f"):
        st, _ = d.post_webhook(path, body, h)
        is_(st, 404, "/webhooks/%s → 404" % path)
    st, resp = d.post_webhook("cr%6D", body, h)
    is_((st, (resp or {}).get("status")), (200, "accepted"),
        "an ordinary escape still decodes (/webhooks/cr%6D is crm)")
    is_(d.admin_status()["counts"]["held"] + d.admin_status()["counts"]["ready"] +
        d.admin_status()["counts"]["sent"], 1, "only that one was stored")
    no_sanitizer_report(d)


if __name__ == "__main__":
    run_cases([
        test_beacon_user_agent_that_is_not_utf8_cannot_poison_its_visitor,
        test_long_x_forwarded_for_cannot_choose_the_client_address,
        test_source_id_with_control_bytes_is_404,
    ])
