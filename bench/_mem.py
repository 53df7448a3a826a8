"""Peak resident memory of this process, for the benchmarks."""

from __future__ import annotations

import resource


def peak_rss_gib() -> float:
    """The peak RSS of this process in GiB. VmHWM belongs to the process's own address space, so it starts afresh at
    exec; `ru_maxrss` does not on Linux: a worker spawned by a parent that once held a model would report the
    parent's peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 2**20, 3)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)
