"""The production path (issue 14): `ttrelayctl init` writes a configuration that the shipped
unit can run, read by `ttrelayd -t` and by the daemon itself as an unprivileged uid the way
systemd runs it (credentials copied under $CREDENTIALS_DIRECTORY, the state directory owned
by that uid); the unit with init's drop-in passes `systemd-analyze verify`; a port already
taken stops start-up with the system's reason before the store is touched; `-t` checks the
store directory."""

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ttr_harness import (Daemon, MockTikTok, diag, is_, ok, run_cases, source_dir,  # noqa: E402
                         ttrelayctl_path, ttrelayd_path, wait_until)

UNPRIVILEGED = "nobody"
TOKEN = "tt-production-token-4f1c"
SHOP_SECRET = "shpss_production_secret_77aa"


def tmpdir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    return d


def run(argv, **kw):
    kw.setdefault("timeout", 30)
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def as_unprivileged(argv, env=None, cwd=None, **kw):
    """argv run as nobody:nogroup with no supplementary groups (the unit's DynamicUser)."""
    pre = ["setpriv", "--reuid=" + UNPRIVILEGED, "--regid=nogroup", "--clear-groups", "env", "-i",
           "PATH=/usr/bin:/bin"]
    pre += ["%s=%s" % kv for kv in (env or {}).items()]
    return run(pre + argv, cwd=cwd, **kw)


def can_switch_uid():
    return os.geteuid() == 0 and shutil.which("setpriv") is not None


class Install:
    """ttrelayctl init into temporary /etc/ttrelay, /var/lib/ttrelay and unit directories."""

    def __init__(self, extra=(), sources=("shopify:shop", "woocommerce:woo", "generic:crm:call")):
        self.root = tmpdir("ttr-prod-")
        self.etc = os.path.join(self.root, "etc")
        self.state = os.path.join(self.root, "state")
        self.unit = os.path.join(self.root, "unit")
        os.mkdir(self.state)
        for name, text in (("token.txt", TOKEN + "\n"), ("shop.txt", SHOP_SECRET + "\n")):
            with open(os.path.join(self.root, name), "w") as f:
                f.write(text)
        self.argv = [ttrelayctl_path(), "init", "--pixel", "CPRODPIXEL000000001",
                     "--access-token-file", os.path.join(self.root, "token.txt"),
                     "--public-url", "https://relay.example.com",
                     "--origin", "https://Shop.Example:443",
                     "--dir", self.etc, "--state-dir", self.state, "--unit-dir", self.unit]
        if "shopify:shop" in sources:
            self.argv += ["--secret", "shop=" + os.path.join(self.root, "shop.txt")]
        self.argv += list(extra) + list(sources)
        self.proc = run(self.argv)
        self.conf = os.path.join(self.etc, "ttrelay.conf")
        self.dropin = os.path.join(self.unit, "ttrelayd.service.d", "credentials.conf")

    def printed_secret(self, source_id):
        m = re.search(r"source %s \(\w+\)\n  URL: +\S+\n  secret: ([0-9a-f]{48})\n" % source_id,
                      self.proc.stdout)
        return m.group(1) if m else None

    def credentials_for_service(self):
        """What systemd does with the drop-in's LoadCredential= lines: copies each file into
        a directory readable by the service's uid only."""
        creds = os.path.join(self.root, "credentials")
        os.mkdir(creds)
        with open(self.dropin) as f:
            for line in f:
                m = re.match(r"LoadCredential=([^:]+):(.+)$", line.strip())
                if m:
                    shutil.copy(m.group(2), os.path.join(creds, m.group(1)))
        subprocess.run(["chown", "-R", UNPRIVILEGED + ":nogroup", creds, self.state], check=True)
        os.chmod(creds, 0o500)
        os.chmod(self.state, 0o700)
        return creds

    def close(self):
        shutil.rmtree(self.root, ignore_errors=True)


