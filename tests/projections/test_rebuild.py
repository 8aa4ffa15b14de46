"""Reset and rebuild beyond the shared contract: a reset from another process, the name.

A reset while running, while stopped and of a projection that never ran is
``ProjectionContract`` (``tests/contracts/projection_contract.py``), run on every store.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.contracts.projection_contract import fill
from tests.projections.helpers import ReadModel, checkpointed, open_store, running
from tests.sqlite.helpers import running_store
from trio_eventsourcing import projections


async def test_a_reset_by_another_process_is_seen_at_the_next_poll(tmp_path: Path) -> None:
    model = ReadModel()
    projection = projections.per_event(
        "balances", model.on_event, on_reset=model.on_reset, poll_interval=0.05
    )
    async with running_store(tmp_path / "shared.db") as store:
        total = await fill(store)
        async with running(store, projection) as handle:
            with trio.fail_after(10):
                await checkpointed(handle, total)
                original = (list(model.positions), dict(model.balances))
                # Another store on the file stands for another process: no in-process
                # wake-up reaches this projection, only its poll.
                async with running_store(tmp_path / "shared.db") as other:
                    (await projections.reset(other, "balances")).unwrap()
                await model.reset_done.wait()
                await model.handled(total)
    assert (model.positions, model.balances) == original


async def test_reset_checks_the_name(tmp_path: Path) -> None:
    async with open_store("memory", tmp_path) as store:
        with pytest.raises(TypeError, match="name"):
            await projections.reset(store, "")
