"""Send only what should be sent (issue 13): a subscription's first payment is one event,
renewals follow the source's `renewals` policy, a rescheduled Calendly booking is one
Contact, and a conversion linked to an opted-out visitor follows the `consent` policy."""

import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ttr_harness import (PIXEL, SECRETS, Daemon, MockTikTok, calendly_header,  # noqa: E402
                         default_event_id, default_sources, fixture_bytes, fixture_json, iso_utc, is_, ok,
                         post_generic, retime, run_cases, shopify_headers, stripe_header,
                         ttrelayctl_path, ttrelayd_path,
                         woo_headers)

HOLD_S = 1


def start(sources=None, **extra):
    mock = MockTikTok()
    kw = {"match": {"hold_s": HOLD_S}}
    if sources is not None:
        kw["sources"] = sources
    kw.update(extra)
    return mock, Daemon(mock, **kw)


def post_json(d, source, obj, headers_fn):
    raw = json.dumps(obj).encode()
    return d.post_webhook(source, raw, headers_fn(raw))


def stripe_post(d, obj):
    return post_json(d, "pay", obj, lambda raw: {
        "Content-Type": "application/json", "Stripe-Signature": stripe_header(SECRETS["pay"], raw)})


def status_of(resp):
    return (resp or {}).get("status"), (resp or {}).get("reason")


def settle(mock, n_expected):
    """Waits for n_expected events, then a little longer to see that no more come."""
    if n_expected:
        mock.wait_for_events(n_expected, HOLD_S + 10)
    time.sleep(HOLD_S + 1.5)
    return [ev for _, ev in mock.events(accepted_only=False)]


def stripe_event(evt_id, type_, obj, created):
    obj = dict(obj, created=created, livemode=True)
    return {"id": evt_id, "object": "event", "type": type_, "api_version": "2024-06-20",
            "created": created, "livemode": True, "data": {"object": obj}}


def subscription_session(t):
    sess = fixture_json("stripe_checkout_completed.json")["data"]["object"]
    sess = dict(sess, mode="subscription", payment_intent=None, subscription="sub_1TTR",
                invoice="in_1TTRfirst", metadata={"ttr_vid": "v-sub-1"})
    return stripe_event("evt_sess_sub", "checkout.session.completed", sess, t)


def invoice(inv_id, reason, t, amount=2500):
    return {"id": inv_id, "object": "invoice", "billing_reason": reason, "subscription": "sub_1TTR",
            "customer": "cus_TTR1", "customer_email": "sub@example.com", "amount_paid": amount,
            "currency": "usd", "payment_intent": "pi_" + inv_id, "metadata": {}}


def intent_of_invoice(inv_id, t):
    return {"id": "pi_" + inv_id, "object": "payment_intent", "amount": 2500,
            "amount_received": 2500, "currency": "usd", "customer": "cus_TTR1",
            "invoice": inv_id, "metadata": {}, "status": "succeeded"}


def test_stripe_subscription_checkout_is_one_event():
    mock, d = start()
    t = int(time.time()) - 60
    st, resp = stripe_post(d, subscription_session(t))
    is_((st, status_of(resp)[0]), (200, "accepted"), "subscription checkout session accepted")
    st, resp = stripe_post(d, stripe_event("evt_pi_first", "payment_intent.succeeded",
                                           intent_of_invoice("in_1TTRfirst", t), t))
    ok(st == 200 and status_of(resp)[0] in ("duplicate", "ignored"),
       "the first invoice's payment intent adds no conversion", repr(resp))
    st, resp = stripe_post(d, stripe_event("evt_inv_first", "invoice.paid",
                                           invoice("in_1TTRfirst", "subscription_create", t), t))
    is_((st, status_of(resp)[0]), (200, "duplicate"),
        "the first invoice (subscription_create) is the same conversion as the session")
    evs = settle(mock, 1)
    is_(len(evs), 1, "session + first invoice's payment intent + invoice.paid: one event")
    if evs:
        is_(evs[0].get("event"), "CompletePayment", "sent as the order event")
    is_([e.get("object_id") for e in d.admin_events()], ["sub_1TTR"],
        "one conversion stored, keyed on the subscription")