def case_init_writes_files_the_unit_can_read():
    inst = Install()
    try:
        is_(inst.proc.returncode, 0, "ttrelayctl init exits 0")
        if inst.proc.returncode:
            diag(inst.proc.stderr)
            return
        is_(stat.S_IMODE(os.stat(inst.conf).st_mode), 0o644,
            "the configuration is 0644: the DynamicUser can read it")
        for name in ("admin_token", "tiktok_token", "shop_secret", "woo_secret", "crm_secret"):
            path = os.path.join(inst.etc, name)
            ok(os.path.isfile(path) and stat.S_IMODE(os.stat(path).st_mode) == 0o600,
               "credential %s is 0600" % name)
        with open(inst.conf) as f:
            conf = f.read()
        ok(TOKEN not in conf and SHOP_SECRET not in conf and "secret = " not in conf,
           "no secret is in the configuration file")
        ok('path = "%s/ttrelay.db"' % inst.state in conf, "the store is under the state directory")
        ok('allowed_origins = ( "https://shop.example" )' in conf,
           "the origin is written normalized")
        with open(inst.dropin) as f:
            dropin = f.read()
        named = re.findall(r"^LoadCredential=([^:]+):(.+)$", dropin, re.M)
        is_(sorted(n for n, _ in named),
            ["admin_token", "crm_secret", "shop_secret", "tiktok_token", "woo_secret"],
            "the drop-in loads exactly the credentials the configuration names")
        ok(all(os.path.isfile(p) for _, p in named), "every LoadCredential= file exists",
           named)
        with open(os.path.join(inst.etc, "shop_secret")) as f:
            is_(f.read(), SHOP_SECRET + "\n", "the Shopify secret passed in is the credential")
        ok(re.search(r"URL: +https://relay.example.com/webhooks/crm\n", inst.proc.stdout),
           "init prints each source's URL", inst.proc.stdout)
        ok(inst.printed_secret("crm") and inst.printed_secret("woo"),
           "init prints the generated secrets to paste", inst.proc.stdout)

        again = run(inst.argv)
        ok(again.returncode == 1 and "exists; ttrelayctl init --force replaces it" in again.stderr,
           "init refuses to overwrite without --force", again.stderr)

        if not can_switch_uid():
            ok(True, "# SKIP reading as an unprivileged uid needs root and setpriv")
            return
        creds = inst.credentials_for_service()
        r = as_unprivileged([ttrelayd_path(), "-t", "-c", inst.conf],
                            env={"CREDENTIALS_DIRECTORY": creds}, cwd=inst.state)
        is_((r.returncode, r.stdout.strip(), r.stderr.strip()), (0, "configuration OK", ""),
            "ttrelayd -t as %s with the unit's credentials: configuration OK" % UNPRIVILEGED)
        r = as_unprivileged([ttrelayd_path(), "-t", "-c", inst.conf], cwd=inst.state)
        want = ("%s:9: token_file: cannot read %s/admin_token: Permission denied "
                "(${CREDENTIALS_DIRECTORY} is not set: looked in the configuration's directory, "
                "where the unit's LoadCredential= reads it)" % (inst.conf, inst.etc))
        is_((r.returncode, r.stderr.strip()), (1, want),
            "without the credentials the same uid is told which file and why")
        r = run([ttrelayd_path(), "-t", "-c", inst.conf])
        is_((r.returncode, r.stdout.strip()), (0, "configuration OK"),
            "as root without $CREDENTIALS_DIRECTORY, -t reads them from the configuration's "
            "directory")
    finally:
        inst.close()


def case_init_output_runs_as_unprivileged_uid():
    """The daemon itself, as the unit runs it, on the init configuration (ports moved to 0
    so the test can run beside others): it starts and a source answers with its secret."""
    if not can_switch_uid():
        ok(True, "# SKIP running as an unprivileged uid needs root and setpriv")
        return
    mock = MockTikTok()
    inst = Install()
    proc = None
    try:
        with open(inst.conf) as f:
            conf = f.read()
        conf = conf.replace("port = 8080;", "port = 0;").replace("port = 8081;", "port = 0;")
        conf = conf.replace("default_pixel", 'api_base = "%s";\n  default_pixel' % mock.url)
        with open(inst.conf, "w") as f:
            f.write(conf)
        creds = inst.credentials_for_service()
        log = os.path.join(inst.root, "ttrelayd.log")
        with open(log, "wb") as logf:
            proc = subprocess.Popen(
                ["setpriv", "--reuid=" + UNPRIVILEGED, "--regid=nogroup", "--clear-groups",
                 "env", "-i", "CREDENTIALS_DIRECTORY=" + creds, ttrelayd_path(), "-c", inst.conf],
                cwd=inst.state, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)

        def ports():
            with open(log) as f:
                found = dict(re.findall(r'msg="?listening"? listener="?(\w+)"? .*?port="?(\d+)',
                                        f.read()))
            return found if len(found) == 2 else None
        found = wait_until(ports, 15)
        ok(found, "the daemon starts as %s on init's configuration" % UNPRIVILEGED,
           open(log).read()[-2000:])
        if not found:
            return
        import http.client
        body = json.dumps({"id": "prod-1", "email": "a@b.example", "value": 5,
                           "currency": "EUR"}).encode()
        c = http.client.HTTPConnection("127.0.0.1", int(found["public"]), timeout=10)
        c.request("POST", "/webhooks/crm", body,
                  {"Content-Type": "application/json",
                   "Authorization": "Bearer " + inst.printed_secret("crm")})
        resp = c.getresponse()
        data = resp.read()
        c.close()
        is_(resp.status, 200, "the generic source accepts the secret init printed")
        ok(b'"accepted"' in data, "... and stores the conversion", data)
        st = os.stat(os.path.join(inst.state, "ttrelay.db"))
        ok(st.st_uid != 0, "the store belongs to the service's uid, not root")
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        inst.close()
        mock.close()


