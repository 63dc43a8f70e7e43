"""/proc readings for the benchmark: memory and CPU of a process (or a process tree), the
machine's busy time, and CPU by thread grouped by what each thread does. ttrelayd names its
own threads (ttr-writer, ttr-matcher, ttr-dispatch, ttr-send, ttr-accept); libmicrohttpd
names its public pool's threads MHD-worker and the admin listener's MHD-listen /
MHD-connection."""

import os
import subprocess

TICK = os.sysconf("SC_CLK_TCK")


def proc_kb(pid, field):
    """VmRSS / VmHWM of pid in kB, or 0."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _stat(path):
    """(comm, user + system CPU seconds) from a /proc stat file, or None."""
    try:
        with open(path) as f:
            text = f.read()
        comm = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        return comm, (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return None


def proc_cpu_s(pid):
    """User + system CPU seconds of pid (all threads)."""
    s = _stat("/proc/%d/stat" % pid)
    return s[1] if s else 0.0


def tree_cpu_s(pid):
    """CPU seconds of pid and its children (nginx master + workers, postmaster + backends)."""
    total = proc_cpu_s(pid)
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        total += sum(proc_cpu_s(int(p)) for p in out.split())
    except OSError:
        pass
    return total


def machine_busy_s():
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / TICK


def thread_role(pid, tid, comm):
    """What a ttrelayd thread does, from its name. Threads libmicrohttpd did not name (a
    build without thread names) keep the process name: they are counted as listeners."""
    if tid == pid:
        return "main"
    if comm.startswith("ttr-"):
        return comm[4:]
    if comm in ("MHD-listen", "MHD-connection"):
        return "admin"
    return "listener"


def threads_cpu(pid):
    """{tid: (role, CPU seconds)} of every thread of pid now."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for t in tids:
        s = _stat("/proc/%d/task/%s/stat" % (pid, t))
        if s:
            out[int(t)] = (thread_role(pid, int(t), s[0]), s[1])
    return out


def threads_delta(pid, before, after):
    """CPU seconds spent between two threads_cpu readings: {"roles": {role: s},
    "listeners": [s per listener thread, by thread id]}. A thread born in between counts
    from zero; one that ended in between is not seen (its CPU is lost to this split)."""
    roles, listeners = {}, []
    for tid in sorted(after):
        role, cpu = after[tid]
        d = max(0.0, cpu - before.get(tid, (role, 0.0))[1])
        roles[role] = roles.get(role, 0.0) + d
        if role == "listener":
            listeners.append(d)
    return {"roles": roles, "listeners": listeners}
