"""Process managers on PostgreSQL: the transfer example's proof, with its state on the server."""

from __future__ import annotations

import pytest

from tests.process_managers.test_transfers import transfers_keep_the_money
from tests.process_managers.transfer_bank import Backend


@pytest.mark.slow
async def test_a_manager_restarted_at_random_moments_keeps_the_money(dsn: str, schema: str) -> None:
    # Each restart loads the manager from the server: what it decided and had not saved
    # is decided again, under the same keys.
    backend = Backend("postgres", f"{dsn} {schema}")
    await transfers_keep_the_money(backend, 100, deadline=10.0, crash_every=0.5, crash_for=6.0)
