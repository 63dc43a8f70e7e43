"""Operations (issue 6): reload (SIGHUP) with a rotated secret while webhooks flow, refused
reloads of broken files, SIGTERM under load losing nothing, /metrics, /healthz and /readyz,
every ttrelayctl subcommand with its exit codes, and the daemon's log: logfmt on every line,
no secret, token, raw email or raw phone in it."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ttr_harness import (ADMIN_TOKEN, PIXEL, PIXEL2, SECRETS, TIKTOK_TOKEN,  # noqa: E402
                         Daemon, MockTikTok, diag, email_hash,
                         fixture_bytes, generic_signature, is_, iso_offset, ok, retime,
                         run_cases, shopify_headers, ttrelayctl_path, ttrelayd_path, wait_until)

HOLD = {"hold_s": 1}
FAST = {"retry_base_ms": 100, "retry_cap_ms": 1000, "request_timeout_ms": 3000}
ROTATED = {"crm": "crm-secret-rotated-7f3a", "shop": "shpss_rotated_secret_91c2"}
WRONG_TOKEN = "wrong-admin-token-5d1e"
ROTATED_TIKTOK_TOKEN = "tt-access-token-rotated-0b7e"
TEST_CODES = {PIXEL: "TEST31337", PIXEL2: "TEST42424"}
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

# Strings that must never reach the daemon's log, by what they are (the label is what a
# failure prints, so the failure output does not spread the secret either).
FORBIDDEN = {"secret " + k: v for k, v in SECRETS.items()}
FORBIDDEN.update({"rotated secret " + k: v for k, v in ROTATED.items()})
FORBIDDEN.update({"admin token": ADMIN_TOKEN, "tiktok access token": TIKTOK_TOKEN,
                  "rotated tiktok access token": ROTATED_TIKTOK_TOKEN,
                  "wrong admin token": WRONG_TOKEN})
RAW_CONTACTS = {
    "fixture email": "jon.doe@example.com",
    "fixture phone": "4045550123",
    "fixture phone formatted": "(404) 555-0123",
    "load email": "ops.person",
    "load phone": "4045550187",
    "load phone formatted": "404 555 0187",
    "report email": "report.buyer@example.com",
}
FORBIDDEN.update({"raw " + k: v for k, v in RAW_CONTACTS.items()})

_VAL = r'(?:"(?:[^"\\]|\\.)*"|[^\s"]*)'
LOGFMT_RE = re.compile(r'^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z '
                       r'level=(?:debug|info|warn|error) msg=' + _VAL +
                       r'(?: [A-Za-z_][A-Za-z0-9_.\-]*=' + _VAL + r')*$')

REPORT_TABLE = []   # the `ttrelayctl report` table, printed as diagnostics at the end


# ---------------------------------------------------------------------------------------
# helpers

def audit_log(d, label):
    """Every line the daemon wrote (stdout and stderr go to one file) is logfmt
    ts= level= msg=…, and none holds a secret, token, raw email or raw phone."""
    text = d.log_text()
    lines = text.splitlines()
    bad = [ln for ln in lines if not LOGFMT_RE.match(ln)]
    ok(lines and not bad, "%s: all %d log lines are logfmt (ts= level= msg=)" % (label, len(lines)),
       "\n".join(bad[:8]) or "empty log")
    low = text.lower()
    leaks = sorted(k for k, v in FORBIDDEN.items() if v.lower() in low)
    ok(not leaks, "%s: no secret, token, raw email or raw phone in the log" % label,
       "found: " + ", ".join(leaks))


def shop_order(order_id, event_id=None, email=None):
    """The Shopify orders/paid fixture processed half a minute ago, as a new order with its
    own id and no order references; event_id goes into note_attributes (matching rule 1)."""
    t = int(time.time()) - 30
    raw = retime(fixture_bytes("shopify_orders_paid.json"),
                 {"processed_at": iso_offset(t, -5), "created_at": iso_offset(t - 2, -5)})
    o = json.loads(raw)
    o["id"] = order_id
    o["admin_graphql_api_id"] = "gid://shopify/Order/%d" % order_id
    for k in ("checkout_token", "cart_token", "token", "checkout_id", "order_number", "number"):
        o.pop(k, None)
    o["name"] = "#OPS%d" % (order_id % 1000000)
    o["note_attributes"] = [{"name": "event_id", "value": event_id}] if event_id else []
    if email is not None:
        o["email"] = o["contact_email"] = o["customer"]["email"] = email
    return json.dumps(o).encode()


def post_shop(d, order_id, secret, event_id=None, email=None, timeout=10):
    raw = shop_order(order_id, event_id, email)
    return d.post_webhook("shop", raw, shopify_headers(secret, raw), timeout=timeout)


def post_crm(d, obj, secret, timeout=10):
    """Generic source, authenticated by X-Ttrelay-Signature."""
    body = json.dumps(obj).encode()
    h = {"Content-Type": "application/json", "X-Ttrelay-Signature": generic_signature(secret, body)}
    return d.post_webhook("crm", body, h, timeout=timeout)


def crm_call(eid, **extra):
    obj = {"id": eid, "event_id": eid, "email": "ops.person+%s@example.com" % eid,
           "phone": "+1 404 555 0187", "event_time": int(time.time()) - 20,
           "value": 25, "currency": "USD"}
    obj.update(extra)
    return obj


def delivered_ids(mock):
    return {ev.get("event_id") for _, ev in mock.events()}


def wait_delivered(mock, ids, timeout):
    ids = set(ids)
    wait_until(lambda: ids <= delivered_ids(mock), timeout, 0.1)
    return ids - delivered_ids(mock)


def log_since(d, mark):
    return d.log_text()[mark:]


def hup_with_text(d, text, timeout=10):
    """Writes text as the configuration, sends SIGHUP and returns (verdict, log line)."""
    with open(d.conf_path + ".tmp", "w") as f:
        f.write(text)
    os.replace(d.conf_path + ".tmp", d.conf_path)
    mark = len(d.log_text())
    d.kill(signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ln in log_since(d, mark).splitlines():
            if 'msg="reload refused' in ln:
                return "refused", ln
            if 'msg="configuration reloaded"' in ln:
                return "reloaded", ln
        time.sleep(0.05)
    return None, log_since(d, mark)


def config_text(d):
    with open(d.conf_path) as f:
        return f.read()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def parse_metrics(text):
    """Prometheus text → ({(name, frozenset(labels.items())): value}, unparsable lines)."""
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? '
                         r'([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]Inf|NaN)$')
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')
    samples, bad = {}, []
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            if ln and not re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$", ln):
                bad.append(ln)
            continue
        m = line_re.match(ln)
        labels = {}
        if m and m.group(2):
            pos = 0
            for lm in label_re.finditer(m.group(2)):
                if lm.start() != pos:
                    break
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
            if pos != len(m.group(2)):
                m = None
        if not m:
            bad.append(ln)
            continue
        samples[(m.group(1), frozenset(labels.items()))] = float(m.group(3))
    return samples, bad


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def histogram_check(samples, name, label):
    """For each label set of histogram name: +Inf bucket == _count and buckets do not
    decrease. Returns {label set: count} and a list of problems."""
    counts, problems = {}, []
    for (n, ls), v in samples.items():
        if n != name + "_count":
            continue
        base = dict(ls)
        buckets = sorted(((float(dict(l2)["le"]), v2) for (n2, l2), v2 in samples.items()
                          if n2 == name + "_bucket" and
                          {k: x for k, x in dict(l2).items() if k != "le"} == base),
                         key=lambda b: b[0])
        inf = metric(samples, name + "_bucket", le="+Inf", **base)
        if inf is None or inf != v:
            problems.append("%s %s: +Inf bucket %r != _count %r" % (name, base, inf, v))
        if any(buckets[i][1] > buckets[i + 1][1] for i in range(len(buckets) - 1)):
            problems.append("%s %s: buckets decrease: %r" % (name, base, buckets))
        if metric(samples, name + "_sum", **base) is None:
            problems.append("%s %s: no _sum" % (name, base))
        counts[base.get(label) if label else ""] = v
    return counts, problems


# ---------------------------------------------------------------------------------------
# reload while webhooks flow

class Sender(threading.Thread):
    """Posts signed webhooks one after another (crm and shop alternately), each signed with
    the secret generation current when it starts; records every outcome."""

    def __init__(self, d, secrets, gen, prefix, max_n=2000):
        super().__init__(daemon=True)
        self.d, self.secrets, self.gen, self.prefix, self.max_n = d, secrets, gen, prefix, max_n
        self.stop = threading.Event()
        self.records = []

    def run(self):
        for i in range(self.max_n):
            if self.stop.is_set():
                break
            g = self.gen[0]
            src = "crm" if i % 2 == 0 else "shop"
            eid = "%s-%s-%d" % (self.prefix, src, i)
            rec = {"i": i, "src": src, "gen": g, "eid": eid, "t0": time.monotonic()}
            try:
                if src == "crm":
                    st, resp = post_crm(self.d, crm_call(eid), self.secrets[g]["crm"])
                else:
                    st, resp = post_shop(self.d, 7300000000000 + i, self.secrets[g]["shop"], eid)
                rec["status"], rec["resp"] = st, resp
            except (OSError, http.client.HTTPException) as e:
                rec["error"] = repr(e)
            rec["t1"] = time.monotonic()
            self.records.append(rec)
            time.sleep(0.01)


def test_reload_rotates_secret_under_flow():
    mock = MockTikTok()
    d = Daemon(mock, match=HOLD, tiktok=FAST)
    old = {"crm": SECRETS["crm"], "shop": SECRETS["shop"]}
    gen = [0]
    s = Sender(d, [old, ROTATED], gen, "rl")
    s.start()
    time.sleep(1.0)
    sources = [dict(src, secret=ROTATED[src["id"]]) if src["id"] in ROTATED else src
               for src in d.config["sources"]]
    t_hup = time.monotonic()
    verdict = d.reload(sources=sources)
    gen[0] = 1
    t_switch = time.monotonic()
    is_(verdict, "reloaded", "SIGHUP with rotated secrets: log says configuration reloaded")
    time.sleep(1.5)
    s.stop.set()
    s.join(30)
    ok(not s.is_alive(), "sender thread finished")
    recs = s.records
    errors = [r for r in recs if "error" in r]
    ok(not errors, "no connection error during the reload (%d requests)" % len(recs), errors[:5])
    before = [r for r in recs if r["gen"] == 0 and r["t1"] < t_hup]
    window = [r for r in recs if r["gen"] == 0 and r["t1"] >= t_hup]
    after = [r for r in recs if r["gen"] == 1]
    diag("requests: %d before SIGHUP, %d with the old secret during the reload, %d after the "
         "switch (reload took %.2f s)" % (len(before), len(window), len(after), t_switch - t_hup))
    for name, group in (("before the reload", before), ("after the switch", after)):
        ok(len(group) >= 6 and {r["src"] for r in group} == {"crm", "shop"},
           "webhooks of both sources flowed %s (%d)" % (name, len(group)))
        bad = [(r["eid"], r.get("status"), r.get("resp")) for r in group
               if (r.get("status"), (r.get("resp") or {}).get("status")) != (200, "accepted")]
        ok(not bad, "every webhook %s answered 200 accepted" % name, bad[:5])
    odd = [(r["eid"], r.get("status")) for r in window if r.get("status") not in (200, 401)]
    ok(not odd, "old-secret webhooks racing the reload got 200 or 401 only", odd)

    for src in ("crm", "shop"):
        if src == "crm":
            st_old, _ = post_crm(d, crm_call("rl-old-crm"), old["crm"])
            st_new, r_new = post_crm(d, crm_call("rl-new-crm"), ROTATED["crm"])
        else:
            st_old, _ = post_shop(d, 7399999999001, old["shop"], "rl-old-shop")
            st_new, r_new = post_shop(d, 7399999999002, ROTATED["shop"], "rl-new-shop")
        is_(st_old, 401, "%s: a webhook signed with the old secret after the reload → 401" % src)
        is_((st_new, (r_new or {}).get("status")), (200, "accepted"),
            "%s: a webhook signed with the new secret → 200 accepted" % src)

    acked = {r["eid"] for r in recs if r.get("status") == 200} | {"rl-new-crm", "rl-new-shop"}
    missing = wait_delivered(mock, acked, 20)
    ok(not missing, "all %d acknowledged webhooks reached the mock TikTok" % len(acked),
       sorted(missing)[:10])
    refused = {r["eid"] for r in recs if r.get("status") == 401} | {"rl-old-crm", "rl-old-shop"}
    sent_refused = refused & delivered_ids(mock)
    ok(not sent_refused, "no 401-refused webhook was sent to TikTok", sorted(sent_refused))
    audit_log(d, "reload under flow")


# ---------------------------------------------------------------------------------------
# refused reloads

def test_reload_refuses_broken_files():
    mock = MockTikTok()
    d = Daemon(mock, match=HOLD, tiktok=FAST)
    good = config_text(d)
    path = d.conf_path

    broken = good + "tiktok_extra = ;\n"
    bad_line = len(good.splitlines()) + 1
    verdict, line = hup_with_text(d, broken)
    is_(verdict, "refused", "syntax error: reload refused")
    m = re.search(r'reason="?' + re.escape(path) + r":(\d+):\s*(\S[^\"]*)", line or "")
    ok(m, "refused line names file:line and a reason", line)
    if m:
        is_(int(m.group(1)), bad_line, "syntax error: the reported line is the broken one")

    # A semantic error: a source routed to a pixel that is not configured; the same file
    # also rotates crm's secret, which must not take effect.
    bad_sources = [dict(s) for s in d.config["sources"]]
    for s in bad_sources:
        if s["id"] == "crm":
            s["secret"] = ROTATED["crm"]
            s["pixel"] = "CUNKNOWNPIXEL0000099"
    d.config["sources"] = bad_sources
    d.write_config()
    text = config_text(d)
    verdict, line = hup_with_text(d, text)
    is_(verdict, "refused", "unknown pixel in a source: reload refused")
    m = re.search(r'reason="?' + re.escape(path) + r":(\d+):\s*(\S[^\"]*)", line or "")
    ok(m and "CUNKNOWNPIXEL0000099" in m.group(2), "refused line names file:line and the pixel",
       line)
    lines = text.splitlines()
    first = next((i + 1 for i, ln in enumerate(lines) if ln.startswith("sources")), 0)
    if m:
        ok(first <= int(m.group(1)) <= len(lines),
           "the reported line %s is inside the sources list (lines %d-%d)"
           % (m.group(1), first, len(lines)))

    ok(d.running(), "the daemon is still running after two refused reloads")
    st, resp = post_crm(d, crm_call("rf-old-1"), SECRETS["crm"])
    is_((st, (resp or {}).get("status")), (200, "accepted"),
        "a webhook signed with the old secret still gets 200 accepted")
    st, _ = post_crm(d, crm_call("rf-new-1"), ROTATED["crm"])
    is_(st, 401, "the refused file's new secret is not in force (401)")
    missing = wait_delivered(mock, {"rf-old-1"}, 10)
    ok(not missing, "the webhook accepted under the old config is delivered to its pixel")
    pix = [r["json"].get("event_source_id") for r, ev in mock.events() if ev.get("event_id") == "rf-old-1"]
    is_(pix[:1], [PIXEL], "…with the old routing (default pixel)")

    verdict, _ = hup_with_text(d, good)
    is_(verdict, "reloaded", "the good file reloads afterwards")
    audit_log(d, "refused reloads")


# ---------------------------------------------------------------------------------------
# SIGTERM under load

def test_sigterm_under_load_loses_nothing():
    mock = MockTikTok()
    d = Daemon(mock, match=HOLD, tiktok=FAST)
    stop = threading.Event()
    records = []
    lock = threading.Lock()

    def sender(k):
        for i in range(3000):
            if stop.is_set():
                return
            eid = "st-%d-%d" % (k, i)
            rec = {"eid": eid, "t0": time.monotonic()}
            try:
                st, resp = post_crm(d, crm_call(eid), SECRETS["crm"], timeout=10)
                rec["status"], rec["resp"] = st, resp
            except (OSError, http.client.HTTPException) as e:
                rec["error"] = repr(e)
                time.sleep(0.01)
            rec["t1"] = time.monotonic()
            with lock:
                records.append(rec)

    threads = [threading.Thread(target=sender, args=(k,), daemon=True) for k in range(4)]
    for t in threads:
        t.start()
    # SIGTERM while webhooks arrive and the forwarder is delivering the first ones.
    wait_until(lambda: sum(1 for r in records if r.get("status") == 200) >= 40 and
               len(mock.events()) >= 10, 10)
    t_term = time.monotonic()
    d.kill(signal.SIGTERM)
    try:
        rc = d.proc.wait(20)
    except subprocess.TimeoutExpired:
        rc = None
    t_exit = time.monotonic()
    time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(15)
    is_(rc, 0, "SIGTERM under load: ttrelayd exits 0")
    ok(rc is not None and t_exit - t_term < 20, "…within 20 s (%.2f s)" % (t_exit - t_term))
    ok('msg="stopped"' in d.log_text() or "msg=stopped" in d.log_text(), "log says stopped")

    with lock:
        recs = list(records)
    acked = {r["eid"] for r in recs if r.get("status") == 200}
    early_err = [r for r in recs if "error" in r and r["t1"] < t_term]
    ok(not early_err, "no connection error before SIGTERM", early_err[:5])
    late_200 = [r["eid"] for r in recs if r.get("status") == 200 and r["t0"] > t_exit]
    ok(not late_200, "nothing acknowledged after the process exited", late_200[:5])
    others = sorted({r.get("status") for r in recs if r.get("status") not in (None, 200)})
    ok(all(s == 503 for s in others), "non-200 answers, if any, are 503 (%r)" % others)
    diag("%d requests: %d acknowledged, %d connection errors after SIGTERM, other statuses %r"
         % (len(recs), len(acked), sum(1 for r in recs if "error" in r), others))
    ok(len(acked) >= 40, "load was real: %d webhooks acknowledged" % len(acked))
    diag("in-flight at SIGTERM that failed: %d; acknowledged but not yet delivered at exit: %d"
         % (sum(1 for r in recs if "error" in r and r["t0"] < t_term),
            len(acked - delivered_ids(mock))))

    d.start()
    missing = wait_delivered(mock, acked, 30)
    ok(not missing, "after restart on the same store every one of %d acknowledged webhooks "
                    "reached the mock" % len(acked), sorted(missing)[:10])
    unacked = {r["eid"] for r in recs if r.get("status") != 200}
    diag("unacknowledged requests later delivered anyway (allowed): %d"
         % len(unacked & delivered_ids(mock)))
    # The mock records a batch before the daemon has read its answer and marked it sent.
    def queue():
        c = d.admin_status().get("counts") or {}
        return (c.get("held"), c.get("ready"), c.get("retry"), c.get("dead"))
    deadline = time.time() + 15
    while queue() != (0, 0, 0, 0) and time.time() < deadline:
        time.sleep(0.1)
    is_(queue(), (0, 0, 0, 0), "nothing left queued or dead after the restart")
    audit_log(d, "SIGTERM under load")
    is_(d.stop(), 0, "second SIGTERM (idle): exit 0")


# ---------------------------------------------------------------------------------------
# metrics

def test_metrics_after_known_traffic():
    mock = MockTikTok()
    d = Daemon(mock, match=HOLD, tiktok=FAST)
    crm_ids = ["mx-crm-%d" % i for i in range(6)]
    shop_ids = ["mx-shop-%d" % i for i in range(3)]
    for eid in crm_ids:
        st, resp = post_crm(d, crm_call(eid), SECRETS["crm"])
        is_((st, (resp or {}).get("status")), (200, "accepted"), "crm %s accepted" % eid)
    for i, eid in enumerate(shop_ids):
        st, resp = post_shop(d, 7500000000000 + i, SECRETS["shop"], eid)
        is_((st, (resp or {}).get("status")), (200, "accepted"), "shop %s accepted" % eid)
    st, resp = post_crm(d, crm_call(crm_ids[0]), SECRETS["crm"])
    is_((st, (resp or {}).get("status")), (200, "duplicate"), "a resent crm webhook is a duplicate")
    st, _ = post_crm(d, crm_call("mx-bad"), "not-the-secret")
    is_(st, 401, "a crm webhook with a bad signature → 401")
    touches = [{"vid": "v-mx-%d" % i, "event": "ViewContent", "event_id": "pix-mx-%d" % i,
                "url": "https://shop.example/p/%d" % i} for i in range(4)]
    for t in touches:
        is_(d.post_collect(t, headers={"User-Agent": BROWSER_UA}), 204, "touch %s stored" % t["vid"])
    missing = wait_delivered(mock, crm_ids + shop_ids, 15)
    ok(not missing, "all 9 events delivered", sorted(missing))
    wait_until(lambda: (d.admin_status().get("counts") or {}).get("sent") == 9, 5)
    sent = (d.admin_status().get("counts") or {}).get("sent")

    st, hdrs, body = d.request("admin", "GET", "/metrics",
                               headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    is_(st, 200, "GET /metrics with the admin token → 200")
    ok(hdrs.get("content-type", "").startswith("text/plain"), "Prometheus text content type",
       hdrs.get("content-type"))
    samples, bad = parse_metrics(body.decode("utf-8", "replace"))
    ok(samples and not bad, "every line parses as name{labels} value (%d samples)" % len(samples),
       bad[:8])
    is_(metric(samples, "ttrelay_webhooks_total", source="crm", result="accepted"), 6.0,
        'ttrelay_webhooks_total{source="crm",result="accepted"}')
    is_(metric(samples, "ttrelay_webhooks_total", source="shop", result="accepted"), 3.0,
        'ttrelay_webhooks_total{source="shop",result="accepted"}')
    is_(metric(samples, "ttrelay_webhooks_total", source="crm", result="duplicate"), 1.0,
        'ttrelay_webhooks_total{source="crm",result="duplicate"}')
    is_(metric(samples, "ttrelay_webhooks_total", source="crm", result="unauthorized"), 1.0,
        'ttrelay_webhooks_total{source="crm",result="unauthorized"}')
    is_(metric(samples, "ttrelay_collect_total", result="stored"), float(len(touches)),
        'ttrelay_collect_total{result="stored"} equals the touches posted')
    is_(sent, 9, "/admin/status counts 9 sent")
    is_(metric(samples, "ttrelay_events", state="sent"), 9.0, 'ttrelay_events{state="sent"}')
    is_(metric(samples, "ttrelay_events_sent_total", pixel=PIXEL), 9.0,
        "ttrelay_events_sent_total for the pixel")
    lat, problems = histogram_check(samples, "ttrelay_request_duration_seconds", "route")
    ok(lat and not problems, "request latency histogram present, +Inf == _count per route",
       problems or "absent")
    ok((lat.get("webhook") or 0) >= 11, "webhook route counted %r requests (>= 11)" % lat.get("webhook"))
    ok((lat.get("collect") or 0) >= 4, "collect route counted %r requests (>= 4)" % lat.get("collect"))
    grp, problems = histogram_check(samples, "ttrelay_commit_group_size", None)
    ok(grp and not problems, "ttrelay_commit_group_size histogram present, +Inf == _count",
       problems or "absent")
    ok((grp.get("") or 0) >= 1, "at least one group commit counted (%r)" % grp.get(""))

    st, _, body = d.request("admin", "GET", "/metrics")
    is_(st, 401, "/metrics without a token → 401")
    is_(Daemon._json(body), {"error": "unauthorized"}, "…with the unauthorized error body")
    st, _, _ = d.request("admin", "GET", "/metrics", headers={"Authorization": "Bearer " + WRONG_TOKEN})
    is_(st, 401, "/metrics with a wrong token → 401")
    audit_log(d, "metrics")


# ---------------------------------------------------------------------------------------
# health and readiness

def test_healthz_and_readyz():
    mock = MockTikTok()
    d = Daemon(mock, match=HOLD, tiktok=FAST)
    st, _, body = d.request("public", "GET", "/healthz")
    is_((st, Daemon._json(body)), (200, {"status": "ok"}), "public /healthz → 200 ok")
    st, _, body = d.request("admin", "GET", "/healthz", headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    is_((st, Daemon._json(body)), (200, {"status": "ok"}), "admin /healthz with the token → 200 ok")
    st, _, body = d.request("public", "GET", "/readyz")
    is_((st, Daemon._json(body)), (200, {"status": "ready"}), "/readyz → 200 ready")

    mock.require_token(ROTATED_TIKTOK_TOKEN)
    st, resp = post_crm(d, crm_call("rz-1"), SECRETS["crm"])
    is_((st, (resp or {}).get("status")), (200, "accepted"), "webhook accepted")
    last = [None]

    def warned():
        last[0] = d.request("public", "GET", "/readyz")
        return "warnings" in (Daemon._json(last[0][2]) or {})
    wait_until(warned, 10, 0.1)
    st, _, body = last[0]
    obj = Daemon._json(body) or {}
    # Still ready: webhooks are taken while sending is paused (a load balancer must not
    # take the instance out); the pause is a warning.
    is_((st, obj.get("status")), (200, "ready"), "pixel paused by 40105 → /readyz still 200 ready")
    warnings = obj.get("warnings")
    ok(isinstance(warnings, list) and warnings and all(isinstance(r, str) and r for r in warnings)
       and any("pixel" in r and "paused" in r for r in warnings),
       "/readyz warns about the paused pixel", repr(obj))
    pixels = d.admin_status().get("pixels") or []
    px = [p for p in pixels if p.get("pixel") == PIXEL]
    ok(px and px[0].get("paused") is True and px[0].get("reason"),
       "/admin/status shows the pixel paused with a reason", repr(pixels))
    ok("rz-1" not in delivered_ids(mock), "the event is kept, not delivered, while paused")

    # The daemon resumes a paused pixel when a reload brings it a different token.
    fixed = [dict(p, access_token=ROTATED_TIKTOK_TOKEN) for p in d.config["tiktok"]["pixels"]]
    is_(d.reload(tiktok={"pixels": fixed}), "reloaded", "reload with the pixel's new token")
    st = wait_until(lambda: Daemon._json(d.request("public", "GET", "/readyz")[2]) ==
                    {"status": "ready"}, 10, 0.1)
    ok(st, "/readyz → 200 without a warning once the pixel resumes")
    ok(not wait_delivered(mock, {"rz-1"}, 10), "the kept event is delivered after the resume")
    audit_log(d, "health")


# ---------------------------------------------------------------------------------------
# ttrelayctl

CTL_OUTPUTS = []


def ctl_bin():
    p = ttrelayctl_path()
    if p and os.access(p, os.X_OK):
        return p
    return os.path.join(os.path.dirname(ttrelayd_path()), "ttrelayctl")


def ctl(*args):
    """Runs ttrelayctl; returns (exit code, stdout, stderr). Every output is kept for the
    token check."""
    p = subprocess.run([ctl_bin()] + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=30)
    CTL_OUTPUTS.append((args, p.stdout, p.stderr))
    return p.returncode, p.stdout, p.stderr


def ctl_json(*args):
    rc, out, err = ctl(*args)
    try:
        return rc, json.loads(out), err
    except ValueError:
        return rc, None, err + "\n[stdout] " + out


def make_dead(d, mock, eid):
    """A single-event batch answered 40002 → the event goes dead. Returns its id."""
    mock.set_bad_rows({eid})
    st, resp = post_crm(d, crm_call(eid), SECRETS["crm"])
    is_((st, (resp or {}).get("status")), (200, "accepted"), "webhook %s accepted" % eid)
    e = d.wait_event_state((resp or {}).get("id"), "dead", 15)
    is_(e.get("state"), "dead", "%s is dead after TikTok's 40002" % eid)
    mock.set_bad_rows(set())
    return (resp or {}).get("id")


def test_status_lists_instances():
    """Every instance beats into the store: /admin/status and `ttrelayctl status` list the
    instances seen recently (a cleanly stopped one as stopped), /metrics names this one."""
    mock = MockTikTok()
    d = Daemon(mock, match=HOLD, tiktok=FAST)

    def listed(st):
        me = st.get("instance")
        return me and [i for i in st.get("instances") or []
                       if i.get("id") == me and i.get("admin_port") == d.admin_port]
    first = wait_until(lambda: listed(d.admin_status()), 10, 0.1)
    ok(first, "/admin/status lists this instance", d.admin_status())
    me = d.admin_status().get("instance") or ""
    ok(re.match(r"^[^:]+:%d:[0-9a-f]{8}$" % d.proc.pid, me), "instance id is host:pid:random",
       me)
    if first:
        ok(first[0].get("state") == "running" and first[0].get("admin_port") == d.admin_port and
           first[0].get("public_port") == d.public_port and first[0].get("version"),
           "its row: running, its ports and version", first[0])
    _, _, body = d.request("admin", "GET", "/metrics", headers=d._admin_headers())
    ok(re.search(r'^ttrelay_instance_info\{instance="%s",backend="(sqlite|postgresql)",'
                 r'version="[^"]+"\} 1$' % re.escape(me), body.decode(), re.M),
       "/metrics has ttrelay_instance_info for this instance")
    rc, out, err = ctl("-c", d.conf_path, "--url", "http://127.0.0.1:%d" % d.admin_port,
                       "status")
    ok(rc == 0 and re.search(r"^%s\s+\S+\s+\S+\s+\S+\s+running$" % re.escape(me), out, re.M),
       "ttrelayctl status shows it running", out + err)
    d.stop()
    d.start()
    st = wait_until(lambda: listed(d.admin_status()) and d.admin_status(), 10, 0.1) or {}
    ok(st.get("instance") and st.get("instance") != me, "a restart is a new instance", st)
    old = [i for i in st.get("instances") or [] if i.get("id") == me]
    ok(old and old[0].get("state") == "stopped", "the stopped one is listed as stopped", old)
    rc, out, err = ctl("-c", d.conf_path, "--url", "http://127.0.0.1:%d" % d.admin_port,
                       "--json", "status")
    ok(rc == 0 and len((json.loads(out) if rc == 0 else {}).get("instances") or []) >= 2,
       "ttrelayctl --json status carries the instances", out + err)


def test_ttrelayctl():
    mock = MockTikTok()
    pixels = [{"code": p, "access_token": TIKTOK_TOKEN, "test_event_code": c, "rate_per_s": 10000.0}
              for p, c in TEST_CODES.items()]
    d = Daemon(mock, match=HOLD, tiktok=dict(FAST, pixels=pixels))
    # ttrelayctl reads the admin address and port from the daemon's file: write the port the
    # kernel picked into it (the running daemon does not reread it).
    d.config["admin"]["port"] = d.admin_port
    d.write_config()
    c = ["-c", d.conf_path]

    # traffic: two calls sent, an identify + an order matched by email
    for eid in ("ctl-1", "ctl-2"):
        post_crm(d, crm_call(eid), SECRETS["crm"])
    is_(d.post_collect({"vid": "v-rep", "event": "CompletePayment", "event_id": "pix-rep-1",
                        "url": "https://shop.example/checkout"},
                       headers={"User-Agent": BROWSER_UA}), 204, "pixel touch stored")
    is_(d.post_collect({"vid": "v-rep", "email": "  Report.Buyer@Example.com"},
                       headers={"User-Agent": BROWSER_UA}), 204, "identify touch stored")
    st, resp = post_shop(d, 7600000000001, SECRETS["shop"], None, "report.buyer@example.com")
    is_((st, (resp or {}).get("status")), (200, "accepted"), "matching order accepted")
    order_id = (resp or {}).get("id")
    ok(not wait_delivered(mock, {"ctl-1", "ctl-2", "pix-rep-1"}, 15),
       "calls and the matched order delivered", sorted(delivered_ids(mock)))
    d.wait_event_state(order_id, "sent", 5)

    # status
    rc, out, err = ctl(*c, "status")
    is_(rc, 0, "status exits 0")
    ok("0.1.0" in out and PIXEL in out and PIXEL2 in out and "active" in out,
       "status shows the version and both pixels active", out + err)
    ok(re.search(r"\bsent 3\b", out), "status shows 3 sent", out)
    rc, obj, err = ctl_json(*c, "--json", "status")
    is_((rc, ((obj or {}).get("counts") or {}).get("sent")), (0, 3), "--json status: counts.sent 3")
    ok(isinstance(obj, dict) and obj.get("version") == "0.1.0" and
       [p.get("pixel") for p in obj.get("pixels") or []] == [PIXEL, PIXEL2],
       "--json status has version and both pixels", repr(obj))

    # events
    rc, out, err = ctl(*c, "events")
    is_(rc, 0, "events exits 0")
    rows = [ln.split() for ln in out.splitlines()[1:] if ln.strip()]
    is_(len(rows), 3, "events lists the 3 events")
    ok(out.splitlines() and out.splitlines()[0].split()[:2] == ["ID", "STATE"] and
       rows and rows[0][0] == str(order_id) and "email" in rows[0],
       "newest first: the order, matched by email", out)
    rc, out, err = ctl(*c, "events", "--state", "sent", "--limit", "2")
    rows = [ln.split() for ln in out.splitlines()[1:] if ln.strip()]
    is_((rc, len(rows), {r[1] for r in rows}), (0, 2, {"sent"}), "events --state sent --limit 2")
    rc, obj, err = ctl_json(*c, "--json", "events", "--state", "sent", "--limit", "1")
    evs = (obj or {}).get("events") or []
    is_((rc, len(evs), evs[0].get("state") if evs else None), (0, 1, "sent"),
        "--json events --state sent --limit 1")
    rc, out, err = ctl(*c, "events", "--state", "dead")
    is_((rc, out.strip()), (0, "no events"), "events --state dead: none yet")

    # show
    rc, out, err = ctl(*c, "show", str(order_id))
    is_(rc, 0, "show exits 0")
    ok("pix-rep-1" in out and "payload:" in out and re.search(r"matched_by\s+email", out),
       "show prints the event_id, matched_by and the payload", out)
    rc, obj, err = ctl_json(*c, "--json", "show", str(order_id))
    is_(((obj or {}).get("payload") or {}).get("event_id"), "pix-rep-1",
        "--json show: payload.event_id is the touch's")
    ok(isinstance((obj or {}).get("conversion"), dict), "--json show has the conversion", repr(obj))
    user = ((obj or {}).get("payload") or {}).get("user") or {}
    is_(user.get("email"), email_hash("report.buyer@example.com"), "payload email is the hash")

    # replay ID of a dead event
    dead1 = make_dead(d, mock, "ctl-dead-1")
    first = [r for r, ev in mock.events(accepted_only=False) if ev.get("event_id") == "ctl-dead-1"]
    is_([r["code"] for r in first], [40002], "the dead event's single-event batch got 40002")
    rc, out, err = ctl(*c, "events", "--state", "dead")
    ok(rc == 0 and re.search(r"^\s*%d\s+dead\b" % dead1, out, re.M), "events --state dead lists it", out)
    rc, out, err = ctl(*c, "replay", str(dead1))
    is_(rc, 0, "replay ID exits 0")
    ok(str(dead1) in out, "replay prints the id", out + err)
    ok(not wait_delivered(mock, {"ctl-dead-1"}, 10), "the replayed event reaches the mock")
    e = d.wait_event_state(dead1, "sent", 5)
    is_(e.get("state"), "sent", "replayed event is sent")
    again = [ev for r, ev in mock.events() if ev.get("event_id") == "ctl-dead-1"]
    orig = [ev for r in first for ev in r["json"]["data"]]
    ok(again and orig and again[0].get("event_time") == orig[0].get("event_time"),
       "replay keeps the original event_id and event_time")
    rc, out, err = ctl(*c, "replay", str(dead1))
    is_(rc, 3, "replay of a sent event → exit 3 (daemon refuses, 409)")

    # replay --dead
    dead2 = make_dead(d, mock, "ctl-dead-2")
    dead3 = make_dead(d, mock, "ctl-dead-3")
    rc, out, err = ctl(*c, "replay", "--dead")
    is_(rc, 0, "replay --dead exits 0")
    ok(re.search(r"\b2 dead events queued", out), "replay --dead queued 2", out + err)
    ok(not wait_delivered(mock, {"ctl-dead-2", "ctl-dead-3"}, 10), "both reach the mock")
    for x in (dead2, dead3):
        is_(d.wait_event_state(x, "sent", 5).get("state"), "sent", "event %s sent after replay" % x)
    rc, obj, err = ctl_json(*c, "--json", "replay", "--dead", "--since", "1h")
    is_((rc, obj), (0, {"replayed": 0}), "--json replay --dead --since 1h: nothing left")

    # test-event
    for args, pixel in (((), PIXEL), (("--pixel", PIXEL2), PIXEL2)):
        rc, out, err = ctl(*c, "test-event", *args)
        is_(rc, 0, "test-event %s exits 0" % " ".join(args))
        m = re.search(r"^event_id\s+(\S+)", out, re.M)
        ok(m and TEST_CODES[pixel] in out, "test-event prints event_id and the test code", out + err)
        teid = m.group(1) if m else None
        wait_until(lambda: teid in delivered_ids(mock), 10, 0.1)
        reqs = [r for r, ev in mock.events() if ev.get("event_id") == teid]
        ok(reqs, "the mock received test event %s" % teid)
        if reqs:
            j = reqs[0]["json"]
            is_((j.get("event_source_id"), j.get("test_event_code")), (pixel, TEST_CODES[pixel]),
                "test event for %s carries its test_event_code at top level" % pixel)
    rc, obj, err = ctl_json(*c, "--json", "test-event", "--pixel", PIXEL)
    ok(rc == 0 and (obj or {}).get("status") == "queued" and
       (obj or {}).get("test_event_code") == TEST_CODES[PIXEL] and (obj or {}).get("event_id"),
       "--json test-event: queued with the pixel's test code", repr(obj) + err)

    # report
    rc, out, err = ctl(*c, "report", "--since", "7d")
    is_(rc, 0, "report --since 7d exits 0")
    ok(re.search(r"^shop\s+order\s+1\s", out, re.M) and re.search(r"^crm\s+call\s", out, re.M)
       and re.search(r"\d+(\.\d+)?%", out),
       "report table has the sources and percentages", out + err)
    REPORT_TABLE[:] = out.splitlines()
    rc, obj, err = ctl_json(*c, "--json", "report", "--since", "7d")
    rows = {(r.get("source"), r.get("kind")): r for r in (obj or {}).get("rows") or []}
    shop = rows.get(("shop", "order")) or {}
    is_((rc, shop.get("conversions")), (0, 1), "--json report: shop order conversions 1")
    is_((shop.get("matched") or {}).get("email"), 1, "matched.email 1 (identify + order)")
    is_((shop.get("matched") or {}).get("none"), 0, "matched.none 0")
    is_((shop.get("with") or {}).get("email"), 1, "with.email 1")
    is_((shop.get("states") or {}).get("sent"), 1, "states.sent 1")
    crm = rows.get(("crm", "call")) or {}
    is_(crm.get("conversions"), 5, "crm call conversions 5 (2 calls, 3 replayed)")
    is_((crm.get("matched") or {}).get("event_id"), 5, "crm matched.event_id 5")
    is_((crm.get("states") or {}).get("sent"), 5, "crm states.sent 5")

    # exit codes, --url/--token overrides
    rc, out, err = ctl(*c, "--token", WRONG_TOKEN, "status")
    ok(rc == 3 and "token" in err, "wrong token → exit 3 naming the token (%d)" % rc, err)
    rc, out, err = ctl("--url", "http://127.0.0.1:%d" % free_port(), "--token", ADMIN_TOKEN, "status")
    is_(rc, 2, "daemon unreachable → exit 2")
    rc, out, err = ctl(*c, "show", "999999")
    is_(rc, 4, "unknown id → exit 4")
    rc, out, err = ctl(*c, "replay", "999999")
    is_(rc, 4, "replay of an unknown id → exit 4")
    for bad in (("frobnicate",), (), ("events", "--limit", "0"), ("events", "--state", "lost"),
                ("show", "abc"), ("show",), ("status", "--since", "1d"), ("report", "--since", "7x")):
        rc, out, err = ctl(*c, *bad)
        is_(rc, 1, "bad usage %r → exit 1" % (bad,))
    rc, out, err = ctl("-c", os.path.join(d.dir, "missing.conf"), "status")
    is_(rc, 1, "unreadable configuration → exit 1")
    tok = os.path.join(d.dir, "admin.token")
    with open(tok, "w") as f:
        f.write(ADMIN_TOKEN + "\n")
    rc, obj, err = ctl_json("--url", "http://127.0.0.1:%d" % d.admin_port, "--token-file", tok,
                            "--json", "status")
    is_((rc, (obj or {}).get("version")), (0, "0.1.0"), "--url with --token-file works without -c")
    rc, out, err = ctl(*c, "--help")
    ok(rc == 0 and "test-event" in out, "--help exits 0 with the usage")

    d.stop()
    rc, out, err = ctl(*c, "status")
    is_(rc, 2, "daemon down → exit 2")

    leaks = [(a, "admin" if ADMIN_TOKEN in o + e else "wrong") for a, o, e in CTL_OUTPUTS
             if ADMIN_TOKEN in o + e or WRONG_TOKEN in o + e]
    ok(not leaks, "the token never appears in ttrelayctl's output (%d runs)" % len(CTL_OUTPUTS),
       repr([(x[0][-2:], x[1]) for x in leaks]))
    audit_log(d, "ttrelayctl")


def test_print_report():
    ok(REPORT_TABLE, "a ttrelayctl report table was captured")
    diag("ttrelayctl report")
    for ln in REPORT_TABLE:
        diag(ln)


if __name__ == "__main__":
    run_cases([test_reload_rotates_secret_under_flow, test_reload_refuses_broken_files,
               test_sigterm_under_load_loses_nothing, test_metrics_after_known_traffic,
               test_healthz_and_readyz, test_status_lists_instances, test_ttrelayctl,
               test_print_report])
