"""The transfer proof on SQLite with the process that runs the manager killed at random."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.process_managers.kill_proof import transfers_survive_kills
from tests.process_managers.transfer_bank import Backend


@pytest.mark.slow
async def test_transfers_keep_the_money_while_the_manager_s_process_is_killed(
    tmp_path: Path,
) -> None:
    backend = Backend("sqlite", str(tmp_path / "bank.db"))
    faults = await transfers_survive_kills(backend, 200, deadline=10.0, kill_within=0.5)
    assert faults.kills >= 5
