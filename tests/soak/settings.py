"""The soak's knobs, read from the environment, with small defaults for CI.

- ``TRIO_ES_SOAK_SECONDS`` (default 4): how long the PostgreSQL soak injects faults under
  load; the SQLite kill and full-disk tests load for half of it each (the kill test then
  makes one more life per second over four), the kill-on-a-full-disk test for about a
  second whatever the budget. At the default the whole soak takes about 15 s.
- ``TRIO_ES_SOAK_SEED``: the seed of every random choice; a fresh one by default. The
  nemesis' schedule and every client's commands follow from it (the interleaving with
  the store's threads does not, so a replay retraces the run rather than repeating it).
- ``TRIO_ES_SOAK_KEYS`` (default 1): ``0`` sends commands without idempotency keys and
  does not re-ask after an unknown outcome: the control run, which shows what the
  checker finds when the library's at-most-once machinery is not used.
- ``TRIO_ES_SOAK_DISK`` (default ``auto``): how the SQLite disk fills up: ``tmpfs`` (a
  small tmpfs mounted for the test; needs root), ``pages`` (SQLite's
  ``max_page_count`` on the store's connections), or ``auto`` (tmpfs when it can be
  mounted, else pages).
- ``TRIO_ES_SOAK_SUMMARY``: a file each test appends its summary line to (``loop.py``
  reads it).
- ``TRIO_ES_SOAK_VERBOSE=1``: the summary also lists each distinct error that failed a
  command, with the first op it failed.
"""

from __future__ import annotations

import os
import secrets
from typing import Literal

SECONDS_VARIABLE = "TRIO_ES_SOAK_SECONDS"
SEED_VARIABLE = "TRIO_ES_SOAK_SEED"
KEYS_VARIABLE = "TRIO_ES_SOAK_KEYS"
DISK_VARIABLE = "TRIO_ES_SOAK_DISK"
SUMMARY_VARIABLE = "TRIO_ES_SOAK_SUMMARY"
VERBOSE_VARIABLE = "TRIO_ES_SOAK_VERBOSE"

DEFAULT_SECONDS = 4.0

DiskMode = Literal["auto", "tmpfs", "pages"]


def soak_seconds() -> float:
    """Seconds of faults under load per test."""
    raw = os.environ.get(SECONDS_VARIABLE, "")
    if not raw:
        return DEFAULT_SECONDS
    value = float(raw)
    if not value > 0:
        raise ValueError(f"{SECONDS_VARIABLE} must be a positive number of seconds, got {raw!r}")
    return value


def soak_seed() -> int:
    """The seed of this run: ``TRIO_ES_SOAK_SEED``, or a fresh random one."""
    raw = os.environ.get(SEED_VARIABLE, "")
    return int(raw) if raw else secrets.randbelow(2**32)


def use_keys() -> bool:
    """Whether commands carry idempotency keys and unknown outcomes are asked again."""
    raw = os.environ.get(KEYS_VARIABLE, "1")
    if raw not in ("0", "1"):
        raise ValueError(f"{KEYS_VARIABLE} must be 0 or 1, got {raw!r}")
    return raw == "1"


def disk_mode() -> DiskMode:
    """How the SQLite disk-full test fills its disk."""
    raw = os.environ.get(DISK_VARIABLE, "auto")
    if raw == "auto":
        return "auto"
    if raw == "tmpfs":
        return "tmpfs"
    if raw == "pages":
        return "pages"
    raise ValueError(f"{DISK_VARIABLE} must be auto, tmpfs or pages, got {raw!r}")


def summary_file() -> str | None:
    """Where to append summary lines, if anywhere."""
    return os.environ.get(SUMMARY_VARIABLE) or None


def verbose() -> bool:
    """Whether summaries list the distinct errors that failed commands."""
    return os.environ.get(VERBOSE_VARIABLE, "") not in ("", "0")
