"""Snapshots: taken whenever a commit reaches or crosses a multiple of the frequency."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.core.conftest import Added, Tally, add, open_system, replay
from trio_eventsourcing import Aggregate, AggregateStats, Ok


@pytest.mark.parametrize(
    ("batches", "every", "snapshot_sequences"),
    [
        ([1, 1, 1, 1, 1, 1, 1], 3, [3, 6]),  # one event a command: each multiple reached
        ([2, 2, 1, 1], 3, [4, 6]),  # 2 -> 4 crosses 3; 6 is reached
        ([7], 3, [7]),  # one command crossing 3 and 6: one snapshot, after it
        ([2, 7, 3], 4, [9, 12]),  # 2 -> 9 crosses 4 and 8; 9 -> 12 reaches 12
        ([1, 1, 1], 1, [1, 2, 3]),
        ([5], 5, [5]),
        ([4], 5, []),
    ],
)
async def test_a_snapshot_is_saved_whenever_a_commit_reaches_or_crosses_a_multiple(
    batches: list[int], every: int, snapshot_sequences: list[int]
) -> None:
    async with open_system(snapshot_every=every) as system:
        for size in batches:
            assert await system.run("t-1", add(*[1] * size)) == Ok(None)
        saved = system.faulty.saved_snapshots
        assert [snapshot.sequence for snapshot in saved] == snapshot_sequences
        events = await system.payloads("t-1")
        for snapshot in saved:
            assert snapshot.aggregate_id == "t-1"
            assert snapshot.entity == replay(events[: snapshot.sequence])


async def test_no_snapshot_is_saved_without_a_snapshot_config() -> None:
    async with open_system() as system:
        for _ in range(5):
            assert await system.run("t-1", add(1, 2, 3)) == Ok(None)
        assert system.faulty.saved_snapshots == []
        assert await system.snapshot("t-1") is None


async def test_latest_snapshot_is_the_last_one_saved() -> None:
    async with open_system(snapshot_every=2) as system:
        for amount in range(1, 6):
            assert await system.run("t-1", add(amount)) == Ok(None)
        snapshot = await system.snapshot("t-1")
        assert snapshot is not None
        assert (snapshot.aggregate_id, snapshot.sequence) == ("t-1", 4)
        assert snapshot.entity == Tally(10, (1, 2, 3, 4))


async def test_a_snapshot_is_timestamped_in_utc() -> None:
    async with open_system(snapshot_every=1) as system:
        before = datetime.now(timezone.utc)
        assert await system.run("t-1", add(1)) == Ok(None)
        snapshot = await system.snapshot("t-1")
        assert snapshot is not None
        assert snapshot.timestamp.utcoffset() == timedelta(0)
        assert before <= snapshot.timestamp <= datetime.now(timezone.utc)


async def test_has_snapshot_is_true_only_once_a_snapshot_exists() -> None:
    async with open_system(snapshot_every=3) as system:
        assert await system.stats("t-1") == AggregateStats("t-1", 0, 0, has_snapshot=False)
        assert await system.run("t-1", add(1, 1)) == Ok(None)
        assert await system.stats("t-1") == AggregateStats("t-1", 2, 2, has_snapshot=False)
        assert await system.run("t-1", add(1)) == Ok(None)
        assert await system.stats("t-1") == AggregateStats("t-1", 3, 3, has_snapshot=True)
        assert await system.stats("t-2") == AggregateStats("t-2", 0, 0, has_snapshot=False)


async def test_a_cold_load_uses_the_latest_snapshot_and_only_the_events_after_it() -> None:
    async with open_system(snapshot_every=4) as writer:
        for amount in range(1, 11):
            assert await writer.run("t-1", add(amount)) == Ok(None)
        async with open_system(writer.store, snapshot_every=4) as reader:
            expected = Aggregate("t-1", replay(Added(n) for n in range(1, 11)), 10)
            assert await reader.load("t-1") == Ok(expected)
            # The latest snapshot is at 8: only the events after it were read to load.
            assert reader.faulty.event_loads == [("t-1", 8)]


async def test_a_load_from_a_snapshot_equals_a_full_replay() -> None:
    async with open_system(snapshot_every=3) as writer:
        for amount in (5, 1, 4, 2, 3, 9, 8):
            assert await writer.run("t-1", add(amount, amount * 10)) == Ok(None)
        full = replay(await writer.payloads("t-1"))
        snapshot = await writer.snapshot("t-1")
        assert snapshot is not None
        assert snapshot.sequence < 14
        tail = [e.payload for e in await writer.events("t-1", snapshot.sequence)]
        assert replay(tail, snapshot.entity) == full
        async with open_system(writer.store, snapshot_every=3) as reader:
            assert await reader.load("t-1") == Ok(Aggregate("t-1", full, 14))
