"""The memory store as a log source: its log, checkpoints and dead letters are lists and dicts.

Everything runs on the Trio thread and a checkpoint write has no ``await`` between its
check and its change, so each write is atomic. A selection of one aggregate type keeps
its checkpoints in that type's store; one of several, in their ``MemoryDatabase``. The
memory store cannot run a projection's work inside a transaction (there is no transaction
to roll back a handler's changes to a Python object), so its projections are
at-least-once.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio
from typing_extensions import Never, final

from ..._core.errors import EventStoreError
from ..._core.log_source import (
    Checkpoint,
    CheckpointMoved,
    CheckpointResult,
    CheckpointWrite,
    DeadLetter,
    LogPage,
    LogWatch,
    Selection,
)
from ..._runtime.result import Error, Ok, Result
from ..selection import runner_key

if TYPE_CHECKING:
    # The store imports this module when it is asked for its log source.
    from .store import MemoryDatabase, MemoryLogEntry, MemoryStore


_OK: Ok[None] = Ok(None)


@final
class MemoryLogSource:
    """A memory store's log and projection tables (see ``LogSource``)."""

    __slots__ = ("_database", "_parts", "_scope", "_store", "_tables", "_whole")

    transactional = False
    # Nothing outside this process writes to a memory store, and every commit wakes the
    # followers: the poll is only a safety net.
    poll_interval = 5.0

    def __init__(self, store: MemoryStore[Any, Any], selection: Selection[Any]) -> None:
        parts = selection.parts
        self._store = store
        self._database = store.database
        self._scope = selection.scope
        self._parts: tuple[tuple[MemoryStore[Any, Any], tuple[type[object], ...] | None], ...] = (
            tuple((part.store, part.event_classes) for part in parts)
        )
        # One aggregate type, every event of it: the store's own lists answer directly.
        self._whole = len(parts) == 1 and parts[0].event_classes is None
        # Where the checkpoints and dead letters are kept.
        self._tables: MemoryStore[Any, Any] | MemoryDatabase = (
            parts[0].store if len(parts) == 1 else store.database
        )

    @property
    def description(self) -> str:
        return f"the memory store {id(self._store):#x}"

    def watch(self) -> AbstractAsyncContextManager[LogWatch]:
        return _watching(self._store)

    def hold(self, name: str) -> AbstractAsyncContextManager[None]:
        return self._store.watchers.runner(runner_key(self._scope, name))

    def _positions(self, after: int) -> Iterator[tuple[int, str]]:
        """The positions of the selected events after ``after``, in order, with their types."""
        streams = [self._stream(store, classes, after) for store, classes in self._parts]
        return streams[0] if len(streams) == 1 else heapq.merge(*streams)

    def _stream(
        self, store: MemoryStore[Any, Any], classes: tuple[type[object], ...] | None, after: int
    ) -> Iterator[tuple[int, str]]:
        log, positions, kind = self._database._log, store.positions, store.aggregate_type
        for index in range(bisect.bisect_right(positions, after), len(positions)):
            position = positions[index]
            if classes is None or isinstance(log[position - 1].payload, classes):
                yield position, kind

    async def read(
        self, after: int, limit: int
    ) -> Result[LogPage[MemoryLogEntry[Any]], EventStoreError]:
        await trio.lowlevel.checkpoint()
        if self._whole:
            entries = self._store._entries(after, limit)
        else:
            entries = self._database._entries_at(itertools.islice(self._positions(after), limit))
        full = len(entries) == limit
        return Ok(LogPage(entries, entries[-1].position if full else len(self._database._log)))

    async def head(self) -> Result[int, EventStoreError]:
        await trio.lowlevel.checkpoint()
        if self._whole:
            return Ok(self._store._last_position())
        log = self._database._log
        last = 0
        for store, classes in self._parts:
            for position in reversed(store.positions):
                if position <= last:
                    break
                if classes is None or isinstance(log[position - 1].payload, classes):
                    last = position
                    break
        return Ok(last)

    async def count_after(self, position: int) -> Result[int, EventStoreError]:
        await trio.lowlevel.checkpoint()
        if self._whole:
            return Ok(self._store._count_after(position))
        return Ok(sum(1 for _ in self._positions(position)))

    async def load_checkpoint(self, name: str) -> Result[Checkpoint | None, EventStoreError]:
        await trio.lowlevel.checkpoint()
        return Ok(self._tables.checkpoints.get(name))

    async def write_checkpoint(self, name: str, write: CheckpointWrite[Never]) -> CheckpointResult:
        await trio.lowlevel.checkpoint()
        if write.work is not None:
            raise TypeError("the memory store cannot run work inside a checkpoint's transaction")
        tables = self._tables
        if tables.checkpoints.get(name) != write.expected:
            return Error(CheckpointMoved())
        tables.checkpoints[name] = write.new
        if write.dead_letter is not None:
            tables.dead_letters.append(write.dead_letter)
        return _OK

    async def reset(self, name: str) -> Result[None, EventStoreError]:
        await trio.lowlevel.checkpoint()
        tables = self._tables
        tables.checkpoints[name] = Checkpoint(0, reset_pending=True)
        tables.dead_letters[:] = [d for d in tables.dead_letters if d.projection != name]
        self._store.watchers.request_reset(name)
        return _OK

    async def dead_letters(self, name: str) -> Result[list[DeadLetter], EventStoreError]:
        await trio.lowlevel.checkpoint()
        return Ok([d for d in self._tables.dead_letters if d.projection == name])


@asynccontextmanager
async def _watching(tables: MemoryStore[Any, Any]) -> AsyncIterator[LogWatch]:
    # The store's watchers are always on: nothing to start or stop.
    await trio.lowlevel.checkpoint()
    yield tables.watchers
