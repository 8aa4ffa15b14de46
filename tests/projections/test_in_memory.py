"""The checkpoint kept in memory (``checkpoint=projections.InMemory``), on its own.

What such a projection does on every store (rebuilt by each run, resumed after a
supervisor's restart, one runner per read model) is ``ProjectionContract``
(``tests/contracts/projection_contract.py``); here, the source that keeps the checkpoint.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import trio
import trio.testing

from tests.projections.helpers import deposit_many, open_store
from trio_eventsourcing import Error, Ok
from trio_eventsourcing._core.log_source import (
    Checkpoint,
    CheckpointMoved,
    CheckpointWrite,
    DeadLetter,
)
from trio_eventsourcing._projections.api import log_source
from trio_eventsourcing._projections.in_memory import InMemoryCheckpoint

LETTER = DeadLetter(
    "p", 2, "acc-1", 2, "CustomerDepositedCash", "ValueError: no", datetime.now(timezone.utc)
)


async def test_its_checkpoint_is_a_compare_and_set_kept_in_memory(tmp_path: Path) -> None:
    async with open_store("memory", tmp_path) as store:
        await deposit_many(store, "acc-1", 3)
        source = InMemoryCheckpoint(log_source(store), trio.Lock())
        with trio.testing.assert_checkpoints():
            assert await source.load_checkpoint("p") == Ok(None)
        # Annotated, not subscripted: calling a subscripted slots dataclass fails before 3.13.
        first: CheckpointWrite[object] = CheckpointWrite(None, Checkpoint(0))
        with trio.testing.assert_checkpoints():
            assert await source.write_checkpoint("p", first) == Ok(None)
        # Expecting no checkpoint, when there is one: nothing is written.
        with trio.testing.assert_checkpoints():
            assert await source.write_checkpoint("p", first) == Error(CheckpointMoved())
        skip: CheckpointWrite[object] = CheckpointWrite(
            Checkpoint(0), Checkpoint(2), dead_letter=LETTER
        )
        assert await source.write_checkpoint("p", skip) == Ok(None)
        assert await source.load_checkpoint("p") == Ok(Checkpoint(2))
        with trio.testing.assert_checkpoints():
            assert await source.dead_letters("p") == Ok([LETTER])
        # The log is the store's; the store keeps no checkpoint of it.
        assert await source.head() == Ok(3)
        assert await source.count_after(2) == Ok(1)
        assert await log_source(store).load_checkpoint("p") == Ok(None)
        with trio.testing.assert_checkpoints():
            assert await source.reset("p") == Ok(None)
        assert await source.load_checkpoint("p") == Ok(Checkpoint(0, reset_pending=True))
        assert await source.dead_letters("p") == Ok([])


async def test_it_has_no_transaction_for_work(tmp_path: Path) -> None:
    async with open_store("memory", tmp_path) as store:
        source = InMemoryCheckpoint(log_source(store), trio.Lock())
        assert not source.transactional
        write: CheckpointWrite[object] = CheckpointWrite(None, Checkpoint(0), work=lambda tx: None)
        with pytest.raises(TypeError, match="no transaction"):
            await source.write_checkpoint("p", write)


async def test_one_runner_holds_it_at_a_time(tmp_path: Path) -> None:
    held: list[str] = []

    async def run(source: InMemoryCheckpoint[object], name: str, done: trio.Event) -> None:
        async with source.hold("p"):
            held.append(name)
            await done.wait()

    async with open_store("memory", tmp_path) as store, trio.open_nursery() as nursery:
        # Two runs of one projection object share its lock (and its read model).
        lock = trio.Lock()
        first_done, second_done = trio.Event(), trio.Event()
        nursery.start_soon(run, InMemoryCheckpoint(log_source(store), lock), "one", first_done)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(run, InMemoryCheckpoint(log_source(store), lock), "two", second_done)
        await trio.testing.wait_all_tasks_blocked()
        assert held == ["one"]
        first_done.set()
        await trio.testing.wait_all_tasks_blocked()
        assert held == ["one", "two"]
        second_done.set()