def case_init_refusals():
    inst = Install(sources=("stripe",))
    try:
        is_((inst.proc.returncode, inst.proc.stderr.strip()),
            (1, "ttrelayctl: init: source stripe: stripe makes the signing secret itself; save it "
                "to a file and pass --secret stripe=FILE"),
            "a Stripe source without its secret is refused")
        ok(not os.path.exists(inst.etc), "... before anything is written")
    finally:
        inst.close()
    inst = Install(sources=("generic:crm:call", "generic:crm"))
    try:
        is_((inst.proc.returncode, inst.proc.stderr.strip()),
            (1, "ttrelayctl: init: source id crm is named twice; give one an id: generic:crm2"),
            "two sources with one id are refused")
    finally:
        inst.close()


def case_unit_with_dropin_verifies():
    exe = shutil.which("systemd-analyze")
    if not exe:
        ok(True, "# SKIP systemd-analyze not installed")
        return
    inst = Install()
    d = tmpdir("ttr-unit-")
    try:
        with open(os.path.join(source_dir(), "systemd", "ttrelayd.service")) as f:
            unit = f.read().replace("/usr/sbin/ttrelayd", ttrelayd_path())
        ok("\nLoadCredential=" not in unit,
           "the shipped unit names no credential file (init's drop-in does)")
        with open(os.path.join(d, "ttrelayd.service"), "w") as f:
            f.write(unit)
        os.mkdir(os.path.join(d, "ttrelayd.service.d"))
        shutil.copy(inst.dropin, os.path.join(d, "ttrelayd.service.d"))
        r = run([exe, "verify", "--man=no", os.path.join(d, "ttrelayd.service")], timeout=120)
        is_((r.returncode, r.stdout + r.stderr), (0, ""),
            "systemd-analyze verify: the unit with init's drop-in, no warning")
    finally:
        shutil.rmtree(d, ignore_errors=True)
        inst.close()


def case_port_taken_is_a_startup_error():
    mock = MockTikTok()
    first = Daemon(mock)
    for listener, port in (("listen", first.public_port), ("admin", first.admin_port)):
        d = Daemon(mock, start=False, **{listener: {"port": port}})
        r = run([ttrelayd_path(), "-c", d.conf_path], cwd=d.dir, timeout=30)
        want = ('msg="cannot listen" reason="cannot listen on 127.0.0.1:%d (%s): Address already '
                'in use; another process listens on this port (ss -ltnp shows which)"'
                % (port, listener))
        ok(r.returncode == 1 and want in r.stderr,
           "a second ttrelayd on the %s port exits 1 with the system's reason" % listener,
           r.stderr)
        ok('msg="ready"' not in r.stderr and "msg=ready" not in r.stderr,
           "... and never says ready", r.stderr)
        ok(not os.path.exists(d.config["store"]["path"]), "... before the store is touched")
    # Not only another ttrelayd: anything holding the port.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        d = Daemon(mock, start=False, listen={"port": s.getsockname()[1]})
        r = run([ttrelayd_path(), "-c", d.conf_path], cwd=d.dir, timeout=30)
        ok(r.returncode == 1 and "Address already in use" in r.stderr,
           "a port held by another program is refused too", r.stderr)
    finally:
        s.close()
    st, _ = first.admin_get("/admin/status")
    is_(st, 200, "the first daemon still serves")


def case_check_refuses_missing_store_directory():
    mock = MockTikTok()
    d = Daemon(mock, start=False, store={"path": "var/ttrelay.db"})
    r = run([ttrelayd_path(), "-t", "-c", d.conf_path], cwd=d.dir)
    with open(d.conf_path) as f:
        line = 1 + next(i for i, x in enumerate(f) if "var/ttrelay.db" in x)
    want = ("%s:%d: store.path var/ttrelay.db: directory var does not exist (a relative "
            "store.path starts from the working directory %s)" % (d.conf_path, line, d.dir))
    is_((r.returncode, r.stderr.strip()), (1, want),
        "-t refuses a store directory that does not exist, naming the working directory")
    os.mkdir(os.path.join(d.dir, "var"))
    r = run([ttrelayd_path(), "-t", "-c", d.conf_path], cwd=d.dir)
    is_((r.returncode, r.stdout.strip()), (0, "configuration OK"), "once it exists: OK")
    if can_switch_uid():
        os.chmod(d.dir, 0o755)
        r = as_unprivileged([ttrelayd_path(), "-t", "-c", d.conf_path], cwd=d.dir)
        ok(r.returncode == 1 and "directory var is not writable by uid 65534: Permission denied"
           in r.stderr, "-t as another uid refuses a store directory it cannot write",
           r.stderr)


if __name__ == "__main__":
    run_cases([case_init_writes_files_the_unit_can_read, case_init_output_runs_as_unprivileged_uid,
               case_init_refusals, case_unit_with_dropin_verifies,
               case_port_taken_is_a_startup_error, case_check_refuses_missing_store_directory])
