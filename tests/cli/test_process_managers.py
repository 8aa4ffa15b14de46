"""``process-managers``: the process managers of a store, their instances, outbox and timers.

The state is made by running the transfer example's manager (``transfer_bank``) on a
real SQLite file, or a throwaway schema of the test PostgreSQL server (skipped when none
answers, unless ``TRIO_ES_REQUIRE_POSTGRES=1``): one transfer is requested and its
credit never confirmed, so the manager keeps a live instance and a pending deadline.
Cases the example does not reach (several managers, one of one aggregate type, a
command waiting in the outbox) are written into a copy of that file by SQL.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import trio

import trio_eventsourcing as eventsourcing
from tests.cli.helpers import assert_one_line_error, cli, copy_store
from tests.postgres.helpers import require_server, throwaway_schema, wait_until
from tests.process_managers.transfer_bank import Backend, bank, ok
from trio_eventsourcing._cli.stores import open_store
from trio_eventsourcing._stores.inspection.records import ProcessManagerInfo
from trio_eventsourcing._stores.postgres.schema import Names
from trio_eventsourcing.examples import bank_account
from trio_eventsourcing.examples.bank_account import OpenAccount
from trio_eventsourcing.examples.transfer_process import DEADLINE
from trio_eventsourcing.examples.transfers import RequestTransfer

DEADLINE_S = 3_600.0
"""Long enough that the credit's deadline never passes while a test runs."""


def _stored(db: str, schema: str | None) -> tuple[ProcessManagerInfo, ...]:
    with open_store(db, schema=schema, table_prefix=None) as store:
        return store.process_managers()


def _waiting_for_credit(managers: tuple[ProcessManagerInfo, ...]) -> bool:
    # The stored outbox empties one save after the answer, and the event the answered
    # command stored (CreditRequested) is decided on later still: wait for both, after
    # which nothing happens until the deadline.
    return [(m.instances, m.outbox, m.timers, m.lag) for m in managers] == [(1, 0, 1, 0)]


async def _one_transfer_waiting_for_its_credit(
    backend: Backend, db: str, schema: str | None
) -> None:
    """Run the bank until the store keeps transfer-1's process with its deadline set."""
    async with bank(backend, DEADLINE_S) as the_bank:
        for account in ("a", "b"):
            opening = OpenAccount(account)
            await ok(eventsourcing.execute_with_response(the_bank.accounts, account, opening, []))
        deposit = bank_account.DepositMoney(Decimal(10))
        await ok(eventsourcing.execute_with_response(the_bank.accounts, "a", deposit, []))
        request = RequestTransfer("a", "b", Decimal(4))
        await ok(
            eventsourcing.execute_with_response(
                the_bank.transfers, "transfer-1", request, [], correlation_id="transfer-1"
            )
        )
        await wait_until(lambda: _waiting_for_credit(_stored(db, schema)))


@pytest.fixture(scope="module")
def transfer_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose transfers manager waits for transfer-1's credit. Copy it to change it."""
    path = tmp_path_factory.mktemp("transfers") / "bank.db"
    trio.run(_one_transfer_waiting_for_its_credit, Backend("sqlite", str(path)), str(path), None)
    return path


@pytest.fixture
def changed_db(transfer_db: Path, tmp_path: Path) -> Path:
    """A copy of ``transfer_db`` of the test's own, to write rows into."""
    return copy_store(transfer_db, tmp_path / "bank.db")


def _sql(path: Path, statement: str) -> list[tuple[object, ...]]:
    """Run ``statement`` on the file, committed, as a person with ``sqlite3`` might."""
    connection = sqlite3.connect(path)
    try:
        with connection:
            rows: list[tuple[object, ...]] = connection.execute(statement).fetchall()
        return rows
    finally:
        connection.close()


def _add_manager(path: Path, scope: str, name: str, position: int) -> None:
    _sql(
        path,
        "INSERT INTO process_manager_positions (scope, name, position)"
        f" VALUES ('{scope}', '{name}', {position})",
    )


