"""What a store keeps in this process for the tasks that follow its log.

Every store that projections can read owns one :class:`LogWatchers`, for as long as the
store object lives (across restarts of its child). It does three things, all on the Trio
thread:

- **Wake-ups.** The store calls :meth:`LogWatchers.changed` after each commit that added
  events (the memory store at once, the SQLite writer from its completion callback). A
  follower notes :meth:`~LogWatchers.token` *before* it reads the log and, when the read
  comes back empty, waits with :meth:`~LogWatchers.wait`: a commit that landed after the
  read began has already changed the token, so no wake-up falls between the read and the
  wait. A ``ParkingLot`` costs a commit nothing when nobody waits, and one
  ``unpark_all`` when somebody does.
- **One runner per projection.** :meth:`~LogWatchers.runner` is a lock per projection
  name: a second runner of the same projection in this process waits (stands by) until
  the first has ended.
- **Resets.** :meth:`~LogWatchers.request_reset` tells a running projection of this
  process that its checkpoint was reset, so it rebuilds at once instead of at its next
  poll.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
from typing_extensions import final


@final
class LogWatchers:
    """In-process wake-ups, runner locks and reset requests of one store's log."""

    __slots__ = ("_generation", "_lot", "_resets", "_runners")

    def __init__(self) -> None:
        self._generation = 0
        # Neither needs a Trio run to be created: a store may be made at import time.
        self._lot = trio.lowlevel.ParkingLot()
        self._runners: dict[str, trio.Lock] = {}
        self._resets: dict[str, int] = {}

    def token(self) -> int:
        """A value that changes whenever the log may have changed; note it before reading."""
        return self._generation

    def changed(self) -> None:
        """Wake every task waiting on the log (call on the Trio thread, after a commit)."""
        self._generation += 1
        if self._lot:
            self._lot.unpark_all()

    async def wait(self, token: int) -> None:
        """Wait until the log may have changed since ``token`` was noted.

        Returns at once (after a checkpoint) if it has already changed. May return when
        nothing of interest changed: callers read again and wait again.
        """
        if self._generation != token:
            await trio.lowlevel.checkpoint()
            return
        await self._lot.park()

    @asynccontextmanager
    async def runner(self, name: str) -> AsyncIterator[None]:
        """Hold the right to run projection ``name`` in this process for the block."""
        lock = self._runners.get(name)
        if lock is None:
            self._runners[name] = lock = trio.Lock()
        async with lock:
            yield

    def resets(self, name: str) -> int:
        """How many resets of projection ``name`` were requested in this process."""
        return self._resets.get(name, 0)

    def request_reset(self, name: str) -> None:
        """Tell a running projection ``name`` that its checkpoint was reset, and wake it."""
        self._resets[name] = self._resets.get(name, 0) + 1
        self.changed()
