"""This process's memory from /proc/self/status, for the benchmarks' tables."""

from __future__ import annotations

from pathlib import Path


def proc_status_mb(field: str) -> float:
    """A /proc/self/status figure in MB: VmHWM (peak, counting the pages of memory-mapped files
    read), VmRSS (now), RssAnon (now, its own memory only); 0 where /proc is not there."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0
