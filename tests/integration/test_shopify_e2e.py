"""Shopify orders/paid end to end: a signed delivery reaches the mock TikTok as the exact
v1.3 body; retries and sibling topics are duplicates; bad signatures are refused; a
SIGKILL after the acknowledgement loses nothing; dry_run sends nothing."""

import json
import os
import re
import subprocess
import sys
import time
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ttr_harness import (ADMIN_TOKEN, PIXEL, SECRETS, TIKTOK_TOKEN, Daemon, MockTikTok,  # noqa: E402
                         default_event_id, email_hash, empty_strings, fixture_bytes, is_,
                         iso_offset, iso_to_unix, ok, phone_hash, query_param, retime,
                         run_cases, sha256_hex, shopify_headers, ttrelayctl_path)

FIXTURE = "shopify_orders_paid.json"
SHOP_DOMAIN = "ttr-test.myshopify.com"
HOLD_S = 1


def load_order():
    """The recorded fixture with its timestamps moved to a minute ago (an event older than
    tiktok.max_age_s would go dead, as it should); every other byte is as recorded."""
    t = int(time.time()) - 60
    raw = retime(fixture_bytes(FIXTURE), {"processed_at": iso_offset(t, -5),
                                          "created_at": iso_offset(t - 2, -5),
                                          "updated_at": iso_offset(t + 2, -5)})
    return raw, json.loads(raw)


def expected_email(order):
    for v in (order.get("email"), order.get("contact_email"),
              (order.get("customer") or {}).get("email")):
        if v:
            return v
    return None


def expected_phone(order):
    billing = order.get("billing_address") or {}
    shipping = order.get("shipping_address") or {}
    home = billing.get("country_code") or shipping.get("country_code")
    for v, cc in ((order.get("phone"), home), (billing.get("phone"), home),
                  ((order.get("customer") or {}).get("phone"), home),
                  (shipping.get("phone"), shipping.get("country_code") or home)):
        if v:
            return v, cc
    return None, None


def explicit_event_id(order):
    for a in order.get("note_attributes") or []:
        if a.get("name") in ("event_id", "ttr_event_id") and a.get("value"):
            return a["value"]
    return None


def post_order(d, raw, topic="orders/paid", webhook_id="wh-paid-1", secret=None):
    h = shopify_headers(secret or SECRETS["shop"], raw, topic=topic, webhook_id=webhook_id,
                        shop=SHOP_DOMAIN)
    return d.post_webhook("shop", raw, h)


