"""Reading and following the global log, on the memory and SQLite stores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import trio
import trio.testing

from contracts.store_contract import append, deposited, opened
from sqlite.helpers import CODEC
from trio_eventsourcing import Ok, memory_store, projections, sqlite_store

from .helpers import KINDS, Entry, Kind, deposit_many, open_store


async def test_the_memory_log_holds_every_event_in_commit_order(tmp_path: Path) -> None:
    started = datetime.now(timezone.utc) - timedelta(seconds=1)
    async with open_store("memory", tmp_path) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")], [("n", "1")]), Ok)
        assert isinstance(await append(store, "acc-2", 0, [opened("acc-2"), deposited(3, 3)]), Ok)
        assert isinstance(await append(store, "acc-1", 1, [deposited(1, 1)]), Ok)
        entries = (await memory_store.read_log(store)).unwrap()
        assert [e.position for e in entries] == [1, 2, 3, 4]
        assert [(e.envelope.aggregate_id, e.envelope.sequence) for e in entries] == [
            ("acc-1", 1),
            ("acc-2", 1),
            ("acc-2", 2),
            ("acc-1", 2),
        ]
        assert entries[0].envelope.metadata == [("n", "1")]
        assert all(started <= e.recorded_at <= datetime.now(timezone.utc) for e in entries)
        # One commit, one time.
        assert entries[1].recorded_at == entries[2].recorded_at
        for position in range(6):
            tail = await memory_store.read_log(store.eventstore, position, 100)
            assert tail == Ok(entries[position:])
        assert await memory_store.read_log(store, 1, 2) == Ok(entries[1:3])


async def test_memory_read_log_checks_its_arguments_and_checkpoints(tmp_path: Path) -> None:
    async with open_store("memory", tmp_path) as store:
        with pytest.raises(ValueError, match="start_from"):
            await memory_store.read_log(store, -1)
        with pytest.raises(ValueError, match="limit"):
            await memory_store.read_log(store, 0, 0)
        with pytest.raises(TypeError, match="read_log"):
            await memory_store.read_log(object())  # type: ignore[arg-type]
        with trio.testing.assert_checkpoints():
            await memory_store.read_log(store)


@pytest.mark.parametrize("kind", KINDS)
async def test_follow_log_yields_the_past_then_each_new_event(kind: Kind, tmp_path: Path) -> None:
    async with open_store(kind, tmp_path) as store:
        await deposit_many(store, "acc-1", 5)
        seen: list[int] = []
        async with projections.follow_log(store, start_from=2, batch_size=2) as entries:
            async for entry in entries:
                seen.append(entry.position)
                if entry.position == 5:
                    break
            # New commits arrive without a poll: the poll interval is an hour.
            assert seen == [3, 4, 5]
        async with projections.follow_log(store, poll_interval=3600) as entries:
            async for entry in entries:
                if entry.position == 5:
                    break
            with trio.fail_after(5):
                await deposit_many(store, "acc-1", 2, after=5)
                assert (await entries.receive()).position == 6
                assert (await entries.receive()).position == 7


@pytest.mark.parametrize("kind", KINDS)
async def test_follow_log_from_current_starts_at_the_end(kind: Kind, tmp_path: Path) -> None:
    async with open_store(kind, tmp_path) as store:
        await deposit_many(store, "acc-1", 3)
        async with projections.follow_log(store, projections.Current) as entries:
            await deposit_many(store, "acc-2", 2)
            with trio.fail_after(5):
                first: Entry = await entries.receive()
                second = await entries.receive()
        assert (first.position, first.envelope.aggregate_id) == (4, "acc-2")
        assert second.position == 5


async def test_follow_log_checks_its_arguments(tmp_path: Path) -> None:
    async with open_store("memory", tmp_path) as store:
        with pytest.raises(ValueError, match="start_from"):
            projections.follow_log(store, -1)
        with pytest.raises(TypeError, match="start_from"):
            projections.follow_log(store, "0")  # type: ignore[call-overload]
        with pytest.raises(ValueError, match="batch_size"):
            projections.follow_log(store, batch_size=0)
        with pytest.raises(ValueError, match="poll_interval"):
            projections.follow_log(store, poll_interval=0)
        with pytest.raises(TypeError, match=r"memory_store\.supervised"):
            projections.follow_log(object())  # type: ignore[call-overload]


async def test_follow_log_raises_when_the_store_cannot_be_read(tmp_path: Path) -> None:
    store, _ = sqlite_store.supervised(tmp_path / "never-started.db", CODEC)
    seen: list[int] = []

    async def follow() -> None:
        async with projections.follow_log(store) as entries:
            async for entry in entries:
                seen.append(entry.position)

    with pytest.raises(projections.LogReadFailed, match="not started") as caught:
        await follow()
    assert "never-started.db" in caught.value.error.message
    assert seen == []
