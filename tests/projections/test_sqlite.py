"""What the SQLite store adds: exactly-once read models in the checkpoint's transaction,
the schema upgrade from version 1, and a projection that waits out a store that is down."""

from __future__ import annotations

import logging
import signal
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import trio
import trio.testing

from tests.contracts.durable_support import ROOT, child_environment
from tests.contracts.log_contract import write_concurrently
from tests.projections import crash_projection
from tests.projections.helpers import ReadModel, checkpointed, deposit_many, running
from tests.sqlite.helpers import CODEC, STORE_TABLES, execute, rows, running_store, tables
from tests.sqlite.old_versions import version_1_file
from trio_eventsourcing import Ok, projections, sqlite_store, static_supervisor
from trio_eventsourcing.examples.bank_account import BankAccountEvent
from trio_eventsourcing.projections import ProjectionState, Retry, Skip, Stop

LogEntry = sqlite_store.LogEntry[BankAccountEvent]

APPLIED = "CREATE TABLE applied (position INTEGER NOT NULL)"


def applied(path: Path) -> list[tuple[int, int]]:
    """Each position in the read model, with how many times it is there."""
    return [
        (int(position), int(count))
        for position, count in rows(
            path, "SELECT position, count(*) FROM applied GROUP BY position ORDER BY position"
        )
    ]


def once_each(last: int) -> list[tuple[int, int]]:
    return [(position, 1) for position in range(1, last + 1)]


async def test_the_read_model_and_the_checkpoint_commit_together(tmp_path: Path) -> None:
    path = tmp_path / "exactly-once.db"
    fail_once = [True]

    def on_batch(connection: sqlite3.Connection, entries: Sequence[LogEntry]) -> None:
        crash_projection.record(connection, entries)
        if fail_once and any(entry.position == 13 for entry in entries):
            fail_once.clear()
            # After the handler's writes, before the commit: as if the process died.
            raise RuntimeError("crashed after the handler wrote")

    projection = projections.transactional(
        "applied", on_batch, batch_size=5, on_error=Retry(initial_backoff=0.01)
    )
    async with running_store(path) as store:
        execute(path, APPLIED)
        async with running(store, projection) as handle:
            total = await write_concurrently([store], writers=6, commits=8)
            with trio.fail_after(10):
                await checkpointed(handle, total)
            stats = handle.statistics()
        assert await projections.checkpoint(store, "applied") == Ok(total)
    assert applied(path) == once_each(total)
    assert (stats.retries, stats.handled) == (1, total)
    assert rows(path, "SELECT name, position, reset_pending FROM projection_checkpoints") == [
        ("applied", total, 0)
    ]


