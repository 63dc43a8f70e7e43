#!/usr/bin/env python3
"""Pre-generates the benchmark's request bodies, because wrk's Lua cannot compute HMACs.

  gen_webhooks.py shopify N OUT [--secret S] [--first K]
      N distinct, correctly signed Shopify orders/paid webhooks (2-4 KB each), one a line:
      <base64 HMAC-SHA256>\\t<X-Shopify-Webhook-Id>\\t<body>
  gen_webhooks.py collect N OUT [--first K]
      the browser touches of the same N orders (a product view and the purchase event,
      after an identify for the email and phone rules), one a line: <client ip>\\t<body>

Order K and its touches share a visitor, so a store that receives both exercises every
matching rule: K % 10 picks the rule the order should match by (event_id in the cart
attributes, order reference on the pixel event, visitor id, email, phone, IP + user
agent, or nothing). Output is deterministic for a given N, first and day."""

import argparse
import base64
import hashlib
import hmac
import json
import sys
import time

SECRET = "shpss_bench_secret"
SHOP = "bench-shop.myshopify.com"
ORIGIN_URL = "https://shop.example"
USER_AGENT = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
BASE_ID = 5820982911946154508

# K % 10 -> the rule an order is built to match by.
RULES = ["event_id", "event_id", "order_ref", "order_ref", "vid", "vid", "email", "phone",
         "ip_ua", "none"]

PRODUCTS = [
    ("IPod Nano - 8GB Pink", "IPOD2008PINK", "199.00", 632910392, 808950810),
    ("Silicone Case - Black", "CASE-BLK", "94.50", 632910393, 808950811),
    ("USB-C Charger 30W", "CHG-30W", "29.99", 632910394, 808950812),
    ("Wireless Earbuds Pro", "EAR-PRO-2", "149.00", 632910395, 808950813),
]


def vid_of(k):
    return hashlib.md5(b"vid%d" % k).hexdigest()


def ip_of(k):
    # 10.0.0.0/8 addresses, distinct for the first 16 million orders.
    return "10.%d.%d.%d" % ((k >> 16) & 255, (k >> 8) & 255, k & 255)


def email_of(k):
    return "customer%d@example.com" % k


def phone_of(k):
    return "+1404%07d" % (k % 10000000)


def iso_local(t, hours=-5):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t + hours * 3600)) + "-05:00"


def money(v):
    return {"shop_money": {"amount": v, "currency_code": "USD"},
            "presentment_money": {"amount": v, "currency_code": "USD"}}


def line_item(k, j):
    name, sku, price, pid, vid = PRODUCTS[(k + j) % len(PRODUCTS)]
    return {
        "id": 866550311766439020 + k * 4 + j,
        "current_quantity": 1 + j, "fulfillable_quantity": 1 + j,
        "fulfillment_service": "manual", "fulfillment_status": None, "gift_card": False,
        "grams": 100, "name": name, "price": price,
        "product_exists": True, "product_id": pid, "properties": [], "quantity": 1 + j,
        "requires_shipping": True, "sku": sku, "taxable": True, "title": name.split(" - ")[0],
        "total_discount": "0.00", "variant_id": vid, "variant_inventory_management": "shopify",
        "variant_title": name.split(" - ")[-1], "vendor": None, "tax_lines": [],
    }


def order_total(items):
    return "%.2f" % sum(float(i["price"]) * i["quantity"] for i in items)


