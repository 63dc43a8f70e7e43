#!/usr/bin/env python3
"""Shopper simulation: plays a seeded population of shoppers through the real ttrelayd and a
mock TikTok on a real-time timeline, then compares what TikTok received with the truth.

    python3 tests/sim/sim.py --seed 1 --shoppers 1000          # the table
    python3 tests/sim/sim.py --seed 7 --shoppers 200 --check   # exit 1 below the thresholds

Each browser does on the wire what ttr.js does (POST /collect beacons, text/plain, its IP
through X-Forwarded-For from a trusted proxy, its User-Agent); each shop sends its webhooks
in the sender's shape, signed as the sender signs them. population.py decides everything
from the seed; this file plays it, collects the mock TikTok's events and scores them.
Python 3 standard library only; reuses tests/integration/ttr_harness.py.

Ground truth. A conversion is an order (Shopify, WooCommerce, Stripe Checkout: a one-off
payment or a subscription's first payment), a booked call (Calendly) or a Stripe
subscription renewal (no browser; the Stripe endpoint is on API version basil). Its
browser event ids are the ids of the order-group (or call-group) events the pixel sent to
TikTok for it: the thank-you event, plus the event of each refreshed thank-you page (the
same id where the site passes the order id or its own event_id, a new random id where it
does not). The pixel fires unless the buying browser has an ad blocker; a beacon to
/collect may be lost while the pixel event still reaches TikTok. TikTok's view: the mock's
server events, mapped to conversions by properties.order_id (calls: by the hashed email;
each booker books once).

MATCHABLE (a correct engine has a usable key). The pixel fired for the conversion, a signed
webhook for it was answered 200, and at least one of these holds:
  event_id   a webhook of it carries an explicit event_id equal to its browser event id;
  derived    its browser event id is the server's own deterministic id for it
             ("ttr_" + sha256("<source>:order:<reference>"): Shopify/WooCommerce sites that
             put the order id on the thank-you event; Stripe Checkout when the session's
             webhook comes first, the reference being the session id), so no touch is
             needed at all;
and, only when a beacon carrying one of its browser event ids reached ttrelay (HTTP 204)
IN TIME, i.e. its request ended at least IN_TIME_GUARD_S before the earliest moment the
hold can end (first webhook's start + hold_s - 1 s, the hold starting at a whole second):
  order_ref  such a beacon carries an order_id that is one of the conversion's references
             (Shopify id/name/number/tokens, WooCommerce id/order key, Stripe intent and
             Checkout session ids);
  vid        a webhook of it (any sibling topic: Shopify create/paid, WooCommerce
             created/updated, Stripe session/intent/invoice) carries the visitor id of the browser
             whose pixel event it is (cart attribute, order meta, client_reference_id,
             Calendly utm_content);
  email      its webhook's email (normalized) was typed on that same browser, i.e. a
             beacon of that browser carrying it reached ttrelay in time (an identify
             beacon, or the Shopify snippet's purchase beacon);
  phone      likewise for its phone, when the typed form is one a beacon can normalize
             (international, or national with the browser's Accept-Language region equal
             to the number's country; "+44 07700 ..." counts as international);
  ip_ua      its webhook carries the browser IP and user agent of that browser's session,
             and exactly one (shopper, visitor) pair sent beacons from that IP + user agent
             in the whole run (the run is shorter than match.ip_ua_window_s).

Scores. recall of matchable: the server event_id is one of its browser event ids. wrong
reuse: the server event_id is a browser event id of a different conversion (another
shopper's, or the same shopper's other order). double count: the pixel fired and the
server event_id is not one of its browser event ids. delivered: the mock received exactly
one server event for it (for a renewal while the daemon ignores renewals: none; a payment
that Stripe reports through several objects - session, intent, invoice - is one conversion,
and an event carrying any of their ids counts for it). ttclid kept: of the conversions
whose ttclid ttrelay could know (in the webhook's landing URL, or on a beacon of the
buying browser that reached it in time), the share whose server event carried it."""

import argparse
import collections
import copy
import hashlib
import heapq
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import population as pop  # noqa: E402
import ttr_harness as h  # noqa: E402

# --check thresholds (issue 11): what a correct engine must reach.
CHECK_MIN_RECALL_OF_MATCHABLE = 0.99
CHECK_MAX_WRONG_REUSE = 0
CHECK_MIN_DELIVERED = 1.0

HOLD_S = 4              # match.hold_s of the simulated daemon
IP_UA_WINDOW_S = 1800   # match.ip_ua_window_s (the default; longer than any run)
# match.max_gap_s: its smallest value. The timeline is compressed (a session lasts seconds,
# a "later session" comes 15-35 s later), so the default hour would span the whole run.
MAX_GAP_S = 60
WORKERS = 12            # concurrent HTTP requests at most
# The daemon's sources.[].renewals for the Stripe source: left at its default, "ignore", so a
# renewal is delivered correctly when TikTok gets nothing for it.
RENEWALS_SENT = False
DRAIN_TIMEOUT_S = 60    # after the last action, how long to wait for TikTok's copies
# A beacon "reached ttrelay in time" for a conversion when its request ended this long
# before the earliest moment the hold can end (the hold starts at the whole second of the
# first webhook's receipt, so it may end up to 1 s early).
IN_TIME_GUARD_S = 0.2


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# Webhook bodies, in each sender's shape (templates are the repository's fixtures)

