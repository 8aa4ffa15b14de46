"""What the command-line tests share: running ``main`` in-process and as a process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import trio_eventsourcing
from trio_eventsourcing.__main__ import main

SRC = Path(trio_eventsourcing.__file__).resolve().parent.parent
"""The directory the package is imported from, for the child processes' PYTHONPATH."""

SMALL_DEMO = ["--accounts", "5", "--commands", "200", "--clients", "3"]


@dataclass(frozen=True)
class Outcome:
    """What one run of the command line printed, and its exit status."""

    status: int
    out: str
    err: str

    def json_lines(self) -> list[dict[str, Any]]:
        """The lines of stdout, each parsed as a JSON object (JSON values are Any)."""
        records: list[dict[str, Any]] = [json.loads(line) for line in self.out.splitlines()]
        assert all(isinstance(record, dict) for record in records)
        return records


def cli(capsys: pytest.CaptureFixture[str], *arguments: str) -> Outcome:
    """Run ``main(arguments)`` in this process and capture what it prints."""
    capsys.readouterr()  # what came before is not this run's
    status = main(list(arguments))
    captured = capsys.readouterr()
    return Outcome(status, captured.out, captured.err)


def child_env() -> dict[str, str]:
    """The environment of a child process that imports this very package."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return env


def run_child(*arguments: str, timeout: float = 60) -> Outcome:
    """Run ``python -m trio_eventsourcing arguments`` as a child process."""
    done = subprocess.run(
        [sys.executable, "-m", "trio_eventsourcing", *arguments],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=timeout,
        check=False,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def assert_one_line_error(outcome: Outcome, status: int = 1) -> str:
    """Check the shape of every error: a status, one line on stderr, no traceback."""
    assert outcome.status == status, outcome
    lines = outcome.err.splitlines()
    assert len(lines) == 1, outcome.err
    assert "Traceback" not in outcome.err
    assert lines[0].startswith("trio-eventsourcing: error: ") or lines[0].startswith(
        "python -m trio_eventsourcing: error: "
    ), lines[0]
    return lines[0]


def copy_store(source: Path, target: Path) -> Path:
    """A copy of a closed store file (its WAL was checkpointed when the store stopped)."""
    shutil.copyfile(source, target)
    return target
