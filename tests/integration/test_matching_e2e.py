"""Matching end to end: browser touches posted to /collect, then webhooks; the server event
must reuse the touch's event name and event_id (or the deterministic id when nothing
matches), a touch is consumed by one conversion only, and /collect enforces CORS and JSON."""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ttr_harness import (ORIGIN, SECRETS, Daemon, MockTikTok, default_event_id,  # noqa: E402
                         diag, email_hash, fixture_bytes, is_, iso_offset, ok, retime,
                         run_cases, shopify_headers, ttrelayctl_path, ttrelayd_path)

BROWSER_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 " \
             "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
BROWSER_IP = "198.51.100.23"


def order_body(order_id=None, name=None, email=None, drop_vid=True):
    """The Shopify orders/paid fixture, processed a minute ago; optionally another order
    id/name/email. drop_vid removes the storefront's ttr_vid cart attribute."""
    t = int(time.time()) - 60
    raw = retime(fixture_bytes("shopify_orders_paid.json"),
                 {"processed_at": iso_offset(t, -5), "created_at": iso_offset(t - 2, -5)})
    if order_id is None and name is None and email is None and not drop_vid:
        return raw
    o = json.loads(raw)
    if drop_vid:
        o["note_attributes"] = [a for a in o.get("note_attributes") or [] if a["name"] != "ttr_vid"]
    if order_id is not None:
        o["id"] = order_id
        for k in ("checkout_token", "cart_token", "token", "checkout_id", "order_number", "number"):
            o.pop(k, None)
    if name is not None:
        o["name"] = name
    if email is not None:
        o["email"] = o["contact_email"] = email
        o["customer"]["email"] = email
    return json.dumps(o).encode()


def post_order(d, raw, webhook_id):
    st, resp = d.post_webhook("shop", raw, shopify_headers(SECRETS["shop"], raw, webhook_id=webhook_id))
    is_((st, (resp or {}).get("status")), (200, "accepted"), "order %s accepted" % webhook_id)
    return (resp or {}).get("id")


def touch(d, obj, content_type="application/json", ip=BROWSER_IP, ua=BROWSER_UA, origin=ORIGIN):
    return d.post_collect(obj, headers={"X-Forwarded-For": ip, "User-Agent": ua},
                          content_type=content_type, origin=origin)


def touches_of(d, vid):
    st, obj = d.admin_get("/admin/touches?vid=" + vid)
    return (obj or {}).get("touches") or [] if st == 200 else None


