"""What the bench scripts share: resident memory of a process, read from /proc."""


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
