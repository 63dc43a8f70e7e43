"""A fast local stand-in for the TikTok Events API track endpoint, for the forwarding
benchmark. It answers every batch with code 0 and counts events; until release() is called
it holds each request, so the benchmark can let a backlog build up and then time how fast
the relay drains it. Python 3 standard library only; binds 127.0.0.1 on a kernel-chosen
port."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TRACK_PATH = "/open_api/v1.3/event/track/"
HOLD_LIMIT_S = 600  # a held request is answered after this long whatever happens


class _Handler(BaseHTTPRequestHandler):
    server_version = "BenchTikTok/1.0"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        mock = self.server.mock
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            length = 0
        raw = self.rfile.read(length) if 0 < length <= 64 << 20 else b""
        mock.gate.wait(HOLD_LIMIT_S)
        n, ok = 0, self.path == TRACK_PATH
        try:
            data = json.loads(raw).get("data")
            n = len(data) if isinstance(data, list) else 0
        except (ValueError, AttributeError):
            ok = False
        body = {"code": 0, "message": "OK", "data": {}} if ok else \
            {"code": 40002, "message": "mock: unreadable batch", "data": {}}
        with mock.lock:
            mock.requests += 1
            body["request_id"] = "bench-%d" % mock.requests
            if ok:
                mock.events += n
                mock.batches.append((time.monotonic(), n))
        out = json.dumps(body).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        except OSError:
            pass


class BenchTikTok:
    """Counts acknowledged events; holds requests until release() when held=True."""

    def __init__(self, held=False):
        self.lock = threading.Lock()
        self.gate = threading.Event()
        if not held:
            self.gate.set()
        self.requests = 0
        self.events = 0
        self.batches = []  # (monotonic time answered, events)
        self.released_at = None if held else time.monotonic()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.mock = self
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def release(self):
        self.released_at = time.monotonic()
        self.gate.set()

    def acked(self):
        with self.lock:
            return self.events

    def wait_events(self, n, timeout):
        """Waits (bounded) until n events were acknowledged; returns the count."""
        deadline = time.monotonic() + timeout
        while self.acked() < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.acked()

    def drain_rate(self):
        """(events answered after release, seconds from release to the last answer)."""
        with self.lock:
            after = [(t, n) for t, n in self.batches if t >= self.released_at]
        if not after:
            return 0, 0.0
        return sum(n for _, n in after), max(t for t, _ in after) - self.released_at

    def close(self):
        self.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
