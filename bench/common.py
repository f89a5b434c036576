"""What the bench scripts share: resident memory and CPU time of a process, read from /proc."""

import glob
import os
import time


def rss_mib(pid):
    """VmRSS of `pid` in MiB (0 when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid):
    """User + system CPU time of `pid` so far, in seconds (0 when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def hashing_split(pid):
    """CPU seconds of `pid` so far, split: (argon2 workers in user mode, everything else, the
    workers' kernel time included). Read from each thread's /proc stat; the workers are the
    threads named argon2-N."""
    tick = os.sysconf("SC_CLK_TCK")
    hashing = other = 0
    for path in glob.glob(f"/proc/{pid}/task/*/stat"):
        try:
            with open(path) as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw.rsplit(")", 1)[1].split()
        user, system = int(fields[11]), int(fields[12])
        if comm.startswith("argon2-"):
            hashing += user
            other += system
        else:
            other += user + system
    return hashing / tick, other / tick


def settle(pids, busy=0.05, step=0.5, limit=60):
    """Waits until none of `pids` uses more than `busy` of a core (a server still working off
    the previous case's queue would slow the next measurement), at most `limit` seconds."""
    deadline = time.time() + limit
    while time.time() < deadline:
        before = [cpu_seconds(p) for p in pids]
        time.sleep(step)
        if all(cpu_seconds(p) - b <= busy * step for p, b in zip(pids, before)):
            return