def _utc(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    assert when.utcoffset() == timedelta(0), text
    return when


def _cells(line: str) -> list[str]:
    # Columns are two spaces apart at least; a cell ("several types") has single ones.
    return re.split(r"\s{2,}", line.strip())


def _last_position(path: Path) -> int:
    ((position,),) = _sql(path, "SELECT max(position) FROM events")
    assert isinstance(position, int)
    return position


def test_the_listing_shows_a_manager_with_its_live_instance_and_pending_timer(
    capsys: pytest.CaptureFixture[str], transfer_db: Path
) -> None:
    listing = cli(capsys, "process-managers", str(transfer_db))
    assert listing.status == 0, listing.err
    header, _, row = listing.out.splitlines()
    assert _cells(header) == [
        "process manager", "aggregate type", "position", "lag", "instances", "outbox",
        "timers", "next timer due",
    ]  # fmt: skip
    *cells, due = _cells(row)
    position = str(_last_position(transfer_db))
    assert cells == ["transfers", "several types", position, "0", "1", "0", "1"]
    _utc(due)


def test_the_listing_as_json_gives_one_object_per_manager(
    capsys: pytest.CaptureFixture[str], transfer_db: Path
) -> None:
    (manager,) = cli(capsys, "process-managers", str(transfer_db), "--json").json_lines()
    assert manager == {
        "name": "transfers",
        "aggregate_type": "",
        "position": _last_position(transfer_db),
        "lag": 0,
        "updated_at": manager["updated_at"],
        "instances": 1,
        "outbox": 0,
        "timers": 1,
        "next_timer_due": manager["next_timer_due"],
    }
    _utc(manager["updated_at"])


def test_the_next_timer_due_is_the_stored_due_time_in_utc(
    capsys: pytest.CaptureFixture[str], transfer_db: Path
) -> None:
    ((due,),) = _sql(transfer_db, "SELECT min(due) FROM process_manager_timers")
    assert isinstance(due, float)
    (manager,) = cli(capsys, "process-managers", str(transfer_db), "--json").json_lines()
    shown = _utc(manager["next_timer_due"]).timestamp()
    assert abs(shown - due) < 0.001
    # The deadline was set an hour after the step that saved it.
    assert abs(shown - _utc(manager["updated_at"]).timestamp() - DEADLINE_S) < 5


def test_a_manager_shows_its_instance_state_and_its_timer(
    capsys: pytest.CaptureFixture[str], transfer_db: Path
) -> None:
    shown = cli(capsys, "process-managers", str(transfer_db), "transfers")
    assert shown.status == 0, shown.err
    lines = shown.out.splitlines()
    assert lines[:2] == ["process manager  transfers", "aggregate type   several types"]
    instance = lines[lines.index("instances (1)") + 3]
    assert instance.split()[:4] == ["transfer-1", "TransferProcess", "1", "transfer-1"]
    assert '"step":"crediting"' in instance
    assert "(no commands waiting for an answer)" in lines
    timer = lines[lines.index("timers (1)") + 3]
    assert timer.split()[:2] == ["transfer-1", DEADLINE]


def test_a_manager_as_json_gives_its_instances_outbox_and_timers(
    capsys: pytest.CaptureFixture[str], transfer_db: Path
) -> None:
    (manager,) = cli(
        capsys, "process-managers", str(transfer_db), "transfers", "--json"
    ).json_lines()
    (instance,) = manager["instances"]
    assert instance["instance"] == "transfer-1"
    assert instance["state_type"] == "TransferProcess"
    assert instance["correlation_id"] == "transfer-1"
    assert instance["state"]["step"] == "crediting"
    assert instance["state"]["amount"] == "4"
    assert manager["outbox"] == []
    (timer,) = manager["timers"]
    assert (timer["instance"], timer["timer"]) == ("transfer-1", DEADLINE)
    (listed,) = cli(capsys, "process-managers", str(transfer_db), "--json").json_lines()
    assert timer["due"] == listed["next_timer_due"]
    assert timer["set_by"].startswith("pm/transfers/")


def test_a_command_waiting_for_its_answer_is_in_the_outbox(
    capsys: pytest.CaptureFixture[str], changed_db: Path
) -> None:
    _sql(
        changed_db,
        "INSERT INTO process_manager_outbox VALUES ('', 'transfers', 7, 'transfer-1',"
        " 'credits', 'transfer-1', 'CancelCredit', 1, '{}', 'pm/transfers/9/0',"
        " 'transfer-1', 'transfers/transfer-1/2')",
    )
    shown = cli(capsys, "process-managers", str(changed_db), "transfers")
    lines = shown.out.splitlines()
    command = lines[lines.index("outbox (1)") + 3]
    assert command.split() == [
        "7", "transfer-1", "credits", "transfer-1", "CancelCredit", "pm/transfers/9/0"
    ]  # fmt: skip
    (manager,) = cli(capsys, "process-managers", str(changed_db), "--json").json_lines()
    assert manager["outbox"] == 1


def test_the_lag_counts_the_events_after_the_position(
    capsys: pytest.CaptureFixture[str], changed_db: Path
) -> None:
    _sql(changed_db, "UPDATE process_manager_positions SET position = position - 3")
    (manager,) = cli(capsys, "process-managers", str(changed_db), "--json").json_lines()
    assert manager["lag"] == 3


def test_a_manager_of_one_aggregate_type_counts_only_that_type_in_its_lag(
    capsys: pytest.CaptureFixture[str], changed_db: Path
) -> None:
    _add_manager(changed_db, "bank_account", "statements", 0)
    ((accounts,),) = _sql(
        changed_db, "SELECT count(*) FROM events WHERE aggregate_type = 'bank_account'"
    )
    assert isinstance(accounts, int)
    assert 0 < accounts < _last_position(changed_db)
    listing = cli(capsys, "process-managers", str(changed_db))
    row = next(line for line in listing.out.splitlines() if line.startswith("statements "))
    assert _cells(row)[1:4] == ["bank_account", "0", str(accounts)]


def test_several_managers_are_listed_by_name_those_without_timers_with_none_due(
    capsys: pytest.CaptureFixture[str], changed_db: Path
) -> None:
    _add_manager(changed_db, "", "audits", 2)
    _add_manager(changed_db, "", "zz-refunds", 1)
    managers = cli(capsys, "process-managers", str(changed_db), "--json").json_lines()
    assert [m["name"] for m in managers] == ["audits", "transfers", "zz-refunds"]
    assert [(m["instances"], m["timers"], m["next_timer_due"]) for m in managers[::2]] == [
        (0, 0, None),
        (0, 0, None),
    ]
    rows = cli(capsys, "process-managers", str(changed_db)).out.splitlines()[2:]
    assert [_cells(row)[-1] for row in rows[::2]] == ["-", "-"]


def test_a_manager_without_instances_shows_empty_tables(
    capsys: pytest.CaptureFixture[str], changed_db: Path
) -> None:
    _add_manager(changed_db, "", "audits", 2)
    shown = cli(capsys, "process-managers", str(changed_db), "audits")
    assert shown.status == 0, shown.err
    for empty in ("(no instances)", "(no commands waiting for an answer)", "(no pending timers)"):
        assert empty in shown.out.splitlines()


def test_the_aggregate_type_option_lists_only_the_managers_of_that_type(
    capsys: pytest.CaptureFixture[str], changed_db: Path
) -> None:
    _add_manager(changed_db, "bank_account", "statements", 0)
    arguments = ["process-managers", str(changed_db), "--json", "--aggregate-type"]
    one = cli(capsys, *arguments, "bank_account").json_lines()
    several = cli(capsys, *arguments, "").json_lines()
    assert [m["name"] for m in one] == ["statements"]
    assert [m["name"] for m in several] == ["transfers"]


def test_an_unknown_manager_is_an_error_naming_those_there(
    capsys: pytest.CaptureFixture[str], transfer_db: Path
) -> None:
    line = assert_one_line_error(cli(capsys, "process-managers", str(transfer_db), "refunds"))
    assert line.endswith("has no process manager named 'refunds' (it has: 'transfers')")


def test_a_manager_of_another_aggregate_type_is_an_error_naming_its_types(
    capsys: pytest.CaptureFixture[str], transfer_db: Path
) -> None:
    line = assert_one_line_error(
        cli(capsys, "process-managers", str(transfer_db), "transfers", "--aggregate-type", "x")
    )
    assert "of aggregate type 'x'" in line
    assert "'' (several types)" in line


def test_a_name_of_managers_of_several_types_needs_the_aggregate_type(
    capsys: pytest.CaptureFixture[str], changed_db: Path
) -> None:
    _add_manager(changed_db, "bank_account", "transfers", 1)
    line = assert_one_line_error(
        cli(capsys, "process-managers", str(changed_db), "transfers"), status=2
    )
    assert "choose one with --aggregate-type" in line
    chosen = cli(
        capsys, "process-managers", str(changed_db), "transfers", "--aggregate-type", "bank_account"
    )
    assert chosen.status == 0, chosen.err
    assert chosen.out.splitlines()[1] == "aggregate type   bank_account"


def test_a_store_with_the_tables_and_no_manager_lists_none(
    capsys: pytest.CaptureFixture[str], changed_db: Path
) -> None:
    _sql(changed_db, "DELETE FROM process_manager_positions")
    listing = cli(capsys, "process-managers", str(changed_db))
    assert (listing.status, listing.out) == (0, "(no process managers)\n")
    assert cli(capsys, "process-managers", str(changed_db), "--json").out == ""


def test_a_store_missing_some_of_the_tables_is_an_error_naming_them(
    capsys: pytest.CaptureFixture[str], changed_db: Path
) -> None:
    _sql(changed_db, "DROP TABLE process_manager_timers")
    line = assert_one_line_error(cli(capsys, "process-managers", str(changed_db)))
    assert "missing: process_manager_timers" in line


def test_a_path_that_is_no_store_is_the_usual_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    line = assert_one_line_error(cli(capsys, "process-managers", str(tmp_path / "none.db")))
    assert line.endswith(f"no such file: {str(tmp_path / 'none.db')!r}")


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture
def dsn() -> str:
    """The test server's DSN; the test is skipped (or fails, in CI) if none answers."""
    return require_server()


@pytest.fixture
def schema(dsn: str) -> Iterator[str]:
    """A schema of the test's own, dropped with everything in it afterwards."""
    with throwaway_schema(dsn) as name:
        yield name


def test_on_postgres_the_listing_shows_the_transfer_manager(
    capsys: pytest.CaptureFixture[str], dsn: str, schema: str
) -> None:
    trio.run(
        _one_transfer_waiting_for_its_credit, Backend("postgres", f"{dsn} {schema}"), dsn, schema
    )
    (manager,) = cli(capsys, "process-managers", dsn, "--schema", schema, "--json").json_lines()
    assert (manager["name"], manager["aggregate_type"], manager["lag"]) == ("transfers", "", 0)
    assert (manager["instances"], manager["outbox"], manager["timers"]) == (1, 0, 1)
    _utc(manager["updated_at"])
    assert _utc(manager["next_timer_due"]) > _utc(manager["updated_at"])


def test_on_postgres_a_manager_shows_its_instance_and_timer(
    capsys: pytest.CaptureFixture[str], dsn: str, schema: str
) -> None:
    trio.run(
        _one_transfer_waiting_for_its_credit, Backend("postgres", f"{dsn} {schema}"), dsn, schema
    )
    (manager,) = cli(
        capsys, "process-managers", dsn, "transfers", "--schema", schema, "--json"
    ).json_lines()
    assert [(i["instance"], i["state"]["step"]) for i in manager["instances"]] == [
        ("transfer-1", "crediting")
    ]
    assert [(t["instance"], t["timer"]) for t in manager["timers"]] == [("transfer-1", DEADLINE)]


def test_a_postgres_store_without_the_tables_lists_no_managers(
    capsys: pytest.CaptureFixture[str], dsn: str, schema: str
) -> None:
    import psycopg

    # The store's own tables only: the process managers' come with the first projection.
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
        for statement in Names(schema, "trio_es_").ddl():
            connection.execute(statement)
    listing = cli(capsys, "process-managers", dsn, "--schema", schema)
    assert (listing.status, listing.out, listing.err) == (0, "(no process managers)\n", "")
    line = assert_one_line_error(
        cli(capsys, "process-managers", dsn, "transfers", "--schema", schema)
    )
    assert line.endswith("has no process manager named 'transfers' (it has: none)")
