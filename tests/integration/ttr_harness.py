"""Integration test harness: a mock TikTok Events API, a ttrelayd runner, webhook signers,
fixtures and a small TAP printer. Every wait is bounded; every child process is killed at
exit. Python 3 standard library only."""

import atexit
import base64
import copy
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TRACK_PATH = "/open_api/v1.3/event/track/"
PIXEL = "CTTRTESTPIXEL0000001"
PIXEL2 = "CTTRTESTPIXEL0000002"
TIKTOK_TOKEN = "tt-access-token-test"
ADMIN_TOKEN = "admin-token-test"
ORIGIN = "https://shop.example"

SECRETS = {
    "shop": "shpss_integration_secret",
    "woo": "woo integration secret",
    "pay": "whsec_integration_secret",
    "cal": "calendly-signing-key",
    "calc": "calcom-secret",
    "crm": "crm-secret",
    "leads": "lead-secret",
}


def default_sources():
    return [
        {"id": "shop", "type": "shopify", "secret": SECRETS["shop"]},
        {"id": "woo", "type": "woocommerce", "secret": SECRETS["woo"]},
        {"id": "pay", "type": "stripe", "secret": SECRETS["pay"]},
        {"id": "cal", "type": "calendly", "secret": SECRETS["cal"]},
        {"id": "calc", "type": "calcom", "secret": SECRETS["calc"]},
        {"id": "crm", "type": "generic", "secret": SECRETS["crm"], "kind": "call"},
        {"id": "leads", "type": "generic", "secret": SECRETS["leads"], "kind": "lead"},
    ]


# ---------------------------------------------------------------------------------------
# TAP

class _Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0
        self.lock = threading.Lock()


_tap = _Tap()


def diag(text):
    for line in str(text).splitlines() or [""]:
        print("# " + line, flush=True)


def ok(cond, name, detail=None):
    with _tap.lock:
        _tap.n += 1
        n = _tap.n
        if not cond:
            _tap.failed += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name), flush=True)
    if not cond and detail is not None:
        diag(detail)
    return bool(cond)


def is_(got, want, name):
    return ok(got == want, name, "got:  %r\nwant: %r" % (got, want))


def done():
    print("1..%d" % _tap.n, flush=True)
    if _tap.failed:
        diag("%d of %d checks failed" % (_tap.failed, _tap.n))
    cleanup()
    sys.exit(1 if _tap.failed or _tap.n == 0 else 0)


def _sanitizer_check(d):
    """A sanitizer's report in the daemon's log (stderr) fails the case: under TSan the
    daemon keeps running after a report, so the log is the only witness."""
    text = d.log_text()
    for marker in ("WARNING: ThreadSanitizer", "ERROR: AddressSanitizer", "runtime error:"):
        if marker in text:
            at = text.index(marker)
            ok(False, "no sanitizer report in the daemon's log", text[max(0, at - 200):at + 4000])
            return


def run_cases(cases):
    """Runs each case function in order. An exception fails the case; the logs of the
    daemons it started are printed for any failing case."""
    for fn in cases:
        diag("case: " + fn.__name__)
        before = _tap.failed
        started = len(_all_daemons)
        try:
            fn()
        except Exception:
            ok(False, fn.__name__ + " raised", traceback.format_exc())
        finally:
            mine = _all_daemons[started:]
            for d in mine:
                # A clean stop first, so that what a sanitizer finds at shutdown and at exit
                # (threads still running, leaks) reaches the log and fails the case too.
                if d.running():
                    d.stop()
                _sanitizer_check(d)
            if _tap.failed != before:
                for d in mine:
                    diag("---- ttrelayd log (%s), last lines ----" % d.dir)
                    diag("\n".join(d.log_text().splitlines()[-60:]))
            for d in mine:
                d.close(keep_dir=_tap.failed != before)
            for m in _all_mocks[:]:
                m.close()
    done()


# ---------------------------------------------------------------------------------------
# Fixtures and small helpers

