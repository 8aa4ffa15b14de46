"""The inspection commands on a PostgreSQL store, in a throwaway schema of the test server.

The server is the one ``TRIO_ES_POSTGRES_DSN`` names (default
``postgresql://postgres@127.0.0.1:5432/test``), as for the PostgreSQL store's tests; the
tests are skipped when none answers, unless ``TRIO_ES_REQUIRE_POSTGRES=1``. The tables
are made with the store's own DDL and filled by SQL, so no store runs here.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli.helpers import assert_one_line_error, cli
from trio_eventsourcing._stores.inspection.errors import InspectionError
from trio_eventsourcing._stores.postgres.schema import Names

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PREFIX = "trio_es_"


def _dsn() -> str:
    return os.environ.get("TRIO_ES_POSTGRES_DSN") or DEFAULT_DSN


def _execute(dsn: str, *statements: str, params: tuple[Any, ...] = ()) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement, params if "%s" in statement else ())


@pytest.fixture
def dsn() -> str:
    try:
        import psycopg
    except ImportError:
        pytest.skip('psycopg is not installed: pip install "trio-eventsourcing[postgres]"')
    try:
        with psycopg.connect(_dsn(), connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        if os.environ.get("TRIO_ES_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"TRIO_ES_REQUIRE_POSTGRES=1 but no server answers: {exc}")
        pytest.skip(f"no PostgreSQL server answers at TRIO_ES_POSTGRES_DSN: {exc}")
    return _dsn()


@pytest.fixture
def schema(dsn: str) -> Iterator[str]:
    """A schema of the test's own holding a store with two aggregates, dropped afterwards."""
    name = f"trio_es_cli_{secrets.token_hex(6)}"
    names = Names(name, PREFIX)
    rows = [
        ("acc-1", 1, "AccountOpened", '{"account_id":"acc-1"}'),
        ("acc-2", 1, "AccountOpened", '{"account_id":"acc-2"}'),
        ("acc-1", 2, "CustomerDepositedCash", '{"amount":"5","new_balance":"5"}'),
        ("acc-1", 3, "CustomerWithdrewCash", '{"amount":"2","new_balance":"3"}'),
    ]
    inserts = [
        f"INSERT INTO {names.events} (position, aggregate_type, aggregate_id, sequence,"
        f" event_type, event_version, payload, metadata) VALUES ({position},"
        f" 'bank_account', '{aggregate}', {sequence}, '{kind}', 1, '{payload}', '[]')"
        for position, (aggregate, sequence, kind, payload) in enumerate(rows, start=1)
    ]
    _execute(
        dsn,
        f'CREATE SCHEMA "{name}"',
        *names.ddl(),
        *inserts,
        f"UPDATE {names.store} SET last_position = {len(rows)}",
        f"INSERT INTO {names.snapshots} VALUES ('acc-1', 'bank_account', 2, 'BankAccount', 1,"
        " '{}', now())",
    )
    try:
        yield name
    finally:
        _execute(dsn, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def test_inspection_of_a_postgres_store(
    capsys: pytest.CaptureFixture[str], dsn: str, schema: str
) -> None:
    where = ["--schema", schema]
    aggregates = cli(capsys, "aggregates", dsn, *where, "--json").json_lines()
    assert [(a["aggregate_id"], a["events"], a["last_sequence"], a["snapshot_sequence"])
            for a in aggregates] == [("acc-1", 3, 3, 2), ("acc-2", 1, 1, None)]  # fmt: skip
    table = cli(capsys, "aggregates", dsn, *where)
    assert table.status == 0
    assert table.out.splitlines()[2].split() == ["acc-1", "bank_account", "3", "3", "2"]

    events = cli(capsys, "events", dsn, "acc-1", *where, "--json").json_lines()
    assert [e["sequence"] for e in events] == [1, 2, 3]
    assert events[1]["payload"] == {"amount": "5", "new_balance": "5"}
    assert str(events[0]["recorded_at"]).endswith("+00:00")

    log = cli(capsys, "log", dsn, *where, "--from", "1", "--json").json_lines()
    assert [e["position"] for e in log] == [2, 3, 4]

    (stats,) = cli(capsys, "stats", dsn, *where, "--json").json_lines()
    assert (stats["events"], stats["aggregates"], stats["snapshots"], stats["last_position"]) == (
        4, 2, 1, 4
    )  # fmt: skip
    assert stats["projections"] is None
    assert schema in str(stats["store"])
    text = cli(capsys, "stats", dsn, *where).out.splitlines()
    assert text[0].startswith("store           PostgreSQL ")
    assert text[0].endswith(f"(schema {schema!r}, table prefix 'trio_es_')")


def test_projections_on_postgres(capsys: pytest.CaptureFixture[str], dsn: str, schema: str) -> None:
    table = f'"{schema}"."{PREFIX}projection_checkpoints"'
    _execute(
        dsn,
        f"CREATE TABLE {table} (aggregate_type text NOT NULL, name text NOT NULL,"
        " position bigint NOT NULL, reset_pending boolean NOT NULL DEFAULT false,"
        " updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (aggregate_type, name))",
        f"INSERT INTO {table} (aggregate_type, name, position)"
        " VALUES ('bank_account', 'totals', 1)",
    )
    (stats,) = cli(capsys, "stats", dsn, "--schema", schema, "--json").json_lines()
    projections = stats["projections"]
    assert isinstance(projections, list)
    (totals,) = projections
    assert (totals["name"], totals["checkpoint"], totals["lag"], totals["dead_letters"]) == (
        "totals", 1, 3, None
    )  # fmt: skip
    assert totals["details"]["reset_pending"] is False

    reset = cli(capsys, "projections", "reset", dsn, "totals", "--schema", schema, "--json")
    assert reset.status == 0, reset.err
    assert json.loads(reset.out)["previous_checkpoint"] == 1
    (stats,) = cli(capsys, "stats", dsn, "--schema", schema, "--json").json_lines()
    projections = stats["projections"]
    assert isinstance(projections, list)
    assert (projections[0]["checkpoint"], projections[0]["lag"]) == (0, 4)
    assert projections[0]["details"]["reset_pending"] is True


def test_a_schema_without_a_store(
    capsys: pytest.CaptureFixture[str], dsn: str, schema: str
) -> None:
    line = assert_one_line_error(
        cli(capsys, "stats", dsn, "--schema", schema, "--table-prefix", "other_")
    )
    assert "holds no trio-eventsourcing store" in line
    line = assert_one_line_error(
        cli(capsys, "stats", dsn, "--schema", "Not-An-Identifier"), status=2
    )
    assert "schema must be" in line


def test_a_newer_postgres_schema(capsys: pytest.CaptureFixture[str], dsn: str, schema: str) -> None:
    names = Names(schema, PREFIX)
    _execute(dsn, f"UPDATE {names.store} SET schema_version = schema_version + 100")
    line = assert_one_line_error(cli(capsys, "log", dsn, "--schema", schema))
    assert "newer trio-eventsourcing" in line


def test_the_inspection_session_is_read_only(dsn: str, schema: str) -> None:
    from trio_eventsourcing._stores.postgres.inspector import PostgresInspector

    inspector = PostgresInspector.open(dsn, schema=schema, table_prefix=None)
    try:
        with pytest.raises(InspectionError, match="read-only"):
            inspector.rows(f"DELETE FROM {Names(schema, PREFIX).events}")
    finally:
        inspector.close()


def test_aggregates_page_through_one_id_in_two_types(dsn: str, schema: str) -> None:
    from trio_eventsourcing._stores.postgres.inspector import PostgresInspector

    names = Names(schema, PREFIX)
    _execute(
        dsn,
        f"INSERT INTO {names.events} (position, aggregate_type, aggregate_id, sequence,"
        " event_type, event_version, payload, metadata) VALUES (5, 'bank_statement', 'acc-1',"
        " 1, 'AccountOpened', 1, '{\"account_id\":\"acc-1\"}', '[]')",
        f"UPDATE {names.store} SET last_position = 5",
    )
    inspector = PostgresInspector.open(dsn, schema=schema, table_prefix=None)
    try:
        pages = list(inspector.aggregates(batch=1))
        both = inspector.events("acc-1", None)
        statement = inspector.events("acc-1", "bank_statement")
    finally:
        inspector.close()
    assert [[(a.aggregate_id, a.aggregate_type, a.events) for a in page] for page in pages] == [
        [("acc-1", "bank_account", 3)],
        [("acc-1", "bank_statement", 1)],
        [("acc-2", "bank_account", 1)],
    ]
    assert [(e.aggregate_type, e.sequence) for e in both] == [
        ("bank_account", 1),
        ("bank_account", 2),
        ("bank_account", 3),
        ("bank_statement", 1),
    ]
    assert [(e.aggregate_type, e.sequence) for e in statement] == [("bank_statement", 1)]
