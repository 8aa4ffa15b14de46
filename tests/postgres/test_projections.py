"""Projections on PostgreSQL: LISTEN/NOTIFY wake-ups, exactly once in the checkpoint's
transaction, one runner per projection across processes, and a takeover when it dies."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pytest
import trio

from tests.contracts.durable_support import CODEC, ROOT, child_environment
from tests.contracts.store_contract import BankStore, append, deposited, opened
from tests.postgres import projection_process
from tests.postgres.helpers import (
    connect,
    execute,
    install_hold,
    rows,
    running_store,
    wait_until,
    waiting,
)
from tests.projections.helpers import checkpointed
from trio_eventsourcing import Ok, postgres_store, projections, static_supervisor
from trio_eventsourcing.examples.bank_account import BankAccountEvent
from trio_eventsourcing.projections import ProjectionHandle, ProjectionState, Skip

if TYPE_CHECKING:
    import psycopg

Entry = projections.LogRecord[BankAccountEvent]


def make_applied(dsn: str, schema: str) -> None:
    execute(dsn, f'CREATE TABLE "{schema}".applied (position bigint NOT NULL)')


def applied(dsn: str, schema: str) -> list[tuple[int, int]]:
    """Each position in the read model, with how many times it is there."""
    return [
        (int(position), int(count))
        for position, count in rows(
            dsn,
            f'SELECT position, count(*) FROM "{schema}".applied GROUP BY position'
            " ORDER BY position",
        )
    ]


def once_each(last: int) -> list[tuple[int, int]]:
    return [(position, 1) for position in range(1, last + 1)]


async def running(
    store: BankStore, projection: projections.Projection[Any, Any], nursery: trio.Nursery
) -> tuple[ProjectionHandle, static_supervisor.Supervisor]:
    handle, spec = projections.supervised(store, projection)
    supervisor = await static_supervisor.new(static_supervisor.OneForOne).add(spec).start(nursery)
    return handle, supervisor.unwrap().data


async def open_account(store: BankStore, aggregate_id: str) -> None:
    assert isinstance(await append(store, aggregate_id, 0, [opened(aggregate_id)]), Ok)


async def deposits(store: BankStore, aggregate_id: str, count: int) -> None:
    assert isinstance(await append(store, aggregate_id, 0, [opened(aggregate_id)]), Ok)
    for sequence in range(1, count):
        assert isinstance(await append(store, aggregate_id, sequence, [deposited(1, sequence)]), Ok)


async def test_concurrent_writers_in_two_processes_every_event_once_in_order(
    dsn: str, schema: str, nursery: trio.Nursery
) -> None:
    seen: list[int] = []

    def on_event(entry: Entry) -> None:
        seen.append(entry.position)

    # Two store objects, each with its own writer connection, stand for two processes.
    async with running_store(dsn, schema) as first, running_store(dsn, schema) as second:
        # An hour's poll: only NOTIFY can wake the projection in time.
        projection = projections.per_event("tail", on_event, batch_size=7, poll_interval=3600)
        handle, _ = await running(first, projection, nursery)
        async with trio.open_nursery() as writers:
            for index in range(6):
                writers.start_soon(deposits, first if index % 2 else second, f"acc-{index}", 12)
        with trio.fail_after(10):
            await checkpointed(handle, 72)
    assert seen == list(range(1, 73))


async def test_a_delayed_commit_is_never_passed_over(
    dsn: str, schema: str, nursery: trio.Nursery
) -> None:
    seen: list[str] = []

    def on_event(entry: Entry) -> None:
        seen.append(entry.envelope.aggregate_id)

    key = 7_001
    async with running_store(dsn, schema) as first, running_store(dsn, schema) as second:
        assert isinstance(await append(first, "before", 0, [opened("before")]), Ok)
        handle, _ = await running(first, projections.per_event("tail", on_event), nursery)
        with trio.fail_after(10):
            await checkpointed(handle, 1)
        install_hold(dsn, schema, "trio_es_events", key)
        with connect(dsn) as gate:
            gate.execute("SELECT pg_advisory_lock(%s)", (key,))
            async with trio.open_nursery() as writers:
                writers.start_soon(open_account, first, "slow")
                await wait_until(lambda: waiting(dsn, schema, {"advisory"}) == 1)
                writers.start_soon(open_account, second, "fast")
                await wait_until(lambda: waiting(dsn, schema, {"transactionid", "tuple"}) == 1)
                assert handle.statistics().position == 1
                gate.execute("SELECT pg_advisory_unlock(%s)", (key,))
        with trio.fail_after(10):
            await checkpointed(handle, 3)
    assert seen == ["before", "slow", "fast"]


async def test_the_read_model_and_the_checkpoint_commit_together(
    dsn: str, schema: str, nursery: trio.Nursery
) -> None:
    fail_once = [True]

    def on_batch(connection: psycopg.Connection[Any], entries: Sequence[Entry]) -> None:
        with connection.cursor() as cursor:
            cursor.executemany(
                f'INSERT INTO "{schema}".applied (position) VALUES (%s)',
                [(entry.position,) for entry in entries],
            )
        if fail_once and any(entry.position == 9 for entry in entries):
            fail_once.clear()
            raise RuntimeError("crashed after the handler wrote")

    async with running_store(dsn, schema) as store:
        make_applied(dsn, schema)
        projection = projections.transactional(
            "applied", on_batch, batch_size=4, on_error=projections.Retry(initial_backoff=0.01)
        )
        handle, _ = await running(store, projection, nursery)
        async with trio.open_nursery() as writers:
            for index in range(4):
                writers.start_soon(deposits, store, f"acc-{index}", 5)
        with trio.fail_after(10):
            await checkpointed(handle, 20)
        assert handle.statistics().retries == 1
    assert applied(dsn, schema) == once_each(20)
    assert rows(
        dsn,
        f'SELECT aggregate_type, name, position, reset_pending FROM "{schema}".'
        "trio_es_projection_checkpoints",
    ) == [("bank_account", "applied", 20, False)]


async def test_skip_records_a_dead_letter(dsn: str, schema: str, nursery: trio.Nursery) -> None:
    def on_event(entry: Entry) -> None:
        if entry.position == 2:
            raise ValueError("position 2 is poison")

    async with running_store(dsn, schema) as store:
        await deposits(store, "acc-1", 3)
        handle, _ = await running(
            store, projections.per_event("skipper", on_event, on_error=Skip()), nursery
        )
        with trio.fail_after(10):
            await checkpointed(handle, 3)
        letters = (await projections.dead_letters(store, "skipper")).unwrap()
        assert [(d.position, d.aggregate_id, d.error) for d in letters] == [
            (2, "acc-1", "ValueError: position 2 is poison")
        ]
        (await projections.reset(store, "skipper")).unwrap()
        # The reset drops the dead letter and the projection, still running, rebuilds from
        # position 0 and skips position 2 again: one dead letter, not two.
        with trio.fail_after(10):
            await handle.wait_for(lambda s: s.skips == 2 and s.position == 3)
        letters = (await projections.dead_letters(store, "skipper")).unwrap()
        assert [(d.position, d.aggregate_id) for d in letters] == [(2, "acc-1")]


async def test_one_runner_at_a_time_and_a_standby_takes_over(
    dsn: str, schema: str, nursery: trio.Nursery
) -> None:
    async with running_store(dsn, schema) as first, running_store(dsn, schema) as second:
        make_applied(dsn, schema)
        await deposits(first, "acc-1", 10)
        one, one_supervisor = await running(first, projection_process.recorder(schema), nursery)
        with trio.fail_after(10):
            await checkpointed(one, 10)
        two, _ = await running(second, projection_process.recorder(schema), nursery)
        # That a second runner does not start can only be seen by giving it the time to:
        # a few of its attempts to take the lock.
        await trio.sleep(0.5)
        assert two.statistics().state is ProjectionState.STANDBY
        one_supervisor.shutdown()  # the holder goes; its lock with its connection
        await one_supervisor.wait_finished()
        started = time.monotonic()
        await deposits(first, "acc-2", 5)
        with trio.fail_after(10):
            await checkpointed(two, 15)
        assert time.monotonic() - started < 5
    assert applied(dsn, schema) == once_each(15)


async def test_a_killed_holder_is_taken_over_from_its_checkpoint(
    dsn: str, schema: str, nursery: trio.Nursery
) -> None:
    async with running_store(dsn, schema) as store:
        make_applied(dsn, schema)
        await deposits(store, "acc-1", 10)
        child = await trio.lowlevel.open_process(
            [sys.executable, "-m", "tests.postgres.projection_process", dsn, schema],
            stdout=subprocess.PIPE,
            env=child_environment(),
            cwd=ROOT,
        )
        try:
            assert child.stdout is not None
            with trio.fail_after(30):
                output = b""
                while b"live\n" not in output:
                    chunk = await child.stdout.receive_some()
                    assert chunk, "the child ended before it was live"
                    output += chunk
            standby, _ = await running(store, projection_process.recorder(schema), nursery)
            await trio.sleep(0.5)  # as above: time for the standby to try, and fail
            assert standby.statistics().state is ProjectionState.STANDBY
            child.send_signal(signal.SIGKILL)
            await child.wait()
            started = time.monotonic()
            await deposits(store, "acc-2", 5)
            with trio.fail_after(10):
                await standby.wait_for_position(15)
            assert time.monotonic() - started < 5
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
    assert applied(dsn, schema) == once_each(15)


async def test_a_runner_that_loses_its_lock_connection_restarts(
    dsn: str, schema: str, nursery: trio.Nursery
) -> None:
    async with running_store(dsn, schema) as store:
        make_applied(dsn, schema)
        await deposits(store, "acc-1", 5)
        handle, _ = await running(store, projection_process.recorder(schema), nursery)
        with trio.fail_after(10):
            await checkpointed(handle, 5)
        # The server ends the connection that holds the lock (as a failover of the server
        # or a network cut would): the lock may pass to another process now.
        (killed,) = rows(
            dsn,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            # As the store names its connections (PostgreSQL keeps 63 bytes of it).
            (f"trio-eventsourcing projection {schema}.trio_es_"[:63],),
        )
        assert killed == (True,)
        await deposits(store, "acc-2", 5)
        with trio.fail_after(10):
            stats = await handle.wait_for(lambda stats: stats.position == 10)
        assert stats.runs == 2  # it crashed on its next write, and was restarted
        assert "lost the connection that held its lock" in (stats.last_error or "")
    assert applied(dsn, schema) == once_each(10)


async def test_a_reset_from_another_process_rebuilds(
    dsn: str, schema: str, nursery: trio.Nursery
) -> None:
    resets: list[int] = []

    def on_batch(connection: psycopg.Connection[Any], entries: Sequence[Entry]) -> None:
        with connection.cursor() as cursor:
            cursor.executemany(
                f'INSERT INTO "{schema}".applied (position) VALUES (%s)',
                [(entry.position,) for entry in entries],
            )

    def on_reset(connection: psycopg.Connection[Any]) -> None:
        resets.append(1)
        connection.execute(f'DELETE FROM "{schema}".applied')

    async with running_store(dsn, schema) as first, running_store(dsn, schema) as second:
        make_applied(dsn, schema)
        await deposits(first, "acc-1", 6)
        projection = projections.transactional(
            "applied", on_batch, on_reset=on_reset, poll_interval=0.1
        )
        handle, _ = await running(first, projection, nursery)
        with trio.fail_after(10):
            await checkpointed(handle, 6)
            (await projections.reset(second, "applied")).unwrap()
            await handle.wait_for(lambda stats: stats.handled == 12)
    assert resets == [1]
    assert applied(dsn, schema) == once_each(6)


async def test_follow_log_wakes_on_notify(dsn: str, schema: str) -> None:
    async with running_store(dsn, schema) as store:
        await deposits(store, "acc-1", 2)
        async with projections.follow_log(store, 1, poll_interval=3600) as entries:
            with trio.fail_after(10):
                assert (await entries.receive()).position == 2
                assert isinstance(await append(store, "acc-1", 2, [deposited(1, 2)]), Ok)
                assert (await entries.receive()).position == 3


async def test_follow_log_raises_log_read_failed_itself_when_the_store_cannot_be_read(
    dsn: str, schema: str
) -> None:
    # Not an exception group: the LISTEN task's nursery ends before the failure is raised.
    store, _ = postgres_store.supervised(dsn, CODEC, schema=schema)

    async def follow() -> None:
        async with projections.follow_log(store) as entries:
            async for _ in entries:
                raise AssertionError("a store never started has no entries")

    with pytest.raises(projections.LogReadFailed, match="not started"):
        await follow()