def test_orders_paid_reaches_tiktok_field_by_field():
    raw, order = load_order()
    oid = str(order["id"])
    is_(oid, "820982911946154508", "fixture is the official sample order id")
    mock = MockTikTok()
    d = Daemon(mock, match={"hold_s": HOLD_S})
    st, resp = post_order(d, raw)
    is_(st, 200, "signed orders/paid is acknowledged with 200")
    is_((resp or {}).get("status"), "accepted", "first delivery is accepted")
    ok(isinstance((resp or {}).get("id"), int), "accepted answer carries the event id",
       repr(resp))

    evs = mock.wait_for_events(1, HOLD_S + 10)
    if not is_(len(evs), 1, "exactly one event reaches the mock"):
        return
    req, ev = evs[0]
    body = req["json"]
    is_(req["path"], "/open_api/v1.3/event/track/", "posted to the v1.3 track path")
    is_(req["headers"].get("access-token"), TIKTOK_TOKEN, "Access-Token header is the raw token")
    ok((req["headers"].get("content-type") or "").startswith("application/json"),
       "Content-Type is application/json", req["headers"].get("content-type"))
    is_(body.get("event_source"), "web", "event_source is web")
    is_(body.get("event_source_id"), PIXEL, "event_source_id is the pixel")
    ok("test_event_code" not in body, "no test_event_code on a live order", body.get("test_event_code"))
    is_(len(body.get("data") or []), 1, "one element in data[]")

    is_(ev.get("event"), "CompletePayment", "event is the configured order name")
    is_(ev.get("event_time"), iso_to_unix(order["processed_at"]),
        "event_time is processed_at in unix seconds")
    want_id = explicit_event_id(order) or default_event_id("shop", "order", oid)
    is_(ev.get("event_id"), want_id, "event_id is ttr_ + sha256(shop:order:<id>) without a touch")
    is_(want_id, "ttr_" + sha256_hex("shop:order:820982911946154508"),
        "fixture carries no explicit event_id (the deterministic id is under test)")

    user = ev.get("user") or {}
    email = expected_email(order)
    is_(user.get("email"), email_hash(email) if email else None, "user.email is sha256 of the normalized email")
    phone, cc = expected_phone(order)
    is_(user.get("phone"), phone_hash(phone, cc) if phone else None, "user.phone is sha256 of the E.164 phone")
    client = order.get("client_details") or {}
    is_(user.get("ip"), client.get("browser_ip") or order.get("browser_ip"), "user.ip is the browser ip")
    is_(user.get("user_agent"), client.get("user_agent"), "user.user_agent from client_details")
    ttclid = query_param(order["landing_site"], "ttclid")
    ok(ttclid, "fixture landing_site carries a ttclid", order.get("landing_site"))
    is_(user.get("ttclid"), ttclid, "user.ttclid comes from landing_site")

    props = ev.get("properties") or {}
    want_value = float(Decimal(order["total_price"]))
    is_(want_value, 388.0, "fixture total is 388.00")
    is_(props.get("value"), 388.0, "properties.value is exactly 388.0")
    text = req["raw"].decode()
    ok(re.search(r'"value"\s*:\s*388(\.0+)?\s*[,}]', text), "raw body writes the value as 388.0 or 388",
       text[:400])
    ok("387.99" not in text, "raw body has no 387.99 float artefact")
    is_(props.get("currency"), order["currency"], "properties.currency")
    is_(props.get("order_id"), "820982911946154508", "properties.order_id is the order id as a string")
    is_(props.get("content_type"), "product", "properties.content_type is product")
    want_contents = []
    for li in order.get("line_items") or []:
        c = {"content_id": str(li.get("product_id") or li.get("variant_id") or li.get("sku")),
             "content_name": li.get("name") or li.get("title"),
             "price": float(Decimal(li["price"])), "quantity": li["quantity"]}
        want_contents.append(c)
    is_(props.get("contents"), want_contents, "properties.contents from line_items")
    is_((ev.get("page") or {}).get("url"), "https://" + SHOP_DOMAIN + order["landing_site"],
        "page.url is the landing page on the shop domain")
    is_(empty_strings(body), [], "no empty string anywhere in the body")

    events = d.admin_events()
    is_(len(events), 1, "admin lists one event")
    if events:
        # The mock sees the request before the daemon has read the answer and committed.
        e = d.wait_event_state(events[0]["id"], "sent", 5)
        is_(e.get("state"), "sent", "event state is sent")
        is_(e.get("event_id"), want_id, "admin event_id equals the sent one")
        is_(e.get("object_id"), oid, "admin object_id is the order id")
        is_(e.get("matched_by"), "none", "no touch: matched_by none")
        is_(e.get("request_id"), "mock-1", "request_id recorded from the mock's answer")
    ok(ADMIN_TOKEN not in d.log_text() and TIKTOK_TOKEN not in d.log_text() and
       SECRETS["shop"] not in d.log_text(), "no secret or token in the log")
    log = d.log_text().lower()
    ok(email.strip().lower() not in log and "404) 555-0123" not in log and "4045550123" not in log,
       "raw email and phone never logged")


def test_retry_and_sibling_topic_are_duplicates():
    raw, order = load_order()
    mock = MockTikTok()
    d = Daemon(mock, match={"hold_s": HOLD_S})
    st, first = post_order(d, raw, webhook_id="wh-dup-1")
    is_(st, 200, "first delivery 200")
    is_((first or {}).get("status"), "accepted", "first delivery accepted")
    st, again = post_order(d, raw, webhook_id="wh-dup-1")
    is_(st, 200, "sender retry (same X-Shopify-Webhook-Id) answers 200")
    is_((again or {}).get("status"), "duplicate", "sender retry is a duplicate")
    is_((again or {}).get("id"), (first or {}).get("id"), "duplicate names the original event id")
    st, sib = post_order(d, raw, topic="orders/create", webhook_id="wh-create-1")
    is_(st, 200, "sibling orders/create answers 200")
    is_((sib or {}).get("status"), "duplicate", "sibling orders/create is a duplicate")
    evs = mock.wait_for_events(1, HOLD_S + 10)
    is_(len(evs), 1, "one event delivered")
    time.sleep(HOLD_S + 3)
    is_(len(mock.events(accepted_only=False)), 1, "still exactly one event after hold + 3 s")
    is_(len(d.admin_events()), 1, "admin lists one event")


def test_bad_or_missing_signature_is_refused():
    raw, order = load_order()
    mock = MockTikTok()
    d = Daemon(mock, match={"hold_s": HOLD_S})
    st, resp = post_order(d, raw, webhook_id="wh-bad-1", secret="not-the-secret")
    is_(st, 401, "wrong secret → 401")
    ok(isinstance(resp, dict) and resp.get("error"), "401 carries an error message", repr(resp))
    h = shopify_headers(SECRETS["shop"], raw, webhook_id="wh-bad-2", shop=SHOP_DOMAIN)
    tampered = raw.replace(b"388.00", b"1.00", 1)
    ok(tampered != raw, "fixture contains 388.00 to tamper with")
    st, _ = d.post_webhook("shop", tampered, h)
    is_(st, 401, "body changed after signing → 401")
    del h["X-Shopify-Hmac-Sha256"]
    st, resp = d.post_webhook("shop", raw, h)
    is_(st, 401, "missing X-Shopify-Hmac-Sha256 → 401")
    time.sleep(HOLD_S + 2)
    is_(mock.count(), 0, "nothing reached the mock")
    is_(d.admin_events(), [], "nothing stored")


