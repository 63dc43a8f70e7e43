"""Privacy at rest: after a full run (every source type with the fixtures' real emails and
phones, plus browser captures), neither the database, its WAL and shared-memory files (a
copy taken while running and the files left after SIGTERM), nor the log, nor what went to
TikTok holds a raw email, a raw or E.164 phone, a source secret, an access token or the
admin token. The store files are 0600; the admin listener wants its token and binds
loopback by default."""

import glob
import json
import os
import re
import shutil
import stat
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ttr_harness import (on_pg, skip_sqlite_only,  # noqa: E402
                         ADMIN_TOKEN, SECRETS, TIKTOK_TOKEN, Daemon,  # noqa: E402
                         MockTikTok, calcom_header, calendly_header, e164, fixture_bytes,
                         fixtures_dir, generic_signature, is_, iso_offset, iso_utc, ok, retime,
                         run_cases, shopify_headers, source_dir, stripe_header, wait_until,
                         woo_headers)

HOLD_S = 1
EMAIL_RE = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
PHONE_KEYS = re.compile(r"phone|reminder_number", re.I)
# Browser captures sent by the test itself, on top of the fixtures' contacts.
COLLECT_EMAIL = "Visitor.Person@Example.org"
COLLECT_PHONE = "+1 (212) 555-0187"
COLLECT_URL_EMAIL = "url.leak@example.net"


# ---------------------------------------------------------------------------------------
# What must never be found

def fixture_texts():
    out = {}
    for path in sorted(glob.glob(os.path.join(fixtures_dir(), "*"))):
        if path.endswith((".json", ".txt")):
            with open(path, "rb") as f:
                out[os.path.basename(path)] = f.read()
    return out


