"""ttrelayctl send-test SOURCE (issue 14): for every source type, a realistic payload signed
with the source's own secret from the configuration is posted to the running daemon's
public listener; the command reports the HTTP status, the reply, the conversion and its
event's state, and the conversion stored is a test that never reaches TikTok as a real one."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ttr_harness import (PIXEL, TIKTOK_TOKEN, Daemon, MockTikTok, default_sources,  # noqa: E402
                         is_, ok, run_cases, ttrelayctl_path, ttrelayd_path, wait_until)

TEST_CODE = "TEST12345"
# source id → (type, kind of the conversion)
TYPES = {"shop": ("shopify", "order"), "woo": ("woocommerce", "order"),
         "pay": ("stripe", "order"), "cal": ("calendly", "call"), "calc": ("calcom", "call"),
         "crm": ("generic", "call")}


def ctl_bin():
    p = ttrelayctl_path()
    if p and os.access(p, os.X_OK):
        return p
    return os.path.join(os.path.dirname(ttrelayd_path()), "ttrelayctl")


def send_test(d, source, *extra, conf=None):
    """Runs ttrelayctl -c CONF send-test SOURCE; returns (exit code, stdout, stderr)."""
    p = subprocess.run([ctl_bin(), "-c", conf or d.conf_path, "send-test", source] + list(extra),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def fields(out):
    """The "name  value" lines of send-test's report as a dict."""
    res = {}
    for line in out.splitlines():
        name, _, value = line.partition(" ")
        res[name] = value.strip()
    return res


def admin_from_config(d):
    """Writes the bound admin port into the file (the daemon is not reloaded), so ttrelayctl
    finds the admin API from the configuration alone; listen.port stays 0 there, so the
    public port can only come from the daemon's own status."""
    d.config["admin"]["port"] = d.admin_port
    d.write_config()


def case_every_type_sent_as_test_with_test_event_code():
    mock = MockTikTok()
    sources = default_sources()
    for s in sources:
        if s["type"] in ("shopify", "stripe"):
            s["send_tests"] = True
    d = Daemon(mock, sources=sources, match={"hold_s": 0},
               tiktok={"pixels": [{"code": PIXEL, "access_token": TIKTOK_TOKEN,
                                   "test_event_code": TEST_CODE, "rate_per_s": 10000.0}]})
    admin_from_config(d)
    for sid, (typ, kind) in TYPES.items():
        rc, out, err = send_test(d, sid, "--wait", "20")
        f = fields(out)
        is_(rc, 0, "%s (%s): send-test exits 0" % (sid, typ))
        ok(f.get("source") == "%s (%s)" % (sid, typ), "%s: the source is named" % sid, out + err)
        ok(f.get("to", "").startswith("http://127.0.0.1:%d/webhooks/%s," % (d.public_port, sid)),
           "%s: posted to the public listener the daemon reports" % sid, out)
        ok(f.get("answer", "").startswith('200 {"status":"accepted","id":'),
           "%s: the answer is 200 accepted" % sid, out + err)
        cid = int(json.loads(f["answer"].split(" ", 1)[1])["id"])
        ev = d.admin_event(cid)
        is_((ev["source"], ev["kind"], ev["test"], ev["state"]), (sid, kind, True, "sent"),
            "%s: the stored conversion is a %s test, sent" % (sid, kind))
        ok(f.get("conversion", "").startswith("%d: %s %s" % (cid, kind, ev["object_id"]))
           and f["conversion"].endswith(", test"),
           "%s: the report names the stored conversion" % sid, out)
        ok(f.get("state", "").startswith("sent: to TikTok with the pixel's test_event_code"),
           "%s: the report gives the final state" % sid, out)
        is_(f.get("event"), "%s %s" % (ev["event_name"], ev["event_id"]),
            "%s: the report gives the event name and id" % sid)
    reqs = [r for r in mock.all_requests() if r["json"]]
    sent = [ev.get("event_id") for r in reqs for ev in r["json"].get("data") or []]
    is_(len(sent), len(TYPES), "one event per source reached the mock")
    ok(all(r["json"].get("test_event_code") == TEST_CODE for r in reqs),
       "every request carried the pixel's test_event_code",
       [r["json"].get("test_event_code") for r in reqs])


