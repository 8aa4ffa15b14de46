"""Deadlines for parked tasks without a cancel scope per wait.

``receive(subject, within)`` and ``call`` wait with a timeout on every request. A cancel
scope per wait costs about as much as the rest of a memory-store command, so instead
one system task per Trio run keeps a heap of deadlines and wakes the waiters whose
deadline passed. A waiter that is woken first (a message arrived) cancels its timer,
which only marks it dead; dead timers are dropped when they come due, or all at once
when they outnumber the live ones, so memory stays proportional to live waiters.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable

import trio


class Timer:
    """A pending deadline; ``fire`` runs once it passes unless the timer is cancelled."""

    __slots__ = ("deadline", "fire")

    def __init__(self, deadline: float, fire: Callable[[], None]) -> None:
        self.deadline = deadline
        self.fire: Callable[[], None] | None = fire


class _TimerService:
    """The heap of timers of one Trio run and the system task that fires them."""

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, Timer]] = []
        self.order = itertools.count()
        self.dead = 0
        self.scope: trio.CancelScope | None = None

    def add(self, deadline: float, fire: Callable[[], None]) -> Timer:
        timer = Timer(deadline, fire)
        heapq.heappush(self.heap, (deadline, next(self.order), timer))
        scope = self.scope
        if scope is not None and deadline < scope.deadline:
            scope.deadline = deadline
        return timer

    def cancel(self, timer: Timer) -> None:
        if timer.fire is None:
            return
        timer.fire = None
        self.dead += 1
        if self.dead > 64 and self.dead * 2 > len(self.heap):
            self.heap = [entry for entry in self.heap if entry[2].fire is not None]
            heapq.heapify(self.heap)
            self.dead = 0

    async def run(self) -> None:
        while True:
            heap = self.heap  # ``cancel`` may have compacted it into a new list
            deadline = heap[0][0] if heap else math.inf
            with trio.CancelScope(deadline=deadline) as scope:
                self.scope = scope
                await trio.sleep_forever()
            self.scope = None
            now = trio.current_time()
            heap = self.heap
            while heap and heap[0][0] <= now:
                _, _, timer = heapq.heappop(heap)
                fire = timer.fire
                if fire is None:
                    self.dead -= 1
                else:
                    timer.fire = None
                    fire()


_service: trio.lowlevel.RunVar[_TimerService] = trio.lowlevel.RunVar("trio_eventsourcing_timers")


def start_timer(seconds: float, fire: Callable[[], None]) -> Timer:
    """Call ``fire()`` from the timer task ``seconds`` from now, unless cancelled first."""
    try:
        service = _service.get()
    except LookupError:
        service = _TimerService()
        _service.set(service)
        trio.lowlevel.spawn_system_task(service.run, name="trio_eventsourcing timers")
    return service.add(trio.current_time() + seconds, fire)


def cancel_timer(timer: Timer) -> None:
    """Stop ``timer`` from firing (a no-op if it has fired or was cancelled)."""
    if timer.fire is not None:
        _service.get().cancel(timer)
