"""Projections in ``stats`` and ``projections reset``, on the projections' tables of a store."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import assert_one_line_error, cli, copy_store

# The tables as the SQLite store creates them (schema version 2); created here if the
# store that wrote the file is older, so these tests do not depend on the version.
_TABLES = (
    """
    CREATE TABLE IF NOT EXISTS projection_checkpoints (
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
    CREATE TABLE IF NOT EXISTS projection_dead_letters (
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
)


def _execute(db: Path, *statements: str) -> None:
    with contextlib.closing(sqlite3.connect(db)) as connection, connection:
        for statement in statements:
            connection.execute(statement)
    connection.close()


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as connection, connection:
        rows: list[tuple[Any, ...]] = connection.execute(sql).fetchall()
    connection.close()
    return rows


@pytest.fixture
def projected_db(demo_db: Path, tmp_path: Path) -> Path:
    """A copy of the demo's store with three projections, one with two dead letters.

    The demo's own projection, its ledger, is left out: these are the only ones.
    """
    db = copy_store(demo_db, tmp_path / "bank.db")
    _execute(
        db,
        *_TABLES,
        "DELETE FROM projection_checkpoints",
        "INSERT INTO projection_checkpoints (aggregate_type, name, position) VALUES"
        " ('bank_account', 'balances', 50), ('bank_account', 'audit', 0),"
        " ('savings', 'balances', 3)",
        "INSERT INTO projection_dead_letters (aggregate_type, projection, position,"
        " aggregate_id, sequence, event_type, error, recorded_at) VALUES"
        " ('bank_account', 'balances', 7, 'account-1', 2, 'CustomerDepositedCash',"
        " 'ValueError: boom', '2026-01-01T00:00:00+00:00'),"
        " ('bank_account', 'balances', 9, 'account-2', 2, 'CustomerDepositedCash',"
        " 'ValueError: boom', '2026-01-01T00:00:00+00:00')",
    )
    return db


def test_stats_shows_projections_with_checkpoint_lag_and_dead_letters(
    capsys: pytest.CaptureFixture[str], projected_db: Path
) -> None:
    # A projection of one aggregate type counts the events of that type only.
    ((events, after_50),) = _query(
        projected_db,
        "SELECT count(*), count(*) FILTER (WHERE position > 50) FROM events"
        " WHERE aggregate_type = 'bank_account'",
    )
    (record,) = cli(capsys, "stats", str(projected_db), "--json").json_lines()
    projections = record["projections"]
    assert isinstance(projections, list)
    summary = [
        (p["name"], p["aggregate_type"], p["checkpoint"], p["lag"], p["dead_letters"])
        for p in projections
    ]
    assert summary == [
        ("audit", "bank_account", 0, events, 0),
        ("balances", "bank_account", 50, after_50, 2),
        ("balances", "savings", 3, 0, 0),  # no events of that type: nothing to do
    ]
    assert projections[0]["details"]["reset_pending"] is False  # a bool, as on PostgreSQL

    table = cli(capsys, "stats", str(projected_db)).out.splitlines()
    header = table.index(next(line for line in table if line.startswith("projection ")))
    assert table[header].split()[:6] == [
        "projection", "aggregate", "type", "checkpoint", "lag", "dead"
    ]  # fmt: skip
    assert table[header + 3].split()[:5] == [
        "balances", "bank_account", "50", f"{after_50:,}", "2"
    ]  # fmt: skip


def test_a_projection_of_several_aggregate_types_shows_as_such_with_its_lag(
    capsys: pytest.CaptureFixture[str], projected_db: Path
) -> None:
    _execute(
        projected_db,
        "INSERT INTO projection_checkpoints (aggregate_type, name, position)"
        " VALUES ('', 'ledger', 10)",
    )
    ((events,),) = _query(projected_db, "SELECT count(*) FROM events")
    (record,) = cli(capsys, "stats", str(projected_db), "--json").json_lines()
    projections = record["projections"]
    assert isinstance(projections, list)
    ledger = next(p for p in projections if p["name"] == "ledger")
    # Its selection is not stored: the lag counts every event after its checkpoint.
    assert (ledger["aggregate_type"], ledger["lag"]) == ("", events - 10)
    table = cli(capsys, "stats", str(projected_db)).out.splitlines()
    assert next(line for line in table if line.startswith("ledger")).split()[:4] == [
        "ledger", "several", "types", "10"
    ]  # fmt: skip
    outcome = cli(capsys, "projections", "reset", str(projected_db), "ledger")
    assert outcome.status == 0, outcome.err
    assert outcome.out.startswith("projection 'ledger' (several types) reset: checkpoint 10 -> 0")


def test_reset_sets_the_checkpoint_back_and_drops_the_dead_letters(
    capsys: pytest.CaptureFixture[str], projected_db: Path
) -> None:
    outcome = cli(
        capsys,
        "projections", "reset", str(projected_db), "balances",
        "--aggregate-type", "bank_account", "--json",
    )  # fmt: skip
    assert outcome.status == 0, outcome.err
    assert outcome.json_lines() == [
        {
            "name": "balances",
            "aggregate_type": "bank_account",
            "previous_checkpoint": 50,
            "checkpoint": 0,
            "reset_pending": True,
            "dead_letters_removed": 2,
        }
    ]
    assert _query(
        projected_db,
        "SELECT aggregate_type, name, position, reset_pending FROM projection_checkpoints"
        " ORDER BY 1, 2",
    ) == [
        ("bank_account", "audit", 0, 0),
        ("bank_account", "balances", 0, 1),
        ("savings", "balances", 3, 0),  # the other type's projection is untouched
    ]
    assert _query(projected_db, "SELECT count(*) FROM projection_dead_letters") == [(0,)]

    table = cli(capsys, "projections", "reset", str(projected_db), "audit")
    assert table.status == 0
    assert table.out.startswith("projection 'audit' (bank_account) reset: checkpoint 0 -> 0")


def test_reset_of_a_name_several_types_share_needs_a_type(
    capsys: pytest.CaptureFixture[str], projected_db: Path
) -> None:
    line = assert_one_line_error(
        cli(capsys, "projections", "reset", str(projected_db), "balances"), status=2
    )
    assert "--aggregate-type" in line
    assert _query(projected_db, "SELECT max(position) FROM projection_checkpoints") == [(50,)]


def test_reset_of_an_unknown_projection(
    capsys: pytest.CaptureFixture[str], projected_db: Path
) -> None:
    line = assert_one_line_error(cli(capsys, "projections", "reset", str(projected_db), "nope"))
    assert line.endswith("has no projection named 'nope' (it has: 'audit', 'balances')")


def test_a_store_without_projections_tables(
    capsys: pytest.CaptureFixture[str], demo_db: Path, tmp_path: Path
) -> None:
    db = copy_store(demo_db, tmp_path / "bank.db")
    # As a store of schema version 1 is: no projections' tables at all.
    _execute(
        db,
        "DROP TABLE IF EXISTS projection_checkpoints",
        "DROP TABLE IF EXISTS projection_dead_letters",
        "PRAGMA user_version = 1",
    )
    (record,) = cli(capsys, "stats", str(db), "--json").json_lines()
    assert record["projections"] is None
    assert "projection" not in cli(capsys, "stats", str(db)).out
    line = assert_one_line_error(cli(capsys, "projections", "reset", str(db), "balances"))
    assert "has no projections table" in line
