"""What a process manager reports: its state, its counters, and a handle to wait on them."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import trio
from typing_extensions import Never, final

from .._runtime.changes import wait_until


@final
class ProcessManagerState(enum.Enum):
    """What a process manager is doing, as its statistics report it.

    Example::

        assert handle.statistics().state is ProcessManagerState.RUNNING
    """

    NOT_RUNNING = "not running"
    """Not started yet, shut down, or waiting for another process that runs it."""
    RUNNING = "running"
    """Following the log, sending and firing timers."""
    STOPPED = "stopped"
    """Stopped because its handler or router raised, until it is started again."""


@final
@dataclass(frozen=True, slots=True)
class ProcessManagerStatistics:
    """A snapshot of a process manager, from :meth:`ProcessManagerHandle.statistics`.

    Example::

        stats = handle.statistics()
        print(f"{stats.decided / max(stats.commits, 1):.1f} commands per commit")
    """

    name: str
    state: ProcessManagerState
    position: int
    """Every selected event up to this position has been decided on."""
    lag: int
    """Selected events in the log after ``position``, as last counted (about each second)."""
    instances: int
    """Instances alive (started and not done)."""
    outbox: int
    """Commands decided and not yet answered."""
    timers: int
    """Timers set and not yet fired."""
    decided: int
    """Commands decided (added to the outbox) since the manager object was made."""
    sent: int
    """Commands the target systems stored (or had stored already)."""
    rejected: int
    """Commands the domain rejected (each told to its instance)."""
    retries: int
    """Sends and saves tried again after a store failure, an unknown outcome or no answer."""
    dead_letters: int
    """Commands set aside after an error that sending again cannot fix."""
    commits: int
    """Steps saved in the store, each in one transaction (0 on memory stores, which keep
    the manager's state in memory)."""
    last_error: str | None


class Observed(Protocol):
    """What a handle reads of its manager's engine."""

    @property
    def changes(self) -> trio.lowlevel.ParkingLot: ...

    def statistics(self) -> ProcessManagerStatistics: ...

    def state_of(self, instance: str) -> object | None: ...


@final
class ProcessManagerHandle:
    """A supervised process manager: its statistics, across restarts of its task.

    Example::

        handle, spec = process_managers.supervised(transfers)
        ...
        with trio.fail_after(5):
            await handle.wait_for(lambda s: s.outbox == 0 and s.timers == 0)
    """

    __slots__ = ("_engine",)
    _engine: Observed

    def __init__(self, _private: Never) -> None:
        raise TypeError("ProcessManagerHandle has no public constructor: use supervised()")

    @classmethod
    def _make(cls, engine: Observed) -> ProcessManagerHandle:
        self = object.__new__(cls)
        self._engine = engine
        return self

    def statistics(self) -> ProcessManagerStatistics:
        """Return the manager's state, position and counters.

        Example::

            stats = handle.statistics()
            print(stats.instances, stats.outbox, stats.timers, stats.dead_letters)
        """
        return self._engine.statistics()

    def state_of(self, instance: str) -> object | None:
        """The state of ``instance``, or ``None`` if it is not alive.

        Example::

            print(handle.state_of("transfer-7"))
        """
        return self._engine.state_of(instance)

    async def wait_for(
        self, predicate: Callable[[ProcessManagerStatistics], bool]
    ) -> ProcessManagerStatistics:
        """Wait until ``predicate(statistics())`` holds, and return those statistics.

        Checked at once, then after every change. Put it in a ``trio.fail_after`` block.

        Example::

            await handle.wait_for(lambda s: s.outbox == 0)
        """
        return await wait_until(self._engine.changes, self.statistics, predicate)

    def __repr__(self) -> str:
        stats = self.statistics()
        return f"<ProcessManagerHandle {stats.name!r} {stats.state.value} at {stats.position}>"
