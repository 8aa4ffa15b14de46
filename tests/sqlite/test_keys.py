"""Idempotency keys in the SQLite file: stored once per aggregate, in every path of the writer.

The store contract (``tests/contracts``) covers what every store does with keys; these
tests cover what is SQLite's own: the table of keys and its primary key, the group commit's
paths (a batch, and the request-by-request pass after a batch fails), the upgrade of
files written before keys existed, the statement's parameter limit, and reads of ids
SQLite cannot take.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio

from tests.contracts.store_contract import append, deposited, is_stored, load, opened
from tests.sqlite.helpers import CODEC, BankSqliteStore, execute, in_one_batch, rows, running_store
from trio_eventsourcing import (
    Aggregate,
    CommandAlreadyStored,
    ConcurrencyConflict,
    Error,
    EventEnvelop,
    EventStoreError,
    Ok,
    Snapshot,
    StoreResult,
    sqlite_store,
)
from trio_eventsourcing._stores.sqlite.schema import COMMAND_KEYS_TABLE
from trio_eventsourcing.examples.bank_account import BankAccount, BankAccountEvent

Write = Callable[[], Awaitable[StoreResult[object]]]


def write(
    store: BankSqliteStore,
    aggregate_id: str,
    expected: int,
    key: str | None,
    events: list[BankAccountEvent] | None = None,
) -> Write:
    async def run() -> StoreResult[object]:
        return await append(
            store, aggregate_id, expected, events or [deposited(1, expected + 1)], key=key
        )

    return run


def barrier(store: BankSqliteStore) -> Write:
    return write(store, "barrier", 0, None, [opened("barrier")])


# --- the table of keys ----------------------------------------------------------------------


async def test_a_commit_keeps_its_key_once_whatever_its_events(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    async with running_store(path) as store:
        events: list[BankAccountEvent] = [opened("acc-1"), deposited(5, 5), deposited(1, 6)]
        assert isinstance(await append(store, "acc-1", 0, events, key="open-1"), Ok)
        assert isinstance(await append(store, "acc-1", 3, [deposited(1, 7)]), Ok)
        assert isinstance(await append(store, "acc-1", 4, [], key="nothing"), Ok)
        assert await is_stored(store, "acc-1", "nothing")
    assert rows(path, "SELECT aggregate_id, command_key FROM command_keys ORDER BY 2") == [
        ("acc-1", "nothing"),
        ("acc-1", "open-1"),
    ]
    assert rows(path, "SELECT count(*) FROM events") == [(4,)]


async def test_the_table_refuses_a_second_copy_of_a_key_even_from_outside(tmp_path: Path) -> None:
    path = tmp_path / "unique.db"
    async with running_store(path) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")], key="k"), Ok)
    insert = "INSERT INTO command_keys (aggregate_id, command_key) VALUES (?, ?)"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        with pytest.raises(sqlite3.IntegrityError, match="command_keys"):
            connection.execute(insert, ("acc-1", "k"))
        connection.execute(insert, ("acc-2", "k"))  # another aggregate
        connection.commit()


async def test_looking_a_key_up_is_one_seek(tmp_path: Path) -> None:
    path = tmp_path / "plan.db"
    async with running_store(path):
        pass
    plan = rows(
        path,
        "EXPLAIN QUERY PLAN SELECT 1 FROM command_keys WHERE aggregate_id = 'a'"
        " AND command_key = 'k'",
    )
    assert any("USING PRIMARY KEY (aggregate_id=? AND command_key=?)" in str(r) for r in plan), plan


# --- keys in the group commit -----------------------------------------------------------------


async def test_one_key_twice_in_one_batch_is_stored_once(tmp_path: Path) -> None:
    async with running_store(tmp_path / "batch.db", busy_timeout=30.0) as store:
        for account in ("acc-1", "acc-2"):
            assert isinstance(await append(store, account, 0, [opened(account)]), Ok)
        before = store.eventstore.statistics()
        outcomes = await in_one_batch(
            store,
            barrier(store),
            [
                write(store, "acc-1", 1, "k1"),
                write(store, "acc-1", 1, "k1"),  # the same command again: stale too
                write(store, "acc-2", 1, "k2"),
                write(store, "acc-2", 2, "k2"),  # the same key on a current sequence
                write(store, "acc-2", 2, "k3"),
            ],
        )
        after = store.eventstore.statistics()
        assert outcomes == [
            outcomes[0],
            Error(CommandAlreadyStored("acc-1", "k1")),
            outcomes[2],
            Error(CommandAlreadyStored("acc-2", "k2")),
            outcomes[4],
        ]
        assert all(isinstance(outcomes[n], Ok) for n in (0, 2, 4)), outcomes
        assert [e.sequence for e in await load(store, "acc-1")] == [1, 2]
        assert [e.sequence for e in await load(store, "acc-2")] == [1, 2, 3]
    assert after.largest_batch >= 5
    assert after.conflicts == before.conflicts  # a key stored already is no conflict
    assert after.transactions - before.transactions == 4  # the barrier and three


async def test_a_stored_key_on_a_current_sequence_fails_alone_in_its_batch(
    tmp_path: Path,
) -> None:
    # The batch's INSERT meets the unique index; the request-by-request pass names the
    # request whose key is stored, and stores the others.
    path = tmp_path / "across.db"
    async with running_store(path, busy_timeout=30.0) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")], key="k1"), Ok)
        outcomes = await in_one_batch(
            store,
            barrier(store),
            [
                write(store, "acc-2", 0, "k1", [opened("acc-2")]),
                write(store, "acc-1", 1, "k1"),
                write(store, "acc-3", 0, "k9", [opened("acc-3")]),
            ],
        )
        assert isinstance(outcomes[0], Ok), outcomes
        assert outcomes[1] == Error(CommandAlreadyStored("acc-1", "k1"))
        assert isinstance(outcomes[2], Ok), outcomes
        assert [e.sequence for e in await load(store, "acc-1")] == [1]
        assert await is_stored(store, "acc-2", "k1")
    assert rows(path, "SELECT count(*) FROM command_keys WHERE command_key = 'k1'") == [(2,)]


async def test_a_stored_key_with_a_stale_sequence_is_already_stored_in_a_batch(
    tmp_path: Path,
) -> None:
    async with running_store(tmp_path / "stale.db", busy_timeout=30.0) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")], key="open"), Ok)
        assert isinstance(await append(store, "acc-1", 1, [deposited(1, 1)], key="d1"), Ok)
        before = store.eventstore.statistics()
        outcomes = await in_one_batch(
            store,
            barrier(store),
            [
                write(store, "acc-1", 0, "open", [opened("acc-1")]),
                write(store, "acc-1", 1, "d1"),
                write(store, "acc-1", 1, "d2"),  # stale, key not stored: a conflict
            ],
        )
        assert outcomes == [
            Error(CommandAlreadyStored("acc-1", "open")),
            Error(CommandAlreadyStored("acc-1", "d1")),
            Error(ConcurrencyConflict("acc-1", 1, 2)),
        ]
        assert store.eventstore.statistics().conflicts == before.conflicts + 1


async def test_a_failed_request_leaves_its_key_free(tmp_path: Path) -> None:
    # A lone surrogate fails its request alone (see test_failures): its key is not kept.
    async with running_store(tmp_path / "free.db", busy_timeout=30.0) as store:
        outcomes = await in_one_batch(
            store,
            barrier(store),
            [
                write(store, "bad-\ud800", 0, "k", [opened("x")]),
                write(store, "acc-1", 0, "k", [opened("acc-1")]),
            ],
        )
        assert isinstance(outcomes[0], Error), outcomes
        assert isinstance(outcomes[1], Ok), outcomes
        assert isinstance(await append(store, "acc-2", 0, [opened("acc-2")], key="k"), Ok)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Connection.setlimit is 3.11+")
async def test_a_large_batch_stays_within_the_oldest_parameter_limit(tmp_path: Path) -> None:
    # SQLite before 3.32 allows 999 parameters per statement: the writer's statements
    # must fit that, whatever the build this test runs on allows.
    path = tmp_path / "limit.db"
    async with running_store(path, busy_timeout=30.0) as store:
        running = store.eventstore._running
        assert running is not None
        # mypy checks for Python 3.10, which has neither.
        limit = sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER  # type: ignore[attr-defined]
        running.writer._connection._connection.setlimit(limit, 999)  # type: ignore[attr-defined]
        accounts = [f"acc-{n}" for n in range(300)]
        outcomes = await in_one_batch(
            store,
            barrier(store),
            [
                write(store, account, 0, f"k-{account}", [opened(account), deposited(1, 1)])
                for account in accounts
            ],
        )
        assert all(isinstance(outcome, Ok) for outcome in outcomes), outcomes[:3]
        assert store.eventstore.statistics().largest_batch >= 300
    assert rows(path, "SELECT count(*) FROM events") == [(601,)]
    assert rows(path, "SELECT count(*) FROM command_keys") == [(300,)]


# --- files written before keys existed --------------------------------------------------------

# What version 2 of the store wrote, kept as it was: the upgrade must take these files.
VERSION_2 = (
    """
    CREATE TABLE events (
        position INTEGER PRIMARY KEY,
        aggregate_type TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        sequence INTEGER NOT NULL CHECK (sequence >= 1),
        event_type TEXT NOT NULL,
        event_version INTEGER NOT NULL,
        payload TEXT NOT NULL,
        metadata TEXT NOT NULL,
        recorded_at TEXT NOT NULL
            DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
        UNIQUE (aggregate_id, sequence)
    )
    """,
    """
    CREATE TABLE snapshots (
        aggregate_id TEXT PRIMARY KEY,
        aggregate_type TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        entity_type TEXT NOT NULL,
        entity_version INTEGER NOT NULL,
        payload TEXT NOT NULL,
        taken_at TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE projection_checkpoints (
        aggregate_type TEXT NOT NULL,
        name TEXT NOT NULL,
        position INTEGER NOT NULL CHECK (position >= 0),
        reset_pending INTEGER NOT NULL DEFAULT 0 CHECK (reset_pending IN (0, 1)),
        updated_at TEXT NOT NULL
            DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
        PRIMARY KEY (aggregate_type, name)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE projection_dead_letters (
        id INTEGER PRIMARY KEY,
        aggregate_type TEXT NOT NULL,
        projection TEXT NOT NULL,
        position INTEGER NOT NULL,
        aggregate_id TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        error TEXT NOT NULL,
        recorded_at TEXT NOT NULL
    )
    """,
    """
    CREATE INDEX projection_dead_letters_by_projection
        ON projection_dead_letters (aggregate_type, projection, position)
    """,
    f"PRAGMA application_id = {sqlite_store.APPLICATION_ID}",
    "PRAGMA user_version = 2",
)


def version_2_file(path: Path) -> None:
    """A store file as version 2 left it, with one account of two events."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as connection:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("BEGIN")
        for statement in VERSION_2:
            connection.execute(statement)
        connection.executemany(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,"
            " event_version, payload, metadata) VALUES ('bank_account', 'acc-1', ?, ?, 1, ?, '[]')",
            [
                (1, "AccountOpened", '{"account_id":"acc-1"}'),
                (2, "CustomerDepositedCash", '{"amount":"5","new_balance":"5"}'),
            ],
        )
        connection.execute("COMMIT")


async def test_a_version_2_file_is_upgraded_and_keeps_its_events(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="trio_eventsourcing.sqlite_store")
    path = tmp_path / "v2.db"
    version_2_file(path)
    async with running_store(path) as store:
        assert [e.payload for e in await load(store, "acc-1")] == [
            opened("acc-1"),
            deposited(5, 5),
        ]
        assert isinstance(await append(store, "acc-1", 2, [deposited(1, 6)], key="d"), Ok)
        again = await append(store, "acc-1", 3, [deposited(1, 7)], key="d")
        assert again == Error(CommandAlreadyStored("acc-1", "d"))
        assert not await is_stored(store, "acc-1", "never")
    assert rows(path, "PRAGMA user_version") == [(sqlite_store.SCHEMA_VERSION,)]
    assert rows(path, "SELECT sequence FROM events ORDER BY sequence") == [(1,), (2,), (3,)]
    assert rows(path, "SELECT aggregate_id, command_key FROM command_keys") == [("acc-1", "d")]
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]
    assert f"from schema version 2 to {sqlite_store.SCHEMA_VERSION}" in caplog.text


async def test_an_upgrade_that_fails_leaves_version_2_whole(tmp_path: Path) -> None:
    path = tmp_path / "clash.db"
    version_2_file(path)
    # A read model of the user's with the name the upgrade needs: its CREATE fails.
    execute(path, f"CREATE TABLE {COMMAND_KEYS_TABLE} (whatever TEXT)")
    _, spec = sqlite_store.supervised(path, CODEC)
    async with trio.open_nursery() as nursery:
        started = await spec.start(nursery)
    assert not isinstance(started, Ok)
    assert COMMAND_KEYS_TABLE in started.error.reason
    assert rows(path, "PRAGMA user_version") == [(2,)]
    assert [row[1] for row in rows(path, f"PRAGMA table_info({COMMAND_KEYS_TABLE})")] == [
        "whatever"
    ]
    assert rows(path, "SELECT count(*) FROM events") == [(2,)]


async def test_a_file_of_this_version_without_its_table_of_keys_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "no-keys.db"
    async with running_store(path):
        pass
    execute(path, f"DROP TABLE {COMMAND_KEYS_TABLE}")
    _, spec = sqlite_store.supervised(path, CODEC)
    async with trio.open_nursery() as nursery:
        started = await spec.start(nursery)
    assert not isinstance(started, Ok)
    assert "damaged" in started.error.reason
    assert COMMAND_KEYS_TABLE in started.error.reason


# --- ids SQLite cannot take ---------------------------------------------------------------------


async def test_reads_of_an_id_with_a_lone_surrogate_are_refused_cleanly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = "bad\ud800id"
    async with running_store(tmp_path / "surrogate.db") as store:
        Tx = sqlite_store.SqliteTransaction[BankAccount, BankAccountEvent]

        async def events(tx: Tx) -> StoreResult[list[EventEnvelop[BankAccountEvent]]]:
            return await store.load_events(store.eventstore, tx, bad, 0)

        async def snapshot(tx: Tx) -> StoreResult[Snapshot[BankAccount] | None]:
            return await store.load_snapshot(tx, bad)

        async def aggregate(tx: Tx) -> StoreResult[Aggregate[BankAccount]]:
            loaded = await store.load_snapshot(tx, bad)
            assert isinstance(loaded, Error), loaded
            return loaded

        outcomes: list[StoreResult[object]] = [
            await store.load_events_transaction(events),
            await store.get_latest_snapshot_transaction(snapshot),
            await store.load_aggregate_transaction(aggregate),
            await store.command_stored(store.eventstore, bad, "k"),
            await store.command_stored(store.eventstore, "acc-1", "k\ud800"),
        ]
        assert await store.command_stored(store.eventstore, "acc-1", "k") == Ok(False)
    for outcome in outcomes:
        assert isinstance(outcome, Error), outcome
        assert isinstance(outcome.error, EventStoreError), outcome
        assert outcome.error.message.startswith("cannot")
        assert "lone surrogate" in outcome.error.message
    assert not [record for record in caplog.records if record.exc_info]