async def test_a_kill_between_the_handler_and_the_commit_applies_nothing(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    async with running_store(path, crash_projection.CODEC) as store:
        await deposit_many(store, "acc-1", 30)
        execute(path, APPLIED)
    with trio.fail_after(30):
        child = await trio.run_process(
            [sys.executable, "-m", "tests.projections.crash_projection", str(path), "13"],
            env=child_environment(),
            cwd=ROOT,
            check=False,
            capture_stderr=True,
        )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode(errors="replace")
    # Batches 1-5 and 6-10 committed; 11-15 died with its process.
    assert applied(path) == once_each(10)
    assert rows(path, "SELECT position FROM projection_checkpoints") == [(10,)]
    projection = projections.transactional("applied", crash_projection.record, batch_size=5)
    async with (
        running_store(path, crash_projection.CODEC) as store,
        running(store, projection) as handle,
    ):
        with trio.fail_after(10):
            await checkpointed(handle, 30)
    assert applied(path) == once_each(30)


async def test_skip_rolls_back_the_failed_event_and_records_it(tmp_path: Path) -> None:
    path = tmp_path / "skip.db"

    def on_batch(connection: sqlite3.Connection, entries: Sequence[LogEntry]) -> None:
        crash_projection.record(connection, entries)
        if any(entry.position == 4 for entry in entries):
            raise ValueError("position 4 is poison")

    projection = projections.transactional("applied", on_batch, batch_size=3, on_error=Skip())
    async with running_store(path) as store:
        execute(path, APPLIED)
        await deposit_many(store, "acc-1", 7)
        async with running(store, projection) as handle:
            with trio.fail_after(10):
                await checkpointed(handle, 7)
            assert handle.statistics().skips == 1
        letters = (await projections.dead_letters(store, "applied")).unwrap()
    assert [position for position, _ in applied(path)] == [1, 2, 3, 5, 6, 7]
    assert [(d.position, d.event_type, d.error) for d in letters] == [
        (4, "CustomerDepositedCash", "ValueError: position 4 is poison")
    ]
    assert rows(
        path, "SELECT projection, position, aggregate_type FROM projection_dead_letters"
    ) == [("applied", 4, "bank_account")]


async def test_a_handler_that_ends_the_transaction_is_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "rogue.db"

    def on_batch(connection: sqlite3.Connection, entries: Sequence[LogEntry]) -> None:
        connection.execute("ROLLBACK")

    projection = projections.transactional("rogue", on_batch, on_error=Stop())
    async with running_store(path) as store:
        await deposit_many(store, "acc-1", 2)
        async with running(store, projection) as handle:
            with trio.fail_after(10):
                await handle.wait_for(lambda s: s.state is ProjectionState.STOPPED)
        # The store is unharmed: it still commits.
        await deposit_many(store, "acc-1", 1, after=2)
    assert "ended the store's transaction" in (handle.statistics().last_error or "")
    assert rows(path, "SELECT position FROM projection_checkpoints") == [(0,)]
    assert any("ended the store's transaction" in r.getMessage() for r in caplog.records)


async def test_a_transactional_rebuild_clears_and_rebuilds_in_the_store(tmp_path: Path) -> None:
    path = tmp_path / "rebuild.db"
    resets: list[int] = []

    def on_reset(connection: sqlite3.Connection) -> None:
        resets.append(1)
        connection.execute("DELETE FROM applied")

    projection = projections.transactional(
        "applied", crash_projection.record, batch_size=4, on_reset=on_reset
    )
    async with running_store(path) as store:
        execute(path, APPLIED)
        await deposit_many(store, "acc-1", 9)
        async with running(store, projection) as handle:
            with trio.fail_after(10):
                await checkpointed(handle, 9)
                before = applied(path)
                (await projections.reset(store, "applied")).unwrap()
                # Handled twice: once, then once more after the reset.
                stats = await handle.wait_for(lambda s: s.handled == 18)
    assert stats.position == 9
    assert resets == [1]
    assert before == applied(path) == once_each(9)
    assert rows(path, "SELECT reset_pending FROM projection_checkpoints") == [(0,)]


async def test_a_projection_waits_out_a_store_that_is_not_running(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="trio_eventsourcing.projections")
    model = ReadModel()
    store, store_spec = sqlite_store.supervised(tmp_path / "late.db", CODEC)
    handle, spec = projections.supervised(store, projections.per_event("late", model.on_event))
    async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
        await trio.testing.wait_all_tasks_blocked()
        assert handle.statistics().store_errors >= 1
        assert handle.statistics().state is ProjectionState.RETRYING
        async with static_supervisor.new(static_supervisor.OneForOne).add(store_spec).open():
            await deposit_many(store, "acc-1", 3)
            with trio.fail_after(10):
                await checkpointed(handle, 3)
    assert model.positions == [1, 2, 3]
    assert "is not started" in caplog.text


# --- the schema: version 1 files are upgraded ----------------------------------------------


async def test_a_version_1_file_is_upgraded_when_opened(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trio_eventsourcing.sqlite_store")
    path = tmp_path / "v1.db"
    version_1_file(path, events=4)
    model = ReadModel()
    async with running_store(path) as store:
        assert rows(path, "PRAGMA user_version") == [(sqlite_store.SCHEMA_VERSION,)]
        async with running(store, projections.per_event("after-upgrade", model.on_event)) as handle:
            await deposit_many(store, "acc-1", 1, after=4)
            with trio.fail_after(10):
                await checkpointed(handle, 5)
    assert model.positions == [1, 2, 3, 4, 5]
    assert sqlite_store.SCHEMA_VERSION == 6
    assert tables(path) == STORE_TABLES
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]
    assert "from schema version 1 to 6" in caplog.text


async def test_an_upgrade_that_fails_leaves_version_1_whole(tmp_path: Path) -> None:
    path = tmp_path / "clash.db"
    version_1_file(path, events=2)
    # A read model of the user's with the name the upgrade needs: its CREATE fails.
    execute(path, "CREATE TABLE projection_dead_letters (whatever TEXT)")
    _, spec = sqlite_store.supervised(path, CODEC)
    async with trio.open_nursery() as nursery:
        started = await spec.start(nursery)
    assert not isinstance(started, Ok)
    assert "projection_dead_letters" in started.error.reason
    assert rows(path, "PRAGMA user_version") == [(1,)]
    assert "projection_checkpoints" not in tables(path)
    assert rows(path, "SELECT count(*) FROM events") == [(2,)]


async def test_a_version_2_file_missing_a_projection_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    async with running_store(path):
        pass
    execute(path, "DROP TABLE projection_checkpoints")
    _, spec = sqlite_store.supervised(path, CODEC)
    async with trio.open_nursery() as nursery:
        started = await spec.start(nursery)
    assert not isinstance(started, Ok)
    assert "damaged" in started.error.reason
    assert "projection_checkpoints" in started.error.reason
