"""Log lines that say how to fix things (issue 14), read from the real daemon's log: the
origin refused on /collect and the key that allows it, curl's words when TikTok cannot be
reached, the hint for a Shopify signature in hex, the system's reason when the store cannot
be opened, journal priorities when stderr is the journal, and repeated refusals limited in
the log while every one is still counted."""

import base64
import hashlib
import hmac
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ttr_harness import (SECRETS, Daemon, MockTikTok, is_, ok, post_generic,  # noqa: E402
                         run_cases, shopify_headers, ttrelayd_path, wait_until)


def lines(d, msg_part):
    return [l for l in d.log_text().splitlines() if msg_part in l]


def metric(d, name, labels):
    st, _, body = d.request("admin", "GET", "/metrics", None, d._admin_headers())
    want = "%s{%s} " % (name, labels)
    for l in body.decode().splitlines():
        if l.startswith(want):
            return float(l.split()[-1])
    return 0.0


def case_collect_403_names_origin_and_key():
    mock = MockTikTok()
    d = Daemon(mock)
    st = d.post_collect({"vid": "a" * 32, "event": "ViewContent"}, origin="https://shop.example.net")
    is_(st, 403, "an origin not listed is refused")
    got = wait_until(lambda: lines(d, "collect refused: origin not allowed"), 5)
    ok(got and "origin=https://shop.example.net" in got[0] and
       "key=collect.allowed_origins" in got[0] and "add it to collect.allowed_origins" in got[0],
       "the line names the origin and the key that allows it", got)


def case_tiktok_unreachable_gives_curls_words():
    mock = MockTikTok()
    mock.stop()  # nothing listens on its port now
    d = Daemon(mock, match={"hold_s": 0})
    st, resp = post_generic(d, "crm", {"id": "log-unreach-1", "email": "a@b.example"})
    is_(st, 200, "webhook accepted")
    got = wait_until(lambda: lines(d, "batch will be retried"), 10)
    ok(got and 'msg="batch will be retried: TikTok not reached"' in got[0]
       and re.search(r'error="[^"]*(connect|Connection refused)', got[0], re.I),
       "the retry line carries curl's error text", got)
    ok(got and "http=0" not in got[0] and "code=error" not in got[0],
       "no http=0 code=error", got)
    ev = d.admin_event(resp["id"])
    ok(re.search("connect|refused", ev.get("last_error", ""), re.I), "the event's last_error too",
       ev.get("last_error"))
    mock.start()
    mock.fail_http(503, n=1, message="mock outage")
    d.reload()
    got = wait_until(lambda: [l for l in lines(d, "batch will be retried") if "http=503" in l], 15)
    ok(got and 'message="mock outage' in got[0] and "code=50000" in got[0],
       "an HTTP failure still gives the status, and TikTok's message", got)


def case_shopify_hex_signature_hint():
    mock = MockTikTok()
    d = Daemon(mock)
    body = b'{"id":4242,"total_price":"1.00","currency":"EUR"}'
    h = shopify_headers(SECRETS["shop"], body, webhook_id="wh-hex-1")
    h["X-Shopify-Hmac-Sha256"] = hmac.new(SECRETS["shop"].encode(), body,
                                          hashlib.sha256).hexdigest()
    st, _ = d.post_webhook("shop", body, h)
    is_(st, 401, "the right HMAC in hex is still refused")
    got = wait_until(lambda: lines(d, "webhook refused: bad signature"), 5)
    ok(got and "it is hex, Shopify signs in base64" in got[0], "the line says base64, not hex",
       got)
    h["X-Shopify-Hmac-Sha256"] = base64.b64encode(b"x" * 32).decode()
    st, _ = d.post_webhook("shop", body, dict(h, **{"X-Shopify-Webhook-Id": "wh-hex-2"}))
    rows = wait_until(lambda: (lambda r: r if len(r) >= 2 else None)(
        d.admin_get("/admin/deliveries?source=shop")[1]["deliveries"]), 5) or []
    is_([r["reason"] for r in rows],
        ["bad X-Shopify-Hmac-Sha256",
         "bad X-Shopify-Hmac-Sha256: it is hex, Shopify signs in base64 (of the raw HMAC-SHA256 "
         "bytes of the exact body)"],
        "the delivery log has the hint for the hex one only")