_TPL = {}


def template(name):
    if name not in _TPL:
        _TPL[name] = h.fixture_json(name)
    return copy.deepcopy(_TPL[name])


TZ = {"shop": -5, "shopb": 1, "woo": -4, "woob": 2}


def iso_local(t, hours):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t + hours * 3600))


def minor(value):
    return int((Decimal(value) * 100).to_integral_value())


def shopify_order(c, wall):
    s = c.shopper
    o = template("shopify_orders_paid.json")
    tz = TZ[c.site]
    oid = int(c.object_id)
    created = h.iso_offset(int(wall), tz)
    o.update({
        "id": oid, "admin_graphql_api_id": "gid://shopify/Order/%d" % oid,
        "name": "#%d" % c.number, "order_number": c.number, "number": c.number - 1000,
        "confirmation_number": c.token[:9].upper(),
        "created_at": created, "processed_at": created, "updated_at": created,
        "email": c.email, "contact_email": c.email, "phone": None,
        "browser_ip": c.wh_ip, "currency": c.currency, "presentment_currency": c.currency,
        "landing_site": c.landing.split(".example", 1)[1] if c.landing else "/",
        "referring_site": "https://www.tiktok.com/" if c.landing_ttclid else "",
        "cart_token": c.cart_token, "checkout_token": c.checkout_token, "token": c.token,
        "checkout_id": oid // 1000 + 7,
        "order_status_url": "https://%s/548380009/orders/%s/authenticate?key=%s" % (
            c.site + ".myshopify.com", c.token, c.checkout_token[:16]),
        "note_attributes": [{"name": "ttr_vid", "value": c.wh_vid}] if c.wh_vid else [],
        "financial_status": "paid", "test": False, "cancelled_at": None, "refunds": [],
    })
    o["client_details"].update({"browser_ip": c.wh_ip, "user_agent": c.wh_ua,
                                "accept_language": c.buy_device.lang})
    total, sub, ship = c.value, pop.money(c.subtotal), pop.money(c.shipping)
    for k in ("total_price", "current_total_price", "total_outstanding"):
        o[k] = total
    for k in ("subtotal_price", "current_subtotal_price", "total_line_items_price"):
        o[k] = sub
    for k, amount in (("total_price_set", total), ("subtotal_price_set", sub),
                      ("total_line_items_price_set", sub), ("total_shipping_price_set", ship)):
        o[k] = {"shop_money": {"amount": amount, "currency_code": c.currency},
                "presentment_money": {"amount": amount, "currency_code": c.currency}}
    o["total_outstanding"] = "0.00"
    o["customer"].update({"id": 7000000000000 + s.idx, "email": s.email, "first_name": s.first.title(),
                          "last_name": s.last.title(), "phone": None,
                          "admin_graphql_api_id": "gid://shopify/Customer/%d" % (7000000000000 + s.idx)})
    addr = {"first_name": s.first.title(), "last_name": s.last.title(),
            "name": "%s %s" % (s.first.title(), s.last.title()), "phone": c.wh_phone,
            "country_code": s.country, "country": s.country}
    o["billing_address"].update(addr)
    o["shipping_address"].update(addr)
    item = o["line_items"][0]
    item.update({"id": oid + 11, "price": sub, "quantity": 1,
                 "name": "Item %s" % c.object_id[-3:], "title": "Item"})
    item["price_set"] = {"shop_money": {"amount": sub, "currency_code": c.currency},
                         "presentment_money": {"amount": sub, "currency_code": c.currency}}
    o["line_items"] = [item]
    o["shipping_lines"] = []
    return o


def woo_order(c, wall, status):
    s = c.shopper
    o = template("woo_order_processing.json")
    tz = TZ[c.site]
    oid = int(c.object_id)
    o.update({
        "id": oid, "number": str(oid), "order_key": c.order_key, "status": status,
        "currency": c.currency, "total": c.value, "shipping_total": pop.money(c.shipping),
        "total_tax": "0.00", "discount_total": "0.00",
        "date_created": iso_local(wall, tz), "date_created_gmt": iso_local(wall, 0),
        "date_modified": iso_local(wall + 1, tz), "date_modified_gmt": iso_local(wall + 1, 0),
        "date_paid": iso_local(wall, tz), "date_paid_gmt": iso_local(wall, 0),
        "customer_id": 0 if s.idx % 3 else 100 + s.idx,
        "customer_ip_address": c.wh_ip, "customer_user_agent": c.wh_ua,
        "cart_hash": hashlib.md5(c.order_key.encode()).hexdigest(),
        "transaction_id": "pi_3" + hashlib.sha1(c.order_key.encode()).hexdigest()[:23],
        "payment_url": "https://%s/checkout/order-pay/%d/?pay_for_order=true&key=%s" % (
            pop.SITES[c.site]["origin"][8:], oid, c.order_key),
    })
    if status == "completed":
        o["date_completed"] = iso_local(wall + 1, tz)
        o["date_completed_gmt"] = iso_local(wall + 1, 0)
    o["billing"].update({"first_name": s.first.title(), "last_name": s.last.title(),
                         "email": c.email, "phone": c.wh_phone, "country": s.country})
    o["shipping"].update({"first_name": s.first.title(), "last_name": s.last.title(),
                          "country": s.country})
    meta = [{"id": 9001, "key": "_wc_order_attribution_source_type",
             "value": "utm" if c.landing_ttclid else "typein"},
            {"id": 9002, "key": "_wc_order_attribution_referrer",
             "value": "https://www.tiktok.com/" if c.landing_ttclid else "(none)"},
            {"id": 9003, "key": "_wc_order_attribution_session_entry",
             "value": c.landing or pop.SITES[c.site]["origin"] + "/"},
            {"id": 9004, "key": "_wc_order_attribution_user_agent", "value": c.wh_ua},
            {"id": 9005, "key": "_wc_order_attribution_device_type",
             "value": "Mobile" if "Mobile" in c.wh_ua else "Desktop"}]
    if c.wh_vid:
        meta.append({"id": 9010, "key": "ttr_vid", "value": c.wh_vid})
    if c.wh_event_id:
        meta.append({"id": 9011, "key": "event_id", "value": c.wh_event_id})
    o["meta_data"] = meta
    item = o["line_items"][0]
    item.update({"id": oid * 10, "subtotal": pop.money(c.subtotal), "total": pop.money(c.subtotal),
                 "quantity": 1, "price": float(c.subtotal), "name": "Item %d" % oid})
    o["line_items"] = [item]
    o["_links"] = {"self": [{"href": "https://%s/wp-json/wc/v3/orders/%d" % (
        pop.SITES[c.site]["origin"][8:], oid)}]}
    return o


