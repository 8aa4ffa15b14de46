"""Error policies in time: the retry backoff grows to its bound; a stop is for good.

Under a MockClock (autojump): the pauses are measured on the virtual clock, which the
durable stores (they work in threads) cannot share, so these run on the memory store.
What the policies do on every store (retry, skip to a dead letter, stop, batches split)
is ``ProjectionContract`` (``tests/contracts/projection_contract.py``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio
import trio.testing

from tests.contracts.projection_contract import Flaky
from tests.projections.helpers import ReadModel, checkpointed, deposit_many, open_store, running
from trio_eventsourcing import Ok, projections
from trio_eventsourcing.projections import ProjectionState, Retry, Stop


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
            await checkpointed(handle, 5)
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
            await checkpointed(handle, 3)
            elapsed = trio.current_time() - started
    assert 19.0 <= elapsed < 19.5  # 1 + 2 + 4 + 4 + 4 + 4
    assert policy.backoff(1_000) == 4.0


async def test_a_stopped_projection_is_not_restarted_by_its_supervisor(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    model = ReadModel(fail_on=Flaky({2: None}))
    async with open_store("memory", tmp_path) as store:
        await deposit_many(store, "acc-1", 3)
        projection = projections.per_event("stopper", model.on_event, on_error=Stop())
        async with running(store, projection) as handle:
            await handle.wait_for(lambda s: s.state is ProjectionState.STOPPED)
            await trio.sleep(60)  # an hour of virtual time would do as well
            stats = handle.statistics()
        assert await projections.checkpoint(store, "stopper") == Ok(1)
    assert (stats.state, stats.runs) == (ProjectionState.STOPPED, 1)
    assert model.positions == [1]
