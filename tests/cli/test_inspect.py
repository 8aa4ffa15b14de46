"""The inspection commands on a store the demo wrote: tables by default, JSON Lines on demand."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import trio_eventsourcing._cli.commands as cli_commands
from tests.cli.helpers import Outcome, assert_one_line_error, child_env, cli, copy_store


def _rows(outcome: Outcome) -> list[list[str]]:
    """A table's rows, split on runs of blanks, after its header and rule."""
    lines = outcome.out.splitlines()
    assert set(lines[1]) <= {"-", " "}, lines[1]
    return [line.split() for line in lines[2:]]


def _stored(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as connection, connection:
        rows: list[tuple[Any, ...]] = connection.execute(sql).fetchall()
    connection.close()
    return rows


def test_aggregates(capsys: pytest.CaptureFixture[str], demo_db: Path) -> None:
    table = cli(capsys, "aggregates", str(demo_db))
    assert table.status == 0
    assert table.out.splitlines()[0].split() == [
        "aggregate", "id", "type", "events", "last", "sequence", "snapshot", "at"
    ]  # fmt: skip
    rows = _rows(table)
    accounts = [row for row in rows if row[1] == "bank_account"]
    assert [row[0] for row in accounts] == [f"account-{index}" for index in range(5)]
    assert all(row[2] == row[3] for row in rows)
    # The demo's other aggregate type: its transfers, listed with the accounts.
    assert {row[1] for row in rows} == {"bank_account", "transfer"}

    records = cli(capsys, "aggregates", str(demo_db), "--json").json_lines()
    expected = _stored(
        demo_db,
        "SELECT aggregate_id, aggregate_type, count(*), max(sequence) FROM events"
        " GROUP BY 1, 2 ORDER BY 1, 2",
    )
    assert [
        (r["aggregate_id"], r["aggregate_type"], r["events"], r["last_sequence"]) for r in records
    ] == expected
    for record in (r for r in records if r["aggregate_type"] == "bank_account"):
        snapshot = record["snapshot_sequence"]
        last = record["last_sequence"]
        assert isinstance(snapshot, int)
        assert isinstance(last, int)
        assert snapshot % 10 == 0
        assert last - 10 < snapshot <= last


def test_events(capsys: pytest.CaptureFixture[str], demo_db: Path) -> None:
    table = cli(capsys, "events", str(demo_db), "account-2")
    assert table.status == 0
    rows = _rows(table)
    assert [int(row[0]) for row in rows] == list(range(1, len(rows) + 1))
    event_type, version, correlation, causation, *stored = rows[0][3:]
    assert (event_type, version, stored) == (
        "AccountOpened",
        "1",
        ["[]", '{"account_id":"account-2"}'],
    )
    # The demo's commands give no ids: each event carries its command's generated key.
    assert correlation == causation != ""

    records = cli(capsys, "events", str(demo_db), "account-2", "--json").json_lines()
    assert [r["sequence"] for r in records] == list(range(1, len(rows) + 1))
    assert records[0]["payload"] == {"account_id": "account-2"}
    assert records[0]["metadata"] == []
    assert records[0]["correlation_id"] == records[0]["causation_id"] == correlation
    assert {r["event_type"] for r in records[1:]} <= {
        "CustomerDepositedCash",
        "CustomerWithdrewCash",
    }
    # The payload is the stored JSON, not a decoded event: amounts stay strings.
    deposit = next(r for r in records if r["event_type"] == "CustomerDepositedCash")
    assert isinstance(deposit["payload"], dict)
    assert set(deposit["payload"]) == {"amount", "new_balance"}
    assert all(isinstance(v, str) for v in deposit["payload"].values())


def test_log(capsys: pytest.CaptureFixture[str], demo_db: Path) -> None:
    ((count,),) = _stored(demo_db, "SELECT count(*) FROM events")
    records = cli(capsys, "log", str(demo_db), "--json").json_lines()
    assert len(records) == count
    positions = [r["position"] for r in records]
    assert all(isinstance(p, int) for p in positions)
    assert positions == sorted(set(positions))  # strictly increasing
    assert positions[0] == 1

    after = cli(capsys, "log", str(demo_db), "--from", "10", "--limit", "3", "--json")
    assert [r["position"] for r in after.json_lines()] == [11, 12, 13]

    table = cli(capsys, "log", str(demo_db), "--from", "10", "--limit", "3")
    assert [row[0] for row in _rows(table)] == ["11", "12", "13"]

    past_the_end = cli(capsys, "log", str(demo_db), "--from", str(count))
    assert past_the_end.status == 0
    assert past_the_end.out == f"(no events after position {count})\n"
    assert cli(capsys, "log", str(demo_db), "--from", str(count), "--json").out == ""


def test_log_of_one_aggregate_type(capsys: pytest.CaptureFixture[str], demo_db: Path) -> None:
    ((count,),) = _stored(
        demo_db, "SELECT count(*) FROM events WHERE aggregate_type = 'bank_account'"
    )
    records = cli(capsys, "log", str(demo_db), "--type", "bank_account", "--json").json_lines()
    assert len(records) == count > 0
    assert {r["aggregate_type"] for r in records} == {"bank_account"}
    assert cli(capsys, "log", str(demo_db), "--type", "nothing", "--json").out == ""
    table = cli(capsys, "log", str(demo_db), "--type", "bank_account", "--limit", "1")
    assert _rows(table)[0][2] == "bank_account"


def test_the_log_is_read_in_batches(
    capsys: pytest.CaptureFixture[str], demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_commands, "LOG_BATCH", 7)
    records = cli(capsys, "log", str(demo_db), "--json").json_lines()
    ((count,),) = _stored(demo_db, "SELECT count(*) FROM events")
    assert [r["position"] for r in records] == list(range(1, count + 1))


def _append_event(db: Path) -> int:
    """Commit one more event to the store, as another process would; return its position."""
    with contextlib.closing(sqlite3.connect(db)) as connection, connection:
        (sequence,) = connection.execute(
            "SELECT max(sequence) FROM events WHERE aggregate_id = 'account-0'"
        ).fetchone()
        cursor = connection.execute(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,"
            " event_version, payload, metadata) VALUES ('bank_account', 'account-0', ?,"
            ' \'CustomerDepositedCash\', 1, \'{"amount":"1","new_balance":"1"}\','
            ' \'[["user_id","alice"]]\')',
            (sequence + 1,),
        )
        position = cursor.lastrowid
    connection.close()
    assert isinstance(position, int)
    return position


def test_follow_prints_new_events_and_stops_on_ctrl_c(
    capsys: pytest.CaptureFixture[str],
    demo_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = copy_store(demo_db, tmp_path / "bank.db")
    ((last,),) = _stored(db, "SELECT max(position) FROM events")
    waits: list[float] = []
    appended: list[int] = []

    def sleep(seconds: float) -> None:
        # Deterministic: the first wait sees a commit, the second a Ctrl-C.
        waits.append(seconds)
        if len(waits) == 1:
            appended.append(_append_event(db))
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_commands, "sleep", sleep)
    outcome = cli(
        capsys, "log", str(db), "--from", str(last), "--follow", "--poll-interval", "0.25", "--json"
    )
    assert outcome.status == 0
    assert waits == [0.25, 0.25]
    (record,) = outcome.json_lines()
    assert record["position"] == appended[0] == last + 1
    assert record["metadata"] == [["user_id", "alice"]]
    assert outcome.err == ""


def test_follow_stops_after_max_polls(
    capsys: pytest.CaptureFixture[str], demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(cli_commands, "sleep", waits.append)
    outcome = cli(capsys, "log", str(demo_db), "--follow", "--max-polls", "3")
    assert outcome.status == 0
    assert waits == [1.0, 1.0, 1.0]
    rows = _rows(outcome)
    assert [int(row[0]) for row in rows] == list(range(1, len(rows) + 1))


@pytest.mark.skipif(sys.platform == "win32", reason="signals to a child are POSIX")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_follow_in_a_process_exits_0_on_a_signal(demo_db: Path, signum: signal.Signals) -> None:
    ((last,),) = _stored(demo_db, "SELECT max(position) FROM events")
    assert isinstance(last, int)
    child = subprocess.Popen(
        [sys.executable, "-m", "trio_eventsourcing", "log", str(demo_db), "--from", "5", "-f"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        assert child.stdout is not None
        assert child.stderr is not None
        # Every event printed: the child is following now, so that is where the signal lands.
        lines = [child.stdout.readline() for _ in range(2 + last - 5)]
        child.send_signal(signum)
        assert child.wait(timeout=30) == 0
        rest = child.stdout.read()
        err = child.stderr.read()
    finally:
        child.kill()
        child.wait()
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()
    assert err == ""
    assert rest == ""
    assert [line.split()[0] for line in lines[2:]] == [str(p) for p in range(6, last + 1)]


def test_stats(capsys: pytest.CaptureFixture[str], demo_db: Path) -> None:
    ((count, aggregates),) = _stored(
        demo_db,
        "SELECT count(*), count(DISTINCT aggregate_type || '/' || aggregate_id) FROM events",
    )
    ((snapshots,),) = _stored(demo_db, "SELECT count(*) FROM snapshots")
    per_type = _stored(
        demo_db,
        "SELECT aggregate_type, count(DISTINCT aggregate_id), count(*) FROM events"
        " GROUP BY 1 ORDER BY 1",
    )
    (record,) = cli(capsys, "stats", str(demo_db), "--json").json_lines()
    assert record["events"] == count
    assert record["aggregates"] == aggregates
    assert record["snapshots"] == snapshots
    assert record["last_position"] == count
    assert [
        (t["aggregate_type"], t["aggregates"], t["events"]) for t in record["aggregate_types"]
    ] == per_type
    assert per_type[0][:2] == ("bank_account", 5)
    event_types = record["event_types"]
    assert isinstance(event_types, list)
    assert [(t["aggregate_type"], t["event_type"]) for t in event_types] == [
        ("bank_account", "AccountOpened"),
        ("bank_account", "CustomerDepositedCash"),
        ("bank_account", "CustomerWithdrewCash"),
        ("transfer", "TransferCompleted"),
        ("transfer", "TransferFailed"),
        ("transfer", "TransferRequested"),
    ]
    assert sum(t["events"] for t in event_types) == count
    # The demo's one projection, its ledger, reads both types and is up to date.
    assert [
        (p["name"], p["aggregate_type"], p["checkpoint"], p["lag"]) for p in record["projections"]
    ] == [("ledger", "", count, 0)]

    table = cli(capsys, "stats", str(demo_db))
    assert table.status == 0
    lines = table.out.splitlines()
    assert lines[0] == f"store           SQLite file {str(demo_db)!r}"
    assert f"events          {count:,}" in lines
    assert any(line.split()[:2] == ["bank_account", "AccountOpened"] for line in lines)
    json.dumps(record)  # plain JSON all the way down


def test_the_inspection_connection_is_read_only(demo_db: Path) -> None:
    from trio_eventsourcing._stores.inspection.errors import InspectionError
    from trio_eventsourcing._stores.sqlite.inspector import SqliteInspector

    before = _stored(demo_db, "SELECT count(*) FROM events")
    inspector = SqliteInspector.open(str(demo_db))
    try:
        with pytest.raises(InspectionError, match="readonly database"):
            inspector.rows("DELETE FROM events")
    finally:
        inspector.close()
    assert _stored(demo_db, "SELECT count(*) FROM events") == before


def test_follow_stops_when_the_file_is_deleted(
    capsys: pytest.CaptureFixture[str],
    demo_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = copy_store(demo_db, tmp_path / "bank.db")
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        db.unlink()

    monkeypatch.setattr(cli_commands, "sleep", sleep)
    outcome = cli(capsys, "log", str(db), "--follow", "--max-polls", "5", "--json")
    line = assert_one_line_error(outcome)
    assert line.endswith(f"stopped following the log: the SQLite file {str(db)!r} was deleted")
    assert waits == [1.0]  # noticed at the next poll
    assert outcome.json_lines()  # what was there was printed first


def test_follow_stops_when_the_file_is_replaced(
    capsys: pytest.CaptureFixture[str],
    demo_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = copy_store(demo_db, tmp_path / "bank.db")
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        # Another file renamed over it, as a restore or a deployment would.
        waits.append(seconds)
        os.replace(copy_store(demo_db, tmp_path / "restored.db"), db)

    monkeypatch.setattr(cli_commands, "sleep", sleep)
    outcome = cli(capsys, "log", str(db), "--follow", "--max-polls", "5", "--json")
    line = assert_one_line_error(outcome)
    assert line.endswith(
        f"stopped following the log: the SQLite file {str(db)!r} was replaced by another file"
    )
    assert waits == [1.0]


def test_follow_goes_on_while_the_file_stays(
    capsys: pytest.CaptureFixture[str], demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(cli_commands, "sleep", waits.append)
    outcome = cli(capsys, "log", str(demo_db), "--follow", "--max-polls", "3", "--json")
    assert outcome.status == 0, outcome.err
    assert waits == [1.0, 1.0, 1.0]