def source_dir():
    return os.environ.get("TTR_SOURCE_DIR") or os.path.abspath(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def fixtures_dir():
    return os.environ.get("TTR_FIXTURES") or os.path.join(source_dir(), "tests", "fixtures")


def fixture_path(name):
    return os.path.join(fixtures_dir(), name)


def fixture_bytes(name):
    with open(fixture_path(name), "rb") as f:
        return f.read()


def fixture_json(name):
    return json.loads(fixture_bytes(name))


def has_fixture(name):
    return os.path.isfile(fixture_path(name))


def sha256_hex(text):
    if isinstance(text, str):
        text = text.encode()
    return hashlib.sha256(text).hexdigest()


def default_event_id(source_id, kind, object_id):
    """DESIGN.md: the deterministic event_id of an unmatched conversion."""
    return "ttr_" + sha256_hex("%s:%s:%s" % (source_id, kind, object_id))


def wait_until(pred, timeout, interval=0.05):
    """Polls pred until it returns a true value or timeout seconds pass; returns the last
    value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def iso_to_unix(text):
    from datetime import datetime
    t = text.strip().replace("Z", "+00:00")
    return int(datetime.fromisoformat(t).timestamp())


# ---------------------------------------------------------------------------------------
# Signers

def _hmac(secret, data):
    if isinstance(secret, str):
        secret = secret.encode()
    if isinstance(data, str):
        data = data.encode()
    return hmac.new(secret, data, hashlib.sha256)


def _b(body):
    return body.encode() if isinstance(body, str) else body


def shopify_headers(secret, body, topic="orders/paid", webhook_id=None, event_id=None,
                    shop="ttr-test.myshopify.com"):
    body = _b(body)
    webhook_id = webhook_id or ("wh-" + sha256_hex(body + topic.encode())[:24])
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": base64.b64encode(_hmac(secret, body).digest()).decode(),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": "2025-07",
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Triggered-At": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "X-Shopify-Event-Id": event_id or ("ev-" + webhook_id),
    }


def woo_headers(secret, body, topic="order.updated", webhook_id="7", delivery_id=None):
    body = _b(body)
    resource, _, event = topic.partition(".")
    return {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/9.4.0 Hookshot (WordPress/6.7)",
        "X-WC-Webhook-Source": "https://shop.example/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": base64.b64encode(_hmac(secret, body).digest()).decode(),
        "X-WC-Webhook-ID": str(webhook_id),
        "X-WC-Webhook-Delivery-ID": delivery_id or sha256_hex(body)[:32],
    }


def _timestamped(secret, body, t):
    t = int(time.time()) if t is None else int(t)
    mac = _hmac(secret, str(t).encode() + b"." + _b(body)).hexdigest()
    return "t=%d,v1=%s" % (t, mac)


def stripe_header(secret, body, t=None):
    """The Stripe-Signature header value."""
    return _timestamped(secret, body, t)


def calendly_header(secret, body, t=None):
    """The Calendly-Webhook-Signature header value."""
    return _timestamped(secret, body, t)


def calcom_header(secret, body):
    """The X-Cal-Signature-256 header value."""
    return _hmac(secret, _b(body)).hexdigest()


def generic_signature(secret, body, t=None):
    """The X-Ttrelay-Signature header value."""
    return _timestamped(secret, body, t)


# ---------------------------------------------------------------------------------------
# Mock TikTok Events API

class _MockHandler(BaseHTTPRequestHandler):
    server_version = "MockTikTok/1.0"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        mock = self.server.mock
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            length = 0
        raw = self.rfile.read(length) if 0 < length <= 64 << 20 else b""
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        rec = {
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "raw": raw,
            "json": parsed,
            "t": time.time(),
        }
        status, body, extra = mock._decide(rec)
        data = json.dumps(body).encode() if body is not None else b""
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            rec["client_gone"] = True


class MockTikTok:
    """Records every POST to the track path and answers according to fault rules.

    Rules are evaluated in this order: token check (require_token), queued one-shot rules
    (fail_http, fail_code, slow) in FIFO order, bad rows, then the default success."""

    def __init__(self):
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.requests = []
        self.rules = []
        self.bad_ids = set()
        self.hang = {}
        self.partial = None
        self.token = None
        self.port = 0
        self.httpd = None
        self.thread = None
        _all_mocks.append(self)
        self.start()

    # lifecycle -------------------------------------------------------------------------
    def start(self):
        """(Re)starts listening, on the same port after a stop()."""
        if self.httpd:
            return
        ThreadingHTTPServer.allow_reuse_address = True
        deadline = time.monotonic() + 10
        while True:
            try:
                httpd = ThreadingHTTPServer(("127.0.0.1", self.port), _MockHandler)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        httpd.daemon_threads = True
        httpd.mock = self
        self.httpd = httpd
        self.port = httpd.server_address[1]
        self.thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        """Stops listening: the daemon's connections are refused until start()."""
        if not self.httpd:
            return
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
        self.httpd = None

    def close(self):
        self.stop()
        if self in _all_mocks:
            _all_mocks.remove(self)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    # fault injection -------------------------------------------------------------------
    def fail_http(self, status=503, n=1, retry_after=None, message="mock outage"):
        with self.lock:
            self.rules.append({"kind": "http", "status": status, "n": n,
                               "retry_after": retry_after, "message": message})

    def fail_code(self, code, message="mock error", n=1, http_status=200):
        with self.lock:
            self.rules.append({"kind": "code", "code": code, "message": message, "n": n,
                               "status": http_status})

    def slow(self, seconds, n=1):
        with self.lock:
            self.rules.append({"kind": "slow", "seconds": seconds, "n": n})

    def set_bad_rows(self, event_ids):
        """Answers 40002 naming the first offending row for any batch that contains one of
        these event_ids; 0 otherwise."""
        with self.lock:
            self.bad_ids = set(event_ids)

    def hang_pixel(self, pixel, seconds):
        """Every request for this pixel (event_source_id) is answered only after seconds,
        whatever else is queued: a pixel whose endpoint hangs. seconds=None ends it."""
        with self.lock:
            if seconds is None:
                self.hang.pop(pixel, None)
            else:
                self.hang[pixel] = seconds

    def partial_reject(self, event_ids, details=True):
        """Answers 20001 (partial success) for any batch holding one of these event_ids. With
        details, "data" lists the rejected events as {"failed_events": [{"index", "event_id",
        "code", "message"}]}: a shape of our own, since TikTok's is UNCONFIRMED (README
        "Delivery"). Without, "data" is {}."""
        with self.lock:
            self.partial = (set(event_ids), details)

    def require_token(self, token):
        """Answers 40105 unless Access-Token equals token (None turns the check off)."""
        with self.lock:
            self.token = token

    def reset_faults(self):
        with self.lock:
            self.rules = []
            self.bad_ids = set()
            self.hang = {}
            self.partial = None
            self.token = None

    def _decide(self, rec):
        sleep_s = 0
        with self.lock:
            n = len(self.requests) + 1
            rec["n"] = n
            status, body, extra = 200, None, {}
            if rec["path"] != TRACK_PATH:
                status, body = 404, {"code": 40400, "message": "no such path " + rec["path"],
                                     "request_id": "mock-%d" % n, "data": {}}
            elif self.token is not None and rec["headers"].get("access-token") != self.token:
                body = {"code": 40105, "message": "The access token is invalid or has expired.",
                        "request_id": "mock-%d" % n, "data": {}}
            elif ((rec["json"] or {}).get("event_source_id") in self.hang
                  if isinstance(rec["json"], dict) else False):
                sleep_s = self.hang[rec["json"]["event_source_id"]]
                rec["hung"] = True
            elif self.rules:
                rule = self.rules[0]
                rule["n"] -= 1
                if rule["n"] <= 0:
                    self.rules.pop(0)
                if rule["kind"] == "http":
                    status = rule["status"]
                    body = {"code": 50000, "message": rule["message"],
                            "request_id": "mock-%d" % n, "data": {}}
                    if rule["retry_after"] is not None:
                        extra["Retry-After"] = str(rule["retry_after"])
                elif rule["kind"] == "code":
                    status = rule["status"]
                    body = {"code": rule["code"], "message": rule["message"],
                            "request_id": "mock-%d" % n, "data": {}}
                else:
                    sleep_s = rule["seconds"]
            if body is None and self.partial:
                ids, details = self.partial
                data = (rec["json"] or {}).get("data") or []
                failed = [{"index": i, "event_id": ev.get("event_id"), "code": 40002,
                           "message": "properties.currency: mock rejects %s" % ev.get("event_id")}
                          for i, ev in enumerate(data)
                          if isinstance(ev, dict) and ev.get("event_id") in ids]
                if failed:
                    body = {"code": 20001, "message": "Partial success",
                            "request_id": "mock-%d" % n,
                            "data": {"failed_events": failed} if details else {}}
                    rec["rejected"] = [f["event_id"] for f in failed]
            if body is None and self.bad_ids:
                data = (rec["json"] or {}).get("data") or []
                for i, ev in enumerate(data):
                    if isinstance(ev, dict) and ev.get("event_id") in self.bad_ids:
                        body = {"code": 40002,
                                "message": "Batch.%d.event_id: Invalid value for event_id "
                                           "(mock bad row)" % i,
                                "request_id": "mock-%d" % n, "data": {}}
                        break
            if body is None:
                body = {"code": 0, "message": "OK", "request_id": "mock-%d" % n, "data": {}}
            rec["status"] = status
            rec["code"] = body.get("code")
            rec["accepted"] = status == 200 and body.get("code") == 0 and not rec.get("hung")
            rec["slow_s"] = sleep_s
            self.requests.append(rec)
            self.cond.notify_all()
        if sleep_s:
            time.sleep(sleep_s)
        return status, body, extra

    # inspection ------------------------------------------------------------------------
    def all_requests(self):
        with self.lock:
            return list(self.requests)

    def count(self):
        with self.lock:
            return len(self.requests)

    def events(self, accepted_only=True):
        """Flat list of (request, event) pairs, by default only from requests the mock
        answered with HTTP 200 and code 0."""
        out = []
        for r in self.all_requests():
            partly = r.get("code") == 20001 and r.get("status") == 200 and not r.get("hung")
            if accepted_only and not r["accepted"] and not partly:
                continue
            for ev in ((r["json"] or {}).get("data") or []):
                if accepted_only and partly and ev.get("event_id") in r.get("rejected", ()):
                    continue  # what a partial answer refused was not accepted
                out.append((r, ev))
        return out

    def wait_for_events(self, n, timeout, accepted_only=True):
        """Waits until at least n events arrived (bounded); returns the pairs seen."""
        deadline = time.monotonic() + timeout
        while True:
            evs = self.events(accepted_only)
            left = deadline - time.monotonic()
            if len(evs) >= n or left <= 0:
                return evs
            with self.lock:
                self.cond.wait(min(left, 0.2))

    def wait_for_requests(self, n, timeout):
        deadline = time.monotonic() + timeout
        while True:
            reqs = self.all_requests()
            left = deadline - time.monotonic()
            if len(reqs) >= n or left <= 0:
                return reqs
            with self.lock:
                self.cond.wait(min(left, 0.2))


# ---------------------------------------------------------------------------------------
# libconfig writer

def _lc_value(v, indent):
    pad = "  " * indent
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v) if -2**31 <= v < 2**31 else "%dL" % v
    if isinstance(v, float):
        s = repr(v)
        return s if ("." in s or "e" in s) else s + ".0"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple)):
        if not v:
            return "( )"
        inner = (",\n" + pad + "  ").join(_lc_value(x, indent + 1) for x in v)
        return "(\n" + pad + "  " + inner + "\n" + pad + ")"
    if isinstance(v, dict):
        body = "".join("%s  %s = %s;\n" % (pad, k, _lc_value(x, indent + 1))
                       for k, x in v.items() if x is not None)
        return "{\n" + body + pad + "}"
    raise TypeError("cannot write %r to libconfig" % (v,))


