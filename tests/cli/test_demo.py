"""``demo``: the bank on an SQLite file, its summary, its checks, and reruns."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import trio_eventsourcing._cli.demo as cli_demo
from tests.cli.helpers import (
    SMALL_DEMO,
    assert_one_line_error,
    child_env,
    cli,
    copy_store,
    run_child,
)
from tests.sqlite.helpers import file_bytes
from trio_eventsourcing.examples import demo as examples_demo
from trio_eventsourcing.examples.demo import DemoReport, run_bank


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
    assert first.out.startswith(f"bank demo on {db} (SQLite: accounts and transfers, one file)")
    assert summary["accounts"] == "5 (5 opened, 0 already open)"
    assert re.fullmatch(
        r"200 in [\d.]+ s \([\d,]+/s\): [\d,]+ deposits and withdrawals, [\d,]+ transfers",
        summary["commands"],
    )
    assert summary["balances"] == "all 5 match the model"
    assert re.fullmatch(r"all [\d,]+ match the model", summary["transfers"])
    assert summary["ledger check"] == "matches the model"
    for row in ("sent", "refused", "snapshots", "commits", "ledger", "read your write", "seed"):
        assert summary[row]
    events = _stored_events(capsys, db)
    assert summary["events"].startswith(f"{events} new, {events} in the file: bank_account ")

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
    assert summary["events"].startswith(f"{more - events} new, {more} in the file: ")

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


_WRONG = "transfer-1: stored requested, expected completed"


@pytest.mark.parametrize(
    ("spoil", "row", "shown", "error"),
    [
        (
            lambda report: dataclasses.replace(report, transfer_mismatches=[_WRONG]),
            "transfers",
            re.compile(r"1 of [\d,]+ DIFFER from the model"),
            re.compile(r"1 of [\d,]+ transfers differ from the model"),
        ),
        (
            lambda report: dataclasses.replace(report, ledger_mismatches=[_WRONG]),
            "ledger check",
            re.compile(r"DIFFERS from the model \(1 row\)"),
            re.compile(r"the ledger differs from the model in 1 row"),
        ),
    ],
    ids=["transfer", "ledger"],
)
def test_a_transfer_or_ledger_row_that_differs_from_the_model_fails_the_demo(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    spoil: Callable[[DemoReport], DemoReport],
    row: str,
    shown: re.Pattern[str],
    error: re.Pattern[str],
) -> None:
    real = run_bank

    async def wrong(*args: object, **kwargs: object) -> DemoReport:
        return spoil(await real(*args, **kwargs))  # type: ignore[arg-type]

    monkeypatch.setattr(cli_demo, "run_bank", wrong)
    outcome = cli(capsys, "demo", "--db", str(tmp_path / "bank.db"), *SMALL_DEMO)
    assert outcome.status == 1
    assert shown.fullmatch(_summary(outcome.out)[row])
    lines = outcome.err.splitlines()
    assert lines[:-1] == [f"  {_WRONG}"]
    assert error.fullmatch(lines[-1].removeprefix("trio-eventsourcing: error: "))


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


class _Terminal(io.StringIO):
    """A stderr that is a terminal: the demo draws its live bar there."""

    def isatty(self) -> bool:
        return True


def test_the_bar_ends_on_the_count_and_rate_of_the_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")  # room for the whole bar, whatever runs the tests
    out, err = io.StringIO(), _Terminal()
    options = cli_demo.DemoOptions(
        db=str(tmp_path / "bank.db"), accounts=5, commands=200, clients=3, seed=7
    )
    assert cli_demo.run_demo(options, out, err, "trio-eventsourcing") == 0
    last = err.getvalue().removesuffix("\n").rsplit("\r", 1)[-1]
    bar = re.search(r" 100%  (?P<count>[\d,]+)/200 commands  (?P<rate>[\d,]+/s)  done", last)
    assert bar is not None, last
    commands = _summary(out.getvalue())["commands"]
    row = re.fullmatch(r"(?P<count>[\d,]+) in [\d.]+ s \((?P<rate>[\d,]+/s)\): .+", commands)
    assert row is not None, commands
    assert bar["count"] == row["count"] == "200"
    assert bar["rate"] == row["rate"]


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
    assert "all 5 match the model" in again.out


def test_help_as_a_process() -> None:
    outcome = run_child("--help")
    assert outcome.status == 0
    assert outcome.out.startswith("usage: python -m trio_eventsourcing")
    for command in ("demo", "aggregates", "events", "log", "stats", "projections"):
        assert command in outcome.out


def _stored_events_so_far(db: Path) -> int:
    """Events in a store another process is writing; 0 until it has its tables."""
    try:
        connection = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=1)
    except sqlite3.Error:
        return 0
    try:
        ((count,),) = connection.execute("SELECT count(*) FROM events").fetchall()
    except sqlite3.Error:
        return 0  # not a store yet: the demo is creating its tables
    finally:
        connection.close()
    assert isinstance(count, int)
    return count


def _wait_for(child: subprocess.Popen[str], ready: Callable[[], bool], what: str) -> None:
    """Poll ``ready`` until it holds; fail (not hang) if the child ends or time runs out."""
    deadline = time.monotonic() + 60
    while not ready():
        if child.poll() is not None:
            pytest.fail(f"the demo ended (status {child.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"the demo ran 60 s without {what}")
        time.sleep(0.005)


def _interrupt_the_demo(db: Path, *signals: signal.Signals, when: str) -> tuple[int, str, str]:
    """Run a long demo, send it ``signals`` once it is ``when``; its status, stdout, stderr."""
    child = subprocess.Popen(
        [sys.executable, "-m", "trio_eventsourcing", "demo", "--db", str(db),
         "--accounts", "5", "--commands", "1000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )  # fmt: skip
    try:
        if when == "starting":
            # The file exists once the store has started: the bank is starting.
            _wait_for(child, db.exists, "creating its file")
        else:
            _wait_for(child, lambda: _stored_events_so_far(db) >= 50, "storing 50 events")
        for signum in signals:
            child.send_signal(signum)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
        child.wait()
    return child.returncode, out, err


def _assert_a_rerun_continues(db: Path) -> None:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    again = run_child("demo", "--db", str(db), "--accounts", "5", "--commands", "20")
    assert again.status == 0, again.err
    assert "all 5 match the model" in again.out


_PROGRESS_LINE = re.compile(r"\d+%: [\d,]+ of [\d,]+ commands, ")


def _last_line_only(err: str) -> str:
    """The one line of stderr, past the plain progress lines of a slow machine (every 5 s)."""
    lines = err.splitlines()
    assert lines, "nothing on stderr"
    assert all(_PROGRESS_LINE.match(line) for line in lines[:-1]), err
    return lines[-1]


@pytest.mark.skipif(sys.platform == "win32", reason="signals to a child are POSIX")
@pytest.mark.parametrize("when", ["starting", "running"])
@pytest.mark.parametrize(
    ("signum", "status", "line"),
    [
        (signal.SIGINT, 130, "python -m trio_eventsourcing: interrupted"),
        (signal.SIGTERM, 143, "python -m trio_eventsourcing: terminated"),
    ],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_stops_the_demo_in_order_and_a_rerun_continues(
    tmp_path: Path, signum: signal.Signals, status: int, line: str, when: str
) -> None:
    db = tmp_path / "bank.db"
    returncode, out, err = _interrupt_the_demo(db, signum, when=when)
    assert returncode == status, err
    assert out == ""
    assert "Traceback" not in err
    assert _last_line_only(err) == line
    _assert_a_rerun_continues(db)


@pytest.mark.skipif(sys.platform == "win32", reason="signals to a child are POSIX")
def test_a_second_ctrl_c_stops_the_demo_at_once(tmp_path: Path) -> None:
    # Whether the second signal finds the orderly stop under way or already over, the
    # user sees the same: one line, status 130, and a file a rerun continues on.
    db = tmp_path / "bank.db"
    returncode, out, err = _interrupt_the_demo(db, signal.SIGINT, signal.SIGINT, when="running")
    assert returncode == 130, err
    assert out == ""
    assert _last_line_only(err) == "python -m trio_eventsourcing: interrupted"
    _assert_a_rerun_continues(db)


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
    before = file_bytes(other_app_db)
    outcome = cli(capsys, "demo", "--db", str(other_app_db), *SMALL_DEMO)
    line = assert_one_line_error(outcome, status=2)
    assert "holds aggregates of other types than 'bank_account' and 'transfer' ('order')" in line
    assert line.endswith("pass --allow-other-aggregates to run it there anyway")
    assert outcome.out == ""
    assert file_bytes(other_app_db) == before


def test_the_demo_runs_on_other_aggregate_types_when_allowed(
    capsys: pytest.CaptureFixture[str], other_app_db: Path
) -> None:
    outcome = cli(
        capsys, "demo", "--db", str(other_app_db), *SMALL_DEMO, "--allow-other-aggregates"
    )
    assert outcome.status == 0, outcome.err
    assert "all 5 match the model" in outcome.out
