#!/usr/bin/env python3
"""The shipped unit file: static checks of the keys the daemon relies on (notify, watchdog,
dynamic user, state directory, sandbox) and, where systemd-analyze exists, its offline
security score must stay at or below 2.0. Prints TAP."""
import os
import re
import shutil
import subprocess
import sys

MAX_EXPOSURE = 2.0

n = 0
failed = 0


def check(cond, name, detail=""):
    global n, failed
    n += 1
    if cond:
        print(f"ok {n} - {name}")
    else:
        failed += 1
        print(f"not ok {n} - {name}")
        if detail:
            for line in str(detail).splitlines():
                print(f"#   {line}")


def skip(name, reason):
    global n
    n += 1
    print(f"ok {n} - {name} # SKIP {reason}")


def parse_unit(text):
    """Returns {section: [(key, value), ...]} keeping repeated keys in order."""
    sections = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        m = re.fullmatch(r"\[([^\]]+)\]", line)
        if m:
            current = sections.setdefault(m.group(1), [])
            continue
        key, sep, value = line.partition("=")
        if not sep or current is None:
            raise ValueError(f"not a key=value line: {raw!r}")
        current.append((key.strip(), value.strip()))
    return sections


def values(section, key):
    return [v for k, v in section if k == key]


def last(section, key):
    v = values(section, key)
    return v[-1] if v else None


def static_checks(unit_path):
    with open(unit_path, encoding="utf-8") as f:
        text = f.read()
    try:
        sections = parse_unit(text)
    except ValueError as e:
        check(False, "unit file parses", e)
        return
    check("Service" in sections and "Install" in sections and "Unit" in sections,
          "unit has [Unit], [Service] and [Install]")
    svc = sections.get("Service", [])

    check(last(svc, "Type") == "notify", "Type=notify (Debian 12 systemd 252 lacks notify-reload)",
          last(svc, "Type"))
    check(last(svc, "ExecReload") == "/bin/kill -HUP $MAINPID", "reload sends SIGHUP")
    start = last(svc, "ExecStart") or ""
    check(start.startswith("/usr/sbin/ttrelayd ") and "-c /etc/ttrelay/ttrelay.conf" in start,
          "ExecStart runs ttrelayd with the /etc config", start)
    check(last(svc, "WatchdogSec") == "30s", "WatchdogSec=30s", last(svc, "WatchdogSec"))
    check(last(svc, "DynamicUser") == "yes", "DynamicUser=yes")
    check(last(svc, "StateDirectory") == "ttrelay", "StateDirectory=ttrelay")
    check(last(svc, "ConfigurationDirectory") == "ttrelay", "ConfigurationDirectory=ttrelay")
    # A LoadCredential= of a file no step creates fails the start: the credentials are
    # listed by the drop-in `ttrelayctl init` writes, next to the files it writes.
    creds = values(svc, "LoadCredential")
    check(creds == [], "the shipped unit names no credential file (ttrelayctl init's drop-in does)",
          creds)

    expected = {
        "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "PrivateDevices": "yes", "NoNewPrivileges": "yes", "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
        "ProtectClock": "yes", "ProtectHostname": "yes", "ProtectProc": "invisible",
        "ProcSubset": "pid", "RestrictNamespaces": "yes", "RestrictRealtime": "yes",
        "RestrictSUIDSGID": "yes", "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native", "CapabilityBoundingSet": "",
        "AmbientCapabilities": "", "UMask": "0077", "DevicePolicy": "closed",
    }
    for key, want in expected.items():
        got = last(svc, key)
        check(got == want, f"{key}={want}", f"got {got!r}")
    families = set((last(svc, "RestrictAddressFamilies") or "").split())
    check(families == {"AF_INET", "AF_INET6", "AF_UNIX"},
          "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", families)
    filters = values(svc, "SystemCallFilter")
    check("@system-service" in filters, "SystemCallFilter=@system-service", filters)
    denied = [f for f in filters if f.startswith("~")]
    check(any("@privileged" in f and "@resources" in f for f in denied),
          "SystemCallFilter=~@privileged @resources", filters)
    # The daemon must reach TikTok on the internet: an address deny list would break it.
    check(last(svc, "IPAddressDeny") is None, "no IPAddressDeny (TikTok is on the internet)")
    check(last(svc, "PrivateNetwork") in (None, "no"), "network not private")


def analyze(unit_path):
    exe = shutil.which("systemd-analyze")
    if not exe:
        skip("systemd-analyze security exposure <= 2.0", "systemd-analyze not installed")
        return
    proc = subprocess.run([exe, "security", "--offline=true", unit_path],
                          capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?) (\S+)", out)
    check(m is not None, "systemd-analyze prints an overall exposure level", out[-2000:])
    if m:
        score = float(m.group(1))
        print(f"# {m.group(0)}")
        check(score <= MAX_EXPOSURE, f"exposure {score} <= {MAX_EXPOSURE}", m.group(0))


def main():
    src = os.environ.get("TTR_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
    unit_path = os.path.join(src, "systemd", "ttrelayd.service")
    check(os.path.isfile(unit_path), "systemd/ttrelayd.service exists", unit_path)
    if os.path.isfile(unit_path):
        static_checks(unit_path)
        analyze(unit_path)
    print(f"1..{n}")
    if failed:
        print(f"# {failed} of {n} checks failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