def _phones_in(obj, out):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, str) and v.strip() and PHONE_KEYS.search(k):
                out.add(v.strip())
            elif k == "questions_and_answers" and isinstance(v, list):
                for qa in v:
                    if isinstance(qa, dict) and "phone" in str(qa.get("question", "")).lower():
                        out.add(str(qa.get("answer", "")).strip())
            else:
                _phones_in(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _phones_in(v, out)


def needles():
    """name → list of byte strings, each searched case-insensitively."""
    emails, phones = set(), set()
    for name, raw in fixture_texts().items():
        text = urllib.parse.unquote_plus(raw.decode("utf-8", "replace")).encode()
        for m in EMAIL_RE.findall(text):
            emails.add(m.decode())
        if name.endswith(".json"):
            _phones_in(json.loads(raw), phones)
        else:
            form = urllib.parse.parse_qs(raw.decode())
            phones.update(v.strip() for v in form.get("phone", []))
    emails |= {COLLECT_EMAIL, COLLECT_URL_EMAIL}
    phones.add(COLLECT_PHONE)
    out = {}
    for e in sorted(emails):
        forms = {e, e.strip().lower(), urllib.parse.quote(e.strip(), safe="")}
        out["email " + e] = sorted({f.encode().lower() for f in forms})
    for p in sorted(phones):
        forms = {p}
        digits = re.sub(r"\D", "", p)
        for country in (None, "US", "GB"):
            try:
                forms.add(e164(p, country))
            except KeyError:
                pass
        forms |= {f[1:] for f in forms if f.startswith("+") and len(f) > 9}
        if len(digits) >= 8:
            forms.add(digits)
        out["phone " + p] = sorted({f.encode().lower() for f in forms if f})
    for sid, secret in SECRETS.items():
        out["secret of " + sid] = [secret.encode().lower()]
    out["TikTok access token"] = [TIKTOK_TOKEN.encode().lower()]
    out["admin token"] = [ADMIN_TOKEN.encode().lower()]
    return out


def leaks(data, table):
    """Names (and the matching form) of every needle found in data."""
    hay = data.lower()
    found = []
    for name, forms in table.items():
        for f in forms:
            if f and f in hay:
                found.append("%s (as %r)" % (name, f.decode()))
                break
    return found


# ---------------------------------------------------------------------------------------
# The full run

def post_everything(d):
    """Every source type with its fixtures, signed as the sender signs; returns the number
    of webhooks accepted."""
    now = int(time.time())
    t = now - 60
    accepted = 0

    def post(source, raw, headers):
        nonlocal accepted
        st, resp = d.post_webhook(source, raw, headers)
        ok(st == 200 and (resp or {}).get("status") in ("accepted", "duplicate", "ignored"),
           "%s delivery answered 200 (%s)" % (source, (resp or {}).get("status")), repr((st, resp)))
        accepted += (resp or {}).get("status") == "accepted"

    for name in ("shopify_orders_paid.json", "shopify_test_order.json", "shopify_cancelled.json"):
        raw = retime(fixture_bytes(name), {"created_at": iso_offset(t, -5),
                                           "processed_at": iso_offset(t, -5)})
        post("shop", raw, shopify_headers(SECRETS["shop"], raw, topic="orders/create"))
    for name in ("woo_order_processing.json", "woo_order_completed.json", "woo_order_pending.json"):
        times = {"date_created_gmt": iso_utc(t - 5)[:-1]}
        if name != "woo_order_pending.json":
            times["date_paid_gmt"] = iso_utc(t)[:-1]
        raw = retime(fixture_bytes(name), times)
        post("woo", raw, woo_headers(SECRETS["woo"], raw))
    for name in ("stripe_checkout_completed.json", "stripe_kwd.json", "stripe_jpy.json",
                 "stripe_test_mode.json"):
        raw = retime(fixture_bytes(name), {"created": t})
        post("pay", raw, {"Content-Type": "application/json; charset=utf-8",
                          "Stripe-Signature": stripe_header(SECRETS["pay"], raw)})
    for name in ("calendly_invitee_created.json", "calendly_invitee_canceled.json"):
        raw = retime(fixture_bytes(name), {"created_at": iso_utc(t)})
        post("cal", raw, {"Content-Type": "application/json",
                          "Calendly-Webhook-Signature": calendly_header(SECRETS["cal"], raw)})
    for name in ("calcom_booking_created.json", "calcom_booking_cancelled.json"):
        raw = retime(fixture_bytes(name), {"createdAt": iso_utc(t)})
        post("calc", raw, {"Content-Type": "application/json",
                           "X-Cal-Signature-256": calcom_header(SECRETS["calc"], raw)})
    raw = retime(fixture_bytes("generic_call.json"), {"event_time": iso_utc(t)})
    post("crm", raw, {"Content-Type": "application/json",
                      "X-Ttrelay-Signature": generic_signature(SECRETS["crm"], raw)})
    raw = retime(fixture_bytes("generic_lead.json"), {"event_time": t})
    post("leads", raw, {"Content-Type": "application/json", "Authorization": "Bearer " + SECRETS["leads"]})
    raw = retime(fixture_bytes("generic_order.json"), {"event_time": t * 1000})
    post("crm", raw, {"Content-Type": "application/json", "Authorization": "Bearer " + SECRETS["crm"]})
    raw = re.sub(rb"event_time=[^&]*", b"event_time=%d" % t, fixture_bytes("generic_form.txt"))
    post("leads", raw, {"Content-Type": "application/x-www-form-urlencoded",
                        "Authorization": "Bearer " + SECRETS["leads"]})
    return accepted


def collect_everything(d):
    captures = [
        {"vid": "v-privacy-1", "event": "CompletePayment", "event_id": "ev-privacy-1",
         "email": COLLECT_EMAIL, "phone": COLLECT_PHONE, "order_id": "#9999",
         "url": "https://shop.example/thanks?ref=nl&email=" + urllib.parse.quote(COLLECT_URL_EMAIL),
         "referrer": "https://mail.example/?to=" + COLLECT_URL_EMAIL},
        {"vid": "v-privacy-2", "email": "  " + COLLECT_EMAIL.upper() + " "},
        {"vid": "v-privacy-3", "phone": COLLECT_PHONE, "url": "https://shop.example/#" + COLLECT_URL_EMAIL},
    ]
    for i, c in enumerate(captures):
        st = d.post_collect(c, headers={"User-Agent": "Mozilla/5.0 privacy-test",
                                        "Accept-Language": "en-US,en;q=0.9"})
        is_(st, 204, "capture %d stored" % (i + 1))
    # A text/plain beacon, as navigator.sendBeacon sends it.
    st = d.post_collect(json.dumps({"vid": "v-privacy-4", "email": COLLECT_EMAIL}),
                        content_type="text/plain;charset=UTF-8")
    is_(st, 204, "text/plain beacon stored")
    return len(captures) + 1


def store_files(d):
    db = d.config["store"]["path"]
    return [p for p in (db, db + "-wal", db + "-shm", db + "-journal") if os.path.exists(p)]


def test_nothing_raw_at_rest_after_a_full_run():
    table = needles()
    ok(len([k for k in table if k.startswith("email ")]) >= 10 and
       len([k for k in table if k.startswith("phone ")]) >= 6,
       "the fixtures give at least 10 emails and 6 phones to look for",
       "\n".join(sorted(table)))
    mock = MockTikTok()
    d = Daemon(mock, match={"hold_s": HOLD_S}, log={"level": "debug"})
    accepted = post_everything(d)
    ok(accepted >= 8, "at least 8 webhooks accepted (%d)" % accepted)
    touches = collect_everything(d)
    # Test orders and leads are kept as "ignored"; every other conversion is sent.
    settled = wait_until(lambda: all(e["state"] in ("sent", "ignored") for e in d.admin_events()),
                         HOLD_S + 20)
    states = sorted(e["state"] for e in d.admin_events())
    ok(settled and len(states) == accepted, "every accepted conversion settled", repr(states))
    is_(len(mock.events()), states.count("sent"), "the sent ones reached TikTok (%d)" % states.count("sent"))
    ok(states.count("sent") >= 8, "at least 8 of them")
    is_(d.admin_status().get("touches"), touches, "every capture stored")

    if on_pg():
        running = d.store_bytes()
        is_(d.stop(), 0, "SIGTERM: exit 0")
        stopped = d.store_bytes()
        ok(len(stopped) > 1000, "the database dump holds the rows (%d bytes)" % len(stopped))
        is_(leaks(running, table), [], "nothing raw in the database while running")
        is_(leaks(stopped, table), [], "nothing raw in the database after shutdown")
        skip_sqlite_only("store file modes and the WAL are SQLite's files")
    else:
        files = store_files(d)
        ok(any(p.endswith("-wal") for p in files), "the WAL exists while running", repr(files))
        for p in files:
            is_(oct(stat.S_IMODE(os.stat(p).st_mode)), oct(0o600), "%s is 0600" % os.path.basename(p))
        snap = os.path.join(d.dir, "snapshot")
        os.mkdir(snap)
        for p in files:
            shutil.copy2(p, snap)

        is_(d.stop(), 0, "SIGTERM: exit 0")
        for p in store_files(d):
            is_(oct(stat.S_IMODE(os.stat(p).st_mode)), oct(0o600),
                "after shutdown %s is 0600" % os.path.basename(p))

        scanned = []
        for p in store_files(d) + sorted(glob.glob(os.path.join(snap, "*"))):
            with open(p, "rb") as f:
                data = f.read()
            scanned.append("%s (%d bytes)" % (os.path.relpath(p, d.dir), len(data)))
            found = leaks(data, table)
            is_(found, [], "nothing raw in %s" % os.path.relpath(p, d.dir))
        ok(len(scanned) >= 3, "scanned the database, its WAL and the running copies", "\n".join(scanned))
    log = d.log_text().encode()
    ok(b"msg=stopped" in log or b'msg="stopped"' in log, "the log is complete")
    is_(leaks(log, table), [], "nothing raw or secret in the log (debug level)")
    sent = b"".join(r["raw"] for r in mock.all_requests())
    is_(leaks(sent, {k: v for k, v in table.items() if not k.startswith("TikTok")}), [],
        "nothing raw in what went to TikTok")
    is_({r["headers"].get("access-token") for r in mock.all_requests()}, {TIKTOK_TOKEN},
        "the access token travels only in its header")


# ---------------------------------------------------------------------------------------
# The admin listener

def test_admin_requires_token():
    mock = MockTikTok()
    d = Daemon(mock)
    for path in ("/admin/status", "/admin/events", "/metrics", "/admin/report"):
        st, _, body = d.request("admin", "GET", path)
        is_((st, json.loads(body or b"null")), (401, {"error": "unauthorized"}), "%s without a token → 401" % path)
        for auth in ("Bearer wrong-token", "Bearer " + ADMIN_TOKEN + "x", "Bearer " + ADMIN_TOKEN[:-1],
                     "Basic " + ADMIN_TOKEN, ADMIN_TOKEN, "bearer  " + ADMIN_TOKEN + "\t"):
            st, _, _ = d.request("admin", "GET", path, headers={"Authorization": auth})
            is_(st, 401, "%s with %r → 401" % (path, auth.replace(ADMIN_TOKEN, "<token>")))
    st, _, _ = d.request("admin", "POST", "/admin/replay?state=dead", body=b"")
    is_(st, 401, "POST /admin/replay without a token → 401")
    st, _, _ = d.request("admin", "POST", "/admin/test-event", body=b"{}",
                         headers={"Content-Type": "application/json", "Authorization": "Bearer nope"})
    is_(st, 401, "POST /admin/test-event with a wrong token → 401")
    is_(mock.count(), 0, "no test event went out")
    st, _ = d.admin_get("/admin/status")
    is_(st, 200, "with the token → 200")
    is_(leaks(d.log_text().encode(), {"admin token": [ADMIN_TOKEN.encode().lower()]}), [],
        "the admin token is not logged, not even when refused")


def test_admin_binds_loopback_by_default():
    with open(os.path.join(source_dir(), "etc", "ttrelay.conf")) as f:
        example = f.read()
    admin = re.search(r"^admin\s*=\s*\{(.*?)^\};", example, re.S | re.M)
    ok(admin and re.search(r'^\s*address\s*=\s*"127\.0\.0\.1";', admin.group(1), re.M),
       "etc/ttrelay.conf: admin.address = \"127.0.0.1\"")
    mock = MockTikTok()
    # No address keys at all: the defaults decide.
    d = Daemon(mock, listen={"address": None, "port": 0}, admin={"address": None, "port": 0})
    conf = open(d.conf_path).read()
    ok("address" not in conf, "the config names no address", conf[:400])
    log = d.log_text()
    ok(re.search(r'msg="?listening"? listener="?admin"? address="?127\.0\.0\.1"? ', log),
       "the admin listener binds 127.0.0.1 by default", log[-800:])
    ok(re.search(r'msg="?listening"? listener="?public"? address="?127\.0\.0\.1"? ', log),
       "the public listener binds 127.0.0.1 by default", log[-800:])
    st, _ = d.admin_get("/admin/status")
    is_(st, 200, "and answers there")


if __name__ == "__main__":
    run_cases([
        test_nothing_raw_at_rest_after_a_full_run,
        test_admin_requires_token,
        test_admin_binds_loopback_by_default,
    ])
