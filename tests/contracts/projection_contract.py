"""The contract of durable projections, written once and run against each store.

A store's test module subclasses :class:`ProjectionContract` (its class name starting
with ``Test``) and implements :meth:`ProjectionContract.open_store`, as for
``StoreContract``. The tests run on the real clock, since the durable stores work in
threads; they wait on the projection's own signals (its stored checkpoint, ``wait_for``)
and on events of the handlers, never on a pause, and the retry backoffs are a millisecond.
How long the backoffs are is a matter of the engine alone, tested on the memory store
under a ``MockClock`` (``tests/projections/test_policies.py``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from pathlib import Path

import pytest
import trio

from tests.contracts.log_contract import write_concurrently
from tests.contracts.store_contract import BankStore
from tests.projections.helpers import Entry, ReadModel, checkpointed, deposit_many, running
from trio_eventsourcing import Ok, memory_store, projections, static_supervisor, supervision
from trio_eventsourcing.actor import Started, StartResult
from trio_eventsourcing.projections import ProjectionState, Retry, Skip, Stop

WAIT_S = 20
"""How long a test waits for a projection to reach a state (only a failing test waits)."""

FAST = 0.001
"""A retry backoff short enough that tests on the real clock need not wait for it."""


def sibling_crashing_once(
    crash: trio.Event,
) -> Callable[[trio.Nursery], Awaitable[StartResult[None]]]:
    """A supervised sibling that raises once ``crash`` is set, and idles after its restart.

    Under ``OneForAll`` it takes the projection down with it once, so that the projection
    is restarted by its supervisor.
    """
    crashed: list[bool] = []

    async def start(nursery: trio.Nursery) -> StartResult[None]:
        async def run() -> None:
            if crashed:
                await trio.sleep_forever()
            await crash.wait()
            crashed.append(True)
            raise RuntimeError("a sibling crashed")

        nursery.start_soon(run)
        return Ok(Started(None))

    return start


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


def rebuilt(model: ReadModel) -> projections.Projection[Entry, object]:
    return projections.per_event("balances", model.on_event, batch_size=5, on_reset=model.on_reset)


def in_memory(model: ReadModel) -> projections.Projection[Entry, object]:
    """The projection of a read model in memory, whose checkpoint is kept in memory too."""
    return projections.per_event(
        "balances",
        model.on_event,
        batch_size=5,
        on_reset=model.on_reset,
        checkpoint=projections.InMemory,
    )


async def fill(store: BankStore) -> int:
    """Four accounts of 3, 4, 5 and 6 events; return the events written."""
    for index in range(4):
        await deposit_many(store, f"acc-{index}", 3 + index)
    return 3 + 4 + 5 + 6


class ProjectionContract:
    """What projections promise on every store. Subclass it as ``Test<Store>Projections``."""

    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        """Open a ready store kept under ``tmp_path``; its child spec (if any) runs inside."""
        raise NotImplementedError

    # --- every event once, in order -------------------------------------------------------

    @pytest.mark.parametrize("style", ["per_event", "async_per_event", "per_batch"])
    async def test_concurrent_writers_every_event_once_in_order(
        self, style: str, tmp_path: Path
    ) -> None:
        seen: list[Entry] = []

        def on_event(entry: Entry) -> None:
            seen.append(entry)

        async def on_event_async(entry: Entry) -> None:
            await trio.lowlevel.checkpoint()
            seen.append(entry)

        async def on_batch(entries: Sequence[Entry]) -> None:
            assert entries  # never an empty batch
            await trio.lowlevel.checkpoint()
            seen.extend(entries)

        projection: projections.Projection[Entry, object]
        if style == "per_event":
            projection = projections.per_event("tail", on_event, batch_size=7)
        elif style == "async_per_event":
            projection = projections.per_event("tail", on_event_async, batch_size=7)
        else:
            projection = projections.per_batch("tail", on_batch, batch_size=7)
        async with self.open_store(tmp_path) as store, running(store, projection) as handle:
            total = await write_concurrently([store], writers=8, commits=6)
            with trio.fail_after(WAIT_S):
                await checkpointed(handle, total)
            assert await projections.checkpoint(store, "tail") == Ok(total)
        assert [entry.position for entry in seen] == list(range(1, total + 1))
        sequences: dict[str, list[int]] = {}
        for entry in seen:
            sequences.setdefault(entry.envelope.aggregate_id, []).append(entry.envelope.sequence)
        assert all(s == list(range(1, len(s) + 1)) for s in sequences.values())

    async def test_a_new_commit_wakes_the_projection_without_a_poll(self, tmp_path: Path) -> None:
        model = ReadModel()
        projection = projections.per_event("prompt", model.on_event, poll_interval=3_600)
        async with self.open_store(tmp_path) as store, running(store, projection) as handle:
            for count in range(1, 4):
                with trio.fail_after(WAIT_S):  # an hour's poll would fail this
                    await deposit_many(store, "acc-1", 1, after=count - 1)
                    await checkpointed(handle, count)
        assert model.positions == [1, 2, 3]

    async def test_a_projection_stopped_mid_batch_handles_at_most_that_batch_again(
        self, tmp_path: Path
    ) -> None:
        seen: list[int] = []
        blocked = trio.Event()

        async def on_event(entry: Entry) -> None:
            seen.append(entry.position)
            if entry.position == 27 and not blocked.is_set():
                blocked.set()
                await trio.sleep_forever()  # the process "dies" here

        projection = projections.per_event("crashy", on_event, batch_size=10)
        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 50)
            async with running(store, projection) as handle:
                with trio.fail_after(WAIT_S):
                    await blocked.wait()
                assert handle.statistics().position == 20
            # Shut down mid-batch: the checkpoint stayed before the batch of 21-30.
            assert await projections.checkpoint(store, "crashy") == Ok(20)
            async with running(store, projection) as handle:
                with trio.fail_after(WAIT_S):
                    await checkpointed(handle, 50)
        assert seen == [*range(1, 28), *range(21, 51)]

    async def test_a_restarted_projection_resumes_from_its_checkpoint(self, tmp_path: Path) -> None:
        model = ReadModel()
        crash = trio.Event()
        crashing_sibling = sibling_crashing_once(crash)

        async with self.open_store(tmp_path) as store:
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
                with trio.fail_after(WAIT_S):
                    await checkpointed(handle, 20)
                    assert handle.statistics().runs == 1
                    crash.set()  # one for all: the projection is restarted with the sibling
                    await handle.wait_for(lambda s: s.runs == 2 and s.state is ProjectionState.LIVE)
                    await deposit_many(store, "acc-1", 10, after=20)
                    await checkpointed(handle, 30)
        assert model.positions == list(range(1, 31))
        assert handle.statistics().state is ProjectionState.NOT_RUNNING

    async def test_start_current_handles_only_new_events_then_resumes(self, tmp_path: Path) -> None:
        model = ReadModel()
        projection = projections.per_event("recent", model.on_event, start=projections.Current)
        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 5)
            async with running(store, projection) as handle:
                with trio.fail_after(WAIT_S):
                    await checkpointed(handle, 5)  # its first checkpoint: the end
                    await deposit_many(store, "acc-1", 2, after=5)
                    await checkpointed(handle, 7)
            await deposit_many(store, "acc-1", 3, after=7)
            # Started again: from its checkpoint, not from the (new) end of the log.
            async with running(store, projection) as handle:
                with trio.fail_after(WAIT_S):
                    await checkpointed(handle, 10)
        assert model.positions == [6, 7, 8, 9, 10]

    async def test_a_second_runner_of_a_projection_stands_by(self, tmp_path: Path) -> None:
        first, second = ReadModel(), ReadModel()
        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 5)
            async with running(store, projections.per_event("solo", first.on_event)) as one:
                with trio.fail_after(WAIT_S):
                    await checkpointed(one, 5)
                async with running(store, projections.per_event("solo", second.on_event)) as two:
                    with trio.fail_after(WAIT_S):
                        await two.wait_for(lambda s: s.state is ProjectionState.STANDBY)
                    await deposit_many(store, "acc-1", 1, after=5)
                    with trio.fail_after(WAIT_S):
                        await checkpointed(one, 6)
                    assert two.statistics().state is ProjectionState.STANDBY
        assert first.positions == [1, 2, 3, 4, 5, 6]
        assert second.positions == []

    async def test_a_wait_on_a_standby_follows_the_runner_s_stored_progress(
        self, tmp_path: Path
    ) -> None:
        model = ReadModel()
        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 3)
            async with running(store, projections.per_event("solo", model.on_event)) as one:
                with trio.fail_after(WAIT_S):
                    await checkpointed(one, 3)
                async with running(store, projections.per_event("solo", model.on_event)) as two:
                    with trio.fail_after(WAIT_S):
                        await two.wait_for(lambda s: s.state is ProjectionState.STANDBY)
                    await deposit_many(store, "acc-1", 2, after=3)
                    with trio.fail_after(WAIT_S):
                        await two.wait_for_position(5)
                    stats = two.statistics()
                    assert (stats.state, stats.position) == (ProjectionState.STANDBY, 5)
        assert model.positions == [1, 2, 3, 4, 5]

    # --- statistics -----------------------------------------------------------------------

    async def test_statistics_of_a_live_projection(self, tmp_path: Path) -> None:
        model = ReadModel()
        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 12)
            projection = projections.per_event("counted", model.on_event, batch_size=5)
            async with running(store, projection) as handle:
                with trio.fail_after(WAIT_S):
                    await handle.wait_for(
                        lambda s: s.position == 12 and s.state is ProjectionState.LIVE
                    )
                stats = handle.statistics()
        assert (stats.position, stats.lag, stats.handled) == (12, 0, 12)
        assert (stats.retries, stats.skips, stats.runs, stats.last_error) == (0, 0, 1, None)

    async def test_lag_counts_the_events_left_while_catching_up(self, tmp_path: Path) -> None:
        halfway = trio.Event()
        release = trio.Event()

        async def on_event(entry: Entry) -> None:
            if entry.position == 100:
                halfway.set()
                await release.wait()

        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 200)
            projection = projections.per_event("laggard", on_event, batch_size=20)
            async with running(store, projection) as handle:
                with trio.fail_after(WAIT_S):
                    await halfway.wait()
                stats = handle.statistics()
                assert stats.state is ProjectionState.CATCHING_UP
                assert stats.position == 80
                assert 100 <= stats.lag <= 120
                release.set()
                with trio.fail_after(WAIT_S):
                    await handle.wait_for(
                        lambda s: s.position == 200 and s.state is ProjectionState.LIVE
                    )
                stats = handle.statistics()
        assert (stats.lag, stats.handled) == (0, 200)

    # --- on_error: retry, skip, stop ------------------------------------------------------

    async def test_retry_calls_the_handler_again_until_it_succeeds(self, tmp_path: Path) -> None:
        flaky = Flaky({3: 2})
        model = ReadModel(fail_on=flaky)
        policy = Retry(attempts=5, initial_backoff=FAST, max_backoff=FAST)
        projection = projections.per_event("flaky", model.on_event, on_error=policy)
        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 5)
            async with running(store, projection) as handle:
                with trio.fail_after(WAIT_S):
                    await checkpointed(handle, 5)
                stats = handle.statistics()
        assert model.positions == [1, 2, 3, 4, 5]
        assert flaky.calls[3] == 3
        assert (stats.retries, stats.skips, stats.handled) == (2, 0, 5)
        assert stats.last_error == "ValueError: cannot handle position 3"

    async def test_retries_exhausted_then_stop_keeps_the_checkpoint_before_the_event(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        model = ReadModel(fail_on=Flaky({3: None}))
        policy = Retry(attempts=3, initial_backoff=FAST, max_backoff=FAST, then=Stop())
        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 5)
            projection = projections.per_event("stopper", model.on_event, on_error=policy)
            async with running(store, projection) as handle:
                with trio.fail_after(WAIT_S):
                    await handle.wait_for(lambda s: s.state is ProjectionState.STOPPED)
                stats = handle.statistics()
            assert await projections.checkpoint(store, "stopper") == Ok(2)
            assert await projections.dead_letters(store, "stopper") == Ok([])
        assert model.positions == [1, 2]
        assert (stats.position, stats.retries, stats.runs) == (2, 3, 1)
        stopped = [r for r in caplog.records if "stopped at position 2" in r.getMessage()]
        assert len(stopped) == 1
        assert stopped[0].levelno == logging.ERROR
        assert stopped[0].exc_info is not None

    async def test_stop_without_retry_stops_at_the_first_failure(self, tmp_path: Path) -> None:
        model = ReadModel(fail_on=Flaky({1: None}))
        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 2)
            projection = projections.per_event("stop", model.on_event, on_error=Stop())
            async with running(store, projection) as handle:
                with trio.fail_after(WAIT_S):
                    await handle.wait_for(lambda s: s.state is ProjectionState.STOPPED)
                stats = handle.statistics()
        assert (stats.position, stats.retries, stats.handled) == (0, 0, 0)
        assert model.positions == []

    async def test_a_wait_past_where_the_policy_stopped_it_raises(self, tmp_path: Path) -> None:
        model = ReadModel(fail_on=Flaky({2: None}))
        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 3)
            projection = projections.per_event("halt", model.on_event, on_error=Stop())
            async with running(store, projection) as handle:
                with (
                    trio.fail_after(WAIT_S),
                    pytest.raises(projections.ProjectionStopped) as raised,
                ):
                    await handle.wait_for_position(3)
                # Where it got before it stopped is still a wait that ends.
                await handle.wait_for_position(1)
        assert (raised.value.name, raised.value.wanted, raised.value.position) == ("halt", 3, 1)
        assert "position 1" in str(raised.value)

    async def test_a_stopped_projection_started_again_handles_the_failed_event_first(
        self, tmp_path: Path
    ) -> None:
        broken = ReadModel(fail_on=Flaky({2: None}))
        fixed = ReadModel()
        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 4)
            projection = projections.per_event("fixme", broken.on_event, on_error=Stop())
            async with running(store, projection) as handle:
                with trio.fail_after(WAIT_S):
                    await handle.wait_for(lambda s: s.state is ProjectionState.STOPPED)
            projection = projections.per_event("fixme", fixed.on_event, on_error=Stop())
            async with running(store, projection) as handle:
                with trio.fail_after(WAIT_S):
                    await checkpointed(handle, 4)
        assert broken.positions == [1]
        assert fixed.positions == [2, 3, 4]

    @pytest.mark.parametrize(
        "policy", [Skip(), Retry(attempts=2, initial_backoff=FAST, then=Skip())]
    )
    async def test_skip_records_a_dead_letter_and_goes_on(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture, policy: Skip | Retry
    ) -> None:
        model = ReadModel(fail_on=Flaky({3: None, 7: None}))
        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 10)
            projection = projections.per_event("skipper", model.on_event, on_error=policy)
            async with running(store, projection) as handle:
                with trio.fail_after(WAIT_S):
                    await checkpointed(handle, 10)
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
        self, tmp_path: Path
    ) -> None:
        handled: list[int] = []
        calls: list[list[int]] = []

        async def on_batch(entries: Sequence[Entry]) -> None:
            calls.append([entry.position for entry in entries])
            if any(entry.position == 5 for entry in entries):
                raise ValueError("position 5 is poison")
            handled.extend(entry.position for entry in entries)

        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 8)
            policy = Retry(attempts=1, initial_backoff=FAST, then=Skip())
            projection = projections.per_batch("batches", on_batch, batch_size=4, on_error=policy)
            async with running(store, projection) as handle:
                with trio.fail_after(WAIT_S):
                    await checkpointed(handle, 8)
            letters = (await projections.dead_letters(store, "batches")).unwrap()
        assert handled == [1, 2, 3, 4, 6, 7, 8]
        assert [d.position for d in letters] == [5]
        # The batch 5-8 failed twice (one retry), then went one event at a time.
        assert calls == [[1, 2, 3, 4], [5, 6, 7, 8], [5, 6, 7, 8], [5], [5], [6], [7], [8]]

    async def test_a_failing_batch_with_stop_keeps_the_checkpoint_before_it(
        self, tmp_path: Path
    ) -> None:
        def on_batch(entries: Sequence[Entry]) -> None:
            if entries[-1].position > 4:
                raise ValueError("no")

        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 8)
            projection = projections.per_batch("halt", on_batch, batch_size=4, on_error=Stop())
            async with running(store, projection) as handle:
                with trio.fail_after(WAIT_S):
                    await handle.wait_for(lambda s: s.state is ProjectionState.STOPPED)
                assert handle.statistics().position == 4
            assert await projections.checkpoint(store, "halt") == Ok(4)

    # --- reset and rebuild ----------------------------------------------------------------

    async def test_a_reset_clears_the_dead_letters(self, tmp_path: Path) -> None:
        model = ReadModel(fail_on=Flaky({2: 1}))
        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 3)
            projection = projections.per_event(
                "again", model.on_event, on_error=Skip(), on_reset=model.on_reset
            )
            async with running(store, projection) as handle:
                with trio.fail_after(WAIT_S):
                    await checkpointed(handle, 3)
                assert len((await projections.dead_letters(store, "again")).unwrap()) == 1
                assert model.positions == [1, 3]
                (await projections.reset(store, "again")).unwrap()
                assert await projections.dead_letters(store, "again") == Ok([])
                with trio.fail_after(WAIT_S):
                    await model.handled(3)  # the event that failed once is handled this time
        assert model.positions == [1, 2, 3]
        assert model.resets == 1

    async def test_a_reset_while_running_rebuilds_the_same_read_model(self, tmp_path: Path) -> None:
        model = ReadModel()
        async with self.open_store(tmp_path) as store:
            total = await fill(store)
            async with running(store, rebuilt(model)) as handle:
                with trio.fail_after(WAIT_S):
                    await checkpointed(handle, total)
                    original = (list(model.positions), dict(model.balances))
                    (await projections.reset(store, "balances")).unwrap()
                    await model.reset_done.wait()
                    await model.handled(total)
                    await checkpointed(handle, total)
        assert (model.positions, model.balances) == original
        assert model.balances == {f"acc-{i}": Decimal(2 + i) for i in range(4)}
        assert model.resets == 1

    async def test_a_reset_asked_for_is_logged_as_news_not_as_a_warning(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        model = ReadModel()
        caplog.set_level(logging.INFO, logger="trio_eventsourcing")
        async with self.open_store(tmp_path) as store:
            total = await fill(store)
            async with running(store, rebuilt(model)) as handle:
                with trio.fail_after(WAIT_S):
                    await checkpointed(handle, total)
                    (await projections.reset(store, "balances")).unwrap()
                    await model.reset_done.wait()
        logged = [record for record in caplog.records if "was reset" in record.getMessage()]
        assert [record.levelno for record in logged] == [logging.INFO]

    async def test_a_reset_while_stopped_rebuilds_at_the_next_start(self, tmp_path: Path) -> None:
        model = ReadModel()
        async with self.open_store(tmp_path) as store:
            total = await fill(store)
            async with running(store, rebuilt(model)) as handle:
                with trio.fail_after(WAIT_S):
                    await checkpointed(handle, total)
            original = (list(model.positions), dict(model.balances))
            # As the command-line tool does, with the projection not running.
            (await projections.reset(store, "balances")).unwrap()
            assert await projections.checkpoint(store, "balances") == Ok(0)
            assert model.resets == 0  # the read model is the projection's: it clears it
            async with running(store, rebuilt(model)) as handle:
                with trio.fail_after(WAIT_S):
                    await model.reset_done.wait()
                    await checkpointed(handle, total)
        assert (model.positions, model.balances) == original
        assert model.resets == 1

    async def test_reset_of_a_projection_that_never_ran_sets_it_to_zero(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store:
            assert await projections.checkpoint(store, "fresh") == Ok(None)
            (await projections.reset(store, "fresh")).unwrap()
            assert await projections.checkpoint(store, "fresh") == Ok(0)

    # --- a read model in memory: its checkpoint in memory too -----------------------------

    @pytest.mark.parametrize("read_model", ["a new one", "the same one"])
    async def test_an_in_memory_read_model_is_whole_again_after_the_store_is_reopened(
        self, read_model: str, tmp_path: Path
    ) -> None:
        model = ReadModel()
        projection = in_memory(model)
        async with self.open_store(tmp_path) as store:
            total = await fill(store)
            async with running(store, projection) as handle:
                with trio.fail_after(WAIT_S):
                    await checkpointed(handle, total)
            # Kept with the read model, in memory: the store has no checkpoint of it.
            assert await projections.checkpoint(store, "balances") == Ok(None)
        first_run = dict(model.balances)
        assert first_run == {f"acc-{i}": Decimal(2 + i) for i in range(4)}
        if read_model == "a new one":  # as after a restart of the process
            model = ReadModel()
            projection = in_memory(model)
        async with self.open_store(tmp_path) as store:
            kept_events = not isinstance(store.eventstore, memory_store.MemoryStore)
            await deposit_many(store, "acc-9", 2)
            async with running(store, projection) as handle:
                with trio.fail_after(WAIT_S):
                    await handle.wait_until_current()
        # Every event of the store, each once: none lost with the first read model, none
        # counted twice in the one kept.
        expected = {**(first_run if kept_events else {}), "acc-9": Decimal(1)}
        assert model.balances == expected
        assert model.positions == list(range(1, (total if kept_events else 0) + 3))
        assert model.resets == (1 if read_model == "a new one" else 2)

    async def test_an_in_memory_projection_restarted_by_its_supervisor_resumes(
        self, tmp_path: Path
    ) -> None:
        model = ReadModel()
        crash = trio.Event()
        crashing_sibling = sibling_crashing_once(crash)

        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 12)
            handle, spec = projections.supervised(store, in_memory(model))
            supervisor = (
                static_supervisor.new(static_supervisor.OneForAll)
                .add(spec)
                .add(supervision.worker(crashing_sibling))
            )
            async with supervisor.open():
                with trio.fail_after(WAIT_S):
                    await checkpointed(handle, 12)
                    crash.set()  # one for all: the projection is restarted with the sibling
                    await handle.wait_for(lambda s: s.runs == 2 and s.state is ProjectionState.LIVE)
                    await deposit_many(store, "acc-1", 3, after=12)
                    await checkpointed(handle, 15)
        # The read model is still here, and so is the checkpoint: no rebuild.
        assert model.positions == list(range(1, 16))
        assert model.resets == 1

    async def test_in_memory_read_models_each_run_but_one_read_model_runs_once(
        self, tmp_path: Path
    ) -> None:
        first, second = ReadModel(), ReadModel()
        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 4)
            # Two read models of one name (on PostgreSQL: as in two processes): both run.
            async with (
                running(store, in_memory(first)) as one,
                running(store, in_memory(second)) as two,
            ):
                with trio.fail_after(WAIT_S):
                    await checkpointed(one, 4)
                    await checkpointed(two, 4)
                # One read model run twice would count each event twice: the second waits.
                projection = in_memory(ReadModel())
                async with running(store, projection), running(store, projection) as standby:
                    with trio.fail_after(WAIT_S):
                        await standby.wait_for(lambda s: s.state is ProjectionState.STANDBY)
        assert first.positions == second.positions == [1, 2, 3, 4]

    async def test_a_reset_rebuilds_an_in_memory_read_model(self, tmp_path: Path) -> None:
        model = ReadModel()
        async with self.open_store(tmp_path) as store:
            total = await fill(store)
            async with running(store, in_memory(model)) as handle:
                with trio.fail_after(WAIT_S):
                    await checkpointed(handle, total)
                    original = (list(model.positions), dict(model.balances))
                    model.reset_done = trio.Event()
                    (await projections.reset(store, "balances")).unwrap()
                    await model.reset_done.wait()
                    await model.handled(total)
        assert (model.positions, model.balances) == original
        assert model.resets == 2  # before the run, then for the reset