def stripe_event(c, wall, topic, evt_id):
    """An event of an endpoint on API version 2025-06-30.basil (the fixtures' version)."""
    s = c.shopper
    name = "%s %s" % (s.first.title(), s.last.title()) if s else "Sub Scriber"
    amount = minor(c.value)
    if topic == "checkout.session.completed":
        e = template("stripe_checkout_completed.json")
        o = e["data"]["object"]
        sub = c.subscription is not None
        o.update({"id": c.session_id, "created": int(wall) - 40,
                  "mode": "subscription" if sub else "payment",
                  "payment_intent": None if sub else c.intent,
                  "subscription": c.subscription, "invoice": c.invoice,
                  "customer": c.customer,
                  "amount_total": amount, "amount_subtotal": minor(pop.money(c.subtotal)),
                  "currency": c.currency.lower(),
                  "client_reference_id": ("vid:" + c.wh_vid) if c.wh_vid else None,
                  "customer_email": None, "metadata": {},
                  "payment_status": "paid", "livemode": True,
                  "expires_at": int(wall) + 86400})
        o["customer_details"].update({
            "email": c.email, "name": name, "phone": c.phone_e164 if c.idx % 2 else None})
        o["customer_details"]["address"].update({"country": s.country})
    elif topic == "invoice.paid":
        cycle = "renewal" in c.tags
        e = template("stripe_payment_intent_succeeded.json")
        t = int(wall)
        o = {"id": c.invoice, "object": "invoice", "account_country": "US",
             "account_name": "Pay Example", "amount_due": amount, "amount_paid": amount,
             "amount_remaining": 0, "amount_shipping": 0, "attempt_count": 1, "attempted": True,
             "billing_reason": "subscription_cycle" if cycle else "subscription_create",
             "collection_method": "charge_automatically", "created": t - 3,
             "currency": c.currency.lower(), "customer": c.customer, "customer_email": c.email,
             "customer_name": name, "customer_phone": None,
             "hosted_invoice_url": "https://invoice.stripe.com/i/acct_1Pay/test_" + c.invoice[-12:],
             "lines": {"object": "list", "data": [{
                 "id": "il_1" + c.invoice[-23:], "object": "line_item", "amount": amount,
                 "currency": c.currency.lower(), "description": "1 x Membership",
                 "period": {"start": t, "end": t + 30 * 86400}, "quantity": 1}],
                 "has_more": False, "total_count": 1},
             "livemode": True, "metadata": {}, "number": "PAYEX-%04d" % c.idx,
             "parent": {"type": "subscription_details", "quote_details": None,
                        "subscription_details": {"metadata": {}, "subscription": c.subscription}},
             "status": "paid", "status_transitions": {"paid_at": t, "finalized_at": t - 3},
             "subtotal": amount, "total": amount}
        e["data"]["object"] = o
    else:
        e = template("stripe_payment_intent_succeeded.json")
        o = e["data"]["object"]
        o.pop("invoice", None)  # basil: a payment intent does not name its invoice
        desc = None
        if "renewal" in c.tags:
            desc = "Subscription update"
        elif c.subscription:
            desc = "Subscription creation"
        o.update({"id": c.intent, "amount": amount, "amount_received": amount,
                  "currency": c.currency.lower(), "created": int(wall) - 2,
                  "customer": c.customer, "description": desc,
                  "receipt_email": c.email, "metadata": {}, "livemode": True,
                  "client_secret": c.intent + "_secret_" + evt_id[-10:],
                  "latest_charge": "ch_3" + evt_id[-23:]})
    e.update({"id": evt_id, "created": int(wall), "livemode": True, "type": topic})
    return e


