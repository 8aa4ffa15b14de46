"""Failures inside the store: a bad request in a batch, a crashed writer, a failing read."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from tests.contracts.store_contract import append, load, opened
from tests.sqlite.helpers import CODEC, BankSqliteStore, rows, running_store, writer_threads
from trio_eventsourcing import (
    Error,
    EventStoreError,
    Ok,
    OutcomeUnknown,
    StoreFailure,
    sqlite_store,
)
from trio_eventsourcing._stores.sqlite import writer as writer_module
from trio_eventsourcing.result import Result


@contextlib.contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """Hold the file's write lock from another connection, so that requests pile up."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
        connection.execute("COMMIT")
    finally:
        connection.close()


async def wait_until_taken(store: BankSqliteStore, batches_before: int) -> None:
    """Wait until the writer thread has closed a new batch and begun storing it."""
    running = store.eventstore._running
    assert running is not None
    counters = store.eventstore._counters
    # The writer is a real thread with no Trio event to wait on: poll its counter.
    while counters.batches_begun <= batches_before:  # noqa: ASYNC110
        await trio.sleep(0.001)


async def test_a_request_that_fails_in_a_batch_fails_alone(tmp_path: Path) -> None:
    # A lone surrogate cannot be stored as UTF-8: the batch's INSERT fails, and the writer
    # stores the batch again request by request, so that only the bad one fails.
    path = tmp_path / "bad-request.db"
    outcomes: dict[str, object] = {}

    async def write(aggregate_id: str) -> None:
        outcomes[aggregate_id] = await append(store, aggregate_id, 0, [opened("x")])

    async with running_store(path, busy_timeout=30.0) as store:
        before = store.eventstore.statistics()
        batches = store.eventstore._counters.batches_begun
        async with trio.open_nursery() as nursery:
            with write_lock_held(path):
                nursery.start_soon(write, "first")
                await wait_until_taken(store, batches)
                for aggregate_id in ("acc-1", "bad-\ud800", "acc-2", "acc-3"):
                    nursery.start_soon(write, aggregate_id)
                await trio.testing.wait_all_tasks_blocked()
        after = store.eventstore.statistics()
        bad = outcomes.pop("bad-\ud800")
        assert isinstance(bad, Error)
        assert isinstance(bad.error, EventStoreError)
        assert "storing events failed" in bad.error.message
        assert all(isinstance(outcome, Ok) for outcome in outcomes.values()), outcomes
        for aggregate_id in ("first", "acc-1", "acc-2", "acc-3"):
            assert [e.sequence for e in await load(store, aggregate_id)] == [1]
    assert after.commits - before.commits == 2
    assert after.transactions - before.transactions == 4
    assert rows(path, "SELECT count(*) FROM events") == [(4,)]


async def test_a_crashed_writer_fails_its_batch_and_the_supervisor_restarts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "crash.db"
    real_store = writer_module.SqliteWriteConnection.store
    crashes: list[int] = []

    def crash_once(self: writer_module.SqliteWriteConnection, batch: list[Any]) -> None:
        if not crashes:
            crashes.append(len(batch))
            raise RuntimeError("a bug in the writer")
        real_store(self, batch)

    monkeypatch.setattr(writer_module.SqliteWriteConnection, "store", crash_once)
    async with running_store(path) as store:
        failed = await append(store, "acc-1", 0, [opened("acc-1")])
        assert isinstance(failed, Error)
        assert isinstance(failed.error, EventStoreError)
        assert failed.error.kind is StoreFailure.NOT_RUNNING
        assert "has stopped" in failed.error.message
        # The supervisor restarts the store's child; meanwhile calls say it is not running.
        with trio.fail_after(5):
            while True:
                outcome = await append(store, "acc-1", 0, [opened("acc-1")])
                if isinstance(outcome, Ok):
                    break
                await trio.sleep(0.001)
        assert [e.sequence for e in await load(store, "acc-1")] == [1]
    assert crashes == [1]
    assert writer_threads() == []


