"""``demo`` as an application of two aggregate types: accounts, transfers and their ledger."""

from __future__ import annotations

import contextlib
import io
import json
import re
import signal
import sqlite3
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.cli.helpers import SMALL_DEMO, cli
from trio_eventsourcing import Ok, Result
from trio_eventsourcing.__main__ import main
from trio_eventsourcing.examples import demo as examples_demo

_READ_YOUR_WRITE = re.compile(
    r"deposit of (?P<amount>[\d,]+) to (?P<account>\S+) at position (?P<position>[\d,]+): "
    r"the ledger had it on return \(balance (?P<balance>[\d,.]+)\)"
)


@dataclass(frozen=True)
class _Run:
    """A file the demo ran on twice (read only), and the second run's summary."""

    db: Path
    summary: dict[str, str]


def _summary(out: str) -> dict[str, str]:
    rows = {}
    for line in out.splitlines()[1:]:
        name, _, value = line.partition("  ")
        rows[name.strip()] = value.strip()
    return rows


def _rows(db: Path, sql: str, parameters: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        rows: list[tuple[Any, ...]] = connection.execute(sql, parameters).fetchall()
    return rows


def _number(text: str) -> int:
    return int(text.replace(",", ""))


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> _Run:
    """Two runs of the demo on one file: the second continues the first."""
    db = tmp_path_factory.mktemp("application") / "bank.db"
    for seed in ("7", "8"):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["demo", "--db", str(db), *SMALL_DEMO, "--seed", seed]) == 0
    return _Run(db, _summary(out.getvalue()))


def test_the_file_holds_accounts_and_transfers(
    capsys: pytest.CaptureFixture[str], demo_run: _Run
) -> None:
    (record,) = cli(capsys, "stats", str(demo_run.db), "--json").json_lines()
    types = {row["aggregate_type"]: row for row in record["aggregate_types"]}
    assert set(types) == {"bank_account", "transfer"}
    assert types["bank_account"]["aggregates"] == 5
    assert types["transfer"]["aggregates"] > 0
    summary = demo_run.summary["events"]
    assert summary.endswith(
        f"in the file: bank_account {types['bank_account']['events']:,}, "
        f"transfer {types['transfer']['events']:,}"
    )


def test_aggregates_lists_the_transfers_next_to_the_accounts(
    capsys: pytest.CaptureFixture[str], demo_run: _Run
) -> None:
    records = cli(capsys, "aggregates", str(demo_run.db), "--json").json_lines()
    by_type = Counter(record["aggregate_type"] for record in records)
    ((transfers,),) = _rows(
        demo_run.db, "SELECT count(DISTINCT aggregate_id) FROM events WHERE aggregate_type = ?",
        ("transfer",),
    )  # fmt: skip
    assert by_type == {"bank_account": 5, "transfer": transfers}


def test_each_transfer_moved_its_money_once(demo_run: _Run) -> None:
    _assert_each_transfer_moved_its_money_once(demo_run.db)


def test_the_ledger_matches_the_events(demo_run: _Run) -> None:
    ledger_accounts = {
        account_id: (Decimal(balance), position, out, into)
        for account_id, balance, position, out, into in _rows(
            demo_run.db, "SELECT * FROM ledger_accounts"
        )
    }
    ledger_transfers = {
        transfer_id: (from_account, to_account, Decimal(amount), status)
        for transfer_id, from_account, to_account, amount, status, _ in _rows(
            demo_run.db, "SELECT * FROM ledger_transfers"
        )
    }
    assert ledger_accounts == _accounts_from_events(demo_run.db)
    assert ledger_transfers == _transfers_from_events(demo_run.db)


def test_the_ledger_has_handled_the_whole_log(demo_run: _Run) -> None:
    ((last,),) = _rows(demo_run.db, "SELECT max(position) FROM events")
    # One checkpoint, kept under no aggregate type: the projection reads two of them.
    assert _rows(
        demo_run.db, "SELECT aggregate_type, name, position FROM projection_checkpoints"
    ) == [("", "ledger", last)]
    assert demo_run.summary["ledger"].startswith(f"live at position {last:,} (lag 0): 5 accounts")


def test_the_last_deposit_was_in_the_ledger_when_execute_and_wait_returned(
    demo_run: _Run,
) -> None:
    seen = _READ_YOUR_WRITE.fullmatch(demo_run.summary["read your write"])
    assert seen is not None, demo_run.summary["read your write"]
    position = _number(seen["position"])
    # That position is the deposit's, the last event of the file; the balance the
    # ledger showed at once is the one the deposit stored.
    ((last, account, event_type, payload),) = _rows(
        demo_run.db,
        "SELECT position, aggregate_id, event_type, payload FROM events"
        " ORDER BY position DESC LIMIT 1",
    )
    assert (last, account, event_type) == (position, seen["account"], "CustomerDepositedCash")
    stored = json.loads(payload)
    assert Decimal(stored["amount"]) == _number(seen["amount"])
    assert Decimal(stored["new_balance"]) == Decimal(seen["balance"].replace(",", ""))


def test_the_checks_cover_balances_transfers_and_the_ledger(demo_run: _Run) -> None:
    summary = demo_run.summary
    assert summary["balances"] == "all 5 match the model"
    assert re.fullmatch(r"all [\d,]+ match the model", summary["transfers"])
    assert summary["ledger check"] == "matches the model"


