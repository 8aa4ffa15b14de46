"""Idempotency keys in the SQLite file: the table of keys, and the writer's statements.

The store contract (``tests/contracts``) covers what every store does with keys, and the
durable-store contract what every durable store does with them (keys in one batch, the
upgrade of storage written before keys existed, ids the database cannot take); these
tests cover what is SQLite's own: the table of keys and its primary key, the statement's
parameter limit, and an upgrade that fails half-way.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from pathlib import Path

import pytest
import trio

from tests.contracts.durable_contract import Write, write
from tests.contracts.store_contract import append, deposited, is_stored, opened
from tests.sqlite.helpers import CODEC, BankSqliteStore, execute, in_one_batch, rows, running_store
from tests.sqlite.old_versions import version_2_file
from trio_eventsourcing import Ok, sqlite_store
from trio_eventsourcing._stores.sqlite.schema import COMMAND_KEYS_TABLE
from trio_eventsourcing.examples.bank_account import BankAccountEvent


def barrier(store: BankSqliteStore) -> Write:
    return write(store, "barrier", 0, None, [opened("barrier")])


# --- the table of keys ------------------------------------------------------------------------


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
    insert = "INSERT INTO command_keys (aggregate_type, aggregate_id, command_key) VALUES (?, ?, ?)"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        with pytest.raises(sqlite3.IntegrityError, match="command_keys"):
            connection.execute(insert, ("bank_account", "acc-1", "k"))
        connection.execute(insert, ("bank_account", "acc-2", "k"))  # another aggregate
        connection.execute(insert, ("bank_statement", "acc-1", "k"))  # another type
        connection.commit()


async def test_looking_a_key_up_is_one_seek(tmp_path: Path) -> None:
    path = tmp_path / "plan.db"
    async with running_store(path):
        pass
    plan = rows(
        path,
        "EXPLAIN QUERY PLAN SELECT 1 FROM command_keys WHERE aggregate_type = 't'"
        " AND aggregate_id = 'a' AND command_key = 'k'",
    )
    seek = "USING PRIMARY KEY (aggregate_type=? AND aggregate_id=? AND command_key=?)"
    assert any(seek in str(r) for r in plan), plan


# --- keys in a large batch --------------------------------------------------------------------


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


# --- files written before keys existed: an upgrade that fails ---------------------------------


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
