"""Every error is one line on stderr and a non-zero status; no traceback, no password."""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from pathlib import Path

import pytest

import trio_eventsourcing.__main__ as cli_main
from tests.cli.helpers import assert_one_line_error, cli, copy_store, run_child
from trio_eventsourcing.sqlite_store import APPLICATION_ID, SCHEMA_VERSION

INSPECTIONS = [
    ["aggregates"],
    ["events", "DB", "account-1"],
    ["log"],
    ["log", "--follow"],
    ["stats"],
    ["projections", "reset", "DB", "balances"],
]


def _command(template: list[str], db: str) -> list[str]:
    """An inspection command with ``db`` as its DB (after the command, or where it says)."""
    if "DB" in template:
        return [db if part == "DB" else part for part in template]
    return [template[0], db, *template[1:]]


@pytest.mark.parametrize("template", INSPECTIONS, ids=" ".join)
def test_no_such_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, template: list[str]
) -> None:
    missing = tmp_path / "missing.db"
    line = assert_one_line_error(cli(capsys, *_command(template, str(missing))))
    assert line.endswith(f"no such file: {str(missing)!r}")
    assert not missing.exists()


@pytest.mark.parametrize(
    ("db", "url"),
    [
        ("host=127.0.0.1", "postgresql://127.0.0.1/"),
        ("host=db port=5433 user=app dbname=bank", "postgresql://app@db:5433/bank"),
    ],
)
def test_a_key_value_connection_string_is_answered_with_the_url_to_write(
    capsys: pytest.CaptureFixture[str], db: str, url: str
) -> None:
    # A usage error (status 2): the argument cannot be right, whatever any file holds.
    line = assert_one_line_error(cli(capsys, "stats", db), status=2)
    assert "looks like a key=value connection string" in line
    assert line.endswith(f"write it as a URL: {url})")


def test_a_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = assert_one_line_error(cli(capsys, "stats", str(tmp_path)))
    assert "is a directory" in line


def test_a_file_that_is_not_sqlite(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"not a database at all, just some text\n")
    line = assert_one_line_error(cli(capsys, "aggregates", str(path)))
    assert line.endswith(f"{str(path)!r} is not an SQLite database")


def test_an_empty_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    line = assert_one_line_error(cli(capsys, "log", str(path)))
    assert "is empty" in line
    assert path.read_bytes() == b""


def test_an_sqlite_file_of_another_application(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT)")
    connection.close()
    before = path.read_bytes()
    for command in (["stats", str(path)], ["projections", "reset", str(path), "x"]):
        line = assert_one_line_error(cli(capsys, *command))
        assert "is not a trio-eventsourcing store" in line
    assert path.read_bytes() == before  # not even opened for writing


def test_a_newer_schema(capsys: pytest.CaptureFixture[str], demo_db: Path, tmp_path: Path) -> None:
    path = copy_store(demo_db, tmp_path / "newer.db")
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    line = assert_one_line_error(cli(capsys, "events", str(path), "account-1"))
    assert f"schema version {SCHEMA_VERSION + 1}" in line
    assert "newer trio-eventsourcing" in line


def test_a_damaged_store(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute("PRAGMA user_version = 1")
        connection.execute("CREATE TABLE events (position INTEGER PRIMARY KEY)")
    connection.close()
    line = assert_one_line_error(cli(capsys, "stats", str(path)))
    assert "damaged" in line
    assert "snapshots" in line


def test_an_aggregate_without_events(capsys: pytest.CaptureFixture[str], demo_db: Path) -> None:
    line = assert_one_line_error(cli(capsys, "events", str(demo_db), "nobody"))
    assert line.endswith("has no events for aggregate 'nobody'")


def test_postgres_options_on_an_sqlite_file(
    capsys: pytest.CaptureFixture[str], demo_db: Path
) -> None:
    line = assert_one_line_error(cli(capsys, "stats", str(demo_db), "--schema", "x"), status=2)
    assert "PostgreSQL" in line


@pytest.mark.parametrize(
    "arguments",
    [
        [],
        ["nonsense"],
        ["log"],
        ["log", "bank.db", "--from", "-1"],
        ["log", "bank.db", "--from", "two"],
        ["log", "bank.db", "--poll-interval", "0"],
        ["log", "bank.db", "--bogus"],
        ["projections"],
        ["demo", "--clients", "many"],
    ],
    ids=lambda arguments: " ".join(arguments) or "nothing",
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], arguments: list[str]) -> None:
    line = assert_one_line_error(cli(capsys, *arguments), status=2)
    assert line.endswith(" --help')")


