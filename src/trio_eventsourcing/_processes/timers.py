"""A process manager's pending timers, by instance and name, the soonest found at once.

Setting, cancelling and finding the next timer due take logarithmic time whatever the
number pending (a heap whose entries of moved or cancelled timers are dropped when they
come up), and an instance's timers are found without looking at the others'.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from typing_extensions import final

TimerKey = tuple[str, str]
"""An instance and the name of one of its timers."""


@final
class Timers:
    """Pending timers, each with its due time on Trio's clock and its setter's key.

    Example::

        timers = Timers()
        timers.set(("transfer-1", "deadline"), 30.0, "pm/transfers/7")
        assert timers.soonest() == (("transfer-1", "deadline"), 30.0, "pm/transfers/7")
    """

    __slots__ = ("_by_instance", "_heap", "_pending")

    def __init__(self) -> None:
        self._pending: dict[TimerKey, tuple[float, str]] = {}
        self._by_instance: dict[str, set[str]] = {}
        self._heap: list[tuple[float, TimerKey, str]] = []

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, key: object) -> bool:
        return key in self._pending

    def __iter__(self) -> Iterator[TimerKey]:
        return iter(self._pending)

    def get(self, key: TimerKey) -> tuple[float, str] | None:
        """The due time and setter of timer ``key``, or ``None`` if it is not pending."""
        return self._pending.get(key)

    def set(self, key: TimerKey, due: float, set_by: str) -> None:
        """Set timer ``key`` (moving it if it is set) to fall due at ``due``."""
        self._pending[key] = (due, set_by)
        self._by_instance.setdefault(key[0], set()).add(key[1])
        heapq.heappush(self._heap, (due, key, set_by))

    def cancel(self, key: TimerKey) -> bool:
        """Cancel timer ``key``; ``False`` if it was not pending."""
        if self._pending.pop(key, None) is None:
            return False
        names = self._by_instance[key[0]]
        names.discard(key[1])
        if not names:
            del self._by_instance[key[0]]
        return True

    def cancel_instance(self, instance: str) -> list[TimerKey]:
        """Cancel every timer of ``instance``, and return their keys."""
        keys = [(instance, name) for name in self._by_instance.pop(instance, ())]
        for key in keys:
            del self._pending[key]
        return keys

    def soonest(self) -> tuple[TimerKey, float, str] | None:
        """The pending timer due first, with its due time and setter, or ``None``."""
        heap = self._heap
        while heap:
            due, key, set_by = heap[0]
            if self._pending.get(key) == (due, set_by):
                return key, due, set_by
            heapq.heappop(heap)  # moved or cancelled since it was pushed
        return None
