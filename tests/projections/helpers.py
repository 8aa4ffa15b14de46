"""What the projection tests share: stores of both kinds, a read model, a running projection."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import trio

from tests.contracts.store_contract import BankStore, append, deposited, opened
from tests.sqlite.helpers import running_store
from trio_eventsourcing import Ok, memory_store, process, projections, static_supervisor
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
    BankAccountEvent,
    CustomerDepositedCash,
)
from trio_eventsourcing.projections import LogRecord, ProjectionHandle

Kind = Literal["memory", "sqlite"]
KINDS: list[Kind] = ["memory", "sqlite"]

Entry = LogRecord[BankAccountEvent]


@contextlib.asynccontextmanager
async def open_store(kind: Kind, tmp_path: Path) -> AsyncIterator[BankStore]:
    """A running store of ``kind`` for the duration of the block."""
    if kind == "sqlite":
        async with running_store(tmp_path / "projections.db") as store:
            yield store
        return
    events: process.Name[memory_store.GetEvents[BankAccountEvent]] = process.new_name("events")
    snapshots: process.Name[memory_store.GetSnapshot[Any]] = process.new_name("snapshots")
    memory, spec = memory_store.supervised(events, snapshots, static_supervisor.OneForOne)
    async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
        yield memory


@contextlib.asynccontextmanager
async def running(
    store: BankStore, projection: projections.Projection[Any, Any]
) -> AsyncIterator[ProjectionHandle]:
    """Run ``projection`` on ``store`` under a supervisor for the duration of the block."""
    handle, spec = projections.supervised(store, projection)
    async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
        yield handle


async def checkpointed(handle: ProjectionHandle, position: int) -> None:
    """Wait until the projection's stored checkpoint is at ``position`` or past it.

    Stricter than ``wait_for_position``, which also ends once the events are handled,
    before their checkpoint is stored: what a test that restarts the projection needs.
    """
    await handle.wait_for(lambda stats: stats.position >= position)


async def deposit_many(store: BankStore, aggregate_id: str, count: int, after: int = 0) -> None:
    """Open ``aggregate_id`` (when ``after`` is 0), then deposit 1: ``count`` commits in all."""
    sequence = after
    if sequence == 0:
        assert isinstance(await append(store, aggregate_id, 0, [opened(aggregate_id)]), Ok)
        sequence = 1
        count -= 1
    for _ in range(count):
        assert isinstance(await append(store, aggregate_id, sequence, [deposited(1, sequence)]), Ok)
        sequence += 1


class ReadModel:
    """A read model: what each account holds, and every position handled, in order."""

    def __init__(self, fail_on: Callable[[Entry], bool] | None = None) -> None:
        self.positions: list[int] = []
        self.balances: dict[str, Decimal] = {}
        self.resets = 0
        self.reset_done = trio.Event()
        self.fail_on = fail_on
        self.reached: dict[int, trio.Event] = {}

    def on_event(self, entry: Entry) -> None:
        if self.fail_on is not None and self.fail_on(entry):
            raise ValueError(f"cannot handle position {entry.position}")
        event = entry.envelope.payload
        account = entry.envelope.aggregate_id
        if isinstance(event, AccountOpened):
            self.balances[account] = Decimal(0)
        elif isinstance(event, CustomerDepositedCash):
            self.balances[account] = self.balances.get(account, Decimal(0)) + event.amount
        self.positions.append(entry.position)
        waiter = self.reached.get(len(self.positions))
        if waiter is not None:
            waiter.set()

    def on_reset(self) -> None:
        self.resets += 1
        self.positions.clear()
        self.balances.clear()
        self.reset_done.set()

    async def handled(self, count: int) -> None:
        """Wait until ``count`` events have been handled since the last reset."""
        if len(self.positions) >= count:
            await trio.lowlevel.checkpoint()
            return
        event = self.reached.setdefault(count, trio.Event())
        await event.wait()
        del self.reached[count]
