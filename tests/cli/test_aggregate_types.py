"""The inspection commands on a file of two aggregate types that share an id."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.cli.helpers import assert_one_line_error, cli
from tests.contracts.aggregate_types_contract import ACCOUNTS, STATEMENTS
from tests.contracts.store_contract import append, deposited, opened
from trio_eventsourcing import Ok, sqlite_store
from trio_eventsourcing.examples.bank_account import BankAccountEvent


@pytest.fixture
def two_types(tmp_path: Path) -> Path:
    """A file where "acc-1" is an account of one event and a statement of two."""
    path = tmp_path / "types.db"

    async def write() -> None:
        database, spec = sqlite_store.supervised_database(path)
        async with trio.open_nursery() as nursery:
            supervisor = (await spec.start(nursery)).unwrap().data
            accounts = database.event_store(ACCOUNTS)
            statements = database.event_store(STATEMENTS)
            assert isinstance(await append(accounts, "acc-1", 0, [opened("acc-1")]), Ok)
            both: list[BankAccountEvent] = [opened("acc-1"), deposited(5, 5)]
            assert isinstance(await append(statements, "acc-1", 0, both), Ok)
            supervisor.shutdown()

    trio.run(write)
    return path


def test_aggregates_lists_an_id_once_per_aggregate_type(
    capsys: pytest.CaptureFixture[str], two_types: Path
) -> None:
    records = cli(capsys, "aggregates", str(two_types), "--json").json_lines()
    assert [(r["aggregate_id"], r["aggregate_type"], r["events"]) for r in records] == [
        ("acc-1", "bank_account", 1),
        ("acc-1", "bank_statement", 2),
    ]


def test_events_of_an_id_in_several_types_asks_for_the_type(
    capsys: pytest.CaptureFixture[str], two_types: Path
) -> None:
    outcome = cli(capsys, "events", str(two_types), "acc-1")
    message = assert_one_line_error(outcome, status=2)
    assert "bank_account, bank_statement" in message
    assert "--type" in message


def test_events_with_a_type_shows_that_aggregate_only(
    capsys: pytest.CaptureFixture[str], two_types: Path
) -> None:
    records = cli(
        capsys, "events", str(two_types), "acc-1", "--type", "bank_statement", "--json"
    ).json_lines()
    assert [(r["aggregate_type"], r["sequence"]) for r in records] == [
        ("bank_statement", 1),
        ("bank_statement", 2),
    ]
    missing = cli(capsys, "events", str(two_types), "acc-1", "--type", "ledger")
    assert "of type 'ledger'" in assert_one_line_error(missing)