def calendly_event(c, wall):
    s = c.shopper
    e = template("calendly_invitee_created.json")
    p = e["payload"]
    t_iso = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(wall))
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall + 3 * 86400))
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall + 3 * 86400 + 1800))
    e["created_at"] = t_iso[:19] + "Z"
    ev_uri = c.object_id.split("/invitees/")[0]
    phone = c.phone_e164
    p.update({"uri": c.object_id, "email": c.email, "first_name": s.first.title(),
              "last_name": s.last.title(), "name": "%s %s" % (s.first.title(), s.last.title()),
              "created_at": t_iso, "updated_at": t_iso,
              "timezone": {"US": "America/New_York", "GB": "Europe/London"}.get(s.country, "Europe/Berlin"),
              "text_reminder_number": phone,
              "questions_and_answers": [{"question": "Phone number", "answer": phone, "position": 0}]
              if phone else [],
              "cancel_url": "https://calendly.com/cancellations/" + c.object_id[-16:],
              "reschedule_url": "https://calendly.com/reschedulings/" + c.object_id[-16:]})
    p["tracking"] = {"utm_campaign": "spring", "utm_source": "tiktok" if s.ttclid else None,
                     "utm_medium": "paid" if s.ttclid else None,
                     "utm_content": ("vid:" + c.wh_vid) if c.wh_vid else None,
                     "utm_term": None, "salesforce_uuid": None}
    p["scheduled_event"].update({"uri": ev_uri, "start_time": start, "end_time": end,
                                 "created_at": t_iso, "updated_at": t_iso})
    return e


