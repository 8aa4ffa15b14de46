"""Error policies: retry with a bounded, growing backoff; skip to a dead letter; stop.

Under a MockClock (autojump): the backoff's pauses are measured on the virtual clock.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pytest
import trio
import trio.testing

from trio_eventsourcing import Ok, projections
from trio_eventsourcing.projections import ProjectionState, Retry, Skip, Stop

from .helpers import Entry, ReadModel, deposit_many, open_store, running


class Flaky:
    """Fails on given positions a given number of times (``None``: always)."""

    def __init__(self, failures: dict[int, int | None]) -> None:
        self.failures = failures
        self.calls: dict[int, int] = {}

    def __call__(self, entry: Entry) -> bool:
        calls = self.calls[entry.position] = self.calls.get(entry.position, 0) + 1
        if entry.position not in self.failures:
            return False
        most = self.failures[entry.position]
        return most is None or calls <= most


async def test_retry_backs_off_then_succeeds(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = Flaky({3: 2})
    model = ReadModel(fail_on=flaky)
    policy = Retry(attempts=5, initial_backoff=1.0, max_backoff=10.0)
    projection = projections.per_event("flaky", model.on_event, on_error=policy)
    async with open_store("memory", tmp_path) as store:
        await deposit_many(store, "acc-1", 5)
        async with running(store, projection) as handle:
            started = trio.current_time()
            await handle.wait_for_position(5)
            elapsed = trio.current_time() - started
            stats = handle.statistics()
    assert model.positions == [1, 2, 3, 4, 5]
    assert 3.0 <= elapsed < 3.5  # 1 s, then 2 s
    assert (stats.retries, stats.skips, stats.handled) == (2, 0, 5)
    assert stats.last_error == "ValueError: cannot handle position 3"
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2
    assert "position 3" in retries[0]
    assert "retry 1 of 5 in 1 s" in retries[0]
    assert "retry 2 of 5 in 2 s" in retries[1]
    assert all(r.levelno == logging.WARNING for r in caplog.records if "retry" in r.getMessage())


async def test_the_backoff_doubles_up_to_its_bound(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    model = ReadModel(fail_on=Flaky({2: 6}))
    policy = Retry(attempts=6, initial_backoff=1.0, max_backoff=4.0)
    async with open_store("memory", tmp_path) as store:
        await deposit_many(store, "acc-1", 3)
        projection = projections.per_event("bounded", model.on_event, on_error=policy)
        async with running(store, projection) as handle:
            started = trio.current_time()
            await handle.wait_for_position(3)
            elapsed = trio.current_time() - started
    assert 19.0 <= elapsed < 19.5  # 1 + 2 + 4 + 4 + 4 + 4
    assert policy.backoff(1_000) == 4.0


async def test_retries_exhausted_then_stop(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    model = ReadModel(fail_on=Flaky({3: None}))
    policy = Retry(attempts=3, initial_backoff=1.0, max_backoff=2.0, then=Stop())
    async with open_store("memory", tmp_path) as store:
        await deposit_many(store, "acc-1", 5)
        projection = projections.per_event("stopper", model.on_event, on_error=policy)
        async with running(store, projection) as handle:
            await handle.wait_for(lambda s: s.state is ProjectionState.STOPPED)
            await trio.sleep(60)  # stopped for good: the supervisor does not restart it
            stats = handle.statistics()
        # The checkpoint is before the failing event: a fixed handler starts there.
        assert await projections.checkpoint(store, "stopper") == Ok(2)
        assert await projections.dead_letters(store, "stopper") == Ok([])
    assert model.positions == [1, 2]
    assert (stats.state, stats.position, stats.retries, stats.runs) == (
        ProjectionState.STOPPED,
        2,
        3,
        1,
    )
    stopped = [r for r in caplog.records if "stopped at position 2" in r.getMessage()]
    assert len(stopped) == 1
    assert stopped[0].levelno == logging.ERROR
    assert stopped[0].exc_info is not None


async def test_stop_without_retry_stops_at_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    model = ReadModel(fail_on=Flaky({1: None}))
    async with open_store("memory", tmp_path) as store:
        await deposit_many(store, "acc-1", 2)
        projection = projections.per_event("stop", model.on_event, on_error=Stop())
        async with running(store, projection) as handle:
            await handle.wait_for(lambda s: s.state is ProjectionState.STOPPED)
            assert trio.current_time() < 1
            assert (handle.statistics().position, handle.statistics().retries) == (0, 0)


@pytest.mark.parametrize("policy", [Skip(), Retry(attempts=2, then=Skip())])
async def test_skip_records_a_dead_letter_and_goes_on(
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
    policy: Skip | Retry,
) -> None:
    model = ReadModel(fail_on=Flaky({3: None, 7: None}))
    async with open_store("memory", tmp_path) as store:
        await deposit_many(store, "acc-1", 10)
        projection = projections.per_event("skipper", model.on_event, on_error=policy)
        async with running(store, projection) as handle:
            await handle.wait_for_position(10)
            stats = handle.statistics()
        letters = (await projections.dead_letters(store, "skipper")).unwrap()
    assert model.positions == [1, 2, 4, 5, 6, 8, 9, 10]
    assert [(d.position, d.aggregate_id, d.sequence) for d in letters] == [
        (3, "acc-1", 3),
        (7, "acc-1", 7),
    ]
    assert letters[0].error == "ValueError: cannot handle position 3"
    assert letters[0].event_type == "CustomerDepositedCash"
    assert letters[0].projection == "skipper"
    retries = 2 if isinstance(policy, Retry) else 0
    assert (stats.skips, stats.handled, stats.retries) == (2, 8, 2 * retries)
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 2
    assert all(r.levelno == logging.ERROR for r in skipped)


async def test_a_failing_batch_is_split_to_skip_only_the_bad_event(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    handled: list[int] = []
    calls: list[list[int]] = []

    async def on_batch(entries: Sequence[Entry]) -> None:
        calls.append([entry.position for entry in entries])
        if any(entry.position == 5 for entry in entries):
            raise ValueError("position 5 is poison")
        handled.extend(entry.position for entry in entries)

    async with open_store("memory", tmp_path) as store:
        await deposit_many(store, "acc-1", 8)
        projection = projections.per_batch(
            "batches", on_batch, batch_size=4, on_error=Retry(attempts=1, then=Skip())
        )
        async with running(store, projection) as handle:
            await handle.wait_for_position(8)
        letters = (await projections.dead_letters(store, "batches")).unwrap()
    assert handled == [1, 2, 3, 4, 6, 7, 8]
    assert [d.position for d in letters] == [5]
    # The batch 5-8 failed twice (one retry), then went one event at a time.
    assert calls == [[1, 2, 3, 4], [5, 6, 7, 8], [5, 6, 7, 8], [5], [5], [6], [7], [8]]


async def test_a_failing_batch_with_stop_keeps_the_checkpoint_before_it(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    def on_batch(entries: Sequence[Entry]) -> None:
        if entries[-1].position > 4:
            raise ValueError("no")

    async with open_store("memory", tmp_path) as store:
        await deposit_many(store, "acc-1", 8)
        projection = projections.per_batch("halt", on_batch, batch_size=4, on_error=Stop())
        async with running(store, projection) as handle:
            await handle.wait_for(lambda s: s.state is ProjectionState.STOPPED)
            assert handle.statistics().position == 4


async def test_a_reset_clears_the_dead_letters(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    model = ReadModel(fail_on=Flaky({2: 1}))
    async with open_store("memory", tmp_path) as store:
        await deposit_many(store, "acc-1", 3)
        projection = projections.per_event(
            "again", model.on_event, on_error=Skip(), on_reset=model.on_reset
        )
        async with running(store, projection) as handle:
            await handle.wait_for_position(3)
            assert len((await projections.dead_letters(store, "again")).unwrap()) == 1
            assert model.positions == [1, 3]
            (await projections.reset(store, "again")).unwrap()
            assert await projections.dead_letters(store, "again") == Ok([])
            await model.handled(3)  # the event that failed once is handled this time
        assert model.positions == [1, 2, 3]
        assert model.resets == 1