async def test_a_read_that_raises_is_an_error_and_the_reader_lives_on(tmp_path: Path) -> None:
    async with running_store(tmp_path / "read.db", max_readers=1) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
        running = store.eventstore._running
        assert running is not None

        def broken(connection: sqlite3.Connection) -> Result[int, EventStoreError]:
            raise ZeroDivisionError("a bug in a read")

        failed = await running.readers.run("a broken read", broken)
        assert isinstance(failed, Error)
        assert "a broken read raised" in failed.error.message
        assert "ZeroDivisionError" in failed.error.message
        # The only reader thread still serves reads.
        assert [e.sequence for e in await load(store, "acc-1")] == [1]


async def test_a_read_whose_caller_is_cancelled_is_abandoned(tmp_path: Path) -> None:
    async with running_store(tmp_path / "abandon.db", max_readers=1) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
        running = store.eventstore._running
        assert running is not None
        release = trio.Event()
        token = trio.lowlevel.current_trio_token()
        started: list[bool] = []

        def slow(connection: sqlite3.Connection) -> Ok[int]:
            started.append(True)
            trio.from_thread.run(release.wait, trio_token=token)
            return Ok(1)

        with trio.move_on_after(0.05) as scope:
            await running.readers.run("a slow read", slow)
        assert scope.cancelled_caught
        assert started == [True]
        release.set()
        # The reader finished the abandoned read and serves the next one.
        assert [e.sequence for e in await load(store, "acc-1")] == [1]


async def test_store_functions_are_checkpoints(tmp_path: Path) -> None:
    async with running_store(tmp_path / "checkpoints.db") as store:
        with trio.testing.assert_checkpoints():
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
        with trio.testing.assert_checkpoints():
            await load(store, "acc-1")
        with trio.testing.assert_checkpoints():
            await sqlite_store.read_log(store)


def test_codec_is_exposed_by_the_store(tmp_path: Path) -> None:
    store, _ = sqlite_store.supervised(tmp_path / "codec.db", CODEC)
    assert store.eventstore.codec is CODEC
    assert repr(store.eventstore) == f"<SqliteStore {str(tmp_path / 'codec.db')!r} not running>"


class _CrashAfterCommit:
    """A write connection whose first ``COMMIT`` succeeds, then raises a bug's error."""

    def __init__(self, connection: sqlite3.Connection, crashes: list[str]) -> None:
        self._connection = connection
        self._crashes = crashes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def execute(self, sql: str, *parameters: Any) -> sqlite3.Cursor:
        cursor = self._connection.execute(sql, *parameters)
        if sql == "COMMIT" and not self._crashes:
            self._crashes.append(sql)
            raise RuntimeError("a bug in the writer, after the commit")
        return cursor


async def test_a_writer_that_crashes_after_its_commit_says_the_outcome_is_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bug between the COMMIT and the answers: the batch is stored, so "failed" would
    # be a lie; the request learns that it may be stored, and its key says it is.
    crashes: list[str] = []
    make = writer_module.SqliteWriteConnection.__init__

    def crashing(
        self: writer_module.SqliteWriteConnection,
        connection: sqlite3.Connection,
        *rest: Any,
    ) -> None:
        make(self, _CrashAfterCommit(connection, crashes), *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(writer_module.SqliteWriteConnection, "__init__", crashing)
    async with running_store(tmp_path / "after-commit.db") as store:
        before = store.eventstore._running
        outcome = await append(store, "acc-1", 0, [opened("acc-1")], key="k1")
        assert isinstance(outcome, Error), outcome
        assert isinstance(outcome.error, OutcomeUnknown), outcome
        assert (outcome.error.aggregate_id, outcome.error.idempotency_key) == ("acc-1", "k1")
        # The supervisor restarts the store (new threads: poll).
        with trio.fail_after(5):
            while store.eventstore._running in (None, before):  # noqa: ASYNC110
                await trio.sleep(0.001)
        assert await store.command_stored(store.eventstore, "acc-1", "k1") == Ok(True)
        assert [e.sequence for e in await load(store, "acc-1")] == [1]
    assert crashes == ["COMMIT"]