def test_sigkill_after_ack_still_delivers_once():
    raw, order = load_order()
    mock = MockTikTok()
    hold = 4
    d = Daemon(mock, match={"hold_s": hold})
    st, resp = post_order(d, raw, webhook_id="wh-kill-1")
    d.sigkill()
    is_(st, 200, "acknowledged before the kill")
    is_(mock.count(), 0, "nothing sent before the kill (hold not over)")
    d.restart()
    evs = mock.wait_for_events(1, hold + 15)
    is_(len(evs), 1, "the acknowledged order is delivered after restart")
    time.sleep(3)
    want = default_event_id("shop", "order", str(order["id"]))
    ids = [ev.get("event_id") for _, ev in mock.events(accepted_only=False)]
    is_(ids, [want], "delivered exactly once, with the deterministic event_id")
    st, resp = post_order(d, raw, webhook_id="wh-kill-1")
    is_((resp or {}).get("status"), "duplicate", "the sender's retry after restart is a duplicate")


def test_dry_run_records_without_sending():
    raw, order = load_order()
    mock = MockTikTok()
    d = Daemon(mock, match={"hold_s": HOLD_S}, tiktok={"dry_run": True})
    st, resp = post_order(d, raw, webhook_id="wh-dry-1")
    is_(st, 200, "accepted in dry_run")
    eid = (resp or {}).get("id")
    e = d.wait_event_state(eid, "dry_run", HOLD_S + 10)
    is_((e or {}).get("state"), "dry_run", "event recorded in its own state dry_run, not sent")
    payload = (e or {}).get("payload") or {}
    is_(payload.get("event"), "CompletePayment", "recorded payload has the event name")
    is_(payload.get("event_id"), default_event_id("shop", "order", str(order["id"])),
        "recorded payload has the event_id")
    is_((payload.get("properties") or {}).get("order_id"), str(order["id"]),
        "recorded payload has the order_id")
    time.sleep(1)
    is_(mock.count(), 0, "nothing reached the mock")
    status = d.admin_status()
    is_(status.get("dry_run"), True, "/admin/status reports dry_run")
    is_(((status.get("counts") or {}).get("sent"), (status.get("counts") or {}).get("dry_run")),
        (0, 1), "status counts it as dry_run, not as sent")
    st, _, body = d.request("admin", "GET", "/metrics", None, d._admin_headers())
    ok(b'ttrelay_events{state="dry_run"} 1' in body and b'ttrelay_events{state="sent"} 0' in body,
       "/metrics shows it as dry_run")

    ctl = [ttrelayctl_path(), "-c", d.conf_path, "--url", "http://127.0.0.1:%d" % d.admin_port]
    r = subprocess.run(ctl + ["replay", "--dry-run-events"], capture_output=True, text=True,
                       timeout=30)
    ok(r.returncode == 3 and "still in dry run: set tiktok.dry_run = false and reload" in r.stderr,
       "replaying dry-run events while still in dry run is refused", r.stdout + r.stderr)
    is_(d.reload(tiktok={"dry_run": False}), "reloaded", "switched to live by a reload")
    time.sleep(0.5)
    is_(mock.count(), 0, "going live sends nothing by itself")
    r = subprocess.run(ctl + ["replay", "--dry-run-events"], capture_output=True, text=True,
                       timeout=30)
    is_((r.returncode, r.stdout.strip()),
        (0, "1 dry-run events queued for sending (those older than tiktok.max_age_s stay dry_run)"),
        "ttrelayctl replay --dry-run-events queues them")
    e = d.wait_event_state(eid, "sent", 15)
    is_((e or {}).get("state"), "sent", "the dry-run event is sent once live")
    sent = [ev for _, ev in mock.events()]
    is_([(ev.get("event_id"), ev.get("event_time")) for ev in sent],
        [(payload.get("event_id"), payload.get("event_time"))],
        "with the recorded event_id and event_time")
    is_(d.stop(), 0, "SIGTERM stops the daemon with exit code 0")
    ok("msg=stopped" in d.log_text() or 'msg="stopped"' in d.log_text(), "stop is logged")


if __name__ == "__main__":
    run_cases([
        test_orders_paid_reaches_tiktok_field_by_field,
        test_retry_and_sibling_topic_are_duplicates,
        test_bad_or_missing_signature_is_refused,
        test_sigkill_after_ack_still_delivers_once,
        test_dry_run_records_without_sending,
    ])
