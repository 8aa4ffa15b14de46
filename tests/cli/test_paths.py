"""Paths the demo and the inspections cannot use: one clear line, and nothing opened.

A named pipe (FIFO) is refused before it is opened (opening one waits for a writer, for
ever); so is a demo file in a directory that does not exist. The demo's errors are one
line also in a process of its own, where a library log record would otherwise reach
stderr through Python's last-resort handler.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import SMALL_DEMO, assert_one_line_error, cli, run_child

fifo_only = pytest.mark.skipif(sys.platform == "win32", reason="named pipes are POSIX here")


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.db"
    os.mkfifo(path)
    return path


@fifo_only
@pytest.mark.parametrize(
    "command", [["stats"], ["aggregates"], ["log"], ["log", "--follow"]], ids=" ".join
)
def test_an_inspection_refuses_a_fifo_without_opening_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> None:
    path = _fifo(tmp_path)
    line = assert_one_line_error(cli(capsys, command[0], str(path), *command[1:]))
    assert line.endswith(f"{str(path)!r} is a named pipe (FIFO), not an SQLite file")
    assert stat.S_ISFIFO(path.stat().st_mode)


@fifo_only
def test_the_demo_refuses_a_fifo_without_opening_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _fifo(tmp_path)
    line = assert_one_line_error(cli(capsys, "demo", "--db", str(path), *SMALL_DEMO))
    assert line.endswith(f"{str(path)!r} is a named pipe (FIFO), not an SQLite file")
    assert stat.S_ISFIFO(path.stat().st_mode)


def test_the_demo_in_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    # A process of its own: in one, nothing but the command line's own handling keeps a
    # log record off stderr (pytest's log capture would hide one here).
    path = tmp_path / "nodir" / "x.db"
    line = assert_one_line_error(run_child("demo", "--db", str(path), *SMALL_DEMO))
    assert line.endswith(
        f"cannot create the SQLite file {str(path)!r}: the directory "
        f"{str(path.parent)!r} does not exist"
    )
    assert not path.parent.exists()


def test_a_demo_whose_store_fails_to_start_prints_one_line(tmp_path: Path) -> None:
    # A link to a file in a missing directory: only the store, opening it, finds out.
    path = tmp_path / "bank.db"
    path.symlink_to(tmp_path / "nodir" / "x.db")
    line = assert_one_line_error(run_child("demo", "--db", str(path), *SMALL_DEMO))
    assert f"the demo failed on {str(path)!r}" in line
    assert "unable to open database file" in line
