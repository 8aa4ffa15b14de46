"""Reset and rebuild: one call, and the read model comes back the same."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import trio

from contracts.store_contract import BankStore
from sqlite.helpers import running_store
from trio_eventsourcing import Ok, projections

from .helpers import KINDS, Entry, Kind, ReadModel, deposit_many, open_store, running


def build(model: ReadModel) -> projections.Projection[Entry, object]:
    return projections.per_event("balances", model.on_event, batch_size=5, on_reset=model.on_reset)


async def fill(store: BankStore) -> int:
    """Four accounts of 3, 4, 5 and 6 events; return the events written."""
    for index in range(4):
        await deposit_many(store, f"acc-{index}", 3 + index)
    return 3 + 4 + 5 + 6


@pytest.mark.parametrize("kind", KINDS)
async def test_a_reset_while_running_rebuilds_the_same_read_model(
    kind: Kind, tmp_path: Path
) -> None:
    model = ReadModel()
    async with open_store(kind, tmp_path) as store:
        total = await fill(store)
        async with running(store, build(model)) as handle:
            with trio.fail_after(10):
                await handle.wait_for_position(total)
                original = (list(model.positions), dict(model.balances))
                (await projections.reset(store, "balances")).unwrap()
                await model.reset_done.wait()
                await model.handled(total)
                await handle.wait_for_position(total)
    assert (model.positions, model.balances) == original
    assert model.balances == {f"acc-{i}": Decimal(2 + i) for i in range(4)}
    assert model.resets == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_a_reset_while_stopped_rebuilds_at_the_next_start(kind: Kind, tmp_path: Path) -> None:
    model = ReadModel()
    async with open_store(kind, tmp_path) as store:
        total = await fill(store)
        async with running(store, build(model)) as handle:
            with trio.fail_after(10):
                await handle.wait_for_position(total)
        original = (list(model.positions), dict(model.balances))
        # As the command-line tool does, with the projection not running.
        (await projections.reset(store.eventstore, "balances")).unwrap()
        assert await projections.checkpoint(store, "balances") == Ok(0)
        assert model.resets == 0  # the read model is the projection's: it clears it
        async with running(store, build(model)) as handle:
            with trio.fail_after(10):
                await model.reset_done.wait()
                await handle.wait_for_position(total)
    assert (model.positions, model.balances) == original
    assert model.resets == 1


async def test_a_reset_by_another_process_is_seen_at_the_next_poll(tmp_path: Path) -> None:
    model = ReadModel()
    projection = projections.per_event(
        "balances", model.on_event, on_reset=model.on_reset, poll_interval=0.05
    )
    async with running_store(tmp_path / "shared.db") as store:
        total = await fill(store)
        async with running(store, projection) as handle:
            with trio.fail_after(10):
                await handle.wait_for_position(total)
                original = (list(model.positions), dict(model.balances))
                # Another store on the file stands for another process: no in-process
                # wake-up reaches this projection, only its poll.
                async with running_store(tmp_path / "shared.db") as other:
                    (await projections.reset(other, "balances")).unwrap()
                await model.reset_done.wait()
                await model.handled(total)
    assert (model.positions, model.balances) == original


async def test_reset_of_a_projection_that_never_ran(tmp_path: Path) -> None:
    async with open_store("memory", tmp_path) as store:
        assert await projections.checkpoint(store, "fresh") == Ok(None)
        (await projections.reset(store, "fresh")).unwrap()
        assert await projections.checkpoint(store, "fresh") == Ok(0)
        with pytest.raises(TypeError, match="name"):
            await projections.reset(store, "")