def test_renewals_are_ignored_by_default():
    mock, d = start()
    t = int(time.time()) - 60
    st, resp = stripe_post(d, stripe_event("evt_inv_cycle", "invoice.paid",
                                           invoice("in_1TTRcycle2", "subscription_cycle", t), t))
    is_((st, status_of(resp)), (200, ("ignored", "renewal")), "Stripe subscription_cycle invoice")
    st, resp = stripe_post(d, stripe_event("evt_pi_cycle", "payment_intent.succeeded",
                                           intent_of_invoice("in_1TTRcycle2", t), t))
    is_((st, status_of(resp)[0]), (200, "ignored"), "Stripe: the renewal's payment intent")
    order = fixture_json("shopify_orders_paid.json")
    order.update(id=820982911946199999, name="#2001", source_name="subscription_contract")
    st, resp = post_json(d, "shop", order, lambda raw: shopify_headers(SECRETS["shop"], raw))
    is_((st, status_of(resp)), (200, ("ignored", "renewal")),
        "Shopify order with source_name subscription_contract")
    woo = fixture_json("woo_order_processing.json")
    woo["id"] = 99001
    woo["meta_data"].append({"id": 1, "key": "_subscription_renewal", "value": "98000"})
    st, resp = post_json(d, "woo", woo, lambda raw: woo_headers(SECRETS["woo"], raw))
    is_((st, status_of(resp)), (200, ("ignored", "renewal")),
        "WooCommerce order with _subscription_renewal meta")
    st, resp = post_generic(d, "crm", {"id": "crm-renew-1", "kind": "order", "renewal": True,
                                       "value": 10, "currency": "USD"})
    is_((st, status_of(resp)), (200, ("ignored", "renewal")), "generic body with renewal: true")
    evs = settle(mock, 0)
    is_(len(evs), 0, "no renewal reaches TikTok")
    is_(len(d.admin_events()), 0, "nothing stored")
    # A first (non-renewal) Shopify order is still sent: the detection is not too wide.
    order.update(id=820982911946188888, name="#2002", source_name="web")
    st, resp = post_json(d, "shop", order, lambda raw: shopify_headers(SECRETS["shop"], raw))
    is_((st, status_of(resp)[0]), (200, "accepted"), "a web order is accepted")


def test_renewals_sent_under_their_own_event():
    srcs = default_sources()
    for s in srcs:
        if s["id"] == "pay":
            s["renewals"] = "Subscribe"
        if s["id"] == "woo":
            s["renewals"] = "send"
    mock, d = start(sources=srcs)
    t = int(time.time()) - 60
    st, resp = stripe_post(d, stripe_event("evt_inv_cycle3", "invoice.paid",
                                           invoice("in_1TTRcycle3", "subscription_cycle", t), t))
    is_((st, status_of(resp)[0]), (200, "accepted"), "renewals = \"Subscribe\": accepted")
    woo = json.loads(retime(fixture_bytes("woo_order_processing.json"),
                            {"date_paid_gmt": iso_utc(t)[:-1], "date_created_gmt": iso_utc(t)[:-1]}))
    woo["id"] = 99002
    woo["created_via"] = "subscription"
    st, resp = post_json(d, "woo", woo, lambda raw: woo_headers(SECRETS["woo"], raw))
    is_((st, status_of(resp)[0]), (200, "accepted"), "renewals = \"send\": accepted")
    evs = settle(mock, 2)
    names = sorted(ev.get("event") for ev in evs)
    is_(names, ["CompletePayment", "Subscribe"], "Stripe renewal as Subscribe, Woo as the order event")
    for ev in evs:
        if ev.get("event") == "Subscribe":
            is_(ev.get("event_id"), default_event_id("pay", "order", "in_1TTRcycle3"),
                "the renewal keyed on its invoice")


