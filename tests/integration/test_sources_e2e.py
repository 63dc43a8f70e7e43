"""One end-to-end case per source type: a realistic signed delivery in, the exact TikTok
event out (or, for pings, stale signatures and non-conversions, nothing at all)."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ttr_harness import (PIXEL, SECRETS, Daemon, MockTikTok, calcom_header,  # noqa: E402
                         calendly_header, default_event_id, email_hash, empty_strings,
                         fixture_bytes, generic_signature, is_, iso_utc, ok, phone_hash,
                         retime, run_cases, sha256_hex, stripe_header, woo_headers)

HOLD_S = 1
TEST_CODE = "TEST42"


def start(**extra):
    mock = MockTikTok()
    d = Daemon(mock, match={"hold_s": HOLD_S}, **extra)
    return mock, d


def one_event(mock, name):
    evs = mock.wait_for_events(1, HOLD_S + 10)
    if not is_(len(evs), 1, name + ": one event reaches the mock"):
        return None, None
    time.sleep(0.5)
    is_(len(mock.events(accepted_only=False)), 1, name + ": and only one")
    req, ev = evs[0]
    is_(req["json"].get("event_source_id"), PIXEL, name + ": sent to the pixel")
    is_(empty_strings(req["json"]), [], name + ": no empty strings in the body")
    return req, ev


def nothing_sent(mock, d, name, stored=0):
    time.sleep(HOLD_S + 1.5)
    is_(mock.count(), 0, name + ": nothing reaches the mock")
    is_(len(d.admin_events()), stored, name + ": %d events stored" % stored)


def test_woocommerce_ping_is_acknowledged_and_not_stored():
    mock, d = start()
    st, resp = d.post_webhook("woo", b"webhook_id=7",
                              {"Content-Type": "application/x-www-form-urlencoded",
                               "User-Agent": "WooCommerce/9.4.0 Hookshot (WordPress/6.7)"})
    is_(st, 200, "unsigned form ping answers exactly 200")
    nothing_sent(mock, d, "ping")
    st, _ = d.post_webhook("woo", b"webhook_id=7&x=1",
                           {"Content-Type": "application/x-www-form-urlencoded"})
    is_(st, 401, "an unsigned body that is not exactly a ping is refused")


def test_woocommerce_processing_order():
    mock, d = start()
    t = int(time.time()) - 120
    raw = retime(fixture_bytes("woo_order_processing.json"),
                 {"date_paid_gmt": iso_utc(t)[:-1], "date_created_gmt": iso_utc(t - 5)[:-1]})
    order = json.loads(raw)
    st, resp = d.post_webhook("woo", raw, woo_headers(SECRETS["woo"], raw, topic="order.updated"))
    is_(st, 200, "signed order.updated answers 200")
    is_((resp or {}).get("status"), "accepted", "processing order accepted")
    req, ev = one_event(mock, "woo")
    if not ev:
        return
    is_(ev.get("event"), "CompletePayment", "woo: order event name")
    is_(ev.get("event_id"), default_event_id("woo", "order", "14489"), "woo: deterministic event_id")
    is_(ev.get("event_time"), t, "woo: event_time is date_paid_gmt")
    user = ev.get("user") or {}
    is_(user.get("email"), email_hash("jon.doe@example.com"), "woo: email hash")
    is_(user.get("phone"), phone_hash("+14045550123"), "woo: phone hash (US national → E.164)")
    is_(user.get("ip"), "197.210.78.217", "woo: customer_ip_address")
    is_(user.get("user_agent"), order["customer_user_agent"], "woo: customer_user_agent")
    is_(user.get("ttclid"), "E.C.P.woo/xyz", "woo: ttclid decoded from the session entry")
    props = ev.get("properties") or {}
    is_(props.get("order_id"), "14489", "woo: order_id")
    is_(props.get("value"), 54.9, "woo: value 54.90")
    is_(props.get("currency"), "USD", "woo: currency")
    is_([(c.get("content_id"), c.get("quantity"), c.get("price")) for c in props.get("contents") or []],
        [("101", 1, 30.0), ("120", 2, 10.0)], "woo: contents from line_items")
    is_((ev.get("page") or {}).get("url"),
        "https://shop.example/product/hoodie/?utm_source=tiktok&ttclid=E.C.P.woo%2Fxyz",
        "woo: page.url is the attribution session entry")
    st, resp = d.post_webhook("woo", raw, woo_headers(SECRETS["woo"], raw, delivery_id="other-1"))
    is_((resp or {}).get("status"), "duplicate", "woo: a second delivery of the same order is a duplicate")

    pend = retime(fixture_bytes("woo_order_pending.json"), {"date_created_gmt": iso_utc(t)[:-1]})
    st, resp = d.post_webhook("woo", pend, woo_headers(SECRETS["woo"], pend, topic="order.created"))
    is_((st, (resp or {}).get("status")), (200, "ignored"), "woo: a pending order is ignored")
    st, resp = d.post_webhook("woo", raw, woo_headers("wrong secret", raw))
    is_(st, 401, "woo: wrong signature → 401")


def stripe_post(d, raw, t=None, secret=None):
    h = {"Content-Type": "application/json; charset=utf-8",
         "Stripe-Signature": stripe_header(secret or SECRETS["pay"], raw, t),
         "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}
    return d.post_webhook("pay", raw, h)


def test_stripe_session_and_intent_are_one_event():
    mock, d = start()
    t = int(time.time()) - 90
    sess = retime(fixture_bytes("stripe_checkout_completed.json"), {"created": t})
    pi = retime(fixture_bytes("stripe_payment_intent_succeeded.json"), {"created": t - 5})
    st, resp = stripe_post(d, sess)
    is_((st, (resp or {}).get("status")), (200, "accepted"), "checkout.session.completed accepted")
    st, resp = stripe_post(d, pi)
    is_((st, (resp or {}).get("status")), (200, "duplicate"),
        "payment_intent.succeeded of the same payment is a duplicate")
    st, resp = stripe_post(d, sess)
    is_((st, (resp or {}).get("status")), (200, "duplicate"), "Stripe's retry is a duplicate")
    req, ev = one_event(mock, "stripe")
    if not ev:
        return
    is_(ev.get("event"), "CompletePayment", "stripe: order event name")
    is_(ev.get("event_id"), "a1b2c3", "stripe: event_id from session metadata")
    is_(ev.get("event_time"), t, "stripe: event_time is the session's created")
    props = ev.get("properties") or {}
    is_(props.get("order_id"), "pi_3RSCTURftwXmfGNu1Htv3in3", "stripe: order_id is the payment intent")
    is_(props.get("value"), 25.0, "stripe: 2500 minor units → 25.0")
    is_(props.get("currency"), "USD", "stripe: currency upper-cased")
    user = ev.get("user") or {}
    is_(user.get("email"), email_hash("jon.doe@example.com"), "stripe: email hash")
    is_(user.get("phone"), phone_hash("+14045550123"), "stripe: phone hash")
    is_(user.get("ttclid"), "E.C.P.abc", "stripe: ttclid from metadata")
    is_(user.get("ttp"), "2F7h37YkS1j57AYSKTI7IHhJPYH", "stripe: ttp from metadata")
    is_(user.get("ip"), "203.0.113.7", "stripe: ip from metadata")
    is_((ev.get("page") or {}).get("url"), "https://shop.example/checkout?ttclid=E.C.P.abc",
        "stripe: page.url from metadata")


def test_stripe_stale_or_wrong_signature_is_refused():
    mock, d = start()
    raw = retime(fixture_bytes("stripe_checkout_completed.json"), {"created": int(time.time())})
    st, resp = stripe_post(d, raw, t=int(time.time()) - 600)
    is_(st, 401, "signature 600 s old → 401")
    ok(isinstance(resp, dict) and resp.get("error"), "401 carries an error", repr(resp))
    st, _ = stripe_post(d, raw, secret="whsec_other")
    is_(st, 401, "wrong secret → 401")
    st, _ = d.post_webhook("pay", raw, {"Content-Type": "application/json"})
    is_(st, 401, "no Stripe-Signature → 401")
    nothing_sent(mock, d, "stripe refused")


def test_calendly_invitee_created_is_contact():
    mock, d = start()
    t = int(time.time()) - 30
    raw = retime(fixture_bytes("calendly_invitee_created.json"), {"created_at": iso_utc(t)})
    body = json.loads(raw)
    h = {"Content-Type": "application/json",
         "Calendly-Webhook-Signature": calendly_header(SECRETS["cal"], raw)}
    st, resp = d.post_webhook("cal", raw, h)
    is_((st, (resp or {}).get("status")), (200, "accepted"), "invitee.created accepted")
    req, ev = one_event(mock, "calendly")
    if not ev:
        return
    is_(ev.get("event"), "Contact", "calendly: call event name")
    is_(ev.get("event_id"), default_event_id("cal", "call", body["payload"]["uri"]),
        "calendly: deterministic event_id keyed on the invitee uri")
    is_(ev.get("event_time"), t, "calendly: event_time is the invitee's created_at")
    user = ev.get("user") or {}
    is_(user.get("email"), email_hash("test@example.com"), "calendly: email hash")
    is_(user.get("phone"), phone_hash("+14045551234"), "calendly: phone hash")
    ok("order_id" not in (ev.get("properties") or {}), "calendly: a call carries no order_id")
    h["Calendly-Webhook-Signature"] = calendly_header(SECRETS["cal"], raw, int(time.time()) - 900)
    st, _ = d.post_webhook("cal", raw, h)
    is_(st, 401, "calendly: a signature 15 min old → 401")


def test_calcom_booking_created_is_contact():
    mock, d = start()
    t = int(time.time()) - 30
    raw = retime(fixture_bytes("calcom_booking_created.json"), {"createdAt": iso_utc(t)})
    h = {"Content-Type": "application/json", "X-Cal-Signature-256": calcom_header(SECRETS["calc"], raw)}
    st, resp = d.post_webhook("calc", raw, h)
    is_((st, (resp or {}).get("status")), (200, "accepted"), "BOOKING_CREATED accepted")
    req, ev = one_event(mock, "calcom")
    if not ev:
        return
    is_(ev.get("event"), "Contact", "calcom: call event name")
    is_(ev.get("event_id"), "a1b2c3", "calcom: event_id from booking metadata")
    is_(ev.get("event_time"), t, "calcom: event_time is createdAt")
    user = ev.get("user") or {}
    is_(user.get("email"), email_hash("john.doe@example.com"), "calcom: email hash")
    is_(user.get("phone"), phone_hash("+919876543210"), "calcom: phone hash")
    is_(user.get("ttclid"), "E.C.P.abc", "calcom: ttclid from metadata")
    is_(user.get("ttp"), "ttp-calcom-1", "calcom: ttp from metadata")
    st, _ = d.post_webhook("calc", raw, {"Content-Type": "application/json",
                                         "X-Cal-Signature-256": "no-secret-provided"})
    is_(st, 401, "calcom: the literal no-secret-provided header is refused")


def test_generic_lead_with_bearer():
    pixels = [{"code": PIXEL, "access_token": "tt-access-token-test", "test_event_code": TEST_CODE,
               "rate_per_s": 10000.0}]
    sources = [{"id": "leads", "type": "generic", "secret": SECRETS["leads"], "kind": "lead",
                "send_tests": True}]
    mock, d = start(tiktok={"pixels": pixels}, sources=sources)
    t = int(time.time()) - 10
    raw = retime(fixture_bytes("generic_lead.json"), {"event_time": t})
    st, resp = d.post_webhook("leads", raw, {"Content-Type": "application/json",
                                             "Authorization": "Bearer " + SECRETS["leads"]})
    is_((st, (resp or {}).get("status")), (200, "accepted"), "bearer-authenticated lead accepted")
    req, ev = one_event(mock, "lead")
    if not ev:
        return
    is_(req["json"].get("test_event_code"), TEST_CODE, "lead: a test lead goes to the test_event_code")
    is_(ev.get("event"), "Lead", "lead: event name")
    is_(ev.get("event_id"), default_event_id("leads", "lead", "lead-77"), "lead: deterministic event_id")
    is_(ev.get("event_time"), t, "lead: event_time")
    user = ev.get("user") or {}
    is_(user.get("email"), email_hash("lead.person@example.com"), "lead: email hash")
    is_(user.get("phone"), phone_hash("+447700900123"), "lead: UK national phone → E.164 hash")
    props = ev.get("properties") or {}
    ok("value" not in props and "currency" not in props and "order_id" not in props,
       "lead: empty value/currency omitted, no order_id", repr(props))
    st, _ = d.post_webhook("leads", raw, {"Content-Type": "application/json",
                                          "Authorization": "Bearer wrong"})
    is_(st, 401, "lead: wrong bearer → 401")
    st, _ = d.post_webhook("leads", raw, {"Content-Type": "application/json"})
    is_(st, 401, "lead: no credentials → 401")


def test_generic_call_with_signature():
    mock, d = start()
    t = int(time.time()) - 20
    raw = retime(fixture_bytes("generic_call.json"), {"event_time": iso_utc(t)})
    body = json.loads(raw)
    h = {"Content-Type": "application/json", "X-Ttrelay-Signature": generic_signature(SECRETS["crm"], raw)}
    st, resp = d.post_webhook("crm", raw, h)
    is_((st, (resp or {}).get("status")), (200, "accepted"), "signed generic call accepted")
    req, ev = one_event(mock, "generic")
    if not ev:
        return
    is_(ev.get("event"), "Contact", "generic: call event name")
    is_(ev.get("event_id"), "evt-crm-1", "generic: explicit event_id")
    is_(ev.get("event_time"), t, "generic: ISO event_time")
    user = ev.get("user") or {}
    is_(user.get("email"), email_hash("jane@example.com"), "generic: email hash")
    is_(user.get("phone"), phone_hash("+14045551234"), "generic: phone hash")
    is_(user.get("external_id"), sha256_hex("contact_123"), "generic: external_id hash")
    for k in ("ttclid", "ttp", "ip", "user_agent"):
        is_(user.get(k), body[k], "generic: user." + k)
    is_(ev.get("page"), {"url": body["url"], "referrer": body["referrer"]}, "generic: page")
    ok("order_id" not in (ev.get("properties") or {}), "generic: a call carries no order_id")
    h["X-Ttrelay-Signature"] = generic_signature(SECRETS["crm"], raw, int(time.time()) - 400)
    st, _ = d.post_webhook("crm", raw, h)
    is_(st, 401, "generic: signature older than 300 s → 401")
    h["X-Ttrelay-Signature"] = generic_signature("wrong", raw)
    st, _ = d.post_webhook("crm", raw, h)
    is_(st, 401, "generic: wrong signature → 401")


def test_unknown_source_and_bad_body():
    mock, d = start()
    st, resp = d.post_webhook("nope", b"{}", {"Content-Type": "application/json"})
    is_(st, 404, "unknown source → 404")
    raw = b'{"id": "x-1", "email": '
    st, _ = d.post_webhook("crm", raw, {"Content-Type": "application/json",
                                        "Authorization": "Bearer " + SECRETS["crm"]})
    is_(st, 400, "truncated JSON → 400")
    st, _ = d.post_webhook("crm", b"<xml/>", {"Content-Type": "application/xml",
                                              "Authorization": "Bearer " + SECRETS["crm"]})
    is_(st, 415, "XML body → 415")
    nothing_sent(mock, d, "rejected bodies")


if __name__ == "__main__":
    run_cases([
        test_woocommerce_ping_is_acknowledged_and_not_stored,
        test_woocommerce_processing_order,
        test_stripe_session_and_intent_are_one_event,
        test_stripe_stale_or_wrong_signature_is_refused,
        test_calendly_invitee_created_is_contact,
        test_calcom_booking_created_is_contact,
        test_generic_lead_with_bearer,
        test_generic_call_with_signature,
        test_unknown_source_and_bad_body,
    ])