class Sender:
    """Builds and signs each webhook at its send time; a sender retry resends the bytes
    of the earlier delivery."""

    def __init__(self):
        self.cache = {}
        self.lock = threading.Lock()

    def build(self, wh, wall0):
        c = wh.conv
        wall = wall0 + c.t0
        key = (c.idx, wh.topic)
        with self.lock:
            if wh.spec.get("retry") and key in self.cache:
                return self.cache[key]
        secret = pop.SECRETS[wh.source]
        if wh.source in ("shop", "shopb"):
            raw = json.dumps(shopify_order(c, wall)).encode()
            hdr = h.shopify_headers(secret, raw, topic=wh.topic,
                                    webhook_id="%s-%d-%s" % (wh.source, c.idx, wh.topic),
                                    shop="%s.myshopify.com" % wh.source)
        elif wh.source in ("woo", "woob"):
            status = "processing" if wh.topic == "order.created" else "completed"
            raw = json.dumps(woo_order(c, wall, status), separators=(",", ":")).replace("/", "\\/")
            raw = raw.encode()
            hdr = h.woo_headers(secret, raw, topic=wh.topic, webhook_id="3" if wh.source == "woo" else "5")
            hdr["X-WC-Webhook-Source"] = pop.SITES[wh.source]["origin"] + "/"
        elif wh.source == "pay":
            evt_id = "evt_3" + hashlib.sha256(("%d%s" % (c.idx, wh.topic)).encode()).hexdigest()[:24]
            raw = json.dumps(stripe_event(c, wall, wh.topic, evt_id), indent=2).encode()
            hdr = {"Content-Type": "application/json; charset=utf-8",
                   "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                   "Stripe-Signature": h.stripe_header(secret, raw)}
        else:
            raw = json.dumps(calendly_event(c, wall)).encode()
            hdr = {"Content-Type": "application/json",
                   "Calendly-Webhook-Signature": h.calendly_header(secret, raw)}
        with self.lock:
            self.cache[key] = (raw, hdr)
        return raw, hdr


# ---------------------------------------------------------------------------------------
# Playing the timeline

class Act:
    __slots__ = ("start", "end", "status", "reply")

    def __init__(self):
        self.start = self.end = None
        self.status = None
        self.reply = None


def daemon_config():
    return dict(
        match={"hold_s": HOLD_S, "ip_ua_window_s": IP_UA_WINDOW_S, "max_gap_s": MAX_GAP_S},
        collect={"allowed_origins": [s["origin"] for s in pop.SITES.values()],
                 "trusted_proxies": ["127.0.0.1"],
                 # One office or carrier IP sends many beacons in the compressed timeline.
                 "rate_per_s": 100000.0, "burst": 100000},
        sources=[{"id": sid, "type": cfg["type"], "secret": pop.SECRETS[sid]}
                 for sid, cfg in pop.SITES.items()],
    )


def play(plan, d, workers):
    sender = Sender()
    items = []
    for i, b in enumerate(plan.beacons):
        if not b.lost:
            items.append((b.t, 0, i, b))
    for i, w in enumerate(plan.webhooks):
        items.append((w.t, 1, i, w))
    heapq.heapify(items)
    t_mono0 = time.monotonic() + 1.0
    wall0 = time.time() + 1.0
    errors = collections.Counter()

    def do(obj):
        act = Act()
        obj.act = act
        try:
            if isinstance(obj, pop.Beacon):
                body = dict(obj.body, ts=int(time.time() * 1000))
                hdr = {"Content-Type": "text/plain;charset=UTF-8", "Origin": obj.origin,
                       "X-Forwarded-For": obj.ip, "User-Agent": obj.ua,
                       "Accept-Language": obj.device.lang}
                act.start = time.monotonic() - t_mono0
                st, _, _ = d.request("public", "POST", "/collect", json.dumps(body).encode(), hdr)
                act.end = time.monotonic() - t_mono0
                act.status = st
                if st != 204:
                    why = " (national phone, no region)" if (
                        obj.phone_tag or "").endswith("_no_region") else ""
                    errors["collect %s%s" % (st, why)] += 1
            else:
                raw, hdr = sender.build(obj, wall0)
                act.start = time.monotonic() - t_mono0
                st, _, data = d.request("public", "POST", "/webhooks/" + obj.source, raw, hdr)
                act.end = time.monotonic() - t_mono0
                act.status = st
                try:
                    act.reply = json.loads(data)
                except ValueError:
                    act.reply = None
                if st != 200:
                    errors["webhook %s %s" % (obj.source, st)] += 1
        except Exception as e:  # noqa: BLE001 - counted and reported
            act.end = time.monotonic() - t_mono0
            errors["%s %s" % (type(obj).__name__, type(e).__name__)] += 1

    lateness = []
    with ThreadPoolExecutor(max_workers=workers) as ex:
        while items:
            t, _, _, obj = heapq.heappop(items)
            delay = t_mono0 + t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                lateness.append(-delay)
            ex.submit(do, obj)
    return t_mono0, errors, lateness


def collect_server_events(plan, mock):
    by_order = {}
    for c in plan.convs:
        for oid in [c.order_id] + sorted(c.alt_ids):
            if oid:
                by_order[oid] = c
    by_email = {}
    for c in plan.convs:
        if c.kind == "call":
            by_email[hashlib.sha256(c.email_norm.encode()).hexdigest()] = c
    got = collections.defaultdict(list)
    unmapped = []
    for _, ev in mock.events():
        oid = (ev.get("properties") or {}).get("order_id")
        c = by_order.get(str(oid)) if oid is not None else None
        if c is None:
            em = (ev.get("user") or {}).get("email")
            em = em[0] if isinstance(em, list) and em else em
            c = by_email.get(em) if isinstance(em, str) else None
        if c is None:
            unmapped.append(ev)
        else:
            got[c.idx].append(ev)
    return got, unmapped


def drain(plan, mock, expected, timeout):
    deadline = time.monotonic() + timeout
    last_n, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        got, _ = collect_server_events(plan, mock)
        n = len(mock.events())
        if n != last_n:
            last_n, stable_since = n, time.monotonic()
        if all(i in got for i in expected) and time.monotonic() - stable_since >= 1.5:
            return
        time.sleep(0.3)


# ---------------------------------------------------------------------------------------
# Ground truth and scoring

def first_webhook_window(c):
    """(earliest start, end of that request) of the conversion's answered webhooks."""
    acts = [w.act for w in c.webhooks if w.act and w.act.status == 200 and w.act.start is not None]
    if not acts:
        return None
    a = min(acts, key=lambda a: a.start)
    return a.start, a.end


def reached_before(b, t):
    return (not b.lost and b.act is not None and b.act.status == 204 and b.act.end is not None
            and b.act.end <= t)


def analyse(plan, got):
    owner = {}
    for c in plan.convs:
        for eid in c.pixel_ids:
            owner[eid] = c
    # IP + UA pairs: who was seen with each pair (beacons that reached ttrelay).
    pair_users = collections.defaultdict(set)
    for b in plan.beacons:
        if not b.lost and b.act is not None and b.act.status == 204:
            pair_users[(b.ip, b.ua)].add((b.shopper.idx, b.device.vid))
    identify_by_dev = collections.defaultdict(list)
    for b in plan.beacons:
        if b.role in ("identify", "thanks", "refresh") and (b.email_norm or b.phone_usable):
            identify_by_dev[b.device.key].append(b)
    rows = []
    for c in plan.convs:
        r = {"c": c, "keys": [], "tags": set(c.tags)}
        win = first_webhook_window(c)
        r["accepted"] = win is not None
        # Scored on the event carrying the conversion's own order_id when there are several
        # (a payment split into two conversions): the order TikTok received them in varies.
        evs = sorted(got.get(c.idx, []), key=lambda e: str(
            (e.get("properties") or {}).get("order_id")) != str(c.order_id))
        r["n_server"] = len(evs)
        r["sid"] = evs[0].get("event_id") if evs else None
        r["sname"] = evs[0].get("event") if evs else None
        r["ids"] = sorted({e.get("event_id") for e in evs})
        r["pixel"] = bool(c.pixel)
        r["correct"] = r["sid"] in c.pixel_ids if evs else False
        o = owner.get(r["sid"])
        r["wrong"] = None
        if o is not None and o is not c:
            r["wrong"] = "same" if (c.shopper is not None and o.shopper is c.shopper) else "other"
            r["wrong_with"] = o
        r["double"] = r["pixel"] and evs and not r["correct"]
        r["name_mismatch"] = r["correct"] and (r["sname"] != dict((i, n) for n, i in c.pixel)[r["sid"]])
        # What a correct engine could use: MATCHABLE in the module doc.
        if c.pixel and win is not None:
            deadline = win[0] + HOLD_S - 1.0 - IN_TIME_GUARD_S
            touch_in_time = any(reached_before(b, deadline) for b in c.beacons)
            keys = r["keys"]
            if c.wh_event_id and c.wh_event_id in c.pixel_ids:
                keys.append("event_id")
            if c.derived:
                keys.append("derived")
            if touch_in_time:
                if any(b.body.get("order_id") in c.refs and reached_before(b, deadline)
                       for b in c.beacons):
                    keys.append("order_ref")
                if c.wh_vid and c.wh_vid == c.pixel_device.vid:
                    keys.append("vid")
                typed = [b for b in identify_by_dev[c.pixel_device.key] if reached_before(b, deadline)]
                if c.email_norm and any(b.email_norm == c.email_norm for b in typed):
                    keys.append("email")
                if c.phone_e164 and c.kind == "order" and any(
                        b.phone_usable == c.phone_e164 for b in typed):
                    keys.append("phone")
                if c.wh_ip and c.wh_ua and c.wh_ip == c.session_ip and c.wh_ua == c.pixel_device.ua \
                        and len(pair_users[(c.wh_ip, c.wh_ua)]) == 1:
                    keys.append("ip_ua")
            if not touch_in_time:
                r["tags"].add("no_touch_in_time")
            for b in identify_by_dev[c.pixel_device.key]:
                if b.phone_tag and b.shopper is c.shopper:
                    r["tags"].add(b.phone_tag)
        r["matchable"] = bool(r["keys"])
        # ttclid: known to ttrelay from the webhook's landing URL, or from a beacon of the
        # buying browser that reached ttrelay in time.
        exp = c.landing_ttclid
        dev = c.buy_device
        if not exp and dev is not None and dev.ttclid and win is not None:
            deadline = win[0] + HOLD_S - 1.0 - IN_TIME_GUARD_S
            if any(b.device is dev and b.body.get("ttclid") == dev.ttclid and reached_before(b, deadline)
                   for b in plan.beacons if b.device is dev):
                exp = dev.ttclid
        r["ttclid_expected"] = exp
        if exp:
            r["tags"].add("ttclid_known")
        if c.pixel_device is not None and any(
                b.email_norm and b.role == "identify" and b.shopper is c.shopper
                for b in identify_by_dev[c.pixel_device.key]):
            r["tags"].add("typed_email")
        sent_ttclid = ((evs[0].get("user") or {}).get("ttclid") if evs else None)
        r["ttclid_kept"] = bool(exp) and sent_ttclid == exp
        r["ttclid_sent"] = sent_ttclid
        r["ttclid_foreign"] = bool(sent_ttclid) and sent_ttclid != exp and \
            sent_ttclid != (c.shopper.ttclid if c.shopper else None)
        rows.append(r)
    return rows


def timeline_health(plan):
    """Planned orderings the machine did not keep (a slow machine blurs 'after the hold')."""
    bad = 0
    for c in plan.convs:
        win = first_webhook_window(c)
        if win is None:
            continue
        for b in c.beacons:
            if b.lost or b.act is None or b.act.start is None:
                continue
            planned_after = b.t > min(w.t for w in c.webhooks) + HOLD_S
            if planned_after and b.act.start < win[1] + HOLD_S + 0.3:
                bad += 1
            if not planned_after and b.act.end > win[0] + HOLD_S - 1.0 - IN_TIME_GUARD_S:
                bad += 1
    return bad


# ---------------------------------------------------------------------------------------
# Report

def pct(a, b):
    return "%.3f" % (a / b) if b else "-"


def summarise(rows):
    n = len(rows)
    m = [r for r in rows if r["matchable"]]
    hit = [r for r in m if r["correct"]]
    wrong = [r for r in rows if r["wrong"]]
    wrong_other = [r for r in wrong if r["wrong"] == "other"]
    wrong_same = [r for r in wrong if r["wrong"] == "same"]
    pixel = [r for r in rows if r["pixel"]]
    double = [r for r in rows if r["double"]]
    once = [r for r in rows if r["n_server"] == r["c"].expected_events]
    never = [r for r in rows if r["c"].expected_events and r["n_server"] == 0]
    multi = [r for r in rows if r["c"].expected_events and r["n_server"] > 1]
    unwanted = [r for r in rows if not r["c"].expected_events and r["n_server"]]
    tt = [r for r in rows if r["ttclid_expected"]]
    tt_kept = [r for r in tt if r["ttclid_kept"]]
    return {
        "conversions": n, "pixel_fired": len(pixel), "matchable": len(m),
        "recall_hits": len(hit), "recall": len(hit) / len(m) if m else 1.0,
        "wrong_reuse": len(wrong), "wrong_other": len(wrong_other), "wrong_same": len(wrong_same),
        "double": len(double), "delivered_once": len(once), "never": len(never),
        "multi": len(multi), "unwanted": len(unwanted), "delivered": len(once) / n if n else 1.0,
        "ttclid_expected": len(tt), "ttclid_kept": len(tt_kept),
        "ttclid_foreign": sum(1 for r in rows if r["ttclid_foreign"]),
        "name_mismatch": sum(1 for r in rows if r["name_mismatch"]),
        "hits_outside_matchable": sum(1 for r in rows if r["correct"] and not r["matchable"]),
    }


def print_report(plan, rows, s, extra, out=sys.stdout):
    p = lambda *a: print(*a, file=out)  # noqa: E731
    kinds = collections.Counter(
        "renewal" if "renewal" in r["tags"] else r["c"].kind for r in rows)
    p("ttrelay shopper simulation: seed %d, %d shoppers, hold_s %d, %.0f s of timeline, "
      "run took %.0f s" % (plan.seed, plan.n, HOLD_S, extra["timeline_s"], extra["took_s"]))
    p("")
    p("  %-44s %6d   (orders %d, calls %d, renewals %d)" % (
        "conversions", s["conversions"], kinds["order"], kinds["call"], kinds["renewal"]))
    p("  %-44s %6d" % ("pixel fired (browser event reached TikTok)", s["pixel_fired"]))
    p("  %-44s %6d   %s of conversions" % ("matchable (a correct engine has a key)",
                                          s["matchable"], pct(s["matchable"], s["conversions"])))
    p("  %-44s %6s   (%d/%d)" % ("recall of matchable", "%.3f" % s["recall"], s["recall_hits"],
                                 s["matchable"]))
    p("  %-44s %6d   %s of conversions: another shopper's %d, same shopper's other %d" % (
        "wrong reuse (another conversion's event_id)", s["wrong_reuse"],
        pct(s["wrong_reuse"], s["conversions"]), s["wrong_other"], s["wrong_same"]))
    p("  %-44s %6d   %s of pixel-fired" % ("double counts (pixel fired, server id differs)",
                                           s["double"], pct(s["double"], s["pixel_fired"])))
    p("  %-44s %6s   (%d/%d; never %d, more than once %d, ignored renewals sent %d)" % (
        "delivered (once; an ignored renewal: never)", "%.3f" % s["delivered"],
        s["delivered_once"], s["conversions"], s["never"], s["multi"], s["unwanted"]))
    p("  %-44s %6s   (%d/%d; another's ttclid sent %d)" % (
        "ttclid kept", pct(s["ttclid_kept"], s["ttclid_expected"]), s["ttclid_kept"],
        s["ttclid_expected"], s["ttclid_foreign"]))
    p("  %-44s %6d" % ("right id, other event name (no dedup)", s["name_mismatch"]))
    p("  %-44s %6d" % ("right id without a matchable key", s["hits_outside_matchable"]))
    ren = [r for r in rows if "renewal" in r["tags"]]
    p("  %-44s %6d   configured: %s; server events for them: %d" % (
        "renewals (no browser, never matchable)", len(ren),
        "sent" if RENEWALS_SENT else "ignored (sources.renewals default)",
        sum(r["n_server"] for r in ren)))
    p("")
    # Keys.
    strongest = collections.Counter()
    miss_by_key = collections.Counter()
    for r in rows:
        if r["matchable"]:
            k = r["keys"][0]
            strongest[k] += 1
            if not r["correct"]:
                miss_by_key[k] += 1
    p("  matchable by strongest key (misses):  " + ", ".join(
        "%s %d (%d)" % (k, strongest[k], miss_by_key[k])
        for k in ["event_id", "derived", "order_ref", "vid", "email", "phone", "ip_ua"]
        if strongest[k]))
    if extra.get("matched_by"):
        p("  daemon's matched_by on wrong reuses:   " + ", ".join(
            "%s %d" % kv for kv in extra["matched_by"]["wrong"].most_common()))
        p("  daemon's matched_by on misses:         " + ", ".join(
            "%s %d" % kv for kv in extra["matched_by"]["miss"].most_common()))
    p("")
    # Per behaviour.
    tags = collections.Counter(t for r in rows for t in r["tags"])
    p("  %-26s %6s %6s %7s %6s %11s %6s %6s %8s" % (
        "behaviour", "convs", "match", "recall", "missed", "wrong(o/s)", "double", "!deliv",
        "ttcl.lost"))
    for t in sorted(tags):
        rs = [r for r in rows if t in r["tags"]]
        m = [r for r in rs if r["matchable"]]
        hit = sum(1 for r in m if r["correct"])
        wo = sum(1 for r in rs if r["wrong"] == "other")
        ws = sum(1 for r in rs if r["wrong"] == "same")
        p("  %-26s %6d %6d %7s %6d %5d/%-5d %6d %6d %8d" % (
            t, len(rs), len(m), pct(hit, len(m)), len(m) - hit, wo, ws,
            sum(1 for r in rs if r["double"]),
            sum(1 for r in rs if r["n_server"] != r["c"].expected_events),
            sum(1 for r in rs if r["ttclid_expected"] and not r["ttclid_kept"])))
    p("")
    p("  timeline: %d requests, late dispatches %d (max %.2f s), planned orderings not kept %d; "
      "request errors: %s" % (extra["requests"], extra["late"], extra["late_max"],
                              extra["order_violations"],
                              ", ".join("%s %d" % kv for kv in extra["errors"].items()) or "none"))
    if extra["unmapped"]:
        p("  server events not mapped to any conversion: %d" % extra["unmapped"])
    p("")
    p("  sites: " + "\n         ".join("%-6s %s" % (k, v["note"]) for k, v in pop.SITES.items()))


def examples(rows, limit, out=sys.stdout):
    """A few misses and wrong reuses with the daemon's own record, for debugging."""
    shown = 0
    for r in rows:
        if shown >= limit:
            break
        if not (r["wrong"] or (r["matchable"] and not r["correct"])):
            continue
        c = r["c"]
        what = "WRONG(%s) took #%d's id" % (r["wrong"], r["wrong_with"].idx) if r["wrong"] else "MISS"
        line = "  #%d %s %s %s keys=%s tags=%s" % (c.idx, c.site, c.order_id or c.object_id, what,
                                                  ",".join(r["keys"]) or "-",
                                                  ",".join(sorted(r["tags"])))
        if r.get("admin"):
            a = r["admin"]
            line += " daemon: matched_by=%s touch=%s" % (a.get("matched_by"), a.get("touch_id"))
        print(line, file=out)
        shown += 1


def admin_lookup(rows, d, limit=400):
    """The daemon's matched_by for misses and wrong reuses (bounded number of requests)."""
    by = {"wrong": collections.Counter(), "miss": collections.Counter()}
    n = 0
    for r in rows:
        bad = "wrong" if r["wrong"] else ("miss" if r["matchable"] and not r["correct"] else None)
        if not bad or n >= limit:
            continue
        eid = None
        for w in r["c"].webhooks:
            if w.act and isinstance(w.act.reply, dict) and w.act.reply.get("id"):
                eid = w.act.reply["id"]
                break
        if eid is None:
            continue
        n += 1
        try:
            st, obj = d.admin_get("/admin/events/%s" % eid)
        except OSError:
            continue
        if st == 200 and isinstance(obj, dict):
            r["admin"] = obj
            by[bad][obj.get("matched_by") or "?"] += 1
    return by


# ---------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shoppers", type=int, default=1000)
    ap.add_argument("--spread", type=float, default=None,
                    help="seconds over which shoppers arrive (default: 0.18 s per shopper, >= 30)")
    ap.add_argument("--workers", type=int, default=WORKERS)
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless recall of matchable >= %.2f, wrong reuse <= %d and "
                         "delivered >= %.1f" % (CHECK_MIN_RECALL_OF_MATCHABLE,
                                                CHECK_MAX_WRONG_REUSE, CHECK_MIN_DELIVERED))
    ap.add_argument("--examples", type=int, default=15, help="misses/wrong reuses to list")
    ap.add_argument("--json", help="write the summary and per-conversion results here")
    ap.add_argument("--ttrelayd", help="the daemon (default: $TTRELAYD, else build/ttrelayd)")
    args = ap.parse_args(argv)

    repo = os.path.abspath(os.path.join(HERE, "..", ".."))
    exe = args.ttrelayd or os.environ.get("TTRELAYD") or os.path.join(repo, "build", "ttrelayd")
    if not os.access(exe, os.X_OK):
        log("sim: no ttrelayd at %s (build it, or set TTRELAYD / --ttrelayd)" % exe)
        return 2
    os.environ["TTRELAYD"] = os.path.abspath(exe)
    os.environ.setdefault("TTR_FIXTURES", os.path.join(repo, "tests", "fixtures"))

    t_start = time.monotonic()
    plan = pop.Plan(args.seed, args.shoppers, HOLD_S, args.spread, renewals_sent=RENEWALS_SENT)
    timeline = max([b.t for b in plan.beacons] + [w.t for w in plan.webhooks])
    log("sim: seed %d, %d shoppers, %d conversions, %d beacons, %d webhooks, %.0f s timeline"
        % (args.seed, args.shoppers, len(plan.convs), sum(1 for b in plan.beacons if not b.lost),
           len(plan.webhooks), timeline))
    mock = h.MockTikTok()
    d = h.Daemon(mock, **daemon_config())
    try:
        t_mono0, errors, lateness = play(plan, d, args.workers)
        expected = {c.idx for c in plan.convs if first_webhook_window(c) and c.expected_events}
        drain(plan, mock, expected, HOLD_S + DRAIN_TIMEOUT_S)
        got, unmapped = collect_server_events(plan, mock)
        rows = analyse(plan, got)
        by = admin_lookup(rows, d)
    except BaseException:
        log("---- ttrelayd log, last lines ----\n" + "\n".join(d.log_text().splitlines()[-40:]))
        raise
    finally:
        d.close()
        mock.close()
    s = summarise(rows)
    extra = {"timeline_s": timeline, "took_s": time.monotonic() - t_start,
             "requests": sum(1 for b in plan.beacons if not b.lost) + len(plan.webhooks),
             "late": sum(1 for x in lateness if x > 0.25),
             "late_max": max(lateness) if lateness else 0.0,
             "order_violations": timeline_health(plan), "errors": errors,
             "unmapped": len(unmapped), "matched_by": by}
    print_report(plan, rows, s, extra)
    if args.examples:
        print("\n  examples (misses of matchable, wrong reuses):")
        examples(rows, args.examples)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seed": args.seed, "shoppers": args.shoppers, "summary": s,
                       "conversions": [{
                           "idx": r["c"].idx, "site": r["c"].site, "order_id": r["c"].order_id,
                           "pixel": r["c"].pixel, "server_ids": r["ids"], "keys": r["keys"],
                           "tags": sorted(r["tags"]), "correct": r["correct"],
                           "wrong": r["wrong"], "n_server": r["n_server"],
                           "ttclid_expected": r["ttclid_expected"], "ttclid_sent": r["ttclid_sent"],
                           "matched_by": (r.get("admin") or {}).get("matched_by")}
                           for r in rows]}, f, indent=1)
    if args.check:
        checks = [
            ("recall of matchable >= %.2f" % CHECK_MIN_RECALL_OF_MATCHABLE,
             s["recall"] >= CHECK_MIN_RECALL_OF_MATCHABLE),
            ("wrong reuse <= %d" % CHECK_MAX_WRONG_REUSE, s["wrong_reuse"] <= CHECK_MAX_WRONG_REUSE),
            ("delivered >= %.1f" % CHECK_MIN_DELIVERED, s["delivered"] >= CHECK_MIN_DELIVERED),
        ]
        print("")
        for name, good in checks:
            print("  check %-32s %s" % (name, "ok" if good else "FAILED"))
        if extra["order_violations"]:
            print("  note: %d planned orderings were not kept (slow machine?)" % extra["order_violations"])
        return 0 if all(g for _, g in checks) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
