"""Process managers under faults: the transfer proof while manager processes are killed
and the database server crashes.

Two worker processes run the transfers' process manager (one runs it, the other stands
by) on a database of a private cluster, while this process requests 200 transfers and
the other bank confirms two credits in three. At random moments a worker is killed with
``kill -9`` and started again, or the server is crashed (``pg_ctl stop -m immediate``)
and started again after an outage of up to a second. Then, faults stopped and the
manager settled: the money across all accounts is what it was, every transfer ended
once, completed or failed as planned, and no command was applied twice
(``tests/process_managers/transfer_proof.py``).
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable

import pytest
import trio

from tests.process_managers.kill_proof import transfers_survive_kills
from tests.process_managers.transfer_bank import Backend
from tests.soak import settings
from tests.soak.cluster import USER, PrivateCluster

TRANSFERS = 200


@pytest.mark.slow
async def test_transfers_keep_the_money_while_managers_die_and_the_server_crashes(
    pg_cluster: PrivateCluster, soak_seed: int, soak_summary: Callable[[str], None]
) -> None:
    rng = random.Random(soak_seed)
    dbname = f"pm_{secrets.token_hex(4)}"
    await trio.to_thread.run_sync(pg_cluster.create_database, dbname)

    def crash_server() -> None:
        pg_cluster.crash_and_restart(rng.uniform(0.05, 1.0))

    try:
        backend = Backend(
            "postgres", f"postgresql://{USER}@127.0.0.1:{pg_cluster.port}/{dbname} public"
        )
        faults = await transfers_survive_kills(
            backend,
            TRANSFERS,
            deadline=max(6.0, settings.soak_seconds()),
            workers=2,
            kill_within=0.6,
            seed=soak_seed,
            crash_server=crash_server,
        )
    finally:
        await trio.to_thread.run_sync(pg_cluster.drop_database, dbname)
    soak_summary(
        f"soak process-managers seed={soak_seed} transfers={TRANSFERS} "
        f"faults: kill9={faults.kills} server_crashes={faults.crashes}"
    )
    assert faults.kills + faults.crashes >= 3