def test_a_transfer_a_stopped_run_left_half_done_is_settled_once_by_the_next(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "bank.db"
    real = examples_demo.send
    stopped: list[str] = []

    async def stop_after_a_withdrawal(*args: Any, **kwargs: Any) -> Any:
        answer: Result[None, object] = await real(*args, **kwargs)
        key = str(kwargs.get("idempotency_key"))
        if isinstance(answer, Ok) and key.endswith("/withdrawal") and not stopped:
            stopped.append(key)
            signal.raise_signal(signal.SIGINT)
            # Its deposit is never sent: the stop cancels this wait.
            await trio.sleep_forever()
        return answer

    monkeypatch.setattr(examples_demo, "send", stop_after_a_withdrawal)
    first = cli(capsys, "demo", "--db", str(db), *SMALL_DEMO, "--seed", "7")
    assert first.status == 130, first.err
    (withdrawal,) = stopped
    transfer_id = withdrawal.removesuffix("/withdrawal")
    assert _last_transfer_event(db, transfer_id) == "TransferRequested"
    assert _legs(db, transfer_id) == ["CustomerWithdrewCash"]  # its money is under way
    monkeypatch.undo()

    again = cli(capsys, "demo", "--db", str(db), *SMALL_DEMO, "--seed", "8")
    assert again.status == 0, again.err
    assert "left pending by a stopped run, settled first" in _summary(again.out)["transfers"]
    assert _last_transfer_event(db, transfer_id) in ("TransferCompleted", "TransferFailed")
    _assert_each_transfer_moved_its_money_once(db)


def _legs(db: Path, transfer_id: str) -> list[str]:
    """The account events a transfer's commands stored, in order."""
    return [
        str(event_type)
        for (event_type,) in _rows(
            db,
            "SELECT event_type FROM events WHERE aggregate_type = 'bank_account'"
            " AND correlation_id = ? ORDER BY position",
            (transfer_id,),
        )
    ]


def _last_transfer_event(db: Path, transfer_id: str) -> str:
    ((event_type,),) = _rows(
        db,
        "SELECT event_type FROM events WHERE aggregate_type = 'transfer' AND aggregate_id = ?"
        " ORDER BY sequence DESC LIMIT 1",
        (transfer_id,),
    )
    assert isinstance(event_type, str)
    return event_type


def _assert_each_transfer_moved_its_money_once(db: Path) -> None:
    """A completed transfer has one withdrawal and one deposit of its amount, a failed none."""
    transfers = _transfers_from_events(db)
    assert transfers
    legs: dict[str, list[tuple[str, str, Decimal]]] = {}
    for correlation, account, event_type, payload in _rows(
        db,
        "SELECT correlation_id, aggregate_id, event_type, payload FROM events"
        " WHERE aggregate_type = 'bank_account' AND correlation_id LIKE 'transfer-%'"
        " ORDER BY position",
    ):
        amount = Decimal(json.loads(payload)["amount"])
        legs.setdefault(correlation, []).append((event_type, account, amount))
    for transfer_id, (from_account, to_account, amount, status) in transfers.items():
        moved = legs.get(transfer_id, [])
        if status == "completed":
            assert moved == [
                ("CustomerWithdrewCash", from_account, amount),
                ("CustomerDepositedCash", to_account, amount),
            ], transfer_id
        else:
            assert (status, moved) == ("failed", []), transfer_id
    assert set(legs) <= set(transfers)


def _accounts_from_events(db: Path) -> dict[str, tuple[Decimal, int, int, int]]:
    """Each account's balance, last position and transfers out and in, from the events."""
    accounts: dict[str, list[Any]] = {}
    for position, account_id, event_type, payload in _rows(
        db,
        "SELECT position, aggregate_id, event_type, payload FROM events"
        " WHERE aggregate_type = 'bank_account' ORDER BY position",
    ):
        balance = (
            Decimal(0) if event_type == "AccountOpened" else json.loads(payload)["new_balance"]
        )
        row = accounts.setdefault(account_id, [Decimal(0), 0, 0, 0])
        row[0], row[1] = Decimal(balance), position
    for from_account, to_account, _, status in _transfers_from_events(db).values():
        if status == "completed":
            accounts[from_account][2] += 1
            accounts[to_account][3] += 1
    return {account_id: (row[0], row[1], row[2], row[3]) for account_id, row in accounts.items()}


def _transfers_from_events(db: Path) -> dict[str, tuple[str, str, Decimal, str]]:
    """Each transfer's accounts, amount and status, from the events."""
    transfers: dict[str, tuple[str, str, Decimal, str]] = {}
    statuses = {
        "TransferRequested": "requested",
        "TransferCompleted": "completed",
        "TransferFailed": "failed",
    }
    for transfer_id, event_type, payload in _rows(
        db,
        "SELECT aggregate_id, event_type, payload FROM events"
        " WHERE aggregate_type = 'transfer' ORDER BY position",
    ):
        if event_type == "TransferRequested":
            request = json.loads(payload)
            transfers[transfer_id] = (
                request["from_account"],
                request["to_account"],
                Decimal(request["amount"]),
                statuses[event_type],
            )
        else:
            from_account, to_account, amount, _ = transfers[transfer_id]
            transfers[transfer_id] = (from_account, to_account, amount, statuses[event_type])
    return transfers