def order(k, now):
    rule = RULES[k % 10]
    oid = BASE_ID + k
    items = [line_item(k, j) for j in range(1 + k % 2)]
    total = order_total(items)
    notes = [{"name": "pk_ab", "value": "t1:C"}]
    if rule == "event_id":
        notes.append({"name": "ttr_event_id", "value": "ev-%d-p" % k})
    if rule in ("event_id", "vid"):
        notes.append({"name": "ttr_vid", "value": vid_of(k)})
    email = email_of(k) if rule in ("email", "event_id", "vid", "order_ref") else \
        "guest%d@example.org" % k
    phone = phone_of(k) if rule == "phone" else None
    addr = {"first_name": "Jon", "address1": "%d Shipping Street" % (k % 900 + 1),
            "phone": phone, "city": "Shippington", "zip": "40003", "province": "Kentucky",
            "country": "United States", "last_name": "Doe%d" % k, "address2": None,
            "company": None, "name": "Jon Doe%d" % k, "country_code": "US",
            "province_code": "KY"}
    ip = ip_of(k) if rule == "ip_ua" else "203.0.%d.%d" % ((k >> 8) & 255, k & 255)
    return {
        "id": oid, "admin_graphql_api_id": "gid://shopify/Order/%d" % oid, "app_id": 580111,
        "browser_ip": ip, "buyer_accepts_marketing": k % 3 == 0, "cancel_reason": None,
        "cancelled_at": None, "cart_token": "c1-%016x" % (k * 2654435761 % (1 << 64)),
        "checkout_id": 901414060 + k, "checkout_token": hashlib.md5(b"co%d" % k).hexdigest(),
        "client_details": {"accept_language": "en-US,en;q=0.9", "browser_height": 900,
                           "browser_ip": ip, "browser_width": 1440, "session_hash": None,
                           "user_agent": USER_AGENT},
        "closed_at": None, "confirmation_number": "R%08X" % k, "confirmed": True,
        "contact_email": email, "created_at": iso_local(now - 2), "currency": "USD",
        "current_subtotal_price": total, "current_total_discounts": "0.00",
        "current_total_price": total, "current_total_tax": "0.00", "customer_locale": "en",
        "discount_codes": [], "email": email, "estimated_taxes": False,
        "financial_status": "paid", "fulfillment_status": None,
        "landing_site": "/products/ipod?utm_source=tiktok&ttclid=E.C.P.bench%d" % k,
        "name": "#%d" % (100000 + k), "note": None, "note_attributes": notes,
        "number": 90000 + k, "order_number": 100000 + k,
        "order_status_url": "https://%s/548380009/orders/%s/authenticate?key=k%d"
                            % (SHOP, hashlib.md5(b"t%d" % k).hexdigest(), k),
        "payment_gateway_names": ["shopify_payments"], "phone": phone,
        "presentment_currency": "USD", "processed_at": iso_local(now),
        "referring_site": "https://www.tiktok.com/", "source_name": "web",
        "subtotal_price": total, "tags": "",
        "tax_exempt": False, "tax_lines": [], "taxes_included": False, "test": False,
        "token": hashlib.md5(b"t%d" % k).hexdigest(), "total_discounts": "0.00",
        "total_line_items_price": total, "total_outstanding": "0.00", "total_price": total,
        "total_price_set": money(total), "total_tax": "0.00", "total_weight": 300,
        "updated_at": iso_local(now), "user_id": None, "billing_address": addr,
        "customer": {"id": 115310627314723954 + k, "email": email, "accepts_marketing": True,
                     "created_at": iso_local(now - 86400), "updated_at": iso_local(now),
                     "first_name": "Jon", "last_name": "Doe%d" % k, "state": "enabled",
                     "verified_email": True, "phone": phone, "currency": "USD",
                     "tax_exempt": False, "tags": ""},
        "discount_applications": [], "fulfillments": [], "line_items": items, "refunds": [],
        "shipping_lines": [],
    }


def touches(k, now_ms):
    """The browser's captures for order k, as ttr.js sends them: a product view, then the
    pixel's purchase event (AddToCart only, for orders meant to match nothing); for the
    email and phone rules an identify (the address typed into a form) comes first."""
    rule = RULES[k % 10]
    base = {"vid": vid_of(k), "ttclid": "E.C.P.bench%d" % k, "ttp": "ttp-%d" % k,
            "url": ORIGIN_URL + "/products/ipod?utm_source=tiktok&ttclid=E.C.P.bench%d" % k,
            "referrer": "https://www.tiktok.com/", "ts": now_ms}
    out = []
    if rule == "email":
        out.append(dict(base, email=email_of(k)))
    elif rule == "phone":
        out.append(dict(base, phone=phone_of(k)))
    out.append(dict(base, event="ViewContent", event_id="ev-%d-v" % k, content_id="632910392"))
    # The thank-you page reports the order's own total and, for order_ref, the order id (the
    # Shopify custom pixel's checkout.order.id); the order name alone is guessable.
    buy = dict(base, event="CompletePayment", event_id="ev-%d-p" % k,
               value=order_total([line_item(k, j) for j in range(1 + k % 2)]), currency="USD")
    if rule == "order_ref":
        buy["order_id"] = str(BASE_ID + k)
    elif rule == "none":
        buy["event"] = "AddToCart"
    out.append(buy)
    return out


def write_shopify(out, n, first, secret):
    key = secret.encode()
    now = int(time.time())
    for k in range(first, first + n):
        body = json.dumps(order(k, now), separators=(",", ":")).encode()
        mac = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest())
        out.write(mac + b"\t" + (b"wh-bench-%d" % k) + b"\t" + body + b"\n")


def write_collect(out, n, first):
    now_ms = int(time.time() * 1000)
    for k in range(first, first + n):
        ip = ip_of(k).encode()
        for t in touches(k, now_ms):
            out.write(ip + b"\t" + json.dumps(t, separators=(",", ":")).encode() + b"\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=["shopify", "collect"])
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--secret", default=SECRET)
    a = ap.parse_args()
    if a.n <= 0 or a.first < 0:
        ap.error("n must be positive and first non-negative")
    with open(a.out, "wb", buffering=1 << 20) as f:
        if a.kind == "shopify":
            write_shopify(f, a.n, a.first, a.secret)
        else:
            write_collect(f, a.n, a.first)
    return 0


if __name__ == "__main__":
    sys.exit(main())
