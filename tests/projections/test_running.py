"""A projection runs supervised: it catches up, tails concurrent writers, survives restarts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import trio
import trio.testing

from contracts.store_contract import BankStore, append, deposited, opened
from trio_eventsourcing import Ok, projections, static_supervisor, supervision
from trio_eventsourcing.actor import Started, StartResult
from trio_eventsourcing.examples.bank_account import BankAccountEvent
from trio_eventsourcing.projections import ProjectionState

from .helpers import KINDS, Entry, Kind, ReadModel, deposit_many, open_store, running


async def write_concurrently(store: BankStore, writers: int, commits: int) -> int:
    """``writers`` tasks each commit ``commits`` times two events; return the events written."""

    async def writer(index: int) -> None:
        aggregate_id = f"acc-{index}"
        assert isinstance(await append(store, aggregate_id, 0, [opened(aggregate_id)]), Ok)
        for n in range(commits - 1):
            events: list[BankAccountEvent] = [deposited(1, 2 * n + 1), deposited(1, 2 * n + 2)]
            assert isinstance(await append(store, aggregate_id, 1 + 2 * n, events), Ok)
            await trio.lowlevel.checkpoint()  # interleave the writers

    async with trio.open_nursery() as nursery:
        for index in range(writers):
            nursery.start_soon(writer, index)
    return writers * (1 + 2 * (commits - 1))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("style", ["per_event", "async_per_event", "per_batch"])
async def test_concurrent_writers_every_event_once_in_order(
    kind: Kind, style: str, tmp_path: Path
) -> None:
    seen: list[Entry] = []

    def on_event(entry: Entry) -> None:
        seen.append(entry)

    async def on_event_async(entry: Entry) -> None:
        await trio.lowlevel.checkpoint()
        seen.append(entry)

    async def on_batch(entries: Sequence[Entry]) -> None:
        await trio.lowlevel.checkpoint()
        seen.extend(entries)

    projection: projections.Projection[Entry, object]
    if style == "per_event":
        projection = projections.per_event("tail", on_event, batch_size=7)
    elif style == "async_per_event":
        projection = projections.per_event("tail", on_event_async, batch_size=7)
    else:
        projection = projections.per_batch("tail", on_batch, batch_size=7)
    async with open_store(kind, tmp_path) as store, running(store, projection) as handle:
        total = await write_concurrently(store, writers=8, commits=12)
        with trio.fail_after(10):
            await handle.wait_for_position(total)
        assert (await projections.checkpoint(store, "tail")) == Ok(total)
        stats = handle.statistics()
    assert [entry.position for entry in seen] == list(range(1, total + 1))
    sequences: dict[str, list[int]] = {}
    for entry in seen:
        sequences.setdefault(entry.envelope.aggregate_id, []).append(entry.envelope.sequence)
    assert all(s == list(range(1, len(s) + 1)) for s in sequences.values())
    assert (stats.position, stats.handled, stats.lag, stats.retries, stats.skips) == (
        total,
        total,
        0,
        0,
        0,
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_a_new_commit_wakes_the_projection_without_a_poll(kind: Kind, tmp_path: Path) -> None:
    model = ReadModel()
    projection = projections.per_event("prompt", model.on_event, poll_interval=3_600)
    async with open_store(kind, tmp_path) as store, running(store, projection) as handle:
        for count in range(1, 4):
            with trio.fail_after(5):  # an hour's poll would fail this
                await deposit_many(store, "acc-1", 1, after=count - 1)
                await handle.wait_for_position(count)
        assert handle.statistics().state is ProjectionState.LIVE


async def test_a_projection_crashed_mid_batch_reprocesses_at_most_that_batch(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    seen: list[int] = []
    blocked = trio.Event()

    async def on_event(entry: Entry) -> None:
        seen.append(entry.position)
        if entry.position == 57 and not blocked.is_set():
            blocked.set()
            await trio.sleep_forever()  # the process "dies" here

    projection = projections.per_event("crashy", on_event, batch_size=10)
    async with open_store("memory", tmp_path) as store:
        await deposit_many(store, "acc-1", 100)
        async with running(store, projection) as handle:
            await blocked.wait()
            assert handle.statistics().position == 50
        # Shut down mid-batch: the checkpoint stayed before the batch of 51-60.
        assert await projections.checkpoint(store, "crashy") == Ok(50)
        async with running(store, projection) as handle:
            await handle.wait_for_position(100)
    assert seen == [*range(1, 58), *range(51, 101)]


async def test_a_restarted_projection_resumes_from_its_checkpoint(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    model = ReadModel()
    crash = trio.Event()

    crashed: list[bool] = []

    async def crashing_sibling(nursery: trio.Nursery) -> StartResult[None]:
        async def run() -> None:
            if crashed:
                await trio.sleep_forever()
            await crash.wait()
            crashed.append(True)
            raise RuntimeError("a sibling crashed")

        nursery.start_soon(run)
        return Ok(Started(None))

    async with open_store("memory", tmp_path) as store:
        await deposit_many(store, "acc-1", 20)
        handle, spec = projections.supervised(
            store, projections.per_event("resumer", model.on_event, batch_size=8)
        )
        supervisor = (
            static_supervisor.new(static_supervisor.OneForAll)
            .add(spec)
            .add(supervision.worker(crashing_sibling))
        )
        async with supervisor.open():
            await handle.wait_for_position(20)
            assert handle.statistics().runs == 1
            crash.set()  # one for all: the projection is restarted with the sibling
            await handle.wait_for(lambda s: s.runs == 2 and s.state is ProjectionState.LIVE)
            await deposit_many(store, "acc-1", 10, after=20)
            await handle.wait_for_position(30)
        assert model.positions == list(range(1, 31))
        assert handle.statistics().state is ProjectionState.NOT_RUNNING


async def test_start_current_handles_only_new_events_then_resumes(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    model = ReadModel()
    projection = projections.per_event("recent", model.on_event, start=projections.Current)
    async with open_store("memory", tmp_path) as store:
        await deposit_many(store, "acc-1", 5)
        async with running(store, projection) as handle:
            await handle.wait_for_position(5)  # its first checkpoint: the end of the log
            await deposit_many(store, "acc-1", 2, after=5)
            await handle.wait_for_position(7)
        await deposit_many(store, "acc-1", 3, after=7)
        # Started again: from its checkpoint, not from the (new) end of the log.
        async with running(store, projection) as handle:
            await handle.wait_for_position(10)
    assert model.positions == [6, 7, 8, 9, 10]


async def test_a_second_runner_of_a_projection_stands_by(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    first, second = ReadModel(), ReadModel()
    async with open_store("memory", tmp_path) as store:
        await deposit_many(store, "acc-1", 5)
        async with running(store, projections.per_event("solo", first.on_event)) as one:
            await one.wait_for_position(5)
            async with running(store, projections.per_event("solo", second.on_event)) as two:
                await trio.sleep(10)
                assert two.statistics().state is ProjectionState.STANDBY
                assert second.positions == []
        assert first.positions == [1, 2, 3, 4, 5]


async def test_lag_counts_the_events_left_while_catching_up(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    halfway = trio.Event()
    release = trio.Event()

    async def on_event(entry: Entry) -> None:
        if entry.position == 500:
            halfway.set()
            await release.wait()

    async with open_store("memory", tmp_path) as store:
        await deposit_many(store, "acc-1", 1_000)
        projection = projections.per_event("laggard", on_event, batch_size=50)
        async with running(store, projection) as handle:
            await halfway.wait()
            stats = handle.statistics()
            assert stats.state is ProjectionState.CATCHING_UP
            assert stats.position == 450
            assert 500 <= stats.lag <= 550
            release.set()
            await handle.wait_for_position(1_000)
            await trio.testing.wait_all_tasks_blocked()
            stats = handle.statistics()
    assert (stats.lag, stats.state, stats.handled) == (0, ProjectionState.LIVE, 1_000)


async def test_supervised_checks_its_arguments(tmp_path: Path) -> None:
    model = ReadModel()
    projection = projections.per_event("x", model.on_event)
    with pytest.raises(TypeError, match=r"memory_store\.supervised"):
        projections.supervised(object(), projection)  # type: ignore[call-overload]
    async with open_store("memory", tmp_path) as store:
        with pytest.raises(TypeError, match="per_event"):
            projections.supervised(store, object())  # type: ignore[call-overload]
        with pytest.raises(TypeError, match="has no transactions"):
            projections.supervised(
                store,
                projections.transactional("tx", lambda tx, entries: None),
            )
    with pytest.raises(TypeError, match="name"):
        projections.per_event("", model.on_event)
    with pytest.raises(ValueError, match="batch_size"):
        projections.per_event("x", model.on_event, batch_size=0)
    with pytest.raises(TypeError, match="on_error"):
        projections.per_event("x", model.on_event, on_error="skip")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="attempts"):
        projections.Retry(attempts=-1)
    with pytest.raises(ValueError, match="max_backoff"):
        projections.Retry(max_backoff=float("inf"))
    with pytest.raises(TypeError, match="no public constructor"):
        projections.Projection(None)  # type: ignore[arg-type]
