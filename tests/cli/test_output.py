"""The pieces printed by hand: tables, the progress bar, and DSNs without their passwords."""

from __future__ import annotations

import io

import pytest

from trio_eventsourcing._cli.errors import Secrets
from trio_eventsourcing._cli.output import Column, Table, compact_json, key_values, stored_json
from trio_eventsourcing._cli.progress import PLAIN_INTERVAL_S, ProgressBar
from trio_eventsourcing._stores.postgres.backend import is_postgres_dsn
from trio_eventsourcing._stores.postgres.inspector import describe_dsn


def test_table_aligns_streams_and_cuts() -> None:
    out = io.StringIO()
    table = Table(out, [Column("id"), Column("n", ">"), Column("payload", max_width=10)])
    table.write([["a", "1", "short"], ["bbb", "22", "x" * 30]])
    table.write([["a-much-longer-id", "333", "{}"]])  # widths stay those of the first batch
    table.finish("nothing")
    assert out.getvalue().splitlines() == [
        "id    n  payload",
        "---  --  ----------",
        "a     1  short",
        "bbb  22  xxxxxxx...",
        "a-much-longer-id  333  {}",
    ]


def test_table_escapes_control_characters_and_says_when_empty() -> None:
    out = io.StringIO()
    Table(out, [Column("text")]).write([["two\nlines"]])
    assert out.getvalue().splitlines()[2] == "two\\nlines"
    out = io.StringIO()
    Table(out, [Column("text")]).finish("no rows")
    assert out.getvalue() == "(no rows)\n"


def test_key_values() -> None:
    out = io.StringIO()
    key_values(out, [("events", "10"), ("last position", "10")])
    assert out.getvalue() == "events         10\nlast position  10\n"


def test_stored_json() -> None:
    assert stored_json('{"a": [1, "2"]}') == {"a": [1, "2"]}
    assert stored_json("not json") == "not json"  # shown as it is, never a failure
    assert compact_json('{"a": 1,  "b": "\\u00e9"}') == '{"a":1,"b":"é"}'
    assert compact_json("{broken") == "{broken"


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_progress_bar_redraws_one_line() -> None:
    out, clock = _Terminal(), _Clock()
    bar = ProgressBar(out, total=200, unit="commands", clock=clock)
    assert bar.live
    clock.now += 1
    bar.show(50)
    clock.now += 1
    bar.show(100)
    bar.close(200)
    text = out.getvalue()
    assert text.endswith("\n")
    assert text.count("\n") == 1
    frames = text[:-1].split("\r")[1:]
    assert len(frames) == 3
    assert "25%" in frames[0]
    assert "50/200 commands" in frames[0]
    assert "50/s" in frames[0]
    assert "ETA 3s" in frames[0]
    assert "100%" in frames[2]
    assert "done" in frames[2]
    assert all(frame.startswith("[") for frame in frames)


def test_the_last_line_of_the_bar_can_take_the_callers_time() -> None:
    # The demo ends its bar on the time its summary reports, not on the bar's own clock.
    out, clock = _Terminal(), _Clock()
    bar = ProgressBar(out, total=200, unit="commands", clock=clock)
    clock.now += 10
    bar.close(200, seconds=4.0)
    assert "200/200 commands  50/s  done" in out.getvalue()


def test_progress_without_a_terminal_prints_a_plain_line_now_and_then() -> None:
    out, clock = io.StringIO(), _Clock()
    bar = ProgressBar(out, total=1_000, unit="commands", clock=clock)
    assert not bar.live
    bar.show(10)
    clock.now += PLAIN_INTERVAL_S / 2
    bar.show(20)
    assert out.getvalue() == ""  # a short run prints nothing
    clock.now += PLAIN_INTERVAL_S / 2
    bar.show(500)
    bar.close(1_000)
    assert out.getvalue() == "50%: 500 of 1,000 commands, 100/s, ETA 5s\n"
    assert "\r" not in out.getvalue()


def test_progress_bar_falls_back_to_ascii() -> None:
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    bar = ProgressBar(out, total=10, unit="steps", live=True)
    bar.show(5)
    out.flush()
    assert isinstance(out.buffer, io.BytesIO)
    drawn = out.buffer.getvalue().decode("ascii")
    assert "#" in drawn
    assert "-" in drawn


@pytest.mark.parametrize(
    ("dsn", "secrets"),
    [
        ("postgresql://u:s3cret@host/db", ["s3cret"]),
        ("postgres://u:s%40cret@host:5432/db", ["s%40cret", "s@cret"]),
        ("postgresql://u@host/db?password=s3cret&sslmode=require", ["s3cret"]),
        ("postgresql://host/db", []),
        ("host=db password=s3cret", ["s3cret"]),
    ],
)
def test_secrets_of_a_dsn(dsn: str, secrets: list[str]) -> None:
    scrubbed = Secrets.of_argument(dsn).scrub(f"failed on {dsn} ({' '.join(secrets)})")
    for secret in secrets:
        assert secret not in scrubbed
    if not secrets:
        assert scrubbed == f"failed on {dsn} ()"


def test_secrets_of_a_command_line() -> None:
    secrets = Secrets.of_arguments(["stats", "--db=postgresql://u:pw1@h/x", "postgres://v:pw2@h/y"])
    assert secrets.scrub("pw1 pw2 pw3") == "*** *** pw3"


def test_describe_dsn() -> None:
    assert describe_dsn("postgresql://u:s3cret@db.example:5433/bank?sslmode=require") == (
        "postgresql://u@db.example:5433/bank"
    )
    assert describe_dsn("postgresql://[::1]/bank") == "postgresql://[::1]/bank"
    assert is_postgres_dsn("POSTGRES://h/db")
    assert is_postgres_dsn("postgresql://h/db")
    assert not is_postgres_dsn("bank.db")
    assert not is_postgres_dsn("sqlite://bank.db")
