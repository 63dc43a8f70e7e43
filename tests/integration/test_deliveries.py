"""The delivery log (issue 14): every request to /webhooks/* (accepted, duplicate, ignored,
401, 404, 413, 415, 400) is recorded with time, the source id as asked, status, reason and
the sender's delivery id, never the body or a secret; `ttrelayctl deliveries` and
GET /admin/deliveries show it, filtered by source and status."""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ttr_harness import (SECRETS, Daemon, MockTikTok, fixture_bytes, is_, ok,  # noqa: E402
                         post_generic, run_cases, shopify_headers, ttrelayctl_path, wait_until)

MAX_BODY = 16384


def deliveries(d, query=""):
    st, obj = d.admin_get("/admin/deliveries" + query)
    if st != 200:
        raise RuntimeError("GET /admin/deliveries answered %s %r" % (st, obj))
    return obj["deliveries"]


def case_every_status_is_logged():
    mock = MockTikTok()
    d = Daemon(mock, listen={"max_body": MAX_BODY})
    t0 = time.time()
    sent = []

    def expect(status, result, source, reason_part=""):
        sent.append((status, result, source, reason_part))

    st, _ = post_generic(d, "crm", {"id": "dl-1", "email": "a@b.example"})
    is_(st, 200, "accepted")
    expect(200, "accepted", "crm")
    st, _ = post_generic(d, "crm", {"id": "dl-1", "email": "a@b.example"})
    expect(200, "duplicate", "crm")
    raw = fixture_bytes("shopify_test_order.json")
    st, resp = d.post_webhook("shop", raw, shopify_headers(SECRETS["shop"], raw,
                                                           webhook_id="wh-test-1"))
    is_((st, (resp or {}).get("status")), (200, "ignored"), "a Shopify test order is ignored")
    expect(200, "ignored", "shop", (resp or {}).get("reason") or "?")
    st, _ = post_generic(d, "crm", {"id": "dl-3"}, secret="wrong-secret")
    is_(st, 401, "a wrong bearer is refused")
    expect(401, "unauthorized", "crm")
    st, _ = d.post_webhook("shoop", b"{}", {"Content-Type": "application/json"})
    is_(st, 404, "an unknown source id is 404")
    expect(404, "not_found", "shoop", "no source with this id")
    st, _ = d.post_webhook("crm", b"x" * (MAX_BODY + 10),
                           {"Content-Type": "application/json",
                            "Authorization": "Bearer " + SECRETS["crm"]})
    is_(st, 413, "a body over listen.max_body is 413")
    expect(413, "too_large", "crm", "listen.max_body")
    st, _ = d.post_webhook("crm", b"<xml/>", {"Content-Type": "application/xml",
                                                "Authorization": "Bearer " + SECRETS["crm"]})
    is_(st, 415, "an XML body is 415")
    expect(415, "unsupported_media", "crm", "content type")
    st, _ = d.post_webhook("crm", b"{not json", {"Content-Type": "application/json",
                                                  "Authorization": "Bearer " + SECRETS["crm"]})
    is_(st, 400, "malformed JSON is 400")
    expect(400, "bad_request", "crm")
    body = b'{"id": 4242, "total_price": "1.00", "currency": "EUR"}'
    h = shopify_headers(SECRETS["shop"], body, webhook_id="wh-deliv-77")
    h["X-Shopify-Hmac-Sha256"] = "00" * 32
    st, _ = d.post_webhook("shop", body, h)
    is_(st, 401, "a Shopify delivery with a hex signature is refused")
    expect(401, "unauthorized", "shop")

    rows = wait_until(lambda: (lambda r: r if len(r) >= len(sent) else None)(deliveries(d)), 10)
    rows = list(reversed(rows or []))
    is_(len(rows), len(sent), "one delivery row per request")
    for (status, result, source, part), row in zip(sent, rows):
        ok((row["status"], row["result"], row["source"]) == (status, result, source)
           and part in row["reason"]
           and t0 - 1 <= row["time_ms"] / 1000 <= time.time() + 1,
           "logged: %s %s %s" % (status, result, source), row)
    is_(rows[0]["conversion_id"] is not None and rows[0]["conversion_id"] == rows[1]["conversion_id"],
        True, "accepted and duplicate name the same conversion")
    is_(rows[-1]["delivery_id"], "wh-deliv-77", "the sender's delivery id is kept")
    text = json.dumps(rows)
    ok(all(s not in text for s in SECRETS.values()) and "a@b.example" not in text
       and "not json" not in text, "no secret and no body in the log")

    ctl = [ttrelayctl_path(), "-c", d.conf_path, "--url", "http://127.0.0.1:%d" % d.admin_port]
    r = subprocess.run(ctl + ["deliveries", "--status", "404"], capture_output=True, text=True,
                       timeout=30)
    lines = r.stdout.splitlines()
    ok(r.returncode == 0 and len(lines) == 2 and lines[0].split()[:4] ==
       ["TIME", "SOURCE", "STATUS", "RESULT"] and "shoop" in lines[1] and "not_found" in lines[1],
       "ttrelayctl deliveries --status 404 shows the unknown source as asked", r.stdout + r.stderr)
    r = subprocess.run(ctl + ["deliveries", "--source", "shop", "--status", "401"],
                       capture_output=True, text=True, timeout=30)
    lines = r.stdout.splitlines()
    ok(r.returncode == 0 and len(lines) == 2 and "wh-deliv-77" in lines[1],
       "ttrelayctl deliveries --source shop --status 401 shows only that delivery",
       r.stdout + r.stderr)
    is_([x["result"] for x in deliveries(d, "?source=crm&status=200")],
        ["duplicate", "accepted"], "the admin API filters by source and status, newest first")


if __name__ == "__main__":
    run_cases([case_every_status_is_logged])
