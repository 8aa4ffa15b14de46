"""The transfer proof on PostgreSQL: two processes run the manager, one at a time, and
either is killed at random; the one standing by takes over."""

from __future__ import annotations

import pytest

from tests.process_managers.kill_proof import transfers_survive_kills
from tests.process_managers.transfer_bank import Backend


@pytest.mark.slow
async def test_transfers_keep_the_money_while_the_manager_s_processes_are_killed(
    dsn: str, schema: str
) -> None:
    backend = Backend("postgres", f"{dsn} {schema}")
    faults = await transfers_survive_kills(backend, 200, deadline=10.0, workers=2, kill_within=0.5)
    assert faults.kills >= 3
