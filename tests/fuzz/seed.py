#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/<target>/ from tests/fixtures and
etc/ttrelay.conf, in the input layout each fuzz target reads (see fuzz_source.h and the
head of each fuzz_*.c). Run it again after a fixture changes; the output is committed."""

import hashlib
import hmac
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(HERE, "corpus")

SIGNED, JSON, FORM, NO_CT, TEXT = 0x01, 0x00, 0x02, 0x04, 0x06
SEND_TESTS, STALE, ALT = 0x08, 0x10, 0x20
KIND = {"order": 0x00, "call": 0x40, "lead": 0x80}
NOW = 1752619699
SIG_SECRET = b"whsec_fuzz0123456789abcdef"


def fixture(name):
    with open(os.path.join(FIX, name), "rb") as f:
        return f.read()


def source_input(mode, header, body):
    return bytes([mode]) + header + b"\n" + body


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def seeds_sources():
    for name in ("shopify_orders_paid.json", "shopify_orders_create.json",
                 "shopify_cancelled.json", "shopify_test_order.json"):
        body = fixture(name)
        base = name[:-5]
        write("fuzz_shopify", base + ".signed", source_input(SIGNED | JSON, b"orders/paid", body))
        write("fuzz_shopify", base + ".tests", source_input(SIGNED | SEND_TESTS, b"orders/create", body))
    body = fixture("shopify_orders_paid.json")
    write("fuzz_shopify", "unprefixed", source_input(SIGNED | ALT, b"orders/paid", body))
    write("fuzz_shopify", "forged", source_input(0, b"q2hBbW5vdEFWYWxpZFNpZ25hdHVyZTAwMDAwMDAwMDA=", body))
    write("fuzz_shopify", "other_topic", source_input(SIGNED, b"products/update", body))

    for name in ("woo_order_completed.json", "woo_order_processing.json", "woo_order_pending.json"):
        body = fixture(name)
        write("fuzz_woocommerce", name[:-5] + ".signed", source_input(SIGNED, b"order.updated", body))
    write("fuzz_woocommerce", "ping", source_input(FORM, b"", b"webhook_id=42"))
    write("fuzz_woocommerce", "no_topic", source_input(SIGNED, b"", fixture("woo_order_completed.json")))

    for name in ("stripe_checkout_completed.json", "stripe_payment_intent_succeeded.json",
                 "stripe_jpy.json", "stripe_kwd.json", "stripe_test_mode.json"):
        body = fixture(name)
        write("fuzz_stripe", name[:-5] + ".signed", source_input(SIGNED, b"v0=00", body))
    write("fuzz_stripe", "stale", source_input(SIGNED | STALE, b"", fixture("stripe_jpy.json")))
    write("fuzz_stripe", "forged", source_input(0, b"t=1752619699,v1=" + b"ab" * 32,
                                                fixture("stripe_jpy.json")))

    for name in ("calendly_invitee_created.json", "calendly_invitee_canceled.json"):
        write("fuzz_calendly", name[:-5] + ".signed", source_input(SIGNED, b"", fixture(name)))
    write("fuzz_calendly", "forged", source_input(0, b"t=1,v1=00", fixture("calendly_invitee_created.json")))

    for name in ("calcom_booking_created.json", "calcom_booking_cancelled.json"):
        write("fuzz_calcom", name[:-5] + ".signed", source_input(SIGNED, b"", fixture(name)))
    write("fuzz_calcom", "no_secret", source_input(0, b"no-secret-provided", fixture("calcom_booking_created.json")))

    for name, kind in (("generic_call.json", "call"), ("generic_lead.json", "lead"),
                       ("generic_order.json", "order")):
        body = fixture(name)
        write("fuzz_generic", name[:-5] + ".hmac", source_input(SIGNED | KIND[kind], b"idem-1", body))
        write("fuzz_generic", name[:-5] + ".bearer", source_input(SIGNED | ALT | KIND[kind], b"", body))
    write("fuzz_generic", "form.hmac", source_input(SIGNED | FORM, b"", fixture("generic_form.txt")))
    write("fuzz_generic", "form.bearer", source_input(SIGNED | FORM | ALT | KIND["lead"], b"",
                                                      fixture("generic_form.txt")))
    write("fuzz_generic", "bearer_wrong", source_input(ALT, b"Bearer not-the-secret", fixture("generic_call.json")))


def seeds_collect():
    bodies = {
        "pixel_event": b'{"vid":"3f2a9c0d1e8b47a6b5c4d3e2f1a0b9c8","event":"CompletePayment",'
                       b'"event_id":"ev_1752619699_abc","ttclid":"E.C.P.abc","ttp":"2Zx.ttp",'
                       b'"url":"https://shop.example/checkout?ttclid=E.C.P.abc&email=jon%40example.com",'
                       b'"referrer":"https://www.tiktok.com/","order_id":"#1001","value":"19.90",'
                       b'"currency":"USD","ts":1752619699123}',
        "identify": b'{"vid":"v-1","email":" John@Example.com ","phone":"(404) 555-1234"}',
        "numbers": b'{"vid":"v-2","value":19.2,"currency":"eur","ts":1.5e12}',
        "hashed": b'{"vid":"v-3","email":"' + hashlib.sha256(b"a@b.example").hexdigest().encode() + b'"}',
        "nested": b'{"vid":"v-4","extra":{"a":[1,{"b":2}]}}',
        "unicode": b'{"vid":"v-5","url":"https://shop.example/caf\xc3\xa9?q=\\u00e9","event":"Lead",'
                   b'"event_id":"\\u2603"}',
    }
    for name, body in bodies.items():
        write("fuzz_collect", name, b"US" + body)
    write("fuzz_collect", "national_gb", b"GB" + b'{"vid":"v-6","phone":"07700 900123"}')


def seeds_phone():
    for i, raw in enumerate([b"US+1 404-555-1234", b"US(404) 555-1234", b"GB07700 900123",
                             b"DE0049 30 1234567", b"FR+33 (0)1 23 45 67 89", b"HU06 30 123 4567",
                             b"LT8 612 34567", b"USJohn.Doe@Example.COM", b"XX  jon@example.com ",
                             b"US" + hashlib.sha256(b"+14045551234").hexdigest().encode(),
                             b"IT+39 06 1234 5678", b"JP090-1234-5678"]):
        write("fuzz_phone", "seed%02d" % i, raw)


def seeds_signature():
    for i, body in enumerate([fixture("stripe_jpy.json"), fixture("calendly_invitee_created.json"), b""]):
        mac = hmac.new(SIG_SECRET, b"%d." % NOW + body, hashlib.sha256).hexdigest().encode()
        write("fuzz_signature", "valid%d" % i, b"t=%d,v1=%s,v0=%s\n" % (NOW, mac, b"0" * 64) + body)
        write("fuzz_signature", "rolled%d" % i, b"t=%d, v1=%s , v1=%s\n" % (NOW, b"f" * 64, mac) + body)
    write("fuzz_signature", "base64", b"ZmFrZS1zaWduYXR1cmUtdGhhdC1pcy0zMi1ieXRlcw==\n{}")


def seeds_config():
    with open(os.path.join(ROOT, "etc", "ttrelay.conf"), "rb") as f:
        write("fuzz_config", "example", f.read())
    write("fuzz_config", "minimal", b'admin = { token = "0123456789abcdef"; };\n'
          b'tiktok = { dry_run = true; pixels = ( { code = "CPIXEL"; } ); };\n'
          b'sources = ( { id = "crm"; type = "generic"; secret = "s3cret"; kind = "lead"; } );\n')
    write("fuzz_config", "files", b'admin = { token_file = "${CREDENTIALS_DIRECTORY}/admin"; };\n'
          b'tiktok = { pixels = ( { code = "CPIXEL"; access_token_file = "tok"; } ); };\n'
          b'sources = ( { id = "a-b_c"; type = "stripe"; secret_file = "whsec"; pixel = "CPIXEL"; } );\n')


def seeds_header():
    ua = b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15"
    write("fuzz_header", "direct", b"203.0.113.9\0" + ua + b"\0/webhooks/shop")
    write("fuzz_header", "proxied", b"127.0.0.1\0" + ua + b"\0/webhooks/shop%00x\0"
          b"198.51.100.7, 10.0.0.2")
    write("fuzz_header", "spoofed", b"127.0.0.1\0Mozilla \xff\xfe\0/collect?x=%41%7f\0"
          + b", ".join([b"10.9.8.7"] * 120) + b", 6.6.6.6\0198.51.100.7")
    write("fuzz_header", "ipv6", b"::1\0" + "caf\u00e9".encode() + b"\0/cr%6D\0"
          b"2001:db8:1:2::7, [::1], 10.1.1.1\0::ffff:10.0.0.1")


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    seeds_sources()
    seeds_collect()
    seeds_phone()
    seeds_signature()
    seeds_config()
    seeds_header()


if __name__ == "__main__":
    main()
