"""The memory store as a log source: its log, checkpoints and dead letters are lists and dicts.

Everything runs on the Trio thread and a checkpoint write has no ``await`` between its
check and its change, so each write is atomic. The memory store cannot run a
projection's work inside a transaction (there is no transaction to roll back a handler's
changes to a Python object), so its projections are at-least-once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Generic, TypeVar

import trio
from typing_extensions import Never, final

from ..._core.errors import EventStoreError
from ..._core.log_source import (
    Checkpoint,
    CheckpointMoved,
    CheckpointResult,
    CheckpointWrite,
    DeadLetter,
    LogWatch,
)
from ..._runtime.result import Error, Ok, Result

if TYPE_CHECKING:
    # The store imports this module when it is asked for its log source.
    from .store import MemoryLogEntry, MemoryStore

EntityT = TypeVar("EntityT")
EventT = TypeVar("EventT")

_OK: Ok[None] = Ok(None)


@final
class MemoryLogSource(Generic[EntityT, EventT]):
    """A memory store's log and projection tables (see ``LogSource``)."""

    __slots__ = ("_tables",)

    transactional = False
    # Nothing outside this process writes to a memory store, and every commit wakes the
    # followers: the poll is only a safety net.
    poll_interval = 5.0

    def __init__(self, tables: MemoryStore[EntityT, EventT]) -> None:
        self._tables = tables

    @property
    def description(self) -> str:
        return f"the memory store {id(self._tables):#x}"

    def watch(self) -> AbstractAsyncContextManager[LogWatch]:
        return _watching(self._tables)

    def hold(self, name: str) -> AbstractAsyncContextManager[None]:
        return self._tables.watchers.runner(name)

    async def read(
        self, after: int, limit: int
    ) -> Result[Sequence[MemoryLogEntry[EventT]], EventStoreError]:
        await trio.lowlevel.checkpoint()
        return Ok(self._tables._entries(after, limit))

    async def head(self) -> Result[int, EventStoreError]:
        await trio.lowlevel.checkpoint()
        return Ok(self._tables._last_position())

    async def count_after(self, position: int) -> Result[int, EventStoreError]:
        await trio.lowlevel.checkpoint()
        return Ok(self._tables._count_after(position))

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
        tables.watchers.request_reset(name)
        return _OK

    async def dead_letters(self, name: str) -> Result[list[DeadLetter], EventStoreError]:
        await trio.lowlevel.checkpoint()
        return Ok([d for d in self._tables.dead_letters if d.projection == name])


@asynccontextmanager
async def _watching(tables: MemoryStore[EntityT, EventT]) -> AsyncIterator[LogWatch]:
    # The store's watchers are always on: nothing to start or stop.
    await trio.lowlevel.checkpoint()
    yield tables.watchers