def libconfig_text(conf):
    return "".join("%s = %s;\n" % (k, _lc_value(v, 0)) for k, v in conf.items() if v is not None)


def merge_config(base, overrides):
    """Deep-merges dict sections; lists and scalars replace."""
    out = copy.deepcopy(base)
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_config(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


# ---------------------------------------------------------------------------------------
# Store backends: TTR_STORE_BACKEND=postgresql runs every Daemon on a fresh database of the
# shared test server (tests/pg/pg_server.sh, found through TTR_PG_DIR and TTR_PG_SERVER).

def store_backend():
    return os.environ.get("TTR_STORE_BACKEND") or "sqlite"


def on_pg():
    return store_backend() == "postgresql"


def skip_sqlite_only(reason):
    """Under PostgreSQL, says why a case does not apply (a TAP comment, never silent) and
    returns True; under SQLite returns False."""
    if not on_pg():
        return False
    print("# SKIP sqlite-only: " + reason, flush=True)
    return True


_pg_seq = [0]


def pg_createdb(prefix="ttr", pgdir=None):
    """A new empty database on the shared test server (or on the one pg_server.sh started
    in pgdir); returns its conninfo."""
    server = os.environ.get("TTR_PG_SERVER")
    pgdir = pgdir or os.environ.get("TTR_PG_DIR")
    if not server or not pgdir or not os.path.isfile(os.path.join(pgdir, "conninfo")):
        raise RuntimeError("TTR_STORE_BACKEND=postgresql needs the pg fixture "
                           "(TTR_PG_SERVER, TTR_PG_DIR with a running server)")
    _pg_seq[0] += 1
    name = "%s_%d_%d_%d" % (prefix, os.getpid(), _pg_seq[0], int(time.time() * 1000) % 100000000)
    out = subprocess.run(["sh", server, "createdb", pgdir, name], capture_output=True,
                         text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError("pg_server.sh createdb failed: " + out.stderr)
    return out.stdout.strip()


def psql_path():
    for d in sorted((os.path.join("/usr/lib/postgresql", v, "bin")
                     for v in (os.listdir("/usr/lib/postgresql")
                               if os.path.isdir("/usr/lib/postgresql") else [])),
                    reverse=True):
        if os.access(os.path.join(d, "psql"), os.X_OK):
            return os.path.join(d, "psql")
    return shutil.which("psql") or "psql"


def pg_query(conninfo, sql, timeout=30):
    """Rows of sql on the database conninfo names, each a list of strings."""
    out = subprocess.run([psql_path(), "-X", "-q", "-A", "-t", "-F", "\t", "-v",
                          "ON_ERROR_STOP=1", "-d", conninfo, "-c", sql],
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError("psql: " + out.stderr.strip())
    return [line.split("\t") for line in out.stdout.splitlines() if line != ""]


# ---------------------------------------------------------------------------------------
# ttrelayd runner

_all_daemons = []
_all_mocks = []


def ttrelayd_path():
    p = os.environ.get("TTRELAYD")
    if not p or not os.access(p, os.X_OK):
        raise RuntimeError("TTRELAYD is not set to an executable ttrelayd (got %r)" % p)
    return p


def ttrelayctl_path():
    return os.environ.get("TTRELAYCTL")


# logfmt may quote any value: msg=listening and msg="listening" are the same line.
_LISTEN_RE = re.compile(r'msg="?listening"? listener="?(\w+)"? .*?port="?(\d+)')


class DaemonError(RuntimeError):
    pass


class Daemon:
    """A ttrelayd process with its own temp dir, config file, store and log.

    Keyword arguments are config sections merged over the defaults, e.g.
    Daemon(mock, match={"hold_s": 1}, tiktok={"dry_run": True}). env adds variables to the
    daemon's environment only (LD_PRELOAD of a fault shim, libfaketime)."""

    def __init__(self, mock, start=True, env=None, conninfo=None, **sections):
        """conninfo: under PostgreSQL, share this database (another instance's) instead of
        creating a new one."""
        self.mock = mock
        self.env = dict(env or {})
        self.dir = tempfile.mkdtemp(prefix="ttr-it-")
        self.conninfo = None
        if on_pg():
            self.conninfo = conninfo or pg_createdb()
        self.conf_path = os.path.join(self.dir, "ttrelay.conf")
        self.log_path = os.path.join(self.dir, "ttrelayd.log")
        self.proc = None
        self.last_headers = {}
        self.public_port = None
        self.admin_port = None
        self.starts = 0
        self._log_offset = 0
        self.config = merge_config(self.default_config(), sections)
        self.write_config()
        _all_daemons.append(self)
        if start:
            self.start()

    def default_config(self):
        return {
            "listen": {"address": "127.0.0.1", "port": 0},
            "admin": {"address": "127.0.0.1", "port": 0, "token": ADMIN_TOKEN},
            "store": self._store_config(),
            "log": {"level": "info"},
            "tiktok": {
                "api_base": self.mock.url if self.mock else "http://127.0.0.1:9",
                "default_pixel": PIXEL,
                "pixels": [{"code": PIXEL, "access_token": TIKTOK_TOKEN, "test_event_code": "",
                            "rate_per_s": 10000.0}],
                "dry_run": False,
                "batch_size": 1000,
                "request_timeout_ms": 3000,
                "retry_base_ms": 200,
                "retry_cap_ms": 2000,
                "max_age_s": 604800,
                "rate_per_s": 10000.0,
            },
            "events": {"order": "CompletePayment", "call": "Contact", "lead": "Lead"},
            "match": {"hold_s": 1},
            "collect": {"allowed_origins": [ORIGIN], "trusted_proxies": ["127.0.0.1"]},
            "sources": default_sources(),
        }

    def _store_config(self):
        if not self.conninfo:
            return {"path": os.path.join(self.dir, "ttrelay.db")}
        path = os.path.join(self.dir, "conninfo")
        with open(path, "w") as f:
            f.write(self.conninfo + "\n")
        os.chmod(path, 0o600)
        return {"backend": "postgresql", "conninfo_file": path}

    def store_bytes(self):
        """Everything the store holds at rest, as bytes: the SQLite files, or a data-only
        pg_dump of the PostgreSQL database."""
        if self.conninfo:
            out = subprocess.run([os.path.join(os.path.dirname(psql_path()), "pg_dump"), "-a",
                                  "-d", self.conninfo], capture_output=True, timeout=60)
            if out.returncode != 0:
                raise RuntimeError("pg_dump: " + out.stderr.decode("utf-8", "replace"))
            return out.stdout
        db = self.config["store"]["path"]
        data = b""
        for p in (db, db + "-wal", db + "-journal"):
            if os.path.exists(p):
                with open(p, "rb") as f:
                    data += f.read()
        return data

    def pg(self, sql):
        """Rows of sql on this daemon's database (PostgreSQL only)."""
        return pg_query(self.conninfo, sql)

    def write_config(self):
        tmp = self.conf_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(libconfig_text(self.config))
        os.replace(tmp, self.conf_path)

    # process control -------------------------------------------------------------------
    def start(self, timeout=15):
        if self.proc and self.proc.poll() is None:
            raise DaemonError("already running")
        logf = open(self.log_path, "ab")
        self._log_offset = logf.tell()
        try:
            env = dict(os.environ, **self.env) if self.env else None
            self.proc = subprocess.Popen([ttrelayd_path(), "-c", self.conf_path],
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                         cwd=self.dir, env=env)
        finally:
            logf.close()
        self.starts += 1
        self.public_port = self.admin_port = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self._new_log()
            ports = dict(_LISTEN_RE.findall(text))
            if "public" in ports and "admin" in ports:
                self.public_port = int(ports["public"])
                self.admin_port = int(ports["admin"])
                break
            if self.proc.poll() is not None:
                raise DaemonError("ttrelayd exited with %s during start-up:\n%s"
                                  % (self.proc.returncode, text[-3000:]))
            time.sleep(0.02)
        else:
            raise DaemonError("no listening lines within %ss:\n%s" % (timeout, self._new_log()))
        if not wait_until(self._healthy, max(1, deadline - time.monotonic())):
            raise DaemonError("/healthz did not answer 200:\n" + self._new_log()[-3000:])
        return self

    def _new_log(self):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _healthy(self):
        try:
            st, _, _ = self.request("public", "GET", "/healthz", timeout=2)
            return st == 200
        except OSError:
            return False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGTERM):
        if self.running():
            self.proc.send_signal(sig)

    def sigkill(self):
        if self.running():
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout=15):
        """SIGTERM, wait; returns the exit code (SIGKILL after timeout, returning None)."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                return None
        return self.proc.returncode

    def restart(self, timeout=15):
        """Starts again with the same config and store (after a stop or a kill)."""
        if self.running():
            self.stop()
        return self.start(timeout)

    def reload(self, timeout=10, **sections):
        """Rewrites the config with sections merged in, sends SIGHUP and waits for the
        daemon's verdict; returns "reloaded" or "refused"."""
        self.config = merge_config(self.config, sections)
        self.write_config()
        mark = len(self.log_text())
        self.kill(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_text()[mark:]
            if 'msg="configuration reloaded"' in text or "msg=configuration_reloaded" in text:
                return "reloaded"
            if 'msg="reload refused' in text:
                return "refused"
            time.sleep(0.05)
        raise DaemonError("no reload verdict in the log within %ss" % timeout)

    def close(self, keep_dir=False):
        """Kills the process; removes the temp dir unless keep_dir (or TTR_KEEP_TMP)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        if self in _all_daemons:
            _all_daemons.remove(self)
        if not keep_dir and not os.environ.get("TTR_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # HTTP ------------------------------------------------------------------------------
    def request(self, listener, method, path, body=None, headers=None, timeout=10):
        """One request on a fresh connection; returns (status, headers lower-cased, body)."""
        port = self.public_port if listener == "public" else self.admin_port
        if port is None:
            raise ConnectionRefusedError("daemon not started")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    @staticmethod
    def _json(data):
        try:
            return json.loads(data) if data else None
        except ValueError:
            return None

    def post_webhook(self, source_id, body, headers=None, timeout=10):
        """POST /webhooks/<source_id>; returns (status, parsed JSON or None)."""
        st, self.last_headers, data = self.request("public", "POST", "/webhooks/" + source_id,
                                                   _b(body), headers, timeout)
        return st, self._json(data)

    def post_collect(self, obj, headers=None, content_type="application/json", origin=ORIGIN):
        """POST /collect with obj (dict → JSON, or raw bytes/str); returns the status.
        The response headers are kept in self.last_headers."""
        body = obj if isinstance(obj, (bytes, str)) else json.dumps(obj)
        h = {"Content-Type": content_type}
        if origin:
            h["Origin"] = origin
        h.update(headers or {})
        st, self.last_headers, _ = self.request("public", "POST", "/collect", _b(body), h)
        return st

    def _admin_headers(self):
        return {"Authorization": "Bearer " + self.config["admin"]["token"]}

    def admin_get(self, path):
        st, _, data = self.request("admin", "GET", path, None, self._admin_headers())
        return st, self._json(data)

    def admin_post(self, path, obj=None):
        h = self._admin_headers()
        body = None
        if obj is not None:
            body = json.dumps(obj).encode()
            h["Content-Type"] = "application/json"
        else:
            body = b""
        st, _, data = self.request("admin", "POST", path, body, h)
        return st, self._json(data)

    def admin_events(self, state=None, limit=1000):
        q = {"limit": str(limit)}
        if state:
            q["state"] = state
        st, obj = self.admin_get("/admin/events?" + urllib.parse.urlencode(q))
        if st != 200 or not isinstance(obj, dict):
            raise DaemonError("GET /admin/events answered %s %r" % (st, obj))
        return obj.get("events") or []

    def admin_event(self, event_id):
        st, obj = self.admin_get("/admin/events/%s" % event_id)
        if st != 200:
            raise DaemonError("GET /admin/events/%s answered %s %r" % (event_id, st, obj))
        return obj

    def admin_status(self):
        st, obj = self.admin_get("/admin/status")
        if st != 200:
            raise DaemonError("GET /admin/status answered %s %r" % (st, obj))
        return obj

    def wait_event_state(self, event_id, states, timeout):
        """Polls /admin/events/<id> until its state is in states; returns the last EVENT."""
        if isinstance(states, str):
            states = (states,)
        last = [None]

        def check():
            last[0] = self.admin_event(event_id)
            return last[0].get("state") in states
        wait_until(check, timeout, 0.1)
        return last[0]


# ---------------------------------------------------------------------------------------
# cleanup

def cleanup():
    for d in _all_daemons[:]:
        try:
            d.close()
        except Exception:
            pass
    for m in _all_mocks[:]:
        try:
            m.close()
        except Exception:
            pass


def _on_signal(signum, frame):
    cleanup()
    os._exit(128 + signum)


atexit.register(cleanup)
for _s in (signal.SIGTERM, signal.SIGINT):
    try:
        signal.signal(_s, _on_signal)
    except (ValueError, OSError):
        pass


# ---------------------------------------------------------------------------------------
# Expected values (independent of the daemon's code)

_CALLING_CODES = {"US": "1", "CA": "1", "GB": "44", "DE": "49", "FR": "33", "AU": "61",
                  "NG": "234", "NL": "31", "ES": "34", "IT": "39", "IN": "91", "BR": "55"}


def e164(raw, country=None):
    """E.164 for the phone forms that appear in fixtures: +…, 00…, or national with a
    known country."""
    raw = raw.strip()
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("+"):
        return "+" + digits
    if raw.startswith("00"):
        return "+" + digits[2:]
    cc = _CALLING_CODES[(country or "").upper()]
    if cc == "1":
        return "+" + digits if len(digits) == 11 and digits[0] == "1" else "+1" + digits
    return "+" + cc + digits.lstrip("0")


def email_hash(raw):
    return sha256_hex(raw.strip().lower())


def phone_hash(raw, country=None):
    return sha256_hex(e164(raw, country))


def empty_strings(obj, path=""):
    """Paths of every empty string inside obj (TikTok bodies must carry none)."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += empty_strings(v, path + "." + k)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += empty_strings(v, "%s[%d]" % (path, i))
    elif obj == "":
        out.append(path or ".")
    return out


def query_param(url, key):
    q = urllib.parse.urlsplit(url).query
    vals = urllib.parse.parse_qs(q).get(key)
    return vals[0] if vals else None


def post_generic(d, source_id, obj, auth="bearer", secret=None, t=None):
    """POSTs a generic-source JSON body authenticated by bearer token ("bearer"), by
    X-Ttrelay-Signature ("signature") or not at all (None); returns (status, json)."""
    body = json.dumps(obj).encode()
    secret = secret if secret is not None else SECRETS[source_id]
    h = {"Content-Type": "application/json"}
    if auth == "bearer":
        h["Authorization"] = "Bearer " + secret
    elif auth == "signature":
        h["X-Ttrelay-Signature"] = generic_signature(secret, body, t)
    return d.post_webhook(source_id, body, h)


def iso_utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def iso_offset(t, hours):
    """ISO 8601 local time at a fixed UTC offset, as Shopify writes it."""
    sign = "-" if hours < 0 else "+"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t + hours * 3600)) + \
        "%s%02d:00" % (sign, abs(hours))


def retime(raw, fields):
    """Replaces the value of every "key": value (string or integer) in a JSON text, so a
    fixture's timestamps can be moved to now while every other byte stays as recorded.
    fields maps key → new value (str or int). Raises when a key does not occur."""
    raw = _b(raw)
    for key, value in fields.items():
        pat = re.compile(rb'("' + re.escape(key.encode()) + rb'"\s*:\s*)("(?:[^"\\]|\\.)*"|-?\d+)')
        new = json.dumps(value).encode()
        raw, n = pat.subn(lambda m: m.group(1) + new, raw)
        if n == 0:
            raise KeyError("fixture has no %r" % key)
    return raw
