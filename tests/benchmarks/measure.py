"""Run one measurement in this (fresh) process and print its figures as one JSON line.

``run.py`` starts ``python -m tests.benchmarks.measure '<job as JSON>'`` (from the
repository) for every measurement, so each
one has a process of its own: its peak RSS is its own, and no measurement runs on the
garbage, caches or imports of another (a process of the peer never imports this
library, nor the other way round). The job names a side, a task, where it stores its
events and the task's arguments::

    {"side": "ours", "task": "w1", "target": {"kind": "memory"},
     "args": {"quick": true, "clients": 100, "run": "conc", "read_log": true,
              "api": "native"}}

The line printed, after ``MEASURED``, holds ``figures`` (the task's own) and
``memory``: the RSS in bytes when the task started (after the imports), when it ended
and at its peak, and the seconds the cyclic garbage collector ran.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from tests.benchmarks import procfs

MARK = "MEASURED "


def _task(side: str, task: str, target: dict[str, Any] | None) -> Callable[..., dict[str, float]]:
    """The function of ``task``, with its target bound as first argument if it has one."""
    function: Callable[..., dict[str, float]]
    if side == "ours":
        from tests.benchmarks import ours

        function = getattr(ours, task)
        if target is None:
            return function
        where: object = ours.Target(**target)
    else:
        from tests.benchmarks import peer

        function = getattr(peer, task)
        if target is None:
            return function
        where = peer.PeerTarget(**target)
    return lambda **args: function(where, **args)


class _GcClock:
    """Adds up the time the cyclic garbage collector runs (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections += 1


def main() -> None:
    job = json.loads(sys.argv[1])
    function = _task(job["side"], job["task"], job.get("target"))
    clock = _GcClock()
    gc.callbacks.append(clock)
    start = procfs.rss()
    figures = function(**job.get("args", {}))
    memory = {
        "start": start,
        "end": procfs.rss(),
        "peak": procfs.peak_rss(),
        "gc_seconds": clock.seconds,
        "gc_collections": clock.collections,
    }
    print(MARK + json.dumps({"figures": figures, "memory": memory}), flush=True)


if __name__ == "__main__":
    main()