def ctl(d, *args):
    exe = ttrelayctl_path() or os.path.join(os.path.dirname(ttrelayd_path()), "ttrelayctl")
    p = subprocess.run([exe, "-c", d.conf_path, "--url", "http://127.0.0.1:%d" % d.admin_port]
                       + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def test_touch_with_order_id_gives_pixel_event_and_id():
    """The Shopify custom pixel reports checkout.order.id: an unguessable reference."""
    mock = MockTikTok()
    d = Daemon(mock, match={"hold_s": 1})
    st = touch(d, {"vid": "v-m1", "event": "Purchase", "event_id": "pix-1",
                   "order_id": "820982911946154508",
                   "ttclid": "E.C.P.touch", "ttp": "ttp-touch-1",
                   "url": "https://shop.example/thanks?ttclid=E.C.P.touch", "value": 388, "currency": "USD"})
    is_(st, 204, "/collect answers 204")
    is_(d.last_headers.get("access-control-allow-origin"), ORIGIN, "CORS allow header for the shop origin")
    eid = post_order(d, order_body(), "wh-m1")
    evs = mock.wait_for_events(1, 10)
    if not is_(len(evs), 1, "one event sent"):
        return
    ev = evs[0][1]
    is_((ev.get("event"), ev.get("event_id")), ("Purchase", "pix-1"),
        "server event reuses the touch's event name and event_id")
    is_((ev.get("user") or {}).get("ttp"), "ttp-touch-1", "the visitor's _ttp enriches the event")
    is_((ev.get("user") or {}).get("ttclid"), "E.C.P.touch", "the visitor's latest ttclid is sent")
    is_((ev.get("properties") or {}).get("order_id"), "820982911946154508", "order_id stays the order id")
    e = d.admin_event(eid)
    is_(e.get("matched_by"), "order_ref", "matched_by order_ref")
    ok(e.get("touch_id"), "touch_id recorded", repr(e.get("touch_id")))
    ts = touches_of(d, "v-m1") or []
    is_([(t.get("event_id"), t.get("consumed_by")) for t in ts], [("pix-1", eid)],
        "the touch is marked consumed by this event")


def test_forged_order_name_is_refused():
    """Anyone can post a beacon naming the next order number; alone it links nothing, and
    the refusal is explained by the admin API, ttrelayctl show and report."""
    mock = MockTikTok()
    d = Daemon(mock, match={"hold_s": 1})
    st = touch(d, {"vid": "v-forger", "event": "CompletePayment", "event_id": "pix-forged",
                   "order_id": "#9999", "ttclid": "E.C.P.forged"},
               ip="192.0.2.66", ua="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
    is_(st, 204, "the forged beacon is accepted like any beacon")
    eid = post_order(d, order_body(), "wh-forged")
    evs = mock.wait_for_events(1, 10)
    if not is_(len(evs), 1, "one event sent"):
        return
    ev = evs[0][1]
    is_(ev.get("event_id"), default_event_id("shop", "order", "820982911946154508"),
        "the order keeps its own deterministic id, not the forger's")
    ok((ev.get("user") or {}).get("ttclid") != "E.C.P.forged", "nor the forger's click id",
       ev.get("user"))
    e = d.admin_event(eid)
    m = e.get("match") or {}
    is_((e.get("matched_by"), m.get("decision"), m.get("refusal")), ("none", "refused", "guessable"),
        "the admin API records the refusal and its reason")
    cands = m.get("candidates") or []
    is_([(c.get("event_id"), c.get("outcome")) for c in cands], [("pix-forged", "guessable")],
        "the forged touch is listed as a candidate refused for its guessable reference")
    rc, out, err = ctl(d, "show", str(eid))
    ok(rc == 0 and "refused: guessable" in out and
       "a guessable order reference (#9999) that no other key links to this order" in out,
       "ttrelayctl show explains the refusal in words", out + err)
    rc, out, err = ctl(d, "report")
    line = [ln for ln in out.splitlines() if ln.startswith("shop") and "order" in ln]
    ok(rc == 0 and "refused matches" in out and len(line) == 4 and line[2].split()[2] == "1",
       "ttrelayctl report counts the refusal", out + err)
    st, text = d.request("admin", "GET", "/metrics", None, d._admin_headers())[0::2]
    body = text.decode() if isinstance(text, bytes) else str(text)
    ok('ttrelay_match_refusals_total{reason="guessable"} 1' in body,
       "/metrics counts refusals by reason")


def test_no_touch_gives_deterministic_id():
    mock = MockTikTok()
    d = Daemon(mock, match={"hold_s": 1})
    st = touch(d, {"vid": "v-other", "event": "Purchase", "event_id": "pix-other",
                   "order_id": "#5555", "email": "someone@else.example"},
               ip="192.0.2.99", ua="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
    is_(st, 204, "unrelated touch stored")
    eid = post_order(d, order_body(), "wh-none")
    evs = mock.wait_for_events(1, 10)
    if not is_(len(evs), 1, "one event sent"):
        return
    ev = evs[0][1]
    is_((ev.get("event"), ev.get("event_id")),
        ("CompletePayment", default_event_id("shop", "order", "820982911946154508")),
        "no matching touch → configured name and deterministic event_id")
    is_(d.admin_event(eid).get("matched_by"), "none", "matched_by none")


def test_touch_arriving_during_hold_matches_by_email():
    mock = MockTikTok()
    d = Daemon(mock, match={"hold_s": 3})
    t_post = time.time()
    eid = post_order(d, order_body(), "wh-late")
    time.sleep(0.5)
    is_(mock.count(), 0, "nothing sent during the hold")
    st = touch(d, {"vid": "v-late", "event": "CompletePayment", "event_id": "pix-late",
                   "email": "  JON.DOE@example.com"})
    is_(st, 204, "late touch with the buyer's email stored")
    evs = mock.wait_for_events(1, 10)
    if not is_(len(evs), 1, "one event sent after the hold"):
        return
    ev = evs[0][1]
    is_((ev.get("event"), ev.get("event_id")), ("CompletePayment", "pix-late"),
        "the touch that arrived during the hold is matched")
    is_(d.admin_event(eid).get("matched_by"), "email", "matched_by email")
    waited = evs[0][0]["t"] - t_post
    ok(2.5 <= waited < 8, "sent when the 3 s hold ended (after %.1f s)" % waited)


def test_text_plain_beacon_is_hashed_and_matched():
    mock = MockTikTok()
    d = Daemon(mock, match={"hold_s": 1})
    st = touch(d, json.dumps({"vid": "v-beacon", "event": "Purchase", "event_id": "pix-beacon",
                              "email": "Beacon.Buyer@Example.com", "phone": "+1 (404) 555-0199"}),
               content_type="text/plain;charset=UTF-8")
    is_(st, 204, "text/plain beacon answers 204")
    ts = touches_of(d, "v-beacon")
    if not ok(ts, "touch listed by /admin/touches", repr(ts)):
        return
    is_(ts[0].get("email_hash"), email_hash("beacon.buyer@example.com"), "email stored only as its hash")
    is_(ts[0].get("ip"), BROWSER_IP, "ip taken from X-Forwarded-For of a trusted proxy")
    is_(ts[0].get("user_agent"), BROWSER_UA, "user agent from the request")
    log = d.log_text().lower()
    ok("beacon.buyer" not in log and "5550199" not in log and "555-0199" not in log,
       "raw email/phone never logged")
    post_order(d, order_body(order_id=9300000000001, name="#B1", email="beacon.buyer@example.com"), "wh-b1")
    evs = mock.wait_for_events(1, 10)
    is_([(ev.get("event"), ev.get("event_id")) for _, ev in evs], [("Purchase", "pix-beacon")],
        "order matched to the beacon's touch")


def test_touch_is_consumed_once():
    mock = MockTikTok()
    d = Daemon(mock, match={"hold_s": 1})
    st = touch(d, {"vid": "v-repeat", "event": "Purchase", "event_id": "pix-A",
                   "email": "repeat.buyer@example.com"})
    is_(st, 204, "touch stored")
    post_order(d, order_body(order_id=9100000000001, name="#R1", email="repeat.buyer@example.com"), "wh-r1")
    evs = mock.wait_for_events(1, 10)
    is_([ev.get("event_id") for _, ev in evs], ["pix-A"], "first order takes the touch's event_id")
    post_order(d, order_body(order_id=9100000000002, name="#R2", email="repeat.buyer@example.com"), "wh-r2")
    evs = mock.wait_for_events(2, 10)
    ids = [ev.get("event_id") for _, ev in evs]
    is_(ids, ["pix-A", default_event_id("shop", "order", "9100000000002")],
        "the same customer's second order gets its own deterministic event_id")


def test_collect_cors_and_bad_bodies():
    mock = MockTikTok()
    d = Daemon(mock, match={"hold_s": 1})
    st = touch(d, {"vid": "v-evil", "event": "Purchase", "event_id": "pix-evil"},
               origin="https://evil.example")
    is_(d.last_headers.get("access-control-allow-origin"), None,
        "disallowed Origin gets no Access-Control-Allow-Origin")
    ok(st in (204, 403), "disallowed Origin answered %s" % st)
    diag("disallowed origin: status %s, stored touches %r" % (st, touches_of(d, "v-evil")))
    pst, ph, _ = d.request("public", "OPTIONS", "/collect", None,
                           {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                            "Access-Control-Request-Headers": "content-type"})
    is_(pst, 204, "preflight from the shop origin → 204")
    is_(ph.get("access-control-allow-origin"), ORIGIN, "preflight allows the shop origin")
    is_(touch(d, b'{"vid": "v-bad", "event": '), 400, "truncated JSON → 400")
    is_(touch(d, b'[1, 2, 3]'), 400, "a JSON array → 400")
    is_(touch(d, {"vid": "v-big", "event": "Purchase", "url": "https://shop.example/?" + "a" * 9000}),
        413, "a body over collect.max_body → 413")
    is_(touches_of(d, "v-bad"), [], "nothing stored for the bad bodies")


if __name__ == "__main__":
    run_cases([
        test_touch_with_order_id_gives_pixel_event_and_id,
        test_forged_order_name_is_refused,
        test_no_touch_gives_deterministic_id,
        test_touch_arriving_during_hold_matches_by_email,
        test_text_plain_beacon_is_hashed_and_matched,
        test_touch_is_consumed_once,
        test_collect_cors_and_bad_bodies,
    ])
