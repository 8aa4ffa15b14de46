"""``demo``: the bank account on an SQLite file, its summary, its check, and reruns."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import trio_eventsourcing._cli_demo as cli_demo
from trio_eventsourcing.examples import demo as examples_demo
from trio_eventsourcing.examples.demo import DemoReport, run_bank

from .helpers import SMALL_DEMO, assert_one_line_error, child_env, cli, copy_store, run_child


def _summary(out: str) -> dict[str, str]:
    """The summary's rows: name -> value."""
    rows = {}
    for line in out.splitlines()[1:]:
        name, _, value = line.partition("  ")
        rows[name.strip()] = value.strip()
    return rows


def _stored_events(capsys: pytest.CaptureFixture[str], db: Path) -> int:
    (record,) = cli(capsys, "stats", str(db), "--json").json_lines()
    events = record["events"]
    assert isinstance(events, int)
    return events


def test_demo_runs_then_continues_on_the_same_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "bank.db"
    first = cli(capsys, "demo", "--db", str(db), *SMALL_DEMO, "--seed", "7")
    assert first.status == 0, first.err
    summary = _summary(first.out)
    assert first.out.startswith(f"bank-account demo on {db} (SQLite)")
    assert summary["accounts"] == "5 (5 opened, 0 already open)"
    assert summary["commands"].startswith("205 in ")
    assert summary["balances"] == "all 5 match the model"
    assert re.fullmatch(r"[\d,]+", summary["commands/s"])
    for row in ("events", "snapshots", "commits", "seed"):
        assert summary[row]
    events = _stored_events(capsys, db)
    assert summary["events"] == f"{events} new, {events} in the file"

    # The rerun starts its model from the stored balances (else they would differ) and
    # opens no account twice.
    second = cli(capsys, "demo", "--db", str(db), *SMALL_DEMO, "--seed", "8")
    assert second.status == 0, second.err
    summary = _summary(second.out)
    assert summary["accounts"] == "5 (0 opened, 5 already open)"
    assert summary["commands"].startswith("200 in ")
    assert summary["balances"] == "all 5 match the model"
    more = _stored_events(capsys, db)
    assert more > events
    assert summary["events"] == f"{more - events} new, {more} in the file"

    # More accounts than before: the new ones are opened, the others continue.
    third = cli(capsys, "demo", "--db", str(db), "--accounts", "7", "--commands", "50")
    assert third.status == 0, third.err
    assert _summary(third.out)["accounts"] == "7 (2 opened, 5 already open)"


