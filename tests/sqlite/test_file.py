"""The database file: created on first use, recognised as ours, refused when it is not.

What every durable store promises of its storage (refusing a newer or damaged one, the
store's lifetime) is ``DurableStoreContract``, run by ``tests/test_sqlite_store.py``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trio

from tests.contracts.store_contract import append, load, opened
from tests.sqlite.helpers import (
    CODEC,
    STORE_TABLES,
    execute,
    file_bytes,
    rows,
    running_store,
    tables,
    writer_threads,
)
from trio_eventsourcing import (
    Error,
    EventStoreError,
    Ok,
    StoreFailure,
    sqlite_store,
)
from trio_eventsourcing._stores.sqlite import schema as schema_module


async def start_error(path: Path) -> str:
    """Start a store on ``path``, expecting the start to fail; return the reason."""
    store, spec = sqlite_store.supervised(path, CODEC)
    async with trio.open_nursery() as nursery:
        started = await spec.start(nursery)
    assert isinstance(started, Error), started
    # The store never ran: its functions say so.
    assert await append(store, "acc-1", 0, [opened("acc-1")]) == Error(
        EventStoreError(
            f"the SQLite store {str(path)!r} is not started: start the child specification "
            "from sqlite_store.supervised() under a supervisor first",
            StoreFailure.NOT_RUNNING,
        )
    )
    assert writer_threads() == []
    return started.error.reason


# --- a new file --------------------------------------------------------------------------


async def test_a_new_file_gets_the_schema_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    async with running_store(path) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
    assert rows(path, "PRAGMA application_id") == [(sqlite_store.APPLICATION_ID,)]
    assert rows(path, "PRAGMA user_version") == [(sqlite_store.SCHEMA_VERSION,)]
    assert rows(path, "PRAGMA journal_mode") == [("wal",)]
    assert tables(path) == STORE_TABLES
    stored = rows(
        path,
        "SELECT position, aggregate_type, aggregate_id, sequence, event_type, event_version,"
        " payload, metadata FROM events",
    )
    assert stored == [
        (1, "bank_account", "acc-1", 1, "AccountOpened", 1, '{"account_id":"acc-1"}', "[]")
    ]


async def test_an_empty_file_is_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    async with running_store(path) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
    assert rows(path, "PRAGMA application_id") == [(sqlite_store.APPLICATION_ID,)]


async def test_a_path_object_and_a_relative_path_name_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with running_store(Path("relative.db")) as store:
        assert store.eventstore.path == str(tmp_path / "relative.db")
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
    assert (tmp_path / "relative.db").exists()


async def test_synchronous_normal_is_accepted_and_stores_too(tmp_path: Path) -> None:
    async with running_store(tmp_path / "normal.db", synchronous="NORMAL") as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
        assert [e.sequence for e in await load(store, "acc-1")] == [1]


# --- files that are not ours are refused, untouched ---------------------------------------


async def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("These are my notes, not a database.\n" * 20)
    before = file_bytes(path)
    reason = await start_error(path)
    assert "is not an SQLite database" in reason
    assert str(path) in reason
    assert file_bytes(path) == before


async def test_a_database_of_another_application_is_refused_and_left_untouched(
    tmp_path: Path,
) -> None:
    path = tmp_path / "other.db"
    execute(
        path,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)",
        "INSERT INTO users (name) VALUES ('alice')",
    )
    before = file_bytes(path)
    reason = await start_error(path)
    assert "another application" in reason
    assert "users" in reason
    assert file_bytes(path) == before
    assert rows(path, "PRAGMA journal_mode") == [("delete",)]


async def test_a_database_with_another_application_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other-id.db"
    execute(path, "PRAGMA application_id = 42")
    before = file_bytes(path)
    reason = await start_error(path)
    assert "application_id 42" in reason
    assert file_bytes(path) == before


async def test_a_file_in_a_missing_directory_fails_to_start_clearly(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "dir.db"
    reason = await start_error(path)
    assert "opening failed" in reason
    assert str(path) in reason


def _locked_at_first(monkeypatch: pytest.MonkeyPatch, times: int) -> list[str]:
    """Make the schema check find the file locked by another start ``times`` times."""
    inspect = schema_module._inspect
    raised: list[str] = []

    def locked_then_inspect(connection: sqlite3.Connection) -> tuple[int, int, list[str]]:
        if len(raised) < times:
            raised.append("locked")
            # What SQLite answers at once where waiting for the lock could deadlock.
            raise sqlite3.OperationalError("database is locked")
        return inspect(connection)

    monkeypatch.setattr(schema_module, "_inspect", locked_then_inspect)
    return raised


async def test_a_file_another_start_holds_is_opened_once_it_is_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raised = _locked_at_first(monkeypatch, times=3)
    path = tmp_path / "busy.db"
    async with running_store(path) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
    assert raised == ["locked"] * 3
    assert tables(path) == STORE_TABLES


async def test_a_file_held_longer_than_busy_timeout_fails_to_start_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _locked_at_first(monkeypatch, times=1_000_000)
    path = tmp_path / "held.db"
    _, spec = sqlite_store.supervised(path, CODEC, busy_timeout=0.05)
    async with trio.open_nursery() as nursery:
        started = await spec.start(nursery)
    assert isinstance(started, Error), started
    assert "checking the schema failed" in started.error.reason
    assert "database is locked" in started.error.reason


async def test_extra_tables_in_our_database_are_left_alone(tmp_path: Path) -> None:
    # A read model may live in the same file as the events (projections do that).
    path = tmp_path / "with-read-model.db"
    async with running_store(path):
        pass
    execute(path, "CREATE TABLE balances (account TEXT PRIMARY KEY, balance TEXT)")
    async with running_store(path) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
    assert rows(path, "SELECT count(*) FROM balances") == [(0,)]


# --- the store's lifetime -----------------------------------------------------------------


async def test_stopping_closes_every_connection_and_ends_the_writer_thread(
    tmp_path: Path,
) -> None:
    path = tmp_path / "stop.db"
    async with running_store(path) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
        assert len(await load(store, "acc-1")) == 1
        assert len(writer_threads()) == 1
        assert path.with_name("stop.db-wal").exists()
    assert writer_threads() == []
    # SQLite removes the WAL file when the last connection to the database closes.
    assert not path.with_name("stop.db-wal").exists()


# --- arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["", ":memory:", "file:events.db?mode=memory"])
def test_in_memory_databases_and_uris_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match="must name a file"):
        sqlite_store.supervised(path, CODEC)


def test_wrong_arguments_are_refused_when_the_store_is_described(tmp_path: Path) -> None:
    path = tmp_path / "args.db"
    with pytest.raises(TypeError, match="path must be a str"):
        sqlite_store.supervised(42, CODEC)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="codec must be a Codec"):
        sqlite_store.supervised(path, object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="synchronous must be one of"):
        sqlite_store.supervised(path, CODEC, synchronous="OFF")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_readers"):
        sqlite_store.supervised(path, CODEC, max_readers=0)
    with pytest.raises(ValueError, match="busy_timeout must be a finite number of seconds zero"):
        sqlite_store.supervised(path, CODEC, busy_timeout=-1)
    with pytest.raises(TypeError, match="busy_timeout must be a number of seconds"):
        sqlite_store.supervised(path, CODEC, busy_timeout="5")  # type: ignore[arg-type]
    assert not path.exists()


def test_store_and_transaction_have_no_public_constructor() -> None:
    with pytest.raises(TypeError, match="no public constructor"):
        sqlite_store.SqliteStore(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="no public constructor"):
        sqlite_store.SqliteTransaction(None)  # type: ignore[arg-type]


def test_driver_errors_are_not_exported() -> None:
    assert not any(
        isinstance(v, type) and issubclass(v, sqlite3.Error) for v in vars(sqlite_store).values()
    )