def test_help_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ([], ["demo"], ["aggregates"], ["events"], ["log"], ["stats"],
                    ["projections"], ["projections", "reset"]):  # fmt: skip
        outcome = cli(capsys, *command, "--help")
        assert outcome.status == 0
        assert outcome.out.startswith(f"usage: trio-eventsourcing {' '.join(command)}".rstrip())
        assert outcome.err == ""
    assert cli(capsys, "--version").out.startswith("trio-eventsourcing ")


SECRET_DSN = "postgresql://u:s3cret@127.0.0.1:1/x"


def test_an_unreachable_server(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("psycopg")
    for command in (["stats", SECRET_DSN], ["log", SECRET_DSN, "--follow"]):
        outcome = cli(capsys, *command)
        line = assert_one_line_error(outcome)
        assert "cannot connect to PostgreSQL u@127.0.0.1:1/x" in line
        assert "s3cret" not in outcome.err + outcome.out


def test_an_unreachable_server_as_a_process() -> None:
    pytest.importorskip("psycopg")
    outcome = run_child("aggregates", SECRET_DSN)
    line = assert_one_line_error(outcome)
    assert "cannot connect to PostgreSQL" in line
    assert "s3cret" not in outcome.err + outcome.out


def test_a_dsn_that_does_not_parse(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("psycopg")
    outcome = cli(capsys, "stats", "postgresql://u:s3cret@h:notaport/x")
    assert outcome.status in (1, 2)
    assert_one_line_error(outcome, status=outcome.status)
    assert "s3cret" not in outcome.err


def test_a_missing_driver(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` now fails
    outcome = cli(capsys, "stats", SECRET_DSN)
    line = assert_one_line_error(outcome)
    assert line.endswith('pip install "trio-eventsourcing[postgres]"')
    assert "s3cret" not in outcome.err


def test_a_keyword_dsn_is_not_echoed(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = cli(capsys, "stats", "host=db user=u password=s3cret dbname=x")
    line = assert_one_line_error(outcome, status=2)
    assert "postgresql://" in line
    assert "s3cret" not in outcome.err


def test_secrets_are_scrubbed_from_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = cli(capsys, SECRET_DSN)  # the DSN where the command should be
    assert_one_line_error(outcome, status=2)
    assert "s3cret" not in outcome.err
    assert "u:***@127.0.0.1" in outcome.err


def test_an_unexpected_error_is_one_line_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> int:
        raise RuntimeError(f"lost the connection to {SECRET_DSN}\nsecond line")

    monkeypatch.setattr(cli_main, "_run", broken)
    monkeypatch.delenv("TRIO_EVENTSOURCING_TRACEBACK", raising=False)
    outcome = cli(capsys, "stats", SECRET_DSN)
    line = assert_one_line_error(outcome)
    assert "unexpected RuntimeError" in line
    assert "s3cret" not in line
    assert "TRIO_EVENTSOURCING_TRACEBACK=1" in line

    monkeypatch.setenv("TRIO_EVENTSOURCING_TRACEBACK", "1")
    with pytest.raises(RuntimeError, match="lost the connection"):
        cli(capsys, "stats", SECRET_DSN)


def test_ctrl_c_outside_follow_is_status_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_main, "_run", interrupted)
    outcome = cli(capsys, "stats", "bank.db")
    assert outcome.status == 130
    assert outcome.err == "trio-eventsourcing: interrupted\n"


@pytest.mark.parametrize(
    ("arguments", "help_of"),
    [
        (["log", "DB", "--form", "3"], "log"),
        (["projections", "reset", "DB", "balances", "--bogus"], "projections reset"),
    ],
)
def test_an_unknown_argument_points_to_the_help_of_its_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, arguments: list[str], help_of: str
) -> None:
    db = str(tmp_path / "bank.db")
    line = assert_one_line_error(
        cli(capsys, *[db if part == "DB" else part for part in arguments]), status=2
    )
    assert "unrecognized arguments:" in line
    assert line.endswith(f"(see 'trio-eventsourcing {help_of} --help')")
