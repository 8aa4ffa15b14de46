"""The checkpoint of a projection whose read model lives in this process, kept beside it.

A ``dict`` read model is gone when the process ends; a checkpoint stored in the store
would outlive it, and the next run would resume past events the new, empty read model
never saw. :class:`InMemoryCheckpoint` wraps a store's log source: the log is read from
the store (with its wake-ups), while the checkpoint and the dead letters are kept in
this object, made once per ``projections.supervised`` call. So each run of the process
(each call) builds the read model from the start, and a restart by the supervisor
resumes from the checkpoint kept here, with the read model that is still here too.

Its runner holds the projection's own lock instead of the store's (on PostgreSQL, the
store's is an advisory lock across processes, but each process has its own read model
to build): two runs of one projection object, whose handlers share one read model, never
run at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Generic, TypeVar

import trio
from typing_extensions import Never, final

from .._core.errors import EventStoreError
from .._core.log_source import (
    Checkpoint,
    CheckpointMoved,
    CheckpointResult,
    CheckpointWrite,
    DeadLetter,
    LogPage,
    LogSource,
    LogWatch,
)
from .._runtime.result import Error, Ok, Result

EntryT_co = TypeVar("EntryT_co", covariant=True)

_OK: Ok[None] = Ok(None)


@final
class InMemoryCheckpoint(Generic[EntryT_co]):
    """A store's log, with one projection's checkpoint and dead letters kept in memory.

    A :class:`LogSource` without transactions, for the one projection it was made for.

    Example::

        source = InMemoryCheckpoint(log_source(store), projection._runner_lock)
    """

    __slots__ = ("_checkpoint", "_dead_letters", "_lock", "_log")

    transactional = False

    def __init__(self, log: LogSource[EntryT_co, object], lock: trio.Lock) -> None:
        self._log = log
        self._lock = lock
        self._checkpoint: Checkpoint | None = None
        self._dead_letters: list[DeadLetter] = []

    @property
    def description(self) -> str:
        return f"{self._log.description} (its checkpoint in memory)"

    @property
    def poll_interval(self) -> float:
        return self._log.poll_interval

    def watch(self) -> AbstractAsyncContextManager[LogWatch]:
        return self._log.watch()

    def hold(self, name: str) -> AbstractAsyncContextManager[None]:
        return self._holding()

    @asynccontextmanager
    async def _holding(self) -> AsyncIterator[None]:
        async with self._lock:
            yield

    async def read(self, after: int, limit: int) -> Result[LogPage[EntryT_co], EventStoreError]:
        return await self._log.read(after, limit)

    async def head(self) -> Result[int, EventStoreError]:
        return await self._log.head()

    async def count_after(self, position: int) -> Result[int, EventStoreError]:
        return await self._log.count_after(position)

    async def load_checkpoint(self, name: str) -> Result[Checkpoint | None, EventStoreError]:
        await trio.lowlevel.checkpoint()
        return Ok(self._checkpoint)

    async def write_checkpoint(self, name: str, write: CheckpointWrite[Never]) -> CheckpointResult:
        await trio.lowlevel.checkpoint()
        if write.work is not None:
            raise TypeError("a checkpoint kept in memory has no transaction to run work in")
        # No await between the check and the change: the compare-and-set is atomic.
        if self._checkpoint != write.expected:
            return Error(CheckpointMoved())
        self._checkpoint = write.new
        if write.dead_letter is not None:
            self._dead_letters.append(write.dead_letter)
        return _OK

    async def reset(self, name: str) -> Result[None, EventStoreError]:
        await trio.lowlevel.checkpoint()
        self._checkpoint = Checkpoint(0, reset_pending=True)
        self._dead_letters.clear()
        return _OK

    async def dead_letters(self, name: str) -> Result[list[DeadLetter], EventStoreError]:
        await trio.lowlevel.checkpoint()
        return Ok(list(self._dead_letters))
