"""Fixtures of the command-line tests: one store made by the demo, shared read-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import SMALL_DEMO
from trio_eventsourcing.__main__ import main


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store written by two runs of the demo. Tests only read it: copy it to change it."""
    path = tmp_path_factory.mktemp("demo") / "bank.db"
    for seed in ("1", "2"):
        assert main(["demo", "--db", str(path), *SMALL_DEMO, "--seed", seed]) == 0
    return path
