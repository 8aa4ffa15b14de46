"""Failures inside the SQLite store: a request SQLite cannot store, a failing read.

A request the database refuses, and a writer that crashes, are ``DurableStoreContract``'s.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import trio
import trio.testing

from tests.contracts.store_contract import append, load, opened
from tests.sqlite.helpers import CODEC, in_one_batch, rows, running_store
from trio_eventsourcing import Error, EventStoreError, Ok, sqlite_store
from trio_eventsourcing.result import Result


async def test_a_request_that_fails_in_a_batch_fails_alone_and_leaves_its_key_free(
    tmp_path: Path,
) -> None:
    # A lone surrogate cannot be stored as UTF-8: the batch's INSERT fails, and the writer
    # stores the batch again request by request, so that only the bad one fails, and
    # nothing of it is kept, its key neither.
    path = tmp_path / "bad-request.db"
    async with running_store(path, busy_timeout=30.0) as store:
        before = store.eventstore.statistics()
        outcomes = await in_one_batch(
            store,
            lambda: append(store, "first", 0, [opened("x")]),
            [
                lambda: append(store, "acc-1", 0, [opened("x")]),
                lambda: append(store, "bad-\ud800", 0, [opened("x")], key="k"),
                lambda: append(store, "acc-2", 0, [opened("x")], key="k"),
                lambda: append(store, "acc-3", 0, [opened("x")]),
            ],
        )
        after = store.eventstore.statistics()
        bad = outcomes.pop(1)
        assert isinstance(bad, Error)
        assert isinstance(bad.error, EventStoreError)
        assert "storing events failed" in bad.error.message
        assert all(isinstance(outcome, Ok) for outcome in outcomes), outcomes
        for aggregate_id in ("first", "acc-1", "acc-2", "acc-3"):
            assert [e.sequence for e in await load(store, aggregate_id)] == [1]
        assert isinstance(await append(store, "acc-4", 0, [opened("acc-4")], key="k"), Ok)
    assert after.commits - before.commits == 2
    assert after.transactions - before.transactions == 4
    assert rows(path, "SELECT count(*) FROM events") == [(5,)]


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


def test_codec_is_exposed_by_the_store(tmp_path: Path) -> None:
    store, _ = sqlite_store.supervised(tmp_path / "codec.db", CODEC)
    assert store.eventstore.codec is CODEC
    assert (
        repr(store.eventstore)
        == f"<SqliteStore {str(tmp_path / 'codec.db')!r} 'bank_account' not running>"
    )
