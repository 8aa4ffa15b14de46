"""Numbers out of range are usage errors (status 2) naming the option and its range.

A position or a count past what a store holds once ended in an OverflowError reported as
a bug, a poll interval of 1e300 in one too, and a demo of 2**70 accounts grew to
gigabytes: each option has bounds that make sense for it, checked before anything runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import trio_eventsourcing._cli.commands as cli_commands
from tests.cli.helpers import assert_one_line_error, cli

TOO_BIG = str(2**70)


FROM = "argument --from: must be from 0 to 9223372036854775807"
SIZES = "must be greater than zero and at most"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--from", TOO_BIG], FROM),
        (["--from", "9" * 5000], FROM),
        (["--limit", TOO_BIG], f"argument --limit: {SIZES} 9223372036854775807"),
        (["--follow", "--max-polls", TOO_BIG], "argument --max-polls: must be from 0 to"),
    ],
    ids=lambda value: " ".join(value)[:40] if isinstance(value, list) else "",
)
def test_a_log_option_out_of_range_is_a_usage_error_naming_the_range(
    capsys: pytest.CaptureFixture[str], demo_db: Path, arguments: list[str], message: str
) -> None:
    line = assert_one_line_error(cli(capsys, "log", str(demo_db), *arguments), status=2)
    assert message in line
    assert len(line) < 300  # a huge number is not echoed whole


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--seed", TOO_BIG], "argument --seed: must be from 0 to 9223372036854775807"),
        (["--accounts", TOO_BIG], f"argument --accounts: {SIZES} 100000,"),
        (["--accounts", "100001"], f"argument --accounts: {SIZES} 100000,"),
        (["--commands", TOO_BIG], f"argument --commands: {SIZES} 100000000,"),
        (["--clients", "10001"], f"argument --clients: {SIZES} 10000,"),
    ],
    ids=lambda value: " ".join(value)[:40] if isinstance(value, list) else "",
)
def test_a_demo_option_out_of_range_is_a_usage_error_naming_the_range(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, arguments: list[str], message: str
) -> None:
    db = tmp_path / "bank.db"
    line = assert_one_line_error(cli(capsys, "demo", "--db", str(db), *arguments), status=2)
    assert message in line
    assert not db.exists()  # refused before anything ran


@pytest.mark.parametrize("seconds", ["1e300", "86401", "nan", "inf", "-inf", "-1", "0"])
def test_a_poll_interval_out_of_range_is_a_usage_error_naming_the_range(
    capsys: pytest.CaptureFixture[str], demo_db: Path, seconds: str
) -> None:
    outcome = cli(capsys, "log", str(demo_db), "--follow", f"--poll-interval={seconds}")
    line = assert_one_line_error(outcome, status=2)
    assert (
        "argument --poll-interval: must be a number of seconds greater than 0 and at most 86400"
        in line
    )


def test_the_largest_numbers_in_range_are_accepted(
    capsys: pytest.CaptureFixture[str], demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(cli_commands, "sleep", waits.append)
    largest = str(2**63 - 1)
    outcome = cli(
        capsys, "log", str(demo_db), "--from", largest, "--limit", largest,
        "--follow", "--max-polls", "1", "--poll-interval", "86400",
    )  # fmt: skip
    assert outcome.status == 0, outcome.err
    assert outcome.out == ""
    assert waits == [86400.0]
