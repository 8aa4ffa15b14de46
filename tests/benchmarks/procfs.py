"""The memory a benchmark process uses: resident set now and at its peak, in bytes.

Read from ``/proc/self/status`` (``VmRSS``, ``VmHWM``) on Linux; elsewhere the peak comes
from ``getrusage`` and the current figure is reported as the peak.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")


def _status_bytes(field: str) -> int | None:
    try:
        text = _STATUS.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # the kernel reports kB
    return None


def peak_rss() -> int:
    """The most resident memory this process has held, in bytes."""
    peak = _status_bytes("VmHWM")
    if peak is not None:
        return peak
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024  # macOS: bytes, Linux: KiB


def rss() -> int:
    """The resident memory of this process now, in bytes."""
    current = _status_bytes("VmRSS")
    return current if current is not None else peak_rss()