def case_store_open_gives_system_error():
    mock = MockTikTok()
    d = Daemon(mock, start=False)
    db = os.path.join(d.dir, "store-is-a-dir")
    os.mkdir(db)
    d.config["store"]["path"] = db
    d.write_config()
    with open(d.log_path, "ab") as logf:
        p = subprocess.run([ttrelayd_path(), "-c", d.conf_path], stdin=subprocess.DEVNULL,
                           stdout=logf, stderr=logf, cwd=d.dir, timeout=20)
    ok(p.returncode != 0, "the daemon does not start")
    got = lines(d, "cannot open the store")
    ok(got and "Is a directory" in got[0], "the line gives the system's reason", got)


def journal_daemon(mock, match_stderr):
    d = Daemon(mock, start=False)
    open(d.log_path, "ab").close()
    st = os.stat(d.log_path if match_stderr else d.conf_path)
    os.environ["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
    try:
        d.start()
    finally:
        del os.environ["JOURNAL_STREAM"]
    return d


def case_journal_priorities():
    mock = MockTikTok()
    d = journal_daemon(mock, True)
    post_generic(d, "crm", {"id": "j-1"}, secret="wrong")
    wait_until(lambda: lines(d, "bad signature"), 5)
    text = d.log_text().splitlines()
    ok(text and all(re.match(r"<[3467]>ts=", l) for l in text), "every line has a <N> prefix",
       text[:3])
    ok(any(l.startswith("<6>") and "level=info" in l for l in text) and
       any(l.startswith("<4>") and "level=warn" in l for l in text),
       "info is <6>, warn is <4>", text)
    d2 = journal_daemon(mock, False)
    text = d2.log_text().splitlines()
    ok(text and all(l.startswith("ts=") for l in text),
       "no prefix when JOURNAL_STREAM names another file than stderr", text[:2])


def case_refusals_limited_in_log_not_counters():
    mock = MockTikTok()
    d = Daemon(mock)
    n = 30
    for i in range(n):
        st, _ = post_generic(d, "crm", {"id": "rl-%d" % i}, secret="wrong-secret")
    is_(st, 401, "bad bearer refused")
    for i in range(n):
        d.post_webhook("nosuch-%d" % i, b"{}", {"Content-Type": "application/json"})
    time.sleep(0.3)
    bad = lines(d, "webhook refused: bad signature")
    is_(len(bad), 1, "%d refusals for one source: one log line" % n)
    unknown = lines(d, "webhook for unknown source")
    is_(len(unknown), 20, "%d unknown ids: at most 20 lines per message in the window" % n)
    is_(metric(d, "ttrelay_webhooks_total", 'source="crm",result="unauthorized"'), float(n),
        "the counter has every refusal")
    rows = wait_until(lambda: (lambda r: r if len(r) >= n else None)(
        d.admin_get("/admin/deliveries?status=401&limit=1000")[1]["deliveries"]), 5) or []
    is_(len(rows), n, "the delivery log has every refusal")
    time.sleep(10.3)
    post_generic(d, "crm", {"id": "rl-after"}, secret="wrong-secret")
    d.post_webhook("nosuch-after", b"{}", {"Content-Type": "application/json"})
    bad = wait_until(lambda: (lambda b: b if len(b) >= 2 else None)(
        lines(d, "webhook refused: bad signature")), 5) or []
    ok(len(bad) == 2 and "suppressed=%d" % (n - 1) in bad[1],
       "after 10 s the next line counts what was left out", bad)
    unknown = lines(d, "webhook for unknown source")
    ok(len(unknown) == 21 and "suppressed_other=%d" % (n - 20) in unknown[-1],
       "and the lines left out for other keys", unknown[-1:])


if __name__ == "__main__":
    run_cases([case_collect_403_names_origin_and_key,
               case_tiktok_unreachable_gives_curls_words,
               case_shopify_hex_signature_hint,
               case_store_open_gives_system_error,
               case_journal_priorities,
               case_refusals_limited_in_log_not_counters])