def case_without_test_event_code_nothing_is_sent():
    mock = MockTikTok()
    d = Daemon(mock, match={"hold_s": 0})
    admin_from_config(d)
    for sid, (typ, kind) in TYPES.items():
        rc, out, err = send_test(d, sid, "--wait", "20")
        f = fields(out)
        is_(rc, 0, "%s: exit 0" % sid)
        if typ in ("shopify", "stripe"):
            reason = "test order" if typ == "shopify" else "test mode payment"
            is_(f.get("answer"), '200 {"status":"ignored","reason":"%s"}' % reason,
                "%s: the sender's test flag is verified, then ignored" % sid)
            ok("send_tests = true" in f.get("hint", "") and "conversion" not in f,
               "%s: the hint says how test deliveries are sent" % sid, out)
        else:
            cid = int(json.loads(f["answer"].split(" ", 1)[1])["id"])
            ev = d.admin_event(cid)
            is_((ev["test"], ev["state"]), (True, "ignored"),
                "%s: stored as a test, ignored without a test_event_code" % sid)
            ok("no test_event_code" in f.get("state", ""), "%s: the report says why" % sid, out)
    is_(mock.count(), 0, "nothing reached TikTok")


def case_refusals_explained():
    mock = MockTikTok()
    d = Daemon(mock)
    admin_from_config(d)
    # A configuration edited but not reloaded: ttrelayctl signs with the new secret.
    edited = dict(d.config)
    edited["sources"] = [dict(s, secret="edited-not-reloaded") if s["id"] == "crm" else s
                         for s in d.config["sources"]] + [
        {"id": "newsrc", "type": "generic", "secret": "a-new-secret", "kind": "lead"}]
    from ttr_harness import libconfig_text
    conf = os.path.join(d.dir, "edited.conf")
    with open(conf, "w") as fh:
        fh.write(libconfig_text(edited))
    rc, out, err = send_test(d, "crm", conf=conf)
    f = fields(out)
    is_(rc, 3, "a refused signature exits 3")
    ok(f.get("answer", "").startswith("401 "), "the 401 is reported", out + err)
    ok("another secret" in f.get("hint", "") and "systemctl reload ttrelayd" in f["hint"],
       "the hint says the daemon runs with another secret and to reload", out)
    rc, out, err = send_test(d, "newsrc", conf=conf)
    f = fields(out)
    is_((rc, f.get("answer", "")[:4]), (3, "404 "), "a source the daemon lacks is a 404, exit 3")
    ok("reload" in f.get("hint", ""), "the hint says to reload", out)
    rows = wait_until(lambda: (lambda r: r if len(r) >= 2 else None)(
        d.admin_get("/admin/deliveries")[1]["deliveries"]), 10) or []
    is_(sorted((r["source"], r["status"]) for r in rows), [("crm", 401), ("newsrc", 404)],
        "both attempts are in the delivery log")
    rc, out, err = send_test(d, "nosuch")
    ok(rc == 1 and "has no source nosuch" in err and "crm" in err,
       "an unknown source id exits 1 and lists the sources", err)


def case_json_and_public_url():
    mock = MockTikTok()
    d = Daemon(mock, tiktok={"dry_run": True}, match={"hold_s": 30})
    admin_from_config(d)
    rc, out, err = send_test(d, "calc", "--json", "--public-url",
                             "http://127.0.0.1:%d/" % d.public_port)
    is_(rc, 0, "--json exits 0")
    obj = json.loads(out) if out.strip().startswith("{") else {}
    is_((obj.get("http_status"), (obj.get("reply") or {}).get("status")), (200, "accepted"),
        "--json gives the status and the reply")
    ev = obj.get("event") or {}
    is_((ev.get("state"), ev.get("test"), ev.get("object_id")), ("held", True, obj.get("object_id")),
        "without --wait the event is reported as it is now (held)")
    is_(obj.get("url"), "http://127.0.0.1:%d/webhooks/calc" % d.public_port,
        "--public-url is where the delivery goes")
    secrets = [s["secret"] for s in d.config["sources"]] + [d.config["admin"]["token"]]
    ok(not any(s in out + err for s in secrets), "no secret or token is printed")


if __name__ == "__main__":
    run_cases([case_every_type_sent_as_test_with_test_event_code,
               case_without_test_event_code_nothing_is_sent,
               case_refusals_explained,
               case_json_and_public_url])