def test_calendly_booking_rescheduled_twice_is_one_contact():
    mock, d = start()
    t = int(time.time()) - 60
    base = fixture_json("calendly_invitee_created.json")
    uris = ["https://api.calendly.com/scheduled_events/EV%d/invitees/INV%d" % (i, i)
            for i in range(3)]
    for i, uri in enumerate(uris):
        body = json.loads(json.dumps(base))
        body["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t + i))
        p = body["payload"]
        p["uri"] = uri
        p["created_at"] = body["created_at"]
        p["old_invitee"] = uris[i - 1] if i else None
        p["scheduled_event"]["uri"] = "https://api.calendly.com/scheduled_events/EV%d" % i
        st, resp = post_json(d, "cal", body, lambda raw: {
            "Content-Type": "application/json",
            "Calendly-Webhook-Signature": calendly_header(SECRETS["cal"], raw)})
        want = "accepted" if i == 0 else "ignored"
        is_((st, status_of(resp)[0]), (200, want), "invitee %d (%s)" % (i, want))
    evs = settle(mock, 1)
    is_(len(evs), 1, "booked, rescheduled twice: one event")
    if evs:
        is_(evs[0].get("event"), "Contact", "a Contact")
        is_(evs[0].get("event_id"), default_event_id("cal", "call", uris[0]),
            "keyed on the first invitee")


def opted_out_order(d, oid, **fields):
    body = {"id": oid, "kind": "order", "value": "19.90", "currency": "EUR"}
    body.update(fields)
    return post_generic(d, "crm", body)


def metric(d, name, label):
    st, _, text = d.request("admin", "GET", "/metrics", headers={
        "Authorization": "Bearer " + d.config["admin"]["token"]})
    m = re.search(r'^%s\{[^}]*%s[^}]*\} (\d+)' % (re.escape(name), re.escape(label)),
                  text.decode(), re.M)
    return int(m.group(1)) if m else 0


def test_opted_out_visitor_under_ldu():
    mock, d = start()
    is_(d.post_collect({"vid": "v-optout-1", "consent": "denied"}), 204, "consent beacon stored")
    is_(d.post_collect({"vid": "v-optout-2", "email": "Opted@Example.com", "consent": "granted"}),
        204, "an identify with consent granted")
    is_(d.post_collect({"vid": "v-optout-2", "consent": "denied"}), 204, "then revoked")
    is_(d.post_collect({"vid": "v-ok", "consent": "granted"}), 204, "a consenting visitor")
    st, _ = opted_out_order(d, "ldu-1", vid="v-optout-1")
    is_(st, 200, "order of the opted-out vid accepted")
    st, _ = opted_out_order(d, "ldu-2", email="opted@example.com")
    is_(st, 200, "order linked to the opted-out visitor by email")
    st, _ = opted_out_order(d, "ldu-3", vid="v-ok")
    is_(st, 200, "order of a consenting visitor")
    st, _ = opted_out_order(d, "ldu-4", consent=False)
    is_(st, 200, "order whose webhook carries consent: false")
    evs = settle(mock, 4)
    by_id = {ev.get("event_id"): ev for ev in evs}
    is_(len(evs), 4, "all four sent under ldu")
    for oid, want in (("ldu-1", True), ("ldu-2", True), ("ldu-3", None), ("ldu-4", True)):
        ev = by_id.get(default_event_id("crm", "order", oid), {})
        is_(ev.get("limited_data_use"), want, "%s: limited_data_use %s" % (oid, want))
    is_(metric(d, "ttrelay_consent_events_total", 'outcome="ldu"'), 3,
        "/metrics counts three LDU events")
    ctl = ttrelayctl_path() or os.path.join(os.path.dirname(ttrelayd_path()), "ttrelayctl")
    rep = subprocess.run([ctl, "-c", d.conf_path, "--url", "http://127.0.0.1:%d" % d.admin_port,
                          "report"], capture_output=True, text=True, timeout=30)
    ok(re.search(r"^crm\s+order\s+3\s+75%\s+0\s+0%\s*$",
                 rep.stdout.split("opted-out visitors")[-1], re.M),
       "ttrelayctl report: crm/order 3 LDU (75%), 0 suppressed", rep.stdout[-1500:] + rep.stderr[-500:])


def test_opted_out_visitor_under_suppress():
    srcs = default_sources()
    for s in srcs:
        if s["id"] == "crm":
            s["consent"] = "suppress"
    mock, d = start(sources=srcs)
    is_(d.post_collect({"vid": "v-sup-1", "consent": "denied"}), 204, "consent beacon stored")
    opted_out_order(d, "sup-1", vid="v-sup-1")
    opted_out_order(d, "sup-2", vid="v-sup-ok")
    evs = settle(mock, 1)
    is_([ev.get("event_id") for ev in evs], [default_event_id("crm", "order", "sup-2")],
        "only the consenting visitor's order is sent")
    ign = [e for e in d.admin_events(state="ignored")]
    is_([(e.get("object_id"), e.get("last_error")) for e in ign], [("sup-1", "consent")],
        "the opted-out visitor's order is ignored with reason consent")
    is_(metric(d, "ttrelay_consent_events_total", 'outcome="suppressed"'), 1,
        "/metrics counts one suppressed event")


def test_policy_mistakes_are_refused():
    for where, conf, want in (
            ("source", {"sources": [dict(default_sources()[0], consent="maybe")]}, "consent must be"),
            ("source", {"sources": [dict(default_sources()[0], renewals="")]}, "renewals must be"),
            ("global", {"consent": "later"}, "consent must be"),
            ("match", {"match": {"hold_s": 1, "retention_s": 3600}},
             "shorter than the longest sender retry window"),
            ("match", {"match": {"hold_s": 1, "retention_s": 300000}},
             "shorter than tiktok.max_age_s")):
        d = Daemon(None, start=False, **conf)
        r = subprocess.run([ttrelayd_path(), "-t", "-c", d.conf_path], capture_output=True,
                           text=True, timeout=30)
        ok(r.returncode != 0 and want in r.stderr and re.search(r"ttrelay\.conf:\d+:", r.stderr),
           "%s %s refused with file:line" % (where, want), r.stderr)
        d.close()


def test_unsupported_currency_sent_without_value():
    """A currency TikTok does not accept (money.c's table) is validated at ingest: the order
    is still sent, without value and currency, beside an accepted one in the same batch."""
    mock, d = start()
    now = int(time.time()) - 30
    for oid, value, cur in (("cur-xbt", "12.50", "XBT"), ("cur-eur", "9.20", "EUR")):
        st, resp = post_generic(d, "crm", {"id": oid, "kind": "order", "value": value,
                                           "currency": cur, "email": oid + "@example.com",
                                           "event_time": now})
        ok(st == 200 and (resp or {}).get("status") == "accepted", "%s accepted" % oid, resp)
    evs = mock.wait_for_events(2, HOLD_S + 15)
    by_id = {ev.get("properties", {}).get("order_id"): ev for _, ev in evs}
    is_(sorted(by_id), ["cur-eur", "cur-xbt"], "both orders sent")
    is_(len({r["n"] for r, _ in evs}), 1, "in one batch, which TikTok accepted")
    props = by_id.get("cur-xbt", {}).get("properties", {})
    ok("value" not in props and "currency" not in props,
       "the XBT order carries neither value nor currency", props)
    is_((by_id.get("cur-eur", {}).get("properties", {}).get("value"),
         by_id.get("cur-eur", {}).get("properties", {}).get("currency")), (9.2, "EUR"),
        "the EUR order keeps its value")
    ev = [e for e in d.admin_events() if e.get("object_id") == "cur-xbt"]
    ev = d.admin_event(ev[0]["id"]) if ev else {}
    note = ((ev.get("conversion") or {}).get("value_note")) or ""
    ok("XBT" in note and "12.50" in note, "the event says why its value was not sent", note)
    st, _, text = d.request("admin", "GET", "/metrics", None, d._admin_headers())
    ok(re.search(r'ttrelay_currency_refused_total\{source="crm"\} 1\b', text.decode()),
       "ttrelay_currency_refused_total counts it")
    ok(re.search(r'level=warn msg="currency TikTok does not accept.*currency=XBT', d.log_text()),
       "a warning is logged")


if __name__ == "__main__":
    run_cases([
        test_stripe_subscription_checkout_is_one_event,
        test_renewals_are_ignored_by_default,
        test_renewals_sent_under_their_own_event,
        test_calendly_booking_rescheduled_twice_is_one_contact,
        test_opted_out_visitor_under_ldu,
        test_opted_out_visitor_under_suppress,
        test_policy_mistakes_are_refused,
        test_unsupported_currency_sent_without_value,
    ])