def test_a_balance_that_differs_from_the_model_fails_the_demo(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = run_bank

    async def wrong(*args: object, **kwargs: object) -> DemoReport:
        report = await real(*args, **kwargs)  # type: ignore[arg-type]
        return dataclasses.replace(report, mismatches=["account-0: stored 1, expected 2"])

    monkeypatch.setattr(cli_demo, "run_bank", wrong)
    outcome = cli(capsys, "demo", "--db", str(tmp_path / "bank.db"), *SMALL_DEMO)
    assert outcome.status == 1
    assert "1 of 5 DIFFER from the model" in outcome.out
    assert "account-0: stored 1, expected 2" in outcome.err
    assert outcome.err.splitlines()[-1] == (
        "trio-eventsourcing: error: 1 of 5 balances differ from the model"
    )


def test_the_demo_refuses_a_file_that_is_not_a_store(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "notes.db"
    db.write_text("my notes\n")
    line = assert_one_line_error(cli(capsys, "demo", "--db", str(db), *SMALL_DEMO))
    assert "is not an SQLite database" in line
    assert db.read_text() == "my notes\n"


@pytest.mark.parametrize("kind", ["empty file", "blank SQLite database"])
def test_the_demo_takes_over_an_empty_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    db = tmp_path / "bank.db"
    if kind == "empty file":
        db.touch()
    else:
        with contextlib.closing(sqlite3.connect(db)) as connection, connection:
            connection.execute("VACUUM")  # writes the header: a database with nothing in it
        connection.close()
        assert db.stat().st_size > 0
    outcome = cli(capsys, "demo", "--db", str(db), *SMALL_DEMO)
    assert outcome.status == 0, outcome.err
    assert "all 5 match the model" in outcome.out


@pytest.mark.parametrize("option", ["--accounts", "--commands", "--clients"])
def test_demo_sizes_must_be_positive(capsys: pytest.CaptureFixture[str], option: str) -> None:
    line = assert_one_line_error(cli(capsys, "demo", option, "0"), status=2)
    assert f"argument {option}: must be greater than zero" in line


def test_the_example_module_delegates_to_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "bank.db"
    assert examples_demo.main(["--db", str(db), *SMALL_DEMO]) == 0
    assert "all 5 match the model" in capsys.readouterr().out


def test_demo_as_a_process(tmp_path: Path) -> None:
    db = tmp_path / "bank.db"
    outcome = run_child("demo", "--db", str(db), *SMALL_DEMO)
    assert outcome.status == 0, outcome.err
    assert "all 5 match the model" in outcome.out
    # stderr is not a terminal here: no progress bar, no carriage returns anywhere.
    assert outcome.err == ""
    assert "\r" not in outcome.out
    again = run_child("demo", "--db", str(db), *SMALL_DEMO)
    assert again.status == 0, again.err
    assert "(0 opened, 5 already open)" in again.out
    assert "all 5 match the model" in again.out


def test_help_as_a_process() -> None:
    outcome = run_child("--help")
    assert outcome.status == 0
    assert outcome.out.startswith("usage: python -m trio_eventsourcing")
    for command in ("demo", "aggregates", "events", "log", "stats", "projections"):
        assert command in outcome.out


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX")
def test_ctrl_c_stops_the_demo_and_a_rerun_continues(tmp_path: Path) -> None:
    db = tmp_path / "bank.db"
    child = subprocess.Popen(
        [sys.executable, "-m", "trio_eventsourcing", "demo", "--db", str(db),
         "--accounts", "5", "--commands", "1000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )  # fmt: skip
    try:
        # The file exists once the store has started: the demo is running.
        deadline = time.monotonic() + 30
        while not db.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 130
    assert out == ""
    assert "Traceback" not in err
    assert err.splitlines()[-1] == "python -m trio_eventsourcing: interrupted"
    again = run_child("demo", "--db", str(db), "--accounts", "5", "--commands", "20")
    assert again.status == 0, again.err
    assert "all 5 match the model" in again.out


def _file_state(path: Path) -> dict[str, bytes]:
    """The bytes of the database file and of any companion (-wal, -shm) file."""
    found = {}
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            found[suffix] = candidate.read_bytes()
    return found


def _add_other_aggregate(db: Path) -> None:
    """Store one event of another application's aggregate type, as its store would."""
    with contextlib.closing(sqlite3.connect(db)) as connection, connection:
        connection.execute(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,"
            " event_version, payload, metadata) VALUES ('order', 'order-1', 1,"
            " 'OrderPlaced', 1, '{}', '[]')"
        )
    connection.close()


@pytest.fixture
def other_app_db(demo_db: Path, tmp_path: Path) -> Path:
    """A store holding bank accounts and the aggregate of another type."""
    db = copy_store(demo_db, tmp_path / "app.db")
    _add_other_aggregate(db)
    return db


def test_the_demo_refuses_a_store_with_other_aggregate_types(
    capsys: pytest.CaptureFixture[str], other_app_db: Path
) -> None:
    before = _file_state(other_app_db)
    outcome = cli(capsys, "demo", "--db", str(other_app_db), *SMALL_DEMO)
    line = assert_one_line_error(outcome, status=2)
    assert "holds aggregates of other types than 'bank_account' ('order')" in line
    assert line.endswith("pass --allow-other-aggregates to run it there anyway")
    assert outcome.out == ""
    assert _file_state(other_app_db) == before


def test_the_demo_runs_on_other_aggregate_types_when_allowed(
    capsys: pytest.CaptureFixture[str], other_app_db: Path
) -> None:
    outcome = cli(
        capsys, "demo", "--db", str(other_app_db), *SMALL_DEMO, "--allow-other-aggregates"
    )
    assert outcome.status == 0, outcome.err
    assert "all 5 match the model" in outcome.out
